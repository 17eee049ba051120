/*
 * mock: wrapper around rd_kafka_mock_cluster (see mock.h).
 */
#include "kafka/mock.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

struct fg_mock {
        rd_kafka_t *rk; /* the mock cluster hangs off a client handle */
        rd_kafka_mock_cluster_t *mc;
};

fg_mock_t *fg_mock_new(int brokers, char *errstr, size_t errstr_size) {
        fg_mock_t *mock = calloc(1, sizeof(*mock));
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char reason[256];
        sigset_t all, old;

        if (!mock) {
                rd_kafka_conf_destroy(conf);
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        /* The handle never connects anywhere; silence its "no bootstrap"
         * warning. */
        rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
        mock->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, reason, sizeof(reason));
        if (!mock->rk) {
                rd_kafka_conf_destroy(conf);
                snprintf(errstr, errstr_size, "mock cluster: %s", reason);
                free(mock);
                return NULL;
        }
        /* The cluster's thread inherits this mask. librdkafka's own threads
         * block every signal, but the mock's does not, and a signal meant
         * for the daemon's loop (SIGHUP, SIGTERM) landing there interrupts
         * its poll() and stops the whole cluster. */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        mock->mc = rd_kafka_mock_cluster_new(mock->rk, brokers);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (!mock->mc) {
                snprintf(errstr, errstr_size, "cannot start a mock cluster of %d brokers", brokers);
                fg_mock_destroy(mock);
                return NULL;
        }
        return mock;
}

void fg_mock_destroy(fg_mock_t *mock) {
        if (!mock)
                return;
        if (mock->mc)
                rd_kafka_mock_cluster_destroy(mock->mc);
        rd_kafka_destroy(mock->rk);
        free(mock);
}

const char *fg_mock_bootstrap(const fg_mock_t *mock) {
        return rd_kafka_mock_cluster_bootstraps(mock->mc);
}

int fg_mock_create_topic(fg_mock_t *mock, const char *topic, int partitions, char *errstr,
                         size_t errstr_size) {
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mock->mc, topic, partitions, 1);
        if (err) {
                snprintf(errstr, errstr_size, "mock topic %s: %s", topic, rd_kafka_err2str(err));
                return -1;
        }
        return 0;
}

rd_kafka_mock_cluster_t *fg_mock_cluster(fg_mock_t *mock) { return mock->mc; }
