/*
 * check_breaker: the circuit breaker — when it trips (exactly at min_calls,
 * exactly at the threshold, BACKPRESSURE as a failure, IGNORED not counted,
 * slow calls), both sliding windows (slide, eviction, a quiet period), open
 * durations (backoff, cap, reset, jitter), HALF_OPEN (exact permits, close,
 * re-open, max wait, IGNORED and release giving permits back), stale
 * generations, FORCED_OPEN and DISABLED, wait_ns, stats, the transition
 * reasons, bad confs; and two races: 64 threads for the HALF_OPEN permits,
 * 8 threads on a shared advancing clock checking invariants (run these
 * under TSan too).
 *
 * DESIGN: every test drives an injected clock (now_ns passed in); nothing
 * sleeps. Threading: the "core" tests run on the test thread only; the
 * "threads" tests start their own threads and join them before asserting
 * (worker threads only count violations, the test thread asserts).
 * Ownership: each test destroys the breakers it creates.
 */
#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "breaker/breaker.h"
#include "common/clock.h"

#define S(x)  ((int64_t)(x) * FG_NS_PER_S)
#define MS(x) ((int64_t)(x) * FG_NS_PER_MS)

/* ---- helpers ---- */

#define LOG_MAX 256

/* The transitions a breaker reported, in order. */
typedef struct tlog {
        int n;
        fg_brk_state_t from[LOG_MAX], to[LOG_MAX];
        char reason[LOG_MAX][128];
} tlog_t;

static tlog_t tlog;

static void log_cb(fg_brk_state_t from, fg_brk_state_t to, const char *reason, void *opaque) {
        tlog_t *l = opaque;

        if (l->n < LOG_MAX) {
                l->from[l->n] = from;
                l->to[l->n] = to;
                snprintf(l->reason[l->n], sizeof(l->reason[0]), "%s", reason);
        }
        l->n++;
}

/* COUNT window of 100, trips at >= 50% failures or 100% slow over >= 10
 * calls; opens 5 s, x2 up to 60 s, no jitter; 3 probes, 10 s max wait. */
static fg_brk_cfg_t conf_default(void) {
        fg_brk_cfg_t conf = {
            .enabled = true,
            .window = FG_BRK_WINDOW_COUNT,
            .window_size = 100,
            .min_calls = 10,
            .failure_rate_threshold = 0.5,
            .slow_call_rate_threshold = 1.0,
            .slow_call_ns = S(1),
            .open_ns = S(5),
            .open_backoff = 2,
            .open_max_ns = S(60),
            .jitter = 0,
            .half_open_calls = 3,
            .half_open_max_wait_ns = S(10),
        };
        return conf;
}

/* A breaker reporting its transitions into tlog (emptied here). */
static fg_brk_t *brk_new(const fg_brk_cfg_t *conf) {
        char errstr[256] = "";
        fg_brk_t *brk;

        memset(&tlog, 0, sizeof(tlog));
        brk = fg_brk_new(conf, 42, log_cb, &tlog, errstr, sizeof(errstr));
        ck_assert_msg(brk != NULL, "fg_brk_new: %s", errstr);
        return brk;
}

static fg_brk_state_t state_at(fg_brk_t *brk, int64_t now) {
        return fg_brk_state(brk, now);
}

#define ck_assert_state(brk, now, want)                                                            \
        ck_assert_msg(state_at(brk, now) == (want), "state at %.3f s: %s, expected %s",            \
                      (double)(now) / FG_NS_PER_S, fg_brk_state_name(state_at(brk, now)),          \
                      fg_brk_state_name(want))

/* acquire at @p now (must be permitted) and record @p o taking @p dur. */
static void call(fg_brk_t *brk, int64_t now, fg_brk_outcome_t o, int64_t dur) {
        fg_brk_permit_t p;

        ck_assert_msg(fg_brk_acquire(brk, now, &p), "acquire at %.3f s refused (state %s)",
                      (double)now / FG_NS_PER_S, fg_brk_state_name(fg_brk_state(brk, now)));
        fg_brk_record(brk, &p, o, dur, now);
}

static fg_brk_permit_t acquire_ok(fg_brk_t *brk, int64_t now) {
        fg_brk_permit_t p;

        ck_assert_msg(fg_brk_acquire(brk, now, &p), "acquire at %.3f s refused (state %s)",
                      (double)now / FG_NS_PER_S, fg_brk_state_name(fg_brk_state(brk, now)));
        return p;
}

static void acquire_refused(fg_brk_t *brk, int64_t now) {
        fg_brk_permit_t p;

        ck_assert_msg(!fg_brk_acquire(brk, now, &p), "acquire at %.3f s permitted (state %s)",
                      (double)now / FG_NS_PER_S, fg_brk_state_name(fg_brk_state(brk, now)));
}

/* min_calls failures at @p now: the breaker must end OPEN. */
static void trip(fg_brk_t *brk, const fg_brk_cfg_t *conf, int64_t now) {
        for (int64_t i = 0; i < conf->min_calls; i++)
                call(brk, now, FG_BRK_FAILURE, 0);
        ck_assert_state(brk, now, FG_BRK_OPEN);
}

static fg_brk_stats_t stats_at(fg_brk_t *brk, int64_t now) {
        fg_brk_stats_t st;

        memset(&st, 0xa5, sizeof(st)); /* nothing left unset goes unnoticed */
        fg_brk_get_stats(brk, now, &st);
        return st;
}

/* Field by field: a struct returned by value need not keep its padding. */
static bool stats_equal(const fg_brk_stats_t *a, const fg_brk_stats_t *b) {
        for (int s = 0; s < FG_BRK__STATE_CNT; s++)
                if (a->transitions[s] != b->transitions[s])
                        return false;
        return a->state == b->state && a->failure_rate == b->failure_rate &&
               a->slow_rate == b->slow_rate && a->window_calls == b->window_calls &&
               a->consecutive_failures == b->consecutive_failures &&
               a->not_permitted == b->not_permitted &&
               a->open_remaining_ns == b->open_remaining_ns &&
               a->current_open_ns == b->current_open_ns;
}

/* ---- when CLOSED trips ---- */

/* A dead downstream after a long good run: the failures never reach half
 * of a window full of successes, but consecutive_failures in a row trip
 * it; a success, slow or not, ends the run; IGNORED (not a call) leaves it;
 * BACKPRESSURE counts. */
START_TEST(test_breaker_consecutive_failures_trip) {
        fg_brk_cfg_t conf = conf_default();
        fg_brk_t *brk;
        fg_brk_stats_t st;
        int64_t t = S(1);

        conf.window = FG_BRK_WINDOW_TIME;
        conf.window_size = 10;
        conf.min_calls = 20;
        conf.consecutive_failures = 5;
        brk = brk_new(&conf);
        for (int i = 0; i < 100; i++)
                call(brk, t, FG_BRK_SUCCESS, MS(1));
        for (int i = 0; i < 4; i++)
                call(brk, t, FG_BRK_FAILURE, MS(1));
        ck_assert_uint_eq(stats_at(brk, t).consecutive_failures, 4);
        call(brk, t, FG_BRK_SUCCESS, S(2)); /* slow, still a success */
        ck_assert_uint_eq(stats_at(brk, t).consecutive_failures, 0);
        for (int i = 0; i < 4; i++)
                call(brk, t, i % 2 ? FG_BRK_BACKPRESSURE : FG_BRK_FAILURE, MS(1));
        call(brk, t, FG_BRK_IGNORED, MS(1));
        ck_assert_state(brk, t, FG_BRK_CLOSED);
        st = stats_at(brk, t);
        ck_assert_uint_eq(st.consecutive_failures, 4);
        ck_assert(st.failure_rate < 0.1); /* the rate rule is nowhere near */
        call(brk, t, FG_BRK_FAILURE, MS(1));
        ck_assert_state(brk, t, FG_BRK_OPEN);
        ck_assert_int_eq(tlog.n, 1);
        ck_assert_str_eq(tlog.reason[0], "5 consecutive failures");
        ck_assert_uint_eq(stats_at(brk, t).consecutive_failures, 0);
        fg_brk_destroy(brk);
}
END_TEST

/* After a close the run starts from zero; a probe round is judged by its
 * own rule, not by the run; failures of stale permits do not count. */
START_TEST(test_breaker_consecutive_failures_per_generation) {
        fg_brk_cfg_t conf = conf_default();
        fg_brk_permit_t old[3];
        fg_brk_t *brk;
        int64_t t = S(1);

        conf.consecutive_failures = 3;
        conf.half_open_calls = 2;
        brk = brk_new(&conf);
        for (int i = 0; i < 3; i++)
                old[i] = acquire_ok(brk, t);
        call(brk, t, FG_BRK_FAILURE, 0);
        call(brk, t, FG_BRK_FAILURE, 0);
        call(brk, t, FG_BRK_FAILURE, 0);
        ck_assert_state(brk, t, FG_BRK_OPEN);
        t += S(5);
        call(brk, t, FG_BRK_SUCCESS, 0); /* probe 1 */
        call(brk, t, FG_BRK_SUCCESS, 0); /* probe 2: closes */
        ck_assert_state(brk, t, FG_BRK_CLOSED);
        /* Permits from before the trip: ignored. */
        for (int i = 0; i < 3; i++)
                fg_brk_record(brk, &old[i], FG_BRK_FAILURE, 0, t);
        ck_assert_state(brk, t, FG_BRK_CLOSED);
        ck_assert_uint_eq(stats_at(brk, t).consecutive_failures, 0);
        call(brk, t, FG_BRK_FAILURE, 0);
        call(brk, t, FG_BRK_FAILURE, 0);
        ck_assert_state(brk, t, FG_BRK_CLOSED);
        call(brk, t, FG_BRK_FAILURE, 0);
        ck_assert_state(brk, t, FG_BRK_OPEN);
        fg_brk_destroy(brk);
}
END_TEST

/* consecutive_failures 0: only the rate rules trip. */
START_TEST(test_breaker_consecutive_failures_off) {
        fg_brk_cfg_t conf = conf_default();
        fg_brk_t *brk;
        int64_t t = S(1);

        conf.window_size = 1000;
        conf.consecutive_failures = 0;
        brk = brk_new(&conf);
        for (int i = 0; i < 200; i++)
                call(brk, t, FG_BRK_SUCCESS, 0);
        for (int i = 0; i < 150; i++)
                call(brk, t, FG_BRK_FAILURE, 0);
        ck_assert_state(brk, t, FG_BRK_CLOSED);
        ck_assert_uint_eq(stats_at(brk, t).consecutive_failures, 150);
        for (int i = 0; i < 50; i++)
                call(brk, t, FG_BRK_FAILURE, 0); /* 200 of 400: the rate */
        ck_assert_state(brk, t, FG_BRK_OPEN);
        ck_assert_str_eq(tlog.reason[0], "failure rate 50.0% >= 50.0% over 400 calls");
        fg_brk_destroy(brk);
}
END_TEST

START_TEST(test_breaker_opens_exactly_at_min_calls) {
        fg_brk_cfg_t conf = conf_default();
        fg_brk_t *brk;

        conf.min_calls = 10;
        brk = brk_new(&conf);
        for (int i = 0; i < 9; i++) {
                call(brk, S(1), FG_BRK_FAILURE, 0);
                ck_assert_state(brk, S(1), FG_BRK_CLOSED);
        }
        ck_assert_int_eq(tlog.n, 0);
        call(brk, S(1), FG_BRK_FAILURE, 0);
        ck_assert_state(brk, S(1), FG_BRK_OPEN);
        acquire_refused(brk, S(1));
        ck_assert_int_eq(tlog.n, 1);
        ck_assert_str_eq(tlog.reason[0], "failure rate 100.0% >= 50.0% over 10 calls");
        fg_brk_destroy(brk);
}
END_TEST

/* Failures spread evenly: every window of 100 consecutive calls holds
 * exactly @p per100 of them. Returns the call at which it opened, or 0. */
static int run_periodic(double threshold, int per100, int calls) {
        fg_brk_cfg_t conf = conf_default();
        fg_brk_t *brk;
        int opened = 0;

        conf.window_size = 100;
        conf.min_calls = 100;
        conf.failure_rate_threshold = threshold;
        brk = brk_new(&conf);
        for (int i = 0; i < calls && !opened; i++) {
                /* Bresenham spread: i*per100/100 steps up per100 times per 100 calls. */
                bool fail = ((i + 1) * per100) / 100 != (i * per100) / 100;
                call(brk, S(1) + i, fail ? FG_BRK_FAILURE : FG_BRK_SUCCESS, 0);
                if (fg_brk_state(brk, S(1) + i) != FG_BRK_CLOSED)
                        opened = i + 1;
        }
        fg_brk_destroy(brk);
        return opened;
}

START_TEST(test_breaker_failure_rate_threshold_exact) {
        /* 49% against 50% over 20 windows' worth of calls: never. */
        ck_assert_int_eq(run_periodic(0.5, 49, 2000), 0);
        /* 50% against 50%: as soon as the window holds min_calls. */
        ck_assert_int_eq(run_periodic(0.5, 50, 2000), 100);
        /* Thresholds that are not exact in binary: 0.57 * 100 is
         * 56.99999999999999 in doubles, 0.29 * 100 is 28.999999999999996. */
        ck_assert_int_eq(run_periodic(0.57, 56, 2000), 0);
        ck_assert_int_eq(run_periodic(0.57, 57, 2000), 100);
        ck_assert_int_eq(run_periodic(0.29, 28, 2000), 0);
        ck_assert_int_eq(run_periodic(0.29, 29, 2000), 100);
        ck_assert_int_eq(run_periodic(1.0, 99, 2000), 0);
        ck_assert_int_eq(run_periodic(1.0, 100, 2000), 100);
}
END_TEST

START_TEST(test_breaker_backpressure_counts_as_failure) {
        fg_brk_cfg_t conf = conf_default();
        fg_brk_t *brk = brk_new(&conf);

        for (int i = 0; i < 10; i++)
                call(brk, S(1), FG_BRK_BACKPRESSURE, 0);
        ck_assert_state(brk, S(1), FG_BRK_OPEN);
        fg_brk_destroy(brk);

        /* Half of each, against 50% over 20 calls. */
        conf.min_calls = 20;
        brk = brk_new(&conf);
        for (int i = 0; i < 10; i++) {
                call(brk, S(1), FG_BRK_SUCCESS, 0);
                call(brk, S(1), i < 5 ? FG_BRK_FAILURE : FG_BRK_BACKPRESSURE, 0);
        }
        ck_assert_state(brk, S(1), FG_BRK_OPEN);
        ck_assert_str_eq(tlog.reason[0], "failure rate 50.0% >= 50.0% over 20 calls");
        fg_brk_destroy(brk);
}
END_TEST

START_TEST(test_breaker_ignored_not_counted) {
        fg_brk_cfg_t conf = conf_default();
        fg_brk_t *brk = brk_new(&conf);
        fg_brk_stats_t st;

        /* Not calls at all: no rate, however many, however slow. */
        for (int i = 0; i < 500; i++)
                call(brk, S(1), FG_BRK_IGNORED, S(30));
        st = stats_at(brk, S(1));
        ck_assert_uint_eq(st.window_calls, 0);
        ck_assert(st.failure_rate == -1);
        ck_assert_state(brk, S(1), FG_BRK_CLOSED);

        /* 9 failures among ignored ones stay below min_calls... */
        for (int i = 0; i < 9; i++) {
                call(brk, S(1), FG_BRK_FAILURE, 0);
                call(brk, S(1), FG_BRK_IGNORED, 0);
        }
        ck_assert_state(brk, S(1), FG_BRK_CLOSED);
        ck_assert_uint_eq(stats_at(brk, S(1)).window_calls, 9);
        /* ...and do not dilute the rate of the 10th. */
        call(brk, S(1), FG_BRK_FAILURE, 0);
        ck_assert_state(brk, S(1), FG_BRK_OPEN);
        ck_assert_str_eq(tlog.reason[0], "failure rate 100.0% >= 50.0% over 10 calls");
        fg_brk_destroy(brk);
}
END_TEST

START_TEST(test_breaker_slow_calls_trip) {
        fg_brk_cfg_t conf = conf_default();
        fg_brk_t *brk;

        conf.slow_call_rate_threshold = 0.8;
        conf.slow_call_ns = S(1);
        brk = brk_new(&conf);
        /* Exactly slow_call_ns is not slow. */
        for (int i = 0; i < 50; i++)
                call(brk, S(1), FG_BRK_SUCCESS, S(1));
        ck_assert_state(brk, S(1), FG_BRK_CLOSED);
        ck_assert(stats_at(brk, S(1)).slow_rate == 0);
        fg_brk_destroy(brk);

        brk = brk_new(&conf);
        for (int i = 0; i < 9; i++)
                call(brk, S(1), FG_BRK_SUCCESS, S(1) + 1);
        ck_assert_state(brk, S(1), FG_BRK_CLOSED);
        call(brk, S(1), FG_BRK_SUCCESS, S(1) + 1);
        ck_assert_state(brk, S(1), FG_BRK_OPEN);
        ck_assert_str_eq(tlog.reason[0], "slow-call rate 100.0% >= 80.0% over 10 calls");
        fg_brk_destroy(brk);

        /* 8 slow of 10, all successful: 80% >= 80%. */
        brk = brk_new(&conf);
        for (int i = 0; i < 10; i++)
                call(brk, S(1), FG_BRK_SUCCESS, i < 8 ? S(2) : 0);
        ck_assert_state(brk, S(1), FG_BRK_OPEN);
        ck_assert_str_eq(tlog.reason[0], "slow-call rate 80.0% >= 80.0% over 10 calls");
        fg_brk_destroy(brk);
}
END_TEST

/* ---- sliding windows ---- */

START_TEST(test_breaker_time_window_evicts_old_failures) {
        fg_brk_cfg_t conf = conf_default();
        fg_brk_t *brk;
        fg_brk_stats_t st;

        conf.window = FG_BRK_WINDOW_TIME;
        conf.window_size = 10;
        conf.min_calls = 5;
        brk = brk_new(&conf);
        for (int i = 0; i < 4; i++)
                call(brk, MS(500), FG_BRK_FAILURE, 0);
        /* Second 0 is in the window while the clock is in seconds 0..9. */
        st = stats_at(brk, S(10) - 1);
        ck_assert_uint_eq(st.window_calls, 4);
        st = stats_at(brk, S(10));
        ck_assert_uint_eq(st.window_calls, 0);
        ck_assert(st.failure_rate == -1);
        /* So a 5th failure at 10.2 s finds one call, not five. */
        call(brk, MS(10200), FG_BRK_FAILURE, 0);
        ck_assert_state(brk, MS(10200), FG_BRK_CLOSED);
        ck_assert_uint_eq(stats_at(brk, MS(10200)).window_calls, 1);

        /* One failure a second after it: all in the window with it, the 5th
         * in the window trips. */
        for (int s = 11; s < 14; s++) {
                call(brk, S(s), FG_BRK_FAILURE, 0);
                ck_assert_state(brk, S(s), FG_BRK_CLOSED);
        }
        call(brk, S(14), FG_BRK_FAILURE, 0);
        ck_assert_state(brk, S(14), FG_BRK_OPEN);
        ck_assert_str_eq(tlog.reason[0], "failure rate 100.0% >= 50.0% over 5 calls");
        fg_brk_destroy(brk);

        /* Sliding one second at a time: 1 failure + 1 success a second keeps
         * 50% but the count stays at 2 * window once full. */
        conf.min_calls = 100;
        brk = brk_new(&conf);
        for (int s = 0; s < 30; s++) {
                call(brk, S(s), FG_BRK_FAILURE, 0);
                call(brk, S(s), FG_BRK_SUCCESS, 0);
                st = stats_at(brk, S(s));
                ck_assert_uint_eq(st.window_calls, (uint64_t)(s < 10 ? 2 * (s + 1) : 20));
        }
        ck_assert_state(brk, S(30), FG_BRK_CLOSED);
        fg_brk_destroy(brk);
}
END_TEST

START_TEST(test_breaker_time_window_quiet_period_empties) {
        fg_brk_cfg_t conf = conf_default();
        fg_brk_t *brk;
        fg_brk_stats_t st;

        conf.window = FG_BRK_WINDOW_TIME;
        conf.window_size = 10;
        conf.min_calls = 5;
        conf.failure_rate_threshold = 0.9;
        brk = brk_new(&conf);
        for (int i = 0; i < 12; i++)
                call(brk, S(1), FG_BRK_SUCCESS, 0);
        for (int i = 0; i < 4; i++)
                call(brk, S(1), FG_BRK_FAILURE, 0);
        st = stats_at(brk, S(1));
        ck_assert_uint_eq(st.window_calls, 16);
        ck_assert_double_eq_tol(st.failure_rate, 0.25, 1e-12);
        /* Nothing recorded for 100 s: reading alone empties the window. */
        st = stats_at(brk, S(101));
        ck_assert_uint_eq(st.window_calls, 0);
        ck_assert(st.failure_rate == -1 && st.slow_rate == -1);
        /* 4 failures now are 4 of 4 but below min_calls: no trip. */
        for (int i = 0; i < 4; i++)
                call(brk, S(101), FG_BRK_FAILURE, 0);
        ck_assert_state(brk, S(101), FG_BRK_CLOSED);
        ck_assert_uint_eq(stats_at(brk, S(101)).window_calls, 4);
        /* A gap shorter than the window keeps only the recent seconds
         * (4 of 5 failed: 80% < 90%). */
        call(brk, S(105), FG_BRK_SUCCESS, 0);
        ck_assert_state(brk, S(105), FG_BRK_CLOSED);
        ck_assert_uint_eq(stats_at(brk, S(110)).window_calls, 5);
        ck_assert_uint_eq(stats_at(brk, S(111)).window_calls, 1);
        ck_assert_uint_eq(stats_at(brk, S(115)).window_calls, 0);
        fg_brk_destroy(brk);
}
END_TEST

START_TEST(test_breaker_count_window_slides) {
        fg_brk_cfg_t conf = conf_default();
        fg_brk_t *brk;
        fg_brk_stats_t st;

        conf.window_size = 10;
        conf.min_calls = 10;
        brk = brk_new(&conf);
        for (int i = 0; i < 4; i++)
                call(brk, S(1), FG_BRK_FAILURE, 0);
        for (int i = 0; i < 16; i++)
                call(brk, S(1), FG_BRK_SUCCESS, 0);
        st = stats_at(brk, S(1));
        ck_assert_uint_eq(st.window_calls, 10);
        ck_assert(st.failure_rate == 0);
        /* 6 S + 4 F: 40%. Had the first 4 failures stayed, it would be 8. */
        for (int i = 0; i < 4; i++)
                call(brk, S(1), FG_BRK_FAILURE, 0);
        ck_assert_state(brk, S(1), FG_BRK_CLOSED);
        ck_assert_double_eq_tol(stats_at(brk, S(1)).failure_rate, 0.4, 1e-12);
        call(brk, S(1), FG_BRK_FAILURE, 0);
        ck_assert_state(brk, S(1), FG_BRK_OPEN);
        ck_assert_str_eq(tlog.reason[0], "failure rate 50.0% >= 50.0% over 10 calls");
        fg_brk_destroy(brk);

        /* Slow calls slide out the same way. */
        conf.slow_call_rate_threshold = 0.5;
        brk = brk_new(&conf);
        for (int i = 0; i < 4; i++)
                call(brk, S(1), FG_BRK_SUCCESS, S(5));
        for (int i = 0; i < 20; i++)
                call(brk, S(1), FG_BRK_SUCCESS, 0);
        ck_assert(stats_at(brk, S(1)).slow_rate == 0);
        ck_assert_state(brk, S(1), FG_BRK_CLOSED);
        fg_brk_destroy(brk);
}
END_TEST

/* ---- open durations ---- */

/* From HALF_OPEN at @p now (acquire must start it), one probe fails. */
static void fail_probe(fg_brk_t *brk, int64_t now) {
        fg_brk_permit_t p = acquire_ok(brk, now);

        ck_assert(p.half_open);
        fg_brk_record(brk, &p, FG_BRK_FAILURE, 0, now);
        ck_assert_state(brk, now, FG_BRK_OPEN);
}

/* OPEN at @p now for exactly @p dur: refused 1 ns before, probing at. */
static void expect_open_for(fg_brk_t *brk, int64_t now, int64_t dur) {
        fg_brk_stats_t st = stats_at(brk, now);

        ck_assert_int_eq(st.state, FG_BRK_OPEN);
        ck_assert_int_eq(st.current_open_ns, dur);
        ck_assert_int_eq(st.open_remaining_ns, dur);
        ck_assert_int_eq(fg_brk_wait_ns(brk, now), dur);
        acquire_refused(brk, now + dur - 1);
        ck_assert_state(brk, now + dur - 1, FG_BRK_OPEN);
        ck_assert_state(brk, now + dur, FG_BRK_HALF_OPEN);
}

START_TEST(test_breaker_open_duration_backoff_capped_and_reset) {
        fg_brk_cfg_t conf = conf_default();
        fg_brk_t *brk;
        int64_t now = S(1), want;

        conf.open_ns = S(1);
        conf.open_backoff = 1.5;
        conf.open_max_ns = S(10);
        conf.half_open_calls = 1;
        brk = brk_new(&conf);
        for (int round = 0; round < 2; round++) {
                /* 1, 1.5, 2.25, 3.375, 5.0625, 7.59375, 10, 10, 10 s: exact. */
                const int64_t seq[] = {S(1),        MS(1500),    MS(2250),
                                       3375000000,  5062500000,  7593750000,
                                       S(10),       S(10),       S(10)};

                trip(brk, &conf, now);
                want = conf.open_ns;
                for (size_t k = 0; k < sizeof(seq) / sizeof(seq[0]); k++) {
                        ck_assert_int_eq(want, seq[k]);
                        expect_open_for(brk, now, want);
                        now += want;
                        if (k + 1 < sizeof(seq) / sizeof(seq[0]))
                                fail_probe(brk, now);
                        want = llround((double)want * conf.open_backoff);
                        if (want > conf.open_max_ns)
                                want = conf.open_max_ns;
                }
                /* A successful probe closes; the next trip starts at open_ns. */
                call(brk, now, FG_BRK_SUCCESS, 0);
                ck_assert_state(brk, now, FG_BRK_CLOSED);
                ck_assert_int_eq(stats_at(brk, now).current_open_ns, conf.open_ns);
        }
        fg_brk_destroy(brk);
}
END_TEST

/* The open durations of @p n consecutive opens, all from failed probes. */
static void open_durations(uint64_t seed, double jitter, int64_t *out, int n) {
        fg_brk_cfg_t conf = conf_default();
        char errstr[256] = "";
        fg_brk_t *brk;
        int64_t now = S(1);

        conf.open_ns = S(10);
        conf.open_backoff = 1;
        conf.open_max_ns = S(10);
        conf.jitter = jitter;
        conf.half_open_calls = 1;
        brk = fg_brk_new(&conf, seed, NULL, NULL, errstr, sizeof(errstr));
        ck_assert_msg(brk != NULL, "%s", errstr);
        trip(brk, &conf, now);
        for (int i = 0; i < n; i++) {
                fg_brk_stats_t st = stats_at(brk, now);

                out[i] = st.current_open_ns;
                ck_assert_int_eq(st.open_remaining_ns, out[i]);
                acquire_refused(brk, now + out[i] - 1);
                now += out[i];
                fail_probe(brk, now);
        }
        fg_brk_destroy(brk);
}

START_TEST(test_breaker_open_duration_jitter) {
        enum { N = 64 };
        int64_t d[N], again[N], other[N], lo = INT64_MAX, hi = 0;

        open_durations(7, 0.2, d, N);
        for (int i = 0; i < N; i++) {
                ck_assert_msg(d[i] >= S(8) && d[i] <= S(12), "open %d lasted %" PRId64 " ns", i,
                              d[i]);
                lo = d[i] < lo ? d[i] : lo;
                hi = d[i] > hi ? d[i] : hi;
        }
        /* Spread over the range, not all equal (uniform: 64 draws spanning
         * less than 2 s of the 4 s range has probability ~1e-17). */
        ck_assert_msg(hi - lo > S(2), "durations span only %" PRId64 " ns", hi - lo);
        /* Seeded: the same seed repeats, another differs. */
        open_durations(7, 0.2, again, N);
        ck_assert(memcmp(d, again, sizeof(d)) == 0);
        open_durations(8, 0.2, other, N);
        ck_assert(memcmp(d, other, sizeof(d)) != 0);
        /* No jitter: exact, whatever the seed. */
        open_durations(7, 0, d, 8);
        for (int i = 0; i < 8; i++)
                ck_assert_int_eq(d[i], S(10));
}
END_TEST

/* ---- HALF_OPEN ---- */

/* Trips at @p now and returns when the open ends (not yet HALF_OPEN). */
static int64_t trip_and_wait(fg_brk_t *brk, const fg_brk_cfg_t *conf, int64_t now) {
        trip(brk, conf, now);
        return now + stats_at(brk, now).open_remaining_ns;
}

START_TEST(test_breaker_half_open_exact_permits) {
        fg_brk_cfg_t conf = conf_default();
        fg_brk_t *brk = brk_new(&conf);
        fg_brk_permit_t p[3];
        int64_t now = trip_and_wait(brk, &conf, S(1));
        uint64_t refused = stats_at(brk, now).not_permitted;

        for (int i = 0; i < 3; i++) {
                p[i] = acquire_ok(brk, now);
                ck_assert(p[i].half_open);
                ck_assert_uint_eq(p[i].generation, p[0].generation);
        }
        for (int i = 0; i < 5; i++)
                acquire_refused(brk, now);
        ck_assert_uint_eq(stats_at(brk, now).not_permitted, refused + 5);
        ck_assert_int_eq(fg_brk_wait_ns(brk, now), conf.half_open_max_wait_ns);
        ck_assert_state(brk, now, FG_BRK_HALF_OPEN);
        fg_brk_destroy(brk);
}
END_TEST

START_TEST(test_breaker_half_open_all_succeed_closes) {
        fg_brk_cfg_t conf = conf_default();
        fg_brk_t *brk = brk_new(&conf);
        fg_brk_permit_t p[3];
        int64_t now = trip_and_wait(brk, &conf, S(1));
        fg_brk_stats_t st;

        for (int i = 0; i < 3; i++)
                p[i] = acquire_ok(brk, now);
        /* Decided only by the last outcome. */
        fg_brk_record(brk, &p[0], FG_BRK_SUCCESS, 0, now + 1);
        fg_brk_record(brk, &p[1], FG_BRK_SUCCESS, 0, now + 2);
        ck_assert_state(brk, now + 2, FG_BRK_HALF_OPEN);
        fg_brk_record(brk, &p[2], FG_BRK_SUCCESS, 0, now + 3);
        ck_assert_state(brk, now + 3, FG_BRK_CLOSED);
        ck_assert_int_eq(tlog.to[tlog.n - 1], FG_BRK_CLOSED);
        ck_assert_str_eq(tlog.reason[tlog.n - 1], "probes: 3/3 succeeded");
        st = stats_at(brk, now + 3);
        ck_assert_uint_eq(st.window_calls, 0);
        ck_assert_int_eq(st.current_open_ns, conf.open_ns);
        /* A fresh window: 9 failures are below min_calls again. */
        for (int i = 0; i < 9; i++)
                call(brk, now + 4, FG_BRK_FAILURE, 0);
        ck_assert_state(brk, now + 4, FG_BRK_CLOSED);
        fg_brk_destroy(brk);

        /* One failure of three is 33% < 50%: closes too. */
        brk = brk_new(&conf);
        now = trip_and_wait(brk, &conf, S(1));
        call(brk, now, FG_BRK_FAILURE, 0);
        call(brk, now, FG_BRK_SUCCESS, 0);
        call(brk, now, FG_BRK_SUCCESS, S(60)); /* slow: 33% < 100% */
        ck_assert_state(brk, now, FG_BRK_CLOSED);
        ck_assert_str_eq(tlog.reason[tlog.n - 1], "probes: 2/3 succeeded");
        fg_brk_destroy(brk);
}
END_TEST

START_TEST(test_breaker_half_open_failures_reopen_longer) {
        fg_brk_cfg_t conf = conf_default();
        fg_brk_t *brk = brk_new(&conf);
        int64_t now = trip_and_wait(brk, &conf, S(1));

        call(brk, now, FG_BRK_FAILURE, 0);
        call(brk, now, FG_BRK_SUCCESS, 0);
        ck_assert_state(brk, now, FG_BRK_HALF_OPEN);
        call(brk, now, FG_BRK_BACKPRESSURE, 0);
        ck_assert_str_eq(tlog.reason[tlog.n - 1],
                         "probes: failure rate 66.7% >= 50.0% over 3 calls");
        expect_open_for(brk, now, 2 * conf.open_ns);
        fg_brk_destroy(brk);

        /* All probes slow (but successful) re-open too. */
        brk = brk_new(&conf);
        now = trip_and_wait(brk, &conf, S(1));
        for (int i = 0; i < 3; i++)
                call(brk, now, FG_BRK_SUCCESS, S(2));
        ck_assert_str_eq(tlog.reason[tlog.n - 1],
                         "probes: slow-call rate 100.0% >= 100.0% over 3 calls");
        expect_open_for(brk, now, 2 * conf.open_ns);
        fg_brk_destroy(brk);
}
END_TEST

START_TEST(test_breaker_half_open_max_wait_reopens) {
        fg_brk_cfg_t conf = conf_default();
        fg_brk_t *brk = brk_new(&conf);
        int64_t now = trip_and_wait(brk, &conf, S(1));
        fg_brk_permit_t lost = acquire_ok(brk, now), p;

        /* Two probes report, the third never does. */
        call(brk, now, FG_BRK_SUCCESS, 0);
        call(brk, now, FG_BRK_SUCCESS, 0);
        ck_assert_state(brk, now + conf.half_open_max_wait_ns - 1, FG_BRK_HALF_OPEN);
        ck_assert_state(brk, now + conf.half_open_max_wait_ns, FG_BRK_OPEN);
        ck_assert_str_eq(tlog.reason[tlog.n - 1], "half-open max wait 10000 ms exceeded");
        now += conf.half_open_max_wait_ns;
        /* The lost probe reporting late changes nothing. */
        fg_brk_record(brk, &lost, FG_BRK_SUCCESS, 0, now);
        ck_assert_state(brk, now, FG_BRK_OPEN);
        expect_open_for(brk, now, 2 * conf.open_ns);
        now += 2 * conf.open_ns;
        p = acquire_ok(brk, now);
        fg_brk_record(brk, &lost, FG_BRK_SUCCESS, 0, now);
        ck_assert_int_eq(tlog.n, 4); /* open, half-open, open, half-open */
        fg_brk_release(brk, &p, now);
        fg_brk_destroy(brk);
}
END_TEST

START_TEST(test_breaker_half_open_ignored_returns_permit) {
        fg_brk_cfg_t conf = conf_default();
        fg_brk_t *brk;
        fg_brk_permit_t a, b, c;
        int64_t now;

        conf.half_open_calls = 2;
        brk = brk_new(&conf);
        now = trip_and_wait(brk, &conf, S(1));
        a = acquire_ok(brk, now);
        b = acquire_ok(brk, now);
        acquire_refused(brk, now);
        fg_brk_record(brk, &a, FG_BRK_IGNORED, S(60), now);
        ck_assert_state(brk, now, FG_BRK_HALF_OPEN);
        ck_assert_int_eq(fg_brk_wait_ns(brk, now), 0);
        c = acquire_ok(brk, now);
        ck_assert(c.half_open);
        acquire_refused(brk, now);
        fg_brk_record(brk, &b, FG_BRK_SUCCESS, 0, now);
        ck_assert_state(brk, now, FG_BRK_HALF_OPEN);
        fg_brk_record(brk, &c, FG_BRK_SUCCESS, 0, now);
        ck_assert_state(brk, now, FG_BRK_CLOSED);
        ck_assert_str_eq(tlog.reason[tlog.n - 1], "probes: 2/2 succeeded");
        fg_brk_destroy(brk);
}
END_TEST

START_TEST(test_breaker_half_open_release_returns_permit) {
        fg_brk_cfg_t conf = conf_default();
        fg_brk_t *brk;
        fg_brk_permit_t a, b;
        int64_t now;

        conf.half_open_calls = 1;
        brk = brk_new(&conf);
        now = trip_and_wait(brk, &conf, S(1));
        a = acquire_ok(brk, now);
        acquire_refused(brk, now);
        ck_assert_int_eq(fg_brk_wait_ns(brk, now), conf.half_open_max_wait_ns);
        fg_brk_release(brk, &a, now);
        ck_assert_int_eq(fg_brk_wait_ns(brk, now), 0);
        b = acquire_ok(brk, now);
        ck_assert(b.half_open);
        acquire_refused(brk, now);
        /* Released again, and again: one permit, then refusals. */
        fg_brk_release(brk, &b, now);
        b = acquire_ok(brk, now);
        acquire_refused(brk, now);
        fg_brk_record(brk, &b, FG_BRK_SUCCESS, 0, now);
        ck_assert_state(brk, now, FG_BRK_CLOSED);
        /* Releasing in CLOSED is harmless. */
        a = acquire_ok(brk, now);
        fg_brk_release(brk, &a, now);
        ck_assert_state(brk, now, FG_BRK_CLOSED);
        ck_assert_uint_eq(stats_at(brk, now).window_calls, 0);
        fg_brk_destroy(brk);
}
END_TEST

/* ---- generations ---- */

START_TEST(test_breaker_stale_generation_ignored) {
        fg_brk_cfg_t conf = conf_default();
        fg_brk_t *brk;
        fg_brk_permit_t old, old2, probe, q;
        fg_brk_stats_t before, after;
        int64_t now = S(1);

        conf.half_open_calls = 1;
        brk = brk_new(&conf);
        old = acquire_ok(brk, now);
        old2 = acquire_ok(brk, now);
        ck_assert(!old.half_open);
        trip(brk, &conf, now);
        /* The slow call started before the trip fails now: nothing moves. */
        before = stats_at(brk, now + 1);
        fg_brk_record(brk, &old, FG_BRK_FAILURE, S(30), now + 1);
        fg_brk_release(brk, &old2, now + 1);
        after = stats_at(brk, now + 1);
        ck_assert(stats_equal(&before, &after));

        /* HALF_OPEN with its one probe out: an old success must not close it,
         * an old failure must not re-open it, an old release frees nothing. */
        now += conf.open_ns;
        probe = acquire_ok(brk, now);
        fg_brk_record(brk, &old, FG_BRK_SUCCESS, 0, now);
        fg_brk_record(brk, &old2, FG_BRK_FAILURE, 0, now);
        ck_assert_state(brk, now, FG_BRK_HALF_OPEN);
        fg_brk_release(brk, &old, now);
        acquire_refused(brk, now);

        /* A probe of an earlier HALF_OPEN round is stale in the next one. */
        now += conf.half_open_max_wait_ns;
        ck_assert_state(brk, now, FG_BRK_OPEN);
        now += 2 * conf.open_ns;
        q = acquire_ok(brk, now);
        ck_assert(q.half_open && q.generation != probe.generation);
        fg_brk_record(brk, &probe, FG_BRK_SUCCESS, 0, now);
        fg_brk_release(brk, &probe, now);
        ck_assert_state(brk, now, FG_BRK_HALF_OPEN);
        acquire_refused(brk, now);
        fg_brk_record(brk, &q, FG_BRK_SUCCESS, 0, now);
        ck_assert_state(brk, now, FG_BRK_CLOSED);

        /* And a permit of the previous CLOSED era is stale in this one. */
        fg_brk_record(brk, &old, FG_BRK_FAILURE, 0, now);
        ck_assert_uint_eq(stats_at(brk, now).window_calls, 0);
        /* A zeroed permit is never valid. */
        memset(&q, 0, sizeof(q));
        fg_brk_record(brk, &q, FG_BRK_FAILURE, 0, now);
        ck_assert_uint_eq(stats_at(brk, now).window_calls, 0);
        fg_brk_destroy(brk);
}
END_TEST

/* ---- FORCED_OPEN and DISABLED ---- */

START_TEST(test_breaker_forced_open_never_permits) {
        fg_brk_cfg_t conf = conf_default();
        fg_brk_t *brk;
        fg_brk_stats_t st;

        conf.forced_open = true;
        brk = brk_new(&conf);
        for (int i = 0; i < 100; i++) {
                int64_t now = S(i) * 1000;
                fg_brk_permit_t p = {.generation = 99, .half_open = true};

                ck_assert(!fg_brk_acquire(brk, now, &p));
                ck_assert_uint_eq(p.generation, 0);
                fg_brk_record(brk, &p, FG_BRK_SUCCESS, 0, now);
                ck_assert_state(brk, now, FG_BRK_FORCED_OPEN);
                ck_assert_int_eq(fg_brk_wait_ns(brk, now), INT64_MAX);
        }
        st = stats_at(brk, S(1));
        ck_assert_uint_eq(st.not_permitted, 100);
        for (int s = 0; s < FG_BRK__STATE_CNT; s++)
                ck_assert_uint_eq(st.transitions[s], 0);
        ck_assert_int_eq(tlog.n, 0);
        fg_brk_destroy(brk);
}
END_TEST

START_TEST(test_breaker_disabled_always_permits) {
        fg_brk_cfg_t conf = conf_default();
        fg_brk_t *brk;
        fg_brk_stats_t st;

        conf.enabled = false;
        brk = brk_new(&conf);
        for (int i = 0; i < 1000; i++) {
                int64_t now = S(1) + MS(i * 37);
                fg_brk_permit_t p = acquire_ok(brk, now);

                ck_assert(!p.half_open);
                fg_brk_record(brk, &p, i % 2 ? FG_BRK_FAILURE : FG_BRK_BACKPRESSURE, S(60), now);
                ck_assert_state(brk, now, FG_BRK_DISABLED);
                ck_assert_int_eq(fg_brk_wait_ns(brk, now), 0);
        }
        st = stats_at(brk, S(100));
        ck_assert_int_eq(st.state, FG_BRK_DISABLED);
        ck_assert_uint_eq(st.window_calls, 0);
        ck_assert(st.failure_rate == -1);
        ck_assert_uint_eq(st.not_permitted, 0);
        for (int s = 0; s < FG_BRK__STATE_CNT; s++)
                ck_assert_uint_eq(st.transitions[s], 0);
        ck_assert_int_eq(tlog.n, 0);
        fg_brk_destroy(brk);
}
END_TEST

/* ---- wait_ns, stats, reasons ---- */

START_TEST(test_breaker_wait_ns_per_state) {
        fg_brk_cfg_t conf = conf_default();
        fg_brk_t *brk = brk_new(&conf);
        fg_brk_permit_t p[3];
        int64_t now = S(1);

        ck_assert_int_eq(fg_brk_wait_ns(brk, now), 0); /* CLOSED */
        trip(brk, &conf, now);
        ck_assert_int_eq(fg_brk_wait_ns(brk, now), S(5)); /* OPEN: all of it */
        ck_assert_int_eq(fg_brk_wait_ns(brk, now + S(3)), S(2));
        ck_assert_int_eq(fg_brk_wait_ns(brk, now + S(5) - 1), 1);
        ck_assert_int_eq(fg_brk_wait_ns(brk, now + S(5)), 0); /* over: probe now */
        now += S(5);
        /* HALF_OPEN: 0 while a permit is free; once all are out, the time
         * left until the max wait (so a lost probe is noticed then). */
        for (int i = 0; i < 3; i++) {
                ck_assert_int_eq(fg_brk_wait_ns(brk, now), 0);
                p[i] = acquire_ok(brk, now);
        }
        ck_assert_int_eq(fg_brk_wait_ns(brk, now), conf.half_open_max_wait_ns);
        ck_assert_int_eq(fg_brk_wait_ns(brk, now + S(1)), conf.half_open_max_wait_ns - S(1));
        fg_brk_record(brk, &p[0], FG_BRK_SUCCESS, 0, now);
        /* Counted, not returned. (The breaker's clock never runs backwards:
         * having seen now + 1 s, it reads now as now + 1 s.) */
        ck_assert_int_eq(fg_brk_wait_ns(brk, now), conf.half_open_max_wait_ns - S(1));
        fg_brk_release(brk, &p[1], now);
        ck_assert_int_eq(fg_brk_wait_ns(brk, now), 0);
        /* Past the max wait: OPEN again, for the doubled duration. */
        ck_assert_int_eq(fg_brk_wait_ns(brk, now + conf.half_open_max_wait_ns), S(10));
        fg_brk_destroy(brk);

        conf.forced_open = true;
        brk = brk_new(&conf);
        ck_assert_int_eq(fg_brk_wait_ns(brk, 0), INT64_MAX);
        fg_brk_destroy(brk);
        conf.enabled = false;
        brk = brk_new(&conf);
        ck_assert_int_eq(fg_brk_wait_ns(brk, 0), 0);
        fg_brk_destroy(brk);
}
END_TEST

START_TEST(test_breaker_stats) {
        fg_brk_cfg_t conf = conf_default();
        fg_brk_t *brk = brk_new(&conf);
        fg_brk_stats_t st;
        int64_t now = S(1);

        st = stats_at(brk, now);
        ck_assert_int_eq(st.state, FG_BRK_CLOSED);
        ck_assert(st.failure_rate == -1 && st.slow_rate == -1);
        ck_assert_uint_eq(st.window_calls, 0);
        ck_assert_uint_eq(st.not_permitted, 0);
        ck_assert_int_eq(st.open_remaining_ns, 0);
        ck_assert_int_eq(st.current_open_ns, S(5));
        for (int s = 0; s < FG_BRK__STATE_CNT; s++)
                ck_assert_uint_eq(st.transitions[s], 0);

        /* 9 calls: below min_calls, rates still -1. */
        for (int i = 0; i < 9; i++)
                call(brk, now, i < 3 ? FG_BRK_FAILURE : FG_BRK_SUCCESS, i < 6 ? S(2) : 0);
        st = stats_at(brk, now);
        ck_assert_uint_eq(st.window_calls, 9);
        ck_assert(st.failure_rate == -1 && st.slow_rate == -1);
        call(brk, now, FG_BRK_SUCCESS, 0);
        st = stats_at(brk, now);
        ck_assert_uint_eq(st.window_calls, 10);
        ck_assert_double_eq_tol(st.failure_rate, 0.3, 1e-12);
        ck_assert_double_eq_tol(st.slow_rate, 0.6, 1e-12);

        /* (3 + 4) / 14 trips; then refuse twice, half-open, close. */
        for (int i = 0; i < 4; i++)
                call(brk, now, FG_BRK_FAILURE, 0);
        ck_assert_state(brk, now, FG_BRK_OPEN);
        ck_assert_str_eq(tlog.reason[0], "failure rate 50.0% >= 50.0% over 14 calls");
        acquire_refused(brk, now + S(1));
        acquire_refused(brk, now + S(2));
        st = stats_at(brk, now + S(2));
        ck_assert_int_eq(st.state, FG_BRK_OPEN);
        ck_assert_uint_eq(st.window_calls, 0);
        ck_assert(st.failure_rate == -1);
        ck_assert_uint_eq(st.not_permitted, 2);
        ck_assert_int_eq(st.open_remaining_ns, S(3));
        ck_assert_int_eq(st.current_open_ns, S(5));
        ck_assert_uint_eq(st.transitions[FG_BRK_OPEN], 1);
        /* OPEN past its end reads HALF_OPEN before any acquire takes it. */
        st = stats_at(brk, now + S(5));
        ck_assert_int_eq(st.state, FG_BRK_HALF_OPEN);
        ck_assert_int_eq(st.open_remaining_ns, 0);
        ck_assert_uint_eq(st.transitions[FG_BRK_HALF_OPEN], 0);
        now += S(5);
        for (int i = 0; i < 3; i++)
                call(brk, now, FG_BRK_SUCCESS, 0);
        st = stats_at(brk, now);
        ck_assert_int_eq(st.state, FG_BRK_CLOSED);
        ck_assert_uint_eq(st.transitions[FG_BRK_CLOSED], 1);
        ck_assert_uint_eq(st.transitions[FG_BRK_OPEN], 1);
        ck_assert_uint_eq(st.transitions[FG_BRK_HALF_OPEN], 1);
        ck_assert_uint_eq(st.transitions[FG_BRK_FORCED_OPEN], 0);
        ck_assert_uint_eq(st.transitions[FG_BRK_DISABLED], 0);
        ck_assert_uint_eq(st.not_permitted, 2);

        ck_assert_str_eq(fg_brk_state_name(FG_BRK_CLOSED), "closed");
        ck_assert_str_eq(fg_brk_state_name(FG_BRK_OPEN), "open");
        ck_assert_str_eq(fg_brk_state_name(FG_BRK_HALF_OPEN), "half_open");
        ck_assert_str_eq(fg_brk_state_name(FG_BRK_FORCED_OPEN), "forced_open");
        ck_assert_str_eq(fg_brk_state_name(FG_BRK_DISABLED), "disabled");
        ck_assert_str_eq(fg_brk_state_name(FG_BRK__STATE_CNT), "unknown");
        fg_brk_destroy(brk);
}
END_TEST

START_TEST(test_breaker_transition_reasons) {
        fg_brk_cfg_t conf = conf_default();
        fg_brk_t *brk;
        int64_t now = S(1);
        static const struct {
                fg_brk_state_t from, to;
                const char *reason;
        } want[] = {
            {FG_BRK_CLOSED, FG_BRK_OPEN, "failure rate 65.0% >= 50.0% over 20 calls"},
            {FG_BRK_OPEN, FG_BRK_HALF_OPEN, "open for 5000 ms"},
            {FG_BRK_HALF_OPEN, FG_BRK_CLOSED, "probes: 3/3 succeeded"},
            {FG_BRK_CLOSED, FG_BRK_OPEN, "slow-call rate 100.0% >= 100.0% over 20 calls"},
            {FG_BRK_OPEN, FG_BRK_HALF_OPEN, "open for 5000 ms"},
            {FG_BRK_HALF_OPEN, FG_BRK_OPEN, "half-open max wait 2500.500 ms exceeded"},
            {FG_BRK_OPEN, FG_BRK_HALF_OPEN, "open for 10000 ms"},
        };

        conf.min_calls = 20;
        conf.half_open_max_wait_ns = MS(2500) + 500000;
        brk = brk_new(&conf);
        for (int i = 0; i < 20; i++)
                call(brk, now, i % 20 < 13 ? FG_BRK_FAILURE : FG_BRK_SUCCESS, 0);
        now += S(5);
        for (int i = 0; i < 3; i++)
                call(brk, now, FG_BRK_SUCCESS, 0);
        for (int i = 0; i < 20; i++)
                call(brk, now, FG_BRK_SUCCESS, S(3));
        now += S(5);
        (void)acquire_ok(brk, now);
        now += conf.half_open_max_wait_ns;
        ck_assert_state(brk, now, FG_BRK_OPEN);
        now += S(10);
        (void)acquire_ok(brk, now);

        ck_assert_int_eq(tlog.n, (int)(sizeof(want) / sizeof(want[0])));
        for (int i = 0; i < tlog.n; i++) {
                ck_assert_msg(tlog.from[i] == want[i].from && tlog.to[i] == want[i].to,
                              "transition %d: %s -> %s, expected %s -> %s", i,
                              fg_brk_state_name(tlog.from[i]), fg_brk_state_name(tlog.to[i]),
                              fg_brk_state_name(want[i].from), fg_brk_state_name(want[i].to));
                ck_assert_str_eq(tlog.reason[i], want[i].reason);
        }
        fg_brk_destroy(brk);
}
END_TEST

/* ---- configuration ---- */

START_TEST(test_breaker_rejects_bad_conf) {
        static const struct {
                const char *field;
                const char *want; /* in errstr */
        } cases[] = {
            {"when_open", "breaker: when_open 7 is not wait or dead_letter"},
            {"window", "breaker: window 9 is not count or time"},
            {"window_size", "breaker: window_size 0 is out of range [1, 1000000] (calls)"},
            {"window_size_time", "breaker: window_size 3601 is out of range [1, 3600] (seconds)"},
            {"min_calls", "breaker: min_calls 0 must be >= 1"},
            {"min_calls_window", "breaker: min_calls 101 exceeds the count window of 100 calls"},
            {"consecutive_failures", "breaker: consecutive_failures -1 must be >= 0 (0 = off)"},
            {"failure_rate_threshold", "breaker: failure_rate_threshold 0 must be in (0, 1]"},
            {"failure_rate_nan", "breaker: failure_rate_threshold nan must be in (0, 1]"},
            {"slow_call_rate_threshold", "breaker: slow_call_rate_threshold 1.5 must be in (0, 1]"},
            {"slow_call_ns", "breaker: slow_call_ns 0 must be > 0"},
            {"open_ns", "breaker: open_ns -1 must be > 0"},
            {"open_backoff", "breaker: open_backoff 0.5 must be a finite number >= 1"},
            {"open_backoff_inf", "breaker: open_backoff inf must be a finite number >= 1"},
            {"open_max_ns", "breaker: open_max_ns 4999 must be >= open_ns 5000000000"},
            {"jitter", "breaker: jitter 1 must be in [0, 1)"},
            {"jitter_neg", "breaker: jitter -0.1 must be in [0, 1)"},
            {"half_open_calls", "breaker: half_open_calls 0 must be >= 1"},
            {"half_open_max_wait_ns", "breaker: half_open_max_wait_ns 0 must be > 0"},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                fg_brk_cfg_t conf = conf_default();
                const char *f = cases[i].field;
                char errstr[256] = "";
                fg_brk_t *brk;

                if (!strcmp(f, "when_open"))
                        conf.when_open = (fg_brk_when_open_t)7;
                else if (!strcmp(f, "window"))
                        conf.window = (fg_brk_window_t)9;
                else if (!strcmp(f, "window_size"))
                        conf.window_size = 0;
                else if (!strcmp(f, "window_size_time"))
                        conf.window = FG_BRK_WINDOW_TIME, conf.window_size = 3601;
                else if (!strcmp(f, "min_calls"))
                        conf.min_calls = 0;
                else if (!strcmp(f, "min_calls_window"))
                        conf.min_calls = 101;
                else if (!strcmp(f, "consecutive_failures"))
                        conf.consecutive_failures = -1;
                else if (!strcmp(f, "failure_rate_threshold"))
                        conf.failure_rate_threshold = 0;
                else if (!strcmp(f, "failure_rate_nan"))
                        conf.failure_rate_threshold = NAN;
                else if (!strcmp(f, "slow_call_rate_threshold"))
                        conf.slow_call_rate_threshold = 1.5;
                else if (!strcmp(f, "slow_call_ns"))
                        conf.slow_call_ns = 0;
                else if (!strcmp(f, "open_ns"))
                        conf.open_ns = -1;
                else if (!strcmp(f, "open_backoff"))
                        conf.open_backoff = 0.5;
                else if (!strcmp(f, "open_backoff_inf"))
                        conf.open_backoff = INFINITY;
                else if (!strcmp(f, "open_max_ns"))
                        conf.open_max_ns = 4999;
                else if (!strcmp(f, "jitter"))
                        conf.jitter = 1;
                else if (!strcmp(f, "jitter_neg"))
                        conf.jitter = -0.1;
                else if (!strcmp(f, "half_open_calls"))
                        conf.half_open_calls = 0;
                else if (!strcmp(f, "half_open_max_wait_ns"))
                        conf.half_open_max_wait_ns = 0;
                brk = fg_brk_new(&conf, 1, NULL, NULL, errstr, sizeof(errstr));
                ck_assert_msg(brk == NULL, "%s: accepted", f);
                ck_assert_msg(strstr(errstr, cases[i].want) != NULL, "%s: \"%s\", expected \"%s\"",
                              f, errstr, cases[i].want);
                /* No errstr buffer: still rejected, nothing written. */
                ck_assert(fg_brk_new(&conf, 1, NULL, NULL, NULL, 0) == NULL);
        }
        {
                char errstr[64] = "";

                ck_assert(fg_brk_new(NULL, 1, NULL, NULL, errstr, sizeof(errstr)) == NULL);
                ck_assert_str_eq(errstr, "breaker: no configuration");
        }
        /* The edges that are allowed. */
        {
                fg_brk_cfg_t conf = conf_default();
                char errstr[256] = "";
                fg_brk_t *brk;

                conf.window_size = 1;
                conf.min_calls = 1;
                conf.failure_rate_threshold = 1;
                conf.slow_call_rate_threshold = 1;
                conf.open_backoff = 1;
                conf.open_max_ns = conf.open_ns;
                conf.jitter = 0.999;
                brk = fg_brk_new(&conf, 0, NULL, NULL, errstr, sizeof(errstr));
                ck_assert_msg(brk != NULL, "%s", errstr);
                fg_brk_destroy(brk);
                conf.window = FG_BRK_WINDOW_TIME;
                conf.window_size = 3600;
                conf.min_calls = 1000000; /* a time window holds any number */
                brk = fg_brk_new(&conf, 0, NULL, NULL, errstr, sizeof(errstr));
                ck_assert_msg(brk != NULL, "%s", errstr);
                fg_brk_destroy(brk);
        }
        fg_brk_destroy(NULL);
}
END_TEST

/* ---- threads ---- */

#define RACE_THREADS 64
#define RACE_ROUNDS  200

struct race {
        pthread_barrier_t start, end;
        fg_brk_t *brk;          /* set by the test thread before start */
        int64_t now;
        bool got[RACE_THREADS];
        fg_brk_permit_t permit[RACE_THREADS];
};

struct racer {
        struct race *r;
        int id;
};

static void *race_thread(void *arg) {
        struct racer *me = arg;
        struct race *r = me->r;

        for (int round = 0; round < RACE_ROUNDS; round++) {
                pthread_barrier_wait(&r->start);
                r->got[me->id] = fg_brk_acquire(r->brk, r->now, &r->permit[me->id]);
                pthread_barrier_wait(&r->end);
        }
        return NULL;
}

START_TEST(test_breaker_concurrent_half_open_exact_permits) {
        static struct race r;
        struct racer racers[RACE_THREADS];
        pthread_t th[RACE_THREADS];
        fg_brk_cfg_t conf = conf_default();

        conf.min_calls = 1;
        pthread_barrier_init(&r.start, NULL, RACE_THREADS + 1);
        pthread_barrier_init(&r.end, NULL, RACE_THREADS + 1);
        for (int i = 0; i < RACE_THREADS; i++) {
                racers[i].r = &r;
                racers[i].id = i;
                ck_assert_int_eq(pthread_create(&th[i], NULL, race_thread, &racers[i]), 0);
        }
        for (int round = 0; round < RACE_ROUNDS; round++) {
                char errstr[256] = "";
                int granted = 0;
                uint64_t gen = 0;
                fg_brk_stats_t st;

                /* 1..8 probes, all far fewer than the 64 racers. */
                conf.half_open_calls = 1 + round % 8;
                r.brk = fg_brk_new(&conf, (uint64_t)round, NULL, NULL, errstr, sizeof(errstr));
                ck_assert_msg(r.brk != NULL, "%s", errstr);
                call(r.brk, S(1), FG_BRK_FAILURE, 0);
                ck_assert_state(r.brk, S(1), FG_BRK_OPEN);
                /* All race at the end of the open: one of them also takes
                 * OPEN -> HALF_OPEN. */
                r.now = S(1) + conf.open_ns + round % 3;
                pthread_barrier_wait(&r.start);
                pthread_barrier_wait(&r.end);
                for (int i = 0; i < RACE_THREADS; i++) {
                        if (!r.got[i])
                                continue;
                        granted++;
                        ck_assert(r.permit[i].half_open);
                        if (!gen)
                                gen = r.permit[i].generation;
                        ck_assert_uint_eq(r.permit[i].generation, gen);
                }
                ck_assert_msg(granted == conf.half_open_calls,
                              "round %d: %d permits, expected %" PRId64, round, granted,
                              conf.half_open_calls);
                st = stats_at(r.brk, r.now);
                ck_assert_int_eq(st.state, FG_BRK_HALF_OPEN);
                ck_assert_uint_eq(st.not_permitted, (uint64_t)(RACE_THREADS - granted));
                ck_assert_uint_eq(st.transitions[FG_BRK_HALF_OPEN], 1);
                fg_brk_destroy(r.brk);
        }
        for (int i = 0; i < RACE_THREADS; i++)
                pthread_join(th[i], NULL);
        pthread_barrier_destroy(&r.start);
        pthread_barrier_destroy(&r.end);
}
END_TEST

#define STRESS_THREADS 8
#define STRESS_ITERS   40000
#define GEN_SLOTS      (1u << 16) /* a run has ~7k generations: no reuse */

/* Shared by the stress threads; the breaker's lock orders the callback's
 * fields, atomics the rest. */
struct stress {
        fg_brk_t *brk;
        int64_t half_open_calls;
        _Atomic int64_t clock;
        /* Probe permits by generation: held by a thread; and used, i.e.
         * held or counted (what the breaker may never exceed). */
        _Atomic int held[GEN_SLOTS], used[GEN_SLOTS];
        _Atomic uint64_t violations, probes, permits;
        /* Written by the callback only (breaker lock held). */
        fg_brk_state_t last_to;
        uint64_t transitions, bad_edges, bad_reasons;
        char first_bad[160];
};

static void stress_cb(fg_brk_state_t from, fg_brk_state_t to, const char *reason, void *opaque) {
        struct stress *s = opaque;
        bool legal = (from == FG_BRK_CLOSED && to == FG_BRK_OPEN) ||
                     (from == FG_BRK_OPEN && to == FG_BRK_HALF_OPEN) ||
                     (from == FG_BRK_HALF_OPEN && (to == FG_BRK_OPEN || to == FG_BRK_CLOSED));
        char tail[32];
        int x, n;

        s->transitions++;
        if (!legal || from != s->last_to) {
                if (!s->bad_edges++)
                        snprintf(s->first_bad, sizeof(s->first_bad), "%s -> %s after -> %s",
                                 fg_brk_state_name(from), fg_brk_state_name(to),
                                 fg_brk_state_name(s->last_to));
        }
        s->last_to = to;
        /* A probe round is decided on exactly half_open_calls outcomes. */
        snprintf(tail, sizeof(tail), "over %" PRId64 " calls", s->half_open_calls);
        if (from == FG_BRK_HALF_OPEN && to == FG_BRK_CLOSED &&
            (sscanf(reason, "probes: %d/%d succeeded", &x, &n) != 2 || n != s->half_open_calls))
                s->bad_reasons++;
        if (from == FG_BRK_HALF_OPEN && to == FG_BRK_OPEN && !strstr(reason, "max wait") &&
            (strncmp(reason, "probes: ", 8) || !strstr(reason, tail)))
                s->bad_reasons++;
}

/* xorshift32 per thread: no shared state, no libc lock. */
static uint32_t rnd(uint32_t *x) {
        *x ^= *x << 13;
        *x ^= *x >> 17;
        *x ^= *x << 5;
        return *x;
}

struct stresser {
        struct stress *s;
        uint32_t seed;
};

static void *stress_thread(void *arg) {
        struct stresser *me = arg;
        struct stress *s = me->s;
        uint32_t x = me->seed;

        for (int i = 0; i < STRESS_ITERS; i++) {
                int64_t now = atomic_fetch_add(&s->clock, (int64_t)(rnd(&x) % 100) * 1000);
                fg_brk_permit_t p;
                fg_brk_state_t st = fg_brk_state(s->brk, now);
                int64_t wait = fg_brk_wait_ns(s->brk, now);
                uint32_t r, slot;

                if (st != FG_BRK_CLOSED && st != FG_BRK_OPEN && st != FG_BRK_HALF_OPEN)
                        atomic_fetch_add(&s->violations, 1);
                if (wait < 0)
                        atomic_fetch_add(&s->violations, 1);
                if (!fg_brk_acquire(s->brk, now, &p))
                        continue;
                atomic_fetch_add(&s->permits, 1);
                slot = p.generation % GEN_SLOTS;
                if (p.half_open) {
                        int h = atomic_fetch_add(&s->held[slot], 1) + 1;
                        int u = atomic_fetch_add(&s->used[slot], 1) + 1;

                        atomic_fetch_add(&s->probes, 1);
                        if (h > s->half_open_calls || u > s->half_open_calls)
                                atomic_fetch_add(&s->violations, 1);
                }
                r = rnd(&x) % 100;
                if (r % 8 == 0)
                        sched_yield(); /* hold the permit a while */
                now = atomic_load(&s->clock);
                /* The books are settled before the breaker can reissue the
                 * permit, so they never overstate what it handed out. */
                if (p.half_open) {
                        atomic_fetch_sub(&s->held[slot], 1);
                        if (r < 5 || (r >= 40 && r < 45))
                                atomic_fetch_sub(&s->used[slot], 1);
                }
                if (r < 5)
                        fg_brk_release(s->brk, &p, now);
                else
                        fg_brk_record(s->brk, &p,
                                      r < 35   ? FG_BRK_FAILURE
                                      : r < 40 ? FG_BRK_BACKPRESSURE
                                      : r < 45 ? FG_BRK_IGNORED
                                               : FG_BRK_SUCCESS,
                                      (int64_t)(rnd(&x) % 3) * MS(1), now);
        }
        return NULL;
}

START_TEST(test_breaker_concurrent_stress_invariants) {
        static struct stress s;
        struct stresser st[STRESS_THREADS];
        pthread_t th[STRESS_THREADS];
        fg_brk_cfg_t conf = conf_default();
        char errstr[256] = "";
        fg_brk_stats_t stats;
        uint64_t sum = 0;

        conf.window_size = 20;
        conf.min_calls = 10;
        conf.slow_call_ns = MS(1);
        conf.slow_call_rate_threshold = 0.9;
        conf.open_ns = MS(1);
        conf.open_max_ns = MS(4);
        conf.jitter = 0.3;
        conf.half_open_calls = 3;
        conf.half_open_max_wait_ns = MS(5);
        memset(&s, 0, sizeof(s));
        s.half_open_calls = conf.half_open_calls;
        s.last_to = FG_BRK_CLOSED;
        s.brk = fg_brk_new(&conf, 99, stress_cb, &s, errstr, sizeof(errstr));
        ck_assert_msg(s.brk != NULL, "%s", errstr);
        for (int i = 0; i < STRESS_THREADS; i++) {
                st[i].s = &s;
                st[i].seed = 2463534242u + 7919u * (uint32_t)i;
                ck_assert_int_eq(pthread_create(&th[i], NULL, stress_thread, &st[i]), 0);
        }
        for (int i = 0; i < STRESS_THREADS; i++)
                pthread_join(th[i], NULL);

        ck_assert_msg(atomic_load(&s.violations) == 0, "%" PRIu64 " invariant violations",
                      (uint64_t)atomic_load(&s.violations));
        ck_assert_msg(s.bad_edges == 0, "%" PRIu64 " illegal transitions, first %s", s.bad_edges,
                      s.first_bad);
        ck_assert_uint_eq(s.bad_reasons, 0);
        fg_brk_get_stats(s.brk, atomic_load(&s.clock), &stats);
        for (int i = 0; i < FG_BRK__STATE_CNT; i++)
                sum += stats.transitions[i];
        ck_assert_uint_eq(sum, s.transitions);
        /* The run went through every kind of transition, many times. */
        ck_assert_uint_gt(stats.transitions[FG_BRK_OPEN], 10);
        ck_assert_uint_gt(stats.transitions[FG_BRK_HALF_OPEN], 10);
        ck_assert_uint_gt(stats.transitions[FG_BRK_CLOSED], 0);
        ck_assert_uint_gt(atomic_load(&s.probes), 0);
        ck_assert_uint_eq(stats.not_permitted + atomic_load(&s.permits),
                          (uint64_t)STRESS_THREADS * STRESS_ITERS);
        fg_brk_destroy(s.brk);
}
END_TEST

static Suite *breaker_suite(void) {
        Suite *s = suite_create("breaker");
        TCase *tc = tcase_create("core");
        TCase *tc_mt = tcase_create("threads");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_breaker_opens_exactly_at_min_calls);
        tcase_add_test(tc, test_breaker_consecutive_failures_trip);
        tcase_add_test(tc, test_breaker_consecutive_failures_per_generation);
        tcase_add_test(tc, test_breaker_consecutive_failures_off);
        tcase_add_test(tc, test_breaker_failure_rate_threshold_exact);
        tcase_add_test(tc, test_breaker_backpressure_counts_as_failure);
        tcase_add_test(tc, test_breaker_ignored_not_counted);
        tcase_add_test(tc, test_breaker_slow_calls_trip);
        tcase_add_test(tc, test_breaker_time_window_evicts_old_failures);
        tcase_add_test(tc, test_breaker_time_window_quiet_period_empties);
        tcase_add_test(tc, test_breaker_count_window_slides);
        tcase_add_test(tc, test_breaker_open_duration_backoff_capped_and_reset);
        tcase_add_test(tc, test_breaker_open_duration_jitter);
        tcase_add_test(tc, test_breaker_half_open_exact_permits);
        tcase_add_test(tc, test_breaker_half_open_all_succeed_closes);
        tcase_add_test(tc, test_breaker_half_open_failures_reopen_longer);
        tcase_add_test(tc, test_breaker_half_open_max_wait_reopens);
        tcase_add_test(tc, test_breaker_half_open_ignored_returns_permit);
        tcase_add_test(tc, test_breaker_half_open_release_returns_permit);
        tcase_add_test(tc, test_breaker_stale_generation_ignored);
        tcase_add_test(tc, test_breaker_forced_open_never_permits);
        tcase_add_test(tc, test_breaker_disabled_always_permits);
        tcase_add_test(tc, test_breaker_wait_ns_per_state);
        tcase_add_test(tc, test_breaker_stats);
        tcase_add_test(tc, test_breaker_transition_reasons);
        tcase_add_test(tc, test_breaker_rejects_bad_conf);
        suite_add_tcase(s, tc);

        /* TSan slows the races down a lot; they still finish in seconds. */
        tcase_set_timeout(tc_mt, 300);
        tcase_add_test(tc_mt, test_breaker_concurrent_half_open_exact_permits);
        tcase_add_test(tc_mt, test_breaker_concurrent_stress_invariants);
        suite_add_tcase(s, tc_mt);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(breaker_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
