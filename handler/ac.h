/*
 * ac: "does this text contain any of these keywords?" for hundreds of
 * keywords at once — an Aho-Corasick automaton compiled into a DFA, so the
 * text is read once, one table lookup per byte, however many keywords
 * there are (contains_any in handler.filter).
 *
 * Case folding: with @p ci, ASCII letters A-Z match a-z (and only those:
 * every other byte, UTF-8 sequences included, matches only itself, so
 * "Ü" does not match "ü"). Bytes are bytes: a keyword may contain any of
 * them, NUL included, and texts are not NUL-terminated.
 *
 * Feeding is incremental (a state carried between calls), so a string can
 * be matched piece by piece as its escapes are decoded, with the same
 * result as matching the decoded bytes at once.
 *
 * Threading: an fg_ac_t is immutable after fg_ac_new: any number of
 * threads may match with it. Ownership: it owns its tables; keywords are
 * copied into them.
 */
#ifndef FG_AC_H
#define FG_AC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fg_ac fg_ac_t;

/* The state before any byte was fed. */
#define FG_AC_START 0u

/* Compiles keywords @p kw[i] of @p len[i] bytes (each at least one byte).
 * NULL with errstr when out of memory or when the automaton would exceed
 * 64 MiB (tens of thousands of long keywords). Any thread. */
fg_ac_t *fg_ac_new(const char *const *kw, const size_t *len, size_t n, bool ci, char *errstr,
                   size_t errstr_size);
void fg_ac_destroy(fg_ac_t *ac);

/* Feeds @p n bytes from *@p state (FG_AC_START for a new text): true as
 * soon as a keyword has ended, anywhere in what was fed so far. Any
 * thread. */
bool fg_ac_feed(const fg_ac_t *ac, uint32_t *state, const void *p, size_t n);
/* Does @p p[0..n) contain a keyword? The same as one feed from the start,
 * faster from 16 bytes on (it walks two or four parts at once). Any
 * thread. */
bool fg_ac_find(const fg_ac_t *ac, const void *p, size_t n);
/* Bytes the automaton's tables take (tests and handler_cost report it). */
size_t fg_ac_bytes(const fg_ac_t *ac);

#endif
