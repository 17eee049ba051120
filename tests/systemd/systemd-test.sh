#!/usr/bin/env bash
# systemd-test.sh: floodgate under a real systemd (`make systemd-test`).
#
# Boots a Debian bookworm tree with systemd-nspawn (systemd as PID 1 of the
# container, journald, DynamicUser=, the whole sandbox of the unit), installs
# floodgate into it with `make install DESTDIR=<tree> PREFIX=/usr`, and checks
# against that manager what the unit promises:
#
#   start      Type=notify: the manager moves the unit to active/running
#              only on floodgate's READY=1; its STATUS= shows in `systemctl
#              status`
#   sandbox    under load: the dynamic user writes the file sink's output
#              under /var/lib/floodgate; a 100,000-event burst from the
#              embedded mock passes with no seccomp kill or refused call;
#              the mock and the generator (child processes) carry the same
#              sandbox
#   reload     `systemctl reload` applies workers.size live (journal line,
#              floodgate_workers); an invalid file fails the reload and the
#              daemon is not even signalled
#   priority   journald priorities: `journalctl -p warning` shows floodgate's
#              warnings and errors, none of its info lines
#   stop       drains and exits 0 within TimeoutStopSec, stops its children
#              itself (nothing left for systemd to kill)
#   commit     against a mock cluster that outlives the service: stopped in
#              the middle of a burst, the next start consumes exactly the
#              rest — every event once, none twice (the stop committed)
#   watchdog   a sink stalled longer than metrics.stall_timeout stops the
#              pings; systemd kills and restarts it: NRestarts=1, result
#              'watchdog'
#   exit 78    a bad configuration fails the unit, without a restart loop
#   template   floodgate@a and floodgate@b at once, beside floodgate.service:
#              own configuration, secrets file, state directory, reload
#   cleanup    the container is powered off and its cgroups are removed, on
#              success and on failure
#
# The Debian tree is built once with debootstrap (about 40 s, from the
# mirror apt already uses) and cached under BUILD/systemd-test/tree; later
# runs boot it with --volatile=overlay, so nothing a run does persists. It
# includes the Debian packages of the libraries floodgate links (from ldd);
# when that list changes the tree is rebuilt.
#
# Timeouts in the checks are small (a drop-in sets RestartSec=1s, the
# watchdog test WatchdogSec=2s) so that the whole test takes about a minute
# once the tree is cached.
#
# Usage: tests/systemd/systemd-test.sh BUILD_DIR   (as root; from make)
#   MAKE                     make to run `make install` with (default: make)
#   FLOODGATE_DEBIAN_MIRROR  overrides the mirror taken from apt's sources
#
# Exit status: 0 when every check passed, or when systemd-nspawn cannot run
# on this machine at all (printed as SKIP, with the reason); 1 otherwise.
set -uo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
build_arg=${1:?usage: systemd-test.sh BUILD_DIR}
build=$(cd "$src" && cd "$build_arg" && pwd) || exit 1
bin=$build/floodgate
cache=$build/systemd-test
tree=$cache/tree
suite=bookworm
machine=fgtest-$$
cgname=floodgate-systemd-test-$$
started=$(date +%s)
passed=0
failed=0
nspawn_pid=""
leader=""
cg_dirs=()
work=$(mktemp -d /tmp/floodgate-systemd-test.XXXXXX) || exit 1

log() { printf '%s [%3ds] %s\n' "==" "$(( $(date +%s) - started ))" "$*"; }
pass() { passed=$((passed + 1)); printf 'PASS %-9s %s\n' "$1" "$2"; }
# fail NAME WHAT [DETAIL...]: the details are indented under the line.
fail() {
        failed=$((failed + 1))
        printf 'FAIL %-9s %s\n' "$1" "$2"
        shift 2
        [ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/       | /' | tail -n 60
        return 0
}
skip() {
        printf 'SKIP make systemd-test: systemd-nspawn cannot run here: %s\n' "$*"
        rm -rf "$work"
        exit 0
}
die() {
        printf 'FAIL setup     %s\n' "$1"
        [ $# -gt 1 ] && printf '%s\n' "${@:2}" | sed 's/^/       | /' | tail -n 60
        exit 1
}

# ---- where nspawn can run at all ----

[ "$(id -u)" = 0 ] || skip "it needs root"
for c in systemd-nspawn debootstrap nsenter; do
        command -v "$c" >/dev/null || die "$c is missing (make systemd-test installs it)"
done
[ -x "$bin" ] || die "$bin is not built"
capeff=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
(( (16#$capeff >> 21) & 1 )) || skip "no CAP_SYS_ADMIN (an unprivileged container?)"
unshare --mount --pid --uts --ipc --fork true 2>/dev/null ||
        skip "cannot create mount, PID, UTS and IPC namespaces"

# On a host run by systemd, nspawn asks it for a scope of its own, which
# systemd removes. Elsewhere (--keep-unit) nspawn splits the cgroup it is
# started in into payload/ and supervisor/ and leaves both behind; so it
# starts in a cgroup made for this run, removed at the end.
host_systemd=no
[ -d /run/systemd/system ] && host_systemd=yes
if [ "$host_systemd" = no ]; then
        if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
                cg_dirs=(/sys/fs/cgroup/$cgname)
        else
                for h in unified systemd; do
                        [ -d "/sys/fs/cgroup/$h" ] && cg_dirs+=("/sys/fs/cgroup/$h/$cgname")
                done
        fi
        [ ${#cg_dirs[@]} -gt 0 ] || skip "no cgroup hierarchy systemd can use under /sys/fs/cgroup"
        [ -w "$(dirname "${cg_dirs[0]}")" ] || skip "the cgroup file system is read-only"
fi

# ---- the Debian tree ----

# The first URI apt uses for $suite (one-line and deb822 sources).
debian_mirror() {
        local f
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
                [ -f "$f" ] || continue
                awk -v suite="$suite" '$1 == "deb" {
                        i = 2
                        if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                        if ($(i + 1) == suite) { print $i; exit }
                }' "$f"
        done
        for f in /etc/apt/sources.list.d/*.sources; do
                [ -f "$f" ] || continue
                awk -v suite="$suite" 'BEGIN { RS = "" } {
                        types = uris = suites = ""
                        n = split($0, lines, "\n")
                        for (i = 1; i <= n; i++) {
                                if (lines[i] ~ /^Types:/) types = lines[i]
                                if (lines[i] ~ /^URIs:/) uris = lines[i]
                                if (lines[i] ~ /^Suites:/) suites = lines[i]
                        }
                        if (types ~ /[ \t]deb([ \t]|$)/ && (suites " ") ~ ("[ \t]" suite "[ \t]")) {
                                sub(/^URIs:[ \t]*/, "", uris); split(uris, u, /[ \t]+/)
                                print u[1]; exit
                        }
                }' "$f"
        done
}

# The Debian packages of the shared libraries floodgate links.
runtime_packages() {
        local lib pkg
        ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | while read -r lib; do
                pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib" 2>/dev/null) ||
                        { echo "UNPACKAGED:$lib"; continue; }
                echo "${pkg%%:*}"
        done | sort -u | grep -vx 'libc6'
}

# The tree is built and installed into under an exclusive lock, then booted
# under a shared one: another run in this build directory waits rather than
# changing the tree under a running container.
mkdir -p "$cache"
exec 9>"$cache/lock"
flock 9
mirror=${FLOODGATE_DEBIAN_MIRROR:-$(debian_mirror | head -n 1)}
[ -n "$mirror" ] || die "no $suite mirror in /etc/apt/sources.list* (set FLOODGATE_DEBIAN_MIRROR)"
pkgs=$(runtime_packages | paste -sd, -)
case $pkgs in *UNPACKAGED:*) die "libraries floodgate links that no Debian package owns: $pkgs" ;; esac
include="systemd,systemd-sysv,dbus,procps,libnss-systemd${pkgs:+,$pkgs}"
stamp="$suite $mirror $include"
if [ -f "$tree/.floodgate-tree" ] && [ "$(cat "$tree/.floodgate-tree")" = "$stamp" ]; then
        log "reusing the $suite tree in $tree"
else
        log "building a $suite tree with debootstrap from $mirror (once; cached in $tree)"
        rm -rf "$tree" "$tree.new"
        t=$(date +%s)
        debootstrap --variant=minbase --include="$include" "$suite" "$tree.new" "$mirror" \
                >"$cache/debootstrap.log" 2>&1 ||
                die "debootstrap failed (log: $cache/debootstrap.log)" "$(tail -n 20 "$cache/debootstrap.log")"
        echo "$stamp" >"$tree.new/.floodgate-tree"
        mv "$tree.new" "$tree"
        log "tree built in $(( $(date +%s) - t )) s"
fi

log "make install DESTDIR=$tree PREFIX=/usr"
${MAKE:-make} -C "$src" --no-print-directory BUILD="$build_arg" -o "$bin" \
        -o "$build/plugins/example_plugin.so" install DESTDIR="$tree" PREFIX=/usr \
        >"$work/install.log" 2>&1 || die "make install failed" "$(tail -n 20 "$work/install.log")"
missing=$(chroot "$tree" ldd /usr/bin/floodgate 2>&1 | grep 'not found')
[ -z "$missing" ] || die "libraries missing in the tree" "$missing"
flock -s 9

# ---- boot, and the way back ----

cleanup() {
        local rc=$? d pids left=""
        trap - EXIT INT TERM
        if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
                # systemctl needs the manager's bus; early in the boot there
                # is none, and SIGRTMIN+4 asks systemd for a poweroff too.
                if [ -n "$leader" ] && ! nsenter -t "$leader" -a systemctl poweroff --no-block \
                        >/dev/null 2>&1; then
                        kill -s RTMIN+4 "$leader" 2>/dev/null
                fi
                for _ in $(seq 300); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
                if kill -0 "$nspawn_pid" 2>/dev/null; then
                        left="the container did not power off within 30 s; killed"
                        # Killing the namespace's init kills everything in it.
                        [ -n "$leader" ] && kill -KILL "$leader" 2>/dev/null
                        kill -KILL "$nspawn_pid" 2>/dev/null
                fi
        fi
        [ -n "$nspawn_pid" ] && wait "$nspawn_pid" 2>/dev/null
        for d in "${cg_dirs[@]}"; do
                [ -d "$d" ] || continue
                # Whatever the container left: its processes, by id, then
                # its cgroups, innermost first.
                pids=$(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null)
                if [ -n "$pids" ]; then
                        left="${left:+$left; }processes left in $d"
                        kill -KILL $pids 2>/dev/null
                        for _ in $(seq 100); do
                                [ -z "$(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null)" ] && break
                                sleep 0.1
                        done
                fi
                find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
                [ -d "$d" ] && left="${left:+$left; }cannot remove $d"
        done
        if [ -n "$leader" ] && kill -0 "$leader" 2>/dev/null; then
                left="${left:+$left; }the container's PID 1 ($leader) still runs"
        fi
        if [ -n "$nspawn_pid" ]; then
                if [ -z "$left" ]; then
                        pass cleanup "the container powered off and its cgroups are gone${cg_dirs[*]:+ (${cg_dirs[*]})}"
                else
                        fail cleanup "$left" "$(tail -n 30 "$work/console.log" 2>/dev/null)"
                fi
        fi
        rm -rf "$work"
        echo "make systemd-test: $passed passed, $failed failed in $(( $(date +%s) - started )) s$(
                [ "$rc" -ne 0 ] && echo " (stopped early: exit status $rc)")"
        [ "$failed" -eq 0 ] && [ "$rc" -eq 0 ] && exit 0
        exit 1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

nspawn_args=(--quiet --directory="$tree" --volatile=overlay --register=no --private-network
             --machine="$machine" --console=read-only --boot)
[ "$host_systemd" = no ] && nspawn_args+=(--keep-unit)
log "booting the tree (systemd-nspawn ${nspawn_args[*]})"
(
        for d in "${cg_dirs[@]}"; do
                mkdir "$d" && echo "$BASHPID" >"$d/cgroup.procs" || exit 97
        done
        exec systemd-nspawn "${nspawn_args[@]}"
) </dev/null >"$work/console.log" 2>&1 &
nspawn_pid=$!
for _ in $(seq 300); do
        leader=$(pgrep -P "$nspawn_pid" -x systemd | head -n 1)
        [ -n "$leader" ] && break
        kill -0 "$nspawn_pid" 2>/dev/null || break
        sleep 0.1
done
[ -n "$leader" ] || die "the container did not start" "$(cat "$work/console.log")"
# Until the manager answers on its bus, and then until it has booted.
booted() {
        state=$(nsenter -t "$leader" -a systemctl is-system-running 2>&1)
        case $state in running | degraded) return 0 ;; esac
        kill -0 "$nspawn_pid" 2>/dev/null || return 0
        return 1
}
wait_until_booted() {
        local deadline=$(( $(date +%s) + 60 ))
        until booted; do [ "$(date +%s)" -ge "$deadline" ] && return 1; sleep 0.1; done
}
wait_until_booted
case $state in
running | degraded) log "booted: systemd $state (PID 1 is $leader on the host)" ;;
*) die "the container did not finish booting: $state" "$(tail -n 30 "$work/console.log")" ;;
esac

# ---- helpers ----

ct() { nsenter -t "$leader" -a "$@"; }
sc() { ct systemctl --no-pager "$@"; }
prop() { sc show -p "$2" --value "$1"; }
put() { ct sh -c 'cat >"$1"' sh "$1"; }
jrnl() { ct journalctl --no-pager -q -o cat "$@"; }
# One run of a unit: its processes' lines and the manager's lines about it.
runlog() { jrnl "_SYSTEMD_INVOCATION_ID=$1" + "INVOCATION_ID=$1"; }
has() { runlog "$1" | grep -qF -- "$2"; }
# wait_for SECONDS COMMAND...: polls every 0.2 s.
wait_for() {
        local deadline=$(( $(date +%s) + $1 ))
        shift
        until "$@"; do
                [ "$(date +%s)" -ge "$deadline" ] && return 1
                sleep 0.2
        done
}
scrape() {
        nsenter -t "$leader" -n bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
                printf "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" >&3
                cat <&3' sh "$1" 2>/dev/null | tr -d '\r'
}
metric() { scrape "$1" | awk -v m="$2" '$1 == m { print $2; f = 1; exit } END { if (!f) print "none" }'; }
metric_is() { [ "$(metric "$1" "$2")" = "$3" ]; }
lines() { ct sh -c 'cat "$1" 2>/dev/null | wc -l' sh "$1"; }
lines_are() { [ "$(lines "$1")" -eq "$2" ]; }
lines_at_least() { [ "$(lines "$1")" -ge "$2" ]; }
# Distinct event ids in a file sink's output.
distinct_ids() { ct sh -c 'grep -o "\"id\":\"[^\"]*\"" "$1" | sort -u | wc -l' sh "$1"; }
is_active() { [ "$(prop "$1" ActiveState)/$(prop "$1" SubState)" = active/running ]; }
fresh() {
        sc stop 'floodgate*.service' fgtest-fifo.service >/dev/null 2>&1
        sc reset-failed >/dev/null 2>&1
        ct sh -c 'rm -f /var/lib/private/floodgate*/*.jsonl'
}
# The whole story of a run, for a FAIL line.
story() { runlog "$1" | tail -n 40; }

# What every check runs with: restarts after 1 s instead of 5 (the restart
# checks wait for it), no core files from the watchdog's SIGABRT.
for u in floodgate.service floodgate@.service; do
        ct mkdir -p "/run/systemd/system/$u.d"
        printf '[Service]\nRestartSec=1s\nLimitCORE=0\n' | put "/run/systemd/system/$u.d/50-test.conf"
done
sc daemon-reload

cfg=/etc/floodgate/floodgate.yaml
out=/var/lib/floodgate/events.jsonl
base_config() { # WORKERS [EXTRA YAML]
        cat <<EOF
kafka:
  brokers: mock
  topics: [events]
  mock: {partitions: 8}
queue: {capacity: 10000}
workers: {size: $1}
sink: {type: file, path: $out}
metrics: {listen: "127.0.0.1:9464", log_interval: 1s}
burst: {count: 100000}
${2:-}
EOF
}

# ---- start: Type=notify ----

log "start"

base_config 4 | put "$cfg"
ct systemd-analyze log-level debug
sc start floodgate
rc=$?
ct systemd-analyze log-level info
id=$(prop floodgate InvocationID)
pid=$(prop floodgate MainPID)
wait_for 10 has "$id" "Changed start -> running" # journald may lag behind
ready_at=$(runlog "$id" | grep -n "Got notification message from PID $pid (READY=1" | head -n 1 | cut -d: -f1)
start_at=$(runlog "$id" | grep -n "Changed dead -> start" | head -n 1 | cut -d: -f1)
running_at=$(runlog "$id" | grep -n "Changed start -> running" | head -n 1 | cut -d: -f1)
if [ "$rc" -eq 0 ] && is_active floodgate && [ -n "$ready_at" ] && [ -n "$start_at" ] &&
        [ -n "$running_at" ] && [ "$start_at" -lt "$ready_at" ] && [ "$ready_at" -lt "$running_at" ] &&
        sc status floodgate | grep -q 'Status: "running: group floodgate, 1 topic, file sink, 4 workers'; then
        pass start "systemctl start returned once floodgate (PID $pid) sent READY=1: the manager's own log says start, then READY=1 from PID $pid, then start -> running; systemctl status shows the STATUS= sent with it"
else
        fail start "not active/running on READY=1 (rc $rc, $(prop floodgate ActiveState)/$(prop floodgate SubState), lines: start $start_at, READY $ready_at, running $running_at)" "$(story "$id")" "$(sc status floodgate)"
fi
if wait_for 15 sh -c "nsenter -t $leader -a systemctl --no-pager status floodgate | grep -q 'Status: \"in [0-9]*/s out [0-9]*/s | queue '"; then
        pass status "systemctl status shows floodgate's live line: $(sc status floodgate | sed -n 's/^ *Status: //p')"
else
        fail status "no periodic STATUS= line in systemctl status" "$(sc status floodgate)"
fi

# ---- sandbox: a 100,000-event burst under DynamicUser and the filter ----

log "sandbox"

if wait_for 120 lines_are "$out" 100000 && wait_for 10 metric_is 9464 'floodgate_messages_processed_total{outcome="ok"}' 100000; then
        owner=$(ct stat -c '%U %u' /var/lib/private/floodgate/events.jsonl)
        kids=$(ct pgrep -P "$pid" | paste -sd' ' -)
        kid_ok=yes kid_info=""
        for k in $kids; do
                st=$(ct cat "/proc/$k/status" 2>/dev/null)
                kid_info="$kid_info $k:$(ct cat "/proc/$k/cmdline" | tr '\0' ' ' | cut -c1-40)"
                grep -q '^Seccomp:[[:space:]]*2' <<<"$st" && grep -q '^NoNewPrivs:[[:space:]]*1' <<<"$st" &&
                        grep -q '^CapEff:[[:space:]]*0*$' <<<"$st" || kid_ok=no
        done
        # floodgate's own output must show no refused call; the manager's
        # lines about the unit (they carry INVOCATION_ID too) only a kill by
        # the filter: systemd logs its own harmless EPERMs there (its
        # PR_SET_MM_ARG_START when it names the forked child, at debug level).
        bad=$(jrnl "_SYSTEMD_INVOCATION_ID=$id" |
                grep -Ei 'SIGSYS|seccomp|bad system call|operation not permitted|status=31'
              runlog "$id" | grep -Ei 'SIGSYS|bad system call|status=31')
        errs=$(jrnl -p err "_SYSTEMD_INVOCATION_ID=$id")
        if [ "${owner%% *}" = floodgate ] && [ "${owner##* }" -ge 61184 ] && [ -n "$kids" ] &&
                [ "$kid_ok" = yes ] && [ -z "$bad" ] && [ -z "$errs" ] && is_active floodgate &&
                [ "$(prop floodgate MainPID)" = "$pid" ] && [ "$(prop floodgate NRestarts)" = 0 ]; then
                pass sandbox "100000 events written to /var/lib/floodgate by dynamic user $owner; no seccomp kill, no refused call, no error in the journal; still PID $pid; the mock ($kids) runs with seccomp, NoNewPrivs and no capabilities too"
        else
                fail sandbox "owner '$owner', children '$kid_info' (sandboxed: $kid_ok), restarts $(prop floodgate NRestarts)" "$bad" "$errs" "$(story "$id")"
        fi
else
        fail sandbox "the burst did not arrive: $(lines "$out") lines, ok=$(metric 9464 'floodgate_messages_processed_total{outcome="ok"}')" "$(story "$id")"
fi

# ---- reload: applied live, and refused ----

log "reload"

base_config 6 | put "$cfg"
sc reload floodgate
rc=$?
if [ "$rc" -eq 0 ] && wait_for 10 has "$id" "reload: workers.size changed; applied" &&
        wait_for 10 metric_is 9464 floodgate_workers 6 && [ "$(prop floodgate MainPID)" = "$pid" ]; then
        pass reload "systemctl reload: 'reload: workers.size changed; applied' in the journal, floodgate_workers 4 -> 6, same PID $pid"
else
        fail reload "rc $rc, floodgate_workers $(metric 9464 floodgate_workers)" "$(story "$id")"
fi

reloads=$(runlog "$id" | grep -c '^reload: ')
base_config many | put "$cfg"
sc reload floodgate 2>"$work/reload.err"
rc=$?
sleep 1
if [ "$rc" -ne 0 ] && wait_for 10 sh -c "nsenter -t $leader -a journalctl -q -o cat -p err _SYSTEMD_INVOCATION_ID=$id | grep -q '^$cfg:[0-9]*:[0-9]*: workers.size'" &&
        [ "$(runlog "$id" | grep -c '^reload: ')" = "$reloads" ] && ! has "$id" "rejected; still running" &&
        is_active floodgate && [ "$(prop floodgate MainPID)" = "$pid" ] && metric_is 9464 floodgate_workers 6; then
        pass reload-bad "systemctl reload failed (rc $rc) with '$(jrnl -p err "_SYSTEMD_INVOCATION_ID=$id" | grep -m1 "^$cfg:")' at priority err; the daemon was not signalled (no reload line), still PID $pid with 6 workers"
else
        fail reload-bad "rc $rc, workers $(metric 9464 floodgate_workers), $(prop floodgate ActiveState)" "$(cat "$work/reload.err")" "$(story "$id")"
fi

# ---- journald priorities ----

base_config 6 "" | sed 's/capacity: 10000/capacity: 20000/' | put "$cfg"
sc reload floodgate
if wait_for 10 has "$id" "reload: queue.capacity changed; takes effect after a restart"; then
        warn=$(jrnl -p warning "_SYSTEMD_INVOCATION_ID=$id")
        info=$(jrnl -p info "_SYSTEMD_INVOCATION_ID=$id")
        if grep -q '^reload: queue.capacity changed; takes effect after a restart$' <<<"$warn" &&
                grep -q "^$cfg:[0-9]*:[0-9]*: workers.size" <<<"$warn" &&
                ! grep -qE '^(floodgate .* running:|reload: workers.size changed; applied|in [0-9]+/s out|burst: produced)' <<<"$warn" &&
                ! grep -q '^<[0-7]>' <<<"$info" &&
                grep -q '^reload: workers.size changed; applied$' <<<"$info" &&
                grep -q '^floodgate .* running: group floodgate' <<<"$info"; then
                pass priority "journalctl -p warning: the warning and the config errors, none of the $(wc -l <<<"$info") info lines; <N> prefixes parsed, not printed"
        else
                fail priority "journalctl -p warning of this run is not warnings only" "--- -p warning:" "$warn"
        fi
else
        fail priority "no 'takes effect after a restart' warning" "$(story "$id")"
fi

# ---- stop: drain, exit 0, children stopped by floodgate ----

log "stop"

t=$(date +%s%N)
sc stop floodgate
took_ms=$(( ($(date +%s%N) - t) / 1000000 ))
limit=$(prop floodgate TimeoutStopUSec)
if [ "$(prop floodgate Result)" = success ] && [ "$(prop floodgate ExecMainStatus)" = 0 ] &&
        has "$id" "floodgate.service: Deactivated successfully." && has "$id" "SIGTERM: draining" &&
        has "$id" "mock cluster stopping" && ! has "$id" "with signal SIGKILL" &&
        ! has "$id" "left-over process" && [ "$took_ms" -lt 45000 ]; then
        pass stop "drained and exited 0 in $took_ms ms (TimeoutStopSec $limit); stopped its mock itself, systemd killed nothing"
else
        fail stop "result $(prop floodgate Result), status $(prop floodgate ExecMainStatus), $took_ms ms" "$(story "$id")"
fi

# ---- commit: a stop in the middle of a burst commits what it delivered ----

log "commit"

fresh
ct systemd-run --quiet --unit=fgtest-mock --property=DynamicUser=yes /usr/bin/floodgate mock --topic events:4
bootstrap=""
get_bootstrap() { bootstrap=$(jrnl -u fgtest-mock | sed -n 's/^BOOTSTRAP=//p' | tail -n 1); [ -n "$bootstrap" ]; }
drain_out=/var/lib/floodgate/drain.jsonl
drain_config() { # EXTRA YAML
        cat <<EOF
kafka:
  brokers: "$bootstrap"
  group_id: drain
  topics: [events]
  # The mock may keep the first run's member until its session times out
  # (librdkafka's default: 45 s) before it hands the partitions on.
  properties: {session.timeout.ms: "6000", heartbeat.interval.ms: "500"}
workers: {size: 4}
sink: {type: file, path: $drain_out}
metrics: {listen: "127.0.0.1:9464"}
$1
EOF
}
if wait_for 20 get_bootstrap; then
        drain_config "burst: {count: 200000, rate: 20000}" | put "$cfg"
        sc start floodgate
        id1=$(prop floodgate InvocationID)
        wait_for 60 lines_at_least "$drain_out" 20000
        t=$(date +%s%N)
        sc stop floodgate
        took_ms=$(( ($(date +%s%N) - t) / 1000000 ))
        first=$(lines "$drain_out")
        produced=$(runlog "$id1" | sed -n 's/^burst: produced \([0-9]*\) events$/\1/p')
        drain_config "" | put "$cfg"
        sc start floodgate
        id2=$(prop floodgate InvocationID)
        caught_up() {
                [ "$(lines "$drain_out")" -ge "${produced:-0}" ] &&
                        metric_is 9464 floodgate_partitions_assigned 4 &&
                        metric_is 9464 floodgate_consumer_total_lag 0
        }
        wait_for 60 caught_up
        log "commit: second run caught up"
        sleep 2 # anything redelivered twice would arrive by now
        total=$(lines "$drain_out")
        distinct=$(distinct_ids "$drain_out")
        second=$(metric 9464 'floodgate_messages_processed_total{outcome="ok"}')
        sc stop floodgate
        if [ -n "$produced" ] && [ "$produced" -lt 200000 ] && [ "$first" -lt "$produced" ] &&
                [ "$total" = "$produced" ] && [ "$distinct" = "$produced" ] &&
                [ "$second" = $((produced - first)) ] && has "$id1" "SIGTERM: draining" &&
                ! runlog "$id1" | grep -qE '^(final commit|revoke: committing final offsets|commit): ' &&
                [ "$(prop floodgate Result)" = success ]; then
                pass commit "stopped mid-burst after $first of $produced events (in $took_ms ms, exit 0); the next start consumed exactly the other $second: $distinct distinct ids in $total lines, none lost, none twice"
        else
                fail commit "produced '$produced', first run $first, second run $second, total $total, distinct $distinct" "$(story "$id1")" "--- second run:" "$(story "$id2")"
        fi
else
        fail commit "the mock cluster printed no BOOTSTRAP= line" "$(jrnl -u fgtest-mock)"
fi
sc stop fgtest-mock.service

# ---- watchdog: a stalled sink stops the pings, systemd restarts ----

log "watchdog"

fresh
printf '[Service]\nWatchdogSec=2s\n' | put /run/systemd/system/floodgate.service.d/60-watchdog.conf
sc daemon-reload
fifo=/var/lib/floodgate/stall.fifo
ct mkfifo -m 0666 /var/lib/private/floodgate/stall.fifo
# Holds the FIFO open for reading and never reads: writes block once the
# pipe is full.
ct systemd-run --quiet --unit=fgtest-fifo sh -c 'exec 3</var/lib/private/floodgate/stall.fifo; exec sleep infinity'
cat <<EOF | put "$cfg"
kafka: {brokers: mock, topics: [events]}
workers: {size: 2}
sink: {type: file, path: $fifo}
metrics: {listen: "127.0.0.1:9464", stall_timeout: 1s}
shutdown: {timeout: 2s}
burst: {count: 20000, size: 512}
EOF
sc start floodgate
id1=$(prop floodgate InvocationID)
pid1=$(prop floodgate MainPID)
if wait_for 30 has "$id1" "not pinging systemd"; then
        # The restarted service gets a sink that works.
        base_config 4 | sed 's/count: 100000/count: 1000/' | put "$cfg"
        restarted() { [ "$(prop floodgate NRestarts)" = 1 ] && is_active floodgate && [ "$(prop floodgate MainPID)" != "$pid1" ]; }
        if wait_for 30 restarted && has "$id1" "Watchdog timeout" &&
                has "$id1" "Failed with result 'watchdog'" && sleep 4 &&
                [ "$(prop floodgate NRestarts)" = 1 ] && is_active floodgate; then
                pass watchdog "sink stalled > metrics.stall_timeout: floodgate stopped pinging, systemd logged 'Watchdog timeout', result 'watchdog', restarted it once (NRestarts=1, PID $pid1 -> $(prop floodgate MainPID)), healthy since"
        else
                fail watchdog "NRestarts $(prop floodgate NRestarts), $(prop floodgate ActiveState)/$(prop floodgate SubState)" "$(story "$id1")"
        fi
else
        fail watchdog "floodgate never stopped pinging" "$(story "$id1")"
fi
sc stop floodgate fgtest-fifo.service
ct rm -f /run/systemd/system/floodgate.service.d/60-watchdog.conf /var/lib/private/floodgate/stall.fifo
sc daemon-reload

# ---- exit 78: a bad configuration, no restart loop ----

log "exit 78"

fresh
printf 'kafka: {brokers: mock, topics: [events], bogus: 1}\nsink: {type: null}\n' | put "$cfg"
sc start floodgate 2>/dev/null
rc=$?
id=$(prop floodgate InvocationID)
sleep 3 # RestartSec=1s: a restart would have happened twice by now
if [ "$rc" -ne 0 ] && [ "$(prop floodgate ActiveState)" = failed ] &&
        [ "$(prop floodgate Result)" = exit-code ] && [ "$(prop floodgate ExecMainStatus)" = 78 ] &&
        [ "$(prop floodgate NRestarts)" = 0 ] &&
        jrnl -p err "_SYSTEMD_INVOCATION_ID=$id" | grep -q "^$cfg:1:[0-9]*: unknown key 'bogus' in 'kafka'"; then
        pass exit-78 "systemctl start failed: status 78, result exit-code, still failed 3 s later with NRestarts=0; 'journalctl -p err' says $(jrnl -p err "_SYSTEMD_INVOCATION_ID=$id" | head -n 1)"
else
        fail exit-78 "rc $rc, $(prop floodgate ActiveState), result $(prop floodgate Result), status $(prop floodgate ExecMainStatus), restarts $(prop floodgate NRestarts)" "$(story "$id")"
fi

# ---- template: two instances at once, beside the plain unit ----

log "template"

fresh
base_config 4 | sed 's/count: 100000/count: 10000/' | put "$cfg"
for i in a b; do
        n=$([ $i = a ] && echo 30000 || echo 20000)
        port=$([ $i = a ] && echo 9465 || echo 9466)
        printf 'GROUP=group-%s\n' "$i" | put "/etc/floodgate/$i.env"
        cat <<EOF | put "/etc/floodgate/$i.yaml"
kafka: {brokers: mock, group_id: "\${GROUP}", topics: [events]}
workers: {size: 2}
sink: {type: file, path: /var/lib/floodgate-$i/events.jsonl}
metrics: {listen: "127.0.0.1:$port"}
burst: {count: $n}
EOF
done
sc start floodgate.service floodgate@a.service floodgate@b.service
rc=$?
ida=$(prop floodgate@a InvocationID)
idb=$(prop floodgate@b InvocationID)
pida=$(prop floodgate@a MainPID)
if [ "$rc" -eq 0 ] && is_active floodgate@a && is_active floodgate@b && is_active floodgate &&
        wait_for 60 lines_are /var/lib/floodgate-a/events.jsonl 30000 &&
        wait_for 60 lines_are /var/lib/floodgate-b/events.jsonl 20000 &&
        wait_for 60 lines_are "$out" 10000 &&
        has "$ida" "running: group group-a" && has "$idb" "running: group group-b"; then
        b_yaml=$(ct cat /etc/floodgate/b.yaml)
        sed 's/size: 2/size: 3/' <<<"$b_yaml" | put /etc/floodgate/b.yaml
        sc reload floodgate@b
        if wait_for 10 has "$idb" "reload: workers.size changed; applied" && wait_for 10 metric_is 9466 floodgate_workers 3 &&
                ! has "$ida" "reload:" && metric_is 9465 floodgate_workers 2 && [ "$(prop floodgate@a MainPID)" = "$pida" ] &&
                sc stop floodgate@a.service floodgate@b.service floodgate.service &&
                [ "$(prop floodgate@a Result)/$(prop floodgate@a ExecMainStatus)" = success/0 ] &&
                [ "$(prop floodgate@b Result)/$(prop floodgate@b ExecMainStatus)" = success/0 ]; then
                pass template "floodgate@a and floodgate@b ran at once beside floodgate.service: /etc/floodgate/{a,b}.yaml with group from {a,b}.env, 30000 and 20000 events in /var/lib/floodgate-{a,b}, 10000 in /var/lib/floodgate; reloading b left a alone; both stopped with 0"
        else
                fail template "reload or stop of the instances" "$(story "$ida")" "---" "$(story "$idb")"
        fi
else
        fail template "rc $rc; a: $(prop floodgate@a ActiveState) $(lines /var/lib/floodgate-a/events.jsonl) lines; b: $(prop floodgate@b ActiveState) $(lines /var/lib/floodgate-b/events.jsonl) lines; plain $(lines "$out")" "$(story "$ida")" "---" "$(story "$idb")"
fi
fresh
