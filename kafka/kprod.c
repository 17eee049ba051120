/*
 * kprod: synchronous batch produce over one shared idempotent producer
 * (see kprod.h).
 */
#include "kafka/kprod.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/cond.h"
#include "common/log.h"
#include "kafka/kconf.h"

struct fg_kprod {
        rd_kafka_t *rk;
        char *default_topic;
        int64_t timeout_ns;
        pthread_mutex_t lock;
        pthread_t poller;
        _Atomic bool stop;
};

/* One fg_kprod_send call waiting for its delivery reports. */
typedef struct waiter {
        pthread_cond_t cond;
        size_t pending;
        rd_kafka_resp_err_t *err;
} waiter_t;

typedef struct slot {
        waiter_t *w;
        size_t idx;
} slot_t;

/* Poller thread: one delivery report. */
static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque) {
        fg_kprod_t *kp = opaque;
        slot_t *s = rkm->_private;

        pthread_mutex_lock(&kp->lock);
        s->w->err[s->idx] = rkm->err;
        if (--s->w->pending == 0)
                pthread_cond_signal(&s->w->cond);
        pthread_mutex_unlock(&kp->lock);
}

static void *poller_main(void *arg) {
        fg_kprod_t *kp = arg;

        pthread_setname_np(pthread_self(), "fg-kprod");
        while (!atomic_load(&kp->stop))
                rd_kafka_poll(kp->rk, 100);
        return NULL;
}

/* The producer's configuration: floodgate's defaults, @p props, then what
 * the delivery guarantee needs. @p bootstrap NULL: none (a check). */
static rd_kafka_conf_t *producer_conf(const char *name, const char *bootstrap,
                                      const fg_strmap_t *props, int64_t timeout_ns, char *errstr,
                                      size_t errstr_size) {
        rd_kafka_conf_t *conf;
        char timeout_ms[32];

        snprintf(timeout_ms, sizeof(timeout_ms), "%lld", (long long)(timeout_ns / FG_NS_PER_MS));
        conf = fg_kconf_producer(bootstrap, props, errstr, errstr_size);
        if (conf && (fg_kconf_set(conf, "enable.idempotence", "true", errstr, errstr_size) ||
                     fg_kconf_set(conf, "message.timeout.ms", timeout_ms, errstr, errstr_size) ||
                     fg_kconf_set(conf, "client.id", name, errstr, errstr_size))) {
                rd_kafka_conf_destroy(conf);
                conf = NULL;
        }
        return conf;
}

/* Main thread. */
int fg_kprod_check(const char *name, const fg_strmap_t *props, int64_t timeout_ns, char *errstr,
                   size_t errstr_size) {
        rd_kafka_conf_t *conf = producer_conf(name, NULL, props, timeout_ns, errstr, errstr_size);

        if (!conf)
                return -1;
        return fg_kconf_check_client(RD_KAFKA_PRODUCER, conf, props, errstr, errstr_size);
}

fg_kprod_t *fg_kprod_new(const char *name, const char *bootstrap, const fg_strmap_t *props,
                         const char *default_topic, int64_t timeout_ns, char *errstr,
                         size_t errstr_size) {
        fg_kprod_t *kp = calloc(1, sizeof(*kp));
        rd_kafka_conf_t *conf;
        char reason[512];

        if (!kp) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        conf = producer_conf(name, bootstrap, props, timeout_ns, errstr, errstr_size);
        if (!conf) {
                free(kp);
                return NULL;
        }
        rd_kafka_conf_set_opaque(conf, kp);
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
        kp->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, reason, sizeof(reason));
        if (!kp->rk) {
                rd_kafka_conf_destroy(conf);
                snprintf(errstr, errstr_size, "cannot create the %s producer: %s", name, reason);
                free(kp);
                return NULL;
        }
        kp->default_topic = default_topic ? strdup(default_topic) : NULL;
        kp->timeout_ns = timeout_ns;
        pthread_mutex_init(&kp->lock, NULL);
        if (pthread_create(&kp->poller, NULL, poller_main, kp)) {
                snprintf(errstr, errstr_size, "cannot start the %s producer's poller", name);
                rd_kafka_destroy(kp->rk);
                pthread_mutex_destroy(&kp->lock);
                free(kp->default_topic);
                free(kp);
                return NULL;
        }
        return kp;
}

void fg_kprod_destroy(fg_kprod_t *kp) {
        if (!kp)
                return;
        /* Every send waited for its reports, so this only drains stragglers. */
        rd_kafka_flush(kp->rk, (int)(kp->timeout_ns / FG_NS_PER_MS));
        atomic_store(&kp->stop, true);
        pthread_join(kp->poller, NULL);
        rd_kafka_destroy(kp->rk);
        pthread_mutex_destroy(&kp->lock);
        free(kp->default_topic);
        free(kp);
}

/* Produces one message, waiting while librdkafka's local queue is full.
 * Returns the local error (the report then never comes), or NO_ERROR. */
static rd_kafka_resp_err_t produce_one(fg_kprod_t *kp, fg_kprod_msg_t *m, slot_t *s) {
        struct timespec one_ms = {0, FG_NS_PER_MS};
        int64_t deadline = fg_mono_ns() + kp->timeout_ns;
        const char *topic = m->topic ? m->topic : kp->default_topic;
        rd_kafka_resp_err_t err;

        for (;;) {
                err = rd_kafka_producev(kp->rk, RD_KAFKA_V_TOPIC(topic),
                                        RD_KAFKA_V_KEY((void *)m->key, m->key_len),
                                        RD_KAFKA_V_VALUE((void *)m->value, m->len),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_HEADERS(m->headers),
                                        RD_KAFKA_V_TIMESTAMP(m->ts_ms >= 0 ? m->ts_ms : 0),
                                        RD_KAFKA_V_OPAQUE(s), RD_KAFKA_V_END);
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || fg_mono_ns() >= deadline)
                        break;
                nanosleep(&one_ms, NULL);
        }
        if (err) {
                rd_kafka_headers_destroy(m->headers);
        }
        m->headers = NULL; /* consumed either way */
        return err;
}

void fg_kprod_send(fg_kprod_t *kp, fg_kprod_msg_t *msgs, size_t n, rd_kafka_resp_err_t *err) {
        slot_t *slots = calloc(n ? n : 1, sizeof(*slots));
        waiter_t w = {.pending = n, .err = err};

        if (!slots)
                abort();
        fg_cond_init_monotonic(&w.cond);

        for (size_t i = 0; i < n; i++) {
                rd_kafka_resp_err_t e;
                slots[i] = (slot_t){&w, i};
                err[i] = RD_KAFKA_RESP_ERR__IN_PROGRESS;
                e = produce_one(kp, &msgs[i], &slots[i]);
                if (e) {
                        pthread_mutex_lock(&kp->lock);
                        err[i] = e;
                        w.pending--;
                        pthread_mutex_unlock(&kp->lock);
                }
        }

        /* librdkafka reports every produced message by message.timeout.ms,
         * and the slots live on this frame: wait for all of them. */
        pthread_mutex_lock(&kp->lock);
        while (w.pending > 0) {
                struct timespec deadline = fg_deadline_in(kp->timeout_ns + 5 * FG_NS_PER_S);
                if (pthread_cond_timedwait(&w.cond, &kp->lock, &deadline) != 0 && w.pending > 0)
                        fg_warn("kafka producer: %zu delivery reports overdue; still waiting",
                                w.pending);
        }
        pthread_mutex_unlock(&kp->lock);
        pthread_cond_destroy(&w.cond);
        free(slots);
}

int fg_kprod_err_is_retriable(rd_kafka_resp_err_t err) {
        switch (err) {
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        case RD_KAFKA_RESP_ERR_INVALID_MSG:
        case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
        case RD_KAFKA_RESP_ERR_INVALID_RECORD:
        case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
        case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR__INVALID_ARG:
                return 0;
        default:
                return 1;
        }
}
