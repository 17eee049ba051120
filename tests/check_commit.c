/*
 * check_commit: ingest's own commits (ingest/commit.c) — paced by work, and
 * held while the consumer group rejoins.
 *
 *   join_state_lines   librdkafka's join-state log lines read right (the
 *                      lines are copied from librdkafka 2.0.2's output).
 *   paced_by_work      kafka.commit_every 1000 with the time trigger 10 min
 *                      away, the sink capped at 5,000 events/s: at a
 *                      kill -9, what was delivered but not
 *                      committed stays within commit_every plus what can be
 *                      in flight (without pacing by work it would be all
 *                      20,000+ delivered); the restart redelivers at most
 *                      that and misses nothing.
 *   held_while_rejoining  a member committing every 100 events while a
 *                      second one joins and leaves: no assignment is lost
 *                      (a commit sent while a member rejoins comes back
 *                      ILLEGAL_GENERATION and librdkafka drops the whole
 *                      assignment; with the hold switched off this test
 *                      saw that in each of the three runs tried).
 *
 * Waits are on conditions (file contents, log lines, exits) with generous
 * bounds; the sink is rate-capped so that how far a commit trails is set by
 * the cap, not by the machine's speed.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "ingest/ingest_int.h"
#include "tests/support/fgtest.h"

#define TOPIC "events"
#define PARTS 8

START_TEST(test_commit_join_state_lines) {
        ck_assert_int_eq(fg_ingest_join_state_of("CGRPJOINSTATE",
                                                 "Group \"g\" changed join state wait-assign-call "
                                                 "-> steady (state up)"),
                         FG_JOIN_STEADY);
        ck_assert_int_eq(fg_ingest_join_state_of("CGRPJOINSTATE",
                                                 "Group \"g\" changed join state steady -> "
                                                 "wait-join (state up)"),
                         FG_JOIN_REJOINING);
        ck_assert_int_eq(fg_ingest_join_state_of("CGRPJOINSTATE",
                                                 "Group \"g\" changed join state init -> "
                                                 "wait-metadata (state up)"),
                         FG_JOIN_REJOINING);
        /* The group's name is the user's: only the last arrow counts. */
        ck_assert_int_eq(fg_ingest_join_state_of("CGRPJOINSTATE",
                                                 "Group \"a -> steady \" changed join state "
                                                 "steady -> wait-unassign-call (state up)"),
                         FG_JOIN_REJOINING);
        ck_assert_int_eq(fg_ingest_join_state_of("CGRPJOINSTATE",
                                                 "Group \"g\" changed join state wait-sync -> "
                                                 "steadyish (state up)"),
                         FG_JOIN_REJOINING);
        /* Other lines say nothing about the join state. */
        ck_assert_int_eq(fg_ingest_join_state_of("COMMIT",
                                                 "Group \"g\" changed join state x -> steady"),
                         FG_JOIN_UNKNOWN);
        ck_assert_int_eq(fg_ingest_join_state_of("CGRPJOINSTATE", "something else"),
                         FG_JOIN_UNKNOWN);
}
END_TEST

static char *write_config(const char *dir, const char *name, const char *bs, const char *group,
                          const char *out, int commit_every, int rate) {
        return fg_test_write(dir, name,
                             "kafka:\n"
                             "  brokers: \"%s\"\n"
                             "  group_id: \"%s\"\n"
                             "  topics: [" TOPIC "]\n"
                             "  commit_every: %d\n"
                             "  properties:\n"
                             "    session.timeout.ms: 6000\n"
                             "    heartbeat.interval.ms: 500\n"
                             "    auto.commit.interval.ms: 600000\n"
                             "queue:\n"
                             "  capacity: 500\n"
                             "workers:\n"
                             "  size: 2\n"
                             "  batch_max: 64\n"
                             "sink:\n"
                             "  type: file\n"
                             "  path: \"%s\"\n"
                             "  rate_limit: {events_per_second: %d, burst: 200}\n"
                             "shutdown:\n"
                             "  timeout: 20s\n"
                             "metrics:\n"
                             "  listen: \"127.0.0.1:0\"\n"
                             "  log_interval: 0s\n",
                             bs, group, commit_every, out, rate);
}

/* What can be delivered and still not committable at a kill, beyond
 * commit_every: events finished above a gap (at most the queue, ingest's
 * pending batch and the workers' batches can be unfinished below them) and
 * what the capped sink delivers while the store waits for its tick (20 ms)
 * and the commit for its answer: normally a few ms; half a second of the
 * cap leaves room for a sanitizer build on a loaded machine. Without
 * pacing by work all 20,000 delivered would be uncommitted. */
#define PACED_COMMIT_EVERY 1000
#define PACED_RATE         5000
#define PACED_SLACK        (500 + 512 + 2 * 64 + PACED_RATE / 2)

START_TEST(test_commit_paced_by_work) {
        const int64_t count = 60000;
        char *dir = fg_test_tmpdir(), *out = fg_test_path(dir, "out.jsonl"),
             *log = fg_test_path(dir, "daemon.log"), *log2 = fg_test_path(dir, "restart.log");
        fg_mock_t *mock = fg_test_mock(1, TOPIC, PARTS);
        const char *bs = fg_mock_bootstrap(mock);
        char *cfg = write_config(dir, "fg.yaml", bs, "paced", out, PACED_COMMIT_EVERY, PACED_RATE);
        int64_t distinct = 0, uncommitted;
        fg_test_seen_t seen;
        fg_test_proc_t *d;
        int rc;

        fg_test_produce(bs, TOPIC, "pw", count, 0, 120);
        d = fg_test_spawn_run(cfg, log, false);
        ck_assert_msg(fg_test_wait_lines(out, 20000, 60000), "no progress");
        fg_test_proc_signal(d, SIGKILL);
        ck_assert_int_eq(fg_test_proc_wait(d, 10000), 128 + SIGKILL);
        fg_test_proc_free(d);

        uncommitted = fg_test_uncommitted(bs, "paced", TOPIC, PARTS, out, "pw", count, &distinct);
        fprintf(stderr, "commit paced by work: killed after %lld delivered, %lld committed, "
                        "%lld uncommitted (bound %d)\n",
                (long long)distinct, (long long)(distinct - uncommitted), (long long)uncommitted,
                PACED_COMMIT_EVERY + PACED_SLACK);
        ck_assert_int_ge(distinct, 20000);
        ck_assert_int_le(uncommitted, PACED_COMMIT_EVERY + PACED_SLACK);

        d = fg_test_spawn_run(cfg, log2, true);
        rc = fg_test_proc_wait(d, 120000);
        if (rc != 0)
                fg_test_dump_log(log2, 4000);
        ck_assert_int_eq(rc, 0);
        fg_test_seen_scan(&seen, out, "pw", count);
        ck_assert_int_eq(seen.missing, 0);
        ck_assert_int_le(seen.dups, uncommitted);

        fg_test_seen_free(&seen);
        fg_test_proc_free(d);
        fg_mock_destroy(mock);
        fg_test_rmtree(dir);
        free(dir), free(out), free(log), free(log2), free(cfg);
}
END_TEST

/* Every id in the union of the two outputs. */
static bool union_has_all(const char *a, const char *b, const char *prefix, int64_t count) {
        const char *paths[] = {a, b, NULL};
        fg_test_seen_t u;
        bool all;

        fg_test_seen_scan_files(&u, paths, prefix, count);
        all = u.missing == 0;
        fg_test_seen_free(&u);
        return all;
}

START_TEST(test_commit_held_while_rejoining) {
        const int64_t count = 120000;
        char *dir = fg_test_tmpdir(), *out_a = fg_test_path(dir, "a.jsonl"),
             *out_b = fg_test_path(dir, "b.jsonl"), *log_a = fg_test_path(dir, "a.log"),
             *log_b = fg_test_path(dir, "b.log");
        fg_mock_t *mock = fg_test_mock(1, TOPIC, PARTS);
        const char *bs = fg_mock_bootstrap(mock);
        char *cfg_a = write_config(dir, "a.yaml", bs, "held", out_a, 100, 100000),
             *cfg_b = write_config(dir, "b.yaml", bs, "held", out_b, 100, 100000);
        fg_test_producer_t *prod = fg_test_produce_async(bs, TOPIC, "hr", count, 10000, 120);
        fg_test_proc_t *a, *b;
        int64_t deadline;

        a = fg_test_spawn_run(cfg_a, log_a, false);
        ck_assert(fg_test_wait_file_contains(log_a, "assigned 8 partitions", 60000));
        ck_assert(fg_test_wait_lines(out_a, 5000, 60000));
        /* B joins mid-stream (A rejoins while committing every 100
         * events), then leaves again (A rejoins once more). */
        b = fg_test_spawn_run(cfg_b, log_b, false);
        ck_assert(fg_test_wait_file_contains(log_b, "assigned 4 partitions", 60000));
        ck_assert(fg_test_wait_lines(out_b, 2000, 60000));
        fg_test_proc_signal(b, SIGTERM);
        ck_assert_int_eq(fg_test_proc_wait(b, 30000), 0);
        ck_assert(fg_test_wait_file_contains(log_a, "assigned 4 partitions", 60000));
        fg_test_producer_join(prod);

        deadline = fg_mono_ns() + 60 * FG_NS_PER_S;
        while (!union_has_all(out_a, out_b, "hr", count) && fg_mono_ns() < deadline)
                usleep(50000);
        fg_test_proc_signal(a, SIGTERM);
        ck_assert_int_eq(fg_test_proc_wait(a, 30000), 0);
        if (fg_test_file_contains(log_a, "assignment lost") ||
            fg_test_file_contains(log_b, "assignment lost"))
                fg_test_dump_log(log_a, 4000);
        ck_assert(union_has_all(out_a, out_b, "hr", count));
        ck_assert(!fg_test_file_contains(log_a, "assignment lost"));
        ck_assert(!fg_test_file_contains(log_b, "assignment lost"));

        fg_test_proc_free(a);
        fg_test_proc_free(b);
        fg_mock_destroy(mock);
        fg_test_rmtree(dir);
        free(dir), free(out_a), free(out_b), free(log_a), free(log_b), free(cfg_a), free(cfg_b);
}
END_TEST

static Suite *commit_suite(void) {
        Suite *s = suite_create("commit");
        TCase *tc = tcase_create("commit");

        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, test_commit_join_state_lines);
        tcase_add_test(tc, test_commit_paced_by_work);
        tcase_add_test(tc, test_commit_held_while_rejoining);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(commit_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
