/*
 * check_fallback: sink.fallback end to end. The HTTP downstream answers
 * 503: once its breaker opens the events go to a Kafka fallback topic,
 * with the fg.error.* and fg.source.* headers of a dead letter, and count
 * as delivered; every event is in exactly one place (server or topic),
 * before, during and after the outage.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/fgtest.h"
#include "tests/support/httpd.h"

#define TOPIC "events"
#define REPLAY "replay"
#define N 2000
#define N2 500

typedef struct where {
        fg_test_httpd_t *h;
        const char *bs;
        int64_t want;
} where_t;

/* Per seq of "<prefix>-<seq>": sightings in the replay topic; headers
 * checked on the way. Returns the messages read. */
static size_t replay_ids(const char *bs, const char *prefix, int64_t count, uint32_t *times,
                         bool check_headers) {
        fg_test_topic_t t;
        size_t plen = strlen(prefix);

        memset(times, 0, (size_t)count * sizeof(*times));
        fg_test_read_topic(&t, bs, REPLAY, 1);
        for (size_t i = 0; i < t.n; i++) {
                const char *p = strstr(t.msgs[i].value, "\"id\":\"");
                long long seq;
                if (!p || strncmp(p + 6, prefix, plen) || p[6 + plen] != '-')
                        continue;
                seq = strtoll(p + 7 + plen, NULL, 10);
                if (seq >= 0 && seq < count)
                        times[seq]++;
                if (check_headers) {
                        char *cls = fg_test_header(&t.msgs[i], "fg.error.class");
                        char *src = fg_test_header(&t.msgs[i], "fg.source.topic");
                        ck_assert_msg(cls && !strcmp(cls, "breaker_open"), "fg.error.class %s",
                                      cls ? cls : "(none)");
                        ck_assert_msg(src && !strcmp(src, TOPIC), "fg.source.topic %s",
                                      src ? src : "(none)");
                        free(cls);
                        free(src);
                }
        }
        fg_test_topic_free(&t);
        return t.n;
}

static bool all_placed(void *opaque) {
        where_t *w = opaque;
        uint32_t *times = calloc(N, sizeof(*times));
        int64_t seen = 0;

        replay_ids(w->bs, "fb", N, times, false);
        for (int64_t i = 0; i < N; i++)
                seen += times[i] > 0;
        seen += (int64_t)fg_test_httpd_ids(w->h, "fb", N, NULL, NULL);
        free(times);
        return seen >= w->want;
}

START_TEST(test_fallback_while_breaker_open) {
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "d.log"), *cfg, errstr[256];
        fg_mock_t *mock = fg_test_mock(1, TOPIC, 4);
        const char *bs = fg_mock_bootstrap(mock);
        fg_test_httpd_t *a = fg_test_httpd_start();
        fg_test_proc_t *d;
        uint32_t *ta = calloc(N, sizeof(*ta)), *tr = calloc(N, sizeof(*tr));
        int64_t on_a = 0, on_replay = 0;
        where_t wh;
        int port;
        const char *args[4];

        ck_assert(a && ta && tr);
        ck_assert_msg(fg_mock_create_topic(mock, REPLAY, 1, errstr, sizeof(errstr)) == 0, "%s",
                      errstr);
        cfg = fg_test_write(
            dir, "fg.yaml",
            "kafka:\n  brokers: \"%s\"\n  group_id: fb\n  topics: [" TOPIC "]\n"
            "workers: {size: 4}\n"
            "sink:\n  type: http\n  url: \"%s\"\n  format: json_array\n"
            "  batch: {max_messages: 20}\n"
            "  retry: {initial_backoff: 50ms, max_backoff: 200ms, max_attempts: 0}\n"
            "  fallback: {type: kafka, topic: " REPLAY "}\n"
            "breaker: {consecutive_failures: 3, open_duration: 1s, open_max: 2s, jitter: 0}\n"
            "metrics:\n  listen: \"127.0.0.1:0\"\n  log_interval: 1s\n",
            bs, fg_test_httpd_url(a, "/a"));
        args[0] = "run", args[1] = "-c", args[2] = cfg, args[3] = NULL;
        d = fg_test_spawn(log, args);
        port = fg_test_admin_port(log, 30000);
        ck_assert_int_gt(port, 0);
        fg_test_produce(bs, TOPIC, "warm", 10, 0, 150);
        ck_assert(fg_test_httpd_wait_ids(a, "warm", 10, 10, 60000));

        /* The outage: the breaker opens, the fallback takes the events. */
        fg_test_httpd_fail_for(a, 503, 120000);
        fg_test_produce(bs, TOPIC, "fb", N, 1000, 150);
        ck_assert(fg_test_wait_file_contains(log, "breaker: closed -> open", 30000));
        wh = (where_t){a, bs, N};
        ck_assert_msg(fg_test_wait(all_placed, &wh, 60000), "not every event was placed");

        fg_test_httpd_ids(a, "fb", N, ta, NULL);
        replay_ids(bs, "fb", N, tr, true);
        for (int64_t i = 0; i < N; i++) {
                ck_assert_msg(ta[i] + tr[i] == 1, "fb-%lld: server %u, fallback %u",
                              (long long)i, ta[i], tr[i]);
                on_a += ta[i];
                on_replay += tr[i];
        }
        fprintf(stderr, "fallback: of %d events during the outage, %lld reached the server "
                        "before its breaker opened, %lld went to the fallback topic\n",
                N, (long long)on_a, (long long)on_replay);
        ck_assert_int_gt(on_replay, N / 2);
        ck_assert_int_eq((int64_t)fg_test_metric(port, "\nfloodgate_route_delivered_total{"
                                                       "route=\"default\",sink=\"fallback\"} "),
                         on_replay);
        /* Delivered once either sink acknowledged it. */
        ck_assert_int_eq((int64_t)fg_test_metric(port, "\nfloodgate_messages_processed_total{"
                                                       "outcome=\"ok\"} "),
                         10 + N);

        /* The server is back: the next calls probe it, the breaker closes
         * and events go there again (while it is half-open, those beyond
         * the probes still take the fallback); each is in one place only. */
        fg_test_httpd_fail_for(a, 503, 0);
        fg_test_produce(bs, TOPIC, "after", N2, 0, 150);
        for (int i = 0; i < 6000; i++) {
                int64_t placed = (int64_t)fg_test_httpd_ids(a, "after", N2, ta, NULL);
                replay_ids(bs, "after", N2, tr, false);
                for (int64_t k = 0; k < N2; k++)
                        placed += tr[k] > 0;
                if (placed >= N2)
                        break;
                usleep(10 * 1000);
        }
        fg_test_httpd_ids(a, "after", N2, ta, NULL);
        replay_ids(bs, "after", N2, tr, false);
        on_a = 0;
        for (int64_t i = 0; i < N2; i++) {
                ck_assert_msg(ta[i] + tr[i] == 1, "after-%lld: server %u, fallback %u",
                              (long long)i, ta[i], tr[i]);
                on_a += ta[i];
        }
        fprintf(stderr, "fallback: after the outage %lld of %d events reached the server\n",
                (long long)on_a, N2);
        ck_assert(fg_test_wait_file_contains(log, "breaker: half_open -> closed", 30000));
        ck_assert_int_ge(on_a, N2 / 2);

        fg_test_proc_signal(d, SIGTERM);
        ck_assert_int_eq(fg_test_proc_wait(d, 30000), 0);
        fg_test_proc_free(d);
        fg_test_httpd_stop(a);
        fg_mock_destroy(mock);
        fg_test_rmtree(dir);
        free(ta), free(tr), free(dir), free(log), free(cfg);
}
END_TEST

static Suite *fallback_suite(void) {
        Suite *s = suite_create("fallback");
        TCase *tc = tcase_create("fallback");

        tcase_set_timeout(tc, 240);
        tcase_add_test(tc, test_fallback_while_breaker_open);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(fallback_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
