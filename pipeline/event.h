/*
 * event: one Kafka message as the handler and the sinks see it — a view of
 * the message an item holds (pipeline/item.h), with the payload the handler
 * may have rewritten.
 *
 * Threading: a plain value used by the worker that owns the item.
 * Ownership: every pointer borrows from the item's message, or from the
 * worker's handler context (a shaped payload), for the length of one batch.
 */
#ifndef FG_EVENT_H
#define FG_EVENT_H

#include <stddef.h>
#include <stdint.h>

/* How a sink puts events into its output, and so what one event's bytes
 * must not contain for a reader to find exactly one record there. */
typedef enum fg_framing {
        FG_FRAMING_NONE = 0,   /* each event is a message of its own (kafka, http json, null, plugin) */
        FG_FRAMING_LINES,      /* one event per line (file, stdout, http ndjson) */
        FG_FRAMING_JSON_ARRAY, /* events are the elements of a JSON array (http json_array) */
} fg_framing_t;

typedef struct fg_event {
        const char *topic;
        int32_t partition;
        int64_t offset;
        int64_t ts_ms;          /* Kafka message timestamp, -1 if none */
        int64_t ingest_ms;      /* wall clock when floodgate took it from Kafka */
        const void *key;
        size_t key_len;
        const void *value;      /* the (shaped) payload */
        size_t len;
        const void *src;        /* the rd_kafka_message_t it came from */
        /* Set when the event goes to a fallback sink because its primary
         * failed (static strings): a kafka sink adds fg.error.* headers,
         * like a dead letter's. NULL otherwise. */
        const char *error_class;
        const char *error_message;
} fg_event_t;

#endif
