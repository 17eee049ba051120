/*
 * json_walk: stepping through a payload that fg_json_check_object
 * (json_scan.h) accepted — the primitives the filter (filter.c) and the
 * shaper (shape.c) share to read an event's bytes in place, without a DOM
 * and without allocating.
 *
 * Nothing here checks validity: that was the scanner's job, and every
 * function relies on it — a string ends with its quote, a value is
 * followed by ',', '}' or ']' (possibly after whitespace), so the walk
 * inside the top-level object never needs to look for the end of the
 * buffer except where it reads several bytes at once. A NUL byte between
 * tokens can only be the one jansson skips after a number or a literal
 * (json_scan.h), so whitespace skipping skips it too.
 *
 * Strings are read in place: fg_jw_str_end finds the closing quote 16 (or
 * 8) bytes at a time and says whether there was a backslash; only then
 * does anyone decode, one escape at a time (fg_jw_unescape), so a string
 * without escapes is never copied.
 *
 * Threading: pure functions, any thread. Ownership: they read the
 * caller's buffer and keep nothing.
 */
#ifndef FG_JSON_WALK_H
#define FG_JSON_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* The number at @p p (JSON's grammar, already checked) as jansson reads
 * it, in any locale. Any thread. */
double fg_jw_strtod(const uint8_t *p);

/* Whitespace between tokens (and the NUL jansson skips). */
static inline const uint8_t *fg_jw_ws(const uint8_t *p) {
        while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t' || *p == '\0')
                p++;
        return p;
}

/* @p p is just past an opening quote: the closing quote. *@p esc is set
 * when the string holds a backslash (left alone otherwise). */
static inline const uint8_t *fg_jw_str_end(const uint8_t *p, const uint8_t *end, bool *esc) {
        for (;;) {
#if defined(__SSE2__)
                const __m128i q = _mm_set1_epi8('"'), b = _mm_set1_epi8('\\');

                while (end - p >= 16) {
                        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
                        unsigned m = (unsigned)_mm_movemask_epi8(
                            _mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, b)));

                        if (m) {
                                p += __builtin_ctz(m);
                                break;
                        }
                        p += 16;
                }
#endif
                while (*p != '"' && *p != '\\')
                        p++;
                if (*p == '"')
                        return p;
                *esc = true;
                p += 2; /* the escape's second byte is never a quote that ends it */
        }
}

/* Bytes a number or a literal (true, false, null) is made of. */
static inline bool fg_jw_scalar_byte(uint8_t c) {
        return (uint8_t)(c - '0') < 10 || (uint8_t)((c | 0x20) - 'a') < 26 || c == '-' ||
               c == '+' || c == '.';
}

/* @p p is at a value: just past it, nested containers and all. */
static inline const uint8_t *fg_jw_skip(const uint8_t *p, const uint8_t *end) {
        size_t depth = 0;
        bool esc;

        do {
                switch (*p) {
                case '"':
                        p = fg_jw_str_end(p + 1, end, &esc) + 1;
                        break;
                case '{':
                case '[':
                        depth++;
                        p++;
                        break;
                case '}':
                case ']':
                        depth--;
                        p++;
                        break;
                default:
                        if (fg_jw_scalar_byte(*p)) {
                                while (fg_jw_scalar_byte(*p))
                                        p++;
                        } else {
                                p++; /* ',', ':', whitespace inside a container */
                        }
                        break;
                }
        } while (depth);
        return p;
}

static inline int32_t fg_jw_hex4(const uint8_t *p) {
        int32_t v = 0;

        for (int i = 0; i < 4; i++) {
                uint8_t c = p[i];

                v = v << 4 | (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
        }
        return v;
}

/* @p p is at a backslash: decodes one escape (a surrogate pair is one)
 * into @p out as UTF-8, sets *@p n to its 1..4 bytes, returns the byte
 * after it. */
static inline const uint8_t *fg_jw_unescape(const uint8_t *p, uint8_t out[4], size_t *n) {
        int32_t cp;

        switch (p[1]) {
        case 'b': out[0] = '\b'; break;
        case 'f': out[0] = '\f'; break;
        case 'n': out[0] = '\n'; break;
        case 'r': out[0] = '\r'; break;
        case 't': out[0] = '\t'; break;
        case 'u':
                cp = fg_jw_hex4(p + 2);
                p += 6;
                if (cp >= 0xD800 && cp <= 0xDBFF) { /* the scanner checked the pair */
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (fg_jw_hex4(p + 2) - 0xDC00);
                        p += 6;
                }
                if (cp < 0x80) {
                        out[0] = (uint8_t)cp;
                        *n = 1;
                } else if (cp < 0x800) {
                        out[0] = (uint8_t)(0xC0 | cp >> 6);
                        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
                        *n = 2;
                } else if (cp < 0x10000) {
                        out[0] = (uint8_t)(0xE0 | cp >> 12);
                        out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
                        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
                        *n = 3;
                } else {
                        out[0] = (uint8_t)(0xF0 | cp >> 18);
                        out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
                        out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
                        out[3] = (uint8_t)(0x80 | (cp & 0x3F));
                        *n = 4;
                }
                return p;
        default: /* '"', '\\', '/' */
                out[0] = p[1];
                break;
        }
        *n = 1;
        return p + 2;
}

/* A string's decoded bytes, piece by piece: plain runs in place, escapes
 * decoded into the iterator. */
typedef struct fg_jw_iter {
        const uint8_t *p, *q; /* the rest of the string; q at its closing quote */
        uint8_t tmp[4];
} fg_jw_iter_t;

/* The next piece (false when none is left). */
static inline bool fg_jw_next(fg_jw_iter_t *it, const uint8_t **s, size_t *n) {
        const uint8_t *b;

        if (it->p >= it->q)
                return false;
        if (*it->p == '\\') {
                it->p = fg_jw_unescape(it->p, it->tmp, n);
                *s = it->tmp;
                return true;
        }
        b = memchr(it->p, '\\', (size_t)(it->q - it->p));
        *s = it->p;
        *n = (size_t)((b ? b : it->q) - it->p);
        it->p += *n;
        return true;
}

/* Does the string [p, q) (between its quotes; @p esc: it has escapes)
 * decode to exactly @p s[0..n)? */
static inline bool fg_jw_str_eq(const uint8_t *p, const uint8_t *q, bool esc, const void *s,
                                size_t n) {
        fg_jw_iter_t it = {p, q, {0}};
        const uint8_t *piece, *want = s;
        size_t k;

        if (!esc)
                return (size_t)(q - p) == n && memcmp(p, s, n) == 0;
        while (fg_jw_next(&it, &piece, &k)) {
                if (k > n || memcmp(piece, want, k) != 0)
                        return false;
                want += k;
                n -= k;
        }
        return n == 0;
}

/* The decoded length of the string [p, q). */
static inline size_t fg_jw_str_len(const uint8_t *p, const uint8_t *q, bool esc) {
        fg_jw_iter_t it = {p, q, {0}};
        const uint8_t *piece;
        size_t k, len = 0;

        if (!esc)
                return (size_t)(q - p);
        while (fg_jw_next(&it, &piece, &k))
                len += k;
        return len;
}

/* FNV-1a over the decoded bytes of the string [p, q). */
static inline uint32_t fg_jw_str_hash(const uint8_t *p, const uint8_t *q, bool esc) {
        fg_jw_iter_t it = {p, q, {0}};
        const uint8_t *piece;
        uint32_t h = 2166136261u;
        size_t k;

        if (!esc) {
                for (; p < q; p++)
                        h = (h ^ *p) * 16777619u;
                return h;
        }
        while (fg_jw_next(&it, &piece, &k))
                for (size_t i = 0; i < k; i++)
                        h = (h ^ piece[i]) * 16777619u;
        return h;
}

/* Do two strings decode to the same bytes? */
static inline bool fg_jw_str_same(const uint8_t *a, const uint8_t *aq, bool aesc,
                                  const uint8_t *b, const uint8_t *bq, bool besc) {
        fg_jw_iter_t ia = {a, aq, {0}}, ib = {b, bq, {0}};
        const uint8_t *pa = NULL, *pb = NULL;
        size_t na = 0, nb = 0;

        if (!aesc && !besc)
                return aq - a == bq - b && memcmp(a, b, (size_t)(aq - a)) == 0;
        for (;;) {
                size_t k;

                if (!na && !fg_jw_next(&ia, &pa, &na))
                        na = 0;
                if (!nb && !fg_jw_next(&ib, &pb, &nb))
                        nb = 0;
                if (!na || !nb)
                        return !na && !nb;
                k = na < nb ? na : nb;
                if (memcmp(pa, pb, k) != 0)
                        return false;
                pa += k, na -= k;
                pb += k, nb -= k;
        }
}

#endif
