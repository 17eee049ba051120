/*
 * ratelim: see ratelim.h.
 *
 * Locks: rl->lock guards every field. Tokens are kept in events x 1e9 (per
 * ns of rate) as integers, so refills never lose fractions of a token.
 */
#include "common/ratelim.h"

#include <pthread.h>
#include <stdlib.h>

#include "common/clock.h"

struct fg_ratelim {
        pthread_mutex_t lock;
        int64_t rate;      /* events per second */
        int64_t burst;     /* events */
        __int128 tokens;   /* events x FG_NS_PER_S; may be negative (debt) */
        int64_t last_ns;   /* when tokens were last brought up to date */
};

/* Any thread. */
fg_ratelim_t *fg_ratelim_new(int64_t rate, int64_t burst, int64_t now_ns) {
        fg_ratelim_t *rl;

        if (rate < 1 || burst < 0 || !(rl = calloc(1, sizeof(*rl))))
                return NULL;
        rl->rate = rate;
        rl->burst = burst ? burst : rate;
        rl->tokens = (__int128)rl->burst * FG_NS_PER_S;
        rl->last_ns = now_ns;
        pthread_mutex_init(&rl->lock, NULL);
        return rl;
}

/* Any thread, once no other uses it. */
void fg_ratelim_destroy(fg_ratelim_t *rl) {
        if (!rl)
                return;
        pthread_mutex_destroy(&rl->lock);
        free(rl);
}

/* Any thread. */
int64_t fg_ratelim_take(fg_ratelim_t *rl, int64_t n, int64_t now_ns) {
        __int128 full = (__int128)rl->burst * FG_NS_PER_S, need;
        int64_t wait = 0;

        pthread_mutex_lock(&rl->lock);
        if (now_ns > rl->last_ns) {
                rl->tokens += (__int128)(now_ns - rl->last_ns) * rl->rate;
                if (rl->tokens > full)
                        rl->tokens = full;
                rl->last_ns = now_ns;
        }
        need = (__int128)(n < rl->burst ? n : rl->burst) * FG_NS_PER_S;
        if (rl->tokens >= need)
                rl->tokens -= (__int128)n * FG_NS_PER_S;
        else
                /* Round up: asking again after exactly this long succeeds. */
                wait = (int64_t)((need - rl->tokens + rl->rate - 1) / rl->rate);
        pthread_mutex_unlock(&rl->lock);
        return wait;
}
