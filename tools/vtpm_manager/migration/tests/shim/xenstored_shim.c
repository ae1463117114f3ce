/*
 * xenstored_shim: an LD_PRELOAD library that lets the real C xenstored
 * (Xen 4.17, `xenstored -N`) run on a machine without a hypervisor, for tests.
 *
 * It stands in for the hypervisor pieces the daemon touches:
 *  - libxenctrl: xc_interface_open/close; xc_domain_getinfo says every domain
 *    exists and runs (so permissions naming any domid are kept);
 *  - libxengnttab: open/close/set_max_grants; mapping a guest's ring (only done
 *    for XS_INTRODUCE) hands out a private zeroed page;
 *  - libxenevtchn: the event channel fd is the read end of a pipe that never
 *    fires; binds hand out port numbers, notify/unmask do nothing;
 *  - open() of /proc/xen/xsd_port answers "1", /proc/xen/xsd_kva is a 4 KiB
 *    memfd used as dom0's (idle) ring page.
 * Everything else goes to the real libraries. Only ever used in tests.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xenctrl.h>
#include <xenevtchn.h>
#include <xengnttab.h>

#define RING_PAGE 4096

/* Opaque handles: any distinct non-NULL pointer will do. */
static char xc_dummy, gnt_dummy, evt_dummy;
static int evt_pipe[2] = { -1, -1 };
static unsigned int next_port = 10;

/* ---- libxenctrl ---- */

xc_interface *xc_interface_open(xentoollog_logger *logger,
				xentoollog_logger *dombuild_logger,
				unsigned open_flags)
{
	(void)logger;
	(void)dombuild_logger;
	(void)open_flags;
	return (xc_interface *)&xc_dummy;
}

int xc_interface_close(xc_interface *xch)
{
	(void)xch;
	return 0;
}

int xc_domain_getinfo(xc_interface *xch, uint32_t first_domid,
		      unsigned int max_doms, xc_dominfo_t *info)
{
	(void)xch;
	if (max_doms == 0 || info == NULL)
		return 0;
	memset(info, 0, sizeof(*info));
	info->domid = first_domid;
	info->running = 1;
	info->nr_online_vcpus = 1;
	return 1;
}

/* ---- libxengnttab ---- */

xengnttab_handle *xengnttab_open(struct xentoollog_logger *logger,
				 unsigned open_flags)
{
	(void)logger;
	(void)open_flags;
	return (xengnttab_handle *)&gnt_dummy;
}

int xengnttab_close(xengnttab_handle *xgt)
{
	(void)xgt;
	return 0;
}

int xengnttab_set_max_grants(xengnttab_handle *xgt, uint32_t nr_grants)
{
	(void)xgt;
	(void)nr_grants;
	return 0;
}

void *xengnttab_map_grant_ref(xengnttab_handle *xgt, uint32_t domid,
			      uint32_t ref, int prot)
{
	void *p;

	(void)xgt;
	(void)domid;
	(void)ref;
	p = mmap(NULL, RING_PAGE, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

int xengnttab_unmap(xengnttab_handle *xgt, void *start_address, uint32_t count)
{
	(void)xgt;
	return munmap(start_address, (size_t)count * RING_PAGE);
}

/* ---- libxenevtchn ---- */

static xenevtchn_handle *evt_handle(void)
{
	if (evt_pipe[0] < 0 && pipe2(evt_pipe, O_CLOEXEC) != 0)
		return NULL;
	return (xenevtchn_handle *)&evt_dummy;
}

xenevtchn_handle *xenevtchn_open(struct xentoollog_logger *logger,
				 unsigned int flags)
{
	(void)logger;
	(void)flags;
	return evt_handle();
}

xenevtchn_handle *xenevtchn_fdopen(struct xentoollog_logger *logger, int fd,
				   unsigned int flags)
{
	(void)logger;
	(void)fd;
	(void)flags;
	return evt_handle();
}

int xenevtchn_close(xenevtchn_handle *xce)
{
	(void)xce;
	return 0;
}

int xenevtchn_fd(xenevtchn_handle *xce)
{
	(void)xce;
	return evt_pipe[0];
}

int xenevtchn_notify(xenevtchn_handle *xce, evtchn_port_t port)
{
	(void)xce;
	(void)port;
	return 0;
}

xenevtchn_port_or_error_t xenevtchn_bind_unbound_port(xenevtchn_handle *xce,
						      uint32_t domid)
{
	(void)xce;
	(void)domid;
	return (xenevtchn_port_or_error_t)next_port++;
}

xenevtchn_port_or_error_t xenevtchn_bind_interdomain(xenevtchn_handle *xce,
						     uint32_t domid,
						     evtchn_port_t remote_port)
{
	(void)xce;
	(void)domid;
	(void)remote_port;
	return (xenevtchn_port_or_error_t)next_port++;
}

xenevtchn_port_or_error_t xenevtchn_bind_virq(xenevtchn_handle *xce,
					      unsigned int virq)
{
	(void)xce;
	(void)virq;
	return (xenevtchn_port_or_error_t)next_port++;
}

int xenevtchn_unbind(xenevtchn_handle *xce, evtchn_port_t port)
{
	(void)xce;
	(void)port;
	return 0;
}

xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle *xce)
{
	(void)xce;
	/* The pipe never fires, so this is never reached in practice. */
	errno = EAGAIN;
	return -1;
}

int xenevtchn_unmask(xenevtchn_handle *xce, evtchn_port_t port)
{
	(void)xce;
	(void)port;
	return 0;
}

/* ---- open() of the dom0 xenbus files ---- */

static int fake_port_fd(void)
{
	int fd = memfd_create("xsd_port", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	if (write(fd, "1", 1) != 1 || lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		errno = EIO;
		return -1;
	}
	return fd;
}

static int fake_kva_fd(void)
{
	int fd = memfd_create("xsd_kva", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	if (ftruncate(fd, RING_PAGE) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int fake_open(const char *path)
{
	if (path == NULL)
		return -2;
	if (strcmp(path, "/proc/xen/xsd_port") == 0)
		return fake_port_fd();
	if (strcmp(path, "/proc/xen/xsd_kva") == 0)
		return fake_kva_fd();
	return -2;
}

typedef int (*open_fn)(const char *, int, ...);

static int real_open(const char *name, const char *path, int flags, mode_t mode)
{
	open_fn fn = (open_fn)dlsym(RTLD_NEXT, name);

	if (fn == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return fn(path, flags, mode);
}

int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	int fd = fake_open(path);

	if (fd != -2)
		return fd;
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return real_open("open", path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	mode_t mode = 0;
	int fd = fake_open(path);

	if (fd != -2)
		return fd;
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return real_open("open64", path, flags, mode);
}
