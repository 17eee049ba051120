/*
 * handler_int: what the handler's files share — the compiled handler,
 * dotted paths (filter.c), the per-worker ctx's arena and scratch
 * (handler.c) and the shaper (shape.c). Not part of the public API; tests
 * may read fg_handler_ctx_peak.
 *
 * Threading: an fg_handler_t is read-only once fg_handler_new returns; a
 * ctx and everything done with it belong to the worker thread that owns it.
 * Ownership: the handler owns every string and array below (copies of the
 * config, which may go away after fg_handler_new); the ctx owns its arena
 * blocks and scratch.
 */
#ifndef FG_HANDLER_INT_H
#define FG_HANDLER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handler/filter.h"
#include "handler/handler.h"
#include "handler/json_scan.h"

/* A byte string with its length: keep names, path segments. */
typedef struct fg_hstr {
        const char *s;
        size_t len;
} fg_hstr_t;

/* A dotted path, split once: "a.b.c" -> {a, b, c}. */
typedef struct fg_hpath {
        char *buf;              /* owned copy, '.' replaced by NUL */
        fg_hstr_t *seg;         /* point into buf */
        size_t n;
} fg_hpath_t;

struct fg_handler {
        fg_handler_mode_t mode;
        fg_on_invalid_t on_invalid;
        fg_framing_t framing;
        fg_filter_t *filter;
        fg_hpath_t *drop;
        size_t ndrop;
        size_t drop_depth;      /* the most segments of a drop path */
        fg_hstr_t *keep;        /* sorted by (len, bytes) for bsearch, each owned */
        size_t nkeep;
        bool add_metadata;
        char *metadata_field;   /* owned */
        size_t metadata_len;
        char *metadata_key;     /* ,"<field, escaped>":{"topic": — owned */
        size_t metadata_key_len;
        bool shaping;           /* drop, keep or add_metadata */
        bool passthrough;
};

/* 0, or -1 with errstr when @p text (the value of option @p what) is not a
 * usable dotted path (empty, or an empty segment as in "a..b"). filter.c;
 * any thread. */
int fg_hpath_compile(fg_hpath_t *path, const char *what, const char *text, char *errstr,
                     size_t errstr_size);
void fg_hpath_free(fg_hpath_t *path);

/* Formats a message into @p errstr (may be NULL). Any thread. */
void fg_handler_seterr(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- the ctx (handler.c), for the shaper; the owning worker thread ---- */

/* The scratch region of at least @p bytes for the event being handled,
 * keeping its first @p keep bytes (a tape already in it). It moves when
 * it grows: take pointers into it again afterwards. */
void *fg_hctx_scratch(fg_handler_ctx_t *ctx, size_t bytes, size_t keep);

/* The output being written: room for at least @p want bytes in the arena
 * (*cap gets the room). Only one output is open at a time. */
char *fg_hctx_out_open(fg_handler_ctx_t *ctx, size_t want, size_t *cap);
/* Room for exactly @p want bytes in all, the first @p len of @p p kept
 * (the output may move). */
char *fg_hctx_out_grow(fg_handler_ctx_t *ctx, char *p, size_t len, size_t want);
/* The output is @p p[0..len) plus a NUL: it stays put until reset. */
void fg_hctx_out_close(fg_handler_ctx_t *ctx, char *p, size_t len);

/* The most bytes the ctx held (arena blocks and scratch) since it was
 * created or last reset: what the per-event memory bound is checked on. */
size_t fg_handler_ctx_peak(const fg_handler_ctx_t *ctx);

/* ---- the shaper (shape.c); the owning worker thread ---- */

/* Writes @p ev's payload (an object fg_json_check_object_tape accepted,
 * with @p tape in ctx's scratch from offset 0: end[], inner[], top[]
 * back to back) compactly into the arena,
 * shaped by @p h (drop, keep, metadata) — what jansson's compact dump of
 * the shaped DOM was, byte for byte — and points @p ev at it. */
void fg_handler_shape(const fg_handler_t *h, fg_handler_ctx_t *ctx, const fg_json_tape_t *tape,
                      fg_event_t *ev, int64_t now_ms);

#endif
