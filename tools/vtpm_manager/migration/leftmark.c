#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "leftmark.h"

static int sync_dir(const char *dir, struct vm_err *e)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0 || fsync(dfd)) {
		vm_fail(e, "cannot sync directory %s: %s", dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	close(dfd);
	return 0;
}

int left_mark_write(const char *statedir, uint64_t gen, struct vm_err *e)
{
	char path[4200], text[64];
	int fd;

	snprintf(path, sizeof(path), "%s/" LEFT_MARK_NAME, statedir);
	snprintf(text, sizeof(text), "generation %" PRIu64 "\n", gen);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return vm_fail(e, "cannot create the left-this-host mark %s: %s", path, strerror(errno));
	if (io_write_full(fd, text, strlen(text), -1, path, e) ||
	    (fsync(fd) && vm_fail(e, "cannot sync %s: %s", path, strerror(errno)))) {
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	if (sync_dir(statedir, e)) {
		unlink(path);
		return -1;
	}
	return 0;
}

int left_mark_read(const char *statedir, uint64_t *gen, struct vm_err *e)
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
		return vm_fail(e, "cannot read the left-this-host mark %s: %s", path, strerror(errno));
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	/* A mark that does not parse (torn by a crash) still stands. */
	if (n > 11 && !memcmp(buf, "generation ", 11)) {
		buf[n] = '\0';
		*gen = strtoull(buf + 11, &end, 10);
		if (*end != '\n')
			*gen = 0;
	}
	return 1;
}

int left_mark_remove(const char *statedir, struct vm_err *e)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/" LEFT_MARK_NAME, statedir);
	if (unlink(path) && errno != ENOENT)
		return vm_fail(e, "cannot remove the left-this-host mark %s: %s", path, strerror(errno));
	return sync_dir(statedir, e);
}
