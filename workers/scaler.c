/*
 * scaler: the dynamic pool's sizing policy (see scaler.h).
 */
#include "workers/scaler.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>

static unsigned clampu(double v, unsigned lo, unsigned hi) {
        if (!(v >= lo))
                return lo;
        if (v >= hi)
                return hi;
        return (unsigned)ceil(v);
}

void fg_scaler_decide(const fg_scaler_cfg_t *conf, fg_scaler_state_t *st,
                      const fg_scaler_input_t *in, fg_scaler_decision_t *out) {
        double per_call = in->events_per_call >= 1 ? in->events_per_call : 1;
        double littles = in->arrival_per_s * in->call_latency_s / per_call * conf->headroom;
        /* Events waiting long is pressure whatever the busy count says:
         * sampled once a second it can miss saturated threads (a main
         * thread that gets the CPU only when the workers block sees them
         * idle), and it is what the pool is there to prevent. A full
         * queue alone counts only with every thread busy. */
        bool pressure = in->running > 0 &&
                        (in->queue_wait_p90_ns > conf->queue_wait_grow_ns ||
                         (in->busy >= in->running && in->queue_fill >= 0.5));
        double want = littles;
        unsigned cap = conf->max, target;

        if (pressure && want < in->running + in->running / 2.0 + 1)
                want = in->running + in->running / 2.0 + 1;
        if (in->concurrency_limit) {
                unsigned slack = in->concurrency_limit / 4 > 2 ? in->concurrency_limit / 4 : 2;
                if (in->concurrency_limit + slack < cap)
                        cap = in->concurrency_limit + slack;
                if (cap < conf->min)
                        cap = conf->min;
        }
        target = clampu(want, conf->min, cap);

        out->target = target;
        out->grow = out->retire = 0;
        if (target > in->running) {
                st->below = 0;
                out->grow = target - in->running;
                snprintf(out->reason, sizeof(out->reason),
                         "%.0f events/s x %.1f ms / %.0f per call%s -> %u workers", in->arrival_per_s,
                         in->call_latency_s * 1e3, per_call,
                         pressure ? ", queue backing up" : "", target);
        } else if (target < in->running) {
                unsigned excess = in->running - target;
                /* Threads idle for a whole linger are surplus: all may go at
                 * once (the linger and the hysteresis already rule out
                 * thrash). */
                if (++st->below >= FG_SCALER_SHRINK_AFTER)
                        out->retire = excess < in->idle_long ? excess : in->idle_long;
                snprintf(out->reason, sizeof(out->reason),
                         "%.0f events/s needs %u of %u workers; retiring %u idle ones", in->arrival_per_s,
                         target, in->running, out->retire);
        } else {
                st->below = 0;
                out->reason[0] = '\0';
        }
}

void fg_scaler_demand(const fg_demand_input_t *in, fg_demand_t *out) {
        double lag = in->lag > 0 ? (double)in->lag : 0;
        double arrival = in->arrival_per_s > 0 ? in->arrival_per_s : 0;
        double finished = in->finished_per_s > 0 ? in->finished_per_s : 0;
        /* More than a second of work waiting: the instance is not waiting
         * for input, so what it finishes is what it can finish. */
        bool backlogged = lag > finished;
        double service = backlogged || in->capacity_per_s < finished ? finished
                                                                      : in->capacity_per_s;
        double need;

        out->service_per_s = service;
        if (in->partitions == 0) {
                out->desired = 0;
                out->time_to_drain_s = lag > 0 ? INFINITY : 0;
                return;
        }
        if (finished <= 0 && (lag > 0 || arrival > 0)) {
                out->desired = 1;
                out->time_to_drain_s = lag > 0 ? INFINITY : 0;
                out->service_per_s = 0;
                return;
        }
        if (service <= 0) {
                out->desired = 0;
                out->time_to_drain_s = 0;
                return;
        }
        need = (arrival + (in->drain_within_s > 0 ? lag / in->drain_within_s : 0)) / service;
        out->desired = need < (double)in->partitions ? need : (double)in->partitions;
        if (lag <= 0)
                out->time_to_drain_s = 0;
        else
                out->time_to_drain_s = service > arrival ? lag / (service - arrival) : INFINITY;
}
