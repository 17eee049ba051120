/*
 * config_table: every configuration option of floodgate, one row each (the
 * rules that relate options to each other are in config_rules.c).
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
#include "common/hostport.h"
#include "common/log.h"
#include "kafka/kconf.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define NS_MS  FG_NS_PER_MS
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
/* A list or map whose every item or entry @p check approves. */
#define O_STRLIST_CHECKED(n, field, check, fl, h) \
        {.name = n, .type = FG_OPT_STRLIST, .flags = (fl), .offset = OFF(field), .check_entry = check, .help = h}
#define O_STRMAP_CHECKED(n, field, refused, check, fl, h) \
        {.name = n, .type = FG_OPT_STRMAP, .flags = (fl), .offset = OFF(field), .reserved = refused, .check_entry = check, .help = h}
#define O_SECTION(n, field, h) \
        {.name = n, .type = FG_OPT_SECTION, .offset = OFF(field), .help = h}
/* A copy of section @p of (a table prefix) whose struct is @p ofield, held
 * through the pointer at @p field. */
#define O_SUB(n, field, of, ofield, fl, h) \
        {.name = n, .type = FG_OPT_SUB, .flags = (fl), .offset = OFF(field), .sub = of, \
         .sub_base = OFF(ofield), .sub_size = sizeof(((fg_config_t *)0)->ofield), .help = h}
#define O_LIST(n, field, etype, prts, fl, h) \
        {.name = n, .type = FG_OPT_LIST, .flags = (fl), .offset = OFF(field), \
         .sub_size = sizeof(etype), .parts = prts, .help = h}
/* A part of a list element of type @p etype: key @p k at @p efield, read
 * with the rows of section @p of (NULL: a string) found at @p ofield. */
#define P_SECTION(k, etype, efield, of, ofield, req, inh) \
        {.key = k, .rows = of, .elem_off = offsetof(etype, efield), .base_off = OFF(ofield), \
         .size = sizeof(((fg_config_t *)0)->ofield), .required = req, .inherit = inh}
#define P_STRING(k, etype, efield) {.key = k, .elem_off = offsetof(etype, efield)}

#define REQ  FG_OPT_F_REQUIRED
#define LIVE FG_OPT_F_LIVE
#define NONEMPTY FG_OPT_F_NONEMPTY
#define UNIQUE FG_OPT_F_UNIQUE

/* Enum fields are written through an int. */
_Static_assert(sizeof(fg_workers_mode_t) == sizeof(int), "enum fields are int-sized");
_Static_assert(sizeof(fg_sink_type_t) == sizeof(int), "enum fields are int-sized");
_Static_assert(sizeof(fg_handler_mode_t) == sizeof(int), "enum fields are int-sized");
_Static_assert(sizeof(fg_on_invalid_t) == sizeof(int), "enum fields are int-sized");
_Static_assert(sizeof(fg_http_format_t) == sizeof(int), "enum fields are int-sized");
_Static_assert(sizeof(fg_brk_window_t) == sizeof(int), "enum fields are int-sized");
_Static_assert(sizeof(fg_brk_when_open_t) == sizeof(int), "enum fields are int-sized");
_Static_assert(sizeof(fg_tls_version_t) == sizeof(int), "enum fields are int-sized");
_Static_assert(sizeof(fg_http_compression_t) == sizeof(int), "enum fields are int-sized");
_Static_assert(sizeof(fg_ordering_t) == sizeof(int), "enum fields are int-sized");

static const fg_opt_enum_t workers_modes[] = {
    {"fixed", FG_WORKERS_FIXED},
    {"dynamic", FG_WORKERS_DYNAMIC},
    {NULL, 0},
};

static const fg_opt_enum_t orderings[] = {
    {"none", FG_ORDER_NONE},
    {"partition", FG_ORDER_PARTITION},
    {"key", FG_ORDER_KEY},
    {NULL, 0},
};

static const fg_opt_enum_t sink_types[] = {
    {"stdout", FG_SINK_STDOUT},
    {"file", FG_SINK_FILE},
    {"null", FG_SINK_NULL},
    {"http", FG_SINK_HTTP},
    {"kafka", FG_SINK_KAFKA},
    {"plugin", FG_SINK_PLUGIN},
    {NULL, 0},
};

static const fg_opt_enum_t handler_modes[] = {
    {"json", FG_HANDLER_JSON},
    {"raw", FG_HANDLER_RAW},
    {NULL, 0},
};

static const fg_opt_enum_t on_invalid_modes[] = {
    {"dead_letter", FG_ON_INVALID_DEAD_LETTER},
    {"drop", FG_ON_INVALID_DROP},
    {"fail", FG_ON_INVALID_FAIL},
    {NULL, 0},
};

static const fg_opt_enum_t breaker_windows[] = {
    {"time", FG_BRK_WINDOW_TIME},
    {"count", FG_BRK_WINDOW_COUNT},
    {NULL, 0},
};

static const fg_opt_enum_t breaker_when_open[] = {
    {"wait", FG_BRK_WHEN_OPEN_WAIT},
    {"dead_letter", FG_BRK_WHEN_OPEN_DEAD_LETTER},
    {NULL, 0},
};

static const fg_opt_enum_t http_formats[] = {
    {"json", FG_HTTP_JSON},
    {"json_array", FG_HTTP_JSON_ARRAY},
    {"ndjson", FG_HTTP_NDJSON},
    {NULL, 0},
};

static const fg_opt_enum_t tls_versions[] = {
    {"1.2", FG_TLS_1_2},
    {"1.3", FG_TLS_1_3},
    {NULL, 0},
};

static const fg_opt_enum_t compressions[] = {
    {"none", FG_HTTP_COMPRESS_NONE},
    {"gzip", FG_HTTP_COMPRESS_GZIP},
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
    {"enable.auto.commit",
     "floodgate paces its commits: every kafka.commit_every events or auto.commit.interval.ms"},
    {NULL, NULL},
};

/* Producer properties floodgate sets itself. */
static const fg_opt_reserved_t sink_reserved[] = {
    {"bootstrap.servers", "use the brokers option of this section"},
    {"enable.idempotence", "floodgate always produces idempotently"},
    {NULL, NULL},
};

/* The keys of one element of routes: its own sink, breaker (starting from
 * the top-level breaker) and filter (rows of handler.filter). */
static const fg_opt_part_t route_parts[] = {
    P_STRING("name", fg_route_cfg_t, name),
    P_SECTION("filter", fg_route_cfg_t, filter, "handler.filter", handler.filter, true, false),
    P_SECTION("sink", fg_route_cfg_t, sink, "sink", sink, true, false),
    P_SECTION("breaker", fg_route_cfg_t, breaker, "breaker", breaker, false, true),
    {NULL},
};
/* A librdkafka property: librdkafka itself says whether it knows the name
 * and takes the value (the message never shows the value: it may be a
 * password). An unknown name gets the closest known one as a hint. */
static int check_kafka_property(const char *key, const char *value, bool *at_key, char *msg,
                                size_t msg_size) {
        const char *const *names, *best = NULL;
        size_t n, klen = strlen(key), best_d = SIZE_MAX;
        char qbuf[128], why[512], qwhy[600];
        bool unknown;

        if (fg_kconf_check_property(key, value, &unknown, why, sizeof(why)) == 0)
                return 0;
        fg_config_quote(key, klen, 60, qbuf, sizeof(qbuf));
        if (!unknown) {
                snprintf(msg, msg_size, "librdkafka refuses the value of '%s': %s", qbuf,
                         fg_config_quote(why, strlen(why), 300, qwhy, sizeof(qwhy)));
                return -1;
        }
        *at_key = true;
        n = fg_kconf_property_names(&names);
        for (size_t i = 0; klen <= FG_CONFIG_MAX_KEY && i < n; i++) {
                size_t nlen = strlen(names[i]), d;
                if (nlen > FG_CONFIG_MAX_KEY)
                        continue;
                d = fg_config_edit_distance(key, klen, names[i], nlen);
                if (d <= (nlen <= 6 ? 1u : nlen <= 12 ? 2u : 3u) && d < best_d) {
                        best_d = d;
                        best = names[i];
                }
        }
        snprintf(msg, msg_size, "'%s' is not a librdkafka property%s%s%s", qbuf,
                 best ? " (did you mean '" : "", best ? best : "", best ? "'?)" : "");
        return -1;
}

/* One metrics.allowed_hosts entry: a host name or an IP address, no port. */
static int check_host_name(const char *key, const char *value, bool *at_key, char *msg,
                           size_t msg_size) {
        fg_hostport_t hp;
        char probe[FG_HOSTPORT_HOST_MAX + 8], why[128], qbuf[128];
        bool bracketed = value[0] == '[';

        snprintf(probe, sizeof(probe), "%s%s%s:0", bracketed || !strchr(value, ':') ? "" : "[",
                 value, bracketed || !strchr(value, ':') ? "" : "]");
        if (fg_hostport_parse(probe, &hp, why, sizeof(why)) == 0 && strlen(value) < sizeof(hp.host))
                return 0;
        snprintf(msg, msg_size, "'%s' is not a host name or an IP address (no port)",
                 fg_config_quote(value, strlen(value), 60, qbuf, sizeof(qbuf)));
        return -1;
}

/* clang-format off */
const fg_opt_t fg_config_opts[] = {
    O_STRING("kafka.brokers", kafka.brokers, NULL, REQ | NONEMPTY, "bootstrap brokers \"host:port,...\", or \"mock\" for an embedded mock cluster"),
    O_STRING("kafka.group_id", kafka.group_id, "floodgate", NONEMPTY, "consumer group; instances with the same group share the partitions"),
    O_STRLIST("kafka.topics", kafka.topics, REQ | NONEMPTY | UNIQUE, "topics to consume"),
    O_STRMAP_CHECKED("kafka.properties", kafka.properties, kafka_reserved, check_kafka_property, 0, "librdkafka properties, passed verbatim (see librdkafka CONFIGURATION.md); librdkafka checks each"),
    O_INT("kafka.mock.brokers", kafka.mock_brokers, 1, 1, 16, 0, "brokers in the mock cluster (with brokers: mock)"),
    O_INT("kafka.mock.partitions", kafka.mock_partitions, 4, 1, 1000, 0, "partitions per topic in the mock cluster"),
    O_INT("kafka.commit_every", ingest.commit_every, 10000, 0, 100000000, 0, "commit once this many finished events are stored (or auto.commit.interval.ms passed); bounds the duplicates after a crash; 0 = by time only"),
    O_DURATION("kafka.rebalance_timeout", ingest.rebalance_timeout_ns, 10 * NS_S, 0, 10 * NS_MIN, 0, "how long a rebalance waits for in-flight work of revoked partitions"),

    O_INT("queue.capacity", queue.capacity, 10000, 1, 10000000, 0, "messages waiting between ingest and the workers"),
    O_SIZE("queue.max_bytes", queue.max_bytes, 32 * MIB, KIB, 64 * GIB, 0, "payload bytes waiting between ingest and the workers"),
    O_RATIO("queue.high_watermark", queue.high_watermark, 0.9, 0.0, 1.0, FG_OPT_F_MIN_EXCL, "fill ratio (of capacity or bytes) at which ingest stops taking messages"),
    O_RATIO("queue.low_watermark", queue.low_watermark, 0.5, 0.0, 1.0, FG_OPT_F_MAX_EXCL, "fill ratio at which ingest takes messages again"),
    O_DURATION("queue.pause_after", ingest.pause_after_ns, NS_S, 0, NS_MIN, 0, "a stall longer than this pauses the partitions (librdkafka then drops its prefetch)"),

    O_ENUM("workers.mode", workers.mode, FG_WORKERS_FIXED, workers_modes, LIVE, "fixed: workers.size threads; dynamic: between min and max, sized to the load, with an adaptive sink concurrency limit"),
    O_INT("workers.size", workers.size, 4, 1, 1024, LIVE, "worker threads in a fixed pool"),
    O_INT("workers.min", workers.min, 1, 1, 1024, LIVE, "dynamic pool: fewest threads"),
    O_INT("workers.max", workers.max, 64, 1, 1024, LIVE, "dynamic pool: most threads (and most concurrent sink calls)"),
    O_DURATION("workers.idle_linger", workers.idle_linger_ns, 30 * NS_S, NS_S, NS_H, LIVE, "dynamic pool: a thread idle this long may retire (longer than the gap between bursts)"),
    O_DURATION("workers.scale_interval", workers.scale_interval_ns, NS_S, NS_S, NS_MIN, LIVE, "dynamic pool: how often the size is reconsidered (the daemon ticks once a second)"),
    O_DURATION("workers.drain_within", workers.drain_within_ns, 60 * NS_S, NS_S, 24 * NS_H, LIVE, "floodgate_desired_instances counts the instances needed to clear the lag within this"),
    O_INT("workers.batch_max", workers.batch_max, 256, 1, 10000, 0, "messages a worker takes from the queue at once"),
    O_ENUM("workers.ordering", workers.ordering, FG_ORDER_NONE, orderings, LIVE, "none: any number of a key's events in flight; partition: at most one event per partition; key: at most one per message key, in offset order (keyless events: per partition)"),

    O_ENUM("handler.mode", handler.mode, FG_HANDLER_JSON, handler_modes, LIVE, "json: parse, filter, shape and re-serialise each event; raw: pass the bytes"),
    O_ENUM("handler.on_invalid", handler.on_invalid, FG_ON_INVALID_DROP, on_invalid_modes, LIVE, "an event that is not a JSON object (json mode): dead_letter, drop (counted) or fail (stop the daemon)"),
    O_STRING("handler.filter.field", handler.filter.field, NULL, NONEMPTY | LIVE, "dotted path of the field the filter looks at (json mode)"),
    O_STRING("handler.filter.equals", handler.filter.equals, NULL, LIVE, "keep events whose field equals this"),
    O_BOOL("handler.filter.exists", handler.filter.exists, false, LIVE, "keep events that have the field"),
    O_STRLIST("handler.filter.contains_any", handler.filter.contains_any, NONEMPTY | LIVE, "keep events whose field (raw mode: payload) contains any of these"),
    O_BOOL("handler.filter.case_insensitive", handler.filter.case_insensitive, false, LIVE, "compare equals/contains_any ignoring ASCII case"),
    O_BOOL("handler.add_metadata", handler.add_metadata, false, LIVE, "add metadata_field: {topic, partition, offset, kafka_ts, ingested_ms, processed_ms}"),
    O_STRING("handler.metadata_field", handler.metadata_field, "_floodgate", NONEMPTY | LIVE, "name of the metadata object add_metadata adds"),
    O_STRLIST("handler.keep", handler.keep, NONEMPTY | UNIQUE | LIVE, "keep only these top-level fields"),
    O_STRLIST("handler.drop", handler.drop, NONEMPTY | UNIQUE | LIVE, "drop these fields (dotted paths)"),

    O_ENUM("sink.type", sink.type, FG_SINK_STDOUT, sink_types, REQ | LIVE, "where processed events go"),
    O_STRING("sink.path", sink.path, NULL, NONEMPTY | LIVE, "output file of the file sink (appended to)"),
    O_BOOL("sink.fsync", sink.fsync, false, LIVE, "file sink: fsync before a batch counts as delivered"),
    O_INT("sink.file_mode", sink.file_mode, 0640, 0, 0777, FG_OPT_F_OCTAL | LIVE, "file sink: permissions of the file when the sink creates it (octal; not narrowed by the umask)"),
    O_STRING("sink.url", sink.url, NULL, NONEMPTY | LIVE, "http sink: http[s]://host[:port]/path events are POSTed to"),
    O_STRMAP("sink.headers", sink.headers, NULL, LIVE, "http sink: extra request headers (values may use ${ENV})"),
    O_ENUM("sink.format", sink.format, FG_HTTP_JSON, http_formats, LIVE, "http sink: json (one event per request), json_array or ndjson (batches)"),
    O_STRING("sink.tls.ca_file", sink.tls.ca_file, NULL, NONEMPTY | LIVE, "https: PEM file of the CA certificates to trust (default: the system's bundle); read again on SIGHUP"),
    O_STRING("sink.tls.cert_file", sink.tls.cert_file, NULL, NONEMPTY | LIVE, "https: PEM client certificate (chain) for mutual TLS, with key_file; read again on SIGHUP"),
    O_STRING("sink.tls.key_file", sink.tls.key_file, NULL, NONEMPTY | LIVE, "https: unencrypted PEM private key of cert_file; read again on SIGHUP"),
    O_STRING("sink.tls.server_name", sink.tls.server_name, NULL, NONEMPTY | LIVE, "https: name sent in SNI and verified against the certificate (default: the URL's host)"),
    O_BOOL("sink.tls.verify", sink.tls.verify, true, LIVE, "https: verify the server's certificate chain and name; false needs insecure_skip_verify: true"),
    O_BOOL("sink.tls.insecure_skip_verify", sink.tls.insecure_skip_verify, false, LIVE, "https: the consent verify: false needs (a warning is logged at every start)"),
    O_ENUM("sink.tls.min_version", sink.tls.min_version, FG_TLS_1_2, tls_versions, LIVE, "https: oldest TLS version accepted: 1.2 or 1.3"),
    O_STRING("sink.auth.basic.user", sink.auth.basic_user, NULL, NONEMPTY | LIVE, "http sink: HTTP basic authentication user (with password)"),
    O_STRING("sink.auth.basic.password", sink.auth.basic_password, NULL, LIVE, "http sink: the basic password (use ${ENV}); never logged"),
    O_STRING("sink.auth.bearer_token", sink.auth.bearer_token, NULL, NONEMPTY | LIVE, "http sink: Authorization: Bearer token (use ${ENV}); never logged"),
    O_STRING("sink.auth.bearer_token_file", sink.auth.bearer_token_file, NULL, NONEMPTY | LIVE, "http sink: file holding the bearer token; read again on SIGHUP and on a 401 or 403"),
    O_ENUM("sink.compression", sink.compression, FG_HTTP_COMPRESS_NONE, compressions, LIVE, "http sink: request bodies as they are (none) or gzip (Content-Encoding: gzip)"),
    O_INT("sink.compression_level", sink.compression_level, 6, 1, 9, LIVE, "gzip level: 1 (fastest) to 9 (smallest)"),
    O_INT("sink.batch.max_messages", sink.batch_max_messages, 500, 1, 100000, LIVE, "http batches: at most this many events"),
    O_SIZE("sink.batch.max_bytes", sink.batch_max_bytes, MIB, KIB, 64 * MIB, LIVE, "http batches: at most this many bytes (a bigger single event goes alone)"),
    O_DURATION("sink.batch.max_wait", sink.batch_max_wait_ns, 0, 0, NS_MIN, LIVE, "how long a worker waits for more events to fill a batch; 0 = send what is there"),
    O_DURATION("sink.connect_timeout", sink.connect_timeout_ns, 2 * NS_S, 10 * NS_MS, NS_MIN, LIVE, "http sink: time to connect: name lookup, TCP and, for https, the TLS handshake"),
    O_DURATION("sink.timeout", sink.timeout_ns, 10 * NS_S, 10 * NS_MS, 10 * NS_MIN, LIVE, "http request / kafka delivery timeout"),
    O_STRING("sink.topic", sink.topic, NULL, NONEMPTY | LIVE, "kafka sink: topic to produce to"),
    O_STRING("sink.brokers", sink.brokers, NULL, NONEMPTY | LIVE, "kafka sink: bootstrap brokers (default: kafka.brokers)"),
    O_STRMAP_CHECKED("sink.properties", sink.properties, sink_reserved, check_kafka_property, LIVE, "kafka sink: librdkafka producer properties, verbatim"),
    O_STRING("sink.plugin.path", sink.plugin_path, NULL, NONEMPTY | LIVE, "plugin sink: shared object implementing floodgate_plugin.h"),
    O_STRMAP("sink.plugin.config", sink.plugin_config, NULL, LIVE, "plugin sink: key/value settings handed to the plugin's init"),
    O_INT("sink.retry.max_attempts", sink.retry.max_attempts, 10, 0, 1000000, LIVE, "attempts per event before it is dead-lettered; 0 = unlimited"),
    O_DURATION("sink.retry.initial_backoff", sink.retry.initial_backoff_ns, 100 * NS_MS, NS_MS, NS_MIN, LIVE, "first retry delay; doubles per attempt, with jitter"),
    O_DURATION("sink.retry.max_backoff", sink.retry.max_backoff_ns, 30 * NS_S, NS_MS, NS_H, LIVE, "longest retry delay"),
    O_DURATION("sink.retry.max_elapsed", sink.retry.max_elapsed_ns, 10 * NS_MIN, 0, 24 * NS_H, LIVE, "time an event may spend retrying before it is dead-lettered; 0 = unlimited"),
    O_INT("sink.rate_limit.events_per_second", sink.rate_limit.events_per_second, 0, 0, 100000000, LIVE, "most events per second sent to this sink, shared by the workers (a contracted quota); 0 = no cap"),
    O_INT("sink.rate_limit.burst", sink.rate_limit.burst, 0, 0, 100000000, LIVE, "events the rate cap lets through at once after a pause; 0 = one second's worth"),
    O_INT("sink.concurrency", sink.concurrency, 0, 0, 1024, LIVE, "most workers inside this sink at once, the rest park its events in its holding queue and go on; 0 = no limit without routes, half the workers (at least 1) with routes"),
    O_SUB("sink.fallback", sink.fallback, "sink", sink, LIVE, "a second sink (every sink option but fallback) used while this one's breaker is open"),

    O_BOOL("breaker.enabled", breaker.enabled, true, LIVE, "circuit breaker between the workers and the sink; false = calls always flow"),
    O_BOOL("breaker.forced_open", breaker.forced_open, false, LIVE, "hold every sink call (maintenance switch); events wait or are dead-lettered per when_open"),
    O_ENUM("breaker.window_type", breaker.window, FG_BRK_WINDOW_TIME, breaker_windows, LIVE, "sliding window of outcomes: time (window_size seconds) or count (window_size calls)"),
    O_INT("breaker.window_size", breaker.window_size, 10, 1, 3600, LIVE, "seconds (time window) or calls (count window)"),
    O_INT("breaker.min_calls", breaker.min_calls, 20, 1, 1000000, LIVE, "outcomes needed in the window before the breaker may trip"),
    O_INT("breaker.consecutive_failures", breaker.consecutive_failures, 5, 0, 1000000, LIVE, "trip after this many failed calls in a row, whatever the window holds (a dead downstream); 0 = off"),
    O_RATIO("breaker.failure_rate", breaker.failure_rate_threshold, 0.5, 0.0, 1.0, FG_OPT_F_MIN_EXCL | LIVE, "trip when this share of calls fail (5xx, timeouts, 429/503, connection errors)"),
    O_RATIO("breaker.slow_call_rate", breaker.slow_call_rate_threshold, 1.0, 0.0, 1.0, FG_OPT_F_MIN_EXCL | LIVE, "trip when this share of calls is slower than slow_call_duration"),
    O_DURATION("breaker.slow_call_duration", breaker.slow_call_ns, 5 * NS_S, NS_MS, 10 * NS_MIN, LIVE, "a call slower than this counts as slow"),
    O_DURATION("breaker.open_duration", breaker.open_ns, 5 * NS_S, 10 * NS_MS, NS_H, LIVE, "first time open before probing"),
    O_RATIO("breaker.open_backoff", breaker.open_backoff, 2.0, 1.0, 100.0, LIVE, "open duration multiplier each time probing fails"),
    O_DURATION("breaker.open_max", breaker.open_max_ns, 2 * NS_MIN, 10 * NS_MS, 24 * NS_H, LIVE, "longest open duration"),
    O_RATIO("breaker.jitter", breaker.jitter, 0.2, 0.0, 1.0, FG_OPT_F_MAX_EXCL | LIVE, "random +- share of each open duration, so instances do not probe in lockstep"),
    O_INT("breaker.half_open_calls", breaker.half_open_calls, 5, 1, 1000, LIVE, "probe calls allowed while half-open; their outcomes close or re-open it"),
    O_DURATION("breaker.half_open_max_wait", breaker.half_open_max_wait_ns, 30 * NS_S, 10 * NS_MS, NS_H, LIVE, "a probe round that takes longer re-opens the breaker"),
    O_ENUM("breaker.when_open", breaker.when_open, FG_BRK_WHEN_OPEN_WAIT, breaker_when_open, LIVE, "wait: workers hold events (queue fills, ingest pauses); dead_letter: send them to dead_letter.topic"),

    O_STRING("dead_letter.topic", dead_letter.topic, NULL, NONEMPTY, "topic for events that cannot be delivered (original payload and key, error headers); unset = none"),
    O_STRING("dead_letter.brokers", dead_letter.brokers, NULL, NONEMPTY, "bootstrap brokers of the dead-letter topic (default: kafka.brokers)"),
    O_STRMAP_CHECKED("dead_letter.properties", dead_letter.properties, sink_reserved, check_kafka_property, 0, "librdkafka producer properties for the dead-letter producer"),
    O_BOOL("dead_letter.park_key", dead_letter.park_key, false, 0, "once an event is dead-lettered, its key's later events follow it (class parked) until floodgate redrive releases the key"),
    O_INT("dead_letter.max_parked_keys", dead_letter.max_parked_keys, 10000, 1, 1000000, 0, "most keys parked at once; past it a dead letter does not park its key"),

    O_STRING("metrics.listen", metrics.listen, "127.0.0.1:9464", 0, "address of the HTTP endpoints /metrics, /stats, /healthz, /readyz (\"host:port\", port 0 = any; \"off\" disables)"),
    O_STRLIST_CHECKED("metrics.allowed_hosts", metrics.allowed_hosts, check_host_name, NONEMPTY | UNIQUE, "Host header names the endpoints answer besides the listen address and loopback names (DNS-rebinding protection)"),
    O_DURATION("metrics.log_interval", metrics.log_interval_ns, 10 * NS_S, 0, NS_H, LIVE, "period of the one-line status log; 0 = off"),
    O_DURATION("metrics.stall_timeout", metrics.stall_timeout_ns, 60 * NS_S, NS_S, NS_H, 0, "a worker stuck in one sink call, or an ingest loop stuck, this long fails /healthz"),

    O_DURATION("shutdown.timeout", shutdown.timeout_ns, 30 * NS_S, 0, NS_H, 0, "drain budget after SIGTERM before in-flight work is abandoned"),

    O_ENUM("log.level", log.level, FG_LOG_INFO, log_levels, LIVE, "least severe level that is logged"),

    O_LIST("routes", routes, fg_route_cfg_t, route_parts, LIVE, "an ordered list of {name, filter, sink, breaker}: an event goes to the first route whose filter matches, else to the top-level sink (which may then be left out: such events count as filtered)"),

    O_SECTION("burst", burst.enabled, "built-in load generator for demos; present = enabled"),
    O_STRING("burst.topic", burst.topic, NULL, NONEMPTY, "topic to produce to (default: the first of kafka.topics)"),
    O_INT("burst.count", burst.count, 100000, 1, 1000000000, 0, "events to produce"),
    O_INT("burst.rate", burst.rate, 0, 0, 10000000, 0, "events per second at baseline; 0 = as fast as possible"),
    O_SIZE("burst.size", burst.size, 120, 32, MIB, 0, "approximate size of one JSON event"),
    O_INT("burst.keys", burst.keys, 10000, 0, 1000000000, 0, "distinct message keys; 0 = no key (sticky partitioner)"),
    O_DURATION("burst.spike.at", burst.spike_at_ns, 0, 0, 24 * NS_H, 0, "spike start, after the first event"),
    O_DURATION("burst.spike.duration", burst.spike_for_ns, 0, 0, 24 * NS_H, 0, "spike length; 0 = no spike"),
    O_INT("burst.spike.rate", burst.spike_rate, 0, 0, 10000000, 0, "events per second during the spike; 0 = as fast as possible"),
};
/* clang-format on */

const size_t fg_config_nopts = sizeof(fg_config_opts) / sizeof(fg_config_opts[0]);

/* Any thread. Linear: the table is small and lookups happen per key. */
int fg_config_opt_find(const char *name) {
        for (size_t i = 0; i < fg_config_nopts; i++)
                if (!strcmp(fg_config_opts[i].name, name))
                        return (int)i;
        return -1;
}
