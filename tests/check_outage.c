/*
 * check_outage: the circuit breaker end to end. The HTTP downstream answers
 * 503 for 10 s in the middle of a stream: the breaker opens, sink calls stop
 * but for the half-open probes (counted at the server), memory stays under
 * its bound, the daemon idles, and once the downstream is back the breaker
 * closes and every id arrives.
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
#define COUNT 30000
#define OUTAGE_MS 10000

/* utime + stime of @p pid in seconds. */
static double cpu_seconds(pid_t pid) {
        char path[64], buf[1024], *p;
        unsigned long long ut = 0, st = 0;
        FILE *fp;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        fp = fopen(path, "r");
        ck_assert(fp != NULL);
        ck_assert(fgets(buf, sizeof(buf), fp) != NULL);
        fclose(fp);
        p = strrchr(buf, ')'); /* the name may hold spaces */
        ck_assert(p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                              &st) == 2);
        return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

typedef struct ids_cond {
        fg_test_httpd_t *h;
        int64_t want;
} ids_cond_t;

static bool enough_ids(void *opaque) {
        ids_cond_t *c = opaque;
        return (int64_t)fg_test_httpd_ids(c->h, "out", COUNT, NULL, NULL) >= c->want;
}

static long rss_ceiling_kib(void) {
        const char *san = getenv("FLOODGATE_SAN");
        return san && *san ? 6 * 56 * 1024 : 56 * 1024;
}

START_TEST(test_outage_breaker_holds_the_line) {
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "d.log"), body[1024], *cfg;
        fg_mock_t *mock = fg_test_mock(1, TOPIC, 8);
        const char *bs = fg_mock_bootstrap(mock);
        fg_test_httpd_t *h = fg_test_httpd_start();
        fg_test_producer_t *prod;
        fg_test_proc_t *d;
        fg_test_httpd_log_t *hl;
        ids_cond_t cond;
        int64_t t_outage, t_open, t_end, probes = 0;
        double cpu0, cpu1;
        long hwm;
        const char *args[4];

        ck_assert(h != NULL);
        snprintf(body, sizeof(body),
                 "kafka:\n  brokers: \"%s\"\n  group_id: out1\n  topics: [" TOPIC "]\n"
                 "workers: {size: 4}\n"
                 "sink:\n  type: http\n  url: \"%s\"\n  format: json_array\n"
                 "  batch: {max_messages: 100}\n"
                 "  retry: {initial_backoff: 100ms, max_backoff: 1s, max_attempts: 0}\n"
                 "breaker:\n  window_type: time\n  window_size: 5\n  min_calls: 10\n"
                 "  open_duration: 1s\n  open_max: 4s\n  jitter: 0\n  half_open_calls: 2\n"
                 "metrics:\n  listen: \"127.0.0.1:0\"\n  log_interval: 1s\n",
                 bs, fg_test_httpd_url(h, "/"));
        cfg = fg_test_write(dir, "fg.yaml", "%s", body);
        args[0] = "run", args[1] = "-c", args[2] = cfg, args[3] = NULL;

        prod = fg_test_produce_async(bs, TOPIC, "out", COUNT, 3000, 150);
        d = fg_test_spawn(log, args);
        cond = (ids_cond_t){h, 2000};
        ck_assert(fg_test_wait(enough_ids, &cond, 60000));

        /* The outage. */
        t_outage = fg_mono_ns();
        fg_test_httpd_fail_for(h, 503, OUTAGE_MS);
        /* It opens within the outage: once the failures outweigh the
         * successes still in its 5 s time window. */
        ck_assert(fg_test_wait_file_contains(log, "breaker: closed -> open", OUTAGE_MS));
        t_open = fg_mono_ns();

        /* While open the daemon idles: no sink hammering, ingest paused. */
        ck_assert(fg_test_wait_file_contains(log, "backpressure:", 5000));
        cpu0 = cpu_seconds(d->pid);
        usleep(2000 * 1000); /* a measurement window, not a synchronisation */
        cpu1 = cpu_seconds(d->pid);
        fprintf(stderr, "outage: %.3f CPU seconds in 2 s while open\n", cpu1 - cpu0);
        if (!getenv("FLOODGATE_SAN") || !*getenv("FLOODGATE_SAN"))
                ck_assert_msg(cpu1 - cpu0 < 0.4, "busy while open: %.2f s of CPU in 2 s", cpu1 - cpu0);

        /* After the outage: closes, and everything arrives. */
        ck_assert(fg_test_wait_file_contains(log, "-> closed", OUTAGE_MS + 30000));
        t_end = t_outage + (int64_t)OUTAGE_MS * FG_NS_PER_MS;
        fg_test_producer_join(prod);
        cond = (ids_cond_t){h, COUNT};
        ck_assert_msg(fg_test_wait(enough_ids, &cond, 90000), "not every id arrived");
        hwm = fg_test_proc_hwm_kib(d);

        /* Between opening and the end of the outage only probes reached the
         * server: half_open_calls (2) per half-open round, and the rounds
         * are 1 s, 2 s, 4 s, 4 s apart — at most 5 rounds in 10 s. */
        hl = fg_test_httpd_snapshot(h, 0);
        for (size_t i = 0; i < hl->n; i++)
                if (hl->reqs[i].arrival_ns > t_open + 50 * FG_NS_PER_MS &&
                    hl->reqs[i].arrival_ns < t_end)
                        probes++;
        fg_test_httpd_log_free(hl);
        fprintf(stderr, "outage: %lld requests reached the server while the breaker was open; "
                        "peak RSS %.1f MiB\n",
                (long long)probes, (double)hwm / 1024);
        ck_assert_int_le(probes, 2 * 5);
        ck_assert_int_gt(hwm, 0);
        ck_assert_int_lt(hwm, rss_ceiling_kib());

        fg_test_proc_signal(d, SIGTERM);
        ck_assert_int_eq(fg_test_proc_wait(d, 30000), 0);
        fg_test_proc_free(d);
        fg_test_httpd_stop(h);
        fg_mock_destroy(mock);
        fg_test_rmtree(dir);
        free(dir), free(log), free(cfg);
}
END_TEST

/* 1 when /metrics says the breaker is in @p state, 0 when not, -1 when
 * the scrape failed. */
static int breaker_is(int port, const char *state) {
        char *body = NULL, key[96];
        const char *p;
        int rc = -1;

        if (fg_test_http(port, "GET", "/metrics", &body) == 200) {
                snprintf(key, sizeof(key), "\nfloodgate_breaker_state{state=\"%s\"} ", state);
                p = strstr(body, key);
                rc = p && p[strlen(key)] == '1';
        }
        free(body);
        return rc;
}

typedef struct state_cond {
        int port;
        const char *state;
} state_cond_t;

static bool breaker_reached(void *opaque) {
        state_cond_t *c = opaque;
        return breaker_is(c->port, c->state) == 1;
}

/* A total outage after a long good run: the downstream's port is closed
 * (connection refused). Its failures could never outweigh the successes
 * still in the breaker's 10 s window, yet the breaker opens within
 * seconds (breaker.consecutive_failures, default 5), and what a user
 * looks at — /metrics and `floodgate top` — says "open", not "closed",
 * for as long as the outage lasts. */
START_TEST(test_outage_dead_downstream_shows_open) {
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "d.log"), *cfg, *out = NULL, url[64];
        fg_mock_t *mock = fg_test_mock(1, TOPIC, 4);
        const char *bs = fg_mock_bootstrap(mock);
        fg_test_httpd_t *h = fg_test_httpd_start();
        const char *args[] = {"run", "-c", NULL, NULL}, *top[] = {"top", url, "--once", NULL};
        fg_test_proc_t *d;
        ids_cond_t ids;
        state_cond_t open_cond;
        int port, samples = 0, open = 0, closed = 0;
        int64_t t0;

        ck_assert(h != NULL);
        cfg = fg_test_write(dir, "fg.yaml",
                            "kafka:\n  brokers: \"%s\"\n  group_id: dead1\n  topics: [" TOPIC "]\n"
                            "workers: {size: 4}\n"
                            "sink:\n  type: http\n  url: \"%s\"\n  format: json\n"
                            "  retry: {initial_backoff: 100ms, max_backoff: 1s, max_attempts: 0}\n"
                            "metrics:\n  listen: \"127.0.0.1:0\"\n  log_interval: 1s\n",
                            bs, fg_test_httpd_url(h, "/"));
        args[2] = cfg;
        d = fg_test_spawn(log, args);
        port = fg_test_admin_port(log, 30000);
        ck_assert_int_gt(port, 0);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);

        /* A good run: 400 requests answered 200, all inside the window. */
        fg_test_produce(bs, TOPIC, "out", 400, 0, 100);
        ids = (ids_cond_t){h, 400};
        ck_assert(fg_test_wait(enough_ids, &ids, 30000));
        ck_assert_int_eq(breaker_is(port, "closed"), 1);

        /* The downstream dies; events keep coming. */
        fg_test_httpd_stop(h);
        t0 = fg_mono_ns();
        fg_test_produce(bs, TOPIC, "late", 50, 0, 100);
        open_cond = (state_cond_t){port, "open"};
        ck_assert_msg(fg_test_wait(breaker_reached, &open_cond, 5000),
                      "the breaker did not open within 5 s of a total outage");
        fprintf(stderr, "dead downstream: breaker open %.2f s into the outage\n",
                (double)(fg_mono_ns() - t0) / 1e9);
        ck_assert(fg_test_file_contains(log, "consecutive failures"));

        /* For the rest of the outage: open, with at most short half-open
         * probe rounds, never closed. */
        for (t0 = fg_mono_ns(); fg_mono_ns() - t0 < 3 * FG_NS_PER_S; usleep(100 * 1000)) {
                samples++;
                open += breaker_is(port, "open") == 1;
                closed += breaker_is(port, "closed") == 1;
        }
        fprintf(stderr, "dead downstream: %d of %d samples open, %d closed\n", open, samples,
                closed);
        ck_assert_int_eq(closed, 0);
        ck_assert_int_ge(open * 2, samples);
        ck_assert(fg_test_wait(breaker_reached, &open_cond, 15000));
        ck_assert_int_eq(fg_test_run(top, &out, 10000), 0);
        ck_assert_msg(strstr(out, "breaker: open"), "%s", out);
        free(out);

        fg_test_proc_signal(d, SIGKILL);
        fg_test_proc_wait(d, 10000);
        fg_test_proc_free(d);
        fg_mock_destroy(mock);
        fg_test_rmtree(dir);
        free(dir), free(log), free(cfg);
}
END_TEST

static Suite *outage_suite(void) {
        Suite *s = suite_create("outage");
        TCase *tc = tcase_create("outage");

        tcase_set_timeout(tc, 240);
        tcase_add_test(tc, test_outage_breaker_holds_the_line);
        tcase_add_test(tc, test_outage_dead_downstream_shows_open);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(outage_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
