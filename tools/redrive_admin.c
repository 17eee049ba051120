/*
 * redrive_admin: the release request to a running daemon — one blocking
 * HTTP/1.0 POST of /parked/release (daemon/admin_park.h), bounded in time
 * (each connect, send and receive) and in the bytes it reads back.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "tools/redrive_int.h"

/* An answer longer than this is cut (only its status and start matter). */
#define REPLY_MAX 4096

/* "host:port" -> host (brackets stripped) and port. */
static int split(const char *admin, char *host, size_t host_size, char *port, size_t port_size) {
        const char *colon = strrchr(admin, ':');
        size_t hlen;

        if (!colon || !colon[1] || strlen(colon + 1) >= port_size)
                return -1;
        hlen = (size_t)(colon - admin);
        if (hlen >= 2 && admin[0] == '[' && admin[hlen - 1] == ']')
                admin++, hlen -= 2;
        if (!hlen || hlen >= host_size)
                return -1;
        memcpy(host, admin, hlen);
        host[hlen] = '\0';
        snprintf(port, port_size, "%s", colon + 1);
        return 0;
}

/* Waits for @p events on @p fd until @p deadline; false on timeout. */
static bool wait_fd(int fd, short events, int64_t deadline) {
        struct pollfd pfd = {.fd = fd, .events = events};
        int64_t left = deadline - fg_mono_ns();

        if (left <= 0)
                return false;
        return poll(&pfd, 1, (int)(left / FG_NS_PER_MS) + 1) > 0;
}

static int connect_to(const char *host, const char *port, int64_t deadline, char *errstr,
                      size_t errstr_size) {
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
        int fd = -1, rc = getaddrinfo(host, port, &hints, &ai), err = 0;
        socklen_t elen = sizeof(err);

        if (rc || !ai) {
                snprintf(errstr, errstr_size, "%s:%s: %s", host, port, gai_strerror(rc));
                goto out;
        }
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0 || (connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS)) {
                snprintf(errstr, errstr_size, "%s:%s: %s", host, port, strerror(errno));
                goto fail;
        }
        if (!wait_fd(fd, POLLOUT, deadline) || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) ||
            err) {
                snprintf(errstr, errstr_size, "%s:%s: %s", host, port,
                         err ? strerror(err) : "timed out connecting");
                goto fail;
        }
        goto out;
fail:
        if (fd >= 0)
                close(fd);
        fd = -1;
out:
        if (ai)
                freeaddrinfo(ai);
        return fd;
}

int fg_rd_release(const char *admin, const void *key, size_t key_len, int64_t since_ms,
                  int64_t through_seq, int64_t timeout_ns, int *status, char *body,
                  size_t body_size, char *errstr, size_t errstr_size) {
        int64_t deadline = fg_mono_ns() + timeout_ns;
        char host[256], port[16], *req = NULL, reply[REPLY_MAX + 1], *json, *p;
        size_t reqlen, sent = 0, got = 0, jcap = 2 * key_len + 96;
        int fd = -1, rc = -1, n;

        if (split(admin, host, sizeof(host), port, sizeof(port))) {
                snprintf(errstr, errstr_size, "admin address '%s': expected host:port", admin);
                return -1;
        }
        json = malloc(jcap);
        req = malloc(jcap + 512);
        if (!json || !req)
                abort();
        p = json + snprintf(json, jcap, "{\"key_hex\":\"");
        for (size_t i = 0; i < key_len; i++)
                p += snprintf(p, 3, "%02x", ((const unsigned char *)key)[i]);
        snprintf(p, jcap - (size_t)(p - json), "\",\"since\":%lld,\"through\":%lld}",
                 (long long)since_ms, (long long)through_seq);
        n = snprintf(req, jcap + 512,
                     "POST /parked/release HTTP/1.0\r\nHost: %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     admin, strlen(json), json);
        reqlen = (size_t)n;
        fd = connect_to(host, port, deadline, errstr, errstr_size);
        if (fd < 0)
                goto out;
        while (sent < reqlen) {
                ssize_t w;
                if (!wait_fd(fd, POLLOUT, deadline)) {
                        snprintf(errstr, errstr_size, "%s: timed out sending", admin);
                        goto out;
                }
                w = send(fd, req + sent, reqlen - sent, MSG_NOSIGNAL);
                if (w < 0 && errno != EAGAIN && errno != EINTR) {
                        snprintf(errstr, errstr_size, "%s: %s", admin, strerror(errno));
                        goto out;
                }
                sent += w > 0 ? (size_t)w : 0;
        }
        while (got < REPLY_MAX) {
                ssize_t r;
                if (!wait_fd(fd, POLLIN, deadline)) {
                        snprintf(errstr, errstr_size, "%s: timed out waiting for the answer", admin);
                        goto out;
                }
                r = recv(fd, reply + got, REPLY_MAX - got, 0);
                if (r == 0)
                        break;
                if (r < 0 && errno != EAGAIN && errno != EINTR) {
                        snprintf(errstr, errstr_size, "%s: %s", admin, strerror(errno));
                        goto out;
                }
                got += r > 0 ? (size_t)r : 0;
        }
        reply[got] = '\0';
        if (sscanf(reply, "HTTP/%*d.%*d %d", status) != 1) {
                snprintf(errstr, errstr_size, "%s: not an HTTP answer", admin);
                goto out;
        }
        p = strstr(reply, "\r\n\r\n");
        snprintf(body, body_size, "%s", p ? p + 4 : "");
        rc = 0;
out:
        if (fd >= 0)
                close(fd);
        free(json);
        free(req);
        return rc;
}
