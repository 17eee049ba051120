/*
 * httpd: a scriptable HTTP server on loopback that plays the downstream of
 * floodgate's HTTP sink in tests and benchmarks.
 *
 * DESIGN
 * One evhttp server on its own event_base, run by its own thread, bound to
 * 127.0.0.1 (port 0 = the kernel picks; fg_test_httpd_port() reads it back).
 * Each complete request is logged, then answered by the first rule that
 * applies:
 *   1. the concurrency limit: when `n` requests are already in progress,
 *      the limit's status at once (no script entry is consumed);
 *   2. the next entry of the script (FIFO, one per request): a status, a
 *      DROP (close the connection without answering), a HANG (never
 *      answer; the connection is closed at stop) or a RAW response (see
 *      fg_test_httpd_script_raw: bytes written as scripted, for what a
 *      hostile or broken downstream sends);
 *   3. the fail window: its status until the window ends;
 *   4. the default response (200 unless changed).
 * Rules 2-4 wait latency + the rule's own delay before answering. Waits are
 * evtimers on the server's loop, so concurrent requests wait concurrently.
 * A request is "in progress" from its arrival until it is answered, dropped
 * or its client goes away (closes, or half-closes, its end while waiting:
 * the connection is then closed); limit rejections never count as in
 * progress. Settings take effect for requests that arrive after the call.
 * Idle keep-alive connections are closed after 600 s.
 *
 * Threading: every function here may be called from any thread (not from
 * the server thread, which runs no user code). fg_test_httpd_stop() once.
 * The server thread blocks every asynchronous signal, so SIGPIPE from a
 * vanished client is only an EPIPE and SIGTERM/SIGINT reach other threads.
 * Locks: one mutex inside the server guards settings, counters and the log.
 * Ownership: the server owns its settings and log; snapshots and counts are
 * the caller's (fg_test_httpd_log_free()). URLs live until stop.
 */
#ifndef FG_TEST_HTTPD_H
#define FG_TEST_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Script actions besides an HTTP status (200..599). */
#define FG_TEST_HTTPD_DROP (-1) /* close the connection without a response */
#define FG_TEST_HTTPD_HANG (-2) /* never answer; closed at stop */
#define FG_TEST_HTTPD_RAW  (-3) /* a scripted byte stream (the log's status) */

/* How a RAW response ends once its bytes are written. */
typedef enum fg_test_httpd_end {
        FG_TEST_HTTPD_END_CLOSE = 0, /* close the connection (FIN) */
        FG_TEST_HTTPD_END_RESET,     /* abort it (RST) */
        FG_TEST_HTTPD_END_HANG,      /* keep it open, silent, until the client goes or stop */
} fg_test_httpd_end_t;

/* A RAW response: @c head verbatim (a status line, headers, a chunk
 * header: anything), then @c fill repeated until @c fill_bytes bytes of it
 * went out (-1: until the client goes), as fast as the client reads or,
 * with @c trickle_ms > 0, one copy of @c fill every trickle_ms; then
 * @c end. Whatever the client sends meanwhile is read and discarded. The
 * examples in check_http_sink: a 200 with a chunk header of 7fffffffffff
 * and endless body, a header flood, a trickled body, a reset right after
 * the status line. */
typedef struct fg_test_httpd_raw {
        const char *head;
        const char *fill;    /* NULL or "": nothing after head */
        int64_t fill_bytes;
        int trickle_ms;
        fg_test_httpd_end_t end;
} fg_test_httpd_raw_t;

typedef struct fg_test_httpd fg_test_httpd_t;

/* ---- lifecycle ---- */

/* Starts a server on 127.0.0.1 and an ephemeral port; NULL (and the
 * reason on stderr) on failure. Calls evthread_use_pthreads(). */
fg_test_httpd_t *fg_test_httpd_start(void);
/* The same on @p port (0 = ephemeral), reporting failure in @p errstr. */
fg_test_httpd_t *fg_test_httpd_start_on(int port, char *errstr, size_t errstr_size);
/* Stops the loop, joins the thread, closes every connection (hung requests
 * included) and frees everything. Accepts NULL. */
void fg_test_httpd_stop(fg_test_httpd_t *h);

int fg_test_httpd_port(const fg_test_httpd_t *h);
/* "http://127.0.0.1:PORT<path>" (path NULL = "/"; a missing leading '/' is
 * added). The string belongs to the server and lives until stop. */
const char *fg_test_httpd_url(fg_test_httpd_t *h, const char *path);

/* ---- scripting ---- */

/* The default response: @p status, @p delay_ms on top of the latency, and
 * a "Retry-After: <retry_after_s>" header when retry_after_s >= 0. */
void fg_test_httpd_default(fg_test_httpd_t *h, int status, int delay_ms, int retry_after_s);
/* Appends one entry to the script: a status (with delay and Retry-After as
 * above), FG_TEST_HTTPD_DROP (after the delay) or FG_TEST_HTTPD_HANG. */
void fg_test_httpd_script(fg_test_httpd_t *h, int status, int delay_ms, int retry_after_s);
/* Appends a RAW response to the script (strings are copied); it is sent
 * after the latency like any entry. */
void fg_test_httpd_script_raw(fg_test_httpd_t *h, const fg_test_httpd_raw_t *raw);
/* Every request answered with @p status (after the latency, without
 * Retry-After) for the next @p duration_ms; 0 ends a window early. */
void fg_test_httpd_fail_for(fg_test_httpd_t *h, int status, int duration_ms);
/* Base delay before every answer except limit rejections; any time. */
void fg_test_httpd_latency(fg_test_httpd_t *h, int delay_ms);
/* At most @p n requests in progress; more are answered @p status at once.
 * n = 0 lifts the limit. */
void fg_test_httpd_max_concurrency(fg_test_httpd_t *h, int n, int status);
/* Whether requests are logged (default true). Off, only the counters run:
 * for benchmarks that would otherwise keep every body in memory. */
void fg_test_httpd_keep_log(fg_test_httpd_t *h, bool on);

/* ---- observation ---- */

typedef struct fg_test_httpd_stats {
        int64_t requests;      /* complete requests received */
        int64_t connections;   /* TCP connections accepted */
        int64_t inflight;      /* in progress now (waiting or hung) */
        int64_t peak_inflight; /* the most ever in progress at once */
        int64_t rejected;      /* answered by the concurrency limit */
        int64_t dropped;       /* connections closed by DROP */
        int64_t events;        /* "id" keys in bodies: a cheap running count */
        int64_t body_bytes;
        int64_t script_left;   /* script entries not consumed yet */
        int64_t raw_responses; /* RAW entries started */
        int64_t raw_bytes;     /* bytes of RAW responses the socket took */
        int64_t raw_active;    /* RAW responses still writing or hanging */
} fg_test_httpd_stats_t;

void fg_test_httpd_stats(fg_test_httpd_t *h, fg_test_httpd_stats_t *st);
/* Responses sent with @p status (limit rejections included). */
int64_t fg_test_httpd_answered(fg_test_httpd_t *h, int status);
/* Empties the log and zeroes every counter (the peak restarts from the
 * requests in progress). The script and settings stay. */
void fg_test_httpd_clear(fg_test_httpd_t *h);

/* One logged request. Strings are NUL-terminated; body may hold NULs. */
typedef struct fg_test_httpd_req {
        const char *method;
        const char *uri;          /* as sent: "/ingest?x=1" */
        const char *content_type; /* NULL when absent */
        const char *body;
        size_t body_len;
        int status;               /* what it got: a status, DROP or HANG */
        int peer_port;            /* the client's port: equal = same connection */
        int64_t arrival_ns;       /* CLOCK_MONOTONIC */
        const char *headers_;     /* packed "name\0value\0"..."\0": use _header() */
} fg_test_httpd_req_t;

typedef struct fg_test_httpd_log {
        size_t n;
        fg_test_httpd_req_t *reqs; /* in arrival order */
        char *arena_;
} fg_test_httpd_log_t;

/* A copy of the log from request @p from (0 = all) in arrival order. */
fg_test_httpd_log_t *fg_test_httpd_snapshot(fg_test_httpd_t *h, size_t from);
void fg_test_httpd_log_free(fg_test_httpd_log_t *log);
/* The value of request header @p name (case-insensitive; the first one if
 * repeated), or NULL. Points into the snapshot. */
const char *fg_test_httpd_header(const fg_test_httpd_req_t *req, const char *name);

typedef struct fg_test_httpd_idcount {
        int64_t objects;  /* JSON objects found (events) */
        int64_t matched;  /* ids "<prefix>-<seq>" with 0 <= seq < count */
        int64_t distinct; /* seqs seen at least once */
        int64_t dups;     /* matched - distinct */
        int64_t foreign;  /* objects without such an id, non-object elements */
        int64_t unparsed; /* bodies (NDJSON: lines) that are not JSON */
} fg_test_httpd_idcount_t;

/* Counts the ids "<prefix>-<seq>" in the bodies the server accepted (answered
 * 2xx: what was delivered; refused bodies do not count). A body is one JSON
 * object, an array of them, or NDJSON (one per line); an object's id is its
 * "id" string member, else the first one found in nested objects (so an
 * envelope works). Fills @p times[seq] (count entries, zeroed first; may be
 * NULL) and @p ic (may be NULL); returns the number of distinct seqs seen. */
size_t fg_test_httpd_ids(fg_test_httpd_t *h, const char *prefix, int64_t count, uint32_t *times,
                         fg_test_httpd_idcount_t *ic);
/* Waits up to @p timeout_ms until fg_test_httpd_ids(@p h, @p prefix,
 * @p count) reaches @p want; false if it did not. */
bool fg_test_httpd_wait_ids(fg_test_httpd_t *h, const char *prefix, int64_t count, int64_t want,
                            int timeout_ms);

#endif
