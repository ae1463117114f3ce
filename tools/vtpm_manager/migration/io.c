#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io.h"

int64_t io_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int io_left_ms(int64_t deadline)
{
	int64_t left = deadline - io_now_ms();

	if (deadline < 0)
		return -1;
	return left > 0 ? (int)left : 0;
}

/* Wait until fd is ready for events, or the deadline (< 0: none) passes. */
static int wait_fd(int fd, short events, int64_t deadline, const char *what,
		   struct mig_err *e)
{
	struct pollfd p = { .fd = fd, .events = events };
	int left, r;

	for (;;) {
		left = io_left_ms(deadline);
		if (left == 0)
			return mig_failc(e, MIG_E_TIMEOUT, "%s: timed out", what);
		r = poll(&p, 1, left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return mig_fail(e, "%s: poll: %s", what, strerror(errno));
	}
}

/*
 * With a deadline, poll before each call so that a blocking descriptor
 * cannot outlast it. Without one, call first and wait in poll only when a
 * non-blocking descriptor has nothing: never spin on EAGAIN.
 */
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
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(fd, ev, deadline, what, e))
				return -1;
			continue;
		}
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
