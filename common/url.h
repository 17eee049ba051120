/*
 * url: one parser for the URLs floodgate is given (sink.url, the daemon
 * URL of `floodgate top`), on top of libevent's evhttp_uri_parse.
 *
 * Threading: pure, any thread.
 * Ownership: fg_url_parse fills a caller's fg_url_t whose strings it owns
 * until fg_url_free (which accepts a zeroed or partly filled one).
 */
#ifndef FG_URL_H
#define FG_URL_H

#include <stdbool.h>
#include <stddef.h>

typedef struct fg_url {
        char *scheme;      /* lower case: "http", "https", ... */
        char *host;        /* for connecting: an IPv6 literal without brackets */
        char *host_text;   /* as written: an IPv6 literal keeps its brackets */
        int port;          /* as given; -1 when the URL names none */
        char *path;        /* "" when none */
        char *query;       /* NULL when none */
        bool userinfo;     /* "user[:password]@" was present (its text is not kept) */
        bool numeric;      /* host is an IPv4 or IPv6 literal */
} fg_url_t;

/* Parses @p text into @p url (zeroed by the caller). Returns 0, or -1 with
 * the reason, without the URL itself ("not a valid URL", "no host", "port
 * out of range", "out of memory"), in @p errstr; the caller says which URL
 * and which schemes it accepts. */
int fg_url_parse(const char *text, fg_url_t *url, char *errstr, size_t errstr_size);
void fg_url_free(fg_url_t *url);

#endif
