/*
 * check_faults: fault injection end to end — the real daemon against a
 * mock Kafka cluster and a scriptable HTTP downstream, both started by the
 * test, while keyed events stream in (produced while consumed). Each
 * scenario injects one fault mid-stream and ends with every id delivered at
 * least once and the daemon still serving /metrics:
 *
 *   broker down      a 3-broker cluster loses the leader of a third of the
 *                    partitions for 5 s, then the broker that also
 *                    coordinates the group; the other partitions keep
 *                    flowing;
 *   commit errors    the group coordinator fails a burst of OffsetCommits
 *                    (COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR, ...);
 *                    commits catch up to the end of every partition after;
 *   rebalance storm  five extra members join and leave (SIGTERM) every
 *                    2.5 s next to a member that stays; no id is missing
 *                    from the union of their outputs, no commit covers an
 *                    undelivered event, and every member exits 0;
 *   sink flapping    the HTTP downstream answers 503 for 1 s every 2-3 s;
 *                    the breaker opens and closes each time;
 *   SIGHUP storm     40 reloads in quick succession between two files
 *                    (workers.size, log.level) while the file sink writes;
 *                    no error, no id lost or doubled, reloads still work;
 *   SIGTERM in an outage  the downstream answers 503: SIGTERM exits 0
 *                    within shutdown.timeout, commits nothing undelivered,
 *                    and a restart with --until-drained delivers the rest;
 *   SIGTERM, Kafka gone   the whole cluster is unreachable: SIGTERM still
 *                    exits 0 within shutdown.timeout, abandoning the final
 *                    commit; a restart delivers everything.
 *
 * Waits are on conditions with generous bounds (a shared 2-core machine,
 * sanitizer builds); the only sleeps are the fault schedule itself. Each
 * scenario prints one "faults: <name>: ..." line with what it saw and how
 * long it took. CK_RUN_CASE=<name> runs one (broker_down, commit_errors,
 * rebalance_storm, sink_flapping, sighup_storm, sigterm_in_outage,
 * sigterm_kafka_down); FG_TEST_KEEP=1 keeps their directories.
 */
#include <check.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "tests/support/fgtest.h"
#include "tests/support/httpd.h"

#define TOPIC "events"
/* Kafka protocol ApiKey of OffsetCommit (rdkafka_mock.h takes raw keys). */
#define KAFKA_API_OFFSET_COMMIT 8

/* Sanitizer builds run several times slower: their bounds stretch. */
static int slow_factor(void) {
        const char *san = getenv("FLOODGATE_SAN");
        return san && *san ? 3 : 1;
}

static double secs_since(int64_t t0) { return (double)(fg_mono_ns() - t0) / 1e9; }

static void sleep_ms(int ms) {
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts))
                ;
}

/* FG_TEST_KEEP=1 keeps each scenario's directory (logs, outputs, configs)
 * for a look afterwards. */
static void remove_dir(const char *dir) {
        const char *keep = getenv("FG_TEST_KEEP");

        if (keep && *keep && strcmp(keep, "0"))
                fprintf(stderr, "faults: kept %s\n", dir);
        else
                fg_test_rmtree(dir);
}

static int count_in_file(const char *path, const char *needle) {
        char *s = fg_test_slurp(path, NULL), *p = s;
        int n = 0;

        while (p && (p = strstr(p, needle))) {
                n++;
                p += strlen(needle);
        }
        free(s);
        return n;
}

/* Log lines at level error ("...Z error <message>"), printing the first. */
static int error_lines(const char *log) {
        char *s = fg_test_slurp(log, NULL), *p = s;
        int n = 0;

        while (p && (p = strstr(p, "Z error "))) {
                if (n++ == 0) {
                        char *eol = strchr(p, '\n');
                        fprintf(stderr, "error in %s: %.*s\n", log,
                                (int)(eol ? eol - p : (long)strlen(p)), p);
                }
                p += 8;
        }
        free(s);
        return n;
}

/* The kafka section every scenario shares: a session of @p session_ms
 * (the mock coordinator waits up to a second less than that for members to
 * rejoin a rebalance), commits every 200 ms, and reconnects that back off
 * to 1 s at most, so that everything happens within a test's time. @p rest
 * follows verbatim. */
static char *write_cfg_session(const char *dir, const char *name, const char *bootstrap,
                               const char *group, int session_ms, const char *rest) {
        return fg_test_write(dir, name,
                             "kafka:\n"
                             "  brokers: \"%s\"\n"
                             "  group_id: \"%s\"\n"
                             "  topics: [" TOPIC "]\n"
                             "  properties:\n"
                             "    session.timeout.ms: %d\n"
                             "    heartbeat.interval.ms: %d\n"
                             "    auto.commit.interval.ms: 200\n"
                             "    reconnect.backoff.max.ms: 1000\n"
                             "metrics:\n"
                             "  listen: \"127.0.0.1:0\"\n"
                             "  log_interval: 1s\n"
                             "%s",
                             bootstrap, group, session_ms, session_ms / 10, rest);
}

static char *write_cfg(const char *dir, const char *name, const char *bootstrap, const char *group,
                       const char *rest) {
        return write_cfg_session(dir, name, bootstrap, group, 6000, rest);
}

static char *file_sink_cfg_session(const char *dir, const char *name, const char *bootstrap,
                                   const char *group, int session_ms, const char *out,
                                   const char *extra) {
        char rest[1024];
        snprintf(rest, sizeof(rest),
                 "workers: {size: 4}\n"
                 "sink: {type: file, path: \"%s\"}\n"
                 "shutdown: {timeout: 20s}\n"
                 "%s",
                 out, extra ? extra : "");
        return write_cfg_session(dir, name, bootstrap, group, session_ms, rest);
}

static char *file_sink_cfg(const char *dir, const char *name, const char *bootstrap,
                           const char *group, const char *out, const char *extra) {
        return file_sink_cfg_session(dir, name, bootstrap, group, 6000, out, extra);
}

/* Starts `floodgate run` and waits until it runs with its signal handlers
 * installed (a SIGTERM or SIGHUP before that would kill it). */
static fg_test_proc_t *start_daemon(const char *cfg, const char *log, bool until_drained) {
        const char *args_drained[] = {"run", "-c", cfg, "--until-drained", NULL};
        const char *args[] = {"run", "-c", cfg, NULL};
        fg_test_proc_t *d = fg_test_spawn(log, until_drained ? args_drained : args);

        if (!fg_test_wait_file_contains(log, " running: group ", 30000 * slow_factor())) {
                fg_test_dump_log(log, 6000);
                ck_abort_msg("the daemon did not start");
        }
        return d;
}

/* The value of the first sample of @p name ("name value" or
 * "name{labels} value" with the exact @p labels); NAN if absent. */
static double metric(const char *body, const char *name, const char *labels) {
        char key[256];
        const char *p = body;

        snprintf(key, sizeof(key), "\n%s%s ", name, labels ? labels : "");
        if (!body || !(p = strstr(body, key)))
                return NAN;
        return strtod(p + strlen(key), NULL);
}

/* GET /metrics: asserts 200 and a sane body; returns the body. */
static char *scrape(const char *log) {
        int port = fg_test_admin_port(log, 10000);
        char *body = NULL;
        int status;

        ck_assert_msg(port > 0, "no admin port in %s", log);
        status = fg_test_http(port, "GET", "/metrics", &body);
        ck_assert_msg(status == 200, "GET /metrics answered %d", status);
        ck_assert(body && strstr(body, "floodgate_messages_consumed_total"));
        return body;
}

static void assert_metrics_ok(const char *log) { free(scrape(log)); }

static int healthz(const char *log) {
        int port = fg_test_admin_port(log, 10000);
        char *body = NULL;
        int status = fg_test_http(port, "GET", "/healthz", &body);
        free(body);
        return status;
}

/* ---- what arrived ---- */

typedef struct file_ids {
        const char *const *paths; /* NULL-terminated: their union counts */
        const char *prefix;
        int64_t count;
        int64_t missing; /* last scan */
} file_ids_t;

static bool files_have_all(void *opaque) {
        file_ids_t *c = opaque;
        fg_test_seen_t s;

        fg_test_seen_scan_files(&s, c->paths, c->prefix, c->count);
        c->missing = s.missing;
        fg_test_seen_free(&s);
        return c->missing == 0;
}

/* Waits until every id is in the union of @p paths; fails with the count
 * missing otherwise. */
static void wait_files_have_all(const char *const *paths, const char *prefix, int64_t count,
                                int timeout_ms, const char *log) {
        file_ids_t c = {paths, prefix, count, -1};

        if (!fg_test_wait(files_have_all, &c, timeout_ms * slow_factor())) {
                fg_test_dump_log(log, 6000);
                ck_abort_msg("%lld of %lld ids never arrived", (long long)c.missing,
                             (long long)count);
        }
}

typedef struct http_ids {
        fg_test_httpd_t *h;
        const char *prefix;
        int64_t count;
        int64_t want;
        int64_t distinct; /* last scan */
} http_ids_t;

static bool http_has(void *opaque) {
        http_ids_t *c = opaque;
        c->distinct = (int64_t)fg_test_httpd_ids(c->h, c->prefix, c->count, NULL, NULL);
        return c->distinct >= c->want;
}

static void wait_http_ids(fg_test_httpd_t *h, const char *prefix, int64_t count, int64_t want,
                          int timeout_ms, const char *log) {
        http_ids_t c = {h, prefix, count, want, 0};

        if (!fg_test_wait(http_has, &c, timeout_ms * slow_factor())) {
                fg_test_dump_log(log, 6000);
                ck_abort_msg("only %lld of %lld ids reached the server (waited for %lld)",
                             (long long)c.distinct, (long long)count, (long long)want);
        }
}

static void wait_lines(const char *out, size_t lines, const char *log) {
        if (!fg_test_wait_lines(out, lines, 60000 * slow_factor())) {
                fg_test_dump_log(log, 6000);
                ck_abort_msg("%s never reached %zu lines", out, lines);
        }
}

/* SIGTERM to @p d: it must exit 0 within its shutdown.timeout
 * (@p timeout_ms) plus the final commit and group leave. Returns how long
 * it took, in ms; frees nothing. */
static int64_t sigterm_within(fg_test_proc_t *d, int timeout_ms, const char *log) {
        int64_t t_term = fg_mono_ns(), term_ms;
        int rc;

        fg_test_proc_signal(d, SIGTERM);
        rc = fg_test_proc_wait(d, (timeout_ms + 10000) * slow_factor());
        term_ms = (fg_mono_ns() - t_term) / FG_NS_PER_MS;
        if (rc != 0)
                fg_test_dump_log(log, 6000);
        ck_assert_msg(rc == 0, "SIGTERM: exit %d after %lld ms", rc, (long long)term_ms);
        ck_assert_msg(term_ms < (timeout_ms + 5000) * slow_factor(), "SIGTERM took %lld ms",
                      (long long)term_ms);
        return term_ms;
}

static void stop_daemon(fg_test_proc_t *d, const char *log) {
        int rc;

        fg_test_proc_signal(d, SIGTERM);
        rc = fg_test_proc_wait(d, 30000 * slow_factor());
        if (rc != 0)
                fg_test_dump_log(log, 6000);
        ck_assert_int_eq(rc, 0);
}

/* End offset (one past the last message) of each partition, from an index. */
static void end_offsets(const fg_test_index_t *ix, int64_t *end) {
        for (int p = 0; p < ix->partitions; p++)
                end[p] = 0;
        for (int64_t i = 0; i < ix->count; i++)
                if (ix->partition[i] >= 0 && ix->offset[i] + 1 > end[ix->partition[i]])
                        end[ix->partition[i]] = ix->offset[i] + 1;
}

/* Commit implies delivery: every offset below a committed one was seen. */
static void assert_commits_were_delivered(const char *bs, const char *group, const char *prefix,
                                          int64_t count, int parts, const fg_test_seen_t *seen) {
        fg_test_index_t ix;
        int64_t committed[64];

        ck_assert_int_le(parts, 64);
        fg_test_index_topic(&ix, bs, TOPIC, prefix, count, parts);
        fg_test_committed(bs, group, TOPIC, parts, committed);
        ck_assert_int_eq(fg_test_committed_were_seen(&ix, seen, committed), 0);
        fg_test_index_free(&ix);
}

/* ---- 1. a broker down mid-stream ---- */

/* Partition p is led by broker p % 3 + 1 and the group's coordinator is
 * broker 1. First broker 2 goes down for 5 s: a third of the partitions
 * stall (fetches, and the producer's writes to them), the rest flow on.
 * Then broker 1, which also coordinates the group: commits and heartbeats
 * fail as well until it is back. 5 s is within the 6 s session, but with
 * the reconnect it may not be: then the assignment is lost and the group
 * rejoined, and what was consumed since the last commit comes again
 * (duplicates, never a gap). */
START_TEST(test_faults_broker_down) {
        const int parts = 12, down_ms = 5000;
        static const int down_broker[] = {2, 1};
        const int64_t count = 48000;
        int64_t t0 = fg_mono_ns(), t_up = 0;
        char *dir = fg_test_tmpdir(), *out = fg_test_path(dir, "out.jsonl"),
             *log = fg_test_path(dir, "d.log");
        fg_mock_t *mock = fg_test_mock(3, TOPIC, parts);
        rd_kafka_mock_cluster_t *mc = fg_mock_cluster(mock);
        const char *bs = fg_mock_bootstrap(mock);
        const char *outs[] = {out, NULL};
        char *cfg;
        fg_test_producer_t *prod;
        fg_test_proc_t *d;
        fg_test_seen_t seen;
        size_t during[2];
        double up_s;

        for (int p = 0; p < parts; p++)
                ck_assert(!rd_kafka_mock_partition_set_leader(mc, TOPIC, p, p % 3 + 1));
        ck_assert(!rd_kafka_mock_coordinator_set(mc, "group", "fault-bd", 1));
        cfg = file_sink_cfg(dir, "fg.yaml", bs, "fault-bd", out, NULL);

        d = start_daemon(cfg, log, false);
        prod = fg_test_produce_async(bs, TOPIC, "bd", count, 3000, 150);
        wait_lines(out, 4000, log);

        for (int i = 0; i < 2; i++) {
                size_t before;
                ck_assert(!rd_kafka_mock_broker_set_down(mc, down_broker[i]));
                before = fg_test_count_lines(out);
                sleep_ms(down_ms);
                during[i] = fg_test_count_lines(out) - before;
                ck_assert(!rd_kafka_mock_broker_set_up(mc, down_broker[i]));
                t_up = fg_mono_ns();
                /* The partitions of the other brokers kept flowing meanwhile:
                 * at 3000/s, two thirds of 5 s is ~10000 events, but the
                 * test's producer slows down too while the coordinator's
                 * broker is away (to ~1000/s: all of it is consumed). */
                ck_assert_msg(during[i] > 1000, "only %zu events delivered while broker %d was down",
                              during[i], down_broker[i]);
                /* Back to the full stream before the next fault. */
                wait_lines(out, fg_test_count_lines(out) + 3000, log);
        }

        fg_test_producer_join(prod);
        wait_files_have_all(outs, "bd", count, 90000, log);
        up_s = secs_since(t_up);
        assert_metrics_ok(log);
        ck_assert_int_eq(healthz(log), 200);
        stop_daemon(d, log);

        fg_test_seen_scan(&seen, out, "bd", count);
        assert_commits_were_delivered(bs, "fault-bd", "bd", count, parts, &seen);
        fprintf(stderr,
                "faults: broker_down: %lld events; %zu delivered while a leader was down for "
                "%d s, %zu while the coordinator and leader was; every id %.1f s after the last "
                "came back, %lld duplicates; %.1f s\n",
                (long long)count, during[0], down_ms / 1000, during[1], up_s,
                (long long)seen.dups, secs_since(t0));

        fg_test_seen_free(&seen);
        fg_test_proc_free(d);
        fg_mock_destroy(mock);
        remove_dir(dir);
        free(dir), free(out), free(log), free(cfg);
}
END_TEST

/* ---- 2. the coordinator fails commits ---- */

typedef struct committed_cond {
        const char *bs;
        const char *group;
        int parts;
        const int64_t *end;
        int64_t behind; /* last look: messages not covered */
} committed_cond_t;

static bool committed_to_end(void *opaque) {
        committed_cond_t *c = opaque;
        int64_t committed[64];

        fg_test_committed(c->bs, c->group, TOPIC, c->parts, committed);
        c->behind = 0;
        for (int p = 0; p < c->parts; p++)
                c->behind += c->end[p] - (committed[p] < 0 ? 0 : committed[p]);
        return c->behind == 0;
}

static size_t commit_errors_left(rd_kafka_mock_cluster_t *mc) {
        size_t n = 0;
        ck_assert(!rd_kafka_mock_broker_error_stack_cnt(mc, 1, KAFKA_API_OFFSET_COMMIT, &n));
        return n;
}

static bool commit_errors_consumed(void *opaque) { return commit_errors_left(opaque) == 0; }

/* Two bursts of OffsetCommit errors at the coordinator, a few seconds of
 * failed commits each (auto commits every 200 ms, plus the coordinator
 * look-ups NOT_COORDINATOR triggers). Stored offsets survive a failed
 * commit, so the next one carries them: delivery goes on, nothing is
 * committed before it is delivered, and the commits catch up. */
START_TEST(test_faults_commit_errors) {
        const int parts = 8;
        const int64_t count = 40000;
        static const rd_kafka_resp_err_t burst[] = {
            RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
            RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
            RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        };
        int64_t t0 = fg_mono_ns(), end[8];
        char *dir = fg_test_tmpdir(), *out = fg_test_path(dir, "out.jsonl"),
             *log = fg_test_path(dir, "d.log");
        fg_mock_t *mock = fg_test_mock(1, TOPIC, parts);
        rd_kafka_mock_cluster_t *mc = fg_mock_cluster(mock);
        const char *bs = fg_mock_bootstrap(mock);
        const char *outs[] = {out, NULL};
        char *cfg = file_sink_cfg(dir, "fg.yaml", bs, "fault-co", out, NULL);
        fg_test_producer_t *prod;
        fg_test_proc_t *d;
        fg_test_seen_t seen;
        fg_test_index_t ix;
        committed_cond_t cc;
        int injected = 0;

        d = start_daemon(cfg, log, false);
        prod = fg_test_produce_async(bs, TOPIC, "co", count, 3000, 150);
        for (int round = 0; round < 2; round++) {
                size_t lines;
                wait_lines(out, (size_t)(3000 + round * 8000), log);
                /* 16 failures in a row: each error code four times. */
                for (int i = 0; i < 16; i++, injected++)
                        ck_assert(!rd_kafka_mock_broker_push_request_error_rtts(
                            mc, 1, KAFKA_API_OFFSET_COMMIT, 1, burst[i % 4], 0));
                lines = fg_test_count_lines(out);
                ck_assert_msg(fg_test_wait(commit_errors_consumed, mc, 30000 * slow_factor()),
                              "the daemon stopped committing: %zu errors left",
                              commit_errors_left(mc));
                /* Delivery does not wait for the commits: it goes on
                 * past where it was when they started failing (the
                 * failures may all be consumed within a few ms, so the
                 * growth is waited for, not sampled). */
                if (lines < (size_t)count)
                        wait_lines(out, lines + 1, log);
        }
        fg_test_producer_join(prod);
        wait_files_have_all(outs, "co", count, 60000, log);

        /* Once the coordinator behaves, commits reach every partition's end. */
        fg_test_index_topic(&ix, bs, TOPIC, "co", count, parts);
        end_offsets(&ix, end);
        cc = (committed_cond_t){bs, "fault-co", parts, end, -1};
        if (!fg_test_wait(committed_to_end, &cc, 30000 * slow_factor())) {
                fg_test_dump_log(log, 6000);
                ck_abort_msg("commits stay %lld messages behind", (long long)cc.behind);
        }
        fg_test_seen_scan(&seen, out, "co", count);
        {
                int64_t committed[8];
                fg_test_committed(bs, "fault-co", TOPIC, parts, committed);
                ck_assert_int_eq(fg_test_committed_were_seen(&ix, &seen, committed), 0);
        }
        assert_metrics_ok(log);
        ck_assert_int_eq(healthz(log), 200);
        stop_daemon(d, log);
        fprintf(stderr,
                "faults: commit_errors: %d OffsetCommit errors injected in 2 bursts, all "
                "consumed; commits caught up; %lld duplicates; %.1f s\n",
                injected, (long long)seen.dups, secs_since(t0));

        fg_test_index_free(&ix);
        fg_test_seen_free(&seen);
        fg_test_proc_free(d);
        fg_mock_destroy(mock);
        remove_dir(dir);
        free(dir), free(out), free(log), free(cfg);
}
END_TEST

/* ---- 3. a rebalance storm ---- */

#define EXTRA 5

typedef struct member {
        char *cfg, *log, *out;
        fg_test_proc_t *d;
        int64_t stopped_ns;
        int rc;
} member_t;

/* Member A stays; five more join and leave on a 2.5 s beat, overlapping:
 * join 1, join 2, leave 1, join 3, leave 2, join 4, leave 3, join 5,
 * leave 4, leave 5 — ten membership changes while the stream flows. Every
 * leave is a SIGTERM: drain, commit, leave the group, exit 0.
 *
 * A 3 s session keeps each rebalance short: the mock coordinator waits up
 * to session - 1 s for members to rejoin, and with 6 s the group would sit
 * in one long rebalance for the whole storm. Duplicates run high here (a
 * third of the events is typical) and are the mock's doing: it refuses
 * OffsetCommit while the group is joining or syncing (REBALANCE_IN_PROGRESS;
 * Kafka accepts commits of the current generation until the rebalance
 * completes), so the final commits of revoked partitions fail and the next
 * owner starts from the last auto commit. */
START_TEST(test_faults_rebalance_storm) {
        const int parts = 12;
        const int64_t count = 48000;
        /* The schedule: +k starts extra member k, -k stops it. */
        static const int beat[] = {+1, +2, -1, +3, -2, +4, -3, +5, -4, -5};
        int64_t t0 = fg_mono_ns();
        char *dir = fg_test_tmpdir();
        fg_mock_t *mock = fg_test_mock(1, TOPIC, parts);
        const char *bs = fg_mock_bootstrap(mock);
        member_t m[EXTRA + 1];
        const char *outs[EXTRA + 2];
        fg_test_producer_t *prod;
        fg_test_seen_t seen;
        int rebalances_a, busy = 0;
        char *body, shares[128];
        size_t len = 0;

        for (int i = 0; i <= EXTRA; i++) {
                char name[32];
                memset(&m[i], 0, sizeof(m[i]));
                snprintf(name, sizeof(name), "m%d.jsonl", i);
                m[i].out = fg_test_path(dir, name);
                snprintf(name, sizeof(name), "m%d.log", i);
                m[i].log = fg_test_path(dir, name);
                snprintf(name, sizeof(name), "m%d.yaml", i);
                m[i].cfg = file_sink_cfg_session(dir, name, bs, "fault-rb", 3000, m[i].out, NULL);
                m[i].rc = -1;
                outs[i] = m[i].out;
        }
        outs[EXTRA + 1] = NULL;

        m[0].d = start_daemon(m[0].cfg, m[0].log, false);
        ck_assert(fg_test_wait_file_contains(m[0].log, "assigned 12 partitions",
                                             30000 * slow_factor()));
        prod = fg_test_produce_async(bs, TOPIC, "rb", count, 2000, 150);
        wait_lines(m[0].out, 2000, m[0].log);

        for (size_t b = 0; b < sizeof(beat) / sizeof(beat[0]); b++) {
                int k = beat[b] > 0 ? beat[b] : -beat[b];
                int64_t next = fg_mono_ns() + 2500 * FG_NS_PER_MS;
                if (beat[b] > 0) {
                        m[k].d = start_daemon(m[k].cfg, m[k].log, false);
                } else {
                        fg_test_proc_signal(m[k].d, SIGTERM);
                        m[k].stopped_ns = fg_mono_ns();
                }
                while (fg_mono_ns() < next)
                        sleep_ms(10);
        }
        /* Every extra member exits 0, within its drain and group leave. */
        for (int k = 1; k <= EXTRA; k++) {
                int64_t left = 40000LL * slow_factor() - (fg_mono_ns() - m[k].stopped_ns) / FG_NS_PER_MS;
                m[k].rc = fg_test_proc_wait(m[k].d, left > 0 ? (int)left : 0);
                if (m[k].rc != 0)
                        fg_test_dump_log(m[k].log, 6000);
                ck_assert_msg(m[k].rc == 0, "member %d exited %d", k, m[k].rc);
        }

        fg_test_producer_join(prod);
        wait_files_have_all(outs, "rb", count, 90000, m[0].log);
        body = scrape(m[0].log);
        rebalances_a = (int)metric(body, "floodgate_rebalances_total", NULL);
        free(body);
        ck_assert_int_eq(healthz(m[0].log), 200);
        stop_daemon(m[0].d, m[0].log);

        fg_test_seen_scan_files(&seen, outs, "rb", count);
        assert_commits_were_delivered(bs, "fault-rb", "rb", count, parts, &seen);
        /* Partitions really moved: extra members delivered events too (the
         * last one often gets none, the storm ends within its rebalance). */
        for (int i = 1; i <= EXTRA; i++) {
                fg_test_seen_t s;
                fg_test_seen_scan(&s, m[i].out, "rb", count);
                len += snprintf(shares + len, sizeof(shares) - len, "%s%lld", i > 1 ? " " : "",
                                (long long)s.lines);
                busy += s.lines > 0;
                fg_test_seen_free(&s);
        }
        fprintf(stderr,
                "faults: rebalance_storm: %d joins/leaves, %d rebalance callbacks at the member "
                "that stayed, extra members delivered %s; %lld events, %lld duplicates, every "
                "member exited 0; %.1f s\n",
                (int)(sizeof(beat) / sizeof(beat[0])), rebalances_a, shares, (long long)count,
                (long long)seen.dups, secs_since(t0));
        ck_assert_int_ge(busy, 2);
        /* Joins and leaves revoked and reassigned A's partitions (some
         * coalesce into one rebalance). */
        ck_assert_int_ge(rebalances_a, 4);

        fg_test_seen_free(&seen);
        for (int i = 0; i <= EXTRA; i++) {
                fg_test_proc_free(m[i].d);
                free(m[i].cfg), free(m[i].log), free(m[i].out);
        }
        fg_mock_destroy(mock);
        remove_dir(dir);
        free(dir);
}
END_TEST

/* ---- 4. the sink flapping ---- */

static bool breaker_closed(void *opaque) {
        char *body = scrape(opaque);
        bool closed = metric(body, "floodgate_breaker_state", "{state=\"closed\"}") == 1;
        free(body);
        return closed;
}

/* 503 for 1 s every 2-3 s, five times. A count window of 10 calls trips
 * on the retries of the first failures; probes close it once the server
 * is back. */
START_TEST(test_faults_sink_flapping) {
        const int flaps = 5;
        const int64_t count = 54000; /* 18 s: the stream outlasts the flaps */
        static const int gap_ms[] = {2000, 2500, 3000, 2500, 2000};
        int64_t t0 = fg_mono_ns();
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "d.log"), rest[1024], *cfg;
        fg_mock_t *mock = fg_test_mock(1, TOPIC, 8);
        const char *bs = fg_mock_bootstrap(mock);
        fg_test_httpd_t *h = fg_test_httpd_start();
        fg_test_httpd_idcount_t ic;
        fg_test_producer_t *prod;
        fg_test_proc_t *d;
        int opened, closed;

        ck_assert(h != NULL);
        snprintf(rest, sizeof(rest),
                 "workers: {size: 4}\n"
                 "sink:\n  type: http\n  url: \"%s\"\n  format: json_array\n"
                 "  batch: {max_messages: 100}\n"
                 "  retry: {initial_backoff: 50ms, max_backoff: 500ms, max_attempts: 0}\n"
                 "breaker:\n  enabled: true\n  window_type: count\n  window_size: 10\n"
                 "  min_calls: 5\n  failure_rate: 0.5\n  open_duration: 500ms\n"
                 "  open_max: 1s\n  jitter: 0\n  half_open_calls: 2\n"
                 "shutdown: {timeout: 20s}\n",
                 fg_test_httpd_url(h, "/ingest"));
        cfg = write_cfg(dir, "fg.yaml", bs, "fault-fl", rest);

        d = start_daemon(cfg, log, false);
        prod = fg_test_produce_async(bs, TOPIC, "fl", count, 3000, 150);
        wait_http_ids(h, "fl", count, 3000, 60000, log);
        for (int i = 0; i < flaps; i++) {
                fg_test_httpd_fail_for(h, 503, 1000);
                sleep_ms(gap_ms[i]);
        }
        fg_test_producer_join(prod);
        wait_http_ids(h, "fl", count, count, 60000, log);

        opened = count_in_file(log, "breaker: closed -> open");
        closed = count_in_file(log, "-> closed");
        ck_assert_msg(fg_test_wait(breaker_closed, log, 10000 * slow_factor()),
                      "the breaker did not end closed");
        ck_assert_int_eq(healthz(log), 200);
        fg_test_httpd_ids(h, "fl", count, NULL, &ic);
        fprintf(stderr,
                "faults: sink_flapping: %d outages of 1 s; breaker opened %d times, closed %d "
                "times; %lld 503s; %lld events, %lld duplicates; %.1f s\n",
                flaps, opened, closed, (long long)fg_test_httpd_answered(h, 503), (long long)count,
                (long long)ic.dups, secs_since(t0));
        /* Each outage opens it (at most one could fall between calls). */
        ck_assert_int_ge(opened, flaps - 1);
        ck_assert_int_ge(closed, opened);
        stop_daemon(d, log);

        fg_test_proc_free(d);
        fg_test_httpd_stop(h);
        fg_mock_destroy(mock);
        remove_dir(dir);
        free(dir), free(log), free(cfg);
}
END_TEST

/* ---- 5. a SIGHUP storm ---- */

/* Rewrites the config atomically (a reload must never see half a file). */
static void swap_cfg(const char *dir, const char *bs, const char *out, int workers,
                     const char *level) {
        char extra[128], *tmp, *cfg;

        snprintf(extra, sizeof(extra), "log: {level: %s}\n", level);
        tmp = fg_test_path(dir, "fg.yaml.tmp");
        cfg = fg_test_path(dir, "fg.yaml");
        free(fg_test_write(dir, "fg.yaml.tmp",
                           "kafka:\n"
                           "  brokers: \"%s\"\n"
                           "  group_id: fault-hup\n"
                           "  topics: [" TOPIC "]\n"
                           "  properties: {auto.commit.interval.ms: 200}\n"
                           "metrics: {listen: \"127.0.0.1:0\", log_interval: 1s}\n"
                           "workers: {size: %d}\n"
                           "sink: {type: file, path: \"%s\"}\n"
                           "%s",
                           bs, workers, out, extra));
        ck_assert(rename(tmp, cfg) == 0);
        free(tmp), free(cfg);
}

typedef struct workers_cond {
        const char *log;
        double want;
} workers_cond_t;

static bool workers_are(void *opaque) {
        workers_cond_t *c = opaque;
        char *body = scrape(c->log);
        bool ok = metric(body, "floodgate_workers", NULL) == c->want;
        free(body);
        return ok;
}

/* 40 SIGHUPs 25 ms apart, the file alternating between {2 workers, info}
 * and {6 workers, debug}; each reload also reopens the file sink. Reloads
 * must never lose or double an event (README: "no event is lost or
 * doubled"), log no error, and leave the daemon healthy and reloadable. */
START_TEST(test_faults_sighup_storm) {
        const int hups = 40;
        const int64_t count = 30000;
        int64_t t0 = fg_mono_ns();
        char *dir = fg_test_tmpdir(), *out = fg_test_path(dir, "out.jsonl"),
             *log = fg_test_path(dir, "d.log"), *cfg = fg_test_path(dir, "fg.yaml");
        fg_mock_t *mock = fg_test_mock(1, TOPIC, 8);
        const char *bs = fg_mock_bootstrap(mock);
        const char *outs[] = {out, NULL};
        fg_test_producer_t *prod;
        fg_test_proc_t *d;
        fg_test_seen_t seen;
        workers_cond_t wc;
        int applied;

        swap_cfg(dir, bs, out, 4, "info");
        d = start_daemon(cfg, log, false);
        prod = fg_test_produce_async(bs, TOPIC, "hup", count, 3000, 150);
        wait_lines(out, 3000, log);

        for (int i = 0; i < hups; i++) {
                bool odd = i % 2;
                swap_cfg(dir, bs, out, odd ? 6 : 2, odd ? "debug" : "info");
                fg_test_proc_signal(d, SIGHUP);
                sleep_ms(25);
        }
        ck_assert_msg(fg_test_proc_wait(d, 0) < 0, "the daemon died in the storm");
        /* Still reloadable: a last file with a size of its own. */
        swap_cfg(dir, bs, out, 3, "info");
        fg_test_proc_signal(d, SIGHUP);
        wc = (workers_cond_t){log, 3};
        ck_assert_msg(fg_test_wait(workers_are, &wc, 10000 * slow_factor()),
                      "workers.size 3 not applied after the storm");

        fg_test_producer_join(prod);
        wait_files_have_all(outs, "hup", count, 60000, log);
        assert_metrics_ok(log);
        ck_assert_int_eq(healthz(log), 200);
        applied = count_in_file(log, "reload: ");
        stop_daemon(d, log);

        fg_test_seen_scan(&seen, out, "hup", count);
        fprintf(stderr,
                "faults: sighup_storm: %d SIGHUPs, %d reload log lines, %lld events, %lld "
                "duplicates, %lld foreign lines; %.1f s\n",
                hups + 1, applied, (long long)count, (long long)seen.dups, (long long)seen.foreign,
                secs_since(t0));
        ck_assert_int_eq(error_lines(log), 0);
        ck_assert(!fg_test_file_contains(log, "rejected"));
        ck_assert_int_eq(seen.missing, 0);
        ck_assert_int_eq(seen.foreign, 0); /* no torn lines from the reopens */
        ck_assert_int_eq(seen.dups, 0);

        fg_test_seen_free(&seen);
        fg_test_proc_free(d);
        fg_mock_destroy(mock);
        remove_dir(dir);
        free(dir), free(out), free(log), free(cfg);
}
END_TEST

/* ---- 6. SIGTERM during an outage ---- */

/* The downstream answers 503 from mid-stream on. SIGTERM: the drain cannot
 * deliver, so at shutdown.timeout (3 s) the held events are abandoned —
 * exit 0, and their offsets stay uncommitted: what the server accepted
 * covers every committed offset. A restart against a healthy server with
 * --until-drained delivers every id. */
START_TEST(test_faults_sigterm_in_outage) {
        const int parts = 8, timeout_ms = 3000;
        const int64_t count = 15000;
        int64_t t0 = fg_mono_ns(), term_ms, committed[8], uncommitted = 0, end[8];
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "d.log"),
             *log2 = fg_test_path(dir, "d2.log"), rest[1024], *cfg;
        fg_mock_t *mock = fg_test_mock(1, TOPIC, parts);
        const char *bs = fg_mock_bootstrap(mock);
        fg_test_httpd_t *h = fg_test_httpd_start();
        fg_test_producer_t *prod;
        fg_test_proc_t *d;
        fg_test_index_t ix;
        fg_test_seen_t seen;
        fg_test_httpd_idcount_t ic;
        int rc;

        ck_assert(h != NULL);
        snprintf(rest, sizeof(rest),
                 "workers: {size: 4}\n"
                 "sink:\n  type: http\n  url: \"%s\"\n  format: ndjson\n"
                 "  batch: {max_messages: 100}\n"
                 "  retry: {initial_backoff: 100ms, max_backoff: 1s, max_attempts: 0}\n"
                 "breaker: {enabled: true, min_calls: 5, open_duration: 1s, open_max: 2s}\n"
                 "shutdown: {timeout: 3s}\n",
                 fg_test_httpd_url(h, "/ingest"));
        cfg = write_cfg(dir, "fg.yaml", bs, "fault-st", rest);

        d = start_daemon(cfg, log, false);
        prod = fg_test_produce_async(bs, TOPIC, "st", count, 3000, 150);
        wait_http_ids(h, "st", count, 2000, 60000, log);
        fg_test_httpd_fail_for(h, 503, 600000);
        /* Well into the outage: the breaker opened, events are held. */
        ck_assert(fg_test_wait_file_contains(log, "breaker: closed -> open", 30000 * slow_factor()));
        sleep_ms(1000);
        assert_metrics_ok(log);

        term_ms = sigterm_within(d, timeout_ms, log);
        fg_test_proc_free(d);
        fg_test_producer_join(prod);

        /* Commit implies delivery, by what the server accepted. */
        memset(&seen, 0, sizeof(seen));
        seen.count = count;
        seen.times = calloc((size_t)count, sizeof(*seen.times));
        ck_assert(seen.times != NULL);
        fg_test_httpd_ids(h, "st", count, seen.times, &ic);
        fg_test_index_topic(&ix, bs, TOPIC, "st", count, parts);
        fg_test_committed(bs, "fault-st", TOPIC, parts, committed);
        ck_assert_int_eq(fg_test_committed_were_seen(&ix, &seen, committed), 0);
        /* A clean stop commits what was delivered, all of it. */
        ck_assert_int_eq(fg_test_seen_were_committed(&ix, &seen, committed), 0);
        end_offsets(&ix, end);
        for (int p = 0; p < parts; p++)
                uncommitted += end[p] - (committed[p] < 0 ? 0 : committed[p]);
        /* The outage really held events back. */
        ck_assert_int_gt(uncommitted, 0);
        ck_assert_int_lt(ic.distinct, count);

        /* The downstream is back: a restart drains the rest. */
        fg_test_httpd_fail_for(h, 503, 0);
        d = fg_test_spawn(log2, (const char *const[]){"run", "-c", cfg, "--until-drained", NULL});
        rc = fg_test_proc_wait(d, 90000 * slow_factor());
        if (rc != 0)
                fg_test_dump_log(log2, 6000);
        ck_assert_int_eq(rc, 0);
        fg_test_httpd_ids(h, "st", count, NULL, &ic);
        fprintf(stderr,
                "faults: sigterm_in_outage: exit 0 %lld ms after SIGTERM (shutdown.timeout "
                "%d ms); %lld events held uncommitted, none committed undelivered; after the "
                "restart %lld/%lld delivered, %lld duplicates; %.1f s\n",
                (long long)term_ms, timeout_ms, (long long)uncommitted, (long long)ic.distinct,
                (long long)count, (long long)ic.dups, secs_since(t0));
        ck_assert_int_eq(ic.distinct, count);

        fg_test_seen_free(&seen);
        fg_test_index_free(&ix);
        fg_test_proc_free(d);
        fg_test_httpd_stop(h);
        fg_mock_destroy(mock);
        remove_dir(dir);
        free(dir), free(log), free(log2), free(cfg);
}
END_TEST

/* ---- 7. SIGTERM with the whole cluster gone ---- */

/* Kafka unreachable at shutdown: the final commit and the group leave wait
 * on a coordinator that never answers (librdkafka defers a commit up to
 * session.timeout.ms, then the leave waits as long again: 20 s with the
 * 10 s session used here, 90 s with the default 45 s one, minutes when the
 * cluster vanished with requests in flight). The stop must still end
 * within shutdown.timeout (plus the second ingest gets at least): exit 0,
 * the unfinished commit abandoned.
 * Nothing is lost by that: when the cluster is back no commit covers an
 * undelivered event, and a restart delivers every id. */
START_TEST(test_faults_sigterm_kafka_down) {
        const int parts = 4, timeout_ms = 3000;
        /* Within the mock's ~5 MiB a partition, or it deletes unread events. */
        const int64_t count = 64000;
        int64_t t0 = fg_mono_ns(), term_ms;
        char *dir = fg_test_tmpdir(), *out = fg_test_path(dir, "out.jsonl"),
             *log = fg_test_path(dir, "d.log"), *log2 = fg_test_path(dir, "d2.log");
        fg_mock_t *mock = fg_test_mock(1, TOPIC, parts);
        rd_kafka_mock_cluster_t *mc = fg_mock_cluster(mock);
        const char *bs = fg_mock_bootstrap(mock);
        const char *outs[] = {out, NULL};
        char rest[512], *cfg;
        fg_test_seen_t seen;
        fg_test_proc_t *d;
        int rc;

        snprintf(rest, sizeof(rest),
                 "workers: {size: 4}\nsink: {type: file, path: \"%s\"}\nshutdown: {timeout: 3s}\n",
                 out);
        /* Long enough that an unbounded stop would overrun shutdown.timeout
         * several times; the restart below waits it out once (the stopped
         * member could not leave the group). */
        cfg = write_cfg_session(dir, "fg.yaml", bs, "fault-kd", 10000, rest);

        /* A backlog, so that the daemon is mid-stream with offsets stored
         * but not yet committed when the cluster goes away. */
        fg_test_produce(bs, TOPIC, "kd", count, 0, 150);
        d = start_daemon(cfg, log, false);
        wait_lines(out, 10000, log);
        ck_assert(!rd_kafka_mock_broker_set_down(mc, -1));

        /* With the cluster down. */
        term_ms = sigterm_within(d, timeout_ms, log);
        fg_test_proc_free(d);

        /* The cluster is back: commit still implies delivery. */
        ck_assert(!rd_kafka_mock_broker_set_up(mc, -1));
        fg_test_seen_scan(&seen, out, "kd", count);
        assert_commits_were_delivered(bs, "fault-kd", "kd", count, parts, &seen);
        fg_test_seen_free(&seen);
        d = fg_test_spawn(log2, (const char *const[]){"run", "-c", cfg, "--until-drained", NULL});
        rc = fg_test_proc_wait(d, 120000 * slow_factor());
        if (rc != 0)
                fg_test_dump_log(log2, 6000);
        ck_assert_int_eq(rc, 0);
        wait_files_have_all(outs, "kd", count, 10000, log2);
        fg_test_seen_scan(&seen, out, "kd", count);
        fprintf(stderr,
                "faults: sigterm_kafka_down: exit 0 %lld ms after SIGTERM with the cluster gone "
                "(shutdown.timeout %d ms); after a restart %lld events, %lld duplicates; %.1f s\n",
                (long long)term_ms, timeout_ms, (long long)count, (long long)seen.dups,
                secs_since(t0));

        fg_test_seen_free(&seen);
        fg_test_proc_free(d);
        fg_mock_destroy(mock);
        remove_dir(dir);
        free(dir), free(out), free(log), free(log2), free(cfg);
}
END_TEST

/* One case per scenario: CK_RUN_CASE=<name> runs one of them. */
static void add_case(Suite *s, const char *name, const TTest *test) {
        TCase *tc = tcase_create(name);

        tcase_set_timeout(tc, 240);
        tcase_add_test(tc, test);
        suite_add_tcase(s, tc);
}

static Suite *faults_suite(void) {
        Suite *s = suite_create("faults");

        add_case(s, "broker_down", test_faults_broker_down);
        add_case(s, "commit_errors", test_faults_commit_errors);
        add_case(s, "rebalance_storm", test_faults_rebalance_storm);
        add_case(s, "sink_flapping", test_faults_sink_flapping);
        add_case(s, "sighup_storm", test_faults_sighup_storm);
        add_case(s, "sigterm_in_outage", test_faults_sigterm_in_outage);
        add_case(s, "sigterm_kafka_down", test_faults_sigterm_kafka_down);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(faults_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
