/*
 * httpsink: the HTTP downstream for benchmarks — the test server of
 * tests/support/httpd.c as a program.
 *
 *   httpsink [--port P] [--latency-ms X] [--fail-at S --fail-for S
 *            [--fail-status 503]] [--max-concurrency N [--limit-status 429]]
 *            [--ids PREFIX]
 *
 * Prints "URL=http://127.0.0.1:PORT/" on stdout once it listens, serves
 * until SIGTERM or SIGINT, then prints
 * "requests=N events=N connections=N peak_concurrency=N" (events: "id"
 * keys seen in request bodies) on stdout and the responses by status on
 * stderr. --fail-at counts seconds from the first request, so a window
 * lands mid-stream whatever the daemon's start-up takes; S may be
 * fractional. Bodies are counted, not kept.
 *
 * --ids PREFIX also counts the ids "PREFIX-<seq>" (floodgate burst's) in
 * the bodies answered 2xx, i.e. what was delivered, and adds
 * "ids_matched=N ids_distinct=N ids_dups=N ids_max_seq=N" to that line:
 * lost events are the produced count minus ids_distinct. The server then
 * logs bodies, and the main thread takes its log every tick (swapping in
 * an empty one under the server's lock) and scans it outside the lock, so
 * memory stays at a tick's worth of bodies plus two bytes per id.
 *
 * Threading: the main thread waits for signals and opens the fail window;
 * the server runs on its own thread.
 *
 * Built from the test server's source directly: bench programs link only
 * libfloodgate.a.
 */
#include "tests/support/httpd.c"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static const char usage[] =
        "usage: httpsink [--port P] [--latency-ms X] [--fail-at S --fail-for S "
        "[--fail-status 503]]\n"
        "                [--max-concurrency N [--limit-status 429]] [--ids PREFIX]\n";

static bool parse_long(const char *s, long lo, long hi, long *out) {
        char *end;
        long v = strtol(s, &end, 10);

        if (!*s || *end || v < lo || v > hi)
                return false;
        *out = v;
        return true;
}

static bool parse_secs(const char *s, double *out) {
        char *end;
        double v = strtod(s, &end);

        if (!*s || *end || !(v >= 0 && v < 1e6))
                return false;
        *out = v;
        return true;
}

/* Delivered ids, counted per seq (saturating). Main thread only. */
typedef struct idtab {
        const char *prefix;
        size_t plen;
        uint16_t *times;
        size_t cap;
        int64_t matched, distinct, max_seq;
        /* the log buffers swapped with the server's */
        rec_t *recs;
        size_t nrecs, recs_cap;
        char *arena;
        size_t arena_cap;
} idtab_t;

static void id_seen(idtab_t *ids, int64_t seq) {
        if ((size_t)seq >= ids->cap) {
                size_t ncap = ids->cap ? ids->cap : 1 << 20;
                uint16_t *nt;

                while (ncap <= (size_t)seq)
                        ncap *= 2;
                nt = realloc(ids->times, ncap * sizeof(*nt));
                if (!nt) {
                        fprintf(stderr, "httpsink: out of memory counting ids\n");
                        exit(1);
                }
                memset(nt + ids->cap, 0, (ncap - ids->cap) * sizeof(*nt));
                ids->times = nt;
                ids->cap = ncap;
        }
        ids->matched++;
        if (ids->times[seq] == 0)
                ids->distinct++;
        if (ids->times[seq] < UINT16_MAX)
                ids->times[seq]++;
        if (seq > ids->max_seq)
                ids->max_seq = seq;
}

/* Every "id":"PREFIX-<digits>" in one body (JSON, array or NDJSON alike). */
static void scan_ids(idtab_t *ids, const char *p, size_t len) {
        static const char key[] = "\"id\"";
        const char *end = p + len;

        while ((p = memmem(p, (size_t)(end - p), key, sizeof(key) - 1)) != NULL) {
                int64_t seq = 0;
                int digits = 0;

                p += sizeof(key) - 1;
                while (p < end && (*p == ' ' || *p == ':'))
                        p++;
                if (p >= end || *p != '"' || (size_t)(end - p) < ids->plen + 2 ||
                    memcmp(p + 1, ids->prefix, ids->plen) || p[1 + ids->plen] != '-')
                        continue;
                for (p += ids->plen + 2; p < end && *p >= '0' && *p <= '9' && digits < 18; p++)
                        seq = seq * 10 + (*p - '0'), digits++;
                if (digits && p < end && *p == '"')
                        id_seen(ids, seq);
        }
}

/* Takes the server's log (an O(1) swap under its lock) and scans the
 * bodies it answered 2xx. Reaches into httpd.c's struct, which this file
 * includes. */
static void drain_ids(fg_test_httpd_t *h, idtab_t *ids) {
        rec_t *recs;
        char *arena;
        size_t cap;

        pthread_mutex_lock(&h->lock);
        recs = h->recs, h->recs = ids->recs, ids->recs = recs;
        cap = h->recs_cap, h->recs_cap = ids->recs_cap, ids->recs_cap = cap;
        arena = h->arena, h->arena = ids->arena, ids->arena = arena;
        cap = h->arena_cap, h->arena_cap = ids->arena_cap, ids->arena_cap = cap;
        ids->nrecs = h->nrecs;
        h->nrecs = 0;
        h->arena_len = 0;
        pthread_mutex_unlock(&h->lock);
        for (size_t i = 0; i < ids->nrecs; i++)
                if (ids->recs[i].status >= 200 && ids->recs[i].status < 300)
                        scan_ids(ids, ids->arena + ids->recs[i].body_off, ids->recs[i].body_len);
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                {"port", required_argument, NULL, 'p'},
                {"latency-ms", required_argument, NULL, 'l'},
                {"fail-at", required_argument, NULL, 'a'},
                {"fail-for", required_argument, NULL, 'f'},
                {"fail-status", required_argument, NULL, 's'},
                {"max-concurrency", required_argument, NULL, 'c'},
                {"limit-status", required_argument, NULL, 'r'},
                {"ids", required_argument, NULL, 'i'},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        long port = 0, latency = 0, fail_status = 503, limit = 0, limit_status = 429;
        double fail_at = -1, fail_for = -1;
        int64_t first_ns = 0;
        idtab_t ids = {.max_seq = -1};
        fg_test_httpd_stats_t st;
        fg_test_httpd_t *h;
        char errstr[256] = "";
        sigset_t sigs;
        int opt, idx = 0;

        while ((opt = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
                bool ok;
                switch (opt) {
                case 'p': ok = parse_long(optarg, 0, 65535, &port); break;
                case 'l': ok = parse_long(optarg, 0, 3600 * 1000, &latency); break;
                case 'a': ok = parse_secs(optarg, &fail_at); break;
                case 'f': ok = parse_secs(optarg, &fail_for); break;
                case 's': ok = parse_long(optarg, 200, 599, &fail_status); break;
                case 'c': ok = parse_long(optarg, 0, 1000000, &limit); break;
                case 'r': ok = parse_long(optarg, 200, 599, &limit_status); break;
                case 'i':
                        ids.prefix = optarg;
                        ids.plen = strlen(optarg);
                        ok = ids.plen > 0;
                        break;
                case 'h': fputs(usage, stdout); return 0;
                default: ok = false; break;
                }
                if (!ok) {
                        if (opt != '?')
                                fprintf(stderr, "httpsink: bad value '%s' for --%s\n", optarg,
                                        opts[idx].name);
                        fputs(usage, stderr);
                        return 64;
                }
        }
        if ((fail_at >= 0) != (fail_for >= 0))
                fprintf(stderr, "httpsink: --fail-at and --fail-for go together\n");
        if (optind < argc || (fail_at >= 0) != (fail_for >= 0)) {
                fputs(usage, stderr);
                return 64;
        }

        /* Blocked before the server thread exists, so they reach only
         * sigtimedwait() below. */
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        pthread_sigmask(SIG_BLOCK, &sigs, NULL);

        h = fg_test_httpd_start_on((int)port, errstr, sizeof(errstr));
        if (!h) {
                fprintf(stderr, "httpsink: %s\n", errstr);
                return 1;
        }
        fg_test_httpd_keep_log(h, ids.prefix != NULL);
        fg_test_httpd_latency(h, (int)latency);
        if (limit > 0)
                fg_test_httpd_max_concurrency(h, (int)limit, (int)limit_status);
        printf("URL=%s\n", fg_test_httpd_url(h, "/"));
        fflush(stdout);

        for (;;) {
                struct timespec tick = {0, 10 * 1000 * 1000};
                int sig = sigtimedwait(&sigs, NULL, &tick);

                if (ids.prefix)
                        drain_ids(h, &ids);
                if (sig == SIGTERM || sig == SIGINT)
                        break;
                if (fail_at < 0)
                        continue;
                if (!first_ns) {
                        fg_test_httpd_stats(h, &st);
                        if (st.requests > 0)
                                first_ns = fg_mono_ns();
                } else if (fg_mono_ns() - first_ns >= (int64_t)(fail_at * 1e9)) {
                        fg_test_httpd_fail_for(h, (int)fail_status, (int)(fail_for * 1000));
                        fprintf(stderr, "httpsink: failing with %ld for %g s\n", fail_status,
                                fail_for);
                        fail_at = -1;
                }
        }

        fg_test_httpd_stats(h, &st);
        printf("requests=%lld events=%lld connections=%lld peak_concurrency=%lld",
               (long long)st.requests, (long long)st.events, (long long)st.connections,
               (long long)st.peak_inflight);
        if (ids.prefix) {
                drain_ids(h, &ids);
                printf(" ids_matched=%lld ids_distinct=%lld ids_dups=%lld ids_max_seq=%lld",
                       (long long)ids.matched, (long long)ids.distinct,
                       (long long)(ids.matched - ids.distinct), (long long)ids.max_seq);
        }
        printf("\n");
        fprintf(stderr, "httpsink: answered");
        for (int status = 200; status < STATUS_LIMIT; status++) {
                int64_t n = fg_test_httpd_answered(h, status);
                if (n)
                        fprintf(stderr, " %d=%lld", status, (long long)n);
        }
        fprintf(stderr, " rejected=%lld dropped=%lld inflight=%lld\n", (long long)st.rejected,
                (long long)st.dropped, (long long)st.inflight);
        fg_test_httpd_stop(h);
        free(ids.times);
        free(ids.recs);
        free(ids.arena);
        return 0;
}
