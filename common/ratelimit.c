/*
 * ratelimit: see ratelimit.h.
 */
#include "common/ratelimit.h"

#include "common/clock.h"

/* Any thread, on a limiter the caller serialises. */
void fg_ratelimit_init(fg_ratelimit_t *rl, unsigned burst, double per_s) {
        rl->burst = burst;
        rl->per_s = per_s;
        rl->tokens = burst;
        rl->last_ns = INT64_MIN;
        rl->suppressed = 0;
}

/* Any thread, on a limiter the caller serialises. */
bool fg_ratelimit_allow(fg_ratelimit_t *rl, int64_t now_ns, uint64_t *suppressed) {
        if (rl->last_ns != INT64_MIN && now_ns > rl->last_ns) {
                rl->tokens += (double)(now_ns - rl->last_ns) / FG_NS_PER_S * rl->per_s;
                if (rl->tokens > rl->burst)
                        rl->tokens = rl->burst;
        }
        if (rl->last_ns == INT64_MIN || now_ns > rl->last_ns)
                rl->last_ns = now_ns;
        if (rl->tokens < 1) {
                rl->suppressed++;
                return false;
        }
        rl->tokens -= 1;
        *suppressed = rl->suppressed;
        rl->suppressed = 0;
        return true;
}
