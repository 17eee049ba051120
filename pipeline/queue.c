/*
 * queue: bounded ring of items between ingest and the workers (see queue.h);
 * in an ordered mode the items live in the scheduler (sched.h) instead.
 *
 * Locks: q->lock guards the ring, the scheduler, the mode, closed, the
 * in-flight count of ordered items and the waiter flags. depth and bytes
 * are mirrored into atomics under the lock so that gauges read them
 * without taking it. Items popped in `none` mode count in flight in an
 * atomic (released without the lock: the fast path stays one lock per pop
 * batch, as before ordering existed).
 */
#include "pipeline/queue.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/clock.h"
#include "common/cond.h"
#include "common/hash.h"
#include "pipeline/offsets.h"
#include "pipeline/sched.h"

struct fg_queue {
        pthread_mutex_t lock;
        pthread_cond_t not_empty;
        pthread_cond_t low;         /* fill reached the low watermark */
        fg_item_t *ring;
        size_t capacity;
        size_t max_bytes;
        size_t head;        /* next to pop */
        size_t count;
        size_t nbytes;
        size_t peak;        /* most items ever held at once */
        size_t high_msgs, high_bytes;
        size_t low_msgs, low_bytes;
        unsigned waiters;   /* poppers blocked on not_empty */
        unsigned wake_gen;  /* bumped by fg_queue_wake_all: poppers return */
        bool low_waiter;    /* ingest blocked on low */
        bool closed;

        /* Ordering. mode says where the items are (ring or sched); want is
         * what was asked; switching while want != mode waits for the
         * in-flight items. */
        fg_sched_t *sched;  /* allocated at the first ordered mode */
        fg_ordering_t mode, want;
        bool switching;
        bool runs;          /* a pop may take a key's consecutive items (fg_queue_set_runs) */
        size_t runs_out;    /* popped while runs were on, not released */
        pthread_cond_t runs_done; /* runs_out reached 0 */
        size_t inflight;    /* popped in an ordered mode, not released */
        _Atomic size_t inflight_free; /* popped in none, not released */
        _Atomic bool switch_pub;
        _Atomic int want_pub;

        _Atomic size_t depth_pub;
        _Atomic size_t bytes_pub;
};

/* n * r, snapped to the nearest integer when it is one but for rounding
 * (100 * 0.57 = 56.99999999999999). */
static double mark_of(size_t n, double r) {
        double v = (double)n * r, near = nearbyint(v);
        return fabs(v - near) <= 1e-9 * (near > 1 ? near : 1) ? near : v;
}

fg_queue_t *fg_queue_new(const fg_queue_cfg_t *qc, char *errstr, size_t errstr_size) {
        fg_queue_t *q;
        size_t capacity, max_bytes;
        double high_watermark = qc->high_watermark, low_watermark = qc->low_watermark;

        if (qc->capacity < 1 || qc->max_bytes < 1 || (uint64_t)qc->capacity >= UINT32_MAX ||
            !(high_watermark > 0 && high_watermark <= 1) ||
            !(low_watermark >= 0 && low_watermark < high_watermark)) {
                snprintf(errstr, errstr_size, "invalid queue bounds");
                return NULL;
        }
        capacity = (size_t)qc->capacity;
        max_bytes = (size_t)qc->max_bytes;
        q = calloc(1, sizeof(*q));
        if (!q || !(q->ring = calloc(capacity, sizeof(*q->ring)))) {
                free(q);
                snprintf(errstr, errstr_size, "cannot allocate a queue of %zu items", capacity);
                return NULL;
        }
        q->capacity = capacity;
        q->max_bytes = max_bytes;
        /* At or above high: ceil. At or below low: floor. */
        q->high_msgs = (size_t)ceil(mark_of(capacity, high_watermark));
        q->high_bytes = (size_t)ceil(mark_of(max_bytes, high_watermark));
        q->low_msgs = (size_t)floor(mark_of(capacity, low_watermark));
        q->low_bytes = (size_t)floor(mark_of(max_bytes, low_watermark));
        if (q->high_msgs == 0)
                q->high_msgs = 1;
        if (q->high_bytes == 0)
                q->high_bytes = 1;
        pthread_mutex_init(&q->lock, NULL);
        fg_cond_init_monotonic(&q->not_empty);
        fg_cond_init_monotonic(&q->low);
        fg_cond_init_monotonic(&q->runs_done);
        return q;
}

/* Lock held: the waiting items back into the ring, in arrival order. */
static void sched_to_ring(fg_queue_t *q) {
        q->head = 0;
        fg_sched_take_all(q->sched, q->ring);
}

void fg_queue_destroy(fg_queue_t *q) {
        if (!q)
                return;
        if (q->mode != FG_ORDER_NONE)
                sched_to_ring(q);
        while (q->count) {
                fg_item_abandon(&q->ring[q->head]);
                q->head = (q->head + 1) % q->capacity;
                q->count--;
        }
        pthread_cond_destroy(&q->not_empty);
        pthread_cond_destroy(&q->low);
        pthread_cond_destroy(&q->runs_done);
        pthread_mutex_destroy(&q->lock);
        fg_sched_destroy(q->sched);
        free(q->ring);
        free(q);
}

static void publish(fg_queue_t *q) {
        atomic_store_explicit(&q->depth_pub, q->count, memory_order_relaxed);
        atomic_store_explicit(&q->bytes_pub, q->nbytes, memory_order_relaxed);
}

static bool at_or_below_low(const fg_queue_t *q) {
        return q->count <= q->low_msgs && q->nbytes <= q->low_bytes;
}

/* Lock held: wake ingest if it waits for the fill to come down. */
static void maybe_wake_low(fg_queue_t *q) {
        if (q->low_waiter && at_or_below_low(q))
                pthread_cond_signal(&q->low);
}

/* Lock held. */
static bool fits(const fg_queue_t *q, const fg_item_t *it) {
        return q->count < q->capacity && (q->count == 0 || q->nbytes + it->bytes <= q->max_bytes);
}

/* The item's scheduling key under @p mode: its partition's identity, mixed
 * with its message key in key mode (keyless messages keep the partition's). */
static uint64_t skey_of(fg_ordering_t mode, const fg_item_t *it) {
        uint64_t pid = it->part ? fg_part_id(it->part) : 0;

        if (mode == FG_ORDER_KEY && it->rkm && it->rkm->key)
                return fg_hash_bytes(pid, it->rkm->key, it->rkm->key_len);
        return pid;
}

/* Lock held: items a pop may hand out right now. */
static bool poppable(const fg_queue_t *q) {
        if (q->switching)
                return false;
        return q->mode == FG_ORDER_NONE ? q->count > 0 : fg_sched_ready(q->sched) > 0;
}

/* Lock held: completes a pending switch once nothing popped before it is in
 * flight: the waiting items are re-keyed for the new mode in arrival order. */
static void maybe_switch(fg_queue_t *q) {
        if (!q->switching || q->inflight || atomic_load(&q->inflight_free))
                return;
        if (q->mode != FG_ORDER_NONE)
                sched_to_ring(q);
        for (size_t i = 0; i < q->count; i++) {
                fg_item_t *it = &q->ring[(q->head + i) % q->capacity];
                fg_sched_push(q->sched, it, skey_of(q->want, it));
        }
        q->mode = q->want;
        q->switching = false;
        atomic_store(&q->switch_pub, false);
        pthread_cond_broadcast(&q->not_empty);
}

size_t fg_queue_push_batch(fg_queue_t *q, const fg_item_t *items, size_t n, bool *above_high) {
        size_t i = 0;

        pthread_mutex_lock(&q->lock);
        for (; !q->closed && i < n && fits(q, &items[i]); i++) {
                if (q->mode == FG_ORDER_NONE) {
                        fg_item_t *slot = &q->ring[(q->head + q->count) % q->capacity];
                        *slot = items[i];
                        slot->q = NULL;
                } else {
                        fg_item_t it = items[i];
                        it.q = NULL;
                        fg_sched_push(q->sched, &it, skey_of(q->mode, &it));
                }
                q->count++;
                q->nbytes += items[i].bytes;
        }
        if (i) {
                if (q->count > q->peak)
                        q->peak = q->count;
                publish(q);
                /* One wake-up per batch: a popper that leaves items behind
                 * wakes the next (see fg_queue_pop). */
                if (q->waiters && poppable(q))
                        pthread_cond_signal(&q->not_empty);
        }
        *above_high = q->count >= q->high_msgs || q->nbytes >= q->high_bytes;
        pthread_mutex_unlock(&q->lock);
        return i;
}

/* What a popper waits for: an item it may take, the close (of an empty
 * queue, or of one whose items need no ordering), or a wake_all since it
 * started waiting. */
typedef struct pop_wait {
        const fg_queue_t *q;
        unsigned gen;
} pop_wait_t;

static bool pop_may_return(void *arg) {
        const pop_wait_t *pw = arg;
        const fg_queue_t *q = pw->q;

        return poppable(q) || (q->closed && q->count == 0) || pw->gen != q->wake_gen;
}

/* Lock held, not switching: takes up to @p max items in the current mode. */
static size_t take(fg_queue_t *q, fg_item_t *out, size_t max) {
        size_t n = 0;

        if (q->mode != FG_ORDER_NONE) {
                n = fg_sched_pop(q->sched, out, max, q->runs);
                for (size_t i = 0; i < n; i++) {
                        q->nbytes -= out[i].bytes;
                        out[i].q = q;
                        out[i].sched = (uint8_t)q->mode;
                        out[i].in_run = q->runs;
                }
                q->count -= n;
                q->inflight += n;
                if (q->runs)
                        q->runs_out += n;
                return n;
        }
        while (n < max && q->count) {
                out[n] = q->ring[q->head];
                out[n].q = q;
                out[n].sched = FG_ORDER_NONE;
                out[n].in_run = 0;
                q->nbytes -= out[n].bytes;
                q->head = (q->head + 1) % q->capacity;
                q->count--;
                n++;
        }
        if (n)
                atomic_fetch_add_explicit(&q->inflight_free, n, memory_order_relaxed);
        return n;
}

size_t fg_queue_pop(fg_queue_t *q, fg_item_t *out, size_t max, int64_t timeout_ns) {
        size_t n = 0;
        pop_wait_t pw = {.q = q};

        pthread_mutex_lock(&q->lock);
        pw.gen = q->wake_gen;
        /* waiters counts poppers inside the wait; they hold the lock
         * everywhere else, so no one sees the difference. */
        q->waiters++;
        fg_cond_wait_for(&q->not_empty, &q->lock, timeout_ns, pop_may_return, &pw);
        q->waiters--;
        if (!q->switching)
                n = take(q, out, max);
        if (n) {
                publish(q);
                maybe_wake_low(q);
                /* Items remain and others wait: pass the wake-up on, since a
                 * push signals only one popper. */
                if (q->waiters && poppable(q))
                        pthread_cond_signal(&q->not_empty);
        }
        pthread_mutex_unlock(&q->lock);
        return n;
}

void fg_queue_release(fg_queue_t *q, fg_item_t *items, const size_t *idx, size_t n) {
        size_t nfree = 0, nord = 0;

        for (size_t i = 0; i < n; i++) {
                const fg_item_t *it = &items[idx ? idx[i] : i];
                if (it->q != q)
                        continue;
                if (it->sched == FG_ORDER_NONE)
                        nfree++;
                else
                        nord++;
        }
        if (nord) {
                size_t ready = 0;

                pthread_mutex_lock(&q->lock);
                for (size_t i = 0; i < n; i++) {
                        const fg_item_t *it = &items[idx ? idx[i] : i];
                        if (it->q == q && it->sched != FG_ORDER_NONE) {
                                ready += fg_sched_release(q->sched, it->skey);
                                if (it->in_run && --q->runs_out == 0)
                                        pthread_cond_broadcast(&q->runs_done);
                        }
                }
                q->inflight -= nord;
                maybe_switch(q);
                /* One wake-up: the popper passes it on when it leaves keys
                 * ready (see fg_queue_pop); waking every waiter for a few
                 * keys would only make them fight for the lock. */
                if (ready && q->waiters && poppable(q))
                        pthread_cond_signal(&q->not_empty);
                pthread_mutex_unlock(&q->lock);
        }
        /* The last item popped in none mode lets a pending switch happen
         * (set_ordering and this both look at the other's flag). */
        if (nfree && atomic_fetch_sub(&q->inflight_free, nfree) == nfree &&
            atomic_load(&q->switch_pub)) {
                pthread_mutex_lock(&q->lock);
                maybe_switch(q);
                pthread_mutex_unlock(&q->lock);
        }
        for (size_t i = 0; i < n; i++) {
                fg_item_t *it = &items[idx ? idx[i] : i];
                if (it->q == q)
                        it->q = NULL;
        }
}

int fg_queue_set_ordering(fg_queue_t *q, fg_ordering_t mode, char *errstr, size_t errstr_size) {
        fg_sched_t *fresh = NULL;

        /* Allocated outside the lock, once; only this thread sets it. */
        if (mode != FG_ORDER_NONE && !q->sched && !(fresh = fg_sched_new(q->capacity))) {
                snprintf(errstr, errstr_size, "cannot allocate the ordering scheduler for %zu items",
                         q->capacity);
                return -1;
        }
        pthread_mutex_lock(&q->lock);
        if (fresh)
                q->sched = fresh;
        q->want = mode;
        atomic_store(&q->want_pub, (int)mode);
        if (mode == q->mode) {
                q->switching = false;
        } else if (mode == FG_ORDER_NONE) {
                /* Nothing to wait for: in-flight items still release their
                 * keys, and none mode keeps no order to protect. */
                sched_to_ring(q);
                q->mode = FG_ORDER_NONE;
                q->switching = false;
        } else {
                q->switching = true;
        }
        atomic_store(&q->switch_pub, q->switching);
        maybe_switch(q);
        pthread_cond_broadcast(&q->not_empty);
        pthread_mutex_unlock(&q->lock);
        return 0;
}

void fg_queue_set_runs(fg_queue_t *q, bool runs) {
        pthread_mutex_lock(&q->lock);
        q->runs = runs;
        pthread_mutex_unlock(&q->lock);
}

static bool no_runs_out(void *arg) {
        const fg_queue_t *q = arg;
        return q->runs_out == 0;
}

bool fg_queue_stop_runs(fg_queue_t *q, int64_t timeout_ns) {
        bool was, done;

        pthread_mutex_lock(&q->lock);
        was = q->runs;
        q->runs = false;
        done = fg_cond_wait_for(&q->runs_done, &q->lock, timeout_ns, no_runs_out, q);
        if (!done)
                q->runs = was;
        pthread_mutex_unlock(&q->lock);
        return done;
}

fg_ordering_t fg_queue_ordering(const fg_queue_t *q) {
        return (fg_ordering_t)atomic_load(&q->want_pub);
}

const char *fg_queue_ordering_name(fg_ordering_t mode) {
        switch (mode) {
        case FG_ORDER_PARTITION: return "partition";
        case FG_ORDER_KEY: return "key";
        default: return "none";
        }
}

void fg_queue_get_order_stats(fg_queue_t *q, fg_queue_order_stats_t *out) {
        fg_sched_stats_t st = {0};

        pthread_mutex_lock(&q->lock);
        if (q->sched)
                fg_sched_get_stats(q->sched, &st);
        *out = (fg_queue_order_stats_t){
            .mode = q->want,
            .switching = q->switching,
            .in_flight = q->inflight + atomic_load(&q->inflight_free),
            .busy_keys = st.busy_keys,
            .blocked = st.blocked,
            .blocked_keys = st.blocked_keys,
        };
        pthread_mutex_unlock(&q->lock);
}

static bool low_or_closed(void *arg) {
        const fg_queue_t *q = arg;
        return at_or_below_low(q) || q->closed;
}

bool fg_queue_wait_below_low(fg_queue_t *q, int64_t timeout_ns) {
        bool below;

        pthread_mutex_lock(&q->lock);
        q->low_waiter = true;
        below = fg_cond_wait_for(&q->low, &q->lock, timeout_ns, low_or_closed, q);
        q->low_waiter = false;
        pthread_mutex_unlock(&q->lock);
        return below;
}

/* Lock held, none mode: compact in place, keeping the order of the rest. */
static size_t ring_remove_if(fg_queue_t *q, bool (*pred)(const fg_item_t *it, void *opaque),
                             void (*dispose)(fg_item_t *it, void *opaque), void *opaque) {
        size_t removed = 0, kept = 0;

        for (size_t i = 0; i < q->count; i++) {
                fg_item_t *it = &q->ring[(q->head + i) % q->capacity];
                if (pred(it, opaque)) {
                        q->nbytes -= it->bytes;
                        dispose(it, opaque);
                        removed++;
                } else {
                        if (removed)
                                q->ring[(q->head + kept) % q->capacity] = *it;
                        kept++;
                }
        }
        q->count = kept;
        return removed;
}

size_t fg_queue_remove_if(fg_queue_t *q, bool (*pred)(const fg_item_t *it, void *opaque),
                          void (*dispose)(fg_item_t *it, void *opaque), void *opaque) {
        size_t removed;

        pthread_mutex_lock(&q->lock);
        if (q->mode == FG_ORDER_NONE) {
                removed = ring_remove_if(q, pred, dispose, opaque);
        } else {
                size_t bytes = 0;
                removed = fg_sched_remove_if(q->sched, pred, dispose, opaque, &bytes);
                q->count -= removed;
                q->nbytes -= bytes;
        }
        publish(q);
        if (removed)
                maybe_wake_low(q);
        pthread_mutex_unlock(&q->lock);
        return removed;
}

void fg_queue_close(fg_queue_t *q) {
        pthread_mutex_lock(&q->lock);
        q->closed = true;
        pthread_cond_broadcast(&q->not_empty);
        pthread_cond_broadcast(&q->low);
        pthread_mutex_unlock(&q->lock);
}

void fg_queue_wake_all(fg_queue_t *q) {
        pthread_mutex_lock(&q->lock);
        q->wake_gen++;
        pthread_cond_broadcast(&q->not_empty);
        pthread_mutex_unlock(&q->lock);
}

size_t fg_queue_depth(const fg_queue_t *q) {
        return atomic_load_explicit(&q->depth_pub, memory_order_relaxed);
}

size_t fg_queue_bytes(const fg_queue_t *q) {
        return atomic_load_explicit(&q->bytes_pub, memory_order_relaxed);
}

size_t fg_queue_capacity(const fg_queue_t *q) { return q->capacity; }

size_t fg_queue_peak_depth(fg_queue_t *q) {
        size_t peak;
        pthread_mutex_lock(&q->lock);
        peak = q->peak;
        pthread_mutex_unlock(&q->lock);
        return peak;
}

size_t fg_queue_max_bytes(const fg_queue_t *q) { return q->max_bytes; }

bool fg_queue_is_below_low(const fg_queue_t *q) {
        return fg_queue_depth(q) <= q->low_msgs && fg_queue_bytes(q) <= q->low_bytes;
}
