/*
 * queue: the bounded hand-off between the ingest thread and the workers.
 *
 * DESIGN
 * A fixed ring of fg_item_t allocated once, bounded both in messages
 * (capacity) and in payload bytes (max_bytes). Ingest pushes and never
 * blocks: a push takes what fits and the caller keeps the rest. Workers
 * pop batches and block (with a timeout) while it is empty.
 *
 * Backpressure is driven by two watermarks, expressed as fill ratios of
 * both bounds: a push that leaves the queue at or above the high watermark
 * tells the caller so (ingest then stops taking messages); ingest waits in
 * fg_queue_wait_below_low() until the workers have drained it to the low
 * watermark (the pop or removal that gets there wakes it).
 *
 * Ordering (workers.ordering, fg_queue_set_ordering): `none` pops in
 * arrival order from the ring, as fast as it goes. `partition` and `key`
 * keep the items in a scheduler (sched.h) instead: each item gets a
 * scheduling key at push — a hash of its partition, or of its partition and
 * message key (keyless messages: the partition's) — and a pop hands out
 * items of keys that have none in flight, oldest first: one per key, or
 * with runs (fg_queue_set_runs) a key's consecutive items together, in
 * offset order. A popped item stays "in flight" until fg_queue_release
 * (called when the item is finished or abandoned, see item.h); its key's
 * next item may go once every item of its batch's run is released. So the
 * items of a key in flight at once are always one batch's, in order. A
 * hash collision only serialises two keys. Items waiting behind a busy key
 * count against capacity and max_bytes like any other.
 *
 * Switching modes live: to `none` at once (in-flight items still release
 * their keys); to an ordered mode only once nothing popped before is in
 * flight — until then pops hand out nothing (ingest keeps pushing), then
 * the waiting items are re-keyed in arrival order. So no two items of one
 * key are ever in flight together, even across a switch.
 *
 * Threading: fg_queue_push_batch, fg_queue_remove_if, fg_queue_wait_below_low:
 * ingest thread. fg_queue_pop: worker threads. fg_queue_release: whichever
 * thread owns the items. fg_queue_close, fg_queue_set_ordering,
 * fg_queue_set_runs, fg_queue_stop_runs: main thread.
 * fg_queue_depth/bytes/is_below_low/ordering: any thread (atomics);
 * fg_queue_get_order_stats: any thread (the lock).
 * Locks: one internal mutex.
 * Ownership: the queue owns the items it holds. fg_queue_destroy() abandons
 * any left (fg_item_abandon).
 */
#ifndef FG_QUEUE_H
#define FG_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipeline/item.h"

typedef struct fg_queue fg_queue_t;

/* workers.ordering: what may be in flight at once. */
typedef enum fg_ordering {
        FG_ORDER_NONE = 0,   /* anything: arrival order, any number per key */
        FG_ORDER_PARTITION,  /* at most one item per partition */
        FG_ORDER_KEY,        /* at most one per (partition, message key) */
} fg_ordering_t;

/* The queue section of the configuration (queue.pause_after is ingest's). */
typedef struct fg_queue_cfg {
        int64_t capacity;       /* messages, >= 1 */
        int64_t max_bytes;      /* payload bytes, >= 1 */
        double high_watermark;  /* (0, 1]: ingest stops taking messages at this fill */
        double low_watermark;   /* [0, high): ingest takes messages again at this fill */
} fg_queue_cfg_t;

/* NULL with a reason when @p qc is out of range or memory is short. */
fg_queue_t *fg_queue_new(const fg_queue_cfg_t *qc, char *errstr, size_t errstr_size);
void fg_queue_destroy(fg_queue_t *q);

/* Copies in as many of @p items as fit, in order, under one lock and with
 * one wake-up; returns how many (the caller keeps the rest). 0 after close.
 * @p above_high is set when the queue is now at or above the high
 * watermark. An item larger than max_bytes is accepted when the queue is
 * empty, so no message is ever unprocessable. Ingest thread. */
size_t fg_queue_push_batch(fg_queue_t *q, const fg_item_t *items, size_t n, bool *above_high);

/* Moves up to @p max items into @p out, waiting up to @p timeout_ns for the
 * first one. Returns how many; 0 on timeout or when closed and empty. Each
 * is in flight until fg_queue_release. In an ordered mode a closed queue
 * whose items all wait behind busy keys still waits for one to go. Worker
 * threads. */
size_t fg_queue_pop(fg_queue_t *q, fg_item_t *out, size_t max, int64_t timeout_ns);

/* Waits up to @p timeout_ns for the fill to be at or below the low
 * watermark (or the queue to be closed). Returns true when it is. One
 * waiter at a time: the ingest thread. */
bool fg_queue_wait_below_low(fg_queue_t *q, int64_t timeout_ns);

/* Removes every item for which @p pred returns true, passing each to
 * @p dispose (which takes ownership). Returns how many. Ingest thread. */
size_t fg_queue_remove_if(fg_queue_t *q, bool (*pred)(const fg_item_t *it, void *opaque),
                          void (*dispose)(fg_item_t *it, void *opaque), void *opaque);

/* Items popped from @p q reached their end (finished or abandoned):
 * items[idx[k]] for k < n (idx NULL: items[0..n)) whose q is @p q stop
 * counting as in flight, their keys' next items may go, and their q is
 * cleared. Any thread that owns the items; takes the lock only for items
 * popped in an ordered mode. */
void fg_queue_release(fg_queue_t *q, fg_item_t *items, const size_t *idx, size_t n);

/* Switches what may be in flight at once (see the top). Returns 0, or -1
 * when the scheduler cannot be allocated (the mode stays). Main thread. */
int fg_queue_set_ordering(fg_queue_t *q, fg_ordering_t mode, char *errstr, size_t errstr_size);
/* In an ordered mode, whether one pop may hand out several consecutive items
 * of a key (a run) in the batch, in offset order. Only for a consumer that
 * delivers a batch in order as a unit — a later item never reaches the
 * downstream before an earlier one that failed (fg_sink_prefix_ordered) —
 * and that ends no item in a way its key's later items must follow
 * (dead_letter.park_key). Off by default. Takes effect at the next pop;
 * runs already out stay busy until released. Main thread. */
void fg_queue_set_runs(fg_queue_t *q, bool runs);
/* Turns runs off and waits up to @p timeout_ns until no item handed out
 * while they were on is in flight, so whatever consumes the queue next may
 * rely on one item of a key per batch (a live switch to a consumer that is
 * not prefix-ordered: workers/pool_plan.c). true once none is; false on
 * timeout, with runs as they were. Main thread. */
bool fg_queue_stop_runs(fg_queue_t *q, int64_t timeout_ns);
/* The mode asked for last (a switch into it may still wait for in-flight
 * items). Any thread. */
fg_ordering_t fg_queue_ordering(const fg_queue_t *q);
const char *fg_queue_ordering_name(fg_ordering_t mode);

typedef struct fg_queue_order_stats {
        fg_ordering_t mode;     /* as asked */
        bool switching;         /* waiting for in-flight items to switch */
        size_t in_flight;       /* popped and not yet released */
        size_t busy_keys;       /* keys with an item in flight (ordered modes) */
        size_t blocked;         /* items waiting behind an earlier item of their key */
        size_t blocked_keys;    /* keys with such items */
} fg_queue_order_stats_t;
void fg_queue_get_order_stats(fg_queue_t *q, fg_queue_order_stats_t *out);

/* Wakes every waiting popper; later pops return what is left, then 0. */
void fg_queue_close(fg_queue_t *q);
/* Wakes every waiting popper once (they return 0 if nothing is queued), so
 * idle workers notice a retirement at once. Main thread. */
void fg_queue_wake_all(fg_queue_t *q);

size_t fg_queue_depth(const fg_queue_t *q);
size_t fg_queue_bytes(const fg_queue_t *q);
size_t fg_queue_capacity(const fg_queue_t *q);
size_t fg_queue_max_bytes(const fg_queue_t *q);
/* The most items held at once since creation. */
size_t fg_queue_peak_depth(fg_queue_t *q);
bool fg_queue_is_below_low(const fg_queue_t *q);

#endif
