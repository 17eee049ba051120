/*
 * check_queue_order: the queue's ordered modes (workers.ordering) — one
 * item per key (or partition) in flight, keyless items in partition order,
 * release handing the key on (and waking a popper), a closed queue still
 * waiting for items behind busy keys, remove_if, the gauges, live switches
 * (into an ordered mode only once nothing is in flight; to none at once),
 * runs (fg_queue_set_runs: a key's or partition's consecutive items in one
 * batch, the key busy until every one is released), and four consumer
 * threads against a producer while the main thread flips modes: no item of
 * a key (partition mode: of a partition) ever overlaps another in flight
 * outside its own batch, with runs and without (run it under TSan too).
 *
 * Items carry hand-made rd_kafka_message_t structs (only key and key_len
 * are read) and real partition trackers (only their identity and blocked
 * counts are used); the tests release items with fg_queue_release and
 * drain every queue before destroying it, so no item is ever finished.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "pipeline/offsets.h"
#include "pipeline/queue.h"

#define BOUND_NS  (10 * FG_NS_PER_S)
#define LONG_WAIT (60 * FG_NS_PER_S)
#define NKEYS     64
#define NPARTS    4

static rd_kafka_message_t msgs[NKEYS];
static char keynames[NKEYS][16];
static rd_kafka_message_t keyless;
static fg_part_t *parts[NPARTS];

static void setup(void) {
        for (int k = 0; k < NKEYS; k++) {
                snprintf(keynames[k], sizeof(keynames[k]), "k%d", k);
                msgs[k] = (rd_kafka_message_t){.key = keynames[k], .key_len = strlen(keynames[k])};
        }
        keyless = (rd_kafka_message_t){0};
        for (int p = 0; p < NPARTS; p++)
                parts[p] = fg_part_new("t", p);
}

static void teardown(void) {
        for (int p = 0; p < NPARTS; p++)
                fg_part_unref(parts[p]);
}

static fg_queue_t *queue_new(size_t capacity, fg_ordering_t mode) {
        char errstr[256] = "";
        fg_queue_cfg_t qc = {(int64_t)capacity, (int64_t)capacity * 1000, 0.9, 0.5};
        fg_queue_t *q = fg_queue_new(&qc, errstr, sizeof(errstr));

        ck_assert_msg(q != NULL, "%s", errstr);
        ck_assert_int_eq(fg_queue_set_ordering(q, mode, errstr, sizeof(errstr)), 0);
        return q;
}

/* Key k (-1: no key) of partition k % NPARTS (or @p part when >= 0). */
static fg_item_t item_of(uint64_t seq, int k, int part) {
        return (fg_item_t){.rkm = k < 0 ? &keyless : &msgs[k],
                           .part = parts[part >= 0 ? part : k % NPARTS],
                           .seq = seq,
                           .bytes = 10};
}

static void push(fg_queue_t *q, uint64_t seq, int k, int part) {
        fg_item_t it = item_of(seq, k, part);
        bool above;

        ck_assert_uint_eq(fg_queue_push_batch(q, &it, 1, &above), 1);
}

/* Pops without waiting; checks the seqs popped against @p want. */
static size_t pop_expect(fg_queue_t *q, fg_item_t *out, size_t max, const uint64_t *want,
                         size_t nwant) {
        size_t n = fg_queue_pop(q, out, max, 0);

        ck_assert_uint_eq(n, nwant);
        for (size_t i = 0; i < n; i++)
                ck_assert_msg(out[i].seq == want[i], "pop #%zu: seq %llu, expected %llu", i,
                              (unsigned long long)out[i].seq, (unsigned long long)want[i]);
        return n;
}

static fg_queue_order_stats_t ostats(fg_queue_t *q) {
        fg_queue_order_stats_t st;
        fg_queue_get_order_stats(q, &st);
        return st;
}

START_TEST(test_queue_order_key_one_per_key) {
        fg_queue_t *q = queue_new(32, FG_ORDER_KEY);
        fg_item_t out[16], more[16];

        push(q, 1, 0, -1);
        push(q, 2, 0, -1);
        push(q, 3, 1, -1);
        push(q, 4, 2, -1);
        push(q, 5, 1, -1);
        push(q, 6, 0, -1);
        pop_expect(q, out, 16, (uint64_t[]){1, 3, 4}, 3);
        pop_expect(q, more, 16, NULL, 0); /* every key with items is busy */
        ck_assert_uint_eq(fg_queue_depth(q), 3);
        ck_assert_uint_eq(ostats(q).in_flight, 3);
        ck_assert_uint_eq(ostats(q).blocked, 3);
        ck_assert_uint_eq(ostats(q).blocked_keys, 2);
        fg_queue_release(q, out, NULL, 1); /* seq 1: key 0 goes on */
        ck_assert_ptr_null(out[0].q);
        pop_expect(q, more, 16, (uint64_t[]){2}, 1);
        fg_queue_release(q, out, (size_t[]){1, 2}, 2); /* keys 1 and 2 */
        pop_expect(q, out, 16, (uint64_t[]){5}, 1);
        fg_queue_release(q, more, NULL, 1);
        pop_expect(q, more, 16, (uint64_t[]){6}, 1);
        fg_queue_release(q, out, NULL, 1);
        fg_queue_release(q, more, NULL, 1);
        ck_assert_uint_eq(ostats(q).in_flight, 0);
        ck_assert_uint_eq(ostats(q).busy_keys, 0);
        ck_assert_uint_eq(fg_queue_depth(q), 0);
        fg_queue_destroy(q);
}
END_TEST

START_TEST(test_queue_order_runs) {
        fg_queue_t *q = queue_new(32, FG_ORDER_KEY);
        fg_item_t out[16], more[16];

        fg_queue_set_runs(q, true);
        push(q, 1, 0, -1);
        push(q, 2, 0, -1);
        push(q, 3, 1, -1);
        push(q, 4, 0, -1);
        push(q, 5, 1, -1);
        pop_expect(q, out, 16, (uint64_t[]){1, 2, 4, 3, 5}, 5);
        ck_assert_uint_eq(ostats(q).busy_keys, 2);
        push(q, 6, 0, -1);
        push(q, 7, 2, -1);
        ck_assert_uint_eq(ostats(q).blocked, 1);
        /* Key 0 has three out: 6 waits until all three end, in any order
         * and in separate releases. */
        pop_expect(q, more, 16, (uint64_t[]){7}, 1);
        fg_queue_release(q, out, (size_t[]){2, 0}, 2); /* seqs 4 and 1 */
        pop_expect(q, more + 1, 16, NULL, 0);
        fg_queue_release(q, out, (size_t[]){1}, 1);
        pop_expect(q, more + 1, 16, (uint64_t[]){6}, 1);
        fg_queue_release(q, out, (size_t[]){3, 4}, 2); /* key 1's run */
        fg_queue_release(q, more, NULL, 2);
        ck_assert_uint_eq(ostats(q).in_flight, 0);
        ck_assert_uint_eq(ostats(q).busy_keys, 0);

        /* Partition mode: a partition's items, keyed or not, in one batch;
         * runs off again: one per partition. */
        ck_assert_int_eq(fg_queue_set_ordering(q, FG_ORDER_PARTITION, (char[8]){0}, 8), 0);
        push(q, 10, 0, 0);
        push(q, 11, 1, 0);
        push(q, 12, -1, 1);
        push(q, 13, -1, 0);
        pop_expect(q, out, 16, (uint64_t[]){10, 11, 13, 12}, 4);
        fg_queue_release(q, out, NULL, 4);
        fg_queue_set_runs(q, false);
        push(q, 14, 0, 0);
        push(q, 15, 1, 0);
        push(q, 16, -1, 1);
        pop_expect(q, out, 16, (uint64_t[]){14, 16}, 2);
        fg_queue_release(q, out, NULL, 1);
        pop_expect(q, more, 16, (uint64_t[]){15}, 1);
        fg_queue_release(q, out + 1, NULL, 1);
        fg_queue_release(q, more, NULL, 1);
        ck_assert_uint_eq(ostats(q).in_flight, 0);
        ck_assert_uint_eq(fg_queue_depth(q), 0);
        fg_queue_destroy(q);
}
END_TEST

/* A live switch to a consumer that takes one item of a key per batch first
 * stops runs and waits for the items handed out in runs to end. */
START_TEST(test_queue_order_stop_runs_waits) {
        fg_queue_t *q = queue_new(32, FG_ORDER_KEY);
        fg_item_t out[16], more[16];

        /* Nothing out: stops at once. */
        ck_assert(fg_queue_stop_runs(q, 0));
        fg_queue_set_runs(q, true);
        push(q, 1, 0, -1);
        push(q, 2, 0, -1);
        pop_expect(q, out, 16, (uint64_t[]){1, 2}, 2);
        /* A run is out: the wait times out and runs stay on. */
        ck_assert(!fg_queue_stop_runs(q, 1000000));
        push(q, 3, 1, -1);
        push(q, 4, 1, -1);
        pop_expect(q, more, 16, (uint64_t[]){3, 4}, 2);
        fg_queue_release(q, out, NULL, 2);
        ck_assert(!fg_queue_stop_runs(q, 1000000));
        fg_queue_release(q, more, NULL, 2);
        /* Every item handed out in a run has ended: off, one per key. */
        ck_assert(fg_queue_stop_runs(q, 0));
        push(q, 5, 2, -1);
        push(q, 6, 2, -1);
        pop_expect(q, out, 16, (uint64_t[]){5}, 1);
        /* Items handed out without runs do not hold a later stop. */
        ck_assert(fg_queue_stop_runs(q, 0));
        fg_queue_release(q, out, NULL, 1);
        pop_expect(q, out, 16, (uint64_t[]){6}, 1);
        fg_queue_release(q, out, NULL, 1);
        ck_assert_uint_eq(ostats(q).in_flight, 0);
        fg_queue_destroy(q);
}
END_TEST

START_TEST(test_queue_order_keyless_by_partition) {
        fg_queue_t *q = queue_new(32, FG_ORDER_KEY);
        fg_item_t out[16];

        /* Partition 0: two keyless items in a row, and keyed ones beside. */
        push(q, 1, -1, 0);
        push(q, 2, -1, 0);
        push(q, 3, 4, 0);
        push(q, 4, -1, 1);
        pop_expect(q, out, 16, (uint64_t[]){1, 3, 4}, 3);
        fg_queue_release(q, out, NULL, 3);
        pop_expect(q, out, 16, (uint64_t[]){2}, 1);
        fg_queue_release(q, out, NULL, 1);
        fg_queue_destroy(q);
}
END_TEST

START_TEST(test_queue_order_partition_mode) {
        fg_queue_t *q = queue_new(32, FG_ORDER_PARTITION);
        fg_item_t out[16];

        push(q, 1, 0, 0);
        push(q, 2, 1, 0); /* another key, same partition: waits */
        push(q, 3, 2, 1);
        push(q, 4, -1, 1);
        pop_expect(q, out, 16, (uint64_t[]){1, 3}, 2);
        fg_queue_release(q, out, NULL, 2);
        pop_expect(q, out, 16, (uint64_t[]){2, 4}, 2);
        fg_queue_release(q, out, NULL, 2);
        fg_queue_destroy(q);
}
END_TEST

START_TEST(test_queue_order_switch_waits_for_in_flight) {
        fg_queue_t *q = queue_new(32, FG_ORDER_NONE);
        fg_item_t out[16], more[16];
        char errstr[128];

        for (uint64_t i = 1; i <= 4; i++)
                push(q, i, 0, -1);
        pop_expect(q, out, 2, (uint64_t[]){1, 2}, 2); /* none: one key twice */
        ck_assert_int_eq(fg_queue_set_ordering(q, FG_ORDER_KEY, errstr, sizeof(errstr)), 0);
        ck_assert(ostats(q).switching);
        ck_assert_int_eq(fg_queue_ordering(q), FG_ORDER_KEY);
        pop_expect(q, more, 16, NULL, 0); /* nothing goes while 1, 2 are out */
        push(q, 5, 1, -1);                /* ingest keeps pushing */
        fg_queue_release(q, out, NULL, 1);
        pop_expect(q, more, 16, NULL, 0);
        fg_queue_release(q, out + 1, NULL, 1); /* the last: the switch happens */
        ck_assert(!ostats(q).switching);
        pop_expect(q, out, 16, (uint64_t[]){3, 5}, 2); /* one of key 0, key 1 */
        fg_queue_release(q, out, NULL, 2);
        pop_expect(q, out, 16, (uint64_t[]){4}, 1);
        fg_queue_release(q, out, NULL, 1);
        fg_queue_destroy(q);
}
END_TEST

START_TEST(test_queue_order_switch_to_none_at_once) {
        fg_queue_t *q = queue_new(32, FG_ORDER_KEY);
        fg_item_t out[16], more[16];
        char errstr[128];

        for (uint64_t i = 1; i <= 4; i++)
                push(q, i, 0, -1);
        pop_expect(q, out, 16, (uint64_t[]){1}, 1);
        ck_assert_int_eq(fg_queue_set_ordering(q, FG_ORDER_NONE, errstr, sizeof(errstr)), 0);
        ck_assert(!ostats(q).switching);
        pop_expect(q, more, 16, (uint64_t[]){2, 3, 4}, 3); /* arrival order */
        /* Back to key: waits for all four. */
        ck_assert_int_eq(fg_queue_set_ordering(q, FG_ORDER_KEY, errstr, sizeof(errstr)), 0);
        push(q, 5, 0, -1);
        pop_expect(q, more + 3, 1, NULL, 0);
        fg_queue_release(q, more, NULL, 3);
        ck_assert(ostats(q).switching);
        fg_queue_release(q, out, NULL, 1); /* the key-mode one */
        ck_assert(!ostats(q).switching);
        ck_assert_uint_eq(ostats(q).busy_keys, 0);
        pop_expect(q, out, 16, (uint64_t[]){5}, 1);
        fg_queue_release(q, out, NULL, 1);
        /* Key to partition and back while idle: at once. */
        push(q, 6, 0, 0);
        push(q, 7, 1, 0);
        ck_assert_int_eq(fg_queue_set_ordering(q, FG_ORDER_PARTITION, errstr, sizeof(errstr)), 0);
        pop_expect(q, out, 16, (uint64_t[]){6}, 1);
        fg_queue_release(q, out, NULL, 1);
        pop_expect(q, out, 16, (uint64_t[]){7}, 1);
        fg_queue_release(q, out, NULL, 1);
        fg_queue_destroy(q);
}
END_TEST

static bool of_part0(const fg_item_t *it, void *opaque) { return it->part == parts[0]; }

static void count_it(fg_item_t *it, void *opaque) { (*(int *)opaque)++; }

START_TEST(test_queue_order_remove_if) {
        fg_queue_t *q = queue_new(32, FG_ORDER_KEY);
        fg_item_t out[16];
        size_t m, b;
        int disposed = 0;

        push(q, 1, 0, 0);
        push(q, 2, 0, 0);
        push(q, 3, 1, 1);
        push(q, 4, 1, 1);
        push(q, 5, 0, 0);
        push(q, 6, 2, 0);
        pop_expect(q, out, 16, (uint64_t[]){1, 3, 6}, 3);
        fg_part_blocked(parts[0], &m, &b);
        ck_assert_uint_eq(m, 2);
        ck_assert_uint_eq(b, 20);
        /* Partition 0 revoked: its queued items go, in-flight ones stay. */
        ck_assert_uint_eq(fg_queue_remove_if(q, of_part0, count_it, &disposed), 2);
        ck_assert_int_eq(disposed, 2);
        ck_assert_uint_eq(fg_queue_depth(q), 1);
        ck_assert_uint_eq(fg_queue_bytes(q), 10);
        fg_part_blocked(parts[0], &m, &b);
        ck_assert_uint_eq(m + b, 0);
        ck_assert_uint_eq(ostats(q).blocked, 1);
        fg_queue_release(q, out, NULL, 3);
        ck_assert_uint_eq(ostats(q).busy_keys, 0);
        pop_expect(q, out, 16, (uint64_t[]){4}, 1);
        fg_queue_release(q, out, NULL, 1);
        fg_queue_destroy(q);
}
END_TEST

/* ---- threads ---- */

typedef struct popper {
        fg_queue_t *q;
        pthread_t th;
        fg_item_t out[4];
        size_t got;
        int64_t timeout_ns;
} popper_t;

static void *popper_main(void *arg) {
        popper_t *p = arg;
        p->got = fg_queue_pop(p->q, p->out, 4, p->timeout_ns);
        return NULL;
}

START_TEST(test_queue_order_release_wakes_popper) {
        fg_queue_t *q = queue_new(32, FG_ORDER_KEY);
        fg_item_t out[4];
        popper_t p = {.q = q, .timeout_ns = LONG_WAIT};
        int64_t t0;

        push(q, 1, 0, -1);
        push(q, 2, 0, -1);
        pop_expect(q, out, 4, (uint64_t[]){1}, 1);
        ck_assert_int_eq(pthread_create(&p.th, NULL, popper_main, &p), 0);
        t0 = fg_mono_ns();
        fg_queue_release(q, out, NULL, 1);
        pthread_join(p.th, NULL);
        ck_assert_int_lt(fg_mono_ns() - t0, BOUND_NS);
        ck_assert_uint_eq(p.got, 1);
        ck_assert_uint_eq(p.out[0].seq, 2);
        fg_queue_release(q, p.out, NULL, 1);
        fg_queue_destroy(q);
}
END_TEST

START_TEST(test_queue_order_close_waits_behind_busy) {
        fg_queue_t *q = queue_new(32, FG_ORDER_KEY);
        fg_item_t out[4];
        popper_t p = {.q = q, .timeout_ns = LONG_WAIT};
        int64_t t0;

        push(q, 1, 0, -1);
        push(q, 2, 0, -1);
        pop_expect(q, out, 4, (uint64_t[]){1}, 1);
        fg_queue_close(q);
        /* Closed, yet an item waits behind a busy key: a pop waits for it
         * (a short one times out) instead of saying "empty". */
        t0 = fg_mono_ns();
        ck_assert_uint_eq(fg_queue_pop(q, out + 1, 4, 50 * FG_NS_PER_MS), 0);
        ck_assert_int_ge(fg_mono_ns() - t0, 50 * FG_NS_PER_MS);
        ck_assert_int_eq(pthread_create(&p.th, NULL, popper_main, &p), 0);
        fg_queue_release(q, out, NULL, 1);
        pthread_join(p.th, NULL);
        ck_assert_uint_eq(p.got, 1);
        ck_assert_uint_eq(p.out[0].seq, 2);
        fg_queue_release(q, p.out, NULL, 1);
        t0 = fg_mono_ns();
        ck_assert_uint_eq(fg_queue_pop(q, out, 4, LONG_WAIT), 0); /* closed and empty */
        ck_assert_int_lt(fg_mono_ns() - t0, BOUND_NS);
        fg_queue_destroy(q);
}
END_TEST

/*
 * Four consumers, one producer (the test thread) pushing NITEMS items over
 * NKEYS keys and NPARTS partitions, and a switcher cycling the modes. Each
 * consumer marks its ordered items in flight per key and per partition
 * before a little work and unmarks them before releasing: an item popped in
 * key mode must find no other ordered item of its key in flight and no
 * partition-mode item of its partition, one popped in partition mode no
 * ordered item of its partition — whatever mode they were popped in. (That
 * a switch waits for items popped in none mode is checked without threads
 * above: here a none item may legitimately overlap one popped before the
 * switch to none, and marks cannot tell which came first.) Each
 * key's items popped in an ordered mode come in push order, and every item
 * is popped exactly once.
 */
#define MT_ITEMS     100000
#define MT_CONSUMERS 4

typedef struct mt {
        fg_queue_t *q;
        bool runs;
        atomic_bool closed, stop_switching;
        _Atomic int key_flight[NKEYS];    /* ordered items in flight, by key */
        _Atomic int part_flight[NPARTS];  /* ordered items in flight, by partition */
        _Atomic int pmode_flight[NPARTS]; /* partition-mode items in flight */
        _Atomic int64_t last_seq[NKEYS];
        _Atomic long overlaps, disorder, got, ordered_pops;
        _Atomic long run_batches; /* ordered batches with two items of a key */
} mt_t;

typedef struct mt_consumer {
        mt_t *m;
        pthread_t th;
        uint64_t rng;
} mt_consumer_t;

static uint64_t xorshift(uint64_t *x) {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        return *x;
}

/* A batch's marks: its items of each key and partition, once per group,
 * since items of one batch may share a key (runs). All items of a batch
 * were popped in one mode. Returns false on an overlap. */
static bool mt_mark(mt_t *m, const fg_item_t *out, size_t n, int sign) {
        int kn[NKEYS] = {0}, pn[NPARTS] = {0};
        bool ok = true, key_mode = out[0].sched == FG_ORDER_KEY;

        for (size_t i = 0; i < n; i++) {
                kn[out[i].seq % NKEYS]++;
                pn[out[i].seq % NKEYS % NPARTS]++;
        }
        if (sign < 0) {
                for (int k = 0; k < NKEYS; k++)
                        atomic_fetch_sub(&m->key_flight[k], kn[k]);
                for (int p = 0; p < NPARTS; p++) {
                        atomic_fetch_sub(&m->part_flight[p], pn[p]);
                        if (!key_mode)
                                atomic_fetch_sub(&m->pmode_flight[p], pn[p]);
                }
                return true;
        }
        /* Key mode: no other batch's ordered item of the key, nor a
         * partition-mode item of its partition; partition mode: no other
         * batch's ordered item of the partition at all. */
        for (int k = 0; k < NKEYS; k++) {
                if (!kn[k])
                        continue;
                if (atomic_fetch_add(&m->key_flight[k], kn[k]) && key_mode)
                        ok = false;
                if (key_mode && atomic_load(&m->pmode_flight[k % NPARTS]))
                        ok = false;
                if (key_mode && kn[k] > 1)
                        atomic_fetch_add(&m->run_batches, 1);
        }
        for (int p = 0; p < NPARTS; p++) {
                if (!pn[p])
                        continue;
                if (!key_mode && (atomic_load(&m->part_flight[p]) ||
                                  atomic_fetch_add(&m->pmode_flight[p], pn[p])))
                        ok = false;
                atomic_fetch_add(&m->part_flight[p], pn[p]);
        }
        return ok;
}

static void *mt_consumer_main(void *arg) {
        mt_consumer_t *c = arg;
        mt_t *m = c->m;
        fg_item_t out[32];

        for (;;) {
                bool was_closed = atomic_load(&m->closed);
                size_t n = fg_queue_pop(m->q, out, 1 + xorshift(&c->rng) % 32, 50 * FG_NS_PER_MS);
                bool ordered = n && out[0].sched != FG_ORDER_NONE;

                if (n == 0) {
                        if (was_closed && fg_queue_depth(m->q) == 0)
                                break;
                        continue;
                }
                if (ordered) {
                        if (!mt_mark(m, out, n, +1))
                                atomic_fetch_add(&m->overlaps, 1);
                        /* Two ordered pops of one key are apart by a
                         * release, so the earlier one was recorded first;
                         * within a batch a key's items come in push order. */
                        for (size_t i = 0; i < n; i++) {
                                int k = (int)(out[i].seq % NKEYS);
                                int64_t prev = atomic_exchange(&m->last_seq[k], (int64_t)out[i].seq);
                                if (prev >= (int64_t)out[i].seq)
                                        atomic_fetch_add(&m->disorder, 1);
                                atomic_fetch_add(&m->ordered_pops, 1);
                        }
                }
                for (volatile unsigned spin = (unsigned)(xorshift(&c->rng) % 2000); spin; spin--)
                        ;
                if (ordered)
                        mt_mark(m, out, n, -1);
                atomic_fetch_add(&m->got, (long)n);
                /* Released in two parts: items of one batch end separately. */
                fg_queue_release(m->q, out, NULL, n / 2);
                fg_queue_release(m->q, out + n / 2, NULL, n - n / 2);
        }
        return NULL;
}

/* Lets the other threads run a little between two switches. */
static void give_way(void) {
        struct timespec ts = {0, 200 * 1000};
        nanosleep(&ts, NULL);
}

static void *mt_switcher_main(void *arg) {
        mt_t *m = arg;
        static const fg_ordering_t cycle[] = {FG_ORDER_KEY, FG_ORDER_NONE, FG_ORDER_PARTITION,
                                              FG_ORDER_KEY, FG_ORDER_PARTITION, FG_ORDER_NONE};
        char errstr[128];

        for (unsigned i = 0; !atomic_load(&m->stop_switching); i++) {
                fg_queue_set_ordering(m->q, cycle[i % 6], errstr, sizeof(errstr));
                give_way();
        }
        fg_queue_set_ordering(m->q, FG_ORDER_KEY, errstr, sizeof(errstr));
        return NULL;
}

/* Loop 0 without runs, 1 with them. */
START_TEST(test_queue_order_concurrent_no_overlap) {
        mt_t m = {.runs = _i == 1};
        mt_consumer_t cons[MT_CONSUMERS];
        pthread_t switcher;
        fg_item_t batch[64];
        uint64_t rng = 0x2545f4914f6cdd1dULL;

        m.q = queue_new(512, FG_ORDER_KEY);
        fg_queue_set_runs(m.q, m.runs);
        for (int k = 0; k < NKEYS; k++)
                atomic_init(&m.last_seq[k], -1);
        for (int i = 0; i < MT_CONSUMERS; i++) {
                cons[i] = (mt_consumer_t){.m = &m, .rng = 0x9e3779b97f4a7c15ULL * (unsigned)(i + 1)};
                ck_assert_int_eq(pthread_create(&cons[i].th, NULL, mt_consumer_main, &cons[i]), 0);
        }
        ck_assert_int_eq(pthread_create(&switcher, NULL, mt_switcher_main, &m), 0);
        for (uint64_t seq = 0; seq < MT_ITEMS;) {
                size_t n = 1 + xorshift(&rng) % 64, done = 0;
                if (n > MT_ITEMS - seq)
                        n = MT_ITEMS - seq;
                for (size_t i = 0; i < n; i++) {
                        uint64_t s = seq + i;
                        batch[i] = item_of(s, (int)(s % NKEYS), -1);
                }
                while (done < n) {
                        bool above;
                        done += fg_queue_push_batch(m.q, batch + done, n - done, &above);
                        if (done < n || above)
                                fg_queue_wait_below_low(m.q, 100 * FG_NS_PER_MS);
                }
                seq += n;
        }
        atomic_store(&m.stop_switching, true);
        pthread_join(switcher, NULL);
        fg_queue_close(m.q);
        atomic_store(&m.closed, true);
        for (int i = 0; i < MT_CONSUMERS; i++)
                pthread_join(cons[i].th, NULL);
        ck_assert_int_eq(atomic_load(&m.got), MT_ITEMS);
        ck_assert_int_eq(atomic_load(&m.overlaps), 0);
        ck_assert_int_eq(atomic_load(&m.disorder), 0);
        ck_assert_int_gt(atomic_load(&m.ordered_pops), 0);
        fprintf(stderr, "queue_order: runs %s: %ld ordered items, %ld batches with a run\n",
                m.runs ? "on" : "off", atomic_load(&m.ordered_pops), atomic_load(&m.run_batches));
        if (m.runs)
                ck_assert_int_gt(atomic_load(&m.run_batches), 0);
        else
                ck_assert_int_eq(atomic_load(&m.run_batches), 0);
        ck_assert_uint_eq(fg_queue_depth(m.q), 0);
        ck_assert_uint_eq(ostats(m.q).in_flight, 0);
        fg_queue_destroy(m.q);
}
END_TEST

static Suite *queue_order_suite(void) {
        Suite *s = suite_create("queue_order");
        TCase *tc = tcase_create("core");
        TCase *tc_mt = tcase_create("threads");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_queue_order_key_one_per_key);
        tcase_add_test(tc, test_queue_order_runs);
        tcase_add_test(tc, test_queue_order_stop_runs_waits);
        tcase_add_test(tc, test_queue_order_keyless_by_partition);
        tcase_add_test(tc, test_queue_order_partition_mode);
        tcase_add_test(tc, test_queue_order_switch_waits_for_in_flight);
        tcase_add_test(tc, test_queue_order_switch_to_none_at_once);
        tcase_add_test(tc, test_queue_order_remove_if);
        suite_add_tcase(s, tc);

        tcase_add_checked_fixture(tc_mt, setup, teardown);
        tcase_set_timeout(tc_mt, 300);
        tcase_add_test(tc_mt, test_queue_order_release_wakes_popper);
        tcase_add_test(tc_mt, test_queue_order_close_waits_behind_busy);
        tcase_add_loop_test(tc_mt, test_queue_order_concurrent_no_overlap, 0, 2);
        suite_add_tcase(s, tc_mt);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(queue_order_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
