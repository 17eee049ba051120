/*
 * check_fuzz_regressions: every input the fuzzers ever crashed on
 * (tests/fuzz/regressions/<target>/), and the seed corpora
 * (tests/fuzz/corpus/<target>/), replayed through the same harness and
 * invariants as the libFuzzer targets (tests/fuzz/harness.h) — built with
 * the normal compiler, so `make check` (and `make asan`) keep every fixed
 * fuzz finding fixed without needing clang.
 *
 * Runs from FLOODGATE_SRCDIR (the repository root). Files whose names
 * start with '.' or "README" are skipped; an empty directory passes.
 * Threading: the test thread only (the admin harness runs its own loop).
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/fuzz/harness.h"
#include "tests/support/fgtest.h"

typedef int (*harness_fn)(const uint8_t *data, size_t size, char *why, size_t why_size);

static int name_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static uint8_t *slurp(const char *path, size_t *len) {
        FILE *fp = fopen(path, "rb");
        uint8_t *data = NULL;
        long n;

        if (!fp)
                return NULL;
        if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0) {
                data = malloc((size_t)n + 1);
                if (data && fread(data, 1, (size_t)n, fp) != (size_t)n) {
                        free(data);
                        data = NULL;
                }
                *len = (size_t)n;
        }
        fclose(fp);
        return data;
}

/* Runs @p fn on every file of @p dir; fails the test on the first broken
 * invariant, naming the file. Returns how many files ran. */
static size_t replay_dir(const char *dir, harness_fn fn) {
        DIR *d = opendir(dir);
        struct dirent *de;
        char **names = NULL;
        size_t n = 0, cap = 0, ran = 0;

        if (!d) {
                ck_assert_msg(errno == ENOENT, "cannot open %s: %s", dir, strerror(errno));
                return 0;
        }
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.' || !strncmp(de->d_name, "README", 6))
                        continue;
                if (n == cap) {
                        cap = cap ? cap * 2 : 64;
                        names = realloc(names, cap * sizeof(*names));
                        ck_assert(names != NULL);
                }
                names[n] = strdup(de->d_name);
                ck_assert(names[n] != NULL);
                n++;
        }
        closedir(d);
        if (n)
                qsort(names, n, sizeof(*names), name_cmp);
        for (size_t i = 0; i < n; i++) {
                char path[4096], why[4096] = "";
                struct stat st;
                uint8_t *data;
                size_t len = 0;

                snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
                if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
                        continue;
                data = slurp(path, &len);
                ck_assert_msg(data != NULL, "cannot read %s", path);
                ck_assert_msg(fn(data, len, why, sizeof(why)) == 0, "%s: %s", path, why);
                free(data);
                ran++;
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return ran;
}

START_TEST(test_fuzz_regressions_config) {
        replay_dir("tests/fuzz/regressions/config", fg_fuzz_config);
}
END_TEST

START_TEST(test_fuzz_regressions_handler) {
        replay_dir("tests/fuzz/regressions/handler", fg_fuzz_handler);
}
END_TEST

START_TEST(test_fuzz_regressions_admin) {
        replay_dir("tests/fuzz/regressions/admin", fg_fuzz_admin);
        fg_fuzz_admin_teardown();
}
END_TEST

/* The seeds pass too: they are the fuzzers' starting points, and each
 * documents a shape of input the invariants must hold for. */
START_TEST(test_fuzz_corpus_config) {
        ck_assert_uint_gt(replay_dir("tests/fuzz/corpus/config", fg_fuzz_config), 0);
}
END_TEST

START_TEST(test_fuzz_corpus_handler) {
        ck_assert_uint_gt(replay_dir("tests/fuzz/corpus/handler", fg_fuzz_handler), 0);
}
END_TEST

START_TEST(test_fuzz_corpus_admin) {
        ck_assert_uint_gt(replay_dir("tests/fuzz/corpus/admin", fg_fuzz_admin), 0);
        fg_fuzz_admin_teardown();
}
END_TEST

static Suite *fuzz_suite(void) {
        Suite *s = suite_create("fuzz_regressions");
        TCase *tc = tcase_create("replay");

        /* Whole corpora under sanitizers need more than Check's 4 s. */
        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, test_fuzz_regressions_config);
        tcase_add_test(tc, test_fuzz_regressions_handler);
        tcase_add_test(tc, test_fuzz_regressions_admin);
        tcase_add_test(tc, test_fuzz_corpus_config);
        tcase_add_test(tc, test_fuzz_corpus_handler);
        tcase_add_test(tc, test_fuzz_corpus_admin);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) { return fg_test_run_in_srcdir(fuzz_suite(), "check_fuzz_regressions"); }
