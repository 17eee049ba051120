/*
 * plan: the reference-counted targets the workers deliver with, and each
 * target's admission (slots and holding queue); see plan.h.
 */
#include "workers/plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/cond.h"

/* How often a worker waiting for room in a holding queue checks for an
 * abort. */
#define HOLD_POLL_NS (100 * FG_NS_PER_MS)

fg_plan_part_t *fg_plan_part_new(void *obj, void (*destroy)(void *obj)) {
        fg_plan_part_t *part = calloc(1, sizeof(*part));

        if (!part) {
                destroy(obj);
                return NULL;
        }
        part->obj = obj;
        part->destroy = destroy;
        return part;
}

void fg_plan_part_drop(fg_plan_part_t *part) {
        if (!part || part->plans)
                return;
        part->destroy(part->obj);
        free(part);
}

static void target_fini(fg_target_t *t) {
        fg_filter_destroy(t->filter);
        free(t->hold);
        pthread_cond_destroy(&t->cond);
        pthread_mutex_destroy(&t->lock);
}

static int target_init(fg_target_t *t, const fg_target_spec_t *spec, fg_plan_part_t *const *parts,
                       size_t buf_max, size_t hold_cap, char *errstr, size_t errstr_size) {
        size_t hint;

        snprintf(t->name, sizeof(t->name), "%s", spec->name);
        pthread_mutex_init(&t->lock, NULL);
        fg_cond_init_monotonic(&t->cond);
        if (spec->filter) {
                char what[FG_TARGET_NAME_MAX + 16];
                snprintf(what, sizeof(what), "%s.filter", t->name);
                if (!(t->filter = fg_filter_new(spec->filter, spec->raw, what, errstr,
                                                errstr_size)))
                        return -1;
        }
        t->handler = parts[0]->obj;
        t->sink = parts[1]->obj;
        t->brk = parts[2]->obj;
        t->fb_sink = parts[3] ? parts[3]->obj : NULL;
        t->fb_brk = parts[4] ? parts[4]->obj : NULL;
        /* A worker takes one sink request's worth (the http sink's batch),
         * so each in-flight request is one worker: the pool's size, and the
         * concurrency limit, then govern request concurrency directly. */
        hint = fg_sink_batch_hint(t->sink);
        t->batch_max = hint && hint < buf_max ? hint : buf_max;
        t->limit = spec->limit;
        if (t->limit) {
                t->hold_cap = hold_cap > buf_max ? hold_cap : buf_max;
                if (!(t->hold = calloc(t->hold_cap, sizeof(*t->hold)))) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return -1;
                }
        }
        return 0;
}

fg_plan_t *fg_plan_new(const fg_target_spec_t *specs, fg_plan_part_t *const *parts, size_t n,
                       fg_target_ctr_t *const *ctrs, size_t buf_max, size_t hold_cap,
                       unsigned gen, char *errstr, size_t errstr_size) {
        fg_plan_t *p = calloc(1, sizeof(*p));
        size_t i;

        if (!p || !(p->targets = calloc(n, sizeof(*p->targets)))) {
                free(p);
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        for (i = 0; i < n; i++) {
                fg_target_t *t = &p->targets[i];
                t->index = (unsigned)i;
                t->ctr = ctrs[i];
                if (target_init(t, &specs[i], parts + FG_TARGET_PARTS * i, buf_max, hold_cap, errstr,
                                errstr_size)) {
                        for (size_t k = 0; k <= i; k++)
                                target_fini(&p->targets[k]);
                        free(p->targets);
                        free(p);
                        return NULL;
                }
        }
        atomic_init(&p->refs, 1);
        p->gen = gen;
        p->ntargets = n;
        p->direct = n == 1 && !p->targets[0].filter && !p->targets[0].limit;
        p->raw = specs[0].raw;
        for (i = 0; i < n; i++)
                for (int k = 0; k < FG_TARGET_PARTS; k++) {
                        p->targets[i].parts[k] = parts[FG_TARGET_PARTS * i + (size_t)k];
                        if (p->targets[i].parts[k])
                                p->targets[i].parts[k]->plans++;
                }
        return p;
}

void fg_plan_ref(fg_plan_t *p) { atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed); }

void fg_plan_unref(fg_plan_t *p) {
        /* Release: what the worker did with the plan's parts (its last send,
         * its connection's close) happens before the main thread frees them. */
        atomic_fetch_sub_explicit(&p->refs, 1, memory_order_release);
}

bool fg_plan_reap_ready(fg_plan_t *p) {
        return atomic_load_explicit(&p->refs, memory_order_acquire) == 0;
}

void fg_plan_reap(fg_plan_t *p) {
        for (size_t i = 0; i < p->ntargets; i++) {
                for (int k = 0; k < FG_TARGET_PARTS; k++) {
                        fg_plan_part_t *part = p->targets[i].parts[k];
                        if (part && --part->plans == 0)
                                fg_plan_part_drop(part);
                }
                target_fini(&p->targets[i]);
        }
        free(p->targets);
        free(p);
}

fg_target_t *fg_plan_route(const fg_plan_t *p, const void *v, size_t n, bool valid) {
        fg_target_t *fallback = NULL;

        for (size_t i = 0; i < p->ntargets; i++) {
                fg_target_t *t = &p->targets[i];
                if (!t->filter)
                        return t;
                if (valid && fg_filter_match(t->filter, v, n))
                        return t;
        }
        /* Not a JSON object: the first target's handler says invalid. */
        if (!valid && p->ntargets)
                fallback = &p->targets[0];
        return fallback;
}

/* Target lock held. */
static void push(fg_target_t *t, const fg_item_t *items, size_t n) {
        for (size_t i = 0; i < n; i++)
                t->hold[(t->hold_head + t->hold_n + i) % t->hold_cap] = items[i];
        t->hold_n += n;
        atomic_store_explicit(&t->held_now, t->hold_n, memory_order_relaxed);
        atomic_fetch_add_explicit(&t->ctr->held, n, memory_order_relaxed);
}

/* Target lock held. */
static size_t pop(fg_target_t *t, fg_item_t *out, size_t max) {
        size_t k = 0;

        for (; k < max && k < t->hold_n; k++)
                out[k] = t->hold[(t->hold_head + k) % t->hold_cap];
        t->hold_head = (t->hold_head + k) % t->hold_cap;
        t->hold_n -= k;
        atomic_store_explicit(&t->held_now, t->hold_n, memory_order_relaxed);
        return k;
}

bool fg_target_enter_or_hold(fg_target_t *t, fg_item_t *items, size_t n,
                             bool (*aborted)(void *arg), void *arg) {
        pthread_mutex_lock(&t->lock);
        for (;;) {
                if (!t->limit || t->inside < t->limit) {
                        t->inside++;
                        pthread_mutex_unlock(&t->lock);
                        return true;
                }
                /* Full: whoever is inside serves the holding queue before
                 * leaving. */
                if (t->hold_cap - t->hold_n >= n) {
                        push(t, items, n);
                        pthread_mutex_unlock(&t->lock);
                        return false;
                }
                if (aborted(arg))
                        break;
                struct timespec ts = fg_deadline_in(HOLD_POLL_NS);
                pthread_cond_timedwait(&t->cond, &t->lock, &ts);
        }
        pthread_mutex_unlock(&t->lock);
        for (size_t i = 0; i < n; i++)
                fg_item_abandon(&items[i]);
        return false;
}

bool fg_target_park(fg_target_t *t, const fg_item_t *items, size_t n) {
        bool ok;

        if (!t->limit)
                return false;
        pthread_mutex_lock(&t->lock);
        ok = t->hold_cap - t->hold_n >= n;
        if (ok)
                push(t, items, n);
        pthread_mutex_unlock(&t->lock);
        return ok;
}

size_t fg_target_enter_held(fg_target_t *t, fg_item_t *out, size_t max) {
        size_t k = 0;

        if (!t->limit || !atomic_load_explicit(&t->held_now, memory_order_relaxed))
                return 0;
        pthread_mutex_lock(&t->lock);
        if (t->hold_n && t->inside < t->limit) {
                t->inside++;
                k = pop(t, out, max);
                pthread_cond_broadcast(&t->cond);
        }
        pthread_mutex_unlock(&t->lock);
        return k;
}

size_t fg_target_next_or_leave(fg_target_t *t, fg_item_t *out, size_t max) {
        size_t k = 0;

        pthread_mutex_lock(&t->lock);
        if (!t->hold_n)
                t->inside--;
        else
                k = pop(t, out, max);
        /* A slot or room: either lets a waiting worker on. */
        pthread_cond_broadcast(&t->cond);
        pthread_mutex_unlock(&t->lock);
        return k;
}
