/*
 * scaler: how many worker threads a dynamic pool should run — pure policy,
 * fed once per workers.scale_interval with what the pool observed.
 *
 * DESIGN
 * Grow fast, shrink lazily:
 *   - Little's law sizes the pool for the load: threads needed = arrival
 *     rate x sink call latency / events per call, times a headroom. When
 *     work piles up anyway — events wait long in the queue, or it is
 *     filling while every thread is busy — grow by half again.
 *   - The target is capped at the adaptive concurrency limit plus some
 *     slack (threads beyond it could only wait for a slot: see arc.h) and
 *     at workers.max, and never drops below workers.min.
 *   - Growth is immediate. Shrinking waits until the target has been lower
 *     for SHRINK_AFTER consecutive intervals (hysteresis), then retires only
 *     threads idle for longer than workers.idle_linger. A gap between regular
 *     bursts shorter than the linger therefore never shrinks the pool: no
 *     thread churn.
 *
 *
 * Instances (fg_scaler_demand): the same load model one level up, for an
 * external autoscaler (KEDA, an HPA, a systemd timer). Each instance
 * reports how many instances its own partitions need to keep up with
 * their arrival rate and also clear their lag within drain_within:
 *     desired = (arrival + lag / drain_within) / service_rate_per_instance
 * capped by the partitions it holds (a partition is consumed by one member
 * at most, so more could not help), so the group's sum is capped by the
 * partition count: scale the group to ceil(sum of desired). One instance's
 * service rate is what it finishes per second while a backlog keeps it
 * busy (then the rate it shows is its capacity, whatever the bottleneck);
 * without a backlog, the pool's capacity (its most workers x events per
 * sink call / call latency) when that is higher, so an idle group scales
 * in. Nothing finished at all (the sink is down, or nothing came yet)
 * tells nothing about capacity: desired then stays at one per instance
 * holding partitions, so an outage does not scale the group out.
 *     time_to_drain = lag / (service rate - arrival)  (+Inf if not positive)
 *
 * Threading: pure; the main thread calls it with its own state.
 * Ownership: plain values.
 */
#ifndef FG_SCALER_H
#define FG_SCALER_H

#include <stdint.h>

typedef struct fg_scaler_cfg {
        unsigned min, max;
        double headroom;            /* >= 1 */
        int64_t queue_wait_grow_ns; /* queue waits above this count as pressure */
} fg_scaler_cfg_t;

typedef struct fg_scaler_input {
        unsigned running;           /* threads alive */
        unsigned busy;              /* threads handling a batch */
        unsigned idle_long;         /* threads idle for longer than the linger */
        double arrival_per_s;       /* events consumed per second, recently */
        double call_latency_s;      /* mean sink call duration, recently */
        double events_per_call;     /* mean events per sink call, recently */
        double queue_fill;          /* 0..1 */
        int64_t queue_wait_p90_ns;  /* recent queue wait */
        unsigned concurrency_limit; /* adaptive limit; 0 = none */
} fg_scaler_input_t;

typedef struct fg_scaler_state {
        unsigned below; /* consecutive intervals with target < running */
} fg_scaler_state_t;

typedef struct fg_scaler_decision {
        unsigned target;   /* what the pool should run */
        unsigned grow;     /* threads to start now */
        unsigned retire;   /* long-idle threads to retire now */
        char reason[160];
} fg_scaler_decision_t;

#define FG_SCALER_SHRINK_AFTER 3

void fg_scaler_decide(const fg_scaler_cfg_t *conf, fg_scaler_state_t *st,
                      const fg_scaler_input_t *in, fg_scaler_decision_t *out);

typedef struct fg_demand_input {
        unsigned partitions;    /* partitions this instance holds */
        double arrival_per_s;   /* events/s produced into them (their end offsets' growth) */
        double finished_per_s;  /* events/s this instance brings to a final outcome */
        double capacity_per_s;  /* the pool's estimate of what it could finish; 0 = unknown */
        int64_t lag;            /* events behind the partitions' ends; < 0 = unknown */
        double drain_within_s;  /* > 0: how soon a backlog should be gone */
} fg_demand_input_t;

typedef struct fg_demand {
        double desired;         /* instances these partitions need, 0..partitions */
        double time_to_drain_s; /* at the present pace; +Inf when it never drains */
        double service_per_s;   /* one instance's service rate the model used; 0 = unknown */
} fg_demand_t;

/* The instance-count model (see DESIGN above). */
void fg_scaler_demand(const fg_demand_input_t *in, fg_demand_t *out);

#endif
