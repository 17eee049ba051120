/*
 * park: the table of parked keys (see park.h).
 *
 * A chained hash table on hash(topic, partition, key); the bucket array
 * doubles when the keys outnumber it. Releases (rare, from the admin
 * endpoint) scan every entry, matching the key alone.
 *
 * Locks: pk->lock guards the table and every entry; count and the totals
 * are mirrored in atomics for lock-free reads.
 */
#include "pipeline/park.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/hash.h"

typedef struct pent {
        struct pent *next;
        uint64_t h;  /* hash(topic, partition, key): the table's */
        uint64_t kh; /* hash(key) alone: releases match on it */
        char *topic;
        int32_t partition;
        unsigned char key[FG_PARK_KEY_MAX];
        size_t key_len; /* the real length; bytes past FG_PARK_KEY_MAX match by kh */
        int64_t since_ms, first_offset, next_seq;
        char reason[FG_PARK_REASON_MAX];
} pent_t;

struct fg_park {
        pthread_mutex_t lock;
        pent_t **buckets;
        size_t nbuckets; /* a power of two */
        size_t n, max;
        _Atomic size_t count_pub;
        _Atomic uint64_t parked_total, overflow_total;
};

fg_park_t *fg_park_new(size_t max_keys) {
        fg_park_t *pk = calloc(1, sizeof(*pk));

        if (!pk)
                return NULL;
        pk->nbuckets = 64;
        pk->buckets = calloc(pk->nbuckets, sizeof(*pk->buckets));
        if (!pk->buckets) {
                free(pk);
                return NULL;
        }
        pk->max = max_keys;
        pthread_mutex_init(&pk->lock, NULL);
        return pk;
}

static void pent_free(pent_t *e) {
        free(e->topic);
        free(e);
}

void fg_park_destroy(fg_park_t *pk) {
        if (!pk)
                return;
        for (size_t b = 0; b < pk->nbuckets; b++)
                for (pent_t *e = pk->buckets[b], *next; e; e = next) {
                        next = e->next;
                        pent_free(e);
                }
        free(pk->buckets);
        pthread_mutex_destroy(&pk->lock);
        free(pk);
}

size_t fg_park_count(const fg_park_t *pk) { return atomic_load(&pk->count_pub); }

uint64_t fg_park_parked_total(const fg_park_t *pk) { return atomic_load(&pk->parked_total); }

uint64_t fg_park_overflow_total(const fg_park_t *pk) { return atomic_load(&pk->overflow_total); }

size_t fg_park_max(const fg_park_t *pk) { return pk->max; }

static uint64_t hash_of(const char *topic, int32_t partition, const void *key, size_t key_len) {
        uint64_t seed = fg_hash_bytes((uint64_t)(uint32_t)partition, topic, strlen(topic));
        return fg_hash_bytes(seed, key, key_len);
}

static bool key_matches(const pent_t *e, const void *key, size_t key_len, uint64_t kh) {
        size_t kept = key_len < FG_PARK_KEY_MAX ? key_len : FG_PARK_KEY_MAX;

        return e->key_len == key_len && e->kh == kh && !memcmp(e->key, key, kept);
}

/* Lock held. */
static pent_t *lookup(fg_park_t *pk, uint64_t h, const char *topic, int32_t partition,
                      const void *key, size_t key_len, uint64_t kh) {
        for (pent_t *e = pk->buckets[h & (pk->nbuckets - 1)]; e; e = e->next)
                if (e->h == h && e->partition == partition && !strcmp(e->topic, topic) &&
                    key_matches(e, key, key_len, kh))
                        return e;
        return NULL;
}

bool fg_park_check(fg_park_t *pk, const char *topic, int32_t partition, const void *key,
                   size_t key_len, fg_park_ticket_t *t, char *reason, size_t reason_size) {
        uint64_t h, kh;
        pent_t *e;

        if (!key || !atomic_load_explicit(&pk->count_pub, memory_order_relaxed))
                return false;
        h = hash_of(topic, partition, key, key_len);
        kh = fg_hash_bytes(0, key, key_len);
        pthread_mutex_lock(&pk->lock);
        e = lookup(pk, h, topic, partition, key, key_len, kh);
        if (e) {
                t->since_ms = e->since_ms;
                t->seq = e->next_seq++;
                snprintf(reason, reason_size, "key parked since offset %lld: %s",
                         (long long)e->first_offset, e->reason);
        }
        pthread_mutex_unlock(&pk->lock);
        if (e)
                atomic_fetch_add(&pk->parked_total, 1);
        return e != NULL;
}

/* Lock held: doubles the buckets once the keys outnumber them. */
static void maybe_grow(fg_park_t *pk) {
        size_t nb = pk->nbuckets * 2;
        pent_t **nbk;

        if (pk->n <= pk->nbuckets || !(nbk = calloc(nb, sizeof(*nbk))))
                return; /* no room to grow: longer chains, still correct */
        for (size_t b = 0; b < pk->nbuckets; b++)
                for (pent_t *e = pk->buckets[b], *next; e; e = next) {
                        next = e->next;
                        e->next = nbk[e->h & (nb - 1)];
                        nbk[e->h & (nb - 1)] = e;
                }
        free(pk->buckets);
        pk->buckets = nbk;
        pk->nbuckets = nb;
}

bool fg_park_add(fg_park_t *pk, const char *topic, int32_t partition, const void *key,
                 size_t key_len, int64_t offset, const char *cls, const char *why,
                 fg_park_ticket_t *t, bool *full) {
        uint64_t h, kh;
        pent_t *e = NULL;
        bool added = false;

        *full = false;
        if (!key)
                return false;
        h = hash_of(topic, partition, key, key_len);
        kh = fg_hash_bytes(0, key, key_len);
        pthread_mutex_lock(&pk->lock);
        if (lookup(pk, h, topic, partition, key, key_len, kh))
                goto out;
        if (pk->n >= pk->max || !(e = calloc(1, sizeof(*e))) || !(e->topic = strdup(topic))) {
                if (pk->n < pk->max)
                        free(e);
                *full = true;
                goto out;
        }
        e->h = h;
        e->kh = kh;
        e->partition = partition;
        e->key_len = key_len;
        memcpy(e->key, key, key_len < FG_PARK_KEY_MAX ? key_len : FG_PARK_KEY_MAX);
        e->since_ms = fg_wall_ms();
        e->first_offset = offset;
        e->next_seq = 1;
        snprintf(e->reason, sizeof(e->reason), "%s: %s", cls, why ? why : "no reason given");
        e->next = pk->buckets[h & (pk->nbuckets - 1)];
        pk->buckets[h & (pk->nbuckets - 1)] = e;
        pk->n++;
        maybe_grow(pk);
        atomic_store(&pk->count_pub, pk->n);
        *t = (fg_park_ticket_t){.since_ms = e->since_ms, .seq = 0};
        added = true;
out:
        pthread_mutex_unlock(&pk->lock);
        if (*full)
                atomic_fetch_add(&pk->overflow_total, 1);
        return added;
}

void fg_park_release(fg_park_t *pk, const void *key, size_t key_len, int64_t since_ms,
                     int64_t through_seq, fg_park_release_result_t *res) {
        uint64_t kh = fg_hash_bytes(0, key, key_len);

        *res = (fg_park_release_result_t){0};
        pthread_mutex_lock(&pk->lock);
        for (size_t b = 0; b < pk->nbuckets; b++) {
                pent_t **pp = &pk->buckets[b];
                while (*pp) {
                        pent_t *e = *pp;
                        if (!key_matches(e, key, key_len, kh)) {
                                pp = &e->next;
                                continue;
                        }
                        if (since_ms >= 0 && e->since_ms != since_ms) {
                                res->other++;
                                pp = &e->next;
                                continue;
                        }
                        if (through_seq >= 0 && e->next_seq > through_seq + 1) {
                                res->behind++;
                                res->events = e->next_seq;
                                pp = &e->next;
                                continue;
                        }
                        *pp = e->next;
                        pent_free(e);
                        pk->n--;
                        res->released++;
                }
        }
        atomic_store(&pk->count_pub, pk->n);
        pthread_mutex_unlock(&pk->lock);
}

static int cmp_since(const void *a, const void *b) {
        const fg_park_view_t *x = a, *y = b;
        return x->since_ms < y->since_ms ? -1 : x->since_ms > y->since_ms;
}

/* Lock held: the view of one entry. */
static void view_of(const pent_t *e, fg_park_view_t *v) {
        size_t kept = e->key_len < FG_PARK_KEY_MAX ? e->key_len : FG_PARK_KEY_MAX;

        snprintf(v->topic, sizeof(v->topic), "%s", e->topic);
        v->partition = e->partition;
        memcpy(v->key, e->key, kept);
        v->key[kept] = '\0';
        v->key_len = e->key_len;
        v->since_ms = e->since_ms;
        v->first_offset = e->first_offset;
        v->events = e->next_seq;
        snprintf(v->reason, sizeof(v->reason), "%s", e->reason);
}

size_t fg_park_list(fg_park_t *pk, fg_park_view_t *out, size_t max) {
        size_t n = 0;

        pthread_mutex_lock(&pk->lock);
        /* The oldest when there are more than max: keep the max oldest by
         * replacing the youngest kept (max is small: a view's worth). */
        for (size_t b = 0; b < pk->nbuckets; b++)
                for (const pent_t *e = pk->buckets[b]; e; e = e->next) {
                        size_t at = n;
                        if (n == max) {
                                size_t young = 0;
                                for (size_t i = 1; i < n; i++)
                                        if (out[i].since_ms > out[young].since_ms)
                                                young = i;
                                if (!n || e->since_ms >= out[young].since_ms)
                                        continue;
                                at = young;
                        } else {
                                n++;
                        }
                        view_of(e, &out[at]);
                }
        pthread_mutex_unlock(&pk->lock);
        qsort(out, n, sizeof(*out), cmp_since);
        return n;
}
