/*
 * child: the embedded mock cluster (kafka.brokers: mock) and the embedded
 * load generator (burst:) as child processes of the daemon — `floodgate
 * mock` and `floodgate burst` run from /proc/self/exe — so that the
 * daemon's own figures (RSS, CPU, threads, open files in /metrics, /stats
 * and the exit summary) are floodgate's, not the mock's, which holds the
 * whole burst in memory.
 *
 * Each child runs in its own process group, so a terminal's Ctrl-C reaches
 * only the daemon, which drains and commits against the mock before it
 * stops the children itself; the unit's KillMode=mixed does the same for
 * systemd's SIGTERM. PR_SET_PDEATHSIG(SIGKILL) ends a child when the
 * daemon dies, even by SIGKILL, so none outlives it. A child's stdout is a
 * pipe to the daemon (the mock's BOOTSTRAP= line, the generator's tally);
 * its stderr is the daemon's, so its log lines land in the same place (the
 * journal, under systemd). Everything between fork and exec is
 * async-signal-safe, and only system calls the unit's filter allows.
 *
 * Threading: main thread only. PR_SET_PDEATHSIG fires when the *thread*
 * that forked the child ends, so the thread that forks must live as long
 * as the daemon: the main thread does.
 * Ownership: fg_child_t owns the child (fg_child_destroy kills and reaps
 * it if it still runs) and its stdout pipe.
 */
#ifndef FG_CHILD_H
#define FG_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

typedef struct fg_child fg_child_t;

/* `floodgate mock` with kafka.mock.brokers brokers and each of
 * kafka.topics with kafka.mock.partitions partitions; waits up to
 * @p timeout_ms for its BOOTSTRAP= line. */
fg_child_t *fg_child_mock_start(const fg_kafka_cfg_t *kc, int timeout_ms, char *errstr,
                                size_t errstr_size);
/* "host:port,..." of a child started by fg_child_mock_start. */
const char *fg_child_bootstrap(const fg_child_t *c);

/* `floodgate burst` with the burst section's profile, producing to
 * @p topic on @p bootstrap. */
fg_child_t *fg_child_burst_start(const fg_burst_cfg_t *bc, const char *bootstrap,
                                 const char *topic, char *errstr, size_t errstr_size);

/* True once the child has exited (reaped here, without blocking); logs the
 * generator's tally, or for the mock (which only stops when told) its exit
 * status as an error, the first time. */
bool fg_child_finished(fg_child_t *c);

/* Asks the child to finish (SIGTERM: the generator stops producing and
 * flushes, the mock stops serving). */
void fg_child_stop(fg_child_t *c);

/* fg_child_stop, then waits up to @p timeout_ns for it to exit, SIGKILL
 * after that; reaps it. Returns its exit status (128 + signal when killed),
 * or the status it already exited with. */
int fg_child_wait(fg_child_t *c, int64_t timeout_ns);

/* Samples the child's peak RSS (VmHWM) while it runs; the highest sample
 * in KiB, or -1 before the first. */
void fg_child_sample(fg_child_t *c);
long fg_child_peak_rss_kib(const fg_child_t *c);

/* Kills (SIGKILL) and reaps a child that still runs; NULL allowed. */
void fg_child_destroy(fg_child_t *c);

#endif
