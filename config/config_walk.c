/*
 * config_walk: the node tree + the option table -> a validated fg_config_t.
 *
 * DESIGN: the walk visits the root mapping and, through it, only the
 * sections the table knows, so its recursion depth is bounded by the table
 * (a dotted name has at most four parts, a copy of a section nests at most
 * twice: routes[i].sink.fallback), never by the input. Every key is either
 * an option (converted by config_value.c), a section (descended into), a
 * copy of a section (SUB: sink.fallback) or a list of sections (LIST:
 * routes), or unknown (reported with the closest sibling as a suggestion).
 * Copies are read with the same rows, re-based onto the copy
 * (config_frame.c), and checked with the same rules. Nothing stops at the
 * first problem: each option records whether it was set, unset or bad, so
 * that after the walk the required-key check and the cross-option rules
 * (config_table.c) run only where they make sense and no error is a
 * knock-on effect of another. Lists are read after the rest of the file, so
 * that a route's breaker can start from the top-level breaker wherever the
 * two stand in the file.
 *
 * Threading: any thread; all state is in the walk_t of one call.
 * Ownership: the walk borrows the tree and fills the caller's config.
 */
#include "config/config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ST_UNSET = 0, ST_SET, ST_BAD };

/* Longest key that can name an option; longer keys are simply unknown. */
#define MAX_KEY FG_CONFIG_MAX_KEY
/* Most elements a list of sections may have. */
#define MAX_LIST_ITEMS 64

/* What the walk of one frame records per table row. */
typedef struct rows_state {
        unsigned char *state; /* ST_* */
        int *line, *col;      /* where its value was written */
} rows_state_t;

/* A LIST row met in the root mapping, read after the rest. */
typedef struct pending_list {
        int idx;
        const fg_config_node_t *val;
} pending_list_t;

typedef struct walk {
        fg_config_ctx_t ctx;
        const fg_config_tree_t *tree;
        pending_list_t lists[8];
        size_t nlists;
} walk_t;

static void frame_walk(walk_t *w, const fg_config_frame_t *fr, const fg_config_node_t *map,
                       const fg_config_node_t *at);

static int rows_state_init(rows_state_t *rs) {
        rs->state = calloc(fg_config_nopts, sizeof(*rs->state));
        rs->line = calloc(fg_config_nopts, sizeof(*rs->line));
        rs->col = calloc(fg_config_nopts, sizeof(*rs->col));
        return rs->state && rs->line && rs->col ? 0 : -1;
}

static void rows_state_free(rows_state_t *rs) {
        free(rs->state);
        free(rs->line);
        free(rs->col);
}

/* "a", "b" -> "a.b"; "", "b" -> "b". */
static void join(char *buf, size_t size, const char *a, const char *b) {
        snprintf(buf, size, "%s%s%s", a, *a && *b ? "." : "", b);
}

/* The row of @p fr named @p full (a table name), or -1. */
static int frame_find(const fg_config_frame_t *fr, const char *full) {
        int idx = fg_config_opt_find(full);
        return idx >= 0 && fg_config_frame_has(fr, &fg_config_opts[idx]) ? idx : -1;
}

static bool is_section(const fg_config_frame_t *fr, const char *full) {
        size_t len = strlen(full);
        for (size_t i = 0; i < fg_config_nopts; i++)
                if (fg_config_frame_has(fr, &fg_config_opts[i]) &&
                    !strncmp(fg_config_opts[i].name, full, len) &&
                    fg_config_opts[i].name[len] == '.')
                        return true;
        return false;
}

static char lower(char c) {
        return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Any thread. */
size_t fg_config_edit_distance(const char *a, size_t la, const char *b, size_t lb) {
        size_t d[3][MAX_KEY + 1];
        for (size_t j = 0; j <= lb; j++)
                d[0][j] = j;
        for (size_t i = 1; i <= la; i++) {
                size_t *cur = d[i % 3], *prev = d[(i - 1) % 3], *prev2 = d[(i + 1) % 3];
                cur[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        char ca = lower(a[i - 1]), cb = lower(b[j - 1]);
                        size_t best = prev[j - 1] + (ca != cb);
                        if (prev[j] + 1 < best)
                                best = prev[j] + 1;
                        if (cur[j - 1] + 1 < best)
                                best = cur[j - 1] + 1;
                        if (i > 1 && j > 1 && ca == lower(b[j - 2]) && lower(a[i - 2]) == cb &&
                            prev2[j - 2] + 1 < best)
                                best = prev2[j - 2] + 1;
                        cur[j] = best;
                }
        }
        return d[la % 3][lb];
}

/* Keeps @p cand (length @p clen) in @p buf when it is the closest to @p key
 * so far and close enough. */
static void consider(const char *key, size_t klen, const char *cand, size_t clen, size_t *best,
                     char *buf, size_t size) {
        size_t d, limit = clen <= 3 ? 1 : clen <= 6 ? 2 : 3;

        if (clen > MAX_KEY)
                return;
        d = fg_config_edit_distance(key, klen, cand, clen);
        if (d <= limit && d < *best && clen < size) {
                *best = d;
                memcpy(buf, cand, clen);
                buf[clen] = '\0';
        }
}

/* The sibling of @p key under the table prefix @p prefix of @p fr closest
 * to it, if close enough. */
static const char *suggest(const fg_config_frame_t *fr, const char *prefix, const char *key,
                           size_t klen, char *buf, size_t size) {
        size_t plen = strlen(prefix), best = SIZE_MAX;

        if (klen > MAX_KEY)
                return NULL;
        for (size_t i = 0; i < fg_config_nopts; i++) {
                const char *name = fg_config_opts[i].name, *sib, *dot;
                if (!fg_config_frame_has(fr, &fg_config_opts[i]) ||
                    (plen && (strncmp(name, prefix, plen) || name[plen] != '.')))
                        continue;
                sib = plen ? name + plen + 1 : name;
                dot = strchr(sib, '.');
                consider(key, klen, sib, dot ? (size_t)(dot - sib) : strlen(sib), &best, buf, size);
        }
        return best == SIZE_MAX ? NULL : buf;
}

static void unknown_key(walk_t *w, const char *shown, const fg_config_node_t *key,
                        const char *hint_key) {
        char qbuf[128], hint[160] = "";

        if (hint_key)
                snprintf(hint, sizeof(hint), " (did you mean '%s'?)", hint_key);
        fg_config_diag_add(w->ctx.diag, key->line, key->col, "unknown key '%s' %s%s%s%s",
                           fg_config_quote(key->text, key->len, 60, qbuf, sizeof(qbuf)),
                           *shown ? "in '" : "at top level", shown, *shown ? "'" : "", hint);
}

static void mark(rows_state_t *rs, int idx, const fg_config_node_t *val, int ok) {
        rs->state[idx] = ok == 0 ? ST_SET : ST_BAD;
        rs->line[idx] = val->line;
        rs->col[idx] = val->col;
}

/* A SUB row: a copy of a section, read with the section's rows. */
static int read_sub(walk_t *w, const fg_config_frame_t *fr, const fg_opt_t *opt,
                    const char *shown, const fg_config_node_t *key, const fg_config_node_t *val) {
        void **slot = fg_config_frame_field(fr, opt);
        fg_config_frame_t sf;

        if (val->kind != FG_NODE_MAP) {
                fg_config_type_error(&w->ctx, shown, val, val->text, "a mapping", NULL);
                return -1;
        }
        *slot = calloc(1, opt->sub_size);
        if (!*slot) {
                fg_config_diag_add(w->ctx.diag, val->line, val->col, "out of memory");
                return -1;
        }
        sf = fg_config_sub_frame(opt, *slot, shown);
        if (fg_config_frame_defaults(&sf) < 0) {
                fg_config_diag_add(w->ctx.diag, val->line, val->col, "out of memory");
                return -1;
        }
        frame_walk(w, &sf, val, key);
        return 0;
}

/* Reads @p map, the value of the key at table path @p rel (relative to the
 * frame; "" for the frame's own mapping). */
static void walk_map(walk_t *w, const fg_config_frame_t *fr, rows_state_t *rs,
                     const fg_config_node_t *map, const char *rel) {
        size_t np = map->n / 2;
        char tprefix[2 * MAX_KEY + 2], sprefix[2 * MAX_KEY + 40];
        bool *skip = calloc(np + 1, sizeof(*skip));

        join(tprefix, sizeof(tprefix), fr->rows, rel);
        join(sprefix, sizeof(sprefix), *fr->rows ? fr->shown : "", rel);
        if (!skip)
                fg_config_diag_add(w->ctx.diag, map->line, map->col, "out of memory");
        if (!skip || fg_config_dup_keys(&w->ctx, map, sprefix, skip) < 0) {
                free(skip);
                return;
        }
        for (size_t i = 0; i < np; i++) {
                const fg_config_node_t *key = map->kids[2 * i], *val = map->kids[2 * i + 1];
                char full[2 * MAX_KEY + 2], shown[3 * MAX_KEY + 40], relkey[2 * MAX_KEY + 2];
                char sbuf[MAX_KEY + 1];
                const fg_opt_t *opt;
                int idx;

                if (skip[i])
                        continue;
                if (key->len > MAX_KEY || strlen(tprefix) > MAX_KEY) {
                        unknown_key(w, sprefix, key, NULL);
                        continue;
                }
                join(full, sizeof(full), tprefix, key->text);
                join(shown, sizeof(shown), sprefix, key->text);
                join(relkey, sizeof(relkey), rel, key->text);
                idx = frame_find(fr, full);
                opt = idx >= 0 ? &fg_config_opts[idx] : NULL;
                if (opt && opt->type == FG_OPT_SUB) {
                        mark(rs, idx, val, read_sub(w, fr, opt, shown, key, val));
                } else if (opt && opt->type == FG_OPT_LIST) {
                        if (w->nlists < sizeof(w->lists) / sizeof(w->lists[0]))
                                w->lists[w->nlists++] = (pending_list_t){idx, val};
                        mark(rs, idx, val, 0);
                } else if (opt && opt->type != FG_OPT_SECTION) {
                        w->ctx.frame = fr;
                        mark(rs, idx, val, fg_config_set_value(&w->ctx, opt, val));
                } else if (opt || is_section(fr, full)) {
                        if (val->kind != FG_NODE_MAP) {
                                fg_config_type_error(&w->ctx, shown, val, val->text, "a mapping",
                                                     NULL);
                                if (opt)
                                        mark(rs, idx, val, -1);
                                continue;
                        }
                        if (opt) {
                                *(bool *)fg_config_frame_field(fr, opt) = true;
                                mark(rs, idx, val, 0);
                        }
                        walk_map(w, fr, rs, val, relkey);
                } else {
                        unknown_key(w, sprefix, key,
                                    suggest(fr, tprefix, key->text, key->len, sbuf, sizeof(sbuf)));
                }
        }
        free(skip);
}

/* Where to report a missing @p name at the root: the key of its deepest
 * present section, 1:1 at top level. Returns -1 when the error would only
 * repeat another (a section given as a scalar, or an optional section
 * absent). */
static int missing_pos(walk_t *w, const rows_state_t *rs, const char *name, int *line, int *col) {
        const fg_config_node_t *map = w->tree->root;
        const char *p = name, *dot;

        *line = 1;
        *col = 1;
        while ((dot = strchr(p, '.'))) {
                size_t len = (size_t)(dot - p);
                const fg_config_node_t *found = NULL, *val = NULL;
                char sect[2 * MAX_KEY + 2];
                int idx;

                snprintf(sect, sizeof(sect), "%.*s", (int)(dot - name), name);
                idx = fg_config_opt_find(sect);
                if (idx >= 0 && rs->state[idx] != ST_SET)
                        return -1;
                for (size_t i = 0; map && i + 1 < map->n; i += 2) {
                        if (map->kids[i]->len == len && !memcmp(map->kids[i]->text, p, len)) {
                                found = map->kids[i];
                                val = map->kids[i + 1];
                                break;
                        }
                }
                if (!found)
                        return 0;
                if (val->kind != FG_NODE_MAP)
                        return -1;
                *line = found->line;
                *col = found->col;
                map = val;
                p = dot + 1;
        }
        return 0;
}

static bool root_has_key(const fg_config_tree_t *tree, const char *key) {
        const fg_config_node_t *map = tree->root;
        for (size_t i = 0; map && i + 1 < map->n; i += 2)
                if (!strcmp(map->kids[i]->text, key))
                        return true;
        return false;
}

/* Required rows of @p fr that were not given. @p at: the frame's key. */
static void check_required(walk_t *w, const fg_config_frame_t *fr, const rows_state_t *rs,
                           const fg_config_node_t *at) {
        const fg_config_t *cfg = w->ctx.cfg;
        /* With routes, the top-level sink may be left out: events no route
         * takes are then filtered. */
        bool sink_optional = !*fr->rows && cfg->routes.n > 0 && !root_has_key(w->tree, "sink");

        for (size_t i = 0; i < fg_config_nopts; i++) {
                const fg_opt_t *opt = &fg_config_opts[i];
                char nbuf[3 * MAX_KEY + 40];
                int line, col;

                if (!(opt->flags & FG_OPT_F_REQUIRED) || rs->state[i] != ST_UNSET ||
                    !fg_config_frame_has(fr, opt))
                        continue;
                if (sink_optional && !strncmp(opt->name, "sink.", 5))
                        continue;
                if (*fr->rows)
                        fg_config_diag_add(w->ctx.diag, at->line, at->col,
                                           "missing required key '%s'",
                                           fg_config_frame_name(fr, opt, nbuf, sizeof(nbuf)));
                else if (missing_pos(w, rs, opt->name, &line, &col) == 0)
                        fg_config_diag_add(w->ctx.diag, line, col, "missing required key '%s'",
                                           opt->name);
        }
}

/* The rules for a frame's rows, placed at the first of their options that
 * @p rs says is set (else at @p at, or 1:1). At the root (@p fr rows "")
 * every rule runs, each on its own section of the config; in a copy only
 * the rules of the copied section run, on the copy. */
static void run_checks(walk_t *w, const fg_config_frame_t *fr, const rows_state_t *rs,
                       const fg_config_node_t *at) {
        for (size_t c = 0; c < fg_config_nchecks; c++) {
                const fg_config_check_t *chk = &fg_config_checks[c];
                int line = at ? at->line : 1, col = at ? at->col : 1, skip = 0, placed = 0;
                const void *sect = (char *)w->ctx.cfg + chk->sect_off;
                const char *shown = chk->section;
                char msg[320];

                if (*fr->rows) {
                        if (strcmp(chk->section, fr->rows))
                                continue;
                        sect = fr->base;
                        shown = fr->shown;
                }
                for (size_t k = 0; k < sizeof(chk->opts) / sizeof(chk->opts[0]) && chk->opts[k];
                     k++) {
                        int idx = fg_config_opt_find(chk->opts[k]);
                        if (idx < 0 || rs->state[idx] == ST_BAD ||
                            ((fg_config_opts[idx].flags & FG_OPT_F_REQUIRED) &&
                             rs->state[idx] == ST_UNSET))
                                skip = 1;
                        else if (rs->state[idx] == ST_SET && !placed) {
                                line = rs->line[idx];
                                col = rs->col[idx];
                                placed = 1;
                        }
                }
                if (!skip && chk->fn(w->ctx.cfg, sect, shown, msg, sizeof(msg)) < 0)
                        fg_config_diag_add(w->ctx.diag, line, col, "%s", msg);
        }
}

/* Reads one frame's mapping @p map (whose key is @p at) and checks it. */
static void frame_walk(walk_t *w, const fg_config_frame_t *fr, const fg_config_node_t *map,
                       const fg_config_node_t *at) {
        rows_state_t rs;

        if (rows_state_init(&rs) < 0) {
                fg_config_diag_add(w->ctx.diag, map->line, map->col, "out of memory");
                rows_state_free(&rs);
                return;
        }
        walk_map(w, fr, &rs, map, "");
        check_required(w, fr, &rs, at);
        run_checks(w, fr, &rs, at);
        rows_state_free(&rs);
}

/* One element of a LIST row: a mapping of the row's parts. */
static void read_element(walk_t *w, const fg_opt_t *opt, void *elem, const char *shown,
                         const fg_config_node_t *item) {
        size_t np = item->n / 2;
        bool *seen = NULL, *skip = calloc(np + 1, sizeof(*skip));
        size_t nparts = 0;

        while (opt->parts[nparts].key)
                nparts++;
        seen = calloc(nparts + 1, sizeof(*seen));
        if (!skip || !seen || fg_config_dup_keys(&w->ctx, item, shown, skip) < 0) {
                if (!skip || !seen)
                        fg_config_diag_add(w->ctx.diag, item->line, item->col, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < np; i++) {
                const fg_config_node_t *key = item->kids[2 * i], *val = item->kids[2 * i + 1];
                const fg_opt_part_t *part = opt->parts;
                char pshown[3 * MAX_KEY + 40], sbuf[MAX_KEY + 1];
                size_t best = SIZE_MAX;

                if (skip[i])
                        continue;
                while (part->key && strcmp(part->key, key->text))
                        part++;
                if (!part->key) {
                        for (part = opt->parts; part->key; part++)
                                consider(key->text, key->len, part->key, strlen(part->key), &best,
                                         sbuf, sizeof(sbuf));
                        unknown_key(w, shown, key, best == SIZE_MAX ? NULL : sbuf);
                        continue;
                }
                seen[part - opt->parts] = true;
                join(pshown, sizeof(pshown), shown, part->key);
                if (!part->rows) {
                        char **s = (char **)((char *)elem + part->elem_off);
                        char why[256];
                        if (val->kind != FG_NODE_SCALAR) {
                                fg_config_type_error(&w->ctx, pshown, val, NULL, "a string", NULL);
                                continue;
                        }
                        free(*s);
                        *s = fg_config_env_expand(val->text, why, sizeof(why));
                        if (!*s)
                                fg_config_diag_add(w->ctx.diag, val->line, val->col, "%s", why);
                        else if (!**s)
                                fg_config_diag_add(w->ctx.diag, val->line, val->col,
                                                   "%s: must not be empty", pshown);
                        continue;
                }
                if (val->kind != FG_NODE_MAP) {
                        fg_config_type_error(&w->ctx, pshown, val, val->text, "a mapping", NULL);
                        continue;
                }
                {
                        fg_config_frame_t pf = fg_config_part_frame(part, elem, pshown);
                        frame_walk(w, &pf, val, key);
                }
        }
        for (size_t k = 0; k < nparts; k++)
                if (opt->parts[k].required && !seen[k])
                        fg_config_diag_add(w->ctx.diag, item->line, item->col,
                                           "%s: missing required key '%s'", shown,
                                           opt->parts[k].key);
out:
        free(skip);
        free(seen);
}

/* Starts every section part of @p elem from its defaults, or from the
 * top-level section's values where the part inherits (scalar rows only,
 * see test_config_table_is_sane). */
static int element_defaults(walk_t *w, const fg_opt_t *opt, void *elem) {
        for (const fg_opt_part_t *part = opt->parts; part->key; part++) {
                fg_config_frame_t pf;

                if (!part->rows)
                        continue;
                pf = fg_config_part_frame(part, elem, "");
                if (!part->inherit) {
                        if (fg_config_frame_defaults(&pf) < 0)
                                return -1;
                        continue;
                }
                memcpy(pf.base, (char *)w->ctx.cfg + part->base_off, part->size);
        }
        return 0;
}

/* A LIST row: a sequence of mappings. */
static void read_list(walk_t *w, const fg_opt_t *opt, const fg_config_node_t *val) {
        fg_config_list_t *list = fg_config_field(w->ctx.cfg, opt);
        char *elems;

        if (val->kind != FG_NODE_SEQ) {
                fg_config_type_error(&w->ctx, opt->name, val, val->text, "a list", NULL);
                return;
        }
        if (val->n > MAX_LIST_ITEMS) {
                fg_config_diag_add(w->ctx.diag, val->line, val->col,
                                   "%s: at most %d entries, got %zu", opt->name, MAX_LIST_ITEMS,
                                   val->n);
                return;
        }
        if (!val->n)
                return;
        elems = calloc(val->n, opt->sub_size);
        if (!elems) {
                fg_config_diag_add(w->ctx.diag, val->line, val->col, "out of memory");
                return;
        }
        list->v = elems;
        list->n = val->n;
        for (size_t i = 0; i < val->n; i++) {
                const fg_config_node_t *item = val->kids[i];
                void *elem = elems + i * opt->sub_size;
                char shown[MAX_KEY + 32];

                snprintf(shown, sizeof(shown), "%s[%zu]", opt->name, i);
                if (element_defaults(w, opt, elem) < 0) {
                        fg_config_diag_add(w->ctx.diag, item->line, item->col, "out of memory");
                        continue;
                }
                if (item->kind != FG_NODE_MAP) {
                        fg_config_type_error(&w->ctx, shown, item, item->text, "a mapping", NULL);
                        continue;
                }
                read_element(w, opt, elem, shown, item);
        }
}

/* Any thread. */
size_t fg_config_walk(const fg_config_tree_t *tree, fg_config_t *cfg, fg_config_diag_t *diag) {
        size_t before = diag->n;
        walk_t w = {.ctx = {.cfg = cfg, .diag = diag}, .tree = tree};
        fg_config_frame_t root = {.rows = "", .shown = "", .base = cfg, .nested_subs = true};
        rows_state_t rs;

        if (rows_state_init(&rs) < 0) {
                fg_config_diag_add(diag, 1, 1, "out of memory");
                goto out;
        }
        walk_map(&w, &root, &rs, tree->root, "");
        for (size_t i = 0; i < w.nlists; i++)
                read_list(&w, &fg_config_opts[w.lists[i].idx], w.lists[i].val);
        check_required(&w, &root, &rs, NULL);
        run_checks(&w, &root, &rs, NULL);
        free(cfg->pos);
        cfg->pos = calloc(fg_config_nopts, sizeof(*cfg->pos));
        if (!cfg->pos) {
                fg_config_diag_add(diag, 1, 1, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < fg_config_nopts; i++)
                if (rs.state[i] == ST_SET)
                        cfg->pos[i] = (struct fg_config_pos){rs.line[i], rs.col[i]};
out:
        rows_state_free(&rs);
        return diag->n - before;
}
