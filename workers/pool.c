/*
 * pool: the worker threads — start, gather batches, stop, abort (see
 * pool.h for the design; worker.c handles one batch).
 */
#include "workers/pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "workers/worker_int.h"

#define POP_TIMEOUT_NS (200 * FG_NS_PER_MS)

fg_pool_t *fg_pool_new(const fg_config_t *cfg, fg_queue_t *q, fg_sink_t *sink,
                       const fg_handler_t *handler, fg_dlq_t *dlq, fg_brk_t *brk,
                       fg_metrics_t *metrics, char *errstr, size_t errstr_size) {
        fg_pool_t *pool = calloc(1, sizeof(*pool));
        pthread_condattr_t ca;

        if (!pool || !(pool->workers = calloc((size_t)cfg->workers.size, sizeof(fg_worker_t)))) {
                free(pool);
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        pool->q = q;
        pool->sink = sink;
        pool->handler = handler;
        pool->dlq = dlq;
        pool->brk = brk;
        pool->when_open = cfg->breaker.when_open;
        pool->metrics = metrics;
        pool->batch_max = (size_t)cfg->workers.batch_max;
        pool->batch_wait_ns = cfg->sink.batch_max_wait_ns;
        pool->on_invalid = cfg->handler.on_invalid;
        pool->retry_max_attempts = cfg->sink.retry_max_attempts;
        pool->retry_initial_ns = cfg->sink.retry_initial_backoff_ns;
        pool->retry_max_ns = cfg->sink.retry_max_backoff_ns;
        pool->retry_max_elapsed_ns = cfg->sink.retry_max_elapsed_ns;
        pool->size = (unsigned)cfg->workers.size;
        pthread_mutex_init(&pool->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&pool->cond, &ca);
        pthread_condattr_destroy(&ca);
        return pool;
}

bool fg_pool_backoff_sleep(fg_pool_t *pool, int64_t ns) {
        struct timespec deadline = fg_deadline_in(ns);
        bool aborting;

        pthread_mutex_lock(&pool->lock);
        while (!pool->aborting &&
               pthread_cond_timedwait(&pool->cond, &pool->lock, &deadline) == 0)
                ;
        aborting = pool->aborting;
        pthread_mutex_unlock(&pool->lock);
        return !aborting;
}

bool fg_pool_aborting(fg_pool_t *pool) {
        bool a;
        pthread_mutex_lock(&pool->lock);
        a = pool->aborting;
        pthread_mutex_unlock(&pool->lock);
        return a;
}

/* Takes a batch: what is queued, up to batch_max; with sink.batch.max_wait,
 * waits that long for the batch to fill. 0 when stopping and empty. */
static size_t gather(fg_worker_t *w) {
        fg_pool_t *pool = w->pool;
        size_t n = fg_queue_pop(pool->q, w->items, pool->batch_max, POP_TIMEOUT_NS);
        int64_t deadline;

        if (!n || pool->batch_wait_ns <= 0 || n == pool->batch_max)
                return n;
        deadline = fg_mono_ns() + pool->batch_wait_ns;
        while (n < pool->batch_max) {
                int64_t left = deadline - fg_mono_ns();
                size_t more;
                if (left <= 0)
                        break;
                more = fg_queue_pop(pool->q, w->items + n, pool->batch_max - n, left);
                if (!more)
                        break;
                n += more;
        }
        return n;
}

static void *worker_main(void *arg) {
        fg_worker_t *w = arg;
        fg_pool_t *pool = w->pool;
        char name[16];

        snprintf(name, sizeof(name), "fg-worker-%u", w->id);
        pthread_setname_np(pthread_self(), name);
        for (;;) {
                size_t n = gather(w);
                if (n == 0) {
                        if (atomic_load(&pool->stopping))
                                break; /* closed and empty */
                        continue;
                }
                if (fg_pool_aborting(pool) || atomic_load(&pool->failed)) {
                        for (size_t i = 0; i < n; i++)
                                fg_item_abandon(&w->items[i]);
                        continue;
                }
                atomic_fetch_add_explicit(&pool->busy, 1, memory_order_relaxed);
                fg_worker_process(w, n);
                atomic_store_explicit(&pool->last_done_ns, fg_mono_ns(), memory_order_relaxed);
                atomic_fetch_sub_explicit(&pool->busy, 1, memory_order_relaxed);
        }

        pthread_mutex_lock(&pool->lock);
        pool->live--;
        pthread_cond_broadcast(&pool->cond);
        pthread_mutex_unlock(&pool->lock);
        return NULL;
}

static void worker_free(fg_worker_t *w) {
        fg_sink_close(w->conn);
        fg_handler_ctx_destroy(w->hctx);
        if (w->shard)
                fg_mshard_release(w->pool->metrics, w->shard);
        free(w->items);
        free(w->evs);
        free(w->slots);
        free(w->send_evs);
        free(w->res);
        free(w->send_idx);
        free(w->done);
        free(w->dlq);
        free(w->dlq_idx);
        free(w->dlq_err);
        memset(w, 0, sizeof(*w));
}

/* Main thread: the worker's buffers, sink connection and handler context. */
static int worker_init(fg_pool_t *pool, fg_worker_t *w, unsigned id, char *errstr,
                       size_t errstr_size) {
        size_t bm = pool->batch_max;

        w->pool = pool;
        w->id = id;
        w->rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)id << 32) ^ (uint64_t)fg_mono_ns();
        w->items = calloc(bm, sizeof(*w->items));
        w->evs = calloc(bm, sizeof(*w->evs));
        w->slots = calloc(bm, sizeof(*w->slots));
        w->send_evs = calloc(bm, sizeof(*w->send_evs));
        w->res = calloc(bm, sizeof(*w->res));
        w->send_idx = calloc(bm, sizeof(*w->send_idx));
        w->done = calloc(bm, sizeof(*w->done));
        w->dlq = calloc(bm, sizeof(*w->dlq));
        w->dlq_idx = calloc(bm, sizeof(*w->dlq_idx));
        w->dlq_err = calloc(bm, sizeof(*w->dlq_err));
        w->hctx = fg_handler_ctx_new(pool->handler);
        if (!w->items || !w->evs || !w->slots || !w->send_evs || !w->res || !w->send_idx ||
            !w->done || !w->dlq || !w->dlq_idx || !w->dlq_err || !w->hctx) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
        }
        /* Opened here, on the main thread, so a sink that cannot start
         * fails start-up with a clear error; used only by the worker. */
        w->conn = fg_sink_open(pool->sink, errstr, errstr_size);
        if (!w->conn)
                return -1;
        w->shard = fg_metrics_shard_get(pool->metrics);
        return 0;
}

int fg_pool_start(fg_pool_t *pool, char *errstr, size_t errstr_size) {
        for (unsigned i = 0; i < pool->size; i++) {
                fg_worker_t *w = &pool->workers[i];
                int rc;

                if (worker_init(pool, w, i, errstr, errstr_size))
                        return -1;
                pthread_mutex_lock(&pool->lock);
                pool->live++;
                pthread_mutex_unlock(&pool->lock);
                rc = pthread_create(&w->thread, NULL, worker_main, w);
                if (rc) {
                        pthread_mutex_lock(&pool->lock);
                        pool->live--;
                        pthread_mutex_unlock(&pool->lock);
                        snprintf(errstr, errstr_size, "cannot start worker: %s", strerror(rc));
                        return -1;
                }
                w->started = true;
        }
        return 0;
}

bool fg_pool_stop(fg_pool_t *pool, int64_t timeout_ns) {
        struct timespec deadline = fg_deadline_in(timeout_ns);
        bool drained = true;

        atomic_store(&pool->stopping, true);
        fg_queue_close(pool->q);

        pthread_mutex_lock(&pool->lock);
        while (pool->live > 0 &&
               pthread_cond_timedwait(&pool->cond, &pool->lock, &deadline) == 0)
                ;
        if (pool->live > 0) {
                drained = false;
                pool->aborting = true;
                pthread_cond_broadcast(&pool->cond);
        }
        pthread_mutex_unlock(&pool->lock);
        if (!drained)
                fg_warn("shutdown timeout: abandoning unfinished events; Kafka will redeliver them");

        for (unsigned i = 0; i < pool->size; i++) {
                if (pool->workers[i].started)
                        pthread_join(pool->workers[i].thread, NULL);
                pool->workers[i].started = false;
        }
        return drained;
}

void fg_pool_destroy(fg_pool_t *pool) {
        if (!pool)
                return;
        for (unsigned i = 0; i < pool->size; i++) {
                fg_worker_t *w = &pool->workers[i];
                if (w->started)
                        pthread_join(w->thread, NULL);
                if (w->pool)
                        worker_free(w);
        }
        pthread_cond_destroy(&pool->cond);
        pthread_mutex_destroy(&pool->lock);
        free(pool->workers);
        free(pool);
}

unsigned fg_pool_size(const fg_pool_t *pool) { return pool->size; }

unsigned fg_pool_busy(const fg_pool_t *pool) {
        return atomic_load_explicit(&pool->busy, memory_order_relaxed);
}

bool fg_pool_failed(const fg_pool_t *pool) { return atomic_load(&pool->failed); }

int64_t fg_pool_longest_call_ns(const fg_pool_t *pool, int64_t now_ns) {
        int64_t longest = 0;
        for (unsigned i = 0; i < pool->size; i++) {
                int64_t t = atomic_load_explicit(&pool->workers[i].call_started_ns,
                                                 memory_order_relaxed);
                if (t && now_ns - t > longest)
                        longest = now_ns - t;
        }
        return longest;
}

int64_t fg_pool_last_done_ns(const fg_pool_t *pool) {
        return atomic_load_explicit(&pool->last_done_ns, memory_order_relaxed);
}
