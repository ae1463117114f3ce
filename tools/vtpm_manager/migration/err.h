/* Errors travel up as values: one line saying what failed and why. */
#ifndef VTPM_MIG_ERR_H
#define VTPM_MIG_ERR_H

#include <stddef.h>

#define VM_ERR_MAX 256

struct vm_err {
	char msg[VM_ERR_MAX];
};

/* Set the message (printf-style); returns -1 so callers can `return vm_fail(...)`. */
int vm_fail(struct vm_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prefix an existing message with context ("send: "). Returns -1. */
int vm_wrap(struct vm_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define VM_MUST __attribute__((warn_unused_result))

#endif
