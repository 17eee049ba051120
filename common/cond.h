/*
 * cond: condition variables on the monotonic clock, and the one timed
 * "wait until this holds or the deadline passes" loop every blocking call
 * of floodgate is built on.
 *
 * Threading: any thread, following pthread's rules (the caller holds the
 * mutex the condition variable is used with).
 */
#ifndef FG_COND_H
#define FG_COND_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* A condition variable whose timed waits use CLOCK_MONOTONIC, so deadlines
 * are immune to wall-clock jumps. */
void fg_cond_init_monotonic(pthread_cond_t *cond);

/* Absolute CLOCK_MONOTONIC deadline @p ns from now, for
 * pthread_cond_timedwait on a condition variable from
 * fg_cond_init_monotonic(). */
struct timespec fg_deadline_in(int64_t ns);

/* With @p lock held: waits on @p cond until @p done(@p arg) is true or
 * @p timeout_ns has passed (spurious wake-ups re-check @p done). Returns
 * the last value of @p done, so a condition that became true just as the
 * time ran out still counts. @p done runs with @p lock held. */
bool fg_cond_wait_for(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t timeout_ns,
                      bool (*done)(void *arg), void *arg);

#endif
