/*
 * main: the floodgate command-line dispatcher. Adding a subcommand is one
 * row in the table below and one fg_cmd_* function.
 *
 * Threading: main thread. The only file that calls exit().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/exit.h"
#include "common/log.h"
#include "daemon/cli.h"
#include "tools/tools.h"

typedef struct command {
        const char *name;
        int (*fn)(int argc, char **argv);
        const char *usage;
        const char *help;
} command_t;

static const command_t commands[] = {
    {"run", fg_cmd_run, "run -c FILE [--until-drained]",
     "run the daemon; --until-drained exits 0 once every assigned partition is drained and "
     "committed"},
    {"check-config", fg_cmd_check_config, "check-config -c FILE",
     "validate a config file: exit 0, or 78 with file:line:col errors"},
    {"mock", fg_cmd_mock, "mock [--brokers N] [--topic NAME:PARTITIONS]...",
     "run a mock Kafka cluster on loopback; prints BOOTSTRAP=... and serves until SIGTERM"},
    {"burst", fg_cmd_burst,
     "burst -b BROKERS -t TOPIC [--count N] [--rate R] [--spike AT:DURATION:RATE] [--size BYTES] "
     "[--keys N] [--id-prefix P]",
     "produce keyed JSON events {id, ts, ...} at a steady rate or with a spike"},
    {"top", fg_cmd_top, "top [URL] [--interval D] [--once] [--no-color]", "live terminal view of a daemon"},
    {"redrive", fg_cmd_redrive, "redrive -c FILE [--key K]... [--since T] [--admin HOST:PORT]",
     "replay the dead-letter topic in key order; release the replayed parked keys"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *fp) {
        fprintf(fp, "floodgate %s - Kafka to sink, bounded and backpressured\n\nusage:\n", FG_VERSION);
        for (size_t i = 0; i < NCOMMANDS; i++)
                fprintf(fp, "  floodgate %s\n      %s\n", commands[i].usage, commands[i].help);
        fprintf(fp, "  floodgate --version | --help\n\n"
                    "exit codes: 0 ok, 1 runtime failure, 64 usage error, 78 configuration error\n");
}

int main(int argc, char **argv) {
        fg_log_init();
        if (argc < 2) {
                usage(stderr);
                exit(FG_EXIT_USAGE);
        }
        if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
                usage(stdout);
                exit(FG_EXIT_OK);
        }
        if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
                printf("floodgate %s\n", FG_VERSION);
                exit(FG_EXIT_OK);
        }
        for (size_t i = 0; i < NCOMMANDS; i++)
                if (!strcmp(argv[1], commands[i].name))
                        exit(commands[i].fn(argc - 1, argv + 1));
        fprintf(stderr, "floodgate: unknown command '%s'\n\n", argv[1]);
        usage(stderr);
        exit(FG_EXIT_USAGE);
}
