/*
 * filter: compile and match one event filter (see filter.h), plus the
 * dotted paths it shares with the handler's drop list.
 *
 * DESIGN
 * Compilation does every per-config step up front: the path is split into
 * (pointer, length) segments; with case_insensitive the equals text is
 * stored ASCII-folded; an equals text that is a JSON number is parsed
 * once; contains_any becomes an Aho-Corasick DFA (ac.h).
 *
 * Matching walks the payload's bytes with json_walk.h: at each level of
 * the path it reads every member of the object (the last key of a name
 * counts, as in jansson), stepping over values it does not need, then
 * reads only the value the path leads to. A string is compared or fed to
 * the automaton in place; only escapes are decoded, one at a time, on
 * the stack. A number is converted only when equals compares numbers.
 *
 * Threading: compile/free on one thread; matching on any (read-only).
 * Ownership: the filter owns its copies of the config strings.
 */
#include "handler/filter.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handler/ac.h"
#include "handler/handler_int.h"
#include "handler/json_walk.h"

typedef enum kind {
        KIND_NONE = 0,
        KIND_EQUALS,
        KIND_EXISTS,
        KIND_CONTAINS,
} kind_t;

struct fg_filter {
        kind_t kind;
        bool raw;
        bool ci;                /* ASCII case folding; equals stored folded */
        fg_hpath_t field;       /* json only */
        char *equals;
        size_t equals_len;
        bool equals_is_num;     /* equals is a JSON number: numbers compare by value */
        bool equals_is_int;     /* ... an integer literal that fits int64 */
        long long equals_int;
        double equals_real;
        fg_ac_t *ac;            /* contains_any */
};

static inline uint8_t fold(uint8_t c) {
        return (uint8_t)(c - 'A') < 26 ? (uint8_t)(c | 0x20) : c;
}

/* ---- dotted paths ---- */

/* Any thread (pure). */
int fg_hpath_compile(fg_hpath_t *path, const char *what, const char *text, char *errstr,
                     size_t errstr_size) {
        size_t n = 1, i = 0;
        char *p;

        memset(path, 0, sizeof(*path));
        if (!text || !*text) {
                fg_handler_seterr(errstr, errstr_size, "%s: empty path", what);
                return -1;
        }
        for (const char *c = text; *c; c++)
                n += *c == '.';
        path->buf = strdup(text);
        path->seg = calloc(n, sizeof(*path->seg));
        if (!path->buf || !path->seg) {
                fg_handler_seterr(errstr, errstr_size, "%s: out of memory", what);
                goto out;
        }
        p = path->buf;
        for (i = 0; i < n; i++) {
                char *dot = strchr(p, '.');

                if (dot)
                        *dot = '\0';
                path->seg[i].s = p;
                path->seg[i].len = strlen(p);
                if (!path->seg[i].len) {
                        fg_handler_seterr(errstr, errstr_size,
                                          "%s '%s': empty segment in dotted path", what, text);
                        goto out;
                }
                p = dot ? dot + 1 : p + path->seg[i].len;
        }
        path->n = n;
        return 0;

out:
        fg_hpath_free(path);
        return -1;
}

/* Any thread. */
void fg_hpath_free(fg_hpath_t *path) {
        free(path->buf);
        free(path->seg);
        memset(path, 0, sizeof(*path));
}

/* ---- compile ---- */

/* True when @p s is exactly a JSON number (RFC 8259 grammar, no
 * surrounding space); sets its value as a double and, for an integer
 * literal within int64, as an integer. Overflowing reals are not numbers
 * (payloads cannot hold them either). */
static bool parse_number(const char *s, bool *is_int, long long *iv, double *rv) {
        const char *p = s;
        bool integer = true;
        char *end;

#define DIGIT(c) ((unsigned char)((c) - '0') < 10)
        if (*p == '-')
                p++;
        if (*p == '0')
                p++;
        else if (DIGIT(*p))
                while (DIGIT(*p))
                        p++;
        else
                return false;
        if (*p == '.') {
                p++;
                if (!DIGIT(*p))
                        return false;
                while (DIGIT(*p))
                        p++;
                integer = false;
        }
        if (*p == 'e' || *p == 'E') {
                p++;
                if (*p == '+' || *p == '-')
                        p++;
                if (!DIGIT(*p))
                        return false;
                while (DIGIT(*p))
                        p++;
                integer = false;
        }
#undef DIGIT
        if (*p)
                return false;
        *rv = fg_jw_strtod((const uint8_t *)s);
        if (isinf(*rv))
                return false;
        *is_int = false;
        if (integer) {
                long long v;

                errno = 0;
                v = strtoll(s, &end, 10);
                if (!*end && errno != ERANGE) {
                        *is_int = true;
                        *iv = v;
                }
        }
        return true;
}

/* Any thread (pure). */
fg_filter_t *fg_filter_new(const fg_filter_cfg_t *fc, bool raw, const char *what, char *errstr,
                           size_t errstr_size) {
        fg_filter_t *f = calloc(1, sizeof(*f));
        const fg_strlist_t *any = &fc->contains_any;
        int kinds = (fc->equals != NULL) + (fc->exists ? 1 : 0) + (any->n > 0);
        char name[128];

        if (!f) {
                fg_handler_seterr(errstr, errstr_size, "%s: out of memory", what);
                return NULL;
        }
        f->raw = raw;
        f->ci = fc->case_insensitive;
        if (kinds > 1) {
                fg_handler_seterr(errstr, errstr_size,
                                  "%s takes one of equals, exists, contains_any", what);
                goto out;
        }
        if (raw && (fc->field || fc->equals || fc->exists)) {
                fg_handler_seterr(errstr, errstr_size,
                                  "%s: raw payloads are filtered only with contains_any over the "
                                  "whole payload (no field, equals or exists)",
                                  what);
                goto out;
        }
        if (!raw && kinds && !fc->field) {
                fg_handler_seterr(errstr, errstr_size, "%s needs field", what);
                goto out;
        }
        if (!raw && fc->field && !kinds) {
                fg_handler_seterr(errstr, errstr_size,
                                  "%s.field needs equals, exists or contains_any", what);
                goto out;
        }
        snprintf(name, sizeof(name), "%s.field", what);
        if (!raw && fc->field &&
            fg_hpath_compile(&f->field, name, fc->field, errstr, errstr_size) < 0)
                goto out;

        if (fc->equals) {
                f->kind = KIND_EQUALS;
                f->equals_len = strlen(fc->equals);
                f->equals = malloc(f->equals_len + 1);
                if (!f->equals) {
                        fg_handler_seterr(errstr, errstr_size, "%s: out of memory", what);
                        goto out;
                }
                for (size_t i = 0; i <= f->equals_len; i++)
                        f->equals[i] = f->ci ? (char)fold((uint8_t)fc->equals[i]) : fc->equals[i];
                f->equals_is_num =
                    parse_number(fc->equals, &f->equals_is_int, &f->equals_int, &f->equals_real);
        } else if (fc->exists) {
                f->kind = KIND_EXISTS;
        } else if (any->n) {
                size_t *len = calloc(any->n, sizeof(*len));
                char acerr[128];

                if (!len) {
                        fg_handler_seterr(errstr, errstr_size, "%s: out of memory", what);
                        goto out;
                }
                for (size_t i = 0; i < any->n; i++) {
                        len[i] = any->v[i] ? strlen(any->v[i]) : 0;
                        if (!len[i]) {
                                free(len);
                                fg_handler_seterr(errstr, errstr_size,
                                                  "%s.contains_any: keywords must not be empty",
                                                  what);
                                goto out;
                        }
                }
                f->kind = KIND_CONTAINS;
                f->ac = fg_ac_new((const char *const *)any->v, len, any->n, f->ci, acerr,
                                  sizeof(acerr));
                free(len);
                if (!f->ac) {
                        fg_handler_seterr(errstr, errstr_size, "%s.contains_any: %s", what, acerr);
                        goto out;
                }
        }
        return f;

out:
        fg_filter_destroy(f);
        return NULL;
}

/* Any thread, once no one matches with it. */
void fg_filter_destroy(fg_filter_t *f) {
        if (!f)
                return;
        fg_hpath_free(&f->field);
        free(f->equals);
        fg_ac_destroy(f->ac);
        free(f);
}

/* Any thread. */
bool fg_filter_is_none(const fg_filter_t *f) {
        return f->kind == KIND_NONE;
}

/* ---- match ---- */

/* The value the path leads to in the object at @p p, or NULL; from
 * segment @p from on (the ones before led to @p p). */
static const uint8_t *lookup(const fg_hpath_t *path, size_t from, const uint8_t *p,
                             const uint8_t *end) {
        const uint8_t *obj = fg_jw_ws(p);

        for (size_t i = from; i < path->n; i++) {
                const fg_hstr_t *seg = &path->seg[i];
                const uint8_t *found = NULL, *q;

                if (*obj != '{')
                        return NULL;
                q = fg_jw_ws(obj + 1);
                while (*q == '"') {
                        bool esc = false;
                        const uint8_t *ke = fg_jw_str_end(q + 1, end, &esc);
                        const uint8_t *v = fg_jw_ws(fg_jw_ws(ke + 1) + 1);

                        const uint8_t *e = fg_jw_skip_flat(v, end);

                        if (fg_jw_str_eq(q + 1, ke, esc, seg->s, seg->len))
                                found = v; /* a later duplicate replaces it */
                        q = fg_jw_ws(e ? e : fg_jw_skip(v, end));
                        if (*q == ',')
                                q = fg_jw_ws(q + 1);
                }
                if (!found)
                        return NULL;
                obj = found;
        }
        return obj;
}

static bool text_equals(const fg_filter_t *f, const uint8_t *s, size_t n) {
        if (n != f->equals_len)
                return false;
        if (!f->ci)
                return memcmp(s, f->equals, n) == 0;
        for (size_t i = 0; i < n; i++)
                if (fold(s[i]) != (uint8_t)f->equals[i])
                        return false;
        return true;
}

/* The string [p, q) (between its quotes) against the equals text. */
static bool string_equals(const fg_filter_t *f, const uint8_t *p, const uint8_t *q, bool esc) {
        fg_jw_iter_t it = {p, q, {0}};
        const uint8_t *piece;
        size_t k, at = 0;

        if (!esc)
                return text_equals(f, p, (size_t)(q - p));
        while (fg_jw_next(&it, &piece, &k)) {
                if (at + k > f->equals_len)
                        return false;
                for (size_t i = 0; i < k; i++)
                        if ((f->ci ? fold(piece[i]) : piece[i]) != (uint8_t)f->equals[at + i])
                                return false;
                at += k;
        }
        return at == f->equals_len;
}

static bool number_equals(const fg_filter_t *f, const uint8_t *p) {
        const uint8_t *e = p;
        bool neg = *p == '-', integer = true;
        unsigned long long u = 0;

        if (!f->equals_is_num)
                return false;
        while (fg_jw_scalar_byte(*e)) {
                integer &= *e != '.' && (*e | 0x20) != 'e';
                e++;
        }
        if (!integer)
                return fg_jw_strtod(p) == f->equals_real;
        /* The scanner let through only integers that fit int64. */
        for (const uint8_t *d = p + neg; d < e; d++)
                u = u * 10 + (unsigned)(*d - '0');
        if (f->equals_is_int)
                return (neg ? (long long)(0ULL - u) : (long long)u) == f->equals_int;
        return (neg ? -(double)u : (double)u) == f->equals_real;
}

static bool value_equals(const fg_filter_t *f, const uint8_t *v, const uint8_t *end) {
        bool esc = false;

        switch (*v) {
        case '"':
                return string_equals(f, v + 1, fg_jw_str_end(v + 1, end, &esc), esc);
        case 't':
                return text_equals(f, (const uint8_t *)"true", 4);
        case 'f':
                return text_equals(f, (const uint8_t *)"false", 5);
        case 'n':
        case '{':
        case '[':
                return false;
        default:
                return number_equals(f, v);
        }
}

/* Does the string whose opening quote is at @p v contain a keyword?
 * *@p after: just past its closing quote. */
static bool string_contains(const fg_filter_t *f, const uint8_t *v, const uint8_t *end,
                            const uint8_t **after) {
        bool esc = false;
        const uint8_t *q = fg_jw_str_end(v + 1, end, &esc), *piece;
        fg_jw_iter_t it = {v + 1, q, {0}};
        uint32_t state = FG_AC_START;
        size_t k;

        *after = q + 1;
        if (!esc)
                return fg_ac_find(f->ac, v + 1, (size_t)(q - v - 1));
        while (fg_jw_next(&it, &piece, &k))
                if (fg_ac_feed(f->ac, &state, piece, k))
                        return true;
        return false;
}

static bool value_contains(const fg_filter_t *f, const uint8_t *v, const uint8_t *end) {
        const uint8_t *q;

        if (*v == '"')
                return string_contains(f, v, end, &q);
        if (*v != '[')
                return false;
        q = fg_jw_ws(v + 1);
        while (*q != ']') {
                if (*q == '"') {
                        if (string_contains(f, q, end, &q))
                                return true;
                } else {
                        q = fg_jw_skip(q, end);
                }
                q = fg_jw_ws(q);
                if (*q == ',')
                        q = fg_jw_ws(q + 1);
        }
        return false;
}

/* The test of the value @p v the path led to. */
static bool match_value(const fg_filter_t *f, const uint8_t *v, const uint8_t *end) {
        switch (f->kind) {
        case KIND_EQUALS:
                return value_equals(f, v, end);
        case KIND_CONTAINS:
                return value_contains(f, v, end);
        default:
                return true;
        }
}

/* Any thread. */
bool fg_filter_match(const fg_filter_t *f, const void *data, size_t n) {
        const uint8_t *p = data, *end = p + n, *v;

        if (f->kind == KIND_NONE)
                return true;
        if (f->raw)
                return fg_ac_find(f->ac, p, n);
        v = lookup(&f->field, 0, p, end);
        return v && match_value(f, v, end);
}

/* Any thread. */
bool fg_filter_match_tape(const fg_filter_t *f, const void *data, size_t n,
                          const fg_json_tape_t *tape) {
        const uint8_t *p = data, *end = p + n, *v = NULL;
        const fg_hstr_t *seg;

        if (f->kind == KIND_NONE)
                return true;
        seg = &f->field.seg[0];
        /* The last member of that name counts: look from the end. */
        for (size_t i = tape->ntop; i-- > 0;) {
                const uint32_t *e = tape->top + 3 * i;
                bool esc = e[1] >> 31;
                const uint8_t *k = p + e[0], *ke = p + (e[1] & 0x7fffffff);

                if ((esc || (size_t)(ke - k) == seg->len) &&
                    fg_jw_str_eq(k, ke, esc, seg->s, seg->len)) {
                        v = p + e[2];
                        break;
                }
        }
        if (v && f->field.n > 1)
                v = lookup(&f->field, 1, v, end);
        return v && match_value(f, v, end);
}
