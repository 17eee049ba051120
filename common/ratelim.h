/*
 * ratelim: a token bucket — at most @p rate events per second over time,
 * at most @p burst at once after a quiet spell (sink.rate_limit).
 *
 * DESIGN
 * Tokens accrue at rate per second up to burst. A request for n events is
 * granted once min(n, burst) tokens are there, and takes all n, so the
 * bucket may go into debt: a batch larger than the burst still goes out
 * (alone), and the debt delays whoever comes next, which keeps the rate
 * over any long window exact. A refused request learns how long until it
 * could be granted; the caller sleeps that long (abortably) and asks
 * again. Waiting for tokens is backpressure, not a failure.
 *
 * Pure logic: the clock is passed in, so tests need no sleeps.
 *
 * Threading: any thread; one internal mutex (one acquisition per sink
 * call, not per event).
 * Ownership: plain object; fg_ratelim_destroy accepts NULL.
 */
#ifndef FG_RATELIM_H
#define FG_RATELIM_H

#include <stdint.h>

typedef struct fg_ratelim fg_ratelim_t;

/* @p rate events per second (>= 1), @p burst (0 = rate, i.e. one second's
 * worth). Starts full. NULL when out of memory or @p rate < 1. */
fg_ratelim_t *fg_ratelim_new(int64_t rate, int64_t burst, int64_t now_ns);
void fg_ratelim_destroy(fg_ratelim_t *rl);

/* Asks for @p n events at @p now_ns. Returns 0 when granted (the tokens are
 * taken), else how many ns from now it could be granted. */
int64_t fg_ratelim_take(fg_ratelim_t *rl, int64_t n, int64_t now_ns);

#endif
