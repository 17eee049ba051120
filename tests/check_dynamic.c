/*
 * check_dynamic: the dynamic worker pool end to end — the real daemon, a
 * mock Kafka cluster and the scriptable HTTP server, watched through
 * /stats ("workers") and /metrics:
 *   - a load step: idle at workers.min, then ~4000 events/s against a
 *     20 ms downstream: the pool grows within a few scale intervals, every
 *     id arrives, and once the load is gone it returns to min within about
 *     two idle_lingers;
 *   - a latency step (5 ms -> 50 ms): the concurrency limit reacts, then
 *     settles;
 *   - a downstream that takes at most 8 requests at once (503 beyond): the
 *     limit stays near 8 and every id still arrives;
 *   - live resizing: workers.size 4 -> 16 -> 2 by SIGHUP under load, seen
 *     in /metrics within 2 s each, then workers.mode to dynamic; no id
 *     missing and no error logged.
 *
 * Timing bounds are multiples of the configured intervals. The daemon ticks
 * once a second (daemon.c on_tick), and the pool reconsiders its size only
 * on a tick, so a scale interval below 1 s acts as 1 s: the bounds use
 * max(workers.scale_interval, 1 s) as "one interval". Every wait is a
 * polled condition with a bound; the samples taken while polling are
 * printed so a slow run can be told from a wrong one.
 *
 * Threading: the test thread; the producers and the HTTP server run their
 * own threads (support code).
 * Ownership: each test starts and stops its own cluster, server and daemon.
 */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "tests/support/fgtest.h"
#include "tests/support/httpd.h"

#define TOPIC "events"
#define TICK_MS 1000 /* the daemon's tick, which drives fg_pool_tick */

/* ---- the daemon's view ---- */

typedef struct wstats {
        char mode[16];
        int total, busy, target, min, max, limit;
        double rtt_ms;
        long long scale_ups, scale_downs;
        int assigned;
        long long ok;
} wstats_t;

/* GET /stats: false if the daemon did not answer or the JSON lacks a field. */
static bool get_stats(int port, wstats_t *ws) {
        char *body = NULL;
        json_t *root, *w, *in, *ctr;
        json_error_t err;
        bool ok = false;

        if (fg_test_http(port, "GET", "/stats", &body) != 200 || !body) {
                free(body);
                return false;
        }
        root = json_loads(body, 0, &err);
        free(body);
        if (!root)
                return false;
        w = json_object_get(root, "workers");
        in = json_object_get(root, "ingest");
        ctr = json_object_get(root, "counters");
        if (json_is_object(w) && json_is_object(in) && json_is_object(ctr)) {
                const char *mode = json_string_value(json_object_get(w, "mode"));
                snprintf(ws->mode, sizeof(ws->mode), "%s", mode ? mode : "?");
                ws->total = (int)json_integer_value(json_object_get(w, "total"));
                ws->busy = (int)json_integer_value(json_object_get(w, "busy"));
                ws->target = (int)json_integer_value(json_object_get(w, "target"));
                ws->min = (int)json_integer_value(json_object_get(w, "min"));
                ws->max = (int)json_integer_value(json_object_get(w, "max"));
                ws->limit = (int)json_integer_value(json_object_get(w, "concurrency_limit"));
                ws->rtt_ms = json_number_value(json_object_get(w, "rtt_ms"));
                ws->scale_ups = json_integer_value(json_object_get(w, "scale_ups"));
                ws->scale_downs = json_integer_value(json_object_get(w, "scale_downs"));
                ws->assigned = (int)json_integer_value(json_object_get(in, "assigned"));
                ws->ok = json_integer_value(json_object_get(ctr, "ok"));
                ok = json_object_get(w, "concurrency_limit") && json_object_get(w, "rtt_ms");
        }
        json_decref(root);
        return ok;
}

static void stats_or_fail(int port, wstats_t *ws) {
        ck_assert_msg(get_stats(port, ws), "GET /stats failed or lacks workers.*");
}

/* The value of the sample line "<name> <value>" in /metrics; NAN if absent. */
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

/* ---- conditions ---- */

typedef struct cond {
        int port;
        fg_test_httpd_t *h;
        const char *metric;
        double want;
        int64_t events;
} cond_t;

static bool assigned_and_min(void *opaque) {
        cond_t *c = opaque;
        wstats_t ws;
        return get_stats(c->port, &ws) && ws.assigned > 0 && ws.total == (int)c->want;
}

static bool metric_is(void *opaque) {
        cond_t *c = opaque;
        return get_metric(c->port, c->metric) == c->want;
}

static bool events_arrived(void *opaque) {
        cond_t *c = opaque;
        fg_test_httpd_stats_t st;
        fg_test_httpd_stats(c->h, &st);
        return st.events >= c->events;
}

/* ---- set-up ---- */

/* Writes (or rewrites) the daemon's config: HTTP json_array batches of 10
 * to @p h, the admin endpoints on an ephemeral port, and @p extra. */
static char *write_config(const char *dir, const char *bootstrap, const char *group,
                          fg_test_httpd_t *h, const char *extra) {
        return fg_test_write(dir, "fg.yaml",
                             "kafka:\n"
                             "  brokers: \"%s\"\n"
                             "  group_id: \"%s\"\n"
                             "  topics: [" TOPIC "]\n"
                             "sink:\n"
                             "  type: http\n"
                             "  url: \"%s\"\n"
                             "  format: json_array\n"
                             "  batch: {max_messages: 10}\n"
                             "  retry: {initial_backoff: 20ms, max_backoff: 200ms, "
                             "max_attempts: 0, max_elapsed: 0}\n"
                             "metrics:\n"
                             "  listen: \"127.0.0.1:0\"\n"
                             "  log_interval: 1s\n"
                             "%s",
                             bootstrap, group, fg_test_httpd_url(h, "/"), extra);
}

typedef struct rig {
        char *dir, *log, *cfg;
        fg_mock_t *mock;
        const char *bs;
        fg_test_httpd_t *h;
        fg_test_proc_t *d;
        int port;
} rig_t;

static void rig_start(rig_t *r, const char *group, int latency_ms, const char *extra) {
        const char *args[4];

        memset(r, 0, sizeof(*r));
        r->dir = fg_test_tmpdir();
        r->log = fg_test_path(r->dir, "d.log");
        r->mock = fg_test_mock(1, TOPIC, 8);
        r->bs = fg_mock_bootstrap(r->mock);
        r->h = fg_test_httpd_start();
        ck_assert(r->h != NULL);
        fg_test_httpd_keep_log(r->h, true);
        fg_test_httpd_latency(r->h, latency_ms);
        r->cfg = write_config(r->dir, r->bs, group, r->h, extra);
        args[0] = "run", args[1] = "-c", args[2] = r->cfg, args[3] = NULL;
        r->d = fg_test_spawn(r->log, args);
        r->port = fg_test_admin_port(r->log, 30000);
        ck_assert_msg(r->port > 0, "the daemon never served its admin endpoints");
}

/* Dumps the log when the test is about to fail (called before asserting). */
static void dump_log(const rig_t *r) {
        char *s = fg_test_slurp(r->log, NULL);
        fprintf(stderr, "---- %s ----\n%s\n----\n", r->log, s ? s : "");
        free(s);
}

/* SIGTERM and a clean exit. */
static void rig_shutdown(rig_t *r) {
        int rc;

        fg_test_proc_signal(r->d, SIGTERM);
        rc = fg_test_proc_wait(r->d, 60000);
        if (rc != 0)
                dump_log(r);
        ck_assert_int_eq(rc, 0);
}

static void rig_free(rig_t *r) {
        if (getenv("FG_TEST_VERBOSE"))
                dump_log(r);
        fg_test_proc_free(r->d);
        fg_test_httpd_stop(r->h);
        fg_mock_destroy(r->mock);
        fg_test_rmtree(r->dir);
        free(r->dir), free(r->log), free(r->cfg);
}

static void rig_stop(rig_t *r) {
        rig_shutdown(r);
        rig_free(r);
}

/* Lines logged at @p level ("error", "warn "), each printed. */
static int log_lines_at(const char *log, const char *level) {
        char *s = fg_test_slurp(log, NULL), *line, *save = NULL, needle[16];
        int n = 0;

        snprintf(needle, sizeof(needle), "Z %s ", level);
        for (line = s ? strtok_r(s, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save))
                if (strstr(line, needle)) {
                        fprintf(stderr, "logged: %s\n", line);
                        n++;
                }
        free(s);
        return n;
}

static void pause_ms(int ms) {
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000 * 1000};
        nanosleep(&ts, NULL);
}

/* Ids "<prefix>-<seq>" (0 <= seq < count) in the bodies the server
 * accepted (2xx): rejected requests (503 from its concurrency limit) are
 * logged too, but their events were not delivered. */
typedef struct accepted {
        int64_t distinct, dups, requests;
} accepted_t;

static void accepted_ids(fg_test_httpd_t *h, const char *prefix, int64_t count, accepted_t *a) {
        fg_test_httpd_log_t *hl = fg_test_httpd_snapshot(h, 0);
        uint8_t *seen = calloc((size_t)count, 1);
        char key[64];
        size_t klen;

        ck_assert(hl && seen);
        klen = (size_t)snprintf(key, sizeof(key), "\"id\":\"%s-", prefix);
        memset(a, 0, sizeof(*a));
        for (size_t i = 0; i < hl->n; i++) {
                const char *p = hl->reqs[i].body, *end = p + hl->reqs[i].body_len;
                if (hl->reqs[i].status < 200 || hl->reqs[i].status > 299)
                        continue;
                a->requests++;
                while (p && p < end && (p = memmem(p, (size_t)(end - p), key, klen))) {
                        char *q;
                        long long seq = strtoll(p + klen, &q, 10);
                        p += klen;
                        if (q == p || *q != '"' || seq < 0 || seq >= count)
                                continue;
                        if (seen[seq])
                                a->dups++;
                        else
                                a->distinct++;
                        seen[seq] = 1;
                }
        }
        free(seen);
        fg_test_httpd_log_free(hl);
}

/* Waits until every id "<prefix>-<seq>" below @p count has arrived (a
 * cheap count first, then the exact one); returns the ids seen. */
static int64_t wait_all_ids(rig_t *r, const char *prefix, int64_t count, int timeout_ms) {
        cond_t c = {.h = r->h, .events = count};
        accepted_t a;
        int64_t until = fg_mono_ns() + (int64_t)timeout_ms * FG_NS_PER_MS;

        fg_test_wait(events_arrived, &c, timeout_ms); /* cheap, counts rejected bodies too */
        for (;;) {
                accepted_ids(r->h, prefix, count, &a);
                if (a.distinct >= count || fg_mono_ns() >= until)
                        break;
                pause_ms(200);
        }
        fprintf(stderr, "%s: %lld of %lld ids accepted, %lld duplicates, in %lld requests\n",
                prefix, (long long)a.distinct, (long long)count, (long long)a.dups,
                (long long)a.requests);
        return a.distinct;
}

static double secs_since(int64_t t0) { return (double)(fg_mono_ns() - t0) / 1e9; }

/* ---- tests ---- */

/* Idle at min 1; ~4000 events/s for ~8 s against 20 ms: Little's law says
 * 4000 x 0.02 / 10 x 1.25 = 10 threads. The pool reaches 6 within 4
 * intervals of the load's start; after the load it is back to 1 within
 * 2 x idle_linger and two intervals. */
START_TEST(test_dynamic_load_step) {
        const int64_t count = 32000, rate = 4000;
        const int interval_ms = 1000, linger_ms = 2000;
        const int eff_ms = interval_ms > TICK_MS ? interval_ms : TICK_MS;
        rig_t r;
        cond_t c;
        wstats_t ws;
        fg_test_producer_t *prod;
        int64_t t_load, t_stop, seen;
        double t_six = -1, t_min = -1;
        int peak = 0, peak_limit = 0;

        rig_start(&r, "dyn-load", 20,
                  "workers:\n  mode: dynamic\n  min: 1\n  max: 32\n"
                  "  scale_interval: 1s\n  idle_linger: 2s\n");
        c = (cond_t){.port = r.port, .want = 1};
        ck_assert_msg(fg_test_wait(assigned_and_min, &c, 30000),
                      "never idle at min with partitions");
        stats_or_fail(r.port, &ws);
        ck_assert_str_eq(ws.mode, "dynamic");
        ck_assert_int_eq(ws.min, 1);
        ck_assert_int_eq(ws.max, 32);
        ck_assert_int_eq(ws.scale_ups, 0);

        t_load = fg_mono_ns();
        prod = fg_test_produce_async(r.bs, TOPIC, "step", count, rate, 150);
        /* Growing: sampled every 100 ms while the load lasts. */
        while (secs_since(t_load) < 30) {
                fg_test_httpd_stats_t hs;
                stats_or_fail(r.port, &ws);
                if (ws.total > peak)
                        peak = ws.total;
                if (ws.limit > peak_limit)
                        peak_limit = ws.limit;
                if (t_six < 0 && ws.total >= 6) {
                        t_six = secs_since(t_load);
                        fprintf(stderr, "load step: %d workers (target %d, limit %d) %.2f s into "
                                        "the load\n",
                                ws.total, ws.target, ws.limit, t_six);
                }
                fg_test_httpd_stats(r.h, &hs);
                if (hs.events >= count)
                        break;
                pause_ms(100);
        }
        fg_test_producer_join(prod);
        seen = wait_all_ids(&r, "step", count, 60000);
        t_stop = fg_mono_ns();
        stats_or_fail(r.port, &ws);
        fprintf(stderr,
                "load step: peak %d workers, peak limit %d, rtt %.1f ms, %lld scale-ups; load "
                "over %.1f s after it began\n",
                peak, peak_limit, ws.rtt_ms, ws.scale_ups, (double)(t_stop - t_load) / 1e9);

        /* The same through /metrics. */
        ck_assert_msg(get_metric(r.port, "floodgate_sink_concurrency_limit") == ws.limit,
                      "/metrics and /stats disagree on the limit");
        ck_assert(get_metric(r.port, "floodgate_sink_rtt_seconds") > 0.015 &&
                  get_metric(r.port, "floodgate_sink_rtt_seconds") < 0.1);
        ck_assert(get_metric(r.port, "floodgate_workers_scale_ups_total") == ws.scale_ups);
        ck_assert(get_metric(r.port, "floodgate_workers_max") == 32);

        /* Back to min once idle: sampled every 100 ms. */
        while (secs_since(t_stop) < 30) {
                stats_or_fail(r.port, &ws);
                if (ws.total == 1) {
                        t_min = secs_since(t_stop);
                        break;
                }
                pause_ms(100);
        }
        fprintf(stderr, "load step: back to %d worker(s) %.2f s after the load; %lld scale-downs\n",
                ws.total, t_min, ws.scale_downs);

        if (seen != count || t_six < 0 || t_min < 0)
                dump_log(&r);
        ck_assert_int_eq(seen, count);
        ck_assert_msg(t_six >= 0, "never 6 workers (peak %d)", peak);
        ck_assert_msg(t_six * 1000 <= 4 * eff_ms, "6 workers only %.2f s into the load", t_six);
        ck_assert_msg(t_min >= 0, "not back to min 30 s after the load (%d workers)", ws.total);
        ck_assert_msg(t_min * 1000 <= 2 * linger_ms + 2 * eff_ms,
                      "back to min only %.2f s after the load", t_min);
        ck_assert_int_gt(ws.scale_ups, 0);
        ck_assert_int_gt(ws.scale_downs, 0);
        ck_assert(fg_test_file_contains(r.log, "workers: 1 -> "));
        rig_stop(&r);
}
END_TEST

/* Steady load at 5 ms, then 50 ms: the limit moves (down, or at least its
 * RTT estimate climbs past 30 ms) within a few seconds and then settles. */
START_TEST(test_dynamic_latency_step) {
        const int64_t count = 40000, rate = 2000;
        rig_t r;
        cond_t c;
        wstats_t ws, base;
        fg_test_producer_t *prod;
        int64_t t_step;
        double t_react = -1, t_caught = -1;
        int lo = 1 << 30, hi = 0, n = 1, low_after = 1 << 30;
        double sum = 0;

        rig_start(&r, "dyn-lat", 5,
                  "workers:\n  mode: dynamic\n  min: 1\n  max: 32\n"
                  "  scale_interval: 1s\n  idle_linger: 2s\n");
        c = (cond_t){.port = r.port, .want = 1};
        ck_assert(fg_test_wait(assigned_and_min, &c, 30000));
        prod = fg_test_produce_async(r.bs, TOPIC, "lat", count, rate, 150);
        /* 4 s at 5 ms: the limit has had hundreds of windows. */
        pause_ms(4000); /* a measurement period, not a synchronisation */
        stats_or_fail(r.port, &base);
        fprintf(stderr, "latency step: at 5 ms: %d workers, limit %d, rtt %.2f ms\n", base.total,
                base.limit, base.rtt_ms);
        ck_assert_msg(base.rtt_ms > 0 && base.rtt_ms < 30, "rtt %.2f ms at 5 ms", base.rtt_ms);

        fg_test_httpd_latency(r.h, 50);
        t_step = fg_mono_ns();
        while (secs_since(t_step) < 10) {
                stats_or_fail(r.port, &ws);
                if (ws.limit < low_after)
                        low_after = ws.limit;
                if (t_react < 0 && (ws.limit < base.limit || ws.rtt_ms > 30))
                        t_react = secs_since(t_step);
                if (t_caught < 0 && ws.rtt_ms > 45)
                        t_caught = secs_since(t_step);
                if (t_react >= 0 && t_caught >= 0)
                        break;
                pause_ms(100);
        }
        fprintf(stderr,
                "latency step: reacted %.2f s after the step (lowest limit %d), rtt past 45 ms "
                "after %.2f s\n",
                t_react, low_after, t_caught);
        ck_assert_msg(t_react >= 0 && t_react < 5, "no reaction within 5 s");
        ck_assert_msg(t_caught >= 0, "the RTT estimate never caught up with 50 ms");

        /* Then it settles: after the cut it climbs back one step per
         * window it is reached in, and stops. Wanted: a stretch of 3 s
         * (12 samples, 250 ms apart) within a band of max(3, 25%), within
         * 15 s of the step. */
        {
                int ring[12], k = 0;
                while (secs_since(t_step) < 15) {
                        stats_or_fail(r.port, &ws);
                        ring[k % 12] = ws.limit;
                        if (++k >= 12) {
                                lo = 1 << 30, hi = 0, sum = 0;
                                for (int i = 0; i < 12; i++) {
                                        lo = ring[i] < lo ? ring[i] : lo;
                                        hi = ring[i] > hi ? ring[i] : hi;
                                        sum += ring[i];
                                }
                                if (hi - lo <= (hi / 4 > 3 ? hi / 4 : 3))
                                        break;
                        }
                        pause_ms(250);
                }
                n = k < 12 ? k : 12;
        }
        fprintf(stderr,
                "latency step: %.2f s after the step the limit was in [%d, %d] (mean %.1f) for "
                "3 s; %d workers, rtt %.2f ms\n",
                secs_since(t_step), lo, hi, sum / n, ws.total, ws.rtt_ms);
        ck_assert_msg(hi - lo <= (hi / 4 > 3 ? hi / 4 : 3), "limit still moving 15 s after the "
                      "step: [%d, %d]", lo, hi);
        ck_assert(ws.rtt_ms > 40 && ws.rtt_ms < 80);

        fg_test_producer_join(prod);
        ck_assert_int_eq(wait_all_ids(&r, "lat", count, 90000), count);
        rig_stop(&r);
}
END_TEST

/* At most 8 requests at once, 503 beyond, and a load wanting ~20 (4000/s x
 * 50 ms / 10): the limit saws around 8 and every id arrives through the
 * retries. The breaker is off: this is the limit's job alone. */
START_TEST(test_dynamic_concurrency_cap) {
        const int64_t count = 24000, rate = 4000;
        rig_t r;
        cond_t c;
        wstats_t ws;
        fg_test_producer_t *prod;
        fg_test_httpd_stats_t hs;
        int64_t t_load;
        int n = 0, inside = 0, lo = 1 << 30, hi = 0, peak_workers = 0;
        double sum = 0;

        rig_start(&r, "dyn-cap", 50,
                  "workers:\n  mode: dynamic\n  min: 1\n  max: 32\n"
                  "  scale_interval: 1s\n  idle_linger: 2s\n"
                  "breaker:\n  enabled: false\n");
        fg_test_httpd_max_concurrency(r.h, 8, 503);
        c = (cond_t){.port = r.port, .want = 1};
        ck_assert(fg_test_wait(assigned_and_min, &c, 30000));
        t_load = fg_mono_ns();
        prod = fg_test_produce_async(r.bs, TOPIC, "cap", count, rate, 150);
        /* 3 s to climb to the cap, then samples every 100 ms while the
         * load lasts. */
        pause_ms(3000);
        while (secs_since(t_load) < 60) {
                stats_or_fail(r.port, &ws);
                fg_test_httpd_stats(r.h, &hs);
                if (hs.events >= count)
                        break;
                n++;
                sum += ws.limit;
                inside += ws.limit >= 5 && ws.limit <= 12;
                if (ws.limit < lo)
                        lo = ws.limit;
                if (ws.limit > hi)
                        hi = ws.limit;
                if (ws.total > peak_workers)
                        peak_workers = ws.total;
                pause_ms(100);
        }
        fg_test_producer_join(prod);
        fg_test_httpd_stats(r.h, &hs);
        fprintf(stderr,
                "concurrency cap: limit in [%d, %d], mean %.1f, %d of %d samples in [5, 12]; up "
                "to %d workers; server peak %lld in flight, %lld rejected of %lld requests\n",
                lo, hi, n ? sum / n : 0, inside, n, peak_workers, (long long)hs.peak_inflight,
                (long long)hs.rejected, (long long)hs.requests);
        ck_assert_int_ge(n, 5);
        ck_assert_msg(inside * 10 >= n * 8, "limit outside [5, 12] in %d of %d samples", n - inside,
                      n);
        ck_assert_int_le(hs.peak_inflight, 8);
        ck_assert_int_gt(hs.rejected, 0); /* the cap was really tested */
        ck_assert_int_eq(wait_all_ids(&r, "cap", count, 90000), count);
        rig_stop(&r);
}
END_TEST

/* workers.mode fixed, 4 -> 16 -> 2, then dynamic [3, 8], by SIGHUP while
 * events flow: /metrics follows within 2 s each time, no id goes missing,
 * nothing is logged at error level. */
START_TEST(test_dynamic_live_resize) {
        const int64_t count = 30000, rate = 3000;
        rig_t r;
        cond_t c;
        fg_test_producer_t *prod;
        int64_t t;
        double t16 = -1, t2 = -1, tdyn = -1;
        bool got16, got2, gotdyn;
        int dyn_peak = 0;

        rig_start(&r, "dyn-resize", 20, "workers:\n  mode: fixed\n  size: 4\n");
        c = (cond_t){.port = r.port, .want = 4};
        ck_assert(fg_test_wait(assigned_and_min, &c, 30000));
        ck_assert(get_metric(r.port, "floodgate_workers") == 4);
        ck_assert(get_metric(r.port, "floodgate_sink_concurrency_limit") == 0);
        prod = fg_test_produce_async(r.bs, TOPIC, "rs", count, rate, 150);
        c = (cond_t){.h = r.h, .events = 2000};
        ck_assert(fg_test_wait(events_arrived, &c, 30000)); /* under load */

        free(write_config(r.dir, r.bs, "dyn-resize", r.h, "workers:\n  mode: fixed\n  size: 16\n"));
        t = fg_mono_ns();
        fg_test_proc_signal(r.d, SIGHUP);
        c = (cond_t){.port = r.port, .metric = "floodgate_workers", .want = 16};
        got16 = fg_test_wait(metric_is, &c, 2000);
        t16 = secs_since(t);
        ck_assert(get_metric(r.port, "floodgate_workers_max") == 16);

        free(write_config(r.dir, r.bs, "dyn-resize", r.h, "workers:\n  mode: fixed\n  size: 2\n"));
        t = fg_mono_ns();
        fg_test_proc_signal(r.d, SIGHUP);
        c = (cond_t){.port = r.port, .metric = "floodgate_workers", .want = 2};
        got2 = fg_test_wait(metric_is, &c, 2000);
        t2 = secs_since(t);

        /* And the mode itself: dynamic between 3 and 8, still under load. */
        free(write_config(r.dir, r.bs, "dyn-resize", r.h,
                          "workers:\n  mode: dynamic\n  min: 3\n  max: 8\n"
                          "  scale_interval: 1s\n  idle_linger: 2s\n"));
        t = fg_mono_ns();
        fg_test_proc_signal(r.d, SIGHUP);
        c = (cond_t){.port = r.port, .metric = "floodgate_workers_min", .want = 3};
        gotdyn = fg_test_wait(metric_is, &c, 2000);
        tdyn = secs_since(t);
        fprintf(stderr,
                "live resize: 16 workers after %.2f s, 2 after %.2f s, dynamic after %.2f s\n",
                t16, t2, tdyn);
        while (gotdyn && secs_since(t) < 3) { /* within the new bounds, sampled */
                wstats_t ws;
                stats_or_fail(r.port, &ws);
                ck_assert_str_eq(ws.mode, "dynamic");
                ck_assert_msg(ws.total >= 2 && ws.total <= 8, "%d workers", ws.total);
                if (secs_since(t) > 1)
                        ck_assert_int_ge(ws.total, 3);
                if (ws.total > dyn_peak)
                        dyn_peak = ws.total;
                pause_ms(100);
        }

        fg_test_producer_join(prod);
        if (!got16 || !got2 || !gotdyn)
                dump_log(&r);
        ck_assert_msg(got16, "floodgate_workers not 16 within 2 s of SIGHUP");
        ck_assert_msg(got2, "floodgate_workers not 2 within 2 s of SIGHUP (%g)",
                      get_metric(r.port, "floodgate_workers"));
        ck_assert_msg(gotdyn, "not dynamic within 2 s of SIGHUP");
        ck_assert_int_eq(wait_all_ids(&r, "rs", count, 90000), count);
        ck_assert(get_metric(r.port, "floodgate_sink_concurrency_limit") >= 1);
        fprintf(stderr, "live resize: up to %d workers while dynamic [3, 8]\n", dyn_peak);
        ck_assert(fg_test_file_contains(r.log, "reload: workers.size changed; applied"));
        ck_assert(fg_test_file_contains(r.log, "reload: workers.mode changed; applied"));
        ck_assert(fg_test_file_contains(r.log, "mode changed"));
        rig_shutdown(&r);
        ck_assert_int_eq(log_lines_at(r.log, "error"), 0);
        rig_free(&r);
}
END_TEST

static Suite *dynamic_suite(void) {
        Suite *s = suite_create("dynamic");
        TCase *tc = tcase_create("e2e");

        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, test_dynamic_load_step);
        tcase_add_test(tc, test_dynamic_latency_step);
        tcase_add_test(tc, test_dynamic_concurrency_cap);
        tcase_add_test(tc, test_dynamic_live_resize);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(dynamic_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
