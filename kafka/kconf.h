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
#include <stdbool.h>
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

/* The consumer's configuration (@p bootstrap NULL: none, for checks). NULL
 * with a message naming the property when librdkafka refuses a value. */
rd_kafka_conf_t *fg_kconf_consumer(const fg_kafka_cfg_t *kc, const char *bootstrap,
                                   char *errstr, size_t errstr_size);

/* A producer's configuration for @p bootstrap (NULL: none); @p props (may
 * be NULL) is applied verbatim after floodgate's defaults. */
rd_kafka_conf_t *fg_kconf_producer(const char *bootstrap, const fg_strmap_t *props,
                                   char *errstr, size_t errstr_size);

/* The log callback floodgate's clients use: librdkafka's syslog levels
 * mapped onto ours. librdkafka's threads. */
void fg_kconf_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

/* Sets one property, reporting "kafka property NAME: reason" on failure:
 * never the value (it may be a password), see fg_kconf_check_property.
 * 0 or -1. */
int fg_kconf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                 size_t errstr_size);

/* Whether librdkafka accepts @p value for the property @p name, asked of a
 * scratch configuration (no client is made; the same answer for consumers
 * and producers). 0 when it does; -1 with the reason in @p msg and
 * *unknown set when librdkafka knows no such property (else the value was
 * refused). The reason never holds the value, nor any part of it. Any
 * thread. */
int fg_kconf_check_property(const char *name, const char *value, bool *unknown, char *msg,
                            size_t msg_size);

/* Every property name librdkafka knows (global and topic level), for
 * "did you mean": *names points at a list that lives as long as the
 * process. Any thread. */
size_t fg_kconf_property_names(const char *const **names);

/* What only the whole set of properties shows (fetch.max.bytes below
 * message.max.bytes, a missing mandatory companion, SSL material that
 * cannot be loaded): builds the consumer's configuration as ingest does,
 * without brokers, and lets librdkafka create (and at once destroy) the
 * client. 0, or -1 with librdkafka's reason, the values of properties
 * with secret names (fg_redact_is_secret_name) redacted. Starts and stops
 * librdkafka's threads: for check-config and start-up, not hot paths. */
int fg_kconf_check_consumer(const fg_kafka_cfg_t *kc, char *errstr, size_t errstr_size);

/* The same for a producer configuration @p conf (consumed): the kafka sink
 * and the dead letters build theirs in kafka/kprod.c. */
int fg_kconf_check_client(rd_kafka_type_t type, rd_kafka_conf_t *conf, const fg_strmap_t *props,
                          char *errstr, size_t errstr_size);

#endif
