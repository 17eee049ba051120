/*
 * ingest_int: what ingest.c and assign.c share. Everything here runs on the
 * ingest thread unless its comment says otherwise.
 */
#ifndef FG_INGEST_INT_H
#define FG_INGEST_INT_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "ingest/ingest.h"
#include "ingest/lag.h"
#include "pipeline/offsets.h"

/* Messages gathered before a push; twice that may be pending, the second
 * half only while paused. */
#define FG_INGEST_BATCH       256
#define FG_INGEST_PENDING_MAX (2 * FG_INGEST_BATCH)

/* The consumer group's join state as librdkafka last reported it
 * (commit.c). */
typedef enum {
        FG_JOIN_UNKNOWN,   /* nothing reported (yet) */
        FG_JOIN_REJOINING, /* any state but steady: commits wait */
        FG_JOIN_STEADY,
} fg_join_state_t;

/* One assigned partition. */
typedef struct fg_ingest_prec {
        fg_part_t *part;        /* the table's reference */
        int32_t partition;
        int64_t eof_offset;     /* end offset reported at EOF, -1 when not at end */
        int64_t finished;       /* offset after the retired prefix; -1 = nothing retired yet */
        bool unstored;          /* finished moved since it was last stored */
        bool paused;            /* paused by us */
        bool held;              /* paused alone: a hot key clogs it (admit.c) */
} fg_ingest_prec_t;

/* Assigned partitions of one topic, indexed by partition number. */
typedef struct fg_ingest_topic {
        char *name;
        const rd_kafka_topic_t *rkt; /* handle last seen on a message, for a cheap match */
        fg_ingest_prec_t **parts;
        int32_t nparts;
} fg_ingest_topic_t;

struct fg_ingest {
        rd_kafka_t *rk;
        rd_kafka_queue_t *cq;               /* the consumer queue, for yield */
        rd_kafka_topic_partition_list_t *topics; /* subscription */
        fg_queue_t *q;
        fg_metrics_t *metrics;
        fg_mshard_t *shard;
        int64_t rebalance_timeout_ns;
        int64_t pause_after_ns;

        /* Commit pacing (see ingest.h): finished messages not yet stored,
         * when offsets were last stored, and since when everything
         * assigned has been drained (0 = not drained). */
        uint64_t commit_every;          /* 0 = by time only */
        int64_t commit_interval_ns;     /* the user's auto.commit.interval.ms */
        uint64_t unstored;
        int64_t last_store_ns;          /* last store decision */
        int64_t stored_ns;              /* last store that stored something */

        /* Our commits (commit.c): at most one outstanding. */
        rd_kafka_queue_t *commitq;      /* their results */
        bool commit_due;                /* stored offsets wait for a commit */
        bool committing;                /* one is outstanding */
        bool join_warned;
        bool user_debug;                /* kafka.properties set debug: log its chatter */
        int64_t commit_sent_ns;         /* when the outstanding one was sent */
        int64_t commit_ok_ns;           /* send time of the last successful one */
        int64_t commit_not_before_ns;   /* retry backoff after a refusal */
        _Atomic fg_join_state_t join_state; /* written by librdkafka's log callback */
        int64_t drained_since_ns;
        uint64_t pushed_since_tick;
        pthread_t thread;
        bool started;

        fg_ingest_topic_t *tab;
        size_t ntab;
        unsigned nassigned;
        bool blocked;   /* queue full: not taking messages */
        int64_t blocked_since_ns;
        bool paused;    /* blocked for longer than pause_after: partitions paused */
        bool draining;

        /* Messages polled but not yet queued: pushed together to pay for
         * one lock and one worker wake-up per batch, not per message; what
         * the queue has no room for waits here. [0, ntracked) are already
         * registered with their partition's offset tracker. */
        fg_item_t batch[FG_INGEST_PENDING_MAX];
        size_t nbatch;
        size_t ntracked;

        fg_lag_t lag;   /* any thread, own lock */

        _Atomic bool drain_req;
        _Atomic bool stop_req;
        _Atomic unsigned assigned_pub;
        _Atomic unsigned paused_pub;
        _Atomic bool drained_pub;
        _Atomic unsigned pending_pub;
        _Atomic bool blocked_pub;
        _Atomic unsigned held_pub;
        _Atomic int64_t first_msg_ns; /* monotonic, 0 = none yet */
        _Atomic int64_t heartbeat_ns; /* monotonic, last loop turn */
};

typedef enum {
        FG_COLLECT_ALL,
        FG_COLLECT_PAUSED,
        FG_COLLECT_UNPAUSED,
} fg_collect_t;

/* librdkafka callbacks (ingest thread, inside consumer_poll). */
void fg_ingest_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t *parts, void *opaque);
int fg_ingest_stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque);

fg_ingest_prec_t *fg_ingest_lookup(fg_ingest_t *in, const rd_kafka_topic_t *rkt,
                                   int32_t partition);
/* A new list of the assigned partitions selected by @p which. */
rd_kafka_topic_partition_list_t *fg_ingest_collect(fg_ingest_t *in, fg_collect_t which);
void fg_ingest_mark_paused(fg_ingest_t *in, const rd_kafka_topic_partition_list_t *list,
                           bool paused);
void fg_ingest_pause_all(fg_ingest_t *in);
/* Pushes the pending batch into the queue, as much as fits (see ingest.c). */
void fg_ingest_flush(fg_ingest_t *in);
/* Drops pending (never queued) messages of the partitions @p drop selects. */
void fg_ingest_drop_pending(fg_ingest_t *in, bool (*drop)(const fg_part_t *part, void *opaque),
                            void *opaque);
/* Retires completed prefixes into each partition's finished offset;
 * returns how many messages were retired. */
uint64_t fg_ingest_advance_all(fg_ingest_t *in);
/* Stores every finished offset not stored yet (rd_kafka_offsets_store);
 * returns how many partitions it stored. */
int fg_ingest_store_all(fg_ingest_t *in);
/* Every assigned partition is at its end with nothing outstanding. */
bool fg_ingest_all_at_end(fg_ingest_t *in);
/* Drops the whole table (after the consumer closed). */
void fg_ingest_table_clear(fg_ingest_t *in);
/* commit.c: asks librdkafka to log its join-state changes (debug=cgrp,
 * added to the user's) and installs the log callback that follows them;
 * before rd_kafka_new. 0, or -1 with the reason. */
int fg_ingest_commit_conf(fg_ingest_t *in, rd_kafka_conf_t *conf, char *errstr,
                          size_t errstr_size);
/* The join state a librdkafka log line reports, FG_JOIN_UNKNOWN when it
 * reports none (exposed for its test). Any thread. */
fg_join_state_t fg_ingest_join_state_of(const char *fac, const char *line);
/* Counts a commit's result (the paced ones', a revocation's, the last
 * one); librdkafka's offset-commit callback (ingest thread). */
void fg_ingest_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *offsets, void *opaque);
/* Reads the outstanding commit's result; sends the due one when none is
 * outstanding, the retry backoff has passed and the group is not
 * rejoining. Cheap when there is nothing to do: call every turn. */
void fg_ingest_commit_service(fg_ingest_t *in);
/* admit.c: holds (pauses alone) the partitions whose events wait behind
 * earlier events of their keys beyond their share of the queue; resumes
 * them once they drain. */
void fg_ingest_admit(fg_ingest_t *in);

#endif
