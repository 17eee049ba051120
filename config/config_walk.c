/*
 * config_walk: the node tree + the option table -> a validated fg_config_t.
 *
 * DESIGN: the walk visits the root mapping and, through it, only the
 * sections the table knows, so its recursion depth is bounded by the table
 * (a dotted name has at most three parts), never by the input. Every key is
 * either an option (converted by config_value.c), a section (descended
 * into) or unknown (reported with the closest sibling as a suggestion).
 * Nothing stops at the first problem: each option records whether it was
 * set, unset or bad, so that after the walk the required-key check and the
 * cross-option rules (config_table.c) run only where they make sense and no
 * error is a knock-on effect of another.
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

typedef struct walk {
        fg_config_ctx_t ctx;
        const fg_config_tree_t *tree;
        unsigned char *state; /* per option: ST_* */
        int *line, *col;      /* per option: where its value was written */
} walk_t;

static bool is_section(const char *full) {
        size_t len = strlen(full);
        for (size_t i = 0; i < fg_config_nopts; i++)
                if (!strncmp(fg_config_opts[i].name, full, len) &&
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

/* The sibling of @p key under @p prefix closest to it, if close enough. */
static const char *suggest(const char *prefix, const char *key, size_t klen, char *buf,
                           size_t size) {
        size_t plen = strlen(prefix), best = SIZE_MAX;

        if (klen > MAX_KEY)
                return NULL;
        for (size_t i = 0; i < fg_config_nopts; i++) {
                const char *name = fg_config_opts[i].name, *sib, *dot;
                size_t slen, d, limit;
                if (plen && (strncmp(name, prefix, plen) || name[plen] != '.'))
                        continue;
                sib = plen ? name + plen + 1 : name;
                dot = strchr(sib, '.');
                slen = dot ? (size_t)(dot - sib) : strlen(sib);
                if (slen > MAX_KEY)
                        continue;
                d = fg_config_edit_distance(key, klen, sib, slen);
                limit = slen <= 3 ? 1 : slen <= 6 ? 2 : 3;
                if (d <= limit && d < best && slen < size) {
                        best = d;
                        memcpy(buf, sib, slen);
                        buf[slen] = '\0';
                }
        }
        return best == SIZE_MAX ? NULL : buf;
}

static void unknown_key(walk_t *w, const char *prefix, const fg_config_node_t *key) {
        char qbuf[128], sbuf[MAX_KEY + 1], hint[160] = "";
        const char *s = suggest(prefix, key->text, key->len, sbuf, sizeof(sbuf));

        if (s)
                snprintf(hint, sizeof(hint), " (did you mean '%s'?)", s);
        fg_config_diag_add(w->ctx.diag, key->line, key->col, "unknown key '%s' %s%s%s%s",
                           fg_config_quote(key->text, key->len, 60, qbuf, sizeof(qbuf)),
                           *prefix ? "in '" : "at top level", prefix, *prefix ? "'" : "", hint);
}

static void mark(walk_t *w, int idx, const fg_config_node_t *val, int ok) {
        w->state[idx] = ok == 0 ? ST_SET : ST_BAD;
        w->line[idx] = val->line;
        w->col[idx] = val->col;
}

static void walk_map(walk_t *w, const fg_config_node_t *map, const char *prefix) {
        size_t np = map->n / 2;
        bool *skip = calloc(np + 1, sizeof(*skip));

        if (!skip)
                fg_config_diag_add(w->ctx.diag, map->line, map->col, "out of memory");
        if (!skip || fg_config_dup_keys(&w->ctx, map, prefix, skip) < 0) {
                free(skip);
                return;
        }
        for (size_t i = 0; i < np; i++) {
                const fg_config_node_t *key = map->kids[2 * i], *val = map->kids[2 * i + 1];
                char full[2 * MAX_KEY + 2];
                int idx;

                if (skip[i])
                        continue;
                if (key->len > MAX_KEY || strlen(prefix) > MAX_KEY) {
                        unknown_key(w, prefix, key);
                        continue;
                }
                snprintf(full, sizeof(full), "%s%s%s", prefix, *prefix ? "." : "", key->text);
                idx = fg_config_opt_find(full);
                if (idx >= 0 && fg_config_opts[idx].type != FG_OPT_SECTION) {
                        const fg_opt_t *opt = &fg_config_opts[idx];
                        mark(w, idx, val, fg_config_set_value(&w->ctx, opt, val));
                } else if (idx >= 0 || is_section(full)) {
                        if (val->kind != FG_NODE_MAP) {
                                fg_config_type_error(&w->ctx, full, val, val->text, "a mapping",
                                                     NULL);
                                if (idx >= 0)
                                        mark(w, idx, val, -1);
                                continue;
                        }
                        if (idx >= 0) {
                                *(bool *)fg_config_field(w->ctx.cfg, &fg_config_opts[idx]) = true;
                                mark(w, idx, val, 0);
                        }
                        walk_map(w, val, full);
                } else {
                        unknown_key(w, prefix, key);
                }
        }
        free(skip);
}

/* Where to report a missing @p name: the key of its deepest present
 * section, 1:1 at top level. Returns -1 when the error would only repeat
 * another (a section given as a scalar, or an optional section absent). */
static int missing_pos(walk_t *w, const char *name, int *line, int *col) {
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
                if (idx >= 0 && w->state[idx] != ST_SET)
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

/* Any thread. */
size_t fg_config_walk(const fg_config_tree_t *tree, fg_config_t *cfg, fg_config_diag_t *diag) {
        size_t before = diag->n;
        walk_t w = {.ctx = {.cfg = cfg, .diag = diag}, .tree = tree};

        w.state = calloc(fg_config_nopts, sizeof(*w.state));
        w.line = calloc(fg_config_nopts, sizeof(*w.line));
        w.col = calloc(fg_config_nopts, sizeof(*w.col));
        if (!w.state || !w.line || !w.col) {
                fg_config_diag_add(diag, 1, 1, "out of memory");
                goto out;
        }
        walk_map(&w, tree->root, "");

        for (size_t i = 0; i < fg_config_nopts; i++) {
                int line, col;
                if (!(fg_config_opts[i].flags & FG_OPT_F_REQUIRED) || w.state[i] != ST_UNSET)
                        continue;
                if (missing_pos(&w, fg_config_opts[i].name, &line, &col) == 0)
                        fg_config_diag_add(diag, line, col, "missing required key '%s'",
                                           fg_config_opts[i].name);
        }

        for (size_t c = 0; c < fg_config_nchecks; c++) {
                const fg_config_check_t *chk = &fg_config_checks[c];
                int line = 1, col = 1, skip = 0, placed = 0;
                char msg[256];

                for (size_t k = 0; k < 4 && chk->opts[k]; k++) {
                        int idx = fg_config_opt_find(chk->opts[k]);
                        if (idx < 0 || w.state[idx] == ST_BAD ||
                            ((fg_config_opts[idx].flags & FG_OPT_F_REQUIRED) &&
                             w.state[idx] == ST_UNSET))
                                skip = 1;
                        else if (w.state[idx] == ST_SET && !placed) {
                                line = w.line[idx];
                                col = w.col[idx];
                                placed = 1;
                        }
                }
                if (!skip && chk->fn(cfg, msg, sizeof(msg)) < 0)
                        fg_config_diag_add(diag, line, col, "%s", msg);
        }
        free(cfg->pos);
        cfg->pos = calloc(fg_config_nopts, sizeof(*cfg->pos));
        if (!cfg->pos) {
                fg_config_diag_add(diag, 1, 1, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < fg_config_nopts; i++)
                if (w.state[i] == ST_SET)
                        cfg->pos[i] = (struct fg_config_pos){w.line[i], w.col[i]};
out:
        free(w.state);
        free(w.line);
        free(w.col);
        return diag->n - before;
}
