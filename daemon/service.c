/*
 * service: lifecycle notifications to the service manager (see service.h).
 */
#include "daemon/service.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "daemon/daemon_int.h"
#include "daemon/notify.h"
#include "daemon/view.h"

struct fg_service {
        fg_daemon_t *d;
        fg_notify_t *n;
        struct event *ev_watchdog;
        uint64_t watchdog_usec;
        bool withholding;      /* pings stopped because the view is unhealthy */
        int64_t next_status_ns;
};

fg_service_t *fg_service_new(fg_daemon_t *d) {
        char errstr[256];
        fg_service_t *svc;
        fg_notify_t *n = fg_notify_open(errstr, sizeof(errstr));

        if (!n) {
                if (errstr[0])
                        fg_warn("systemd notify: %s; not notifying", errstr);
                return NULL;
        }
        svc = calloc(1, sizeof(*svc));
        if (!svc) {
                fg_warn("systemd notify: out of memory; not notifying");
                fg_notify_close(n);
                return NULL;
        }
        svc->d = d;
        svc->n = n;
        svc->watchdog_usec = fg_notify_watchdog_usec(n);
        return svc;
}

void fg_service_destroy(fg_service_t *svc) {
        if (!svc)
                return;
        if (svc->ev_watchdog)
                event_free(svc->ev_watchdog);
        fg_notify_close(svc->n);
        free(svc);
}

/* "in 48211/s out 48205/s | queue 3% | lag 2210 | breaker closed", then why
 * the daemon is not ready, if it is not. */
static void status_line(const fg_view_t *v, char *buf, size_t size) {
        double fill = 0;
        char lag[32];
        int off;

        if (v->q_capacity)
                fill = (double)v->q_depth / (double)v->q_capacity;
        if (v->q_max_bytes && (double)v->q_bytes / (double)v->q_max_bytes > fill)
                fill = (double)v->q_bytes / (double)v->q_max_bytes;
        if (v->lag_total < 0)
                snprintf(lag, sizeof(lag), "?");
        else
                snprintf(lag, sizeof(lag), "%lld", (long long)v->lag_total);
        off = snprintf(buf, size, "in %.0f/s out %.0f/s | queue %.0f%% | lag %s | breaker %s",
                       v->rate[FG_CTR_CONSUMED][1], v->rate[FG_CTR_OK][1], fill * 100, lag,
                       fg_brk_state_name(v->brk.state));
        if (off > 0 && (size_t)off < size && !v->ready)
                snprintf(buf + off, size - off, " | %s%s", v->healthy ? "" : "unhealthy: ",
                         v->health_reason);
}

static void send_status(fg_service_t *svc, const char *vars) {
        fg_view_t *v = fg_view_collect(svc->d);
        char line[384];

        if (!v)
                return;
        status_line(v, line, sizeof(line));
        fg_notify_send(svc->n, "%sSTATUS=%s", vars, line);
        fg_view_free(v);
}

/* Every WATCHDOG_USEC/2: ping only while healthy, so that systemd restarts
 * a daemon whose workers are wedged even though its loop still turns. */
static void on_watchdog(evutil_socket_t fd, short what, void *arg) {
        fg_service_t *svc = arg;
        fg_view_t *v = fg_view_collect(svc->d);

        if (!v)
                return;
        if (v->healthy) {
                if (svc->withholding)
                        fg_info("watchdog: healthy again; pinging systemd again");
                svc->withholding = false;
                fg_notify_send(svc->n, "WATCHDOG=1");
        } else if (!svc->withholding) {
                svc->withholding = true;
                fg_warn("watchdog: %s; not pinging systemd, which restarts the service once its "
                        "watchdog interval (%llu ms) passes without a ping",
                        v->health_reason, (unsigned long long)(svc->watchdog_usec / 1000));
                fg_notify_send(svc->n, "STATUS=unhealthy: %s", v->health_reason);
        }
        fg_view_free(v);
}

void fg_service_ready(fg_service_t *svc) {
        fg_daemon_t *d;

        if (!svc)
                return;
        d = svc->d;
        fg_notify_send(svc->n,
                       "READY=1\nMAINPID=%ld\nSTATUS=running: group %s, %zu topic%s, %s sink, "
                       "%u workers; waiting for partitions",
                       (long)getpid(), d->cfg->kafka.group_id, d->cfg->kafka.topics.n,
                       d->cfg->kafka.topics.n == 1 ? "" : "s", fg_sink_name(fg_pool_sink(d->pool)),
                       fg_pool_size(d->pool));
        svc->next_status_ns = fg_mono_ns() + FG_SERVICE_STATUS_INTERVAL_S * FG_NS_PER_S;
        if (svc->watchdog_usec && !svc->ev_watchdog) {
                /* Half the interval, as sd_watchdog_enabled(3) advises. */
                uint64_t period = svc->watchdog_usec / 2 < 1000 ? 1000 : svc->watchdog_usec / 2;
                struct timeval tv = {(time_t)(period / 1000000), (suseconds_t)(period % 1000000)};

                svc->ev_watchdog = event_new(d->base, -1, EV_PERSIST, on_watchdog, svc);
                if (!svc->ev_watchdog || event_add(svc->ev_watchdog, &tv)) {
                        fg_error("watchdog: cannot create its timer; systemd will restart the "
                                 "service");
                        return;
                }
                fg_info("watchdog: pinging systemd every %llu ms while healthy",
                        (unsigned long long)(period / 1000));
                on_watchdog(-1, 0, svc);
        }
}

void fg_service_reloading(fg_service_t *svc) {
        if (!svc)
                return;
        fg_notify_send(svc->n, "RELOADING=1\nMONOTONIC_USEC=%lld\nSTATUS=reloading %s",
                       (long long)(fg_mono_ns() / 1000), svc->d->config_path);
}

void fg_service_reloaded(fg_service_t *svc) {
        if (svc)
                send_status(svc, "READY=1\n");
}

void fg_service_stopping(fg_service_t *svc, const char *why) {
        int64_t extend_us;

        if (!svc)
                return;
        /* Drain budget plus room for the final commits and leaving the group;
         * the manager only ever lengthens its stop timeout with this. */
        extend_us = (svc->d->cfg->shutdown.timeout_ns + 15 * FG_NS_PER_S) / 1000;
        fg_notify_send(svc->n, "STOPPING=1\nEXTEND_TIMEOUT_USEC=%lld\nSTATUS=draining (%s)",
                       (long long)extend_us, why);
}

void fg_service_tick(fg_service_t *svc, int64_t now_ns) {
        if (!svc || now_ns < svc->next_status_ns)
                return;
        svc->next_status_ns = now_ns + FG_SERVICE_STATUS_INTERVAL_S * FG_NS_PER_S;
        send_status(svc, "");
}
