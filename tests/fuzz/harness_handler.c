/*
 * harness_handler: a fuzz input as one Kafka event through one of a
 * handful of handler setups (see harness.h and tests/fuzz/README.md).
 *
 * Input: byte 0 picks the setup (modulo fg_fuzz_handler_nsetups), byte 1
 * the event's metadata (bit 0: no Kafka timestamp, bit 1: no topic, bits
 * 2-7: the partition; in raw mode, where no metadata is written, bits 2-7
 * modulo 3 pick the sink's framing: none, lines, JSON array), the rest is
 * the payload.
 *
 * Every apply is checked against two references:
 *   - the handler as it was before it stopped building a DOM
 *     (tests/support/handler_oracle.c, jansson all the way): the same
 *     verdict, the same output bytes (reals included), the same reason —
 *     except the scanner's own reason for an invalid payload too big for
 *     jansson within the memory bound — and in raw mode the same, save
 *     what the framing refuses;
 *   - a small reference written from handler.h's contract, not from
 *     handler.c, reading the filter and shaping options back from the
 *     loaded config:
 *   - json mode: INVALID exactly when jansson refuses the payload or it is
 *     not an object, with a reason of at most 120 bytes of printable UTF-8;
 *     FILTERED exactly when the reference filter does not match;
 *   - a json SEND is a single line (no CR or LF) of valid JSON: the payload
 *     unchanged (same pointer) when unshaped and single-line, else equal
 *     to the reference shaping of the parsed payload (drop, keep, metadata
 *     last), keys in the original order, and byte-identical to jansson's
 *     compact dump when no reals are involved;
 *   - raw mode: the payload passes unchanged unless the reference
 *     contains_any says FILTERED, or the framing says INVALID (lines: a CR
 *     or LF; JSON array: jansson does not load it as one value);
 *   - memory: the first apply, on a fresh ctx, holds at most
 *     FG_HANDLER_EVENT_BOUND(payload) bytes of the ctx and of jansson
 *     together (jansson's allocations counted through
 *     json_set_alloc_funcs);
 *   - the same event applied again gives the same result, and an earlier
 *     output stays intact while later applies (and a reset) reuse the ctx;
 *   - the passthrough scanner (handler/json_scan.h) agrees with jansson on
 *     the payload and on the whole input: OBJECT exactly when json_loadb
 *     returns an object, INVALID exactly when it does not, and on OBJECT
 *     has_raw_newline exactly when there is a CR or LF byte.
 */
#include "tests/fuzz/harness.h"

#include <jansson.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "sinks/sink.h"
#include "handler/handler.h"
#include "handler/handler_int.h"
#include "handler/json_scan.h"
#include "tests/support/handler_oracle.h"

#define REASON_MAX 120
#define NOW_MS     1700000000500LL

static const char *const base_yaml = "kafka: {brokers: mock, topics: [events]}\n"
                                     "sink: {type: null}\n"
                                     "handler: ";

/* The handler sections byte 0 chooses among; each line is one setup. */
static const char *const setups[] = {
    "{}",
    "{filter: {field: brand, equals: Acme, case_insensitive: true}}",
    "{filter: {field: a.b, equals: \"42\"}}",
    "{filter: {field: flag, equals: \"true\"}}",
    "{filter: {field: user.id, exists: true}}",
    "{filter: {field: text, contains_any: [acme, \"\xc3\x9cn\xc3\xaf\", \"x y\"], "
    "case_insensitive: true}}",
    "{drop: [user.email, a.b.c], keep: [id, ts, user, text, a, _floodgate], add_metadata: true}",
    "{add_metadata: true, metadata_field: meta, filter: {field: tags, contains_any: [urgent, "
    "\"\xc3\xa9\"]}}",
    "{drop: [x, y.z], filter: {field: id, exists: true}}",
    "{keep: [id, \"\xc3\xbc\", \"\\t\"]}",
    "{mode: raw}",
    "{mode: raw, filter: {contains_any: [ACME, \"}\"], case_insensitive: true}}",
    "{filter: {field: p, equals: \"0.1\"}, drop: [p.q]}",
    "{filter: {field: \"k.\xc3\xbc.\xc3\xbf\", equals: \"\"}}",
    "{add_metadata: true, metadata_field: \"\xc3\xbcn\xc3\xaf \\\"q\\\" \\\\\", "
    "filter: {field: n, equals: \"-0\"}}",
    "{filter: {field: big, equals: \"9223372036854775807\"}, keep: [big, small]}",
};

#define NSETUPS (sizeof(setups) / sizeof(setups[0]))
const unsigned fg_fuzz_handler_nsetups = NSETUPS;

#define NFRAMINGS 3 /* fg_framing_t: none, lines, JSON array */

typedef struct setup {
        fg_config_t *cfg;
        fg_handler_t *h[NFRAMINGS]; /* json mode: only [0] */
        fg_oracle_t *oracle;
        json_t *equals_num; /* filter.equals as a JSON number, or NULL */
} setup_t;

static setup_t built[NSETUPS];

/* ---- jansson's allocations, counted ---- */

/* What jansson holds now and at most since the last reset; signed, since
 * blocks from before the counting began may be freed through it. */
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

static void jansson_count_from_here(void) {
        static bool installed;

        if (!installed) {
                json_set_alloc_funcs(counting_malloc, counting_free);
                installed = true;
        }
        atomic_store(&jansson_peak, atomic_load(&jansson_held));
}

static long long jansson_peak_since(long long base) {
        return atomic_load(&jansson_peak) - base;
}


static setup_t *get_setup(unsigned i, char *why, size_t why_size) {
        setup_t *s = &built[i];
        fg_config_errs_t errs = {0};
        char text[1024], errstr[256] = "";

        if (s->oracle)
                return s;
        snprintf(text, sizeof(text), "%s%s\n", base_yaml, setups[i]);
        s->cfg = fg_config_load_string("setup.yaml", text, strlen(text), &errs);
        if (!s->cfg) {
                fg_fuzz_fail(why, why_size, "setup %u does not load: %s", i, errs.n ? errs.msgs[0] : "?");
                fg_config_errs_clear(&errs);
                return NULL;
        }
        for (int f = 0; f < (s->cfg->handler.mode == FG_HANDLER_RAW ? NFRAMINGS : 1); f++) {
                s->cfg->handler.framing = (fg_framing_t)f;
                s->h[f] = fg_handler_new(&s->cfg->handler, errstr, sizeof(errstr));
                if (!s->h[f]) {
                        fg_fuzz_fail(why, why_size, "setup %u: fg_handler_new: %s", i, errstr);
                        return NULL;
                }
        }
        s->cfg->handler.framing = FG_FRAMING_NONE;
        s->oracle = fg_oracle_new(&s->cfg->handler, errstr, sizeof(errstr));
        if (!s->oracle) {
                fg_fuzz_fail(why, why_size, "setup %u: fg_oracle_new: %s", i, errstr);
                return NULL;
        }
        if (s->cfg->handler.filter.equals) {
                const char *eq = s->cfg->handler.filter.equals;
                json_t *num = strpbrk(eq, " \t\r\n") ? NULL : json_loads(eq, JSON_DECODE_ANY, NULL);

                if (json_is_number(num))
                        s->equals_num = num;
                else
                        json_decref(num);
        }
        return s;
}

/* ---- reference filter ---- */

static unsigned char fold(unsigned char c) {
        return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static bool bytes_equal(const char *a, size_t an, const char *b, size_t bn, bool ci) {
        if (an != bn)
                return false;
        for (size_t i = 0; i < an; i++)
                if ((ci ? fold((unsigned char)a[i]) : (unsigned char)a[i]) !=
                    (ci ? fold((unsigned char)b[i]) : (unsigned char)b[i]))
                        return false;
        return true;
}

/* Naive search, on purpose unlike the handler's fold-then-memmem. */
static bool contains(const char *hay, size_t n, const char *needle, bool ci) {
        size_t k = strlen(needle);

        for (size_t i = 0; k <= n && i <= n - k; i++)
                if (bytes_equal(hay + i, k, needle, k, ci))
                        return true;
        return false;
}

static bool contains_any(const fg_config_t *cfg, const char *hay, size_t n) {
        const fg_strlist_t *kw = &cfg->handler.filter.contains_any;

        for (size_t i = 0; i < kw->n; i++)
                if (contains(hay, n, kw->v[i], cfg->handler.filter.case_insensitive))
                        return true;
        return false;
}

/* The value at dotted @p path (a copy is split), or NULL. */
static json_t *path_get(json_t *root, const char *path) {
        char buf[256], *seg, *save = NULL;
        json_t *cur = root;

        snprintf(buf, sizeof(buf), "%s", path);
        for (seg = strtok_r(buf, ".", &save); seg && cur; seg = strtok_r(NULL, ".", &save))
                cur = json_is_object(cur) ? json_object_get(cur, seg) : NULL;
        return cur;
}

static bool equals_match(const setup_t *s, json_t *v) {
        const char *eq = s->cfg->handler.filter.equals;
        bool ci = s->cfg->handler.filter.case_insensitive;
        json_t *num = s->equals_num;

        switch (json_typeof(v)) {
        case JSON_STRING:
                return bytes_equal(json_string_value(v), json_string_length(v), eq, strlen(eq), ci);
        case JSON_TRUE:
                return bytes_equal("true", 4, eq, strlen(eq), ci);
        case JSON_FALSE:
                return bytes_equal("false", 5, eq, strlen(eq), ci);
        case JSON_INTEGER:
                if (json_is_integer(num))
                        return json_integer_value(v) == json_integer_value(num);
                return num && (double)json_integer_value(v) == json_real_value(num);
        case JSON_REAL:
                if (json_is_integer(num))
                        return json_real_value(v) == (double)json_integer_value(num);
                return num && json_real_value(v) == json_real_value(num);
        default:
                return false;
        }
}

static bool filter_match(const setup_t *s, json_t *root) {
        const fg_config_t *cfg = s->cfg;
        json_t *v;

        if (!cfg->handler.filter.field)
                return true;
        v = path_get(root, cfg->handler.filter.field);
        if (!v)
                return false;
        if (cfg->handler.filter.exists)
                return true;
        if (cfg->handler.filter.equals)
                return equals_match(s, v);
        if (json_is_string(v))
                return contains_any(cfg, json_string_value(v), json_string_length(v));
        if (json_is_array(v)) {
                size_t i;
                json_t *el;

                json_array_foreach(v, i, el) {
                        if (json_is_string(el) &&
                            contains_any(cfg, json_string_value(el), json_string_length(el)))
                                return true;
                }
        }
        return false;
}

/* ---- reference shaping ---- */

static bool shaping(const fg_config_t *cfg) {
        return cfg->handler.add_metadata || cfg->handler.keep.n || cfg->handler.drop.n;
}

static bool in_keep(const fg_config_t *cfg, const char *key, size_t klen) {
        for (size_t i = 0; i < cfg->handler.keep.n; i++)
                if (strlen(cfg->handler.keep.v[i]) == klen && !memcmp(cfg->handler.keep.v[i], key, klen))
                        return true;
        return false;
}

static void drop_path(json_t *root, const char *path) {
        char buf[256], *last = buf, *dot;
        json_t *parent = root;

        snprintf(buf, sizeof(buf), "%s", path);
        while (parent && (dot = strchr(last, '.'))) {
                *dot = '\0';
                parent = json_is_object(parent) ? json_object_get(parent, last) : NULL;
                last = dot + 1;
        }
        if (json_is_object(parent))
                json_object_del(parent, last);
}

static json_t *shape(const fg_config_t *cfg, json_t *root, const fg_event_t *ev) {
        json_t *out = json_deep_copy(root), *v;
        const char *key;
        size_t klen;
        void *next;

        for (size_t i = 0; i < cfg->handler.drop.n; i++)
                drop_path(out, cfg->handler.drop.v[i]);
        if (cfg->handler.keep.n) {
                json_object_keylen_foreach_safe(out, next, key, klen, v) {
                        if (!in_keep(cfg, key, klen))
                                json_object_deln(out, key, klen);
                }
        }
        if (cfg->handler.add_metadata) {
                json_object_del(out, cfg->handler.metadata_field);
                json_object_set_new(
                    out, cfg->handler.metadata_field,
                    json_pack("{s:o, s:I, s:I, s:o, s:I, s:I}", "topic",
                              ev->topic ? json_string(ev->topic) : json_null(), "partition",
                              (json_int_t)ev->partition, "offset", (json_int_t)ev->offset,
                              "kafka_ts", ev->ts_ms < 0 ? json_null() : json_integer(ev->ts_ms),
                              "ingested_ms", (json_int_t)ev->ingest_ms, "processed_ms",
                              (json_int_t)NOW_MS));
        }
        return out;
}

static bool has_real(json_t *v) {
        const char *key;
        size_t i;
        json_t *el;

        switch (json_typeof(v)) {
        case JSON_REAL:
                return true;
        case JSON_OBJECT:
                json_object_foreach(v, key, el) {
                        if (has_real(el))
                                return true;
                }
                return false;
        case JSON_ARRAY:
                json_array_foreach(v, i, el) {
                        if (has_real(el))
                                return true;
                }
                return false;
        default:
                return false;
        }
}

/* Both objects' top-level keys in the same order. */
static bool same_key_order(json_t *a, json_t *b) {
        void *ia = json_object_iter(a), *ib = json_object_iter(b);

        for (; ia && ib; ia = json_object_iter_next(a, ia), ib = json_object_iter_next(b, ib))
                if (json_object_iter_key_len(ia) != json_object_iter_key_len(ib) ||
                    memcmp(json_object_iter_key(ia), json_object_iter_key(ib),
                           json_object_iter_key_len(ia)))
                        return false;
        return !ia && !ib;
}

/* ---- checks ---- */

static bool valid_utf8(const unsigned char *s, size_t n) {
        for (size_t i = 0; i < n;) {
                unsigned char c = s[i];
                size_t k = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
                                      : c >= 0xF0 && c <= 0xF4 ? 4 : 0;

                if (!k || i + k > n)
                        return false;
                for (size_t j = 1; j < k; j++)
                        if ((s[i + j] & 0xC0) != 0x80)
                                return false;
                i += k;
        }
        return true;
}

static int check_reason(const char *reason, char *why, size_t why_size) {
        size_t n;

        if (!reason)
                return fg_fuzz_fail(why, why_size, "INVALID without a reason");
        n = strlen(reason);
        if (n == 0 || n > REASON_MAX)
                return fg_fuzz_fail(why, why_size, "INVALID reason of %zu bytes (1..%d): %s", n,
                            REASON_MAX, reason);
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)reason[i] < 0x20 || reason[i] == 0x7f)
                        return fg_fuzz_fail(why, why_size, "INVALID reason has control byte 0x%02X",
                                    (unsigned char)reason[i]);
        if (!valid_utf8((const unsigned char *)reason, n))
                return fg_fuzz_fail(why, why_size, "INVALID reason is not valid UTF-8: %s", reason);
        return 0;
}

static const char *verdict_name(fg_handle_verdict_t v) {
        return v == FG_HANDLE_SEND ? "SEND" : v == FG_HANDLE_FILTERED ? "FILTERED" : "INVALID";
}

static int check_json_send(const setup_t *s, json_t *root, const fg_event_t *in,
                           const fg_event_t *out, char *why, size_t why_size) {
        const fg_config_t *cfg = s->cfg;
        bool in_breaks = memchr(in->value, '\n', in->len) || memchr(in->value, '\r', in->len);
        json_error_t jerr;
        json_t *got, *want;
        int rc = -1;

        if (memchr(out->value, '\n', out->len) || memchr(out->value, '\r', out->len))
                return fg_fuzz_fail(why, why_size, "SEND output spans lines: %.*s", (int)out->len,
                            (const char *)out->value);
        if (!shaping(cfg) && !in_breaks) {
                if (out->value != in->value || out->len != in->len)
                        return fg_fuzz_fail(why, why_size, "an unshaped single-line event was rewritten");
                return 0;
        }
        got = json_loadb(out->value, out->len, JSON_ALLOW_NUL, &jerr);
        if (!json_is_object(got)) {
                json_decref(got);
                return fg_fuzz_fail(why, why_size, "SEND output is not a JSON object (%s): %.*s",
                            jerr.text, (int)out->len, (const char *)out->value);
        }
        want = shape(cfg, root, in);
        if (!json_equal(got, want)) {
                char *w = json_dumps(want, JSON_COMPACT | JSON_PRESERVE_ORDER);
                fg_fuzz_fail(why, why_size, "SEND output %.*s differs from the reference %s",
                     (int)out->len, (const char *)out->value, w ? w : "?");
                free(w);
                goto out;
        }
        if (!same_key_order(got, want)) {
                fg_fuzz_fail(why, why_size, "SEND output changed the key order: %.*s", (int)out->len,
                     (const char *)out->value);
                goto out;
        }
        if (!has_real(want)) {
                size_t n = json_dumpb(want, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER);
                char *dump = n ? malloc(n) : NULL;

                if (dump && json_dumpb(want, dump, n, JSON_COMPACT | JSON_PRESERVE_ORDER) == n &&
                    (n != out->len || memcmp(dump, out->value, n))) {
                        fg_fuzz_fail(why, why_size, "SEND output %.*s is not jansson's compact %.*s",
                             (int)out->len, (const char *)out->value, (int)n, dump);
                        free(dump);
                        goto out;
                }
                free(dump);
        }
        rc = 0;
out:
        json_decref(got);
        json_decref(want);
        return rc;
}

/* fg_json_check_object against jansson on @p p (see the top). */
static int check_scanner(const void *p, size_t n, const char *what, char *why, size_t why_size) {
        static const char empty[1] = "";
        fg_json_check_t chk;
        fg_json_scan_t got = fg_json_check_object(p, n, &chk);
        json_t *root = json_loadb(n ? p : empty, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        bool want = json_is_object(root);

        json_decref(root);
        if ((got == FG_JSON_SCAN_OBJECT) != want)
                return fg_fuzz_fail(why, why_size, "json_scan on the %s: %s (pos %zu), jansson: %s", what,
                            got == FG_JSON_SCAN_OBJECT ? "OBJECT" : "INVALID", chk.pos,
                            want ? "an object" : "refused or not an object");
        if (got == FG_JSON_SCAN_OBJECT &&
            chk.has_raw_newline != (memchr(p, '\n', n) || memchr(p, '\r', n)))
                return fg_fuzz_fail(why, why_size, "json_scan on the %s: has_raw_newline %d", what,
                            chk.has_raw_newline);
        return 0;
}

/* The scanner's own reason, which the handler gives instead of jansson's
 * for a payload too big for jansson to diagnose within the bound. */
static bool scan_reason(const char *reason) {
        return reason && (!strncmp(reason, "not JSON: invalid input at byte ", 32) ||
                          !strncmp(reason, "not JSON: unexpected end at byte ", 33));
}

/* The handler's answer against the oracle's (the DOM handler of before). */
static int check_oracle(const setup_t *s, const fg_event_t *in, const fg_event_t *out,
                        fg_handle_verdict_t verdict, const char *reason, char *why,
                        size_t why_size) {
        fg_handle_verdict_t want;
        char *oout, *oreason;
        size_t olen;
        int rc = -1;

        want = fg_oracle_apply(s->oracle, in, NOW_MS, &oout, &olen, &oreason);
        if (s->cfg->handler.mode == FG_HANDLER_RAW && verdict == FG_HANDLE_INVALID &&
            want == FG_HANDLE_SEND) {
                rc = 0; /* the framing refused it: checked against the reference */
                goto out;
        }
        if (verdict != want) {
                fg_fuzz_fail(why, why_size, "%s (%s), the oracle says %s (%s)", verdict_name(verdict),
                             reason ? reason : "no reason", verdict_name(want),
                             oreason ? oreason : "no reason");
                goto out;
        }
        if (verdict == FG_HANDLE_INVALID && strcmp(reason, oreason) &&
            !(scan_reason(reason) && in->len > 1024)) {
                fg_fuzz_fail(why, why_size, "reason \"%s\", the oracle's \"%s\"", reason, oreason);
                goto out;
        }
        if (verdict == FG_HANDLE_SEND && !oout &&
            (out->value != in->value || out->len != in->len)) {
                fg_fuzz_fail(why, why_size, "rewrote what the oracle passes unchanged: %.*s",
                             (int)out->len, (const char *)out->value);
                goto out;
        }
        if (verdict == FG_HANDLE_SEND && oout &&
            (out->len != olen || memcmp(out->value, oout, olen))) {
                fg_fuzz_fail(why, why_size, "output %.*s, the oracle's %.*s", (int)out->len,
                             (const char *)out->value, (int)olen, oout);
                goto out;
        }
        rc = 0;
out:
        free(oout);
        free(oreason);
        return rc;
}

/* One apply with every check; *@p out gets the event as the handler left
 * it. @p framing picks the raw-mode handler; @p fresh: @p ctx is new, so
 * its peak is this apply's memory. */
static int apply_checked(const setup_t *s, fg_framing_t framing, fg_handler_ctx_t *ctx,
                         const fg_event_t *in, fg_event_t *out, fg_handle_verdict_t *verdict,
                         bool fresh, char *why, size_t why_size) {
        const fg_config_t *cfg = s->cfg;
        const char *reason = NULL;
        fg_handle_verdict_t want;
        json_t *root = NULL;
        long long jbase = atomic_load(&jansson_held), jpeak;
        int rc = -1;

        *out = *in;
        jansson_count_from_here();
        *verdict = fg_handler_apply(s->h[framing], ctx, out, NOW_MS, &reason);
        jpeak = jansson_peak_since(jbase);
        if (fresh && fg_handler_ctx_peak(ctx) + (size_t)(jpeak > 0 ? jpeak : 0) >
                         FG_HANDLER_EVENT_BOUND(in->len))
                return fg_fuzz_fail(why, why_size,
                                    "%zu-byte event: the ctx held %zu bytes and jansson %lld, "
                                    "over the bound of %zu",
                                    in->len, fg_handler_ctx_peak(ctx), jpeak,
                                    FG_HANDLER_EVENT_BOUND(in->len));
        if (check_oracle(s, in, out, *verdict, reason, why, why_size) < 0)
                return -1;

        if (cfg->handler.mode == FG_HANDLER_RAW) {
                bool breaks = in->len && (memchr(in->value, '\n', in->len) ||
                                          memchr(in->value, '\r', in->len));

                want = !cfg->handler.filter.contains_any.n ||
                               contains_any(cfg, in->value, in->len)
                           ? FG_HANDLE_SEND
                           : FG_HANDLE_FILTERED;
                if (want == FG_HANDLE_SEND && framing == FG_FRAMING_LINES && breaks)
                        want = FG_HANDLE_INVALID;
                if (want == FG_HANDLE_SEND && framing == FG_FRAMING_JSON_ARRAY) {
                        static const char empty[1] = "";
                        json_t *v = json_loadb(in->len ? in->value : empty, in->len,
                                               JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

                        if (!v)
                                want = FG_HANDLE_INVALID;
                        json_decref(v);
                }
                if (*verdict != want)
                        return fg_fuzz_fail(why, why_size, "raw, framing %d: %s, the reference says %s",
                                            (int)framing, verdict_name(*verdict), verdict_name(want));
                if (*verdict == FG_HANDLE_INVALID)
                        return check_reason(reason, why, why_size);
                if (out->value != in->value || out->len != in->len)
                        return fg_fuzz_fail(why, why_size, "raw mode rewrote the payload");
                return 0;
        }

        if (in->len)
                root = json_loadb(in->value, in->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (!json_is_object(root))
                want = FG_HANDLE_INVALID;
        else
                want = filter_match(s, root) ? FG_HANDLE_SEND : FG_HANDLE_FILTERED;
        if (*verdict != want) {
                fg_fuzz_fail(why, why_size, "json: %s (%s), the reference says %s",
                     verdict_name(*verdict), reason ? reason : "no reason", verdict_name(want));
                goto out;
        }
        if (*verdict == FG_HANDLE_INVALID && check_reason(reason, why, why_size) < 0)
                goto out;
        if (*verdict == FG_HANDLE_SEND &&
            check_json_send(s, root, in, out, why, why_size) < 0)
                goto out;
        rc = 0;
out:
        json_decref(root);
        return rc;
}

int fg_fuzz_handler(const uint8_t *data, size_t size, char *why, size_t why_size) {
        unsigned pick = size > 0 ? data[0] % NSETUPS : 0;
        unsigned flags = size > 1 ? data[1] : 0;
        const setup_t *s = get_setup(pick, why, why_size);
        fg_framing_t framing = FG_FRAMING_NONE;
        fg_handler_ctx_t *ctx = NULL;
        fg_handle_verdict_t v1, v2, v3;
        fg_event_t in, o1, o2, o3;
        char *saved = NULL;
        int rc = -1;

        if (!s)
                return -1;
        if (check_scanner(data, size, "whole input", why, why_size) < 0)
                return -1;
        in = (fg_event_t){
            .topic = flags & 2 ? NULL : "events",
            .partition = (int32_t)(flags >> 2),
            .offset = (int64_t)size * 1000003,
            .ts_ms = flags & 1 ? -1 : 1700000000000LL,
            .ingest_ms = 1700000000100LL,
            .value = size > 2 ? data + 2 : data + size,
            .len = size > 2 ? size - 2 : 0,
        };
        if (check_scanner(in.value, in.len, "payload", why, why_size) < 0)
                return -1;
        if (s->cfg->handler.mode == FG_HANDLER_RAW)
                framing = (fg_framing_t)((flags >> 2) % NFRAMINGS);
        ctx = fg_handler_ctx_new(s->h[framing]);
        if (!ctx)
                return fg_fuzz_fail(why, why_size, "fg_handler_ctx_new failed");

        if (apply_checked(s, framing, ctx, &in, &o1, &v1, true, why, why_size) < 0)
                goto out;
        saved = malloc(o1.len + 1);
        if (!saved) {
                fg_fuzz_fail(why, why_size, "out of memory");
                goto out;
        }
        memcpy(saved, o1.value, o1.len);

        /* Again in the same ctx: same answer, and the first output stays. */
        if (apply_checked(s, framing, ctx, &in, &o2, &v2, false, why, why_size) < 0)
                goto out;
        if (v2 != v1 || o2.len != o1.len || memcmp(o2.value, saved, o1.len)) {
                fg_fuzz_fail(why, why_size, "a second apply of the same event differs");
                goto out;
        }
        if (memcmp(o1.value, saved, o1.len)) {
                fg_fuzz_fail(why, why_size, "a later apply overwrote an earlier output");
                goto out;
        }

        /* After a reset the ctx reuses its arena. */
        fg_handler_ctx_reset(ctx);
        if (apply_checked(s, framing, ctx, &in, &o3, &v3, false, why, why_size) < 0)
                goto out;
        if (v3 != v1 || o3.len != o1.len || memcmp(o3.value, saved, o1.len)) {
                fg_fuzz_fail(why, why_size, "an apply after fg_handler_ctx_reset differs");
                goto out;
        }
        rc = 0;
out:
        free(saved);
        fg_handler_ctx_destroy(ctx);
        return rc;
}
