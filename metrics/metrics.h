/*
 * metrics: floodgate's counters and latency histograms, sharded per thread.
 *
 * DESIGN
 * Every thread that records (ingest, each worker, the sink's helpers) owns
 * one shard. Recording touches only the owner's shard: a relaxed atomic load
 * and store (no lock, no read-modify-write, no cache line shared with another
 * writer), so the per-message cost is a few nanoseconds. Readers (the main
 * thread serving /metrics, /stats and the log line) merge all shards into a
 * snapshot on demand. Shards are never freed while the registry lives: a
 * thread that exits retires its shard and the next new thread reuses it, so
 * totals stay monotonic and memory stays bounded under thread churn.
 *
 * Gauges (queue depth, workers busy, ...) are not recorded here: the reader
 * asks the owning component at scrape time.
 *
 * Throughput rates: fg_rates_t keeps one counter sample per second for the
 * last minute; the main thread ticks it once a second.
 *
 * Threading: fg_metrics_new/destroy on the main thread. fg_metrics_shard_get
 * and fg_mshard_release on any thread (registry mutex). fg_mshard_add and
 * fg_mshard_observe by the shard's owner only. fg_metrics_snapshot on any
 * thread (registry mutex; reads shards with relaxed loads).
 * Ownership: the registry owns all shards; a thread borrows one between
 * fg_metrics_shard_get() and fg_mshard_release().
 */
#ifndef FG_METRICS_H
#define FG_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "metrics/hist.h"

typedef enum fg_ctr {
        FG_CTR_CONSUMED = 0,    /* messages taken from Kafka */
        FG_CTR_CONSUMED_BYTES,  /* their payload bytes */
        FG_CTR_OK,              /* final outcome: delivered by the sink */
        FG_CTR_FILTERED,        /* final outcome: dropped by the filter */
        FG_CTR_FAILED,          /* sink call failed (each failed attempt) */
        FG_CTR_DEAD_LETTER,     /* final outcome: delivered to the dead-letter topic */
        FG_CTR_DROPPED,         /* final outcome: counted and dropped by policy */
        FG_CTR_RETRIES,         /* attempts after the first */
        FG_CTR_SINK_CALLS,      /* calls into the sink (a batch counts once) */
        FG_CTR_REBALANCES,      /* assignments + revocations */
        FG_CTR_PAUSES,          /* times ingest paused for backpressure */
        FG_CTR_RESUMES,
        FG_CTR_COMMITS,         /* offset commits sent (periodic, revoke, final) */
        FG_CTR__CNT
} fg_ctr_t;

typedef enum fg_hist_id {
        FG_HIST_E2E = 0,   /* Kafka message timestamp -> final outcome */
        FG_HIST_QUEUE_WAIT,/* pushed -> taken by a worker */
        FG_HIST_SINK_CALL, /* one sink call */
        FG_HIST__CNT
} fg_hist_id_t;

typedef struct fg_mshard {
        _Atomic uint64_t ctr[FG_CTR__CNT];
        fg_hist_t hist[FG_HIST__CNT];
        _Atomic int in_use; /* registry bookkeeping */
} __attribute__((aligned(64))) fg_mshard_t;

typedef struct fg_metrics fg_metrics_t;

/* A merged view. Plain data; fill with fg_metrics_snapshot(). */
typedef struct fg_metrics_snap {
        uint64_t ctr[FG_CTR__CNT];
        fg_hist_t hist[FG_HIST__CNT];
} fg_metrics_snap_t;

fg_metrics_t *fg_metrics_new(void);
void fg_metrics_destroy(fg_metrics_t *m);

/* Borrow a shard for the calling thread; never NULL (aborts on OOM). */
fg_mshard_t *fg_metrics_shard_get(fg_metrics_t *m);
/* Give it back when the thread ends; its counts stay in the totals. */
void fg_mshard_release(fg_metrics_t *m, fg_mshard_t *s);

#ifndef FG_METRICS_OFF
/* Owner thread only. A relaxed load + store: the owner is the only writer. */
static inline void fg_mshard_add(fg_mshard_t *s, fg_ctr_t c, uint64_t n) {
        uint64_t v = atomic_load_explicit(&s->ctr[c], memory_order_relaxed);
        atomic_store_explicit(&s->ctr[c], v + n, memory_order_relaxed);
}

static inline void fg_mshard_observe(fg_mshard_t *s, fg_hist_id_t h, int64_t ns) {
        fg_hist_record(&s->hist[h], ns);
}
#else
/* Benchmark builds only (make bench): what recording costs is measured by
 * comparing against a binary in which it compiles to nothing. */
static inline void fg_mshard_add(fg_mshard_t *s, fg_ctr_t c, uint64_t n) {}
static inline void fg_mshard_observe(fg_mshard_t *s, fg_hist_id_t h, int64_t ns) {}
#endif

/* Merge every shard (live and retired) into @p out. */
void fg_metrics_snapshot(fg_metrics_t *m, fg_metrics_snap_t *out);

/* Names for exposition: "consumed", "ok", ... and "end_to_end", ... */
const char *fg_ctr_name(fg_ctr_t c);
const char *fg_hist_name(fg_hist_id_t h);

/* Per-second samples of every counter over the last minute. */
#define FG_RATES_SLOTS 61
typedef struct fg_rates {
        uint64_t sample[FG_RATES_SLOTS][FG_CTR__CNT];
        int64_t at_ns[FG_RATES_SLOTS];
        unsigned head; /* next slot to write */
        unsigned n;    /* slots filled */
} fg_rates_t;

/* Record the counters of @p snap taken at monotonic time @p now_ns. */
void fg_rates_tick(fg_rates_t *r, const fg_metrics_snap_t *snap, int64_t now_ns);
/* Events per second of counter @p c over the last @p window_s seconds
 * (1, 10 or 60; shorter while less history exists); 0 with < 2 samples. */
double fg_rates_per_sec(const fg_rates_t *r, fg_ctr_t c, unsigned window_s);

#endif
