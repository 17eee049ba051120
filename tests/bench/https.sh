#!/usr/bin/env bash
# The HTTPS benchmark (part of make bench; alone: make bench-https): the same
# burst of ~120-byte JSON events drained into the http sink as ndjson
# batches of 500, once over plain HTTP and once over HTTPS (TLS 1.3, a
# throwaway P-256 PKI), to the same local server (tests/support/tls_server.py,
# one process listening for both), alternating, ROUNDS times (default 3).
# Reports the median throughput and CPU time per event of the daemon (user +
# system, from bash's time of `floodgate run --until-drained`) and the
# HTTPS/HTTP ratio; the goal is <= 1.3x CPU per event. Prints figures;
# asserts nothing.
#
#   tests/bench/https.sh BUILD_DIR [COUNT]
set -euo pipefail
build=${1:-build}
count=${2:-${HTTPS_COUNT:-300000}}
rounds=${ROUNDS:-3}
fg="$build/floodgate"
here=$(cd "$(dirname "$0")/../support" && pwd)
work=$(mktemp -d /tmp/fgbench-https.XXXXXX)
mock_pid= srv_pid=
trap 'kill $mock_pid $srv_pid 2>/dev/null || true; rm -rf "$work"' EXIT

bash "$here/mkcerts.sh" "$work/pki"
"$fg" mock --brokers 1 --topic tls:16 >"$work/mock.out" 2>"$work/mock.log" &
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

echo "producing $count events to tls (16 partitions)..."
"$fg" burst -b "$bs" -t tls --count "$count" --size 120 --id-prefix tls >/dev/null 2>&1

run() { # name url [tls yaml] -> "rate cpu_us_per_event"
  local name=$1 url=$2 tls=${3:-} secs cpu
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
  TIMEFORMAT='%U %S'
  cpu=$( { time "$fg" run -c "$work/$name.yaml" --until-drained 2>"$work/$name.log"; } 2>&1 )
  secs=$(sed -n 's/.*from the first message to the last outcome: \([0-9.]*\) s.*/\1/p' "$work/$name.log")
  awk -v n="$count" -v s="$secs" -v c="$cpu" 'BEGIN {
    split(c, t, " "); printf "%.0f %.3f\n", (s > 0 ? n / s : 0), (t[1] + t[2]) / n * 1e6 }'
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
