/*
 * report: the summary printed at exit.
 *
 * Threading: main thread (reads gauges and merges metric shards).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common/clock.h"
#include "common/log.h"
#include "daemon/daemon_int.h"
#include "ingest/lag.h"

/* VmHWM, not ru_maxrss: the latter survives exec and so counts the pages
 * of whatever large process forked us (for our own children: of us). */
long fg_report_peak_rss_kib(pid_t pid) {
        char line[256], path[64];
        long kib = -1;
        FILE *fp;

        if (pid)
                snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
        else
                snprintf(path, sizeof(path), "/proc/self/status");
        fp = fopen(path, "r");

        if (!fp)
                return -1;
        while (fgets(line, sizeof(line), fp))
                if (!strncmp(line, "VmHWM:", 6))
                        kib = strtol(line + 6, NULL, 10);
        fclose(fp);
        return kib;
}

static double ms(int64_t ns) { return (double)ns / 1e6; }

/* The embedded mock and load generator ran in processes of their own: their
 * memory is not the daemon's, but say what it was, so nobody adds it up by
 * hand from ps. Peaks are sampled once a second and before they stop. */
static void report_children(fg_daemon_t *d) {
        char mock[64] = "", burst[64] = "";

        if (d->mock && fg_child_peak_rss_kib(d->mock) >= 0)
                snprintf(mock, sizeof(mock), "mock cluster %.1f MiB",
                         (double)fg_child_peak_rss_kib(d->mock) / 1024.0);
        if (d->burst && fg_child_peak_rss_kib(d->burst) >= 0)
                snprintf(burst, sizeof(burst), "load generator %.1f MiB",
                         (double)fg_child_peak_rss_kib(d->burst) / 1024.0);
        if (mock[0] || burst[0])
                fg_info("summary: peak RSS of the embedded %s%s%s (child processes, not counted "
                        "above)",
                        mock, mock[0] && burst[0] ? " and " : "", burst);
}

/* Copes with any component missing (a start that failed half-way): each
 * line needs only what it reads. */
void fg_report_summary(fg_daemon_t *d) {
        fg_metrics_snap_t *snap = d->metrics ? malloc(sizeof(*snap)) : NULL;
        double secs = (double)(fg_mono_ns() - d->started_ns) / 1e9;
        const fg_hist_t *e2e;
        uint64_t finished;

        if (!snap)
                return;
        fg_metrics_snapshot(d->metrics, snap);
        e2e = &snap->hist[FG_HIST_E2E];
        finished = snap->ctr[FG_CTR_OK] + snap->ctr[FG_CTR_FILTERED] +
                   snap->ctr[FG_CTR_DEAD_LETTER] + snap->ctr[FG_CTR_DROPPED];
        fg_info("summary: consumed %llu, ok %llu, filtered %llu, dead-lettered %llu, dropped %llu, "
                "retries %llu in %.1f s (%.0f msgs/s)",
                (unsigned long long)snap->ctr[FG_CTR_CONSUMED], (unsigned long long)snap->ctr[FG_CTR_OK],
                (unsigned long long)snap->ctr[FG_CTR_FILTERED],
                (unsigned long long)snap->ctr[FG_CTR_DEAD_LETTER],
                (unsigned long long)snap->ctr[FG_CTR_DROPPED],
                (unsigned long long)snap->ctr[FG_CTR_RETRIES], secs,
                secs > 0 ? (double)finished / secs : 0.0);
        if (d->ingest && d->pool) {
                int64_t first = fg_ingest_first_message_ns(d->ingest), last = fg_pool_last_done_ns(d->pool);
                double busy = first && last > first ? (double)(last - first) / 1e9 : 0.0;
                fg_info("summary: from the first message to the last outcome: %.3f s (%.0f msgs/s)",
                        busy, busy > 0 ? (double)finished / busy : 0.0);
        }
        fg_info("summary: end-to-end latency p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms",
                ms(fg_hist_quantile_ns(e2e, 0.50)), ms(fg_hist_quantile_ns(e2e, 0.90)),
                ms(fg_hist_quantile_ns(e2e, 0.99)), ms(fg_hist_max_ns(e2e)));
        if (d->q)
                fg_info("summary: peak queue depth %zu of %zu, peak RSS %.1f MiB, offset commits: "
                        "%llu",
                        fg_queue_peak_depth(d->q), fg_queue_capacity(d->q),
                        (double)fg_report_peak_rss_kib(0) / 1024.0,
                        (unsigned long long)(snap ? snap->ctr[FG_CTR_COMMITS] : 0));
        else
                fg_info("summary: peak RSS %.1f MiB", (double)fg_report_peak_rss_kib(0) / 1024.0);
        report_children(d);
        if (snap) {
                /* The whole process, every thread, from its start. */
                struct rusage ru;
                double user, sys;

                if (!getrusage(RUSAGE_SELF, &ru)) {
                        user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
                        sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
                        fg_info("summary: CPU %.3f s user + %.3f s system, %.2f us per consumed "
                                "event",
                                user, sys,
                                snap->ctr[FG_CTR_CONSUMED]
                                    ? (user + sys) * 1e6 / (double)snap->ctr[FG_CTR_CONSUMED]
                                    : 0.0);
                }
        }
        free(snap);
}
