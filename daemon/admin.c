/*
 * admin: /metrics, /stats, /healthz, /readyz on the main loop (see admin.h).
 *
 * evhttp parses requests incrementally on the loop, so a slow client costs
 * a connection and a timer, never the loop's time; the limits below bound
 * what one client can make us hold.
 */
#include "daemon/admin.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "daemon/admin_park.h"
#include "daemon/daemon_int.h"
#include "daemon/view.h"

#define ADMIN_TIMEOUT_S        5
#define ADMIN_MAX_HEADERS_SIZE 8192
#define ADMIN_MAX_BODY_SIZE    1024

struct fg_admin {
        fg_admin_collect_fn collect;
        void *opaque;
        struct evhttp *http;
        int port;
};

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

static void on_request(struct evhttp_request *req, void *arg) {
        fg_admin_t *a = arg;
        const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
        enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
        fg_view_t *v;

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

/* "host:port" -> host (brackets stripped for IPv6) and port. */
static int split_listen(const char *listen, char *host, size_t host_size, int *port) {
        const char *colon = strrchr(listen, ':');
        size_t hlen;
        char *end;
        long p;

        if (!colon)
                return -1;
        p = strtol(colon + 1, &end, 10);
        if (*end || end == colon + 1 || p < 0 || p > 65535)
                return -1;
        hlen = (size_t)(colon - listen);
        if (hlen >= 2 && listen[0] == '[' && listen[hlen - 1] == ']') {
                listen++;
                hlen -= 2;
        }
        if (hlen == 0 || hlen >= host_size)
                return -1;
        memcpy(host, listen, hlen);
        host[hlen] = '\0';
        *port = (int)p;
        return 0;
}

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
        fg_admin_t *a = fg_admin_new_on(d->base, listen, collect_daemon, d, errstr, errstr_size);

        if (a && d->park)
                fg_admin_park_attach(a->http, d->park);
        return a;
}

fg_admin_t *fg_admin_new_on(struct event_base *base, const char *listen,
                            fg_admin_collect_fn collect, void *opaque, char *errstr,
                            size_t errstr_size) {
        fg_admin_t *a = calloc(1, sizeof(*a));
        struct evhttp_bound_socket *bs;
        char host[256];
        int port;

        if (!a) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        if (split_listen(listen, host, sizeof(host), &port)) {
                snprintf(errstr, errstr_size, "metrics.listen '%s': expected host:port", listen);
                goto init_error;
        }
        a->collect = collect;
        a->opaque = opaque;
        a->http = evhttp_new(base);
        if (!a->http) {
                snprintf(errstr, errstr_size, "cannot create the HTTP server");
                goto init_error;
        }
        evhttp_set_timeout(a->http, ADMIN_TIMEOUT_S);
        evhttp_set_max_headers_size(a->http, ADMIN_MAX_HEADERS_SIZE);
        evhttp_set_max_body_size(a->http, ADMIN_MAX_BODY_SIZE);
        /* Let every method reach on_request, which answers 405 itself. */
        evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                                EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                                EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
        evhttp_set_gencb(a->http, on_request, a);
        bs = evhttp_bind_socket_with_handle(a->http, host, (ev_uint16_t)port);
        if (!bs) {
                snprintf(errstr, errstr_size, "metrics.listen %s: cannot listen (address in use?)",
                         listen);
                goto init_error;
        }
        a->port = bound_port(bs);
        fg_info("serving /metrics /stats /healthz /readyz on %s:%d", host, a->port);
        return a;

init_error:
        fg_admin_destroy(a);
        return NULL;
}

void fg_admin_destroy(fg_admin_t *a) {
        if (!a)
                return;
        if (a->http)
                evhttp_free(a->http);
        free(a);
}

int fg_admin_port(const fg_admin_t *a) { return a->port; }
