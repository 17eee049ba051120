/*
 * sink_kafka: produce events to sink.topic with an idempotent producer.
 *
 * Each event keeps its source message's key, headers and timestamp; the
 * value is the handled event. As a fallback (sink.fallback) it adds the
 * fg.error.* and fg.source.* headers of a dead letter. An event is acknowledged only when its
 * delivery report says the broker has it (fg_kprod_send waits), so the
 * source offset is committed only after delivery. Delivery errors map to
 * outcomes: timeouts -> BACKPRESSURE (the cluster is slow or away), other
 * retriable errors -> RETRY, permanent ones (too large, invalid record,
 * not authorised) -> REJECT, i.e. dead-lettered.
 *
 * Threading: create/destroy on the main thread; open/send/close on workers;
 * the producer is shared (see kprod.h).
 * Ownership: each connection owns its scratch arrays.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "kafka/kprod.h"
#include "sinks/sink.h"

/* The producer's client.id. */
#define CLIENT_ID "floodgate-sink"

typedef struct kafka_conn {
        fg_kprod_t *kp;
        fg_kprod_msg_t *msgs;
        rd_kafka_resp_err_t *err;
        size_t cap;
} kafka_conn_t;

static void *kafka_create(const fg_sink_cfg_t *sc, const fg_sink_env_t *env, char *errstr,
                          size_t errstr_size) {
        const char *bootstrap = sc->brokers ? sc->brokers : env->kafka_bootstrap;

        if (!sc->topic || !bootstrap) {
                snprintf(errstr, errstr_size, "the kafka sink needs sink.topic and brokers");
                return NULL;
        }
        return fg_kprod_new(CLIENT_ID, bootstrap, &sc->properties, sc->topic,
                            sc->timeout_ns, errstr, errstr_size);
}

/* The producer create would make, made and destroyed without brokers. */
static int kafka_check(const fg_sink_cfg_t *sc, const char **opt, char *errstr,
                       size_t errstr_size) {
        char why[512];

        *opt = sc->properties.n ? "sink.properties" : "sink.topic";
        if (fg_kprod_check(CLIENT_ID, &sc->properties, sc->timeout_ns, why, sizeof(why)) == 0)
                return 0;
        snprintf(errstr, errstr_size, "sink.properties: librdkafka refuses the producer: %s", why);
        return -1;
}

static void kafka_destroy(void *shared) { fg_kprod_destroy(shared); }

static void *kafka_open(void *shared, char *errstr, size_t errstr_size) {
        kafka_conn_t *c = calloc(1, sizeof(*c));

        if (!c) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        c->kp = shared;
        return c;
}

static void kafka_close(void *conn) {
        kafka_conn_t *c = conn;
        free(c->msgs);
        free(c->err);
        free(c);
}

static void reserve(kafka_conn_t *c, size_t n) {
        if (n <= c->cap)
                return;
        c->msgs = realloc(c->msgs, n * sizeof(*c->msgs));
        c->err = realloc(c->err, n * sizeof(*c->err));
        if (!c->msgs || !c->err)
                abort();
        c->cap = n;
}

static void add_int(rd_kafka_headers_t *h, const char *name, long long value) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%lld", value);
        rd_kafka_header_add(h, name, -1, buf, -1);
}

/* A copy of the source message's headers (the producer consumes it); for
 * an event a failed primary sent here (a fallback), followed by the
 * fg.error.* and fg.source.* headers a dead letter has. */
static rd_kafka_headers_t *source_headers(const fg_event_t *ev) {
        rd_kafka_headers_t *hdrs = NULL, *h = NULL;

        if (ev->src && !rd_kafka_message_headers((const rd_kafka_message_t *)ev->src, &hdrs) && hdrs)
                h = rd_kafka_headers_copy(hdrs);
        if (!ev->error_class)
                return h;
        if (!h)
                h = rd_kafka_headers_new(8);
        rd_kafka_header_add(h, "fg.error.class", -1, ev->error_class, -1);
        rd_kafka_header_add(h, "fg.error.message", -1,
                            ev->error_message ? ev->error_message : "", -1);
        if (ev->topic)
                rd_kafka_header_add(h, "fg.source.topic", -1, ev->topic, -1);
        add_int(h, "fg.source.partition", (long long)ev->partition);
        add_int(h, "fg.source.offset", (long long)ev->offset);
        if (ev->ts_ms >= 0)
                add_int(h, "fg.source.timestamp", (long long)ev->ts_ms);
        add_int(h, "fg.time", (long long)fg_wall_ms());
        return h;
}

static void kafka_send(void *conn, const fg_event_t *evs, size_t n, fg_sink_result_t *res) {
        kafka_conn_t *c = conn;

        reserve(c, n);
        for (size_t i = 0; i < n; i++)
                c->msgs[i] = (fg_kprod_msg_t){
                    .key = evs[i].key,
                    .key_len = evs[i].key_len,
                    .value = evs[i].value,
                    .len = evs[i].len,
                    .headers = source_headers(&evs[i]),
                    .ts_ms = evs[i].ts_ms,
                };
        fg_kprod_send(c->kp, c->msgs, n, c->err);
        for (size_t i = 0; i < n; i++) {
                rd_kafka_resp_err_t e = c->err[i];
                res[i].retry_after_ns = 0;
                res[i].reason = e ? rd_kafka_err2str(e) : NULL;
                if (!e)
                        res[i].status = FG_SINK_OK;
                else if (e == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT || e == RD_KAFKA_RESP_ERR__TIMED_OUT)
                        res[i].status = FG_SINK_BACKPRESSURE;
                else if (fg_kprod_err_is_retriable(e))
                        res[i].status = FG_SINK_RETRY;
                else
                        res[i].status = FG_SINK_REJECT;
        }
}

const fg_sink_class_t fg_sink_kafka_class = {
    .name = "kafka",
    .create = kafka_create,
    .destroy = kafka_destroy,
    .open = kafka_open,
    .close = kafka_close,
    .send = kafka_send,
    .check = kafka_check,
    /* Not prefix-ordered: each message has its own delivery report, and a
     * failed one may fail while a later one of the batch succeeds. */
    .prefix_ordered = false,
};
