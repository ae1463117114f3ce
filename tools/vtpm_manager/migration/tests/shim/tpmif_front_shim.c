/*
 * tpmif_front_shim: an LD_PRELOAD library that lets vtpm_backend serve a
 * "guest" on a machine without a hypervisor, for tests. Only ever used in
 * tests; the test (tests/tools/tpmif_front) plays the frontend.
 *
 *  - libxengnttab: grant ref R of any domain is page R of the file named by
 *    VTPM_SHIM_GNT (mapped shared, so both sides see each other's writes);
 *    a ref beyond the file's end does not map (EINVAL), as a bad ref would.
 *  - libxenevtchn: the event fd is the FIFO VTPM_SHIM_EVT_IN (one byte per
 *    notification from the frontend); a notification from the back end is
 *    one byte written to the FIFO VTPM_SHIM_EVT_OUT. A bind answers the
 *    remote port + 100; remote ports above 4095 do not bind.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xenevtchn.h>
#include <xengnttab.h>

#define PAGE 4096

static char gnt_dummy, evt_dummy;
static int evt_in = -1, evt_out = -1;
static int bound_port = -1;

static int open_env(const char *name, int flags)
{
	const char *path = getenv(name);

	if (!path) {
		errno = ENOENT;
		return -1;
	}
	return open(path, flags | O_CLOEXEC);
}

xengnttab_handle *xengnttab_open(struct xentoollog_logger *logger, unsigned open_flags)
{
	(void)logger;
	(void)open_flags;
	return getenv("VTPM_SHIM_GNT") ? (xengnttab_handle *)&gnt_dummy : NULL;
}

int xengnttab_close(xengnttab_handle *xgt)
{
	(void)xgt;
	return 0;
}

void *xengnttab_map_domain_grant_refs(xengnttab_handle *xgt, uint32_t count, uint32_t domid,
				      uint32_t *refs, int prot)
{
	struct stat st;
	uint8_t *base;
	uint32_t i;
	int fd;

	(void)xgt;
	(void)domid;
	fd = open_env("VTPM_SHIM_GNT", O_RDWR);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) || count == 0) {
		close(fd);
		errno = EINVAL;
		return NULL;
	}
	for (i = 0; i < count; i++) {
		if ((uint64_t)refs[i] * PAGE + PAGE > (uint64_t)st.st_size) {
			close(fd);
			errno = EINVAL;
			return NULL;
		}
	}
	base = mmap(NULL, (size_t)count * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (i = 0; base != MAP_FAILED && i < count; i++) {
		if (mmap(base + (size_t)i * PAGE, PAGE, prot, MAP_SHARED | MAP_FIXED, fd,
			 (off_t)refs[i] * PAGE) == MAP_FAILED) {
			munmap(base, (size_t)count * PAGE);
			base = MAP_FAILED;
		}
	}
	close(fd);
	return base == MAP_FAILED ? NULL : base;
}

void *xengnttab_map_grant_ref(xengnttab_handle *xgt, uint32_t domid, uint32_t ref, int prot)
{
	return xengnttab_map_domain_grant_refs(xgt, 1, domid, &ref, prot);
}

int xengnttab_unmap(xengnttab_handle *xgt, void *start_address, uint32_t count)
{
	(void)xgt;
	return munmap(start_address, (size_t)count * PAGE);
}

xenevtchn_handle *xenevtchn_open(struct xentoollog_logger *logger, unsigned int flags)
{
	(void)logger;
	(void)flags;
	if (evt_in < 0)
		evt_in = open_env("VTPM_SHIM_EVT_IN", O_RDWR | O_NONBLOCK);
	if (evt_out < 0)
		evt_out = open_env("VTPM_SHIM_EVT_OUT", O_RDWR | O_NONBLOCK);
	return evt_in < 0 || evt_out < 0 ? NULL : (xenevtchn_handle *)&evt_dummy;
}

int xenevtchn_close(xenevtchn_handle *xce)
{
	(void)xce;
	return 0;
}

int xenevtchn_fd(xenevtchn_handle *xce)
{
	(void)xce;
	return evt_in;
}

xenevtchn_port_or_error_t xenevtchn_bind_interdomain(xenevtchn_handle *xce, uint32_t domid,
						     evtchn_port_t remote_port)
{
	(void)xce;
	(void)domid;
	if (remote_port > 4095) {
		errno = EINVAL;
		return -1;
	}
	bound_port = (int)remote_port + 100;
	return bound_port;
}

int xenevtchn_unbind(xenevtchn_handle *xce, evtchn_port_t port)
{
	(void)xce;
	if ((int)port == bound_port)
		bound_port = -1;
	return 0;
}

xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle *xce)
{
	char c;

	(void)xce;
	if (read(evt_in, &c, 1) != 1) {
		errno = EAGAIN;
		return -1;
	}
	return bound_port;
}

int xenevtchn_unmask(xenevtchn_handle *xce, evtchn_port_t port)
{
	(void)xce;
	(void)port;
	return 0;
}

int xenevtchn_notify(xenevtchn_handle *xce, evtchn_port_t port)
{
	char c = 1;

	(void)xce;
	if ((int)port != bound_port) {
		errno = EINVAL;
		return -1;
	}
	/* A full FIFO is a frontend that does not listen: the byte is not needed. */
	if (write(evt_out, &c, 1) != 1 && errno != EAGAIN)
		return -1;
	return 0;
}
