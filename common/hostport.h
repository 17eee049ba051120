/*
 * hostport: "host:port" as floodgate's listen addresses are written
 * (metrics.listen), and the host names the admin server accepts in a
 * request's Host header. One parser for the config loader, which reports
 * what is wrong, and the admin server, which binds what it parsed.
 *
 * Threading: pure functions, any thread.
 * Ownership: the caller's buffers.
 */
#ifndef FG_HOSTPORT_H
#define FG_HOSTPORT_H

#include <stdbool.h>
#include <stddef.h>

/* Longest host part accepted (a DNS name is at most 253 characters). */
#define FG_HOSTPORT_HOST_MAX 256

typedef struct fg_hostport {
        char host[FG_HOSTPORT_HOST_MAX]; /* an IPv6 literal without its brackets */
        int port;                        /* 0..65535; 0 = any */
        bool numeric;                    /* an IPv4 or IPv6 literal */
        bool v6;
} fg_hostport_t;

/* Parses "host:port": host is an IPv4 literal, an IPv6 literal in
 * brackets or a DNS name (letters, digits, '-' and '.', labels of 1-63
 * characters not starting or ending with '-'); port is decimal 0..65535.
 * Returns 0, or -1 with the reason ("the port is out of range 0-65535",
 * ...) in @p why, which never quotes the text. */
int fg_hostport_parse(const char *text, fg_hostport_t *hp, char *why, size_t why_size);

/* Whether @p name (no port, an IPv6 literal without brackets) is a DNS
 * name by the syntax above. */
bool fg_hostport_name_ok(const char *name);

/* Whether @p host is a loopback name or address: "localhost", a name
 * ending in ".localhost" (RFC 6761: never sent to DNS), 127.0.0.0/8 or
 * ::1. */
bool fg_hostport_is_loopback(const char *host);

/* Whether @p host is the wildcard address 0.0.0.0 or ::. */
bool fg_hostport_is_wildcard(const char *host);

#endif
