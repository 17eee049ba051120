/*
 * filter: one event filter (handler.filter in the config) compiled once
 * into a self-contained object and matched on an event's raw bytes — no
 * DOM, no allocation, no per-thread state — so anything that needs "does
 * this event match?" (the handler, a router choosing a sink) can hold one.
 *
 * Semantics, json payloads (the bytes must be a JSON object that
 * fg_json_check_object accepted): field is a dotted path through objects
 * ("a.b.c"; a key with dots in it cannot be named); when a key occurs
 * twice the last one counts, as jansson keeps it. equals compares the
 * field's text — a string's decoded value, "true"/"false" for booleans —
 * or, when the equals text is a JSON number, a number's value ("42"
 * matches 42 and 42.0); null, objects and arrays never equal anything.
 * exists needs the path present (null counts). contains_any matches a
 * string containing any keyword, or an array with such a string among its
 * elements (not nested deeper); strings are matched on their decoded
 * bytes, decoded only when they hold escapes.
 *
 * Raw payloads (@p raw): only contains_any, over all the payload's bytes.
 *
 * case_insensitive folds ASCII A-Z only; other bytes, UTF-8 letters
 * included, must match exactly (ac.h). Keywords are matched all at once
 * by an Aho-Corasick automaton: hundreds cost about what one does.
 *
 * Threading: fg_filter_new/destroy on one thread; fg_filter_match from any
 * number of threads at once (the filter is read-only).
 * Ownership: the filter copies what it needs from the config.
 */
#ifndef FG_FILTER_H
#define FG_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/strlist.h"
#include "handler/json_scan.h"

/* One filter (handler.filter): at most one of equals, exists, contains_any. */
typedef struct fg_filter_cfg {
        char *field;                /* dotted path; NULL = whole event */
        char *equals;
        bool exists;
        fg_strlist_t contains_any;
        bool case_insensitive;
} fg_filter_cfg_t;

typedef struct fg_filter fg_filter_t;

/* Compiles @p fc (read during the call only) for json payloads, or raw
 * ones with @p raw. @p what names the option in error messages
 * ("handler.filter"). NULL with errstr when @p fc is not a usable filter.
 * An empty @p fc compiles to a filter that matches everything. */
fg_filter_t *fg_filter_new(const fg_filter_cfg_t *fc, bool raw, const char *what, char *errstr,
                           size_t errstr_size);
void fg_filter_destroy(fg_filter_t *f);
/* True when @p f matches every event (no filter configured). */
bool fg_filter_is_none(const fg_filter_t *f);
/* Does the event @p p[0..n) pass? Any thread. */
bool fg_filter_match(const fg_filter_t *f, const void *p, size_t n);
/* The same for a json filter and an event fg_json_check_object_tape
 * accepted with @p tape holding every top-level member (ntop <= top_cap):
 * the field's first segment is looked up among them instead of walking to
 * it. Any thread. */
bool fg_filter_match_tape(const fg_filter_t *f, const void *p, size_t n,
                          const fg_json_tape_t *tape);

#endif
