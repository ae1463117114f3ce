/*
 * xenstore nodes as values: the reads and writes vtpm_backend and the Xen
 * side of vtpm_migrate share. A value is checked as it is read (it fits the
 * caller's buffer, holds no NUL byte; a number is plain decimal below 2^32)
 * and refused otherwise, never cut or guessed: a node a guest owns can hold
 * anything.
 */
#ifndef VTPM_MIG_XSNODE_H
#define VTPM_MIG_XSNODE_H

#include <stddef.h>
#include <stdint.h>

#include <xenstore.h>

#include "err.h"

/* A connection to xenstored; NULL (and why) if there is none. */
struct xs_handle *xsnode_open(struct mig_err *e);

/* DIR/NODE into buf (size bytes, NUL-terminated). */
int xsnode_get(struct xs_handle *xs, const char *dir, const char *node, char *buf, size_t size,
	       struct mig_err *e) MIG_MUST;

/* DIR/NODE as a decimal number below 2^32, and nothing else. */
int xsnode_get_uint(struct xs_handle *xs, const char *dir, const char *node, uint32_t *val,
		    struct mig_err *e) MIG_MUST;

/* Write val to DIR/NODE, in transaction t (XBT_NULL: none). */
int xsnode_put(struct xs_handle *xs, xs_transaction_t t, const char *dir, const char *node,
	       const char *val, struct mig_err *e) MIG_MUST;

#endif
