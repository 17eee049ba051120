/*
 * service: what `floodgate run` tells a service manager (systemd, Type=notify)
 * about its lifecycle, built on notify.h.
 *
 *   fg_service_ready()      READY=1, MAINPID, STATUS — the pipeline is built
 *                           and started (consumer subscribed, workers
 *                           running); not waiting for a partition assignment,
 *                           which can take as long as Kafka is unreachable
 *   fg_service_reloading()  RELOADING=1 + MONOTONIC_USEC at the start of a
 *   fg_service_reloaded()   SIGHUP reload, READY=1 when done (applied or
 *                           rejected: either way the daemon runs on)
 *   fg_service_stopping()   STOPPING=1 when the drain begins, with
 *                           EXTEND_TIMEOUT_USEC covering shutdown.timeout
 *   fg_service_tick()       STATUS=<short live summary> every
 *                           FG_SERVICE_STATUS_INTERVAL_S seconds
 *   watchdog                WATCHDOG=1 every WATCHDOG_USEC/2 from its own
 *                           timer, but only while the view says healthy (the
 *                           ingest loop turns, no worker is inside one sink
 *                           call longer than metrics.stall_timeout): a wedged
 *                           pool stops the pings and systemd restarts the
 *                           service. Stopping and resuming are logged once.
 *
 * Without $NOTIFY_SOCKET fg_service_new() returns NULL and every function
 * here accepts NULL and does nothing.
 *
 * Threading: main thread only (the libevent loop's thread).
 * Ownership: the service borrows the daemon and its event base, which must
 * outlive it; fg_service_destroy() (NULL allowed) frees its timer and socket.
 */
#ifndef FG_SERVICE_H
#define FG_SERVICE_H

#include <stdint.h>

#define FG_SERVICE_STATUS_INTERVAL_S 5

struct fg_daemon;
typedef struct fg_service fg_service_t;

/* Connects to the manager's notification socket, if there is one. Call once
 * the daemon's event base exists. Never fails the daemon: a socket it cannot
 * use is logged and ignored. */
fg_service_t *fg_service_new(struct fg_daemon *d);
void fg_service_destroy(fg_service_t *svc);

/* The pipeline runs: READY=1 and, with a watchdog, the first ping and the
 * ping timer. */
void fg_service_ready(fg_service_t *svc);
void fg_service_reloading(fg_service_t *svc);
void fg_service_reloaded(fg_service_t *svc);
void fg_service_stopping(fg_service_t *svc, const char *why);
/* Called once a second by the daemon's tick; sends STATUS= every
 * FG_SERVICE_STATUS_INTERVAL_S. */
void fg_service_tick(fg_service_t *svc, int64_t now_ns);

#endif
