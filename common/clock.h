/*
 * clock: the time sources of floodgate.
 *
 * Threading: any thread. Monotonic time drives timeouts and latencies;
 * wall time is only compared with Kafka message timestamps.
 */
#ifndef FG_CLOCK_H
#define FG_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#define FG_NS_PER_MS 1000000LL
#define FG_NS_PER_S  1000000000LL

static inline int64_t fg_mono_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * FG_NS_PER_S + ts.tv_nsec;
}

static inline int64_t fg_wall_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / FG_NS_PER_MS;
}

/* A condition variable whose timed waits use CLOCK_MONOTONIC, so deadlines
 * from fg_deadline_in() are immune to wall-clock jumps. */
static inline void fg_cond_init_monotonic(pthread_cond_t *cond) {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(cond, &ca);
        pthread_condattr_destroy(&ca);
}

/* Absolute CLOCK_MONOTONIC deadline @p ns from now, for pthread_cond_timedwait
 * on condition variables created with fg_cond_init_monotonic(). */
static inline struct timespec fg_deadline_in(int64_t ns) {
        int64_t t = fg_mono_ns() + ns;
        struct timespec ts = {.tv_sec = t / FG_NS_PER_S, .tv_nsec = t % FG_NS_PER_S};
        return ts;
}

#endif
