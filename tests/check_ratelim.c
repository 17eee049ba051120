/*
 * check_ratelim: the token bucket behind sink.rate_limit (common/ratelim.h)
 * — pure logic on an injected clock: the long-run rate is held exactly,
 * a quiet spell buys at most one burst, a batch larger than the burst
 * still goes out and delays the next, and threads sharing one bucket
 * together stay under the cap.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "common/clock.h"
#include "common/ratelim.h"
#include <sched.h>
#include <stdbool.h>

#define S(x) ((int64_t)(x) * FG_NS_PER_S)
#define MS(x) ((int64_t)(x) * FG_NS_PER_MS)

/* Asks for @p n at @p *now until granted, advancing the clock by what it
 * says to wait; returns how many refusals that took. */
static int take_waiting(fg_ratelim_t *rl, int64_t n, int64_t *now) {
        int refusals = 0;
        int64_t wait;

        while ((wait = fg_ratelim_take(rl, n, *now)) > 0) {
                ck_assert_int_le(wait, S(100));
                *now += wait;
                refusals++;
        }
        return refusals;
}

START_TEST(test_ratelim_rejects_bad_arguments) {
        ck_assert_ptr_null(fg_ratelim_new(0, 0, 0));
        ck_assert_ptr_null(fg_ratelim_new(-5, 0, 0));
        ck_assert_ptr_null(fg_ratelim_new(10, -1, 0));
        fg_ratelim_destroy(NULL);
}
END_TEST

/* 1,000 events/s, batches of 7, as fast as allowed for 10 simulated
 * seconds: the count sent is the burst plus 10 s worth, within one batch. */
START_TEST(test_ratelim_holds_the_rate) {
        int64_t now = S(1000), start = now, sent = 0;
        fg_ratelim_t *rl = fg_ratelim_new(1000, 100, now);

        ck_assert_ptr_nonnull(rl);
        while (now - start < S(10)) {
                take_waiting(rl, 7, &now);
                if (now - start < S(10))
                        sent += 7;
        }
        ck_assert_int_ge(sent, 100 + 10000 - 7);
        ck_assert_int_le(sent, 100 + 10000 + 7);
        fg_ratelim_destroy(rl);
}
END_TEST

/* After a long quiet spell, at most one burst goes at once. */
START_TEST(test_ratelim_quiet_buys_one_burst) {
        int64_t now = 0;
        fg_ratelim_t *rl = fg_ratelim_new(100, 20, now);

        now += S(3600);
        for (int i = 0; i < 20; i++)
                ck_assert_int_eq(fg_ratelim_take(rl, 1, now), 0);
        /* The 21st waits one token's time: 10 ms at 100/s. */
        ck_assert_int_eq(fg_ratelim_take(rl, 1, now), MS(10));
        ck_assert_int_eq(fg_ratelim_take(rl, 1, now + MS(10)), 0);
        fg_ratelim_destroy(rl);
}
END_TEST

/* A batch larger than the burst is granted when the bucket is full, and
 * the debt delays the next request. burst 0 means one second's worth. */
START_TEST(test_ratelim_big_batch_goes_alone) {
        int64_t now = 0;
        fg_ratelim_t *rl = fg_ratelim_new(50, 0, now);

        ck_assert_int_eq(fg_ratelim_take(rl, 500, now), 0);
        /* 450 events of debt plus one: 451 / 50 per s. */
        ck_assert_int_eq(fg_ratelim_take(rl, 1, now), (451 * FG_NS_PER_S + 49) / 50);
        /* A full burst (50) needs a full bucket: 500 / 50 s = 10 s. */
        ck_assert_int_eq(fg_ratelim_take(rl, 50, now), S(10));
        ck_assert_int_eq(fg_ratelim_take(rl, 50, now + S(10)), 0);
        fg_ratelim_destroy(rl);
}
END_TEST

/* A clock that does not move (or moves back) never mints tokens. */
START_TEST(test_ratelim_clock_backwards) {
        int64_t now = S(5);
        fg_ratelim_t *rl = fg_ratelim_new(10, 1, now);

        ck_assert_int_eq(fg_ratelim_take(rl, 1, now), 0);
        ck_assert_int_gt(fg_ratelim_take(rl, 1, now - S(1)), 0);
        ck_assert_int_gt(fg_ratelim_take(rl, 1, now), 0);
        ck_assert_int_eq(fg_ratelim_take(rl, 1, now + MS(100)), 0);
        fg_ratelim_destroy(rl);
}
END_TEST

/* Four threads share one bucket on a shared simulated clock that a fifth
 * thread advances: what they are granted together stays under the cap. */
typedef struct shared {
        fg_ratelim_t *rl;
        _Atomic int64_t now;
        _Atomic int64_t granted;
        _Atomic bool stop;
} shared_t;

static void *taker(void *arg) {
        shared_t *sh = arg;
        while (!atomic_load(&sh->stop))
                if (fg_ratelim_take(sh->rl, 3, atomic_load(&sh->now)) == 0)
                        atomic_fetch_add(&sh->granted, 3);
        return NULL;
}

START_TEST(test_ratelim_threads_share_the_cap) {
        shared_t sh = {.rl = fg_ratelim_new(2000, 10, 0)};
        pthread_t th[4];

        for (int i = 0; i < 4; i++)
                ck_assert_int_eq(pthread_create(&th[i], NULL, taker, &sh), 0);
        /* 10 simulated seconds in 1 ms steps. */
        for (int step = 1; step <= 10000; step++) {
                atomic_store(&sh.now, MS(step));
                if (step % 100 == 0)
                        sched_yield();
        }
        atomic_store(&sh.stop, true);
        for (int i = 0; i < 4; i++)
                pthread_join(th[i], NULL);
        /* At most the initial burst + 10 s worth + one batch of debt. */
        ck_assert_int_le(atomic_load(&sh.granted), 10 + 20000 + 3);
        ck_assert_int_gt(atomic_load(&sh.granted), 0);
        fg_ratelim_destroy(sh.rl);
}
END_TEST

static Suite *ratelim_suite(void) {
        Suite *s = suite_create("ratelim");
        TCase *tc = tcase_create("bucket");

        tcase_add_test(tc, test_ratelim_rejects_bad_arguments);
        tcase_add_test(tc, test_ratelim_holds_the_rate);
        tcase_add_test(tc, test_ratelim_quiet_buys_one_burst);
        tcase_add_test(tc, test_ratelim_big_batch_goes_alone);
        tcase_add_test(tc, test_ratelim_clock_backwards);
        tcase_add_test(tc, test_ratelim_threads_share_the_cap);
        tcase_set_timeout(tc, 60);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(ratelim_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
