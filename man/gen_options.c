/*
 * gen_options: writes the OPTIONS part of floodgate.yaml(5) from the option
 * table (config/config_table.c), so the manual cannot drift from what the
 * loader accepts.
 *
 *   gen_options man/floodgate.yaml.5 > new && mv new man/floodgate.yaml.5
 *
 * (`make man`). It copies the page to standard output with everything
 * between the BEGIN and END marker lines replaced by one roff paragraph per
 * option: name, type and bounds, default, help, and whether it changes on
 * reload. tests/check_systemd.c runs it and fails when the checked-in page
 * differs from its output.
 *
 * Threading: single-threaded tool.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_int.h"
#include "common/units.h"

#define BEGIN_MARK ".\\\" BEGIN GENERATED OPTIONS"
#define END_MARK   ".\\\" END GENERATED OPTIONS"

/* Text for a roff body line: backslashes escaped, a leading control
 * character neutralised. */
static void put_text(FILE *out, const char *s) {
        if (*s == '.' || *s == '\'')
                fputs("\\&", out);
        for (; *s; s++) {
                if (*s == '\\')
                        fputs("\\e", out);
                else
                        fputc(*s, out);
        }
}

/* "integer 1..10000000", "duration 0s..10m", "one of json | raw". */
static void put_type(FILE *out, const fg_opt_t *opt) {
        char lo[32], hi[32];

        switch (opt->type) {
        case FG_OPT_INT:
                if (opt->flags & FG_OPT_F_OCTAL)
                        fprintf(out, "octal file mode %04llo..%04llo",
                                (unsigned long long)opt->min, (unsigned long long)opt->max);
                else
                        fprintf(out, "integer %lld..%lld", (long long)opt->min,
                                (long long)opt->max);
                break;
        case FG_OPT_DURATION:
                fprintf(out, "duration %s..%s", fg_format_duration(opt->min, lo, sizeof(lo)),
                        fg_format_duration(opt->max, hi, sizeof(hi)));
                break;
        case FG_OPT_SIZE:
                fprintf(out, "size %s..%s", fg_format_size(opt->min, lo, sizeof(lo)),
                        fg_format_size(opt->max, hi, sizeof(hi)));
                break;
        case FG_OPT_RATIO:
                fprintf(out, "ratio %s %g and %s %g", opt->flags & FG_OPT_F_MIN_EXCL ? ">" : ">=",
                        opt->rmin, opt->flags & FG_OPT_F_MAX_EXCL ? "<" : "<=", opt->rmax);
                break;
        case FG_OPT_ENUM:
                fputs("one of ", out);
                for (const fg_opt_enum_t *e = opt->enums; e->name; e++)
                        fprintf(out, "%s\\fB%s\\fR", e == opt->enums ? "" : ", ", e->name);
                break;
        case FG_OPT_STRING:
                fputs("string", out);
                break;
        case FG_OPT_BOOL:
                fputs("boolean", out);
                break;
        case FG_OPT_STRLIST:
                fputs("list of strings", out);
                break;
        case FG_OPT_STRMAP:
                fputs("mapping of strings", out);
                break;
        case FG_OPT_SECTION:
                fputs("optional section", out);
                break;
        case FG_OPT_SUB:
                fprintf(out, "optional section with the keys of %s", opt->sub);
                break;
        case FG_OPT_LIST:
                fputs("list of mappings with the keys", out);
                for (const fg_opt_part_t *p = opt->parts; p->key; p++)
                        fprintf(out, "%s %s%s%s%s", p == opt->parts ? "" : ",", p->key,
                                p->rows ? " (as " : "", p->rows ? p->rows : "", p->rows ? ")" : "");
                break;
        }
        if (opt->flags & FG_OPT_F_NONEMPTY)
                fputs(", not empty", out);
        if (opt->flags & FG_OPT_F_UNIQUE)
                fputs(", no duplicates", out);
}

static void put_default(FILE *out, const fg_config_t *defaults, const fg_opt_t *opt) {
        char value[512];

        if (opt->flags & FG_OPT_F_REQUIRED) {
                fputs("required", out);
                return;
        }
        if (opt->type == FG_OPT_SECTION || opt->type == FG_OPT_SUB) {
                fputs("absent = disabled", out);
                return;
        }
        if (opt->type == FG_OPT_LIST) {
                fputs("default empty", out);
                return;
        }
        if ((opt->type == FG_OPT_STRING && !opt->def_str) || opt->type == FG_OPT_STRLIST) {
                fputs("no default", out);
                return;
        }
        if (opt->type == FG_OPT_STRMAP) {
                fputs("default empty", out);
                return;
        }
        fg_config_format_value(defaults, opt, value, sizeof(value));
        fputs("default \\fB", out);
        put_text(out, value);
        fputs("\\fR", out);
}

static void put_options(FILE *out) {
        fg_config_t defaults;
        char section[64] = "";

        memset(&defaults, 0, sizeof(defaults));
        (void)fg_config_apply_defaults(&defaults);
        for (size_t i = 0; i < fg_config_nopts; i++) {
                const fg_opt_t *opt = &fg_config_opts[i];
                size_t seclen = strcspn(opt->name, ".");

                if (strlen(section) != seclen || strncmp(section, opt->name, seclen)) {
                        snprintf(section, sizeof(section), "%.*s", (int)seclen, opt->name);
                        fprintf(out, ".SS %s\n", section);
                }
                fputs(".TP\n\\fB", out);
                put_text(out, opt->name);
                fputs("\\fR (", out);
                put_type(out, opt);
                fputs("; ", out);
                put_default(out, &defaults, opt);
                fputs(")\n", out);
                put_text(out, opt->help);
                fputs(".", out);
                if (opt->flags & FG_OPT_F_LIVE)
                        fputs(" Changes on reload (SIGHUP) without a restart.", out);
                fputc('\n', out);
        }
        fg_config_free_fields(&defaults);
}

int main(int argc, char **argv) {
        FILE *in;
        char line[4096];
        bool inside = false, begun = false, ended = false;

        if (argc != 2) {
                fprintf(stderr, "usage: gen_options PAGE > NEWPAGE\n");
                return 64;
        }
        in = fopen(argv[1], "r");
        if (!in) {
                perror(argv[1]);
                return 1;
        }
        while (fgets(line, sizeof(line), in)) {
                if (!inside)
                        fputs(line, stdout);
                if (!strncmp(line, BEGIN_MARK, strlen(BEGIN_MARK))) {
                        inside = begun = true;
                        put_options(stdout);
                } else if (inside && !strncmp(line, END_MARK, strlen(END_MARK))) {
                        inside = false;
                        ended = true;
                        fputs(line, stdout);
                }
        }
        fclose(in);
        if (!begun || !ended) {
                fprintf(stderr, "%s: no '%s' ... '%s' block\n", argv[1], BEGIN_MARK, END_MARK);
                return 1;
        }
        return 0;
}
