/*
 * ingest: the Kafka consumer-group side of the pipeline.
 *
 * DESIGN
 * One thread owns the librdkafka consumer handle: it is the only caller of
 * rd_kafka_consumer_poll() and therefore runs the rebalance callback, the
 * pause/resume decisions and the offset stores.
 *
 *  poll -> item (message + partition tracker ref + seq) -> fg_queue_push_batch
 *
 * Backpressure, in two stages. When a push leaves the queue at its high
 * watermark (or a batch does not fit), ingest stops polling and waits for
 * the workers to drain the queue to the low watermark; librdkafka's
 * prefetch, bounded by its own settings, simply waits. That absorbs the
 * short stalls of a pipeline running at the sink's speed at no cost. If the
 * stall outlasts queue.pause_after, every assigned partition is paused
 * (librdkafka drops what it prefetched and refetches on resume) and polling
 * goes on, so the group membership survives a long outage; at the low
 * watermark ingest resumes exactly the partitions it paused. Messages
 * polled but not yet queued wait in a small pending batch (at most
 * 2 x 256), never dropped.
 *
 * Ordered queues (workers.ordering): a partition whose events pile up
 * behind earlier events of their keys beyond its share of the queue is
 * paused alone until they drain, so one hot key cannot fill the queue for
 * everyone (admit.c).
 *
 * At-least-once: offsets are stored (rd_kafka_offsets_store) only for the
 * contiguous prefix of messages that reached a final outcome (see
 * offsets.h). On revocation, queued messages of the revoked partitions
 * are dropped, their in-flight work is awaited for kafka.rebalance_timeout,
 * the final offsets are committed synchronously, then the partitions are
 * given up. Lost partitions are dropped without committing. With the
 * cooperative protocol (the default) only the moved partitions go through
 * this; the others keep flowing, paused or not as they were.
 *
 * Commit pacing: duplicates after a crash are what was polled but not
 * committed, so commits are paced by work, not only by time. Finished
 * offsets are retired every 20 ms (and after every commit_every / 4
 * messages pushed, so a fast drain does not outrun the pacing), stored
 * once kafka.commit_every more messages have finished or
 * auto.commit.interval.ms after the last store, and committed at once,
 * asynchronously, by ingest itself (commit.c): never more than one commit
 * outstanding (what is stored meanwhile goes with the next), and none sent
 * while the group rejoins, as a commit carrying the old generation makes
 * librdkafka give up the whole assignment. librdkafka's auto-commit is
 * off: its timer put timer x rate events at stake and spun its main
 * thread on every firing (commit.c says how much).
 *
 * Stopping: fg_ingest_drain() pauses everything and stops taking messages;
 * once the workers have drained, fg_ingest_stop() stores and commits the
 * final offsets, leaves the group and ends the thread.
 *
 * Threading: fg_ingest_new/start/drain/stop/destroy: main thread.
 * Gauge getters: any thread (atomics). Everything else runs on the ingest
 * thread. Data crosses to workers only through the queue and the offset
 * trackers.
 * Ownership: ingest owns the consumer handle and the partition table; it
 * borrows the queue and the metrics registry, which must outlive it.
 */
#ifndef FG_INGEST_H
#define FG_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/lag.h"
#include "kafka/kconf.h"
#include "metrics/metrics.h"
#include "pipeline/queue.h"

typedef struct fg_ingest fg_ingest_t;

/* What ingest itself needs beyond the Kafka clients' settings
 * (kafka.rebalance_timeout, kafka.commit_every, queue.pause_after). */
typedef struct fg_ingest_cfg {
        int64_t rebalance_timeout_ns; /* bounded wait for revoked in-flight work */
        int64_t pause_after_ns;       /* a queue stall this long pauses the partitions */
        int64_t commit_every;         /* kafka.commit_every: finished messages per commit; 0 = by time only */
} fg_ingest_cfg_t;

/* Creates the consumer (configuration errors surface here). @p bootstrap
 * overrides kc->brokers (the embedded mock cluster's address). Both configs
 * are read during the call only. */
fg_ingest_t *fg_ingest_new(const fg_kafka_cfg_t *kc, const fg_ingest_cfg_t *ic,
                           const char *bootstrap, fg_queue_t *q, fg_metrics_t *metrics,
                           char *errstr, size_t errstr_size);
int fg_ingest_start(fg_ingest_t *in, char *errstr, size_t errstr_size);
/* Stop taking new messages; keep the group membership. */
void fg_ingest_drain(fg_ingest_t *in);
/* Store and commit the final offsets, leave the group, join the thread.
 * False when the thread has not ended within @p timeout_ns (a commit or the
 * group leave waiting on an unreachable cluster): the handle must then not
 * be destroyed; its uncommitted offsets are redelivered later. */
bool fg_ingest_stop(fg_ingest_t *in, int64_t timeout_ns);
void fg_ingest_destroy(fg_ingest_t *in);

/* Gauges. */
unsigned fg_ingest_assigned(const fg_ingest_t *in);
unsigned fg_ingest_paused(const fg_ingest_t *in);
/* Messages polled but not yet queued. */
unsigned fg_ingest_pending(const fg_ingest_t *in);
/* Partitions held back because their events wait behind earlier ones of
 * their keys beyond their share of an ordered queue (admit.c). */
unsigned fg_ingest_held(const fg_ingest_t *in);
/* True while the queue is full and ingest waits for it to drain. */
bool fg_ingest_blocked(const fg_ingest_t *in);
/* True once at least one partition is assigned and every assigned partition
 * is at its end offset with everything before it finished and committed. */
bool fg_ingest_drained(const fg_ingest_t *in);
/* Monotonic time the first message arrived; 0 before. */
int64_t fg_ingest_first_message_ns(const fg_ingest_t *in);
/* Monotonic time the ingest loop last turned (liveness); 0 before start. */
int64_t fg_ingest_heartbeat_ns(const fg_ingest_t *in);
/* Consumer lag per partition from librdkafka's statistics (see lag.h);
 * the caller frees *entries. */
size_t fg_ingest_lag(fg_ingest_t *in, fg_lag_entry_t **entries, int64_t *total, int64_t *updated_ms);
/* Events per second produced into the assigned partitions, from the same
 * statistics; -1 before two of them came. */
double fg_ingest_arrival(fg_ingest_t *in);

#endif
