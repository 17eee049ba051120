/*
 * check_top: `floodgate top` — the renderer on fixed documents (exact
 * numbers, bars, lag order and truncation, breaker colors, placeholders for
 * malformed input, plain output that is printable ASCII only), then the
 * real binary against a stub /stats server on loopback port 0: --once,
 * unreachable, bad JSON, usage errors, the plain stream when stdout is not
 * a TTY, and the full-screen view on a pseudo-terminal, where 'q' and
 * SIGTERM must both give the terminal back.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/exit.h"
#include "tools/top_render.h"
#include "tests/support/fgtest.h"

/* 2023-11-14 22:13:20 UTC */
#define T_REFRESH_MS 1700000000000LL

static const char DOC[] =
    "{\"version\":\"0.1.0\",\"uptime_s\":3723.5,\"state\":\"running\","
    "\"counters\":{\"consumed\":1234567,\"consumed_bytes\":98765432,\"ok\":1234000,"
    "\"filtered\":12,\"failed\":1,\"dead_letter\":3,\"dropped\":0,\"retries\":5,"
    "\"sink_calls\":20000,\"rebalances\":1,\"pauses\":4,\"resumes\":4},"
    "\"rates\":{\"consumed\":{\"1s\":12345.6,\"10s\":950.3,\"60s\":0.5},"
    "\"ok\":{\"1s\":12300,\"10s\":11850.5,\"60s\":10050},"
    "\"failed\":{\"1s\":0,\"10s\":0,\"60s\":0},\"filtered\":{\"1s\":0,\"10s\":0,\"60s\":0},"
    "\"dead_letter\":{\"1s\":0,\"10s\":0,\"60s\":0},\"dropped\":{\"1s\":0,\"10s\":0,\"60s\":0}},"
    "\"latency\":{\"window_s\":10,"
    "\"end_to_end\":{\"count\":118500,\"sum_ms\":250000,\"p50_ms\":1.2,\"p90_ms\":3.4,"
    "\"p99_ms\":12.04,\"p999_ms\":45,\"max_ms\":120},"
    "\"queue_wait\":{\"count\":118500,\"sum_ms\":10000,\"p50_ms\":0.12,\"p90_ms\":0.5,"
    "\"p99_ms\":2.5,\"p999_ms\":9.9,\"max_ms\":31},"
    "\"sink_call\":{\"count\":0,\"sum_ms\":0,\"p50_ms\":0,\"p90_ms\":0,\"p99_ms\":0,"
    "\"p999_ms\":0,\"max_ms\":0}},"
    "\"latency_total\":{},"
    "\"queue\":{\"depth\":4512,\"bytes\":12582912,\"capacity\":10000,\"max_bytes\":67108864,"
    "\"peak_depth\":9000},"
    "\"ingest\":{\"assigned\":6,\"paused\":2,\"blocked\":true,\"pending\":42},"
    "\"workers\":{\"mode\":\"dynamic\",\"total\":8,\"busy\":5},"
    "\"lag\":{\"total\":13700,\"updated_ms\":1699999999500,\"partitions\":["
    "{\"topic\":\"orders\",\"partition\":0,\"lag\":100,\"end_offset\":1100,\"committed\":1000},"
    "{\"topic\":\"orders\",\"partition\":1,\"lag\":5000,\"end_offset\":5000,\"committed\":null},"
    "{\"topic\":\"orders\",\"partition\":2,\"lag\":null,\"end_offset\":0,\"committed\":null},"
    "{\"topic\":\"payments\",\"partition\":0,\"lag\":8000,\"end_offset\":9000,\"committed\":1000},"
    "{\"topic\":\"payments\",\"partition\":1,\"lag\":600,\"end_offset\":700,\"committed\":100},"
    "{\"topic\":\"orders\",\"partition\":10,\"lag\":0,\"end_offset\":10,\"committed\":10}]},"
    "\"breaker\":{\"state\":\"open\",\"failures\":12},"
    "\"process\":{\"rss_bytes\":43200000,\"peak_rss_bytes\":50000000,\"threads\":14,"
    "\"open_fds\":37}}";

/* ---- rendering helpers ---- */

static json_t *parse(const char *text) {
        json_error_t err;
        json_t *doc = json_loads(text, JSON_DECODE_ANY, &err);
        ck_assert_msg(doc != NULL, "test document: %s (col %d)", err.text, err.column);
        return doc;
}

static fg_top_view_t view(int width, int height, bool color) {
        fg_top_view_t v = {.url = "http://127.0.0.1:9464",
                           .width = width,
                           .height = height,
                           .color = color,
                           .refreshed_ms = T_REFRESH_MS,
                           .now_ms = T_REFRESH_MS,
                           .interval_ns = FG_NS_PER_S};
        return v;
}

static char *render_doc(const json_t *doc, const fg_top_view_t *v) {
        fg_buf_t b = FG_BUF_INIT;
        char *s;

        fg_top_render(&b, doc, v);
        s = strdup(b.len ? fg_buf_cstr(&b) : "");
        fg_buf_free(&b);
        ck_assert(s != NULL);
        return s;
}

static char *render(const char *text, int width, int height, bool color) {
        json_t *doc = text ? parse(text) : NULL;
        fg_top_view_t v = view(width, height, color);
        char *s = render_doc(doc, &v);
        json_decref(doc);
        return s;
}

/* Every line at most @p width visible columns (SGR sequences skipped),
 * at most @p height lines (0 = any), and each ends in '\n'. */
static void assert_fits(const char *s, int width, int height) {
        int lines = 0, cols = 0;

        for (const char *p = s; *p; p++) {
                if (*p == '\n') {
                        ck_assert_msg(cols <= width, "line %d is %d columns wide (max %d):\n%s",
                                      lines + 1, cols, width, s);
                        lines++;
                        cols = 0;
                } else if (*p == '\033') {
                        ck_assert_msg(p[1] == '[', "bare ESC in:\n%s", s);
                        p += 2;
                        while (*p && ((*p >= '0' && *p <= '9') || *p == ';'))
                                p++;
                        ck_assert_msg(*p == 'm', "escape other than SGR in output");
                } else if (((unsigned char)*p & 0xc0) != 0x80) {
                        cols++;
                }
        }
        ck_assert_msg(cols == 0, "last line has no newline");
        if (height > 0)
                ck_assert_msg(lines <= height, "%d lines for a height of %d:\n%s", lines, height, s);
}

/* Plain mode: printable ASCII and newlines, nothing else. */
static void assert_plain(const char *s) {
        for (const char *p = s; *p; p++)
                ck_assert_msg(*p == '\n' || (*p >= 0x20 && *p < 0x7f),
                              "byte 0x%02x at offset %td in plain output", (unsigned char)*p, p - s);
}

static void assert_has(const char *s, const char *needle) {
        ck_assert_msg(strstr(s, needle) != NULL, "missing \"%s\" in:\n%s", needle, s);
}

/* The line that starts with @p prefix (a copy), or NULL. */
static char *line_starting(const char *s, const char *prefix) {
        size_t n = strlen(prefix);

        for (const char *p = s; p && *p;) {
                const char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t)(nl - p) : strlen(p);
                if (len >= n && !strncmp(p, prefix, n))
                        return strndup(p, len);
                p = nl ? nl + 1 : NULL;
        }
        return NULL;
}

static void assert_line(const char *s, const char *want) {
        char *got = line_starting(s, want);
        ck_assert_msg(got && !strcmp(got, want), "want line \"%s\", got \"%s\" in:\n%s", want,
                      got ? got : "(none)", s);
        free(got);
}

static int count_str(const char *s, const char *needle) {
        int n = 0;
        for (const char *p = s ? strstr(s, needle) : NULL; p; p = strstr(p + 1, needle))
                n++;
        return n;
}

/* The last line, without its newline (points into a static copy). */
static const char *last_line(const char *s) {
        static char line[512];
        size_t n = strlen(s);
        const char *p;

        if (n && s[n - 1] == '\n')
                n--;
        for (p = s + n; p > s && p[-1] != '\n'; p--)
                ;
        snprintf(line, sizeof(line), "%.*s", (int)(s + n - p), p);
        return line;
}

static int count_lines(const char *s) {
        int n = 0;
        for (; *s; s++)
                n += *s == '\n';
        return n;
}

/* ---- formatting ---- */

START_TEST(test_top_format_units) {
        char b[32];

        ck_assert_str_eq(fg_top_fmt_ms(0, false, b, sizeof(b)), "0us");
        ck_assert_str_eq(fg_top_fmt_ms(0.0005, false, b, sizeof(b)), "0.5us");
        ck_assert_str_eq(fg_top_fmt_ms(0.12, false, b, sizeof(b)), "120us");
        ck_assert_str_eq(fg_top_fmt_ms(0.12, true, b, sizeof(b)), "120\xc2\xb5s");
        ck_assert_str_eq(fg_top_fmt_ms(0.9996, false, b, sizeof(b)), "1.00ms");
        ck_assert_str_eq(fg_top_fmt_ms(1.2, false, b, sizeof(b)), "1.20ms");
        ck_assert_str_eq(fg_top_fmt_ms(9.996, false, b, sizeof(b)), "10.0ms");
        ck_assert_str_eq(fg_top_fmt_ms(12.04, false, b, sizeof(b)), "12.0ms");
        ck_assert_str_eq(fg_top_fmt_ms(123.4, false, b, sizeof(b)), "123ms");
        ck_assert_str_eq(fg_top_fmt_ms(999.6, false, b, sizeof(b)), "1.00s");
        ck_assert_str_eq(fg_top_fmt_ms(2500, false, b, sizeof(b)), "2.50s");
        ck_assert_str_eq(fg_top_fmt_ms(1e6, false, b, sizeof(b)), "1000s");
        ck_assert_str_eq(fg_top_fmt_ms(NAN, false, b, sizeof(b)), "-");
        ck_assert_str_eq(fg_top_fmt_ms(-1, false, b, sizeof(b)), "-");
        ck_assert_str_eq(fg_top_fmt_ms(INFINITY, false, b, sizeof(b)), "-");

        ck_assert_str_eq(fg_top_fmt_count(0, b, sizeof(b)), "0");
        ck_assert_str_eq(fg_top_fmt_count(9999999, b, sizeof(b)), "9999999");
        ck_assert_str_eq(fg_top_fmt_count(10000000, b, sizeof(b)), "10.0M");
        ck_assert_str_eq(fg_top_fmt_count(123456789, b, sizeof(b)), "123M");
        ck_assert_str_eq(fg_top_fmt_count(1.5e9, b, sizeof(b)), "1.50G");
        ck_assert_str_eq(fg_top_fmt_count(9.3e18, b, sizeof(b)), "9.30E");
        ck_assert_str_eq(fg_top_fmt_count(-3, b, sizeof(b)), "-");

        ck_assert_str_eq(fg_top_fmt_rate(0, b, sizeof(b)), "0.0");
        ck_assert_str_eq(fg_top_fmt_rate(0.5, b, sizeof(b)), "0.5");
        ck_assert_str_eq(fg_top_fmt_rate(999.9, b, sizeof(b)), "999.9");
        ck_assert_str_eq(fg_top_fmt_rate(12345.6, b, sizeof(b)), "12.3k");
        ck_assert_str_eq(fg_top_fmt_rate(1.2e6, b, sizeof(b)), "1.20M");

        ck_assert_str_eq(fg_top_fmt_bytes(512, b, sizeof(b)), "512B");
        ck_assert_str_eq(fg_top_fmt_bytes(12582912, b, sizeof(b)), "12.0MiB");
        ck_assert_str_eq(fg_top_fmt_bytes(67108864, b, sizeof(b)), "64.0MiB");
        ck_assert_str_eq(fg_top_fmt_bytes(1023 * 1024, b, sizeof(b)), "1.00MiB");

        ck_assert_str_eq(fg_top_fmt_uptime(12.5, b, sizeof(b)), "12s");
        ck_assert_str_eq(fg_top_fmt_uptime(184, b, sizeof(b)), "3m04s");
        ck_assert_str_eq(fg_top_fmt_uptime(3723.5, b, sizeof(b)), "1h02m03s");
        ck_assert_str_eq(fg_top_fmt_uptime(183840, b, sizeof(b)), "2d03h04m");
        ck_assert_str_eq(fg_top_fmt_uptime(NAN, b, sizeof(b)), "-");

        /* A buffer too small truncates, never overflows. */
        ck_assert_str_eq(fg_top_fmt_ms(123.4, false, b, 3), "12");
}
END_TEST

START_TEST(test_top_bar_widths) {
        char b[128];

        ck_assert_str_eq(fg_top_fmt_bar(0, 10000, 20, b, sizeof(b)), "[....................]");
        ck_assert_str_eq(fg_top_fmt_bar(4500, 10000, 20, b, sizeof(b)), "[#########...........]");
        ck_assert_str_eq(fg_top_fmt_bar(10000, 10000, 20, b, sizeof(b)), "[####################]");
        /* floor: one short of full is not full */
        ck_assert_str_eq(fg_top_fmt_bar(9999, 10000, 20, b, sizeof(b)), "[###################.]");
        ck_assert_str_eq(fg_top_fmt_bar(12000, 10000, 10, b, sizeof(b)), "[##########]");
        ck_assert_str_eq(fg_top_fmt_bar(5, 0, 10, b, sizeof(b)), "[..........]");
        ck_assert_str_eq(fg_top_fmt_bar(-5, 10, 10, b, sizeof(b)), "[..........]");
        ck_assert_str_eq(fg_top_fmt_bar(INT64_MAX - 1, INT64_MAX, 10, b, sizeof(b)), "[#########.]");
        /* The inner width shrinks to the buffer. */
        ck_assert_str_eq(fg_top_fmt_bar(1, 2, 100, b, 8), "[##...]");

        /* And the same on the rendered queue line at 0%, 45%, 100%. */
        {
                static const struct {
                        int depth;
                        const char *line;
                } cases[] = {
                    {0, "queue      [....................] 0/10000 (0%)  0B of 1.00KiB"},
                    {4500, "queue      [#########...........] 4500/10000 (45%)  0B of 1.00KiB"},
                    {10000, "queue      [####################] 10000/10000 (100%)  0B of 1.00KiB"},
                };
                for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                        char doc[256], *out;
                        snprintf(doc, sizeof(doc),
                                 "{\"queue\":{\"depth\":%d,\"bytes\":0,\"capacity\":10000,"
                                 "\"max_bytes\":1024}}",
                                 cases[i].depth);
                        out = render(doc, 80, 0, false);
                        assert_line(out, cases[i].line);
                        free(out);
                }
        }
}
END_TEST

/* ---- the whole view ---- */

START_TEST(test_top_render_all_sections) {
        char *out;

        setenv("TZ", "UTC", 1);
        tzset();
        out = render(DOC, 80, 0, false);
        assert_fits(out, 80, 0);
        assert_plain(out);

        assert_line(out, "floodgate 0.1.0  http://127.0.0.1:9464  up 1h02m03s  running");
        assert_line(out, "refreshed 22:13:20, every 1s  rss 41.2MiB  threads 14");
        assert_line(out, "throughput/s          1s       10s       60s       total");
        assert_line(out, "  consumed         12.3k     950.3       0.5     1234567");
        assert_line(out, "  ok               12.3k     11.9k     10.1k     1234000");
        assert_line(out, "  filtered 12  dead_letter 3  dropped 0  failed 1  retries 5");
        assert_line(out, "latency, last 10s         p50      p90      p99    p99.9      max     count");
        assert_line(out, "  end-to-end           1.20ms   3.40ms   12.0ms   45.0ms    120ms    118500");
        assert_line(out, "  queue wait            120us    500us   2.50ms   9.90ms   31.0ms    118500");
        /* an empty window: no quantiles, whatever the zeros say */
        assert_line(out, "  sink call                 -        -        -        -        -         0");
        assert_line(out, "queue      [#########...........] 4512/10000 (45%)  12.0MiB of 64.0MiB");
        assert_line(out, "ingest     assigned 6  paused 2  blocked yes  pending 42");
        assert_line(out, "workers    [######....] 5/8 busy (dynamic)      breaker: open");
        assert_line(out, "lag        total 13700  updated 0.5s ago");
        /* lag, largest first, unknown last; two columns at 80, filled down first */
        assert_line(out, "  payments[0]                     8000  orders[0]                        100");
        assert_line(out, "  orders[1]                       5000  orders[10]                         0");
        assert_line(out, "  payments[1]                      600  orders[2]                          -");
        ck_assert_ptr_null(strstr(out, "more"));
        /* blank lines between the groups when there is room */
        assert_has(out, "running\nrefreshed 22:13:20, every 1s  rss 41.2MiB  threads 14\n\nthroughput");
        free(out);

        /* Wider: a mean column, longer bars, more lag columns; still fits. */
        out = render(DOC, 132, 40, false);
        assert_fits(out, 132, 40);
        assert_has(out, " mean");
        {
                char bar[128], want[256];
                fg_top_fmt_bar(4512, 10000, 60, bar, sizeof(bar));
                ck_assert_int_eq(strspn(bar + 1, "#"), 27);
                snprintf(want, sizeof(want), "queue      %s 4512/10000 (45%%)  12.0MiB of 64.0MiB"
                         "  peak 9000", bar);
                assert_line(out, want);
        }
        assert_line(out, "  payments[0]                     8000  payments[1]                      600"
                         "  orders[10]                         0");
        free(out);
}
END_TEST

START_TEST(test_top_render_lag_sorted_and_truncated) {
        fg_buf_t doc = FG_BUF_INIT;
        char *out, *more;
        int prev = INT32_MAX, entries = 0, n_more = -1;

        /* 30 partitions; lag 7 * ((i * 11) % 30) makes them distinct and unsorted. */
        fg_buf_printf(&doc, "{\"lag\":{\"total\":1,\"partitions\":[");
        for (int i = 0; i < 30; i++)
                fg_buf_printf(&doc, "%s{\"topic\":\"t\",\"partition\":%d,\"lag\":%d}", i ? "," : "",
                              i, 7 * ((i * 11) % 30));
        fg_buf_printf(&doc, "]}}");

        /* 40 columns: one entry per line, so line order is lag order. */
        out = render(fg_buf_cstr(&doc), 40, 20, false);
        assert_fits(out, 40, 20);
        ck_assert_int_eq(count_lines(out), 20);
        for (const char *p = strstr(out, "\n  t["); p; p = strstr(p + 1, "\n  t[")) {
                char *line = strndup(p + 1, strcspn(p + 1, "\n"));
                int lag = atoi(strrchr(line, ' ') + 1);
                free(line);
                ck_assert_msg(lag < prev, "lag %d after %d:\n%s", lag, prev, out);
                prev = lag;
                entries++;
        }
        more = line_starting(out, "  ... ");
        ck_assert_msg(more != NULL, "no '... N more' in:\n%s", out);
        ck_assert_int_eq(sscanf(more, "  ... %d more", &n_more), 1);
        ck_assert_int_eq(entries + n_more, 30);
        ck_assert_int_ge(entries, 1);
        ck_assert_str_eq(last_line(out), more);
        assert_has(out, "\n  t[19]                            203\n"); /* 7 * 29, the largest */
        free(more);
        free(out);

        /* 80x20: 14 fixed lines (no blanks under 24 rows) leave 6; 5 rows of 2 and the tail. */
        out = render(fg_buf_cstr(&doc), 80, 20, false);
        assert_fits(out, 80, 20);
        ck_assert_int_eq(count_lines(out), 20);
        assert_has(out, "\n  ... 20 more\n");
        free(out);

        /* Too short for any lag row: nothing past the height, no crash. */
        out = render(fg_buf_cstr(&doc), 80, 14, false);
        assert_fits(out, 80, 14);
        ck_assert_int_eq(count_lines(out), 14);
        free(out);
        fg_buf_free(&doc);
}
END_TEST

START_TEST(test_top_render_breaker_states) {
        static const struct {
                const char *breaker;
                const char *plain;
                const char *colored;
        } cases[] = {
            {"", "breaker: none", "breaker: none"},
            {",\"breaker\":null", "breaker: none", "breaker: none"},
            {",\"breaker\":{}", "breaker: -", "breaker: -"},
            {",\"breaker\":{\"state\":\"closed\"}", "breaker: closed", "breaker: \033[32mclosed\033[0m"},
            {",\"breaker\":{\"state\":\"half_open\"}", "breaker: half_open",
             "breaker: \033[33mhalf_open\033[0m"},
            {",\"breaker\":{\"state\":\"open\"}", "breaker: open", "breaker: \033[31mopen\033[0m"},
            {",\"breaker\":{\"state\":\"forced_open\"}", "breaker: forced_open",
             "breaker: \033[31mforced_open\033[0m"},
            {",\"breaker\":{\"state\":\"disabled\"}", "breaker: disabled", "breaker: disabled"},
            /* details as view.c sends them, where they fit */
            {",\"breaker\":{\"state\":\"open\",\"failure_rate\":0.5,\"open_remaining_ms\":4200}",
             "breaker: open for 4.20s\n", "breaker: \033[31mopen\033[0m for 4.20s"},
            {",\"breaker\":{\"state\":\"closed\",\"failure_rate\":null,\"open_remaining_ms\":0}",
             "breaker: closed\n", "breaker: \033[32mclosed\033[0m\n"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char doc[256], *plain, *colored;
                snprintf(doc, sizeof(doc), "{\"workers\":{\"total\":4,\"busy\":0}%s}",
                         cases[i].breaker);
                plain = render(doc, 80, 24, false);
                colored = render(doc, 80, 24, true);
                assert_plain(plain);
                assert_fits(colored, 80, 24);
                assert_has(plain, cases[i].plain);
                assert_has(colored, cases[i].colored);
                free(plain);
                free(colored);
        }
        {
                char *wide = render("{\"breaker\":{\"state\":\"open\",\"failure_rate\":0.5,"
                                    "\"open_remaining_ms\":4200}}",
                                    100, 0, false);
                assert_has(wide, "breaker: open for 4.20s (50% failing)\n");
                free(wide);
        }
}
END_TEST

START_TEST(test_top_render_ordering) {
        static const char doc[] =
            "{\"ordering\":{\"mode\":\"key\",\"switching\":false,\"waiting_events\":1234,"
            "\"blocked_keys\":7,\"held_partitions\":1},"
            "\"parked\":{\"enabled\":true,\"keys\":3,\"list\":[{\"key\":\"k242\"},"
            "{\"key\":\"k\\u001b[2J\"},{\"key\":\"user-000000000000000000000000000099\"}]}}";
        char *out = render(doc, 80, 0, false), *colored = render(doc, 80, 24, true);

        /* As many parked keys as fit, escapes from the daemon neutralised. */
        assert_has(out, "ordering   key  waiting 1234 on 7 keys  held 1  parked 3: k242, k?[2J\n");
        assert_plain(out);
        assert_fits(colored, 80, 24);
        assert_has(colored, "held \033[33m1\033[0m  parked \033[31m3\033[0m");
        free(out);
        free(colored);
        /* none and nothing parked: no line at all. */
        out = render("{\"ordering\":{\"mode\":\"none\"},\"parked\":{\"enabled\":false}}", 80, 0,
                     false);
        ck_assert_ptr_null(strstr(out, "ordering"));
        free(out);
        out = render("{\"ordering\":{\"mode\":\"partition\",\"switching\":true}}", 80, 0, false);
        assert_has(out, "ordering   partition  waiting - on - keys (switching)\n");
        free(out);
}
END_TEST

START_TEST(test_top_render_health) {
        char *out = render("{\"version\":\"0.1.0\",\"state\":\"draining\",\"health\":"
                           "{\"healthy\":false,\"ready\":false,\"reason\":\"worker 3 stuck\"}}",
                           100, 0, false);
        assert_has(out, "  draining  unhealthy: worker 3 stuck\n");
        free(out);
        out = render("{\"state\":\"running\",\"health\":{\"healthy\":true,\"ready\":false}}", 80,
                     0, true);
        assert_has(out, "\033[32mrunning\033[0m\033[33m  not ready\033[0m\n");
        free(out);
        out = render("{\"state\":\"running\",\"health\":{\"healthy\":true,\"ready\":true}}", 80,
                     0, false);
        assert_has(out, "  running\n");
        free(out);
}
END_TEST

START_TEST(test_top_render_plain_is_ascii) {
        json_t *doc = parse(DOC);
        fg_top_view_t v = view(80, 0, false);
        char *out;

        v.unicode = false;
        out = render_doc(doc, &v);
        assert_plain(out);
        free(out);

        /* Unicode and color only when asked: then µs and SGR, nothing else. */
        v.unicode = true;
        v.color = true;
        out = render_doc(doc, &v);
        assert_has(out, "120\xc2\xb5s");
        assert_fits(out, 80, 0);
        /* µ is one column: the microsecond cells line up with the others */
        assert_has(out, "\n  queue wait            120\xc2\xb5s    500\xc2\xb5s   2.50ms");
        free(out);
        json_decref(doc);

        /* Strings from the daemon cannot put escapes or newlines on the terminal. */
        out = render("{\"version\":\"\\u001b]0;pwned\\u0007\",\"state\":\"r\\u00e9\\n\","
                     "\"lag\":{\"total\":1,\"partitions\":[{\"topic\":\"\\u001b[2J\\u009b\","
                     "\"partition\":0,\"lag\":1}]}}",
                     80, 0, false);
        assert_plain(out);
        assert_has(out, "floodgate ?]0;pwned?");
        assert_has(out, "  ?[2J??[0]");
        free(out);
        out = render("{\"version\":\"\\u001b[31m\",\"breaker\":{\"state\":\"\\u001b[5m\"}}", 80, 0,
                     true);
        assert_fits(out, 80, 0); /* only our SGR codes: checked there */
        assert_has(out, "floodgate ?[31m");
        free(out);
}
END_TEST

/* Missing sections, wrong types, nulls: placeholders, never a crash, always
 * within the size at every size. */
START_TEST(test_top_render_malformed) {
        static const char *const docs[] = {
            "{}",
            "[]",
            "null",
            "42",
            "{\"version\":7,\"uptime_s\":\"long\",\"state\":null,\"counters\":[],\"rates\":5,"
            "\"latency\":{\"window_s\":\"x\",\"end_to_end\":[],\"queue_wait\":{\"count\":\"3\"},"
            "\"sink_call\":null},\"queue\":\"full\",\"ingest\":[],\"workers\":{\"busy\":\"x\"},"
            "\"lag\":{\"total\":null,\"partitions\":{}},\"breaker\":\"open\",\"process\":7}",
            "{\"lag\":{\"total\":null,\"partitions\":[null,7,\"x\",[],{},"
            "{\"topic\":null,\"partition\":null,\"lag\":null},"
            "{\"topic\":\"t\",\"partition\":-4,\"lag\":-1},"
            "{\"topic\":\"t\",\"partition\":1e300,\"lag\":1e300}]}}",
            "{\"lag\":{\"partitions\":[]}}",
            "{\"lag\":null,\"queue\":{\"depth\":-5,\"capacity\":0},"
            "\"workers\":{\"total\":0,\"busy\":3}}",
            "{\"queue\":{\"depth\":9223372036854775807,\"capacity\":1,\"bytes\":1e308,"
            "\"max_bytes\":-1},\"rates\":{\"consumed\":{\"1s\":1e308,\"10s\":-1,\"60s\":null}},"
            "\"uptime_s\":1e300,\"latency\":{\"window_s\":1e300,\"end_to_end\":{\"count\":1,"
            "\"p50_ms\":1e300,\"max_ms\":-0.0}}}",
            "{\"lag\":{\"total\":5,\"partitions\":[{\"topic\":\"a-very-long-topic-name-that-"
            "goes-on-and-on-and-on-and-on\",\"partition\":123456,\"lag\":5}]}}",
        };
        static const int sizes[][2] = {{80, 24}, {80, 0}, {132, 50}, {40, 10}, {20, 5},
                                       {5, 2},   {1, 1},  {80, 1},   {300, 100}};

        for (size_t d = 0; d < sizeof(docs) / sizeof(docs[0]); d++) {
                json_t *doc = parse(docs[d]);
                for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
                        for (int color = 0; color < 2; color++) {
                                fg_top_view_t v = view(sizes[z][0], sizes[z][1], color);
                                char *out = render_doc(doc, &v);
                                assert_fits(out, sizes[z][0], sizes[z][1]);
                                if (!color)
                                        assert_plain(out);
                                free(out);
                        }
                }
                json_decref(doc);
        }

        /* What the placeholders look like. */
        {
                char *out = render("{}", 80, 0, false);
                assert_line(out, "floodgate -  http://127.0.0.1:9464  up -  -");
                assert_line(out, "  consumed             -         -         -           -");
                assert_line(out, "latency                   p50      p90      p99    p99.9      max     count");
                assert_line(out, "  end-to-end                -        -        -        -        -         -");
                assert_line(out, "queue      -");
                assert_line(out, "ingest     -");
                assert_line(out, "workers    -                                    breaker: none");
                assert_line(out, "lag        -");
                free(out);
                out = render(docs[5], 80, 0, false);
                assert_line(out, "lag        total -");
                /* four usable entries (non-objects skipped), all unknown, by topic */
                assert_line(out, "  ?[?]                               -  t[?]                               -");
                ck_assert_int_eq(count_str(out, "?[?]"), 2);
                ck_assert_int_eq(count_str(out, "t[?]"), 2);
                free(out);
                out = render(docs[6], 80, 0, false);
                assert_line(out, "  no partitions");
                free(out);
                out = render(docs[9], 80, 0, false);
                assert_line(out, "  a-very-long-top~[123456]           5");
                free(out);
                out = render(docs[7], 80, 0, false);
                assert_line(out, "queue      [....................] -/0  - of -");
                assert_line(out, "workers    [..........] 3/0 busy                breaker: none");
                free(out);
        }
}
END_TEST

START_TEST(test_top_render_no_data_and_errors) {
        fg_top_view_t v = view(80, 24, false);
        json_t *doc = parse(DOC);
        char *out;

        v.refreshed_ms = 0;
        out = render_doc(NULL, &v);
        ck_assert_str_eq(out, "floodgate top  http://127.0.0.1:9464\nconnecting...\n");
        free(out);

        v.error = "cannot reach http://127.0.0.1:9464: connection refused";
        out = render_doc(NULL, &v);
        ck_assert_str_eq(out, "floodgate top  http://127.0.0.1:9464\n"
                              "cannot reach http://127.0.0.1:9464: connection refused; "
                              "retrying every 1s\n");
        free(out);

        /* Stale data stays on screen under the error, with its age. */
        setenv("TZ", "UTC", 1);
        tzset();
        v.refreshed_ms = T_REFRESH_MS;
        out = render_doc(doc, &v);
        assert_has(out, "connection refused; data from 22:13:20\n");
        assert_has(out, "queue      [#########");
        assert_fits(out, 80, 24);
        free(out);

        /* Colored: the error in red, the stale data below it dimmed. */
        v.color = true;
        out = render_doc(doc, &v);
        assert_has(out, "\033[31mcannot reach");
        assert_has(out, "\n\033[2m\033[1mqueue\033[0m\033[2m      [");
        assert_fits(out, 80, 24);
        free(out);
        json_decref(doc);
}
END_TEST

/* ---- a stub daemon: GET /stats on loopback port 0, in its own thread ---- */

typedef struct stub {
        struct event_base *base;
        struct evhttp *http;
        struct event *tick;
        pthread_t thr;
        atomic_bool stop;
        atomic_int requests;
        int port;
} stub_t;

static void stub_handle(struct evhttp_request *req, void *arg) {
        stub_t *st = arg;
        const char *uri = evhttp_request_get_uri(req), *body = NULL;
        struct evbuffer *out = evbuffer_new();
        int code = 200;

        atomic_fetch_add(&st->requests, 1);
        if (!strcmp(uri, "/stats") || !strcmp(uri, "/base/stats"))
                body = DOC;
        else if (!strcmp(uri, "/bad/stats"))
                body = "{\"version\": \"0.1.0\", \"queue\": {";
        else if (!strcmp(uri, "/array/stats"))
                body = "[1, 2, 3]";
        else if (!strcmp(uri, "/partial/stats"))
                body = "{\"version\":\"0.1.0\",\"queue\":null,\"lag\":{\"total\":null}}";
        else if (!strcmp(uri, "/error/stats"))
                code = 503;
        else
                code = 404;
        if (body) {
                evbuffer_add(out, body, strlen(body));
                evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                                  "application/json");
                evhttp_send_reply(req, 200, "OK", out);
        } else {
                evhttp_send_error(req, code, NULL);
        }
        evbuffer_free(out);
}

static void stub_tick(evutil_socket_t fd, short what, void *arg) {
        stub_t *st = arg;
        if (atomic_load(&st->stop))
                event_base_loopbreak(st->base);
}

static void *stub_main(void *arg) {
        stub_t *st = arg;
        event_base_dispatch(st->base);
        return NULL;
}

static stub_t *stub_start(void) {
        stub_t *st = calloc(1, sizeof(*st));
        struct evhttp_bound_socket *sock;
        struct sockaddr_in sin;
        socklen_t len = sizeof(sin);
        struct timeval ten_ms = {0, 10000};

        ck_assert(st != NULL);
        st->base = event_base_new();
        st->http = evhttp_new(st->base);
        ck_assert(st->base && st->http);
        evhttp_set_gencb(st->http, stub_handle, st);
        sock = evhttp_bind_socket_with_handle(st->http, "127.0.0.1", 0);
        ck_assert(sock != NULL);
        ck_assert(getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&sin, &len) == 0);
        st->port = ntohs(sin.sin_port);
        st->tick = event_new(st->base, -1, EV_PERSIST, stub_tick, st);
        event_add(st->tick, &ten_ms);
        ck_assert(pthread_create(&st->thr, NULL, stub_main, st) == 0);
        return st;
}

static void stub_stop(stub_t *st) {
        atomic_store(&st->stop, true);
        pthread_join(st->thr, NULL);
        event_free(st->tick);
        evhttp_free(st->http);
        event_base_free(st->base);
        free(st);
}

/* A loopback port with nobody listening. */
static int closed_port(void) {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(sin);
        int fd = socket(AF_INET, SOCK_STREAM, 0), port;

        ck_assert(fd >= 0);
        ck_assert(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
        ck_assert(getsockname(fd, (struct sockaddr *)&sin, &len) == 0);
        port = ntohs(sin.sin_port);
        close(fd);
        return port;
}

/* ---- running the binary ---- */

typedef struct run {
        int rc;
        char *out;
        char *err;
} run_t;

/* FLOODGATE_BIN top ARGS..., stdout and stderr to separate files. */
static run_t run_top(const char *const *args) {
        const char *bin = getenv("FLOODGATE_BIN");
        char *dir = fg_test_tmpdir(), *out = fg_test_path(dir, "out"), *err = fg_test_path(dir, "err");
        const char *argv[16] = {bin, "top"};
        int64_t deadline = fg_mono_ns() + 20 * FG_NS_PER_S;
        struct timespec five_ms = {0, 5000000};
        run_t r = {.rc = -1};
        int n = 2, st;
        pid_t pid;

        ck_assert_msg(bin != NULL, "FLOODGATE_BIN is not set");
        while (*args && n < 15)
                argv[n++] = *args++;
        argv[n] = NULL;
        pid = fork();
        ck_assert(pid >= 0);
        if (pid == 0) {
                int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                int devnull = open("/dev/null", O_RDONLY);
                dup2(devnull, STDIN_FILENO);
                dup2(fo, STDOUT_FILENO);
                dup2(fe, STDERR_FILENO);
                execv(bin, (char *const *)argv);
                _exit(127);
        }
        while (waitpid(pid, &st, WNOHANG) == 0) {
                if (fg_mono_ns() > deadline) {
                        kill(pid, SIGKILL);
                        waitpid(pid, &st, 0);
                        ck_abort_msg("floodgate top did not finish in 20 s");
                }
                nanosleep(&five_ms, NULL);
        }
        r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        r.out = fg_test_slurp(out, NULL);
        r.err = fg_test_slurp(err, NULL);
        fg_test_rmtree(dir);
        free(out);
        free(err);
        free(dir);
        return r;
}

static void run_free(run_t *r) {
        free(r->out);
        free(r->err);
}

START_TEST(test_top_once_against_stub) {
        stub_t *st = stub_start();
        char url[64], hostport[64], base[80];
        run_t r;

        snprintf(url, sizeof(url), "http://127.0.0.1:%d", st->port);
        snprintf(hostport, sizeof(hostport), "127.0.0.1:%d", st->port);
        snprintf(base, sizeof(base), "%s/base/", url);

        {
                const char *args[] = {"--once", url, NULL};
                r = run_top(args);
        }
        ck_assert_msg(r.rc == 0, "rc %d, stderr: %s", r.rc, r.err);
        ck_assert_str_eq(r.err, "");
        assert_plain(r.out);
        assert_fits(r.out, 80, 0);
        assert_has(r.out, "floodgate 0.1.0  ");
        assert_has(r.out, url);
        assert_has(r.out, "up 1h02m03s  running");
        assert_has(r.out, "  consumed         12.3k     950.3       0.5     1234567");
        assert_has(r.out, "  end-to-end           1.20ms   3.40ms   12.0ms   45.0ms    120ms");
        assert_has(r.out, "[#########...........] 4512/10000 (45%)  12.0MiB of 64.0MiB");
        assert_has(r.out, "breaker: open");
        assert_has(r.out, "  payments[0]                     8000");
        run_free(&r);

        /* host:port, options after the URL, and a base path all work too. */
        {
                const char *args[] = {hostport, "--once", "--no-color", NULL};
                r = run_top(args);
        }
        ck_assert_msg(r.rc == 0, "rc %d, stderr: %s", r.rc, r.err);
        assert_has(r.out, "ingest     assigned 6  paused 2  blocked yes  pending 42");
        run_free(&r);
        {
                const char *args[] = {"--once", base, NULL};
                r = run_top(args);
        }
        ck_assert_msg(r.rc == 0, "rc %d, stderr: %s", r.rc, r.err);
        assert_has(r.out, "/base  up 1h02m03s");
        run_free(&r);

        /* Partial JSON is fine: placeholders, exit 0. */
        snprintf(base, sizeof(base), "%s/partial", url);
        {
                const char *args[] = {"--once", base, NULL};
                r = run_top(args);
        }
        ck_assert_msg(r.rc == 0, "rc %d, stderr: %s", r.rc, r.err);
        assert_has(r.out, "queue      -\n");
        assert_has(r.out, "lag        total -\n");
        run_free(&r);
        ck_assert_int_ge(atomic_load(&st->requests), 4);
        stub_stop(st);
}
END_TEST

START_TEST(test_top_once_failures) {
        stub_t *st = stub_start();
        int port = closed_port();
        char url[64], want[160];
        static const struct {
                const char *path;
                const char *why;
        } bad[] = {
            {"/bad", "malformed JSON: "},
            {"/array", "malformed JSON: not an object"},
            {"/error", "HTTP 503"},
            {"/missing", "HTTP 404"},
        };
        run_t r;

        snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
        {
                const char *args[] = {"--once", url, NULL};
                r = run_top(args);
        }
        ck_assert_int_eq(r.rc, FG_EXIT_FAILURE);
        ck_assert_str_eq(r.out, "");
        snprintf(want, sizeof(want), "floodgate top: cannot reach %s: connection refused\n", url);
        ck_assert_str_eq(r.err, want);
        run_free(&r);

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", st->port, bad[i].path);
                {
                        const char *args[] = {"--once", url, NULL};
                        r = run_top(args);
                }
                ck_assert_msg(r.rc == FG_EXIT_FAILURE, "%s: rc %d", url, r.rc);
                ck_assert_str_eq(r.out, "");
                snprintf(want, sizeof(want), "floodgate top: bad response from %s: %s", url,
                         bad[i].why);
                ck_assert_msg(!strncmp(r.err, want, strlen(want)), "want \"%s...\", got \"%s\"",
                              want, r.err);
                run_free(&r);
        }
        stub_stop(st);
}
END_TEST

START_TEST(test_top_usage_errors) {
        static const char *const cases[][4] = {
            {"--interval", "5", NULL},       /* no unit */
            {"--interval", "10ms", NULL},    /* too fast */
            {"--bogus", NULL},
            {"a:1", "b:2", NULL},
            {"ftp://127.0.0.1:9464", NULL},
            {"http://127.0.0.1:99999", NULL},
            {"http://:9464", NULL},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                run_t r = run_top(cases[i]);
                ck_assert_msg(r.rc == FG_EXIT_USAGE, "%s: rc %d", cases[i][0], r.rc);
                assert_has(r.err, "usage: floodgate top");
                run_free(&r);
        }
        {
                const char *help[] = {"--help", NULL};
                run_t r = run_top(help);
                ck_assert_int_eq(r.rc, 0);
                assert_has(r.out, "--interval");
                run_free(&r);
        }
}
END_TEST

typedef struct log_cond {
        const char *path;
        int snapshots;
} log_cond_t;

static bool has_snapshots(void *opaque) {
        log_cond_t *c = opaque;
        char *s = fg_test_slurp(c->path, NULL);
        bool ok = count_str(s, "floodgate 0.1.0  ") >= c->snapshots;
        free(s);
        return ok;
}

/* stdout not a TTY, no --once: plain snapshots every interval, a blank line
 * between them, until SIGTERM (exit 0). */
START_TEST(test_top_stream_when_not_a_tty) {
        stub_t *st = stub_start();
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "top.log"), url[64], *s;
        const char *args[] = {"top", "--interval", "100ms", url, NULL};
        log_cond_t cond = {log, 3};
        fg_test_proc_t *p;

        snprintf(url, sizeof(url), "127.0.0.1:%d", st->port);
        p = fg_test_spawn(log, args);
        ck_assert_msg(fg_test_wait(has_snapshots, &cond, 15000), "fewer than 3 snapshots");
        fg_test_proc_signal(p, SIGTERM);
        ck_assert_int_eq(fg_test_proc_wait(p, 10000), 0);
        s = fg_test_slurp(log, NULL);
        assert_plain(s);
        ck_assert_int_ge(count_str(s, "\n\nfloodgate 0.1.0  "), 2);
        /* each snapshot is written whole */
        ck_assert_int_eq(count_str(s, "floodgate 0.1.0  "), count_str(s, "\n  payments[0]  "));
        free(s);
        fg_test_proc_free(p);
        stub_stop(st);
        fg_test_rmtree(dir);
        free(log);
        free(dir);
}
END_TEST

/* ---- the full-screen view on a pseudo-terminal ---- */

typedef struct pty_run {
        pid_t pid;
        int master;
        fg_buf_t out;
} pty_run_t;

static pty_run_t pty_spawn(const char *url) {
        const char *bin = getenv("FLOODGATE_BIN");
        struct winsize ws = {.ws_row = 24, .ws_col = 80};
        pty_run_t pr = {.out = FG_BUF_INIT};

        ck_assert_msg(bin != NULL, "FLOODGATE_BIN is not set");
        pr.pid = forkpty(&pr.master, NULL, NULL, &ws);
        ck_assert(pr.pid >= 0);
        if (pr.pid == 0) {
                setenv("TERM", "xterm", 1);
                setenv("LC_ALL", "C", 1);
                unsetenv("NO_COLOR");
                execl(bin, bin, "top", "--interval", "200ms", url, (char *)NULL);
                _exit(127);
        }
        return pr;
}

/* Reads what the child wrote until @p needle shows up @p times (true) or
 * the timeout. */
static bool pty_wait_for_count(pty_run_t *pr, const char *needle, int times, int timeout_ms) {
        int64_t deadline = fg_mono_ns() + (int64_t)timeout_ms * FG_NS_PER_MS;

        for (;;) {
                struct pollfd pfd = {.fd = pr->master, .events = POLLIN};
                char buf[4096];
                ssize_t n;
                if (pr->out.len && count_str(fg_buf_cstr(&pr->out), needle) >= times)
                        return true;
                if (fg_mono_ns() >= deadline)
                        return false;
                if (poll(&pfd, 1, 50) <= 0)
                        continue;
                n = read(pr->master, buf, sizeof(buf));
                if (n <= 0) /* EIO: the child closed the terminal */
                        return pr->out.len && count_str(fg_buf_cstr(&pr->out), needle) >= times;
                fg_buf_append(&pr->out, buf, (size_t)n);
        }
}

static bool pty_wait_for(pty_run_t *pr, const char *needle, int timeout_ms) {
        return pty_wait_for_count(pr, needle, 1, timeout_ms);
}

static int pty_wait_exit(pty_run_t *pr, int timeout_ms) {
        int64_t deadline = fg_mono_ns() + (int64_t)timeout_ms * FG_NS_PER_MS;
        int st;

        for (;;) {
                char buf[4096];
                struct pollfd pfd = {.fd = pr->master, .events = POLLIN};
                if (poll(&pfd, 1, 10) > 0) {
                        ssize_t n = read(pr->master, buf, sizeof(buf));
                        if (n > 0)
                                fg_buf_append(&pr->out, buf, (size_t)n);
                }
                if (waitpid(pr->pid, &st, WNOHANG) == pr->pid)
                        break;
                if (fg_mono_ns() >= deadline) {
                        kill(pr->pid, SIGKILL);
                        waitpid(pr->pid, &st, 0);
                        return -1;
                }
        }
        /* Drain what is left after the exit. */
        for (;;) {
                char buf[4096];
                struct pollfd pfd = {.fd = pr->master, .events = POLLIN};
                ssize_t n;
                if (poll(&pfd, 1, 50) <= 0 || (n = read(pr->master, buf, sizeof(buf))) <= 0)
                        break;
                fg_buf_append(&pr->out, buf, (size_t)n);
        }
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The terminal was given back: main screen, cursor shown, and the line
 * discipline canonical with echo again. */
static void assert_restored(pty_run_t *pr) {
        const char *s = fg_buf_cstr(&pr->out);
        const char *enter = strstr(s, "\033[?1049h"), *leave = strstr(s, "\033[?1049l");
        const char *hide = strstr(s, "\033[?25l"), *show = strstr(s, "\033[?25h");
        struct termios tio;

        ck_assert_msg(enter && hide, "never entered the alternate screen");
        ck_assert_msg(leave && leave > enter, "alternate screen not left");
        ck_assert_msg(show && show > hide, "cursor not shown again");
        ck_assert_msg(!strstr(leave, "\033[?1049h"), "re-entered after leaving");
        ck_assert(tcgetattr(pr->master, &tio) == 0);
        ck_assert_msg((tio.c_lflag & (ICANON | ECHO)) == (ICANON | ECHO),
                      "termios not restored: lflag %#x", (unsigned)tio.c_lflag);
}

START_TEST(test_top_screen_q_restores_terminal) {
        stub_t *st = stub_start();
        char url[64];
        pty_run_t pr;
        struct termios tio;

        snprintf(url, sizeof(url), "http://127.0.0.1:%d", st->port);
        pr = pty_spawn(url);
        ck_assert_msg(pty_wait_for(&pr, "payments[0]", 15000), "no frame; got:\n%s",
                      fg_buf_cstr(&pr.out));
        /* In the view: raw-ish terminal, colors, a cursor-home redraw. */
        ck_assert(tcgetattr(pr.master, &tio) == 0);
        ck_assert_int_eq(tio.c_lflag & (ICANON | ECHO), 0);
        ck_assert_msg(strstr(fg_buf_cstr(&pr.out), "breaker: \033[31mopen"), "no red breaker");
        ck_assert_msg(strstr(fg_buf_cstr(&pr.out), "\033[1;1H\033[1mfloodgate 0.1.0"),
                      "no frame at the top left");
        /* A second frame arrives on its own. */
        ck_assert(pty_wait_for_count(&pr, "payments[0]", 2, 15000));
        ck_assert(write(pr.master, "q", 1) == 1);
        ck_assert_int_eq(pty_wait_exit(&pr, 10000), 0);
        assert_restored(&pr);
        close(pr.master);
        fg_buf_free(&pr.out);
        stub_stop(st);
}
END_TEST

/* Unreachable: keeps running with the reason in the header; SIGTERM still
 * restores the terminal. ^C as a byte quits too. */
START_TEST(test_top_screen_unreachable_and_signals) {
        int port = closed_port();
        char url[64], want[128];
        pty_run_t pr;

        snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
        snprintf(want, sizeof(want), "cannot reach %s: connection refused", url);
        pr = pty_spawn(url);
        ck_assert_msg(pty_wait_for(&pr, want, 15000), "no error shown; got:\n%s",
                      fg_buf_cstr(&pr.out));
        /* Still running, still retrying: the error is drawn again and again. */
        ck_assert(pty_wait_for_count(&pr, want, 3, 15000));
        ck_assert_int_eq(waitpid(pr.pid, NULL, WNOHANG), 0);
        kill(pr.pid, SIGTERM);
        ck_assert_int_eq(pty_wait_exit(&pr, 10000), 0);
        assert_restored(&pr);
        close(pr.master);
        fg_buf_free(&pr.out);

        pr = pty_spawn(url);
        ck_assert(pty_wait_for(&pr, want, 15000));
        ck_assert(write(pr.master, "\x03", 1) == 1); /* SIGINT from the line discipline */
        ck_assert_int_eq(pty_wait_exit(&pr, 10000), 0);
        assert_restored(&pr);
        close(pr.master);
        fg_buf_free(&pr.out);
}
END_TEST

static Suite *top_suite(void) {
        Suite *s = suite_create("top");
        TCase *tc = tcase_create("render");
        TCase *e2e = tcase_create("binary");

        tcase_add_test(tc, test_top_format_units);
        tcase_add_test(tc, test_top_bar_widths);
        tcase_add_test(tc, test_top_render_all_sections);
        tcase_add_test(tc, test_top_render_lag_sorted_and_truncated);
        tcase_add_test(tc, test_top_render_breaker_states);
        tcase_add_test(tc, test_top_render_health);
        tcase_add_test(tc, test_top_render_ordering);
        tcase_add_test(tc, test_top_render_plain_is_ascii);
        tcase_add_test(tc, test_top_render_malformed);
        tcase_add_test(tc, test_top_render_no_data_and_errors);
        suite_add_tcase(s, tc);

        tcase_set_timeout(e2e, 120);
        tcase_add_test(e2e, test_top_once_against_stub);
        tcase_add_test(e2e, test_top_once_failures);
        tcase_add_test(e2e, test_top_usage_errors);
        tcase_add_test(e2e, test_top_stream_when_not_a_tty);
        tcase_add_test(e2e, test_top_screen_q_restores_terminal);
        tcase_add_test(e2e, test_top_screen_unreachable_and_signals);
        suite_add_tcase(s, e2e);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(top_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
