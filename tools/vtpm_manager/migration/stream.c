/* Reading the vTPM record off the migration stream: what recv and inspect share. */
#include <string.h>

#include "io.h"
#include "migrate.h"

int mig_read_start(int fd, uint8_t *buf, size_t len, int timeout_ms, struct mig_err *e)
{
	struct mig_err why;

	/*
	 * A stream that ends before its first byte carried no record at all:
	 * most likely the sending host's xend does not migrate vTPMs (an
	 * unpatched Xen, or vTPM migration off there). Say so, rather than
	 * "closed early".
	 */
	if (io_read_full(fd, buf, 1, timeout_ms, "migration stream", &why)) {
		if (strstr(why.msg, "closed early"))
			return mig_fail(e, "no vTPM record arrived: the stream ended before its first byte (is the source host's Xen patched for vTPM migration, and enabled?)");
		*e = why;
		return -1;
	}
	return io_read_full(fd, buf + 1, len - 1, timeout_ms, "migration stream", e);
}
