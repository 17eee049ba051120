/*
 * worker: one batch's journey from the queue to final outcomes.
 *
 * With routes the batch is first split by target (fg_worker_dispatch: the
 * first route whose filter matches the event as it came, else the default
 * sink, else FILTERED); the worker carries one share itself and parks the
 * others in their targets' holding queues (plan.h). Each share then goes:
 *
 *   handler   -> FILTERED (final) | INVALID (handler.on_invalid) | SEND
 *   sink      -> OK (final) | REJECT (dead letter, or counted drop without
 *                a dead-letter topic) | RETRY / BACKPRESSURE (backoff, then
 *                again; after sink.retry.max_attempts or max_elapsed the
 *                event is dead-lettered — without a dead-letter topic it is
 *                retried on, so nothing is lost)
 *   dead letter -> DEAD_LETTER (final) once the topic has it; if that
 *                produce fails it is retried like a sink call.
 * Every sink call first takes a slot under the adaptive concurrency limit
 * (dynamic pools, see arc.h), then asks the circuit breaker. While it refuses, the
 * worker sends to the target's fallback sink if it has one whose own
 * breaker permits (sink.fallback; delivered there is delivered), else
 * sleeps until it might permit (fg_brk_wait_ns, at most a second at a
 * time), holding its events — so the queue fills and ingest pauses — or,
 * with breaker.when_open: dead_letter, dead-letters them. Before any of
 * that the batch takes its tokens under the sink's rate cap (waiting is
 * backpressure, not a failure). Each call's
 * outcome is reported to the breaker: a failure if any event failed
 * (back-pressure if all failures were), success if any was delivered,
 * ignored if the sink only rejected events (their fault, not the sink's).
 * Every final outcome finishes the item (its offset may be committed) and
 * records the end-to-end latency. An abort (shutdown deadline) abandons what
 * is not final: uncommitted, so Kafka redelivers it. Finishing or abandoning
 * an item also releases its key in an ordered queue (workers.ordering), so
 * an event held through retries holds its key, and its key's next event
 * goes only once it is final.
 *
 * Parked keys (dead_letter.park_key): an event whose key is parked skips the
 * handler and the sink and is dead-lettered as `parked`; an event about to
 * be dead-lettered parks its key first (before its item ends and lets the
 * key's next event go), so that next event already finds it parked.
 *
 * Threading: the worker's own thread; shared state is read-only (the plan
 * and its handlers, config copies in the pool) or thread-safe (sink conns
 * are ours, dlq, breakers, rate caps, targets' holding queues).
 * Ownership: items belong to the worker until finished or abandoned.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "handler/json_scan.h"
#include "workers/worker_int.h"

/* xorshift64: jitter only, not cryptography. */
static uint64_t next_rand(fg_worker_t *w) {
        w->rng ^= w->rng << 13;
        w->rng ^= w->rng >> 7;
        w->rng ^= w->rng << 17;
        return w->rng;
}

/* Exponential backoff with jitter in [d/2, d], at least the downstream's
 * Retry-After (itself capped at max backoff x 10). */
static int64_t backoff_for(fg_worker_t *w, unsigned attempt, int64_t retry_after_ns) {
        const fg_retry_cfg_t *rt = fg_sink_retry(w->tgt->sink);
        int64_t d = rt->initial_backoff_ns, cap = rt->max_backoff_ns;

        for (unsigned i = 1; i < attempt && d < cap; i++)
                d *= 2;
        if (d > cap)
                d = cap;
        d = d / 2 + (int64_t)(next_rand(w) % (uint64_t)(d / 2 + 1));
        if (retry_after_ns > 10 * cap)
                retry_after_ns = 10 * cap;
        return d > retry_after_ns ? d : retry_after_ns;
}

static void event_from(fg_event_t *ev, const fg_item_t *it) {
        const rd_kafka_message_t *rkm = it->rkm;
        rd_kafka_timestamp_type_t tstype;

        ev->topic = rd_kafka_topic_name(rkm->rkt);
        ev->partition = rkm->partition;
        ev->offset = rkm->offset;
        ev->ts_ms = rd_kafka_message_timestamp(rkm, &tstype);
        ev->key = rkm->key;
        ev->key_len = rkm->key_len;
        ev->value = rkm->payload;
        ev->len = rkm->len;
        ev->ingest_ms = it->ingest_ms;
        ev->src = rkm;
        ev->error_class = NULL;
        ev->error_message = NULL;
}

/* Counts a final outcome and queues the item to be finished. */
static void outcome(fg_worker_t *w, size_t i, fg_ctr_t ctr, int64_t now_ms, size_t *ndone) {
        const fg_event_t *ev = &w->evs[i];

        fg_mshard_add(w->shard, ctr, 1);
        if (ev->ts_ms >= 0) {
                int64_t e2e_ms = now_ms - ev->ts_ms;
                fg_mshard_observe(w->shard, FG_HIST_E2E, (e2e_ms > 0 ? e2e_ms : 0) * FG_NS_PER_MS);
        }
        w->done[(*ndone)++] = i;
}

/* Items that reached their outcome: their offsets may now be committed.
 * Only after the sink or dead-letter call, since events point into them. */
static void finish_done(fg_worker_t *w, size_t ndone) {
        fg_items_finish(w->items, w->done, ndone);
}

static void warn_event(const fg_event_t *ev, const char *what, const char *reason) {
        fg_warn("%s [%d] @%lld: %s: %s", ev->topic, (int)ev->partition, (long long)ev->offset, what,
                reason ? reason : "no reason given");
}

typedef struct dead_letters {
        size_t n;
} dead_letters_t;

/* dead_letter.park_key: the event about to be dead-lettered parks its key,
 * before its item ends (and lets the key's next event go), so that event
 * already finds the key parked. */
static void park_key(fg_worker_t *w, size_t i, const char *cls, const char *reason) {
        const fg_event_t *ev = &w->evs[i];
        fg_park_t *park = w->pool->park;
        bool full;

        if (fg_park_add(park, ev->topic, ev->partition, ev->key, ev->key_len, ev->offset, cls,
                        reason, &w->slots[i].park, &full)) {
                warn_event(ev, "dead-lettered and its key parked: its later events follow it to "
                               "the dead-letter topic until `floodgate redrive` releases it",
                           cls);
        } else if (full) {
                uint64_t n = fg_park_overflow_total(park);
                /* The 1st, 2nd, 4th, 8th... overflow: a flood stays a trickle. */
                if ((n & (n - 1)) == 0)
                        warn_event(ev, "dead-lettered without parking its key: "
                                       "dead_letter.max_parked_keys reached",
                                   cls);
        }
}

static void to_dead_letter(fg_worker_t *w, size_t i, const char *cls, const char *reason,
                           dead_letters_t *dl) {
        fg_slot_t *s = &w->slots[i];

        if (w->pool->park && !s->park.since_ms)
                park_key(w, i, cls, reason);
        w->dlq[dl->n] = (fg_dlq_entry_t){
            .src = w->items[i].rkm,
            .error_class = cls,
            .error_message = reason,
            .attempts = s->attempts,
            .parked_since_ms = s->park.since_ms,
            .parked_seq = s->park.seq,
        };
        w->dlq_idx[dl->n++] = i;
}

/* Is the event's key parked? Then its dead letter names the failure that
 * parked it (in this item's reason buffer). */
static bool is_parked(fg_worker_t *w, size_t i, const char **reason) {
        const fg_event_t *ev = &w->evs[i];
        char *msg = w->park_msg + i * FG_PARK_MSG_SIZE;

        if (!fg_park_check(w->pool->park, ev->topic, ev->partition, ev->key, ev->key_len,
                           &w->slots[i].park, msg, FG_PARK_MSG_SIZE))
                return false;
        *reason = msg;
        return true;
}

/* Runs the handler over the batch. Returns how many events to send (their
 * indices in send_idx), or -1 when on_invalid: fail stops everything. */
static long handle_all(fg_worker_t *w, size_t n, dead_letters_t *dl) {
        fg_pool_t *pool = w->pool;
        int64_t now_ms = fg_wall_ms(), now = fg_mono_ns();
        size_t nsend = 0, ndone = 0;
        fg_on_invalid_t on_invalid = fg_handler_on_invalid(w->tgt->handler);

        fg_handler_ctx_reset(w->hctx);
        for (size_t i = 0; i < n; i++) {
                const char *reason = NULL;
                fg_handle_verdict_t v;

                fg_mshard_observe(w->shard, FG_HIST_QUEUE_WAIT, now - w->items[i].enq_ns);
                event_from(&w->evs[i], &w->items[i]);
                w->slots[i] = (fg_slot_t){0};
                if (pool->park && is_parked(w, i, &reason)) {
                        to_dead_letter(w, i, "parked", reason, dl);
                        continue;
                }
                v = fg_handler_apply(w->tgt->handler, w->hctx, &w->evs[i], now_ms, &reason);
                if (v == FG_HANDLE_SEND) {
                        w->send_idx[nsend++] = i;
                } else if (v == FG_HANDLE_FILTERED) {
                        outcome(w, i, FG_CTR_FILTERED, now_ms, &ndone);
                } else if (on_invalid == FG_ON_INVALID_DEAD_LETTER && pool->dlq) {
                        to_dead_letter(w, i, "invalid", reason, dl);
                } else if (on_invalid == FG_ON_INVALID_FAIL) {
                        warn_event(&w->evs[i], "invalid event and handler.on_invalid is fail", reason);
                        atomic_store(&pool->failed, true);
                        finish_done(w, ndone);
                        for (size_t k = 0; k < n; k++)
                                if (w->items[k].rkm)
                                        fg_item_abandon(&w->items[k]);
                        return -1;
                } else {
                        warn_event(&w->evs[i], "invalid event dropped", reason);
                        outcome(w, i, FG_CTR_DROPPED, now_ms, &ndone);
                }
        }
        finish_done(w, ndone);
        return (long)nsend;
}

static void abandon_pending(fg_worker_t *w, size_t *nsend) {
        for (size_t k = 0; k < *nsend; k++)
                fg_item_abandon(&w->items[w->send_idx[k]]);
        *nsend = 0;
}

/* The fallback's own rate cap, with its breaker permit in hand; false
 * (permit and slot given back, events abandoned) if the pool aborted. */
static bool fallback_tokens(fg_worker_t *w, size_t *nsend, const fg_brk_permit_t *permit,
                            bool slot) {
        for (int64_t wait; (wait = fg_sink_rate_take(w->tgt->fb_sink, *nsend, fg_mono_ns())) > 0;)
                if (!fg_pool_backoff_sleep(w->pool, wait)) {
                        fg_brk_release(w->tgt->fb_brk, permit, fg_mono_ns());
                        fg_pool_limit_release(w->pool, slot, -1, FG_ARC_OK, 0);
                        abandon_pending(w, nsend);
                        return false;
                }
        return true;
}

/* Waits until a call may go out: tokens under the sink's rate cap, a slot
 * under the adaptive concurrency limit (dynamic pools), then the breaker's
 * permit — the slot is given back
 * while the breaker makes us wait, so a refused worker never holds one.
 * False when the events must not be sent: the pool aborted (they are
 * abandoned) or when_open dead-letters them (they moved to @p dl); *nsend
 * is then 0. */
static bool await_permit(fg_worker_t *w, size_t *nsend, dead_letters_t *dl,
                         fg_brk_permit_t *permit, bool *slot, bool *to_fb) {
        fg_pool_t *pool = w->pool;
        fg_target_t *t = w->tgt;

        /* The rate cap first, before any slot or permit is held: waiting
         * for tokens is backpressure, never a failure the breaker sees. */
        for (int64_t wait; (wait = fg_sink_rate_take(t->sink, *nsend, fg_mono_ns())) > 0;)
                if (!fg_pool_backoff_sleep(pool, wait)) {
                        abandon_pending(w, nsend);
                        return false;
                }
        for (;;) {
                int64_t wait;

                if (!fg_pool_limit_acquire(pool, slot)) {
                        abandon_pending(w, nsend);
                        return false;
                }
                *to_fb = false;
                if (fg_brk_acquire(t->brk, fg_mono_ns(), permit))
                        return true;
                /* sink.fallback takes the calls the primary's breaker holds. */
                if (t->fb_brk && fg_brk_acquire(t->fb_brk, fg_mono_ns(), permit)) {
                        *to_fb = true;
                        return fallback_tokens(w, nsend, permit, *slot);
                }
                fg_pool_limit_release(pool, *slot, -1, FG_ARC_OK, 0);
                wait = fg_brk_wait_ns(t->brk, fg_mono_ns());
                if (fg_brk_when_open(t->brk) == FG_BRK_WHEN_OPEN_DEAD_LETTER && pool->dlq) {
                        for (size_t k = 0; k < *nsend; k++)
                                to_dead_letter(w, w->send_idx[k], "breaker_open",
                                               "circuit breaker open", dl);
                        *nsend = 0;
                        return false;
                }
                if (wait > FG_NS_PER_S || wait <= 0)
                        wait = wait <= 0 ? FG_NS_PER_MS : FG_NS_PER_S;
                if (!fg_pool_backoff_sleep(pool, wait)) {
                        abandon_pending(w, nsend);
                        return false;
                }
        }
}

/* What one sink call says to the concurrency limit. */
static fg_arc_signal_t call_signal(const fg_sink_result_t *res, size_t n) {
        bool failed = false;

        for (size_t k = 0; k < n; k++) {
                if (res[k].status == FG_SINK_BACKPRESSURE)
                        return FG_ARC_BACKPRESSURE;
                failed |= res[k].status == FG_SINK_RETRY;
        }
        return failed ? FG_ARC_ERROR : FG_ARC_OK;
}

/* What one sink call says about the sink, for the breaker. */
static fg_brk_outcome_t call_outcome(const fg_sink_result_t *res, size_t n) {
        size_t ok = 0, bp = 0, failed = 0;

        for (size_t k = 0; k < n; k++) {
                ok += res[k].status == FG_SINK_OK;
                bp += res[k].status == FG_SINK_BACKPRESSURE;
                failed += res[k].status == FG_SINK_RETRY || res[k].status == FG_SINK_BACKPRESSURE;
        }
        if (failed)
                return failed == bp ? FG_BRK_BACKPRESSURE : FG_BRK_FAILURE;
        return ok ? FG_BRK_SUCCESS : FG_BRK_IGNORED;
}

static bool exhausted(const fg_worker_t *w, const fg_slot_t *s, int64_t now) {
        const fg_retry_cfg_t *rt = fg_sink_retry(w->tgt->sink);

        return (rt->max_attempts > 0 && s->attempts >= rt->max_attempts) ||
               (rt->max_elapsed_ns > 0 && now - s->first_try_ns >= rt->max_elapsed_ns);
}

/* Sends send_idx[0..nsend) until each has an outcome or moved to the dead
 * letters. Returns false if the pool aborted (the rest abandoned). */
static bool deliver(fg_worker_t *w, size_t nsend, dead_letters_t *dl) {
        fg_pool_t *pool = w->pool;
        unsigned round = 0;

        while (nsend) {
                size_t kept = 0, ndone = 0;
                int64_t retry_after = 0, t0, now, now_ms;
                fg_brk_permit_t permit;
                bool slot, fb;
                fg_brk_t *brk;

                if (!await_permit(w, &nsend, dl, &permit, &slot, &fb))
                        return !fg_pool_aborting(pool);
                brk = fb ? w->tgt->fb_brk : w->tgt->brk;
                for (size_t k = 0; k < nsend; k++) {
                        w->send_evs[k] = w->evs[w->send_idx[k]];
                        if (fb) {
                                w->send_evs[k].error_class = "breaker_open";
                                w->send_evs[k].error_message = "circuit breaker open";
                        }
                }
                t0 = fg_mono_ns();
                atomic_store_explicit(&w->call_started_ns, t0, memory_order_relaxed);
                fg_sink_send(fb ? w->fconn : w->conn, w->send_evs, nsend, w->res);
                atomic_store_explicit(&w->call_started_ns, 0, memory_order_relaxed);
                now = fg_mono_ns();
                now_ms = fg_wall_ms();
                fg_brk_record(brk, &permit, call_outcome(w->res, nsend), now - t0, now);
                fg_pool_limit_release(pool, slot, now - t0, call_signal(w->res, nsend), now);
                fg_mshard_observe(w->shard, FG_HIST_SINK_CALL, now - t0);
                fg_mshard_add(w->shard, FG_CTR_SINK_CALLS, 1);

                for (size_t k = 0; k < nsend; k++) {
                        size_t i = w->send_idx[k];
                        const fg_sink_result_t *r = &w->res[k];
                        fg_slot_t *s = &w->slots[i];

                        if (!s->attempts)
                                s->first_try_ns = t0;
                        s->attempts++;
                        if (r->status == FG_SINK_OK) {
                                atomic_fetch_add_explicit(fb ? &w->tgt->ctr->fallback
                                                             : &w->tgt->ctr->delivered,
                                                          1, memory_order_relaxed);
                                outcome(w, i, FG_CTR_OK, now_ms, &ndone);
                        } else if (r->status == FG_SINK_REJECT) {
                                if (pool->dlq) {
                                        to_dead_letter(w, i, "rejected", r->reason, dl);
                                } else {
                                        warn_event(&w->evs[i], "rejected by the sink, dropped "
                                                               "(no dead_letter.topic)", r->reason);
                                        outcome(w, i, FG_CTR_DROPPED, now_ms, &ndone);
                                }
                        } else {
                                fg_mshard_add(w->shard, FG_CTR_FAILED, 1);
                                if (r->retry_after_ns > retry_after)
                                        retry_after = r->retry_after_ns;
                                if (exhausted(w, s, now) && pool->dlq) {
                                        to_dead_letter(w, i, "retries_exhausted", r->reason, dl);
                                        continue;
                                }
                                if (exhausted(w, s, now) && !s->exhausted_logged) {
                                        s->exhausted_logged = true;
                                        warn_event(&w->evs[i], "out of retries and no "
                                                               "dead_letter.topic: retrying on",
                                                   r->reason);
                                } else if (kept == 0 && round == 0) {
                                        fg_warn("sink %s%s: %s; retrying",
                                                fg_sink_name(fb ? w->tgt->fb_sink : w->tgt->sink),
                                                fb ? " (fallback)" : "",
                                                r->reason ? r->reason : "failed");
                                }
                                w->send_idx[kept++] = i;
                        }
                }
                finish_done(w, ndone);
                nsend = kept;
                if (!nsend)
                        break;
                round++;
                fg_mshard_add(w->shard, FG_CTR_RETRIES, nsend);
                if (!fg_pool_backoff_sleep(pool, backoff_for(w, round, retry_after))) {
                        for (size_t k = 0; k < nsend; k++)
                                fg_item_abandon(&w->items[w->send_idx[k]]);
                        return false;
                }
        }
        return true;
}

/* Produces the dead letters until the topic has them all. Returns false on
 * abort (the rest abandoned). */
static bool dead_letter_all(fg_worker_t *w, dead_letters_t *dl) {
        fg_pool_t *pool = w->pool;
        unsigned round = 0;

        while (dl->n) {
                size_t kept = 0, ndone = 0;
                int64_t now_ms;

                fg_dlq_send(pool->dlq, w->dlq, dl->n, w->dlq_err);
                now_ms = fg_wall_ms();
                for (size_t k = 0; k < dl->n; k++) {
                        size_t i = w->dlq_idx[k];
                        if (!w->dlq_err[k]) {
                                outcome(w, i, FG_CTR_DEAD_LETTER, now_ms, &ndone);
                                continue;
                        }
                        if (kept == 0)
                                fg_warn("dead-letter topic: %s; retrying (offsets stay uncommitted)",
                                        rd_kafka_err2str(w->dlq_err[k]));
                        w->dlq[kept] = w->dlq[k];
                        w->dlq_idx[kept++] = i;
                }
                finish_done(w, ndone);
                dl->n = kept;
                if (!kept)
                        break;
                if (!fg_pool_backoff_sleep(pool, backoff_for(w, ++round, 0))) {
                        for (size_t k = 0; k < kept; k++)
                                fg_item_abandon(&w->items[w->dlq_idx[k]]);
                        dl->n = 0;
                        return false;
                }
        }
        return true;
}

void fg_worker_process(fg_worker_t *w, size_t n) {
        dead_letters_t dl = {0};
        long nsend = handle_all(w, n, &dl);

        if (nsend < 0)
                return;
        if (!deliver(w, (size_t)nsend, &dl)) {
                for (size_t k = 0; k < dl.n; k++)
                        fg_item_abandon(&w->items[w->dlq_idx[k]]);
                return;
        }
        dead_letter_all(w, &dl);
}

static bool aborted(void *pool) { return fg_pool_aborting(pool); }

static void use_target(fg_worker_t *w, fg_target_t *t) {
        w->tgt = t;
        w->conn = w->conns[t->index];
        w->fconn = w->conns[w->plan->ntargets + t->index];
        w->hctx = w->hctxs[t->index];
}

/* Inside @p t with items[0..n): carries them and then whatever is held
 * there, until the holding queue is empty; then leaves. */
static void serve_inside(fg_worker_t *w, fg_target_t *t, size_t n) {
        fg_pool_t *pool = w->pool;

        do {
                if (fg_pool_aborting(pool) || atomic_load(&pool->failed)) {
                        for (size_t i = 0; i < n; i++)
                                fg_item_abandon(&w->items[i]);
                } else {
                        fg_worker_process(w, n);
                }
        } while ((n = fg_target_next_or_leave(t, w->items, t->batch_max)) > 0);
}

/* Carries one target's share items[0..n) to its outcomes (and, while
 * inside the target, whatever is held there); parks the share instead
 * when the target is full. */
static void through_target(fg_worker_t *w, fg_target_t *t, size_t n) {
        use_target(w, t);
        if (!t->limit) {
                fg_worker_process(w, n);
                return;
        }
        if (fg_target_enter_or_hold(t, w->items, n, aborted, w->pool))
                serve_inside(w, t, n);
}

void fg_worker_serve_held(fg_worker_t *w) {
        const fg_plan_t *p = w->plan;

        for (size_t i = 0; i < p->ntargets; i++) {
                fg_target_t *t = &p->targets[i];
                size_t n = fg_target_enter_held(t, w->items, t->batch_max);
                if (n) {
                        atomic_fetch_add_explicit(&w->pool->busy, 1, memory_order_relaxed);
                        use_target(w, t);
                        serve_inside(w, t, n);
                        atomic_fetch_sub_explicit(&w->pool->busy, 1, memory_order_relaxed);
                }
        }
}

/* The share a worker carries itself: one of a target it may enter now,
 * whose breaker lets calls through, the largest; else -1. */
static long own_share(fg_worker_t *w, const size_t *cnt) {
        const fg_plan_t *p = w->plan;
        int64_t now = fg_mono_ns();
        long best = -1;

        for (size_t i = 0; i < p->ntargets; i++) {
                fg_target_t *t = &p->targets[i];
                if (!cnt[i] || (best >= 0 && cnt[i] <= cnt[best]))
                        continue;
                if (fg_brk_state(t->brk, now) != FG_BRK_CLOSED &&
                    fg_brk_state(t->brk, now) != FG_BRK_DISABLED)
                        continue;
                best = (long)i;
        }
        return best;
}

void fg_worker_dispatch(fg_worker_t *w, size_t n) {
        const fg_plan_t *p = w->plan;
        size_t cnt[FG_POOL_MAX_TARGETS] = {0}, off[FG_POOL_MAX_TARGETS], ndone = 0, k = 0;
        bool parked[FG_POOL_MAX_TARGETS] = {0};
        long own;

        if (p->direct) {
                memcpy(w->items, w->in, n * sizeof(*w->items));
                through_target(w, &p->targets[0], n);
                return;
        }
        /* Routed on the event as it came, before shaping (which may drop
         * the routed field). */
        for (size_t i = 0; i < n; i++) {
                fg_event_t ev;
                bool valid;
                /* No route filter in front of the default: it takes all. */
                if (!p->targets[0].filter) {
                        w->route[i] = &p->targets[0];
                        cnt[0]++;
                        continue;
                }
                event_from(&ev, &w->in[i]);
                valid = p->raw || fg_json_check_object(ev.value, ev.len, NULL) == FG_JSON_SCAN_OBJECT;
                w->route[i] = fg_plan_route(p, ev.value, ev.len, valid);
                if (w->route[i])
                        cnt[w->route[i]->index]++;
                else
                        w->done[ndone++] = i; /* no route and no default sink */
        }
        fg_mshard_add(w->shard, FG_CTR_FILTERED, ndone);
        fg_items_finish(w->in, w->done, ndone);
        /* Grouped by target, in order, into items, then back into in. */
        for (size_t t = 0; t < p->ntargets; t++) {
                off[t] = k;
                for (size_t i = 0; i < n; i++)
                        if (w->route[i] == &p->targets[t])
                                w->items[k++] = w->in[i];
        }
        memcpy(w->in, w->items, k * sizeof(*w->in));
        /* Everything but the worker's own share goes to the holding queues
         * first, so no event waits behind a slow target in this worker. */
        own = own_share(w, cnt);
        for (size_t t = 0; t < p->ntargets; t++)
                if (cnt[t] && (long)t != own)
                        parked[t] = fg_target_park(&p->targets[t], w->in + off[t], cnt[t]);
        for (size_t r = 0; r <= p->ntargets; r++) {
                /* Round 0: the own share; then the ones that could not be
                 * parked. */
                size_t t = r == 0 ? (size_t)own : r - 1;
                if ((r == 0 && own < 0) || (r > 0 && ((long)t == own || parked[t] || !cnt[t])))
                        continue;
                memcpy(w->items, w->in + off[t], cnt[t] * sizeof(*w->items));
                through_target(w, &p->targets[t], cnt[t]);
        }
}
