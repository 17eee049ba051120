/*
 * check_units: durations and sizes with units (common/units.h).
 *
 * Pure functions: every test is a table of inputs and exact results.
 */
#include "common/units.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NS_S  1000000000LL
#define NS_MS 1000000LL

typedef struct ok_case {
        const char *in;
        int64_t want;
} ok_case_t;

typedef struct err_case {
        const char *in;
        const char *why; /* substring of the reason */
} err_case_t;

START_TEST(test_units_duration_valid) {
        static const ok_case_t cases[] = {
            {"0", 0},
            {"0s", 0},
            {"0.0", 0},
            {"1ns", 1},
            {"3us", 3000},
            {"250ms", 250 * NS_MS},
            {"5s", 5 * NS_S},
            {"1.5s", 1500 * NS_MS},
            {".5s", 500 * NS_MS},
            {"5.s", 5 * NS_S},
            {"1m", 60 * NS_S},
            {"1.5m", 90 * NS_S},
            {"2h", 7200 * NS_S},
            {"0.25h", 900 * NS_S},
            {"1.000000001s", NS_S + 1},
            {"1.100000000000000000000s", 1100 * NS_MS}, /* trailing zeros are free */
            {"+7ms", 7 * NS_MS},
            {"10 s", 10 * NS_S},
            {" 10s ", 10 * NS_S},
            {"007s", 7 * NS_S},
            {"9223372036854775807ns", INT64_MAX},
            {"2562047h", 2562047LL * 3600 * NS_S},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int64_t ns = -1;
                char err[128] = "";
                int r = fg_parse_duration(cases[i].in, &ns, err, sizeof(err));
                ck_assert_msg(r == 0, "'%s' rejected: %s", cases[i].in, err);
                ck_assert_msg(ns == cases[i].want, "'%s' -> %lld, want %lld", cases[i].in,
                              (long long)ns, (long long)cases[i].want);
        }
}
END_TEST

START_TEST(test_units_duration_invalid) {
        static const err_case_t cases[] = {
            {"", "empty"},
            {"5", "missing unit"},
            {"1.5", "missing unit"},
            {"s", "not a number"},
            {".s", "not a number"},
            {"five seconds", "not a number"},
            {"5sec", "unknown unit 'sec'"},
            {"5S", "unknown unit 'S'"},
            {"1h30m", "unknown unit 'h30m'"},
            {"1e3s", "unknown unit 'e3s'"},
            {"5 m s", "unknown unit 'm s'"},
            {"-5s", "negative"},
            {"-0s", "negative"},
            {"1.5ns", "not a whole number of nanoseconds"},
            {"0.0000000001s", "not a whole number of nanoseconds"},
            {"1.0000000000000000001s", "too many decimal digits"},
            {"9223372036854775808ns", "out of range"},
            {"2562048h", "out of range"},
            {"99999999999999999999999s", "out of range"},
            {"9223372036854775807.5s", "out of range"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int64_t ns = 42;
                char err[128] = "";
                int r = fg_parse_duration(cases[i].in, &ns, err, sizeof(err));
                ck_assert_msg(r == -1, "'%s' accepted as %lld", cases[i].in, (long long)ns);
                ck_assert_msg(strstr(err, cases[i].why), "'%s': reason '%s', want '%s'",
                              cases[i].in, err, cases[i].why);
        }
}
END_TEST

START_TEST(test_units_size_valid) {
        static const ok_case_t cases[] = {
            {"0", 0},
            {"120", 120},
            {"64B", 64},
            {"1KiB", 1024},
            {"1.5KiB", 1536},
            {"32MiB", 32LL << 20},
            {"1GiB", 1LL << 30},
            {"2TiB", 2LL << 40},
            {"1kB", 1000},
            {"1KB", 1000},
            {"64kB", 64000},
            {"0.5MB", 500000},
            {"1GB", 1000000000LL},
            {"3TB", 3000000000000LL},
            {"32 MiB", 32LL << 20},
            {"9223372036854775807", INT64_MAX},
            {"8388607TiB", 8388607LL << 40},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int64_t bytes = -1;
                char err[128] = "";
                int r = fg_parse_size(cases[i].in, &bytes, err, sizeof(err));
                ck_assert_msg(r == 0, "'%s' rejected: %s", cases[i].in, err);
                ck_assert_msg(bytes == cases[i].want, "'%s' -> %lld, want %lld", cases[i].in,
                              (long long)bytes, (long long)cases[i].want);
        }
}
END_TEST

START_TEST(test_units_size_invalid) {
        static const err_case_t cases[] = {
            {"", "empty"},
            {"KiB", "not a number"},
            {"lots", "not a number"},
            {"32mb", "unknown unit 'mb'"},
            {"32kib", "unknown unit 'kib'"},
            {"1EiB", "unknown unit 'EiB'"},
            {"1KiBx", "unknown unit 'KiBx'"},
            {"-1", "negative"},
            {"-1KiB", "negative"},
            {"1.5B", "not a whole number of bytes"},
            {"0.1KiB", "not a whole number of bytes"},
            {"1.5", "not a whole number of bytes"},
            {"9223372036854775808", "out of range"},
            {"8388608TiB", "out of range"},
            {"9223372036854775807KiB", "out of range"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int64_t bytes = 42;
                char err[128] = "";
                int r = fg_parse_size(cases[i].in, &bytes, err, sizeof(err));
                ck_assert_msg(r == -1, "'%s' accepted as %lld", cases[i].in, (long long)bytes);
                ck_assert_msg(strstr(err, cases[i].why), "'%s': reason '%s', want '%s'",
                              cases[i].in, err, cases[i].why);
        }
}
END_TEST

START_TEST(test_units_null_input) {
        int64_t v;
        char err[64];
        ck_assert_int_eq(fg_parse_duration(NULL, &v, err, sizeof(err)), -1);
        ck_assert_int_eq(fg_parse_size(NULL, &v, err, sizeof(err)), -1);
        /* A zero-sized reason buffer is allowed. */
        ck_assert_int_eq(fg_parse_size("x", &v, NULL, 0), -1);
}
END_TEST

START_TEST(test_units_unprintable_unit_is_not_echoed) {
        int64_t v;
        char err[128];
        ck_assert_int_eq(fg_parse_size("5\n\033[2J", &v, err, sizeof(err)), -1);
        ck_assert_ptr_null(strchr(err, '\n'));
        ck_assert_ptr_null(strchr(err, '\033'));
}
END_TEST

START_TEST(test_units_format_duration) {
        static const struct {
                int64_t ns;
                const char *want;
        } cases[] = {
            {0, "0s"},
            {1, "1ns"},
            {1500, "1500ns"},
            {2000, "2us"},
            {250 * NS_MS, "250ms"},
            {30 * NS_S, "30s"},
            {90 * NS_S, "90s"},
            {60 * NS_S, "1m"},
            {600 * NS_S, "10m"},
            {3600 * NS_S, "1h"},
            {24 * 3600 * NS_S, "24h"},
            {-5 * NS_S, "-5s"},
            {INT64_MAX, "9223372036854775807ns"},
            {INT64_MIN, "-9223372036854775808ns"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char buf[48];
                ck_assert_str_eq(fg_format_duration(cases[i].ns, buf, sizeof(buf)), cases[i].want);
        }
}
END_TEST

START_TEST(test_units_format_size) {
        static const struct {
                int64_t bytes;
                const char *want;
        } cases[] = {
            {0, "0B"},
            {120, "120B"},
            {1000, "1kB"},
            {1024, "1KiB"},
            {1536, "1536B"},
            {2048000, "2000KiB"},
            {32LL << 20, "32MiB"},
            {32000000, "32MB"},
            {1LL << 30, "1GiB"},
            {64LL << 30, "64GiB"},
            {1000000000000LL, "1TB"},
            {1LL << 40, "1TiB"},
            {1LL << 50, "1024TiB"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char buf[48];
                ck_assert_str_eq(fg_format_size(cases[i].bytes, buf, sizeof(buf)), cases[i].want);
        }
}
END_TEST

START_TEST(test_units_format_small_buffer) {
        char buf[4] = "xyz";
        fg_format_duration(250 * NS_MS, buf, sizeof(buf));
        ck_assert_str_eq(buf, "250");
        fg_format_size(1LL << 30, buf, 0); /* must not write */
        ck_assert_str_eq(buf, "250");
}
END_TEST

/* format(parse(x)) is a fixed point and parse(format(v)) == v. */
START_TEST(test_units_round_trip) {
        uint64_t seed = 0x9E3779B97F4A7C15ULL;
        for (int i = 0; i < 20000; i++) {
                int64_t v, back;
                char buf[48], err[128];
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                /* Mix multiples of common units with arbitrary values. */
                v = (int64_t)(seed >> (1 + seed % 40));
                if (i % 3 == 0)
                        v = (v % 100000) * NS_MS;
                fg_format_duration(v, buf, sizeof(buf));
                ck_assert_msg(fg_parse_duration(buf, &back, err, sizeof(err)) == 0, "%s: %s", buf,
                              err);
                ck_assert_int_eq(back, v);
                fg_format_size(v, buf, sizeof(buf));
                ck_assert_msg(fg_parse_size(buf, &back, err, sizeof(err)) == 0, "%s: %s", buf, err);
                ck_assert_int_eq(back, v);
        }
}
END_TEST

static Suite *units_suite(void) {
        Suite *s = suite_create("units");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_units_duration_valid);
        tcase_add_test(tc, test_units_duration_invalid);
        tcase_add_test(tc, test_units_size_valid);
        tcase_add_test(tc, test_units_size_invalid);
        tcase_add_test(tc, test_units_null_input);
        tcase_add_test(tc, test_units_unprintable_unit_is_not_echoed);
        tcase_add_test(tc, test_units_format_duration);
        tcase_add_test(tc, test_units_format_size);
        tcase_add_test(tc, test_units_format_small_buffer);
        tcase_add_test(tc, test_units_round_trip);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(units_suite());
        int failed;
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
