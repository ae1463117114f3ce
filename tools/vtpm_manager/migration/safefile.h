/* SPDX-License-Identifier: BSD-3-Clause */
/* Files only this host's administrator can change: the checks made on the
 * key directory, and the one reader and the one writer of its files
 * (host.key, host.pub, peers/NAME.pub, ledger). */
#ifndef VTPM_MIG_SAFEFILE_H
#define VTPM_MIG_SAFEFILE_H

#include <stddef.h>
#include <sys/stat.h>
#include "err.h"

/* Refuse st (of path, "what" names it in the error) unless it is owned by
 * the effective user and not writable by group or others. */
int safe_check_stat(const struct stat *st, const char *what, const char *path,
		    struct mig_err *e) MIG_MUST;
/* The same for a directory, which must exist. */
int safe_check_dir(const char *path, const char *what, struct mig_err *e) MIG_MUST;

/* Read path (a regular file, not a symlink, of at most max bytes) into a
 * malloc'd, NUL-terminated *buf; with what, it must pass safe_check_stat.
 * No such file: 0 and *buf NULL. */
int safe_read_file(const char *path, const char *what, size_t max, char **buf, size_t *len,
		   mode_t *mode, struct mig_err *e) MIG_MUST;

#define SAFE_NEW      1u /* never replace an existing file: refuse instead */
#define SAFE_SYNC_DIR 2u /* fsync the directory too, so the rename survives a crash */

/* Write dir/name atomically: dir/.name.tmp is created anew (never opened if
 * it exists), written, fsync'd and renamed (SAFE_NEW: linked) into place.
 * Without SAFE_SYNC_DIR a crash may leave the old file; never a torn one. */
int safe_write_file(const char *dir, const char *name, const void *data, size_t len,
		    mode_t mode, unsigned flags, struct mig_err *e) MIG_MUST;

/* fsync a directory, so that a rename, link or unlink in it survives a crash. */
int safe_sync_dir(const char *dir, struct mig_err *e) MIG_MUST;

#endif
