/*
 * log: leveled logging to stderr.
 *
 * Under systemd (JOURNAL_STREAM set and naming our stderr) each line starts
 * with a `<N>` syslog priority that journald turns into the entry's priority;
 * elsewhere each line starts with an ISO-8601 UTC timestamp and the level.
 *
 * Every line goes through fg_redact_urls (common/redact.h): a URL's
 * user-info never reaches the log, whoever formatted the message.
 *
 * Threading: fg_log() may be called from any thread; each line is written
 * with a single write(2) so lines from different threads never interleave.
 * fg_log_init() and fg_log_set_level() are for the main thread, but the level
 * is an atomic so a reload may change it while others log.
 */
#ifndef FG_LOG_H
#define FG_LOG_H

#include <stdarg.h>
#include <stdbool.h>

typedef enum fg_log_level {
        FG_LOG_ERROR = 3, /* syslog LOG_ERR */
        FG_LOG_WARN  = 4, /* LOG_WARNING */
        FG_LOG_INFO  = 6, /* LOG_INFO */
        FG_LOG_DEBUG = 7, /* LOG_DEBUG */
} fg_log_level_t;

/* Detect journald from JOURNAL_STREAM. Main thread, before other threads. */
void fg_log_init(void);
/* True when stderr is the journal (fg_log_init decided). Any thread. */
bool fg_log_to_journal(void);
void fg_log_set_level(fg_log_level_t level);
fg_log_level_t fg_log_get_level(void);
/* Parses "error", "warn", "info", "debug"; returns -1 when unknown. */
int fg_log_level_parse(const char *name);
const char *fg_log_level_name(fg_log_level_t level);

void fg_log(fg_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void fg_vlog(fg_log_level_t level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

#define fg_error(...) fg_log(FG_LOG_ERROR, __VA_ARGS__)
#define fg_warn(...)  fg_log(FG_LOG_WARN, __VA_ARGS__)
#define fg_info(...)  fg_log(FG_LOG_INFO, __VA_ARGS__)
#define fg_debug(...) fg_log(FG_LOG_DEBUG, __VA_ARGS__)

#endif
