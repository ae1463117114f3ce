/* Errors travel up as values: one line saying what failed and why. */
#ifndef VTPM_MIG_ERR_H
#define VTPM_MIG_ERR_H

#include <stddef.h>
#include <stdio.h>

#define MIG_ERR_MAX 1024 /* room for a path or two and what to do next */

struct mig_err {
	char msg[MIG_ERR_MAX];
};

/* Set the message (printf-style). */
void mig_set(struct mig_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix an existing message with context ("send: "). */
void mig_prefix(struct mig_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Print msg and a newline to f with every byte that is not printable ASCII
 * (control characters, DEL, bytes >= 0x80) and the backslash written as
 * \xHH: messages carry file names and peer-supplied text, and none of it
 * may reach a terminal raw.
 */
void mig_print_line(FILE *f, const char *prefix, const char *msg);

/* Both as expressions worth -1, so callers can `return mig_fail(...)` and
 * every reader (and analyser) sees the failure value at the call. */
#define mig_fail(e, ...) ({ mig_set((e), __VA_ARGS__); -1; })
#define mig_wrap(e, ...) ({ mig_prefix((e), __VA_ARGS__); -1; })

#define MIG_MUST __attribute__((warn_unused_result))

#endif
