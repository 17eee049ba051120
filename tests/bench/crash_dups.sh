#!/usr/bin/env bash
# What a crash costs (make bench-crash): drain a 1M-event burst (~120-byte
# keyed JSON, 48 partitions) into the file sink, kill -9 the daemon when the
# file holds K events, restart it with --until-drained under the same group
# and count, over both runs, the events written more than once (duplicates)
# and the ones never written (must be 0). K runs through KILL_AT (default
# 100000 .. 900000); each kill uses a fresh group on the same topic. The
# restart's duration includes the wait for the group to drop the dead
# member (the mock takes ~2 x session.timeout.ms, 6 s here; a broker one,
# and none with static membership) and the rest of the drain.
#
# BASE_BIN, when set, is an earlier floodgate killed at the same points:
# the "before" figures, labelled BASE_LABEL (default: the build before
# commit pacing, librdkafka auto-commit every 1 s). COMMIT_EVERY sets
# kafka.commit_every (default: the daemon's default).
# Prints figures; asserts nothing (benchmarks report, tests assert).
#
#   tests/bench/crash_dups.sh BUILD_DIR [COUNT]
set -euo pipefail
build=${1:-build}
count=${2:-1000000}
kill_at=${KILL_AT:-"100000 300000 500000 700000 900000"}
fg="$build/floodgate"
base=${BASE_BIN:-}
work=$(mktemp -d /tmp/fgcrash.XXXXXX)
mock_pid=
trap 'kill $mock_pid 2>/dev/null || true; rm -rf "$work"' EXIT

"$fg" mock --brokers 3 --topic big:48 >"$work/mock.out" 2>"$work/mock.log" &
mock_pid=$!
for _ in $(seq 100); do grep -q BOOTSTRAP "$work/mock.out" && break; sleep 0.1; done
bs=$(sed -n 's/^BOOTSTRAP=//p' "$work/mock.out")
echo "producing $count events to big (48 partitions, 3 brokers)..."
"$fg" burst -b "$bs" -t big --count "$count" --size 120 --id-prefix big >/dev/null 2>&1

lines() { [ -f "$1" ] && wc -l <"$1" || echo 0; }

# crash BIN NAME K -> "dups missing killed_at restart_s"
crash() {
  local bin=$1 name=$2 k=$3 out="$work/$2.jsonl" every=""
  [ -n "${COMMIT_EVERY:-}" ] && [ "$bin" = "$fg" ] && every="  commit_every: $COMMIT_EVERY"
  cat >"$work/$name.yaml" <<YAML
kafka:
  brokers: "$bs"
  group_id: "crash-$name-$RANDOM$RANDOM"
  topics: [big]
$every
  properties:
    session.timeout.ms: 6000
    heartbeat.interval.ms: 600
sink:
  type: file
  path: "$out"
metrics:
  listen: "off"
  log_interval: 0s
YAML
  "$bin" run -c "$work/$name.yaml" 2>"$work/$name.1.log" &
  local pid=$!
  while [ "$(lines "$out")" -lt "$k" ]; do
    kill -0 $pid 2>/dev/null || { echo "daemon exited before $k events" >&2; return 1; }
    sleep 0.01
  done
  kill -9 $pid
  wait $pid 2>/dev/null || true
  local at t0 t1
  at=$(lines "$out")
  t0=$(date +%s.%N)
  "$bin" run -c "$work/$name.yaml" --until-drained 2>"$work/$name.2.log"
  t1=$(date +%s.%N)
  local total distinct
  total=$(grep -c '"id":"big-' "$out")
  distinct=$(grep -o '"id":"big-[0-9]*"' "$out" | sort -u | wc -l)
  echo "$((total - distinct)) $((count - distinct)) $at $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')"
  rm -f "$out"
}

printf '%-44s %10s %10s %10s %12s\n' "run" "killed at" "dups" "missing" "restart s"
for k in $kill_at; do
  read -r d m a s < <(crash "$fg" "new$k" "$k")
  printf '%-44s %10s %10s %10s %12s\n' "floodgate (commit_every ${COMMIT_EVERY:-default})" "$a" "$d" "$m" "$s"
  if [ -n "$base" ]; then
    read -r d m a s < <(crash "$base" "base$k" "$k")
    printf '%-44s %10s %10s %10s %12s\n' "${BASE_LABEL:-before (librdkafka auto-commit, 1 s)}" "$a" "$d" "$m" "$s"
  fi
done
echo "restart s: from the restart to the end of the --until-drained run (waits for the group"
echo "to drop the dead member first)"
exit 0
