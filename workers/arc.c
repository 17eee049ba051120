/*
 * arc: AIMD concurrency limit on sink round-trip times (see arc.h).
 *
 * Locks: arc->lock guards everything; arc->cond wakes callers waiting for
 * a slot.
 */
#include "workers/arc.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "common/clock.h"
#include "common/cond.h"

/* With identical RTTs the deviation tends to 0 and any jitter would read as
 * congestion: tolerate at least this share of the mean. */
#define DEV_FLOOR_SHARE 0.05

struct fg_arc {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        fg_arc_cfg_t conf;
        unsigned limit, inflight, max;

        /* The current window. */
        int64_t win_start_ns;
        double win_sum_ns;
        uint64_t win_n;
        bool win_backpressure;
        bool win_reached;

        /* Long-term view. */
        bool primed;
        double mean_ns, dev_ns;
        uint64_t increases, decreases;
};

fg_arc_t *fg_arc_new(const fg_arc_cfg_t *conf) {
        fg_arc_t *arc;

        if (conf->initial_limit < 1 || conf->max_limit < conf->initial_limit ||
            !(conf->ewma_alpha > 0 && conf->ewma_alpha <= 1) || !(conf->decrease_ratio > 0) ||
            !(conf->decrease_ratio < 1) || !(conf->deviation_scale >= 0))
                return NULL;
        arc = calloc(1, sizeof(*arc));
        if (!arc)
                return NULL;
        arc->conf = *conf;
        arc->limit = conf->initial_limit;
        arc->max = conf->max_limit;
        arc->win_start_ns = -1;
        pthread_mutex_init(&arc->lock, NULL);
        fg_cond_init_monotonic(&arc->cond);
        return arc;
}

void fg_arc_destroy(fg_arc_t *arc) {
        if (!arc)
                return;
        pthread_cond_destroy(&arc->cond);
        pthread_mutex_destroy(&arc->lock);
        free(arc);
}

bool fg_arc_acquire(fg_arc_t *arc, int64_t timeout_ns) {
        struct timespec deadline = fg_deadline_in(timeout_ns);
        bool got = false;

        pthread_mutex_lock(&arc->lock);
        for (;;) {
                if (arc->inflight < arc->limit) {
                        arc->inflight++;
                        if (arc->inflight == arc->limit)
                                arc->win_reached = true;
                        got = true;
                        break;
                }
                arc->win_reached = true; /* demand beyond the limit */
                if (pthread_cond_timedwait(&arc->cond, &arc->lock, &deadline) != 0)
                        break;
        }
        pthread_mutex_unlock(&arc->lock);
        return got;
}

static void give_back(fg_arc_t *arc) {
        if (arc->inflight)
                arc->inflight--;
        pthread_cond_signal(&arc->cond);
}

void fg_arc_cancel(fg_arc_t *arc) {
        pthread_mutex_lock(&arc->lock);
        give_back(arc);
        pthread_mutex_unlock(&arc->lock);
}

static void decrease(fg_arc_t *arc) {
        unsigned next = (unsigned)floor((double)arc->limit * arc->conf.decrease_ratio);
        if (next >= arc->limit)
                next = arc->limit - 1; /* small limits must still move */
        if (next < 1)
                next = 1;
        if (next < arc->limit)
                arc->decreases++;
        arc->limit = next;
}

/* Lock held: ends the window and decides. */
static void close_window(fg_arc_t *arc, int64_t now_ns) {
        double wmean = arc->win_n ? arc->win_sum_ns / (double)arc->win_n : 0;
        double a = arc->conf.ewma_alpha;

        if (arc->win_backpressure) {
                decrease(arc);
        } else if (arc->primed && arc->win_n &&
                   wmean > arc->mean_ns + arc->conf.deviation_scale *
                                              fmax(arc->dev_ns, DEV_FLOOR_SHARE * arc->mean_ns)) {
                decrease(arc);
        } else if (arc->win_reached && arc->limit < arc->max) {
                arc->limit++;
                arc->increases++;
                pthread_cond_broadcast(&arc->cond);
        }
        if (arc->win_n) {
                if (!arc->primed) {
                        arc->mean_ns = wmean;
                        arc->dev_ns = wmean / 4;
                        arc->primed = true;
                } else {
                        arc->dev_ns = (1 - a) * arc->dev_ns + a * fabs(wmean - arc->mean_ns);
                        arc->mean_ns = (1 - a) * arc->mean_ns + a * wmean;
                }
        }
        arc->win_start_ns = now_ns;
        arc->win_sum_ns = 0;
        arc->win_n = 0;
        arc->win_backpressure = false;
        arc->win_reached = arc->inflight >= arc->limit;
}

void fg_arc_release(fg_arc_t *arc, int64_t rtt_ns, fg_arc_signal_t signal, int64_t now_ns) {
        int64_t span;

        pthread_mutex_lock(&arc->lock);
        give_back(arc);
        if (arc->win_start_ns < 0)
                arc->win_start_ns = now_ns - (rtt_ns > 0 ? rtt_ns : 0);
        if (signal == FG_ARC_BACKPRESSURE)
                arc->win_backpressure = true;
        else if (signal == FG_ARC_OK && rtt_ns >= 0) {
                arc->win_sum_ns += (double)rtt_ns;
                arc->win_n++;
        }
        span = (int64_t)fmax((double)arc->conf.min_window_ns, arc->primed ? arc->mean_ns : 0);
        if (now_ns - arc->win_start_ns >= span && (arc->win_n || arc->win_backpressure))
                close_window(arc, now_ns);
        pthread_mutex_unlock(&arc->lock);
}

void fg_arc_set_max(fg_arc_t *arc, unsigned max_limit) {
        pthread_mutex_lock(&arc->lock);
        arc->max = max_limit < 1 ? 1 : max_limit;
        if (arc->limit > arc->max)
                arc->limit = arc->max;
        pthread_cond_broadcast(&arc->cond);
        pthread_mutex_unlock(&arc->lock);
}

void fg_arc_get_stats(fg_arc_t *arc, fg_arc_stats_t *out) {
        pthread_mutex_lock(&arc->lock);
        out->limit = arc->limit;
        out->inflight = arc->inflight;
        out->rtt_mean_ms = arc->mean_ns / 1e6;
        out->rtt_dev_ms = arc->dev_ns / 1e6;
        out->increases = arc->increases;
        out->decreases = arc->decreases;
        pthread_mutex_unlock(&arc->lock);
}
