/*
 * item: one Kafka message travelling through the pipeline.
 *
 * An item is created by the ingest thread when it takes a message from
 * librdkafka, travels by value through the queue, and ends on a worker with
 * exactly one of:
 *   fg_item_finish()  - the message reached a final outcome (sink ok,
 *                       filtered, dead-lettered, dropped by policy): its
 *                       offset may now be committed;
 *   fg_item_abandon() - the message is given up without an outcome
 *                       (revoked partition, shutdown deadline): its offset
 *                       stays uncommitted so Kafka redelivers it.
 * Both release the message and the item's reference on its partition and,
 * when an ordered queue handed it out (workers.ordering: partition or key),
 * its scheduling key, so that key's next item may go (fg_queue_release).
 *
 * Threading: an item belongs to one thread at a time (ingest, then the
 * queue under its lock, then one worker).
 * Ownership: the item owns rkm and one reference on part; q is borrowed.
 */
#ifndef FG_ITEM_H
#define FG_ITEM_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

struct fg_part;
struct fg_queue;

typedef struct fg_item {
        rd_kafka_message_t *rkm; /* owned */
        struct fg_part *part;    /* one reference held */
        uint64_t seq;            /* position in the partition's tracker */
        int64_t enq_ns;          /* monotonic time it entered the queue */
        int64_t ingest_ms;       /* wall clock, the same moment */
        uint32_t bytes;          /* bytes it counts against queue.max_bytes */
        uint8_t sched;           /* fg_ordering_t it was handed out under */
        uint8_t in_run;          /* handed out while runs were on (fg_queue_stop_runs) */
        uint64_t skey;           /* its scheduling key in an ordered queue */
        struct fg_queue *q;      /* set by fg_queue_pop: the queue it counts in
                                  * as in flight until it ends; NULL before */
} fg_item_t;

/* Any thread that owns the item. */
void fg_item_finish(fg_item_t *it);
void fg_item_abandon(fg_item_t *it);
/* fg_item_finish for items[idx[0..n)], taking each partition's lock once per
 * run of consecutive items of that partition. */
void fg_items_finish(fg_item_t *items, const size_t *idx, size_t n);

#endif
