/*
 * check_json_scan: the passthrough validator (handler/json_scan.h) — a
 * table of accept/reject cases for every rule in its header, then
 * differential tests that run the scanner and jansson
 * (json_loadb(JSON_DECODE_ANY | JSON_ALLOW_NUL) + json_is_object) on the
 * same bytes and require the same answer: nesting at 2046..2050
 * containers, every two-byte and a grid of three- and four-byte UTF-8
 * sequences, a grid of \u escape pairs, numbers around the int64 and
 * DBL_MAX edges (the exact rounding tie included), the fuzz corpus and
 * regressions, and 250k deterministic mutations of valid events.
 *
 * Every comparison also checks the other two entry points on the same
 * bytes: fg_json_is_value against jansson's "loads as any value", and
 * fg_json_check_object_tape (same verdict; on OBJECT, every container's
 * end and inner count, the number of keys and the top-level members)
 * against a bracket matcher written separately here, and its "clean"
 * (already jansson's compact form) against the jansson handler of before
 * (tests/support/handler_oracle.c) writing the object out.
 *
 * DESIGN: mutations come from a seeded xorshift, so runs are
 * deterministic; a failure prints the input in C escapes, ready to paste
 * into the table. Each differential test prints how many inputs it
 * compared.
 * Threading: the test thread only.
 * Ownership: each test frees what it builds.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handler/json_scan.h"
#include "tests/support/fgtest.h"
#include "tests/support/handler_oracle.h"

#define JFLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL)

/* ---- helpers ---- */

/* @p p as a C string literal body (truncated), for failure messages. */
static const char *escaped(const void *p, size_t n) {
        static char out[600];
        const unsigned char *s = p;
        size_t o = 0;

        for (size_t i = 0; i < n && o < sizeof(out) - 16; i++) {
                if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\')
                        out[o++] = (char)s[i];
                else
                        o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x", s[i]);
        }
        if (o >= sizeof(out) - 16)
                o += (size_t)snprintf(out + o, sizeof(out) - o, "...(%zu bytes)", n);
        out[o] = '\0';
        return out;
}

static bool jansson_object(const void *p, size_t n) {
        static const char empty[1] = "";
        json_t *j = json_loadb(p ? p : empty, n, JFLAGS, NULL);
        bool obj = json_is_object(j);

        json_decref(j);
        return obj;
}

static bool has_break(const void *p, size_t n) {
        return n && (memchr(p, '\n', n) || memchr(p, '\r', n));
}

static bool jansson_value(const void *p, size_t n) {
        static const char empty[1] = "";
        json_t *j = json_loadb(p ? p : empty, n, JFLAGS, NULL);

        json_decref(j);
        return j != NULL;
}

typedef struct tally {
        size_t n, objects, invalid;
} tally_t;

/* Object members in @p v, at any depth. */
static size_t dom_keys(json_t *v) {
        const char *k;
        json_t *el;
        size_t i, n = 0;

        if (json_is_object(v))
                json_object_foreach(v, k, el) n += 1 + dom_keys(el);
        else if (json_is_array(v))
                json_array_foreach(v, i, el) n += dom_keys(el);
        return n;
}

/* Does @p p hold a real number (a digit then '.', 'e' or 'E' outside
 * strings)? */
static bool has_real(const char *p, size_t n) {
        bool in_str = false;

        for (size_t i = 0; i + 1 < n; i++) {
                if (in_str) {
                        if (p[i] == '\\')
                                i++;
                        else if (p[i] == '"')
                                in_str = false;
                } else if (p[i] == '"') {
                        in_str = true;
                } else if (p[i] >= '0' && p[i] <= '9' && memchr(".eE", p[i + 1], 3)) {
                        return true;
                }
        }
        return false;
}

/* "clean" against the oracle: when no key repeats (the DOM has as many as
 * the text), the object between its braces is byte for byte what the old
 * handler writes when it re-serialises it (a drop path no key can match
 * forces that) whenever the scanner says clean; it may say not clean of
 * such an object only for a real it does not try to print (more than 15
 * significant digits, an exponent). */
static void check_clean(const fg_json_tape_t *tape, const void *data, size_t n, const char *what) {
        static char *never[] = {"\xff"};
        static fg_oracle_t *o;
        const char *p = data, *q = p + n;
        fg_event_t ev = {.value = data, .len = n};
        char *out, *reason;
        size_t olen;
        json_t *dom = json_loadb(data, n, JFLAGS, NULL);

        if (!o) {
                fg_handler_cfg_t hc = {.mode = FG_HANDLER_JSON, .drop = {never, 1}};

                o = fg_oracle_new(&hc, NULL, 0);
        }
        if (dom_keys(dom) == tape->keys) {
                ck_assert_int_eq(fg_oracle_apply(o, &ev, 0, &out, &olen, &reason), FG_HANDLE_SEND);
                while (strchr(" \t\r\n", *p))
                        p++;
                while (strchr(" \t\r\n", q[-1]))
                        q--;
                bool same = olen == (size_t)(q - p) && !memcmp(out, p, olen);

                ck_assert_msg(tape->clean ? same : !same || has_real(data, n),
                              "%s: clean %d but jansson writes %.*s: \"%s\"", what, tape->clean,
                              (int)olen, out, escaped(data, n));
                free(out);
        }
        json_decref(dom);
}

/* The tape of an accepted object @p p, recomputed by matching brackets
 * outside strings; checked against what the scanner wrote. */
static void check_tape(const fg_json_tape_t *tape, const void *data, size_t n, const char *what) {
        const unsigned char *p = data;
        size_t *stack = malloc((n + 1) * sizeof(*stack)), depth = 0, count = 0, keys = 0, top = 0;
        bool in_str = false;

        ck_assert(stack != NULL);
        for (size_t i = 0; i < n; i++) {
                unsigned char c = p[i];

                if (in_str) {
                        if (c == '\\')
                                i++;
                        else if (c == '"')
                                in_str = false;
                        continue;
                }
                if (c == '"') {
                        size_t j = i + 1, close;
                        bool any_esc = false;

                        /* A key: the next thing after its string is ':'. */
                        for (bool esc = false; j < n && (esc || p[j] != '"'); j++) {
                                any_esc |= p[j] == '\\';
                                esc = !esc && p[j] == '\\';
                        }
                        close = j;
                        for (j++; j < n && strchr(" \t\r\n", p[j]); j++)
                                ;
                        if (j < n && p[j] == ':') {
                                keys++;
                                /* A top-level member: key, closing quote and
                                 * escapes, value. */
                                if (depth == 1 && top < tape->top_cap) {
                                        const uint32_t *e = tape->top + 3 * top;
                                        size_t v = j + 1;

                                        while (strchr(" \t\r\n", p[v]))
                                                v++;
                                        ck_assert_msg(e[0] == i + 1 && e[1] == ((uint32_t)close |
                                                      (uint32_t)any_esc << 31) && e[2] == v,
                                                      "%s: top-level member %zu: %u %x %u, want "
                                                      "%zu %zu%s %zu: \"%s\"", what, top, e[0], e[1],
                                                      e[2], i + 1, close, any_esc ? "+esc" : "", v,
                                                      escaped(p, n));
                                }
                                top += depth == 1;
                        }
                        in_str = true;
                } else if (c == '{' || c == '[') {
                        stack[depth++] = count++;
                } else if (c == '}' || c == ']') {
                        size_t k = stack[--depth];

                        ck_assert_msg(tape->end[k] == i + 1 && tape->inner[k] == count - k - 1,
                                      "%s: container %zu ends at %u holding %u, want %zu and "
                                      "%zu: \"%s\"", what, k, tape->end[k], tape->inner[k], i + 1,
                                      count - k - 1, escaped(p, n));
                }
        }
        ck_assert_msg(tape->n == count && tape->keys == keys && tape->ntop == top,
                      "%s: tape has %zu containers, %zu keys, %zu at the top, want %zu, %zu, %zu: "
                      "\"%s\"", what, tape->n, tape->keys, tape->ntop, count, keys, top,
                      escaped(p, n));
        free(stack);
        check_clean(tape, data, n, what);
}

/* The scanner and jansson agree on @p p, and on OBJECT has_raw_newline
 * says whether there is a raw CR or LF; the value check and the tape
 * variant agree too (see the top). */
static fg_json_scan_t compare(tally_t *t, const void *p, size_t n, const char *what) {
        static uint32_t end[1 << 12], inner[1 << 12], top[3 << 12];
        fg_json_tape_t tape = {.end = end, .inner = inner, .cap = 1 << 12, .top = top,
                               .top_cap = 1 << 12};
        fg_json_check_t chk;
        fg_json_scan_t got = fg_json_check_object(p, n, &chk);
        bool want = jansson_object(p, n);

        t->n++;
        ck_assert_msg(fg_json_is_value(p, n) == jansson_value(p, n),
                      "%s: fg_json_is_value says %d, jansson disagrees: \"%s\"", what,
                      fg_json_is_value(p, n), escaped(p, n));
        ck_assert_msg(fg_json_check_object_tape(p, n, NULL, &tape) == got,
                      "%s: the tape variant disagrees: \"%s\"", what, escaped(p, n));
        if (got == FG_JSON_SCAN_OBJECT && tape.n <= tape.cap && tape.ntop <= tape.top_cap)
                check_tape(&tape, p, n, what);
        ck_assert_msg((got == FG_JSON_SCAN_OBJECT) == want,
                      "%s: scanner says %s (pos %zu), jansson %s: \"%s\"", what,
                      got == FG_JSON_SCAN_OBJECT ? "OBJECT" : "INVALID", chk.pos,
                      want ? "loads an object" : "refuses", escaped(p, n));
        if (got == FG_JSON_SCAN_OBJECT) {
                t->objects++;
                ck_assert_msg(chk.has_raw_newline == has_break(p, n),
                              "%s: has_raw_newline %d: \"%s\"", what, chk.has_raw_newline,
                              escaped(p, n));
        } else {
                t->invalid++;
        }
        return got;
}

static void report(const char *test, const tally_t *t) {
        printf("check_json_scan: %-26s %8zu inputs agree with jansson (%zu objects, %zu "
               "invalid)\n",
               test, t->n, t->objects, t->invalid);
        fflush(stdout);
}

static uint64_t rnd(uint64_t *s) {
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        return *s * 2685821657736338717ULL;
}

/* ---- the rules, one by one ---- */

#define OBJ(s)    {s, sizeof(s) - 1, FG_JSON_SCAN_OBJECT, false}
#define OBJNL(s)  {s, sizeof(s) - 1, FG_JSON_SCAN_OBJECT, true}
#define BAD(s)    {s, sizeof(s) - 1, FG_JSON_SCAN_INVALID, false}

static const struct rule_case {
        const char *in;
        size_t len;
        fg_json_scan_t want;
        bool nl;
} rule_cases[] = {
    /* whole input: one object, whitespace around it */
    OBJ("{}"), OBJ(" \t{ }\t "), OBJNL("\r\n{}\n"), OBJNL("{\"a\":\n1}"), OBJNL("{\"a\":1\r}"),
    BAD(""), BAD(" "), BAD("\n\r\t "), BAD("[]"), BAD("[{}]"), BAD("1"), BAD("\"s\""),
    BAD("true"), BAD("null"), BAD("{}{}"), BAD("{} {}"), BAD("{}x"), BAD("{},"), BAD("{"),
    BAD("}"), BAD("{}\x00"), BAD("\x00{}"), BAD("{}\x0b"), BAD("\x0c{}"), BAD("\xef\xbb\xbf{}"),
    BAD("{}\xc2\xa0"), BAD("{} \xff"),
    /* objects and arrays */
    OBJ("{\"a\":1,\"b\":[1,2,{}],\"c\":{\"d\":[]}}"), OBJ("{\"a\":1,\"a\":2}"),
    OBJ("{ \"a\" : [ 1 , 2 ] }"), BAD("{\"a\":1,}"), BAD("{\"a\":[1,]}"), BAD("{,}"),
    BAD("{\"a\"}"), BAD("{\"a\":}"), BAD("{\"a\" 1}"), BAD("{\"a\":1 \"b\":2}"), BAD("{a:1}"),
    BAD("{'a':1}"), BAD("{1:1}"), BAD("{\"a\":[1 2]}"), BAD("{\"a\":[,1]}"), BAD("{\"a\":[}"),
    BAD("{\"a\":]}"), BAD("{\"a\":[1}"), BAD("{\"a\":{]}"), BAD("{\"a\":1]"), BAD("{\"a\":1"),
    BAD("{\"a\":[1,2"), BAD("{\"a\"::1}"),
    /* literals */
    OBJ("{\"a\":true,\"b\":false,\"c\":null}"), BAD("{\"a\":tru}"), BAD("{\"a\":truex}"),
    BAD("{\"a\":True}"), BAD("{\"a\":NULL}"), BAD("{\"a\":nul}"), BAD("{\"a\":true1}"),
    BAD("{\"a\":nan}"), BAD("{\"a\":NaN}"), BAD("{\"a\":Infinity}"), BAD("{\"a\":undefined}"),
    BAD("{\"a\":t}"), BAD("{\"a\":true"),
    /* numbers: grammar */
    OBJ("{\"a\":0}"), OBJ("{\"a\":-0}"), OBJ("{\"a\":-0.0}"), OBJ("{\"a\":0e0}"),
    OBJ("{\"a\":0E+0}"), OBJ("{\"a\":0.5e-3}"), OBJ("{\"a\":-12.34E5}"), OBJ("{\"a\":1e05}"),
    BAD("{\"a\":00}"), BAD("{\"a\":01}"), BAD("{\"a\":-01}"), BAD("{\"a\":+1}"),
    BAD("{\"a\":-}"), BAD("{\"a\":- 1}"), BAD("{\"a\":.5}"), BAD("{\"a\":1.}"),
    BAD("{\"a\":1.e5}"), BAD("{\"a\":1e}"), BAD("{\"a\":1e+}"), BAD("{\"a\":1e-}"),
    BAD("{\"a\":1.5.3}"), BAD("{\"a\":1x}"), BAD("{\"a\":0x10}"), BAD("{\"a\":--1}"),
    BAD("{\"a\":1e5e5}"), BAD("{\"a\":1-}"),
    /* numbers: integers must fit int64, reals must not overflow */
    OBJ("{\"a\":9223372036854775807}"), BAD("{\"a\":9223372036854775808}"),
    OBJ("{\"a\":-9223372036854775808}"), BAD("{\"a\":-9223372036854775809}"),
    BAD("{\"a\":10000000000000000000}"), BAD("{\"a\":99999999999999999999999}"),
    OBJ("{\"a\":9223372036854775808.0}"), OBJ("{\"a\":99999999999999999999999e0}"),
    OBJ("{\"a\":1e308}"), OBJ("{\"a\":1.7976931348623157e308}"),
    OBJ("{\"a\":1.7976931348623158e308}"), BAD("{\"a\":1.7976931348623159e308}"),
    BAD("{\"a\":-1.7976931348623159e308}"), BAD("{\"a\":1e309}"), BAD("{\"a\":1e400}"),
    BAD("{\"a\":-1e400}"), BAD("{\"a\":1e99999999999999999999999}"),
    OBJ("{\"a\":1e-400}"), OBJ("{\"a\":-1e-400}"), OBJ("{\"a\":5e-324}"), OBJ("{\"a\":4e-324}"),
    OBJ("{\"a\":1e-99999999999999999999999}"), OBJ("{\"a\":0e99999999999999999999999}"),
    OBJ("{\"a\":0.0000e400}"), OBJ("{\"a\":0.01e310}"), BAD("{\"a\":0.1e310}"),
    /* strings: escapes */
    OBJ("{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}"), OBJ("{\"a\":\"\\u00e9\\u00E9\\uFFFF\"}"),
    OBJ("{\"a\":\"\\u0000\"}"), OBJ("{\"a\\u0001\":1}"), BAD("{\"\\u0000\":1}"),
    BAD("{\"k\\u0000\":1}"), BAD("{\"k\":{\"\\u0000x\":0}}"),
    BAD("{\"a\":\"\\x\"}"), BAD("{\"a\":\"\\U0041\"}"), BAD("{\"a\":\"\\u12\"}"),
    BAD("{\"a\":\"\\u12G4\"}"), BAD("{\"a\":\"\\'\"}"), BAD("{\"a\":\"\\\"}"), BAD("{\"a\":\"\\"),
    /* strings: surrogate escapes */
    OBJ("{\"a\":\"\\ud83d\\ude00\"}"), OBJ("{\"a\":\"\\uD800\\uDC00\\uDBFF\\uDFFF\"}"),
    BAD("{\"a\":\"\\ud800\"}"), BAD("{\"a\":\"\\udc00\"}"), BAD("{\"a\":\"\\udc00\\ud800\"}"),
    BAD("{\"a\":\"\\ud800\\ud800\"}"), BAD("{\"a\":\"\\ud800\\u0041\"}"),
    BAD("{\"a\":\"\\ud800x\"}"), BAD("{\"a\":\"\\ud800\\n\"}"), BAD("{\"a\":\"\\ud800\\\\u\"}"),
    BAD("{\"a\":\"\\ud800\\udc0\"}"), BAD("{\"\\ud800\":1}"),
    /* strings: raw bytes */
    OBJ("{\"a\":\"\x7f\"}"), BAD("{\"a\":\"\x00\"}"), BAD("{\"a\":\"\x01\"}"),
    BAD("{\"a\":\"\x1f\"}"), BAD("{\"a\":\"\t\"}"), BAD("{\"a\":\"\n\"}"), BAD("{\"a\":\"\r\"}"),
    BAD("{\"a\":\"abc}"), BAD("{\"a\":\"abc"), BAD("{\"a\":abc\"}"),
    /* strings: UTF-8 */
    OBJ("{\"caf\xc3\xa9\":\"\xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf\"}"),
    OBJ("{\"a\":\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf0\x90\x80\x80\"}"),
    BAD("{\"a\":\"\x80\"}"), BAD("{\"a\":\"\xbf\"}"), BAD("{\"a\":\"\xc0\xaf\"}"),
    BAD("{\"a\":\"\xc1\xbf\"}"), BAD("{\"a\":\"\xe0\x9f\xbf\"}"), BAD("{\"a\":\"\xf0\x8f\xbf\xbf\"}"),
    BAD("{\"a\":\"\xed\xa0\x80\"}"), BAD("{\"a\":\"\xed\xbf\xbf\"}"),
    BAD("{\"a\":\"\xf4\x90\x80\x80\"}"), BAD("{\"a\":\"\xf5\x80\x80\x80\"}"),
    BAD("{\"a\":\"\xf8\x88\x80\x80\x80\"}"), BAD("{\"a\":\"\xfe\"}"), BAD("{\"a\":\"\xff\"}"),
    BAD("{\"a\":\"\xc3\"}"), BAD("{\"a\":\"\xe2\x82\"}"), BAD("{\"a\":\"\xf0\x9f\x98\"}"),
    BAD("{\"a\":\"\xc3\"}"), BAD("{\"a\":\"\xc3"), BAD("{\"a\":\"\xc3\x41\"}"),
    BAD("{\"a\":\xc3\xa9}"), BAD("{\"a\":1\xc3\xa9}"), BAD("{\"a\":1}\xc3\xa9"),
    /* jansson's lexer drops one NUL right after a number or literal */
    OBJ("{\"a\":1\x00}"), OBJ("{\"a\":-0.5e3\x00}"), OBJ("{\"a\":true\x00}"),
    OBJ("{\"a\":false\x00,\"b\":null\x00}"), OBJ("{\"a\":[1\x00,2\x00]}"),
    OBJ("{\"a\":1\x00 }"), BAD("{\"a\":1\x00\x00}"), BAD("{\"a\":1 \x00}"),
    BAD("{\"a\":\"x\"\x00}"), BAD("{\"a\":{}\x00}"), BAD("{\"a\":[]\x00}"),
    BAD("{\"a\"\x00:1}"), BAD("{\x00\"a\":1}"), BAD("{\"a\":\x00""1}"), BAD("{\"a\":-\x00}"),
    BAD("{\"a\":1.\x00}"), BAD("{\"a\":1e\x00}"), BAD("{\"a\":tr\x00ue}"),
    BAD("{\"a\":9223372036854775808\x00}"), BAD("{\"a\":1\x00"),
};

START_TEST(test_json_scan_rules) {
        for (size_t i = 0; i < sizeof(rule_cases) / sizeof(rule_cases[0]); i++) {
                const struct rule_case *c = &rule_cases[i];
                fg_json_check_t chk;
                fg_json_scan_t got = fg_json_check_object(c->in, c->len, &chk);

                ck_assert_msg(got == c->want, "case %zu \"%s\": got %d, want %d (pos %zu)", i,
                              escaped(c->in, c->len), got, c->want, chk.pos);
                ck_assert_msg(chk.has_raw_newline == c->nl, "case %zu \"%s\": has_raw_newline %d",
                              i, escaped(c->in, c->len), chk.has_raw_newline);
                /* The table itself is checked against jansson. */
                ck_assert_msg(jansson_object(c->in, c->len) == (c->want == FG_JSON_SCAN_OBJECT),
                              "case %zu \"%s\": jansson disagrees with the table", i,
                              escaped(c->in, c->len));
        }
}
END_TEST

START_TEST(test_json_scan_null_and_pos) {
        fg_json_check_t chk = {.has_raw_newline = true, .pos = 99};

        ck_assert_int_eq(fg_json_check_object(NULL, 0, &chk), FG_JSON_SCAN_INVALID);
        ck_assert(!chk.has_raw_newline);
        ck_assert_uint_eq(chk.pos, 0);
        ck_assert_int_eq(fg_json_check_object("{}", 2, NULL), FG_JSON_SCAN_OBJECT);
        /* Only n bytes count. */
        ck_assert_int_eq(fg_json_check_object("{}garbage", 2, NULL), FG_JSON_SCAN_OBJECT);
        ck_assert_int_eq(fg_json_check_object("{\"a\":1}", 6, &chk), FG_JSON_SCAN_INVALID);
        ck_assert_uint_eq(chk.pos, 6);
        /* pos: the byte refused. */
        ck_assert_int_eq(fg_json_check_object("{\"a\":1,}", 8, &chk), FG_JSON_SCAN_INVALID);
        ck_assert_uint_eq(chk.pos, 7);
        ck_assert_int_eq(fg_json_check_object("{\"a\":\"\xff\"}", 9, &chk), FG_JSON_SCAN_INVALID);
        ck_assert_uint_eq(chk.pos, 6);
        ck_assert_int_eq(fg_json_check_object("{\n\"a\":1}", 8, &chk), FG_JSON_SCAN_OBJECT);
        ck_assert(chk.has_raw_newline);
        ck_assert_uint_eq(chk.pos, 8);
}
END_TEST

/* The tape variant's bookkeeping: ends and inner counts in bracket order,
 * keys at every depth, and a tape too small for the input (counted, not
 * written past cap: the caller grows it and scans again). */
START_TEST(test_json_scan_tape) {
        static const char in[] = " {\"a\":[1,{\"b\":[]},\"]\"],\"c\":{},\"d\":{\"e\":{\"f\":0}}} ";
        uint32_t end[8] = {0}, inner[8] = {0};
        fg_json_tape_t tape = {.end = end, .inner = inner, .cap = 8};
        static const uint32_t want_end[] = {48, 22, 17, 16, 29, 47, 46};
        static const uint32_t want_inner[] = {6, 2, 1, 0, 0, 1, 0};

        ck_assert_int_eq(fg_json_check_object_tape(in, sizeof(in) - 1, NULL, &tape),
                         FG_JSON_SCAN_OBJECT);
        ck_assert_uint_eq(tape.n, 7);
        ck_assert_uint_eq(tape.keys, 6);
        for (size_t i = 0; i < 7; i++) {
                ck_assert_msg(end[i] == want_end[i] && inner[i] == want_inner[i],
                              "container %zu: end %u inner %u", i, end[i], inner[i]);
                ck_assert_int_eq(in[end[i] - 1], i == 1 || i == 3 ? ']' : '}');
        }
        /* Two entries only: the rest is counted, not written. */
        memset(end, 0, sizeof(end));
        tape.cap = 2;
        ck_assert_int_eq(fg_json_check_object_tape(in, sizeof(in) - 1, NULL, &tape),
                         FG_JSON_SCAN_OBJECT);
        ck_assert_uint_eq(tape.n, 7);
        ck_assert_uint_eq(end[0], 48);
        ck_assert_uint_eq(end[1], 22);
        ck_assert_uint_eq(end[2], 0);
        /* The verdict does not depend on the tape. */
        ck_assert_int_eq(fg_json_check_object_tape("{\"a\":[}", 7, NULL, &tape),
                         FG_JSON_SCAN_INVALID);
        ck_assert_int_eq(fg_json_check_object_tape("{}", 2, NULL, &tape), FG_JSON_SCAN_OBJECT);
        ck_assert_uint_eq(tape.n, 1);
        ck_assert_uint_eq(tape.keys, 0);
        ck_assert_uint_eq(end[0], 2);
}
END_TEST

/* fg_json_is_value: any top-level value jansson loads. */
START_TEST(test_json_scan_is_value) {
        static const struct {
                const char *in;
                size_t len;
                bool want;
        } cases[] = {
            {"{}", 2, true},       {"[1,2]", 5, true},   {" \"s\" ", 5, true}, {"-0", 2, true},
            {"1e5", 3, true},      {"true", 4, true},    {"null\n", 5, true},  {"1\0", 2, true},
            {"", 0, false},        {"  ", 2, false},     {"1 2", 3, false},    {"[1,]", 4, false},
            {"tru", 3, false},     {"\"a", 2, false},    {"1\0\0", 3, false}, {"01", 2, false},
            {"{}{}", 4, false},    {"9223372036854775808", 19, false},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                ck_assert_msg(fg_json_is_value(cases[i].in, cases[i].len) == cases[i].want,
                              "case %zu: \"%s\"", i, escaped(cases[i].in, cases[i].len));
                ck_assert_msg(jansson_value(cases[i].in, cases[i].len) == cases[i].want,
                              "case %zu: jansson disagrees with the table", i);
        }
        ck_assert(!fg_json_is_value(NULL, 0));
}
END_TEST

/* ---- differential: nesting ---- */

/* k containers (the outermost an object: {"a": then k-1 more, each an
 * array or an object by @p pattern), with @p inner in the innermost. */
static char *nested(size_t k, int pattern, const char *inner, size_t *len) {
        size_t cap = 8 * k + strlen(inner) + 16, n = 0;
        char *s = malloc(cap), *closers = malloc(k + 1);

        ck_assert(s && closers);
        n += (size_t)sprintf(s, "{\"a\":");
        closers[0] = '}';
        for (size_t i = 1; i < k; i++) {
                bool obj = pattern == 1 || (pattern == 2 && i % 2);

                if (obj) {
                        memcpy(s + n, "{\"b\":", 5);
                        n += 5;
                } else {
                        s[n++] = '[';
                }
                closers[i] = obj ? '}' : ']';
        }
        n += (size_t)sprintf(s + n, "%s", inner);
        for (size_t i = k; i-- > 0;)
                s[n++] = closers[i];
        free(closers);
        *len = n;
        return s;
}

START_TEST(test_json_scan_nesting_limit) {
        static const char *inner[] = {"", "1", "\"s\"", "null", "{}", "[]", "[1]", "{\"k\":1}"};
        tally_t t = {0};

        for (size_t k = 2045; k <= 2050; k++)
                for (int pattern = 0; pattern < 3; pattern++)
                        for (size_t i = 0; i < sizeof(inner) / sizeof(inner[0]); i++) {
                                size_t len;
                                char *s = nested(k, pattern, inner[i], &len);
                                /* "" leaves the innermost container empty (and
                                 * {"b":} invalid when that is an object). */
                                fg_json_scan_t got = compare(&t, s, len, "nesting");

                                if (pattern == 0 && i == 0)
                                        ck_assert_int_eq(got, k <= FG_JSON_SCAN_MAX_DEPTH
                                                                  ? FG_JSON_SCAN_OBJECT
                                                                  : FG_JSON_SCAN_INVALID);
                                free(s);
                        }
        /* The exact edges, spelled out: 2048 containers with the innermost
         * empty load; a value inside the 2048th does not. */
        {
                size_t len;
                char *s = nested(2047, 0, "[]", &len);

                ck_assert_int_eq(fg_json_check_object(s, len, NULL), FG_JSON_SCAN_OBJECT);
                free(s);
                s = nested(2047, 0, "[1]", &len);
                ck_assert_int_eq(fg_json_check_object(s, len, NULL), FG_JSON_SCAN_INVALID);
                free(s);
                s = nested(2047, 0, "1", &len);
                ck_assert_int_eq(fg_json_check_object(s, len, NULL), FG_JSON_SCAN_OBJECT);
                free(s);
                s = nested(2048, 1, "{}", &len);
                ck_assert_int_eq(fg_json_check_object(s, len, NULL), FG_JSON_SCAN_INVALID);
                free(s);
        }
        report("nesting", &t);
}
END_TEST

/* ---- differential: UTF-8 ---- */

START_TEST(test_json_scan_utf8_grid) {
        static const uint8_t tails[] = {0x00, 0x22, 0x41, 0x7f, 0x80, 0x8f, 0x90,
                                        0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xf4, 0xff};
        tally_t t = {0};
        char s[32];

        /* Every byte pair, in a value and in a key. */
        for (unsigned a = 0; a < 256; a++)
                for (unsigned b = 0; b < 256; b++) {
                        s[0] = '{', s[1] = '"', s[2] = 'k', s[3] = '"', s[4] = ':', s[5] = '"';
                        s[6] = (char)a, s[7] = (char)b;
                        s[8] = '"', s[9] = '}';
                        compare(&t, s, 10, "utf8 pair in value");
                        s[0] = '{', s[1] = '"', s[2] = (char)a, s[3] = (char)b;
                        memcpy(s + 4, "\":1}", 4);
                        compare(&t, s, 8, "utf8 pair in key");
                }
        /* Three- and four-byte leads with every second byte and a sample of the rest. */
        for (unsigned a = 0xe0; a < 0x100; a++)
                for (unsigned b = 0; b < 256; b++)
                        for (size_t i = 0; i < sizeof(tails); i++)
                                for (size_t j = 0; j < (a >= 0xf0 ? sizeof(tails) : 1); j++) {
                                        size_t n = 0;

                                        memcpy(s, "{\"k\":\"", 6);
                                        n = 6;
                                        s[n++] = (char)a;
                                        s[n++] = (char)b;
                                        s[n++] = (char)tails[i];
                                        if (a >= 0xf0)
                                                s[n++] = (char)tails[j];
                                        s[n++] = '"';
                                        s[n++] = '}';
                                        compare(&t, s, n, "utf8 sequence");
                                        /* and cut short by the end of input */
                                        if (i == 0 && j == 0)
                                                compare(&t, s, 8, "utf8 truncated");
                                }
        ck_assert_uint_gt(t.objects, 1000);
        report("utf8 grid", &t);
}
END_TEST

/* ---- differential: \u escapes ---- */

START_TEST(test_json_scan_escape_grid) {
        static const char *first[] = {"\\u0000", "\\u0001", "\\u001F", "\\u007f", "\\u00FF",
                                      "\\uD7FF", "\\uD800", "\\uDbFf", "\\uDC00", "\\uDFFF",
                                      "\\uE000", "\\uFFFF", "\\u12",   "\\u",     "\\uZZZZ",
                                      "\\n",     "a",       ""};
        static const char *second[] = {"",        "\\u0041", "\\uD800", "\\uDBFF", "\\uDC00",
                                       "\\udfff", "\\uE000", "\\u0000", "\\n",     "\\\\u",
                                       "\\uDC0",  "u",       "\\",      "\\\"",    "\xc3\xa9",
                                       "\\ud800\\udc00"};
        tally_t t = {0};
        char s[128];

        for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++)
                for (size_t j = 0; j < sizeof(second) / sizeof(second[0]); j++) {
                        int n = snprintf(s, sizeof(s), "{\"k\":\"%s%s\"}", first[i], second[j]);

                        compare(&t, s, (size_t)n, "escape in value");
                        n = snprintf(s, sizeof(s), "{\"%s%s\":0}", first[i], second[j]);
                        compare(&t, s, (size_t)n, "escape in key");
                        n = snprintf(s, sizeof(s), "{\"x\":{\"%s%s\":[]}}", first[i], second[j]);
                        compare(&t, s, (size_t)n, "escape in nested key");
                }
        report("escape grid", &t);
}
END_TEST

/* ---- differential: numbers ---- */

/* Decimal digits of 2^1024 - 2^970, the midpoint between DBL_MAX and
 * 2^1024: a real at or above it overflows (the tie rounds to even, up). */
static void dbl_max_midpoint(char *out, size_t cap) {
        /* little-endian base-10 digits */
        unsigned char a[400] = {1}, b[400] = {1};
        size_t n = 0;
        int borrow = 0;

        for (int e = 0; e < 1024; e++) {
                int ca = 0, cb = 0;

                for (size_t i = 0; i < sizeof(a); i++) {
                        int va = a[i] * 2 + ca, vb = b[i] * 2 + cb;

                        a[i] = (unsigned char)(va % 10), ca = va / 10;
                        if (e < 970)
                                b[i] = (unsigned char)(vb % 10), cb = vb / 10;
                }
        }
        for (size_t i = 0; i < sizeof(a); i++) {
                int v = a[i] - b[i] - borrow;

                borrow = v < 0;
                a[i] = (unsigned char)(v < 0 ? v + 10 : v);
        }
        for (size_t i = sizeof(a); i-- > 0;)
                if (n || a[i])
                        if (n + 1 < cap)
                                out[n++] = (char)('0' + a[i]);
        out[n] = '\0';
}

/* @p tmpl with each '@' replaced by @p num, into @p out; its length. */
static size_t subst(char *out, size_t cap, const char *tmpl, const char *num) {
        size_t n = 0, k = strlen(num);

        for (; *tmpl; tmpl++) {
                if (*tmpl == '@') {
                        ck_assert_uint_lt(n + k, cap);
                        memcpy(out + n, num, k);
                        n += k;
                } else {
                        ck_assert_uint_lt(n + 1, cap);
                        out[n++] = *tmpl;
                }
        }
        out[n] = '\0';
        return n;
}

START_TEST(test_json_scan_number_edges) {
        static const char *nums[] = {
            "0", "-0", "1", "-1", "00", "01", "-01", "1.", ".1", "1.0", "-1.0", "1e", "1e+", "1e-5",
            "1E5", "1e+05", "0e0", "-0e-0", "0.0e99999", "9223372036854775806",
            "9223372036854775807", "9223372036854775808", "9223372036854775809",
            "-9223372036854775807", "-9223372036854775808", "-9223372036854775809",
            "18446744073709551615", "18446744073709551616", "1000000000000000000",
            "9999999999999999999", "-9999999999999999999", "922337203685477580",
            "1e308", "9.9999999999999999e307", "1e309", "10e308", "0.1e309", "0.01e310",
            "1.7976931348623157e308", "1.7976931348623158e308", "1.79769313486231580e308",
            "1.7976931348623158079e308", "1.797693134862315807937289714053e308",
            "1.797693134862315807937289714054e308", "1.7976931348623159e308",
            "-1.7976931348623159e308", "2e308", "1e-307", "2.2250738585072014e-308",
            "4.9406564584124654e-324", "2.4703282292062327e-324", "2.4703282292062328e-324",
            "1e-324", "1e-400", "-1e-400", "1e-99999999999999999999", "1e99999999999999999999",
            "0e99999999999999999999", "1e+0000000000000000000000000000308",
            "1e+0000000000000000000000000000309", "123456789012345678901234567890",
            "123456789012345678901234567890.5", "-0.000000000000000000000000000001e330",
            "0.00000000000000000000000000000000000000001e349",
            "0.00000000000000000000000000000000000000001e348",
        };
        static const char *ctx[] = {"{\"n\":@}", "{\"n\":[@]}", "{\"n\":@\x01}", "{\"n\":@x}",
                                    "{\"n\":@.}", "{\"n\":@,\"m\":@}", "{\"n\":@ }"};
        const size_t cap = 4096;
        char mid[400], num[1400], *s = malloc(cap);
        tally_t t = {0};
        size_t n;

        ck_assert_ptr_nonnull(s);
        for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
                for (size_t j = 0; j < sizeof(ctx) / sizeof(ctx[0]); j++) {
                        n = subst(s, cap, ctx[j], nums[i]);
                        compare(&t, s, n, "number");
                }
                /* the NUL jansson drops after a number */
                n = subst(s, cap, "{\"n\":@", nums[i]);
                memcpy(s + n, "\0}", 2);
                compare(&t, s, n + 2, "number + NUL");
        }

        /* 309-digit integers written as reals, either side of DBL_MAX. */
        memset(num, '0', 309);
        memcpy(num, "17976931348623157", 17);
        memcpy(num + 309, ".0", 3);
        n = subst(s, cap, "{\"n\":@}", num);
        ck_assert_int_eq(fg_json_check_object(s, n, NULL), FG_JSON_SCAN_OBJECT);
        compare(&t, s, n, "309 digits");
        memcpy(num, "17976931348623159", 17);
        n = subst(s, cap, "{\"n\":@}", num);
        ck_assert_int_eq(fg_json_check_object(s, n, NULL), FG_JSON_SCAN_INVALID);
        compare(&t, s, n, "309 digits");
        num[309] = '\0'; /* an integer that large is too big an integer */
        n = subst(s, cap, "{\"n\":@}", num);
        ck_assert_int_eq(fg_json_check_object(s, n, NULL), FG_JSON_SCAN_INVALID);
        compare(&t, s, n, "309 digits");

        /* Around the exact midpoint (309 digits), decided by the scanner up
         * on a copy of at most FG_JSON_SCAN_MAX_DIGITS significant digits
         * and a sticky last one. */
        dbl_max_midpoint(mid, sizeof(mid));
        ck_assert_uint_eq(strlen(mid), 309);
        ck_assert(!strncmp(mid, "17976931348623158079", 20));
        {
                static const struct {
                        const char *tmpl;
                        fg_json_scan_t want;
                } cases[] = {
                    {"{\"n\":@.0}", FG_JSON_SCAN_INVALID}, /* the tie rounds up */
                    {"{\"n\":@e0}", FG_JSON_SCAN_INVALID},
                    {"{\"n\":-@.0}", FG_JSON_SCAN_INVALID},
                    {"{\"n\":@.0000000000001}", FG_JSON_SCAN_INVALID},
                    {"{\"n\":0.@e309}", FG_JSON_SCAN_INVALID},
                    {"{\"n\":0.00@e311}", FG_JSON_SCAN_INVALID},
                };

                for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                        n = subst(s, cap, cases[i].tmpl, mid);
                        ck_assert_msg(fg_json_check_object(s, n, NULL) == cases[i].want, "%s",
                                      cases[i].tmpl);
                        compare(&t, s, n, "midpoint");
                }
        }
        /* Just above the tie with 1210 significant digits: overflows. */
        snprintf(num, sizeof(num), "%s.", mid);
        memset(num + 310, '0', 900);
        memcpy(num + 1210, "1", 2);
        n = subst(s, cap, "{\"n\":@}", num);
        ck_assert_int_eq(fg_json_check_object(s, n, NULL), FG_JSON_SCAN_INVALID);
        compare(&t, s, n, "midpoint, 1210 digits");
        /* The tie itself with 1210 digits (trailing zeros) overflows; with
         * the 1 exactly at the cut, too. */
        num[1210] = '0';
        compare(&t, s, subst(s, cap, "{\"n\":@}", num), "midpoint, zeros");
        snprintf(num, sizeof(num), "%s.", mid);
        memset(num + 310, '0', 800 - 309);
        memcpy(num + 310 + 800 - 309, "1", 2);
        n = subst(s, cap, "{\"n\":@}", num);
        ck_assert_int_eq(fg_json_check_object(s, n, NULL), FG_JSON_SCAN_INVALID);
        compare(&t, s, n, "midpoint, 1 at the cut");
        /* One below the tie rounds down to DBL_MAX, however many 9s follow
         * (800 significant digits and a sticky one past them). */
        mid[308]--;
        snprintf(num, sizeof(num), "%s.", mid);
        memset(num + 310, '9', 400);
        num[710] = '\0';
        n = subst(s, cap, "{\"n\":@}", num);
        ck_assert_int_eq(fg_json_check_object(s, n, NULL), FG_JSON_SCAN_OBJECT);
        compare(&t, s, n, "below midpoint, 709 digits");
        memset(num + 310, '9', 1000);
        num[1310] = '\0';
        n = subst(s, cap, "{\"n\":@}", num);
        ck_assert_int_eq(fg_json_check_object(s, n, NULL), FG_JSON_SCAN_OBJECT);
        compare(&t, s, n, "below midpoint, 1309 digits");
        /* Trailing zeros are not significant. */
        memset(num + 310, '0', 1000);
        n = subst(s, cap, "{\"n\":@}", num);
        ck_assert_int_eq(fg_json_check_object(s, n, NULL), FG_JSON_SCAN_OBJECT);
        compare(&t, s, n, "below midpoint, trailing zeros");

        report("number edges", &t);
        free(s);
}
END_TEST

/* ---- differential: the fuzz corpus ---- */

typedef struct blob {
        uint8_t *p;
        size_t n;
} blob_t;

typedef struct blobs {
        blob_t *v;
        size_t n, cap;
} blobs_t;

static void blobs_add(blobs_t *b, const void *p, size_t n) {
        if (b->n == b->cap) {
                b->cap = b->cap ? b->cap * 2 : 64;
                b->v = realloc(b->v, b->cap * sizeof(*b->v));
                ck_assert_ptr_nonnull(b->v);
        }
        b->v[b->n].p = malloc(n ? n : 1);
        ck_assert_ptr_nonnull(b->v[b->n].p);
        if (n)
                memcpy(b->v[b->n].p, p, n);
        b->v[b->n++].n = n;
}

static void blobs_free(blobs_t *b) {
        for (size_t i = 0; i < b->n; i++)
                free(b->v[i].p);
        free(b->v);
}

/* Every regular file of @p dir (relative to FLOODGATE_SRCDIR, the cwd). */
static size_t load_dir(blobs_t *b, const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t added = 0;

        if (!d) {
                ck_assert_msg(errno == ENOENT, "cannot open %s: %s", dir, strerror(errno));
                return 0;
        }
        while ((de = readdir(d))) {
                char path[4096];
                struct stat st;
                FILE *fp;
                uint8_t *buf;

                if (de->d_name[0] == '.' || !strncmp(de->d_name, "README", 6))
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
                        continue;
                fp = fopen(path, "rb");
                ck_assert_msg(fp != NULL, "cannot open %s", path);
                buf = malloc((size_t)st.st_size + 1);
                ck_assert_ptr_nonnull(buf);
                ck_assert_uint_eq(fread(buf, 1, (size_t)st.st_size, fp), (size_t)st.st_size);
                fclose(fp);
                blobs_add(b, buf, (size_t)st.st_size);
                free(buf);
                added++;
        }
        closedir(d);
        return added;
}

static void load_corpus(blobs_t *b) {
        ck_assert_uint_gt(load_dir(b, "tests/fuzz/corpus/handler"), 0);
        load_dir(b, "tests/fuzz/regressions/handler");
}

START_TEST(test_json_scan_fuzz_corpus) {
        blobs_t files = {0};
        tally_t t = {0};

        load_corpus(&files);
        for (size_t i = 0; i < files.n; i++) {
                const blob_t *f = &files.v[i];

                /* The whole file, and the payload the handler harness sees
                 * (after its setup and flags bytes). */
                compare(&t, f->p, f->n, "corpus file");
                if (f->n >= 2)
                        compare(&t, f->p + 2, f->n - 2, "corpus payload");
        }
        report("fuzz corpus", &t);
        blobs_free(&files);
}
END_TEST

/* ---- differential: mutations ---- */

#define MUTATIONS   250000
#define MUT_MAX_LEN 16384

#define FRAG(s) {s, sizeof(s) - 1}
static const struct frag {
        const char *s;
        size_t n;
} frags[] = {
    FRAG("\\ud800"), FRAG("\\udc00"), FRAG("\\ud800\\udc00"), FRAG("\\uDBFF\\uDFFF"),
    FRAG("\\u0000"), FRAG("\\u00e9"), FRAG("\\u12"), FRAG("\\n"), FRAG("\\"), FRAG("\""),
    FRAG("1e400"), FRAG("-1e400"), FRAG("1e-400"), FRAG("1.7976931348623159e308"),
    FRAG("1.7976931348623157e308"), FRAG("e308"), FRAG("e309"), FRAG("e-999"), FRAG("-0"),
    FRAG("00"), FRAG("0"), FRAG("-"), FRAG("."), FRAG(".5"), FRAG("e"), FRAG("E+"),
    FRAG("9223372036854775807"), FRAG("9223372036854775808"), FRAG("-9223372036854775808"),
    FRAG("-9223372036854775809"), FRAG("true"), FRAG("false"), FRAG("null"), FRAG("nul"),
    FRAG("\xed\xa0\x80"), FRAG("\xc0\xaf"), FRAG("\xc1\xbf"), FRAG("\xe0\x80\x80"),
    FRAG("\xf0\x80\x80\x80"), FRAG("\xf4\x90\x80\x80"), FRAG("\xf5\x80\x80\x80"), FRAG("\xff"),
    FRAG("\xfe"), FRAG("\x80"), FRAG("\xc3"), FRAG("\xc3\xa9"), FRAG("\xe2\x82\xac"),
    FRAG("\xf0\x9f\x98\x80"), FRAG("\xef\xbb\xbf"), FRAG("\x00"), FRAG("\x00\x00"),
    FRAG("\x01"), FRAG("\x1f"), FRAG("\x7f"), FRAG("\n"), FRAG("\r\n"), FRAG("\r"),
    FRAG("\t"), FRAG(" "), FRAG(","), FRAG(":"), FRAG("{"), FRAG("}"), FRAG("["), FRAG("]"),
    FRAG("{}"), FRAG("[]"), FRAG("[[[[[[[["), FRAG("]]]]]]]]"), FRAG("\"k\":1,"),
    FRAG(",\"k\":{}"), FRAG("\"\\u0000\":"), FRAG(",1"), FRAG("[1,"),
};

static const char *const bases[] = {
    "{\"id\":\"x-1\",\"ts\":1700000000000,\"seq\":1,\"user\":\"u1\",\"brand\":\"acme\","
    "\"text\":\"acme is trending lorem ipsum dolor sit amet consectetur\"}",
    "{\"a\":{\"b\":[1,-2.5e-3,true,false,null,\"s\"],\"c\":{}},\"d\":[],\"e\":\"\"}",
    "{ \"spaced\" : [ 1 , 2 ] ,\t\"dup\":1, \"dup\":2 }",
    "{\"u\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \\u00e9 \\ud83d\\ude00 \\\"q\\\" "
    "\\\\ \\/ \\b\\f\\n\\r\\t\",\"k\\u0041\":0}",
    "{\"nul\":\"a\\u0000b\",\"n\":[0,-0,0.0,1e5,1E+5,1e-5,9223372036854775807,"
    "-9223372036854775808,1.7976931348623157e308,5e-324]}",
    "{\n  \"id\": \"x-1\",\n  \"text\": \"a\\nb\",\r\n  \"n\": [1, 2]\n}\n",
    "{\"a\":[[[[[[[[[[{\"b\":[[[[\"deep\"]]]]}]]]]]]]]]]}",
    "{\"big\":123456789012345678,\"small\":-1,\"r\":0.1,\"flag\":true,\"tags\":[\"urgent\"]}",
};

/* One random edit of b[0..*n) (capacity MUT_MAX_LEN). */
static void mutate(uint8_t *b, size_t *n, uint64_t *rs) {
        static const uint8_t interesting[] = {0x00, '\n', '\r', '"', '\\', '0', '9', '-', 'e',
                                              '.',  0x80, 0xbf, 0xc0, 0xff, '{', '}', '[', ']',
                                              ',',  ':',  ' ',  'u', 0xed, 0xf4};
        size_t len = *n, pos = len ? (size_t)(rnd(rs) % (len + 1)) : 0;
        unsigned op = (unsigned)(rnd(rs) % 10);

        if (!len && op < 5)
                op = 6;
        if (pos == len && op < 3 && len)
                pos = len - 1;
        switch (op) {
        case 0: /* flip a bit */
                b[pos] ^= (uint8_t)(1u << (rnd(rs) % 8));
                break;
        case 1: /* a random byte */
                b[pos] = (uint8_t)rnd(rs);
                break;
        case 2: /* an interesting byte */
                b[pos] = interesting[rnd(rs) % sizeof(interesting)];
                break;
        case 3: { /* delete 1..8 bytes */
                size_t k = 1 + (size_t)(rnd(rs) % 8);

                if (pos >= len)
                        break;
                if (k > len - pos)
                        k = len - pos;
                memmove(b + pos, b + pos + k, len - pos - k);
                *n = len - k;
                break;
        }
        case 4: /* truncate */
                *n = pos;
                break;
        case 5: /* insert a random byte */
        case 6:
        case 7: { /* insert (6) or overwrite (7) a fragment */
                const struct frag *f = &frags[rnd(rs) % (sizeof(frags) / sizeof(frags[0]))];
                uint8_t one = (uint8_t)rnd(rs);
                const uint8_t *src = op == 5 ? &one : (const uint8_t *)f->s;
                size_t k = op == 5 ? 1 : f->n;

                if (len + k > MUT_MAX_LEN)
                        break;
                if (op != 7 || pos + k > len) {
                        memmove(b + pos + k, b + pos, len - pos);
                        *n = len + k;
                }
                memcpy(b + pos, src, k);
                break;
        }
        case 8: { /* copy a slice of itself to another place */
                size_t from = (size_t)(rnd(rs) % (len + 1)), k = (size_t)(rnd(rs) % 16);

                if (from + k > len)
                        k = len - from;
                if (len + k > MUT_MAX_LEN)
                        break;
                memmove(b + pos + k, b + pos, len - pos);
                memmove(b + pos, b + (from >= pos ? from + k : from), k);
                *n = len + k;
                break;
        }
        default: { /* a digit for a digit, whitespace for whitespace: often still valid */
                for (size_t i = pos; i < len; i++) {
                        if (b[i] >= '0' && b[i] <= '9') {
                                b[i] = (uint8_t)('0' + rnd(rs) % 10);
                                break;
                        }
                        if (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
                                b[i] = (uint8_t)" \t\n\r"[rnd(rs) % 4];
                                break;
                        }
                }
                break;
        }
        }
}

START_TEST(test_json_scan_mutations) {
        blobs_t base = {0}, files = {0};
        uint8_t *buf = malloc(MUT_MAX_LEN);
        uint64_t rs = 0x9E3779B97F4A7C15ULL;
        tally_t t = {0};

        ck_assert_ptr_nonnull(buf);
        for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++)
                blobs_add(&base, bases[i], strlen(bases[i]));
        /* Near the nesting limit: a mutation can tip it either way. */
        {
                size_t len;
                char *s = nested(2047, 2, "1", &len);

                blobs_add(&base, s, len);
                free(s);
                s = nested(2048, 0, "", &len);
                blobs_add(&base, s, len);
                free(s);
        }
        /* The corpus payloads (without the harness's setup and flags
         * bytes) that are valid events. */
        load_corpus(&files);
        for (size_t i = 0; i < files.n; i++)
                if (files.v[i].n > 2 && files.v[i].n - 2 <= MUT_MAX_LEN &&
                    jansson_object(files.v[i].p + 2, files.v[i].n - 2))
                        blobs_add(&base, files.v[i].p + 2, files.v[i].n - 2);
        blobs_free(&files);
        for (size_t i = 0; i < base.n; i++)
                ck_assert(jansson_object(base.v[i].p, base.v[i].n));

        for (size_t m = 0; m < MUTATIONS; m++) {
                /* The deep bases are 4 KiB: pick them rarely. */
                size_t pick = (size_t)(rnd(&rs) % base.n);
                const blob_t *src;
                size_t n;
                unsigned edits;

                if (base.v[pick].n > 1024 && rnd(&rs) % 16)
                        pick = (size_t)(rnd(&rs) % (sizeof(bases) / sizeof(bases[0])));
                src = &base.v[pick];
                n = src->n;
                memcpy(buf, src->p, n);
                edits = 1 + (unsigned)(rnd(&rs) % 4);
                for (unsigned e = 0; e < edits; e++)
                        mutate(buf, &n, &rs);
                compare(&t, buf, n, "mutation");
        }
        ck_assert_uint_eq(t.n, MUTATIONS);
        /* Both answers must be well represented, or the test proves little. */
        ck_assert_uint_gt(t.objects, t.n / 20);
        ck_assert_uint_gt(t.invalid, t.n / 20);
        report("mutations", &t);
        printf("check_json_scan: (mutations of %zu valid events: %zu built in, %zu from the "
               "fuzz corpus)\n",
               base.n, sizeof(bases) / sizeof(bases[0]) + 2,
               base.n - sizeof(bases) / sizeof(bases[0]) - 2);
        blobs_free(&base);
        free(buf);
}
END_TEST

static Suite *json_scan_suite(void) {
        Suite *s = suite_create("json_scan");
        TCase *rules = tcase_create("rules"), *diff = tcase_create("differential");

        tcase_add_test(rules, test_json_scan_rules);
        tcase_add_test(rules, test_json_scan_null_and_pos);
        tcase_add_test(rules, test_json_scan_tape);
        tcase_add_test(rules, test_json_scan_is_value);
        suite_add_tcase(s, rules);
        /* Hundreds of thousands of jansson parses: more than Check's 4 s
         * under the sanitizers. */
        tcase_set_timeout(diff, 600);
        tcase_add_test(diff, test_json_scan_nesting_limit);
        tcase_add_test(diff, test_json_scan_utf8_grid);
        tcase_add_test(diff, test_json_scan_escape_grid);
        tcase_add_test(diff, test_json_scan_number_edges);
        tcase_add_test(diff, test_json_scan_fuzz_corpus);
        tcase_add_test(diff, test_json_scan_mutations);
        suite_add_tcase(s, diff);
        return s;
}

int main(void) { return fg_test_run_in_srcdir(json_scan_suite(), "check_json_scan"); }
