/*
 * fgtest: integration test helpers (see fgtest.h).
 */
#include "tests/support/fgtest.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "tools/burst.h"

/* ---- files ---- */

char *fg_test_tmpdir(void) {
        char tmpl[] = "/tmp/fgtest.XXXXXX";
        char *dir = mkdtemp(tmpl);
        ck_assert_msg(dir != NULL, "mkdtemp: %s", strerror(errno));
        return strdup(dir);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

void fg_test_rmtree(const char *dir) {
        if (dir)
                nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *fg_test_path(const char *dir, const char *name) {
        char *p;
        ck_assert(asprintf(&p, "%s/%s", dir, name) > 0);
        return p;
}

char *fg_test_write(const char *dir, const char *name, const char *fmt, ...) {
        char *path = fg_test_path(dir, name);
        FILE *fp = fopen(path, "w");
        va_list ap;

        ck_assert_msg(fp != NULL, "cannot write %s", path);
        va_start(ap, fmt);
        vfprintf(fp, fmt, ap);
        va_end(ap);
        fclose(fp);
        return path;
}

char *fg_test_slurp(const char *path, size_t *len) {
        FILE *fp = fopen(path, "rb");
        char *buf;
        long n;

        if (!fp)
                return NULL;
        fseek(fp, 0, SEEK_END);
        n = ftell(fp);
        fseek(fp, 0, SEEK_SET);
        buf = malloc((size_t)n + 1);
        ck_assert(buf != NULL);
        n = (long)fread(buf, 1, (size_t)n, fp);
        buf[n] = '\0';
        fclose(fp);
        if (len)
                *len = (size_t)n;
        return buf;
}

bool fg_test_file_contains(const char *path, const char *needle) {
        char *s = fg_test_slurp(path, NULL);
        bool found = s && strstr(s, needle);
        free(s);
        return found;
}

size_t fg_test_count_lines(const char *path) {
        size_t len, n = 0;
        char *s = fg_test_slurp(path, &len);

        for (size_t i = 0; s && i < len; i++)
                n += s[i] == '\n';
        free(s);
        return n;
}

char *fg_test_srcpath(const char *rel) {
        const char *root = getenv("FLOODGATE_SRCDIR");
        char *p;
        ck_assert(asprintf(&p, "%s/%s", root ? root : ".", rel) > 0);
        return p;
}

int fg_test_run_in_srcdir(Suite *s, const char *name) {
        const char *srcdir = getenv("FLOODGATE_SRCDIR");
        SRunner *sr;
        int failed;

        if (srcdir && chdir(srcdir) != 0) {
                fprintf(stderr, "%s: cannot chdir to %s: %s\n", name, srcdir, strerror(errno));
                return EXIT_FAILURE;
        }
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ---- waiting ---- */

bool fg_test_wait(bool (*pred)(void *opaque), void *opaque, int timeout_ms) {
        int64_t deadline = fg_mono_ns() + (int64_t)timeout_ms * FG_NS_PER_MS;
        struct timespec ten_ms = {0, 10 * 1000 * 1000};

        for (;;) {
                if (pred(opaque))
                        return true;
                if (fg_mono_ns() >= deadline)
                        return false;
                nanosleep(&ten_ms, NULL);
        }
}

typedef struct file_cond {
        const char *path;
        const char *needle;
        size_t lines;
} file_cond_t;

static bool has_needle(void *opaque) {
        file_cond_t *c = opaque;
        return fg_test_file_contains(c->path, c->needle);
}

static bool has_lines(void *opaque) {
        file_cond_t *c = opaque;
        return fg_test_count_lines(c->path) >= c->lines;
}

bool fg_test_wait_file_contains(const char *path, const char *needle, int timeout_ms) {
        file_cond_t c = {path, needle, 0};
        return fg_test_wait(has_needle, &c, timeout_ms);
}

bool fg_test_wait_lines(const char *path, size_t lines, int timeout_ms) {
        file_cond_t c = {path, NULL, lines};
        return fg_test_wait(has_lines, &c, timeout_ms);
}

/* ---- Kafka ---- */

fg_mock_t *fg_test_mock(int brokers, const char *topic, int partitions) {
        char errstr[256];
        fg_mock_t *mock = fg_mock_new(brokers, errstr, sizeof(errstr));

        ck_assert_msg(mock != NULL, "%s", errstr);
        ck_assert_msg(!fg_mock_create_topic(mock, topic, partitions, errstr, sizeof(errstr)), "%s",
                      errstr);
        return mock;
}

struct fg_test_producer {
        fg_burst_t *b;
        pthread_t thr;
        int rc;
        int64_t count;
};

static void *producer_main(void *arg) {
        fg_test_producer_t *p = arg;
        p->rc = fg_burst_run(p->b, 60000);
        return NULL;
}

fg_test_producer_t *fg_test_produce_async(const char *bootstrap, const char *topic,
                                          const char *prefix, int64_t count, int64_t rate,
                                          int64_t size) {
        fg_burst_cfg_t bc = {.enabled = true, .count = count, .rate = rate,
                             .size = size ? size : 120, .keys = 10000};
        fg_test_producer_t *p = calloc(1, sizeof(*p));
        char errstr[256];

        ck_assert(p != NULL);
        p->count = count;
        p->b = fg_burst_new(bootstrap, topic, &bc, prefix, errstr, sizeof(errstr));
        ck_assert_msg(p->b != NULL, "%s", errstr);
        ck_assert(pthread_create(&p->thr, NULL, producer_main, p) == 0);
        return p;
}

int64_t fg_test_producer_produced(fg_test_producer_t *p) { return fg_burst_produced(p->b); }

void fg_test_producer_join(fg_test_producer_t *p) {
        int64_t delivered, count = p->count;

        pthread_join(p->thr, NULL);
        delivered = fg_burst_delivered(p->b);
        fg_burst_destroy(p->b);
        free(p);
        ck_assert_msg(delivered == count, "produced only %lld of %lld", (long long)delivered,
                      (long long)count);
}

void fg_test_produce(const char *bootstrap, const char *topic, const char *prefix, int64_t count,
                     int64_t rate, int64_t size) {
        fg_test_producer_join(fg_test_produce_async(bootstrap, topic, prefix, count, rate, size));
}

/* Parses "<prefix>-<seq>" after "id":" in a JSON event; -1 if absent. */
static int64_t parse_seq(const char *p, size_t len, const char *prefix) {
        static const char key[] = "\"id\":\"";
        size_t plen = strlen(prefix);
        const char *end = p + len, *s = memmem(p, len, key, sizeof(key) - 1);
        int64_t v = 0;

        if (!s)
                return -1;
        s += sizeof(key) - 1;
        if ((size_t)(end - s) <= plen + 1 || memcmp(s, prefix, plen) || s[plen] != '-')
                return -1;
        s += plen + 1;
        if (s >= end || *s < '0' || *s > '9')
                return -1;
        while (s < end && *s >= '0' && *s <= '9')
                v = v * 10 + (*s++ - '0');
        return s < end && *s == '"' ? v : -1;
}

static rd_kafka_t *plain_consumer(const char *bootstrap, const char *group) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char errstr[256];
        rd_kafka_t *rk;

        rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, NULL, 0);
        rd_kafka_conf_set(conf, "group.id", group, NULL, 0);
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", NULL, 0);
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
        rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
        ck_assert_msg(rk != NULL, "%s", errstr);
        rd_kafka_poll_set_consumer(rk);
        return rk;
}

static void test_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque) {
        int *failed = opaque;
        if (rkm->err)
                (*failed)++;
}

void fg_test_produce_msgs(const char *bootstrap, const char *topic, const fg_test_msg_t *msgs,
                          size_t n) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char errstr[256];
        int failed = 0;
        rd_kafka_t *rk;

        rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, NULL, 0);
        rd_kafka_conf_set(conf, "message.max.bytes", "4000000", NULL, 0);
        rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
        rd_kafka_conf_set_opaque(conf, &failed);
        rd_kafka_conf_set_dr_msg_cb(conf, test_dr_cb);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        ck_assert_msg(rk != NULL, "%s", errstr);
        for (size_t i = 0; i < n; i++) {
                rd_kafka_headers_t *h = rd_kafka_headers_new(4);
                rd_kafka_resp_err_t err;
                for (int k = 0; k < 4 && msgs[i].hdr_name[k]; k++)
                        rd_kafka_header_add(h, msgs[i].hdr_name[k], -1, msgs[i].hdr_value[k], -1);
                err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                                        RD_KAFKA_V_KEY((void *)msgs[i].key,
                                                       msgs[i].key ? strlen(msgs[i].key) : 0),
                                        RD_KAFKA_V_VALUE((void *)msgs[i].value, msgs[i].len),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
                ck_assert_msg(!err, "produce: %s", rd_kafka_err2str(err));
                rd_kafka_poll(rk, 0);
        }
        ck_assert_int_eq(rd_kafka_flush(rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
        rd_kafka_destroy(rk);
        ck_assert_int_eq(failed, 0);
}

void fg_test_read_topic(fg_test_topic_t *t, const char *bootstrap, const char *topic, int partitions) {
        rd_kafka_t *rk = plain_consumer(bootstrap, "fgtest-read");
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(partitions);
        int64_t deadline = fg_mono_ns() + 60 * FG_NS_PER_S;
        size_t cap = 0;
        int eofs = 0;

        memset(t, 0, sizeof(*t));
        for (int p = 0; p < partitions; p++)
                rd_kafka_topic_partition_list_add(list, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        ck_assert(rd_kafka_assign(rk, list) == RD_KAFKA_RESP_ERR_NO_ERROR);
        rd_kafka_topic_partition_list_destroy(list);
        while (eofs < partitions && fg_mono_ns() < deadline) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                rd_kafka_headers_t *h = NULL;
                rd_kafka_timestamp_type_t tstype;
                fg_test_rmsg_t *r;

                if (!m)
                        continue;
                if (m->err) {
                        eofs += m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
                        rd_kafka_message_destroy(m);
                        continue;
                }
                if (t->n == cap) {
                        cap = cap ? cap * 2 : 64;
                        t->msgs = realloc(t->msgs, cap * sizeof(*t->msgs));
                        ck_assert(t->msgs != NULL);
                }
                r = &t->msgs[t->n++];
                r->key = m->key ? strndup(m->key, m->key_len) : NULL;
                r->value = malloc(m->len + 1);
                ck_assert(r->value != NULL);
                if (m->len)
                        memcpy(r->value, m->payload, m->len);
                r->value[m->len] = '\0';
                r->len = m->len;
                r->partition = m->partition;
                r->offset = m->offset;
                r->ts_ms = rd_kafka_message_timestamp(m, &tstype);
                r->headers = !rd_kafka_message_headers(m, &h) && h ? rd_kafka_headers_copy(h) : NULL;
                rd_kafka_message_destroy(m);
        }
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        ck_assert_msg(eofs >= partitions, "reading %s timed out", topic);
}

void fg_test_topic_free(fg_test_topic_t *t) {
        for (size_t i = 0; i < t->n; i++) {
                free(t->msgs[i].key);
                free(t->msgs[i].value);
                if (t->msgs[i].headers)
                        rd_kafka_headers_destroy(t->msgs[i].headers);
        }
        free(t->msgs);
        memset(t, 0, sizeof(*t));
}

char *fg_test_header(const fg_test_rmsg_t *m, const char *name) {
        const void *v;
        size_t len;

        if (!m->headers || rd_kafka_header_get_last(m->headers, name, &v, &len))
                return NULL;
        return strndup(v, len);
}

void fg_test_index_topic(fg_test_index_t *ix, const char *bootstrap, const char *topic,
                         const char *prefix, int64_t count, int partitions) {
        rd_kafka_t *rk = plain_consumer(bootstrap, "fgtest-index");
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(partitions);
        int eofs = 0;
        int64_t deadline = fg_mono_ns() + 60 * FG_NS_PER_S;

        ix->count = count;
        ix->partitions = partitions;
        ix->partition = malloc((size_t)count * sizeof(*ix->partition));
        ix->offset = malloc((size_t)count * sizeof(*ix->offset));
        ck_assert(ix->partition && ix->offset);
        for (int64_t i = 0; i < count; i++) {
                ix->partition[i] = -1;
                ix->offset[i] = -1;
        }
        for (int p = 0; p < partitions; p++)
                rd_kafka_topic_partition_list_add(list, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        ck_assert(rd_kafka_assign(rk, list) == RD_KAFKA_RESP_ERR_NO_ERROR);
        rd_kafka_topic_partition_list_destroy(list);

        while (eofs < partitions && fg_mono_ns() < deadline) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                int64_t seq;
                if (!m)
                        continue;
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        eofs++;
                } else if (!m->err) {
                        seq = parse_seq(m->payload, m->len, prefix);
                        if (seq >= 0 && seq < count) {
                                ix->partition[seq] = m->partition;
                                ix->offset[seq] = m->offset;
                        }
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        ck_assert_msg(eofs >= partitions, "indexing %s timed out", topic);
}

void fg_test_index_free(fg_test_index_t *ix) {
        free(ix->partition);
        free(ix->offset);
}

void fg_test_committed(const char *bootstrap, const char *group, const char *topic,
                       int partitions, int64_t *out) {
        rd_kafka_t *rk = plain_consumer(bootstrap, group);
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(partitions);
        rd_kafka_resp_err_t err;

        for (int p = 0; p < partitions; p++)
                rd_kafka_topic_partition_list_add(list, topic, p);
        err = rd_kafka_committed(rk, list, 20000);
        ck_assert_msg(!err, "committed(): %s", rd_kafka_err2str(err));
        for (int p = 0; p < partitions; p++)
                out[p] = list->elems[p].offset >= 0 ? list->elems[p].offset : -1;
        rd_kafka_topic_partition_list_destroy(list);
        rd_kafka_destroy(rk);
}

/* ---- what the sink received ---- */

void fg_test_seen_scan_buf(fg_test_seen_t *s, const char *buf, size_t len, const char *prefix,
                           int64_t count) {
        const char *p = buf, *end = buf + len;

        memset(s, 0, sizeof(*s));
        s->count = count;
        s->times = calloc((size_t)count, sizeof(*s->times));
        ck_assert(s->times != NULL);
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
                int64_t seq = parse_seq(p, l, prefix);
                if (l) {
                        s->lines++;
                        if (seq >= 0 && seq < count)
                                s->times[seq]++;
                        else
                                s->foreign++;
                }
                p += l + 1;
        }
        for (int64_t i = 0; i < count; i++) {
                if (!s->times[i])
                        s->missing++;
                else
                        s->dups += s->times[i] - 1;
        }
}

void fg_test_seen_scan(fg_test_seen_t *s, const char *path, const char *prefix, int64_t count) {
        size_t len = 0;
        char *buf = fg_test_slurp(path, &len);
        fg_test_seen_scan_buf(s, buf ? buf : "", buf ? len : 0, prefix, count);
        free(buf);
}

void fg_test_seen_free(fg_test_seen_t *s) { free(s->times); }

int64_t fg_test_committed_were_seen(const fg_test_index_t *ix, const fg_test_seen_t *s,
                                    const int64_t *committed) {
        int64_t bad = 0;
        for (int64_t i = 0; i < ix->count; i++) {
                int32_t p = ix->partition[i];
                if (p < 0 || ix->offset[i] >= committed[p] || s->times[i])
                        continue;
                if (bad++ < 5)
                        fprintf(stderr, "committed but never delivered: seq %lld (p%d@%lld < %lld)\n",
                                (long long)i, (int)p, (long long)ix->offset[i],
                                (long long)committed[p]);
        }
        return bad;
}

int64_t fg_test_seen_were_committed(const fg_test_index_t *ix, const fg_test_seen_t *s,
                                    const int64_t *committed) {
        int64_t bad = 0;
        for (int64_t i = 0; i < ix->count; i++) {
                int32_t p = ix->partition[i];
                if (p < 0 || !s->times[i] || ix->offset[i] < committed[p])
                        continue;
                if (bad++ < 5)
                        fprintf(stderr, "delivered but not committed: seq %lld (p%d@%lld >= %lld)\n",
                                (long long)i, (int)p, (long long)ix->offset[i],
                                (long long)committed[p]);
        }
        return bad;
}

/* ---- the floodgate binary ---- */

void fg_test_seen_scan_files(fg_test_seen_t *s, const char *const *paths, const char *prefix,
                             int64_t count) {
        char *all = NULL;
        size_t len = 0;

        for (size_t i = 0; paths[i]; i++) {
                size_t l = 0;
                char *buf = fg_test_slurp(paths[i], &l);
                if (!buf)
                        continue;
                all = realloc(all, len + l + 1);
                ck_assert(all != NULL);
                memcpy(all + len, buf, l);
                len += l;
                free(buf);
        }
        fg_test_seen_scan_buf(s, all ? all : "", len, prefix, count);
        free(all);
}

int64_t fg_test_uncommitted(const char *bootstrap, const char *group, const char *topic,
                            int partitions, const char *out, const char *prefix, int64_t count,
                            int64_t *delivered) {
        int64_t *committed = calloc((size_t)partitions, sizeof(*committed));
        int64_t distinct = 0, committed_total = 0;
        fg_test_index_t ix;
        fg_test_seen_t seen;

        ck_assert(committed != NULL);
        fg_test_seen_scan(&seen, out, prefix, count);
        fg_test_committed(bootstrap, group, topic, partitions, committed);
        fg_test_index_topic(&ix, bootstrap, topic, prefix, count, partitions);
        ck_assert_int_eq(fg_test_committed_were_seen(&ix, &seen, committed), 0);
        for (int64_t i = 0; i < count; i++)
                distinct += seen.times[i] > 0;
        for (int p = 0; p < partitions; p++)
                committed_total += committed[p] > 0 ? committed[p] : 0;
        fg_test_index_free(&ix);
        fg_test_seen_free(&seen);
        free(committed);
        if (delivered)
                *delivered = distinct;
        return distinct - committed_total;
}

fg_test_proc_t *fg_test_spawn_run(const char *cfg, const char *log, bool until_drained) {
        const char *args_drained[] = {"run", "-c", cfg, "--until-drained", NULL};
        const char *args[] = {"run", "-c", cfg, NULL};
        return fg_test_spawn(log, until_drained ? args_drained : args);
}

void fg_test_dump_log(const char *path, size_t tail) {
        char *s = fg_test_slurp(path, NULL);
        size_t n = s ? strlen(s) : 0;
        fprintf(stderr, "---- %s (last %zu bytes) ----\n%s\n----\n", path, tail,
                s ? s + (n > tail ? n - tail : 0) : "(none)");
        free(s);
}

fg_test_proc_t *fg_test_spawn(const char *log, const char *const *args) {
        const char *bin = getenv("FLOODGATE_BIN");
        fg_test_proc_t *p = calloc(1, sizeof(*p));
        size_t n = 0;
        char **argv;

        ck_assert_msg(bin != NULL, "FLOODGATE_BIN is not set");
        ck_assert(p != NULL);
        while (args[n])
                n++;
        argv = calloc(n + 2, sizeof(*argv));
        ck_assert(argv != NULL);
        argv[0] = (char *)bin;
        for (size_t i = 0; i < n; i++)
                argv[i + 1] = (char *)args[i];
        p->log = strdup(log);
        p->pid = fork();
        ck_assert(p->pid >= 0);
        if (p->pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
                sigset_t none;
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                if (fd >= 0) {
                        dup2(fd, STDOUT_FILENO);
                        dup2(fd, STDERR_FILENO);
                        close(fd);
                }
                execv(bin, argv);
                _exit(127);
        }
        free(argv);
        return p;
}

int fg_test_proc_wait(fg_test_proc_t *p, int timeout_ms) {
        int64_t deadline = fg_mono_ns() + (int64_t)timeout_ms * FG_NS_PER_MS;
        struct timespec five_ms = {0, 5 * 1000 * 1000};
        int st;

        while (!p->exited) {
                pid_t r = waitpid(p->pid, &st, WNOHANG);
                if (r == p->pid) {
                        p->exited = true;
                        p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                        break;
                }
                if (fg_mono_ns() >= deadline)
                        return -1;
                nanosleep(&five_ms, NULL);
        }
        return p->status;
}

void fg_test_proc_signal(fg_test_proc_t *p, int sig) {
        if (!p->exited)
                kill(p->pid, sig);
}

void fg_test_proc_free(fg_test_proc_t *p) {
        if (!p)
                return;
        if (!p->exited) {
                kill(p->pid, SIGKILL);
                fg_test_proc_wait(p, 10000);
        }
        free(p->log);
        free(p);
}

static long status_field_kib(pid_t pid, const char *field) {
        char path[64], line[256];
        size_t flen = strlen(field);
        long v = -1;
        FILE *fp;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        if (!(fp = fopen(path, "r")))
                return -1;
        while (fgets(line, sizeof(line), fp))
                if (!strncmp(line, field, flen) && line[flen] == ':')
                        v = strtol(line + flen + 1, NULL, 10);
        fclose(fp);
        return v;
}

long fg_test_proc_hwm_kib(const fg_test_proc_t *p) {
        return p->exited ? -1 : status_field_kib(p->pid, "VmHWM");
}

int fg_test_run(const char *const *args, char **output, int timeout_ms) {
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "out.log");
        fg_test_proc_t *p = fg_test_spawn(log, args);
        int rc = fg_test_proc_wait(p, timeout_ms);

        ck_assert_msg(rc >= 0, "floodgate %s did not finish in %d ms", args[0], timeout_ms);
        if (output)
                *output = fg_test_slurp(log, NULL);
        fg_test_proc_free(p);
        fg_test_rmtree(dir);
        free(log);
        free(dir);
        return rc;
}

int fg_test_admin_port(const char *log, int timeout_ms) {
        static const char key[] = "/readyz on ";
        char *s, *p;
        int port = -1;

        if (!fg_test_wait_file_contains(log, key, timeout_ms))
                return -1;
        s = fg_test_slurp(log, NULL);
        p = s ? strstr(s, key) : NULL;
        if (p && (p = strchr(p + sizeof(key) - 1, ':')))
                port = atoi(p + 1);
        free(s);
        return port;
}

/* ---- HTTP ---- */

int fg_test_http(int port, const char *method, const char *path, char **body) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        struct timeval tv = {10, 0};
        char req[512], *resp = NULL, *sep;
        size_t len = 0, cap = 0;
        int fd, status = -1;

        if (body)
                *body = NULL;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -1;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
                close(fd);
                return -1;
        }
        snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", method, path);
        if (write(fd, req, strlen(req)) < 0) {
                close(fd);
                return -1;
        }
        for (;;) {
                ssize_t n;
                if (len + 4096 > cap) {
                        cap = (len + 4096) * 2;
                        resp = realloc(resp, cap);
                        ck_assert(resp != NULL);
                }
                n = read(fd, resp + len, cap - len - 1);
                if (n <= 0)
                        break;
                len += (size_t)n;
        }
        close(fd);
        if (!resp)
                return -1;
        resp[len] = '\0';
        if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
                status = -1;
        sep = strstr(resp, "\r\n\r\n");
        if (body)
                *body = strdup(sep ? sep + 4 : "");
        free(resp);
        return status;
}

double fg_test_metric(int port, const char *sample) {
        char *body = NULL, *p;
        double v = -1;

        if (fg_test_http(port, "GET", "/metrics", &body) == 200 && (p = strstr(body, sample)))
                v = strtod(p + strlen(sample), NULL);
        free(body);
        return v;
}
