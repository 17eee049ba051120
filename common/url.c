/*
 * url: see url.h.
 */
#include "common/url.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_lower(const char *s) {
        char *d = strdup(s);
        for (char *p = d; p && *p; p++)
                *p = (char)tolower((unsigned char)*p);
        return d;
}

/* Any thread. */
int fg_url_parse(const char *text, fg_url_t *url, char *errstr, size_t errstr_size) {
        struct evhttp_uri *uri = evhttp_uri_parse(text);
        const char *scheme, *host, *path, *query;
        unsigned char addr[16];
        size_t hlen;
        bool v6;
        int rc = -1;

        if (!uri) {
                snprintf(errstr, errstr_size, "not a valid URL");
                return -1;
        }
        scheme = evhttp_uri_get_scheme(uri);
        host = evhttp_uri_get_host(uri);
        path = evhttp_uri_get_path(uri);
        query = evhttp_uri_get_query(uri);
        url->port = evhttp_uri_get_port(uri);
        url->userinfo = evhttp_uri_get_userinfo(uri) != NULL;
        if (!scheme) {
                snprintf(errstr, errstr_size, "not a valid URL");
                goto out;
        }
        if (!host || !*host) {
                snprintf(errstr, errstr_size, "no host");
                goto out;
        }
        if (url->port == 0 || url->port > 65535) {
                snprintf(errstr, errstr_size, "port out of range");
                goto out;
        }
        hlen = strlen(host);
        v6 = host[0] == '[' && hlen > 2;
        url->scheme = dup_lower(scheme);
        url->host = v6 ? strndup(host + 1, hlen - 2) : strdup(host);
        url->host_text = strdup(host);
        url->path = strdup(path ? path : "");
        url->query = query ? strdup(query) : NULL;
        if (!url->scheme || !url->host || !url->host_text || !url->path || (query && !url->query)) {
                snprintf(errstr, errstr_size, "out of memory");
                goto out;
        }
        url->numeric = inet_pton(v6 ? AF_INET6 : AF_INET, url->host, addr) == 1;
        rc = 0;
out:
        evhttp_uri_free(uri);
        if (rc)
                fg_url_free(url);
        return rc;
}

/* Any thread. */
void fg_url_free(fg_url_t *url) {
        if (!url)
                return;
        free(url->scheme);
        free(url->host);
        free(url->host_text);
        free(url->path);
        free(url->query);
        url->scheme = url->host = url->host_text = url->path = url->query = NULL;
}
