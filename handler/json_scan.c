/*
 * json_scan: one pass, no allocation, agreeing with jansson 2.14 on what
 * it loads (the rules are in json_scan.h).
 *
 * DESIGN
 * A goto state machine over three states — at a value, at an object key,
 * after a value — with the open containers as a bit stack (1 = object)
 * on the C stack: jansson's depth limit bounds it at 2048 bits. Strings
 * are the bulk of a typical event, so their plain bytes (0x20..0x7F but
 * '"' and '\\') are skipped sixteen at a time with SSE2 (eight with
 * word-wide tests without it, and in the last 15 bytes); escapes,
 * control bytes and UTF-8 sequences take the byte-by-byte path.
 *
 * Numbers are checked without converting them: an integer by its digit
 * count (and a compare at 19 digits), a real by its decimal magnitude —
 * below 1e308 it is finite, at 1e309 or above it overflows, and only in
 * between does strtod decide, on a locale-free copy of its significant
 * digits ("17976931348623159e292"; jansson's strtod sees the same value
 * and both are correctly rounded), cut at FG_JSON_SCAN_MAX_DIGITS digits
 * with a sticky last digit that keeps it on the same side of the overflow
 * threshold.
 *
 * The tape variant also notes, per container in the order they open, the
 * offset just past its closing bracket and how many containers it holds,
 * so the handler's shaper can step over a nested value in O(1) and walk
 * every byte a bounded number of times whatever the nesting.
 *
 * Threading: any thread; everything is on the caller's stack.
 */
#include "handler/json_scan.h"

#include "common/utf8.h"
#include "handler/json_walk.h"

#include <float.h>
#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum tok {
        TOK_OK = 0,
        TOK_BAD,
} tok_t;

/* Bytes a string may contain as they are: 0x20..0x7F except '"', '\\'. */
static const uint8_t str_plain[256] = {
    /* 0x00 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x10 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x20 */ 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 0x30 */ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 0x40 */ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 0x50 */ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    /* 0x60 */ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 0x70 */ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 0x80..0xFF: 0 (UTF-8, checked sequence by sequence) */
};

#if defined(__SSE2__)
/* Sixteen copies of '"', '\\' and ' ' (constant loads rather than
 * set1 sequences in the inner loop). */
#define SSE_SPLAT(c) {c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c}
static const __v16qi sse_quote = SSE_SPLAT('"');
static const __v16qi sse_bslash = SSE_SPLAT('\\');
static const __v16qi sse_space = SSE_SPLAT(' ');
#undef SSE_SPLAT
#endif

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static inline bool is_digit(uint8_t c) {
        return c >= '0' && c <= '9';
}

/* jansson's l_isalpha: it reads a whole run of these as one word. */
static inline bool is_alpha(uint8_t c) {
        return (uint8_t)((c | 0x20) - 'a') < 26;
}

/* The bytes of @p v that need a look — < 0x20, '"', '\\' or >= 0x80 —
 * as their high bits, by the classic has-less/has-zero word tests. A
 * borrow can flag a byte after a real hit, never one before it: nonzero
 * exactly when there is a hit, and the lowest flag is the first hit. */
static inline uint64_t swar_special(uint64_t v) {
        uint64_t ctl = (v - ONES * 0x20) & ~v;
        uint64_t q = v ^ (ONES * '"');
        uint64_t b = v ^ (ONES * '\\');

        q = (q - ONES) & ~q;
        b = (b - ONES) & ~b;
        return (ctl | q | b | v) & HIGHS;
}

/* Whitespace as jansson's lex_scan skips it; notes raw line breaks, and
 * any whitespace in *@p ws unless NULL. */
static inline __attribute__((always_inline)) const uint8_t *
skip_ws(const uint8_t *p, const uint8_t *end, bool *nl, bool *ws) {
        /* Compact JSON: the next token is right there (every whitespace
         * byte is at most ' '). */
        if (p < end && *p > ' ')
                return p;
        if (ws && p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
                *ws = true;
        while (p < end) {
                switch (*p) {
                case '\n':
                case '\r':
                        *nl = true;
                        /* fall through */
                case ' ':
                case '\t':
                        p++;
                        continue;
                default:
                        return p;
                }
        }
        return p;
}

/* Four hex digits (either case) as a value, or -1. */
static inline int32_t hex4(const uint8_t *p) {
        int32_t v = 0;

        for (int i = 0; i < 4; i++) {
                uint8_t c = p[i], lc = (uint8_t)(c | 0x20);
                int32_t d;

                if (is_digit(c))
                        d = c - '0';
                else if (lc >= 'a' && lc <= 'f')
                        d = lc - 'a' + 10;
                else
                        return -1;
                v = v << 4 | d;
        }
        return v;
}

/* *@p pp is just past the opening quote; on TOK_OK it is just past the
 * closing one, else at the byte refused. A key may not contain \u0000. */
static inline __attribute__((always_inline)) tok_t scan_string(const uint8_t **pp,
                                                               const uint8_t *end, bool key,
                                                               bool *esc, bool *dirty) {
        const uint8_t *p = *pp;
        tok_t rc = TOK_BAD;

        for (;;) {
                uint8_t c;

#if defined(__SSE2__)
                /* Sixteen at a time: '"', '\\', and below 0x20 as signed
                 * bytes, which takes in 0x80..0xFF too. */
                while (end - p >= 16) {
                        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
                        unsigned quote = (unsigned)_mm_movemask_epi8(
                            _mm_cmpeq_epi8(v, (__m128i)sse_quote));
                        unsigned hit = quote | (unsigned)_mm_movemask_epi8(_mm_or_si128(
                                                   _mm_cmpeq_epi8(v, (__m128i)sse_bslash),
                                                   _mm_cmplt_epi8(v, (__m128i)sse_space)));

                        if (hit) {
                                p += __builtin_ctz(hit);
                                /* The closing quote, known from the masks
                                 * without reading the byte again. */
                                if (hit & quote & (0u - hit)) {
                                        p++;
                                        rc = TOK_OK;
                                        goto out;
                                }
                                goto special;
                        }
                        p += 16;
                }
#endif
                while (end - p >= 8) {
                        uint64_t v, hit;

                        memcpy(&v, p, sizeof(v));
                        if ((hit = swar_special(v))) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                                /* The first byte in memory is the lowest. */
                                p += __builtin_ctzll(hit) >> 3;
#endif
                                break;
                        }
                        p += 8;
                }
                while (p < end && str_plain[*p])
                        p++;
                if (p == end)
                        goto out;
#if defined(__SSE2__)
        special:
#endif
                c = *p;
                if (c == '"') {
                        p++;
                        rc = TOK_OK;
                        goto out;
                }
                if (c < 0x20)
                        goto out;
                if (c >= 0x80) {
                        size_t k = fg_utf8_seq_len(p, (size_t)(end - p)); /* = jansson's utf8_check_full */

                        if (!k)
                                goto out;
                        p += k;
                        continue;
                }
                /* c == '\\' */
                if (esc)
                        *esc = true;
                if (end - p < 2)
                        goto out;
                switch (p[1]) {
                case '/':
                        if (dirty)
                                *dirty = true; /* jansson writes a plain '/' */
                        /* fall through */
                case '"':
                case '\\':
                case 'b':
                case 'f':
                case 'n':
                case 'r':
                case 't':
                        p += 2;
                        break;
                case 'u': {
                        int32_t cp, lo;

                        if (end - p < 6 || (cp = hex4(p + 2)) < 0)
                                goto out;
                        if (cp >= 0xDC00 && cp <= 0xDFFF)
                                goto out; /* a low surrogate first */
                        if (cp == 0 && key)
                                goto out; /* jansson: NUL byte in object key */
                        if (cp >= 0xD800 && cp <= 0xDBFF) {
                                /* Only a low surrogate escape may follow. */
                                if (end - p < 12 || p[6] != '\\' || p[7] != 'u')
                                        goto out;
                                lo = hex4(p + 8);
                                if (lo < 0xDC00 || lo > 0xDFFF)
                                        goto out;
                                p += 6;
                        }
                        if (dirty && !(cp < 0x20 && fg_jw_escape_canonical(p)))
                                *dirty = true; /* jansson writes it decoded */
                        p += 6;
                        break;
                }
                default:
                        goto out;
                }
        }
out:
        *pp = p;
        return rc;
}

/* A real whose significant digits are @p a[0..na) then @p b[0..nb) (the
 * first nonzero, no '.'), of magnitude [1e308, 1e309): does strtod
 * overflow? @p mag is the decimal magnitude (309): value = 0.digits * 10^mag.
 * Past FG_JSON_SCAN_MAX_DIGITS digits the copy keeps that many and a
 * sticky 1 for the rest (nonzero: trailing zeros are gone): the overflow
 * threshold, 2^1024 - 2^970, has 309 significant digits, so the value and
 * the copy fall on the same side of it and strtod rounds both alike. */
static tok_t real_overflows(const uint8_t *a, size_t na, const uint8_t *b, size_t nb,
                            int64_t mag) {
        char buf[FG_JSON_SCAN_MAX_DIGITS + 32];
        bool cut = false;
        size_t m;

        /* Trailing zeros do not count. */
        while (nb && b[nb - 1] == '0')
                nb--;
        if (!nb)
                while (na && a[na - 1] == '0')
                        na--;
        if (na > FG_JSON_SCAN_MAX_DIGITS) {
                na = FG_JSON_SCAN_MAX_DIGITS;
                nb = 0;
                cut = true;
        } else if (na + nb > FG_JSON_SCAN_MAX_DIGITS) {
                nb = FG_JSON_SCAN_MAX_DIGITS - na;
                cut = true;
        }
        memcpy(buf, a, na);
        if (nb)
                memcpy(buf + na, b, nb);
        m = na + nb;
        if (cut)
                buf[m++] = '1';
        snprintf(buf + m, sizeof(buf) - m, "e%lld", (long long)(mag - (int64_t)m));
        return strtod(buf, NULL) > DBL_MAX ? TOK_BAD : TOK_OK;
}

/* Past the run of digits at @p p: eight at a time while they last (a
 * timestamp in ms has 13). */
static inline const uint8_t *skip_digits(const uint8_t *p, const uint8_t *end) {
        while (end - p >= 8) {
                uint64_t v, x;

                memcpy(&v, p, sizeof(v));
                /* Zero bytes exactly where v has a digit: 0x3N with N < 10. */
                x = ((v & (ONES * 0xF0)) ^ (ONES * 0x30)) |
                    (((v + ONES * 0x06) & (ONES * 0xF0)) ^ (ONES * 0x30));
                x = (((x & (ONES * 0x7F)) + ONES * 0x7F) | x) & HIGHS;
                if (x) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                        /* A carry can spoil bytes after the first non-digit
                         * only: the lowest flag is right. */
                        return p + (__builtin_ctzll(x) >> 3);
#else
                        break;
#endif
                }
                p += 8;
        }
        while (p < end && is_digit(*p))
                p++;
        return p;
}

/* *@p pp is at '-' or a digit; on TOK_OK it is past the number,
 * else at the byte refused. *@p real: it has a fraction or an exponent. */
static inline __attribute__((always_inline)) tok_t scan_number(const uint8_t **pp,
                                                               const uint8_t *end, bool *real) {
        static const char int64_max[] = "9223372036854775807";
        static const char int64_min[] = "9223372036854775808"; /* without '-' */
        const uint8_t *p = *pp, *ib, *ie, *fb, *fe, *q;
        bool neg = false, eneg = false;
        int64_t x = 0, mag;
        tok_t rc = TOK_BAD;

        if (*p == '-') {
                neg = true;
                p++;
        }
        if (p == end)
                goto out;
        ib = p;
        if (*p == '0') {
                p++;
                if (p < end && is_digit(*p))
                        goto out; /* leading zero */
        } else if (is_digit(*p)) {
                p = skip_digits(p, end);
        } else {
                goto out;
        }
        ie = p;

        *real = !(p == end || (*p != '.' && *p != 'e' && *p != 'E'));
        if (!*real) {
                /* An integer: strtoll must not overflow. */
                size_t nd = (size_t)(ie - ib);

                if (nd > 19 || (nd == 19 && memcmp(ib, neg ? int64_min : int64_max, 19) > 0))
                        goto out;
                rc = TOK_OK;
                goto out;
        }

        fb = fe = p;
        if (*p == '.') {
                p++;
                if (p == end || !is_digit(*p))
                        goto out;
                fb = p;
                while (p < end && is_digit(*p))
                        p++;
                fe = p;
        }
        if (p < end && (*p == 'e' || *p == 'E')) {
                p++;
                if (p < end && (*p == '+' || *p == '-'))
                        eneg = *p++ == '-';
                if (p == end || !is_digit(*p))
                        goto out;
                /* Saturates: beyond 1e17 only the sign matters. */
                for (; p < end && is_digit(*p); p++)
                        if (x < 100000000000000000LL)
                                x = x * 10 + (*p - '0');
        }

        /* The magnitude: value = 0.<digits from the first nonzero> * 10^mag. */
        for (q = ib; q < ie && *q == '0'; q++)
                ;
        if (q < ie) {
                mag = ie - q;
        } else {
                for (q = fb; q < fe && *q == '0'; q++)
                        ;
                if (q == fe) {
                        rc = TOK_OK; /* zero, whatever the exponent */
                        goto out;
                }
                mag = -(int64_t)(q - fb);
        }
        mag += eneg ? -x : x;
        if (mag <= 308)
                rc = TOK_OK;
        else if (mag >= 310)
                rc = TOK_BAD;
        else if (q < ie)
                rc = real_overflows(q, (size_t)(ie - q), fb, (size_t)(fe - fb), mag);
        else
                rc = real_overflows(q, (size_t)(fe - q), NULL, 0, mag);
        if (rc == TOK_BAD)
                p = *pp; /* refused as a whole */
out:
        *pp = p;
        return rc;
}

/* *@p pp is at the first letter of @p w; fails when more letters follow. */
static tok_t scan_word(const uint8_t **pp, const uint8_t *end, const char *w, size_t wn) {
        const uint8_t *p = *pp;

        if ((size_t)(end - p) < wn || memcmp(p, w, wn) != 0)
                return TOK_BAD;
        p += wn;
        if (p < end && is_alpha(*p))
                return TOK_BAD;
        *pp = p;
        return TOK_OK;
}

/* Container @p i just closed at offset @p at, @p n containers opened so
 * far: record where, and how many it held (every one opened since). */
static inline void tape_close(fg_json_tape_t *tape, uint32_t i, size_t at, size_t n) {
        if (i < tape->cap) {
                tape->end[i] = (uint32_t)at;
                tape->inner[i] = (uint32_t)(n - i - 1);
        }
}

/* The scanner, specialised by its callers: @p tape NULL or not, @p any
 * (a value of any type at the top) or not — constants that inlining folds,
 * so the passthrough check carries no tape code. */
static inline __attribute__((always_inline)) fg_json_scan_t
scan(const void *data, size_t n, fg_json_check_t *out, fg_json_tape_t *tape, bool any) {
        const uint8_t *start = data, *p = start, *end;
        uint8_t is_obj[FG_JSON_SCAN_MAX_DEPTH / 8]; /* bit per open container */
        uint32_t open[FG_JSON_SCAN_MAX_DEPTH]; /* tape index per open container (tape only) */
        size_t depth = 0;
        bool in_obj = false; /* the innermost open container is an object */
        /* ws: whitespace inside the object; dirty: an escape or a number
         * jansson writes otherwise (tape only: the shaper's fast path). */
        bool nl = false, ws = false, dirty = false, real = false;
        /* The tape's counters and top-level index, in registers until the
         * end. */
        size_t tn = 0, tkeys = 0, tntop = 0, top_cap = tape ? tape->top_cap : 0;
        uint32_t *top = tape ? tape->top : NULL;
        fg_json_scan_t res = FG_JSON_SCAN_INVALID;
        tok_t t;

        if (n == 0 || !data)
                goto out;
        end = start + n;

        p = skip_ws(p, end, &nl, NULL);
        if (p == end || (!any && *p != '{'))
                goto out; /* empty, or not an object */

value:  /* at the first byte of a value, inside depth containers */
        if (depth >= FG_JSON_SCAN_MAX_DEPTH)
                goto out;
        switch (*p) {
        case '{':
        case '[': {
                uint8_t close = *p == '{' ? '}' : ']';
                uint8_t bit = (uint8_t)(1u << (depth & 7));

                if (close == '}')
                        is_obj[depth >> 3] |= bit;
                else
                        is_obj[depth >> 3] &= (uint8_t)~bit;
                if (tape)
                        open[depth] = (uint32_t)tn++;
                depth++;
                in_obj = close == '}';
                p = skip_ws(p + 1, end, &nl, tape ? &ws : NULL);
                if (p == end)
                        goto out;
                if (*p == close) {
                        p++;
                        depth--;
                        in_obj = depth && (is_obj[(depth - 1) >> 3] >> ((depth - 1) & 7) & 1);
                        if (tape)
                                tape_close(tape, open[depth], (size_t)(p - start), tn);
                        goto after;
                }
                if (close == '}')
                        goto key;
                goto value;
        }
        case '"':
                p++;
                t = scan_string(&p, end, false, NULL, tape ? &dirty : NULL);
                break;
        case 't':
                t = scan_word(&p, end, "true", 4);
                goto literal;
        case 'f':
                t = scan_word(&p, end, "false", 5);
                goto literal;
        case 'n':
                t = scan_word(&p, end, "null", 4);
                goto literal;
        case '-':
        case '0': case '1': case '2': case '3': case '4':
        case '5': case '6': case '7': case '8': case '9':
        {
                const uint8_t *num = p;

                t = scan_number(&p, end, &real);
                if (tape && t == TOK_OK &&
                    (real ? !fg_jw_real_canonical(num, p)
                          : p - num == 2 && num[0] == '-' && num[1] == '0'))
                        dirty = true; /* a real printed otherwise, or -0 */
        }
        literal:
                /* jansson's lexer drops one NUL right after a number or a
                 * literal (see json_scan.h). */
                if (t != TOK_BAD && p < end && *p == '\0') {
                        p++;
                        ws = tape != NULL;
                }
                break;
        default:
                goto out;
        }
        if (t == TOK_BAD)
                goto out;

after:  /* just past a value, inside depth containers */
        p = skip_ws(p, end, &nl, tape && depth ? &ws : NULL);
        if (depth == 0) {
                if (p == end)
                        res = FG_JSON_SCAN_OBJECT;
                goto out;
        }
        if (p == end)
                goto out;
        {
                if (*p == (in_obj ? '}' : ']')) {
                        p++;
                        depth--;
                        in_obj = depth && (is_obj[(depth - 1) >> 3] >> ((depth - 1) & 7) & 1);
                        if (tape)
                                tape_close(tape, open[depth], (size_t)(p - start), tn);
                        goto after;
                }
                if (*p != ',')
                        goto out;
                p = skip_ws(p + 1, end, &nl, tape ? &ws : NULL);
                if (p == end)
                        goto out;
                if (!in_obj)
                        goto value;
        }

key:    /* at what must be an object key */
        if (*p != '"')
                goto out;
        {
                const uint8_t *k = ++p;
                bool kesc = false;

                if (scan_string(&p, end, true, &kesc, tape ? &dirty : NULL) != TOK_OK)
                        goto out;
                const uint8_t *kq = p - 1; /* its closing quote */

                p = skip_ws(p, end, &nl, tape ? &ws : NULL);
                if (p == end || *p != ':')
                        goto out;
                p = skip_ws(p + 1, end, &nl, tape ? &ws : NULL);
                if (p == end)
                        goto out;
                if (tape) {
                        tkeys++;
                        if (depth == 1 && tntop++ < top_cap) {
                                uint32_t *e = top + 3 * (tntop - 1);

                                e[0] = (uint32_t)(k - start);
                                e[1] = (uint32_t)(kq - start) | (uint32_t)kesc << 31;
                                e[2] = (uint32_t)(p - start);
                        }
                }
        }
        goto value;

out:
        if (tape) {
                tape->n = tn;
                tape->keys = tkeys;
                tape->ntop = tntop;
                tape->clean = !ws && !dirty;
        }
        if (out) {
                out->has_raw_newline = res != FG_JSON_SCAN_INVALID && nl;
                out->pos = start ? (size_t)(p - start) : 0;
        }
        return res;
}

/* Any thread. */
fg_json_scan_t fg_json_check_object(const void *p, size_t n, fg_json_check_t *out) {
        return scan(p, n, out, NULL, false);
}

/* Any thread. */
fg_json_scan_t fg_json_check_object_tape(const void *p, size_t n, fg_json_check_t *out,
                                         fg_json_tape_t *tape) {
        return scan(p, n, out, tape, false);
}

/* Any thread. */
bool fg_json_is_value(const void *p, size_t n) {
        return scan(p, n, NULL, NULL, true) == FG_JSON_SCAN_OBJECT;
}
