/*
 * expo: Prometheus text format 0.0.4 and JSON renderings (see expo.h).
 *
 * DESIGN
 * Numbers: integers up to 2^53 print as plain digits ("1234567890123"),
 * other finite values in the shortest form that reads back to the same
 * double ("%.15g" .. "%.17g"), special values as Prometheus spells them
 * ("NaN", "+Inf", "-Inf"). Bucket bounds therefore come out the way the Go
 * client prints them: "1e-06", "2.5e-06", "0.0001", "0.001", "2.5", "100".
 * printf honours LC_NUMERIC; floodgate never calls setlocale(), so the
 * decimal point stays '.'.
 *
 * Histograms: one pass over the buckets; the cumulative count is emitted at
 * each 1-2.5-5 edge from 1 µs to 100 s (all of them bucket edges, so each
 * line is exact), then +Inf. _count repeats the +Inf value rather than
 * h->count, so the two agree even on a histogram still being written.
 *
 * Threading: pure functions over caller-owned data, any thread.
 * Ownership: appends to the caller's buffers; JSON results are new
 * references owned by the caller.
 */
#include "metrics/expo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPO_MAX_EXACT_INT 9007199254740992.0 /* 2^53 */

/* The 1-2.5-5 series, in nanoseconds: the `le` bounds. */
static const int64_t expo_le_ns[] = {
    1000LL, 2500LL, 5000LL,
    10000LL, 25000LL, 50000LL,
    100000LL, 250000LL, 500000LL,
    1000000LL, 2500000LL, 5000000LL,
    10000000LL, 25000000LL, 50000000LL,
    100000000LL, 250000000LL, 500000000LL,
    1000000000LL, 2500000000LL, 5000000000LL,
    10000000000LL, 25000000000LL, 50000000000LL,
    100000000000LL,
};

#define EXPO_N_LE (sizeof(expo_le_ns) / sizeof(expo_le_ns[0]))

/* Formats @p v into @p out (at least 32 bytes). */
static void expo_fmt_double(char *out, size_t size, double v) {
        if (isnan(v)) {
                snprintf(out, size, "NaN");
        } else if (isinf(v)) {
                snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
        } else if (v == 0) {
                snprintf(out, size, "0"); /* -0 too */
        } else if (fabs(v) <= EXPO_MAX_EXACT_INT && v == trunc(v)) {
                snprintf(out, size, "%.0f", v);
        } else {
                for (int prec = 15; prec <= 17; prec++) {
                        snprintf(out, size, "%.*g", prec, v);
                        if (strtod(out, NULL) == v)
                                break;
                }
        }
}

/* Appends @p s with backslash, newline and, when @p quote, double quote
 * escaped as the exposition format asks. */
static void expo_escape(fg_buf_t *b, const char *s, int quote) {
        for (; *s; s++) {
                if (*s == '\\')
                        fg_buf_append(b, "\\\\", 2);
                else if (*s == '\n')
                        fg_buf_append(b, "\\n", 2);
                else if (quote && *s == '"')
                        fg_buf_append(b, "\\\"", 2);
                else
                        fg_buf_putc(b, *s);
        }
}

/* "name<suffix>{labels[,le="..."]} value\n"; @p le NULL for no le label. */
static void expo_line(fg_buf_t *b, const char *name, const char *suffix, const char *labels,
                      const char *le, const char *num) {
        int has = labels && *labels;

        fg_buf_printf(b, "%s%s", name, suffix);
        if (has || le)
                fg_buf_printf(b, "{%s%s%s%s%s}", has ? labels : "", has && le ? "," : "",
                              le ? "le=\"" : "", le ? le : "", le ? "\"" : "");
        fg_buf_printf(b, " %s\n", num);
}

/* Any thread. */
void fg_prom_header(fg_buf_t *b, const char *name, const char *type, const char *help) {
        fg_buf_printf(b, "# HELP %s ", name);
        expo_escape(b, help ? help : "", 0);
        fg_buf_printf(b, "\n# TYPE %s %s\n", name, type);
}

/* Any thread. */
void fg_prom_sample(fg_buf_t *b, const char *name, const char *labels, double value) {
        char num[40];

        expo_fmt_double(num, sizeof(num), value);
        expo_line(b, name, "", labels, NULL, num);
}

/* Any thread. */
void fg_prom_label(fg_buf_t *labels, const char *key, const char *value) {
        if (labels->len)
                fg_buf_putc(labels, ',');
        fg_buf_printf(labels, "%s=\"", key);
        expo_escape(labels, value ? value : "", 1);
        fg_buf_putc(labels, '"');
}

/* Any thread; @p h is best a quiescent copy, but each bucket is read once,
 * so the lines are consistent with each other even if it is not. */
void fg_prom_histogram(fg_buf_t *b, const char *name, const char *labels, const fg_hist_t *h) {
        char num[40], le_num[40];
        uint64_t cum = 0;
        size_t i = 0;

        for (size_t le = 0; le < EXPO_N_LE; le++) {
                /* A bucket holds (lower, edge]: the bucket of the edge is the last one in. */
                size_t last = fg_hist_bucket_of(expo_le_ns[le]);
                for (; i <= last; i++)
                        cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
                expo_fmt_double(le_num, sizeof(le_num), (double)expo_le_ns[le] / 1e9);
                snprintf(num, sizeof(num), "%llu", (unsigned long long)cum);
                expo_line(b, name, "_bucket", labels, le_num, num);
        }
        for (; i < FG_HIST_BUCKETS; i++)
                cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
        snprintf(num, sizeof(num), "%llu", (unsigned long long)cum);
        expo_line(b, name, "_bucket", labels, "+Inf", num);
        expo_fmt_double(num, sizeof(num), (double)fg_hist_sum_ns(h) / 1e9);
        expo_line(b, name, "_sum", labels, NULL, num);
        snprintf(num, sizeof(num), "%llu", (unsigned long long)cum);
        expo_line(b, name, "_count", labels, NULL, num);
}

static double expo_ms(int64_t ns) {
        return (double)ns / 1e6;
}

/* Any thread. NULL only on allocation failure. */
/* A quantile in ms, or null when nothing was recorded (0 would read as a
 * measurement). */
static json_t *quantile_ms(const fg_hist_t *h, uint64_t n, double q) {
        return n ? json_real(expo_ms(fg_hist_quantile_ns(h, q))) : json_null();
}

json_t *fg_hist_to_json(const fg_hist_t *h) {
        uint64_t n = fg_hist_count(h);

        return json_pack("{s:I, s:f, s:o, s:o, s:o, s:o, s:o}",
                         "count", (json_int_t)(n > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)n),
                         "sum_ms", (double)fg_hist_sum_ns(h) / 1e6,
                         "p50_ms", quantile_ms(h, n, 0.50),
                         "p90_ms", quantile_ms(h, n, 0.90),
                         "p99_ms", quantile_ms(h, n, 0.99),
                         "p999_ms", quantile_ms(h, n, 0.999),
                         "max_ms", n ? json_real(expo_ms(fg_hist_max_ns(h))) : json_null());
}
