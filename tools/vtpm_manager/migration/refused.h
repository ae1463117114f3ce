/*
 * Refused records are kept: once the source has finished, a record the
 * destination refused may be the only copy of the vTPM. Kept as received
 * (it is sealed) in DIR/refused/<vtpm-uuid>.<unix-time>.vtpmrec, mode 0600.
 */
#ifndef VTPM_MIG_REFUSED_H
#define VTPM_MIG_REFUSED_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"

#define REFUSED_SUBDIR "refused"

/* Keep rec and end e's message with where it is and how to load it once the
 * cause is fixed (with --allow-rollback when its generation stays accepted);
 * or with why it could not be kept. */
void refused_keep(const char *dir, const uint8_t *rec, size_t len, int rollback_needed,
		  struct mig_err *e);

#endif
