/*
 * http_gzip: gzip for the http sink's request bodies (sink.compression:
 * gzip, Content-Encoding: gzip) — one zlib deflate stream per worker,
 * reset for each body, so a request costs no allocation once the output
 * buffer has grown to the largest body.
 *
 * Threading: one worker per fg_http_gzip_t.
 * Ownership: the worker owns it; the compressed body lives in it until the
 * next call.
 */
#ifndef FG_HTTP_GZIP_H
#define FG_HTTP_GZIP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct fg_http_gzip fg_http_gzip_t;

/* @p level: 1 (fastest) .. 9 (smallest). NULL when out of memory. */
fg_http_gzip_t *fg_http_gzip_new(int level);
void fg_http_gzip_free(fg_http_gzip_t *gz);
/* Compresses @p len bytes of @p in into one gzip member; returns it (valid
 * until the next call) and its length in *out_len, or NULL on failure. */
const char *fg_http_gzip_body(fg_http_gzip_t *gz, const char *in, size_t len, size_t *out_len);

#endif
