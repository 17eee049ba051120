/*
 * handler_cost: what the event handler costs a worker per event.
 *
 * Times fg_handler_apply over ~150-byte JSON events like the load
 * generator's ({"id":"x-1","ts":...,"seq":...,"user":"u1","brand":"acme",
 * "text":"acme is trending lorem ipsum ..."}) for the configurations that
 * matter: raw passthrough (the floor: nothing to do), json passthrough
 * (validation only: fg_json_check_object, handler/json_scan.h), json + a
 * case-insensitive contains_any filter (half the events match), and json +
 * that filter + drop + add_metadata (parse, filter, shape, serialise). The
 * ctx is reset every 64 events, as a worker resets before each batch.
 *
 * Two rows time the passthrough validation alone, outside the handler:
 * the scanner, and what json passthrough did before it — json_loadb +
 * json_is_object + json_decref, the DOM built and thrown away. Per row:
 * the thread's CPU time per event, best of a few runs, so a busy machine
 * does not inflate it.
 *
 * Usage: handler_cost [iterations]   (default 1000000)
 * Threading: main thread only.
 * Ownership: nothing outlives main.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "config/config.h"
#include "handler/handler.h"
#include "handler/json_scan.h"

#define REPS    5
#define NEVENTS 1024
#define BATCH   64

static unsigned long iterations = 1000000;

static const char *BASE = "kafka: {brokers: localhost:9092, topics: [events]}\n"
                          "sink: {type: null}\n";

static int64_t thread_cpu_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (int64_t)ts.tv_sec * FG_NS_PER_S + ts.tv_nsec;
}

static fg_handler_t *handler_with(const char *handler) {
        fg_config_errs_t errs = {0};
        char text[1024], errstr[256];
        fg_config_t *cfg;
        fg_handler_t *h;

        snprintf(text, sizeof(text), "%shandler: {%s}\n", BASE, handler);
        cfg = fg_config_load_string("bench.yaml", text, strlen(text), &errs);
        if (!cfg) {
                fprintf(stderr, "handler_cost: {%s}: %s\n", handler, errs.n ? errs.msgs[0] : "?");
                exit(1);
        }
        h = fg_handler_new(&cfg->handler, errstr, sizeof(errstr));
        if (!h) {
                fprintf(stderr, "handler_cost: {%s}: %s\n", handler, errstr);
                exit(1);
        }
        fg_config_destroy(cfg);
        fg_config_errs_clear(&errs);
        return h;
}

struct result {
        double ns;        /* CPU ns per event, best run */
        unsigned long sent, filtered, invalid;
        size_t out_bytes; /* of one SENT event of the best run */
};

static struct result measure(const fg_handler_t *h, char **evs, const size_t *lens) {
        struct result best = {.ns = 1e30};

        for (int rep = 0; rep < REPS; rep++) {
                fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);
                struct result res = {0};
                int64_t c0;

                if (!ctx) {
                        fprintf(stderr, "handler_cost: out of memory\n");
                        exit(1);
                }
                c0 = thread_cpu_ns();
                for (unsigned long i = 0; i < iterations; i++) {
                        size_t k = i % NEVENTS;
                        fg_event_t ev = {
                            .topic = "events",
                            .partition = (int32_t)(k & 7),
                            .offset = (int64_t)i,
                            .ts_ms = 1700000000000LL + (int64_t)i,
                            .ingest_ms = 1700000000100LL + (int64_t)i,
                            .value = evs[k],
                            .len = lens[k],
                        };
                        const char *reason;

                        if (i % BATCH == 0)
                                fg_handler_ctx_reset(ctx);
                        switch (fg_handler_apply(h, ctx, &ev, 1700000000200LL + (int64_t)i,
                                                 &reason)) {
                        case FG_HANDLE_SEND:
                                res.sent++;
                                res.out_bytes = ev.len;
                                break;
                        case FG_HANDLE_FILTERED: res.filtered++; break;
                        case FG_HANDLE_INVALID: res.invalid++; break;
                        }
                }
                res.ns = (double)(thread_cpu_ns() - c0) / (double)iterations;
                fg_handler_ctx_destroy(ctx);
                if (res.invalid) {
                        fprintf(stderr, "handler_cost: %lu events invalid\n", res.invalid);
                        exit(1);
                }
                if (res.ns < best.ns)
                        best = res;
        }
        return best;
}

/* A validator alone: 1 when @p p is a JSON object. */
typedef int (*validate_fn)(const char *p, size_t n);

static int validate_scan(const char *p, size_t n) {
        return fg_json_check_object(p, n, NULL) == FG_JSON_SCAN_OBJECT;
}

static int validate_jansson(const char *p, size_t n) {
        json_t *root = json_loadb(p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        int ok = json_is_object(root);

        json_decref(root);
        return ok;
}

static double measure_validate(validate_fn fn, char **evs, const size_t *lens) {
        double best = 1e30;

        for (int rep = 0; rep < REPS; rep++) {
                unsigned long ok = 0;
                int64_t c0 = thread_cpu_ns();
                double ns;

                for (unsigned long i = 0; i < iterations; i++)
                        ok += (unsigned long)fn(evs[i % NEVENTS], lens[i % NEVENTS]);
                ns = (double)(thread_cpu_ns() - c0) / (double)iterations;
                if (ok != iterations) {
                        fprintf(stderr, "handler_cost: %lu events invalid\n", iterations - ok);
                        exit(1);
                }
                if (ns < best)
                        best = ns;
        }
        return best;
}

int main(int argc, char **argv) {
        static const char *brands[] = {"acme", "globex", "initech", "umbrella"};
        /* Half the texts match the filter, in mixed case. */
        static const char *texts[] = {"Acme", "initech", "GLOBEX", "umbrella"};
        static const struct {
                const char *name, *handler;
        } cases[] = {
            {"raw passthrough", "mode: raw"},
            {"json passthrough (validate only)", "mode: json"},
            {"json + contains_any filter",
             "filter: {field: text, contains_any: [acme, globex], case_insensitive: true}"},
            {"json + filter + drop + metadata",
             "filter: {field: text, contains_any: [acme, globex], case_insensitive: true}, "
             "drop: [user, seq], add_metadata: true"},
        };
        char *evs[NEVENTS];
        size_t lens[NEVENTS], total = 0;

        if (argc > 1 && (iterations = strtoul(argv[1], NULL, 10)) == 0) {
                fprintf(stderr, "usage: %s [iterations]\n", argv[0]);
                return 64;
        }
        for (int i = 0; i < NEVENTS; i++) {
                const char *brand = brands[i % 4];
                int n;

                evs[i] = malloc(256);
                if (!evs[i])
                        return 1;
                n = snprintf(evs[i], 256,
                             "{\"id\":\"x-%d\",\"ts\":%lld,\"seq\":%d,\"user\":\"u%d\","
                             "\"brand\":\"%s\",\"text\":\"%s is trending lorem ipsum dolor "
                             "sit amet consectetur\"}",
                             i, 1700000000000LL + i, i, i % 97, brand, texts[i % 4]);
                lens[i] = (size_t)n;
                total += lens[i];
        }
        printf("handler_cost: %lu events of ~%zu bytes per run, CPU time, best of %d runs\n",
               iterations, total / NEVENTS, REPS);
        printf("  %-36s %8.1f ns/event\n", "validate: fg_json_check_object",
               measure_validate(validate_scan, evs, lens));
        printf("  %-36s %8.1f ns/event  (json passthrough before json_scan)\n",
               "validate: json_loadb + decref", measure_validate(validate_jansson, evs, lens));
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                fg_handler_t *h = handler_with(cases[i].handler);
                struct result r = measure(h, evs, lens);

                printf("  %-36s %8.1f ns/event  (%2.0f%% sent, %zu bytes out)\n", cases[i].name,
                       r.ns, 100.0 * (double)r.sent / (double)iterations, r.out_bytes);
                fg_handler_destroy(h);
        }
        for (int i = 0; i < NEVENTS; i++)
                free(evs[i]);
        return 0;
}
