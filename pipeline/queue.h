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
 * Threading: fg_queue_push_batch, fg_queue_remove_if, fg_queue_wait_below_low:
 * ingest thread. fg_queue_pop: worker threads. fg_queue_close: main thread.
 * fg_queue_depth/bytes/is_below_low: any thread (atomics).
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
 * first one. Returns how many; 0 on timeout or when closed and empty.
 * Worker threads. */
size_t fg_queue_pop(fg_queue_t *q, fg_item_t *out, size_t max, int64_t timeout_ns);

/* Waits up to @p timeout_ns for the fill to be at or below the low
 * watermark (or the queue to be closed). Returns true when it is. One
 * waiter at a time: the ingest thread. */
bool fg_queue_wait_below_low(fg_queue_t *q, int64_t timeout_ns);

/* Removes every item for which @p pred returns true, passing each to
 * @p dispose (which takes ownership). Returns how many. Ingest thread. */
size_t fg_queue_remove_if(fg_queue_t *q, bool (*pred)(const fg_item_t *it, void *opaque),
                          void (*dispose)(fg_item_t *it, void *opaque), void *opaque);

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
