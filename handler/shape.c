/*
 * shape: an accepted JSON object rewritten compactly and shaped — drop,
 * keep, add_metadata — straight from its bytes into the ctx's arena, with
 * the output jansson's compact dump of the shaped DOM used to give (the
 * jansson handler is kept in tests/support/handler_oracle.c as the
 * reference, and fuzzed against this).
 *
 * DESIGN
 * What jansson did, and so what the output must do:
 *   - no whitespace; members in their original order;
 *   - a key given twice keeps its first place and its last value (jansson
 *     replaces the value in place), at every depth;
 *   - strings decoded and escaped again: only '"', '\\' and control bytes
 *     are escaped (\b \f \n \r \t, else \u00XX in upper case); '/' and
 *     UTF-8 stay as they are (so "\u00e9" becomes "é" and "\/" "/");
 *   - integers as printed by %lld (only "-0" changes: to "0"); reals as
 *     the shortest of %.15g, %.16g, %.17g that reads back as the same
 *     double, with ".0" added when that has no '.' or exponent;
 *   - drop removes dotted paths, keep all top-level members but the named
 *     ones, add_metadata the metadata key; then the metadata object comes
 *     last.
 *
 * Most payloads already are their own compact form, so the writer copies
 * runs: it keeps one pending span of the input and extends it while the
 * next token to write is the next token of the input; anything that
 * differs — skipped whitespace, a dropped member, a rewritten string or
 * number, a duplicate's value, the metadata — flushes the span and starts
 * a new one. A compact event with nothing to drop is one memcpy, plus the
 * metadata.
 *
 * Duplicates need each object's keys before its first member can be
 * written, so an object is read twice: pass A lists its members (where
 * key and value are, the key's hash, whether a scalar needs rewriting),
 * then finds duplicates — a 64-bit Bloom mask and a look back for up to 32
 * keys, a hash table beyond — and pass B writes the members. A nested
 * container is stepped over in pass A in O(1) with the scanner's tape
 * (json_scan.h), so every byte is read a fixed number of times whatever
 * the nesting (pass A of its object, pass B or its own pass A). Member
 * records of the objects being written form a stack in the ctx's scratch,
 * sized once per event from the scanner's key count.
 *
 * A flat event already in compact form (the scanner says so: the tape's
 * "clean") skips all that: its members are the tape's top-level index, and
 * only a check for repeated keys stands between it and a single copy.
 *
 * Memory, for an event of n bytes with K keys and C containers: the tape
 * (8 bytes per container, 12 per top-level member), the member records
 * (24 bytes per key), a duplicate table when an object has more than 32
 * keys (at most 16 bytes per key), the drop lists (a few words per drop
 * path), and the output (n plus the metadata, growing only when reals
 * print longer: "1e14" is "100000000000000.0"). A key takes at least 5
 * bytes ("":0,) and a container 2, so the whole stays under
 * FG_HANDLER_EVENT_BOUND(n): 10.4 bytes per byte at worst, for an object
 * of empty keys; check_handler measures the worst shapes.
 *
 * Threading: the worker thread owning the ctx.
 */
#include "handler/handler_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handler/json_walk.h"

/* Objects with more keys find duplicates with a hash table. */
#define SMALL_OBJECT 32

enum {
        M_KEY_ESC = 1,   /* the key has escapes: compare it decoded */
        M_KEY_DIRTY = 2, /* ... and they are not written as jansson would */
        M_VAL_DIRTY = 4, /* the scalar value must be rewritten */
        M_DUP = 8,       /* a later occurrence of an earlier key: skipped */
        M_OBJ = 16,      /* the value is an object */
        M_ARR = 32,      /* the value is an array */
};

typedef struct member {
        uint32_t key;   /* the key's first byte (its closing quote: key_end) */
        uint32_t val;   /* the value's first byte */
        uint32_t end;   /* a scalar value: just past it; a container: its tape index */
        uint32_t hash;
        uint32_t final; /* the member whose value this key takes */
        uint32_t flags;
} member_t;

typedef struct writer {
        fg_handler_ctx_t *ctx;
        char *out;
        size_t len, cap;
        size_t max;                   /* the most the output can take */
        const uint8_t *run, *run_end; /* the pending span of the input */
} writer_t;

typedef struct shaper {
        const fg_handler_t *h;
        const uint8_t *base, *end;
        const uint32_t *tend, *tinner; /* the tape */
        member_t *m;                   /* the member stack */
        size_t msp;
        uint32_t *table;               /* duplicate table (big objects) */
        uint32_t *acts;                /* drop paths active per depth: ndrop each */
        const fg_event_t *ev;          /* for the metadata */
        size_t topic_len;
        int64_t now_ms;
        writer_t w;
} shaper_t;

/* ---- the writer ---- */

/* Room for @p n more bytes and the NUL. Growth doubles, up to what the
 * output can take at most, so its room stays within the memory bound. */
static void w_room(writer_t *w, size_t n) {
        size_t need = w->len + n + 1, want;

        if (need <= w->cap)
                return;
        want = 2 * w->len > need ? 2 * w->len : need;
        if (want > w->max && need <= w->max)
                want = w->max;
        w->out = fg_hctx_out_grow(w->ctx, w->out, w->len, want);
        w->cap = want;
}

static void w_flush(writer_t *w) {
        size_t k = (size_t)(w->run_end - w->run);

        if (k) {
                w_room(w, k);
                memcpy(w->out + w->len, w->run, k);
                w->len += k;
        }
        w->run = w->run_end;
}

/* The input's bytes [a, b) come next. */
static inline void w_span(writer_t *w, const uint8_t *a, const uint8_t *b) {
        if (a != w->run_end) {
                w_flush(w);
                w->run = a;
        }
        w->run_end = b;
}

static void w_lit(writer_t *w, const void *s, size_t n) {
        w_flush(w);
        w_room(w, n);
        memcpy(w->out + w->len, s, n);
        w->len += n;
}

/* The byte @p c, which the input may have at @p at. */
static inline void w_char(writer_t *w, const uint8_t *at, char c) {
        if (*at == (uint8_t)c)
                w_span(w, at, at + 1);
        else
                w_lit(w, &c, 1);
}

/* @p v in decimal at @p o (room for 20 bytes); returns the end. Two digits
 * a step, from a table. */
static char *put_int(char *o, long long v) {
        static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                    "25262728293031323334353637383940414243444546474849"
                                    "50515253545556575859606162636465666768697071727374"
                                    "75767778798081828384858687888990919293949596979899";
        char tmp[24], *p = tmp + sizeof(tmp);
        unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
        size_t n;

        while (u >= 100) {
                p -= 2;
                memcpy(p, pairs + 2 * (u % 100), 2);
                u /= 100;
        }
        if (u >= 10) {
                p -= 2;
                memcpy(p, pairs + 2 * u, 2);
        } else {
                *--p = (char)('0' + u);
        }
        if (v < 0)
                *--p = '-';
        n = (size_t)(tmp + sizeof(tmp) - p);
        memcpy(o, p, n);
        return o + n;
}

/* Bytes as jansson escapes them in a string (see the top). */
static void w_escaped(writer_t *w, const uint8_t *s, size_t n) {
        static const char hex[] = "0123456789ABCDEF";
        size_t start = 0;

        w_room(w, 6 * n);
        for (size_t i = 0; i < n; i++) {
                uint8_t c = s[i];
                char *o;

                if (c >= 0x20 && c != '"' && c != '\\')
                        continue;
                memcpy(w->out + w->len, s + start, i - start);
                w->len += i - start;
                start = i + 1;
                o = w->out + w->len;
                o[0] = '\\';
                switch (c) {
                case '"': o[1] = '"'; break;
                case '\\': o[1] = '\\'; break;
                case '\b': o[1] = 'b'; break;
                case '\f': o[1] = 'f'; break;
                case '\n': o[1] = 'n'; break;
                case '\r': o[1] = 'r'; break;
                case '\t': o[1] = 't'; break;
                default:
                        memcpy(o + 1, "u00", 3);
                        o[4] = hex[c >> 4];
                        o[5] = hex[c & 15];
                        w->len += 4;
                        break;
                }
                w->len += 2;
        }
        memcpy(w->out + w->len, s + start, n - start);
        w->len += n - start;
}

/* The string [p, q) (between its quotes), decoded and escaped again:
 * only what escapes decode to may need it (a plain run holds no control
 * byte, quote or backslash). */
static void w_string(writer_t *w, const uint8_t *p, const uint8_t *q) {
        fg_jw_iter_t it = {p, q, {0}};
        const uint8_t *piece;
        size_t k;

        w_lit(w, "\"", 1);
        while (fg_jw_next(&it, &piece, &k)) {
                if (piece == it.tmp) {
                        w_escaped(w, piece, k);
                } else {
                        w_room(w, k);
                        memcpy(w->out + w->len, piece, k);
                        w->len += k;
                }
        }
        w_lit(w, "\"", 1);
}

/* ---- scalars ---- */

/* Are the escapes of the string [p, q) written as jansson writes them? */
static bool string_canonical(const uint8_t *p, const uint8_t *q) {
        for (; (p = memchr(p, '\\', (size_t)(q - p))); p += p[1] == 'u' ? 6 : 2)
                if (!fg_jw_escape_canonical(p))
                        return false;
        return true;
}

/* The shortest of %.15g..%.17g that reads back as @p d, ".0" added when
 * it has neither '.' nor exponent: the old writer's, jansson-compatible
 * through strtod, whatever LC_NUMERIC says. */
static size_t format_real(char *tmp, size_t size, double d) {
        int n = 0;

        for (int prec = 15; prec <= 17; prec++) {
                n = snprintf(tmp, size - 2, "%.*g", prec, d);
                if (prec == 17 || strtod(tmp, NULL) == d)
                        break;
        }
        if (n < 0 || (size_t)n >= size - 2)
                n = (int)strlen(tmp);
        for (int i = 0; i < n; i++)
                if (tmp[i] == ',') /* a non-C LC_NUMERIC */
                        tmp[i] = '.';
        if (!memchr(tmp, '.', (size_t)n) && !memchr(tmp, 'e', (size_t)n)) {
                memcpy(tmp + n, ".0", 2);
                n += 2;
        }
        return (size_t)n;
}

static bool is_integer(const uint8_t *p, const uint8_t *e) {
        for (; p < e; p++)
                if (*p == '.' || *p == 'e' || *p == 'E')
                        return false;
        return true;
}

static void w_number(writer_t *w, const uint8_t *p, const uint8_t *e) {
        char tmp[48];
        size_t n;

        if (is_integer(p, e)) {
                w_lit(w, "0", 1); /* the only integer to rewrite is -0 */
                return;
        }
        n = (size_t)(e - p) <= 24 ? fg_jw_real_digits(p, e, tmp) : 0;
        if (!n)
                n = format_real(tmp, sizeof(tmp), fg_jw_strtod(p));
        w_lit(w, tmp, n);
}

/* @p v is at a scalar: just past it; *@p dirty when it must be rewritten. */
static const uint8_t *scalar_end(const uint8_t *v, const uint8_t *end, bool *dirty) {
        const uint8_t *e;
        bool esc = false;

        switch (*v) {
        case '"':
                e = fg_jw_str_end(v + 1, end, &esc);
                *dirty = esc && !string_canonical(v + 1, e);
                return e + 1;
        case 't':
        case 'n':
                *dirty = false;
                return v + 4;
        case 'f':
                *dirty = false;
                return v + 5;
        default: {
                bool real = false;

                for (e = v + 1; fg_jw_scalar_byte(*e); e++)
                        real |= *e == '.' || *e == 'e' || *e == 'E';
                *dirty = real ? !fg_jw_real_canonical(v, e) : e - v == 2 && v[0] == '-' && v[1] == '0';
                return e;
        }
        }
}

static void w_scalar(shaper_t *sh, const uint8_t *v, const uint8_t *e, bool dirty) {
        if (!dirty)
                w_span(&sh->w, v, e);
        else if (*v == '"')
                w_string(&sh->w, v + 1, e - 1);
        else
                w_number(&sh->w, v, e);
}

/* ---- containers ---- */

static void emit_object(shaper_t *sh, const uint8_t *o, uint32_t cidx, size_t nact, size_t depth,
                        bool top);

static void emit_array(shaper_t *sh, const uint8_t *a, uint32_t cidx) {
        const uint8_t *q = fg_jw_ws(a + 1), *e;
        uint32_t child = cidx + 1;
        bool dirty;

        w_span(&sh->w, a, a + 1);
        while (*q != ']') {
                if (*q == '{' || *q == '[') {
                        if (*q == '{')
                                emit_object(sh, q, child, 0, 0, false);
                        else
                                emit_array(sh, q, child);
                        e = sh->base + sh->tend[child];
                        child += 1 + sh->tinner[child];
                } else {
                        e = scalar_end(q, sh->end, &dirty);
                        w_scalar(sh, q, e, dirty);
                }
                q = fg_jw_ws(e);
                if (*q == ',') {
                        w_span(&sh->w, q, q + 1);
                        q = fg_jw_ws(q + 1);
                }
        }
        w_char(&sh->w, q, ']');
}

/* Pass A: the members of the object at @p o onto the stack; returns how
 * many and sets *@p close to its closing brace. */
static size_t list_members(shaper_t *sh, const uint8_t *o, uint32_t cidx, const uint8_t **close) {
        const uint8_t *base = sh->base, *q = fg_jw_ws(o + 1);
        member_t *m = sh->m + sh->msp;
        uint32_t child = cidx + 1;
        size_t k = 0;

        while (*q == '"') {
                member_t *mb = &m[k];
                bool esc = false, dirty = false;
                const uint8_t *ke = fg_jw_str_end(q + 1, sh->end, &esc), *v, *e;

                v = fg_jw_ws(fg_jw_ws(ke + 1) + 1);
                mb->key = (uint32_t)(q + 1 - base);
                mb->val = (uint32_t)(v - base);
                mb->final = (uint32_t)k;
                mb->flags = 0;
                if (esc)
                        mb->flags = M_KEY_ESC | (string_canonical(q + 1, ke) ? 0 : M_KEY_DIRTY);
                mb->hash = fg_jw_str_hash(q + 1, ke, esc);
                if (*v == '{' || *v == '[') {
                        mb->flags |= *v == '{' ? M_OBJ : M_ARR;
                        mb->end = child;
                        e = base + sh->tend[child];
                        child += 1 + sh->tinner[child];
                } else {
                        e = scalar_end(v, sh->end, &dirty);
                        if (dirty)
                                mb->flags |= M_VAL_DIRTY;
                        mb->end = (uint32_t)(e - base);
                }
                k++;
                q = fg_jw_ws(e);
                if (*q == ',')
                        q = fg_jw_ws(q + 1);
        }
        *close = q;
        return k;
}

/* The closing quote of @p mb's key, found back from its value over ':'
 * and whitespace (every whitespace byte is at most ' ', and no ' ' byte
 * ends a key). */
static const uint8_t *key_end(const shaper_t *sh, const member_t *mb) {
        const uint8_t *p = sh->base + mb->val - 1;

        while (*p <= ' ')
                p--;
        for (p--; *p <= ' '; p--)
                ;
        return p;
}

static bool same_key(const shaper_t *sh, const member_t *a, const member_t *b) {
        return a->hash == b->hash &&
               fg_jw_str_same(sh->base + a->key, key_end(sh, a), a->flags & M_KEY_ESC,
                              sh->base + b->key, key_end(sh, b), b->flags & M_KEY_ESC);
}

/* Member @p i repeats the earlier first occurrence @p f: @p f takes its
 * value and @p i is skipped. */
static void mark_dup(member_t *m, uint32_t f, uint32_t i) {
        m[f].final = i;
        m[i].flags |= M_DUP;
}

/* Finds the duplicate keys among @p k members on top of the stack. */
static void find_dups(shaper_t *sh, size_t k) {
        member_t *m = sh->m + sh->msp;

        if (k <= SMALL_OBJECT) {
                uint64_t seen = 0;

                for (uint32_t i = 1; i < k; i++) {
                        uint64_t bit = 1ULL << (m[i].hash & 63);

                        seen |= 1ULL << (m[i - 1].hash & 63);
                        if (!(seen & bit))
                                continue;
                        for (uint32_t j = 0; j < i; j++)
                                if (!(m[j].flags & M_DUP) && same_key(sh, &m[j], &m[i])) {
                                        mark_dup(m, j, i);
                                        break;
                                }
                }
                return;
        }
        {
                size_t size = 64;

                while (size < 2 * k)
                        size *= 2;
                memset(sh->table, 0, size * sizeof(*sh->table));
                for (uint32_t i = 0; i < k; i++) {
                        size_t slot = m[i].hash & (size - 1);

                        for (; sh->table[slot]; slot = (slot + 1) & (size - 1))
                                if (same_key(sh, &m[sh->table[slot] - 1], &m[i]))
                                        break;
                        if (sh->table[slot])
                                mark_dup(m, sh->table[slot] - 1, i);
                        else
                                sh->table[slot] = i + 1;
                }
        }
}

static bool key_is(const shaper_t *sh, const member_t *mb, const char *s, size_t n) {
        return fg_jw_str_eq(sh->base + mb->key, key_end(sh, mb), mb->flags & M_KEY_ESC, s, n);
}

static bool kept(const shaper_t *sh, const member_t *mb) {
        const fg_handler_t *h = sh->h;
        const uint8_t *k = sh->base + mb->key, *ke = key_end(sh, mb);
        size_t lo = 0, hi = h->nkeep, len = fg_jw_str_len(k, ke, mb->flags & M_KEY_ESC);

        if (mb->flags & M_KEY_ESC) {
                for (size_t i = 0; i < h->nkeep; i++)
                        if (h->keep[i].len == len && key_is(sh, mb, h->keep[i].s, len))
                                return true;
                return false;
        }
        while (lo < hi) { /* keep is sorted by (len, bytes) */
                size_t mid = (lo + hi) / 2;
                const fg_hstr_t *e = &h->keep[mid];
                int c = e->len != len ? (e->len < len ? -1 : 1) : memcmp(e->s, k, len);

                if (!c)
                        return true;
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return false;
}

/* Is member @p mb removed at this level? Drop paths continuing below it
 * go to the next depth's list; their number into *@p nchild. */
static bool dropped(shaper_t *sh, const member_t *mb, size_t nact, size_t depth, bool top,
                    size_t *nchild) {
        const fg_handler_t *h = sh->h;
        const uint32_t *act = sh->acts + depth * h->ndrop;
        uint32_t *next = sh->acts + (depth + 1) * h->ndrop;

        *nchild = 0;
        if (top && h->nkeep && !kept(sh, mb))
                return true;
        if (top && h->add_metadata && key_is(sh, mb, h->metadata_field, h->metadata_len))
                return true;
        for (size_t i = 0; i < nact; i++) {
                const fg_hpath_t *path = &h->drop[act[i]];

                if (!key_is(sh, mb, path->seg[depth].s, path->seg[depth].len))
                        continue;
                if (path->n == depth + 1)
                        return true;
                next[(*nchild)++] = act[i];
        }
        return false;
}

/* Appends @p n bytes at @p o; returns the end. */
static inline char *put(char *o, const void *s, size_t n) {
        memcpy(o, s, n);
        return o + n;
}

/* handler.add_metadata's object, as the last member, written in one go
 * into room reserved for it. */
static void emit_metadata(shaper_t *sh, const fg_event_t *ev, int64_t now_ms, bool first) {
        const fg_handler_t *h = sh->h;
        writer_t *w = &sh->w;
        size_t topic = sh->topic_len;
        char *o;

        w_flush(w);
        w_room(w, h->metadata_key_len + 6 * topic + 200);
        o = put(w->out + w->len, h->metadata_key + first, h->metadata_key_len - first);
        w->len = (size_t)(o - w->out);
        if (ev->topic) {
                w->out[w->len++] = '"';
                w_escaped(w, (const uint8_t *)ev->topic, topic);
                w->out[w->len++] = '"';
                o = w->out + w->len;
        } else {
                o = put(o, "null", 4);
        }
        o = put_int(put(o, ",\"partition\":", 13), ev->partition);
        o = put_int(put(o, ",\"offset\":", 10), ev->offset);
        o = put(o, ",\"kafka_ts\":", 12);
        o = ev->ts_ms < 0 ? put(o, "null", 4) : put_int(o, ev->ts_ms);
        o = put_int(put(o, ",\"ingested_ms\":", 15), ev->ingest_ms);
        o = put_int(put(o, ",\"processed_ms\":", 16), now_ms);
        *o++ = '}';
        w->len = (size_t)(o - w->out);
}

/* Pass B: the object at @p o (tape index @p cidx) with @p nact drop
 * paths active at @p depth (in the acts list of that depth). */
static void emit_object(shaper_t *sh, const uint8_t *o, uint32_t cidx, size_t nact, size_t depth,
                        bool top) {
        const uint8_t *base = sh->base, *close;
        size_t k = list_members(sh, o, cidx, &close), mbase = sh->msp;
        member_t *m = sh->m + mbase;
        bool first = true;

        if (k > 1)
                find_dups(sh, k);
        sh->msp += k;
        w_span(&sh->w, o, o + 1);
        for (size_t i = 0; i < k; i++) {
                const member_t *mb = &m[i], *fm = &m[mb->final];
                const uint8_t *ke;
                size_t nchild = 0;

                if ((mb->flags & M_DUP) ||
                    ((top || nact) && dropped(sh, mb, nact, depth, top, &nchild)))
                        continue;
                if (!first)
                        w_char(&sh->w, base + mb->key - 2, ',');
                first = false;
                ke = key_end(sh, mb);
                if (mb->flags & M_KEY_DIRTY)
                        w_string(&sh->w, base + mb->key, ke);
                else
                        w_span(&sh->w, base + mb->key - 1, ke + 1);
                w_char(&sh->w, ke + 1, ':');
                if (fm->flags & M_OBJ)
                        emit_object(sh, base + fm->val, fm->end, nchild, depth + 1, false);
                else if (fm->flags & M_ARR)
                        emit_array(sh, base + fm->val, fm->end);
                else
                        w_scalar(sh, base + fm->val, base + fm->end, fm->flags & M_VAL_DIRTY);
        }
        sh->msp = mbase;
        if (top && sh->h->add_metadata)
                emit_metadata(sh, sh->ev, sh->now_ms, first);
        w_char(&sh->w, close, '}');
}

/* ---- the flat fast path ---- */

/* Members a flat object may have for the fast path's pairwise check. */
#define FLAT_MAX 16

/* A clean object (json_scan.h: already jansson's compact form, but for
 * repeated keys) holding no container, with at most FLAT_MAX members:
 * they are the tape's top-level index, each value running to the comma
 * before the next key, so the output is spans of the input and the
 * metadata — one copy when nothing is dropped. False, with nothing
 * written, when a key repeats: the general path merges those. */
static bool emit_flat(shaper_t *sh, const fg_json_tape_t *tape) {
        const uint8_t *base = sh->base, *close = base + tape->end[0] - 1, *open;
        const uint32_t *top = tape->top;
        size_t n = tape->ntop;
        bool first = true;

        if (n > FLAT_MAX)
                return false;
        for (size_t i = 1; i < n; i++) {
                const uint32_t *a = top + 3 * i;
                const uint8_t *ka = base + a[0], *kae = base + (a[1] & 0x7fffffff);

                for (size_t j = 0; j < i; j++) {
                        const uint32_t *b = top + 3 * j;
                        const uint8_t *kb = base + b[0], *kbe = base + (b[1] & 0x7fffffff);

                        if (((a[1] | b[1]) >> 31 || kae - ka == kbe - kb) &&
                            fg_jw_str_same(ka, kae, a[1] >> 31, kb, kbe, b[1] >> 31))
                                return false;
                }
        }
        open = n ? base + top[0] - 2 : close - 1;
        w_span(&sh->w, open, open + 1);
        for (size_t i = 0; i < n; i++) {
                const uint32_t *e = top + 3 * i;
                member_t mb = {.key = e[0], .val = e[2], .flags = e[1] >> 31 ? M_KEY_ESC : 0};
                const uint8_t *vend = i + 1 < n ? base + e[3] - 2 : close;
                size_t nchild;

                if (dropped(sh, &mb, sh->h->ndrop, 0, true, &nchild))
                        continue;
                if (!first)
                        w_span(&sh->w, base + mb.key - 2, base + mb.key - 1);
                first = false;
                w_span(&sh->w, base + mb.key - 1, vend);
        }
        if (sh->h->add_metadata)
                emit_metadata(sh, sh->ev, sh->now_ms, first);
        w_span(&sh->w, close, close + 1);
        return true;
}

/* ---- entry ---- */

/* The owning worker thread (handler_int.h). */
void fg_handler_shape(const fg_handler_t *h, fg_handler_ctx_t *ctx, const fg_json_tape_t *in,
                      fg_event_t *ev, int64_t now_ms) {
        size_t tape_bytes = (2 * in->cap + 3 * in->top_cap) * sizeof(uint32_t);
        size_t keys = in->keys, table = 0;
        size_t members = keys * sizeof(member_t), acts = (h->drop_depth + 1) * h->ndrop;
        size_t topic = ev->topic ? strlen(ev->topic) : 0, meta, want;
        shaper_t shaper = {.h = h, .ev = ev, .topic_len = topic, .now_ms = now_ms}, *sh = &shaper;
        fg_json_tape_t tape = *in, *t = &tape;
        uint8_t *scratch;

        if (keys > SMALL_OBJECT)
                for (table = 64; table < 2 * keys; table *= 2)
                        ;
        scratch = fg_hctx_scratch(ctx, tape_bytes + members + (table + acts) * sizeof(uint32_t),
                                  tape_bytes);
        /* The scratch may have moved: the tape's arrays with it. */
        t->end = (uint32_t *)(void *)scratch;
        t->inner = t->end + t->cap;
        t->top = t->inner + t->cap;
        sh->base = ev->value;
        sh->end = sh->base + ev->len;
        sh->tend = t->end;
        sh->tinner = t->inner;
        sh->m = (member_t *)(void *)(scratch + tape_bytes);
        sh->table = (uint32_t *)(void *)(scratch + tape_bytes + members);
        sh->acts = sh->table + table;
        for (size_t i = 0; i < h->ndrop; i++)
                sh->acts[i] = (uint32_t)i;

        /* Room for the payload and the metadata; only reals printed longer
         * than they were written make it grow: "1e14" (4 bytes) as
         * "100000000000000.0" (17) is the most a byte can become. */
        meta = h->add_metadata ? h->metadata_key_len + 6 * topic + 200 : 0;
        want = ev->len + 1 + meta;
        sh->w.ctx = ctx;
        sh->w.max = ev->len / 4 * 17 + 17 + meta + 1;
        sh->w.out = fg_hctx_out_open(ctx, want, &sh->w.cap);
        if (!(t->clean && t->n == 1 && emit_flat(sh, t)))
                emit_object(sh, fg_jw_ws(sh->base), 0, h->ndrop, 0, true);
        w_flush(&sh->w);
        fg_hctx_out_close(ctx, sh->w.out, sh->w.len);
        ev->value = sh->w.out;
        ev->len = sh->w.len;
}
