/* SPDX-License-Identifier: BSD-3-Clause */
/* A time-based limit on log lines (see backend_limit.h): a token bucket. */
#include "backend_limit.h"

/* Add the lines earned since counted_ms, up to a full burst. */
static void earn(struct ratelimit *r, int64_t now_ms)
{
	int64_t n;

	if (!r->started) {
		r->started = 1;
		r->tokens = RATELIMIT_BURST;
		r->counted_ms = now_ms;
		return;
	}
	if (now_ms <= r->counted_ms)
		return; /* a clock that stands still earns nothing */
	n = (now_ms - r->counted_ms) / RATELIMIT_INTERVAL_MS;
	if (n >= (int64_t)(RATELIMIT_BURST - r->tokens)) {
		/* Full: time spent full earns nothing later. */
		r->tokens = RATELIMIT_BURST;
		r->counted_ms = now_ms;
		return;
	}
	r->tokens += (unsigned int)n;
	r->counted_ms += n * RATELIMIT_INTERVAL_MS;
}

int ratelimit_allow(struct ratelimit *r, int64_t now_ms, unsigned long *dropped)
{
	earn(r, now_ms);
	if (!r->tokens) {
		r->suppressed++;
		return 0;
	}
	r->tokens--;
	*dropped = ratelimit_take_suppressed(r);
	return 1;
}

unsigned long ratelimit_take_suppressed(struct ratelimit *r)
{
	unsigned long n = r->suppressed;

	r->suppressed = 0;
	return n;
}
