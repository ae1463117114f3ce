#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "leftmark.h"
#include "safefile.h"

int left_mark_write(const char *statedir, uint64_t gen, struct mig_err *e)
{
	char text[64];

	snprintf(text, sizeof(text), "generation %" PRIu64 "\n", gen);
	if (safe_write_file(statedir, LEFT_MARK_NAME, text, strlen(text), 0600,
			    SAFE_NEW | SAFE_SYNC_DIR, e))
		return mig_wrap(e, "the left-this-host mark: ");
	return 0;
}

int left_mark_read(const char *statedir, uint64_t *gen, struct mig_err *e)
{
	char path[4200], buf[64], *end;
	ssize_t n;
	int fd;

	*gen = 0;
	snprintf(path, sizeof(path), "%s/" LEFT_MARK_NAME, statedir);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return mig_fail(e, "cannot read the left-this-host mark %s: %s", path, strerror(errno));
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	/* A mark that does not parse still stands. */
	if (n > 11 && !memcmp(buf, "generation ", 11)) {
		buf[n] = '\0';
		*gen = strtoull(buf + 11, &end, 10);
		if (*end != '\n')
			*gen = 0;
	}
	return 1;
}

int left_mark_remove(const char *statedir, struct mig_err *e)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/" LEFT_MARK_NAME, statedir);
	if (unlink(path)) {
		if (errno == ENOENT)
			return 0;
		return mig_fail(e, "cannot remove the left-this-host mark %s: %s", path, strerror(errno));
	}
	return safe_sync_dir(statedir, e);
}
