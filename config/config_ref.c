/*
 * config_ref: the reference documentation of every option, generated from
 * the option table, and the shared value/type wording used by messages.
 *
 * DESIGN: fg_config_print_reference() writes YAML that floodgate itself can
 * read: sections as mappings, each option preceded by a comment line
 * "# <dotted.name> (<type, bounds, flags>): <help>" and followed by its
 * default. Options without a default, and the whole of an optional section,
 * are written commented out, so the output only lacks the required values
 * (a test loads it and expects exactly the "missing required key" errors).
 *
 * Threading: any thread.
 * Ownership: callers own every buffer; nothing is allocated.
 */
#include "config/config_int.h"

#include "common/units.h"

#include <stdio.h>
#include <string.h>

/* Any thread. */
const char *fg_config_type_noun(const fg_opt_t *opt, char *buf, size_t size) {
        size_t off;

        switch (opt->type) {
        case FG_OPT_STRING:
                return "a string";
        case FG_OPT_INT:
                return opt->flags & FG_OPT_F_OCTAL ? "an octal file mode (like 0640)"
                                                   : "an integer";
        case FG_OPT_BOOL:
                return "a boolean (true or false)";
        case FG_OPT_RATIO:
                return "a ratio (like 0.9 or 90%)";
        case FG_OPT_DURATION:
                return "a duration";
        case FG_OPT_SIZE:
                return "a size";
        case FG_OPT_STRLIST:
                return "a list";
        case FG_OPT_STRMAP:
        case FG_OPT_SECTION:
        case FG_OPT_SUB:
                return "a mapping";
        case FG_OPT_LIST:
                return "a list of mappings";
        case FG_OPT_ENUM:
                off = (size_t)snprintf(buf, size, "one of:");
                for (const fg_opt_enum_t *e = opt->enums; e->name && off < size; e++)
                        off += (size_t)snprintf(buf + off, size - off, "%s %s",
                                                e == opt->enums ? "" : ",", e->name);
                return buf;
        }
        return "a value";
}

/* YAML double-quoted string. */
static size_t put_quoted(const char *s, char *buf, size_t size) {
        size_t off = 0;
        if (size < 3)
                return 0;
        buf[off++] = '"';
        for (; *s && off + 6 < size; s++) {
                unsigned char c = (unsigned char)*s;
                if (c == '"' || c == '\\')
                        off += (size_t)snprintf(buf + off, size - off, "\\%c", c);
                else if (c < 0x20 || c == 0x7f)
                        off += (size_t)snprintf(buf + off, size - off, "\\x%02x", c);
                else
                        buf[off++] = (char)c;
        }
        buf[off++] = '"';
        buf[off] = '\0';
        return off;
}

/* Any thread. */
const char *fg_config_format_value(const fg_config_t *cfg, const fg_opt_t *opt, char *buf,
                                   size_t size) {
        const void *field = fg_config_field(cfg, opt);

        if (!size)
                return buf;
        buf[0] = '\0';
        switch (opt->type) {
        case FG_OPT_STRING:
                if (*(char *const *)field)
                        put_quoted(*(char *const *)field, buf, size);
                break;
        case FG_OPT_INT:
                if (opt->flags & FG_OPT_F_OCTAL)
                        snprintf(buf, size, "\"%04llo\"",
                                 (unsigned long long)*(const int64_t *)field);
                else
                        snprintf(buf, size, "%lld", (long long)*(const int64_t *)field);
                break;
        case FG_OPT_BOOL:
        case FG_OPT_SECTION:
                snprintf(buf, size, "%s", *(const bool *)field ? "true" : "false");
                break;
        case FG_OPT_RATIO:
                snprintf(buf, size, "%g", *(const double *)field);
                break;
        case FG_OPT_DURATION:
                fg_format_duration(*(const int64_t *)field, buf, size);
                break;
        case FG_OPT_SIZE:
                fg_format_size(*(const int64_t *)field, buf, size);
                break;
        case FG_OPT_ENUM:
                for (const fg_opt_enum_t *e = opt->enums; e->name; e++)
                        if (e->value == *(const int *)field)
                                snprintf(buf, size, "%s", e->name);
                break;
        case FG_OPT_STRLIST: {
                const fg_strlist_t *list = field;
                size_t off = (size_t)snprintf(buf, size, "[");
                for (size_t i = 0; i < list->n && off + 8 < size; i++) {
                        off += (size_t)snprintf(buf + off, size - off, "%s", i ? ", " : "");
                        off += put_quoted(list->v[i], buf + off, size - off);
                }
                snprintf(buf + off, size - off, "]");
                break;
        }
        case FG_OPT_STRMAP: {
                const fg_strmap_t *map = field;
                size_t off = (size_t)snprintf(buf, size, "{");
                for (size_t i = 0; i < map->n && off + 12 < size; i++) {
                        off += (size_t)snprintf(buf + off, size - off, "%s", i ? ", " : "");
                        off += put_quoted(map->keys[i], buf + off, size - off);
                        off += (size_t)snprintf(buf + off, size - off, ": ");
                        off += put_quoted(map->values[i], buf + off, size - off);
                }
                snprintf(buf + off, size - off, "}");
                break;
        }
        case FG_OPT_SUB:
        case FG_OPT_LIST:
                break; /* written out in full only by their own keys */
        }
        return buf;
}

/* "integer 1..10000000", "duration 0s..10m", "one of stdout, file, null". */
static const char *describe_opt(const fg_opt_t *opt, char *buf, size_t size) {
        char lo[32], hi[32];
        size_t off = 0;

        switch (opt->type) {
        case FG_OPT_INT:
                if (opt->flags & FG_OPT_F_OCTAL)
                        off = (size_t)snprintf(buf, size, "octal file mode %04llo..%04llo",
                                               (unsigned long long)opt->min,
                                               (unsigned long long)opt->max);
                else
                        off = (size_t)snprintf(buf, size, "integer %lld..%lld",
                                               (long long)opt->min, (long long)opt->max);
                break;
        case FG_OPT_DURATION:
                off = (size_t)snprintf(buf, size, "duration %s..%s",
                                       fg_format_duration(opt->min, lo, sizeof(lo)),
                                       fg_format_duration(opt->max, hi, sizeof(hi)));
                break;
        case FG_OPT_SIZE:
                off = (size_t)snprintf(buf, size, "size %s..%s",
                                       fg_format_size(opt->min, lo, sizeof(lo)),
                                       fg_format_size(opt->max, hi, sizeof(hi)));
                break;
        case FG_OPT_RATIO:
                off = (size_t)snprintf(buf, size, "ratio %s %g and %s %g",
                                       opt->flags & FG_OPT_F_MIN_EXCL ? ">" : ">=", opt->rmin,
                                       opt->flags & FG_OPT_F_MAX_EXCL ? "<" : "<=", opt->rmax);
                break;
        case FG_OPT_ENUM:
                for (const fg_opt_enum_t *e = opt->enums; e->name && off < size; e++)
                        off += (size_t)snprintf(buf + off, size - off, "%s%s",
                                                e == opt->enums ? "" : " | ", e->name);
                break;
        case FG_OPT_STRING:
                off = (size_t)snprintf(buf, size, "string");
                break;
        case FG_OPT_BOOL:
                off = (size_t)snprintf(buf, size, "boolean");
                break;
        case FG_OPT_STRLIST:
                off = (size_t)snprintf(buf, size, "list of strings");
                break;
        case FG_OPT_STRMAP:
                off = (size_t)snprintf(buf, size, "mapping of strings");
                break;
        case FG_OPT_SECTION:
                off = (size_t)snprintf(buf, size, "optional section");
                break;
        case FG_OPT_SUB:
                off = (size_t)snprintf(buf, size, "optional section with the keys of %s", opt->sub);
                break;
        case FG_OPT_LIST:
                off = (size_t)snprintf(buf, size, "list of mappings with the keys");
                for (const fg_opt_part_t *p = opt->parts; p->key && off < size; p++)
                        off += (size_t)snprintf(buf + off, size - off, "%s %s%s%s%s",
                                                p == opt->parts ? "" : ",", p->key,
                                                p->rows ? " (as " : "", p->rows ? p->rows : "",
                                                p->rows ? ")" : "");
                break;
        }
        if (off < size && (opt->flags & FG_OPT_F_REQUIRED))
                off += (size_t)snprintf(buf + off, size - off, ", required");
        if (off < size && (opt->flags & FG_OPT_F_NONEMPTY))
                off += (size_t)snprintf(buf + off, size - off, ", not empty");
        if (off < size && (opt->flags & FG_OPT_F_UNIQUE))
                off += (size_t)snprintf(buf + off, size - off, ", no duplicates");
        if (off < size && (opt->flags & FG_OPT_F_LIVE))
                snprintf(buf + off, size - off, ", reloadable");
        return buf;
}

/* Number of leading dotted components @p a and @p b share. */
static size_t common_depth(const char *a, const char *b) {
        size_t depth = 0, i = 0;
        for (;; i++) {
                if (a[i] != b[i])
                        return depth;
                if (!a[i])
                        return depth;
                if (a[i] == '.')
                        depth++;
        }
}

static size_t count_dots(const char *s) {
        size_t n = 0;
        for (; *s; s++)
                n += *s == '.';
        return n;
}

/* The @p k-th dotted component of @p name (0-based), into @p buf. */
static const char *component(const char *name, size_t k, char *buf, size_t size) {
        const char *p = name, *dot;
        for (; k && (dot = strchr(p, '.')); k--)
                p = dot + 1;
        dot = strchr(p, '.');
        snprintf(buf, size, "%.*s", (int)(dot ? (size_t)(dot - p) : strlen(p)), p);
        return buf;
}

/* Required values, strings without a default and lists that must not be
 * empty when given are shown commented out. */
static bool shows_no_value(const fg_opt_t *opt) {
        return (opt->flags & FG_OPT_F_REQUIRED) || opt->type == FG_OPT_SUB ||
               opt->type == FG_OPT_LIST || (opt->type == FG_OPT_STRING && !opt->def_str) ||
               (opt->type == FG_OPT_STRLIST && (opt->flags & FG_OPT_F_NONEMPTY));
}

/* Whether any option under the first @p len bytes of @p name (a section
 * path) shows a value: a section without one is written commented out,
 * since an empty mapping is not a valid section. */
static bool section_shows_values(const char *name, size_t len) {
        for (size_t i = 0; i < fg_config_nopts; i++)
                if (!strncmp(fg_config_opts[i].name, name, len) &&
                    fg_config_opts[i].name[len] == '.' && !shows_no_value(&fg_config_opts[i]))
                        return true;
        return false;
}

/* Any thread. */
void fg_config_print_reference(FILE *fp) {
        fg_config_t defaults = {0};
        char open_path[160] = ""; /* sections of this dotted path are open */
        const char *commented = NULL; /* optional section being written commented out */

        /* On OOM a string default prints as absent; the output is still YAML. */
        (void)fg_config_apply_defaults(&defaults);
        fprintf(fp,
                "# floodgate configuration reference: every option, its type, bounds and\n"
                "# default. Generated from the option table (config/config_table.c).\n"
                "#\n"
                "# Durations take a unit: 250ms, 5s, 1.5m, 1h (ns, us, ms, s, m, h).\n"
                "# Sizes: 120 (bytes), 64KiB, 32MiB, 1GiB (powers of 1024) or 64kB, 32MB, 1GB\n"
                "# (powers of 1000). Ratios: 0.9 or 90%%. Booleans: true/false, yes/no, on/off.\n"
                "# Any value may use ${VAR} or ${VAR:-default} from the environment; $$ is a\n"
                "# literal '$'. Options marked reloadable change on SIGHUP without a restart.\n");

        for (size_t i = 0; i < fg_config_nopts; i++) {
                const fg_opt_t *opt = &fg_config_opts[i];
                size_t depth = count_dots(opt->name), shared = common_depth(open_path, opt->name);
                bool no_default = shows_no_value(opt);
                char comp[128], desc[256], value[512];
                const char *cpfx;
                int ind;

                if (commented && (strncmp(opt->name, commented, strlen(commented)) ||
                                  opt->name[strlen(commented)] != '.'))
                        commented = NULL;
                if (opt->type == FG_OPT_SECTION)
                        commented = opt->name;
                cpfx = commented ? "# " : "";
                if (shared > depth)
                        shared = depth;
                if (shared == 0)
                        fputc('\n', fp);
                /* Open the sections this option needs beyond the shared ones. */
                for (size_t k = shared; k < depth; k++) {
                        const char *end = opt->name;
                        for (size_t d = 0; d <= k; d++)
                                end = strchr(end, '.') + 1;
                        fprintf(fp, "%s%*s%s:\n",
                                section_shows_values(opt->name, (size_t)(end - 1 - opt->name))
                                    ? cpfx
                                    : "# ",
                                (int)(2 * k), "", component(opt->name, k, comp, sizeof(comp)));
                }
                ind = (int)(2 * depth);
                fprintf(fp, "%s%*s# %s (%s): %s\n", opt->type == FG_OPT_SECTION ? "" : cpfx, ind,
                        "", opt->name, describe_opt(opt, desc, sizeof(desc)), opt->help);
                component(opt->name, depth, comp, sizeof(comp));
                if (opt->type == FG_OPT_SECTION)
                        fprintf(fp, "# %*s%s:\n", ind, "", comp);
                else if (no_default)
                        fprintf(fp, "%s%*s# %s:\n", cpfx, ind, "", comp);
                else
                        fprintf(fp, "%s%*s%s: %s\n", cpfx, ind, "", comp,
                                fg_config_format_value(&defaults, opt, value, sizeof(value)));
                /* A section row opens its own key for the rows that follow. */
                snprintf(open_path, sizeof(open_path), "%s%s", opt->name,
                         opt->type == FG_OPT_SECTION ? ".-" : "");
        }
        fg_config_free_fields(&defaults);
}
