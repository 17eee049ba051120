/*
 * commit: the ingest thread's own asynchronous offset commits, held while
 * the consumer group rejoins (see ingest.h, "Commit pacing").
 *
 * DESIGN
 * tick() stores finished offsets once kafka.commit_every events finished
 * (or auto.commit.interval.ms passed) and asks for a commit; this module
 * sends it with rd_kafka_commit_queue() as soon as no other commit of ours
 * is outstanding and the group is steady, and reads the result from its
 * own queue on the ingest thread's next turn. Offsets stored while a
 * commit is outstanding go with the next one.
 *
 * Why not librdkafka's auto-commit: it sends on a timer, so a drain at
 * 1M events/s puts timer × rate events at stake after a kill -9 (20,000 at
 * 20 ms), and each firing costs its main thread up to 1 ms of spinning on
 * the clock (it rounds waits down to whole ms): 4-5% of a core on an idle
 * daemon at 20 ms.
 *
 * Why hold commits while the group rejoins: a commit sent then carries the
 * old generation; once the join completes the coordinator answers
 * ILLEGAL_GENERATION, which librdkafka takes for a lost assignment (every
 * partition stops, everything uncommitted comes again; 216,559 duplicates
 * of 200,000 in the 1-3-2 scale test, in a cascade, as each rejoin's
 * commit lost the next assignment). librdkafka's timer checks its join
 * state; the API exposes none, so this module follows it from the debug
 * line librdkafka writes on its main thread at each change ("changed join
 * state X -> Y", category cgrp, which ingest enables). Between our check
 * and librdkafka serving the commit a rejoin can still begin: the window
 * is the hand-over between two threads, and what it costs is one lost
 * assignment (a crash's duplicates for this member), never a cascade, as
 * the next commit waits for steady again.
 *
 * Threading: fg_ingest_commit_conf: the thread creating the ingest, before
 * rd_kafka_new. join_log_cb: librdkafka's threads (it only writes one
 * atomic). Everything else: the ingest thread.
 * Ownership: the result queue belongs to the ingest (destroyed with it).
 */
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "ingest/ingest_int.h"

/* After a refused commit (the group rebalancing, no coordinator) the next
 * try waits this long; the offsets stay stored meanwhile. */
#define COMMIT_RETRY_NS (100 * FG_NS_PER_MS)

/* librdkafka's log line for a join-state change; the new state follows the
 * last " -> " (group names may hold anything, state names hold no "->"). */
fg_join_state_t fg_ingest_join_state_of(const char *fac, const char *line) {
        const char *arrow = NULL;

        if (strcmp(fac, "CGRPJOINSTATE") || !strstr(line, "changed join state "))
                return FG_JOIN_UNKNOWN;
        for (const char *p = strstr(line, " -> "); p; p = strstr(p + 1, " -> "))
                arrow = p;
        if (!arrow)
                return FG_JOIN_UNKNOWN;
        arrow += 4;
        return !strncmp(arrow, "steady", 6) && (arrow[6] == ' ' || !arrow[6]) ? FG_JOIN_STEADY
                                                                              : FG_JOIN_REJOINING;
}

/* librdkafka's threads. The join-state lines are ours; the rest of the
 * cgrp debug chatter we asked for is dropped unless the user set
 * kafka.properties debug, and everything else goes to the usual log. */
static void join_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
        fg_ingest_t *in = rd_kafka_opaque(rk);
        fg_join_state_t st = fg_ingest_join_state_of(fac, buf);

        if (st != FG_JOIN_UNKNOWN)
                atomic_store(&in->join_state, st);
        if (level >= 7 && !in->user_debug)
                return;
        fg_kconf_log(rk, level, fac, buf);
}

int fg_ingest_commit_conf(fg_ingest_t *in, rd_kafka_conf_t *conf, char *errstr,
                          size_t errstr_size) {
        char debug[512];
        size_t size = sizeof(debug);
        char want[sizeof(debug) + 8];

        if (rd_kafka_conf_get(conf, "debug", debug, &size) != RD_KAFKA_CONF_OK)
                debug[0] = '\0';
        in->user_debug = debug[0] != '\0';
        snprintf(want, sizeof(want), "%s%scgrp", debug, debug[0] ? "," : "");
        if (fg_kconf_set(conf, "debug", want, errstr, errstr_size))
                return -1;
        atomic_store(&in->join_state, FG_JOIN_UNKNOWN);
        rd_kafka_conf_set_log_cb(conf, join_log_cb);
        return 0;
}

void fg_ingest_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *offsets, void *opaque) {
        fg_ingest_t *in = opaque;

        if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
                return;
        fg_mshard_add(in->shard, FG_CTR_COMMITS, 1);
        if (err)
                fg_debug("commit: %s", rd_kafka_err2str(err));
}

/* A refused commit: its offsets stay stored, the next try carries them. */
static void retry_later(fg_ingest_t *in, int64_t now) {
        in->commit_due = true;
        in->commit_not_before_ns = now + COMMIT_RETRY_NS;
}

/* The outstanding commit's result (ingest thread, served from
 * fg_ingest_commit_service). */
static void commit_done(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t *offsets, void *opaque) {
        fg_ingest_t *in = opaque;

        in->committing = false;
        fg_ingest_commit_cb(rk, err, offsets, opaque);
        if (!err)
                in->commit_ok_ns = in->commit_sent_ns;
        else if (err != RD_KAFKA_RESP_ERR__NO_OFFSET)
                retry_later(in, fg_mono_ns());
}

void fg_ingest_commit_service(fg_ingest_t *in) {
        fg_join_state_t st;
        rd_kafka_resp_err_t err;
        int64_t now;

        if (in->committing)
                rd_kafka_queue_poll_callback(in->commitq, 0);
        if (in->committing || !in->commit_due)
                return;
        /* Read after the store that made it due: the commit carries every
         * offset stored before this time (drained relies on it). */
        now = fg_mono_ns();
        if (now < in->commit_not_before_ns)
                return;
        st = atomic_load(&in->join_state);
        if (st == FG_JOIN_REJOINING)
                return;
        if (st == FG_JOIN_UNKNOWN && !in->join_warned) {
                /* A librdkafka that words its join-state line otherwise:
                 * commits go on, unheld. */
                in->join_warned = true;
                fg_warn("cannot follow the consumer group's join state; commits are not held "
                        "while it rebalances");
        }
        in->commit_due = false;
        in->commit_sent_ns = now;
        err = rd_kafka_commit_queue(in->rk, NULL, in->commitq, commit_done, in);
        if (err) {
                fg_debug("commit: %s", rd_kafka_err2str(err));
                retry_later(in, now);
                return;
        }
        in->committing = true;
}
