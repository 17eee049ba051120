/*
 * cmd_run: `floodgate run` and `floodgate check-config` argument handling.
 *
 * Threading: main thread.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "common/exit.h"
#include "config/config.h"
#include "daemon/cli.h"
#include "daemon/daemon.h"

static const char *parse_config_arg(int argc, char **argv, bool *until_drained) {
        static const struct option longopts[] = {
            {"config", required_argument, NULL, 'c'},
            {"until-drained", no_argument, NULL, 'u'},
            {NULL, 0, NULL, 0},
        };
        const char *path = NULL;
        int c;

        optind = 1;
        while ((c = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
                switch (c) {
                case 'c': path = optarg; break;
                case 'u':
                        if (!until_drained)
                                return NULL;
                        *until_drained = true;
                        break;
                default: return NULL;
                }
        }
        if (optind != argc)
                return NULL;
        return path;
}

/* glibc gives each new thread its own malloc arena (up to 8 per core),
 * and memory freed into an arena stays with it. The viral-burst bench's
 * B-http-dynamic run (10 s phases, 4-13 workers) peaked at 47.4-59.9 MiB
 * (median 58.9, 5 runs) with glibc's default and 42.8-52.4 MiB (median
 * 46.3, 6 runs) with two arenas, at no measurable CPU cost per event (run
 * to run noise was larger). Hot small allocations go through glibc's
 * per-thread cache, which takes no arena lock. MALLOC_ARENA_MAX in the
 * environment still decides. Main thread, before any other exists (a
 * thread gets its arena at its first allocation). */
static void limit_malloc_arenas(void) {
#ifdef __GLIBC__
        if (!getenv("MALLOC_ARENA_MAX"))
                mallopt(M_ARENA_MAX, 2);
#endif
}

int fg_cmd_run(int argc, char **argv) {
        fg_run_opts_t opts = {0};

        limit_malloc_arenas();

        opts.config_path = parse_config_arg(argc, argv, &opts.until_drained);
        if (!opts.config_path) {
                fprintf(stderr, "usage: floodgate run -c FILE [--until-drained]\n");
                return FG_EXIT_USAGE;
        }
        return fg_daemon_run(&opts);
}

int fg_cmd_check_config(int argc, char **argv) {
        const char *path = parse_config_arg(argc, argv, NULL);
        fg_config_errs_t errs = {0};
        fg_config_t *cfg;

        if (!path) {
                fprintf(stderr, "usage: floodgate check-config -c FILE\n");
                return FG_EXIT_USAGE;
        }
        cfg = fg_config_load(path, &errs);
        if (!cfg || fg_config_probe(cfg, &errs)) {
                fg_print_config_errors(&errs, false);
                fg_config_errs_clear(&errs);
                fg_config_destroy(cfg);
                return FG_EXIT_CONFIG;
        }
        printf("%s: OK\n", path);
        fg_config_destroy(cfg);
        return FG_EXIT_OK;
}
