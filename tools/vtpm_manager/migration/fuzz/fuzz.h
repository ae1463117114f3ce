/* What every fuzz target checks besides "no crash, no leak". */
#ifndef VTPM_MIG_FUZZ_H
#define VTPM_MIG_FUZZ_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

/* A broken invariant is a finding: abort so libFuzzer saves the input. */
#define FUZZ_ASSERT(cond)                                                              \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, \
				#cond);                                                \
			abort();                                                       \
		}                                                                      \
	} while (0)

/* A refusal says why, in one terminated line (the command prints it as is). */
static inline void fuzz_check_refusal(const struct mig_err *e)
{
	size_t n = strnlen(e->msg, sizeof(e->msg));

	FUZZ_ASSERT(n > 0 && n < sizeof(e->msg));
	FUZZ_ASSERT(!memchr(e->msg, '\n', n));
}

/* Equal but for ASCII case: the parsers take hex digits in either case. */
static inline int same_ignoring_case(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char x = a[i] >= 'A' && a[i] <= 'Z' ? (char)(a[i] - 'A' + 'a') : a[i];
		char y = b[i] >= 'A' && b[i] <= 'Z' ? (char)(b[i] - 'A' + 'a') : b[i];

		if (x != y)
			return 0;
	}
	return 1;
}

#endif
