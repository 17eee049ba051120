/*
 * metrics_cost: what recording one message's metrics costs on the hot path.
 *
 * Per message a worker adds 3 counters and observes 2 histograms into its
 * own shard. This measures that sequence single-threaded and with 2 threads
 * on separate shards (which should cost the same per thread: no shared
 * cache lines, no locked instructions), and prints ns/op. Times are the
 * threads' CPU time, best of a few runs, so a busy machine does not inflate
 * them; a counter add and a histogram record are also timed alone.
 *
 * Usage: metrics_cost [iterations per thread]   (default 10000000)
 * Threading: main starts the recording threads and joins them; each thread
 * owns its shard. Ownership: nothing outlives main.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/clock.h"
#include "metrics/metrics.h"

#define VALUES      4096 /* latencies to cycle through, so bucket lookups vary */
#define MAX_THREADS 2

static int64_t values[VALUES];
static uint64_t iterations = 10000000;

struct run {
        fg_metrics_t *m;
        pthread_barrier_t *start;
        int64_t ns;
};

/* CPU time of the calling thread: time slices lost to other processes on a
 * shared machine do not count against the hot path. */
static int64_t thread_cpu_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (int64_t)ts.tv_sec * FG_NS_PER_S + ts.tv_nsec;
}

static void *record_loop(void *p) {
        struct run *r = p;
        fg_mshard_t *s = fg_metrics_shard_get(r->m);
        int64_t t0;

        pthread_barrier_wait(r->start);
        t0 = thread_cpu_ns();
        for (uint64_t i = 0; i < iterations; i++) {
                int64_t v = values[i & (VALUES - 1)];
                fg_mshard_add(s, FG_CTR_CONSUMED, 1);
                fg_mshard_add(s, FG_CTR_CONSUMED_BYTES, 512);
                fg_mshard_add(s, FG_CTR_OK, 1);
                fg_mshard_observe(s, FG_HIST_E2E, v);
                fg_mshard_observe(s, FG_HIST_QUEUE_WAIT, v >> 4);
        }
        r->ns = thread_cpu_ns() - t0;
        fg_mshard_release(r->m, s);
        return NULL;
}

static void *hist_only_loop(void *p) {
        struct run *r = p;
        fg_mshard_t *s = fg_metrics_shard_get(r->m);
        int64_t t0;

        pthread_barrier_wait(r->start);
        t0 = thread_cpu_ns();
        for (uint64_t i = 0; i < iterations; i++)
                fg_mshard_observe(s, FG_HIST_SINK_CALL, values[i & (VALUES - 1)]);
        r->ns = thread_cpu_ns() - t0;
        fg_mshard_release(r->m, s);
        return NULL;
}

static void *ctr_only_loop(void *p) {
        struct run *r = p;
        fg_mshard_t *s = fg_metrics_shard_get(r->m);
        int64_t t0;

        pthread_barrier_wait(r->start);
        t0 = thread_cpu_ns();
        for (uint64_t i = 0; i < iterations; i++)
                fg_mshard_add(s, FG_CTR_RETRIES, 1);
        r->ns = thread_cpu_ns() - t0;
        fg_mshard_release(r->m, s);
        return NULL;
}

static uint64_t done_msgs(const fg_metrics_snap_t *snap) {
        return snap->ctr[FG_CTR_CONSUMED];
}

static uint64_t done_ctr(const fg_metrics_snap_t *snap) {
        return snap->ctr[FG_CTR_RETRIES];
}

static uint64_t done_hist(const fg_metrics_snap_t *snap) {
        return fg_hist_count(&snap->hist[FG_HIST_SINK_CALL]);
}

/* Runs @p fn on @p nthreads threads (each with its own shard) @p reps
 * times and returns the best run's ns/op of its slowest thread: the machine
 * may be shared, and noise only ever adds time. @p done reads back the
 * number of ops from a snapshot, so the work cannot have been skipped. */
static double measure(void *(*fn)(void *), int nthreads, int reps,
                      uint64_t (*done)(const fg_metrics_snap_t *)) {
        double best = 1e30;

        for (int rep = 0; rep < reps; rep++) {
                fg_metrics_t *m = fg_metrics_new();
                fg_metrics_snap_t *snap = malloc(sizeof(*snap));
                struct run runs[MAX_THREADS];
                pthread_t th[MAX_THREADS];
                pthread_barrier_t bar;
                double slowest = 0;

                if (!m || !snap) {
                        fprintf(stderr, "metrics_cost: out of memory\n");
                        exit(1);
                }
                pthread_barrier_init(&bar, NULL, (unsigned)nthreads);
                for (int t = 0; t < nthreads; t++) {
                        runs[t] = (struct run){.m = m, .start = &bar};
                        if (pthread_create(&th[t], NULL, fn, &runs[t]) != 0) {
                                fprintf(stderr, "metrics_cost: pthread_create failed\n");
                                exit(1);
                        }
                }
                for (int t = 0; t < nthreads; t++) {
                        double ns;
                        pthread_join(th[t], NULL);
                        ns = (double)runs[t].ns / (double)iterations;
                        slowest = ns > slowest ? ns : slowest;
                }
                best = slowest < best ? slowest : best;
                pthread_barrier_destroy(&bar);
                fg_metrics_snapshot(m, snap);
                if (done(snap) != (uint64_t)nthreads * iterations) {
                        fprintf(stderr, "metrics_cost: totals do not add up\n");
                        exit(1);
                }
                free(snap);
                fg_metrics_destroy(m);
        }
        return best;
}

int main(int argc, char **argv) {
        uint64_t x = 88172645463325252ULL;
        const int reps = 5;

        if (argc > 1 && (iterations = strtoull(argv[1], NULL, 10)) == 0) {
                fprintf(stderr, "usage: %s [iterations]\n", argv[0]);
                return 64;
        }
        for (int i = 0; i < VALUES; i++) { /* ~50 µs .. ~500 ms, spread over many buckets */
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                values[i] = 50000 + (int64_t)(x % 500000000ULL) / (1 + (int64_t)(x >> 60));
        }

        printf("metrics_cost: %llu ops per thread, best of %d runs\n",
               (unsigned long long)iterations, reps);
        printf("  per message (3 counter adds + 2 histogram records):\n");
        printf("    1 thread                 %6.2f ns/msg\n",
               measure(record_loop, 1, reps, done_msgs));
        printf("    2 threads, own shards    %6.2f ns/msg per thread\n",
               measure(record_loop, 2, reps, done_msgs));
        printf("  parts:\n");
        printf("    counter add              %6.2f ns\n",
               measure(ctr_only_loop, 1, reps, done_ctr));
        printf("    histogram record         %6.2f ns\n",
               measure(hist_only_loop, 1, reps, done_hist));
        return 0;
}
