/*
 * buf: a growable byte buffer for building output (sink batches, HTTP
 * bodies, exposition text).
 *
 * Threading: none; a buffer belongs to one thread at a time.
 * Ownership: the buffer owns p; fg_buf_free() releases it. Allocation
 * failure aborts: these buffers are bounded by callers (batch limits), so
 * running out here means the process is already lost.
 */
#ifndef FG_BUF_H
#define FG_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct fg_buf {
        char *p;
        size_t len;
        size_t cap;
} fg_buf_t;

#define FG_BUF_INIT {NULL, 0, 0}

void fg_buf_reserve(fg_buf_t *b, size_t extra);
void fg_buf_append(fg_buf_t *b, const void *data, size_t len);
void fg_buf_putc(fg_buf_t *b, char c);
void fg_buf_printf(fg_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Keeps the allocation for reuse. */
static inline void fg_buf_reset(fg_buf_t *b) { b->len = 0; }
void fg_buf_free(fg_buf_t *b);
/* NUL-terminates without counting the NUL in len; returns p. */
char *fg_buf_cstr(fg_buf_t *b);

#endif
