/*
 * config_table: every configuration option of floodgate, one row each, and
 * the few rules that relate options to each other.
 *
 * DESIGN: parsing, defaults, bounds, reload decisions (fg_config_diff) and
 * the reference documentation (fg_config_print_reference) all read this
 * table, so adding an option is: a field in fg_config_t, one row here, and
 * its entry in config/floodgate.yaml (a test fails when that is missing).
 * Sections are implied by dotted names; rows of one section stay together
 * and in the order the reference documentation should show them.
 *
 * Threading: constant data, any thread.
 */
#include "config/config_int.h"

#include "common/clock.h"
#include "common/log.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define NS_S   FG_NS_PER_S
#define NS_MIN (60 * FG_NS_PER_S)
#define NS_H   (3600 * FG_NS_PER_S)
#define KIB    (1LL << 10)
#define MIB    (1LL << 20)
#define GIB    (1LL << 30)

#define OFF(field) offsetof(fg_config_t, field)

/* One row per option; the macro names say the type. Flags are FG_OPT_F_*. */
#define O_STRING(n, field, dflt, fl, h) \
        {.name = n, .type = FG_OPT_STRING, .flags = (fl), .offset = OFF(field), .def_str = dflt, .help = h}
#define O_INT(n, field, dflt, lo, hi, fl, h) \
        {.name = n, .type = FG_OPT_INT, .flags = (fl), .offset = OFF(field), .def = dflt, .min = lo, .max = hi, .help = h}
#define O_BOOL(n, field, dflt, fl, h) \
        {.name = n, .type = FG_OPT_BOOL, .flags = (fl), .offset = OFF(field), .def = dflt, .help = h}
#define O_RATIO(n, field, dflt, lo, hi, fl, h) \
        {.name = n, .type = FG_OPT_RATIO, .flags = (fl), .offset = OFF(field), .def_ratio = dflt, .rmin = lo, .rmax = hi, .help = h}
#define O_DURATION(n, field, dflt, lo, hi, fl, h) \
        {.name = n, .type = FG_OPT_DURATION, .flags = (fl), .offset = OFF(field), .def = dflt, .min = lo, .max = hi, .help = h}
#define O_SIZE(n, field, dflt, lo, hi, fl, h) \
        {.name = n, .type = FG_OPT_SIZE, .flags = (fl), .offset = OFF(field), .def = dflt, .min = lo, .max = hi, .help = h}
#define O_ENUM(n, field, dflt, names, fl, h) \
        {.name = n, .type = FG_OPT_ENUM, .flags = (fl), .offset = OFF(field), .def = dflt, .enums = names, .help = h}
#define O_STRLIST(n, field, fl, h) \
        {.name = n, .type = FG_OPT_STRLIST, .flags = (fl), .offset = OFF(field), .help = h}
#define O_STRMAP(n, field, refused, fl, h) \
        {.name = n, .type = FG_OPT_STRMAP, .flags = (fl), .offset = OFF(field), .reserved = refused, .help = h}
#define O_SECTION(n, field, h) \
        {.name = n, .type = FG_OPT_SECTION, .offset = OFF(field), .help = h}

#define REQ  FG_OPT_F_REQUIRED
#define LIVE FG_OPT_F_LIVE
#define NONEMPTY FG_OPT_F_NONEMPTY
#define UNIQUE FG_OPT_F_UNIQUE

/* Enum fields are written through an int. */
_Static_assert(sizeof(fg_workers_mode_t) == sizeof(int), "enum fields are int-sized");
_Static_assert(sizeof(fg_sink_type_t) == sizeof(int), "enum fields are int-sized");

static const fg_opt_enum_t workers_modes[] = {
    {"fixed", FG_WORKERS_FIXED},
    {NULL, 0},
};

static const fg_opt_enum_t sink_types[] = {
    {"stdout", FG_SINK_STDOUT},
    {"file", FG_SINK_FILE},
    {"null", FG_SINK_NULL},
    {NULL, 0},
};

static const fg_opt_enum_t log_levels[] = {
    {"error", FG_LOG_ERROR},
    {"warn", FG_LOG_WARN},
    {"info", FG_LOG_INFO},
    {"debug", FG_LOG_DEBUG},
    {NULL, 0},
};

/* librdkafka properties that floodgate sets itself. */
static const fg_opt_reserved_t kafka_reserved[] = {
    {"bootstrap.servers", "use kafka.brokers"},
    {"group.id", "use kafka.group_id"},
    {"enable.auto.offset.store",
     "floodgate stores offsets itself so that only finished work is committed"},
    {"enable.partition.eof", "floodgate manages it"},
    {NULL, NULL},
};

/* clang-format off */
const fg_opt_t fg_config_opts[] = {
    O_STRING("kafka.brokers", kafka.brokers, NULL, REQ | NONEMPTY, "bootstrap brokers \"host:port,...\", or \"mock\" for an embedded mock cluster"),
    O_STRING("kafka.group_id", kafka.group_id, "floodgate", NONEMPTY, "consumer group; instances with the same group share the partitions"),
    O_STRLIST("kafka.topics", kafka.topics, REQ | NONEMPTY | UNIQUE, "topics to consume"),
    O_STRMAP("kafka.properties", kafka.properties, kafka_reserved, 0, "librdkafka properties, passed verbatim (see librdkafka CONFIGURATION.md)"),
    O_INT("kafka.mock.brokers", kafka.mock_brokers, 1, 1, 16, 0, "brokers in the mock cluster (with brokers: mock)"),
    O_INT("kafka.mock.partitions", kafka.mock_partitions, 4, 1, 1000, 0, "partitions per topic in the mock cluster"),
    O_DURATION("kafka.rebalance_timeout", kafka.rebalance_timeout_ns, 10 * NS_S, 0, 10 * NS_MIN, 0, "how long a rebalance waits for in-flight work of revoked partitions"),

    O_INT("queue.capacity", queue.capacity, 10000, 1, 10000000, 0, "messages waiting between ingest and the workers"),
    O_SIZE("queue.max_bytes", queue.max_bytes, 32 * MIB, KIB, 64 * GIB, 0, "payload bytes waiting between ingest and the workers"),
    O_RATIO("queue.high_watermark", queue.high_watermark, 0.9, 0.0, 1.0, FG_OPT_F_MIN_EXCL, "fill ratio (of capacity or bytes) at which ingest stops taking messages"),
    O_RATIO("queue.low_watermark", queue.low_watermark, 0.5, 0.0, 1.0, FG_OPT_F_MAX_EXCL, "fill ratio at which ingest takes messages again"),
    O_DURATION("queue.pause_after", queue.pause_after_ns, NS_S, 0, NS_MIN, 0, "a stall longer than this pauses the partitions (librdkafka then drops its prefetch)"),

    O_ENUM("workers.mode", workers.mode, FG_WORKERS_FIXED, workers_modes, 0, "worker pool sizing"),
    O_INT("workers.size", workers.size, 4, 1, 1024, 0, "worker threads in a fixed pool"),
    O_INT("workers.batch_max", workers.batch_max, 256, 1, 10000, 0, "messages a worker takes from the queue at once"),

    O_ENUM("sink.type", sink.type, FG_SINK_STDOUT, sink_types, REQ, "where processed events go"),
    O_STRING("sink.path", sink.path, NULL, NONEMPTY, "output file of the file sink (appended to)"),
    O_BOOL("sink.fsync", sink.fsync, false, 0, "file sink: fsync before a batch counts as delivered"),

    O_DURATION("shutdown.timeout", shutdown.timeout_ns, 30 * NS_S, 0, NS_H, 0, "drain budget after SIGTERM before in-flight work is abandoned"),

    O_ENUM("log.level", log.level, FG_LOG_INFO, log_levels, LIVE, "least severe level that is logged"),

    O_SECTION("burst", burst.enabled, "built-in load generator for demos; present = enabled"),
    O_STRING("burst.topic", burst.topic, NULL, NONEMPTY, "topic to produce to (default: the first of kafka.topics)"),
    O_INT("burst.count", burst.count, 100000, 1, 1000000000, 0, "events to produce"),
    O_INT("burst.rate", burst.rate, 0, 0, 10000000, 0, "events per second at baseline; 0 = as fast as possible"),
    O_SIZE("burst.size", burst.size, 120, 32, MIB, 0, "approximate size of one JSON event"),
    O_INT("burst.keys", burst.keys, 10000, 1, 1000000000, 0, "distinct message keys"),
    O_DURATION("burst.spike.at", burst.spike_at_ns, 0, 0, 24 * NS_H, 0, "spike start, after the first event"),
    O_DURATION("burst.spike.duration", burst.spike_for_ns, 0, 0, 24 * NS_H, 0, "spike length; 0 = no spike"),
    O_INT("burst.spike.rate", burst.spike_rate, 0, 0, 10000000, 0, "events per second during the spike; 0 = as fast as possible"),
};
/* clang-format on */

const size_t fg_config_nopts = sizeof(fg_config_opts) / sizeof(fg_config_opts[0]);

/* ---- rules across options ---- */

static int check_watermarks(const fg_config_t *cfg, char *msg, size_t msg_size) {
        if (cfg->queue.low_watermark < cfg->queue.high_watermark)
                return 0;
        snprintf(msg, msg_size, "queue.low_watermark (%g) must be below queue.high_watermark (%g)",
                 cfg->queue.low_watermark, cfg->queue.high_watermark);
        return -1;
}

static int check_sink_path(const fg_config_t *cfg, char *msg, size_t msg_size) {
        if (cfg->sink.type != FG_SINK_FILE || cfg->sink.path)
                return 0;
        snprintf(msg, msg_size, "sink.type 'file' needs sink.path");
        return -1;
}

const fg_config_check_t fg_config_checks[] = {
    {{"queue.low_watermark", "queue.high_watermark", NULL}, check_watermarks},
    {{"sink.type", "sink.path", NULL}, check_sink_path},
};

const size_t fg_config_nchecks = sizeof(fg_config_checks) / sizeof(fg_config_checks[0]);

/* Any thread. Linear: the table is small and lookups happen per key. */
int fg_config_opt_find(const char *name) {
        for (size_t i = 0; i < fg_config_nopts; i++)
                if (!strcmp(fg_config_opts[i].name, name))
                        return (int)i;
        return -1;
}
