/*
 * fault_shim: an LD_PRELOAD library for the fault suite (tests/e2e/20-faults.sh).
 * The product has no injection points; this library kills the process it is
 * preloaded into (SIGKILL, as a crash would) at the point VTPM_FAULT names,
 * recognised from outside by the system calls the migration makes:
 *
 *   send-before-pull       before the first GET_STATEBLOB to swtpm
 *   send-after-pull        before the ledger is written (the state is pulled)
 *   send-after-ledger      after the ledger is written (the generation taken)
 *   send-mid-write         after half of the record went to the stream (fd 1)
 *   send-before-last-byte  after the left-this-host mark stands, before the
 *                          record's last byte
 *   send-after-last-byte   after the record's last byte went out
 *   recv-mid-read          after the first bytes were read from the stream (fd 0)
 *   recv-after-ledger      after the receiver's ledger is written
 *   push-before-init       before INIT is sent to swtpm
 *   recv-after-init        after swtpm answered INIT
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CMD_INIT 0x02
#define CMD_GET_STATEBLOB 0x0c

static int init_fd = -1; /* the control connection INIT went out on */

static int at(const char *point)
{
	const char *want = getenv("VTPM_FAULT");

	return want && !strcmp(want, point);
}

static void die(void)
{
	kill(getpid(), SIGKILL);
	_exit(137);
}

static void *real(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

static int ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);

	return n >= t && !strcmp(s + n - t, tail);
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	ssize_t (*next)(int, const struct msghdr *, int) = real("sendmsg");
	const uint8_t *p = m->msg_iovlen ? m->msg_iov[0].iov_base : NULL;
	uint32_t cmd = p && m->msg_iov[0].iov_len >= 4 ?
			       (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3] : 0;

	if ((cmd == CMD_GET_STATEBLOB && at("send-before-pull")) ||
	    (cmd == CMD_INIT && at("push-before-init")))
		die();
	if (cmd == CMD_INIT)
		init_fd = fd;
	return next(fd, m, flags);
}

int rename(const char *from, const char *to)
{
	int (*next)(const char *, const char *) = real("rename");
	int r;

	if (ends_with(to, "/ledger") && at("send-after-pull"))
		die();
	r = next(from, to);
	if ((ends_with(to, "/ledger") && (at("send-after-ledger") || at("recv-after-ledger"))) ||
	    (ends_with(to, "/vtpm-left") && at("send-before-last-byte")))
		die();
	return r;
}

ssize_t write(int fd, const void *buf, size_t len)
{
	ssize_t (*next)(int, const void *, size_t) = real("write");
	ssize_t r;

	if (fd == 1 && len > 1 && at("send-mid-write")) {
		if (next(fd, buf, len / 2) >= 0)
			die();
	}
	r = next(fd, buf, len);
	if (fd == 1 && len == 1 && r == 1 && at("send-after-last-byte"))
		die();
	return r;
}

ssize_t read(int fd, void *buf, size_t len)
{
	ssize_t (*next)(int, void *, size_t) = real("read");
	ssize_t r = next(fd, buf, len);

	if ((fd == 0 && r > 0 && at("recv-mid-read")) ||
	    (fd == init_fd && r > 0 && at("recv-after-init")))
		die();
	return r;
}
