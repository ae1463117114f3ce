/*
 * The "left this host" mark: a file S/vtpm-left in the vTPM's state
 * directory, first line "generation N". send writes it, synced, before the
 * record's last byte goes out; while it stands the source must not run on
 * its own (recover refuses, the hotplug script refuses to start the state).
 */
#ifndef VTPM_MIG_LEFTMARK_H
#define VTPM_MIG_LEFTMARK_H

#include <stdint.h>
#include "err.h"

#define LEFT_MARK_NAME "vtpm-left"

/* Create S/vtpm-left (O_EXCL) and sync file and directory. */
int left_mark_write(const char *statedir, uint64_t gen, struct mig_err *e) MIG_MUST;
/* 1 if the mark stands (*gen its generation, 0 if unreadable), 0 if not,
 * -1 if it cannot be told. */
int left_mark_read(const char *statedir, uint64_t *gen, struct mig_err *e) MIG_MUST;
/* Remove the mark and sync the directory; a missing mark is no error. */
int left_mark_remove(const char *statedir, struct mig_err *e) MIG_MUST;

#endif
