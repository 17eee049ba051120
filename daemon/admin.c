/*
 * admin: /metrics, /stats, /healthz, /readyz on the main loop (see admin.h).
 *
 * DESIGN
 * evhttp parses requests incrementally on the loop, so a slow client costs
 * a connection and a timer, never the loop's time. What evhttp does not
 * bound, this file does:
 *
 *   Connections. evhttp hands us nothing when it accepts one, so we create
 *   its bufferevent (evhttp_set_bevcb), keep a reference to it and, once
 *   evhttp has set it up (the adopt event, later in the same loop pass),
 *   find the evhttp_connection through its callback argument and watch
 *   its close (evhttp_connection_set_closecb). Past ADMIN_MAX_CONNECTIONS
 *   a new connection is closed at once (counted as refused).
 *   Deadline. evhttp's timeout restarts with every byte; each connection
 *   also gets a timer for ADMIN_REQUEST_TIMEOUT_S from its accept, re-armed
 *   when a request has been answered (the next one on a kept-alive
 *   connection gets its own), so a request trickled a header line at a
 *   time is closed when its time is up.
 *   Accept errors. At the file-descriptor limit accept() fails while the
 *   pending connection keeps the listener readable: libevent would loop on
 *   it at full speed and log each failure. Our error callback instead stops
 *   accepting for ADMIN_BACKOFF_MIN_MS, doubling up to ADMIN_BACKOFF_MAX_MS
 *   while it keeps failing, and says so once per episode.
 *   Host. A request whose Host is neither the listen address, a loopback
 *   name, one of metrics.allowed_hosts nor (listening on a wildcard address)
 *   an IP address is answered 421: a web page whose name an attacker points
 *   at 127.0.0.1 (DNS rebinding) cannot read /stats. No Host at all (HTTP/
 *   1.0 tools) is let through: a browser always sends one.
 * The numbers are in every view served (fg_view_admin_t).
 *
 * The listener's error callback only gets evhttp's pointer, so servers are
 * found by their listener in a small registry.
 *
 * Threading: the loop's thread (main); the registry has a lock because
 * tests run servers on several threads.
 * Ownership: the server owns its connection records; evhttp owns the
 * connections (their close callback frees our record).
 */
#include "daemon/admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "common/hostport.h"
#include "common/log.h"
#include "daemon/admin_park.h"
#include "daemon/daemon_int.h"
#include "daemon/view.h"

#define ADMIN_REQUEST_TIMEOUT_S 5
#define ADMIN_MAX_HEADERS_SIZE 8192
#define ADMIN_MAX_BODY_SIZE    1024
#define ADMIN_BACKOFF_MIN_MS   100
#define ADMIN_BACKOFF_MAX_MS   2000

/* One accepted connection. */
typedef struct conn {
        struct conn *prev, *next;
        fg_admin_t *a;
        struct bufferevent *bev;         /* ours to hold until adopted */
        struct evhttp_connection *evcon; /* NULL until adopted */
        struct event *deadline;
        bool refuse;                     /* over the cap when accepted */
} conn_t;

struct fg_admin {
        fg_admin_collect_fn collect;
        void *opaque;
        struct event_base *base;
        struct evhttp *http;
        struct evconnlistener *lev;
        struct event *adopt_ev, *resume_ev;
        int port;
        fg_hostport_t listen;
        bool wildcard;
        char **allowed;       /* metrics.allowed_hosts, lower case */
        size_t nallowed;
        conn_t *conns;
        fg_park_t *park;      /* dead_letter.park_key: POST /parked/release; else NULL */
        int backoff_ms;       /* 0: accepting */
        fg_view_admin_t st;
        fg_admin_t *next_registered;
};

/* ---- the registry (listener -> server) ---- */

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static fg_admin_t *registry;

static fg_admin_t *registry_find(struct evconnlistener *lev) {
        fg_admin_t *a;

        pthread_mutex_lock(&registry_lock);
        for (a = registry; a && a->lev != lev; a = a->next_registered)
                ;
        pthread_mutex_unlock(&registry_lock);
        return a;
}

static void registry_remove(fg_admin_t *a) {
        fg_admin_t **p;

        pthread_mutex_lock(&registry_lock);
        for (p = &registry; *p && *p != a; p = &(*p)->next_registered)
                ;
        if (*p)
                *p = a->next_registered;
        pthread_mutex_unlock(&registry_lock);
}

/* ---- replies ---- */

static void reply(struct evhttp_request *req, int code, const char *reason, const char *type,
                  const char *body, size_t len) {
        struct evbuffer *out = evbuffer_new();

        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
        if (out && evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
                evbuffer_add(out, body, len);
        evhttp_send_reply(req, code, reason, out);
        if (out)
                evbuffer_free(out);
}

static void reply_json(struct evhttp_request *req, int code, const char *reason, json_t *doc) {
        char *text = json_dumps(doc, JSON_COMPACT);

        if (text) {
                reply(req, code, reason, "application/json", text, strlen(text));
                free(text);
        } else {
                evhttp_send_error(req, HTTP_INTERNAL, NULL);
        }
        json_decref(doc);
}

static void serve_metrics(struct evhttp_request *req, const fg_view_t *v) {
        fg_buf_t b = FG_BUF_INIT;

        fg_view_prometheus(v, &b);
        reply(req, HTTP_OK, "OK", "text/plain; version=0.0.4; charset=utf-8", b.p, b.len);
        fg_buf_free(&b);
}

static void serve_probe(struct evhttp_request *req, bool ok, const fg_view_t *v) {
        reply_json(req, ok ? HTTP_OK : 503, ok ? "OK" : "Service Unavailable",
                   json_pack("{s:s, s:s}", "status", ok ? "ok" : "unavailable", "reason",
                             ok ? "" : v->health_reason));
}

/* ---- Host ---- */

/* Whether @p host (as evhttp_request_get_host gives it: no port, an IPv6
 * literal in brackets) may be served. */
static bool host_allowed(const fg_admin_t *a, const char *host) {
        char h[FG_HOSTPORT_HOST_MAX];
        size_t len = strlen(host);
        unsigned char addr[16];
        bool literal;

        if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
                host++;
                len -= 2;
        }
        if (!len || len >= sizeof(h))
                return false;
        memcpy(h, host, len);
        h[len] = '\0';
        if (fg_hostport_is_loopback(h) || !strcasecmp(h, a->listen.host))
                return true;
        literal = inet_pton(AF_INET, h, addr) == 1 || inet_pton(AF_INET6, h, addr) == 1;
        if (literal && a->wildcard)
                return true;
        for (size_t i = 0; i < a->nallowed; i++)
                if (!strcasecmp(h, a->allowed[i]))
                        return true;
        return false;
}

static void serve_misdirected(struct evhttp_request *req, fg_admin_t *a, const char *host) {
        char shown[80], body[400];
        size_t k = 0;
        int n;

        for (const char *p = host; *p && k + 4 < sizeof(shown); p++)
                shown[k++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
        if (host[k]) {
                memcpy(shown + k, "...", 3);
                k += 3;
        }
        shown[k] = '\0';
        a->st.misdirected++;
        n = snprintf(body, sizeof(body),
                     "floodgate: Host '%s' is not served here (DNS-rebinding protection). Use "
                     "the listen address or a loopback name, or add the name to "
                     "metrics.allowed_hosts.\n",
                     shown);
        reply(req, 421, "Misdirected Request", "text/plain; charset=utf-8", body,
              n > 0 ? (size_t)n : 0);
}

/* ---- connections ---- */

static conn_t *conn_of(fg_admin_t *a, struct evhttp_connection *evcon) {
        conn_t *c;

        for (c = a->conns; c && c->evcon != evcon; c = c->next)
                ;
        return c;
}

static void conn_unlink_free(conn_t *c) {
        fg_admin_t *a = c->a;

        if (c->prev)
                c->prev->next = c->next;
        else
                a->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        if (c->deadline)
                event_free(c->deadline);
        a->st.connections--;
        free(c);
}

/* evhttp frees an adopted connection. */
static void on_conn_close(struct evhttp_connection *evcon, void *arg) {
        conn_unlink_free(arg);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg) {
        conn_t *c = arg;

        c->a->st.timeouts++;
        evhttp_connection_free(c->evcon); /* on_conn_close frees c */
}

static void arm_deadline(conn_t *c) {
        const struct timeval tv = {ADMIN_REQUEST_TIMEOUT_S, 0};

        if (c->deadline)
                evtimer_add(c->deadline, &tv);
}

/* After the accept's callbacks: evhttp has set each new bufferevent up,
 * its callback argument is the evhttp_connection. */
static void on_adopt(evutil_socket_t fd, short what, void *arg) {
        fg_admin_t *a = arg;
        conn_t *c, *next;

        for (c = a->conns; c; c = next) {
                bufferevent_data_cb readcb = NULL, writecb = NULL;
                bufferevent_event_cb eventcb = NULL;
                void *cbarg = NULL;
                struct bufferevent *bev = c->bev;

                next = c->next;
                if (c->evcon)
                        continue;
                bufferevent_getcb(bev, &readcb, &writecb, &eventcb, &cbarg);
                c->bev = NULL;
                if (!eventcb || !cbarg) {
                        /* evhttp already gave it up (bufferevent_free clears
                         * the callbacks); ours is the last reference. */
                        conn_unlink_free(c);
                        bufferevent_decref(bev);
                        continue;
                }
                c->evcon = cbarg;
                evhttp_connection_set_closecb(c->evcon, on_conn_close, c);
                bufferevent_decref(bev);
                if (c->refuse) {
                        a->st.refused++;
                        evhttp_connection_free(c->evcon); /* frees c */
                        continue;
                }
                c->deadline = evtimer_new(a->base, on_deadline, c);
                arm_deadline(c);
        }
}

/* evhttp accepted a connection and asks for its bufferevent. */
static struct bufferevent *on_accept(struct event_base *base, void *arg) {
        fg_admin_t *a = arg;
        struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
        conn_t *c = bev ? calloc(1, sizeof(*c)) : NULL;

        if (a->backoff_ms) {
                fg_info("admin: accepting connections again");
                a->backoff_ms = 0;
        }
        if (!c)
                return bev; /* evhttp copes with NULL; untracked, but bounded by its timeout */
        c->a = a;
        c->bev = bev;
        c->refuse = a->st.connections >= a->st.max_connections;
        bufferevent_incref(bev);
        c->next = a->conns;
        if (a->conns)
                a->conns->prev = c;
        a->conns = c;
        a->st.connections++;
        event_active(a->adopt_ev, EV_TIMEOUT, 1);
        return bev;
}

static void on_resume(evutil_socket_t fd, short what, void *arg) {
        fg_admin_t *a = arg;

        evconnlistener_enable(a->lev);
}

/* accept() failed with an error that is not EAGAIN-like (EMFILE, ENFILE,
 * ENOBUFS...): stop accepting for a while instead of spinning. */
static void on_accept_error(struct evconnlistener *lev, void *ptr) {
        fg_admin_t *a = registry_find(lev);
        int err = EVUTIL_SOCKET_ERROR();
        struct timeval tv;

        if (!a)
                return;
        a->st.accept_errors++;
        evconnlistener_disable(lev);
        if (!a->backoff_ms)
                fg_warn("admin: cannot accept connections: %s; pausing accepts (at most %d ms "
                        "at a time) until it works again",
                        strerror(err), ADMIN_BACKOFF_MAX_MS);
        a->backoff_ms = !a->backoff_ms ? ADMIN_BACKOFF_MIN_MS
                        : 2 * a->backoff_ms > ADMIN_BACKOFF_MAX_MS ? ADMIN_BACKOFF_MAX_MS
                                                                   : 2 * a->backoff_ms;
        tv.tv_sec = a->backoff_ms / 1000;
        tv.tv_usec = (a->backoff_ms % 1000) * 1000;
        evtimer_add(a->resume_ev, &tv);
}

/* ---- requests ---- */

static void on_request(struct evhttp_request *req, void *arg) {
        fg_admin_t *a = arg;
        const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
        const char *host = evhttp_request_get_host(req);
        enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
        conn_t *c = conn_of(a, evhttp_request_get_connection(req));
        fg_view_t *v;

        /* Answered now: a kept-alive connection's next request gets its
         * own time. */
        if (c)
                arm_deadline(c);
        if (host && evhttp_find_header(evhttp_request_get_input_headers(req), "Host") &&
            !host_allowed(a, host)) {
                serve_misdirected(req, a, host);
                return;
        }
        /* The one endpoint that changes anything: past the same Host check
         * and deadline as the others. */
        if (path && a->park && !strcmp(path, "/parked/release")) {
                fg_admin_park_serve(req, a->park);
                return;
        }
        if (!path || (strcmp(path, "/metrics") && strcmp(path, "/stats") &&
                      strcmp(path, "/healthz") && strcmp(path, "/readyz"))) {
                evhttp_send_error(req, HTTP_NOTFOUND, NULL);
                return;
        }
        if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
                evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
                evhttp_send_error(req, HTTP_BADMETHOD, NULL);
                return;
        }
        v = a->collect(a->opaque);
        if (!v) {
                evhttp_send_error(req, HTTP_INTERNAL, NULL);
                return;
        }
        v->admin = a->st;
        if (!strcmp(path, "/metrics"))
                serve_metrics(req, v);
        else if (!strcmp(path, "/stats"))
                reply_json(req, HTTP_OK, "OK", fg_view_json(v));
        else if (!strcmp(path, "/healthz"))
                serve_probe(req, v->healthy, v);
        else
                serve_probe(req, v->ready, v);
        fg_view_free(v);
}

/* ---- lifecycle ---- */

static int bound_port(struct evhttp_bound_socket *bs) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);

        if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &len))
                return -1;
        if (ss.ss_family == AF_INET6)
                return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static fg_view_t *collect_daemon(void *opaque) { return fg_view_collect(opaque); }

fg_admin_t *fg_admin_new(fg_daemon_t *d, const char *listen, char *errstr, size_t errstr_size) {
        fg_admin_t *a = fg_admin_new_on(d->base, listen, &d->cfg->metrics.allowed_hosts,
                                        collect_daemon, d, errstr, errstr_size);

        if (a)
                a->park = d->park;
        return a;
}

static bool copy_allowed(fg_admin_t *a, const fg_strlist_t *hosts) {
        a->allowed = calloc(hosts && hosts->n ? hosts->n : 1, sizeof(*a->allowed));
        if (!a->allowed)
                return false;
        for (size_t i = 0; hosts && i < hosts->n; i++) {
                const char *h = hosts->v[i];
                size_t len = strlen(h);

                if (len >= 2 && h[0] == '[' && h[len - 1] == ']')
                        a->allowed[i] = strndup(h + 1, len - 2);
                else
                        a->allowed[i] = strdup(h);
                if (!a->allowed[i])
                        return false;
                a->nallowed = i + 1;
        }
        return true;
}

fg_admin_t *fg_admin_new_on(struct event_base *base, const char *listen,
                            const fg_strlist_t *allowed_hosts, fg_admin_collect_fn collect,
                            void *opaque, char *errstr, size_t errstr_size) {
        fg_admin_t *a = calloc(1, sizeof(*a));
        struct evhttp_bound_socket *bs;
        char why[128];

        if (!a) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        if (fg_hostport_parse(listen, &a->listen, why, sizeof(why))) {
                snprintf(errstr, errstr_size, "metrics.listen '%s': %s", listen, why);
                goto init_error;
        }
        a->wildcard = fg_hostport_is_wildcard(a->listen.host);
        a->collect = collect;
        a->opaque = opaque;
        a->base = base;
        a->st.max_connections = FG_ADMIN_MAX_CONNECTIONS;
        a->http = evhttp_new(base);
        a->adopt_ev = event_new(base, -1, 0, on_adopt, a);
        a->resume_ev = evtimer_new(base, on_resume, a);
        if (!a->http || !a->adopt_ev || !a->resume_ev || !copy_allowed(a, allowed_hosts)) {
                snprintf(errstr, errstr_size, "cannot create the HTTP server");
                goto init_error;
        }
        evhttp_set_timeout(a->http, ADMIN_REQUEST_TIMEOUT_S);
        evhttp_set_max_headers_size(a->http, ADMIN_MAX_HEADERS_SIZE);
        evhttp_set_max_body_size(a->http, ADMIN_MAX_BODY_SIZE);
        /* Let every method reach on_request, which answers 405 itself. */
        evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                                EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                                EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
        evhttp_set_gencb(a->http, on_request, a);
        evhttp_set_bevcb(a->http, on_accept, a);
        bs = evhttp_bind_socket_with_handle(a->http, a->listen.host, (ev_uint16_t)a->listen.port);
        if (!bs) {
                snprintf(errstr, errstr_size, "metrics.listen %s: cannot listen (address in use?)",
                         listen);
                goto init_error;
        }
        a->port = bound_port(bs);
        a->lev = evhttp_bound_socket_get_listener(bs);
        pthread_mutex_lock(&registry_lock);
        a->next_registered = registry;
        registry = a;
        pthread_mutex_unlock(&registry_lock);
        evconnlistener_set_error_cb(a->lev, on_accept_error);
        fg_info("serving /metrics /stats /healthz /readyz on %s%s%s:%d", a->listen.v6 ? "[" : "",
                a->listen.host, a->listen.v6 ? "]" : "", a->port);
        return a;

init_error:
        fg_admin_destroy(a);
        return NULL;
}

void fg_admin_destroy(fg_admin_t *a) {
        if (!a)
                return;
        registry_remove(a);
        /* Frees every connection: adopted ones free their records in
         * on_conn_close; the rest still hold our reference. */
        if (a->http)
                evhttp_free(a->http);
        while (a->conns) {
                struct bufferevent *bev = a->conns->bev;
                conn_unlink_free(a->conns);
                if (bev)
                        bufferevent_decref(bev);
        }
        if (a->adopt_ev)
                event_free(a->adopt_ev);
        if (a->resume_ev)
                event_free(a->resume_ev);
        for (size_t i = 0; i < a->nallowed; i++)
                free(a->allowed[i]);
        free(a->allowed);
        free(a);
}

int fg_admin_port(const fg_admin_t *a) { return a->port; }
