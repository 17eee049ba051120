#!/usr/bin/env bash
# The pipeline benchmark (make bench): drain a 1M-event burst of ~120-byte
# keyed JSON from a 3-broker, 48-partition mock cluster into the null and
# file sinks, next to a reference consumer that only polls and frees
# messages, all in the same run. Every run reads the same topic under its
# own consumer group; runs alternate and repeat (ROUNDS, default 3) and the
# median is reported, because this machine is shared and noisy: compare the
# ratios. Also: metrics recording on vs compiled out (null sink), and peak
# RSS for a 100k and a 1M burst with the default config.
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
work=$(mktemp -d /tmp/fgbench.XXXXXX)
mock_pid=
trap 'kill $mock_pid 2>/dev/null || true; rm -rf "$work"' EXIT

"$fg" mock --brokers 3 --topic big:48 --topic small:48 >"$work/mock.out" 2>"$work/mock.log" &
mock_pid=$!
for _ in $(seq 100); do grep -q BOOTSTRAP "$work/mock.out" && break; sleep 0.1; done
bs=$(sed -n 's/^BOOTSTRAP=//p' "$work/mock.out")

echo "producing $count events to big (48 partitions, 3 brokers) and 100000 to small..."
"$fg" burst -b "$bs" -t big --count "$count" --size 120 --id-prefix big >/dev/null 2>&1
"$fg" burst -b "$bs" -t small --count 100000 --size 120 --id-prefix small >/dev/null 2>&1

run_fg() { # binary name topic sink-yaml -> "rate rss"
  local bin=$1 name=$2 topic=$3 sink=$4
  cat >"$work/$name.yaml" <<YAML
kafka:
  brokers: "$bs"
  group_id: "bench-$name-$RANDOM$RANDOM"
  topics: [$topic]
sink:
$sink
metrics:
  listen: "off"
YAML
  rm -f "$work/out.jsonl"
  "$bin" run -c "$work/$name.yaml" --until-drained 2>"$work/$name.log"
  local rate rss secs n
  # The topic's size over the span the daemon timed: the same figure it
  # prints, and still right in the build with metrics compiled out, whose
  # counters (and so its printed rate) read 0.
  n=$count; [ "$topic" = small ] && n=100000
  secs=$(sed -n 's/.*from the first message to the last outcome: \([0-9.]*\) s.*/\1/p' "$work/$name.log")
  rate=$(awk -v n="$n" -v s="$secs" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print 0 }')
  rss=$(sed -n 's/.*peak RSS \([0-9.]*\) MiB.*/\1/p' "$work/$name.log")
  echo "$rate $rss"
}

run_ref() {
  "$ref" "$bs" big "bench-ref-$RANDOM$RANDOM" "$count" |
    sed -n 's/.*ref_rate=\([0-9]*\).*ref_peak_rss_mib=\([0-9.]*\).*/\1 \2/p'
}

declare -A rates rsses
add() { rates[$1]+="$2 "; rsses[$1]+="$3 "; }
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

null_sink="  type: null"
file_sink="  type: file
  path: $work/out.jsonl"
for r in $(seq "$rounds"); do
  echo "round $r/$rounds..."
  read -r a b < <(run_ref);                               add ref "$a" "$b"
  read -r a b < <(run_fg "$fg" null big "$null_sink");    add null "$a" "$b"
  read -r a b < <(run_fg "$fg_nm" nullnm big "$null_sink"); add nullnm "$a" "$b"
  read -r a b < <(run_fg "$fg" file big "$file_sink");    add file "$a" "$b"
done
read -r a b < <(run_fg "$fg" small small "$null_sink");   add small "$a" "$b"

ref_rate=$(median "${rates[ref]}")
printf '\nmedian of %s rounds, %s events, rates from the first message to the last outcome\n' "$rounds" "$count"
printf '%-44s %10s %9s %14s\n' "run" "msgs/s" "x ref" "peak RSS MiB"
row() { # label key
  local rate rss
  rate=$(median "${rates[$2]}")
  rss=$(tr ' ' '\n' <<<"${rsses[$2]}" | grep -v '^$' | sort -n | tail -1)
  printf '%-44s %10s %9.2f %14s\n' "$1" "$rate" "$(awk -v a="$rate" -v b="$ref_rate" 'BEGIN{print a/b}')" "$rss"
}
row "reference consumer (poll + free)" ref
row "floodgate, null sink" null
row "floodgate, null sink, metrics compiled out" nullnm
row "floodgate, file sink" file
row "floodgate, null sink, 100k burst" small
printf '\nmetrics recording cost: on/off throughput = %.3f (rates: %s vs %s)\n' \
  "$(awk -v a="$(median "${rates[null]}")" -v b="$(median "${rates[nullnm]}")" 'BEGIN{print a/b}')" \
  "${rates[null]}" "${rates[nullnm]}"
printf 'all rates (msgs/s): ref %s| null %s| file %s\n' "${rates[ref]}" "${rates[null]}" "${rates[file]}"
for b in "$build/bench/metrics_cost" "$build/bench/breaker_cost"; do
  [ -x "$b" ] && { echo; "$b"; }
done
exit 0
