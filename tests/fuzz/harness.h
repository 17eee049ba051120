/*
 * harness: one fuzz input through one code path, with the invariants that
 * must hold for it — shared by the libFuzzer targets (tests/fuzz/fuzz_*.c,
 * clang) and the regression suite (tests/check_fuzz_regressions.c, gcc),
 * so a crash found by fuzzing is replayed by `make check` on exactly the
 * code that found it.
 *
 * Each fg_fuzz_<target>() returns 0 when every invariant held, or -1 with
 * the broken one described in @p why. Memory errors are the sanitizers'
 * business (the fuzz build has ASan+UBSan; `make asan` runs the regression
 * suite under them too).
 *
 *   config   the bytes are a YAML file for fg_config_load_string
 *   handler  byte 0 picks a handler setup, byte 1 the event's metadata
 *            flags, the rest is the Kafka payload (tests/fuzz/README.md)
 *   admin    the bytes are what one client sends the admin HTTP server
 *
 * Threading: the caller's thread; the admin harness keeps one server (its
 * own event_base) between calls, so calls must not overlap.
 * Ownership: nothing outlives a call except that server, freed by
 * fg_fuzz_admin_teardown() (harmless if never started).
 */
#ifndef FG_FUZZ_HARNESS_H
#define FG_FUZZ_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Writes the broken invariant into @p why; returns -1 for the harness to
 * return. */
static inline int fg_fuzz_fail(char *why, size_t why_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline int fg_fuzz_fail(char *why, size_t why_size, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, why_size, fmt, ap);
        va_end(ap);
        return -1;
}

/* The file name config messages must start with. */
#define FG_FUZZ_CONFIG_NAME "fuzz.yaml"

int fg_fuzz_config(const uint8_t *data, size_t size, char *why, size_t why_size);
int fg_fuzz_handler(const uint8_t *data, size_t size, char *why, size_t why_size);
int fg_fuzz_admin(const uint8_t *data, size_t size, char *why, size_t why_size);
void fg_fuzz_admin_teardown(void);

/* How many handler setups byte 0 chooses among (byte 0 % this). */
extern const unsigned fg_fuzz_handler_nsetups;

/* libFuzzer's entry point, declared for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
