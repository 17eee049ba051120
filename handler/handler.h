/*
 * handler: what a worker does to each event before the sink — parse, filter,
 * shape (handler.* in the config).
 *
 * json mode: the payload must be a JSON object (else INVALID, with a
 * reason); the filter (filter.h) decides SEND or FILTERED; shaping (drop,
 * keep, add_metadata — in that order) rewrites it, serialised compactly
 * with the original key order, exactly as jansson's compact dump of the
 * shaped document would be (a key given twice keeps its first place and
 * its last value). Without shaping a valid payload is passed on byte for
 * byte — unless it spans lines: JSON-lines and NDJSON consumers need one
 * line per event, so such a payload is compacted the same way. No DOM is
 * built: the payload is read in place (json_scan.h, json_walk.h).
 *
 * raw mode: bytes pass unchanged; a contains_any filter matches anywhere in
 * the payload. One Kafka message stays one record: a payload the sink's
 * framing would split or corrupt (fg_framing_t: a line break for
 * line-framed sinks, anything but one JSON value for a JSON array) is
 * INVALID, with a reason, and handler.on_invalid decides.
 *
 * Memory: handling one event of n bytes holds at most FG_HANDLER_EVENT_BOUND(n)
 * bytes of the ctx (output, scratch) beyond the payload itself, whatever
 * its shape; an invalid payload too big for jansson to diagnose within
 * that bound gets a reason from the scanner instead of jansson's.
 *
 * Threading: an fg_handler_t is immutable after fg_handler_new and shared
 * by all workers; each worker owns one fg_handler_ctx_t.
 * Ownership: output produced by fg_handler_apply lives in the ctx until
 * fg_handler_ctx_reset (the worker resets before each batch); reasons are
 * static strings or owned by the ctx likewise.
 */
#ifndef FG_HANDLER_H
#define FG_HANDLER_H

#include <stddef.h>

#include <stdbool.h>

#include "common/strlist.h"
#include "handler/filter.h"
#include "pipeline/event.h"

/* The per-event memory bound (see the top): 12 bytes per payload byte and
 * 256 KiB (shape.c works out 10.4 at worst; check_handler measures at most
 * 10.3, for {"":{},"":{},...}). */
#define FG_HANDLER_EVENT_BOUND(n) ((size_t)(n) * 12 + (size_t)256 * 1024)

typedef enum fg_handler_mode {
        FG_HANDLER_JSON = 0,  /* parse, filter, shape, re-serialise compactly */
        FG_HANDLER_RAW,       /* pass the bytes; filters match the whole payload */
} fg_handler_mode_t;

/* What the worker does with an event the handler calls INVALID. */
typedef enum fg_on_invalid {
        FG_ON_INVALID_DEAD_LETTER = 0,
        FG_ON_INVALID_DROP,
        FG_ON_INVALID_FAIL,   /* stop the daemon, leaving the event uncommitted */
} fg_on_invalid_t;

/* The handler section of the configuration. Strings and lists belong to the
 * config that holds it. */
typedef struct fg_handler_cfg {
        fg_handler_mode_t mode;
        fg_on_invalid_t on_invalid;
        fg_filter_cfg_t filter;
        bool add_metadata;          /* add metadata_field {topic, partition, ...} */
        char *metadata_field;
        fg_strlist_t keep;          /* keep only these top-level fields */
        fg_strlist_t drop;          /* drop these (dotted) fields */
        /* Not an option: how the sink frames events (fg_sink_framing), which
         * raw payloads must not break. The daemon sets it. */
        fg_framing_t framing;
} fg_handler_cfg_t;

typedef enum fg_handle_verdict {
        FG_HANDLE_SEND = 0, /* deliver ev (value/len possibly rewritten) */
        FG_HANDLE_FILTERED, /* filtered out: a final outcome */
        FG_HANDLE_INVALID,  /* not processable: handler.on_invalid decides */
} fg_handle_verdict_t;

typedef struct fg_handler fg_handler_t;
typedef struct fg_handler_ctx fg_handler_ctx_t;

/* @p hc is read during the call only: the handler copies what it keeps. */
fg_handler_t *fg_handler_new(const fg_handler_cfg_t *hc, char *errstr, size_t errstr_size);
/* handler.on_invalid, as compiled into @p h. Any thread. */
fg_on_invalid_t fg_handler_on_invalid(const fg_handler_t *h);
void fg_handler_destroy(fg_handler_t *h);

fg_handler_ctx_t *fg_handler_ctx_new(const fg_handler_t *h);
void fg_handler_ctx_destroy(fg_handler_ctx_t *ctx);
/* Frees the outputs and reasons of earlier applies. */
void fg_handler_ctx_reset(fg_handler_ctx_t *ctx);

/* Applies the handler to @p ev. On SEND, ev->value/len may now point into
 * ctx. On INVALID, *reason explains (e.g. "not JSON: ... at 1:17",
 * "not a JSON object"). @p now_ms is the processing time for metadata. */
fg_handle_verdict_t fg_handler_apply(const fg_handler_t *h, fg_handler_ctx_t *ctx, fg_event_t *ev,
                                     int64_t now_ms, const char **reason);

/* True when the handler passes every valid event on unchanged (no filter,
 * no shaping): lets callers skip work. */
int fg_handler_is_passthrough(const fg_handler_t *h);

#endif
