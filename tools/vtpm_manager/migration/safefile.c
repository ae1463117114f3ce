/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "io.h"
#include "safefile.h"

int safe_check_stat(const struct stat *st, const char *what, const char *path,
		    struct mig_err *e)
{
	uid_t me = geteuid();

	if (st->st_uid != me)
		return mig_fail(e, "%s %s is owned by uid %u, not by this user (uid %u); refusing it (run as its owner, or chown %u %s)",
			       what, path, (unsigned)st->st_uid, (unsigned)me, (unsigned)me, path);
	/* A shared directory like /tmp is no place for keys: not "chmod" it. */
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && (st->st_mode & S_ISVTX))
		return mig_fail(e, "%s %s is a shared directory (mode %04o); refusing it (use a directory of its own, mode 0700)",
			       what, path, (unsigned)(st->st_mode & 07777));
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return mig_fail(e, "%s %s is writable by group or others (mode %04o); refusing it (chmod go-w %s)",
			       what, path, (unsigned)(st->st_mode & 07777), path);
	return 0;
}

int safe_check_dir(const char *path, const char *what, struct mig_err *e)
{
	struct stat st;

	if (stat(path, &st))
		return mig_fail(e, "%s %s: %s", what, path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return mig_fail(e, "%s %s: not a directory", what, path);
	return safe_check_stat(&st, what, path, e);
}

int safe_read_file(const char *path, const char *what, size_t max, char **buf, size_t *len,
		   mode_t *mode, struct mig_err *e)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), r = -1;

	*buf = NULL;
	if (fd < 0)
		return errno == ENOENT ? 0 : mig_fail(e, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		mig_fail(e, "%s: not a regular file", path);
	else if (what && safe_check_stat(&st, what, path, e))
		;
	else if ((size_t)st.st_size > max)
		mig_fail(e, "%s: over %zu bytes, too large", path, max);
	else if (!(*buf = malloc((size_t)st.st_size + 1)))
		mig_fail(e, "%s: out of memory", path);
	else if (read(fd, *buf, (size_t)st.st_size) != st.st_size)
		mig_fail(e, "%s: short read", path);
	else
		r = 0;
	close(fd);
	if (r) {
		if (*buf) /* a short read of a key file still holds part of it */
			OPENSSL_cleanse(*buf, (size_t)st.st_size);
		free(*buf);
		*buf = NULL;
		return -1;
	}
	(*buf)[st.st_size] = '\0';
	*len = (size_t)st.st_size;
	if (mode)
		*mode = st.st_mode;
	return 0;
}

int safe_sync_dir(const char *dir, struct mig_err *e)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = dfd < 0 || fsync(dfd) ? mig_fail(e, "cannot sync directory %s: %s", dir,
						   strerror(errno)) : 0;

	if (dfd >= 0)
		close(dfd);
	return r;
}

int safe_write_file(const char *dir, const char *name, const void *data, size_t len,
		    mode_t mode, unsigned flags, struct mig_err *e)
{
	char path[4200], tmp[4200];
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	/* Whatever already has the name (a crash's leftover, or something
	 * planted) is removed, never opened or followed. */
	if (unlink(tmp) && errno != ENOENT)
		rmdir(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)) < 0)
		return mig_fail(e, "cannot create %s: %s", tmp, strerror(errno));
	/* The mode asked for, whatever the umask. */
	r = fchmod(fd, mode) ? mig_fail(e, "%s: %s", tmp, strerror(errno)) :
	    io_write_full(fd, data, len, -1, tmp, e) ? -1 :
	    fsync(fd) ? mig_fail(e, "%s: fsync: %s", tmp, strerror(errno)) : 0;
	if (close(fd) && !r)
		r = mig_fail(e, "%s: %s", tmp, strerror(errno));
	/* link() fails on an existing name, atomically: no check-then-write. */
	if (!r && (flags & SAFE_NEW ? link(tmp, path) : rename(tmp, path)))
		r = errno == EEXIST ? mig_fail(e, "%s already exists; not overwriting it", path)
				    : mig_fail(e, "cannot write %s: %s", path, strerror(errno));
	if (r || flags & SAFE_NEW)
		unlink(tmp);
	return r ? -1 : (flags & SAFE_SYNC_DIR) ? safe_sync_dir(dir, e) : 0;
}
