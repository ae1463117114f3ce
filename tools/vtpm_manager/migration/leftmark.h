/*
 * The "left this host" mark in the vTPM's state directory S. The sender
 * writes S/vtpm-left.pending ("generation N", "boot ID") durably when it
 * seals (the guest is suspended; xc_save still streams) and renames it to
 * S/vtpm-left just before the record's last byte. While the mark stands the
 * source must not run on its own: recover refuses, the hotplug script does
 * not start the state, the back end serves no command.
 *
 * A pending mark of this boot means the rename never happened, so no whole
 * record left: it does not count. One from an earlier boot may hide a rename
 * lost in a crash: it counts as standing.
 */
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
