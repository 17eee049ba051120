/*
 * breaker_window: the breaker's sliding windows (see breaker_int.h).
 *
 * DESIGN
 * Both windows keep running totals (calls, failures, slow calls), so an
 * update and a rate read are O(1):
 * - COUNT keeps one byte of flags per call in a ring of window_size slots;
 *   once full, each new call first subtracts the slot it overwrites.
 * - TIME keeps window_size one-second buckets, the second of a call being
 *   floor(now_ns / 1e9). Advancing to a later second empties the buckets
 *   that fell out (amortised O(1): each bucket is emptied at most once per
 *   second the clock moves; a gap of window_size seconds or more empties
 *   all of them at once). The window is the current, partial second plus
 *   the window_size - 1 before it, as in resilience4j: an outcome stops
 *   counting between window_size - 1 and window_size seconds after it.
 *   The breaker advances the window before every read, so a quiet period
 *   empties it even though nothing is recorded.
 *
 * Threading: the owning breaker's lock is held for every call.
 * Ownership: the ring / buckets belong to the window.
 */
#include "breaker/breaker_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/clock.h"

#define FLAG_FAILED 0x1u
#define FLAG_SLOW   0x2u

/* floor(a / b) for b > 0: seconds before the epoch of the clock (only in
 * tests with odd clocks) still get their own bucket. */
static int64_t floor_div(int64_t a, int64_t b) {
        int64_t q = a / b;
        return (a % b != 0 && a < 0) ? q - 1 : q;
}

static int64_t mod_pos(int64_t a, int64_t b) {
        int64_t r = a % b;
        return r < 0 ? r + b : r;
}

/* Called with the breaker's lock held. */
int fg_brk_win_init(fg_brk_win_t *w, fg_brk_window_t kind, int64_t size) {
        memset(w, 0, sizeof(*w));
        w->kind = kind;
        w->size = size;
        if (kind == FG_BRK_WINDOW_COUNT)
                w->ring = calloc((size_t)size, sizeof(*w->ring));
        else
                w->buckets = calloc((size_t)size, sizeof(*w->buckets));
        return (w->ring || w->buckets) ? 0 : -1;
}

/* Called with the breaker's lock held, or from its destructor. */
void fg_brk_win_free(fg_brk_win_t *w) {
        free(w->ring);
        free(w->buckets);
        w->ring = NULL;
        w->buckets = NULL;
}

/* Called with the breaker's lock held. O(1) for COUNT (the ring is
 * overwritten before it is read again); O(window_size) for TIME, only on
 * a state change. */
void fg_brk_win_clear(fg_brk_win_t *w) {
        w->calls = w->failures = w->slow = 0;
        w->head = 0;
        if (w->buckets)
                memset(w->buckets, 0, (size_t)w->size * sizeof(*w->buckets));
}

static void bucket_evict(fg_brk_win_t *w, fg_brk_bucket_t *bk) {
        w->calls -= bk->calls;
        w->failures -= bk->failures;
        w->slow -= bk->slow;
        memset(bk, 0, sizeof(*bk));
}

/* Called with the breaker's lock held. */
void fg_brk_win_advance(fg_brk_win_t *w, int64_t now_ns) {
        int64_t sec;

        if (w->kind != FG_BRK_WINDOW_TIME)
                return;
        sec = floor_div(now_ns, FG_NS_PER_S);
        if (!w->started) {
                w->started = true;
                w->head_sec = sec;
                return;
        }
        if (sec <= w->head_sec)
                return;
        if (sec - w->head_sec >= w->size) {
                fg_brk_win_clear(w);
        } else {
                for (int64_t s = w->head_sec + 1; s <= sec; s++)
                        bucket_evict(w, &w->buckets[mod_pos(s, w->size)]);
        }
        w->head_sec = sec;
}

/* Called with the breaker's lock held. */
void fg_brk_win_add(fg_brk_win_t *w, bool failed, bool slow, int64_t now_ns) {
        if (w->kind == FG_BRK_WINDOW_COUNT) {
                uint8_t *slot = &w->ring[w->head];

                if (w->calls == (uint64_t)w->size) {
                        w->calls--;
                        w->failures -= (*slot & FLAG_FAILED) ? 1 : 0;
                        w->slow -= (*slot & FLAG_SLOW) ? 1 : 0;
                }
                *slot = (uint8_t)((failed ? FLAG_FAILED : 0) | (slow ? FLAG_SLOW : 0));
                w->head = (w->head + 1) % w->size;
        } else {
                int64_t sec;
                fg_brk_bucket_t *bk;

                fg_brk_win_advance(w, now_ns);
                sec = floor_div(now_ns, FG_NS_PER_S);
                /* A call that ended before the window (a caller's clock
                 * read long before it took the lock) no longer counts. */
                if (sec <= w->head_sec - w->size)
                        return;
                bk = &w->buckets[mod_pos(sec, w->size)];
                bk->calls++;
                bk->failures += failed;
                bk->slow += slow;
        }
        w->calls++;
        w->failures += failed;
        w->slow += slow;
}

/* a * b as a 128-bit hi:lo pair, in portable C. */
static void mul_u64(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo) {
        uint64_t al = a & 0xffffffffu, ah = a >> 32, bl = b & 0xffffffffu, bh = b >> 32;
        uint64_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
        uint64_t mid = (ll >> 32) + (lh & 0xffffffffu) + (hl & 0xffffffffu);

        *lo = (mid << 32) | (ll & 0xffffffffu);
        *hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
}

/* Any thread, no lock needed (pure). Compares num * 1e6 with ppm * calls
 * in 128 bits, so 49/100 against 500000 ppm is below and 50/100 is at the
 * threshold with no floating-point rounding anywhere. */
bool fg_brk_rate_reached(uint64_t num, uint64_t calls, uint64_t ppm) {
        uint64_t nh, nl, th, tl;

        if (calls == 0)
                return false;
        mul_u64(num, 1000000u, &nh, &nl);
        mul_u64(ppm, calls, &th, &tl);
        return nh > th || (nh == th && nl >= tl);
}
