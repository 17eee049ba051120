/*
 * pool_plan: the pool's plans — installing a new one (fg_pool_install),
 * reaping retired ones, and each worker's move from one plan to the next
 * at a batch boundary (see plan.h for the design).
 */
#include "workers/pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "workers/worker_int.h"

static void destroy_handler(void *obj) { fg_handler_destroy(obj); }
static void destroy_sink(void *obj) { fg_sink_destroy(obj); }
static void destroy_brk(void *obj) { fg_brk_destroy(obj); }

fg_plan_t *fg_pool_plan_get(fg_pool_t *pool) {
        fg_plan_t *p;

        pthread_mutex_lock(&pool->plan_lock);
        p = pool->plan;
        fg_plan_ref(p);
        pthread_mutex_unlock(&pool->plan_lock);
        return p;
}

void fg_pool_reap_plans(fg_pool_t *pool) {
        fg_plan_t **pp = &pool->retired;

        while (*pp) {
                fg_plan_t *p = *pp;
                if (fg_plan_reap_ready(p)) {
                        *pp = p->next;
                        fg_plan_reap(p);
                } else {
                        pp = &p->next;
                }
        }
}

/* Main thread: the counter cell for @p name (made on first use). */
static fg_target_ctr_t *ctr_for(fg_pool_t *pool, const char *name) {
        for (size_t i = 0; i < pool->nctrs; i++)
                if (!strcmp(pool->ctrs[i].name, name))
                        return &pool->ctrs[i];
        if (pool->nctrs == FG_POOL_MAX_TARGETS)
                return NULL;
        snprintf(pool->ctrs[pool->nctrs].name, FG_TARGET_NAME_MAX, "%s", name);
        return &pool->ctrs[pool->nctrs++];
}

/* The part of a new object, or the current plan's. NULL when out of
 * memory (the object destroyed) or when there is nothing to reuse. */
static fg_plan_part_t *part_for(const fg_pool_t *pool, void *obj, void (*destroy)(void *),
                                int reuse, int k) {
        if (obj)
                return fg_plan_part_new(obj, destroy);
        if (!pool->plan || reuse < 0 || (size_t)reuse >= pool->plan->ntargets)
                return NULL;
        return pool->plan->targets[reuse].parts[k];
}

static bool is_new(const fg_pool_t *pool, const fg_plan_part_t *part) {
        if (!part || !pool->plan)
                return part != NULL;
        for (size_t i = 0; i < pool->plan->ntargets; i++)
                for (int k = 0; k < FG_TARGET_PARTS; k++)
                        if (pool->plan->targets[i].parts[k] == part)
                                return false;
        return true;
}

/* How long a reload may wait for batches carrying runs to end before a
 * plan that forbids runs can go in (the main loop waits meanwhile). */
#define RUNS_STOP_WAIT_NS (5 * FG_NS_PER_S)

/* Whether a batch may carry a key's consecutive events (a run) to @p p:
 * only one target with neither filter nor admission (routing would split
 * a run between targets, a holding queue between workers), whose sinks
 * deliver a batch in order as a unit, and no parked keys (a dead letter
 * parks its key for the key's later events, which a run already took). */
static bool plan_allows_runs(const fg_pool_t *pool, const fg_plan_t *p) {
        const fg_target_t *t = p ? &p->targets[0] : NULL;

        return t && p->direct && !pool->park && fg_sink_prefix_ordered(t->sink) &&
               (!t->fb_sink || fg_sink_prefix_ordered(t->fb_sink));
}

void fg_pool_apply_runs(fg_pool_t *pool) {
        bool want = plan_allows_runs(pool, pool->plan);

        /* Turning them off here is safe only before the workers start (no
         * run can be out yet); a live plan change turns them off in
         * fg_pool_install, waiting for those out. */
        if (want != pool->runs) {
                fg_queue_set_runs(pool->q, want);
                pool->runs = want;
        }
}

int fg_pool_install(fg_pool_t *pool, const fg_target_spec_t *specs, size_t n, char *errstr,
                    size_t errstr_size) {
        fg_plan_part_t *parts[FG_TARGET_PARTS * FG_POOL_MAX_TARGETS] = {0};
        fg_target_ctr_t *ctrs[FG_POOL_MAX_TARGETS];
        fg_plan_t *cur = pool->plan, *np = NULL;
        bool ok = n > 0 && n <= FG_POOL_MAX_TARGETS;

        for (size_t i = 0; i < n && i < FG_POOL_MAX_TARGETS; i++) {
                const fg_target_spec_t *s = &specs[i];
                fg_plan_part_t **pt = parts + FG_TARGET_PARTS * i;
                pt[0] = part_for(pool, s->handler, destroy_handler, s->reuse, 0);
                pt[1] = part_for(pool, s->sink, destroy_sink, s->reuse, 1);
                pt[2] = part_for(pool, s->brk, destroy_brk, s->reuse, 2);
                if (s->fallback) {
                        pt[3] = part_for(pool, s->fb_sink, destroy_sink, s->reuse, 3);
                        pt[4] = part_for(pool, s->fb_brk, destroy_brk, s->reuse, 4);
                }
                ctrs[i] = ctr_for(pool, s->name);
                ok = ok && pt[0] && pt[1] && pt[2] && (!s->fallback || (pt[3] && pt[4])) && ctrs[i];
        }
        if (!ok)
                snprintf(errstr, errstr_size, n > FG_POOL_MAX_TARGETS ? "more than %d targets"
                                                                       : "out of memory",
                         FG_POOL_MAX_TARGETS);
        else
                np = fg_plan_new(specs, parts, n, ctrs, pool->buf_max, pool->hold_cap,
                                 pool->gen + 1, errstr, errstr_size);
        /* A worker moves to the current plan after it popped its batch, so
         * no batch holding a run may be out when a plan that forbids runs
         * goes in: stop them and wait for those out to end, or refuse. */
        if (np && pool->runs && !plan_allows_runs(pool, np)) {
                if (!fg_queue_stop_runs(pool->q, RUNS_STOP_WAIT_NS)) {
                        snprintf(errstr, errstr_size,
                                 "batches carrying a key's consecutive events were still in "
                                 "flight after %lld s; the running plan stays (reload again)",
                                 (long long)(RUNS_STOP_WAIT_NS / FG_NS_PER_S));
                        /* Its new parts go with it; the current plan
                         * keeps its own. */
                        fg_plan_reap(np);
                        return -1;
                } else {
                        pool->runs = false;
                }
        }
        if (!np) {
                /* Only the new parts go: the current plan keeps its own. */
                for (size_t i = 0; i < FG_TARGET_PARTS * n && i < FG_TARGET_PARTS * FG_POOL_MAX_TARGETS;
                     i++)
                        if (is_new(pool, parts[i]))
                                fg_plan_part_drop(parts[i]);
                return -1;
        }
        pool->gen++;
        pthread_mutex_lock(&pool->plan_lock);
        pool->plan = np;
        pthread_mutex_unlock(&pool->plan_lock);
        /* On only after the plan that allows them is current (off was
         * done above, before it went in). */
        fg_pool_apply_runs(pool);
        if (cur) {
                fg_plan_unref(cur);
                cur->next = pool->retired;
                pool->retired = cur;
                /* Idle workers move now, so the old sinks' connections close
                 * soon. */
                fg_queue_wake_all(pool->q);
                fg_pool_reap_plans(pool);
        }
        return 0;
}

int fg_pool_swap(fg_pool_t *pool, fg_handler_t *handler, fg_sink_t *sink, fg_brk_t *brk,
                 char *errstr, size_t errstr_size) {
        fg_target_spec_t spec = {.name = "default", .handler = handler, .sink = sink,
                                 .brk = brk, .reuse = 0};

        return fg_pool_install(pool, &spec, 1, errstr, errstr_size);
}

const fg_plan_t *fg_pool_plan(const fg_pool_t *pool) { return pool->plan; }

/* The default target, else the first: what the single-sink gauges show. */
static const fg_target_t *main_target(const fg_pool_t *pool) {
        const fg_plan_t *p = pool->plan;
        return p->targets[p->ntargets - 1].filter ? &p->targets[0] : &p->targets[p->ntargets - 1];
}

fg_sink_t *fg_pool_sink(const fg_pool_t *pool) { return main_target(pool)->sink; }
fg_brk_t *fg_pool_breaker(const fg_pool_t *pool) { return main_target(pool)->brk; }
unsigned fg_pool_plan_gen(const fg_pool_t *pool) { return pool->plan->gen; }

unsigned fg_pool_plans(const fg_pool_t *pool) {
        unsigned n = pool->plan ? 1 : 0;
        for (const fg_plan_t *p = pool->retired; p; p = p->next)
                n++;
        return n;
}

size_t fg_pool_target_stats(const fg_pool_t *pool, fg_pool_target_stats_t *out, size_t max,
                            int64_t now_ns) {
        const fg_plan_t *p = pool->plan;
        size_t n = 0;

        for (; n < pool->nctrs && n < max; n++) {
                out[n] = (fg_pool_target_stats_t){
                    .delivered = atomic_load_explicit(&pool->ctrs[n].delivered,
                                                      memory_order_relaxed),
                    .held = atomic_load_explicit(&pool->ctrs[n].held, memory_order_relaxed),
                    .fallback = atomic_load_explicit(&pool->ctrs[n].fallback,
                                                     memory_order_relaxed),
                };
                snprintf(out[n].name, sizeof(out[n].name), "%s", pool->ctrs[n].name);
                for (size_t i = 0; p && i < p->ntargets; i++) {
                        fg_target_t *t = &p->targets[i];
                        if (t->ctr != &pool->ctrs[n])
                                continue;
                        out[n].live = true;
                        out[n].brk = fg_brk_state(t->brk, now_ns);
                        out[n].held_now = atomic_load_explicit(&t->held_now, memory_order_relaxed);
                }
        }
        return n;
}

/* ---- a worker's connections and contexts ----
 * conns has 2 x ntargets slots: target i's sink at i, its fallback sink at
 * ntargets + i (NULL without one); hctxs one per target. */

static fg_sink_t *sink_of(const fg_plan_t *p, size_t slot) {
        return slot < p->ntargets ? p->targets[slot].sink : p->targets[slot - p->ntargets].fb_sink;
}

/* Closes conns[0..nc) and destroys hctxs[0..nh) except those that appear
 * in @p keep_c / @p keep_h (the arrays of the plan being moved to). */
static void close_unused(fg_sink_conn_t **conns, size_t nc, fg_handler_ctx_t **hctxs, size_t nh,
                         fg_sink_conn_t *const *keep_c, size_t nkc,
                         fg_handler_ctx_t *const *keep_h, size_t nkh) {
        for (size_t i = 0; i < nc; i++) {
                bool kept = false;
                for (size_t j = 0; j < nkc; j++)
                        kept |= keep_c[j] == conns[i];
                if (conns[i] && !kept)
                        fg_sink_close(conns[i]);
        }
        for (size_t i = 0; i < nh; i++) {
                bool kept = false;
                for (size_t j = 0; j < nkh; j++)
                        kept |= keep_h[j] == hctxs[i];
                if (hctxs[i] && !kept)
                        fg_handler_ctx_destroy(hctxs[i]);
        }
}

/* Connections and contexts for @p p, reusing those of the worker's current
 * plan for the same sink or handler objects. 0, or -1 with nothing kept. */
static int open_for(fg_worker_t *w, const fg_plan_t *p, fg_sink_conn_t ***conns_out,
                    fg_handler_ctx_t ***hctxs_out, char *errstr, size_t errstr_size) {
        const fg_plan_t *old = w->plan;
        size_t nc = 2 * p->ntargets, onc = old ? 2 * old->ntargets : 0;
        size_t onh = old ? old->ntargets : 0;
        fg_sink_conn_t **conns = calloc(nc, sizeof(*conns));
        fg_handler_ctx_t **hctxs = calloc(p->ntargets, sizeof(*hctxs));

        if (!conns || !hctxs) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        for (size_t i = 0; i < nc; i++) {
                fg_sink_t *sink = sink_of(p, i);
                if (!sink)
                        continue;
                for (size_t k = 0; k < onc; k++)
                        if (sink_of(old, k) == sink)
                                conns[i] = w->conns[k];
                if (!conns[i] && !(conns[i] = fg_sink_open(sink, errstr, errstr_size)))
                        goto fail;
        }
        for (size_t i = 0; i < p->ntargets; i++) {
                for (size_t k = 0; k < onh; k++)
                        if (old->targets[k].handler == p->targets[i].handler)
                                hctxs[i] = w->hctxs[k];
                if (!hctxs[i] && !(hctxs[i] = fg_handler_ctx_new(p->targets[i].handler))) {
                        snprintf(errstr, errstr_size, "out of memory");
                        goto fail;
                }
        }
        *conns_out = conns;
        *hctxs_out = hctxs;
        return 0;
fail:
        if (conns && hctxs)
                close_unused(conns, nc, hctxs, p->ntargets, old ? w->conns : NULL, onc,
                             old ? w->hctxs : NULL, onh);
        free(conns);
        free(hctxs);
        return -1;
}

int fg_pool_worker_take_plan(fg_worker_t *w, char *errstr, size_t errstr_size) {
        fg_plan_t *p = fg_pool_plan_get(w->pool);

        if (open_for(w, p, &w->conns, &w->hctxs, errstr, errstr_size)) {
                fg_plan_unref(p);
                return -1;
        }
        w->plan = p;
        return 0;
}

void fg_pool_worker_drop_plan(fg_worker_t *w) {
        if (!w->plan)
                return;
        close_unused(w->conns, 2 * w->plan->ntargets, w->hctxs, w->plan->ntargets, NULL, 0, NULL,
                     0);
        free(w->conns);
        free(w->hctxs);
        w->conns = NULL;
        w->hctxs = NULL;
        fg_plan_unref(w->plan);
        w->plan = NULL;
}

void fg_pool_sync_plan(fg_worker_t *w) {
        fg_plan_t *p = fg_pool_plan_get(w->pool), *old = w->plan;
        fg_sink_conn_t **conns;
        fg_handler_ctx_t **hctxs;
        char errstr[256];

        if (p == old) {
                fg_plan_unref(p);
                return;
        }
        if (open_for(w, p, &conns, &hctxs, errstr, sizeof(errstr))) {
                if (w->refused_gen != p->gen)
                        fg_warn("worker %u: cannot move to plan %u (%s); staying on plan %u "
                                "and trying again at each batch",
                                w->id, p->gen, errstr, old->gen);
                w->refused_gen = p->gen;
                fg_plan_unref(p);
                return;
        }
        close_unused(w->conns, 2 * old->ntargets, w->hctxs, old->ntargets, conns,
                     2 * p->ntargets, hctxs, p->ntargets);
        free(w->conns);
        free(w->hctxs);
        w->conns = conns;
        w->hctxs = hctxs;
        w->plan = p;
        fg_plan_unref(old);
}
