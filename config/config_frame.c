/*
 * config_frame: nested sections — a copy of a section given under another
 * key (sink.fallback) or inside a list element (a route's filter, sink and
 * breaker) is read, defaulted, freed and compared with the same table rows
 * as the section itself, re-based onto the copy (see fg_config_frame_t in
 * config_int.h). The root config is the frame with every row.
 *
 * Threading: any thread; frames describe memory of one config.
 * Ownership: a SUB field owns the copy it points to; a LIST field owns its
 * array of elements and everything inside them. Freeing goes through the
 * rows, so a new row needs no change here.
 */
#include "config/config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Any thread. */
bool fg_config_frame_has(const fg_config_frame_t *fr, const fg_opt_t *opt) {
        size_t plen = strlen(fr->rows);

        if (opt->type == FG_OPT_LIST)
                return !plen;
        if (opt->type == FG_OPT_SUB && !fr->nested_subs)
                return false;
        return !plen || (!strncmp(opt->name, fr->rows, plen) && opt->name[plen] == '.');
}

/* Any thread. */
const char *fg_config_frame_name(const fg_config_frame_t *fr, const fg_opt_t *opt, char *buf,
                                 size_t size) {
        size_t plen = strlen(fr->rows);

        if (!plen)
                return opt->name;
        snprintf(buf, size, "%s%s", fr->shown, opt->name + plen);
        return buf;
}

/* Any thread. */
fg_config_frame_t fg_config_part_frame(const fg_opt_part_t *part, void *elem, const char *shown) {
        return (fg_config_frame_t){
            .rows = part->rows,
            .shown = shown,
            .base = (char *)elem + part->elem_off,
            .base_off = part->base_off,
            /* A route's sink may have a fallback; a fallback has none. */
            .nested_subs = true,
        };
}

/* Any thread. */
fg_config_frame_t fg_config_sub_frame(const fg_opt_t *opt, void *sect, const char *shown) {
        return (fg_config_frame_t){
            .rows = opt->sub, .shown = shown, .base = sect, .base_off = opt->sub_base,
        };
}

/* Any thread. Strings are duplicated so the config owns all of them. */
int fg_config_frame_defaults(const fg_config_frame_t *fr) {
        for (size_t i = 0; i < fg_config_nopts; i++) {
                const fg_opt_t *opt = &fg_config_opts[i];
                void *field;

                if (!fg_config_frame_has(fr, opt))
                        continue;
                field = fg_config_frame_field(fr, opt);
                switch (opt->type) {
                case FG_OPT_STRING:
                        if (opt->def_str && !(*(char **)field = strdup(opt->def_str)))
                                return -1;
                        break;
                case FG_OPT_INT:
                case FG_OPT_DURATION:
                case FG_OPT_SIZE:
                        *(int64_t *)field = opt->def;
                        break;
                case FG_OPT_BOOL:
                        *(bool *)field = opt->def != 0;
                        break;
                case FG_OPT_SECTION:
                        *(bool *)field = false;
                        break;
                case FG_OPT_RATIO:
                        *(double *)field = opt->def_ratio;
                        break;
                case FG_OPT_ENUM:
                        *(int *)field = (int)opt->def;
                        break;
                case FG_OPT_STRLIST:
                case FG_OPT_STRMAP:
                case FG_OPT_SUB:
                case FG_OPT_LIST:
                        break; /* zeroed by the caller: empty, absent */
                }
        }
        return 0;
}

static void free_list_elements(const fg_opt_t *opt, fg_config_list_t *list) {
        char *elems = list->v;

        for (size_t k = 0; k < list->n; k++) {
                void *elem = elems + k * opt->sub_size;
                for (const fg_opt_part_t *part = opt->parts; part->key; part++) {
                        if (!part->rows) {
                                char **s = (char **)((char *)elem + part->elem_off);
                                free(*s);
                                *s = NULL;
                        } else {
                                fg_config_frame_t pf = fg_config_part_frame(part, elem, "");
                                fg_config_frame_free(&pf);
                        }
                }
        }
        free(list->v);
        memset(list, 0, sizeof(*list));
}

/* Any thread, by the config's owner. */
void fg_config_frame_free(const fg_config_frame_t *fr) {
        for (size_t i = 0; i < fg_config_nopts; i++) {
                const fg_opt_t *opt = &fg_config_opts[i];
                void *field;

                if (!fg_config_frame_has(fr, opt))
                        continue;
                field = fg_config_frame_field(fr, opt);
                if (opt->type == FG_OPT_STRING) {
                        free(*(char **)field);
                        *(char **)field = NULL;
                } else if (opt->type == FG_OPT_STRLIST) {
                        fg_strlist_t *list = field;
                        for (size_t k = 0; k < list->n; k++)
                                free(list->v[k]);
                        free(list->v);
                        memset(list, 0, sizeof(*list));
                } else if (opt->type == FG_OPT_STRMAP) {
                        fg_strmap_t *map = field;
                        for (size_t k = 0; k < map->n; k++) {
                                free(map->keys[k]);
                                free(map->values[k]);
                        }
                        free(map->keys);
                        free(map->values);
                        memset(map, 0, sizeof(*map));
                } else if (opt->type == FG_OPT_SUB) {
                        void **copy = field;
                        if (*copy) {
                                fg_config_frame_t sf = fg_config_sub_frame(opt, *copy, "");
                                fg_config_frame_free(&sf);
                                free(*copy);
                                *copy = NULL;
                        }
                } else if (opt->type == FG_OPT_LIST) {
                        free_list_elements(opt, field);
                }
        }
}
