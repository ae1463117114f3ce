/* SPDX-License-Identifier: BSD-3-Clause */
/* xenstore nodes as values, for vtpm_backend and vtpm_migrate alike. A value
 * is checked as it is read (it fits the buffer, holds no NUL byte; a number
 * is plain decimal below 2^32) and refused otherwise, never cut or guessed:
 * a node a guest owns can hold anything. */
#ifndef VTPM_MIG_XSNODE_H
#define VTPM_MIG_XSNODE_H

#include <stddef.h>
#include <stdint.h>

#include <xenstore.h>

#include "err.h"

/* NULL (and why) if xenstored cannot be reached. */
struct xs_handle *xsnode_open(struct mig_err *e);

/* DIR/NODE, as text or as a number; written in transaction t (or XBT_NULL). */
int xsnode_get(struct xs_handle *xs, const char *dir, const char *node, char *buf, size_t size,
	       struct mig_err *e) MIG_MUST;
int xsnode_get_uint(struct xs_handle *xs, const char *dir, const char *node, uint32_t *val,
		    struct mig_err *e) MIG_MUST;
int xsnode_put(struct xs_handle *xs, xs_transaction_t t, const char *dir, const char *node,
	       const char *val, struct mig_err *e) MIG_MUST;

#endif
