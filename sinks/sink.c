/*
 * sink: the registry of sink classes and the thin dispatch wrappers
 * (see sink.h for the contract).
 */
#include "sinks/sink.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/clock.h"
#include "common/ratelim.h"

struct fg_sink {
        const fg_sink_class_t *cls;
        void *shared;
        fg_retry_cfg_t retry;
        int64_t batch_wait_ns;
        fg_framing_t framing;
        fg_ratelim_t *rate;     /* sink.rate_limit; NULL = no cap */
};

struct fg_sink_conn {
        fg_sink_t *sink;
        void *conn;
};

static fg_framing_t framing_of(const fg_sink_cfg_t *sc) {
        switch (sc->type) {
        case FG_SINK_STDOUT:
        case FG_SINK_FILE:
                return FG_FRAMING_LINES;
        case FG_SINK_HTTP:
                return sc->format == FG_HTTP_NDJSON       ? FG_FRAMING_LINES
                       : sc->format == FG_HTTP_JSON_ARRAY ? FG_FRAMING_JSON_ARRAY
                                                          : FG_FRAMING_NONE;
        default:
                return FG_FRAMING_NONE;
        }
}

static const fg_sink_class_t *class_of(fg_sink_type_t type) {
        switch (type) {
        case FG_SINK_STDOUT: return &fg_sink_stdout_class;
        case FG_SINK_FILE:   return &fg_sink_file_class;
        case FG_SINK_NULL:   return &fg_sink_null_class;
        case FG_SINK_HTTP:   return &fg_sink_http_class;
        case FG_SINK_KAFKA:  return &fg_sink_kafka_class;
        case FG_SINK_PLUGIN: return &fg_sink_plugin_class;
        }
        return NULL;
}

int fg_sink_check(const fg_sink_cfg_t *sc, const char **opt, char *errstr, size_t errstr_size) {
        const fg_sink_class_t *cls = class_of(sc->type);

        *opt = "sink.type";
        if (!cls) {
                snprintf(errstr, errstr_size, "unknown sink type %d", (int)sc->type);
                return -1;
        }
        return cls->check ? cls->check(sc, opt, errstr, errstr_size) : 0;
}

fg_sink_t *fg_sink_new(const fg_sink_cfg_t *sc, const fg_sink_env_t *env, char *errstr,
                       size_t errstr_size) {
        const fg_sink_class_t *cls = class_of(sc->type);
        fg_sink_t *sink;

        if (!cls) {
                snprintf(errstr, errstr_size, "unknown sink type %d", (int)sc->type);
                return NULL;
        }
        sink = calloc(1, sizeof(*sink));
        if (!sink) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        sink->cls = cls;
        sink->retry = sc->retry;
        sink->batch_wait_ns = sc->batch_max_wait_ns;
        sink->framing = framing_of(sc);
        if (sc->rate_limit.events_per_second > 0 &&
            !(sink->rate = fg_ratelim_new(sc->rate_limit.events_per_second, sc->rate_limit.burst,
                                          fg_mono_ns()))) {
                snprintf(errstr, errstr_size, "out of memory");
                free(sink);
                return NULL;
        }
        sink->shared = cls->create(sc, env, errstr, errstr_size);
        if (!sink->shared) {
                fg_ratelim_destroy(sink->rate);
                free(sink);
                return NULL;
        }
        return sink;
}

void fg_sink_destroy(fg_sink_t *sink) {
        if (!sink)
                return;
        sink->cls->destroy(sink->shared);
        fg_ratelim_destroy(sink->rate);
        free(sink);
}

int64_t fg_sink_rate_take(fg_sink_t *sink, size_t n, int64_t now_ns) {
        return sink->rate ? fg_ratelim_take(sink->rate, (int64_t)n, now_ns) : 0;
}

void fg_sink_reopen(fg_sink_t *sink) {
        if (sink->cls->reopen)
                sink->cls->reopen(sink->shared);
}

const char *fg_sink_name(const fg_sink_t *sink) { return sink->cls->name; }

fg_framing_t fg_sink_framing(const fg_sink_t *sink) { return sink->framing; }

bool fg_sink_prefix_ordered(const fg_sink_t *sink) { return sink->cls->prefix_ordered; }

size_t fg_sink_batch_hint(const fg_sink_t *sink) {
        return sink->cls->batch_hint ? sink->cls->batch_hint(sink->shared) : 0;
}

fg_sink_conn_t *fg_sink_open(fg_sink_t *sink, char *errstr, size_t errstr_size) {
        fg_sink_conn_t *c = calloc(1, sizeof(*c));

        if (!c) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        c->sink = sink;
        c->conn = sink->cls->open(sink->shared, errstr, errstr_size);
        if (!c->conn) {
                free(c);
                return NULL;
        }
        return c;
}

void fg_sink_close(fg_sink_conn_t *c) {
        if (!c)
                return;
        c->sink->cls->close(c->conn);
        free(c);
}

void fg_sink_send(fg_sink_conn_t *c, const fg_event_t *evs, size_t n, fg_sink_result_t *res) {
        c->sink->cls->send(c->conn, evs, n, res);
}

const fg_retry_cfg_t *fg_sink_retry(const fg_sink_t *sink) {
        return &sink->retry;
}

int64_t fg_sink_batch_wait_ns(const fg_sink_t *sink) {
        return sink->batch_wait_ns;
}

void fg_sink_get_stats(const fg_sink_t *sink, fg_sink_stats_t *out) {
        *out = (fg_sink_stats_t){0};
        if (sink->cls->stats)
                sink->cls->stats(sink->shared, out);
}
