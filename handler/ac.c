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
 * premultiplied by the row width (next = delta[state + 1 + class]; column
 * 0 of a row holds the state's depth: how many bytes of a keyword it has
 * seen), MATCH is the last row, and the inner loop tests for it once per
 * four bytes.
 *
 * One lookup per byte is a dependent chain (each load needs the state the
 * previous one produced), so fg_ac_find cuts a text into two or four
 * lanes walked at once. A lane runs on past its end only while its state
 * is deeper than the bytes it has run on: a keyword begun before the cut
 * is still possible; one begun at or after it is the next lane's, which
 * started there from the root. That is a byte or two of overlap, not the
 * longest keyword's length.
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
        uint16_t col[256];  /* byte -> 1 + its class (folded with ci); 257 classes at most */
        uint32_t *delta;    /* rows x (1 + ncls): depth, then premultiplied next states */
        uint32_t ncls;
        uint32_t match;     /* MATCH's premultiplied index */
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
        uint16_t used[256] = {0}, cls[256];
        uint32_t *depth = NULL;
        size_t total = 1, nstates = 1, rows, width;
        const char *err = "out of memory"; /* until the end */

        if (!ac)
                goto out;
        for (size_t i = 0; i < n; i++) {
                total += len[i];
                for (size_t j = 0; j < len[i]; j++)
                        used[fold((uint8_t)kw[i][j], ci)] = 1;
        }
        ac->ncls = 1;
        for (int b = 0; b < 256; b++)
                if (used[b])
                        used[b] = (uint16_t)ac->ncls++;
        for (int b = 0; b < 256; b++) {
                cls[b] = used[fold((uint8_t)b, ci)];
                ac->col[b] = (uint16_t)(cls[b] + 1);
        }
        width = ac->ncls + 1;
        if (total > FG_AC_MAX_BYTES / sizeof(*go) / width) {
                err = "too many keywords: the matcher would need more than 64 MiB";
                goto out;
        }

        /* The trie. */
        go = malloc(total * ac->ncls * sizeof(*go));
        term = calloc(total, 1);
        depth = calloc(total, sizeof(*depth));
        if (!go || !term || !depth)
                goto out;
        memset(go, 0xff, total * ac->ncls * sizeof(*go));
        for (size_t i = 0; i < n; i++) {
                uint32_t s = 0;

                for (size_t j = 0; j < len[i]; j++) {
                        int32_t *e = &go[(size_t)s * ac->ncls + cls[(uint8_t)kw[i][j]]];

                        if (*e < 0) {
                                *e = (int32_t)nstates++;
                                depth[*e] = (uint32_t)j + 1;
                        }
                        s = (uint32_t)*e;
                }
                term[s] = 1;
        }

        /* Failure links, breadth first; a missing edge becomes the failure
         * state's edge, so go[] ends up the complete DFA. */
        fail = calloc(nstates, sizeof(*fail));
        queue = malloc(nstates * sizeof(*queue));
        if (!fail || !queue)
                goto out;
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
                goto out;
        rows = 0;
        for (size_t s = 0; s < nstates; s++)
                if (!term[s])
                        renum[s] = (uint32_t)(rows++ * width);
        ac->match = (uint32_t)(rows * width);
        for (size_t s = 0; s < nstates; s++)
                if (term[s])
                        renum[s] = ac->match;
        ac->bytes = (rows + 1) * width * sizeof(*ac->delta);
        ac->delta = malloc(ac->bytes);
        if (!ac->delta)
                goto out;
        for (size_t s = 0; s < nstates; s++) {
                if (term[s])
                        continue;
                ac->delta[renum[s]] = depth[s];
                for (uint32_t c = 0; c < ac->ncls; c++)
                        ac->delta[renum[s] + 1 + c] = renum[go[s * ac->ncls + c]];
        }
        for (uint32_t c = 0; c <= ac->ncls; c++)
                ac->delta[ac->match + c] = ac->match;
        err = NULL;
out:
        if (err) {
                seterr(errstr, errstr_size, err);
                fg_ac_destroy(ac);
                ac = NULL;
        }
        free(go);
        free(term);
        free(depth);
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
        const uint16_t *col = ac->col;
        const uint32_t *d = ac->delta;
        uint32_t s = *state;
        size_t i = 0;

        for (; i + 4 <= n; i += 4) {
                s = d[s + col[p[i]]];
                s = d[s + col[p[i + 1]]];
                s = d[s + col[p[i + 2]]];
                s = d[s + col[p[i + 3]]];
                if (s == ac->match)
                        break;
        }
        for (; i < n && s != ac->match; i++)
                s = d[s + col[p[i]]];
        *state = s;
        return s == ac->match;
}

/* Lane @p s, which ended at @p e, runs on while a keyword begun before @p e
 * may still be under way (its depth exceeds what it ran on). */
static bool run_on(const fg_ac_t *ac, uint32_t s, const uint8_t *e, const uint8_t *end) {
        const uint32_t *d = ac->delta;

        for (const uint8_t *p = e; p < end && d[s] > (uint32_t)(p - e); p++) {
                s = d[s + ac->col[*p]];
                if (s == ac->match)
                        return true;
        }
        return false;
}

/* Any thread. */
bool fg_ac_find(const fg_ac_t *ac, const void *data, size_t n) {
        const uint8_t *p = data, *end = p + n;
        const uint16_t *col = ac->col;
        const uint32_t *d = ac->delta;
        const uint32_t m = ac->match;
        uint32_t s0 = FG_AC_START, s1 = FG_AC_START, s2 = FG_AC_START, s3 = FG_AC_START;
        size_t w, i;

        if (n < 16)
                return fg_ac_feed(ac, &s0, p, n);
        if (n < 64) {
                /* Two lanes: [0, w) and [w, n). */
                w = n / 2;
                for (i = 0; i < w; i++) {
                        s0 = d[s0 + col[p[i]]];
                        s1 = d[s1 + col[p[w + i]]];
                        if ((i & 3) == 3 && (s0 == m || s1 == m))
                                return true;
                }
                if (s0 == m || fg_ac_feed(ac, &s1, p + 2 * w, n - 2 * w))
                        return true;
                return run_on(ac, s0, p + w, end);
        }
        /* Four lanes of w bytes; the last one also takes the n % 4 left. */
        w = n / 4;
        for (i = 0; i < w; i++) {
                s0 = d[s0 + col[p[i]]];
                s1 = d[s1 + col[p[w + i]]];
                s2 = d[s2 + col[p[2 * w + i]]];
                s3 = d[s3 + col[p[3 * w + i]]];
                if ((i & 3) == 3 && (s0 == m || s1 == m || s2 == m || s3 == m))
                        return true;
        }
        if (s0 == m || s1 == m || s2 == m || fg_ac_feed(ac, &s3, p + 4 * w, n - 4 * w))
                return true;
        return run_on(ac, s0, p + w, end) || run_on(ac, s1, p + 2 * w, end) ||
               run_on(ac, s2, p + 3 * w, end);
}
