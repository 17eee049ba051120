/*
 * top_fmt: the value formatters of `floodgate top`: durations, counts,
 * rates, bytes, uptimes, bars, clock times. Split from the renderer so each
 * can be tested alone (tests/check_top.c) and the screen code stays about
 * layout.
 *
 * Threading: pure functions, any thread.
 * Ownership: each writes into the caller's buffer and returns it.
 */
#ifndef FG_TOP_FMT_H
#define FG_TOP_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Each formatter writes a NUL-terminated string into
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

/* Wall-clock milliseconds as local "HH:MM:SS". */
char *fg_top_fmt_clock(int64_t wall_ms, char *out, size_t size);
/* floor(100 * n / of) for of > 0 and n >= 0; below 100 until n reaches of,
 * so a queue one short of full never shows "100%". */
int64_t fg_top_percent(int64_t n, int64_t of);

#endif
