/*
 * check_offsets: the per-partition completion tracker — contiguous-prefix
 * advancement, gaps in offsets, discard, untrack, ring growth, the counts,
 * wait_idle, reference counting (run under ASan for leaks and double
 * frees), and completion from four threads while the owner advances (run
 * it under TSan too).
 *
 * Deterministic: orders come from a seeded xorshift; cross-thread waits are
 * joins or the tracker's own condition variable, bounded generously.
 */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "pipeline/offsets.h"

#define BOUND_NS (10 * FG_NS_PER_S)

static uint64_t xorshift(uint64_t *s) {
        uint64_t x = *s;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return *s = x;
}

/* Fisher-Yates over @p v. */
static void shuffle(uint64_t *v, size_t n, uint64_t seed) {
        uint64_t s = seed;
        for (size_t i = n; i > 1; i--) {
                size_t j = (size_t)(xorshift(&s) % i);
                uint64_t t = v[i - 1];
                v[i - 1] = v[j];
                v[j] = t;
        }
}

static int64_t advance_to(fg_part_t *p) {
        int64_t next = -12345;
        ck_assert_msg(fg_part_advance(p, &next), "advance did not move");
        return next;
}

static void assert_no_advance(fg_part_t *p) {
        int64_t next = -12345;
        ck_assert(!fg_part_advance(p, &next));
        ck_assert_int_eq(next, -12345); /* untouched when it did not move */
}

START_TEST(test_offsets_in_order_advance) {
        fg_part_t *p = fg_part_new("orders", 3);
        uint64_t seq[5];

        ck_assert_str_eq(fg_part_topic(p), "orders");
        ck_assert_int_eq(fg_part_partition(p), 3);
        assert_no_advance(p); /* nothing tracked */

        for (int i = 0; i < 5; i++) {
                seq[i] = fg_part_track(p, 100 + i);
                if (i)
                        ck_assert_uint_eq(seq[i], seq[i - 1] + 1);
        }
        for (int i = 0; i < 5; i++) {
                assert_no_advance(p);
                fg_part_done(p, seq[i]);
                ck_assert_int_eq(advance_to(p), 100 + i + 1);
        }
        assert_no_advance(p);

        /* Several done at once retire together. */
        for (int i = 0; i < 5; i++)
                seq[i] = fg_part_track(p, 200 + i);
        for (int i = 0; i < 5; i++)
                fg_part_done(p, seq[i]);
        ck_assert_int_eq(advance_to(p), 205);
        ck_assert_uint_eq(fg_part_outstanding(p), 0);
        fg_part_unref(p);
}
END_TEST

START_TEST(test_offsets_out_of_order_prefix) {
        fg_part_t *p = fg_part_new("t", 0);
        uint64_t s1 = fg_part_track(p, 1);
        uint64_t s2 = fg_part_track(p, 2);
        uint64_t s3 = fg_part_track(p, 3);

        fg_part_done(p, s3);
        assert_no_advance(p);
        fg_part_done(p, s1);
        ck_assert_int_eq(advance_to(p), 2);
        assert_no_advance(p);
        fg_part_done(p, s2);
        ck_assert_int_eq(advance_to(p), 4); /* 2 and the waiting 3 */
        assert_no_advance(p);

        /* A later hole: only up to it. */
        s1 = fg_part_track(p, 4);
        s2 = fg_part_track(p, 5);
        s3 = fg_part_track(p, 6);
        fg_part_done(p, s1);
        fg_part_done(p, s3);
        ck_assert_int_eq(advance_to(p), 5);
        fg_part_done(p, s2);
        ck_assert_int_eq(advance_to(p), 7);
        fg_part_unref(p);
}
END_TEST

START_TEST(test_offsets_gaps_in_offsets) {
        fg_part_t *p = fg_part_new("compacted", 1);
        uint64_t a = fg_part_track(p, 10);
        uint64_t b = fg_part_track(p, 15);
        uint64_t c = fg_part_track(p, 30);

        fg_part_done(p, a);
        ck_assert_int_eq(advance_to(p), 11);
        fg_part_done(p, b);
        ck_assert_int_eq(advance_to(p), 16);
        fg_part_done(p, c);
        ck_assert_int_eq(advance_to(p), 31);

        a = fg_part_track(p, 1000);
        b = fg_part_track(p, 5000);
        fg_part_done(p, b);
        fg_part_done(p, a);
        ck_assert_int_eq(advance_to(p), 5001);

        /* Advance counts messages retired, not offsets passed: commit
         * pacing (kafka.commit_every) counts events. */
        a = fg_part_track(p, 6000);
        b = fg_part_track(p, 6500);
        c = fg_part_track(p, 9000);
        fg_part_done(p, a);
        fg_part_done(p, b);
        fg_part_done(p, c);
        {
                int64_t next = 0;
                ck_assert_uint_eq(fg_part_advance(p, &next), 3);
                ck_assert_int_eq(next, 9001);
        }
        fg_part_unref(p);
}
END_TEST

START_TEST(test_offsets_discard_blocks_advance) {
        fg_part_t *p = fg_part_new("t", 0);
        uint64_t seq[5];

        for (int i = 0; i < 5; i++)
                seq[i] = fg_part_track(p, 50 + i);
        fg_part_done(p, seq[0]);
        fg_part_discard(p, seq[1]);
        ck_assert_uint_eq(fg_part_pending(p), 3);
        for (int i = 2; i < 5; i++)
                fg_part_done(p, seq[i]);
        ck_assert_uint_eq(fg_part_pending(p), 0);
        ck_assert_int_eq(advance_to(p), 51); /* up to the discarded one */
        assert_no_advance(p);
        ck_assert_uint_eq(fg_part_outstanding(p), 4);

        /* Completing the discarded one later does not unblock it. */
        fg_part_done(p, seq[1]);
        ck_assert_uint_eq(fg_part_pending(p), 0);
        assert_no_advance(p);

        /* Nor does anything tracked after it. */
        for (int i = 0; i < 100; i++)
                fg_part_done(p, fg_part_track(p, 100 + i));
        assert_no_advance(p);
        ck_assert_uint_eq(fg_part_pending(p), 0);
        ck_assert_uint_eq(fg_part_outstanding(p), 104);
        ck_assert(fg_part_wait_idle(p, 0));
        fg_part_unref(p);
}
END_TEST

START_TEST(test_offsets_untrack_last) {
        fg_part_t *p = fg_part_new("t", 0);
        uint64_t a = fg_part_track(p, 10);
        uint64_t b = fg_part_track(p, 11);
        uint64_t c = fg_part_track(p, 12);
        uint64_t d;

        fg_part_untrack_last(p, b); /* not the last: ignored */
        ck_assert_uint_eq(fg_part_outstanding(p), 3);
        ck_assert_uint_eq(fg_part_pending(p), 3);

        fg_part_untrack_last(p, c);
        ck_assert_uint_eq(fg_part_outstanding(p), 2);
        ck_assert_uint_eq(fg_part_pending(p), 2);

        /* Its sequence number is handed out again, with the new offset. */
        d = fg_part_track(p, 13);
        ck_assert_uint_eq(d, c);
        fg_part_done(p, a);
        fg_part_done(p, b);
        fg_part_done(p, d);
        ck_assert_int_eq(advance_to(p), 14);
        ck_assert_uint_eq(fg_part_outstanding(p), 0);

        /* Nothing left to undo once retired. */
        fg_part_untrack_last(p, d);
        ck_assert_uint_eq(fg_part_outstanding(p), 0);
        ck_assert_uint_eq(fg_part_pending(p), 0);
        a = fg_part_track(p, 20);
        ck_assert_uint_eq(a, d + 1);
        fg_part_done(p, a);
        ck_assert_int_eq(advance_to(p), 21);
        fg_part_unref(p);
}
END_TEST

START_TEST(test_offsets_done_twice_or_stale_ignored) {
        fg_part_t *p = fg_part_new("t", 0);
        uint64_t a = fg_part_track(p, 1);
        uint64_t b = fg_part_track(p, 2);

        fg_part_done(p, a);
        fg_part_done(p, a);
        ck_assert_uint_eq(fg_part_pending(p), 1);
        fg_part_discard(p, a); /* already done: stays done */
        ck_assert_int_eq(advance_to(p), 2);
        fg_part_done(p, a);    /* retired: ignored */
        fg_part_done(p, b + 5); /* never tracked: ignored */
        ck_assert_uint_eq(fg_part_pending(p), 1);
        ck_assert_uint_eq(fg_part_outstanding(p), 1);
        fg_part_done(p, b);
        ck_assert_int_eq(advance_to(p), 3);
        fg_part_unref(p);
}
END_TEST

#define GROW_N 10000

/* Past the initial ring of 64: 10000 outstanding, completed in random
 * order with advances in between, reaching exactly the end. */
START_TEST(test_offsets_ring_growth) {
        fg_part_t *p = fg_part_new("t", 0);
        uint64_t *order = malloc(GROW_N * sizeof(*order));
        int64_t last = -1, offset = 0, end = -1, next;
        uint64_t s = 42;

        ck_assert_ptr_nonnull(order);
        /* Retire a few first so the ring's head is not at slot 0 when it
         * grows. */
        for (int i = 0; i < 37; i++)
                fg_part_done(p, fg_part_track(p, offset++));
        ck_assert_int_eq(advance_to(p), 37);

        for (size_t i = 0; i < GROW_N; i++) {
                end = offset;
                order[i] = fg_part_track(p, end);
                offset += 1 + (int64_t)(xorshift(&s) % 3); /* with gaps */
        }
        ck_assert_uint_eq(fg_part_outstanding(p), GROW_N);
        ck_assert_uint_eq(fg_part_pending(p), GROW_N);
        shuffle(order, GROW_N, 7);
        for (size_t i = 0; i < GROW_N; i++) {
                fg_part_done(p, order[i]);
                if (i % 97 == 0 && fg_part_advance(p, &next)) {
                        ck_assert_int_gt(next, last);
                        last = next;
                }
        }
        ck_assert_uint_eq(fg_part_pending(p), 0);
        ck_assert_int_eq(advance_to(p), end + 1);
        ck_assert_uint_eq(fg_part_outstanding(p), 0);

        /* The grown ring keeps working across its wrap. */
        for (int round = 0; round < 3; round++) {
                uint64_t seq[300];
                for (int i = 0; i < 300; i++)
                        seq[i] = fg_part_track(p, offset + i);
                for (int i = 299; i >= 0; i--)
                        fg_part_done(p, seq[i]);
                ck_assert_int_eq(advance_to(p), offset + 300);
                offset += 300;
        }
        free(order);
        fg_part_unref(p);
}
END_TEST

START_TEST(test_offsets_pending_outstanding) {
        fg_part_t *p = fg_part_new("t", 0);
        uint64_t seq[6];

        ck_assert_uint_eq(fg_part_pending(p), 0);
        ck_assert_uint_eq(fg_part_outstanding(p), 0);
        for (int i = 0; i < 6; i++)
                seq[i] = fg_part_track(p, i);
        ck_assert_uint_eq(fg_part_pending(p), 6);
        ck_assert_uint_eq(fg_part_outstanding(p), 6);

        fg_part_done(p, seq[1]);     /* done but blocked behind 0 */
        fg_part_discard(p, seq[3]);
        ck_assert_uint_eq(fg_part_pending(p), 4);
        ck_assert_uint_eq(fg_part_outstanding(p), 6);
        assert_no_advance(p);

        fg_part_done(p, seq[0]);
        ck_assert_int_eq(advance_to(p), 2);
        ck_assert_uint_eq(fg_part_pending(p), 3);
        ck_assert_uint_eq(fg_part_outstanding(p), 4);

        fg_part_done(p, seq[2]);
        fg_part_done(p, seq[4]);
        fg_part_done(p, seq[5]);
        ck_assert_int_eq(advance_to(p), 3); /* stops at the discarded 3 */
        ck_assert_uint_eq(fg_part_pending(p), 0);
        ck_assert_uint_eq(fg_part_outstanding(p), 3);
        fg_part_unref(p);
}
END_TEST

typedef struct completer {
        fg_part_t *p;
        pthread_t th;
        const uint64_t *seqs;
        size_t n;
} completer_t;

static void *completer_main(void *opaque) {
        completer_t *c = opaque;
        for (size_t i = 0; i < c->n; i++)
                fg_part_done(c->p, c->seqs[i]);
        return NULL;
}

START_TEST(test_offsets_wait_idle) {
        fg_part_t *p = fg_part_new("t", 0);
        uint64_t a, b;
        completer_t c;
        int64_t t0;

        t0 = fg_mono_ns();
        ck_assert(fg_part_wait_idle(p, 60 * FG_NS_PER_S)); /* nothing tracked */
        ck_assert_int_lt(fg_mono_ns() - t0, BOUND_NS);

        a = fg_part_track(p, 1);
        b = fg_part_track(p, 2);
        t0 = fg_mono_ns();
        ck_assert(!fg_part_wait_idle(p, 20 * FG_NS_PER_MS));
        ck_assert(!fg_part_wait_idle(p, 0));
        ck_assert_int_lt(fg_mono_ns() - t0, BOUND_NS);

        fg_part_done(p, a);
        ck_assert(!fg_part_wait_idle(p, 0));

        /* Another thread completes the last pending one while we wait. */
        c = (completer_t){.p = p, .seqs = &b, .n = 1};
        t0 = fg_mono_ns();
        ck_assert_int_eq(pthread_create(&c.th, NULL, completer_main, &c), 0);
        ck_assert(fg_part_wait_idle(p, 60 * FG_NS_PER_S));
        ck_assert_int_lt(fg_mono_ns() - t0, BOUND_NS);
        pthread_join(c.th, NULL);

        /* Discarding also counts as no longer pending. */
        a = fg_part_track(p, 3);
        fg_part_discard(p, a);
        ck_assert(fg_part_wait_idle(p, 0));
        ck_assert_int_eq(advance_to(p), 3);
        fg_part_unref(p);
}
END_TEST

static void *ref_churn_main(void *opaque) {
        fg_part_t *p = opaque;
        for (int i = 0; i < 10000; i++) {
                fg_part_ref(p);
                fg_part_unref(p);
        }
        /* Drop the reference the spawner took for this thread. */
        fg_part_unref(p);
        return NULL;
}

START_TEST(test_offsets_refcount) {
        char topic[] = "mutable";
        fg_part_t *p = fg_part_new(topic, 9);
        pthread_t th[4];

        /* The topic is copied. */
        topic[0] = 'X';
        ck_assert_str_eq(fg_part_topic(p), "mutable");

        fg_part_ref(p);
        fg_part_ref(p);
        fg_part_unref(p);
        fg_part_unref(p);
        ck_assert_int_eq(fg_part_partition(p), 9); /* still alive: ASan would say */

        for (int i = 0; i < 4; i++) {
                fg_part_ref(p);
                ck_assert_int_eq(pthread_create(&th[i], NULL, ref_churn_main, p), 0);
        }
        /* The creator's reference goes first; the threads keep it alive. */
        fg_part_unref(p);
        for (int i = 0; i < 4; i++)
                pthread_join(th[i], NULL);
        /* Freed exactly once by the last unref: ASan reports a leak
         * otherwise, a double free or use after free if too early. */
        fg_part_unref(NULL);
}
END_TEST

/*
 * Four threads complete disjoint random subsets of 100000 sequences while
 * the owner advances repeatedly: successive results never go backwards and
 * the last one is exactly the last offset + 1.
 */
#define CONC_N       100000
#define CONC_THREADS 4

START_TEST(test_offsets_concurrent_completion) {
        fg_part_t *p = fg_part_new("t", 0);
        uint64_t *all = malloc(CONC_N * sizeof(*all));
        completer_t c[CONC_THREADS];
        int64_t last = -1, end = 0, next;
        size_t advances = 0, per = CONC_N / CONC_THREADS;

        ck_assert_ptr_nonnull(all);
        for (size_t i = 0; i < CONC_N; i++) {
                end = 1000 + 2 * (int64_t)i; /* even offsets: gaps too */
                all[i] = fg_part_track(p, end);
        }
        shuffle(all, CONC_N, 0xdecafbad);

        for (int t = 0; t < CONC_THREADS; t++) {
                c[t] = (completer_t){.p = p, .seqs = all + t * per,
                                     .n = t == CONC_THREADS - 1 ? CONC_N - t * per : per};
                ck_assert_int_eq(pthread_create(&c[t].th, NULL, completer_main, &c[t]), 0);
        }
        /* Advance while they run, until everything is retired. The loop
         * ends because the threads finish; Check's timeout bounds it. */
        while (last != end + 1) {
                if (fg_part_advance(p, &next)) {
                        ck_assert_msg(next > last, "advance went from %lld to %lld",
                                      (long long)last, (long long)next);
                        ck_assert_int_le(next, end + 1);
                        last = next;
                        advances++;
                } else {
                        sched_yield();
                }
        }
        for (int t = 0; t < CONC_THREADS; t++)
                pthread_join(c[t].th, NULL);
        ck_assert(!fg_part_advance(p, &next));
        ck_assert_int_eq(last, end + 1);
        ck_assert_uint_eq(fg_part_pending(p), 0);
        ck_assert_uint_eq(fg_part_outstanding(p), 0);
        ck_assert_uint_gt(advances, 0);
        free(all);
        fg_part_unref(p);
}
END_TEST

static Suite *offsets_suite(void) {
        Suite *s = suite_create("offsets");
        TCase *tc = tcase_create("core");
        TCase *tc_mt = tcase_create("threads");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_offsets_in_order_advance);
        tcase_add_test(tc, test_offsets_out_of_order_prefix);
        tcase_add_test(tc, test_offsets_gaps_in_offsets);
        tcase_add_test(tc, test_offsets_discard_blocks_advance);
        tcase_add_test(tc, test_offsets_untrack_last);
        tcase_add_test(tc, test_offsets_done_twice_or_stale_ignored);
        tcase_add_test(tc, test_offsets_ring_growth);
        tcase_add_test(tc, test_offsets_pending_outstanding);
        suite_add_tcase(s, tc);

        tcase_set_timeout(tc_mt, 300);
        tcase_add_test(tc_mt, test_offsets_wait_idle);
        tcase_add_test(tc_mt, test_offsets_refcount);
        tcase_add_test(tc_mt, test_offsets_concurrent_completion);
        suite_add_tcase(s, tc_mt);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(offsets_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
