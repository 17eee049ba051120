/*
 * check_daemon: the daemon's pieces that need no cluster — the token
 * bucket behind log rate limits (common/ratelimit.c, an injected clock),
 * libevent's own log routed through floodgate's at a bounded rate
 * (daemon/evlog.c), and the exit summary with any component missing
 * (daemon/report.c: `run` crashed there when the consumer could not be
 * created).
 */
#include <check.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/ratelimit.h"
#include "daemon/daemon_int.h"
#include "daemon/evlog.h"

#define S(x) ((int64_t)(x) * FG_NS_PER_S)

START_TEST(test_daemon_ratelimit_bucket) {
        fg_ratelimit_t rl;
        uint64_t held = 99;
        int allowed = 0;

        fg_ratelimit_init(&rl, 3, 2.0);
        for (int i = 0; i < 10; i++)
                allowed += fg_ratelimit_allow(&rl, S(100), &held);
        ck_assert_int_eq(allowed, 3); /* the burst */
        ck_assert_uint_eq(held, 0);
        /* Half a second later: one token (2 a second). */
        ck_assert(fg_ratelimit_allow(&rl, S(100) + FG_NS_PER_S / 2, &held));
        ck_assert_uint_eq(held, 7); /* what was refused meanwhile */
        ck_assert(!fg_ratelimit_allow(&rl, S(100) + FG_NS_PER_S / 2, &held));
        /* A long quiet spell refills to the burst, no more. */
        allowed = 0;
        for (int i = 0; i < 10; i++)
                allowed += fg_ratelimit_allow(&rl, S(200), &held);
        ck_assert_int_eq(allowed, 3);
        /* A clock that goes back takes nothing and gives nothing. */
        ck_assert(!fg_ratelimit_allow(&rl, S(150), &held));
}
END_TEST

/* Reads what fg_log wrote to stderr while @p fn ran. */
static char *capture_stderr(void (*fn)(void)) {
        char path[] = "/tmp/fgdaemonXXXXXX", *text;
        int fd = mkstemp(path), saved = dup(STDERR_FILENO);
        FILE *fp;
        long len;

        ck_assert(fd >= 0 && saved >= 0);
        ck_assert(dup2(fd, STDERR_FILENO) >= 0);
        fn();
        dup2(saved, STDERR_FILENO);
        close(saved);
        fp = fdopen(fd, "r");
        ck_assert_ptr_nonnull(fp);
        fseek(fp, 0, SEEK_END);
        len = ftell(fp);
        rewind(fp);
        text = calloc(1, (size_t)len + 1);
        ck_assert(fread(text, 1, (size_t)len, fp) == (size_t)len);
        fclose(fp);
        unlink(path);
        return text;
}

static size_t count(const char *text, const char *needle) {
        size_t n = 0;

        for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

/* event_base_free(NULL) is a public call after which libevent warns "no
 * base to free": a harmless way to make it log. */
static void flood_libevent(void) {
        for (int i = 0; i < 10000; i++)
                event_base_free(NULL);
}

static void one_more(void) { event_base_free(NULL); }

START_TEST(test_daemon_libevent_log_is_routed_and_limited) {
        char *out;
        uint64_t before;

        fg_log_set_level(FG_LOG_INFO);
        fg_evlog_install();
        before = fg_evlog_suppressed_total();
        out = capture_stderr(flood_libevent);
        ck_assert_uint_eq(count(out, "warn  libevent: "), FG_EVLOG_BURST);
        ck_assert_uint_ge(fg_evlog_suppressed_total() - before, 10000 - FG_EVLOG_BURST - 1);
        free(out);
        /* Tokens come back with time; the next line says what was held. */
        usleep(1100 * 1000);
        out = capture_stderr(one_more);
        ck_assert_msg(strstr(out, "earlier libevent messages not shown)"), "%s", out);
        free(out);
}
END_TEST

/* The summary with only some components built: each line needs only what
 * it reads, and nothing without metrics. */
START_TEST(test_daemon_summary_with_missing_components) {
        fg_daemon_t d;
        fg_queue_cfg_t qc = {.capacity = 10, .max_bytes = 1024, .high_watermark = 0.9,
                             .low_watermark = 0.5};
        char errstr[128];

        memset(&d, 0, sizeof(d));
        d.started_ns = fg_mono_ns();
        fg_report_summary(&d); /* nothing at all */
        d.metrics = fg_metrics_new();
        ck_assert_ptr_nonnull(d.metrics);
        fg_report_summary(&d); /* metrics only: no queue, pool or consumer */
        d.q = fg_queue_new(&qc, errstr, sizeof(errstr));
        ck_assert_msg(d.q != NULL, "%s", errstr);
        fg_report_summary(&d); /* ... and a queue */
        fg_queue_destroy(d.q);
        fg_metrics_destroy(d.metrics);
}
END_TEST

static Suite *daemon_suite(void) {
        Suite *s = suite_create("daemon");
        TCase *tc = tcase_create("daemon");

        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_daemon_ratelimit_bucket);
        tcase_add_test(tc, test_daemon_libevent_log_is_routed_and_limited);
        tcase_add_test(tc, test_daemon_summary_with_missing_components);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(daemon_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
