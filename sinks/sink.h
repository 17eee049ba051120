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
 * fg_sink_get_stats: any thread.
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

/* TLS to an https:// sink.url (sink.tls.*). Strings belong to the config. */
typedef enum fg_tls_version {
        FG_TLS_1_2 = 0,
        FG_TLS_1_3,
} fg_tls_version_t;

typedef struct fg_tls_cfg {
        char *ca_file;          /* PEM CAs to trust; NULL = the system's */
        char *cert_file;        /* client certificate chain (mutual TLS), with key_file */
        char *key_file;
        char *server_name;      /* SNI and the name verified; NULL = the URL's host */
        bool verify;            /* check the server's certificate and name */
        bool insecure_skip_verify; /* the explicit consent verify: false needs */
        fg_tls_version_t min_version;
} fg_tls_cfg_t;

/* Credentials the http sink sends (sink.auth.*): basic or a bearer token,
 * inline or from a file. Strings belong to the config. */
typedef struct fg_http_auth_cfg {
        char *basic_user;
        char *basic_password;
        char *bearer_token;
        char *bearer_token_file;
} fg_http_auth_cfg_t;

typedef enum fg_http_compression {
        FG_HTTP_COMPRESS_NONE = 0,
        FG_HTTP_COMPRESS_GZIP,
} fg_http_compression_t;

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
        int64_t file_mode;      /* file sink: permissions of a file it creates */
        char *url;              /* http */
        fg_strmap_t headers;    /* http: extra request headers */
        fg_http_format_t format;/* http */
        fg_tls_cfg_t tls;       /* http, https:// URLs */
        fg_http_auth_cfg_t auth;/* http */
        fg_http_compression_t compression; /* http: request bodies */
        int64_t compression_level;         /* gzip: 1 (fast) .. 9 (small) */
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
        int64_t concurrency;    /* workers inside this sink at once; 0 = see sink.concurrency */
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

/* What a sink counts about its connections, for /metrics and /stats
 * (zeros for sinks without TLS). */
typedef struct fg_sink_stats {
        uint64_t tls_handshakes; /* full TLS handshakes that succeeded */
        uint64_t tls_resumed;    /* handshakes that resumed an earlier session */
        uint64_t tls_errors;     /* connections that failed in TLS (handshake, verification, alerts) */
} fg_sink_stats_t;

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
        /* optional: what create would refuse, found without creating the
         * sink or touching the downstream (check-config). 0, or -1 with the
         * reason (a whole message, naming the option) and *opt set to the
         * option it is about. */
        int (*check)(const fg_sink_cfg_t *sc, const char **opt, char *errstr, size_t errstr_size);
        /* optional: its counters; any thread. */
        void (*stats)(void *shared, fg_sink_stats_t *out);
        /* A send delivers its events in order as one unit ("prefix-ordered"):
         * the downstream applies them in the batch's order, and once an
         * event fails for now (RETRY or BACKPRESSURE) no later event of the
         * call is delivered (res[] never has OK after such a failure), so
         * the worker's retry of the failed tail, in order, keeps order. An
         * ordered queue may then put a key's consecutive events into one
         * batch (workers.ordering). False: a batch never carries two events
         * of a key, whatever the sink does with them. */
        bool prefix_ordered;
} fg_sink_class_t;

typedef struct fg_sink fg_sink_t;
typedef struct fg_sink_conn fg_sink_conn_t;

/* What fg_sink_new would refuse in @p sc, found without creating the sink:
 * 0, or -1 with the reason and *opt set to the option ("sink.url", ...) it
 * is about. Main thread (check-config, start-up). */
int fg_sink_check(const fg_sink_cfg_t *sc, const char **opt, char *errstr, size_t errstr_size);
/* @p sc is read during the call only: the sink copies what it keeps. */
fg_sink_t *fg_sink_new(const fg_sink_cfg_t *sc, const fg_sink_env_t *env, char *errstr,
                       size_t errstr_size);
void fg_sink_destroy(fg_sink_t *sink);
void fg_sink_reopen(fg_sink_t *sink);
const char *fg_sink_name(const fg_sink_t *sink);
/* Events per send the sink prefers; 0 = no preference. */
size_t fg_sink_batch_hint(const fg_sink_t *sink);
/* How the sink puts events into its output (file and stdout: lines; http:
 * by sink.format; others: each its own message): what a raw-mode handler
 * must not let through. Any thread (immutable). */
fg_framing_t fg_sink_framing(const fg_sink_t *sink);
/* The class's prefix_ordered promise (see fg_sink_class_t). Any thread
 * (immutable). */
bool fg_sink_prefix_ordered(const fg_sink_t *sink);
/* How the workers retry what this sink refuses for now (sink.retry.*), and
 * how long they wait to fill a batch for it (sink.batch.max_wait): policy
 * that travels with the sink. Any thread (immutable). */
const fg_retry_cfg_t *fg_sink_retry(const fg_sink_t *sink);
int64_t fg_sink_batch_wait_ns(const fg_sink_t *sink);
/* The rate cap (sink.rate_limit), shared by every connection: takes @p n
 * events' tokens at @p now_ns and returns 0, or returns how many ns from
 * now they could be taken (nothing taken; wait, then ask again). 0 at once
 * without a cap. Any thread. */
int64_t fg_sink_rate_take(fg_sink_t *sink, size_t n, int64_t now_ns);
/* The sink's counters (zeros when it keeps none). Any thread. */
void fg_sink_get_stats(const fg_sink_t *sink, fg_sink_stats_t *out);

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
