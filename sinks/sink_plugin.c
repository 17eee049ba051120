/*
 * sink_plugin: events handed to a shared object implementing
 * sinks/floodgate_plugin.h (sink.type: plugin).
 *
 * DESIGN
 * A plugin runs with floodgate's privileges, so before anything is loaded
 * the path is resolved (realpath) and both the file and its directory
 * must belong to root or to floodgate's own user and be writable by
 * neither group nor others; the resolved path is what gets loaded.
 * check (check-config) does all of create but init: the path checks,
 * dlopen, the entry point, the ABI version and the descriptor.
 *
 * create dlopen()s sink.plugin.path (RTLD_NOW, so a missing symbol fails
 * start-up rather than the first send; RTLD_LOCAL, so two plugins cannot
 * interpose each other's symbols), resolves FG_PLUGIN_ENTRY, checks the
 * ABI version, the descriptor's struct_size and the callbacks, copies the
 * descriptor (a plugin cannot swap callbacks under us) and calls init with
 * the host's services and sink.plugin.config. Each fg_sink connection
 * wraps one plugin connection; send translates the batch to
 * fg_plugin_event_t, calls the plugin, and translates the results back.
 *
 * The descriptor only grows within version 1, so the copy takes the v1
 * layout up to fini (which every v1 plugin has: a smaller struct_size is
 * refused) and each later field only when struct_size covers all of it;
 * fields the plugin lacks stay NULL. Nothing is read past struct_size.
 *
 * Nothing a plugin reports is trusted blindly: every status is pre-filled
 * with a sentinel, so a status the plugin forgot to set, or one outside
 * the enum, becomes RETRY with a reason instead of a stale or unknown
 * outcome (the worker commits the offset of anything reported OK, and has
 * no case for unknown values). RETRY keeps the event: the worst a buggy
 * plugin achieves is a retry loop, never a lost event. A BACKPRESSURE
 * hint is capped, so a plugin cannot park a worker's events for days.
 *
 * Threading: create/destroy on the main thread; open/close on the main
 * thread or the connection's worker; send on the connection's worker;
 * reopen on the main thread while workers send (the plugin's reopen must
 * cope, as floodgate_plugin.h says). The plugin's own shared state is the
 * plugin's to lock; this file keeps no mutable shared state (the host
 * table is const and static, so it outlives the plugin).
 * Ownership: the shared state owns the dlopen handle and the plugin's
 * state (fini, then dlclose, in destroy — after every connection is
 * closed). Each connection owns its scratch arrays, sized on demand, and
 * the buffer behind its invalid-status reasons, valid until its next send.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "sinks/floodgate_plugin.h"
#include "sinks/sink.h"

/* Never a valid status: marks a result the plugin did not fill. */
#define STATUS_UNSET INT32_MIN
#define REASON_MAX 64
/* The longest BACKPRESSURE hint honoured: 10 minutes. */
#define RETRY_AFTER_MAX_NS (600LL * 1000000000LL)

/* True when a descriptor of @p size bytes holds all of @p field. */
#define PLUGIN_HAS(size, field) \
        ((size) >= offsetof(fg_plugin_t, field) + sizeof(((fg_plugin_t *)0)->field))
/* The version 1 descriptor every plugin has: up to and including fini. */
#define PLUGIN_V1_MIN_SIZE offsetof(fg_plugin_t, reopen)

typedef struct plugin_shared {
        void *dl;
        fg_plugin_t pl;         /* copy of the plugin's descriptor */
        void *state;            /* what pl.init returned */
        char *path;             /* for messages */
} plugin_shared_t;

typedef struct plugin_conn {
        plugin_shared_t *sh;
        void *conn;             /* what pl.open returned */
        size_t cap;             /* capacity of the arrays below */
        fg_plugin_event_t *evs;
        fg_plugin_result_t *result;
        char (*bad)[REASON_MAX];/* reasons for invalid statuses, per event */
} plugin_conn_t;

/* host.log: a plugin's message, at its syslog level, into our log. Any thread. */
static void host_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static const fg_plugin_host_t plugin_host = {
    .struct_size = sizeof(fg_plugin_host_t),
    .version = FG_VERSION,
    .log = host_log,
};

static void host_log(int level, const char *fmt, ...) {
        fg_log_level_t lvl;
        va_list ap;

        /* Syslog's emerg..err are all errors to us, notice is info. */
        if (level <= FG_PLUGIN_LOG_ERROR)
                lvl = FG_LOG_ERROR;
        else if (level == FG_PLUGIN_LOG_WARN)
                lvl = FG_LOG_WARN;
        else if (level < FG_PLUGIN_LOG_DEBUG)
                lvl = FG_LOG_INFO;
        else
                lvl = FG_LOG_DEBUG;
        va_start(ap, fmt);
        fg_vlog(lvl, fmt, ap);
        va_end(ap);
}

static const char *plugin_name(const plugin_shared_t *sh) {
        return sh->pl.name ? sh->pl.name : sh->path;
}

/* Appends ", name" (or "name" first) to the list of missing callbacks. */
static void note_missing(char *list, size_t size, const char *name) {
        size_t len = strlen(list);
        snprintf(list + len, size - len, "%s%s", len ? ", " : "", name);
}

/* Checks the descriptor the entry point returned and copies what the
 * plugin has of it into @p out (zeroed by the caller). Main thread. */
static int copy_descriptor(fg_plugin_t *out, const fg_plugin_t *pl, const char *path,
                           char *errstr, size_t errstr_size) {
        char missing[64] = "";
        size_t size;

        if (!pl) {
                snprintf(errstr, errstr_size, "plugin %s: %s() returned NULL", path,
                         FG_PLUGIN_ENTRY);
                return -1;
        }
        /* Only abi_version is common to every version's layout. */
        if (pl->abi_version != FG_PLUGIN_ABI_VERSION) {
                snprintf(errstr, errstr_size, "plugin %s has ABI version %u; this floodgate speaks %d",
                         path, (unsigned)pl->abi_version, FG_PLUGIN_ABI_VERSION);
                return -1;
        }
        size = pl->struct_size;
        if (size < PLUGIN_V1_MIN_SIZE) {
                snprintf(errstr, errstr_size,
                         "plugin %s has struct_size %zu; an ABI version 1 fg_plugin_t has at "
                         "least %zu (init through fini): set struct_size = sizeof(fg_plugin_t)",
                         path, size, (size_t)PLUGIN_V1_MIN_SIZE);
                return -1;
        }
        memcpy(out, pl, PLUGIN_V1_MIN_SIZE);
        if (PLUGIN_HAS(size, reopen))
                out->reopen = pl->reopen;
        if (!out->init)
                note_missing(missing, sizeof(missing), "init");
        if (!out->open)
                note_missing(missing, sizeof(missing), "open");
        if (!out->send)
                note_missing(missing, sizeof(missing), "send");
        if (!out->close)
                note_missing(missing, sizeof(missing), "close");
        if (!out->fini)
                note_missing(missing, sizeof(missing), "fini");
        if (missing[0]) {
                snprintf(errstr, errstr_size, "plugin %s is missing callbacks: %s", path, missing);
                return -1;
        }
        return 0;
}

/* Whoever may write the plugin or replace it in its directory runs code
 * as floodgate: both must belong to root or to floodgate's own user, and
 * neither may be writable by group or others. @p what is "plugin" or
 * "plugin directory". */
static int safe_owner_mode(const char *what, const char *path, const struct stat *st,
                           char *errstr, size_t errstr_size) {
        if (st->st_uid != 0 && st->st_uid != geteuid()) {
                snprintf(errstr, errstr_size,
                         "%s %s belongs to uid %u, neither root nor floodgate's user (uid %u): "
                         "refused, whoever owns it could run code as floodgate",
                         what, path, (unsigned)st->st_uid, (unsigned)geteuid());
                return -1;
        }
        if (st->st_mode & (S_IWGRP | S_IWOTH)) {
                snprintf(errstr, errstr_size,
                         "%s %s is writable by %s (mode %04o): refused, anyone who can write it "
                         "could run code as floodgate (chmod go-w)",
                         what, path,
                         (st->st_mode & S_IWOTH) ? "others" : "its group",
                         (unsigned)(st->st_mode & 07777));
                return -1;
        }
        return 0;
}

/* Resolves @p path (symbolic links and all) into @p real and checks the
 * file and the directory that holds it. Main thread. */
static int check_path(const char *path, char *real, char *errstr, size_t errstr_size) {
        char dir[PATH_MAX];
        struct stat st;
        char *slash;

        if (!realpath(path, real) || stat(real, &st) != 0) {
                snprintf(errstr, errstr_size, "cannot open plugin %s: %s", path, strerror(errno));
                return -1;
        }
        if (!S_ISREG(st.st_mode)) {
                snprintf(errstr, errstr_size, "plugin %s is not a regular file", path);
                return -1;
        }
        if (safe_owner_mode("plugin", real, &st, errstr, errstr_size))
                return -1;
        snprintf(dir, sizeof(dir), "%s", real);
        slash = strrchr(dir, '/');
        if (slash)
                slash[slash == dir ? 1 : 0] = '\0';
        if (stat(dir, &st) != 0) {
                snprintf(errstr, errstr_size, "cannot stat plugin directory %s: %s", dir,
                         strerror(errno));
                return -1;
        }
        return safe_owner_mode("plugin directory", dir, &st, errstr, errstr_size);
}

/* Opens @p real and checks what it exports: the ABI version, the
 * descriptor's size and callbacks, copied into @p pl. Main thread. */
static void *open_plugin(const char *real, fg_plugin_t *pl, char *errstr, size_t errstr_size) {
        void *dl = dlopen(real, RTLD_NOW | RTLD_LOCAL);
        fg_plugin_entry_fn entry;
        const char *dlerr;

        if (!dl) {
                dlerr = dlerror();
                snprintf(errstr, errstr_size, "cannot open plugin %s: %s", real,
                         dlerr ? dlerr : "unknown dlopen error");
                return NULL;
        }
        /* POSIX guarantees the object-to-function pointer conversion. */
        entry = (fg_plugin_entry_fn)dlsym(dl, FG_PLUGIN_ENTRY);
        if (!entry) {
                snprintf(errstr, errstr_size,
                         "plugin %s does not export %s (not a floodgate plugin, or built for "
                         "another ABI)",
                         real, FG_PLUGIN_ENTRY);
        } else if (copy_descriptor(pl, entry(), real, errstr, errstr_size) == 0) {
                return dl;
        }
        dlclose(dl);
        return NULL;
}

/* check-config: everything create does but init (which may connect). */
static int plugin_check(const fg_sink_cfg_t *sc, const char **opt, char *errstr,
                        size_t errstr_size) {
        fg_plugin_t pl = {0};
        char real[PATH_MAX], why[768];
        void *dl;

        *opt = "sink.plugin.path";
        if (!sc->plugin_path) {
                snprintf(errstr, errstr_size, "the plugin sink needs sink.plugin.path");
                return -1;
        }
        if (check_path(sc->plugin_path, real, why, sizeof(why)) ||
            !(dl = open_plugin(real, &pl, why, sizeof(why)))) {
                snprintf(errstr, errstr_size, "sink.plugin.path: %s", why);
                return -1;
        }
        dlclose(dl);
        return 0;
}

static void *plugin_create(const fg_sink_cfg_t *sc, const fg_sink_env_t *env, char *errstr,
                           size_t errstr_size) {
        const fg_strmap_t *map = &sc->plugin_config;
        plugin_shared_t *sh = calloc(1, sizeof(*sh));
        char perr[512] = "", real[PATH_MAX];

        if (!sh) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        if (!sc->plugin_path) {
                snprintf(errstr, errstr_size, "the plugin sink needs sink.plugin.path");
                goto init_error;
        }
        if (check_path(sc->plugin_path, real, errstr, errstr_size))
                goto init_error;
        if (!(sh->path = strdup(real))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto init_error;
        }
        sh->dl = open_plugin(sh->path, &sh->pl, errstr, errstr_size);
        if (!sh->dl)
                goto init_error;
        sh->state = sh->pl.init(&plugin_host, (const char *const *)map->keys,
                                (const char *const *)map->values, map->n, perr, sizeof(perr));
        if (!sh->state) {
                perr[sizeof(perr) - 1] = '\0';
                snprintf(errstr, errstr_size, "plugin %s (%s): init failed: %s", plugin_name(sh),
                         sh->path, perr[0] ? perr : "no reason given");
                goto init_error;
        }
        fg_info("plugin sink: loaded %s from %s (ABI %d%s)", plugin_name(sh), sh->path,
                FG_PLUGIN_ABI_VERSION, sh->pl.reopen ? ", reopens on SIGHUP" : "");
        return sh;

init_error:
        if (sh->dl)
                dlclose(sh->dl);
        free(sh->path);
        free(sh);
        return NULL;
}

static void plugin_destroy(void *opaque) {
        plugin_shared_t *sh = opaque;

        if (!sh)
                return;
        sh->pl.fini(sh->state);
        /* After fini the plugin must have no thread left running its code. */
        dlclose(sh->dl);
        free(sh->path);
        free(sh);
}

/* SIGHUP: lets the plugin reopen what it holds. Main thread. */
static void plugin_reopen(void *opaque) {
        plugin_shared_t *sh = opaque;

        if (sh->pl.reopen)
                sh->pl.reopen(sh->state);
}

static void *plugin_open(void *opaque, char *errstr, size_t errstr_size) {
        plugin_shared_t *sh = opaque;
        plugin_conn_t *c = calloc(1, sizeof(*c));
        char perr[512] = "";

        if (!c) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        c->sh = sh;
        c->conn = sh->pl.open(sh->state, perr, sizeof(perr));
        if (!c->conn) {
                perr[sizeof(perr) - 1] = '\0';
                snprintf(errstr, errstr_size, "plugin %s: open failed: %s", plugin_name(sh),
                         perr[0] ? perr : "no reason given");
                free(c);
                return NULL;
        }
        return c;
}

static void plugin_close(void *opaque) {
        plugin_conn_t *c = opaque;

        if (!c)
                return;
        c->sh->pl.close(c->conn);
        free(c->evs);
        free(c->result);
        free(c->bad);
        free(c);
}

/* Grows the scratch arrays to hold @p n events. Worker thread. */
static int reserve(plugin_conn_t *c, size_t n) {
        size_t cap = c->cap ? c->cap : 16;
        void *p;

        if (n <= c->cap)
                return 0;
        while (cap < n)
                cap *= 2;
        if (!(p = realloc(c->evs, cap * sizeof(*c->evs))))
                return -1;
        c->evs = p;
        if (!(p = realloc(c->result, cap * sizeof(*c->result))))
                return -1;
        c->result = p;
        if (!(p = realloc(c->bad, cap * sizeof(*c->bad))))
                return -1;
        c->bad = p;
        c->cap = cap;
        return 0;
}

/* The outcome of one event from what the plugin reported. */
static fg_sink_result_t translate(plugin_conn_t *c, size_t i) {
        const fg_plugin_result_t *r = &c->result[i];
        int32_t st = r->status;
        const char *reason = r->reason;
        int64_t after;

        switch (st) {
        case FG_PLUGIN_OK: return (fg_sink_result_t){.status = FG_SINK_OK, .reason = reason};
        case FG_PLUGIN_RETRY: return (fg_sink_result_t){.status = FG_SINK_RETRY, .reason = reason};
        case FG_PLUGIN_BACKPRESSURE:
                after = r->retry_after_ns;
                if (after < 0)
                        after = 0;
                else if (after > RETRY_AFTER_MAX_NS)
                        after = RETRY_AFTER_MAX_NS;
                return (fg_sink_result_t){
                    .status = FG_SINK_BACKPRESSURE, .retry_after_ns = after, .reason = reason};
        case FG_PLUGIN_REJECT: return (fg_sink_result_t){.status = FG_SINK_REJECT, .reason = reason};
        }
        if (st == STATUS_UNSET)
                snprintf(c->bad[i], sizeof(c->bad[i]), "plugin set no status");
        else
                snprintf(c->bad[i], sizeof(c->bad[i]), "plugin returned invalid status %d", (int)st);
        return (fg_sink_result_t){.status = FG_SINK_RETRY, .reason = c->bad[i]};
}

static void plugin_send(void *opaque, const fg_event_t *evs, size_t n, fg_sink_result_t *res) {
        plugin_conn_t *c = opaque;

        if (n == 0)
                return;
        if (reserve(c, n)) {
                for (size_t i = 0; i < n; i++)
                        res[i] = (fg_sink_result_t){.status = FG_SINK_RETRY, .reason = "out of memory"};
                return;
        }
        for (size_t i = 0; i < n; i++) {
                c->evs[i] = (fg_plugin_event_t){
                    .topic = evs[i].topic,
                    .partition = evs[i].partition,
                    .offset = evs[i].offset,
                    .timestamp_ms = evs[i].ts_ms,
                    .key = evs[i].key,
                    .key_len = evs[i].key_len,
                    .value = evs[i].value,
                    .value_len = evs[i].len,
                };
                c->result[i] = (fg_plugin_result_t){.status = STATUS_UNSET};
        }
        c->sh->pl.send(c->conn, c->evs, n, c->result);
        for (size_t i = 0; i < n; i++)
                res[i] = translate(c, i);
}

const fg_sink_class_t fg_sink_plugin_class = {
    .name = "plugin",
    .create = plugin_create,
    .destroy = plugin_destroy,
    .open = plugin_open,
    .close = plugin_close,
    .send = plugin_send,
    .reopen = plugin_reopen,
    .check = plugin_check,
};
