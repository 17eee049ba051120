/*
 * config_yaml: YAML text -> a small node tree that remembers where every key
 * and value was written.
 *
 * DESIGN: libyaml's event API drives an explicit stack (each node's parent
 * pointer), so nothing here recurses, and building stops at the first
 * collection nested deeper than FG_CONFIG_MAX_DEPTH: a 100,000-deep input
 * costs 33 nodes, not a stack overflow. Only plain data survives: anchors,
 * aliases, tags, a second document, non-scalar keys and NUL characters are
 * refused, so later stages see nothing but maps, lists and strings. Every
 * node is also listed in tree->all so freeing is one flat loop.
 * Input that is not text ends as one clean message: NUL bytes and invalid
 * UTF-8 are found by a pre-scan (exact position), control characters and
 * the rest by libyaml's reader ("YAML syntax error: ...").
 *
 * Threading: any thread; one call owns its parser.
 * Ownership: nodes belong to the tree; fg_config_tree_free() frees them.
 */
#include "config/config_int.h"
#include "common/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

static int tree_grow(void ***v, size_t *cap, size_t need) {
        if (need > *cap) {
                size_t ncap = *cap ? *cap * 2 : 8;
                void **nv;
                while (ncap < need)
                        ncap *= 2;
                nv = realloc(*v, ncap * sizeof(**v));
                if (!nv)
                        return -1;
                *v = nv;
                *cap = ncap;
        }
        return 0;
}

static fg_config_node_t *node_new(fg_config_tree_t *tree, fg_config_node_kind_t kind,
                                  const yaml_mark_t *mark) {
        fg_config_node_t *node;

        if (tree_grow((void ***)&tree->all, &tree->cap, tree->n + 1) < 0)
                return NULL;
        node = calloc(1, sizeof(*node));
        if (!node)
                return NULL;
        node->kind = kind;
        node->line = (int)mark->line + 1;
        node->col = (int)mark->column + 1;
        tree->all[tree->n++] = node;
        return node;
}

/* Byte offset -> 1-based line and column (columns count characters). */
static void offset_to_pos(const char *text, size_t len, size_t off, int *line, int *col) {
        *line = 1;
        *col = 1;
        for (size_t i = 0; i < off && i < len; i++) {
                if (text[i] == '\n') {
                        (*line)++;
                        *col = 1;
                } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
                        (*col)++;
                }
        }
}

/* The byte at 1-based @p line:@p col, or -1. */
static int char_at(const char *text, size_t len, int line, int col) {
        size_t i = 0;
        for (int l = 1; l < line; l++) {
                const char *nl = memchr(text + i, '\n', len - i);
                if (!nl)
                        return -1;
                i = (size_t)(nl - text) + 1;
        }
        for (int c = 1; c < col && i < len; c++) {
                i++;
                while (i < len && ((unsigned char)text[i] & 0xC0) == 0x80)
                        i++;
        }
        return i < len ? (unsigned char)text[i] : -1;
}

/* Offset of the first NUL byte or invalid UTF-8 sequence, or @p len.
 * libyaml would report these too, but reads NULs as a UTF-16 hint and
 * places UTF-8 errors at the trailing byte; this gives the exact spot. */
static size_t check_encoding(const char *text, size_t len) {
        const unsigned char *s = (const unsigned char *)text;
        size_t i = 0;

        while (i < len) {
                unsigned char c = s[i];
                size_t n;

                if (c == 0)
                        return i;
                if (c < 0x80) {
                        i++;
                        continue;
                }
                n = fg_utf8_seq_len(s + i, len - i);
                if (!n)
                        return i;
                i += n;
        }
        return len;
}

/* libyaml ends the stream on a line of its own: in a file without a final
 * newline its end mark is one line past the last. Point at the real end,
 * counting lines and columns as libyaml does (CR, LF, CRLF, NEL, LS and PS
 * break lines; a leading BOM is not a character). */
static void clamp_to_end(const char *text, size_t len, int *line, int *col) {
        const unsigned char *s = (const unsigned char *)text;
        int eline = 1, ecol = 1;
        size_t i = len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3) ? 3 : 0;

        while (i < len) {
                size_t brk = s[i] == '\r' && i + 1 < len && s[i + 1] == '\n' ? 2
                             : s[i] == '\r' || s[i] == '\n'                  ? 1
                             : i + 1 < len && s[i] == 0xC2 && s[i + 1] == 0x85 ? 2
                             : i + 2 < len && s[i] == 0xE2 && s[i + 1] == 0x80 &&
                                     (s[i + 2] == 0xA8 || s[i + 2] == 0xA9)
                                 ? 3
                                 : 0;

                if (brk) {
                        eline++;
                        ecol = 1;
                        i += brk;
                        continue;
                }
                if ((s[i] & 0xC0) != 0x80)
                        ecol++;
                i++;
        }
        if (*line > eline || (*line == eline && *col > ecol)) {
                *line = eline;
                *col = ecol;
        }
}

static void syntax_error(const yaml_parser_t *parser, const char *text, size_t len,
                         fg_config_diag_t *diag) {
        int line, col, cline, ccol, c;
        const char *problem = parser->problem ? parser->problem : "unknown error";
        const char *hint;

        switch (parser->error) {
        case YAML_MEMORY_ERROR:
                fg_config_diag_add(diag, 1, 1, "out of memory while parsing YAML");
                return;
        case YAML_READER_ERROR:
                offset_to_pos(text, len, parser->problem_offset, &line, &col);
                if (strstr(problem, "octet") || parser->problem_value < 0)
                        fg_config_diag_add(diag, line, col, "YAML syntax error: %s (byte 0x%02X)",
                                           problem, (unsigned)parser->problem_value & 0xFFu);
                else
                        fg_config_diag_add(diag, line, col,
                                           "YAML syntax error: %s (character U+%04X)", problem,
                                           (unsigned)parser->problem_value);
                return;
        default:
                break;
        }
        line = (int)parser->problem_mark.line + 1;
        col = (int)parser->problem_mark.column + 1;
        cline = (int)parser->context_mark.line + 1;
        ccol = (int)parser->context_mark.column + 1;
        clamp_to_end(text, len, &line, &col);
        clamp_to_end(text, len, &cline, &ccol);
        c = char_at(text, len, line, col);
        hint = c == '\t' ? "; YAML does not allow tabs here, indent with spaces" : "";
        if (!parser->context)
                fg_config_diag_add(diag, line, col, "YAML syntax error: %s%s", problem, hint);
        else if (cline != line || ccol != col)
                fg_config_diag_add(diag, line, col, "YAML syntax error: %s (%s at %d:%d)%s",
                                   problem, parser->context, cline, ccol, hint);
        else
                fg_config_diag_add(diag, line, col, "YAML syntax error: %s (%s)%s", problem,
                                   parser->context, hint);
}

static const char *kind_noun(fg_config_node_kind_t kind) {
        return kind == FG_NODE_MAP ? "a mapping" : kind == FG_NODE_SEQ ? "a list" : "a string";
}

/* Refuses anchors and tags on a node event. Returns 0 or -1 (reported). */
static int check_props(const yaml_event_t *ev, fg_config_diag_t *diag) {
        const yaml_char_t *anchor = NULL, *tag = NULL;
        int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
        char qbuf[80];

        if (ev->type == YAML_SCALAR_EVENT) {
                anchor = ev->data.scalar.anchor;
                tag = ev->data.scalar.tag;
        } else if (ev->type == YAML_SEQUENCE_START_EVENT) {
                anchor = ev->data.sequence_start.anchor;
                tag = ev->data.sequence_start.tag;
        } else if (ev->type == YAML_MAPPING_START_EVENT) {
                anchor = ev->data.mapping_start.anchor;
                tag = ev->data.mapping_start.tag;
        }
        if (anchor) {
                const char *a = (const char *)anchor;
                fg_config_diag_add(diag, line, col,
                                   "YAML aliases are not supported (found anchor '&%s')",
                                   fg_config_quote(a, strlen(a), 40, qbuf, sizeof(qbuf)));
                return -1;
        }
        if (tag) {
                const char *t = (const char *)tag;
                fg_config_diag_add(diag, line, col, "YAML tags are not supported (found '%s')",
                                   fg_config_quote(t, strlen(t), 40, qbuf, sizeof(qbuf)));
                return -1;
        }
        return 0;
}

/* Adds @p node under @p parent (or as the root). Returns 0 or -1 (reported). */
static int attach(fg_config_tree_t *tree, fg_config_node_t *parent, fg_config_node_t *node,
                  fg_config_diag_t *diag) {
        if (!parent) {
                tree->root = node;
                return 0;
        }
        if (parent->kind == FG_NODE_MAP && parent->n % 2 == 0 && node->kind != FG_NODE_SCALAR) {
                fg_config_diag_add(diag, node->line, node->col,
                                   "mapping keys must be strings, not %s", kind_noun(node->kind));
                return -1;
        }
        if (tree_grow((void ***)&parent->kids, &parent->cap, parent->n + 1) < 0) {
                fg_config_diag_add(diag, node->line, node->col, "out of memory");
                return -1;
        }
        parent->kids[parent->n++] = node;
        node->parent = parent;
        return 0;
}

/* Any thread. */
int fg_config_yaml_parse(const char *text, size_t len, fg_config_tree_t *tree,
                         fg_config_diag_t *diag) {
        yaml_parser_t parser;
        yaml_event_t ev;
        fg_config_node_t *cur = NULL, *node;
        size_t bad;
        int depth = 0, docs = 0, done = 0, rc = -1, have_ev = 0, line, col;
        char qbuf[80];

        bad = check_encoding(text, len);
        if (bad < len) {
                offset_to_pos(text, len, bad, &line, &col);
                if (!text[bad])
                        fg_config_diag_add(diag, line, col,
                                           "NUL byte in the input (a binary or UTF-16 file?)");
                else
                        fg_config_diag_add(diag, line, col,
                                           "invalid UTF-8 (byte 0x%02X); the configuration must "
                                           "be UTF-8 text",
                                           (unsigned char)text[bad]);
                return -1;
        }
        if (!yaml_parser_initialize(&parser)) {
                fg_config_diag_add(diag, 1, 1, "out of memory");
                return -1;
        }
        yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);

        while (!done) {
                if (!yaml_parser_parse(&parser, &ev)) {
                        syntax_error(&parser, text, len, diag);
                        goto out;
                }
                have_ev = 1;
                line = (int)ev.start_mark.line + 1;
                col = (int)ev.start_mark.column + 1;
                switch (ev.type) {
                case YAML_DOCUMENT_START_EVENT:
                        if (++docs > 1) {
                                fg_config_diag_add(diag, line, col,
                                                   "more than one YAML document "
                                                   "(a configuration is a single document)");
                                goto out;
                        }
                        break;
                case YAML_STREAM_END_EVENT:
                        done = 1;
                        break;
                case YAML_ALIAS_EVENT: {
                        const char *a = (const char *)ev.data.alias.anchor;
                        fg_config_diag_add(diag, line, col,
                                           "YAML aliases are not supported (found alias '*%s')",
                                           fg_config_quote(a, strlen(a), 40, qbuf, sizeof(qbuf)));
                        goto out;
                }
                case YAML_SCALAR_EVENT:
                        if (check_props(&ev, diag) < 0)
                                goto out;
                        if (memchr(ev.data.scalar.value, '\0', ev.data.scalar.length)) {
                                fg_config_diag_add(diag, line, col,
                                                   "strings must not contain NUL characters");
                                goto out;
                        }
                        node = node_new(tree, FG_NODE_SCALAR, &ev.start_mark);
                        if (!node || !(node->text = malloc(ev.data.scalar.length + 1))) {
                                fg_config_diag_add(diag, line, col, "out of memory");
                                goto out;
                        }
                        memcpy(node->text, ev.data.scalar.value, ev.data.scalar.length);
                        node->text[ev.data.scalar.length] = '\0';
                        node->len = ev.data.scalar.length;
                        node->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
                        if (attach(tree, cur, node, diag) < 0)
                                goto out;
                        break;
                case YAML_SEQUENCE_START_EVENT:
                case YAML_MAPPING_START_EVENT:
                        if (check_props(&ev, diag) < 0)
                                goto out;
                        if (depth >= FG_CONFIG_MAX_DEPTH) {
                                fg_config_diag_add(diag, line, col,
                                                   "nesting is deeper than %d levels",
                                                   FG_CONFIG_MAX_DEPTH);
                                goto out;
                        }
                        node = node_new(tree,
                                        ev.type == YAML_MAPPING_START_EVENT ? FG_NODE_MAP
                                                                            : FG_NODE_SEQ,
                                        &ev.start_mark);
                        if (!node) {
                                fg_config_diag_add(diag, line, col, "out of memory");
                                goto out;
                        }
                        if (attach(tree, cur, node, diag) < 0)
                                goto out;
                        cur = node;
                        depth++;
                        break;
                case YAML_SEQUENCE_END_EVENT:
                case YAML_MAPPING_END_EVENT:
                        cur = cur->parent;
                        depth--;
                        break;
                default: /* stream start, document end, no-op */
                        break;
                }
                yaml_event_delete(&ev);
                have_ev = 0;
        }

        node = tree->root;
        if (!node || (node->kind == FG_NODE_SCALAR && node->plain && !node->len)) {
                fg_config_diag_add(diag, 1, 1, "configuration is empty");
                goto out;
        }
        if (node->kind != FG_NODE_MAP) {
                if (node->kind == FG_NODE_SCALAR)
                        fg_config_diag_add(diag, node->line, node->col,
                                           "the top level must be a mapping, got '%s'",
                                           fg_config_quote(node->text, node->len, 40, qbuf,
                                                           sizeof(qbuf)));
                else
                        fg_config_diag_add(diag, node->line, node->col,
                                           "the top level must be a mapping, got %s",
                                           kind_noun(node->kind));
                goto out;
        }
        rc = 0;

out:
        if (have_ev)
                yaml_event_delete(&ev);
        yaml_parser_delete(&parser);
        return rc;
}

/* Any thread. Accepts a zeroed or partly built tree. */
void fg_config_tree_free(fg_config_tree_t *tree) {
        if (!tree)
                return;
        for (size_t i = 0; i < tree->n; i++) {
                free(tree->all[i]->text);
                free(tree->all[i]->kids);
                free(tree->all[i]);
        }
        free(tree->all);
        memset(tree, 0, sizeof(*tree));
}
