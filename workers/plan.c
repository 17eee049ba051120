/*
 * plan: the reference-counted handler + sink + breaker the workers deliver
 * with (see plan.h).
 */
#include "workers/plan.h"

#include <stdlib.h>

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

fg_plan_t *fg_plan_new(fg_plan_part_t *handler, fg_plan_part_t *sink, fg_plan_part_t *brk,
                       size_t buf_max, unsigned gen) {
        fg_plan_t *p = calloc(1, sizeof(*p));
        size_t hint;

        if (!p)
                return NULL;
        atomic_init(&p->refs, 1);
        p->gen = gen;
        p->handler = handler->obj;
        p->sink = sink->obj;
        p->brk = brk->obj;
        /* A worker takes one sink request's worth (the http sink's batch),
         * so each in-flight request is one worker: the pool's size, and the
         * concurrency limit, then govern request concurrency directly. */
        hint = fg_sink_batch_hint(p->sink);
        p->batch_max = hint && hint < buf_max ? hint : buf_max;
        p->parts[0] = handler;
        p->parts[1] = sink;
        p->parts[2] = brk;
        for (int i = 0; i < 3; i++)
                p->parts[i]->plans++;
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
        for (int i = 0; i < 3; i++) {
                fg_plan_part_t *part = p->parts[i];
                if (--part->plans == 0)
                        fg_plan_part_drop(part);
        }
        free(p);
}
