/*
 * check_redact: common/redact.c — URL user-info and known secrets hidden
 * in any text, never a byte of a password left, the rest untouched — and
 * that the logger applies it to every line.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/redact.h"

START_TEST(test_redact_urls) {
        static const struct {
                const char *in, *out;
        } cases[] = {
            {"http://user:pw@host:8080/path?q=1", "http://***@host:8080/path?q=1"},
            {"sink.url 'http://bob@example.com/': bad", "sink.url 'http://***@example.com/': bad"},
            {"https://u:p@a/ and http://x:y@b/", "https://***@a/ and http://***@b/"},
            /* The authority's last '@' ends the user-info: '@' in a password. */
            {"http://u:p@ss@host/", "http://***@host/"},
            /* A broker list of URLs. */
            {"sasl://u:p@h1:9092,sasl://v:q@h2:9092", "sasl://***@h1:9092,sasl://***@h2:9092"},
            /* No user-info, or no URL: untouched. */
            {"http://host/a@b", "http://host/a@b"},
            {"mail me at x@y.z", "mail me at x@y.z"},
            {"://u:p@h", "://u:p@h"},
            {"1http://u:p@h", "1http://***@h"}, /* the scheme starts at its first letter */
            {"http://u:p@h", "http://***@h"},
            {"", ""},
            {"\"http://a:b@c\"", "\"http://***@c\""},
        };
        char out[256];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                fg_redact_urls(cases[i].in, out, sizeof(out));
                ck_assert_msg(!strcmp(out, cases[i].out), "'%s' -> '%s', want '%s'", cases[i].in,
                              out, cases[i].out);
                ck_assert_int_eq(fg_redact_has_url_userinfo(cases[i].in),
                                 strcmp(cases[i].in, cases[i].out) != 0);
        }
        /* Truncated output is still terminated and never holds the secret. */
        fg_redact_urls("http://user:secretpassword@h/", out, 12);
        ck_assert_str_eq(out, "http://***@");
        fg_redact_urls(NULL, out, sizeof(out));
        ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_redact_secret) {
        static const struct {
                const char *in, *secret, *out;
        } cases[] = {
            {"Invalid value for property \"x\": hunter2", "hunter2",
             "Invalid value for property \"x\": ***"},
            {"a hunter2 b hunter2", "hunter2", "a *** b ***"},
            /* Inside a longer word it is not the secret. */
            {"hunter22 xhunter2", "hunter2", "hunter22 xhunter2"},
            /* Blanks around the secret do not matter (librdkafka trims). */
            {"value S3cr3t!", "  S3cr3t!  ", "value ***"},
            /* A secret that starts or ends with punctuation needs no boundary there. */
            {"x=!pw!y", "!pw!", "x=***y"},
            {"nothing to hide", "", "nothing to hide"},
            {"nothing to hide", NULL, "nothing to hide"},
        };
        char out[256];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                fg_redact_secret(cases[i].in, cases[i].secret, out, sizeof(out));
                ck_assert_msg(!strcmp(out, cases[i].out), "'%s' -> '%s', want '%s'", cases[i].in,
                              out, cases[i].out);
        }
}
END_TEST

START_TEST(test_redact_secret_names) {
        static const char *const secret[] = {"sasl.password", "ssl.key.password", "ssl.key.pem",
                                             "sasl.oauthbearer.client.secret", "Authorization",
                                             "X-Api-Key", "ssl.keystore.password",
                                             "sasl.jaas.config", "bearer_token"};
        static const char *const plain[] = {"linger.ms", "acks", "client.id", "bootstrap.servers",
                                            "Content-Type", "sasl.mechanism"};

        for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
                ck_assert_msg(fg_redact_is_secret_name(secret[i]), "%s", secret[i]);
        for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
                ck_assert_msg(!fg_redact_is_secret_name(plain[i]), "%s", plain[i]);
        ck_assert(!fg_redact_is_secret_name(NULL));
}
END_TEST

/* Every log line goes through the URL redaction, whoever wrote it. */
START_TEST(test_redact_log_lines) {
        int fds[2], saved = dup(STDERR_FILENO);
        char buf[4096];
        ssize_t n;

        ck_assert(pipe(fds) == 0 && saved >= 0);
        ck_assert(dup2(fds[1], STDERR_FILENO) >= 0);
        fg_log_set_level(FG_LOG_INFO);
        fg_info("connecting to http://admin:S3cr3t@db.example:5432/x and %s", "plain text");
        dup2(saved, STDERR_FILENO);
        close(fds[1]);
        n = read(fds[0], buf, sizeof(buf) - 1);
        close(fds[0]);
        close(saved);
        ck_assert_int_gt(n, 0);
        buf[n] = '\0';
        ck_assert_msg(strstr(buf, "connecting to http://***@db.example:5432/x and plain text\n"),
                      "%s", buf);
        ck_assert(!strstr(buf, "S3cr3t"));
}
END_TEST

static Suite *redact_suite(void) {
        Suite *s = suite_create("redact");
        TCase *tc = tcase_create("redact");

        tcase_add_test(tc, test_redact_urls);
        tcase_add_test(tc, test_redact_secret);
        tcase_add_test(tc, test_redact_secret_names);
        tcase_add_test(tc, test_redact_log_lines);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(redact_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
