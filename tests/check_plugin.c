/*
 * check_plugin: the plugin sink and the example plugin.
 *
 * Unit tests load plugins through fg_sink_new with a hand-built config:
 * the example plugin keeps every line intact under eight concurrent
 * connections (run it under TSan too); fail_every yields RETRY then OK on
 * the retry; reject_containing and multi-line values yield REJECT with a
 * reason; a write cut short leaves only whole lines and fails just the
 * events it did not write; reopen after renaming the file starts a fresh
 * one at the configured path; the plugin's host->log lines reach stderr.
 * Against the loader: a plugin's invalid or missing statuses become RETRY;
 * a BACKPRESSURE hint is passed through, capped, negatives ignored; a
 * descriptor from before reopen existed is used without reading past it;
 * and each way of failing to load (no file, no entry point, wrong ABI,
 * struct_size too small, missing callbacks, init failure) fails
 * fg_sink_new with its own message.
 * The end-to-end test runs the real daemon with sink.type plugin against a
 * mock cluster the test starts.
 *
 * Plugins come from FLOODGATE_PLUGIN_DIR (the Makefile's $(BUILD)/plugins).
 */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "sinks/floodgate_plugin.h"
#include "sinks/sink.h"
#include "tests/support/fgtest.h"

#define TOPIC "events"

/* ---- helpers ---- */

static char *plugin_path(const char *name) {
        const char *dir = getenv("FLOODGATE_PLUGIN_DIR");
        char *p;

        ck_assert_msg(dir != NULL, "FLOODGATE_PLUGIN_DIR is not set (run through make test)");
        ck_assert(asprintf(&p, "%s/%s.so", dir, name) > 0);
        return p;
}

/* A plugin-sink config; @p kv is a NULL-terminated key, value, ... list
 * for sink.plugin.config. Free with cfg_free(). */
static fg_config_t *cfg_new(const char *plugin, const char *const *kv) {
        fg_config_t *cfg = calloc(1, sizeof(*cfg));
        size_t n = 0;

        ck_assert_ptr_nonnull(cfg);
        while (kv && kv[2 * n])
                n++;
        cfg->sink.type = FG_SINK_PLUGIN;
        cfg->sink.plugin_path = plugin_path(plugin);
        cfg->sink.plugin_config.keys = calloc(n + 1, sizeof(char *));
        cfg->sink.plugin_config.values = calloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
                cfg->sink.plugin_config.keys[i] = strdup(kv[2 * i]);
                cfg->sink.plugin_config.values[i] = strdup(kv[2 * i + 1]);
        }
        cfg->sink.plugin_config.n = n;
        return cfg;
}

static void cfg_free(fg_config_t *cfg) {
        for (size_t i = 0; i < cfg->sink.plugin_config.n; i++) {
                free(cfg->sink.plugin_config.keys[i]);
                free(cfg->sink.plugin_config.values[i]);
        }
        free(cfg->sink.plugin_config.keys);
        free(cfg->sink.plugin_config.values);
        free(cfg->sink.plugin_path);
        free(cfg);
}

static fg_sink_t *sink_new_ok(const fg_config_t *cfg) {
        char errstr[512] = "";
        fg_sink_t *sink = fg_sink_new(&cfg->sink, &(fg_sink_env_t){NULL}, errstr, sizeof(errstr));

        ck_assert_msg(sink != NULL, "fg_sink_new: %s", errstr);
        ck_assert_str_eq(fg_sink_name(sink), "plugin");
        return sink;
}

static fg_sink_conn_t *open_ok(fg_sink_t *sink) {
        char errstr[512] = "";
        fg_sink_conn_t *conn = fg_sink_open(sink, errstr, sizeof(errstr));

        ck_assert_msg(conn != NULL, "fg_sink_open: %s", errstr);
        return conn;
}

/* fg_sink_new must fail with exactly @p want. */
static void expect_new_fails(const fg_config_t *cfg, const char *want) {
        char errstr[512] = "";

        ck_assert_ptr_null(fg_sink_new(&cfg->sink, &(fg_sink_env_t){NULL}, errstr, sizeof(errstr)));
        ck_assert_str_eq(errstr, want);
}

static fg_event_t event(const char *value, int64_t offset) {
        return (fg_event_t){.topic = TOPIC,
                            .partition = 0,
                            .offset = offset,
                            .ts_ms = -1,
                            .value = value,
                            .len = strlen(value)};
}

/* ---- the example plugin ---- */

#define MT_THREADS 8
#define MT_PER_THREAD 3000
#define MT_BATCH 50

/* The value of event @p seq: its id plus padding of varying length, so a
 * torn or interleaved line cannot look whole. */
static int mt_value(char *buf, size_t size, int64_t seq) {
        return snprintf(buf, size, "{\"id\":\"mt-%lld\",\"pad\":\"%.*s\"}", (long long)seq,
                        (int)(seq % 251), "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
                                          "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
                                          "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
                                          "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
                                          "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz");
}

typedef struct mt_arg {
        fg_sink_conn_t *conn;
        int64_t first;
        int64_t not_ok;
} mt_arg_t;

static void *mt_main(void *opaque) {
        mt_arg_t *a = opaque;
        char vals[MT_BATCH][512];
        fg_event_t evs[MT_BATCH];
        fg_sink_result_t res[MT_BATCH];

        for (int64_t done = 0; done < MT_PER_THREAD; done += MT_BATCH) {
                for (int k = 0; k < MT_BATCH; k++) {
                        int64_t seq = a->first + done + k;
                        mt_value(vals[k], sizeof(vals[k]), seq);
                        evs[k] = event(vals[k], seq);
                        evs[k].partition = (int32_t)(a->first / MT_PER_THREAD);
                }
                fg_sink_send(a->conn, evs, MT_BATCH, res);
                for (int k = 0; k < MT_BATCH; k++)
                        a->not_ok += res[k].status != FG_SINK_OK;
        }
        return NULL;
}

START_TEST(test_plugin_concurrent_lines_intact) {
        const int64_t total = (int64_t)MT_THREADS * MT_PER_THREAD;
        char *dir = fg_test_tmpdir(), *out = fg_test_path(dir, "out.jsonl");
        const char *kv[] = {"path", out, NULL};
        fg_config_t *cfg = cfg_new("example_plugin", kv);
        fg_sink_t *sink = sink_new_ok(cfg);
        pthread_t thr[MT_THREADS];
        mt_arg_t args[MT_THREADS];
        fg_test_seen_t seen;
        char *text, *line, *save = NULL, want[512];
        size_t len;
        int64_t checked = 0;

        /* Opened here, as the pool does, then used by one thread each. */
        for (int t = 0; t < MT_THREADS; t++)
                args[t] = (mt_arg_t){.conn = open_ok(sink), .first = (int64_t)t * MT_PER_THREAD};
        for (int t = 0; t < MT_THREADS; t++)
                ck_assert_int_eq(pthread_create(&thr[t], NULL, mt_main, &args[t]), 0);
        for (int t = 0; t < MT_THREADS; t++) {
                pthread_join(thr[t], NULL);
                ck_assert_int_eq(args[t].not_ok, 0);
                fg_sink_close(args[t].conn);
        }
        fg_sink_destroy(sink);

        fg_test_seen_scan(&seen, out, "mt", total);
        ck_assert_int_eq(seen.lines, total);
        ck_assert_int_eq(seen.missing, 0);
        ck_assert_int_eq(seen.dups, 0);
        ck_assert_int_eq(seen.foreign, 0);
        fg_test_seen_free(&seen);

        /* Every line is exactly the value sent, byte for byte. */
        text = fg_test_slurp(out, &len);
        ck_assert(len > 0 && text[len - 1] == '\n');
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                long long seq = -1;
                ck_assert_int_eq(sscanf(line, "{\"id\":\"mt-%lld\"", &seq), 1);
                mt_value(want, sizeof(want), seq);
                ck_assert_str_eq(line, want);
                checked++;
        }
        ck_assert_int_eq(checked, total);

        free(text);
        cfg_free(cfg);
        fg_test_rmtree(dir);
        free(dir), free(out);
}
END_TEST

START_TEST(test_plugin_fail_every_retries_once) {
        char *dir = fg_test_tmpdir(), *out = fg_test_path(dir, "out.jsonl");
        const char *kv[] = {"path", out, "fail_every", "3", NULL};
        fg_config_t *cfg = cfg_new("example_plugin", kv);
        fg_sink_t *sink = sink_new_ok(cfg);
        fg_sink_conn_t *conn = open_ok(sink);
        char vals[9][32];
        fg_event_t evs[9], again[3];
        fg_sink_result_t res[9];
        size_t nagain = 0;
        fg_test_seen_t seen;

        for (int i = 0; i < 9; i++) {
                snprintf(vals[i], sizeof(vals[i]), "{\"id\":\"fe-%d\"}", i);
                evs[i] = event(vals[i], 100 + i);
        }
        fg_sink_send(conn, evs, 9, res);
        for (int i = 0; i < 9; i++) {
                if (i % 3 == 2) {
                        ck_assert_int_eq(res[i].status, FG_SINK_RETRY);
                        ck_assert_str_eq(res[i].reason, "simulated failure (fail_every)");
                        again[nagain++] = evs[i];
                } else {
                        ck_assert_int_eq(res[i].status, FG_SINK_OK);
                }
        }
        ck_assert_uint_eq(fg_test_count_lines(out), 6);

        /* The retries succeed: each event fails only once. */
        fg_sink_send(conn, again, nagain, res);
        for (size_t i = 0; i < nagain; i++)
                ck_assert_int_eq(res[i].status, FG_SINK_OK);

        fg_sink_close(conn);
        fg_sink_destroy(sink);
        fg_test_seen_scan(&seen, out, "fe", 9);
        ck_assert_int_eq(seen.missing, 0);
        ck_assert_int_eq(seen.dups, 0);
        ck_assert_int_eq(seen.lines, 9);
        fg_test_seen_free(&seen);
        cfg_free(cfg);
        fg_test_rmtree(dir);
        free(dir), free(out);
}
END_TEST

START_TEST(test_plugin_reject_with_reason) {
        char *dir = fg_test_tmpdir(), *out = fg_test_path(dir, "out.jsonl");
        const char *kv[] = {"path", out, "reject_containing", "poison", NULL};
        fg_config_t *cfg = cfg_new("example_plugin", kv);
        fg_sink_t *sink = sink_new_ok(cfg);
        fg_sink_conn_t *conn = open_ok(sink);
        fg_event_t evs[4] = {event("{\"id\":\"rj-0\"}", 1), event("{\"id\":\"rj-1\",\"x\":\"poison\"}", 2),
                             event("{\"id\":\"rj-2\",\n\"y\":1}", 3), event("{\"id\":\"rj-3\"}", 4)};
        fg_sink_result_t res[4];
        char *text;

        fg_sink_send(conn, evs, 4, res);
        ck_assert_int_eq(res[0].status, FG_SINK_OK);
        ck_assert_int_eq(res[1].status, FG_SINK_REJECT);
        ck_assert_str_eq(res[1].reason, "value contains \"poison\"");
        ck_assert_int_eq(res[2].status, FG_SINK_REJECT);
        ck_assert_str_eq(res[2].reason, "value is empty or spans lines; cannot be one JSON line");
        ck_assert_int_eq(res[3].status, FG_SINK_OK);

        fg_sink_close(conn);
        fg_sink_destroy(sink);
        text = fg_test_slurp(out, NULL);
        ck_assert_str_eq(text, "{\"id\":\"rj-0\"}\n{\"id\":\"rj-3\"}\n");
        free(text);
        cfg_free(cfg);
        fg_test_rmtree(dir);
        free(dir), free(out);
}
END_TEST

/* A write cut short (RLIMIT_FSIZE: a short count, then EFBIG) leaves the
 * file with whole lines only: the events whose lines were written whole are
 * OK, the rest RETRY with the write error, and their retry completes the
 * file without fragments or duplicates. */
START_TEST(test_plugin_cut_write_keeps_whole_lines) {
        char *dir = fg_test_tmpdir(), *out = fg_test_path(dir, "out.jsonl");
        const char *kv[] = {"path", out, NULL};
        fg_config_t *cfg = cfg_new("example_plugin", kv);
        fg_sink_t *sink = sink_new_ok(cfg);
        fg_sink_conn_t *conn = open_ok(sink);
        struct sigaction ign = {.sa_handler = SIG_IGN};
        struct rlimit saved, rl;
        char vals[10][48], *text;
        fg_event_t evs[10];
        fg_sink_result_t res[10];
        fg_test_seen_t seen;

        for (int i = 0; i < 10; i++) {
                /* 29 bytes + newline: three lines fit in 100 bytes, the fourth is cut. */
                snprintf(vals[i], sizeof(vals[i]), "{\"id\":\"cw-%d\",\"p\":\"abcdefghi\"}", i);
                ck_assert_uint_eq(strlen(vals[i]), 29);
                evs[i] = event(vals[i], i);
        }
        ck_assert_int_eq(sigaction(SIGXFSZ, &ign, NULL), 0);
        ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
        rl = saved;
        rl.rlim_cur = 100;
        ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
        fg_sink_send(conn, evs, 10, res);
        ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);

        for (int i = 0; i < 3; i++)
                ck_assert_int_eq(res[i].status, FG_SINK_OK);
        for (int i = 3; i < 10; i++) {
                ck_assert_int_eq(res[i].status, FG_SINK_RETRY);
                ck_assert_msg(strstr(res[i].reason, "File too large") != NULL, "reason: %s",
                              res[i].reason);
        }
        text = fg_test_slurp(out, NULL);
        ck_assert_uint_eq(strlen(text), 90); /* the fragment was cut away */
        free(text);

        fg_sink_send(conn, evs + 3, 7, res);
        for (int i = 0; i < 7; i++)
                ck_assert_int_eq(res[i].status, FG_SINK_OK);
        fg_sink_close(conn);
        fg_sink_destroy(sink);
        fg_test_seen_scan(&seen, out, "cw", 10);
        ck_assert_int_eq(seen.lines, 10);
        ck_assert_int_eq(seen.missing, 0);
        ck_assert_int_eq(seen.dups, 0);
        ck_assert_int_eq(seen.foreign, 0);
        fg_test_seen_free(&seen);
        cfg_free(cfg);
        fg_test_rmtree(dir);
        free(dir), free(out);
}
END_TEST

/* SIGHUP after log rotation: lines sent before the rename stay in the
 * renamed file, lines sent after go to a fresh file at the original path. */
START_TEST(test_plugin_reopen_after_rotation) {
        char *dir = fg_test_tmpdir(), *out = fg_test_path(dir, "out.jsonl"),
             *rotated = fg_test_path(dir, "out.jsonl.1"), *text;
        const char *kv[] = {"path", out, NULL};
        fg_config_t *cfg = cfg_new("example_plugin", kv);
        fg_sink_t *sink = sink_new_ok(cfg);
        fg_sink_conn_t *conn = open_ok(sink);
        fg_event_t before[2] = {event("{\"id\":\"ro-0\"}", 1), event("{\"id\":\"ro-1\"}", 2)};
        fg_event_t after[2] = {event("{\"id\":\"ro-2\"}", 3), event("{\"id\":\"ro-3\"}", 4)};
        fg_sink_result_t res[2];

        fg_sink_send(conn, before, 2, res);
        ck_assert_int_eq(res[0].status, FG_SINK_OK);
        ck_assert_int_eq(res[1].status, FG_SINK_OK);
        ck_assert_int_eq(rename(out, rotated), 0);
        fg_sink_reopen(sink);
        fg_sink_send(conn, after, 2, res);
        ck_assert_int_eq(res[0].status, FG_SINK_OK);
        ck_assert_int_eq(res[1].status, FG_SINK_OK);
        fg_sink_close(conn);
        fg_sink_destroy(sink);

        text = fg_test_slurp(rotated, NULL);
        ck_assert_str_eq(text, "{\"id\":\"ro-0\"}\n{\"id\":\"ro-1\"}\n");
        free(text);
        text = fg_test_slurp(out, NULL);
        ck_assert_ptr_nonnull(text);
        ck_assert_str_eq(text, "{\"id\":\"ro-2\"}\n{\"id\":\"ro-3\"}\n");
        free(text);
        cfg_free(cfg);
        fg_test_rmtree(dir);
        free(dir), free(out), free(rotated);
}
END_TEST

/* What the plugin logs through host->log lands on floodgate's stderr, with
 * the host's version string. */
START_TEST(test_plugin_host_log_on_stderr) {
        char *dir = fg_test_tmpdir(), *out = fg_test_path(dir, "out.jsonl"),
             *err = fg_test_path(dir, "stderr.txt"), *want, *text;
        const char *kv[] = {"path", out, NULL};
        fg_config_t *cfg = cfg_new("example_plugin", kv);
        fg_sink_t *sink;
        char errstr[512] = "";
        int saved, fd;

        fd = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        saved = dup(STDERR_FILENO);
        ck_assert_int_ge(saved, 0);
        ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
        close(fd);

        sink = fg_sink_new(&cfg->sink, &(fg_sink_env_t){NULL}, errstr, sizeof(errstr));
        if (sink)
                fg_sink_reopen(sink);
        fg_sink_destroy(sink);

        ck_assert_int_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
        close(saved);
        ck_assert_msg(sink != NULL, "fg_sink_new: %s", errstr);
        text = fg_test_slurp(err, NULL);
        ck_assert(asprintf(&want, " info  example plugin: appending to %s (floodgate %s)\n", out,
                           FG_VERSION) > 0);
        ck_assert_msg(strstr(text, want) != NULL, "stderr: \"%s\"", text);
        free(want);
        ck_assert(asprintf(&want, " info  example plugin: reopened %s\n", out) > 0);
        ck_assert_msg(strstr(text, want) != NULL, "stderr: \"%s\"", text);
        free(want);
        free(text);
        cfg_free(cfg);
        fg_test_rmtree(dir);
        free(dir), free(out), free(err);
}
END_TEST

/* ---- the loader: what a plugin reports is not trusted blindly ---- */

START_TEST(test_plugin_invalid_status_is_retry) {
        fg_config_t *cfg = cfg_new("bad_status", NULL);
        fg_sink_t *sink = sink_new_ok(cfg);
        fg_sink_conn_t *conn = open_ok(sink);
        fg_event_t first[2] = {event("ok", 1), event("ok", 2)};
        fg_event_t evs[5] = {event("ok", 3), event("7", 4), event("unset", 5), event("-5", 6),
                             event("3", 7)};
        fg_sink_result_t res[5];

        fg_sink_send(conn, first, 2, res);
        ck_assert_int_eq(res[0].status, FG_SINK_OK);
        ck_assert_int_eq(res[1].status, FG_SINK_OK);

        /* Slot 2 still holds OK from the batch above unless the sink resets it. */
        fg_sink_send(conn, evs, 5, res);
        ck_assert_int_eq(res[0].status, FG_SINK_OK);
        ck_assert_int_eq(res[1].status, FG_SINK_RETRY);
        ck_assert_str_eq(res[1].reason, "plugin returned invalid status 7");
        ck_assert_int_eq(res[2].status, FG_SINK_RETRY);
        ck_assert_str_eq(res[2].reason, "plugin set no status");
        ck_assert_int_eq(res[3].status, FG_SINK_RETRY);
        ck_assert_str_eq(res[3].reason, "plugin returned invalid status -5");
        ck_assert_int_eq(res[4].status, FG_SINK_REJECT);
        ck_assert_ptr_null(res[4].reason);

        fg_sink_close(conn);
        fg_sink_destroy(sink);
        cfg_free(cfg);
}
END_TEST

/* BACKPRESSURE's retry_after_ns reaches the worker: as given up to ten
 * minutes, capped beyond, 0 when negative. */
START_TEST(test_plugin_backpressure_retry_after_passthrough) {
        const int64_t cap = 600LL * 1000000000LL;
        fg_config_t *cfg = cfg_new("backpressure", NULL);
        fg_sink_t *sink = sink_new_ok(cfg);
        fg_sink_conn_t *conn = open_ok(sink);
        fg_event_t evs[6] = {event("bp:250000000", 1), event("bp:0", 2),  event("bp:-7", 3),
                             event("bp:600000000000", 4), event("bp:9223372036854775807", 5),
                             event("ok", 6)};
        const int64_t want[5] = {250000000, 0, 0, cap, cap};
        fg_sink_result_t res[6];

        memset(res, 0xa5, sizeof(res));
        fg_sink_send(conn, evs, 6, res);
        for (int i = 0; i < 5; i++) {
                ck_assert_int_eq(res[i].status, FG_SINK_BACKPRESSURE);
                ck_assert_int_eq(res[i].retry_after_ns, want[i]);
                ck_assert_str_eq(res[i].reason, "slow down");
        }
        ck_assert_int_eq(res[5].status, FG_SINK_OK);
        ck_assert_int_eq(res[5].retry_after_ns, 0);
        ck_assert_ptr_null(res[5].reason);

        fg_sink_close(conn);
        fg_sink_destroy(sink);
        cfg_free(cfg);
}
END_TEST

/* A plugin built before fg_plugin_t grew reopen (struct_size ends at fini)
 * loads and works; SIGHUP is a no-op for it. The loader must not read the
 * reopen it does not have (ASan would report the global overflow). */
START_TEST(test_plugin_descriptor_without_reopen) {
        fg_config_t *cfg = cfg_new("no_reopen_field", NULL);
        fg_sink_t *sink = sink_new_ok(cfg);
        fg_sink_conn_t *conn = open_ok(sink);
        fg_event_t evs[1] = {event("x", 1)};
        fg_sink_result_t res[1];

        fg_sink_reopen(sink);
        fg_sink_send(conn, evs, 1, res);
        ck_assert_int_eq(res[0].status, FG_SINK_OK);
        fg_sink_close(conn);
        fg_sink_destroy(sink);
        cfg_free(cfg);
}
END_TEST

/* ---- load errors ---- */

START_TEST(test_plugin_missing_file) {
        char *dir = fg_test_tmpdir();
        fg_config_t *cfg = cfg_new("example_plugin", NULL);
        char errstr[512] = "", *want;

        free(cfg->sink.plugin_path);
        cfg->sink.plugin_path = fg_test_path(dir, "nope.so");
        ck_assert_ptr_null(fg_sink_new(&cfg->sink, &(fg_sink_env_t){NULL}, errstr, sizeof(errstr)));
        ck_assert(asprintf(&want, "cannot open plugin %s: ", cfg->sink.plugin_path) > 0);
        ck_assert_msg(!strncmp(errstr, want, strlen(want)), "errstr: \"%s\"", errstr);
        ck_assert_msg(strstr(errstr, "No such file") != NULL, "errstr: \"%s\"", errstr);

        free(want);
        cfg_free(cfg);
        fg_test_rmtree(dir);
        free(dir);
}
END_TEST

START_TEST(test_plugin_no_entry_point) {
        fg_config_t *cfg = cfg_new("no_entry", NULL);
        char *want;

        ck_assert(asprintf(&want,
                           "plugin %s does not export floodgate_plugin_v1 (not a floodgate plugin, "
                           "or built for another ABI)",
                           cfg->sink.plugin_path) > 0);
        expect_new_fails(cfg, want);
        free(want);
        cfg_free(cfg);
}
END_TEST

START_TEST(test_plugin_wrong_abi) {
        fg_config_t *cfg = cfg_new("bad_abi", NULL);
        char *want;

        ck_assert(asprintf(&want, "plugin %s has ABI version 99; this floodgate speaks 1",
                           cfg->sink.plugin_path) > 0);
        expect_new_fails(cfg, want);
        free(want);
        cfg_free(cfg);
}
END_TEST

START_TEST(test_plugin_struct_size_too_small) {
        fg_config_t *cfg = cfg_new("short_struct", NULL);
        char *want;

        ck_assert(asprintf(&want,
                           "plugin %s has struct_size %zu; an ABI version 1 fg_plugin_t has at "
                           "least %zu (init through fini): set struct_size = sizeof(fg_plugin_t)",
                           cfg->sink.plugin_path, offsetof(fg_plugin_t, fini),
                           offsetof(fg_plugin_t, reopen)) > 0);
        expect_new_fails(cfg, want);
        free(want);
        cfg_free(cfg);
}
END_TEST

START_TEST(test_plugin_missing_callbacks) {
        fg_config_t *cfg = cfg_new("no_send", NULL);
        char *want;

        ck_assert(asprintf(&want, "plugin %s is missing callbacks: send", cfg->sink.plugin_path) > 0);
        expect_new_fails(cfg, want);
        free(want);
        cfg_free(cfg);
}
END_TEST

START_TEST(test_plugin_init_failure) {
        const char *bad_kv[] = {"path", "/dev/null", "fail_every", "0", NULL};
        fg_config_t *cfg = cfg_new("example_plugin", NULL), *bad = cfg_new("example_plugin", bad_kv);
        char *want;

        ck_assert(asprintf(&want,
                           "plugin example (%s): init failed: the example plugin needs config "
                           "key \"path\"",
                           cfg->sink.plugin_path) > 0);
        expect_new_fails(cfg, want);
        free(want);
        ck_assert(asprintf(&want,
                           "plugin example (%s): init failed: fail_every must be an integer >= 1, "
                           "not \"0\"",
                           bad->sink.plugin_path) > 0);
        expect_new_fails(bad, want);
        free(want);
        cfg_free(cfg);
        cfg_free(bad);
}
END_TEST

/* ---- who may write the plugin ---- */

/* Copies @p plugin's .so into @p dir as @p name, mode 0755. */
static char *copy_plugin(const char *dir, const char *plugin, const char *name) {
        char *src = plugin_path(plugin), *dst = fg_test_path(dir, name), *bytes;
        size_t len;
        FILE *fp;

        bytes = fg_test_slurp(src, &len);
        ck_assert_ptr_nonnull(bytes);
        fp = fopen(dst, "wb");
        ck_assert_ptr_nonnull(fp);
        ck_assert_uint_eq(fwrite(bytes, 1, len, fp), len);
        fclose(fp);
        ck_assert_int_eq(chmod(dst, 0755), 0);
        free(bytes);
        free(src);
        return dst;
}

/* fg_sink_new and fg_sink_check both refuse @p path with @p want as the
 * start of the reason. */
static void expect_unsafe(const char *path, const char *want) {
        fg_config_t *cfg = cfg_new("example_plugin", (const char *const[]){"path", "/dev/null", NULL});
        char errstr[768] = "";
        const char *opt = NULL;

        free(cfg->sink.plugin_path);
        cfg->sink.plugin_path = strdup(path);
        ck_assert_ptr_null(fg_sink_new(&cfg->sink, &(fg_sink_env_t){NULL}, errstr, sizeof(errstr)));
        ck_assert_msg(!strncmp(errstr, want, strlen(want)), "errstr: \"%s\", want \"%s...\"",
                      errstr, want);
        ck_assert_int_eq(fg_sink_check(&cfg->sink, &opt, errstr, sizeof(errstr)), -1);
        ck_assert_str_eq(opt, "sink.plugin.path");
        ck_assert_msg(strstr(errstr, want), "check: \"%s\"", errstr);
        cfg_free(cfg);
}

/* A plugin runs as floodgate: a file or directory that someone else may
 * write, or that belongs to another user, is refused before dlopen. */
START_TEST(test_plugin_refuses_unsafe_files) {
        char *dir = fg_test_tmpdir(), *so = copy_plugin(dir, "example_plugin", "p.so"), *want;
        char real[PATH_MAX];
        fg_config_t *cfg = cfg_new("example_plugin", (const char *const[]){"path", "/dev/null", NULL});
        char errstr[768] = "";
        fg_sink_t *sink;
        const char *opt;

        ck_assert_ptr_nonnull(realpath(dir, real));
        ck_assert_int_eq(chmod(dir, 0755), 0);
        /* Safe as copied: loads. */
        free(cfg->sink.plugin_path);
        cfg->sink.plugin_path = strdup(so);
        sink = fg_sink_new(&cfg->sink, &(fg_sink_env_t){NULL}, errstr, sizeof(errstr));
        ck_assert_msg(sink != NULL, "%s", errstr);
        fg_sink_destroy(sink);
        ck_assert_int_eq(fg_sink_check(&cfg->sink, &opt, errstr, sizeof(errstr)), 0);

        ck_assert_int_eq(chmod(so, 0775), 0);
        ck_assert(asprintf(&want, "plugin %s/p.so is writable by its group (mode 0775)", real) > 0);
        expect_unsafe(so, want);
        free(want);
        ck_assert_int_eq(chmod(so, 0757), 0);
        ck_assert(asprintf(&want, "plugin %s/p.so is writable by others (mode 0757)", real) > 0);
        expect_unsafe(so, want);
        free(want);
        ck_assert_int_eq(chmod(so, 0755), 0);
        ck_assert_int_eq(chmod(dir, 0777), 0);
        ck_assert(asprintf(&want, "plugin directory %s is writable by others (mode 0777)", real) > 0);
        expect_unsafe(so, want);
        free(want);
        ck_assert_int_eq(chmod(dir, 0755), 0);
        if (geteuid() == 0) {
                /* Only root can give a file away. */
                ck_assert_int_eq(chown(so, 65534, 65534), 0);
                ck_assert(asprintf(&want, "plugin %s/p.so belongs to uid 65534, neither root nor "
                                          "floodgate's user (uid 0)",
                                   real) > 0);
                expect_unsafe(so, want);
                free(want);
        } else {
                fprintf(stderr, "test_plugin_refuses_unsafe_files: not root, the ownership case "
                                "was not run\n");
        }
        cfg_free(cfg);
        fg_test_rmtree(dir);
        free(dir), free(so);
}
END_TEST

/* check-config opens the plugin and checks its ABI (without init). */
START_TEST(test_plugin_check_config_opens_plugin) {
        static const char *const plugins[] = {"example_plugin", "bad_abi", "no_send"};
        static const char *const wants[] = {NULL, "has ABI version 99; this floodgate speaks 1",
                                            "is missing callbacks: send"};
        char *dir = fg_test_tmpdir();

        for (size_t i = 0; i < sizeof(plugins) / sizeof(plugins[0]); i++) {
                char *so = plugin_path(plugins[i]), *out = NULL, *cfg, want[1024];
                const char *args[] = {"check-config", "-c", NULL, NULL};

                cfg = fg_test_write(dir, "fg.yaml",
                                    "kafka: {brokers: mock, topics: [" TOPIC "]}\n"
                                    "sink:\n  type: plugin\n  plugin:\n    path: \"%s\"\n",
                                    so);
                args[2] = cfg;
                if (!wants[i]) {
                        ck_assert_int_eq(fg_test_run(args, &out, 20000), 0);
                } else {
                        ck_assert_int_eq(fg_test_run(args, &out, 20000), 78);
                        snprintf(want, sizeof(want), "%s:5:11: sink.plugin.path: plugin ", cfg);
                        ck_assert_msg(!strncmp(out, want, strlen(want)) && strstr(out, wants[i]),
                                      "%s", out);
                }
                free(out), free(cfg), free(so);
        }
        fg_test_rmtree(dir);
        free(dir);
}
END_TEST

/* ---- end to end ---- */

/* The real daemon, sink.type plugin, fail_every on: every id arrives once
 * (a simulated failure is retried; nothing it wrote is written again). */
START_TEST(test_plugin_daemon_delivers_every_id) {
        const int parts = 8;
        const int64_t count = 20000;
        char *dir = fg_test_tmpdir(), *out = fg_test_path(dir, "out.jsonl"),
             *log = fg_test_path(dir, "daemon.log"), *so = plugin_path("example_plugin"), *cfg;
        fg_mock_t *mock = fg_test_mock(1, TOPIC, parts);
        const char *bs = fg_mock_bootstrap(mock);
        fg_test_seen_t seen;
        fg_test_proc_t *d;
        int rc;

        cfg = fg_test_write(dir, "fg.yaml",
                            "kafka:\n"
                            "  brokers: \"%s\"\n"
                            "  group_id: \"gp\"\n"
                            "  topics: [" TOPIC "]\n"
                            "  properties:\n"
                            "    session.timeout.ms: 6000\n"
                            "    heartbeat.interval.ms: 500\n"
                            "    auto.commit.interval.ms: 200\n"
                            "workers:\n"
                            "  size: 4\n"
                            "metrics:\n"
                            "  listen: \"127.0.0.1:0\"\n"
                            "sink:\n"
                            "  type: plugin\n"
                            "  plugin:\n"
                            "    path: \"%s\"\n"
                            "    config:\n"
                            "      path: \"%s\"\n"
                            "      fail_every: 500\n"
                            "  retry:\n"
                            "    initial_backoff: 5ms\n"
                            "shutdown:\n"
                            "  timeout: 20s\n"
                            "log:\n"
                            "  level: debug\n",
                            bs, so, out);
        fg_test_produce(bs, TOPIC, "plg", count, 0, 120);
        d = fg_test_spawn(log, (const char *const[]){"run", "-c", cfg, "--until-drained", NULL});
        rc = fg_test_proc_wait(d, 120000);
        if (rc != 0)
                fg_test_dump_log(log, 4000);
        ck_assert_int_eq(rc, 0);

        fg_test_seen_scan(&seen, out, "plg", count);
        ck_assert_int_eq(seen.missing, 0);
        ck_assert_int_eq(seen.dups, 0);
        ck_assert_int_eq(seen.foreign, 0);
        ck_assert(fg_test_file_contains(log, "plugin sink: loaded example from"));
        ck_assert(fg_test_file_contains(log, "example plugin: appending to"));
        ck_assert(fg_test_file_contains(log, "simulated failure (fail_every); retrying"));

        fg_test_seen_free(&seen);
        fg_test_proc_free(d);
        fg_mock_destroy(mock);
        fg_test_rmtree(dir);
        free(dir), free(out), free(log), free(so), free(cfg);
}
END_TEST

static Suite *plugin_suite(void) {
        Suite *s = suite_create("plugin");
        TCase *unit = tcase_create("unit"), *e2e = tcase_create("e2e");

        tcase_set_timeout(unit, 60);
        tcase_add_test(unit, test_plugin_concurrent_lines_intact);
        tcase_add_test(unit, test_plugin_fail_every_retries_once);
        tcase_add_test(unit, test_plugin_reject_with_reason);
        tcase_add_test(unit, test_plugin_cut_write_keeps_whole_lines);
        tcase_add_test(unit, test_plugin_reopen_after_rotation);
        tcase_add_test(unit, test_plugin_host_log_on_stderr);
        tcase_add_test(unit, test_plugin_invalid_status_is_retry);
        tcase_add_test(unit, test_plugin_backpressure_retry_after_passthrough);
        tcase_add_test(unit, test_plugin_descriptor_without_reopen);
        tcase_add_test(unit, test_plugin_missing_file);
        tcase_add_test(unit, test_plugin_no_entry_point);
        tcase_add_test(unit, test_plugin_wrong_abi);
        tcase_add_test(unit, test_plugin_struct_size_too_small);
        tcase_add_test(unit, test_plugin_missing_callbacks);
        tcase_add_test(unit, test_plugin_init_failure);
        tcase_add_test(unit, test_plugin_refuses_unsafe_files);
        tcase_add_test(unit, test_plugin_check_config_opens_plugin);
        suite_add_tcase(s, unit);
        tcase_set_timeout(e2e, 300);
        tcase_add_test(e2e, test_plugin_daemon_delivers_every_id);
        suite_add_tcase(s, e2e);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(plugin_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
