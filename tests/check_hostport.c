/*
 * check_hostport: common/hostport.c — "host:port" as metrics.listen is
 * written, and the loopback and wildcard tests the admin server's Host
 * check relies on.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hostport.h"

START_TEST(test_hostport_parse_good) {
        static const struct {
                const char *in, *host;
                int port;
                bool numeric, v6;
        } cases[] = {
            {"127.0.0.1:9464", "127.0.0.1", 9464, true, false},
            {"0.0.0.0:0", "0.0.0.0", 0, true, false},
            {"[::1]:65535", "::1", 65535, true, true},
            {"[::]:80", "::", 80, true, true},
            {"localhost:9464", "localhost", 9464, false, false},
            {"metrics-1.example.net:1", "metrics-1.example.net", 1, false, false},
            {"example.net.:80", "example.net.", 80, false, false},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                fg_hostport_t hp;
                char why[128] = "";

                ck_assert_msg(fg_hostport_parse(cases[i].in, &hp, why, sizeof(why)) == 0, "%s: %s",
                              cases[i].in, why);
                ck_assert_str_eq(hp.host, cases[i].host);
                ck_assert_int_eq(hp.port, cases[i].port);
                ck_assert_int_eq(hp.numeric, cases[i].numeric);
                ck_assert_int_eq(hp.v6, cases[i].v6);
        }
}
END_TEST

START_TEST(test_hostport_parse_bad) {
        static const struct {
                const char *in, *why;
        } cases[] = {
            {"127.0.0.1:99999", "the port is out of range 0-65535"},
            {"127.0.0.1:4294967297", "the port is out of range 0-65535"},
            {"0.0.0.0:-1", "the port is not a number 0-65535"},
            {"host:80x", "the port is not a number 0-65535"},
            {"host:", "there is no port"},
            {"host", "there is no port"},
            {":9464", "no host before the port (0.0.0.0 or [::] listen on every address)"},
            {"::1:9464", "an IPv6 address needs brackets: [address]:port"},
            {"[1.2.3.4]:80", "not an IPv6 address in the brackets"},
            {"300.1.2.3:80", "not an IPv4 address"},
            {"not an address:80", "not an IP address or a host name"},
            {"-bad.example:80", "not an IP address or a host name"},
            {"a..b:80", "not an IP address or a host name"},
            {"under_score:80", "not an IP address or a host name"},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                fg_hostport_t hp;
                char why[128] = "";

                ck_assert_msg(fg_hostport_parse(cases[i].in, &hp, why, sizeof(why)) == -1, "%s",
                              cases[i].in);
                ck_assert_msg(!strcmp(why, cases[i].why), "%s: '%s', want '%s'", cases[i].in, why,
                              cases[i].why);
        }
}
END_TEST

START_TEST(test_hostport_loopback_and_wildcard) {
        static const char *const loop[] = {"localhost", "LocalHost", "localhost.", "a.localhost",
                                           "127.0.0.1", "127.255.0.9", "::1"};
        static const char *const not_loop[] = {"localhost.example", "evil-localhost", "10.0.0.1",
                                               "::", "0.0.0.0", "128.0.0.1", "xlocalhost"};

        for (size_t i = 0; i < sizeof(loop) / sizeof(loop[0]); i++)
                ck_assert_msg(fg_hostport_is_loopback(loop[i]), "%s", loop[i]);
        for (size_t i = 0; i < sizeof(not_loop) / sizeof(not_loop[0]); i++)
                ck_assert_msg(!fg_hostport_is_loopback(not_loop[i]), "%s", not_loop[i]);
        ck_assert(fg_hostport_is_wildcard("0.0.0.0"));
        ck_assert(fg_hostport_is_wildcard("::"));
        ck_assert(!fg_hostport_is_wildcard("127.0.0.1"));
        ck_assert(!fg_hostport_is_wildcard("localhost"));
}
END_TEST

static Suite *hostport_suite(void) {
        Suite *s = suite_create("hostport");
        TCase *tc = tcase_create("hostport");

        tcase_add_test(tc, test_hostport_parse_good);
        tcase_add_test(tc, test_hostport_parse_bad);
        tcase_add_test(tc, test_hostport_loopback_and_wildcard);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(hostport_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
