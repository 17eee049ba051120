/*
 * tlsd: the Python HTTPS test server and its PKI (see tlsd.h).
 */
#include "tests/support/tlsd.h"

#include <check.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "tests/support/fgtest.h"

char *fg_test_pki(void) {
        char *dir = fg_test_tmpdir(), *script = fg_test_srcpath("tests/support/mkcerts.sh"), *cmd;
        int rc;

        ck_assert(asprintf(&cmd, "bash '%s' '%s'", script, dir) > 0);
        rc = system(cmd);
        ck_assert_msg(rc == 0, "%s failed (%d): is the openssl command installed?", cmd, rc);
        free(cmd);
        free(script);
        return dir;
}

char *fg_test_pki_file(const char *pki, const char *name) { return fg_test_path(pki, name); }

void fg_test_copy_file(const char *from, const char *to) {
        size_t len;
        char *data = fg_test_slurp(from, &len), *tmp;
        FILE *fp;

        ck_assert_msg(data != NULL, "cannot read %s", from);
        ck_assert(asprintf(&tmp, "%s.tmp", to) > 0);
        fp = fopen(tmp, "wb");
        ck_assert_msg(fp != NULL, "cannot write %s", tmp);
        ck_assert_uint_eq(fwrite(data, 1, len, fp), len);
        ck_assert_int_eq(fclose(fp), 0);
        ck_assert_int_eq(rename(tmp, to), 0); /* readers see the old or the new file */
        free(tmp);
        free(data);
}

typedef struct port_wait {
        const char *out;
        int port;
} port_wait_t;

static bool port_known(void *opaque) {
        port_wait_t *w = opaque;
        char *s = fg_test_slurp(w->out, NULL), *p = s ? strstr(s, "PORT=") : NULL;

        if (p && strchr(p, '\n'))
                w->port = atoi(p + 5);
        free(s);
        return w->port > 0;
}

fg_test_tlsd_t *fg_test_tlsd_start(const char *const *args) {
        fg_test_tlsd_t *t = calloc(1, sizeof(*t));
        char *script = fg_test_srcpath("tests/support/tls_server.py"), *out, *errlog;
        const char *argv[40];
        size_t n = 0;
        port_wait_t w = {0};

        ck_assert_ptr_nonnull(t);
        t->dir = fg_test_tmpdir();
        t->bodies = fg_test_path(t->dir, "bodies");
        t->events = fg_test_path(t->dir, "events");
        out = fg_test_path(t->dir, "out");
        errlog = fg_test_path(t->dir, "err");
        argv[n++] = "python3";
        argv[n++] = script;
        argv[n++] = "--bodies";
        argv[n++] = t->bodies;
        argv[n++] = "--events";
        argv[n++] = t->events;
        for (size_t i = 0; args[i]; i++) {
                ck_assert_uint_lt(n, sizeof(argv) / sizeof(argv[0]) - 1);
                argv[n++] = args[i];
        }
        argv[n] = NULL;
        t->pid = fork();
        ck_assert_int_ge(t->pid, 0);
        if (t->pid == 0) {
                sigset_t none;

                prctl(PR_SET_PDEATHSIG, SIGKILL);
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                if (!freopen(out, "w", stdout) || !freopen(errlog, "w", stderr))
                        _exit(126);
                execvp("python3", (char *const *)argv);
                _exit(127);
        }
        w.out = out;
        if (!fg_test_wait(port_known, &w, 20000)) {
                char *err = fg_test_slurp(errlog, NULL);
                ck_abort_msg("tls_server.py did not start: %s", err ? err : "(no output)");
        }
        t->port = w.port;
        free(out);
        free(errlog);
        free(script);
        return t;
}

void fg_test_tlsd_signal(fg_test_tlsd_t *t, int sig) { kill(t->pid, sig); }

typedef struct reload_wait {
        const fg_test_tlsd_t *t;
        size_t before;
} reload_wait_t;

static bool reloaded(void *opaque) {
        reload_wait_t *w = opaque;
        return fg_test_tlsd_count(w->t, "reload", NULL, 0) > w->before;
}

void fg_test_tlsd_reload(fg_test_tlsd_t *t) {
        reload_wait_t w = {t, fg_test_tlsd_count(t, "reload", NULL, 0)};

        kill(t->pid, SIGHUP);
        ck_assert_msg(fg_test_wait(reloaded, &w, 10000), "tls_server.py did not reload");
}

void fg_test_tlsd_stop(fg_test_tlsd_t *t) {
        int64_t deadline = fg_mono_ns() + 10 * FG_NS_PER_S;
        int st;

        if (!t)
                return;
        kill(t->pid, SIGTERM);
        while (waitpid(t->pid, &st, WNOHANG) == 0) {
                if (fg_mono_ns() > deadline) {
                        kill(t->pid, SIGKILL);
                        waitpid(t->pid, &st, 0);
                        break;
                }
                usleep(10 * 1000);
        }
        fg_test_rmtree(t->dir);
        free(t->dir);
        free(t->bodies);
        free(t->events);
        free(t);
}

json_t *fg_test_tlsd_events(const fg_test_tlsd_t *t, const char *kind) {
        char *s = fg_test_slurp(t->events, NULL), *line, *save = NULL;
        json_t *all = json_array();

        for (line = s ? strtok_r(s, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
                json_t *ev = json_loads(line, 0, NULL);
                const char *k = json_string_value(json_object_get(ev, "kind"));

                ck_assert_msg(ev != NULL, "tls_server.py wrote a bad event line: %s", line);
                if (!kind || (k && !strcmp(k, kind)))
                        json_array_append(all, ev);
                json_decref(ev);
        }
        free(s);
        return all;
}

size_t fg_test_tlsd_count(const fg_test_tlsd_t *t, const char *kind, const char *key,
                          json_int_t value) {
        json_t *evs = fg_test_tlsd_events(t, kind), *ev;
        size_t i, n = 0;

        json_array_foreach(evs, i, ev) {
                json_t *v = key ? json_object_get(ev, key) : NULL;
                if (!key || (json_is_integer(v) && json_integer_value(v) == value) ||
                    (json_is_boolean(v) && json_is_true(v) == (value != 0)))
                        n++;
        }
        json_decref(evs);
        return n;
}
