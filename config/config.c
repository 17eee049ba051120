/*
 * config: the public entry points of the configuration module.
 *
 * DESIGN: a load is a pipeline of pure stages over one file's bytes:
 *   read (regular file, at most FG_CONFIG_MAX_FILE_SIZE)
 *   -> config_yaml.c: libyaml events -> node tree with line:col marks
 *   -> config_walk.c: defaults, then the tree checked against the option
 *      table (config_table.c), ${VAR} expansion of values (config_env.c),
 *      required keys and cross-option rules
 * Every stage reports into one fg_config_diag_t; a structural failure
 * (unreadable file, YAML syntax) ends the load there, anything later is
 * collected so one run shows every mistake. The diagnostics are sorted into
 * file order and capped at MAX_ERRORS lines before they reach the caller.
 *
 * Threading: every function here may run on any thread; nothing is shared
 * (see config.h: the daemon loads on the main thread and then shares the
 * config read-only).
 * Ownership: a returned fg_config_t owns all its strings, lists and maps;
 * fg_config_destroy() frees them by walking the option table, so a new row
 * needs no change here.
 */
#include "config/config_int.h"

#include "common/units.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- loading ---- */

static fg_config_t *load_text(fg_config_diag_t *diag, const char *text, size_t len) {
        fg_config_tree_t tree = {0};
        fg_config_t *cfg = NULL;

        if (len > FG_CONFIG_MAX_FILE_SIZE) {
                char lim[32];
                fg_config_diag_add(diag, 0, 0,
                                   "configuration is too large (%zu bytes; the limit is %s)", len,
                                   fg_format_size(FG_CONFIG_MAX_FILE_SIZE, lim, sizeof(lim)));
                goto out;
        }
        if (fg_config_yaml_parse(text, len, &tree, diag) < 0)
                goto out;
        cfg = calloc(1, sizeof(*cfg));
        if (!cfg || !(cfg->path = strdup(diag->path)) || fg_config_apply_defaults(cfg) < 0) {
                fg_config_diag_add(diag, 0, 0, "out of memory");
                goto out;
        }
        fg_config_walk(&tree, cfg, diag);
out:
        fg_config_tree_free(&tree);
        if (cfg && (diag->n || diag->oom)) {
                fg_config_destroy(cfg);
                cfg = NULL;
        }
        return cfg;
}

/* Any thread. */
fg_config_t *fg_config_load_string(const char *name, const char *text, size_t len,
                                   fg_config_errs_t *errs) {
        fg_config_diag_t diag = {.path = name ? name : "<string>"};
        fg_config_t *cfg = load_text(&diag, text ? text : "", text ? len : 0);
        fg_config_diag_finish(&diag, errs);
        return cfg;
}

/* GNU strerror_r (the Makefile defines _GNU_SOURCE): thread-safe, and
 * returns either @p buf or a static string. */
static const char *errno_str(int err, char *buf, size_t size) {
        return strerror_r(err, buf, size);
}

/* Any thread. */
fg_config_t *fg_config_load(const char *path, fg_config_errs_t *errs) {
        fg_config_diag_t diag = {.path = path};
        fg_config_t *cfg = NULL;
        struct stat st;
        char *text = NULL, ebuf[128];
        size_t len = 0, cap;
        int fd;

        /* O_NONBLOCK: a FIFO must not hang the open; it is refused below. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                fg_config_diag_add(&diag, 0, 0, "cannot open: %s",
                                   errno_str(errno, ebuf, sizeof(ebuf)));
                goto out;
        }
        if (fstat(fd, &st) < 0) {
                fg_config_diag_add(&diag, 0, 0, "cannot stat: %s",
                                   errno_str(errno, ebuf, sizeof(ebuf)));
                goto out;
        }
        if (!S_ISREG(st.st_mode)) {
                fg_config_diag_add(&diag, 0, 0, "not a regular file%s",
                                   S_ISDIR(st.st_mode) ? " (a directory)" : "");
                goto out;
        }
        if (st.st_size > FG_CONFIG_MAX_FILE_SIZE) {
                char lim[32];
                fg_config_diag_add(&diag, 0, 0, "file is too large (%lld bytes; the limit is %s)",
                                   (long long)st.st_size,
                                   fg_format_size(FG_CONFIG_MAX_FILE_SIZE, lim, sizeof(lim)));
                goto out;
        }
        /* The file may change under us: read at most one byte past the limit. */
        cap = (size_t)st.st_size + 1;
        text = malloc(cap);
        if (!text) {
                fg_config_diag_add(&diag, 0, 0, "out of memory");
                goto out;
        }
        for (;;) {
                ssize_t r;
                if (len == cap) {
                        char *t;
                        if (cap > FG_CONFIG_MAX_FILE_SIZE)
                                break;
                        cap = cap * 2 > FG_CONFIG_MAX_FILE_SIZE + 1 ? FG_CONFIG_MAX_FILE_SIZE + 1
                                                                    : cap * 2;
                        t = realloc(text, cap);
                        if (!t) {
                                fg_config_diag_add(&diag, 0, 0, "out of memory");
                                goto out;
                        }
                        text = t;
                }
                r = read(fd, text + len, cap - len);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0) {
                        fg_config_diag_add(&diag, 0, 0, "cannot read: %s",
                                           errno_str(errno, ebuf, sizeof(ebuf)));
                        goto out;
                }
                if (r == 0)
                        break;
                len += (size_t)r;
        }
        cfg = load_text(&diag, text, len);
out:
        if (fd >= 0)
                close(fd);
        free(text);
        fg_config_diag_finish(&diag, errs);
        return cfg;
}

/* ---- lifetime ---- */

/* Any thread, by the config's owner. */
void fg_config_free_fields(fg_config_t *cfg) {
        fg_config_frame_t root = {.rows = "", .shown = "", .base = cfg, .nested_subs = true};

        fg_config_frame_free(&root);
        free(cfg->path);
        cfg->path = NULL;
        free(cfg->pos);
        cfg->pos = NULL;
}

/* Any thread, by the config's owner, once no other thread reads it. */
bool fg_config_has_sink(const fg_config_t *cfg) {
        int idx = fg_config_opt_find("sink.type");

        return !cfg->routes.n || (idx >= 0 && cfg->pos && cfg->pos[idx].line > 0);
}

void fg_config_destroy(fg_config_t *cfg) {
        if (!cfg)
                return;
        fg_config_free_fields(cfg);
        free(cfg);
}

/* Any thread, by the owner of @p errs. Leaves it zeroed for reuse. */
void fg_config_errs_clear(fg_config_errs_t *errs) {
        if (!errs)
                return;
        for (size_t i = 0; i < errs->n; i++)
                free(errs->msgs[i]);
        free(errs->msgs);
        errs->msgs = NULL;
        errs->n = 0;
}

/* ---- queries ---- */

static bool str_eq(const char *a, const char *b) {
        return a == b || (a && b && !strcmp(a, b));
}

/* Plain rows only (not SUB or LIST). */
static bool field_equal(const void *fa, const void *fb, const fg_opt_t *opt) {
        switch (opt->type) {
        case FG_OPT_STRING:
                return str_eq(*(char *const *)fa, *(char *const *)fb);
        case FG_OPT_INT:
        case FG_OPT_DURATION:
        case FG_OPT_SIZE:
                return *(const int64_t *)fa == *(const int64_t *)fb;
        case FG_OPT_BOOL:
        case FG_OPT_SECTION:
                return *(const bool *)fa == *(const bool *)fb;
        case FG_OPT_RATIO:
                return *(const double *)fa == *(const double *)fb;
        case FG_OPT_ENUM:
                return *(const int *)fa == *(const int *)fb;
        case FG_OPT_STRLIST: {
                const fg_strlist_t *la = fa, *lb = fb;
                if (la->n != lb->n)
                        return false;
                for (size_t i = 0; i < la->n; i++)
                        if (!str_eq(la->v[i], lb->v[i]))
                                return false;
                return true;
        }
        case FG_OPT_STRMAP: {
                /* Keys are unique, so equal sizes + every pair found = equal. */
                const fg_strmap_t *ma = fa, *mb = fb;
                if (ma->n != mb->n)
                        return false;
                for (size_t i = 0; i < ma->n; i++)
                        if (!str_eq(ma->values[i], fg_strmap_get(mb, ma->keys[i])))
                                return false;
                return true;
        }
        case FG_OPT_SUB:
        case FG_OPT_LIST:
                break;
        }
        return false;
}

typedef struct differ {
        void (*cb)(const char *name, bool live, void *opaque);
        void *opaque;
        size_t n;
} differ_t;

static void report(differ_t *d, const char *name, bool live) {
        d->n++;
        if (d->cb)
                d->cb(name, live, d->opaque);
}

static void diff_frame(differ_t *d, const fg_config_frame_t *a, const fg_config_frame_t *b,
                       int live);

/* A copy (SUB) changes as a whole when it comes or goes, else row by row;
 * its rows are as live as the row that holds the copy. */
static void diff_sub(differ_t *d, const fg_opt_t *opt, void *pa, void *pb, const char *name,
                     bool live) {
        fg_config_frame_t fa, fb;

        if (!pa && !pb)
                return;
        if (!pa || !pb) {
                report(d, name, live);
                return;
        }
        fa = fg_config_sub_frame(opt, pa, name);
        fb = fg_config_sub_frame(opt, pb, name);
        diff_frame(d, &fa, &fb, live);
}

/* A list changes as a whole when its length does, else element by element. */
static void diff_list(differ_t *d, const fg_opt_t *opt, const fg_config_list_t *la,
                      const fg_config_list_t *lb, bool live) {
        if (la->n != lb->n) {
                report(d, opt->name, live);
                return;
        }
        for (size_t i = 0; i < la->n; i++) {
                char *ea = (char *)la->v + i * opt->sub_size, *eb = (char *)lb->v + i * opt->sub_size;
                for (const fg_opt_part_t *part = opt->parts; part->key; part++) {
                        char name[160];
                        snprintf(name, sizeof(name), "%s[%zu].%s", opt->name, i, part->key);
                        if (!part->rows) {
                                if (!str_eq(*(char **)(ea + part->elem_off),
                                            *(char **)(eb + part->elem_off)))
                                        report(d, name, live);
                        } else {
                                fg_config_frame_t fa = fg_config_part_frame(part, ea, name);
                                fg_config_frame_t fb = fg_config_part_frame(part, eb, name);
                                diff_frame(d, &fa, &fb, live);
                        }
                }
        }
}

/* @p live: -1 = each row says; else how live the enclosing copy is. */
static void diff_frame(differ_t *d, const fg_config_frame_t *a, const fg_config_frame_t *b,
                       int live) {
        for (size_t i = 0; i < fg_config_nopts; i++) {
                const fg_opt_t *opt = &fg_config_opts[i];
                bool row_live = live >= 0 ? live : (opt->flags & FG_OPT_F_LIVE) != 0;
                void *fa, *fb;
                char name[192];

                if (!fg_config_frame_has(a, opt))
                        continue;
                fa = fg_config_frame_field(a, opt);
                fb = fg_config_frame_field(b, opt);
                if (opt->type == FG_OPT_SUB)
                        diff_sub(d, opt, *(void **)fa, *(void **)fb,
                                 fg_config_frame_name(a, opt, name, sizeof(name)), row_live);
                else if (opt->type == FG_OPT_LIST)
                        diff_list(d, opt, fa, fb, row_live);
                else if (!field_equal(fa, fb, opt))
                        report(d, fg_config_frame_name(a, opt, name, sizeof(name)), row_live);
        }
}

/* Any thread; @p old and @p cur must stay alive for the call. */
size_t fg_config_diff(const fg_config_t *old, const fg_config_t *cur,
                      void (*cb)(const char *name, bool live, void *opaque), void *opaque) {
        differ_t d = {.cb = cb, .opaque = opaque};
        fg_config_frame_t fa = {.rows = "", .shown = "", .base = (void *)old, .nested_subs = true};
        fg_config_frame_t fb = {.rows = "", .shown = "", .base = (void *)cur, .nested_subs = true};

        if (!old || !cur)
                return 0;
        diff_frame(&d, &fa, &fb, -1);
        return d.n;
}
