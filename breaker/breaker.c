/*
 * breaker: the circuit breaker's state machine (see breaker.h; the sliding
 * windows are in breaker_window.c).
 *
 * DESIGN
 * Everything is decided under brk->lock from the now_ns the caller passes.
 * Time-driven transitions are taken lazily, at the start of every call:
 * HALF_OPEN past half_open_max_wait_ns re-opens in any call; OPEN past its
 * duration turns HALF_OPEN only in fg_brk_acquire (fg_brk_state, wait_ns
 * and stats report it as HALF_OPEN already). A transition happens at the
 * now_ns of the call that notices it: the open period, the half-open wait
 * start from there.
 *
 * Time never runs backwards inside the breaker: a now_ns below the latest
 * one seen is taken as the latest (threads read the clock before they take
 * the lock, so slightly older values are normal).
 *
 * Rates: failure rate = (FAILURE + BACKPRESSURE) / calls, slow rate = slow
 * calls / calls, slow meaning duration_ns > slow_call_ns whatever the
 * outcome; IGNORED is not a call (and leaves the run of consecutive
 * failures as it is; a SUCCESS ends it, slow or not). Thresholds are resolved to parts per
 * million at fg_brk_new and compared exactly in integers
 * (fg_brk_rate_reached): with a 0.5 threshold 49/100 never trips, 50/100
 * does. CLOSED trips when calls >= min_calls and either rate reaches its
 * threshold; it is checked after each recorded outcome.
 *
 * Generations: start at 1 (a zeroed permit is always stale) and go up on
 * every transition, so a permit is valid only in the state it was issued
 * in. No permit is ever issued in OPEN; FORCED_OPEN and DISABLED never
 * change state and record nothing.
 *
 * HALF_OPEN: probes_out permits are held, probes_done outcomes counted;
 * a permit can be issued while probes_out + probes_done < half_open_calls.
 * A counted outcome moves a permit from out to done; IGNORED and
 * fg_brk_release give it back (it may be issued again). After exactly
 * half_open_calls counted outcomes the breaker re-opens if the failure or
 * the slow rate over them reaches its threshold (min_calls does not apply
 * to probes), and closes otherwise. Permits are plain values, so each must
 * be recorded or released exactly once: a duplicate cannot be told apart
 * from another holder's permit (only probes_out never going below 0 is
 * enforced).
 *
 * Stats: the rates are those of the CLOSED window, which every transition
 * empties, so they read -1 in OPEN and HALF_OPEN; the probes' tally shows
 * in the transition reason instead. transitions[] counts transitions taken
 * (not the initial state; FORCED_OPEN and DISABLED never transition).
 *
 * Open duration: base = open_ns, times open_backoff on each re-open from
 * HALF_OPEN (by probes or by max wait), capped at open_max_ns, back to
 * open_ns on close. Each open then lasts base * (1 + jitter * u), u
 * uniform in [-1, 1) from a seeded xorshift64*; with jitter 0 exactly
 * base. The cap applies to the base, so a jittered open may exceed
 * open_max_ns by up to jitter * open_max_ns — clamping it instead would
 * put every breaker of a fleet at the cap on the same schedule again.
 *
 * Consecutive failures: counted in CLOSED only, from calls of the current
 * generation; the rate rule is checked first, so when both fire the reason
 * names the rate. Probes in HALF_OPEN are judged by their own rule.
 *
 * Threading: any thread; brk->lock guards every field but the conf, which
 * is immutable after fg_brk_new. The transition callback runs with the
 * lock held.
 * Ownership: the breaker owns its copy of the conf and its window.
 */
#include "breaker/breaker.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "breaker/breaker_int.h"
#include "common/clock.h"

struct fg_brk {
        pthread_mutex_t lock;
        fg_brk_cfg_t conf;
        uint64_t fail_ppm, slow_ppm;    /* thresholds in parts per million */
        fg_brk_transition_cb_t *cb;
        void *opaque;

        fg_brk_state_t state;
        uint64_t generation;
        int64_t last_ns;                /* latest now_ns seen */
        fg_brk_win_t win;               /* CLOSED only; emptied on every transition */
        uint64_t consecutive;           /* CLOSED: failed calls in a row; 0 on every transition */

        int64_t open_base_ns;           /* base duration of the current/next open */
        int64_t open_dur_ns;            /* OPEN: this open's jittered duration */
        int64_t open_until_ns;          /* OPEN: when it may turn HALF_OPEN */

        int64_t half_open_since_ns;
        int64_t probes_out, probes_done, probe_failures, probe_slow;

        uint64_t rng;
        uint64_t not_permitted;
        uint64_t transitions[FG_BRK__STATE_CNT];
};

#define ERR(...)                                                                                   \
        do {                                                                                       \
                if (errstr && errstr_size)                                                         \
                        snprintf(errstr, errstr_size, __VA_ARGS__);                                \
                return false;                                                                      \
        } while (0)

static bool unit_rate(double v) {
        return v > 0 && v <= 1; /* false for NaN */
}

/* The first rule a conf breaks, as "breaker: <field> ...". */
static bool conf_valid(const fg_brk_cfg_t *conf, char *errstr, size_t errstr_size) {
        int64_t wmax;

        if (conf->when_open != FG_BRK_WHEN_OPEN_WAIT && conf->when_open != FG_BRK_WHEN_OPEN_DEAD_LETTER)
                ERR("breaker: when_open %d is not wait or dead_letter", (int)conf->when_open);
        if (conf->window != FG_BRK_WINDOW_COUNT && conf->window != FG_BRK_WINDOW_TIME)
                ERR("breaker: window %d is not count or time", (int)conf->window);
        wmax = conf->window == FG_BRK_WINDOW_COUNT ? FG_BRK_COUNT_WINDOW_MAX
                                                   : FG_BRK_TIME_WINDOW_MAX;
        if (conf->window_size < 1 || conf->window_size > wmax)
                ERR("breaker: window_size %" PRId64 " is out of range [1, %" PRId64 "] (%s)",
                    conf->window_size, wmax,
                    conf->window == FG_BRK_WINDOW_COUNT ? "calls" : "seconds");
        if (conf->min_calls < 1)
                ERR("breaker: min_calls %" PRId64 " must be >= 1", conf->min_calls);
        if (conf->consecutive_failures < 0)
                ERR("breaker: consecutive_failures %" PRId64 " must be >= 0 (0 = off)",
                    conf->consecutive_failures);
        if (conf->window == FG_BRK_WINDOW_COUNT && conf->min_calls > conf->window_size)
                ERR("breaker: min_calls %" PRId64 " exceeds the count window of %" PRId64
                    " calls: the breaker could never trip",
                    conf->min_calls, conf->window_size);
        if (!unit_rate(conf->failure_rate_threshold))
                ERR("breaker: failure_rate_threshold %g must be in (0, 1]",
                    conf->failure_rate_threshold);
        if (!unit_rate(conf->slow_call_rate_threshold))
                ERR("breaker: slow_call_rate_threshold %g must be in (0, 1]",
                    conf->slow_call_rate_threshold);
        if (conf->slow_call_ns <= 0)
                ERR("breaker: slow_call_ns %" PRId64 " must be > 0", conf->slow_call_ns);
        if (conf->open_ns <= 0)
                ERR("breaker: open_ns %" PRId64 " must be > 0", conf->open_ns);
        if (!(conf->open_backoff >= 1) || !isfinite(conf->open_backoff))
                ERR("breaker: open_backoff %g must be a finite number >= 1", conf->open_backoff);
        if (conf->open_max_ns < conf->open_ns)
                ERR("breaker: open_max_ns %" PRId64 " must be >= open_ns %" PRId64,
                    conf->open_max_ns, conf->open_ns);
        if (!(conf->jitter >= 0 && conf->jitter < 1))
                ERR("breaker: jitter %g must be in [0, 1)", conf->jitter);
        if (conf->half_open_calls < 1)
                ERR("breaker: half_open_calls %" PRId64 " must be >= 1", conf->half_open_calls);
        if (conf->half_open_max_wait_ns <= 0)
                ERR("breaker: half_open_max_wait_ns %" PRId64 " must be > 0",
                    conf->half_open_max_wait_ns);
        return true;
}

#undef ERR

/* Neither DISABLED nor FORCED_OPEN: outcomes move the state. */
static bool brk_normal(const fg_brk_t *brk) {
        return brk->conf.enabled && !brk->conf.forced_open;
}

/* splitmix64: spreads any seed (0 included) into a non-zero xorshift state. */
static uint64_t seed_mix(uint64_t x) {
        x += 0x9e3779b97f4a7c15u;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
        x ^= x >> 31;
        return x ? x : 0x9e3779b97f4a7c15u;
}

/* Any thread, no lock. */
fg_brk_t *fg_brk_new(const fg_brk_cfg_t *conf, uint64_t seed, fg_brk_transition_cb_t *cb,
                     void *opaque, char *errstr, size_t errstr_size) {
        fg_brk_t *brk = NULL;

        if (!conf) {
                if (errstr && errstr_size)
                        snprintf(errstr, errstr_size, "breaker: no configuration");
                goto init_error;
        }
        if (!conf_valid(conf, errstr, errstr_size))
                goto init_error;
        if (!(brk = calloc(1, sizeof(*brk))) ||
            fg_brk_win_init(&brk->win, conf->window, conf->window_size) != 0) {
                if (errstr && errstr_size)
                        snprintf(errstr, errstr_size,
                                 "breaker: out of memory for a window of %" PRId64,
                                 conf->window_size);
                goto init_error;
        }
        brk->conf = *conf;
        brk->fail_ppm = (uint64_t)llround(conf->failure_rate_threshold * 1e6);
        brk->slow_ppm = (uint64_t)llround(conf->slow_call_rate_threshold * 1e6);
        /* A threshold below 0.5 ppm still needs one failure, not none. */
        if (brk->fail_ppm == 0)
                brk->fail_ppm = 1;
        if (brk->slow_ppm == 0)
                brk->slow_ppm = 1;
        brk->cb = cb;
        brk->opaque = opaque;
        brk->state = !conf->enabled      ? FG_BRK_DISABLED
                     : conf->forced_open ? FG_BRK_FORCED_OPEN
                                         : FG_BRK_CLOSED;
        brk->generation = 1;
        brk->last_ns = INT64_MIN;
        brk->open_base_ns = conf->open_ns;
        brk->rng = seed_mix(seed);
        pthread_mutex_init(&brk->lock, NULL);
        return brk;

init_error:
        if (brk)
                fg_brk_win_free(&brk->win);
        free(brk);
        return NULL;
}

/* Any thread, once no other thread uses the breaker. */
void fg_brk_destroy(fg_brk_t *brk) {
        if (!brk)
                return;
        pthread_mutex_destroy(&brk->lock);
        fg_brk_win_free(&brk->win);
        free(brk);
}

/* Lock held. u uniform in [-1, 1). */
static double rng_sym(fg_brk_t *brk) {
        uint64_t x = brk->rng;

        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        brk->rng = x;
        return (double)((x * 0x2545f4914f6cdd1du) >> 11) * 0x1.0p-52 - 1.0;
}

static int64_t sat_add(int64_t a, int64_t b) {
        return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* Lock held. The clamped clock (see DESIGN). */
static int64_t clock_in(fg_brk_t *brk, int64_t now_ns) {
        if (now_ns < brk->last_ns)
                return brk->last_ns;
        brk->last_ns = now_ns;
        return now_ns;
}

/* "5000 ms", or "2.500 ms" when not whole. */
static void fmt_ms(char *buf, size_t size, int64_t ns) {
        if (ns % FG_NS_PER_MS == 0)
                snprintf(buf, size, "%" PRId64 " ms", (int64_t)(ns / FG_NS_PER_MS));
        else
                snprintf(buf, size, "%.3f ms", (double)ns / FG_NS_PER_MS);
}

/* Lock held: every transition goes through here. */
static void enter(fg_brk_t *brk, fg_brk_state_t to, int64_t now_ns, const char *reason) {
        fg_brk_state_t from = brk->state;

        brk->state = to;
        brk->generation++;
        brk->transitions[to]++;
        fg_brk_win_clear(&brk->win);
        brk->consecutive = 0;
        brk->probes_out = brk->probes_done = brk->probe_failures = brk->probe_slow = 0;
        switch (to) {
        case FG_BRK_OPEN: {
                double d = (double)brk->open_base_ns;

                if (brk->conf.jitter > 0)
                        d *= 1.0 + brk->conf.jitter * rng_sym(brk);
                brk->open_dur_ns = d >= (double)INT64_MAX ? INT64_MAX : llround(d);
                if (brk->open_dur_ns < 1)
                        brk->open_dur_ns = 1;
                brk->open_until_ns = sat_add(now_ns, brk->open_dur_ns);
                break;
        }
        case FG_BRK_HALF_OPEN:
                brk->half_open_since_ns = now_ns;
                break;
        case FG_BRK_CLOSED:
                brk->open_base_ns = brk->conf.open_ns;
                break;
        default:
                break;
        }
        if (brk->cb)
                brk->cb(from, to, reason, brk->opaque);
}

/* Lock held. The base of the open after this one fails its probes. */
static int64_t backed_off(const fg_brk_t *brk) {
        double d = (double)brk->open_base_ns * brk->conf.open_backoff;

        return d >= (double)brk->conf.open_max_ns ? brk->conf.open_max_ns : llround(d);
}

/* Lock held: re-open from HALF_OPEN with the next, longer duration. */
static void reopen(fg_brk_t *brk, int64_t now_ns, const char *reason) {
        brk->open_base_ns = backed_off(brk);
        enter(brk, FG_BRK_OPEN, now_ns, reason);
}

/* Lock held: the lazy time-driven transition every call applies first. */
static int64_t tick(fg_brk_t *brk, int64_t now_ns) {
        now_ns = clock_in(brk, now_ns);
        if (brk->state == FG_BRK_HALF_OPEN &&
            now_ns - brk->half_open_since_ns >= brk->conf.half_open_max_wait_ns) {
                char ms[32], reason[96];

                fmt_ms(ms, sizeof(ms), brk->conf.half_open_max_wait_ns);
                snprintf(reason, sizeof(reason), "half-open max wait %s exceeded", ms);
                reopen(brk, now_ns, reason);
        }
        return now_ns;
}

/* "failure rate 62.0% >= 50.0% over 20 calls" into @p reason when
 * @p failures or @p slow out of @p calls reach a threshold. Lock held. */
static bool should_open(const fg_brk_t *brk, uint64_t failures, uint64_t slow, uint64_t calls,
                        const char *prefix, char *reason, size_t size) {
        const char *what;
        uint64_t num;
        double threshold;

        if (fg_brk_rate_reached(failures, calls, brk->fail_ppm)) {
                what = "failure rate";
                num = failures;
                threshold = brk->conf.failure_rate_threshold;
        } else if (fg_brk_rate_reached(slow, calls, brk->slow_ppm)) {
                what = "slow-call rate";
                num = slow;
                threshold = brk->conf.slow_call_rate_threshold;
        } else {
                return false;
        }
        snprintf(reason, size, "%s%s %.1f%% >= %.1f%% over %" PRIu64 " calls", prefix, what,
                 100.0 * (double)num / (double)calls, 100.0 * threshold, calls);
        return true;
}

/* Any thread; takes the lock. */
bool fg_brk_acquire(fg_brk_t *brk, int64_t now_ns, fg_brk_permit_t *permit) {
        bool ok = false;

        permit->generation = 0;
        permit->half_open = false;
        pthread_mutex_lock(&brk->lock);
        now_ns = tick(brk, now_ns);
        if (brk->state == FG_BRK_OPEN && now_ns >= brk->open_until_ns) {
                char ms[32], reason[64];

                fmt_ms(ms, sizeof(ms), brk->open_dur_ns);
                snprintf(reason, sizeof(reason), "open for %s", ms);
                enter(brk, FG_BRK_HALF_OPEN, now_ns, reason);
        }
        switch (brk->state) {
        case FG_BRK_CLOSED:
        case FG_BRK_DISABLED:
                ok = true;
                break;
        case FG_BRK_HALF_OPEN:
                if (brk->probes_out + brk->probes_done < brk->conf.half_open_calls) {
                        brk->probes_out++;
                        permit->half_open = true;
                        ok = true;
                }
                break;
        default:
                break;
        }
        if (ok)
                permit->generation = brk->generation;
        else
                brk->not_permitted++;
        pthread_mutex_unlock(&brk->lock);
        return ok;
}

/* Lock held, HALF_OPEN: a probe's counted outcome; decides after the last. */
static void probe_done(fg_brk_t *brk, bool failed, bool slow, int64_t now_ns) {
        uint64_t n = (uint64_t)brk->conf.half_open_calls;
        char reason[128];

        brk->probes_out--;
        brk->probes_done++;
        brk->probe_failures += failed;
        brk->probe_slow += slow;
        if (brk->probes_done < brk->conf.half_open_calls)
                return;
        if (should_open(brk, (uint64_t)brk->probe_failures, (uint64_t)brk->probe_slow, n,
                        "probes: ", reason, sizeof(reason))) {
                reopen(brk, now_ns, reason);
        } else {
                snprintf(reason, sizeof(reason), "probes: %" PRIu64 "/%" PRIu64 " succeeded",
                         n - (uint64_t)brk->probe_failures, n);
                enter(brk, FG_BRK_CLOSED, now_ns, reason);
        }
}

/* Any thread; takes the lock. */
void fg_brk_record(fg_brk_t *brk, const fg_brk_permit_t *permit, fg_brk_outcome_t outcome,
                   int64_t duration_ns, int64_t now_ns) {
        bool failed = outcome == FG_BRK_FAILURE || outcome == FG_BRK_BACKPRESSURE;
        bool slow = duration_ns > brk->conf.slow_call_ns;
        char reason[128];

        if (!permit || !brk_normal(brk))
                return;
        pthread_mutex_lock(&brk->lock);
        now_ns = tick(brk, now_ns);
        if (permit->generation != brk->generation)
                goto done; /* stale: issued before the last transition */
        if (brk->state == FG_BRK_CLOSED && outcome != FG_BRK_IGNORED) {
                fg_brk_win_add(&brk->win, failed, slow, now_ns);
                brk->consecutive = failed ? brk->consecutive + 1 : 0;
                if (brk->win.calls >= (uint64_t)brk->conf.min_calls &&
                    should_open(brk, brk->win.failures, brk->win.slow, brk->win.calls, "", reason,
                                sizeof(reason))) {
                        enter(brk, FG_BRK_OPEN, now_ns, reason);
                } else if (brk->conf.consecutive_failures > 0 &&
                           brk->consecutive >= (uint64_t)brk->conf.consecutive_failures) {
                        snprintf(reason, sizeof(reason), "%" PRIu64 " consecutive failures",
                                 brk->consecutive);
                        enter(brk, FG_BRK_OPEN, now_ns, reason);
                }
        } else if (brk->state == FG_BRK_HALF_OPEN && permit->half_open && brk->probes_out > 0) {
                if (outcome == FG_BRK_IGNORED)
                        brk->probes_out--; /* back to the pool: another probe may go */
                else
                        probe_done(brk, failed, slow, now_ns);
        }
done:
        pthread_mutex_unlock(&brk->lock);
}

/* Any thread; takes the lock. */
void fg_brk_release(fg_brk_t *brk, const fg_brk_permit_t *permit, int64_t now_ns) {
        if (!permit || !brk_normal(brk))
                return;
        pthread_mutex_lock(&brk->lock);
        tick(brk, now_ns);
        if (permit->generation == brk->generation && brk->state == FG_BRK_HALF_OPEN &&
            permit->half_open && brk->probes_out > 0)
                brk->probes_out--;
        pthread_mutex_unlock(&brk->lock);
}

/* Lock held: the state as reported (OPEN past its end reads HALF_OPEN). */
static fg_brk_state_t seen_state(const fg_brk_t *brk, int64_t now_ns) {
        if (brk->state == FG_BRK_OPEN && now_ns >= brk->open_until_ns)
                return FG_BRK_HALF_OPEN;
        return brk->state;
}

/* Any thread; takes the lock. */
/* Any thread, no lock (the cfg is immutable). */
fg_brk_when_open_t fg_brk_when_open(const fg_brk_t *brk) {
        return brk->conf.when_open;
}

fg_brk_state_t fg_brk_state(fg_brk_t *brk, int64_t now_ns) {
        fg_brk_state_t s;

        pthread_mutex_lock(&brk->lock);
        now_ns = tick(brk, now_ns);
        s = seen_state(brk, now_ns);
        pthread_mutex_unlock(&brk->lock);
        return s;
}

/* Any thread; takes the lock. */
int64_t fg_brk_wait_ns(fg_brk_t *brk, int64_t now_ns) {
        int64_t wait = 0;

        pthread_mutex_lock(&brk->lock);
        now_ns = tick(brk, now_ns);
        switch (brk->state) {
        case FG_BRK_OPEN:
                wait = brk->open_until_ns > now_ns ? brk->open_until_ns - now_ns : 0;
                break;
        case FG_BRK_HALF_OPEN:
                /* All probes out: wait for their outcomes, but no longer
                 * than the max wait — a caller waking then lets tick()
                 * re-open a breaker whose probe never reported. */
                if (brk->probes_out + brk->probes_done >= brk->conf.half_open_calls) {
                        int64_t end = brk->half_open_since_ns + brk->conf.half_open_max_wait_ns;
                        wait = end > now_ns ? end - now_ns : 0;
                }
                break;
        case FG_BRK_FORCED_OPEN:
                wait = INT64_MAX;
                break;
        default:
                break;
        }
        pthread_mutex_unlock(&brk->lock);
        return wait;
}

/* Any thread; takes the lock. */
void fg_brk_get_stats(fg_brk_t *brk, int64_t now_ns, fg_brk_stats_t *out) {
        const fg_brk_win_t *w = &brk->win;

        pthread_mutex_lock(&brk->lock);
        now_ns = tick(brk, now_ns);
        fg_brk_win_advance(&brk->win, now_ns);
        out->state = seen_state(brk, now_ns);
        out->window_calls = w->calls;
        out->consecutive_failures = brk->consecutive;
        if (w->calls >= (uint64_t)brk->conf.min_calls) {
                out->failure_rate = (double)w->failures / (double)w->calls;
                out->slow_rate = (double)w->slow / (double)w->calls;
        } else {
                out->failure_rate = out->slow_rate = -1;
        }
        out->not_permitted = brk->not_permitted;
        for (int i = 0; i < FG_BRK__STATE_CNT; i++)
                out->transitions[i] = brk->transitions[i];
        out->open_remaining_ns = 0;
        if (brk->state == FG_BRK_OPEN && brk->open_until_ns > now_ns)
                out->open_remaining_ns = brk->open_until_ns - now_ns;
        /* OPEN: this open's (jittered) duration; HALF_OPEN: the base of
         * the open that failed probes would start; otherwise open_ns. */
        if (out->state == FG_BRK_OPEN)
                out->current_open_ns = brk->open_dur_ns;
        else if (out->state == FG_BRK_HALF_OPEN)
                out->current_open_ns = backed_off(brk);
        else
                out->current_open_ns = brk->open_base_ns;
        pthread_mutex_unlock(&brk->lock);
}

/* Any thread (static strings). */
const char *fg_brk_state_name(fg_brk_state_t s) {
        static const char *names[FG_BRK__STATE_CNT] = {
            [FG_BRK_CLOSED]      = "closed",
            [FG_BRK_OPEN]        = "open",
            [FG_BRK_HALF_OPEN]   = "half_open",
            [FG_BRK_FORCED_OPEN] = "forced_open",
            [FG_BRK_DISABLED]    = "disabled",
        };
        if ((unsigned)s >= FG_BRK__STATE_CNT)
                return "unknown";
        return names[s];
}
