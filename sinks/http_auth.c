/*
 * http_auth: the http sink's Authorization header and its token file (see
 * http_auth.h).
 */
#include "sinks/http_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/log.h"

struct fg_http_auth {
        pthread_mutex_t lock;
        char *value;            /* the whole header value; under lock */
        atomic_uint gen;        /* bumped, under lock, whenever value changes */
        char *token_file;       /* NULL: the value never changes */
};

/* ---- checks (any thread) ---- */

int fg_http_auth_check_token(const char *token, char *msg, size_t msg_size) {
        if (!*token) {
                snprintf(msg, msg_size, "the token is empty");
                return -1;
        }
        for (const unsigned char *p = (const unsigned char *)token; *p; p++)
                if (*p <= 0x20 || *p >= 0x7f) {
                        snprintf(msg, msg_size, "the token may hold only visible ASCII characters "
                                                "(no spaces, line breaks or control characters)");
                        return -1;
                }
        return 0;
}

static bool has_control(const char *s) {
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        return true;
        return false;
}

int fg_http_auth_check_user(const char *user, char *msg, size_t msg_size) {
        if (strchr(user, ':'))
                snprintf(msg, msg_size, "must not contain ':' (it separates user and password)");
        else if (has_control(user))
                snprintf(msg, msg_size, "contains a control character");
        else
                return 0;
        return -1;
}

int fg_http_auth_check_password(const char *password, char *msg, size_t msg_size) {
        if (!has_control(password))
                return 0;
        snprintf(msg, msg_size, "contains a control character");
        return -1;
}

/* The token in @p path, surrounding whitespace removed, into *out
 * (malloc'ed). 0, or -1 with the reason. */
static int read_token(const char *path, char **out, char *msg, size_t msg_size) {
        char buf[FG_HTTP_TOKEN_MAX + 1];
        size_t len = 0, start = 0;
        struct stat st;
        ssize_t n;
        /* Non-blocking: opening a FIFO would otherwise wait for a writer. */
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

        if (fd < 0) {
                snprintf(msg, msg_size, "cannot read: %s", strerror(errno));
                return -1;
        }
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
                snprintf(msg, msg_size, "not a regular file");
                close(fd);
                return -1;
        }
        while (len < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - len)) != 0) {
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        snprintf(msg, msg_size, "cannot read: %s", strerror(errno));
                        close(fd);
                        return -1;
                }
                len += (size_t)n;
        }
        close(fd);
        if (len > FG_HTTP_TOKEN_MAX) {
                snprintf(msg, msg_size, "larger than %d bytes", FG_HTTP_TOKEN_MAX);
                return -1;
        }
        while (len && strchr(" \t\r\n", buf[len - 1]))
                len--;
        while (start < len && strchr(" \t\r\n", buf[start]))
                start++;
        buf[len] = '\0';
        if (memchr(buf + start, '\0', len - start)) {
                snprintf(msg, msg_size, "the token may hold only visible ASCII characters (no "
                                        "spaces, line breaks or control characters)");
                return -1;
        }
        if (fg_http_auth_check_token(buf + start, msg, msg_size))
                return -1;
        *out = strdup(buf + start);
        if (!*out) {
                snprintf(msg, msg_size, "out of memory");
                return -1;
        }
        return 0;
}

int fg_http_auth_check_token_file(const char *path, char *msg, size_t msg_size) {
        char *token = NULL;
        int rc = read_token(path, &token, msg, msg_size);

        free(token);
        return rc;
}

/* ---- the shared value (main thread, except under the lock) ---- */

bool fg_http_auth_configured(const fg_http_auth_cfg_t *cfg) {
        return cfg->basic_user || cfg->basic_password || cfg->bearer_token ||
               cfg->bearer_token_file;
}

static char *bearer_value(const char *token) {
        char *v = NULL;
        return asprintf(&v, "Bearer %s", token) < 0 ? NULL : v;
}

static char *basic_value(const char *user, const char *password) {
        size_t ulen = strlen(user), plen = strlen(password), raw_len = ulen + 1 + plen;
        char *raw = malloc(raw_len + 1), *v = malloc(6 + 4 * (raw_len / 3 + 1) + 1);

        if (raw && v) {
                memcpy(raw, user, ulen);
                raw[ulen] = ':';
                memcpy(raw + ulen + 1, password, plen);
                memcpy(v, "Basic ", 6);
                EVP_EncodeBlock((unsigned char *)v + 6, (const unsigned char *)raw, (int)raw_len);
        } else {
                free(v);
                v = NULL;
        }
        if (raw)
                OPENSSL_cleanse(raw, raw_len);
        free(raw);
        return v;
}

static void free_secret(char *s) {
        if (s)
                OPENSSL_cleanse(s, strlen(s));
        free(s);
}

void fg_http_auth_free(fg_http_auth_t *auth) {
        if (!auth)
                return;
        free_secret(auth->value);
        free(auth->token_file);
        pthread_mutex_destroy(&auth->lock);
        free(auth);
}

fg_http_auth_t *fg_http_auth_new(const fg_http_auth_cfg_t *cfg, char *errstr,
                                 size_t errstr_size) {
        fg_http_auth_t *auth = calloc(1, sizeof(*auth));
        char why[160], *token = NULL;

        if (!auth) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        pthread_mutex_init(&auth->lock, NULL);
        if (cfg->basic_user && cfg->basic_password) {
                auth->value = basic_value(cfg->basic_user, cfg->basic_password);
        } else if (cfg->bearer_token) {
                auth->value = bearer_value(cfg->bearer_token);
        } else if (cfg->bearer_token_file) {
                auth->token_file = strdup(cfg->bearer_token_file);
                if (auth->token_file && read_token(auth->token_file, &token, why, sizeof(why))) {
                        snprintf(errstr, errstr_size, "sink.auth.bearer_token_file %s: %s",
                                 cfg->bearer_token_file, why);
                        goto init_error;
                }
                auth->value = token ? bearer_value(token) : NULL;
                free_secret(token);
        } else {
                snprintf(errstr, errstr_size,
                         "sink.auth needs basic (user and password), bearer_token or "
                         "bearer_token_file");
                goto init_error;
        }
        if (!auth->value) {
                snprintf(errstr, errstr_size, "out of memory");
                goto init_error;
        }
        return auth;

init_error:
        fg_http_auth_free(auth);
        return NULL;
}

/* Under auth->lock: reads the file; replaces the value (and bumps the
 * generation) when the token changed. Returns 0 or -1 with the reason. */
static int reread(fg_http_auth_t *auth, char *why, size_t why_size) {
        char *token = NULL, *value;

        if (read_token(auth->token_file, &token, why, why_size))
                return -1;
        value = bearer_value(token);
        free_secret(token);
        if (!value) {
                snprintf(why, why_size, "out of memory");
                return -1;
        }
        if (!strcmp(value, auth->value)) {
                free_secret(value);
                return 0;
        }
        free_secret(auth->value);
        auth->value = value;
        atomic_fetch_add(&auth->gen, 1);
        return 0;
}

void fg_http_auth_reload(fg_http_auth_t *auth) {
        char why[160];
        unsigned before;
        int rc;

        if (!auth->token_file)
                return;
        pthread_mutex_lock(&auth->lock);
        before = atomic_load(&auth->gen);
        rc = reread(auth, why, sizeof(why));
        pthread_mutex_unlock(&auth->lock);
        if (rc)
                fg_error("http sink: cannot read sink.auth.bearer_token_file %s again: %s; keeping "
                         "the current token", auth->token_file, why);
        else
                fg_info("http sink: bearer token read again from %s (%s)", auth->token_file,
                        atomic_load(&auth->gen) != before ? "changed" : "unchanged");
}

/* ---- workers ---- */

const char *fg_http_auth_value(fg_http_auth_t *auth, fg_http_auth_copy_t *copy) {
        size_t len;

        if (copy->valid && copy->gen == atomic_load_explicit(&auth->gen, memory_order_acquire))
                return copy->value;
        pthread_mutex_lock(&auth->lock);
        len = strlen(auth->value) + 1;
        if (len > copy->cap) {
                char *p = malloc(len);
                if (!p) {
                        pthread_mutex_unlock(&auth->lock);
                        return NULL;
                }
                if (copy->value)
                        OPENSSL_cleanse(copy->value, copy->cap);
                free(copy->value);
                copy->value = p;
                copy->cap = len;
        }
        memcpy(copy->value, auth->value, len);
        copy->gen = atomic_load(&auth->gen);
        copy->valid = true;
        pthread_mutex_unlock(&auth->lock);
        return copy->value;
}

bool fg_http_auth_refresh(fg_http_auth_t *auth, fg_http_auth_copy_t *copy) {
        char why[160];
        bool changed;
        int rc = 0;

        if (!auth->token_file)
                return false;
        pthread_mutex_lock(&auth->lock);
        /* A token another worker (or a SIGHUP) put in since our request
         * went out is taken as it is, without reading the file again. */
        if (atomic_load(&auth->gen) == copy->gen)
                rc = reread(auth, why, sizeof(why));
        changed = atomic_load(&auth->gen) != copy->gen;
        pthread_mutex_unlock(&auth->lock);
        if (rc)
                fg_warn("http sink: cannot read sink.auth.bearer_token_file %s again: %s",
                        auth->token_file, why);
        else if (changed)
                fg_info("http sink: the server refused the bearer token; %s holds a new one, "
                        "sending again with it", auth->token_file);
        return changed;
}

void fg_http_auth_copy_free(fg_http_auth_copy_t *copy) {
        if (copy->value)
                OPENSSL_cleanse(copy->value, copy->cap);
        free(copy->value);
        *copy = (fg_http_auth_copy_t){0};
}
