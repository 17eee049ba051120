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
        for (size_t i = 0; i < fg_config_nopts; i++) {
                const fg_opt_t *opt = &fg_config_opts[i];
                void *field = fg_config_field(cfg, opt);
                if (opt->type == FG_OPT_STRING) {
                        free(*(char **)field);
                        *(char **)field = NULL;
                } else if (opt->type == FG_OPT_STRLIST) {
                        fg_strlist_t *list = field;
                        for (size_t k = 0; k < list->n; k++)
                                free(list->v[k]);
                        free(list->v);
                        memset(list, 0, sizeof(*list));
                } else if (opt->type == FG_OPT_STRMAP) {
                        fg_strmap_t *map = field;
                        for (size_t k = 0; k < map->n; k++) {
                                free(map->keys[k]);
                                free(map->values[k]);
                        }
                        free(map->keys);
                        free(map->values);
                        memset(map, 0, sizeof(*map));
                }
        }
        free(cfg->path);
        cfg->path = NULL;
        free(cfg->pos);
        cfg->pos = NULL;
}

/* Any thread, by the config's owner, once no other thread reads it. */
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

static bool opt_equal(const fg_config_t *a, const fg_config_t *b, const fg_opt_t *opt) {
        const void *fa = fg_config_field(a, opt), *fb = fg_config_field(b, opt);

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
        }
        return false;
}

/* Any thread; @p old and @p cur must stay alive for the call. */
size_t fg_config_diff(const fg_config_t *old, const fg_config_t *cur,
                      void (*cb)(const char *name, bool live, void *opaque), void *opaque) {
        size_t n = 0;

        if (!old || !cur)
                return 0;
        for (size_t i = 0; i < fg_config_nopts; i++) {
                const fg_opt_t *opt = &fg_config_opts[i];
                if (opt_equal(old, cur, opt))
                        continue;
                n++;
                if (cb)
                        cb(opt->name, (opt->flags & FG_OPT_F_LIVE) != 0, opaque);
        }
        return n;
}
