/*
 * config: floodgate's YAML configuration, parsed strictly into a typed struct.
 *
 * One table of options (config_table.c: dotted name, type, default, bounds,
 * flags, help) drives parsing, validation, defaults, reload decisions and the
 * reference documentation, so they cannot drift apart.
 *
 * Errors are collected, never fatal on the first one: a load reports every
 * problem it finds as "path:line:col: message" (line and column 1-based).
 *
 * Threading: fg_config_load*() and fg_config_diff() are pure and may run on
 * any thread; the daemon loads on the main thread. A loaded fg_config_t is
 * immutable: share it read-only across threads for as long as its owner keeps
 * it alive.
 * Ownership: fg_config_load*() returns a config owned by the caller, freed
 * with fg_config_destroy(). Every string inside belongs to the config.
 * fg_config_errs_t owns its messages; free with fg_config_errs_clear().
 */
#ifndef FG_CONFIG_H
#define FG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Config files larger than this are rejected before parsing. */
#define FG_CONFIG_MAX_FILE_SIZE (1024 * 1024)
/* Mappings and sequences nested deeper than this are rejected. */
#define FG_CONFIG_MAX_DEPTH 32

typedef struct fg_strlist {
        char **v;
        size_t n;
} fg_strlist_t;

typedef struct fg_strmap {
        char **keys;
        char **values;
        size_t n;
} fg_strmap_t;

typedef enum fg_workers_mode {
        FG_WORKERS_FIXED = 0,
        FG_WORKERS_DYNAMIC,
} fg_workers_mode_t;

typedef enum fg_sink_type {
        FG_SINK_STDOUT = 0,
        FG_SINK_FILE,
        FG_SINK_NULL,
        FG_SINK_HTTP,
        FG_SINK_KAFKA,
        FG_SINK_PLUGIN,
} fg_sink_type_t;

typedef enum fg_handler_mode {
        FG_HANDLER_JSON = 0,  /* parse, filter, shape, re-serialise compactly */
        FG_HANDLER_RAW,       /* pass the bytes; filters match the whole payload */
} fg_handler_mode_t;

typedef enum fg_on_invalid {
        FG_ON_INVALID_DEAD_LETTER = 0,
        FG_ON_INVALID_DROP,
        FG_ON_INVALID_FAIL,   /* stop the daemon, leaving the event uncommitted */
} fg_on_invalid_t;

typedef enum fg_breaker_window {
        FG_BREAKER_WINDOW_TIME = 0,
        FG_BREAKER_WINDOW_COUNT,
} fg_breaker_window_t;

typedef enum fg_breaker_when_open {
        FG_BREAKER_WAIT = 0,          /* workers hold their events until it closes */
        FG_BREAKER_DEAD_LETTER,       /* events go to the dead-letter topic */
} fg_breaker_when_open_t;

typedef enum fg_http_format {
        FG_HTTP_JSON = 0,     /* one event per request */
        FG_HTTP_JSON_ARRAY,   /* a batch as one JSON array */
        FG_HTTP_NDJSON,       /* a batch as newline-delimited JSON */
} fg_http_format_t;

/* The embedded (or command-line) load generator profile. */
typedef struct fg_burst_cfg {
        bool enabled;          /* section present in the file */
        char *topic;           /* NULL: first of kafka.topics */
        int64_t count;         /* events to produce */
        int64_t rate;          /* events/s at baseline; 0 = as fast as possible */
        int64_t size;          /* approximate JSON event size in bytes */
        int64_t keys;          /* distinct message keys */
        int64_t spike_at_ns;   /* spike starts this long after the first event */
        int64_t spike_for_ns;  /* spike length; 0 = no spike */
        int64_t spike_rate;    /* events/s during the spike; 0 = as fast as possible */
} fg_burst_cfg_t;

typedef struct fg_config {
        char *path; /* the file it came from, for messages */

        struct {
                char *brokers;           /* "host:port,..." or "mock" */
                char *group_id;
                fg_strlist_t topics;
                fg_strmap_t properties;  /* passed to librdkafka verbatim */
                int64_t mock_brokers;    /* kafka.mock.brokers, with brokers: mock */
                int64_t mock_partitions; /* kafka.mock.partitions per topic */
                int64_t rebalance_timeout_ns; /* bounded wait for revoked in-flight */
        } kafka;

        struct {
                int64_t capacity;       /* messages */
                int64_t max_bytes;      /* payload bytes */
                double high_watermark;  /* pause ingest at this fill ratio */
                double low_watermark;   /* resume ingest at this fill ratio */
                int64_t pause_after_ns; /* stall length that pauses the partitions */
        } queue;

        struct {
                fg_workers_mode_t mode;
                int64_t size;           /* fixed pool size */
                int64_t min, max;       /* dynamic pool bounds */
                int64_t idle_linger_ns; /* dynamic: idle this long before retiring */
                int64_t scale_interval_ns;
                int64_t batch_max;      /* messages a worker takes at once */
        } workers;

        struct {
                fg_handler_mode_t mode;
                fg_on_invalid_t on_invalid;
                char *filter_field;         /* dotted path; NULL = whole event */
                char *filter_equals;        /* at most one of equals/exists/contains_any */
                bool filter_exists;
                fg_strlist_t filter_contains_any;
                bool filter_case_insensitive;
                bool add_metadata;          /* add metadata_field {topic, partition, ...} */
                char *metadata_field;
                fg_strlist_t keep;          /* keep only these top-level fields */
                fg_strlist_t drop;          /* drop these (dotted) fields */
        } handler;

        struct {
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
                int64_t retry_max_attempts;     /* 0 = unlimited */
                int64_t retry_initial_backoff_ns;
                int64_t retry_max_backoff_ns;
                int64_t retry_max_elapsed_ns;   /* 0 = unlimited */
        } sink;

        struct {
                bool enabled;           /* false: calls always flow (DISABLED) */
                bool forced_open;       /* operator kill switch: no sink calls */
                fg_breaker_window_t window_type;
                int64_t window_size;    /* seconds (time) or calls (count) */
                int64_t min_calls;
                double failure_rate;
                double slow_call_rate;
                int64_t slow_call_ns;
                int64_t open_ns;
                double open_backoff;
                int64_t open_max_ns;
                double jitter;
                int64_t half_open_calls;
                int64_t half_open_max_wait_ns;
                fg_breaker_when_open_t when_open;
        } breaker;

        struct {
                char *topic;            /* NULL = no dead-letter topic */
                char *brokers;          /* NULL = kafka.brokers */
                fg_strmap_t properties;
        } dead_letter;

        struct {
                char *listen;           /* "host:port" of the admin HTTP server; NULL = off */
                int64_t log_interval_ns;/* status line period; 0 = off (live) */
                int64_t stall_timeout_ns; /* a thread stuck this long fails /healthz */
        } metrics;

        struct {
                int64_t timeout_ns;     /* drain budget on SIGTERM */
        } shutdown;

        struct {
                int level;              /* fg_log_level_t */
        } log;

        fg_burst_cfg_t burst;
} fg_config_t;

/* Collected diagnostics, each "path:line:col: message". */
typedef struct fg_config_errs {
        char **msgs;
        size_t n;
} fg_config_errs_t;

/* Loads and validates @p path. Returns NULL when any error was found; then
 * @p errs holds every message (at least one). @p errs must be zeroed or
 * cleared before the call. */
fg_config_t *fg_config_load(const char *path, fg_config_errs_t *errs);

/* Same, from memory; @p name stands in for the path in messages. */
fg_config_t *fg_config_load_string(const char *name, const char *text, size_t len,
                                   fg_config_errs_t *errs);

void fg_config_destroy(fg_config_t *cfg);
void fg_config_errs_clear(fg_config_errs_t *errs);

/* Calls @p cb once for each option whose value differs between @p old and
 * @p cur, with its dotted name and whether it can change without a restart
 * (FG_OPT_F_LIVE in the table). Returns the number of differences. */
size_t fg_config_diff(const fg_config_t *old, const fg_config_t *cur,
                      void (*cb)(const char *name, bool live, void *opaque), void *opaque);

/* Writes the reference documentation of every option (name, type, default,
 * bounds, help) as commented YAML to @p fp. */
void fg_config_print_reference(FILE *fp);

/* Looks up a string map value; NULL when absent. */
const char *fg_strmap_get(const fg_strmap_t *map, const char *key);

#endif
