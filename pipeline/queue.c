/*
 * queue: bounded ring of items between ingest and the workers (see queue.h).
 *
 * Locks: q->lock guards the ring, closed and the waiter flags. depth
 * and bytes are mirrored into atomics under the lock so that gauges read
 * them without taking it.
 */
#include "pipeline/queue.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/clock.h"
#include "common/cond.h"

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

        if (qc->capacity < 1 || qc->max_bytes < 1 || (uint64_t)qc->capacity > SIZE_MAX ||
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
        return q;
}

void fg_queue_destroy(fg_queue_t *q) {
        if (!q)
                return;
        while (q->count) {
                fg_item_abandon(&q->ring[q->head]);
                q->head = (q->head + 1) % q->capacity;
                q->count--;
        }
        pthread_cond_destroy(&q->not_empty);
        pthread_cond_destroy(&q->low);
        pthread_mutex_destroy(&q->lock);
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

size_t fg_queue_push_batch(fg_queue_t *q, const fg_item_t *items, size_t n, bool *above_high) {
        size_t i = 0;

        pthread_mutex_lock(&q->lock);
        for (; !q->closed && i < n && fits(q, &items[i]); i++) {
                q->ring[(q->head + q->count) % q->capacity] = items[i];
                q->count++;
                q->nbytes += items[i].bytes;
        }
        if (i) {
                if (q->count > q->peak)
                        q->peak = q->count;
                publish(q);
                /* One wake-up per batch: a popper that leaves items behind
                 * wakes the next (see fg_queue_pop). */
                if (q->waiters)
                        pthread_cond_signal(&q->not_empty);
        }
        *above_high = q->count >= q->high_msgs || q->nbytes >= q->high_bytes;
        pthread_mutex_unlock(&q->lock);
        return i;
}

/* What a popper waits for: an item, the close, or a wake_all since it
 * started waiting. */
typedef struct pop_wait {
        const fg_queue_t *q;
        unsigned gen;
} pop_wait_t;

static bool pop_may_return(void *arg) {
        const pop_wait_t *pw = arg;
        return pw->q->count > 0 || pw->q->closed || pw->gen != pw->q->wake_gen;
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
        while (n < max && q->count) {
                out[n] = q->ring[q->head];
                q->nbytes -= out[n].bytes;
                q->head = (q->head + 1) % q->capacity;
                q->count--;
                n++;
        }
        if (n) {
                publish(q);
                maybe_wake_low(q);
                /* Items remain and others wait: pass the wake-up on, since a
                 * push signals only one popper. */
                if (q->count && q->waiters)
                        pthread_cond_signal(&q->not_empty);
        }
        pthread_mutex_unlock(&q->lock);
        return n;
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

size_t fg_queue_remove_if(fg_queue_t *q, bool (*pred)(const fg_item_t *it, void *opaque),
                          void (*dispose)(fg_item_t *it, void *opaque), void *opaque) {
        size_t removed = 0, kept = 0;

        pthread_mutex_lock(&q->lock);
        /* Compact in place, preserving order of the kept items. */
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
