/*
 * strlist: the string list and string map of configuration values
 * (kafka.topics, sink.headers, kafka.properties, ...).
 *
 * Threading: plain data; read-only once the config that holds it is loaded.
 * Ownership: the config loader allocates and frees every string (see
 * config/config.h); these are views for the modules that read them.
 */
#ifndef FG_STRLIST_H
#define FG_STRLIST_H

#include <stddef.h>

typedef struct fg_strlist {
        char **v;
        size_t n;
} fg_strlist_t;

typedef struct fg_strmap {
        char **keys;
        char **values;
        size_t n;
} fg_strmap_t;

/* The value of @p key in @p map; NULL when absent (or either is NULL). */
const char *fg_strmap_get(const fg_strmap_t *map, const char *key);

#endif
