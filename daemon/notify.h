/*
 * notify: the systemd service notification protocol (sd_notify(3)), written
 * out so floodgate needs no libsystemd.
 *
 * The service manager passes an AF_UNIX datagram socket in $NOTIFY_SOCKET:
 * a file system path ("/run/systemd/notify") or, when it starts with '@',
 * a name in the abstract namespace. Each notification is one datagram of
 * newline-separated VAR=VALUE assignments ("READY=1\nSTATUS=..."). Without
 * $NOTIFY_SOCKET there is nobody to tell: fg_notify_open() returns NULL and
 * every call here accepts NULL and does nothing.
 *
 * Sends never block the caller (MSG_DONTWAIT, MSG_NOSIGNAL): a manager that
 * does not keep up loses a notification rather than stalling the daemon's
 * loop. The first failure of a run of failures is logged; the rest are
 * counted silently until a send succeeds again.
 *
 * The watchdog interval comes from $WATCHDOG_USEC, which applies to this
 * process only when $WATCHDOG_PID is unset or equals getpid() (a child that
 * inherited the variables must not ping for its parent).
 *
 * Threading: main thread only (no locks; the failure state is unguarded).
 * Ownership: fg_notify_open() returns a handle owned by the caller, freed
 * with fg_notify_close() (which accepts NULL).
 */
#ifndef FG_NOTIFY_H
#define FG_NOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct fg_notify fg_notify_t;

/* Connects to $NOTIFY_SOCKET. Returns NULL with @p errstr empty when the
 * variable is unset or empty (not under a service manager), or NULL with the
 * reason in @p errstr when it cannot be used. Main thread. */
fg_notify_t *fg_notify_open(char *errstr, size_t errstr_size);
void fg_notify_close(fg_notify_t *n);

/* Formats one notification ("VAR=VALUE\nVAR=VALUE...") and sends it as one
 * datagram without blocking. Returns 1 when sent, 0 when @p n is NULL, -1
 * when sending failed (logged once per run of failures). Main thread. */
int fg_notify_send(fg_notify_t *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The watchdog interval the manager expects pings within, in microseconds;
 * 0 when there is no watchdog for this process (or @p n is NULL). */
uint64_t fg_notify_watchdog_usec(const fg_notify_t *n);

/* The rule behind fg_notify_watchdog_usec(), pure for tests: @p usec and
 * @p pid are the values of WATCHDOG_USEC and WATCHDOG_PID (NULL when unset),
 * @p self the caller's pid. Returns 0 for "no watchdog" (unset, malformed,
 * zero, or meant for another pid). Any thread. */
uint64_t fg_notify_parse_watchdog(const char *usec, const char *pid, pid_t self);

/* Sends that failed since fg_notify_open(). Main thread. */
uint64_t fg_notify_failures(const fg_notify_t *n);

#endif
