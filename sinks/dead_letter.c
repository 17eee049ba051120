/*
 * dead_letter: producing undeliverable events with their reasons (see
 * dead_letter.h).
 */
#include "sinks/dead_letter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "kafka/kprod.h"

/* The producer's client.id. */
#define CLIENT_ID "floodgate-dlq"

struct fg_dlq {
        fg_kprod_t *kp;
};

fg_dlq_t *fg_dlq_new(const fg_dlq_cfg_t *dc, const char *kafka_bootstrap, int64_t timeout_ns,
                     char *errstr, size_t errstr_size) {
        const char *bootstrap = dc->brokers ? dc->brokers : kafka_bootstrap;
        fg_dlq_t *dlq = calloc(1, sizeof(*dlq));

        if (!dlq) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        dlq->kp = fg_kprod_new(CLIENT_ID, bootstrap, &dc->properties, dc->topic, timeout_ns,
                               errstr, errstr_size);
        if (!dlq->kp) {
                free(dlq);
                return NULL;
        }
        return dlq;
}

int fg_dlq_check(const fg_dlq_cfg_t *dc, int64_t timeout_ns, char *errstr, size_t errstr_size) {
        return fg_kprod_check(CLIENT_ID, &dc->properties, timeout_ns, errstr, errstr_size);
}

void fg_dlq_destroy(fg_dlq_t *dlq) {
        if (!dlq)
                return;
        fg_kprod_destroy(dlq->kp);
        free(dlq);
}

static void add_str(rd_kafka_headers_t *h, const char *name, const char *value) {
        rd_kafka_header_add(h, name, -1, value ? value : "", -1);
}

static void add_int(rd_kafka_headers_t *h, const char *name, long long value) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%lld", value);
        rd_kafka_header_add(h, name, -1, buf, -1);
}

/* The original headers (if any) followed by ours. */
static rd_kafka_headers_t *dlq_headers(const fg_dlq_entry_t *e, int64_t now_ms) {
        const rd_kafka_message_t *rkm = e->src;
        rd_kafka_headers_t *orig = NULL, *h;
        rd_kafka_timestamp_type_t tstype;
        int64_t ts = rd_kafka_message_timestamp(rkm, &tstype);

        if (!rd_kafka_message_headers(rkm, &orig) && orig)
                h = rd_kafka_headers_copy(orig);
        else
                h = rd_kafka_headers_new(8);
        add_str(h, "fg.error.class", e->error_class);
        add_str(h, "fg.error.message", e->error_message);
        add_int(h, "fg.attempts", (long long)e->attempts);
        if (e->source) {
                add_str(h, "fg.source.topic", e->source->topic);
                add_int(h, "fg.source.partition", (long long)e->source->partition);
                add_int(h, "fg.source.offset", (long long)e->source->offset);
                ts = e->source->ts_ms;
        } else {
                add_str(h, "fg.source.topic", rd_kafka_topic_name(rkm->rkt));
                add_int(h, "fg.source.partition", (long long)rkm->partition);
                add_int(h, "fg.source.offset", (long long)rkm->offset);
        }
        if (ts >= 0)
                add_int(h, "fg.source.timestamp", (long long)ts);
        add_int(h, "fg.time", (long long)now_ms);
        if (e->parked_since_ms > 0) {
                add_int(h, "fg.parked.since", (long long)e->parked_since_ms);
                add_int(h, "fg.parked.seq", (long long)e->parked_seq);
        }
        return h;
}

void fg_dlq_send(fg_dlq_t *dlq, const fg_dlq_entry_t *entries, size_t n, rd_kafka_resp_err_t *err) {
        fg_kprod_msg_t *msgs = calloc(n ? n : 1, sizeof(*msgs));
        int64_t now_ms = fg_wall_ms();

        if (!msgs)
                abort();
        for (size_t i = 0; i < n; i++) {
                const rd_kafka_message_t *rkm = entries[i].src;
                msgs[i] = (fg_kprod_msg_t){
                    .key = rkm->key,
                    .key_len = rkm->key_len,
                    .value = rkm->payload,
                    .len = rkm->len,
                    .headers = dlq_headers(&entries[i], now_ms),
                    .ts_ms = -1,
                };
        }
        fg_kprod_send(dlq->kp, msgs, n, err);
        free(msgs);
}
