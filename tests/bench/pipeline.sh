#!/usr/bin/env bash
# The pipeline benchmark (issue: "make bench"): drain a 1M-event burst of
# ~120-byte keyed JSON from a 3-broker, 48-partition mock cluster into the
# null and file sinks, next to a reference consumer that only polls and
# frees, measured in the same run. Also a 100k burst, for the RSS check.
# Prints figures; asserts nothing (benchmarks report, tests assert).
#
#   tests/bench/pipeline.sh BUILD_DIR [COUNT]
set -euo pipefail
build=${1:-build}
count=${2:-1000000}
fg="$build/floodgate"
ref="$build/bench/refconsumer"
work=$(mktemp -d /tmp/fgbench.XXXXXX)
trap 'kill $mock_pid 2>/dev/null || true; rm -rf "$work"' EXIT

"$fg" mock --brokers 3 --topic ref:48 --topic null:48 --topic file:48 --topic small:48 >"$work/mock.out" 2>"$work/mock.log" &
mock_pid=$!
for _ in $(seq 100); do grep -q BOOTSTRAP "$work/mock.out" && break; sleep 0.1; done
bs=$(sed -n 's/^BOOTSTRAP=//p' "$work/mock.out")

produce() { # topic count
  "$fg" burst -b "$bs" -t "$1" --count "$2" --size 120 --id-prefix "$1" >/dev/null 2>&1
}

run_fg() { # name sink-yaml group topic count
  cat >"$work/$1.yaml" <<YAML
kafka:
  brokers: "$bs"
  group_id: "$3"
  topics: [$4]
sink:
$2
log:
  level: info
YAML
  "$fg" run -c "$work/$1.yaml" --until-drained 2>"$work/$1.log"
  local rate rss
  rate=$(sed -n 's/.*from the first message to the last outcome: .* (\([0-9]*\) msgs\/s).*/\1/p' "$work/$1.log")
  rss=$(sed -n 's/.*peak RSS \([0-9.]*\) MiB.*/\1/p' "$work/$1.log")
  echo "$1 $rate $rss"
}

echo "producing $count events to each of 3 topics (48 partitions, 3 brokers)..."
for t in ref null file; do produce "$t" "$count"; done
produce small 100000

refline=$("$ref" "$bs" ref bench-ref "$count")
ref_rate=$(sed -n 's/.*ref_rate=\([0-9]*\).*/\1/p' <<<"$refline")
ref_rss=$(sed -n 's/.*ref_peak_rss_mib=\([0-9.]*\).*/\1/p' <<<"$refline")
read -r _ null_rate null_rss < <(run_fg null "  type: null" bench-null null "$count")
read -r _ file_rate file_rss < <(run_fg file "  type: file
  path: $work/out.jsonl" bench-file file "$count")
read -r _ small_rate small_rss < <(run_fg small "  type: null" bench-small small 100000)

printf '\n%-28s %12s %10s %14s\n' "run ($count events)" "msgs/s" "x ref" "peak RSS MiB"
printf '%-28s %12s %10s %14s\n' "reference consumer" "$ref_rate" "1.00" "$ref_rss"
for row in "floodgate null sink:$null_rate:$null_rss" "floodgate file sink:$file_rate:$file_rss" \
           "floodgate null, 100k burst:$small_rate:$small_rss"; do
  IFS=: read -r name rate rss <<<"$row"
  printf '%-28s %12s %10.2f %14s\n' "$name" "$rate" "$(awk -v a="$rate" -v b="$ref_rate" 'BEGIN{print a/b}')" "$rss"
done
