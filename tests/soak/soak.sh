#!/usr/bin/env bash
# soak.sh: floodgate under a steady stream for a long time, watched for
# leaks. `make soak` runs it; usage: soak.sh FLOODGATE_BIN OUTDIR
#
# It starts a mock Kafka cluster (`floodgate mock`), a continuous producer
# (`floodgate burst --rate SOAK_RATE`) and the daemon with a file sink whose
# output is rotated every SOAK_ROTATE seconds (rename, SIGHUP, count the
# lines, delete), so reloads and sink reopens are soaked too. Every
# SOAK_INTERVAL seconds it scrapes /metrics: RSS, open fds, threads,
# consumed, ok, queue depth and total lag. After SOAK_SECONDS the producer
# stops, the daemon drains and stops (SIGTERM), and the verdict compares:
#   - RSS: mean of the last third of the samples after warm-up
#     (SOAK_WARMUP seconds) minus the mean of the first third, under
#     SOAK_RSS_GROWTH_KIB;
#   - fds and threads: flat after warm-up (max - min within
#     SOAK_FD_SLACK / SOAK_THREAD_SLACK);
#   - no lost events: what the producer had acknowledged == the daemon's ok
#     counter == the lines written to the (rotated) output files; exit 0.
# The samples go to OUTDIR/soak.csv and are printed as a table; the exit
# status is 0 only if every check passed.
#
# Needs bash, coreutils, grep, sed, awk; curl if present, else bash's
# /dev/tcp.
set -u

BIN=${1:?usage: soak.sh FLOODGATE_BIN OUTDIR}
OUT=${2:?usage: soak.sh FLOODGATE_BIN OUTDIR}
SOAK_SECONDS=${SOAK_SECONDS:-600}
SOAK_INTERVAL=${SOAK_INTERVAL:-10}
# The mock finds a fetch's offset by walking the partition's message sets
# from the oldest (librdkafka 2.0.2: "FIXME: Maintain an index"), and it
# keeps ~5 MiB a partition. At a steady low rate each message set holds one
# event, so its CPU grows with rate x (5 MiB / event size): small events at
# 2000/s saturate it within a minute and it falls behind, deleting unread
# data. These defaults keep it at a fraction of a core.
SOAK_RATE=${SOAK_RATE:-1000}
SOAK_SIZE=${SOAK_SIZE:-1024}
SOAK_PARTITIONS=${SOAK_PARTITIONS:-4}
SOAK_ROTATE=${SOAK_ROTATE:-60}
SOAK_WARMUP=${SOAK_WARMUP:-60}
SOAK_RSS_GROWTH_KIB=${SOAK_RSS_GROWTH_KIB:-4096}
SOAK_FD_SLACK=${SOAK_FD_SLACK:-2}
SOAK_THREAD_SLACK=${SOAK_THREAD_SLACK:-0}
SOAK_DRAIN_SECONDS=${SOAK_DRAIN_SECONDS:-120}

# Short runs (a smoke test) keep some samples after the warm-up.
if (( SOAK_WARMUP * 2 > SOAK_SECONDS )); then SOAK_WARMUP=$(( SOAK_SECONDS / 4 )); fi

mkdir -p "$OUT" || exit 1
rm -f "$OUT"/*.log "$OUT"/out.jsonl* "$OUT"/soak.csv
CSV=$OUT/soak.csv
SINK=$OUT/out.jsonl
CFG=$OUT/soak.yaml
MOCK_LOG=$OUT/mock.log
BURST_LOG=$OUT/burst.log
DAEMON_LOG=$OUT/daemon.log

mock_pid= burst_pid= daemon_pid=
# SIGTERM, then SIGKILL after $2 seconds.
stop() {
        local pid=$1 deadline=$(( SECONDS + $2 ))
        [ -n "$pid" ] || return 0
        kill -TERM "$pid" 2>/dev/null
        while kill -0 "$pid" 2>/dev/null && (( SECONDS < deadline )); do
                sleep 0.2
        done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
}

# The producer and the daemon stop first, so that they flush and commit
# into a cluster that is still there. Bounded: a daemon whose cluster is
# gone may not stop by itself (Ctrl-C reaches the mock too).
cleanup() {
        stop "$burst_pid" 70
        stop "$daemon_pid" 45
        stop "$mock_pid" 10
}
trap cleanup EXIT
trap 'echo "soak: interrupted"; exit 130' INT TERM

die() {
        echo "soak: $*" >&2
        for f in "$DAEMON_LOG" "$BURST_LOG" "$MOCK_LOG"; do
                [ -f "$f" ] && { echo "---- tail of $f"; tail -n 20 "$f"; }
        done >&2
        exit 1
}

# Waits up to $1 seconds for command $2... to succeed.
wait_for() {
        local deadline=$(( SECONDS + $1 )); shift
        until "$@"; do
                (( SECONDS >= deadline )) && return 1
                sleep 0.2
        done
}

# GET http://127.0.0.1:$port$1, body on stdout.
http_get() {
        if command -v curl >/dev/null 2>&1; then
                curl -sf --max-time 5 "http://127.0.0.1:$port$1"
        else
                local body
                exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
                printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$1" >&3
                body=$(timeout 5 cat <&3)
                exec 3<&-
                printf '%s\n' "$body" | sed '1,/^\r*$/d'
        fi
}

# One sample of the metrics soak watches: "rss_kib fds threads consumed ok
# queue lag", or nothing when the scrape failed.
sample() {
        http_get /metrics | awk '
                $1 == "floodgate_process_resident_memory_bytes" { rss = $2 }
                $1 == "floodgate_process_open_fds"              { fds = $2 }
                $1 == "floodgate_process_threads"               { thr = $2 }
                $1 == "floodgate_messages_consumed_total"       { con = $2 }
                $1 == "floodgate_messages_processed_total{outcome=\"ok\"}" { ok = $2 }
                $1 == "floodgate_queue_depth"                   { q = $2 }
                $1 == "floodgate_consumer_total_lag"            { lag = $2 }
                END {
                        if (rss == "" || ok == "") exit 1
                        printf "%d %d %d %d %d %d %d\n", rss / 1024, fds, thr, con, ok, q, lag
                }'
}

# ---- start: mock cluster, daemon, producer ----
"$BIN" mock --brokers 3 --topic "events:$SOAK_PARTITIONS" >"$MOCK_LOG" 2>&1 &
mock_pid=$!
wait_for 30 grep -q '^BOOTSTRAP=' "$MOCK_LOG" || die "the mock cluster did not start"
BOOTSTRAP=$(sed -n 's/^BOOTSTRAP=//p' "$MOCK_LOG" | head -n 1)

cat >"$CFG" <<EOF
kafka:
  brokers: "$BOOTSTRAP"
  group_id: soak
  topics: [events]
workers: {size: 4}
sink: {type: file, path: "$SINK"}
metrics: {listen: "127.0.0.1:0", log_interval: 60s}
shutdown: {timeout: 30s}
EOF

"$BIN" run -c "$CFG" >"$DAEMON_LOG" 2>&1 &
daemon_pid=$!
wait_for 30 grep -q 'running: group' "$DAEMON_LOG" || die "the daemon did not start"
port=$(sed -n 's/.*readyz on [0-9.]*:\([0-9]*\).*/\1/p' "$DAEMON_LOG" | head -n 1)
[ -n "$port" ] || die "no metrics port in $DAEMON_LOG"

"$BIN" burst -b "$BOOTSTRAP" -t events --rate "$SOAK_RATE" --count 1000000000 \
        --size "$SOAK_SIZE" --id-prefix soak >"$BURST_LOG" 2>&1 &
burst_pid=$!

echo "soak: $SOAK_SECONDS s at $SOAK_RATE events/s ($SOAK_SIZE B, $SOAK_PARTITIONS partitions)," \
     "sampling every $SOAK_INTERVAL s, rotating the output every $SOAK_ROTATE s;" \
     "daemon pid $daemon_pid, metrics on 127.0.0.1:$port"

# ---- the soak: sample, rotate ----
rotated_lines=0 rotations=0
rotate() {
        local applied
        applied=$(grep -c 'reload: .* applied' "$DAEMON_LOG")
        mv "$SINK" "$SINK.1" || return 1
        kill -HUP "$daemon_pid"
        # The reopen is done once the reload is logged; nothing is written
        # to the old file after that.
        wait_for 10 eval '(( $(grep -c "reload: .* applied" "$DAEMON_LOG") > applied ))' ||
                die "SIGHUP was not applied"
        rotated_lines=$(( rotated_lines + $(wc -l <"$SINK.1") ))
        rm -f "$SINK.1"
        rotations=$(( rotations + 1 ))
}

echo "t_s,rss_kib,fds,threads,consumed,ok,queue_depth,lag" >"$CSV"
printf '%7s %9s %5s %7s %12s %12s %7s %8s\n' t_s rss_MiB fds threads consumed ok queue lag
t0=$SECONDS next_sample=0 next_rotate=$SOAK_ROTATE
while :; do
        t=$(( SECONDS - t0 ))
        if (( t >= next_sample )); then
                kill -0 "$daemon_pid" 2>/dev/null || die "the daemon died"
                s=$(sample) || die "GET /metrics failed at ${t}s"
                read -r rss fds thr con ok q lag <<<"$s"
                echo "$t,$rss,$fds,$thr,$con,$ok,$q,$lag" >>"$CSV"
                printf '%7d %9.1f %5d %7d %12d %12d %7d %8d\n' "$t" \
                        "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$fds" "$thr" "$con" "$ok" "$q" "$lag"
                next_sample=$(( next_sample + SOAK_INTERVAL ))
        fi
        (( t >= SOAK_SECONDS )) && break
        if (( SOAK_ROTATE > 0 && t >= next_rotate )); then
                rotate || die "rotation failed"
                next_rotate=$(( next_rotate + SOAK_ROTATE ))
        fi
        sleep 0.5
done

# ---- stop the producer, let the daemon drain ----
kill -TERM "$burst_pid"
wait "$burst_pid"
burst_rc=$? burst_pid=
produced=$(sed -n 's/.*delivered=\([0-9]*\).*/\1/p' "$BURST_LOG" | tail -n 1)
failed=$(sed -n 's/.*failed=\([0-9]*\).*/\1/p' "$BURST_LOG" | tail -n 1)
[ -n "$produced" ] || die "the producer printed no totals (exit $burst_rc)"

drained() {
        local s
        s=$(sample) || return 1
        read -r _ _ _ _ ok _ _ <<<"$s"
        (( ok >= produced ))
}
wait_for "$SOAK_DRAIN_SECONDS" drained
s=$(sample) || die "GET /metrics failed after the producer stopped"
read -r _ _ _ consumed ok _ _ <<<"$s"

kill -TERM "$daemon_pid"
wait "$daemon_pid"
daemon_rc=$? daemon_pid=
lines=$(( rotated_lines + $(wc -l <"$SINK") ))

# ---- verdict ----
verdict=$(awk -F, -v warm="$SOAK_WARMUP" -v growth="$SOAK_RSS_GROWTH_KIB" \
              -v fdslack="$SOAK_FD_SLACK" -v thrslack="$SOAK_THREAD_SLACK" '
        BEGIN { n = 0 }
        NR > 1 && $1 >= warm { t[n] = $1; rss[n] = $2; fds[n] = $3; thr[n] = $4; n++ }
        function mean(a, from, to,   i, s) { s = 0; for (i = from; i < to; i++) s += a[i]; return s / (to - from) }
        function lo(a,   i, m) { m = a[0]; for (i = 1; i < n; i++) if (a[i] < m) m = a[i]; return m }
        function hi(a,   i, m) { m = a[0]; for (i = 1; i < n; i++) if (a[i] > m) m = a[i]; return m }
        END {
                if (n < 3) { print "FAIL too few samples after the warm-up (" n ")"; exit }
                third = int(n / 3)
                first = mean(rss, 0, third); last = mean(rss, n - third, n)
                printf "%s rss: first third %.1f MiB, last third %.1f MiB, growth %+.0f KiB (limit %d KiB; %d samples after %d s)\n",
                        (last - first < growth ? "ok  " : "FAIL"), first / 1024, last / 1024, last - first, growth, n, warm
                printf "%s fds: %d..%d (slack %d)\n", (hi(fds) - lo(fds) <= fdslack ? "ok  " : "FAIL"), lo(fds), hi(fds), fdslack
                printf "%s threads: %d..%d (slack %d)\n", (hi(thr) - lo(thr) <= thrslack ? "ok  " : "FAIL"), lo(thr), hi(thr), thrslack
        }' "$CSV")
echo
echo "soak: $SOAK_SECONDS s, $rotations rotations; samples in $CSV"
echo "$verdict"
status=0
grep -q '^FAIL' <<<"$verdict" && status=1
if [ "$ok" = "$produced" ] && [ "$lines" = "$produced" ] && [ "${failed:-1}" = 0 ]; then
        echo "ok   events: produced $produced, consumed $consumed, ok $ok, lines written $lines"
else
        echo "FAIL events: produced $produced (failed ${failed:-?}), consumed $consumed, ok $ok, lines written $lines"
        status=1
fi
if [ "$daemon_rc" = 0 ]; then
        echo "ok   daemon exit 0 after SIGTERM"
else
        echo "FAIL daemon exit $daemon_rc after SIGTERM"
        status=1
fi
# The mock keeps ~5 MiB a partition and deletes older data even when it
# was never read; a consumer that falls that far behind skips ahead (an
# offset reset). Those events are lost in the mock, not by floodgate, and
# the backlog that preceded them also inflates RSS (librdkafka's prefetch
# fills up to queued.max.messages.kbytes): say so rather than leave a
# misleading verdict.
resets=$(grep -c 'offset reset' "$DAEMON_LOG")
maxlag=$(awk -F, 'NR > 1 && $8 > m { m = $8 } END { print m + 0 }' "$CSV")
if (( resets > 0 )); then
        echo "note the consumer fell behind the mock's retention ($resets offset resets in" \
             "$DAEMON_LOG, peak lag $maxlag): the mock deleted unread events. The mock" \
             "answers one message set per partition per fetch, so on a busy machine it" \
             "cannot keep up; run again on a quieter machine or with a lower SOAK_RATE."
elif (( maxlag > SOAK_RATE * 10 )); then
        echo "note the pipeline fell behind (peak lag $maxlag): RSS then includes" \
             "librdkafka's prefetched backlog."
fi
echo "soak: $([ $status = 0 ] && echo PASSED || echo FAILED)"
exit $status
