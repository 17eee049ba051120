/*
 * ratelimit: a token bucket for messages that may come in floods (a
 * library's log at the file-descriptor limit): up to @c burst at once,
 * then @c per_s a second, and a count of what was held back so the next
 * message can say so.
 *
 * Threading: pure logic, no lock: the caller serialises calls on one
 * limiter (the clock is passed in, so tests need no sleeps).
 * Ownership: a plain struct the caller owns.
 */
#ifndef FG_RATELIMIT_H
#define FG_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct fg_ratelimit {
        double burst, per_s;  /* set by fg_ratelimit_init */
        double tokens;
        int64_t last_ns;      /* INT64_MIN: never used */
        uint64_t suppressed;  /* refused since the last allowed message */
} fg_ratelimit_t;

void fg_ratelimit_init(fg_ratelimit_t *rl, unsigned burst, double per_s);

/* Whether a message at @p now_ns may go out. When it may, *@p suppressed
 * gets how many were refused since the last one that went out (then 0
 * again). */
bool fg_ratelimit_allow(fg_ratelimit_t *rl, int64_t now_ns, uint64_t *suppressed);

#endif
