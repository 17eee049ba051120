/*
 * check_filter: the event filter as a self-contained object
 * (handler/filter.h: compiled from an fg_filter_cfg_t built by hand, matched
 * on raw bytes, error messages naming the caller's option) and the
 * Aho-Corasick matcher behind contains_any (handler/ac.h): against a naive
 * search on generated keyword sets and texts — overlapping keywords,
 * hundreds of them, texts long enough for the two-lane walk with matches
 * across its cut, fed whole and in pieces — ASCII-only case folding,
 * every byte value as a keyword byte, and the size limit.
 *
 * DESIGN: generated inputs come from a seeded xorshift (deterministic).
 * Threading: the test thread only.
 * Ownership: each test frees what it builds.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handler/ac.h"
#include "handler/filter.h"

static uint64_t rnd(uint64_t *s) {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

static unsigned char fold(unsigned char c) {
        return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* The obvious search, byte by byte. */
static bool naive(char *const *kw, const size_t *len, size_t n, const char *t, size_t tn, bool ci) {
        for (size_t k = 0; k < n; k++)
                for (size_t i = 0; len[k] <= tn && i <= tn - len[k]; i++) {
                        size_t j = 0;

                        while (j < len[k] && (ci ? fold((unsigned char)t[i + j]) ==
                                                       fold((unsigned char)kw[k][j])
                                                 : t[i + j] == kw[k][j]))
                                j++;
                        if (j == len[k])
                                return true;
                }
        return false;
}

/* ---- the matcher ---- */

/* Keyword sets of 1..300 over a 4-letter alphabet in both cases (so they
 * overlap and share prefixes and suffixes), texts of 0..400 bytes over the
 * same letters: fg_ac_find, and fg_ac_feed in random pieces, say what the
 * naive search says, with and without folding. */
START_TEST(test_filter_ac_matches_naive) {
        static const char alpha[] = "abcdABCD";
        uint64_t rng = 0x1234567ULL;
        size_t agreed = 0, hits = 0;
        char text[512];

        for (int set = 0; set < 300; set++) {
                size_t n = 1 + rnd(&rng) % (set < 200 ? 8 : 300), len[300];
                char *kw[300];
                bool ci = set & 1;
                char err[128];
                fg_ac_t *ac;

                for (size_t k = 0; k < n; k++) {
                        len[k] = 1 + rnd(&rng) % (set % 3 ? 4 : 9);
                        kw[k] = malloc(len[k]);
                        for (size_t j = 0; j < len[k]; j++)
                                kw[k][j] = alpha[rnd(&rng) % 8];
                }
                ac = fg_ac_new((const char *const *)kw, len, n, ci, err, sizeof(err));
                ck_assert_msg(ac != NULL, "%s", err);
                for (int t = 0; t < 60; t++) {
                        size_t tn = rnd(&rng) % (t % 4 ? 40 : 400);
                        bool want;
                        uint32_t state = FG_AC_START;
                        bool fed = false;

                        for (size_t i = 0; i < tn; i++)
                                text[i] = alpha[rnd(&rng) % 8];
                        want = naive(kw, len, n, text, tn, ci);
                        ck_assert_msg(fg_ac_find(ac, text, tn) == want, "set %d text %d (%zu bytes)",
                                      set, t, tn);
                        for (size_t i = 0; i < tn && !fed;) {
                                size_t piece = 1 + rnd(&rng) % 7;

                                if (piece > tn - i)
                                        piece = tn - i;
                                fed = fg_ac_feed(ac, &state, text + i, piece);
                                i += piece;
                        }
                        ck_assert_msg(fed == want, "set %d text %d fed in pieces", set, t);
                        agreed++;
                        hits += want;
                }
                fg_ac_destroy(ac);
                for (size_t k = 0; k < n; k++)
                        free(kw[k]);
        }
        printf("check_filter: %zu texts agree with the naive search (%zu contain a keyword)\n",
               agreed, hits);
        ck_assert_uint_gt(hits, agreed / 5);
        ck_assert_uint_lt(hits, agreed - agreed / 5);
}
END_TEST

/* A single keyword at every position of a long text, the two-lane walk's
 * cut included, and one byte short of it. */
START_TEST(test_filter_ac_long_texts) {
        const char *kw[] = {"needle", "haystackx"};
        size_t len[] = {6, 9};
        fg_ac_t *ac = fg_ac_new(kw, len, 2, true, NULL, 0);
        char text[300];

        ck_assert_ptr_nonnull(ac);
        for (size_t tn = 0; tn <= sizeof(text); tn += 37) {
                for (size_t at = 0; at + 6 <= tn; at++) {
                        memset(text, 'h', tn);
                        memcpy(text + at, "NeEdLe", 6);
                        ck_assert_msg(fg_ac_find(ac, text, tn), "%zu bytes, at %zu", tn, at);
                        text[at + 5] = 'x';
                        ck_assert_msg(!fg_ac_find(ac, text, tn), "%zu bytes, at %zu, broken", tn, at);
                }
        }
        fg_ac_destroy(ac);
}
END_TEST

/* ASCII letters fold; nothing else does (not UTF-8 letters, not the bytes
 * next to the letters). */
START_TEST(test_filter_ac_folding_ascii_only) {
        const char *kw[] = {"\xc3\xbc" "ber", "acme", "@x", "[y"};
        size_t len[] = {5, 4, 2, 2};
        fg_ac_t *ci = fg_ac_new(kw, len, 4, true, NULL, 0);
        fg_ac_t *cs = fg_ac_new(kw, len, 4, false, NULL, 0);
        static const struct {
                const char *text;
                bool ci, cs;
        } cases[] = {
            {"\xc3\xbc" "ber", true, true},
            {"\xc3\xbc" "BER", true, false},
            {"\xc3\x9c" "ber", false, false}, /* U+00DC, capital U-umlaut */
            {"ACME", true, false},
            {"AcMe", true, false},
            {"`x", false, false},             /* '@' | 0x20 */
            {"@X", true, false},
            {"{Y", false, false},             /* '[' | 0x20 */
            {"[y", true, true},
        };

        ck_assert(ci && cs);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                ck_assert_msg(fg_ac_find(ci, cases[i].text, strlen(cases[i].text)) == cases[i].ci,
                              "ci: %s", cases[i].text);
                ck_assert_msg(fg_ac_find(cs, cases[i].text, strlen(cases[i].text)) == cases[i].cs,
                              "cs: %s", cases[i].text);
        }
        fg_ac_destroy(ci);
        fg_ac_destroy(cs);
}
END_TEST

/* Every byte value in the keywords (257 classes, one more than a byte
 * holds), NUL included, and a text that is not NUL-terminated. */
START_TEST(test_filter_ac_every_byte) {
        char all[256], *kw[2] = {all, "\0\xff"};
        size_t len[2] = {256, 2};
        fg_ac_t *ac;
        char text[600];

        for (int b = 0; b < 256; b++)
                all[b] = (char)(255 - b);
        ac = fg_ac_new((const char *const *)kw, len, 2, false, NULL, 0);
        ck_assert_ptr_nonnull(ac);
        memset(text, 'q', sizeof(text));
        memcpy(text + 300, all, 256);
        ck_assert(fg_ac_find(ac, text, sizeof(text)));
        ck_assert(!fg_ac_find(ac, text, 555));
        memcpy(text + 10, "\0\xff", 2);
        ck_assert(fg_ac_find(ac, text, 20));
        ck_assert(!fg_ac_find(ac, text, 11));
        ck_assert_uint_gt(fg_ac_bytes(ac), 256 * 257 * 4);
        fg_ac_destroy(ac);
}
END_TEST

/* A keyword list whose automaton would pass 64 MiB is refused, with a
 * reason; 100 brand names take a few dozen KiB. */
START_TEST(test_filter_ac_size_limit) {
        enum { N = 20000, L = 64 };
        char **kw = malloc(N * sizeof(*kw)), err[128] = "";
        size_t *len = malloc(N * sizeof(*len));
        uint64_t rng = 99;
        fg_ac_t *ac;

        ck_assert(kw && len);
        for (size_t k = 0; k < N; k++) {
                kw[k] = malloc(L);
                len[k] = L;
                for (size_t j = 0; j < L; j++)
                        kw[k][j] = (char)(32 + rnd(&rng) % 90);
        }
        ck_assert_ptr_null(fg_ac_new((const char *const *)kw, len, N, false, err, sizeof(err)));
        ck_assert_str_eq(err, "too many keywords: the matcher would need more than 64 MiB");
        for (size_t k = 0; k < 100; k++)
                len[k] = 4 + k % 9;
        ac = fg_ac_new((const char *const *)kw, len, 100, true, err, sizeof(err));
        ck_assert_ptr_nonnull(ac);
        printf("check_filter: 100 keywords of 4-12 bytes: %zu bytes of tables\n", fg_ac_bytes(ac));
        ck_assert_uint_lt(fg_ac_bytes(ac), 512 * 1024);
        fg_ac_destroy(ac);
        for (size_t k = 0; k < N; k++)
                free(kw[k]);
        free(kw);
        free(len);
}
END_TEST

/* ---- the filter, outside the handler ---- */

static bool match(const fg_filter_t *f, const char *json) {
        return fg_filter_match(f, json, strlen(json));
}

/* Compiled from a hand-made config under another option's name (as a
 * router would), matched on raw bytes. */
START_TEST(test_filter_standalone) {
        char *kw[] = {"acme", "Globex"};
        fg_filter_cfg_t any = {.field = "post.text", .contains_any = {kw, 2},
                               .case_insensitive = true};
        fg_filter_cfg_t eq = {.field = "n", .equals = "1.5"};
        fg_filter_cfg_t ex = {.field = "a.b", .exists = true};
        fg_filter_cfg_t none = {0};
        fg_filter_t *f = fg_filter_new(&any, false, "routes[2].filter", NULL, 0);
        fg_filter_t *g = fg_filter_new(&eq, false, "routes[2].filter", NULL, 0);
        fg_filter_t *h = fg_filter_new(&ex, false, "routes[2].filter", NULL, 0);
        fg_filter_t *all = fg_filter_new(&none, false, "routes[2].filter", NULL, 0);

        ck_assert(f && g && h && all);
        ck_assert(fg_filter_is_none(all) && !fg_filter_is_none(f));
        ck_assert(match(all, "{}"));
        ck_assert(match(f, "{\"post\":{\"text\":\"GLOBEX rocks\"}}"));
        ck_assert(match(f, " {\"post\" : { \"id\":1, \"text\" : [ 2, \"x\", \"an ACME\" ] } } "));
        ck_assert(!match(f, "{\"post\":{\"text\":[[\"acme\"]]}}"));
        ck_assert(!match(f, "{\"post\":{\"txt\":\"acme\"}}"));
        ck_assert(!match(f, "{\"post\":\"acme\"}"));
        /* Escapes are decoded, in keys and values; a key given twice: the
         * last one counts. */
        ck_assert(match(f, "{\"p\\u006fst\":{\"te\\u0078t\":\"\\u0061cme\"}}"));
        ck_assert(match(f, "{\"post\":{\"text\":\"ac\\u006De\"}}"));
        ck_assert(!match(f, "{\"post\":{\"text\":\"acme\"},\"post\":{\"text\":\"none\"}}"));
        ck_assert(match(f, "{\"post\":{\"text\":\"none\",\"text\":\"acme\"}}"));
        ck_assert(match(g, "{\"n\":1.5}"));
        ck_assert(match(g, "{\"n\":15e-1}"));
        ck_assert(match(g, "{\"n\":\"1.5\"}"));
        ck_assert(!match(g, "{\"n\":1}"));
        ck_assert(!match(g, "{\"n\":[1.5]}"));
        ck_assert(match(h, "{\"a\":{\"b\":null}}"));
        ck_assert(!match(h, "{\"a\":{\"c\":{\"b\":1}}}"));
        ck_assert(!match(h, "{\"a\":[{\"b\":1}]}"));
        fg_filter_destroy(all);
        fg_filter_destroy(h);
        fg_filter_destroy(g);
        fg_filter_destroy(f);
        fg_filter_destroy(NULL);
}
END_TEST

/* Raw filters: contains_any over every byte; nothing else. */
START_TEST(test_filter_raw) {
        char *kw[] = {"acme"};
        fg_filter_cfg_t any = {.contains_any = {kw, 1}};
        fg_filter_cfg_t bad = {.field = "a", .contains_any = {kw, 1}};
        fg_filter_t *f = fg_filter_new(&any, true, "handler.filter", NULL, 0);
        char err[256] = "";

        ck_assert_ptr_nonnull(f);
        ck_assert(fg_filter_match(f, "\0\x01 acme", 8));
        ck_assert(!fg_filter_match(f, "\0\x01 acm", 7));
        ck_assert(!fg_filter_match(f, "", 0));
        ck_assert_ptr_null(fg_filter_new(&bad, true, "x.filter", err, sizeof(err)));
        ck_assert_str_eq(err, "x.filter: raw payloads are filtered only with contains_any over the "
                              "whole payload (no field, equals or exists)");
        fg_filter_destroy(f);
}
END_TEST

/* Refusals name the option they were given. */
START_TEST(test_filter_errors) {
        static char *kw[] = {"a", ""};
        static const struct {
                fg_filter_cfg_t cfg;
                const char *want;
        } cases[] = {
            {{.field = "a", .equals = "x", .exists = true}, "r.filter takes one of equals, exists, contains_any"},
            {{.equals = "x"}, "r.filter needs field"},
            {{.field = "a"}, "r.filter.field needs equals, exists or contains_any"},
            {{.field = "a..b", .exists = true}, "r.filter.field 'a..b': empty segment in dotted path"},
            {{.field = "a", .contains_any = {kw, 2}}, "r.filter.contains_any: keywords must not be empty"},
        };
        char err[256];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                strcpy(err, "unset");
                ck_assert_ptr_null(fg_filter_new(&cases[i].cfg, false, "r.filter", err, sizeof(err)));
                ck_assert_str_eq(err, cases[i].want);
        }
}
END_TEST

static Suite *filter_suite(void) {
        Suite *s = suite_create("filter");
        TCase *tc = tcase_create("core");

        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_filter_ac_matches_naive);
        tcase_add_test(tc, test_filter_ac_long_texts);
        tcase_add_test(tc, test_filter_ac_folding_ascii_only);
        tcase_add_test(tc, test_filter_ac_every_byte);
        tcase_add_test(tc, test_filter_ac_size_limit);
        tcase_add_test(tc, test_filter_standalone);
        tcase_add_test(tc, test_filter_raw);
        tcase_add_test(tc, test_filter_errors);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(filter_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
