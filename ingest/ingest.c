/*
 * ingest: the consumer thread — poll, push, hold/pause/resume, store
 * offsets (see ingest.h for the design). The partition table and the
 * rebalance callback live in assign.c.
 *
 * The loop, in short:
 *   flowing:  poll what is ready, gather it into the pending batch, push the
 *             batch when nothing more is ready (or it is full);
 *   blocked:  the queue reached its high watermark (or a batch did not fit):
 *             stop polling and wait for the workers to drain it to the low
 *             watermark. librdkafka's prefetch waits meanwhile, bounded by
 *             its own settings. If that takes longer than queue.pause_after,
 *             pause the partitions and poll again (paused partitions deliver
 *             nothing) so the group membership survives a long outage.
 *   every 20 ms: retire finished offsets and store them.
 *   every turn: send the commit due, read its result (commit.c).
 */
#include "ingest/ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "ingest/ingest_int.h"
#include "kafka/kconf.h"
#include "pipeline/offsets.h"

/* How often the ingest thread retires completed offsets and stores them.
 * Short enough that commits trail completions by little, long enough that
 * the walk over all partitions costs nothing per message. */
#define TICK_NS         (20 * FG_NS_PER_MS)
#define POLL_TIMEOUT_MS 100
/* While blocked: how long one wait for the low watermark lasts before the
 * loop looks at its other duties (drain, stop, ticks, membership). */
#define BLOCKED_WAIT_NS (20 * FG_NS_PER_MS)
/* --until-drained: everything must have been at its end this long before
 * it counts as drained (a consumer keeping up with a stream is "at its
 * end" between messages all the time). */
#define DRAINED_FOR_NS  (200 * FG_NS_PER_MS)

/* A duration property in ms as librdkafka parsed it (its default, or the
 * user's value from kafka.properties). */
static int64_t conf_ms_ns(rd_kafka_conf_t *conf, const char *name, long long dflt) {
        char buf[32];
        size_t size = sizeof(buf);
        long long ms = dflt;

        if (rd_kafka_conf_get(conf, name, buf, &size) == RD_KAFKA_CONF_OK)
                ms = strtoll(buf, NULL, 10);
        return (int64_t)ms * FG_NS_PER_MS;
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
        fg_log(err == RD_KAFKA_RESP_ERR__FATAL ? FG_LOG_ERROR : FG_LOG_WARN, "kafka: %s: %s",
               rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

fg_ingest_t *fg_ingest_new(const fg_kafka_cfg_t *kc, const fg_ingest_cfg_t *ic,
                           const char *bootstrap, fg_queue_t *q, fg_metrics_t *metrics,
                           char *errstr, size_t errstr_size) {
        fg_ingest_t *in = calloc(1, sizeof(*in));
        rd_kafka_conf_t *conf;
        char reason[512];

        if (!in) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        in->q = q;
        in->metrics = metrics;
        in->rebalance_timeout_ns = ic->rebalance_timeout_ns;
        in->pause_after_ns = ic->pause_after_ns;
        fg_lag_init(&in->lag);
        in->topics = rd_kafka_topic_partition_list_new((int)kc->topics.n);
        for (size_t i = 0; i < kc->topics.n; i++)
                rd_kafka_topic_partition_list_add(in->topics, kc->topics.v[i],
                                                  RD_KAFKA_PARTITION_UA);

        conf = fg_kconf_consumer(kc, bootstrap, errstr, errstr_size);
        if (!conf)
                goto init_error;
        in->commit_every = ic->commit_every > 0 ? (uint64_t)ic->commit_every : 0;
        in->commit_interval_ns = conf_ms_ns(conf, "auto.commit.interval.ms", 5000);
        if (fg_ingest_commit_conf(in, conf, errstr, errstr_size)) {
                rd_kafka_conf_destroy(conf);
                goto init_error;
        }
        rd_kafka_conf_set_opaque(conf, in);
        rd_kafka_conf_set_error_cb(conf, error_cb);
        rd_kafka_conf_set_rebalance_cb(conf, fg_ingest_rebalance_cb);
        rd_kafka_conf_set_offset_commit_cb(conf, fg_ingest_commit_cb);
        rd_kafka_conf_set_stats_cb(conf, fg_ingest_stats_cb);
        in->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, reason, sizeof(reason));
        if (!in->rk) {
                rd_kafka_conf_destroy(conf);
                snprintf(errstr, errstr_size, "cannot create Kafka consumer: %s", reason);
                goto init_error;
        }
        /* Serve logs, errors and statistics from consumer_poll, on our thread. */
        rd_kafka_poll_set_consumer(in->rk);
        in->cq = rd_kafka_queue_get_consumer(in->rk);
        in->commitq = rd_kafka_queue_new(in->rk);
        return in;

init_error:
        fg_ingest_destroy(in);
        return NULL;
}

/* Every assigned partition not yet paused gets paused. */
void fg_ingest_pause_all(fg_ingest_t *in) {
        rd_kafka_topic_partition_list_t *list = fg_ingest_collect(in, FG_COLLECT_UNPAUSED);

        if (list->cnt)
                rd_kafka_pause_partitions(in->rk, list);
        fg_ingest_mark_paused(in, list, true);
        rd_kafka_topic_partition_list_destroy(list);
}

/* Resumes exactly the partitions we paused. */
static void resume_paused(fg_ingest_t *in) {
        rd_kafka_topic_partition_list_t *list = fg_ingest_collect(in, FG_COLLECT_PAUSED);

        if (list->cnt)
                rd_kafka_resume_partitions(in->rk, list);
        fg_ingest_mark_paused(in, list, false);
        rd_kafka_topic_partition_list_destroy(list);
}

/* Registers the not-yet-tracked part of the pending batch with the offset
 * trackers: one lock and one reference update per run of messages from the
 * same partition (the consumer hands out messages partition by partition,
 * so runs are long). */
static void track_pending(fg_ingest_t *in) {
        int64_t wall = fg_wall_ms();
        size_t i = in->ntracked;

        while (i < in->nbatch) {
                fg_part_t *part = in->batch[i].part;
                size_t j = i;

                fg_part_lock(part);
                for (; j < in->nbatch && in->batch[j].part == part; j++) {
                        in->batch[j].seq = fg_part_track_locked(part, in->batch[j].rkm->offset);
                        in->batch[j].ingest_ms = wall;
                }
                fg_part_unlock(part);
                fg_part_ref_n(part, (int)(j - i));
                i = j;
        }
        in->ntracked = in->nbatch;
}

/* Pushes as much of the pending batch as fits; the rest stays pending, in
 * order. Sets blocked when the queue is at its high watermark or did not
 * take everything. */
void fg_ingest_flush(fg_ingest_t *in) {
        bool above_high = false;
        int64_t now;
        size_t pushed;

        if (!in->nbatch)
                return;
        now = fg_mono_ns();
        track_pending(in);
        for (size_t i = 0; i < in->nbatch; i++)
                in->batch[i].enq_ns = now;
        pushed = fg_queue_push_batch(in->q, in->batch, in->nbatch, &above_high);
        if (pushed < in->nbatch)
                memmove(in->batch, in->batch + pushed, (in->nbatch - pushed) * sizeof(fg_item_t));
        in->nbatch -= pushed;
        in->ntracked -= pushed;
        in->pushed_since_tick += pushed;
        atomic_store(&in->pending_pub, (unsigned)in->nbatch);
        fg_ingest_admit(in);
        if ((above_high || in->nbatch) && !in->blocked) {
                in->blocked = true;
                in->blocked_since_ns = now;
                atomic_store(&in->blocked_pub, true);
        }
}

/* Drops pending messages of the partitions @p drop selects (revoked or
 * lost): they were never queued, so they stay uncommitted. */
void fg_ingest_drop_pending(fg_ingest_t *in, bool (*drop)(const fg_part_t *part, void *opaque),
                            void *opaque) {
        size_t kept = 0, kept_tracked = 0;

        for (size_t i = 0; i < in->nbatch; i++) {
                fg_item_t *it = &in->batch[i];
                if (!drop(it->part, opaque)) {
                        kept_tracked += i < in->ntracked;
                        in->batch[kept++] = *it;
                        continue;
                }
                if (i < in->ntracked) {
                        /* Tracked after everything that was queued: undoing
                         * from the first of them removes exactly these. */
                        fg_part_untrack_from(it->part, it->seq);
                        fg_part_unref(it->part);
                }
                rd_kafka_message_destroy(it->rkm);
        }
        /* Tracked items precede untracked ones, so the kept ones do too. */
        in->nbatch = kept;
        in->ntracked = kept_tracked;
        atomic_store(&in->pending_pub, (unsigned)in->nbatch);
}

static void handle_message(fg_ingest_t *in, rd_kafka_message_t *rkm) {
        fg_ingest_prec_t *pr;
        fg_item_t *it;

        if (rkm->err) {
                if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        pr = fg_ingest_lookup(in, rkm->rkt, rkm->partition);
                        if (pr)
                                pr->eof_offset = rkm->offset;
                } else {
                        fg_warn("kafka: consume error: %s", rd_kafka_message_errstr(rkm));
                }
                rd_kafka_message_destroy(rkm);
                return;
        }

        pr = fg_ingest_lookup(in, rkm->rkt, rkm->partition);
        /* Not ours (any more), or shutting down: not tracked, so never
         * committed; whoever owns the partition next consumes it again. */
        if (!pr || in->draining) {
                rd_kafka_message_destroy(rkm);
                return;
        }
        pr->eof_offset = -1;
        if (!atomic_load_explicit(&in->first_msg_ns, memory_order_relaxed))
                atomic_store(&in->first_msg_ns, fg_mono_ns());
        fg_mshard_add(in->shard, FG_CTR_CONSUMED, 1);
        fg_mshard_add(in->shard, FG_CTR_CONSUMED_BYTES, rkm->len);

        it = &in->batch[in->nbatch++];
        it->rkm = rkm;
        it->part = pr->part; /* tracked and referenced at flush */
        it->bytes = (uint32_t)(rkm->len > UINT32_MAX ? UINT32_MAX : rkm->len);
        atomic_store(&in->pending_pub, (unsigned)in->nbatch);
        if (in->nbatch >= FG_INGEST_BATCH)
                fg_ingest_flush(in);
}

/* Stores every finished offset not stored yet and, if there was any, asks
 * commit.c to commit it. */
static bool store_for_commit(fg_ingest_t *in, int64_t now) {
        if (!fg_ingest_store_all(in))
                return false;
        in->stored_ns = now;
        in->commit_due = true;
        return true;
}

/* Stores the finished offsets once kafka.commit_every more messages have
 * finished or auto.commit.interval.ms has passed since the last store
 * (@p force: now) and asks commit.c to commit them. Drained: everything
 * assigned has been at its end with nothing outstanding for
 * DRAINED_FOR_NS, everything is stored, and a commit sent after the last
 * store succeeded. That commit is the paced one: a synchronous commit sent
 * while this member rejoins a rebalancing group would wait for the join
 * and then lose the assignment (see commit.c), and a consumer keeping up
 * with a stream is "at its end" all the time. */
static void tick(fg_ingest_t *in, bool force) {
        int64_t now = fg_mono_ns();
        bool drained;

        in->pushed_since_tick = 0;
        in->unstored += fg_ingest_advance_all(in);
        if (force || (in->commit_every && in->unstored >= in->commit_every) ||
            (in->unstored && now - in->last_store_ns >= in->commit_interval_ns)) {
                if (store_for_commit(in, now))
                        atomic_store(&in->drained_pub, false);
                in->unstored = 0;
                in->last_store_ns = now;
        }
        fg_ingest_admit(in);

        drained = in->nbatch == 0 && fg_ingest_all_at_end(in);
        if (!drained) {
                in->drained_since_ns = 0;
                atomic_store(&in->drained_pub, false);
                return;
        }
        if (!in->drained_since_ns)
                in->drained_since_ns = now;
        if (atomic_load(&in->drained_pub) || now - in->drained_since_ns < DRAINED_FOR_NS)
                return;
        store_for_commit(in, now);
        in->unstored = 0;
        if (in->commit_ok_ns >= in->stored_ns || !in->stored_ns)
                atomic_store(&in->drained_pub, true);
}

static void poll_once(fg_ingest_t *in, int timeout_ms) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(in->rk, timeout_ms);
        if (rkm)
                handle_message(in, rkm);
        else
                fg_ingest_flush(in);
}

/* One turn of the blocked state. */
static void blocked_turn(fg_ingest_t *in) {
        if (fg_queue_wait_below_low(in->q, BLOCKED_WAIT_NS)) {
                in->blocked = false;
                atomic_store(&in->blocked_pub, false);
                fg_ingest_flush(in); /* may block again at once */
                if (!in->blocked && in->paused && !in->draining) {
                        resume_paused(in);
                        in->paused = false;
                        fg_mshard_add(in->shard, FG_CTR_RESUMES, 1);
                        fg_debug("queue at low watermark: resumed");
                }
                return;
        }
        if (!in->paused && fg_mono_ns() - in->blocked_since_ns >= in->pause_after_ns) {
                fg_ingest_pause_all(in);
                in->paused = true;
                fg_mshard_add(in->shard, FG_CTR_PAUSES, 1);
                fg_info("backpressure: queue full for %lld ms (%zu messages, %zu bytes): "
                        "paused %u partitions",
                        (long long)((fg_mono_ns() - in->blocked_since_ns) / FG_NS_PER_MS),
                        fg_queue_depth(in->q), fg_queue_bytes(in->q), fg_ingest_paused(in));
        }
        /* Paused partitions deliver nothing, so polling now only serves the
         * group protocol and callbacks. The reserve half of the pending
         * array takes anything already in flight from librdkafka. */
        if (in->paused && in->nbatch < FG_INGEST_PENDING_MAX)
                poll_once(in, 0);
}

static void *ingest_main(void *arg) {
        fg_ingest_t *in = arg;
        int64_t next_tick = fg_mono_ns() + TICK_NS;
        rd_kafka_resp_err_t err;

        pthread_setname_np(pthread_self(), "fg-ingest");
        atomic_store(&in->heartbeat_ns, fg_mono_ns());
        in->shard = fg_metrics_shard_get(in->metrics);
        while (!atomic_load(&in->stop_req)) {
                int64_t now;

                if (atomic_load(&in->drain_req) && !in->draining) {
                        in->draining = true;
                        fg_ingest_pause_all(in);
                }
                if (in->blocked)
                        blocked_turn(in);
                else
                        /* Gather what is ready without waiting; push it as
                         * one batch once nothing more is. */
                        poll_once(in, in->nbatch ? 0 : POLL_TIMEOUT_MS);

                now = fg_mono_ns();
                atomic_store_explicit(&in->heartbeat_ns, now, memory_order_relaxed);
                if (now >= next_tick ||
                    (in->commit_every >= 4 && in->pushed_since_tick >= in->commit_every / 4)) {
                        tick(in, false);
                        next_tick = now + TICK_NS;
                }
                fg_ingest_commit_service(in);
        }

        /* Final offsets: everything finished by now is stored and committed
         * before the group is left (the revoke that close triggers commits
         * again, harmlessly). Pending messages were never queued: they stay
         * uncommitted and are redelivered. */
        tick(in, true);
        err = rd_kafka_commit(in->rk, NULL, 0);
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
                fg_warn("final commit: %s", rd_kafka_err2str(err));
        err = rd_kafka_consumer_close(in->rk);
        if (err)
                fg_warn("leaving the consumer group: %s", rd_kafka_err2str(err));
        fg_mshard_release(in->metrics, in->shard);
        in->shard = NULL;
        return NULL;
}

int fg_ingest_start(fg_ingest_t *in, char *errstr, size_t errstr_size) {
        rd_kafka_resp_err_t err = rd_kafka_subscribe(in->rk, in->topics);
        int rc;

        if (err) {
                snprintf(errstr, errstr_size, "cannot subscribe: %s", rd_kafka_err2str(err));
                return -1;
        }
        rc = pthread_create(&in->thread, NULL, ingest_main, in);
        if (rc) {
                snprintf(errstr, errstr_size, "cannot start the ingest thread: %s", strerror(rc));
                return -1;
        }
        in->started = true;
        return 0;
}

void fg_ingest_drain(fg_ingest_t *in) {
        atomic_store(&in->drain_req, true);
        rd_kafka_queue_yield(in->cq);
}

bool fg_ingest_stop(fg_ingest_t *in, int64_t timeout_ns) {
        struct timespec deadline;
        int64_t at;

        if (!in->started)
                return true;
        atomic_store(&in->stop_req, true);
        rd_kafka_queue_yield(in->cq);
        /* pthread_timedjoin_np takes a CLOCK_REALTIME deadline. */
        clock_gettime(CLOCK_REALTIME, &deadline);
        at = (int64_t)deadline.tv_sec * FG_NS_PER_S + deadline.tv_nsec +
             (timeout_ns > 365LL * 24 * 3600 * FG_NS_PER_S ? 365LL * 24 * 3600 * FG_NS_PER_S
                                                             : timeout_ns);
        deadline.tv_sec = (time_t)(at / FG_NS_PER_S);
        deadline.tv_nsec = (long)(at % FG_NS_PER_S);
        if (pthread_timedjoin_np(in->thread, NULL, &deadline) != 0)
                return false;
        in->started = false;
        return true;
}

static bool drop_all(const fg_part_t *part, void *opaque) { return true; }

void fg_ingest_destroy(fg_ingest_t *in) {
        if (!in)
                return;
        if (!fg_ingest_stop(in, INT64_MAX))
                return; /* unreachable: an infinite join does not time out */
        fg_ingest_drop_pending(in, drop_all, NULL);
        fg_ingest_table_clear(in);
        if (in->commitq)
                rd_kafka_queue_destroy(in->commitq);
        if (in->cq)
                rd_kafka_queue_destroy(in->cq);
        if (in->rk)
                rd_kafka_destroy(in->rk);
        if (in->topics)
                rd_kafka_topic_partition_list_destroy(in->topics);
        fg_lag_clear(&in->lag);
        free(in);
}

unsigned fg_ingest_assigned(const fg_ingest_t *in) { return atomic_load(&in->assigned_pub); }

unsigned fg_ingest_paused(const fg_ingest_t *in) { return atomic_load(&in->paused_pub); }

unsigned fg_ingest_pending(const fg_ingest_t *in) { return atomic_load(&in->pending_pub); }

bool fg_ingest_blocked(const fg_ingest_t *in) { return atomic_load(&in->blocked_pub); }

bool fg_ingest_drained(const fg_ingest_t *in) { return atomic_load(&in->drained_pub); }

int64_t fg_ingest_first_message_ns(const fg_ingest_t *in) { return atomic_load(&in->first_msg_ns); }

int64_t fg_ingest_heartbeat_ns(const fg_ingest_t *in) {
        return atomic_load_explicit(&in->heartbeat_ns, memory_order_relaxed);
}

size_t fg_ingest_lag(fg_ingest_t *in, fg_lag_entry_t **entries, int64_t *total, int64_t *updated_ms) {
        return fg_lag_get(&in->lag, entries, total, updated_ms);
}

double fg_ingest_arrival(fg_ingest_t *in) { return fg_lag_arrival(&in->lag); }
