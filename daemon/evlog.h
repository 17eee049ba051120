/*
 * evlog: libevent's own messages (accept errors, evhttp and evdns warnings)
 * routed into floodgate's log at their level, rate-limited: at the file
 * descriptor limit libevent would otherwise write a line per failed
 * accept (335 MB in 6 s were measured before floodgate's admin server
 * stopped accepting itself; see admin.c).
 *
 * Threading: fg_evlog_install on the main thread before other threads
 * start; the callback runs on whichever thread libevent logs from (the
 * main loop, a worker's HTTP connection) and takes a mutex.
 * Ownership: global state of the process, like libevent's log hook.
 */
#ifndef FG_EVLOG_H
#define FG_EVLOG_H

#include <stdint.h>

/* At most this many libevent lines at once, then this many a second; the
 * next line that goes out says how many were held back. */
#define FG_EVLOG_BURST 20
#define FG_EVLOG_PER_S 1.0

/* Installs the callback (event_set_log_callback). */
void fg_evlog_install(void);

/* Lines refused since start (for tests and the summary). Any thread. */
uint64_t fg_evlog_suppressed_total(void);

#endif
