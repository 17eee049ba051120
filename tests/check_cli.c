/*
 * check_cli: the floodgate binary's command line and lifecycle — exit codes,
 * check-config on good, bad and malformed files, reload on SIGHUP (good and
 * bad file), graceful stop on SIGTERM, journald-style log prefixes, and the
 * embedded mock cluster and load generator as child processes (reaped, in
 * their own process groups, gone with the daemon even after kill -9).
 */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/exit.h"
#include "tests/support/fgtest.h"

START_TEST(test_cli_version_and_help) {
        const char *version[] = {"--version", NULL}, *help[] = {"--help", NULL},
                   *bogus[] = {"frobnicate", NULL}, *norun[] = {"run", NULL},
                   *none[] = {NULL};
        char *out = NULL;

        ck_assert_int_eq(fg_test_run(version, &out, 10000), 0);
        ck_assert_msg(!strncmp(out, "floodgate ", 10), "got: %s", out);
        free(out);
        ck_assert_int_eq(fg_test_run(help, &out, 10000), 0);
        ck_assert(strstr(out, "check-config -c FILE") && strstr(out, "78 configuration error"));
        free(out);
        ck_assert_int_eq(fg_test_run(bogus, &out, 10000), FG_EXIT_USAGE);
        ck_assert(strstr(out, "unknown command 'frobnicate'"));
        free(out);
        ck_assert_int_eq(fg_test_run(norun, &out, 10000), FG_EXIT_USAGE);
        free(out);
        ck_assert_int_eq(fg_test_run(none, &out, 10000), FG_EXIT_USAGE);
        free(out);
}
END_TEST

START_TEST(test_cli_check_config_reference_and_demo) {
        char *ref = fg_test_srcpath("config/floodgate.yaml"), *demo = fg_test_srcpath("config/demo.yaml");
        const char *a[] = {"check-config", "-c", ref, NULL}, *b[] = {"check-config", "-c", demo, NULL};
        char *out = NULL;

        ck_assert_int_eq(fg_test_run(a, &out, 10000), 0);
        ck_assert(strstr(out, ": OK"));
        free(out);
        ck_assert_int_eq(fg_test_run(b, &out, 10000), 0);
        free(out);
        free(ref);
        free(demo);
}
END_TEST

/* Every file of the bad corpus: exit 78 and exactly the expected lines. */
START_TEST(test_cli_check_config_bad_corpus) {
        const char *src = getenv("FLOODGATE_SRCDIR");
        DIR *dir;
        struct dirent *de;
        int cases = 0;

        ck_assert(src && chdir(src) == 0);
        /* The corpus's environment (see tests/data/config/README). */
        unsetenv("FG_TEST_UNSET");
        setenv("FG_TEST_WORD", "lots", 1);
        dir = opendir("tests/data/config/bad");
        ck_assert(dir != NULL);
        while ((de = readdir(dir))) {
                size_t n = strlen(de->d_name);
                char path[512], expected_path[512], *expected, *out = NULL;
                const char *args[] = {"check-config", "-c", path, NULL};

                if (n < 6 || strcmp(de->d_name + n - 5, ".yaml"))
                        continue;
                snprintf(path, sizeof(path), "tests/data/config/bad/%s", de->d_name);
                snprintf(expected_path, sizeof(expected_path), "tests/data/config/bad/%.*s.expected",
                         (int)(n - 5), de->d_name);
                expected = fg_test_slurp(expected_path, NULL);
                ck_assert_msg(expected != NULL, "%s has no .expected", path);
                ck_assert_int_eq(fg_test_run(args, &out, 10000), FG_EXIT_CONFIG);
                ck_assert_msg(!strcmp(out, expected), "%s:\nexpected:\n%s\ngot:\n%s", path, expected, out);
                ck_assert_msg(!strstr(out, "S3cr3t") && !strstr(out, "hunter2"),
                              "%s: a secret shows: %s", path, out);
                free(out);
                free(expected);
                cases++;
        }
        closedir(dir);
        ck_assert_int_ge(cases, 25);
}
END_TEST

/* What only librdkafka or the sink can refuse (tests/data/config/probe):
 * check-config asks them, exit 78 with file:line:col. */
START_TEST(test_cli_check_config_probe_corpus) {
        const char *src = getenv("FLOODGATE_SRCDIR");
        DIR *dir;
        struct dirent *de;
        int cases = 0;

        ck_assert(src && chdir(src) == 0);
        dir = opendir("tests/data/config/probe");
        ck_assert(dir != NULL);
        while ((de = readdir(dir))) {
                size_t n = strlen(de->d_name);
                char path[512], expected_path[512], *expected, *out = NULL;
                const char *args[] = {"check-config", "-c", path, NULL};

                if (n < 6 || strcmp(de->d_name + n - 5, ".yaml"))
                        continue;
                snprintf(path, sizeof(path), "tests/data/config/probe/%s", de->d_name);
                snprintf(expected_path, sizeof(expected_path),
                         "tests/data/config/probe/%.*s.expected", (int)(n - 5), de->d_name);
                expected = fg_test_slurp(expected_path, NULL);
                ck_assert_msg(expected != NULL, "%s has no .expected", path);
                ck_assert_int_eq(fg_test_run(args, &out, 20000), FG_EXIT_CONFIG);
                ck_assert_msg(!strcmp(out, expected), "%s:\nexpected:\n%s\ngot:\n%s", path,
                              expected, out);
                free(out);
                free(expected);
                cases++;
        }
        closedir(dir);
        ck_assert_int_ge(cases, 5);
}
END_TEST

/* `run` with properties librdkafka refuses, one at a time or only
 * together: exit 78 with file:line:col (it used to crash in the exit
 * summary, with no consumer), and no value in the output. */
START_TEST(test_cli_run_refused_properties_exit_78) {
        static const char *const files[] = {"tests/data/config/probe/consumer_combination.yaml",
                                            "tests/data/config/probe/sink_kafka_acks.yaml",
                                            "tests/data/config/bad/kafka_property_unknown.yaml",
                                            "tests/data/config/bad/kafka_property_value.yaml"};
        const char *src = getenv("FLOODGATE_SRCDIR");

        ck_assert(src && chdir(src) == 0);
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                const char *args[] = {"run", "-c", files[i], NULL};
                char *out = NULL, want[600];

                ck_assert_int_eq(fg_test_run(args, &out, 20000), FG_EXIT_CONFIG);
                snprintf(want, sizeof(want), "%s:", files[i]);
                ck_assert_msg(!strncmp(out, want, strlen(want)), "%s: %s", files[i], out);
                ck_assert_msg(!strstr(out, "S3cr3t"), "%s: a secret shows: %s", files[i], out);
                free(out);
        }
}
END_TEST

/* Garbage, empty, huge and deeply nested files: a clean error, exit 78. */
START_TEST(test_cli_check_config_malformed_files) {
        char *dir = fg_test_tmpdir();
        struct {
                const char *name;
                size_t size;
                char fill;
        } cases[] = {
            {"garbage.yaml", 4096, 0},
            {"empty.yaml", 0, 0},
            {"huge.yaml", 10 * 1024 * 1024, 'a'},
            {"deep.yaml", 200000, '['},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *path = fg_test_path(dir, cases[i].name), *out = NULL;
                const char *args[] = {"check-config", "-c", path, NULL};
                FILE *fp = fopen(path, "wb");
                unsigned seed = 42;

                ck_assert(fp != NULL);
                for (size_t k = 0; k < cases[i].size; k++)
                        fputc(cases[i].fill ? cases[i].fill : (int)(rand_r(&seed) & 0xff), fp);
                fclose(fp);
                ck_assert_int_eq(fg_test_run(args, &out, 20000), FG_EXIT_CONFIG);
                ck_assert_msg(!strncmp(out, path, strlen(path)) && out[strlen(path)] == ':',
                              "%s: %s", cases[i].name, out);
                free(out);
                free(path);
        }
        fg_test_rmtree(dir);
        free(dir);
}
END_TEST

static const char lifecycle_cfg[] = "kafka:\n"
                                    "  brokers: mock\n"
                                    "  topics: [events]\n"
                                    "queue:\n"
                                    "  capacity: %d\n"
                                    "sink:\n"
                                    "  type: null\n"
                                    "log:\n"
                                    "  level: %s\n"
                                    "metrics:\n"
                                    "  listen: \"127.0.0.1:0\"\n";

/* SIGHUP with a good file applies what is live and names what needs a
 * restart; with a bad file logs file:line:col and keeps running; SIGTERM
 * stops with exit 0. */
START_TEST(test_cli_reload_and_stop) {
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "daemon.log");
        char *cfg = fg_test_write(dir, "fg.yaml", lifecycle_cfg, 1000, "info");
        const char *args[] = {"run", "-c", cfg, NULL};
        fg_test_proc_t *d = fg_test_spawn(log, args);
        char expected[512];

        ck_assert(fg_test_wait_file_contains(log, "running", 30000));

        free(fg_test_write(dir, "fg.yaml", lifecycle_cfg, 2000, "debug"));
        fg_test_proc_signal(d, SIGHUP);
        ck_assert(fg_test_wait_file_contains(log, "reload: log.level changed; applied", 10000));
        ck_assert(fg_test_wait_file_contains(
            log, "reload: queue.capacity changed; takes effect after a restart", 10000));
        ck_assert(fg_test_wait_file_contains(log, "(some changes need a restart)", 10000));

        free(fg_test_write(dir, "fg.yaml", "kafka:\n  brokers: mock\n  topics: [events]\nqueue:\n"
                                           "  capacity: lots\nsink:\n  type: null\n"));
        fg_test_proc_signal(d, SIGHUP);
        ck_assert(fg_test_wait_file_contains(log, "rejected; still running on the previous", 10000));
        snprintf(expected, sizeof(expected),
                 "%s:5:13: queue.capacity: expected an integer, got 'lots'", cfg);
        ck_assert(fg_test_wait_file_contains(log, expected, 10000));
        ck_assert_int_eq(fg_test_proc_wait(d, 200), -1); /* still running */

        fg_test_proc_signal(d, SIGTERM);
        ck_assert_int_eq(fg_test_proc_wait(d, 30000), 0);
        ck_assert(fg_test_file_contains(log, "SIGTERM: draining"));
        ck_assert(fg_test_file_contains(log, "summary:"));

        fg_test_proc_free(d);
        fg_test_rmtree(dir);
        free(dir), free(log), free(cfg);
}
END_TEST

/* A bad config at start: exit 78 with file:line:col on stderr. */
START_TEST(test_cli_run_bad_config_exits_78) {
        char *dir = fg_test_tmpdir();
        char *cfg = fg_test_write(dir, "fg.yaml", "kafka:\n  brokers: mock\n  topics: [events]\n"
                                                  "sink:\n  type: carrier-pigeon\n");
        const char *args[] = {"run", "-c", cfg, NULL};
        char *out = NULL, expected[512];

        ck_assert_int_eq(fg_test_run(args, &out, 10000), FG_EXIT_CONFIG);
        snprintf(expected, sizeof(expected), "%s:5:9: sink.type: expected one of", cfg);
        ck_assert_msg(strstr(out, expected), "got: %s", out);
        free(out);
        fg_test_rmtree(dir);
        free(dir), free(cfg);
}
END_TEST

/* Under systemd (JOURNAL_STREAM names stderr) lines carry <N> priorities
 * instead of timestamps. */
START_TEST(test_cli_journald_prefixes) {
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "out.log"), js[64];
        const char *args[] = {"mock", NULL};
        fg_test_proc_t *p;
        struct stat st;
        FILE *fp = fopen(log, "w");

        ck_assert(fp != NULL);
        fclose(fp);
        ck_assert(stat(log, &st) == 0);
        snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
                 (unsigned long long)st.st_ino);
        setenv("JOURNAL_STREAM", js, 1);
        p = fg_test_spawn(log, args);
        unsetenv("JOURNAL_STREAM");
        ck_assert(fg_test_wait_file_contains(log, "<6>mock cluster with 1 broker serving", 10000));
        fg_test_proc_signal(p, SIGTERM);
        ck_assert_int_eq(fg_test_proc_wait(p, 10000), 0);
        ck_assert(fg_test_file_contains(log, "BOOTSTRAP=127.0.0.1:"));
        fg_test_proc_free(p);

        /* A refused configuration is an error there, for `journalctl -p err`:
         * at start (exit 78) and from check-config (systemctl reload). */
        {
                char *cfg = fg_test_write(dir, "fg.yaml", "kafka:\n  brokers: mock\n  topics: [events]\n"
                                                          "sink:\n  type: carrier-pigeon\n");
                const char *run[] = {"run", "-c", cfg, NULL}, *check[] = {"check-config", "-c", cfg, NULL};
                char expected[512];

                snprintf(expected, sizeof(expected), "\n<3>%s:5:9: sink.type: expected one of", cfg);
                for (int i = 0; i < 2; i++) {
                        fp = fopen(log, "w");
                        ck_assert(fp != NULL);
                        fclose(fp);
                        setenv("JOURNAL_STREAM", js, 1);
                        p = fg_test_spawn(log, i == 0 ? run : check);
                        unsetenv("JOURNAL_STREAM");
                        ck_assert_int_eq(fg_test_proc_wait(p, 10000), FG_EXIT_CONFIG);
                        fg_test_proc_free(p);
                        {
                                char *text = fg_test_slurp(log, NULL), *withnl = NULL;
                                ck_assert(text && asprintf(&withnl, "\n%s", text) > 0);
                                ck_assert_msg(strstr(withnl, expected), "%s wrote:\n%s",
                                              i == 0 ? "run" : "check-config", text);
                                free(text), free(withnl);
                        }
                }
                free(cfg);
        }
        fg_test_rmtree(dir);
        free(dir), free(log);
}
END_TEST

/* ---- the embedded mock and load generator: child processes ---- */

/* A /proc file (its size reads as 0, so not fg_test_slurp); NULL if gone. */
static char *proc_read(const char *path, size_t *len) {
        char *buf = malloc(4096);
        FILE *fp = fopen(path, "rb");
        size_t n = 0;

        ck_assert(buf != NULL);
        if (fp) {
                n = fread(buf, 1, 4095, fp);
                fclose(fp);
        }
        if (!fp || n == 0) {
                free(buf);
                return NULL;
        }
        buf[n] = '\0';
        if (len)
                *len = n;
        return buf;
}

/* A process that exists and is not a zombie. */
static bool alive(pid_t pid) {
        char path[64], *stat;
        bool yes;

        snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
        stat = proc_read(path, NULL);
        /* "pid (comm) S ...": the state follows the last ')'. */
        yes = stat && strrchr(stat, ')') && strrchr(stat, ')')[2] != 'Z';
        free(stat);
        return yes;
}

typedef struct kids {
        pid_t parent;
        pid_t mock, burst; /* 0 until seen */
        pid_t mock_pgid, burst_pgid;
} kids_t;

/* Finds the daemon's children by their command lines. */
static bool find_kids(void *opaque) {
        kids_t *k = opaque;
        DIR *dir = opendir("/proc");
        struct dirent *de;

        ck_assert(dir != NULL);
        while ((de = readdir(dir))) {
                char path[300], *stat, *cmd;
                size_t len = 0;
                long ppid = 0, pgid = 0;
                pid_t pid = (pid_t)atol(de->d_name);
                if (pid <= 0)
                        continue;
                snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
                stat = proc_read(path, NULL);
                if (!stat || !strrchr(stat, ')') ||
                    sscanf(strrchr(stat, ')') + 4, "%ld %ld", &ppid, &pgid) != 2 ||
                    ppid != k->parent) {
                        free(stat);
                        continue;
                }
                free(stat);
                snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
                cmd = proc_read(path, &len);
                if (cmd && len > 16 && !strcmp(cmd, "floodgate") && !strcmp(cmd + 10, "mock"))
                        k->mock = pid, k->mock_pgid = (pid_t)pgid;
                else if (cmd && len > 16 && !strcmp(cmd, "floodgate") && !strcmp(cmd + 10, "burst"))
                        k->burst = pid, k->burst_pgid = (pid_t)pgid;
                free(cmd);
        }
        closedir(dir);
        return k->mock && k->burst;
}

static bool mock_gone(void *opaque) { return !alive(((kids_t *)opaque)->mock); }
static bool burst_gone(void *opaque) { return !alive(((kids_t *)opaque)->burst); }

static fg_test_proc_t *start_with_kids(const char *dir, const char *log, const char *burst,
                                       kids_t *k) {
        char *cfg = fg_test_write(dir, "fg.yaml",
                                  "kafka: {brokers: mock, topics: [events]}\n"
                                  "sink: {type: null}\n"
                                  "metrics: {listen: \"127.0.0.1:0\"}\n"
                                  "burst: %s\n",
                                  burst);
        const char *args[] = {"run", "-c", cfg, NULL};
        fg_test_proc_t *d = fg_test_spawn(log, args);

        free(cfg);
        *k = (kids_t){.parent = d->pid};
        ck_assert_msg(fg_test_wait(find_kids, k, 30000), "no mock and burst children (log: %s)",
                      log);
        return d;
}

/* `floodgate mock` and `floodgate burst`, each in a process group of its
 * own (a terminal's Ctrl-C reaches only the daemon); the generator is
 * reaped as soon as it is done, no zombie left; SIGTERM stops the mock
 * after the drain and reports both peaks beside the daemon's own. */
START_TEST(test_cli_embedded_children) {
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "daemon.log");
        kids_t k;
        fg_test_proc_t *d = start_with_kids(dir, log, "{count: 20000, rate: 10000}", &k);

        ck_assert_int_eq(k.mock_pgid, k.mock);
        ck_assert_int_eq(k.burst_pgid, k.burst);
        ck_assert(fg_test_wait_file_contains(log, "burst: produced 20000 events", 30000));
        ck_assert_msg(fg_test_wait(burst_gone, &k, 5000), "the finished generator was not reaped");
        ck_assert(alive(k.mock) && alive(d->pid));
        fg_test_proc_signal(d, SIGTERM);
        ck_assert_int_eq(fg_test_proc_wait(d, 30000), 0);
        ck_assert(fg_test_file_contains(log, "mock cluster stopping"));
        ck_assert(fg_test_file_contains(log, "summary: peak RSS of the embedded mock cluster "));
        ck_assert(!alive(k.mock));
        fg_test_proc_free(d);
        fg_test_rmtree(dir);
        free(log), free(dir);
}
END_TEST

/* kill -9 of the daemon leaves no orphan (PR_SET_PDEATHSIG). */
START_TEST(test_cli_embedded_children_die_with_daemon) {
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "daemon.log");
        kids_t k;
        fg_test_proc_t *d = start_with_kids(dir, log, "{count: 1000000, rate: 1000}", &k);

        fg_test_proc_signal(d, SIGKILL);
        ck_assert_int_eq(fg_test_proc_wait(d, 10000), 128 + SIGKILL);
        ck_assert_msg(fg_test_wait(mock_gone, &k, 10000), "the mock outlived the daemon");
        ck_assert_msg(fg_test_wait(burst_gone, &k, 10000), "the generator outlived the daemon");
        fg_test_proc_free(d);
        fg_test_rmtree(dir);
        free(log), free(dir);
}
END_TEST

/* The events live in the mock: when it dies, the daemon says so and stops
 * with exit 1 at once, rather than polling nothing. */
START_TEST(test_cli_embedded_mock_lost) {
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "daemon.log");
        kids_t k;
        fg_test_proc_t *d = start_with_kids(dir, log, "{count: 1000000, rate: 1000}", &k);

        ck_assert(fg_test_wait_file_contains(log, "running: group", 30000));
        ck_assert(kill(k.mock, SIGKILL) == 0);
        ck_assert_int_eq(fg_test_proc_wait(d, 30000), FG_EXIT_FAILURE);
        ck_assert(fg_test_file_contains(log, "the embedded mock cluster exited with status 137"));
        ck_assert(fg_test_file_contains(log, "the embedded mock cluster is gone: draining"));
        ck_assert(!alive(k.burst));
        fg_test_proc_free(d);
        fg_test_rmtree(dir);
        free(log), free(dir);
}
END_TEST

static Suite *cli_suite(void) {
        Suite *s = suite_create("cli");
        TCase *tc = tcase_create("cli");

        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_cli_version_and_help);
        tcase_add_test(tc, test_cli_check_config_reference_and_demo);
        tcase_add_test(tc, test_cli_check_config_bad_corpus);
        tcase_add_test(tc, test_cli_check_config_probe_corpus);
        tcase_add_test(tc, test_cli_run_refused_properties_exit_78);
        tcase_add_test(tc, test_cli_check_config_malformed_files);
        tcase_add_test(tc, test_cli_reload_and_stop);
        tcase_add_test(tc, test_cli_run_bad_config_exits_78);
        tcase_add_test(tc, test_cli_journald_prefixes);
        tcase_add_test(tc, test_cli_embedded_children);
        tcase_add_test(tc, test_cli_embedded_children_die_with_daemon);
        tcase_add_test(tc, test_cli_embedded_mock_lost);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(cli_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
