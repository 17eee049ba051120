/*
 * http_gzip: request bodies compressed with zlib (see http_gzip.h).
 */
#include "sinks/http_gzip.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "common/buf.h"

/* windowBits 15 (32 KiB), +16: a gzip header and trailer, not zlib's. */
#define GZIP_WINDOW_BITS (15 + 16)
#define GZIP_MEM_LEVEL 8

struct fg_http_gzip {
        z_stream zs;
        fg_buf_t out;
};

/* Worker. */
fg_http_gzip_t *fg_http_gzip_new(int level) {
        fg_http_gzip_t *gz = calloc(1, sizeof(*gz));

        if (gz && deflateInit2(&gz->zs, level, Z_DEFLATED, GZIP_WINDOW_BITS, GZIP_MEM_LEVEL,
                               Z_DEFAULT_STRATEGY) != Z_OK) {
                free(gz);
                gz = NULL;
        }
        return gz;
}

/* Worker. */
void fg_http_gzip_free(fg_http_gzip_t *gz) {
        if (!gz)
                return;
        deflateEnd(&gz->zs);
        fg_buf_free(&gz->out);
        free(gz);
}

/* Worker. */
const char *fg_http_gzip_body(fg_http_gzip_t *gz, const char *in, size_t len, size_t *out_len) {
        uLong bound;

        if (len > UINT_MAX || deflateReset(&gz->zs) != Z_OK)
                return NULL;
        bound = deflateBound(&gz->zs, (uLong)len);
        if (bound > UINT_MAX)
                return NULL;
        fg_buf_reset(&gz->out);
        fg_buf_reserve(&gz->out, bound);
        gz->zs.next_in = (Bytef *)(uintptr_t)in; /* zlib does not write it */
        gz->zs.avail_in = (uInt)len;
        gz->zs.next_out = (Bytef *)gz->out.p;
        gz->zs.avail_out = (uInt)bound;
        /* The output has deflateBound's room: one call finishes. */
        if (deflate(&gz->zs, Z_FINISH) != Z_STREAM_END)
                return NULL;
        *out_len = gz->zs.total_out;
        return gz->out.p;
}
