/*
 * handler_cost: what the event handler costs a worker per event.
 *
 * Times fg_handler_apply over the load generator's own ~120-byte events
 * (fg_burst_format: {"id":"big-1","ts":...,"seq":...,"user":"u1",
 * "brand":"acme","text":"acme is trending lorem ipsum ..."}, five brands
 * in turn) for the configurations the pipeline bench runs: raw
 * passthrough (the floor), json passthrough (validation only:
 * fg_json_check_object, handler/json_scan.h), json + a case-insensitive
 * contains_any over the 100 names of tests/bench/brands100.txt (one of
 * them, acme, is in 20% of the events), that filter + add_metadata (the
 * brand-monitoring path), and that filter + keep + drop. Then the same
 * filter and shaping through the jansson handler of before
 * (tests/support/handler_oracle.c), for comparison. The ctx is reset
 * every 64 events, as a worker resets before each batch.
 *
 * Two rows time the passthrough validation alone, outside the handler:
 * the scanner, and what json passthrough did before it — json_loadb +
 * json_is_object + json_decref, the DOM built and thrown away. Per row:
 * the thread's CPU time per event, best of a few runs, so a busy machine
 * does not inflate it.
 *
 * Usage: handler_cost [iterations [brands-file]]
 *        (default 1000000 and tests/bench/brands100.txt)
 * Threading: main thread only.
 * Ownership: nothing outlives main.
 */
/* Bench programs link only libfloodgate.a: the oracle comes as source. */
#include "tests/support/handler_oracle.c"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "config/config.h"
#include "handler/ac.h"
#include "handler/handler.h"
#include "handler/json_scan.h"
#include "tools/burst.h"

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

/* The handler (or, with @p oracle, the jansson handler of before) for
 * "handler: {@p handler}"; @p brands replaces "BRANDS". */
static fg_handler_t *handler_with(const char *handler, const char *brands, fg_oracle_t **oracle) {
        fg_config_errs_t errs = {0};
        char text[16384], section[12288], errstr[256];
        const char *at = strstr(handler, "BRANDS");
        fg_config_t *cfg;
        fg_handler_t *h;

        if (at)
                snprintf(section, sizeof(section), "%.*s%s%s", (int)(at - handler), handler, brands,
                         at + 6);
        else
                snprintf(section, sizeof(section), "%s", handler);
        snprintf(text, sizeof(text), "%shandler: {%s}\n", BASE, section);
        cfg = fg_config_load_string("bench.yaml", text, strlen(text), &errs);
        if (!cfg) {
                fprintf(stderr, "handler_cost: {%s}: %s\n", handler, errs.n ? errs.msgs[0] : "?");
                exit(1);
        }
        h = fg_handler_new(&cfg->handler, errstr, sizeof(errstr));
        if (oracle)
                *oracle = fg_oracle_new(&cfg->handler, errstr, sizeof(errstr));
        if (!h || (oracle && !*oracle)) {
                fprintf(stderr, "handler_cost: {%s}: %s\n", handler, errstr);
                exit(1);
        }
        fg_config_destroy(cfg);
        fg_config_errs_clear(&errs);
        return h;
}

/* "[name, name, ...]" from a file of one name a line; *@p ac_bytes: what
 * contains_any's automaton for them takes (case-insensitive). */
static char *brand_list(const char *path, size_t *n, size_t *ac_bytes) {
        FILE *fp = fopen(path, "r");
        char line[256], *out = malloc(12000), *names[512];
        size_t o = 0, lens[512];
        fg_ac_t *ac;

        if (!fp || !out) {
                fprintf(stderr, "handler_cost: cannot read %s\n", path);
                exit(1);
        }
        *n = 0;
        out[o++] = '[';
        while (fgets(line, sizeof(line), fp) && o < 11000) {
                line[strcspn(line, "\n")] = '\0';
                if (!*line)
                        continue;
                o += (size_t)snprintf(out + o, 12000 - o, "%s\"%s\"", *n ? ", " : "", line);
                if (*n < 512) {
                        names[*n] = strdup(line);
                        lens[*n] = strlen(line);
                }
                ++*n;
        }
        out[o++] = ']';
        out[o] = '\0';
        fclose(fp);
        ac = fg_ac_new((const char *const *)names, lens, *n < 512 ? *n : 512, true, NULL, 0);
        *ac_bytes = ac ? fg_ac_bytes(ac) : 0;
        fg_ac_destroy(ac);
        for (size_t i = 0; i < *n && i < 512; i++)
                free(names[i]);
        return out;
}

struct result {
        double ns;        /* CPU ns per event, best run */
        unsigned long sent, filtered, invalid;
        size_t out_bytes; /* of one SENT event of the best run */
};

/* With @p o, times the oracle (the jansson handler) instead of @p h. */
static struct result measure(const fg_handler_t *h, const fg_oracle_t *o, char **evs,
                             const size_t *lens) {
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
                        fg_handle_verdict_t v;

                        if (i % BATCH == 0)
                                fg_handler_ctx_reset(ctx);
                        if (o) {
                                char *out, *why;
                                size_t olen;

                                v = fg_oracle_apply(o, &ev, 1700000000200LL + (int64_t)i, &out,
                                                    &olen, &why);
                                if (out)
                                        ev.len = olen;
                                free(out);
                                free(why);
                        } else {
                                v = fg_handler_apply(h, ctx, &ev, 1700000000200LL + (int64_t)i,
                                                     &reason);
                        }
                        switch (v) {
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
        static const struct {
                const char *name, *handler;
        } cases[] = {
            {"raw passthrough", "mode: raw"},
            {"json passthrough (validate only)", "mode: json"},
            {"json + contains_any, 100 names", "filter: {field: text, contains_any: BRANDS, "
                                               "case_insensitive: true}"},
            {"... + add_metadata (brand path)", "filter: {field: text, contains_any: BRANDS, "
                                                "case_insensitive: true}, add_metadata: true"},
            {"... + keep + drop", "filter: {field: text, contains_any: BRANDS, "
                                  "case_insensitive: true}, keep: [id, ts, user, text], "
                                  "drop: [user.email]"},
        };
        const char *path = argc > 2 ? argv[2] : "tests/bench/brands100.txt";
        char *evs[NEVENTS], key[32], *brands;
        size_t lens[NEVENTS], total = 0, nbrands, klen, ac_bytes;

        if (argc > 1 && (iterations = strtoul(argv[1], NULL, 10)) == 0) {
                fprintf(stderr, "usage: %s [iterations [brands-file]]\n", argv[0]);
                return 64;
        }
        brands = brand_list(path, &nbrands, &ac_bytes);
        for (int i = 0; i < NEVENTS; i++) {
                evs[i] = malloc(256);
                if (!evs[i])
                        return 1;
                lens[i] = fg_burst_format(evs[i], 256, "big", i, 1700000000000LL + i, 10000, 120,
                                          key, sizeof(key), &klen);
                total += lens[i];
        }
        printf("handler_cost: %lu events of ~%zu bytes (floodgate burst's) per run, CPU time, "
               "best of %d runs; %zu names from %s (automaton: %zu KiB)\n",
               iterations, total / NEVENTS, REPS, nbrands, path, ac_bytes / 1024);
        printf("  %-36s %8.1f ns/event\n", "validate: fg_json_check_object",
               measure_validate(validate_scan, evs, lens));
        printf("  %-36s %8.1f ns/event  (json passthrough before json_scan)\n",
               "validate: json_loadb + decref", measure_validate(validate_jansson, evs, lens));
        for (int with_oracle = 0; with_oracle < 2; with_oracle++) {
                if (with_oracle)
                        printf("the jansson handler of before (tests/support/handler_oracle.c):\n");
                for (size_t i = with_oracle ? 2 : 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                        fg_oracle_t *o = NULL;
                        fg_handler_t *h = handler_with(cases[i].handler, brands,
                                                       with_oracle ? &o : NULL);
                        struct result r = measure(h, o, evs, lens);

                        printf("  %-36s %8.1f ns/event  (%2.0f%% sent, %zu bytes out)\n",
                               cases[i].name, r.ns, 100.0 * (double)r.sent / (double)iterations,
                               r.out_bytes);
                        fg_oracle_destroy(o);
                        fg_handler_destroy(h);
                }
        }
        for (int i = 0; i < NEVENTS; i++)
                free(evs[i]);
        free(brands);
        return 0;
}
