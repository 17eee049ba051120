/*
 * http_auth: the credentials the http sink sends (sink.auth) — an
 * Authorization header built once for basic or an inline bearer token, or
 * read from sink.auth.bearer_token_file and read again on SIGHUP and when
 * the server answers 401 or 403, so a rotated token takes effect without a
 * restart.
 *
 * DESIGN
 * The shared header value changes only under the lock, and every change
 * bumps a generation. Each worker keeps its own copy and looks at the
 * generation (one atomic load) before each request, taking the lock only
 * when it moved. After a 401/403 the worker asks for a refresh: if the
 * value already differs from the one its request carried (another worker,
 * or a SIGHUP, got there first) or the file now holds a different token,
 * the request is worth sending once more.
 *
 * Secrets: no function here puts a credential into a message, and the
 * config checks describe what is wrong with one without quoting it. The
 * token file's path is not a secret and is named.
 *
 * Threading: fg_http_auth_new, fg_http_auth_free, fg_http_auth_reload:
 * main thread. fg_http_auth_value, fg_http_auth_refresh: workers, each with
 * its own fg_http_auth_copy_t. fg_http_auth_check_*: any thread. Locks:
 * auth->lock guards the shared value (held for a copy or a file read).
 * Ownership: the sink owns its fg_http_auth_t; a worker owns its copy
 * (fg_http_auth_copy_free).
 */
#ifndef FG_HTTP_AUTH_H
#define FG_HTTP_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "sinks/sink.h"

/* A token file larger than this is not one. */
#define FG_HTTP_TOKEN_MAX 16384

typedef struct fg_http_auth fg_http_auth_t;

/* A worker's copy of the header value. Zero-initialise. */
typedef struct fg_http_auth_copy {
        char *value;
        size_t cap;
        unsigned gen;
        bool valid;
} fg_http_auth_copy_t;

/* Whether @p cfg asks for any credential. */
bool fg_http_auth_configured(const fg_http_auth_cfg_t *cfg);
/* NULL with the reason in @p errstr (which names no secret). */
fg_http_auth_t *fg_http_auth_new(const fg_http_auth_cfg_t *cfg, char *errstr,
                                 size_t errstr_size);
void fg_http_auth_free(fg_http_auth_t *auth);
/* SIGHUP: reads the token file again (nothing to do for fixed
 * credentials); on failure keeps the current token and logs why. */
void fg_http_auth_reload(fg_http_auth_t *auth);

/* The Authorization value for the next request, valid until the next call
 * with @p copy; NULL when out of memory. */
const char *fg_http_auth_value(fg_http_auth_t *auth, fg_http_auth_copy_t *copy);
/* After a 401/403 to a request sent with @p copy's value: true when a
 * different value is now current (the file is read again if needed), so
 * the request is worth one more try with fg_http_auth_value(). */
bool fg_http_auth_refresh(fg_http_auth_t *auth, fg_http_auth_copy_t *copy);
void fg_http_auth_copy_free(fg_http_auth_copy_t *copy);

/* For the config loader: 0, or -1 with what is wrong in @p msg (no option
 * name, no secret). A token: visible ASCII, no spaces. A basic user: no
 * ':' and no control characters; a password: no control characters. A
 * token file: readable, at most FG_HTTP_TOKEN_MAX bytes, one token
 * (surrounding whitespace and a final newline are ignored). */
int fg_http_auth_check_token(const char *token, char *msg, size_t msg_size);
int fg_http_auth_check_user(const char *user, char *msg, size_t msg_size);
int fg_http_auth_check_password(const char *password, char *msg, size_t msg_size);
int fg_http_auth_check_token_file(const char *path, char *msg, size_t msg_size);

#endif
