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

/* Whitespace between tokens (and the NUL jansson skips): every such
 * byte is at most ' ', and no token starts below it. */
static inline const uint8_t *fg_jw_ws(const uint8_t *p) {
        while (*p <= ' ')
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
                        unsigned mq = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, q));
                        unsigned m = mq | (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, b));

                        if (m) {
                                p += __builtin_ctz(m);
                                if (m & mq & (0u - m)) /* a quote comes first */
                                        return p;
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

/* Bytes a number or a literal (true, false, null) is made of: digits,
 * letters, '-', '+', '.'. */
static const uint8_t fg_jw_scalar_tbl[256] = {
    ['+'] = 1, ['-'] = 1, ['.'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
    ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
    ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
    ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static inline bool fg_jw_scalar_byte(uint8_t c) {
        return fg_jw_scalar_tbl[c];
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

/* @p a[0..n) == @p b[0..n): keys are short, a call to memcmp costs more
 * than comparing them here. */
static inline bool fg_jw_bytes_eq(const uint8_t *a, const uint8_t *b, size_t n) {
        if (n > 16)
                return memcmp(a, b, n) == 0;
        for (size_t i = 0; i < n; i++)
                if (a[i] != b[i])
                        return false;
        return true;
}

/* @p p is at a value: just past it if it is a string or a scalar, NULL
 * for a container (the caller steps over that with fg_jw_skip). */
static inline const uint8_t *fg_jw_skip_flat(const uint8_t *p, const uint8_t *end) {
        bool esc;

        if (*p == '"')
                return fg_jw_str_end(p + 1, end, &esc) + 1;
        if (*p == '{' || *p == '[')
                return NULL;
        while (fg_jw_scalar_tbl[*p])
                p++;
        return p;
}

/* Does the string [p, q) (between its quotes; @p esc: it has escapes)
 * decode to exactly @p s[0..n)? */
static inline bool fg_jw_str_eq(const uint8_t *p, const uint8_t *q, bool esc, const void *s,
                                size_t n) {
        fg_jw_iter_t it = {p, q, {0}};
        const uint8_t *piece, *want = s;
        size_t k;

        if (!esc)
                return (size_t)(q - p) == n && fg_jw_bytes_eq(p, want, n);
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

/* Is the escape at @p p (a backslash) written as jansson writes it: \" \\
 * \b \f \n \r \t, or \u00XX in upper case for the other control bytes
 * (so not \/, not \u00e9, not \u000a)? */
static inline bool fg_jw_escape_canonical(const uint8_t *p) {
        uint8_t c = p[1];
        int32_t cp;

        if (c == '"' || c == '\\' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't')
                return true;
        if (c != 'u' || p[2] != '0' || p[3] != '0' || (p[4] != '0' && p[4] != '1') ||
            (uint8_t)(p[5] - 'a') < 6)
                return false;
        cp = fg_jw_hex4(p + 2);
        return cp != '\b' && cp != '\f' && cp != '\n' && cp != '\r' && cp != '\t';
}

/* The real [p, e) as jansson's writer prints it (the shortest of %.15g,
 * %.16g, %.17g that reads back as the same double, ".0" added when that
 * has no '.' or exponent), worked out from its digits when it has no
 * exponent, at most 15 significant digits and a magnitude %g prints
 * without one: %.15g then gives those very digits (DBL_DIG is 15) without
 * their trailing zeros. Into @p out (room for e - p + 1); 0 when it
 * cannot tell. */
static inline size_t fg_jw_real_digits(const uint8_t *p, const uint8_t *e, char *out) {
        const uint8_t *dot = memchr(p, '.', (size_t)(e - p)), *f, *fe, *ip = p;
        size_t ni, nf, sig, o;

        if (!dot || memchr(p, 'e', (size_t)(e - p)) || memchr(p, 'E', (size_t)(e - p)))
                return 0;
        if (*ip == '-')
                ip++;
        ni = (size_t)(dot - ip);
        f = dot + 1;
        for (fe = e; fe > f && fe[-1] == '0'; fe--)
                ;
        nf = (size_t)(fe - f);
        if (ni == 1 && *ip == '0') {
                size_t z = 0;

                while (z < nf && f[z] == '0')
                        z++;
                if (z == nf || z > 3) /* zero, or %g's exponent below -4 */
                        return 0;
                sig = nf - z;
        } else {
                sig = ni + nf;
        }
        if (sig > 15)
                return 0;
        o = (size_t)(dot - p) + 1;
        memcpy(out, p, o);
        if (nf) {
                memcpy(out + o, f, nf);
                o += nf;
        } else {
                out[o++] = '0';
        }
        return o;
}

/* Is the real [p, e) written as jansson's writer prints it? */
static inline bool fg_jw_real_canonical(const uint8_t *p, const uint8_t *e) {
        char tmp[32];
        size_t n;

        if (e - p > 24)
                return false;
        n = fg_jw_real_digits(p, e, tmp);
        return n == (size_t)(e - p) && memcmp(tmp, p, n) == 0;
}

/* Do two strings decode to the same bytes? */
static inline bool fg_jw_str_same(const uint8_t *a, const uint8_t *aq, bool aesc,
                                  const uint8_t *b, const uint8_t *bq, bool besc) {
        fg_jw_iter_t ia = {a, aq, {0}}, ib = {b, bq, {0}};
        const uint8_t *pa = NULL, *pb = NULL;
        size_t na = 0, nb = 0;

        if (!aesc && !besc)
                return aq - a == bq - b && fg_jw_bytes_eq(a, b, (size_t)(aq - a));
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
