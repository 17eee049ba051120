/*
 * daemon: `floodgate run` — builds the pipeline from the config, runs the
 * main thread's libevent loop (signals, timers, admin HTTP) and tears it
 * all down in order.
 *
 * Lifecycle: load config (exit 78 on error) -> mock cluster (brokers: mock)
 * -> metrics, queue, sink, pool, ingest -> optional embedded burst -> loop.
 * SIGTERM/SIGINT: drain (ingest stops taking messages, workers finish the
 * queue) within shutdown.timeout, then store and commit, leave the group,
 * exit 0; a second signal stops at once (unfinished work is redelivered).
 * SIGHUP: reload — a bad file is logged and ignored; a good one applies what
 * can change live and names what needs a restart. With --until-drained the
 * daemon exits 0 once every assigned partition is at its end and committed.
 *
 * Threading: main thread only.
 */
#ifndef FG_DAEMON_H
#define FG_DAEMON_H

#include <stdbool.h>

#include "config/config.h"

typedef struct fg_run_opts {
        const char *config_path;
        bool until_drained;
} fg_run_opts_t;

/* Returns the process exit code. */
int fg_daemon_run(const fg_run_opts_t *opts);

/* Prints every diagnostic, to stderr as is or through the log at error
 * level; used by run, reload and check-config. */
void fg_print_config_errors(const fg_config_errs_t *errs, bool as_log);

#endif
