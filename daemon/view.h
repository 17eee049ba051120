/*
 * view: one consistent picture of the running daemon — merged counters and
 * histograms, windowed latencies, rates and every gauge — gathered once and
 * rendered for /metrics (Prometheus text), /stats (JSON), the status log
 * line and /healthz, so they never disagree.
 *
 * Threading: main thread (fg_view_collect merges metric shards and reads
 * component gauges, all of which are safe from there).
 * Ownership: fg_view_collect returns a view the caller frees with
 * fg_view_free; renderers append to the caller's buffer or return a new
 * JSON reference.
 */
#ifndef FG_VIEW_H
#define FG_VIEW_H

#include <jansson.h>
#include <stdbool.h>

#include "breaker/breaker.h"
#include "common/buf.h"
#include "ingest/lag.h"
#include "metrics/metrics.h"
#include "sinks/sink.h"
#include "pipeline/park.h"
#include "pipeline/queue.h"
#include "workers/pool.h"
#include "workers/scaler.h"

struct fg_daemon;

/* The admin server's own numbers (admin.c fills them into each view it
 * serves). */
typedef struct fg_view_admin {
        unsigned connections, max_connections;
        uint64_t refused;       /* connections closed at once: over the cap */
        uint64_t timeouts;      /* requests closed at their deadline */
        uint64_t accept_errors; /* accept() failures (EMFILE, ...): accepts paused */
        uint64_t misdirected;   /* requests answered 421: Host not allowed */
} fg_view_admin_t;

typedef struct fg_view {
        int64_t now_ns;
        double uptime_s;
        bool draining;

        fg_metrics_snap_t snap;            /* since start */
        fg_pool_target_stats_t targets[FG_POOL_MAX_TARGETS]; /* per route / default */
        size_t ntargets;
        fg_hist_t window[FG_HIST__CNT];    /* the last window_s seconds */
        unsigned window_s;
        double rate[FG_CTR__CNT][3];       /* per second over 1, 10, 60 s */

        size_t q_depth, q_bytes, q_capacity, q_max_bytes, q_peak;
        unsigned assigned, paused, pending;
        bool blocked;
        fg_pool_stats_t pool;
        fg_queue_order_stats_t order;
        unsigned order_paused;             /* partitions held back by a hot key */

        bool park_on;                      /* dead_letter.park_key */
        size_t parked, parked_max;
        uint64_t parked_events, parked_overflow;
        fg_park_view_t *park_list;         /* the oldest few parked keys */
        size_t npark_list;

        fg_lag_entry_t *lag;
        size_t nlag;
        int64_t lag_total;                 /* -1 unknown */
        int64_t lag_updated_ms;

        fg_demand_input_t demand_in;       /* the instance-count model's inputs */
        fg_demand_t demand;                /* and its answer */

        fg_brk_stats_t brk;
        bool breaker_enabled;

        fg_sink_stats_t sink;

        long rss_kib, peak_rss_kib;
        double cpu_seconds;             /* user + system since start */
        int threads, open_fds;

        bool healthy, ready;
        char health_reason[160];

        fg_view_admin_t admin;
} fg_view_t;

extern const unsigned fg_view_rate_windows[3]; /* 1, 10, 60 */
/* Parked keys a view lists (the oldest first); the rest are counted. */
#define FG_VIEW_PARK_LIST 20

fg_view_t *fg_view_collect(struct fg_daemon *d);
void fg_view_free(fg_view_t *v);

void fg_view_prometheus(const fg_view_t *v, fg_buf_t *out);
json_t *fg_view_json(const fg_view_t *v);
/* The one-line status for the log. */
void fg_view_status_line(const fg_view_t *v, char *buf, size_t size);

#endif
