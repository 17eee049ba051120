/*
 * fg_err: the one error enum of floodgate.
 *
 * Threading: pure functions, any thread.
 * Ownership: fg_err_str() returns a static string.
 */
#ifndef FG_ERR_H
#define FG_ERR_H

typedef enum fg_err {
        FG_OK = 0,
        FG_ERR_INVALID,     /* bad argument or input */
        FG_ERR_CONFIG,      /* configuration rejected */
        FG_ERR_NOMEM,       /* allocation failed */
        FG_ERR_IO,          /* system call or file failure */
        FG_ERR_KAFKA,       /* librdkafka reported an error */
        FG_ERR_FULL,        /* bounded structure is full: caller backs off */
        FG_ERR_TIMEDOUT,    /* deadline passed */
        FG_ERR_STOPPED,     /* component is shutting down */
        FG_ERR_NOENT,       /* no such thing */
        FG_ERR__CNT
} fg_err_t;

/* Process exit codes (sysexits.h values where one fits). */
#define FG_EXIT_OK        0
#define FG_EXIT_FAILURE   1  /* runtime failure after start-up */
#define FG_EXIT_USAGE     64 /* bad command line */
#define FG_EXIT_SOFTWARE  70 /* internal error */
#define FG_EXIT_CONFIG    78 /* configuration rejected (EX_CONFIG) */

const char *fg_err_str(fg_err_t err);

#endif
