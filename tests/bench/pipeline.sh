#!/usr/bin/env bash
# The pipeline benchmark (make bench): drain a 1M-event burst of ~120-byte
# keyed JSON (floodgate burst's events) from a 3-broker, 48-partition mock
# cluster, next to a reference consumer that only polls and frees
# messages, all in the same run on the same topic. Every run reads the topic
# under its own consumer group; runs alternate and repeat (ROUNDS, default
# 3) and the median is reported, because this machine is shared and noisy:
# compare the ratios.
#
# Per run: msgs/s from the first message to the last outcome, and the
# whole process's CPU time (user + system, every thread, getrusage at exit)
# per consumed event — the daemon's summary line, the reference consumer's
# ref_cpu_us. Handler configurations, each into the file sink and into the
# HTTP sink (tests/bench/httpsink, ndjson, answering at once):
#   passthrough     the default json handler (validate only)
#   filter          contains_any over the 100 names of brands100.txt,
#                   case-insensitive, on "text" (acme: 20% of the events)
#   filter+meta     the same + add_metadata: the brand-monitoring path
#   filter+shape    the same + keep [id, ts, user, text] + drop [user.email]
#   raw             handler.mode raw
# plus the null sink with and without metric recording (metrics compiled
# out) and a 100k burst. The goal line compares filter+meta into the file
# sink with the reference consumer (<= 1.5x its CPU per event) and with
# passthrough (<= +0.3 us per event). Then the handler alone
# (tests/bench/handler_cost) and the metrics and breaker micro-benchmarks.
# Prints figures; asserts nothing (benchmarks report, tests assert).
#
#   tests/bench/pipeline.sh BUILD_DIR NOMETRICS_BUILD_DIR [COUNT]
set -euo pipefail
build=${1:-build}
nometrics=${2:-build/nometrics}
count=${3:-1000000}
rounds=${ROUNDS:-3}
fg="$build/floodgate"
fg_nm="$nometrics/floodgate"
ref="$build/bench/refconsumer"
httpsink="$build/bench/httpsink"
brands_file="$(dirname "$0")/brands100.txt"
work=$(mktemp -d /tmp/fgbench.XXXXXX)
mock_pid=
http_pid=
trap 'kill $mock_pid $http_pid 2>/dev/null || true; rm -rf "$work"' EXIT

"$fg" mock --brokers 3 --topic big:48 --topic small:48 >"$work/mock.out" 2>"$work/mock.log" &
mock_pid=$!
for _ in $(seq 100); do grep -q BOOTSTRAP "$work/mock.out" && break; sleep 0.1; done
bs=$(sed -n 's/^BOOTSTRAP=//p' "$work/mock.out")
"$httpsink" >"$work/httpsink.out" 2>"$work/httpsink.log" &
http_pid=$!
for _ in $(seq 100); do grep -q '^URL=' "$work/httpsink.out" && break; sleep 0.1; done
url=$(sed -n 's/^URL=//p' "$work/httpsink.out")

echo "producing $count events to big (48 partitions, 3 brokers) and 100000 to small..."
"$fg" burst -b "$bs" -t big --count "$count" --size 120 --id-prefix big >/dev/null 2>&1
"$fg" burst -b "$bs" -t small --count 100000 --size 120 --id-prefix small >/dev/null 2>&1

brands="[$(sed 's/.*/"&"/' "$brands_file" | paste -sd, -)]"
filter="filter: {field: text, contains_any: $brands, case_insensitive: true}"
declare -A handler=(
  [pass]=""
  [filter]="handler: {$filter}"
  [meta]="handler: {$filter, add_metadata: true}"
  [shape]="handler: {$filter, keep: [id, ts, user, text], drop: [user.email]}"
  [raw]="handler: {mode: raw}"
)
declare -A sink=(
  [null]="sink: {type: null}"
  [file]="sink: {type: file, path: \"$work/out.jsonl\"}"
  [http]="sink: {type: http, url: \"$url\", format: ndjson}"
)

run_fg() { # binary name topic sink handler -> "rate rss cpu_us"
  local bin=$1 name=$2 topic=$3 snk=$4 hnd=$5
  cat >"$work/$name.yaml" <<YAML
kafka:
  brokers: "$bs"
  group_id: "bench-$name-$RANDOM$RANDOM"
  topics: [$topic]
${sink[$snk]}
$hnd
metrics:
  listen: "off"
YAML
  rm -f "$work/out.jsonl"
  "$bin" run -c "$work/$name.yaml" --until-drained 2>"$work/$name.log"
  local rate rss secs n cpu
  # The topic's size over the span the daemon timed: the same figure it
  # prints, and still right in the build with metrics compiled out, whose
  # counters (and so its printed rate and CPU per event) read 0.
  n=$count; [ "$topic" = small ] && n=100000
  secs=$(sed -n 's/.*from the first message to the last outcome: \([0-9.]*\) s.*/\1/p' "$work/$name.log")
  rate=$(awk -v n="$n" -v s="$secs" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print 0 }')
  rss=$(sed -n 's/.*peak RSS \([0-9.]*\) MiB.*/\1/p' "$work/$name.log")
  cpu=$(sed -n 's/.*summary: CPU \([0-9.]*\) s user + \([0-9.]*\) s system.*/\1 \2/p' "$work/$name.log" |
        awk -v n="$n" '{ printf "%.3f", ($1 + $2) * 1e6 / n }')
  echo "$rate $rss ${cpu:-0}"
}

run_ref() {
  "$ref" "$bs" big "bench-ref-$RANDOM$RANDOM" "$count" |
    sed -n 's/.*ref_rate=\([0-9]*\).*ref_peak_rss_mib=\([0-9.]*\).*ref_cpu_us=\([0-9.]*\).*/\1 \2 \3/p'
}

declare -A rates rsses cpus
add() { rates[$1]+="$2 "; rsses[$1]+="$3 "; cpus[$1]+="$4 "; }
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

configs="pass filter meta shape raw"
for r in $(seq "$rounds"); do
  echo "round $r/$rounds..."
  read -r a b c < <(run_ref); add ref "$a" "$b" "$c"
  for h in $configs; do
    for s in file http; do
      read -r a b c < <(run_fg "$fg" "$s-$h" big "$s" "${handler[$h]}"); add "$s-$h" "$a" "$b" "$c"
    done
  done
  read -r a b c < <(run_fg "$fg" null big null ""); add null "$a" "$b" "$c"
  read -r a b c < <(run_fg "$fg_nm" nullnm big null ""); add nullnm "$a" "$b" "$c"
done
read -r a b c < <(run_fg "$fg" small small null ""); add small "$a" "$b" "$c"

ref_rate=$(median "${rates[ref]}")
ref_cpu=$(median "${cpus[ref]}")
printf '\nmedian of %s rounds, %s events; msgs/s from the first message to the last outcome;\n' \
  "$rounds" "$count"
printf 'CPU: the whole process (getrusage, user + system) per consumed event\n'
printf '%-46s %10s %7s %9s %7s %9s\n' "run" "msgs/s" "x ref" "CPU us/ev" "x ref" "RSS MiB"
row() { # label key
  local rate rss cpu
  rate=$(median "${rates[$2]}")
  cpu=$(median "${cpus[$2]}")
  rss=$(tr ' ' '\n' <<<"${rsses[$2]}" | grep -v '^$' | sort -n | tail -1)
  printf '%-46s %10s %7.2f %9s %7s %9s\n' "$1" "$rate" \
    "$(awk -v a="$rate" -v b="$ref_rate" 'BEGIN{print a/b}')" "$cpu" \
    "$(awk -v a="$cpu" -v b="$ref_cpu" 'BEGIN{ if (a > 0) printf "%.2f", a/b; else print "-" }')" "$rss"
}
row "reference consumer (poll + free)" ref
for s in file http; do
  row "$s sink: passthrough (json, validate only)" "$s-pass"
  row "$s sink: filter (contains_any, 100 names)" "$s-filter"
  row "$s sink: filter + add_metadata (brand path)" "$s-meta"
  row "$s sink: filter + keep + drop" "$s-shape"
  row "$s sink: raw mode" "$s-raw"
done
row "null sink, passthrough" null
row "null sink, passthrough, metrics compiled out" nullnm
row "null sink, passthrough, 100k burst" small

meta=$(median "${cpus[file-meta]}")
pass=$(median "${cpus[file-pass]}")
# Within each round the runs follow each other: their ratio and difference
# are steadier than the medians' when the machine's load drifts.
paired() { # key-a key-b (ratio|diff) -> "median min max" over rounds
  paste <(tr ' ' '\n' <<<"${cpus[$1]}" | grep -v '^$') <(tr ' ' '\n' <<<"${cpus[$2]}" | grep -v '^$') |
    awk -v op="$3" '{ print (op == "diff") ? $1 - $2 : $1 / $2 }' | sort -n |
    awk '{ v[NR] = $1 } END { printf "%.3f %.3f %.3f", v[int((NR + 1) / 2)], v[1], v[NR] }'
}
read -r rm rlo rhi < <(paired file-meta ref ratio)
read -r dm dlo dhi < <(paired file-meta file-pass diff)
awk -v m="$meta" -v p="$pass" -v r="$ref_cpu" -v rm="$rm" -v rlo="$rlo" -v rhi="$rhi" \
    -v dm="$dm" -v dlo="$dlo" -v dhi="$dhi" 'BEGIN {
  printf "\ngoal, brand path (json + contains_any over 100 names + add_metadata, file sink):\n"
  printf "  <= 1.5 x the reference consumer CPU per event: %.3f us = %.2f x %.3f us: %s\n",
         m, m / r, r, (m <= 1.5 * r) ? "met" : "NOT met"
  printf "     (the ratio within each round: median %.2f, %.2f..%.2f)\n", rm, rlo, rhi
  printf "  <= passthrough + 0.3 us: %.3f us = passthrough %.3f us %+.3f us: %s\n",
         m, p, m - p, (m <= p + 0.3) ? "met" : "NOT met"
  printf "     (the difference within each round: median %+.3f us, %+.3f..%+.3f)\n", dm, dlo, dhi
}'
printf '\nmetrics recording cost: on/off throughput = %.3f (rates: %s vs %s)\n' \
  "$(awk -v a="$(median "${rates[null]}")" -v b="$(median "${rates[nullnm]}")" 'BEGIN{print a/b}')" \
  "${rates[null]}" "${rates[nullnm]}"
printf 'all CPU us/event: ref %s| file-pass %s| file-meta %s\n' "${cpus[ref]}" "${cpus[file-pass]}" \
  "${cpus[file-meta]}"
echo
"$build/bench/handler_cost" 500000 "$brands_file"
for b in "$build/bench/metrics_cost" "$build/bench/breaker_cost"; do
  [ -x "$b" ] && { echo; "$b"; }
done
exit 0
