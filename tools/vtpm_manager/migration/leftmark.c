/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "leftmark.h"
#include "safefile.h"

/* This boot's id; empty if it cannot be read (a pending mark then stands). */
static void boot_id(char id[40])
{
	io_read_file("/proc/sys/kernel/random/boot_id", id, 40);
	id[strcspn(id, "\n")] = '\0';
}

int left_mark_prepare(const char *statedir, uint64_t gen, struct mig_err *e)
{
	char text[128], id[40];

	boot_id(id);
	snprintf(text, sizeof(text), "generation %" PRIu64 "\nboot %s\n", gen, id);
	return safe_write_file(statedir, LEFT_PENDING_NAME, text, strlen(text), 0600, SAFE_SYNC_DIR, e)
		? mig_wrap(e, "the left-this-host mark: ") : 0;
}

/* No sync: until the next boot the rename is seen as made, and after a crash
 * a pending mark stands anyway; the record's last byte waits for no disk. */
int left_mark_commit(const char *statedir, struct mig_err *e)
{
	char from[4200], to[4200];

	snprintf(from, sizeof(from), "%s/" LEFT_PENDING_NAME, statedir);
	snprintf(to, sizeof(to), "%s/" LEFT_MARK_NAME, statedir);
	return rename(from, to) ? mig_fail(e, "cannot set the left-this-host mark %s: %s", to,
					   strerror(errno)) : 0;
}

/* Read S/name: -1 error, 0 absent, 1 present with its text in buf. */
static int read_mark(const char *statedir, const char *name, char *buf, size_t cap,
		     struct mig_err *e)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/%s", statedir, name);
	if (io_read_file(path, buf, cap) >= 0)
		return 1;
	return errno == ENOENT ? 0 : mig_fail(e, "cannot read the left-this-host mark %s: %s", path,
					       strerror(errno));
}

int left_mark_read(const char *statedir, uint64_t *gen, struct mig_err *e)
{
	char buf[128], id[40], line[64];
	int r = read_mark(statedir, LEFT_MARK_NAME, buf, sizeof(buf), e);

	*gen = 0;
	if (r == 0) {
		r = read_mark(statedir, LEFT_PENDING_NAME, buf, sizeof(buf), e);
		boot_id(id);
		snprintf(line, sizeof(line), "\nboot %s\n", id);
		if (r > 0 && *id && strstr(buf, line))
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
