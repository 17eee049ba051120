/*
 * sink: where events go — the interface every sink implements.
 *
 * DESIGN
 * A sink has shared state created once from the config on the main thread
 * and one connection per worker, opened and used only on that worker's
 * thread. A worker hands a batch of events to fg_sink_send(), which blocks
 * until every event in it has an outcome: a sink acknowledges an event only
 * once the downstream holds it (file written, HTTP 2xx, Kafka delivery
 * report), because the worker commits its offset right after.
 *
 * Outcomes tell the worker (and the circuit breaker) what happened:
 *   OK            delivered.
 *   RETRY         transient failure of the downstream (5xx, connection
 *                 error, disk full): try again later; counts as a failure.
 *   BACKPRESSURE  the downstream asked us to slow down (429, 503 with
 *                 Retry-After, timeouts): try again later, honouring
 *                 retry_after_ns; counts as a failure.
 *   REJECT        permanent for this event (e.g. HTTP 400): retrying cannot
 *                 help, so it is dead-lettered; it is the event's fault, not
 *                 the sink's, so it does not count against the sink.
 *
 * Threading: fg_sink_new, fg_sink_reopen, fg_sink_destroy: main thread.
 * fg_sink_open, fg_sink_send, fg_sink_close: one worker thread per
 * connection. Implementations document their own locking.
 * Ownership: the caller owns events and their buffers for the duration of
 * send; a sink copies what it keeps. fg_sink_destroy() only after every
 * connection is closed.
 */
#ifndef FG_SINK_H
#define FG_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

typedef struct fg_event {
        const char *topic;
        int32_t partition;
        int64_t offset;
        int64_t ts_ms;          /* Kafka message timestamp, -1 if none */
        int64_t ingest_ms;      /* wall clock when floodgate took it from Kafka */
        const void *key;
        size_t key_len;
        const void *value;      /* the (shaped) payload */
        size_t len;
        const void *src;        /* the rd_kafka_message_t it came from */
} fg_event_t;

typedef enum fg_sink_status {
        FG_SINK_OK = 0,
        FG_SINK_RETRY,
        FG_SINK_BACKPRESSURE,
        FG_SINK_REJECT,
} fg_sink_status_t;

typedef struct fg_sink_result {
        fg_sink_status_t status;
        int64_t retry_after_ns; /* downstream's hint; 0 = none */
        const char *reason;     /* static, or owned by the connection until its next send */
} fg_sink_result_t;

/* What a sink may need beyond its config section. */
typedef struct fg_sink_env {
        const char *kafka_bootstrap; /* kafka.brokers resolved ("mock": the embedded cluster) */
} fg_sink_env_t;

typedef struct fg_sink_class {
        const char *name;
        void *(*create)(const fg_config_t *cfg, const fg_sink_env_t *env, char *errstr,
                        size_t errstr_size);
        void (*destroy)(void *shared);
        void *(*open)(void *shared, char *errstr, size_t errstr_size);
        void (*close)(void *conn);
        void (*send)(void *conn, const fg_event_t *evs, size_t n, fg_sink_result_t *res);
        void (*reopen)(void *shared); /* optional: SIGHUP, e.g. after log rotation */
        /* optional: events per send the sink works best with (one request's
         * worth); 0 or absent = as many as the worker has. */
        size_t (*batch_hint)(void *shared);
} fg_sink_class_t;

typedef struct fg_sink fg_sink_t;
typedef struct fg_sink_conn fg_sink_conn_t;

fg_sink_t *fg_sink_new(const fg_config_t *cfg, const fg_sink_env_t *env, char *errstr,
                       size_t errstr_size);
void fg_sink_destroy(fg_sink_t *sink);
void fg_sink_reopen(fg_sink_t *sink);
const char *fg_sink_name(const fg_sink_t *sink);
/* Events per send the sink prefers; 0 = no preference. */
size_t fg_sink_batch_hint(const fg_sink_t *sink);

fg_sink_conn_t *fg_sink_open(fg_sink_t *sink, char *errstr, size_t errstr_size);
void fg_sink_close(fg_sink_conn_t *conn);
void fg_sink_send(fg_sink_conn_t *conn, const fg_event_t *evs, size_t n, fg_sink_result_t *res);

/* The classes, for the registry in sink.c. */
extern const fg_sink_class_t fg_sink_stdout_class;
extern const fg_sink_class_t fg_sink_file_class;
extern const fg_sink_class_t fg_sink_null_class;
extern const fg_sink_class_t fg_sink_http_class;
extern const fg_sink_class_t fg_sink_kafka_class;
extern const fg_sink_class_t fg_sink_plugin_class;

#endif
