/*
 * notify: sd_notify(3) over an AF_UNIX datagram socket (see notify.h).
 */
#include "daemon/notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"

struct fg_notify {
        int fd;
        struct sockaddr_un addr;
        socklen_t addr_len;
        char name[sizeof(((struct sockaddr_un *)0)->sun_path) + 1]; /* for messages */
        uint64_t watchdog_usec;
        uint64_t failures, lost_in_run;
        bool failing; /* the last send failed */
};

/* "/path" or "@abstract" -> sockaddr_un. Returns 0 or -1 with a reason. */
static int parse_address(fg_notify_t *n, const char *s, char *errstr, size_t errstr_size) {
        size_t len = strlen(s);
        size_t room = sizeof(n->addr.sun_path);

        memset(&n->addr, 0, sizeof(n->addr));
        n->addr.sun_family = AF_UNIX;
        if (s[0] == '@') {
                /* Abstract: a leading NUL, then the name; no terminator. */
                if (len < 2 || len > room) {
                        snprintf(errstr, errstr_size, "NOTIFY_SOCKET '%s': bad abstract name", s);
                        return -1;
                }
                memcpy(n->addr.sun_path + 1, s + 1, len - 1);
                n->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
        } else if (s[0] == '/') {
                if (len >= room) {
                        snprintf(errstr, errstr_size, "NOTIFY_SOCKET '%s': path too long", s);
                        return -1;
                }
                memcpy(n->addr.sun_path, s, len + 1);
                n->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
        } else {
                /* vsock:, and whatever later managers may invent. */
                snprintf(errstr, errstr_size,
                         "NOTIFY_SOCKET '%s': only /path and @abstract sockets are supported", s);
                return -1;
        }
        snprintf(n->name, sizeof(n->name), "%s", s);
        return 0;
}

fg_notify_t *fg_notify_open(char *errstr, size_t errstr_size) {
        const char *sock = getenv("NOTIFY_SOCKET");
        fg_notify_t *n;

        if (errstr_size)
                errstr[0] = '\0';
        if (!sock || !*sock)
                return NULL;
        n = calloc(1, sizeof(*n));
        if (!n) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        n->fd = -1;
        if (parse_address(n, sock, errstr, errstr_size))
                goto init_error;
        n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (n->fd < 0) {
                snprintf(errstr, errstr_size, "NOTIFY_SOCKET: cannot create a socket: %s",
                         strerror(errno));
                goto init_error;
        }
        n->watchdog_usec = fg_notify_parse_watchdog(getenv("WATCHDOG_USEC"),
                                                    getenv("WATCHDOG_PID"), getpid());
        return n;

init_error:
        fg_notify_close(n);
        return NULL;
}

void fg_notify_close(fg_notify_t *n) {
        if (!n)
                return;
        if (n->fd >= 0)
                close(n->fd);
        free(n);
}

/* Not connect(): sending to the address each time follows a manager that
 * re-created its socket (daemon-reexec), as sd_notify does. */
static int send_datagram(fg_notify_t *n, const char *msg, size_t len) {
        ssize_t w;

        do
                w = sendto(n->fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL,
                           (const struct sockaddr *)&n->addr, n->addr_len);
        while (w < 0 && errno == EINTR);
        if (w == (ssize_t)len) {
                if (n->failing)
                        fg_info("systemd notify: sending to %s works again (%llu notifications "
                                "lost)", n->name, (unsigned long long)n->lost_in_run);
                n->failing = false;
                n->lost_in_run = 0;
                return 1;
        }
        n->failures++;
        n->lost_in_run++;
        if (!n->failing)
                fg_warn("systemd notify: cannot send to %s: %s (further failures are not logged "
                        "until a send succeeds)", n->name,
                        w < 0 ? strerror(errno) : "short send");
        n->failing = true;
        return -1;
}

int fg_notify_send(fg_notify_t *n, const char *fmt, ...) {
        char small[512], *msg = small;
        va_list ap;
        int len, rc;

        if (!n)
                return 0;
        va_start(ap, fmt);
        len = vsnprintf(small, sizeof(small), fmt, ap);
        va_end(ap);
        if (len < 0)
                return -1;
        if ((size_t)len >= sizeof(small)) {
                msg = malloc((size_t)len + 1);
                if (!msg)
                        return -1;
                va_start(ap, fmt);
                vsnprintf(msg, (size_t)len + 1, fmt, ap);
                va_end(ap);
        }
        rc = send_datagram(n, msg, (size_t)len);
        if (msg != small)
                free(msg);
        return rc;
}

uint64_t fg_notify_parse_watchdog(const char *usec, const char *pid, pid_t self) {
        unsigned long long v;
        char *end;

        if (!usec || !*usec)
                return 0;
        if (pid && *pid) {
                long long p;
                errno = 0;
                p = strtoll(pid, &end, 10);
                if (errno || *end || end == pid || p <= 0 || p != (long long)self)
                        return 0;
        }
        if (*usec == '-' || *usec == '+')
                return 0;
        errno = 0;
        v = strtoull(usec, &end, 10);
        if (errno || *end || end == usec)
                return 0;
        return (uint64_t)v;
}

uint64_t fg_notify_watchdog_usec(const fg_notify_t *n) { return n ? n->watchdog_usec : 0; }

uint64_t fg_notify_failures(const fg_notify_t *n) { return n ? n->failures : 0; }
