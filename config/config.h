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

#include "breaker/breaker.h"
#include "common/strlist.h"
#include "handler/handler.h"
#include "ingest/ingest.h"
#include "kafka/kconf.h"
#include "pipeline/queue.h"
#include "sinks/dead_letter.h"
#include "sinks/sink.h"
#include "tools/burst.h"
#include "workers/pool.h"
#include "workers/route.h"

/* Config files larger than this are rejected before parsing. */
#define FG_CONFIG_MAX_FILE_SIZE (1024 * 1024)
/* Mappings and sequences nested deeper than this are rejected. */
#define FG_CONFIG_MAX_DEPTH 32

/* Each module declares the section of the configuration it reads, in its
 * own header; the loader fills them through the option table
 * (config_table.c), and the daemon hands each module its own. The sections
 * the daemon itself reads (metrics, shutdown, log) are declared here. */
typedef struct fg_config {
        char *path; /* the file it came from, for messages */
        struct fg_config_pos *pos; /* where each option was written (config_int.h) */

        fg_kafka_cfg_t kafka;       /* kafka/kconf.h */
        fg_ingest_cfg_t ingest;     /* ingest/ingest.h: kafka.rebalance_timeout, queue.pause_after */
        fg_queue_cfg_t queue;       /* pipeline/queue.h */
        fg_pool_cfg_t workers;      /* workers/pool.h */
        fg_handler_cfg_t handler;   /* handler/handler.h */
        fg_sink_cfg_t sink;         /* sinks/sink.h */
        fg_brk_cfg_t breaker;       /* breaker/breaker.h */
        fg_dlq_cfg_t dead_letter;   /* sinks/dead_letter.h */
        fg_route_list_t routes;     /* workers/route.h */

        struct {
                char *listen;           /* "host:port" of the admin HTTP server; NULL = off */
                fg_strlist_t allowed_hosts; /* Host names accepted besides listen and loopback */
                int64_t log_interval_ns;/* status line period; 0 = off (live) */
                int64_t stall_timeout_ns; /* a thread stuck this long fails /healthz */
        } metrics;

        struct {
                int64_t timeout_ns;     /* drain budget on SIGTERM */
        } shutdown;

        struct {
                int level;              /* fg_log_level_t */
        } log;

        fg_burst_cfg_t burst;       /* tools/burst.h */
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

/* What the loader cannot judge from the file alone, asked of the libraries
 * and the system, with messages in the loader's "path:line:col: message"
 * form (at the option concerned) appended to @p errs: librdkafka creates,
 * and at once destroys, each Kafka client the file describes (consumer,
 * kafka sink, dead letters), with every property and floodgate's own
 * settings; the sink checks what it will open (the plugin is dlopen()ed
 * and its ABI and permissions checked; the file sink's path); the host of
 * metrics.listen resolves. Returns the number of errors. Main thread:
 * starts and stops librdkafka's threads and may wait for a name lookup;
 * `check-config`, `run` and reloads call it after a successful load. */
size_t fg_config_probe(const fg_config_t *cfg, fg_config_errs_t *errs);
/* Whether the top-level sink is there: always without routes; with
 * routes only when the file has a sink section. Any thread. */
bool fg_config_has_sink(const fg_config_t *cfg);

/* Calls @p cb once for each option whose value differs between @p old and
 * @p cur, with its dotted name and whether it can change without a restart
 * (FG_OPT_F_LIVE in the table). Returns the number of differences. */
size_t fg_config_diff(const fg_config_t *old, const fg_config_t *cur,
                      void (*cb)(const char *name, bool live, void *opaque), void *opaque);

/* Writes the reference documentation of every option (name, type, default,
 * bounds, help) as commented YAML to @p fp. */
void fg_config_print_reference(FILE *fp);

#endif
