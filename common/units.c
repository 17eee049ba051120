/*
 * units: durations and sizes with units (see units.h for the accepted forms).
 *
 * DESIGN: a number is parsed as an exact decimal (integer part + fraction
 * digits) and scaled by the unit in integer arithmetic, so "1.5s" is exactly
 * 1500000000 ns and "0.1KiB" is rejected instead of silently rounded. No
 * floating point, no strtod(), so the locale never changes a result.
 *
 * Threading: pure functions, any thread.
 * Ownership: callers own every buffer; nothing is allocated.
 */
#include "common/units.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct unit {
        const char *name;
        int64_t mult;
} unit_t;

/* Largest first: fg_format_*() picks the first unit that divides exactly. */
static const unit_t duration_units[] = {
    {"h", 3600LL * 1000000000LL},
    {"m", 60LL * 1000000000LL},
    {"s", 1000000000LL},
    {"ms", 1000000LL},
    {"us", 1000LL},
    {"ns", 1LL},
};

static const unit_t size_units[] = {
    {"TiB", 1LL << 40}, {"TB", 1000000000000LL},
    {"GiB", 1LL << 30}, {"GB", 1000000000LL},
    {"MiB", 1LL << 20}, {"MB", 1000000LL},
    {"KiB", 1LL << 10}, {"kB", 1000LL}, {"KB", 1000LL},
    {"B", 1LL},
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Fraction digits kept after trailing zeros are dropped; 10^18 fits int64. */
#define MAX_FRAC_DIGITS 18

typedef struct decimal {
        uint64_t ip;     /* integer part, saturated past INT64_MAX */
        bool ip_over;    /* integer part exceeded INT64_MAX */
        uint64_t frac;   /* fraction digits as an integer */
        int frac_digits; /* number of significant fraction digits */
} decimal_t;

static uint64_t gcd_u64(uint64_t a, uint64_t b) {
        while (b) {
                uint64_t t = a % b;
                a = b;
                b = t;
        }
        return a;
}

/* Parses "123", "1.5", ".5", "5." at @p s; returns the number of characters
 * consumed, 0 when there is no number. */
static size_t parse_decimal(const char *s, decimal_t *d, bool *too_precise) {
        size_t i = 0, digits = 0;

        memset(d, 0, sizeof(*d));
        *too_precise = false;
        for (; s[i] >= '0' && s[i] <= '9'; i++, digits++) {
                unsigned dig = (unsigned)(s[i] - '0');
                if (d->ip_over || d->ip > ((uint64_t)INT64_MAX - dig) / 10)
                        d->ip_over = true;
                else
                        d->ip = d->ip * 10 + dig;
        }
        if (s[i] == '.') {
                const char *f = s + ++i;
                size_t sig = 0; /* fraction digits up to the last non-zero one */
                for (; s[i] >= '0' && s[i] <= '9'; i++, digits++)
                        if (s[i] != '0')
                                sig = (size_t)(s + i - f) + 1;
                if (sig > MAX_FRAC_DIGITS)
                        *too_precise = true;
                else
                        for (size_t k = 0; k < sig; k++)
                                d->frac = d->frac * 10 + (uint64_t)(f[k] - '0');
                d->frac_digits = *too_precise ? 0 : (int)sig;
        }
        return digits ? i : 0;
}

/* d * mult exactly. Returns 0, -1 when out of range, -2 when not a whole
 * number of base units. */
static int scale_decimal(const decimal_t *d, int64_t mult, int64_t *out) {
        uint64_t m = (uint64_t)mult, whole, part = 0;

        if (d->ip_over || (d->ip && d->ip > (uint64_t)INT64_MAX / m))
                return -1;
        whole = d->ip * m;
        if (d->frac_digits) {
                /* frac * m / 10^fd without overflow: with g = gcd(m, 10^fd),
                 * m/g and 10^fd/g are coprime, so the product is whole
                 * exactly when frac is a multiple of 10^fd/g. */
                uint64_t pow10 = 1, g, den;
                for (int k = 0; k < d->frac_digits; k++)
                        pow10 *= 10;
                g = gcd_u64(m, pow10);
                den = pow10 / g;
                if (d->frac % den)
                        return -2;
                part = (d->frac / den) * (m / g);
        }
        if (part > (uint64_t)INT64_MAX - whole)
                return -1;
        *out = (int64_t)(whole + part);
        return 0;
}

static const char *skip_spaces(const char *s) {
        while (*s == ' ')
                s++;
        return s;
}

/* Shared by both parsers: number, optional spaces, unit from @p units. */
static int parse_with_units(const char *s, const unit_t *units, size_t n_units,
                            bool unit_required, const char *base_name, const char *unit_list,
                            int64_t *out, char *errstr, size_t errstr_size) {
        decimal_t d;
        bool too_precise;
        const char *p, *unit;
        int64_t mult = 0;
        size_t used;
        int r;

        if (!s || !*s) {
                snprintf(errstr, errstr_size, "empty value");
                return -1;
        }
        p = skip_spaces(s);
        if (*p == '-') {
                snprintf(errstr, errstr_size, "negative values are not allowed");
                return -1;
        }
        if (*p == '+')
                p++;
        used = parse_decimal(p, &d, &too_precise);
        if (!used) {
                snprintf(errstr, errstr_size, "not a number");
                return -1;
        }
        unit = skip_spaces(p + used);
        /* Trailing spaces are harmless; anything else must be a unit. */
        if (!*unit) {
                if (unit_required && (d.ip || d.frac || d.ip_over)) {
                        snprintf(errstr, errstr_size, "missing unit: use %s", unit_list);
                        return -1;
                }
                mult = 1;
        } else {
                size_t ulen = strlen(unit);
                while (ulen && unit[ulen - 1] == ' ')
                        ulen--;
                for (size_t i = 0; i < n_units; i++)
                        if (strlen(units[i].name) == ulen && !memcmp(units[i].name, unit, ulen))
                                mult = units[i].mult;
                if (!mult) {
                        char shown[20];
                        size_t k;
                        /* Quote at most 16 characters, unprintable ones as '?'. */
                        for (k = 0; k < ulen && k < 16; k++)
                                shown[k] = unit[k] >= ' ' && unit[k] < 0x7f ? unit[k] : '?';
                        snprintf(shown + k, sizeof(shown) - k, "%s", ulen > 16 ? "..." : "");
                        snprintf(errstr, errstr_size, "unknown unit '%s': use %s", shown,
                                 unit_list);
                        return -1;
                }
        }
        if (too_precise) {
                snprintf(errstr, errstr_size, "too many decimal digits");
                return -1;
        }
        r = scale_decimal(&d, mult, out);
        if (r == -1) {
                snprintf(errstr, errstr_size, "out of range");
                return -1;
        }
        if (r == -2) {
                snprintf(errstr, errstr_size, "not a whole number of %s", base_name);
                return -1;
        }
        return 0;
}

/* Any thread. "0" is the only unitless duration. */
int fg_parse_duration(const char *s, int64_t *ns, char *errstr, size_t errstr_size) {
        return parse_with_units(s, duration_units, N_ELEMS(duration_units), true, "nanoseconds",
                                "ns, us, ms, s, m or h", ns, errstr, errstr_size);
}

/* Any thread. A bare number is bytes. */
int fg_parse_size(const char *s, int64_t *bytes, char *errstr, size_t errstr_size) {
        return parse_with_units(s, size_units, N_ELEMS(size_units), false, "bytes",
                                "B, KiB, MiB, GiB, TiB, kB, MB, GB or TB", bytes, errstr,
                                errstr_size);
}

static char *format_with_units(int64_t v, const unit_t *units, size_t n_units, const char *zero,
                               char *buf, size_t size) {
        /* Magnitude as uint64 so INT64_MIN formats too. */
        uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        const char *sign = v < 0 ? "-" : "";

        if (!size)
                return buf;
        if (v == 0) {
                snprintf(buf, size, "%s", zero);
                return buf;
        }
        for (size_t i = 0; i < n_units; i++) {
                uint64_t m = (uint64_t)units[i].mult;
                if (mag % m == 0) {
                        snprintf(buf, size, "%s%llu%s", sign, (unsigned long long)(mag / m),
                                 units[i].name);
                        return buf;
                }
        }
        snprintf(buf, size, "%s%llu", sign, (unsigned long long)mag);
        return buf;
}

/* Any thread. 0 formats as "0s". */
char *fg_format_duration(int64_t ns, char *buf, size_t size) {
        return format_with_units(ns, duration_units, N_ELEMS(duration_units), "0s", buf, size);
}

/* Any thread. 0 formats as "0B"; "KB" is never produced (kB is). */
char *fg_format_size(int64_t bytes, char *buf, size_t size) {
        return format_with_units(bytes, size_units, N_ELEMS(size_units), "0B", buf, size);
}
