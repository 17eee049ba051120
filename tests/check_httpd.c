/*
 * check_httpd: the scriptable test HTTP server (tests/support/httpd.c) —
 * default and changed responses, the script in order (statuses,
 * Retry-After, DROP, HANG), delays that are honoured and run concurrently
 * (timers, not sleeps), latency changed at run time, the fail window and
 * its end, the concurrency limit and the peak, keep-alive against
 * connection counts, the request log (bodies, headers, chunked bodies,
 * clear), id counting over object, array and NDJSON bodies, clients that
 * misbehave or leave, clients and servers on several threads, stop and
 * restart on the same port (run it under ASan and TSan).
 *
 * The client is a few lines of blocking sockets, so each test controls
 * exactly which connection carries which bytes. Waits are on conditions
 * with a 10 s bound; the only clock checks are lower bounds a delay must
 * honour and upper bounds far from what a serialised server would take.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "tests/support/httpd.h"

#define WAIT_MS 10000

/* ---- a minimal client ---- */

typedef struct conn {
        int fd;
        size_t len;
        char buf[16384];
} conn_t;

typedef struct resp {
        int status;           /* 0: the connection closed before any byte */
        char retry_after[32]; /* "" when absent */
        bool conn_close;      /* "Connection: close" */
        char body[256];
} resp_t;

static fg_test_httpd_t *httpd_new(void) {
        fg_test_httpd_t *h = fg_test_httpd_start();

        ck_assert_ptr_nonnull(h);
        ck_assert_int_gt(fg_test_httpd_port(h), 0);
        return h;
}

static int64_t ms_since(int64_t t0_ns) { return (fg_mono_ns() - t0_ns) / FG_NS_PER_MS; }

static void conn_open(conn_t *c, fg_test_httpd_t *h) {
        struct sockaddr_in sin = {.sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)fg_test_httpd_port(h)),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        struct timeval tv = {WAIT_MS / 1000, 0};

        c->len = 0;
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        ck_assert_msg(c->fd >= 0, "socket: %s", strerror(errno));
        /* A response that never comes fails the test instead of hanging it. */
        ck_assert_int_eq(setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
        ck_assert_msg(connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) == 0, "connect: %s",
                      strerror(errno));
}

static void conn_close(conn_t *c) {
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
}

static void send_all(conn_t *c, const void *p, size_t len) {
        while (len) {
                ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
                ck_assert_msg(n > 0, "send: %s", strerror(errno));
                p = (const char *)p + n;
                len -= (size_t)n;
        }
}

static void send_str(conn_t *c, const char *s) { send_all(c, s, strlen(s)); }

/* One request with a Content-Length body, in one send (two would meet
 * Nagle and delayed ACKs); @p extra: more header lines, each ending in CRLF. */
static void req_send(conn_t *c, const char *method, const char *path, const char *ctype,
                     const char *body, const char *extra) {
        size_t blen = body ? strlen(body) : 0;
        size_t size = 1024 + strlen(path) + (extra ? strlen(extra) : 0) + blen;
        char *msg = malloc(size);
        int n;

        ck_assert_ptr_nonnull(msg);
        n = snprintf(msg, size,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%sContent-Length: %zu\r\n%s\r\n%s",
                     method, path, ctype ? "Content-Type: " : "", ctype ? ctype : "",
                     ctype ? "\r\n" : "", blen, extra ? extra : "", body ? body : "");
        ck_assert(n > 0 && (size_t)n < size);
        send_all(c, msg, (size_t)n);
        free(msg);
}

static void get_send(conn_t *c, const char *path) { req_send(c, "GET", path, NULL, NULL, NULL); }

static size_t header_value(const char *head, const char *name, char *out, size_t size) {
        size_t nlen = strlen(name);

        for (const char *p = strstr(head, "\r\n"); p && p[2] != '\r'; p = strstr(p + 2, "\r\n")) {
                const char *line = p + 2, *end = strstr(line, "\r\n");
                if (!strncasecmp(line, name, nlen) && line[nlen] == ':') {
                        const char *v = line + nlen + 1;
                        size_t l;
                        while (*v == ' ')
                                v++;
                        l = (size_t)(end - v) < size - 1 ? (size_t)(end - v) : size - 1;
                        memcpy(out, v, l);
                        out[l] = '\0';
                        return l;
                }
        }
        out[0] = '\0';
        return 0;
}

static void conn_fill(conn_t *c, size_t need) {
        while (c->len < need) {
                ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
                ck_assert_msg(n > 0, "recv: %s", n < 0 ? strerror(errno) : "EOF mid-response");
                c->len += (size_t)n;
        }
}

/* Reads one response (framed by Content-Length). */
static resp_t resp_read(conn_t *c) {
        resp_t r;
        char *eoh, clen[32], conn[32];
        size_t hlen, blen;

        memset(&r, 0, sizeof(r));
        for (;;) {
                ssize_t n;
                c->buf[c->len] = '\0';
                eoh = strstr(c->buf, "\r\n\r\n");
                if (eoh)
                        break;
                ck_assert_msg(c->len < sizeof(c->buf) - 1, "response headers too long");
                n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
                if (n == 0 && c->len == 0)
                        return r;
                ck_assert_msg(n > 0, "recv: %s", n < 0 ? strerror(errno) : "EOF in headers");
                c->len += (size_t)n;
        }
        hlen = (size_t)(eoh + 4 - c->buf);
        ck_assert_msg(sscanf(c->buf, "HTTP/1.%*d %d", &r.status) == 1, "bad status line: %.40s",
                      c->buf);
        eoh[2] = '\0';
        header_value(c->buf, "Retry-After", r.retry_after, sizeof(r.retry_after));
        header_value(c->buf, "Connection", conn, sizeof(conn));
        r.conn_close = !strcasecmp(conn, "close");
        blen = header_value(c->buf, "Content-Length", clen, sizeof(clen)) ? strtoul(clen, NULL, 10)
                                                                           : 0;
        conn_fill(c, hlen + blen);
        memcpy(r.body, c->buf + hlen, blen < sizeof(r.body) - 1 ? blen : sizeof(r.body) - 1);
        c->len -= hlen + blen;
        memmove(c->buf, c->buf + hlen + blen, c->len);
        return r;
}

/* The connection was closed with nothing (more) to read. */
static void expect_eof(conn_t *c) {
        char b;
        ssize_t n = recv(c->fd, &b, 1, 0);

        ck_assert_msg(n == 0 && c->len == 0, "expected EOF, got %zd (%s)", n,
                      n < 0 ? strerror(errno) : "data");
}

static bool readable_now(conn_t *c) {
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        return poll(&pfd, 1, 0) > 0;
}

static int get_status(fg_test_httpd_t *h, const char *path) {
        conn_t c;
        resp_t r;

        conn_open(&c, h);
        get_send(&c, path);
        r = resp_read(&c);
        conn_close(&c);
        return r.status;
}

/* ---- waiting ---- */

typedef struct cond {
        fg_test_httpd_t *h;
        int64_t inflight, requests;
} cond_t;

static bool cond_met(const cond_t *w) {
        fg_test_httpd_stats_t st;
        fg_test_httpd_stats(w->h, &st);
        return (w->inflight < 0 || st.inflight == w->inflight) &&
               (w->requests < 0 || st.requests >= w->requests);
}

static bool wait_cond(fg_test_httpd_t *h, int64_t inflight, int64_t requests) {
        cond_t w = {h, inflight, requests};
        int64_t deadline = fg_mono_ns() + WAIT_MS * FG_NS_PER_MS;
        struct timespec two_ms = {0, 2 * 1000 * 1000};

        while (!cond_met(&w)) {
                if (fg_mono_ns() >= deadline)
                        return false;
                nanosleep(&two_ms, NULL);
        }
        return true;
}

static fg_test_httpd_stats_t stats_of(fg_test_httpd_t *h) {
        fg_test_httpd_stats_t st;
        fg_test_httpd_stats(h, &st);
        return st;
}

/* ---- responses ---- */

START_TEST(test_httpd_default_200) {
        fg_test_httpd_t *h = httpd_new();
        char want[64];
        conn_t c;
        resp_t r;

        snprintf(want, sizeof(want), "http://127.0.0.1:%d/ingest", fg_test_httpd_port(h));
        ck_assert_str_eq(fg_test_httpd_url(h, "/ingest"), want);
        ck_assert_str_eq(fg_test_httpd_url(h, "ingest"), want);
        snprintf(want, sizeof(want), "http://127.0.0.1:%d/", fg_test_httpd_port(h));
        ck_assert_str_eq(fg_test_httpd_url(h, NULL), want);

        conn_open(&c, h);
        req_send(&c, "POST", "/ingest", "application/json", "{\"id\":\"a-0\"}", NULL);
        r = resp_read(&c);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.retry_after, "");
        ck_assert_str_eq(r.body, "{\"ok\":true}\n");
        ck_assert_int_eq(stats_of(h).requests, 1);
        ck_assert_int_eq(stats_of(h).connections, 1);
        ck_assert_int_eq(stats_of(h).events, 1);
        ck_assert_int_eq(fg_test_httpd_answered(h, 200), 1);
        conn_close(&c);
        fg_test_httpd_stop(h);
        fg_test_httpd_stop(NULL);
}
END_TEST

START_TEST(test_httpd_default_changed) {
        fg_test_httpd_t *h = httpd_new();
        conn_t c;
        resp_t r;

        conn_open(&c, h);
        fg_test_httpd_default(h, 503, 0, 5);
        get_send(&c, "/");
        r = resp_read(&c);
        ck_assert_int_eq(r.status, 503);
        ck_assert_str_eq(r.retry_after, "5");
        ck_assert_ptr_nonnull(strstr(r.body, "503"));

        fg_test_httpd_default(h, 204, 0, -1);
        get_send(&c, "/");
        r = resp_read(&c);
        ck_assert_int_eq(r.status, 204);
        ck_assert_str_eq(r.retry_after, "");
        ck_assert_int_eq(fg_test_httpd_answered(h, 503), 1);
        ck_assert_int_eq(fg_test_httpd_answered(h, 204), 1);
        conn_close(&c);
        fg_test_httpd_stop(h);
}
END_TEST

START_TEST(test_httpd_script_in_order) {
        fg_test_httpd_t *h = httpd_new();
        static const int want[] = {500, 429, 201, 200, 200};
        conn_t c;
        resp_t r;

        fg_test_httpd_script(h, 500, 0, -1);
        fg_test_httpd_script(h, 429, 0, 3);
        fg_test_httpd_script(h, 201, 0, -1);
        ck_assert_int_eq(stats_of(h).script_left, 3);
        conn_open(&c, h);
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
                get_send(&c, "/");
                r = resp_read(&c);
                ck_assert_msg(r.status == want[i], "request %zu: %d, expected %d", i, r.status,
                              want[i]);
                ck_assert_str_eq(r.retry_after, i == 1 ? "3" : "");
        }
        ck_assert_int_eq(stats_of(h).script_left, 0);
        ck_assert_int_eq(stats_of(h).connections, 1);

        /* A script appended after it ran dry starts again. */
        fg_test_httpd_script(h, 502, 0, -1);
        get_send(&c, "/");
        ck_assert_int_eq(resp_read(&c).status, 502);
        get_send(&c, "/");
        ck_assert_int_eq(resp_read(&c).status, 200);
        conn_close(&c);
        fg_test_httpd_stop(h);
}
END_TEST

/* ---- delays ---- */

START_TEST(test_httpd_delay_honoured) {
        fg_test_httpd_t *h = httpd_new();
        int64_t t0;
        conn_t c;

        fg_test_httpd_default(h, 200, 200, -1);
        conn_open(&c, h);
        t0 = fg_mono_ns();
        get_send(&c, "/");
        ck_assert_int_eq(resp_read(&c).status, 200);
        ck_assert_int_ge(ms_since(t0), 200);

        /* A scripted delay, then back to the default one. */
        fg_test_httpd_default(h, 200, 0, -1);
        fg_test_httpd_script(h, 202, 150, -1);
        t0 = fg_mono_ns();
        get_send(&c, "/");
        ck_assert_int_eq(resp_read(&c).status, 202);
        ck_assert_int_ge(ms_since(t0), 150);
        conn_close(&c);
        fg_test_httpd_stop(h);
}
END_TEST

/* Four 200 ms requests at once finish in less than two delays: served in
 * sequence they would take 800 ms. */
START_TEST(test_httpd_delays_run_concurrently) {
        fg_test_httpd_t *h = httpd_new();
        conn_t c[4];
        int64_t t0, elapsed;

        fg_test_httpd_latency(h, 200);
        for (int i = 0; i < 4; i++)
                conn_open(&c[i], h);
        t0 = fg_mono_ns();
        for (int i = 0; i < 4; i++)
                get_send(&c[i], "/");
        for (int i = 0; i < 4; i++)
                ck_assert_int_eq(resp_read(&c[i]).status, 200);
        elapsed = ms_since(t0);
        ck_assert_int_ge(elapsed, 200);
        ck_assert_msg(elapsed < 400, "4 concurrent 200 ms requests took %lld ms",
                      (long long)elapsed);
        ck_assert_int_eq(stats_of(h).peak_inflight, 4);
        ck_assert_int_eq(stats_of(h).inflight, 0);
        for (int i = 0; i < 4; i++)
                conn_close(&c[i]);
        fg_test_httpd_stop(h);
}
END_TEST

START_TEST(test_httpd_latency_changes_at_runtime) {
        fg_test_httpd_t *h = httpd_new();
        int64_t t0;
        conn_t c;

        conn_open(&c, h);
        fg_test_httpd_latency(h, 300);
        t0 = fg_mono_ns();
        get_send(&c, "/");
        ck_assert_int_eq(resp_read(&c).status, 200);
        ck_assert_int_ge(ms_since(t0), 300);

        /* Latency and a delay add up. */
        fg_test_httpd_latency(h, 100);
        fg_test_httpd_script(h, 200, 100, -1);
        t0 = fg_mono_ns();
        get_send(&c, "/");
        ck_assert_int_eq(resp_read(&c).status, 200);
        ck_assert_int_ge(ms_since(t0), 200);

        fg_test_httpd_latency(h, 0);
        t0 = fg_mono_ns();
        get_send(&c, "/");
        ck_assert_int_eq(resp_read(&c).status, 200);
        ck_assert_int_lt(ms_since(t0), 100);
        conn_close(&c);
        fg_test_httpd_stop(h);
}
END_TEST

/* ---- DROP and HANG ---- */

START_TEST(test_httpd_drop_closes_without_response) {
        fg_test_httpd_t *h = httpd_new();
        int64_t t0;
        conn_t c;

        fg_test_httpd_script(h, FG_TEST_HTTPD_DROP, 0, -1);
        fg_test_httpd_script(h, FG_TEST_HTTPD_DROP, 150, -1);
        conn_open(&c, h);
        req_send(&c, "POST", "/ingest", "application/json", "{\"id\":\"d-0\"}", NULL);
        ck_assert_int_eq(resp_read(&c).status, 0);
        conn_close(&c);

        conn_open(&c, h);
        t0 = fg_mono_ns();
        get_send(&c, "/");
        ck_assert_int_eq(resp_read(&c).status, 0);
        ck_assert_int_ge(ms_since(t0), 150);
        conn_close(&c);

        ck_assert_int_eq(get_status(h, "/"), 200);
        ck_assert_int_eq(stats_of(h).dropped, 2);
        ck_assert_int_eq(stats_of(h).inflight, 0);
        ck_assert_int_eq(stats_of(h).connections, 3);
        fg_test_httpd_stop(h);
}
END_TEST

START_TEST(test_httpd_hang_until_stop) {
        fg_test_httpd_t *h = httpd_new();
        fg_test_httpd_log_t *log;
        conn_t hung, slow;

        fg_test_httpd_script(h, FG_TEST_HTTPD_HANG, 0, -1);
        conn_open(&hung, h);
        get_send(&hung, "/hang");
        ck_assert(wait_cond(h, 1, 1));
        /* The server goes on serving others... */
        ck_assert_int_eq(get_status(h, "/other"), 200);
        /* ...and has still not answered the hung one. */
        ck_assert(!readable_now(&hung));
        ck_assert_int_eq(stats_of(h).inflight, 1);
        log = fg_test_httpd_snapshot(h, 0);
        ck_assert_uint_eq(log->n, 2);
        ck_assert_int_eq(log->reqs[0].status, FG_TEST_HTTPD_HANG);
        ck_assert_str_eq(log->reqs[0].uri, "/hang");
        fg_test_httpd_log_free(log);

        /* One waiting on a timer is closed at stop as well. */
        fg_test_httpd_script(h, 200, 60000, -1);
        conn_open(&slow, h);
        get_send(&slow, "/slow");
        ck_assert(wait_cond(h, 2, 3));

        fg_test_httpd_stop(h);
        expect_eof(&hung);
        expect_eof(&slow);
        conn_close(&hung);
        conn_close(&slow);
}
END_TEST

/* ---- the fail window ---- */

/* RAW responses finish on the server thread after their last byte. */
static bool wait_raw_idle(fg_test_httpd_t *h) {
        for (int i = 0; i < WAIT_MS / 10; i++) {
                if (stats_of(h).raw_active == 0)
                        return true;
                usleep(10 * 1000);
        }
        return false;
}

/* Reads until EOF or an error; returns the bytes read, *err the errno of
 * an error (0 at EOF). */
static size_t read_to_end(conn_t *c, char *keep, size_t keep_size, int *err) {
        char buf[65536];
        size_t total = 0;

        *err = 0;
        for (;;) {
                ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
                if (n <= 0) {
                        *err = n < 0 ? errno : 0;
                        return total;
                }
                if (keep && total < keep_size - 1) {
                        size_t k = (size_t)n < keep_size - 1 - total ? (size_t)n : keep_size - 1 - total;
                        memcpy(keep + total, buf, k);
                        keep[total + k] = '\0';
                }
                total += (size_t)n;
        }
}

/* RAW responses: the head verbatim, the fill exactly fill_bytes long,
 * then the scripted end (FIN, RST); the request is logged as RAW and the
 * bytes counted. */
START_TEST(test_httpd_raw_bytes_and_ends) {
        fg_test_httpd_t *h = httpd_new();
        fg_test_httpd_log_t *log;
        fg_test_httpd_stats_t st;
        char keep[256];
        conn_t c;
        int err;

        fg_test_httpd_script_raw(h, &(fg_test_httpd_raw_t){.head = "HTTP/1.1 200 OK\r\nX: y\r\n\r\n",
                                                           .fill = "0123456789",
                                                           .fill_bytes = 1000005,
                                                           .end = FG_TEST_HTTPD_END_CLOSE});
        fg_test_httpd_script_raw(h, &(fg_test_httpd_raw_t){.head = "HTTP/1.1 200 OK\r\n",
                                                           .end = FG_TEST_HTTPD_END_RESET});
        conn_open(&c, h);
        get_send(&c, "/a");
        ck_assert_uint_eq(read_to_end(&c, keep, sizeof(keep), &err), 25 + 1000005);
        ck_assert_int_eq(err, 0);
        ck_assert(!strncmp(keep, "HTTP/1.1 200 OK\r\nX: y\r\n\r\n0123456789012", 37));
        conn_close(&c);

        conn_open(&c, h);
        get_send(&c, "/b");
        ck_assert_uint_eq(read_to_end(&c, keep, sizeof(keep), &err), 17);
        ck_assert_int_eq(err, ECONNRESET);
        conn_close(&c);

        ck_assert(wait_cond(h, 0, 2) && wait_raw_idle(h));
        st = stats_of(h);
        ck_assert_int_eq(st.raw_responses, 2);
        ck_assert_int_eq(st.raw_bytes, 25 + 1000005 + 17);
        ck_assert_int_eq(st.raw_active, 0);
        log = fg_test_httpd_snapshot(h, 0);
        ck_assert_uint_eq(log->n, 2);
        ck_assert_int_eq(log->reqs[0].status, FG_TEST_HTTPD_RAW);
        ck_assert_str_eq(log->reqs[1].uri, "/b");
        fg_test_httpd_log_free(log);
        fg_test_httpd_stop(h);
}
END_TEST

/* An endless RAW body stops when the client goes (the server does not
 * buffer for it), a trickle paces the fill, HANG keeps quiet. */
START_TEST(test_httpd_raw_endless_trickle_hang) {
        fg_test_httpd_t *h = httpd_new();
        char buf[4096];
        int64_t t0;
        size_t got = 0;
        conn_t c;

        fg_test_httpd_script_raw(h, &(fg_test_httpd_raw_t){.head = "HTTP/1.1 200 OK\r\n\r\n",
                                                           .fill = "x", .fill_bytes = -1});
        fg_test_httpd_script_raw(h, &(fg_test_httpd_raw_t){.head = "H", .fill = "ab",
                                                           .fill_bytes = 6, .trickle_ms = 100});
        fg_test_httpd_script_raw(h, &(fg_test_httpd_raw_t){.head = "HTTP/1.1 200 OK\r\n",
                                                           .end = FG_TEST_HTTPD_END_HANG});
        conn_open(&c, h);
        get_send(&c, "/endless");
        while (got < 8 * 1024 * 1024) {
                ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
                ck_assert_int_gt(n, 0);
                got += (size_t)n;
        }
        conn_close(&c);
        ck_assert(wait_cond(h, 0, 1) && wait_raw_idle(h));

        conn_open(&c, h);
        t0 = fg_mono_ns();
        get_send(&c, "/trickle");
        {
                int err;
                char keep[64];
                ck_assert_uint_eq(read_to_end(&c, keep, sizeof(keep), &err), 7);
                ck_assert_str_eq(keep, "Hababab");
        }
        ck_assert_int_ge(ms_since(t0), 250); /* three copies, 100 ms apart */
        conn_close(&c);

        conn_open(&c, h);
        get_send(&c, "/hang");
        conn_fill(&c, 17);
        ck_assert(!readable_now(&c));
        ck_assert_int_eq(stats_of(h).raw_active, 1);
        fg_test_httpd_stop(h); /* closes it */
        conn_close(&c);
}
END_TEST

START_TEST(test_httpd_fail_window_then_recovery) {
        fg_test_httpd_t *h = httpd_new();
        int64_t t0 = fg_mono_ns(), deadline = t0 + WAIT_MS * FG_NS_PER_MS;
        struct timespec two_ms = {0, 2 * 1000 * 1000};
        conn_t c;
        resp_t r;

        fg_test_httpd_default(h, 200, 0, 9); /* the window does not use it */
        fg_test_httpd_fail_for(h, 503, 300);
        conn_open(&c, h);
        get_send(&c, "/");
        r = resp_read(&c);
        ck_assert_int_eq(r.status, 503);
        ck_assert_str_eq(r.retry_after, "");
        while (r.status == 503 && fg_mono_ns() < deadline) {
                nanosleep(&two_ms, NULL);
                get_send(&c, "/");
                r = resp_read(&c);
        }
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.retry_after, "9");
        ck_assert_int_ge(ms_since(t0), 300);
        ck_assert_int_ge(fg_test_httpd_answered(h, 503), 1);
        ck_assert_int_eq(fg_test_httpd_answered(h, 200), 1);

        /* A new window, ended early. */
        fg_test_httpd_fail_for(h, 500, 60000);
        get_send(&c, "/");
        ck_assert_int_eq(resp_read(&c).status, 500);
        fg_test_httpd_fail_for(h, 500, 0);
        get_send(&c, "/");
        ck_assert_int_eq(resp_read(&c).status, 200);

        /* The script goes before the window. */
        fg_test_httpd_fail_for(h, 503, 60000);
        fg_test_httpd_script(h, 201, 0, -1);
        get_send(&c, "/");
        ck_assert_int_eq(resp_read(&c).status, 201);
        get_send(&c, "/");
        ck_assert_int_eq(resp_read(&c).status, 503);
        conn_close(&c);
        fg_test_httpd_stop(h);
}
END_TEST

/* ---- the concurrency limit ---- */

START_TEST(test_httpd_concurrency_limit) {
        fg_test_httpd_t *h = httpd_new();
        conn_t busy[2], extra[2], c;
        fg_test_httpd_log_t *log;
        resp_t r;

        fg_test_httpd_max_concurrency(h, 2, 429);
        fg_test_httpd_script(h, FG_TEST_HTTPD_HANG, 0, -1);
        fg_test_httpd_script(h, FG_TEST_HTTPD_HANG, 0, -1);
        fg_test_httpd_script(h, 201, 0, -1);
        for (int i = 0; i < 2; i++) {
                conn_open(&busy[i], h);
                get_send(&busy[i], "/");
        }
        ck_assert(wait_cond(h, 2, 2));
        for (int i = 0; i < 2; i++) {
                conn_open(&extra[i], h);
                get_send(&extra[i], "/");
                r = resp_read(&extra[i]);
                ck_assert_int_eq(r.status, 429);
                conn_close(&extra[i]);
        }
        ck_assert_int_eq(stats_of(h).peak_inflight, 2);
        ck_assert_int_eq(stats_of(h).rejected, 2);
        ck_assert_int_eq(stats_of(h).inflight, 2);
        ck_assert_int_eq(fg_test_httpd_answered(h, 429), 2);
        /* Rejections consume no script entry. */
        ck_assert_int_eq(stats_of(h).script_left, 1);
        log = fg_test_httpd_snapshot(h, 2);
        ck_assert_uint_eq(log->n, 2);
        ck_assert_int_eq(log->reqs[0].status, 429);
        ck_assert_int_eq(log->reqs[1].status, 429);
        fg_test_httpd_log_free(log);

        /* Lifted: the next one is served. */
        fg_test_httpd_max_concurrency(h, 0, 0);
        conn_open(&c, h);
        get_send(&c, "/");
        ck_assert_int_eq(resp_read(&c).status, 201);
        ck_assert_int_eq(stats_of(h).peak_inflight, 3);
        conn_close(&c);

        fg_test_httpd_stop(h);
        for (int i = 0; i < 2; i++) {
                expect_eof(&busy[i]);
                conn_close(&busy[i]);
        }
}
END_TEST

/* A limit with delays: the rejection comes at once, not after them. */
START_TEST(test_httpd_concurrency_limit_with_latency) {
        fg_test_httpd_t *h = httpd_new();
        conn_t busy, extra;
        int64_t t0;

        fg_test_httpd_max_concurrency(h, 1, 503);
        fg_test_httpd_latency(h, 1000);
        conn_open(&busy, h);
        get_send(&busy, "/");
        ck_assert(wait_cond(h, 1, 1));
        conn_open(&extra, h);
        t0 = fg_mono_ns();
        get_send(&extra, "/");
        ck_assert_int_eq(resp_read(&extra).status, 503);
        ck_assert_int_lt(ms_since(t0), 1000);
        ck_assert_int_eq(resp_read(&busy).status, 200);
        ck_assert_int_eq(stats_of(h).peak_inflight, 1);
        conn_close(&busy);
        conn_close(&extra);
        fg_test_httpd_stop(h);
}
END_TEST

/* ---- connections ---- */

START_TEST(test_httpd_keepalive_counts_connections) {
        fg_test_httpd_t *h = httpd_new();
        fg_test_httpd_log_t *log;
        conn_t c;
        resp_t r;

        conn_open(&c, h);
        for (int i = 0; i < 10; i++) {
                get_send(&c, "/");
                r = resp_read(&c);
                ck_assert_int_eq(r.status, 200);
                ck_assert(!r.conn_close);
        }
        conn_close(&c);
        ck_assert_int_eq(stats_of(h).connections, 1);
        ck_assert_int_eq(stats_of(h).requests, 10);
        log = fg_test_httpd_snapshot(h, 0);
        ck_assert_uint_eq(log->n, 10);
        for (size_t i = 1; i < log->n; i++)
                ck_assert_int_eq(log->reqs[i].peer_port, log->reqs[0].peer_port);
        fg_test_httpd_log_free(log);

        for (int i = 0; i < 5; i++) {
                conn_open(&c, h);
                req_send(&c, "GET", "/", NULL, NULL, "Connection: close\r\n");
                r = resp_read(&c);
                ck_assert_int_eq(r.status, 200);
                ck_assert(r.conn_close);
                expect_eof(&c);
                conn_close(&c);
        }
        ck_assert_int_eq(stats_of(h).connections, 6);
        ck_assert_int_eq(stats_of(h).requests, 15);
        log = fg_test_httpd_snapshot(h, 10);
        ck_assert_uint_eq(log->n, 5);
        for (size_t i = 1; i < log->n; i++)
                ck_assert_int_ne(log->reqs[i].peer_port, log->reqs[0].peer_port);
        fg_test_httpd_log_free(log);
        fg_test_httpd_stop(h);
}
END_TEST

/* ---- the log ---- */

START_TEST(test_httpd_log_bodies_and_headers) {
        fg_test_httpd_t *h = httpd_new();
        static const char nd[] = "{\"id\":\"l-0\"}\n{\"id\":\"l-1\"}\n";
        fg_test_httpd_log_t *log;
        int64_t t0 = fg_mono_ns();
        conn_t c;

        conn_open(&c, h);
        req_send(&c, "POST", "/ingest?x=1", "application/x-ndjson", nd,
                 "X-Batch: 7\r\nX-Other: a\r\n");
        ck_assert_int_eq(resp_read(&c).status, 200);
        req_send(&c, "PUT", "/two", NULL, "", NULL);
        ck_assert_int_eq(resp_read(&c).status, 200);

        log = fg_test_httpd_snapshot(h, 0);
        ck_assert_uint_eq(log->n, 2);
        ck_assert_str_eq(log->reqs[0].method, "POST");
        ck_assert_str_eq(log->reqs[0].uri, "/ingest?x=1");
        ck_assert_str_eq(log->reqs[0].content_type, "application/x-ndjson");
        ck_assert_uint_eq(log->reqs[0].body_len, strlen(nd));
        ck_assert_str_eq(log->reqs[0].body, nd);
        ck_assert_str_eq(fg_test_httpd_header(&log->reqs[0], "x-batch"), "7");
        ck_assert_str_eq(fg_test_httpd_header(&log->reqs[0], "X-Other"), "a");
        ck_assert_str_eq(fg_test_httpd_header(&log->reqs[0], "Host"), "127.0.0.1");
        ck_assert_ptr_null(fg_test_httpd_header(&log->reqs[0], "X-Missing"));
        ck_assert_int_eq(log->reqs[0].status, 200);
        ck_assert_int_ge(log->reqs[0].arrival_ns, t0);
        ck_assert_str_eq(log->reqs[1].method, "PUT");
        ck_assert_ptr_null(log->reqs[1].content_type);
        ck_assert_uint_eq(log->reqs[1].body_len, 0);
        ck_assert_str_eq(log->reqs[1].body, "");
        fg_test_httpd_log_free(log);

        log = fg_test_httpd_snapshot(h, 1);
        ck_assert_uint_eq(log->n, 1);
        ck_assert_str_eq(log->reqs[0].uri, "/two");
        fg_test_httpd_log_free(log);
        log = fg_test_httpd_snapshot(h, 5);
        ck_assert_uint_eq(log->n, 0);
        fg_test_httpd_log_free(log);

        ck_assert_int_eq(stats_of(h).events, 2);
        ck_assert_int_eq(stats_of(h).body_bytes, (int64_t)strlen(nd));
        fg_test_httpd_clear(h);
        log = fg_test_httpd_snapshot(h, 0);
        ck_assert_uint_eq(log->n, 0);
        fg_test_httpd_log_free(log);
        ck_assert_int_eq(stats_of(h).requests, 0);
        ck_assert_int_eq(stats_of(h).events, 0);
        ck_assert_int_eq(fg_test_httpd_answered(h, 200), 0);

        /* Logged again after a clear; not at all when switched off. */
        get_send(&c, "/three");
        ck_assert_int_eq(resp_read(&c).status, 200);
        fg_test_httpd_keep_log(h, false);
        get_send(&c, "/four");
        ck_assert_int_eq(resp_read(&c).status, 200);
        log = fg_test_httpd_snapshot(h, 0);
        ck_assert_uint_eq(log->n, 1);
        ck_assert_str_eq(log->reqs[0].uri, "/three");
        fg_test_httpd_log_free(log);
        ck_assert_int_eq(stats_of(h).requests, 2);
        conn_close(&c);
        fg_test_httpd_stop(h);
}
END_TEST

START_TEST(test_httpd_log_chunked_body) {
        fg_test_httpd_t *h = httpd_new();
        fg_test_httpd_log_t *log;
        conn_t c;

        conn_open(&c, h);
        send_str(&c, "POST /c HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n"
                     "d\r\n{\"id\":\"c-0\"}\n\r\n"
                     "d\r\n{\"id\":\"c-1\"}\n\r\n"
                     "0\r\n\r\n");
        ck_assert_int_eq(resp_read(&c).status, 200);
        log = fg_test_httpd_snapshot(h, 0);
        ck_assert_uint_eq(log->n, 1);
        ck_assert_str_eq(log->reqs[0].body, "{\"id\":\"c-0\"}\n{\"id\":\"c-1\"}\n");
        fg_test_httpd_log_free(log);
        ck_assert_uint_eq(fg_test_httpd_ids(h, "c", 2, NULL, NULL), 2);
        conn_close(&c);
        fg_test_httpd_stop(h);
}
END_TEST

/* ---- ids ---- */

START_TEST(test_httpd_ids_object_array_ndjson) {
        static const char *const bodies[] = {
                "{\"id\":\"t-0\",\"v\":1}",
                "[{\"id\":\"t-1\"},{\"id\":\"t-2\"},{\"id\":\"x-9\"},5]",
                "{\"id\":\"t-3\"}\n{\"id\":\"t-4\"}\n\n{\"id\":\"t-2\"}\n",
                "{\"meta\":{\"k\":1},\"event\":{\"id\":\"t-5\"}}",
                "not json at all",
                "{\"id\":\"t-6\"}\r\n{broken\n",
                "{\"id\":\"t-99\"}",
                "{\"id\": \"t-7x\"}",
                "",
        };
        static const uint32_t want[8] = {1, 1, 2, 1, 1, 1, 1, 0};
        fg_test_httpd_t *h = httpd_new();
        fg_test_httpd_idcount_t ic;
        uint32_t times[8];
        conn_t c;

        conn_open(&c, h);
        for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
                req_send(&c, "POST", "/", "application/json", bodies[i], NULL);
                ck_assert_int_eq(resp_read(&c).status, 200);
        }
        memset(times, 0xff, sizeof(times));
        ck_assert_uint_eq(fg_test_httpd_ids(h, "t", 8, times, &ic), 7);
        for (int i = 0; i < 8; i++)
                ck_assert_msg(times[i] == want[i], "times[%d] = %u, expected %u", i, times[i],
                              want[i]);
        ck_assert_int_eq(ic.objects, 11);
        ck_assert_int_eq(ic.matched, 8);
        ck_assert_int_eq(ic.distinct, 7);
        ck_assert_int_eq(ic.dups, 1);
        ck_assert_int_eq(ic.foreign, 4);
        ck_assert_int_eq(ic.unparsed, 2);
        ck_assert_int_eq(stats_of(h).events, 11);
        ck_assert_uint_eq(fg_test_httpd_ids(h, "x", 10, NULL, NULL), 1);
        ck_assert_uint_eq(fg_test_httpd_ids(h, "none", 10, NULL, &ic), 0);
        ck_assert_int_eq(ic.foreign, 12);
        conn_close(&c);
        fg_test_httpd_stop(h);
}
END_TEST

/* Many events, batched: every id counted once. */
START_TEST(test_httpd_ids_many) {
        enum { BATCHES = 200, PER = 50 };
        fg_test_httpd_t *h = httpd_new();
        fg_test_httpd_idcount_t ic;
        char body[PER * 32];
        conn_t c;

        conn_open(&c, h);
        for (int b = 0; b < BATCHES; b++) {
                size_t n = 0;
                body[n++] = '[';
                for (int i = 0; i < PER; i++)
                        n += (size_t)snprintf(body + n, sizeof(body) - n, "%s{\"id\":\"m-%d\"}",
                                              i ? "," : "", b * PER + i);
                snprintf(body + n, sizeof(body) - n, "]");
                req_send(&c, "POST", "/", "application/json", body, NULL);
                ck_assert_int_eq(resp_read(&c).status, 200);
        }
        ck_assert_uint_eq(fg_test_httpd_ids(h, "m", BATCHES * PER, NULL, &ic), BATCHES * PER);
        ck_assert_int_eq(ic.dups, 0);
        ck_assert_int_eq(ic.foreign, 0);
        ck_assert_int_eq(stats_of(h).events, BATCHES * PER);
        conn_close(&c);
        fg_test_httpd_stop(h);
}
END_TEST

/* ---- robustness ---- */

START_TEST(test_httpd_survives_weird_clients) {
        fg_test_httpd_t *h = httpd_new();
        conn_t c;
        resp_t r;

        /* Connect and leave. */
        conn_open(&c, h);
        conn_close(&c);
        /* Garbage instead of a request line: evhttp answers 400 or closes. */
        conn_open(&c, h);
        send_str(&c, "\x01\x02 garbage garbage\r\n\r\n");
        r = resp_read(&c);
        ck_assert(r.status == 0 || r.status == 400);
        conn_close(&c);
        /* A body cut short. */
        conn_open(&c, h);
        send_str(&c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"id\":");
        conn_close(&c);
        /* A negative Content-Length. */
        conn_open(&c, h);
        send_str(&c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n");
        r = resp_read(&c);
        ck_assert(r.status == 0 || r.status == 400);
        conn_close(&c);

        /* Leaving while the answer is delayed, with and without a body. */
        fg_test_httpd_latency(h, 100);
        conn_open(&c, h);
        get_send(&c, "/gone");
        ck_assert(wait_cond(h, 1, 1));
        conn_close(&c);
        conn_open(&c, h);
        req_send(&c, "POST", "/gone", "application/json", "{\"id\":\"g-1\"}", NULL);
        ck_assert(wait_cond(h, -1, 2));
        conn_close(&c);
        ck_assert(wait_cond(h, 0, 2));

        /* Two requests pipelined while the first one waits. */
        conn_open(&c, h);
        send_str(&c, "GET /p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p2 HTTP/1.1\r\nHost: x\r\n\r\n");
        ck_assert_int_eq(resp_read(&c).status, 200);
        ck_assert_int_eq(resp_read(&c).status, 200);
        /* More bytes while a request waits. */
        get_send(&c, "/p3");
        ck_assert(wait_cond(h, 1, 5));
        get_send(&c, "/p4");
        ck_assert_int_eq(resp_read(&c).status, 200);
        ck_assert_int_eq(resp_read(&c).status, 200);
        conn_close(&c);

        /* A hung request whose client leaves; a dropped one whose client
         * left before the drop. */
        fg_test_httpd_latency(h, 0);
        fg_test_httpd_script(h, FG_TEST_HTTPD_HANG, 0, -1);
        fg_test_httpd_script(h, FG_TEST_HTTPD_DROP, 200, -1);
        conn_open(&c, h);
        get_send(&c, "/hang");
        ck_assert(wait_cond(h, 1, 6));
        conn_close(&c);
        ck_assert(wait_cond(h, 0, 6));
        conn_open(&c, h);
        get_send(&c, "/drop");
        ck_assert(wait_cond(h, 1, 7));
        conn_close(&c);
        ck_assert(wait_cond(h, 0, 7));

        /* Still serving. */
        ck_assert_int_eq(get_status(h, "/"), 200);
        fg_test_httpd_stop(h);
}
END_TEST

/* A client that gives up frees its place under the concurrency limit. */
START_TEST(test_httpd_client_leaving_frees_its_slot) {
        fg_test_httpd_t *h = httpd_new();
        conn_t c;

        fg_test_httpd_max_concurrency(h, 1, 429);
        fg_test_httpd_script(h, FG_TEST_HTTPD_HANG, 0, -1);
        conn_open(&c, h);
        get_send(&c, "/");
        ck_assert(wait_cond(h, 1, 1));
        ck_assert_int_eq(get_status(h, "/"), 429);
        conn_close(&c);
        ck_assert(wait_cond(h, 0, 2));
        ck_assert_int_eq(get_status(h, "/"), 200);
        ck_assert_int_eq(stats_of(h).peak_inflight, 1);
        fg_test_httpd_stop(h);
}
END_TEST

/* ---- threads ---- */

typedef struct hammer {
        fg_test_httpd_t *h; /* NULL: start (and stop) a server of its own */
        int first, n;
        int ok;             /* requests answered 200 */
        pthread_t thread;
} hammer_t;

/* Client thread: no ck_assert here, the test thread checks hm->ok. */
static void *hammer_main(void *arg) {
        hammer_t *hm = arg;
        fg_test_httpd_t *h = hm->h ? hm->h : fg_test_httpd_start();
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        struct timeval tv = {WAIT_MS / 1000, 0};
        char msg[256], in[4096];
        int fd;

        if (!h)
                return NULL;
        sin.sin_port = htons((uint16_t)fg_test_httpd_port(h));
        fd = socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
                for (int i = 0; i < hm->n; i++) {
                        char body[64];
                        int blen = snprintf(body, sizeof(body), "{\"id\":\"h-%d\"}",
                                            hm->first + i);
                        int len = snprintf(msg, sizeof(msg),
                                           "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: "
                                           "%d\r\n\r\n%s",
                                           blen, body);
                        ssize_t got = 0, n;
                        if (send(fd, msg, (size_t)len, MSG_NOSIGNAL) != len)
                                break;
                        /* The whole response: headers and the 12-byte body. */
                        do {
                                n = recv(fd, in + got, sizeof(in) - 1 - (size_t)got, 0);
                                if (n > 0)
                                        got += n;
                                in[got] = '\0';
                        } while (n > 0 && !(strstr(in, "\r\n\r\n") &&
                                            strstr(in, "\r\n\r\n") + 4 + 12 <= in + got));
                        if (n <= 0)
                                break;
                        if (!strncmp(in, "HTTP/1.1 200 ", 13))
                                hm->ok++;
                }
        }
        close(fd);
        if (!hm->h)
                fg_test_httpd_stop(h);
        return NULL;
}

/* Four clients at once while the test thread changes settings and reads
 * the log. */
START_TEST(test_httpd_threads_hammer) {
        enum { THREADS = 4, PER = 200 };
        fg_test_httpd_t *h = httpd_new();
        hammer_t hm[THREADS];
        fg_test_httpd_idcount_t ic;
        int64_t round = 0;

        for (int i = 0; i < THREADS; i++) {
                hm[i] = (hammer_t){.h = h, .first = i * PER, .n = PER};
                ck_assert_int_eq(pthread_create(&hm[i].thread, NULL, hammer_main, &hm[i]), 0);
        }
        while (stats_of(h).requests < THREADS * PER && round < 100000) {
                fg_test_httpd_log_t *log = fg_test_httpd_snapshot(h, 0);
                ck_assert_ptr_nonnull(log);
                fg_test_httpd_log_free(log);
                fg_test_httpd_latency(h, (int)(round++ % 2));
                fg_test_httpd_ids(h, "h", THREADS * PER, NULL, NULL);
        }
        for (int i = 0; i < THREADS; i++) {
                pthread_join(hm[i].thread, NULL);
                ck_assert_int_eq(hm[i].ok, PER);
        }
        ck_assert_uint_eq(fg_test_httpd_ids(h, "h", THREADS * PER, NULL, &ic), THREADS * PER);
        ck_assert_int_eq(ic.dups, 0);
        ck_assert_int_eq(stats_of(h).connections, THREADS);
        ck_assert_int_eq(stats_of(h).requests, THREADS * PER);
        ck_assert_int_le(stats_of(h).peak_inflight, THREADS);
        fg_test_httpd_stop(h);
}
END_TEST

/* Servers started, used and stopped on several threads at once. */
START_TEST(test_httpd_servers_in_parallel) {
        enum { THREADS = 4 };
        hammer_t hm[THREADS];

        for (int i = 0; i < THREADS; i++) {
                hm[i] = (hammer_t){.h = NULL, .first = 0, .n = 50};
                ck_assert_int_eq(pthread_create(&hm[i].thread, NULL, hammer_main, &hm[i]), 0);
        }
        for (int i = 0; i < THREADS; i++) {
                pthread_join(hm[i].thread, NULL);
                ck_assert_int_eq(hm[i].ok, 50);
        }
}
END_TEST

START_TEST(test_httpd_stop_right_after_start) {
        for (int i = 0; i < 20; i++)
                fg_test_httpd_stop(httpd_new());
}
END_TEST

/* Stopped with a live keep-alive connection (the server side closes it,
 * so the port has TIME_WAIT sockets), then started again on the port. */
START_TEST(test_httpd_restart_on_same_port) {
        fg_test_httpd_t *h = httpd_new();
        int port = fg_test_httpd_port(h);
        char errstr[256] = "";
        conn_t c;

        conn_open(&c, h);
        get_send(&c, "/");
        ck_assert_int_eq(resp_read(&c).status, 200);
        fg_test_httpd_stop(h);
        expect_eof(&c);
        conn_close(&c);
        h = fg_test_httpd_start_on(port, errstr, sizeof(errstr));
        ck_assert_msg(h != NULL, "restart on %d: %s", port, errstr);
        ck_assert_int_eq(fg_test_httpd_port(h), port);
        ck_assert_int_eq(get_status(h, "/"), 200);
        fg_test_httpd_stop(h);
}
END_TEST

START_TEST(test_httpd_start_on_busy_port_fails) {
        fg_test_httpd_t *h = httpd_new();
        char errstr[256] = "";

        ck_assert_ptr_null(fg_test_httpd_start_on(fg_test_httpd_port(h), errstr, sizeof(errstr)));
        ck_assert_ptr_nonnull(strstr(errstr, "bind"));
        fg_test_httpd_stop(h);
}
END_TEST

static Suite *httpd_suite(void) {
        Suite *s = suite_create("httpd");
        TCase *tc = tcase_create("core");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_httpd_default_200);
        tcase_add_test(tc, test_httpd_default_changed);
        tcase_add_test(tc, test_httpd_script_in_order);
        tcase_add_test(tc, test_httpd_delay_honoured);
        tcase_add_test(tc, test_httpd_delays_run_concurrently);
        tcase_add_test(tc, test_httpd_latency_changes_at_runtime);
        tcase_add_test(tc, test_httpd_drop_closes_without_response);
        tcase_add_test(tc, test_httpd_hang_until_stop);
        tcase_add_test(tc, test_httpd_raw_bytes_and_ends);
        tcase_add_test(tc, test_httpd_raw_endless_trickle_hang);
        tcase_add_test(tc, test_httpd_fail_window_then_recovery);
        tcase_add_test(tc, test_httpd_concurrency_limit);
        tcase_add_test(tc, test_httpd_concurrency_limit_with_latency);
        tcase_add_test(tc, test_httpd_keepalive_counts_connections);
        tcase_add_test(tc, test_httpd_log_bodies_and_headers);
        tcase_add_test(tc, test_httpd_log_chunked_body);
        tcase_add_test(tc, test_httpd_ids_object_array_ndjson);
        tcase_add_test(tc, test_httpd_ids_many);
        tcase_add_test(tc, test_httpd_survives_weird_clients);
        tcase_add_test(tc, test_httpd_client_leaving_frees_its_slot);
        tcase_add_test(tc, test_httpd_threads_hammer);
        tcase_add_test(tc, test_httpd_servers_in_parallel);
        tcase_add_test(tc, test_httpd_stop_right_after_start);
        tcase_add_test(tc, test_httpd_restart_on_same_port);
        tcase_add_test(tc, test_httpd_start_on_busy_port_fails);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(httpd_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
