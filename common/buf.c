#include "common/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fg_buf_reserve(fg_buf_t *b, size_t extra) {
        size_t need = b->len + extra + 1; /* room for a terminating NUL */
        size_t cap = b->cap ? b->cap : 256;
        char *p;

        if (need <= b->cap)
                return;
        while (cap < need)
                cap *= 2;
        p = realloc(b->p, cap);
        if (!p)
                abort();
        b->p = p;
        b->cap = cap;
}

void fg_buf_append(fg_buf_t *b, const void *data, size_t len) {
        fg_buf_reserve(b, len);
        if (len)
                memcpy(b->p + b->len, data, len);
        b->len += len;
}

void fg_buf_putc(fg_buf_t *b, char c) {
        fg_buf_reserve(b, 1);
        b->p[b->len++] = c;
}

void fg_buf_printf(fg_buf_t *b, const char *fmt, ...) {
        va_list ap;
        int n;

        va_start(ap, fmt);
        fg_buf_reserve(b, 64);
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if ((size_t)n >= b->cap - b->len) {
                fg_buf_reserve(b, (size_t)n);
                va_start(ap, fmt);
                vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
                va_end(ap);
        }
        b->len += (size_t)n;
}

void fg_buf_free(fg_buf_t *b) {
        free(b->p);
        b->p = NULL;
        b->len = b->cap = 0;
}

char *fg_buf_cstr(fg_buf_t *b) {
        fg_buf_reserve(b, 0);
        b->p[b->len] = '\0';
        return b->p;
}
