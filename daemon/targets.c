/*
 * targets: builds the pool's plan from the configuration — one target per
 * route, in order, then the top-level sink as the default target — at
 * start and on SIGHUP (see workers/plan.h). On a reload only what changed
 * is built anew; the rest is taken from the running plan.
 *
 * Threading: main thread.
 * Ownership: every object built here goes to the pool (fg_pool_install),
 * or is destroyed here when the plan cannot be built.
 */
#include "daemon/daemon_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"

/* What one target is built from. */
typedef struct source {
        char name[FG_TARGET_NAME_MAX];
        const fg_filter_cfg_t *filter; /* NULL: the default target */
        const fg_sink_cfg_t *sink;
        const fg_brk_cfg_t *brk;
        int old;                       /* the running plan's index for it; -1 = none */
        bool new_sink, new_brk;
} source_t;

/* Breaker lock held: log only. */
static void on_transition(fg_brk_state_t from, fg_brk_state_t to, const char *reason,
                          void *opaque) {
        const char *name = opaque;
        fg_log(to == FG_BRK_OPEN ? FG_LOG_WARN : FG_LOG_INFO, "breaker%s%s: %s -> %s: %s",
               *name ? " " : "", name, fg_brk_state_name(from), fg_brk_state_name(to), reason);
}

static unsigned limit_for(const fg_config_t *cfg, const fg_sink_cfg_t *sc) {
        int64_t workers = cfg->workers.mode == FG_WORKERS_DYNAMIC ? cfg->workers.max
                                                                   : cfg->workers.size;
        if (sc->concurrency > 0)
                return (unsigned)sc->concurrency;
        if (!cfg->routes.n)
                return 0;
        return workers >= 2 ? (unsigned)(workers / 2) : 1;
}

/* A copy of @p name that lives as long as the daemon (breakers keep it
 * for their log lines across reloads). */
static const char *intern(fg_daemon_t *d, const char *name) {
        char *slot;
        size_t len;

        for (size_t i = 0; i < d->ntnames; i++)
                if (!strcmp(d->tnames[i], name))
                        return d->tnames[i];
        if (d->ntnames == FG_POOL_MAX_TARGETS)
                return "";
        slot = d->tnames[d->ntnames++];
        len = strnlen(name, FG_TARGET_NAME_MAX - 1);

        memcpy(slot, name, len);
        slot[len] = '\0';
        return slot;
}

/* @p cfg's targets, in plan order: the routes, then the default. */
static size_t sources_of(const fg_config_t *cfg, source_t *src) {
        size_t n = 0;

        for (size_t i = 0; i < cfg->routes.n && n < FG_POOL_MAX_TARGETS; i++, n++) {
                const fg_route_cfg_t *r = &cfg->routes.v[i];
                if (r->name)
                        snprintf(src[n].name, sizeof(src[n].name), "%s", r->name);
                else
                        snprintf(src[n].name, sizeof(src[n].name), "route%zu", i + 1);
                src[n].filter = &r->filter;
                src[n].sink = &r->sink;
                src[n].brk = &r->breaker;
        }
        if (fg_config_has_sink(cfg) && n < FG_POOL_MAX_TARGETS) {
                snprintf(src[n].name, sizeof(src[n].name), "default");
                src[n].filter = NULL;
                src[n].sink = &cfg->sink;
                src[n].brk = &cfg->breaker;
                n++;
        }
        return n;
}

/* A new sink for @p sc that opens a connection here, or NULL with the
 * reason: one that cannot open here would not open in the workers. */
static fg_sink_t *open_sink(fg_daemon_t *d, const fg_sink_cfg_t *sc, char *errstr,
                            size_t errstr_size) {
        fg_sink_env_t env = {.kafka_bootstrap = d->bootstrap};
        fg_sink_t *sink = fg_sink_new(sc, &env, errstr, errstr_size);
        fg_sink_conn_t *conn;

        if (!sink)
                return NULL;
        if (!(conn = fg_sink_open(sink, errstr, errstr_size))) {
                fg_sink_destroy(sink);
                return NULL;
        }
        fg_sink_close(conn);
        return sink;
}

static void destroy_specs(fg_target_spec_t *specs, size_t n) {
        for (size_t i = 0; i < n; i++) {
                fg_handler_destroy(specs[i].handler);
                fg_sink_destroy(specs[i].sink);
                fg_brk_destroy(specs[i].brk);
                fg_sink_destroy(specs[i].fb_sink);
                fg_brk_destroy(specs[i].fb_brk);
        }
}

int fg_daemon_install_plan(fg_daemon_t *d, const fg_config_t *cfg, const fg_plan_change_t *ch,
                           char *errstr, size_t errstr_size) {
        source_t src[FG_POOL_MAX_TARGETS];
        fg_target_spec_t specs[FG_POOL_MAX_TARGETS];
        const fg_plan_t *cur = ch ? fg_pool_plan(d->pool) : NULL;
        size_t n;
        char why[512];

        if (cfg->routes.n >= FG_POOL_MAX_TARGETS) {
                snprintf(errstr, errstr_size, "routes: at most %d", FG_POOL_MAX_TARGETS - 1);
                return -1;
        }
        n = sources_of(cfg, src);
        memset(specs, 0, sizeof(specs));
        for (size_t i = 0; i < n; i++) {
                source_t *s = &src[i];
                bool route = s->filter != NULL;
                fg_handler_cfg_t hc = cfg->handler;

                /* Where it was in the running plan: routes keep their index
                 * while their count does; the default is last. */
                s->old = -1;
                if (cur && route && !ch->routes && i < cur->ntargets && cur->targets[i].filter)
                        s->old = (int)i;
                if (cur && !route && !cur->targets[cur->ntargets - 1].filter)
                        s->old = (int)cur->ntargets - 1;
                s->new_sink = s->old < 0 || (route ? ch->route_sink[i] : ch->sink);
                s->new_brk = s->new_sink || (route ? ch->route_brk[i] : ch->breaker);
                specs[i] = (fg_target_spec_t){
                    .name = s->name,
                    .filter = s->filter,
                    .raw = cfg->handler.mode == FG_HANDLER_RAW,
                    .reuse = s->old,
                    .limit = limit_for(cfg, s->sink),
                };
                if (s->new_sink &&
                    !(specs[i].sink = open_sink(d, s->sink, why, sizeof(why)))) {
                        snprintf(errstr, errstr_size, "%s%s sink cannot be opened: %s",
                                 route ? "route " : "", s->name, why);
                        goto fail;
                }
                if (s->new_brk &&
                    !(specs[i].brk = fg_brk_new(s->brk, (uint64_t)fg_mono_ns() ^ (uint64_t)getpid(),
                                                on_transition,
                                                (void *)(route ? intern(d, s->name) : ""), why,
                                                sizeof(why)))) {
                        snprintf(errstr, errstr_size, "%s breaker: %s", s->name, why);
                        goto fail;
                }
                /* sink.fallback: its own sink and breaker (the target's
                 * breaker settings), built with the target's sink. */
                specs[i].fallback = s->sink->fallback != NULL;
                if (specs[i].fallback && s->new_sink &&
                    !(specs[i].fb_sink = open_sink(d, s->sink->fallback, why, sizeof(why)))) {
                        snprintf(errstr, errstr_size, "%s%s fallback sink cannot be opened: %s",
                                 route ? "route " : "", s->name, why);
                        goto fail;
                }
                if (specs[i].fallback && s->new_brk) {
                        char fb_name[FG_TARGET_NAME_MAX + 16];
                        snprintf(fb_name, sizeof(fb_name), "%.63s%sfallback", route ? s->name : "",
                                 route ? " " : "");
                        if (!(specs[i].fb_brk = fg_brk_new(
                                  s->brk, (uint64_t)fg_mono_ns() ^ (uint64_t)getpid() ^ 1,
                                  on_transition, (void *)intern(d, fb_name), why, sizeof(why)))) {
                                snprintf(errstr, errstr_size, "%s fallback breaker: %s", s->name,
                                         why);
                                goto fail;
                        }
                }
                /* Raw payloads must not break the framing of the sink they go
                 * to: a handler per target. */
                if (s->new_sink || !ch || ch->handler) {
                        hc.framing = fg_sink_framing(specs[i].sink ? specs[i].sink
                                                                   : cur->targets[s->old].sink);
                        if (!(specs[i].handler = fg_handler_new(&hc, why, sizeof(why)))) {
                                snprintf(errstr, errstr_size, "%s", why);
                                goto fail;
                        }
                }
        }
        if (fg_pool_install(d->pool, specs, n, errstr, errstr_size))
                return -1; /* the pool destroyed the new objects */
        for (size_t i = 0; ch && i < n; i++)
                if (src[i].new_sink && src[i].old >= 0)
                        fg_info("breaker reset: sink changed (%s)", src[i].name);
        fg_info("plan %u: %zu target%s: %s", fg_pool_plan_gen(d->pool), n, n == 1 ? "" : "s",
                src[0].filter ? "routes" : "one sink");
        for (size_t i = 0; i < n; i++)
                fg_info("plan %u: %s -> %s sink%s%s%s%s", fg_pool_plan_gen(d->pool), src[i].name,
                        fg_sink_name(fg_pool_plan(d->pool)->targets[i].sink),
                        src[i].new_sink ? " (new)" : "", specs[i].limit ? "" : ", no limit",
                        specs[i].fallback ? ", fallback " : "",
                        specs[i].fallback
                            ? fg_sink_name(fg_pool_plan(d->pool)->targets[i].fb_sink)
                            : "");
        return 0;
fail:
        destroy_specs(specs, n);
        return -1;
}
