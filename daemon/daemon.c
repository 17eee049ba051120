/*
 * daemon: `floodgate run` (see daemon.h for the lifecycle).
 */
#include "daemon/daemon.h"

#include <event2/thread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/exit.h"
#include "common/log.h"
#include "daemon/admin.h"
#include "daemon/daemon_int.h"
#include "daemon/evlog.h"
#include "daemon/service.h"
#include "daemon/view.h"

#define WATCH_INTERVAL_MS 20
#define MOCK_START_TIMEOUT_MS 30000
/* The load generator flushes what it produced when told to stop; the mock
 * answers at once. */
#define BURST_STOP_TIMEOUT_NS (10 * FG_NS_PER_S)
#define MOCK_STOP_TIMEOUT_NS (5 * FG_NS_PER_S)
#define INGEST_STOP_MIN_NS FG_NS_PER_S
#define HRING_SLOTS (FG_LATENCY_WINDOW_S + 1)

/* In the journal the messages go through the log for their priority:
 * `journalctl -p err` must show why a start or a reload was refused. */
void fg_print_config_errors(const fg_config_errs_t *errs, bool as_log) {
        for (size_t i = 0; i < errs->n; i++) {
                if (as_log || fg_log_to_journal())
                        fg_error("%s", errs->msgs[i]);
                else
                        fprintf(stderr, "%s\n", errs->msgs[i]);
        }
}

static void begin_stop(fg_daemon_t *d, const char *why) {
        if (d->stopping)
                return;
        d->stopping = true;
        d->stop_deadline_ns = fg_mono_ns() + d->cfg->shutdown.timeout_ns;
        fg_service_stopping(d->svc, why);
        fg_info("%s: draining (up to %lld ms)", why,
                (long long)(d->cfg->shutdown.timeout_ns / FG_NS_PER_MS));
        if (d->burst)
                fg_child_stop(d->burst);
        fg_ingest_drain(d->ingest);
}

/* What a reload changes: the parts of the plan to build anew, and how
 * many changes wait for a restart. */
typedef struct reload_scan {
        int restart_needed;
        fg_plan_change_t ch;
} reload_scan_t;

static bool in_plan(const char *name) {
        return !strncmp(name, "handler.", 8) || !strncmp(name, "sink.", 5) ||
               !strncmp(name, "breaker.", 8) || !strncmp(name, "routes", 6);
}

static void on_reload_diff(const char *name, bool live, void *opaque) {
        reload_scan_t *rs = opaque;
        fg_plan_change_t *ch = &rs->ch;
        size_t i;
        char rest[16];

        if (!live) {
                fg_warn("reload: %s changed; takes effect after a restart", name);
                rs->restart_needed++;
        } else if (!strncmp(name, "handler.", 8)) {
                ch->handler = true;
        } else if (!strncmp(name, "sink.", 5)) {
                ch->sink = true;
        } else if (!strncmp(name, "breaker.", 8)) {
                ch->breaker = true;
        } else if (!strcmp(name, "routes")) {
                ch->routes = ch->route_any = true;
        } else if (sscanf(name, "routes[%zu].%15[a-z]", &i, rest) == 2) {
                ch->route_any = true;
                if (i < FG_POOL_MAX_TARGETS && !strcmp(rest, "sink"))
                        ch->route_sink[i] = true;
                else if (i < FG_POOL_MAX_TARGETS && !strcmp(rest, "breaker"))
                        ch->route_brk[i] = true;
        } else {
                fg_info("reload: %s changed; applied", name);
        }
}

/* The second pass, once the plan is built: its changes, applied or not. */
static void on_reload_applied(const char *name, bool live, void *opaque) {
        const bool *applied = opaque;

        if (!live || !in_plan(name))
                return;
        if (*applied)
                fg_info("reload: %s changed; applied", name);
        else
                fg_warn("reload: %s changed; not applied (see the error above)", name);
}

/* Swaps the plan's sections into the running config (their strings go
 * with them); ncfg takes the old ones to the grave. */
static void adopt_sections(fg_config_t *cur, fg_config_t *ncfg) {
        fg_handler_cfg_t h = cur->handler;
        fg_sink_cfg_t s = cur->sink;
        fg_brk_cfg_t b = cur->breaker;
        fg_route_list_t r = cur->routes;

        cur->handler = ncfg->handler, ncfg->handler = h;
        cur->sink = ncfg->sink, ncfg->sink = s;
        cur->breaker = ncfg->breaker, ncfg->breaker = b;
        cur->routes = ncfg->routes, ncfg->routes = r;
}

/* Applies what can change without a restart; the running config keeps the
 * rest, so later reloads keep naming what still differs. */
static void reload(fg_daemon_t *d) {
        fg_config_errs_t errs = {0};
        fg_config_t *ncfg = fg_config_load(d->config_path, &errs);
        reload_scan_t rs = {0};
        const fg_plan_change_t *ch = &rs.ch;
        bool plan = false, applied = true;
        char errstr[512];

        if (!ncfg || fg_config_probe(ncfg, &errs)) {
                fg_config_destroy(ncfg);
                fg_error("reload: %s rejected; still running on the previous configuration",
                         d->config_path);
                fg_print_config_errors(&errs, true);
                fg_config_errs_clear(&errs);
                return;
        }
        fg_config_diff(d->cfg, ncfg, on_reload_diff, &rs);
        d->cfg->log.level = ncfg->log.level;
        fg_log_set_level((fg_log_level_t)ncfg->log.level);
        /* The pool resizes live: new threads start now, retired ones finish
         * their batch first. batch_max is not live (buffers are sized by it). */
        ncfg->workers.batch_max = d->cfg->workers.batch_max;
        /* A new pool size changes the routes' default concurrency limits. */
        plan = ch->handler || ch->sink || ch->breaker || ch->route_any ||
               (d->cfg->routes.n && (d->cfg->workers.size != ncfg->workers.size ||
                                     d->cfg->workers.max != ncfg->workers.max ||
                                     d->cfg->workers.mode != ncfg->workers.mode));
        d->cfg->workers = ncfg->workers;
        fg_pool_reconfigure(d->pool, &d->cfg->workers);
        d->cfg->metrics.log_interval_ns = ncfg->metrics.log_interval_ns;
        d->next_log_ns = fg_mono_ns() + d->cfg->metrics.log_interval_ns;
        /* The running sinks re-read their files (log rotation, renewed
         * certificates); those a new plan keeps go on with them. */
        for (size_t i = 0; i < fg_pool_plan(d->pool)->ntargets; i++) {
                const fg_target_t *t = &fg_pool_plan(d->pool)->targets[i];
                fg_sink_reopen(t->sink);
                if (t->fb_sink)
                        fg_sink_reopen(t->fb_sink);
        }
        if (plan && fg_daemon_install_plan(d, ncfg, ch, errstr, sizeof(errstr))) {
                fg_error("reload: %s; the running plan %u keeps running",
                         errstr, fg_pool_plan_gen(d->pool));
                applied = false;
        }
        fg_config_diff(d->cfg, ncfg, on_reload_applied, &applied);
        if (plan && applied)
                adopt_sections(d->cfg, ncfg);
        fg_info("reload: %s applied%s", d->config_path,
                rs.restart_needed ? " (some changes need a restart)" : "");
        fg_config_destroy(ncfg);
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
        fg_daemon_t *d = arg;

        if (sig == SIGHUP) {
                fg_service_reloading(d->svc);
                reload(d);
                fg_service_reloaded(d->svc);
        } else if (d->stopping) {
                fg_warn("second %s: stopping now", sig == SIGINT ? "SIGINT" : "SIGTERM");
                d->stop_deadline_ns = fg_mono_ns();
        } else {
                begin_stop(d, sig == SIGINT ? "SIGINT" : "SIGTERM");
        }
}

unsigned fg_daemon_window(fg_daemon_t *d, const fg_metrics_snap_t *now, fg_hist_t *out) {
        unsigned oldest, back;

        if (d->hring_n == 0) {
                for (int h = 0; h < FG_HIST__CNT; h++)
                        out[h] = now->hist[h];
                return 0;
        }
        /* The tick FG_LATENCY_WINDOW_S ticks back (or the oldest kept). */
        back = d->hring_n < FG_LATENCY_WINDOW_S ? d->hring_n : FG_LATENCY_WINDOW_S;
        oldest = (d->hring_head + HRING_SLOTS - back) % HRING_SLOTS;
        for (int h = 0; h < FG_HIST__CNT; h++)
                fg_hist_diff(&out[h], &now->hist[h], &d->hring[oldest][h]);
        return back;
}

/* What the pool needs to size itself, from the last second's samples. */
static void pool_load(fg_daemon_t *d, const fg_metrics_snap_t *snap, fg_pool_load_t *load) {
        unsigned newest = (d->hring_head + HRING_SLOTS - 1) % HRING_SLOTS;
        const fg_hist_t *call_then = &d->hring[newest][FG_HIST_SINK_CALL];
        fg_hist_t *recent = malloc(2 * sizeof(*recent));
        double calls = fg_rates_per_sec(&d->rates, FG_CTR_SINK_CALLS, 1);

        *load = (fg_pool_load_t){
            .arrival_per_s = fg_rates_per_sec(&d->rates, FG_CTR_CONSUMED, 1),
            .events_per_call = calls > 0 ? (fg_rates_per_sec(&d->rates, FG_CTR_OK, 1) +
                                            fg_rates_per_sec(&d->rates, FG_CTR_FAILED, 1)) / calls
                                         : 1,
        };
        if (!recent || !d->hring_n)
                goto done;
        fg_hist_diff(&recent[0], &snap->hist[FG_HIST_SINK_CALL], call_then);
        fg_hist_diff(&recent[1], &snap->hist[FG_HIST_QUEUE_WAIT],
                     &d->hring[newest][FG_HIST_QUEUE_WAIT]);
        if (fg_hist_count(&recent[0]))
                load->call_latency_s =
                    (double)fg_hist_sum_ns(&recent[0]) / (double)fg_hist_count(&recent[0]) / 1e9;
        load->queue_wait_p90_ns = fg_hist_quantile_ns(&recent[1], 0.9);
done:
        free(recent);
}

/* Once a second: rate samples, pool sizing, the latency ring, the status
 * line. */
static void on_tick(evutil_socket_t fd, short what, void *arg) {
        fg_daemon_t *d = arg;
        fg_metrics_snap_t *snap = malloc(sizeof(*snap));
        int64_t now = fg_mono_ns();
        fg_pool_load_t load;

        if (!snap)
                return;
        fg_metrics_snapshot(d->metrics, snap);
        fg_rates_tick(&d->rates, snap, now);
        pool_load(d, snap, &load);
        fg_pool_tick(d->pool, &load, now);
        if (d->mock)
                fg_child_sample(d->mock);
        if (d->burst)
                fg_child_sample(d->burst);
        for (int h = 0; h < FG_HIST__CNT; h++)
                d->hring[d->hring_head][h] = snap->hist[h];
        d->hring_head = (d->hring_head + 1) % HRING_SLOTS;
        if (d->hring_n < HRING_SLOTS)
                d->hring_n++;
        free(snap);

        if (d->cfg->metrics.log_interval_ns > 0 && now >= d->next_log_ns) {
                fg_view_t *v = fg_view_collect(d);
                char line[512];
                if (v) {
                        fg_view_status_line(v, line, sizeof(line));
                        fg_info("%s", line);
                        fg_view_free(v);
                }
                d->next_log_ns = now + d->cfg->metrics.log_interval_ns;
        }
        fg_service_tick(d->svc, now);
}

/* Drives the stop: once the queue is empty and no worker is busy (or the
 * deadline passed) the loop ends and teardown runs. Also starts the stop
 * for --until-drained. */
static void on_watch(evutil_socket_t fd, short what, void *arg) {
        fg_daemon_t *d = arg;

        if (!d->stopping && fg_pool_failed(d->pool)) {
                d->exit_code = FG_EXIT_FAILURE;
                begin_stop(d, "invalid event with handler.on_invalid: fail");
        }
        /* The events and their offsets live in the mock: without it there
         * is nothing to drain or commit to. */
        if (!d->stopping && d->mock && fg_child_finished(d->mock)) {
                d->exit_code = FG_EXIT_FAILURE;
                begin_stop(d, "the embedded mock cluster is gone");
                d->stop_deadline_ns = fg_mono_ns();
        }
        if (!d->stopping) {
                /* Reaps the generator as soon as it is done, drained or not. */
                bool burst_done = !d->burst || fg_child_finished(d->burst);
                if (d->until_drained && burst_done && fg_ingest_drained(d->ingest))
                        begin_stop(d, "drained");
                return;
        }
        if ((fg_queue_depth(d->q) == 0 && fg_pool_busy(d->pool) == 0 &&
             fg_ingest_pending(d->ingest) == 0) ||
            fg_mono_ns() >= d->stop_deadline_ns)
                event_base_loopbreak(d->base);
}

static int setup_events(fg_daemon_t *d, char *errstr, size_t errstr_size) {
        static const int sigs[3] = {SIGTERM, SIGINT, SIGHUP};
        struct timeval one_s = {1, 0}, watch = {0, WATCH_INTERVAL_MS * 1000};

        for (int i = 0; i < 3; i++) {
                d->ev_sig[i] = evsignal_new(d->base, sigs[i], on_signal, d);
                if (!d->ev_sig[i] || evsignal_add(d->ev_sig[i], NULL)) {
                        snprintf(errstr, errstr_size, "cannot install signal handlers");
                        return -1;
                }
        }
        d->ev_tick = event_new(d->base, -1, EV_PERSIST, on_tick, d);
        d->ev_watch = event_new(d->base, -1, EV_PERSIST, on_watch, d);
        if (!d->ev_tick || !d->ev_watch || event_add(d->ev_tick, &one_s) ||
            event_add(d->ev_watch, &watch)) {
                snprintf(errstr, errstr_size, "cannot create timers");
                return -1;
        }
        return 0;
}

/* Builds every component. Returns an exit code: 0 to go on. */
static int build(fg_daemon_t *d, char *errstr, size_t errstr_size) {
        const fg_config_t *cfg = d->cfg;
        const char *bootstrap = cfg->kafka.brokers;

        if (!strcmp(cfg->kafka.brokers, "mock")) {
                d->mock = fg_child_mock_start(&cfg->kafka, MOCK_START_TIMEOUT_MS, errstr,
                                              errstr_size);
                if (!d->mock)
                        return FG_EXIT_FAILURE;
                bootstrap = fg_child_bootstrap(d->mock);
                fg_info("embedded mock cluster: %s", bootstrap);
        }
        d->bootstrap = bootstrap;
        d->metrics = fg_metrics_new();
        d->q = fg_queue_new(&cfg->queue, errstr, errstr_size);
        if (!d->q)
                return FG_EXIT_CONFIG;
        if (cfg->dead_letter.topic) {
                d->dlq = fg_dlq_new(&cfg->dead_letter, bootstrap, cfg->sink.timeout_ns, errstr,
                                    errstr_size);
                if (!d->dlq)
                        return FG_EXIT_CONFIG;
        }
        d->pool = fg_pool_new(&cfg->workers, d->q, d->dlq, d->metrics, errstr, errstr_size);
        if (!d->pool)
                return FG_EXIT_FAILURE;
        if (fg_daemon_install_plan(d, cfg, NULL, errstr, errstr_size))
                return FG_EXIT_FAILURE;
        if (cfg->dead_letter.park_key) {
                d->park = fg_park_new((size_t)cfg->dead_letter.max_parked_keys);
                if (!d->park) {
                        snprintf(errstr, errstr_size, "out of memory");
                        return FG_EXIT_FAILURE;
                }
                fg_pool_set_park(d->pool, d->park);
        }
        /* librdkafka refusing a kafka.properties value is a config error. */
        d->ingest = fg_ingest_new(&cfg->kafka, &cfg->ingest, bootstrap, d->q, d->metrics, errstr,
                                  errstr_size);
        if (!d->ingest)
                return FG_EXIT_CONFIG;
        if (cfg->metrics.listen && strcmp(cfg->metrics.listen, "off")) {
                d->admin = fg_admin_new(d, cfg->metrics.listen, errstr, errstr_size);
                if (!d->admin)
                        return FG_EXIT_FAILURE;
        }
        return FG_EXIT_OK;
}

/* The load generator starts once the pipeline runs, as the in-process one
 * did. */
static int start(fg_daemon_t *d, char *errstr, size_t errstr_size) {
        const fg_config_t *cfg = d->cfg;

        if (fg_pool_start(d->pool, errstr, errstr_size) ||
            fg_ingest_start(d->ingest, errstr, errstr_size))
                return -1;
        if (cfg->burst.enabled) {
                const char *topic = cfg->burst.topic ? cfg->burst.topic : cfg->kafka.topics.v[0];
                d->burst = fg_child_burst_start(&cfg->burst, d->bootstrap, topic, errstr,
                                                errstr_size);
                if (!d->burst)
                        return -1;
        }
        return 0;
}

static void teardown(fg_daemon_t *d) {
        bool stuck = false; /* the ingest thread still runs: leave what it uses */

        if (d->pool && d->ingest) {
                int64_t left = d->stop_deadline_ns - fg_mono_ns();
                /* Past the deadline unfinished work is abandoned, not lost:
                 * its offsets stay uncommitted. */
                fg_pool_stop(d->pool, left > 0 ? left : 0);
        }
        if (d->ingest) {
                /* The final commit and the group leave get what is left of
                 * shutdown.timeout, and at least a second (a reachable
                 * cluster commits in milliseconds). */
                int64_t left = d->stop_deadline_ns - fg_mono_ns();
                if (left < INGEST_STOP_MIN_NS)
                        left = INGEST_STOP_MIN_NS;
                if (!fg_ingest_stop(d->ingest, left)) {
                        fg_error("the consumer did not stop within %lld ms (Kafka unreachable?): "
                                 "exiting without its final commit; uncommitted events will be "
                                 "redelivered",
                                 (long long)(left / FG_NS_PER_MS));
                        stuck = true;
                }
        }
        /* Without its mock the generator cannot flush: destroyed (killed)
         * below instead. */
        if (d->burst && !(d->mock && fg_child_finished(d->mock)))
                fg_child_wait(d->burst, BURST_STOP_TIMEOUT_NS);
        if (d->mock)
                fg_child_sample(d->mock);
        fg_report_summary(d);
        fg_service_destroy(d->svc);
        fg_admin_destroy(d->admin);
        if (!stuck)
                fg_ingest_destroy(d->ingest);
        fg_pool_destroy(d->pool);
        fg_park_destroy(d->park);
        if (!stuck)
                fg_queue_destroy(d->q);
        fg_dlq_destroy(d->dlq);
        fg_child_destroy(d->burst);
        if (!stuck)
                fg_metrics_destroy(d->metrics);
        /* After the final commit: the consumer talks to the mock up to the
         * end. A consumer that did not stop talks to nothing now. */
        if (d->mock)
                fg_child_wait(d->mock, MOCK_STOP_TIMEOUT_NS);
        fg_child_destroy(d->mock);
        for (int i = 0; i < 3; i++)
                if (d->ev_sig[i])
                        event_free(d->ev_sig[i]);
        if (d->ev_tick)
                event_free(d->ev_tick);
        if (d->ev_watch)
                event_free(d->ev_watch);
        if (d->base)
                event_base_free(d->base);
        free(d->hring);
        fg_config_destroy(d->cfg);
}

int fg_daemon_run(const fg_run_opts_t *opts) {
        fg_daemon_t d;
        fg_config_errs_t errs = {0};
        char errstr[512] = "";

        memset(&d, 0, sizeof(d));
        d.config_path = opts->config_path;
        d.until_drained = opts->until_drained;
        d.cfg = fg_config_load(opts->config_path, &errs);
        if (!d.cfg || fg_config_probe(d.cfg, &errs)) {
                fg_print_config_errors(&errs, false);
                fg_config_errs_clear(&errs);
                fg_config_destroy(d.cfg);
                return FG_EXIT_CONFIG;
        }
        fg_log_set_level((fg_log_level_t)d.cfg->log.level);
        d.started_ns = fg_mono_ns();
        d.next_log_ns = d.started_ns + d.cfg->metrics.log_interval_ns;
        d.hring = calloc(HRING_SLOTS, sizeof(*d.hring));
        if (!d.hring) {
                fg_error("out of memory");
                fg_config_destroy(d.cfg);
                return FG_EXIT_FAILURE;
        }

        /* Worker threads must not take the signals the loop handles. */
        signal(SIGPIPE, SIG_IGN);
        evthread_use_pthreads();
        fg_evlog_install();
        d.base = event_base_new();
        if (!d.base) {
                fg_error("cannot create the event loop");
                d.exit_code = FG_EXIT_FAILURE;
                goto done;
        }
        d.svc = fg_service_new(&d);
        d.exit_code = build(&d, errstr, sizeof(errstr));
        if (d.exit_code != FG_EXIT_OK) {
                fg_error("%s", errstr);
                goto done;
        }
        if (setup_events(&d, errstr, sizeof(errstr)) || start(&d, errstr, sizeof(errstr))) {
                fg_error("%s", errstr);
                d.exit_code = FG_EXIT_FAILURE;
                d.stop_deadline_ns = fg_mono_ns();
                goto done;
        }
        fg_info("floodgate %s running: group %s, topics %zu, %s sink, %lld workers, ordering %s",
                FG_VERSION, d.cfg->kafka.group_id, d.cfg->kafka.topics.n, fg_sink_name(fg_pool_sink(d.pool)),
                (long long)d.cfg->workers.size, fg_queue_ordering_name(d.cfg->workers.ordering));
        fg_service_ready(d.svc);

        event_base_dispatch(d.base);
        fg_info("stopping");

done:
        teardown(&d);
        return d.exit_code;
}
