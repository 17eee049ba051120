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
} fg_workers_mode_t;

typedef enum fg_sink_type {
        FG_SINK_STDOUT = 0,
        FG_SINK_FILE,
        FG_SINK_NULL,
} fg_sink_type_t;

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
                int64_t batch_max;      /* messages a worker takes at once */
        } workers;

        struct {
                fg_sink_type_t type;
                char *path;             /* file sink */
                bool fsync;             /* file sink: fsync before acknowledging */
        } sink;

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
