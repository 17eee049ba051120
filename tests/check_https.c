/*
 * check_https: the http sink over TLS, with credentials and gzip, against
 * an HTTPS server floodgate does not implement — Python's ssl module
 * (tests/support/tls_server.py) — and a throwaway PKI made by the openssl
 * command line in each run (tests/support/mkcerts.sh).
 *
 * Two layers: the sink itself, driven in-process through fg_sink_new like
 * check_http_sink (delivery, keep-alive, verification and its reasons,
 * mutual TLS, versions, resumption, gzip, tokens); and the daemon with a
 * mock cluster, for what must hold end to end: a refused connection loses
 * and commits nothing, is counted in /metrics, reaches the breaker and is
 * retried, and delivery resumes once the cause is fixed (by SIGHUP where
 * the fix is on floodgate's side); rotated tokens and certificates apply
 * on SIGHUP; no credential appears in the log, /stats or /metrics; bad
 * files are check-config errors.
 */
#include <check.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "config/config.h"
#include "sinks/sink.h"
#include "tests/support/fgtest.h"
#include "tests/support/tlsd.h"

static char *pki; /* one PKI per suite run (an unchecked fixture) */

static void pki_setup(void) { pki = fg_test_pki(); }

static void pki_teardown(void) {
        fg_test_rmtree(pki);
        free(pki);
}

/* A path in the PKI, valid until the next call with the same slot. */
static const char *P(const char *name) {
        static char bufs[8][512];
        static unsigned next;
        char *b = bufs[next++ % 8];

        snprintf(b, sizeof(b[0]) * 512, "%s/%s", pki, name);
        return b;
}

/* ---- the sink in-process ---- */

static fg_config_t tls_cfg(const char *host, int port) {
        static char url[128];
        fg_config_t cfg;

        memset(&cfg, 0, sizeof(cfg));
        snprintf(url, sizeof(url), "https://%s:%d/ingest", host, port);
        cfg.sink.type = FG_SINK_HTTP;
        cfg.sink.url = url;
        cfg.sink.format = FG_HTTP_NDJSON;
        cfg.sink.batch_max_messages = 500;
        cfg.sink.batch_max_bytes = 1024 * 1024;
        cfg.sink.connect_timeout_ns = 5 * FG_NS_PER_S;
        cfg.sink.timeout_ns = 10 * FG_NS_PER_S;
        cfg.sink.tls.verify = true;
        cfg.sink.tls.ca_file = (char *)P("ca.pem");
        return cfg;
}

static fg_sink_t *sink_new(const fg_config_t *cfg) {
        char err[512] = "";
        fg_sink_t *sink = fg_sink_new(&cfg->sink, NULL, err, sizeof(err));

        ck_assert_msg(sink != NULL, "fg_sink_new: %s", err);
        return sink;
}

static fg_sink_conn_t *conn_open(fg_sink_t *sink) {
        char err[512] = "";
        fg_sink_conn_t *c = fg_sink_open(sink, err, sizeof(err));

        ck_assert_msg(c != NULL, "fg_sink_open: %s", err);
        return c;
}

/* Events {"id":"<prefix>-<seq>","pad":"xxx..."} of about @p size bytes. */
typedef struct evset {
        size_t n;
        fg_event_t *evs;
        char **vals;
        fg_sink_result_t *res;
} evset_t;

static evset_t *evset_new(const char *prefix, size_t first, size_t n, size_t size) {
        evset_t *es = calloc(1, sizeof(*es));

        ck_assert_ptr_nonnull(es);
        es->n = n;
        es->evs = calloc(n, sizeof(*es->evs));
        es->vals = calloc(n, sizeof(*es->vals));
        es->res = calloc(n, sizeof(*es->res));
        ck_assert(es->evs && es->vals && es->res);
        for (size_t i = 0; i < n; i++) {
                char *v;
                int len = asprintf(&v, "{\"id\":\"%s-%zu\",\"pad\":\"%*s\"}", prefix, first + i,
                                   (int)(size > 40 ? size - 40 : 1), "");

                ck_assert_int_gt(len, 0);
                for (char *p = strstr(v, "pad\":\"") + 6; *p == ' '; p++)
                        *p = 'x';
                es->vals[i] = v;
                es->evs[i].topic = "t";
                es->evs[i].offset = (int64_t)(first + i);
                es->evs[i].ts_ms = -1;
                es->evs[i].value = v;
                es->evs[i].len = (size_t)len;
        }
        return es;
}

static void evset_free(evset_t *es) {
        for (size_t i = 0; i < es->n; i++)
                free(es->vals[i]);
        free(es->vals);
        free(es->evs);
        free(es->res);
        free(es);
}

/* Sends @p n events "<prefix>-<first>..." and returns the first result
 * (all must share it). */
static fg_sink_result_t send_events(fg_sink_conn_t *c, const char *prefix, size_t first, size_t n,
                                    char *reason, size_t reason_size) {
        evset_t *es = evset_new(prefix, first, n, 120);
        fg_sink_result_t r;

        fg_sink_send(c, es->evs, es->n, es->res);
        r = es->res[0];
        for (size_t i = 1; i < n; i++)
                ck_assert_int_eq(es->res[i].status, r.status);
        snprintf(reason, reason_size, "%s", r.reason ? r.reason : "");
        r.reason = reason;
        evset_free(es);
        return r;
}

static void expect_ok(fg_sink_conn_t *c, const char *prefix, size_t first, size_t n) {
        char why[512];
        fg_sink_result_t r = send_events(c, prefix, first, n, why, sizeof(why));

        ck_assert_msg(r.status == FG_SINK_OK, "expected OK, got %d: %s", (int)r.status, why);
}

/* A send that must fail with RETRY and a reason containing @p want or
 * (when not NULL) @p or_want. */
static void expect_retry2(fg_sink_conn_t *c, const char *want, const char *or_want) {
        char why[512];
        fg_sink_result_t r = send_events(c, "refused", 0, 3, why, sizeof(why));

        ck_assert_msg(r.status == FG_SINK_RETRY, "expected RETRY, got %d: %s", (int)r.status, why);
        ck_assert_msg(strstr(why, want) || (or_want && strstr(why, or_want)),
                      "reason '%s' lacks '%s'", why, want);
}

static void expect_retry(fg_sink_conn_t *c, const char *want) { expect_retry2(c, want, NULL); }

/* TLS 1.3 servers refuse a client certificate after the client finished
 * its handshake: their alert names the reason unless their close overtook
 * it; then the sink says the server closed at once (see http_tls.c). */
#define CLOSED_AT_ONCE "closed by the server right after the handshake"

/* Every id "<prefix>-0..count-1" arrived exactly once. */
static void expect_ids(const fg_test_tlsd_t *t, const char *prefix, int64_t count) {
        fg_test_seen_t seen = {0};

        fg_test_seen_scan(&seen, t->bodies, prefix, count);
        ck_assert_msg(seen.missing == 0 && seen.dups == 0, "%s: %lld missing, %lld duplicated",
                      prefix, (long long)seen.missing, (long long)seen.dups);
        fg_test_seen_free(&seen);
}

static fg_sink_stats_t stats_of(const fg_sink_t *sink) {
        fg_sink_stats_t st;

        fg_sink_get_stats(sink, &st);
        return st;
}

typedef struct count_wait {
        const fg_test_tlsd_t *t;
        const char *kind;
        size_t n;
} count_wait_t;

static bool counted(void *opaque) {
        count_wait_t *w = opaque;
        return fg_test_tlsd_count(w->t, w->kind, NULL, 0) >= w->n;
}

/* The server logs after our side has its answer: wait for its record. */
static void wait_events(const fg_test_tlsd_t *t, const char *kind, size_t n) {
        count_wait_t w = {t, kind, n};

        ck_assert_msg(fg_test_wait(counted, &w, 10000), "the server did not log %zu %s", n, kind);
        ck_assert_uint_eq(fg_test_tlsd_count(t, kind, NULL, 0), n);
}

static fg_test_tlsd_t *tlsd(const char *cert, const char *key, const char *more) {
        const char *args[8] = {"--cert", P(cert), "--key", P(key), NULL};

        if (more)
                args[4] = more;
        return fg_test_tlsd_start(args);
}

/* Delivery with a private CA: one keep-alive TLS connection carries every
 * request, and every id arrives. */
START_TEST(test_https_delivers_over_one_connection) {
        fg_test_tlsd_t *t = tlsd("server.pem", "server.key", NULL);
        fg_config_t cfg = tls_cfg("localhost", t->port);
        fg_sink_t *sink = sink_new(&cfg);
        fg_sink_conn_t *c = conn_open(sink);
        json_t *conns;

        for (int i = 0; i < 4; i++)
                expect_ok(c, "one", (size_t)i * 500, 500);
        expect_ids(t, "one", 2000);
        ck_assert_uint_eq(fg_test_tlsd_count(t, "request", NULL, 0), 4);
        conns = fg_test_tlsd_events(t, "conn");
        ck_assert_uint_eq(json_array_size(conns), 1);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(conns, 0), "version")),
                         "TLSv1.3");
        json_decref(conns);
        ck_assert_uint_eq(stats_of(sink).tls_handshakes, 1);
        ck_assert_uint_eq(stats_of(sink).tls_errors, 0);
        fg_sink_close(c);
        fg_sink_destroy(sink);
        fg_test_tlsd_stop(t);
}
END_TEST

typedef struct worker {
        fg_sink_t *sink;
        int idx;
        int failures;
        pthread_t th;
} worker_t;

static void *worker_main(void *arg) {
        worker_t *w = arg;
        char err[256], why[512], prefix[16];
        fg_sink_conn_t *c = fg_sink_open(w->sink, err, sizeof(err));

        if (!c) {
                w->failures++;
                return NULL;
        }
        snprintf(prefix, sizeof(prefix), "w%d", w->idx);
        for (int i = 0; i < 10; i++)
                w->failures += send_events(c, prefix, (size_t)i * 50, 50, why, sizeof(why)).status !=
                               FG_SINK_OK;
        fg_sink_close(c);
        return NULL;
}

/* One keep-alive TLS connection per worker, used concurrently. */
START_TEST(test_https_connection_per_worker) {
        fg_test_tlsd_t *t = tlsd("server.pem", "server.key", NULL);
        fg_config_t cfg = tls_cfg("localhost", t->port);
        fg_sink_t *sink = sink_new(&cfg);
        worker_t w[4];

        for (int i = 0; i < 4; i++) {
                w[i] = (worker_t){.sink = sink, .idx = i};
                ck_assert_int_eq(pthread_create(&w[i].th, NULL, worker_main, &w[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
                pthread_join(w[i].th, NULL);
                ck_assert_int_eq(w[i].failures, 0);
        }
        for (int i = 0; i < 4; i++) {
                char prefix[16];
                snprintf(prefix, sizeof(prefix), "w%d", i);
                expect_ids(t, prefix, 500);
        }
        ck_assert_uint_eq(fg_test_tlsd_count(t, "conn", NULL, 0), 4);
        ck_assert_uint_eq(fg_test_tlsd_count(t, "request", NULL, 0), 40);
        ck_assert_uint_eq(stats_of(sink).tls_handshakes, 4);
        fg_sink_destroy(sink);
        fg_test_tlsd_stop(t);
}
END_TEST

/* Without ca_file the sink trusts OpenSSL's default paths: the system
 * bundle, or SSL_CERT_FILE when set. Our private CA is in the second, not
 * the first. */
START_TEST(test_https_system_ca_bundle) {
        fg_test_tlsd_t *t = tlsd("server.pem", "server.key", NULL);
        fg_config_t cfg = tls_cfg("localhost", t->port);
        fg_sink_t *sink;
        fg_sink_conn_t *c;

        cfg.sink.tls.ca_file = NULL;
        unsetenv("SSL_CERT_DIR");
        setenv("SSL_CERT_FILE", P("ca.pem"), 1);
        sink = sink_new(&cfg);
        c = conn_open(sink);
        expect_ok(c, "sys", 0, 10);
        fg_sink_close(c);
        fg_sink_destroy(sink);

        unsetenv("SSL_CERT_FILE");
        sink = sink_new(&cfg);
        c = conn_open(sink);
        expect_retry(c, "certificate verify failed: unable to get local issuer certificate");
        ck_assert_uint_eq(stats_of(sink).tls_errors, 1);
        fg_sink_close(c);
        fg_sink_destroy(sink);
        expect_ids(t, "sys", 10);
        fg_test_tlsd_stop(t);
}
END_TEST

/* Each refusal is a RETRY (the worker backs off, the breaker counts it),
 * says why, is counted, and sends nothing. */
START_TEST(test_https_refusals_have_reasons) {
        static const struct {
                const char *cert, *key, *host, *ca, *want;
        } cases[] = {
            {"server.pem", "server.key", "localhost", "other-ca.pem",
             "certificate verify failed: unable to get local issuer certificate"},
            {"wrong-host.pem", "wrong-host.key", "localhost", "ca.pem",
             "certificate verify failed: hostname mismatch"},
            {"wrong-host.pem", "wrong-host.key", "127.0.0.1", "ca.pem",
             "certificate verify failed: IP address mismatch"},
            {"expired.pem", "expired.key", "localhost", "ca.pem",
             "certificate verify failed: certificate has expired"},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                fg_test_tlsd_t *t = tlsd(cases[i].cert, cases[i].key, NULL);
                fg_config_t cfg = tls_cfg(cases[i].host, t->port);
                fg_sink_t *sink;
                fg_sink_conn_t *c;
                char want[256];

                cfg.sink.tls.ca_file = (char *)P(cases[i].ca);
                sink = sink_new(&cfg);
                c = conn_open(sink);
                snprintf(want, sizeof(want), "TLS handshake with %s:%d failed: %s", cases[i].host,
                         t->port, cases[i].want);
                expect_retry(c, want);
                expect_retry(c, want); /* and again on the next try: a new connection */
                ck_assert_uint_eq(stats_of(sink).tls_errors, 2);
                ck_assert_uint_eq(stats_of(sink).tls_handshakes, 0);
                ck_assert_uint_eq(fg_test_tlsd_count(t, "request", NULL, 0), 0);
                wait_events(t, "handshake_error", 2);
                fg_sink_close(c);
                fg_sink_destroy(sink);
                fg_test_tlsd_stop(t);
        }
}
END_TEST

/* sink.tls.server_name is both what SNI asks for and what is verified. */
START_TEST(test_https_server_name) {
        fg_test_tlsd_t *t = tlsd("wrong-host.pem", "wrong-host.key", NULL);
        fg_config_t cfg = tls_cfg("127.0.0.1", t->port);
        fg_sink_t *sink;
        fg_sink_conn_t *c;

        cfg.sink.tls.server_name = "wrong.example";
        sink = sink_new(&cfg);
        c = conn_open(sink);
        expect_ok(c, "sni", 0, 5);
        fg_sink_close(c);
        fg_sink_destroy(sink);
        expect_ids(t, "sni", 5);

        cfg.sink.tls.server_name = "other.example";
        sink = sink_new(&cfg);
        c = conn_open(sink);
        expect_retry(c, "hostname mismatch");
        fg_sink_close(c);
        fg_sink_destroy(sink);
        fg_test_tlsd_stop(t);
}
END_TEST

/* A plain HTTP server behind an https:// URL: a protocol error, not a
 * hang. */
START_TEST(test_https_plain_server) {
        const char *args[] = {"--plain", NULL};
        fg_test_tlsd_t *t = fg_test_tlsd_start(args);
        fg_config_t cfg = tls_cfg("localhost", t->port);
        fg_sink_t *sink = sink_new(&cfg);
        fg_sink_conn_t *c = conn_open(sink);

        expect_retry(c, "TLS handshake with");
        ck_assert_uint_eq(stats_of(sink).tls_errors, 1);
        fg_sink_close(c);
        fg_sink_destroy(sink);
        fg_test_tlsd_stop(t);
}
END_TEST

/* Mutual TLS: refused without a client certificate and with an expired
 * one; delivered with a valid one, which the server sees. */
START_TEST(test_https_mutual_tls) {
        fg_test_tlsd_t *t;
        fg_config_t cfg;
        fg_sink_t *sink;
        fg_sink_conn_t *c;
        json_t *conns;
        const char *args[] = {"--cert", P("server.pem"), "--key", P("server.key"), "--client-ca",
                              P("ca.pem"), NULL};

        t = fg_test_tlsd_start(args);
        cfg = tls_cfg("localhost", t->port);
        sink = sink_new(&cfg);
        c = conn_open(sink);
        expect_retry2(c, "tlsv13 alert certificate required", CLOSED_AT_ONCE);
        fg_sink_close(c);
        fg_sink_destroy(sink);

        cfg.sink.tls.cert_file = (char *)P("client-expired.pem");
        cfg.sink.tls.key_file = (char *)P("client-expired.key");
        sink = sink_new(&cfg);
        c = conn_open(sink);
        expect_retry2(c, "alert certificate expired", CLOSED_AT_ONCE);
        ck_assert_uint_eq(stats_of(sink).tls_errors, 1);
        fg_sink_close(c);
        fg_sink_destroy(sink);
        wait_events(t, "handshake_error", 2);

        cfg.sink.tls.cert_file = (char *)P("client.pem");
        cfg.sink.tls.key_file = (char *)P("client.key");
        sink = sink_new(&cfg);
        c = conn_open(sink);
        expect_ok(c, "mtls", 0, 20);
        fg_sink_close(c);
        fg_sink_destroy(sink);
        expect_ids(t, "mtls", 20);
        conns = fg_test_tlsd_events(t, "conn");
        ck_assert_uint_eq(json_array_size(conns), 1);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(conns, 0), "peer_cn")),
                         "floodgate-client");
        json_decref(conns);
        fg_test_tlsd_stop(t);
}
END_TEST

/* min_version 1.2 (the default) talks to a TLS 1.2 server; 1.3 refuses. */
START_TEST(test_https_min_version) {
        const char *args[] = {"--cert", P("server.pem"), "--key", P("server.key"),
                              "--max-version", "1.2", NULL};
        fg_test_tlsd_t *t = fg_test_tlsd_start(args);
        fg_config_t cfg = tls_cfg("localhost", t->port);
        fg_sink_t *sink = sink_new(&cfg);
        fg_sink_conn_t *c = conn_open(sink);
        json_t *conns;

        expect_ok(c, "v12", 0, 5);
        fg_sink_close(c);
        fg_sink_destroy(sink);
        conns = fg_test_tlsd_events(t, "conn");
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(conns, 0), "version")),
                         "TLSv1.2");
        json_decref(conns);

        cfg.sink.tls.min_version = FG_TLS_1_3;
        sink = sink_new(&cfg);
        c = conn_open(sink);
        expect_retry(c, "protocol version");
        fg_sink_close(c);
        fg_sink_destroy(sink);
        fg_test_tlsd_stop(t);
}
END_TEST

/* verify: false needs insecure_skip_verify: true; then neither the chain
 * nor the name is checked. */
START_TEST(test_https_insecure_skip_verify) {
        fg_test_tlsd_t *t = tlsd("wrong-host.pem", "wrong-host.key", NULL);
        fg_config_t cfg = tls_cfg("localhost", t->port);
        fg_sink_t *sink;
        fg_sink_conn_t *c;
        char err[256] = "";

        cfg.sink.tls.ca_file = (char *)P("other-ca.pem");
        cfg.sink.tls.verify = false;
        ck_assert_ptr_null(fg_sink_new(&cfg.sink, NULL, err, sizeof(err)));
        ck_assert_ptr_nonnull(strstr(err, "insecure_skip_verify"));
        cfg.sink.tls.insecure_skip_verify = true;
        sink = sink_new(&cfg);
        c = conn_open(sink);
        expect_ok(c, "insecure", 0, 5);
        fg_sink_close(c);
        fg_sink_destroy(sink);
        expect_ids(t, "insecure", 5);
        fg_test_tlsd_stop(t);
}
END_TEST

/* A server that closes every connection: each reconnect resumes the
 * session of the last one; a reload (SIGHUP) starts afresh. */
START_TEST(test_https_session_resumption) {
        const char *args[] = {"--cert", P("server.pem"), "--key", P("server.key"), "--close",
                              NULL};
        fg_test_tlsd_t *t = fg_test_tlsd_start(args);
        fg_config_t cfg = tls_cfg("localhost", t->port);
        fg_sink_t *sink = sink_new(&cfg);
        fg_sink_conn_t *c = conn_open(sink);

        for (int i = 0; i < 6; i++)
                expect_ok(c, "res", (size_t)i * 10, 10);
        ck_assert_uint_eq(fg_test_tlsd_count(t, "conn", NULL, 0), 6);
        ck_assert_uint_eq(fg_test_tlsd_count(t, "conn", "resumed", 1), 5);
        ck_assert_uint_eq(stats_of(sink).tls_handshakes, 1);
        ck_assert_uint_eq(stats_of(sink).tls_resumed, 5);

        fg_sink_reopen(sink);
        expect_ok(c, "res", 60, 10);
        expect_ok(c, "res", 70, 10);
        ck_assert_uint_eq(stats_of(sink).tls_handshakes, 2);
        ck_assert_uint_eq(stats_of(sink).tls_resumed, 6);
        expect_ids(t, "res", 80);
        fg_sink_close(c);
        fg_sink_destroy(sink);
        fg_test_tlsd_stop(t);
}
END_TEST

/* The server closes kept-alive connections that idle for 200 ms (no
 * close_notify, as an idle timeout does): the request that finds its
 * connection closed is sent again at once on a new one, which resumes the
 * session; no send fails. */
START_TEST(test_https_server_closed_idle_connection) {
        const char *args[] = {"--cert", P("server.pem"), "--key", P("server.key"),
                              "--idle-timeout", "0.2", NULL};
        fg_test_tlsd_t *t = fg_test_tlsd_start(args);
        fg_config_t cfg = tls_cfg("localhost", t->port);
        fg_sink_t *sink = sink_new(&cfg);
        fg_sink_conn_t *c = conn_open(sink);

        for (int i = 0; i < 3; i++) {
                expect_ok(c, "idle", (size_t)i * 10, 10);
                wait_events(t, "closed", (size_t)i + 1); /* the server gave up on it */
        }
        expect_ok(c, "idle", 30, 10);
        expect_ids(t, "idle", 40);
        ck_assert_uint_eq(fg_test_tlsd_count(t, "conn", NULL, 0), 4);
        ck_assert_uint_eq(fg_test_tlsd_count(t, "conn", "resumed", 1), 3);
        ck_assert_uint_eq(stats_of(sink).tls_errors, 0);
        fg_sink_close(c);
        fg_sink_destroy(sink);
        fg_test_tlsd_stop(t);
}
END_TEST

/* What the sink would send without compression, for comparison. */
static char *ndjson_of(const char *prefix, size_t first, size_t n, size_t size) {
        evset_t *es = evset_new(prefix, first, n, size);
        char *out = NULL;
        size_t len = 0;
        FILE *fp = open_memstream(&out, &len);

        for (size_t i = 0; i < n; i++)
                fprintf(fp, "%s\n", es->vals[i]);
        fclose(fp);
        evset_free(es);
        return out;
}

/* gzip bodies, over TLS and plain HTTP, at levels 1 and 9: the server
 * decodes exactly what would have been sent uncompressed, and the wire
 * carries much less. */
START_TEST(test_https_gzip_roundtrip) {
        const char *plain[] = {"--plain", NULL};

        for (int round = 0; round < 3; round++) {
                fg_test_tlsd_t *t = round == 2 ? fg_test_tlsd_start(plain)
                                               : tlsd("server.pem", "server.key", NULL);
                fg_config_t cfg = tls_cfg("localhost", t->port);
                char url[128], *want, *got;
                fg_sink_t *sink;
                fg_sink_conn_t *c;
                json_t *reqs, *req;
                size_t i;

                if (round == 2) {
                        snprintf(url, sizeof(url), "http://localhost:%d/ingest", t->port);
                        cfg.sink.url = url;
                        cfg.sink.tls = (fg_tls_cfg_t){0};
                }
                cfg.sink.compression = FG_HTTP_COMPRESS_GZIP;
                cfg.sink.compression_level = round == 1 ? 9 : 1;
                sink = sink_new(&cfg);
                c = conn_open(sink);
                evset_t *es = evset_new("gz", 0, 500, 120);
                fg_sink_send(c, es->evs, es->n, es->res);
                for (i = 0; i < es->n; i++)
                        ck_assert_int_eq(es->res[i].status, FG_SINK_OK);
                evset_free(es);
                want = ndjson_of("gz", 0, 500, 120);
                got = fg_test_slurp(t->bodies, NULL);
                ck_assert_ptr_nonnull(got);
                ck_assert_uint_eq(strlen(got), strlen(want));
                ck_assert_msg(!strcmp(got, want), "decoded body differs from what was sent");
                reqs = fg_test_tlsd_events(t, "request");
                ck_assert_uint_eq(json_array_size(reqs), 1);
                json_array_foreach(reqs, i, req) {
                        json_int_t raw = json_integer_value(json_object_get(req, "raw_len"));
                        json_int_t len = json_integer_value(json_object_get(req, "len"));

                        ck_assert_str_eq(json_string_value(json_object_get(req, "encoding")), "gzip");
                        ck_assert_int_eq(len, (json_int_t)strlen(want));
                        ck_assert_msg(raw * 4 < len, "gzip: %lld bytes for %lld", (long long)raw,
                                      (long long)len);
                }
                json_decref(reqs);
                free(want);
                free(got);
                fg_sink_close(c);
                fg_sink_destroy(sink);
                fg_test_tlsd_stop(t);
        }
}
END_TEST

static void write_file(const char *path, const char *text) {
        FILE *fp = fopen(path, "w");

        ck_assert_ptr_nonnull(fp);
        fputs(text, fp);
        ck_assert_int_eq(fclose(fp), 0);
}

/* A 401 (loop 0) or 403 (loop 1) makes the sink read its token file
 * again; a new token is tried once at once, an unchanged one is a REJECT
 * (dead-lettered). */
START_TEST(test_https_token_file_read_again_on_refusal) {
        const int refused = _i ? 403 : 401;
        char *dir = fg_test_tmpdir(), *mine = fg_test_path(dir, "token"),
             *theirs = fg_test_path(dir, "accepted"), status[8], line[64];
        const char *args[] = {"--cert", P("server.pem"), "--key", P("server.key"),
                              "--bearer-file", theirs, "--refuse-status", status, NULL};
        fg_test_tlsd_t *t;
        fg_config_t cfg;
        fg_sink_t *sink;
        fg_sink_conn_t *c;
        fg_sink_result_t r;
        char why[512];

        snprintf(status, sizeof(status), "%d", refused);
        snprintf(line, sizeof(line), "HTTP %d %s", refused, _i ? "Forbidden" : "Unauthorized");
        write_file(mine, "tok-one\n");
        write_file(theirs, "tok-one\n");
        t = fg_test_tlsd_start(args);
        cfg = tls_cfg("localhost", t->port);
        cfg.sink.auth.bearer_token_file = mine;
        sink = sink_new(&cfg);
        c = conn_open(sink);
        expect_ok(c, "tok", 0, 10);

        write_file(theirs, "tok-two\n"); /* rotated at the server only */
        r = send_events(c, "tok", 10, 10, why, sizeof(why));
        ck_assert_int_eq(r.status, FG_SINK_REJECT);
        ck_assert_str_eq(why, line);
        ck_assert_uint_eq(fg_test_tlsd_count(t, "request", "status", refused), 1);

        write_file(mine, "  tok-two \n"); /* and now ours: surrounding blanks do not count */
        expect_ok(c, "tok", 10, 10);
        ck_assert_uint_eq(fg_test_tlsd_count(t, "request", "status", refused), 2);
        ck_assert_uint_eq(fg_test_tlsd_count(t, "request", "status", 200), 2);
        expect_ok(c, "tok", 20, 10); /* no more refusals: the new token is kept */
        ck_assert_uint_eq(fg_test_tlsd_count(t, "request", "status", refused), 2);
        expect_ids(t, "tok", 30);
        fg_sink_close(c);
        fg_sink_destroy(sink);
        fg_test_tlsd_stop(t);
        fg_test_rmtree(dir);
        free(dir), free(mine), free(theirs);
}
END_TEST

/* Basic authentication; a wrong password is a REJECT after one request
 * (fixed credentials are not read again). */
START_TEST(test_https_basic_auth) {
        const char *args[] = {"--cert", P("server.pem"), "--key", P("server.key"), "--basic",
                              "floodgate:pa55:word", NULL};
        fg_test_tlsd_t *t = fg_test_tlsd_start(args);
        fg_config_t cfg = tls_cfg("localhost", t->port);
        fg_sink_t *sink;
        fg_sink_conn_t *c;
        char why[512];

        cfg.sink.auth.basic_user = "floodgate";
        cfg.sink.auth.basic_password = "pa55:word";
        sink = sink_new(&cfg);
        c = conn_open(sink);
        expect_ok(c, "basic", 0, 10);
        fg_sink_close(c);
        fg_sink_destroy(sink);
        expect_ids(t, "basic", 10);

        cfg.sink.auth.basic_password = "wrong";
        sink = sink_new(&cfg);
        c = conn_open(sink);
        ck_assert_int_eq(send_events(c, "basic", 10, 10, why, sizeof(why)).status, FG_SINK_REJECT);
        ck_assert_uint_eq(fg_test_tlsd_count(t, "request", "status", 401), 1);
        fg_sink_close(c);
        fg_sink_destroy(sink);
        fg_test_tlsd_stop(t);
}
END_TEST

/* ---- the daemon ---- */

#define TOPIC "events"
#define PARTS 4
#define COUNT 1000

typedef struct drun {
        char *dir, *log, *cfg;
        fg_mock_t *mock;
        const char *bs;
        fg_test_proc_t *d;
        int admin;
        char group[32];
} drun_t;

/* Produces COUNT events "<prefix>-<seq>" and starts the daemon on them
 * with @p url, @p sink_extra (YAML lines inside sink:) and @p top_extra
 * (top-level sections). */
static void drun_start(drun_t *r, const char *prefix, const char *url, const char *sink_extra,
                       const char *top_extra) {
        static int groups;
        const char *args[4];

        memset(r, 0, sizeof(*r));
        r->dir = fg_test_tmpdir();
        r->log = fg_test_path(r->dir, "d.log");
        r->mock = fg_test_mock(1, TOPIC, PARTS);
        r->bs = fg_mock_bootstrap(r->mock);
        snprintf(r->group, sizeof(r->group), "tls%d", groups++);
        fg_test_produce(r->bs, TOPIC, prefix, COUNT, 0, 100);
        r->cfg = fg_test_write(
            r->dir, "fg.yaml",
            "kafka:\n  brokers: \"%s\"\n  group_id: %s\n  topics: [" TOPIC "]\n"
            "workers: {size: 2}\n"
            "sink:\n  type: http\n  url: \"%s\"\n  format: ndjson\n  batch: {max_messages: 100}\n"
            "  retry: {initial_backoff: 50ms, max_backoff: 500ms, max_attempts: 0}\n%s"
            "breaker:\n  min_calls: 5\n  open_duration: 300ms\n  open_max: 1s\n"
            "metrics:\n  listen: \"127.0.0.1:0\"\n%s",
            r->bs, r->group, url, sink_extra, top_extra);
        args[0] = "run", args[1] = "-c", args[2] = r->cfg, args[3] = NULL;
        r->d = fg_test_spawn(r->log, args);
        r->admin = fg_test_admin_port(r->log, 30000);
        ck_assert_int_gt(r->admin, 0);
}

/* SIGTERM, a clean exit, nothing dead-lettered or dropped, and the
 * committed offsets cover exactly what @p t received. */
static void drun_finish(drun_t *r, const fg_test_tlsd_t *t, const char *prefix, int64_t produced) {
        fg_test_index_t ix;
        fg_test_seen_t seen = {0};
        int64_t committed[PARTS], total = 0;

        fg_test_proc_signal(r->d, SIGTERM);
        ck_assert_int_eq(fg_test_proc_wait(r->d, 60000), 0);
        ck_assert_msg(fg_test_file_contains(r->log, "dead-lettered 0, dropped 0"),
                      "events were dead-lettered or dropped");
        fg_test_index_topic(&ix, r->bs, TOPIC, prefix, COUNT, PARTS);
        fg_test_seen_scan(&seen, t->bodies, prefix, COUNT);
        fg_test_committed(r->bs, r->group, TOPIC, PARTS, committed);
        for (int p = 0; p < PARTS; p++)
                total += committed[p] > 0 ? committed[p] : 0;
        ck_assert_int_eq(seen.missing, 0);
        ck_assert_int_eq(fg_test_committed_were_seen(&ix, &seen, committed), 0);
        ck_assert_int_eq(total, produced);
        fg_test_seen_free(&seen);
        fg_test_index_free(&ix);
        fg_test_proc_free(r->d);
        fg_mock_destroy(r->mock);
        fg_test_rmtree(r->dir);
        free(r->dir), free(r->log), free(r->cfg);
}

/* The value of an unlabelled /metrics sample. */
static double metric(int port, const char *name) {
        char *body = NULL, needle[128], *p;
        double v = -1;

        ck_assert_int_eq(fg_test_http(port, "GET", "/metrics", &body), 200);
        snprintf(needle, sizeof(needle), "\n%s ", name);
        p = strstr(body, needle);
        if (p)
                v = strtod(p + strlen(needle), NULL);
        free(body);
        return v;
}

typedef struct ids_wait {
        const fg_test_tlsd_t *t;
        const char *prefix;
} ids_wait_t;

static bool all_ids(void *opaque) {
        ids_wait_t *w = opaque;
        fg_test_seen_t seen = {0};
        bool done;

        fg_test_seen_scan(&seen, w->t->bodies, w->prefix, COUNT);
        done = seen.missing == 0;
        fg_test_seen_free(&seen);
        return done;
}

static void wait_all_ids(const fg_test_tlsd_t *t, const char *prefix) {
        ids_wait_t w = {t, prefix};
        ck_assert_msg(fg_test_wait(all_ids, &w, 60000), "not every %s id arrived", prefix);
}

/* While refused: the reason is in the log (the TLS line at most once per
 * 10 s), counted in /metrics, the breaker opened, nothing arrived and
 * nothing was committed. */
static void expect_refused(drun_t *r, const fg_test_tlsd_t *t, const char *reason) {
        int64_t committed[PARTS];
        char needle[256];
        double errors;

        snprintf(needle, sizeof(needle), "http sink: %s", reason);
        ck_assert_msg(fg_test_wait_file_contains(r->log, needle, 30000), "no '%s' in the log",
                      needle);
        ck_assert(fg_test_wait_file_contains(r->log, "breaker: closed -> open", 30000));
        errors = metric(r->admin, "floodgate_sink_tls_errors_total");
        ck_assert_msg(errors >= 1, "floodgate_sink_tls_errors_total %g", errors);
        ck_assert_uint_eq(fg_test_tlsd_count(t, "request", NULL, 0), 0);
        fg_test_committed(r->bs, r->group, TOPIC, PARTS, committed);
        for (int p = 0; p < PARTS; p++)
                ck_assert_int_le(committed[p], 0);
}

/* Lines of @p log containing @p needle. */
static int count_lines(const char *log, const char *needle) {
        char *s = fg_test_slurp(log, NULL), *p = s;
        int n = 0;

        while (p && (p = strstr(p, needle))) {
                n++;
                p += strlen(needle);
        }
        free(s);
        return n;
}

/* The daemon trusts the wrong CA: refused, nothing lost; the CA file is
 * replaced and SIGHUP makes it deliver everything. */
START_TEST(test_https_daemon_wrong_ca_fixed_by_sighup) {
        fg_test_tlsd_t *t = tlsd("server.pem", "server.key", NULL);
        char url[128], extra[512], *ca;
        drun_t r;
        int lines;

        ca = fg_test_path(pki, "daemon-ca.pem");
        fg_test_copy_file(P("other-ca.pem"), ca);
        snprintf(url, sizeof(url), "https://localhost:%d/ingest", t->port);
        snprintf(extra, sizeof(extra), "  tls:\n    ca_file: %s\n", ca);
        drun_start(&r, "ca", url, extra, "");
        expect_refused(&r, t, "TLS handshake with");
        ck_assert(fg_test_file_contains(r.log, "unable to get local issuer certificate"));
        /* The rate limit: many failures, few TLS lines. */
        lines = count_lines(r.log, "warn  http sink: TLS handshake");
        ck_assert_int_ge(lines, 1);
        ck_assert_int_lt(lines, (int)metric(r.admin, "floodgate_sink_tls_errors_total"));

        fg_test_copy_file(P("ca.pem"), ca);
        fg_test_proc_signal(r.d, SIGHUP);
        ck_assert(fg_test_wait_file_contains(r.log, "TLS context rebuilt", 10000));
        wait_all_ids(t, "ca");
        ck_assert(fg_test_wait_file_contains(r.log, "-> closed", 30000));
        drun_finish(&r, t, "ca", COUNT);
        fg_test_tlsd_stop(t);
        unlink(ca);
        free(ca);
}
END_TEST

/* The server presents a certificate for another name, or an expired one:
 * refused with the reason, nothing lost; once the server's certificate is
 * fixed (and it reloads it), delivery resumes on the next retry. */
START_TEST(test_https_daemon_server_cert_fixed) {
        static const struct {
                const char *cert, *key, *reason;
        } cases[] = {
            {"wrong-host.pem", "wrong-host.key", "hostname mismatch"},
            {"expired.pem", "expired.key", "certificate has expired"},
        };
        char *cert = fg_test_path(pki, "srv-cur.pem"), *key = fg_test_path(pki, "srv-cur.key");
        const char *args[] = {"--cert", cert, "--key", key, NULL};
        fg_test_tlsd_t *t;
        char url[128], extra[512];
        drun_t r;

        fg_test_copy_file(P(cases[_i].cert), cert);
        fg_test_copy_file(P(cases[_i].key), key);
        t = fg_test_tlsd_start(args);
        snprintf(url, sizeof(url), "https://localhost:%d/ingest", t->port);
        snprintf(extra, sizeof(extra), "  tls:\n    ca_file: %s\n", P("ca.pem"));
        drun_start(&r, "srv", url, extra, "");
        expect_refused(&r, t, "TLS handshake with");
        ck_assert(fg_test_file_contains(r.log, cases[_i].reason));

        fg_test_copy_file(P("server.pem"), cert);
        fg_test_copy_file(P("server.key"), key);
        fg_test_tlsd_reload(t);
        wait_all_ids(t, "srv");
        drun_finish(&r, t, "srv", COUNT);
        fg_test_tlsd_stop(t);
        unlink(cert), unlink(key);
        free(cert), free(key);
}
END_TEST

/* Mutual TLS with an expired client certificate: the server refuses it;
 * the certificate and key files are renewed and SIGHUP applies them. */
START_TEST(test_https_daemon_client_cert_rotated_by_sighup) {
        char *cert = fg_test_path(pki, "cli-cur.pem"), *key = fg_test_path(pki, "cli-cur.key");
        const char *args[] = {"--cert", P("server.pem"), "--key", P("server.key"), "--client-ca",
                              P("ca.pem"), NULL};
        fg_test_tlsd_t *t;
        char url[128], extra[512];
        drun_t r;

        fg_test_copy_file(P("client-expired.pem"), cert);
        fg_test_copy_file(P("client-expired.key"), key);
        t = fg_test_tlsd_start(args);
        snprintf(url, sizeof(url), "https://localhost:%d/ingest", t->port);
        snprintf(extra, sizeof(extra),
                 "  tls:\n    ca_file: %s\n    cert_file: %s\n    key_file: %s\n", P("ca.pem"),
                 cert, key);
        drun_start(&r, "cli", url, extra, "");
        ck_assert(fg_test_wait_file_contains(r.log, "cli-cur.pem has expired", 10000));
        expect_refused(&r, t, "TLS connection with");
        ck_assert(fg_test_file_contains(r.log, "alert certificate expired") ||
                  fg_test_file_contains(r.log, CLOSED_AT_ONCE));

        fg_test_copy_file(P("client.pem"), cert);
        fg_test_copy_file(P("client.key"), key);
        fg_test_proc_signal(r.d, SIGHUP);
        ck_assert(fg_test_wait_file_contains(r.log, "TLS context rebuilt", 10000));
        wait_all_ids(t, "cli");
        drun_finish(&r, t, "cli", COUNT);
        ck_assert_uint_gt(fg_test_tlsd_count(t, "conn", NULL, 0), 0);
        fg_test_tlsd_stop(t);
        unlink(cert), unlink(key);
        free(cert), free(key);
}
END_TEST

/* The bearer token file is rotated (both ends accept the new token for a
 * while, as with real rotations) and SIGHUP picks it up: later requests
 * carry the new token, and no request is ever refused. No token shows in
 * the daemon's log. */
START_TEST(test_https_daemon_bearer_rotated_by_sighup) {
        char *dir = fg_test_tmpdir(), *mine = fg_test_path(dir, "token"),
             *theirs = fg_test_path(dir, "accepted");
        const char *args[] = {"--cert", P("server.pem"), "--key", P("server.key"),
                              "--bearer-file", theirs, NULL};
        fg_test_tlsd_t *t;
        char url[128], extra[512];
        json_t *reqs, *req;
        size_t i, with_new = 0;
        drun_t r;

        write_file(mine, "tok-first-4711\n");
        write_file(theirs, "tok-first-4711\ntok-second-0815\n");
        t = fg_test_tlsd_start(args);
        snprintf(url, sizeof(url), "https://localhost:%d/ingest", t->port);
        snprintf(extra, sizeof(extra),
                 "  tls:\n    ca_file: %s\n  auth:\n    bearer_token_file: %s\n", P("ca.pem"),
                 mine);
        drun_start(&r, "bear", url, extra, "");
        wait_all_ids(t, "bear");

        write_file(mine, "tok-second-0815\n");
        fg_test_proc_signal(r.d, SIGHUP);
        ck_assert(fg_test_wait_file_contains(r.log, "bearer token read again", 10000));
        ck_assert(fg_test_file_contains(r.log, "(changed)"));
        write_file(theirs, "tok-second-0815\n");
        fg_test_produce(r.bs, TOPIC, "late", 200, 0, 100);
        {
                fg_test_seen_t seen = {0};
                int64_t deadline = fg_mono_ns() + 60 * FG_NS_PER_S;
                do {
                        fg_test_seen_free(&seen);
                        memset(&seen, 0, sizeof(seen));
                        usleep(20 * 1000);
                        fg_test_seen_scan(&seen, t->bodies, "late", 200);
                } while (seen.missing && fg_mono_ns() < deadline);
                ck_assert_int_eq(seen.missing, 0);
                fg_test_seen_free(&seen);
        }
        reqs = fg_test_tlsd_events(t, "request");
        json_array_foreach(reqs, i, req) {
                ck_assert_int_eq(json_integer_value(json_object_get(req, "status")), 200);
                with_new += !strcmp(json_string_value(json_object_get(req, "auth")),
                                    "Bearer tok-second-0815");
        }
        ck_assert_uint_gt(with_new, 0);
        json_decref(reqs);
        ck_assert(!fg_test_file_contains(r.log, "tok-first"));
        ck_assert(!fg_test_file_contains(r.log, "tok-second"));
        drun_finish(&r, t, "bear", COUNT + 200);
        fg_test_tlsd_stop(t);
        fg_test_rmtree(dir);
        free(dir), free(mine), free(theirs);
}
END_TEST

/* Nothing that is secret reaches the log (at debug), /stats or /metrics,
 * whether the server takes the credentials or refuses them, across a
 * reload; and verify: false is warned about at start. */
START_TEST(test_https_daemon_no_credentials_anywhere) {
        /* The password and the token, and the basic credentials as sent. */
        static const char *const secrets[] = {"SECRET", "Zmxvb2RnYXRlOnB3LVNFQ1JFVC14OXk4"};
        const char *args[] = {"--cert", P("server.pem"), "--key", P("server.key"), "--basic",
                              "floodgate:pw-SECRET-x9y8", NULL};
        fg_test_tlsd_t *t = fg_test_tlsd_start(args);
        char url[128], extra[512], *stats = NULL, *metrics = NULL, *log;
        drun_t r;

        setenv("FG_TEST_PASSWORD", "pw-SECRET-x9y8", 1);
        for (int round = 0; round < 2; round++) {
                snprintf(url, sizeof(url), "https://localhost:%d/ingest", t->port);
                /* Round 0: the right password, without verification; round
                 * 1: a bearer token the server refuses (401: dropped). */
                snprintf(extra, sizeof(extra),
                         round == 0 ? "  tls: {verify: false, insecure_skip_verify: true}\n"
                                      "  auth:\n    basic: {user: floodgate, password: "
                                      "\"${FG_TEST_PASSWORD}\"}\n"
                                    : "  tls: {ca_file: %s}\n  auth:\n    bearer_token: "
                                      "tok-SECRET-a1b2\n",
                         P("ca.pem"));
                drun_start(&r, round == 0 ? "cred" : "refused", url, extra,
                           "log: {level: debug}\n");
                if (round == 0) {
                        ck_assert(fg_test_file_contains(r.log, "TLS verification is off"));
                        wait_all_ids(t, "cred");
                } else {
                        ck_assert(fg_test_wait_file_contains(r.log, "HTTP 401 Unauthorized", 30000));
                }
                fg_test_proc_signal(r.d, SIGHUP);
                ck_assert(fg_test_wait_file_contains(r.log, "reload:", 10000));
                ck_assert_int_eq(fg_test_http(r.admin, "GET", "/stats", &stats), 200);
                ck_assert_int_eq(fg_test_http(r.admin, "GET", "/metrics", &metrics), 200);
                fg_test_proc_signal(r.d, SIGTERM);
                ck_assert_int_eq(fg_test_proc_wait(r.d, 60000), 0);
                log = fg_test_slurp(r.log, NULL);
                for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
                        ck_assert_msg(!strstr(log, secrets[i]), "log shows %s:\n%s", secrets[i], log);
                        ck_assert_msg(!strstr(stats, secrets[i]), "/stats shows %s", secrets[i]);
                        ck_assert_msg(!strstr(metrics, secrets[i]), "/metrics shows %s", secrets[i]);
                }
                ck_assert_ptr_nonnull(strstr(stats, "\"tls_handshakes\""));
                ck_assert_ptr_nonnull(strstr(metrics, "floodgate_sink_tls_handshakes_total{session=\"new\"}"));
                free(log), free(stats), free(metrics);
                fg_test_proc_free(r.d);
                fg_mock_destroy(r.mock);
                fg_test_rmtree(r.dir);
                free(r.dir), free(r.log), free(r.cfg);
        }
        unsetenv("FG_TEST_PASSWORD");
        fg_test_tlsd_stop(t);
}
END_TEST

/* check-config reads the TLS files: unreadable, not PEM, a key that does
 * not match or is encrypted are errors with file:line:col and exit 78. */
START_TEST(test_https_check_config_bad_files) {
        /* want: "<where> '<pki>/<bad>': <why>" */
        static const struct {
                const char *ca, *cert, *key, *where, *bad, *why;
        } cases[] = {
            {"garbage.pem", NULL, NULL, ":8:14: sink.tls.ca_file", "garbage.pem",
             "no PEM certificate in it"},
            {"server.key", NULL, NULL, ":8:14: sink.tls.ca_file", "server.key",
             "no PEM certificate in it"},
            {"ca.pem", "garbage.pem", "client.key", ":9:16: sink.tls.cert_file", "garbage.pem",
             "no PEM certificate in it"},
            {"ca.pem", "client.pem", "server.key", ":10:15: sink.tls.key_file", "server.key",
             "does not match sink.tls.cert_file"},
            {"ca.pem", "client.pem", "client-encrypted.key", ":10:15: sink.tls.key_file",
             "client-encrypted.key",
             "no usable PEM private key in it (encrypted keys are not supported)"},
            {"ca.pem", "client.pem", "client.pem", ":10:15: sink.tls.key_file", "client.pem",
             "no usable PEM private key"},
            {"ca.pem", "client.pem", "client.key", NULL, NULL, NULL},
        };
        char *dir = fg_test_tmpdir();

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *cfg, *out = NULL, want[512];
                const char *args[] = {"check-config", "-c", NULL, NULL};
                int rc;

                cfg = fg_test_write(dir, "c.yaml",
                                    "kafka:\n  brokers: localhost:9092\n  topics: [events]\n"
                                    "sink:\n  type: http\n  url: \"https://example.com/\"\n"
                                    "  tls:\n    ca_file: %s\n%s%s%s%s%s%s",
                                    P(cases[i].ca), cases[i].cert ? "    cert_file: " : "",
                                    cases[i].cert ? P(cases[i].cert) : "", cases[i].cert ? "\n" : "",
                                    cases[i].key ? "    key_file: " : "",
                                    cases[i].key ? P(cases[i].key) : "", cases[i].key ? "\n" : "");
                args[2] = cfg;
                rc = fg_test_run(args, &out, 30000);
                if (!cases[i].where) {
                        ck_assert_msg(rc == 0, "case %zu: %s", i, out);
                } else {
                        snprintf(want, sizeof(want), "%s '%s/%s': %s", cases[i].where, pki,
                                 cases[i].bad, cases[i].why);
                        ck_assert_msg(rc == 78, "case %zu: exit %d: %s", i, rc, out);
                        ck_assert_msg(strstr(out, want), "case %zu: '%s' lacks '%s'", i, out, want);
                }
                free(out);
                free(cfg);
        }
        fg_test_rmtree(dir);
        free(dir);
}
END_TEST

static Suite *https_suite(void) {
        Suite *s = suite_create("https");
        TCase *sink = tcase_create("sink"), *daemon = tcase_create("daemon");

        tcase_add_unchecked_fixture(sink, pki_setup, pki_teardown);
        tcase_set_timeout(sink, 60);
        tcase_add_test(sink, test_https_delivers_over_one_connection);
        tcase_add_test(sink, test_https_connection_per_worker);
        tcase_add_test(sink, test_https_system_ca_bundle);
        tcase_add_test(sink, test_https_refusals_have_reasons);
        tcase_add_test(sink, test_https_server_name);
        tcase_add_test(sink, test_https_plain_server);
        tcase_add_test(sink, test_https_mutual_tls);
        tcase_add_test(sink, test_https_min_version);
        tcase_add_test(sink, test_https_insecure_skip_verify);
        tcase_add_test(sink, test_https_session_resumption);
        tcase_add_test(sink, test_https_server_closed_idle_connection);
        tcase_add_test(sink, test_https_gzip_roundtrip);
        tcase_add_loop_test(sink, test_https_token_file_read_again_on_refusal, 0, 2);
        tcase_add_test(sink, test_https_basic_auth);
        suite_add_tcase(s, sink);

        tcase_add_unchecked_fixture(daemon, pki_setup, pki_teardown);
        tcase_set_timeout(daemon, 180);
        tcase_add_test(daemon, test_https_daemon_wrong_ca_fixed_by_sighup);
        tcase_add_loop_test(daemon, test_https_daemon_server_cert_fixed, 0, 2);
        tcase_add_test(daemon, test_https_daemon_client_cert_rotated_by_sighup);
        tcase_add_test(daemon, test_https_daemon_bearer_rotated_by_sighup);
        tcase_add_test(daemon, test_https_daemon_no_credentials_anywhere);
        tcase_add_test(daemon, test_https_check_config_bad_files);
        suite_add_tcase(s, daemon);
        return s;
}

int main(void) {
        /* A vanished server is an EPIPE, not a signal, as in the daemon. */
        signal(SIGPIPE, SIG_IGN);
        return fg_test_run_in_srcdir(https_suite(), "check_https");
}
