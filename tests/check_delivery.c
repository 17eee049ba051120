/*
 * check_delivery: handlers and sinks end to end — the real daemon against a
 * mock Kafka cluster and a scriptable HTTP server, both started by the
 * test: HTTP batching and keep-alive, retries and Retry-After, permanent
 * rejections to the dead-letter topic with their headers, the kafka sink
 * keeping keys and headers, a mixed stream (invalid JSON, empty and
 * 1 MB messages, filtered events) where every event is accounted for, and
 * raw mode keeping one Kafka message one record in the file sink and the
 * NDJSON and JSON-array HTTP bodies.
 */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "tests/support/fgtest.h"
#include "tests/support/httpd.h"

#define TOPIC "events"

static char *write_config(const char *dir, const char *bootstrap, const char *group,
                          const char *body) {
        return fg_test_write(dir, "fg.yaml",
                             "kafka:\n"
                             "  brokers: \"%s\"\n"
                             "  group_id: \"%s\"\n"
                             "  topics: [" TOPIC "]\n"
                             "metrics:\n"
                             "  listen: \"127.0.0.1:0\"\n"
                             "%s",
                             bootstrap, group, body);
}

/* Runs the daemon with --until-drained; dumps its log when the exit code
 * is not @p expected. */
static int run_until_drained(const char *cfg, const char *log, int expected) {
        const char *args[] = {"run", "-c", cfg, "--until-drained", NULL};
        fg_test_proc_t *d = fg_test_spawn(log, args);
        int rc = fg_test_proc_wait(d, 120000);

        if (rc != expected) {
                char *s = fg_test_slurp(log, NULL);
                fprintf(stderr, "---- %s ----\n%s\n----\n", log, s ? s : "");
                free(s);
        }
        fg_test_proc_free(d);
        return rc;
}

/* NDJSON batches over keep-alive connections: every id arrives, each
 * worker reuses one connection, and batches really are batches. */
START_TEST(test_delivery_http_ndjson_keepalive) {
        const int64_t count = 20000;
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "d.log"), body[512];
        fg_mock_t *mock = fg_test_mock(1, TOPIC, 8);
        fg_test_httpd_t *h = fg_test_httpd_start();
        fg_test_httpd_stats_t st;
        fg_test_httpd_idcount_t ic;
        fg_test_httpd_log_t *hl;
        char *cfg;

        ck_assert(h != NULL);
        snprintf(body, sizeof(body),
                 "workers: {size: 3}\n"
                 "sink:\n  type: http\n  url: \"%s\"\n  format: ndjson\n"
                 "  headers: {X-Api-Key: s3cr3t}\n  batch: {max_messages: 200}\n",
                 fg_test_httpd_url(h, "/ingest"));
        cfg = write_config(dir, fg_mock_bootstrap(mock), "dl1", body);
        fg_test_produce(fg_mock_bootstrap(mock), TOPIC, "nd", count, 0, 120);
        ck_assert_int_eq(run_until_drained(cfg, log, 0), 0);

        ck_assert_int_eq(fg_test_httpd_ids(h, "nd", count, NULL, &ic), count);
        ck_assert_int_eq(ic.unparsed, 0);
        fg_test_httpd_stats(h, &st);
        ck_assert_int_le(st.connections, 3);
        ck_assert_int_le(st.requests, count / 200 * 3);    /* batches, not events */
        ck_assert_int_ge(st.requests, count / 200);
        hl = fg_test_httpd_snapshot(h, 0);
        ck_assert_uint_gt(hl->n, 0);
        ck_assert_str_eq(hl->reqs[0].method, "POST");
        ck_assert_str_eq(hl->reqs[0].uri, "/ingest");
        ck_assert_str_eq(hl->reqs[0].content_type, "application/x-ndjson");
        ck_assert_str_eq(fg_test_httpd_header(&hl->reqs[0], "X-Api-Key"), "s3cr3t");
        fg_test_httpd_log_free(hl);

        fg_test_httpd_stop(h);
        fg_mock_destroy(mock);
        fg_test_rmtree(dir);
        free(dir), free(log), free(cfg);
}
END_TEST

/* 503 with Retry-After: 2, then 500, then success: the batch is retried,
 * no earlier than Retry-After allows, and arrives once accepted. */
START_TEST(test_delivery_http_retries_honour_retry_after) {
        const int64_t count = 50;
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "d.log"), body[512];
        fg_mock_t *mock = fg_test_mock(1, TOPIC, 1);
        fg_test_httpd_t *h = fg_test_httpd_start();
        fg_test_httpd_log_t *hl;
        fg_test_httpd_idcount_t ic;
        char *cfg;

        ck_assert(h != NULL);
        fg_test_httpd_script(h, 503, 0, 2);
        fg_test_httpd_script(h, 500, 0, -1);
        snprintf(body, sizeof(body),
                 "workers: {size: 1, batch_max: 100}\n"
                 "sink:\n  type: http\n  url: \"%s\"\n  format: json_array\n"
                 "  retry: {initial_backoff: 50ms, max_backoff: 200ms}\n",
                 fg_test_httpd_url(h, "/"));
        cfg = write_config(dir, fg_mock_bootstrap(mock), "dl2", body);
        fg_test_produce(fg_mock_bootstrap(mock), TOPIC, "ra", count, 0, 120);
        ck_assert_int_eq(run_until_drained(cfg, log, 0), 0);

        hl = fg_test_httpd_snapshot(h, 0);
        ck_assert_uint_ge(hl->n, 3);
        ck_assert_int_eq(hl->reqs[0].status, 503);
        ck_assert_int_eq(hl->reqs[1].status, 500);
        /* Retry-After: 2 beats the 50 ms backoff. */
        ck_assert_int_ge(hl->reqs[1].arrival_ns - hl->reqs[0].arrival_ns, 2 * FG_NS_PER_S);
        /* After the 500 the backoff applies again, well under Retry-After. */
        ck_assert_int_lt(hl->reqs[2].arrival_ns - hl->reqs[1].arrival_ns, FG_NS_PER_S);
        fg_test_httpd_log_free(hl);
        fg_test_httpd_ids(h, "ra", count, NULL, &ic);
        ck_assert_int_eq(ic.distinct, count);
        ck_assert_int_eq(fg_test_httpd_answered(h, 503), 1);
        ck_assert_int_eq(fg_test_httpd_answered(h, 500), 1);
        ck_assert(!fg_test_file_contains(log, "retries 0 "));

        fg_test_httpd_stop(h);
        fg_mock_destroy(mock);
        fg_test_rmtree(dir);
        free(dir), free(log), free(cfg);
}
END_TEST

/* A 400 is the event's fault: it goes to the dead-letter topic with the
 * original payload and key and headers saying why; the rest is delivered. */
START_TEST(test_delivery_http_400_dead_letters) {
        const int64_t count = 20;
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "d.log"), body[512];
        fg_mock_t *mock = fg_test_mock(1, TOPIC, 1);
        const char *bs = fg_mock_bootstrap(mock);
        fg_test_httpd_t *h = fg_test_httpd_start();
        fg_test_httpd_log_t *hl;
        int64_t accepted = 0;
        fg_test_topic_t dlq;
        char *cfg, *v;

        ck_assert(h != NULL);
        ck_assert(!fg_mock_create_topic(mock, "events.dlq", 1, body, sizeof(body)));
        fg_test_httpd_script(h, 200, 0, -1);
        fg_test_httpd_script(h, 400, 0, -1); /* the second event */
        snprintf(body, sizeof(body),
                 "workers: {size: 1}\n"
                 "sink:\n  type: http\n  url: \"%s\"\n  format: json\n"
                 "dead_letter:\n  topic: events.dlq\n",
                 fg_test_httpd_url(h, "/"));
        cfg = write_config(dir, bs, "dl3", body);
        fg_test_produce(bs, TOPIC, "dlq", count, 0, 120);
        ck_assert_int_eq(run_until_drained(cfg, log, 0), 0);

        /* One request per event: 19 accepted, the second one refused. */
        hl = fg_test_httpd_snapshot(h, 0);
        for (size_t i = 0; i < hl->n; i++) {
                bool rejected = strstr(hl->reqs[i].body, "\"id\":\"dlq-1\"") != NULL;
                ck_assert_int_eq(hl->reqs[i].status, rejected ? 400 : 200);
                accepted += hl->reqs[i].status == 200;
        }
        fg_test_httpd_log_free(hl);
        ck_assert_int_eq(accepted, count - 1);
        fg_test_read_topic(&dlq, bs, "events.dlq", 1);
        ck_assert_uint_eq(dlq.n, 1);
        ck_assert(strstr(dlq.msgs[0].value, "\"id\":\"dlq-1\""));
        ck_assert_str_eq(dlq.msgs[0].key, "k1");
        ck_assert_str_eq((v = fg_test_header(&dlq.msgs[0], "fg.error.class")), "rejected");
        free(v);
        ck_assert((v = fg_test_header(&dlq.msgs[0], "fg.error.message")) && strstr(v, "400"));
        free(v);
        ck_assert_str_eq((v = fg_test_header(&dlq.msgs[0], "fg.attempts")), "1");
        free(v);
        ck_assert_str_eq((v = fg_test_header(&dlq.msgs[0], "fg.source.topic")), TOPIC);
        free(v);
        ck_assert_str_eq((v = fg_test_header(&dlq.msgs[0], "fg.source.partition")), "0");
        free(v);
        ck_assert_str_eq((v = fg_test_header(&dlq.msgs[0], "fg.source.offset")), "1");
        free(v);
        ck_assert((v = fg_test_header(&dlq.msgs[0], "fg.time")) && atoll(v) > 1700000000000LL);
        free(v);
        ck_assert(fg_test_file_contains(log, "dead-lettered 1"));

        fg_test_topic_free(&dlq);
        fg_test_httpd_stop(h);
        fg_mock_destroy(mock);
        fg_test_rmtree(dir);
        free(dir), free(log), free(cfg);
}
END_TEST

/* The kafka sink keeps keys, headers and timestamps, and (json handler
 * with metadata) adds where each event came from. */
START_TEST(test_delivery_kafka_round_trip) {
        enum { N = 200 };
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "d.log"), err[256];
        fg_mock_t *mock = fg_test_mock(1, TOPIC, 2);
        const char *bs = fg_mock_bootstrap(mock);
        fg_test_msg_t msgs[N];
        char keys[N][16], vals[N][96], hv[N][24];
        fg_test_topic_t out, in;
        char *cfg;

        ck_assert(!fg_mock_create_topic(mock, "events.out", 3, err, sizeof(err)));
        for (int i = 0; i < N; i++) {
                snprintf(keys[i], sizeof(keys[i]), "key-%d", i);
                snprintf(vals[i], sizeof(vals[i]), "{\"id\":\"rt-%d\",\"n\":%d}", i, i);
                snprintf(hv[i], sizeof(hv[i]), "trace-%d", i);
                msgs[i] = (fg_test_msg_t){.key = keys[i], .value = vals[i], .len = strlen(vals[i]),
                                          .hdr_name = {"trace", "team", NULL},
                                          .hdr_value = {hv[i], "brand", NULL}};
        }
        cfg = write_config(dir, bs, "dl4",
                           "handler:\n  add_metadata: true\n"
                           "sink:\n  type: kafka\n  topic: events.out\n");
        fg_test_produce_msgs(bs, TOPIC, msgs, N);
        ck_assert_int_eq(run_until_drained(cfg, log, 0), 0);

        fg_test_read_topic(&in, bs, TOPIC, 2);
        fg_test_read_topic(&out, bs, "events.out", 3);
        ck_assert_uint_eq(out.n, N);
        for (size_t i = 0; i < out.n; i++) {
                const fg_test_rmsg_t *m = &out.msgs[i], *src = NULL;
                char *trace = fg_test_header(m, "trace"), *team = fg_test_header(m, "team"), want[64];
                int k;
                ck_assert(m->key && sscanf(m->key, "key-%d", &k) == 1 && k >= 0 && k < N);
                ck_assert_str_eq(trace, hv[k]);
                ck_assert_str_eq(team, "brand");
                snprintf(want, sizeof(want), "\"id\":\"rt-%d\",\"n\":%d,\"_floodgate\":{", k, k);
                ck_assert_msg(strstr(m->value, want), "%s", m->value);
                for (size_t j = 0; j < in.n; j++)
                        if (in.msgs[j].key && !strcmp(in.msgs[j].key, m->key))
                                src = &in.msgs[j];
                ck_assert(src != NULL);
                ck_assert_int_eq(m->ts_ms, src->ts_ms);
                snprintf(want, sizeof(want), "\"partition\":%d,\"offset\":%lld", (int)src->partition,
                         (long long)src->offset);
                ck_assert_msg(strstr(m->value, want), "%s lacks %s", m->value, want);
                free(trace);
                free(team);
        }

        fg_test_topic_free(&in);
        fg_test_topic_free(&out);
        fg_mock_destroy(mock);
        fg_test_rmtree(dir);
        free(dir), free(log), free(cfg);
}
END_TEST

/* A mixed stream: brand mentions (kept), other events (filtered), invalid
 * JSON, empty messages, a JSON array, and 1 MB events. Every message is
 * accounted for as delivered, filtered or dead-lettered, by its key. */
START_TEST(test_delivery_mixed_stream_accounted) {
        enum { N = 400 };
        static const size_t big = 1000 * 1000;
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "d.log"),
             *out = fg_test_path(dir, "out.jsonl"), err[256], body[512], *bigval;
        fg_mock_t *mock = fg_test_mock(1, TOPIC, 4);
        const char *bs = fg_mock_bootstrap(mock);
        fg_test_msg_t msgs[N];
        char keys[N][16], vals[N][128];
        int expect_ok = 0, expect_filtered = 0, expect_dlq = 0, ok = 0, dead = 0;
        fg_test_topic_t dlq;
        char *cfg, *s, *line;

        ck_assert(!fg_mock_create_topic(mock, "events.dlq", 1, err, sizeof(err)));
        bigval = malloc(big + 64);
        ck_assert(bigval != NULL);
        for (int i = 0; i < N; i++) {
                snprintf(keys[i], sizeof(keys[i]), "m-%d", i);
                msgs[i] = (fg_test_msg_t){.key = keys[i], .value = vals[i]};
                switch (i % 8) {
                case 0: /* a 1 MB mention */
                        if (i % 80 == 0) {
                                int n = snprintf(bigval, 64, "{\"id\":\"%s\",\"text\":\"ACME ", keys[i]);
                                memset(bigval + n, 'x', big - (size_t)n - 2);
                                memcpy(bigval + big - 2, "\"}", 2);
                                msgs[i].value = bigval, msgs[i].len = big;
                                expect_ok++;
                                continue;
                        }
                        /* fall through */
                case 1: case 2:
                        snprintf(vals[i], sizeof(vals[i]),
                                 "{\"id\":\"%s\",\"text\":\"we love Acme today\"}", keys[i]);
                        expect_ok++;
                        break;
                case 3: case 4:
                        snprintf(vals[i], sizeof(vals[i]), "{\"id\":\"%s\",\"text\":\"nothing here\"}",
                                 keys[i]);
                        expect_filtered++;
                        break;
                case 5:
                        snprintf(vals[i], sizeof(vals[i]), "{\"id\":\"%s\", oops", keys[i]);
                        expect_dlq++;
                        break;
                case 6:
                        vals[i][0] = '\0'; /* empty */
                        expect_dlq++;
                        break;
                default:
                        snprintf(vals[i], sizeof(vals[i]), "[\"%s\"]", keys[i]);
                        expect_dlq++;
                        break;
                }
                msgs[i].len = strlen(msgs[i].value);
        }
        snprintf(body, sizeof(body),
                 "handler:\n  on_invalid: dead_letter\n"
                 "  filter: {field: text, contains_any: [acme], case_insensitive: true}\n"
                 "sink:\n  type: file\n  path: \"%s\"\n"
                 "dead_letter:\n  topic: events.dlq\n",
                 out);
        cfg = write_config(dir, bs, "dl5", body);
        fg_test_produce_msgs(bs, TOPIC, msgs, N);
        ck_assert_int_eq(run_until_drained(cfg, log, 0), 0);

        s = fg_test_slurp(out, NULL);
        ck_assert(s != NULL);
        for (line = strtok(s, "\n"); line; line = strtok(NULL, "\n"))
                ok++;
        free(s);
        fg_test_read_topic(&dlq, bs, "events.dlq", 1);
        for (size_t i = 0; i < dlq.n; i++) {
                char *cls = fg_test_header(&dlq.msgs[i], "fg.error.class");
                ck_assert_str_eq(cls, "invalid");
                free(cls);
                dead++;
        }
        fprintf(stderr, "mixed stream: %d ok, %d filtered, %d dead-lettered of %d\n", ok,
                expect_filtered, dead, N);
        ck_assert_int_eq(ok, expect_ok);
        ck_assert_int_eq(dead, expect_dlq);
        snprintf(body, sizeof(body), "ok %d, filtered %d, dead-lettered %d, dropped 0", expect_ok,
                 expect_filtered, expect_dlq);
        ck_assert_msg(fg_test_file_contains(log, body), "summary lacks: %s", body);
        ck_assert_int_eq(ok + expect_filtered + dead, N);

        fg_test_topic_free(&dlq);
        free(bigval);
        fg_mock_destroy(mock);
        fg_test_rmtree(dir);
        free(dir), free(log), free(out), free(cfg);
}
END_TEST

/* on_invalid: fail stops the daemon with exit 1 and leaves the invalid
 * event uncommitted. */
START_TEST(test_delivery_on_invalid_fail_stops) {
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "d.log"),
             *out = fg_test_path(dir, "out.jsonl"), body[256];
        fg_mock_t *mock = fg_test_mock(1, TOPIC, 1);
        const char *bs = fg_mock_bootstrap(mock);
        fg_test_msg_t msgs[3] = {
            {.key = "a", .value = "{\"id\":\"f-0\"}", .len = 12},
            {.key = "b", .value = "not json", .len = 8},
            {.key = "c", .value = "{\"id\":\"f-2\"}", .len = 12},
        };
        int64_t committed[1];
        char *cfg;

        snprintf(body, sizeof(body), "workers: {size: 1}\nhandler: {on_invalid: fail}\n"
                                     "sink: {type: file, path: \"%s\"}\n", out);
        cfg = write_config(dir, bs, "dl6", body);
        fg_test_produce_msgs(bs, TOPIC, msgs, 3);
        ck_assert_int_eq(run_until_drained(cfg, log, 1), 1);
        ck_assert(fg_test_file_contains(log, "invalid event and handler.on_invalid is fail"));
        fg_test_committed(bs, "dl6", TOPIC, 1, committed);
        ck_assert_int_le(committed[0], 1); /* never past the invalid event */

        fg_mock_destroy(mock);
        fg_test_rmtree(dir);
        free(dir), free(log), free(out), free(cfg);
}
END_TEST

/* Raw payloads, some with line breaks, some not one JSON value. */
static const char *const raw_payloads[] = {
    "plain text", "two\nlines", "{\"a\":1}", "{\n \"a\": 2\n}",
    "[1,2]",      "1],[2",      "cr\ronly",  "\"str\"",
};
#define NRAW (sizeof(raw_payloads) / sizeof(raw_payloads[0]))

/* Runs a raw-mode daemon over the topic into @p sink with a dead-letter
 * topic; @p refused[i] says which payloads the sink's framing refuses:
 * checks that exactly those are dead-lettered, whole (class invalid, the
 * framing's reason, the original bytes), and that the rest was delivered. */
static void raw_run(const char *bs, const char *group, const char *sink, const bool *refused) {
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "d.log"), dlq_topic[64],
             body[1024], summary[128];
        fg_test_topic_t dlq;
        size_t want_dead = 0, k = 0;
        char *cfg, *v;

        snprintf(dlq_topic, sizeof(dlq_topic), "events.dlq.%s", group);
        snprintf(body, sizeof(body),
                 "workers: {size: 1}\nhandler: {mode: raw, on_invalid: dead_letter}\n%s"
                 "dead_letter:\n  topic: %s\n",
                 sink, dlq_topic);
        cfg = write_config(dir, bs, group, body);
        ck_assert_int_eq(run_until_drained(cfg, log, 0), 0);
        fg_test_read_topic(&dlq, bs, dlq_topic, 1);
        for (size_t i = 0; i < NRAW; i++)
                want_dead += refused[i];
        ck_assert_uint_eq(dlq.n, want_dead);
        for (size_t i = 0; i < NRAW; i++) {
                if (!refused[i])
                        continue;
                ck_assert_uint_eq(dlq.msgs[k].len, strlen(raw_payloads[i]));
                ck_assert_str_eq(dlq.msgs[k].value, raw_payloads[i]);
                ck_assert_str_eq((v = fg_test_header(&dlq.msgs[k], "fg.error.class")), "invalid");
                free(v);
                v = fg_test_header(&dlq.msgs[k], "fg.error.message");
                ck_assert_msg(v && !strncmp(v, "raw payload ", 12), "%s", v ? v : "no message");
                free(v);
                k++;
        }
        snprintf(summary, sizeof(summary), "ok %zu, filtered 0, dead-lettered %zu",
                 NRAW - want_dead, want_dead);
        ck_assert_msg(fg_test_file_contains(log, summary), "summary lacks: %s", summary);
        fg_test_topic_free(&dlq);
        fg_test_rmtree(dir);
        free(dir), free(log), free(cfg);
}

/* One Kafka message is one record (issue 16, item 7): in raw mode a
 * payload with a line break goes to the dead-letter topic, whole, instead
 * of becoming two lines in the file sink or in an NDJSON body; with a
 * JSON-array body, so does a payload that is not one JSON value (which
 * would corrupt the array, or add elements to it). Everything else
 * arrives byte for byte. */
START_TEST(test_delivery_raw_one_message_one_record) {
        static const bool lines[NRAW] = {false, true, false, true, false, false, true, false};
        static const bool array[NRAW] = {true, true, false, false, false, true, true, false};
        char *dir = fg_test_tmpdir(), *out = fg_test_path(dir, "out.txt"), sink[512], err[256];
        fg_mock_t *mock = fg_test_mock(1, TOPIC, 1);
        const char *bs = fg_mock_bootstrap(mock);
        fg_test_httpd_t *nd = fg_test_httpd_start(), *ar = fg_test_httpd_start();
        fg_buf_t want = FG_BUF_INIT, got = FG_BUF_INIT;
        fg_test_msg_t msgs[NRAW];
        fg_test_httpd_log_t *hl;
        size_t elements = 0;
        char *s;

        ck_assert(nd && ar);
        for (size_t i = 0; i < NRAW; i++) {
                msgs[i] = (fg_test_msg_t){.key = "k", .value = raw_payloads[i],
                                          .len = strlen(raw_payloads[i])};
                if (!lines[i])
                        fg_buf_printf(&want, "%s\n", raw_payloads[i]);
        }
        ck_assert(!fg_mock_create_topic(mock, "events.dlq.rawfile", 1, err, sizeof(err)));
        ck_assert(!fg_mock_create_topic(mock, "events.dlq.rawnd", 1, err, sizeof(err)));
        ck_assert(!fg_mock_create_topic(mock, "events.dlq.rawarr", 1, err, sizeof(err)));
        fg_test_produce_msgs(bs, TOPIC, msgs, NRAW);

        /* The file sink: each accepted payload on a line of its own. */
        snprintf(sink, sizeof(sink), "sink: {type: file, path: \"%s\"}\n", out);
        raw_run(bs, "rawfile", sink, lines);
        s = fg_test_slurp(out, NULL);
        ck_assert_str_eq(s, fg_buf_cstr(&want));
        free(s);

        /* NDJSON bodies: the same lines. */
        snprintf(sink, sizeof(sink), "sink: {type: http, url: \"%s\", format: ndjson}\n",
                 fg_test_httpd_url(nd, "/"));
        raw_run(bs, "rawnd", sink, lines);
        hl = fg_test_httpd_snapshot(nd, 0);
        for (size_t i = 0; i < hl->n; i++)
                if (hl->reqs[i].status == 200)
                        fg_buf_append(&got, hl->reqs[i].body, hl->reqs[i].body_len);
        ck_assert_str_eq(fg_buf_cstr(&got), fg_buf_cstr(&want));
        fg_test_httpd_log_free(hl);

        /* JSON-array bodies: each one a JSON array, its elements exactly the
         * payloads that are one JSON value. */
        snprintf(sink, sizeof(sink), "sink: {type: http, url: \"%s\", format: json_array}\n",
                 fg_test_httpd_url(ar, "/"));
        raw_run(bs, "rawarr", sink, array);
        hl = fg_test_httpd_snapshot(ar, 0);
        for (size_t i = 0; i < hl->n; i++) {
                json_error_t jerr;
                json_t *a = json_loadb(hl->reqs[i].body, hl->reqs[i].body_len, 0, &jerr);

                ck_assert_msg(json_is_array(a), "body %.*s: %s", (int)hl->reqs[i].body_len,
                              hl->reqs[i].body, jerr.text);
                elements += json_array_size(a);
                json_decref(a);
        }
        ck_assert_uint_eq(elements, 4);
        fg_test_httpd_log_free(hl);

        fg_buf_free(&want);
        fg_buf_free(&got);
        fg_test_httpd_stop(ar);
        fg_test_httpd_stop(nd);
        fg_mock_destroy(mock);
        fg_test_rmtree(dir);
        free(dir), free(out);
}
END_TEST

static Suite *delivery_suite(void) {
        Suite *s = suite_create("delivery");
        TCase *tc = tcase_create("e2e");

        tcase_set_timeout(tc, 240);
        tcase_add_test(tc, test_delivery_http_ndjson_keepalive);
        tcase_add_test(tc, test_delivery_http_retries_honour_retry_after);
        tcase_add_test(tc, test_delivery_http_400_dead_letters);
        tcase_add_test(tc, test_delivery_kafka_round_trip);
        tcase_add_test(tc, test_delivery_mixed_stream_accounted);
        tcase_add_test(tc, test_delivery_on_invalid_fail_stops);
        tcase_add_test(tc, test_delivery_raw_one_message_one_record);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(delivery_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
