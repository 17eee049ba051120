/*
 * kconf: librdkafka configuration building (see kconf.h).
 */
#include "kafka/kconf.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/redact.h"

/* librdkafka's syslog levels map onto ours; its debug chatter stays debug. */
void fg_kconf_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
        fg_log_level_t l = level <= 3 ? FG_LOG_ERROR
                         : level == 4 ? FG_LOG_WARN
                         : level <= 6 ? FG_LOG_INFO
                                      : FG_LOG_DEBUG;
        fg_log(l, "kafka %s: %s: %s", rd_kafka_name(rk), fac, buf);
}

static bool is_property_name(const char *s, size_t len);

/* Copies @p in with every double-quoted part that is not a property name
 * shown as "***": librdkafka quotes the value (or a piece of a list value)
 * that it refuses, and the property's name (its canonical one when @p name
 * is an alias). */
static void redact_quoted(const char *in, const char *name, char *out, size_t size) {
        size_t len = 0;

        while (*in && len + 1 < size) {
                const char *close = *in == '"' ? strchr(in + 1, '"') : NULL;
                size_t qlen = close ? (size_t)(close - in - 1) : 0;

                if (close && !(qlen == strlen(name) && !strncmp(in + 1, name, qlen)) &&
                    !is_property_name(in + 1, qlen)) {
                        len += (size_t)snprintf(out + len, size - len, "\"%s\"", FG_REDACTED);
                        in = close + 1;
                } else {
                        out[len++] = *in++;
                }
        }
        out[len < size ? len : size - 1] = '\0';
}

/* "... value 1e+08 is outside allowed range ...": librdkafka prints the
 * number it parsed from the value, which need not look like the value. */
static void redact_range_value(char *s, size_t size) {
        static const char before[] = " value ", after[] = " is outside allowed range";
        char *v = strstr(s, before), *end;
        char tmp[512];

        if (!v)
                return;
        v += sizeof(before) - 1;
        end = strstr(v, after);
        if (!end || memchr(v, ' ', (size_t)(end - v)))
                return;
        snprintf(tmp, sizeof(tmp), "%.*s%s%s", (int)(v - s), s, FG_REDACTED, end);
        snprintf(s, size, "%s", tmp);
}

/* Why librdkafka refused name=value, without the value: librdkafka's own
 * reason with the value (whole, quoted or in pieces) redacted. */
static void explain(const char *name, const char *value, rd_kafka_conf_res_t res,
                    const char *reason, char *msg, size_t msg_size) {
        char tmp[512];
        size_t len;

        if (res == RD_KAFKA_CONF_UNKNOWN) {
                snprintf(msg, msg_size, "no such librdkafka property");
                return;
        }
        redact_quoted(reason, name, tmp, sizeof(tmp));
        redact_range_value(tmp, sizeof(tmp));
        fg_redact_secret(tmp, value, msg, msg_size);
        len = strlen(msg);
        while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' ' || msg[len - 1] == '.'))
                msg[--len] = '\0';
}

int fg_kconf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                 size_t errstr_size) {
        char reason[512], why[512];
        rd_kafka_conf_res_t res = rd_kafka_conf_set(conf, name, value, reason, sizeof(reason));

        if (res != RD_KAFKA_CONF_OK) {
                explain(name, value, res, reason, why, sizeof(why));
                snprintf(errstr, errstr_size, "kafka property %s: %s", name, why);
                return -1;
        }
        return 0;
}

/* Any thread. */
int fg_kconf_check_property(const char *name, const char *value, bool *unknown, char *msg,
                            size_t msg_size) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char reason[512];
        rd_kafka_conf_res_t res;

        res = rd_kafka_conf_set(conf, name, value, reason, sizeof(reason));
        rd_kafka_conf_destroy(conf);
        *unknown = res == RD_KAFKA_CONF_UNKNOWN;
        if (res == RD_KAFKA_CONF_OK)
                return 0;
        explain(name, value, res, reason, msg, msg_size);
        return -1;
}

/* librdkafka lists its properties only as a Markdown table
 * (rd_kafka_conf_properties_show): a row is "name   | C/P | ...". */
static struct {
        pthread_once_t once;
        char **v;
        size_t n;
} names = {PTHREAD_ONCE_INIT, NULL, 0};

static void load_names(void) {
        char *text = NULL, *line, *save = NULL;
        size_t len = 0, cap = 0;
        FILE *fp = open_memstream(&text, &len);

        if (!fp)
                return;
        rd_kafka_conf_properties_show(fp);
        fclose(fp);
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                size_t nlen = strcspn(line, " |");
                char **v;

                if (line[0] < 'a' || line[0] > 'z' || !strstr(line, " | "))
                        continue;
                if (names.n == cap) {
                        cap = cap ? 2 * cap : 256;
                        if (!(v = realloc(names.v, cap * sizeof(*v))))
                                break;
                        names.v = v;
                }
                if (!(names.v[names.n] = strndup(line, nlen)))
                        break;
                names.n++;
        }
        free(text);
}

/* Any thread. */
size_t fg_kconf_property_names(const char *const **list) {
        pthread_once(&names.once, load_names);
        *list = (const char *const *)names.v;
        return names.n;
}

static bool is_property_name(const char *s, size_t len) {
        const char *const *list;
        size_t n = fg_kconf_property_names(&list);

        for (size_t i = 0; i < n; i++)
                if (strlen(list[i]) == len && !strncmp(list[i], s, len))
                        return true;
        return false;
}

/* A check's client must not talk: "no bootstrap.servers" and the like are
 * what a check expects. */
static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {}

/* Main thread. */
int fg_kconf_check_client(rd_kafka_type_t type, rd_kafka_conf_t *conf, const fg_strmap_t *props,
                          char *errstr, size_t errstr_size) {
        char reason[512], a[512], b[512];
        rd_kafka_t *rk;

        rd_kafka_conf_set_log_cb(conf, quiet_log);
        rk = rd_kafka_new(type, conf, reason, sizeof(reason));
        if (rk) {
                rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
                return 0;
        }
        rd_kafka_conf_destroy(conf);
        snprintf(a, sizeof(a), "%s", reason);
        for (size_t i = 0; props && i < props->n; i++) {
                if (!fg_redact_is_secret_name(props->keys[i]))
                        continue;
                fg_redact_secret(a, props->values[i], b, sizeof(b));
                memcpy(a, b, sizeof(a));
        }
        snprintf(errstr, errstr_size, "%s", a);
        return -1;
}

/* Main thread. */
int fg_kconf_check_consumer(const fg_kafka_cfg_t *kc, char *errstr, size_t errstr_size) {
        rd_kafka_conf_t *conf = fg_kconf_consumer(kc, NULL, errstr, errstr_size);

        if (!conf)
                return -1;
        return fg_kconf_check_client(RD_KAFKA_CONSUMER, conf, &kc->properties, errstr,
                                     errstr_size);
}

static int set_all(rd_kafka_conf_t *conf, const char *const (*kv)[2], size_t n, char *errstr,
                   size_t errstr_size) {
        for (size_t i = 0; i < n; i++)
                if (fg_kconf_set(conf, kv[i][0], kv[i][1], errstr, errstr_size))
                        return -1;
        return 0;
}

static int set_map(rd_kafka_conf_t *conf, const fg_strmap_t *props, char *errstr,
                   size_t errstr_size) {
        for (size_t i = 0; props && i < props->n; i++)
                if (fg_kconf_set(conf, props->keys[i], props->values[i], errstr, errstr_size))
                        return -1;
        return 0;
}

rd_kafka_conf_t *fg_kconf_consumer(const fg_kafka_cfg_t *kc, const char *bootstrap,
                                   char *errstr, size_t errstr_size) {
        /* Bounded prefetch: together with the queue these cap memory no
         * matter how large the burst (DESIGN invariant 1). In 2.0.2 both
         * thresholds count the shared consumer queue and crossing either
         * takes every partition off the fetch list until the broker thread
         * looks again, so they must leave headroom. The message count
         * is what bounds memory for small events: each prefetched message
         * costs an op of a few hundred bytes beyond its payload, which
         * queued.max.messages.kbytes does not count. Measured on the
         * viral-burst bench (192 partitions, backlog behind a 1 ms HTTP
         * sink, peak RSS): 100000 -> 40-76 MiB, 50000 -> 40-51 MiB,
         * 20000 -> 26-40 MiB, throughput the same within the noise; in a
         * fast drain from the mock 20000 ran ~10% slower than 100000, and
         * 10000 or fewer up to half. 50000 keeps the pipe full and peak
         * RSS under 64 MiB; 16 MiB (a quarter of librdkafka's default)
         * bounds the bytes. */
        static const char *const defaults[][2] = {
            {"client.id", "floodgate"},
            {"auto.offset.reset", "earliest"},
            {"auto.commit.interval.ms", "1000"},
            /* Incremental rebalancing: when an instance joins or leaves,
             * only the partitions that move stop; the rest keep flowing.
             * range or roundrobin stay selectable (every member of a group
             * must list the same first strategy). */
            {"partition.assignment.strategy", "cooperative-sticky"},
            {"queued.min.messages", "50000"},
            {"queued.max.messages.kbytes", "16384"},
            {"fetch.max.bytes", "4194304"},
            {"statistics.interval.ms", "1000"},
        };
        /* What at-least-once, commit pacing (ingest stores and commits
         * itself: see ingest.h) and --until-drained rely on. */
        static const char *const forced[][2] = {
            {"enable.auto.offset.store", "false"},
            {"enable.auto.commit", "false"},
            {"enable.partition.eof", "true"},
        };
        rd_kafka_conf_t *conf = rd_kafka_conf_new();

        rd_kafka_conf_set_log_cb(conf, fg_kconf_log);
        if (set_all(conf, defaults, sizeof(defaults) / sizeof(defaults[0]), errstr, errstr_size) ||
            (bootstrap && fg_kconf_set(conf, "bootstrap.servers", bootstrap, errstr, errstr_size)) ||
            fg_kconf_set(conf, "group.id", kc->group_id, errstr, errstr_size) ||
            set_map(conf, &kc->properties, errstr, errstr_size) ||
            set_all(conf, forced, sizeof(forced) / sizeof(forced[0]), errstr, errstr_size)) {
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        return conf;
}

rd_kafka_conf_t *fg_kconf_producer(const char *bootstrap, const fg_strmap_t *props,
                                   char *errstr, size_t errstr_size) {
        static const char *const defaults[][2] = {
            {"client.id", "floodgate"},
            {"linger.ms", "5"},
            {"batch.num.messages", "10000"},
        };
        rd_kafka_conf_t *conf = rd_kafka_conf_new();

        rd_kafka_conf_set_log_cb(conf, fg_kconf_log);
        if (set_all(conf, defaults, sizeof(defaults) / sizeof(defaults[0]), errstr, errstr_size) ||
            (bootstrap && fg_kconf_set(conf, "bootstrap.servers", bootstrap, errstr, errstr_size)) ||
            set_map(conf, props, errstr, errstr_size)) {
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        return conf;
}
