/*
 * httpd: the scriptable loopback HTTP server (see httpd.h for the rules).
 *
 * DESIGN
 * The test thread creates the base, the evhttp and the listening socket,
 * then hands them to the server thread, which only runs the loop; stop()
 * activates an event that breaks the loop, joins, and frees everything on
 * the stopping thread.
 *
 * A request is decided and logged in its callback under h->lock. One that
 * must wait becomes a pending_t: an evtimer (none for HANG), an EV_CLOSED
 * watch on its socket and the close callback of its connection, so that
 * whatever ends first is seen:
 *   - the timer fires: answer (or drop) it;
 *   - the client closes its end: evhttp reads nothing while a request is
 *     outstanding, so it would not notice until it writes; we free the
 *     connection, which frees the request and lands in the next case;
 *   - the connection is freed with the request still queued on it (evhttp
 *     frees the request too): forget it;
 *   - evhttp detaches the request from a dying connection (its own error
 *     path): keep it; answering a detached request frees it, and stop()
 *     frees a hung one.
 * Counters move before the response is queued, so a client that has read
 * its response always sees them up to date.
 *
 * Threading: pending_t and the pending list: server thread (stop() after
 * the join). Everything under "lock" in struct fg_test_httpd: any thread.
 */
#include "tests/support/httpd.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <jansson.h>

#include "common/clock.h"
#include "tests/support/fgtest.h"

#define STATUS_LIMIT 600
/* Idle keep-alive connections are closed after this long. */
#define IDLE_TIMEOUT_S 600

typedef struct rule {
        int status; /* 200..599, FG_TEST_HTTPD_DROP, _HANG or _RAW */
        int delay_ms;
        int retry_after_s; /* < 0: no header */
        size_t raw;        /* _RAW: index into fg_test_httpd.raws */
} rule_t;

/* One logged request. Its bytes in the arena, from off:
 * method\0 uri\0 (name\0 value\0)* \0 body \0 */
typedef struct rec {
        size_t off;
        size_t body_off;
        size_t body_len;
        int64_t arrival_ns;
        int status;
        uint16_t peer_port;
} rec_t;

typedef struct pending {
        struct pending *prev, *next;
        fg_test_httpd_t *h;
        struct evhttp_request *req;
        struct evhttp_connection *evcon; /* NULL once the connection is gone */
        struct event *timer;             /* NULL for HANG */
        struct event *closed;            /* EV_CLOSED on the socket, or NULL */
        rule_t rule;
} pending_t;

typedef struct url {
        struct url *next;
        char s[];
} url_t;

/* A RAW response being written: the connection taken over from evhttp
 * (its bufferevent's callbacks are ours from then on). */
typedef struct raw_conn {
        struct raw_conn *prev, *next;
        fg_test_httpd_t *h;
        struct evhttp_connection *evcon;
        struct bufferevent *bev;
        fg_test_httpd_raw_t spec;  /* strings owned by h->raws */
        size_t fill_len;
        int64_t filled;            /* fill bytes queued so far */
        struct event *tick;        /* trickle timer, or NULL */
        bool ended;                /* the script's bytes are all queued */
} raw_conn_t;

/* Bytes queued per refill when writing as fast as the client reads. */
#define RAW_CHUNK (64 * 1024)

struct fg_test_httpd {
        /* Set by start(), read-only afterwards. */
        struct event_base *base;
        struct evhttp *http;
        struct event *stop_ev;
        pthread_t thread;
        int port;

        pending_t *pending; /* server thread */
        raw_conn_t *raws_live; /* server thread */

        pthread_mutex_t lock;
        /* settings (lock) */
        rule_t dflt;
        int latency_ms;
        rule_t *script;
        size_t script_head, script_len, script_cap;
        int fail_status;
        int64_t fail_until_ns;
        int limit, limit_status;
        bool keep_log;
        fg_test_httpd_raw_t *raws; /* every RAW entry ever scripted (strings owned) */
        size_t nraws, raws_cap;
        /* counters (lock); st.script_left is computed on read */
        fg_test_httpd_stats_t st;
        int64_t answered[STATUS_LIMIT];
        /* log (lock) */
        rec_t *recs;
        size_t nrecs, recs_cap;
        char *arena;
        size_t arena_len, arena_cap;
        url_t *urls;
};

static bool valid_status(int status) { return status >= 200 && status < STATUS_LIMIT; }

static const char *reason_of(int status) {
        switch (status) {
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 408: return "Request Timeout";
        case 413: return "Payload Too Large";
        case 429: return "Too Many Requests";
        case 500: return "Internal Server Error";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        default: return status < 400 ? "OK" : "Error";
        }
}

static const char *method_of(enum evhttp_cmd_type cmd) {
        switch (cmd) {
        case EVHTTP_REQ_GET: return "GET";
        case EVHTTP_REQ_POST: return "POST";
        case EVHTTP_REQ_HEAD: return "HEAD";
        case EVHTTP_REQ_PUT: return "PUT";
        case EVHTTP_REQ_DELETE: return "DELETE";
        case EVHTTP_REQ_OPTIONS: return "OPTIONS";
        case EVHTTP_REQ_TRACE: return "TRACE";
        case EVHTTP_REQ_CONNECT: return "CONNECT";
        case EVHTTP_REQ_PATCH: return "PATCH";
        default: return "?";
        }
}

/* Occurrences of the key "id" (a quote, id, a quote, blanks, a colon). */
static int64_t count_id_keys(const char *p, size_t len) {
        static const char key[] = "\"id\"";
        const char *end = p + len;
        int64_t n = 0;

        while ((p = memmem(p, (size_t)(end - p), key, sizeof(key) - 1)) != NULL) {
                p += sizeof(key) - 1;
                while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
                        p++;
                if (p < end && *p == ':')
                        n++;
        }
        return n;
}

/* ---- the log (lock held) ---- */

static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
        size_t ncap = *cap ? *cap : 64;
        void *np;

        if (need <= *cap)
                return true;
        while (ncap < need)
                ncap *= 2;
        np = realloc(*p, ncap * elem);
        if (!np)
                return false;
        *p = np;
        *cap = ncap;
        return true;
}

static void arena_put(fg_test_httpd_t *h, const void *src, size_t len) {
        memcpy(h->arena + h->arena_len, src, len);
        h->arena_len += len;
}

static void arena_puts(fg_test_httpd_t *h, const char *s) { arena_put(h, s, strlen(s) + 1); }

static void log_request(fg_test_httpd_t *h, struct evhttp_request *req, const char *body,
                        size_t body_len, int status, uint16_t peer_port, int64_t now) {
        const char *method = method_of(evhttp_request_get_command(req));
        const char *uri = evhttp_request_get_uri(req);
        struct evkeyvalq *hdrs = evhttp_request_get_input_headers(req);
        struct evkeyval *kv;
        size_t need;
        rec_t *r;

        if (!uri)
                uri = "";
        need = strlen(method) + strlen(uri) + 2 + 1 + body_len + 1;
        for (kv = hdrs->tqh_first; kv; kv = kv->next.tqe_next)
                need += strlen(kv->key) + strlen(kv->value) + 2;
        if (!grow((void **)&h->recs, &h->recs_cap, h->nrecs + 1, sizeof(*h->recs)) ||
            !grow((void **)&h->arena, &h->arena_cap, h->arena_len + need, 1)) {
                fprintf(stderr, "httpd: out of memory, request %lld not logged\n",
                        (long long)h->st.requests);
                return;
        }
        r = &h->recs[h->nrecs++];
        r->off = h->arena_len;
        r->arrival_ns = now;
        r->status = status;
        r->peer_port = peer_port;
        arena_puts(h, method);
        arena_puts(h, uri);
        for (kv = hdrs->tqh_first; kv; kv = kv->next.tqe_next) {
                arena_puts(h, kv->key);
                arena_puts(h, kv->value);
        }
        arena_put(h, "", 1);
        r->body_off = h->arena_len;
        r->body_len = body_len;
        if (body_len)
                arena_put(h, body, body_len);
        arena_put(h, "", 1);
}

/* ---- answering (server thread) ---- */

static void pending_unlink(fg_test_httpd_t *h, pending_t *p) {
        if (p->prev)
                p->prev->next = p->next;
        else
                h->pending = p->next;
        if (p->next)
                p->next->prev = p->prev;
        p->prev = p->next = NULL;
}

static void pending_free(pending_t *p) {
        if (p->timer)
                event_free(p->timer);
        if (p->closed)
                event_free(p->closed);
        free(p);
}

/* Sends the response of @p r. @p in_progress: the request counts as in
 * progress (everything but limit rejections). A detached request (its
 * client is gone) is freed by evhttp_send_reply without being sent. */
static void respond(fg_test_httpd_t *h, struct evhttp_request *req, const rule_t *r,
                    bool in_progress) {
        struct evkeyvalq *out = evhttp_request_get_output_headers(req);
        bool gone = evhttp_request_get_connection(req) == NULL;
        struct evbuffer *body = NULL;
        char ra[24];

        if (r->retry_after_s >= 0) {
                snprintf(ra, sizeof(ra), "%d", r->retry_after_s);
                evhttp_add_header(out, "Retry-After", ra);
        }
        if (r->status != 204 && evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
                body = evbuffer_new();
                if (body && r->status < 400)
                        evbuffer_add_printf(body, "{\"ok\":true}\n");
                else if (body)
                        evbuffer_add_printf(body, "{\"error\":\"%s\",\"status\":%d}\n",
                                            reason_of(r->status), r->status);
                evhttp_add_header(out, "Content-Type", "application/json");
        }
        pthread_mutex_lock(&h->lock);
        if (!gone)
                h->answered[r->status]++;
        if (in_progress)
                h->st.inflight--;
        pthread_mutex_unlock(&h->lock);
        evhttp_send_reply(req, r->status, reason_of(r->status), body);
        if (body)
                evbuffer_free(body);
}

/* ---- RAW responses (server thread) ---- */

static void raw_finish(raw_conn_t *rc) {
        fg_test_httpd_t *h = rc->h;

        if (rc->prev)
                rc->prev->next = rc->next;
        else
                h->raws_live = rc->next;
        if (rc->next)
                rc->next->prev = rc->prev;
        if (rc->tick)
                event_free(rc->tick);
        pthread_mutex_lock(&h->lock);
        h->st.raw_active--;
        pthread_mutex_unlock(&h->lock);
        evhttp_connection_free(rc->evcon); /* frees the request and the bufferevent */
        free(rc);
}

/* Queues up to @p max bytes of fill. */
static void raw_fill(raw_conn_t *rc, size_t max) {
        struct evbuffer *out = bufferevent_get_output(rc->bev);
        size_t want = max;

        if (rc->spec.fill_bytes >= 0 && (int64_t)want > rc->spec.fill_bytes - rc->filled)
                want = (size_t)(rc->spec.fill_bytes - rc->filled);
        for (size_t done = 0; done < want;) {
                size_t n = want - done < rc->fill_len ? want - done : rc->fill_len;
                evbuffer_add(out, rc->spec.fill, n);
                done += n;
        }
        rc->filled += (int64_t)want;
        if (!rc->fill_len || (rc->spec.fill_bytes >= 0 && rc->filled >= rc->spec.fill_bytes))
                rc->ended = true;
}

/* Everything queued went out (or nothing was left to send): the end. */
static void raw_end(raw_conn_t *rc) {
        if (rc->spec.end == FG_TEST_HTTPD_END_RESET) {
                /* connect(AF_UNSPEC) aborts a TCP connection: the peer gets
                 * an RST, not the FIN that closing would send first. */
                struct sockaddr sa = {.sa_family = AF_UNSPEC};
                (void)connect(bufferevent_getfd(rc->bev), &sa, sizeof(sa));
        }
        if (rc->spec.end == FG_TEST_HTTPD_END_HANG)
                bufferevent_disable(rc->bev, EV_WRITE);
        else
                raw_finish(rc);
}

static void raw_on_write(struct bufferevent *bev, void *arg) {
        raw_conn_t *rc = arg;

        if (!rc->ended && !rc->tick)
                raw_fill(rc, RAW_CHUNK);
        if (rc->ended && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
                raw_end(rc);
}

static void raw_on_read(struct bufferevent *bev, void *arg) {
        struct evbuffer *in = bufferevent_get_input(bev);
        evbuffer_drain(in, evbuffer_get_length(in));
}

static void raw_on_event(struct bufferevent *bev, short what, void *arg) {
        raw_finish(arg); /* EOF, error or reset: the client is gone */
}

static void raw_on_tick(evutil_socket_t fd, short what, void *arg) {
        raw_conn_t *rc = arg;

        raw_fill(rc, rc->fill_len);
        if (rc->ended) {
                event_free(rc->tick);
                rc->tick = NULL;
                raw_on_write(rc->bev, rc);
        }
}

static void raw_count(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg) {
        raw_conn_t *rc = arg;

        if (info->n_deleted) {
                pthread_mutex_lock(&rc->h->lock);
                rc->h->st.raw_bytes += (int64_t)info->n_deleted;
                pthread_mutex_unlock(&rc->h->lock);
        }
}

/* Takes the connection of @p p over from evhttp and starts its RAW
 * response. Called from a timer, never under evhttp's own callbacks. */
static void raw_start(fg_test_httpd_t *h, pending_t *p) {
        raw_conn_t *rc = calloc(1, sizeof(*rc));
        struct timeval tv;

        pthread_mutex_lock(&h->lock);
        h->st.inflight--;
        h->st.raw_responses++;
        h->st.raw_active++;
        if (rc)
                rc->spec = h->raws[p->rule.raw];
        pthread_mutex_unlock(&h->lock);
        if (!rc) {
                fprintf(stderr, "httpd: out of memory, RAW response dropped\n");
                pthread_mutex_lock(&h->lock);
                h->st.raw_active--;
                pthread_mutex_unlock(&h->lock);
                evhttp_connection_free(p->evcon);
                return;
        }
        rc->h = h;
        rc->evcon = p->evcon;
        rc->bev = evhttp_connection_get_bufferevent(p->evcon);
        rc->fill_len = rc->spec.fill ? strlen(rc->spec.fill) : 0;
        rc->next = h->raws_live;
        if (h->raws_live)
                h->raws_live->prev = rc;
        h->raws_live = rc;
        bufferevent_setcb(rc->bev, raw_on_read, raw_on_write, raw_on_event, rc);
        bufferevent_set_timeouts(rc->bev, NULL, NULL);
        evbuffer_add_cb(bufferevent_get_output(rc->bev), raw_count, rc);
        bufferevent_enable(rc->bev, EV_READ | EV_WRITE);
        evbuffer_add(bufferevent_get_output(rc->bev), rc->spec.head, strlen(rc->spec.head));
        if (rc->spec.trickle_ms > 0 && rc->fill_len) {
                tv.tv_sec = rc->spec.trickle_ms / 1000;
                tv.tv_usec = (rc->spec.trickle_ms % 1000) * 1000;
                rc->tick = event_new(h->base, -1, EV_PERSIST, raw_on_tick, rc);
                if (rc->tick)
                        event_add(rc->tick, &tv);
        }
        if (!rc->tick && !rc->fill_len)
                rc->ended = true;
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
        pending_t *p = arg;
        fg_test_httpd_t *h = p->h;

        pending_unlink(h, p);
        if (p->closed) { /* before the drop closes the socket */
                event_free(p->closed);
                p->closed = NULL;
        }
        if (p->evcon)
                evhttp_connection_set_closecb(p->evcon, NULL, NULL);
        if (p->rule.status == FG_TEST_HTTPD_RAW) {
                if (p->evcon)
                        raw_start(h, p);
                else
                        evhttp_request_free(p->req); /* its client left while it waited */
        } else if (p->rule.status == FG_TEST_HTTPD_DROP) {
                pthread_mutex_lock(&h->lock);
                h->st.dropped++;
                if (p->evcon)
                        h->st.inflight--;
                pthread_mutex_unlock(&h->lock);
                if (p->evcon)
                        evhttp_connection_free(p->evcon); /* frees the request */
                else
                        evhttp_request_free(p->req);
        } else {
                /* Without a connection it was uncounted by on_close(). */
                respond(h, p->req, &p->rule, p->evcon != NULL);
        }
        pending_free(p);
}

/* The connection of a waiting request is being freed. */
static void on_close(struct evhttp_connection *evcon, void *arg) {
        pending_t *p = arg;
        fg_test_httpd_t *h = p->h;

        pthread_mutex_lock(&h->lock);
        h->st.inflight--;
        pthread_mutex_unlock(&h->lock);
        p->evcon = NULL;
        if (p->closed) { /* its socket is about to be closed */
                event_free(p->closed);
                p->closed = NULL;
        }
        if (evhttp_request_get_connection(p->req) == evcon) {
                /* Still queued on the connection: freed with it. */
                pending_unlink(h, p);
                pending_free(p);
        }
}

/* The client of a waiting request has closed its end. */
static void on_peer_closed(evutil_socket_t fd, short what, void *arg) {
        pending_t *p = arg;

        /* Frees the request; on_close() frees p. */
        evhttp_connection_free(p->evcon);
}

/* The rule for a request arriving at @p now. Lock held. Sets *limited
 * for a limit rejection; anything else is now in progress. */
static rule_t decide(fg_test_httpd_t *h, int64_t now, bool *limited) {
        rule_t r;

        *limited = h->limit > 0 && h->st.inflight >= h->limit;
        if (*limited) {
                h->st.rejected++;
                r.status = h->limit_status;
                r.delay_ms = 0;
                r.retry_after_s = -1;
                return r;
        }
        if (h->script_head < h->script_len) {
                r = h->script[h->script_head++];
                if (h->script_head == h->script_len)
                        h->script_head = h->script_len = 0;
        } else if (now < h->fail_until_ns) {
                r.status = h->fail_status;
                r.delay_ms = 0;
                r.retry_after_s = -1;
        } else {
                r = h->dflt;
        }
        if (r.status != FG_TEST_HTTPD_HANG)
                r.delay_ms += h->latency_ms;
        if (++h->st.inflight > h->st.peak_inflight)
                h->st.peak_inflight = h->st.inflight;
        return r;
}

static void on_request(struct evhttp_request *req, void *arg) {
        fg_test_httpd_t *h = arg;
        struct evhttp_connection *evcon = evhttp_request_get_connection(req);
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t body_len = evbuffer_get_length(in);
        const char *body = body_len ? (const char *)evbuffer_pullup(in, -1) : "";
        int64_t now = fg_mono_ns();
        char *peer_addr = NULL;
        uint16_t peer_port = 0;
        int64_t ids = body ? count_id_keys(body, body_len) : 0;
        bool limited;
        pending_t *p;
        rule_t r;

        if (!body) /* pullup failed: log it empty */
                body_len = 0;
        evhttp_connection_get_peer(evcon, &peer_addr, &peer_port);
        pthread_mutex_lock(&h->lock);
        r = decide(h, now, &limited);
        h->st.requests++;
        h->st.events += ids;
        h->st.body_bytes += (int64_t)body_len;
        if (h->keep_log)
                log_request(h, req, body, body_len, r.status, peer_port, now);
        pthread_mutex_unlock(&h->lock);

        if (limited || (r.status != FG_TEST_HTTPD_DROP && r.status != FG_TEST_HTTPD_HANG &&
                        r.status != FG_TEST_HTTPD_RAW && r.delay_ms <= 0)) {
                respond(h, req, &r, !limited);
                return;
        }
        /* A drop or a RAW response always goes through a timer, so the
         * connection is never freed or taken over under evhttp's own
         * callback. */
        p = calloc(1, sizeof(*p));
        if (p && r.status != FG_TEST_HTTPD_HANG) {
                struct timeval tv = {r.delay_ms > 0 ? r.delay_ms / 1000 : 0,
                                     r.delay_ms > 0 ? (r.delay_ms % 1000) * 1000 : 0};
                p->timer = evtimer_new(h->base, on_timer, p);
                if (!p->timer || evtimer_add(p->timer, &tv) != 0) {
                        pending_free(p);
                        p = NULL;
                }
        }
        if (!p) {
                fprintf(stderr, "httpd: out of memory, answering 500 at once\n");
                r.status = 500;
                respond(h, req, &r, true);
                return;
        }
        p->h = h;
        p->req = req;
        p->evcon = evcon;
        p->rule = r;
        if (event_base_get_features(h->base) & EV_FEATURE_EARLY_CLOSE) {
                evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
                p->closed = fd >= 0 ? event_new(h->base, fd, EV_CLOSED, on_peer_closed, p) : NULL;
                if (p->closed && event_add(p->closed, NULL) != 0) {
                        event_free(p->closed);
                        p->closed = NULL;
                }
        }
        p->next = h->pending;
        if (h->pending)
                h->pending->prev = p;
        h->pending = p;
        evhttp_connection_set_closecb(evcon, on_close, p);
}

static struct bufferevent *on_accept(struct event_base *base, void *arg) {
        fg_test_httpd_t *h = arg;

        pthread_mutex_lock(&h->lock);
        h->st.connections++;
        pthread_mutex_unlock(&h->lock);
        return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
}

static void on_stop(evutil_socket_t fd, short what, void *arg) {
        fg_test_httpd_t *h = arg;
        event_base_loopbreak(h->base);
}

/* evthread_use_pthreads() once per process: it rewrites globals that
 * libevent's lock allocation reads on every server thread. */
static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static int evthread_rc;

static void evthread_setup(void) { evthread_rc = evthread_use_pthreads(); }

static void *server_main(void *arg) {
        fg_test_httpd_t *h = arg;
        event_base_dispatch(h->base);
        return NULL;
}

/* ---- lifecycle ---- */

/* Frees what start() built; the thread is not running. */
static void teardown(fg_test_httpd_t *h) {
        raw_conn_t *rc;
        pending_t *p;
        url_t *u;

        while ((p = h->pending) != NULL) {
                pending_unlink(h, p);
                if (p->evcon)
                        evhttp_connection_set_closecb(p->evcon, NULL, NULL);
                else
                        evhttp_request_free(p->req); /* detached: ours */
                pending_free(p);
        }
        /* evhttp_free below frees their connections. */
        while ((rc = h->raws_live) != NULL) {
                h->raws_live = rc->next;
                if (rc->tick)
                        event_free(rc->tick);
                evbuffer_remove_cb(bufferevent_get_output(rc->bev), raw_count, rc);
                free(rc);
        }
        for (size_t i = 0; i < h->nraws; i++) {
                free((char *)h->raws[i].head);
                free((char *)h->raws[i].fill);
        }
        free(h->raws);
        if (h->http)
                evhttp_free(h->http);
        if (h->stop_ev)
                event_free(h->stop_ev);
        if (h->base)
                event_base_free(h->base);
        while ((u = h->urls) != NULL) {
                h->urls = u->next;
                free(u);
        }
        pthread_mutex_destroy(&h->lock);
        free(h->script);
        free(h->recs);
        free(h->arena);
        free(h);
}

fg_test_httpd_t *fg_test_httpd_start_on(int port, char *errstr, size_t errstr_size) {
        fg_test_httpd_t *h = calloc(1, sizeof(*h));
        struct event_config *ecfg = NULL;
        struct evhttp_bound_socket *bound;
        struct sockaddr_in sin;
        socklen_t slen = sizeof(sin);
        sigset_t all, old;
        int rc;

        if (!h) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        pthread_mutex_init(&h->lock, NULL);
        h->dflt = (rule_t){200, 0, -1, 0};
        h->keep_log = true;
        if (port < 0 || port > 65535) {
                snprintf(errstr, errstr_size, "port %d out of range", port);
                goto init_error;
        }
        pthread_once(&evthread_once, evthread_setup);
        if (evthread_rc != 0) {
                snprintf(errstr, errstr_size, "evthread_use_pthreads failed");
                goto init_error;
        }
        /* Precise timers: a coarse clock may fire a delay a tick early. */
        ecfg = event_config_new();
        if (ecfg)
                event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER);
        h->base = ecfg ? event_base_new_with_config(ecfg) : NULL;
        if (ecfg)
                event_config_free(ecfg);
        if (h->base)
                h->http = evhttp_new(h->base);
        if (h->http)
                h->stop_ev = event_new(h->base, -1, 0, on_stop, h);
        if (!h->stop_ev) {
                snprintf(errstr, errstr_size, "cannot create the event base or the server");
                goto init_error;
        }
        evhttp_set_timeout(h->http, IDLE_TIMEOUT_S);
        evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                                    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                                    EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
        evhttp_set_gencb(h->http, on_request, h);
        evhttp_set_bevcb(h->http, on_accept, h);
        bound = evhttp_bind_socket_with_handle(h->http, "127.0.0.1", (uint16_t)port);
        if (!bound) {
                snprintf(errstr, errstr_size, "cannot bind 127.0.0.1:%d", port);
                goto init_error;
        }
        if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sin, &slen) != 0) {
                snprintf(errstr, errstr_size, "getsockname failed");
                goto init_error;
        }
        h->port = ntohs(sin.sin_port);

        /* The thread starts with every asynchronous signal blocked (see
         * httpd.h); faults stay deliverable for the sanitizers. */
        sigfillset(&all);
        sigdelset(&all, SIGSEGV);
        sigdelset(&all, SIGBUS);
        sigdelset(&all, SIGFPE);
        sigdelset(&all, SIGILL);
        sigdelset(&all, SIGABRT);
        sigdelset(&all, SIGTRAP);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        rc = pthread_create(&h->thread, NULL, server_main, h);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0) {
                snprintf(errstr, errstr_size, "pthread_create: %s", strerror(rc));
                goto init_error;
        }
        return h;

init_error:
        teardown(h);
        return NULL;
}

fg_test_httpd_t *fg_test_httpd_start(void) {
        char errstr[256] = "";
        fg_test_httpd_t *h = fg_test_httpd_start_on(0, errstr, sizeof(errstr));

        if (!h)
                fprintf(stderr, "fg_test_httpd_start: %s\n", errstr);
        return h;
}

void fg_test_httpd_stop(fg_test_httpd_t *h) {
        if (!h)
                return;
        /* An active event survives until the loop runs, unlike a loopbreak
         * issued before dispatch starts (the loop clears that flag). */
        event_active(h->stop_ev, EV_READ, 0);
        pthread_join(h->thread, NULL);
        teardown(h);
}

int fg_test_httpd_port(const fg_test_httpd_t *h) { return h->port; }

const char *fg_test_httpd_url(fg_test_httpd_t *h, const char *path) {
        const char *slash;
        url_t *u;
        int n;

        if (!path)
                path = "/";
        slash = path[0] == '/' ? "" : "/";
        n = snprintf(NULL, 0, "http://127.0.0.1:%d%s%s", h->port, slash, path);
        u = malloc(sizeof(*u) + (size_t)n + 1);
        if (!u)
                return NULL;
        snprintf(u->s, (size_t)n + 1, "http://127.0.0.1:%d%s%s", h->port, slash, path);
        pthread_mutex_lock(&h->lock);
        u->next = h->urls;
        h->urls = u;
        pthread_mutex_unlock(&h->lock);
        return u->s;
}

/* ---- scripting ---- */

void fg_test_httpd_default(fg_test_httpd_t *h, int status, int delay_ms, int retry_after_s) {
        assert(valid_status(status) && delay_ms >= 0);
        pthread_mutex_lock(&h->lock);
        h->dflt = (rule_t){status, delay_ms, retry_after_s, 0};
        pthread_mutex_unlock(&h->lock);
}

/* Appends @p r to the script. Lock held. */
static void script_push(fg_test_httpd_t *h, rule_t r) {
        if (h->script_len == h->script_cap && h->script_head > 0) {
                memmove(h->script, h->script + h->script_head,
                        (h->script_len - h->script_head) * sizeof(*h->script));
                h->script_len -= h->script_head;
                h->script_head = 0;
        }
        if (grow((void **)&h->script, &h->script_cap, h->script_len + 1, sizeof(*h->script)))
                h->script[h->script_len++] = r;
        else
                fprintf(stderr, "httpd: out of memory, script entry lost\n");
}

void fg_test_httpd_script(fg_test_httpd_t *h, int status, int delay_ms, int retry_after_s) {
        assert((valid_status(status) || status == FG_TEST_HTTPD_DROP ||
                status == FG_TEST_HTTPD_HANG) && delay_ms >= 0);
        pthread_mutex_lock(&h->lock);
        script_push(h, (rule_t){status, delay_ms, retry_after_s, 0});
        pthread_mutex_unlock(&h->lock);
}

void fg_test_httpd_script_raw(fg_test_httpd_t *h, const fg_test_httpd_raw_t *raw) {
        fg_test_httpd_raw_t copy = *raw;

        assert(raw->head && raw->trickle_ms >= 0);
        copy.head = strdup(raw->head);
        copy.fill = raw->fill ? strdup(raw->fill) : NULL;
        pthread_mutex_lock(&h->lock);
        if (!copy.head || (raw->fill && !copy.fill) ||
            !grow((void **)&h->raws, &h->raws_cap, h->nraws + 1, sizeof(*h->raws))) {
                fprintf(stderr, "httpd: out of memory, RAW entry lost\n");
                free((char *)copy.head);
                free((char *)copy.fill);
                pthread_mutex_unlock(&h->lock);
                return;
        }
        h->raws[h->nraws] = copy;
        script_push(h, (rule_t){FG_TEST_HTTPD_RAW, 0, -1, h->nraws++});
        pthread_mutex_unlock(&h->lock);
}

void fg_test_httpd_fail_for(fg_test_httpd_t *h, int status, int duration_ms) {
        assert(valid_status(status) && duration_ms >= 0);
        pthread_mutex_lock(&h->lock);
        h->fail_status = status;
        h->fail_until_ns = fg_mono_ns() + (int64_t)duration_ms * FG_NS_PER_MS;
        pthread_mutex_unlock(&h->lock);
}

void fg_test_httpd_latency(fg_test_httpd_t *h, int delay_ms) {
        assert(delay_ms >= 0);
        pthread_mutex_lock(&h->lock);
        h->latency_ms = delay_ms;
        pthread_mutex_unlock(&h->lock);
}

void fg_test_httpd_max_concurrency(fg_test_httpd_t *h, int n, int status) {
        assert(n >= 0 && (n == 0 || valid_status(status)));
        pthread_mutex_lock(&h->lock);
        h->limit = n;
        h->limit_status = status;
        pthread_mutex_unlock(&h->lock);
}

void fg_test_httpd_keep_log(fg_test_httpd_t *h, bool on) {
        pthread_mutex_lock(&h->lock);
        h->keep_log = on;
        pthread_mutex_unlock(&h->lock);
}

/* ---- observation ---- */

void fg_test_httpd_stats(fg_test_httpd_t *h, fg_test_httpd_stats_t *st) {
        pthread_mutex_lock(&h->lock);
        *st = h->st;
        st->script_left = (int64_t)(h->script_len - h->script_head);
        pthread_mutex_unlock(&h->lock);
}

int64_t fg_test_httpd_answered(fg_test_httpd_t *h, int status) {
        int64_t n;

        if (status < 0 || status >= STATUS_LIMIT)
                return 0;
        pthread_mutex_lock(&h->lock);
        n = h->answered[status];
        pthread_mutex_unlock(&h->lock);
        return n;
}

void fg_test_httpd_clear(fg_test_httpd_t *h) {
        pthread_mutex_lock(&h->lock);
        h->nrecs = 0;
        h->arena_len = 0;
        memset(h->answered, 0, sizeof(h->answered));
        h->st = (fg_test_httpd_stats_t){.inflight = h->st.inflight,
                                        .peak_inflight = h->st.inflight};
        pthread_mutex_unlock(&h->lock);
}

const char *fg_test_httpd_header(const fg_test_httpd_req_t *req, const char *name) {
        const char *p = req->headers_;

        while (*p) {
                const char *value = p + strlen(p) + 1;
                if (!strcasecmp(p, name))
                        return value;
                p = value + strlen(value) + 1;
        }
        return NULL;
}

fg_test_httpd_log_t *fg_test_httpd_snapshot(fg_test_httpd_t *h, size_t from) {
        fg_test_httpd_log_t *log = calloc(1, sizeof(*log));
        size_t start, len;

        if (!log)
                return NULL;
        pthread_mutex_lock(&h->lock);
        if (from < h->nrecs) {
                start = h->recs[from].off;
                len = h->arena_len - start;
                log->n = h->nrecs - from;
                log->reqs = calloc(log->n, sizeof(*log->reqs));
                log->arena_ = malloc(len);
                if (log->reqs && log->arena_) {
                        memcpy(log->arena_, h->arena + start, len);
                        for (size_t i = 0; i < log->n; i++) {
                                const rec_t *r = &h->recs[from + i];
                                fg_test_httpd_req_t *q = &log->reqs[i];
                                q->method = log->arena_ + (r->off - start);
                                q->uri = q->method + strlen(q->method) + 1;
                                q->headers_ = q->uri + strlen(q->uri) + 1;
                                q->body = log->arena_ + (r->body_off - start);
                                q->body_len = r->body_len;
                                q->status = r->status;
                                q->peer_port = r->peer_port;
                                q->arrival_ns = r->arrival_ns;
                        }
                }
        }
        pthread_mutex_unlock(&h->lock);
        if (log->n && (!log->reqs || !log->arena_)) {
                fg_test_httpd_log_free(log);
                return NULL;
        }
        for (size_t i = 0; i < log->n; i++)
                log->reqs[i].content_type = fg_test_httpd_header(&log->reqs[i], "Content-Type");
        return log;
}

void fg_test_httpd_log_free(fg_test_httpd_log_t *log) {
        if (!log)
                return;
        free(log->reqs);
        free(log->arena_);
        free(log);
}

/* ---- ids ---- */

typedef struct idscan {
        const char *prefix;
        size_t plen;
        int64_t count;
        uint32_t *times;
        fg_test_httpd_idcount_t ic;
} idscan_t;

/* seq of "<prefix>-<seq>", or -1. */
static int64_t parse_seq(const idscan_t *sc, const char *id, size_t len) {
        int64_t v = 0;
        size_t i = sc->plen + 1;

        if (len <= i || len - i > 18 || memcmp(id, sc->prefix, sc->plen) || id[sc->plen] != '-')
                return -1;
        for (; i < len; i++) {
                if (id[i] < '0' || id[i] > '9')
                        return -1;
                v = v * 10 + (id[i] - '0');
        }
        return v;
}

/* The object's "id" string, else the first one in nested objects. */
static json_t *find_id(json_t *obj, int depth) {
        json_t *v = json_object_get(obj, "id");
        const char *key;

        if (json_is_string(v))
                return v;
        if (depth >= 8)
                return NULL;
        json_object_foreach (obj, key, v) {
                json_t *id = json_is_object(v) ? find_id(v, depth + 1) : NULL;
                if (id)
                        return id;
        }
        return NULL;
}

static void scan_object(idscan_t *sc, json_t *obj) {
        json_t *id = find_id(obj, 0);
        int64_t seq = id ? parse_seq(sc, json_string_value(id), json_string_length(id)) : -1;

        sc->ic.objects++;
        if (seq < 0 || seq >= sc->count) {
                sc->ic.foreign++;
                return;
        }
        sc->ic.matched++;
        if (sc->times[seq]++ == 0)
                sc->ic.distinct++;
}

/* One JSON text; false if it does not parse. */
static bool scan_json(idscan_t *sc, const char *p, size_t len) {
        json_t *j = json_loadb(p, len, 0, NULL);
        size_t i;
        json_t *v;

        if (!j)
                return false;
        if (json_is_object(j)) {
                scan_object(sc, j);
        } else {
                json_array_foreach (j, i, v) {
                        if (json_is_object(v))
                                scan_object(sc, v);
                        else
                                sc->ic.foreign++;
                }
        }
        json_decref(j);
        return true;
}

static bool blank(const char *p, size_t len) {
        for (size_t i = 0; i < len; i++)
                if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
                        return false;
        return true;
}

static void scan_body(idscan_t *sc, const char *p, size_t len) {
        const char *end = p + len;

        if (blank(p, len) || scan_json(sc, p, len))
                return;
        while (p < end) { /* NDJSON, or garbage */
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
                if (!blank(p, l) && !scan_json(sc, p, l))
                        sc->ic.unparsed++;
                p += l + 1;
        }
}

size_t fg_test_httpd_ids(fg_test_httpd_t *h, const char *prefix, int64_t count, uint32_t *times,
                         fg_test_httpd_idcount_t *ic) {
        fg_test_httpd_log_t *log = fg_test_httpd_snapshot(h, 0);
        idscan_t sc = {.prefix = prefix, .plen = strlen(prefix), .count = count > 0 ? count : 0};

        sc.times = times ? times : calloc(sc.count ? (size_t)sc.count : 1, sizeof(*sc.times));
        if (times && sc.count)
                memset(times, 0, (size_t)sc.count * sizeof(*times));
        if (log && sc.times) {
                for (size_t i = 0; i < log->n; i++)
                        if (log->reqs[i].status >= 200 && log->reqs[i].status < 300)
                                scan_body(&sc, log->reqs[i].body, log->reqs[i].body_len);
        } else {
                fprintf(stderr, "httpd: out of memory counting ids\n");
        }
        sc.ic.dups = sc.ic.matched - sc.ic.distinct;
        if (ic)
                *ic = sc.ic;
        if (!times)
                free(sc.times);
        fg_test_httpd_log_free(log);
        return (size_t)sc.ic.distinct;
}

typedef struct ids_wait {
        fg_test_httpd_t *h;
        const char *prefix;
        int64_t count, want;
} ids_wait_t;

static bool ids_reached(void *opaque) {
        ids_wait_t *w = opaque;
        return (int64_t)fg_test_httpd_ids(w->h, w->prefix, w->count, NULL, NULL) >= w->want;
}

bool fg_test_httpd_wait_ids(fg_test_httpd_t *h, const char *prefix, int64_t count, int64_t want,
                            int timeout_ms) {
        ids_wait_t w = {h, prefix, count, want};
        return fg_test_wait(ids_reached, &w, timeout_ms);
}
