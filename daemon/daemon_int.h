/*
 * daemon_int: the running daemon's state, shared by daemon.c (lifecycle),
 * report.c (log line and summary) and the admin HTTP server.
 *
 * Threading: main thread only; the components it points to document which
 * of their getters are safe from here (all gauges are).
 */
#ifndef FG_DAEMON_INT_H
#define FG_DAEMON_INT_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/config.h"
#include "daemon/child.h"
#include "ingest/ingest.h"
#include "metrics/metrics.h"
#include "pipeline/park.h"
#include "pipeline/queue.h"
#include "sinks/sink.h"
#include "workers/pool.h"

/* Windowed latencies: a histogram snapshot a second, this many seconds. */
#define FG_LATENCY_WINDOW_S 10

struct fg_admin;
struct fg_service;

typedef struct fg_daemon {
        fg_config_t *cfg; /* the running configuration */
        const char *config_path;
        bool until_drained;

        struct event_base *base;
        struct event *ev_sig[3];
        struct event *ev_tick;   /* once a second: rates, log line */
        struct event *ev_watch;  /* drain and until-drained checks */

        fg_child_t *mock;        /* kafka.brokers: mock, in a child process */
        const char *bootstrap;   /* kafka.brokers, or the mock's */
        fg_metrics_t *metrics;
        fg_queue_t *q;
        fg_dlq_t *dlq;
        fg_park_t *park;         /* dead_letter.park_key; NULL when off */
        fg_pool_t *pool;         /* owns the sinks, handlers and breakers (a plan) */
        /* Target names breakers log with, for the daemon's life. */
        char tnames[FG_POOL_MAX_TARGETS][FG_TARGET_NAME_MAX];
        size_t ntnames;
        fg_ingest_t *ingest;
        fg_child_t *burst;       /* the burst: section, in a child process */

        struct fg_admin *admin;
        struct fg_service *svc;  /* systemd notifications; NULL without NOTIFY_SOCKET */

        fg_rates_t rates;
        /* hring[i][h]: histogram h as of one tick; FG_LATENCY_WINDOW_S + 1
         * slots so the newest minus the oldest spans the window. */
        fg_hist_t (*hring)[FG_HIST__CNT];
        unsigned hring_head, hring_n;
        int64_t started_ns;
        int64_t next_log_ns;
        bool stopping;
        int64_t stop_deadline_ns;
        int exit_code;
} fg_daemon_t;

/* Fills @p out with the histograms of the last FG_LATENCY_WINDOW_S seconds
 * (@p now minus the oldest kept tick); returns the seconds covered. */
unsigned fg_daemon_window(fg_daemon_t *d, const fg_metrics_snap_t *now, fg_hist_t *out);

/* What a reload changes in the plan (from fg_config_diff). */
typedef struct fg_plan_change {
        bool handler, sink, breaker;
        bool routes;                    /* their number (or presence) changed */
        bool route_sink[FG_POOL_MAX_TARGETS], route_brk[FG_POOL_MAX_TARGETS];
        bool route_any;                 /* a route's filter, name, sink or breaker */
} fg_plan_change_t;

/* targets.c: builds the targets of @p cfg (all of them when @p ch is NULL,
 * at start; else what @p ch says changed, the rest taken from the running
 * plan) and installs them in d->pool. 0, or -1 with the reason (a sink
 * that cannot be opened, ...): the running plan then stays as it was. */
int fg_daemon_install_plan(fg_daemon_t *d, const fg_config_t *cfg, const fg_plan_change_t *ch,
                           char *errstr, size_t errstr_size);

/* report.c */
/* The exit summary; any component may be NULL (nothing without metrics). */
void fg_report_summary(fg_daemon_t *d);
/* VmHWM of process @p pid (0: this one) in KiB; -1 when unreadable. */
long fg_report_peak_rss_kib(pid_t pid);

#endif
