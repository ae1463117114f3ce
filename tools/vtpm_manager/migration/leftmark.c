#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "leftmark.h"
#include "safefile.h"

/* This boot's id; empty if it cannot be read (a pending mark then stands). */
static void boot_id(char id[40])
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, id, 39) : -1;

	if (fd >= 0)
		close(fd);
	id[n > 0 ? n : 0] = '\0';
	id[strcspn(id, "\n")] = '\0';
}

int left_mark_prepare(const char *statedir, uint64_t gen, struct mig_err *e)
{
	char text[128], id[40];

	boot_id(id);
	snprintf(text, sizeof(text), "generation %" PRIu64 "\nboot %s\n", gen, id);
	if (safe_write_file(statedir, LEFT_PENDING_NAME, text, strlen(text), 0600, SAFE_SYNC_DIR, e))
		return mig_wrap(e, "the left-this-host mark: ");
	return 0;
}

/*
 * No sync: until the next boot the rename is seen as made, and after a crash
 * a pending mark counts as standing anyway. So the mark costs the record's
 * last byte no disk write.
 */
int left_mark_commit(const char *statedir, struct mig_err *e)
{
	char from[4200], to[4200];

	snprintf(from, sizeof(from), "%s/" LEFT_PENDING_NAME, statedir);
	snprintf(to, sizeof(to), "%s/" LEFT_MARK_NAME, statedir);
	if (rename(from, to))
		return mig_fail(e, "cannot set the left-this-host mark %s: %s", to, strerror(errno));
	return 0;
}

/* Read S/name: -1 error, 0 absent, 1 present with its text in buf. */
static int read_mark(const char *statedir, const char *name, char *buf, size_t cap,
		     struct mig_err *e)
{
	char path[4200];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", statedir, name);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	n = fd >= 0 ? read(fd, buf, cap - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n < 0)
		return mig_fail(e, "cannot read the left-this-host mark %s: %s", path, strerror(errno));
	buf[n] = '\0';
	return 1;
}

int left_mark_read(const char *statedir, uint64_t *gen, struct mig_err *e)
{
	char buf[128], id[40], *boot;
	int r = read_mark(statedir, LEFT_MARK_NAME, buf, sizeof(buf), e);

	*gen = 0;
	if (r == 0) {
		r = read_mark(statedir, LEFT_PENDING_NAME, buf, sizeof(buf), e);
		boot = r > 0 ? strstr(buf, "\nboot ") : NULL;
		boot_id(id);
		if (r > 0 && boot && *id && !strncmp(boot + 6, id, strlen(id)) &&
		    boot[6 + strlen(id)] == '\n')
			r = 0; /* this boot: the rename never happened */
	}
	/* A mark that does not parse still stands. */
	if (r > 0 && !strncmp(buf, "generation ", 11))
		*gen = strtoull(buf + 11, NULL, 10);
	return r;
}

int left_mark_remove(const char *statedir, struct mig_err *e)
{
	static const char *const names[] = { LEFT_MARK_NAME, LEFT_PENDING_NAME };
	char path[4200];
	int i;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", statedir, names[i]);
		if (unlink(path) && errno != ENOENT)
			return mig_fail(e, "cannot remove the left-this-host mark %s: %s", path,
					strerror(errno));
	}
	return safe_sync_dir(statedir, e);
}
