/*
 * lag: consumer lag per partition, read from librdkafka's statistics.
 *
 * librdkafka emits a statistics JSON document every statistics.interval.ms
 * on the ingest thread; fg_lag_update() parses it (jansson) and keeps, for
 * each partition the consumer is fetching, how many messages lie between
 * the partition's end and the work floodgate has finished (the stored
 * offset, or the committed one before anything was stored), and how fast
 * the ends of the partitions present in two consecutive documents grew
 * (the arrival rate the instance-count model needs). The per-partition
 * fetchq_cnt is deliberately ignored: with the high-level consumer every
 * partition reports the shared queue.
 *
 * Threading: fg_lag_update on the ingest thread; fg_lag_get on any thread
 * (the main thread serving /metrics). Locks: lag->lock around the table.
 * Ownership: the table owns its copies; fg_lag_get returns a copy the caller
 * frees with free().
 */
#ifndef FG_LAG_H
#define FG_LAG_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fg_lag_entry {
        char topic[128];
        int32_t partition;
        int64_t lag;        /* messages; -1 when unknown */
        int64_t end_offset; /* high watermark (or last stable offset) */
        int64_t committed;  /* committed offset, -1 when none */
} fg_lag_entry_t;

typedef struct fg_lag {
        pthread_mutex_t lock;
        fg_lag_entry_t *v;
        size_t n;
        int64_t updated_ms; /* wall time of the last update, 0 = never */
        int64_t updated_ns; /* monotonic time of the last update */
        double arrival_per_s; /* end offsets' growth between the last two updates; -1 = unknown */
} fg_lag_t;

void fg_lag_init(fg_lag_t *lag);
void fg_lag_clear(fg_lag_t *lag);
/* Replaces the table from one statistics document. Returns 0, or -1 if it
 * did not parse (the old table stays). */
int fg_lag_update(fg_lag_t *lag, const char *json, size_t len);
/* Copies the table out; sets *total to the summed known lag (-1 if none
 * known). Returns the entry count. */
size_t fg_lag_get(fg_lag_t *lag, fg_lag_entry_t **out, int64_t *total, int64_t *updated_ms);
/* Events per second produced into the partitions of the last two updates
 * (those in both); -1 before two updates. */
double fg_lag_arrival(fg_lag_t *lag);

#endif
