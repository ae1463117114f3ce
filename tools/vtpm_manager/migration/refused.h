/*
 * Refused records are kept, within a bound, for an administrator who can fix
 * the cause: in DIR/refused/, as received (they are sealed), mode 0600. A
 * record that verified (a trusted sender's, for this host) is named
 * VTPM-UUID.TIME.vtpmrec; one from a sender not trusted (yet) cannot be
 * verified and is named unverified.TIME.vtpmrec and goes first when room is
 * needed; a malformed, forged or misaddressed record is not kept.
 */
#ifndef VTPM_MIG_REFUSED_H
#define VTPM_MIG_REFUSED_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"

#define REFUSED_SUBDIR "refused"
#define REFUSED_MAX_FILES 32
#define REFUSED_MAX_BYTES (16u * 1024 * 1024)

/* Keep rec as its refusal (e->code) allows and end e's message with what
 * became of it and, only for a cause this host can fix, how to load it. */
void refused_keep(const char *dir, const uint8_t *rec, size_t len, int verified,
		  int rollback_needed, struct mig_err *e);

#endif
