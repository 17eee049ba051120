/*
 * check_redrive: dead letters that keep key order, end to end, and the
 * pieces of `floodgate redrive` that need no cluster.
 *
 *   poison keys   20,000 events over 1,000 keys with workers.ordering key
 *                 and dead_letter.park_key; the sink (tests/plugins/gate.c)
 *                 rejects one event of k242 and one of k504 (keys whose
 *                 dead letters share a partition, so the second replay
 *                 must skip what the first did by its record). Every other
 *                 key flows; each poisoned key's later events follow its
 *                 poison to the dead-letter topic (class parked, their
 *                 park places 0, 1, 2...); /stats and /metrics show both
 *                 keys parked; the release endpoint refuses a short
 *                 replay (409), a form post (415), a GET (405) and a foreign Host
 *                 (421). Then the
 *                 gate opens: `redrive --key k242` replays and releases
 *                 k242 only, a plain `redrive` then k504 only (k242 is not
 *                 replayed twice), a third finds nothing; new events of
 *                 both keys go straight to the sink, and the sink holds
 *                 every event of both keys in offset order.
 *   ledger        what a filtered run settled beyond the committed offset:
 *                 encoded, parsed back, clipped as the offset moves.
 *   since         --since parses durations and UTC times.
 */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "tests/support/fgtest.h"
#include "tools/burst.h"
#include "tools/redrive.h"
#include "tools/redrive_int.h"

#define TOPIC "events"
#define DLQ   "events.dlq"
#define PARTS 4
#define COUNT 20000
#define KEYS  1000

/* A /metrics sample "name value" (name may carry labels); -1 if absent. */
static double scrape(int port, const char *name) {
        char *body = NULL, pat[160], *p;
        double v = -1;

        snprintf(pat, sizeof(pat), "\n%s ", name);
        if (fg_test_http(port, "GET", "/metrics", &body) == 200 && body && (p = strstr(body, pat)))
                v = strtod(p + strlen(pat), NULL);
        free(body);
        return v;
}

typedef struct settled_cond {
        int port;
        double want;
} settled_cond_t;

static bool all_settled(void *opaque) {
        settled_cond_t *c = opaque;
        double ok = scrape(c->port, "floodgate_messages_processed_total{outcome=\"ok\"}");
        double dead = scrape(c->port, "floodgate_messages_processed_total{outcome=\"dead_letter\"}");
        return ok >= 0 && dead >= 0 && ok + dead >= c->want;
}

static void wait_settled(int port, double want) {
        settled_cond_t c = {port, want};
        ck_assert_msg(fg_test_wait(all_settled, &c, 120000), "not every event settled");
}

/* A raw request to the admin port; its status. */
static int raw_request(int port, const char *req) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        char buf[1024];
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), status = -1;
        ssize_t n;

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        ck_assert_int_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
        n = read(fd, buf, sizeof(buf) - 1);
        if (n > 0) {
                buf[n] = '\0';
                sscanf(buf, "HTTP/1.%*d %d", &status);
        }
        close(fd);
        return status;
}

/* The gate sink's lines "<topic> <partition> <offset> <key> <value>" of
 * key @p key: their offsets must increase; returns how many. */
static int key_lines_in_order(const char *out, const char *key, int32_t *partition) {
        char *text = fg_test_slurp(out, NULL), *line, *save = NULL;
        long long last = -1;
        int n = 0;

        ck_assert_ptr_nonnull(text);
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char topic[64], k[32];
                int part;
                long long off;
                if (sscanf(line, "%63s %d %lld %31s", topic, &part, &off, k) != 4 || strcmp(k, key))
                        continue;
                ck_assert_msg(off > last, "%s: offset %lld after %lld", key, off, last);
                if (n == 0)
                        *partition = part;
                ck_assert_int_eq(part, *partition);
                last = off;
                n++;
        }
        free(text);
        return n;
}

/* The park of @p key in a /stats document: its since_ms. */
static int64_t park_since(const char *stats, const char *key) {
        json_t *doc = json_loads(stats, 0, NULL), *list, *p;
        int64_t since = -1;
        size_t i;

        ck_assert_ptr_nonnull(doc);
        list = json_object_get(json_object_get(doc, "parked"), "list");
        json_array_foreach(list, i, p) {
                if (!strcmp(json_string_value(json_object_get(p, "key")), key))
                        since = json_integer_value(json_object_get(p, "since_ms"));
        }
        json_decref(doc);
        ck_assert_int_gt(since, 0);
        return since;
}

static void produce(const char *bs, const char *prefix, int64_t count) {
        fg_burst_cfg_t bc = {.enabled = true, .count = count, .size = 100, .keys = KEYS};
        char errstr[256];
        fg_burst_t *b = fg_burst_new(bs, TOPIC, &bc, prefix, errstr, sizeof(errstr));

        ck_assert_msg(b != NULL, "%s", errstr);
        ck_assert_int_eq(fg_burst_run(b, 60000), 0);
        fg_burst_destroy(b);
}

/* Runs `floodgate redrive`; its exit code, its tally line in @p tally. */
static int redrive(const char *cfg, const char *admin, const char *key, char *tally, size_t size) {
        const char *args[8] = {"redrive", "-c", cfg, "--admin", admin};
        char *out = NULL, *p;
        int rc, n = 5;

        if (key) {
                args[n++] = "--key";
                args[n++] = key;
        }
        args[n] = NULL;
        rc = fg_test_run(args, &out, 120000);
        p = out ? strstr(out, "read=") : NULL;
        snprintf(tally, size, "%.*s", p ? (int)strcspn(p, "\n") : 0, p ? p : "");
        fprintf(stderr, "redrive%s%s: exit %d: %s\n", key ? " --key " : "", key ? key : "", rc,
                tally);
        if (rc)
                fprintf(stderr, "%s\n", out ? out : "");
        free(out);
        return rc;
}

START_TEST(test_redrive_poison_keys_keep_their_order) {
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "d.log");
        char *out = fg_test_path(dir, "sink.out"), *gate = fg_test_path(dir, "fixed"), *cfg;
        fg_mock_t *mock = fg_test_mock(1, TOPIC, PARTS);
        const char *bs = fg_mock_bootstrap(mock);
        char errstr[256], admin[64], tally[512], body[256], *stats = NULL, req[512];
        const char *args[4];
        fg_test_proc_t *d;
        fg_test_topic_t dlq;
        int port, status, k242 = 0, k504 = 0;
        int64_t since;
        int32_t part;

        ck_assert_int_eq(fg_mock_create_topic(mock, DLQ, PARTS, errstr, sizeof(errstr)), 0);
        cfg = fg_test_write(dir, "fg.yaml",
                            "kafka:\n  brokers: \"%s\"\n  group_id: park\n  topics: [" TOPIC "]\n"
                            "workers: {size: 8, ordering: key}\n"
                            "sink:\n  type: plugin\n  plugin:\n    path: %s/gate.so\n"
                            "    config: {out: \"%s\", poison: '\"seq\":4242,|\"seq\":2504,', "
                            "gate: \"%s\"}\n"
                            "dead_letter: {topic: " DLQ ", park_key: true}\n"
                            "metrics: {listen: \"127.0.0.1:0\"}\n",
                            bs, getenv("FLOODGATE_PLUGIN_DIR"), out, gate);
        produce(bs, "p", COUNT);
        args[0] = "run", args[1] = "-c", args[2] = cfg, args[3] = NULL;
        d = fg_test_spawn(log, args);
        port = fg_test_admin_port(log, 30000);
        ck_assert_int_gt(port, 0);
        snprintf(admin, sizeof(admin), "127.0.0.1:%d", port);

        /* k242: seqs 242, 1242, ... 19242; from 4242 on, 16 dead letters.
         * k504: from 2504 on, 18. Everything else reaches the sink. */
        wait_settled(port, COUNT);
        ck_assert_int_eq(scrape(port, "floodgate_messages_processed_total{outcome=\"dead_letter\"}"),
                         34);
        ck_assert_int_eq(scrape(port, "floodgate_parked_keys"), 2);
        ck_assert_int_eq(scrape(port, "floodgate_parked_events_total"), 32);
        ck_assert_int_eq(fg_test_count_lines(out), COUNT - 34);
        ck_assert_int_eq(fg_test_http(port, "GET", "/stats", &stats), 200);
        ck_assert_ptr_nonnull(strstr(stats, "\"key\":\"k242\""));
        ck_assert_ptr_nonnull(strstr(stats, "\"key\":\"k504\""));
        ck_assert_ptr_nonnull(strstr(stats, "\"reason\":\"rejected: poison\""));
        since = park_since(stats, "k242");
        free(stats);

        /* The dead-letter topic: per key, the poison first, then its later
         * events as parked, places 0, 1, 2... in offset order. */
        fg_test_read_topic(&dlq, bs, DLQ, PARTS);
        ck_assert_uint_eq(dlq.n, 34);
        {
                long long last[2] = {-1, -1}, place[2] = {0, 0};
                for (size_t i = 0; i < dlq.n; i++) {
                        int w = !strcmp(dlq.msgs[i].key, "k504");
                        ck_assert_int_eq(dlq.msgs[i].partition, dlq.msgs[0].partition);
                        char *cls = fg_test_header(&dlq.msgs[i], "fg.error.class");
                        char *seq = fg_test_header(&dlq.msgs[i], "fg.parked.seq");
                        char *off = fg_test_header(&dlq.msgs[i], "fg.source.offset");
                        ck_assert(w || !strcmp(dlq.msgs[i].key, "k242"));
                        ck_assert_str_eq(cls, place[w] == 0 ? "rejected" : "parked");
                        ck_assert_int_eq(atoll(seq), place[w]++);
                        ck_assert_int_gt(atoll(off), last[w]);
                        last[w] = atoll(off);
                        free(cls), free(seq), free(off);
                }
                ck_assert_int_eq(place[0], 16);
                ck_assert_int_eq(place[1], 18);
        }
        fg_test_topic_free(&dlq);

        /* The endpoint: a replay that stopped short is refused, so are a
         * form post and a GET; nothing is released by them. */
        ck_assert_int_eq(fg_rd_release(admin, "k242", 4, since, 14, 5000000000LL, &status, body,
                                       sizeof(body), errstr, sizeof(errstr)),
                         0);
        ck_assert_int_eq(status, 409); /* 16 parked, 15 replayed */
        ck_assert_ptr_nonnull(strstr(body, "\"events\":16"));
        ck_assert_int_eq(fg_rd_release(admin, "k242", 4, since - 1, 15, 5000000000LL, &status,
                                       body, sizeof(body), errstr, sizeof(errstr)),
                         0);
        ck_assert_int_eq(status, 409); /* another park */
        ck_assert_int_eq(fg_rd_release(admin, "k999", 4, since, 15, 5000000000LL, &status, body,
                                       sizeof(body), errstr, sizeof(errstr)),
                         0);
        ck_assert_int_eq(status, 404);
        snprintf(req, sizeof(req), "POST /parked/release HTTP/1.0\r\nContent-Type: "
                                   "application/x-www-form-urlencoded\r\nContent-Length: 8\r\n\r\n"
                                   "key=k242");
        ck_assert_int_eq(raw_request(port, req), 415);
        ck_assert_int_eq(raw_request(port, "GET /parked/release HTTP/1.0\r\n\r\n"), 405);
        /* The release goes through the same DNS-rebinding check as every
         * endpoint: a page served as evil.example gets 421, nothing moves. */
        snprintf(req, sizeof(req), "POST /parked/release HTTP/1.1\r\nHost: evil.example\r\n"
                                   "Content-Type: application/json\r\nContent-Length: 15\r\n"
                                   "Connection: close\r\n\r\n{\"key\": \"k242\"}");
        ck_assert_int_eq(raw_request(port, req), 421);
        ck_assert_int_eq(scrape(port, "floodgate_parked_keys"), 2);

        /* Not fixed yet: k242's replay fails again. Its 16 go back to the
         * topic in order, fg.* headers re-added (the original source and
         * park places kept), and the key stays parked. */
        ck_assert_int_eq(redrive(cfg, admin, "k242", tally, sizeof(tally)), 1);
        ck_assert_ptr_nonnull(strstr(tally, "dead_lettered_again=16 "));
        ck_assert_int_eq(scrape(port, "floodgate_parked_keys"), 2);
        fg_test_read_topic(&dlq, bs, DLQ, PARTS);
        ck_assert_uint_eq(dlq.n, 50);
        for (size_t i = 34; i < dlq.n; i++) {
                char *cls = fg_test_header(&dlq.msgs[i], "fg.error.class");
                char *seq = fg_test_header(&dlq.msgs[i], "fg.parked.seq");
                char *topic = fg_test_header(&dlq.msgs[i], "fg.source.topic");
                ck_assert_str_eq(dlq.msgs[i].key, "k242");
                ck_assert_str_eq(cls, i == 34 ? "rejected" : "parked");
                ck_assert_int_eq(atoll(seq), (long long)(i - 34));
                ck_assert_str_eq(topic, TOPIC);
                free(cls), free(seq), free(topic);
        }
        fg_test_topic_free(&dlq);

        /* Fixed: replay k242 alone (its copies at the end; the first run's
         * record covers the originals), then everything left, then
         * nothing. */
        fclose(fopen(gate, "w"));
        ck_assert_int_eq(redrive(cfg, admin, "k242", tally, sizeof(tally)), 0);
        ck_assert_ptr_nonnull(strstr(tally, " skipped=18 delivered=16 "));
        ck_assert_ptr_nonnull(strstr(tally, "keys_released=1 "));
        ck_assert_int_eq(scrape(port, "floodgate_parked_keys"), 1);
        ck_assert_int_eq(redrive(cfg, admin, NULL, tally, sizeof(tally)), 0);
        /* k242's 32 known from the records (read unless below the
         * committed offset), k504's 18 replayed. */
        ck_assert_ptr_nonnull(strstr(tally, " skipped=0 delivered=18 "));
        ck_assert_ptr_nonnull(strstr(tally, "keys_released=1 "));
        ck_assert_int_eq(scrape(port, "floodgate_parked_keys"), 0);
        ck_assert_int_eq(redrive(cfg, admin, NULL, tally, sizeof(tally)), 0);
        ck_assert_ptr_nonnull(strstr(tally, "read=0 "));

        /* Released: their new events go to the sink, not the topic. */
        produce(bs, "q", 2 * KEYS);
        wait_settled(port, COUNT + 2 * KEYS);
        ck_assert_int_eq(scrape(port, "floodgate_messages_processed_total{outcome=\"dead_letter\"}"),
                         34);
        k242 = key_lines_in_order(out, "k242", &part);
        k504 = key_lines_in_order(out, "k504", &part);
        ck_assert_int_eq(k242, COUNT / KEYS + 2);
        ck_assert_int_eq(k504, COUNT / KEYS + 2);

        fg_test_proc_signal(d, SIGTERM);
        ck_assert_int_eq(fg_test_proc_wait(d, 30000), 0);
        fg_test_proc_free(d);
        fg_mock_destroy(mock);
        fg_test_rmtree(dir);
        free(dir), free(log), free(out), free(gate), free(cfg);
}
END_TEST

START_TEST(test_redrive_ledger_remembers_filtered_runs) {
        fg_rdl_t l;
        char md[FG_REDRIVE_META_MAX + 1];
        long len;

        /* A run from 10: 10 settled, 11 left (another key), 12-14 settled. */
        ck_assert_int_eq(fg_rdl_init(&l, 3, 10, NULL, 0), 0);
        fg_rdl_settle(&l, 10);
        fg_rdl_leave(&l, 11);
        fg_rdl_settle(&l, 12);
        fg_rdl_reached(&l, 15); /* 13, 14: no such offsets (gap) */
        ck_assert_int_eq(l.prefix, 11);
        fg_rdl_record(&l, "k1", 2, 0);
        len = fg_rdl_encode(&l, md, sizeof(md));
        ck_assert_int_gt(len, 0);
        ck_assert_str_eq(md, "fgr1;11-15:0:6b31");
        fg_rdl_free(&l);

        /* The next run starts at 11 with that record: k1 at 12 is covered,
         * k2 at 11 is not. */
        ck_assert_int_eq(fg_rdl_init(&l, 3, 11, md, (size_t)len), 0);
        ck_assert(fg_rdl_covered(&l, 12, "k1", 2, 0));
        ck_assert(!fg_rdl_covered(&l, 11, "k2", 2, 0));
        ck_assert(!fg_rdl_covered(&l, 15, "k1", 2, 0));
        fg_rdl_settle(&l, 11);
        fg_rdl_settle(&l, 12);
        fg_rdl_settle(&l, 13);
        fg_rdl_reached(&l, 20);
        ck_assert_int_eq(l.prefix, 20);
        /* Everything before the new offset: the record goes. */
        ck_assert_int_eq(fg_rdl_encode(&l, md, sizeof(md)), 0);
        fg_rdl_free(&l);

        /* --since records match any key from a time on. */
        ck_assert_int_eq(fg_rdl_init(&l, 0, 0, "fgr1;5-9:1000:*", 15), 0);
        ck_assert(fg_rdl_covered(&l, 6, NULL, 0, 1000));
        ck_assert(!fg_rdl_covered(&l, 6, "x", 1, 999));
        fg_rdl_free(&l);

        /* Not ours, or malformed: ignored, no records. */
        ck_assert_int_eq(fg_rdl_init(&l, 0, 0, "something", 9), -1);
        ck_assert_uint_eq(l.nr, 0);
        ck_assert_int_eq(fg_rdl_init(&l, 0, 0, "fgr1;5-1:0:*", 12), -1);
        ck_assert_int_eq(fg_rdl_init(&l, 0, 0, "fgr1;1-5:0:6", 12), -1);
        ck_assert_uint_eq(l.nr, 0);
}
END_TEST

START_TEST(test_redrive_since_parses) {
        char errstr[256];
        int64_t now = 1800000000000LL;

        ck_assert_int_eq(fg_redrive_parse_since("2h", now, errstr, sizeof(errstr)),
                         now - 2 * 3600 * 1000);
        ck_assert_int_eq(fg_redrive_parse_since("2026-01-02T03:04:05Z", now, errstr, sizeof(errstr)),
                         1767323045000LL);
        ck_assert_int_eq(fg_redrive_parse_since("yesterday", now, errstr, sizeof(errstr)), -1);
        ck_assert_ptr_nonnull(strstr(errstr, "YYYY-MM-DDTHH:MM:SSZ"));
}
END_TEST

static Suite *redrive_suite(void) {
        Suite *s = suite_create("redrive");
        TCase *tc = tcase_create("redrive");

        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, test_redrive_ledger_remembers_filtered_runs);
        tcase_add_test(tc, test_redrive_since_parses);
        tcase_add_test(tc, test_redrive_poison_keys_keep_their_order);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(redrive_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
