/*
 * offsets: per-partition completion tracking for at-least-once commits.
 *
 * DESIGN
 * For each assigned partition the ingest thread registers every message it
 * hands to the queue, in fetch order, and gets back a sequence number. Workers
 * complete messages in any order. The ingest thread periodically retires the
 * contiguous prefix of completed messages; the offset after the last retired
 * one is the only offset that may be stored for commit. A message that was
 * abandoned (revoked, shutdown) is never completed, so nothing at or after it
 * is committed and Kafka redelivers it.
 *
 * The record of outstanding messages is a ring indexed by sequence number,
 * grown by doubling under the partition's lock; its size is bounded by what
 * the queue and the workers can hold for that partition.
 *
 * Batching: the ingest thread tracks, and workers complete, runs of
 * messages of one partition under one lock acquisition (fg_part_lock +
 * the _locked calls), which is what keeps the per-message cost low.
 *
 * Ordered queues (workers.ordering) also keep here how many of the
 * partition's events wait behind an earlier event of their key
 * (fg_part_blocked_add), so
 * ingest can hold back just the partition that a hot key clogs.
 *
 * Threading: fg_part_new, fg_part_track, fg_part_untrack_last,
 * fg_part_advance, fg_part_wait_idle: ingest thread. fg_part_done,
 * fg_part_discard: whichever thread owns the item (workers, or ingest when
 * it purges the queue). fg_part_ref/unref, fg_part_pending, fg_part_id,
 * fg_part_blocked: any thread. fg_part_blocked_add: the queue, under its
 * lock.
 * Locks: one mutex per partition, a leaf lock (never held while taking
 * another).
 * Ownership: reference counted. fg_part_new returns one reference for the
 * caller (the ingest thread's assignment table); each item holds another.
 */
#ifndef FG_OFFSETS_H
#define FG_OFFSETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fg_part fg_part_t;

fg_part_t *fg_part_new(const char *topic, int32_t partition);
void fg_part_ref(fg_part_t *p);
void fg_part_unref(fg_part_t *p);
/* Take or drop @p n references at once. */
void fg_part_ref_n(fg_part_t *p, int n);
void fg_part_unref_n(fg_part_t *p, int n);

/* For runs: hold the partition's lock around several _locked calls. */
void fg_part_lock(fg_part_t *p);
void fg_part_unlock(fg_part_t *p);
/* fg_part_track / fg_part_done with the lock already held. */
uint64_t fg_part_track_locked(fg_part_t *p, int64_t offset);
void fg_part_done_locked(fg_part_t *p, uint64_t seq);

const char *fg_part_topic(const fg_part_t *p);
int32_t fg_part_partition(const fg_part_t *p);
/* A hash of (topic, partition), fixed at creation: the same for every
 * assignment of that partition. */
uint64_t fg_part_id(const fg_part_t *p);

/* Events of the partition waiting in an ordered queue behind an earlier
 * event of their key (in flight or not yet taken), and their bytes: the queue adds (and subtracts) under its lock; anyone
 * reads (relaxed atomics). */
void fg_part_blocked_add(fg_part_t *p, int64_t msgs, int64_t bytes);
void fg_part_blocked(const fg_part_t *p, size_t *msgs, size_t *bytes);

/* Registers @p offset, which must be greater than any tracked before;
 * returns its sequence number. */
uint64_t fg_part_track(fg_part_t *p, int64_t offset);
/* Undoes the most recent fg_part_track (its message was not queued). */
void fg_part_untrack_last(fg_part_t *p, uint64_t seq);
/* Undoes every fg_part_track from @p seq on (those messages were not
 * queued); they must all still be pending. */
void fg_part_untrack_from(fg_part_t *p, uint64_t seq);

/* The message at @p seq reached its final outcome. */
void fg_part_done(fg_part_t *p, uint64_t seq);
/* The message at @p seq is given up: it stops counting as pending but is
 * never retired, so no later offset is committed either. */
void fg_part_discard(fg_part_t *p, uint64_t seq);

/* Retires the completed prefix. Returns how many messages it retired; when
 * that is not 0, sets @p *next_offset to the offset to store (last retired
 * offset + 1). The count is what commit pacing counts (kafka.commit_every):
 * messages, not offsets, which a compacted or transactional topic skips. */
size_t fg_part_advance(fg_part_t *p, int64_t *next_offset);

/* Tracked messages neither done nor discarded. */
size_t fg_part_pending(fg_part_t *p);
/* Tracked messages not yet retired (pending, done-but-blocked, discarded). */
size_t fg_part_outstanding(fg_part_t *p);

/* Waits until nothing is pending, or until @p timeout_ns passes. Returns
 * true when idle. */
bool fg_part_wait_idle(fg_part_t *p, int64_t timeout_ns);

#endif
