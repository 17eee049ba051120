/*
 * check_queue: the bounded item queue — bounds by messages and bytes, FIFO
 * order, batch pushes (partial, in order, oversized items), both watermarks
 * (exactly at the edges, by count and by bytes), waiting for the low
 * watermark, remove_if, close, the gauges, and one producer against four
 * consumers moving every item exactly once (run it under TSan too).
 *
 * Items here carry no message and no partition: every test drains its queue
 * before destroying it, so fg_item_abandon() is never reached. Waits are on
 * conditions or joins; the only clock checks are generous upper bounds (and
 * one lower bound a timed wait must honour).
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "pipeline/queue.h"

/* "Returns within a generous bound": far above any plausible scheduling
 * delay, far below the 60 s that a wrongly blocking call would take. */
#define BOUND_NS    (10 * FG_NS_PER_S)
#define LONG_WAIT   (60 * FG_NS_PER_S)

static fg_queue_t *queue_new(size_t capacity, size_t max_bytes, double high, double low) {
        char errstr[256] = "";
        fg_queue_cfg_t qc = {(int64_t)capacity, (int64_t)max_bytes, high, low};
        fg_queue_t *q = fg_queue_new(&qc, errstr, sizeof(errstr));

        ck_assert_msg(q != NULL, "fg_queue_new(%zu, %zu, %g, %g): %s", capacity, max_bytes, high,
                      low, errstr);
        return q;
}

static fg_item_t item_of(uint64_t seq, uint32_t bytes) {
        fg_item_t it = {.rkm = NULL, .part = NULL, .seq = seq, .enq_ns = 0, .bytes = bytes};
        return it;
}

/* A push of one item; false when it was refused (full, or closed). */
static bool push_one(fg_queue_t *q, uint64_t seq, uint32_t bytes, bool *above) {
        fg_item_t it = item_of(seq, bytes);
        return fg_queue_push_batch(q, &it, 1, above) == 1;
}

/* Pushes one item and asserts it was taken; returns above_high. */
static bool push_ok(fg_queue_t *q, uint64_t seq, uint32_t bytes) {
        bool above = false;

        ck_assert_msg(push_one(q, seq, bytes, &above), "push seq %llu (%u bytes) refused",
                      (unsigned long long)seq, bytes);
        return above;
}

/* Pushes one item and asserts it was refused; returns above_high. */
static bool push_refused(fg_queue_t *q, uint64_t seq, uint32_t bytes) {
        bool above = false;

        ck_assert_msg(!push_one(q, seq, bytes, &above), "push seq %llu (%u bytes) accepted",
                      (unsigned long long)seq, bytes);
        return above;
}

/* Pushes a batch and asserts how many were taken; returns above_high. */
static bool push_batch_n(fg_queue_t *q, const fg_item_t *items, size_t n, size_t want) {
        bool above = false;
        size_t got = fg_queue_push_batch(q, items, n, &above);

        ck_assert_msg(got == want, "push_batch of %zu took %zu, expected %zu", n, got, want);
        return above;
}

/* Pops exactly one item (the queue must not be empty) and returns its seq. */
static uint64_t pop_one(fg_queue_t *q) {
        fg_item_t it;
        size_t n = fg_queue_pop(q, &it, 1, 0);

        ck_assert_uint_eq(n, 1);
        return it.seq;
}

static void drain(fg_queue_t *q) {
        fg_item_t out[64];
        while (fg_queue_pop(q, out, 64, 0) > 0)
                ;
        ck_assert_uint_eq(fg_queue_depth(q), 0);
}

static int64_t elapsed_since(int64_t t0) { return fg_mono_ns() - t0; }

/* At or below low right now (a wait that does not wait). */
static bool at_low(fg_queue_t *q) { return fg_queue_wait_below_low(q, 0); }

/* Lets a thread just started reach its blocking call, so that the wake-up
 * path is what usually runs. Not synchronisation: every test that uses it
 * holds whichever thread gets there first. A bounded wait on an idle queue. */
static void give_a_moment(void) {
        fg_queue_t *idle = queue_new(1, 1, 1.0, 0.0);
        fg_item_t out[1];

        ck_assert_uint_eq(fg_queue_pop(idle, out, 1, 50 * FG_NS_PER_MS), 0);
        fg_queue_destroy(idle);
}

/* A thread blocked in fg_queue_wait_below_low(), as ingest is. done is set
 * when the wait returns, so the test can check it has not returned yet. */
typedef struct low_waiter {
        fg_queue_t *q;
        pthread_t th;
        bool below;
        int64_t took_ns;
        atomic_bool done;
} low_waiter_t;

static void *low_waiter_main(void *opaque) {
        low_waiter_t *w = opaque;
        int64_t t0 = fg_mono_ns();

        w->below = fg_queue_wait_below_low(w->q, LONG_WAIT);
        w->took_ns = fg_mono_ns() - t0;
        atomic_store(&w->done, true);
        return NULL;
}

static void low_waiter_start(low_waiter_t *w, fg_queue_t *q) {
        w->q = q;
        w->below = false;
        w->took_ns = 0;
        atomic_init(&w->done, false);
        ck_assert_int_eq(pthread_create(&w->th, NULL, low_waiter_main, w), 0);
}

/* Joins and asserts the wait ended with true, long before its timeout. */
static void low_waiter_join_woken(low_waiter_t *w) {
        ck_assert_int_eq(pthread_join(w->th, NULL), 0);
        ck_assert(w->below);
        ck_assert_int_lt(w->took_ns, BOUND_NS);
}

START_TEST(test_queue_rejects_bad_bounds) {
        static const struct {
                size_t capacity, max_bytes;
                double high, low;
        } bad[] = {
            {0, 1000, 0.8, 0.5},       /* no capacity */
            {10, 0, 0.8, 0.5},         /* no bytes */
            {10, 1000, 0.0, 0.0},      /* high must be above 0 */
            {10, 1000, -0.5, -0.6},
            {10, 1000, 1.01, 0.5},     /* high at most 1 */
            {10, 1000, 0.8, -0.1},     /* low at least 0 */
            {10, 1000, 0.8, 0.8},      /* low below high */
            {10, 1000, 0.5, 0.8},
            {10, 1000, NAN, 0.5},       /* NaN */
            {10, 1000, 0.8, NAN},
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char errstr[256] = "";
                fg_queue_cfg_t qc = {(int64_t)bad[i].capacity, (int64_t)bad[i].max_bytes,
                                     bad[i].high, bad[i].low};
                fg_queue_t *q = fg_queue_new(&qc, errstr, sizeof(errstr));
                ck_assert_msg(q == NULL, "case %zu accepted", i);
                ck_assert_msg(errstr[0] != '\0', "case %zu: empty errstr", i);
        }

        /* The extremes that are allowed. */
        fg_queue_destroy(queue_new(1, 1, 1.0, 0.0));
        fg_queue_destroy(queue_new(10, 1000, 0.01, 0.0));
        fg_queue_destroy(NULL);
}
END_TEST

START_TEST(test_queue_fifo_order) {
        fg_queue_t *q = queue_new(4, 1 << 20, 1.0, 0.5);
        uint64_t next_in = 0, next_out = 0;

        /* Interleave pushes and pops so the ring wraps many times. */
        for (int round = 0; round < 100; round++) {
                int pushes = 1 + round % 4;
                for (int i = 0; i < pushes && fg_queue_depth(q) < 4; i++)
                        push_ok(q, next_in++, 10);
                while (fg_queue_depth(q) > (size_t)(round % 2))
                        ck_assert_uint_eq(pop_one(q), next_out++);
        }
        while (fg_queue_depth(q))
                ck_assert_uint_eq(pop_one(q), next_out++);
        ck_assert_uint_eq(next_out, next_in);
        fg_queue_destroy(q);
}
END_TEST

START_TEST(test_queue_full_by_messages) {
        fg_queue_t *q = queue_new(4, 1 << 20, 1.0, 0.5);
        fg_item_t it = item_of(99, 10), copy;
        fg_item_t out[8];
        bool above = false;

        for (uint64_t i = 0; i < 4; i++)
                push_ok(q, i, 10);
        copy = it;
        ck_assert_uint_eq(fg_queue_push_batch(q, &it, 1, &above), 0);
        ck_assert(above);
        /* The caller keeps the item: untouched, and not in the queue. */
        ck_assert_mem_eq(&it, &copy, sizeof(it));
        ck_assert_uint_eq(fg_queue_depth(q), 4);
        ck_assert_uint_eq(fg_queue_bytes(q), 40);

        ck_assert_uint_eq(pop_one(q), 0);
        push_ok(q, 4, 10);
        push_refused(q, 5, 10);
        ck_assert_uint_eq(fg_queue_pop(q, out, 8, 0), 4);
        for (size_t i = 0; i < 4; i++)
                ck_assert_uint_eq(out[i].seq, i + 1);
        fg_queue_destroy(q);
}
END_TEST

START_TEST(test_queue_full_by_bytes) {
        fg_queue_t *q = queue_new(100, 100, 1.0, 0.5);

        push_ok(q, 0, 60);
        push_refused(q, 1, 50);
        ck_assert_uint_eq(fg_queue_bytes(q), 60);
        push_ok(q, 2, 40); /* exactly max_bytes fits */
        ck_assert_uint_eq(fg_queue_bytes(q), 100);
        push_refused(q, 3, 1);
        push_ok(q, 4, 0); /* zero bytes still fit */
        drain(q);
        ck_assert_uint_eq(fg_queue_bytes(q), 0);

        /* Bigger than max_bytes: only into an empty queue. */
        push_ok(q, 10, 1);
        push_refused(q, 11, 500);
        ck_assert_uint_eq(pop_one(q), 10);
        push_ok(q, 11, 500);
        ck_assert_uint_eq(fg_queue_bytes(q), 500);
        push_refused(q, 12, 1);
        push_refused(q, 13, 0);
        ck_assert_uint_eq(pop_one(q), 11);
        ck_assert_uint_eq(fg_queue_bytes(q), 0);
        push_ok(q, 12, 1);
        drain(q);
        fg_queue_destroy(q);
}
END_TEST

START_TEST(test_queue_above_high_by_messages) {
        /* 10 * 0.8 = 8 messages; bytes never come near their mark. */
        fg_queue_t *q = queue_new(10, 1 << 20, 0.8, 0.3);

        for (uint64_t i = 0; i < 7; i++)
                ck_assert_msg(!push_ok(q, i, 1), "above_high at %llu messages",
                              (unsigned long long)i + 1);
        ck_assert(push_ok(q, 7, 1));  /* 8: exactly at the mark */
        ck_assert(push_ok(q, 8, 1));  /* 9: above */
        pop_one(q);
        pop_one(q);
        ck_assert(push_ok(q, 9, 1));  /* 7 + 1 = 8 */
        pop_one(q);
        pop_one(q);
        ck_assert(!push_ok(q, 10, 1)); /* 6 + 1 = 7 */
        drain(q);
        fg_queue_destroy(q);
}
END_TEST

START_TEST(test_queue_above_high_by_bytes) {
        /* 1000 * 0.8 = 800 bytes; messages never come near theirs. */
        fg_queue_t *q = queue_new(1000, 1000, 0.8, 0.3);

        ck_assert(!push_ok(q, 0, 500));
        ck_assert(!push_ok(q, 1, 299)); /* 799 */
        ck_assert(push_ok(q, 2, 1));    /* 800: exactly at the mark */
        ck_assert_uint_eq(pop_one(q), 0);
        ck_assert(!push_ok(q, 3, 499)); /* 799 again */
        ck_assert(push_ok(q, 4, 100));  /* 899 */
        drain(q);

        /* One oversized item in an empty queue is above high, too. */
        ck_assert(push_ok(q, 5, 5000));
        drain(q);
        fg_queue_destroy(q);
}
END_TEST

START_TEST(test_queue_push_batch_partial_keeps_order) {
        fg_queue_t *q = queue_new(8, 1 << 20, 1.0, 0.5);
        fg_item_t items[10], copy[10], out[16];
        bool above = false;

        for (uint64_t i = 0; i < 10; i++)
                items[i] = item_of(i, (uint32_t)(i + 1));
        memcpy(copy, items, sizeof(items));

        /* Three already in: five of the ten fit, the first five. */
        for (uint64_t i = 100; i < 103; i++)
                push_ok(q, i, 1);
        ck_assert_uint_eq(fg_queue_push_batch(q, items, 10, &above), 5);
        ck_assert_mem_eq(items, copy, sizeof(items)); /* the caller keeps the rest */
        ck_assert_uint_eq(fg_queue_depth(q), 8);
        ck_assert_uint_eq(fg_queue_bytes(q), 3 + 1 + 2 + 3 + 4 + 5);
        push_batch_n(q, items + 5, 5, 0);             /* full: none */
        ck_assert_uint_eq(fg_queue_depth(q), 8);

        ck_assert_uint_eq(fg_queue_pop(q, out, 16, 0), 8);
        for (size_t i = 0; i < 3; i++)
                ck_assert_uint_eq(out[i].seq, 100 + i);
        for (size_t i = 0; i < 5; i++) {
                ck_assert_uint_eq(out[3 + i].seq, i);
                ck_assert_uint_eq(out[3 + i].bytes, i + 1);
        }

        /* The rest, retried, follows in order. */
        push_batch_n(q, items + 5, 5, 5);
        for (uint64_t want = 5; want < 10; want++)
                ck_assert_uint_eq(pop_one(q), want);
        push_batch_n(q, items, 0, 0); /* an empty batch is a no-op */
        ck_assert_uint_eq(fg_queue_depth(q), 0);
        fg_queue_destroy(q);

        /* By bytes: 3 x 30 fit in 100, the fourth does not, and the small
         * one after it is not taken out of order. */
        q = queue_new(100, 100, 1.0, 0.5);
        for (uint64_t i = 0; i < 4; i++)
                items[i] = item_of(i, 30);
        items[4] = item_of(4, 5);
        push_batch_n(q, items, 5, 3);
        ck_assert_uint_eq(fg_queue_bytes(q), 90);
        ck_assert_uint_eq(fg_queue_depth(q), 3);
        ck_assert_uint_eq(pop_one(q), 0);
        push_batch_n(q, items + 3, 2, 2);
        for (uint64_t want = 1; want < 5; want++)
                ck_assert_uint_eq(pop_one(q), want);
        ck_assert_uint_eq(fg_queue_bytes(q), 0);
        fg_queue_destroy(q);
}
END_TEST

/* An item bigger than max_bytes goes only into an empty queue, in a batch as
 * alone: never after another item of the same batch, and nothing follows it. */
START_TEST(test_queue_push_batch_oversized_item) {
        fg_queue_t *q = queue_new(100, 100, 1.0, 0.5);
        fg_item_t items[3];

        /* First of the batch into an empty queue: taken, alone. */
        items[0] = item_of(0, 500);
        items[1] = item_of(1, 1);
        items[2] = item_of(2, 0);
        push_batch_n(q, items, 3, 1);
        ck_assert_uint_eq(fg_queue_bytes(q), 500);
        push_batch_n(q, items + 1, 2, 0);
        ck_assert_uint_eq(pop_one(q), 0);
        push_batch_n(q, items + 1, 2, 2);
        drain(q);

        /* Behind another item of the batch: refused, and what follows waits. */
        items[0] = item_of(10, 10);
        items[1] = item_of(11, 500);
        items[2] = item_of(12, 1);
        push_batch_n(q, items, 3, 1);
        ck_assert_uint_eq(fg_queue_bytes(q), 10);
        ck_assert_uint_eq(pop_one(q), 10);
        push_batch_n(q, items + 1, 2, 1);
        ck_assert_uint_eq(fg_queue_bytes(q), 500);
        ck_assert_uint_eq(pop_one(q), 11);
        push_batch_n(q, items + 2, 1, 1);
        ck_assert_uint_eq(pop_one(q), 12);

        /* Even behind a zero-byte item the queue is not empty. */
        items[0] = item_of(20, 0);
        items[1] = item_of(21, 101);
        push_batch_n(q, items, 2, 1);
        ck_assert_uint_eq(pop_one(q), 20);
        push_batch_n(q, items + 1, 1, 1);
        ck_assert_uint_eq(pop_one(q), 21);
        ck_assert_uint_eq(fg_queue_bytes(q), 0);
        fg_queue_destroy(q);
}
END_TEST

START_TEST(test_queue_push_batch_above_high) {
        /* 10 * 0.8 = 8 messages. */
        fg_queue_t *q = queue_new(10, 1 << 20, 0.8, 0.3);
        fg_item_t items[12];
        bool above = true;

        for (uint64_t i = 0; i < 12; i++)
                items[i] = item_of(i, 1);
        ck_assert_uint_eq(fg_queue_push_batch(q, items, 0, &above), 0);
        ck_assert(!above); /* empty, and nothing pushed */

        ck_assert(!push_batch_n(q, items, 7, 7));     /* 7 */
        ck_assert(push_batch_n(q, items + 7, 1, 1));  /* 8: exactly at the mark */
        drain(q);
        ck_assert(push_batch_n(q, items, 8, 8));      /* one batch to exactly 8 */
        drain(q);
        ck_assert(!push_batch_n(q, items, 7, 7));
        pop_one(q);
        ck_assert(!push_batch_n(q, items + 7, 1, 1)); /* 6 + 1 = 7 */
        ck_assert(push_batch_n(q, items + 8, 4, 3));  /* partial: 7 + 3 = 10 */
        ck_assert(push_batch_n(q, items + 11, 1, 0)); /* refused, still above */
        drain(q);
        fg_queue_destroy(q);

        /* 1000 * 0.8 = 800 bytes. */
        q = queue_new(1000, 1000, 0.8, 0.3);
        items[0] = item_of(0, 500);
        items[1] = item_of(1, 299);
        items[2] = item_of(2, 1);
        ck_assert(!push_batch_n(q, items, 2, 2));    /* 799 */
        ck_assert(push_batch_n(q, items + 2, 1, 1)); /* 800 */
        drain(q);
        for (uint64_t i = 0; i < 3; i++)
                items[i] = item_of(i, 400);
        ck_assert(push_batch_n(q, items, 3, 2));     /* partial, exactly 800 */
        drain(q);
        fg_queue_destroy(q);
}
END_TEST

START_TEST(test_queue_wait_below_low_by_messages) {
        /* low = 10 * 0.3 = 3 messages. */
        fg_queue_t *q = queue_new(10, 1 << 20, 0.8, 0.3);
        int64_t t0;

        /* Already at or below: true at once, whatever the timeout. */
        t0 = fg_mono_ns();
        ck_assert(fg_queue_wait_below_low(q, LONG_WAIT)); /* empty */
        for (uint64_t i = 0; i < 3; i++)
                push_ok(q, i, 1);
        ck_assert(fg_queue_wait_below_low(q, LONG_WAIT)); /* 3 = exactly low */
        ck_assert_int_lt(elapsed_since(t0), BOUND_NS);
        drain(q);

        /* Each round: above until the pop that reaches 3, then at low. */
        for (int round = 0; round < 3; round++) {
                for (uint64_t i = 0; i < 8; i++)
                        push_ok(q, i, 1);
                ck_assert(!at_low(q));
                ck_assert(!fg_queue_is_below_low(q));
                while (fg_queue_depth(q) > 4) {
                        pop_one(q);
                        ck_assert(!at_low(q));
                }
                pop_one(q); /* 4 -> 3: exactly at low */
                ck_assert(at_low(q));
                ck_assert(fg_queue_is_below_low(q));
                drain(q);
                ck_assert(at_low(q));
        }
        fg_queue_destroy(q);
}
END_TEST

START_TEST(test_queue_wait_below_low_by_bytes) {
        /* low = 1000 * 0.3 = 300 bytes; 100 * 0.3 = 30 messages. */
        fg_queue_t *q = queue_new(100, 1000, 0.8, 0.3);

        /* Few, large items: the message count is low all along, the bytes
         * decide. 4 x 200 = 800 bytes. */
        for (uint64_t i = 0; i < 4; i++)
                push_ok(q, i, 200);
        ck_assert(!at_low(q));
        pop_one(q); /* 600 */
        pop_one(q); /* 400 */
        ck_assert(!at_low(q));
        pop_one(q); /* 200 <= 300 */
        ck_assert(at_low(q));
        drain(q);

        /* Exactly at the byte mark: 8 x 100, at low at 300. */
        for (uint64_t i = 0; i < 8; i++)
                push_ok(q, i, 100);
        while (fg_queue_bytes(q) > 400)
                pop_one(q);
        ck_assert(!at_low(q));
        pop_one(q); /* 300 */
        ck_assert(at_low(q));
        ck_assert(fg_queue_is_below_low(q));
        ck_assert(fg_queue_wait_below_low(q, LONG_WAIT));
        drain(q);

        /* Many small items: bytes are low all along, the count decides. */
        for (uint64_t i = 0; i < 40; i++)
                push_ok(q, i, 1);
        while (fg_queue_depth(q) > 31)
                pop_one(q);
        ck_assert(!at_low(q));
        pop_one(q); /* 30 messages */
        ck_assert(at_low(q));
        drain(q);
        fg_queue_destroy(q);
}
END_TEST

START_TEST(test_queue_wait_below_low_times_out) {
        fg_queue_t *q = queue_new(10, 1 << 20, 0.8, 0.3);
        int64_t t0, took;

        for (uint64_t i = 0; i < 5; i++)
                push_ok(q, i, 1);
        t0 = fg_mono_ns();
        ck_assert(!fg_queue_wait_below_low(q, 20 * FG_NS_PER_MS));
        took = elapsed_since(t0);
        ck_assert_int_ge(took, 20 * FG_NS_PER_MS);
        ck_assert_int_lt(took, BOUND_NS);

        t0 = fg_mono_ns();
        ck_assert(!fg_queue_wait_below_low(q, 0));
        ck_assert_int_lt(elapsed_since(t0), BOUND_NS);

        /* A timeout does not disturb the queue, nor later waits. */
        ck_assert_uint_eq(fg_queue_depth(q), 5);
        ck_assert_uint_eq(fg_queue_bytes(q), 5);
        pop_one(q);
        ck_assert(!at_low(q));
        pop_one(q);
        ck_assert(at_low(q));
        drain(q);
        fg_queue_destroy(q);
}
END_TEST

START_TEST(test_queue_wait_below_low_woken_by_pop) {
        /* low = 3 messages. */
        fg_queue_t *q = queue_new(10, 1 << 20, 0.8, 0.3);
        low_waiter_t w;
        fg_item_t out[8];

        for (uint64_t i = 0; i < 8; i++)
                push_ok(q, i, 1);
        /* An earlier wait that timed out leaves nothing behind that would
         * stop the next one from being woken. */
        ck_assert(!fg_queue_wait_below_low(q, FG_NS_PER_MS));

        /* Pops one by one: those above low do not end the wait. */
        low_waiter_start(&w, q);
        give_a_moment();
        while (fg_queue_depth(q) > 4)
                pop_one(q);
        ck_assert_msg(!atomic_load(&w.done), "wait returned while above low");
        pop_one(q); /* 3 */
        low_waiter_join_woken(&w);
        ck_assert_uint_eq(fg_queue_depth(q), 3);
        drain(q);

        /* One pop of a batch that goes from above low to below it. */
        for (uint64_t i = 0; i < 8; i++)
                push_ok(q, i, 1);
        low_waiter_start(&w, q);
        give_a_moment();
        ck_assert_uint_eq(fg_queue_pop(q, out, 6, 0), 6); /* 8 -> 2 */
        low_waiter_join_woken(&w);
        drain(q);
        fg_queue_destroy(q);
}
END_TEST

START_TEST(test_queue_wait_below_low_woken_by_close) {
        fg_queue_t *q = queue_new(10, 1 << 20, 0.8, 0.3);
        low_waiter_t w;
        int64_t t0;

        for (uint64_t i = 0; i < 8; i++)
                push_ok(q, i, 1);
        low_waiter_start(&w, q);
        give_a_moment();
        fg_queue_close(q);
        low_waiter_join_woken(&w);
        ck_assert_uint_eq(fg_queue_depth(q), 8); /* close drops nothing */

        /* Closed and still above low: true at once. */
        ck_assert(!fg_queue_is_below_low(q));
        t0 = fg_mono_ns();
        ck_assert(fg_queue_wait_below_low(q, LONG_WAIT));
        ck_assert_int_lt(elapsed_since(t0), BOUND_NS);
        drain(q);
        fg_queue_destroy(q);
}
END_TEST

/*
 * The watermarks are fill ratios, so the marks must sit where the ratio
 * says even when capacity * ratio is not exact in binary floating point
 * (100 * 0.57 = 56.99999999999999, 100 * 0.29 = 28.999999999999996) or not
 * an integer (1000 * 0.9995 = 999.5 bytes: "at or above" means 1000).
 */
START_TEST(test_queue_watermarks_exact_for_inexact_ratios) {
        fg_queue_t *q = queue_new(100, 1 << 20, 0.57, 0.29);
        uint64_t i;

        for (i = 0; i < 55; i++)
                push_ok(q, i, 1);
        ck_assert_msg(!push_ok(q, 55, 1),
                      "above_high already at 56/100 messages with high_watermark 0.57");
        ck_assert(push_ok(q, 56, 1)); /* 57/100 */
        while (fg_queue_depth(q) > 30)
                pop_one(q);
        ck_assert(!at_low(q));
        pop_one(q); /* 29/100 = low_watermark 0.29 */
        ck_assert_msg(at_low(q), "not at low at 29/100 messages with low_watermark 0.29");
        ck_assert(fg_queue_is_below_low(q));
        drain(q);
        fg_queue_destroy(q);

        /* The same for bytes: 100 * 0.29 = 29 bytes. */
        q = queue_new(1000, 100, 0.9, 0.29);
        push_ok(q, 0, 1);
        push_ok(q, 1, 29);
        ck_assert(!at_low(q)); /* 30 bytes */
        pop_one(q);
        ck_assert_msg(at_low(q), "not at low at 29/100 bytes with low_watermark 0.29");
        drain(q);
        fg_queue_destroy(q);

        q = queue_new(1000, 1000, 0.9995, 0.5);
        ck_assert_msg(!push_ok(q, 0, 999),
                      "above_high already at 999/1000 bytes with high_watermark 0.9995");
        ck_assert(push_ok(q, 1, 1));
        drain(q);
        fg_queue_destroy(q);
}
END_TEST

START_TEST(test_queue_pop_timeout) {
        fg_queue_t *q = queue_new(10, 1000, 0.8, 0.3);
        fg_item_t out[4];
        int64_t t0;

        t0 = fg_mono_ns();
        ck_assert_uint_eq(fg_queue_pop(q, out, 4, 0), 0);
        ck_assert_int_lt(elapsed_since(t0), BOUND_NS);

        t0 = fg_mono_ns();
        ck_assert_uint_eq(fg_queue_pop(q, out, 4, 20 * FG_NS_PER_MS), 0);
        ck_assert_int_lt(elapsed_since(t0), BOUND_NS);

        /* A timeout does not disturb the queue. */
        push_ok(q, 7, 1);
        ck_assert_uint_eq(fg_queue_pop(q, out, 4, 20 * FG_NS_PER_MS), 1);
        ck_assert_uint_eq(out[0].seq, 7);
        fg_queue_destroy(q);
}
END_TEST

START_TEST(test_queue_pop_batch) {
        fg_queue_t *q = queue_new(16, 1 << 20, 1.0, 0.5);
        fg_item_t out[16];
        uint64_t next = 0;

        for (uint64_t i = 0; i < 10; i++)
                push_ok(q, i, 3);
        ck_assert_uint_eq(fg_queue_pop(q, out, 4, 0), 4);
        for (size_t i = 0; i < 4; i++)
                ck_assert_uint_eq(out[i].seq, next++);
        ck_assert_uint_eq(fg_queue_depth(q), 6);
        ck_assert_uint_eq(fg_queue_bytes(q), 18);
        ck_assert_uint_eq(fg_queue_pop(q, out, 1, 0), 1);
        ck_assert_uint_eq(out[0].seq, next++);
        ck_assert_uint_eq(fg_queue_pop(q, out, 16, 0), 5);
        for (size_t i = 0; i < 5; i++) {
                ck_assert_uint_eq(out[i].seq, next++);
                ck_assert_uint_eq(out[i].bytes, 3);
        }
        ck_assert_uint_eq(fg_queue_depth(q), 0);
        ck_assert_uint_eq(fg_queue_bytes(q), 0);
        fg_queue_destroy(q);
}
END_TEST

/* remove_if helpers: remove items whose seq is odd; record what was
 * disposed, in order. */
typedef struct removal {
        uint64_t seqs[64];
        size_t n;
        size_t pred_calls;
} removal_t;

static bool pred_odd(const fg_item_t *it, void *opaque) {
        removal_t *r = opaque;
        r->pred_calls++;
        return it->seq % 2 == 1;
}

static bool pred_none(const fg_item_t *it, void *opaque) {
        removal_t *r = opaque;
        r->pred_calls++;
        return false;
}

static void dispose_record(fg_item_t *it, void *opaque) {
        removal_t *r = opaque;
        ck_assert_uint_lt(r->n, 64);
        r->seqs[r->n++] = it->seq;
}

START_TEST(test_queue_remove_if_keeps_order) {
        fg_queue_t *q = queue_new(8, 1 << 20, 1.0, 0.5);
        removal_t r = {.n = 0};
        size_t expect_bytes = 0;

        /* Move head to the middle of the ring so the compaction wraps. */
        for (uint64_t i = 100; i < 105; i++)
                push_ok(q, i, 1);
        drain(q);

        for (uint64_t i = 0; i < 8; i++) {
                push_ok(q, i, (uint32_t)(i + 1));
                if (i % 2 == 0)
                        expect_bytes += i + 1;
        }
        ck_assert_uint_eq(fg_queue_remove_if(q, pred_odd, dispose_record, &r), 4);
        ck_assert_uint_eq(r.pred_calls, 8);
        ck_assert_uint_eq(r.n, 4);
        for (size_t i = 0; i < 4; i++)
                ck_assert_uint_eq(r.seqs[i], 2 * i + 1);
        ck_assert_uint_eq(fg_queue_depth(q), 4);
        ck_assert_uint_eq(fg_queue_bytes(q), expect_bytes);

        /* The freed slots are usable, and order is kept across them. */
        for (uint64_t i = 8; i < 12; i++)
                push_ok(q, i, 1);
        push_refused(q, 12, 1);
        for (uint64_t want = 0; want < 8; want += 2)
                ck_assert_uint_eq(pop_one(q), want);
        for (uint64_t want = 8; want < 12; want++)
                ck_assert_uint_eq(pop_one(q), want);

        /* Nothing to remove: nothing disposed, nothing changed. */
        r.n = 0;
        r.pred_calls = 0;
        push_ok(q, 20, 5);
        push_ok(q, 22, 5);
        ck_assert_uint_eq(fg_queue_remove_if(q, pred_none, dispose_record, &r), 0);
        ck_assert_uint_eq(r.pred_calls, 2);
        ck_assert_uint_eq(r.n, 0);
        ck_assert_uint_eq(fg_queue_depth(q), 2);
        ck_assert_uint_eq(fg_queue_bytes(q), 10);
        ck_assert_uint_eq(pop_one(q), 20);
        ck_assert_uint_eq(pop_one(q), 22);

        /* Everything. */
        for (uint64_t i = 1; i < 9; i += 2)
                push_ok(q, i, 2);
        ck_assert_uint_eq(fg_queue_remove_if(q, pred_odd, dispose_record, &r), 4);
        ck_assert_uint_eq(fg_queue_depth(q), 0);
        ck_assert_uint_eq(fg_queue_bytes(q), 0);
        fg_queue_destroy(q);
}
END_TEST

START_TEST(test_queue_remove_if_wakes_low_waiter) {
        /* low = 3 messages. */
        fg_queue_t *q = queue_new(10, 1 << 20, 0.8, 0.3);
        removal_t r = {.n = 0};
        low_waiter_t w;

        /* Removal counts towards the fill like a pop. */
        for (uint64_t i = 0; i < 8; i++)
                push_ok(q, i, 1);
        ck_assert_uint_eq(fg_queue_remove_if(q, pred_odd, dispose_record, &r), 4);
        ck_assert(!at_low(q)); /* 4 left: still above */
        ck_assert_uint_eq(fg_queue_remove_if(q, pred_none, dispose_record, &r), 0);
        ck_assert(!at_low(q));
        pop_one(q);            /* 3 left */
        ck_assert(at_low(q));
        drain(q);

        /* A waiter is woken by the removal that brings the fill to low; a
         * removal that leaves it above does not end the wait. */
        for (uint64_t i = 0; i < 6; i++)
                push_ok(q, i, 1);
        low_waiter_start(&w, q);
        give_a_moment();
        r.n = 0;
        ck_assert_uint_eq(fg_queue_remove_if(q, pred_none, dispose_record, &r), 0);
        ck_assert_msg(!atomic_load(&w.done), "wait returned while above low");
        ck_assert_uint_eq(fg_queue_remove_if(q, pred_odd, dispose_record, &r), 3); /* 6 -> 3 */
        low_waiter_join_woken(&w);
        ck_assert_uint_eq(fg_queue_depth(q), 3);
        drain(q);
        fg_queue_destroy(q);
}
END_TEST

/* Poppers blocked on an empty queue. */
typedef struct blocked_popper {
        fg_queue_t *q;
        pthread_t th;
        fg_item_t out[4];
        size_t got;
        int64_t took_ns;
} blocked_popper_t;

static void *blocked_popper_main(void *opaque) {
        blocked_popper_t *bp = opaque;
        int64_t t0 = fg_mono_ns();

        bp->got = fg_queue_pop(bp->q, bp->out, 4, LONG_WAIT);
        bp->took_ns = fg_mono_ns() - t0;
        return NULL;
}

/*
 * A batch push signals one popper; a popper that leaves items behind passes
 * the wake-up on. Three poppers of up to 4 items each and one batch of 12:
 * every popper gets exactly 4, consecutive, whatever order they run in.
 */
START_TEST(test_queue_push_batch_wakes_blocked_poppers) {
        fg_queue_t *q = queue_new(16, 1000, 1.0, 0.5);
        blocked_popper_t bp[3];
        fg_item_t items[12];
        unsigned seen[12] = {0};

        for (int i = 0; i < 3; i++) {
                bp[i] = (blocked_popper_t){.q = q};
                ck_assert_int_eq(pthread_create(&bp[i].th, NULL, blocked_popper_main, &bp[i]), 0);
        }
        for (uint64_t i = 0; i < 12; i++)
                items[i] = item_of(i, 1);
        give_a_moment();
        push_batch_n(q, items, 12, 12);
        for (int i = 0; i < 3; i++) {
                pthread_join(bp[i].th, NULL);
                ck_assert_uint_eq(bp[i].got, 4);
                ck_assert_int_lt(bp[i].took_ns, BOUND_NS);
                ck_assert_uint_eq(bp[i].out[0].seq % 4, 0);
                for (size_t j = 0; j < 4; j++) {
                        ck_assert_uint_eq(bp[i].out[j].seq, bp[i].out[0].seq + j);
                        seen[bp[i].out[j].seq]++;
                }
        }
        for (size_t i = 0; i < 12; i++)
                ck_assert_uint_eq(seen[i], 1);
        ck_assert_uint_eq(fg_queue_depth(q), 0);
        fg_queue_destroy(q);
}
END_TEST

START_TEST(test_queue_close_wakes_poppers) {
        fg_queue_t *q = queue_new(10, 1000, 0.8, 0.3);
        blocked_popper_t bp[3];

        for (int i = 0; i < 3; i++) {
                bp[i] = (blocked_popper_t){.q = q};
                ck_assert_int_eq(pthread_create(&bp[i].th, NULL, blocked_popper_main, &bp[i]), 0);
        }
        /* Whether each popper blocks before or after close, it must
         * return 0 long before its 60 s timeout. */
        give_a_moment();
        fg_queue_close(q);
        for (int i = 0; i < 3; i++) {
                pthread_join(bp[i].th, NULL);
                ck_assert_uint_eq(bp[i].got, 0);
                ck_assert_int_lt(bp[i].took_ns, BOUND_NS);
        }
        fg_queue_destroy(q);
}
END_TEST

START_TEST(test_queue_close_drains_then_empty) {
        fg_queue_t *q = queue_new(10, 1000, 0.8, 0.3);
        fg_item_t out[10], items[2] = {item_of(3, 5), item_of(4, 5)};
        int64_t t0;

        for (uint64_t i = 0; i < 3; i++)
                push_ok(q, i, 5);
        fg_queue_close(q);
        push_refused(q, 3, 5); /* room, but closed */
        push_batch_n(q, items, 2, 0);
        ck_assert_uint_eq(fg_queue_depth(q), 3);

        ck_assert_uint_eq(fg_queue_pop(q, out, 2, LONG_WAIT), 2);
        ck_assert_uint_eq(out[0].seq, 0);
        ck_assert_uint_eq(out[1].seq, 1);
        ck_assert_uint_eq(fg_queue_pop(q, out, 10, LONG_WAIT), 1);
        ck_assert_uint_eq(out[0].seq, 2);

        t0 = fg_mono_ns();
        ck_assert_uint_eq(fg_queue_pop(q, out, 10, LONG_WAIT), 0);
        ck_assert_uint_eq(fg_queue_pop(q, out, 10, LONG_WAIT), 0);
        ck_assert_int_lt(elapsed_since(t0), BOUND_NS);
        push_batch_n(q, items, 2, 0);
        fg_queue_close(q); /* twice is harmless */
        ck_assert_uint_eq(fg_queue_depth(q), 0);
        fg_queue_destroy(q);
}
END_TEST

START_TEST(test_queue_gauges) {
        fg_queue_t *q = queue_new(10, 1000, 0.8, 0.3);
        fg_item_t out[10];

        ck_assert_uint_eq(fg_queue_capacity(q), 10);
        ck_assert_uint_eq(fg_queue_max_bytes(q), 1000);
        ck_assert_uint_eq(fg_queue_depth(q), 0);
        ck_assert_uint_eq(fg_queue_bytes(q), 0);
        ck_assert_uint_eq(fg_queue_peak_depth(q), 0);
        ck_assert(fg_queue_is_below_low(q));

        for (uint64_t i = 0; i < 6; i++)
                push_ok(q, i, (uint32_t)(10 * (i + 1))); /* 10+20+...+60 = 210 */
        ck_assert_uint_eq(fg_queue_depth(q), 6);
        ck_assert_uint_eq(fg_queue_bytes(q), 210);
        ck_assert_uint_eq(fg_queue_peak_depth(q), 6);
        ck_assert(!fg_queue_is_below_low(q)); /* 6 > 3 messages */

        ck_assert_uint_eq(fg_queue_pop(q, out, 4, 0), 4); /* left: 50, 60 */
        ck_assert_uint_eq(fg_queue_depth(q), 2);
        ck_assert_uint_eq(fg_queue_bytes(q), 110);
        ck_assert_uint_eq(fg_queue_peak_depth(q), 6);
        ck_assert(fg_queue_is_below_low(q)); /* 2 <= 3, 110 <= 300 */

        push_ok(q, 6, 250);                   /* 3 messages, 360 bytes */
        ck_assert(!fg_queue_is_below_low(q)); /* bytes above 300 */
        push_refused(q, 7, 700);
        ck_assert_uint_eq(fg_queue_bytes(q), 360); /* a refused push counts nothing */
        ck_assert_uint_eq(fg_queue_depth(q), 3);

        for (uint64_t i = 0; i < 7; i++)
                push_ok(q, 10 + i, 1);
        ck_assert_uint_eq(fg_queue_peak_depth(q), 10);
        drain(q);
        ck_assert_uint_eq(fg_queue_bytes(q), 0);
        ck_assert_uint_eq(fg_queue_peak_depth(q), 10);
        fg_queue_destroy(q);
}
END_TEST

/*
 * One producer, four consumers. The producer pushes seq 0..N-1 with varying
 * sizes in batches of random length and, as ingest does, when a batch leaves
 * the queue at the high watermark or is not taken whole, waits in
 * fg_queue_wait_below_low() (with a bounded timeout, retried) before pushing
 * the rest. Consumers pop random batch sizes and record what they got in
 * their own arrays; after the joins every seq must have been seen exactly
 * once, and each consumer must have seen its seqs in increasing order (FIFO
 * with a single producer).
 */
#define MPMC_ITEMS     200000
#define MPMC_CONSUMERS 4
#define MPMC_BATCH_MAX 128

typedef struct mpmc {
        fg_queue_t *q;
        atomic_bool closed;
} mpmc_t;

typedef struct mpmc_consumer {
        mpmc_t *m;
        pthread_t th;
        uint64_t rng;
        uint8_t *seen;    /* by seq, this consumer only */
        size_t got;
        size_t batches;
        bool ordered;
} mpmc_consumer_t;

static uint64_t xorshift(uint64_t *s) {
        uint64_t x = *s;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return *s = x;
}

static void *mpmc_consumer_main(void *opaque) {
        mpmc_consumer_t *c = opaque;
        fg_item_t out[64];
        uint64_t last = 0;
        bool any = false;

        c->ordered = true;
        for (;;) {
                /* Only a pop that started after close may end the loop:
                 * its 0 means closed and empty, not a timeout. */
                bool was_closed = atomic_load(&c->m->closed);
                size_t max = 1 + xorshift(&c->rng) % 64;
                size_t n = fg_queue_pop(c->m->q, out, max, 100 * FG_NS_PER_MS);

                if (n == 0) {
                        if (was_closed)
                                break;
                        continue;
                }
                if (n > max)
                        c->ordered = false;
                c->batches++;
                for (size_t i = 0; i < n; i++) {
                        uint64_t seq = out[i].seq;
                        if (seq >= MPMC_ITEMS || out[i].bytes != 1 + seq % 97) {
                                c->ordered = false;
                                continue;
                        }
                        if (any && seq <= last)
                                c->ordered = false;
                        any = true;
                        last = seq;
                        if (c->seen[seq] < 255)
                                c->seen[seq]++;
                        c->got++;
                }
        }
        return NULL;
}

START_TEST(test_queue_concurrent_every_item_once) {
        mpmc_t m;
        mpmc_consumer_t cons[MPMC_CONSUMERS];
        fg_item_t batch[MPMC_BATCH_MAX];
        uint64_t rng = 0x2545f4914f6cdd1dULL;
        size_t total = 0, highs = 0;

        /* Small bounds so the producer hits the high watermark and a full
         * queue often. */
        m.q = queue_new(256, 256 * 40, 0.75, 0.25);
        atomic_init(&m.closed, false);

        for (int i = 0; i < MPMC_CONSUMERS; i++) {
                cons[i] = (mpmc_consumer_t){.m = &m, .rng = 0x9e3779b97f4a7c15ULL * (i + 1)};
                cons[i].seen = calloc(MPMC_ITEMS, 1);
                ck_assert_ptr_nonnull(cons[i].seen);
                ck_assert_int_eq(pthread_create(&cons[i].th, NULL, mpmc_consumer_main, &cons[i]),
                                 0);
        }

        for (uint64_t seq = 0; seq < MPMC_ITEMS;) {
                size_t n = 1 + xorshift(&rng) % MPMC_BATCH_MAX, done = 0;

                if (n > MPMC_ITEMS - seq)
                        n = MPMC_ITEMS - seq;
                for (size_t i = 0; i < n; i++)
                        batch[i] = item_of(seq + i, (uint32_t)(1 + (seq + i) % 97));
                for (;;) {
                        bool above = false;

                        done += fg_queue_push_batch(m.q, batch + done, n - done, &above);
                        ck_assert_uint_le(done, n);
                        if (!above && done == n)
                                break;
                        highs++;
                        while (!fg_queue_wait_below_low(m.q, 100 * FG_NS_PER_MS))
                                ;
                        if (done == n)
                                break;
                }
                seq += n;
        }
        fg_queue_close(m.q);
        atomic_store(&m.closed, true);

        for (int i = 0; i < MPMC_CONSUMERS; i++) {
                pthread_join(cons[i].th, NULL);
                ck_assert_msg(cons[i].ordered, "consumer %d saw items out of order or corrupt", i);
                total += cons[i].got;
        }
        ck_assert_uint_eq(total, MPMC_ITEMS);
        for (size_t seq = 0; seq < MPMC_ITEMS; seq++) {
                unsigned seen = 0;
                for (int i = 0; i < MPMC_CONSUMERS; i++)
                        seen += cons[i].seen[seq];
                ck_assert_msg(seen == 1, "seq %zu seen %u times", seq, seen);
        }
        ck_assert_uint_eq(fg_queue_depth(m.q), 0);
        ck_assert_uint_eq(fg_queue_bytes(m.q), 0);
        ck_assert_uint_le(fg_queue_peak_depth(m.q), 256);
        ck_assert_uint_gt(highs, 0);

        for (int i = 0; i < MPMC_CONSUMERS; i++)
                free(cons[i].seen);
        fg_queue_destroy(m.q);
}
END_TEST

static Suite *queue_suite(void) {
        Suite *s = suite_create("queue");
        TCase *tc = tcase_create("core");
        TCase *tc_mt = tcase_create("threads");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_queue_rejects_bad_bounds);
        tcase_add_test(tc, test_queue_fifo_order);
        tcase_add_test(tc, test_queue_full_by_messages);
        tcase_add_test(tc, test_queue_full_by_bytes);
        tcase_add_test(tc, test_queue_above_high_by_messages);
        tcase_add_test(tc, test_queue_above_high_by_bytes);
        tcase_add_test(tc, test_queue_push_batch_partial_keeps_order);
        tcase_add_test(tc, test_queue_push_batch_oversized_item);
        tcase_add_test(tc, test_queue_push_batch_above_high);
        tcase_add_test(tc, test_queue_wait_below_low_by_messages);
        tcase_add_test(tc, test_queue_wait_below_low_by_bytes);
        tcase_add_test(tc, test_queue_wait_below_low_times_out);
        tcase_add_test(tc, test_queue_watermarks_exact_for_inexact_ratios);
        tcase_add_test(tc, test_queue_pop_timeout);
        tcase_add_test(tc, test_queue_pop_batch);
        tcase_add_test(tc, test_queue_remove_if_keeps_order);
        tcase_add_test(tc, test_queue_close_drains_then_empty);
        tcase_add_test(tc, test_queue_gauges);
        suite_add_tcase(s, tc);

        /* Waits of up to 60 s that must end early: a missed wake-up fails
         * on the bound (or the 300 s timeout), not by hanging the run. */
        tcase_set_timeout(tc_mt, 300);
        tcase_add_test(tc_mt, test_queue_wait_below_low_woken_by_pop);
        tcase_add_test(tc_mt, test_queue_wait_below_low_woken_by_close);
        tcase_add_test(tc_mt, test_queue_remove_if_wakes_low_waiter);
        tcase_add_test(tc_mt, test_queue_push_batch_wakes_blocked_poppers);
        tcase_add_test(tc_mt, test_queue_close_wakes_poppers);
        tcase_add_test(tc_mt, test_queue_concurrent_every_item_once);
        suite_add_tcase(s, tc_mt);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(queue_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
