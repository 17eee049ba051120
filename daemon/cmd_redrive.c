/*
 * cmd_redrive: `floodgate redrive -c FILE [--key K]... [--since T]
 * [--admin HOST:PORT]` — reads the daemon's configuration, builds its
 * handler, sink and dead-letter producer, and hands them to the replay
 * (tools/redrive.h). It lives here, not in tools/, because it reads the
 * configuration, which sits above tools/ in the include order.
 *
 * Threading: main thread; SIGINT/SIGTERM set a flag the replay polls.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/exit.h"
#include "common/log.h"
#include "config/config.h"
#include "daemon/cli.h"
#include "daemon/daemon.h"
#include "tools/redrive.h"

#define USAGE "usage: floodgate redrive -c FILE [--key K]... [--since T] [--admin HOST:PORT]\n"
#define REDRIVE_TIMEOUT_NS (10 * FG_NS_PER_S)

static volatile sig_atomic_t stop_flag;

static void on_stop(int sig) { stop_flag = 1; }

/* metrics.listen as an address to connect to: a wildcard host becomes
 * loopback. NULL when off or on an ephemeral port. */
static const char *admin_of(const char *listen, char *buf, size_t size) {
        const char *colon = listen ? strrchr(listen, ':') : NULL;

        if (!colon || !strcmp(listen, "off") || !strcmp(colon + 1, "0"))
                return NULL;
        if (!strncmp(listen, "0.0.0.0:", 8))
                snprintf(buf, size, "127.0.0.1%s", colon);
        else if (!strncmp(listen, "[::]:", 5))
                snprintf(buf, size, "[::1]%s", colon);
        else
                snprintf(buf, size, "%s", listen);
        return buf;
}

typedef struct redrive_args {
        const char *config;
        const char *admin;
        const char *since;
        fg_redrive_key_t *keys;
        size_t nkeys;
} redrive_args_t;

static int parse_args(int argc, char **argv, redrive_args_t *a) {
        static const struct option longopts[] = {
            {"config", required_argument, NULL, 'c'},
            {"key", required_argument, NULL, 'k'},
            {"since", required_argument, NULL, 's'},
            {"admin", required_argument, NULL, 'a'},
            {NULL, 0, NULL, 0},
        };
        int c;

        optind = 1;
        while ((c = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
                switch (c) {
                case 'c': a->config = optarg; break;
                case 's': a->since = optarg; break;
                case 'a': a->admin = optarg; break;
                case 'k': {
                        fg_redrive_key_t *nk = realloc(a->keys, (a->nkeys + 1) * sizeof(*nk));
                        if (!nk)
                                return -1;
                        a->keys = nk;
                        a->keys[a->nkeys++] = (fg_redrive_key_t){optarg, strlen(optarg)};
                        break;
                }
                default: return -1;
                }
        }
        return optind == argc && a->config ? 0 : -1;
}

int fg_cmd_redrive(int argc, char **argv) {
        redrive_args_t a = {0};
        fg_config_errs_t errs = {0};
        fg_config_t *cfg = NULL;
        fg_sink_t *sink = NULL;
        fg_handler_t *handler = NULL;
        fg_dlq_t *dlq = NULL;
        fg_redrive_report_t rep;
        fg_sink_env_t env;
        char errstr[512] = "", abuf[300];
        struct sigaction sa = {.sa_handler = on_stop};
        int rc = FG_EXIT_FAILURE;
        fg_redrive_cfg_t rc_cfg;

        if (parse_args(argc, argv, &a)) {
                fputs(USAGE, stderr);
                free(a.keys);
                return FG_EXIT_USAGE;
        }
        cfg = fg_config_load(a.config, &errs);
        if (!cfg) {
                fg_print_config_errors(&errs, false);
                fg_config_errs_clear(&errs);
                rc = FG_EXIT_CONFIG;
                goto out;
        }
        fg_log_set_level((fg_log_level_t)cfg->log.level);
        if (!cfg->dead_letter.topic) {
                fprintf(stderr, "%s: dead_letter.topic is not set: nothing to redrive\n", a.config);
                rc = FG_EXIT_CONFIG;
                goto out;
        }
        if (!strcmp(cfg->kafka.brokers, "mock") && !cfg->dead_letter.brokers) {
                fprintf(stderr, "%s: kafka.brokers is mock: the daemon's embedded cluster cannot "
                                "be reached from here\n", a.config);
                rc = FG_EXIT_CONFIG;
                goto out;
        }
        rc_cfg = (fg_redrive_cfg_t){
            .kafka = &cfg->kafka,
            .bootstrap = cfg->dead_letter.brokers ? cfg->dead_letter.brokers : cfg->kafka.brokers,
            .topic = cfg->dead_letter.topic,
            .keys = a.keys,
            .nkeys = a.nkeys,
            .since_ms = -1,
            .admin = a.admin ? a.admin : admin_of(cfg->metrics.listen, abuf, sizeof(abuf)),
            .timeout_ns = REDRIVE_TIMEOUT_NS,
            .stop = &stop_flag,
        };
        if (a.since &&
            (rc_cfg.since_ms = fg_redrive_parse_since(a.since, fg_wall_ms(), errstr,
                                                      sizeof(errstr))) < 0) {
                fprintf(stderr, "floodgate redrive: %s\n", errstr);
                rc = FG_EXIT_USAGE;
                goto out;
        }
        env.kafka_bootstrap = cfg->kafka.brokers;
        if (!(handler = fg_handler_new(&cfg->handler, errstr, sizeof(errstr))) ||
            !(sink = fg_sink_new(&cfg->sink, &env, errstr, sizeof(errstr))) ||
            !(dlq = fg_dlq_new(&cfg->dead_letter, cfg->kafka.brokers, cfg->sink.timeout_ns, errstr,
                               sizeof(errstr)))) {
                fg_error("redrive: %s", errstr);
                goto out;
        }
        rc_cfg.handler = handler;
        rc_cfg.sink = sink;
        rc_cfg.dlq = dlq;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        rc = fg_redrive_run(&rc_cfg, &rep, errstr, sizeof(errstr)) ? FG_EXIT_FAILURE : FG_EXIT_OK;
        printf("read=%lld skipped=%lld delivered=%lld filtered=%lld dropped=%lld "
               "dead_lettered_again=%lld keys_released=%lld keys_not_parked=%lld keys_kept=%lld "
               "rounds=%d\n",
               (long long)rep.read, (long long)rep.skipped, (long long)rep.delivered,
               (long long)rep.filtered, (long long)rep.dropped, (long long)rep.failed,
               (long long)rep.keys_released, (long long)rep.keys_not_parked,
               (long long)rep.keys_kept, rep.rounds);
        if (rc)
                fg_error("redrive: %s", errstr);
out:
        fg_dlq_destroy(dlq);
        fg_sink_destroy(sink);
        fg_handler_destroy(handler);
        fg_config_destroy(cfg);
        free(a.keys);
        return rc;
}
