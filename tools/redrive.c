/*
 * redrive: replay the dead-letter topic and release parked keys (see
 * redrive.h for the design).
 */
#include "tools/redrive.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/units.h"
#include "tools/redrive_int.h"

#define POLL_MS 200

/* What a dead letter's fg.* headers say. */
typedef struct dlinfo {
        char src_topic[256];
        int32_t src_partition;
        int64_t src_offset, src_ts;
        bool has_source;
        int64_t since, seq; /* its park place, when parked */
        bool parked;
} dlinfo_t;

/* A key's state in this run: kept for keys that were parked or failed. */
typedef struct rkey {
        struct rkey *next;
        uint64_t h;
        unsigned char *key;
        size_t len;
        bool failed;  /* a replay failed: the key's later dead letters follow it */
        bool parked;  /* replayed dead letters carried a park place */
        bool pending; /* to release (again) */
        int round;    /* the round that selected it (rounds after the first) */
        int64_t since, through;
} rkey_t;

typedef struct rd {
        const fg_redrive_cfg_t *rc;
        fg_redrive_report_t *rep;
        rd_kafka_t *rk;
        fg_rdl_t *parts;
        int nparts;
        rkey_t **buckets;
        size_t nbuckets, nkeys;
        fg_sink_conn_t *conn;
        fg_handler_ctx_t *hctx;
        uint64_t rng;
        int round;
        bool fatal;
        char *errstr;
        size_t errstr_size;
} rd_t;

static bool stopped(const rd_t *r) { return r->rc->stop && *r->rc->stop; }

static void fail(rd_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Ends the run with the first reason given. */
static void fail(rd_t *r, const char *fmt, ...) {
        va_list ap;

        if (!r->fatal) {
                va_start(ap, fmt);
                vsnprintf(r->errstr, r->errstr_size, fmt, ap);
                va_end(ap);
        }
        r->fatal = true;
}

/* ---- keys ---- */

static rkey_t *key_find(rd_t *r, const void *key, size_t len, bool create) {
        uint64_t h = fg_hash_bytes(0, key, len);
        rkey_t *k;

        for (k = r->buckets[h & (r->nbuckets - 1)]; k; k = k->next)
                if (k->h == h && k->len == len && !memcmp(k->key, key, len))
                        return k;
        if (!create)
                return NULL;
        if (r->nkeys >= FG_REDRIVE_MAX_KEYS) {
                fail(r, "more than %d parked or failing keys in one run; replay fewer with --key",
                     FG_REDRIVE_MAX_KEYS);
                return NULL;
        }
        if (r->nkeys >= r->nbuckets) {
                size_t nb = r->nbuckets * 2;
                rkey_t **nbk = calloc(nb, sizeof(*nbk));
                if (!nbk)
                        abort();
                for (size_t i = 0; i < r->nbuckets; i++)
                        for (rkey_t *e = r->buckets[i], *next; e; e = next) {
                                next = e->next;
                                e->next = nbk[e->h & (nb - 1)];
                                nbk[e->h & (nb - 1)] = e;
                        }
                free(r->buckets);
                r->buckets = nbk;
                r->nbuckets = nb;
        }
        k = calloc(1, sizeof(*k));
        if (!k || !(k->key = malloc(len ? len : 1)))
                abort();
        memcpy(k->key, key, len);
        k->len = len;
        k->h = h;
        k->through = -1;
        k->next = r->buckets[h & (r->nbuckets - 1)];
        r->buckets[h & (r->nbuckets - 1)] = k;
        r->nkeys++;
        return k;
}

static void keys_free(rd_t *r) {
        for (size_t i = 0; i < r->nbuckets; i++)
                for (rkey_t *k = r->buckets[i], *next; k; k = next) {
                        next = k->next;
                        free(k->key);
                        free(k);
                }
        free(r->buckets);
}

/* Is this dead letter one the run replays? */
static bool selected(const rd_t *r, const rd_kafka_message_t *m, int64_t ts) {
        const fg_redrive_cfg_t *rc = r->rc;
        bool any = rc->nkeys == 0;

        if (r->round > 1) {
                const rkey_t *k = m->key ? key_find((rd_t *)r, m->key, m->key_len, false) : NULL;
                return k && k->round == r->round;
        }
        if (rc->since_ms >= 0 && ts < rc->since_ms)
                return false;
        for (size_t i = 0; !any && i < rc->nkeys; i++)
                any = m->key && rc->keys[i].len == m->key_len &&
                      !memcmp(rc->keys[i].key, m->key, m->key_len);
        return any;
}

/* ---- headers ---- */

static int64_t num(const void *v, size_t n) {
        char buf[32];

        if (!v || n == 0 || n >= sizeof(buf))
                return -1;
        memcpy(buf, v, n);
        buf[n] = '\0';
        return strtoll(buf, NULL, 10);
}

/* Reads the fg.* headers into @p info and leaves the message only the
 * original ones. */
static void strip_headers(rd_kafka_message_t *m, dlinfo_t *info) {
        rd_kafka_headers_t *hdrs = NULL, *kept;
        const char *name;
        const void *val;
        size_t size;

        *info = (dlinfo_t){.src_partition = -1, .src_offset = -1, .src_ts = -1};
        if (rd_kafka_message_detach_headers(m, &hdrs) || !hdrs)
                return;
        kept = rd_kafka_headers_new(8);
        for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); i++) {
                if (strncmp(name, "fg.", 3)) {
                        rd_kafka_header_add(kept, name, -1, val, (ssize_t)size);
                } else if (!strcmp(name, "fg.source.topic") && val && size < sizeof(info->src_topic)) {
                        memcpy(info->src_topic, val, size);
                        info->src_topic[size] = '\0';
                        info->has_source = true;
                } else if (!strcmp(name, "fg.source.partition")) {
                        info->src_partition = (int32_t)num(val, size);
                } else if (!strcmp(name, "fg.source.offset")) {
                        info->src_offset = num(val, size);
                } else if (!strcmp(name, "fg.source.timestamp")) {
                        info->src_ts = num(val, size);
                } else if (!strcmp(name, "fg.parked.since")) {
                        info->since = num(val, size);
                        info->parked = info->since > 0;
                } else if (!strcmp(name, "fg.parked.seq")) {
                        info->seq = num(val, size);
                }
        }
        rd_kafka_headers_destroy(hdrs);
        rd_kafka_message_set_headers(m, kept);
        info->has_source = info->has_source && info->src_partition >= 0 && info->src_offset >= 0;
}

/* ---- outcomes ---- */

/* Back to the dead-letter topic, with the original source and park place;
 * retried until the topic has it. False when stopped first. */
static bool dead_letter_again(rd_t *r, rd_kafka_message_t *m, const dlinfo_t *info,
                              const char *cls, const char *why, unsigned attempts) {
        fg_dlq_source_t src = {info->src_topic, info->src_partition, info->src_offset, info->src_ts};
        fg_dlq_entry_t e = {
            .src = m,
            .error_class = cls,
            .error_message = why,
            .attempts = attempts,
            .parked_since_ms = info->parked ? info->since : 0,
            .parked_seq = info->seq,
            .source = info->has_source ? &src : NULL,
        };
        rd_kafka_resp_err_t err;

        for (unsigned round = 0; !stopped(r); round++) {
                fg_dlq_send(r->rc->dlq, &e, 1, &err);
                if (!err) {
                        r->rep->failed++;
                        return true;
                }
                fg_warn("redrive: dead-letter topic: %s; retrying", rd_kafka_err2str(err));
                struct timespec ts = {0, (round < 10 ? 50L << round : 1000L) * 1000000L};
                if (ts.tv_nsec >= 1000000000L)
                        ts = (struct timespec){1, 0};
                nanosleep(&ts, NULL);
        }
        return false;
}

/* Sleeps @p ns in slices, returning early (false) when stopped. */
static bool backoff(rd_t *r, int64_t ns) {
        while (ns > 0 && !stopped(r)) {
                int64_t slice = ns < 100 * FG_NS_PER_MS ? ns : 100 * FG_NS_PER_MS;
                struct timespec ts = {(time_t)(slice / FG_NS_PER_S), (long)(slice % FG_NS_PER_S)};
                nanosleep(&ts, NULL);
                ns -= slice;
        }
        return !stopped(r);
}

typedef enum { OUT_DELIVERED, OUT_FILTERED, OUT_DROPPED, OUT_FAILED, OUT_STOPPED } outcome_t;

/* Sends the handled event until the sink settles it (sink.retry.*).
 * Fills @p cls/@p why for a failure. */
static outcome_t send_event(rd_t *r, fg_event_t *ev, const char **cls, const char **why,
                            unsigned *attempts) {
        const fg_retry_cfg_t *rt = fg_sink_retry(r->rc->sink);
        int64_t first = fg_mono_ns(), delay = rt->initial_backoff_ns, wait;
        fg_sink_result_t res;

        for (*attempts = 1;; (*attempts)++) {
                fg_sink_send(r->conn, ev, 1, &res);
                if (res.status == FG_SINK_OK)
                        return OUT_DELIVERED;
                *why = res.reason;
                if (res.status == FG_SINK_REJECT) {
                        *cls = "rejected";
                        return OUT_FAILED;
                }
                if ((rt->max_attempts > 0 && *attempts >= rt->max_attempts) ||
                    (rt->max_elapsed_ns > 0 && fg_mono_ns() - first >= rt->max_elapsed_ns)) {
                        *cls = "retries_exhausted";
                        return OUT_FAILED;
                }
                r->rng = r->rng * 6364136223846793005ULL + 1442695040888963407ULL;
                wait = delay / 2 + (int64_t)((r->rng >> 33) % (uint64_t)(delay / 2 + 1));
                if (!backoff(r, wait > res.retry_after_ns ? wait : res.retry_after_ns))
                        return OUT_STOPPED;
                delay = delay * 2 > rt->max_backoff_ns ? rt->max_backoff_ns : delay * 2;
        }
}

/* The handler, then the sink. */
static outcome_t replay(rd_t *r, rd_kafka_message_t *m, const dlinfo_t *info, const char **cls,
                        const char **why, unsigned *attempts) {
        fg_event_t ev = {
            .topic = info->has_source ? info->src_topic : rd_kafka_topic_name(m->rkt),
            .partition = info->has_source ? info->src_partition : m->partition,
            .offset = info->has_source ? info->src_offset : m->offset,
            .ts_ms = info->src_ts,
            .ingest_ms = fg_wall_ms(),
            .key = m->key,
            .key_len = m->key_len,
            .value = m->payload,
            .len = m->len,
            .src = m,
        };
        fg_handle_verdict_t v;

        *attempts = 0;
        fg_handler_ctx_reset(r->hctx);
        v = fg_handler_apply(r->rc->handler, r->hctx, &ev, ev.ingest_ms, why);
        if (v == FG_HANDLE_FILTERED)
                return OUT_FILTERED;
        if (v == FG_HANDLE_INVALID) {
                switch (fg_handler_on_invalid(r->rc->handler)) {
                case FG_ON_INVALID_DEAD_LETTER: *cls = "invalid"; return OUT_FAILED;
                case FG_ON_INVALID_DROP: return OUT_DROPPED;
                default:
                        fail(r, "an invalid event (%s) with handler.on_invalid: fail",
                             *why ? *why : "no reason");
                        return OUT_STOPPED;
                }
        }
        return send_event(r, &ev, cls, why, attempts);
}

/* One dead letter: settled (replayed, dead-lettered again, covered by an
 * earlier run) or left for a later run. */
static void process(rd_t *r, rd_kafka_message_t *m) {
        fg_rdl_t *l = NULL;
        rd_kafka_timestamp_type_t tstype;
        int64_t ts = rd_kafka_message_timestamp(m, &tstype);
        const char *cls = NULL, *why = NULL;
        unsigned attempts = 0;
        rkey_t *k = NULL;
        outcome_t out;
        dlinfo_t info;

        for (int i = 0; i < r->nparts; i++)
                if (r->parts[i].partition == m->partition)
                        l = &r->parts[i];
        if (!l || m->offset < l->pos || m->offset >= l->end)
                return;
        fg_rdl_reached(l, m->offset);
        r->rep->read++;
        if (fg_rdl_covered(l, m->offset, m->key, m->key_len, ts)) {
                fg_rdl_settle(l, m->offset);
                return;
        }
        if (!selected(r, m, ts)) {
                r->rep->skipped++;
                fg_rdl_leave(l, m->offset);
                return;
        }
        strip_headers(m, &info);
        if (m->key)
                k = key_find(r, m->key, m->key_len, false);
        if (k && k->failed) {
                cls = "parked";
                why = "an earlier event of its key failed again in redrive";
                out = OUT_FAILED;
        } else {
                out = replay(r, m, &info, &cls, &why, &attempts);
        }
        if (out == OUT_STOPPED)
                return; /* not settled: the next run replays it */
        if (out == OUT_FAILED) {
                if (!dead_letter_again(r, m, &info, cls, why ? why : "no reason given", attempts))
                        return;
                if (m->key && (k || (k = key_find(r, m->key, m->key_len, true)))) {
                        k->failed = true;
                        k->pending = false;
                }
        } else {
                r->rep->delivered += out == OUT_DELIVERED;
                r->rep->filtered += out == OUT_FILTERED;
                r->rep->dropped += out == OUT_DROPPED;
                if (info.parked && m->key && (k || (k = key_find(r, m->key, m->key_len, true))) &&
                    !k->failed) {
                        if (k->since != info.since)
                                k->through = -1;
                        k->since = info.since;
                        if (info.seq > k->through)
                                k->through = info.seq;
                        k->parked = k->pending = true;
                }
        }
        fg_rdl_settle(l, m->offset);
}

/* ---- the consumer ---- */

static rd_kafka_t *consumer_new(const fg_redrive_cfg_t *rc, char *errstr, size_t errstr_size) {
        fg_kafka_cfg_t kc = *rc->kafka;
        char group[512], reason[512];
        rd_kafka_conf_t *conf;
        rd_kafka_t *rk;

        snprintf(group, sizeof(group), "%s.redrive", rc->kafka->group_id);
        kc.group_id = group;
        conf = fg_kconf_consumer(&kc, rc->bootstrap, errstr, errstr_size);
        if (!conf)
                return NULL;
        if (fg_kconf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) ||
            fg_kconf_set(conf, "statistics.interval.ms", "0", errstr, errstr_size) ||
            fg_kconf_set(conf, "client.id", "floodgate-redrive", errstr, errstr_size)) {
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, reason, sizeof(reason));
        if (!rk) {
                rd_kafka_conf_destroy(conf);
                snprintf(errstr, errstr_size, "cannot create the consumer: %s", reason);
        }
        return rk;
}

/* The topic's partitions, their committed offsets and records, and the
 * ends to read to. */
static int load_partitions(rd_t *r) {
        const fg_redrive_cfg_t *rc = r->rc;
        int tmo = (int)(rc->timeout_ns / FG_NS_PER_MS);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(r->rk, rc->topic, NULL);
        rd_kafka_topic_partition_list_t *list = NULL;
        rd_kafka_resp_err_t err;
        int rc_ = -1;

        err = rd_kafka_metadata(r->rk, 0, rkt, &md, tmo);
        if (err || md->topic_cnt != 1 || md->topics[0].err) {
                fail(r, "dead-letter topic %s: %s", rc->topic,
                     rd_kafka_err2str(err ? err : md->topic_cnt ? md->topics[0].err
                                                                : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
                goto out;
        }
        r->nparts = md->topics[0].partition_cnt;
        r->parts = calloc((size_t)r->nparts + 1, sizeof(*r->parts));
        list = rd_kafka_topic_partition_list_new(r->nparts + 1);
        if (!r->parts)
                abort();
        for (int i = 0; i < r->nparts; i++)
                rd_kafka_topic_partition_list_add(list, rc->topic, md->topics[0].partitions[i].id);
        err = rd_kafka_committed(r->rk, list, tmo);
        if (err) {
                fail(r, "reading the committed offsets of %s: %s", rc->topic, rd_kafka_err2str(err));
                goto out;
        }
        for (int i = 0; i < r->nparts; i++) {
                rd_kafka_topic_partition_t *tp = &list->elems[i];
                int64_t lo, hi, start;

                err = rd_kafka_query_watermark_offsets(r->rk, rc->topic, tp->partition, &lo, &hi, tmo);
                if (err) {
                        fail(r, "reading the end of %s: %s", rc->topic, rd_kafka_err2str(err));
                        goto out;
                }
                start = tp->offset >= lo ? tp->offset : lo;
                if (fg_rdl_init(&r->parts[i], tp->partition, start, tp->metadata, tp->metadata_size))
                        fg_warn("redrive: %s [%d]: the committed metadata is not redrive's; ignored",
                                rc->topic, (int)tp->partition);
                r->parts[i].end = hi > start ? hi : start;
        }
        r->rep->partitions = r->nparts;
        rc_ = 0;
out:
        if (list)
                rd_kafka_topic_partition_list_destroy(list);
        if (md)
                rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        return rc_;
}

static bool all_read(const rd_t *r) {
        for (int i = 0; i < r->nparts; i++)
                if (r->parts[i].pos < r->parts[i].end)
                        return false;
        return true;
}

/* Reads every partition to its end (or until stopped). */
static void read_to_end(rd_t *r) {
        while (!all_read(r) && !r->fatal && !stopped(r)) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, POLL_MS);

                if (!m)
                        continue;
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        for (int i = 0; i < r->nparts; i++)
                                if (r->parts[i].partition == m->partition)
                                        fg_rdl_reached(&r->parts[i], m->offset < r->parts[i].end
                                                                         ? m->offset
                                                                         : r->parts[i].end);
                } else if (m->err) {
                        fg_warn("redrive: consume: %s", rd_kafka_message_errstr(m));
                } else {
                        process(r, m);
                }
                rd_kafka_message_destroy(m);
        }
}

/* Records what this round selected and commits every partition's prefix
 * with its records. */
static int commit(rd_t *r, bool filtered) {
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(r->nparts + 1);
        char md[FG_REDRIVE_META_MAX + 1];
        rd_kafka_resp_err_t err;

        for (int i = 0; i < r->nparts; i++) {
                fg_rdl_t *l = &r->parts[i];
                rd_kafka_topic_partition_t *tp;
                long len;

                if (r->round > 1) {
                        for (size_t b = 0; b < r->nbuckets; b++)
                                for (rkey_t *k = r->buckets[b]; k; k = k->next)
                                        if (k->round == r->round)
                                                fg_rdl_record(l, k->key, k->len, 0);
                } else if (filtered && r->rc->nkeys) {
                        for (size_t j = 0; j < r->rc->nkeys; j++)
                                fg_rdl_record(l, r->rc->keys[j].key, r->rc->keys[j].len,
                                              r->rc->since_ms);
                } else if (filtered) {
                        fg_rdl_record(l, NULL, 0, r->rc->since_ms);
                }
                l->round_from = l->pos;
                len = fg_rdl_encode(l, md, sizeof(md));
                tp = rd_kafka_topic_partition_list_add(list, r->rc->topic, l->partition);
                tp->offset = l->prefix;
                if (len < 0) {
                        /* Cannot happen after the checks up front; commit
                         * nothing past the prefix rather than lose track. */
                        fg_warn("redrive: %s [%d]: too much to remember; committing the "
                                "contiguous part only", r->rc->topic, (int)l->partition);
                        len = 0;
                }
                if (len > 0) {
                        tp->metadata = malloc((size_t)len);
                        if (!tp->metadata)
                                abort();
                        memcpy(tp->metadata, md, (size_t)len);
                        tp->metadata_size = (size_t)len;
                }
        }
        err = rd_kafka_commit(r->rk, list, 0);
        rd_kafka_topic_partition_list_destroy(list);
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
                fail(r, "committing the redrive group's offsets: %s", rd_kafka_err2str(err));
                return -1;
        }
        return 0;
}

/* Would recording this round's selection outgrow the metadata? */
static bool records_fit(rd_t *r) {
        size_t extra = 0;

        if (r->round > 1) {
                for (size_t b = 0; b < r->nbuckets; b++)
                        for (const rkey_t *k = r->buckets[b]; k; k = k->next)
                                extra += k->round == r->round ? fg_rdl_record_size(k->len) : 0;
        } else if (r->rc->nkeys) {
                for (size_t j = 0; j < r->rc->nkeys; j++)
                        extra += fg_rdl_record_size(r->rc->keys[j].len);
        } else {
                extra = fg_rdl_record_size(0);
        }
        for (int i = 0; i < r->nparts; i++) {
                size_t len = extra + 8;
                for (size_t j = 0; j < r->parts[i].nr; j++)
                        len += fg_rdl_record_size(r->parts[i].r[j].key_len);
                if (len > FG_REDRIVE_META_MAX)
                        return false;
        }
        return true;
}

/* Releases the keys replayed in full; those the daemon parked more of stay
 * pending for another round. Returns how many stay pending. */
static size_t release(rd_t *r) {
        size_t pending = 0;

        for (size_t b = 0; b < r->nbuckets; b++)
                for (rkey_t *k = r->buckets[b]; k; k = k->next) {
                        char body[256], err[256];
                        int status = 0;

                        if (!k->pending)
                                continue;
                        if (!r->rc->admin) {
                                k->pending = false;
                                r->rep->keys_kept++;
                                continue;
                        }
                        if (fg_rd_release(r->rc->admin, k->key, k->len, k->since, k->through,
                                          r->rc->timeout_ns, &status, body, sizeof(body), err,
                                          sizeof(err))) {
                                fail(r, "releasing keys: %s", err);
                                return 0;
                        }
                        if (status == 200) {
                                k->pending = false;
                                r->rep->keys_released++;
                        } else if (status == 404) {
                                k->pending = false;
                                r->rep->keys_not_parked++;
                        } else if (status == 409 && strstr(body, "\"behind\"")) {
                                k->round = r->round + 1;
                                pending++;
                        } else {
                                fg_warn("redrive: key of %zu bytes kept parked: %d %s", k->len,
                                        status, body);
                                k->pending = false;
                                r->rep->keys_kept++;
                        }
                }
        return pending;
}

/* Moves every partition's end to the topic's end now. */
static int extend_ends(rd_t *r) {
        int tmo = (int)(r->rc->timeout_ns / FG_NS_PER_MS);

        for (int i = 0; i < r->nparts; i++) {
                int64_t lo, hi;
                rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
                    r->rk, r->rc->topic, r->parts[i].partition, &lo, &hi, tmo);
                if (err) {
                        fail(r, "reading the end of %s: %s", r->rc->topic, rd_kafka_err2str(err));
                        return -1;
                }
                if (hi > r->parts[i].end)
                        r->parts[i].end = hi;
        }
        return 0;
}

static int assign_all(rd_t *r) {
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(r->nparts + 1);
        rd_kafka_resp_err_t err;

        for (int i = 0; i < r->nparts; i++)
                rd_kafka_topic_partition_list_add(list, r->rc->topic, r->parts[i].partition)->offset =
                    r->parts[i].pos;
        err = rd_kafka_assign(r->rk, list);
        rd_kafka_topic_partition_list_destroy(list);
        if (err)
                fail(r, "assigning %s: %s", r->rc->topic, rd_kafka_err2str(err));
        return err ? -1 : 0;
}

int fg_redrive_run(const fg_redrive_cfg_t *rc, fg_redrive_report_t *rep, char *errstr,
                   size_t errstr_size) {
        rd_t r = {.rc = rc, .rep = rep, .errstr = errstr, .errstr_size = errstr_size, .round = 1,
                  .rng = (uint64_t)fg_mono_ns()};
        bool filtered = rc->nkeys || rc->since_ms >= 0;
        size_t pending = 0;

        *rep = (fg_redrive_report_t){0};
        r.nbuckets = 64;
        r.buckets = calloc(r.nbuckets, sizeof(*r.buckets));
        if (!r.buckets)
                abort();
        r.rk = consumer_new(rc, errstr, errstr_size);
        if (!r.rk) {
                r.fatal = true;
                goto out;
        }
        r.hctx = fg_handler_ctx_new(rc->handler);
        r.conn = fg_sink_open(rc->sink, errstr, errstr_size);
        if (!r.hctx || !r.conn) {
                if (!r.conn)
                        r.fatal = true;
                else
                        fail(&r, "out of memory");
                goto out;
        }
        if (load_partitions(&r))
                goto out;
        if (filtered && !records_fit(&r)) {
                fail(&r, "earlier filtered runs left too much to remember in %s's committed "
                         "metadata; run `floodgate redrive` once without --key/--since",
                     rc->topic);
                goto out;
        }
        if (assign_all(&r))
                goto out;
        for (;;) {
                rep->rounds = r.round;
                read_to_end(&r);
                if (commit(&r, filtered || r.round > 1) || r.fatal || stopped(&r))
                        break;
                pending = release(&r);
                if (!pending || r.fatal || r.round >= FG_REDRIVE_ROUNDS)
                        break;
                /* The daemon parked more of these keys while we read: read
                 * on, for them only. */
                r.round++;
                if (!records_fit(&r) || extend_ends(&r) || assign_all(&r))
                        break;
        }
        if (pending && !r.fatal)
                fail(&r, "%zu key(s) still parked: the daemon parked more of them than redrive "
                         "replayed; run it again", pending);
        rep->keys_kept += pending;
        if (!r.fatal && rep->keys_kept)
                fail(&r, "%lld replayed key(s) not released%s", (long long)rep->keys_kept,
                     rc->admin ? "" : ": no admin address (metrics.listen is off; use --admin)");
        if (!r.fatal && rep->failed)
                fail(&r, "%lld event(s) failed again and went back to %s; their keys stay parked",
                     (long long)rep->failed, rc->topic);
out:
        if (r.conn)
                fg_sink_close(r.conn);
        fg_handler_ctx_destroy(r.hctx);
        if (r.rk) {
                rd_kafka_consumer_close(r.rk);
                rd_kafka_destroy(r.rk);
        }
        for (int i = 0; i < r.nparts; i++)
                fg_rdl_free(&r.parts[i]);
        free(r.parts);
        keys_free(&r);
        if (!r.fatal && stopped(&r))
                snprintf(errstr, errstr_size, "stopped; what was replayed is committed");
        return r.fatal || stopped(&r) ? -1 : 0;
}

int64_t fg_redrive_parse_since(const char *s, int64_t now_ms, char *errstr, size_t errstr_size) {
        struct tm tm = {0};
        const char *end;
        int64_t ns;
        char why[128];

        end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (end && !*end)
                return (int64_t)timegm(&tm) * 1000;
        if (!fg_parse_duration(s, &ns, why, sizeof(why)))
                return now_ms - ns / FG_NS_PER_MS;
        snprintf(errstr, errstr_size,
                 "--since '%s': expected a duration back from now (30m, 2h) or a UTC time "
                 "YYYY-MM-DDTHH:MM:SSZ", s);
        return -1;
}
