/*
 * pool: the worker threads that carry items from the queue to the sink.
 *
 * DESIGN
 * Each worker owns a sink connection, a handler context, a metrics shard
 * and its batch buffers. It takes up to workers.batch_max items at a time
 * from the queue (waiting up to sink.batch.max_wait for the batch to fill),
 * runs the handler, sends to the sink, and retries what the sink refuses
 * for now (RETRY, BACKPRESSURE) after an exponential backoff with jitter,
 * honouring the downstream's Retry-After; see worker.c for the whole
 * outcome logic, dead letters included. A failing downstream therefore
 * holds workers, the queue fills, and ingest pauses: backpressure, not
 * loss. Each item ends with fg_item_finish() (final outcome, its offset may
 * be committed) or, when the pool is aborted, fg_item_abandon().
 *
 * Ordering: workers.ordering is the queue's (fg_queue_set_ordering, at
 * fg_pool_new and on reconfigure): in partition or key mode a batch holds
 * one event per key, or a run of a key's consecutive events when the
 * current plan allows runs (one target without routing or admission,
 * prefix-ordered sinks, keys not parked: pool_plan.c); the key is released
 * once every event of its run has ended.
 *
 * Sizing: fixed mode runs workers.size threads. Dynamic mode (scaler.h)
 * grows at once to what the load needs and retires long-idle threads
 * lazily, between workers.min and workers.max; an adaptive limit (arc.h)
 * caps concurrent sink calls on the sink's round-trip times and
 * push-back. The main thread drives both with fg_pool_tick() and applies
 * live changes with fg_pool_reconfigure(): new threads start at once,
 * retired ones finish their batch first, so no event is lost or doubled.
 *
 * Stopping: fg_pool_stop() closes the queue; workers drain what is left and
 * exit. If they have not finished by the deadline the pool aborts: backoff
 * waits end at once, unfinished items are abandoned (Kafka redelivers them
 * after restart), and the workers exit after their current sink call.
 *
 * Live swap and routes: the handlers, sinks and breakers travel together
 * as a plan of targets (plan.h). fg_pool_install() publishes a new one; each worker moves to
 * it at its next batch boundary (a batch, retries included, finishes on
 * the plan it started with), so every event is delivered by exactly one
 * sink; the old parts are destroyed on the main thread (fg_pool_tick)
 * once the last worker let go of them.
 *
 * Threading: fg_pool_new/start/tick/reconfigure/swap/stop/destroy, the
 * plan getters and the stats: main thread. fg_pool_busy, fg_pool_failed: any thread (atomics);
 * fg_pool_live_threads: any thread (pool->lock).
 * Workers run worker_main().
 * Locks: pool->lock guards live and aborting (for the stop handshake and
 * abortable backoff sleeps); never held during a sink call.
 * Ownership: the pool owns the sinks, handlers and breakers it is given
 * (fg_pool_install, fg_pool_swap); it borrows the queue, the dead-letter
 * producer and the metrics registry, which must outlive it.
 */
#ifndef FG_POOL_H
#define FG_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "breaker/breaker.h"
#include "handler/handler.h"
#include "metrics/metrics.h"
#include "pipeline/park.h"
#include "pipeline/queue.h"
#include "sinks/dead_letter.h"
#include "sinks/sink.h"
#include "workers/plan.h"

typedef struct fg_pool fg_pool_t;

/* The most targets (routes + the default) a plan may have, and target
 * names counted over the pool's life. */
#define FG_POOL_MAX_TARGETS 64

typedef enum fg_workers_mode {
        FG_WORKERS_FIXED = 0,
        FG_WORKERS_DYNAMIC,
} fg_workers_mode_t;

/* The workers section of the configuration. */
typedef struct fg_pool_cfg {
        fg_workers_mode_t mode;
        int64_t size;           /* fixed pool size */
        int64_t min, max;       /* dynamic pool bounds */
        int64_t idle_linger_ns; /* dynamic: idle this long before retiring */
        int64_t scale_interval_ns;
        int64_t batch_max;      /* messages a worker takes at once (not live) */
        int64_t drain_within_ns; /* instance model's drain target (read by the daemon's view) */
        fg_ordering_t ordering; /* what may be in flight at once (the queue applies it) */
} fg_pool_cfg_t;

/* @p dlq may be NULL (no dead-letter topic). The pool follows the policies
 * that travel with its parts: handler.on_invalid (fg_handler_on_invalid),
 * breaker.when_open (fg_brk_when_open), sink.retry.* and
 * sink.batch.max_wait (fg_sink_retry, fg_sink_batch_wait_ns). @p wc is
 * read during the call only. A plan must be installed (fg_pool_install or
 * fg_pool_swap) before fg_pool_start. */
fg_pool_t *fg_pool_new(const fg_pool_cfg_t *wc, fg_queue_t *q, fg_dlq_t *dlq,
                       fg_metrics_t *metrics, char *errstr, size_t errstr_size);
/* Parks keys of dead-lettered events (dead_letter.park_key): later events
 * of a parked key are dead-lettered as `parked` (see pipeline/park.h).
 * Main thread, before fg_pool_start; @p park must outlive the pool. */
void fg_pool_set_park(fg_pool_t *pool, fg_park_t *park);
/* Starts the workers. Returns 0, or -1 with a reason. */
int fg_pool_start(fg_pool_t *pool, char *errstr, size_t errstr_size);
/* Drains and joins the workers; aborts them once @p timeout_ns passes.
 * Returns true when everything drained without aborting. */
bool fg_pool_stop(fg_pool_t *pool, int64_t timeout_ns);
void fg_pool_destroy(fg_pool_t *pool);

/* What the daemon observed recently, for dynamic sizing. */
typedef struct fg_pool_load {
        double arrival_per_s;
        double call_latency_s;
        double events_per_call;
        int64_t queue_wait_p90_ns;
} fg_pool_load_t;

/* Main thread, about once a second: reaps exited threads and, every
 * workers.scale_interval, resizes. */
void fg_pool_tick(fg_pool_t *pool, const fg_pool_load_t *load, int64_t now_ns);
/* Main thread: applies workers.* from @p wc (mode, size, min, max,
 * idle_linger, scale_interval, ordering; not batch_max) to the running
 * pool. */
void fg_pool_reconfigure(fg_pool_t *pool, const fg_pool_cfg_t *wc);

/* Main thread: installs a plan of @p n targets (plan.h: fg_target_spec_t;
 * the order is the routes' order, the default target last). The workers
 * move to it at their next batch boundary. The pool owns the new handlers,
 * sinks and breakers from this call on, even when it fails (-1 with the
 * reason: a route filter that does not compile, out of memory; the current
 * plan stays). */
int fg_pool_install(fg_pool_t *pool, const fg_target_spec_t *specs, size_t n, char *errstr,
                    size_t errstr_size);
/* Main thread: the one-target case — @p handler, @p sink and @p brk (NULL:
 * keep the current target's) as the default target, with no limit. */
int fg_pool_swap(fg_pool_t *pool, fg_handler_t *handler, fg_sink_t *sink, fg_brk_t *brk,
                 char *errstr, size_t errstr_size);
/* Main thread: the current plan (valid until the next install); the sink
 * and breaker of its default target (else its first), for the gauges; its
 * generation (1 at start, +1 per install); and how many plans are alive
 * (the current one and those workers still hold). */
const fg_plan_t *fg_pool_plan(const fg_pool_t *pool);
fg_sink_t *fg_pool_sink(const fg_pool_t *pool);
fg_brk_t *fg_pool_breaker(const fg_pool_t *pool);
unsigned fg_pool_plan_gen(const fg_pool_t *pool);
unsigned fg_pool_plans(const fg_pool_t *pool);

/* Deliveries per target name over the pool's life (routes, "default"). */
typedef struct fg_pool_target_stats {
        char name[FG_TARGET_NAME_MAX];
        uint64_t delivered;     /* acknowledged by the target's sink */
        uint64_t held;          /* events parked in its holding queue */
        uint64_t fallback;      /* acknowledged by its fallback sink */
        /* In the current plan only (a route a reload removed keeps its
         * counters but is not live): */
        bool live;
        fg_brk_state_t brk;     /* its breaker's state */
        size_t held_now;        /* events in its holding queue now */
} fg_pool_target_stats_t;
/* Main thread: fills up to @p max at @p now_ns; returns how many. */
size_t fg_pool_target_stats(const fg_pool_t *pool, fg_pool_target_stats_t *out, size_t max,
                            int64_t now_ns);

typedef struct fg_pool_stats {
        const char *mode;        /* "fixed" | "dynamic" */
        unsigned running, busy, target, min, max;
        unsigned limit;          /* adaptive concurrency limit; 0 when fixed */
        double rtt_mean_ms;      /* the limit's RTT estimate; 0 when fixed */
        uint64_t scale_ups, scale_downs;
} fg_pool_stats_t;
void fg_pool_get_stats(fg_pool_t *pool, fg_pool_stats_t *out);

unsigned fg_pool_size(const fg_pool_t *pool);
unsigned fg_pool_busy(const fg_pool_t *pool);
/* True once an invalid event met handler.on_invalid: fail. */
bool fg_pool_failed(const fg_pool_t *pool);
/* How long the longest sink call in progress has been running at
 * @p now_ns (0 when no worker is inside one): the health check's measure of
 * a wedged pool. */
int64_t fg_pool_longest_call_ns(const fg_pool_t *pool, int64_t now_ns);
/* Monotonic time a worker last finished a batch; 0 before. */
int64_t fg_pool_last_done_ns(const fg_pool_t *pool);
/* Worker threads alive right now: started (or being started) and not yet
 * past their exit, retiring ones included — what the process really runs,
 * unlike fg_pool_size (threads not yet reaped). Any thread (pool->lock):
 * tests check workers.max against it while the main thread resizes. */
unsigned fg_pool_live_threads(fg_pool_t *pool);

#endif
