/*
 * cmd_run: `floodgate run` and `floodgate check-config` argument handling.
 *
 * Threading: main thread.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "common/fg_err.h"
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

int fg_cmd_run(int argc, char **argv) {
        fg_run_opts_t opts = {0};

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
        if (!cfg) {
                fg_print_config_errors(&errs, false);
                fg_config_errs_clear(&errs);
                return FG_EXIT_CONFIG;
        }
        printf("%s: OK\n", path);
        fg_config_destroy(cfg);
        return FG_EXIT_OK;
}
