/*
 * plan: what the workers deliver with — the handler, the sink and the
 * breaker guarding it — as one immutable, reference-counted object, so a
 * SIGHUP can replace any of them while events flow.
 *
 * DESIGN
 * The pool holds the current plan. A worker takes a reference at each
 * batch boundary (fg_pool_plan_get, under the pool's plan lock) and keeps
 * the plan it holds for the whole batch, retries and backoff included, so
 * every event is handled and sent by exactly one plan. A worker that finds
 * a newer plan opens a connection to the new sink (keeping its connection
 * when the sink is the same object) and a handler context for the new
 * handler before its next batch, then closes what belonged to the old plan
 * and drops its reference.
 *
 * A plan does not own its parts outright: handler, sink and breaker each
 * sit in an fg_plan_part_t counted by the plans that use them, so a reload
 * that changes only the filter reuses the sink (its connections stay open)
 * and the breaker (its state stays). Parts are destroyed on the main
 * thread only, when the last plan using them is reaped — a retired plan is
 * reaped once its reference count reaches zero, i.e. once the last worker
 * that held it finished its batch and closed its connection (the sink
 * contract: fg_sink_destroy after every connection is closed).
 *
 * Threading: fg_plan_new, fg_plan_reap, the part functions: main thread.
 * fg_plan_ref/fg_plan_unref: any thread (atomic count); the pool hands out
 * references under its plan lock so a plan is never referenced after it
 * was retired with a count of zero.
 * Ownership: a part owns its object from fg_plan_part_new on; a plan holds
 * a count on each part; the pool holds one reference on the current plan.
 */
#ifndef FG_PLAN_H
#define FG_PLAN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "breaker/breaker.h"
#include "handler/handler.h"
#include "sinks/sink.h"

/* One handler, sink or breaker shared by the plans that use it. */
typedef struct fg_plan_part {
        void *obj;
        void (*destroy)(void *obj);
        unsigned plans; /* plans using it; main thread only */
} fg_plan_part_t;

typedef struct fg_plan {
        _Atomic unsigned refs;      /* workers holding it, + 1 while current */
        unsigned gen;               /* 1, 2, ...: the reload that built it */
        fg_handler_t *handler;
        fg_sink_t *sink;
        fg_brk_t *brk;
        size_t batch_max;           /* events per batch for this sink */
        fg_plan_part_t *parts[3];   /* handler, sink, breaker */
        struct fg_plan *next;       /* the pool's list of retired plans */
} fg_plan_t;

/* Main thread: a part owning @p obj (destroyed with @p destroy once no
 * plan uses it); NULL when out of memory (@p obj is then destroyed). */
fg_plan_part_t *fg_plan_part_new(void *obj, void (*destroy)(void *obj));
/* Main thread: destroys a part no plan took (a refused reload). */
void fg_plan_part_drop(fg_plan_part_t *part);

/* Main thread: a plan of the three parts, with one reference (the pool's);
 * @p buf_max bounds batch_max (the workers' buffers). NULL when out of
 * memory; the parts then stay with the caller. */
fg_plan_t *fg_plan_new(fg_plan_part_t *handler, fg_plan_part_t *sink, fg_plan_part_t *brk,
                       size_t buf_max, unsigned gen);
/* Any thread. */
void fg_plan_ref(fg_plan_t *p);
void fg_plan_unref(fg_plan_t *p);
/* Main thread: true once no reference is left (a retired plan only: the
 * pool hands out no new ones). */
bool fg_plan_reap_ready(fg_plan_t *p);
/* Main thread: frees @p p, which fg_plan_reap_ready said is free, and the
 * parts no other plan uses. */
void fg_plan_reap(fg_plan_t *p);

#endif
