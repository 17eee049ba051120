/*
 * example_plugin: a floodgate sink plugin that appends each event to a file
 * as one JSON line. A starting point for real plugins: it shows the whole
 * lifecycle, per-event results, reasons, logging through the host, reopen
 * for log rotation, and the locking a plugin needs.
 *
 * Build (see README.md):
 *     cc -std=c11 -O2 -fPIC -shared -fvisibility=hidden -pthread \
 *        -I<floodgate>/sinks -o example_plugin.so example_plugin.c
 *
 * Configuration (sink.plugin.config):
 *   path               (required) the file events are appended to.
 *   fail_every         (optional, integer N >= 1) every Nth event a connection
 *                      sees is answered FG_PLUGIN_RETRY once; its retry
 *                      succeeds. Demonstrates floodgate's retries.
 *   reject_containing  (optional) events whose value contains this string
 *                      are answered FG_PLUGIN_REJECT (dead-lettered).
 *   Unknown keys fail init, so a typo cannot go unnoticed.
 *
 * Each line is the event's value as floodgate hands it over: with
 * handler.mode json, one compact JSON document. A value that is empty or
 * contains a newline cannot be one line, so it is rejected.
 *
 * Threading: one fd opened with O_APPEND, shared by every connection, and
 * a mutex around each batch's write and around reopen's swap of the fd
 * (reopen runs on floodgate's main thread while workers send). O_APPEND alone (or one O_APPEND fd per
 * connection) would keep whole write(2)s from overlapping, but not a short
 * write: after disk-full or a signal cut a line in two, another worker's
 * lines would land right after the fragment. Under the mutex a batch is
 * written in one go and a cut line is truncated away before anyone else
 * writes, so the file only ever holds whole lines. That assumes this plugin
 * is the file's only writer. open only reads the immutable shared state, so
 * it is safe while other connections send. Each connection's buffers and
 * fail_every bookkeeping are used only by its own worker.
 *
 * Ownership: the events and the result array belong to floodgate; the host
 * table is floodgate's and stays valid until fini. The reasons returned
 * are static, owned by the plugin state, or owned by the connection until
 * its next send, as the ABI asks.
 */
#ifndef _GNU_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "floodgate_plugin.h"

typedef struct example {
        const fg_plugin_host_t *host;
        int fd;                 /* swapped by reopen */
        pthread_mutex_t lock;   /* guards fd and writes to it */
        char *path;
        long fail_every;        /* 0 = never */
        char *reject;           /* NULL = none */
        char *reject_reason;    /* "value contains \"<reject>\"" */
} example_t;

/* An event that got its simulated failure and is owed a success. */
typedef struct owed {
        uint64_t topic_hash;
        int32_t partition;
        int64_t offset;
} owed_t;

typedef struct example_conn {
        example_t *ex;
        char *buf;              /* the batch's lines */
        size_t len, cap;
        size_t *end;            /* per event: end of its line in buf, 0 = not written */
        size_t nend;
        long seen;              /* events counted for fail_every */
        owed_t *owed;
        size_t nowed, capowed;
        char reason[256];       /* write errors, valid until the next send */
} example_conn_t;

/* ---- helpers ---- */

static uint64_t hash_str(const char *s) {
        uint64_t h = 1469598103934665603ULL; /* FNV-1a */
        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * 1099511628211ULL;
        return h;
}

static bool contains(const char *hay, size_t len, const char *needle) {
        size_t nlen = strlen(needle);
        for (size_t i = 0; nlen <= len && i <= len - nlen; i++)
                if (!memcmp(hay + i, needle, nlen))
                        return true;
        return false;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
        size_t ncap = *cap ? *cap : 64;
        void *np;

        if (need <= *cap)
                return 0;
        while (ncap < need)
                ncap *= 2;
        if (!(np = realloc(*p, ncap * elem)))
                return -1;
        *p = np;
        *cap = ncap;
        return 0;
}

/* Removes @p ev from the owed list; true if it was there. */
static bool take_owed(example_conn_t *c, const fg_plugin_event_t *ev, uint64_t th) {
        for (size_t i = 0; i < c->nowed; i++) {
                owed_t *o = &c->owed[i];
                if (o->offset == ev->offset && o->partition == ev->partition && o->topic_hash == th) {
                        *o = c->owed[--c->nowed];
                        return true;
                }
        }
        return false;
}

/* Writes all of buf; returns the bytes written (< len on error, errno set). */
static size_t write_all(int fd, const char *buf, size_t len) {
        size_t done = 0;
        while (done < len) {
                ssize_t w = write(fd, buf + done, len - done);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                done += (size_t)w;
        }
        return done;
}

/* ---- callbacks ---- */

static void example_fini(void *plugin);

static int open_output(const char *path) {
        return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

static void *example_init(const fg_plugin_host_t *host, const char *const *keys,
                          const char *const *values, size_t n, char *errstr, size_t errstr_size) {
        example_t *ex;
        const char *path = NULL;

        /* log is in every version 1 host; a newer field would need the
         * same check before use. */
        if (host->struct_size < offsetof(fg_plugin_host_t, log) + sizeof(host->log)) {
                snprintf(errstr, errstr_size, "floodgate's host table is too small (%u bytes)",
                         (unsigned)host->struct_size);
                return NULL;
        }
        if (!(ex = calloc(1, sizeof(*ex)))) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        ex->host = host;
        ex->fd = -1;
        pthread_mutex_init(&ex->lock, NULL);
        for (size_t i = 0; i < n; i++) {
                if (!strcmp(keys[i], "path")) {
                        path = values[i];
                } else if (!strcmp(keys[i], "fail_every")) {
                        char *end;
                        errno = 0;
                        ex->fail_every = strtol(values[i], &end, 10);
                        if (errno || end == values[i] || *end || ex->fail_every < 1) {
                                snprintf(errstr, errstr_size,
                                         "fail_every must be an integer >= 1, not \"%s\"", values[i]);
                                goto init_error;
                        }
                } else if (!strcmp(keys[i], "reject_containing")) {
                        if (!values[i][0]) {
                                snprintf(errstr, errstr_size, "reject_containing must not be empty");
                                goto init_error;
                        }
                        free(ex->reject);
                        free(ex->reject_reason);
                        ex->reject = strdup(values[i]);
                        ex->reject_reason = malloc(strlen(values[i]) + 32);
                        if (!ex->reject || !ex->reject_reason) {
                                snprintf(errstr, errstr_size, "out of memory");
                                goto init_error;
                        }
                        sprintf(ex->reject_reason, "value contains \"%s\"", values[i]);
                } else {
                        snprintf(errstr, errstr_size,
                                 "unknown key \"%s\" (known: path, fail_every, reject_containing)",
                                 keys[i]);
                        goto init_error;
                }
        }
        if (!path) {
                snprintf(errstr, errstr_size, "the example plugin needs config key \"path\"");
                goto init_error;
        }
        if (!(ex->path = strdup(path))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto init_error;
        }
        ex->fd = open_output(path);
        if (ex->fd < 0) {
                snprintf(errstr, errstr_size, "cannot open %s: %s", path, strerror(errno));
                goto init_error;
        }
        host->log(FG_PLUGIN_LOG_INFO, "example plugin: appending to %s (floodgate %s)", path,
                  host->version);
        return ex;

init_error:
        example_fini(ex);
        return NULL;
}

static void example_fini(void *plugin) {
        example_t *ex = plugin;

        if (ex->fd >= 0)
                close(ex->fd);
        pthread_mutex_destroy(&ex->lock);
        free(ex->path);
        free(ex->reject);
        free(ex->reject_reason);
        free(ex);
}

/* After log rotation: new writes go to a fresh file at the configured path.
 * A batch already writing finishes on the old file, under the lock. When
 * the path cannot be opened, writing goes on to the old file. */
static void example_reopen(void *plugin) {
        example_t *ex = plugin;
        int fd = open_output(ex->path), old;

        if (fd < 0) {
                ex->host->log(FG_PLUGIN_LOG_ERROR,
                              "example plugin: cannot reopen %s: %s; still writing to the old file",
                              ex->path, strerror(errno));
                return;
        }
        pthread_mutex_lock(&ex->lock);
        old = ex->fd;
        ex->fd = fd;
        pthread_mutex_unlock(&ex->lock);
        close(old);
        ex->host->log(FG_PLUGIN_LOG_INFO, "example plugin: reopened %s", ex->path);
}

static void *example_open(void *plugin, char *errstr, size_t errstr_size) {
        example_conn_t *c = calloc(1, sizeof(*c));

        if (!c) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        c->ex = plugin;
        return c;
}

static void example_close(void *conn) {
        example_conn_t *c = conn;

        free(c->buf);
        free(c->end);
        free(c->owed);
        free(c);
}

/* Decides the events that are not written (rejects, simulated failures) and
 * appends the others' lines to the connection's buffer. */
static int prepare(example_conn_t *c, const fg_plugin_event_t *evs, size_t n,
                   fg_plugin_result_t *result) {
        example_t *ex = c->ex;

        c->len = 0;
        if (grow((void **)&c->end, &c->nend, n, sizeof(*c->end)))
                return -1;
        for (size_t i = 0; i < n; i++) {
                const fg_plugin_event_t *ev = &evs[i];
                uint64_t th;

                c->end[i] = 0;
                if (ev->value_len == 0 || contains(ev->value, ev->value_len, "\n")) {
                        result[i] = (fg_plugin_result_t){
                            .status = FG_PLUGIN_REJECT,
                            .reason = "value is empty or spans lines; cannot be one JSON line"};
                        continue;
                }
                if (ex->reject && contains(ev->value, ev->value_len, ex->reject)) {
                        result[i] = (fg_plugin_result_t){.status = FG_PLUGIN_REJECT,
                                                         .reason = ex->reject_reason};
                        continue;
                }
                th = hash_str(ev->topic);
                if (ex->fail_every && !take_owed(c, ev, th) && ++c->seen % ex->fail_every == 0) {
                        if (grow((void **)&c->owed, &c->capowed, c->nowed + 1, sizeof(*c->owed)))
                                return -1;
                        c->owed[c->nowed++] = (owed_t){th, ev->partition, ev->offset};
                        result[i] = (fg_plugin_result_t){
                            .status = FG_PLUGIN_RETRY, .reason = "simulated failure (fail_every)"};
                        continue;
                }
                if (grow((void **)&c->buf, &c->cap, c->len + ev->value_len + 1, 1))
                        return -1;
                memcpy(c->buf + c->len, ev->value, ev->value_len);
                c->len += ev->value_len;
                c->buf[c->len++] = '\n';
                c->end[i] = c->len;
        }
        return 0;
}

static void example_send(void *conn, const fg_plugin_event_t *evs, size_t n,
                         fg_plugin_result_t *result) {
        example_conn_t *c = conn;
        example_t *ex = c->ex;
        size_t written = 0, whole = 0;
        struct stat st;
        int err = 0;

        if (prepare(c, evs, n, result)) {
                for (size_t i = 0; i < n; i++)
                        result[i] = (fg_plugin_result_t){.status = FG_PLUGIN_RETRY,
                                                         .reason = "out of memory"};
                return;
        }

        pthread_mutex_lock(&ex->lock);
        if (c->len && fstat(ex->fd, &st) == 0) {
                written = write_all(ex->fd, c->buf, c->len);
                err = errno;
                if (written == c->len) {
                        whole = written;
                } else {
                        /* Lines up to the last newline written are whole. */
                        for (size_t k = written; k > 0 && !whole; k--)
                                if (c->buf[k - 1] == '\n')
                                        whole = k;
                        /* Cut the fragment after them so the next batch
                         * starts on a fresh line. Should that fail too, the
                         * file keeps one broken line; nothing is lost. */
                        if (whole < written) {
                                int rc = ftruncate(ex->fd, st.st_size + (off_t)whole);
                                (void)rc;
                        }
                }
        } else if (c->len) {
                err = errno;
        }
        pthread_mutex_unlock(&ex->lock);

        if (whole < c->len)
                snprintf(c->reason, sizeof(c->reason), "write %s: %s", ex->path, strerror(err));
        for (size_t i = 0; i < n; i++) {
                if (!c->end[i])
                        continue; /* decided in prepare */
                if (c->end[i] <= whole)
                        result[i] = (fg_plugin_result_t){.status = FG_PLUGIN_OK};
                else
                        result[i] = (fg_plugin_result_t){.status = FG_PLUGIN_RETRY,
                                                         .reason = c->reason};
        }
}

static const fg_plugin_t example_plugin = {
    .abi_version = FG_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(fg_plugin_t),
    .name = "example",
    .init = example_init,
    .open = example_open,
    .send = example_send,
    .close = example_close,
    .fini = example_fini,
    .reopen = example_reopen,
};

/* The one exported symbol; floodgate_plugin.h declares it FG_PLUGIN_EXPORT. */
const fg_plugin_t *floodgate_plugin_v1(void) { return &example_plugin; }
