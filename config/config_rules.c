/*
 * config_rules: the rules that relate options to each other (a TLS file
 * only with https, a watermark below the other, a route's unique name...),
 * checked after the values themselves (config_table.c) are in.
 *
 * Each rule names the options it reads, so a message points at the first
 * of them that is set (file:line:col) and check-config can list them.
 *
 * Threading: constant data and pure functions, any thread (the file
 * checks stat the paths they name).
 */
#include "config/config_int.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/hostport.h"
#include "common/redact.h"
#include "sinks/http_auth.h"
#include "sinks/http_tls.h"

#define OFF(field) offsetof(fg_config_t, field)

/* ---- rules across options ----
 *
 * Each rule gets the whole config and the section it checks (@p sect:
 * the config itself for root rules; the top-level section or one of its
 * copies for section rules), and names options as @p shown does. */

static int check_watermarks(const fg_config_t *cfg, const void *sect, const char *shown,
                            char *msg, size_t msg_size) {
        if (cfg->queue.low_watermark < cfg->queue.high_watermark)
                return 0;
        snprintf(msg, msg_size, "queue.low_watermark (%g) must be below queue.high_watermark (%g)",
                 cfg->queue.low_watermark, cfg->queue.high_watermark);
        return -1;
}

static int check_sink_path(const fg_config_t *cfg, const void *sect, const char *shown,
                           char *msg, size_t msg_size) {
        const fg_sink_cfg_t *sc = sect;

        if (sc->type != FG_SINK_FILE || sc->path)
                return 0;
        snprintf(msg, msg_size, "%s.type 'file' needs %s.path", shown, shown);
        return -1;
}

static int check_sink_needs(const fg_config_t *cfg, const void *sect, const char *shown,
                            char *msg, size_t msg_size) {
        const fg_sink_cfg_t *sc = sect;

        if (sc->type == FG_SINK_HTTP && !sc->url)
                snprintf(msg, msg_size, "%s.type 'http' needs %s.url", shown, shown);
        else if (sc->type == FG_SINK_KAFKA && !sc->topic)
                snprintf(msg, msg_size, "%s.type 'kafka' needs %s.topic", shown, shown);
        else if (sc->type == FG_SINK_PLUGIN && !sc->plugin_path)
                snprintf(msg, msg_size, "%s.type 'plugin' needs %s.plugin.path", shown, shown);
        else
                return 0;
        return -1;
}

/* Values quoted in messages go through fg_config_quote: a line break or
 * escape sequence in a value must not break the one-line message format. */
static int check_url(const fg_config_t *cfg, const void *sect, const char *shown, char *msg,
                     size_t msg_size) {
        const fg_sink_cfg_t *sc = sect;
        char qbuf[128];

        if (!sc->url)
                return 0;
        if (strncasecmp(sc->url, "http://", 7) && strncasecmp(sc->url, "https://", 8))
                snprintf(msg, msg_size, "%s.url '%s': only http:// and https:// URLs are supported",
                         shown, fg_config_quote(sc->url, strlen(sc->url), 60, qbuf, sizeof(qbuf)));
        else if (fg_redact_has_url_userinfo(sc->url))
                snprintf(msg, msg_size,
                         "%s.url '%s': credentials in the URL are not supported; use %s.auth",
                         shown, fg_config_quote(sc->url, strlen(sc->url), 60, qbuf, sizeof(qbuf)),
                         shown);
        else
                return 0;
        return -1;
}

static bool is_https_sink(const fg_sink_cfg_t *sc) {
        return sc->type == FG_SINK_HTTP && sc->url && !strncasecmp(sc->url, "https://", 8);
}

static bool has_header(const fg_sink_cfg_t *sc, const char *name) {
        for (size_t i = 0; i < sc->headers.n; i++)
                if (!strcasecmp(sc->headers.keys[i], name))
                        return true;
        return false;
}

static int check_tls_scheme(const fg_config_t *cfg, const void *sect, const char *shown,
                            char *msg, size_t msg_size) {
        const fg_sink_cfg_t *sc = sect;
        const fg_tls_cfg_t *t = &sc->tls;

        if (is_https_sink(sc) || (!t->ca_file && !t->cert_file && !t->key_file &&
                                  !t->server_name && t->min_version == FG_TLS_1_2 &&
                                  t->verify && !t->insecure_skip_verify))
                return 0;
        snprintf(msg, msg_size, "%s.tls applies to an http sink with an https:// %s.url", shown,
                 shown);
        return -1;
}

static int check_tls_verify(const fg_config_t *cfg, const void *sect, const char *shown,
                            char *msg, size_t msg_size) {
        const fg_tls_cfg_t *t = &((const fg_sink_cfg_t *)sect)->tls;

        if (!t->verify && !t->insecure_skip_verify)
                snprintf(msg, msg_size, "%s.tls.verify: false needs %s.tls.insecure_skip_verify: "
                                        "true (the server's certificate and name would go unchecked)",
                         shown, shown);
        else if (t->verify && t->insecure_skip_verify)
                snprintf(msg, msg_size, "%s.tls.insecure_skip_verify: true goes with "
                                        "%s.tls.verify: false (it is the consent to it)",
                         shown, shown);
        else
                return 0;
        return -1;
}

static int check_tls_pair(const fg_config_t *cfg, const void *sect, const char *shown, char *msg,
                          size_t msg_size) {
        const fg_tls_cfg_t *t = &((const fg_sink_cfg_t *)sect)->tls;

        if (!t->cert_file == !t->key_file)
                return 0;
        snprintf(msg, msg_size, "%s.tls.cert_file and %s.tls.key_file go together", shown, shown);
        return -1;
}

/* "<shown>.<opt> '<path>': <what is wrong>", or 0 when rc is 0. */
static int file_problem(int rc, const char *shown, const char *opt, const char *path,
                        const char *why, char *msg, size_t msg_size) {
        char qbuf[128];

        if (rc == 0)
                return 0;
        snprintf(msg, msg_size, "%s.%s '%s': %s", shown, opt,
                 fg_config_quote(path, strlen(path), 60, qbuf, sizeof(qbuf)), why);
        return -1;
}

/* The files are read now, so check-config catches what the daemon would
 * refuse at start. */
static int check_tls_ca(const fg_config_t *cfg, const void *sect, const char *shown, char *msg,
                        size_t msg_size) {
        const char *path = ((const fg_sink_cfg_t *)sect)->tls.ca_file;
        char why[256];

        return path ? file_problem(fg_http_tls_check_ca(path, why, sizeof(why)), shown,
                                   "tls.ca_file", path, why, msg, msg_size)
                    : 0;
}

static int check_tls_cert(const fg_config_t *cfg, const void *sect, const char *shown, char *msg,
                          size_t msg_size) {
        const char *path = ((const fg_sink_cfg_t *)sect)->tls.cert_file;
        char why[256];

        return path ? file_problem(fg_http_tls_check_cert(path, why, sizeof(why)), shown,
                                   "tls.cert_file", path, why, msg, msg_size)
                    : 0;
}

static int check_tls_key(const fg_config_t *cfg, const void *sect, const char *shown, char *msg,
                         size_t msg_size) {
        const fg_tls_cfg_t *t = &((const fg_sink_cfg_t *)sect)->tls;
        char why[256];

        return t->cert_file && t->key_file
                   ? file_problem(fg_http_tls_check_key(t->cert_file, t->key_file, why, sizeof(why)),
                                  shown, "tls.key_file", t->key_file, why, msg, msg_size)
                   : 0;
}

static int check_auth(const fg_config_t *cfg, const void *sect, const char *shown, char *msg,
                      size_t msg_size) {
        const fg_sink_cfg_t *sc = sect;
        const fg_http_auth_cfg_t *a = &sc->auth;
        int kinds = (a->basic_user || a->basic_password) + (a->bearer_token != NULL) +
                    (a->bearer_token_file != NULL);

        if (!kinds)
                return 0;
        if (sc->type != FG_SINK_HTTP)
                snprintf(msg, msg_size, "%s.auth applies to the http sink", shown);
        else if (kinds > 1)
                snprintf(msg, msg_size,
                         "%s.auth takes one of basic, bearer_token and bearer_token_file", shown);
        else if (!a->basic_user != !a->basic_password)
                snprintf(msg, msg_size, "%s.auth.basic needs both user and password", shown);
        else if (has_header(sc, "Authorization"))
                snprintf(msg, msg_size, "%s.auth and an Authorization header in %s.headers: set one",
                         shown, shown);
        else
                return 0;
        return -1;
}

/* Credentials are described, never quoted. */
static int check_auth_values(const fg_config_t *cfg, const void *sect, const char *shown,
                             char *msg, size_t msg_size) {
        const fg_http_auth_cfg_t *a = &((const fg_sink_cfg_t *)sect)->auth;
        const char *opt = NULL;
        char why[160];

        if (a->basic_user && fg_http_auth_check_user(a->basic_user, why, sizeof(why)))
                opt = "auth.basic.user";
        else if (a->basic_password && fg_http_auth_check_password(a->basic_password, why, sizeof(why)))
                opt = "auth.basic.password";
        else if (a->bearer_token && fg_http_auth_check_token(a->bearer_token, why, sizeof(why)))
                opt = "auth.bearer_token";
        if (!opt)
                return 0;
        snprintf(msg, msg_size, "%s.%s: %s", shown, opt, why);
        return -1;
}

static int check_token_file(const fg_config_t *cfg, const void *sect, const char *shown,
                            char *msg, size_t msg_size) {
        const char *path = ((const fg_sink_cfg_t *)sect)->auth.bearer_token_file;
        char why[160];

        return path ? file_problem(fg_http_auth_check_token_file(path, why, sizeof(why)), shown,
                                   "auth.bearer_token_file", path, why, msg, msg_size)
                    : 0;
}

static int check_compression(const fg_config_t *cfg, const void *sect, const char *shown,
                             char *msg, size_t msg_size) {
        const fg_sink_cfg_t *sc = sect;

        if (sc->compression == FG_HTTP_COMPRESS_NONE)
                return 0;
        if (sc->type != FG_SINK_HTTP)
                snprintf(msg, msg_size, "%s.compression applies to the http sink", shown);
        else if (has_header(sc, "Content-Encoding"))
                snprintf(msg, msg_size, "%s.compression: gzip sets Content-Encoding itself; "
                                        "remove it from %s.headers",
                         shown, shown);
        else
                return 0;
        return -1;
}

static int check_backoff(const fg_config_t *cfg, const void *sect, const char *shown, char *msg,
                         size_t msg_size) {
        const fg_sink_cfg_t *sc = sect;

        if (sc->retry.initial_backoff_ns <= sc->retry.max_backoff_ns)
                return 0;
        snprintf(msg, msg_size, "%s.retry.initial_backoff must not exceed %s.retry.max_backoff",
                 shown, shown);
        return -1;
}

/* "a.b.c": no empty segments. */
static bool dotted_path_ok(const char *p) {
        size_t n = strlen(p);
        return n && p[0] != '.' && p[n - 1] != '.' && !strstr(p, "..");
}

static int check_filter(const fg_config_t *cfg, const void *sect, const char *shown, char *msg,
                        size_t msg_size) {
        const fg_filter_cfg_t *fc = sect;
        int kinds = (fc->equals != NULL) + fc->exists + (fc->contains_any.n > 0);

        if (kinds > 1)
                snprintf(msg, msg_size, "%s takes one of equals, exists, contains_any", shown);
        else if (cfg->handler.mode == FG_HANDLER_RAW && (fc->field || fc->equals || fc->exists))
                snprintf(msg, msg_size, "handler.mode 'raw' filters only with contains_any over the "
                                        "whole payload (no field, equals or exists)");
        else if (cfg->handler.mode == FG_HANDLER_JSON && kinds && !fc->field)
                snprintf(msg, msg_size, "%s needs field", shown);
        else if (cfg->handler.mode == FG_HANDLER_JSON && fc->field && !kinds)
                snprintf(msg, msg_size, "%s.field needs equals, exists or contains_any", shown);
        else
                return 0;
        return -1;
}

static int check_filter_path(const fg_config_t *cfg, const void *sect, const char *shown,
                             char *msg, size_t msg_size) {
        const fg_filter_cfg_t *fc = sect;
        char qbuf[128];

        if (!fc->field || dotted_path_ok(fc->field))
                return 0;
        snprintf(msg, msg_size, "%s.field '%s': empty segment in dotted path", shown,
                 fg_config_quote(fc->field, strlen(fc->field), 60, qbuf, sizeof(qbuf)));
        return -1;
}

static int check_paths(const fg_config_t *cfg, const void *sect, const char *shown, char *msg,
                       size_t msg_size) {
        char qbuf[128];

        for (size_t i = 0; i < cfg->handler.drop.n; i++) {
                const char *drop = cfg->handler.drop.v[i];

                if (!dotted_path_ok(drop)) {
                        snprintf(msg, msg_size, "handler.drop '%s': empty segment in dotted path",
                                 fg_config_quote(drop, strlen(drop), 60, qbuf, sizeof(qbuf)));
                        return -1;
                }
        }
        for (size_t i = 0; i < cfg->handler.keep.n; i++) {
                const char *keep = cfg->handler.keep.v[i];

                if (strchr(keep, '.')) {
                        snprintf(msg, msg_size,
                                 "handler.keep '%s': keep takes top-level field names (drop takes "
                                 "dotted paths)",
                                 fg_config_quote(keep, strlen(keep), 60, qbuf, sizeof(qbuf)));
                        return -1;
                }
        }
        return 0;
}

static int check_shaping(const fg_config_t *cfg, const void *sect, const char *shown, char *msg,
                         size_t msg_size) {
        if (cfg->handler.mode != FG_HANDLER_RAW ||
            (!cfg->handler.add_metadata && !cfg->handler.keep.n && !cfg->handler.drop.n))
                return 0;
        snprintf(msg, msg_size, "handler.mode 'raw' passes bytes unchanged: add_metadata, keep and "
                                "drop need mode json");
        return -1;
}

static int check_dead_letter(const fg_config_t *cfg, const void *sect, const char *shown,
                             char *msg, size_t msg_size) {
        if (cfg->handler.on_invalid != FG_ON_INVALID_DEAD_LETTER || cfg->dead_letter.topic)
                return 0;
        snprintf(msg, msg_size, "handler.on_invalid 'dead_letter' needs dead_letter.topic");
        return -1;
}

static int check_breaker(const fg_config_t *cfg, const void *sect, const char *shown, char *msg,
                         size_t msg_size) {
        const fg_brk_cfg_t *bc = sect;

        if (bc->when_open == FG_BRK_WHEN_OPEN_DEAD_LETTER && !cfg->dead_letter.topic)
                snprintf(msg, msg_size, "%s.when_open 'dead_letter' needs dead_letter.topic", shown);
        else if (bc->open_max_ns < bc->open_ns)
                snprintf(msg, msg_size, "%s.open_max must not be below %s.open_duration", shown,
                         shown);
        else if (bc->window == FG_BRK_WINDOW_COUNT && bc->min_calls > bc->window_size)
                snprintf(msg, msg_size, "%s.min_calls (%lld) exceeds a count window of %lld calls: "
                                        "it could never trip",
                         shown, (long long)bc->min_calls, (long long)bc->window_size);
        else
                return 0;
        return -1;
}

/* Syntax and range here; whether the host resolves is fg_config_probe's. */
static int check_listen(const fg_config_t *cfg, const void *sect, const char *shown, char *msg,
                        size_t msg_size) {
        const char *l = cfg->metrics.listen;
        fg_hostport_t hp;
        char why[128], qbuf[128];

        if (!l || !strcmp(l, "off") || fg_hostport_parse(l, &hp, why, sizeof(why)) == 0)
                return 0;
        snprintf(msg, msg_size, "metrics.listen '%s': %s (\"host:port\" or \"off\")",
                 fg_config_quote(l, strlen(l), 60, qbuf, sizeof(qbuf)), why);
        return -1;
}

static int check_park_key(const fg_config_t *cfg, const void *sect, const char *shown,
                          char *msg, size_t msg_size) {
        if (!cfg->dead_letter.park_key)
                return 0;
        if (!cfg->dead_letter.topic)
                snprintf(msg, msg_size, "dead_letter.park_key needs dead_letter.topic");
        else if (cfg->workers.ordering == FG_ORDER_NONE)
                snprintf(msg, msg_size, "dead_letter.park_key needs workers.ordering 'key' or "
                                        "'partition' (with 'none' a key's events overtake each "
                                        "other, so parking cannot keep their order)");
        else
                return 0;
        return -1;
}

static int check_workers(const fg_config_t *cfg, const void *sect, const char *shown, char *msg,
                         size_t msg_size) {
        if (cfg->workers.min <= cfg->workers.max)
                return 0;
        snprintf(msg, msg_size, "workers.min (%lld) must not exceed workers.max (%lld)",
                 (long long)cfg->workers.min, (long long)cfg->workers.max);
        return -1;
}

/* Route names label metrics and logs: they must be distinct. */
static int check_routes(const fg_config_t *cfg, const void *sect, const char *shown, char *msg,
                        size_t msg_size) {
        char qbuf[128];

        for (size_t i = 0; i < cfg->routes.n; i++)
                for (size_t k = 0; k < i; k++) {
                        const char *a = cfg->routes.v[i].name, *b = cfg->routes.v[k].name;
                        if (a && b && !strcmp(a, b)) {
                                snprintf(msg, msg_size, "routes[%zu].name '%s' is already the name "
                                                        "of routes[%zu]",
                                         i, fg_config_quote(a, strlen(a), 60, qbuf, sizeof(qbuf)),
                                         k);
                                return -1;
                        }
                }
        return 0;
}

#define ROOT(...)        {.section = "", .opts = {__VA_ARGS__, NULL}
#define OF(sect, ...)    {.section = #sect, .sect_off = OFF(sect), .opts = {__VA_ARGS__, NULL}

const fg_config_check_t fg_config_checks[] = {
    ROOT("queue.low_watermark", "queue.high_watermark"), .fn = check_watermarks},
    OF(sink, "sink.type", "sink.path"), .fn = check_sink_path},
    OF(sink, "sink.type", "sink.url", "sink.topic", "sink.plugin.path"), .fn = check_sink_needs},
    OF(sink, "sink.url"), .fn = check_url},
    OF(sink, "sink.tls.ca_file", "sink.tls.cert_file", "sink.tls.key_file", "sink.tls.server_name",
       "sink.url"), .fn = check_tls_scheme},
    OF(sink, "sink.tls.verify", "sink.tls.insecure_skip_verify"), .fn = check_tls_verify},
    OF(sink, "sink.tls.cert_file", "sink.tls.key_file"), .fn = check_tls_pair},
    OF(sink, "sink.tls.ca_file"), .fn = check_tls_ca},
    OF(sink, "sink.tls.cert_file"), .fn = check_tls_cert},
    OF(sink, "sink.tls.key_file", "sink.tls.cert_file"), .fn = check_tls_key},
    OF(sink, "sink.auth.basic.user", "sink.auth.basic.password", "sink.auth.bearer_token",
       "sink.auth.bearer_token_file"), .fn = check_auth},
    OF(sink, "sink.auth.basic.user", "sink.auth.basic.password", "sink.auth.bearer_token"),
       .fn = check_auth_values},
    OF(sink, "sink.auth.bearer_token_file"), .fn = check_token_file},
    OF(sink, "sink.compression"), .fn = check_compression},
    OF(sink, "sink.retry.initial_backoff", "sink.retry.max_backoff"), .fn = check_backoff},
    {.section = "handler.filter", .sect_off = OFF(handler.filter),
     .opts = {"handler.filter.field", "handler.mode", "handler.filter.equals", NULL},
     .fn = check_filter},
    {.section = "handler.filter", .sect_off = OFF(handler.filter),
     .opts = {"handler.filter.field", NULL}, .fn = check_filter_path},
    ROOT("handler.mode", "handler.add_metadata"), .fn = check_shaping},
    ROOT("handler.drop", "handler.keep"), .fn = check_paths},
    ROOT("handler.on_invalid", "dead_letter.topic"), .fn = check_dead_letter},
    OF(breaker, "breaker.when_open", "breaker.open_max", "breaker.min_calls"), .fn = check_breaker},
    ROOT("workers.min", "workers.max"), .fn = check_workers},
    ROOT("metrics.listen"), .fn = check_listen},
    ROOT("routes"), .fn = check_routes},
    ROOT("dead_letter.park_key", "dead_letter.topic", "workers.ordering"), .fn = check_park_key},
};

#undef ROOT
#undef OF

const size_t fg_config_nchecks = sizeof(fg_config_checks) / sizeof(fg_config_checks[0]);
