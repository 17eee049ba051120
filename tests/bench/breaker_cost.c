/*
 * breaker_cost: what the circuit breaker costs per sink call.
 *
 * A worker calls fg_brk_acquire() before each sink call and fg_brk_record()
 * after it. This times that pair on a CLOSED breaker (1 outcome in 64 a
 * failure, so it never trips), with a count window and a time window,
 * single-threaded and with 2 threads sharing one breaker (its mutex is the
 * only shared state). The clock is a counter advancing 1 µs per call, so
 * reading it costs nothing and the time window rolls a bucket every 10^6
 * calls. 1 thread: the thread's CPU time per pair, best of a few runs, so a
 * busy machine does not inflate it. 2 threads: wall time, since waiting for
 * the lock is the cost being measured — per pair as each thread sees it,
 * and per pair of the two together (throughput).
 *
 * Usage: breaker_cost [iterations per thread]   (default 5000000)
 * Threading: main starts the threads and joins them; they share the breaker.
 * Ownership: nothing outlives main.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "breaker/breaker.h"
#include "common/clock.h"

#define MAX_THREADS 2
#define REPS        5

static uint64_t iterations = 5000000;

struct run {
        fg_brk_t *brk;
        pthread_barrier_t *start;
        int64_t clock0;
        int64_t cpu_ns, wall_ns;
        uint64_t permitted;
};

static int64_t thread_cpu_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (int64_t)ts.tv_sec * FG_NS_PER_S + ts.tv_nsec;
}

static void *pair_loop(void *p) {
        struct run *r = p;
        int64_t c0, w0;

        pthread_barrier_wait(r->start);
        c0 = thread_cpu_ns();
        w0 = fg_mono_ns();
        for (uint64_t i = 0; i < iterations; i++) {
                int64_t now = r->clock0 + (int64_t)i * 1000;
                fg_brk_permit_t permit;

                if (!fg_brk_acquire(r->brk, now, &permit))
                        continue;
                r->permitted++;
                fg_brk_record(r->brk, &permit, (i & 63) == 0 ? FG_BRK_FAILURE : FG_BRK_SUCCESS,
                              250000, now + 500);
        }
        r->cpu_ns = thread_cpu_ns() - c0;
        r->wall_ns = fg_mono_ns() - w0;
        return NULL;
}

struct result {
        double cpu;      /* CPU ns per pair of the slowest thread */
        double wall;     /* wall ns per pair, as one thread sees it */
        double combined; /* wall ns per pair of all threads together */
};

/* Best of REPS runs of @p nthreads threads on one fresh breaker each. */
static struct result measure(fg_brk_window_t window, int nthreads) {
        struct result best = {1e30, 1e30, 1e30};
        fg_brk_cfg_t conf = {
            .enabled = true,
            .window = window,
            .window_size = window == FG_BRK_WINDOW_COUNT ? 100 : 60,
            .min_calls = 20,
            .failure_rate_threshold = 0.5,
            .slow_call_rate_threshold = 1.0,
            .slow_call_ns = FG_NS_PER_S,
            .open_ns = 5 * FG_NS_PER_S,
            .open_backoff = 2,
            .open_max_ns = 60 * FG_NS_PER_S,
            .jitter = 0.1,
            .half_open_calls = 3,
            .half_open_max_wait_ns = 10 * FG_NS_PER_S,
        };

        for (int rep = 0; rep < REPS; rep++) {
                char errstr[256];
                fg_brk_t *brk = fg_brk_new(&conf, 1, NULL, NULL, errstr, sizeof(errstr));
                struct run runs[MAX_THREADS];
                pthread_t th[MAX_THREADS];
                pthread_barrier_t bar;
                struct result res = {0, 0, 0};
                fg_brk_stats_t st;

                if (!brk) {
                        fprintf(stderr, "breaker_cost: %s\n", errstr);
                        exit(1);
                }
                pthread_barrier_init(&bar, NULL, (unsigned)nthreads);
                for (int t = 0; t < nthreads; t++) {
                        runs[t] = (struct run){.brk = brk, .start = &bar, .clock0 = FG_NS_PER_S};
                        if (pthread_create(&th[t], NULL, pair_loop, &runs[t]) != 0) {
                                fprintf(stderr, "breaker_cost: pthread_create failed\n");
                                exit(1);
                        }
                }
                for (int t = 0; t < nthreads; t++) {
                        double cpu, wall;

                        pthread_join(th[t], NULL);
                        cpu = (double)runs[t].cpu_ns / (double)iterations;
                        wall = (double)runs[t].wall_ns / (double)iterations;
                        res.cpu = cpu > res.cpu ? cpu : res.cpu;
                        res.wall = wall > res.wall ? wall : res.wall;
                        /* Every call must have gone through: a tripped
                         * breaker would measure refusals instead. */
                        if (runs[t].permitted != iterations) {
                                fprintf(stderr, "breaker_cost: %llu of %llu calls permitted\n",
                                        (unsigned long long)runs[t].permitted,
                                        (unsigned long long)iterations);
                                exit(1);
                        }
                }
                res.combined = res.wall / nthreads;
                fg_brk_get_stats(brk, FG_NS_PER_S + (int64_t)iterations * 1000, &st);
                if (st.state != FG_BRK_CLOSED || st.not_permitted != 0) {
                        fprintf(stderr, "breaker_cost: the breaker left CLOSED\n");
                        exit(1);
                }
                best.cpu = res.cpu < best.cpu ? res.cpu : best.cpu;
                best.wall = res.wall < best.wall ? res.wall : best.wall;
                best.combined = res.combined < best.combined ? res.combined : best.combined;
                pthread_barrier_destroy(&bar);
                fg_brk_destroy(brk);
        }
        return best;
}

int main(int argc, char **argv) {
        static const struct {
                fg_brk_window_t window;
                const char *name;
        } windows[] = {
            {FG_BRK_WINDOW_COUNT, "count window (100 calls)"},
            {FG_BRK_WINDOW_TIME, "time window (60 s)"},
        };

        if (argc > 1 && (iterations = strtoull(argv[1], NULL, 10)) == 0) {
                fprintf(stderr, "usage: %s [iterations]\n", argv[0]);
                return 64;
        }
        printf("breaker_cost: acquire + record pairs, %llu per thread, best of %d runs\n",
               (unsigned long long)iterations, REPS);
        for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++) {
                struct result one = measure(windows[i].window, 1);
                struct result two = measure(windows[i].window, 2);

                printf("  %s:\n", windows[i].name);
                printf("    1 thread                 %6.1f ns/pair (CPU)\n", one.cpu);
                printf("    2 threads, one breaker   %6.1f ns/pair per thread (wall), "
                       "%6.1f ns/pair combined\n",
                       two.wall, two.combined);
        }
        return 0;
}
