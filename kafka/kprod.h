/*
 * kprod: an idempotent Kafka producer with a synchronous batch send, shared
 * by the kafka sink and the dead-letter path.
 *
 * DESIGN
 * One librdkafka producer serves every worker. fg_kprod_send() produces a
 * batch and blocks until librdkafka has a delivery report for each message
 * (bounded by the delivery timeout, message.timeout.ms), because the caller
 * commits the source offsets right after: an offset is committed only once
 * the broker acknowledged the message. A dedicated poller thread serves the
 * delivery reports and wakes the waiting worker.
 *
 * The producer is idempotent (enable.idempotence=true: acks=all, no
 * duplicates or reordering from librdkafka's own retries).
 *
 * Threading: fg_kprod_new/destroy: main thread. fg_kprod_send: any number
 * of worker threads at once. The poller thread runs delivery callbacks.
 * Locks: kp->lock guards every waiter's pending count; each waiter has its
 * own condition variable.
 * Ownership: message bytes are copied by librdkafka (RD_KAFKA_MSG_F_COPY);
 * headers passed in msgs[] are always consumed (handed to librdkafka, or
 * destroyed on a local failure).
 */
#ifndef FG_KPROD_H
#define FG_KPROD_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "common/strlist.h"

typedef struct fg_kprod fg_kprod_t;

typedef struct fg_kprod_msg {
        const char *topic;            /* NULL: the producer's default topic */
        const void *key;
        size_t key_len;
        const void *value;
        size_t len;
        rd_kafka_headers_t *headers;  /* consumed; may be NULL */
        int64_t ts_ms;                /* -1: now */
} fg_kprod_msg_t;

/* @p props are applied verbatim after floodgate's defaults; @p timeout_ns
 * becomes message.timeout.ms (the delivery deadline). */
fg_kprod_t *fg_kprod_new(const char *name, const char *bootstrap, const fg_strmap_t *props,
                         const char *default_topic, int64_t timeout_ns, char *errstr,
                         size_t errstr_size);
/* Whether librdkafka would create this producer (fg_kconf_check_client):
 * the same configuration fg_kprod_new builds, without brokers. 0, or -1
 * with the reason. Main thread (check-config, start-up). */
int fg_kprod_check(const char *name, const fg_strmap_t *props, int64_t timeout_ns, char *errstr,
                   size_t errstr_size);
/* Flushes (bounded by the delivery timeout), stops the poller, destroys. */
void fg_kprod_destroy(fg_kprod_t *kp);

/* Produces @p n messages and waits for all their delivery reports;
 * err[i] is RD_KAFKA_RESP_ERR_NO_ERROR once message i is acknowledged. */
void fg_kprod_send(fg_kprod_t *kp, fg_kprod_msg_t *msgs, size_t n, rd_kafka_resp_err_t *err);

/* Whether an error is worth retrying (timeouts, transport, leadership...)
 * or permanent for this message (too large, invalid record, auth...). */
int fg_kprod_err_is_retriable(rd_kafka_resp_err_t err);

#endif
