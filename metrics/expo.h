/*
 * expo: rendering metrics for people and scrapers — Prometheus text
 * exposition format 0.0.4 and JSON (jansson) building blocks.
 *
 * Threading: pure functions over caller-owned data, any thread (the main
 * thread in practice).
 * Ownership: appends to the caller's fg_buf_t; JSON functions return a new
 * reference the caller owns.
 */
#ifndef FG_EXPO_H
#define FG_EXPO_H

#include <jansson.h>

#include "common/buf.h"
#include "metrics/hist.h"

/* "# HELP name help\n# TYPE name type\n"; help is escaped. */
void fg_prom_header(fg_buf_t *b, const char *name, const char *type, const char *help);
/* "name{labels} value\n"; @p labels is NULL or already-rendered
 * 'k="v",k2="v2"' (build label values with fg_prom_label()). Integers print
 * without exponent; NaN/Inf as Prometheus spells them. */
void fg_prom_sample(fg_buf_t *b, const char *name, const char *labels, double value);
/* Appends k="escaped v" (with a leading comma when b is not empty). */
void fg_prom_label(fg_buf_t *labels, const char *key, const char *value);
/* A whole histogram in seconds: cumulative _bucket lines at the 1-2.5-5
 * series from 1 µs to 100 s plus +Inf, then _sum and _count. Emits no
 * header (call fg_prom_header with "histogram" first, once per family). */
void fg_prom_histogram(fg_buf_t *b, const char *name, const char *labels, const fg_hist_t *h);

/* {"count":N,"sum_ms":..,"p50_ms":..,"p90_ms":..,"p99_ms":..,"p999_ms":..,"max_ms":..};
 * the quantiles and max are null when count is 0. */
json_t *fg_hist_to_json(const fg_hist_t *h);

#endif
