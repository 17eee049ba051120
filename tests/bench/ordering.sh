#!/usr/bin/env bash
# The ordering benchmark (make bench-ordering): throughput and CPU per event
# of workers.ordering none, partition and key, each over topics of 10, 1,000
# and 100,000 distinct keys, with a 1 ms sink — all in one run.
#
# One mock cluster (1 broker) holds, for each key count K, two topics of 32
# partitions filled before any daemon starts by `floodgate burst --keys K`
# with ~120-byte keyed events: kK with COUNT (default 400,000) events for the
# fast runs, sK with SLOW_COUNT (default 40,000) for the runs that go one
# event per key or partition at a time (partition mode, key mode over 10
# keys) and would take minutes over COUNT. The sink is the http sink
# against tests/bench/httpsink answering every request after 1 ms, twice:
# in batches (ndjson, one request per worker batch of up to 256 events: the
# mock is the bottleneck), and one event per request (format json, always
# over the sK topics: the sink is the bottleneck, so the modes compare on
# what ordering costs in parallelism). The pool is fixed at 16 workers;
# fetch.wait.max.ms is 10 (the mock holds an empty fetch for all of it, see
# burst.sh). Each run drains one topic under a fresh group with
# --until-drained:
#   events/s  the topic's size over the span the daemon timed (first
#             message to last outcome, from its exit summary);
#   CPU/event the daemon's user + system CPU (the shell's `times` for the
#             subshell that ran it, start-up and group join included) over
#             the events.
# Runs repeat ROUNDS times (default 3), interleaved; the median and the best
# round are printed, "x none" compares best with best. The machine is
# shared and noisy (batched runs of one configuration varied by up to 6x
# between rounds here, in the mock): compare within a run; CPU per event
# and the one-event-per-request table are the steadier figures.
# BASELINE_BIN=path also runs batched `none` with another floodgate binary
# (e.g. one built from main) in the same rounds, for the "none did not get
# slower" comparison.
# Prints figures; asserts nothing.
#
#   tests/bench/ordering.sh BUILD_DIR [COUNT [SLOW_COUNT]]
set -euo pipefail
build=${1:-build}
count=${2:-400000}
slow_count=${3:-40000}
rounds=${ROUNDS:-3}
fg="$build/floodgate"
sink="$build/bench/httpsink"
work=$(mktemp -d /tmp/fgorder.XXXXXX)
mock_pid= sink_pid=
trap 'kill $mock_pid $sink_pid 2>/dev/null || true; rm -rf "$work"' EXIT

"$fg" mock --brokers 1 --topic k10:32 --topic k1000:32 --topic k100000:32 \
  --topic s10:32 --topic s1000:32 --topic s100000:32 >"$work/mock.out" 2>"$work/mock.log" &
mock_pid=$!
"$sink" --latency-ms 1 >"$work/sink.out" 2>"$work/sink.log" &
sink_pid=$!
for _ in $(seq 100); do
  grep -q BOOTSTRAP "$work/mock.out" && grep -q URL= "$work/sink.out" && break
  sleep 0.1
done
bs=$(sed -n 's/^BOOTSTRAP=//p' "$work/mock.out")
url=$(sed -n 's/^URL=//p' "$work/sink.out")

for keys in 10 1000 100000; do
  echo "producing $count events over $keys keys to k$keys, $slow_count to s$keys..."
  "$fg" burst -b "$bs" -t "k$keys" --count "$count" --size 120 --keys "$keys" \
    --id-prefix "k$keys" >/dev/null 2>&1
  "$fg" burst -b "$bs" -t "s$keys" --count "$slow_count" --size 120 --keys "$keys" \
    --id-prefix "s$keys" >/dev/null 2>&1
done

# The topic a run reads: the small one where events go one per key or
# partition at a time.
topic_of() { # mode keys
  if [ "$1" = partition ] || { [ "$1" = key ] && [ "$2" = 10 ]; }; then echo "s$2"; else echo "k$2"; fi
}

run() { # binary mode keys format -> "rate cpu_us_per_event"
  local bin=$1 mode=$2 keys=$3 fmt=$4 name="$2-$3-$4-$RANDOM$RANDOM" secs cpu topic n ordering=""
  topic=$(topic_of "$mode" "$keys")
  # One event per request: every run is slow, every run reads the small topic.
  [ "$fmt" = json ] && topic="s$keys"
  n=$count; [ "${topic:0:1}" = s ] && n=$slow_count
  # none is the default: left out, a binary without the option runs too.
  [ "$mode" != none ] && ordering=", ordering: $mode"
  cat >"$work/$name.yaml" <<YAML
kafka:
  brokers: "$bs"
  group_id: "bench-$name"
  topics: [$topic]
  properties:
    fetch.wait.max.ms: "10"
workers: {size: 16$ordering}
sink:
  type: http
  url: "$url"
  format: $fmt
  batch: {max_messages: 256}
metrics:
  listen: "off"
YAML
  # The subshell's `times` second line: its children's user and system CPU.
  cpu=$( ( "$bin" run -c "$work/$name.yaml" --until-drained 2>"$work/$name.log"; times ) |
    awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/);
                   printf "%.6f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }')
  secs=$(sed -n 's/.*from the first message to the last outcome: \([0-9.]*\) s.*/\1/p' "$work/$name.log")
  awk -v n="$n" -v s="$secs" -v c="$cpu" \
    'BEGIN { printf "%.0f %.2f\n", (s > 0 ? n / s : 0), c * 1e6 / n }'
}

declare -A rates cpus
add() { rates[$1]+="$2 "; cpus[$1]+="$3 "; }
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
best() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | tail -1; }

for r in $(seq "$rounds"); do
  echo "round $r/$rounds..."
  for keys in 10 1000 100000; do
    for mode in none partition key; do
      read -r a b < <(run "$fg" "$mode" "$keys" ndjson); add "$mode-$keys" "$a" "$b"
      read -r a b < <(run "$fg" "$mode" "$keys" json); add "1-$mode-$keys" "$a" "$b"
    done
    if [ -n "${BASELINE_BIN:-}" ]; then
      read -r a b < <(run "$BASELINE_BIN" none "$keys" ndjson); add "base-$keys" "$a" "$b"
    fi
  done
done

printf '\n%s rounds; %s events per run (%s where marked *); 16 workers; http sink\n' \
  "$rounds" "$count" "$slow_count"
printf 'answering after 1 ms; 32 partitions\n'
table() { # prefix
  printf '%-12s %8s %12s %12s %9s %14s\n' "ordering" "keys" "events/s" "best" "x none" "CPU us/event"
  for keys in 10 1000 100000; do
    none=$(best "${rates[$1none-$keys]}")
    modes="none partition key"
    [ -n "${BASELINE_BIN:-}" ] && [ -z "$1" ] && modes="$modes base"
    for mode in $modes; do
      top=$(best "${rates[$1$mode-$keys]}")
      label=$mode; [ "$mode" = base ] && label="none@base"
      { [ -n "$1" ] || [ "$(topic_of "$mode" "$keys")" = "s$keys" ]; } && label="$label *"
      printf '%-12s %8s %12s %12s %9.2f %14s\n' "$label" "$keys" \
        "$(median "${rates[$1$mode-$keys]}")" "$top" \
        "$(awk -v a="$top" -v b="$none" 'BEGIN { print (b > 0 ? a / b : 0) }')" \
        "$(median "${cpus[$1$mode-$keys]}")"
    done
  done
}
printf '\nbatches (ndjson, up to 256 events a request):\n'
table ""
printf '\none event per request (format json), the sink the bottleneck:\n'
table "1-"
printf '\nall rates (events/s):\n'
for k in "${!rates[@]}"; do printf '  %-16s %s\n' "$k" "${rates[$k]}"; done | sort
exit 0
