/*
 * hostport: see hostport.h.
 */
#include "common/hostport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool label_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-';
}

/* Any thread. */
bool fg_hostport_name_ok(const char *name) {
        size_t len = strlen(name), label = 0;

        if (!len || len > 253)
                return false;
        for (size_t i = 0; i <= len; i++) {
                char c = name[i];

                if (c == '.' || c == '\0') {
                        /* A trailing dot (the root) is allowed, an empty label elsewhere not. */
                        if (!label && !(c == '\0' && i > 0 && name[i - 1] == '.'))
                                return false;
                        if (label && (name[i - label] == '-' || name[i - 1] == '-'))
                                return false;
                        label = 0;
                } else if (!label_char(c) || ++label > 63) {
                        return false;
                }
        }
        return true;
}

/* Any thread. */
int fg_hostport_parse(const char *text, fg_hostport_t *hp, char *why, size_t why_size) {
        const char *colon = strrchr(text, ':'), *host = text, *p;
        unsigned char addr[16];
        size_t hlen;
        long port = 0;

        memset(hp, 0, sizeof(*hp));
        if (!colon || !colon[1]) {
                snprintf(why, why_size, "there is no port");
                return -1;
        }
        for (p = colon + 1; *p; p++) {
                if (*p < '0' || *p > '9') {
                        snprintf(why, why_size, "the port is not a number 0-65535");
                        return -1;
                }
                if (port <= 65535)
                        port = port * 10 + (*p - '0');
        }
        if (port > 65535) {
                snprintf(why, why_size, "the port is out of range 0-65535");
                return -1;
        }
        hlen = (size_t)(colon - text);
        if (hlen >= 2 && text[0] == '[' && text[hlen - 1] == ']') {
                host++;
                hlen -= 2;
                hp->v6 = true;
        } else if (memchr(text, ':', hlen)) {
                snprintf(why, why_size, "an IPv6 address needs brackets: [address]:port");
                return -1;
        }
        if (!hlen) {
                snprintf(why, why_size, "no host before the port (0.0.0.0 or [::] listen on every "
                                        "address)");
                return -1;
        }
        if (hlen >= sizeof(hp->host)) {
                snprintf(why, why_size, "the host is longer than %d characters",
                         FG_HOSTPORT_HOST_MAX - 1);
                return -1;
        }
        memcpy(hp->host, host, hlen);
        hp->host[hlen] = '\0';
        hp->port = (int)port;
        if (hp->v6) {
                if (inet_pton(AF_INET6, hp->host, addr) != 1) {
                        snprintf(why, why_size, "not an IPv6 address in the brackets");
                        return -1;
                }
                hp->numeric = true;
        } else if (inet_pton(AF_INET, hp->host, addr) == 1) {
                hp->numeric = true;
        } else if (strspn(hp->host, "0123456789.") == hlen) {
                snprintf(why, why_size, "not an IPv4 address");
                return -1;
        } else if (!fg_hostport_name_ok(hp->host)) {
                snprintf(why, why_size, "not an IP address or a host name");
                return -1;
        }
        return 0;
}

/* Any thread. */
bool fg_hostport_is_loopback(const char *host) {
        size_t len = strlen(host);
        struct in_addr a4;
        struct in6_addr a6;

        if (len && host[len - 1] == '.')
                len--; /* "localhost." */
        if ((len == 9 && !strncasecmp(host, "localhost", 9)) ||
            (len > 10 && !strncasecmp(host + len - 10, ".localhost", 10)))
                return true;
        if (inet_pton(AF_INET, host, &a4) == 1)
                return (ntohl(a4.s_addr) >> 24) == 127;
        return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* Any thread. */
bool fg_hostport_is_wildcard(const char *host) {
        struct in_addr a4;
        struct in6_addr a6;

        if (inet_pton(AF_INET, host, &a4) == 1)
                return a4.s_addr == htonl(INADDR_ANY);
        return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_UNSPECIFIED(&a6);
}
