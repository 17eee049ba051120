/*
 * handler: parse, filter and shape one event on a worker (see handler.h;
 * the filter is filter.c, the shaper shape.c).
 *
 * DESIGN
 * fg_handler_new compiles the config once; fg_handler_apply then does only
 * what the config needs, always on the payload's own bytes:
 *   raw                 the filter's automaton over the payload, then the
 *                       sink's framing check (a memchr for line breaks,
 *                       or the scanner for "one JSON value");
 *   json, passthrough   fg_json_check_object (json_scan.c: one pass, no
 *                       allocation, agrees with jansson on what loads);
 *                       the original bytes go on;
 *   json, filter        the scan also records where each container ends
 *                       and where the top-level members are (the tape,
 *                       json_scan.h), the filter finds its field from it
 *                       and matches on the bytes;
 *   json, shaping       the same, then the shaper writes the shaped event
 *                       into the arena, stepping over nested values with
 *                       the tape;
 *   line breaks         an unshaped valid payload with a raw CR or LF is
 *                       compacted by the shaper with nothing to drop.
 * jansson is called for one thing only: the reason of an invalid payload,
 * and only when what it would allocate for it fits in the per-event bound
 * (it builds the DOM of everything before the error: up to ~150x the
 * bytes); otherwise the reason comes from the scanner's position.
 *
 * Memory: outputs and formatted reasons go into a per-ctx arena of 64 KiB
 * blocks (an output over 16 KiB gets a block of its own), so earlier
 * outputs never move while later ones are added and 10k applies between
 * resets cost 10k bump allocations; reset keeps one block for reuse and
 * frees the rest. Each output is NUL-terminated (not counted in len) for
 * the benefit of debuggers and tests. The scanner's tape and the shaper's
 * member records share one scratch region per ctx, sized to the event
 * (kept across events up to 1 MiB). The ctx counts what it holds, so the
 * tests can check the per-event bound (FG_HANDLER_EVENT_BOUND).
 *
 * Threading: fg_handler_new/destroy on one thread (the daemon's main
 * thread) while no worker uses the handler; the handler is read-only
 * afterwards and shared. A ctx, and every fg_handler_apply with it, belongs
 * to one worker thread at a time (it may be created and destroyed
 * elsewhere, before the worker starts and after it is joined). jansson is
 * thread-safe for distinct values; its hash seed is initialised in
 * fg_handler_new, before workers start.
 * Ownership: the handler owns its compiled copy of the config; a ctx owns
 * the outputs and reasons of its applies until fg_handler_ctx_reset.
 */
#include "handler/handler_int.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"

/* Reasons are kept short for logs, metrics labels and dead-letter headers. */
#define FG_HANDLER_REASON_MAX 120
#define FG_HANDLER_BLOCK      (64 * 1024)
/* Scratch that grew past this (a huge event) is freed at reset. */
#define FG_HANDLER_SCRATCH_KEEP (1024 * 1024)
/* Tape entries a new ctx starts with (grown to the largest event's). */
#define FG_HANDLER_TAPE_INIT 64
/* What jansson allocates per payload byte it has read, at most: nested
 * empty arrays, measured on jansson 2.14 (144 bytes), with room. */
#define FG_HANDLER_JANSSON_PER_BYTE 160

typedef struct fg_hblock {
        struct fg_hblock *next;
        size_t cap, used;
        char data[];
} fg_hblock_t;

struct fg_handler_ctx {
        fg_hblock_t *blocks; /* the first is the one being filled */
        fg_hblock_t *open;   /* the open output's own block, linked at close */
        void *scratch;
        size_t scratch_cap;
        size_t tape_cap;     /* tape entries the scratch is laid out for: containers */
        size_t top_cap;      /* ... and top-level members */
        size_t held, peak;   /* bytes of blocks and scratch */
};

/* Any thread: formats into errstr when there is one (shared with
 * filter.c through handler_int.h). */
void fg_handler_seterr(char *errstr, size_t errstr_size, const char *fmt, ...) {
        va_list ap;

        if (!errstr || !errstr_size)
                return;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
}

/* ---- lifecycle ---- */

static int keep_cmp(const void *a, const void *b) {
        const fg_hstr_t *x = a, *y = b;

        if (x->len != y->len)
                return x->len < y->len ? -1 : 1;
        return memcmp(x->s, y->s, x->len);
}

static bool utf8_valid(const char *s) {
        for (const unsigned char *p = (const unsigned char *)s; *p;) {
                size_t k = *p < 0x80 ? 1 : fg_utf8_seq_len(p, 4); /* NUL-terminated: stops there */

                if (!k)
                        return false;
                p += k;
        }
        return true;
}

/* ,"<name, escaped as jansson would>":{"topic": — the metadata's opening,
 * built once. */
static char *metadata_key(const char *name, size_t *len) {
        static const char hex[] = "0123456789ABCDEF";
        size_t n = strlen(name), o = 0;
        char *k = malloc(6 * n + 16);

        if (!k)
                return NULL;
        k[o++] = ',';
        k[o++] = '"';
        for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
                if (*p >= 0x20 && *p != '"' && *p != '\\') {
                        k[o++] = (char)*p;
                        continue;
                }
                k[o++] = '\\';
                switch (*p) {
                case '"': k[o++] = '"'; break;
                case '\\': k[o++] = '\\'; break;
                case '\b': k[o++] = 'b'; break;
                case '\f': k[o++] = 'f'; break;
                case '\n': k[o++] = 'n'; break;
                case '\r': k[o++] = 'r'; break;
                case '\t': k[o++] = 't'; break;
                default:
                        memcpy(k + o, "u00", 3);
                        k[o + 3] = hex[*p >> 4];
                        k[o + 4] = hex[*p & 15];
                        o += 5;
                        break;
                }
        }
        memcpy(k + o, "\":{\"topic\":", 11);
        *len = o + 11;
        return k;
}

/* fg_handler_new's way out when an allocation fails. */
static fg_handler_t *out_of_memory(fg_handler_t *h, char *errstr, size_t errstr_size) {
        fg_handler_seterr(errstr, errstr_size, "handler: out of memory");
        fg_handler_destroy(h);
        return NULL;
}

/* Any thread; the daemon calls it on the main thread. */
fg_handler_t *fg_handler_new(const fg_handler_cfg_t *hc, char *errstr, size_t errstr_size) {
        fg_handler_t *h = calloc(1, sizeof(*h));
        const fg_filter_cfg_t *fc;

        if (!h) {
                fg_handler_seterr(errstr, errstr_size, "handler: out of memory");
                return NULL;
        }
        if (!hc) {
                fg_handler_seterr(errstr, errstr_size, "handler: no config");
                goto out;
        }
        fc = &hc->filter;
        if (hc->mode != FG_HANDLER_JSON && hc->mode != FG_HANDLER_RAW) {
                fg_handler_seterr(errstr, errstr_size, "handler.mode: unknown mode %d",
                                  (int)hc->mode);
                goto out;
        }
        h->mode = hc->mode;
        h->on_invalid = hc->on_invalid;
        h->framing = hc->framing;
        if (h->mode == FG_HANDLER_RAW &&
            (fc->equals != NULL) + fc->exists + (fc->contains_any.n > 0) <= 1 &&
            (fc->field || fc->equals || fc->exists)) {
                fg_handler_seterr(errstr, errstr_size,
                                  "handler.mode 'raw' filters only with contains_any over the "
                                  "whole payload (no field, equals or exists)");
                goto out;
        }
        h->filter = fg_filter_new(fc, h->mode == FG_HANDLER_RAW, "handler.filter", errstr,
                                  errstr_size);
        if (!h->filter)
                goto out;

        h->add_metadata = hc->add_metadata;
        h->shaping = h->add_metadata || hc->keep.n || hc->drop.n;
        if (h->mode == FG_HANDLER_RAW && h->shaping) {
                fg_handler_seterr(errstr, errstr_size,
                                  "handler.mode 'raw' passes bytes unchanged: add_metadata, keep "
                                  "and drop need mode json");
                goto out;
        }

        if (hc->drop.n) {
                h->drop = calloc(hc->drop.n, sizeof(*h->drop));
                if (!h->drop)
                        return out_of_memory(h, errstr, errstr_size);
                for (; h->ndrop < hc->drop.n; h->ndrop++) {
                        if (fg_hpath_compile(&h->drop[h->ndrop], "handler.drop",
                                             hc->drop.v[h->ndrop], errstr, errstr_size) < 0)
                                goto out;
                        if (h->drop[h->ndrop].n > h->drop_depth)
                                h->drop_depth = h->drop[h->ndrop].n;
                }
        }

        if (hc->keep.n) {
                h->keep = calloc(hc->keep.n, sizeof(*h->keep));
                if (!h->keep)
                        return out_of_memory(h, errstr, errstr_size);
                for (; h->nkeep < hc->keep.n; h->nkeep++) {
                        const char *name = hc->keep.v[h->nkeep];

                        if (!name || !*name) {
                                fg_handler_seterr(errstr, errstr_size,
                                                  "handler.keep: field names must not be empty");
                                goto out;
                        }
                        if (!(h->keep[h->nkeep].s = strdup(name)))
                                return out_of_memory(h, errstr, errstr_size);
                        h->keep[h->nkeep].len = strlen(name);
                }
                qsort(h->keep, h->nkeep, sizeof(*h->keep), keep_cmp);
        }

        if (h->add_metadata) {
                const char *name = hc->metadata_field;

                if (!name || !*name) {
                        fg_handler_seterr(errstr, errstr_size,
                                          "handler.metadata_field must not be empty");
                        goto out;
                }
                /* Keys must be UTF-8: check once, not per event. */
                if (!utf8_valid(name)) {
                        fg_handler_seterr(errstr, errstr_size,
                                          "handler.metadata_field is not valid UTF-8");
                        goto out;
                }
                if (!(h->metadata_field = strdup(name)) ||
                    !(h->metadata_key = metadata_key(name, &h->metadata_key_len)))
                        return out_of_memory(h, errstr, errstr_size);
                h->metadata_len = strlen(name);
        }

        h->passthrough = fg_filter_is_none(h->filter) && !h->shaping &&
                         !(h->mode == FG_HANDLER_RAW && h->framing != FG_FRAMING_NONE);
        /* jansson still diagnoses invalid payloads on the workers: seed its
         * hash function here, on one thread, rather than in whichever
         * worker creates the first object. */
        json_object_seed(0);
        return h;

out:
        fg_handler_destroy(h);
        return NULL;
}

/* The thread that created @p h, once no ctx is applying it. */
void fg_handler_destroy(fg_handler_t *h) {
        if (!h)
                return;
        fg_filter_destroy(h->filter);
        for (size_t i = 0; i < h->ndrop; i++)
                fg_hpath_free(&h->drop[i]);
        free(h->drop);
        for (size_t i = 0; i < h->nkeep; i++)
                free((char *)h->keep[i].s);
        free(h->keep);
        free(h->metadata_field);
        free(h->metadata_key);
        free(h);
}

/* Any thread. */
int fg_handler_is_passthrough(const fg_handler_t *h) {
        return h->passthrough;
}

/* Any thread. */
fg_on_invalid_t fg_handler_on_invalid(const fg_handler_t *h) {
        return h->on_invalid;
}

/* ---- ctx: arena and scratch ---- */

static void held_add(fg_handler_ctx_t *ctx, size_t n) {
        ctx->held += n;
        if (ctx->held > ctx->peak)
                ctx->peak = ctx->held;
}

static fg_hblock_t *block_new(fg_handler_ctx_t *ctx, size_t cap) {
        fg_hblock_t *b = malloc(sizeof(*b) + cap);

        /* Out of memory aborts, as fg_buf does: outputs are bounded by
         * the queue's byte limit and the per-event bound. */
        if (!b)
                abort();
        b->next = NULL;
        b->cap = cap;
        b->used = 0;
        held_add(ctx, sizeof(*b) + cap);
        return b;
}

static void block_free(fg_handler_ctx_t *ctx, fg_hblock_t *b) {
        ctx->held -= sizeof(*b) + b->cap;
        free(b);
}

/* Any thread (the pool creates ctxs on the main thread and hands each to
 * its worker before that starts). */
fg_handler_ctx_t *fg_handler_ctx_new(const fg_handler_t *h) {
        return calloc(1, sizeof(fg_handler_ctx_t));
}

/* The owning thread, or any thread once the owner has stopped (joined). */
void fg_handler_ctx_destroy(fg_handler_ctx_t *ctx) {
        fg_hblock_t *b, *next;

        if (!ctx)
                return;
        for (b = ctx->blocks; b; b = next) {
                next = b->next;
                free(b);
        }
        free(ctx->open);
        free(ctx->scratch);
        free(ctx);
}

/* The owning worker thread. Keeps one standard block for the next batch. */
void fg_handler_ctx_reset(fg_handler_ctx_t *ctx) {
        fg_hblock_t *keep = NULL, *b, *next;

        for (b = ctx->blocks; b; b = next) {
                next = b->next;
                if (!keep && b->cap == FG_HANDLER_BLOCK) {
                        keep = b;
                        keep->used = 0;
                        keep->next = NULL;
                } else {
                        block_free(ctx, b);
                }
        }
        ctx->blocks = keep;
        if (ctx->scratch_cap > FG_HANDLER_SCRATCH_KEEP) {
                ctx->held -= ctx->scratch_cap;
                free(ctx->scratch);
                ctx->scratch = NULL;
                ctx->scratch_cap = 0;
                ctx->tape_cap = 0;
                ctx->top_cap = 0;
        }
        ctx->peak = ctx->held;
}

/* The owning worker thread (handler_int.h). */
size_t fg_handler_ctx_peak(const fg_handler_ctx_t *ctx) {
        return ctx->peak;
}

/* The owning worker thread (handler_int.h). */
void *fg_hctx_scratch(fg_handler_ctx_t *ctx, size_t bytes, size_t keep) {
        void *p;

        if (bytes <= ctx->scratch_cap)
                return ctx->scratch;
        bytes = (bytes + 4095) & ~(size_t)4095;
        if (keep) {
                p = realloc(ctx->scratch, bytes);
        } else {
                /* Nothing to keep: free first, so the old and the new never
                 * both count. */
                free(ctx->scratch);
                ctx->held -= ctx->scratch_cap;
                ctx->scratch_cap = 0;
                p = malloc(bytes);
        }
        if (!p)
                abort();
        held_add(ctx, bytes - ctx->scratch_cap);
        ctx->scratch = p;
        ctx->scratch_cap = bytes;
        return p;
}

/* The owning worker thread (handler_int.h). */
char *fg_hctx_out_open(fg_handler_ctx_t *ctx, size_t want, size_t *cap) {
        fg_hblock_t *b = ctx->blocks;

        if (b && b->cap - b->used >= want) {
                *cap = b->cap - b->used;
                return b->data + b->used;
        }
        if (want > FG_HANDLER_BLOCK / 4) {
                /* A big output gets its own block, linked behind the
                 * current one at close. */
                ctx->open = block_new(ctx, want);
                *cap = want;
                return ctx->open->data;
        }
        b = block_new(ctx, FG_HANDLER_BLOCK);
        b->next = ctx->blocks;
        ctx->blocks = b;
        *cap = b->cap;
        return b->data;
}

/* The owning worker thread (handler_int.h). */
char *fg_hctx_out_grow(fg_handler_ctx_t *ctx, char *p, size_t len, size_t want) {
        fg_hblock_t *b;

        if (ctx->open) {
                b = realloc(ctx->open, sizeof(*b) + want);
                if (!b)
                        abort();
                held_add(ctx, want - b->cap);
                b->cap = want;
        } else {
                /* Leave the shared block's tail to later outputs. */
                b = block_new(ctx, want);
                memcpy(b->data, p, len);
        }
        ctx->open = b;
        return b->data;
}

/* The owning worker thread (handler_int.h). */
void fg_hctx_out_close(fg_handler_ctx_t *ctx, char *p, size_t len) {
        fg_hblock_t *b = ctx->open;

        p[len] = '\0';
        if (!b) {
                ctx->blocks->used += len + 1;
                return;
        }
        b->used = len + 1;
        if (ctx->blocks) {
                b->next = ctx->blocks->next;
                ctx->blocks->next = b;
        } else {
                ctx->blocks = b;
        }
        ctx->open = NULL;
}

static const char *arena_strdup(fg_handler_ctx_t *ctx, const char *s, size_t n) {
        size_t cap;
        char *d = fg_hctx_out_open(ctx, n + 1, &cap);

        memcpy(d, s, n);
        fg_hctx_out_close(ctx, d, n);
        return d;
}

/* ---- reasons ---- */

/* A valid JSON value that is not an object, by its first byte. */
static const char *type_reason(const uint8_t *p, size_t n) {
        while (n && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
                p++, n--;
        switch (*p) {
        case '[': return "not a JSON object (got array)";
        case '"': return "not a JSON object (got string)";
        case 't':
        case 'f': return "not a JSON object (got boolean)";
        case 'n': return "not a JSON object (got null)";
        default: return "not a JSON object (got number)";
        }
}

/* "not JSON: <jansson's text> (line L, column C)", at most
 * FG_HANDLER_REASON_MAX bytes: control characters and bytes that are not
 * UTF-8 from the payload (jansson's "near '...'" can quote half a
 * character) become '?', so the reason is safe in logs and Kafka headers,
 * and a long text is cut at a UTF-8 character boundary with "...". */
static const char *jansson_reason(fg_handler_ctx_t *ctx, const json_error_t *err) {
        static const char prefix[] = "not JSON: ";
        char text[sizeof(err->text)], suffix[64], out[FG_HANDLER_REASON_MAX + 1];
        size_t n = 0, budget;

        for (const unsigned char *p = (const unsigned char *)err->text;
             *p && n < sizeof(text) - 1;) {
                size_t k = *p >= 0x80 ? fg_utf8_seq_len(p, 4) /* NUL-terminated: stops there */ : 1;

                if (k > 1 && n + k < sizeof(text)) {
                        memcpy(text + n, p, k);
                        n += k;
                        p += k;
                        continue;
                }
                text[n++] = *p < 0x20 || *p >= 0x7f ? '?' : (char)*p;
                p++;
        }
        text[n] = '\0';
        snprintf(suffix, sizeof(suffix), " (line %d, column %d)", err->line, err->column);
        budget = FG_HANDLER_REASON_MAX - (sizeof(prefix) - 1) - strlen(suffix);
        if (n > budget) {
                n = budget - 3;
                while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
                        n--;
                memcpy(text + n, "...", 4);
        }
        if (snprintf(out, sizeof(out), "%s%s%s", prefix, text, suffix) < 0)
                return "not JSON";
        return arena_strdup(ctx, out, strlen(out));
}

/* Where the scanner stopped, as a reason, for payloads too big to hand to
 * jansson: line and column count bytes from 1. */
static const char *scan_reason(fg_handler_ctx_t *ctx, const uint8_t *p, size_t n, size_t pos) {
        const uint8_t *line_start = p, *nl;
        size_t line = 1;
        char out[FG_HANDLER_REASON_MAX + 1];

        while ((nl = memchr(line_start, '\n', (size_t)(p + pos - line_start)))) {
                line++;
                line_start = nl + 1;
        }
        snprintf(out, sizeof(out), "not JSON: %s at byte %zu (line %zu, column %zu)",
                 pos >= n ? "unexpected end" : "invalid input", pos, line,
                 (size_t)(p + pos - line_start) + 1);
        return arena_strdup(ctx, out, strlen(out));
}

/* Why @p p[0..n) (not an object the scanner accepts; it stopped at
 * @p pos) is invalid. jansson's words when it can say them within the
 * per-event bound: it allocates for everything it parsed before the
 * error, and reads the token at the error whole. */
static const char *invalid_reason(fg_handler_ctx_t *ctx, const uint8_t *p, size_t n, size_t pos) {
        size_t cost = FG_HANDLER_JANSSON_PER_BYTE * (pos + 1) + 2 * (n - pos) + 4096;
        json_error_t jerr;
        json_t *root;

        if (fg_json_is_value(p, n))
                return type_reason(p, n);
        if (cost > FG_HANDLER_EVENT_BOUND(n))
                return scan_reason(ctx, p, n, pos);
        root = json_loadb((const char *)p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (root) { /* the scanner and jansson agree (check_json_scan): unreachable */
                json_decref(root);
                return scan_reason(ctx, p, n, pos);
        }
        return jansson_reason(ctx, &jerr);
}

/* ---- apply ---- */

static bool has_line_break(const void *p, size_t n) {
        return memchr(p, '\n', n) || memchr(p, '\r', n);
}

/* The scan with a tape in the scratch region (containers' ends, then the
 * top-level members: fg_handler_shape expects that layout), grown until it
 * holds every one. */
static fg_json_scan_t scan_tape(fg_handler_ctx_t *ctx, const void *p, size_t n,
                                fg_json_check_t *chk, fg_json_tape_t *tape) {
        fg_json_scan_t r;

        if (!ctx->tape_cap) {
                ctx->tape_cap = FG_HANDLER_TAPE_INIT;
                ctx->top_cap = FG_HANDLER_TAPE_INIT;
        }
        for (;;) {
                uint32_t *base = fg_hctx_scratch(
                    ctx, (2 * ctx->tape_cap + 3 * ctx->top_cap) * sizeof(uint32_t), 0);

                *tape = (fg_json_tape_t){.end = base,
                                         .inner = base + ctx->tape_cap,
                                         .cap = ctx->tape_cap,
                                         .top = base + 2 * ctx->tape_cap,
                                         .top_cap = ctx->top_cap};
                r = fg_json_check_object_tape(p, n, chk, tape);
                if (r != FG_JSON_SCAN_OBJECT || (tape->n <= tape->cap && tape->ntop <= tape->top_cap))
                        return r;
                if (tape->n > ctx->tape_cap)
                        ctx->tape_cap = tape->n;
                if (tape->ntop > ctx->top_cap)
                        ctx->top_cap = tape->ntop;
        }
}

/* The worker thread owning @p ctx; @p h is shared read-only. */
fg_handle_verdict_t fg_handler_apply(const fg_handler_t *h, fg_handler_ctx_t *ctx, fg_event_t *ev,
                                     int64_t now_ms, const char **reason) {
        const char *why = NULL;
        fg_handle_verdict_t verdict = FG_HANDLE_SEND;
        fg_json_check_t chk;
        fg_json_tape_t tape;
        fg_json_scan_t r;

        if (h->mode == FG_HANDLER_RAW) {
                if (!fg_filter_match(h->filter, ev->value, ev->len))
                        verdict = FG_HANDLE_FILTERED;
                else if (h->framing == FG_FRAMING_LINES && has_line_break(ev->value, ev->len))
                        why = "raw payload contains a line break: the sink writes one event "
                              "per line";
                else if (h->framing == FG_FRAMING_JSON_ARRAY &&
                         !fg_json_is_value(ev->value, ev->len))
                        why = "raw payload is not one JSON value: the sink sends events as the "
                              "elements of a JSON array";
                goto out;
        }

        if (ev->len == 0) {
                why = "empty payload";
                goto out;
        }
        if (ev->len > INT32_MAX) { /* the tape's offsets; Kafka's messages are smaller */
                why = "payload of 2 GiB or more: too large for handler.mode json";
                goto out;
        }
        if (h->passthrough)
                r = fg_json_check_object(ev->value, ev->len, &chk);
        else
                r = scan_tape(ctx, ev->value, ev->len, &chk, &tape);
        if (r != FG_JSON_SCAN_OBJECT) {
                why = invalid_reason(ctx, ev->value, ev->len, chk.pos);
                goto out;
        }
        if (!h->passthrough && !fg_filter_match_tape(h->filter, ev->value, ev->len, &tape)) {
                verdict = FG_HANDLE_FILTERED;
                goto out;
        }
        if (!h->shaping && !chk.has_raw_newline)
                goto out;
        if (h->passthrough) /* a passthrough scan has no tape */
                scan_tape(ctx, ev->value, ev->len, &chk, &tape);
        fg_handler_shape(h, ctx, &tape, ev, now_ms);
out:
        if (why)
                verdict = FG_HANDLE_INVALID;
        if (reason)
                *reason = why;
        return verdict;
}
