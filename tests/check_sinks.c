/*
 * check_sinks: the sink interface and its built-in classes — the null sink
 * acknowledges everything; the file sink writes each value as one line, in
 * order, without interleaving across eight concurrent connections (run it
 * under TSan too), starts a new file on reopen, turns write failures into
 * RETRY (/dev/full, and a cut write under RLIMIT_FSIZE that must leave the
 * file line-aligned), honours fsync; the stdout sink writes to fd 1.
 *
 * Each test works in its own temporary directory and builds its config by
 * hand (no config loader).
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "config/config.h"
#include "sinks/sink.h"

/* ---- helpers ---- */

static char *tmpdir_new(void) {
        char tmpl[] = "/tmp/check_sinks.XXXXXX";
        char *dir = mkdtemp(tmpl);

        ck_assert_msg(dir != NULL, "mkdtemp: %s", strerror(errno));
        dir = strdup(dir);
        ck_assert_ptr_nonnull(dir);
        return dir;
}

/* Removes the files directly in @p dir, then @p dir (tests make no
 * subdirectories). */
static void tmpdir_free(char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;
        char path[4096];

        if (d) {
                while ((de = readdir(d)) != NULL) {
                        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                                continue;
                        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                        unlink(path);
                }
                closedir(d);
        }
        rmdir(dir);
        free(dir);
}

static char *path_in(const char *dir, const char *name) {
        char *path = NULL;

        ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
        return path;
}

/* Whole file, NUL-terminated (len excludes the NUL). */
static char *slurp(const char *path, size_t *len) {
        fg_buf_t b = FG_BUF_INIT;
        char chunk[65536];
        ssize_t r;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
        while ((r = read(fd, chunk, sizeof(chunk))) > 0)
                fg_buf_append(&b, chunk, (size_t)r);
        ck_assert_int_eq(r, 0);
        close(fd);
        fg_buf_cstr(&b);
        *len = b.len;
        return b.p;
}

static void assert_file_is(const char *path, const void *want, size_t want_len) {
        size_t len;
        char *got = slurp(path, &len);

        ck_assert_msg(len == want_len && memcmp(got, want, len) == 0,
                      "%s: got %zu bytes \"%.*s\", want %zu bytes \"%.*s\"", path, len,
                      (int)(len > 200 ? 200 : len), got, want_len,
                      (int)(want_len > 200 ? 200 : want_len), (const char *)want);
        free(got);
}

static fg_config_t *cfg_new(fg_sink_type_t type, const char *path, bool fsync) {
        fg_config_t *cfg = calloc(1, sizeof(*cfg));

        ck_assert_ptr_nonnull(cfg);
        cfg->sink.type = type;
        cfg->sink.path = (char *)path; /* borrowed: the test frees it */
        cfg->sink.fsync = fsync;
        cfg->sink.file_mode = 0640; /* the loader's default */
        return cfg;
}

static fg_sink_t *sink_new(const fg_config_t *cfg) {
        char errstr[512] = "";
        fg_sink_t *sink = fg_sink_new(&cfg->sink, &(fg_sink_env_t){NULL}, errstr, sizeof(errstr));

        ck_assert_msg(sink != NULL, "fg_sink_new: %s", errstr);
        return sink;
}

static fg_sink_conn_t *conn_open(fg_sink_t *sink) {
        char errstr[512] = "";
        fg_sink_conn_t *conn = fg_sink_open(sink, errstr, sizeof(errstr));

        ck_assert_msg(conn != NULL, "fg_sink_open: %s", errstr);
        return conn;
}

static fg_event_t event_of(const char *value, size_t len) {
        fg_event_t ev = {.topic = "t", .partition = 0, .offset = 0, .ts_ms = -1,
                         .value = value, .len = len};
        return ev;
}

/* Sends C strings as one batch; every result must be @p want. */
static void send_strs(fg_sink_conn_t *conn, const char *const *vals, size_t n,
                      fg_sink_status_t want) {
        fg_event_t evs[32];
        fg_sink_result_t res[32];

        ck_assert_uint_le(n, 32);
        for (size_t i = 0; i < n; i++) {
                evs[i] = event_of(vals[i], strlen(vals[i]));
                evs[i].offset = (int64_t)i;
                res[i] = (fg_sink_result_t){.status = (fg_sink_status_t)-1};
        }
        fg_sink_send(conn, evs, n, res);
        for (size_t i = 0; i < n; i++)
                ck_assert_msg(res[i].status == want, "event %zu: status %d, want %d (%s)", i,
                              (int)res[i].status, (int)want,
                              res[i].reason ? res[i].reason : "no reason");
}

/* ---- null ---- */

START_TEST(test_sinks_null_acknowledges_all) {
        fg_config_t *cfg = cfg_new(FG_SINK_NULL, NULL, false);
        fg_sink_t *sink = sink_new(cfg);
        fg_sink_conn_t *a, *b;
        fg_event_t evs[100];
        fg_sink_result_t res[100];

        ck_assert_str_eq(fg_sink_name(sink), "null");
        a = conn_open(sink);
        b = conn_open(sink);
        for (size_t i = 0; i < 100; i++) {
                evs[i] = event_of("x", i % 2); /* empty values too */
                res[i] = (fg_sink_result_t){.status = FG_SINK_REJECT, .retry_after_ns = 7,
                                            .reason = "stale"};
        }
        fg_sink_send(a, evs, 100, res);
        for (size_t i = 0; i < 100; i++) {
                ck_assert_int_eq(res[i].status, FG_SINK_OK);
                ck_assert_int_eq(res[i].retry_after_ns, 0);
        }
        fg_sink_send(b, evs, 1, res);
        ck_assert_int_eq(res[0].status, FG_SINK_OK);
        fg_sink_send(b, evs, 0, res);
        fg_sink_reopen(sink); /* no reopen: a no-op */
        fg_sink_send(a, evs, 3, res);
        ck_assert_int_eq(res[2].status, FG_SINK_OK);
        fg_sink_close(a);
        fg_sink_close(b);
        fg_sink_close(NULL);
        fg_sink_destroy(sink);
        fg_sink_destroy(NULL);
        free(cfg);
}
END_TEST

START_TEST(test_sinks_unknown_type_fails) {
        fg_config_t *cfg = cfg_new((fg_sink_type_t)99, NULL, false);
        char errstr[256] = "";

        ck_assert_ptr_null(fg_sink_new(&cfg->sink, &(fg_sink_env_t){NULL}, errstr, sizeof(errstr)));
        ck_assert_msg(strstr(errstr, "99") != NULL, "errstr: \"%s\"", errstr);
        free(cfg);
}
END_TEST

/* ---- file ---- */

START_TEST(test_sinks_file_lines_in_order) {
        char *dir = tmpdir_new();
        char *path = path_in(dir, "out.jsonl");
        fg_config_t *cfg = cfg_new(FG_SINK_FILE, path, false);
        fg_sink_t *sink = sink_new(cfg);
        fg_sink_conn_t *conn = conn_open(sink);
        static const char want[] = "{\"a\":1}\nsecond\n\nabc\na\0b\nlast one\n{\"b\":2}\n";
        fg_event_t evs[5];
        fg_sink_result_t res[5];

        ck_assert_str_eq(fg_sink_name(sink), "file");
        send_strs(conn, (const char *const[]){"{\"a\":1}", "second", ""}, 3, FG_SINK_OK);

        /* Lengths are honoured: no NUL needed, embedded NULs kept. */
        evs[0] = event_of("abcdef", 3);
        evs[1] = event_of("a\0b", 3);
        evs[2] = event_of("last one", 8);
        fg_sink_send(conn, evs, 3, res);
        for (int i = 0; i < 3; i++) {
                ck_assert_int_eq(res[i].status, FG_SINK_OK);
                ck_assert_int_eq(res[i].retry_after_ns, 0);
        }
        fg_sink_send(conn, evs, 0, res); /* an empty batch writes nothing */
        send_strs(conn, (const char *const[]){"{\"b\":2}"}, 1, FG_SINK_OK);
        assert_file_is(path, want, sizeof(want) - 1);

        fg_sink_close(conn);
        fg_sink_destroy(sink);

        /* A new sink on the same path appends. */
        sink = sink_new(cfg);
        conn = conn_open(sink);
        send_strs(conn, (const char *const[]){"more"}, 1, FG_SINK_OK);
        {
                static const char want2[] =
                    "{\"a\":1}\nsecond\n\nabc\na\0b\nlast one\n{\"b\":2}\nmore\n";
                assert_file_is(path, want2, sizeof(want2) - 1);
        }
        fg_sink_close(conn);
        fg_sink_destroy(sink);
        free(cfg);
        free(path);
        tmpdir_free(dir);
}
END_TEST

START_TEST(test_sinks_file_missing_dir_fails) {
        char *dir = tmpdir_new();
        char *path = path_in(dir, "no/such/dir/out.jsonl");
        fg_config_t *cfg = cfg_new(FG_SINK_FILE, path, false);
        char errstr[512] = "";

        ck_assert_ptr_null(fg_sink_new(&cfg->sink, &(fg_sink_env_t){NULL}, errstr, sizeof(errstr)));
        ck_assert_msg(strstr(errstr, path) != NULL, "errstr does not name the path: \"%s\"",
                      errstr);
        ck_assert_msg(strstr(errstr, strerror(ENOENT)) != NULL, "errstr does not say why: \"%s\"",
                      errstr);

        /* No path at all. */
        cfg->sink.path = NULL;
        errstr[0] = '\0';
        ck_assert_ptr_null(fg_sink_new(&cfg->sink, &(fg_sink_env_t){NULL}, errstr, sizeof(errstr)));
        ck_assert_msg(strstr(errstr, "sink.path") != NULL, "errstr: \"%s\"", errstr);

        free(cfg);
        free(path);
        tmpdir_free(dir);
}
END_TEST

/*
 * Eight workers, each with its own connection, send 2000 batches of 1-6
 * lines (now and then a big one) of lengths up to ~600 bytes. Every line is
 * derived from (worker, batch, index), so the reader can rebuild it and
 * check it byte for byte: all present, none twice, none cut or mixed.
 */
#define CONC_WORKERS 8
#define CONC_BATCHES 2000
#define CONC_MAXLINES 64

static size_t conc_lines_in(int b) { return b % 100 == 99 ? CONC_MAXLINES : 1 + (size_t)b % 6; }

/* Runs on the workers too, so no ck_assert: "w7:b1999:i63:" is at most
 * 16 bytes, and the padding below 580, so 640 bytes always hold a line. */
#define CONC_LINE_MAX 640

static size_t conc_line(char out[CONC_LINE_MAX], int w, int b, size_t i) {
        int n = snprintf(out, CONC_LINE_MAX, "w%d:b%d:i%zu:", w, b, i);
        size_t pad = ((size_t)w * 131 + (size_t)b * 17 + i * 29) % 580;
        char c = (char)('a' + (w + b + (int)i) % 26);

        memset(out + n, c, pad);
        return (size_t)n + pad;
}

typedef struct conc_worker {
        fg_sink_t *sink;
        pthread_t th;
        int w;
        size_t not_ok;
} conc_worker_t;

static void *conc_worker_main(void *opaque) {
        conc_worker_t *cw = opaque;
        char errstr[256];
        fg_sink_conn_t *conn = fg_sink_open(cw->sink, errstr, sizeof(errstr));
        char lines[CONC_MAXLINES][CONC_LINE_MAX];
        fg_event_t evs[CONC_MAXLINES];
        fg_sink_result_t res[CONC_MAXLINES];

        if (!conn) {
                cw->not_ok = SIZE_MAX;
                return NULL;
        }
        for (int b = 0; b < CONC_BATCHES; b++) {
                size_t n = conc_lines_in(b);
                for (size_t i = 0; i < n; i++)
                        evs[i] = event_of(lines[i], conc_line(lines[i], cw->w, b, i));
                fg_sink_send(conn, evs, n, res);
                for (size_t i = 0; i < n; i++)
                        cw->not_ok += res[i].status != FG_SINK_OK;
        }
        fg_sink_close(conn);
        return NULL;
}

START_TEST(test_sinks_file_concurrent_no_interleave) {
        char *dir = tmpdir_new();
        char *path = path_in(dir, "out.jsonl");
        fg_config_t *cfg = cfg_new(FG_SINK_FILE, path, false);
        fg_sink_t *sink = sink_new(cfg);
        conc_worker_t cw[CONC_WORKERS];
        uint8_t *seen[CONC_WORKERS];
        size_t len, lines = 0, want_lines = 0;
        char *data, *p, *end;
        char expect[CONC_LINE_MAX];

        for (int w = 0; w < CONC_WORKERS; w++) {
                cw[w] = (conc_worker_t){.sink = sink, .w = w};
                seen[w] = calloc((size_t)CONC_BATCHES * CONC_MAXLINES, 1);
                ck_assert_ptr_nonnull(seen[w]);
                ck_assert_int_eq(pthread_create(&cw[w].th, NULL, conc_worker_main, &cw[w]), 0);
        }
        for (int w = 0; w < CONC_WORKERS; w++) {
                pthread_join(cw[w].th, NULL);
                ck_assert_msg(cw[w].not_ok == 0, "worker %d: %zu events not OK", w, cw[w].not_ok);
        }
        fg_sink_destroy(sink);

        data = slurp(path, &len);
        ck_assert_msg(len > 0 && data[len - 1] == '\n', "file does not end with a newline");
        for (p = data, end = data + len; p < end;) {
                char *nl = memchr(p, '\n', (size_t)(end - p));
                int w, b, consumed = 0;
                size_t i, elen;

                ck_assert_ptr_nonnull(nl);
                *nl = '\0';
                ck_assert_msg(sscanf(p, "w%d:b%d:i%zu:%n", &w, &b, &i, &consumed) == 3 &&
                                  consumed > 0,
                              "line %zu is not a worker line: \"%.80s\"", lines, p);
                ck_assert_msg(w >= 0 && w < CONC_WORKERS && b >= 0 && b < CONC_BATCHES &&
                                  i < conc_lines_in(b),
                              "line %zu: bad ids \"%.80s\"", lines, p);
                elen = conc_line(expect, w, b, i);
                ck_assert_msg(elen == (size_t)(nl - p) && memcmp(expect, p, elen) == 0,
                              "line %zu (w%d b%d i%zu) is cut or mixed", lines, w, b, i);
                ck_assert_msg(seen[w][(size_t)b * CONC_MAXLINES + i] == 0,
                              "line w%d b%d i%zu written twice", w, b, i);
                seen[w][(size_t)b * CONC_MAXLINES + i] = 1;
                lines++;
                p = nl + 1;
        }
        for (int b = 0; b < CONC_BATCHES; b++)
                want_lines += conc_lines_in(b);
        want_lines *= CONC_WORKERS;
        ck_assert_uint_eq(lines, want_lines); /* with no duplicates: every one */

        free(data);
        for (int w = 0; w < CONC_WORKERS; w++)
                free(seen[w]);
        free(cfg);
        free(path);
        tmpdir_free(dir);
}
END_TEST

START_TEST(test_sinks_file_reopen_after_rename) {
        char *dir = tmpdir_new();
        char *path = path_in(dir, "out.jsonl");
        char *rotated = path_in(dir, "out.jsonl.1");
        fg_config_t *cfg = cfg_new(FG_SINK_FILE, path, false);
        fg_sink_t *sink = sink_new(cfg);
        fg_sink_conn_t *conn = conn_open(sink);
        struct stat st;

        send_strs(conn, (const char *const[]){"before-1", "before-2"}, 2, FG_SINK_OK);
        ck_assert_int_eq(rename(path, rotated), 0);
        /* Until the reopen, lines follow the renamed file. */
        send_strs(conn, (const char *const[]){"before-3"}, 1, FG_SINK_OK);
        ck_assert_int_ne(stat(path, &st), 0);

        fg_sink_reopen(sink);
        ck_assert_int_eq(stat(path, &st), 0); /* created at reopen */
        send_strs(conn, (const char *const[]){"after-1", "after-2"}, 2, FG_SINK_OK);
        {
                fg_sink_conn_t *conn2 = conn_open(sink);
                send_strs(conn2, (const char *const[]){"after-3"}, 1, FG_SINK_OK);
                fg_sink_close(conn2);
        }
        assert_file_is(rotated, "before-1\nbefore-2\nbefore-3\n", 27);
        assert_file_is(path, "after-1\nafter-2\nafter-3\n", 24);

        /* Reopen without a rename: keeps appending to the same file. */
        fg_sink_reopen(sink);
        send_strs(conn, (const char *const[]){"after-4"}, 1, FG_SINK_OK);
        assert_file_is(path, "after-1\nafter-2\nafter-3\nafter-4\n", 32);

        /* Reopen that cannot open (directory gone): keeps the old file. */
        ck_assert_int_eq(unlink(path), 0);
        ck_assert_int_eq(unlink(rotated), 0);
        ck_assert_int_eq(rmdir(dir), 0);
        fg_sink_reopen(sink);
        send_strs(conn, (const char *const[]){"after-5"}, 1, FG_SINK_OK);
        ck_assert_int_eq(mkdir(dir, 0700), 0);

        fg_sink_close(conn);
        fg_sink_destroy(sink);
        free(cfg);
        free(rotated);
        free(path);
        tmpdir_free(dir);
}
END_TEST

static unsigned mode_of(const char *path) {
        struct stat st;

        ck_assert_int_eq(stat(path, &st), 0);
        return (unsigned)(st.st_mode & 07777);
}

/* A file the sink creates gets exactly sink.file_mode, whatever the umask
 * (systemd's unit sets 0077); an existing file keeps its mode. */
START_TEST(test_sinks_file_mode) {
        char *dir = tmpdir_new(), *path = path_in(dir, "out.jsonl"), *other = path_in(dir, "o");
        fg_config_t *cfg = cfg_new(FG_SINK_FILE, path, false);
        mode_t old = umask(077);
        fg_sink_t *sink = sink_new(cfg);

        ck_assert_uint_eq(mode_of(path), 0640);
        fg_sink_destroy(sink);
        cfg->sink.path = other;
        cfg->sink.file_mode = 0604;
        fg_sink_destroy(sink_new(cfg));
        ck_assert_uint_eq(mode_of(other), 0604);
        /* Existing: untouched, and still appended to. */
        ck_assert_int_eq(chmod(path, 0600), 0);
        cfg->sink.path = path;
        fg_sink_destroy(sink_new(cfg));
        ck_assert_uint_eq(mode_of(path), 0600);
        umask(old);
        free(cfg);
        free(path), free(other);
        tmpdir_free(dir);
}
END_TEST

/* A symbolic link at sink.path is refused at start, by check-config, and
 * at a reopen (rotation), which keeps the old file. */
START_TEST(test_sinks_file_refuses_symlink) {
        char *dir = tmpdir_new(), *path = path_in(dir, "out.jsonl"),
             *target = path_in(dir, "elsewhere"), *rotated = path_in(dir, "out.jsonl.1");
        fg_config_t *cfg = cfg_new(FG_SINK_FILE, path, false);
        char errstr[512] = "", want[600];
        const char *opt = NULL;
        fg_sink_t *sink;
        fg_sink_conn_t *conn;
        struct stat st;

        ck_assert_int_eq(symlink(target, path), 0);
        ck_assert_ptr_null(fg_sink_new(&cfg->sink, &(fg_sink_env_t){NULL}, errstr, sizeof(errstr)));
        snprintf(want, sizeof(want),
                 "cannot open %s: it is a symbolic link, which the file sink does not follow (set "
                 "sink.path to the file itself)",
                 path);
        ck_assert_str_eq(errstr, want);
        ck_assert_int_ne(stat(target, &st), 0); /* not created through the link */
        ck_assert_int_eq(fg_sink_check(&cfg->sink, &opt, errstr, sizeof(errstr)), -1);
        ck_assert_str_eq(opt, "sink.path");
        ck_assert_ptr_nonnull(strstr(errstr, "is a symbolic link"));

        ck_assert_int_eq(unlink(path), 0);
        ck_assert_int_eq(fg_sink_check(&cfg->sink, &opt, errstr, sizeof(errstr)), 0);
        sink = sink_new(cfg);
        conn = conn_open(sink);
        send_strs(conn, (const char *const[]){"one"}, 1, FG_SINK_OK);
        ck_assert_int_eq(rename(path, rotated), 0);
        ck_assert_int_eq(symlink(target, path), 0);
        fg_sink_reopen(sink);
        send_strs(conn, (const char *const[]){"two"}, 1, FG_SINK_OK);
        assert_file_is(rotated, "one\ntwo\n", 8);
        ck_assert_int_ne(stat(target, &st), 0);
        fg_sink_close(conn);
        fg_sink_destroy(sink);
        free(cfg);
        free(path), free(target), free(rotated);
        tmpdir_free(dir);
}
END_TEST

START_TEST(test_sinks_file_write_failure_is_retry) {
        fg_config_t *cfg = cfg_new(FG_SINK_FILE, "/dev/full", false);
        fg_sink_t *sink = sink_new(cfg);
        fg_sink_conn_t *conn = conn_open(sink);
        fg_event_t evs[3] = {event_of("one", 3), event_of("two", 3), event_of("three", 5)};
        fg_sink_result_t res[3];

        for (int attempt = 0; attempt < 3; attempt++) {
                size_t n = attempt == 1 ? 1 : 3;
                for (size_t i = 0; i < n; i++)
                        res[i] = (fg_sink_result_t){.status = FG_SINK_OK};
                fg_sink_send(conn, evs, n, res);
                for (size_t i = 0; i < n; i++) {
                        ck_assert_msg(res[i].status == FG_SINK_RETRY,
                                      "attempt %d event %zu: status %d, want RETRY", attempt, i,
                                      (int)res[i].status);
                        ck_assert_ptr_nonnull(res[i].reason);
                        ck_assert_msg(strstr(res[i].reason, strerror(ENOSPC)) != NULL,
                                      "reason \"%s\" does not say why", res[i].reason);
                        ck_assert_int_eq(res[i].retry_after_ns, 0);
                }
        }
        fg_sink_close(conn);
        fg_sink_destroy(sink);
        free(cfg);
}
END_TEST

/*
 * A write cut short (here by RLIMIT_FSIZE, so write(2) returns a short count
 * and then EFBIG) is a RETRY; the retried batch must leave the file with only
 * whole lines: the cut line is completed first, then the batch is written
 * again (duplicates are allowed, fragments are not).
 */
/* Sends with files limited to @p limit bytes; returns setrlimit's result.
 * No ck_assert inside: Check writes its own results to a file. */
static int send_fsize_limited(fg_sink_conn_t *conn, const fg_event_t *evs, size_t n,
                              fg_sink_result_t *res, rlim_t limit) {
        struct rlimit saved, rl;
        int rc;

        if (getrlimit(RLIMIT_FSIZE, &saved) != 0)
                return -1;
        rl = saved;
        rl.rlim_cur = limit;
        rc = setrlimit(RLIMIT_FSIZE, &rl);
        fg_sink_send(conn, evs, n, res);
        if (setrlimit(RLIMIT_FSIZE, &saved) != 0)
                rc = -1;
        return rc;
}

START_TEST(test_sinks_file_cut_write_stays_line_aligned) {
        char *dir = tmpdir_new();
        char *path = path_in(dir, "out.jsonl");
        fg_config_t *cfg = cfg_new(FG_SINK_FILE, path, false);
        fg_sink_t *sink = sink_new(cfg);
        fg_sink_conn_t *conn = conn_open(sink);
        const char *const a[] = {"aaaaaaaaa0", "aaaaaaaaa1", "aaaaaaaaa2"};
        const char *const b[] = {"bbbbbbbbb0", "bbbbbbbbb1", "bbbbbbbbb2", "bbbbbbbbb3"};
        fg_event_t evs[4];
        fg_sink_result_t res[4];
        struct sigaction ign = {.sa_handler = SIG_IGN}, old_sa;
        char reason[128] = "";

        ck_assert_int_eq(sigaction(SIGXFSZ, &ign, &old_sa), 0);
        send_strs(conn, a, 3, FG_SINK_OK); /* 33 bytes */
        for (int i = 0; i < 4; i++)
                evs[i] = event_of(b[i], 10);

        /* Cut in the middle of b1 (b0 is bytes 33..43, b1 44..54). */
        ck_assert_int_eq(send_fsize_limited(conn, evs, 4, res, 33 + 11 + 5), 0);
        for (int i = 0; i < 4; i++)
                ck_assert_int_eq(res[i].status, FG_SINK_RETRY);
        ck_assert_ptr_nonnull(res[0].reason);
        snprintf(reason, sizeof(reason), "%s", res[0].reason);
        ck_assert_msg(strstr(reason, strerror(EFBIG)) != NULL, "reason: \"%s\"", reason);

        /* The retry. */
        fg_sink_send(conn, evs, 4, res);
        for (int i = 0; i < 4; i++)
                ck_assert_int_eq(res[i].status, FG_SINK_OK);
        {
                static const char want[] = "aaaaaaaaa0\naaaaaaaaa1\naaaaaaaaa2\n"
                                           "bbbbbbbbb0\nbbbbbbbbb1\n"
                                           "bbbbbbbbb0\nbbbbbbbbb1\nbbbbbbbbb2\nbbbbbbbbb3\n";
                assert_file_is(path, want, sizeof(want) - 1);
        }

        /* Cut exactly at a line end: nothing to complete. */
        ck_assert_int_eq(send_fsize_limited(conn, evs, 4, res, 99 + 11), 0);
        ck_assert_int_eq(res[0].status, FG_SINK_RETRY);
        /* Another connection sends next: it must not start mid-line either. */
        {
                fg_sink_conn_t *conn2 = conn_open(sink);
                send_strs(conn2, (const char *const[]){"c0"}, 1, FG_SINK_OK);
                fg_sink_close(conn2);
        }
        {
                static const char want[] = "aaaaaaaaa0\naaaaaaaaa1\naaaaaaaaa2\n"
                                           "bbbbbbbbb0\nbbbbbbbbb1\n"
                                           "bbbbbbbbb0\nbbbbbbbbb1\nbbbbbbbbb2\nbbbbbbbbb3\n"
                                           "bbbbbbbbb0\nc0\n";
                assert_file_is(path, want, sizeof(want) - 1);
        }

        /* Cut mid-line, and the next send (another batch) also fails before
         * finishing the cut line: the remainder still comes first later. */
        ck_assert_int_eq(send_fsize_limited(conn, evs, 4, res, 113 + 3), 0);
        ck_assert_int_eq(res[0].status, FG_SINK_RETRY);
        ck_assert_int_eq(send_fsize_limited(conn, evs, 1, res + 3, 113 + 3), 0);
        ck_assert_int_eq(res[0].status, FG_SINK_RETRY);
        ck_assert_int_eq(res[3].status, FG_SINK_RETRY);
        send_strs(conn, (const char *const[]){"d0"}, 1, FG_SINK_OK);
        {
                static const char want[] = "aaaaaaaaa0\naaaaaaaaa1\naaaaaaaaa2\n"
                                           "bbbbbbbbb0\nbbbbbbbbb1\n"
                                           "bbbbbbbbb0\nbbbbbbbbb1\nbbbbbbbbb2\nbbbbbbbbb3\n"
                                           "bbbbbbbbb0\nc0\n"
                                           "bbbbbbbbb0\nd0\n";
                assert_file_is(path, want, sizeof(want) - 1);
        }

        sigaction(SIGXFSZ, &old_sa, NULL);
        fg_sink_close(conn);
        fg_sink_destroy(sink);
        free(cfg);
        free(path);
        tmpdir_free(dir);
}
END_TEST

START_TEST(test_sinks_file_fsync_writes) {
        char *dir = tmpdir_new();
        char *path = path_in(dir, "out.jsonl");
        fg_config_t *cfg = cfg_new(FG_SINK_FILE, path, true);
        fg_sink_t *sink = sink_new(cfg);
        fg_sink_conn_t *conn = conn_open(sink);
        fg_buf_t want = FG_BUF_INIT;

        for (int b = 0; b < 20; b++) {
                char v0[32], v1[32];
                snprintf(v0, sizeof(v0), "{\"batch\":%d,\"i\":0}", b);
                snprintf(v1, sizeof(v1), "{\"batch\":%d,\"i\":1}", b);
                send_strs(conn, (const char *const[]){v0, v1}, 2, FG_SINK_OK);
                fg_buf_printf(&want, "%s\n%s\n", v0, v1);
        }
        assert_file_is(path, want.p, want.len);

        fg_buf_free(&want);
        fg_sink_close(conn);
        fg_sink_destroy(sink);
        free(cfg);
        free(path);
        tmpdir_free(dir);
}
END_TEST

/* ---- stdout ---- */

START_TEST(test_sinks_stdout_writes_fd1) {
        char *dir = tmpdir_new();
        char *path = path_in(dir, "stdout.txt");
        fg_config_t *cfg = cfg_new(FG_SINK_STDOUT, NULL, true /* ignored */);
        fg_sink_t *sink = sink_new(cfg);
        fg_sink_conn_t *conn = conn_open(sink);
        fg_sink_result_t res[3];
        fg_event_t evs[3] = {event_of("{\"x\":1}", 7), event_of("two", 3), event_of("", 0)};
        int saved, fd;

        ck_assert_str_eq(fg_sink_name(sink), "stdout");
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        fflush(stdout);
        saved = dup(STDOUT_FILENO);
        ck_assert_int_ge(saved, 0);
        ck_assert_int_eq(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
        close(fd);

        fg_sink_send(conn, evs, 3, res);
        fg_sink_send(conn, evs + 1, 1, res + 1);
        fg_sink_reopen(sink); /* stdout has none: no-op */

        fflush(stdout);
        ck_assert_int_eq(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
        close(saved);
        for (int i = 0; i < 3; i++)
                ck_assert_int_eq(res[i].status, FG_SINK_OK);
        assert_file_is(path, "{\"x\":1}\ntwo\n\ntwo\n", 17);

        fg_sink_close(conn);
        fg_sink_destroy(sink); /* must not close fd 1 */
        ck_assert_int_ne(fcntl(STDOUT_FILENO, F_GETFD), -1);
        free(cfg);
        free(path);
        tmpdir_free(dir);
}
END_TEST

static Suite *sinks_suite(void) {
        Suite *s = suite_create("sinks");
        TCase *tc = tcase_create("core");
        TCase *tc_mt = tcase_create("threads");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_sinks_null_acknowledges_all);
        tcase_add_test(tc, test_sinks_unknown_type_fails);
        tcase_add_test(tc, test_sinks_file_lines_in_order);
        tcase_add_test(tc, test_sinks_file_mode);
        tcase_add_test(tc, test_sinks_file_refuses_symlink);
        tcase_add_test(tc, test_sinks_file_missing_dir_fails);
        tcase_add_test(tc, test_sinks_file_reopen_after_rename);
        tcase_add_test(tc, test_sinks_file_write_failure_is_retry);
        tcase_add_test(tc, test_sinks_file_cut_write_stays_line_aligned);
        tcase_add_test(tc, test_sinks_file_fsync_writes);
        tcase_add_test(tc, test_sinks_stdout_writes_fd1);
        suite_add_tcase(s, tc);

        tcase_set_timeout(tc_mt, 300);
        tcase_add_test(tc_mt, test_sinks_file_concurrent_no_interleave);
        suite_add_tcase(s, tc_mt);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(sinks_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
