/*
 * breaker_int: the breaker's sliding window, shared by breaker.c (the state
 * machine) and breaker_window.c (the window). Not part of the public API.
 *
 * Threading: none of its own — every fg_brk_win_* function runs with the
 * owning breaker's lock held.
 * Ownership: the window belongs to its breaker; fg_brk_win_init allocates,
 * fg_brk_win_free releases.
 */
#ifndef FG_BREAKER_INT_H
#define FG_BREAKER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "breaker/breaker.h"

/* Upper bounds on window_size: memory (one byte per call, 24 bytes per
 * second) and the time spent clearing a window on every trip. */
#define FG_BRK_COUNT_WINDOW_MAX 1000000
#define FG_BRK_TIME_WINDOW_MAX  3600

typedef struct fg_brk_bucket {
        uint64_t calls, failures, slow;
} fg_brk_bucket_t;

typedef struct fg_brk_win {
        fg_brk_window_t kind;
        int64_t size;           /* slots (COUNT) or one-second buckets (TIME) */
        /* Running totals over the whole window: rates read in O(1). */
        uint64_t calls, failures, slow;
        /* COUNT: ring of per-call flags, oldest at head once full. */
        uint8_t *ring;
        int64_t head;           /* next slot to write */
        /* TIME: bucket of second s at buckets[s mod size]; the window holds
         * seconds (head_sec - size, head_sec]. */
        fg_brk_bucket_t *buckets;
        int64_t head_sec;
        bool started;           /* head_sec is meaningful */
} fg_brk_win_t;

/* 0, or -1 when out of memory. @p size already validated. */
int fg_brk_win_init(fg_brk_win_t *w, fg_brk_window_t kind, int64_t size);
void fg_brk_win_free(fg_brk_win_t *w);
/* Forgets every outcome. */
void fg_brk_win_clear(fg_brk_win_t *w);
/* TIME: drops the buckets older than window_size seconds at @p now_ns
 * (called before every read of the totals); COUNT: nothing to do. */
void fg_brk_win_advance(fg_brk_win_t *w, int64_t now_ns);
/* Adds one counted outcome that ended at @p now_ns. */
void fg_brk_win_add(fg_brk_win_t *w, bool failed, bool slow, int64_t now_ns);

/* num / calls >= ppm / 1e6, exactly for any realistic count (see
 * breaker_window.c). */
bool fg_brk_rate_reached(uint64_t num, uint64_t calls, uint64_t ppm);

#endif
