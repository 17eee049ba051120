/*
 * tsan_threads: C11 threads routed through pthreads, linked into
 * ThreadSanitizer builds only (see the Makefile).
 *
 * librdkafka starts its threads with glibc's thrd_create(), which calls the
 * pthread implementation internally and so bypasses TSan's pthread_create
 * interceptor: those threads then run without TSan state and the process
 * crashes at the first intercepted call ("ThreadSanitizer:DEADLYSIGNAL").
 * Defining thrd_create/thrd_join/thrd_detach in the executable interposes
 * on glibc's (an unversioned definition satisfies librdkafka's
 * thrd_create@GLIBC_2.34 reference), so every thread is created, joined and
 * detached where TSan can see it.
 *
 * Threading: called by librdkafka on any of its threads.
 * Ownership: the trampoline frees its argument block.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

struct trampoline {
        thrd_start_t fn;
        void *arg;
};

static void *trampoline_main(void *p) {
        struct trampoline t = *(struct trampoline *)p;
        free(p);
        return (void *)(intptr_t)t.fn(t.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg) {
        struct trampoline *t = malloc(sizeof(*t));
        int rc;

        if (!t)
                return thrd_nomem;
        t->fn = fn;
        t->arg = arg;
        rc = pthread_create((pthread_t *)thr, NULL, trampoline_main, t);
        if (rc) {
                free(t);
                return rc == EAGAIN || rc == ENOMEM ? thrd_nomem : thrd_error;
        }
        return thrd_success;
}

int thrd_join(thrd_t thr, int *res) {
        void *ret;
        if (pthread_join((pthread_t)thr, &ret))
                return thrd_error;
        if (res)
                *res = (int)(intptr_t)ret;
        return thrd_success;
}

int thrd_detach(thrd_t thr) {
        return pthread_detach((pthread_t)thr) ? thrd_error : thrd_success;
}

/* Mutexes and condition variables, for the same reason: TSan must see
 * librdkafka's synchronisation or it reports every hand-over between its
 * threads as a race. glibc lays mtx_t and cnd_t out exactly as
 * pthread_mutex_t and pthread_cond_t. */
_Static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t), "mtx_t is a pthread mutex");
_Static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t), "cnd_t is a pthread cond");

int mtx_init(mtx_t *m, int type) {
        pthread_mutexattr_t attr;
        int rc;

        pthread_mutexattr_init(&attr);
        if (type & mtx_recursive)
                pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
        rc = pthread_mutex_init((pthread_mutex_t *)m, &attr);
        pthread_mutexattr_destroy(&attr);
        return rc ? thrd_error : thrd_success;
}

int mtx_lock(mtx_t *m) { return pthread_mutex_lock((pthread_mutex_t *)m) ? thrd_error : thrd_success; }

int mtx_trylock(mtx_t *m) {
        int rc = pthread_mutex_trylock((pthread_mutex_t *)m);
        return rc == EBUSY ? thrd_busy : rc ? thrd_error : thrd_success;
}

int mtx_timedlock(mtx_t *restrict m, const struct timespec *restrict ts) {
        int rc = pthread_mutex_timedlock((pthread_mutex_t *)m, ts);
        return rc == ETIMEDOUT ? thrd_timedout : rc ? thrd_error : thrd_success;
}

int mtx_unlock(mtx_t *m) {
        return pthread_mutex_unlock((pthread_mutex_t *)m) ? thrd_error : thrd_success;
}

void mtx_destroy(mtx_t *m) { pthread_mutex_destroy((pthread_mutex_t *)m); }

int cnd_init(cnd_t *c) { return pthread_cond_init((pthread_cond_t *)c, NULL) ? thrd_error : thrd_success; }

int cnd_signal(cnd_t *c) { return pthread_cond_signal((pthread_cond_t *)c) ? thrd_error : thrd_success; }

int cnd_broadcast(cnd_t *c) {
        return pthread_cond_broadcast((pthread_cond_t *)c) ? thrd_error : thrd_success;
}

int cnd_wait(cnd_t *c, mtx_t *m) {
        return pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m) ? thrd_error : thrd_success;
}

int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict ts) {
        int rc = pthread_cond_timedwait((pthread_cond_t *)c, (pthread_mutex_t *)m, ts);
        return rc == ETIMEDOUT ? thrd_timedout : rc ? thrd_error : thrd_success;
}

void cnd_destroy(cnd_t *c) { pthread_cond_destroy((pthread_cond_t *)c); }
