/*
 * sink_http: events POSTed to an HTTP/1.1 endpoint (sink.type: http).
 *
 * DESIGN
 * create() parses sink.url once (http:// only) and freezes everything a
 * request needs: target, Host, headers, content type, batch limits,
 * timeouts. Each worker's connection (open) owns a private event_base, one
 * keep-alive evhttp_connection to the URL's host:port, one deadline timer
 * and, when the host is a name, its own evdns_base, so that name lookups run
 * inside the same loop and under the same deadline as the TCP connect. There
 * is no thread of our own: send() runs the loop on the calling worker until
 * its current request has an outcome, then sends the next.
 *
 * A send cuts the events into requests (sink.format json: one per event;
 * json_array and ndjson: batches of at most sink.batch.max_messages events
 * and sink.batch.max_bytes body bytes, an event bigger than that alone),
 * sends them one after another on the connection and gives every event its
 * request's outcome:
 *   2xx                                       OK
 *   429, 503                                  BACKPRESSURE, Retry-After honoured
 *   408, no response within sink.timeout      BACKPRESSURE
 *   other 5xx; refused, reset, closed without
 *   a response; connect timeout; DNS failure  RETRY
 *   other 4xx, 1xx, 3xx                       REJECT (dead-lettered)
 * After a RETRY or BACKPRESSURE the rest of the call is not sent and gets
 * the same outcome: the downstream is unwell, and sending on would only
 * stack timeouts. A REJECT is about its own events only, so the call goes on.
 *
 * Deadlines. libevent 2.1 has one timeout per evhttp_connection, used for
 * the connect and as a read/write inactivity timeout afterwards, and none
 * for name lookups; 2.2's separate connect timeout does not exist yet. So
 * each request runs under our own timer: sink.connect_timeout from the
 * start of a connect (lookup included) until the TCP connection is up, then
 * sink.timeout for the request itself (writing it and reading the whole
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
 * makes a new one, so the next request starts clean. Responses are read but
 * their bodies discarded as they arrive; their headers are capped. The
 * status counts once the headers are in: a 2xx whose body then breaks off
 * is OK (the server took the events), and the connection is renewed.
 * A name is resolved at each connect by the connection's own evdns_base
 * (resolv.conf and /etc/hosts), and, as evhttp does, only the first address
 * found is tried; the next attempt resolves again.
 *
 * Threading: create/destroy on the main thread; open/send/close on one
 * worker per connection. The shared state is immutable after create; each
 * event_base, evdns_base and evhttp_connection is used by its worker only
 * (the base is created without a lock).
 * Ownership: the connection owns its libevent objects, its body buffer and
 * the reasons of its last send (valid until its next send).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "sinks/sink.h"

#define HTTP_DEFAULT_PORT 80
#define RETRY_AFTER_MAX_S 600                 /* 10 minutes */
#define RESPONSE_HEADERS_MAX (64 * 1024)
#define DEFAULT_CONNECT_TIMEOUT_NS (2 * FG_NS_PER_S)
#define DEFAULT_TIMEOUT_NS (10 * FG_NS_PER_S)

typedef struct http_shared {
        char *host;             /* to connect to: a name or an address, no brackets */
        uint16_t port;
        bool numeric;           /* host is an IP address: no resolver needed */
        char *target;           /* request-target: path[?query] */
        char *host_hdr;         /* Host: value */
        char *addr;             /* "host:port" for messages */
        fg_http_format_t format;
        const char *content_type;
        size_t max_msgs, max_bytes;
        struct timeval connect_tv, timeout_tv;
        long long connect_ms, timeout_ms;
        size_t nhdrs;
        char **hdr_names, **hdr_values;
        bool user_host, user_ctype; /* sink.headers sets Host / Content-Type */
} http_shared_t;

typedef enum phase {
        PH_START,    /* inside evhttp_make_request */
        PH_CONNECT,  /* name lookup and TCP connect */
        PH_REQUEST,  /* connected: writing the request, reading the response */
} phase_t;

/* One request in flight, on send's stack. */
typedef struct attempt {
        phase_t phase;
        bool done;
        bool reused;            /* went out on an already open connection */
        bool timed_out;         /* our deadline fired (in phase) */
        bool setup_failed;
        bool got_status;        /* a status line and headers arrived */
        int status;
        char line[64];          /* the reason phrase, sanitised */
        int64_t retry_after_ns;
        int req_error;          /* enum evhttp_request_error, -1 = none */
        int sock_err;           /* errno seen with a connect failure or error, 0 = none */
} attempt_t;

/* What one request of a send got. */
typedef struct outcome {
        fg_sink_status_t status;
        int64_t retry_after_ns;
        size_t reason_off;      /* into reasons; SIZE_MAX = none */
        size_t first, count;    /* its events */
} outcome_t;

typedef struct http_conn {
        http_shared_t *sh;
        struct event_base *base;
        struct evdns_base *dns;
        struct evhttp_connection *evcon; /* NULL after a reset until the next request */
        struct event *timer;
        attempt_t *cur;         /* the attempt the timer and connect wrapper report to */
        bufferevent_event_cb inner_cb; /* evhttp's connect callback that we wrap */
        void *inner_arg;
        fg_buf_t body;
        fg_buf_t reasons;       /* this send's reasons, NUL-terminated one after another */
        outcome_t *outs;
        size_t outs_cap;
} http_conn_t;

/* ---- create / destroy (main thread) ---- */

static struct timeval tv_of(int64_t ns) {
        struct timeval tv = {.tv_sec = (time_t)(ns / FG_NS_PER_S),
                             .tv_usec = (suseconds_t)(ns % FG_NS_PER_S / 1000)};
        return tv;
}

static bool header_name_ok(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                      (*s >= '0' && *s <= '9') || strchr("!#$%&'*+-.^_`|~", *s)))
                        return false;
        return true;
}

static bool header_value_ok(const char *s) {
        for (; *s; s++)
                if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
                        return false;
        return true;
}

/* evdns_base_new() installs libevent's global lookup hook the first time,
 * without a lock. Do that once here, before any worker opens a connection,
 * so that workers only ever read it. */
static void prime_evdns(void) {
        struct event_base *base = event_base_new();
        struct evdns_base *dns = base ? evdns_base_new(base, 0) : NULL;

        if (dns)
                evdns_base_free(dns, 0);
        if (base)
                event_base_free(base);
}

static void http_destroy(void *opaque) {
        http_shared_t *sh = opaque;

        if (!sh)
                return;
        for (size_t i = 0; i < sh->nhdrs; i++) {
                free(sh->hdr_names[i]);
                free(sh->hdr_values[i]);
        }
        free(sh->hdr_names);
        free(sh->hdr_values);
        free(sh->host);
        free(sh->target);
        free(sh->host_hdr);
        free(sh->addr);
        free(sh);
}

static bool copy_headers(http_shared_t *sh, const fg_strmap_t *map, char *errstr,
                         size_t errstr_size) {
        static const char *const managed[] = {"Content-Length", "Transfer-Encoding", "Connection"};

        sh->hdr_names = calloc(map->n ? map->n : 1, sizeof(*sh->hdr_names));
        sh->hdr_values = calloc(map->n ? map->n : 1, sizeof(*sh->hdr_values));
        if (!sh->hdr_names || !sh->hdr_values) {
                snprintf(errstr, errstr_size, "out of memory");
                return false;
        }
        for (size_t i = 0; i < map->n; i++) {
                const char *name = map->keys[i], *value = map->values[i] ? map->values[i] : "";

                if (!header_name_ok(name)) {
                        snprintf(errstr, errstr_size, "sink.headers: '%s' is not a valid header name",
                                 name);
                        return false;
                }
                if (!header_value_ok(value)) {
                        snprintf(errstr, errstr_size,
                                 "sink.headers: the value of %s contains a control character", name);
                        return false;
                }
                for (size_t k = 0; k < sizeof(managed) / sizeof(managed[0]); k++)
                        if (!strcasecmp(name, managed[k])) {
                                snprintf(errstr, errstr_size,
                                         "sink.headers: %s is set by the http sink itself", name);
                                return false;
                        }
                sh->hdr_names[i] = strdup(name);
                sh->hdr_values[i] = strdup(value);
                sh->nhdrs = i + 1;
                if (!sh->hdr_names[i] || !sh->hdr_values[i]) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return false;
                }
                sh->user_host |= !strcasecmp(name, "Host");
                sh->user_ctype |= !strcasecmp(name, "Content-Type");
        }
        return true;
}

/* Fills host, port, target, host_hdr, addr and numeric from sink.url. */
static bool parse_url(http_shared_t *sh, const char *url, char *errstr, size_t errstr_size) {
        struct evhttp_uri *uri = evhttp_uri_parse(url);
        const char *scheme, *host, *path, *query;
        bool v6, ok = false;
        int port, n;
        unsigned char addrbuf[16];

        if (!uri) {
                snprintf(errstr, errstr_size, "sink.url '%s' is not a valid URL", url);
                return false;
        }
        scheme = evhttp_uri_get_scheme(uri);
        host = evhttp_uri_get_host(uri);
        port = evhttp_uri_get_port(uri);
        path = evhttp_uri_get_path(uri);
        query = evhttp_uri_get_query(uri);
        if (!scheme || strcasecmp(scheme, "http")) {
                snprintf(errstr, errstr_size,
                         "sink.url '%s': only http:// URLs are supported (terminate TLS in a "
                         "local proxy)", url);
                goto done;
        }
        if (!host || !*host) {
                snprintf(errstr, errstr_size, "sink.url '%s' has no host", url);
                goto done;
        }
        if (evhttp_uri_get_userinfo(uri)) {
                snprintf(errstr, errstr_size,
                         "sink.url '%s': credentials in the URL are not supported; set an "
                         "Authorization header in sink.headers", url);
                goto done;
        }
        if (port < 0)
                port = HTTP_DEFAULT_PORT;
        if (port < 1 || port > 65535) {
                snprintf(errstr, errstr_size, "sink.url '%s': port out of range", url);
                goto done;
        }
        sh->port = (uint16_t)port;
        /* An IPv6 literal keeps its brackets in Host and in messages, not
         * for connecting. */
        v6 = host[0] == '[';
        sh->host = v6 ? strndup(host + 1, strlen(host) - 2) : strdup(host);
        sh->numeric = sh->host && evutil_inet_pton(v6 ? AF_INET6 : AF_INET, sh->host, addrbuf) == 1;
        n = asprintf(&sh->target, "%s%s%s", path && *path ? path : "/", query ? "?" : "",
                     query ? query : "");
        if (n >= 0)
                n = port == HTTP_DEFAULT_PORT ? asprintf(&sh->host_hdr, "%s", host)
                                              : asprintf(&sh->host_hdr, "%s:%d", host, port);
        if (n >= 0)
                n = asprintf(&sh->addr, "%s:%d", host, port);
        if (n < 0 || !sh->host) {
                snprintf(errstr, errstr_size, "out of memory");
                goto done;
        }
        ok = true;
done:
        evhttp_uri_free(uri);
        return ok;
}

static void *http_create(const fg_config_t *cfg, const fg_sink_env_t *env, char *errstr,
                         size_t errstr_size) {
        http_shared_t *sh = calloc(1, sizeof(*sh));
        int64_t connect_ns = cfg->sink.connect_timeout_ns > 0 ? cfg->sink.connect_timeout_ns
                                                              : DEFAULT_CONNECT_TIMEOUT_NS;
        int64_t timeout_ns = cfg->sink.timeout_ns > 0 ? cfg->sink.timeout_ns : DEFAULT_TIMEOUT_NS;

        if (!sh) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        if (!cfg->sink.url) {
                snprintf(errstr, errstr_size, "the http sink needs sink.url");
                goto init_error;
        }
        if (!parse_url(sh, cfg->sink.url, errstr, errstr_size) ||
            !copy_headers(sh, &cfg->sink.headers, errstr, errstr_size))
                goto init_error;
        sh->format = cfg->sink.format;
        sh->content_type = sh->format == FG_HTTP_NDJSON ? "application/x-ndjson"
                                                        : "application/json";
        sh->max_msgs = cfg->sink.batch_max_messages > 0 ? (size_t)cfg->sink.batch_max_messages
                                                        : SIZE_MAX;
        sh->max_bytes = cfg->sink.batch_max_bytes > 0 ? (size_t)cfg->sink.batch_max_bytes
                                                      : SIZE_MAX;
        sh->connect_tv = tv_of(connect_ns);
        sh->timeout_tv = tv_of(timeout_ns);
        sh->connect_ms = (long long)(connect_ns / FG_NS_PER_MS);
        sh->timeout_ms = (long long)(timeout_ns / FG_NS_PER_MS);
        if (!sh->numeric)
                prime_evdns();
        return sh;

init_error:
        http_destroy(sh);
        return NULL;
}

/* ---- open / close (worker) ---- */

static void on_timer(evutil_socket_t fd, short what, void *arg);

static void conn_reset(http_conn_t *c) {
        if (c->evcon) {
                evhttp_connection_free(c->evcon);
                c->evcon = NULL;
        }
}

static bool conn_new(http_conn_t *c) {
        http_shared_t *sh = c->sh;

        c->evcon = evhttp_connection_base_new(c->base, c->dns, sh->host, sh->port);
        if (!c->evcon)
                return false;
        evhttp_connection_set_retries(c->evcon, 0);
        evhttp_connection_set_timeout_tv(c->evcon, &sh->timeout_tv);
        evhttp_connection_set_max_headers_size(c->evcon, RESPONSE_HEADERS_MAX);
        return true;
}

static void http_close(void *opaque) {
        http_conn_t *c = opaque;

        if (!c)
                return;
        conn_reset(c);
        if (c->timer)
                event_free(c->timer);
        if (c->dns)
                evdns_base_free(c->dns, 0);
        if (c->base)
                event_base_free(c->base);
        fg_buf_free(&c->body);
        fg_buf_free(&c->reasons);
        free(c->outs);
        free(c);
}

static void *http_open(void *opaque, char *errstr, size_t errstr_size) {
        http_conn_t *c = calloc(1, sizeof(*c));
        struct event_config *ecfg = event_config_new();

        if (!c || !ecfg) {
                snprintf(errstr, errstr_size, "out of memory");
                goto init_error;
        }
        c->sh = opaque;
        /* One thread per base: no lock. Precise timers: deadlines of tens of
         * milliseconds should not fire a coarse tick late. */
        event_config_set_flag(ecfg, EVENT_BASE_FLAG_NOLOCK | EVENT_BASE_FLAG_PRECISE_TIMER);
        c->base = event_base_new_with_config(ecfg);
        if (!c->base) {
                snprintf(errstr, errstr_size, "cannot create an event loop");
                goto init_error;
        }
        if (!c->sh->numeric) {
                c->dns = evdns_base_new(c->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                                         EVDNS_BASE_DISABLE_WHEN_INACTIVE);
                if (!c->dns) {
                        snprintf(errstr, errstr_size, "cannot set up name resolution for %s",
                                 c->sh->host);
                        goto init_error;
                }
        }
        c->timer = evtimer_new(c->base, on_timer, c);
        if (!c->timer || !conn_new(c)) {
                snprintf(errstr, errstr_size, "cannot create an http connection to %s",
                         c->sh->addr);
                goto init_error;
        }
        event_config_free(ecfg);
        return c;

init_error:
        if (ecfg)
                event_config_free(ecfg);
        http_close(c);
        return NULL;
}

/* ---- one request (worker) ---- */

/* Retry-After: delta-seconds or an HTTP-date (IMF-fixdate, RFC 850 or
 * asctime), relative to @p now. 0 for anything else or a date in the past;
 * capped at RETRY_AFTER_MAX_S. */
static int64_t parse_retry_after(const char *v, time_t now) {
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
                for (size_t i = 0; i < len && secs <= RETRY_AFTER_MAX_S; i++)
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
        if (secs > RETRY_AFTER_MAX_S)
                secs = RETRY_AFTER_MAX_S;
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
                a->retry_after_ns = parse_retry_after(
                    evhttp_find_header(evhttp_request_get_input_headers(req), "Retry-After"),
                    time(NULL));
}

/* Response headers are in: note the status now, so that a response whose
 * body then fails still counts as answered. A 100 Continue is interim
 * (evhttp goes on to the final response). */
static int on_headers(struct evhttp_request *req, void *arg) {
        attempt_t *a = arg;

        if (!a->done && evhttp_request_get_response_code(req) != 100)
                record_status(a, req);
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
                a->phase = PH_REQUEST;
                evhttp_connection_set_timeout_tv(c->evcon, &c->sh->timeout_tv);
                evtimer_add(c->timer, &c->sh->timeout_tv);
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

static void on_timer(evutil_socket_t fd, short what, void *arg) {
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
                evtimer_add(c->timer, &c->sh->connect_tv);
        } else {
                a->phase = PH_REQUEST;
                a->reused = true;
                if (bev)
                        set_nodelay(bufferevent_getfd(bev));
                evtimer_add(c->timer, &c->sh->timeout_tv);
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
        char clen[24];

        memset(a, 0, sizeof(*a));
        a->req_error = -1;
        if ((!c->evcon && !conn_new(c)) || !(req = evhttp_request_new(on_done, a))) {
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

        *broken = true;
        *stale = false;
        if (a->setup_failed) {
                o.reason_off = reason_add(c, "cannot start a request to %s", sh->addr);
        } else if (a->timed_out && a->phase == PH_REQUEST) {
                o.status = FG_SINK_BACKPRESSURE;
                o.reason_off = reason_add(c, "timeout after %lld ms", sh->timeout_ms);
        } else if (a->timed_out) {
                o.reason_off = reason_add(c, "connect timeout after %lld ms (%s)", sh->connect_ms,
                                          sh->addr);
        } else if (a->got_status) {
                o.status = status_class(a->status);
                if (o.status == FG_SINK_BACKPRESSURE)
                        o.retry_after_ns = a->retry_after_ns;
                if (o.status != FG_SINK_OK)
                        o.reason_off = a->line[0]
                                           ? reason_add(c, "HTTP %d %s", a->status, a->line)
                                           : reason_add(c, "HTTP %d", a->status);
                /* Answered, but a body that then failed leaves the
                 * connection in no state to reuse. */
                *broken = a->req_error >= 0;
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
                o.reason_off = reason_add(c, "invalid HTTP response from %s", sh->addr);
        }
        return o;
}

/* One request with the keep-alive retry. */
static outcome_t request(http_conn_t *c, const char *body, size_t len) {
        attempt_t a;
        bool broken, stale;
        outcome_t o;

        attempt_run(c, body, len, &a);
        o = classify(c, &a, &broken, &stale);
        if (broken)
                conn_reset(c);
        if (stale) {
                fg_debug("http sink: %s on a kept-alive connection; retrying once on a new one",
                         c->reasons.p + o.reason_off);
                c->reasons.len = o.reason_off;
                attempt_run(c, body, len, &a);
                o = classify(c, &a, &broken, &stale);
                if (broken)
                        conn_reset(c);
        }
        return o;
}

/* ---- send (worker) ---- */

/* How many of evs[0..n) go into the next request. */
static size_t chunk_len(const http_shared_t *sh, const fg_event_t *evs, size_t n) {
        size_t bytes, k = 1;

        if (sh->format == FG_HTTP_JSON)
                return 1;
        /* "[" a "," b "]" and a "\n" b "\n" both grow by len + 1 per event. */
        bytes = evs[0].len + (sh->format == FG_HTTP_JSON_ARRAY ? 2 : 1);
        while (k < n && k < sh->max_msgs && bytes + evs[k].len + 1 <= sh->max_bytes)
                bytes += evs[k++].len + 1;
        return k;
}

static void build_body(http_conn_t *c, const fg_event_t *evs, size_t n) {
        bool array = c->sh->format == FG_HTTP_JSON_ARRAY;

        fg_buf_reset(&c->body);
        if (array)
                fg_buf_putc(&c->body, '[');
        for (size_t i = 0; i < n; i++) {
                if (array && i)
                        fg_buf_putc(&c->body, ',');
                fg_buf_append(&c->body, evs[i].value, evs[i].len);
                if (!array)
                        fg_buf_putc(&c->body, '\n');
        }
        if (array)
                fg_buf_putc(&c->body, ']');
}

static void http_send(void *opaque, const fg_event_t *evs, size_t n, fg_sink_result_t *res) {
        http_conn_t *c = opaque;
        size_t nouts = 0;
        bool stopped = false;
        outcome_t last = {0};

        fg_buf_reset(&c->reasons);
        for (size_t i = 0; i < n;) {
                size_t k = chunk_len(c->sh, evs + i, n - i);
                outcome_t o;

                if (nouts == c->outs_cap) {
                        size_t cap = c->outs_cap ? 2 * c->outs_cap : 16;
                        outcome_t *p = realloc(c->outs, cap * sizeof(*p));
                        if (!p)
                                abort(); /* like fg_buf: bounded by the batch, lost anyway */
                        c->outs = p;
                        c->outs_cap = cap;
                }
                if (stopped) {
                        o = last; /* not sent: an earlier request of this call failed */
                } else if (c->sh->format == FG_HTTP_JSON) {
                        o = request(c, evs[i].value, evs[i].len);
                } else {
                        build_body(c, evs + i, k);
                        o = request(c, c->body.p, c->body.len);
                }
                if (o.status == FG_SINK_RETRY || o.status == FG_SINK_BACKPRESSURE) {
                        stopped = true;
                        last = o;
                }
                o.first = i;
                o.count = k;
                c->outs[nouts++] = o;
                i += k;
        }
        /* Reasons are final now (the buffer no longer moves). */
        for (size_t j = 0; j < nouts; j++) {
                const outcome_t *o = &c->outs[j];
                for (size_t i = o->first; i < o->first + o->count; i++) {
                        res[i].status = o->status;
                        res[i].retry_after_ns = o->retry_after_ns;
                        res[i].reason = o->reason_off == SIZE_MAX ? NULL
                                                                  : c->reasons.p + o->reason_off;
                }
        }
}

/* One request's worth of events: a worker then makes one request per send,
 * so pool size and concurrency limit govern request concurrency. */
static size_t http_batch_hint(void *opaque) {
        const http_shared_t *sh = opaque;
        return sh->format == FG_HTTP_JSON ? 1 : sh->max_msgs;
}

const fg_sink_class_t fg_sink_http_class = {
    .name = "http",
    .create = http_create,
    .destroy = http_destroy,
    .open = http_open,
    .close = http_close,
    .send = http_send,
    .batch_hint = http_batch_hint,
};
