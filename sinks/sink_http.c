/*
 * sink_http: events POSTed to an HTTP/1.1 endpoint (sink.type: http).
 *
 * DESIGN
 * create() parses sink.url once (http:// or https://) and freezes
 * everything a request needs: target, Host, headers, content type, batch
 * limits, timeouts, and for https the TLS context (http_tls.c); credentials
 * (http_auth.c) and gzip (http_gzip.c) when configured. Each worker's
 * connection (open) owns a private event_base, one keep-alive
 * evhttp_connection to the URL's host:port (over an OpenSSL bufferevent for
 * https), one deadline timer and, when the host is a name, its own
 * evdns_base, so that name lookups run inside the same loop and under the
 * same deadline as the TCP connect (and the TLS handshake). There is no
 * thread of our own: send() runs the loop on the calling worker until its
 * current request has an outcome, then sends the next. reopen (SIGHUP)
 * re-reads the TLS files and the bearer token file.
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
 * A status counts as soon as the response's headers are in: a body that
 * then overflows the caps, trickles or breaks off does not change it
 * (sink_http_request.c bounds what a response may cost).
 *   401, 403                                  REJECT, unless the bearer
 *                                             token file now holds another
 *                                             token: then sent once more
 * After a RETRY or BACKPRESSURE the rest of the call is not sent and gets
 * the same outcome: the downstream is unwell, and sending on would only
 * stack timeouts. A REJECT is about its own events only, so the call goes on.
 *
 * One request on a worker's connection (deadlines, the keep-alive race,
 * classification of what came back) is sink_http_request.c.
 *
 * Threading: create/destroy/reopen on the main thread; open/send/close on
 * one worker per connection. The shared state is immutable after create
 * (but for the TLS context and the token, which reopen replaces under their
 * own locks: http_tls.h, http_auth.h); each event_base, evdns_base and
 * evhttp_connection is used by its worker only (the base is created without
 * a lock).
 * Ownership: the connection owns its libevent objects, its body buffer and
 * the reasons of its last send (valid until its next send).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/redact.h"
#include "common/log.h"
#include "common/url.h"
#include "sinks/sink_http_int.h"

#define HTTP_DEFAULT_PORT 80
#define HTTPS_DEFAULT_PORT 443
#define DEFAULT_CONNECT_TIMEOUT_NS (2 * FG_NS_PER_S)
#define DEFAULT_TIMEOUT_NS (10 * FG_NS_PER_S)
#define Z_DEFAULT_LEVEL 6 /* zlib's own default */

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
        fg_http_tls_free(sh->tls);
        fg_http_auth_free(sh->auth);
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

/* Fills host, port, target, host_hdr, addr and numeric from sink.url, and
 * *https. */
static bool parse_url(http_shared_t *sh, const char *raw, bool *https, char *errstr,
                      size_t errstr_size) {
        fg_url_t url = {0};
        char why[128], text[1024];
        bool ok = false;
        int port, dflt, n;

        /* Messages show the URL without its user-info. */
        fg_redact_urls(raw, text, sizeof(text));
        if (fg_url_parse(raw, &url, why, sizeof(why))) {
                snprintf(errstr, errstr_size, "sink.url '%s': %s", text, why);
                return false;
        }
        *https = !strcmp(url.scheme, "https");
        if (strcmp(url.scheme, "http") && !*https) {
                snprintf(errstr, errstr_size,
                         "sink.url '%s': only http:// and https:// URLs are supported", text);
                goto out;
        }
        if (url.userinfo) {
                snprintf(errstr, errstr_size,
                         "sink.url '%s': credentials in the URL are not supported; use sink.auth",
                         text);
                goto out;
        }
        dflt = *https ? HTTPS_DEFAULT_PORT : HTTP_DEFAULT_PORT;
        port = url.port < 0 ? dflt : url.port;
        sh->port = (uint16_t)port;
        sh->numeric = url.numeric;
        /* An IPv6 literal keeps its brackets in Host and in messages, not
         * for connecting. */
        sh->host = url.host;
        url.host = NULL;
        n = asprintf(&sh->target, "%s%s%s", *url.path ? url.path : "/", url.query ? "?" : "",
                     url.query ? url.query : "");
        if (n >= 0)
                n = port == dflt ? asprintf(&sh->host_hdr, "%s", url.host_text)
                                 : asprintf(&sh->host_hdr, "%s:%d", url.host_text, port);
        if (n >= 0)
                n = asprintf(&sh->addr, "%s:%d", url.host_text, port);
        if (n < 0) {
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        ok = true;
out:
        fg_url_free(&url);
        return ok;
}

static bool has_header(const fg_strmap_t *map, const char *name) {
        for (size_t i = 0; i < map->n; i++)
                if (!strcasecmp(map->keys[i], name))
                        return true;
        return false;
}

/* TLS for https://, credentials and compression: what sink.tls, sink.auth
 * and sink.compression ask for. */
static bool setup_extras(http_shared_t *sh, const fg_sink_cfg_t *sc, bool https, char *errstr,
                         size_t errstr_size) {
        bool auth = fg_http_auth_configured(&sc->auth);

        if (https && !sc->tls.verify && !sc->tls.insecure_skip_verify) {
                snprintf(errstr, errstr_size,
                         "sink.tls.verify: false needs sink.tls.insecure_skip_verify: true");
                return false;
        }
        if (auth && has_header(&sc->headers, "Authorization")) {
                snprintf(errstr, errstr_size,
                         "sink.headers sets Authorization and sink.auth is set: use one");
                return false;
        }
        if (sc->compression == FG_HTTP_COMPRESS_GZIP && has_header(&sc->headers, "Content-Encoding")) {
                snprintf(errstr, errstr_size,
                         "sink.headers sets Content-Encoding and sink.compression is gzip");
                return false;
        }
        if (https && !(sh->tls = fg_http_tls_new(&sc->tls, sh->host, sh->addr, errstr, errstr_size)))
                return false;
        if (auth && !(sh->auth = fg_http_auth_new(&sc->auth, errstr, errstr_size)))
                return false;
        if (auth && !https)
                fg_warn("http sink: sink.auth credentials go to %s unencrypted (http://)", sh->addr);
        if (sc->compression == FG_HTTP_COMPRESS_GZIP)
                sh->gzip_level = sc->compression_level >= 1 && sc->compression_level <= 9
                                     ? (int)sc->compression_level
                                     : Z_DEFAULT_LEVEL;
        return true;
}

static void *http_create(const fg_sink_cfg_t *sc, const fg_sink_env_t *env, char *errstr,
                         size_t errstr_size) {
        http_shared_t *sh = calloc(1, sizeof(*sh));
        bool https = false;
        int64_t connect_ns = sc->connect_timeout_ns > 0 ? sc->connect_timeout_ns
                                                              : DEFAULT_CONNECT_TIMEOUT_NS;
        int64_t timeout_ns = sc->timeout_ns > 0 ? sc->timeout_ns : DEFAULT_TIMEOUT_NS;

        if (!sh) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        if (!sc->url) {
                snprintf(errstr, errstr_size, "the http sink needs sink.url");
                goto init_error;
        }
        if (!parse_url(sh, sc->url, &https, errstr, errstr_size) ||
            !copy_headers(sh, &sc->headers, errstr, errstr_size) ||
            !setup_extras(sh, sc, https, errstr, errstr_size))
                goto init_error;
        sh->format = sc->format;
        sh->content_type = sh->format == FG_HTTP_NDJSON ? "application/x-ndjson"
                                                        : "application/json";
        sh->max_msgs = sc->batch_max_messages > 0 ? (size_t)sc->batch_max_messages
                                                        : SIZE_MAX;
        sh->max_bytes = sc->batch_max_bytes > 0 ? (size_t)sc->batch_max_bytes
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

/* What create refuses in sink.url and sink.headers, without the resolver. */
static int http_check(const fg_sink_cfg_t *sc, const char **opt, char *errstr,
                      size_t errstr_size) {
        http_shared_t *sh = calloc(1, sizeof(*sh));
        bool https;
        int rc = -1;

        *opt = "sink.url";
        if (!sh)
                snprintf(errstr, errstr_size, "out of memory");
        else if (!sc->url)
                snprintf(errstr, errstr_size, "the http sink needs sink.url");
        else if (parse_url(sh, sc->url, &https, errstr, errstr_size))
                rc = copy_headers(sh, &sc->headers, errstr, errstr_size) ? 0 : -1;
        if (rc && sc->url && sh && sh->addr)
                *opt = "sink.headers";
        http_destroy(sh);
        return rc;
}

/* ---- open / close (worker) ---- */

static void http_close(void *opaque) {
        http_conn_t *c = opaque;

        if (!c)
                return;
        fg_http_conn_reset(c);
        fg_http_tls_conn_free(c->tls); /* after the SSL that points to it */
        fg_http_gzip_free(c->gz);
        fg_http_auth_copy_free(&c->auth);
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
        if ((c->sh->tls && !(c->tls = fg_http_tls_conn_new(c->sh->tls))) ||
            (c->sh->gzip_level && !(c->gz = fg_http_gzip_new(c->sh->gzip_level)))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto init_error;
        }
        c->timer = evtimer_new(c->base, fg_http_on_timer, c);
        if (!c->timer || !fg_http_conn_new(c)) {
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
                        o = fg_http_request(c, evs[i].value, evs[i].len);
                } else {
                        build_body(c, evs + i, k);
                        o = fg_http_request(c, c->body.p, c->body.len);
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

/* SIGHUP: rotated certificates, keys and tokens. Main thread. */
static void http_reopen(void *opaque) {
        http_shared_t *sh = opaque;

        if (sh->tls)
                fg_http_tls_reload(sh->tls);
        if (sh->auth)
                fg_http_auth_reload(sh->auth);
}

static void http_stats(void *opaque, fg_sink_stats_t *out) {
        const http_shared_t *sh = opaque;

        if (sh->tls)
                fg_http_tls_stats(sh->tls, out);
}

const fg_sink_class_t fg_sink_http_class = {
    .name = "http",
    .create = http_create,
    .destroy = http_destroy,
    .open = http_open,
    .close = http_close,
    .send = http_send,
    .batch_hint = http_batch_hint,
    .check = http_check,
    .reopen = http_reopen,
    .stats = http_stats,
};
