/*
 * tools: the floodgate subcommands that are not the daemon — the load
 * generator (`burst`), a mock Kafka cluster (`mock`) and the live terminal
 * view (`top`). Each takes the arguments after its name (argv[0] is the
 * subcommand) and returns an exit code (common/exit.h); only main() calls
 * exit().
 *
 * Threading: main thread.
 */
#ifndef FG_TOOLS_H
#define FG_TOOLS_H

#include <stdint.h>

int fg_cmd_mock(int argc, char **argv);
int fg_cmd_burst(int argc, char **argv);
int fg_cmd_top(int argc, char **argv);

/* "50000", "50k", "2M" -> count. 0 or -1 (bad input). */
int fg_cli_parse_count(const char *s, int64_t *out);

#endif
