/*
 * config_value: one YAML value -> one typed option field, and the defaults.
 *
 * DESIGN: each option type has one converter, and every converter reports
 * in the same words: "<name>: expected <type>, got '<text>'" for a value of
 * the wrong kind, "<name>: <text> is out of range (<min>..<max>)" for a
 * value outside its bounds (negative durations and sizes included), so a
 * message reads the same whatever the option. Scalars are expanded from the
 * environment (config_env.c) before conversion; keys never are. Parsing is
 * exact and locale-free: integers and ratios are parsed by hand, durations
 * and sizes by common/units.c. Duplicate detection sorts, so a list or
 * mapping of 100,000 entries costs n log n, not n^2.
 *
 * Threading: any thread; all state is in the caller's fg_config_ctx_t.
 * Ownership: strings stored into the config are malloc'ed and belong to it
 * (fg_config_destroy() frees them through the table). A field is replaced
 * only when its new value converted completely.
 */
#include "config/config_int.h"

#include "common/units.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- messages ---- */

static const char *kind_noun(const fg_config_node_t *node) {
        return node->kind == FG_NODE_MAP ? "a mapping" : "a list";
}

/* "'text'", "an empty value", "a list" or "a mapping", for "got ...". */
static const char *describe(const fg_config_node_t *node, const char *text, char *buf,
                            size_t size) {
        char qbuf[128];
        if (node->kind != FG_NODE_SCALAR)
                return kind_noun(node);
        if (!*text)
                return "an empty value";
        snprintf(buf, size, "'%s'", fg_config_quote(text, strlen(text), 60, qbuf, sizeof(qbuf)));
        return buf;
}

/* Any thread, on the caller's ctx. */
void fg_config_type_error(fg_config_ctx_t *ctx, const char *name, const fg_config_node_t *node,
                          const char *text, const char *noun, const char *why) {
        char dbuf[160];
        fg_config_diag_add(ctx->diag, node->line, node->col, "%s: expected %s, got %s%s%s%s", name,
                           noun, describe(node, text ? text : "", dbuf, sizeof(dbuf)),
                           why ? " (" : "", why ? why : "", why ? ")" : "");
}

static void opt_type_error(fg_config_ctx_t *ctx, const fg_opt_t *opt,
                           const fg_config_node_t *node, const char *text, const char *why) {
        char nbuf[128];
        fg_config_type_error(ctx, ctx->name, node, text,
                             fg_config_type_noun(opt, nbuf, sizeof(nbuf)), why);
}

typedef struct strref {
        const char *s;
        size_t i;
} strref_t;

static int strref_cmp(const void *a, const void *b) {
        const strref_t *x = a, *y = b;
        int c = strcmp(x->s, y->s);
        if (c)
                return c;
        return x->i < y->i ? -1 : x->i > y->i;
}

/* first[i] = index of the first string equal to strs[i] when i is a later
 * occurrence, else SIZE_MAX. Returns 0, -1 on OOM. */
static int find_dups(const char *const *strs, size_t n, size_t *first) {
        strref_t *refs;

        for (size_t i = 0; i < n; i++)
                first[i] = SIZE_MAX;
        if (n < 2)
                return 0;
        refs = malloc(n * sizeof(*refs));
        if (!refs)
                return -1;
        for (size_t i = 0; i < n; i++)
                refs[i] = (strref_t){strs[i], i};
        qsort(refs, n, sizeof(*refs), strref_cmp);
        /* Sorted by (text, index): each run of equal texts starts with its
         * first occurrence. */
        for (size_t i = 1, head = 0; i < n; i++) {
                if (strcmp(refs[i].s, refs[head].s))
                        head = i;
                else
                        first[refs[i].i] = refs[head].i;
        }
        free(refs);
        return 0;
}

/* Any thread, on the caller's ctx. */
int fg_config_dup_keys(fg_config_ctx_t *ctx, const fg_config_node_t *map, const char *prefix,
                       bool *skip) {
        size_t np = map->n / 2, *first = NULL;
        const char **keys = NULL;
        char qbuf[128];
        int rc = -1;

        if (!np)
                return 0;
        keys = malloc(np * sizeof(*keys));
        first = malloc(np * sizeof(*first));
        if (!keys || !first)
                goto out;
        for (size_t i = 0; i < np; i++)
                keys[i] = map->kids[2 * i]->text;
        if (find_dups(keys, np, first) < 0)
                goto out;
        for (size_t i = 0; i < np; i++) {
                const fg_config_node_t *key = map->kids[2 * i];
                skip[i] = first[i] != SIZE_MAX;
                if (!skip[i])
                        continue;
                fg_config_diag_add(ctx->diag, key->line, key->col,
                                   "duplicate key '%s' %s%s%s (first at line %d)",
                                   fg_config_quote(key->text, key->len, 60, qbuf, sizeof(qbuf)),
                                   *prefix ? "in '" : "at top level", prefix, *prefix ? "'" : "",
                                   map->kids[2 * first[i]]->line);
        }
        rc = 0;
out:
        if (rc < 0)
                fg_config_diag_add(ctx->diag, map->line, map->col, "out of memory");
        free(keys);
        free(first);
        return rc;
}

/* ---- scalar conversions ---- */

/* Decimal, or octal (@p base 8: a file mode, "0640" or "640"). */
static int parse_int(const char *s, unsigned base, int64_t *out, bool *overflow) {
        const char *p = s;
        bool neg = false;
        uint64_t v = 0, lim;

        *overflow = false;
        if (*p == '-' || *p == '+')
                neg = *p++ == '-';
        if (!*p)
                return -1;
        lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        for (; *p; p++) {
                if (*p < '0' || *p >= (char)('0' + base))
                        return -1;
                if (v > (lim - (uint64_t)(*p - '0')) / base)
                        *overflow = true;
                else
                        v = v * base + (uint64_t)(*p - '0');
        }
        if (*overflow)
                return 0;
        *out = neg ? (int64_t)(0 - v) : (int64_t)v;
        return 0;
}

static int parse_bool(const char *s, bool *out) {
        static const char *const yes[] = {"true", "yes", "on"};
        static const char *const no[] = {"false", "no", "off"};
        for (size_t i = 0; i < 3; i++) {
                if (!strcasecmp(s, yes[i])) {
                        *out = true;
                        return 0;
                }
                if (!strcasecmp(s, no[i])) {
                        *out = false;
                        return 0;
                }
        }
        return -1;
}

/* "0.9", "1", ".5", "90%", "12.5%"; exact decimal to double, no locale. */
static int parse_ratio(const char *s, double *out) {
        uint64_t mant = 0;
        int digits = 0, frac = 0, scale;
        bool dot = false;
        const char *p = s;
        double den = 1;

        for (; (*p >= '0' && *p <= '9') || (*p == '.' && !dot); p++) {
                if (*p == '.') {
                        dot = true;
                        continue;
                }
                if (mant == 0 && *p == '0' && !dot)
                        continue; /* leading zeros are not significant */
                if (++digits > 15)
                        return -1;
                mant = mant * 10 + (uint64_t)(*p - '0');
                frac += dot;
        }
        if (p == s || (p == s + 1 && dot))
                return -1;
        scale = frac;
        if (*p == '%') {
                scale += 2;
                p++;
        }
        if (*p)
                return -1;
        for (int i = 0; i < scale; i++)
                den *= 10;
        *out = (double)mant / den;
        return 0;
}

static const char *units_range(const fg_opt_t *opt, char *buf, size_t size) {
        char lo[32], hi[32];
        if (opt->type == FG_OPT_DURATION) {
                fg_format_duration(opt->min, lo, sizeof(lo));
                fg_format_duration(opt->max, hi, sizeof(hi));
        } else if (opt->type == FG_OPT_SIZE) {
                fg_format_size(opt->min, lo, sizeof(lo));
                fg_format_size(opt->max, hi, sizeof(hi));
        } else if (opt->type == FG_OPT_RATIO) {
                snprintf(buf, size, "%s %g and %s %g", opt->flags & FG_OPT_F_MIN_EXCL ? ">" : ">=",
                         opt->rmin, opt->flags & FG_OPT_F_MAX_EXCL ? "<" : "<=", opt->rmax);
                return buf;
        } else if (opt->flags & FG_OPT_F_OCTAL) {
                snprintf(lo, sizeof(lo), "%04llo", (unsigned long long)opt->min);
                snprintf(hi, sizeof(hi), "%04llo", (unsigned long long)opt->max);
        } else {
                snprintf(lo, sizeof(lo), "%lld", (long long)opt->min);
                snprintf(hi, sizeof(hi), "%lld", (long long)opt->max);
        }
        snprintf(buf, size, "%s..%s", lo, hi);
        return buf;
}

static void range_error(fg_config_ctx_t *ctx, const fg_opt_t *opt, const fg_config_node_t *node,
                        const char *text) {
        char qbuf[128], rbuf[96];
        fg_config_diag_add(ctx->diag, node->line, node->col, "%s: %s is out of range (%s)",
                           ctx->name, fg_config_quote(text, strlen(text), 60, qbuf, sizeof(qbuf)),
                           units_range(opt, rbuf, sizeof(rbuf)));
}

/* Durations and sizes: the units parser, with negatives reported as out of
 * range like any other value outside the bounds. units.h documents the
 * overflow reason as exactly "out of range"; that one becomes a range error
 * too, showing the option's bounds. */
static int parse_units(fg_config_ctx_t *ctx, const fg_opt_t *opt, const fg_config_node_t *node,
                       const char *text, int64_t *v) {
        int (*parse)(const char *, int64_t *, char *, size_t) =
            opt->type == FG_OPT_DURATION ? fg_parse_duration : fg_parse_size;
        char why[128];

        if (parse(text, v, why, sizeof(why)) == 0)
                return 0;
        if (!strcmp(why, "out of range") ||
            (text[0] == '-' && parse(text + 1, v, why, sizeof(why)) == 0))
                range_error(ctx, opt, node, text);
        else
                opt_type_error(ctx, opt, node, text, why);
        return -1;
}

static char *expand(fg_config_ctx_t *ctx, const fg_config_node_t *node) {
        char why[256];
        char *s = fg_config_env_expand(node->text, why, sizeof(why));
        if (!s)
                fg_config_diag_add(ctx->diag, node->line, node->col, "%s", why);
        return s;
}

/* The option's own rule for one map entry (@p key set) or list item:
 * reported at the key or the value, prefixed with @p name. 0 or -1. */
static int check_entry(fg_config_ctx_t *ctx, const fg_opt_t *opt, const char *name,
                       const fg_config_node_t *key, const fg_config_node_t *val,
                       const char *text) {
        const fg_config_node_t *at;
        bool at_key = false;
        char msg[512];

        if (!opt->check_entry ||
            opt->check_entry(key ? key->text : NULL, text, &at_key, msg, sizeof(msg)) == 0)
                return 0;
        at = at_key && key ? key : val;
        fg_config_diag_add(ctx->diag, at->line, at->col, "%s: %s", name, msg);
        return -1;
}

/* ---- per-type setters; each returns 0 or -1 (reported) ---- */

static int set_scalar(fg_config_ctx_t *ctx, const fg_opt_t *opt, const fg_config_node_t *val) {
        void *field = fg_config_frame_field(ctx->frame, opt);
        char *text;
        int64_t v = 0;
        int rc = -1;

        if (val->kind != FG_NODE_SCALAR) {
                opt_type_error(ctx, opt, val, NULL, NULL);
                return -1;
        }
        text = expand(ctx, val);
        if (!text)
                return -1;

        switch (opt->type) {
        case FG_OPT_STRING:
                if ((opt->flags & FG_OPT_F_NONEMPTY) && !*text) {
                        fg_config_diag_add(ctx->diag, val->line, val->col, "%s: must not be empty",
                                           ctx->name);
                        goto out;
                }
                free(*(char **)field);
                *(char **)field = text;
                return 0;
        case FG_OPT_INT: {
                bool overflow;
                if (parse_int(text, opt->flags & FG_OPT_F_OCTAL ? 8 : 10, &v, &overflow) < 0) {
                        opt_type_error(ctx, opt, val, text, NULL);
                        goto out;
                }
                if (overflow || v < opt->min || v > opt->max) {
                        range_error(ctx, opt, val, text);
                        goto out;
                }
                *(int64_t *)field = v;
                break;
        }
        case FG_OPT_DURATION:
        case FG_OPT_SIZE:
                if (parse_units(ctx, opt, val, text, &v) < 0)
                        goto out;
                if (v < opt->min || v > opt->max) {
                        range_error(ctx, opt, val, text);
                        goto out;
                }
                *(int64_t *)field = v;
                break;
        case FG_OPT_BOOL:
                if (parse_bool(text, (bool *)field) < 0) {
                        opt_type_error(ctx, opt, val, text, NULL);
                        goto out;
                }
                break;
        case FG_OPT_RATIO: {
                double d;
                const char *t = text[0] == '-' ? text + 1 : text;
                if (parse_ratio(t, &d) < 0) {
                        opt_type_error(ctx, opt, val, text, NULL);
                        goto out;
                }
                if (t != text || d < opt->rmin || d > opt->rmax ||
                    ((opt->flags & FG_OPT_F_MIN_EXCL) && d == opt->rmin) ||
                    ((opt->flags & FG_OPT_F_MAX_EXCL) && d == opt->rmax)) {
                        range_error(ctx, opt, val, text);
                        goto out;
                }
                *(double *)field = d;
                break;
        }
        case FG_OPT_ENUM: {
                const fg_opt_enum_t *e = opt->enums;
                while (e->name && strcmp(e->name, text))
                        e++;
                if (!e->name) {
                        opt_type_error(ctx, opt, val, text, NULL);
                        goto out;
                }
                *(int *)field = e->value;
                break;
        }
        default:
                goto out;
        }
        rc = 0;
out:
        free(text);
        return rc;
}

static int set_strlist(fg_config_ctx_t *ctx, const fg_opt_t *opt, const fg_config_node_t *val) {
        fg_strlist_t *list = fg_config_frame_field(ctx->frame, opt), tmp = {0};
        size_t *node_of = NULL; /* tmp.v[k] came from val->kids[node_of[k]] */
        int rc = -1;

        if (val->kind != FG_NODE_SEQ) {
                fg_config_type_error(ctx, ctx->name, val, val->text, "a list", NULL);
                return -1;
        }
        if ((opt->flags & FG_OPT_F_NONEMPTY) && !val->n) {
                fg_config_diag_add(ctx->diag, val->line, val->col, "%s: must not be empty",
                                   ctx->name);
                return -1;
        }
        tmp.v = calloc(val->n + 1, sizeof(*tmp.v));
        node_of = malloc((val->n + 1) * sizeof(*node_of));
        if (!tmp.v || !node_of) {
                fg_config_diag_add(ctx->diag, val->line, val->col, "out of memory");
                goto out;
        }
        rc = 0;
        for (size_t i = 0; i < val->n; i++) {
                const fg_config_node_t *item = val->kids[i];
                char name[200];
                snprintf(name, sizeof(name), "%s[%zu]", ctx->name, i);
                if (item->kind != FG_NODE_SCALAR) {
                        fg_config_type_error(ctx, name, item, NULL, "a string", NULL);
                        rc = -1;
                        continue;
                }
                if (!(tmp.v[tmp.n] = expand(ctx, item))) {
                        rc = -1;
                        continue;
                }
                if (((opt->flags & FG_OPT_F_NONEMPTY) && !*tmp.v[tmp.n]) ||
                    check_entry(ctx, opt, name, NULL, item, tmp.v[tmp.n]) < 0) {
                        if (!*tmp.v[tmp.n] && (opt->flags & FG_OPT_F_NONEMPTY))
                                fg_config_diag_add(ctx->diag, item->line, item->col,
                                                   "%s: must not be empty", name);
                        free(tmp.v[tmp.n]);
                        tmp.v[tmp.n] = NULL;
                        rc = -1;
                        continue;
                }
                node_of[tmp.n] = i;
                tmp.n++;
        }
        if (opt->flags & FG_OPT_F_UNIQUE) {
                size_t *dup = malloc((tmp.n + 1) * sizeof(*dup));
                if (!dup || find_dups((const char *const *)tmp.v, tmp.n, dup) < 0) {
                        fg_config_diag_add(ctx->diag, val->line, val->col, "out of memory");
                        rc = -1;
                }
                for (size_t i = 0; dup && i < tmp.n; i++) {
                        const fg_config_node_t *item, *orig;
                        char qbuf[128];
                        if (dup[i] == SIZE_MAX)
                                continue;
                        item = val->kids[node_of[i]];
                        orig = val->kids[node_of[dup[i]]];
                        fg_config_diag_add(ctx->diag, item->line, item->col,
                                           "%s: duplicate entry '%s' (first at line %d)", ctx->name,
                                           fg_config_quote(tmp.v[i], strlen(tmp.v[i]), 60, qbuf,
                                                           sizeof(qbuf)),
                                           orig->line);
                        rc = -1;
                }
                free(dup);
        }
out:
        if (rc == 0) {
                for (size_t i = 0; i < list->n; i++)
                        free(list->v[i]);
                free(list->v);
                *list = tmp;
        } else {
                for (size_t i = 0; tmp.v && i < tmp.n; i++)
                        free(tmp.v[i]);
                free(tmp.v);
        }
        free(node_of);
        return rc;
}

static int set_strmap(fg_config_ctx_t *ctx, const fg_opt_t *opt, const fg_config_node_t *val) {
        fg_strmap_t *map = fg_config_frame_field(ctx->frame, opt), tmp = {0};
        size_t np = val->n / 2;
        bool *skip = NULL;
        int rc = -1;

        if (val->kind != FG_NODE_MAP) {
                fg_config_type_error(ctx, ctx->name, val, val->text, "a mapping", NULL);
                return -1;
        }
        tmp.keys = calloc(np + 1, sizeof(*tmp.keys));
        tmp.values = calloc(np + 1, sizeof(*tmp.values));
        skip = calloc(np + 1, sizeof(*skip));
        if (!tmp.keys || !tmp.values || !skip) {
                fg_config_diag_add(ctx->diag, val->line, val->col, "out of memory");
                goto out;
        }
        rc = fg_config_dup_keys(ctx, val, ctx->name, skip);
        for (size_t i = 0; i < np; i++) {
                const fg_config_node_t *key = val->kids[2 * i], *v = val->kids[2 * i + 1];
                const fg_opt_reserved_t *r = opt->reserved;
                char qbuf[128];

                if (skip[i])
                        continue;
                while (r && r->key && strcmp(r->key, key->text))
                        r++;
                if (r && r->key) {
                        fg_config_diag_add(ctx->diag, key->line, key->col,
                                           "%s: '%s' cannot be set here (%s)", ctx->name, r->key,
                                           r->hint);
                        rc = -1;
                        continue;
                }
                if (v->kind != FG_NODE_SCALAR) {
                        char name[256];
                        snprintf(name, sizeof(name), "%s.%s", ctx->name,
                                 fg_config_quote(key->text, key->len, 60, qbuf, sizeof(qbuf)));
                        fg_config_type_error(ctx, name, v, NULL, "a string", NULL);
                        rc = -1;
                        continue;
                }
                if (!(tmp.keys[tmp.n] = strdup(key->text))) {
                        fg_config_diag_add(ctx->diag, key->line, key->col, "out of memory");
                        rc = -1;
                        continue;
                }
                if (!(tmp.values[tmp.n] = expand(ctx, v)) ||
                    check_entry(ctx, opt, opt->name, key, v, tmp.values[tmp.n]) < 0) {
                        free(tmp.keys[tmp.n]);
                        free(tmp.values[tmp.n]);
                        tmp.keys[tmp.n] = tmp.values[tmp.n] = NULL;
                        rc = -1;
                        continue;
                }
                tmp.n++;
        }
out:
        if (rc == 0) {
                for (size_t i = 0; i < map->n; i++) {
                        free(map->keys[i]);
                        free(map->values[i]);
                }
                free(map->keys);
                free(map->values);
                *map = tmp;
        } else {
                for (size_t i = 0; i < tmp.n; i++) {
                        free(tmp.keys[i]);
                        free(tmp.values[i]);
                }
                free(tmp.keys);
                free(tmp.values);
        }
        free(skip);
        return rc;
}

/* Any thread, on the caller's ctx. */
int fg_config_set_value(fg_config_ctx_t *ctx, const fg_opt_t *opt, const fg_config_node_t *val) {
        const char *name = fg_config_frame_name(ctx->frame, opt, ctx->name, sizeof(ctx->name));

        if (name != ctx->name)
                snprintf(ctx->name, sizeof(ctx->name), "%s", name);
        if (opt->type == FG_OPT_STRLIST)
                return set_strlist(ctx, opt, val);
        if (opt->type == FG_OPT_STRMAP)
                return set_strmap(ctx, opt, val);
        return set_scalar(ctx, opt, val);
}

/* Any thread. */
int fg_config_apply_defaults(fg_config_t *cfg) {
        fg_config_frame_t root = {.rows = "", .shown = "", .base = cfg, .nested_subs = true};

        return fg_config_frame_defaults(&root);
}
