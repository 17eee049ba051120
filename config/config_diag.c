/*
 * config_diag: the diagnostics every stage of a load reports into — collect
 * "line:col: message" items, sort them into file order, cap and format them
 * as "path:line:col: message" — and the quoting of values inside messages.
 *
 * Threading: any thread; a fg_config_diag_t belongs to one load.
 * Ownership: see fg_config_diag_t in config_int.h.
 */
#include "config/config_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/redact.h"
#include "common/utf8.h"

/* More than this many messages help nobody: the rest are only counted. */
#define MAX_ERRORS 100

/* Any thread; @p diag belongs to the calling load. */
void fg_config_diag_add(fg_config_diag_t *diag, int line, int col, const char *fmt, ...) {
        char msg[1024], clean[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        /* A value quoted in a message may be a URL with a password in it. */
        if (fg_redact_has_url_userinfo(msg))
                memcpy(msg, fg_redact_urls(msg, clean, sizeof(clean)), sizeof(msg));
        if (diag->n == diag->cap) {
                size_t cap = diag->cap ? diag->cap * 2 : 16;
                fg_config_diag_item_t *items = realloc(diag->items, cap * sizeof(*items));
                if (!items) {
                        diag->oom = true;
                        return;
                }
                diag->items = items;
                diag->cap = cap;
        }
        diag->items[diag->n].msg = strdup(msg);
        if (!diag->items[diag->n].msg) {
                diag->oom = true;
                return;
        }
        diag->items[diag->n].line = line;
        diag->items[diag->n].col = col;
        diag->items[diag->n].seq = diag->n;
        diag->n++;
}

static int diag_cmp(const void *a, const void *b) {
        const fg_config_diag_item_t *x = a, *y = b;
        if (x->line != y->line)
                return x->line < y->line ? -1 : 1;
        if (x->col != y->col)
                return x->col < y->col ? -1 : 1;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void errs_push(fg_config_errs_t *errs, char *msg) {
        char **msgs;
        if (!msg)
                return;
        msgs = realloc(errs->msgs, (errs->n + 1) * sizeof(*msgs));
        if (!msgs) {
                free(msg);
                return;
        }
        errs->msgs = msgs;
        errs->msgs[errs->n++] = msg;
}

static char *format_msg(const char *path, int line, int col, const char *msg) {
        char *out = NULL;
        int r = line > 0 ? asprintf(&out, "%s:%d:%d: %s", path, line, col, msg)
                         : asprintf(&out, "%s: %s", path, msg);
        return r < 0 ? NULL : out;
}

/* Any thread. */
void fg_config_diag_finish(fg_config_diag_t *diag, fg_config_errs_t *errs) {
        size_t shown = diag->n < MAX_ERRORS ? diag->n : MAX_ERRORS;

        if (diag->oom && !diag->n)
                errs_push(errs, format_msg(diag->path, 0, 0, "out of memory"));
        if (diag->n)
                qsort(diag->items, diag->n, sizeof(*diag->items), diag_cmp);
        for (size_t i = 0; i < shown; i++)
                errs_push(errs, format_msg(diag->path, diag->items[i].line, diag->items[i].col,
                                           diag->items[i].msg));
        if (diag->n > shown) {
                char more[64];
                snprintf(more, sizeof(more), "%zu more errors not shown", diag->n - shown);
                errs_push(errs, format_msg(diag->path, 0, 0, more));
        }
        for (size_t i = 0; i < diag->n; i++)
                free(diag->items[i].msg);
        free(diag->items);
        diag->items = NULL;
        diag->n = diag->cap = 0;
}

/* Any thread. A URL's user-info is redacted before anything is cut, so a
 * truncated quote cannot keep part of a password. */
const char *fg_config_quote(const char *s, size_t len, size_t max, char *buf, size_t size) {
        const unsigned char *p = (const unsigned char *)s;
        size_t off = 0, chars = 0, i = 0;
        char *copy = NULL, *clean = NULL;

        if (!size)
                return buf;
        if (memchr(s, '@', len) && (copy = strndup(s, len)) && fg_redact_has_url_userinfo(copy) &&
            (clean = malloc(len + sizeof(FG_REDACTED) + 1))) {
                fg_redact_urls(copy, clean, len + sizeof(FG_REDACTED) + 1);
                p = (const unsigned char *)clean;
                len = strlen(clean);
        }
        free(copy);
        while (i < len) {
                size_t n = p[i] >= 0x80 ? fg_utf8_seq_len(p + i, len - i) : 1;
                if (chars >= max || off + 8 >= size) {
                        snprintf(buf + off, size - off, "...");
                        free(clean);
                        return buf;
                }
                if (n > 1) {
                        memcpy(buf + off, p + i, n);
                        off += n;
                        i += n;
                } else if (p[i] == '\n') {
                        off += (size_t)snprintf(buf + off, size - off, "\\n");
                        i++;
                } else if (p[i] == '\t') {
                        off += (size_t)snprintf(buf + off, size - off, "\\t");
                        i++;
                } else if (p[i] < 0x20 || p[i] >= 0x7F) {
                        off += (size_t)snprintf(buf + off, size - off, "\\x%02X", p[i]);
                        i++;
                } else {
                        buf[off++] = (char)p[i++];
                }
                chars++;
        }
        buf[off] = '\0';
        free(clean);
        return buf;
}

