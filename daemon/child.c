/*
 * child: the embedded mock cluster and load generator as child processes
 * (see child.h).
 */
#include "daemon/child.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "daemon/daemon_int.h"

/* What `floodgate mock` accepts (tools/cmd_mock.c). */
#define MOCK_MAX_TOPICS 64
#define MAX_ARGS (8 + 2 * MOCK_MAX_TOPICS)
/* The child's stdout: one BOOTSTRAP= line, or one tally line. */
#define OUT_MAX 4096
#define WAIT_POLL_NS (5 * FG_NS_PER_MS)

struct fg_child {
        const char *what; /* "the embedded mock cluster", ... for messages */
        pid_t pid;
        int out_fd;       /* read end of the child's stdout; -1 once closed */
        char out[OUT_MAX];
        size_t out_len;
        bool exited;
        int status;       /* exit code, or 128 + signal */
        bool has_tally;   /* the load generator: log its tally at exit */
        bool tally_logged;
        long peak_kib;
        char *bootstrap;
};

typedef struct argv_buf {
        char *v[MAX_ARGS + 1];
        int n;
} argv_buf_t;

static int argv_add(argv_buf_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int argv_add(argv_buf_t *a, const char *fmt, ...) {
        va_list ap;
        int rc;

        if (a->n == MAX_ARGS)
                return -1;
        va_start(ap, fmt);
        rc = vasprintf(&a->v[a->n], fmt, ap);
        va_end(ap);
        if (rc < 0) {
                a->v[a->n] = NULL;
                return -1;
        }
        a->n++;
        return 0;
}

static void argv_free(argv_buf_t *a) {
        for (int i = 0; i < a->n; i++)
                free(a->v[i]);
}

/* The forked child, up to exec: async-signal-safe calls only. */
static void exec_child(char *const *argv, int out_fd, int null_fd, pid_t parent) {
        sigset_t none;

        /* First, so that no SIGKILL of the daemon can leave us behind; the
         * daemon may have died before the prctl took effect. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
                _exit(127);
        setpgid(0, 0);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0)
                _exit(127);
        /* Every other descriptor of the daemon is close-on-exec. */
        execv("/proc/self/exe", argv);
        _exit(127);
}

static fg_child_t *spawn(const char *what, argv_buf_t *a, char *errstr, size_t errstr_size) {
        fg_child_t *c = calloc(1, sizeof(*c));
        int pipefd[2] = {-1, -1}, null_fd = -1;
        pid_t parent = getpid();
        bool ok = false;

        if (!c) {
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        c->what = what;
        c->out_fd = -1;
        c->peak_kib = -1;
        null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null_fd < 0 || pipe2(pipefd, O_CLOEXEC) != 0) {
                snprintf(errstr, errstr_size, "cannot start %s: %s", what, strerror(errno));
                goto out;
        }
        c->pid = fork();
        if (c->pid < 0) {
                snprintf(errstr, errstr_size, "cannot start %s: fork: %s", what, strerror(errno));
                goto out;
        }
        if (c->pid == 0)
                exec_child(a->v, pipefd[1], null_fd, parent);
        c->out_fd = pipefd[0];
        pipefd[0] = -1;
        fg_debug("%s: pid %ld", what, (long)c->pid);
        ok = true;
out:
        for (int i = 0; i < 2; i++)
                if (pipefd[i] >= 0)
                        close(pipefd[i]);
        if (null_fd >= 0)
                close(null_fd);
        if (!ok) {
                free(c);
                c = NULL;
        }
        return c;
}

static int decode_status(int st) {
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Reaps the child if it has exited; true when it has. */
static bool reap(fg_child_t *c) {
        int st;

        if (c->exited)
                return true;
        if (waitpid(c->pid, &st, WNOHANG) != c->pid)
                return false;
        c->exited = true;
        c->status = decode_status(st);
        return true;
}

/* Appends what the child wrote to stdout, waiting up to @p timeout_ms for
 * something. Returns 1 when it read something, 0 when nothing came, -1 at
 * EOF or once the buffer is full (the rest is not read: the child's write
 * fails, which its one line never reaches). */
static int read_out(fg_child_t *c, int timeout_ms) {
        struct pollfd pfd = {.fd = c->out_fd, .events = POLLIN};
        ssize_t n;

        if (c->out_fd < 0 || c->out_len + 1 >= sizeof(c->out))
                return -1;
        if (poll(&pfd, 1, timeout_ms) <= 0)
                return 0;
        n = read(c->out_fd, c->out + c->out_len, sizeof(c->out) - 1 - c->out_len);
        if (n <= 0) {
                close(c->out_fd);
                c->out_fd = -1;
                return -1;
        }
        c->out_len += (size_t)n;
        c->out[c->out_len] = '\0';
        return 1;
}

/* The value after @p key on a complete line of the child's stdout. */
static const char *out_find(const fg_child_t *c, const char *key) {
        size_t klen = strlen(key);

        for (const char *line = c->out; *line;) {
                const char *nl = strchr(line, '\n');
                if (!nl)
                        return NULL;
                if (!strncmp(line, key, klen))
                        return line + klen;
                line = nl + 1;
        }
        return NULL;
}

fg_child_t *fg_child_mock_start(const fg_kafka_cfg_t *kc, int timeout_ms, char *errstr,
                                size_t errstr_size) {
        argv_buf_t a = {.n = 0};
        fg_child_t *c = NULL;
        int64_t deadline = fg_mono_ns() + (int64_t)timeout_ms * FG_NS_PER_MS;
        const char *bs = NULL;
        bool nomem;

        if (kc->topics.n > MOCK_MAX_TOPICS) {
                snprintf(errstr, errstr_size, "brokers: mock takes at most %d topics",
                         MOCK_MAX_TOPICS);
                return NULL;
        }
        nomem = argv_add(&a, "floodgate") || argv_add(&a, "mock") ||
                argv_add(&a, "--brokers=%" PRId64, kc->mock_brokers);
        for (size_t i = 0; i < kc->topics.n && !nomem; i++)
                nomem = argv_add(&a, "--topic=%s:%" PRId64, kc->topics.v[i], kc->mock_partitions);
        if (nomem) {
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        c = spawn("the embedded mock cluster", &a, errstr, errstr_size);
        if (!c)
                goto out;
        while (!(bs = out_find(c, "BOOTSTRAP=")) && fg_mono_ns() < deadline)
                if (read_out(c, (int)((deadline - fg_mono_ns()) / FG_NS_PER_MS) + 1) < 0)
                        break;
        if (bs)
                c->bootstrap = strndup(bs, strcspn(bs, "\n"));
        if (!c->bootstrap) {
                /* It exits on its own after an error; its log says which. */
                int status = fg_child_wait(c, FG_NS_PER_S);
                snprintf(errstr, errstr_size, "%s did not start (no BOOTSTRAP= line, exit status %d)",
                         c->what, status);
                fg_child_destroy(c);
                c = NULL;
        }
out:
        argv_free(&a);
        return c;
}

const char *fg_child_bootstrap(const fg_child_t *c) { return c->bootstrap; }

fg_child_t *fg_child_burst_start(const fg_burst_cfg_t *bc, const char *bootstrap,
                                 const char *topic, char *errstr, size_t errstr_size) {
        argv_buf_t a = {.n = 0};
        fg_child_t *c = NULL;

        if (argv_add(&a, "floodgate") || argv_add(&a, "burst") ||
            argv_add(&a, "--brokers=%s", bootstrap) || argv_add(&a, "--topic=%s", topic) ||
            argv_add(&a, "--count=%" PRId64, bc->count) || argv_add(&a, "--rate=%" PRId64, bc->rate) ||
            argv_add(&a, "--size=%" PRId64, bc->size) || argv_add(&a, "--keys=%" PRId64, bc->keys) ||
            (bc->spike_for_ns > 0 &&
             argv_add(&a, "--spike=%" PRId64 "ns:%" PRId64 "ns:%" PRId64, bc->spike_at_ns,
                      bc->spike_for_ns, bc->spike_rate))) {
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        c = spawn("the embedded load generator", &a, errstr, errstr_size);
        if (c)
                c->has_tally = true;
out:
        argv_free(&a);
        return c;
}

/* The generator's tally (`produced=N delivered=N failed=N ...`), once. */
static void log_tally(fg_child_t *c) {
        const char *produced, *delivered;

        if (c->tally_logged)
                return;
        c->tally_logged = true;
        while (read_out(c, 0) > 0)
                ;
        produced = out_find(c, "produced=");
        delivered = produced ? strstr(produced, " delivered=") : NULL;
        if (c->status == 0 && delivered)
                fg_info("burst: produced %lld events", strtoll(delivered + 11, NULL, 10));
        else if (produced && delivered)
                fg_warn("burst: %lld of %lld events not delivered to Kafka",
                        strtoll(produced, NULL, 10) - strtoll(delivered + 11, NULL, 10),
                        strtoll(produced, NULL, 10));
        else
                fg_warn("%s exited with status %d", c->what, c->status);
}

bool fg_child_finished(fg_child_t *c) {
        bool first = !c->exited;

        if (!reap(c))
                return false;
        if (c->has_tally)
                log_tally(c);
        else if (first)
                fg_error("%s exited with status %d", c->what, c->status);
        return true;
}

void fg_child_stop(fg_child_t *c) {
        if (!reap(c))
                kill(c->pid, SIGTERM);
}

int fg_child_wait(fg_child_t *c, int64_t timeout_ns) {
        int64_t deadline = fg_mono_ns() + timeout_ns;
        struct timespec pause = {0, WAIT_POLL_NS};
        int st;

        fg_child_stop(c);
        while (!reap(c)) {
                if (fg_mono_ns() >= deadline) {
                        fg_warn("%s did not stop within %lld ms: killing it", c->what,
                                (long long)(timeout_ns / FG_NS_PER_MS));
                        kill(c->pid, SIGKILL);
                        if (waitpid(c->pid, &st, 0) == c->pid) {
                                c->exited = true;
                                c->status = decode_status(st);
                        }
                        break;
                }
                /* Drains the pipe meanwhile, so the child's write cannot block. */
                if (read_out(c, 0) <= 0)
                        nanosleep(&pause, NULL);
        }
        if (c->has_tally)
                log_tally(c);
        return c->status;
}

void fg_child_sample(fg_child_t *c) {
        long kib;

        if (c->exited)
                return;
        kib = fg_report_peak_rss_kib(c->pid);
        if (kib > c->peak_kib)
                c->peak_kib = kib;
}

long fg_child_peak_rss_kib(const fg_child_t *c) { return c->peak_kib; }

void fg_child_destroy(fg_child_t *c) {
        int st;

        if (!c)
                return;
        if (!c->exited) {
                kill(c->pid, SIGKILL);
                waitpid(c->pid, &st, 0);
        }
        if (c->out_fd >= 0)
                close(c->out_fd);
        free(c->bootstrap);
        free(c);
}
