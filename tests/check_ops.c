/*
 * check_ops: the operations kit in docs/ops/, versioned with the code.
 *
 *   - the Prometheus alerting rules (alerts.yaml) pass `promtool check
 *     rules`, and their unit tests on synthetic series (alerts_test.yaml)
 *     pass `promtool test rules`;
 *   - the Grafana dashboard (dashboard.json) is well formed, covers what an
 *     operator looks at (throughput, latency percentiles, queue fill,
 *     workers and concurrency limit, breaker state, lag per partition), and
 *     every query parses as PromQL (promtool checks them as rules);
 *   - every floodgate_* metric the rules and the dashboard name is one that
 *     a real daemon exports at /metrics, scraped after a burst went through.
 *
 * Runs in the source directory (the files are read by relative path).
 */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/fgtest.h"

#define ALERTS "docs/ops/alerts.yaml"
#define ALERT_TESTS "docs/ops/alerts_test.yaml"
#define DASHBOARD "docs/ops/dashboard.json"

/* ---- helpers ---- */

typedef struct names {
        char **v;
        size_t n;
} names_t;

static bool names_has(const names_t *s, const char *name) {
        for (size_t i = 0; i < s->n; i++)
                if (!strcmp(s->v[i], name))
                        return true;
        return false;
}

static void names_add(names_t *s, const char *name, size_t len) {
        char *copy = strndup(name, len);

        ck_assert(copy != NULL);
        if (names_has(s, copy)) {
                free(copy);
                return;
        }
        s->v = realloc(s->v, (s->n + 1) * sizeof(*s->v));
        ck_assert(s->v != NULL);
        s->v[s->n++] = copy;
}

static void names_free(names_t *s) {
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i]);
        free(s->v);
}

static bool ident_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_';
}

/* Every floodgate_* identifier in @p text (PromQL, YAML, comments alike;
 * recording rules are named floodgate:..., which this leaves out). */
static void names_in_text(names_t *s, const char *text) {
        for (const char *p = text; (p = strstr(p, "floodgate_"));) {
                const char *end = p;
                if (p > text && (ident_char(p[-1]) || p[-1] == ':')) {
                        p++;
                        continue;
                }
                while (ident_char(*end))
                        end++;
                names_add(s, p, (size_t)(end - p));
                p = end;
        }
}

/* The sample names of a Prometheus text exposition. */
static void names_in_exposition(names_t *s, const char *text) {
        for (const char *line = text; line && *line;) {
                const char *nl = strchr(line, '\n');
                if (*line != '#' && *line != '\n')
                        names_add(s, line, strcspn(line, "{ \n"));
                line = nl ? nl + 1 : NULL;
        }
}

/* Runs a shell command; returns its exit status and its output (stdout and
 * stderr) in *@p out. */
static int run_shell(const char *cmd, char **out) {
        char *full = NULL, buf[4096];
        size_t len = 0;
        FILE *fp;
        int st;

        ck_assert(asprintf(&full, "%s 2>&1", cmd) > 0);
        fp = popen(full, "r");
        ck_assert_msg(fp != NULL, "cannot run %s", cmd);
        *out = calloc(1, 1);
        for (size_t n; (n = fread(buf, 1, sizeof(buf), fp)) > 0;) {
                *out = realloc(*out, len + n + 1);
                ck_assert(*out != NULL);
                memcpy(*out + len, buf, n);
                len += n;
                (*out)[len] = '\0';
        }
        st = pclose(fp);
        free(full);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Every target's expr (and the template variables' queries) of the
 * dashboard, in panel order. */
static void dashboard_queries(json_t *dash, names_t *exprs) {
        json_t *panels = json_object_get(dash, "panels"), *var, *panel;
        size_t i, j;

        json_array_foreach(panels, i, panel) {
                json_t *target;
                json_array_foreach(json_object_get(panel, "targets"), j, target) {
                        const char *e = json_string_value(json_object_get(target, "expr"));
                        ck_assert_msg(e && *e, "panel %zu has a target without expr", i);
                        names_add(exprs, e, strlen(e));
                }
        }
        json_array_foreach(json_object_get(json_object_get(dash, "templating"), "list"), i, var) {
                const char *d = json_string_value(json_object_get(var, "definition"));
                if (d)
                        names_add(exprs, d, strlen(d));
        }
}

static json_t *load_dashboard(void) {
        json_error_t err;
        json_t *dash = json_load_file(DASHBOARD, 0, &err);

        ck_assert_msg(dash != NULL, "%s:%d:%d: %s", DASHBOARD, err.line, err.column, err.text);
        return dash;
}

/* ---- the alerting rules ---- */

START_TEST(test_ops_alert_rules_check) {
        char *out = NULL;

        ck_assert_msg(run_shell("promtool check rules " ALERTS, &out) == 0,
                      "promtool check rules (make deps installs Debian's prometheus):\n%s", out);
        ck_assert_msg(strstr(out, "SUCCESS: 9 rules found"), "%s", out);
        free(out);
}
END_TEST

START_TEST(test_ops_alert_rules_unit_tests) {
        static const char firing[] = "        exp_alerts:\n          - ";
        char *out = NULL, *text;
        static const char *const alerts[] = {
            "FloodgateDown",          "FloodgateNotReady",     "FloodgateConsumerLagGrowing",
            "FloodgateBreakerOpen",   "FloodgateBreakerForcedOpen", "FloodgateDeadLetters",
            "FloodgateRestarted",     "FloodgateMemoryNearBound"};

        ck_assert_msg(run_shell("promtool test rules " ALERT_TESTS, &out) == 0, "%s", out);
        ck_assert_msg(strstr(out, "SUCCESS"), "%s", out);
        free(out);
        /* Each alert has a test where it fires. */
        text = fg_test_slurp(ALERT_TESTS, NULL);
        ck_assert(text != NULL);
        for (size_t i = 0; i < sizeof(alerts) / sizeof(alerts[0]); i++) {
                char want[128];
                const char *p;
                snprintf(want, sizeof(want), "alertname: %s\n", alerts[i]);
                p = strstr(text, want);
                while (p && strncmp(strchr(p, '\n') + 1, firing, strlen(firing)))
                        p = strstr(p + 1, want);
                ck_assert_msg(p != NULL, "no test in which %s fires", alerts[i]);
        }
        free(text);
}
END_TEST

/* ---- the dashboard ---- */

START_TEST(test_ops_dashboard_well_formed) {
        json_t *dash = load_dashboard(), *panels, *panel;
        names_t exprs = {0}, used = {0}, ids = {0};
        char *all = NULL;
        size_t i, len = 0, with_targets = 0;
        static const char *const needed[] = {
            "floodgate_messages_consumed_total", "floodgate_messages_processed_total",
            "floodgate_end_to_end_seconds_bucket", "floodgate_queue_wait_seconds_bucket",
            "floodgate_sink_call_seconds_bucket", "floodgate_queue_depth",
            "floodgate_queue_capacity", "floodgate_workers", "floodgate_sink_concurrency_limit",
            "floodgate_breaker_state", "floodgate_consumer_lag"};

        ck_assert_str_eq(json_string_value(json_object_get(dash, "uid")), "floodgate");
        panels = json_object_get(dash, "panels");
        ck_assert(json_array_size(panels) > 10);
        json_array_foreach(panels, i, panel) {
                char id[32];
                const char *type = json_string_value(json_object_get(panel, "type"));
                json_t *ds = json_object_get(panel, "datasource");
                snprintf(id, sizeof(id), "%lld",
                         (long long)json_integer_value(json_object_get(panel, "id")));
                ck_assert_msg(!names_has(&ids, id), "panel id %s twice", id);
                names_add(&ids, id, strlen(id));
                ck_assert(json_is_object(json_object_get(panel, "gridPos")));
                ck_assert(type && json_string_value(json_object_get(panel, "title")));
                if (!strcmp(type, "row"))
                        continue;
                ck_assert_msg(json_array_size(json_object_get(panel, "targets")) > 0,
                              "panel '%s' has no query",
                              json_string_value(json_object_get(panel, "title")));
                ck_assert_str_eq(json_string_value(json_object_get(ds, "uid")), "${datasource}");
                with_targets++;
        }
        dashboard_queries(dash, &exprs);
        ck_assert(exprs.n > 30);
        for (i = 0; i < exprs.n; i++) {
                all = realloc(all, len + strlen(exprs.v[i]) + 2);
                ck_assert(all != NULL);
                len += (size_t)sprintf(all + len, "%s\n", exprs.v[i]);
        }
        names_in_text(&used, all);
        for (i = 0; i < sizeof(needed) / sizeof(needed[0]); i++)
                ck_assert_msg(names_has(&used, needed[i]), "the dashboard never shows %s", needed[i]);
        printf("dashboard: %zu panels with %zu queries over %zu metrics\n", with_targets, exprs.n,
               used.n);
        free(all);
        names_free(&exprs);
        names_free(&used);
        names_free(&ids);
        json_decref(dash);
}
END_TEST

/* Each query, with Grafana's variables replaced by what they expand to,
 * as a recording rule: `promtool check rules` parses the PromQL. */
START_TEST(test_ops_dashboard_queries_parse) {
        json_t *dash = load_dashboard();
        names_t exprs = {0};
        char *dir = fg_test_tmpdir(), *rules = fg_test_path(dir, "dashboard-rules.yaml"), *out = NULL,
             cmd[1024];
        FILE *fp = fopen(rules, "w");

        ck_assert(fp != NULL);
        dashboard_queries(dash, &exprs);
        fprintf(fp, "groups:\n  - name: dashboard\n    rules:\n");
        for (size_t i = 0; i < exprs.n; i++) {
                const char *e = exprs.v[i];
                if (!strncmp(e, "label_values(", 13))
                        continue; /* Grafana's own function, not PromQL */
                fprintf(fp, "      - record: dashboard:query_%zu\n        expr: '", i);
                for (const char *p = e; *p; p++) {
                        if (!strncmp(p, "$__rate_interval", 16)) {
                                fputs("1m", fp);
                                p += 15;
                        } else if (!strncmp(p, "$instance", 9)) {
                                fputs(".*", fp);
                                p += 8;
                        } else {
                                ck_assert_msg(*p != '$', "unknown variable in: %s", e);
                                if (*p == '\'')
                                        fputs("''", fp); /* YAML's single-quoted escape */
                                else
                                        fputc(*p, fp);
                        }
                }
                fputs("'\n", fp);
        }
        fclose(fp);
        snprintf(cmd, sizeof(cmd), "promtool check rules %s", rules);
        ck_assert_msg(run_shell(cmd, &out) == 0, "a dashboard query is not PromQL:\n%s", out);
        free(out);
        names_free(&exprs);
        json_decref(dash);
        fg_test_rmtree(dir);
        free(rules), free(dir);
}
END_TEST

/* ---- against a real scrape ---- */

typedef struct scrape {
        int port;
        char *text;
} scrape_t;

/* Once the burst is through and the lag of each partition is known. */
static bool scrape_complete(void *opaque) {
        scrape_t *s = opaque;

        free(s->text);
        s->text = NULL;
        return fg_test_http(s->port, "GET", "/metrics", &s->text) == 200 &&
               strstr(s->text, "\nfloodgate_messages_processed_total{outcome=\"ok\"} 5000\n") &&
               strstr(s->text, "\nfloodgate_consumer_lag{topic=\"events\",partition=\"3\"} 0\n");
}

START_TEST(test_ops_names_are_exported) {
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "daemon.log"),
             *out = fg_test_path(dir, "out.jsonl");
        char *cfg = fg_test_write(dir, "fg.yaml",
                                  "kafka: {brokers: mock, topics: [events]}\n"
                                  "sink: {type: file, path: \"%s\"}\n"
                                  "metrics: {listen: \"127.0.0.1:0\"}\n"
                                  "burst: {count: 5000}\n",
                                  out);
        const char *args[] = {"run", "-c", cfg, NULL};
        names_t exported = {0}, named = {0}, exprs = {0};
        char *alerts = fg_test_slurp(ALERTS, NULL);
        json_t *dash = load_dashboard();
        scrape_t s = {0};
        fg_test_proc_t *d;
        size_t missing = 0;

        d = fg_test_spawn(log, args);
        s.port = fg_test_admin_port(log, 30000);
        ck_assert_int_gt(s.port, 0);
        ck_assert_msg(fg_test_wait(scrape_complete, &s, 60000), "the burst never went through:\n%s",
                      s.text);
        names_in_exposition(&exported, s.text);
        ck_assert(names_has(&exported, "floodgate_end_to_end_seconds_bucket"));
        ck_assert(!names_has(&exported, "floodgate_no_such_metric"));

        ck_assert(alerts != NULL);
        names_in_text(&named, alerts);
        dashboard_queries(dash, &exprs);
        for (size_t i = 0; i < exprs.n; i++)
                names_in_text(&named, exprs.v[i]);
        ck_assert(named.n > 30);
        for (size_t i = 0; i < named.n; i++) {
                if (names_has(&exported, named.v[i]))
                        continue;
                fprintf(stderr, "named in docs/ops but not exported: %s\n", named.v[i]);
                missing++;
        }
        ck_assert_msg(missing == 0, "%zu metric names in docs/ops are not in /metrics", missing);
        printf("docs/ops names %zu metrics, all among the %zu /metrics exports\n", named.n,
               exported.n);

        fg_test_proc_signal(d, SIGTERM);
        ck_assert_int_eq(fg_test_proc_wait(d, 30000), 0);
        fg_test_proc_free(d);
        names_free(&exported);
        names_free(&named);
        names_free(&exprs);
        json_decref(dash);
        free(alerts);
        free(s.text);
        fg_test_rmtree(dir);
        free(cfg), free(out), free(log), free(dir);
}
END_TEST

static Suite *ops_suite(void) {
        Suite *s = suite_create("ops");
        TCase *rules = tcase_create("rules"), *dash = tcase_create("dashboard"),
              *scrape = tcase_create("scrape");

        tcase_set_timeout(rules, 60);
        tcase_add_test(rules, test_ops_alert_rules_check);
        tcase_add_test(rules, test_ops_alert_rules_unit_tests);
        suite_add_tcase(s, rules);
        tcase_set_timeout(dash, 60);
        tcase_add_test(dash, test_ops_dashboard_well_formed);
        tcase_add_test(dash, test_ops_dashboard_queries_parse);
        suite_add_tcase(s, dash);
        tcase_set_timeout(scrape, 120);
        tcase_add_test(scrape, test_ops_names_are_exported);
        suite_add_tcase(s, scrape);
        return s;
}

int main(void) { return fg_test_run_in_srcdir(ops_suite(), "check_ops"); }
