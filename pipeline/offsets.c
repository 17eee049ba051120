/*
 * offsets: the per-partition completion ring (see offsets.h).
 *
 * Locks: p->lock guards the ring, head/tail, pending and the waiter flag.
 */
#include "pipeline/offsets.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/cond.h"
#include "common/hash.h"

enum { SLOT_PENDING = 0, SLOT_DONE = 1, SLOT_DISCARDED = 2 };

typedef struct slot {
        int64_t offset;
        uint8_t state;
} slot_t;

struct fg_part {
        _Atomic int refcnt;
        char *topic;
        int32_t partition;
        uint64_t id;       /* fg_part_id */
        _Atomic int64_t blocked_msgs, blocked_bytes; /* the ordered queue's */
        pthread_mutex_t lock;
        pthread_cond_t idle;
        slot_t *ring;
        size_t cap;        /* power of two */
        uint64_t head;     /* oldest unretired sequence */
        uint64_t tail;     /* next sequence to hand out */
        size_t pending;
        bool idle_waiter;
};

#define RING_INITIAL 64

fg_part_t *fg_part_new(const char *topic, int32_t partition) {
        fg_part_t *p = calloc(1, sizeof(*p));

        if (!p)
                abort();
        p->topic = strdup(topic);
        p->ring = calloc(RING_INITIAL, sizeof(*p->ring));
        if (!p->topic || !p->ring)
                abort();
        p->cap = RING_INITIAL;
        p->partition = partition;
        p->id = fg_hash_bytes((uint64_t)(uint32_t)partition, topic, strlen(topic));
        atomic_init(&p->refcnt, 1);
        pthread_mutex_init(&p->lock, NULL);
        fg_cond_init_monotonic(&p->idle);
        return p;
}

void fg_part_ref(fg_part_t *p) {
        atomic_fetch_add_explicit(&p->refcnt, 1, memory_order_relaxed);
}

void fg_part_ref_n(fg_part_t *p, int n) {
        atomic_fetch_add_explicit(&p->refcnt, n, memory_order_relaxed);
}

void fg_part_unref(fg_part_t *p) { fg_part_unref_n(p, 1); }

void fg_part_unref_n(fg_part_t *p, int n) {
        if (!p || atomic_fetch_sub_explicit(&p->refcnt, n, memory_order_acq_rel) != n)
                return;
        pthread_cond_destroy(&p->idle);
        pthread_mutex_destroy(&p->lock);
        free(p->ring);
        free(p->topic);
        free(p);
}

const char *fg_part_topic(const fg_part_t *p) { return p->topic; }

int32_t fg_part_partition(const fg_part_t *p) { return p->partition; }

uint64_t fg_part_id(const fg_part_t *p) { return p->id; }

void fg_part_blocked_add(fg_part_t *p, int64_t msgs, int64_t bytes) {
        /* One writer at a time (the queue's lock): load + store suffices. */
        atomic_store_explicit(&p->blocked_msgs,
                              atomic_load_explicit(&p->blocked_msgs, memory_order_relaxed) + msgs,
                              memory_order_relaxed);
        atomic_store_explicit(&p->blocked_bytes,
                              atomic_load_explicit(&p->blocked_bytes, memory_order_relaxed) + bytes,
                              memory_order_relaxed);
}

void fg_part_blocked(const fg_part_t *p, size_t *msgs, size_t *bytes) {
        int64_t m = atomic_load_explicit(&p->blocked_msgs, memory_order_relaxed);
        int64_t b = atomic_load_explicit(&p->blocked_bytes, memory_order_relaxed);

        *msgs = m > 0 ? (size_t)m : 0;
        *bytes = b > 0 ? (size_t)b : 0;
}

static slot_t *slot_of(fg_part_t *p, uint64_t seq) { return &p->ring[seq & (p->cap - 1)]; }

static void grow(fg_part_t *p) {
        size_t ncap = p->cap * 2;
        slot_t *nring = calloc(ncap, sizeof(*nring));

        if (!nring)
                abort();
        for (uint64_t s = p->head; s < p->tail; s++)
                nring[s & (ncap - 1)] = p->ring[s & (p->cap - 1)];
        free(p->ring);
        p->ring = nring;
        p->cap = ncap;
}

void fg_part_lock(fg_part_t *p) { pthread_mutex_lock(&p->lock); }

void fg_part_unlock(fg_part_t *p) { pthread_mutex_unlock(&p->lock); }

uint64_t fg_part_track_locked(fg_part_t *p, int64_t offset) {
        uint64_t seq;
        slot_t *s;

        if (p->tail - p->head == p->cap)
                grow(p);
        seq = p->tail++;
        s = slot_of(p, seq);
        s->offset = offset;
        s->state = SLOT_PENDING;
        p->pending++;
        return seq;
}

uint64_t fg_part_track(fg_part_t *p, int64_t offset) {
        uint64_t seq;

        pthread_mutex_lock(&p->lock);
        seq = fg_part_track_locked(p, offset);
        pthread_mutex_unlock(&p->lock);
        return seq;
}

void fg_part_untrack_last(fg_part_t *p, uint64_t seq) {
        pthread_mutex_lock(&p->lock);
        if (seq + 1 == p->tail && p->tail > p->head) {
                p->tail--;
                p->pending--;
        }
        pthread_mutex_unlock(&p->lock);
}

void fg_part_untrack_from(fg_part_t *p, uint64_t seq) {
        pthread_mutex_lock(&p->lock);
        if (seq >= p->head && seq < p->tail) {
                p->pending -= (size_t)(p->tail - seq);
                p->tail = seq;
        }
        pthread_mutex_unlock(&p->lock);
}

/* Lock held. */
static void settle_locked(fg_part_t *p, uint64_t seq, uint8_t state) {
        slot_t *s;

        if (seq < p->head || seq >= p->tail)
                return;
        s = slot_of(p, seq);
        if (s->state != SLOT_PENDING)
                return;
        s->state = state;
        p->pending--;
        if (p->pending == 0 && p->idle_waiter)
                pthread_cond_broadcast(&p->idle);
}

void fg_part_done_locked(fg_part_t *p, uint64_t seq) { settle_locked(p, seq, SLOT_DONE); }

void fg_part_done(fg_part_t *p, uint64_t seq) {
        pthread_mutex_lock(&p->lock);
        settle_locked(p, seq, SLOT_DONE);
        pthread_mutex_unlock(&p->lock);
}

void fg_part_discard(fg_part_t *p, uint64_t seq) {
        pthread_mutex_lock(&p->lock);
        settle_locked(p, seq, SLOT_DISCARDED);
        pthread_mutex_unlock(&p->lock);
}

size_t fg_part_advance(fg_part_t *p, int64_t *next_offset) {
        size_t moved = 0;
        int64_t last = -1;

        pthread_mutex_lock(&p->lock);
        while (p->head < p->tail) {
                slot_t *s = slot_of(p, p->head);
                if (s->state != SLOT_DONE)
                        break;
                last = s->offset;
                p->head++;
                moved++;
        }
        pthread_mutex_unlock(&p->lock);
        if (moved)
                *next_offset = last + 1;
        return moved;
}

size_t fg_part_pending(fg_part_t *p) {
        size_t n;
        pthread_mutex_lock(&p->lock);
        n = p->pending;
        pthread_mutex_unlock(&p->lock);
        return n;
}

size_t fg_part_outstanding(fg_part_t *p) {
        size_t n;
        pthread_mutex_lock(&p->lock);
        n = (size_t)(p->tail - p->head);
        pthread_mutex_unlock(&p->lock);
        return n;
}

static bool part_idle(void *arg) {
        const fg_part_t *p = arg;
        return p->pending == 0;
}

bool fg_part_wait_idle(fg_part_t *p, int64_t timeout_ns) {
        bool idle;

        pthread_mutex_lock(&p->lock);
        p->idle_waiter = true;
        idle = fg_cond_wait_for(&p->idle, &p->lock, timeout_ns, part_idle, p);
        p->idle_waiter = false;
        pthread_mutex_unlock(&p->lock);
        return idle;
}
