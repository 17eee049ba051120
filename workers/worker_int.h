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
#include "handler/handler.h"
#include "pipeline/park.h"
#include "sinks/dead_letter.h"
#include "workers/arc.h"
#include "workers/plan.h"
#include "workers/pool.h"
#include "workers/scaler.h"

/* Per event of the batch being handled. */
typedef struct fg_slot {
        uint32_t attempts;      /* sink attempts so far */
        int64_t first_try_ns;   /* monotonic, first attempt */
        bool exhausted_logged;
        fg_park_ticket_t park;  /* its place in its key's park (since 0: none) */
} fg_slot_t;

typedef struct fg_worker {
        fg_pool_t *pool;
        unsigned id;
        pthread_t thread;
        bool started;
        fg_mshard_t *shard;
        fg_plan_t *plan;         /* the plan it delivers with (one reference) */
        unsigned refused_gen;    /* the last plan it could not move to (logged once) */
        fg_sink_conn_t **conns;  /* per target of plan: sinks, then fallback sinks */
        fg_handler_ctx_t **hctxs;/* one per target of plan */
        /* The target a step works on, and its connection and context. */
        fg_target_t *tgt;
        fg_sink_conn_t *conn;
        fg_sink_conn_t *fconn;   /* to tgt->fb_sink; NULL without one */
        fg_handler_ctx_t *hctx;
        fg_item_t *in;           /* the batch as gathered */
        fg_target_t **route;     /* the target of each gathered item (NULL: filtered) */
        fg_item_t *items;        /* what one step works on: one target's share */
        fg_event_t *evs;         /* one per item */
        fg_slot_t *slots;        /* one per item */
        fg_event_t *send_evs;    /* the subset sent in one attempt */
        fg_sink_result_t *res;
        size_t *send_idx;        /* item index of each send_evs entry */
        size_t *done;            /* items reaching their outcome in a step */
        fg_dlq_entry_t *dlq;     /* dead letters being produced */
        size_t *dlq_idx;
        rd_kafka_resp_err_t *dlq_err;
        char *park_msg;          /* with a park table: one reason per item */
        uint64_t rng;            /* jitter state */
        _Atomic int64_t call_started_ns; /* monotonic; 0 = not in a sink call */
        _Atomic int64_t idle_since_ns;   /* monotonic; 0 = working */
        /* FG_W_RUN; FG_W_RETIRE (main thread: exit after this batch; it may
         * take that back); FG_W_LEAVING (the worker: past its last batch). */
        _Atomic int retire;
        _Atomic bool exited;     /* set by the worker as it ends; reaped by main */
} fg_worker_t;

enum { FG_W_RUN = 0, FG_W_RETIRE, FG_W_LEAVING };

/* Room for one parked event's reason (the first failure it follows). */
#define FG_PARK_MSG_SIZE (FG_PARK_REASON_MAX + 64)

/* The most threads a pool may ever run (workers.max's bound). */
#define FG_POOL_MAX_THREADS 1024

struct fg_pool {
        fg_queue_t *q;
        fg_dlq_t *dlq;           /* NULL: no dead-letter topic */
        fg_park_t *park;         /* NULL: dead_letter.park_key off */
        fg_metrics_t *metrics;
        size_t buf_max;          /* workers.batch_max: the workers' buffers */
        size_t hold_cap;         /* items a target's holding queue takes */

        /* The current plan (handler, sink, breaker; the breaker is always
         * set, in DISABLED mode when turned off). plan_lock guards the
         * pointer against a swap while a worker takes a reference; the main
         * thread alone swaps, so it reads it without the lock. */
        pthread_mutex_t plan_lock;
        fg_plan_t *plan;
        fg_plan_t *retired;      /* main thread: replaced, not yet reaped */
        bool runs;               /* main thread: the queue's runs are on */
        unsigned gen;            /* main thread: plans built so far */
        /* Deliveries per target name, across plans: the main thread adds
         * cells (never removes one), workers count into them. */
        fg_target_ctr_t ctrs[FG_POOL_MAX_TARGETS];
        size_t nctrs;

        /* Sizing: main thread only (config, ticks, spawn, reap). */
        fg_worker_t *slots[FG_POOL_MAX_THREADS]; /* NULL = free */
        unsigned running;        /* threads started and not yet reaped */
        unsigned next_id;
        unsigned size, min, max; /* workers.* as last configured */
        int64_t linger_ns, interval_ns, next_scale_ns;
        unsigned target;
        fg_scaler_state_t sst;
        uint64_t scale_ups, scale_downs;
        /* The adaptive sink concurrency limit, used while dynamic; kept for
         * the pool's life so a worker inside it is never left dangling. */
        fg_arc_t *arc;
        _Atomic bool dynamic;

        pthread_mutex_t lock;
        pthread_cond_t cond;     /* live changes, aborting set */
        unsigned live;
        bool aborting;

        _Atomic bool stopping;
        _Atomic bool failed;     /* a worker hit on_invalid: fail */
        _Atomic unsigned busy;
        _Atomic int64_t last_done_ns;
};

/* pool_plan.c: a reference to the current plan; any thread. */
fg_plan_t *fg_pool_plan_get(fg_pool_t *pool);
/* pool_plan.c, main thread: frees the retired plans no worker holds. */
void fg_pool_reap_plans(fg_pool_t *pool);
/* pool_plan.c, main thread: turns the queue's runs on or off as the
 * current plan allows (plan_allows_runs there); off only before the
 * workers start. */
void fg_pool_apply_runs(fg_pool_t *pool);
/* pool_plan.c: the worker takes the current plan and opens its
 * connections and contexts (main thread, before the worker starts): 0 or
 * -1 with the reason. */
int fg_pool_worker_take_plan(fg_worker_t *w, char *errstr, size_t errstr_size);
/* pool_plan.c: closes what the worker holds of its plan and lets go of it
 * (main thread once the worker is joined, or the worker itself). */
void fg_pool_worker_drop_plan(fg_worker_t *w);
/* pool_plan.c, worker thread at a batch boundary: moves to the current
 * plan if it changed (staying on its plan when the new sinks cannot be
 * opened from this thread; it tries again at its next batch). */
void fg_pool_sync_plan(fg_worker_t *w);

/* worker.c: routes in[0..n) to the plan's targets and carries each share
 * to its outcomes (entering the target or parking in its holding queue). */
void fg_worker_dispatch(fg_worker_t *w, size_t n);
/* worker.c, at a batch boundary: enters the targets of the worker's plan
 * that hold items and have a free slot, and serves what they hold. */
void fg_worker_serve_held(fg_worker_t *w);
/* worker.c: carries items[0..n) of @p w to their outcomes with w->tgt,
 * w->conn and w->hctx. */
void fg_worker_process(fg_worker_t *w, size_t n);

/* pool.c: sleeps up to @p ns unless the pool aborts first; false on abort. */
bool fg_pool_backoff_sleep(fg_pool_t *pool, int64_t ns);
bool fg_pool_aborting(fg_pool_t *pool);
/* pool.c: in dynamic mode, waits for a slot under the adaptive concurrency
 * limit (*held tells whether one was taken); false if the pool aborted. */
bool fg_pool_limit_acquire(fg_pool_t *pool, bool *held);
/* Returns the slot with the call's RTT (< 0: no call happened). */
void fg_pool_limit_release(fg_pool_t *pool, bool held, int64_t rtt_ns, fg_arc_signal_t signal,
                           int64_t now_ns);

#endif
