/*
 * exit: floodgate's process exit codes (sysexits.h values where one fits).
 * Only daemon/main.c calls exit(); every command returns one of these.
 */
#ifndef FG_EXIT_H
#define FG_EXIT_H

#define FG_EXIT_OK        0
#define FG_EXIT_FAILURE   1  /* runtime failure after start-up */
#define FG_EXIT_USAGE     64 /* bad command line */
#define FG_EXIT_CONFIG    78 /* configuration rejected (EX_CONFIG) */

#endif
