/*
 * pool: fixed-size worker pool (see pool.h for the design).
 */
#include "workers/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"

#define POP_TIMEOUT_NS   (200 * FG_NS_PER_MS)
#define BACKOFF_FIRST_NS (100 * FG_NS_PER_MS)
#define BACKOFF_MAX_NS   (10 * FG_NS_PER_S)
#define RETRY_AFTER_MAX_NS (60 * FG_NS_PER_S)

typedef struct fg_worker {
        fg_pool_t *pool;
        unsigned id;
        pthread_t thread;
        bool started;
        fg_mshard_t *shard;
        fg_sink_conn_t *conn;
        fg_item_t *items;
        fg_event_t *evs;        /* one per item */
        fg_event_t *send_evs;   /* the subset sent in the current attempt */
        fg_sink_result_t *res;
        size_t *idx;            /* pending item indices during retries */
        size_t *done;           /* items that reached their outcome this attempt */
        uint64_t rng;           /* jitter state */
} fg_worker_t;

struct fg_pool {
        fg_queue_t *q;
        fg_sink_t *sink;
        fg_metrics_t *metrics;
        size_t batch_max;
        unsigned size;
        fg_worker_t *workers;

        pthread_mutex_t lock;
        pthread_cond_t cond;    /* live changes, aborting set */
        unsigned live;
        bool aborting;

        _Atomic bool stopping;
        _Atomic unsigned busy;
        _Atomic int64_t last_done_ns; /* monotonic end of the latest batch */
};

fg_pool_t *fg_pool_new(const fg_config_t *cfg, fg_queue_t *q, fg_sink_t *sink,
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
        pool->metrics = metrics;
        pool->batch_max = (size_t)cfg->workers.batch_max;
        pool->size = (unsigned)cfg->workers.size;
        pthread_mutex_init(&pool->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&pool->cond, &ca);
        pthread_condattr_destroy(&ca);
        return pool;
}

/* Sleeps up to @p ns unless the pool aborts first. Returns false on abort.
 * Worker thread. */
static bool backoff_sleep(fg_pool_t *pool, int64_t ns) {
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

static bool pool_aborting(fg_pool_t *pool) {
        bool a;
        pthread_mutex_lock(&pool->lock);
        a = pool->aborting;
        pthread_mutex_unlock(&pool->lock);
        return a;
}

/* xorshift64: jitter only, not cryptography. */
static uint64_t next_rand(fg_worker_t *w) {
        w->rng ^= w->rng << 13;
        w->rng ^= w->rng >> 7;
        w->rng ^= w->rng << 17;
        return w->rng;
}

/* Exponential backoff with full jitter in [d/2, d], at least the
 * downstream's Retry-After. */
static int64_t backoff_for(fg_worker_t *w, unsigned attempt, int64_t retry_after_ns) {
        int64_t d = BACKOFF_FIRST_NS;
        for (unsigned i = 1; i < attempt && d < BACKOFF_MAX_NS; i++)
                d *= 2;
        if (d > BACKOFF_MAX_NS)
                d = BACKOFF_MAX_NS;
        d = d / 2 + (int64_t)(next_rand(w) % (uint64_t)(d / 2 + 1));
        if (retry_after_ns > RETRY_AFTER_MAX_NS)
                retry_after_ns = RETRY_AFTER_MAX_NS;
        return d > retry_after_ns ? d : retry_after_ns;
}

static void event_from(fg_event_t *ev, const fg_item_t *it) {
        const rd_kafka_message_t *rkm = it->rkm;
        rd_kafka_timestamp_type_t tstype;

        ev->topic = rd_kafka_topic_name(rkm->rkt);
        ev->partition = rkm->partition;
        ev->offset = rkm->offset;
        ev->ts_ms = rd_kafka_message_timestamp(rkm, &tstype);
        ev->key = rkm->key;
        ev->key_len = rkm->key_len;
        ev->value = rkm->payload;
        ev->len = rkm->len;
        ev->src = rkm;
}

/* Records the final outcome of an event (its item is finished in bulk by
 * the caller). @p now_ms is the wall clock, read once per batch. */
static void count_outcome(fg_worker_t *w, const fg_event_t *ev, fg_ctr_t outcome, int64_t now_ms) {
        fg_mshard_add(w->shard, outcome, 1);
        if (ev->ts_ms >= 0) {
                int64_t e2e_ms = now_ms - ev->ts_ms;
                fg_mshard_observe(w->shard, FG_HIST_E2E, (e2e_ms > 0 ? e2e_ms : 0) * FG_NS_PER_MS);
        }
}

/* Sends the batch until every item has a final outcome or the pool aborts.
 * Worker thread. */
static void process_batch(fg_worker_t *w, size_t n) {
        fg_pool_t *pool = w->pool;
        int64_t now = fg_mono_ns();
        size_t npending = n;
        unsigned attempt = 0;

        for (size_t i = 0; i < n; i++) {
                fg_mshard_observe(w->shard, FG_HIST_QUEUE_WAIT, now - w->items[i].enq_ns);
                event_from(&w->evs[i], &w->items[i]);
                w->idx[i] = i;
        }

        while (npending) {
                size_t kept = 0, ndone = 0;
                int64_t retry_after = 0, t0, now_ms;

                for (size_t k = 0; k < npending; k++)
                        w->send_evs[k] = w->evs[w->idx[k]];
                t0 = fg_mono_ns();
                fg_sink_send(w->conn, w->send_evs, npending, w->res);
                fg_mshard_observe(w->shard, FG_HIST_SINK_CALL, fg_mono_ns() - t0);
                fg_mshard_add(w->shard, FG_CTR_SINK_CALLS, 1);
                now_ms = fg_wall_ms();

                for (size_t k = 0; k < npending; k++) {
                        size_t i = w->idx[k];
                        const fg_sink_result_t *r = &w->res[k];
                        switch (r->status) {
                        case FG_SINK_OK:
                                count_outcome(w, &w->evs[i], FG_CTR_OK, now_ms);
                                w->done[ndone++] = i;
                                break;
                        case FG_SINK_REJECT:
                                fg_warn("sink %s rejected %s [%d] @%lld: %s; dropped",
                                        fg_sink_name(pool->sink), w->evs[i].topic,
                                        (int)w->evs[i].partition, (long long)w->evs[i].offset,
                                        r->reason ? r->reason : "no reason given");
                                count_outcome(w, &w->evs[i], FG_CTR_DROPPED, now_ms);
                                w->done[ndone++] = i;
                                break;
                        case FG_SINK_RETRY:
                        case FG_SINK_BACKPRESSURE:
                                fg_mshard_add(w->shard, FG_CTR_FAILED, 1);
                                if (r->retry_after_ns > retry_after)
                                        retry_after = r->retry_after_ns;
                                if (kept == 0 && attempt == 0)
                                        fg_warn("sink %s: %s; retrying", fg_sink_name(pool->sink),
                                                r->reason ? r->reason : "failed");
                                w->idx[kept++] = i;
                                break;
                        }
                }
                /* Only now: the events above point into these messages. */
                fg_items_finish(w->items, w->done, ndone);
                npending = kept;
                if (!npending)
                        break;
                attempt++;
                fg_mshard_add(w->shard, FG_CTR_RETRIES, npending);
                if (!backoff_sleep(pool, backoff_for(w, attempt, retry_after))) {
                        for (size_t k = 0; k < npending; k++)
                                fg_item_abandon(&w->items[w->idx[k]]);
                        return;
                }
        }
}

static void *worker_main(void *arg) {
        fg_worker_t *w = arg;
        fg_pool_t *pool = w->pool;
        char name[16];

        snprintf(name, sizeof(name), "fg-worker-%u", w->id);
        pthread_setname_np(pthread_self(), name);

        for (;;) {
                size_t n = fg_queue_pop(pool->q, w->items, pool->batch_max, POP_TIMEOUT_NS);
                if (n == 0) {
                        if (atomic_load(&pool->stopping))
                                break; /* closed and empty */
                        continue;
                }
                if (pool_aborting(pool)) {
                        for (size_t i = 0; i < n; i++)
                                fg_item_abandon(&w->items[i]);
                        continue;
                }
                atomic_fetch_add_explicit(&pool->busy, 1, memory_order_relaxed);
                process_batch(w, n);
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
        if (w->shard)
                fg_mshard_release(w->pool->metrics, w->shard);
        free(w->items);
        free(w->evs);
        free(w->send_evs);
        free(w->res);
        free(w->idx);
        free(w->done);
        memset(w, 0, sizeof(*w));
}

int fg_pool_start(fg_pool_t *pool, char *errstr, size_t errstr_size) {
        for (unsigned i = 0; i < pool->size; i++) {
                fg_worker_t *w = &pool->workers[i];
                size_t bm = pool->batch_max;
                int rc;

                w->pool = pool;
                w->id = i;
                w->rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)i << 32) ^ (uint64_t)fg_mono_ns();
                w->items = calloc(bm, sizeof(*w->items));
                w->evs = calloc(bm, sizeof(*w->evs));
                w->send_evs = calloc(bm, sizeof(*w->send_evs));
                w->res = calloc(bm, sizeof(*w->res));
                w->idx = calloc(bm, sizeof(*w->idx));
                w->done = calloc(bm, sizeof(*w->done));
                if (!w->items || !w->evs || !w->send_evs || !w->res || !w->idx || !w->done) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return -1;
                }
                /* Opened here, on the main thread, so a sink that cannot
                 * start fails start-up with a clear error; used only by the
                 * worker from now on. */
                w->conn = fg_sink_open(pool->sink, errstr, errstr_size);
                if (!w->conn)
                        return -1;
                w->shard = fg_metrics_shard_get(pool->metrics);
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

int64_t fg_pool_last_done_ns(const fg_pool_t *pool) {
        return atomic_load_explicit(&pool->last_done_ns, memory_order_relaxed);
}

unsigned fg_pool_busy(const fg_pool_t *pool) {
        return atomic_load_explicit(&pool->busy, memory_order_relaxed);
}
