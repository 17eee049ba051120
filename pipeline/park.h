/*
 * park: keys whose events follow a dead letter (dead_letter.park_key).
 *
 * DESIGN
 * With workers.ordering partition or key, a key's events go one at a time
 * in offset order. Once one of them is dead-lettered, parking its key sends
 * every later event of that key to the dead-letter topic too (class
 * `parked`, naming the first failure), so the topic holds the key's events
 * from the failure on, in order, and a replay (`floodgate redrive`)
 * restores them in order; other keys keep flowing. A key is identified by
 * (topic, partition, message key); events without a key are never parked.
 *
 * Each park is an episode: `since` (wall-clock ms when the first failure
 * was dead-lettered) names it and every dead letter of it carries its place
 * `seq` (0 for the first failure) in the headers fg.parked.since and
 * fg.parked.seq. A release must say how far the replay got: it succeeds
 * only when no later event of the episode was dead-lettered (the daemon may
 * be parking one while redrive reads), so nothing of the key is left behind
 * in the topic when its events flow to the sink again.
 *
 * The table is bounded by dead_letter.max_parked_keys: when it is full, a
 * new failure is dead-lettered without parking its key (counted as an
 * overflow, logged by the caller). Parked keys live in memory: a restart
 * forgets them.
 *
 * Threading: fg_park_new/destroy: main thread. Everything else: any thread
 * (one internal mutex, a leaf lock; fg_park_count is an atomic read so the
 * workers' per-event check costs nothing while nothing is parked).
 * Ownership: the table copies every string it keeps; fg_park_list fills the
 * caller's array with copies.
 */
#ifndef FG_PARK_H
#define FG_PARK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fg_park fg_park_t;

/* Bytes of a key kept for matching and showing; longer keys match by hash. */
#define FG_PARK_KEY_MAX 256
/* Longest reason kept (the first failure's class and message). */
#define FG_PARK_REASON_MAX 192

/* A dead letter's place in its key's park. */
typedef struct fg_park_ticket {
        int64_t since_ms; /* the episode; 0 = not parked */
        int64_t seq;      /* 0 = the failure that parked the key */
} fg_park_ticket_t;

typedef struct fg_park_view {
        char topic[128];
        int32_t partition;
        char key[FG_PARK_KEY_MAX + 1]; /* NUL-terminated; may be truncated */
        size_t key_len;                /* the real length */
        int64_t since_ms;
        int64_t first_offset;          /* the failure that parked it */
        int64_t events;                /* dead-lettered in this episode */
        char reason[FG_PARK_REASON_MAX];
} fg_park_view_t;

fg_park_t *fg_park_new(size_t max_keys);
void fg_park_destroy(fg_park_t *pk);

/* Keys parked now. */
size_t fg_park_count(const fg_park_t *pk);
/* Events dead-lettered because their key was parked; keys not parked
 * because the table was full. */
uint64_t fg_park_parked_total(const fg_park_t *pk);
uint64_t fg_park_overflow_total(const fg_park_t *pk);
size_t fg_park_max(const fg_park_t *pk);

/* Is this event's key parked? Then it takes the next place in the
 * episode (*@p t) and @p reason gets "parked: <first failure>" for its
 * dead letter. False for keyless events. */
bool fg_park_check(fg_park_t *pk, const char *topic, int32_t partition, const void *key,
                   size_t key_len, fg_park_ticket_t *t, char *reason, size_t reason_size);

/* The event at @p offset is being dead-lettered (@p cls, @p why): parks its
 * key, starting an episode (*@p t gets seq 0). False when not parked:
 * keyless, already parked, or the table is full (*@p full then says so). */
bool fg_park_add(fg_park_t *pk, const char *topic, int32_t partition, const void *key,
                 size_t key_len, int64_t offset, const char *cls, const char *why,
                 fg_park_ticket_t *t, bool *full);

typedef struct fg_park_release_result {
        size_t released;   /* keys let go */
        size_t behind;     /* keys kept: more events parked than replayed */
        size_t other;      /* keys kept: a different episode than @p since_ms */
        int64_t events;    /* for the last key kept as behind: its episode's count */
} fg_park_release_result_t;

/* Lets key @p key go in every (topic, partition) where it is parked, when
 * the replay reached the end of the episode: @p since_ms its episode (< 0:
 * any) and @p through_seq the last place replayed (< 0: release whatever
 * was parked, unchecked — the operator's override). */
void fg_park_release(fg_park_t *pk, const void *key, size_t key_len, int64_t since_ms,
                     int64_t through_seq, fg_park_release_result_t *res);

/* Copies up to @p max parked keys (oldest episode first) into @p out;
 * returns how many. */
size_t fg_park_list(fg_park_t *pk, fg_park_view_t *out, size_t max);

#endif
