/*
 * check_admin: the daemon's HTTP endpoints, scraped from a real daemon
 * running against a mock cluster — counters agree with what was produced
 * and what the sink received, histograms are well formed, promtool accepts
 * the exposition, lag falls to 0, /readyz flips on assignment, /healthz
 * notices a wedged worker, and hostile clients do not block scrapes; the
 * server alone (a canned view on a private loop): the Host check, the
 * total request deadline, the connection cap; and the daemon at its
 * file-descriptor limit pausing accepts instead of spinning.
 */
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "daemon/admin.h"
#include "daemon/view.h"
#include "tests/support/fgtest.h"

#define TOPIC "events"

static char *write_config(const char *dir, const char *bootstrap, const char *group,
                          const char *sink_path, const char *extra) {
        return fg_test_write(dir, "fg.yaml",
                             "kafka:\n"
                             "  brokers: \"%s\"\n"
                             "  group_id: \"%s\"\n"
                             "  topics: [" TOPIC "]\n"
                             "sink:\n"
                             "  type: file\n"
                             "  path: \"%s\"\n"
                             "metrics:\n"
                             "  listen: \"127.0.0.1:0\"\n"
                             "  log_interval: 1s\n"
                             "%s",
                             bootstrap, group, sink_path, extra ? extra : "");
}

/* The value of the sample "name{labels}" (labels may be NULL). NAN if absent. */
static double prom_value(const char *text, const char *name, const char *labels) {
        char key[256];
        const char *p = text;
        size_t klen;

        snprintf(key, sizeof(key), "%s%s%s%s ", name, labels ? "{" : "", labels ? labels : "",
                 labels ? "}" : "");
        klen = strlen(key);
        while ((p = strstr(p, key))) {
                if (p == text || p[-1] == '\n')
                        return strtod(p + klen, NULL);
                p += klen;
        }
        return NAN;
}

/* Histogram @p name: buckets non-decreasing, +Inf == _count. Returns _count. */
static double check_histogram(const char *text, const char *name) {
        char bucket[128];
        const char *p = text;
        double prev = -1, inf = NAN, count;
        int n = 0;

        snprintf(bucket, sizeof(bucket), "%s_bucket{le=\"", name);
        while ((p = strstr(p, bucket))) {
                const char *le = p + strlen(bucket), *sp = strchr(le, ' ');
                double v;
                ck_assert(sp != NULL);
                v = strtod(sp + 1, NULL);
                ck_assert_msg(v >= prev, "%s buckets not cumulative at %.20s", name, le);
                prev = v;
                if (!strncmp(le, "+Inf", 4))
                        inf = v;
                n++;
                p = sp;
        }
        {
                char cname[128];
                snprintf(cname, sizeof(cname), "%s_count", name);
                count = prom_value(text, cname, NULL);
        }
        ck_assert_int_gt(n, 10);
        ck_assert_msg(inf == count, "%s: +Inf %g != _count %g", name, inf, count);
        return count;
}

static json_t *get_stats(int port) {
        char *body = NULL;
        json_t *doc;
        int status = fg_test_http(port, "GET", "/stats", &body);

        ck_assert_int_eq(status, 200);
        doc = json_loads(body, 0, NULL);
        ck_assert_msg(doc != NULL, "bad JSON: %s", body);
        free(body);
        return doc;
}

static int64_t stats_int(json_t *doc, const char *section, const char *key) {
        json_t *v = json_object_get(json_object_get(doc, section), key);
        return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

typedef struct ok_cond {
        int port;
        int64_t want;
} ok_cond_t;

static bool ok_reached(void *opaque) {
        ok_cond_t *c = opaque;
        json_t *doc = get_stats(c->port);
        bool done = stats_int(doc, "counters", "ok") >= c->want;
        json_decref(doc);
        return done;
}

static bool lag_is_zero(void *opaque) {
        ok_cond_t *c = opaque;
        json_t *doc = get_stats(c->port);
        json_t *total = json_object_get(json_object_get(doc, "lag"), "total");
        bool zero = json_is_integer(total) && json_integer_value(total) == 0;
        json_decref(doc);
        return zero;
}

/* Counters equal what was produced and what the sink received; histograms
 * are consistent; promtool accepts the text; lag falls to 0. */
START_TEST(test_admin_scrape_matches_reality) {
        const int64_t count = 30000;
        char *dir = fg_test_tmpdir(), *out = fg_test_path(dir, "out.jsonl"),
             *log = fg_test_path(dir, "daemon.log"), *metrics = fg_test_path(dir, "metrics.txt");
        fg_mock_t *mock = fg_test_mock(1, TOPIC, 6);
        const char *bs = fg_mock_bootstrap(mock);
        char *cfg = write_config(dir, bs, "adm1", out, NULL), *text = NULL, cmd[512];
        const char *args[] = {"run", "-c", cfg, NULL};
        fg_test_proc_t *d;
        ok_cond_t cond;
        fg_test_seen_t seen;
        json_t *doc;
        int port;
        FILE *fp;

        fg_test_produce(bs, TOPIC, "adm", count, 0, 150);
        d = fg_test_spawn(log, args);
        port = fg_test_admin_port(log, 30000);
        ck_assert_int_gt(port, 0);
        cond = (ok_cond_t){port, count};
        ck_assert(fg_test_wait(ok_reached, &cond, 60000));

        doc = get_stats(port);
        ck_assert_int_eq(stats_int(doc, "counters", "consumed"), count);
        ck_assert_int_eq(stats_int(doc, "counters", "ok"), count);
        ck_assert_int_eq(stats_int(doc, "counters", "dropped"), 0);
        ck_assert_int_eq(stats_int(doc, "queue", "depth"), 0);
        ck_assert_int_eq(stats_int(doc, "ingest", "assigned"), 6);
        ck_assert_int_eq(json_integer_value(json_object_get(
                             json_object_get(json_object_get(doc, "latency_total"), "end_to_end"),
                             "count")),
                         count);
        json_decref(doc);
        fg_test_seen_scan(&seen, out, "adm", count);
        ck_assert_int_eq(seen.missing, 0);
        ck_assert_int_eq(seen.lines, count);

        ck_assert_int_eq(fg_test_http(port, "GET", "/metrics", &text), 200);
        ck_assert_double_eq(prom_value(text, "floodgate_messages_consumed_total", NULL), (double)count);
        ck_assert_double_eq(prom_value(text, "floodgate_messages_processed_total", "outcome=\"ok\""),
                            (double)count);
        ck_assert_double_eq(prom_value(text, "floodgate_partitions_assigned", NULL), 6);
        ck_assert_double_eq(check_histogram(text, "floodgate_end_to_end_seconds"), (double)count);
        ck_assert_double_eq(check_histogram(text, "floodgate_queue_wait_seconds"), (double)count);
        ck_assert_double_eq(check_histogram(text, "floodgate_sink_call_seconds"),
                            prom_value(text, "floodgate_sink_calls_total", NULL));
        ck_assert(prom_value(text, "floodgate_end_to_end_seconds_sum", NULL) >= 0);

        fp = fopen(metrics, "w");
        ck_assert(fp != NULL);
        fputs(text, fp);
        fclose(fp);
        snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", metrics);
        ck_assert_msg(system(cmd) == 0, "promtool rejected the exposition (is Debian's prometheus "
                                        "package installed? make deps installs it)");
        free(text);

        ck_assert_msg(fg_test_wait(lag_is_zero, &cond, 20000), "lag never fell to 0");
        ck_assert(fg_test_wait_file_contains(log, "| lag 0 |", 5000));

        fg_test_proc_signal(d, SIGTERM);
        ck_assert_int_eq(fg_test_proc_wait(d, 30000), 0);
        fg_test_seen_free(&seen);
        fg_test_proc_free(d);
        fg_mock_destroy(mock);
        fg_test_rmtree(dir);
        free(dir), free(out), free(log), free(metrics), free(cfg);
}
END_TEST

typedef struct probe {
        int port;
        const char *path;
        int want;
} probe_t;

static bool probe_is(void *opaque) {
        probe_t *p = opaque;
        char *body = NULL;
        int status = fg_test_http(p->port, "GET", p->path, &body);
        free(body);
        return status == p->want;
}

/* /readyz answers 503 until the group hands us partitions, then 200;
 * /healthz is 200 throughout. */
START_TEST(test_admin_readyz_flips_on_assignment) {
        char *dir = fg_test_tmpdir(), *out = fg_test_path(dir, "out.jsonl"),
             *log = fg_test_path(dir, "daemon.log");
        fg_mock_t *mock = fg_test_mock(1, TOPIC, 2);
        char *cfg = write_config(dir, fg_mock_bootstrap(mock), "adm2", out, NULL), *body = NULL;
        const char *args[] = {"run", "-c", cfg, NULL};
        fg_test_proc_t *d = fg_test_spawn(log, args);
        probe_t ready;
        int port = fg_test_admin_port(log, 30000), status;
        bool assigned_before;

        ck_assert_int_gt(port, 0);
        status = fg_test_http(port, "GET", "/readyz", &body);
        assigned_before = fg_test_file_contains(log, "assigned 2 partitions");
        ck_assert_msg(assigned_before || status == 503, "readyz %d before assignment", status);
        ck_assert(assigned_before || strstr(body, "no partitions assigned yet"));
        free(body);
        ck_assert_int_eq(fg_test_http(port, "GET", "/healthz", NULL), 200);

        ck_assert(fg_test_wait_file_contains(log, "assigned 2 partitions", 30000));
        ready = (probe_t){port, "/readyz", 200};
        ck_assert(fg_test_wait(probe_is, &ready, 10000));

        fg_test_proc_signal(d, SIGTERM);
        ck_assert_int_eq(fg_test_proc_wait(d, 30000), 0);
        fg_test_proc_free(d);
        fg_mock_destroy(mock);
        fg_test_rmtree(dir);
        free(dir), free(out), free(log), free(cfg);
}
END_TEST

/* A worker stuck in one sink call (a FIFO nobody reads) turns /healthz
 * into 503 once metrics.stall_timeout passes. */
START_TEST(test_admin_healthz_notices_wedged_worker) {
        char *dir = fg_test_tmpdir(), *fifo = fg_test_path(dir, "sink.fifo"),
             *log = fg_test_path(dir, "daemon.log"), *body = NULL;
        fg_mock_t *mock = fg_test_mock(1, TOPIC, 2);
        const char *bs = fg_mock_bootstrap(mock);
        char *cfg = write_config(dir, bs, "adm3", fifo, "  stall_timeout: 1s\n");
        const char *args[] = {"run", "-c", cfg, NULL};
        fg_test_proc_t *d;
        probe_t sick;
        int port, rfd;

        ck_assert(mkfifo(fifo, 0600) == 0);
        /* Enough to fill the pipe (64 KiB) and block a writer. */
        fg_test_produce(bs, TOPIC, "wedge", 2000, 0, 500);
        d = fg_test_spawn(log, args);
        rfd = open(fifo, O_RDONLY | O_NONBLOCK); /* lets the sink open; never read */
        ck_assert(rfd >= 0);
        port = fg_test_admin_port(log, 30000);
        ck_assert_int_gt(port, 0);
        sick = (probe_t){port, "/healthz", 503};
        ck_assert_msg(fg_test_wait(probe_is, &sick, 30000), "/healthz never noticed");
        ck_assert_int_eq(fg_test_http(port, "GET", "/healthz", &body), 503);
        ck_assert_msg(strstr(body, "inside one sink call"), "%s", body);
        free(body);
        ck_assert_int_eq(fg_test_http(port, "GET", "/readyz", NULL), 503);

        fg_test_proc_signal(d, SIGKILL);
        fg_test_proc_wait(d, 10000);
        close(rfd);
        fg_test_proc_free(d);
        fg_mock_destroy(mock);
        fg_test_rmtree(dir);
        free(dir), free(fifo), free(log), free(cfg);
}
END_TEST

static int raw_connect(int port) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ck_assert(fd >= 0);
        ck_assert(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
        return fd;
}

/* Garbage, a request that never finishes, wrong methods and paths: each
 * gets its answer (or the door), and scrapes go on undisturbed. */
START_TEST(test_admin_hostile_clients) {
        char *dir = fg_test_tmpdir(), *out = fg_test_path(dir, "out.jsonl"),
             *log = fg_test_path(dir, "daemon.log"), *body = NULL;
        fg_mock_t *mock = fg_test_mock(1, TOPIC, 1);
        char *cfg = write_config(dir, fg_mock_bootstrap(mock), "adm4", out, NULL);
        const char *args[] = {"run", "-c", cfg, NULL};
        fg_test_proc_t *d = fg_test_spawn(log, args);
        int port = fg_test_admin_port(log, 30000), slow, junk;
        static const char garbage[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n";
        char big[16384], buf[256];
        struct timeval tv = {15, 0};
        int64_t t0;

        ck_assert_int_gt(port, 0);
        slow = raw_connect(port);
        ck_assert(write(slow, "GET /met", 8) == 8); /* and nothing more */
        junk = raw_connect(port);
        ck_assert(write(junk, garbage, sizeof(garbage) - 1) > 0);

        t0 = fg_mono_ns();
        ck_assert_int_eq(fg_test_http(port, "GET", "/metrics", &body), 200);
        ck_assert((fg_mono_ns() - t0) / FG_NS_PER_MS < 2000);
        ck_assert(strstr(body, "floodgate_build_info"));
        free(body);

        ck_assert_int_eq(fg_test_http(port, "GET", "/nope", NULL), 404);
        ck_assert_int_eq(fg_test_http(port, "POST", "/metrics", NULL), 405);
        ck_assert_int_eq(fg_test_http(port, "DELETE", "/stats", NULL), 405);
        ck_assert_int_eq(fg_test_http(port, "HEAD", "/stats", NULL), 200);

        /* A header block larger than the limit is refused, not buffered. */
        {
                int fd = raw_connect(port);
                memset(big, 'a', sizeof(big));
                ck_assert(write(fd, "GET /metrics HTTP/1.1\r\nX-Big: ", 30) == 30);
                ck_assert(write(fd, big, sizeof(big)) > 0);
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
                ck_assert(read(fd, buf, sizeof(buf)) >= 0); /* an error status or EOF */
                ck_assert(strncmp(buf, "HTTP/1.1 200", 12));
                close(fd);
        }

        /* The half-sent request is dropped by the server's timeout. */
        setsockopt(slow, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        t0 = fg_mono_ns();
        ck_assert(read(slow, buf, sizeof(buf)) >= 0);
        ck_assert((fg_mono_ns() - t0) / FG_NS_PER_MS < 12000);
        close(slow);
        close(junk);
        ck_assert_int_eq(fg_test_http(port, "GET", "/healthz", NULL), 200);

        fg_test_proc_signal(d, SIGTERM);
        ck_assert_int_eq(fg_test_proc_wait(d, 30000), 0);
        fg_test_proc_free(d);
        fg_mock_destroy(mock);
        fg_test_rmtree(dir);
        free(dir), free(out), free(log), free(cfg);
}
END_TEST

/* ---- the server alone: a canned view on a private loop ---- */

/* An admin server on its own thread and event_base, serving a blank
 * healthy view. */
typedef struct srv {
        struct event_base *base;
        struct event *stop;
        fg_admin_t *admin;
        pthread_t th;
        int port;
} srv_t;

static fg_view_t *collect_blank(void *opaque) {
        fg_view_t *v = calloc(1, sizeof(*v));

        if (v) {
                v->healthy = v->ready = true;
                v->lag_total = -1;
                v->brk.failure_rate = v->brk.slow_rate = -1;
                v->pool.mode = "fixed";
        }
        return v;
}

static void on_srv_stop(evutil_socket_t fd, short what, void *arg) {
        event_base_loopbreak(arg);
}

static void *srv_main(void *arg) {
        srv_t *s = arg;
        event_base_dispatch(s->base);
        return NULL;
}

static void srv_start(srv_t *s, const char *listen, const fg_strlist_t *allowed) {
        char errstr[256] = "";

        evthread_use_pthreads();
        memset(s, 0, sizeof(*s));
        s->base = event_base_new();
        ck_assert_ptr_nonnull(s->base);
        s->stop = event_new(s->base, -1, 0, on_srv_stop, s->base);
        s->admin = fg_admin_new_on(s->base, listen, allowed, collect_blank, NULL, errstr,
                                   sizeof(errstr));
        ck_assert_msg(s->admin != NULL, "%s", errstr);
        s->port = fg_admin_port(s->admin);
        ck_assert_int_eq(pthread_create(&s->th, NULL, srv_main, s), 0);
}

static void srv_stop(srv_t *s) {
        event_active(s->stop, EV_READ, 0);
        pthread_join(s->th, NULL);
        fg_admin_destroy(s->admin);
        event_free(s->stop);
        event_base_free(s->base);
}

/* Sends @p req on a new connection, returns the whole answer (caller
 * frees); "" when the server closed without one. */
static char *raw_request(int port, const char *req) {
        int fd = raw_connect(port);
        struct timeval tv = {10, 0};
        char *buf = calloc(1, 65536);
        size_t len = 0;
        ssize_t n;

        ck_assert_ptr_nonnull(buf);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        ck_assert(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
        while (len < 65535 && (n = read(fd, buf + len, 65535 - len)) > 0)
                len += (size_t)n;
        close(fd);
        return buf;
}

static int status_of(const char *resp) {
        int status = -1;
        return sscanf(resp, "HTTP/1.%*d %d", &status) == 1 ? status : -1;
}

/* DNS rebinding: a page at evil.example, whose name now points at
 * 127.0.0.1, must not read /stats. Only the listen address, loopback
 * names, metrics.allowed_hosts (and, on a wildcard address, IP literals)
 * are served; no Host at all (HTTP/1.0 tools) is. */
START_TEST(test_admin_host_check) {
        char *allowed_v[] = {"Metrics.Example.Net", "[2001:db8::1]"};
        fg_strlist_t allowed = {allowed_v, 2};
        static const struct {
                const char *host; /* NULL: no Host header */
                bool port;        /* ":<the server's port>" appended */
                int want;
        } loop_cases[] = {
            {"127.0.0.1", true, 200},          {"localhost", false, 200},
            {"LOCALHOST", true, 200},          {"app.localhost", true, 200},
            {"[::1]", true, 200},              {"127.9.9.9", false, 200},
            {"metrics.example.net:80", false, 200}, {"[2001:db8::1]:1", false, 200},
            {NULL, false, 200},                {"evil.example", true, 421},
            {"evil.example", false, 421},      {"10.0.0.7", true, 421},
            {"localhost.evil.example", false, 421}, {"", false, 421},
        };
        srv_t s;
        char req[256], host[128], *resp, *body;

        srv_start(&s, "127.0.0.1:0", &allowed);
        for (size_t i = 0; i < sizeof(loop_cases) / sizeof(loop_cases[0]); i++) {
                if (loop_cases[i].host) {
                        if (loop_cases[i].port)
                                snprintf(host, sizeof(host), "%s:%d", loop_cases[i].host, s.port);
                        else
                                snprintf(host, sizeof(host), "%s", loop_cases[i].host);
                        snprintf(req, sizeof(req), "GET /stats HTTP/1.1\r\nHost: %s\r\n"
                                                   "Connection: close\r\n\r\n", host);
                } else {
                        snprintf(req, sizeof(req), "GET /stats HTTP/1.0\r\n\r\n");
                }
                resp = raw_request(s.port, req);
                ck_assert_msg(status_of(resp) == loop_cases[i].want, "Host %s: %.60s",
                              loop_cases[i].host ? host : "(none)", resp);
                if (loop_cases[i].want == 421)
                        ck_assert_msg(strstr(resp, "DNS-rebinding protection") &&
                                          strstr(resp, "metrics.allowed_hosts"),
                                      "%s", resp);
                free(resp);
        }
        ck_assert_int_eq(fg_test_http(s.port, "GET", "/metrics", &body), 200);
        ck_assert_double_eq(prom_value(body, "floodgate_admin_misdirected_requests_total", NULL), 5);
        free(body);
        srv_stop(&s);

        /* Listening on every address: any IP literal is fine, names still
         * are not. */
        srv_start(&s, "0.0.0.0:0", NULL);
        resp = raw_request(s.port, "GET /healthz HTTP/1.1\r\nHost: 10.0.0.7:9464\r\n"
                                   "Connection: close\r\n\r\n");
        ck_assert_int_eq(status_of(resp), 200);
        free(resp);
        resp = raw_request(s.port, "GET /healthz HTTP/1.1\r\nHost: evil.example:9464\r\n"
                                   "Connection: close\r\n\r\n");
        ck_assert_int_eq(status_of(resp), 421);
        free(resp);
        srv_stop(&s);
}
END_TEST

/* A client trickling a header line every second never lets evhttp's
 * inactivity timeout fire; the request's own 5 s deadline closes it. */
START_TEST(test_admin_request_deadline_is_total) {
        srv_t s;
        int fd;
        int64_t t0;
        char buf[64], *body = NULL;
        ssize_t n = 1;

        srv_start(&s, "127.0.0.1:0", NULL);
        fd = raw_connect(s.port);
        t0 = fg_mono_ns();
        ck_assert(write(fd, "GET /metrics HTTP/1.1\r\n", 23) == 23);
        while (fg_mono_ns() - t0 < 12 * FG_NS_PER_S) {
                struct timeval tv = {1, 0};
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
                n = read(fd, buf, sizeof(buf)); /* a second's wait, or the close */
                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
                        break;
                if (send(fd, "X-Slow: 1\r\n", 11, MSG_NOSIGNAL) != 11)
                        break;
        }
        fprintf(stderr, "trickling client closed after %.1f s\n",
                (double)(fg_mono_ns() - t0) / 1e9);
        ck_assert_int_ge((fg_mono_ns() - t0) / FG_NS_PER_MS, 4500);
        ck_assert_int_lt((fg_mono_ns() - t0) / FG_NS_PER_MS, 9000);
        close(fd);
        ck_assert_int_eq(fg_test_http(s.port, "GET", "/metrics", &body), 200);
        ck_assert_double_eq(prom_value(body, "floodgate_admin_request_timeouts_total", NULL), 1);
        free(body);
        srv_stop(&s);
}
END_TEST

typedef struct conns_cond {
        int port;
        double want;
} conns_cond_t;

static bool connections_are(void *opaque) {
        conns_cond_t *c = opaque;
        char *body = NULL;
        bool ok = fg_test_http(c->port, "GET", "/metrics", &body) == 200 &&
                  prom_value(body, "floodgate_admin_connections", NULL) == c->want;
        free(body);
        return ok;
}

/* At most FG_ADMIN_MAX_CONNECTIONS connections: one more is closed at
 * once and counted; when one goes, scrapes work again. */
START_TEST(test_admin_connection_cap) {
        int fds[FG_ADMIN_MAX_CONNECTIONS], extra;
        struct timeval tv = {3, 0};
        conns_cond_t cond;
        char b, *body = NULL;
        srv_t s;

        srv_start(&s, "127.0.0.1:0", NULL);
        for (int i = 0; i < FG_ADMIN_MAX_CONNECTIONS; i++)
                fds[i] = raw_connect(s.port);
        extra = raw_connect(s.port);
        setsockopt(extra, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        ck_assert_msg(read(extra, &b, 1) <= 0 && errno != EAGAIN,
                      "the connection over the cap was not closed");
        close(extra);
        close(fds[0]);
        /* The closed one, and the scrape itself: 63 idle + 1. */
        cond = (conns_cond_t){s.port, FG_ADMIN_MAX_CONNECTIONS};
        ck_assert(fg_test_wait(connections_are, &cond, 3000));
        ck_assert_int_eq(fg_test_http(s.port, "GET", "/metrics", &body), 200);
        ck_assert_double_eq(prom_value(body, "floodgate_admin_connections_max", NULL),
                            FG_ADMIN_MAX_CONNECTIONS);
        ck_assert(prom_value(body, "floodgate_admin_connections_refused_total", NULL) >= 1);
        free(body);
        for (int i = 1; i < FG_ADMIN_MAX_CONNECTIONS; i++)
                close(fds[i]);
        cond = (conns_cond_t){s.port, 1};
        ck_assert(fg_test_wait(connections_are, &cond, 3000));
        srv_stop(&s);
}
END_TEST

/* utime + stime of @p pid, seconds. */
static double cpu_seconds(pid_t pid) {
        char path[64], buf[1024], *p;
        unsigned long long ut = 0, st = 0;
        FILE *fp;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        fp = fopen(path, "r");
        ck_assert(fp != NULL);
        ck_assert(fgets(buf, sizeof(buf), fp) != NULL);
        fclose(fp);
        p = strrchr(buf, ')');
        ck_assert(p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                              &st) == 2);
        return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static size_t open_fds(pid_t pid) {
        char path[64];
        size_t n = 0;
        DIR *dir;

        snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
        dir = opendir(path);
        ck_assert(dir != NULL);
        while (readdir(dir))
                n++;
        closedir(dir);
        return n - 2;
}

/* At the file-descriptor limit the daemon used to spin in accept() and log
 * each failure (335 MB in 6 s); now it pauses accepting, logs once, keeps
 * its CPU, and serves again once descriptors are free. */
START_TEST(test_admin_emfile_backs_off) {
        char *dir = fg_test_tmpdir(), *out = fg_test_path(dir, "out.jsonl"),
             *log = fg_test_path(dir, "daemon.log"), *body = NULL;
        fg_mock_t *mock = fg_test_mock(1, TOPIC, 1);
        char *cfg = write_config(dir, fg_mock_bootstrap(mock), "adm5", out, NULL);
        const char *args[] = {"run", "-c", cfg, NULL};
        fg_test_proc_t *d = fg_test_spawn(log, args);
        int port = fg_test_admin_port(log, 30000), fds[40];
        struct rlimit lim, old;
        double cpu0, cpu1;
        size_t log0, log1;
        probe_t healthy;

        ck_assert_int_gt(port, 0);
        ck_assert_int_eq(fg_test_http(port, "GET", "/healthz", NULL), 200);
        ck_assert_int_eq(prlimit(d->pid, RLIMIT_NOFILE, NULL, &old), 0);
        lim = old;
        lim.rlim_cur = open_fds(d->pid) + 3;
        ck_assert_int_eq(prlimit(d->pid, RLIMIT_NOFILE, &lim, NULL), 0);
        for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
                fds[i] = raw_connect(port); /* the kernel completes them; the daemon cannot */
        for (int i = 0; i < 1000 && open_fds(d->pid) < lim.rlim_cur; i++)
                usleep(10 * 1000);
        ck_assert_uint_ge(open_fds(d->pid), lim.rlim_cur);
        log0 = fg_test_count_lines(log);
        cpu0 = cpu_seconds(d->pid);
        usleep(2000 * 1000); /* a measurement window, not a synchronisation */
        cpu1 = cpu_seconds(d->pid);
        log1 = fg_test_count_lines(log);
        fprintf(stderr, "at the fd limit: %.3f CPU seconds and %zu log lines in 2 s\n",
                cpu1 - cpu0, log1 - log0);
        ck_assert_msg(cpu1 - cpu0 < 0.5, "spinning: %.2f CPU seconds in 2 s", cpu1 - cpu0);
        ck_assert_msg(log1 - log0 < 10, "%zu log lines in 2 s", log1 - log0);
        ck_assert(fg_test_file_contains(log, "admin: cannot accept connections: Too many open "
                                             "files; pausing accepts"));
        ck_assert(!fg_test_file_contains(log, "Error from accept"));

        for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
                close(fds[i]);
        ck_assert_int_eq(prlimit(d->pid, RLIMIT_NOFILE, &old, NULL), 0);
        healthy = (probe_t){port, "/healthz", 200};
        ck_assert_msg(fg_test_wait(probe_is, &healthy, 15000), "/healthz never came back");
        ck_assert(fg_test_wait_file_contains(log, "admin: accepting connections again", 5000));
        ck_assert_int_eq(fg_test_http(port, "GET", "/metrics", &body), 200);
        ck_assert(prom_value(body, "floodgate_admin_accept_errors_total", NULL) >= 1);
        free(body);

        fg_test_proc_signal(d, SIGTERM);
        ck_assert_int_eq(fg_test_proc_wait(d, 30000), 0);
        fg_test_proc_free(d);
        fg_mock_destroy(mock);
        fg_test_rmtree(dir);
        free(dir), free(out), free(log), free(cfg);
}
END_TEST

static Suite *admin_suite(void) {
        Suite *s = suite_create("admin");
        TCase *tc = tcase_create("admin");

        tcase_set_timeout(tc, 180);
        tcase_add_test(tc, test_admin_scrape_matches_reality);
        tcase_add_test(tc, test_admin_readyz_flips_on_assignment);
        tcase_add_test(tc, test_admin_healthz_notices_wedged_worker);
        tcase_add_test(tc, test_admin_hostile_clients);
        tcase_add_test(tc, test_admin_host_check);
        tcase_add_test(tc, test_admin_request_deadline_is_total);
        tcase_add_test(tc, test_admin_connection_cap);
        tcase_add_test(tc, test_admin_emfile_backs_off);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(admin_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
