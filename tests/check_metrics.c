/*
 * check_metrics: sharded counters and histograms under threads, shard reuse,
 * snapshot monotonicity while writers run (run it under TSan too), rates
 * from injected timestamps, and the Prometheus text helpers.
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "metrics/expo.h"
#include "metrics/metrics.h"

#define NS_S 1000000000LL

static fg_metrics_snap_t *snap_new(void) {
        fg_metrics_snap_t *s = calloc(1, sizeof(*s));
        ck_assert_ptr_nonnull(s);
        return s;
}

/* What one recording thread does per message. */
static void record_one(fg_mshard_t *s, uint64_t i) {
        fg_mshard_add(s, FG_CTR_CONSUMED, 1);
        fg_mshard_add(s, FG_CTR_CONSUMED_BYTES, 100);
        fg_mshard_add(s, FG_CTR_OK, 1);
        fg_mshard_observe(s, FG_HIST_E2E, (int64_t)(i % 1000 + 1) * 1000);
        fg_mshard_observe(s, FG_HIST_QUEUE_WAIT, (int64_t)(i % 7) * 100000);
}

#define EXACT_THREADS 8
#define EXACT_PER     20000

struct exact_arg {
        fg_metrics_t *m;
        pthread_barrier_t *bar;
        fg_mshard_t *got;
};

static void *exact_thread(void *p) {
        struct exact_arg *a = p;
        fg_mshard_t *s = fg_metrics_shard_get(a->m);

        a->got = s;
        pthread_barrier_wait(a->bar); /* all hold a shard at once */
        for (uint64_t i = 0; i < EXACT_PER; i++)
                record_one(s, i);
        pthread_barrier_wait(a->bar);
        fg_mshard_release(a->m, s);
        return NULL;
}

START_TEST(test_metrics_threads_merge_exact_totals) {
        fg_metrics_t *m = fg_metrics_new();
        fg_metrics_snap_t *snap = snap_new();
        pthread_t th[EXACT_THREADS];
        struct exact_arg args[EXACT_THREADS];
        pthread_barrier_t bar;
        uint64_t e2e_sum = 0, qw_sum = 0;

        ck_assert_ptr_nonnull(m);
        pthread_barrier_init(&bar, NULL, EXACT_THREADS);
        for (int t = 0; t < EXACT_THREADS; t++) {
                args[t] = (struct exact_arg){.m = m, .bar = &bar};
                ck_assert_int_eq(pthread_create(&th[t], NULL, exact_thread, &args[t]), 0);
        }
        for (int t = 0; t < EXACT_THREADS; t++)
                pthread_join(th[t], NULL);
        pthread_barrier_destroy(&bar);

        for (int t = 0; t < EXACT_THREADS; t++)
                for (int u = t + 1; u < EXACT_THREADS; u++)
                        ck_assert_ptr_ne(args[t].got, args[u].got);
        for (uint64_t i = 0; i < EXACT_PER; i++) {
                e2e_sum += (i % 1000 + 1) * 1000;
                qw_sum += (i % 7) * 100000;
        }
        fg_metrics_snapshot(m, snap);
        ck_assert_uint_eq(snap->ctr[FG_CTR_CONSUMED], EXACT_THREADS * EXACT_PER);
        ck_assert_uint_eq(snap->ctr[FG_CTR_CONSUMED_BYTES], 100ULL * EXACT_THREADS * EXACT_PER);
        ck_assert_uint_eq(snap->ctr[FG_CTR_OK], EXACT_THREADS * EXACT_PER);
        ck_assert_uint_eq(snap->ctr[FG_CTR_FAILED], 0);
        ck_assert_uint_eq(fg_hist_count(&snap->hist[FG_HIST_E2E]), EXACT_THREADS * EXACT_PER);
        ck_assert_uint_eq(fg_hist_sum_ns(&snap->hist[FG_HIST_E2E]), EXACT_THREADS * e2e_sum);
        ck_assert_int_eq(fg_hist_max_ns(&snap->hist[FG_HIST_E2E]), 1000 * 1000);
        ck_assert_uint_eq(fg_hist_count(&snap->hist[FG_HIST_QUEUE_WAIT]), EXACT_THREADS * EXACT_PER);
        ck_assert_uint_eq(fg_hist_sum_ns(&snap->hist[FG_HIST_QUEUE_WAIT]), EXACT_THREADS * qw_sum);
        ck_assert_uint_eq(fg_hist_count(&snap->hist[FG_HIST_SINK_CALL]), 0);
        /* 1..1000 µs evenly: half at or below 500 µs, exactly */
        ck_assert_uint_eq(fg_hist_count_le(&snap->hist[FG_HIST_E2E], 500000),
                          EXACT_THREADS * EXACT_PER / 2);
        fg_metrics_destroy(m);
        free(snap);
}
END_TEST

static void *reuse_thread(void *p) {
        fg_metrics_t *m = p;
        fg_mshard_t *s = fg_metrics_shard_get(m);

        fg_mshard_add(s, FG_CTR_RETRIES, 3);
        fg_mshard_observe(s, FG_HIST_SINK_CALL, 2000000);
        fg_mshard_release(m, s);
        return s;
}

START_TEST(test_metrics_shard_reuse_keeps_totals) {
        fg_metrics_t *m = fg_metrics_new();
        fg_metrics_snap_t *snap = snap_new();
        fg_mshard_t *a, *b, *c, *first = NULL;
        uint64_t prev = 0;

        a = fg_metrics_shard_get(m);
        b = fg_metrics_shard_get(m);
        ck_assert_ptr_ne(a, b);
        ck_assert_uint_eq((uintptr_t)a % 64, 0);
        ck_assert_uint_eq((uintptr_t)b % 64, 0);
        fg_mshard_add(a, FG_CTR_RETRIES, 5);
        fg_mshard_release(m, a);
        c = fg_metrics_shard_get(m);
        ck_assert_ptr_eq(c, a); /* reused, counts kept */
        fg_metrics_snapshot(m, snap);
        ck_assert_uint_eq(snap->ctr[FG_CTR_RETRIES], 5);
        fg_mshard_add(c, FG_CTR_RETRIES, 2);
        fg_metrics_snapshot(m, snap);
        ck_assert_uint_eq(snap->ctr[FG_CTR_RETRIES], 7);
        fg_mshard_release(m, c);
        fg_mshard_release(m, b);
        fg_mshard_release(m, NULL);
        prev = 7;

        /* thread churn: 50 short-lived threads, one after the other, share
         * the released shards; totals only grow */
        for (int i = 0; i < 50; i++) {
                pthread_t th;
                void *got;

                ck_assert_int_eq(pthread_create(&th, NULL, reuse_thread, m), 0);
                pthread_join(th, &got);
                if (!first)
                        first = got;
                ck_assert_ptr_eq(got, first);
                ck_assert(got == a || got == b);
                fg_metrics_snapshot(m, snap);
                ck_assert_uint_eq(snap->ctr[FG_CTR_RETRIES], prev + 3);
                prev = snap->ctr[FG_CTR_RETRIES];
                ck_assert_uint_eq(fg_hist_count(&snap->hist[FG_HIST_SINK_CALL]), (uint64_t)i + 1);
        }
        fg_metrics_destroy(m);
        fg_metrics_destroy(NULL);
        free(snap);
}
END_TEST

#define MONO_WRITERS 4

struct mono_arg {
        fg_metrics_t *m;
        _Atomic int *stop;
        int churn; /* take and give back a shard every few hundred records */
};

static void *mono_thread(void *p) {
        struct mono_arg *a = p;
        fg_mshard_t *s = fg_metrics_shard_get(a->m);
        uint64_t i = 0;

        while (!atomic_load_explicit(a->stop, memory_order_relaxed)) {
                record_one(s, i);
                fg_mshard_add(s, FG_CTR_SINK_CALLS, 1);
                fg_mshard_observe(s, FG_HIST_SINK_CALL, (int64_t)((i * 7919) % 100000) * 1000);
                i++;
                if (a->churn && i % 300 == 0) {
                        fg_mshard_release(a->m, s);
                        s = fg_metrics_shard_get(a->m);
                }
        }
        fg_mshard_release(a->m, s);
        return NULL;
}

static void assert_not_before(const fg_metrics_snap_t *prev, const fg_metrics_snap_t *cur) {
        for (int c = 0; c < FG_CTR__CNT; c++)
                ck_assert_msg(cur->ctr[c] >= prev->ctr[c], "counter %s went back",
                              fg_ctr_name((fg_ctr_t)c));
        for (int h = 0; h < FG_HIST__CNT; h++) {
                const fg_hist_t *a = &prev->hist[h], *b = &cur->hist[h];
                uint64_t sum = 0;

                ck_assert_uint_ge(fg_hist_count(b), fg_hist_count(a));
                ck_assert_uint_ge(fg_hist_sum_ns(b), fg_hist_sum_ns(a));
                ck_assert_int_ge(fg_hist_max_ns(b), fg_hist_max_ns(a));
                /* plain compares in the loop: each passing ck_assert costs a
                 * write to Check's pipe */
                for (size_t i = 0; i < FG_HIST_BUCKETS; i++) {
                        uint64_t x = atomic_load_explicit(&b->bucket[i], memory_order_relaxed);
                        if (x < atomic_load_explicit(&a->bucket[i], memory_order_relaxed))
                                ck_abort_msg("%s bucket %zu went back", fg_hist_name((fg_hist_id_t)h), i);
                        sum += x;
                }
                /* a merged copy is self-consistent even mid-write */
                ck_assert_uint_eq(sum, fg_hist_count(b));
        }
}

START_TEST(test_metrics_snapshot_monotonic_while_recording) {
        fg_metrics_t *m = fg_metrics_new();
        fg_metrics_snap_t *prev = snap_new(), *cur = snap_new(), *tmp;
        pthread_t th[MONO_WRITERS + 1];
        struct mono_arg args[MONO_WRITERS + 1];
        _Atomic int stop = 0;
        int grew = 0;
        int64_t t_end;

        for (int t = 0; t <= MONO_WRITERS; t++) {
                args[t] = (struct mono_arg){.m = m, .stop = &stop, .churn = t == MONO_WRITERS};
                ck_assert_int_eq(pthread_create(&th[t], NULL, mono_thread, &args[t]), 0);
        }
        fg_metrics_snapshot(m, prev);
        t_end = fg_mono_ns() + 300 * 1000000LL;
        for (int round = 0; round < 300 || fg_mono_ns() < t_end; round++) {
                fg_metrics_snapshot(m, cur);
                assert_not_before(prev, cur);
                grew += cur->ctr[FG_CTR_CONSUMED] > prev->ctr[FG_CTR_CONSUMED];
                tmp = prev;
                prev = cur;
                cur = tmp;
        }
        atomic_store(&stop, 1);
        for (int t = 0; t <= MONO_WRITERS; t++)
                pthread_join(th[t], NULL);
        fg_metrics_snapshot(m, cur);
        assert_not_before(prev, cur);
        ck_assert_int_gt(grew, 0);
        /* after join everything is counted once: per message, the same count everywhere */
        ck_assert_uint_eq(cur->ctr[FG_CTR_CONSUMED_BYTES], 100 * cur->ctr[FG_CTR_CONSUMED]);
        ck_assert_uint_eq(cur->ctr[FG_CTR_OK], cur->ctr[FG_CTR_CONSUMED]);
        ck_assert_uint_eq(cur->ctr[FG_CTR_SINK_CALLS], cur->ctr[FG_CTR_CONSUMED]);
        for (int h = 0; h < FG_HIST__CNT; h++)
                ck_assert_uint_eq(fg_hist_count(&cur->hist[h]), cur->ctr[FG_CTR_CONSUMED]);
        fg_metrics_destroy(m);
        free(prev);
        free(cur);
}
END_TEST

START_TEST(test_metrics_names) {
        static const char *const ctr[FG_CTR__CNT] = {
            "consumed", "consumed_bytes", "ok", "filtered", "failed", "dead_letter",
            "dropped", "retries", "sink_calls", "rebalances", "pauses", "resumes", "commits",
        };
        static const char *const hist[FG_HIST__CNT] = {"end_to_end", "queue_wait", "sink_call"};

        for (int c = 0; c < FG_CTR__CNT; c++)
                ck_assert_str_eq(fg_ctr_name((fg_ctr_t)c), ctr[c]);
        for (int h = 0; h < FG_HIST__CNT; h++)
                ck_assert_str_eq(fg_hist_name((fg_hist_id_t)h), hist[h]);
        ck_assert_str_eq(fg_ctr_name(FG_CTR__CNT), "?");
        ck_assert_str_eq(fg_hist_name(FG_HIST__CNT), "?");
}
END_TEST

/* Ticks @p r at @p at_ns with counter c set to @p v (others: 2v). */
static void tick_at(fg_rates_t *r, fg_metrics_snap_t *snap, int64_t at_ns, uint64_t v) {
        for (int c = 0; c < FG_CTR__CNT; c++)
                snap->ctr[c] = 2 * v;
        snap->ctr[FG_CTR_CONSUMED] = v;
        fg_rates_tick(r, snap, at_ns);
}

START_TEST(test_metrics_rates_exact_windows) {
        fg_rates_t r = {0};
        fg_metrics_snap_t *snap = snap_new();
        uint64_t v = 0;
        int64_t t0 = 123 * NS_S; /* monotonic clocks do not start at 0 */

        /* 10/s for the first minute, then 1000/s for ten seconds: 71 ticks,
         * more than the 61 slots, so the ring has wrapped */
        for (int s = 0; s <= 70; s++) {
                if (s > 0)
                        v += s <= 60 ? 10 : 1000;
                tick_at(&r, snap, t0 + s * NS_S, v);
        }
        ck_assert_uint_eq(r.n, FG_RATES_SLOTS);
        ck_assert(fg_rates_per_sec(&r, FG_CTR_CONSUMED, 1) == 1000.0);
        ck_assert(fg_rates_per_sec(&r, FG_CTR_CONSUMED, 10) == 1000.0);
        /* t=10 .. t=70: 50 s at 10/s + 10 s at 1000/s */
        ck_assert(fg_rates_per_sec(&r, FG_CTR_CONSUMED, 60) == (500.0 + 10000.0) / 60.0);
        ck_assert(fg_rates_per_sec(&r, FG_CTR_OK, 1) == 2000.0);
        /* longer than the history: the oldest sample, 60 s back */
        ck_assert(fg_rates_per_sec(&r, FG_CTR_CONSUMED, 3600) == (500.0 + 10000.0) / 60.0);

        /* a steady counter */
        memset(&r, 0, sizeof(r));
        for (int s = 0; s < 200; s++)
                tick_at(&r, snap, t0 + s * NS_S, 250ULL * (uint64_t)s);
        ck_assert(fg_rates_per_sec(&r, FG_CTR_CONSUMED, 1) == 250.0);
        ck_assert(fg_rates_per_sec(&r, FG_CTR_CONSUMED, 10) == 250.0);
        ck_assert(fg_rates_per_sec(&r, FG_CTR_CONSUMED, 60) == 250.0);
        free(snap);
}
END_TEST

START_TEST(test_metrics_rates_short_history) {
        fg_rates_t r = {0};
        fg_metrics_snap_t *snap = snap_new();

        ck_assert(fg_rates_per_sec(&r, FG_CTR_CONSUMED, 1) == 0.0);
        tick_at(&r, snap, 5 * NS_S, 1000);
        ck_assert(fg_rates_per_sec(&r, FG_CTR_CONSUMED, 1) == 0.0); /* one sample */
        for (int s = 1; s <= 4; s++)
                tick_at(&r, snap, (5 + s) * NS_S, 1000 + 50ULL * (uint64_t)s);
        /* 5 samples over 4 s */
        ck_assert(fg_rates_per_sec(&r, FG_CTR_CONSUMED, 1) == 50.0);
        ck_assert(fg_rates_per_sec(&r, FG_CTR_CONSUMED, 10) == 50.0);
        ck_assert(fg_rates_per_sec(&r, FG_CTR_CONSUMED, 60) == 50.0);
        ck_assert(fg_rates_per_sec(&r, FG_CTR__CNT, 60) == 0.0);
        free(snap);
}
END_TEST

/* Late and missed ticks: the rate follows the real time between samples. */
START_TEST(test_metrics_rates_irregular_ticks) {
        static const int64_t at_ms[] = {0, 1000, 2500, 3000, 4200, 5000, 6000, 7000,
                                        8000, 9000, 10000, 13000}; /* 11 and 12 missed */
        fg_rates_t r = {0};
        fg_metrics_snap_t *snap = snap_new();
        size_t n = sizeof(at_ms) / sizeof(at_ms[0]);

        for (size_t i = 0; i < n; i++) /* 200/s of real time */
                tick_at(&r, snap, 1000 * NS_S + at_ms[i] * 1000000, (uint64_t)at_ms[i] / 5);
        ck_assert(fg_rates_per_sec(&r, FG_CTR_CONSUMED, 1) == 200.0);
        ck_assert(fg_rates_per_sec(&r, FG_CTR_CONSUMED, 10) == 200.0);
        ck_assert(fg_rates_per_sec(&r, FG_CTR_CONSUMED, 60) == 200.0);

        /* a counter that stood still, then jumped: the last second holds all of it */
        memset(&r, 0, sizeof(r));
        tick_at(&r, snap, 0, 0);
        tick_at(&r, snap, 1500000000, 0); /* 1.5 s: late tick */
        tick_at(&r, snap, 2500000000, 300);
        ck_assert(fg_rates_per_sec(&r, FG_CTR_CONSUMED, 1) == 300.0);
        ck_assert(fg_rates_per_sec(&r, FG_CTR_CONSUMED, 10) == 120.0);
        free(snap);
}
END_TEST

START_TEST(test_metrics_prom_escaping) {
        fg_buf_t b = FG_BUF_INIT, l = FG_BUF_INIT;

        fg_prom_label(&l, "topic", "a\"b\\c\nd");
        ck_assert_str_eq(fg_buf_cstr(&l), "topic=\"a\\\"b\\\\c\\nd\"");
        fg_prom_label(&l, "outcome", "ok");
        ck_assert_str_eq(fg_buf_cstr(&l), "topic=\"a\\\"b\\\\c\\nd\",outcome=\"ok\"");
        fg_buf_reset(&l);
        fg_prom_label(&l, "empty", "");
        ck_assert_str_eq(fg_buf_cstr(&l), "empty=\"\"");

        /* HELP escapes backslash and newline only; quotes stay */
        fg_prom_header(&b, "floodgate_x_total", "counter", "say \"hi\"\\now\nthen");
        ck_assert_str_eq(fg_buf_cstr(&b), "# HELP floodgate_x_total say \"hi\"\\\\now\\nthen\n"
                                          "# TYPE floodgate_x_total counter\n");
        fg_buf_reset(&b);
        fg_prom_sample(&b, "floodgate_processed_total", "outcome=\"ok\"", 12);
        fg_prom_sample(&b, "floodgate_up", NULL, 1);
        fg_prom_sample(&b, "floodgate_up", "", 1);
        ck_assert_str_eq(fg_buf_cstr(&b), "floodgate_processed_total{outcome=\"ok\"} 12\n"
                                          "floodgate_up 1\nfloodgate_up 1\n");
        fg_buf_free(&b);
        fg_buf_free(&l);
}
END_TEST

static const char *sample_value(fg_buf_t *b, double v) {
        fg_buf_reset(b);
        fg_prom_sample(b, "m", NULL, v);
        return fg_buf_cstr(b) + 2; /* past "m " */
}

START_TEST(test_metrics_prom_sample_format) {
        fg_buf_t b = FG_BUF_INIT;
        static const double odd[] = {0.1, 1.0 / 3, 2.5e-6, 1e-300, 123456.789, 1e300,
                                     18446744073709551615.0, -7.25};

        ck_assert_str_eq(sample_value(&b, 0), "0\n");
        ck_assert_str_eq(sample_value(&b, -0.0), "0\n");
        ck_assert_str_eq(sample_value(&b, 1), "1\n");
        ck_assert_str_eq(sample_value(&b, -3), "-3\n");
        ck_assert_str_eq(sample_value(&b, 1e6), "1000000\n");
        ck_assert_str_eq(sample_value(&b, 123456789012345.0), "123456789012345\n");
        ck_assert_str_eq(sample_value(&b, 1e15), "1000000000000000\n");
        ck_assert_str_eq(sample_value(&b, 9007199254740992.0), "9007199254740992\n"); /* 2^53 */
        ck_assert_str_eq(sample_value(&b, 9007199254740991.0), "9007199254740991\n");
        ck_assert_str_eq(sample_value(&b, 0.5), "0.5\n");
        ck_assert_str_eq(sample_value(&b, 0.1), "0.1\n");
        ck_assert_str_eq(sample_value(&b, NAN), "NaN\n");
        ck_assert_str_eq(sample_value(&b, INFINITY), "+Inf\n");
        ck_assert_str_eq(sample_value(&b, -INFINITY), "-Inf\n");
        /* anything else reads back to the same double */
        for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
                const char *s = sample_value(&b, odd[i]);
                char *end;
                ck_assert_msg(strtod(s, &end) == odd[i] && *end == '\n', "%g printed as %s",
                              odd[i], s);
        }
        fg_buf_free(&b);
}
END_TEST

static Suite *metrics_suite(void) {
        Suite *s = suite_create("metrics");
        TCase *tc = tcase_create("core");

        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_metrics_threads_merge_exact_totals);
        tcase_add_test(tc, test_metrics_shard_reuse_keeps_totals);
        tcase_add_test(tc, test_metrics_snapshot_monotonic_while_recording);
        tcase_add_test(tc, test_metrics_names);
        tcase_add_test(tc, test_metrics_rates_exact_windows);
        tcase_add_test(tc, test_metrics_rates_short_history);
        tcase_add_test(tc, test_metrics_rates_irregular_ticks);
        tcase_add_test(tc, test_metrics_prom_escaping);
        tcase_add_test(tc, test_metrics_prom_sample_format);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(metrics_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
