/*
 * arc: adaptive concurrency — how many sink calls may be in flight at once,
 * learned from the sink's round-trip times, in the spirit of TCP congestion
 * control (AIMD) and Vector's adaptive request concurrency.
 *
 * DESIGN
 * Calls are observed in windows of about one mean round-trip time (at least
 * min_window_ns). At the end of each window:
 *   - the sink pushed back (429/503/timeouts) or the window's mean RTT rose
 *     above the long-term mean by more than deviation_scale standard
 *     deviations: the limit is multiplied by decrease_ratio (multiplicative
 *     decrease);
 *   - otherwise, if the limit was actually reached during the window (a
 *     caller had to wait, or in-flight hit the limit): the limit grows by
 *     one (additive increase) — never when there was no demand;
 * and the long-term mean and deviation (EWMAs) absorb the window's mean.
 * The limit stays within [1, max_limit]. This separates "how many calls the
 * sink can take" from "how many threads the pool has": threads beyond the
 * limit wait here instead of piling onto a slow or pushing-back sink.
 *
 * Threading: any thread; one mutex guards the state; fg_arc_acquire blocks
 * on a condition variable (monotonic clock). Pure logic otherwise: every
 * decision takes `now` from its caller, so tests need no sleeps.
 * Ownership: plain object; fg_arc_destroy accepts NULL.
 */
#ifndef FG_ARC_H
#define FG_ARC_H

#include <stdbool.h>
#include <stdint.h>

typedef struct fg_arc fg_arc_t;

typedef struct fg_arc_cfg {
        unsigned initial_limit;     /* >= 1 */
        unsigned max_limit;         /* >= initial_limit */
        double ewma_alpha;          /* weight of a new window in the long-term mean, (0,1] */
        double deviation_scale;     /* RTT rise tolerated, in standard deviations */
        double decrease_ratio;      /* (0,1): multiplicative decrease */
        int64_t min_window_ns;      /* windows last at least this long */
} fg_arc_cfg_t;

typedef enum fg_arc_signal {
        FG_ARC_OK = 0,          /* the call completed (success or the event's fault) */
        FG_ARC_BACKPRESSURE,    /* 429/503/timeout: the sink wants less */
        FG_ARC_ERROR,           /* other failures: no latency information */
} fg_arc_signal_t;

typedef struct fg_arc_stats {
        unsigned limit;
        unsigned inflight;
        double rtt_mean_ms;     /* long-term EWMA, 0 before the first window */
        double rtt_dev_ms;
        uint64_t increases, decreases;
} fg_arc_stats_t;

fg_arc_t *fg_arc_new(const fg_arc_cfg_t *conf);
void fg_arc_destroy(fg_arc_t *arc);

/* Takes an in-flight slot, waiting up to @p timeout_ns. False on timeout
 * (the caller checks whether to give up, then tries again). Marks the
 * window's limit as reached when it had to wait or filled the last slot. */
bool fg_arc_acquire(fg_arc_t *arc, int64_t timeout_ns);
/* Returns a slot without a sample (the call did not happen). */
void fg_arc_cancel(fg_arc_t *arc);
/* Returns a slot with the call's round-trip time and what the sink said,
 * observed at @p now_ns; may close a window and move the limit. */
void fg_arc_release(fg_arc_t *arc, int64_t rtt_ns, fg_arc_signal_t signal, int64_t now_ns);

/* Raises or lowers the ceiling (live tuning); the limit follows if above. */
void fg_arc_set_max(fg_arc_t *arc, unsigned max_limit);
void fg_arc_get_stats(fg_arc_t *arc, fg_arc_stats_t *out);

#endif
