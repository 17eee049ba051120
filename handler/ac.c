/*
 * ac: the Aho-Corasick DFA (see ac.h).
 *
 * DESIGN
 * Bytes are first mapped to classes: each distinct (folded) keyword byte
 * gets its own, every other byte shares class 0 — a few dozen columns
 * instead of 256, and case folding costs nothing at match time because
 * 'A' and 'a' map to the same class. The trie of the keywords is then
 * completed into a DFA by the usual breadth-first pass over failure
 * links, so matching is one lookup per byte with no failure chains to
 * follow.
 *
 * We only ask whether some keyword occurs, never which or where, so every
 * state where a keyword ends (directly or through its failure link) is
 * merged into one absorbing MATCH state. The table stores next states
 * premultiplied by the row width (next = delta[state + class]), MATCH is
 * the last row, and the inner loop tests for it once per four bytes.
 *
 * One lookup per byte is a dependent chain (each load needs the state the
 * previous one produced); fg_ac_find breaks it by walking the text's two
 * halves at once, the first half running on for the longest keyword's
 * length minus one so that no match across the cut is missed.
 *
 * Threading: built on one thread, then read-only.
 */
#include "handler/ac.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The most the tables may take: a config can list many keywords, but not
 * make the daemon allocate without bound. */
#define FG_AC_MAX_BYTES ((size_t)64 << 20)

struct fg_ac {
        uint16_t cls[256];  /* byte -> class (folded with ci); 257 classes at most */
        uint32_t *delta;    /* (rows) x ncls, premultiplied next states */
        uint32_t ncls;
        uint32_t match;     /* MATCH's premultiplied index */
        size_t maxlen;      /* the longest keyword */
        size_t bytes;
};

static uint8_t fold(uint8_t c, bool ci) {
        return ci && (uint8_t)(c - 'A') < 26 ? (uint8_t)(c | 0x20) : c;
}

static void seterr(char *errstr, size_t errstr_size, const char *msg) {
        if (errstr && errstr_size)
                snprintf(errstr, errstr_size, "%s", msg);
}

/* Any thread. */
fg_ac_t *fg_ac_new(const char *const *kw, const size_t *len, size_t n, bool ci, char *errstr,
                   size_t errstr_size) {
        fg_ac_t *ac = calloc(1, sizeof(*ac));
        int32_t *go = NULL;   /* trie: nstates x ncls, -1 = no edge */
        uint32_t *fail = NULL, *queue = NULL, *renum = NULL;
        uint8_t *term = NULL;
        uint16_t used[256] = {0};
        size_t total = 1, nstates = 1, rows;

        if (!ac)
                goto oom;
        for (size_t i = 0; i < n; i++) {
                total += len[i];
                if (len[i] > ac->maxlen)
                        ac->maxlen = len[i];
                for (size_t j = 0; j < len[i]; j++)
                        used[fold((uint8_t)kw[i][j], ci)] = 1;
        }
        ac->ncls = 1;
        for (int b = 0; b < 256; b++)
                if (used[b])
                        used[b] = (uint16_t)ac->ncls++;
        for (int b = 0; b < 256; b++)
                ac->cls[b] = used[fold((uint8_t)b, ci)];
        if (total > FG_AC_MAX_BYTES / sizeof(*go) / ac->ncls) {
                seterr(errstr, errstr_size,
                       "too many keywords: the matcher would need more than 64 MiB");
                goto out_err;
        }

        /* The trie. */
        go = malloc(total * ac->ncls * sizeof(*go));
        term = calloc(total, 1);
        if (!go || !term)
                goto oom;
        memset(go, 0xff, total * ac->ncls * sizeof(*go));
        for (size_t i = 0; i < n; i++) {
                uint32_t s = 0;

                for (size_t j = 0; j < len[i]; j++) {
                        int32_t *e = &go[(size_t)s * ac->ncls + ac->cls[(uint8_t)kw[i][j]]];

                        if (*e < 0)
                                *e = (int32_t)nstates++;
                        s = (uint32_t)*e;
                }
                term[s] = 1;
        }

        /* Failure links, breadth first; a missing edge becomes the failure
         * state's edge, so go[] ends up the complete DFA. */
        fail = calloc(nstates, sizeof(*fail));
        queue = malloc(nstates * sizeof(*queue));
        if (!fail || !queue)
                goto oom;
        {
                size_t head = 0, tail = 0;

                for (uint32_t c = 0; c < ac->ncls; c++) {
                        int32_t *e = &go[c];

                        if (*e < 0) {
                                *e = 0;
                        } else {
                                fail[*e] = 0;
                                queue[tail++] = (uint32_t)*e;
                        }
                }
                while (head < tail) {
                        uint32_t s = queue[head++];

                        term[s] |= term[fail[s]];
                        for (uint32_t c = 0; c < ac->ncls; c++) {
                                int32_t *e = &go[(size_t)s * ac->ncls + c];
                                int32_t via = go[(size_t)fail[s] * ac->ncls + c];

                                if (*e < 0) {
                                        *e = via;
                                } else {
                                        fail[*e] = (uint32_t)via;
                                        queue[tail++] = (uint32_t)*e;
                                }
                        }
                }
        }

        /* Renumber: states where no keyword has ended keep rows, in order
         * (the root stays 0); the rest become MATCH, the last row. */
        renum = malloc(nstates * sizeof(*renum));
        if (!renum)
                goto oom;
        rows = 0;
        for (size_t s = 0; s < nstates; s++)
                if (!term[s])
                        renum[s] = (uint32_t)(rows++ * ac->ncls);
        ac->match = (uint32_t)(rows * ac->ncls);
        for (size_t s = 0; s < nstates; s++)
                if (term[s])
                        renum[s] = ac->match;
        ac->bytes = (rows + 1) * ac->ncls * sizeof(*ac->delta);
        ac->delta = malloc(ac->bytes);
        if (!ac->delta)
                goto oom;
        for (size_t s = 0; s < nstates; s++) {
                if (term[s])
                        continue;
                for (uint32_t c = 0; c < ac->ncls; c++)
                        ac->delta[renum[s] + c] = renum[go[s * ac->ncls + c]];
        }
        for (uint32_t c = 0; c < ac->ncls; c++)
                ac->delta[ac->match + c] = ac->match;
        goto out;

oom:
        seterr(errstr, errstr_size, "out of memory");
out_err:
        fg_ac_destroy(ac);
        ac = NULL;
out:
        free(go);
        free(term);
        free(fail);
        free(queue);
        free(renum);
        return ac;
}

/* Any thread, once no one matches with it. */
void fg_ac_destroy(fg_ac_t *ac) {
        if (!ac)
                return;
        free(ac->delta);
        free(ac);
}

/* Any thread. */
size_t fg_ac_bytes(const fg_ac_t *ac) {
        return ac->bytes + sizeof(*ac);
}

/* Any thread. */
bool fg_ac_feed(const fg_ac_t *ac, uint32_t *state, const void *data, size_t n) {
        const uint8_t *p = data;
        const uint16_t *cls = ac->cls;
        const uint32_t *d = ac->delta;
        uint32_t s = *state;
        size_t i = 0;

        for (; i + 4 <= n; i += 4) {
                s = d[s + cls[p[i]]];
                s = d[s + cls[p[i + 1]]];
                s = d[s + cls[p[i + 2]]];
                s = d[s + cls[p[i + 3]]];
                if (s == ac->match)
                        break;
        }
        for (; i < n && s != ac->match; i++)
                s = d[s + cls[p[i]]];
        *state = s;
        return s == ac->match;
}

/* Any thread. */
bool fg_ac_find(const fg_ac_t *ac, const void *data, size_t n) {
        const uint8_t *p = data, *pb;
        const uint16_t *cls = ac->cls;
        const uint32_t *d = ac->delta;
        uint32_t a = FG_AC_START, b = FG_AC_START;
        size_t mid = n / 2, la, lb, i;

        if (n < 4 * ac->maxlen + 32)
                return fg_ac_feed(ac, &a, p, n);
        /* a walks [0, mid + maxlen - 1), b walks [mid, n): a match starting
         * before mid ends inside a's part, one starting at mid or later
         * lies in b's. */
        la = mid + ac->maxlen - 1;
        lb = n - mid;
        pb = p + mid;
        for (i = 0; i + 4 <= la && i + 4 <= lb; i += 4) {
                a = d[a + cls[p[i]]];
                b = d[b + cls[pb[i]]];
                a = d[a + cls[p[i + 1]]];
                b = d[b + cls[pb[i + 1]]];
                a = d[a + cls[p[i + 2]]];
                b = d[b + cls[pb[i + 2]]];
                a = d[a + cls[p[i + 3]]];
                b = d[b + cls[pb[i + 3]]];
                if (a == ac->match || b == ac->match)
                        return true;
        }
        return fg_ac_feed(ac, &a, p + i, la - i) || fg_ac_feed(ac, &b, pb + i, lb - i);
}
