/*
 * pool: the worker threads — start, size, gather batches, stop, abort
 * (see pool.h for the design; worker.c handles one batch, scaler.c decides
 * sizes, arc.c limits concurrent sink calls).
 *
 * Threads come and go at run time: the main thread spawns them into free
 * slots, asks surplus ones to retire (a worker checks between batches, so
 * it never leaves events behind), and reaps (joins and frees) the ones that
 * have exited. Only the main thread touches the slots.
 */
#include "workers/pool.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/cond.h"
#include "common/log.h"
#include "workers/worker_int.h"

/* Idle workers wake this often to notice a retirement; stops and
 * retirements also wake them at once (fg_queue_wake_all). */
#define POP_TIMEOUT_NS  FG_NS_PER_S
#define ARC_WAIT_NS     (100 * FG_NS_PER_MS)
#define ARC_MIN_WINDOW  (50 * FG_NS_PER_MS)

static void apply_sizing(fg_pool_t *pool, const fg_pool_cfg_t *wc) {
        pool->size = (unsigned)wc->size;
        pool->min = (unsigned)wc->min;
        pool->max = (unsigned)wc->max;
        pool->linger_ns = wc->idle_linger_ns;
        pool->interval_ns = wc->scale_interval_ns;
        atomic_store(&pool->dynamic, wc->mode == FG_WORKERS_DYNAMIC);
        fg_arc_set_max(pool->arc, pool->max);
}

fg_pool_t *fg_pool_new(const fg_pool_cfg_t *wc, fg_queue_t *q, fg_dlq_t *dlq,
                       fg_metrics_t *metrics, char *errstr, size_t errstr_size) {
        fg_pool_t *pool = calloc(1, sizeof(*pool));
        unsigned start = (unsigned)(wc->min > 4 ? wc->min : 4);
        fg_arc_cfg_t ac = {
            .initial_limit = start < wc->max ? start : (unsigned)wc->max,
            .max_limit = FG_POOL_MAX_THREADS,
            .ewma_alpha = 0.2,
            .deviation_scale = 2.5,
            .decrease_ratio = 0.9,
            .min_window_ns = ARC_MIN_WINDOW,
        };

        if (!pool || !(pool->arc = fg_arc_new(&ac))) {
                free(pool);
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        pool->q = q;
        pool->dlq = dlq;
        pool->metrics = metrics;
        pool->buf_max = (size_t)wc->batch_max;
        /* A holding queue holds at most what the queue itself may. */
        pool->hold_cap = fg_queue_capacity(q);
        if (fg_queue_set_ordering(q, wc->ordering, errstr, errstr_size)) {
                fg_arc_destroy(pool->arc);
                free(pool);
                return NULL;
        }
        apply_sizing(pool, wc);
        pthread_mutex_init(&pool->lock, NULL);
        pthread_mutex_init(&pool->plan_lock, NULL);
        fg_cond_init_monotonic(&pool->cond);
        return pool;
}

void fg_pool_set_park(fg_pool_t *pool, fg_park_t *park) {
        pool->park = park;
        fg_pool_apply_runs(pool);
}

static bool pool_is_aborting(void *arg) {
        const fg_pool_t *pool = arg;
        return pool->aborting;
}

static bool pool_all_exited(void *arg) {
        const fg_pool_t *pool = arg;
        return pool->live == 0;
}

bool fg_pool_backoff_sleep(fg_pool_t *pool, int64_t ns) {
        bool aborting;

        pthread_mutex_lock(&pool->lock);
        aborting = fg_cond_wait_for(&pool->cond, &pool->lock, ns, pool_is_aborting, pool);
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

bool fg_pool_limit_acquire(fg_pool_t *pool, bool *held) {
        *held = false;
        if (!atomic_load_explicit(&pool->dynamic, memory_order_relaxed))
                return true;
        while (!fg_arc_acquire(pool->arc, ARC_WAIT_NS))
                if (fg_pool_aborting(pool))
                        return false;
        *held = true;
        return true;
}

void fg_pool_limit_release(fg_pool_t *pool, bool held, int64_t rtt_ns, fg_arc_signal_t signal,
                           int64_t now_ns) {
        if (!held)
                return;
        if (rtt_ns < 0)
                fg_arc_cancel(pool->arc);
        else
                fg_arc_release(pool->arc, rtt_ns, signal, now_ns);
}

/* Takes a batch into w->in: what is queued, up to the plan's batch size;
 * with sink.batch.max_wait, waits that long for the batch to fill. 0 when
 * idle or stopping. Then moves to the current plan, so whatever was popped
 * after a swap goes with the new plan. */
static size_t gather(fg_worker_t *w) {
        fg_pool_t *pool = w->pool;
        const fg_target_t *t0 = &w->plan->targets[0];
        size_t max = w->plan->direct ? t0->batch_max : pool->buf_max;
        size_t n = fg_queue_pop(pool->q, w->in, max, POP_TIMEOUT_NS);
        int64_t deadline, wait_ns = fg_sink_batch_wait_ns(t0->sink);

        if (n && wait_ns > 0 && n < max) {
                deadline = fg_mono_ns() + wait_ns;
                while (n < max) {
                        int64_t left = deadline - fg_mono_ns();
                        size_t more;
                        if (left <= 0)
                                break;
                        more = fg_queue_pop(pool->q, w->in + n, max - n, left);
                        if (!more)
                                break;
                        n += more;
                }
        }
        fg_pool_sync_plan(w);
        return n;
}

static void *worker_main(void *arg) {
        fg_worker_t *w = arg;
        fg_pool_t *pool = w->pool;
        char name[16];

        snprintf(name, sizeof(name), "fg-worker-%u", w->id);
        pthread_setname_np(pthread_self(), name);
        atomic_store(&w->idle_since_ns, fg_mono_ns());
        for (;;) {
                int asked = FG_W_RETIRE;
                size_t n;
                /* Leaving is final: the main thread can no longer take the
                 * retirement back once this succeeds. */
                if (atomic_compare_exchange_strong(&w->retire, &asked, FG_W_LEAVING))
                        break;
                n = gather(w);
                if (n == 0) {
                        /* Idle: events other workers parked may wait. */
                        fg_worker_serve_held(w);
                        if (atomic_load(&pool->stopping))
                                break; /* closed and empty */
                        continue;
                }
                atomic_store_explicit(&w->idle_since_ns, 0, memory_order_relaxed);
                if (fg_pool_aborting(pool) || atomic_load(&pool->failed)) {
                        for (size_t i = 0; i < n; i++)
                                fg_item_abandon(&w->in[i]);
                } else {
                        atomic_fetch_add_explicit(&pool->busy, 1, memory_order_relaxed);
                        fg_worker_dispatch(w, n);
                        atomic_store_explicit(&pool->last_done_ns, fg_mono_ns(), memory_order_relaxed);
                        atomic_fetch_sub_explicit(&pool->busy, 1, memory_order_relaxed);
                        /* What this worker parked is served before it may
                         * leave its plan (or retire). */
                        fg_worker_serve_held(w);
                }
                atomic_store_explicit(&w->idle_since_ns, fg_mono_ns(), memory_order_relaxed);
        }

        pthread_mutex_lock(&pool->lock);
        pool->live--;
        pthread_cond_broadcast(&pool->cond);
        pthread_mutex_unlock(&pool->lock);
        atomic_store(&w->exited, true);
        return NULL;
}

/* Main thread, once the worker is joined (or never started). */
static void worker_free(fg_worker_t *w) {
        fg_pool_worker_drop_plan(w);
        if (w->shard)
                fg_mshard_release(w->pool->metrics, w->shard);
        free(w->items);
        free(w->in);
        free(w->route);
        free(w->evs);
        free(w->slots);
        free(w->send_evs);
        free(w->res);
        free(w->send_idx);
        free(w->done);
        free(w->dlq);
        free(w->dlq_idx);
        free(w->dlq_err);
        free(w->park_msg);
        free(w);
}

/* Main thread: the worker's buffers, sink connection and handler context. */
static fg_worker_t *worker_new(fg_pool_t *pool, unsigned id, char *errstr, size_t errstr_size) {
        fg_worker_t *w = calloc(1, sizeof(*w));
        size_t bm = pool->buf_max;

        if (!w) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        w->pool = pool;
        w->id = id;
        w->rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)id << 32) ^ (uint64_t)fg_mono_ns();
        w->items = calloc(bm, sizeof(*w->items));
        w->in = calloc(bm, sizeof(*w->in));
        w->route = calloc(bm, sizeof(*w->route));
        w->evs = calloc(bm, sizeof(*w->evs));
        w->slots = calloc(bm, sizeof(*w->slots));
        w->send_evs = calloc(bm, sizeof(*w->send_evs));
        w->res = calloc(bm, sizeof(*w->res));
        w->send_idx = calloc(bm, sizeof(*w->send_idx));
        w->done = calloc(bm, sizeof(*w->done));
        w->dlq = calloc(bm, sizeof(*w->dlq));
        w->dlq_idx = calloc(bm, sizeof(*w->dlq_idx));
        w->dlq_err = calloc(bm, sizeof(*w->dlq_err));
        if (pool->park)
                w->park_msg = calloc(bm, FG_PARK_MSG_SIZE);
        if (!w->items || !w->in || !w->route || !w->evs || !w->slots || !w->send_evs || !w->res || !w->send_idx ||
            !w->done || !w->dlq || !w->dlq_idx || !w->dlq_err ||
            (pool->park && !w->park_msg)) {
                snprintf(errstr, errstr_size, "out of memory");
                worker_free(w);
                return NULL;
        }
        /* Opened here, on the main thread, so a sink that cannot start
         * fails start-up with a clear error; used only by the worker. */
        if (fg_pool_worker_take_plan(w, errstr, errstr_size)) {
                worker_free(w);
                return NULL;
        }
        w->shard = fg_metrics_shard_get(pool->metrics);
        return w;
}

/* Main thread: starts one more worker in a free slot. */
static int spawn(fg_pool_t *pool, char *errstr, size_t errstr_size) {
        unsigned slot = 0;
        fg_worker_t *w;
        int rc;

        while (slot < FG_POOL_MAX_THREADS && pool->slots[slot])
                slot++;
        if (slot == FG_POOL_MAX_THREADS) {
                snprintf(errstr, errstr_size, "no free worker slot");
                return -1;
        }
        w = worker_new(pool, pool->next_id++, errstr, errstr_size);
        if (!w)
                return -1;
        pthread_mutex_lock(&pool->lock);
        pool->live++;
        pthread_mutex_unlock(&pool->lock);
        rc = pthread_create(&w->thread, NULL, worker_main, w);
        if (rc) {
                pthread_mutex_lock(&pool->lock);
                pool->live--;
                pthread_mutex_unlock(&pool->lock);
                snprintf(errstr, errstr_size, "cannot start a worker: %s", strerror(rc));
                worker_free(w);
                return -1;
        }
        w->started = true;
        pool->slots[slot] = w;
        pool->running++;
        return 0;
}

/* Main thread: joins and frees the workers that have exited and, with
 * @p leaving, also those past their last batch (their exit is imminent and
 * does not block: only pool->lock, never held for long). */
static void reap(fg_pool_t *pool, bool leaving) {
        for (unsigned i = 0; i < FG_POOL_MAX_THREADS; i++) {
                fg_worker_t *w = pool->slots[i];
                if (!w || !(atomic_load(&w->exited) ||
                            (leaving && atomic_load(&w->retire) == FG_W_LEAVING)))
                        continue;
                pthread_join(w->thread, NULL);
                worker_free(w);
                pool->slots[i] = NULL;
                pool->running--;
        }
}

/* Workers running and not asked to retire. */
static unsigned active(const fg_pool_t *pool) {
        unsigned n = 0;
        for (unsigned i = 0; i < FG_POOL_MAX_THREADS; i++)
                n += pool->slots[i] && atomic_load(&pool->slots[i]->retire) == FG_W_RUN;
        return n;
}

/* Main thread: asks up to @p n workers to retire, longest idle first (only
 * those idle at least @p min_idle_ns unless @p busy_too). Returns how many. */
static unsigned retire(fg_pool_t *pool, unsigned n, int64_t min_idle_ns, bool busy_too,
                       int64_t now_ns) {
        unsigned done = 0;

        while (done < n) {
                fg_worker_t *pick = NULL;
                int64_t best = INT64_MIN;
                for (unsigned i = 0; i < FG_POOL_MAX_THREADS; i++) {
                        fg_worker_t *w = pool->slots[i];
                        int64_t since, idle;
                        if (!w || atomic_load(&w->retire) != FG_W_RUN)
                                continue;
                        since = atomic_load_explicit(&w->idle_since_ns, memory_order_relaxed);
                        idle = since ? now_ns - since : -1; /* -1: busy */
                        if ((idle >= min_idle_ns || busy_too) && idle > best) {
                                pick = w;
                                best = idle;
                        }
                }
                if (!pick)
                        break;
                atomic_store(&pick->retire, FG_W_RETIRE);
                done++;
        }
        if (done)
                fg_queue_wake_all(pool->q);
        return done;
}

/* Main thread: adds @p n workers, first by taking back retirements not yet
 * acted on, then — once no retired thread is left alive — by starting new
 * ones, so the threads alive never exceed what was asked for. Returns how
 * many were added; @p errstr says why when short. */
static unsigned grow(fg_pool_t *pool, unsigned n, char *errstr, size_t errstr_size) {
        unsigned added = 0;

        for (unsigned i = 0; i < FG_POOL_MAX_THREADS && added < n; i++) {
                fg_worker_t *w = pool->slots[i];
                int asked = FG_W_RETIRE;
                if (w && atomic_compare_exchange_strong(&w->retire, &asked, FG_W_RUN))
                        added++;
        }
        if (added < n)
                reap(pool, true); /* what could not be taken back is leaving */
        while (added < n && pool->running < FG_POOL_MAX_THREADS) {
                if (spawn(pool, errstr, errstr_size))
                        break;
                added++;
        }
        return added;
}

/* Main thread: brings the pool to @p target now (fixed mode, reloads). */
static void resize_to(fg_pool_t *pool, unsigned target, int64_t now_ns) {
        char errstr[256] = "no free worker slot";
        unsigned have = active(pool);

        pool->target = target;
        if (have < target && grow(pool, target - have, errstr, sizeof(errstr)) < target - have)
                fg_warn("workers: %s", errstr);
        if (have > target)
                retire(pool, have - target, 0, true, now_ns);
}

int fg_pool_start(fg_pool_t *pool, char *errstr, size_t errstr_size) {
        unsigned n = atomic_load(&pool->dynamic) ? pool->min : pool->size;

        if (!pool->plan) {
                snprintf(errstr, errstr_size, "no plan installed");
                return -1;
        }

        pool->target = n;
        for (unsigned i = 0; i < n; i++)
                if (spawn(pool, errstr, errstr_size))
                        return -1;
        return 0;
}

static unsigned long_idle(const fg_pool_t *pool, int64_t now_ns) {
        unsigned n = 0;
        for (unsigned i = 0; i < FG_POOL_MAX_THREADS; i++) {
                fg_worker_t *w = pool->slots[i];
                int64_t since;
                if (!w || atomic_load(&w->retire) != FG_W_RUN)
                        continue;
                since = atomic_load_explicit(&w->idle_since_ns, memory_order_relaxed);
                n += since && now_ns - since >= pool->linger_ns;
        }
        return n;
}

void fg_pool_tick(fg_pool_t *pool, const fg_pool_load_t *load, int64_t now_ns) {
        fg_pool_reap_plans(pool);
        fg_scaler_cfg_t sc = {.min = pool->min, .max = pool->max, .headroom = 1.25,
                               .queue_wait_grow_ns = 50 * FG_NS_PER_MS};
        fg_scaler_input_t in;
        fg_scaler_decision_t dec;
        fg_arc_stats_t as;
        fg_queue_order_stats_t os;
        size_t depth, ready;
        char errstr[256] = "no free worker slot";

        reap(pool, false);
        if (atomic_load(&pool->stopping))
                return;
        if (!atomic_load(&pool->dynamic)) {
                if (active(pool) != pool->size)
                        resize_to(pool, pool->size, now_ns);
                return;
        }
        /* Ticks come about once a second, each a little early or late: one
         * that is up to a tenth of an interval early still counts, or with
         * scale_interval = the tick period every other interval is lost. */
        if (now_ns < pool->next_scale_ns - pool->interval_ns / 10)
                return;
        pool->next_scale_ns = now_ns + pool->interval_ns;

        fg_arc_get_stats(pool->arc, &as);
        fg_queue_get_order_stats(pool->q, &os);
        depth = fg_queue_depth(pool->q);
        /* Events waiting behind an earlier event of their key are no work
         * for another thread: only what may go counts as fill, and when
         * most of the queue waits for its keys, so does the queue wait. */
        ready = depth > os.blocked ? depth - os.blocked : 0;
        in = (fg_scaler_input_t){
            .running = active(pool),
            .busy = fg_pool_busy(pool),
            .idle_long = long_idle(pool, now_ns),
            .arrival_per_s = load->arrival_per_s,
            .call_latency_s = load->call_latency_s,
            .events_per_call = load->events_per_call,
            .queue_fill = (double)ready / (double)fg_queue_capacity(pool->q),
            .queue_wait_p90_ns = os.blocked > depth / 2 ? 0 : load->queue_wait_p90_ns,
            .concurrency_limit = as.limit,
        };
        fg_scaler_decide(&sc, &pool->sst, &in, &dec);
        pool->target = dec.target;
        if (dec.grow) {
                unsigned started = grow(pool, dec.grow, errstr, sizeof(errstr));
                if (started < dec.grow)
                        fg_warn("workers: %s", errstr);
                if (started) {
                        pool->scale_ups++;
                        fg_info("workers: %u -> %u: %s", in.running, in.running + started, dec.reason);
                }
        } else if (dec.retire) {
                unsigned gone = retire(pool, dec.retire, pool->linger_ns, false, now_ns);
                if (gone) {
                        pool->scale_downs++;
                        fg_info("workers: %u -> %u: %s", in.running, in.running - gone, dec.reason);
                }
        }
}

void fg_pool_reconfigure(fg_pool_t *pool, const fg_pool_cfg_t *wc) {
        bool was_dynamic = atomic_load(&pool->dynamic);
        fg_ordering_t was_ordering = fg_queue_ordering(pool->q);
        int64_t now = fg_mono_ns();
        char errstr[256];

        if (wc->ordering != was_ordering) {
                if (fg_queue_set_ordering(pool->q, wc->ordering, errstr, sizeof(errstr)))
                        fg_error("workers.ordering: %s; keeping %s", errstr,
                                 fg_queue_ordering_name(was_ordering));
                else
                        fg_info("workers.ordering: %s -> %s%s", fg_queue_ordering_name(was_ordering),
                                fg_queue_ordering_name(wc->ordering),
                                wc->ordering == FG_ORDER_NONE ? ""
                                                              : " (once the events in flight finish)");
        }

        apply_sizing(pool, wc);
        pool->sst = (fg_scaler_state_t){0};
        pool->next_scale_ns = 0;
        if (!atomic_load(&pool->dynamic)) {
                resize_to(pool, pool->size, now);
        } else {
                unsigned have = active(pool);
                /* Within the new bounds at once; the scaler takes it from there. */
                if (have < pool->min)
                        resize_to(pool, pool->min, now);
                else if (have > pool->max)
                        resize_to(pool, pool->max, now);
        }
        fg_info("workers: %s, %u running (target %u)%s",
                atomic_load(&pool->dynamic) ? "dynamic" : "fixed", active(pool), pool->target,
                was_dynamic != atomic_load(&pool->dynamic) ? ", mode changed" : "");
}

bool fg_pool_stop(fg_pool_t *pool, int64_t timeout_ns) {
        bool drained;

        atomic_store(&pool->stopping, true);
        fg_queue_close(pool->q);

        pthread_mutex_lock(&pool->lock);
        drained = fg_cond_wait_for(&pool->cond, &pool->lock, timeout_ns, pool_all_exited, pool);
        if (!drained) {
                pool->aborting = true;
                pthread_cond_broadcast(&pool->cond);
        }
        pthread_mutex_unlock(&pool->lock);
        if (!drained)
                fg_warn("shutdown timeout: abandoning unfinished events; Kafka will redeliver them");

        for (unsigned i = 0; i < FG_POOL_MAX_THREADS; i++) {
                fg_worker_t *w = pool->slots[i];
                if (w && w->started) {
                        pthread_join(w->thread, NULL);
                        w->started = false;
                }
        }
        return drained;
}

void fg_pool_destroy(fg_pool_t *pool) {
        if (!pool)
                return;
        for (unsigned i = 0; i < FG_POOL_MAX_THREADS; i++) {
                fg_worker_t *w = pool->slots[i];
                if (!w)
                        continue;
                if (w->started)
                        pthread_join(w->thread, NULL);
                worker_free(w);
        }
        if (pool->plan) {
                fg_plan_unref(pool->plan);
                pool->plan->next = pool->retired;
                pool->retired = pool->plan;
        }
        fg_pool_reap_plans(pool);
        fg_arc_destroy(pool->arc);
        pthread_mutex_destroy(&pool->plan_lock);
        pthread_cond_destroy(&pool->cond);
        pthread_mutex_destroy(&pool->lock);
        free(pool);
}

void fg_pool_get_stats(fg_pool_t *pool, fg_pool_stats_t *out) {
        bool dyn = atomic_load(&pool->dynamic);
        fg_arc_stats_t as;

        fg_arc_get_stats(pool->arc, &as);
        *out = (fg_pool_stats_t){
            .mode = dyn ? "dynamic" : "fixed",
            .running = pool->running,
            .busy = fg_pool_busy(pool),
            .target = pool->target,
            .min = dyn ? pool->min : pool->size,
            .max = dyn ? pool->max : pool->size,
            .limit = dyn ? as.limit : 0,
            .rtt_mean_ms = dyn ? as.rtt_mean_ms : 0,
            .scale_ups = pool->scale_ups,
            .scale_downs = pool->scale_downs,
        };
}

unsigned fg_pool_size(const fg_pool_t *pool) { return pool->running; }

unsigned fg_pool_busy(const fg_pool_t *pool) {
        return atomic_load_explicit(&pool->busy, memory_order_relaxed);
}

bool fg_pool_failed(const fg_pool_t *pool) { return atomic_load(&pool->failed); }

int64_t fg_pool_longest_call_ns(const fg_pool_t *pool, int64_t now_ns) {
        int64_t longest = 0;
        for (unsigned i = 0; i < FG_POOL_MAX_THREADS; i++) {
                int64_t t;
                if (!pool->slots[i])
                        continue;
                t = atomic_load_explicit(&pool->slots[i]->call_started_ns, memory_order_relaxed);
                if (t && now_ns - t > longest)
                        longest = now_ns - t;
        }
        return longest;
}

int64_t fg_pool_last_done_ns(const fg_pool_t *pool) {
        return atomic_load_explicit(&pool->last_done_ns, memory_order_relaxed);
}

unsigned fg_pool_live_threads(fg_pool_t *pool) {
        unsigned n;

        pthread_mutex_lock(&pool->lock);
        n = pool->live;
        pthread_mutex_unlock(&pool->lock);
        return n;
}
