/*
 * top_render: the text of `floodgate top` (see top_render.h).
 *
 * DESIGN: a tiny line builder (scr_t) counts visible columns as it appends,
 * clips every line at the width and drops lines past the height, so the
 * section code below can print freely and still never wrap or scroll a
 * terminal. Escapes go through attr()/attr_off() only, which do nothing
 * in plain mode: plain output is printable ASCII and '\n', nothing else.
 *
 * Layout at 80x24 (wider terminals get longer bars and more lag columns):
 *   header (2) | throughput (4) | latency (4) | queue, ingest, workers (3)
 *   [+ ordering (1), with workers.ordering partition or key or parked keys] |
 *   lag total (1) + as many partition rows as are left, then "... N more".
 * Blank lines separate the groups only when the screen has 24 rows or more.
 *
 * Threading: pure functions, any thread.
 */
#include "tools/top_render.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/units.h"

#define SGR_BOLD   "1"
#define SGR_DIM    "2"
#define SGR_RED    "31"
#define SGR_GREEN  "32"
#define SGR_YELLOW "33"

#define LABEL_COL  11 /* where a section's values start */
#define LAG_COLW   36 /* one "topic[p]   lag" entry */
#define LAG_GAP    2
#define TOPIC_MAX  128

/* ---- formatting ---- */

static char *dash(char *out, size_t size) {
        snprintf(out, size, "-");
        return out;
}

/* Decimals that give three significant digits for 1 <= v < 1000. */
static int sig3(double v) { return v < 9.995 ? 2 : v < 99.95 ? 1 : 0; }

/* v / unit^k for the smallest k that keeps three digits, from @p units. */
static char *scaled(double v, double unit, const char *const *units, size_t nunits, char *out,
                    size_t size) {
        size_t i = 0;

        v /= unit;
        while (v >= 999.5 && i + 1 < nunits) {
                v /= unit;
                i++;
        }
        snprintf(out, size, "%.*f%s", sig3(v), v, units[i]);
        return out;
}

char *fg_top_fmt_ms(double ms, bool unicode, char *out, size_t size) {
        const char *us = unicode ? "\xc2\xb5s" : "us";

        if (!(ms >= 0) || isinf(ms))
                return dash(out, size);
        if (ms == 0)
                snprintf(out, size, "0%s", us);
        else if (ms < 0.9995)
                snprintf(out, size, "%.*f%s", ms * 1000 < 9.95 ? 1 : 0, ms * 1000, us);
        else if (ms < 999.5)
                snprintf(out, size, "%.*fms", sig3(ms), ms);
        else if (ms < 999500)
                snprintf(out, size, "%.*fs", sig3(ms / 1000), ms / 1000);
        else
                snprintf(out, size, "%.0fs", ms / 1000);
        return out;
}

char *fg_top_fmt_count(double n, char *out, size_t size) {
        static const char *const units[] = {"k", "M", "G", "T", "P", "E"};

        if (!(n >= 0) || isinf(n))
                return dash(out, size);
        if (n < 9999999.5) {
                snprintf(out, size, "%.0f", n);
                return out;
        }
        /* From M: "10.0M" reads better than "10000k" next to exact counts. */
        return scaled(n / 1000, 1000, units + 1, 5, out, size);
}

char *fg_top_fmt_rate(double r, char *out, size_t size) {
        static const char *const units[] = {"k", "M", "G", "T"};

        if (!(r >= 0) || isinf(r))
                return dash(out, size);
        if (r < 999.95) {
                snprintf(out, size, "%.1f", r);
                return out;
        }
        return scaled(r, 1000, units, 4, out, size);
}

char *fg_top_fmt_bytes(double bytes, char *out, size_t size) {
        static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};

        if (!(bytes >= 0) || isinf(bytes))
                return dash(out, size);
        if (bytes < 1024) {
                snprintf(out, size, "%.0fB", bytes);
                return out;
        }
        return scaled(bytes, 1024, units, 6, out, size);
}

char *fg_top_fmt_uptime(double s, char *out, size_t size) {
        long long t;

        if (!(s >= 0) || s > 1e15)
                return dash(out, size);
        t = (long long)s;
        if (t < 60)
                snprintf(out, size, "%llds", t);
        else if (t < 3600)
                snprintf(out, size, "%lldm%02llds", t / 60, t % 60);
        else if (t < 86400)
                snprintf(out, size, "%lldh%02lldm%02llds", t / 3600, t / 60 % 60, t % 60);
        else
                snprintf(out, size, "%lldd%02lldh%02lldm", t / 86400, t / 3600 % 24, t / 60 % 60);
        return out;
}

/* floor(n * k / of) without overflow, for 0 <= n <= of. */
static int64_t part_of(int64_t n, int64_t of, int k) {
        if (n <= INT64_MAX / k)
                return n * k / of;
        return (int64_t)((double)n / (double)of * k);
}

/* floor(100 * n / of), for of > 0 and n >= 0; below 100 until n reaches of. */
static int64_t percent(int64_t n, int64_t of) {
        int64_t p;

        if (n >= of)
                return (int64_t)((double)n * 100 / (double)of);
        p = part_of(n, of, 100);
        return p < 100 ? p : 99;
}

char *fg_top_fmt_bar(int64_t n, int64_t of, int inner, char *out, size_t size) {
        int filled = 0;

        if (size < 4) {
                if (size)
                        out[0] = '\0';
                return out;
        }
        if (inner > (int)size - 3)
                inner = (int)size - 3;
        if (inner < 1)
                inner = 1;
        if (of > 0 && n > 0)
                filled = n >= of ? inner : (int)part_of(n, of, inner);
        /* Full means full: rounding in part_of() must not fill a bar early. */
        if (n < of && filled >= inner)
                filled = inner - 1;
        out[0] = '[';
        memset(out + 1, '#', (size_t)filled);
        memset(out + 1 + filled, '.', (size_t)(inner - filled));
        out[inner + 1] = ']';
        out[inner + 2] = '\0';
        return out;
}

/* ---- JSON access: every getter tolerates NULL and wrong types ---- */

static const json_t *get(const json_t *o, const char *key) {
        return json_is_object(o) ? json_object_get(o, key) : NULL;
}

static double num(const json_t *v) { return json_is_number(v) ? json_number_value(v) : NAN; }

static double getnum(const json_t *o, const char *key) { return num(get(o, key)); }

static bool getint(const json_t *o, const char *key, int64_t *out) {
        const json_t *v = get(o, key);
        double d;

        if (json_is_integer(v)) {
                *out = (int64_t)json_integer_value(v);
                return true;
        }
        d = num(v);
        if (!(d >= -9e18 && d <= 9e18))
                return false;
        *out = (int64_t)d;
        return true;
}

/* Printable ASCII only: anything else from the daemon becomes '?'. */
static void sanitize(const char *in, char *out, size_t size) {
        size_t i = 0;

        for (; in && *in && i + 1 < size; in++)
                out[i++] = (*in >= 0x20 && *in < 0x7f) ? *in : '?';
        out[i] = '\0';
}

static const char *getstr(const json_t *o, const char *key, char *out, size_t size) {
        const json_t *v = get(o, key);

        if (!json_is_string(v))
                return NULL;
        sanitize(json_string_value(v), out, size);
        return out;
}

/* ---- the line builder ---- */

typedef struct scr {
        fg_buf_t *b;
        const fg_top_view_t *v;
        int width;
        int rows;    /* lines emitted */
        int cols;    /* visible columns on the current line */
        bool skip;   /* the current line is past the height: swallow it */
        bool sgr;    /* an attribute is active on the current line */
        bool blanks; /* blank lines between groups */
        bool dim;    /* stale data: every line dimmed */
} scr_t;

static int rows_left(const scr_t *s) {
        return s->v->height > 0 ? s->v->height - s->rows : INT_MAX;
}

static void attr(scr_t *s, const char *code);

static void line_begin(scr_t *s) {
        s->cols = 0;
        s->sgr = false;
        s->skip = rows_left(s) <= 0;
        if (s->dim)
                attr(s, SGR_DIM);
}

static void line_end(scr_t *s) {
        if (s->skip)
                return;
        if (s->sgr)
                fg_buf_append(s->b, "\033[0m", 4);
        fg_buf_putc(s->b, '\n');
        s->rows++;
}

static void blank(scr_t *s) {
        if (!s->blanks)
                return;
        line_begin(s);
        line_end(s);
}

/* Appends up to the width; UTF-8 continuation bytes ride with their lead. */
static void put_n(scr_t *s, const char *p, size_t n) {
        if (s->skip)
                return;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)p[i];
                if ((c & 0xc0) != 0x80) {
                        if (s->cols >= s->width)
                                break;
                        s->cols++;
                }
                fg_buf_putc(s->b, (char)c);
        }
}

static void put(scr_t *s, const char *str) { put_n(s, str, strlen(str)); }

__attribute__((format(printf, 2, 3))) static void putf(scr_t *s, const char *fmt, ...) {
        char tmp[512];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
        va_end(ap);
        if (n > 0)
                put_n(s, tmp, strlen(tmp));
}

static void pad_to(scr_t *s, int col) {
        while (!s->skip && s->cols < col && s->cols < s->width)
                put_n(s, " ", 1);
}

/* Columns, not bytes: UTF-8 continuation bytes take none. */
static int vis_len(const char *str) {
        int n = 0;
        for (; *str; str++)
                n += ((unsigned char)*str & 0xc0) != 0x80;
        return n;
}

/* Right-aligns @p str so that it ends at column @p end. */
static void put_right(scr_t *s, const char *str, int end) {
        int len = vis_len(str);
        pad_to(s, end - len);
        if (s->cols < end - len) /* clipped */
                return;
        if (s->cols > end - len && s->cols < s->width)
                put_n(s, " ", 1);
        put(s, str);
}

static bool fits(const scr_t *s, const char *str) { return s->cols + vis_len(str) <= s->width; }

static void attr(scr_t *s, const char *code) {
        if (!s->v->color || s->skip)
                return;
        fg_buf_printf(s->b, "\033[%sm", code);
        s->sgr = true;
}

/* Back to the line's base attributes (dim, for stale data). */
static void attr_off(scr_t *s) {
        if (!s->sgr || s->skip)
                return;
        fg_buf_append(s->b, "\033[0m", 4);
        s->sgr = false;
        if (s->dim)
                attr(s, SGR_DIM);
}

static void label(scr_t *s, const char *name) {
        line_begin(s);
        attr(s, SGR_BOLD);
        put(s, name);
        attr_off(s);
        pad_to(s, LABEL_COL);
}

/* "name value" with two spaces before it, or on a new indented line when
 * it would not fit; @p color highlights a non-zero value. */
static void flow_item(scr_t *s, const char *name, double value, const char *color) {
        char item[96], n[32];

        fg_top_fmt_count(value, n, sizeof(n));
        snprintf(item, sizeof(item), "%s %s", name, n);
        if (s->cols > 2 && s->cols + 2 + (int)strlen(item) > s->width) {
                line_end(s);
                line_begin(s);
                pad_to(s, 2);
        } else if (s->cols > 2) {
                put(s, "  ");
        }
        put(s, name);
        put(s, " ");
        if (color && value > 0)
                attr(s, color);
        put(s, n);
        attr_off(s);
}

/* ---- sections ---- */

static void clock_hms(int64_t wall_ms, char *out, size_t size) {
        time_t t = (time_t)(wall_ms / 1000);
        struct tm tm;

        if (!localtime_r(&t, &tm) || !strftime(out, size, "%H:%M:%S", &tm))
                dash(out, size);
}

/* "unhealthy: reason" or "not ready" after the state, when the daemon
 * says so; nothing when it is fine or does not say. */
static void section_health(scr_t *s, const json_t *health) {
        const json_t *healthy = get(health, "healthy"), *ready = get(health, "ready");
        char reason[160];

        if (json_is_false(healthy)) {
                attr(s, SGR_RED);
                put(s, "  unhealthy");
                if (getstr(health, "reason", reason, sizeof(reason)) && reason[0])
                        putf(s, ": %s", reason);
                attr_off(s);
        } else if (json_is_false(ready)) {
                attr(s, SGR_YELLOW);
                put(s, "  not ready");
                attr_off(s);
        }
}

static void section_header(scr_t *s, const json_t *st) {
        const fg_top_view_t *v = s->v;
        char ver[32], state[32], url[256], t[64], iv[32], rss[32], piece[128];
        const json_t *proc = get(st, "process");
        double threads = getnum(proc, "threads");

        sanitize(v->url, url, sizeof(url));
        fg_format_duration(v->interval_ns, iv, sizeof(iv));
        line_begin(s);
        attr(s, SGR_BOLD);
        if (st)
                putf(s, "floodgate %s", getstr(st, "version", ver, sizeof(ver)) ? ver : "-");
        else
                put(s, "floodgate top");
        attr_off(s);
        putf(s, "  %s", url);
        if (st) {
                putf(s, "  up %s  ", fg_top_fmt_uptime(getnum(st, "uptime_s"), t, sizeof(t)));
                if (!getstr(st, "state", state, sizeof(state)))
                        snprintf(state, sizeof(state), "-");
                attr(s, !strcmp(state, "running") ? SGR_GREEN : SGR_YELLOW);
                put(s, state);
                attr_off(s);
                section_health(s, get(st, "health"));
        }
        line_end(s);

        line_begin(s);
        if (v->error) {
                /* The reason first; then, as room allows, how old the data
                 * below is and that we keep trying. */
                attr(s, SGR_RED);
                put(s, v->error);
                attr_off(s);
                if (st && v->refreshed_ms) {
                        clock_hms(v->refreshed_ms, t, sizeof(t));
                        snprintf(piece, sizeof(piece), "; data from %s", t);
                        if (fits(s, piece))
                                put(s, piece);
                }
                snprintf(piece, sizeof(piece), "; retrying every %s", iv);
                if (v->interval_ns > 0 && fits(s, piece))
                        put(s, piece);
        } else if (st && v->refreshed_ms) {
                clock_hms(v->refreshed_ms, t, sizeof(t));
                putf(s, "refreshed %s", t);
                if (v->interval_ns > 0)
                        putf(s, ", every %s", iv);
                snprintf(t, sizeof(t), "  rss %s",
                         fg_top_fmt_bytes(getnum(proc, "rss_bytes"), rss, sizeof(rss)));
                if (proc && fits(s, t))
                        put(s, t);
                snprintf(t, sizeof(t), "  threads %s", fg_top_fmt_count(threads, iv, sizeof(iv)));
                if (proc && fits(s, t))
                        put(s, t);
        } else {
                put(s, st ? "snapshot" : "connecting...");
        }
        line_end(s);
}

static void section_throughput(scr_t *s, const json_t *st) {
        static const char *const windows[] = {"1s", "10s", "60s"};
        static const char *const names[] = {"consumed", "ok"};
        const json_t *rates = get(st, "rates"), *ctr = get(st, "counters");
        char cell[32];

        label(s, "throughput/s");
        for (int w = 0; w < 3; w++)
                put_right(s, windows[w], 24 + 10 * w);
        put_right(s, "total", 56);
        line_end(s);
        for (int i = 0; i < 2; i++) {
                line_begin(s);
                putf(s, "  %s", names[i]);
                for (int w = 0; w < 3; w++)
                        put_right(s,
                                  fg_top_fmt_rate(getnum(get(rates, names[i]), windows[w]), cell,
                                                  sizeof(cell)),
                                  24 + 10 * w);
                put_right(s, fg_top_fmt_count(getnum(ctr, names[i]), cell, sizeof(cell)), 56);
                line_end(s);
        }
        line_begin(s);
        pad_to(s, 2);
        flow_item(s, "filtered", getnum(ctr, "filtered"), NULL);
        flow_item(s, "dead_letter", getnum(ctr, "dead_letter"), SGR_YELLOW);
        flow_item(s, "dropped", getnum(ctr, "dropped"), SGR_YELLOW);
        flow_item(s, "failed", getnum(ctr, "failed"), SGR_RED);
        flow_item(s, "retries", getnum(ctr, "retries"), SGR_YELLOW);
        line_end(s);
}

static void section_latency(scr_t *s, const json_t *st) {
        static const char *const keys[] = {"end_to_end", "queue_wait", "sink_call"};
        static const char *const names[] = {"end-to-end", "queue wait", "sink call"};
        static const char *const qs[] = {"p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"};
        static const char *const heads[] = {"p50", "p90", "p99", "p99.9", "max"};
        const json_t *lat = get(st, "latency");
        double window = getnum(lat, "window_s");
        bool mean = s->width >= 86;
        char cell[32];

        line_begin(s);
        attr(s, SGR_BOLD);
        if (window > 0 && window < 1e6)
                putf(s, "latency, last %.0fs", window);
        else
                put(s, "latency");
        attr_off(s);
        for (int q = 0; q < 5; q++)
                put_right(s, heads[q], 20 + 9 * (q + 1));
        put_right(s, "count", 75);
        if (mean)
                put_right(s, "mean", 84);
        line_end(s);
        for (int i = 0; i < 3; i++) {
                const json_t *h = get(lat, keys[i]);
                double count = getnum(h, "count");
                line_begin(s);
                putf(s, "  %s", names[i]);
                for (int q = 0; q < 5; q++) {
                        /* An empty window has no quantiles, whatever the daemon sent. */
                        double ms = count > 0 ? getnum(h, qs[q]) : NAN;
                        put_right(s, fg_top_fmt_ms(ms, s->v->unicode, cell, sizeof(cell)),
                                  20 + 9 * (q + 1));
                }
                put_right(s, fg_top_fmt_count(count, cell, sizeof(cell)), 75);
                if (mean)
                        put_right(s,
                                  fg_top_fmt_ms(count > 0 ? getnum(h, "sum_ms") / count : NAN,
                                                s->v->unicode, cell, sizeof(cell)),
                                  84);
                line_end(s);
        }
}

/* A bar with its filled part colored by how full it is. */
static void put_bar(scr_t *s, int64_t n, int64_t of, int inner) {
        char bar[128];
        int filled;
        const char *color;

        fg_top_fmt_bar(n, of, inner, bar, sizeof(bar));
        filled = (int)strspn(bar + 1, "#");
        color = filled * 10 >= inner * 9 ? SGR_RED : filled * 10 >= inner * 7 ? SGR_YELLOW
                                                                               : SGR_GREEN;
        put_n(s, bar, 1);
        attr(s, color);
        put_n(s, bar + 1, (size_t)filled);
        attr_off(s);
        put(s, bar + 1 + filled);
}

static void section_queue(scr_t *s, const json_t *st) {
        const json_t *q = get(st, "queue");
        int64_t depth, cap;
        int inner = s->width - 60; /* 20 at 80 columns, growing with the width */
        char a[32], b[32], piece[96];

        label(s, "queue");
        if (!getint(q, "depth", &depth) || !getint(q, "capacity", &cap)) {
                put(s, "-");
                line_end(s);
                return;
        }
        inner = inner < 20 ? 20 : inner > 60 ? 60 : inner;
        put_bar(s, depth, cap, inner);
        putf(s, " %s/%s", fg_top_fmt_count((double)depth, a, sizeof(a)),
             fg_top_fmt_count((double)cap, b, sizeof(b)));
        if (cap > 0 && depth >= 0)
                putf(s, " (%lld%%)", (long long)percent(depth, cap));
        snprintf(piece, sizeof(piece), "  %s of %s",
                 fg_top_fmt_bytes(getnum(q, "bytes"), a, sizeof(a)),
                 fg_top_fmt_bytes(getnum(q, "max_bytes"), b, sizeof(b)));
        put(s, piece);
        snprintf(piece, sizeof(piece), "  peak %s",
                 fg_top_fmt_count(getnum(q, "peak_depth"), a, sizeof(a)));
        if (get(q, "peak_depth") && fits(s, piece))
                put(s, piece);
        line_end(s);
}

static void section_ingest(scr_t *s, const json_t *st) {
        const json_t *in = get(st, "ingest"), *blocked = get(in, "blocked");
        double paused = getnum(in, "paused");
        char n[32];

        label(s, "ingest");
        if (!json_is_object(in)) {
                put(s, "-");
                line_end(s);
                return;
        }
        putf(s, "assigned %s  paused ", fg_top_fmt_count(getnum(in, "assigned"), n, sizeof(n)));
        if (paused > 0)
                attr(s, SGR_YELLOW);
        put(s, fg_top_fmt_count(paused, n, sizeof(n)));
        attr_off(s);
        put(s, "  blocked ");
        if (json_is_true(blocked))
                attr(s, SGR_RED);
        put(s, json_is_boolean(blocked) ? (json_is_true(blocked) ? "yes" : "no") : "-");
        attr_off(s);
        putf(s, "  pending %s", fg_top_fmt_count(getnum(in, "pending"), n, sizeof(n)));
        line_end(s);
}

static void section_workers(scr_t *s, const json_t *st) {
        const json_t *w = get(st, "workers"), *brk = get(st, "breaker");
        int64_t busy, total;
        char a[32], b[32], mode[32], state[32];
        const char *color = NULL;

        label(s, "workers");
        if (getint(w, "busy", &busy) && getint(w, "total", &total)) {
                put_bar(s, busy, total, 10);
                putf(s, " %s/%s busy", fg_top_fmt_count((double)busy, a, sizeof(a)),
                     fg_top_fmt_count((double)total, b, sizeof(b)));
        } else {
                put(s, "-");
        }
        if (getstr(w, "mode", mode, sizeof(mode)))
                putf(s, " (%s)", mode);
        pad_to(s, 48);
        put(s, "breaker: ");
        if (!json_is_object(brk)) {
                put(s, "none");
        } else if (!getstr(brk, "state", state, sizeof(state))) {
                put(s, "-");
        } else {
                double left = getnum(brk, "open_remaining_ms"), rate = getnum(brk, "failure_rate");
                char piece[64], ms[32];
                if (!strcmp(state, "closed"))
                        color = SGR_GREEN;
                else if (!strcmp(state, "half_open"))
                        color = SGR_YELLOW;
                else if (!strcmp(state, "open") || !strcmp(state, "forced_open"))
                        color = SGR_RED;
                if (color)
                        attr(s, color);
                put(s, state);
                attr_off(s);
                /* Details only where they fit: the state is what matters. */
                snprintf(piece, sizeof(piece), " for %s",
                         fg_top_fmt_ms(left, s->v->unicode, ms, sizeof(ms)));
                if (!strcmp(state, "open") && left > 0 && fits(s, piece))
                        put(s, piece);
                snprintf(piece, sizeof(piece), " (%.0f%% failing)", rate * 100);
                if (rate >= 0 && rate <= 1 && fits(s, piece))
                        put(s, piece);
        }
        line_end(s);
}

/* Only with workers.ordering partition or key, or parked keys: what waits
 * behind earlier events of its key, partitions held back, parked keys. */
static void section_ordering(scr_t *s, const json_t *st) {
        const json_t *o = get(st, "ordering"), *pk = get(st, "parked"), *list = get(pk, "list");
        char mode[32], n[32], m[32], key[48], piece[96];
        double held = getnum(o, "held_partitions"), parked = getnum(pk, "keys");
        bool park_on = json_is_true(get(pk, "enabled"));

        if (!getstr(o, "mode", mode, sizeof(mode)) || (!strcmp(mode, "none") && !park_on))
                return;
        label(s, "ordering");
        putf(s, "%s  waiting %s on %s keys", mode,
             fg_top_fmt_count(getnum(o, "waiting_events"), n, sizeof(n)),
             fg_top_fmt_count(getnum(o, "blocked_keys"), m, sizeof(m)));
        if (json_is_true(get(o, "switching")))
                put(s, " (switching)");
        if (held > 0) {
                put(s, "  held ");
                attr(s, SGR_YELLOW);
                put(s, fg_top_fmt_count(held, n, sizeof(n)));
                attr_off(s);
        }
        if (park_on) {
                put(s, "  parked ");
                if (parked > 0)
                        attr(s, SGR_RED);
                put(s, fg_top_fmt_count(parked, n, sizeof(n)));
                attr_off(s);
                /* The oldest parked keys, as many as fit. */
                for (size_t i = 0; i < json_array_size(list); i++) {
                        if (!getstr(json_array_get(list, i), "key", key, sizeof(key)))
                                continue;
                        snprintf(piece, sizeof(piece), "%s%s", i ? ", " : ": ", key);
                        if (!fits(s, piece))
                                break;
                        put(s, piece);
                }
        }
        line_end(s);
}

typedef struct lag_row {
        char topic[TOPIC_MAX];
        int64_t partition; /* -1 = unknown */
        int64_t lag;       /* -1 = unknown (null) */
} lag_row_t;

/* Largest lag first, unknown lag last; then by topic and partition so
 * equal lags keep a stable order between refreshes. */
static int lag_cmp(const void *pa, const void *pb) {
        const lag_row_t *a = pa, *b = pb;
        int c;

        if (a->lag != b->lag)
                return a->lag > b->lag ? -1 : 1;
        if ((c = strcmp(a->topic, b->topic)))
                return c;
        return (a->partition > b->partition) - (a->partition < b->partition);
}

/* "topic[p]" in at most @p max columns, shortening the topic with '~'. */
static void lag_label(const lag_row_t *r, int max, char *out, size_t size) {
        char part[32];
        int tlen = (int)strlen(r->topic), avail;

        if (r->partition >= 0)
                snprintf(part, sizeof(part), "[%lld]", (long long)r->partition);
        else
                snprintf(part, sizeof(part), "[?]");
        avail = max - (int)strlen(part);
        if (tlen <= avail || avail < 2)
                snprintf(out, size, "%s%s", r->topic, part);
        else
                snprintf(out, size, "%.*s~%s", avail - 1, r->topic, part);
}

static void section_lag(scr_t *s, const json_t *st) {
        const json_t *lag = get(st, "lag"), *parts = get(lag, "partitions");
        double updated = getnum(lag, "updated_ms");
        size_t n = 0, np = json_is_array(parts) ? json_array_size(parts) : 0;
        lag_row_t *rows = np ? calloc(np, sizeof(*rows)) : NULL;
        int ncols, colw, shown, nrows, left;
        char cell[32], name[TOPIC_MAX + 32];

        label(s, "lag");
        if (!json_is_object(lag)) {
                put(s, "-");
                line_end(s);
                free(rows);
                return;
        }
        putf(s, "total %s", fg_top_fmt_count(getnum(lag, "total"), cell, sizeof(cell)));
        /* updated_ms is read as a wall-clock timestamp; anything else is not shown. */
        if (updated > 1e12 && s->v->now_ms > 0) {
                double age = ((double)s->v->now_ms - updated) / 1000;
                putf(s, "  updated %.1fs ago", age > 0 ? age : 0);
        }
        line_end(s);

        for (size_t i = 0; rows && i < np; i++) {
                const json_t *p = json_array_get(parts, i);
                int64_t v;
                if (!json_is_object(p))
                        continue;
                if (!getstr(p, "topic", rows[n].topic, sizeof(rows[n].topic)))
                        snprintf(rows[n].topic, sizeof(rows[n].topic), "?");
                rows[n].partition = getint(p, "partition", &v) && v >= 0 ? v : -1;
                rows[n].lag = getint(p, "lag", &v) && v >= 0 ? v : -1;
                n++;
        }
        if (!n) {
                line_begin(s);
                put(s, json_is_array(parts) ? "  no partitions" : "  partitions: -");
                line_end(s);
                free(rows);
                return;
        }
        qsort(rows, n, sizeof(*rows), lag_cmp);

        ncols = s->width / (LAG_COLW + LAG_GAP);
        ncols = ncols < 1 ? 1 : ncols;
        colw = ncols == 1 && s->width - 2 < LAG_COLW ? s->width - 2 : LAG_COLW;
        left = rows_left(s);
        if (left <= 0) {
                free(rows);
                return;
        }
        if ((size_t)left * (size_t)ncols >= n) {
                shown = (int)n;
                nrows = (shown + ncols - 1) / ncols;
        } else {
                nrows = left - 1;
                shown = nrows * ncols;
        }
        for (int r = 0; r < nrows; r++) {
                line_begin(s);
                for (int c = 0; c < ncols; c++) {
                        int i = c * nrows + r, x = 2 + c * (colw + LAG_GAP);
                        if (i >= shown)
                                break;
                        pad_to(s, x);
                        lag_label(&rows[i], colw - 12, name, sizeof(name));
                        put(s, name);
                        put_right(s, rows[i].lag >= 0
                                         ? fg_top_fmt_count((double)rows[i].lag, cell, sizeof(cell))
                                         : "-",
                                  x + colw);
                }
                line_end(s);
        }
        if ((size_t)shown < n) {
                line_begin(s);
                putf(s, "  ... %zu more", n - (size_t)shown);
                line_end(s);
        }
        free(rows);
}

void fg_top_render(fg_buf_t *b, const json_t *stats, const fg_top_view_t *view) {
        scr_t s = {.b = b, .v = view};

        s.width = view->width < 1 ? 1 : view->width;
        s.blanks = view->height <= 0 || view->height >= 24;
        if (!json_is_object(stats))
                stats = NULL;
        section_header(&s, stats);
        if (!stats)
                return;
        s.dim = view->error != NULL;
        blank(&s);
        section_throughput(&s, stats);
        blank(&s);
        section_latency(&s, stats);
        blank(&s);
        section_queue(&s, stats);
        section_ingest(&s, stats);
        section_workers(&s, stats);
        section_ordering(&s, stats);
        blank(&s);
        section_lag(&s, stats);
}
