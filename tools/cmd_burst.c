/*
 * cmd_burst: `floodgate burst` — the load generator on the command line.
 * Progress goes to stderr once a second; the final tally to stdout as
 * key=value pairs for scripts.
 *
 * Threading: the producer runs on a second thread; the main thread prints
 * progress and takes SIGINT/SIGTERM with sigtimedwait (blocked everywhere
 * else), stopping the producer early but still flushing what it produced.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/exit.h"
#include "common/log.h"
#include "common/units.h"
#include "tools/tools.h"
#include "tools/burst.h"

int fg_cli_parse_count(const char *s, int64_t *out) {
        char *end;
        double v = strtod(s, &end);

        if (end == s || v < 0)
                return -1;
        if (*end == 'k' || *end == 'K')
                v *= 1e3, end++;
        else if (*end == 'M' || *end == 'm')
                v *= 1e6, end++;
        if (*end || v > 9e15)
                return -1;
        *out = (int64_t)v;
        return 0;
}

/* AT:DURATION:RATE, e.g. 10s:20s:50k */
static int parse_spike(char *s, fg_burst_cfg_t *bc, char *errstr, size_t errstr_size) {
        char *at = strtok(s, ":"), *dur = strtok(NULL, ":"), *rate = strtok(NULL, ":");

        if (!at || !dur || !rate || strtok(NULL, ":")) {
                snprintf(errstr, errstr_size, "--spike takes AT:DURATION:RATE (e.g. 10s:20s:50k)");
                return -1;
        }
        if (fg_parse_duration(at, &bc->spike_at_ns, errstr, errstr_size) ||
            fg_parse_duration(dur, &bc->spike_for_ns, errstr, errstr_size))
                return -1;
        if (fg_cli_parse_count(rate, &bc->spike_rate)) {
                snprintf(errstr, errstr_size, "bad spike rate '%s'", rate);
                return -1;
        }
        return 0;
}

typedef struct burst_run {
        fg_burst_t *b;
        int rc;
} burst_run_t;

static void *producer_main(void *arg) {
        burst_run_t *r = arg;
        r->rc = fg_burst_run(r->b, 60000);
        return NULL;
}

static int usage(const char *why) {
        if (why)
                fprintf(stderr, "floodgate burst: %s\n", why);
        fprintf(stderr, "usage: floodgate burst -b BROKERS -t TOPIC [--count N] [--rate R] "
                        "[--spike AT:DURATION:RATE] [--size BYTES] [--keys N] [--id-prefix P]\n");
        return FG_EXIT_USAGE;
}

int fg_cmd_burst(int argc, char **argv) {
        static const struct option longopts[] = {
            {"brokers", required_argument, NULL, 'b'},
            {"topic", required_argument, NULL, 't'},
            {"count", required_argument, NULL, 'n'},
            {"rate", required_argument, NULL, 'r'},
            {"spike", required_argument, NULL, 's'},
            {"size", required_argument, NULL, 'z'},
            {"keys", required_argument, NULL, 'k'},
            {"id-prefix", required_argument, NULL, 'p'},
            {NULL, 0, NULL, 0},
        };
        fg_burst_cfg_t bc = {.enabled = true, .count = 100000, .size = 120, .keys = 10000};
        const char *brokers = NULL, *topic = NULL, *prefix = NULL;
        char errstr[256];
        burst_run_t run = {0};
        pthread_t thr;
        sigset_t set;
        int64_t t0, last = 0;
        int c;

        optind = 1;
        while ((c = getopt_long(argc, argv, "b:t:n:r:", longopts, NULL)) != -1) {
                switch (c) {
                case 'b': brokers = optarg; break;
                case 't': topic = optarg; break;
                case 'p': prefix = optarg; break;
                case 'n':
                        if (fg_cli_parse_count(optarg, &bc.count) || bc.count < 1)
                                return usage("--count takes a positive number (e.g. 200000, 1M)");
                        break;
                case 'r':
                        if (fg_cli_parse_count(optarg, &bc.rate))
                                return usage("--rate takes events per second (0 = unlimited)");
                        break;
                case 'k':
                        if (fg_cli_parse_count(optarg, &bc.keys))
                                return usage("--keys takes a number (0 = no message key)");
                        break;
                case 'z':
                        if (fg_parse_size(optarg, &bc.size, errstr, sizeof(errstr)) ||
                            bc.size < 32 || bc.size > 1024 * 1024)
                                return usage("--size takes 32B..1MiB");
                        break;
                case 's':
                        if (parse_spike(optarg, &bc, errstr, sizeof(errstr)))
                                return usage(errstr);
                        break;
                default: return usage(NULL);
                }
        }
        if (!brokers || !topic || optind != argc)
                return usage(!brokers || !topic ? "-b and -t are required" : "unexpected argument");

        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL);

        run.b = fg_burst_new(brokers, topic, &bc, prefix, errstr, sizeof(errstr));
        if (!run.b) {
                fg_error("%s", errstr);
                return FG_EXIT_FAILURE;
        }
        t0 = fg_mono_ns();
        if (pthread_create(&thr, NULL, producer_main, &run)) {
                fg_burst_destroy(run.b);
                return FG_EXIT_FAILURE;
        }
        while (!fg_burst_finished(run.b)) {
                struct timespec one_s = {1, 0};
                int64_t now;
                if (sigtimedwait(&set, NULL, &one_s) > 0) {
                        fg_info("burst: interrupted, flushing");
                        fg_burst_stop(run.b);
                }
                now = fg_burst_produced(run.b);
                fg_info("burst: produced %lld (%lld/s), delivered %lld", (long long)now,
                        (long long)(now - last), (long long)fg_burst_delivered(run.b));
                last = now;
        }
        pthread_join(thr, NULL);
        {
                double secs = (double)(fg_mono_ns() - t0) / 1e9;
                printf("produced=%lld delivered=%lld failed=%lld elapsed=%.2fs rate=%.0f/s "
                       "id_prefix=%s\n",
                       (long long)fg_burst_produced(run.b), (long long)fg_burst_delivered(run.b),
                       (long long)fg_burst_failed(run.b), secs,
                       secs > 0 ? (double)fg_burst_produced(run.b) / secs : 0.0,
                       fg_burst_id_prefix(run.b));
        }
        fg_burst_destroy(run.b);
        return run.rc == 0 ? FG_EXIT_OK : FG_EXIT_FAILURE;
}
