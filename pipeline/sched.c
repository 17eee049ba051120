/*
 * sched: per-key FIFOs and the heap of ready keys (see sched.h).
 *
 * Indices, not pointers, link everything (nodes, key entries, the heap), so
 * the key pool may be reallocated as it grows. NIL ends a list.
 */
#include "pipeline/sched.h"

#include <stdlib.h>
#include <string.h>

#include "pipeline/offsets.h"

#define NIL         UINT32_MAX
#define KEYS_INITIAL 64u

typedef struct node {
        fg_item_t it;
        uint64_t seq;  /* arrival order */
        uint32_t next; /* next of the key's FIFO, or of the free list */
} node_t;

/* A ready key in the heap, with its head's arrival beside it so that
 * sifting reads nothing but the heap. A key is in the heap exactly while it
 * has waiting items and none in flight. */
typedef struct hent {
        uint64_t seq;
        uint32_t key;
} hent_t;

typedef struct kent {
        uint64_t skey;
        uint64_t head_seq;    /* arrival of the head item, the heap's order */
        uint64_t wbytes;      /* bytes of the waiting items */
        struct fg_part *part; /* whose blocked counts this key feeds (a reference) */
        uint32_t head, tail, nwait;
        bool busy;            /* an item is in flight */
        bool used;
} kent_t;

struct fg_sched {
        node_t *nodes;
        uint32_t cap, free_node;
        kent_t *keys;
        uint32_t kcap, free_key, nkeys;
        uint32_t *tab;        /* key index + 1; 0 = empty */
        uint32_t tmask;       /* table size - 1, a power of two minus one */
        hent_t *heap;         /* the ready keys, kcap places */
        uint32_t hn;
        uint64_t next_seq;
        size_t waiting, blocked, blocked_keys, busy;
};

static void *xrealloc(void *p, size_t n) {
        void *q = realloc(p, n);

        if (!q)
                abort(); /* the growth is bounded; running out here is fatal */
        return q;
}

fg_sched_t *fg_sched_new(size_t capacity) {
        fg_sched_t *s;

        if (capacity < 1 || capacity >= NIL)
                return NULL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return NULL;
        s->cap = (uint32_t)capacity;
        s->nodes = calloc(capacity, sizeof(*s->nodes));
        s->keys = calloc(KEYS_INITIAL, sizeof(*s->keys));
        s->heap = calloc(KEYS_INITIAL, sizeof(*s->heap));
        s->tab = calloc(2 * KEYS_INITIAL, sizeof(*s->tab));
        if (!s->nodes || !s->keys || !s->heap || !s->tab) {
                fg_sched_destroy(s);
                return NULL;
        }
        for (uint32_t i = 0; i < s->cap; i++)
                s->nodes[i].next = i + 1 < s->cap ? i + 1 : NIL;
        s->kcap = KEYS_INITIAL;
        for (uint32_t i = 0; i < s->kcap; i++)
                s->keys[i].head = i + 1 < s->kcap ? i + 1 : NIL; /* the free list */
        s->tmask = 2 * KEYS_INITIAL - 1;
        return s;
}

void fg_sched_destroy(fg_sched_t *s) {
        if (!s)
                return;
        for (uint32_t k = 0; s->keys && k < s->kcap; k++)
                if (s->keys[k].used && s->keys[k].part)
                        fg_part_unref(s->keys[k].part);
        free(s->nodes);
        free(s->keys);
        free(s->heap);
        free(s->tab);
        free(s);
}

/* ---- blocked accounting: an item is blocked while it waits behind an
 * earlier item of its key — the one in flight (busy key), or the head that
 * has not gone yet. Push and release change a key's share by one item
 * (add); rarer changes are bracketed by account(-1) and account(+1). */

static void add(fg_sched_t *s, const kent_t *e, int64_t items, int64_t bytes, int keys) {
        s->blocked += (size_t)items;
        s->blocked_keys += (size_t)keys;
        if (e->part)
                fg_part_blocked_add(e->part, items, bytes);
}

static void account(fg_sched_t *s, const kent_t *e, int sign) {
        uint32_t n = e->busy ? e->nwait : e->nwait ? e->nwait - 1 : 0;
        uint64_t bytes = e->busy ? e->wbytes : e->nwait ? e->wbytes - s->nodes[e->head].it.bytes : 0;

        if (n)
                add(s, e, sign * (int64_t)n, sign * (int64_t)bytes, sign);
}

/* ---- the heap of ready keys ---- */

static void sift_up(fg_sched_t *s, uint32_t pos) {
        hent_t h = s->heap[pos];

        while (pos > 0) {
                uint32_t parent = (pos - 1) / 2;
                if (s->heap[parent].seq <= h.seq)
                        break;
                s->heap[pos] = s->heap[parent];
                pos = parent;
        }
        s->heap[pos] = h;
}

static void sift_down(fg_sched_t *s, uint32_t pos) {
        hent_t h = s->heap[pos];

        for (;;) {
                uint32_t child = 2 * pos + 1;
                if (child >= s->hn)
                        break;
                if (child + 1 < s->hn && s->heap[child + 1].seq < s->heap[child].seq)
                        child++;
                if (h.seq <= s->heap[child].seq)
                        break;
                s->heap[pos] = s->heap[child];
                pos = child;
        }
        s->heap[pos] = h;
}

static void heap_push(fg_sched_t *s, uint32_t k) {
        s->heap[s->hn] = (hent_t){s->keys[k].head_seq, k};
        sift_up(s, s->hn++);
}

static uint32_t heap_pop(fg_sched_t *s) {
        uint32_t k = s->heap[0].key;

        s->heap[0] = s->heap[--s->hn];
        if (s->hn)
                sift_down(s, 0);
        return k;
}

/* Builds the heap anew from the keys (after remove_if changed heads). */
static void heap_rebuild(fg_sched_t *s) {
        s->hn = 0;
        for (uint32_t k = 0; k < s->kcap; k++)
                if (s->keys[k].used && !s->keys[k].busy && s->keys[k].nwait)
                        s->heap[s->hn++] = (hent_t){s->keys[k].head_seq, k};
        for (uint32_t i = s->hn / 2; i-- > 0;)
                sift_down(s, i);
}

/* ---- the key table ---- */

static uint32_t home(const fg_sched_t *s, uint64_t skey) {
        return (uint32_t)(skey ^ (skey >> 29)) & s->tmask;
}

static uint32_t find(const fg_sched_t *s, uint64_t skey) {
        for (uint32_t i = home(s, skey);; i = (i + 1) & s->tmask) {
                uint32_t slot = s->tab[i];
                if (!slot)
                        return NIL;
                if (s->keys[slot - 1].skey == skey)
                        return slot - 1;
        }
}

static void tab_insert(fg_sched_t *s, uint32_t k) {
        uint32_t i = home(s, s->keys[k].skey);

        while (s->tab[i])
                i = (i + 1) & s->tmask;
        s->tab[i] = k + 1;
}

/* Keeps the table at most half full. */
static void tab_grow(fg_sched_t *s) {
        uint32_t size = (s->tmask + 1) * 2;

        free(s->tab);
        s->tab = xrealloc(NULL, (size_t)size * sizeof(*s->tab));
        memset(s->tab, 0, (size_t)size * sizeof(*s->tab));
        s->tmask = size - 1;
        for (uint32_t k = 0; k < s->kcap; k++)
                if (s->keys[k].used)
                        tab_insert(s, k);
}

static void pool_grow(fg_sched_t *s) {
        uint32_t ncap = s->kcap * 2;

        s->keys = xrealloc(s->keys, (size_t)ncap * sizeof(*s->keys));
        s->heap = xrealloc(s->heap, (size_t)ncap * sizeof(*s->heap));
        memset(s->keys + s->kcap, 0, (size_t)(ncap - s->kcap) * sizeof(*s->keys));
        for (uint32_t i = s->kcap; i < ncap; i++)
                s->keys[i].head = i + 1 < ncap ? i + 1 : s->free_key;
        s->free_key = s->kcap;
        s->kcap = ncap;
}

static uint32_t key_add(fg_sched_t *s, uint64_t skey, struct fg_part *part) {
        uint32_t k;
        kent_t *e;

        if (s->nkeys == s->kcap)
                pool_grow(s); /* free_key is NIL only when the pool is full */
        if ((size_t)(s->nkeys + 1) * 2 > (size_t)s->tmask + 1)
                tab_grow(s);
        k = s->free_key;
        e = &s->keys[k];
        s->free_key = e->head;
        *e = (kent_t){.skey = skey, .part = part, .head = NIL, .tail = NIL, .used = true};
        /* Its own reference: a key may outlive the items of the partition
         * object it counts in (a partition assigned again while an event
         * of the old assignment is still in flight shares the key). */
        if (part)
                fg_part_ref(part);
        s->nkeys++;
        tab_insert(s, k);
        return k;
}

/* Backward-shift deletion: later entries of the probe run move up, so a
 * lookup never stops early at a hole. */
static void key_del(fg_sched_t *s, uint32_t k) {
        uint32_t i = home(s, s->keys[k].skey), j;

        while (s->tab[i] != k + 1)
                i = (i + 1) & s->tmask;
        for (j = i;;) {
                uint32_t h;
                j = (j + 1) & s->tmask;
                if (!s->tab[j])
                        break;
                h = home(s, s->keys[s->tab[j] - 1].skey);
                /* Entry at j may fill the hole at i unless its home lies
                 * cyclically in (i, j]. */
                if (i <= j ? (h <= i || h > j) : (h <= i && h > j)) {
                        s->tab[i] = s->tab[j];
                        i = j;
                }
        }
        s->tab[i] = 0;
        if (s->keys[k].part)
                fg_part_unref(s->keys[k].part);
        s->keys[k] = (kent_t){.head = s->free_key};
        s->free_key = k;
        s->nkeys--;
}

/* ---- the operations ---- */

void fg_sched_push(fg_sched_t *s, const fg_item_t *it, uint64_t skey) {
        uint32_t k = find(s, skey), n = s->free_node;
        kent_t *e;

        if (k == NIL)
                k = key_add(s, skey, it->part);
        e = &s->keys[k];
        s->free_node = s->nodes[n].next;
        s->nodes[n] = (node_t){.it = *it, .seq = s->next_seq++, .next = NIL};
        s->nodes[n].it.skey = skey;
        /* Behind the busy key's item, or behind the head: blocked. */
        if (e->busy || e->nwait)
                add(s, e, 1, it->bytes, e->busy ? !e->nwait : e->nwait == 1);
        if (e->nwait++)
                s->nodes[e->tail].next = n;
        else
                e->head = n, e->head_seq = s->nodes[n].seq;
        e->tail = n;
        e->wbytes += it->bytes;
        s->waiting++;
        if (!e->busy && e->nwait == 1)
                heap_push(s, k);
}

size_t fg_sched_pop(fg_sched_t *s, fg_item_t *out, size_t max) {
        size_t n = 0;

        while (n < max && s->hn) {
                uint32_t k = heap_pop(s), nd;
                kent_t *e = &s->keys[k];

                /* The rest waited behind the head and now wait behind the
                 * item in flight: blocked before and after. */
                nd = e->head;
                out[n++] = s->nodes[nd].it;
                e->head = s->nodes[nd].next;
                e->nwait--;
                e->wbytes -= s->nodes[nd].it.bytes;
                if (e->nwait)
                        e->head_seq = s->nodes[e->head].seq;
                else
                        e->tail = NIL;
                s->nodes[nd].next = s->free_node;
                s->free_node = nd;
                s->waiting--;
                e->busy = true;
                s->busy++;
        }
        return n;
}

bool fg_sched_release(fg_sched_t *s, uint64_t skey) {
        uint32_t k = find(s, skey);
        kent_t *e;

        if (k == NIL || !s->keys[k].busy)
                return false;
        e = &s->keys[k];
        e->busy = false;
        s->busy--;
        if (e->nwait) {
                /* The head may go now: it no longer waits. */
                add(s, e, -1, -(int64_t)s->nodes[e->head].it.bytes, -(e->nwait == 1));
                heap_push(s, k);
                return true;
        }
        key_del(s, k);
        return false;
}

size_t fg_sched_remove_if(fg_sched_t *s, bool (*pred)(const fg_item_t *it, void *opaque),
                          void (*dispose)(fg_item_t *it, void *opaque), void *opaque,
                          size_t *bytes) {
        size_t removed = 0;

        for (uint32_t k = 0; k < s->kcap; k++) {
                kent_t *e = &s->keys[k];
                uint32_t prev = NIL, nd;

                if (!e->used || !e->nwait)
                        continue;
                account(s, e, -1);
                for (nd = e->head; nd != NIL;) {
                        uint32_t next = s->nodes[nd].next;
                        if (!pred(&s->nodes[nd].it, opaque)) {
                                prev = nd;
                                nd = next;
                                continue;
                        }
                        if (prev == NIL)
                                e->head = next;
                        else
                                s->nodes[prev].next = next;
                        if (e->tail == nd)
                                e->tail = prev;
                        e->nwait--;
                        e->wbytes -= s->nodes[nd].it.bytes;
                        *bytes += s->nodes[nd].it.bytes;
                        dispose(&s->nodes[nd].it, opaque);
                        s->nodes[nd].next = s->free_node;
                        s->free_node = nd;
                        s->waiting--;
                        removed++;
                        nd = next;
                }
                if (e->nwait)
                        e->head_seq = s->nodes[e->head].seq;
                account(s, e, +1);
                if (!e->busy && !e->nwait)
                        key_del(s, k);
        }
        /* Heads changed and keys went: the heap is built again (rare:
         * rebalances). */
        heap_rebuild(s);
        return removed;
}

typedef struct by_seq {
        uint64_t seq;
        uint32_t node;
} by_seq_t;

static int cmp_seq(const void *a, const void *b) {
        uint64_t x = ((const by_seq_t *)a)->seq, y = ((const by_seq_t *)b)->seq;
        return x < y ? -1 : x > y;
}

size_t fg_sched_take_all(fg_sched_t *s, fg_item_t *out) {
        by_seq_t *order = xrealloc(NULL, (s->waiting ? s->waiting : 1) * sizeof(*order));
        size_t n = 0;

        for (uint32_t k = 0; k < s->kcap; k++) {
                kent_t *e = &s->keys[k];
                if (!e->used)
                        continue;
                account(s, e, -1);
                for (uint32_t nd = e->head; nd != NIL; nd = s->nodes[nd].next)
                        order[n++] = (by_seq_t){s->nodes[nd].seq, nd};
                e->head = e->tail = NIL;
                e->nwait = 0;
                e->wbytes = 0;
                if (!e->busy)
                        key_del(s, k);
        }
        qsort(order, n, sizeof(*order), cmp_seq);
        for (size_t i = 0; i < n; i++) {
                out[i] = s->nodes[order[i].node].it;
                s->nodes[order[i].node].next = s->free_node;
                s->free_node = order[i].node;
        }
        free(order);
        s->hn = 0;
        s->waiting = 0;
        return n;
}

size_t fg_sched_ready(const fg_sched_t *s) { return s->hn; }

void fg_sched_get_stats(const fg_sched_t *s, fg_sched_stats_t *out) {
        *out = (fg_sched_stats_t){
            .waiting = s->waiting,
            .ready_keys = s->hn,
            .busy_keys = s->busy,
            .blocked = s->blocked,
            .blocked_keys = s->blocked_keys,
            .keys = s->nkeys,
        };
}
