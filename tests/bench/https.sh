#!/usr/bin/env bash
# The HTTPS benchmark (part of make bench; alone: make bench-https): the same
# burst of ~120-byte JSON events drained into the http sink as ndjson
# batches of 500, once over plain HTTP and once over HTTPS (TLS 1.3, a
# throwaway P-256 PKI), to the same local server (tests/support/tls_server.py,
# one process listening for both), alternating, ROUNDS times (default 5).
# Reports the median throughput and CPU time per event of the daemon (user +
# system from its partition assignment to its exit: the start-up and group
# join before it are the same fixed cost for both and would only dilute the
# ratio) and the HTTPS/HTTP ratio; the goal is <= 1.3x CPU per event. Timings
# on a shared machine are noisy: read the medians and the spread. Prints
# figures; asserts nothing.
#
#   tests/bench/https.sh BUILD_DIR [COUNT]
set -euo pipefail
build=${1:-build}
count=${2:-${HTTPS_COUNT:-500000}}
rounds=${ROUNDS:-5}
fg="$build/floodgate"
here=$(cd "$(dirname "$0")/../support" && pwd)
work=$(mktemp -d /tmp/fgbench-https.XXXXXX)
mock_pid= srv_pid=
trap 'kill $mock_pid $srv_pid 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

bash "$here/mkcerts.sh" "$work/pki"
"$fg" mock --brokers 1 --topic tls:32 >"$work/mock.out" 2>"$work/mock.log" &
mock_pid=$!
python3 "$here/tls_server.py" --quiet --also-plain --cert "$work/pki/server.pem" \
  --key "$work/pki/server.key" >"$work/srv.out" 2>"$work/srv.log" &
srv_pid=$!
for _ in $(seq 100); do
  grep -q BOOTSTRAP "$work/mock.out" && grep -q PLAIN_PORT "$work/srv.out" && break
  sleep 0.1
done
bs=$(sed -n 's/^BOOTSTRAP=//p' "$work/mock.out")
tls_port=$(sed -n 's/^PORT=//p' "$work/srv.out")
plain_port=$(sed -n 's/^PLAIN_PORT=//p' "$work/srv.out")

echo "producing $count events to tls (32 partitions)..."
"$fg" burst -b "$bs" -t tls --count "$count" --size 120 --id-prefix tls >/dev/null 2>&1

# What follows measures the daemon with bash builtins only: a forked helper
# (grep, sleep, awk) would add its own CPU to the children's times.
exec 7<> <(:) # a pipe nobody writes: read -t on it is a sleep

# The children's user and system time of this shell ("XmY.YYYs XmY.YYYs",
# the second line of bash's times) into the named variable.
children_times() {
  local -n out=$1
  local line
  times >"$work/times"
  { read -r line; read -r out; } <"$work/times"
}

# The user + system clock ticks a live process has used so far.
proc_ticks() {
  local -a f
  read -r -a f <"/proc/$1/stat" # the daemon's name has no spaces
  echo $(( f[13] + f[14] ))
}

log_says() { # file needle
  local line
  while IFS= read -r line; do [[ $line == *"$2"* ]] && return 0; done <"$1"
  return 1
}

run() { # name url [tls yaml] -> "rate cpu_us_per_event"
  local name=$1 url=$2 tls=${3:-} secs pid before after ticks
  cat >"$work/$name.yaml" <<YAML
kafka:
  brokers: "$bs"
  group_id: "bench-$name-$RANDOM$RANDOM"
  topics: [tls]
workers:
  size: 4
  batch_max: 500
sink:
  type: http
  url: "$url"
  format: ndjson
  batch: {max_messages: 500}
$tls
metrics:
  listen: "off"
YAML
  # The daemon's CPU from its partition assignment (the first fetch) to
  # its exit: start-up and the group join, the same for both, stay out.
  children_times before
  "$fg" run -c "$work/$name.yaml" --until-drained 2>"$work/$name.log" &
  pid=$!
  until log_says "$work/$name.log" "assigned"; do read -r -t 0.005 -u 7 || true; done
  ticks=$(proc_ticks "$pid")
  wait "$pid"
  children_times after
  secs=$(sed -n 's/.*from the first message to the last outcome: \([0-9.]*\) s.*/\1/p' "$work/$name.log")
  awk -v n="$count" -v s="$secs" -v b="$before" -v a="$after" -v t="$ticks" \
      -v hz="$(getconf CLK_TCK)" '
    function secs(x,   p) { split(x, p, "m"); sub("s", "", p[2]); return p[1] * 60 + p[2] }
    BEGIN { split(b, B, " "); split(a, A, " ")
            cpu = secs(A[1]) + secs(A[2]) - secs(B[1]) - secs(B[2]) - t / hz
            printf "%.0f %.3f\n", (s > 0 ? n / s : 0), cpu / n * 1e6 }'
}

declare -A rates cpus
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
tls_yaml="  tls:
    ca_file: $work/pki/ca.pem"
for r in $(seq "$rounds"); do
  echo "round $r/$rounds..."
  read -r a b < <(run http "http://127.0.0.1:$plain_port/ingest"); rates[http]+="$a "; cpus[http]+="$b "
  read -r a b < <(run https "https://localhost:$tls_port/ingest" "$tls_yaml")
  rates[https]+="$a "; cpus[https]+="$b "
done
kill -TERM "$srv_pid"
wait "$srv_pid" 2>/dev/null || true
srv_pid=

http_cpu=$(median "${cpus[http]}")
https_cpu=$(median "${cpus[https]}")
printf '\nmedian of %s rounds, %s events each, ndjson batches of 500, 4 workers\n' "$rounds" "$count"
printf '%-34s %10s %18s\n' "run" "msgs/s" "CPU us per event"
printf '%-34s %10s %18s\n' "http sink, plain HTTP" "$(median "${rates[http]}")" "$http_cpu"
printf '%-34s %10s %18s\n' "http sink, HTTPS (TLS 1.3)" "$(median "${rates[https]}")" "$https_cpu"
printf '\nHTTPS/HTTP CPU per event: %.2fx (goal <= 1.3x)\n' \
  "$(awk -v a="$https_cpu" -v b="$http_cpu" 'BEGIN { print a / b }')"
printf 'all rounds: CPU us/event http %s| https %s; msgs/s http %s| https %s\n' \
  "${cpus[http]}" "${cpus[https]}" "${rates[http]}" "${rates[https]}"
printf 'server: %s\n' "$(tail -1 "$work/srv.out")"
exit 0
