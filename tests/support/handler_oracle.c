/*
 * handler_oracle: the jansson-DOM handler of before issue 17, verbatim in
 * behaviour (see handler_oracle.h). Its code is the old handler.c and
 * handler_filter.c with the scanner fast path and the arena taken out:
 * every json payload is loaded with json_loadb, filtered on the DOM,
 * shaped by deleting members, and written by the compact writer.
 */
#include "tests/support/handler_oracle.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/utf8.h"

#define REASON_MAX 120

typedef struct ostr {
        char *s;
        size_t len;
} ostr_t;

typedef struct opath {
        ostr_t *seg;
        size_t n;
} opath_t;

struct fg_oracle {
        fg_handler_mode_t mode;
        int kind; /* 0 none, 1 equals, 2 exists, 3 contains */
        bool ci;
        opath_t field;
        char *equals;
        size_t equals_len;
        bool equals_is_num, equals_is_int;
        json_int_t equals_int;
        double equals_real;
        ostr_t *kw;
        size_t nkw;
        opath_t *drop;
        size_t ndrop;
        ostr_t *keep;
        size_t nkeep;
        bool add_metadata;
        char *metadata_field;
        bool shaping, passthrough;
};

static unsigned char fold(unsigned char c) {
        return (unsigned char)(c - 'A') < 26 ? (unsigned char)(c | 0x20) : c;
}

static char *dup_folded(const char *s, size_t n, bool ci) {
        char *d = malloc(n + 1);

        for (size_t i = 0; i < n; i++)
                d[i] = ci ? (char)fold((unsigned char)s[i]) : s[i];
        d[n] = '\0';
        return d;
}

static int path_split(opath_t *p, const char *text) {
        size_t n = 1;
        const char *c = text;

        for (const char *q = text; *q; q++)
                n += *q == '.';
        p->seg = calloc(n, sizeof(*p->seg));
        p->n = n;
        for (size_t i = 0; i < n; i++) {
                const char *dot = strchr(c, '.');
                size_t len = dot ? (size_t)(dot - c) : strlen(c);

                if (!len)
                        return -1;
                p->seg[i].s = dup_folded(c, len, false);
                p->seg[i].len = len;
                c += len + 1;
        }
        return 0;
}

static void path_free(opath_t *p) {
        for (size_t i = 0; i < p->n; i++)
                free(p->seg[i].s);
        free(p->seg);
}

static json_t *path_get(const opath_t *p, json_t *root) {
        json_t *cur = root;

        for (size_t i = 0; i < p->n && cur; i++) {
                if (!json_is_object(cur))
                        return NULL;
                cur = json_object_getn(cur, p->seg[i].s, p->seg[i].len);
        }
        return cur;
}

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

static int keep_cmp(const void *a, const void *b) {
        const ostr_t *x = a, *y = b;

        if (x->len != y->len)
                return x->len < y->len ? -1 : 1;
        return memcmp(x->s, y->s, x->len);
}

fg_oracle_t *fg_oracle_new(const fg_handler_cfg_t *hc, char *errstr, size_t errstr_size) {
        fg_oracle_t *o = calloc(1, sizeof(*o));
        const fg_filter_cfg_t *fc = &hc->filter;

        o->mode = hc->mode;
        o->ci = fc->case_insensitive;
        if (fc->field && o->mode == FG_HANDLER_JSON && path_split(&o->field, fc->field) < 0)
                goto bad;
        if (fc->equals) {
                o->kind = 1;
                o->equals_len = strlen(fc->equals);
                o->equals = dup_folded(fc->equals, o->equals_len, o->ci);
                o->equals_is_num = parse_number(fc->equals, &o->equals_is_int, &o->equals_int,
                                                &o->equals_real);
        } else if (fc->exists) {
                o->kind = 2;
        } else if (fc->contains_any.n) {
                o->kind = 3;
                o->kw = calloc(fc->contains_any.n, sizeof(*o->kw));
                for (; o->nkw < fc->contains_any.n; o->nkw++) {
                        o->kw[o->nkw].len = strlen(fc->contains_any.v[o->nkw]);
                        o->kw[o->nkw].s =
                            dup_folded(fc->contains_any.v[o->nkw], o->kw[o->nkw].len, o->ci);
                }
        }
        o->drop = calloc(hc->drop.n + 1, sizeof(*o->drop));
        for (; o->ndrop < hc->drop.n; o->ndrop++)
                if (path_split(&o->drop[o->ndrop], hc->drop.v[o->ndrop]) < 0) {
                        o->ndrop++;
                        goto bad;
                }
        o->keep = calloc(hc->keep.n + 1, sizeof(*o->keep));
        for (; o->nkeep < hc->keep.n; o->nkeep++) {
                o->keep[o->nkeep].len = strlen(hc->keep.v[o->nkeep]);
                o->keep[o->nkeep].s = dup_folded(hc->keep.v[o->nkeep], o->keep[o->nkeep].len, false);
        }
        qsort(o->keep, o->nkeep, sizeof(*o->keep), keep_cmp);
        o->add_metadata = hc->add_metadata;
        if (o->add_metadata)
                o->metadata_field = dup_folded(hc->metadata_field, strlen(hc->metadata_field), false);
        o->shaping = o->add_metadata || o->nkeep || o->ndrop;
        o->passthrough = o->kind == 0 && !o->shaping;
        return o;
bad:
        snprintf(errstr, errstr_size, "oracle: bad path");
        fg_oracle_destroy(o);
        return NULL;
}

void fg_oracle_destroy(fg_oracle_t *o) {
        if (!o)
                return;
        path_free(&o->field);
        free(o->equals);
        for (size_t i = 0; i < o->nkw; i++)
                free(o->kw[i].s);
        free(o->kw);
        for (size_t i = 0; i < o->ndrop; i++)
                path_free(&o->drop[i]);
        free(o->drop);
        for (size_t i = 0; i < o->nkeep; i++)
                free(o->keep[i].s);
        free(o->keep);
        free(o->metadata_field);
        free(o);
}

/* ---- the filter (old handler_filter.c) ---- */

static bool contains_any(const fg_oracle_t *o, const char *p, size_t n) {
        char *folded = NULL;
        bool hit = false;

        if (o->ci && n) {
                folded = dup_folded(p, n, true);
                p = folded;
        }
        for (size_t i = 0; i < o->nkw && !hit; i++)
                hit = o->kw[i].len <= n && memmem(p, n, o->kw[i].s, o->kw[i].len);
        free(folded);
        return hit;
}

static bool text_equals(const fg_oracle_t *o, const char *s, size_t n) {
        if (n != o->equals_len)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((o->ci ? fold((unsigned char)s[i]) : (unsigned char)s[i]) !=
                    (unsigned char)o->equals[i])
                        return false;
        return true;
}

static bool equals_match(const fg_oracle_t *o, const json_t *v) {
        switch (json_typeof(v)) {
        case JSON_STRING:
                return text_equals(o, json_string_value(v), json_string_length(v));
        case JSON_INTEGER:
                if (!o->equals_is_num)
                        return false;
                if (o->equals_is_int)
                        return json_integer_value(v) == o->equals_int;
                return (double)json_integer_value(v) == o->equals_real;
        case JSON_REAL:
                return o->equals_is_num && json_real_value(v) == o->equals_real;
        case JSON_TRUE:
                return text_equals(o, "true", 4);
        case JSON_FALSE:
                return text_equals(o, "false", 5);
        default:
                return false;
        }
}

static bool match_json(const fg_oracle_t *o, json_t *root) {
        json_t *v, *el;
        size_t i;

        if (o->kind == 0)
                return true;
        v = path_get(&o->field, root);
        if (!v)
                return false;
        if (o->kind == 2)
                return true;
        if (o->kind == 1)
                return equals_match(o, v);
        if (json_is_string(v))
                return contains_any(o, json_string_value(v), json_string_length(v));
        if (json_is_array(v))
                json_array_foreach(v, i, el) {
                        if (json_is_string(el) &&
                            contains_any(o, json_string_value(el), json_string_length(el)))
                                return true;
                }
        return false;
}

/* ---- the compact writer (old handler.c) ---- */

static void emit_str(fg_buf_t *b, const char *s, size_t n) {
        static const char hex[] = "0123456789ABCDEF";
        size_t start = 0;

        fg_buf_putc(b, '"');
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

static void emit_real(fg_buf_t *b, double d) {
        char tmp[40];
        int n = 0;

        for (int prec = 15; prec <= 17; prec++) {
                n = snprintf(tmp, sizeof(tmp) - 2, "%.*g", prec, d);
                if (prec == 17 || strtod(tmp, NULL) == d)
                        break;
        }
        for (int i = 0; i < n; i++)
                if (tmp[i] == ',')
                        tmp[i] = '.';
        if (!memchr(tmp, '.', (size_t)n) && !memchr(tmp, 'e', (size_t)n)) {
                memcpy(tmp + n, ".0", 2);
                n += 2;
        }
        fg_buf_append(b, tmp, (size_t)n);
}

static void emit_value(fg_buf_t *b, json_t *v);

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

static void emit_value(fg_buf_t *b, json_t *v) {
        size_t i;
        json_t *el;
        bool first = true;

        switch (json_typeof(v)) {
        case JSON_OBJECT:
                fg_buf_putc(b, '{');
                emit_members(b, v, &first);
                fg_buf_putc(b, '}');
                break;
        case JSON_ARRAY:
                fg_buf_putc(b, '[');
                json_array_foreach(v, i, el) {
                        if (i)
                                fg_buf_putc(b, ',');
                        emit_value(b, el);
                }
                fg_buf_putc(b, ']');
                break;
        case JSON_STRING:
                emit_str(b, json_string_value(v), json_string_length(v));
                break;
        case JSON_INTEGER:
                fg_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                break;
        case JSON_REAL:
                emit_real(b, json_real_value(v));
                break;
        case JSON_TRUE: fg_buf_append(b, "true", 4); break;
        case JSON_FALSE: fg_buf_append(b, "false", 5); break;
        case JSON_NULL: fg_buf_append(b, "null", 4); break;
        }
}

static void emit_event(const fg_oracle_t *o, fg_buf_t *b, json_t *root, const fg_event_t *ev,
                       int64_t now_ms) {
        bool first = true;

        fg_buf_putc(b, '{');
        emit_members(b, root, &first);
        if (o->add_metadata) {
                if (!first)
                        fg_buf_putc(b, ',');
                emit_str(b, o->metadata_field, strlen(o->metadata_field));
                fg_buf_append(b, ":{\"topic\":", 10);
                if (ev->topic)
                        emit_str(b, ev->topic, strlen(ev->topic));
                else
                        fg_buf_append(b, "null", 4);
                fg_buf_printf(b, ",\"partition\":%d,\"offset\":%lld", (int)ev->partition,
                              (long long)ev->offset);
                if (ev->ts_ms < 0)
                        fg_buf_append(b, ",\"kafka_ts\":null", 16);
                else
                        fg_buf_printf(b, ",\"kafka_ts\":%lld", (long long)ev->ts_ms);
                fg_buf_printf(b, ",\"ingested_ms\":%lld,\"processed_ms\":%lld}",
                              (long long)ev->ingest_ms, (long long)now_ms);
        }
        fg_buf_putc(b, '}');
}

/* ---- shaping ---- */

static void shape(const fg_oracle_t *o, json_t *root) {
        for (size_t i = 0; i < o->ndrop; i++) {
                const opath_t *p = &o->drop[i];
                json_t *parent = root;

                for (size_t s = 0; s + 1 < p->n && parent; s++)
                        parent = json_is_object(parent)
                                     ? json_object_getn(parent, p->seg[s].s, p->seg[s].len)
                                     : NULL;
                if (json_is_object(parent))
                        json_object_deln(parent, p->seg[p->n - 1].s, p->seg[p->n - 1].len);
        }
        if (o->nkeep) {
                const char *key;
                size_t klen;
                json_t *v;
                void *next;

                json_object_keylen_foreach_safe(root, next, key, klen, v) {
                        ostr_t k = {(char *)key, klen};

                        if (!bsearch(&k, o->keep, o->nkeep, sizeof(*o->keep), keep_cmp))
                                json_object_deln(root, key, klen);
                }
        }
        if (o->add_metadata)
                json_object_del(root, o->metadata_field);
}

/* ---- reasons ---- */

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

static char *parse_reason(const json_error_t *err) {
        static const char prefix[] = "not JSON: ";
        char text[sizeof(err->text)], suffix[64], out[REASON_MAX + 1];
        size_t n = 0, budget;

        for (const unsigned char *p = (const unsigned char *)err->text;
             *p && n < sizeof(text) - 1;) {
                size_t k = *p >= 0x80 ? fg_utf8_seq_len(p, 4) : 1;

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
        budget = REASON_MAX - (sizeof(prefix) - 1) - strlen(suffix);
        if (n > budget) {
                n = budget - 3;
                while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
                        n--;
                memcpy(text + n, "...", 4);
        }
        if (snprintf(out, sizeof(out), "%s%s%s", prefix, text, suffix) < 0)
                return strdup("not JSON");
        return strdup(out);
}

/* ---- apply ---- */

fg_handle_verdict_t fg_oracle_apply(const fg_oracle_t *o, const fg_event_t *ev, int64_t now_ms,
                                    char **out, size_t *out_len, char **reason) {
        fg_handle_verdict_t verdict = FG_HANDLE_SEND;
        json_error_t jerr;
        json_t *root;
        bool breaks;

        *out = NULL;
        *out_len = 0;
        *reason = NULL;
        if (o->mode == FG_HANDLER_RAW)
                return o->kind != 3 || contains_any(o, ev->value, ev->len) ? FG_HANDLE_SEND
                                                                           : FG_HANDLE_FILTERED;
        if (ev->len == 0) {
                *reason = strdup("empty payload");
                return FG_HANDLE_INVALID;
        }
        root = json_loadb(ev->value, ev->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (!root) {
                *reason = parse_reason(&jerr);
                return FG_HANDLE_INVALID;
        }
        if (!json_is_object(root)) {
                *reason = strdup(type_reason(root));
                json_decref(root);
                return FG_HANDLE_INVALID;
        }
        breaks = memchr(ev->value, '\n', ev->len) || memchr(ev->value, '\r', ev->len);
        if (!match_json(o, root)) {
                verdict = FG_HANDLE_FILTERED;
        } else if (o->shaping || breaks) {
                fg_buf_t b = FG_BUF_INIT;

                if (o->shaping)
                        shape(o, root);
                emit_event(o, &b, root, ev, now_ms);
                *out = b.p;
                *out_len = b.len;
        }
        json_decref(root);
        return verdict;
}
