/*
 * cli: the subcommands that read the configuration (`run`, `check-config`,
 * `redrive`, whose replay engine is tools/redrive.h); the others live in
 * tools/tools.h. Each takes the arguments after its name (argv[0] is the
 * subcommand) and returns the exit code; only main() calls exit().
 *
 * Threading: main thread.
 */
#ifndef FG_CLI_H
#define FG_CLI_H

int fg_cmd_run(int argc, char **argv);
int fg_cmd_check_config(int argc, char **argv);
int fg_cmd_redrive(int argc, char **argv);

#endif
