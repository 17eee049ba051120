/*
 * check_hist: the log-linear histogram — geometry, quantile error bound,
 * exact counts at the 1-2.5-5 edges, merge/diff, and its Prometheus form.
 *
 * Deterministic: values come from fixed sequences or a seeded xorshift.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "metrics/expo.h"
#include "metrics/hist.h"

#define NS_US 1000LL
#define NS_MS 1000000LL
#define NS_S  1000000000LL

/* Every 1-2.5-5 edge from 1 µs to 100 s. */
static const int64_t series_ns[] = {
    1000LL, 2500LL, 5000LL, 10000LL, 25000LL, 50000LL, 100000LL, 250000LL, 500000LL,
    1000000LL, 2500000LL, 5000000LL, 10000000LL, 25000000LL, 50000000LL,
    100000000LL, 250000000LL, 500000000LL, 1000000000LL, 2500000000LL, 5000000000LL,
    10000000000LL, 25000000000LL, 50000000000LL, 100000000000LL,
};
#define N_SERIES (sizeof(series_ns) / sizeof(series_ns[0]))

static uint64_t rng_state;

static uint64_t rng_next(void) {
        uint64_t x = rng_state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return rng_state = x;
}

/* Log-uniform in [lo, hi]. */
static int64_t rng_log(int64_t lo, int64_t hi) {
        double u = (double)(rng_next() >> 11) / 9007199254740992.0;
        return (int64_t)llround(exp(log((double)lo) + u * (log((double)hi) - log((double)lo))));
}

static fg_hist_t *hist_new(void) {
        fg_hist_t *h = calloc(1, sizeof(*h));
        ck_assert_ptr_nonnull(h);
        return h;
}

static int cmp_i64(const void *a, const void *b) {
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return (x > y) - (x < y);
}

/* Nearest-rank quantile of sorted @p v. */
static int64_t exact_quantile(const int64_t *v, size_t n, double q) {
        double r = ceil(q * (double)n);
        size_t rank = r < 1 ? 1 : (size_t)r;
        if (rank > n)
                rank = n;
        return v[rank - 1];
}

static uint64_t exact_count_le(const int64_t *v, size_t n, int64_t le) {
        uint64_t c = 0;
        for (size_t i = 0; i < n; i++)
                c += (v[i] < 0 ? 0 : v[i]) <= le;
        return c;
}

static void assert_within(int64_t got, int64_t want, double rel, const char *what) {
        double err = fabs((double)got - (double)want);
        ck_assert_msg(err <= rel * (double)want, "%s: got %lld want %lld (rel err %.4f)", what,
                      (long long)got, (long long)want, want ? err / (double)want : err);
}

/* Records @p v into a fresh histogram and checks the listed quantiles
 * against the exact nearest-rank values. */
static void check_quantiles(int64_t *v, size_t n, const char *what) {
        static const double qs[] = {0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1};
        fg_hist_t *h = hist_new();
        char label[96];

        for (size_t i = 0; i < n; i++)
                fg_hist_record(h, v[i]);
        qsort(v, n, sizeof(*v), cmp_i64);
        for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
                int64_t got = fg_hist_quantile_ns(h, qs[i]);
                snprintf(label, sizeof(label), "%s q=%g", what, qs[i]);
                if (v[0] >= FG_HIST_MIN_NS)
                        assert_within(got, exact_quantile(v, n, qs[i]), FG_HIST_MAX_REL_ERROR, label);
                ck_assert_msg(got <= v[n - 1], "%s above max", label);
        }
        ck_assert_int_eq(fg_hist_quantile_ns(h, 1), v[n - 1]);
        free(h);
}

START_TEST(test_hist_geometry_monotonic_contiguous) {
        int64_t prev = 0;

        for (size_t i = 0; i + 1 < FG_HIST_BUCKETS; i++) {
                int64_t up = fg_hist_bucket_upper_ns(i);
                ck_assert_msg(up > prev, "bucket %zu upper %lld not above %lld", i, (long long)up,
                              (long long)prev);
                /* contiguous: the last value in i is up - 1, the next one starts i + 1 */
                ck_assert_uint_eq(fg_hist_bucket_of(up - 1), i);
                ck_assert_uint_eq(fg_hist_bucket_of(up), i + 1);
                if (i > 0) {
                        /* width relative to the smallest value in the bucket */
                        double w = (double)(up - prev), lo = (double)prev;
                        ck_assert_msg(w / lo <= 0.05 + 1e-12, "bucket %zu too wide: %g", i, w / lo);
                        ck_assert_uint_eq(fg_hist_bucket_of(prev), i); /* prev = first value */
                }
                prev = up;
        }
        ck_assert_int_eq(fg_hist_bucket_upper_ns(FG_HIST_BUCKETS - 1), INT64_MAX);
        ck_assert_int_eq(fg_hist_bucket_upper_ns(0) - 1, 1 * NS_US);
        ck_assert_int_eq(fg_hist_bucket_upper_ns(FG_HIST_BUCKETS - 2) - 1, 100 * NS_S);

        /* bucket_of is monotonic over a dense log sweep */
        size_t last = 0;
        for (double x = 1; x < 2e11; x *= 1.0007) {
                size_t b = fg_hist_bucket_of((int64_t)x);
                ck_assert_uint_ge(b, last);
                last = b;
        }
        ck_assert_uint_eq(last, FG_HIST_BUCKETS - 1);
}
END_TEST

START_TEST(test_hist_geometry_round_edges) {
        /* Each decade [10^k, 10^(k+1)) µs is cut at 10^k * (1 + j/20) */
        int64_t lo = NS_US;
        for (int k = 0; k < FG_HIST_DECADES; k++, lo *= 10) {
                for (int j = 0; j <= FG_HIST_STEPS_PER_DECADE; j++) {
                        int64_t e = lo + (int64_t)j * (lo / 20);
                        if (k == FG_HIST_DECADES - 1 && j == FG_HIST_STEPS_PER_DECADE - 1)
                                continue; /* 99.5 s: the one merged step (99 s, 100 s] */
                        ck_assert_msg(fg_hist_bucket_of(e) + 1 == fg_hist_bucket_of(e + 1),
                                      "%lld ns is not a bucket edge", (long long)e);
                }
        }
        ck_assert_uint_eq(fg_hist_bucket_of(1050), 1);
        ck_assert_uint_eq(fg_hist_bucket_of(1051), 2);
        ck_assert_uint_eq(fg_hist_bucket_of(10 * NS_US), FG_HIST_STEPS_PER_DECADE);
        ck_assert_uint_eq(fg_hist_bucket_of(10 * NS_US + 1), FG_HIST_STEPS_PER_DECADE + 1);
}
END_TEST

/* The definition, with a plain division: what fg_hist_bucket_of computes
 * with its reciprocal multiplication. */
static size_t ref_bucket(int64_t v) {
        int64_t u = v - 1, lo = NS_US;
        size_t k = 0, idx;

        if (v <= NS_US)
                return 0;
        if (v > 100 * NS_S)
                return FG_HIST_BUCKETS - 1;
        while (u >= lo * 10) {
                lo *= 10;
                k++;
        }
        idx = 1 + k * FG_HIST_STEPS_PER_DECADE + (size_t)((u - lo) / (lo / 20));
        return idx < FG_HIST_BUCKETS - 2 ? idx : FG_HIST_BUCKETS - 2;
}

START_TEST(test_hist_bucket_of_matches_definition) {
        int64_t lo = NS_US;

        for (int64_t v = -3; v <= 300000; v++) /* every value of the first 2.5 decades */
                if (fg_hist_bucket_of(v) != ref_bucket(v))
                        ck_abort_msg("bucket_of(%lld) = %zu, want %zu", (long long)v,
                                     fg_hist_bucket_of(v), ref_bucket(v));
        for (int k = 0; k < FG_HIST_DECADES; k++, lo *= 10) /* around every step edge */
                for (int64_t e = lo; e <= lo * 10; e += lo / 20)
                        for (int64_t v = e - 2; v <= e + 2; v++)
                                if (fg_hist_bucket_of(v) != ref_bucket(v))
                                        ck_abort_msg("bucket_of(%lld) = %zu, want %zu", (long long)v,
                                                     fg_hist_bucket_of(v), ref_bucket(v));
        rng_state = 2024;
        for (int i = 0; i < 2000000; i++) {
                int64_t v = rng_log(1, 200 * NS_S);
                if (fg_hist_bucket_of(v) != ref_bucket(v))
                        ck_abort_msg("bucket_of(%lld) = %zu, want %zu", (long long)v,
                                     fg_hist_bucket_of(v), ref_bucket(v));
        }
}
END_TEST

START_TEST(test_hist_boundary_values_bucket) {
        for (size_t i = 0; i < N_SERIES; i++) {
                int64_t b = series_ns[i];
                size_t idx = fg_hist_bucket_of(b);
                /* the edge is the last value of its bucket, like a Prometheus le */
                ck_assert_int_eq(fg_hist_bucket_upper_ns(idx), b + 1);
                ck_assert_uint_eq(fg_hist_bucket_of(b + 1), idx + 1);
                ck_assert_uint_eq(fg_hist_bucket_of(b - 1), idx);
        }
        ck_assert_uint_eq(fg_hist_bucket_of(-5), 0);
        ck_assert_uint_eq(fg_hist_bucket_of(0), 0);
        ck_assert_uint_eq(fg_hist_bucket_of(999), 0);
        ck_assert_uint_eq(fg_hist_bucket_of(1000), 0);
        ck_assert_uint_eq(fg_hist_bucket_of(1001), 1);
        ck_assert_uint_eq(fg_hist_bucket_of(100 * NS_S), FG_HIST_BUCKETS - 2);
        ck_assert_uint_eq(fg_hist_bucket_of(100 * NS_S + 1), FG_HIST_BUCKETS - 1);
        ck_assert_uint_eq(fg_hist_bucket_of(INT64_MAX), FG_HIST_BUCKETS - 1);
}
END_TEST

START_TEST(test_hist_quantile_uniform) {
        size_t n = 60000; /* 1 ms .. 60 s in 1 ms steps */
        int64_t *v = malloc(n * sizeof(*v));

        for (size_t i = 0; i < n; i++)
                v[i] = (int64_t)(i + 1) * NS_MS;
        check_quantiles(v, 1000, "uniform 1..1000 ms");
        for (size_t i = 0; i < n; i++)
                v[i] = (int64_t)(n - i) * NS_MS; /* order must not matter */
        check_quantiles(v, n, "uniform 1..60000 ms");
        for (size_t i = 0; i < 5000; i++)
                v[i] = (int64_t)(i + 1) * NS_US;
        check_quantiles(v, 5000, "uniform 1..5000 us");
        free(v);
}
END_TEST

START_TEST(test_hist_quantile_constant) {
        static const int64_t cs[] = {1000, 1001, 1049, 1234, 999999, 1500000, 7300000000LL,
                                     59999999999LL, 99000000001LL};
        int64_t v[500];

        for (size_t c = 0; c < sizeof(cs) / sizeof(cs[0]); c++) {
                char what[64];
                for (size_t i = 0; i < 500; i++)
                        v[i] = cs[c];
                snprintf(what, sizeof(what), "constant %lld", (long long)cs[c]);
                check_quantiles(v, 500, what);
        }
}
END_TEST

START_TEST(test_hist_quantile_two_point) {
        int64_t v[1000];
        fg_hist_t *h = hist_new();

        for (size_t i = 0; i < 1000; i++)
                v[i] = i < 900 ? 3 * NS_MS : 45 * NS_S;
        check_quantiles(v, 1000, "two-point");
        for (size_t i = 0; i < 1000; i++)
                fg_hist_record(h, v[i]);
        assert_within(fg_hist_quantile_ns(h, 0.9), 3 * NS_MS, FG_HIST_MAX_REL_ERROR, "p90");
        assert_within(fg_hist_quantile_ns(h, 0.901), 45 * NS_S, FG_HIST_MAX_REL_ERROR, "p90.1");
        free(h);
}
END_TEST

/* 2000 log-spaced values over 1 µs .. 60 s. Alone, the answer is the
 * maximum; next to a value 10x larger, p50 is the bucket's estimate. */
START_TEST(test_hist_quantile_sweep) {
        fg_hist_t *h = hist_new();
        double ratio = pow(60e9 / 1e3, 1.0 / 1999);

        for (int i = 0; i < 2000; i++) {
                int64_t x = (int64_t)llround(1e3 * pow(ratio, i));
                char what[64];

                snprintf(what, sizeof(what), "sweep %lld alone", (long long)x);
                fg_hist_reset(h);
                fg_hist_record(h, x);
                assert_within(fg_hist_quantile_ns(h, 0.5), x, FG_HIST_MAX_REL_ERROR, what);

                snprintf(what, sizeof(what), "sweep %lld with 10x", (long long)x);
                fg_hist_record(h, x * 10);
                assert_within(fg_hist_quantile_ns(h, 0.5), x, FG_HIST_MAX_REL_ERROR, what);
                /* the estimate itself is within half a step */
                ck_assert_msg(fabs((double)fg_hist_quantile_ns(h, 0.5) - (double)x) <= 0.025 * (double)x,
                              "%s: beyond half a step", what);
        }
        free(h);
}
END_TEST

START_TEST(test_hist_quantile_random_log_uniform) {
        size_t n = 100000;
        int64_t *v = malloc(n * sizeof(*v));

        rng_state = 0x9E3779B97F4A7C15ULL;
        for (size_t i = 0; i < n; i++)
                v[i] = rng_log(NS_US, 60 * NS_S);
        check_quantiles(v, n, "log-uniform 1us..60s");
        for (size_t i = 0; i < n; i++)
                v[i] = rng_log(50 * NS_US, 200 * NS_MS);
        check_quantiles(v, n, "log-uniform 50us..200ms");
        free(v);
}
END_TEST

START_TEST(test_hist_count_le_exact_at_boundaries) {
        size_t n = 0, cap = N_SERIES * 3 + 20000;
        int64_t *v = malloc(cap * sizeof(*v));
        fg_hist_t *h = hist_new();

        rng_state = 12345;
        for (size_t i = 0; i < N_SERIES; i++) {
                v[n++] = series_ns[i] - 1;
                v[n++] = series_ns[i];
                v[n++] = series_ns[i] + 1;
        }
        for (size_t i = 0; i < 10000; i++)
                v[n++] = rng_log(1, 200 * NS_S);
        for (size_t i = 0; i < 10000; i++)
                v[n++] = (int64_t)(rng_next() % 5000) * NS_MS; /* round values hit the edges */
        for (size_t i = 0; i < n; i++)
                fg_hist_record(h, v[i]);
        for (size_t i = 0; i < N_SERIES; i++) {
                uint64_t want = exact_count_le(v, n, series_ns[i]);
                ck_assert_msg(fg_hist_count_le(h, series_ns[i]) == want,
                              "count_le(%lld) = %llu, want %llu", (long long)series_ns[i],
                              (unsigned long long)fg_hist_count_le(h, series_ns[i]),
                              (unsigned long long)want);
        }
        /* every other bucket edge is exact too */
        for (size_t i = 0; i + 1 < FG_HIST_BUCKETS; i += 7) {
                int64_t e = fg_hist_bucket_upper_ns(i) - 1;
                ck_assert_uint_eq(fg_hist_count_le(h, e), exact_count_le(v, n, e));
        }
        ck_assert_uint_eq(fg_hist_count_le(h, -1), 0);
        ck_assert_uint_eq(fg_hist_count_le(h, fg_hist_max_ns(h)), n);
        ck_assert_uint_eq(fg_hist_count_le(h, INT64_MAX), n);
        free(h);
        free(v);
}
END_TEST

START_TEST(test_hist_max_sum_count) {
        fg_hist_t *h = hist_new();
        uint64_t sum = 0;
        int64_t mx = 0;

        ck_assert_int_eq(fg_hist_quantile_ns(h, 0.5), 0);
        ck_assert_uint_eq(fg_hist_count_le(h, NS_S), 0);
        rng_state = 777;
        for (int i = 0; i < 5000; i++) {
                int64_t x = rng_log(1, 90 * NS_S);
                fg_hist_record(h, x);
                sum += (uint64_t)x;
                mx = x > mx ? x : mx;
        }
        fg_hist_record(h, -42); /* counts as 0 */
        ck_assert_uint_eq(fg_hist_count(h), 5001);
        ck_assert_uint_eq(fg_hist_sum_ns(h), sum);
        ck_assert_int_eq(fg_hist_max_ns(h), mx);
        ck_assert_int_eq(fg_hist_quantile_ns(h, 1.0), mx);
        ck_assert_int_le(fg_hist_quantile_ns(h, 0.9999), mx);
        ck_assert_int_eq(fg_hist_quantile_ns(h, 7.0), mx);   /* clamped */
        ck_assert_int_le(fg_hist_quantile_ns(h, -1.0), NS_US); /* the 0 */
        fg_hist_reset(h);
        ck_assert_uint_eq(fg_hist_count(h), 0);
        ck_assert_uint_eq(fg_hist_sum_ns(h), 0);
        ck_assert_int_eq(fg_hist_max_ns(h), 0);
        ck_assert_uint_eq(fg_hist_count_le(h, INT64_MAX), 0);
        free(h);
}
END_TEST

START_TEST(test_hist_out_of_range) {
        fg_hist_t *h = hist_new();

        /* at or below 1 µs: bucket 0, reported no higher than the max */
        fg_hist_record(h, 0);
        fg_hist_record(h, 1);
        fg_hist_record(h, 500);
        fg_hist_record(h, 999);
        ck_assert_uint_eq(atomic_load(&h->bucket[0]), 4);
        ck_assert_uint_eq(fg_hist_count_le(h, NS_US), 4);
        ck_assert_int_le(fg_hist_quantile_ns(h, 0.5), 999);
        ck_assert_int_eq(fg_hist_quantile_ns(h, 1), 999);

        /* above 100 s: the overflow bucket, reported as the max */
        fg_hist_reset(h);
        fg_hist_record(h, 100 * NS_S + 1);
        fg_hist_record(h, 150 * NS_S);
        fg_hist_record(h, 3600 * NS_S);
        ck_assert_uint_eq(atomic_load(&h->bucket[FG_HIST_BUCKETS - 1]), 3);
        ck_assert_int_eq(fg_hist_quantile_ns(h, 0.5), 3600 * NS_S);
        ck_assert_uint_eq(fg_hist_count_le(h, 100 * NS_S), 0);
        ck_assert_uint_eq(fg_hist_count_le(h, 3600 * NS_S), 3);

        /* exactly 100 s is still <= 100 s */
        fg_hist_record(h, 100 * NS_S);
        ck_assert_uint_eq(fg_hist_count_le(h, 100 * NS_S), 1);
        assert_within(fg_hist_quantile_ns(h, 0.25), 100 * NS_S, FG_HIST_MAX_REL_ERROR, "100 s");

        /* negative values count as 0 */
        fg_hist_reset(h);
        fg_hist_record(h, INT64_MIN);
        ck_assert_uint_eq(fg_hist_count(h), 1);
        ck_assert_uint_eq(fg_hist_sum_ns(h), 0);
        ck_assert_int_eq(fg_hist_max_ns(h), 0);
        ck_assert_uint_eq(fg_hist_count_le(h, 0), 1);
        free(h);
}
END_TEST

START_TEST(test_hist_merge) {
        fg_hist_t *a = hist_new(), *b = hist_new(), *all = hist_new(), *m = hist_new();

        rng_state = 4242;
        for (int i = 0; i < 20000; i++) {
                int64_t x = rng_log(NS_US, 120 * NS_S);
                fg_hist_record(i % 3 ? a : b, x);
                fg_hist_record(all, x);
        }
        fg_hist_merge(m, a);
        fg_hist_merge(m, b);
        ck_assert_uint_eq(fg_hist_count(m), fg_hist_count(all));
        ck_assert_uint_eq(fg_hist_sum_ns(m), fg_hist_sum_ns(all));
        ck_assert_int_eq(fg_hist_max_ns(m), fg_hist_max_ns(all));
        for (size_t i = 0; i < FG_HIST_BUCKETS; i++)
                ck_assert_uint_eq(atomic_load(&m->bucket[i]), atomic_load(&all->bucket[i]));
        for (double q = 0; q <= 1.0; q += 0.01)
                ck_assert_int_eq(fg_hist_quantile_ns(m, q), fg_hist_quantile_ns(all, q));
        /* merging an empty one changes nothing */
        fg_hist_reset(b);
        fg_hist_merge(m, b);
        ck_assert_uint_eq(fg_hist_count(m), fg_hist_count(all));
        free(a);
        free(b);
        free(all);
        free(m);
}
END_TEST

START_TEST(test_hist_diff) {
        fg_hist_t *live = hist_new(), *older = hist_new(), *newer = hist_new();
        fg_hist_t *out = hist_new(), *window = hist_new();
        int64_t v[5000];
        uint64_t wsum = 0;
        int64_t wmax = 0;

        rng_state = 99;
        for (int i = 0; i < 20000; i++)
                fg_hist_record(live, rng_log(NS_US, 90 * NS_S)); /* up to 90 s */
        fg_hist_merge(older, live);
        for (int i = 0; i < 5000; i++) {
                v[i] = rng_log(100 * NS_US, 20 * NS_MS);
                fg_hist_record(live, v[i]);
                fg_hist_record(window, v[i]);
                wsum += (uint64_t)v[i];
                wmax = v[i] > wmax ? v[i] : wmax;
        }
        fg_hist_merge(newer, live);
        fg_hist_diff(out, newer, older);

        ck_assert_uint_eq(fg_hist_count(out), 5000);
        ck_assert_uint_eq(fg_hist_sum_ns(out), wsum);
        for (size_t i = 0; i < FG_HIST_BUCKETS; i++)
                ck_assert_uint_eq(atomic_load(&out->bucket[i]), atomic_load(&window->bucket[i]));
        /* max: the top edge of the highest bucket in the window, never below
         * the true window max and never above the newer max */
        ck_assert_int_ge(fg_hist_max_ns(out), wmax);
        ck_assert_int_le(fg_hist_max_ns(out), fg_hist_max_ns(newer));
        ck_assert_uint_eq(fg_hist_bucket_of(fg_hist_max_ns(out)), fg_hist_bucket_of(wmax));
        qsort(v, 5000, sizeof(v[0]), cmp_i64);
        for (double q = 0.05; q < 1.0; q += 0.05)
                assert_within(fg_hist_quantile_ns(out, q), exact_quantile(v, 5000, q),
                              FG_HIST_MAX_REL_ERROR, "window quantile");

        /* nothing new: empty window */
        fg_hist_diff(out, newer, newer);
        ck_assert_uint_eq(fg_hist_count(out), 0);
        ck_assert_int_eq(fg_hist_max_ns(out), 0);
        ck_assert_int_eq(fg_hist_quantile_ns(out, 0.99), 0);

        /* out may alias newer */
        fg_hist_diff(newer, newer, older);
        ck_assert_uint_eq(fg_hist_count(newer), 5000);
        ck_assert_uint_eq(fg_hist_sum_ns(newer), wsum);

        /* newest max clips the edge */
        fg_hist_reset(older);
        fg_hist_reset(newer);
        fg_hist_record(newer, 1234567);
        fg_hist_diff(out, newer, older);
        ck_assert_int_eq(fg_hist_max_ns(out), 1234567);
        free(live);
        free(older);
        free(newer);
        free(out);
        free(window);
}
END_TEST

/* Parses one exposition line "name{labels} value" into its parts. */
static int parse_line(const char *line, char *name, size_t name_size, char *labels,
                      size_t labels_size, double *value) {
        const char *sp = strrchr(line, ' ');
        const char *br = strchr(line, '{');
        char *end;

        if (!sp)
                return -1;
        *value = strtod(sp + 1, &end);
        if (*end != '\0' && *end != '\n')
                return -1;
        labels[0] = '\0';
        if (br && br < sp) {
                snprintf(name, name_size, "%.*s", (int)(br - line), line);
                snprintf(labels, labels_size, "%.*s", (int)(sp - br - 2), br + 1);
        } else {
                snprintf(name, name_size, "%.*s", (int)(sp - line), line);
        }
        return 0;
}

START_TEST(test_hist_prom_rendering) {
        fg_hist_t *h = hist_new();
        fg_buf_t b = FG_BUF_INIT, lbl = FG_BUF_INIT;
        size_t n = 0;
        int64_t v[3000];
        uint64_t sum = 0, prev = 0, inf = 0, count = 0;
        double prev_le = 0, sum_s = -1;
        int buckets = 0;
        char *save = NULL;

        rng_state = 31337;
        for (size_t i = 0; i < N_SERIES; i++)
                v[n++] = series_ns[i]; /* on the edges: must count as <= */
        while (n < 3000)
                v[n++] = rng_log(1, 150 * NS_S);
        for (size_t i = 0; i < n; i++) {
                fg_hist_record(h, v[i]);
                sum += (uint64_t)v[i];
        }
        fg_prom_label(&lbl, "stage", "sink");
        fg_prom_header(&b, "floodgate_sink_call_seconds", "histogram", "Sink call latency.");
        fg_prom_histogram(&b, "floodgate_sink_call_seconds", fg_buf_cstr(&lbl), h);

        /* the bounds print like the Go client's: shortest form, exponent below 1e-4 */
        ck_assert_ptr_nonnull(strstr(fg_buf_cstr(&b), "le=\"1e-06\"} "));
        ck_assert_ptr_nonnull(strstr(b.p, "le=\"2.5e-05\"} "));
        ck_assert_ptr_nonnull(strstr(b.p, "le=\"0.0025\"} "));
        ck_assert_ptr_nonnull(strstr(b.p, "le=\"100\"} "));
        ck_assert_ptr_nonnull(strstr(b.p, "# HELP floodgate_sink_call_seconds Sink call latency.\n"
                                          "# TYPE floodgate_sink_call_seconds histogram\n"));
        for (char *line = strtok_r(fg_buf_cstr(&b), "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
                char name[128], labels[256];
                double val;

                if (line[0] == '#')
                        continue;
                ck_assert_int_eq(parse_line(line, name, sizeof(name), labels, sizeof(labels), &val), 0);
                if (!strcmp(name, "floodgate_sink_call_seconds_bucket")) {
                        const char *le = strstr(labels, "le=\"");
                        ck_assert_msg(!strncmp(labels, "stage=\"sink\",le=\"", 17), "labels: %s", labels);
                        ck_assert_ptr_nonnull(le);
                        ck_assert_msg(val == floor(val) && val >= (double)prev, "not cumulative: %s", line);
                        prev = (uint64_t)val;
                        if (!strncmp(le + 4, "+Inf", 4)) {
                                inf = prev;
                        } else {
                                char *end;
                                double le_s = strtod(le + 4, &end);
                                int64_t le_ns = (int64_t)llround(le_s * 1e9);
                                ck_assert_msg(*end == '"', "bad le: %s", line);
                                ck_assert_msg(le_s > prev_le, "le not increasing: %s", line);
                                ck_assert_int_eq(le_ns, series_ns[buckets]);
                                ck_assert_uint_eq(prev, exact_count_le(v, n, le_ns));
                                prev_le = le_s;
                        }
                        buckets++;
                } else if (!strcmp(name, "floodgate_sink_call_seconds_sum")) {
                        ck_assert_str_eq(labels, "stage=\"sink\"");
                        sum_s = val;
                } else if (!strcmp(name, "floodgate_sink_call_seconds_count")) {
                        ck_assert_str_eq(labels, "stage=\"sink\"");
                        count = (uint64_t)val;
                } else {
                        ck_abort_msg("unexpected line: %s", line);
                }
        }
        ck_assert_int_eq(buckets, (int)N_SERIES + 1);
        ck_assert_uint_eq(inf, n);
        ck_assert_uint_eq(count, inf);
        ck_assert_msg(fabs(sum_s - (double)sum / 1e9) <= 1e-9 * (double)sum / 1e9, "sum %g", sum_s);

        /* no labels: le alone, bare _sum/_count; an empty histogram is all zeros */
        fg_hist_reset(h);
        fg_buf_reset(&b);
        fg_prom_histogram(&b, "x", NULL, h);
        ck_assert_ptr_nonnull(strstr(fg_buf_cstr(&b), "x_bucket{le=\"1e-06\"} 0\n"));
        ck_assert_ptr_nonnull(strstr(b.p, "x_bucket{le=\"+Inf\"} 0\nx_sum 0\nx_count 0\n"));
        fg_buf_free(&b);
        fg_buf_free(&lbl);
        free(h);
}
END_TEST

START_TEST(test_hist_json_fields) {
        fg_hist_t *h = hist_new();
        json_t *j;

        for (int i = 1; i <= 1000; i++)
                fg_hist_record(h, i * NS_MS);
        j = fg_hist_to_json(h);
        ck_assert_ptr_nonnull(j);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 1000);
        ck_assert(fabs(json_real_value(json_object_get(j, "sum_ms")) - 500500.0) < 1e-6);
        ck_assert(fabs(json_real_value(json_object_get(j, "p50_ms")) - 500) <= 25);
        ck_assert(fabs(json_real_value(json_object_get(j, "p90_ms")) - 900) <= 45);
        ck_assert(fabs(json_real_value(json_object_get(j, "p99_ms")) - 990) <= 49.5);
        ck_assert(fabs(json_real_value(json_object_get(j, "p999_ms")) - 999) <= 49.95);
        ck_assert(json_real_value(json_object_get(j, "max_ms")) == 1000.0);
        json_decref(j);

        /* Empty: no quantile to report, so null rather than a fake 0. */
        fg_hist_reset(h);
        j = fg_hist_to_json(h);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 0);
        ck_assert(json_is_null(json_object_get(j, "p50_ms")));
        ck_assert(json_is_null(json_object_get(j, "p999_ms")));
        ck_assert(json_is_null(json_object_get(j, "max_ms")));
        json_decref(j);
        free(h);
}
END_TEST

static Suite *hist_suite(void) {
        Suite *s = suite_create("hist");
        TCase *tc = tcase_create("core");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_hist_geometry_monotonic_contiguous);
        tcase_add_test(tc, test_hist_geometry_round_edges);
        tcase_add_test(tc, test_hist_bucket_of_matches_definition);
        tcase_add_test(tc, test_hist_boundary_values_bucket);
        tcase_add_test(tc, test_hist_quantile_uniform);
        tcase_add_test(tc, test_hist_quantile_constant);
        tcase_add_test(tc, test_hist_quantile_two_point);
        tcase_add_test(tc, test_hist_quantile_sweep);
        tcase_add_test(tc, test_hist_quantile_random_log_uniform);
        tcase_add_test(tc, test_hist_count_le_exact_at_boundaries);
        tcase_add_test(tc, test_hist_max_sum_count);
        tcase_add_test(tc, test_hist_out_of_range);
        tcase_add_test(tc, test_hist_merge);
        tcase_add_test(tc, test_hist_diff);
        tcase_add_test(tc, test_hist_prom_rendering);
        tcase_add_test(tc, test_hist_json_fields);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(hist_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
