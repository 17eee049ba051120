/*
 * check_reload: SIGHUP replaces the handler and the sink while events flow
 * (workers/plan.h), and no event is lost or sent twice by the switch —
 * checked by id at the HTTP servers (each keeps a log of what it accepted)
 * and against the daemon's own counters (every event delivered or
 * filtered, exactly once).
 *
 * The events come from the burst generator's format: brand is
 * brands[seq % 5], so "acme" is seq % 5 == 0 and "globex" seq % 5 == 1.
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
#define PARTS 4

typedef struct rig {
        char *dir, *log, *cfg;
        fg_mock_t *mock;
        const char *bs;
        fg_test_httpd_t *a, *b;
        fg_test_proc_t *d;
        int port;
        int reloads;
        int64_t warm_ok;        /* warm-up events delivered (of WARM) */
} rig_t;

/* Events produced before a test starts, once the daemon consumes. */
#define WARM 10

/* The config: an http sink to @p url; @p brands NULL = no filter. */
static void write_config(rig_t *r, const char *url, const char *brands) {
        char filter[256] = "";

        if (brands)
                snprintf(filter, sizeof(filter),
                         "handler:\n  filter: {field: brand, contains_any: [%s]}\n", brands);
        free(r->cfg);
        r->cfg = fg_test_write(r->dir, "fg.yaml",
                               "kafka:\n  brokers: \"%s\"\n  group_id: reload\n  topics: [" TOPIC
                               "]\n"
                               "workers: {size: 4}\n"
                               "%s"
                               "sink:\n  type: http\n  url: \"%s\"\n  format: json_array\n"
                               "  batch: {max_messages: 50}\n"
                               "  retry: {initial_backoff: 50ms, max_backoff: 500ms, "
                               "max_attempts: 0}\n"
                               "metrics:\n  listen: \"127.0.0.1:0\"\n  log_interval: 0s\n",
                               r->bs, filter, url);
}

/* Starts the daemon on server a and waits until it consumes (the group
 * joined), so what a test produces next flows at once. */
static void rig_start(rig_t *r, const char *brands) {
        const char *args[4];

        memset(r, 0, sizeof(*r));
        r->dir = fg_test_tmpdir();
        r->log = fg_test_path(r->dir, "d.log");
        r->mock = fg_test_mock(1, TOPIC, PARTS);
        r->bs = fg_mock_bootstrap(r->mock);
        r->a = fg_test_httpd_start();
        r->b = fg_test_httpd_start();
        ck_assert(r->a && r->b);
        write_config(r, fg_test_httpd_url(r->a, "/a"), brands);
        args[0] = "run", args[1] = "-c", args[2] = r->cfg, args[3] = NULL;
        r->d = fg_test_spawn(r->log, args);
        r->port = fg_test_admin_port(r->log, 30000);
        ck_assert_int_gt(r->port, 0);
        /* brand acme: w-0 and w-5. */
        r->warm_ok = brands ? 2 : WARM;
        fg_test_produce(r->bs, TOPIC, "w", WARM, 0, 150);
        ck_assert(fg_test_httpd_wait_ids(r->a, "w", WARM, r->warm_ok, 60000));
}

static void rig_stop(rig_t *r) {
        fg_test_proc_signal(r->d, SIGTERM);
        ck_assert_int_eq(fg_test_proc_wait(r->d, 30000), 0);
        fg_test_proc_free(r->d);
        fg_test_httpd_stop(r->a);
        fg_test_httpd_stop(r->b);
        fg_mock_destroy(r->mock);
        fg_test_rmtree(r->dir);
        free(r->dir), free(r->log), free(r->cfg);
}

/* Occurrences of @p needle in the daemon's log. */
static int log_count(const rig_t *r, const char *needle) {
        char *text = fg_test_slurp(r->log, NULL);
        int n = 0;

        for (const char *p = text; p && (p = strstr(p, needle)); p += strlen(needle))
                n++;
        free(text);
        return n;
}

typedef struct count_cond {
        const rig_t *r;
        char needle[512];
        int want;
} count_cond_t;

static bool log_reached(void *opaque) {
        count_cond_t *c = opaque;
        return log_count(c->r, c->needle) >= c->want;
}

/* SIGHUP with the config as written, and waits until the daemon says it
 * applied it. */
static void reload(rig_t *r) {
        count_cond_t c = {.r = r, .want = ++r->reloads};

        snprintf(c.needle, sizeof(c.needle), "reload: %s applied", r->cfg);
        fg_test_proc_signal(r->d, SIGHUP);
        ck_assert_msg(fg_test_wait(log_reached, &c, 30000), "reload %d not applied", r->reloads);
}

#define M_OK "\nfloodgate_messages_processed_total{outcome=\"ok\"} "
#define M_FILTERED "\nfloodgate_messages_processed_total{outcome=\"filtered\"} "

typedef struct done_cond {
        int port;
        double want;
} done_cond_t;

/* Every event consumed has its final outcome: delivered or filtered. */
static bool all_done(void *opaque) {
        done_cond_t *c = opaque;
        double ok = fg_test_metric(c->port, M_OK), filtered = fg_test_metric(c->port, M_FILTERED);
        return ok >= 0 && filtered >= 0 && ok + filtered >= c->want;
}

/* The ids "<prefix>-<seq>" accepted by a and b together, per seq. */
static uint32_t *both(rig_t *r, const char *prefix, int64_t count, uint32_t **ta,
                      uint32_t **tb) {
        uint32_t *sum = calloc((size_t)count, sizeof(*sum));

        *ta = calloc((size_t)count, sizeof(**ta));
        *tb = calloc((size_t)count, sizeof(**tb));
        ck_assert(sum && *ta && *tb);
        fg_test_httpd_ids(r->a, prefix, count, *ta, NULL);
        fg_test_httpd_ids(r->b, prefix, count, *tb, NULL);
        for (int64_t i = 0; i < count; i++)
                sum[i] = (*ta)[i] + (*tb)[i];
        return sum;
}

/* A keyword added while the stream runs: events in flight across the
 * switch are each either filtered (old list) or delivered once (new
 * list); everything produced after the reload took effect follows the new
 * list exactly. */
START_TEST(test_reload_adds_keyword_mid_stream) {
        enum { N1 = 6000, N2 = 2000 };
        rig_t r;
        fg_test_producer_t *prod;
        done_cond_t dc;
        uint32_t *t1, *t2, *ta, *tb;
        int64_t acme1 = 0, globex1 = 0, globex1_sent = 0, sent = 0;
        double ok, filtered;

        rig_start(&r, "acme");
        prod = fg_test_produce_async(r.bs, TOPIC, "k1", N1, 3000, 150);
        ck_assert(fg_test_httpd_wait_ids(r.a, "k1", N1, 200, 60000));
        write_config(&r, fg_test_httpd_url(r.a, "/a"), "acme, globex");
        reload(&r);
        ck_assert(fg_test_file_contains(r.log, "reload: handler.filter.contains_any changed; "
                                               "applied"));
        fg_test_producer_join(prod);
        fg_test_produce(r.bs, TOPIC, "k2", N2, 0, 150);
        dc = (done_cond_t){r.port, WARM + N1 + N2};
        ck_assert_msg(fg_test_wait(all_done, &dc, 90000), "not every event reached an outcome");

        t1 = both(&r, "k1", N1, &ta, &tb);
        free(ta), free(tb);
        t2 = both(&r, "k2", N2, &ta, &tb);
        free(ta), free(tb);
        for (int64_t i = 0; i < N1; i++) {
                ck_assert_msg(t1[i] <= 1, "k1-%lld delivered %u times", (long long)i, t1[i]);
                if (i % 5 == 0)
                        ck_assert_msg(t1[i] == 1, "k1-%lld (acme) lost", (long long)i);
                else if (i % 5 != 1)
                        ck_assert_msg(t1[i] == 0, "k1-%lld passed a filter", (long long)i);
                acme1 += i % 5 == 0;
                globex1 += i % 5 == 1;
                globex1_sent += i % 5 == 1 && t1[i];
                sent += t1[i];
        }
        for (int64_t i = 0; i < N2; i++) {
                ck_assert_msg(t2[i] == (i % 5 <= 1), "k2-%lld delivered %u times (new list)",
                              (long long)i, t2[i]);
                sent += t2[i];
        }
        /* Each event once: delivered or filtered, never both, never twice. */
        ok = fg_test_metric(r.port, M_OK);
        filtered = fg_test_metric(r.port, M_FILTERED);
        ck_assert_int_eq((int64_t)ok, r.warm_ok + sent);
        ck_assert_int_eq((int64_t)(ok + filtered), WARM + N1 + N2);
        fprintf(stderr, "reload mid-stream: of %lld globex events in flight across the switch, "
                        "%lld filtered by the old list, %lld delivered by the new one\n",
                (long long)globex1, (long long)(globex1 - globex1_sent),
                (long long)globex1_sent);
        ck_assert_int_eq(acme1, N1 / 5);
        free(t1), free(t2);
        rig_stop(&r);
}
END_TEST

/* The sink's URL moves to another server under load: every id reaches
 * exactly one of the two; the breaker starts afresh; after the switch the
 * old server gets nothing more. */
START_TEST(test_reload_switches_url_under_load) {
        enum { N1 = 8000, N2 = 1000 };
        rig_t r;
        fg_test_producer_t *prod;
        uint32_t *t1, *t2, *ta, *tb;
        int64_t on_a = 0, on_b = 0;

        rig_start(&r, NULL);
        prod = fg_test_produce_async(r.bs, TOPIC, "u1", N1, 3000, 150);
        ck_assert(fg_test_httpd_wait_ids(r.a, "u1", N1, 1000, 60000));
        write_config(&r, fg_test_httpd_url(r.b, "/b"), NULL);
        reload(&r);
        ck_assert(fg_test_file_contains(r.log, "reload: sink.url changed; applied"));
        ck_assert(fg_test_file_contains(r.log, "breaker reset: sink changed"));
        fg_test_producer_join(prod);
        fg_test_produce(r.bs, TOPIC, "u2", N2, 0, 150);
        ck_assert(fg_test_httpd_wait_ids(r.b, "u2", N2, N2, 60000));

        t1 = both(&r, "u1", N1, &ta, &tb);
        for (int64_t i = 0; i < N1; i++) {
                ck_assert_msg(t1[i] == 1, "u1-%lld: %u times (a %u, b %u)", (long long)i, t1[i],
                              ta[i], tb[i]);
                on_a += ta[i];
                on_b += tb[i];
        }
        free(ta), free(tb);
        t2 = both(&r, "u2", N2, &ta, &tb);
        for (int64_t i = 0; i < N2; i++)
                ck_assert_msg(ta[i] == 0 && tb[i] == 1, "u2-%lld: a %u, b %u", (long long)i, ta[i],
                              tb[i]);
        fprintf(stderr, "url switch under load: %lld events to the first server, %lld to the "
                        "second, each once\n",
                (long long)on_a, (long long)on_b);
        ck_assert_int_ge(on_a, 1000);
        ck_assert_int_gt(on_b, 0); /* the switch came while u1 flowed */
        free(ta), free(tb), free(t1), free(t2);
        rig_stop(&r);
}
END_TEST

/* A reload to a sink that cannot be opened: the reason is logged, the old
 * sink keeps delivering, and a later reload still names the change. */
START_TEST(test_reload_unopenable_sink_keeps_old) {
        enum { N = 1000 };
        rig_t r;
        char *bad;
        count_cond_t cc;

        rig_start(&r, NULL);
        fg_test_produce(r.bs, TOPIC, "o1", N, 0, 150);
        ck_assert(fg_test_httpd_wait_ids(r.a, "o1", N, N, 60000));

        /* A file in a directory that does not exist. */
        bad = fg_test_path(r.dir, "missing/out.jsonl");
        free(r.cfg);
        r.cfg = fg_test_write(r.dir, "fg.yaml",
                              "kafka:\n  brokers: \"%s\"\n  group_id: reload\n  topics: [" TOPIC
                              "]\nworkers: {size: 4}\n"
                              "sink:\n  type: file\n  path: \"%s\"\n"
                              "metrics:\n  listen: \"127.0.0.1:0\"\n  log_interval: 0s\n",
                              r.bs, bad);
        reload(&r);
        ck_assert(fg_test_file_contains(r.log, "reload: default sink cannot be opened: "));
        ck_assert(fg_test_file_contains(r.log, "the running plan 1 keeps running"));
        ck_assert(fg_test_file_contains(r.log, "reload: sink.type changed; not applied"));

        fg_test_produce(r.bs, TOPIC, "o2", N, 0, 150);
        ck_assert_msg(fg_test_httpd_wait_ids(r.a, "o2", N, N, 60000), "the old sink stopped delivering");
        /* Still the old sink: the next reload tries the change again. */
        cc = (count_cond_t){.r = &r, .want = 2};
        snprintf(cc.needle, sizeof(cc.needle), "reload: default sink cannot be opened: ");
        reload(&r);
        ck_assert(fg_test_wait(log_reached, &cc, 1000));
        free(bad);
        rig_stop(&r);
}
END_TEST

/* 50 reloads during a burst, alternating the filter list and the sink
 * URL: every acme event arrives exactly once (at one of the servers),
 * every globex event at most once, and the daemon's counters account for
 * each event once. */
START_TEST(test_reload_fifty_times_during_a_burst) {
        enum { N = 20000, RELOADS = 50 };
        rig_t r;
        fg_test_producer_t *prod;
        done_cond_t dc;
        uint32_t *t, *ta, *tb;
        int64_t sent = 0, to_a = 0, to_b = 0, left;
        double ok, filtered;

        rig_start(&r, "acme");
        prod = fg_test_produce_async(r.bs, TOPIC, "f", N, 3000, 150);
        /* The reloads start once events flow. */
        ck_assert(fg_test_httpd_wait_ids(r.a, "f", N, 200, 60000));
        for (int i = 1; i <= RELOADS; i++) {
                /* Odd reloads flip the list, even ones the server. */
                bool to_b_now = (i / 2) % 2 == 1, wide = ((i + 1) / 2) % 2 == 1;
                write_config(&r, fg_test_httpd_url(to_b_now ? r.b : r.a, to_b_now ? "/b" : "/a"),
                             wide ? "acme, globex" : "acme");
                reload(&r);
                usleep(50 * 1000); /* spreads the reloads over the burst */
        }
        /* The burst was still on when the last reload was applied. */
        left = N - fg_test_producer_produced(prod);
        fg_test_producer_join(prod);
        dc = (done_cond_t){r.port, WARM + N};
        ck_assert_msg(fg_test_wait(all_done, &dc, 120000), "not every event reached an outcome");

        t = both(&r, "f", N, &ta, &tb);
        for (int64_t i = 0; i < N; i++) {
                ck_assert_msg(t[i] <= 1, "f-%lld: %u times (a %u, b %u)", (long long)i, t[i],
                              ta[i], tb[i]);
                if (i % 5 == 0)
                        ck_assert_msg(t[i] == 1, "f-%lld (acme) lost", (long long)i);
                else if (i % 5 != 1)
                        ck_assert_msg(t[i] == 0, "f-%lld passed the filter", (long long)i);
                sent += t[i];
                to_a += ta[i];
                to_b += tb[i];
        }
        ok = fg_test_metric(r.port, M_OK);
        filtered = fg_test_metric(r.port, M_FILTERED);
        ck_assert_int_eq((int64_t)ok, r.warm_ok + sent);
        ck_assert_int_eq((int64_t)(ok + filtered), WARM + N);
        fprintf(stderr, "50 reloads during a burst of %d: %lld delivered (%lld to a, %lld to b), "
                        "%.0f filtered, none lost or doubled; %d plans (start + reloads); %lld events "
                        "still to produce after the last reload\n",
                N, (long long)sent, (long long)to_a, (long long)to_b, filtered,
                log_count(&r, "target: one sink"), (long long)left);
        ck_assert_int_gt(to_a, 0);
        ck_assert_int_gt(to_b, 0);
        free(t), free(ta), free(tb);
        rig_stop(&r);
}
END_TEST

static Suite *reload_suite(void) {
        Suite *s = suite_create("reload");
        TCase *tc = tcase_create("live");

        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, test_reload_adds_keyword_mid_stream);
        tcase_add_test(tc, test_reload_switches_url_under_load);
        tcase_add_test(tc, test_reload_unopenable_sink_keeps_old);
        tcase_add_test(tc, test_reload_fifty_times_during_a_burst);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(reload_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
