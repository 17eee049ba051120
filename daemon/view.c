/*
 * view: gather and render the daemon's picture (see view.h).
 */
#include "daemon/view.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "daemon/daemon_int.h"
#include "metrics/expo.h"

const unsigned fg_view_rate_windows[3] = {1, 10, 60};

static long status_kib(const char *field) {
        char line[256];
        size_t flen = strlen(field);
        long v = -1;
        FILE *fp = fopen("/proc/self/status", "r");

        if (!fp)
                return -1;
        while (fgets(line, sizeof(line), fp))
                if (!strncmp(line, field, flen) && line[flen] == ':')
                        v = strtol(line + flen + 1, NULL, 10);
        fclose(fp);
        return v;
}

static int count_dir(const char *path) {
        DIR *dir = opendir(path);
        struct dirent *de;
        int n = 0;

        if (!dir)
                return -1;
        while ((de = readdir(dir)))
                n += de->d_name[0] != '.';
        closedir(dir);
        return n - 1; /* the descriptor opendir holds */
}

/* utime + stime of this process, in seconds. */
static double cpu_seconds(void) {
        char buf[1024], *p;
        unsigned long long ut = 0, st = 0;
        FILE *fp = fopen("/proc/self/stat", "r");
        bool ok;

        if (!fp)
                return -1;
        ok = fgets(buf, sizeof(buf), fp) != NULL;
        fclose(fp);
        p = ok ? strrchr(buf, ')') : NULL; /* the name may hold spaces */
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
                return -1;
        return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The health verdict: the ingest loop turns and no worker is wedged in one
 * sink call for longer than metrics.stall_timeout. */
static void judge_health(fg_daemon_t *d, fg_view_t *v) {
        int64_t stall = d->cfg->metrics.stall_timeout_ns;
        int64_t beat = fg_ingest_heartbeat_ns(d->ingest);
        /* A revocation legitimately holds the loop up to rebalance_timeout. */
        int64_t ingest_limit = stall + d->cfg->ingest.rebalance_timeout_ns;
        int64_t longest = fg_pool_longest_call_ns(d->pool, v->now_ns);

        v->healthy = true;
        if (beat && v->now_ns - beat > ingest_limit) {
                v->healthy = false;
                snprintf(v->health_reason, sizeof(v->health_reason),
                         "ingest loop has not turned for %lld ms",
                         (long long)((v->now_ns - beat) / FG_NS_PER_MS));
        } else if (longest > stall) {
                v->healthy = false;
                snprintf(v->health_reason, sizeof(v->health_reason),
                         "a worker has been inside one sink call for %lld ms",
                         (long long)(longest / FG_NS_PER_MS));
        }
        v->ready = v->healthy && v->assigned > 0 && !v->draining;
        if (v->healthy && !v->ready)
                snprintf(v->health_reason, sizeof(v->health_reason), "%s",
                         v->draining ? "draining" : "no partitions assigned yet");
}

/* The instance-count model (workers/scaler.h) over the last 10 s: finished
 * events, the pool's capacity from its sink calls (most concurrent calls x
 * events per call / mean call latency), the arrival rate and lag from
 * librdkafka's statistics. */
static void demand(fg_daemon_t *d, fg_view_t *v) {
        const double *ok = v->rate[FG_CTR_OK], *calls = v->rate[FG_CTR_SINK_CALLS];
        const fg_hist_t *call = &v->window[FG_HIST_SINK_CALL];
        double per_call = calls[1] > 0 ? (ok[1] + v->rate[FG_CTR_FAILED][1]) / calls[1] : 0;
        double latency_s = fg_hist_count(call)
                               ? (double)fg_hist_sum_ns(call) / (double)fg_hist_count(call) / 1e9
                               : 0;
        unsigned slots = v->pool.limit && v->pool.limit < v->pool.max ? v->pool.limit : v->pool.max;
        double arrival = fg_ingest_arrival(d->ingest);

        v->demand_in = (fg_demand_input_t){
            .partitions = v->assigned,
            .arrival_per_s = arrival > 0 ? arrival : 0,
            .finished_per_s = ok[1] + v->rate[FG_CTR_FILTERED][1] + v->rate[FG_CTR_DEAD_LETTER][1] +
                              v->rate[FG_CTR_DROPPED][1],
            .capacity_per_s = latency_s > 0 && per_call > 0 ? slots * per_call / latency_s : 0,
            .lag = v->lag_total,
            .drain_within_s = (double)d->cfg->workers.drain_within_ns / 1e9,
        };
        fg_scaler_demand(&v->demand_in, &v->demand);
}

fg_view_t *fg_view_collect(fg_daemon_t *d) {
        fg_view_t *v = calloc(1, sizeof(*v));

        if (!v)
                return NULL;
        v->now_ns = fg_mono_ns();
        v->uptime_s = (double)(v->now_ns - d->started_ns) / 1e9;
        v->draining = d->stopping;

        fg_metrics_snapshot(d->metrics, &v->snap);
        v->window_s = fg_daemon_window(d, &v->snap, v->window);
        for (int c = 0; c < FG_CTR__CNT; c++)
                for (int w = 0; w < 3; w++)
                        v->rate[c][w] = fg_rates_per_sec(&d->rates, (fg_ctr_t)c, fg_view_rate_windows[w]);

        v->q_depth = fg_queue_depth(d->q);
        v->q_bytes = fg_queue_bytes(d->q);
        v->q_capacity = fg_queue_capacity(d->q);
        v->q_max_bytes = fg_queue_max_bytes(d->q);
        v->q_peak = fg_queue_peak_depth(d->q);
        v->assigned = fg_ingest_assigned(d->ingest);
        v->paused = fg_ingest_paused(d->ingest);
        v->pending = fg_ingest_pending(d->ingest);
        v->blocked = fg_ingest_blocked(d->ingest);
        fg_pool_get_stats(d->pool, &v->pool);
        v->ntargets = fg_pool_target_stats(d->pool, v->targets, FG_POOL_MAX_TARGETS, v->now_ns);
        fg_queue_get_order_stats(d->q, &v->order);
        v->order_paused = fg_ingest_held(d->ingest);
        if (d->park) {
                v->park_on = true;
                v->parked = fg_park_count(d->park);
                v->parked_max = fg_park_max(d->park);
                v->parked_events = fg_park_parked_total(d->park);
                v->parked_overflow = fg_park_overflow_total(d->park);
                if (v->parked && (v->park_list = calloc(FG_VIEW_PARK_LIST, sizeof(*v->park_list))))
                        v->npark_list = fg_park_list(d->park, v->park_list, FG_VIEW_PARK_LIST);
        }
        v->nlag = fg_ingest_lag(d->ingest, &v->lag, &v->lag_total, &v->lag_updated_ms);
        fg_brk_get_stats(fg_pool_breaker(d->pool), v->now_ns, &v->brk);
        v->breaker_enabled = d->cfg->breaker.enabled;
        fg_sink_get_stats(fg_pool_sink(d->pool), &v->sink);
        demand(d, v);

        v->rss_kib = status_kib("VmRSS");
        v->peak_rss_kib = status_kib("VmHWM");
        v->cpu_seconds = cpu_seconds();
        v->threads = count_dir("/proc/self/task") + 1;
        v->open_fds = count_dir("/proc/self/fd");
        judge_health(d, v);
        return v;
}

void fg_view_free(fg_view_t *v) {
        if (!v)
                return;
        free(v->lag);
        free(v->park_list);
        free(v);
}

/* ---- Prometheus ---- */

static const struct {
        fg_ctr_t ctr;
        const char *outcome;
} outcomes[] = {
    {FG_CTR_OK, "ok"},
    {FG_CTR_FILTERED, "filtered"},
    {FG_CTR_FAILED, "failed"},
    {FG_CTR_DEAD_LETTER, "dead_letter"},
    {FG_CTR_DROPPED, "dropped"},
};

static void counter(fg_buf_t *b, const char *name, const char *help, uint64_t value) {
        fg_prom_header(b, name, "counter", help);
        fg_prom_sample(b, name, NULL, (double)value);
}

static void gauge(fg_buf_t *b, const char *name, const char *help, double value) {
        fg_prom_header(b, name, "gauge", help);
        fg_prom_sample(b, name, NULL, value);
}

static void histogram(fg_buf_t *b, const char *name, const char *help, const fg_hist_t *h) {
        fg_prom_header(b, name, "histogram", help);
        fg_prom_histogram(b, name, NULL, h);
}

void fg_view_prometheus(const fg_view_t *v, fg_buf_t *b) {
        const uint64_t *c = v->snap.ctr;
        fg_buf_t labels = FG_BUF_INIT;

        fg_prom_header(b, "floodgate_build_info", "gauge", "floodgate version");
        fg_prom_label(&labels, "version", FG_VERSION);
        fg_prom_sample(b, "floodgate_build_info", fg_buf_cstr(&labels), 1);
        gauge(b, "floodgate_uptime_seconds", "seconds since start", v->uptime_s);
        gauge(b, "floodgate_draining", "1 while shutting down", v->draining);

        counter(b, "floodgate_messages_consumed_total", "messages taken from Kafka",
                c[FG_CTR_CONSUMED]);
        counter(b, "floodgate_consumed_bytes_total", "payload bytes taken from Kafka",
                c[FG_CTR_CONSUMED_BYTES]);
        fg_prom_header(b, "floodgate_messages_processed_total", "counter",
                       "events by outcome: ok, filtered, dead_letter and dropped are final; "
                       "failed counts failed sink attempts");
        for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++) {
                fg_buf_reset(&labels);
                fg_prom_label(&labels, "outcome", outcomes[i].outcome);
                fg_prom_sample(b, "floodgate_messages_processed_total", fg_buf_cstr(&labels),
                               (double)c[outcomes[i].ctr]);
        }
        fg_prom_header(b, "floodgate_route_delivered_total", "counter",
                       "events each route's sinks acknowledged (route default: the top-level "
                       "sink), by sink: primary, or fallback (sink.fallback)");
        for (size_t i = 0; i < v->ntargets; i++) {
                fg_buf_reset(&labels);
                fg_prom_label(&labels, "route", v->targets[i].name);
                fg_prom_label(&labels, "sink", "primary");
                fg_prom_sample(b, "floodgate_route_delivered_total", fg_buf_cstr(&labels),
                               (double)v->targets[i].delivered);
                fg_buf_reset(&labels);
                fg_prom_label(&labels, "route", v->targets[i].name);
                fg_prom_label(&labels, "sink", "fallback");
                fg_prom_sample(b, "floodgate_route_delivered_total", fg_buf_cstr(&labels),
                               (double)v->targets[i].fallback);
        }
        fg_prom_header(b, "floodgate_route_held_total", "counter",
                       "events parked in a route's holding queue (its concurrency limit was "
                       "reached, or the worker carried another route's events first)");
        for (size_t i = 0; i < v->ntargets; i++) {
                fg_buf_reset(&labels);
                fg_prom_label(&labels, "route", v->targets[i].name);
                fg_prom_sample(b, "floodgate_route_held_total", fg_buf_cstr(&labels),
                               (double)v->targets[i].held);
        }
        fg_prom_header(b, "floodgate_route_held_events", "gauge",
                       "events in a route's holding queue now (at most queue.capacity each)");
        for (size_t i = 0; i < v->ntargets; i++) {
                if (!v->targets[i].live)
                        continue;
                fg_buf_reset(&labels);
                fg_prom_label(&labels, "route", v->targets[i].name);
                fg_prom_sample(b, "floodgate_route_held_events", fg_buf_cstr(&labels),
                               (double)v->targets[i].held_now);
        }
        fg_prom_header(b, "floodgate_route_breaker_state", "gauge",
                       "each route's breaker (route default: the top-level sink's): 1 for its "
                       "current state");
        for (size_t i = 0; i < v->ntargets; i++) {
                if (!v->targets[i].live)
                        continue;
                for (int st = 0; st < FG_BRK__STATE_CNT; st++) {
                        fg_buf_reset(&labels);
                        fg_prom_label(&labels, "route", v->targets[i].name);
                        fg_prom_label(&labels, "state", fg_brk_state_name((fg_brk_state_t)st));
                        fg_prom_sample(b, "floodgate_route_breaker_state", fg_buf_cstr(&labels),
                                       v->targets[i].brk == (fg_brk_state_t)st);
                }
        }
        counter(b, "floodgate_retries_total", "event sends retried after a failure",
                c[FG_CTR_RETRIES]);
        counter(b, "floodgate_sink_calls_total", "calls into the sink (a batch counts once)",
                c[FG_CTR_SINK_CALLS]);
        counter(b, "floodgate_rebalances_total", "consumer group assignments and revocations",
                c[FG_CTR_REBALANCES]);
        counter(b, "floodgate_offset_commits_total",
                "offset commits sent: every kafka.commit_every events or auto.commit.interval.ms, "
                "on revocation and at the end",
                c[FG_CTR_COMMITS]);
        counter(b, "floodgate_backpressure_pauses_total",
                "times ingest paused its partitions because the queue stayed full",
                c[FG_CTR_PAUSES]);
        counter(b, "floodgate_backpressure_resumes_total", "times ingest resumed them",
                c[FG_CTR_RESUMES]);

        gauge(b, "floodgate_queue_depth", "messages in the queue", (double)v->q_depth);
        gauge(b, "floodgate_queue_bytes", "payload bytes in the queue", (double)v->q_bytes);
        gauge(b, "floodgate_queue_capacity", "queue.capacity", (double)v->q_capacity);
        gauge(b, "floodgate_queue_max_bytes", "queue.max_bytes", (double)v->q_max_bytes);
        gauge(b, "floodgate_partitions_assigned", "partitions assigned to this instance",
              v->assigned);
        gauge(b, "floodgate_partitions_paused", "assigned partitions paused for backpressure",
              v->paused);
        gauge(b, "floodgate_ingest_blocked", "1 while ingest waits for the queue to drain",
              v->blocked);
        gauge(b, "floodgate_ingest_pending", "messages polled but not yet queued", v->pending);
        fg_prom_header(b, "floodgate_breaker_state", "gauge",
                       "1 for the circuit breaker's current state, 0 for the others");
        for (int s = 0; s < FG_BRK__STATE_CNT; s++) {
                fg_buf_reset(&labels);
                fg_prom_label(&labels, "state", fg_brk_state_name((fg_brk_state_t)s));
                fg_prom_sample(b, "floodgate_breaker_state", fg_buf_cstr(&labels),
                               v->brk.state == (fg_brk_state_t)s);
        }
        fg_prom_header(b, "floodgate_breaker_transitions_total", "counter",
                       "breaker state changes, by the state entered");
        for (int s = 0; s < FG_BRK__STATE_CNT; s++) {
                fg_buf_reset(&labels);
                fg_prom_label(&labels, "to", fg_brk_state_name((fg_brk_state_t)s));
                fg_prom_sample(b, "floodgate_breaker_transitions_total", fg_buf_cstr(&labels),
                               (double)v->brk.transitions[s]);
        }
        counter(b, "floodgate_breaker_calls_not_permitted_total",
                "sink calls the breaker refused (each is retried or dead-lettered)",
                v->brk.not_permitted);
        gauge(b, "floodgate_breaker_failure_rate",
              "failure share in the breaker's window (NaN below min_calls)",
              v->brk.failure_rate < 0 ? NAN : v->brk.failure_rate);
        gauge(b, "floodgate_breaker_slow_call_rate",
              "slow-call share in the breaker's window (NaN below min_calls)",
              v->brk.slow_rate < 0 ? NAN : v->brk.slow_rate);
        gauge(b, "floodgate_admin_connections", "connections to these endpoints now",
              v->admin.connections);
        gauge(b, "floodgate_admin_connections_max",
              "connections the endpoints keep at once; more are closed at accept",
              v->admin.max_connections);
        counter(b, "floodgate_admin_connections_refused_total",
                "connections closed at accept because the maximum was reached", v->admin.refused);
        counter(b, "floodgate_admin_request_timeouts_total",
                "connections closed because a request took longer than its 5 s deadline",
                v->admin.timeouts);
        counter(b, "floodgate_admin_accept_errors_total",
                "failed accepts (file-descriptor limit, ...), each pausing accepts a while",
                v->admin.accept_errors);
        counter(b, "floodgate_admin_misdirected_requests_total",
                "requests answered 421: Host not the listen address, loopback or allowed",
                v->admin.misdirected);
        fg_prom_header(b, "floodgate_sink_tls_handshakes_total", "counter",
                       "TLS handshakes with an https sink, by whether they resumed a session");
        fg_prom_sample(b, "floodgate_sink_tls_handshakes_total", "session=\"new\"",
                       (double)v->sink.tls_handshakes);
        fg_prom_sample(b, "floodgate_sink_tls_handshakes_total", "session=\"resumed\"",
                       (double)v->sink.tls_resumed);
        counter(b, "floodgate_sink_tls_errors_total",
                "connections to an https sink that failed in TLS (handshake, certificate "
                "verification, alerts); each is retried",
                v->sink.tls_errors);
        gauge(b, "floodgate_workers", "worker threads", v->pool.running);
        gauge(b, "floodgate_workers_busy", "workers handling a batch", v->pool.busy);
        gauge(b, "floodgate_workers_target", "threads the pool is sizing itself to", v->pool.target);
        gauge(b, "floodgate_workers_min", "workers.min (fixed: workers.size)", v->pool.min);
        gauge(b, "floodgate_workers_max", "workers.max (fixed: workers.size)", v->pool.max);
        counter(b, "floodgate_workers_scale_ups_total", "times a dynamic pool grew", v->pool.scale_ups);
        counter(b, "floodgate_workers_scale_downs_total", "times a dynamic pool shrank",
                v->pool.scale_downs);
        fg_prom_header(b, "floodgate_workers_ordering", "gauge",
                       "1 for workers.ordering's current mode, 0 for the others");
        for (int m = FG_ORDER_NONE; m <= FG_ORDER_KEY; m++) {
                fg_buf_reset(&labels);
                fg_prom_label(&labels, "mode", fg_queue_ordering_name((fg_ordering_t)m));
                fg_prom_sample(b, "floodgate_workers_ordering", fg_buf_cstr(&labels),
                               v->order.mode == (fg_ordering_t)m);
        }
        gauge(b, "floodgate_ordering_waiting_events",
              "events in the queue waiting behind an earlier event of their key (or partition)",
              (double)v->order.blocked);
        gauge(b, "floodgate_ordering_blocked_keys",
              "keys (or partitions) with events waiting behind an earlier one",
              (double)v->order.blocked_keys);
        gauge(b, "floodgate_ordering_busy_keys", "keys (or partitions) with an event in flight",
              (double)v->order.busy_keys);
        gauge(b, "floodgate_ordering_held_partitions",
              "partitions paused alone because their events wait behind earlier events of their "
              "keys beyond their share of the queue",
              v->order_paused);
        gauge(b, "floodgate_ordering_switching",
              "1 while a switch into partition or key ordering waits for the events in flight",
              v->order.switching);
        gauge(b, "floodgate_parked_keys", "keys parked by dead_letter.park_key", (double)v->parked);
        counter(b, "floodgate_parked_events_total",
                "events dead-lettered because their key was parked", v->parked_events);
        counter(b, "floodgate_parked_keys_overflow_total",
                "dead letters that did not park their key: dead_letter.max_parked_keys reached",
                v->parked_overflow);
        gauge(b, "floodgate_sink_concurrency_limit",
              "adaptive limit on concurrent sink calls (dynamic pools; 0 when fixed)", v->pool.limit);
        gauge(b, "floodgate_sink_rtt_seconds",
              "the concurrency limit's long-term sink round-trip estimate (dynamic pools)",
              v->pool.rtt_mean_ms / 1e3);

        fg_prom_header(b, "floodgate_consumer_lag", "gauge",
                       "messages between a partition's end and the last finished offset");
        for (size_t i = 0; i < v->nlag; i++) {
                char part[16];
                if (v->lag[i].lag < 0)
                        continue;
                snprintf(part, sizeof(part), "%d", (int)v->lag[i].partition);
                fg_buf_reset(&labels);
                fg_prom_label(&labels, "topic", v->lag[i].topic);
                fg_prom_label(&labels, "partition", part);
                fg_prom_sample(b, "floodgate_consumer_lag", fg_buf_cstr(&labels),
                               (double)v->lag[i].lag);
        }
        gauge(b, "floodgate_consumer_total_lag", "sum of the known partition lags",
              v->lag_total < 0 ? 0 : (double)v->lag_total);

        gauge(b, "floodgate_desired_instances",
              "instances this one's partitions need to keep up and drain the lag within "
              "workers.drain_within (0..its partitions); scale the group to ceil(sum)",
              v->demand.desired);
        gauge(b, "floodgate_time_to_drain_seconds",
              "time this instance needs to clear its lag at the present pace (+Inf: never)",
              v->demand.time_to_drain_s);
        gauge(b, "floodgate_service_rate", "events per second one instance finishes, as the "
              "instance model estimates it (0 = unknown)", v->demand.service_per_s);
        gauge(b, "floodgate_arrival_rate", "events per second produced into the assigned partitions",
              v->demand_in.arrival_per_s);

        histogram(b, "floodgate_end_to_end_seconds",
                  "Kafka message timestamp to final outcome", &v->snap.hist[FG_HIST_E2E]);
        histogram(b, "floodgate_queue_wait_seconds", "time an event waited in the queue",
                  &v->snap.hist[FG_HIST_QUEUE_WAIT]);
        histogram(b, "floodgate_sink_call_seconds", "duration of one sink call",
                  &v->snap.hist[FG_HIST_SINK_CALL]);

        gauge(b, "floodgate_process_resident_memory_bytes", "resident set size",
              (double)v->rss_kib * 1024);
        gauge(b, "floodgate_process_peak_resident_memory_bytes", "peak resident set size",
              (double)v->peak_rss_kib * 1024);
        fg_prom_header(b, "floodgate_process_cpu_seconds_total", "counter",
                       "user and system CPU time");
        fg_prom_sample(b, "floodgate_process_cpu_seconds_total", NULL, v->cpu_seconds);
        gauge(b, "floodgate_process_threads", "threads", v->threads);
        gauge(b, "floodgate_process_open_fds", "open file descriptors", v->open_fds);
        gauge(b, "floodgate_healthy", "1 when /healthz answers 200", v->healthy);
        fg_buf_free(&labels);
}

/* ---- JSON ---- */

static json_t *json_int_or_null(int64_t v) { return v < 0 ? json_null() : json_integer(v); }

/* A key as JSON text: printable ASCII as is, any other byte as \xNN (keys
 * are bytes, JSON strings are UTF-8). */
static json_t *key_json(const char *key, size_t shown) {
        char buf[4 * FG_PARK_KEY_MAX + 1];
        size_t n = 0;

        for (size_t i = 0; i < shown; i++) {
                unsigned char c = (unsigned char)key[i];
                if (c >= 0x20 && c < 0x7f && c != '\\')
                        buf[n++] = (char)c;
                else
                        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\\x%02x", c);
        }
        buf[n] = '\0';
        return json_string(buf);
}

/* "parked": {"enabled", "keys", "max", "events", "overflow", "list": [...]} */
static json_t *park_json(const fg_view_t *v) {
        json_t *list = json_array();

        for (size_t i = 0; i < v->npark_list; i++) {
                const fg_park_view_t *p = &v->park_list[i];
                size_t shown = p->key_len < FG_PARK_KEY_MAX ? p->key_len : FG_PARK_KEY_MAX;
                json_array_append_new(
                    list, json_pack("{s:s, s:i, s:o, s:I, s:I, s:I, s:I, s:s}", "topic", p->topic,
                                    "partition", (int)p->partition, "key", key_json(p->key, shown),
                                    "key_bytes", (json_int_t)p->key_len, "since_ms",
                                    (json_int_t)p->since_ms, "first_offset",
                                    (json_int_t)p->first_offset, "events", (json_int_t)p->events,
                                    "reason", p->reason));
        }
        return json_pack("{s:b, s:I, s:I, s:I, s:I, s:o}", "enabled", (int)v->park_on, "keys",
                         (json_int_t)v->parked, "max", (json_int_t)v->parked_max, "events",
                         (json_int_t)v->parked_events, "overflow", (json_int_t)v->parked_overflow,
                         "list", list);
}

json_t *fg_view_json(const fg_view_t *v) {
        json_t *root = json_object(), *counters = json_object(), *rates = json_object();
        json_t *lat = json_object(), *lat_total = json_object(), *lag = json_object();
        json_t *parts = json_array();
        static const fg_ctr_t rated[] = {FG_CTR_CONSUMED, FG_CTR_OK, FG_CTR_FAILED,
                                         FG_CTR_FILTERED, FG_CTR_DEAD_LETTER, FG_CTR_DROPPED};

        json_object_set_new(root, "version", json_string(FG_VERSION));
        json_object_set_new(root, "uptime_s", json_real(v->uptime_s));
        json_object_set_new(root, "state", json_string(v->draining ? "draining" : "running"));

        for (int c = 0; c < FG_CTR__CNT; c++)
                json_object_set_new(counters, fg_ctr_name((fg_ctr_t)c),
                                    json_integer((json_int_t)v->snap.ctr[c]));
        json_object_set_new(root, "counters", counters);

        for (size_t i = 0; i < sizeof(rated) / sizeof(rated[0]); i++) {
                json_t *r = json_object();
                for (int w = 0; w < 3; w++) {
                        char key[8];
                        snprintf(key, sizeof(key), "%us", fg_view_rate_windows[w]);
                        json_object_set_new(r, key, json_real(v->rate[rated[i]][w]));
                }
                json_object_set_new(rates, fg_ctr_name(rated[i]), r);
        }
        json_object_set_new(root, "rates", rates);

        json_object_set_new(lat, "window_s", json_integer(v->window_s));
        for (int h = 0; h < FG_HIST__CNT; h++) {
                json_object_set_new(lat, fg_hist_name((fg_hist_id_t)h), fg_hist_to_json(&v->window[h]));
                json_object_set_new(lat_total, fg_hist_name((fg_hist_id_t)h),
                                    fg_hist_to_json(&v->snap.hist[h]));
        }
        json_object_set_new(root, "latency", lat);
        json_object_set_new(root, "latency_total", lat_total);

        json_object_set_new(root, "queue",
                            json_pack("{s:I, s:I, s:I, s:I, s:I}", "depth", (json_int_t)v->q_depth,
                                      "bytes", (json_int_t)v->q_bytes, "capacity",
                                      (json_int_t)v->q_capacity, "max_bytes",
                                      (json_int_t)v->q_max_bytes, "peak_depth", (json_int_t)v->q_peak));
        json_object_set_new(root, "ingest",
                            json_pack("{s:i, s:i, s:b, s:i}", "assigned", (int)v->assigned, "paused",
                                      (int)v->paused, "blocked", (int)v->blocked, "pending",
                                      (int)v->pending));
        json_object_set_new(
            root, "workers",
            json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:I, s:I}", "mode", v->pool.mode,
                      "total", (int)v->pool.running, "busy", (int)v->pool.busy, "target",
                      (int)v->pool.target, "min", (int)v->pool.min, "max", (int)v->pool.max,
                      "concurrency_limit", (int)v->pool.limit, "rtt_ms", v->pool.rtt_mean_ms,
                      "scale_ups", (json_int_t)v->pool.scale_ups, "scale_downs",
                      (json_int_t)v->pool.scale_downs));

        json_object_set_new(
            root, "ordering",
            json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:i}", "mode",
                      fg_queue_ordering_name(v->order.mode), "switching", (int)v->order.switching,
                      "in_flight", (json_int_t)v->order.in_flight, "busy_keys",
                      (json_int_t)v->order.busy_keys, "blocked_keys",
                      (json_int_t)v->order.blocked_keys, "waiting_events",
                      (json_int_t)v->order.blocked, "held_partitions", (int)v->order_paused));
        json_object_set_new(root, "parked", park_json(v));

        for (size_t i = 0; i < v->nlag; i++)
                json_array_append_new(parts, json_pack("{s:s, s:i, s:o, s:I, s:o}", "topic",
                                                       v->lag[i].topic, "partition",
                                                       (int)v->lag[i].partition, "lag",
                                                       json_int_or_null(v->lag[i].lag), "end_offset",
                                                       (json_int_t)v->lag[i].end_offset, "committed",
                                                       json_int_or_null(v->lag[i].committed)));
        json_object_set_new(lag, "total", json_int_or_null(v->lag_total));
        json_object_set_new(lag, "updated_ms", json_integer(v->lag_updated_ms));
        json_object_set_new(lag, "age_ms",
                            v->lag_updated_ms ? json_integer(fg_wall_ms() - v->lag_updated_ms)
                                              : json_null());
        json_object_set_new(lag, "partitions", parts);
        json_object_set_new(root, "lag", lag);
        json_object_set_new(
            root, "scale",
            json_pack("{s:f, s:o, s:f, s:f, s:f, s:f}", "desired_instances", v->demand.desired,
                      "time_to_drain_s",
                      isinf(v->demand.time_to_drain_s) ? json_null()
                                                       : json_real(v->demand.time_to_drain_s),
                      "service_per_s", v->demand.service_per_s, "arrival_per_s",
                      v->demand_in.arrival_per_s, "capacity_per_s", v->demand_in.capacity_per_s,
                      "drain_within_s", v->demand_in.drain_within_s));

        {
                json_t *tr = json_object();
                for (int s = 0; s < FG_BRK__STATE_CNT; s++)
                        json_object_set_new(tr, fg_brk_state_name((fg_brk_state_t)s),
                                            json_integer((json_int_t)v->brk.transitions[s]));
                json_object_set_new(
                    root, "breaker",
                    json_pack("{s:s, s:o, s:o, s:I, s:I, s:I, s:o, s:f}", "state",
                              fg_brk_state_name(v->brk.state), "failure_rate",
                              v->brk.failure_rate < 0 ? json_null() : json_real(v->brk.failure_rate),
                              "slow_rate", v->brk.slow_rate < 0 ? json_null() : json_real(v->brk.slow_rate),
                              "window_calls", (json_int_t)v->brk.window_calls,
                              "consecutive_failures", (json_int_t)v->brk.consecutive_failures,
                              "not_permitted",
                              (json_int_t)v->brk.not_permitted, "transitions", tr, "open_remaining_ms",
                              (double)v->brk.open_remaining_ns / 1e6));
        }
        json_object_set_new(
            root, "admin",
            json_pack("{s:i, s:i, s:I, s:I, s:I, s:I}", "connections", (int)v->admin.connections,
                      "max_connections", (int)v->admin.max_connections, "refused",
                      (json_int_t)v->admin.refused, "timeouts", (json_int_t)v->admin.timeouts,
                      "accept_errors", (json_int_t)v->admin.accept_errors, "misdirected",
                      (json_int_t)v->admin.misdirected));
        json_object_set_new(root, "sink",
                            json_pack("{s:I, s:I, s:I}", "tls_handshakes",
                                      (json_int_t)v->sink.tls_handshakes, "tls_resumed",
                                      (json_int_t)v->sink.tls_resumed, "tls_errors",
                                      (json_int_t)v->sink.tls_errors));
        json_object_set_new(root, "process",
                            json_pack("{s:I, s:I, s:f, s:i, s:i}", "rss_bytes",
                                      (json_int_t)v->rss_kib * 1024, "peak_rss_bytes",
                                      (json_int_t)v->peak_rss_kib * 1024, "cpu_seconds",
                                      v->cpu_seconds, "threads", v->threads, "open_fds",
                                      v->open_fds));
        json_object_set_new(root, "health",
                            json_pack("{s:b, s:b, s:s}", "healthy", (int)v->healthy, "ready",
                                      (int)v->ready, "reason", v->health_reason));
        return root;
}

static const char *human_ms(double ms, char *buf, size_t size) {
        if (ms < 1)
                snprintf(buf, size, "%.0fus", ms * 1000);
        else if (ms < 1000)
                snprintf(buf, size, "%.1fms", ms);
        else
                snprintf(buf, size, "%.2fs", ms / 1000);
        return buf;
}

void fg_view_status_line(const fg_view_t *v, char *buf, size_t size) {
        char p99[32], lag[32], limit[32] = "", order[96] = "";

        if (v->pool.limit)
                snprintf(limit, sizeof(limit), " (limit %u)", v->pool.limit);
        if (v->order.mode != FG_ORDER_NONE)
                snprintf(order, sizeof(order), " | %s order: %zu waiting on %zu keys%s",
                         fg_queue_ordering_name(v->order.mode), v->order.blocked,
                         v->order.blocked_keys, v->order.switching ? " (switching)" : "");
        if (v->park_on)
                snprintf(order + strlen(order), sizeof(order) - strlen(order), ", %zu parked",
                         v->parked);
        if (v->lag_total < 0)
                snprintf(lag, sizeof(lag), "?");
        else
                snprintf(lag, sizeof(lag), "%lld", (long long)v->lag_total);
        snprintf(buf, size,
                 "in %.0f/s out %.0f/s | e2e p99 %s | queue %zu/%zu%s | partitions %u (%u paused) | "
                 "workers %u/%u busy%s%s | lag %s | breaker %s | ok %llu dead %llu dropped %llu",
                 v->rate[FG_CTR_CONSUMED][1], v->rate[FG_CTR_OK][1],
                 human_ms((double)fg_hist_quantile_ns(&v->window[FG_HIST_E2E], 0.99) / 1e6, p99,
                          sizeof(p99)),
                 v->q_depth, v->q_capacity, v->blocked ? " (full)" : "", v->assigned, v->paused,
                 v->pool.busy, v->pool.running, limit, order, lag, fg_brk_state_name(v->brk.state),
                 (unsigned long long)v->snap.ctr[FG_CTR_OK],
                 (unsigned long long)v->snap.ctr[FG_CTR_DEAD_LETTER],
                 (unsigned long long)v->snap.ctr[FG_CTR_DROPPED]);
}
