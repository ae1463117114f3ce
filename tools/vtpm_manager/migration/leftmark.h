/* SPDX-License-Identifier: BSD-3-Clause */
/* The "left this host" mark in the vTPM's state directory S (vtpm_migrate(8),
 * FILES): written pending when send seals, standing just before the record's
 * last byte. While it stands the source must not run on its own. A pending
 * mark of this boot does not count (no whole record left); one of an earlier
 * boot does, since a crash may have lost the rename. */
#ifndef VTPM_MIG_LEFTMARK_H
#define VTPM_MIG_LEFTMARK_H

#include <stdint.h>
#include "err.h"

#define LEFT_MARK_NAME "vtpm-left"
#define LEFT_PENDING_NAME "vtpm-left.pending"

/* Write S/vtpm-left.pending and sync it and S. */
int left_mark_prepare(const char *statedir, uint64_t gen, struct mig_err *e) MIG_MUST;
/* Make the pending mark stand (a rename, not synced: see leftmark.c). */
int left_mark_commit(const char *statedir, struct mig_err *e) MIG_MUST;
/* 1 if the mark stands (*gen its generation, 0 if unreadable), 0 if not,
 * -1 if it cannot be told. */
int left_mark_read(const char *statedir, uint64_t *gen, struct mig_err *e) MIG_MUST;
/* Remove the mark and a pending one, and sync S; none there is no error. */
int left_mark_remove(const char *statedir, struct mig_err *e) MIG_MUST;

#endif
