/*
 * sched: the bookkeeping of an ordered queue (workers.ordering: partition
 * or key) — which waiting item may go next, so that no two items of one
 * scheduling key are ever in flight together and each key's items go in
 * the order they came.
 *
 * DESIGN
 * Items live by value in a slab of nodes allocated once (the queue's
 * capacity), each on its key's FIFO. A key entry exists while its key has
 * waiting items or one in flight ("busy"); entries live in a pool that only
 * grows, found through an open-addressing table (linear probing,
 * backward-shift deletion: no tombstones). Keys with waiting items and
 * nothing in flight are "ready": they sit in a binary min-heap ordered by
 * the arrival of their head item, so the oldest event that may go goes
 * first — the order `none` would take, minus what has to wait. Pop takes
 * the head of the top key and marks the key busy (so a batch holds at most
 * one item per key); release makes the key ready again when items wait, or
 * forgets it.
 *
 * Costs: push and release O(log ready keys), pop O(log ready keys) per item.
 * Nothing allocates per item: the key pool, its table and the heap double
 * when the keys present outgrow them, and keys present never exceed the
 * items waiting plus the items in flight.
 *
 * Blocked items — waiting behind an earlier item of their key, in flight or
 * not yet taken — are counted globally and per partition
 * (fg_part_blocked_add, attributed to the partition of the key's first
 * item), for the gauges and for ingest's per-partition admission.
 *
 * Threading: none of its own; the queue calls it under its lock.
 * Ownership: the sched owns the items it holds (by value) until pop,
 * remove_if's dispose or take_all hands them out. Each key entry holds a
 * reference on the partition its counts go to, until the entry goes.
 */
#ifndef FG_SCHED_H
#define FG_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipeline/item.h"

typedef struct fg_sched fg_sched_t;

typedef struct fg_sched_stats {
        size_t waiting;      /* items held */
        size_t ready_keys;   /* keys whose head may go now */
        size_t busy_keys;    /* keys with an item in flight */
        size_t blocked;      /* items waiting behind an earlier item of their key */
        size_t blocked_keys; /* keys with such items */
        size_t keys;         /* key entries (waiting or busy) */
} fg_sched_stats_t;

/* Room for @p capacity items (1 .. UINT32_MAX - 1); NULL when memory is
 * short. */
fg_sched_t *fg_sched_new(size_t capacity);
/* Frees the sched and gives back the keys' partition references; items
 * still inside are dropped without a word (take them out first). */
void fg_sched_destroy(fg_sched_t *s);

/* Appends a copy of @p it to key @p skey's FIFO. The caller keeps the
 * number held within the capacity. */
void fg_sched_push(fg_sched_t *s, const fg_item_t *it, uint64_t skey);
/* Moves up to @p max items into @p out: the heads of the ready keys, oldest
 * head first, each with its skey set; their keys become busy. */
size_t fg_sched_pop(fg_sched_t *s, fg_item_t *out, size_t max);
/* Busy key @p skey's item reached its end. Returns true when the key is
 * ready again (items were waiting behind it). */
bool fg_sched_release(fg_sched_t *s, uint64_t skey);
/* Removes every held item @p pred selects, passing it to @p dispose (which
 * takes it), keeping each key's order. Returns how many; adds their bytes
 * to *@p bytes. */
size_t fg_sched_remove_if(fg_sched_t *s, bool (*pred)(const fg_item_t *it, void *opaque),
                          void (*dispose)(fg_item_t *it, void *opaque), void *opaque,
                          size_t *bytes);
/* Moves every held item into @p out (room for stats.waiting) in arrival
 * order. Busy keys stay busy (their releases still come), the others are
 * forgotten. Returns how many. */
size_t fg_sched_take_all(fg_sched_t *s, fg_item_t *out);

size_t fg_sched_ready(const fg_sched_t *s);
void fg_sched_get_stats(const fg_sched_t *s, fg_sched_stats_t *out);

#endif
