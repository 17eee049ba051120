/*
 * check_scaler: the dynamic pool's two policies, as pure logic.
 *
 * arc (the adaptive sink concurrency limit): the initial limit; additive
 * increase only in windows where the limit was reached, never without
 * demand; multiplicative decrease on push-back (x0.9, at least one, never
 * below 1, once per window); an RTT step from 5 ms to 50 ms lowers the limit
 * within a few windows and then it settles; a sink that pushes back above 8
 * calls in flight keeps the limit oscillating near 8; fg_arc_set_max;
 * acquire timing out and waking on a release; cancel; stats; bad confs; and
 * 16 threads racing for slots (run this one under TSan too).
 *
 * scaler (how many threads): Little's law, growth under pressure, the caps
 * (concurrency limit + slack, workers.max), the floor, immediate growth,
 * shrinking only after FG_SCALER_SHRINK_AFTER quiet intervals and only
 * long-idle threads (all of them at once: scaler.h), the hysteresis reset,
 * and the way back to workers.min once the load is gone.
 *
 * DESIGN: every decision takes an injected `now`; the RTT simulations are
 * discrete-event loops (a fixed number of callers, each calling again as
 * soon as its call returns, time jumping from one completion to the next),
 * so nothing sleeps and the results are exact. Only the "threads" case runs
 * real threads (bounded waits, joined before asserting).
 * Threading: the test thread, except in test_arc_threads_never_exceed_max.
 * Ownership: each test destroys the arc it creates.
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "workers/arc.h"
#include "workers/scaler.h"

#define S(x)  ((int64_t)(x) * FG_NS_PER_S)
#define MS(x) ((int64_t)(x) * FG_NS_PER_MS)
#define US(x) ((int64_t)(x) * 1000)

/* ---- arc helpers ---- */

/* The pool's tuning (pool.c): alpha 0.2, 2.5 deviations, x0.9, 50 ms windows. */
static fg_arc_cfg_t arc_conf(unsigned initial, unsigned max) {
        return (fg_arc_cfg_t){
            .initial_limit = initial,
            .max_limit = max,
            .ewma_alpha = 0.2,
            .deviation_scale = 2.5,
            .decrease_ratio = 0.9,
            .min_window_ns = MS(50),
        };
}

static fg_arc_t *arc_new(unsigned initial, unsigned max) {
        fg_arc_cfg_t c = arc_conf(initial, max);
        fg_arc_t *arc = fg_arc_new(&c);

        ck_assert_ptr_nonnull(arc);
        return arc;
}

static unsigned arc_limit(fg_arc_t *arc) {
        fg_arc_stats_t st;
        fg_arc_get_stats(arc, &st);
        return st.limit;
}

/* Takes a slot without waiting (a timeout of 0 is a try). */
static bool try_acquire(fg_arc_t *arc) { return fg_arc_acquire(arc, 0); }

/*
 * The discrete-event simulation: `callers` callers, each calling again as
 * soon as its previous call returned (or, refused a slot, at the next
 * event). A call takes `rtt`; with `bp_above` > 0, a call that starts while
 * more than bp_above calls are in flight (itself included) is pushed back
 * after 1 ms instead — a sink with a concurrency limit of bp_above — and
 * its caller backs off for 10 ms, as a worker would.
 */
#define SIM_MAX_CALLERS 64
#define SIM_BACKOFF     MS(10)

typedef struct sim {
        fg_arc_t *arc;
        int64_t now;
        int callers;
        int inflight;                   /* as the sink sees it */
        int peak_inflight;
        int64_t end[SIM_MAX_CALLERS];   /* in a call until then; 0 = not */
        int64_t ready[SIM_MAX_CALLERS]; /* not in a call: may call from then */
        int64_t rtt[SIM_MAX_CALLERS];
        fg_arc_signal_t sig[SIM_MAX_CALLERS];
        /* The limit sampled every sample_ns of simulated time. */
        int64_t sample_ns, next_sample;
        unsigned *samples;
        size_t nsamples, cap;
        unsigned limit_max_seen;
        uint64_t calls, pushed_back;
} sim_t;

static void sim_init(sim_t *s, fg_arc_t *arc, int callers, int64_t sample_ns) {
        ck_assert_int_le(callers, SIM_MAX_CALLERS);
        *s = (sim_t){.arc = arc, .now = S(1000), .callers = callers, .sample_ns = sample_ns};
        s->next_sample = s->now + sample_ns;
}

static void sim_sample(sim_t *s) {
        while (s->now >= s->next_sample) {
                unsigned l = arc_limit(s->arc);
                if (s->nsamples == s->cap) {
                        s->cap = s->cap ? 2 * s->cap : 1024;
                        s->samples = realloc(s->samples, s->cap * sizeof(*s->samples));
                        ck_assert_ptr_nonnull(s->samples);
                }
                s->samples[s->nsamples++] = l;
                s->next_sample += s->sample_ns;
        }
}

/* Runs @p duration of simulated time at round-trip @p rtt. */
static void sim_run(sim_t *s, int64_t duration, int64_t rtt, int bp_above) {
        int64_t until = s->now + duration;

        for (;;) {
                int64_t next = INT64_MAX;
                unsigned l;

                for (int c = 0; c < s->callers; c++) {
                        if (s->end[c] || s->ready[c] > s->now)
                                continue;
                        if (!try_acquire(s->arc))
                                break; /* full: the rest would be refused too */
                        s->inflight++;
                        s->calls++;
                        if (s->inflight > s->peak_inflight)
                                s->peak_inflight = s->inflight;
                        if (bp_above > 0 && s->inflight > bp_above) {
                                s->end[c] = s->now + MS(1);
                                s->rtt[c] = MS(1);
                                s->sig[c] = FG_ARC_BACKPRESSURE;
                                s->pushed_back++;
                        } else {
                                s->end[c] = s->now + rtt;
                                s->rtt[c] = rtt;
                                s->sig[c] = FG_ARC_OK;
                        }
                }
                /* The next event: a call ending, or a backed-off caller
                 * ready (only when a slot is free for it). */
                for (int c = 0; c < s->callers; c++) {
                        if (s->end[c] && s->end[c] < next)
                                next = s->end[c];
                        else if (!s->end[c] && s->ready[c] > s->now && s->ready[c] < next)
                                next = s->ready[c];
                }
                ck_assert(next != INT64_MAX);
                if (next > until) {
                        s->now = until;
                        sim_sample(s);
                        return;
                }
                s->now = next;
                for (int c = 0; c < s->callers; c++) {
                        if (s->end[c] != s->now)
                                continue;
                        s->end[c] = 0;
                        s->inflight--;
                        if (s->sig[c] == FG_ARC_BACKPRESSURE)
                                s->ready[c] = s->now + SIM_BACKOFF;
                        fg_arc_release(s->arc, s->rtt[c], s->sig[c], s->now);
                }
                l = arc_limit(s->arc);
                if (l > s->limit_max_seen)
                        s->limit_max_seen = l;
                sim_sample(s);
        }
}

static void sim_free(sim_t *s) { free(s->samples); }

static void samples_range(const sim_t *s, size_t from, size_t to, unsigned *lo, unsigned *hi,
                          double *mean) {
        double sum = 0;

        ck_assert_uint_lt(from, to);
        ck_assert_uint_le(to, s->nsamples);
        *lo = UINT32_MAX, *hi = 0;
        for (size_t i = from; i < to; i++) {
                if (s->samples[i] < *lo)
                        *lo = s->samples[i];
                if (s->samples[i] > *hi)
                        *hi = s->samples[i];
                sum += s->samples[i];
        }
        *mean = sum / (double)(to - from);
}

/* ---- arc: basics ---- */

START_TEST(test_arc_starts_at_initial_limit) {
        fg_arc_t *arc = arc_new(5, 20);
        fg_arc_stats_t st;

        fg_arc_get_stats(arc, &st);
        ck_assert_uint_eq(st.limit, 5);
        ck_assert_uint_eq(st.inflight, 0);
        ck_assert(st.rtt_mean_ms == 0 && st.rtt_dev_ms == 0);
        ck_assert_uint_eq(st.increases, 0);
        ck_assert_uint_eq(st.decreases, 0);
        for (int i = 0; i < 5; i++)
                ck_assert(try_acquire(arc));
        ck_assert(!try_acquire(arc)); /* exactly initial_limit slots */
        fg_arc_get_stats(arc, &st);
        ck_assert_uint_eq(st.inflight, 5);
        fg_arc_destroy(arc);
        fg_arc_destroy(NULL);
}
END_TEST

/* One caller calling back to back never fills a limit of 2: however long
 * it goes on, the limit does not grow. */
START_TEST(test_arc_no_growth_without_demand) {
        fg_arc_t *arc = arc_new(2, 50);
        int64_t now = S(100);
        fg_arc_stats_t st;

        for (int i = 0; i < 2000; i++) { /* 20 s: 400 windows of 50 ms */
                ck_assert(try_acquire(arc));
                now += MS(10);
                fg_arc_release(arc, MS(10), FG_ARC_OK, now);
        }
        fg_arc_get_stats(arc, &st);
        ck_assert_uint_eq(st.limit, 2);
        ck_assert_uint_eq(st.increases, 0);
        ck_assert_uint_eq(st.decreases, 0);
        ck_assert_double_eq_tol(st.rtt_mean_ms, 10, 0.01);
        fg_arc_destroy(arc);
}
END_TEST

/* Filling the last slot marks the window: +1 when it closes, however many
 * times the limit was hit within it — one step per window. */
START_TEST(test_arc_grows_one_per_window_when_reached) {
        fg_arc_t *arc = arc_new(2, 6);
        int64_t now = S(100);
        fg_arc_stats_t st;

        for (unsigned w = 0; w < 8; w++) {
                unsigned l = arc_limit(arc);
                /* Five rounds of filling every slot within one 50 ms window. */
                for (int round = 0; round < 5; round++) {
                        for (unsigned k = 0; k < l; k++)
                                ck_assert(try_acquire(arc));
                        ck_assert(!try_acquire(arc));
                        now += MS(10);
                        for (unsigned k = 0; k < l; k++)
                                fg_arc_release(arc, MS(10), FG_ARC_OK, now);
                        if (round < 4) /* not before the window ends */
                                ck_assert_uint_eq(arc_limit(arc), l);
                }
                /* The window began 10 ms before its first release; the
                 * first release of round 5 is 50 ms on and closes it. */
                ck_assert_uint_eq(arc_limit(arc), l < 6 ? l + 1 : 6);
        }
        fg_arc_get_stats(arc, &st);
        ck_assert_uint_eq(st.limit, 6); /* capped at max_limit */
        ck_assert_uint_eq(st.increases, 4);
        ck_assert_uint_eq(st.decreases, 0);
        fg_arc_destroy(arc);
}
END_TEST

/* Push-back: x0.9 rounded down per window (so at least one), never below
 * 1, and one decrease per window however many calls were pushed back (the
 * first release of a batch closes the window, the other four land in the
 * next one). */
START_TEST(test_arc_backpressure_decreases) {
        static const unsigned want[] = {90, 81, 72, 64, 57, 51, 45, 40, 36, 32, 28, 25,
                                        22, 19, 17, 15, 13, 11, 9,  8,  7,  6,  5,  4,
                                        3,  2,  1,  1,  1};
        fg_arc_t *arc = arc_new(100, 100);
        int64_t now = S(100);
        fg_arc_stats_t st;

        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
                /* Up to five calls, all pushed back, per 60 ms window. */
                unsigned n = arc_limit(arc) < 5 ? arc_limit(arc) : 5;
                for (unsigned k = 0; k < n; k++)
                        ck_assert(try_acquire(arc));
                now += MS(60);
                for (unsigned k = 0; k < n; k++)
                        fg_arc_release(arc, MS(60), FG_ARC_BACKPRESSURE, now);
                ck_assert_msg(arc_limit(arc) == want[i], "window %zu: limit %u, want %u", i,
                              arc_limit(arc), want[i]);
        }
        fg_arc_get_stats(arc, &st);
        ck_assert_uint_eq(st.decreases, 27); /* 100 -> 1; none at 1 */
        ck_assert_uint_eq(st.increases, 0);
        ck_assert_uint_eq(st.inflight, 0);
        /* Push-back is no latency sample: the mean never started. */
        ck_assert(st.rtt_mean_ms == 0);

        /* A push-back beats a reached limit: down, not up. */
        fg_arc_destroy(arc);
        arc = arc_new(10, 20);
        for (int k = 0; k < 10; k++)
                ck_assert(try_acquire(arc));
        ck_assert(!try_acquire(arc));
        now += MS(60);
        fg_arc_release(arc, MS(60), FG_ARC_BACKPRESSURE, now);
        for (int k = 0; k < 9; k++)
                fg_arc_release(arc, MS(60), FG_ARC_OK, now);
        ck_assert_uint_eq(arc_limit(arc), 9);
        fg_arc_destroy(arc);
}
END_TEST

/* ERROR outcomes carry no latency and do not close a window alone. */
START_TEST(test_arc_errors_are_no_samples) {
        fg_arc_t *arc = arc_new(4, 10);
        int64_t now = S(100);
        fg_arc_stats_t st;

        for (int i = 0; i < 100; i++) {
                ck_assert(try_acquire(arc));
                now += MS(20);
                fg_arc_release(arc, MS(20), FG_ARC_ERROR, now);
        }
        fg_arc_get_stats(arc, &st);
        ck_assert_uint_eq(st.limit, 4);
        ck_assert(st.rtt_mean_ms == 0);
        ck_assert_uint_eq(st.increases + st.decreases, 0);
        fg_arc_destroy(arc);
}
END_TEST

/* RTT 5 ms, then 50 ms, 16 callers: the rise reads as congestion within a
 * few windows; once the long-term mean has caught up the limit stops
 * moving (no more decreases; a narrow band). */
START_TEST(test_arc_rtt_step_decreases_then_settles) {
        fg_arc_t *arc = arc_new(4, 64);
        fg_arc_stats_t st0, st1, st2;
        unsigned lo, hi, before, lowest;
        double mean;
        size_t step_at, settle_at;
        sim_t s;

        sim_init(&s, arc, 16, MS(50));
        sim_run(&s, S(3), MS(5), 0);
        fg_arc_get_stats(arc, &st0);
        fprintf(stderr, "arc rtt step: at 5 ms limit %u, mean %.2f ms, dev %.3f ms\n", st0.limit,
                st0.rtt_mean_ms, st0.rtt_dev_ms);
        ck_assert_double_eq_tol(st0.rtt_mean_ms, 5, 0.1);
        /* 16 callers fill any limit up to 16; 17 is never reached. */
        ck_assert_uint_eq(st0.limit, 17);
        ck_assert_uint_eq(st0.decreases, 0);
        before = st0.limit;

        /* The step. Windows are max(50 ms, mean RTT) long: 5 windows are
         * at most 250 ms here. */
        step_at = s.nsamples;
        sim_run(&s, MS(250), MS(50), 0);
        fg_arc_get_stats(arc, &st1);
        ck_assert_msg(st1.decreases > st0.decreases, "no decrease within 5 windows of the step");
        samples_range(&s, step_at, s.nsamples, &lo, &hi, &mean);
        ck_assert_uint_lt(lo, before);
        lowest = lo;

        /* Long enough for the mean to catch up (alpha 0.2: 0.8^40 ~ 1e-4). */
        sim_run(&s, S(3), MS(50), 0);
        fg_arc_get_stats(arc, &st1);
        ck_assert_double_eq_tol(st1.rtt_mean_ms, 50, 1);
        settle_at = s.nsamples;
        sim_run(&s, S(5), MS(50), 0);
        fg_arc_get_stats(arc, &st2);
        samples_range(&s, settle_at, s.nsamples, &lo, &hi, &mean);
        fprintf(stderr,
                "arc rtt step: at 50 ms lowest %u after the step; settled in [%u, %u] (mean %.2f), "
                "rtt mean %.2f ms, %llu decreases\n",
                lowest, lo, hi, mean, st2.rtt_mean_ms, (unsigned long long)st2.decreases);
        ck_assert_uint_le(hi - lo, 1);
        ck_assert_uint_eq(st2.decreases, st1.decreases);
        ck_assert_uint_ge(lo, 1);
        sim_free(&s);
        fg_arc_destroy(arc);
}
END_TEST

/* A sink that pushes back whenever more than 8 calls are in flight, and 32
 * callers wanting more: the limit saws around 8. */
START_TEST(test_arc_backpressure_holds_near_sink_limit) {
        fg_arc_t *arc = arc_new(4, 64);
        unsigned lo, hi;
        double mean;
        sim_t s;

        sim_init(&s, arc, 32, MS(50));
        sim_run(&s, S(2), MS(10), 8); /* climbing from 4 */
        sim_run(&s, S(30), MS(10), 8);
        samples_range(&s, S(2) / MS(50), s.nsamples, &lo, &hi, &mean);
        fprintf(stderr,
                "arc push-back at 8: limit in [%u, %u], mean %.2f over %zu windows; highest %u; "
                "%llu of %llu calls pushed back; sink peak %d\n",
                lo, hi, mean, s.nsamples - (size_t)(S(2) / MS(50)), s.limit_max_seen,
                (unsigned long long)s.pushed_back, (unsigned long long)s.calls, s.peak_inflight);
        ck_assert(mean >= 6 && mean <= 11);
        ck_assert_uint_le(s.limit_max_seen, 12);
        ck_assert_uint_ge(lo, 4);
        ck_assert_int_le(s.peak_inflight, 12);
        sim_free(&s);
        fg_arc_destroy(arc);
}
END_TEST

START_TEST(test_arc_set_max_lowers_limit) {
        fg_arc_t *arc = arc_new(10, 20);
        fg_arc_stats_t st;
        int64_t now = S(100);

        fg_arc_set_max(arc, 6);
        ck_assert_uint_eq(arc_limit(arc), 6);
        for (int k = 0; k < 6; k++)
                ck_assert(try_acquire(arc));
        ck_assert(!try_acquire(arc));
        /* Reached, but the ceiling holds. */
        now += MS(60);
        for (int k = 0; k < 6; k++)
                fg_arc_release(arc, MS(60), FG_ARC_OK, now);
        ck_assert_uint_eq(arc_limit(arc), 6);
        /* Lowered below what is in flight: no new slot until under it. */
        for (int k = 0; k < 6; k++)
                ck_assert(try_acquire(arc));
        fg_arc_set_max(arc, 2);
        ck_assert_uint_eq(arc_limit(arc), 2);
        for (int k = 0; k < 4; k++)
                fg_arc_cancel(arc);
        ck_assert(!try_acquire(arc));
        fg_arc_cancel(arc);
        ck_assert(try_acquire(arc));
        /* Raising the ceiling keeps the limit; it grows by demand later. */
        fg_arc_set_max(arc, 30);
        ck_assert_uint_eq(arc_limit(arc), 2);
        fg_arc_set_max(arc, 0); /* never 0 */
        ck_assert_uint_eq(arc_limit(arc), 1);
        fg_arc_get_stats(arc, &st);
        ck_assert_uint_eq(st.inflight, 2);
        fg_arc_cancel(arc);
        fg_arc_cancel(arc);
        fg_arc_destroy(arc);
}
END_TEST

typedef struct waiter {
        fg_arc_t *arc;
        int64_t timeout;
        bool got;
        int64_t waited;
} waiter_t;

static void *waiter_main(void *arg) {
        waiter_t *w = arg;
        int64_t t0 = fg_mono_ns();

        w->got = fg_arc_acquire(w->arc, w->timeout);
        w->waited = fg_mono_ns() - t0;
        return NULL;
}

START_TEST(test_arc_acquire_times_out_then_wakes) {
        fg_arc_t *arc = arc_new(2, 4);
        waiter_t w = {.arc = arc, .timeout = MS(30)};
        pthread_t t;
        fg_arc_stats_t st;

        ck_assert(try_acquire(arc));
        ck_assert(try_acquire(arc));
        /* Full: a bounded wait gives up, after about its timeout. */
        ck_assert_int_eq(pthread_create(&t, NULL, waiter_main, &w), 0);
        ck_assert_int_eq(pthread_join(t, NULL), 0);
        ck_assert(!w.got);
        ck_assert_int_ge(w.waited, MS(25));

        /* A waiter blocked on the full limit gets the slot a release frees.
         * Its timeout (10 s) only bounds the test. */
        w = (waiter_t){.arc = arc, .timeout = S(10)};
        ck_assert_int_eq(pthread_create(&t, NULL, waiter_main, &w), 0);
        /* Whether it is already waiting or not, the release must let it
         * through: no sleep needed, just a chance to block first. */
        for (int i = 0; i < 1000; i++)
                sched_yield();
        fg_arc_release(arc, MS(10), FG_ARC_OK, S(100));
        ck_assert_int_eq(pthread_join(t, NULL), 0);
        ck_assert(w.got);
        ck_assert_int_lt(w.waited, S(10));
        fg_arc_get_stats(arc, &st);
        ck_assert_uint_eq(st.inflight, 2);

        /* A cancel frees a slot for a waiter too. */
        w = (waiter_t){.arc = arc, .timeout = S(10)};
        ck_assert_int_eq(pthread_create(&t, NULL, waiter_main, &w), 0);
        fg_arc_cancel(arc);
        ck_assert_int_eq(pthread_join(t, NULL), 0);
        ck_assert(w.got);
        fg_arc_cancel(arc);
        fg_arc_cancel(arc);
        fg_arc_get_stats(arc, &st);
        ck_assert_uint_eq(st.inflight, 0);
        fg_arc_destroy(arc);
}
END_TEST

/* Cancel gives the slot back with no sample: nothing is learned, no window
 * closes, and a surplus cancel does not underflow. */
START_TEST(test_arc_cancel_returns_slot_without_sample) {
        fg_arc_t *arc = arc_new(1, 4);
        fg_arc_stats_t st;

        for (int i = 0; i < 100; i++) {
                ck_assert(try_acquire(arc));
                ck_assert(!try_acquire(arc));
                fg_arc_cancel(arc);
        }
        fg_arc_get_stats(arc, &st);
        ck_assert_uint_eq(st.inflight, 0);
        ck_assert_uint_eq(st.limit, 1);
        ck_assert(st.rtt_mean_ms == 0 && st.rtt_dev_ms == 0);
        ck_assert_uint_eq(st.increases + st.decreases, 0);
        fg_arc_cancel(arc); /* nothing in flight */
        fg_arc_get_stats(arc, &st);
        ck_assert_uint_eq(st.inflight, 0);
        ck_assert(try_acquire(arc));
        ck_assert(!try_acquire(arc));
        fg_arc_cancel(arc);
        fg_arc_destroy(arc);
}
END_TEST

START_TEST(test_arc_stats) {
        fg_arc_t *arc = arc_new(3, 10);
        int64_t now = S(100);
        fg_arc_stats_t st;

        ck_assert(try_acquire(arc));
        ck_assert(try_acquire(arc));
        fg_arc_get_stats(arc, &st);
        ck_assert_uint_eq(st.inflight, 2);
        /* First window: three 20 ms calls, the third filling the limit,
         * the last one ending 50 ms after the window began (the first
         * release opens it 20 ms back): the mean primes at 20 ms with a
         * deviation of a quarter, and the limit grows. */
        ck_assert(try_acquire(arc));
        now += MS(20);
        fg_arc_release(arc, MS(20), FG_ARC_OK, now);
        fg_arc_release(arc, MS(20), FG_ARC_OK, now);
        fg_arc_get_stats(arc, &st);
        ck_assert(st.rtt_mean_ms == 0); /* 20 ms into a 50 ms window */
        now += MS(30);
        fg_arc_release(arc, MS(20), FG_ARC_OK, now);
        fg_arc_get_stats(arc, &st);
        ck_assert_uint_eq(st.inflight, 0);
        ck_assert_double_eq_tol(st.rtt_mean_ms, 20, 1e-9);
        ck_assert_double_eq_tol(st.rtt_dev_ms, 5, 1e-9);
        ck_assert_uint_eq(st.limit, 4);
        ck_assert_uint_eq(st.increases, 1);
        /* A second window at 30 ms: mean 0.8*20 + 0.2*30 = 22, deviation
         * 0.8*5 + 0.2*10 = 6; 30 < 22 + 2.5*6, so no decrease. */
        ck_assert(try_acquire(arc));
        now += MS(60);
        fg_arc_release(arc, MS(30), FG_ARC_OK, now);
        fg_arc_get_stats(arc, &st);
        ck_assert_double_eq_tol(st.rtt_mean_ms, 22, 1e-9);
        ck_assert_double_eq_tol(st.rtt_dev_ms, 6, 1e-9);
        ck_assert_uint_eq(st.limit, 4);
        ck_assert_uint_eq(st.decreases, 0);
        /* 60 ms > 22 + 2.5*6 = 37: a latency rise, x0.9 -> 3. */
        ck_assert(try_acquire(arc));
        now += MS(60);
        fg_arc_release(arc, MS(60), FG_ARC_OK, now);
        fg_arc_get_stats(arc, &st);
        ck_assert_uint_eq(st.limit, 3);
        ck_assert_uint_eq(st.decreases, 1);
        fg_arc_destroy(arc);
}
END_TEST

START_TEST(test_arc_bad_conf_rejected) {
        fg_arc_cfg_t good = arc_conf(4, 8), c;
        fg_arc_t *arc;

        c = good, c.initial_limit = 0;
        ck_assert_ptr_null(fg_arc_new(&c));
        c = good, c.max_limit = 3;
        ck_assert_ptr_null(fg_arc_new(&c));
        c = good, c.ewma_alpha = 0;
        ck_assert_ptr_null(fg_arc_new(&c));
        c = good, c.ewma_alpha = 1.5;
        ck_assert_ptr_null(fg_arc_new(&c));
        c = good, c.ewma_alpha = NAN;
        ck_assert_ptr_null(fg_arc_new(&c));
        c = good, c.decrease_ratio = 0;
        ck_assert_ptr_null(fg_arc_new(&c));
        c = good, c.decrease_ratio = 1;
        ck_assert_ptr_null(fg_arc_new(&c));
        c = good, c.decrease_ratio = NAN;
        ck_assert_ptr_null(fg_arc_new(&c));
        c = good, c.deviation_scale = -1;
        ck_assert_ptr_null(fg_arc_new(&c));
        /* The edges that are allowed. */
        c = good, c.ewma_alpha = 1, c.deviation_scale = 0, c.initial_limit = c.max_limit = 1;
        arc = fg_arc_new(&c);
        ck_assert_ptr_nonnull(arc);
        fg_arc_destroy(arc);
}
END_TEST

/* ---- arc: threads ---- */

#define RACE_THREADS 16
#define RACE_MAX     8

typedef struct race {
        fg_arc_t *arc;
        atomic_int inflight;       /* as the test counts it */
        atomic_int peak;
        atomic_int over;           /* times inflight exceeded RACE_MAX */
        atomic_ullong acquired, released, cancelled, timeouts;
        atomic_bool stop;
} race_t;

static void *race_main(void *arg) {
        race_t *r = arg;
        unsigned seed = (unsigned)(uintptr_t)&seed;

        while (!atomic_load(&r->stop)) {
                int n, p;
                unsigned roll;
                if (!fg_arc_acquire(r->arc, MS(50))) {
                        atomic_fetch_add(&r->timeouts, 1);
                        continue;
                }
                atomic_fetch_add(&r->acquired, 1);
                n = atomic_fetch_add(&r->inflight, 1) + 1;
                if (n > RACE_MAX)
                        atomic_fetch_add(&r->over, 1);
                p = atomic_load(&r->peak);
                while (n > p && !atomic_compare_exchange_weak(&r->peak, &p, n))
                        ;
                roll = (unsigned)rand_r(&seed) % 64;
                if (roll < 16)
                        sched_yield();
                atomic_fetch_sub(&r->inflight, 1);
                if (roll == 0) {
                        fg_arc_cancel(r->arc);
                        atomic_fetch_add(&r->cancelled, 1);
                } else {
                        /* Push-back now and then, so the limit moves both ways. */
                        fg_arc_release(r->arc, US(100 + roll * 10),
                                       roll == 1 ? FG_ARC_BACKPRESSURE : FG_ARC_OK, fg_mono_ns());
                        atomic_fetch_add(&r->released, 1);
                }
        }
        return NULL;
}

START_TEST(test_arc_threads_never_exceed_max) {
        fg_arc_cfg_t c = arc_conf(2, RACE_MAX);
        race_t *r = calloc(1, sizeof(*r));
        pthread_t t[RACE_THREADS];
        fg_arc_stats_t st;
        int64_t until;
        unsigned lo = RACE_MAX, hi = 0;

        ck_assert_ptr_nonnull(r);
        c.min_window_ns = US(500); /* many windows in a short run */
        r->arc = fg_arc_new(&c);
        ck_assert_ptr_nonnull(r->arc);
        for (int i = 0; i < RACE_THREADS; i++)
                ck_assert_int_eq(pthread_create(&t[i], NULL, race_main, r), 0);
        until = fg_mono_ns() + MS(1500);
        while (fg_mono_ns() < until) { /* watching the limit while it moves */
                struct timespec ts = {0, 200 * 1000};
                fg_arc_get_stats(r->arc, &st);
                if (st.limit < lo)
                        lo = st.limit;
                if (st.limit > hi)
                        hi = st.limit;
                ck_assert_uint_le(st.inflight, st.limit > RACE_MAX ? st.limit : RACE_MAX);
                nanosleep(&ts, NULL);
        }
        atomic_store(&r->stop, true);
        for (int i = 0; i < RACE_THREADS; i++)
                ck_assert_int_eq(pthread_join(t[i], NULL), 0);
        fg_arc_get_stats(r->arc, &st);
        fprintf(stderr,
                "arc threads: %llu acquired (%llu cancelled), %llu timeouts, peak %d in flight, "
                "limit seen in [%u, %u], %llu increases, %llu decreases\n",
                (unsigned long long)atomic_load(&r->acquired),
                (unsigned long long)atomic_load(&r->cancelled),
                (unsigned long long)atomic_load(&r->timeouts), atomic_load(&r->peak), lo, hi,
                (unsigned long long)st.increases, (unsigned long long)st.decreases);
        ck_assert_int_eq(atomic_load(&r->over), 0);
        ck_assert_int_le(atomic_load(&r->peak), RACE_MAX);
        ck_assert_uint_gt(atomic_load(&r->acquired), RACE_THREADS);
        ck_assert_uint_eq(atomic_load(&r->acquired),
                          atomic_load(&r->released) + atomic_load(&r->cancelled));
        ck_assert_uint_eq(st.inflight, 0);
        ck_assert_int_eq(atomic_load(&r->inflight), 0);
        ck_assert(st.limit >= 1 && st.limit <= RACE_MAX);
        ck_assert_uint_gt(st.increases, 0);
        ck_assert_uint_gt(st.decreases, 0);
        fg_arc_destroy(r->arc);
        free(r);
}
END_TEST

/* ---- scaler ---- */

static const fg_scaler_cfg_t SC = {
    .min = 1, .max = 64, .headroom = 1.25, .queue_wait_grow_ns = MS(50)};

static fg_scaler_decision_t decide(const fg_scaler_cfg_t *conf, fg_scaler_state_t *st,
                                   fg_scaler_input_t in) {
        fg_scaler_decision_t d;
        memset(&d, 0xAA, sizeof(d)); /* every field must be written */
        fg_scaler_decide(conf, st, &in, &d);
        ck_assert(!(d.grow && d.retire));
        return d;
}

/* 5000 events/s x 20 ms / 10 per call x 1.25 = 12.5 -> 13 threads. */
START_TEST(test_scaler_littles_law) {
        fg_scaler_state_t st = {0};
        fg_scaler_decision_t d;
        fg_scaler_input_t in = {.running = 1, .arrival_per_s = 5000, .call_latency_s = 0.020,
                                .events_per_call = 10};

        d = decide(&SC, &st, in);
        ck_assert_uint_eq(d.target, 13);
        ck_assert_uint_eq(d.grow, 12);
        ck_assert_uint_eq(d.retire, 0);
        ck_assert_msg(strstr(d.reason, "-> 13 workers"), "%s", d.reason);
        /* Exactly 10 is not rounded up: 2048 x 1/32 s / 8 x 1.25 (exact in
         * binary). */
        in = (fg_scaler_input_t){.running = 10, .arrival_per_s = 2048, .call_latency_s = 0.03125,
                                 .events_per_call = 8};
        d = decide(&SC, &st, in);
        ck_assert_uint_eq(d.target, 10);
        ck_assert_uint_eq(d.grow + d.retire, 0);
        /* Fewer than one event per call counts as one. */
        in = (fg_scaler_input_t){.running = 1, .arrival_per_s = 128, .call_latency_s = 0.0625,
                                 .events_per_call = 0};
        d = decide(&SC, &st, in);
        ck_assert_uint_eq(d.target, 10); /* 128 x 1/16 s x 1.25 */
}
END_TEST

START_TEST(test_scaler_pressure_grows) {
        fg_scaler_state_t st = {0};
        fg_scaler_decision_t d;
        /* Little's law asks for 1; the queue says otherwise. */
        fg_scaler_input_t in = {.running = 4, .busy = 4, .arrival_per_s = 100,
                                .call_latency_s = 0.001, .events_per_call = 10, .queue_fill = 0.5};

        d = decide(&SC, &st, in);
        ck_assert_uint_eq(d.target, 7); /* 4 + 4/2 + 1 */
        ck_assert_uint_eq(d.grow, 3);
        ck_assert_msg(strstr(d.reason, "queue backing up"), "%s", d.reason);
        /* Or events waiting long in the queue. */
        in.queue_fill = 0, in.queue_wait_p90_ns = MS(51);
        d = decide(&SC, &st, in);
        ck_assert_uint_eq(d.target, 7);
        /* Long waits count even when a worker looked free (the busy
         * count is one glance; the wait is the last second's)... */
        in.busy = 0;
        d = decide(&SC, &st, in);
        ck_assert_uint_eq(d.target, 7);
        /* ...a filling queue does not. */
        in.busy = 3, in.queue_fill = 0.9, in.queue_wait_p90_ns = MS(50);
        d = decide(&SC, &st, in);
        ck_assert_uint_lt(d.target, 4);
        ck_assert_uint_eq(d.grow, 0);
        /* ...nor below the thresholds. */
        st = (fg_scaler_state_t){0};
        in.busy = 4, in.queue_fill = 0.49, in.queue_wait_p90_ns = MS(50);
        d = decide(&SC, &st, in);
        ck_assert_uint_eq(d.grow, 0);
        /* Little's law wins when it asks for more. */
        in.queue_fill = 0.9, in.arrival_per_s = 10000, in.call_latency_s = 0.05;
        d = decide(&SC, &st, in);
        ck_assert_uint_eq(d.target, 63); /* 10000 x 0.05 / 10 x 1.25 = 62.5 */
        /* An odd pool: 5 + 2.5 + 1 = 8.5 -> 9. */
        in = (fg_scaler_input_t){.running = 5, .busy = 5, .queue_fill = 1};
        d = decide(&SC, &st, in);
        ck_assert_uint_eq(d.target, 9);
}
END_TEST

START_TEST(test_scaler_caps) {
        fg_scaler_state_t st = {0};
        fg_scaler_cfg_t conf = SC;
        fg_scaler_decision_t d;
        fg_scaler_input_t in = {.running = 2, .arrival_per_s = 100000, .call_latency_s = 0.1,
                                .events_per_call = 1};

        d = decide(&conf, &st, in); /* no limit: workers.max */
        ck_assert_uint_eq(d.target, 64);
        in.concurrency_limit = 8; /* + max(2, 8/4) */
        d = decide(&conf, &st, in);
        ck_assert_uint_eq(d.target, 10);
        ck_assert_uint_eq(d.grow, 8);
        in.concurrency_limit = 4; /* + 2 at least */
        d = decide(&conf, &st, in);
        ck_assert_uint_eq(d.target, 6);
        in.concurrency_limit = 40; /* + 40/4 */
        d = decide(&conf, &st, in);
        ck_assert_uint_eq(d.target, 50);
        in.concurrency_limit = 60; /* 75 > max */
        d = decide(&conf, &st, in);
        ck_assert_uint_eq(d.target, 64);
        /* The floor beats the limit's cap. */
        conf.min = 12;
        in.concurrency_limit = 4;
        d = decide(&conf, &st, in);
        ck_assert_uint_eq(d.target, 12);
        /* Pressure is capped too. */
        conf = SC;
        in = (fg_scaler_input_t){.running = 60, .busy = 60, .queue_fill = 1};
        d = decide(&conf, &st, in);
        ck_assert_uint_eq(d.target, 64);
        ck_assert_uint_eq(d.grow, 4);
}
END_TEST

START_TEST(test_scaler_floor) {
        fg_scaler_state_t st = {0};
        fg_scaler_cfg_t conf = SC;
        fg_scaler_decision_t d;
        fg_scaler_input_t in = {.running = 1};

        d = decide(&conf, &st, in); /* no load at all */
        ck_assert_uint_eq(d.target, 1);
        ck_assert_uint_eq(d.grow + d.retire, 0);
        ck_assert_str_eq(d.reason, "");
        conf.min = 3;
        in.running = 2;
        d = decide(&conf, &st, in);
        ck_assert_uint_eq(d.target, 3);
        ck_assert_uint_eq(d.grow, 1);
        in.running = 3, in.arrival_per_s = 10, in.call_latency_s = 0.01, in.events_per_call = 1;
        d = decide(&conf, &st, in);
        ck_assert_uint_eq(d.target, 3);
        ck_assert_uint_eq(d.grow + d.retire, 0);
}
END_TEST

/* Growth happens in the interval that asks for it, after any run of
 * quiet intervals, and resets the hysteresis. */
START_TEST(test_scaler_growth_immediate) {
        fg_scaler_state_t st = {0};
        fg_scaler_decision_t d;
        fg_scaler_input_t quiet = {.running = 8, .idle_long = 0},
                          busy = {.running = 8, .arrival_per_s = 4096, .call_latency_s = 0.03125,
                                  .events_per_call = 8};

        d = decide(&SC, &st, quiet);
        d = decide(&SC, &st, quiet);
        ck_assert_uint_eq(st.below, 2);
        d = decide(&SC, &st, busy); /* 4096 x 1/32 s / 8 x 1.25 = 20 */
        ck_assert_uint_eq(d.target, 20);
        ck_assert_uint_eq(d.grow, 12);
        ck_assert_uint_eq(st.below, 0);
}
END_TEST

/* Target 10 (2048 x 1/32 s / 8 x 1.25) throughout. */
#define WANT_10 .arrival_per_s = 2048, .call_latency_s = 0.03125, .events_per_call = 8

START_TEST(test_scaler_shrink_hysteresis) {
        fg_scaler_state_t st = {0};
        fg_scaler_decision_t d;
        fg_scaler_input_t in = {.running = 20, .idle_long = 20, WANT_10};

        for (int i = 1; i < FG_SCALER_SHRINK_AFTER; i++) {
                d = decide(&SC, &st, in);
                ck_assert_uint_eq(d.target, 10);
                ck_assert_uint_eq(d.retire, 0);
                ck_assert_uint_eq(st.below, (unsigned)i);
        }
        /* After the hysteresis every thread idle past the linger may go at
         * once (scaler.h: the linger and the hysteresis rule out thrash),
         * but never below the target. */
        d = decide(&SC, &st, in);
        ck_assert_uint_eq(d.retire, 10);
        ck_assert_msg(strstr(d.reason, "needs 10 of 20 workers; retiring 10"), "%s", d.reason);
        /* Only long-idle threads go; it goes on every interval while below. */
        in.running = 16, in.idle_long = 2;
        d = decide(&SC, &st, in);
        ck_assert_uint_eq(d.retire, 2);
        in.running = 14, in.idle_long = 0;
        d = decide(&SC, &st, in);
        ck_assert_uint_eq(d.retire, 0);
        ck_assert_msg(strstr(d.reason, "retiring 0"), "%s", d.reason);
        in.running = 11, in.idle_long = 11;
        d = decide(&SC, &st, in);
        ck_assert_uint_eq(d.retire, 1);
        /* Small pools too. */
        st = (fg_scaler_state_t){.below = FG_SCALER_SHRINK_AFTER};
        in = (fg_scaler_input_t){.running = 3, .idle_long = 3};
        d = decide(&SC, &st, in);
        ck_assert_uint_eq(d.retire, 2);
}
END_TEST

START_TEST(test_scaler_at_target_resets_hysteresis) {
        fg_scaler_state_t st = {0};
        fg_scaler_decision_t d;
        fg_scaler_input_t low = {.running = 10, .idle_long = 10},
                          at = {.running = 10, WANT_10};

        for (int i = 0; i < FG_SCALER_SHRINK_AFTER - 1; i++)
                ck_assert_uint_eq(decide(&SC, &st, low).retire, 0);
        d = decide(&SC, &st, at); /* exactly 10: the run of quiet intervals ends */
        ck_assert_uint_eq(d.target, 10);
        ck_assert_uint_eq(d.grow + d.retire, 0);
        ck_assert_uint_eq(st.below, 0);
        for (int i = 0; i < FG_SCALER_SHRINK_AFTER - 1; i++)
                ck_assert_uint_eq(decide(&SC, &st, low).retire, 0);
        ck_assert_uint_gt(decide(&SC, &st, low).retire, 0);
}
END_TEST

/* With the load gone and every thread idle long, the pool goes back to
 * workers.min once the hysteresis has passed, and stays there. */
START_TEST(test_scaler_zero_load_returns_to_min) {
        fg_scaler_cfg_t conf = SC;
        fg_scaler_state_t st = {0};
        unsigned running = 40;
        int intervals = 0;

        conf.min = 2;
        while (running > conf.min && intervals < 100) {
                fg_scaler_input_t in = {.running = running, .idle_long = running};
                fg_scaler_decision_t d = decide(&conf, &st, in);
                ck_assert_uint_eq(d.target, 2);
                ck_assert_uint_eq(d.grow, 0);
                ck_assert_uint_le(d.retire, running - conf.min);
                if (intervals < FG_SCALER_SHRINK_AFTER - 1)
                        ck_assert_uint_eq(d.retire, 0);
                else
                        ck_assert_uint_gt(d.retire, 0);
                running -= d.retire;
                intervals++;
        }
        fprintf(stderr, "scaler: 40 -> %u threads in %d quiet intervals\n", running, intervals);
        ck_assert_uint_eq(running, 2);
        ck_assert_int_eq(intervals, FG_SCALER_SHRINK_AFTER);
        for (int i = 0; i < 10; i++) {
                fg_scaler_input_t in = {.running = running, .idle_long = running};
                fg_scaler_decision_t d = decide(&conf, &st, in);
                ck_assert_uint_eq(d.grow + d.retire, 0);
        }

        /* Threads that become idle-long one by one leave one by one. */
        st = (fg_scaler_state_t){0};
        running = 8, intervals = 0;
        while (running > conf.min && intervals < 100) {
                fg_scaler_input_t in = {.running = running, .idle_long = intervals % 2};
                running -= decide(&conf, &st, in).retire;
                intervals++;
        }
        ck_assert_uint_eq(running, 2);
        ck_assert_int_le(intervals, FG_SCALER_SHRINK_AFTER + 2 * 6);
}
END_TEST

/* ---- the instance-count model ---- */

static fg_demand_t demand(fg_demand_input_t in) {
        fg_demand_t d;
        fg_scaler_demand(&in, &d);
        return d;
}

/* Backlogged, an instance finishes what it can: that is the service rate.
 * Keeping up with 3000/s at 1000/s each takes 3; draining a 60000 backlog
 * within 60 s takes one more; it never drains at this pace. */
START_TEST(test_scaler_demand_backlog) {
        fg_demand_t d = demand((fg_demand_input_t){.partitions = 16, .arrival_per_s = 3000,
                                                   .finished_per_s = 1000, .capacity_per_s = 5000,
                                                   .lag = 60000, .drain_within_s = 60});
        ck_assert_double_eq_tol(d.service_per_s, 1000, 1e-9);
        ck_assert_double_eq_tol(d.desired, 4, 1e-9);
        ck_assert(isinf(d.time_to_drain_s) && d.time_to_drain_s > 0);

        /* The arrival stopped: the backlog drains at 1000/s in 60 s, which
         * one instance does within the 60 s target. */
        d = demand((fg_demand_input_t){.partitions = 16, .arrival_per_s = 0, .finished_per_s = 1000,
                                       .capacity_per_s = 5000, .lag = 60000, .drain_within_s = 60});
        ck_assert_double_eq_tol(d.desired, 1, 1e-9);
        ck_assert_double_eq_tol(d.time_to_drain_s, 60, 1e-9);

        /* A tighter target wants more instances for the same backlog. */
        d = demand((fg_demand_input_t){.partitions = 16, .arrival_per_s = 500, .finished_per_s = 1000,
                                       .lag = 60000, .drain_within_s = 10});
        ck_assert_double_eq_tol(d.desired, 6.5, 1e-9);
        ck_assert_double_eq_tol(d.time_to_drain_s, 120, 1e-9);
}
END_TEST

/* Never more than the partitions held: a partition goes to one member. */
START_TEST(test_scaler_demand_capped_by_partitions) {
        fg_demand_t d = demand((fg_demand_input_t){.partitions = 3, .arrival_per_s = 50000,
                                                   .finished_per_s = 1000, .lag = 1000000,
                                                   .drain_within_s = 10});
        ck_assert_double_eq_tol(d.desired, 3, 1e-9);
        d = demand((fg_demand_input_t){.partitions = 0, .arrival_per_s = 50000, .lag = 1000});
        ck_assert_double_eq_tol(d.desired, 0, 1e-9);
        ck_assert(isinf(d.time_to_drain_s));
}
END_TEST

/* Keeping up, the pool's own capacity estimate is the service rate when it
 * is higher than what arrives, so a lightly loaded group scales in. */
START_TEST(test_scaler_demand_keeping_up) {
        fg_demand_t d = demand((fg_demand_input_t){.partitions = 8, .arrival_per_s = 1000,
                                                   .finished_per_s = 1000, .capacity_per_s = 4000,
                                                   .lag = 200, .drain_within_s = 60});
        ck_assert_double_eq_tol(d.service_per_s, 4000, 1e-9);
        ck_assert_double_eq_tol(d.desired, (1000 + 200 / 60.0) / 4000, 1e-9);
        ck_assert_double_eq_tol(d.time_to_drain_s, 200 / 3000.0, 1e-9);

        /* No estimate (no sink calls yet): what it finishes. */
        d = demand((fg_demand_input_t){.partitions = 8, .arrival_per_s = 1000, .finished_per_s = 1000,
                                       .lag = 0, .drain_within_s = 60});
        ck_assert_double_eq_tol(d.desired, 1, 1e-9);
        ck_assert_double_eq_tol(d.time_to_drain_s, 0, 1e-9);

        /* Idle: nothing arrives, nothing is behind. */
        d = demand((fg_demand_input_t){.partitions = 8, .capacity_per_s = 4000, .drain_within_s = 60});
        ck_assert_double_eq_tol(d.desired, 0, 1e-9);
        ck_assert_double_eq_tol(d.time_to_drain_s, 0, 1e-9);
}
END_TEST

/* Nothing finished while work waits (the sink is down): no service rate
 * is known, so the instance asks for itself only; more instances would
 * not help a dead downstream. */
START_TEST(test_scaler_demand_outage_does_not_scale_out) {
        fg_demand_t d = demand((fg_demand_input_t){.partitions = 8, .arrival_per_s = 2000,
                                                   .finished_per_s = 0, .capacity_per_s = 0,
                                                   .lag = 500000, .drain_within_s = 60});
        ck_assert_double_eq_tol(d.desired, 1, 1e-9);
        ck_assert(isinf(d.time_to_drain_s));
        ck_assert_double_eq_tol(d.service_per_s, 0, 1e-9);
}
END_TEST

static Suite *scaler_suite(void) {
        Suite *s = suite_create("scaler");
        TCase *arc = tcase_create("arc"), *thr = tcase_create("threads"),
              *sc = tcase_create("scaler");

        tcase_add_test(arc, test_arc_starts_at_initial_limit);
        tcase_add_test(arc, test_arc_no_growth_without_demand);
        tcase_add_test(arc, test_arc_grows_one_per_window_when_reached);
        tcase_add_test(arc, test_arc_backpressure_decreases);
        tcase_add_test(arc, test_arc_errors_are_no_samples);
        tcase_add_test(arc, test_arc_rtt_step_decreases_then_settles);
        tcase_add_test(arc, test_arc_backpressure_holds_near_sink_limit);
        tcase_add_test(arc, test_arc_set_max_lowers_limit);
        tcase_add_test(arc, test_arc_acquire_times_out_then_wakes);
        tcase_add_test(arc, test_arc_cancel_returns_slot_without_sample);
        tcase_add_test(arc, test_arc_stats);
        tcase_add_test(arc, test_arc_bad_conf_rejected);
        suite_add_tcase(s, arc);

        tcase_set_timeout(thr, 60);
        tcase_add_test(thr, test_arc_threads_never_exceed_max);
        suite_add_tcase(s, thr);

        tcase_add_test(sc, test_scaler_littles_law);
        tcase_add_test(sc, test_scaler_pressure_grows);
        tcase_add_test(sc, test_scaler_caps);
        tcase_add_test(sc, test_scaler_floor);
        tcase_add_test(sc, test_scaler_growth_immediate);
        tcase_add_test(sc, test_scaler_shrink_hysteresis);
        tcase_add_test(sc, test_scaler_at_target_resets_hysteresis);
        tcase_add_test(sc, test_scaler_zero_load_returns_to_min);
        tcase_add_test(sc, test_scaler_demand_backlog);
        tcase_add_test(sc, test_scaler_demand_capped_by_partitions);
        tcase_add_test(sc, test_scaler_demand_keeping_up);
        tcase_add_test(sc, test_scaler_demand_outage_does_not_scale_out);
        suite_add_tcase(s, sc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(scaler_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
