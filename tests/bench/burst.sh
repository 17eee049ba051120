#!/usr/bin/env bash
# The viral-burst benchmark (make bench-burst): a topic goes viral while
# floodgate consumes it, and we watch what the daemon does, every 250 ms.
#
# Each run gets a fresh mock cluster in its own process (3 brokers) and a
# fresh daemon with the DEFAULT configuration except the sink, the pool
# mode, metrics.listen (127.0.0.1:0) and one consumer property,
# fetch.wait.max.ms = 10 (BURST_FETCH_WAIT_MS): a broker answers a fetch
# as soon as data arrives, but the mock holds an empty fetch for the whole
# fetch.wait.max.ms even when data comes in meanwhile (librdkafka's
# rdkafka_mock_handlers.c says so), so with the default 500 ms every event
# that lands during such a hold waits up to 500 ms in the bench only. Once
# the daemon holds its partitions, `floodgate burst` produces ~120-byte
# JSON while it consumes:
#   profile A: 2,000 events/s for 20 s, 50,000/s for 20 s, 2,000/s for 20 s
#              (1.08M events over 48 partitions), without message keys: the
#              sticky partitioner fills one partition's batch at a time, as
#              a keyless firehose does. Keyed events spread over every
#              partition make ~50x more, smaller message sets, and the mock
#              (one thread, which walks a partition's message sets from the
#              first on every fetch) then spent a whole core and fell up to
#              22,000 events behind the producer at 50k/s;
#   profile B: the same, the spike at the producer's maximum rate, keyed
#              (10,000 keys) over 192 partitions, so that even 5M events
#              spread evenly enough to stay under the mock's ~5 MiB a
#              partition (beyond that it deletes the oldest data).
# Sinks: null; http (ndjson, a request per worker batch: up to 256) against
# tests/bench/httpsink answering after 1 ms; "outage": the same with the
# downstream answering 503 for 5 s in the middle of the spike (the default
# breaker). Pools: fixed (default: 4 threads), dynamic (min 2, max 64).
# That is 2 x 3 x 2 = 12 runs; BURST_RUNS picks them (default: all). After
# the producer stops, a run waits up to 10 x the spike for the daemon to
# finish every event.
#
# tests/bench/stats_sampler reads /stats every 250 ms into
# BURST_OUT/<run>.csv (logs in BURST_OUT/<run>/); gnuplot (tests/bench/burst.gp)
# draws BURST_DOCS/<run>.png; the summary is printed and written to
# BURST_DOCS/summary.md. Definitions (S/E: spike start/end, in seconds from
# the producer's start):
#   peak         highest processed/s (rates.ok.1s) of the run
#   sustained    median processed/s over the samples in [S+1 s, E] (the 1 s
#                rate window entirely inside the spike)
#   scaled       when the pool first held >= 90% of its largest size during
#                the spike (S for a fixed pool)
#   p99 spike    the highest 10-s-window p99 end-to-end (Kafka timestamp to
#                sink acknowledgement) among samples in [scaled + 10 s, E],
#                i.e. over events that completed after the pool had scaled;
#                when the spike is too short for that (BURST_SCALE < 1), the
#                sample nearest E, marked "*". The queue-wait and sink-call
#                p99s of the same samples show floodgate's own share.
#   p99 baseline the window ending at S
#   mock backlog the most events the producer had handed to librdkafka that
#                the mock had not acknowledged yet: their timestamps run
#                already, so on a busy machine this shows in end-to-end
#   drain        from E until lag first falls to max(1.5 x the highest lag of
#                the second half of the first baseline, 1 s of baseline)
#   peak RSS     the daemon's own peak (getrusage, in its exit summary); the
#                target (<= 64 MiB with the default config) is judged on
#                the fixed-pool runs, the default pool
#   lost / dups  null: produced (acknowledged by the mock) vs the ok
#                counter; http: produced vs distinct ids httpsink answered
#                2xx (httpsink --ids), dups = ids delivered more than once
# After the run named by BURST_REF_RUN (default B-null-fixed, else the
# first null run done; "none": skip), with its mock still up, the reference consumer
# (tests/bench/refconsumer) drains that run's whole topic under a new
# group, and so does floodgate (null sink, --until-drained): the raw
# ceiling, and floodgate's drain rate of the same volume.
#
# It reports figures; it asserts nothing. The machine is shared: compare
# ratios, and rerun what looks odd.
#
#   tests/bench/burst.sh [BUILD_DIR]
# Environment:
#   BURST_SCALE=F    multiply every phase by F (0.25: 5 s phases, to try the
#                    harness; the outage is 5 s x F, at least 1 s). Above 1,
#                    profile A outgrows what the mock keeps of a partition
#                    (at 3, it deleted 15,225 unread events behind the
#                    outage; the run's note says so)
#   BURST_RUNS="..." runs to do, as shell patterns over PROFILE-SINK-POOL
#                    names (A-null-fixed ... B-outage-dynamic); default
#                    "*", all 12 (~25 min); e.g. "A-*" for profile A
#   BURST_PARTITIONS_A=N, BURST_PARTITIONS_B=N
#                    partitions of each profile's topic (default 48, 192)
#   BURST_FETCH_WAIT_MS=N  the daemon's fetch.wait.max.ms (default 10;
#                    "default": leave librdkafka's 500 ms)
#   BURST_KEYS=N     message keys for both profiles (0: none; default: A
#                    none, B 10000)
#   BURST_KAFKA_PROPERTIES="..."
#                    YAML lines added under the daemon's kafka.properties,
#                    to try a tuning against the same profile, e.g.
#                    '    queued.min.messages: "20000"'
#   BURST_OUT=DIR    CSVs and logs (default build/bench-burst)
#   BURST_DOCS=DIR   PNGs and summary.md (default docs/bench; with the default,
#                    the summary also replaces the table between the
#                    burst-summary markers in README.md)
set -euo pipefail
build=${1:-build}
scale=${BURST_SCALE:-1}
runs_wanted=${BURST_RUNS:-*}
out=${BURST_OUT:-build/bench-burst}
docs=${BURST_DOCS:-docs/bench}
ref_run=${BURST_REF_RUN:-B-null-fixed}
fetch_wait=${BURST_FETCH_WAIT_MS:-10}
here=$(cd "$(dirname "$0")" && pwd)
fg="$build/floodgate"
sampler="$build/bench/stats_sampler"
httpsink="$build/bench/httpsink"
ref="$build/bench/refconsumer"

base_rate=2000
spike_rate_a=50000
window_s=10 # the daemon's latency window (admin.h)
fmt() { awk "BEGIN { printf \"%g\", $1 }"; } # an arithmetic expression
base_s=$(fmt "20 * $scale")
spike_s=$(fmt "20 * $scale")
after_s=$(fmt "20 * $scale")
outage_s=$(awk -v f="$scale" 'BEGIN { o = 5 * f; printf "%g", o < 1 ? 1 : o }')
# How long to wait after the profile for the daemon to finish every event.
drain_timeout=$(awk -v s="$spike_s" 'BEGIN { t = 10 * s; printf "%d", t < 30 ? 30 : t }')

for b in "$fg" "$sampler" "$httpsink" "$ref"; do
        [ -x "$b" ] || { echo "burst.sh: $b missing (make bench-burst builds it)" >&2; exit 1; }
done
command -v gnuplot >/dev/null || { echo "burst.sh: gnuplot missing (apt-get install gnuplot-nox)" >&2; exit 1; }
mkdir -p "$out" "$docs"

# Processes of the current run, stopped on any exit, the last started
# first (the daemon before its mock cluster).
pids=()
cleanup() {
        local i
        for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop "${pids[i]}" 10; done
        pids=()
}
trap cleanup EXIT
forget() { # pid: reaped, so never signalled again (its number may be reused)
        local i
        for i in "${!pids[@]}"; do [ "${pids[i]}" = "$1" ] && unset 'pids[i]'; done
        pids=("${pids[@]}")
}
alive() { # pid: running, not a zombie
        [ -e "/proc/$1" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null
}
stop() { # pid [seconds]: TERM, and KILL what still runs after that long
        local i
        kill "$1" 2>/dev/null || { forget "$1"; return 0; }
        for ((i = 0; i < ${2:-60} * 10; i++)); do
                alive "$1" || break
                sleep 0.1
        done
        if alive "$1"; then
                echo "burst.sh: $(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) ignored SIGTERM for ${2:-60} s: killed" >&2
                kill -KILL "$1" 2>/dev/null || true
        fi
        wait "$1" 2>/dev/null || true
        forget "$1"
}

wait_for() { # file regex seconds -> the first matching line
        local i
        for ((i = 0; i < $3 * 10; i++)); do
                grep -m1 -E "$2" "$1" 2>/dev/null && return 0
                sleep 0.1
        done
        echo "burst.sh: timed out waiting for /$2/ in $1" >&2
        return 1
}

http_status() { # port path -> status code (empty if unreachable)
        local line=
        { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 0
        printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
        read -r line <&3 || true
        exec 3<&-
        set -- $line
        echo "${2:-}"
}

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
last_field() { # csv column -> the value in the last row
        tail -n 1 "$1" | cut -d, -f"$2"
}

# ---- the summary of one run, from its CSV ----
# Prints: sustained peak scaled_s p99 p99_flag drain_s max_rss_csv workers_max
#         base_p99 qwait_p99 sink_p99
summarize() { # csv off
        awk -F, -v off="$2" -v S="$base_s" -v E="$(fmt "$base_s + $spike_s")" \
            -v W="$window_s" -v base_rate="$base_rate" '
        NR == 1 { next }
        {
                n++; t[n] = $1 - off; proc[n] = $3; wk[n] = $6; lag[n] = $10; p99[n] = $12; qw[n] = $18; sk[n] = $19
                if ($3 != "" && $3 + 0 > peak) peak = $3 + 0
                if ($13 != "" && $13 + 0 > rss) rss = $13 + 0
                if (t[n] >= S && t[n] <= E && $6 != "" && $6 + 0 > wmax) wmax = $6 + 0
                if (t[n] >= S / 2 && t[n] < S && $10 != "" && $10 + 0 > blag) blag = $10 + 0
                if (t[n] >= S + 1 && t[n] <= E && $3 != "") sus[++ns] = $3 + 0
        }
        END {
                # sustained: the median
                for (i = 2; i <= ns; i++) { v = sus[i]; for (j = i - 1; j >= 1 && sus[j] > v; j--) sus[j + 1] = sus[j]; sus[j + 1] = v }
                sustained = ns ? (ns % 2 ? sus[(ns + 1) / 2] : (sus[ns / 2] + sus[ns / 2 + 1]) / 2) : 0
                scaled = S
                for (i = 1; i <= n; i++)
                        if (t[i] >= S && t[i] <= E && wk[i] != "" && wk[i] + 0 >= 0.9 * wmax) { scaled = t[i]; break }
                p99max = -1; qwmax = -1; skmax = -1; flag = ""
                for (i = 1; i <= n; i++)
                        if (t[i] >= scaled + W && t[i] <= E && p99[i] != "") {
                                if (p99[i] + 0 > p99max) p99max = p99[i] + 0
                                if (qw[i] != "" && qw[i] + 0 > qwmax) qwmax = qw[i] + 0
                                if (sk[i] != "" && sk[i] + 0 > skmax) skmax = sk[i] + 0
                        }
                if (p99max < 0) { # spike shorter than the pool scale-up + one window
                        best = -1
                        for (i = 1; i <= n; i++)
                                if (p99[i] != "" && t[i] <= E + 0.3 && (best < 0 || E - t[i] < E - t[best])) best = i
                        if (best > 0) { p99max = p99[best] + 0; qwmax = qw[best] + 0; skmax = sk[best] + 0; flag = "*" }
                }
                # the floor: the window ending at the spike start (baseline only)
                bp99 = -1
                for (i = 1; i <= n; i++)
                        if (p99[i] != "" && t[i] <= S && (bp99 < 0 || t[i] > bt)) { bp99 = p99[i] + 0; bt = t[i] }
                thr = 1.5 * blag; if (thr < base_rate) thr = base_rate
                # A producer that reached its event cap stops before E:
                # the lag is then judged from its last sample on.
                from = E < t[n] ? E : t[n]
                drain = -1
                for (i = 1; i <= n; i++)
                        if (t[i] >= from && lag[i] != "" && lag[i] + 0 <= thr) { drain = t[i] > E ? t[i] - E : 0; break }
                printf "%.0f %.0f %.1f %.1f %s %.1f %.1f %d %.1f %.1f %.1f\n", sustained, peak,
                       scaled - S, p99max, flag == "" ? "-" : flag, drain, rss, wmax, bp99, qwmax, skmax
        }' "$1"
}

# ---- one run ----
# Results, by run name.
declare -A R_produced R_prodpeak R_backlog R_sustained R_peak R_scaled R_p99 R_p99flag \
        R_drain R_rss R_lost R_dups R_workers R_bp99 R_qw R_sk R_note
done_runs=()
ref_line=""

run_one() { # name profile sink pool
        local name=$1 profile=$2 sink=$3 pool=$4
        local dir="$out/$name" csv="$out/$name.csv" parts spike_rate count bs url="" port cfg t_sampler t_prod off
        local prod_pid fg_pid sink_pid="" samp_pid mock_pid produced=0 sink_cfg pool_cfg keys props
        local total_s deadline ok lost dups note="" o0=-1 o1=-1
        rm -rf "$dir" && mkdir -p "$dir"
        if [ "$profile" = A ]; then
                parts=${BURST_PARTITIONS_A:-48}
                keys=${BURST_KEYS:-0}
                spike_rate=$spike_rate_a
                count=$(awk -v b="$base_rate" -v s="$spike_rate" -v x="$base_s" -v y="$spike_s" \
                            -v z="$after_s" 'BEGIN { printf "%d", b * (x + z) + s * y }')
        else
                parts=${BURST_PARTITIONS_B:-192}
                keys=${BURST_KEYS:-10000}
                spike_rate=0
                # what the mock keeps: ~5 MiB a partition of ~150-byte events, less a margin
                count=$((parts * 26000))
        fi
        total_s=$(fmt "$base_s + $spike_s + $after_s")
        echo "== $name: profile $profile, $sink sink, $pool pool, $parts partitions"

        "$fg" mock --brokers 3 --topic "burst:$parts" >"$dir/mock.out" 2>"$dir/mock.log" &
        mock_pid=$!
        pids+=("$mock_pid")
        bs=$(wait_for "$dir/mock.out" '^BOOTSTRAP=' 10 | sed 's/^BOOTSTRAP=//')

        case $sink in
        null) sink_cfg="  type: null" ;;
        http | outage)
                local fail=()
                if [ "$sink" = outage ]; then
                        o0=$(fmt "$base_s + ($spike_s - $outage_s) / 2")
                        o1=$(fmt "$o0 + $outage_s")
                        fail=(--fail-at "$o0" --fail-for "$outage_s" --fail-status 503)
                fi
                "$httpsink" --latency-ms 1 --ids "$name" "${fail[@]}" >"$dir/httpsink.out" \
                        2>"$dir/httpsink.log" &
                sink_pid=$!
                pids+=("$sink_pid")
                url=$(wait_for "$dir/httpsink.out" '^URL=' 10 | sed 's/^URL=//')
                sink_cfg="  type: http
  url: \"${url}ingest\"
  format: ndjson"
                ;;
        esac
        if [ "$pool" = dynamic ]; then
                pool_cfg="workers:
  mode: dynamic
  min: 2
  max: 64"
        else
                pool_cfg=""
        fi
        props=${BURST_KAFKA_PROPERTIES:-}
        [ "$fetch_wait" != default ] && props="    fetch.wait.max.ms: \"$fetch_wait\"
$props"
        [ -n "$props" ] && props="  properties:
$props"
        cfg="$dir/floodgate.yaml"
        cat >"$cfg" <<YAML
kafka:
  brokers: "$bs"
  group_id: "burst-$name"
  topics: [burst]
$props
sink:
$sink_cfg
$pool_cfg
metrics:
  listen: "127.0.0.1:0"
YAML
        "$fg" run -c "$cfg" 2>"$dir/floodgate.log" &
        fg_pid=$!
        pids+=("$fg_pid")
        port=$(wait_for "$dir/floodgate.log" 'serving /metrics' 15 | sed 's/.*:\([0-9]*\)$/\1/')
        for _ in $(seq 300); do
                [ "$(http_status "$port" /readyz)" = 200 ] && break
                sleep 0.1
        done

        "$sampler" "http://127.0.0.1:$port" "$csv" 2>"$dir/sampler.log" &
        samp_pid=$!
        pids+=("$samp_pid")
        t_sampler=$(now)
        sleep 1
        t_prod=$(now)
        "$fg" burst -b "$bs" -t burst --rate "$base_rate" \
                --spike "${base_s}s:${spike_s}s:$spike_rate" --count "$count" --size 120 \
                --keys "$keys" --id-prefix "$name" >"$dir/producer.out" 2>"$dir/producer.log" &
        prod_pid=$!
        pids+=("$prod_pid")
        off=$(awk -v a="$t_sampler" -v b="$t_prod" 'BEGIN { printf "%.3f", b - a }')

        if [ "$profile" = B ]; then
                # The unlimited spike never reaches the count: stop the
                # producer when the profile ends (it flushes what it made).
                while kill -0 "$prod_pid" 2>/dev/null &&
                        awk -v e="$(elapsed "$t_prod")" -v T="$total_s" 'BEGIN { exit !(e < T) }'; do
                        sleep 0.2
                done
                kill -TERM "$prod_pid" 2>/dev/null || true
        fi
        wait "$prod_pid" || note="producer failed; "
        forget "$prod_pid"
        produced=$(sed -n 's/.*delivered=\([0-9]*\).*/\1/p' "$dir/producer.out")
        produced=${produced:-0}
        if [ "$profile" = B ] && [ "$produced" -ge "$count" ]; then
                note+="the producer hit its cap of $count events before the profile ended; "
        fi
        if [ "$profile" = A ] &&
                awk -v e="$(sed -n 's/.*elapsed=\([0-9.]*\)s.*/\1/p' "$dir/producer.out")" -v T="$total_s" \
                        'BEGIN { exit !(e > T + 2) }'; then
                note+="the producer fell behind its schedule (took $(sed -n 's/.*elapsed=\([0-9.]*s\).*/\1/p' "$dir/producer.out")); "
        fi
        # Wait for the daemon to finish every produced event, then a little
        # longer so the plots show it settle and the lag statistics catch up.
        deadline=$(awk -v a="$(elapsed "$t_prod")" -v d="$drain_timeout" 'BEGIN { print a + d }')
        while :; do
                ok=$(last_field "$csv" 14)
                [ -n "$ok" ] && [ "$ok" -ge "$produced" ] && break
                awk -v e="$(elapsed "$t_prod")" -v d="$deadline" 'BEGIN { exit !(e >= d) }' && {
                        note+="not drained after ${drain_timeout} s; "
                        break
                }
                sleep 0.25
        done
        sleep 3
        stop "$fg_pid" 60
        stop "$samp_pid"
        # The mock keeps ~5 MiB a partition and deletes the oldest beyond
        # that, read or not; the consumer then resets to what is left.
        grep -q 'Offset out of range' "$dir/floodgate.log" &&
                note+="the mock deleted unread events (it keeps ~5 MiB a partition; floodgate.log has the offset resets), so some could never be consumed; "
        if [ -n "$sink_pid" ]; then stop "$sink_pid"; fi

        # Results.
        local sustained peak scaled p99 flag drain rss_csv wmax bp99 qw sk fg_ok fg_rss prodpeak backlog
        read -r sustained peak scaled p99 flag drain rss_csv wmax bp99 qw sk \
                < <(summarize "$csv" "$off")
        fg_ok=$(sed -n 's/.*summary: consumed [0-9]*, ok \([0-9]*\),.*/\1/p' "$dir/floodgate.log")
        fg_rss=$(sed -n 's/.*peak RSS \([0-9.]*\) MiB.*/\1/p' "$dir/floodgate.log")
        prodpeak=$(sed -n 's/.*burst: produced [0-9]* (\([0-9]*\)\/s).*/\1/p' "$dir/producer.log" |
                sort -n | tail -1)
        # Events the producer had handed to librdkafka but the mock had not
        # yet acknowledged: its own backlog, which counts in end-to-end
        # latency (the Kafka timestamp is taken at produce time).
        backlog=$(sed -n 's/.*burst: produced \([0-9]*\) .*delivered \([0-9]*\).*/\1 \2/p' \
                "$dir/producer.log" | awk '$1 - $2 > m { m = $1 - $2 } END { print m + 0 }')
        if [ "$profile" = A ] && [ "$backlog" -ge 150000 ]; then
                note+="the mock fell behind the producer ($backlog events unacknowledged; its queue holds 200000), so the spike reached floodgate late and uneven and end-to-end includes that wait; "
        fi
        if [ "$sink" = null ]; then
                fg_ok=${fg_ok:-0}
                lost=$((produced > fg_ok ? produced - fg_ok : 0))
                dups=$((fg_ok > produced ? fg_ok - produced : 0))
        else
                local distinct
                distinct=$(sed -n 's/.*ids_distinct=\([0-9]*\).*/\1/p' "$dir/httpsink.out")
                dups=$(sed -n 's/.*ids_dups=\([0-9]*\).*/\1/p' "$dir/httpsink.out")
                lost=$((produced - ${distinct:-0}))
        fi
        # Stopped with work left: what was not delivered is uncommitted and
        # would be redelivered, so it is not lost, but nothing is proven.
        case $note in *"not drained"*)
                note+="$lost events undelivered when stopped (uncommitted); "
                lost="n/a"
                ;;
        esac
        R_produced[$name]=$produced
        R_prodpeak[$name]=${prodpeak:-0}
        R_backlog[$name]=$backlog
        R_bp99[$name]=$bp99
        R_qw[$name]=$qw
        R_sk[$name]=$sk
        R_sustained[$name]=$sustained
        R_peak[$name]=$peak
        R_scaled[$name]=$scaled
        R_p99[$name]=$p99
        R_p99flag[$name]=$([ "$flag" = "-" ] && echo "" || echo "$flag")
        R_drain[$name]=$drain
        R_rss[$name]=${fg_rss:-$rss_csv}
        R_lost[$name]=$lost
        R_dups[$name]=${dups:-0}
        R_workers[$name]=$wmax
        R_note[$name]=$note
        done_runs+=("$name")
        printf '   produced %s (producer peak %s/s, mock backlog up to %s); sustained %s/s, peak %s/s; p99 e2e baseline %s ms, spike %s ms%s (queue wait %s ms, sink call %s ms); drain %s s; peak RSS %s MiB; lost %s, dups %s %s\n' \
                "$produced" "${prodpeak:-?}" "$backlog" "$sustained" "$peak" "$bp99" "$p99" \
                "${R_p99flag[$name]}" "$qw" "$sk" "$drain" "${R_rss[$name]}" "$lost" "${R_dups[$name]}" "$note"

        # Kept beside the logs, so the plot can be drawn again from the CSV.
        echo "csv='$csv'; png='$docs/$name.png'; off=$off; s0=$base_s; \
s1=$(fmt "$base_s + $spike_s"); o0=$o0; o1=$o1; \
ttl='$name: profile $profile ($([ "$profile" = A ] && echo "2k/s, 50k/s spike" || echo "2k/s, max-rate spike")), $sink sink, $pool pool'" \
                >"$dir/plot.args"
        gnuplot -e "$(cat "$dir/plot.args")" "$here/burst.gp" 2>"$dir/gnuplot.log" ||
                echo "   gnuplot failed: $dir/gnuplot.log"

        if [ -z "$ref_line" ] && [ "$sink" = null ] && [ "$ref_run" != none ] &&
                { [ "$name" = "$ref_run" ] || ! selected "$ref_run"; }; then
                reference "$bs" "$produced" "$dir" "$name"
        fi
        stop "$mock_pid"
        pids=()
}

# The raw ceiling on the same volume, with the run's mock still up.
ref_rate=""
fg_drain_rate=""
ref_count="" ref_src=""
reference() { # bootstrap count dir run
        echo "   reference: draining $2 events of $4 with refconsumer, then floodgate (null sink)"
        ref_rate=$("$ref" "$1" burst "ref-$RANDOM$RANDOM" "$2" |
                sed -n 's/.*ref_rate=\([0-9]*\).*/\1/p')
        cat >"$3/drain.yaml" <<YAML
kafka:
  brokers: "$1"
  group_id: "drain-$RANDOM$RANDOM"
  topics: [burst]
sink:
  type: null
metrics:
  listen: "off"
YAML
        "$fg" run -c "$3/drain.yaml" --until-drained 2>"$3/drain.log"
        fg_drain_rate=$(sed -n 's/.*from the first message to the last outcome: .* (\([0-9]*\) msgs\/s).*/\1/p' \
                "$3/drain.log")
        ref_line="$4"
        ref_count=$2 ref_src=$4
        echo "   reference consumer ${ref_rate:-?} msgs/s; floodgate null drain ${fg_drain_rate:-?} msgs/s"
}

all_runs=()
for p in A B; do
        for s in null http outage; do
                for w in fixed dynamic; do all_runs+=("$p-$s-$w"); done
        done
done
selected() { # name
        local pat -
        set -f # the patterns are for [[ ]], not for the file system
        for pat in $runs_wanted; do
                # shellcheck disable=SC2053
                [[ $1 == $pat ]] && return 0
        done
        return 1
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
echo "burst benchmark: phases ${base_s}/${spike_s}/${after_s} s (BURST_SCALE=$scale), outage ${outage_s} s, load average $load_start"
for r in "${all_runs[@]}"; do
        selected "$r" || continue
        IFS=- read -r p s w <<<"$r"
        run_one "$r" "$p" "$s" "$w"
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
if [ ${#done_runs[@]} = 0 ]; then
        echo "burst.sh: BURST_RUNS='$runs_wanted' selects none of: ${all_runs[*]}" >&2
        exit 64
fi

# ---- the table and the targets ----
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'; }
tidy() { local x=${1# }; echo "${x%;}"; } # " a; b;" -> "a; b"
verdict() { awk -v ok="$1" 'BEGIN { print (ok ? "met" : "**not met**") }'; }
targets() { # the five targets, from the runs done
        local r lost=0 undrained="" rss_max=0 rss_run="" rss_dyn="" p99s="" p99_ok=1 drains="" drain_ok=1
        local sus="" sus_ok=1 twice
        twice=$(fmt "2 * $spike_s")
        for r in "${done_runs[@]}"; do
                case ${R_lost[$r]} in
                n/a) undrained+=" $r" ;;
                *) lost=$((lost + ${R_lost[$r]})) ;;
                esac
                case $r in
                *-dynamic) rss_dyn+=" $r ${R_rss[$r]} MiB;" ;;
                *) if awk -v a="${R_rss[$r]}" -v b="$rss_max" 'BEGIN { exit !(a > b) }'; then
                        rss_max=${R_rss[$r]}
                        rss_run=$r
                fi ;;
                esac
                case $r in
                A-http-*)
                        p99s+=" $r ${R_p99[$r]} ms${R_p99flag[$r]}, of which floodgate's queue wait + sink call p99 ${R_qw[$r]} + ${R_sk[$r]} ms, with up to ${R_backlog[$r]} events waiting in the producer for the mock;"
                        awk -v a="${R_p99[$r]}" 'BEGIN { exit !(a >= 250) }' && p99_ok=0
                        ;;
                esac
                case $r in
                B-*)
                        if [ "${R_drain[$r]%%.*}" = -1 ]; then
                                drains+=" $r not drained;"
                        else
                                drains+=" $r ${R_drain[$r]} s;"
                        fi
                        awk -v a="${R_drain[$r]}" -v b="$twice" 'BEGIN { exit !(a < 0 || a > b) }' && drain_ok=0
                        ;;
                esac
        done
        # Throughput against the raw ceiling: both draining the same backlog
        # (in the spike, processed/s can only follow what the mock hands
        # out, so the sustained column measures the bench as much as
        # floodgate).
        if [ -n "${ref_rate:-}" ] && [ -n "${fg_drain_rate:-}" ]; then
                sus=" $(ratio "$fg_drain_rate" "$ref_rate") ($fg_drain_rate vs $ref_rate msgs/s, draining the $ref_count events of $ref_src)"
                awk -v a="$fg_drain_rate" -v b="$ref_rate" 'BEGIN { exit !(a < 0.9 * b) }' && sus_ok=0
        fi
        echo "Targets, as measured here:"
        echo
        if [ -n "$undrained" ]; then
                echo "- no event lost in any run: **not shown** for${undrained} (stopped before every event was delivered); $lost lost in the others"
        else
                echo "- no event lost in any run: $(verdict "$([ "$lost" = 0 ] && echo 1 || echo 0)") ($lost lost)"
        fi
        [ -n "$rss_run" ] &&
                echo "- peak RSS <= 64 MiB with the default config (the fixed pool): $(verdict "$(awk -v a="$rss_max" 'BEGIN { print a <= 64 }')") (highest: $rss_max MiB, $rss_run)"
        [ -n "$rss_dyn" ] &&
                echo "- peak RSS of the dynamic pool (not the default; for comparison): $(tidy "$rss_dyn")"
        [ -n "$sus" ] &&
                echo "- null-sink throughput >= 0.9 x the reference consumer: $(verdict "$sus_ok") ($(tidy "$sus"))"
        [ -n "$p99s" ] &&
                echo "- p99 end-to-end in the 50k/s spike with the 1 ms HTTP sink < 250 ms: $(verdict "$p99_ok") ($(tidy "$p99s"))"
        [ -n "$drains" ] &&
                echo "- backlog drained within 2 x the spike ($twice s) after the max-rate spike: $(verdict "$drain_ok") ($(tidy "$drains"))"
        true
}
{
        if [ "$scale" != 1 ]; then
                echo "**A short run (BURST_SCALE=$scale) to try the harness, not the benchmark:** run"
                echo "\`make bench-burst\` for the 20 s phases."
                echo
        fi
        echo "Measured $started on a shared $(nproc)-core machine against librdkafka's mock"
        echo "cluster (3 brokers, in its own process): relative figures, not a capacity"
        echo "statement. Phases ${base_s} s / ${spike_s} s / ${after_s} s (baseline $base_rate/s, spike, baseline);"
        if [ "$fetch_wait" = default ]; then
                echo "fetch.wait.max.ms left at 500 ms: the mock holds every empty fetch that long;"
        else
                echo "every daemon with fetch.wait.max.ms = $fetch_wait ms (the mock holds an empty fetch that long"
                echo "even when data arrives; a broker answers at once);"
        fi
        echo "message keys: profile A ${BURST_KEYS:-none}, profile B ${BURST_KEYS:-10000};"
        echo "load average before / after: $load_start / $load_end. Made by \`make bench-burst\`"
        echo "(tests/bench/burst.sh, which defines every column)."
        echo
        echo "| run | produced | producer peak/s | mock backlog | peak msgs/s | sustained msgs/s | pool in spike | p99 e2e baseline | p99 e2e spike | p99 queue wait + sink call, spike | drain after spike | peak RSS | lost | dups |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        for r in "${done_runs[@]}"; do
                drain=${R_drain[$r]}
                [ "${drain%%.*}" = "-1" ] && drain="not drained"
                [ "$drain" != "not drained" ] && drain="$drain s"
                printf '| %s | %s | %s | %s | %s | %s | %s threads after %s s | %s ms | %s ms%s | %s + %s ms | %s | %s MiB | %s | %s |\n' \
                        "$r" "${R_produced[$r]}" "${R_prodpeak[$r]}" "${R_backlog[$r]}" "${R_peak[$r]}" \
                        "${R_sustained[$r]}" "${R_workers[$r]}" "${R_scaled[$r]}" "${R_bp99[$r]}" \
                        "${R_p99[$r]}" "${R_p99flag[$r]}" "${R_qw[$r]}" "${R_sk[$r]}" "$drain" "${R_rss[$r]}" \
                        "${R_lost[$r]}" "${R_dups[$r]}"
        done
        echo
        if [ -n "$ref_line" ]; then
                echo "Reference consumer (librdkafka, poll and free only) draining the ${R_produced[$ref_line]}"
                echo "events of $ref_line after that run: **${ref_rate:-?} msgs/s**; floodgate (null sink,"
                echo "default config) draining the same: ${fg_drain_rate:-?} msgs/s ($(ratio "${fg_drain_rate:-0}" "${ref_rate:-0}") x reference)."
                echo
        fi
        targets
        echo
        echo "Columns: *produced* = events the mock acknowledged; *producer peak/s* = its best"
        echo "second; *mock backlog* = the most events the producer had handed to librdkafka"
        echo "but the mock had not acknowledged yet (their Kafka timestamps are already"
        echo "running); *sustained* = median processed/s over [spike start + 1 s, spike end];"
        echo "*pool in spike* = its largest size and when it first reached 90% of that;"
        echo "*p99 e2e* = /stats' 10 s window p99 (Kafka timestamp to sink acknowledgement):"
        echo "baseline = the window ending at the spike start, spike = the highest"
        echo "among the samples from 10 s after the pool scaled to the spike end (events that"
        echo "completed after it had scaled); *queue wait + sink call* = the same samples'"
        echo "p99s of floodgate's own stages; *drain* = spike end until lag first falls to"
        echo "max(1.5 x the baseline's lag, 1 s of baseline); *peak RSS* = the daemon's"
        echo "getrusage peak; *lost* = produced minus the ok counter (null) or minus the"
        echo "distinct ids httpsink accepted (http), *dups* = ids delivered more than once."
        if [ "$scale" != 1 ]; then
                echo
                echo "\\* BURST_SCALE=$scale: the spike is shorter than the pool's scale-up plus the"
                echo "10 s latency window, so p99 is the window ending at the spike's end."
        fi
        for r in "${done_runs[@]}"; do
                [ -n "${R_note[$r]}" ] && { echo; echo "Note, $r: ${R_note[$r]}"; }
        done
        true
} >"$docs/summary.md"
echo
cat "$docs/summary.md"
# The README shows the latest summary written to docs/bench.
readme="$here/../../README.md"
if [ "$docs" = docs/bench ] && grep -q '^<!-- burst-summary:begin' "$readme"; then
        awk -v f="$docs/summary.md" '
                /^<!-- burst-summary:end/ { while ((getline l < f) > 0) print l; skip = 0 }
                !skip { print }
                /^<!-- burst-summary:begin/ { skip = 1 }' "$readme" >"$readme.tmp" &&
                mv "$readme.tmp" "$readme"
        echo "(README.md's Viral burst table updated)"
fi
exit 0
