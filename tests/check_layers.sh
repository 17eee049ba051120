#!/usr/bin/env bash
# check_layers.sh [--self-test] [ROOT]: every #include "folder/..." in the
# sources must follow the include order written in docs/ARCHITECTURE.md
# (the table between <!-- layers:begin --> and <!-- layers:end -->): a file
# in folder F includes only F's own headers and those of the folders on F's
# row. Each row may name only folders of earlier rows, so the order is a
# DAG and no two folders include each other. tests/ may include anything.
#
# --self-test plants a back-edge (pipeline/ including daemon/) and a mutual
# include (ingest/ and workers/) in a copy of ROOT and fails unless the check
# catches both and passes on the untouched copy.
set -euo pipefail

check() {
        local root=$1 doc=$1/docs/ARCHITECTURE.md
        [ -f "$doc" ] || { echo "check_layers: $doc missing" >&2; return 2; }
        awk -v root="$root" '
        FNR == NR {
                if ($0 ~ /<!-- layers:begin -->/) { on = 1; next }
                if ($0 ~ /<!-- layers:end -->/) { on = 0; next }
                if (!on || $0 !~ /^\|/ || $0 ~ /^\|---/ || $0 ~ /^\| folder/) next
                n = split($0, cell, "|")
                f = cell[2]; gsub(/ /, "", f)
                if (f == "") next
                if (f in row) { printf "ARCHITECTURE.md: %s has two rows\n", f; bad = 1 }
                row[f] = ++nrows
                m = split(cell[3], deps, " ")
                for (i = 1; i <= m; i++) {
                        if (!(deps[i] in row)) {
                                printf "ARCHITECTURE.md: %s may include %s, which is not on an earlier row (the order must be a DAG)\n", f, deps[i]
                                bad = 1
                        }
                        allow[f, deps[i]] = 1
                }
                next
        }
        {
                file = FILENAME; sub("^" root "/", "", file)
                split(file, parts, "/"); from = parts[1]
                if (from == "tests") next
                if (!(from in row)) {
                        if (!(from in norow)) printf "%s: folder %s has no row in docs/ARCHITECTURE.md\n", file, from
                        norow[from] = 1; bad = 1; next
                }
                if ($0 !~ /^[ \t]*#[ \t]*include[ \t]*"[^"\/]+\//) next
                inc = $0; sub(/^[^"]*"/, "", inc); sub(/".*/, "", inc)
                split(inc, ip, "/"); to = ip[1]
                if (to == from || (from, to) in allow) next
                printf "%s:%d: includes %s: %s may not include %s (docs/ARCHITECTURE.md)\n", file, FNR, inc, from, to
                bad = 1
        }
        END { exit bad }
        ' "$doc" $(cd "$root" && git ls-files -co --exclude-standard '*.c' '*.h' 2>/dev/null |
                   sed "s#^#$root/#" || find "$root" -name '*.[ch]' -not -path '*/build/*')
}

self_test() {
        local root=$1 tmp rc
        tmp=$(mktemp -d)
        trap 'rm -rf "$tmp"' RETURN
        (cd "$root" && git ls-files -co --exclude-standard '*.c' '*.h' docs/ARCHITECTURE.md) |
                while read -r f; do mkdir -p "$tmp/$(dirname "$f")"; cp "$root/$f" "$tmp/$f"; done
        if ! out=$(check "$tmp" 2>&1); then
                echo "check_layers self-test: the untouched copy fails:"; echo "$out"; return 1
        fi
        cp "$tmp/pipeline/queue.c" "$tmp/queue.c.orig"
        echo '#include "daemon/daemon.h"' >> "$tmp/pipeline/queue.c"
        if check "$tmp" >/dev/null 2>&1; then
                echo "check_layers self-test: a planted back-edge (pipeline -> daemon) passed"; return 1
        fi
        cp "$tmp/queue.c.orig" "$tmp/pipeline/queue.c"
        echo '#include "workers/pool.h"' >> "$tmp/ingest/ingest.c"
        echo '#include "ingest/ingest.h"' >> "$tmp/workers/pool.c"
        if check "$tmp" >/dev/null 2>&1; then
                echo "check_layers self-test: a planted mutual include (ingest <-> workers) passed"; return 1
        fi
        echo "check_layers self-test: the back-edge and the mutual include are caught"
}

if [ "${1:-}" = --self-test ]; then
        self_test "$(cd "${2:-.}" && pwd)"
else
        root=$(cd "${1:-.}" && pwd)
        if check "$root"; then
                echo "check_layers: every #include follows docs/ARCHITECTURE.md"
        else
                exit 1
        fi
fi
