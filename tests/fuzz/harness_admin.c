/*
 * harness_admin: a fuzz input as the bytes one client sends the admin HTTP
 * server (see harness.h).
 *
 * DESIGN: the real server (daemon/admin.c through fg_admin_new_on) listens
 * on 127.0.0.1:0 on a private event_base and renders a hand-filled view
 * instead of a daemon's (the collect callback). Per input, a non-blocking
 * client on the same loop connects, writes the input, half-closes (so the
 * server sees the end of what it will get, as from a client that sent a
 * request and waits) and reads until the server closes. The loop runs one
 * event at a time under a wall-clock deadline, so a server that neither
 * answers nor closes shows as a broken invariant, not as a hung fuzzer.
 *
 * Invariants: the server answers or closes the connection within the
 * deadline; whatever it sends is a sequence of HTTP responses with a
 * valid status line; a JSON response body (/stats, /healthz, /readyz)
 * parses as a JSON object.
 *
 * The view depends on the input's length (healthy or not, ready or not,
 * draining, collect failing), so the 200/503/500 paths are all reached
 * without spending input bytes that would make seeds less like HTTP.
 *
 * Threading: the caller's thread, one call at a time.
 * Ownership: the server and its base live until fg_fuzz_admin_teardown().
 */
#include "tests/fuzz/harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/admin.h"
#include "daemon/view.h"
#include "metrics/hist.h"

/* Generous: a sanitized server answers a 1 MiB /metrics pipeline well
 * within it. The server's own request timeout is 5 s. */
#define DEADLINE_MS  3000
#define KEEP_BYTES   (1024 * 1024) /* response bytes kept for checking */
#define MAX_LOOPS    1000000

static struct {
        struct event_base *base;
        fg_admin_t *admin;
        int port;
        fg_view_t canned;
        size_t input_size; /* of the input being served: shapes the view */
} srv;

typedef struct client {
        int fd;
        const uint8_t *data;
        size_t size, sent;
        bool wr_done, closed, timed_out, reset;
        char *resp;
        size_t len, total;
        struct event *io, *timer;
} client_t;


/* ---- the canned view ---- */

static void fill_canned(fg_view_t *v) {
        static const int64_t samples_ns[] = {1500, 80000, 2500000, 40000000, 1500000000LL,
                                             200000000000LL};

        memset(v, 0, sizeof(*v));
        v->now_ns = 123456789000LL;
        v->uptime_s = 12.5;
        for (int c = 0; c < FG_CTR__CNT; c++) {
                v->snap.ctr[c] = (uint64_t)(c + 1) * 1000;
                for (int w = 0; w < 3; w++)
                        v->rate[c][w] = (c + 1) * 10.0 / (w + 1);
        }
        for (int h = 0; h < FG_HIST__CNT; h++)
                for (size_t i = 0; i < sizeof(samples_ns) / sizeof(samples_ns[0]); i++) {
                        fg_hist_record(&v->snap.hist[h], samples_ns[i] * (h + 1));
                        if (i % 2)
                                fg_hist_record(&v->window[h], samples_ns[i]);
                }
        v->window_s = 10;
        v->q_depth = 312;
        v->q_bytes = 40960;
        v->q_capacity = 10000;
        v->q_max_bytes = 32 << 20;
        v->q_peak = 9216;
        v->assigned = 2;
        v->paused = 1;
        v->pending = 7;
        v->pool.mode = "dynamic";
        v->pool.running = 4;
        v->pool.busy = 1;
        v->pool.target = 5;
        v->pool.min = 2;
        v->pool.max = 16;
        v->pool.limit = 12;
        v->pool.rtt_mean_ms = 3.25;
        v->pool.scale_ups = 6;
        v->pool.scale_downs = 2;
        v->lag_total = 2210;
        v->lag_updated_ms = 1700000000000LL;
        v->brk.state = FG_BRK_CLOSED;
        v->brk.failure_rate = 0.25;
        v->brk.slow_rate = -1;
        v->brk.window_calls = 40;
        v->brk.transitions[FG_BRK_OPEN] = 3;
        v->breaker_enabled = true;
        v->rss_kib = 24000;
        v->peak_rss_kib = 26000;
        v->threads = 9;
        v->open_fds = 17;
}

static fg_view_t *collect_canned(void *opaque) {
        size_t n = srv.input_size;
        fg_view_t *v;
        /* Topics with the characters exposition and JSON must escape. */
        static const fg_lag_entry_t lag[] = {
            {.topic = "events", .partition = 0, .lag = 2210, .end_offset = 90000, .committed = 87790},
            {.topic = "we\"ird\\top\nic", .partition = 7, .lag = -1, .end_offset = 5, .committed = -1},
        };

        if (n % 11 == 5)
                return NULL; /* the 500 path */
        v = malloc(sizeof(*v));
        if (!v)
                return NULL;
        memcpy(v, &srv.canned, sizeof(*v));
        v->nlag = sizeof(lag) / sizeof(lag[0]);
        v->lag = malloc(sizeof(lag));
        if (!v->lag) {
                free(v);
                return NULL;
        }
        memcpy(v->lag, lag, sizeof(lag));
        v->draining = n % 5 == 4;
        v->healthy = n % 3 != 0;
        v->ready = v->healthy && !v->draining && n % 2 == 0;
        if (!v->healthy)
                snprintf(v->health_reason, sizeof(v->health_reason),
                         "a worker has been inside one sink call for %zu ms", n);
        else if (!v->ready)
                snprintf(v->health_reason, sizeof(v->health_reason), "%s",
                         v->draining ? "draining" : "no partitions assigned yet");
        return v;
}

static int start_server(char *why, size_t why_size) {
        char errstr[256] = "";

        if (srv.admin)
                return 0;
        signal(SIGPIPE, SIG_IGN);
        fill_canned(&srv.canned);
        srv.base = event_base_new();
        if (!srv.base)
                return fg_fuzz_fail(why, why_size, "event_base_new failed");
        srv.admin = fg_admin_new_on(srv.base, "127.0.0.1:0", NULL, collect_canned, NULL, errstr,
                                    sizeof(errstr));
        if (!srv.admin) {
                event_base_free(srv.base);
                srv.base = NULL;
                return fg_fuzz_fail(why, why_size, "fg_admin_new_on: %s", errstr);
        }
        srv.port = fg_admin_port(srv.admin);
        return 0;
}

void fg_fuzz_admin_teardown(void) {
        fg_admin_destroy(srv.admin);
        if (srv.base)
                event_base_free(srv.base);
        srv.admin = NULL;
        srv.base = NULL;
}

/* ---- the client ---- */

static void on_timeout(evutil_socket_t fd, short what, void *arg) {
        client_t *c = arg;

        c->timed_out = true;
        event_base_loopbreak(srv.base);
}

static void on_io(evutil_socket_t fd, short what, void *arg) {
        client_t *c = arg;
        char buf[16384];
        ssize_t n;

        if ((what & EV_WRITE) && !c->wr_done) {
                n = c->sent < c->size
                        ? send(fd, c->data + c->sent, c->size - c->sent, MSG_NOSIGNAL)
                        : 0;
                if (n > 0)
                        c->sent += (size_t)n;
                if (c->sent == c->size || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                        /* All sent, or the server stopped reading (it may
                         * have answered and closed early): read only now. */
                        shutdown(fd, SHUT_WR);
                        c->wr_done = true;
                        event_del(c->io);
                        event_assign(c->io, srv.base, fd, EV_READ | EV_PERSIST, on_io, c);
                        event_add(c->io, NULL);
                }
        }
        if (what & EV_READ) {
                n = recv(fd, buf, sizeof(buf), 0);
                if (n > 0) {
                        size_t keep = c->len + (size_t)n > KEEP_BYTES ? KEEP_BYTES - c->len
                                                                       : (size_t)n;
                        memcpy(c->resp + c->len, buf, keep);
                        c->len += keep;
                        c->total += (size_t)n;
                } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                        c->reset = n < 0;
                        c->closed = true;
                        event_base_loopbreak(srv.base);
                }
        }
}

static int connect_client(client_t *c, char *why, size_t why_size) {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port)};

        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
                return fg_fuzz_fail(why, why_size, "socket: %s", strerror(errno));
        /* Loopback usually connects at once; otherwise the first EV_WRITE
         * says it did (and a failed connect shows as a send error). EINTR
         * (libFuzzer's timers) leaves the connect going on likewise. */
        if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 && errno != EINPROGRESS &&
            errno != EINTR)
                return fg_fuzz_fail(why, why_size, "connect: %s", strerror(errno));
        return 0;
}

/* ---- checking what came back ---- */

/* Header @p name's value in the header block [p, end), or NULL. */
static const char *header(const char *p, const char *end, const char *name, size_t *vlen) {
        size_t nlen = strlen(name);

        while (p < end) {
                const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
                const char *line_end = eol ? eol : end;

                if ((size_t)(line_end - p) > nlen && p[nlen] == ':' && !strncasecmp(p, name, nlen)) {
                        const char *v = p + nlen + 1;
                        while (v < line_end && *v == ' ')
                                v++;
                        *vlen = (size_t)(line_end - v);
                        return v;
                }
                p = eol ? eol + 2 : end;
        }
        return NULL;
}

/* Walks the responses in what was kept; stops quietly where the kept
 * bytes end or a response is not Content-Length framed. */
static int check_responses(const client_t *c, char *why, size_t why_size) {
        const char *p = c->resp, *end = c->resp + c->len;

        while (p < end) {
                const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4), *sp, *s, *v;
                size_t vlen, clen;
                int code;

                /* libevent answers in the request's version as it stored it:
                 * "HTTP/0.1" gets "HTTP/0.1 200", and "HTTP/1.641" (the minor
                 * kept in a char) "HTTP/1.-127 501". So only "HTTP/", a
                 * short version and the status code are checked. */
                if ((size_t)(end - p) < 16)
                        break;
                sp = memchr(p, ' ', 16);
                if (memcmp(p, "HTTP/", 5) || !sp)
                        return fg_fuzz_fail(why, why_size, "not an HTTP response: %.40s", p);
                s = sp + 1;
                if (end - s < 4)
                        break;
                if (s[0] < '1' || s[0] > '5' || s[1] < '0' || s[1] > '9' || s[2] < '0' ||
                    s[2] > '9' || (s[3] != ' ' && s[3] != '\r'))
                        return fg_fuzz_fail(why, why_size, "bad status line: %.40s", p);
                code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
                if (!hend)
                        break;
                v = header(p, hend, "Content-Length", &vlen);
                if (!v)
                        break;
                clen = strtoul(v, NULL, 10);
                if (clen > (size_t)(end - (hend + 4)))
                        break;
                v = header(p, hend, "Content-Type", &vlen);
                if ((code == 200 || code == 503) && clen && v && vlen >= 16 &&
                    !strncmp(v, "application/json", 16)) {
                        json_error_t jerr;
                        json_t *doc = json_loadb(hend + 4, clen, 0, &jerr);
                        bool ok = json_is_object(doc);

                        json_decref(doc);
                        if (!ok)
                                return fg_fuzz_fail(why, why_size, "a %d JSON body does not parse (%s)",
                                            code, jerr.text);
                }
                p = hend + 4 + clen;
        }
        return 0;
}

int fg_fuzz_admin(const uint8_t *data, size_t size, char *why, size_t why_size) {
        client_t c = {.fd = -1, .data = data, .size = size};
        struct timeval deadline = {DEADLINE_MS / 1000, (DEADLINE_MS % 1000) * 1000};
        int rc = -1;

        if (start_server(why, why_size) < 0)
                return -1;
        srv.input_size = size;
        c.resp = malloc(KEEP_BYTES);
        if (!c.resp)
                return fg_fuzz_fail(why, why_size, "out of memory");
        if (connect_client(&c, why, why_size) < 0)
                goto out;
        c.io = event_new(srv.base, c.fd, EV_READ | EV_WRITE | EV_PERSIST, on_io, &c);
        c.timer = evtimer_new(srv.base, on_timeout, &c);
        if (!c.io || !c.timer) {
                fg_fuzz_fail(why, why_size, "event_new failed");
                goto out;
        }
        event_add(c.io, NULL);
        evtimer_add(c.timer, &deadline);
        for (int i = 0; i < MAX_LOOPS && !c.closed && !c.timed_out; i++)
                if (event_base_loop(srv.base, EVLOOP_ONCE) < 0)
                        break;
        if (!c.closed && !c.total) {
                fg_fuzz_fail(why, why_size, "the server neither answered nor closed within %d ms "
                                    "(%zu of %zu bytes sent)",
                     DEADLINE_MS, c.sent, c.size);
                goto out;
        }
        if (check_responses(&c, why, why_size) < 0)
                goto out;
        rc = 0;
out:
        if (c.io)
                event_free(c.io);
        if (c.timer)
                event_free(c.timer);
        if (c.fd >= 0)
                close(c.fd);
        /* Let the server notice and free its side before the next input. */
        for (int i = 0; i < 8; i++)
                event_base_loop(srv.base, EVLOOP_NONBLOCK);
        free(c.resp);
        return rc;
}
