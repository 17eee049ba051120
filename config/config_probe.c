/*
 * config_probe: what a configuration means to the libraries and the system
 * it will meet, checked before anything runs (see fg_config_probe in
 * config.h).
 *
 * DESIGN: the loader judges the file alone and stays pure (the config
 * fuzzer runs it millions of times); everything here has effects a load
 * must not have: librdkafka starts and stops client threads, the plugin
 * sink dlopen()s the plugin, a name lookup may wait for DNS. Each check
 * asks the module that will later do the real thing (kafka/, sinks/), so
 * the probe and the start-up cannot disagree; each message is placed at
 * the option it is about, as the loader would place it.
 *
 * Threading: main thread (see config.h).
 * Ownership: messages go to the caller's fg_config_errs_t.
 */
#include "config/config_int.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "common/hostport.h"
#include "kafka/kconf.h"
#include "sinks/dead_letter.h"
#include "sinks/sink.h"

/* Reports @p msg at the first of @p names (NULL-terminated) the file sets,
 * at 1:1 when it sets none of them. */
static void report_at(fg_config_diag_t *diag, const fg_config_t *cfg, const char *const *names,
                      const char *msg) {
        int line = 1, col = 1;

        for (; *names; names++) {
                int idx = fg_config_opt_find(*names);

                if (idx >= 0 && cfg->pos && cfg->pos[idx].line) {
                        line = cfg->pos[idx].line;
                        col = cfg->pos[idx].col;
                        break;
                }
        }
        fg_config_diag_add(diag, line, col, "%s", msg);
}

static void probe_kafka(fg_config_diag_t *diag, const fg_config_t *cfg) {
        static const char *const consumer_at[] = {"kafka.properties", "kafka.brokers", NULL};
        static const char *const dlq_at[] = {"dead_letter.properties", "dead_letter.topic", NULL};
        char why[512], msg[700];

        if (fg_kconf_check_consumer(&cfg->kafka, why, sizeof(why))) {
                snprintf(msg, sizeof(msg), "kafka.properties: librdkafka refuses the consumer: %s",
                         why);
                report_at(diag, cfg, consumer_at, msg);
        }
        if (cfg->dead_letter.topic &&
            fg_dlq_check(&cfg->dead_letter, cfg->sink.timeout_ns, why, sizeof(why))) {
                snprintf(msg, sizeof(msg),
                         "dead_letter.properties: librdkafka refuses the dead-letter producer: %s",
                         why);
                report_at(diag, cfg, dlq_at, msg);
        }
}

/* The top-level sink (when there is one) and its fallback at the option
 * they are about; the sinks of routes (and their fallbacks) at routes,
 * named by their place. */
static void probe_sink(fg_config_diag_t *diag, const fg_config_t *cfg) {
        const char *opt = "sink.type";
        char why[512], msg[700];

        if (fg_config_has_sink(cfg) && fg_sink_check(&cfg->sink, &opt, why, sizeof(why)))
                report_at(diag, cfg, (const char *const[]){opt, "sink.type", NULL}, why);
        opt = "sink.type";
        if (fg_config_has_sink(cfg) && cfg->sink.fallback &&
            fg_sink_check(cfg->sink.fallback, &opt, why, sizeof(why))) {
                snprintf(msg, sizeof(msg), "sink.fallback: %s", why);
                report_at(diag, cfg, (const char *const[]){"sink.fallback", NULL}, msg);
        }
        for (size_t i = 0; i < cfg->routes.n; i++) {
                const fg_sink_cfg_t *sc = &cfg->routes.v[i].sink;
                opt = "sink.type";
                if (fg_sink_check(sc, &opt, why, sizeof(why))) {
                        snprintf(msg, sizeof(msg), "routes[%zu].sink: %s", i, why);
                        report_at(diag, cfg, (const char *const[]){"routes", NULL}, msg);
                }
                opt = "sink.type";
                if (sc->fallback && fg_sink_check(sc->fallback, &opt, why, sizeof(why))) {
                        snprintf(msg, sizeof(msg), "routes[%zu].sink.fallback: %s", i, why);
                        report_at(diag, cfg, (const char *const[]){"routes", NULL}, msg);
                }
        }
}

/* The loader checked the syntax; here the host must resolve to an address
 * the server could bind. */
static void probe_listen(fg_config_diag_t *diag, const fg_config_t *cfg) {
        const char *l = cfg->metrics.listen;
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE},
                        *res = NULL;
        fg_hostport_t hp;
        char why[128], msg[512], qbuf[128];
        int rc;

        if (!l || !strcmp(l, "off") || fg_hostport_parse(l, &hp, why, sizeof(why)) ||
            hp.numeric)
                return;
        rc = getaddrinfo(hp.host, NULL, &hints, &res);
        if (res)
                freeaddrinfo(res);
        if (rc == 0)
                return;
        snprintf(msg, sizeof(msg), "metrics.listen '%s': cannot resolve %s: %s",
                 fg_config_quote(l, strlen(l), 60, qbuf, sizeof(qbuf)), hp.host,
                 rc == EAI_SYSTEM ? "system error" : gai_strerror(rc));
        report_at(diag, cfg, (const char *const[]){"metrics.listen", NULL}, msg);
}

/* Main thread. */
size_t fg_config_probe(const fg_config_t *cfg, fg_config_errs_t *errs) {
        fg_config_diag_t diag = {.path = cfg->path ? cfg->path : "<config>"};
        size_t n;

        probe_kafka(&diag, cfg);
        probe_sink(&diag, cfg);
        probe_listen(&diag, cfg);
        n = diag.n + (diag.oom ? 1 : 0);
        fg_config_diag_finish(&diag, errs);
        return n;
}
