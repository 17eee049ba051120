/*
 * strlist: see strlist.h.
 */
#include "common/strlist.h"

#include <string.h>

/* Any thread. Linear: maps hold a handful of entries. */
const char *fg_strmap_get(const fg_strmap_t *map, const char *key) {
        if (!map || !key)
                return NULL;
        for (size_t i = 0; i < map->n; i++)
                if (!strcmp(map->keys[i], key))
                        return map->values[i];
        return NULL;
}
