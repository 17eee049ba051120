/*
 * check_autoscale: the autoscaling signal end to end — the real daemon
 * against a mock cluster and a downstream of known capacity, under a
 * synthetic load whose answer is known in advance:
 *
 *   the downstream takes one event per request (sink.format: json) and
 *   answers each after 20 ms; 2 workers: one instance finishes at most
 *   ~100 events/s. Events arrive at 300/s for 12 s, then stop.
 *
 *   overload     arrival ~300/s, service ~100/s: floodgate_desired_instances
 *                >= 3 (keeping up alone takes 3; the growing lag adds to
 *                it), floodgate_time_to_drain_seconds +Inf (it never drains
 *                at this pace);
 *   the cap      workers.drain_within lowered to 1s by SIGHUP: the lag term
 *                alone asks for more instances than the 8 partitions,
 *                so desired is exactly 8;
 *   drain        arrival 0: time_to_drain is finite, and the backlog is
 *                gone within a factor of two of what it predicted;
 *   idle         everything delivered: desired falls below 0.5 and
 *                time_to_drain to 0.
 *
 * Bounds are generous multiples (a shared 2-core machine): the figures
 * each phase saw are printed.
 */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "tests/support/fgtest.h"
#include "tests/support/httpd.h"

#define TOPIC "events"
#define PARTS 8

typedef struct scale {
        bool ok;
        double desired, ttd, service, arrival; /* ttd: INFINITY for null */
        long long lag;                         /* -1 unknown */
        int assigned;
} scale_t;

static scale_t get_scale(int port) {
        scale_t s = {.lag = -1};
        char *body = NULL;
        json_t *root, *sc, *ttd, *lag;

        if (fg_test_http(port, "GET", "/stats", &body) != 200 || !body) {
                free(body);
                return s;
        }
        root = json_loads(body, 0, NULL);
        free(body);
        if (!root)
                return s;
        sc = json_object_get(root, "scale");
        if (json_is_object(sc)) {
                s.ok = true;
                s.desired = json_number_value(json_object_get(sc, "desired_instances"));
                ttd = json_object_get(sc, "time_to_drain_s");
                s.ttd = json_is_null(ttd) ? INFINITY : json_number_value(ttd);
                s.service = json_number_value(json_object_get(sc, "service_per_s"));
                s.arrival = json_number_value(json_object_get(sc, "arrival_per_s"));
                lag = json_object_get(json_object_get(root, "lag"), "total");
                s.lag = json_is_integer(lag) ? (long long)json_integer_value(lag) : -1;
                s.assigned = (int)json_integer_value(json_object_get(json_object_get(root, "ingest"), "assigned"));
        }
        json_decref(root);
        return s;
}

static void print_scale(const char *what, const scale_t *s) {
        fprintf(stderr, "autoscale: %s: desired %.2f, time to drain %.1f s, service %.0f/s, "
                        "arrival %.0f/s, lag %lld, partitions %d\n",
                what, s->desired, s->ttd, s->service, s->arrival, s->lag, s->assigned);
}

/* "name value" from /metrics; NAN if absent. */
static double get_metric(int port, const char *name) {
        char *body = NULL, *p;
        size_t len = strlen(name);
        double v = NAN;

        if (fg_test_http(port, "GET", "/metrics", &body) != 200 || !body) {
                free(body);
                return NAN;
        }
        for (p = body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
                if (!strncmp(p, name, len) && p[len] == ' ') {
                        v = strtod(p + len + 1, NULL);
                        break;
                }
        }
        free(body);
        return v;
}

typedef struct scale_cond {
        int port;
        bool (*ok)(const scale_t *s);
        scale_t last;
} scale_cond_t;

static bool scale_holds(void *opaque) {
        scale_cond_t *c = opaque;
        c->last = get_scale(c->port);
        return c->last.ok && c->ok(&c->last);
}

static scale_t wait_scale(int port, bool (*ok)(const scale_t *s), int timeout_ms, const char *what,
                          const char *log) {
        scale_cond_t c = {port, ok, {0}};

        if (!fg_test_wait(scale_holds, &c, timeout_ms)) {
                print_scale(what, &c.last);
                fprintf(stderr, "%s\n", fg_test_slurp(log, NULL));
                ck_abort_msg("autoscale: %s never held", what);
        }
        print_scale(what, &c.last);
        return c.last;
}

/* Overloaded: ~300/s in, ~100/s out, the lag more than a second of work. */
static bool overloaded(const scale_t *s) {
        return s->arrival > 200 && s->service > 50 && s->service < 150 && s->lag > 1000;
}

static bool capped(const scale_t *s) { return s->desired == PARTS; }

static bool draining(const scale_t *s) { return s->arrival < 1 && s->lag > 500 && isfinite(s->ttd); }

static bool idle(const scale_t *s) { return s->lag == 0 && s->desired < 0.5 && s->ttd == 0; }

static char *write_cfg(const char *dir, const char *bs, const char *url, const char *drain_within) {
        return fg_test_write(dir, "fg.yaml",
                             "kafka:\n"
                             "  brokers: \"%s\"\n"
                             "  group_id: autoscale\n"
                             "  topics: [" TOPIC "]\n"
                             "workers: {size: 2, drain_within: %s}\n"
                             "breaker: {enabled: false}\n"
                             "sink: {type: http, url: \"%s\", format: json}\n"
                             "metrics: {listen: \"127.0.0.1:0\", log_interval: 0s}\n",
                             bs, drain_within, url);
}

START_TEST(test_autoscale_synthetic_load) {
        const int64_t count = 3600, rate = 300;
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "d.log"), *cfg;
        fg_mock_t *mock = fg_test_mock(1, TOPIC, PARTS);
        const char *bs = fg_mock_bootstrap(mock);
        fg_test_httpd_t *h = fg_test_httpd_start();
        const char *args[] = {"run", "-c", NULL, NULL};
        fg_test_producer_t *prod;
        fg_test_proc_t *d;
        scale_t s;
        int64_t t_pred;
        double predicted, took;
        int port;

        ck_assert(h != NULL);
        fg_test_httpd_latency(h, 20);
        cfg = write_cfg(dir, bs, fg_test_httpd_url(h, "/in"), "60s");
        args[2] = cfg;
        d = fg_test_spawn(log, args);
        port = fg_test_admin_port(log, 30000);
        ck_assert_int_gt(port, 0);
        prod = fg_test_produce_async(bs, TOPIC, "as", count, rate, 100);

        /* Keeping up alone takes 3 instances; the lag asks for more. */
        s = wait_scale(port, overloaded, 30000, "overload", log);
        ck_assert_int_eq(s.assigned, PARTS);
        ck_assert_msg(s.desired >= 2.5 && s.desired <= PARTS, "desired %.2f", s.desired);
        ck_assert(isinf(s.ttd));
        ck_assert(isinf(get_metric(port, "floodgate_time_to_drain_seconds")));
        ck_assert_double_ge(get_metric(port, "floodgate_desired_instances"), 2.5);

        /* Drain the lag within 1 s: more than the partitions could take. */
        free(write_cfg(dir, bs, fg_test_httpd_url(h, "/in"), "1s"));
        kill(d->pid, SIGHUP);
        wait_scale(port, capped, 10000, "drain_within 1s: capped", log);
        ck_assert_double_eq(get_metric(port, "floodgate_desired_instances"), PARTS);
        free(write_cfg(dir, bs, fg_test_httpd_url(h, "/in"), "60s"));
        kill(d->pid, SIGHUP);

        /* The arrival stops: a finite prediction, then the real drain. */
        fg_test_producer_join(prod);
        s = wait_scale(port, draining, 30000, "draining", log);
        t_pred = fg_mono_ns();
        predicted = s.ttd;
        s = wait_scale(port, idle, 120000, "idle", log);
        took = (double)(fg_mono_ns() - t_pred) / 1e9;
        fprintf(stderr, "autoscale: predicted %.1f s to drain, took %.1f s (lag reaches 0 up to a "
                        "statistics interval late)\n",
                predicted, took);
        ck_assert_msg(took > predicted / 2 && took < predicted * 2 + 2,
                      "predicted %.1f s to drain, took %.1f s", predicted, took);
        ck_assert_double_eq(get_metric(port, "floodgate_time_to_drain_seconds"), 0);
        ck_assert_int_eq(fg_test_httpd_ids(h, "as", count, NULL, NULL), count);

        fg_test_proc_signal(d, SIGTERM);
        ck_assert_int_eq(fg_test_proc_wait(d, 30000), 0);
        fg_test_proc_free(d);
        fg_test_httpd_stop(h);
        fg_mock_destroy(mock);
        fg_test_rmtree(dir);
        free(dir), free(log), free(cfg);
}
END_TEST

int main(void) {
        Suite *s = suite_create("autoscale");
        TCase *tc = tcase_create("autoscale");
        SRunner *sr;
        int failed;

        tcase_set_timeout(tc, 240);
        tcase_add_test(tc, test_autoscale_synthetic_load);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
