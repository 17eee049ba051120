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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/strlist.h"
#include "pipeline/event.h"


typedef enum fg_sink_type {
        FG_SINK_STDOUT = 0,
        FG_SINK_FILE,
        FG_SINK_NULL,
        FG_SINK_HTTP,
        FG_SINK_KAFKA,
        FG_SINK_PLUGIN,
} fg_sink_type_t;

typedef enum fg_http_format {
        FG_HTTP_JSON = 0,     /* one event per request */
        FG_HTTP_JSON_ARRAY,   /* a batch as one JSON array */
        FG_HTTP_NDJSON,       /* a batch as newline-delimited JSON */
} fg_http_format_t;

/* How the workers retry what a sink refuses for now (sink.retry.*). */
typedef struct fg_retry_cfg {
        int64_t max_attempts;     /* 0 = unlimited */
        int64_t initial_backoff_ns;
        int64_t max_backoff_ns;
        int64_t max_elapsed_ns;   /* 0 = unlimited */
} fg_retry_cfg_t;

/* A cap on the events per second sent to one sink (sink.rate_limit.*). */
typedef struct fg_rate_limit_cfg {
        int64_t events_per_second; /* 0 = no cap */
        int64_t burst;             /* 0 = one second's worth */
} fg_rate_limit_cfg_t;

/* The sink section of the configuration (sink.*), also the shape of
 * sink.fallback and of each route's sink. Strings, maps and the fallback
 * belong to the config that holds it. */
typedef struct fg_sink_cfg {
        fg_sink_type_t type;
        char *path;             /* file sink */
        bool fsync;             /* file sink: fsync before acknowledging */
        char *url;              /* http */
        fg_strmap_t headers;    /* http: extra request headers */
        fg_http_format_t format;/* http */
        int64_t batch_max_messages;
        int64_t batch_max_bytes;
        int64_t batch_max_wait_ns;  /* a worker waits this long to fill a batch */
        int64_t connect_timeout_ns;
        int64_t timeout_ns;     /* one request / one delivery */
        char *topic;            /* kafka */
        char *brokers;          /* kafka: NULL = kafka.brokers */
        fg_strmap_t properties; /* kafka producer properties */
        char *plugin_path;      /* plugin */
        fg_strmap_t plugin_config;
        fg_retry_cfg_t retry;
        fg_rate_limit_cfg_t rate_limit;
        struct fg_sink_cfg *fallback; /* NULL = none; a fallback has no fallback */
} fg_sink_cfg_t;

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
        void *(*create)(const fg_sink_cfg_t *sc, const fg_sink_env_t *env, char *errstr,
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

/* @p sc is read during the call only: the sink copies what it keeps. */
fg_sink_t *fg_sink_new(const fg_sink_cfg_t *sc, const fg_sink_env_t *env, char *errstr,
                       size_t errstr_size);
void fg_sink_destroy(fg_sink_t *sink);
void fg_sink_reopen(fg_sink_t *sink);
const char *fg_sink_name(const fg_sink_t *sink);
/* Events per send the sink prefers; 0 = no preference. */
size_t fg_sink_batch_hint(const fg_sink_t *sink);
/* How the workers retry what this sink refuses for now (sink.retry.*), and
 * how long they wait to fill a batch for it (sink.batch.max_wait): policy
 * that travels with the sink. Any thread (immutable). */
const fg_retry_cfg_t *fg_sink_retry(const fg_sink_t *sink);
int64_t fg_sink_batch_wait_ns(const fg_sink_t *sink);

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
