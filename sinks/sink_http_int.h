/*
 * sink_http_int: what the http sink's two files share — sink_http.c (the
 * class: configuration, connections, cutting a send into requests) and
 * sink_http_request.c (one request on a worker's connection and its
 * outcome). Not part of the public API.
 *
 * Threading: an http_shared_t is immutable after create and read by every
 * worker (its tls and auth change on SIGHUP inside, under their own locks);
 * an http_conn_t and everything it points to belong to one worker.
 */
#ifndef FG_SINK_HTTP_INT_H
#define FG_SINK_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/buf.h"
#include "sinks/http_auth.h"
#include "sinks/http_gzip.h"
#include "sinks/http_tls.h"
#include "sinks/sink.h"

#define FG_HTTP_RETRY_AFTER_MAX_S 600 /* 10 minutes */
/* What a response may make a worker hold: its status line and headers,
 * and its body (read and discarded as it arrives, but a chunk is whole in
 * memory before evhttp hands it over). Beyond either the connection is
 * dropped, the status (if it came) still counts. */
#define FG_HTTP_RESPONSE_HEADERS_MAX (64 * 1024)
#define FG_HTTP_RESPONSE_BODY_MAX (1024 * 1024)
/* What the socket's read buffer may hold (a chunk-size line that never
 * ends would grow it): beyond this the response is over. */
#define FG_HTTP_RESPONSE_READ_MAX (FG_HTTP_RESPONSE_BODY_MAX + FG_HTTP_RESPONSE_HEADERS_MAX)
/* Once the status is in, the rest of the body gets at most this long (or
 * what is left of sink.timeout): the outcome is known, a body that
 * trickles only holds the worker. */
#define FG_HTTP_RESPONSE_DRAIN_MS 1000

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
        /* https://, sink.auth, sink.compression (NULL / 0 when unused) */
        fg_http_tls_t *tls;
        fg_http_auth_t *auth;
        int gzip_level;
} http_shared_t;

/* Where a request is. */
typedef enum phase {
        PH_START,    /* inside evhttp_make_request */
        PH_CONNECT,  /* name lookup and TCP connect */
        PH_REQUEST,  /* connected: writing the request, reading the response */
} phase_t;

struct http_conn;

/* One request in flight, on send's stack. */
typedef struct attempt {
        struct http_conn *conn; /* whose timer keeps its deadline */
        int64_t deadline_ns;    /* when the timer fires (monotonic); 0 = not armed */
        phase_t phase;
        bool done;
        bool reused;            /* went out on an already open connection */
        bool timed_out;         /* our deadline fired (in phase) */
        bool overflow;          /* the read buffer passed FG_HTTP_RESPONSE_READ_MAX */
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
        /* this worker's share of sh->tls, sh->auth and gzip (when used) */
        fg_http_tls_conn_t *tls;
        fg_http_auth_copy_t auth;
        fg_http_gzip_t *gz;
} http_conn_t;

/* Makes the worker's evhttp_connection (c->evcon). False on failure. */
bool fg_http_conn_new(http_conn_t *c);
/* Frees the connection; the next request makes a new one. */
void fg_http_conn_reset(http_conn_t *c);
/* The deadline timer's callback (c->timer, arg = c). */
void fg_http_on_timer(evutil_socket_t fd, short what, void *arg);
/* Sends @p body (referenced, not copied) as one POST, once more on a new
 * connection after the keep-alive race, and returns its outcome; its
 * reason is appended to c->reasons. */
outcome_t fg_http_request(http_conn_t *c, const char *body, size_t len);
/* Retry-After: delta-seconds or an HTTP-date (IMF-fixdate, RFC 850 or
 * asctime), relative to @p now. 0 for anything else or a date in the past;
 * capped at FG_HTTP_RETRY_AFTER_MAX_S. */
int64_t fg_http_parse_retry_after(const char *v, time_t now);

#endif
