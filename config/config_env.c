/*
 * config_env: ${VAR}, ${VAR:-default} and $$ in configuration values.
 *
 * DESIGN: expansion works on the text of one scalar value after YAML parsing,
 * so whatever a variable holds stays a single string: it is never parsed as
 * YAML and cannot inject structure. Keys are never expanded (the walker only
 * calls this for values). ${VAR:-default} uses the default when VAR is unset
 * or empty, as in sh(1); the default is literal text up to the first '}'.
 * A '$' not followed by '{' or '$' is kept as is.
 *
 * Threading: any thread, but getenv() races with setenv() elsewhere; the
 * daemon only loads config on the main thread and never calls setenv().
 * Ownership: the returned string is malloc'ed and owned by the caller.
 */
#include "config/config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sbuf {
        char *p;
        size_t n, cap;
        int oom; /* an allocation failed */
} sbuf_t;

static int sbuf_add(sbuf_t *sb, const char *s, size_t len) {
        if (sb->n + len + 1 > sb->cap) {
                size_t cap = sb->cap ? sb->cap : 64;
                char *p;
                while (cap < sb->n + len + 1)
                        cap *= 2;
                p = realloc(sb->p, cap);
                if (!p) {
                        sb->oom = 1;
                        return -1;
                }
                sb->p = p;
                sb->cap = cap;
        }
        memcpy(sb->p + sb->n, s, len);
        sb->n += len;
        sb->p[sb->n] = '\0';
        return 0;
}

static int valid_name(const char *s, size_t len) {
        if (!len || (s[0] >= '0' && s[0] <= '9'))
                return 0;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '_'))
                        return 0;
        }
        return 1;
}

/* Any thread (see the DESIGN note about getenv). */
char *fg_config_env_expand(const char *in, char *errstr, size_t errstr_size) {
        sbuf_t sb = {0};
        const char *p = in;

        if (sbuf_add(&sb, "", 0) < 0)
                goto fail;
        while (*p) {
                const char *dollar = strchr(p, '$');
                const char *close, *name, *def = NULL, *val;
                size_t name_len, def_len = 0;
                char qbuf[80], namebuf[256];

                if (!dollar) {
                        if (sbuf_add(&sb, p, strlen(p)) < 0)
                                goto fail;
                        break;
                }
                if (sbuf_add(&sb, p, (size_t)(dollar - p)) < 0)
                        goto fail;
                if (dollar[1] == '$') {
                        if (sbuf_add(&sb, "$", 1) < 0)
                                goto fail;
                        p = dollar + 2;
                        continue;
                }
                if (dollar[1] != '{') {
                        if (sbuf_add(&sb, "$", 1) < 0)
                                goto fail;
                        p = dollar + 1;
                        continue;
                }
                name = dollar + 2;
                close = strchr(name, '}');
                if (!close) {
                        snprintf(errstr, errstr_size,
                                 "unterminated '${' (missing '}'; write $$ for a literal '$')");
                        goto fail;
                }
                name_len = (size_t)(close - name);
                for (size_t i = 0; i + 1 < name_len; i++) {
                        if (name[i] == ':' && name[i + 1] == '-') {
                                def = name + i + 2;
                                def_len = name_len - i - 2;
                                name_len = i;
                                break;
                        }
                }
                if (!valid_name(name, name_len)) {
                        snprintf(errstr, errstr_size,
                                 "invalid environment variable name '%s' "
                                 "(use letters, digits and '_', not starting with a digit)",
                                 fg_config_quote(name, name_len, 40, qbuf, sizeof(qbuf)));
                        goto fail;
                }
                if (name_len >= sizeof(namebuf)) {
                        snprintf(errstr, errstr_size, "environment variable name too long");
                        goto fail;
                }
                memcpy(namebuf, name, name_len);
                namebuf[name_len] = '\0';
                val = getenv(namebuf);
                if (def && (!val || !*val)) {
                        if (sbuf_add(&sb, def, def_len) < 0)
                                goto fail;
                } else if (val) {
                        if (sbuf_add(&sb, val, strlen(val)) < 0)
                                goto fail;
                } else {
                        snprintf(errstr, errstr_size,
                                 "environment variable '%s' is not set "
                                 "(write ${%s:-default} to give a default)",
                                 namebuf, namebuf);
                        goto fail;
                }
                p = close + 1;
        }
        return sb.p;

fail:
        if (sb.oom)
                snprintf(errstr, errstr_size, "out of memory");
        free(sb.p);
        return NULL;
}
