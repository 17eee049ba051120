/*
 * top_fmt: the value formatters of `floodgate top` (see top_fmt.h).
 *
 * Threading: pure functions, any thread.
 */
#include "tools/top_fmt.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>


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

int64_t fg_top_percent(int64_t n, int64_t of) {
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

char *fg_top_fmt_clock(int64_t wall_ms, char *out, size_t size) {
        time_t t = (time_t)(wall_ms / 1000);
        struct tm tm;

        if (!localtime_r(&t, &tm) || !strftime(out, size, "%H:%M:%S", &tm))
                dash(out, size);
        return out;
}
