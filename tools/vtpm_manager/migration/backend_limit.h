/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A limit on log lines by time, for what an untrusted party (a guest) can
 * make a dom0 program write: a burst of RATELIMIT_BURST lines, then one
 * more every RATELIMIT_INTERVAL_MS. However long the party keeps at it,
 * the log grows by at most two lines a minute after the burst (the line
 * and the one saying how many were suppressed before it). Pure: the caller
 * passes the time, so tests need no clock.
 */
#ifndef VTPM_MIG_BACKEND_LIMIT_H
#define VTPM_MIG_BACKEND_LIMIT_H

#include <stdint.h>

#define RATELIMIT_BURST 20u
#define RATELIMIT_INTERVAL_MS 60000

/* All zero: a full burst at the first line. */
struct ratelimit {
	int64_t counted_ms;       /* time up to which lines have been earned */
	unsigned int tokens;      /* lines that may be written now */
	unsigned long suppressed; /* lines refused since the last written */
	int started;
};

/* May a line be written at now_ms (a monotonic clock)? 1 if so, with
 * *dropped the lines suppressed since the last written one (say so before
 * this one); 0 if not, and the line is counted as suppressed. */
int ratelimit_allow(struct ratelimit *r, int64_t now_ms, unsigned long *dropped);

/* The lines suppressed since the last written one, now forgotten (a
 * closing report). */
unsigned long ratelimit_take_suppressed(struct ratelimit *r);

#endif
