/*
 * json_scan: a yes/no validator for "is this payload exactly one JSON
 * object that jansson would load?", for the handler's passthrough path,
 * where the only question is whether the original bytes may go on.
 *
 * Why not jansson: json_loadb builds the whole DOM (an allocation per
 * value and per key, hashing every key) only for us to throw it away;
 * that is ~4 us of a 150-byte event. This scanner makes one pass over the
 * bytes, allocates nothing, and touches no global state.
 *
 * The contract is agreement with jansson 2.14's
 * json_loadb(p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, ...) followed by
 * json_is_object(): FG_JSON_SCAN_OBJECT exactly when jansson returns an
 * object, FG_JSON_SCAN_INVALID exactly when it returns NULL or a
 * non-object. The rules, as
 * jansson 2.14 (src/load.c, src/utf.c, src/strconv.c) applies them:
 *
 *   - Whitespace is ' ', '\t', '\n', '\r', allowed before and after the
 *     object and between tokens; anything else after the object
 *     (including a NUL byte) is refused. Empty or all-whitespace input
 *     is refused.
 *   - The whole input must be strict UTF-8: no stray continuation bytes,
 *     no C0/C1/F5..FF lead bytes, no overlongs, no UTF-8-encoded
 *     surrogates (U+D800..DFFF), nothing above U+10FFFF, no truncated
 *     sequence. Bytes >= 0x80 are only possible inside strings (anywhere
 *     else they are an invalid token).
 *   - Strings: bytes 0x00..0x1F are refused (raw tab, CR, LF, NUL
 *     included); 0x7F is allowed. Escapes: \" \\ \/ \b \f \n \r \t and
 *     \uXXXX (hex in either case). A \u escape of a high surrogate
 *     (D800..DBFF) must be followed immediately by a \u escape of a low
 *     one (DC00..DFFF); a lone or reversed surrogate escape is refused.
 *     \u0000 is allowed in values (JSON_ALLOW_NUL) but refused in object
 *     keys ("NUL byte in object key not supported").
 *   - Literals: exactly true, false, null; jansson reads a whole run of
 *     ASCII letters as one word, so "truex" is refused.
 *   - Numbers: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? ; no '+',
 *     no leading zeros, no bare '.', no NaN/Infinity. Without '.' or an
 *     exponent it is an integer and must fit json_int_t (int64: -2^63 ..
 *     2^63-1; "-0" is fine). Otherwise it is a real, refused only when
 *     strtod overflows to +-HUGE_VAL (1e400, 1.7976931348623159e308);
 *     underflow (1e-400, 5e-325) is accepted (as 0 or a subnormal), and
 *     so is 0e99999999999999999999.
 *   - Nesting: every value, scalars included, sits at a depth of the
 *     number of containers around it plus one, which must not exceed
 *     JSON_PARSER_MAX_DEPTH (2048): 2048 nested containers are fine when
 *     the innermost is empty, a scalar or container inside the 2048th is
 *     refused.
 *   - Objects: no trailing commas, keys are strings; duplicate keys are
 *     accepted (jansson keeps the last).
 *   - A quirk of jansson's lexer (stream_unget cannot push back a NUL): a
 *     single NUL byte directly after a number or a true/false/null
 *     literal is skipped, so {"a":1<NUL>} loads as {"a":1}. Two NULs, or
 *     a NUL anywhere else outside a string, are refused. The scanner
 *     reproduces this: accepting is what jansson does.
 *
 * A real whose magnitude is in [1e308, 1e309) is decided with strtod on
 * a bounded copy of its significant digits (see json_scan.c): exactly,
 * however many digits it has.
 *
 * has_raw_newline: set on FG_JSON_SCAN_OBJECT when the input has a '\n'
 * or '\r' byte (in valid JSON these can only be whitespace between
 * tokens: inside strings they are refused).
 *
 * Threading: any thread; no shared state (the stack is on the caller's).
 * Ownership: reads @p p only; nothing is kept.
 */
#ifndef FG_JSON_SCAN_H
#define FG_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* jansson's JSON_PARSER_MAX_DEPTH (jansson_private.h, not installed). */
#define FG_JSON_SCAN_MAX_DEPTH 2048
/* Significant digits of a near-DBL_MAX real the scanner decides itself. */
#define FG_JSON_SCAN_MAX_DIGITS 800

typedef enum fg_json_scan {
        FG_JSON_SCAN_INVALID = 0, /* jansson refuses it, or it is not an object */
        FG_JSON_SCAN_OBJECT,      /* jansson loads it, as an object */
} fg_json_scan_t;

typedef struct fg_json_check {
        bool has_raw_newline; /* on OBJECT: a '\n' or '\r' between tokens */
        size_t pos;           /* where the scan stopped (diagnostics): on
                               * INVALID the offset of the refused byte, or
                               * n when the input ended too early */
} fg_json_check_t;

/* Where each container of an accepted object ends, numbered in the order
 * their brackets open (the top-level object is 0), and where the top-level
 * object's members are: what the handler's shaper needs to step over a
 * nested value without scanning it again, and the filter to find a field
 * without walking to it. The caller provides the arrays; the scan fills
 * what fits and counts the rest. */
typedef struct fg_json_tape {
        uint32_t *end;   /* [i]: offset just past container i's closing bracket */
        uint32_t *inner; /* [i]: containers inside container i, at any depth */
        size_t cap;      /* entries end[] and inner[] have room for */
        size_t n;        /* out: containers in the input; past cap nothing
                          * was written: grow to n and scan again */
        size_t keys;     /* out: object members in the input, at any depth */
        /* 3 per top-level member, in order: the offset of its key's first
         * byte, of the key's closing quote (bit 31 set when the key has
         * escapes), of its value. */
        uint32_t *top;
        size_t top_cap;  /* members top has room for */
        size_t ntop;     /* out: top-level members (past top_cap: as n) */
        /* out: the object is already what jansson's compact writer would
         * make of it, but for repeated keys: no whitespace inside it (nor
         * the NUL jansson skips), only escapes it would write the same
         * (\" \\ \b \f \n \r \t, \u00XX for other control bytes, upper
         * case), no -0, and reals only as it prints them — as far as the
         * scanner can tell from the digits: a real with an exponent or more
         * than 15 significant digits makes it false even when it would
         * print the same. */
        bool clean;
} fg_json_tape_t;

/* Any thread. @p p may be NULL when @p n is 0; @p out may be NULL. */
fg_json_scan_t fg_json_check_object(const void *p, size_t n, fg_json_check_t *out);
/* The same, also filling @p tape (valid on FG_JSON_SCAN_OBJECT only).
 * Offsets are 31-bit: @p n must be below 2 GiB. Any thread. */
fg_json_scan_t fg_json_check_object_tape(const void *p, size_t n, fg_json_check_t *out,
                                         fg_json_tape_t *tape);
/* True when jansson (JSON_DECODE_ANY | JSON_ALLOW_NUL) loads @p p as a
 * value of any type: the test of raw mode's json_array framing and of
 * "valid JSON, but not an object". Any thread. */
bool fg_json_is_value(const void *p, size_t n);

#endif
