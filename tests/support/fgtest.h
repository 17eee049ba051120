/*
 * fgtest: shared helpers for floodgate's integration tests — temp dirs,
 * config files, an in-process mock cluster, producing events, running the
 * real binary as a child process, and reading back what arrived where.
 *
 * Every wait is on a condition with a generous upper bound, polled every
 * 10 ms; nothing relies on a sleep alone.
 *
 * Threading: test thread, except fg_test_reader_* which runs its own thread.
 * Ownership: returned strings and structs belong to the caller (free() /
 * the matching _free function).
 */
#ifndef FG_TEST_H
#define FG_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <librdkafka/rdkafka.h>

#include "kafka/mock.h"

/* ---- files ---- */
char *fg_test_tmpdir(void);
void fg_test_rmtree(const char *dir);
/* Writes a file under @p dir; returns its path. */
char *fg_test_write(const char *dir, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
char *fg_test_path(const char *dir, const char *name);
/* Whole file as a NUL-terminated string (NULL if missing). */
char *fg_test_slurp(const char *path, size_t *len);
bool fg_test_file_contains(const char *path, const char *needle);
size_t fg_test_count_lines(const char *path);
/* Absolute path of a file in the source tree (FLOODGATE_SRCDIR). */
char *fg_test_srcpath(const char *rel);
/* A suite's main for tests that read files by relative path: chdir to
 * FLOODGATE_SRCDIR (when set), run @p s (freed), EXIT_SUCCESS if every
 * check passed. @p name prefixes the error when the chdir fails. */
struct Suite;
int fg_test_run_in_srcdir(struct Suite *s, const char *name);

/* ---- waiting ---- */
/* Polls @p pred every 10 ms until true or @p timeout_ms; returns its value. */
bool fg_test_wait(bool (*pred)(void *opaque), void *opaque, int timeout_ms);
bool fg_test_wait_file_contains(const char *path, const char *needle, int timeout_ms);
bool fg_test_wait_lines(const char *path, size_t lines, int timeout_ms);

/* ---- Kafka ---- */
/* A mock cluster with one topic. */
fg_mock_t *fg_test_mock(int brokers, const char *topic, int partitions);
/* Produces @p count events "<prefix>-<seq>" (synchronously: returns once
 * all are delivered; fails the test otherwise). rate 0 = unlimited. */
void fg_test_produce(const char *bootstrap, const char *topic, const char *prefix, int64_t count,
                     int64_t rate, int64_t size);

typedef struct fg_test_producer fg_test_producer_t;
fg_test_producer_t *fg_test_produce_async(const char *bootstrap, const char *topic,
                                          const char *prefix, int64_t count, int64_t rate,
                                          int64_t size);
int64_t fg_test_producer_produced(fg_test_producer_t *p);
/* Joins; fails the test unless every event was delivered. */
void fg_test_producer_join(fg_test_producer_t *p);

/* Where each event landed: partition and offset by seq. Reads the whole
 * topic from the beginning (no group). */
typedef struct fg_test_index {
        int64_t count;
        int32_t *partition; /* by seq, -1 if not found */
        int64_t *offset;
        int partitions;
} fg_test_index_t;
void fg_test_index_topic(fg_test_index_t *ix, const char *bootstrap, const char *topic,
                         const char *prefix, int64_t count, int partitions);
void fg_test_index_free(fg_test_index_t *ix);

/* Hand-made messages: any key, value (even invalid or empty) and headers. */
typedef struct fg_test_msg {
        const char *key;           /* NUL-terminated, or NULL */
        const void *value;
        size_t len;
        const char *hdr_name[4];   /* up to 4 headers, NULL-terminated */
        const char *hdr_value[4];
} fg_test_msg_t;
/* Produces them all (waiting for delivery; fails the test otherwise). */
void fg_test_produce_msgs(const char *bootstrap, const char *topic, const fg_test_msg_t *msgs,
                          size_t n);

/* A topic read back from the beginning (no group). */
typedef struct fg_test_rmsg {
        char *key;                 /* NUL-terminated copy, or NULL */
        char *value;               /* NUL-terminated copy */
        size_t len;
        int32_t partition;
        int64_t offset;
        int64_t ts_ms;
        rd_kafka_headers_t *headers; /* copy, or NULL */
} fg_test_rmsg_t;
typedef struct fg_test_topic {
        fg_test_rmsg_t *msgs;
        size_t n;
} fg_test_topic_t;
void fg_test_read_topic(fg_test_topic_t *t, const char *bootstrap, const char *topic, int partitions);
void fg_test_topic_free(fg_test_topic_t *t);
/* A header's value as a new string (NULL when absent). */
char *fg_test_header(const fg_test_rmsg_t *m, const char *name);

/* Committed offset per partition for @p group (-1 = none), into out[]. */
void fg_test_committed(const char *bootstrap, const char *group, const char *topic,
                       int partitions, int64_t *out);

/* ---- what the sink received ---- */
typedef struct fg_test_seen {
        int64_t count;
        uint32_t *times; /* by seq */
        int64_t missing; /* seqs never seen */
        int64_t dups;    /* extra sightings */
        int64_t lines;
        int64_t foreign; /* lines without a matching id */
} fg_test_seen_t;
/* Scans JSON lines for "id":"<prefix>-<seq>". */
void fg_test_seen_scan(fg_test_seen_t *s, const char *path, const char *prefix, int64_t count);
void fg_test_seen_scan_buf(fg_test_seen_t *s, const char *buf, size_t len, const char *prefix,
                           int64_t count);
void fg_test_seen_free(fg_test_seen_t *s);
/* fg_test_seen_scan over the union of @p paths (NULL-terminated; a file
 * that does not exist counts as empty). */
void fg_test_seen_scan_files(fg_test_seen_t *s, const char *const *paths, const char *prefix,
                             int64_t count);
/* The at-least-once invariant: every message below a partition's committed
 * offset was seen. Returns the number of violations (0 = holds) and prints
 * the first few. */
int64_t fg_test_committed_were_seen(const fg_test_index_t *ix, const fg_test_seen_t *s,
                                    const int64_t *committed);
/* After a kill -9: checks that every offset @p group committed was
 * delivered to @p out (fails the test otherwise) and returns how many
 * distinct ids were delivered but not committed; *delivered (may be NULL)
 * gets the distinct ids delivered. */
int64_t fg_test_uncommitted(const char *bootstrap, const char *group, const char *topic,
                            int partitions, const char *out, const char *prefix, int64_t count,
                            int64_t *delivered);
/* The converse after a clean stop: everything seen is below committed.
 * Returns violations. */
int64_t fg_test_seen_were_committed(const fg_test_index_t *ix, const fg_test_seen_t *s,
                                    const int64_t *committed);

/* ---- the floodgate binary ---- */
typedef struct fg_test_proc {
        pid_t pid;
        char *log;   /* stdout + stderr */
        int status;  /* after exit: exit code, or 128 + signal */
        bool exited;
} fg_test_proc_t;

/* Runs FLOODGATE_BIN with @p args (NULL-terminated, without argv[0]);
 * output goes to @p log. The child dies with the test process. */
fg_test_proc_t *fg_test_spawn(const char *log, const char *const *args);
/* `floodgate run -c CFG` (with --until-drained when asked), output to
 * @p log. */
fg_test_proc_t *fg_test_spawn_run(const char *cfg, const char *log, bool until_drained);
/* Prints the last @p tail bytes of @p path to stderr, framed (a failing
 * test's daemon log). */
void fg_test_dump_log(const char *path, size_t tail);
/* Waits for exit up to @p timeout_ms: the exit code (128+sig if killed),
 * or -1 on timeout. */
int fg_test_proc_wait(fg_test_proc_t *p, int timeout_ms);
void fg_test_proc_signal(fg_test_proc_t *p, int sig);
/* Kills (SIGKILL) if still running, reaps, frees. */
void fg_test_proc_free(fg_test_proc_t *p);
/* Peak RSS (VmHWM, counted from exec) of a running child, KiB; -1 if gone. */
long fg_test_proc_hwm_kib(const fg_test_proc_t *p);
/* Runs FLOODGATE_BIN to completion; returns the exit code and its output. */
int fg_test_run(const char *const *args, char **output, int timeout_ms);
/* The admin port a daemon logged ("serving ... on HOST:PORT"), waiting up
 * to @p timeout_ms; -1 if it never did. */
int fg_test_admin_port(const char *log, int timeout_ms);

/* ---- HTTP ---- */
/* A blocking HTTP/1.0 request to 127.0.0.1:@p port; returns the status code
 * (-1 on connection failure) and the body (caller frees) in @p body. */
int fg_test_http(int port, const char *method, const char *path, char **body);
/* The value of the first /metrics sample at @p port that follows
 * @p sample (a line start, the name and its labels and a space, e.g.
 * "\nfloodgate_route_held_total{route=\"a\"} "); -1 when the sample is
 * missing or the port does not answer 200. */
double fg_test_metric(int port, const char *sample);

#endif
