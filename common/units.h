/*
 * units: durations and sizes with units, as written in the config file and
 * on the command line.
 *
 * Durations: an integer or decimal number followed by ns, us, ms, s, m or h
 * ("250ms", "5s", "1.5s", "1m"). A bare number is rejected: the unit is
 * never guessed. "0" alone is accepted as zero.
 * Sizes: an integer or decimal number optionally followed by B, KiB, MiB,
 * GiB, TiB (powers of 1024) or kB, KB, MB, GB, TB (powers of 1000);
 * a bare number is bytes.
 *
 * Threading: pure functions, any thread.
 */
#ifndef FG_UNITS_H
#define FG_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Parse @p s into nanoseconds. Returns 0, or -1 with a reason in @p errstr
 * (e.g. "missing unit (use ms, s, m, ...)", "out of range"). */
int fg_parse_duration(const char *s, int64_t *ns, char *errstr, size_t errstr_size);

/* Parse @p s into bytes. Returns 0, or -1 with a reason in @p errstr. */
int fg_parse_size(const char *s, int64_t *bytes, char *errstr, size_t errstr_size);

/* Format @p ns / @p bytes back with the largest unit that is exact
 * ("30s", "250ms", "32MiB"). Return @p buf. */
char *fg_format_duration(int64_t ns, char *buf, size_t size);
char *fg_format_size(int64_t bytes, char *buf, size_t size);

#endif
