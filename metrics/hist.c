/*
 * hist: decimal log-linear latency histogram (see hist.h).
 *
 * DESIGN
 * Bucket geometry. The round edges are E(0) = 1 µs and then every
 * 10^k µs * (1 + 0.05 j): 1.05 µs, 1.10 µs, ... 9.95 µs, 10 µs, 10.5 µs, ...
 * up to 100 s, i.e. each decade [10^k, 10^(k+1)) split into
 * FG_HIST_STEPS_PER_DECADE equal steps of 10^k/20. Buckets hold
 * (previous edge, edge], the same "less or equal" as a Prometheus `le`
 * bucket, so a value of exactly 2.5 ms counts under le="0.0025" and
 * fg_hist_count_le() is exact on every edge, the 1-2.5-5 series included:
 *   bucket 0          [0, 1 µs]           (everything at or below 1 µs)
 *   bucket 1          (1.00 µs, 1.05 µs]
 *   ...
 *   bucket N-2        (99 s, 100 s]       (two steps: see below)
 *   bucket N-1        (100 s, inf)        (overflow)
 * FG_HIST_BUCKETS leaves room for one underflow bucket, 8 * 180 steps and
 * one overflow bucket only if one step is dropped: the two topmost steps
 * share bucket N-2. Its relative width is 1 %, so the error bound holds and
 * every 1-2.5-5 edge, 1 µs and 100 s included, stays a bucket edge.
 * In integer nanoseconds bucket i is [edge(i-1) + 1, edge(i) + 1), which is
 * what fg_hist_bucket_upper_ns() returns as the exclusive upper bound.
 *
 * Lookup: find the decade with at most 8 compares against a table, then
 * divide by the decade's step, as a shift and a multiplication by a
 * precomputed reciprocal; no floating point, no log10(), no divide.
 *
 * Error bound: a step is at most 5 % of its lower edge (at the start of a
 * decade); the quantile reports the middle of the bucket, at most half a
 * step from any value in it, so within 2.5 %. Results are clipped to the
 * recorded maximum, and the highest rank reports the maximum itself.
 *
 * Threading: fg_hist_record() by the owner only, relaxed load + store per
 * field, no read-modify-write: the owner is the only writer, so no update
 * is lost and a concurrent reader sees each field torn-free. Everything
 * else reads with relaxed loads; merged copies belong to their reader.
 * Ownership: none; fg_hist_t is a plain value.
 */
#include "metrics/hist.h"

#include <math.h>

#define HIST_TOP_NS      100000000000LL /* 100 s: top edge of the last regular bucket */
#define HIST_OVERFLOW    (FG_HIST_BUCKETS - 1)
#define HIST_LAST_REG    (FG_HIST_BUCKETS - 2)

/* Lower edge of each decade, and one past the last. */
static const int64_t hist_decade_ns[FG_HIST_DECADES + 1] = {
    1000LL, 10000LL, 100000LL, 1000000LL, 10000000LL,
    100000000LL, 1000000000LL, 10000000000LL, 100000000000LL,
};

/* Step width in each decade: decade span / 180 = lower edge / 20. */
static const uint64_t hist_step_ns[FG_HIST_DECADES] = {
    50ULL, 500ULL, 5000ULL, 50000ULL, 500000ULL,
    5000000ULL, 50000000ULL, 500000000ULL,
};

/* The division by the step, done as a multiplication: step = 2^(k+1) *
 * 5^(k+2), so (u - lower) / step = ((u - lower) >> (k+1)) / 5^(k+2), and
 * x / 5^j is (x * ceil(2^56 / 5^j)) >> 56 exactly while x * 5^j < 2^56
 * (x < 9 * 10^(k+3) / 2^(k+1), so x * 5^(k+2) < 7e14) and the product
 * fits 64 bits (it stays below 180 * 2^56). A 64-bit divide costs more than
 * the rest of fg_hist_record on some CPUs. */
#define HIST_RECIP_SHIFT 56
#define HIST_RECIP(p5)   ((UINT64_C(1) << HIST_RECIP_SHIFT) / (p5) + 1)
static const uint64_t hist_recip[FG_HIST_DECADES] = {
    HIST_RECIP(25ULL), HIST_RECIP(125ULL), HIST_RECIP(625ULL), HIST_RECIP(3125ULL),
    HIST_RECIP(15625ULL), HIST_RECIP(78125ULL), HIST_RECIP(390625ULL), HIST_RECIP(1953125ULL),
};

_Static_assert(FG_HIST_BUCKETS == FG_HIST_DECADES * FG_HIST_STEPS_PER_DECADE + 1,
               "geometry assumes one underflow, one overflow and one merged step");
_Static_assert(FG_HIST_STEPS_PER_DECADE == 180, "hist_step_ns holds decade span / 180");
_Static_assert(FG_HIST_MIN_NS == 1000, "hist_decade_ns starts at 1 µs");

static inline size_t hist_index(int64_t ns) {
        /* Buckets are (lower, upper]; u = ns - 1 turns that into [lower, upper). */
        int64_t u = ns - 1;
        size_t k = 0;
        size_t idx;
        uint64_t x;

        if (u < FG_HIST_MIN_NS)
                return 0;
        if (u >= HIST_TOP_NS)
                return HIST_OVERFLOW;
        while (u >= hist_decade_ns[k + 1])
                k++;
        x = (uint64_t)(u - hist_decade_ns[k]) >> (k + 1);
        idx = 1 + k * FG_HIST_STEPS_PER_DECADE + (size_t)((x * hist_recip[k]) >> HIST_RECIP_SHIFT);
        return idx < HIST_LAST_REG ? idx : HIST_LAST_REG;
}

/* Inclusive upper edge of bucket @p i, a round number; INT64_MAX for the
 * overflow bucket. */
static int64_t hist_edge_ns(size_t i) {
        size_t j, k;

        if (i == 0)
                return FG_HIST_MIN_NS;
        if (i == HIST_LAST_REG)
                return HIST_TOP_NS;
        if (i > HIST_LAST_REG)
                return INT64_MAX;
        j = i - 1;
        k = j / FG_HIST_STEPS_PER_DECADE;
        return hist_decade_ns[k] +
               (int64_t)((j % FG_HIST_STEPS_PER_DECADE + 1) * hist_step_ns[k]);
}

/* Exclusive lower edge of bucket @p i (bucket 0 starts at 0 inclusive). */
static int64_t hist_lower_ns(size_t i) {
        return i == 0 ? 0 : hist_edge_ns(i - 1);
}

static inline uint64_t ld_u64(const _Atomic uint64_t *p) {
        return atomic_load_explicit(p, memory_order_relaxed);
}

static inline void st_u64(_Atomic uint64_t *p, uint64_t v) {
        atomic_store_explicit(p, v, memory_order_relaxed);
}

static uint64_t hist_total(const fg_hist_t *h) {
        uint64_t n = 0;

        for (size_t i = 0; i < FG_HIST_BUCKETS; i++)
                n += ld_u64(&h->bucket[i]);
        return n;
}

/* Owner thread only: the single writer, so load + store cannot lose an
 * update and costs no locked instruction. */
void fg_hist_record(fg_hist_t *h, int64_t ns) {
        size_t i;

        if (ns < 0)
                ns = 0;
        i = hist_index(ns);
        st_u64(&h->bucket[i], ld_u64(&h->bucket[i]) + 1);
        st_u64(&h->count, ld_u64(&h->count) + 1);
        st_u64(&h->sum_ns, ld_u64(&h->sum_ns) + (uint64_t)ns);
        if (ns > atomic_load_explicit(&h->max_ns, memory_order_relaxed))
                atomic_store_explicit(&h->max_ns, ns, memory_order_relaxed);
}

/* Any thread; @p dst private to the caller, @p src may be live. dst's count
 * grows by the sum of the buckets read, not by src->count, so a merged copy
 * is self-consistent (count == sum of buckets) even while src is written. */
void fg_hist_merge(fg_hist_t *dst, const fg_hist_t *src) {
        uint64_t n = 0;
        int64_t mx;

        for (size_t i = 0; i < FG_HIST_BUCKETS; i++) {
                uint64_t v = ld_u64(&src->bucket[i]);
                n += v;
                if (v)
                        st_u64(&dst->bucket[i], ld_u64(&dst->bucket[i]) + v);
        }
        st_u64(&dst->count, ld_u64(&dst->count) + n);
        st_u64(&dst->sum_ns, ld_u64(&dst->sum_ns) + ld_u64(&src->sum_ns));
        mx = atomic_load_explicit(&src->max_ns, memory_order_relaxed);
        if (mx > atomic_load_explicit(&dst->max_ns, memory_order_relaxed))
                atomic_store_explicit(&dst->max_ns, mx, memory_order_relaxed);
}

/* Owner thread, or a reader on its private copy. */
void fg_hist_reset(fg_hist_t *h) {
        for (size_t i = 0; i < FG_HIST_BUCKETS; i++)
                st_u64(&h->bucket[i], 0);
        st_u64(&h->count, 0);
        st_u64(&h->sum_ns, 0);
        atomic_store_explicit(&h->max_ns, 0, memory_order_relaxed);
}

/* Any thread. */
uint64_t fg_hist_count(const fg_hist_t *h) {
        return ld_u64(&h->count);
}

/* Any thread. */
uint64_t fg_hist_sum_ns(const fg_hist_t *h) {
        return ld_u64(&h->sum_ns);
}

/* Any thread. */
int64_t fg_hist_max_ns(const fg_hist_t *h) {
        return atomic_load_explicit(&h->max_ns, memory_order_relaxed);
}

/* Any thread, on a quiescent copy. The rank is ceil(q * n) (the "nearest
 * rank" definition); rank n is the maximum, which is known exactly. */
int64_t fg_hist_quantile_ns(const fg_hist_t *h, double q) {
        uint64_t n = hist_total(h), rank, cum = 0;
        int64_t mx = fg_hist_max_ns(h), v;
        double r;
        size_t i;

        if (n == 0)
                return 0;
        if (!(q > 0))
                q = 0; /* NaN too */
        if (q > 1)
                q = 1;
        r = ceil(q * (double)n);
        rank = r < 1 ? 1 : (uint64_t)r;
        if (rank >= n)
                return mx;
        for (i = 0; i < FG_HIST_BUCKETS; i++) {
                cum += ld_u64(&h->bucket[i]);
                if (cum >= rank)
                        break;
        }
        if (i == 0)
                v = FG_HIST_MIN_NS; /* below 1 µs nothing is promised; the clip keeps it honest */
        else if (i >= HIST_OVERFLOW)
                v = mx;
        else
                v = hist_lower_ns(i) + (hist_edge_ns(i) - hist_lower_ns(i)) / 2;
        return v < mx ? v : mx;
}

/* Any thread, on a quiescent copy. Exact at bucket edges and at or above
 * the maximum; elsewhere the bucket holding @p le_ns is split linearly. */
uint64_t fg_hist_count_le(const fg_hist_t *h, int64_t le_ns) {
        uint64_t cum = 0, in;
        int64_t lo, hi;
        size_t b;

        if (le_ns < 0)
                return 0;
        if (le_ns >= fg_hist_max_ns(h))
                return hist_total(h);
        b = hist_index(le_ns);
        for (size_t i = 0; i < b; i++)
                cum += ld_u64(&h->bucket[i]);
        if (b == HIST_OVERFLOW)
                return cum; /* (100 s, le] unknown; only the max is known */
        in = ld_u64(&h->bucket[b]);
        hi = hist_edge_ns(b);
        if (le_ns == hi)
                return cum + in;
        lo = hist_lower_ns(b);
        return cum + (uint64_t)((double)in * (double)(le_ns - lo) / (double)(hi - lo));
}

/* Any thread. */
size_t fg_hist_bucket_of(int64_t ns) {
        return hist_index(ns < 0 ? 0 : ns);
}

/* Any thread. Integer exclusive bound: edge + 1, since buckets include
 * their upper edge; INT64_MAX for the overflow bucket. */
int64_t fg_hist_bucket_upper_ns(size_t idx) {
        int64_t e = hist_edge_ns(idx);

        return e == INT64_MAX ? INT64_MAX : e + 1;
}

/* Any thread, on reader copies; @p out may alias either input. Counters
 * that went backwards (a reset in between) give 0 rather than wrapping. */
void fg_hist_diff(fg_hist_t *out, const fg_hist_t *newer, const fg_hist_t *older) {
        int64_t newer_max = fg_hist_max_ns(newer), mx = 0;
        uint64_t n = 0, s_new = ld_u64(&newer->sum_ns), s_old = ld_u64(&older->sum_ns);
        size_t top = 0;

        for (size_t i = 0; i < FG_HIST_BUCKETS; i++) {
                uint64_t a = ld_u64(&newer->bucket[i]), b = ld_u64(&older->bucket[i]);
                uint64_t d = a > b ? a - b : 0;
                st_u64(&out->bucket[i], d);
                n += d;
                if (d)
                        top = i + 1;
        }
        st_u64(&out->count, n);
        st_u64(&out->sum_ns, s_new > s_old ? s_new - s_old : 0);
        if (top) {
                int64_t edge = hist_edge_ns(top - 1);
                mx = edge < newer_max ? edge : newer_max;
        }
        atomic_store_explicit(&out->max_ns, mx, memory_order_relaxed);
}
