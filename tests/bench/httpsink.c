/*
 * httpsink: the HTTP downstream for benchmarks — the test server of
 * tests/support/httpd.c as a program.
 *
 *   httpsink [--port P] [--latency-ms X] [--fail-at S --fail-for S
 *            [--fail-status 503]] [--max-concurrency N [--limit-status 429]]
 *
 * Prints "URL=http://127.0.0.1:PORT/" on stdout once it listens, serves
 * until SIGTERM or SIGINT, then prints
 * "requests=N events=N connections=N peak_concurrency=N" (events: "id"
 * keys seen in request bodies) on stdout and the responses by status on
 * stderr. --fail-at counts seconds from the first request, so a window
 * lands mid-stream whatever the daemon's start-up takes; S may be
 * fractional. Bodies are counted, not kept.
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
        "                [--max-concurrency N [--limit-status 429]]\n";

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

int main(int argc, char **argv) {
        static const struct option opts[] = {
                {"port", required_argument, NULL, 'p'},
                {"latency-ms", required_argument, NULL, 'l'},
                {"fail-at", required_argument, NULL, 'a'},
                {"fail-for", required_argument, NULL, 'f'},
                {"fail-status", required_argument, NULL, 's'},
                {"max-concurrency", required_argument, NULL, 'c'},
                {"limit-status", required_argument, NULL, 'r'},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        long port = 0, latency = 0, fail_status = 503, limit = 0, limit_status = 429;
        double fail_at = -1, fail_for = -1;
        int64_t first_ns = 0;
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
        fg_test_httpd_keep_log(h, false);
        fg_test_httpd_latency(h, (int)latency);
        if (limit > 0)
                fg_test_httpd_max_concurrency(h, (int)limit, (int)limit_status);
        printf("URL=%s\n", fg_test_httpd_url(h, "/"));
        fflush(stdout);

        for (;;) {
                struct timespec tick = {0, 10 * 1000 * 1000};
                int sig = sigtimedwait(&sigs, NULL, &tick);

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
        printf("requests=%lld events=%lld connections=%lld peak_concurrency=%lld\n",
               (long long)st.requests, (long long)st.events, (long long)st.connections,
               (long long)st.peak_inflight);
        fprintf(stderr, "httpsink: answered");
        for (int status = 200; status < STATUS_LIMIT; status++) {
                int64_t n = fg_test_httpd_answered(h, status);
                if (n)
                        fprintf(stderr, " %d=%lld", status, (long long)n);
        }
        fprintf(stderr, " rejected=%lld dropped=%lld inflight=%lld\n", (long long)st.rejected,
                (long long)st.dropped, (long long)st.inflight);
        fg_test_httpd_stop(h);
        return 0;
}
