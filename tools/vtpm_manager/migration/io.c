/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io.h"

ssize_t io_read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), err;
	ssize_t n = fd < 0 ? -1 : read(fd, buf, cap - 1);

	err = errno;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	errno = err;
	return n;
}

int64_t io_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int io_left_ms(int64_t deadline)
{
	int64_t left = deadline - io_now_ms();

	return deadline < 0 ? -1 : left > 0 ? (int)left : 0;
}

static int wait_fd(int fd, short events, int64_t deadline, const char *what,
		   struct mig_err *e)
{
	struct pollfd p = { .fd = fd, .events = events };
	int left, r;

	for (;;) {
		if ((left = io_left_ms(deadline)) == 0)
			return mig_failc(e, MIG_E_TIMEOUT, "%s: timed out", what);
		if ((r = poll(&p, 1, left)) > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return mig_fail(e, "%s: poll: %s", what, strerror(errno));
	}
}

/* With a deadline, poll before each call, so that a blocking descriptor
 * cannot outlast it; without, poll only when a non-blocking one has nothing. */
static int io_full(int fd, uint8_t *p, size_t len, int writing, int timeout_ms,
		   const char *what, struct mig_err *e)
{
	int64_t deadline = timeout_ms < 0 ? -1 : io_now_ms() + timeout_ms;
	short ev = writing ? POLLOUT : POLLIN;
	ssize_t n;

	while (len > 0) {
		if (deadline >= 0 && wait_fd(fd, ev, deadline, what, e))
			return -1;
		n = writing ? write(fd, p, len) : read(fd, p, len);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && deadline < 0 &&
		    wait_fd(fd, ev, deadline, what, e))
			return -1;
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n < 0)
			return mig_fail(e, "%s: %s: %s", what, writing ? "write" : "read",
					strerror(errno));
		if (n == 0)
			return mig_failc(e, MIG_E_EOF, "%s: closed early (%zu bytes missing)", what,
					 len);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int io_read_full(int fd, void *buf, size_t len, int timeout_ms, const char *what,
		 struct mig_err *e)
{
	return io_full(fd, buf, len, 0, timeout_ms, what, e);
}

int io_write_full(int fd, const void *buf, size_t len, int timeout_ms, const char *what,
		  struct mig_err *e)
{
	return io_full(fd, (uint8_t *)(uintptr_t)buf, len, 1, timeout_ms, what, e);
}
