/*
 * kconf: librdkafka configuration for floodgate's clients.
 *
 * floodgate's defaults come first, then kafka.properties verbatim (so a
 * user can tune anything), then the few settings floodgate's guarantees
 * depend on, which the config loader already refuses in kafka.properties.
 *
 * Threading: main thread (creates handles). The log callback it installs
 * runs on librdkafka's threads and only calls fg_log (thread-safe).
 * Ownership: returns a new rd_kafka_conf_t the caller passes to rd_kafka_new
 * (which takes it) or destroys.
 */
#ifndef FG_KCONF_H
#define FG_KCONF_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "common/strlist.h"

/* The kafka section of the configuration: what the Kafka clients need.
 * Strings, lists and maps belong to the config that holds it. */
typedef struct fg_kafka_cfg {
        char *brokers;           /* "host:port,..." or "mock" */
        char *group_id;
        fg_strlist_t topics;
        fg_strmap_t properties;  /* passed to librdkafka verbatim */
        int64_t mock_brokers;    /* kafka.mock.brokers, with brokers: mock */
        int64_t mock_partitions; /* kafka.mock.partitions per topic */
} fg_kafka_cfg_t;

/* The consumer's configuration. NULL with a message naming the property
 * when librdkafka refuses a value. */
rd_kafka_conf_t *fg_kconf_consumer(const fg_kafka_cfg_t *kc, const char *bootstrap,
                                   char *errstr, size_t errstr_size);

/* A producer's configuration for @p bootstrap; @p props (may be NULL) is
 * applied verbatim after floodgate's defaults. */
rd_kafka_conf_t *fg_kconf_producer(const char *bootstrap, const fg_strmap_t *props,
                                   char *errstr, size_t errstr_size);

/* Sets one property, reporting "name: reason" on failure. 0 or -1. */
int fg_kconf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                 size_t errstr_size);

#endif
