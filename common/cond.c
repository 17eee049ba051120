/*
 * cond: see cond.h.
 */
#include "common/cond.h"

#include "common/clock.h"

/* Any thread. */
void fg_cond_init_monotonic(pthread_cond_t *cond) {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(cond, &ca);
        pthread_condattr_destroy(&ca);
}

/* Any thread. */
struct timespec fg_deadline_in(int64_t ns) {
        int64_t t = fg_mono_ns() + ns;
        struct timespec ts = {.tv_sec = t / FG_NS_PER_S, .tv_nsec = t % FG_NS_PER_S};
        return ts;
}

/* Any thread, @p lock held. */
bool fg_cond_wait_for(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t timeout_ns,
                      bool (*done)(void *arg), void *arg) {
        struct timespec deadline = fg_deadline_in(timeout_ns);

        while (!done(arg))
                if (pthread_cond_timedwait(cond, lock, &deadline) != 0)
                        break;
        return done(arg);
}
