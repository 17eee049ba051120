/*
 * assign: the ingest thread's table of assigned partitions and the
 * rebalance callback that changes it (see ingest.h, "At-least-once").
 *
 * Threading: ingest thread only (the callbacks run inside
 * rd_kafka_consumer_poll on it).
 * Ownership: each table entry holds one reference on its fg_part_t; queued
 * and in-flight items hold their own, so a revoked partition's tracker lives
 * until its last item ends.
 */
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "ingest/ingest_int.h"

static fg_ingest_topic_t *topic_find(fg_ingest_t *in, const char *name) {
        for (size_t i = 0; i < in->ntab; i++)
                if (!strcmp(in->tab[i].name, name))
                        return &in->tab[i];
        return NULL;
}

static fg_ingest_topic_t *topic_get(fg_ingest_t *in, const char *name) {
        fg_ingest_topic_t *t = topic_find(in, name);

        if (t)
                return t;
        in->tab = realloc(in->tab, (in->ntab + 1) * sizeof(*in->tab));
        if (!in->tab)
                abort();
        t = &in->tab[in->ntab++];
        memset(t, 0, sizeof(*t));
        t->name = strdup(name);
        if (!t->name)
                abort();
        return t;
}

fg_ingest_prec_t *fg_ingest_lookup(fg_ingest_t *in, const rd_kafka_topic_t *rkt,
                                   int32_t partition) {
        for (size_t i = 0; i < in->ntab; i++) {
                fg_ingest_topic_t *t = &in->tab[i];
                if (t->rkt != rkt) {
                        if (strcmp(t->name, rd_kafka_topic_name(rkt)))
                                continue;
                        t->rkt = rkt;
                }
                return partition >= 0 && partition < t->nparts ? t->parts[partition] : NULL;
        }
        return NULL;
}

static fg_ingest_prec_t *prec_add(fg_ingest_t *in, const char *topic, int32_t partition) {
        fg_ingest_topic_t *t = topic_get(in, topic);
        fg_ingest_prec_t *pr;

        if (partition >= t->nparts) {
                int32_t n = partition + 1;
                t->parts = realloc(t->parts, (size_t)n * sizeof(*t->parts));
                if (!t->parts)
                        abort();
                memset(t->parts + t->nparts, 0, (size_t)(n - t->nparts) * sizeof(*t->parts));
                t->nparts = n;
        }
        if (t->parts[partition])
                return t->parts[partition];
        pr = calloc(1, sizeof(*pr));
        if (!pr)
                abort();
        pr->part = fg_part_new(topic, partition);
        pr->partition = partition;
        pr->eof_offset = -1;
        pr->finished = -1;
        t->parts[partition] = pr;
        in->nassigned++;
        return pr;
}

static fg_ingest_prec_t *prec_find(fg_ingest_t *in, const char *topic, int32_t partition) {
        fg_ingest_topic_t *t = topic_find(in, topic);
        return t && partition >= 0 && partition < t->nparts ? t->parts[partition] : NULL;
}

static void prec_remove(fg_ingest_t *in, const char *topic, int32_t partition) {
        fg_ingest_topic_t *t = topic_find(in, topic);
        fg_ingest_prec_t *pr;

        if (!t || partition < 0 || partition >= t->nparts || !(pr = t->parts[partition]))
                return;
        t->parts[partition] = NULL;
        fg_part_unref(pr->part);
        free(pr);
        in->nassigned--;
}

static void publish_gauges(fg_ingest_t *in) {
        unsigned paused = 0;
        for (size_t i = 0; i < in->ntab; i++)
                for (int32_t p = 0; p < in->tab[i].nparts; p++)
                        if (in->tab[i].parts[p] && in->tab[i].parts[p]->paused)
                                paused++;
        atomic_store(&in->assigned_pub, in->nassigned);
        atomic_store(&in->paused_pub, paused);
}

rd_kafka_topic_partition_list_t *fg_ingest_collect(fg_ingest_t *in, fg_collect_t which) {
        rd_kafka_topic_partition_list_t *list =
            rd_kafka_topic_partition_list_new((int)(in->nassigned ? in->nassigned : 1));

        for (size_t i = 0; i < in->ntab; i++) {
                fg_ingest_topic_t *t = &in->tab[i];
                for (int32_t p = 0; p < t->nparts; p++) {
                        fg_ingest_prec_t *pr = t->parts[p];
                        if (!pr || (which == FG_COLLECT_PAUSED && !pr->paused) ||
                            (which == FG_COLLECT_UNPAUSED && pr->paused))
                                continue;
                        rd_kafka_topic_partition_list_add(list, t->name, p);
                }
        }
        return list;
}

void fg_ingest_mark_paused(fg_ingest_t *in, const rd_kafka_topic_partition_list_t *list,
                           bool paused) {
        for (int i = 0; i < list->cnt; i++) {
                fg_ingest_prec_t *pr = prec_find(in, list->elems[i].topic, list->elems[i].partition);
                if (pr)
                        pr->paused = paused;
                if (pr && !paused)
                        pr->held = false; /* resumed with the rest; admit.c holds it again if need be */
        }
        publish_gauges(in);
}

/* Retires @p pr's completed prefix into pr->finished. */
static size_t prec_advance(fg_ingest_prec_t *pr) {
        int64_t next;
        size_t n = fg_part_advance(pr->part, &next);

        if (n) {
                pr->finished = next;
                pr->unstored = true;
        }
        return n;
}

uint64_t fg_ingest_advance_all(fg_ingest_t *in) {
        uint64_t retired = 0;

        for (size_t i = 0; i < in->ntab; i++)
                for (int32_t p = 0; p < in->tab[i].nparts; p++)
                        if (in->tab[i].parts[p])
                                retired += prec_advance(in->tab[i].parts[p]);
        return retired;
}

int fg_ingest_store_all(fg_ingest_t *in) {
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
        rd_kafka_resp_err_t err;
        int n;

        for (size_t i = 0; i < in->ntab; i++) {
                fg_ingest_topic_t *t = &in->tab[i];
                for (int32_t p = 0; p < t->nparts; p++) {
                        fg_ingest_prec_t *pr = t->parts[p];
                        if (!pr || !pr->unstored)
                                continue;
                        rd_kafka_topic_partition_list_add(list, t->name, p)->offset = pr->finished;
                        pr->unstored = false;
                }
        }
        n = list->cnt;
        if (n && (err = rd_kafka_offsets_store(in->rk, list)))
                fg_debug("offsets_store: %s", rd_kafka_err2str(err));
        rd_kafka_topic_partition_list_destroy(list);
        return n;
}

bool fg_ingest_all_at_end(fg_ingest_t *in) {
        if (in->nassigned == 0)
                return false;
        for (size_t i = 0; i < in->ntab; i++) {
                fg_ingest_topic_t *t = &in->tab[i];
                for (int32_t p = 0; p < t->nparts; p++) {
                        fg_ingest_prec_t *pr = t->parts[p];
                        if (pr && (pr->eof_offset < 0 || fg_part_outstanding(pr->part) > 0))
                                return false;
                }
        }
        return true;
}

void fg_ingest_table_clear(fg_ingest_t *in) {
        for (size_t i = 0; i < in->ntab; i++) {
                fg_ingest_topic_t *t = &in->tab[i];
                for (int32_t p = 0; p < t->nparts; p++) {
                        if (t->parts[p]) {
                                fg_part_unref(t->parts[p]->part);
                                free(t->parts[p]);
                        }
                }
                free(t->parts);
                free(t->name);
        }
        free(in->tab);
        in->tab = NULL;
        in->ntab = 0;
        in->nassigned = 0;
}

static void log_partitions(const char *what, const rd_kafka_topic_partition_list_t *parts) {
        char buf[512];
        size_t len = 0;

        buf[0] = '\0';
        for (int i = 0; i < parts->cnt && len < sizeof(buf) - 32; i++) {
                int n = snprintf(buf + len, sizeof(buf) - len, "%s%s[%d]", i ? " " : "",
                                 parts->elems[i].topic, (int)parts->elems[i].partition);
                if (n > 0)
                        len += (size_t)n;
        }
        if (len >= sizeof(buf) - 32)
                snprintf(buf + len, sizeof(buf) - len, " ...");
        fg_info("%s %d partition%s: %s", what, parts->cnt, parts->cnt == 1 ? "" : "s", buf);
}

static void on_assign(fg_ingest_t *in, rd_kafka_topic_partition_list_t *parts, bool cooperative) {
        rd_kafka_error_t *error = NULL;
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

        for (int i = 0; i < parts->cnt; i++)
                prec_add(in, parts->elems[i].topic, parts->elems[i].partition);
        if (cooperative)
                error = rd_kafka_incremental_assign(in->rk, parts);
        else
                err = rd_kafka_assign(in->rk, parts);
        if (error) {
                fg_error("assign: %s", rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
        } else if (err) {
                fg_error("assign: %s", rd_kafka_err2str(err));
        }
        /* A pause must survive the rebalance: new partitions start paused
         * while ingest is paused or the pipeline drains. */
        if (in->paused || in->draining)
                fg_ingest_pause_all(in);
        log_partitions("assigned", parts);
        publish_gauges(in);
}

typedef struct revoked_set {
        fg_part_t **parts;
        fg_ingest_prec_t **precs;
        size_t n;
} revoked_set_t;

static bool part_is_revoked(const fg_part_t *part, void *opaque);

static bool item_is_revoked(const fg_item_t *it, void *opaque) {
        return part_is_revoked(it->part, opaque);
}

static void item_drop(fg_item_t *it, void *opaque) { fg_item_abandon(it); }

static bool part_is_revoked(const fg_part_t *part, void *opaque) {
        const revoked_set_t *set = opaque;
        for (size_t i = 0; i < set->n; i++)
                if (set->parts[i] == part)
                        return true;
        return false;
}

/* Drops queued work of the revoked partitions, waits (bounded) for their
 * in-flight work, commits their final offsets unless the assignment was
 * lost, then forgets them. */
static void on_revoke(fg_ingest_t *in, rd_kafka_topic_partition_list_t *parts, bool lost) {
        revoked_set_t set = {calloc((size_t)parts->cnt + 1, sizeof(fg_part_t *)),
                             calloc((size_t)parts->cnt + 1, sizeof(fg_ingest_prec_t *)), 0};
        rd_kafka_topic_partition_list_t *final = rd_kafka_topic_partition_list_new(parts->cnt + 1);
        int64_t deadline = fg_mono_ns() + in->rebalance_timeout_ns;
        size_t dropped;

        if (!set.parts || !set.precs)
                abort();
        for (int i = 0; i < parts->cnt; i++) {
                fg_ingest_prec_t *pr = prec_find(in, parts->elems[i].topic, parts->elems[i].partition);
                if (pr) {
                        set.precs[set.n] = pr;
                        set.parts[set.n++] = pr->part;
                }
        }
        fg_ingest_drop_pending(in, part_is_revoked, &set);
        dropped = fg_queue_remove_if(in->q, item_is_revoked, item_drop, &set);

        for (size_t i = 0; i < set.n && !lost; i++) {
                int64_t left = deadline - fg_mono_ns();
                if (!fg_part_wait_idle(set.parts[i], left > 0 ? left : 0))
                        fg_warn("revoke: %s [%d] still has %zu events in flight after %lld ms; "
                                "they will be redelivered to the next owner",
                                fg_part_topic(set.parts[i]), (int)fg_part_partition(set.parts[i]),
                                fg_part_pending(set.parts[i]),
                                (long long)(in->rebalance_timeout_ns / FG_NS_PER_MS));
                /* What finished before, maybe not stored yet (commit
                 * pacing), and what finished while we waited. */
                prec_advance(set.precs[i]);
                if (set.precs[i]->finished >= 0)
                        rd_kafka_topic_partition_list_add(final, fg_part_topic(set.parts[i]),
                                                          fg_part_partition(set.parts[i]))
                            ->offset = set.precs[i]->finished;
        }
        if (final->cnt) {
                rd_kafka_resp_err_t err;
                rd_kafka_offsets_store(in->rk, final);
                err = rd_kafka_commit(in->rk, final, 0);
                if (err)
                        fg_warn("revoke: committing final offsets: %s", rd_kafka_err2str(err));
        }
        if (lost)
                fg_warn("assignment lost: %d partitions dropped without commit (%zu queued events "
                        "will be redelivered)", parts->cnt, dropped);
        else
                log_partitions("revoked", parts);

        for (int i = 0; i < parts->cnt; i++)
                prec_remove(in, parts->elems[i].topic, parts->elems[i].partition);
        publish_gauges(in);
        rd_kafka_topic_partition_list_destroy(final);
        free(set.parts);
        free(set.precs);
}

void fg_ingest_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t *parts, void *opaque) {
        fg_ingest_t *in = opaque;
        bool cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");

        fg_mshard_add(in->shard, FG_CTR_REBALANCES, 1);
        atomic_store(&in->drained_pub, false);
        switch (err) {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
                on_assign(in, parts, cooperative);
                break;
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
                on_revoke(in, parts, rd_kafka_assignment_lost(rk));
                if (cooperative) {
                        rd_kafka_error_t *error = rd_kafka_incremental_unassign(rk, parts);
                        if (error)
                                rd_kafka_error_destroy(error);
                } else {
                        rd_kafka_assign(rk, NULL);
                }
                break;
        default:
                fg_error("rebalance failed: %s", rd_kafka_err2str(err));
                on_revoke(in, parts, true);
                rd_kafka_assign(rk, NULL);
                break;
        }
}

int fg_ingest_stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
        fg_ingest_t *in = opaque;
        if (fg_lag_update(&in->lag, json, len))
                fg_debug("statistics: unparsable JSON (%zu bytes)", len);
        return 0; /* librdkafka frees json */
}
