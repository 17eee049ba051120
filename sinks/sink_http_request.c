/*
 * sink_http_request: one request of the http sink on a worker's connection,
 * and what its outcome is (see sink_http.c for the sink as a whole).
 *
 * Deadlines. libevent 2.1 has one timeout per evhttp_connection, used for
 * the connect and as a read/write inactivity timeout afterwards, and none
 * for name lookups; 2.2's separate connect timeout does not exist yet. So
 * each request runs under our own timer: sink.connect_timeout from the
 * start of a connect (lookup included) until the TCP connection is up (for
 * https until the TLS handshake is done: the OpenSSL bufferevent reports
 * "connected" only then), then sink.timeout for the request itself (writing it and reading the whole
 * response, however slowly it trickles). To see the moment the connection
 * comes up we wrap the bufferevent event callback that evhttp installs while
 * connecting (bufferevent_getcb/setcb; in 2.1 a connecting evhttp_connection
 * has only an event callback, one that is writing or reading a request also
 * a write or read callback). Only then: a bufferevent has one argument for
 * all three callbacks, so wrapping one of several would hand evhttp's others
 * our pointer. The evcon's own timeout is kept at the same value as a
 * backstop.
 *
 * Keep-alive race. Our loop runs only during send(), so a kept-alive
 * connection that the server closed while we were idle still looks open
 * when the next request goes out; that request then fails with EOF or a
 * reset before any response. A request that failed like that on a reused
 * connection is sent once more at once, on a new connection, before we
 * report RETRY. The server may in rare cases have processed the first copy
 * (it closed after reading it): a duplicate, which at-least-once allows.
 *
 * Any failure other than an HTTP response frees the evhttp_connection and
 * makes a new one, so the next request starts clean. An https connection
 * that closed after its handshake is replaced the same way instead of being
 * reconnected: an SSL object connects once (see http_tls.h).
 *
 * What a response may cost (a downstream, or anything on the plain-text
 * path to it, may be hostile): headers up to FG_HTTP_RESPONSE_HEADERS_MAX,
 * a body up to FG_HTTP_RESPONSE_BODY_MAX (discarded as it arrives; a
 * chunk or Content-Length announcing more is refused at once), and the
 * socket's read buffer at FG_HTTP_RESPONSE_READ_MAX (a chunk-size line
 * that never ends): past it the attempt is over and reading stops. Not a
 * bufferevent read watermark: libevent 2.1 calls the read callback again
 * and again while the input stays at the watermark, and evhttp, unable to
 * consume a line without its end, would spin there for ever. The
 * status counts as soon as the headers are in, whatever happens next: a
 * 2xx whose body then breaks off, overflows a cap or trickles past the
 * deadline is OK (the server took the events: reporting anything else
 * would send them again), and the connection is renewed. After the status
 * the body gets at most FG_HTTP_RESPONSE_DRAIN_MS more.
 * A name is resolved at each connect by the connection's own evdns_base
 * (resolv.conf and /etc/hosts), and, as evhttp does, only the first address
 * found is tried; the next attempt resolves again.
 *
 * Threading: the worker that owns the connection.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/util.h>

#include "common/clock.h"
#include "common/log.h"
#include "sinks/sink_http_int.h"

/* Worker. */
void fg_http_conn_reset(http_conn_t *c) {
        if (c->evcon) {
                evhttp_connection_free(c->evcon);
                c->evcon = NULL;
        }
}

/* The socket's read buffer changed: past FG_HTTP_RESPONSE_READ_MAX the
 * attempt is over (see the top). Disabling reading also keeps libevent
 * from calling evhttp again for data it cannot use. */
static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg) {
        http_conn_t *c = arg;
        attempt_t *a = c->cur;

        if (!a || a->done || evbuffer_get_length(buf) <= FG_HTTP_RESPONSE_READ_MAX)
                return;
        a->overflow = a->done = true;
        bufferevent_disable(evhttp_connection_get_bufferevent(c->evcon), EV_READ);
}

/* Worker. An https connection runs over an OpenSSL bufferevent that
 * evhttp connects; evhttp frees it with the connection. */
bool fg_http_conn_new(http_conn_t *c) {
        http_shared_t *sh = c->sh;
        struct bufferevent *bev = NULL;

        if (c->tls && !(bev = fg_http_tls_bufferevent(c->tls, c->base)))
                return false;
        c->evcon = bev ? evhttp_connection_base_bufferevent_new(c->base, c->dns, bev, sh->host,
                                                                sh->port)
                       : evhttp_connection_base_new(c->base, c->dns, sh->host, sh->port);
        if (!c->evcon) {
                if (bev)
                        bufferevent_free(bev);
                return false;
        }
        evhttp_connection_set_retries(c->evcon, 0);
        evhttp_connection_set_timeout_tv(c->evcon, &sh->timeout_tv);
        evhttp_connection_set_max_headers_size(c->evcon, FG_HTTP_RESPONSE_HEADERS_MAX);
        evhttp_connection_set_max_body_size(c->evcon, FG_HTTP_RESPONSE_BODY_MAX);
        /* The bufferevent lives as long as the evhttp_connection (evhttp
         * reuses it across reconnects). */
        evbuffer_add_cb(bufferevent_get_input(evhttp_connection_get_bufferevent(c->evcon)),
                        on_input, c);
        return true;
}

/* Any thread (pure). */
int64_t fg_http_parse_retry_after(const char *v, time_t now) {
        static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
        char mon[4] = "", wday[16];
        struct tm tm = {0};
        int day, year, hh, mm, ss, used = -1;
        const char *m;
        int64_t secs;
        time_t t;
        size_t len;

        if (!v)
                return 0;
        while (*v == ' ' || *v == '\t')
                v++;
        len = strlen(v);
        while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
                len--;
        if (!len)
                return 0;
        if (strspn(v, "0123456789") >= len) {
                secs = 0;
                for (size_t i = 0; i < len && secs <= FG_HTTP_RETRY_AFTER_MAX_S; i++)
                        secs = secs * 10 + (v[i] - '0');
                goto capped;
        }
        if (sscanf(v, "%15[A-Za-z], %2d %3s %4d %2d:%2d:%2d GMT%n", wday, &day, mon, &year, &hh,
                   &mm, &ss, &used) == 7 && used == (int)len) {
                /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
        } else if (used = -1, sscanf(v, "%15[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d GMT%n", wday, &day,
                                     mon, &year, &hh, &mm, &ss, &used) == 7 &&
                              used == (int)len) {
                /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
                year += year < 70 ? 2000 : 1900;
        } else if (used = -1, sscanf(v, "%15[A-Za-z] %3s %2d %2d:%2d:%2d %4d%n", wday, mon, &day,
                                     &hh, &mm, &ss, &year, &used) == 7 &&
                              used == (int)len) {
                /* asctime: Sun Nov  6 08:49:37 1994 */
        } else {
                return 0;
        }
        m = strlen(mon) == 3 ? strstr(months, mon) : NULL;
        if (!m || (m - months) % 3 || day < 1 || day > 31 || hh < 0 || hh > 23 || mm < 0 ||
            mm > 59 || ss < 0 || ss > 60 || year < 1970)
                return 0;
        tm.tm_year = year - 1900;
        tm.tm_mon = (int)((m - months) / 3);
        tm.tm_mday = day;
        tm.tm_hour = hh;
        tm.tm_min = mm;
        tm.tm_sec = ss;
        t = timegm(&tm);
        if (t == (time_t)-1 || t <= now)
                return 0;
        secs = (int64_t)(t - now);
capped:
        if (secs > FG_HTTP_RETRY_AFTER_MAX_S)
                secs = FG_HTTP_RETRY_AFTER_MAX_S;
        return secs * FG_NS_PER_S;
}

static void record_status(attempt_t *a, struct evhttp_request *req) {
        const char *line = evhttp_request_get_response_code_line(req);
        size_t k = 0;

        a->got_status = true;
        a->status = evhttp_request_get_response_code(req);
        for (; line && *line && k + 1 < sizeof(a->line); line++)
                a->line[k++] = (*line >= 0x20 && *line < 0x7f) ? *line : '?';
        a->line[k] = '\0';
        a->retry_after_ns = 0;
        if (a->status == 429 || a->status == 503)
                a->retry_after_ns = fg_http_parse_retry_after(
                    evhttp_find_header(evhttp_request_get_input_headers(req), "Retry-After"),
                    time(NULL));
}

/* Arms the attempt's deadline @p tv from now. */
static void arm(attempt_t *a, const struct timeval *tv) {
        a->deadline_ns = fg_mono_ns() + (int64_t)tv->tv_sec * FG_NS_PER_S +
                         (int64_t)tv->tv_usec * 1000;
        evtimer_add(a->conn->timer, tv);
}

/* Response headers are in: note the status now, so that a response whose
 * body then fails still counts as answered, and give the body at most
 * FG_HTTP_RESPONSE_DRAIN_MS more. A 100 Continue is interim (evhttp goes
 * on to the final response). */
static int on_headers(struct evhttp_request *req, void *arg) {
        attempt_t *a = arg;
        const struct timeval drain = {FG_HTTP_RESPONSE_DRAIN_MS / 1000,
                                      FG_HTTP_RESPONSE_DRAIN_MS % 1000 * 1000};

        if (a->done || evhttp_request_get_response_code(req) == 100)
                return 0;
        record_status(a, req);
        if (a->deadline_ns - fg_mono_ns() > FG_HTTP_RESPONSE_DRAIN_MS * FG_NS_PER_MS)
                arm(a, &drain);
        return 0;
}

/* Response body bytes: evhttp drains them after this returns. */
static void on_body(struct evhttp_request *req, void *arg) {}

static void on_error(enum evhttp_request_error err, void *arg) {
        attempt_t *a = arg;

        if (a->done)
                return;
        a->req_error = (int)err;
        if (!a->sock_err)
                a->sock_err = errno; /* evhttp restores the failing call's errno for us */
}

/* The request is over: answered (req with a status), or failed (req NULL,
 * or a req without a status when the connect failed). */
static void on_done(struct evhttp_request *req, void *arg) {
        attempt_t *a = arg;

        if (a->done)
                return;
        if (req && evhttp_request_get_response_code(req) > 0)
                record_status(a, req); /* the final word */
        else if (!a->sock_err && a->phase != PH_REQUEST)
                a->sock_err = errno;
        a->done = true;
}

/* evhttp writes a request's headers and body separately; with Nagle's
 * algorithm the second write of a bigger request waits for the server's
 * delayed ACK, ~40 ms per request (measured: sink calls of 43 ms against
 * a 0 ms server, 2 ms with this). Set when a socket connects, and again on
 * reuse (one cheap call) in case a socket ever connected unwrapped. */
static void set_nodelay(evutil_socket_t fd) {
        int one = 1;

        if (fd >= 0)
                (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Wraps evhttp's connect callback: the connection is up (switch from the
 * connect deadline to the request deadline) or failed (keep its errno). */
static void on_connect_event(struct bufferevent *bev, short what, void *arg) {
        http_conn_t *c = arg;
        attempt_t *a = c->cur;

        if (a && (what & BEV_EVENT_CONNECTED)) {
                set_nodelay(bufferevent_getfd(bev));
                if (c->tls)
                        fg_http_tls_connected(c->tls, bev); /* TLS: after the handshake */
                a->phase = PH_REQUEST;
                evhttp_connection_set_timeout_tv(c->evcon, &c->sh->timeout_tv);
                arm(a, &c->sh->timeout_tv);
        } else if (a && !a->sock_err) {
                int err = 0;
                socklen_t len = sizeof(err);
                evutil_socket_t fd = bufferevent_getfd(bev);

                if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || !err)
                        err = errno;
                a->sock_err = (what & BEV_EVENT_TIMEOUT) ? ETIMEDOUT : err;
        }
        c->inner_cb(bev, what, c->inner_arg);
}

/* Worker: the request's deadline passed. */
void fg_http_on_timer(evutil_socket_t fd, short what, void *arg) {
        http_conn_t *c = arg;
        attempt_t *a = c->cur;

        if (a && !a->done) {
                a->timed_out = true;
                a->done = true;
        }
}

/* After evhttp_make_request: is the connection still being set up? Then
 * wrap its connect callback and give it the connect deadline; otherwise the
 * request went out on the open connection. */
static void watch_connect(http_conn_t *c, attempt_t *a) {
        struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);
        bufferevent_data_cb readcb = NULL, writecb = NULL;
        bufferevent_event_cb eventcb = NULL;
        void *cbarg = NULL;

        if (bev)
                bufferevent_getcb(bev, &readcb, &writecb, &eventcb, &cbarg);
        if (bev && !readcb && !writecb && eventcb) {
                a->phase = PH_CONNECT;
                c->inner_cb = eventcb;
                c->inner_arg = cbarg;
                bufferevent_setcb(bev, readcb, writecb, on_connect_event, c);
                evhttp_connection_set_timeout_tv(c->evcon, &c->sh->connect_tv);
                arm(a, &c->sh->connect_tv);
        } else {
                a->phase = PH_REQUEST;
                a->reused = true;
                if (bev)
                        set_nodelay(bufferevent_getfd(bev));
                arm(a, &c->sh->timeout_tv);
        }
}

static void add_header(struct evkeyvalq *h, const char *name, const char *value) {
        evhttp_add_header(h, name, value); /* validated in create: cannot fail on content */
}

/* Sends body as one POST and runs the loop until it has an outcome in @p a.
 * The body is referenced, not copied: it outlives the request, which is
 * over (or its connection freed) before this returns. */
static void attempt_run(http_conn_t *c, const char *body, size_t len, attempt_t *a) {
        http_shared_t *sh = c->sh;
        struct evhttp_request *req;
        struct evkeyvalq *h;
        const char *authz = sh->auth ? fg_http_auth_value(sh->auth, &c->auth) : NULL;
        char clen[24];

        memset(a, 0, sizeof(*a));
        a->conn = c;
        a->req_error = -1;
        /* An SSL object connects once: a TLS connection closed since its
         * handshake, or made before a reload, is replaced. */
        if (c->evcon && c->tls &&
            !fg_http_tls_reusable(c->tls, evhttp_connection_get_bufferevent(c->evcon)))
                fg_http_conn_reset(c);
        if ((sh->auth && !authz) || (!c->evcon && !fg_http_conn_new(c)) ||
            !(req = evhttp_request_new(on_done, a))) {
                a->setup_failed = a->done = true;
                return;
        }
        evhttp_request_set_header_cb(req, on_headers);
        evhttp_request_set_chunked_cb(req, on_body);
        evhttp_request_set_error_cb(req, on_error);
        h = evhttp_request_get_output_headers(req);
        snprintf(clen, sizeof(clen), "%zu", len);
        if (!sh->user_host)
                add_header(h, "Host", sh->host_hdr);
        if (!sh->user_ctype)
                add_header(h, "Content-Type", sh->content_type);
        add_header(h, "Content-Length", clen);
        add_header(h, "Connection", "keep-alive");
        for (size_t i = 0; i < sh->nhdrs; i++)
                add_header(h, sh->hdr_names[i], sh->hdr_values[i]);
        if (c->gz)
                add_header(h, "Content-Encoding", "gzip");
        if (authz)
                add_header(h, "Authorization", authz);
        if (len)
                evbuffer_add_reference(evhttp_request_get_output_buffer(req), body, len, NULL,
                                       NULL);

        c->cur = a;
        evhttp_connection_set_timeout_tv(c->evcon, &sh->timeout_tv);
        /* A connect that fails at once calls on_done inside this call. On -1
         * (2.1: only when the connect could not even be started) the request
         * is neither queued nor, on every path, freed: leave it. */
        if (evhttp_make_request(c->evcon, req, EVHTTP_REQ_POST, sh->target) != 0)
                a->setup_failed = a->done = true;
        if (!a->done)
                watch_connect(c, a);
        while (!a->done) {
                /* The timer is armed, so a pass always ends. */
                if (event_base_loop(c->base, EVLOOP_ONCE) != 0) {
                        a->setup_failed = a->done = true;
                        break;
                }
        }
        evtimer_del(c->timer);
        c->cur = NULL;
}

static size_t reason_add(http_conn_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends a reason for this send; returns its offset. */
static size_t reason_add(http_conn_t *c, const char *fmt, ...) {
        size_t off = c->reasons.len;
        char tmp[256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(tmp, sizeof(tmp), fmt, ap);
        va_end(ap);
        fg_buf_append(&c->reasons, tmp, strlen(tmp) + 1);
        return off;
}

static fg_sink_status_t status_class(int code) {
        if (code >= 200 && code < 300)
                return FG_SINK_OK;
        if (code == 408 || code == 429 || code == 503)
                return FG_SINK_BACKPRESSURE;
        if (code >= 500)
                return FG_SINK_RETRY; /* 5xx, and nonsense beyond */
        return FG_SINK_REJECT;        /* 1xx, 3xx, other 4xx */
}

static size_t connect_reason(http_conn_t *c, const attempt_t *a) {
        const char *addr = c->sh->addr;
        struct bufferevent *bev = c->evcon ? evhttp_connection_get_bufferevent(c->evcon) : NULL;
        int dns_err = bev ? bufferevent_socket_get_dns_error(bev) : 0;

        if (dns_err)
                return reason_add(c, "cannot resolve %s: %s", c->sh->host,
                                  evutil_gai_strerror(dns_err));
        switch (a->sock_err) {
        case ECONNREFUSED: return reason_add(c, "connection refused (%s)", addr);
        case ETIMEDOUT:
                return reason_add(c, "connect timeout after %lld ms (%s)", c->sh->connect_ms, addr);
        case 0:
        case EAGAIN:
        case EINPROGRESS:
        case EINTR: return reason_add(c, "cannot connect to %s", addr);
        default: return reason_add(c, "cannot connect to %s: %s", addr, strerror(a->sock_err));
        }
}

/* The outcome of a finished attempt. *broken: the connection must be
 * reset; *stale: the keep-alive race (see the top), worth one more try. */
static outcome_t classify(http_conn_t *c, const attempt_t *a, bool *broken, bool *stale) {
        http_shared_t *sh = c->sh;
        outcome_t o = {.status = FG_SINK_RETRY, .reason_off = SIZE_MAX};
        struct bufferevent *bev = c->evcon ? evhttp_connection_get_bufferevent(c->evcon) : NULL;
        char why[256];

        *broken = true;
        *stale = false;
        if (a->setup_failed) {
                o.reason_off = reason_add(c, "cannot start a request to %s", sh->addr);
        } else if (a->got_status) {
                /* First: whatever followed the status (a timeout, a body
                 * over the cap, a reset) does not undo the answer. */
                o.status = status_class(a->status);
                if (o.status == FG_SINK_BACKPRESSURE)
                        o.retry_after_ns = a->retry_after_ns;
                if (o.status != FG_SINK_OK)
                        o.reason_off = a->line[0]
                                           ? reason_add(c, "HTTP %d %s", a->status, a->line)
                                           : reason_add(c, "HTTP %d", a->status);
                /* Answered, but a body that failed or was cut off leaves
                 * the connection in no state to reuse. */
                *broken = a->req_error >= 0 || a->timed_out || a->overflow;
        } else if (a->overflow) {
                o.reason_off = reason_add(c, "response over %d KiB before its status from %s",
                                          FG_HTTP_RESPONSE_READ_MAX / 1024, sh->addr);
        } else if (a->timed_out && a->phase == PH_REQUEST) {
                o.status = FG_SINK_BACKPRESSURE;
                o.reason_off = reason_add(c, "timeout after %lld ms", sh->timeout_ms);
        } else if (a->timed_out) {
                o.reason_off = reason_add(c, "connect timeout after %lld ms (%s)", sh->connect_ms,
                                          sh->addr);
        } else if (c->tls &&
                   fg_http_tls_failure(c->tls, bev,
                                       a->phase != PH_REQUEST ? FG_HTTP_TLS_HANDSHAKE
                                       : a->reused            ? FG_HTTP_TLS_REUSED
                                                              : FG_HTTP_TLS_FRESH,
                                       a->req_error == EVREQ_HTTP_EOF || a->req_error < 0, why,
                                       sizeof(why))) {
                o.reason_off = reason_add(c, "%s", why);
        } else if (a->phase != PH_REQUEST) {
                o.reason_off = connect_reason(c, a);
        } else if (a->req_error == EVREQ_HTTP_TIMEOUT) {
                o.status = FG_SINK_BACKPRESSURE; /* evhttp's inactivity backstop */
                o.reason_off = reason_add(c, "timeout after %lld ms", sh->timeout_ms);
        } else if (a->req_error == EVREQ_HTTP_EOF || a->req_error < 0) {
                o.reason_off = a->sock_err == ECONNRESET
                                   ? reason_add(c, "connection reset (%s)", sh->addr)
                                   : reason_add(c, "connection closed without a response (%s)",
                                                sh->addr);
                *stale = a->reused;
        } else if (a->req_error == EVREQ_HTTP_BUFFER_ERROR) {
                o.reason_off = reason_add(c, "connection error (%s)", sh->addr);
        } else {
                /* evhttp says INVALID_HEADER for a bad status line or
                 * header and for more than the cap alike. */
                o.reason_off = reason_add(c,
                                          "invalid HTTP response from %s (a bad status line or "
                                          "header, or headers over %d KiB)",
                                          sh->addr, FG_HTTP_RESPONSE_HEADERS_MAX / 1024);
        }
        return o;
}

/* Worker. */
outcome_t fg_http_request(http_conn_t *c, const char *body, size_t len) {
        attempt_t a;
        bool broken, stale;
        outcome_t o;

        if (c->gz && !(body = fg_http_gzip_body(c->gz, body, len, &len)))
                return (outcome_t){.status = FG_SINK_RETRY,
                                   .reason_off = reason_add(c, "cannot gzip the request body")};
        attempt_run(c, body, len, &a);
        o = classify(c, &a, &broken, &stale);
        if (broken)
                fg_http_conn_reset(c);
        if (stale) {
                fg_debug("http sink: %s on a kept-alive connection; retrying once on a new one",
                         c->reasons.p + o.reason_off);
                c->reasons.len = o.reason_off;
                attempt_run(c, body, len, &a);
                o = classify(c, &a, &broken, &stale);
                if (broken)
                        fg_http_conn_reset(c);
        }
        /* Refused credentials are final unless the token was rotated. */
        if (c->sh->auth && a.got_status && (a.status == 401 || a.status == 403) &&
            fg_http_auth_refresh(c->sh->auth, &c->auth)) {
                c->reasons.len = o.reason_off;
                attempt_run(c, body, len, &a);
                o = classify(c, &a, &broken, &stale);
                if (broken)
                        fg_http_conn_reset(c);
        }
        return o;
}

