/*
 * breaker: a circuit breaker between the workers and the sink — pure logic,
 * the clock is always passed in (now_ns, monotonic), so tests need no
 * sleeps.
 *
 * DESIGN (resilience4j's semantics, plus what they lack)
 * States: CLOSED (calls flow, outcomes recorded in a sliding window), OPEN
 * (no calls until the open duration passes), HALF_OPEN (exactly
 * half_open_calls probe permits; after that many outcomes the breaker closes
 * or opens again), and from config FORCED_OPEN (never permits) and DISABLED
 * (always permits, records nothing).
 *
 * Sliding window: count-based (the last window_size outcomes) or time-based
 * (outcomes of the last window_size seconds, in one-second buckets). Both
 * update in O(1) per outcome. The breaker trips when, with at least
 * min_calls outcomes in the window, the failure rate >= failure_rate_threshold
 * or the slow-call rate >= slow_call_rate_threshold (slow = took longer than
 * slow_call_ns, whatever its outcome) — or, whatever the window holds, when
 * the last consecutive_failures calls all failed (gobreaker's rule; 0 =
 * off): with retries backing off, a dead downstream may produce too few
 * calls for its failures to outweigh the successes still in the window.
 *
 * Outcome classes (what the sink said, see sinks/sink.h):
 *   SUCCESS       counts as a call, not a failure (slow if slow);
 *   FAILURE       counts as a failure (5xx, connection errors, disk full);
 *   BACKPRESSURE  the downstream asked us to slow down (429, 503 with
 *                 Retry-After, timeouts): counts as a failure;
 *   IGNORED       the event's fault, not the sink's (a permanent 4xx of one
 *                 bad event): not recorded at all, but in HALF_OPEN it still
 *                 returns its permit (so a probe on a bad event cannot wedge
 *                 the breaker).
 *
 * Open duration: open_ns the first time, then multiplied by open_backoff
 * each consecutive time the breaker re-opens from HALF_OPEN, capped at
 * open_max_ns, with +-jitter (a fraction) so a fleet does not probe in
 * lockstep; reset to open_ns when the breaker closes.
 *
 * HALF_OPEN hands out permits atomically: exactly half_open_calls callers
 * get one. A probe that never reports back cannot wedge it: after
 * half_open_max_wait_ns in HALF_OPEN the breaker re-opens (counting as a
 * failed probe round).
 *
 * Generations: every state change starts a new generation; a permit carries
 * the generation it was issued in, and outcomes recorded with a permit from
 * an older generation are ignored (a slow call that started before the
 * breaker opened must not close or re-open it).
 *
 * Threading: every function may be called from any thread; one internal
 * mutex guards the state (calls happen once per sink call — per batch —
 * so contention is negligible; measured before any lock-free attempt).
 * The transition callback runs with the lock held and must not call back
 * into the breaker; it should only log and count.
 * Ownership: fg_brk_new copies the cfg; fg_brk_destroy accepts NULL.
 */
#ifndef FG_BREAKER_H
#define FG_BREAKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum fg_brk_state {
        FG_BRK_CLOSED = 0,
        FG_BRK_OPEN,
        FG_BRK_HALF_OPEN,
        FG_BRK_FORCED_OPEN,
        FG_BRK_DISABLED,
        FG_BRK__STATE_CNT
} fg_brk_state_t;

typedef enum fg_brk_outcome {
        FG_BRK_SUCCESS = 0,
        FG_BRK_FAILURE,
        FG_BRK_BACKPRESSURE,
        FG_BRK_IGNORED,
} fg_brk_outcome_t;

typedef enum fg_brk_window {
        FG_BRK_WINDOW_COUNT = 0,
        FG_BRK_WINDOW_TIME,
} fg_brk_window_t;

/* What the workers do with events while the breaker holds calls (the
 * breaker itself does not look at it). */
typedef enum fg_brk_when_open {
        FG_BRK_WHEN_OPEN_WAIT = 0,        /* workers hold their events until it closes */
        FG_BRK_WHEN_OPEN_DEAD_LETTER,     /* events go to the dead-letter topic */
} fg_brk_when_open_t;

/* The breaker section of the configuration. */
typedef struct fg_brk_cfg {
        bool enabled;                   /* false: DISABLED, every call permitted */
        bool forced_open;               /* (enabled) FORCED_OPEN: no call permitted */
        fg_brk_window_t window;
        int64_t window_size;            /* calls (COUNT) or seconds (TIME), >= 1 */
        int64_t min_calls;              /* >= 1 */
        int64_t consecutive_failures;   /* trip after this many failures in a row; 0 = off */
        double failure_rate_threshold;  /* (0, 1] */
        double slow_call_rate_threshold;/* (0, 1] */
        int64_t slow_call_ns;           /* > 0 */
        int64_t open_ns;                /* first open duration, > 0 */
        double open_backoff;            /* >= 1 */
        int64_t open_max_ns;            /* >= open_ns */
        double jitter;                  /* [0, 1): +-fraction of the open duration */
        int64_t half_open_calls;        /* >= 1 */
        int64_t half_open_max_wait_ns;  /* > 0 */
        fg_brk_when_open_t when_open;
} fg_brk_cfg_t;

/* A permission to call the sink, from fg_brk_acquire(). Plain value. */
typedef struct fg_brk_permit {
        uint64_t generation;
        bool half_open; /* issued as a probe */
} fg_brk_permit_t;

typedef struct fg_brk fg_brk_t;

/* Called on every state change, lock held: log and count only. */
typedef void (fg_brk_transition_cb_t)(fg_brk_state_t from, fg_brk_state_t to, const char *reason,
                                      void *opaque);

/* NULL with a reason when the conf is out of range. @p seed drives the
 * jitter (tests pass a fixed one). */
fg_brk_t *fg_brk_new(const fg_brk_cfg_t *conf, uint64_t seed, fg_brk_transition_cb_t *cb,
                     void *opaque, char *errstr, size_t errstr_size);
void fg_brk_destroy(fg_brk_t *b);

/* Asks to call the sink at @p now_ns. True with a permit, or false: the
 * call is not permitted (counted). OPEN turns HALF_OPEN here once its
 * duration has passed. */
bool fg_brk_acquire(fg_brk_t *b, int64_t now_ns, fg_brk_permit_t *permit);

/* Records the outcome of a permitted call that took @p duration_ns and
 * ended at @p now_ns. Outcomes from an older generation are ignored. */
void fg_brk_record(fg_brk_t *b, const fg_brk_permit_t *permit, fg_brk_outcome_t outcome,
                   int64_t duration_ns, int64_t now_ns);

/* Gives back a permit that was not used (e.g. the worker is stopping). */
void fg_brk_release(fg_brk_t *b, const fg_brk_permit_t *permit, int64_t now_ns);

/* The state at @p now_ns (applies time-driven transitions: OPEN ->
 * HALF_OPEN is reported but only taken by the next acquire; HALF_OPEN past
 * its max wait re-opens). */
fg_brk_state_t fg_brk_state(fg_brk_t *b, int64_t now_ns);

/* breaker.when_open, as configured. Any thread (immutable). */
fg_brk_when_open_t fg_brk_when_open(const fg_brk_t *b);

/* How long until a call could be permitted: 0 when one could be now; for
 * OPEN the rest of its duration; for a HALF_OPEN with all permits out, the
 * time left until its max wait (the probes' outcomes may come sooner; a
 * lost probe is noticed then); for FORCED_OPEN, INT64_MAX. Workers sleep
 * on this. */
int64_t fg_brk_wait_ns(fg_brk_t *b, int64_t now_ns);

typedef struct fg_brk_stats {
        fg_brk_state_t state;
        double failure_rate;   /* in the current window; -1 below min_calls */
        double slow_rate;      /* likewise */
        uint64_t window_calls;
        uint64_t consecutive_failures;   /* CLOSED: failed calls in a row now */
        uint64_t not_permitted;          /* acquire() refusals, total */
        uint64_t transitions[FG_BRK__STATE_CNT]; /* by target state, total */
        int64_t open_remaining_ns;       /* OPEN: time left; else 0 */
        int64_t current_open_ns;         /* duration of the current/next open */
} fg_brk_stats_t;

void fg_brk_get_stats(fg_brk_t *b, int64_t now_ns, fg_brk_stats_t *out);

const char *fg_brk_state_name(fg_brk_state_t s); /* "closed", "open", "half_open", ... */

#endif
