/*
 * harness_config: a fuzz input as a configuration file (see harness.h).
 *
 * Invariants:
 *   - a NULL config comes with at least one message, a config with none;
 *   - every message is one line of printable text starting with the name:
 *     "fuzz.yaml:LINE:COL: ..." (LINE and COL >= 1, LINE within the
 *     input's lines), or "fuzz.yaml: ..." for the few messages that are
 *     about the whole input and have no position;
 *   - positioned messages come in file order;
 *   - a config the loader accepts is one the handler accepts (the loader
 *     mirrors the handler's checks), is equal to itself, and loading the
 *     same bytes again gives an equal config.
 */
#include "tests/fuzz/harness.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "handler/handler.h"


/* Lines as libyaml counts them: LF, CR, CRLF, NEL, LS and PS all break. */
static size_t count_lines(const uint8_t *p, size_t n) {
        size_t lines = 1;

        for (size_t i = 0; i < n; i++) {
                if (p[i] == '\n' || (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n')))
                        lines++;
                else if (p[i] == 0xC2 && i + 1 < n && p[i + 1] == 0x85)
                        lines++;
                else if (p[i] == 0xE2 && i + 2 < n && p[i + 1] == 0x80 &&
                         (p[i + 2] == 0xA8 || p[i + 2] == 0xA9))
                        lines++;
        }
        return lines;
}

/* Messages about the whole input (config.c writes them with no position). */
static bool unpositioned_ok(const char *msg) {
        static const char *const ok[] = {"out of memory", "configuration is too large"};
        const char *p = msg;

        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
                if (!strncmp(msg, ok[i], strlen(ok[i])))
                        return true;
        while (*p >= '0' && *p <= '9')
                p++;
        return p != msg && !strcmp(p, " more errors not shown");
}

/* Parses "L:C: " at @p s; returns the text after it, or NULL. */
static const char *parse_pos(const char *s, long *line, long *col) {
        char *end;

        *line = strtol(s, &end, 10);
        if (end == s || *end != ':')
                return NULL;
        s = end + 1;
        *col = strtol(s, &end, 10);
        if (end == s || end[0] != ':' || end[1] != ' ')
                return NULL;
        return end + 2;
}

static int check_messages(const fg_config_errs_t *errs, const uint8_t *data, size_t size,
                          char *why, size_t why_size) {
        const char *name = FG_FUZZ_CONFIG_NAME;
        size_t nlen = strlen(name), lines = count_lines(data, size);
        long prev_line = 0, prev_col = 0;

        for (size_t i = 0; i < errs->n; i++) {
                const char *m = errs->msgs[i], *rest;
                long line, col;

                if (!m)
                        return fg_fuzz_fail(why, why_size, "message %zu is NULL", i);
                for (const unsigned char *c = (const unsigned char *)m; *c; c++)
                        if (*c < 0x20 || *c == 0x7f)
                                return fg_fuzz_fail(why, why_size,
                                            "message %zu has control character 0x%02X: %s", i,
                                            *c, m);
                if (strncmp(m, name, nlen) || m[nlen] != ':')
                        return fg_fuzz_fail(why, why_size, "message %zu does not start with '%s:': %s",
                                    i, name, m);
                rest = m + nlen + 1;
                if (rest[0] == ' ') {
                        if (!unpositioned_ok(rest + 1))
                                return fg_fuzz_fail(why, why_size,
                                            "message %zu has no LINE:COL position: %s", i, m);
                        continue;
                }
                if (!parse_pos(rest, &line, &col) || line < 1 || col < 1)
                        return fg_fuzz_fail(why, why_size, "message %zu is not NAME:LINE:COL: ...: %s",
                                    i, m);
                if ((size_t)line > lines)
                        return fg_fuzz_fail(why, why_size,
                                    "message %zu points at line %ld of a %zu-line input: %s", i,
                                    line, lines, m);
                if ((size_t)col > size + 1)
                        return fg_fuzz_fail(why, why_size,
                                    "message %zu points at column %ld of a %zu-byte input: %s",
                                    i, col, size, m);
                if (line < prev_line || (line == prev_line && col < prev_col))
                        return fg_fuzz_fail(why, why_size, "message %zu is out of file order: %s", i, m);
                prev_line = line;
                prev_col = col;
        }
        return 0;
}

static void note_diff(const char *opt, bool live, void *opaque) {
        const char **first = opaque;

        if (!*first)
                *first = opt;
}

int fg_fuzz_config(const uint8_t *data, size_t size, char *why, size_t why_size) {
        fg_config_errs_t errs = {0}, errs2 = {0};
        fg_config_t *cfg, *again = NULL;
        fg_handler_t *h = NULL;
        char errstr[256] = "";
        const char *differs = NULL;
        int rc = -1;

        cfg = fg_config_load_string(FG_FUZZ_CONFIG_NAME, (const char *)data, size, &errs);
        if (!cfg && errs.n == 0) {
                fg_fuzz_fail(why, why_size, "rejected without a message");
                goto out;
        }
        if (cfg && errs.n) {
                fg_fuzz_fail(why, why_size, "accepted with %zu messages, the first: %s", errs.n,
                     errs.msgs[0]);
                goto out;
        }
        if (check_messages(&errs, data, size, why, why_size) < 0)
                goto out;
        if (cfg) {
                if (fg_config_diff(cfg, cfg, note_diff, &differs) != 0) {
                        fg_fuzz_fail(why, why_size, "a config differs from itself in %s", differs);
                        goto out;
                }
                again = fg_config_load_string(FG_FUZZ_CONFIG_NAME, (const char *)data, size,
                                              &errs2);
                if (!again) {
                        fg_fuzz_fail(why, why_size, "the second load of the same bytes failed: %s",
                             errs2.n ? errs2.msgs[0] : "?");
                        goto out;
                }
                if (fg_config_diff(cfg, again, note_diff, &differs) != 0) {
                        fg_fuzz_fail(why, why_size, "two loads of the same bytes differ in %s", differs);
                        goto out;
                }
                h = fg_handler_new(&cfg->handler, errstr, sizeof(errstr));
                if (!h) {
                        fg_fuzz_fail(why, why_size, "the loader accepted a handler config "
                                            "fg_handler_new refuses: %s",
                             errstr);
                        goto out;
                }
        }
        rc = 0;
out:
        fg_handler_destroy(h);
        fg_config_destroy(again);
        fg_config_destroy(cfg);
        fg_config_errs_clear(&errs2);
        fg_config_errs_clear(&errs);
        return rc;
}
