/* SPDX-License-Identifier: BSD-3-Clause */
/* Errors travel up as values: a code callers may decide on, a line for people. */
#ifndef VTPM_MIG_ERR_H
#define VTPM_MIG_ERR_H

#include <stdio.h>

#define MIG_ERR_MAX 1024 /* room for a path or two and what to do next */

enum mig_code {
	MIG_E_FAIL = 1,    /* anything not below */
	MIG_E_EOF,         /* the stream or socket ended early */
	MIG_E_TIMEOUT,
	MIG_E_CONNECT,     /* nothing accepts on the swtpm control socket */
	/* Why a record (or an announcement of one) was refused: recv.c
	 * decides from these what to keep and what to advise. */
	MIG_E_FORGED,      /* malformed, damaged, or not signed by its sender */
	MIG_E_RECIPIENT,   /* sealed to another host */
	MIG_E_UNTRUSTED,   /* its sender is not a trusted peer */
	MIG_E_REPLAY,      /* generation not newer than the last accepted */
	MIG_E_BINDING,     /* for another vTPM or domain */
	MIG_E_TPM_VERSION, /* TPM 1.2 state for a TPM 2.0, or the other way round */
	MIG_E_NOT_WAITING, /* the destination TPM already runs */
};

struct mig_err {
	char msg[MIG_ERR_MAX];
	enum mig_code code;
};

/* Set code and message (printf-style). */
void mig_setc(struct mig_err *e, enum mig_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Put context ("PATH: ") before the message; the code stays. */
void mig_prefix(struct mig_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print prefix, msg and a newline to f, every byte but printable ASCII (and
 * the backslash) as \xHH: messages carry file names and peer-supplied text,
 * none of which may reach a terminal or a log raw. */
void mig_print_line(FILE *f, const char *prefix, const char *msg);

/* As expressions worth -1, so that `return mig_fail(...)` shows the value. */
#define mig_set(e, ...) mig_setc((e), MIG_E_FAIL, __VA_ARGS__)
#define mig_fail(e, ...) ({ mig_setc((e), MIG_E_FAIL, __VA_ARGS__); -1; })
#define mig_failc(e, code, ...) ({ mig_setc((e), (code), __VA_ARGS__); -1; })
#define mig_wrap(e, ...) ({ mig_prefix((e), __VA_ARGS__); -1; })

#define MIG_MUST __attribute__((warn_unused_result))

#endif
