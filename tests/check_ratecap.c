/*
 * check_ratecap: sink.rate_limit end to end. With a backlog far above the
 * cap, the events a real HTTP server accepts over 10 s stay within 5% of
 * events_per_second x 10; waiting for tokens is backpressure, so the
 * breaker never opens; every event still arrives exactly once.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "tests/support/fgtest.h"
#include "tests/support/httpd.h"

#define TOPIC "events"
#define RATE 500
#define WINDOW_S 10
/* The backlog: the window, the second before it, and a tail. */
#define COUNT (RATE * (WINDOW_S + 3))

typedef struct ids_cond {
        fg_test_httpd_t *h;
        int64_t want;
} ids_cond_t;

static bool enough_ids(void *opaque) {
        ids_cond_t *c = opaque;
        return (int64_t)fg_test_httpd_ids(c->h, "rc", COUNT, NULL, NULL) >= c->want;
}

/* Events ("id" keys) in one request body. */
static int64_t events_in(const fg_test_httpd_req_t *req) {
        int64_t n = 0;
        const char *p = req->body, *end = req->body + req->body_len;

        while (p && p < end && (p = memmem(p, (size_t)(end - p), "\"id\"", 4))) {
                n++;
                p += 4;
        }
        return n;
}

START_TEST(test_ratecap_holds_within_5_percent) {
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "d.log"), *cfg;
        fg_mock_t *mock = fg_test_mock(1, TOPIC, 4);
        const char *bs = fg_mock_bootstrap(mock);
        fg_test_httpd_t *h = fg_test_httpd_start();
        fg_test_httpd_log_t *hl;
        fg_test_proc_t *d;
        ids_cond_t ic;
        uint32_t *times = calloc(COUNT, sizeof(*times));
        int64_t t_first = 0, from, to, in_window = 0;
        double dev;
        const char *args[4];

        ck_assert(h && times);
        cfg = fg_test_write(dir, "fg.yaml",
                            "kafka:\n  brokers: \"%s\"\n  group_id: rc\n  topics: [" TOPIC "]\n"
                            "workers: {size: 4}\n"
                            "sink:\n  type: http\n  url: \"%s\"\n  format: json_array\n"
                            "  batch: {max_messages: 20}\n"
                            "  rate_limit: {events_per_second: %d, burst: 50}\n"
                            "metrics:\n  listen: \"127.0.0.1:0\"\n  log_interval: 1s\n",
                            bs, fg_test_httpd_url(h, "/"), RATE);
        /* The backlog is there before the daemon starts: it could go much
         * faster than the cap. */
        fg_test_produce(bs, TOPIC, "rc", COUNT, 0, 150);
        args[0] = "run", args[1] = "-c", args[2] = cfg, args[3] = NULL;
        d = fg_test_spawn(log, args);
        ic = (ids_cond_t){h, COUNT};
        ck_assert_msg(fg_test_wait(enough_ids, &ic, 120000), "not every event arrived");

        /* The window starts a second after the first request (past the
         * initial burst) and lasts WINDOW_S seconds; requests are counted by
         * their arrival at the server. */
        hl = fg_test_httpd_snapshot(h, 0);
        ck_assert_uint_gt(hl->n, 0);
        t_first = hl->reqs[0].arrival_ns;
        from = t_first + FG_NS_PER_S;
        to = from + WINDOW_S * FG_NS_PER_S;
        ck_assert_int_gt(hl->reqs[hl->n - 1].arrival_ns, to); /* the backlog outlasted it */
        for (size_t i = 0; i < hl->n; i++)
                if (hl->reqs[i].arrival_ns >= from && hl->reqs[i].arrival_ns < to &&
                    hl->reqs[i].status == 200)
                        in_window += events_in(&hl->reqs[i]);
        fg_test_httpd_log_free(hl);
        dev = (double)in_window / (RATE * WINDOW_S) - 1;
        fprintf(stderr, "rate cap %d/s: %lld events accepted in %d s (%+.2f%%)\n", RATE,
                (long long)in_window, WINDOW_S, 100 * dev);
        ck_assert_msg(dev > -0.05 && dev < 0.05, "%lld events in %d s at a cap of %d/s",
                      (long long)in_window, WINDOW_S, RATE);

        /* Exactly once, and the breaker never saw the waiting. */
        ck_assert_uint_eq(fg_test_httpd_ids(h, "rc", COUNT, times, NULL), COUNT);
        for (int64_t i = 0; i < COUNT; i++)
                ck_assert_msg(times[i] == 1, "rc-%lld arrived %u times", (long long)i, times[i]);
        ck_assert(!fg_test_file_contains(log, "breaker: closed -> open"));

        fg_test_proc_signal(d, SIGTERM);
        ck_assert_int_eq(fg_test_proc_wait(d, 30000), 0);
        fg_test_proc_free(d);
        fg_test_httpd_stop(h);
        fg_mock_destroy(mock);
        fg_test_rmtree(dir);
        free(times), free(dir), free(log), free(cfg);
}
END_TEST

static Suite *ratecap_suite(void) {
        Suite *s = suite_create("ratecap");
        TCase *tc = tcase_create("cap");

        tcase_set_timeout(tc, 180);
        tcase_add_test(tc, test_ratecap_holds_within_5_percent);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(ratecap_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
