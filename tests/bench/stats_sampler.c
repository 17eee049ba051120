/*
 * stats_sampler: polls a running daemon's GET /stats at a fixed interval
 * and appends one CSV row per answer, for the burst benchmark's plots and
 * summary (tests/bench/burst.sh).
 *
 *   stats_sampler URL OUT.csv [--interval-ms 250]
 *
 * URL is the admin server's base, e.g. http://127.0.0.1:9464. Runs until
 * SIGTERM or SIGINT. Columns (header line first):
 *
 *   t            seconds since the sampler started (when the request left)
 *   consumed_s   rates.consumed.1s
 *   processed_s  rates.ok.1s
 *   queue        queue.depth
 *   paused       ingest.paused (partitions)
 *   workers      workers.total
 *   busy         workers.busy
 *   limit        workers.concurrency_limit (0 for a fixed pool)
 *   breaker      breaker.state: closed 0, half_open 1, open/forced_open 2
 *                (empty when disabled)
 *   lag          lag.total (empty until librdkafka's first statistics)
 *   p50_ms       latency.end_to_end.p50_ms over the daemon's window (10 s)
 *   p99_ms       latency.end_to_end.p99_ms (empty when the window is empty)
 *   rss_mib      process.rss_bytes in MiB
 *   ok           counters.ok (cumulative)
 *   consumed     counters.consumed (cumulative)
 *   failed_s     rates.failed.1s (failed sink attempts)
 *   cpu_s        process.cpu_seconds (cumulative)
 *   qwait_p99_ms latency.queue_wait.p99_ms (ingest to a worker, windowed)
 *   sink_p99_ms  latency.sink_call.p99_ms (one sink call, windowed)
 *
 * A tick whose previous request is still outstanding is skipped rather than
 * queued, so a slow daemon yields fewer rows, never a backlog of them;
 * errors (daemon not up yet, gone) yield none. Rows are flushed as written,
 * so a killed sampler leaves a usable file.
 *
 * Threading: single-threaded (one libevent loop).
 * Ownership: everything lives until main returns.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"

typedef struct sampler {
        struct event_base *base;
        struct evhttp_connection *conn;
        char host[256];
        FILE *out;
        int64_t t0_ns;
        int64_t sent_ns;
        bool outstanding;
        long rows, errors;
} sampler_t;

/* The number at @p path ("a.b.c"), or NAN when absent or null. */
static double num(json_t *root, const char *path) {
        char key[64];
        json_t *v = root;

        while (v && *path) {
                size_t n = strcspn(path, ".");
                if (n >= sizeof(key))
                        return NAN;
                memcpy(key, path, n);
                key[n] = '\0';
                v = json_object_get(v, key);
                path += n + (path[n] == '.');
        }
        return json_is_number(v) ? json_number_value(v) : NAN;
}

/* A field with @p decimals, empty for NAN (gnuplot and awk read it as missing). */
static void field(FILE *f, double x, int decimals) {
        fputc(',', f);
        if (!isnan(x))
                fprintf(f, "%.*f", decimals, x);
}

/* breaker.state as a number: closed 0, half_open 1, open/forced_open 2;
 * NAN when absent (breaker disabled). */
static double breaker_state(json_t *root) {
        const char *st = json_string_value(json_object_get(json_object_get(root, "breaker"), "state"));

        if (st && !strcmp(st, "closed"))
                return 0;
        if (st && !strcmp(st, "half_open"))
                return 1;
        if (st && (!strcmp(st, "open") || !strcmp(st, "forced_open")))
                return 2;
        return NAN;
}

/* The columns after t, in order: the header and every row come from this
 * one list. path NULL: the breaker state. */
static const struct column {
        const char *name;
        const char *path;
        double scale;
        int decimals;
} columns[] = {
    {"consumed_s", "rates.consumed.1s", 1, 0},
    {"processed_s", "rates.ok.1s", 1, 0},
    {"queue", "queue.depth", 1, 0},
    {"paused", "ingest.paused", 1, 0},
    {"workers", "workers.total", 1, 0},
    {"busy", "workers.busy", 1, 0},
    {"limit", "workers.concurrency_limit", 1, 0},
    {"breaker", NULL, 1, 0},
    {"lag", "lag.total", 1, 0},
    {"p50_ms", "latency.end_to_end.p50_ms", 1, 3},
    {"p99_ms", "latency.end_to_end.p99_ms", 1, 3},
    {"rss_mib", "process.rss_bytes", 1.0 / (1024.0 * 1024.0), 2},
    {"ok", "counters.ok", 1, 0},
    {"consumed", "counters.consumed", 1, 0},
    {"failed_s", "rates.failed.1s", 1, 0},
    {"cpu_s", "process.cpu_seconds", 1, 3},
    {"qwait_p99_ms", "latency.queue_wait.p99_ms", 1, 3},
    {"sink_p99_ms", "latency.sink_call.p99_ms", 1, 3},
};

static void write_header(FILE *f) {
        fputs("t", f);
        for (size_t i = 0; i < sizeof(columns) / sizeof(columns[0]); i++)
                fprintf(f, ",%s", columns[i].name);
        fputc('\n', f);
}

static void write_row(sampler_t *s, json_t *root) {
        fprintf(s->out, "%.3f", (double)(s->sent_ns - s->t0_ns) / 1e9);
        for (size_t i = 0; i < sizeof(columns) / sizeof(columns[0]); i++) {
                const struct column *c = &columns[i];
                double x = c->path ? num(root, c->path) * c->scale : breaker_state(root);

                field(s->out, x, c->decimals);
        }
        fputc('\n', s->out);
        fflush(s->out);
        s->rows++;
}

static void on_response(struct evhttp_request *req, void *arg) {
        sampler_t *s = arg;
        struct evbuffer *in;
        json_t *root = NULL;
        size_t len;

        s->outstanding = false;
        if (!req || evhttp_request_get_response_code(req) != 200) {
                s->errors++;
                return;
        }
        in = evhttp_request_get_input_buffer(req);
        len = evbuffer_get_length(in);
        if (len)
                root = json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, NULL);
        if (!json_is_object(root)) {
                s->errors++;
        } else {
                write_row(s, root);
        }
        json_decref(root);
}

static void on_tick(evutil_socket_t fd, short what, void *arg) {
        sampler_t *s = arg;
        struct evhttp_request *req;

        if (s->outstanding)
                return;
        req = evhttp_request_new(on_response, s);
        if (!req)
                return;
        evhttp_add_header(evhttp_request_get_output_headers(req), "Host", s->host);
        s->sent_ns = fg_mono_ns();
        /* On failure libevent has freed the request. */
        if (evhttp_make_request(s->conn, req, EVHTTP_REQ_GET, "/stats") == 0)
                s->outstanding = true;
        else
                s->errors++;
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
        event_base_loopexit(arg, NULL);
}

static int usage(void) {
        fputs("usage: stats_sampler URL OUT.csv [--interval-ms N]\n", stderr);
        return 64;
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                {"interval-ms", required_argument, NULL, 'i'},
                {NULL, 0, NULL, 0},
        };
        sampler_t s = {0};
        struct event *tick = NULL, *sigterm = NULL, *sigint = NULL;
        struct evhttp_uri *uri = NULL;
        long interval_ms = 250;
        int opt, port, rc = 1;

        while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                char *end;
                if (opt != 'i')
                        return usage();
                interval_ms = strtol(optarg, &end, 10);
                if (*end || interval_ms < 10 || interval_ms > 60000)
                        return usage();
        }
        if (argc - optind != 2)
                return usage();
        uri = evhttp_uri_parse(argv[optind]);
        if (!uri || !evhttp_uri_get_host(uri)) {
                fprintf(stderr, "stats_sampler: bad URL '%s'\n", argv[optind]);
                goto done;
        }
        port = evhttp_uri_get_port(uri) > 0 ? evhttp_uri_get_port(uri) : 80;
        snprintf(s.host, sizeof(s.host), "%s:%d", evhttp_uri_get_host(uri), port);
        s.out = fopen(argv[optind + 1], "w");
        if (!s.out) {
                perror(argv[optind + 1]);
                goto done;
        }
        write_header(s.out);
        fflush(s.out);

        signal(SIGPIPE, SIG_IGN);
        s.base = event_base_new();
        if (!s.base)
                goto done;
        s.conn = evhttp_connection_base_new(s.base, NULL, evhttp_uri_get_host(uri),
                                            (unsigned short)port);
        if (!s.conn)
                goto done;
        evhttp_connection_set_timeout(s.conn, 2);
        tick = event_new(s.base, -1, EV_PERSIST, on_tick, &s);
        sigterm = evsignal_new(s.base, SIGTERM, on_signal, s.base);
        sigint = evsignal_new(s.base, SIGINT, on_signal, s.base);
        if (!tick || !sigterm || !sigint || evsignal_add(sigterm, NULL) || evsignal_add(sigint, NULL))
                goto done;
        {
                struct timeval tv = {interval_ms / 1000, (interval_ms % 1000) * 1000};
                if (event_add(tick, &tv))
                        goto done;
        }
        s.t0_ns = fg_mono_ns();
        on_tick(-1, 0, &s);
        event_base_dispatch(s.base);
        fprintf(stderr, "stats_sampler: %ld rows, %ld failed requests\n", s.rows, s.errors);
        rc = 0;
done:
        if (tick)
                event_free(tick);
        if (sigterm)
                event_free(sigterm);
        if (sigint)
                event_free(sigint);
        if (s.conn)
                evhttp_connection_free(s.conn);
        if (s.base)
                event_base_free(s.base);
        if (s.out)
                fclose(s.out);
        if (uri)
                evhttp_uri_free(uri);
        return rc;
}
