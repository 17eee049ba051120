/*
 * mock: librdkafka's in-process mock Kafka cluster, for tests, demos and
 * benchmarks (there is no real broker on these machines).
 *
 * The mock speaks the real protocol on loopback, consumer groups included.
 * Its limits shape how it is used: each partition keeps only ~5 MiB or
 * 100,000 message sets (spread bursts over partitions), one message set per
 * partition per fetch, no SASL/TLS.
 *
 * Threading: main thread (or a test's thread); the cluster runs its own
 * threads inside librdkafka.
 * Ownership: fg_mock_t owns the cluster and the handle it hangs off.
 */
#ifndef FG_MOCK_H
#define FG_MOCK_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stddef.h>

typedef struct fg_mock fg_mock_t;

fg_mock_t *fg_mock_new(int brokers, char *errstr, size_t errstr_size);
void fg_mock_destroy(fg_mock_t *mock);
/* "127.0.0.1:port,..." */
const char *fg_mock_bootstrap(const fg_mock_t *mock);
int fg_mock_create_topic(fg_mock_t *mock, const char *topic, int partitions, char *errstr,
                         size_t errstr_size);
/* For fault injection in tests. */
rd_kafka_mock_cluster_t *fg_mock_cluster(fg_mock_t *mock);

#endif
