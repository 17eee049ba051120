#!/usr/bin/env bash
# The commit-pacing benchmark (make bench-commit): what committing every
# kafka.commit_every events costs. Drains the same 1M-event burst (~120-byte
# keyed JSON, 3-broker 48-partition mock cluster) into the null sink with
# --until-drained, once per setting and round, runs alternating, each under
# its own consumer group, and reports per setting the median throughput
# (first message to last outcome, as the daemon prints it), the CPU time per
# event (user + system of the whole process, from /proc) and the
# commits sent (floodgate_offset_commits_total). The null sink is the worst
# case: the more events per second, the more commits per second.
#
# BASE_BIN, when set, is a floodgate built from an earlier commit: its row
# is the baseline, labelled BASE_LABEL (default: the build before commit
# pacing, librdkafka auto-commit every auto.commit.interval.ms).
# Prints figures; asserts nothing (benchmarks report, tests assert).
#
#   tests/bench/commit_cost.sh BUILD_DIR [COUNT]
set -euo pipefail
build=${1:-build}
count=${2:-1000000}
rounds=${ROUNDS:-3}
settings=${SETTINGS:-"0 100000 10000 1000"}
fg="$build/floodgate"
base=${BASE_BIN:-}
work=$(mktemp -d /tmp/fgcommit.XXXXXX)
mock_pid=
trap 'kill $mock_pid 2>/dev/null || true; rm -rf "$work"' EXIT

"$fg" mock --brokers 3 --topic big:48 >"$work/mock.out" 2>"$work/mock.log" &
mock_pid=$!
for _ in $(seq 100); do grep -q BOOTSTRAP "$work/mock.out" && break; sleep 0.1; done
bs=$(sed -n 's/^BOOTSTRAP=//p' "$work/mock.out")
echo "producing $count events to big (48 partitions, 3 brokers)..."
"$fg" burst -b "$bs" -t big --count "$count" --size 120 --id-prefix big >/dev/null 2>&1

# run BIN NAME COMMIT_EVERY -> "rate cpu_us_per_event commits"; a setting
# ending in "r" (e.g. 10000r) runs with the eager range strategy, to tell
# the cost of commit pacing from the cost of cooperative rebalancing.
run() {
  local bin=$1 name=$2 every=$3 extra=""
  case "$every" in
    base) ;;
    *r) extra="  commit_every: ${every%r}
  properties: {partition.assignment.strategy: range}" ;;
    *) extra="  commit_every: $every" ;;
  esac
  cat >"$work/$name.yaml" <<YAML
kafka:
  brokers: "$bs"
  group_id: "commit-$name-$RANDOM$RANDOM"
  topics: [big]
$extra
sink:
  type: null
metrics:
  listen: "127.0.0.1:0"
  log_interval: 0s
YAML
  # Children's CPU before and after, in clock ticks via /proc.
  local t0 t1 secs rate me=$BASHPID
  t0=$(children_ticks "$me")
  "$bin" run -c "$work/$name.yaml" --until-drained 2>"$work/$name.log"
  t1=$(children_ticks "$me")
  secs=$(sed -n 's/.*from the first message to the last outcome: \([0-9.]*\) s.*/\1/p' "$work/$name.log")
  rate=$(awk -v n="$count" -v s="$secs" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print 0 }')
  local commits
  commits=$(sed -n 's/.*offset commits: \([0-9]*\).*/\1/p' "$work/$name.log" | tail -1)
  echo "$rate $(awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v n="$count" \
    'BEGIN { printf "%.3f", t / hz / n * 1e6 }') ${commits:-?}"
}
# cutime + cstime (fields 16 and 17 of /proc/PID/stat) of the shell that
# runs `run` (a subshell: its $BASHPID, taken outside any $(...)).
children_ticks() { awk '{ print $16 + $17 }' "/proc/$1/stat"; }

declare -A rates cpus commits
names=()
[ -n "$base" ] && names+=(base)
for s in $settings; do names+=("e$s"); done
for r in $(seq "$rounds"); do
  echo "round $r/$rounds..."
  for n in "${names[@]}"; do
    if [ "$n" = base ]; then read -r a b c < <(run "$base" "base$r" base)
    else read -r a b c < <(run "$fg" "$n-$r" "${n#e}"); fi
    rates[$n]+="$a "; cpus[$n]+="$b "; commits[$n]+="$c "
  done
done

median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
printf '\nmedian of %s rounds, %s events, null sink\n' "$rounds" "$count"
printf '%-40s %10s %14s %12s\n' "setting" "msgs/s" "CPU us/event" "commits"
for n in "${names[@]}"; do
  label="kafka.commit_every: ${n#e}"
  case "$n" in *r) label="kafka.commit_every: ${n#e} (range)";; esac
  label=${label/r (range)/ (range)}
  [ "$n" = e0 ] && label="kafka.commit_every: 0 (time only)"
  [ "$n" = base ] && label="${BASE_LABEL:-before (librdkafka auto-commit, 1 s)}"
  printf '%-40s %10s %14s %12s\n' "$label" "$(median "${rates[$n]}")" "$(median "${cpus[$n]}")" \
    "$(median "${commits[$n]}")"
done
for n in "${names[@]}"; do printf 'all %s: rates %s| cpu %s| commits %s\n' "$n" "${rates[$n]}" "${cpus[$n]}" "${commits[$n]}"; done
exit 0
