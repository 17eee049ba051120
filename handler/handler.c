/*
 * handler: parse, filter and shape one event on a worker (see handler.h;
 * the filter and dotted paths are in handler_filter.c).
 *
 * DESIGN
 * fg_handler_new compiles the config once; fg_handler_apply then does only
 * what the config needs:
 *   raw, no filter      nothing at all;
 *   raw, contains_any   one memmem per keyword over the payload;
 *   json, passthrough   fg_json_check_object (json_scan.c: one pass, no
 *                       allocation, agrees with jansson on what loads)
 *                       to validate, then the original bytes go on;
 *                       jansson only for an invalid payload's reason
 *                       or a multi-line payload;
 *   json, filter only   parse + match, original bytes go on;
 *   json, shaping       parse, filter (on the original event), drop, keep,
 *                       then serialise with the metadata appended.
 * One exception to "original bytes": a valid payload containing a line
 * break (pretty-printed JSON; raw breaks can only be whitespace in valid
 * JSON) is re-serialised compactly, so every json-mode output is a single
 * line — the file sink, NDJSON and JSON-lines consumers frame on '\n'.
 *
 * Serialisation is our own compact writer rather than json_dumpb: it walks
 * objects in insertion order (jansson 2.14 always preserves it), escapes
 * exactly as json_dumps(JSON_COMPACT) does (", \, control characters;
 * UTF-8 and '/' as they are), appends the metadata object straight into
 * the output instead of building it as jansson values, and prints each
 * real as the shortest of %.15g, %.16g, %.17g that reads back as the same
 * double (jansson always prints %.17g: 19.99 would become
 * 19.989999999999998). Reals keep a '.' or an exponent (1e2 -> 100.0) so
 * they stay reals for typed consumers. Without reals the output is
 * byte-identical to json_dumps(JSON_COMPACT | JSON_PRESERVE_ORDER).
 *
 * metadata_field replaces a key of that name and is always the last key.
 *
 * Outputs and formatted reasons go into a per-ctx arena of 64 KiB blocks
 * (larger outputs get a block of their own), so earlier outputs never move
 * while later ones are added and 10k applies between resets cost 10k bump
 * allocations; reset keeps one block for reuse and frees the rest. Each
 * output is NUL-terminated (not counted in len) for the benefit of
 * debuggers and tests.
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

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "handler/json_scan.h"

/* Reasons are kept short for logs, metrics labels and dead-letter headers. */
#define FG_HANDLER_REASON_MAX 120
#define FG_HANDLER_BLOCK      (64 * 1024)
/* Scratch buffers that grew past this (a huge event) are freed at reset. */
#define FG_HANDLER_SCRATCH_KEEP (1024 * 1024)

typedef struct fg_hblock {
        struct fg_hblock *next;
        size_t cap, used;
        char data[];
} fg_hblock_t;

struct fg_handler_ctx {
        fg_hblock_t *blocks; /* the first is the one being filled */
        fg_buf_t out;        /* serialisation scratch */
        fg_buf_t fold;       /* case-folding scratch (handler_filter.c) */
};

/* Any thread: formats into errstr when there is one (shared with
 * handler_filter.c through handler_int.h). */
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

/* Any thread; the daemon calls it on the main thread. */
fg_handler_t *fg_handler_new(const fg_handler_cfg_t *hc, char *errstr, size_t errstr_size) {
        fg_handler_t *h = calloc(1, sizeof(*h));

        if (!h) {
                fg_handler_seterr(errstr, errstr_size, "handler: out of memory");
                return NULL;
        }
        if (!hc) {
                fg_handler_seterr(errstr, errstr_size, "handler: no config");
                goto init_error;
        }
        if (hc->mode != FG_HANDLER_JSON && hc->mode != FG_HANDLER_RAW) {
                fg_handler_seterr(errstr, errstr_size, "handler.mode: unknown mode %d",
                       (int)hc->mode);
                goto init_error;
        }
        h->mode = hc->mode;
        h->on_invalid = hc->on_invalid;
        if (fg_hfilter_compile(&h->filter, hc->mode, &hc->filter, errstr, errstr_size) < 0)
                goto init_error;

        h->add_metadata = hc->add_metadata;
        h->shaping = h->add_metadata || hc->keep.n || hc->drop.n;
        if (h->mode == FG_HANDLER_RAW && h->shaping) {
                fg_handler_seterr(errstr, errstr_size,
                       "handler.mode 'raw' passes bytes unchanged: add_metadata, keep and drop "
                       "need mode json");
                goto init_error;
        }

        if (hc->drop.n) {
                h->drop = calloc(hc->drop.n, sizeof(*h->drop));
                if (!h->drop)
                        goto oom;
                for (; h->ndrop < hc->drop.n; h->ndrop++)
                        if (fg_hpath_compile(&h->drop[h->ndrop], "handler.drop",
                                             hc->drop.v[h->ndrop], errstr,
                                             errstr_size) < 0)
                                goto init_error;
        }

        if (hc->keep.n) {
                h->keep = calloc(hc->keep.n, sizeof(*h->keep));
                if (!h->keep)
                        goto oom;
                for (; h->nkeep < hc->keep.n; h->nkeep++) {
                        const char *name = hc->keep.v[h->nkeep];

                        if (!name || !*name) {
                                fg_handler_seterr(errstr, errstr_size,
                                       "handler.keep: field names must not be empty");
                                goto init_error;
                        }
                        if (!(h->keep[h->nkeep].s = strdup(name)))
                                goto oom;
                        h->keep[h->nkeep].len = strlen(name);
                }
                qsort(h->keep, h->nkeep, sizeof(*h->keep), keep_cmp);
        }

        if (h->add_metadata) {
                const char *name = hc->metadata_field;
                json_t *probe;

                if (!name || !*name) {
                        fg_handler_seterr(errstr, errstr_size, "handler.metadata_field must not be empty");
                        goto init_error;
                }
                /* Keys must be UTF-8: check once, not per event. */
                if (!(probe = json_string(name))) {
                        fg_handler_seterr(errstr, errstr_size, "handler.metadata_field is not valid UTF-8");
                        goto init_error;
                }
                json_decref(probe);
                if (!(h->metadata_field = strdup(name)))
                        goto oom;
                h->metadata_len = strlen(name);
        }

        h->passthrough = h->filter.kind == FG_HFILTER_NONE && !h->shaping;
        /* Seed jansson's hash function here, on one thread, rather than
         * in whichever worker creates the first object. */
        json_object_seed(0);
        return h;

oom:
        fg_handler_seterr(errstr, errstr_size, "handler: out of memory");
init_error:
        fg_handler_destroy(h);
        return NULL;
}

/* The thread that created @p h, once no ctx is applying it. */
void fg_handler_destroy(fg_handler_t *h) {
        if (!h)
                return;
        fg_hfilter_free(&h->filter);
        for (size_t i = 0; i < h->ndrop; i++)
                fg_hpath_free(&h->drop[i]);
        free(h->drop);
        for (size_t i = 0; i < h->nkeep; i++)
                free((char *)h->keep[i].s);
        free(h->keep);
        free(h->metadata_field);
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

/* ---- ctx and its arena ---- */

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
        fg_buf_free(&ctx->out);
        fg_buf_free(&ctx->fold);
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
                        free(b);
                }
        }
        ctx->blocks = keep;
        if (ctx->out.cap > FG_HANDLER_SCRATCH_KEEP)
                fg_buf_free(&ctx->out);
        if (ctx->fold.cap > FG_HANDLER_SCRATCH_KEEP)
                fg_buf_free(&ctx->fold);
}

/* handler_filter.c's scratch; the owning worker thread. */
fg_buf_t *fg_handler_ctx_fold_buf(fg_handler_ctx_t *ctx) {
        return &ctx->fold;
}

/* @p n bytes that stay put until reset. Out of memory aborts, as fg_buf
 * does: outputs are bounded by the queue's byte limit. */
static char *arena_alloc(fg_handler_ctx_t *ctx, size_t n) {
        fg_hblock_t *b = ctx->blocks, *nb;
        size_t cap;

        if (b && b->cap - b->used >= n) {
                b->used += n;
                return b->data + b->used - n;
        }
        cap = n > FG_HANDLER_BLOCK / 4 ? n : FG_HANDLER_BLOCK;
        nb = malloc(sizeof(*nb) + cap);
        if (!nb)
                abort();
        nb->cap = cap;
        nb->used = n;
        if (cap != FG_HANDLER_BLOCK && b) {
                /* A big output gets its own block behind the current one,
                 * which keeps taking the small ones. */
                nb->next = b->next;
                b->next = nb;
        } else {
                nb->next = b;
                ctx->blocks = nb;
        }
        return nb->data;
}

static const char *arena_strdup(fg_handler_ctx_t *ctx, const char *s, size_t n) {
        char *d = arena_alloc(ctx, n + 1);

        memcpy(d, s, n);
        d[n] = '\0';
        return d;
}

/* ---- serialisation ---- */

static void emit_str(fg_buf_t *b, const char *s, size_t n) {
        static const char hex[] = "0123456789ABCDEF";
        size_t start = 0;

        fg_buf_reserve(b, n + 2);
        b->p[b->len++] = '"';
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                char esc[6] = {'\\', 0, 0, 0, 0, 0};
                size_t elen = 2;

                if (c >= 0x20 && c != '"' && c != '\\')
                        continue;
                fg_buf_append(b, s + start, i - start);
                start = i + 1;
                switch (c) {
                case '"': esc[1] = '"'; break;
                case '\\': esc[1] = '\\'; break;
                case '\b': esc[1] = 'b'; break;
                case '\f': esc[1] = 'f'; break;
                case '\n': esc[1] = 'n'; break;
                case '\r': esc[1] = 'r'; break;
                case '\t': esc[1] = 't'; break;
                default:
                        memcpy(esc + 1, "u00", 3);
                        esc[4] = hex[c >> 4];
                        esc[5] = hex[c & 15];
                        elen = 6;
                        break;
                }
                fg_buf_append(b, esc, elen);
        }
        fg_buf_append(b, s + start, n - start);
        fg_buf_putc(b, '"');
}

static void emit_int(fg_buf_t *b, json_int_t v) {
        char tmp[24], *p = tmp + sizeof(tmp);
        unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

        do {
                *--p = (char)('0' + u % 10);
                u /= 10;
        } while (u);
        if (v < 0)
                *--p = '-';
        fg_buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* The shortest %.Ng (N = 15..17) that reads back as @p d. */
static void emit_real(fg_buf_t *b, double d) {
        char tmp[40];
        int n = 0;

        for (int prec = 15; prec <= 17; prec++) {
                n = snprintf(tmp, sizeof(tmp) - 2, "%.*g", prec, d);
                if (prec == 17 || strtod(tmp, NULL) == d)
                        break;
        }
        if (n < 0 || (size_t)n >= sizeof(tmp) - 2)
                n = (int)strlen(tmp);
        for (int i = 0; i < n; i++)
                if (tmp[i] == ',') /* a non-C LC_NUMERIC */
                        tmp[i] = '.';
        if (!memchr(tmp, '.', (size_t)n) && !memchr(tmp, 'e', (size_t)n)) {
                memcpy(tmp + n, ".0", 2);
                n += 2;
        }
        fg_buf_append(b, tmp, (size_t)n);
}

static void emit_value(fg_buf_t *b, json_t *v);

/* The members of @p obj without braces; a comma before each but the first
 * of the whole object (*first tracks it across calls). */
static void emit_members(fg_buf_t *b, json_t *obj, bool *first) {
        const char *key;
        size_t klen;
        json_t *v;

        json_object_keylen_foreach(obj, key, klen, v) {
                if (!*first)
                        fg_buf_putc(b, ',');
                *first = false;
                emit_str(b, key, klen);
                fg_buf_putc(b, ':');
                emit_value(b, v);
        }
}

/* Recursion is bounded by jansson's parse depth (JSON_PARSER_MAX_DEPTH). */
static void emit_value(fg_buf_t *b, json_t *v) {
        switch (json_typeof(v)) {
        case JSON_OBJECT: {
                bool first = true;

                fg_buf_putc(b, '{');
                emit_members(b, v, &first);
                fg_buf_putc(b, '}');
                break;
        }
        case JSON_ARRAY: {
                size_t i;
                json_t *el;

                fg_buf_putc(b, '[');
                json_array_foreach(v, i, el) {
                        if (i)
                                fg_buf_putc(b, ',');
                        emit_value(b, el);
                }
                fg_buf_putc(b, ']');
                break;
        }
        case JSON_STRING:
                emit_str(b, json_string_value(v), json_string_length(v));
                break;
        case JSON_INTEGER:
                emit_int(b, json_integer_value(v));
                break;
        case JSON_REAL:
                emit_real(b, json_real_value(v));
                break;
        case JSON_TRUE:
                fg_buf_append(b, "true", 4);
                break;
        case JSON_FALSE:
                fg_buf_append(b, "false", 5);
                break;
        case JSON_NULL:
                fg_buf_append(b, "null", 4);
                break;
        }
}

static void emit_key_int(fg_buf_t *b, const char *key, int64_t v) {
        fg_buf_append(b, key, strlen(key));
        emit_int(b, (json_int_t)v);
}

/* handler.add_metadata's object, as the last member. */
static void emit_metadata(const fg_handler_t *h, fg_buf_t *b, const fg_event_t *ev,
                          int64_t now_ms, bool first) {
        if (!first)
                fg_buf_putc(b, ',');
        emit_str(b, h->metadata_field, h->metadata_len);
        fg_buf_append(b, ":{\"topic\":", 10);
        if (ev->topic)
                emit_str(b, ev->topic, strlen(ev->topic));
        else
                fg_buf_append(b, "null", 4);
        emit_key_int(b, ",\"partition\":", ev->partition);
        emit_key_int(b, ",\"offset\":", ev->offset);
        if (ev->ts_ms < 0)
                fg_buf_append(b, ",\"kafka_ts\":null", 16);
        else
                emit_key_int(b, ",\"kafka_ts\":", ev->ts_ms);
        emit_key_int(b, ",\"ingested_ms\":", ev->ingest_ms);
        emit_key_int(b, ",\"processed_ms\":", now_ms);
        fg_buf_putc(b, '}');
}

/* Serialises @p root (plus metadata when configured) into the arena and
 * points @p ev at it. */
static void emit_event(const fg_handler_t *h, fg_handler_ctx_t *ctx, json_t *root,
                       fg_event_t *ev, int64_t now_ms) {
        fg_buf_t *b = &ctx->out;
        bool first = true;

        fg_buf_reset(b);
        fg_buf_putc(b, '{');
        emit_members(b, root, &first);
        if (h->add_metadata)
                emit_metadata(h, b, ev, now_ms, first);
        fg_buf_putc(b, '}');
        ev->value = arena_strdup(ctx, b->p, b->len);
        ev->len = b->len;
}

/* ---- shaping ---- */

static bool is_kept(const fg_handler_t *h, const char *key, size_t klen) {
        fg_hstr_t k = {key, klen};

        return bsearch(&k, h->keep, h->nkeep, sizeof(*h->keep), keep_cmp) != NULL;
}

/* drop, then keep, then remove the metadata key the output will append. */
static void shape(const fg_handler_t *h, json_t *root) {
        for (size_t i = 0; i < h->ndrop; i++) {
                const fg_hpath_t *p = &h->drop[i];
                json_t *parent = root;

                for (size_t s = 0; s + 1 < p->n && parent; s++)
                        parent = json_is_object(parent)
                                     ? json_object_getn(parent, p->seg[s].s, p->seg[s].len)
                                     : NULL;
                if (json_is_object(parent))
                        json_object_deln(parent, p->seg[p->n - 1].s, p->seg[p->n - 1].len);
        }
        if (h->nkeep) {
                const char *key;
                size_t klen;
                json_t *v;
                void *next;

                json_object_keylen_foreach_safe(root, next, key, klen, v) {
                        if (!is_kept(h, key, klen))
                                json_object_deln(root, key, klen);
                }
        }
        if (h->add_metadata)
                json_object_deln(root, h->metadata_field, h->metadata_len);
}

/* ---- apply ---- */

static const char *type_reason(const json_t *v) {
        switch (json_typeof(v)) {
        case JSON_ARRAY: return "not a JSON object (got array)";
        case JSON_STRING: return "not a JSON object (got string)";
        case JSON_INTEGER:
        case JSON_REAL: return "not a JSON object (got number)";
        case JSON_TRUE:
        case JSON_FALSE: return "not a JSON object (got boolean)";
        case JSON_NULL: return "not a JSON object (got null)";
        default: return "not a JSON object";
        }
}

/* "not JSON: <jansson's text> (line L, column C)", at most
 * FG_HANDLER_REASON_MAX bytes: control characters and bytes that are not
 * UTF-8 from the payload (jansson's "near '...'" can quote half a
 * character) become '?', so the reason is safe in logs and Kafka headers,
 * and a long text is cut at a UTF-8 character boundary with "...". */
static const char *parse_reason(fg_handler_ctx_t *ctx, const json_error_t *err) {
        static const char prefix[] = "not JSON: ";
        char text[sizeof(err->text)], suffix[64], out[FG_HANDLER_REASON_MAX + 1];
        size_t n = 0, budget;
        int len;

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
        len = snprintf(out, sizeof(out), "%s%s%s", prefix, text, suffix);
        if (len < 0)
                return "not JSON";
        return arena_strdup(ctx, out, strlen(out));
}

static bool has_line_break(const void *p, size_t n) {
        return memchr(p, '\n', n) || memchr(p, '\r', n);
}

/* The worker thread owning @p ctx; @p h is shared read-only. */
fg_handle_verdict_t fg_handler_apply(const fg_handler_t *h, fg_handler_ctx_t *ctx, fg_event_t *ev,
                                     int64_t now_ms, const char **reason) {
        fg_handle_verdict_t verdict = FG_HANDLE_SEND;
        json_error_t jerr;
        json_t *root;

        if (reason)
                *reason = NULL;
        if (h->mode == FG_HANDLER_RAW) {
                if (h->filter.kind == FG_HFILTER_NONE)
                        return FG_HANDLE_SEND;
                return fg_hfilter_match_raw(&h->filter, ctx, ev->value, ev->len)
                           ? FG_HANDLE_SEND
                           : FG_HANDLE_FILTERED;
        }

        if (ev->len == 0) {
                if (reason)
                        *reason = "empty payload";
                return FG_HANDLE_INVALID;
        }
        if (h->passthrough) {
                fg_json_check_t chk;

                /* Valid and on one line: nothing to build. Everything else
                 * (invalid: for jansson's reason; a line break: to compact)
                 * takes the jansson path below, as before. */
                if (fg_json_check_object(ev->value, ev->len, &chk) == FG_JSON_SCAN_OBJECT &&
                    !chk.has_raw_newline)
                        return FG_HANDLE_SEND;
        }
        root = json_loadb(ev->value, ev->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (!root) {
                if (reason)
                        *reason = parse_reason(ctx, &jerr);
                return FG_HANDLE_INVALID;
        }
        if (!json_is_object(root)) {
                if (reason)
                        *reason = type_reason(root);
                verdict = FG_HANDLE_INVALID;
                goto out;
        }
        if (!fg_hfilter_match_json(&h->filter, ctx, root)) {
                verdict = FG_HANDLE_FILTERED;
                goto out;
        }
        if (h->shaping)
                shape(h, root);
        else if (!has_line_break(ev->value, ev->len))
                goto out;
        emit_event(h, ctx, root, ev, now_ms);
out:
        json_decref(root);
        return verdict;
}
