/*
 * top_render: the text of `floodgate top` — one /stats document in (schema
 * in daemon/admin.h), one screen of lines out.
 *
 * No I/O, no clock, no terminal: the caller passes the size, the times and
 * whether escapes may be used, so the same document always renders the same
 * bytes and tests can compare them. cmd_top.c owns the terminal.
 *
 * The renderer trusts nothing in the document: a missing section, a wrong
 * type or a null renders as "-" or "none", and strings from the daemon
 * (topics, version, state) are printed with every byte outside printable
 * ASCII replaced by '?', so a hostile topic name cannot smuggle escape
 * sequences onto the terminal.
 *
 * Threading: pure functions, any thread.
 * Ownership: borrows the JSON document and the view; appends to the
 * caller's buffer.
 */
#ifndef FG_TOP_RENDER_H
#define FG_TOP_RENDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

typedef struct fg_top_view {
        const char *url;      /* shown in the header and in errors */
        int width;            /* columns; every line fits, however narrow */
        int height;           /* rows; 0 = unlimited (plain snapshots) */
        bool color;           /* SGR colors and bold; false = no escapes at all */
        bool unicode;         /* may print "µs"; false = ASCII only */
        const char *error;    /* "cannot reach ...", shown in the header; or NULL */
        int64_t refreshed_ms; /* wall clock of the data shown (0 = none yet) */
        int64_t now_ms;       /* wall clock now, to age lag.updated_ms */
        int64_t interval_ns;  /* the refresh period, shown in the header */
} fg_top_view_t;

/* Appends the view of @p stats (NULL or a non-object = no data) to @p b:
 * lines ending in '\n', at most view->height of them when height > 0, each
 * at most view->width columns wide (escapes do not count). Never fails. */
void fg_top_render(fg_buf_t *b, const json_t *stats, const fg_top_view_t *view);

/* The pieces, exposed for tests. Each writes a NUL-terminated string into
 * @p out and returns it; a value that is missing (NaN, negative where that
 * makes no sense) comes back as "-". */

/* A duration given in milliseconds, three significant digits: "870us",
 * "1.20ms", "12.3ms", "123ms", "2.50s" (unicode: "870µs"). */
char *fg_top_fmt_ms(double ms, bool unicode, char *out, size_t size);
/* A count: exact up to 9999999, then "12.3M", "1.50G", "2.00T". */
char *fg_top_fmt_count(double n, char *out, size_t size);
/* A rate per second: "0.5", "999.9", "12.3k", "1.20M". */
char *fg_top_fmt_rate(double r, char *out, size_t size);
/* Bytes in binary units: "512B", "12.0KiB", "64.0MiB". */
char *fg_top_fmt_bytes(double bytes, char *out, size_t size);
/* Seconds as "12s", "3m04s", "1h02m03s", "2d03h04m". */
char *fg_top_fmt_uptime(double s, char *out, size_t size);
/* "[####......]" with @p inner cells between the brackets, filled
 * floor(n * inner / of); of <= 0 or n < 0 gives an empty bar. */
char *fg_top_fmt_bar(int64_t n, int64_t of, int inner, char *out, size_t size);

#endif
