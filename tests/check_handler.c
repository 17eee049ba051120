/*
 * check_handler: the event handler (handler/handler.h) — json validation
 * and its INVALID reasons (empty, not JSON, not an object, 10k-deep
 * nesting), passthrough (same bytes, same pointer; multi-line input made
 * single-line), raw mode, every filter kind (equals on strings, numbers and
 * booleans, nested paths, exists with null, contains_any on strings and
 * arrays, case folding, raw payloads with NUL bytes), shaping (drop, keep,
 * metadata, their order, key order, compact single-line output, reals
 * and escapes round-tripping, byte-identical to jansson's compact dump),
 * 1 MB events, the ctx arena across 10k applies and resets, what
 * fg_handler_new refuses, and 4 threads sharing one handler (run this
 * suite under TSan too).
 *
 * DESIGN: handlers are built from YAML text through the real config
 * loader, so each test reads like the config it exercises; the config is
 * destroyed right after fg_handler_new, which also proves the handler
 * keeps its own copies. Random JSON comes from a seeded xorshift: runs are
 * deterministic.
 * Threading: the "core" tests run on the test thread; the "threads" test
 * starts 4 threads that only count mismatches, the test thread asserts.
 * Ownership: each test destroys its handlers and ctxs; outputs belong to
 * the ctx (ASan/LSan checks the arena).
 */
#include <check.h>
#include <inttypes.h>
#include <jansson.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "config/config.h"
#include "handler/handler.h"
#include "handler/handler_int.h"
#include "sinks/sink.h"
#include "tests/support/handler_oracle.h"

#define NOW_MS 1700000000500LL

/* ---- helpers ---- */

static const char *BASE = "kafka:\n"
                          "  brokers: localhost:9092\n"
                          "  topics: [events]\n"
                          "sink:\n"
                          "  type: stdout\n";

/* The config BASE + "handler: {@p handler}". */
static fg_config_t *config_with(const char *handler) {
        fg_config_errs_t errs = {0};
        char text[4096];
        fg_config_t *cfg;

        snprintf(text, sizeof(text), "%shandler: {%s}\n", BASE, handler);
        cfg = fg_config_load_string("t.yaml", text, strlen(text), &errs);
        if (!cfg)
                ck_abort_msg("config {%s}: %s", handler, errs.n ? errs.msgs[0] : "?");
        fg_config_errs_clear(&errs);
        return cfg;
}

static fg_handler_t *handler_with(const char *handler) {
        fg_config_t *cfg = config_with(handler);
        char errstr[256] = "";
        fg_handler_t *h = fg_handler_new(&cfg->handler, errstr, sizeof(errstr));

        if (!h)
                ck_abort_msg("handler {%s}: %s", handler, errstr);
        fg_config_destroy(cfg);
        return h;
}

static fg_event_t event_of(const void *value, size_t len) {
        return (fg_event_t){
            .topic = "events",
            .partition = 3,
            .offset = 42,
            .ts_ms = 1700000000000LL,
            .ingest_ms = 1700000000100LL,
            .value = value,
            .len = len,
        };
}

static fg_handle_verdict_t apply_str(const fg_handler_t *h, fg_handler_ctx_t *ctx,
                                     const char *json, const char **reason) {
        fg_event_t ev = event_of(json, strlen(json));

        return fg_handler_apply(h, ctx, &ev, NOW_MS, reason);
}

/* @p in must be SENT as exactly @p want. */
static void expect_out(const fg_handler_t *h, fg_handler_ctx_t *ctx, const char *in,
                       const char *want) {
        fg_event_t ev = event_of(in, strlen(in));
        const char *reason = "unset";
        fg_handle_verdict_t v = fg_handler_apply(h, ctx, &ev, NOW_MS, &reason);

        ck_assert_msg(v == FG_HANDLE_SEND, "%s: verdict %d (%s)", in, v, reason ? reason : "");
        ck_assert_ptr_null(reason);
        ck_assert_msg(ev.len == strlen(want) && memcmp(ev.value, want, ev.len) == 0,
                      "in:   %s\nwant: %s\ngot:  %.*s", in, want, (int)ev.len,
                      (const char *)ev.value);
}

static void expect_verdict(const fg_handler_t *h, fg_handler_ctx_t *ctx, const char *in,
                           fg_handle_verdict_t want) {
        const char *reason;
        fg_handle_verdict_t v = apply_str(h, ctx, in, &reason);

        ck_assert_msg(v == want, "%s: verdict %d, want %d (%s)", in, v, want,
                      reason ? reason : "");
}

static void expect_invalid(const fg_handler_t *h, fg_handler_ctx_t *ctx, const void *in,
                           size_t len, const char *want_reason) {
        fg_event_t ev = event_of(in, len);
        const char *reason = NULL;
        fg_handle_verdict_t v = fg_handler_apply(h, ctx, &ev, NOW_MS, &reason);

        ck_assert_int_eq(v, FG_HANDLE_INVALID);
        ck_assert_ptr_nonnull(reason);
        ck_assert_str_eq(reason, want_reason);
        ck_assert_ptr_eq(ev.value, in);
        ck_assert_uint_eq(ev.len, len);
}

static uint64_t rng_next(uint64_t *s) {
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        return *s * 2685821657736338717ULL;
}

/* ---- json validation and passthrough ---- */

START_TEST(test_handler_passthrough_keeps_bytes) {
        fg_handler_t *h = handler_with("mode: json");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);
        static const char *in[] = {
            "{\"id\":\"x-1\",\"b\":1}",
            "{ \"spaced\" : [ 1 , 2 ] ,\t\"dup\":1, \"dup\":2 }",
            "{}",
            "  {\"a\":\"caf\xc3\xa9 \\u00e9 \\n\"}  ",
            "{\"nul\":\"a\\u0000b\"}",
        };

        ck_assert(fg_handler_is_passthrough(h));
        for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
                fg_event_t ev = event_of(in[i], strlen(in[i]));
                const char *reason = "unset";

                ck_assert_int_eq(fg_handler_apply(h, ctx, &ev, NOW_MS, &reason), FG_HANDLE_SEND);
                ck_assert_ptr_null(reason);
                ck_assert_ptr_eq(ev.value, in[i]);
                ck_assert_uint_eq(ev.len, strlen(in[i]));
        }
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(h);
}
END_TEST

START_TEST(test_handler_passthrough_multiline_made_single_line) {
        fg_handler_t *h = handler_with("mode: json");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);

        expect_out(h, ctx, "{\n  \"id\": \"x-1\",\n  \"text\": \"a\\nb\",\r\n  \"n\": [1, 2]\n}\n",
                   "{\"id\":\"x-1\",\"text\":\"a\\nb\",\"n\":[1,2]}");
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(h);
}
END_TEST

START_TEST(test_handler_invalid_json_reason) {
        fg_handler_t *h = handler_with("mode: json");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);
        static const char *bad[] = {
            "{\"a\":",  "{\"a\":1,}", "{\"a\":1} x", "{'a':1}", "nope", "{\"a\":\"\xff\"}",
            "   ",      "{\"a\":tr\x01}", "{\"a\":1e400}", "{\"k\\u0000\":1}",
        };

        expect_invalid(h, ctx, "{\"a\":", 5,
                       "not JSON: unexpected token near end of file (line 1, column 5)");
        expect_invalid(h, ctx, "{\"a\":1,\n\"b\":}", 13,
                       "not JSON: unexpected token near '}' (line 2, column 5)");
        expect_invalid(h, ctx, "{\"a\":1} x", 9,
                       "not JSON: end of file expected near 'x' (line 1, column 9)");
        /* Not NUL-terminated: only len bytes count. */
        expect_invalid(h, ctx, "{\"a\":1}garbage", 6,
                       "not JSON: '}' expected near end of file (line 1, column 6)");
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                const char *reason = NULL;

                ck_assert_int_eq(apply_str(h, ctx, bad[i], &reason), FG_HANDLE_INVALID);
                ck_assert_ptr_nonnull(reason);
                ck_assert_msg(strncmp(reason, "not JSON: ", 10) == 0, "%s", reason);
                ck_assert_msg(strlen(reason) <= 120, "%zu: %s", strlen(reason), reason);
                for (const char *p = reason; *p; p++)
                        ck_assert_msg((unsigned char)*p >= 0x20, "control byte in %s", reason);
        }
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(h);
}
END_TEST

START_TEST(test_handler_empty_payload_invalid) {
        fg_handler_t *h = handler_with("mode: json");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);

        expect_invalid(h, ctx, NULL, 0, "empty payload");
        expect_invalid(h, ctx, "{}", 0, "empty payload");
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(h);
}
END_TEST

START_TEST(test_handler_non_object_invalid) {
        fg_handler_t *h = handler_with("mode: json");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);
        static const struct {
                const char *in, *reason;
        } cases[] = {
            {"[1,2,3]", "not a JSON object (got array)"},
            {"[]", "not a JSON object (got array)"},
            {"42", "not a JSON object (got number)"},
            {"-1.5e3", "not a JSON object (got number)"},
            {"\"a string\"", "not a JSON object (got string)"},
            {"true", "not a JSON object (got boolean)"},
            {"false", "not a JSON object (got boolean)"},
            {"null", "not a JSON object (got null)"},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                expect_invalid(h, ctx, cases[i].in, strlen(cases[i].in), cases[i].reason);
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(h);
}
END_TEST

START_TEST(test_handler_deep_nesting_invalid) {
        fg_handler_t *hs[2] = {handler_with("mode: json"),
                               handler_with("drop: [a.b], add_metadata: true")};
        size_t depth = 10000, len = 0;
        char *buf = malloc(2 * depth + 16);

        ck_assert_ptr_nonnull(buf);
        for (int k = 0; k < 2; k++) {
                fg_handler_ctx_t *ctx = fg_handler_ctx_new(hs[k]);
                const char *reason = NULL;
                fg_event_t ev;

                /* [[[[...]]]] and {"a":[[[[...]]]]}, balanced. */
                len = 0;
                if (k == 1)
                        len += (size_t)sprintf(buf, "{\"a\":");
                memset(buf + len, '[', depth);
                memset(buf + len + depth, ']', depth);
                len += 2 * depth;
                if (k == 1)
                        buf[len++] = '}';
                ev = event_of(buf, len);
                ck_assert_int_eq(fg_handler_apply(hs[k], ctx, &ev, NOW_MS, &reason),
                                 FG_HANDLE_INVALID);
                ck_assert_ptr_nonnull(reason);
                ck_assert_msg(strncmp(reason, "not JSON: maximum parsing depth reached", 39) == 0,
                              "%s", reason);
                fg_handler_ctx_destroy(ctx);
                fg_handler_destroy(hs[k]);
        }
        free(buf);
}
END_TEST

START_TEST(test_handler_large_payload) {
        size_t text_len = 1024 * 1024, len;
        char *big = malloc(text_len + 64);
        fg_handler_t *pass = handler_with("mode: json");
        fg_handler_t *shaped = handler_with(
            "filter: {field: text, contains_any: [ACME], case_insensitive: true}, drop: [id]");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(pass);
        const char *reason;
        fg_event_t ev;

        ck_assert_ptr_nonnull(big);
        len = (size_t)sprintf(big, "{\"id\":\"x\",\"text\":\"");
        memset(big + len, 'a', text_len);
        len += text_len;
        len += (size_t)sprintf(big + len, "acme\"}");

        ev = event_of(big, len);
        ck_assert_int_eq(fg_handler_apply(pass, ctx, &ev, NOW_MS, &reason), FG_HANDLE_SEND);
        ck_assert_ptr_eq(ev.value, big);

        ev = event_of(big, len);
        ck_assert_int_eq(fg_handler_apply(shaped, ctx, &ev, NOW_MS, &reason), FG_HANDLE_SEND);
        ck_assert_uint_eq(ev.len, len - strlen("\"id\":\"x\","));
        ck_assert_int_eq(memcmp(ev.value, "{\"text\":\"aaaa", 13), 0);
        ck_assert_int_eq(memcmp((const char *)ev.value + ev.len - 7, "aacme\"}", 7), 0);

        /* A small one after it still works, and both survive until reset. */
        expect_out(shaped, ctx, "{\"id\":1,\"text\":\"Acme\"}", "{\"text\":\"Acme\"}");
        ck_assert_int_eq(memcmp(ev.value, "{\"text\":\"aaaa", 13), 0);
        fg_handler_ctx_reset(ctx);
        expect_out(shaped, ctx, "{\"id\":1,\"text\":\"acme\"}", "{\"text\":\"acme\"}");

        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(shaped);
        fg_handler_destroy(pass);
        free(big);
}
END_TEST

/* ---- raw mode ---- */

START_TEST(test_handler_raw_passes_anything) {
        fg_handler_t *h = handler_with("mode: raw");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);
        static const char bin[] = {'\0', '\xff', '{', '\0', '\n', 'x', '\0'};
        static const struct {
                const void *p;
                size_t len;
        } cases[] = {
            {NULL, 0}, {"", 0}, {bin, sizeof(bin)}, {"not json", 8}, {"[1]", 3}, {"{\n}", 3},
        };

        ck_assert(fg_handler_is_passthrough(h));
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                fg_event_t ev = event_of(cases[i].p, cases[i].len);
                const char *reason = "unset";

                ck_assert_int_eq(fg_handler_apply(h, ctx, &ev, NOW_MS, &reason), FG_HANDLE_SEND);
                ck_assert_ptr_null(reason);
                ck_assert_ptr_eq(ev.value, cases[i].p);
                ck_assert_uint_eq(ev.len, cases[i].len);
        }
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(h);
}
END_TEST

START_TEST(test_handler_raw_contains_any_binary) {
        fg_handler_t *cs = handler_with("mode: raw, filter: {contains_any: [Acme, globex]}");
        fg_handler_t *ci = handler_with(
            "mode: raw, filter: {contains_any: [Acme, globex], case_insensitive: true}");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(cs);
        /* NULs and high bytes before the keyword; no NUL terminator after. */
        static const char hit[] = {'\0', '\x01', '\xc3', '\0', 'x', 'A', 'c', 'm', 'e'};
        static const char hit_upper[] = {'\0', '\0', 'G', 'L', 'O', 'B', 'E', 'X', '\0'};
        static const char miss[] = {'\0', 'A', 'c', 'm', '\0', 'e', 'g', 'l', 'o', 'b', 'e'};
        static const struct {
                const char *p;
                size_t len;
                fg_handle_verdict_t cs, ci;
        } cases[] = {
            {hit, sizeof(hit), FG_HANDLE_SEND, FG_HANDLE_SEND},
            {hit, sizeof(hit) - 1, FG_HANDLE_FILTERED, FG_HANDLE_FILTERED},
            {hit_upper, sizeof(hit_upper), FG_HANDLE_FILTERED, FG_HANDLE_SEND},
            {miss, sizeof(miss), FG_HANDLE_FILTERED, FG_HANDLE_FILTERED},
            {"", 0, FG_HANDLE_FILTERED, FG_HANDLE_FILTERED},
            {"ACME", 4, FG_HANDLE_FILTERED, FG_HANDLE_SEND},
        };

        ck_assert(!fg_handler_is_passthrough(cs));
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                fg_event_t ev = event_of(cases[i].p, cases[i].len);
                const char *reason;

                ck_assert_msg(fg_handler_apply(cs, ctx, &ev, NOW_MS, &reason) == cases[i].cs,
                              "case %zu, case-sensitive", i);
                ck_assert_ptr_eq(ev.value, cases[i].p);
                ck_assert_msg(fg_handler_apply(ci, ctx, &ev, NOW_MS, &reason) == cases[i].ci,
                              "case %zu, case-insensitive", i);
                ck_assert_ptr_eq(ev.value, cases[i].p);
                ck_assert_uint_eq(ev.len, cases[i].len);
        }
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(ci);
        fg_handler_destroy(cs);
}
END_TEST

/* ---- filters ---- */

START_TEST(test_handler_filter_equals_string) {
        fg_handler_t *h = handler_with("filter: {field: brand, equals: acme}");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);
        static const char in[] = "{\"brand\":\"acme\",\"x\":1}";
        fg_event_t ev = event_of(in, strlen(in));
        const char *reason;

        ck_assert(!fg_handler_is_passthrough(h));
        /* Passes with its original bytes: no shaping configured. */
        ck_assert_int_eq(fg_handler_apply(h, ctx, &ev, NOW_MS, &reason), FG_HANDLE_SEND);
        ck_assert_ptr_eq(ev.value, in);
        expect_verdict(h, ctx, "{\"brand\":\"Acme\"}", FG_HANDLE_FILTERED);
        expect_verdict(h, ctx, "{\"brand\":\"acme \"}", FG_HANDLE_FILTERED);
        expect_verdict(h, ctx, "{\"brand\":\"acm\"}", FG_HANDLE_FILTERED);
        expect_verdict(h, ctx, "{\"brand\":\"acme\\u0000\"}", FG_HANDLE_FILTERED);
        expect_verdict(h, ctx, "{\"brand\":[\"acme\"]}", FG_HANDLE_FILTERED);
        expect_verdict(h, ctx, "{\"brand\":{\"acme\":1}}", FG_HANDLE_FILTERED);
        expect_verdict(h, ctx, "{\"brand\":null}", FG_HANDLE_FILTERED);
        expect_verdict(h, ctx, "{\"other\":\"acme\"}", FG_HANDLE_FILTERED);
        /* Invalid stays invalid, whatever the filter. */
        expect_verdict(h, ctx, "[\"acme\"]", FG_HANDLE_INVALID);
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(h);
}
END_TEST

START_TEST(test_handler_filter_equals_number) {
        fg_handler_t *i42 = handler_with("filter: {field: n, equals: 42}");
        fg_handler_t *r15 = handler_with("filter: {field: n, equals: \"1.5\"}");
        fg_handler_t *big = handler_with("filter: {field: n, equals: \"9223372036854775807\"}");
        fg_handler_t *text = handler_with("filter: {field: n, equals: \"042\"}");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(i42);

        expect_verdict(i42, ctx, "{\"n\":42}", FG_HANDLE_SEND);
        expect_verdict(i42, ctx, "{\"n\":42.0}", FG_HANDLE_SEND);
        expect_verdict(i42, ctx, "{\"n\":4.2e1}", FG_HANDLE_SEND);
        expect_verdict(i42, ctx, "{\"n\":\"42\"}", FG_HANDLE_SEND);
        expect_verdict(i42, ctx, "{\"n\":43}", FG_HANDLE_FILTERED);
        expect_verdict(i42, ctx, "{\"n\":-42}", FG_HANDLE_FILTERED);
        expect_verdict(i42, ctx, "{\"n\":42.5}", FG_HANDLE_FILTERED);
        expect_verdict(i42, ctx, "{\"n\":\"42.0\"}", FG_HANDLE_FILTERED);
        expect_verdict(r15, ctx, "{\"n\":1.5}", FG_HANDLE_SEND);
        expect_verdict(r15, ctx, "{\"n\":15e-1}", FG_HANDLE_SEND);
        expect_verdict(r15, ctx, "{\"n\":1}", FG_HANDLE_FILTERED);
        expect_verdict(big, ctx, "{\"n\":9223372036854775807}", FG_HANDLE_SEND);
        expect_verdict(big, ctx, "{\"n\":9223372036854775806}", FG_HANDLE_FILTERED);
        /* Not a JSON number: compared as text only. */
        expect_verdict(text, ctx, "{\"n\":42}", FG_HANDLE_FILTERED);
        expect_verdict(text, ctx, "{\"n\":\"042\"}", FG_HANDLE_SEND);
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(text);
        fg_handler_destroy(big);
        fg_handler_destroy(r15);
        fg_handler_destroy(i42);
}
END_TEST

START_TEST(test_handler_filter_equals_bool) {
        fg_handler_t *t = handler_with("filter: {field: ok, equals: \"true\"}");
        fg_handler_t *f = handler_with("filter: {field: ok, equals: \"false\"}");
        fg_handler_t *tci = handler_with("filter: {field: ok, equals: \"TRUE\", case_insensitive: true}");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(t);

        expect_verdict(t, ctx, "{\"ok\":true}", FG_HANDLE_SEND);
        expect_verdict(t, ctx, "{\"ok\":\"true\"}", FG_HANDLE_SEND);
        expect_verdict(t, ctx, "{\"ok\":false}", FG_HANDLE_FILTERED);
        expect_verdict(t, ctx, "{\"ok\":1}", FG_HANDLE_FILTERED);
        expect_verdict(t, ctx, "{\"ok\":null}", FG_HANDLE_FILTERED);
        expect_verdict(f, ctx, "{\"ok\":false}", FG_HANDLE_SEND);
        expect_verdict(f, ctx, "{\"ok\":true}", FG_HANDLE_FILTERED);
        expect_verdict(f, ctx, "{\"ok\":0}", FG_HANDLE_FILTERED);
        expect_verdict(tci, ctx, "{\"ok\":true}", FG_HANDLE_SEND);
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(tci);
        fg_handler_destroy(f);
        fg_handler_destroy(t);
}
END_TEST

START_TEST(test_handler_filter_nested_path) {
        fg_handler_t *h = handler_with("filter: {field: author.profile.name, equals: ann}");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);

        expect_verdict(h, ctx, "{\"author\":{\"profile\":{\"name\":\"ann\"}}}", FG_HANDLE_SEND);
        expect_verdict(h, ctx, "{\"x\":0,\"author\":{\"id\":7,\"profile\":{\"age\":3,\"name\":\"ann\"}}}",
                       FG_HANDLE_SEND);
        expect_verdict(h, ctx, "{\"author\":{\"profile\":{\"name\":\"bob\"}}}", FG_HANDLE_FILTERED);
        /* The dotted name is a path, never a key with dots in it. */
        expect_verdict(h, ctx, "{\"author.profile.name\":\"ann\"}", FG_HANDLE_FILTERED);
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(h);
}
END_TEST

START_TEST(test_handler_filter_missing_path_filtered) {
        fg_handler_t *eq = handler_with("filter: {field: a.b.c, equals: x}");
        fg_handler_t *any = handler_with("filter: {field: a.b.c, contains_any: [x]}");
        fg_handler_t *ex = handler_with("filter: {field: a.b.c, exists: true}");
        fg_handler_t *hs[] = {eq, any, ex};
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(eq);
        static const char *missing[] = {
            "{}",
            "{\"a\":{}}",
            "{\"a\":{\"b\":{}}}",
            "{\"a\":\"x\"}",
            "{\"a\":{\"b\":[\"x\"]}}",
            "{\"a\":{\"b\":null}}",
            "{\"a\":[{\"b\":{\"c\":\"x\"}}]}",
            "{\"a\":{\"b\":{\"cc\":\"x\"}}}",
        };

        for (size_t k = 0; k < 3; k++) {
                for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++)
                        expect_verdict(hs[k], ctx, missing[i], FG_HANDLE_FILTERED);
                expect_verdict(hs[k], ctx, "{\"a\":{\"b\":{\"c\":\"x\"}}}", FG_HANDLE_SEND);
        }
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(ex);
        fg_handler_destroy(any);
        fg_handler_destroy(eq);
}
END_TEST

START_TEST(test_handler_filter_exists) {
        fg_handler_t *h = handler_with("filter: {field: user.email, exists: true}");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);

        expect_verdict(h, ctx, "{\"user\":{\"email\":\"a@b\"}}", FG_HANDLE_SEND);
        expect_verdict(h, ctx, "{\"user\":{\"email\":null}}", FG_HANDLE_SEND);
        expect_verdict(h, ctx, "{\"user\":{\"email\":false}}", FG_HANDLE_SEND);
        expect_verdict(h, ctx, "{\"user\":{\"email\":{}}}", FG_HANDLE_SEND);
        expect_verdict(h, ctx, "{\"user\":{\"mail\":\"a@b\"}}", FG_HANDLE_FILTERED);
        expect_verdict(h, ctx, "{\"user\":null}", FG_HANDLE_FILTERED);
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(h);
}
END_TEST

START_TEST(test_handler_filter_contains_any_string) {
        fg_handler_t *h = handler_with("filter: {field: text, contains_any: [acme, \"Acme Corp\", globex]}");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);

        expect_verdict(h, ctx, "{\"text\":\"acme is trending\"}", FG_HANDLE_SEND);
        expect_verdict(h, ctx, "{\"text\":\"I like globex\"}", FG_HANDLE_SEND);
        expect_verdict(h, ctx, "{\"text\":\"all about Acme Corp.\"}", FG_HANDLE_SEND);
        expect_verdict(h, ctx, "{\"text\":\"ACME\"}", FG_HANDLE_FILTERED);
        expect_verdict(h, ctx, "{\"text\":\"acm\"}", FG_HANDLE_FILTERED);
        /* Escapes are decoded first; a NUL inside the string does not end it. */
        expect_verdict(h, ctx, "{\"text\":\"x\\u0000\\u0061cme\"}", FG_HANDLE_SEND);
        expect_verdict(h, ctx, "{\"text\":42}", FG_HANDLE_FILTERED);
        expect_verdict(h, ctx, "{\"text\":{\"acme\":\"acme\"}}", FG_HANDLE_FILTERED);
        /* Only the field counts. */
        expect_verdict(h, ctx, "{\"text\":\"nothing\",\"brand\":\"acme\"}", FG_HANDLE_FILTERED);
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(h);
}
END_TEST

START_TEST(test_handler_filter_contains_any_array) {
        fg_handler_t *h = handler_with("filter: {field: tags, contains_any: [acme, globex]}");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);

        expect_verdict(h, ctx, "{\"tags\":[\"news\",\"acme-corp\"]}", FG_HANDLE_SEND);
        expect_verdict(h, ctx, "{\"tags\":[1,null,{\"a\":\"acme\"},\"globex\"]}", FG_HANDLE_SEND);
        expect_verdict(h, ctx, "{\"tags\":[\"news\",\"sports\"]}", FG_HANDLE_FILTERED);
        expect_verdict(h, ctx, "{\"tags\":[]}", FG_HANDLE_FILTERED);
        /* Nested arrays and non-strings are not searched. */
        expect_verdict(h, ctx, "{\"tags\":[[\"acme\"],{\"t\":\"acme\"}]}", FG_HANDLE_FILTERED);
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(h);
}
END_TEST

START_TEST(test_handler_filter_contains_any_no_match) {
        fg_handler_t *h = handler_with("filter: {field: text, contains_any: [acme]}, "
                                       "add_metadata: true");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);
        static const char in[] = "{\"text\":\"nothing here\"}";
        fg_event_t ev = event_of(in, strlen(in));
        const char *reason = "unset";

        ck_assert_int_eq(fg_handler_apply(h, ctx, &ev, NOW_MS, &reason), FG_HANDLE_FILTERED);
        ck_assert_ptr_null(reason);
        ck_assert_ptr_eq(ev.value, in);
        ck_assert_uint_eq(ev.len, strlen(in));
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(h);
}
END_TEST

START_TEST(test_handler_filter_case_insensitive) {
        fg_handler_t *off = handler_with("filter: {field: text, contains_any: [AcMe]}");
        fg_handler_t *on = handler_with("filter: {field: text, contains_any: [AcMe], case_insensitive: true}");
        fg_handler_t *eq_off = handler_with("filter: {field: b, equals: AcMe}");
        fg_handler_t *eq_on = handler_with("filter: {field: b, equals: AcMe, case_insensitive: true}");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(on);

        expect_verdict(off, ctx, "{\"text\":\"the AcMe way\"}", FG_HANDLE_SEND);
        expect_verdict(off, ctx, "{\"text\":\"the acme way\"}", FG_HANDLE_FILTERED);
        expect_verdict(off, ctx, "{\"text\":\"the ACME way\"}", FG_HANDLE_FILTERED);
        expect_verdict(on, ctx, "{\"text\":\"the acme way\"}", FG_HANDLE_SEND);
        expect_verdict(on, ctx, "{\"text\":\"the ACME way\"}", FG_HANDLE_SEND);
        expect_verdict(on, ctx, "{\"text\":\"the aCmE way\"}", FG_HANDLE_SEND);
        expect_verdict(on, ctx, "{\"text\":\"the acne way\"}", FG_HANDLE_FILTERED);
        /* ASCII only: '@' (0x40) and '[' (0x5b) sit next to the letters. */
        expect_verdict(on, ctx, "{\"text\":\"@CME\"}", FG_HANDLE_FILTERED);
        expect_verdict(eq_off, ctx, "{\"b\":\"AcMe\"}", FG_HANDLE_SEND);
        expect_verdict(eq_off, ctx, "{\"b\":\"acme\"}", FG_HANDLE_FILTERED);
        expect_verdict(eq_on, ctx, "{\"b\":\"acme\"}", FG_HANDLE_SEND);
        expect_verdict(eq_on, ctx, "{\"b\":\"ACME\"}", FG_HANDLE_SEND);
        expect_verdict(eq_on, ctx, "{\"b\":\"ACMEE\"}", FG_HANDLE_FILTERED);
        /* Non-ASCII bytes are compared as they are. */
        expect_verdict(eq_on, ctx, "{\"b\":\"\xc3\x81\x43ME\"}", FG_HANDLE_FILTERED);
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(eq_on);
        fg_handler_destroy(eq_off);
        fg_handler_destroy(on);
        fg_handler_destroy(off);
}
END_TEST

/* ---- shaping ---- */

START_TEST(test_handler_drop_paths) {
        fg_handler_t *h = handler_with("drop: [email, user.secret, a.b.c, missing, nope.deeper]");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);

        ck_assert(!fg_handler_is_passthrough(h));
        expect_out(h, ctx,
                   "{\"id\":1,\"email\":\"x@y\",\"user\":{\"name\":\"ann\",\"secret\":\"s\",\"z\":0},"
                   "\"a\":{\"b\":{\"c\":1,\"d\":2}}}",
                   "{\"id\":1,\"user\":{\"name\":\"ann\",\"z\":0},\"a\":{\"b\":{\"d\":2}}}");
        /* Missing paths and paths through non-objects are fine. */
        expect_out(h, ctx, "{\"id\":1}", "{\"id\":1}");
        expect_out(h, ctx, "{\"user\":\"s\",\"a\":[{\"b\":1}]}", "{\"user\":\"s\",\"a\":[{\"b\":1}]}");
        expect_out(h, ctx, "{\"email\":null}", "{}");
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(h);
}
END_TEST

START_TEST(test_handler_keep_fields) {
        fg_handler_t *h = handler_with("keep: [text, id, ts, never_there]");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);

        /* The event's key order, not the keep list's. */
        expect_out(h, ctx,
                   "{\"id\":\"x-1\",\"user\":{\"id\":1},\"ts\":5,\"text\":\"hi\",\"brand\":\"acme\"}",
                   "{\"id\":\"x-1\",\"ts\":5,\"text\":\"hi\"}");
        expect_out(h, ctx, "{\"brand\":\"acme\"}", "{}");
        expect_out(h, ctx, "{\"tex\":1,\"textt\":2,\"text\":3}", "{\"text\":3}");
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(h);
}
END_TEST

START_TEST(test_handler_metadata_exact) {
        fg_handler_t *h = handler_with("add_metadata: true");
        fg_handler_t *named = handler_with("add_metadata: true, metadata_field: meta");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);
        static const char in[] = "{\"id\":1}";
        fg_event_t ev = event_of(in, strlen(in));
        const char *reason;

        expect_out(h, ctx, in,
                   "{\"id\":1,\"_floodgate\":{\"topic\":\"events\",\"partition\":3,\"offset\":42,"
                   "\"kafka_ts\":1700000000000,\"ingested_ms\":1700000000100,"
                   "\"processed_ms\":1700000000500}}");
        ev.ts_ms = -1;
        ev.partition = 0;
        ev.offset = 0;
        ck_assert_int_eq(fg_handler_apply(named, ctx, &ev, 7, &reason), FG_HANDLE_SEND);
        ck_assert_str_eq(ev.value, "{\"id\":1,\"meta\":{\"topic\":\"events\",\"partition\":0,"
                                   "\"offset\":0,\"kafka_ts\":null,\"ingested_ms\":1700000000100,"
                                   "\"processed_ms\":7}}");
        /* An existing key of that name is replaced, and the metadata is last. */
        expect_out(h, ctx, "{\"_floodgate\":\"mine\",\"id\":1,\"x\":[]}",
                   "{\"id\":1,\"x\":[],\"_floodgate\":{\"topic\":\"events\",\"partition\":3,"
                   "\"offset\":42,\"kafka_ts\":1700000000000,\"ingested_ms\":1700000000100,"
                   "\"processed_ms\":1700000000500}}");
        expect_out(h, ctx, "{}",
                   "{\"_floodgate\":{\"topic\":\"events\",\"partition\":3,\"offset\":42,"
                   "\"kafka_ts\":1700000000000,\"ingested_ms\":1700000000100,"
                   "\"processed_ms\":1700000000500}}");
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(named);
        fg_handler_destroy(h);
}
END_TEST

START_TEST(test_handler_shaping_order) {
        /* The filter sees the original event (user.name is dropped later);
         * keep runs after drop; the metadata survives keep. */
        fg_handler_t *h = handler_with("filter: {field: user.name, equals: ann}, "
                                       "drop: [user.name, text], keep: [user, text, id], "
                                       "add_metadata: true, metadata_field: m");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);
        fg_event_t ev;
        const char *reason;
        static const char in[] = "{\"id\":1,\"user\":{\"name\":\"ann\",\"age\":3},\"text\":\"t\",\"x\":2}";

        ev = event_of(in, strlen(in));
        ev.topic = NULL;
        ck_assert_int_eq(fg_handler_apply(h, ctx, &ev, 9, &reason), FG_HANDLE_SEND);
        ck_assert_str_eq(ev.value, "{\"id\":1,\"user\":{\"age\":3},\"m\":{\"topic\":null,"
                                   "\"partition\":3,\"offset\":42,\"kafka_ts\":1700000000000,"
                                   "\"ingested_ms\":1700000000100,\"processed_ms\":9}}");
        expect_verdict(h, ctx, "{\"id\":1,\"user\":{\"name\":\"bob\"}}", FG_HANDLE_FILTERED);
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(h);
}
END_TEST

START_TEST(test_handler_key_order_preserved) {
        fg_handler_t *h = handler_with("drop: [zz.none]");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);
        char in[4096], want[4096];
        size_t n = 0;

        /* Enough keys to leave any small hash table's bucket order. */
        n += (size_t)sprintf(in + n, "{");
        for (int i = 0; i < 100; i++)
                n += (size_t)sprintf(in + n, "%s\"k%d\":{\"z\":%d,\"a\":%d,\"m\":[%d]}",
                                     i ? "," : "", (i * 37) % 101, i, -i, i);
        sprintf(in + n, "}");
        strcpy(want, in);
        expect_out(h, ctx, in, want);
        expect_out(h, ctx, "{\"z\":1,\"y\":2,\"a\":3,\"b\":{\"d\":1,\"c\":2}}",
                   "{\"z\":1,\"y\":2,\"a\":3,\"b\":{\"d\":1,\"c\":2}}");
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(h);
}
END_TEST

START_TEST(test_handler_output_compact_single_line) {
        fg_handler_t *h = handler_with("drop: [user.email], add_metadata: true");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);
        static const char in[] = "{\n"
                                 "  \"id\" : \"x-1\",\r\n"
                                 "  \"text\" : \"line one\\nline two\\r\\n\",\n"
                                 "  \"user\" : {\n"
                                 "    \"email\" : \"a@b\",\n"
                                 "    \"tags\" : [ 1 , 2 , { } , [ ] ]\n"
                                 "  }\n"
                                 "}\n";
        fg_event_t ev = event_of(in, strlen(in));
        const char *reason;

        ck_assert_int_eq(fg_handler_apply(h, ctx, &ev, NOW_MS, &reason), FG_HANDLE_SEND);
        ck_assert_ptr_null(memchr(ev.value, '\n', ev.len));
        ck_assert_ptr_null(memchr(ev.value, '\r', ev.len));
        ck_assert_str_eq(ev.value,
                         "{\"id\":\"x-1\",\"text\":\"line one\\nline two\\r\\n\","
                         "\"user\":{\"tags\":[1,2,{},[]]},\"_floodgate\":{\"topic\":\"events\","
                         "\"partition\":3,\"offset\":42,\"kafka_ts\":1700000000000,"
                         "\"ingested_ms\":1700000000100,\"processed_ms\":1700000000500}}");
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(h);
}
END_TEST

START_TEST(test_handler_values_round_trip) {
        fg_handler_t *h = handler_with("drop: [none]");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);

        /* Reals in their shortest exact form, still reals. */
        expect_out(h, ctx, "{\"a\":19.99,\"b\":0.1,\"c\":1e2,\"d\":-0.0,\"e\":1.5e300,\"f\":5e-324}",
                   "{\"a\":19.99,\"b\":0.1,\"c\":100.0,\"d\":-0.0,\"e\":1.5e+300,\"f\":4.94065645841247e-324}");
        expect_out(h, ctx, "{\"a\":0.30000000000000004,\"b\":123456789.125,\"c\":1E-7}",
                   "{\"a\":0.30000000000000004,\"b\":123456789.125,\"c\":1e-07}");
        expect_out(h, ctx,
                   "{\"min\":-9223372036854775808,\"max\":9223372036854775807,\"z\":0,\"m\":-1}",
                   "{\"min\":-9223372036854775808,\"max\":9223372036854775807,\"z\":0,\"m\":-1}");
        /* Escapes: what must be escaped is, the rest is plain UTF-8. */
        expect_out(h, ctx,
                   "{\"s\":\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t \\u0001\\u001f \\u0000 \\u00e9 \\ud83d\\ude00\","
                   "\"k\\n\\\"\":true,\"f\":false,\"n\":null}",
                   "{\"s\":\"q\\\" b\\\\ s/ \\b\\f\\n\\r\\t \\u0001\\u001F \\u0000 \xc3\xa9 \xf0\x9f\x98\x80\","
                   "\"k\\n\\\"\":true,\"f\":false,\"n\":null}");
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(h);
}
END_TEST

/* A random JSON value; reals only when @p reals. */
static json_t *random_json(uint64_t *rng, int depth, bool reals) {
        static const char *pieces[] = {"a", "key", "\"", "\\", "\n", "\t", "\x01", "\x1f", "/",
                                       "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", " ", "\x7f"};
        uint64_t r = rng_next(rng);
        int kind = depth >= 5 ? (int)(r % 6) : (int)(r % 8);

        switch (kind) {
        case 0: return json_null();
        case 1: return json_boolean(r & 256);
        case 2: {
                static const json_int_t edge[] = {0, -1, 1, INT64_MIN, INT64_MAX};

                return json_integer(r & 512 ? edge[(r >> 10) % 5] : (json_int_t)(rng_next(rng) >> (r % 64)) - 1000);
        }
        case 3: {
                double d;
                uint64_t bits;

                if (!reals)
                        return json_integer(7);
                do {
                        bits = rng_next(rng);
                        memcpy(&d, &bits, sizeof(d));
                } while (!isfinite(d));
                return json_real(r & 1024 ? (double)(int)(r >> 20) / 8 : d);
        }
        case 4:
        case 5: {
                char s[256];
                size_t n = 0, pieces_n = r % 12;

                for (size_t i = 0; i < pieces_n; i++) {
                        const char *p = pieces[rng_next(rng) % (sizeof(pieces) / sizeof(pieces[0]))];

                        memcpy(s + n, p, strlen(p));
                        n += strlen(p);
                }
                if (r & 2048)
                        s[n++] = '\0';
                return json_stringn(s, n);
        }
        case 6: {
                json_t *a = json_array();

                for (uint64_t i = 0; i < r % 5; i++)
                        json_array_append_new(a, random_json(rng, depth + 1, reals));
                return a;
        }
        default: {
                json_t *o = json_object();

                for (uint64_t i = 0; i < r % 6; i++) {
                        char key[32];

                        snprintf(key, sizeof(key), "%s%u", pieces[rng_next(rng) % 12],
                                 (unsigned)(rng_next(rng) % 100));
                        json_object_set_new(o, key, random_json(rng, depth + 1, reals));
                }
                return o;
        }
        }
}

START_TEST(test_handler_output_matches_jansson) {
        fg_handler_t *h = handler_with("drop: [no.such.path]");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);
        uint64_t rng = 0x9e3779b97f4a7c15ULL;

        for (int i = 0; i < 3000; i++) {
                bool reals = i & 1;
                json_t *root = json_object(), *back;
                char *in, *compact;
                fg_event_t ev;
                const char *reason;
                json_error_t jerr;

                for (int k = 0; k < 4; k++) {
                        char key[16];

                        snprintf(key, sizeof(key), "f%d", k);
                        json_object_set_new(root, key, random_json(&rng, 0, reals));
                }
                /* Pretty input; the handler must re-serialise it compactly. */
                in = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                compact = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
                ck_assert_ptr_nonnull(in);
                ev = event_of(in, strlen(in));
                ck_assert_int_eq(fg_handler_apply(h, ctx, &ev, NOW_MS, &reason), FG_HANDLE_SEND);
                ck_assert_ptr_null(memchr(ev.value, '\n', ev.len));
                /* Exact values back; without reals, jansson's own bytes. */
                back = json_loadb(ev.value, ev.len, JSON_ALLOW_NUL, &jerr);
                ck_assert_msg(back != NULL, "%s: %.*s", jerr.text, (int)ev.len, (const char *)ev.value);
                ck_assert_msg(json_equal(root, back), "%s\n%.*s", compact, (int)ev.len,
                              (const char *)ev.value);
                if (!reals)
                        ck_assert_msg(ev.len == strlen(compact) && !memcmp(ev.value, compact, ev.len),
                                      "\nwant %s\ngot  %.*s", compact, (int)ev.len,
                                      (const char *)ev.value);
                json_decref(back);
                json_decref(root);
                free(in);
                free(compact);
                if (i % 500 == 499)
                        fg_handler_ctx_reset(ctx);
        }
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(h);
}
END_TEST

/* ---- the oracle: the jansson handler of before, byte for byte ---- */

/* Random JSON text, written by hand rather than by jansson so that it can
 * hold what the DOM-free handler must get right: keys given twice (at any
 * depth), escaped keys that equal plain ones, escapes jansson rewrites,
 * reals in every notation, -0, whitespace and line breaks anywhere, the
 * NUL jansson skips after a number. */
typedef struct gen {
        uint64_t rng;
        fg_buf_t b;
        int ws;         /* 0 compact, 1 spaces, 2 line breaks */
} gen_t;

static unsigned pick(gen_t *g, unsigned n) {
        return (unsigned)(rng_next(&g->rng) % n);
}

static void gen_ws(gen_t *g) {
        static const char *ws[] = {" ", "\n", "\r\n", "\t", "  \n "};

        if (g->ws && pick(g, 3) == 0)
                fg_buf_printf(&g->b, "%s", ws[g->ws == 1 ? 0 : pick(g, 5)]);
}

static void gen_string(gen_t *g, bool key) {
        static const char *keys[] = {"id", "text", "a", "b", "c", "user", "email", "_floodgate",
                                     "\\u0061", "t\\u0065xt", "tags", "n", "meta", "x\\/y", "x/y"};
        static const char *vals[] = {
            "acme is trending", "ACME", "nothing here", "Globex rocks", "caf\xc3\xa9",
            "caf\\u00e9", "a\\nb", "tab\\there", "q\\\"uote", "back\\\\slash", "sl\\/ash",
            "ctl\\u001f\\u001F\\u0000", "\\ud83d\\ude00", "\\u00C9", "\\b\\f\\r", "\\u000a",
            "x", "", "Initech \\u0041CME", "\xe2\x82\xac euro", "\x7f"};

        if (key)
                fg_buf_printf(&g->b, "\"%s\"", keys[pick(g, sizeof(keys) / sizeof(keys[0]))]);
        else
                fg_buf_printf(&g->b, "\"%s\"", vals[pick(g, sizeof(vals) / sizeof(vals[0]))]);
}

static void gen_value(gen_t *g, int depth) {
        static const char *nums[] = {
            "0", "-0", "42", "-7", "9223372036854775807", "-9223372036854775808", "1.5", "1.50",
            "0.1", "-0.0", "0.0", "1e14", "1E+2", "1e-5", "2.5e3", "123456789012345.0",
            "1234567890123456.5", "0.000123", "0.0000123", "19.99", "3.141592653589793",
            "1e308", "5e-324", "100", "1.0", "0.30000000000000004", "-12.340"};
        unsigned what = pick(g, depth < 4 ? 10 : 7);

        switch (what) {
        case 0:
        case 1:
        case 2:
                gen_string(g, false);
                break;
        case 3:
        case 4:
                fg_buf_printf(&g->b, "%s", nums[pick(g, sizeof(nums) / sizeof(nums[0]))]);
                if (pick(g, 20) == 0)
                        fg_buf_putc(&g->b, '\0'); /* jansson skips one NUL here */
                break;
        case 5:
                fg_buf_printf(&g->b, "%s", pick(g, 2) ? "true" : "null");
                break;
        case 6:
                fg_buf_printf(&g->b, "false");
                break;
        case 7:
        case 8: {
                unsigned n = pick(g, 5);

                fg_buf_putc(&g->b, '[');
                for (unsigned i = 0; i < n; i++) {
                        if (i)
                                fg_buf_putc(&g->b, ',');
                        gen_ws(g);
                        gen_value(g, depth + 1);
                        gen_ws(g);
                }
                fg_buf_putc(&g->b, ']');
                break;
        }
        default: {
                unsigned n = pick(g, 6);

                fg_buf_putc(&g->b, '{');
                for (unsigned i = 0; i < n; i++) {
                        if (i)
                                fg_buf_putc(&g->b, ',');
                        gen_ws(g);
                        gen_string(g, true);
                        gen_ws(g);
                        fg_buf_putc(&g->b, ':');
                        gen_ws(g);
                        gen_value(g, depth + 1);
                        gen_ws(g);
                }
                fg_buf_putc(&g->b, '}');
                break;
        }
        }
}

/* An event: mostly an object, sometimes broken on purpose. */
static void gen_event(gen_t *g) {
        unsigned n = 1 + pick(g, 7);

        fg_buf_reset(&g->b);
        g->ws = pick(g, 4) == 0 ? 2 : pick(g, 3) == 0 ? 1 : 0;
        gen_ws(g);
        fg_buf_putc(&g->b, '{');
        for (unsigned i = 0; i < n; i++) {
                if (i)
                        fg_buf_putc(&g->b, ',');
                gen_ws(g);
                gen_string(g, true);
                fg_buf_putc(&g->b, ':');
                gen_ws(g);
                gen_value(g, 1);
        }
        fg_buf_putc(&g->b, '}');
        gen_ws(g);
        switch (pick(g, 12)) {
        case 0: /* truncated */
                g->b.len = pick(g, (unsigned)g->b.len);
                break;
        case 1: /* one byte changed */
                g->b.p[pick(g, (unsigned)g->b.len)] = "{}[],:\"\\x\xff\x01 "[pick(g, 13)];
                break;
        case 2: /* not an object */
                fg_buf_reset(&g->b);
                gen_value(g, 1);
                break;
        default:
                break;
        }
}

/* Applies @p h and @p o to @p in; fails on any difference. */
static void compare_with_oracle(const char *setup, const fg_handler_t *h, const fg_oracle_t *o,
                                fg_handler_ctx_t *ctx, const char *in, size_t len) {
        fg_event_t ev = event_of(in, len), oev = ev;
        const char *reason = NULL;
        char *out, *oreason;
        size_t olen;
        fg_handle_verdict_t v = fg_handler_apply(h, ctx, &ev, NOW_MS, &reason);
        fg_handle_verdict_t ov = fg_oracle_apply(o, &oev, NOW_MS, &out, &olen, &oreason);

        ck_assert_msg(v == ov, "{%s} %.*s: verdict %d (%s), the oracle %d (%s)", setup, (int)len, in,
                      v, reason ? reason : "-", ov, oreason ? oreason : "-");
        if (v == FG_HANDLE_INVALID)
                ck_assert_msg(!strcmp(reason, oreason), "{%s} %.*s: reason \"%s\", the oracle's \"%s\"",
                              setup, (int)len, in, reason, oreason);
        if (v == FG_HANDLE_SEND && !out)
                ck_assert_msg(ev.value == in && ev.len == len, "{%s} %.*s: rewritten as %.*s", setup,
                              (int)len, in, (int)ev.len, (const char *)ev.value);
        if (v == FG_HANDLE_SEND && out)
                ck_assert_msg(ev.len == olen && !memcmp(ev.value, out, olen),
                              "{%s}\nin:     %.*s\ngot:    %.*s\noracle: %.*s", setup, (int)len, in,
                              (int)ev.len, (const char *)ev.value, (int)olen, out);
        free(out);
        free(oreason);
}

static const char *oracle_setups[] = {
    "mode: json",
    "filter: {field: text, contains_any: [acme, globex, \"caf\xc3\xa9\"], case_insensitive: true}",
    "filter: {field: a, equals: \"1.5\"}",
    "filter: {field: a.b, equals: \"true\"}",
    "filter: {field: text, equals: \"ACME\", case_insensitive: true}",
    "filter: {field: user.email, exists: true}",
    "filter: {field: tags, contains_any: [x, acme]}",
    "add_metadata: true",
    "add_metadata: true, metadata_field: text",
    "drop: [a, user.email, b.c.d, \"x/y\"], add_metadata: true",
    "keep: [id, text, a, _floodgate]",
    "keep: [a, b, c], drop: [a.a, b.text, c.b.c]",
    "filter: {field: text, contains_any: [acme], case_insensitive: true}, keep: [text, n], "
    "drop: [n.a], add_metadata: true, metadata_field: meta",
};

/* 10,000 generated events through each setup (130,000 applies): the
 * DOM-free handler and the jansson oracle agree on every verdict, reason
 * and output byte. */
START_TEST(test_handler_matches_oracle) {
        enum { N = 10000 };
        size_t nsetups = sizeof(oracle_setups) / sizeof(oracle_setups[0]);
        size_t sent = 0, rewritten = 0, invalid = 0;

        for (size_t k = 0; k < nsetups; k++) {
                fg_config_t *cfg = config_with(oracle_setups[k]);
                char errstr[256];
                fg_handler_t *h = fg_handler_new(&cfg->handler, errstr, sizeof(errstr));
                fg_oracle_t *o = fg_oracle_new(&cfg->handler, errstr, sizeof(errstr));
                fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);
                gen_t g = {.rng = 0x5eed0000ULL + k};

                ck_assert(h && o && ctx);
                for (int i = 0; i < N; i++) {
                        fg_event_t ev;
                        const char *reason;

                        gen_event(&g);
                        compare_with_oracle(oracle_setups[k], h, o, ctx, g.b.p, g.b.len);
                        ev = event_of(g.b.p, g.b.len);
                        switch (fg_handler_apply(h, ctx, &ev, NOW_MS, &reason)) {
                        case FG_HANDLE_SEND:
                                sent++;
                                rewritten += ev.value != g.b.p;
                                break;
                        case FG_HANDLE_INVALID: invalid++; break;
                        default: break;
                        }
                        if (i % 256 == 255)
                                fg_handler_ctx_reset(ctx);
                }
                fg_buf_free(&g.b);
                fg_handler_ctx_destroy(ctx);
                fg_oracle_destroy(o);
                fg_handler_destroy(h);
                fg_config_destroy(cfg);
        }
        printf("check_handler: %zu events agree with the oracle (%zu sent, %zu of them rewritten, "
               "%zu invalid)\n", nsetups * N, sent, rewritten, invalid);
        ck_assert_uint_gt(rewritten, nsetups * N / 4);
        ck_assert_uint_gt(invalid, nsetups * N / 10);
}
END_TEST

/* Cases the generator may not reach, spelled out. */
START_TEST(test_handler_oracle_cases) {
        static const char *in[] = {
            "{\"a\":1,\"a\":2}",
            "{\"a\":1,\"b\":2,\"a\":3,\"a\":{\"x\":1,\"x\":[1,{\"y\":0,\"y\":-0}]}}",
            "{\"\\u0061\":1,\"a\":2,\"b\":{\"c\":1,\"c\":2},\"b\":{\"d\":3}}",
            "{\"user\":{\"email\":1},\"user\":{\"email\":2,\"email\":3,\"name\":4}}",
            "{\"text\":\"acme\",\"text\":\"none\"}",
            "{\"text\":\"none\",\"text\":\"acme\"}",
            "{\"_floodgate\":1,\"x\":2,\"_floodgate\":3}",
            "{\"n\":1e14,\"m\":[1E+2,-0.0,0.0,1.50,5e-324,1e308,-1e-7]}",
            "{\"s\":\"\\u00e9\\/\\u001f\\u001F\\u0000\\ud83d\\ude00\\\"\\\\\"}",
            "{\"k\\n\":\"v\",\"k\\u000A\":\"w\"}",
            "{\"a\":1\0}",
            " \r\n{ \"a\" : [ 1 , 2 ] , \"b\" :{ } }\n",
            "{\"a\":{},\"b\":[],\"c\":[{}],\"d\":[[]],\"e\":{\"f\":{}}}",
        };
        size_t lens[sizeof(in) / sizeof(in[0])];

        for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
                lens[i] = i == 10 ? 9 : strlen(in[i]);
        for (size_t k = 0; k < sizeof(oracle_setups) / sizeof(oracle_setups[0]); k++) {
                fg_config_t *cfg = config_with(oracle_setups[k]);
                char errstr[256];
                fg_handler_t *h = fg_handler_new(&cfg->handler, errstr, sizeof(errstr));
                fg_oracle_t *o = fg_oracle_new(&cfg->handler, errstr, sizeof(errstr));
                fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);

                for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
                        compare_with_oracle(oracle_setups[k], h, o, ctx, in[i], lens[i]);
                fg_handler_ctx_destroy(ctx);
                fg_oracle_destroy(o);
                fg_handler_destroy(h);
                fg_config_destroy(cfg);
        }
        /* And what some of them become. */
        {
                fg_handler_t *h = handler_with("add_metadata: true");
                fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);
                const char *meta = ",\"_floodgate\":{\"topic\":\"events\",\"partition\":3,\"offset\":42,"
                                   "\"kafka_ts\":1700000000000,\"ingested_ms\":1700000000100,"
                                   "\"processed_ms\":1700000000500}}";
                char want[512];

                snprintf(want, sizeof(want), "{\"a\":3,\"b\":2%s", meta);
                expect_out(h, ctx, "{\"a\":1,\"b\":2,\"a\":3}", want);
                snprintf(want, sizeof(want), "{\"x\":2%s", meta);
                expect_out(h, ctx, "{\"_floodgate\":1,\"x\":2,\"_floodgate\":3}", want);
                snprintf(want, sizeof(want), "{\"n\":100000000000000.0,\"m\":[100.0,-0.0,1.5]%s", meta);
                expect_out(h, ctx, "{\"n\":1e14,\"m\":[1E+2,-0.0,1.50]}", want);
                snprintf(want, sizeof(want), "{\"s\":\"\xc3\xa9/\\u001F\\u001F\"%s", meta);
                expect_out(h, ctx, "{\"s\":\"\\u00e9\\/\\u001f\\u001F\"}", want);
                fg_handler_ctx_destroy(ctx);
                fg_handler_destroy(h);
        }
}
END_TEST

/* ---- the per-event memory bound ---- */

/* jansson's allocations, counted (main() installs these before any
 * jansson call): blocks allocated before do not exist, so the count is
 * exact. */
static _Atomic long long jansson_held, jansson_peak;

static void *counting_malloc(size_t n) {
        void *p = malloc(n);

        if (p) {
                long long now = atomic_fetch_add(&jansson_held, (long long)malloc_usable_size(p)) +
                                (long long)malloc_usable_size(p);
                long long peak = atomic_load(&jansson_peak);

                while (now > peak && !atomic_compare_exchange_weak(&jansson_peak, &peak, now))
                        ;
        }
        return p;
}

static void counting_free(void *p) {
        if (p)
                atomic_fetch_sub(&jansson_held, (long long)malloc_usable_size(p));
        free(p);
}

/* What applying @p h to @p in (on a fresh ctx) holds at most, ctx and
 * jansson together; checked against the bound, and returned. */
static size_t apply_cost(const char *what, const fg_handler_t *h, const char *in, size_t len,
                         fg_handle_verdict_t want) {
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);
        fg_event_t ev = event_of(in, len);
        const char *reason = NULL;
        long long base = atomic_load(&jansson_held);
        size_t cost;

        atomic_store(&jansson_peak, base);
        ck_assert_msg(fg_handler_apply(h, ctx, &ev, NOW_MS, &reason) == want, "%s: %s", what,
                      reason ? reason : "wrong verdict");
        cost = fg_handler_ctx_peak(ctx) + (size_t)(atomic_load(&jansson_peak) - base);
        printf("check_handler: %-46s %8zu bytes: held %9zu (%5.2f x)%s%s\n", what, len, cost,
               (double)cost / (double)len, reason ? ": " : "", reason ? reason : "");
        ck_assert_msg(cost <= FG_HANDLER_EVENT_BOUND(len), "%s: %zu bytes held for a %zu-byte event",
                      what, cost, len);
        fg_handler_ctx_destroy(ctx);
        return cost;
}

/* @p unit repeated to about @p size bytes between @p pre and @p post. */
static char *repeat(const char *pre, const char *unit, const char *post, size_t size, size_t *len) {
        size_t ul = strlen(unit), n = size / ul, o = 0;
        char *s = malloc(strlen(pre) + n * ul + strlen(post) + 1);

        ck_assert_ptr_nonnull(s);
        o += (size_t)sprintf(s, "%s", pre);
        for (size_t i = 0; i < n; i++, o += ul)
                memcpy(s + o, unit, ul);
        if (o && s[o - 1] == ',' && *post != ',')
                o--;
        o += (size_t)sprintf(s + o, "%s", post);
        *len = o;
        return s;
}

/* The shapes that cost jansson the most per byte (the 4 MB
 * {"a":[{},{},...]} peaked at 329 MiB), and the DOM-free path's own worst
 * cases — many keys, duplicate keys, nesting, reals printed longer,
 * escapes, line breaks — through passthrough, a filter and full shaping:
 * nothing holds more than FG_HANDLER_EVENT_BOUND. */
START_TEST(test_handler_memory_bound) {
        static const struct {
                const char *what, *pre, *unit, *post;
                fg_handle_verdict_t want; /* with the shaping handler */
        } shapes[] = {
            {"4 MB {\"a\":[{},{},...]}", "{\"a\":[", "{},", "]}", FG_HANDLE_SEND},
            {"the same, truncated (invalid)", "{\"a\":[", "{},", "", FG_HANDLE_INVALID},
            {"the same, a bad byte at the end", "{\"a\":[", "{},", "]x", FG_HANDLE_INVALID},
            {"distinct keys", "{", "\"k\":0,", "}", FG_HANDLE_SEND},
            {"one key, repeated", "{", "\"\":0,", "}", FG_HANDLE_SEND},
            {"keys with nested objects", "{", "\"\":{},", "}", FG_HANDLE_SEND},
            {"arrays of empty arrays", "{\"a\":[", "[],", "]}", FG_HANDLE_SEND},
            {"reals printed longer", "{\"a\":[", "1e14,", "]}", FG_HANDLE_SEND},
            {"escapes", "{\"a\":\"", "\\u00e9\\/", "\"}", FG_HANDLE_SEND},
            {"line breaks", "{\"a\":[1", ",\n1", "]}", FG_HANDLE_SEND},
            {"an array (not an object)", "[", "{},", "]", FG_HANDLE_INVALID},
            {"a huge integer at the end (invalid)", "{\"a\":", "9", "}", FG_HANDLE_INVALID},
        };
        fg_handler_t *hs[] = {
            handler_with("mode: json"),
            handler_with("filter: {field: a, exists: true}"),
            handler_with("drop: [a.b, k], keep: [a, k], add_metadata: true"),
        };
        size_t sizes[] = {4 << 20, 100000, 1000};
        char *deep;
        size_t len;

        for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++)
                for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
                        char *in = repeat(shapes[i].pre, shapes[i].unit, shapes[i].post, sizes[z],
                                          &len);

                        for (size_t k = 0; k < 3; k++) {
                                fg_handle_verdict_t want = shapes[i].want;

                                /* Only "a" exists for the filter. */
                                if (k == 1 && want == FG_HANDLE_SEND && strncmp(in, "{\"a\"", 4))
                                        want = FG_HANDLE_FILTERED;
                                if (k == 0 || (k == 1 && z == 0))
                                        apply_cost(shapes[i].what, hs[k], in, len, want);
                                else if (k == 2)
                                        apply_cost(shapes[i].what, hs[k], in, len, want);
                        }
                        free(in);
                }
        /* 2047 levels of objects around 1 MB of text, and 10,000 levels
         * (refused by jansson's depth limit, diagnosed within the bound). */
        {
                size_t n = 0, depth = 2047, text = 1 << 20;

                deep = malloc(depth * 8 + text + 64);
                ck_assert_ptr_nonnull(deep);
                for (size_t i = 0; i < depth; i++)
                        n += (size_t)sprintf(deep + n, "{\"a\":");
                deep[n++] = '"';
                memset(deep + n, 'x', text);
                n += text;
                deep[n++] = '"';
                memset(deep + n, '}', depth);
                n += depth;
                for (size_t k = 0; k < 3; k++)
                        apply_cost("2047 nested objects around 1 MB", hs[k], deep, n,
                                   FG_HANDLE_SEND);
                free(deep);
        }
        deep = repeat("{\"a\":", "[", "", 10000, &len);
        for (size_t k = 0; k < 3; k++)
                apply_cost("10,000 open arrays (invalid)", hs[k], deep, len, FG_HANDLE_INVALID);
        free(deep);
        for (size_t k = 0; k < 3; k++)
                fg_handler_destroy(hs[k]);
}
END_TEST

/* The reason of a payload too big for jansson to diagnose within the
 * bound comes from the scanner; jansson's words otherwise, for a small
 * payload or an error early in a big one (jansson stops there). */
START_TEST(test_handler_big_invalid_reason) {
        fg_handler_t *h = handler_with("mode: json");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);
        size_t len;
        char *in = repeat("{\"a\":[", "{},", "", 1 << 20, &len), want[128];

        snprintf(want, sizeof(want), "not JSON: unexpected end at byte %zu (line 1, column %zu)",
                 len, len + 1);
        expect_invalid(h, ctx, in, len, want);
        in[len - 1] = ']';
        in[100] = 'x';
        expect_invalid(h, ctx, in, len, "not JSON: string or '}' expected near 'x' (line 1, column 101)");
        free(in);
        /* {"a":\n[{},...]] : the second ']' is refused, on line 2. */
        in = repeat("{\"a\":\n[", "{},", "]]", 1 << 20, &len);
        snprintf(want, sizeof(want), "not JSON: invalid input at byte %zu (line 2, column %zu)",
                 len - 1, len - 1 - 6 + 1);
        expect_invalid(h, ctx, in, len, want);
        expect_invalid(h, ctx, "{\"a\":[{},{}", 11,
                       "not JSON: ']' expected near end of file (line 1, column 11)");
        free(in);
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(h);
}
END_TEST

/* ---- raw mode: one Kafka message is one record ---- */

static fg_handler_t *raw_handler(const char *handler, fg_framing_t framing) {
        fg_config_t *cfg = config_with(handler);
        char errstr[256] = "";
        fg_handler_t *h;

        cfg->handler.framing = framing;
        h = fg_handler_new(&cfg->handler, errstr, sizeof(errstr));
        ck_assert_msg(h != NULL, "%s", errstr);
        fg_config_destroy(cfg);
        return h;
}

/* Line-framed sinks (file, stdout, http ndjson): a payload with a CR or LF
 * is INVALID (dead-lettered, dropped or fatal by on_invalid), never split
 * in two; JSON-array bodies (http json_array): only one JSON value per
 * element. Without framing, anything goes. */
START_TEST(test_handler_raw_framing) {
        fg_handler_t *lines = raw_handler("mode: raw", FG_FRAMING_LINES);
        fg_handler_t *array = raw_handler("mode: raw", FG_FRAMING_JSON_ARRAY);
        fg_handler_t *none = raw_handler("mode: raw", FG_FRAMING_NONE);
        fg_handler_t *filt = raw_handler("mode: raw, filter: {contains_any: [acme]}", FG_FRAMING_LINES);
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(lines);
        static const struct {
                const char *in;
                fg_handle_verdict_t lines, array;
        } cases[] = {
            {"plain text", FG_HANDLE_SEND, FG_HANDLE_INVALID},
            {"two\nlines", FG_HANDLE_INVALID, FG_HANDLE_INVALID},
            {"cr\ronly", FG_HANDLE_INVALID, FG_HANDLE_INVALID},
            {"{\"a\":1}", FG_HANDLE_SEND, FG_HANDLE_SEND},
            {"{\n  \"a\": 1\n}", FG_HANDLE_INVALID, FG_HANDLE_SEND},
            {"[1,2]", FG_HANDLE_SEND, FG_HANDLE_SEND},
            {"\"a string\"", FG_HANDLE_SEND, FG_HANDLE_SEND},
            {"42", FG_HANDLE_SEND, FG_HANDLE_SEND},
            {"{\"a\":1},{\"b\":2}", FG_HANDLE_SEND, FG_HANDLE_INVALID},
            {"1],[2", FG_HANDLE_SEND, FG_HANDLE_INVALID},
            {"", FG_HANDLE_SEND, FG_HANDLE_INVALID},
        };

        ck_assert(!fg_handler_is_passthrough(lines));
        ck_assert(!fg_handler_is_passthrough(array));
        ck_assert(fg_handler_is_passthrough(none));
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const fg_handler_t *hs[] = {lines, array, none};
                fg_handle_verdict_t want[] = {cases[i].lines, cases[i].array, FG_HANDLE_SEND};

                for (size_t k = 0; k < 3; k++) {
                        fg_event_t ev = event_of(cases[i].in, strlen(cases[i].in));
                        const char *reason = NULL;

                        ck_assert_msg(fg_handler_apply(hs[k], ctx, &ev, NOW_MS, &reason) == want[k],
                                      "\"%s\", framing %zu", cases[i].in, k);
                        ck_assert_ptr_eq(ev.value, cases[i].in);
                        if (want[k] == FG_HANDLE_INVALID)
                                ck_assert_str_eq(reason, k == 0
                                    ? "raw payload contains a line break: the sink writes one "
                                      "event per line"
                                    : "raw payload is not one JSON value: the sink sends events "
                                      "as the elements of a JSON array");
                        else
                                ck_assert_ptr_null(reason);
                }
        }
        /* The filter first: what it drops is not refused. */
        expect_verdict(filt, ctx, "nothing\nhere", FG_HANDLE_FILTERED);
        expect_verdict(filt, ctx, "acme\nhere", FG_HANDLE_INVALID);
        expect_verdict(filt, ctx, "acme here", FG_HANDLE_SEND);
        fg_handler_ctx_destroy(ctx);
        fg_handler_destroy(filt);
        fg_handler_destroy(none);
        fg_handler_destroy(array);
        fg_handler_destroy(lines);
}
END_TEST

/* ---- ctx, lifecycle ---- */

START_TEST(test_handler_ctx_reset_frees) {
        fg_handler_t *h = handler_with("filter: {field: text, contains_any: [acme], case_insensitive: true}, "
                                       "drop: [user], add_metadata: true");
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(h);
        enum { N = 10000 };
        const char **out = calloc(N, sizeof(*out));
        size_t *len = calloc(N, sizeof(*len));
        char in[256], want[512];

        ck_assert_ptr_nonnull(out);
        ck_assert_ptr_nonnull(len);
        for (int round = 0; round < 3; round++) {
                for (int i = 0; i < N; i++) {
                        fg_event_t ev;
                        const char *reason;

                        snprintf(in, sizeof(in),
                                 "{\"id\":\"x-%d\",\"user\":\"u%d\",\"text\":\"ACME %d\"}", i, i, round);
                        ev = event_of(in, strlen(in));
                        ev.offset = i;
                        ck_assert_int_eq(fg_handler_apply(h, ctx, &ev, NOW_MS, &reason),
                                         FG_HANDLE_SEND);
                        ck_assert_ptr_ne(ev.value, in);
                        out[i] = ev.value;
                        len[i] = ev.len;
                        /* Reasons live in the ctx too. */
                        ck_assert_int_eq(apply_str(h, ctx, "{bad", &reason), FG_HANDLE_INVALID);
                }
                /* Every output is intact until the reset. */
                for (int i = 0; i < N; i++) {
                        int n = snprintf(want, sizeof(want),
                                         "{\"id\":\"x-%d\",\"text\":\"ACME %d\",\"_floodgate\":{"
                                         "\"topic\":\"events\",\"partition\":3,\"offset\":%d,"
                                         "\"kafka_ts\":1700000000000,\"ingested_ms\":1700000000100,"
                                         "\"processed_ms\":1700000000500}}",
                                         i, round, i);

                        ck_assert_uint_eq(len[i], (size_t)n);
                        ck_assert_int_eq(memcmp(out[i], want, len[i]), 0);
                }
                fg_handler_ctx_reset(ctx);
        }
        fg_handler_ctx_reset(ctx);
        fg_handler_ctx_reset(ctx);
        free(len);
        free(out);
        fg_handler_ctx_destroy(ctx);
        fg_handler_ctx_destroy(fg_handler_ctx_new(h)); /* never used */
        fg_handler_ctx_destroy(NULL);
        fg_handler_destroy(h);
        fg_handler_destroy(NULL);
}
END_TEST

START_TEST(test_handler_is_passthrough) {
        static const struct {
                const char *handler;
                int passthrough;
        } cases[] = {
            {"mode: json", 1},
            {"mode: raw", 1},
            {"mode: json, on_invalid: drop, metadata_field: x", 1},
            {"mode: raw, filter: {contains_any: [a]}", 0},
            {"filter: {field: a, exists: true}", 0},
            {"filter: {field: a, equals: b}", 0},
            {"filter: {field: a, contains_any: [b]}", 0},
            {"drop: [a]", 0},
            {"keep: [a]", 0},
            {"add_metadata: true", 0},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                fg_handler_t *h = handler_with(cases[i].handler);

                ck_assert_msg(fg_handler_is_passthrough(h) == cases[i].passthrough, "%s",
                              cases[i].handler);
                fg_handler_destroy(h);
        }
}
END_TEST

START_TEST(test_handler_new_rejects_bad_config) {
        static const struct {
                const char *handler; /* loaded, then broken by hand below */
                int breakage;
                const char *want;
        } cases[] = {
            {"filter: {field: a, equals: b}", 1,
             "handler.filter takes one of equals, exists, contains_any"},
            {"filter: {field: a, equals: b}", 2, "handler.filter.field 'a..b': empty segment in dotted path"},
            {"filter: {field: a, equals: b}", 3, "handler.filter.field needs equals, exists or contains_any"},
            {"filter: {field: a, equals: b}", 4, "handler.filter needs field"},
            /* The config loader refuses these paths too; the handler must not
             * rely on it. */
            {"drop: [ok, x]", 12, "handler.drop 'a..b': empty segment in dotted path"},
            {"drop: [ok, x]", 13, "handler.drop '.a': empty segment in dotted path"},
            {"drop: [ok, x]", 14, "handler.drop 'a.': empty segment in dotted path"},
            {"mode: raw", 5, "handler.mode 'raw' passes bytes unchanged: add_metadata, keep and drop need mode json"},
            {"mode: raw", 6, "handler.mode 'raw' filters only with contains_any over the whole payload (no field, equals or exists)"},
            {"add_metadata: true", 7, "handler.metadata_field must not be empty"},
            {"add_metadata: true", 8, "handler.metadata_field is not valid UTF-8"},
            {"filter: {field: a, contains_any: [x]}", 9,
             "handler.filter.contains_any: keywords must not be empty"},
            {"keep: [a]", 10, "handler.keep: field names must not be empty"},
            {"mode: json", 11, "handler.mode: unknown mode 7"},
        };
        char errstr[256];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                fg_config_t *cfg = config_with(cases[i].handler);
                char *saved = NULL;
                char **slot = NULL;

                switch (cases[i].breakage) {
                case 1: cfg->handler.filter.exists = true; break;
                case 2: slot = &cfg->handler.filter.field; saved = *slot; *slot = "a..b"; break;
                case 3: slot = &cfg->handler.filter.equals; saved = *slot; *slot = NULL; break;
                case 4: slot = &cfg->handler.filter.field; saved = *slot; *slot = NULL; break;
                case 5: cfg->handler.add_metadata = true; break;
                case 6: slot = &cfg->handler.filter.field; saved = *slot; *slot = "a"; break;
                case 7: slot = &cfg->handler.metadata_field; saved = *slot; *slot = ""; break;
                case 8: slot = &cfg->handler.metadata_field; saved = *slot; *slot = "\xff"; break;
                case 9: slot = &cfg->handler.filter.contains_any.v[0]; saved = *slot; *slot = ""; break;
                case 10: slot = &cfg->handler.keep.v[0]; saved = *slot; *slot = ""; break;
                case 11: cfg->handler.mode = (fg_handler_mode_t)7; break;
                case 12: slot = &cfg->handler.drop.v[1]; saved = *slot; *slot = "a..b"; break;
                case 13: slot = &cfg->handler.drop.v[1]; saved = *slot; *slot = ".a"; break;
                case 14: slot = &cfg->handler.drop.v[1]; saved = *slot; *slot = "a."; break;
                default: break;
                }
                strcpy(errstr, "unset");
                ck_assert_msg(fg_handler_new(&cfg->handler, errstr, sizeof(errstr)) == NULL, "case %zu", i);
                ck_assert_str_eq(errstr, cases[i].want);
                if (slot)
                        *slot = saved;
                fg_config_destroy(cfg);
        }
        /* NULL errstr and a tiny one are fine. */
        ck_assert_ptr_null(fg_handler_new(NULL, NULL, 0));
        ck_assert_ptr_null(fg_handler_new(NULL, errstr, 4));
        ck_assert_str_eq(errstr, "han");
}
END_TEST

/* ---- threads ---- */

#define THREADS     4
#define THREAD_EVENTS 5000

struct worker {
        const fg_handler_t *h;
        int id;
        int mismatches;
};

static void *worker_main(void *p) {
        struct worker *w = p;
        fg_handler_ctx_t *ctx = fg_handler_ctx_new(w->h);
        char in[256], want[512];

        for (int i = 0; i < THREAD_EVENTS; i++) {
                bool hit = (i + w->id) % 3 != 0;
                fg_event_t ev;
                const char *reason;
                fg_handle_verdict_t v;
                int n;

                snprintf(in, sizeof(in),
                         "{\"id\":\"w%d-%d\",\"user\":{\"name\":\"u\",\"email\":\"e\"},"
                         "\"text\":\"%s is trending\"}",
                         w->id, i, hit ? "Acme" : "nobody");
                ev = event_of(in, strlen(in));
                ev.partition = w->id;
                ev.offset = i;
                v = fg_handler_apply(w->h, ctx, &ev, NOW_MS + i, &reason);
                if (!hit) {
                        w->mismatches += v != FG_HANDLE_FILTERED;
                        continue;
                }
                n = snprintf(want, sizeof(want),
                             "{\"id\":\"w%d-%d\",\"user\":{\"name\":\"u\"},\"text\":\"Acme is trending\","
                             "\"_floodgate\":{\"topic\":\"events\",\"partition\":%d,\"offset\":%d,"
                             "\"kafka_ts\":1700000000000,\"ingested_ms\":1700000000100,"
                             "\"processed_ms\":%lld}}",
                             w->id, i, w->id, i, NOW_MS + i);
                w->mismatches += v != FG_HANDLE_SEND || ev.len != (size_t)n ||
                                 memcmp(ev.value, want, ev.len) != 0;
                if (i % 64 == 63)
                        fg_handler_ctx_reset(ctx);
        }
        fg_handler_ctx_destroy(ctx);
        return NULL;
}

START_TEST(test_handler_threads_share_handler) {
        fg_handler_t *h = handler_with("filter: {field: text, contains_any: [acme], case_insensitive: true}, "
                                       "drop: [user.email], add_metadata: true");
        struct worker w[THREADS];
        pthread_t th[THREADS];

        for (int t = 0; t < THREADS; t++) {
                w[t] = (struct worker){.h = h, .id = t};
                ck_assert_int_eq(pthread_create(&th[t], NULL, worker_main, &w[t]), 0);
        }
        for (int t = 0; t < THREADS; t++) {
                pthread_join(th[t], NULL);
                ck_assert_int_eq(w[t].mismatches, 0);
        }
        fg_handler_destroy(h);
}
END_TEST

static Suite *handler_suite(void) {
        Suite *s = suite_create("handler");
        TCase *tc = tcase_create("core");
        TCase *tc_mt = tcase_create("threads");

        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_handler_passthrough_keeps_bytes);
        tcase_add_test(tc, test_handler_passthrough_multiline_made_single_line);
        tcase_add_test(tc, test_handler_invalid_json_reason);
        tcase_add_test(tc, test_handler_empty_payload_invalid);
        tcase_add_test(tc, test_handler_non_object_invalid);
        tcase_add_test(tc, test_handler_deep_nesting_invalid);
        tcase_add_test(tc, test_handler_large_payload);
        tcase_add_test(tc, test_handler_raw_passes_anything);
        tcase_add_test(tc, test_handler_raw_contains_any_binary);
        tcase_add_test(tc, test_handler_filter_equals_string);
        tcase_add_test(tc, test_handler_filter_equals_number);
        tcase_add_test(tc, test_handler_filter_equals_bool);
        tcase_add_test(tc, test_handler_filter_nested_path);
        tcase_add_test(tc, test_handler_filter_missing_path_filtered);
        tcase_add_test(tc, test_handler_filter_exists);
        tcase_add_test(tc, test_handler_filter_contains_any_string);
        tcase_add_test(tc, test_handler_filter_contains_any_array);
        tcase_add_test(tc, test_handler_filter_contains_any_no_match);
        tcase_add_test(tc, test_handler_filter_case_insensitive);
        tcase_add_test(tc, test_handler_drop_paths);
        tcase_add_test(tc, test_handler_keep_fields);
        tcase_add_test(tc, test_handler_metadata_exact);
        tcase_add_test(tc, test_handler_shaping_order);
        tcase_add_test(tc, test_handler_key_order_preserved);
        tcase_add_test(tc, test_handler_output_compact_single_line);
        tcase_add_test(tc, test_handler_values_round_trip);
        tcase_add_test(tc, test_handler_output_matches_jansson);
        tcase_add_test(tc, test_handler_matches_oracle);
        tcase_add_test(tc, test_handler_oracle_cases);
        tcase_add_test(tc, test_handler_memory_bound);
        tcase_add_test(tc, test_handler_big_invalid_reason);
        tcase_add_test(tc, test_handler_raw_framing);
        tcase_add_test(tc, test_handler_ctx_reset_frees);
        tcase_add_test(tc, test_handler_is_passthrough);
        tcase_add_test(tc, test_handler_new_rejects_bad_config);
        suite_add_tcase(s, tc);

        /* TSan slows this down a lot; it still finishes in seconds. */
        tcase_set_timeout(tc_mt, 300);
        tcase_add_test(tc_mt, test_handler_threads_share_handler);
        suite_add_tcase(s, tc_mt);
        return s;
}

int main(void) {
        SRunner *sr;
        int failed;

        /* Before any jansson call: see counting_malloc. */
        json_set_alloc_funcs(counting_malloc, counting_free);
        sr = srunner_create(handler_suite());
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
