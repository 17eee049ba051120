/*
 * redact: see redact.h.
 */
#include "common/redact.h"

#include <string.h>

/* A bounded writer: keeps what fits, always NUL-terminated. */
typedef struct out {
        char *p;
        size_t size, len;
} out_t;

static void put(out_t *o, const char *s, size_t n) {
        size_t room;

        if (!o->size)
                return;
        room = o->size - 1 - o->len;
        if (n > room)
                n = room;
        memcpy(o->p + o->len, s, n);
        o->len += n;
        o->p[o->len] = '\0';
}

static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_alnum(char c) { return is_alpha(c) || (c >= '0' && c <= '9'); }
static bool is_scheme_char(char c) { return is_alnum(c) || c == '+' || c == '-' || c == '.'; }

/* Ends an authority: the path, query or fragment begins, or the URL does. */
static bool ends_authority(char c) {
        return !c || strchr("/?#<>\"' \t\r\n", c) != NULL;
}

/* The '@' ending the user-info of a URL whose "://" is at @p in + @p i, or
 * NULL when there is no URL (no scheme) or no user-info. */
static const char *userinfo_end(const char *in, size_t i) {
        size_t j = i;
        const char *at = NULL;

        while (j > 0 && is_scheme_char(in[j - 1]))
                j--;
        while (j < i && !is_alpha(in[j])) /* a scheme starts with a letter */
                j++;
        if (j == i)
                return NULL;
        for (const char *p = in + i + 3; !ends_authority(*p); p++)
                if (*p == '@')
                        at = p;
        return at;
}

/* Any thread. */
bool fg_redact_has_url_userinfo(const char *in) {
        const char *p;

        if (!in || !strchr(in, '@'))
                return false;
        for (p = in; (p = strstr(p, "://")) != NULL; p += 3)
                if (userinfo_end(in, (size_t)(p - in)))
                        return true;
        return false;
}

/* Any thread. */
const char *fg_redact_urls(const char *in, char *out, size_t size) {
        out_t o = {out, size, 0};
        size_t from = 0;
        const char *p;

        if (size)
                out[0] = '\0';
        if (!in)
                return out;
        for (p = in; (p = strstr(p, "://")) != NULL;) {
                size_t i = (size_t)(p - in);
                const char *at = userinfo_end(in, i);

                if (!at) {
                        p += 3;
                        continue;
                }
                put(&o, in + from, i + 3 - from);
                put(&o, FG_REDACTED, strlen(FG_REDACTED));
                from = (size_t)(at - in);
                p = at;
        }
        put(&o, in + from, strlen(in + from));
        return out;
}

/* Any thread. */
const char *fg_redact_secret(const char *in, const char *secret, char *out, size_t size) {
        out_t o = {out, size, 0};
        const char *p, *from;
        size_t slen;

        if (size)
                out[0] = '\0';
        if (!in)
                return out;
        while (secret && (*secret == ' ' || *secret == '\t'))
                secret++;
        slen = secret ? strlen(secret) : 0;
        while (slen && (secret[slen - 1] == ' ' || secret[slen - 1] == '\t'))
                slen--;
        from = in;
        for (p = in; slen && (p = memmem(p, strlen(p), secret, slen)) != NULL;) {
                const char *end = p + slen;
                bool alone = (!is_alnum(secret[0]) || p == in || !is_alnum(p[-1])) &&
                             (!is_alnum(secret[slen - 1]) || !is_alnum(*end));

                if (!alone) {
                        p++;
                        continue;
                }
                put(&o, from, (size_t)(p - from));
                put(&o, FG_REDACTED, strlen(FG_REDACTED));
                from = p = end;
        }
        put(&o, from, strlen(from));
        return out;
}

/* Any thread. */
bool fg_redact_is_secret_name(const char *name) {
        static const char *const marks[] = {
            "password", "passwd",  "secret",  "token",  "credential", "jaas",
            "authorization", "cookie", "apikey", "api-key", "api_key", "private",
            "ssl.key",  "oauthbearer.config",
        };
        char low[256];
        size_t n;

        if (!name)
                return false;
        for (n = 0; name[n] && n + 1 < sizeof(low); n++)
                low[n] = (char)(name[n] >= 'A' && name[n] <= 'Z' ? name[n] - 'A' + 'a' : name[n]);
        low[n] = '\0';
        for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
                if (strstr(low, marks[i]))
                        return true;
        return false;
}
