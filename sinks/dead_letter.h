/*
 * dead_letter: events that cannot be delivered go to dead_letter.topic —
 * the original payload and key (and the original headers), plus headers
 * saying why:
 *   fg.error.class      invalid | rejected | retries_exhausted | breaker_open
 *   fg.error.message    the handler's or sink's reason
 *   fg.attempts         sink attempts made (decimal)
 *   fg.source.topic, fg.source.partition, fg.source.offset
 *   fg.source.timestamp Kafka timestamp of the original, ms (if any)
 *   fg.time             when it was dead-lettered, ms since the epoch
 *   fg.parked.since, fg.parked.seq  with dead_letter.park_key, when the
 *                       event's key is parked: the park's start (ms since
 *                       the epoch) and the event's place in it (0 = the
 *                       failure that parked the key; see pipeline/park.h)
 * Class `parked` marks an event dead-lettered only because its key is
 * parked; its message names the failure that parked the key.
 * An event counts as dead-lettered (and its offset may be committed) only
 * once the dead-letter topic acknowledged it; if that produce fails, the
 * worker retries it and the offset stays uncommitted.
 *
 * Threading: fg_dlq_new/destroy: main thread; fg_dlq_send: any worker.
 * Ownership: entries and the messages they point to stay the caller's.
 */
#ifndef FG_DEAD_LETTER_H
#define FG_DEAD_LETTER_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/strlist.h"

/* The dead_letter section of the configuration. */
typedef struct fg_dlq_cfg {
        char *topic;            /* NULL = no dead-letter topic */
        char *brokers;          /* NULL = kafka.brokers */
        fg_strmap_t properties;
        bool park_key;          /* a dead letter parks its key (pipeline/park.h) */
        int64_t max_parked_keys;
} fg_dlq_cfg_t;

typedef struct fg_dlq fg_dlq_t;

/* Where a dead letter came from, when that is not its message's own
 * topic/partition/offset (a replayed dead letter keeps its original's). */
typedef struct fg_dlq_source {
        const char *topic;
        int32_t partition;
        int64_t offset;
        int64_t ts_ms;        /* -1: none */
} fg_dlq_source_t;

typedef struct fg_dlq_entry {
        const rd_kafka_message_t *src; /* the original message */
        const char *error_class;
        const char *error_message;
        unsigned attempts;
        int64_t parked_since_ms;       /* > 0: fg.parked.since and .seq */
        int64_t parked_seq;
        const fg_dlq_source_t *source; /* NULL: src's own coordinates */
} fg_dlq_entry_t;

/* NULL with a reason on failure; only call when @p dc->topic is set.
 * @p kafka_bootstrap is kafka.brokers resolved (used unless
 * dead_letter.brokers is set); @p timeout_ns bounds each delivery. */
fg_dlq_t *fg_dlq_new(const fg_dlq_cfg_t *dc, const char *kafka_bootstrap, int64_t timeout_ns,
                     char *errstr, size_t errstr_size);
void fg_dlq_destroy(fg_dlq_t *dlq);
/* Whether librdkafka would create the dead-letter producer fg_dlq_new
 * makes (fg_kprod_check): 0, or -1 with the reason. Main thread. */
int fg_dlq_check(const fg_dlq_cfg_t *dc, int64_t timeout_ns, char *errstr, size_t errstr_size);

/* err[i] is RD_KAFKA_RESP_ERR_NO_ERROR once entry i is acknowledged. */
void fg_dlq_send(fg_dlq_t *dlq, const fg_dlq_entry_t *entries, size_t n, rd_kafka_resp_err_t *err);

#endif
