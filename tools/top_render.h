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
#include "tools/top_fmt.h"

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

#endif
