/*
 * check_pool_resize: a real worker pool resized at run time, hard.
 *
 * A real fg_pool_t (null sink, real queue, handler, a DISABLED breaker,
 * metrics registry, no dead-letter topic) over an empty queue. The test
 * thread plays the daemon's main thread: it alternates fg_pool_reconfigure
 * between random sizes and modes (all within workers.max 16) and
 * fg_pool_tick with synthetic loads on a clock running ahead, so the
 * scaler grows and retires threads too; meanwhile a sampler thread reads
 * the number of live worker threads every few microseconds. Invariants:
 * never more than 16 threads alive at once; a final fixed size N ends with
 * exactly N threads once the retired ones are reaped; stop and destroy are
 * clean (ASan/LSan) — and run it under TSan:
 *   make BUILD=/tmp/dynt SAN=tsan test TESTS=check_pool_resize
 *
 * Threading: the test thread owns the pool (main-thread calls only); the
 * sampler only calls fg_pool_live_threads (pool->lock). Joined before the
 * assertions that use its figures.
 * Ownership: each test builds and tears down its own pool and parts.
 */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "breaker/breaker.h"
#include "common/clock.h"
#include "common/log.h"
#include "config/config.h"
#include "metrics/metrics.h"
#include "sinks/sink.h"
#include "handler/handler.h"
#include "workers/pool.h"
#include "pipeline/queue.h"

#define MAX_THREADS 16

static const char CONFIG[] = "kafka:\n"
                             "  brokers: localhost:9092\n"
                             "  topics: [events]\n"
                             "sink:\n"
                             "  type: null\n"
                             "workers:\n"
                             "  mode: dynamic\n"
                             "  min: 1\n"
                             "  max: 16\n"
                             "  idle_linger: 1s\n"
                             "  scale_interval: 1s\n";

/* Everything a pool borrows. */
typedef struct rig {
        fg_config_t *cfg;
        fg_queue_t *q;
        fg_sink_t *sink;
        fg_handler_t *handler;
        fg_brk_t *brk;
        fg_metrics_t *metrics;
        fg_pool_t *pool;
} rig_t;

static void rig_init(rig_t *r) {
        fg_config_errs_t errs = {0};
        fg_brk_cfg_t bc = {
            .enabled = false,
            .window = FG_BRK_WINDOW_COUNT,
            .window_size = 100,
            .min_calls = 10,
            .failure_rate_threshold = 0.5,
            .slow_call_rate_threshold = 1.0,
            .slow_call_ns = FG_NS_PER_S,
            .open_ns = FG_NS_PER_S,
            .open_backoff = 2,
            .open_max_ns = 10 * FG_NS_PER_S,
            .jitter = 0,
            .half_open_calls = 1,
            .half_open_max_wait_ns = FG_NS_PER_S,
        };
        char errstr[256] = "";

        memset(r, 0, sizeof(*r));
        r->cfg = fg_config_load_string("resize.yaml", CONFIG, strlen(CONFIG), &errs);
        ck_assert_msg(r->cfg != NULL, "config: %s", errs.n ? errs.msgs[0] : "?");
        fg_config_errs_clear(&errs);
        ck_assert_int_eq(r->cfg->workers.mode, FG_WORKERS_DYNAMIC);
        ck_assert_int_eq(r->cfg->workers.max, MAX_THREADS);
        r->q = fg_queue_new(&(fg_queue_cfg_t){1024, 1 << 20, 0.8, 0.5}, errstr, sizeof(errstr));
        ck_assert_msg(r->q != NULL, "queue: %s", errstr);
        r->sink = fg_sink_new(&r->cfg->sink, &(fg_sink_env_t){NULL}, errstr, sizeof(errstr));
        ck_assert_msg(r->sink != NULL, "sink: %s", errstr);
        r->handler = fg_handler_new(&r->cfg->handler, errstr, sizeof(errstr));
        ck_assert_msg(r->handler != NULL, "handler: %s", errstr);
        r->brk = fg_brk_new(&bc, 1, NULL, NULL, errstr, sizeof(errstr));
        ck_assert_msg(r->brk != NULL, "breaker: %s", errstr);
        r->metrics = fg_metrics_new();
        ck_assert_ptr_nonnull(r->metrics);
        r->pool = fg_pool_new(&r->cfg->workers, r->q, NULL, r->metrics, errstr, sizeof(errstr));
        ck_assert_msg(r->pool != NULL, "pool: %s", errstr);
        ck_assert_int_eq(fg_pool_swap(r->pool, r->handler, r->sink, r->brk, errstr, sizeof(errstr)),
                         0);
}

static void rig_free(rig_t *r) {
        fg_pool_destroy(r->pool); /* with the sink, handler and breaker it owns */
        fg_metrics_destroy(r->metrics);
        fg_queue_destroy(r->q);
        fg_config_destroy(r->cfg);
}

/* ---- the sampler ---- */

typedef struct sampler {
        fg_pool_t *pool;
        atomic_bool stop;
        atomic_uint peak;
        atomic_ulong samples, over;
} sampler_t;

static void *sampler_main(void *arg) {
        sampler_t *s = arg;

        while (!atomic_load(&s->stop)) {
                unsigned n = fg_pool_live_threads(s->pool);
                struct timespec ts = {0, 2000};
                if (n > atomic_load(&s->peak))
                        atomic_store(&s->peak, n);
                if (n > MAX_THREADS)
                        atomic_fetch_add(&s->over, 1);
                atomic_fetch_add(&s->samples, 1);
                nanosleep(&ts, NULL);
        }
        return NULL;
}

/* ---- helpers ---- */

static uint64_t rng_next(uint64_t *x) {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        return *x;
}

static unsigned rnd(uint64_t *x, unsigned lo, unsigned hi) {
        return lo + (unsigned)(rng_next(x) % (hi - lo + 1));
}

/* Ticks (with @p load) until the pool runs exactly @p n threads and as
 * many are alive, or @p timeout_ms passes; false on timeout. With @p ahead,
 * each tick's clock runs a further 200 ms ahead of the real one, so scale
 * intervals pass and idle threads count as idle past the linger. */
static bool settle(fg_pool_t *pool, const fg_pool_load_t *load, unsigned n, bool ahead,
                   int timeout_ms) {
        int64_t until = fg_mono_ns() + (int64_t)timeout_ms * FG_NS_PER_MS, skew = 0;

        for (;;) {
                fg_pool_stats_t st;
                if (ahead)
                        skew += 200 * FG_NS_PER_MS;
                fg_pool_tick(pool, load, fg_mono_ns() + skew);
                fg_pool_get_stats(pool, &st);
                if (st.running == n && fg_pool_live_threads(pool) == n)
                        return true;
                if (fg_mono_ns() >= until) {
                        fprintf(stderr, "settle: want %u, running %u, alive %u, target %u\n", n,
                                st.running, fg_pool_live_threads(pool), st.target);
                        return false;
                }
                {
                        struct timespec ts = {0, 1000 * 1000};
                        nanosleep(&ts, NULL);
                }
        }
}

/* ---- tests ---- */

START_TEST(test_pool_resize_never_exceeds_max) {
        const int rounds = 400;
        const unsigned final_n = 7;
        rig_t r;
        sampler_t smp = {0};
        pthread_t st_thread;
        char errstr[256] = "";
        uint64_t x = 0x2545F4914F6CDD1DULL;
        int64_t vclock = 0;
        unsigned fixed_rounds = 0, dynamic_rounds = 0, main_peak = 0;
        fg_pool_stats_t st;

        rig_init(&r);
        ck_assert_int_eq(fg_pool_start(r.pool, errstr, sizeof(errstr)), 0);
        fg_pool_get_stats(r.pool, &st);
        ck_assert_str_eq(st.mode, "dynamic");
        ck_assert_uint_eq(st.running, 1); /* workers.min */
        smp.pool = r.pool;
        ck_assert_int_eq(pthread_create(&st_thread, NULL, sampler_main, &smp), 0);

        for (int i = 0; i < rounds; i++) {
                fg_pool_load_t load = {
                    .arrival_per_s = (double)rnd(&x, 0, 20000),
                    .call_latency_s = (double)rnd(&x, 1, 50) / 1000.0,
                    .events_per_call = (double)rnd(&x, 1, 20),
                    .queue_wait_p90_ns = (int64_t)rnd(&x, 0, 100) * FG_NS_PER_MS,
                };
                unsigned live;

                switch (rnd(&x, 0, 3)) {
                case 0: /* fixed, any size */
                        r.cfg->workers.mode = FG_WORKERS_FIXED;
                        r.cfg->workers.size = rnd(&x, 1, MAX_THREADS);
                        fg_pool_reconfigure(r.pool, &r.cfg->workers);
                        fixed_rounds++;
                        break;
                case 1: /* dynamic, any bounds within 16 */
                        r.cfg->workers.mode = FG_WORKERS_DYNAMIC;
                        r.cfg->workers.min = rnd(&x, 1, MAX_THREADS);
                        r.cfg->workers.max = rnd(&x, (unsigned)r.cfg->workers.min, MAX_THREADS);
                        fg_pool_reconfigure(r.pool, &r.cfg->workers);
                        dynamic_rounds++;
                        break;
                default: /* no change: just ticks */
                        break;
                }
                /* A few ticks on a clock running ahead of the threads' own
                 * (idle_since), so scale intervals pass and idle threads
                 * count as idle past the linger: the scaler both grows and
                 * retires. */
                for (int t = 0; t < 3; t++) {
                        vclock += 400 * FG_NS_PER_MS;
                        fg_pool_tick(r.pool, &load, fg_mono_ns() + vclock);
                        live = fg_pool_live_threads(r.pool);
                        if (live > main_peak)
                                main_peak = live;
                }
                if (i % 8 == 0)
                        sched_yield();
        }

        /* The end: fixed final_n, ticked (reaping) until stable. */
        r.cfg->workers.mode = FG_WORKERS_FIXED;
        r.cfg->workers.size = final_n;
        fg_pool_reconfigure(r.pool, &r.cfg->workers);
        ck_assert_msg(settle(r.pool, &(fg_pool_load_t){0}, final_n, false, 10000),
                      "not %u threads after 10 s: %u alive", final_n,
                      fg_pool_live_threads(r.pool));

        atomic_store(&smp.stop, true);
        ck_assert_int_eq(pthread_join(st_thread, NULL), 0);
        fg_pool_get_stats(r.pool, &st);
        fprintf(stderr,
                "pool resize: %d rounds (%u fixed, %u dynamic), %lu samples, peak %u live "
                "threads (main thread saw %u), %lu samples over %d; %llu scale-ups, "
                "%llu scale-downs; end: %u running\n",
                rounds, fixed_rounds, dynamic_rounds, (unsigned long)atomic_load(&smp.samples),
                atomic_load(&smp.peak), main_peak, (unsigned long)atomic_load(&smp.over),
                MAX_THREADS, (unsigned long long)st.scale_ups,
                (unsigned long long)st.scale_downs, st.running);
        ck_assert_str_eq(st.mode, "fixed");
        ck_assert_uint_eq(st.running, final_n);
        ck_assert_uint_eq(st.target, final_n);
        ck_assert_uint_eq(fg_pool_live_threads(r.pool), final_n);
        ck_assert_uint_gt(atomic_load(&smp.samples), 0);
        ck_assert_uint_gt(fixed_rounds, 0);
        ck_assert_uint_gt(dynamic_rounds, 0);
        ck_assert_msg(atomic_load(&smp.peak) <= MAX_THREADS && main_peak <= MAX_THREADS,
                      "%u live worker threads at once (main thread saw %u); workers.max and "
                      "every size were <= %d",
                      atomic_load(&smp.peak), main_peak, MAX_THREADS);

        ck_assert(fg_pool_stop(r.pool, 10 * FG_NS_PER_S));
        ck_assert_uint_eq(fg_pool_live_threads(r.pool), 0);
        rig_free(&r);
}
END_TEST

/* The plain cycle, deterministic: fixed 16 -> 2 -> 16 and dynamic bounds
 * moving under the running pool; the counts after each reap are exact. */
START_TEST(test_pool_resize_exact_counts) {
        rig_t r;
        char errstr[256] = "";
        fg_pool_load_t none = {0}, heavy = {.arrival_per_s = 100000, .call_latency_s = 0.05,
                                            .events_per_call = 1};
        fg_pool_stats_t st;
        int64_t now;

        rig_init(&r);
        ck_assert_int_eq(fg_pool_start(r.pool, errstr, sizeof(errstr)), 0);
        ck_assert(settle(r.pool, &none, 1, false, 5000));

        /* Dynamic under a heavy load: capped by the concurrency limit's
         * initial value (4) + 2 slack = 6, not by max 16. */
        now = fg_mono_ns() + FG_NS_PER_S;
        fg_pool_tick(r.pool, &heavy, now);
        fg_pool_get_stats(r.pool, &st);
        ck_assert_uint_eq(st.limit, 4);
        ck_assert_uint_eq(st.target, 6);
        ck_assert_uint_eq(st.running, 6);
        ck_assert_uint_eq(st.scale_ups, 1);
        /* Too soon for the next interval: nothing moves. */
        fg_pool_tick(r.pool, &none, now + 50 * FG_NS_PER_MS);
        fg_pool_get_stats(r.pool, &st);
        ck_assert_uint_eq(st.target, 6);
        /* Idle: three quiet intervals, then every thread idle past the
         * linger (1 s) goes back, down to min. */
        for (int i = 1; i <= 3; i++)
                fg_pool_tick(r.pool, &none, now + i * 2 * FG_NS_PER_S);
        fg_pool_get_stats(r.pool, &st);
        ck_assert_uint_eq(st.scale_downs, 1);
        /* Threads that had not started running by then looked busy; later
         * intervals retire them too. */
        ck_assert(settle(r.pool, &none, 1, true, 5000));

        r.cfg->workers.mode = FG_WORKERS_FIXED;
        r.cfg->workers.size = 16;
        fg_pool_reconfigure(r.pool, &r.cfg->workers);
        fg_pool_get_stats(r.pool, &st);
        ck_assert_str_eq(st.mode, "fixed");
        ck_assert_uint_eq(st.running, 16);
        ck_assert_uint_eq(st.limit, 0);
        ck_assert(settle(r.pool, &none, 16, false, 5000));
        r.cfg->workers.size = 2;
        fg_pool_reconfigure(r.pool, &r.cfg->workers);
        ck_assert(settle(r.pool, &none, 2, false, 5000));
        r.cfg->workers.size = 16;
        fg_pool_reconfigure(r.pool, &r.cfg->workers);
        ck_assert(settle(r.pool, &none, 16, false, 5000));

        /* Back to dynamic with bounds that exclude 16: brought within at
         * once. */
        r.cfg->workers.mode = FG_WORKERS_DYNAMIC;
        r.cfg->workers.min = 3;
        r.cfg->workers.max = 5;
        fg_pool_reconfigure(r.pool, &r.cfg->workers);
        fg_pool_get_stats(r.pool, &st);
        ck_assert_uint_eq(st.min, 3);
        ck_assert_uint_eq(st.max, 5);
        ck_assert_uint_le(st.limit, 5); /* the limit's ceiling follows max */
        ck_assert(settle(r.pool, &none, 5, false, 5000));
        r.cfg->workers.min = 8;
        r.cfg->workers.max = 12;
        fg_pool_reconfigure(r.pool, &r.cfg->workers);
        ck_assert(settle(r.pool, &none, 8, false, 5000));

        ck_assert(fg_pool_stop(r.pool, 10 * FG_NS_PER_S));
        rig_free(&r);
}
END_TEST

/* The daemon ticks once a second, each tick a little early or late
 * (libevent keeps the schedule; the callback's clock reading varies).
 * With scale_interval 1 s, a tick 1 ms "early" relative to the previous
 * one must still be a scale interval, or the pool reconsiders its size
 * only every 2 s. */
START_TEST(test_pool_resize_tick_jitter_keeps_interval) {
        rig_t r;
        char errstr[256] = "";
        fg_pool_load_t none = {0}, heavy = {.arrival_per_s = 100000, .call_latency_s = 0.05,
                                            .events_per_call = 1};
        fg_pool_stats_t st;
        int64_t t0;

        rig_init(&r);
        r.cfg->workers.scale_interval_ns = FG_NS_PER_S;
        fg_pool_reconfigure(r.pool, &r.cfg->workers);
        ck_assert_int_eq(fg_pool_start(r.pool, errstr, sizeof(errstr)), 0);
        t0 = fg_mono_ns() + 10 * FG_NS_PER_S;
        fg_pool_tick(r.pool, &heavy, t0 + 3 * FG_NS_PER_MS); /* dispatched 3 ms late */
        fg_pool_get_stats(r.pool, &st);
        ck_assert_uint_eq(st.target, 6);
        fg_pool_tick(r.pool, &none, t0 + FG_NS_PER_S + 1 * FG_NS_PER_MS); /* 1 ms late */
        fg_pool_get_stats(r.pool, &st);
        ck_assert_msg(st.target == 1, "the tick 998 ms after the last was not a scale interval "
                                      "(target still %u)", st.target);
        /* But a tick well inside the interval is not. */
        fg_pool_tick(r.pool, &heavy, t0 + FG_NS_PER_S + 500 * FG_NS_PER_MS);
        fg_pool_get_stats(r.pool, &st);
        ck_assert_uint_eq(st.target, 1);
        ck_assert(fg_pool_stop(r.pool, 10 * FG_NS_PER_S));
        rig_free(&r);
}
END_TEST

/* Two reloads in quick succession, fixed 16 -> 2 -> 16: the 14 threads
 * retired by the first are still finishing when the second asks for 14
 * more. workers.size never exceeded 16, so neither may the threads alive. */
START_TEST(test_pool_resize_shrink_then_grow_within_size) {
        rig_t r;
        char errstr[256] = "";
        fg_pool_load_t none = {0};
        unsigned peak = 0;

        rig_init(&r);
        r.cfg->workers.mode = FG_WORKERS_FIXED;
        r.cfg->workers.size = 16;
        fg_pool_reconfigure(r.pool, &r.cfg->workers);
        ck_assert_int_eq(fg_pool_start(r.pool, errstr, sizeof(errstr)), 0);
        ck_assert(settle(r.pool, &none, 16, false, 5000));
        for (int i = 0; i < 50; i++) {
                unsigned live;
                r.cfg->workers.size = 2;
                fg_pool_reconfigure(r.pool, &r.cfg->workers);
                r.cfg->workers.size = 16;
                fg_pool_reconfigure(r.pool, &r.cfg->workers);
                live = fg_pool_live_threads(r.pool);
                if (live > peak)
                        peak = live;
                ck_assert(settle(r.pool, &none, 16, false, 5000));
        }
        fprintf(stderr, "pool resize: 16 -> 2 -> 16 back to back: up to %u threads alive\n", peak);
        ck_assert_msg(peak <= 16, "%u worker threads alive with workers.size 16", peak);
        ck_assert(fg_pool_stop(r.pool, 10 * FG_NS_PER_S));
        rig_free(&r);
}
END_TEST

static Suite *pool_resize_suite(void) {
        Suite *s = suite_create("pool_resize");
        TCase *tc = tcase_create("resize");

        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_pool_resize_exact_counts);
        tcase_add_test(tc, test_pool_resize_tick_jitter_keeps_interval);
        tcase_add_test(tc, test_pool_resize_shrink_then_grow_within_size);
        tcase_add_test(tc, test_pool_resize_never_exceeds_max);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(pool_resize_suite());
        int failed;

        fg_log_set_level(FG_LOG_WARN); /* every resize logs at info */
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
