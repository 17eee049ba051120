/*
 * check_sched: the ordered queue's scheduler, alone and without threads —
 * one item per key per pop, each key's FIFO order, the oldest ready head
 * first, release, the blocked counts (items behind an earlier item of their
 * key; global and per partition), remove_if
 * keeping order and the heap sound, take_all in arrival order, slab reuse
 * at capacity, and a long random run checked step by step against a plain
 * model (thousands of keys: the key table and pool grow and shrink).
 *
 * Items carry no message; their seq is the test's id and their part is
 * NULL except where per-partition counts are checked.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/offsets.h"
#include "pipeline/sched.h"

static fg_sched_t *sched_new(size_t capacity) {
        fg_sched_t *s = fg_sched_new(capacity);

        ck_assert_ptr_nonnull(s);
        return s;
}

static void push(fg_sched_t *s, uint64_t skey, uint64_t id, uint32_t bytes, fg_part_t *part) {
        fg_item_t it = {.seq = id, .bytes = bytes, .part = part};
        fg_sched_push(s, &it, skey);
}

/* Pops up to @p max and checks the ids, in order, against @p want. */
static void pop_expect(fg_sched_t *s, size_t max, const uint64_t *want, size_t nwant) {
        fg_item_t out[64];
        size_t n = fg_sched_pop(s, out, max);

        ck_assert_uint_eq(n, nwant);
        for (size_t i = 0; i < n; i++)
                ck_assert_msg(out[i].seq == want[i], "pop #%zu: id %llu, expected %llu", i,
                              (unsigned long long)out[i].seq, (unsigned long long)want[i]);
}

static fg_sched_stats_t stats(const fg_sched_t *s) {
        fg_sched_stats_t st;
        fg_sched_get_stats(s, &st);
        return st;
}

START_TEST(test_sched_one_per_key_in_fifo_order) {
        fg_sched_t *s = sched_new(16);

        push(s, 'A', 1, 10, NULL);
        push(s, 'A', 2, 10, NULL);
        push(s, 'B', 3, 10, NULL);
        push(s, 'A', 4, 10, NULL);
        push(s, 'B', 5, 10, NULL);
        pop_expect(s, 10, (uint64_t[]){1, 3}, 2);
        pop_expect(s, 10, NULL, 0); /* both keys busy */
        ck_assert(fg_sched_release(s, 'A'));
        pop_expect(s, 10, (uint64_t[]){2}, 1);
        ck_assert(fg_sched_release(s, 'B'));
        ck_assert(fg_sched_release(s, 'A'));
        pop_expect(s, 10, (uint64_t[]){4, 5}, 2);
        ck_assert(!fg_sched_release(s, 'A')); /* nothing waits: forgotten */
        ck_assert(!fg_sched_release(s, 'B'));
        ck_assert(!fg_sched_release(s, 'A')); /* not busy: ignored */
        ck_assert_uint_eq(stats(s).keys, 0);
        ck_assert_uint_eq(stats(s).waiting, 0);
        fg_sched_destroy(s);
}
END_TEST

START_TEST(test_sched_oldest_ready_head_first) {
        fg_sched_t *s = sched_new(16);

        push(s, 'A', 1, 1, NULL);
        push(s, 'B', 2, 1, NULL);
        push(s, 'C', 3, 1, NULL);
        push(s, 'A', 4, 1, NULL);
        pop_expect(s, 1, (uint64_t[]){1}, 1);
        pop_expect(s, 1, (uint64_t[]){2}, 1);
        /* A's next (id 4) came after C's head (id 3): C goes first even
         * though A became ready later. */
        fg_sched_release(s, 'A');
        pop_expect(s, 1, (uint64_t[]){3}, 1);
        pop_expect(s, 1, (uint64_t[]){4}, 1);
        /* A key released with nothing waiting re-enters at the back. */
        fg_sched_release(s, 'B');
        push(s, 'B', 5, 1, NULL);
        push(s, 'D', 6, 1, NULL);
        pop_expect(s, 4, (uint64_t[]){5, 6}, 2);
        fg_sched_destroy(s);
}
END_TEST

START_TEST(test_sched_blocked_counts) {
        fg_part_t *p0 = fg_part_new("t", 0), *p1 = fg_part_new("t", 1);
        fg_sched_t *s = sched_new(16);
        size_t m, b;
        fg_sched_stats_t st;

        push(s, 1, 1, 100, p0);
        push(s, 1, 2, 200, p0);
        push(s, 1, 3, 300, p0);
        push(s, 2, 4, 50, p1);
        st = stats(s);
        ck_assert_uint_eq(st.blocked, 2); /* ids 2 and 3 behind key 1's head */
        ck_assert_uint_eq(st.blocked_keys, 1);
        ck_assert_uint_eq(st.ready_keys, 2);
        pop_expect(s, 8, (uint64_t[]){1, 4}, 2);
        st = stats(s);
        ck_assert_uint_eq(st.busy_keys, 2);
        ck_assert_uint_eq(st.blocked, 2);      /* ids 2 and 3 behind key 1 */
        ck_assert_uint_eq(st.blocked_keys, 1); /* key 2 has nothing behind it */
        fg_part_blocked(p0, &m, &b);
        ck_assert_uint_eq(m, 2);
        ck_assert_uint_eq(b, 500);
        fg_part_blocked(p1, &m, &b);
        ck_assert_uint_eq(m, 0);
        push(s, 2, 5, 70, p1); /* behind busy key 2 */
        fg_part_blocked(p1, &m, &b);
        ck_assert_uint_eq(m, 1);
        ck_assert_uint_eq(b, 70);
        ck_assert_uint_eq(stats(s).blocked_keys, 2);
        fg_sched_release(s, 1); /* 2 may go now; 3 still waits behind it */
        fg_part_blocked(p0, &m, &b);
        ck_assert_uint_eq(m, 1);
        ck_assert_uint_eq(b, 300);
        pop_expect(s, 8, (uint64_t[]){2}, 1); /* key 2 busy: only key 1 */
        fg_part_blocked(p0, &m, &b);
        ck_assert_uint_eq(m, 1);
        ck_assert_uint_eq(b, 300);
        ck_assert_uint_eq(stats(s).blocked, 2);
        fg_sched_release(s, 1);
        fg_sched_release(s, 2);
        pop_expect(s, 8, (uint64_t[]){3, 5}, 2);
        fg_sched_release(s, 1);
        fg_sched_release(s, 2);
        st = stats(s);
        ck_assert_uint_eq(st.blocked + st.blocked_keys + st.busy_keys + st.keys, 0);
        fg_part_blocked(p1, &m, &b);
        ck_assert_uint_eq(m + b, 0);
        fg_sched_destroy(s);
        fg_part_unref(p0);
        fg_part_unref(p1);
}
END_TEST

/* A partition assigned again while an event of its old assignment is in
 * flight: the new object's items join the old key, which counts in the old
 * object — kept alive by the key, not freed under it (ASan watches). */
START_TEST(test_sched_key_outlives_partition_object) {
        fg_part_t *old = fg_part_new("t", 0), *fresh = fg_part_new("t", 0);
        fg_sched_t *s = sched_new(8);
        size_t m, b;

        push(s, 7, 1, 10, old);
        pop_expect(s, 4, (uint64_t[]){1}, 1);
        push(s, 7, 2, 20, fresh);
        push(s, 7, 3, 30, fresh);
        fg_part_unref(old); /* revoked: the table's (and the item's) reference go */
        ck_assert(fg_sched_release(s, 7));
        fg_part_blocked(fresh, &m, &b);
        ck_assert_uint_eq(m, 0); /* counted in the old object */
        pop_expect(s, 4, (uint64_t[]){2}, 1);
        ck_assert(fg_sched_release(s, 7));
        pop_expect(s, 4, (uint64_t[]){3}, 1);
        ck_assert(!fg_sched_release(s, 7)); /* the key goes, and the old object */
        fg_sched_destroy(s);
        fg_part_unref(fresh);
}
END_TEST

typedef struct removed {
        uint64_t ids[64];
        size_t n;
} removed_t;

static bool id_is_even(const fg_item_t *it, void *opaque) { return it->seq % 2 == 0; }

static void keep_id(fg_item_t *it, void *opaque) {
        removed_t *r = opaque;
        r->ids[r->n++] = it->seq;
}

START_TEST(test_sched_remove_if_keeps_order_and_heap) {
        fg_sched_t *s = sched_new(32);
        removed_t r = {.n = 0};
        size_t bytes = 0;

        /* key 1: 2 4 6 (all go: the key is forgotten); key 2: 1 8 3 (head
         * stays); key 3: 10 5 7 (head goes: the key's place moves back);
         * key 4: busy, 12 9 behind it. */
        push(s, 4, 0, 1, NULL);
        pop_expect(s, 1, (uint64_t[]){0}, 1);
        push(s, 1, 2, 1, NULL);
        push(s, 2, 1, 1, NULL);
        push(s, 3, 10, 1, NULL);
        push(s, 1, 4, 1, NULL);
        push(s, 2, 8, 1, NULL);
        push(s, 3, 5, 1, NULL);
        push(s, 1, 6, 1, NULL);
        push(s, 2, 3, 1, NULL);
        push(s, 3, 7, 1, NULL);
        push(s, 4, 12, 1, NULL);
        push(s, 4, 9, 1, NULL);
        ck_assert_uint_eq(fg_sched_remove_if(s, id_is_even, keep_id, &r, &bytes), 6);
        ck_assert_uint_eq(bytes, 6);
        ck_assert_uint_eq(r.n, 6);
        ck_assert_uint_eq(stats(s).waiting, 5);
        /* 3 behind key 2's head 1, 7 behind key 3's head 5, 9 behind busy
         * key 4. */
        ck_assert_uint_eq(stats(s).blocked, 3);
        /* Ready heads now: key 2's 1 (arrived 2nd), key 3's 5 (6th). */
        pop_expect(s, 8, (uint64_t[]){1, 5}, 2);
        fg_sched_release(s, 2);
        fg_sched_release(s, 3);
        fg_sched_release(s, 4);
        pop_expect(s, 8, (uint64_t[]){3, 7, 9}, 3);
        fg_sched_destroy(s);
}
END_TEST

START_TEST(test_sched_take_all_arrival_order) {
        fg_sched_t *s = sched_new(16);
        fg_item_t out[16];

        push(s, 1, 100, 1, NULL);
        push(s, 2, 101, 1, NULL);
        push(s, 1, 102, 1, NULL);
        push(s, 3, 103, 1, NULL);
        push(s, 2, 104, 1, NULL);
        pop_expect(s, 1, (uint64_t[]){100}, 1); /* key 1 busy */
        ck_assert_uint_eq(fg_sched_take_all(s, out), 4);
        for (int i = 0; i < 4; i++)
                ck_assert_uint_eq(out[i].seq, 101 + (uint64_t)i);
        ck_assert_uint_eq(stats(s).waiting, 0);
        ck_assert_uint_eq(stats(s).ready_keys, 0);
        ck_assert_uint_eq(stats(s).busy_keys, 1); /* its release still comes */
        ck_assert(!fg_sched_release(s, 1));
        ck_assert_uint_eq(stats(s).keys, 0);
        /* Usable again after. */
        push(s, 1, 7, 1, NULL);
        pop_expect(s, 4, (uint64_t[]){7}, 1);
        fg_sched_destroy(s);
}
END_TEST

START_TEST(test_sched_slab_reused_at_capacity) {
        fg_sched_t *s = sched_new(3);
        fg_item_t out[3];

        for (uint64_t round = 0; round < 1000; round++) {
                push(s, round % 5, 3 * round, 1, NULL);
                push(s, round % 5 + 10, 3 * round + 1, 1, NULL);
                push(s, round % 5, 3 * round + 2, 1, NULL);
                ck_assert_uint_eq(fg_sched_pop(s, out, 3), 2);
                fg_sched_release(s, round % 5);
                fg_sched_release(s, round % 5 + 10);
                ck_assert_uint_eq(fg_sched_pop(s, out, 3), 1);
                ck_assert_uint_eq(out[0].seq, 3 * round + 2);
                fg_sched_release(s, round % 5);
        }
        ck_assert_uint_eq(stats(s).keys, 0);
        fg_sched_destroy(s);
}
END_TEST

/*
 * The random run: up to CAP items over NKEYS keys, pushes, pops of random
 * sizes, releases of random busy keys and occasional remove_ifs, checked
 * after every step against a model — each key's FIFO of ids and its busy
 * flag. A pop must return exactly the heads of the ready keys in order of
 * their heads' arrival (ids are handed out in arrival order), at most max.
 */
#define RND_CAP   4096
#define RND_KEYS  3000
#define RND_STEPS 200000

typedef struct mkey {
        uint64_t *ids; /* FIFO: [head, tail) of a ring of RND_CAP */
        size_t head, tail;
        bool busy;
} mkey_t;

static uint64_t rnd(uint64_t *x) {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        return *x;
}

static size_t mlen(const mkey_t *k) { return k->tail - k->head; }

static bool id_mod7(const fg_item_t *it, void *opaque) { return it->seq % 7 == 3; }

static void dispose_count(fg_item_t *it, void *opaque) { (*(size_t *)opaque)++; }

START_TEST(test_sched_random_against_model) {
        fg_sched_t *s = sched_new(RND_CAP);
        mkey_t *keys = calloc(RND_KEYS, sizeof(*keys));
        uint64_t x = 0x9e3779b97f4a7c15ULL, next_id = 0;
        size_t held = 0, busy = 0, max_keys = 0;
        fg_item_t out[64];

        ck_assert_ptr_nonnull(keys);
        for (int k = 0; k < RND_KEYS; k++)
                ck_assert_ptr_nonnull(keys[k].ids = malloc(RND_CAP * sizeof(uint64_t)));
        for (long step = 0; step < RND_STEPS; step++) {
                unsigned op = (unsigned)(rnd(&x) % 100);

                if (op < 45 && held < RND_CAP) {
                        /* Skewed: a tenth of the pushes go to key 0. */
                        size_t k = rnd(&x) % 10 == 0 ? 0 : rnd(&x) % RND_KEYS;
                        push(s, k + 1, next_id, 1, NULL);
                        keys[k].ids[keys[k].tail++ % RND_CAP] = next_id++;
                        held++;
                } else if (op < 75) {
                        size_t max = 1 + rnd(&x) % 64, n = fg_sched_pop(s, out, max), want = 0;
                        uint64_t last = 0;

                        /* Every popped item is its key's head, keys not busy,
                         * heads in arrival order. */
                        for (size_t i = 0; i < n; i++) {
                                mkey_t *k = &keys[out[i].skey - 1];
                                ck_assert(!k->busy);
                                ck_assert(mlen(k) > 0);
                                ck_assert_uint_eq(k->ids[k->head % RND_CAP], out[i].seq);
                                ck_assert(i == 0 || out[i].seq > last);
                                last = out[i].seq;
                                k->head++;
                                k->busy = true;
                                busy++;
                                held--;
                        }
                        /* And none older was left behind: every ready key not
                         * taken has a younger head than the last taken (or the
                         * pop was full). */
                        if (step % 4)
                                continue; /* the full scan every 4th pop is plenty */
                        for (int k = 0; k < RND_KEYS; k++)
                                want += !keys[k].busy && mlen(&keys[k]) > 0;
                        if (n < max)
                                ck_assert_uint_eq(want, 0);
                        else
                                for (int k = 0; k < RND_KEYS; k++)
                                        if (!keys[k].busy && mlen(&keys[k]))
                                                ck_assert(keys[k].ids[keys[k].head % RND_CAP] > last);
                } else if (op < 98 && busy) {
                        size_t k = rnd(&x) % RND_KEYS;
                        while (!keys[k].busy)
                                k = (k + 1) % RND_KEYS;
                        ck_assert(fg_sched_release(s, k + 1) == (mlen(&keys[k]) > 0));
                        keys[k].busy = false;
                        busy--;
                } else if (op >= 98) {
                        size_t gone = 0, bytes = 0;
                        ck_assert_uint_eq(fg_sched_remove_if(s, id_mod7, dispose_count, &gone, &bytes),
                                          gone);
                        for (int k = 0; k < RND_KEYS; k++) {
                                size_t w = keys[k].head;
                                for (size_t r = keys[k].head; r < keys[k].tail; r++) {
                                        uint64_t id = keys[k].ids[r % RND_CAP];
                                        if (id % 7 != 3)
                                                keys[k].ids[w++ % RND_CAP] = id;
                                }
                                keys[k].tail = w;
                        }
                        held -= gone;
                }
                if (step % 997 == 0) {
                        fg_sched_stats_t st = stats(s);
                        size_t blocked = 0, nkeys = 0;
                        for (int k = 0; k < RND_KEYS; k++) {
                                blocked += keys[k].busy        ? mlen(&keys[k])
                                           : mlen(&keys[k]) ? mlen(&keys[k]) - 1
                                                            : 0;
                                nkeys += keys[k].busy || mlen(&keys[k]);
                        }
                        ck_assert_uint_eq(st.waiting, held);
                        ck_assert_uint_eq(st.busy_keys, busy);
                        ck_assert_uint_eq(st.blocked, blocked);
                        ck_assert_uint_eq(st.keys, nkeys);
                        if (nkeys > max_keys)
                                max_keys = nkeys;
                }
        }
        ck_assert_uint_gt(max_keys, 1000); /* the table grew well past its start */
        for (int k = 0; k < RND_KEYS; k++)
                free(keys[k].ids);
        free(keys);
        fg_sched_destroy(s);
}
END_TEST

static Suite *sched_suite(void) {
        Suite *s = suite_create("sched");
        TCase *tc = tcase_create("core");

        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_sched_one_per_key_in_fifo_order);
        tcase_add_test(tc, test_sched_oldest_ready_head_first);
        tcase_add_test(tc, test_sched_blocked_counts);
        tcase_add_test(tc, test_sched_key_outlives_partition_object);
        tcase_add_test(tc, test_sched_remove_if_keeps_order_and_heap);
        tcase_add_test(tc, test_sched_take_all_arrival_order);
        tcase_add_test(tc, test_sched_slab_reused_at_capacity);
        tcase_add_test(tc, test_sched_random_against_model);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(sched_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
