/*
 * redrive: `floodgate redrive` — replays the dead-letter topic through the
 * configured handler and sink, and releases the replayed keys parked in a
 * running daemon (dead_letter.park_key, pipeline/park.h).
 *
 * DESIGN
 * One consumer in its own group (<kafka.group_id>.redrive) reads every
 * partition of dead_letter.topic from the group's committed offset to the
 * end it had when the run started, one message at a time: a key's dead
 * letters sit in one partition of that topic (they keep their key), so
 * this replays each key in the order its events were dead-lettered, which
 * for a parked key is its offset order. Each message's fg.* headers are
 * stripped, the original coordinates (fg.source.*) restored, and the event
 * goes through the handler and the sink with the sink's retry policy. An
 * event that fails again goes back to the dead-letter topic with its fg.*
 * headers re-added (the new reason, the original source and park place);
 * the key's later events in the run follow it there (class parked), so the
 * key keeps its order and stays parked.
 *
 * Selection: --key K (repeatable) replays only those keys, --since T only
 * dead letters written at or after T; without either, everything. The
 * group's offset moves over a message only once every message before it is
 * settled (replayed or re-dead-lettered): messages a filter passes over
 * stay for a later run. What a filtered run settled beyond the committed
 * offset is recorded in the commit's metadata ("fgr1;FROM-TO:MIN_TS:KEY..."
 * per partition), so a later run does not replay it again; a run without
 * filters settles everything and clears the record. The record is bounded
 * (FG_REDRIVE_META_MAX bytes): a filtered run that would outgrow it is
 * refused with advice to run without filters.
 *
 * Release: for every key whose replayed dead letters carried a park place
 * (fg.parked.since, fg.parked.seq) and none of which failed again, redrive
 * POSTs /parked/release to the daemon's admin address with the episode and
 * the last place replayed. If the daemon parked more of the key meanwhile
 * (409), redrive reads on to the topic's new end for those keys and tries
 * again, up to FG_REDRIVE_ROUNDS times.
 *
 * Threading: the caller's thread; librdkafka's own threads behind the
 * consumer. *stop (set by a signal handler) ends the run at the next
 * message or backoff; what was settled is committed.
 * Ownership: borrows everything in fg_redrive_cfg_t.
 */
#ifndef FG_REDRIVE_H
#define FG_REDRIVE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "handler/handler.h"
#include "kafka/kconf.h"
#include "sinks/dead_letter.h"
#include "sinks/sink.h"

/* Bytes of commit metadata per partition redrive will write (brokers keep
 * up to offset.metadata.max.bytes, 4096 by default). */
#define FG_REDRIVE_META_MAX 3000
/* Release attempts (each after reading on to the topic's new end). */
#define FG_REDRIVE_ROUNDS 10
/* Keys whose replay state a run keeps (parked or failed ones). */
#define FG_REDRIVE_MAX_KEYS 1000000

typedef struct fg_redrive_key {
        const void *key;
        size_t len;
} fg_redrive_key_t;

typedef struct fg_redrive_cfg {
        const fg_kafka_cfg_t *kafka;   /* consumer properties; group_id + ".redrive" */
        const char *bootstrap;         /* the dead-letter topic's brokers */
        const char *topic;             /* dead_letter.topic */
        const fg_handler_t *handler;
        fg_sink_t *sink;
        fg_dlq_t *dlq;                 /* where failures go back to */
        const fg_redrive_key_t *keys;  /* --key filter; NULL/0 = every key */
        size_t nkeys;
        int64_t since_ms;              /* --since; -1 = no limit */
        const char *admin;             /* "host:port" of the daemon; NULL = no release */
        int64_t timeout_ns;            /* each Kafka or admin call */
        volatile sig_atomic_t *stop;   /* set to end early */
} fg_redrive_cfg_t;

typedef struct fg_redrive_report {
        int64_t read, skipped;         /* dead letters read; passed over by the filters */
        int64_t delivered, filtered, dropped;
        int64_t failed;                /* back to the dead-letter topic */
        int64_t keys_released, keys_not_parked, keys_kept; /* kept: still parked */
        int rounds;
        int partitions;
} fg_redrive_report_t;

/* Runs one redrive. Returns 0 when every selected dead letter was
 * replayed (none failed again) and every replayed parked key released (or
 * not parked any more); -1 with the reason in @p errstr otherwise (what was
 * settled is still committed). */
int fg_redrive_run(const fg_redrive_cfg_t *rc, fg_redrive_report_t *rep, char *errstr,
                   size_t errstr_size);

/* --since: a duration back from now ("30m", "2h") or a UTC time
 * "YYYY-MM-DDTHH:MM:SSZ"; wall-clock ms, or -1 with a reason. */
int64_t fg_redrive_parse_since(const char *s, int64_t now_ms, char *errstr, size_t errstr_size);

#endif
