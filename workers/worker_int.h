/*
 * worker_int: what pool.c (threads, lifecycle) and worker.c (one batch's
 * journey: handler, sink, retries, dead letters, outcomes) share.
 *
 * Threading: an fg_worker_t is touched only by its own thread, except the
 * atomics (read by the main thread for gauges and health).
 */
#ifndef FG_WORKER_INT_H
#define FG_WORKER_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "breaker/breaker.h"
#include "sinks/dead_letter.h"
#include "workers/handler.h"
#include "workers/pool.h"

/* Per event of the batch being handled. */
typedef struct fg_slot {
        uint32_t attempts;      /* sink attempts so far */
        int64_t first_try_ns;   /* monotonic, first attempt */
        bool exhausted_logged;
} fg_slot_t;

typedef struct fg_worker {
        fg_pool_t *pool;
        unsigned id;
        pthread_t thread;
        bool started;
        fg_mshard_t *shard;
        fg_sink_conn_t *conn;
        fg_handler_ctx_t *hctx;
        fg_item_t *items;
        fg_event_t *evs;         /* one per item */
        fg_slot_t *slots;        /* one per item */
        fg_event_t *send_evs;    /* the subset sent in one attempt */
        fg_sink_result_t *res;
        size_t *send_idx;        /* item index of each send_evs entry */
        size_t *done;            /* items reaching their outcome in a step */
        fg_dlq_entry_t *dlq;     /* dead letters being produced */
        size_t *dlq_idx;
        rd_kafka_resp_err_t *dlq_err;
        uint64_t rng;            /* jitter state */
        _Atomic int64_t call_started_ns; /* monotonic; 0 = not in a sink call */
} fg_worker_t;

struct fg_pool {
        fg_queue_t *q;
        fg_sink_t *sink;
        const fg_handler_t *handler;
        fg_dlq_t *dlq;           /* NULL: no dead-letter topic */
        fg_brk_t *brk;           /* always set; DISABLED mode when turned off */
        fg_breaker_when_open_t when_open;
        fg_metrics_t *metrics;
        size_t batch_max;
        int64_t batch_wait_ns;
        fg_on_invalid_t on_invalid;
        int64_t retry_max_attempts, retry_initial_ns, retry_max_ns, retry_max_elapsed_ns;
        unsigned size;
        fg_worker_t *workers;

        pthread_mutex_t lock;
        pthread_cond_t cond;     /* live changes, aborting set */
        unsigned live;
        bool aborting;

        _Atomic bool stopping;
        _Atomic bool failed;     /* a worker hit on_invalid: fail */
        _Atomic unsigned busy;
        _Atomic int64_t last_done_ns;
};

/* worker.c: carries items[0..n) of @p w to their outcomes. */
void fg_worker_process(fg_worker_t *w, size_t n);

/* pool.c: sleeps up to @p ns unless the pool aborts first; false on abort. */
bool fg_pool_backoff_sleep(fg_pool_t *pool, int64_t ns);
bool fg_pool_aborting(fg_pool_t *pool);

#endif
