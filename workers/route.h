/*
 * route: routing events to sinks (routes: in the configuration) — an
 * ordered list of {name, filter, sink, breaker}; an event goes to the first
 * route whose filter matches, else to the top-level sink, else it counts
 * as filtered.
 *
 * Threading: a fg_route_cfg_t is configuration: immutable once loaded.
 * Ownership: strings, lists and maps inside belong to the config.
 */
#ifndef FG_ROUTE_H
#define FG_ROUTE_H

#include <stddef.h>

#include "breaker/breaker.h"
#include "handler/handler.h"
#include "sinks/sink.h"

/* One element of routes. */
typedef struct fg_route_cfg {
        char *name;             /* NULL: "route<N>", 1-based, in messages and labels */
        fg_filter_cfg_t filter; /* same keys as handler.filter */
        fg_sink_cfg_t sink;     /* same keys as sink, fallback included */
        fg_brk_cfg_t breaker;   /* starts from the top-level breaker */
} fg_route_cfg_t;

/* routes: in file order. Same layout as every list of sections. */
typedef struct fg_route_list {
        fg_route_cfg_t *v;
        size_t n;
} fg_route_list_t;

#endif
