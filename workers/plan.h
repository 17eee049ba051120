/*
 * plan: what the workers deliver with — one or more targets (a route's
 * sink, or the default sink), each with its handler, sink, breaker, route
 * filter, concurrency limit and holding queue — as one immutable,
 * reference-counted object, so a SIGHUP can replace any of them while
 * events flow.
 *
 * DESIGN
 * Live swap. The pool holds the current plan. A worker takes a reference
 * at each batch boundary (fg_pool_plan_get, under the pool's plan lock)
 * and keeps the plan it holds for the whole batch, retries and backoff
 * included, so every event is handled and sent by exactly one plan. A
 * worker that finds a newer plan opens connections to the new sinks
 * (keeping a connection when the sink is the same object) and handler
 * contexts for the new handlers before its next batch, then closes what
 * belonged to the old plan and drops its reference.
 *
 * Parts. Handlers, sinks and breakers each sit in an fg_plan_part_t
 * counted by the plans that use them, so a reload that changes only the
 * filter reuses the sinks (their connections stay open) and the breakers
 * (their state stays). Parts are destroyed on the main thread only, when
 * the last plan using them is reaped — a retired plan is reaped once its
 * reference count reaches zero, i.e. once the last worker that held it
 * finished its batch and closed its connections (the sink contract:
 * fg_sink_destroy after every connection is closed).
 *
 * Targets and head-of-line. An event goes to the first target whose route
 * filter matches (the default target has none). At most `limit` workers
 * are inside a target at once (0 = no limit). A worker carries one share
 * of its batch itself (a target it may enter, one whose breaker is closed
 * first) and parks the other shares in their targets' holding queues
 * (bounded: `hold_cap` items), so it never sits in a dead target while
 * holding events for a live one. Held items are served by the workers
 * inside the target (a worker leaves only once the queue is empty) and by
 * any worker at its batch boundary, before it takes new events: a target
 * with held items and a free slot is entered then (fg_target_enter_held),
 * and a worker does that for its plan before it moves to a newer one, so
 * nothing is left behind in a retired plan. When a share cannot be parked
 * (the queue is full) the worker carries it itself, waiting for a slot:
 * that bounds the memory a dead downstream can hold. Held items stay in
 * flight for the queue's scheduler (their keys stay busy) and their
 * offsets hold their partitions' commits until they end.
 *
 * Threading: fg_plan_new, fg_plan_reap, the part functions: main thread.
 * fg_plan_ref/fg_plan_unref: any thread (atomic count); the pool hands out
 * references under its plan lock so a plan is never referenced after it
 * was retired with a count of zero. fg_target_enter/hold/leave: worker
 * threads (the target's lock; never held during a sink call).
 * Ownership: a part owns its object from fg_plan_part_new on; a plan holds
 * a count on each part and owns its route filters and holding queues; the
 * pool holds one reference on the current plan.
 */
#ifndef FG_PLAN_H
#define FG_PLAN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "breaker/breaker.h"
#include "handler/filter.h"
#include "handler/handler.h"
#include "pipeline/item.h"
#include "sinks/sink.h"

#define FG_TARGET_NAME_MAX 64

/* One handler, sink or breaker shared by the plans that use it. */
typedef struct fg_plan_part {
        void *obj;
        void (*destroy)(void *obj);
        unsigned plans; /* plans using it; main thread only */
} fg_plan_part_t;

/* Parts per target: handler, sink, breaker, fallback sink, fallback
 * breaker (the last two NULL without a fallback). */
#define FG_TARGET_PARTS 5

/* Deliveries per target name, kept by the pool across plans. */
typedef struct fg_target_ctr {
        char name[FG_TARGET_NAME_MAX];
        _Atomic uint64_t delivered;   /* acknowledged by the sink */
        _Atomic uint64_t fallback;    /* acknowledged by its fallback sink */
        _Atomic uint64_t held;        /* items parked in the holding queue */
} fg_target_ctr_t;

/* What a target is made of, as the caller describes it to the pool. */
typedef struct fg_target_spec {
        const char *name;               /* route name, or "default" */
        const fg_filter_cfg_t *filter;  /* NULL: the default target (takes the rest) */
        bool raw;                       /* the filter sees raw payloads (handler.mode raw) */
        /* New objects (the pool owns them from the call on), or NULL to
         * take the part of the current plan's target number `reuse`. */
        fg_handler_t *handler;
        fg_sink_t *sink;
        fg_brk_t *brk;
        /* sink.fallback: its sink and breaker, new or (NULL) reused. */
        bool fallback;
        fg_sink_t *fb_sink;
        fg_brk_t *fb_brk;
        int reuse;                      /* -1: none */
        unsigned limit;                 /* workers inside at once; 0 = no limit */
} fg_target_spec_t;

typedef struct fg_target {
        char name[FG_TARGET_NAME_MAX];
        unsigned index;
        fg_filter_t *filter;            /* NULL: the default target */
        fg_handler_t *handler;
        fg_sink_t *sink;
        fg_brk_t *brk;
        size_t batch_max;               /* events per batch for this sink */
        /* sink.fallback, used while brk holds calls; NULL without one. */
        fg_sink_t *fb_sink;
        fg_brk_t *fb_brk;
        fg_plan_part_t *parts[FG_TARGET_PARTS];
        fg_target_ctr_t *ctr;

        pthread_mutex_t lock;
        pthread_cond_t cond;            /* a slot or room in the holding queue */
        unsigned limit, inside;
        fg_item_t *hold;                /* ring of hold_cap */
        size_t hold_cap, hold_head, hold_n;
        _Atomic size_t held_now;        /* hold_n, read without the lock */
} fg_target_t;

typedef struct fg_plan {
        _Atomic unsigned refs;      /* workers holding it, + 1 while current */
        unsigned gen;               /* 1, 2, ...: the reload that built it */
        fg_target_t *targets;
        size_t ntargets;
        /* One target, no filter, no limit: no routing or admission at all. */
        bool direct;
        bool raw;                   /* route filters see raw payloads */
        struct fg_plan *next;       /* the pool's list of retired plans */
} fg_plan_t;

/* Main thread: a part owning @p obj (destroyed with @p destroy once no
 * plan uses it); NULL when out of memory (@p obj is then destroyed). */
fg_plan_part_t *fg_plan_part_new(void *obj, void (*destroy)(void *obj));
/* Main thread: destroys a part no plan took. Accepts NULL. */
void fg_plan_part_drop(fg_plan_part_t *part);

/* Main thread: a plan of @p n targets from @p parts (FG_TARGET_PARTS per
 * target) and @p specs (names, filters, limits), with one
 * reference (the pool's). @p buf_max bounds batch_max (the workers'
 * buffers); @p hold_cap sizes each holding queue; @p ctrs[i] is target
 * i's counter cell. NULL with @p errstr (a filter that does not compile,
 * out of memory); the parts then stay with the caller. */
fg_plan_t *fg_plan_new(const fg_target_spec_t *specs, fg_plan_part_t *const *parts, size_t n,
                       fg_target_ctr_t *const *ctrs, size_t buf_max, size_t hold_cap,
                       unsigned gen, char *errstr, size_t errstr_size);
/* Any thread. */
void fg_plan_ref(fg_plan_t *p);
void fg_plan_unref(fg_plan_t *p);
/* Main thread: true once no reference is left (a retired plan only: the
 * pool hands out no new ones). */
bool fg_plan_reap_ready(fg_plan_t *p);
/* Main thread: frees @p p, which fg_plan_reap_ready said is free, and the
 * parts no other plan uses. */
void fg_plan_reap(fg_plan_t *p);

/* The target an event goes to: the first whose filter matches the payload
 * @p v[0..n); @p valid says whether it is a JSON object (json mode: an
 * invalid one goes to the default target, else the first, where the
 * handler's on_invalid decides). NULL: no target takes it (filtered). Any
 * thread. */
fg_target_t *fg_plan_route(const fg_plan_t *p, const void *v, size_t n, bool valid);

/* Worker thread: takes a slot in @p t (true), or parks @p items[0..n) in
 * its holding queue (false; the items now belong to the target), waiting
 * while the queue has no room and no slot frees up. @p aborted is polled
 * while waiting: when it returns true the items are abandoned and false
 * returned. */
bool fg_target_enter_or_hold(fg_target_t *t, fg_item_t *items, size_t n,
                             bool (*aborted)(void *arg), void *arg);
/* Worker thread: parks @p items[0..n) in @p t's holding queue if it has
 * room (true: they belong to the target now). Never waits. */
bool fg_target_park(fg_target_t *t, const fg_item_t *items, size_t n);
/* Worker thread: when @p t holds items and has a free slot, takes the slot
 * and up to @p max held items into @p out (returns how many; the worker is
 * then inside). 0 otherwise. */
size_t fg_target_enter_held(fg_target_t *t, fg_item_t *out, size_t max);
/* Worker thread, inside @p t: moves up to @p max held items into @p out
 * and returns how many; 0 when none is held — the slot is then given
 * back (the worker is no longer inside). */
size_t fg_target_next_or_leave(fg_target_t *t, fg_item_t *out, size_t max);

#endif
