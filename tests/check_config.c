/*
 * check_config: the configuration module (config/config.h).
 *
 * Runs from FLOODGATE_SRCDIR (the repository root) so data files load by
 * their relative paths, which is also how they appear in messages.
 *
 * The bad-config corpus lives in tests/data/config/bad: NAME.yaml is loaded
 * and its messages must equal NAME.expected line for line. Adding a file
 * adds a case; a .yaml without .expected fails. The corpus runs with
 * FG_TEST_UNSET unset and FG_TEST_WORD=lots. Hostile inputs (10 MB, 100,000
 * levels deep, random bytes) are generated into a temporary directory.
 */
#include "config/config.h"
#include "config/config_int.h"
#include "common/units.h"

#include "common/log.h"
#include "tests/support/fgtest.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NS_S  1000000000LL
#define NS_MS 1000000LL

#define BAD_DIR  "tests/data/config/bad"
#define GOOD_DIR "tests/data/config/good"
#define PROBE_DIR "tests/data/config/probe"

/* ---- helpers ---- */

static fg_config_t *load_str(const char *text, fg_config_errs_t *errs) {
        return fg_config_load_string("t.yaml", text, strlen(text), errs);
}

/* All messages, one per line, for failure output. */
static char *join_errs(const fg_config_errs_t *errs) {
        size_t len = 1;
        char *s;
        for (size_t i = 0; i < errs->n; i++)
                len += strlen(errs->msgs[i]) + 1;
        s = calloc(1, len);
        ck_assert_ptr_nonnull(s);
        for (size_t i = 0; i < errs->n; i++) {
                strcat(s, errs->msgs[i]);
                strcat(s, "\n");
        }
        return s;
}

/* Loads @p text and expects it to fail with exactly @p want (one message). */
static void expect_error(const char *text, const char *want) {
        fg_config_errs_t errs = {0};
        fg_config_t *cfg = load_str(text, &errs);
        char *all = join_errs(&errs);
        ck_assert_msg(!cfg, "loaded, expected: %s", want);
        ck_assert_msg(errs.n == 1 && !strcmp(errs.msgs[0], want), "got:\n%swant:\n%s\n", all,
                      want);
        free(all);
        fg_config_errs_clear(&errs);
}

/* Loads @p text and expects success. */
static fg_config_t *expect_load(const char *text) {
        fg_config_errs_t errs = {0};
        fg_config_t *cfg = load_str(text, &errs);
        char *all = join_errs(&errs);
        ck_assert_msg(cfg && errs.n == 0, "failed:\n%s", all);
        free(all);
        return cfg;
}

static char *read_file(const char *path, size_t *len) {
        FILE *fp = fopen(path, "rb");
        char *buf;
        long size;
        ck_assert_msg(fp != NULL, "%s: %s", path, strerror(errno));
        ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
        size = ftell(fp);
        rewind(fp);
        buf = malloc((size_t)size + 1);
        ck_assert_ptr_nonnull(buf);
        ck_assert_int_eq(fread(buf, 1, (size_t)size, fp), (size_t)size);
        buf[size] = '\0';
        fclose(fp);
        if (len)
                *len = (size_t)size;
        return buf;
}

typedef struct tmpdir {
        char path[64];
        char files[32][128];
        int n;
} tmpdir_t;

static void tmpdir_open(tmpdir_t *td) {
        memset(td, 0, sizeof(*td));
        strcpy(td->path, "/tmp/fg-check-config-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(td->path));
}

static const char *tmpdir_write(tmpdir_t *td, const char *name, const void *data, size_t len) {
        char dir[sizeof(td->path)], *path;
        FILE *fp;
        ck_assert_int_lt(td->n, 32);
        memcpy(dir, td->path, sizeof(dir));
        path = td->files[td->n++];
        snprintf(path, sizeof(td->files[0]), "%s/%s", dir, name);
        fp = fopen(path, "wb");
        ck_assert_ptr_nonnull(fp);
        ck_assert_int_eq(fwrite(data, 1, len, fp), len);
        fclose(fp);
        return path;
}

static void tmpdir_close(tmpdir_t *td) {
        for (int i = 0; i < td->n; i++)
                unlink(td->files[i]);
        rmdir(td->path);
}

static uint64_t rng_next(uint64_t *s) {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

/* Loads @p path and expects a failure whose messages all name the file. */
static void expect_file_rejected(const char *path, const char *substr) {
        fg_config_errs_t errs = {0};
        fg_config_t *cfg = fg_config_load(path, &errs);
        char *all = join_errs(&errs);
        ck_assert_msg(!cfg, "%s loaded", path);
        ck_assert_msg(errs.n >= 1, "%s: no message", path);
        for (size_t i = 0; i < errs.n; i++)
                ck_assert_msg(!strncmp(errs.msgs[i], path, strlen(path)), "%s", errs.msgs[i]);
        ck_assert_msg(!substr || strstr(all, substr), "%s: want '%s' in:\n%s", path, substr, all);
        free(all);
        fg_config_errs_clear(&errs);
}

static const char *MINIMAL = "kafka:\n"
                             "  brokers: localhost:9092\n"
                             "  topics: [events]\n"
                             "sink:\n"
                             "  type: stdout\n";

/* ---- defaults and types ---- */

START_TEST(test_config_defaults) {
        fg_config_t *cfg = expect_load(MINIMAL);

        ck_assert_str_eq(cfg->path, "t.yaml");
        ck_assert_str_eq(cfg->kafka.brokers, "localhost:9092");
        ck_assert_str_eq(cfg->kafka.group_id, "floodgate");
        ck_assert_uint_eq(cfg->kafka.topics.n, 1);
        ck_assert_str_eq(cfg->kafka.topics.v[0], "events");
        ck_assert_uint_eq(cfg->kafka.properties.n, 0);
        ck_assert_int_eq(cfg->kafka.mock_brokers, 1);
        ck_assert_int_eq(cfg->kafka.mock_partitions, 4);
        ck_assert_int_eq(cfg->ingest.rebalance_timeout_ns, 10 * NS_S);
        ck_assert_int_eq(cfg->queue.capacity, 10000);
        ck_assert_int_eq(cfg->queue.max_bytes, 32LL << 20);
        ck_assert(cfg->queue.high_watermark == 0.9);
        ck_assert(cfg->queue.low_watermark == 0.5);
        ck_assert_int_eq(cfg->ingest.pause_after_ns, NS_S);
        ck_assert_int_eq(cfg->workers.mode, FG_WORKERS_FIXED);
        ck_assert_int_eq(cfg->workers.size, 4);
        ck_assert_int_eq(cfg->workers.batch_max, 256);
        ck_assert_int_eq(cfg->sink.type, FG_SINK_STDOUT);
        ck_assert_ptr_null(cfg->sink.path);
        ck_assert(!cfg->sink.fsync);
        ck_assert_int_eq(cfg->shutdown.timeout_ns, 30 * NS_S);
        ck_assert_int_eq(cfg->log.level, FG_LOG_INFO);
        ck_assert(!cfg->burst.enabled);
        ck_assert_ptr_null(cfg->burst.topic);
        ck_assert_int_eq(cfg->burst.count, 100000);
        ck_assert_int_eq(cfg->burst.rate, 0);
        ck_assert_int_eq(cfg->burst.size, 120);
        ck_assert_int_eq(cfg->burst.keys, 10000);
        ck_assert_int_eq(cfg->burst.spike_at_ns, 0);
        ck_assert_int_eq(cfg->burst.spike_for_ns, 0);
        ck_assert_int_eq(cfg->burst.spike_rate, 0);
        fg_config_destroy(cfg);
}
END_TEST

START_TEST(test_config_every_type) {
        fg_config_errs_t errs = {0};
        fg_config_t *cfg = fg_config_load(GOOD_DIR "/all_options.yaml", &errs);

        ck_assert_msg(cfg != NULL, "%s", errs.n ? errs.msgs[0] : "?");
        ck_assert_str_eq(cfg->path, GOOD_DIR "/all_options.yaml");
        ck_assert_str_eq(cfg->kafka.brokers, "mock");
        ck_assert_str_eq(cfg->kafka.group_id, "billing");
        ck_assert_uint_eq(cfg->kafka.topics.n, 2);
        ck_assert_str_eq(cfg->kafka.topics.v[0], "orders");
        ck_assert_str_eq(cfg->kafka.topics.v[1], "payments");
        ck_assert_uint_eq(cfg->kafka.properties.n, 2);
        ck_assert_str_eq(fg_strmap_get(&cfg->kafka.properties, "fetch.max.bytes"), "1048576");
        ck_assert_str_eq(fg_strmap_get(&cfg->kafka.properties, "client.id"), "floodgate-test");
        ck_assert_int_eq(cfg->kafka.mock_brokers, 3);
        ck_assert_int_eq(cfg->kafka.mock_partitions, 12);
        ck_assert_int_eq(cfg->ingest.rebalance_timeout_ns, 1500 * NS_MS);
        ck_assert_int_eq(cfg->queue.capacity, 50000);
        ck_assert_int_eq(cfg->queue.max_bytes, 64000);
        ck_assert(cfg->queue.high_watermark == 0.8);
        ck_assert(cfg->queue.low_watermark == 0.25);
        ck_assert_int_eq(cfg->workers.size, 16);
        ck_assert_int_eq(cfg->workers.batch_max, 128);
        ck_assert_int_eq(cfg->sink.type, FG_SINK_FILE);
        ck_assert_str_eq(cfg->sink.path, "/tmp/out.jsonl");
        ck_assert(cfg->sink.fsync);
        ck_assert_int_eq(cfg->shutdown.timeout_ns, 120 * NS_S);
        ck_assert_int_eq(cfg->log.level, FG_LOG_WARN);
        ck_assert(cfg->burst.enabled);
        ck_assert_str_eq(cfg->burst.topic, "payments");
        ck_assert_int_eq(cfg->burst.count, 5000);
        ck_assert_int_eq(cfg->burst.rate, 1000);
        ck_assert_int_eq(cfg->burst.size, 1024);
        ck_assert_int_eq(cfg->burst.keys, 50);
        ck_assert_int_eq(cfg->burst.spike_at_ns, 250 * NS_MS);
        ck_assert_int_eq(cfg->burst.spike_for_ns, 60 * NS_S);
        ck_assert_int_eq(cfg->burst.spike_rate, 20000);
        fg_config_destroy(cfg);
        fg_config_errs_clear(&errs);
}
END_TEST

START_TEST(test_config_bool_spellings) {
        static const struct {
                const char *text;
                bool want;
        } cases[] = {{"true", true}, {"True", true},   {"YES", true},  {"on", true},
                     {"false", false}, {"Off", false}, {"no", false},  {"FALSE", false}};
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char text[256];
                fg_config_t *cfg;
                snprintf(text, sizeof(text), "%ssink:\n  type: file\n  path: /x\n  fsync: %s\n",
                         "kafka: {brokers: b, topics: [t]}\n", cases[i].text);
                cfg = expect_load(text);
                ck_assert_msg(cfg->sink.fsync == cases[i].want, "%s", cases[i].text);
                fg_config_destroy(cfg);
        }
        expect_error("kafka: {brokers: b, topics: [t]}\nsink: {type: stdout, fsync: 1}\n",
                     "t.yaml:2:29: sink.fsync: expected a boolean (true or false), got '1'");
}
END_TEST

START_TEST(test_config_ratio_forms) {
        static const struct {
                const char *text;
                double want;
        } cases[] = {{"0.9", 0.9}, {"90%", 0.9},  {"12.5%", 0.125}, {"1", 1.0},
                     {".75", 0.75}, {"100%", 1.0}, {"0.0001", 0.0001}};
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char text[256];
                fg_config_t *cfg;
                snprintf(text, sizeof(text),
                         "%squeue: {high_watermark: \"%s\", low_watermark: 0}\n", MINIMAL,
                         cases[i].text);
                cfg = expect_load(text);
                ck_assert_msg(cfg->queue.high_watermark == cases[i].want, "%s -> %g",
                              cases[i].text, cfg->queue.high_watermark);
                fg_config_destroy(cfg);
        }
        expect_error("kafka: {brokers: b, topics: [t]}\nsink: {type: stdout}\n"
                     "queue: {high_watermark: 1e-1}\n",
                     "t.yaml:3:25: queue.high_watermark: expected a ratio (like 0.9 or 90%), got "
                     "'1e-1'");
        expect_error("kafka: {brokers: b, topics: [t]}\nsink: {type: stdout}\n"
                     "queue: {high_watermark: 5%x}\n",
                     "t.yaml:3:25: queue.high_watermark: expected a ratio (like 0.9 or 90%), got "
                     "'5%x'");
}
END_TEST

START_TEST(test_config_enums_and_log_levels) {
        static const struct {
                const char *name;
                int level;
        } levels[] = {{"error", FG_LOG_ERROR}, {"warn", FG_LOG_WARN}, {"info", FG_LOG_INFO},
                      {"debug", FG_LOG_DEBUG}};
        for (size_t i = 0; i < 4; i++) {
                char text[256];
                fg_config_t *cfg;
                snprintf(text, sizeof(text), "%slog: {level: %s}\n", MINIMAL, levels[i].name);
                cfg = expect_load(text);
                ck_assert_int_eq(cfg->log.level, levels[i].level);
                fg_config_destroy(cfg);
        }
        /* "null" is a sink type, not YAML's null. */
        {
                fg_config_t *cfg = expect_load("kafka: {brokers: b, topics: [t]}\n"
                                               "sink: {type: null}\n");
                ck_assert_int_eq(cfg->sink.type, FG_SINK_NULL);
                fg_config_destroy(cfg);
        }
}
END_TEST

START_TEST(test_config_lists_and_maps) {
        fg_config_t *cfg = expect_load("kafka:\n"
                                       "  brokers: b\n"
                                       "  topics:\n"
                                       "    - a\n"
                                       "    - 'b c'\n"
                                       "    - \"d\"\n"
                                       "  properties:\n"
                                       "    acks: all\n"
                                       "    linger.ms: 5\n"
                                       "    enable.idempotence: true\n"
                                       "    client.rack: ''\n"
                                       "sink: {type: stdout}\n");
        ck_assert_uint_eq(cfg->kafka.topics.n, 3);
        ck_assert_str_eq(cfg->kafka.topics.v[1], "b c");
        ck_assert_str_eq(cfg->kafka.topics.v[2], "d");
        ck_assert_uint_eq(cfg->kafka.properties.n, 4);
        ck_assert_str_eq(cfg->kafka.properties.keys[0], "acks");
        /* Values keep their text: YAML's 5 and true stay "5" and "true". */
        ck_assert_str_eq(fg_strmap_get(&cfg->kafka.properties, "linger.ms"), "5");
        ck_assert_str_eq(fg_strmap_get(&cfg->kafka.properties, "enable.idempotence"), "true");
        ck_assert_str_eq(fg_strmap_get(&cfg->kafka.properties, "client.rack"), "");
        ck_assert_ptr_null(fg_strmap_get(&cfg->kafka.properties, "missing"));
        ck_assert_ptr_null(fg_strmap_get(NULL, "acks"));
        ck_assert_ptr_null(fg_strmap_get(&cfg->kafka.properties, NULL));
        fg_config_destroy(cfg);
}
END_TEST

START_TEST(test_config_burst_section_presence) {
        fg_config_t *cfg = expect_load("kafka: {brokers: mock, topics: [t]}\n"
                                       "sink: {type: stdout}\n"
                                       "burst: {}\n");
        ck_assert(cfg->burst.enabled);
        ck_assert_int_eq(cfg->burst.count, 100000);
        fg_config_destroy(cfg);
        cfg = expect_load("kafka: {brokers: mock, topics: [t]}\n"
                          "sink: {type: stdout}\n"
                          "burst: {spike: {at: 1s, duration: 2s, rate: 5}}\n");
        ck_assert(cfg->burst.enabled);
        ck_assert_int_eq(cfg->burst.spike_at_ns, NS_S);
        ck_assert_int_eq(cfg->burst.spike_for_ns, 2 * NS_S);
        ck_assert_int_eq(cfg->burst.spike_rate, 5);
        fg_config_destroy(cfg);
}
END_TEST

/* ---- environment ---- */

START_TEST(test_config_env_expand_function) {
        static const struct {
                const char *in, *want;
        } cases[] = {
            {"plain", "plain"},
            {"", ""},
            {"${FG_T_SET}", "value"},
            {"a${FG_T_SET}b${FG_T_SET}c", "avaluebvaluec"},
            {"${FG_T_UNSET:-dflt}", "dflt"},
            {"${FG_T_UNSET:-}", ""},
            {"${FG_T_EMPTY:-dflt}", "dflt"},
            {"${FG_T_EMPTY}", ""},
            {"${FG_T_SET:-dflt}", "value"},
            {"${FG_T_UNSET:-a:b-c d}", "a:b-c d"},
            {"$$", "$"},
            {"$${FG_T_SET}", "${FG_T_SET}"},
            {"cost: 5$", "cost: 5$"},
            {"$5 and $x", "$5 and $x"},
            {"$$$${FG_T_SET}", "$${FG_T_SET}"},
            {"$$${FG_T_SET}", "$value"},
            {"${FG_T_TRICKY}", "${FG_T_SET} $$ {a: b}"},
        };
        setenv("FG_T_SET", "value", 1);
        setenv("FG_T_EMPTY", "", 1);
        setenv("FG_T_TRICKY", "${FG_T_SET} $$ {a: b}", 1);
        unsetenv("FG_T_UNSET");
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char err[256] = "";
                char *out = fg_config_env_expand(cases[i].in, err, sizeof(err));
                ck_assert_msg(out != NULL, "'%s': %s", cases[i].in, err);
                ck_assert_msg(!strcmp(out, cases[i].want), "'%s' -> '%s', want '%s'", cases[i].in,
                              out, cases[i].want);
                free(out);
        }
}
END_TEST

START_TEST(test_config_env_expand_errors) {
        static const struct {
                const char *in, *why;
        } cases[] = {
            {"${FG_T_UNSET}", "environment variable 'FG_T_UNSET' is not set (write "
                              "${FG_T_UNSET:-default} to give a default)"},
            {"x ${FG_T_UNSET", "unterminated '${' (missing '}'; write $$ for a literal '$')"},
            {"${", "unterminated '${'"},
            {"${}", "invalid environment variable name ''"},
            {"${:-x}", "invalid environment variable name ''"},
            {"${1A}", "invalid environment variable name '1A'"},
            {"${A-B}", "invalid environment variable name 'A-B'"},
            {"${A B}", "invalid environment variable name 'A B'"},
            {"${A:x}", "invalid environment variable name 'A:x'"},
        };
        unsetenv("FG_T_UNSET");
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char err[256] = "";
                char *out = fg_config_env_expand(cases[i].in, err, sizeof(err));
                ck_assert_msg(out == NULL, "'%s' expanded to '%s'", cases[i].in, out);
                ck_assert_msg(strstr(err, cases[i].why), "'%s': '%s', want '%s'", cases[i].in, err,
                              cases[i].why);
        }
}
END_TEST

START_TEST(test_config_env_in_values) {
        fg_config_t *cfg;
        setenv("FG_T_BROKERS", "k1:9092,k2:9092", 1);
        setenv("FG_T_CAPACITY", "1234", 1);
        setenv("FG_T_TOPIC", "orders", 1);
        setenv("FG_T_SECRET", "s3cr3t", 1);
        setenv("FG_T_LEVEL", "debug", 1);
        unsetenv("FG_T_UNSET");
        cfg = expect_load("kafka:\n"
                          "  brokers: ${FG_T_BROKERS}\n"
                          "  group_id: \"g-${FG_T_UNSET:-dev}\"\n"
                          "  topics: [\"${FG_T_TOPIC}\", \"${FG_T_UNSET:-audit}\"]\n"
                          "  properties: {sasl.password: \"${FG_T_SECRET}\", client.rack: \"$$5\"}\n"
                          "queue: {capacity: \"${FG_T_CAPACITY}\", max_bytes: "
                          "\"${FG_T_UNSET:-2MiB}\"}\n"
                          "sink: {type: stdout}\n"
                          "log: {level: \"${FG_T_LEVEL}\"}\n");
        ck_assert_str_eq(cfg->kafka.brokers, "k1:9092,k2:9092");
        ck_assert_str_eq(cfg->kafka.group_id, "g-dev");
        ck_assert_str_eq(cfg->kafka.topics.v[0], "orders");
        ck_assert_str_eq(cfg->kafka.topics.v[1], "audit");
        ck_assert_str_eq(fg_strmap_get(&cfg->kafka.properties, "sasl.password"), "s3cr3t");
        ck_assert_str_eq(fg_strmap_get(&cfg->kafka.properties, "client.rack"), "$5");
        ck_assert_int_eq(cfg->queue.capacity, 1234);
        ck_assert_int_eq(cfg->queue.max_bytes, 2LL << 20);
        ck_assert_int_eq(cfg->log.level, FG_LOG_DEBUG);
        fg_config_destroy(cfg);
}
END_TEST

/* A variable's text is a value, never YAML: no structure can be injected. */
START_TEST(test_config_env_no_injection) {
        fg_config_t *cfg;
        setenv("FG_T_EVIL", "x\nsink:\n  type: file\ntopics: [evil]\n- ${FG_T_EVIL}", 1);
        setenv("FG_T_FLOW", "{a: b}", 1);
        cfg = expect_load("kafka:\n"
                          "  brokers: ${FG_T_EVIL}\n"
                          "  topics: [\"${FG_T_FLOW}\"]\n"
                          "sink: {type: stdout}\n");
        ck_assert_str_eq(cfg->kafka.brokers,
                         "x\nsink:\n  type: file\ntopics: [evil]\n- ${FG_T_EVIL}");
        ck_assert_uint_eq(cfg->kafka.topics.n, 1);
        ck_assert_str_eq(cfg->kafka.topics.v[0], "{a: b}");
        ck_assert_int_eq(cfg->sink.type, FG_SINK_STDOUT);
        fg_config_destroy(cfg);
}
END_TEST

START_TEST(test_config_env_errors_in_file) {
        unsetenv("FG_T_UNSET");
        expect_error("kafka:\n  brokers: ${FG_T_UNSET}\n  topics: [t]\nsink: {type: stdout}\n",
                     "t.yaml:2:12: environment variable 'FG_T_UNSET' is not set (write "
                     "${FG_T_UNSET:-default} to give a default)");
        expect_error("kafka:\n  brokers: b\n  topics: [t]\n  properties: {x: \"${FG_T_UNSET\"}\n"
                     "sink: {type: stdout}\n",
                     "t.yaml:4:19: unterminated '${' (missing '}'; write $$ for a literal '$')");
        /* Keys are never expanded: not a property, rather than an unset variable. */
        expect_error("kafka:\n  brokers: b\n  topics: [t]\n  properties: {\"${FG_T_UNSET}\": x}\n"
                     "sink: {type: stdout}\n",
                     "t.yaml:4:16: kafka.properties: '${FG_T_UNSET}' is not a librdkafka property");
        expect_error("kafka:\n  brokers: b\n  topics: [t]\n"
                     "sink: {type: stdout}\n${FG_T_UNSET}: 1\n",
                     "t.yaml:5:1: unknown key '${FG_T_UNSET}' at top level");
}
END_TEST

/* ---- diff ---- */

typedef struct diff_seen {
        char names[32][64];
        bool live[32];
        size_t n;
} diff_seen_t;

static void diff_cb(const char *name, bool live, void *opaque) {
        diff_seen_t *seen = opaque;
        ck_assert_uint_lt(seen->n, 32);
        snprintf(seen->names[seen->n], 64, "%s", name);
        seen->live[seen->n++] = live;
}

START_TEST(test_config_diff) {
        const char *a = "kafka:\n  brokers: b\n  topics: [t1, t2]\n"
                        "  properties: {acks: all, linger.ms: '5'}\n"
                        "queue: {capacity: 100}\nsink: {type: stdout}\nlog: {level: info}\n";
        /* Same values, map written in another order: no difference. */
        const char *a2 = "kafka:\n  brokers: b\n  topics: [t1, t2]\n"
                         "  properties: {linger.ms: '5', acks: all}\n"
                         "queue: {capacity: 100}\nsink: {type: stdout}\nlog: {level: info}\n";
        const char *b = "kafka:\n  brokers: b\n  topics: [t2, t1]\n"
                        "  properties: {acks: '1', linger.ms: '5'}\n"
                        "queue: {capacity: 200, high_watermark: 90%}\n"
                        "sink: {type: file, path: /x}\nlog: {level: debug}\nburst: {}\n";
        fg_config_t *ca = expect_load(a), *ca2 = expect_load(a2), *cb = expect_load(b);
        diff_seen_t seen = {0};
        static const struct {
                const char *name;
                bool live;
        } want[] = {{"kafka.topics", false}, {"kafka.properties", false},
                    {"queue.capacity", false}, {"sink.type", true},
                    {"sink.path", true},       {"log.level", true},
                    {"burst", false}};

        ck_assert_uint_eq(fg_config_diff(ca, ca2, diff_cb, &seen), 0);
        ck_assert_uint_eq(seen.n, 0);
        ck_assert_uint_eq(fg_config_diff(ca, ca, NULL, NULL), 0);

        ck_assert_uint_eq(fg_config_diff(ca, cb, diff_cb, &seen), 7);
        ck_assert_uint_eq(seen.n, 7);
        for (size_t i = 0; i < 7; i++) {
                ck_assert_str_eq(seen.names[i], want[i].name);
                ck_assert_msg(seen.live[i] == want[i].live, "%s", want[i].name);
        }
        /* Without a callback it still counts. */
        ck_assert_uint_eq(fg_config_diff(cb, ca, NULL, NULL), 7);
        fg_config_destroy(ca);
        fg_config_destroy(ca2);
        fg_config_destroy(cb);
}
END_TEST

/* ---- nested sections: sink.fallback and routes ---- */

START_TEST(test_config_routes_and_fallback) {
        /* The top-level breaker comes after the routes: a route's breaker
         * starts from it wherever it stands in the file. */
        const char *text = "kafka: {brokers: b, topics: [t]}\n"
                           "routes:\n"
                           "  - name: brands\n"
                           "    filter: {field: text, contains_any: [acme, Acme Corp], "
                           "case_insensitive: true}\n"
                           "    sink:\n"
                           "      type: http\n"
                           "      url: http://127.0.0.1:1/b\n"
                           "      rate_limit: {events_per_second: 500}\n"
                           "      fallback: {type: file, path: /tmp/fb}\n"
                           "  - filter: {field: lang, exists: true}\n"
                           "    sink: {type: null}\n"
                           "    breaker: {failure_rate: 0.8}\n"
                           "breaker: {open_duration: 7s, min_calls: 3}\n";
        fg_config_t *cfg = expect_load(text);
        const fg_route_cfg_t *r0, *r1;

        ck_assert_uint_eq(cfg->routes.n, 2);
        r0 = &cfg->routes.v[0];
        r1 = &cfg->routes.v[1];
        ck_assert_str_eq(r0->name, "brands");
        ck_assert_ptr_null(r1->name);
        ck_assert_str_eq(r0->filter.field, "text");
        ck_assert_uint_eq(r0->filter.contains_any.n, 2);
        ck_assert_str_eq(r0->filter.contains_any.v[1], "Acme Corp");
        ck_assert(r0->filter.case_insensitive);
        ck_assert(r1->filter.exists);
        ck_assert_int_eq(r0->sink.type, FG_SINK_HTTP);
        ck_assert_str_eq(r0->sink.url, "http://127.0.0.1:1/b");
        ck_assert_int_eq(r0->sink.rate_limit.events_per_second, 500);
        ck_assert_int_eq(r0->sink.rate_limit.burst, 0);
        /* Defaults apply inside a copy. */
        ck_assert_int_eq(r0->sink.batch_max_messages, 500);
        ck_assert_int_eq(r0->sink.retry.max_attempts, 10);
        ck_assert_ptr_nonnull(r0->sink.fallback);
        ck_assert_int_eq(r0->sink.fallback->type, FG_SINK_FILE);
        ck_assert_str_eq(r0->sink.fallback->path, "/tmp/fb");
        ck_assert_int_eq(r0->sink.fallback->timeout_ns, 10 * NS_S);
        ck_assert_ptr_null(r0->sink.fallback->fallback);
        ck_assert_ptr_null(r1->sink.fallback);
        ck_assert_int_eq(r1->sink.type, FG_SINK_NULL);
        /* Breakers: the top-level values, then the route's own. */
        ck_assert_int_eq(r0->breaker.open_ns, 7 * NS_S);
        ck_assert_int_eq(r0->breaker.min_calls, 3);
        ck_assert(r0->breaker.enabled);
        ck_assert_int_eq(r1->breaker.open_ns, 7 * NS_S);
        ck_assert(r1->breaker.failure_rate_threshold == 0.8);
        ck_assert(cfg->breaker.failure_rate_threshold == 0.5);
        /* No top-level sink: allowed with routes. */
        ck_assert_ptr_null(cfg->sink.url);
        ck_assert_ptr_null(cfg->sink.fallback);
        fg_config_destroy(cfg);
}
END_TEST

START_TEST(test_config_diff_nested) {
        const char *base = "kafka: {brokers: b, topics: [t]}\n"
                           "sink: {type: http, url: http://h/1}\n"
                           "routes:\n"
                           "  - filter: {field: f, contains_any: [a]}\n"
                           "    sink: {type: null}\n";
        const char *changed = "kafka: {brokers: b, topics: [t]}\n"
                              "sink: {type: http, url: http://h/1, fallback: {type: null}}\n"
                              "routes:\n"
                              "  - filter: {field: f, contains_any: [a, b]}\n"
                              "    name: x\n"
                              "    sink: {type: null, timeout: 1s}\n";
        const char *fb_changed = "kafka: {brokers: b, topics: [t]}\n"
                                 "sink: {type: http, url: http://h/1, fallback: {type: stdout}}\n"
                                 "routes:\n"
                                 "  - filter: {field: f, contains_any: [a, b]}\n"
                                 "    name: x\n"
                                 "    sink: {type: null, timeout: 1s}\n"
                                 "  - filter: {field: g, exists: true}\n"
                                 "    sink: {type: null}\n";
        fg_config_t *ca = expect_load(base), *cb = expect_load(changed),
                    *cc = expect_load(fb_changed);
        diff_seen_t seen = {0};
        static const char *const want[] = {"sink.fallback", "routes[0].name",
                                           "routes[0].filter.contains_any",
                                           "routes[0].sink.timeout"};

        ck_assert_uint_eq(fg_config_diff(ca, cb, diff_cb, &seen), 4);
        for (size_t i = 0; i < 4; i++)
                ck_assert_str_eq(seen.names[i], want[i]);
        seen.n = 0;
        ck_assert_uint_eq(fg_config_diff(cb, cc, diff_cb, &seen), 2);
        ck_assert_str_eq(seen.names[0], "sink.fallback.type");
        ck_assert_str_eq(seen.names[1], "routes");
        ck_assert_uint_eq(fg_config_diff(cc, cc, NULL, NULL), 0);
        fg_config_destroy(ca);
        fg_config_destroy(cb);
        fg_config_destroy(cc);
}
END_TEST

/* ---- reference documentation ---- */

START_TEST(test_config_print_reference) {
        char *text = NULL;
        size_t len = 0;
        FILE *fp = open_memstream(&text, &len);
        fg_config_errs_t errs = {0};
        fg_config_t *cfg;

        ck_assert_ptr_nonnull(fp);
        fg_config_print_reference(fp);
        fclose(fp);
        for (size_t i = 0; i < fg_config_nopts; i++) {
                char needle[128];
                snprintf(needle, sizeof(needle), "# %s (", fg_config_opts[i].name);
                ck_assert_msg(strstr(text, needle), "reference lacks %s", fg_config_opts[i].name);
                ck_assert_msg(strstr(text, fg_config_opts[i].help), "reference lacks help of %s",
                              fg_config_opts[i].name);
        }
        ck_assert_ptr_nonnull(strstr(text, "capacity: 10000\n"));
        ck_assert_ptr_nonnull(strstr(text, "max_bytes: 32MiB\n"));
        ck_assert_ptr_nonnull(strstr(text, "timeout: 30s\n"));
        ck_assert_ptr_nonnull(strstr(text, "(integer 1..10000000)"));
        ck_assert_ptr_nonnull(strstr(text, "(size 1KiB..64GiB)"));
        ck_assert_ptr_nonnull(strstr(text, "stdout | file | null | http | kafka | plugin, required"));

        /* The output is a config that only lacks the required values. */
        cfg = fg_config_load_string("ref.yaml", text, len, &errs);
        ck_assert_ptr_null(cfg);
        ck_assert_uint_eq(errs.n, 3);
        ck_assert_ptr_nonnull(strstr(errs.msgs[0], ": missing required key 'kafka.brokers'"));
        ck_assert_ptr_nonnull(strstr(errs.msgs[1], ": missing required key 'kafka.topics'"));
        ck_assert_ptr_nonnull(strstr(errs.msgs[2], ": missing required key 'sink.type'"));
        fg_config_errs_clear(&errs);
        free(text);
}
END_TEST

/* ---- the shipped files ---- */

START_TEST(test_config_shipped_reference_loads) {
        fg_config_errs_t errs = {0};
        fg_config_t *cfg;

        unsetenv("FLOODGATE_BROKERS");
        cfg = fg_config_load("config/floodgate.yaml", &errs);
        ck_assert_msg(cfg != NULL, "%s", errs.n ? errs.msgs[0] : "?");
        ck_assert_str_eq(cfg->kafka.brokers, "localhost:9092");
        ck_assert_int_eq(cfg->sink.type, FG_SINK_FILE);
        ck_assert_str_eq(cfg->sink.path, "/var/lib/floodgate/events.jsonl");
        ck_assert(!cfg->burst.enabled);
        fg_config_destroy(cfg);

        setenv("FLOODGATE_BROKERS", "prod1:9092,prod2:9092", 1);
        cfg = fg_config_load("config/floodgate.yaml", &errs);
        ck_assert_ptr_nonnull(cfg);
        ck_assert_str_eq(cfg->kafka.brokers, "prod1:9092,prod2:9092");
        fg_config_destroy(cfg);
        unsetenv("FLOODGATE_BROKERS");
}
END_TEST

/* Every non-burst value in the reference config is its default (the file
 * documents defaults), except the options that have none. */
START_TEST(test_config_shipped_reference_shows_defaults) {
        fg_config_errs_t errs = {0};
        fg_config_t *cfg, defaults = {0};

        unsetenv("FLOODGATE_BROKERS");
        cfg = fg_config_load("config/floodgate.yaml", &errs);
        ck_assert_ptr_nonnull(cfg);
        ck_assert_int_eq(fg_config_apply_defaults(&defaults), 0);
        for (size_t i = 0; i < fg_config_nopts; i++) {
                const fg_opt_t *opt = &fg_config_opts[i];
                char a[512], b[512];
                if ((opt->flags & FG_OPT_F_REQUIRED) || !strncmp(opt->name, "burst", 5) ||
                    (opt->type == FG_OPT_STRING && !opt->def_str))
                        continue;
                ck_assert_msg(!strcmp(fg_config_format_value(cfg, opt, a, sizeof(a)),
                                      fg_config_format_value(&defaults, opt, b, sizeof(b))),
                              "config/floodgate.yaml sets %s to %s, the default is %s", opt->name,
                              a, b);
        }
        fg_config_free_fields(&defaults);
        fg_config_destroy(cfg);
}
END_TEST

START_TEST(test_config_shipped_demo_loads) {
        fg_config_errs_t errs = {0};
        fg_config_t *cfg = fg_config_load("config/demo.yaml", &errs);

        ck_assert_msg(cfg != NULL, "%s", errs.n ? errs.msgs[0] : "?");
        ck_assert_str_eq(cfg->kafka.brokers, "mock");
        ck_assert_uint_eq(cfg->kafka.topics.n, 1);
        ck_assert_str_eq(cfg->kafka.topics.v[0], "events");
        ck_assert_int_eq(cfg->kafka.mock_partitions, 16);
        ck_assert_int_eq(cfg->workers.size, 4);
        ck_assert_int_eq(cfg->sink.type, FG_SINK_FILE);
        ck_assert_str_eq(cfg->sink.path, "/tmp/floodgate-demo.jsonl");
        ck_assert(cfg->burst.enabled);
        ck_assert_int_eq(cfg->burst.count, 500000);
        ck_assert_int_eq(cfg->burst.rate, 20000);
        ck_assert_int_eq(cfg->burst.spike_at_ns, 8 * NS_S);
        ck_assert_int_eq(cfg->burst.spike_for_ns, 30 * NS_S);
        ck_assert_int_eq(cfg->burst.spike_rate, 100000);
        ck_assert_str_eq(cfg->metrics.listen, "127.0.0.1:9464");
        ck_assert_int_eq(cfg->metrics.log_interval_ns, NS_S);
        fg_config_destroy(cfg);
}
END_TEST

/* The docs cannot drift: every option of the table is in floodgate.yaml. */
START_TEST(test_config_reference_mentions_every_option) {
        char *text = read_file("config/floodgate.yaml", NULL);
        for (size_t i = 0; i < fg_config_nopts; i++) {
                const char *name = fg_config_opts[i].name;
                char needle[128];
                snprintf(needle, sizeof(needle), "# %s (", name);
                ck_assert_msg(strstr(text, needle),
                              "config/floodgate.yaml does not document %s (want a comment "
                              "starting '# %s (')",
                              name, name);
        }
        ck_assert_ptr_nonnull(strstr(text, "${FLOODGATE_BROKERS:-"));
        free(text);
}
END_TEST

START_TEST(test_config_table_is_sane) {
        for (size_t i = 0; i < fg_config_nopts; i++) {
                const fg_opt_t *opt = &fg_config_opts[i];
                const char *name = opt->name;
                /* A list part that inherits the top-level section is copied
                 * byte for byte: its rows must own no memory. */
                for (const fg_opt_part_t *p = opt->type == FG_OPT_LIST ? opt->parts : NULL;
                     p && p->key; p++) {
                        size_t plen = p->rows ? strlen(p->rows) : 0;
                        ck_assert_msg(!p->rows || fg_config_opt_find(p->rows) < 0 ||
                                          fg_config_opts[fg_config_opt_find(p->rows)].type ==
                                              FG_OPT_SECTION,
                                      "%s.%s: rows", name, p->key);
                        for (size_t j = 0; p->inherit && j < fg_config_nopts; j++) {
                                const fg_opt_t *row = &fg_config_opts[j];
                                if (strncmp(row->name, p->rows, plen) || row->name[plen] != '.')
                                        continue;
                                ck_assert_msg(row->type != FG_OPT_STRING &&
                                                  row->type != FG_OPT_STRLIST &&
                                                  row->type != FG_OPT_STRMAP &&
                                                  row->type != FG_OPT_SUB,
                                              "%s.%s inherits %s, which owns memory", name,
                                              p->key, row->name);
                        }
                }
                ck_assert_msg(opt->help && *opt->help, "%s: no help", name);
                ck_assert_msg(fg_config_opt_find(name) == (int)i, "%s: listed twice", name);
                for (const char *p = name; *p; p++)
                        ck_assert_msg((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                                          *p == '_' || *p == '.',
                                      "%s: bad character", name);
                if (opt->type == FG_OPT_INT || opt->type == FG_OPT_DURATION ||
                    opt->type == FG_OPT_SIZE) {
                        ck_assert_msg(opt->min <= opt->max, "%s: bounds", name);
                        if (!(opt->flags & FG_OPT_F_REQUIRED))
                                ck_assert_msg(opt->def >= opt->min && opt->def <= opt->max,
                                              "%s: default out of bounds", name);
                }
                if (opt->type == FG_OPT_RATIO)
                        ck_assert_msg(opt->def_ratio >= opt->rmin && opt->def_ratio <= opt->rmax,
                                      "%s: default out of bounds", name);
                if (opt->type == FG_OPT_ENUM && !(opt->flags & FG_OPT_F_REQUIRED)) {
                        const fg_opt_enum_t *e = opt->enums;
                        while (e->name && e->value != opt->def)
                                e++;
                        ck_assert_msg(e->name != NULL, "%s: default not among the names", name);
                }
                /* Rows of a section stay together (the reference relies on it):
                 * between two rows of a section there is no row of another. */
                for (const char *dot = strchr(name, '.'); dot; dot = strchr(dot + 1, '.')) {
                        size_t plen = (size_t)(dot - name), first = SIZE_MAX, last = 0;
                        for (size_t j = 0; j < fg_config_nopts; j++)
                                if (!strncmp(fg_config_opts[j].name, name, plen + 1)) {
                                        first = first == SIZE_MAX ? j : first;
                                        last = j;
                                }
                        for (size_t j = first; j <= last; j++)
                                ck_assert_msg(!strncmp(fg_config_opts[j].name, name, plen + 1),
                                              "section %.*s is split by %s", (int)plen, name,
                                              fg_config_opts[j].name);
                }
        }
}
END_TEST

/* ---- corpora ---- */

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool ends_with(const char *s, const char *suffix) {
        size_t n = strlen(s), m = strlen(suffix);
        return n >= m && !strcmp(s + n - m, suffix);
}

/* Sorted names in @p dir ending with @p suffix (without it). */
static size_t list_dir(const char *dir, const char *suffix, char ***out) {
        DIR *d = opendir(dir);
        struct dirent *de;
        char **names = NULL;
        size_t n = 0;
        ck_assert_msg(d != NULL, "%s: %s", dir, strerror(errno));
        while ((de = readdir(d))) {
                if (!ends_with(de->d_name, suffix))
                        continue;
                names = realloc(names, (n + 1) * sizeof(*names));
                names[n++] = strndup(de->d_name, strlen(de->d_name) - strlen(suffix));
        }
        closedir(d);
        qsort(names, n, sizeof(*names), cmp_str);
        *out = names;
        return n;
}

START_TEST(test_config_bad_corpus) {
        char **yamls, **expects, *failures = NULL;
        size_t ny = list_dir(BAD_DIR, ".yaml", &yamls);
        size_t ne = list_dir(BAD_DIR, ".expected", &expects);
        size_t nfail = 0, flen = 0;
        FILE *fp = open_memstream(&failures, &flen);

        unsetenv("FG_TEST_UNSET");
        setenv("FG_TEST_WORD", "lots", 1);
        ck_assert_uint_ge(ny, 30);
        for (size_t i = 0; i < ne; i++)
                if (!bsearch(&expects[i], yamls, ny, sizeof(*yamls), cmp_str)) {
                        fprintf(fp, "%s.expected has no %s.yaml\n", expects[i], expects[i]);
                        nfail++;
                }
        for (size_t i = 0; i < ny; i++) {
                char path[512], epath[512], *want, *got;
                fg_config_errs_t errs = {0};
                fg_config_t *cfg;

                snprintf(path, sizeof(path), BAD_DIR "/%s.yaml", yamls[i]);
                snprintf(epath, sizeof(epath), BAD_DIR "/%s.expected", yamls[i]);
                if (access(epath, R_OK) != 0) {
                        fprintf(fp, "%s has no %s.expected\n", path, yamls[i]);
                        nfail++;
                        continue;
                }
                want = read_file(epath, NULL);
                cfg = fg_config_load(path, &errs);
                got = join_errs(&errs);
                if (cfg) {
                        fprintf(fp, "%s: loaded without error\n", path);
                        nfail++;
                } else if (strstr(got, "S3cr3t") || strstr(got, "hunter2")) {
                        fprintf(fp, "%s: a secret shows in a message:\n%s", path, got);
                        nfail++;
                } else if (strcmp(got, want)) {
                        fprintf(fp, "%s:\n--- got\n%s--- want\n%s", path, got, want);
                        nfail++;
                }
                fg_config_destroy(cfg);
                fg_config_errs_clear(&errs);
                free(want);
                free(got);
        }
        fclose(fp);
        ck_assert_msg(nfail == 0, "%zu of %zu bad configs failed:\n%s", nfail, ny, failures);
        free(failures);
        for (size_t i = 0; i < ny; i++)
                free(yamls[i]);
        for (size_t i = 0; i < ne; i++)
                free(expects[i]);
        free(yamls);
        free(expects);
}
END_TEST

/* Files the loader accepts and fg_config_probe refuses: librdkafka's view
 * of a whole client, the sink's own checks. */
START_TEST(test_config_probe_corpus) {
        char **yamls;
        size_t ny = list_dir(PROBE_DIR, ".yaml", &yamls);

        ck_assert_uint_ge(ny, 5);
        for (size_t i = 0; i < ny; i++) {
                char path[512], epath[512], *want, *got;
                fg_config_errs_t errs = {0};
                fg_config_t *cfg;

                snprintf(path, sizeof(path), PROBE_DIR "/%s.yaml", yamls[i]);
                snprintf(epath, sizeof(epath), PROBE_DIR "/%s.expected", yamls[i]);
                want = read_file(epath, NULL);
                cfg = fg_config_load(path, &errs);
                ck_assert_msg(cfg != NULL, "%s does not load: %s", path, errs.n ? errs.msgs[0] : "");
                ck_assert_uint_gt(fg_config_probe(cfg, &errs), 0);
                got = join_errs(&errs);
                ck_assert_msg(!strcmp(got, want), "%s:\n--- got\n%s--- want\n%s", path, got, want);
                fg_config_destroy(cfg);
                fg_config_errs_clear(&errs);
                free(want);
                free(got);
                free(yamls[i]);
        }
        free(yamls);
}
END_TEST

/* What the probe accepts: the shipped files, a name that resolves, and
 * every client with properties librdkafka takes together. */
START_TEST(test_config_probe_accepts) {
        static const char *const files[] = {"config/floodgate.yaml", "config/demo.yaml",
                                            GOOD_DIR "/all_options.yaml"};
        fg_config_errs_t errs = {0};
        fg_config_t *cfg;

        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                cfg = fg_config_load(files[i], &errs);
                ck_assert_msg(cfg != NULL, "%s: %s", files[i], errs.n ? errs.msgs[0] : "");
                ck_assert_msg(fg_config_probe(cfg, &errs) == 0, "%s: %s", files[i],
                              errs.n ? errs.msgs[0] : "");
                fg_config_destroy(cfg);
        }
        cfg = expect_load("kafka: {brokers: b, topics: [t], properties: {acks: all, linger.ms: 5}}\n"
                          "sink: {type: kafka, topic: out, properties: {linger.ms: 20}}\n"
                          "dead_letter: {topic: dlq, properties: {max.in.flight: 5}}\n"
                          "metrics: {listen: \"localhost:0\"}\n");
        ck_assert_msg(fg_config_probe(cfg, &errs) == 0, "%s", errs.n ? errs.msgs[0] : "");
        fg_config_destroy(cfg);
}
END_TEST

/* metrics.listen must resolve. Which words the resolver uses for a name
 * that does not exist depends on the host's DNS, so only the start is
 * checked. */
START_TEST(test_config_probe_listen_resolves) {
        fg_config_errs_t errs = {0};
        fg_config_t *cfg = expect_load("kafka: {brokers: b, topics: [t]}\nsink: {type: stdout}\n"
                                       "metrics:\n  listen: \"no-such-host.invalid:9464\"\n");

        const char *want = "t.yaml:4:11: metrics.listen 'no-such-host.invalid:9464': cannot "
                           "resolve no-such-host.invalid: ";

        ck_assert_uint_eq(fg_config_probe(cfg, &errs), 1);
        ck_assert_msg(!strncmp(errs.msgs[0], want, strlen(want)), "%s", errs.msgs[0]);
        fg_config_errs_clear(&errs);
        fg_config_destroy(cfg);
}
END_TEST

START_TEST(test_config_good_corpus) {
        char **names;
        size_t n = list_dir(GOOD_DIR, ".yaml", &names);

        ck_assert_uint_ge(n, 3);
        for (size_t i = 0; i < n; i++) {
                char path[512];
                fg_config_errs_t errs = {0};
                fg_config_t *cfg;
                snprintf(path, sizeof(path), GOOD_DIR "/%s.yaml", names[i]);
                cfg = fg_config_load(path, &errs);
                ck_assert_msg(cfg != NULL, "%s: %s", path, errs.n ? errs.msgs[0] : "?");
                ck_assert_uint_eq(errs.n, 0);
                fg_config_destroy(cfg);
                free(names[i]);
        }
        free(names);
}
END_TEST

/* ---- hostile input ---- */

START_TEST(test_config_file_errors) {
        tmpdir_t td;
        char fifo[128], *big;
        const char *p;
        fg_config_errs_t errs = {0};
        fg_config_t *cfg;
        size_t mlen = strlen(MINIMAL);

        tmpdir_open(&td);
        expect_file_rejected("/nonexistent/floodgate.yaml", "cannot open: No such file");
        expect_file_rejected(td.path, "not a regular file (a directory)");
        expect_file_rejected("/dev/null", "not a regular file");
        snprintf(fifo, sizeof(fifo), "%s/fifo", td.path);
        ck_assert_int_eq(mkfifo(fifo, 0600), 0);
        expect_file_rejected(fifo, "not a regular file");
        unlink(fifo);

        p = tmpdir_write(&td, "empty.yaml", "", 0);
        expect_file_rejected(p, ": configuration is empty");

        /* Exactly at the limit loads; one byte more does not. */
        big = malloc(FG_CONFIG_MAX_FILE_SIZE + 1);
        ck_assert_ptr_nonnull(big);
        memcpy(big, MINIMAL, mlen);
        memset(big + mlen, '#', FG_CONFIG_MAX_FILE_SIZE - mlen - 1);
        big[FG_CONFIG_MAX_FILE_SIZE - 1] = '\n';
        p = tmpdir_write(&td, "limit.yaml", big, FG_CONFIG_MAX_FILE_SIZE);
        cfg = fg_config_load(p, &errs);
        ck_assert_msg(cfg != NULL, "%s", errs.n ? errs.msgs[0] : "?");
        fg_config_destroy(cfg);
        big[FG_CONFIG_MAX_FILE_SIZE] = '\n';
        p = tmpdir_write(&td, "limit1.yaml", big, FG_CONFIG_MAX_FILE_SIZE + 1);
        expect_file_rejected(p, "file is too large (1048577 bytes; the limit is 1MiB)");
        cfg = fg_config_load_string("s.yaml", big, FG_CONFIG_MAX_FILE_SIZE + 1, &errs);
        ck_assert_ptr_null(cfg);
        ck_assert_uint_eq(errs.n, 1);
        ck_assert_str_eq(errs.msgs[0],
                         "s.yaml: configuration is too large (1048577 bytes; the limit is 1MiB)");
        fg_config_errs_clear(&errs);
        free(big);
        tmpdir_close(&td);
}
END_TEST

START_TEST(test_config_malformed_inputs) {
        const size_t deep = 100000;
        size_t cap = 12 * 1024 * 1024, n;
        char *buf = malloc(cap);
        tmpdir_t td;
        const char *p;
        uint64_t seed = 42;

        ck_assert_ptr_nonnull(buf);
        tmpdir_open(&td);

        /* A 10 MB file: refused by size before any parsing. */
        for (n = 0; n + 16 < 10 * 1024 * 1024;)
                n += (size_t)sprintf(buf + n, "k%07zu: value\n", n);
        p = tmpdir_write(&td, "10mb.yaml", buf, n);
        expect_file_rejected(p, "file is too large");

        /* Binary garbage, with and without NUL bytes. */
        for (n = 0; n < 65536; n++)
                buf[n] = (char)rng_next(&seed);
        p = tmpdir_write(&td, "garbage.bin", buf, n);
        expect_file_rejected(p, NULL);
        for (n = 0; n < 65536; n++)
                buf[n] = (char)(rng_next(&seed) % 255 + 1);
        p = tmpdir_write(&td, "garbage-nonul.bin", buf, n);
        expect_file_rejected(p, NULL);

        /* NUL bytes and broken UTF-8 inside an otherwise fine file. */
        n = (size_t)sprintf(buf, "%s", MINIMAL);
        memcpy(buf + n, "log: {level: in\0fo}\n", 20);
        p = tmpdir_write(&td, "nul.yaml", buf, n + 20);
        expect_file_rejected(p, ":6:16: NUL byte in the input");
        memcpy(buf + n, "log: {level: \xc3}\n", 16);
        p = tmpdir_write(&td, "utf8.yaml", buf, n + 16);
        expect_file_rejected(p, ":6:14: invalid UTF-8 (byte 0xC3)");
        memcpy(buf + n, "x: \xf0\x9f\x98", 6); /* truncated at end of file */
        p = tmpdir_write(&td, "utf8-eof.yaml", buf, n + 6);
        expect_file_rejected(p, ":6:4: invalid UTF-8 (byte 0xF0)");
        memcpy(buf + n, "x: \xed\xa0\x80\n", 7); /* a UTF-16 surrogate */
        p = tmpdir_write(&td, "surrogate.yaml", buf, n + 7);
        expect_file_rejected(p, ":6:4: invalid UTF-8 (byte 0xED)");

        /* 100,000 levels deep, flow style: sequences, mappings, unclosed. */
        n = (size_t)sprintf(buf, "kafka: ");
        memset(buf + n, '[', deep);
        memset(buf + n + deep, ']', deep);
        p = tmpdir_write(&td, "deep-seq.yaml", buf, n + 2 * deep);
        expect_file_rejected(p, ":1:39: nesting is deeper than 32 levels");
        p = tmpdir_write(&td, "deep-seq-open.yaml", buf, n + deep);
        expect_file_rejected(p, ":1:39: nesting is deeper than 32 levels");
        for (n = 0; n < deep; n++)
                memcpy(buf + 4 * n, "{a: ", 4);
        p = tmpdir_write(&td, "deep-map.yaml", buf, 4 * deep);
        expect_file_rejected(p, ":1:129: nesting is deeper than 32 levels");
        /* ... block style: "- - - ..." nests block sequences on one line. */
        for (n = 0; n < deep; n++)
                memcpy(buf + 2 * n, "- ", 2);
        p = tmpdir_write(&td, "deep-block-seq.yaml", buf, 2 * deep);
        expect_file_rejected(p, ":1:65: nesting is deeper than 32 levels");
        /* A block mapping needs one more column per level, so 100,000 levels
         * take 5 GB (refused by size). The deepest that fits in 1 MiB: */
        {
                size_t off = 0;
                for (size_t lvl = 0; lvl < 1400; lvl++) {
                        memset(buf + off, ' ', lvl);
                        off += lvl;
                        memcpy(buf + off, "k:\n", 3);
                        off += 3;
                }
                ck_assert_uint_le(off, FG_CONFIG_MAX_FILE_SIZE);
                p = tmpdir_write(&td, "deep-block-map.yaml", buf, off);
                expect_file_rejected(p, ":33:33: nesting is deeper than 32 levels");
                /* ... and a block mapping holding 100,000 levels of flow. */
                off = (size_t)sprintf(buf, "kafka:\n  properties:\n    x: ");
                for (size_t lvl = 0; lvl < deep; lvl++, off += 4)
                        memcpy(buf + off, "{a: ", 4);
                p = tmpdir_write(&td, "deep-mixed.yaml", buf, off);
                expect_file_rejected(p, ":3:124: nesting is deeper than 32 levels");
        }
        free(buf);
        tmpdir_close(&td);
}
END_TEST

/* Random damage to a real config: every outcome is a config or messages. */
START_TEST(test_config_mutations_never_crash) {
        size_t len;
        char *orig = read_file("config/floodgate.yaml", &len), *buf = malloc(len + 64);
        uint64_t seed = 0xF100D6A7EULL;
        static const char alphabet[] = "{}[]:,-?&*!|>'\"%@`#\t\n \\$0aZ.";

        ck_assert_ptr_nonnull(buf);
        for (int iter = 0; iter < 3000; iter++) {
                size_t n = len, edits = 1 + rng_next(&seed) % 4;
                fg_config_errs_t errs = {0};
                fg_config_t *cfg;
                memcpy(buf, orig, len);
                for (size_t e = 0; e < edits; e++) {
                        size_t at = rng_next(&seed) % n;
                        uint64_t kind = rng_next(&seed) % 4;
                        char c = (iter % 2) ? (char)rng_next(&seed)
                                            : alphabet[rng_next(&seed) % (sizeof(alphabet) - 1)];
                        if (kind == 0) {
                                buf[at] = c;
                        } else if (kind == 1 && n + 1 < len + 64) {
                                memmove(buf + at + 1, buf + at, n - at);
                                buf[at] = c;
                                n++;
                        } else if (n > 1) {
                                memmove(buf + at, buf + at + 1, n - at - 1);
                                n--;
                        }
                }
                cfg = fg_config_load_string("m.yaml", buf, n, &errs);
                ck_assert_msg((cfg != NULL) == (errs.n == 0), "iteration %d", iter);
                for (size_t i = 0; i < errs.n; i++) {
                        ck_assert_msg(!strncmp(errs.msgs[i], "m.yaml:", 7), "%s", errs.msgs[i]);
                        ck_assert_msg(!strchr(errs.msgs[i], '\n'), "multi-line: %s",
                                      errs.msgs[i]);
                }
                fg_config_destroy(cfg);
                fg_config_errs_clear(&errs);
        }
        free(buf);
        free(orig);
}
END_TEST

START_TEST(test_config_many_errors_are_capped) {
        size_t cap = 64 * 1024, n;
        char *buf = malloc(cap);
        fg_config_errs_t errs = {0};

        ck_assert_ptr_nonnull(buf);
        n = (size_t)sprintf(buf, "%s", MINIMAL);
        for (int i = 0; i < 500; i++)
                n += (size_t)sprintf(buf + n, "unknown%d: 1\n", i);
        ck_assert_ptr_null(fg_config_load_string("c.yaml", buf, n, &errs));
        ck_assert_uint_eq(errs.n, 101);
        ck_assert_str_eq(errs.msgs[0], "c.yaml:6:1: unknown key 'unknown0' at top level");
        ck_assert_str_eq(errs.msgs[100], "c.yaml: 400 more errors not shown");
        fg_config_errs_clear(&errs);
        free(buf);
}
END_TEST

/* Duplicate detection sorts: 100,000 entries take milliseconds, not minutes. */
START_TEST(test_config_large_collections) {
        size_t cap = FG_CONFIG_MAX_FILE_SIZE, n;
        char *buf = malloc(cap);
        fg_config_errs_t errs = {0};

        ck_assert_ptr_nonnull(buf);
        n = (size_t)sprintf(buf, "kafka:\n  brokers: b\n  topics: [");
        for (int i = 0; i < 100000; i++)
                n += (size_t)sprintf(buf + n, "t%d,", i);
        n += (size_t)sprintf(buf + n, "t77]\nsink:\n  type: stdout\n  headers: {");
        for (int i = 0; i < 20000; i++)
                n += (size_t)sprintf(buf + n, "p%d: v,", i);
        n += (size_t)sprintf(buf + n, "p5: w}\n");
        ck_assert_uint_lt(n, cap);
        ck_assert_ptr_null(fg_config_load_string("l.yaml", buf, n, &errs));
        ck_assert_uint_eq(errs.n, 2);
        ck_assert_str_eq(errs.msgs[0],
                         "l.yaml:3:688902: kafka.topics: duplicate entry 't77' (first at line 3)");
        ck_assert_ptr_nonnull(
            strstr(errs.msgs[1], "duplicate key 'p5' in 'sink.headers' (first at line 6)"));
        fg_config_errs_clear(&errs);
        free(buf);
}
END_TEST

START_TEST(test_config_messages_are_one_line) {
        /* Control characters in keys and values are escaped in messages. */
        fg_config_errs_t errs = {0};
        const char *text = "kafka: {brokers: b, topics: [t]}\nsink: {type: stdout}\n"
                           "\"bad\\nkey\\x1b[2J\": 1\nqueue: {capacity: \"12\\n34\"}\n";
        ck_assert_ptr_null(load_str(text, &errs));
        ck_assert_uint_eq(errs.n, 2);
        ck_assert_str_eq(errs.msgs[0], "t.yaml:3:1: unknown key 'bad\\nkey\\x1B[2J' at top level");
        ck_assert_str_eq(errs.msgs[1],
                         "t.yaml:4:19: queue.capacity: expected an integer, got '12\\n34'");
        fg_config_errs_clear(&errs);
}
END_TEST

START_TEST(test_config_load_string_edges) {
        fg_config_errs_t errs = {0};
        char buf[128];
        fg_config_t *cfg;

        ck_assert_ptr_null(fg_config_load_string("n.yaml", NULL, 0, &errs));
        ck_assert_uint_eq(errs.n, 1);
        ck_assert_str_eq(errs.msgs[0], "n.yaml:1:1: configuration is empty");
        fg_config_errs_clear(&errs);
        ck_assert_ptr_null(errs.msgs);
        ck_assert_uint_eq(errs.n, 0);

        /* Not NUL-terminated: only len bytes count. */
        memcpy(buf, MINIMAL, strlen(MINIMAL));
        memcpy(buf + strlen(MINIMAL), "garbage: [", 10);
        cfg = fg_config_load_string(NULL, buf, strlen(MINIMAL), &errs);
        ck_assert_ptr_nonnull(cfg);
        ck_assert_str_eq(cfg->path, "<string>");
        fg_config_destroy(cfg);

        /* Destroy and clear accept NULL and empty. */
        fg_config_destroy(NULL);
        fg_config_errs_clear(NULL);
        fg_config_errs_clear(&errs);
}
END_TEST

START_TEST(test_config_missing_required_positions) {
        fg_config_errs_t errs = {0};
        ck_assert_ptr_null(load_str("queue: {capacity: 5}\n\nkafka:\n  group_id: g\n", &errs));
        ck_assert_uint_eq(errs.n, 3);
        ck_assert_str_eq(errs.msgs[0], "t.yaml:1:1: missing required key 'sink.type'");
        ck_assert_str_eq(errs.msgs[1], "t.yaml:3:1: missing required key 'kafka.brokers'");
        ck_assert_str_eq(errs.msgs[2], "t.yaml:3:1: missing required key 'kafka.topics'");
        fg_config_errs_clear(&errs);
        /* A section given as a scalar is one error, not one per missing key. */
        expect_error("kafka: none\nsink: {type: stdout}\n",
                     "t.yaml:1:8: kafka: expected a mapping, got 'none'");
}
END_TEST

static Suite *config_suite(void) {
        Suite *s = suite_create("config");
        TCase *tc = tcase_create("load");
        TCase *hostile = tcase_create("hostile");

        tcase_add_test(tc, test_config_defaults);
        tcase_add_test(tc, test_config_every_type);
        tcase_add_test(tc, test_config_bool_spellings);
        tcase_add_test(tc, test_config_ratio_forms);
        tcase_add_test(tc, test_config_enums_and_log_levels);
        tcase_add_test(tc, test_config_lists_and_maps);
        tcase_add_test(tc, test_config_burst_section_presence);
        tcase_add_test(tc, test_config_env_expand_function);
        tcase_add_test(tc, test_config_env_expand_errors);
        tcase_add_test(tc, test_config_env_in_values);
        tcase_add_test(tc, test_config_env_no_injection);
        tcase_add_test(tc, test_config_env_errors_in_file);
        tcase_add_test(tc, test_config_diff);
        tcase_add_test(tc, test_config_routes_and_fallback);
        tcase_add_test(tc, test_config_diff_nested);
        tcase_add_test(tc, test_config_print_reference);
        tcase_add_test(tc, test_config_shipped_reference_loads);
        tcase_add_test(tc, test_config_shipped_reference_shows_defaults);
        tcase_add_test(tc, test_config_shipped_demo_loads);
        tcase_add_test(tc, test_config_reference_mentions_every_option);
        tcase_add_test(tc, test_config_table_is_sane);
        tcase_add_test(tc, test_config_bad_corpus);
        tcase_add_test(tc, test_config_good_corpus);
        tcase_add_test(tc, test_config_probe_corpus);
        tcase_add_test(tc, test_config_probe_accepts);
        tcase_add_test(tc, test_config_probe_listen_resolves);
        tcase_add_test(tc, test_config_missing_required_positions);
        tcase_add_test(tc, test_config_messages_are_one_line);
        tcase_add_test(tc, test_config_load_string_edges);
        suite_add_tcase(s, tc);

        /* Big inputs under sanitizers need more than Check's 4 s default. */
        tcase_set_timeout(hostile, 120);
        tcase_add_test(hostile, test_config_file_errors);
        tcase_add_test(hostile, test_config_malformed_inputs);
        tcase_add_test(hostile, test_config_mutations_never_crash);
        tcase_add_test(hostile, test_config_many_errors_are_capped);
        tcase_add_test(hostile, test_config_large_collections);
        suite_add_tcase(s, hostile);
        return s;
}

int main(void) { return fg_test_run_in_srcdir(config_suite(), "check_config"); }
