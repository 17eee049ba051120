/*
 * fuzz_handler: libFuzzer entry point for the handler path; the input format and
 * the invariants are in harness_handler.c. A broken invariant aborts, which
 * libFuzzer reports as a crash and saves as an artifact (see
 * tests/fuzz/README.md for turning it into a regression test).
 */
#include <stdio.h>
#include <stdlib.h>

#include "tests/fuzz/harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char why[4096];

        if (fg_fuzz_handler(data, size, why, sizeof(why)) < 0) {
                fprintf(stderr, "fuzz_handler: invariant broken: %s\n", why);
                abort();
        }
        return 0;
}
