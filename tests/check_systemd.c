/*
 * check_systemd: floodgate as a systemd service.
 *
 *   - the notification protocol (daemon/notify.c) in-process: path and
 *     abstract sockets, no socket, WATCHDOG_USEC/WATCHDOG_PID, a failing
 *     send logged once;
 *   - the real daemon against a notification socket of the test's own:
 *     READY=1, WATCHDOG=1 pings, STATUS=, RELOADING=1/READY=1 on SIGHUP,
 *     STOPPING=1 on SIGTERM, exit 0; and a pool wedged in write(2) on a FIFO
 *     that stops the pings until it recovers;
 *   - the unit: `systemd-analyze verify` and `systemd-analyze security
 *     --offline=yes` on the unit `make install` renders, the daemon under an
 *     emulated ProcSubset=pid/ProtectProc=invisible /proc, and its system
 *     calls (traced with strace) checked against SystemCallFilter=,
 *     RestrictAddressFamilies= and MemoryDenyWriteExecute=;
 *   - `make install`/`uninstall` into a DESTDIR, and the manual pages
 *     (groff warnings, every subcommand, the generated option list).
 *
 * systemd is not PID 1 here: nothing in this suite needs a running service
 * manager. The test plays the manager's side of the protocol itself.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <dirent.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "daemon/notify.h"
#include "tests/support/fgtest.h"

/* The unit's ceiling for `systemd-analyze security` (lower is better). */
#define MAX_EXPOSURE 1.2

/* ---- helpers ---- */

static const char *srcdir(void) {
        const char *s = getenv("FLOODGATE_SRCDIR");
        ck_assert_msg(s != NULL, "FLOODGATE_SRCDIR is not set");
        return s;
}

/* The directory of FLOODGATE_BIN: the build directory. */
static char *builddir(void) {
        const char *bin = getenv("FLOODGATE_BIN");
        char *copy, *dir;

        ck_assert_msg(bin != NULL, "FLOODGATE_BIN is not set");
        copy = strdup(bin);
        dir = strdup(dirname(copy));
        free(copy);
        return dir;
}

static int64_t mono_us(void) { return fg_mono_ns() / 1000; }

/* Runs @p argv (PATH lookup) with @p env applied ("K=V" sets, "K" unsets),
 * stdout and stderr into *@p output. Returns the exit code (128 + signal),
 * or -1 after killing it at @p timeout_ms. */
static int run_cmd(const char *const *argv, const char *const *env, char **output,
                   int timeout_ms) {
        char path[] = "/tmp/fgsd-out.XXXXXX";
        int fd = mkstemp(path), st = 0, rc = -1;
        int64_t deadline = fg_mono_ns() + (int64_t)timeout_ms * FG_NS_PER_MS;
        struct timespec ten_ms = {0, 10 * 1000 * 1000};
        pid_t pid;

        ck_assert(fd >= 0);
        pid = fork();
        ck_assert(pid >= 0);
        if (pid == 0) {
                sigset_t none;
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                for (size_t i = 0; env && env[i]; i++) {
                        const char *eq = strchr(env[i], '=');
                        if (eq) {
                                char *name = strndup(env[i], (size_t)(eq - env[i]));
                                setenv(name, eq + 1, 1);
                        } else {
                                unsetenv(env[i]);
                        }
                }
                dup2(fd, STDOUT_FILENO);
                dup2(fd, STDERR_FILENO);
                close(fd);
                execvp(argv[0], (char *const *)argv);
                fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        close(fd);
        for (;;) {
                pid_t r = waitpid(pid, &st, WNOHANG);
                if (r == pid) {
                        rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                        break;
                }
                if (fg_mono_ns() >= deadline) {
                        kill(pid, SIGKILL);
                        waitpid(pid, &st, 0);
                        break;
                }
                nanosleep(&ten_ms, NULL);
        }
        if (output)
                *output = fg_test_slurp(path, NULL);
        unlink(path);
        return rc;
}

/* make -C <src> <args...> against this test's build directory, without the
 * outer make's flags (jobserver descriptors are not ours). The built files
 * are taken as they are (-o): installing must not rebuild anything. */
static int run_make(const char *const *args, char **output) {
        char *bdir = builddir(), build[600], bin[600], plugin[600];
        const char *san = getenv("FLOODGATE_SAN");
        char sanarg[64];
        const char *argv[32] = {"make", "--no-print-directory", "-C", srcdir()};
        const char *env[] = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", NULL};
        size_t n = 4;
        int rc;

        snprintf(build, sizeof(build), "BUILD=%s", bdir);
        snprintf(sanarg, sizeof(sanarg), "SAN=%s", san ? san : "");
        snprintf(bin, sizeof(bin), "%s/floodgate", bdir);
        snprintf(plugin, sizeof(plugin), "%s/plugins/example_plugin.so", bdir);
        argv[n++] = build;
        argv[n++] = sanarg;
        argv[n++] = "-o";
        argv[n++] = bin;
        argv[n++] = "-o";
        argv[n++] = plugin;
        for (size_t i = 0; args[i] && n < 31; i++)
                argv[n++] = args[i];
        argv[n] = NULL;
        rc = run_cmd(argv, env, output, 120000);
        free(bdir);
        return rc;
}

static bool is_file(const char *path, mode_t want_mode) {
        struct stat st;
        return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
               (want_mode == 0 || (st.st_mode & 07777) == want_mode);
}

static bool files_equal(const char *a, const char *b) {
        size_t na, nb;
        char *x = fg_test_slurp(a, &na), *y = fg_test_slurp(b, &nb);
        bool eq = x && y && na == nb && !memcmp(x, y, na);
        free(x);
        free(y);
        return eq;
}

/* Installs into a fresh DESTDIR with PREFIX=/usr (and @p bindir, if not
 * NULL); returns the DESTDIR. */
static char *install_tree(const char *bindir) {
        char *dest = fg_test_tmpdir(), destarg[600], binarg[600], *out = NULL;
        const char *args[] = {"install", destarg, "PREFIX=/usr", bindir ? binarg : NULL, NULL};
        int rc;

        snprintf(destarg, sizeof(destarg), "DESTDIR=%s", dest);
        snprintf(binarg, sizeof(binarg), "BINDIR=%s", bindir ? bindir : "");
        rc = run_make(args, &out);
        ck_assert_msg(rc == 0, "make install failed (%d):\n%s", rc, out);
        free(out);
        return dest;
}

/* ---- the manager's side of the notification protocol ---- */

static int notify_bind(const char *path) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        ck_assert(fd >= 0);
        ck_assert(strlen(path) < sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        ck_assert_msg(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind %s: %s", path,
                      strerror(errno));
        return fd;
}

/* One datagram within @p timeout_ms, NUL-terminated (caller frees); NULL on
 * timeout. */
static char *notify_recv(int fd, int timeout_ms) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        char buf[4096];
        ssize_t n;

        if (poll(&pfd, 1, timeout_ms < 0 ? 0 : timeout_ms) <= 0)
                return NULL;
        n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
        if (n < 0)
                return NULL;
        buf[n] = '\0';
        return strdup(buf);
}

/* The value of VAR in a notification ("A=1\nVAR=x\n..."), or NULL. */
static char *notify_var(const char *msg, const char *var) {
        size_t vlen = strlen(var);

        for (const char *line = msg; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
                size_t len = strcspn(line, "\n");
                if (len > vlen && !strncmp(line, var, vlen) && line[vlen] == '=')
                        return strndup(line + vlen + 1, len - vlen - 1);
        }
        return NULL;
}

static bool notify_has(const char *msg, const char *var, const char *value) {
        char *v = notify_var(msg, var);
        bool yes = v && (!value || !strcmp(v, value));
        free(v);
        return yes;
}

/* Reads notifications until one sets @p var (to @p value, if not NULL),
 * within @p timeout_ms overall; counts WATCHDOG=1 pings seen on the way
 * (the match included) into *@p pings. Returns the match or NULL. */
static char *notify_wait(int fd, const char *var, const char *value, int timeout_ms, int *pings) {
        int64_t deadline = fg_mono_ns() + (int64_t)timeout_ms * FG_NS_PER_MS;

        for (;;) {
                int left = (int)((deadline - fg_mono_ns()) / FG_NS_PER_MS);
                char *msg = notify_recv(fd, left);
                if (!msg)
                        return NULL;
                if (pings && notify_has(msg, "WATCHDOG", "1"))
                        (*pings)++;
                if (notify_has(msg, var, value))
                        return msg;
                free(msg);
        }
}

/* Everything already queued; returns the WATCHDOG=1 pings among it. */
static int notify_drain(int fd) {
        int pings = 0;
        char *msg;

        while ((msg = notify_recv(fd, 0))) {
                pings += notify_has(msg, "WATCHDOG", "1");
                free(msg);
        }
        return pings;
}

/* ---- the protocol, in-process ---- */

START_TEST(test_systemd_notify_path_socket) {
        char *dir = fg_test_tmpdir(), *path = fg_test_path(dir, "notify.sock"), errstr[256], *msg;
        int fd = notify_bind(path);
        fg_notify_t *n;

        setenv("NOTIFY_SOCKET", path, 1);
        unsetenv("WATCHDOG_USEC");
        unsetenv("WATCHDOG_PID");
        n = fg_notify_open(errstr, sizeof(errstr));
        ck_assert_msg(n != NULL, "%s", errstr);
        ck_assert_uint_eq(fg_notify_watchdog_usec(n), 0);
        ck_assert_int_eq(fg_notify_send(n, "READY=1\nSTATUS=%s %d", "up", 42), 1);
        msg = notify_recv(fd, 5000);
        ck_assert_str_eq(msg, "READY=1\nSTATUS=up 42");
        free(msg);
        /* Longer than the stack buffer. */
        {
                char big[3000];
                memset(big, 'x', sizeof(big) - 1);
                big[sizeof(big) - 1] = '\0';
                ck_assert_int_eq(fg_notify_send(n, "STATUS=%s", big), 1);
                msg = notify_recv(fd, 5000);
                ck_assert(msg && strlen(msg) == 7 + sizeof(big) - 1 && !strncmp(msg, "STATUS=xxx", 10));
                free(msg);
        }
        fg_notify_close(n);
        close(fd);
        fg_test_rmtree(dir);
        free(path), free(dir);
}
END_TEST

START_TEST(test_systemd_notify_abstract_socket) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        char name[64], env[80], errstr[256], *msg;
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        size_t len;
        fg_notify_t *n;

        snprintf(name, sizeof(name), "floodgate-test-%ld-%lld", (long)getpid(),
                 (long long)fg_mono_ns());
        len = strlen(name);
        memcpy(sa.sun_path + 1, name, len);
        ck_assert(bind(fd, (struct sockaddr *)&sa,
                       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)) == 0);
        snprintf(env, sizeof(env), "@%s", name);
        setenv("NOTIFY_SOCKET", env, 1);
        setenv("WATCHDOG_USEC", "30000000", 1);
        unsetenv("WATCHDOG_PID");
        n = fg_notify_open(errstr, sizeof(errstr));
        ck_assert_msg(n != NULL, "%s", errstr);
        ck_assert_uint_eq(fg_notify_watchdog_usec(n), 30000000);
        ck_assert_int_eq(fg_notify_send(n, "WATCHDOG=1"), 1);
        msg = notify_recv(fd, 5000);
        ck_assert_str_eq(msg, "WATCHDOG=1");
        free(msg);
        fg_notify_close(n);
        close(fd);
}
END_TEST

START_TEST(test_systemd_notify_unset_or_unusable) {
        char errstr[256] = "x";

        unsetenv("NOTIFY_SOCKET");
        ck_assert(fg_notify_open(errstr, sizeof(errstr)) == NULL);
        ck_assert_str_eq(errstr, "");
        setenv("NOTIFY_SOCKET", "", 1);
        ck_assert(fg_notify_open(errstr, sizeof(errstr)) == NULL);
        ck_assert_str_eq(errstr, "");
        /* Every call takes NULL. */
        ck_assert_int_eq(fg_notify_send(NULL, "READY=1"), 0);
        ck_assert_uint_eq(fg_notify_watchdog_usec(NULL), 0);
        fg_notify_close(NULL);

        setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
        ck_assert(fg_notify_open(errstr, sizeof(errstr)) == NULL);
        ck_assert_msg(strstr(errstr, "only /path and @abstract"), "%s", errstr);
        setenv("NOTIFY_SOCKET", "relative/path", 1);
        ck_assert(fg_notify_open(errstr, sizeof(errstr)) == NULL);
        {
                char longpath[200];
                memset(longpath, 'a', sizeof(longpath) - 1);
                longpath[0] = '/';
                longpath[sizeof(longpath) - 1] = '\0';
                setenv("NOTIFY_SOCKET", longpath, 1);
                ck_assert(fg_notify_open(errstr, sizeof(errstr)) == NULL);
                ck_assert_msg(strstr(errstr, "too long"), "%s", errstr);
        }
        setenv("NOTIFY_SOCKET", "@", 1);
        ck_assert(fg_notify_open(errstr, sizeof(errstr)) == NULL);
}
END_TEST

START_TEST(test_systemd_watchdog_interval_rules) {
        pid_t me = getpid();
        char mine[32], other[32];

        snprintf(mine, sizeof(mine), "%ld", (long)me);
        snprintf(other, sizeof(other), "%ld", (long)me + 1);
        ck_assert_uint_eq(fg_notify_parse_watchdog(NULL, NULL, me), 0);
        ck_assert_uint_eq(fg_notify_parse_watchdog("", NULL, me), 0);
        ck_assert_uint_eq(fg_notify_parse_watchdog("30000000", NULL, me), 30000000);
        ck_assert_uint_eq(fg_notify_parse_watchdog("30000000", "", me), 30000000);
        ck_assert_uint_eq(fg_notify_parse_watchdog("30000000", mine, me), 30000000);
        ck_assert_uint_eq(fg_notify_parse_watchdog("30000000", other, me), 0);
        ck_assert_uint_eq(fg_notify_parse_watchdog("30000000", "12x", me), 0);
        ck_assert_uint_eq(fg_notify_parse_watchdog("0", NULL, me), 0);
        ck_assert_uint_eq(fg_notify_parse_watchdog("-5", NULL, me), 0);
        ck_assert_uint_eq(fg_notify_parse_watchdog("30s", NULL, me), 0);
        ck_assert_uint_eq(fg_notify_parse_watchdog("99999999999999999999999", NULL, me), 0);
}
END_TEST

/* A send that fails is logged once per run of failures, and recovery once. */
START_TEST(test_systemd_notify_failure_logged_once) {
        char *dir = fg_test_tmpdir(), *path = fg_test_path(dir, "late.sock"),
             *log = fg_test_path(dir, "stderr.log"), errstr[256], *text;
        int logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644), fd;
        fg_notify_t *n;

        ck_assert(logfd >= 0);
        setenv("NOTIFY_SOCKET", path, 1);
        n = fg_notify_open(errstr, sizeof(errstr));
        ck_assert_msg(n != NULL, "%s", errstr);
        dup2(logfd, STDERR_FILENO);
        ck_assert_int_eq(fg_notify_send(n, "STATUS=a"), -1); /* nobody listens yet */
        ck_assert_int_eq(fg_notify_send(n, "STATUS=b"), -1);
        ck_assert_int_eq(fg_notify_send(n, "STATUS=c"), -1);
        fd = notify_bind(path);
        ck_assert_int_eq(fg_notify_send(n, "STATUS=d"), 1);
        unlink(path);
        ck_assert_int_eq(fg_notify_send(n, "STATUS=e"), -1);
        ck_assert_uint_eq(fg_notify_failures(n), 4);
        text = fg_test_slurp(log, NULL);
        ck_assert(text != NULL);
        {
                int warned = 0;
                for (const char *p = text; (p = strstr(p, "cannot send to")); p++)
                        warned++;
                ck_assert_msg(warned == 2, "expected 2 warnings, log:\n%s", text);
        }
        ck_assert_msg(strstr(text, "works again (3 notifications lost)"), "log:\n%s", text);
        free(text);
        fg_notify_close(n);
        close(fd);
        close(logfd);
        fg_test_rmtree(dir);
        free(path), free(log), free(dir);
}
END_TEST

/* ---- the daemon ---- */

/* Starts `floodgate run -c @p cfg` with NOTIFY_SOCKET=@p sock and
 * WATCHDOG_USEC=@p watchdog_usec (0: unset). */
static fg_test_proc_t *spawn_notified(const char *log, const char *cfg, const char *sock,
                                      const char *watchdog_usec) {
        const char *args[] = {"run", "-c", cfg, NULL};
        fg_test_proc_t *p;

        setenv("NOTIFY_SOCKET", sock, 1);
        if (watchdog_usec)
                setenv("WATCHDOG_USEC", watchdog_usec, 1);
        else
                unsetenv("WATCHDOG_USEC");
        unsetenv("WATCHDOG_PID");
        p = fg_test_spawn(log, args);
        unsetenv("NOTIFY_SOCKET");
        unsetenv("WATCHDOG_USEC");
        return p;
}

START_TEST(test_systemd_notify_lifecycle) {
        char *dir = fg_test_tmpdir(), *sock = fg_test_path(dir, "notify.sock"),
             *log = fg_test_path(dir, "daemon.log"), *msg, *v, pidstr[32];
        char *cfg = fg_test_write(dir, "fg.yaml",
                                  "kafka:\n"
                                  "  brokers: mock\n"
                                  "  topics: [events]\n"
                                  "sink:\n"
                                  "  type: null\n"
                                  "metrics:\n"
                                  "  listen: \"127.0.0.1:0\"\n"
                                  "shutdown:\n"
                                  "  timeout: 5s\n"
                                  "burst:\n"
                                  "  count: 1000000\n"
                                  "  rate: 2000\n");
        int fd = notify_bind(sock), pings = 0;
        int64_t before, after, stamp;
        fg_test_proc_t *p = spawn_notified(log, cfg, sock, "500000");

        /* READY=1 with our pid and a status, once the pipeline runs. */
        msg = notify_wait(fd, "READY", "1", 30000, &pings);
        ck_assert_msg(msg != NULL, "no READY=1; log: %s", log);
        snprintf(pidstr, sizeof(pidstr), "%ld", (long)p->pid);
        ck_assert_msg(notify_has(msg, "MAINPID", pidstr), "READY without MAINPID=%s: %s", pidstr,
                      msg);
        v = notify_var(msg, "STATUS");
        ck_assert_msg(v && strstr(v, "running:") && strstr(v, "null sink"), "status: %s", v);
        free(v);
        free(msg);
        ck_assert(fg_test_wait_file_contains(log, "watchdog: pinging systemd every 250 ms", 5000));

        /* Pings keep coming: three more within a few intervals each. */
        for (int i = 0; i < 3; i++) {
                msg = notify_wait(fd, "WATCHDOG", "1", 2000, NULL);
                ck_assert_msg(msg != NULL, "ping %d did not come", i);
                free(msg);
        }

        /* A periodic STATUS= summary (not the READY one). */
        pings = 0;
        msg = notify_wait(fd, "STATUS", NULL, 3 * 1000 * (5 + 2), &pings);
        ck_assert(msg != NULL);
        ck_assert(!notify_has(msg, "READY", NULL));
        v = notify_var(msg, "STATUS");
        ck_assert_msg(!strncmp(v, "in ", 3) && strstr(v, "/s out ") && strstr(v, "/s | queue ") &&
                          strstr(v, "% | lag ") && strstr(v, " | breaker closed"),
                      "status: %s", v);
        free(v);
        free(msg);
        ck_assert_msg(pings >= 2, "only %d pings while waiting for STATUS", pings);

        /* SIGHUP: RELOADING=1 stamped with CLOCK_MONOTONIC, then READY=1. */
        before = mono_us();
        fg_test_proc_signal(p, SIGHUP);
        msg = notify_wait(fd, "RELOADING", "1", 10000, NULL);
        after = mono_us();
        ck_assert(msg != NULL);
        v = notify_var(msg, "MONOTONIC_USEC");
        ck_assert_msg(v != NULL, "RELOADING=1 without MONOTONIC_USEC: %s", msg);
        stamp = strtoll(v, NULL, 10);
        ck_assert_msg(stamp >= before && stamp <= after, "MONOTONIC_USEC %lld not in [%lld, %lld]",
                      (long long)stamp, (long long)before, (long long)after);
        free(v);
        free(msg);
        msg = notify_wait(fd, "READY", "1", 10000, NULL);
        ck_assert_msg(msg != NULL, "no READY=1 after the reload");
        ck_assert(notify_has(msg, "STATUS", NULL));
        free(msg);
        msg = notify_wait(fd, "WATCHDOG", "1", 2000, NULL);
        ck_assert_msg(msg != NULL, "pings stopped after the reload");
        free(msg);

        /* A rejected reload: still READY=1 afterwards. */
        free(fg_test_write(dir, "fg.yaml", "kafka: [\n"));
        fg_test_proc_signal(p, SIGHUP);
        msg = notify_wait(fd, "RELOADING", "1", 10000, NULL);
        ck_assert(msg != NULL);
        free(msg);
        msg = notify_wait(fd, "READY", "1", 10000, NULL);
        ck_assert_msg(msg != NULL, "no READY=1 after a rejected reload");
        free(msg);
        ck_assert(fg_test_wait_file_contains(log, "rejected; still running", 5000));

        /* SIGTERM: STOPPING=1 as the drain begins, then exit 0. */
        fg_test_proc_signal(p, SIGTERM);
        msg = notify_wait(fd, "STOPPING", "1", 10000, NULL);
        ck_assert_msg(msg != NULL, "no STOPPING=1");
        v = notify_var(msg, "EXTEND_TIMEOUT_USEC");
        ck_assert_msg(v && strtoll(v, NULL, 10) >= 5000000, "EXTEND_TIMEOUT_USEC: %s", v);
        free(v);
        free(msg);
        ck_assert_int_eq(fg_test_proc_wait(p, 30000), 0);

        fg_test_proc_free(p);
        close(fd);
        fg_test_rmtree(dir);
        free(cfg), free(log), free(sock), free(dir);
}
END_TEST

/* Without NOTIFY_SOCKET nothing changes: no socket, no watchdog lines. */
START_TEST(test_systemd_no_notify_socket) {
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "daemon.log");
        char *cfg = fg_test_write(dir, "fg.yaml",
                                  "kafka: {brokers: mock, topics: [events]}\n"
                                  "sink: {type: null}\n"
                                  "metrics: {listen: \"127.0.0.1:0\"}\n");
        const char *args[] = {"run", "-c", cfg, NULL};
        fg_test_proc_t *p;

        unsetenv("NOTIFY_SOCKET");
        setenv("WATCHDOG_USEC", "500000", 1);
        p = fg_test_spawn(log, args);
        unsetenv("WATCHDOG_USEC");
        ck_assert(fg_test_wait_file_contains(log, "running: group", 30000));
        fg_test_proc_signal(p, SIGTERM);
        ck_assert_int_eq(fg_test_proc_wait(p, 30000), 0);
        ck_assert(!fg_test_file_contains(log, "watchdog"));
        ck_assert(!fg_test_file_contains(log, "notify"));
        fg_test_proc_free(p);
        fg_test_rmtree(dir);
        free(cfg), free(log), free(dir);
}
END_TEST

static int healthz(int port) { return fg_test_http(port, "GET", "/healthz", NULL); }

/* A worker blocked in write(2) on a FIFO nobody reads: once it has been in
 * that sink call longer than metrics.stall_timeout, the pings stop; when the
 * reader goes away (EPIPE) the pool recovers and they resume. */
START_TEST(test_systemd_watchdog_stops_when_wedged) {
        char *dir = fg_test_tmpdir(), *sock = fg_test_path(dir, "notify.sock"),
             *log = fg_test_path(dir, "daemon.log"), *fifo = fg_test_path(dir, "sink.fifo"), *msg,
             *cfg;
        int fd = notify_bind(sock), rfd, port, pings_before = 0, status = 0;
        int64_t deadline;
        fg_test_proc_t *p;

        ck_assert(mkfifo(fifo, 0600) == 0);
        /* Keeps the FIFO openable for writing; never read. */
        rfd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        ck_assert(rfd >= 0);
        cfg = fg_test_write(dir, "fg.yaml",
                            "kafka:\n"
                            "  brokers: mock\n"
                            "  topics: [events]\n"
                            "workers:\n"
                            "  size: 2\n"
                            "sink:\n"
                            "  type: file\n"
                            "  path: \"%s\"\n"
                            "metrics:\n"
                            "  listen: \"127.0.0.1:0\"\n"
                            "  stall_timeout: 1s\n"
                            "shutdown:\n"
                            "  timeout: 2s\n"
                            "burst:\n"
                            "  count: 20000\n"
                            "  size: 512\n",
                            fifo);
        p = spawn_notified(log, cfg, sock, "500000");
        msg = notify_wait(fd, "READY", "1", 30000, &pings_before);
        ck_assert_msg(msg != NULL, "no READY=1");
        free(msg);
        port = fg_test_admin_port(log, 20000);
        ck_assert(port > 0);

        /* Until /healthz says the pool is wedged (pipe full, write blocked). */
        deadline = fg_mono_ns() + 60 * FG_NS_PER_S;
        while ((status = healthz(port)) == 200 && fg_mono_ns() < deadline) {
                char *m = notify_recv(fd, 50);
                if (m) {
                        pings_before += notify_has(m, "WATCHDOG", "1");
                        free(m);
                }
        }
        ck_assert_msg(status == 503, "/healthz never reported the stall (last %d)", status);
        /* The view that said 503 was taken on the loop thread, the same one
         * that pings: every ping sent before it is queued by now. */
        pings_before += notify_drain(fd);
        ck_assert_msg(pings_before >= 2, "only %d pings before the stall", pings_before);

        /* No ping for 2 s after the stall was reached. */
        deadline = fg_mono_ns() + 2 * FG_NS_PER_S;
        while (fg_mono_ns() < deadline) {
                char *m = notify_recv(fd, (int)((deadline - fg_mono_ns()) / FG_NS_PER_MS));
                if (!m)
                        continue;
                ck_assert_msg(!notify_has(m, "WATCHDOG", "1"), "a ping while wedged: %s", m);
                free(m);
        }
        ck_assert(fg_test_file_contains(log, "not pinging systemd"));
        ck_assert_int_eq(healthz(port), 503);

        /* Recovery: without a reader the blocked write fails (EPIPE), the
         * batch is retried, no call is stuck any more: pings resume. */
        close(rfd);
        msg = notify_wait(fd, "WATCHDOG", "1", 20000, NULL);
        ck_assert_msg(msg != NULL, "pings did not resume");
        free(msg);
        ck_assert(fg_test_wait_file_contains(log, "healthy again; pinging systemd again", 5000));

        fg_test_proc_signal(p, SIGTERM);
        ck_assert_int_eq(fg_test_proc_wait(p, 30000), 0);
        fg_test_proc_free(p);
        close(fd);
        fg_test_rmtree(dir);
        free(cfg), free(fifo), free(log), free(sock), free(dir);
}
END_TEST

/* ---- the unit ---- */

/* The units `make install` renders from systemd/floodgate.service.in. */
static const char *const units[] = {"floodgate.service", "floodgate@.service"};
#define NUNITS (sizeof(units) / sizeof(units[0]))

/* `systemd-analyze verify` on each unit `make install` renders (the
 * template as systemd instantiates it for checks), with BINDIR pointing at
 * the built binary (verify checks every Exec*= path) and MANPATH at the
 * installed pages (it checks Documentation=man:...). */
START_TEST(test_systemd_unit_verify) {
        char *bdir = builddir(), *dest = install_tree(bdir), unit[800], manpath[700], *out = NULL,
             *bad = NULL;
        const char *argv[] = {"systemd-analyze", "verify", unit, NULL};
        const char *env_err[] = {"SYSTEMD_LOG_LEVEL=err", manpath, NULL};
        const char *env_info[] = {"SYSTEMD_LOG_LEVEL=info", manpath, NULL};
        int rc;

        snprintf(manpath, sizeof(manpath), "MANPATH=%s/usr/share/man", dest);
        for (size_t i = 0; i < NUNITS; i++) {
                snprintf(unit, sizeof(unit), "%s/usr/lib/systemd/system/%s", dest, units[i]);
                rc = run_cmd(argv, env_err, &out, 60000);
                ck_assert_msg(rc == 0 && out && !*out, "verify %s (err) exit %d:\n%s", units[i], rc,
                              out);
                free(out);
                /* Warnings too (unknown keys and bad values are warnings). */
                rc = run_cmd(argv, env_info, &out, 60000);
                ck_assert_msg(rc == 0 && out && !*out, "verify %s (info) exit %d:\n%s", units[i],
                              rc, out);
                free(out);
        }

        /* The same check does catch problems here: a unit with an unknown
         * key and a missing binary. */
        {
                char *text = fg_test_slurp(unit, NULL), *p;
                FILE *fp;
                ck_assert(text && (p = strstr(text, "[Service]\n")));
                fp = fopen(unit, "w");
                ck_assert(fp != NULL);
                fprintf(fp, "%.*s[Service]\nProtectFrobs=yes\nExecStartPre=/nonexistent/floodgate\n%s",
                        (int)(p - text), text, p + strlen("[Service]\n"));
                fclose(fp);
                free(text);
                rc = run_cmd(argv, env_info, &bad, 60000);
                ck_assert_msg(rc != 0 && strstr(bad, "Unknown key") &&
                                  strstr(bad, "/nonexistent/floodgate"),
                              "verify missed a broken unit (%d):\n%s", rc, bad);
                free(bad);
        }
        fg_test_rmtree(dest);
        free(dest), free(bdir);
}
END_TEST

START_TEST(test_systemd_security_exposure) {
        char *bdir = builddir(), *dest = install_tree(bdir), unit[800], *out = NULL, *p;
        const char *argv[] = {"systemd-analyze", "security", "--offline=yes", "--no-pager", unit,
                              NULL};
        const char *env[] = {"SYSTEMD_COLORS=0", "LC_ALL=C.UTF-8", NULL};
        int rc;

        for (size_t i = 0; i < NUNITS; i++) {
                /* A template is rated as its instance "i". */
                char label[128];
                double exposure = -1;
                snprintf(unit, sizeof(unit), "%s/usr/lib/systemd/system/%s", dest, units[i]);
                snprintf(label, sizeof(label), "Overall exposure level for %.*s%s: ",
                         (int)strcspn(units[i], "."), units[i],
                         strchr(units[i], '@') ? "i.service" : ".service");
                rc = run_cmd(argv, env, &out, 60000);
                ck_assert_msg(rc == 0, "security %s exit %d:\n%s", units[i], rc, out);
                p = strstr(out, label);
                ck_assert_msg(p != NULL, "no '%s' in:\n%s", label, out);
                ck_assert(sscanf(p + strlen(label), "%lf", &exposure) == 1);
                printf("systemd-analyze security --offline=yes %s: overall exposure %.1f (limit %.1f)\n",
                       units[i], exposure, MAX_EXPOSURE);
                for (char *line = out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
                        if (i == 0 && !strncmp(line, "\xe2\x9c\x97", 3)) /* the rows that cost */
                                printf("  %.*s\n", (int)strcspn(line, "\n"), line);
                fflush(stdout);
                ck_assert_msg(exposure >= 0 && exposure <= MAX_EXPOSURE + 1e-9, "%s: exposure %.1f > %.1f",
                              units[i], exposure, MAX_EXPOSURE);
                free(out);
        }
        fg_test_rmtree(dest);
        free(dest), free(bdir);
}
END_TEST

/* The template differs from the plain unit only where an instance must:
 * its configuration, secrets and state directory, and its description.
 * Every other line — the sandbox, the system call filter that
 * test_systemd_syscalls_allowed traces the daemon against, the restart and
 * watchdog policy — is the same text, so those checks cover both. */
START_TEST(test_systemd_template_same_sandbox) {
        char *dest = install_tree(NULL), path[900], *plain, *tmpl;
        static const char *const differ[] = {"# floodgate", "Description=", "ExecStart=",
                                             "ExecReload=", "StateDirectory=",
                                             "EnvironmentFile=-/etc/floodgate/%i.env"};
        char *pv[256], *tv[256];
        size_t np = 0, nt = 0;

        snprintf(path, sizeof(path), "%s/usr/lib/systemd/system/floodgate.service", dest);
        plain = fg_test_slurp(path, NULL);
        snprintf(path, sizeof(path), "%s/usr/lib/systemd/system/floodgate@.service", dest);
        tmpl = fg_test_slurp(path, NULL);
        ck_assert(plain && tmpl);
        ck_assert(strstr(tmpl, "\nExecStart=/usr/bin/floodgate run -c /etc/floodgate/%i.yaml\n"));
        ck_assert(strstr(tmpl, "\nExecReload=/usr/bin/floodgate check-config -c /etc/floodgate/%i.yaml\n"));
        ck_assert(strstr(tmpl, "\nEnvironmentFile=-/etc/floodgate/env\nEnvironmentFile=-/etc/floodgate/%i.env\n"));
        ck_assert(strstr(tmpl, "\nStateDirectory=floodgate-%i\n"));
        ck_assert(strstr(tmpl, "\nDescription=floodgate %i: "));
        ck_assert(!strstr(plain, "%i") && !strstr(plain, "@INSTANCE_ENV@"));
        /* The stop signal for floodgate alone: it stops its children. */
        ck_assert(strstr(plain, "\nKillMode=mixed\n"));
        for (char *which = plain; which; which = which == plain ? tmpl : NULL) {
                char **v = which == plain ? pv : tv;
                size_t *n = which == plain ? &np : &nt;
                for (char *line = strtok(which, "\n"); line; line = strtok(NULL, "\n")) {
                        bool skip = false;
                        for (size_t i = 0; i < sizeof(differ) / sizeof(differ[0]); i++)
                                skip |= !strncmp(line, differ[i], strlen(differ[i]));
                        if (!skip) {
                                ck_assert(*n < 256);
                                v[(*n)++] = line;
                        }
                }
        }
        ck_assert_uint_eq(np, nt);
        ck_assert_uint_gt(np, 50);
        for (size_t i = 0; i < np; i++)
                ck_assert_msg(!strcmp(pv[i], tv[i]), "the units differ:\n  %s\n  %s", pv[i], tv[i]);
        free(plain), free(tmpl);
        fg_test_rmtree(dest);
        free(dest);
}
END_TEST

/* ProcSubset=pid and ProtectProc=invisible, emulated: the daemon in its own
 * mount namespace with /proc mounted subset=pid,hidepid=invisible, as
 * systemd would. /stats must still report RSS, threads and open fds (read
 * from /proc/self/status, /proc/self/task and /proc/self/fd). */
START_TEST(test_systemd_procsubset_pid) {
        char *dir = fg_test_tmpdir(), *log = fg_test_path(dir, "daemon.log"), *body = NULL;
        char *cfg = fg_test_write(dir, "fg.yaml",
                                  "kafka: {brokers: mock, topics: [events]}\n"
                                  "sink: {type: null}\n"
                                  "metrics: {listen: \"127.0.0.1:0\"}\n");
        const char *bin = getenv("FLOODGATE_BIN");
        json_t *doc, *proc;
        int port, st, status;
        pid_t pid = fork();

        ck_assert(pid >= 0);
        if (pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                dup2(fd, STDOUT_FILENO);
                dup2(fd, STDERR_FILENO);
                if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
                        _exit(90);
                if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                          "hidepid=invisible,subset=pid"))
                        _exit(91);
                if (access("/proc/meminfo", F_OK) == 0)
                        _exit(92); /* subset=pid did not take */
                execl(bin, bin, "run", "-c", cfg, (char *)NULL);
                _exit(127);
        }
        port = fg_test_admin_port(log, 20000);
        if (port < 0 && waitpid(pid, &st, WNOHANG) == pid && WIFEXITED(st) &&
            WEXITSTATUS(st) >= 90 && WEXITSTATUS(st) <= 92) {
                /* Not a floodgate problem: this machine cannot build the
                 * namespace (no CAP_SYS_ADMIN, or a kernel before 5.8). */
                printf("test_systemd_procsubset_pid: SKIPPED: cannot mount a subset=pid /proc "
                       "here (step %d)\n", WEXITSTATUS(st));
                fg_test_rmtree(dir);
                free(cfg), free(log), free(dir);
                return;
        }
        ck_assert_msg(port > 0, "the daemon did not start under subset=pid");
        status = fg_test_http(port, "GET", "/stats", &body);
        ck_assert_int_eq(status, 200);
        doc = json_loads(body, 0, NULL);
        ck_assert(doc != NULL);
        proc = json_object_get(doc, "process");
        ck_assert_msg(json_integer_value(json_object_get(proc, "rss_bytes")) > 0, "%s", body);
        ck_assert_msg(json_integer_value(json_object_get(proc, "peak_rss_bytes")) > 0, "%s", body);
        ck_assert_msg(json_integer_value(json_object_get(proc, "threads")) > 1, "%s", body);
        ck_assert_msg(json_integer_value(json_object_get(proc, "open_fds")) > 2, "%s", body);
        json_decref(doc);
        free(body);
        ck_assert_int_eq(fg_test_http(port, "GET", "/healthz", NULL), 200);
        kill(pid, SIGTERM);
        ck_assert(waitpid(pid, &st, 0) == pid);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
        fg_test_rmtree(dir);
        free(cfg), free(log), free(dir);
}
END_TEST

/* ---- system calls against the unit's filters ---- */

typedef struct strset {
        char **v;
        size_t n, cap;
} strset_t;

static bool strset_has(const strset_t *s, const char *x) {
        for (size_t i = 0; i < s->n; i++)
                if (!strcmp(s->v[i], x))
                        return true;
        return false;
}

static void strset_add(strset_t *s, const char *x) {
        if (strset_has(s, x))
                return;
        if (s->n == s->cap) {
                s->cap = s->cap ? 2 * s->cap : 64;
                s->v = realloc(s->v, s->cap * sizeof(*s->v));
                ck_assert(s->v != NULL);
        }
        s->v[s->n++] = strdup(x);
}

static void strset_free(strset_t *s) {
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i]);
        free(s->v);
}

/* The system calls of a filter set, groups expanded, as this machine's
 * systemd defines them. */
static void syscall_group(const char *group, strset_t *out, int depth) {
        const char *argv[] = {"systemd-analyze", "syscall-filter", "--no-pager", group, NULL};
        char *text = NULL;

        ck_assert(depth < 8);
        ck_assert_int_eq(run_cmd(argv, NULL, &text, 30000), 0);
        for (char *line = strchr(text, '\n'); line && *line; line = strchr(line + 1, '\n')) {
                char name[64];
                if (sscanf(line + 1, " %63s", name) != 1 || name[0] == '#')
                        continue;
                if (name[0] == '@')
                        syscall_group(name, out, depth + 1);
                else
                        strset_add(out, name);
        }
        free(text);
}

/* RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX the way systemd applies
 * it: a seccomp filter on socket(2) whose first argument is any other
 * family fails with EAFNOSUPPORT. Installed in a child before exec, with
 * NoNewPrivileges=yes. Returns 0, or -1 where this test knows no native
 * audit arch. */
static int restrict_address_families(void) {
#if defined(__x86_64__)
        const unsigned arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
        const unsigned arch = AUDIT_ARCH_AARCH64;
#else
        const unsigned arch = 0;
#endif
        struct sock_filter filter[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 1, 0),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 3, 0),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET, 2, 0),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET6, 1, 0),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EAFNOSUPPORT & SECCOMP_RET_DATA)),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};

        if (!arch || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
                return -1;
        return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/* One strace output line: "name(args) = ret". */
static void check_traced_call(const char *line, const strset_t *allowed, const strset_t *denied,
                              strset_t *used, strset_t *refused, char *why, size_t why_size) {
        char name[64];
        size_t len = strspn(line, "abcdefghijklmnopqrstuvwxyz0123456789_");
        const char *args = line + len + 1;

        if (!len || line[len] != '(' || len >= sizeof(name))
                return;
        memcpy(name, line, len);
        name[len] = '\0';
        strset_add(used, name);
        if (!strcmp(name, "socket") && strncmp(args, "AF_INET,", 8) &&
            strncmp(args, "AF_INET6,", 9) && strncmp(args, "AF_UNIX,", 8)) {
                /* Refused by the filter; the daemon must have lived with it. */
                if (!strstr(line, "= -1 EAFNOSUPPORT") && !why[0])
                        snprintf(why, why_size, "RestrictAddressFamilies= not applied: %s", line);
                strset_add(refused, line);
                return;
        }
        if (why[0])
                return;
        if (!strset_has(allowed, name) || strset_has(denied, name))
                snprintf(why, why_size, "SystemCallFilter= would refuse: %s", line);
        else if ((!strcmp(name, "mprotect") || !strcmp(name, "pkey_mprotect")) &&
                 strstr(line, "PROT_EXEC"))
                snprintf(why, why_size, "MemoryDenyWriteExecute= would refuse: %s", line);
        else if ((!strcmp(name, "mmap") || !strcmp(name, "mmap2")) && strstr(line, "PROT_WRITE") &&
                 strstr(line, "PROT_EXEC"))
                snprintf(why, why_size, "MemoryDenyWriteExecute= would refuse: %s", line);
}

/* The daemon, traced by strace under an enforced RestrictAddressFamilies=,
 * through start, a burst delivered by the plugin sink (dlopen), scrapes, a
 * reload and a drain, notifying a socket of ours: every system call it
 * makes must pass SystemCallFilter=@system-service ~@privileged @resources,
 * every mapping MemoryDenyWriteExecute=, and whatever socket family it is
 * refused it must do without. Sanitizer runtimes make calls the shipped
 * binary does not, so this runs on plain builds only. */
START_TEST(test_systemd_syscalls_allowed) {
        const char *san = getenv("FLOODGATE_SAN"), *plugdir = getenv("FLOODGATE_PLUGIN_DIR"),
                   *bin = getenv("FLOODGATE_BIN");
        char *dir, *sock, *log, *cfg, *out, *msg, *mainpid, trace[600], why[1024] = "";
        strset_t allowed = {0}, denied = {0}, used = {0}, refused = {0};
        fg_test_proc_t *p;
        DIR *d;
        struct dirent *de;
        int fd, port;

        if (san && *san) {
                printf("test_systemd_syscalls_allowed: not run in the %s build (sanitizer "
                       "runtimes make their own system calls)\n", san);
                return;
        }
        ck_assert(plugdir != NULL && bin != NULL);
        dir = fg_test_tmpdir();
        sock = fg_test_path(dir, "notify.sock");
        log = fg_test_path(dir, "daemon.log");
        out = fg_test_path(dir, "out.jsonl");
        cfg = fg_test_write(dir, "fg.yaml",
                            "kafka: {brokers: mock, topics: [events]}\n"
                            "sink:\n"
                            "  type: plugin\n"
                            "  plugin:\n"
                            "    path: \"%s/example_plugin.so\"\n"
                            "    config: {path: \"%s\"}\n"
                            "metrics: {listen: \"127.0.0.1:0\"}\n"
                            "shutdown: {timeout: 5s}\n"
                            "burst: {count: 3000, rate: 3000}\n",
                            plugdir, out);
        snprintf(trace, sizeof(trace), "%s/trace", dir);
        fd = notify_bind(sock);
        p = calloc(1, sizeof(*p));
        ck_assert(p != NULL);
        p->log = strdup(log);
        p->pid = fork();
        ck_assert(p->pid >= 0);
        if (p->pid == 0) {
                int lfd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
                sigset_t none;
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                dup2(lfd, STDOUT_FILENO);
                dup2(lfd, STDERR_FILENO);
                setenv("NOTIFY_SOCKET", sock, 1);
                setenv("WATCHDOG_USEC", "500000", 1);
                if (restrict_address_families()) {
                        fprintf(stderr, "cannot install the socket filter: %s\n", strerror(errno));
                        _exit(126);
                }
                execlp("strace", "strace", "-f", "-ff", "-qq", "-o", trace, bin, "run", "-c", cfg,
                       (char *)NULL);
                fprintf(stderr, "cannot run strace (make deps installs it): %s\n", strerror(errno));
                _exit(127);
        }

        msg = notify_wait(fd, "READY", "1", 60000, NULL);
        ck_assert_msg(msg != NULL, "no READY=1 under strace; log: %s", log);
        mainpid = notify_var(msg, "MAINPID");
        ck_assert(mainpid != NULL);
        free(msg);
        port = fg_test_admin_port(log, 20000);
        ck_assert(port > 0);
        ck_assert_msg(fg_test_wait_lines(out, 3000, 60000), "the burst was not delivered");
        ck_assert_int_eq(fg_test_http(port, "GET", "/metrics", NULL), 200);
        ck_assert_int_eq(fg_test_http(port, "GET", "/healthz", NULL), 200);
        notify_drain(fd);
        kill((pid_t)atol(mainpid), SIGHUP);
        msg = notify_wait(fd, "READY", "1", 10000, NULL);
        ck_assert(msg != NULL);
        free(msg);
        kill((pid_t)atol(mainpid), SIGTERM);
        ck_assert_int_eq(fg_test_proc_wait(p, 60000), 0);

        syscall_group("@system-service", &allowed, 0);
        syscall_group("@privileged", &denied, 0);
        syscall_group("@resources", &denied, 0);
        ck_assert(allowed.n > 100);
        d = opendir(dir);
        ck_assert(d != NULL);
        while ((de = readdir(d))) {
                char path[900], *text;
                if (strncmp(de->d_name, "trace.", 6))
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                text = fg_test_slurp(path, NULL);
                ck_assert(text != NULL);
                for (char *line = text; line && *line;) {
                        char *nl = strchr(line, '\n');
                        if (nl)
                                *nl = '\0';
                        check_traced_call(line, &allowed, &denied, &used, &refused, why, sizeof(why));
                        line = nl ? nl + 1 : NULL;
                }
                free(text);
        }
        closedir(d);
        ck_assert_msg(!why[0], "%s", why);
        ck_assert(strset_has(&used, "sendto") && strset_has(&used, "openat"));
        printf("test_systemd_syscalls_allowed: %zu distinct system calls, all allowed\n", used.n);
        for (size_t i = 0; i < refused.n; i++)
                printf("  refused as under the unit, and lived with: %s\n", refused.v[i]);
        fflush(stdout);

        strset_free(&allowed);
        strset_free(&denied);
        strset_free(&used);
        strset_free(&refused);
        free(mainpid);
        fg_test_proc_free(p);
        close(fd);
        fg_test_rmtree(dir);
        free(cfg), free(out), free(log), free(sock), free(dir);
}
END_TEST

/* ---- make install ---- */

START_TEST(test_systemd_install_layout) {
        char *dest = install_tree(NULL), path[900], *unit, *out = NULL, *bdir = builddir();
        char src[800], destarg[700], *conf;
        const char *uninstall[] = {"uninstall", destarg, "PREFIX=/usr", NULL};
        const struct {
                const char *rel;
                mode_t mode;
        } files[] = {
            {"/usr/bin/floodgate", 0755},
            {"/usr/lib/systemd/system/floodgate.service", 0644},
            {"/usr/lib/systemd/system/floodgate@.service", 0644},
            {"/etc/floodgate/floodgate.yaml.example", 0644},
            {"/etc/floodgate/floodgate.yaml", 0644},
            {"/usr/share/man/man8/floodgate.8", 0644},
            {"/usr/share/man/man5/floodgate.yaml.5", 0644},
            {"/usr/include/floodgate/floodgate_plugin.h", 0644},
            {"/usr/lib/floodgate/plugins/example_plugin.so", 0755},
        };

        snprintf(destarg, sizeof(destarg), "DESTDIR=%s", dest);
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                snprintf(path, sizeof(path), "%s%s", dest, files[i].rel);
                ck_assert_msg(is_file(path, files[i].mode), "missing or wrong mode: %s", path);
        }
        snprintf(path, sizeof(path), "%s/usr/lib/systemd/system/floodgate.service", dest);
        unit = fg_test_slurp(path, NULL);
        ck_assert_msg(unit && !strstr(unit, "@BINDIR@") && !strstr(unit, "@SYSCONFDIR@"),
                      "placeholders left in the unit:\n%s", unit);
        ck_assert(strstr(unit, "\nExecStart=/usr/bin/floodgate run -c /etc/floodgate/floodgate.yaml\n"));
        ck_assert(strstr(unit, "\nExecReload=/usr/bin/floodgate check-config -c /etc/floodgate/floodgate.yaml\n"));
        ck_assert(strstr(unit, "\nEnvironmentFile=-/etc/floodgate/env\n"));
        free(unit);
        snprintf(src, sizeof(src), "%s/config/floodgate.yaml", srcdir());
        snprintf(path, sizeof(path), "%s/etc/floodgate/floodgate.yaml.example", dest);
        ck_assert(files_equal(src, path));
        snprintf(path, sizeof(path), "%s/usr/bin/floodgate", dest);
        snprintf(src, sizeof(src), "%s/floodgate", bdir);
        ck_assert(files_equal(src, path));

        /* A second install keeps the administrator's configuration. */
        snprintf(path, sizeof(path), "%s/etc/floodgate/floodgate.yaml", dest);
        free(fg_test_write(dest, "etc/floodgate/floodgate.yaml", "# edited by the admin\n"));
        {
                const char *again[] = {"install", destarg, "PREFIX=/usr", NULL};
                ck_assert_int_eq(run_make(again, &out), 0);
                ck_assert_msg(strstr(out, "keeping "), "%s", out);
                free(out);
        }
        conf = fg_test_slurp(path, NULL);
        ck_assert_str_eq(conf, "# edited by the admin\n");
        free(conf);

        /* uninstall removes what install put there, except the config. */
        ck_assert_int_eq(run_make(uninstall, &out), 0);
        free(out);
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                bool keep = !strcmp(files[i].rel, "/etc/floodgate/floodgate.yaml");
                snprintf(path, sizeof(path), "%s%s", dest, files[i].rel);
                ck_assert_msg(is_file(path, 0) == keep, "%s after uninstall: %s", keep ? "gone" : "left",
                              path);
        }
        fg_test_rmtree(dest);
        free(dest), free(bdir);
}
END_TEST

/* ---- manual pages ---- */

START_TEST(test_systemd_man_pages_render_cleanly) {
        const char *pages[] = {"man/floodgate.8", "man/floodgate.yaml.5"};
        const char *env[] = {"LC_ALL=C.UTF-8", "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat", NULL};

        for (size_t i = 0; i < 2; i++) {
                char page[800], *out = NULL;
                const char *groff[] = {"groff", "-man", "-Tutf8", "-ww", "-z", page, NULL};
                const char *man[] = {"sh", "-c", "man --warnings -l \"$1\" >/dev/null", "sh", page,
                                     NULL};
                const char *render[] = {"man", "-l", page, NULL};

                snprintf(page, sizeof(page), "%s/%s", srcdir(), pages[i]);
                ck_assert_int_eq(run_cmd(groff, env, &out, 30000), 0);
                ck_assert_msg(!*out, "groff warns about %s:\n%s", pages[i], out);
                free(out);
                ck_assert_int_eq(run_cmd(man, env, &out, 30000), 0);
                ck_assert_msg(!*out, "man warns about %s:\n%s", pages[i], out);
                free(out);
                ck_assert_int_eq(run_cmd(render, env, &out, 30000), 0);
                ck_assert(strstr(out, "NAME") && strstr(out, "SEE ALSO"));
                free(out);
        }
}
END_TEST

/* floodgate(8) names every subcommand `floodgate --help` lists, and every
 * exit code. */
START_TEST(test_systemd_man_page_covers_cli) {
        const char *help[] = {"--help", NULL};
        char *out = NULL, path[800], *page;
        int commands = 0;

        ck_assert_int_eq(fg_test_run(help, &out, 10000), 0);
        snprintf(path, sizeof(path), "%s/man/floodgate.8", srcdir());
        page = fg_test_slurp(path, NULL);
        ck_assert(page != NULL);
        for (char *line = out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
                char cmd[64], want[160], *o = want;
                if (strncmp(line, "  floodgate ", 12) || sscanf(line + 12, "%63s", cmd) != 1 ||
                    cmd[0] == '-')
                        continue;
                o += sprintf(o, "\n.B ");
                for (const char *c = cmd; *c; c++)
                        o += sprintf(o, *c == '-' ? "\\-" : "%c", *c);
                sprintf(o, "\n");
                ck_assert_msg(strstr(page, want), "floodgate.8 has no synopsis for '%s'", cmd);
                commands++;
        }
        ck_assert_int_ge(commands, 5);
        for (const char *code = "0\0" "1\0" "64\0" "78\0"; *code; code += strlen(code) + 1) {
                char want[32];
                snprintf(want, sizeof(want), "\n.TP\n.B %s\n", code);
                ck_assert_msg(strstr(page, want), "floodgate.8 lacks exit status %s", code);
        }
        free(page);
        free(out);
}
END_TEST

/* The option list of floodgate.yaml(5) is what gen_options makes from the
 * option table today (`make man` regenerates it). */
START_TEST(test_systemd_man_options_current) {
        char *bdir = builddir(), gen[800], page[800], *out = NULL, *text;
        const char *argv[] = {gen, page, NULL};

        snprintf(gen, sizeof(gen), "%s/man/gen_options", bdir);
        snprintf(page, sizeof(page), "%s/man/floodgate.yaml.5", srcdir());
        ck_assert_int_eq(run_cmd(argv, NULL, &out, 30000), 0);
        text = fg_test_slurp(page, NULL);
        ck_assert_msg(text && !strcmp(out, text),
                      "man/floodgate.yaml.5 is out of date with config/config_table.c: run `make man`");
        ck_assert(strstr(text, "\\fBkafka.brokers\\fR") && strstr(text, "\\fBlog.level\\fR"));
        free(text);
        free(out);
        free(bdir);
}
END_TEST

static Suite *systemd_suite(void) {
        Suite *s = suite_create("systemd");
        TCase *proto = tcase_create("protocol"), *daemon = tcase_create("daemon"),
              *unit = tcase_create("unit"), *files = tcase_create("files");

        tcase_add_test(proto, test_systemd_notify_path_socket);
        tcase_add_test(proto, test_systemd_notify_abstract_socket);
        tcase_add_test(proto, test_systemd_notify_unset_or_unusable);
        tcase_add_test(proto, test_systemd_watchdog_interval_rules);
        tcase_add_test(proto, test_systemd_notify_failure_logged_once);
        suite_add_tcase(s, proto);

        tcase_set_timeout(daemon, 180);
        tcase_add_test(daemon, test_systemd_notify_lifecycle);
        tcase_add_test(daemon, test_systemd_no_notify_socket);
        tcase_add_test(daemon, test_systemd_watchdog_stops_when_wedged);
        suite_add_tcase(s, daemon);

        tcase_set_timeout(unit, 240);
        tcase_add_test(unit, test_systemd_unit_verify);
        tcase_add_test(unit, test_systemd_security_exposure);
        tcase_add_test(unit, test_systemd_template_same_sandbox);
        tcase_add_test(unit, test_systemd_procsubset_pid);
        tcase_add_test(unit, test_systemd_syscalls_allowed);
        suite_add_tcase(s, unit);

        tcase_set_timeout(files, 240);
        tcase_add_test(files, test_systemd_install_layout);
        tcase_add_test(files, test_systemd_man_pages_render_cleanly);
        tcase_add_test(files, test_systemd_man_page_covers_cli);
        tcase_add_test(files, test_systemd_man_options_current);
        suite_add_tcase(s, files);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(systemd_suite());
        int failed;

        /* A manager of our own (if the tests run under one) must not hear
         * from the daemons started here. */
        unsetenv("NOTIFY_SOCKET");
        unsetenv("WATCHDOG_USEC");
        unsetenv("WATCHDOG_PID");
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
