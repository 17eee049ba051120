/*
 * clock: the time sources of floodgate.
 *
 * Threading: any thread. Monotonic time drives timeouts and latencies;
 * wall time is only compared with Kafka message timestamps.
 */
#ifndef FG_CLOCK_H
#define FG_CLOCK_H

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

#endif
