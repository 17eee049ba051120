/*
 * handler_int: the compiled handler, shared by handler.c (lifecycle,
 * parsing, shaping, serialisation) and handler_filter.c (dotted paths and
 * the filter). Not part of the public API.
 *
 * Threading: an fg_handler_t is read-only once fg_handler_new returns; the
 * fg_hfilter_* match functions take the caller's ctx for scratch space and
 * run on the thread that owns it.
 * Ownership: the handler owns every string and array below (copies of the
 * config, which may go away after fg_handler_new).
 */
#ifndef FG_HANDLER_INT_H
#define FG_HANDLER_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "handler/handler.h"

/* A byte string with its length: keywords, keep names, path segments. */
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

typedef enum fg_hfilter_kind {
        FG_HFILTER_NONE = 0,
        FG_HFILTER_EQUALS,
        FG_HFILTER_EXISTS,
        FG_HFILTER_CONTAINS,
} fg_hfilter_kind_t;

typedef struct fg_hfilter {
        fg_hfilter_kind_t kind;
        bool ci;                /* ASCII case folding; equals/keywords stored folded */
        fg_hpath_t field;       /* json mode only */
        char *equals;           /* owned */
        size_t equals_len;
        bool equals_is_num;     /* equals is a JSON number: numbers compare by value */
        bool equals_is_int;     /* ... an integer literal that fits json_int_t */
        json_int_t equals_int;
        double equals_real;
        fg_hstr_t *kw;          /* contains_any keywords, each owned */
        size_t nkw;
} fg_hfilter_t;

struct fg_handler {
        fg_handler_mode_t mode;
        fg_on_invalid_t on_invalid;
        fg_hfilter_t filter;
        fg_hpath_t *drop;
        size_t ndrop;
        fg_hstr_t *keep;        /* sorted by (len, bytes) for bsearch, each owned */
        size_t nkeep;
        bool add_metadata;
        char *metadata_field;   /* owned */
        size_t metadata_len;
        bool shaping;           /* drop, keep or add_metadata */
        bool passthrough;
};

/* Per-worker scratch the filter may use (see handler.c for the rest). */
struct fg_handler_ctx;

/* 0, or -1 with errstr when @p text (the value of option @p what) is not a
 * usable dotted path (empty, or an empty segment as in "a..b"). */
int fg_hpath_compile(fg_hpath_t *path, const char *what, const char *text, char *errstr,
                     size_t errstr_size);
void fg_hpath_free(fg_hpath_t *path);
/* The value at @p path under @p root (objects only), or NULL. */
json_t *fg_hpath_get(const fg_hpath_t *path, json_t *root);

/* Compiles @p fc for a handler in @p mode into @p f (zeroed by the
 * caller). 0, or -1 with errstr; fg_hfilter_free undoes a partial compile
 * too. */
int fg_hfilter_compile(fg_hfilter_t *f, fg_handler_mode_t mode, const fg_filter_cfg_t *fc,
                       char *errstr, size_t errstr_size);
void fg_hfilter_free(fg_hfilter_t *f);
/* json mode: does the object @p root pass? */
bool fg_hfilter_match_json(const fg_hfilter_t *f, struct fg_handler_ctx *ctx, json_t *root);
/* raw mode: does the payload contain a keyword? */
bool fg_hfilter_match_raw(const fg_hfilter_t *f, struct fg_handler_ctx *ctx, const void *p,
                          size_t n);

/* Formats a message into @p errstr (may be NULL). */
void fg_handler_seterr(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The ctx's case-folding scratch buffer (handler.c owns the ctx layout). */
fg_buf_t *fg_handler_ctx_fold_buf(struct fg_handler_ctx *ctx);

#endif
