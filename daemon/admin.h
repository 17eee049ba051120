/*
 * admin: the daemon's HTTP endpoints on the main thread's libevent loop.
 *
 *   GET /metrics  Prometheus text format 0.0.4
 *   GET /stats    the same data as JSON (schema below), for people and
 *                 `floodgate top`
 *   GET /healthz  200 when the process and its threads are responsive,
 *                 503 (JSON reason) when the ingest loop or a worker is stuck
 *   GET /readyz   200 when healthy and holding a partition assignment
 *   POST /parked/release  with dead_letter.park_key: releases a parked key
 *                 (loopback peers only; see admin_park.h)
 * Anything else: 404; methods other than GET/HEAD: 405; a Host that is
 * not the listen address, a loopback name or in metrics.allowed_hosts (or,
 * listening on a wildcard address, an IP address): 421. What a client can
 * make the server hold is bounded: headers 8 KiB, body 1 KiB, 5 s for a
 * whole request however it trickles in, FG_ADMIN_MAX_CONNECTIONS
 * connections (more are closed at once), and at the file-descriptor limit
 * accepting pauses instead of spinning (see admin.c).
 *
 * /stats JSON (all counts integers; rates per second; latencies in ms):
 * {
 *   "version": "0.1.0", "uptime_s": 12.5, "state": "running" | "draining",
 *   "counters": {"consumed":N, "consumed_bytes":N, "ok":N, "filtered":N,
 *                "failed":N, "dead_letter":N, "dropped":N, "retries":N,
 *                "sink_calls":N, "rebalances":N, "pauses":N, "resumes":N},
 *   "rates": {"consumed": {"1s":R, "10s":R, "60s":R}, "ok": {...},
 *             "failed": {...}, "filtered": {...}, "dead_letter": {...},
 *             "dropped": {...}},
 *   "latency": {            // the last window_s seconds (10 once running)
 *     "window_s": 10,
 *     "end_to_end": {"count":N, "sum_ms":X, "p50_ms":X, "p90_ms":X,
 *                    "p99_ms":X, "p999_ms":X, "max_ms":X},
 *     "queue_wait": {...}, "sink_call": {...}},
 *   "latency_total": { same shape, since start, without window_s },
 *   "queue": {"depth":N, "bytes":N, "capacity":N, "max_bytes":N, "peak_depth":N},
 *   "ingest": {"assigned":N, "paused":N, "blocked":bool, "pending":N},
 *   "workers": {"mode":"fixed"|"dynamic", "total":N, "busy":N, "target":N,
 *               "min":N, "max":N, "concurrency_limit":N (0 when fixed),
 *               "rtt_ms":X (the limit's sink RTT estimate), "scale_ups":N,
 *               "scale_downs":N},
 *   "ordering": {"mode":"none"|"partition"|"key", "switching":bool (a switch
 *                waits for in-flight events), "in_flight":N, "busy_keys":N,
 *                "blocked_keys":N (keys with events waiting behind an
 *                earlier event of theirs), "waiting_events":N (those events),
 *                "held_partitions":N (paused alone for a hot key)},
 *   "parked": {"enabled":bool (dead_letter.park_key), "keys":N, "max":N,
 *              "events":N (dead-lettered as parked), "overflow":N,
 *              "list": [{"topic":"t", "partition":0, "key":"k" (bytes
 *              outside printable ASCII as \xNN), "key_bytes":N,
 *              "since_ms":N, "first_offset":N, "events":N,
 *              "reason":"rejected: ..."}, ...] (the 20 oldest)},
 *   "lag": {"total":N|null, "updated_ms":N (wall clock of the statistics
 *           it comes from, 0 = none yet), "age_ms":N|null (how old they are),
 *           "partitions": [{"topic":"t", "partition":0, "lag":N|null,
 *                           "end_offset":N, "committed":N|null}, ...]},
 *   "breaker": {"state":"closed"|"open"|"half_open"|"forced_open"|"disabled",
 *               "failure_rate":X|null, "slow_rate":X|null (shares of the
 *               window; null below breaker.min_calls), "window_calls":N,
 *               "consecutive_failures":N (failed calls in a row, CLOSED),
 *               "not_permitted":N, "transitions":{"open":N, ...},
 *               "open_remaining_ms":X},
 *   "sink": {"tls_handshakes":N, "tls_resumed":N, "tls_errors":N} (zeros
 *            unless the sink is https),
 *   "process": {"rss_bytes":N, "peak_rss_bytes":N, "cpu_seconds":X, "threads":N,
 *               "open_fds":N},
 *   "health": {"healthy":bool, "ready":bool, "reason":"..."}
 * }
 *   "admin": {"connections":N, "max_connections":N, "refused":N,
 *             "timeouts":N, "accept_errors":N, "misdirected":N},
 * Latency quantiles of an empty window are null. ingest.pending counts
 * messages polled from Kafka but not yet in the queue (at most 512).
 *
 * Threading: main thread only (handlers run on the loop).
 * Ownership: borrows the daemon state (or fg_admin_new_on's opaque) for its
 * whole life.
 */
#ifndef FG_ADMIN_H
#define FG_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "common/strlist.h"

/* Connections the server keeps at once; more are closed at accept. */
#define FG_ADMIN_MAX_CONNECTIONS 64

struct event_base;
struct fg_daemon;
struct fg_view;
typedef struct fg_admin fg_admin_t;

/* Gathers the view one request renders; the server frees it with
 * fg_view_free. NULL answers 500. Runs on the loop's thread. */
typedef struct fg_view *(*fg_admin_collect_fn)(void *opaque);

/* Binds @p listen ("host:port"; port 0 picks one) on the daemon's loop,
 * serving fg_view_collect(d), with the daemon's metrics.allowed_hosts.
 * NULL with a reason. */
fg_admin_t *fg_admin_new(struct fg_daemon *d, const char *listen, char *errstr,
                         size_t errstr_size);
/* The same server on any loop, accepting the Host names in
 * @p allowed_hosts (may be NULL) besides the listen address and loopback
 * names, with the view from @p collect(@p opaque): what fg_admin_new uses,
 * and the seam the admin fuzz target and check_admin serve a canned view
 * through. */
fg_admin_t *fg_admin_new_on(struct event_base *base, const char *listen,
                            const fg_strlist_t *allowed_hosts, fg_admin_collect_fn collect,
                            void *opaque, char *errstr, size_t errstr_size);
void fg_admin_destroy(fg_admin_t *a);
/* The port actually bound (useful with port 0). */
int fg_admin_port(const fg_admin_t *a);

#endif
