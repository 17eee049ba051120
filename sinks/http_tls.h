/*
 * http_tls: TLS for the http sink's https:// URLs — the SSL_CTX built from
 * sink.tls (trust, client certificate, minimum version) and rebuilt on
 * SIGHUP, and per worker the SSL bufferevent of each new connection with
 * its server name, hostname verification and the session it resumes.
 *
 * DESIGN
 * One SSL_CTX per sink, shared by the workers (OpenSSL lets threads create
 * SSL objects from one context once it is built). A reload builds a new
 * context from the same files and swaps it in under the lock; an SSL holds
 * a reference to its context, so the old one lives until its last
 * connection is freed. A reload also bumps a generation: a worker then
 * drops its saved session and its open connection before its next request,
 * so new trust or a new client certificate applies from that request on.
 *
 * Session resumption: each worker keeps the last session its server gave
 * it and offers it on its next connection, so a reconnect (after the server
 * closed an idle connection, say) skips the certificate exchange and its
 * verification. TLS 1.3 tickets arrive after the handshake, so sessions are
 * collected through the context's new-session callback, not at connect.
 *
 * Verification (sink.tls.verify, the default): the chain up to ca_file (or
 * OpenSSL's default paths: the system bundle, SSL_CERT_FILE/SSL_CERT_DIR)
 * and the name — sink.tls.server_name or the URL's host, a DNS name or an
 * IP address — always, with no partial wildcards. The same name goes in SNI
 * unless it is an IP address.
 *
 * Threading: fg_http_tls_new, fg_http_tls_free, fg_http_tls_reload: main
 * thread. fg_http_tls_stats: any thread (atomics). fg_http_tls_check_*:
 * any thread (they only read files). fg_http_tls_conn_* and everything
 * they are given: the worker that owns the connection. Locks: tls->lock
 * guards the context pointer (taken briefly per new connection and per
 * reload).
 * Ownership: the sink owns its fg_http_tls_t; a worker owns its
 * fg_http_tls_conn_t and frees it after the last bufferevent it made (the
 * bufferevent's SSL points back to it).
 */
#ifndef FG_HTTP_TLS_H
#define FG_HTTP_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "sinks/sink.h"

typedef struct fg_http_tls fg_http_tls_t;
typedef struct fg_http_tls_conn fg_http_tls_conn_t;

/* Builds the context from @p cfg (read now: ca, cert and key files) for
 * connections to @p host (the URL's host: a name, or an IP address without
 * brackets); @p addr ("host:port") names the server in messages. NULL with
 * the reason in @p errstr. Warns when verification is off. */
fg_http_tls_t *fg_http_tls_new(const fg_tls_cfg_t *cfg, const char *host, const char *addr,
                               char *errstr, size_t errstr_size);
void fg_http_tls_free(fg_http_tls_t *tls);
/* SIGHUP: re-reads the files into a new context; on failure keeps the
 * current one and logs why. */
void fg_http_tls_reload(fg_http_tls_t *tls);
/* Adds the counters to @p out. */
void fg_http_tls_stats(const fg_http_tls_t *tls, fg_sink_stats_t *out);

/* For the config loader: 0, or -1 with the reason (no option name, no
 * path) in @p msg. A CA file needs at least one PEM certificate; a
 * certificate file a PEM certificate (chain); a key file an unencrypted
 * PEM private key matching @p cert_file. */
int fg_http_tls_check_ca(const char *path, char *msg, size_t msg_size);
int fg_http_tls_check_cert(const char *path, char *msg, size_t msg_size);
int fg_http_tls_check_key(const char *cert_file, const char *key_file, char *msg,
                          size_t msg_size);

/* A worker's TLS state; NULL on allocation failure. */
fg_http_tls_conn_t *fg_http_tls_conn_new(fg_http_tls_t *tls);
void fg_http_tls_conn_free(fg_http_tls_conn_t *tc);
/* A new, unconnected SSL bufferevent on @p base for the worker's next
 * connection (evhttp connects it), offering the saved session; NULL on
 * failure. */
struct bufferevent *fg_http_tls_bufferevent(fg_http_tls_conn_t *tc, struct event_base *base);
/* Whether the connection on @p bev (the last one made) may carry the next
 * request: false once it was closed after its handshake (an SSL object
 * cannot connect twice) or the context was reloaded since. */
bool fg_http_tls_reusable(fg_http_tls_conn_t *tc, struct bufferevent *bev);
/* The handshake on @p bev finished: counts it, new or resumed. */
void fg_http_tls_connected(fg_http_tls_conn_t *tc, struct bufferevent *bev);
/* Where a request on a TLS connection failed. */
typedef enum fg_http_tls_stage {
        FG_HTTP_TLS_HANDSHAKE, /* before the handshake finished */
        FG_HTTP_TLS_FRESH,     /* on the connection this request's handshake made */
        FG_HTTP_TLS_REUSED,    /* on a kept-alive connection */
} fg_http_tls_stage_t;

/* After a request on @p bev failed without a response (@p closed: the
 * connection closed or reset, as opposed to garbage or a timeout): when
 * TLS says why (verification, an alert, a protocol error, or a server that
 * closed a fresh connection at once, see the .c), writes the reason into
 * @p buf, counts it, logs it (at most once per 10 s per sink, with how
 * many more there were), drops the saved session and returns true; false
 * when TLS has nothing to say. */
bool fg_http_tls_failure(fg_http_tls_conn_t *tc, struct bufferevent *bev,
                         fg_http_tls_stage_t stage, bool closed, char *buf, size_t size);

#endif
