/*
 * check_burst: the load generator's profile against a mock cluster — after
 * a spike at the producer's maximum rate the baseline goes on (it used to
 * wait until the baseline alone would have caught up with the spike), and
 * a generator stopped mid-stream reports every event it produced as
 * delivered, and keys 0 produces events without a message key.
 *
 * Timing bounds are generous (a shared 2-core machine): the baseline after
 * the spike must produce something, and far less than another spike.
 */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "config/config.h"
#include "tools/burst.h"
#include "kafka/mock.h"
#include "tests/support/fgtest.h"

typedef struct run {
        fg_burst_t *b;
        int rc;
} run_t;

static void *run_main(void *arg) {
        run_t *r = arg;
        r->rc = fg_burst_run(r->b, 30000);
        return NULL;
}

/* Stops a generator running on @p thr and checks that it ended cleanly
 * with every event it produced delivered; frees it. */
static void stop_and_check(run_t *r, pthread_t thr) {
        fg_burst_stop(r->b);
        pthread_join(thr, NULL);
        ck_assert_int_eq(r->rc, 0);
        ck_assert_int_eq(fg_burst_delivered(r->b), fg_burst_produced(r->b));
        fg_burst_destroy(r->b);
}

static void sleep_ms(int ms) {
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
}

START_TEST(test_burst_baseline_resumes_after_unlimited_spike) {
        fg_mock_t *mock = fg_test_mock(1, "burst", 4);
        fg_burst_cfg_t bc = {.enabled = true,
                             .count = 100000000,
                             .rate = 200,
                             .size = 64,
                             .keys = 100,
                             .spike_at_ns = 300 * FG_NS_PER_MS,
                             .spike_for_ns = 300 * FG_NS_PER_MS,
                             .spike_rate = 0};
        char errstr[256];
        run_t r = {0};
        pthread_t thr;
        int64_t at_end, later;

        r.b = fg_burst_new(fg_mock_bootstrap(mock), "burst", &bc, "b", errstr, sizeof(errstr));
        ck_assert_msg(r.b, "%s", errstr);
        ck_assert_int_eq(pthread_create(&thr, NULL, run_main, &r), 0);
        sleep_ms(700); /* past the spike */
        at_end = fg_burst_produced(r.b);
        sleep_ms(1500);
        later = fg_burst_produced(r.b);
        stop_and_check(&r, thr);

        ck_assert_int_gt(at_end, 1000); /* the spike ran unlimited */
        /* 200/s for 1.5 s: ~300 */
        ck_assert_msg(later - at_end >= 50 && later - at_end <= 2000,
                      "%lld events in the 1.5 s of baseline after the spike",
                      (long long)(later - at_end));
        fg_mock_destroy(mock);
}
END_TEST

START_TEST(test_burst_stop_counts_every_event) {
        fg_mock_t *mock = fg_test_mock(1, "burst", 4);
        fg_burst_cfg_t bc = {.enabled = true, .count = 100000000, .size = 64, .keys = 100};
        char errstr[256];

        for (int i = 0; i < 5; i++) {
                run_t r = {0};
                pthread_t thr;

                r.b = fg_burst_new(fg_mock_bootstrap(mock), "burst", &bc, NULL, errstr,
                                   sizeof(errstr));
                ck_assert_msg(r.b, "%s", errstr);
                ck_assert_int_eq(pthread_create(&thr, NULL, run_main, &r), 0);
                sleep_ms(100 + 37 * i);
                stop_and_check(&r, thr);
        }
        fg_mock_destroy(mock);
}
END_TEST

/* keys N: "k<seq % N>" on every event; keys 0: no key at all (what lets
 * the producer's sticky partitioner batch one partition at a time). */
START_TEST(test_burst_keys_zero_means_no_key) {
        fg_mock_t *mock = fg_test_mock(1, "burst", 4);
        char errstr[256];

        for (int keys = 0; keys <= 3; keys += 3) {
                char topic[32];
                fg_test_topic_t t = {0};
                fg_burst_cfg_t bc = {.enabled = true, .count = 30, .size = 64, .keys = keys};
                fg_burst_t *b;

                snprintf(topic, sizeof(topic), "keys%d", keys);
                ck_assert_msg(!fg_mock_create_topic(mock, topic, 4, errstr, sizeof(errstr)), "%s",
                              errstr);
                b = fg_burst_new(fg_mock_bootstrap(mock), topic, &bc, "k", errstr, sizeof(errstr));
                ck_assert_msg(b, "%s", errstr);
                ck_assert_int_eq(fg_burst_run(b, 30000), 0);
                ck_assert_int_eq(fg_burst_delivered(b), 30);
                fg_burst_destroy(b);

                fg_test_read_topic(&t, fg_mock_bootstrap(mock), topic, 4);
                ck_assert_uint_eq(t.n, 30);
                for (size_t i = 0; i < t.n; i++) {
                        if (keys == 0) {
                                ck_assert_ptr_null(t.msgs[i].key);
                        } else {
                                ck_assert_ptr_nonnull(t.msgs[i].key);
                                ck_assert_msg(!strcmp(t.msgs[i].key, "k0") ||
                                                  !strcmp(t.msgs[i].key, "k1") ||
                                                  !strcmp(t.msgs[i].key, "k2"),
                                              "key %s", t.msgs[i].key);
                        }
                        ck_assert_ptr_nonnull(strstr(t.msgs[i].value, "\"user\":\"u"));
                }
                fg_test_topic_free(&t);
        }
        fg_mock_destroy(mock);
}
END_TEST

static Suite *burst_suite(void) {
        Suite *s = suite_create("burst");
        TCase *tc = tcase_create("profile");

        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_burst_baseline_resumes_after_unlimited_spike);
        tcase_add_test(tc, test_burst_stop_counts_every_event);
        tcase_add_test(tc, test_burst_keys_zero_means_no_key);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(burst_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
