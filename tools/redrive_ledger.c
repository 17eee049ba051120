/*
 * redrive_ledger: which dead letters of a partition are settled, and the
 * commit metadata that remembers those beyond the committed offset (see
 * redrive.h, "Selection").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/redrive.h"
#include "tools/redrive_int.h"

#define MAGIC     "fgr1"
#define MAGIC_LEN 4

static int hexval(int c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        c |= 0x20;
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void add_range(fg_rdl_t *l, int64_t from, int64_t to, int64_t min_ts,
                      const unsigned char *key, size_t key_len) {
        fg_rdl_range_t *nr = realloc(l->r, (l->nr + 1) * sizeof(*l->r));

        if (!nr)
                abort();
        l->r = nr;
        l->r[l->nr] = (fg_rdl_range_t){.from = from, .to = to, .min_ts = min_ts, .key_len = key_len};
        if (key) {
                l->r[l->nr].key = malloc(key_len ? key_len : 1);
                if (!l->r[l->nr].key)
                        abort();
                memcpy(l->r[l->nr].key, key, key_len);
        }
        l->nr++;
}

/* "FROM-TO:MIN_TS:KEY", KEY in hex or "*". 0, or -1 when malformed. */
static int parse_range(fg_rdl_t *l, const char *s, size_t len) {
        const char *c1 = memchr(s, ':', len), *c2, *hex;
        long long from, to, min_ts;
        unsigned char *key = NULL;
        size_t hlen, klen;
        char head[64];
        int n;

        c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - s)) : NULL;
        if (!c2 || (size_t)(c2 - s) >= sizeof(head))
                return -1;
        memcpy(head, s, (size_t)(c2 - s));
        head[c2 - s] = '\0';
        if (sscanf(head, "%lld-%lld:%lld%n", &from, &to, &min_ts, &n) != 3 || head[n] ||
            from < 0 || to < from)
                return -1;
        hex = c2 + 1;
        hlen = len - (size_t)(hex - s);
        if (hlen == 1 && *hex == '*') {
                add_range(l, from, to, min_ts, NULL, 0);
                return 0;
        }
        if (hlen % 2)
                return -1;
        klen = hlen / 2;
        key = malloc(klen ? klen : 1);
        if (!key)
                abort();
        for (size_t i = 0; i < klen; i++) {
                int hi = hexval((unsigned char)hex[2 * i]), lo = hexval((unsigned char)hex[2 * i + 1]);
                if (hi < 0 || lo < 0) {
                        free(key);
                        return -1;
                }
                key[i] = (unsigned char)(hi << 4 | lo);
        }
        add_range(l, from, to, min_ts, key, klen);
        free(key);
        return 0;
}

void fg_rdl_free(fg_rdl_t *l) {
        for (size_t i = 0; i < l->nr; i++)
                free(l->r[i].key);
        free(l->r);
        l->r = NULL;
        l->nr = 0;
}

int fg_rdl_init(fg_rdl_t *l, int32_t partition, int64_t start, const char *md, size_t md_len) {
        const char *p, *end = md + md_len;

        *l = (fg_rdl_t){.partition = partition, .prefix = start, .open = true, .pos = start,
                        .round_from = start};
        if (!md || !md_len)
                return 0;
        if (md_len < MAGIC_LEN || memcmp(md, MAGIC, MAGIC_LEN))
                return -1;
        for (p = md + MAGIC_LEN; p < end;) {
                const char *next;
                if (*p != ';')
                        goto bad;
                p++;
                next = memchr(p, ';', (size_t)(end - p));
                if (!next)
                        next = end;
                if (parse_range(l, p, (size_t)(next - p)))
                        goto bad;
                p = next;
        }
        return 0;
bad:
        fg_rdl_free(l);
        return -1;
}

bool fg_rdl_covered(const fg_rdl_t *l, int64_t off, const void *key, size_t key_len, int64_t ts) {
        for (size_t i = 0; i < l->nr; i++) {
                const fg_rdl_range_t *r = &l->r[i];
                if (off < r->from || off >= r->to || ts < r->min_ts)
                        continue;
                if (!r->key || (key && r->key_len == key_len && !memcmp(r->key, key, key_len)))
                        return true;
        }
        return false;
}

void fg_rdl_settle(fg_rdl_t *l, int64_t off) {
        if (l->open)
                l->prefix = off + 1;
        l->pos = off + 1;
}

void fg_rdl_leave(fg_rdl_t *l, int64_t off) {
        if (l->open)
                l->prefix = off;
        l->open = false;
        l->pos = off + 1;
}

void fg_rdl_reached(fg_rdl_t *l, int64_t off) {
        if (off <= l->pos)
                return;
        if (l->open)
                l->prefix = off;
        l->pos = off;
}

void fg_rdl_record(fg_rdl_t *l, const void *key, size_t key_len, int64_t min_ts) {
        if (l->pos > l->round_from)
                add_range(l, l->round_from, l->pos, min_ts > 0 ? min_ts : 0, key, key_len);
}

size_t fg_rdl_record_size(size_t key_len) { return 2 * key_len + 3 * 21 + 4; }

long fg_rdl_encode(fg_rdl_t *l, char *buf, size_t size) {
        size_t len = MAGIC_LEN, kept = 0;

        /* Below the committed offset a record says nothing new. */
        for (size_t i = 0; i < l->nr; i++) {
                fg_rdl_range_t *r = &l->r[i];
                if (r->to <= l->prefix) {
                        free(r->key);
                        continue;
                }
                if (r->from < l->prefix)
                        r->from = l->prefix;
                l->r[kept++] = *r;
        }
        l->nr = kept;
        if (!kept)
                return 0;
        if (size < MAGIC_LEN + 1)
                return -1;
        memcpy(buf, MAGIC, MAGIC_LEN);
        for (size_t i = 0; i < l->nr; i++) {
                const fg_rdl_range_t *r = &l->r[i];
                int n = snprintf(buf + len, size - len, ";%lld-%lld:%lld:", (long long)r->from,
                                 (long long)r->to, (long long)r->min_ts);

                if (n < 0 || (size_t)n >= size - len)
                        return -1;
                len += (size_t)n;
                if (!r->key && len + 2 > size)
                        return -1;
                if (!r->key)
                        buf[len++] = '*';
                for (size_t k = 0; r->key && k < r->key_len; k++) {
                        if (len + 3 > size)
                                return -1;
                        len += (size_t)snprintf(buf + len, size - len, "%02x", r->key[k]);
                }
        }
        buf[len] = '\0';
        return (long)len;
}
