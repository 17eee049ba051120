/*
 * sink_file: JSON lines appended to a file (sink.type: file) or written to
 * standard output (sink.type: stdout).
 *
 * Each send builds the whole batch as one buffer (one event per line) and
 * writes it with as few write(2) calls as the kernel allows, under the
 * shared lock so that lines from different workers never interleave. The
 * events are acknowledged only after write(2) returned for all of them — so
 * a crash of floodgate after the acknowledgement cannot lose them — and,
 * with sink.fsync, after fdatasync(2), so a crash of the machine cannot
 * either. A failed write is a RETRY: the worker backs off and tries again,
 * and the offsets stay uncommitted meanwhile. A partially written batch is
 * retried whole (the lines already written become duplicates, which
 * at-least-once allows); the file is never left with half a line before the
 * retry, because the retry starts with the missing remainder first.
 *
 * sink.path is opened with O_NOFOLLOW (a symbolic link there is refused,
 * at start, at a SIGHUP reopen and by check-config), and a file the sink
 * creates gets exactly sink.file_mode (default 0640).
 *
 * Threading: create/destroy/reopen on the main thread; open/send/close on
 * workers. Locks: shared->lock guards fd and the pending remainder.
 * Ownership: each connection owns its line buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "sinks/sink.h"

typedef struct file_shared {
        pthread_mutex_t lock;
        int fd;
        bool owns_fd;   /* false for stdout */
        bool fsync;
        int64_t mode;   /* of a file the sink creates */
        char *path;     /* NULL for stdout */
        fg_buf_t tail;  /* unwritten end of a line from a failed write */
} file_shared_t;

typedef struct file_conn {
        file_shared_t *sh;
        fg_buf_t buf;
        char reason[128];
} file_conn_t;

/* Opens sink.path for appending. O_NOFOLLOW: a symbolic link there is
 * refused, not followed, so whoever can write the directory cannot point
 * floodgate's output (and its privileges) at another file. A file the sink
 * creates gets exactly @p mode (sink.file_mode: the umask does not narrow
 * it); an existing one keeps its own. */
static int open_path(const char *path, int64_t mode, char *errstr, size_t errstr_size) {
        const int flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW;
        int fd = -1;

        /* Create, or open what exists; twice in case it vanishes in between. */
        for (int tries = 0; fd < 0 && tries < 2; tries++) {
                fd = open(path, flags | O_CREAT | O_EXCL, (mode_t)mode);
                if (fd >= 0) {
                        if (fchmod(fd, (mode_t)mode) != 0)
                                fg_warn("file sink: cannot set mode %04llo on %s: %s",
                                        (unsigned long long)mode, path, strerror(errno));
                } else if (errno == EEXIST) {
                        fd = open(path, flags);
                }
                if (fd < 0 && errno != ENOENT)
                        break;
        }
        if (fd < 0 && errno == ELOOP)
                snprintf(errstr, errstr_size,
                         "cannot open %s: it is a symbolic link, which the file sink does not "
                         "follow (set sink.path to the file itself)",
                         path);
        else if (fd < 0)
                snprintf(errstr, errstr_size, "cannot open %s: %s", path, strerror(errno));
        return fd;
}

/* check-config: a symbolic link at sink.path is refused (see open_path). */
static int file_check(const fg_sink_cfg_t *sc, const char **opt, char *errstr,
                      size_t errstr_size) {
        struct stat st;

        *opt = "sink.path";
        if (!sc->path || lstat(sc->path, &st) != 0 || !S_ISLNK(st.st_mode))
                return 0;
        snprintf(errstr, errstr_size,
                 "sink.path: %s is a symbolic link, which the file sink does not follow (set "
                 "sink.path to the file itself)",
                 sc->path);
        return -1;
}

static void *file_create(const fg_sink_cfg_t *sc, const fg_sink_env_t *env, char *errstr,
                         size_t errstr_size) {
        file_shared_t *sh = calloc(1, sizeof(*sh));

        if (!sh) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        if (!sc->path) {
                snprintf(errstr, errstr_size, "the file sink needs sink.path");
                free(sh);
                return NULL;
        }
        sh->path = strdup(sc->path);
        sh->fsync = sc->fsync;
        sh->mode = sc->file_mode;
        sh->owns_fd = true;
        if (!sh->path)
                snprintf(errstr, errstr_size, "out of memory");
        sh->fd = sh->path ? open_path(sh->path, sh->mode, errstr, errstr_size) : -1;
        if (sh->fd < 0) {
                free(sh->path);
                free(sh);
                return NULL;
        }
        pthread_mutex_init(&sh->lock, NULL);
        return sh;
}

static void *stdout_create(const fg_sink_cfg_t *sc, const fg_sink_env_t *env, char *errstr,
                           size_t errstr_size) {
        file_shared_t *sh = calloc(1, sizeof(*sh));

        if (!sh) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        sh->fd = STDOUT_FILENO;
        pthread_mutex_init(&sh->lock, NULL);
        return sh;
}

static void file_destroy(void *opaque) {
        file_shared_t *sh = opaque;

        if (sh->owns_fd && sh->fd >= 0)
                close(sh->fd);
        pthread_mutex_destroy(&sh->lock);
        fg_buf_free(&sh->tail);
        free(sh->path);
        free(sh);
}

/* SIGHUP after rotation: start a new file at the configured path. */
static void file_reopen(void *opaque) {
        file_shared_t *sh = opaque;
        char err[256];
        int fd = open_path(sh->path, sh->mode, err, sizeof(err));

        if (fd < 0) {
                fg_warn("file sink: %s; keeping the old file open", err);
                return;
        }
        pthread_mutex_lock(&sh->lock);
        close(sh->fd);
        sh->fd = fd;
        pthread_mutex_unlock(&sh->lock);
        fg_info("file sink: reopened %s", sh->path);
}

static void *file_open(void *opaque, char *errstr, size_t errstr_size) {
        file_conn_t *c = calloc(1, sizeof(*c));

        if (!c) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        c->sh = opaque;
        return c;
}

static void file_close(void *opaque) {
        file_conn_t *c = opaque;
        fg_buf_free(&c->buf);
        free(c);
}

/* Writes all of [p, p+len); on failure returns the bytes written so far and
 * sets errno. */
static size_t write_all(int fd, const char *p, size_t len) {
        size_t done = 0;
        while (done < len) {
                ssize_t w = write(fd, p + done, len - done);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                done += (size_t)w;
        }
        return done;
}

/* Shared lock held. Finishes a line cut short by an earlier failed write so
 * the file stays line-aligned. */
static bool flush_tail(file_shared_t *sh) {
        size_t w;

        if (!sh->tail.len)
                return true;
        w = write_all(sh->fd, sh->tail.p, sh->tail.len);
        memmove(sh->tail.p, sh->tail.p + w, sh->tail.len - w);
        sh->tail.len -= w;
        return sh->tail.len == 0;
}

static void file_send(void *opaque, const fg_event_t *evs, size_t n, fg_sink_result_t *res) {
        file_conn_t *c = opaque;
        file_shared_t *sh = c->sh;
        fg_sink_status_t status = FG_SINK_OK;
        const char *reason = NULL;
        size_t w = 0;

        fg_buf_reset(&c->buf);
        for (size_t i = 0; i < n; i++) {
                fg_buf_append(&c->buf, evs[i].value, evs[i].len);
                fg_buf_putc(&c->buf, '\n');
        }

        pthread_mutex_lock(&sh->lock);
        if (flush_tail(sh))
                w = write_all(sh->fd, c->buf.p, c->buf.len);
        if (w < c->buf.len) {
                snprintf(c->reason, sizeof(c->reason), "write failed: %s", strerror(errno));
                reason = c->reason;
                status = FG_SINK_RETRY;
                /* Keep the rest of a cut line so the next write completes it. */
                if (w > 0 && c->buf.p[w - 1] != '\n') {
                        const char *nl = memchr(c->buf.p + w, '\n', c->buf.len - w);
                        size_t end = (size_t)(nl - c->buf.p) + 1;
                        fg_buf_append(&sh->tail, c->buf.p + w, end - w);
                }
        } else if (sh->fsync && sh->owns_fd && fdatasync(sh->fd) != 0) {
                snprintf(c->reason, sizeof(c->reason), "fdatasync failed: %s", strerror(errno));
                reason = c->reason;
                status = FG_SINK_RETRY;
        }
        pthread_mutex_unlock(&sh->lock);

        for (size_t i = 0; i < n; i++) {
                res[i].status = status;
                res[i].retry_after_ns = 0;
                res[i].reason = reason;
        }
}

const fg_sink_class_t fg_sink_file_class = {
    .name = "file",
    .create = file_create,
    .destroy = file_destroy,
    .open = file_open,
    .close = file_close,
    .send = file_send,
    .reopen = file_reopen,
    .check = file_check,
};

const fg_sink_class_t fg_sink_stdout_class = {
    .name = "stdout",
    .create = stdout_create,
    .destroy = file_destroy,
    .open = file_open,
    .close = file_close,
    .send = file_send,
};
