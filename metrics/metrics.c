/*
 * metrics: registry of per-thread shards, snapshots and rates (see metrics.h).
 *
 * DESIGN
 * The registry is a growable array of shard pointers under one mutex. A
 * shard is allocated on its own cache lines (aligned_alloc, 64) so two
 * writers never share a line, and is never freed before the registry: a
 * released shard keeps its counts and goes to the next thread that asks,
 * which continues from them. Totals are therefore monotonic, and the number
 * of shards is the peak number of concurrent recording threads.
 *
 * A snapshot walks the array under the mutex and sums each shard with
 * relaxed loads. Every shard field only grows and has one writer, so read
 * coherence makes each field, and so each merged total, non-decreasing
 * from one snapshot to the next on any reading thread.
 *
 * Locks: m->lock guards shards, n, cap and every shard's in_use. Shard
 * contents need no lock (one writer, relaxed atomics). A reused shard is
 * handed over through the mutex: the old owner's last stores happen before
 * its release, which happens before the new owner's get.
 *
 * Threading: as in metrics.h. fg_rates_* belong to the one thread that
 * ticks them (the main thread).
 */
#include "metrics/metrics.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct fg_metrics {
        pthread_mutex_t lock;
        fg_mshard_t **shards; /* all shards ever handed out, in_use or not */
        size_t n;
        size_t cap;
};

static const char *const ctr_names[FG_CTR__CNT] = {
    [FG_CTR_CONSUMED] = "consumed",
    [FG_CTR_CONSUMED_BYTES] = "consumed_bytes",
    [FG_CTR_OK] = "ok",
    [FG_CTR_FILTERED] = "filtered",
    [FG_CTR_FAILED] = "failed",
    [FG_CTR_DEAD_LETTER] = "dead_letter",
    [FG_CTR_DROPPED] = "dropped",
    [FG_CTR_RETRIES] = "retries",
    [FG_CTR_SINK_CALLS] = "sink_calls",
    [FG_CTR_REBALANCES] = "rebalances",
    [FG_CTR_PAUSES] = "pauses",
    [FG_CTR_RESUMES] = "resumes",
    [FG_CTR_COMMITS] = "commits",
};

static const char *const hist_names[FG_HIST__CNT] = {
    [FG_HIST_E2E] = "end_to_end",
    [FG_HIST_QUEUE_WAIT] = "queue_wait",
    [FG_HIST_SINK_CALL] = "sink_call",
};

_Static_assert(sizeof(fg_mshard_t) % 64 == 0, "aligned_alloc needs a multiple of the alignment");

/* Main thread. Returns NULL on OOM. */
fg_metrics_t *fg_metrics_new(void) {
        fg_metrics_t *m = calloc(1, sizeof(*m));

        if (!m)
                return NULL;
        pthread_mutex_init(&m->lock, NULL);
        return m;
}

/* Main thread, after every recording thread has stopped (shards still
 * borrowed are freed too). Accepts NULL. */
void fg_metrics_destroy(fg_metrics_t *m) {
        if (!m)
                return;
        for (size_t i = 0; i < m->n; i++)
                free(m->shards[i]);
        free(m->shards);
        pthread_mutex_destroy(&m->lock);
        free(m);
}

/* Any thread; takes m->lock. Aborts on OOM: a thread that cannot count
 * must not run, and the caller has no better answer. */
fg_mshard_t *fg_metrics_shard_get(fg_metrics_t *m) {
        fg_mshard_t *s = NULL;

        pthread_mutex_lock(&m->lock);
        for (size_t i = 0; i < m->n; i++) {
                if (!atomic_load_explicit(&m->shards[i]->in_use, memory_order_relaxed)) {
                        s = m->shards[i];
                        break;
                }
        }
        if (!s) {
                if (m->n == m->cap) {
                        size_t cap = m->cap ? m->cap * 2 : 16;
                        fg_mshard_t **p = realloc(m->shards, cap * sizeof(*p));
                        if (!p)
                                abort();
                        m->shards = p;
                        m->cap = cap;
                }
                s = aligned_alloc(64, sizeof(*s));
                if (!s)
                        abort();
                /* All-zero is a valid zero for the lock-free atomics here;
                 * the mutex publishes it to the snapshot readers. */
                memset(s, 0, sizeof(*s));
                m->shards[m->n++] = s;
        }
        atomic_store_explicit(&s->in_use, 1, memory_order_relaxed);
        pthread_mutex_unlock(&m->lock);
        return s;
}

/* The owner thread, when it stops recording; takes m->lock. @p s must not
 * be used afterwards. Accepts NULL. */
void fg_mshard_release(fg_metrics_t *m, fg_mshard_t *s) {
        if (!s)
                return;
        pthread_mutex_lock(&m->lock);
        atomic_store_explicit(&s->in_use, 0, memory_order_relaxed);
        pthread_mutex_unlock(&m->lock);
}

/* Any thread; takes m->lock for the walk, reads shards without waiting for
 * their owners. */
void fg_metrics_snapshot(fg_metrics_t *m, fg_metrics_snap_t *out) {
        memset(out, 0, sizeof(*out));
        pthread_mutex_lock(&m->lock);
        for (size_t i = 0; i < m->n; i++) {
                const fg_mshard_t *s = m->shards[i];
                for (int c = 0; c < FG_CTR__CNT; c++)
                        out->ctr[c] += atomic_load_explicit(&s->ctr[c], memory_order_relaxed);
                for (int h = 0; h < FG_HIST__CNT; h++)
                        fg_hist_merge(&out->hist[h], &s->hist[h]);
        }
        pthread_mutex_unlock(&m->lock);
}

/* Any thread; "?" for an unknown id. */
const char *fg_ctr_name(fg_ctr_t c) {
        return (unsigned)c < FG_CTR__CNT ? ctr_names[c] : "?";
}

/* Any thread; "?" for an unknown id. */
const char *fg_hist_name(fg_hist_id_t h) {
        return (unsigned)h < FG_HIST__CNT ? hist_names[h] : "?";
}

/* The ticking thread. @p r starts zeroed (e.g. = {0}). */
void fg_rates_tick(fg_rates_t *r, const fg_metrics_snap_t *snap, int64_t now_ns) {
        unsigned i = r->head % FG_RATES_SLOTS;

        memcpy(r->sample[i], snap->ctr, sizeof(r->sample[i]));
        r->at_ns[i] = now_ns;
        r->head = (i + 1) % FG_RATES_SLOTS;
        if (r->n < FG_RATES_SLOTS)
                r->n++;
}

/* The ticking thread. Compares the newest sample with the one whose time is
 * closest to window_s before it (the older one on a tie) and divides by
 * their real distance in time, so late or missed ticks do not skew it. */
double fg_rates_per_sec(const fg_rates_t *r, fg_ctr_t c, unsigned window_s) {
        unsigned newest, best = 0;
        int64_t target, best_dist = INT64_MAX, dt;
        uint64_t a, b;

        if (r->n < 2 || (unsigned)c >= FG_CTR__CNT)
                return 0;
        newest = (r->head + FG_RATES_SLOTS - 1) % FG_RATES_SLOTS;
        target = r->at_ns[newest] - (int64_t)window_s * 1000000000LL;
        for (unsigned back = 1; back < r->n; back++) {
                unsigned i = (newest + FG_RATES_SLOTS - back) % FG_RATES_SLOTS;
                int64_t d = r->at_ns[i] - target;
                if (d < 0)
                        d = -d;
                if (d <= best_dist) {
                        best_dist = d;
                        best = i;
                }
        }
        dt = r->at_ns[newest] - r->at_ns[best];
        a = r->sample[newest][c];
        b = r->sample[best][c];
        if (dt <= 0 || a < b)
                return 0;
        return (double)(a - b) * 1e9 / (double)dt;
}
