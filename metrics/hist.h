/*
 * hist: a fixed-size log-linear latency histogram.
 *
 * Buckets are decimal log-linear: every decade from 1 µs to 100 s is split
 * into FG_HIST_STEPS_PER_DECADE equal-width buckets, so boundaries are round
 * numbers (1.00 ms, 1.05 ms, ...) and any reported percentile is within
 * FG_HIST_MAX_REL_ERROR of the true value. A bucket holds (lower, upper],
 * like a Prometheus `le` bucket, so counts at every round edge are exact.
 * Values up to 1 µs land in the first bucket, values above 100 s in the
 * overflow bucket (the top two steps, 99-100 s, share one bucket so that
 * both 1 µs and 100 s stay exact edges); the exact maximum and sum are kept
 * besides.
 *
 * Threading: an fg_hist_t is written by exactly one thread (its owner) with
 * fg_hist_record(), using relaxed atomic loads and stores (no read-modify-
 * write), so a reader on another thread may call fg_hist_merge() at any time
 * and sees each bucket torn-free (counts may be momentarily a few apart
 * between buckets; every value is eventually counted once).
 * Ownership: plain value type; embed it or allocate it, no internal pointers.
 */
#ifndef FG_HIST_H
#define FG_HIST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FG_HIST_MIN_NS           1000LL            /* 1 µs */
#define FG_HIST_DECADES          8                 /* 1 µs .. 100 s */
#define FG_HIST_STEPS_PER_DECADE 180
#define FG_HIST_BUCKETS          (FG_HIST_DECADES * FG_HIST_STEPS_PER_DECADE + 1)
#define FG_HIST_MAX_REL_ERROR    0.05

typedef struct fg_hist {
        _Atomic uint64_t bucket[FG_HIST_BUCKETS]; /* last one: > 100 s */
        _Atomic uint64_t count;
        _Atomic uint64_t sum_ns;
        _Atomic int64_t max_ns;
} fg_hist_t;

/* Owner thread only. Negative values count as 0. */
void fg_hist_record(fg_hist_t *h, int64_t ns);

/* Adds @p src into @p dst (dst is a reader-private copy). Any thread. */
void fg_hist_merge(fg_hist_t *dst, const fg_hist_t *src);

void fg_hist_reset(fg_hist_t *h);

/* Reader-side queries on a merged (quiescent) histogram. */
uint64_t fg_hist_count(const fg_hist_t *h);
uint64_t fg_hist_sum_ns(const fg_hist_t *h);
int64_t fg_hist_max_ns(const fg_hist_t *h);
/* Value at quantile @p q in [0,1], within FG_HIST_MAX_REL_ERROR; 0 if empty.
 * Never exceeds the recorded maximum. */
int64_t fg_hist_quantile_ns(const fg_hist_t *h, double q);
/* Number of recorded values <= @p le_ns. Exact when @p le_ns is a bucket
 * boundary (every 1-2.5-5 step from 1 µs to 100 s is one). */
uint64_t fg_hist_count_le(const fg_hist_t *h, int64_t le_ns);

/* Bucket geometry, for tests and exposition. */
size_t fg_hist_bucket_of(int64_t ns);
int64_t fg_hist_bucket_upper_ns(size_t idx); /* exclusive bound: the round edge + 1 ns */

/* Subtract @p older from @p newer into @p out (for windowed percentiles:
 * a snapshot now minus one taken earlier). Any thread, reader copies. */
void fg_hist_diff(fg_hist_t *out, const fg_hist_t *newer, const fg_hist_t *older);

#endif
