/*
 * handler_filter: dotted paths and the event filter (handler.filter.* in
 * the config) — compiled once, matched per event (see handler.h for the
 * semantics, handler.c for where it runs).
 *
 * DESIGN
 * Compilation does every per-config step up front: paths are split into
 * (pointer, length) segments looked up with json_object_getn; with
 * case_insensitive the equals text and the keywords are stored ASCII-folded;
 * an equals text that is a JSON number is parsed once.
 *
 * Matching never relies on NUL termination: JSON strings are compared by
 * json_string_length (JSON_ALLOW_NUL lets \u0000 into them) and raw
 * payloads are searched with memmem. A case-insensitive search folds the
 * haystack into the ctx's scratch buffer once and then runs memmem per
 * keyword: linear, and memmem stays the vectorised glibc one.
 *
 * equals: a string field matches when its bytes equal the text (folded
 * with case_insensitive); true/false when the text is "true"/"false"; a
 * number when the text is a JSON number of the same value (so "42" matches
 * 42 and 42.0, "0.1" matches 0.1 — comparing printed forms would make
 * reals depend on how they happen to be formatted). null, objects and
 * arrays never equal anything; use exists for null.
 *
 * Threading: compile/free on the thread creating the handler; matching on
 * any thread, with a ctx owned by that thread (the filter is read-only).
 * Ownership: the filter owns its copies of the config strings.
 */
#include "handler/handler_int.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static inline unsigned char fold(unsigned char c) {
        return (unsigned char)(c - 'A') < 26 ? (unsigned char)(c | 0x20) : c;
}

/* A copy of @p s (@p n bytes), folded when @p ci; NUL-terminated. */
static char *copy_folded(const char *s, size_t n, bool ci) {
        char *d = malloc(n + 1);

        if (!d)
                return NULL;
        for (size_t i = 0; i < n; i++)
                d[i] = ci ? (char)fold((unsigned char)s[i]) : s[i];
        d[n] = '\0';
        return d;
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
                goto init_error;
        }
        p = path->buf;
        for (i = 0; i < n; i++) {
                char *dot = strchr(p, '.');

                if (dot)
                        *dot = '\0';
                path->seg[i].s = p;
                path->seg[i].len = strlen(p);
                if (!path->seg[i].len) {
                        fg_handler_seterr(errstr, errstr_size, "%s '%s': empty segment in dotted path",
                               what, text);
                        goto init_error;
                }
                p = dot ? dot + 1 : p + path->seg[i].len;
        }
        path->n = n;
        return 0;

init_error:
        fg_hpath_free(path);
        return -1;
}

/* Any thread. */
void fg_hpath_free(fg_hpath_t *path) {
        free(path->buf);
        free(path->seg);
        memset(path, 0, sizeof(*path));
}

/* Any thread; @p root belongs to the caller's thread. */
json_t *fg_hpath_get(const fg_hpath_t *path, json_t *root) {
        json_t *cur = root;

        for (size_t i = 0; i < path->n && cur; i++) {
                if (!json_is_object(cur))
                        return NULL;
                cur = json_object_getn(cur, path->seg[i].s, path->seg[i].len);
        }
        return cur;
}

/* ---- compile ---- */

/* True when @p s is exactly a JSON number (RFC 8259 grammar, no
 * surrounding space); sets its value as a double and, for an integer
 * literal within json_int_t, as an integer. Overflowing reals are not
 * numbers (jansson rejects them in payloads anyway). */
static bool parse_number(const char *s, bool *is_int, json_int_t *iv, double *rv) {
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
        errno = 0;
        *rv = strtod(s, &end);
        if (*end || (errno == ERANGE && isinf(*rv)))
                return false;
        *is_int = false;
        if (integer) {
                long long v;

                errno = 0;
                v = strtoll(s, &end, 10);
                if (!*end && errno != ERANGE) {
                        *is_int = true;
                        *iv = (json_int_t)v;
                }
        }
        return true;
}

/* Any thread (pure). Mirrors the loader's checks so a hand-built config
 * fails here rather than misbehaving. */
int fg_hfilter_compile(fg_hfilter_t *f, fg_handler_mode_t mode, const fg_filter_cfg_t *fc,
                       char *errstr, size_t errstr_size) {
        const char *equals = fc->equals;
        const fg_strlist_t *any = &fc->contains_any;
        const char *field = fc->field;
        int kinds = (equals != NULL) + (fc->exists ? 1 : 0) + (any->n > 0);

        f->ci = fc->case_insensitive;
        if (kinds > 1) {
                fg_handler_seterr(errstr, errstr_size,
                       "handler.filter takes one of equals, exists, contains_any");
                return -1;
        }
        if (mode == FG_HANDLER_RAW) {
                if (field || equals || fc->exists) {
                        fg_handler_seterr(errstr, errstr_size,
                               "handler.mode 'raw' filters only with contains_any over the "
                               "whole payload (no field, equals or exists)");
                        return -1;
                }
        } else {
                if (kinds && !field) {
                        fg_handler_seterr(errstr, errstr_size, "handler.filter needs field");
                        return -1;
                }
                if (field && !kinds) {
                        fg_handler_seterr(errstr, errstr_size,
                               "handler.filter.field needs equals, exists or contains_any");
                        return -1;
                }
                if (field && fg_hpath_compile(&f->field, "handler.filter.field", field, errstr,
                                              errstr_size) < 0)
                        return -1;
        }

        if (equals) {
                f->kind = FG_HFILTER_EQUALS;
                f->equals_len = strlen(equals);
                f->equals = copy_folded(equals, f->equals_len, f->ci);
                if (!f->equals)
                        goto oom;
                f->equals_is_num =
                    parse_number(equals, &f->equals_is_int, &f->equals_int, &f->equals_real);
        } else if (fc->exists) {
                f->kind = FG_HFILTER_EXISTS;
        } else if (any->n) {
                f->kind = FG_HFILTER_CONTAINS;
                f->kw = calloc(any->n, sizeof(*f->kw));
                if (!f->kw)
                        goto oom;
                for (size_t i = 0; i < any->n; i++) {
                        size_t len = any->v[i] ? strlen(any->v[i]) : 0;

                        if (!len) {
                                fg_handler_seterr(errstr, errstr_size,
                                       "handler.filter.contains_any: keywords must not be empty");
                                return -1;
                        }
                        f->kw[i].s = copy_folded(any->v[i], len, f->ci);
                        if (!f->kw[i].s)
                                goto oom;
                        f->kw[i].len = len;
                        f->nkw++;
                }
        }
        return 0;

oom:
        fg_handler_seterr(errstr, errstr_size, "handler.filter: out of memory");
        return -1;
}

/* Any thread. */
void fg_hfilter_free(fg_hfilter_t *f) {
        fg_hpath_free(&f->field);
        free(f->equals);
        for (size_t i = 0; i < f->nkw; i++)
                free((char *)f->kw[i].s);
        free(f->kw);
        memset(f, 0, sizeof(*f));
}

/* ---- match ---- */

static bool contains_any(const fg_hfilter_t *f, struct fg_handler_ctx *ctx, const char *p,
                         size_t n) {
        if (f->ci && n) {
                fg_buf_t *b = fg_handler_ctx_fold_buf(ctx);

                fg_buf_reset(b);
                fg_buf_reserve(b, n);
                for (size_t i = 0; i < n; i++)
                        b->p[i] = (char)fold((unsigned char)p[i]);
                p = b->p;
        }
        for (size_t i = 0; i < f->nkw; i++)
                if (f->kw[i].len <= n && memmem(p, n, f->kw[i].s, f->kw[i].len))
                        return true;
        return false;
}

static bool text_equals(const fg_hfilter_t *f, const char *s, size_t n) {
        if (n != f->equals_len)
                return false;
        if (!f->ci)
                return memcmp(s, f->equals, n) == 0;
        for (size_t i = 0; i < n; i++)
                if (fold((unsigned char)s[i]) != (unsigned char)f->equals[i])
                        return false;
        return true;
}

static bool equals_match(const fg_hfilter_t *f, const json_t *v) {
        switch (json_typeof(v)) {
        case JSON_STRING:
                return text_equals(f, json_string_value(v), json_string_length(v));
        case JSON_INTEGER:
                if (!f->equals_is_num)
                        return false;
                if (f->equals_is_int)
                        return json_integer_value(v) == f->equals_int;
                return (double)json_integer_value(v) == f->equals_real;
        case JSON_REAL:
                return f->equals_is_num && json_real_value(v) == f->equals_real;
        case JSON_TRUE:
                return text_equals(f, "true", 4);
        case JSON_FALSE:
                return text_equals(f, "false", 5);
        default:
                return false;
        }
}

/* The thread owning @p ctx. */
bool fg_hfilter_match_json(const fg_hfilter_t *f, struct fg_handler_ctx *ctx, json_t *root) {
        json_t *v;

        if (f->kind == FG_HFILTER_NONE)
                return true;
        v = fg_hpath_get(&f->field, root);
        if (!v)
                return false;
        switch (f->kind) {
        case FG_HFILTER_EXISTS:
                return true;
        case FG_HFILTER_EQUALS:
                return equals_match(f, v);
        case FG_HFILTER_CONTAINS:
                if (json_is_string(v))
                        return contains_any(f, ctx, json_string_value(v), json_string_length(v));
                if (json_is_array(v)) {
                        size_t i;
                        json_t *el;

                        json_array_foreach(v, i, el) {
                                if (json_is_string(el) &&
                                    contains_any(f, ctx, json_string_value(el),
                                                 json_string_length(el)))
                                        return true;
                        }
                }
                return false;
        default:
                return true;
        }
}

/* The thread owning @p ctx. */
bool fg_hfilter_match_raw(const fg_hfilter_t *f, struct fg_handler_ctx *ctx, const void *p,
                          size_t n) {
        if (f->kind != FG_HFILTER_CONTAINS)
                return true;
        return contains_any(f, ctx, p, n);
}
