/*
 * config_int.h: private interfaces between the files of the config module.
 *
 *   config.c        public entry points: read the file, run the stages,
 *                   destroy, diff
 *   config_diag.c   diagnostics: collect, sort, format; quoting values
 *   config_yaml.c   libyaml events -> node tree with line/column marks
 *   config_env.c    ${VAR} / ${VAR:-default} / $$ expansion of values
 *   config_walk.c   node tree + option table -> fg_config_t: sections,
 *                   unknown keys, required keys, cross-option rules
 *   config_value.c  one value -> one typed field; defaults
 *   config_table.c  THE option table and the cross-option checks
 *   config_ref.c    the reference documentation printed from the table
 *
 * Threading: everything here is pure and runs on the caller's thread; no
 * globals except the constant table.
 * Ownership: a fg_config_tree_t owns every node it lists in all[]; a
 * fg_config_diag_t owns its messages until fg_config_diag_finish() moves
 * them into the caller's fg_config_errs_t.
 */
#ifndef FG_CONFIG_INT_H
#define FG_CONFIG_INT_H

#include "config/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ */
/* Diagnostics */

typedef struct fg_config_diag_item {
        int line, col; /* 1-based; 0 when the message has no position */
        size_t seq;    /* insertion order, keeps the sort stable */
        char *msg;     /* without the "path:line:col: " prefix */
} fg_config_diag_item_t;

typedef struct fg_config_diag {
        const char *path;
        fg_config_diag_item_t *items;
        size_t n, cap;
        bool oom; /* a message was lost to a failed allocation */
} fg_config_diag_t;

/* Records one message at @p line:@p col (0:0 = about the file, no position). */
void fg_config_diag_add(fg_config_diag_t *diag, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Sorts by position (file order), formats "path:line:col: msg" into @p errs
 * and frees @p diag's storage. */
void fg_config_diag_finish(fg_config_diag_t *diag, fg_config_errs_t *errs);

/* Writes @p s (length @p len) into @p buf for quoting in a message: control
 * and non-ASCII bytes escaped, truncated with "..." past @p max characters. */
const char *fg_config_quote(const char *s, size_t len, size_t max, char *buf, size_t size);

/* ------------------------------------------------------------------ */
/* Node tree (config_yaml.c) */

typedef enum fg_config_node_kind {
        FG_NODE_SCALAR,
        FG_NODE_SEQ,
        FG_NODE_MAP,
} fg_config_node_kind_t;

typedef struct fg_config_node fg_config_node_t;
struct fg_config_node {
        fg_config_node_kind_t kind;
        int line, col;            /* where the node starts, 1-based */
        bool plain;               /* scalar written without quotes */
        char *text;               /* scalar text, NUL-terminated, no NUL inside */
        size_t len;               /* strlen(text) */
        fg_config_node_t **kids;  /* SEQ: items; MAP: key, value, key, value, ... */
        size_t n, cap;            /* entries in kids (twice the pairs for a MAP) */
        fg_config_node_t *parent; /* only used while building */
};

typedef struct fg_config_tree {
        fg_config_node_t *root; /* a MAP when the parse succeeded */
        fg_config_node_t **all; /* every node, for a flat (non-recursive) free */
        size_t n, cap;
} fg_config_tree_t;

/* Parses @p text into @p tree (zeroed by the caller). Returns 0, or -1 after
 * adding exactly one message to @p diag; the tree is then still freeable. */
int fg_config_yaml_parse(const char *text, size_t len, fg_config_tree_t *tree,
                         fg_config_diag_t *diag);
void fg_config_tree_free(fg_config_tree_t *tree);

/* ------------------------------------------------------------------ */
/* Environment expansion (config_env.c) */

/* Returns a malloc'ed copy of @p in with ${VAR}, ${VAR:-default} and $$
 * expanded from getenv(), or NULL with the reason in @p errstr. */
char *fg_config_env_expand(const char *in, char *errstr, size_t errstr_size);

/* ------------------------------------------------------------------ */
/* The option table (config_table.c) */

typedef enum fg_opt_type {
        FG_OPT_STRING,
        FG_OPT_INT,
        FG_OPT_BOOL,
        FG_OPT_RATIO,
        FG_OPT_DURATION,
        FG_OPT_SIZE,
        FG_OPT_ENUM,
        FG_OPT_STRLIST,
        FG_OPT_STRMAP,
        FG_OPT_SECTION, /* an optional section; its bool field says it was present */
        FG_OPT_SUB,     /* an optional copy of another section (.sub): a pointer, NULL if absent */
        FG_OPT_LIST,    /* a list of mappings whose keys are .parts: an fg_config_list_t */
} fg_opt_type_t;

#define FG_OPT_F_REQUIRED 0x01u /* must be given (no default) */
#define FG_OPT_F_LIVE     0x02u /* may change on reload without a restart */
#define FG_OPT_F_NONEMPTY 0x04u /* string, list and list items must not be empty */
#define FG_OPT_F_UNIQUE   0x08u /* list items must be distinct */
#define FG_OPT_F_MIN_EXCL 0x10u /* ratio: the minimum itself is not allowed */
#define FG_OPT_F_MAX_EXCL 0x20u /* ratio: the maximum itself is not allowed */
#define FG_OPT_F_OCTAL    0x40u /* integer written and shown in octal: a file mode */

typedef struct fg_opt_enum {
        const char *name;
        int value;
} fg_opt_enum_t;

/* One key of a LIST element: a string (rows NULL), or a mapping read with
 * the table rows under @p rows (re-based from base_off in fg_config_t to
 * elem_off in the element). */
typedef struct fg_opt_part {
        const char *key;
        const char *rows;     /* table prefix ("sink"); NULL: the key is a string */
        size_t elem_off;      /* offsetof(element, field) */
        size_t base_off;      /* offsetof(fg_config_t, the section the rows describe) */
        size_t size;          /* sizeof that section */
        bool required;
        bool inherit;         /* start from the top-level section's values, not the defaults */
} fg_opt_part_t;

/* The in-memory shape of every FG_OPT_LIST field (typed lists such as
 * fg_route_list_t have this layout). */
typedef struct fg_config_list {
        void *v;
        size_t n;
} fg_config_list_t;

/* A key refused inside a string map, with the hint to show instead. */
typedef struct fg_opt_reserved {
        const char *key;
        const char *hint;
} fg_opt_reserved_t;

typedef struct fg_opt {
        const char *name;  /* dotted path: "queue.capacity" */
        fg_opt_type_t type;
        unsigned flags;    /* FG_OPT_F_* */
        size_t offset;     /* offsetof(fg_config_t, field) */
        int64_t def;       /* INT, DURATION (ns), SIZE (bytes), BOOL, ENUM value */
        double def_ratio;  /* RATIO */
        const char *def_str; /* STRING; NULL = no value */
        int64_t min, max;  /* INT, DURATION, SIZE: inclusive bounds */
        double rmin, rmax; /* RATIO bounds, see FG_OPT_F_*_EXCL */
        const fg_opt_enum_t *enums;        /* ENUM: {NULL}-terminated */
        const fg_opt_reserved_t *reserved; /* STRMAP: {NULL}-terminated or NULL */
        const char *sub;   /* SUB: the table prefix of the section it copies ("sink") */
        size_t sub_base;   /* SUB: offsetof(fg_config_t, that section) */
        size_t sub_size;   /* SUB: sizeof that section; LIST: sizeof an element */
        const fg_opt_part_t *parts; /* LIST: the element's keys, {NULL}-terminated */
        /* STRMAP entries (@p key set) and STRLIST items (@p key NULL), after
         * expansion: 0, or -1 with the message (no option prefix) in @p msg;
         * *at_key places it at the entry's key instead of its value. NULL =
         * anything goes. */
        int (*check_entry)(const char *key, const char *value, bool *at_key, char *msg,
                           size_t msg_size);
        const char *help;  /* one line */
} fg_opt_t;

extern const fg_opt_t fg_config_opts[];
extern const size_t fg_config_nopts;

/* Where the rows being read live: the root config, or a nested copy of one
 * of its sections (sink.fallback, a route's sink, filter or breaker). A row
 * belongs to a frame when its name starts with "<rows>."; its field is at
 * base + (row offset - base_off), and messages call it "<shown>.<rest>". */
typedef struct fg_config_frame {
        const char *rows;   /* table prefix; "" = every row (the root) */
        const char *shown;  /* the prefix messages use ("routes[2].sink"); "" at the root */
        void *base;         /* the struct the fields live in */
        size_t base_off;    /* offsetof(fg_config_t, that struct); 0 at the root */
        bool nested_subs;   /* SUB rows may be given here (the root, a route's sink) */
} fg_config_frame_t;

/* Does @p opt belong to @p fr (SUB and LIST rows only where allowed)? */
bool fg_config_frame_has(const fg_config_frame_t *fr, const fg_opt_t *opt);
/* @p opt's field inside @p fr. */
static inline void *fg_config_frame_field(const fg_config_frame_t *fr, const fg_opt_t *opt) {
        return (char *)fr->base + (opt->offset - fr->base_off);
}
/* @p opt's name as @p fr shows it, into @p buf. */
const char *fg_config_frame_name(const fg_config_frame_t *fr, const fg_opt_t *opt, char *buf,
                                 size_t size);

/* A rule that involves several options, run after every option was read.
 * Skipped when one of @p opts had an error of its own. The error is placed
 * at the first of @p opts that the file sets (at the section's key, or 1:1,
 * when none is set). Rules of a section (.section "sink") run for every
 * copy of it too, with @p sect pointing at the copy and @p shown its name
 * in messages ("sink.fallback"); root rules (.section "") get the whole
 * config as @p sect. */
typedef struct fg_config_check {
        const char *section; /* "" or the table prefix of the section it checks */
        size_t sect_off;     /* offsetof(fg_config_t, that section); 0 for "" */
        const char *opts[6]; /* option names, NULL-terminated; the error points at the first one set */
        /* Returns 0, or -1 with the message in @p msg. */
        int (*fn)(const fg_config_t *cfg, const void *sect, const char *shown, char *msg,
                  size_t msg_size);
} fg_config_check_t;

extern const fg_config_check_t fg_config_checks[];
extern const size_t fg_config_nchecks;

/* The table index of @p name, or -1. */
int fg_config_opt_find(const char *name);

/* Optimal string alignment distance between two strings of at most
 * FG_CONFIG_MAX_KEY bytes (a transposition counts 1), ASCII
 * case-insensitive: what "did you mean" suggestions are ranked by. */
#define FG_CONFIG_MAX_KEY 100
size_t fg_config_edit_distance(const char *a, size_t la, const char *b, size_t lb);

/* Where each option was written: cfg->pos[i] for fg_config_opts[i], line
 * 0 when the file does not set it. Filled by the walk, for the messages
 * of fg_config_probe(). */
struct fg_config_pos {
        int line, col;
};

/* Pointer to @p opt's field inside @p cfg. */
static inline void *fg_config_field(const fg_config_t *cfg, const fg_opt_t *opt) {
        return (char *)cfg + opt->offset;
}

/* Writes @p opt's value in @p cfg the way the config file spells it
 * ("30s", "32MiB", "info", "0.9"); lists and maps are flow YAML. */
const char *fg_config_format_value(const fg_config_t *cfg, const fg_opt_t *opt, char *buf,
                                   size_t size);

/* What @p opt expects, for "expected ..." messages: "an integer",
 * "a duration", "one of: stdout, file, null". Returns @p buf or a constant. */
const char *fg_config_type_noun(const fg_opt_t *opt, char *buf, size_t size);

/* ------------------------------------------------------------------ */
/* Values (config_value.c) */

/* What converting one value needs: where to store it, where to report. */
typedef struct fg_config_ctx {
        fg_config_t *cfg;
        fg_config_diag_t *diag;
        const fg_config_frame_t *frame; /* where the fields of the rows being read live */
        char name[160];                 /* the option being set, as messages call it */
} fg_config_ctx_t;

/* Converts @p val into @p opt's field of ctx->cfg (any type but SECTION).
 * Returns 0, or -1 after reporting; the field then keeps its old value. */
int fg_config_set_value(fg_config_ctx_t *ctx, const fg_opt_t *opt, const fg_config_node_t *val);

/* Reports "<name>: expected <noun>, got <what val is>[ (<why>)]"; @p text
 * is the (expanded) scalar text, NULL to use the node's kind. */
void fg_config_type_error(fg_config_ctx_t *ctx, const char *name, const fg_config_node_t *val,
                          const char *text, const char *noun, const char *why);

/* Reports each repeated key of @p map ("duplicate key 'k' in '<prefix>'",
 * "at top level" for prefix "") and flags it in @p skip (one per pair).
 * Returns 0, -1 on OOM (reported). */
int fg_config_dup_keys(fg_config_ctx_t *ctx, const fg_config_node_t *map, const char *prefix,
                       bool *skip);

/* ------------------------------------------------------------------ */
/* Walk (config_walk.c) */

/* Fills @p cfg (defaults already applied) from @p tree's root mapping and
 * validates it; every problem goes to @p diag. Returns the number of errors
 * added. */
size_t fg_config_walk(const fg_config_tree_t *tree, fg_config_t *cfg, fg_config_diag_t *diag);

/* Sets every option of @p cfg to its table default. Returns 0, -1 on OOM. */
int fg_config_apply_defaults(fg_config_t *cfg);
/* The same for the rows of one frame. */
int fg_config_frame_defaults(const fg_config_frame_t *fr);

/* Frees every string, list and map of @p cfg (through the table), the
 * nested sections and lists, and its path, but not @p cfg itself. */
void fg_config_free_fields(fg_config_t *cfg);
/* The same for the rows of one frame (nested ones included). */
void fg_config_frame_free(const fg_config_frame_t *fr);

/* The frame of part @p part of element @p elem of a LIST row, named
 * @p shown in messages. */
fg_config_frame_t fg_config_part_frame(const fg_opt_part_t *part, void *elem, const char *shown);
/* The frame of the copy @p sect of a SUB row @p opt, named @p shown. */
fg_config_frame_t fg_config_sub_frame(const fg_opt_t *opt, void *sect, const char *shown);

#endif
