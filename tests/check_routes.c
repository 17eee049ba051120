/*
 * check_routes: routes: end to end with two HTTP servers. acme events go
 * to server a (a route), the rest to server b (the top-level sink). When a
 * is down its events wait in the route's holding queue (and its breaker
 * opens) while b goes on at the same pace; once a is back, every event is
 * at its server exactly once. Routes and a changed filter also reload
 * live.
 *
 * Events come from the burst format: brand is brands[seq % 5], acme when
 * seq % 5 == 0.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "tests/support/fgtest.h"
#include "tests/support/httpd.h"

#define TOPIC "events"
#define RATE 2000

#define M_FILTERED "\nfloodgate_messages_processed_total{outcome=\"filtered\"} "
#define M_BREAKER(route, state) \
        "\nfloodgate_route_breaker_state{route=\"" route "\",state=\"" state "\"} "

/* Produces @p n events "<prefix>-<seq>" at RATE/s and returns how long
 * b took, from the start, to have all of its (non-acme) ones. */
static double phase_b_seconds(const char *bs, fg_test_httpd_t *b, const char *prefix, int64_t n) {
        int64_t t0 = fg_mono_ns();
        fg_test_producer_t *prod = fg_test_produce_async(bs, TOPIC, prefix, n, RATE, 150);

        ck_assert_msg(fg_test_httpd_wait_ids(b, prefix, n, n - n / 5, 120000),
                      "b did not get its %s events", prefix);
        fg_test_producer_join(prod);
        return (double)(fg_mono_ns() - t0) / 1e9;
}

/* Stops the daemon (it must exit 0 on SIGTERM), the servers (@p b may be
 * NULL) and the mock, and removes the test's directory. */
static void stop_all(fg_test_proc_t *d, fg_test_httpd_t *a, fg_test_httpd_t *b, fg_mock_t *mock,
                     const char *dir) {
        fg_test_proc_signal(d, SIGTERM);
        ck_assert_int_eq(fg_test_proc_wait(d, 30000), 0);
        fg_test_proc_free(d);
        fg_test_httpd_stop(a);
        if (b)
                fg_test_httpd_stop(b);
        fg_mock_destroy(mock);
        fg_test_rmtree(dir);
}

START_TEST(test_routes_one_down_other_unaffected) {
        enum { N = 6000 };
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "d.log"), *cfg;
        fg_mock_t *mock = fg_test_mock(1, TOPIC, 4);
        const char *bs = fg_mock_bootstrap(mock);
        fg_test_httpd_t *a = fg_test_httpd_start(), *b = fg_test_httpd_start();
        fg_test_proc_t *d;
        uint32_t *ta = calloc(N, sizeof(*ta)), *tb = calloc(N, sizeof(*tb));
        double up_s, down_s, held;
        int port;
        const char *args[4];
        const char *const prefixes[2] = {"up", "down"};

        ck_assert(a && b && ta && tb);
        cfg = fg_test_write(
            dir, "fg.yaml",
            "kafka:\n  brokers: \"%s\"\n  group_id: routes\n  topics: [" TOPIC "]\n"
            "workers: {size: 6}\n"
            "queue: {capacity: 20000}\n"
            "breaker: {consecutive_failures: 3, open_duration: 500ms, open_max: 1s, jitter: 0}\n"
            "routes:\n"
            "  - name: acme\n"
            "    filter: {field: brand, equals: acme}\n"
            "    sink:\n      type: http\n      url: \"%s\"\n      format: json_array\n"
            "      batch: {max_messages: 20}\n      concurrency: 2\n"
            "      retry: {initial_backoff: 50ms, max_backoff: 500ms, max_attempts: 0}\n"
            "sink:\n  type: http\n  url: \"%s\"\n  format: json_array\n"
            "  batch: {max_messages: 20}\n  concurrency: 3\n"
            "metrics:\n  listen: \"127.0.0.1:0\"\n  log_interval: 1s\n",
            bs, fg_test_httpd_url(a, "/a"), fg_test_httpd_url(b, "/b"));
        args[0] = "run", args[1] = "-c", args[2] = cfg, args[3] = NULL;
        d = fg_test_spawn(log, args);
        port = fg_test_admin_port(log, 30000);
        ck_assert_int_gt(port, 0);
        /* The group joined: events flow. */
        fg_test_produce(bs, TOPIC, "warm", 10, 0, 150);
        ck_assert(fg_test_httpd_wait_ids(b, "warm", 10, 8, 60000));

        /* Both up: b's pace. */
        up_s = phase_b_seconds(bs, b, "up", N);
        /* a down (every request 503): b's pace again, same run. */
        fg_test_httpd_fail_for(a, 503, 120000);
        down_s = phase_b_seconds(bs, b, "down", N);
        ck_assert(fg_test_wait_file_contains(log, "breaker acme: closed -> open", 10000));
        /* /metrics says which route's breaker holds calls (half-open while
         * a probe fails), that the other's does not, and exports how many
         * of its events wait in its holding queue (-1: missing). */
        ck_assert_int_eq(fg_test_metric(port, M_BREAKER("acme", "open")) +
                             fg_test_metric(port, M_BREAKER("acme", "half_open")),
                         1);
        ck_assert_int_eq(fg_test_metric(port, M_BREAKER("default", "closed")), 1);
        ck_assert(fg_test_metric(port, "\nfloodgate_route_held_events{route=\"acme\"} ") >= 0);
        held = fg_test_metric(port, "\nfloodgate_route_held_total{route=\"acme\"} ");
        fprintf(stderr, "routes: b took %.2f s for its %d events with a up, %.2f s with a down "
                        "(producer at %d/s); %.0f acme events parked in its holding queue in all\n",
                up_s, N - N / 5, down_s, RATE, held);
        /* Unaffected: b keeps the producer's pace (a stalled b would wait
         * for the dead route; the slack is for a loaded machine). */
        ck_assert_msg(down_s < up_s * 1.5 + 1.0, "b slowed down: %.2f s vs %.2f s", down_s,
                      up_s);
        ck_assert_msg(held > 0, "nothing was held for the dead route");
        ck_assert_int_eq(fg_test_httpd_ids(a, "down", N, NULL, NULL), 0);

        /* a is back: every acme event arrives, nothing twice, nothing lost. */
        fg_test_httpd_fail_for(a, 503, 0);
        ck_assert_msg(fg_test_httpd_wait_ids(a, "down", N, N / 5, 60000), "held events did not arrive");
        for (int p = 0; p < 2; p++) {
                fg_test_httpd_ids(a, prefixes[p], N, ta, NULL);
                fg_test_httpd_ids(b, prefixes[p], N, tb, NULL);
                for (int64_t i = 0; i < N; i++) {
                        bool acme = i % 5 == 0;
                        ck_assert_msg(ta[i] == (acme ? 1u : 0u) && tb[i] == (acme ? 0u : 1u),
                                      "%s-%lld: a %u, b %u", prefixes[p], (long long)i, ta[i],
                                      tb[i]);
                }
        }
        ck_assert_int_eq((int64_t)fg_test_metric(port, "\nfloodgate_route_delivered_total{"
                                                       "route=\"acme\",sink=\"primary\"} "),
                         2 * (N / 5) + 2);

        stop_all(d, a, b, mock, dir);
        free(ta), free(tb), free(dir), free(log), free(cfg);
}
END_TEST

/* The route's filter changes and the top-level sink goes on SIGHUP: events
 * after the reload follow the new route, those no route takes count as
 * filtered, and nothing is lost or doubled. */
START_TEST(test_routes_reload_filter_and_default) {
        enum { N = 1000 };
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "d.log"), *cfg;
        fg_mock_t *mock = fg_test_mock(1, TOPIC, 4);
        const char *bs = fg_mock_bootstrap(mock);
        fg_test_httpd_t *a = fg_test_httpd_start(), *b = fg_test_httpd_start();
        fg_test_proc_t *d;
        uint32_t *ta = calloc(N, sizeof(*ta)), *tb = calloc(N, sizeof(*tb));
        int port;
        double filtered0;
        const char *args[4];
        char applied[512];

        ck_assert(a && b && ta && tb);
        cfg = fg_test_write(dir, "fg.yaml",
                            "kafka:\n  brokers: \"%s\"\n  group_id: rr\n  topics: [" TOPIC "]\n"
                            "workers: {size: 4}\n"
                            "routes:\n  - name: brand\n    filter: {field: brand, equals: acme}\n"
                            "    sink: {type: http, url: \"%s\", format: json_array}\n"
                            "sink: {type: http, url: \"%s\", format: json_array}\n"
                            "metrics:\n  listen: \"127.0.0.1:0\"\n  log_interval: 0s\n",
                            bs, fg_test_httpd_url(a, "/a"), fg_test_httpd_url(b, "/b"));
        args[0] = "run", args[1] = "-c", args[2] = cfg, args[3] = NULL;
        d = fg_test_spawn(log, args);
        port = fg_test_admin_port(log, 30000);
        ck_assert_int_gt(port, 0);
        fg_test_produce(bs, TOPIC, "p1", N, 0, 150);
        ck_assert(fg_test_httpd_wait_ids(b, "p1", N, N - N / 5, 60000));
        ck_assert(fg_test_httpd_wait_ids(a, "p1", N, N / 5, 60000));

        free(cfg);
        cfg = fg_test_write(dir, "fg.yaml",
                            "kafka:\n  brokers: \"%s\"\n  group_id: rr\n  topics: [" TOPIC "]\n"
                            "workers: {size: 4}\n"
                            "routes:\n  - name: brand\n    filter: {field: brand, equals: globex}\n"
                            "    sink: {type: http, url: \"%s\", format: json_array}\n"
                            "metrics:\n  listen: \"127.0.0.1:0\"\n  log_interval: 0s\n",
                            bs, fg_test_httpd_url(a, "/a"));
        filtered0 = fg_test_metric(port, M_FILTERED);
        ck_assert(filtered0 == 0);
        fg_test_proc_signal(d, SIGHUP);
        snprintf(applied, sizeof(applied), "reload: %s applied", cfg);
        ck_assert(fg_test_wait_file_contains(log, applied, 30000));
        ck_assert(fg_test_file_contains(log, "reload: routes[0].filter.equals changed; applied"));

        fg_test_produce(bs, TOPIC, "p2", N, 0, 150);
        ck_assert(fg_test_httpd_wait_ids(a, "p2", N, N / 5, 60000));
        /* The rest has no route and no default sink: filtered. */
        for (int i = 0; i < 3000 && fg_test_metric(port, M_FILTERED) < N - N / 5; i++)
                usleep(10 * 1000);
        ck_assert_int_eq((int64_t)fg_test_metric(port, M_FILTERED), N - N / 5);
        fg_test_httpd_ids(a, "p1", N, ta, NULL);
        fg_test_httpd_ids(b, "p1", N, tb, NULL);
        for (int64_t i = 0; i < N; i++)
                ck_assert_msg(ta[i] == (i % 5 == 0) && tb[i] == (i % 5 != 0), "p1-%lld: a %u, b %u",
                              (long long)i, ta[i], tb[i]);
        fg_test_httpd_ids(a, "p2", N, ta, NULL);
        fg_test_httpd_ids(b, "p2", N, tb, NULL);
        for (int64_t i = 0; i < N; i++)
                ck_assert_msg(ta[i] == (i % 5 == 1) && tb[i] == 0, "p2-%lld: a %u, b %u",
                              (long long)i, ta[i], tb[i]);

        stop_all(d, a, b, mock, dir);
        free(ta), free(tb), free(dir), free(log), free(cfg);
}
END_TEST

/* sink.concurrency without routes: never more requests in flight at the
 * server than the limit, though more workers run; the events beyond it
 * wait in the holding queue and every one arrives once. */
START_TEST(test_routes_concurrency_limit_one_sink) {
        enum { N = 2000 };
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "d.log"), *cfg;
        fg_mock_t *mock = fg_test_mock(1, TOPIC, 4);
        const char *bs = fg_mock_bootstrap(mock);
        fg_test_httpd_t *a = fg_test_httpd_start();
        fg_test_httpd_stats_t st;
        fg_test_proc_t *d;
        uint32_t *ta = calloc(N, sizeof(*ta));
        const char *args[4];

        ck_assert(a && ta);
        fg_test_httpd_latency(a, 20);
        cfg = fg_test_write(dir, "fg.yaml",
                            "kafka:\n  brokers: \"%s\"\n  group_id: cl\n  topics: [" TOPIC "]\n"
                            "workers: {size: 6}\n"
                            "sink:\n  type: http\n  url: \"%s\"\n  format: json_array\n"
                            "  batch: {max_messages: 10}\n  concurrency: 2\n",
                            bs, fg_test_httpd_url(a, "/a"));
        fg_test_produce(bs, TOPIC, "cl", N, 0, 150);
        args[0] = "run", args[1] = "-c", args[2] = cfg, args[3] = NULL;
        d = fg_test_spawn(log, args);
        ck_assert_msg(fg_test_httpd_wait_ids(a, "cl", N, N, 120000), "not every event arrived");
        fg_test_httpd_stats(a, &st);
        fprintf(stderr, "routes: one sink with concurrency 2 and 6 workers: peak %lld requests "
                        "in flight\n",
                    (long long)st.peak_inflight);
        ck_assert_int_le(st.peak_inflight, 2);
        ck_assert_uint_eq(fg_test_httpd_ids(a, "cl", N, ta, NULL), N);
        for (int64_t i = 0; i < N; i++)
                ck_assert_msg(ta[i] == 1, "cl-%lld: %u times", (long long)i, ta[i]);

        stop_all(d, a, NULL, mock, dir);
        free(ta), free(dir), free(log), free(cfg);
}
END_TEST

/* 30 reloads during a burst with routes: the route's filter flips between
 * acme and globex and its concurrency between 1 and 2 (a new sink, a new
 * holding queue), with events held across the switches; every event ends
 * at exactly one of the two servers. */
START_TEST(test_routes_reloads_during_a_burst) {
        enum { N = 12000, RELOADS = 30 };
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "d.log"), *cfg = NULL;
        fg_mock_t *mock = fg_test_mock(1, TOPIC, 4);
        const char *bs = fg_mock_bootstrap(mock);
        fg_test_httpd_t *a = fg_test_httpd_start(), *b = fg_test_httpd_start();
        fg_test_producer_t *prod = NULL;
        fg_test_proc_t *d = NULL;
        uint32_t *ta = calloc(N, sizeof(*ta)), *tb = calloc(N, sizeof(*tb));
        int64_t to_a = 0, to_b = 0;
        const char *args[4];

        ck_assert(a && b && ta && tb);
        /* a is slow, so its route's slots fill and events are held. */
        fg_test_httpd_latency(a, 15);
        for (int i = 0; i <= RELOADS; i++) {
                char applied[512];
                free(cfg);
                cfg = fg_test_write(
                    dir, "fg.yaml",
                    "kafka:\n  brokers: \"%s\"\n  group_id: rl\n  topics: [" TOPIC "]\n"
                    "workers: {size: 4}\n"
                    "routes:\n  - name: brand\n    filter: {field: brand, equals: %s}\n"
                    "    sink: {type: http, url: \"%s\", format: json_array, concurrency: %d,\n"
                    "           batch: {max_messages: 20}}\n"
                    "sink: {type: http, url: \"%s\", format: json_array, batch: {max_messages: 20}}\n",
                    bs, i % 2 ? "globex" : "acme", fg_test_httpd_url(a, "/a"), (i / 2) % 2 + 1,
                    fg_test_httpd_url(b, "/b"));
                if (i == 0) {
                        args[0] = "run", args[1] = "-c", args[2] = cfg, args[3] = NULL;
                        d = fg_test_spawn(log, args);
                        fg_test_produce(bs, TOPIC, "warm", 10, 0, 150);
                        ck_assert(fg_test_httpd_wait_ids(b, "warm", 10, 8, 60000));
                        prod = fg_test_produce_async(bs, TOPIC, "rl", N, 3000, 150);
                        continue;
                }
                fg_test_proc_signal(d, SIGHUP);
                snprintf(applied, sizeof(applied), "plan %d: ", i + 1);
                ck_assert_msg(fg_test_wait_file_contains(log, applied, 30000), "reload %d", i);
                usleep(60 * 1000); /* spreads the reloads over the burst */
        }
        fg_test_producer_join(prod);
        for (int i = 0; i < 12000; i++) {
                if ((int64_t)(fg_test_httpd_ids(a, "rl", N, NULL, NULL) +
                              fg_test_httpd_ids(b, "rl", N, NULL, NULL)) >= N)
                        break;
                usleep(10 * 1000);
        }
        fg_test_httpd_ids(a, "rl", N, ta, NULL);
        fg_test_httpd_ids(b, "rl", N, tb, NULL);
        for (int64_t i = 0; i < N; i++) {
                ck_assert_msg(ta[i] + tb[i] == 1, "rl-%lld: a %u, b %u", (long long)i, ta[i],
                              tb[i]);
                /* acme or globex may go either way (depending on the plan
                 * it met); the other brands always go to b. */
                if (i % 5 > 1)
                        ck_assert_msg(tb[i] == 1, "rl-%lld went to the route", (long long)i);
                to_a += ta[i];
                to_b += tb[i];
        }
        fprintf(stderr, "routes: %d reloads during a burst of %d: %lld events to the route, "
                        "%lld to the default, each once\n",
                RELOADS, N, (long long)to_a, (long long)to_b);
        ck_assert_int_gt(to_a, 0);

        stop_all(d, a, b, mock, dir);
        free(ta), free(tb), free(dir), free(log), free(cfg);
}
END_TEST

static Suite *routes_suite(void) {
        Suite *s = suite_create("routes");
        TCase *tc = tcase_create("routes");

        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, test_routes_one_down_other_unaffected);
        tcase_add_test(tc, test_routes_reload_filter_and_default);
        tcase_add_test(tc, test_routes_concurrency_limit_one_sink);
        tcase_add_test(tc, test_routes_reloads_during_a_burst);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(routes_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
