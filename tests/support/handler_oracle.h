/*
 * handler_oracle: the event handler as it was before it stopped building a
 * DOM (issue 17) — jansson's json_loadb, a filter over json_t values,
 * shaping by deleting from the DOM, and the compact writer — kept as the
 * reference the DOM-free handler (handler/handler.h) must agree with, byte
 * for byte: check_handler compares the two on generated inputs and the
 * handler fuzz target on every input it tries.
 *
 * It answers what fg_handler_apply answers for a handler built from the
 * same fg_handler_cfg_t, except for two things the DOM-free handler does on
 * purpose: its reason for an invalid payload too large for jansson to
 * diagnose within the per-event memory bound, and raw mode's framing
 * checks (fg_handler_cfg_t.framing); the oracle ignores framing.
 *
 * Threading: an oracle is immutable after fg_oracle_new; apply it from any
 * thread.
 * Ownership: fg_oracle_apply's output and reason are malloc'd for the
 * caller.
 */
#ifndef FG_TEST_HANDLER_ORACLE_H
#define FG_TEST_HANDLER_ORACLE_H

#include <stddef.h>
#include <stdint.h>

#include "handler/handler.h"

typedef struct fg_oracle fg_oracle_t;

/* NULL with errstr when the old handler refused @p hc. */
fg_oracle_t *fg_oracle_new(const fg_handler_cfg_t *hc, char *errstr, size_t errstr_size);
void fg_oracle_destroy(fg_oracle_t *o);

/* The old fg_handler_apply on @p ev. On SEND, *out is the rewritten
 * payload (caller frees) or NULL when the original bytes go on unchanged;
 * on INVALID, *reason is the reason (caller frees); both NULL otherwise. */
fg_handle_verdict_t fg_oracle_apply(const fg_oracle_t *o, const fg_event_t *ev, int64_t now_ms,
                                    char **out, size_t *out_len, char **reason);

#endif
