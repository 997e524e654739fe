#!/usr/bin/env bash
# The WebSocket echo benchmark: lesson 11's /echo against fastwebsockets and tokio-tungstenite
# (bench/ws), all driven by the same load generator (ws-load, every echo verified byte for byte).
# A benchmark, not a test: it asserts nothing about speed in CI; it prints tables and a verdict
# per target. Release builds; about 7 minutes (--quick: about 1.5; WS_BENCH_ROUNDS=15: about 18).
#
#   scripts/ws-bench.sh                    # everything; prints Markdown
#   scripts/ws-bench.sh --quick            # shorter runs, 2,000 idle connections
#   scripts/ws-bench.sh --write            # ... and write bench/ws/RESULTS.md
#   scripts/ws-bench.sh --no-build         # use the release binaries as they are
#   scripts/ws-bench.sh --ours "target/release/09-ws-handshake"    # another server as "ours"
#   scripts/ws-bench.sh --scenario "16 1 1024"   # only this (connections, in flight, size);
#                                                # repeatable; no memory or allocation runs
#   WS_BENCH_OURS="..." scripts/ws-bench.sh                         # the same
#
# Method. The machine has 2 cores: every server runs pinned to CPU 1 (taskset -c 1), ws-load to
# CPU 0, so that they never compete for a core. Each (scenario, server) pair gets a fresh server
# process, and the servers take turns within each scenario, so that a neighbour's load on this
# shared machine spreads over all three rather than landing on one. ws-load measures, over the
# same window after its warm-up (see ROUNDS below):
#   - messages/s (echoes received and verified);
#   - the server's user and system CPU time per message, by sampling (perf record -e cpu-clock
#     -p PID, one sample per 100 µs of the server's CPU time, each counted as user or kernel by
#     where it landed). Not /proc/PID/stat: the kernel splits a process's time into user and
#     system at its timer ticks, 250 a second here, so a one-second run that spends 8% of its
#     time in user space rests on about 20 ticks, give or take 22%; 10,000 samples a second
#     bring that to about 3.5% per run. The tick figures are kept in the RESULT lines
#     (tick_user_us, tick_sys_us) for comparison;
#   - the server's system calls per message (perf stat -e raw_syscalls:sys_enter -p PID), with
#     the main calls by name.
#   Both perf processes are switched on and off through perf's control pipe at the window's
#   edges, so they see exactly the window.
# The servers all set TCP_NODELAY (ours, through the event loop, writes once per loop turn and
# does not need it; the libraries' per-message writes would otherwise be held back by Nagle).
# Then the memory test: N connections opened and held idle, the server's VmRSS and anonymous
# memory (/proc/PID/smaps_rollup) before and after, per connection; then again after one echo
# on each connection (a server that allocates its buffers on first use pays then).
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=0
WRITE=0
ONLY=()
BUILD=1
OURS=${WS_BENCH_OURS:-target/release/11-ws-server}
while [[ $# -gt 0 ]]; do
    case $1 in
    --quick) QUICK=1 ;;
    --write) WRITE=1 ;;
    --no-build) BUILD=0 ;;
    --ours)
        OURS=$2
        shift
        ;;
    --scenario)
        ONLY+=("$2")
        shift
        ;;
    *)
        echo "usage: $0 [--quick] [--write] [--no-build] [--ours CMD] [--scenario 'CONNS INFLIGHT SIZE']..." >&2
        exit 2
        ;;
    esac
    shift
done

# Each (scenario, server) pair runs ROUNDS times, the servers taking turns; the tables show the
# median run (by messages/s) and the range. Other programs on this 2-core machine (builds, tests)
# disturb single runs a lot; the load average at the start is printed with the results.
# WS_BENCH_ROUNDS=N takes more runs per pair (steadier medians on a noisy machine, slower).
if [[ $QUICK == 1 ]]; then
    WARMUP=0.2 DURATION=0.7 ROUNDS=1 IDLE=2000
else
    WARMUP=0.3 DURATION=1 ROUNDS=5 IDLE=10000
fi
ROUNDS=${WS_BENCH_ROUNDS:-$ROUNDS}

if [[ $BUILD == 1 ]]; then
    cargo build --release --quiet -p ws-bench
    cargo build --release --quiet --bin 11-ws-server
fi

PERF=--perf
if ! perf stat -e raw_syscalls:sys_enter -- true >/dev/null 2>&1 ||
    ! perf record -q -e cpu-clock -o /dev/null -- true >/dev/null 2>&1; then
    echo "(perf cannot count system calls or sample here: syscalls/msg left out, and CPU" \
        "time split by /proc ticks)" >&2
    PERF=
fi

TMP=$(mktemp -d)
SERVER_PID=
ADDED_PROBES=()
cleanup() {
    if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    for p in "${ADDED_PROBES[@]}"; do perf probe -q -d "$p" >/dev/null 2>&1 || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

SERVERS=(ours fastwebsockets tungstenite)
server_cmd() {
    case $1 in
    ours) echo "$OURS" ;;
    fastwebsockets) echo target/release/fastwebsockets-echo ;;
    tungstenite) echo target/release/tungstenite-echo ;;
    esac
}

# Start server $1 on CPU 1; sets SERVER_PID and SERVER_URL.
RUN=0
start_server() {
    RUN=$((RUN + 1))
    # A file of its own per run: the shell opens it in the background child, possibly after
    # we start reading it, which must not find the previous run's line.
    local out=$TMP/$1.$RUN.out
    : >"$out"
    # shellcheck disable=SC2046 # the command is words on purpose (--ours "CMD ARGS")
    taskset -c 1 $(server_cmd "$1") --addr 127.0.0.1:0 >"$out" 2>"$TMP/$1.err" &
    SERVER_PID=$!
    for _ in $(seq 100); do
        SERVER_URL=$(sed -n 's/^listening on //p' "$out" | head -1)
        [[ -n $SERVER_URL ]] && return 0
        sleep 0.05
    done
    echo "$1 ($(server_cmd "$1")) did not print its listening line" >&2
    cat "$TMP/$1.err" >&2
    exit 1
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}

# run_load SERVER CONNS INFLIGHT SIZE: one measured run; appends its RESULT line to $TMP/results.
run_load() {
    start_server "$1"
    if ! taskset -c 0 target/release/ws-load --url "$SERVER_URL/echo" --pid "$SERVER_PID" $PERF \
        --label "$1" --conns "$2" --inflight "$3" --size "$4" \
        --warmup "$WARMUP" --duration "$DURATION" >"$TMP/load.out" 2>&1; then
        echo "ws-load failed against $1 ($2 connections, $3 in flight, $4 bytes):" >&2
        cat "$TMP/load.out" "$TMP/$1.err" >&2
        exit 1
    fi
    grep '^RESULT ' "$TMP/load.out" >>"$TMP/results"
    stop_server
}

run_idle() {
    start_server "$1"
    if ! taskset -c 0 target/release/ws-load --url "$SERVER_URL/echo" --pid "$SERVER_PID" \
        --label "$1" --idle "$IDLE" >"$TMP/load.out" 2>&1; then
        echo "ws-load --idle failed against $1:" >&2
        cat "$TMP/load.out" "$TMP/$1.err" >&2
        exit 1
    fi
    grep '^RESULT-IDLE ' "$TMP/load.out" >>"$TMP/idle"
    stop_server
}

human_size() {
    case $1 in
    16) echo "16 B" ;;
    1024) echo "1 KiB" ;;
    65536) echo "64 KiB" ;;
    *) echo "$1 B" ;;
    esac
}

LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
report() {
    echo "# WebSocket echo benchmark"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), Linux $(uname -r)."
    echo "Load average before the runs: $LOADAVG (other programs share this machine)."
    echo "Servers pinned to CPU 1, ws-load to CPU 0; ${WARMUP} s warm-up, ${DURATION} s measured per run;"
    echo "each row: messages/s, syscalls and ws-load's CPU of the median of $ROUNDS run(s) by messages/s,"
    echo "with the range of messages/s; user and sys µs/msg the medians of all the runs' figures,"
    echo "and messages per server CPU-second computed from those two;"
    echo "binary messages, every echo verified. ours = \`$OURS\` (/echo);"
    echo "fastwebsockets and tokio-tungstenite: bench/ws, current_thread tokio runtime."
    if [[ -n $PERF ]]; then
        echo "user/sys: the server's CPU time per message (perf samples, 10,000 per CPU-second), and"
    else
        echo "user/sys: the server's CPU time per message (/proc/PID/stat ticks), and"
    fi
    echo "what it makes a core worth (messages per second of server CPU: steadier than messages/s"
    echo "when neighbours take the CPU away);"
    echo "syscalls: the server's system calls per message (perf stat), the main ones by name;"
    echo "ws-load: the load generator's own user CPU per message (its system calls mirror the server's)."
}

: >"$TMP/results"
: >"$TMP/idle"
SCENARIOS=()
for conns in 16 256; do
    for size in 16 1024 65536; do
        SCENARIOS+=("$conns 1 $size")
    done
done
SCENARIOS+=("16 16 16" "16 16 1024")
if [[ ${#ONLY[@]} -gt 0 ]]; then
    SCENARIOS=("${ONLY[@]}")
fi

for sc in "${SCENARIOS[@]}"; do
    read -r conns inflight size <<<"$sc"
    echo "... $conns connections x $inflight in flight, $(human_size "$size")" >&2
    for _ in $(seq "$ROUNDS"); do
        for s in "${SERVERS[@]}"; do
            run_load "$s" "$conns" "$inflight" "$size"
        done
    done
done
if [[ ${#ONLY[@]} == 0 ]]; then
    for s in "${SERVERS[@]}"; do
        echo "... $IDLE idle connections: $s" >&2
        run_idle "$s"
    done
fi

# Heap allocations per message: uprobes on libc's malloc, free and realloc, counted by the same
# perf window. A uprobe traps on every call, which slows a server that allocates, so these runs
# are separate and only their counts are kept. Skipped if perf cannot place the probes.
: >"$TMP/allocs"
LIBC=$(ldd target/release/ws-load | awk '/libc.so/ {print $3}')
PROBES=()
if [[ -n $PERF && -n $LIBC ]]; then
    for fn in malloc free realloc; do
        if perf probe -l 2>/dev/null | grep -q "probe_libc:$fn "; then
            PROBES+=("probe_libc:$fn")
        elif perf probe -q -x "$LIBC" "$fn" >/dev/null 2>&1; then
            PROBES+=("probe_libc:$fn")
            ADDED_PROBES+=("probe_libc:$fn")
        fi
    done
fi
if [[ ${#PROBES[@]} == 3 && ${#ONLY[@]} == 0 ]]; then
    for sc in "16 1 16" "16 1 1024" "16 1 65536" "16 16 16" "16 16 1024"; do
        read -r conns inflight size <<<"$sc"
        echo "... allocations per message: $conns connections x $inflight in flight, $(human_size "$size")" >&2
        for s in "${SERVERS[@]}"; do
            start_server "$s"
            taskset -c 0 target/release/ws-load --url "$SERVER_URL/echo" --pid "$SERVER_PID" --perf \
                --event probe_libc:malloc --event probe_libc:free --event probe_libc:realloc \
                --label "$s" --conns "$conns" --inflight "$inflight" --size "$size" \
                --warmup 0.2 --duration 0.5 | grep '^RESULT ' >>"$TMP/allocs"
            stop_server
        done
    done
fi

# Everything below reads the RESULT lines: key=value fields. First, the median run of each
# (scenario, server), with range=MIN..MAX of messages/s added.
awk '
    { delete f; for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] } }
    {
        key = f["conns"] " " f["inflight"] " " f["size"] " " f["label"]
        if (!(key in n)) order[++keys] = key
        n[key]++; line[key, n[key]] = $0; rate[key, n[key]] = f["rate"] + 0
        user[key, n[key]] = f["user_us"] + 0; sys[key, n[key]] = f["sys_us"] + 0
    }
    # The median of the m values v[key, 1..m]; sorts them.
    function median(v, key, m,    i, j, t) {
        for (i = 2; i <= m; i++)
            for (j = i; j > 1 && v[key, j] < v[key, j - 1]; j--) {
                t = v[key, j]; v[key, j] = v[key, j - 1]; v[key, j - 1] = t
            }
        return m % 2 ? v[key, (m + 1) / 2] : (v[key, m / 2] + v[key, m / 2 + 1]) / 2
    }
    END {
        for (k = 1; k <= keys; k++) {
            key = order[k]; m = n[key]
            for (i = 1; i <= m; i++) idx[i] = i
            for (i = 2; i <= m; i++)
                for (j = i; j > 1 && rate[key, idx[j]] < rate[key, idx[j - 1]]; j--) {
                    t = idx[j]; idx[j] = idx[j - 1]; idx[j - 1] = t
                }
            # user_med, sys_med: the medians of every run'"'"'s CPU per message (not only the
            # median run'"'"'s), the figures the tables and the targets use.
            printf "%s range=%s..%s user_med=%.3f sys_med=%.3f\n", line[key, idx[int((m + 1) / 2)]], rate[key, idx[1]], rate[key, idx[m]], median(user, key, m), median(sys, key, m)
        }
    }' "$TMP/results" >"$TMP/median"

table() { # INFLIGHT
    echo "| connections | size | server | messages/s | range | user µs/msg | sys µs/msg | msg per server CPU-second | syscalls/msg | main syscalls/msg | ws-load user µs/msg |"
    echo "|---:|---:|---|---:|---|---:|---:|---:|---:|---|---:|"
    awk -v inflight="$1" '
        { delete f; for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] } }
        f["inflight"] == inflight {
            size = f["size"] == 16 ? "16 B" : f["size"] == 1024 ? "1 KiB" : f["size"] == 65536 ? "64 KiB" : f["size"] " B"
            calls = f["calls"]; gsub(",", ", ", calls)
            cpu = f["user_med"] + f["sys_med"]
            printf "| %s | %s | %s | %s | %s | %s | %s | %.0f | %s | %s | %s |\n", f["conns"], size, f["label"], f["rate"], f["range"], f["user_med"], f["sys_med"], (cpu > 0 ? 1e6 / cpu : 0), f["syscalls"], calls, f["load_user_us"]
        }' "$TMP/median"
}

verdicts() {
    awk '
        { delete f; for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] } }
        /^RESULT / {
            key = f["conns"] "x" f["inflight"] "x" f["size"]
            if (!(key in seen)) { seen[key] = 1; order[++n] = key }
            rate[key, f["label"]] = f["rate"]; user[key, f["label"]] = f["user_med"]
            split(f["range"], r, "\\.\\."); lo[key, f["label"]] = r[1]; hi[key, f["label"]] = r[2]
            c[key] = f["conns"]; k[key] = f["inflight"]; s[key] = f["size"]
        }
        /^RESULT-IDLE / {
            idle[f["label"]] = f["anon_echo_b"]; idle_open[f["label"]] = f["anon_open_b"]
            idle_rss[f["label"]] = f["rss_echo_b"]; idle_n = f["conns"]
        }
        function size(b) { return b == 16 ? "16 B" : b == 1024 ? "1 KiB" : b == 65536 ? "64 KiB" : b " B" }
        END {
            for (i = 1; i <= n; i++) {
                key = order[i]; o = rate[key, "ours"]; fw = rate[key, "fastwebsockets"]
                if (k[key] == 1) {
                    met = (o >= fw && user[key, "ours"] < user[key, "fastwebsockets"]) ? "met" : "NOT met"
                    # Throughput at one in flight is the kernel'"'"'s: when the runs of the two
                    # overlap, which median is higher is this shared machine'"'"'s noise.
                    overlap = (hi[key, "ours"] + 0 >= lo[key, "fastwebsockets"] + 0 && hi[key, "fastwebsockets"] + 0 >= lo[key, "ours"] + 0)
                    note = overlap ? "; their messages/s ranges overlap" : ""
                    printf "- %s: 1 in flight, %d connections, %s: ours %d msg/s and %s µs user/msg, fastwebsockets %d msg/s and %s µs (target: at least its messages/s, less user CPU%s)\n", met, c[key], size(s[key]), o, user[key, "ours"], fw, user[key, "fastwebsockets"], note
                } else {
                    met = (o >= 10 * fw) ? "met" : "NOT met"
                    printf "- %s: %d in flight, %d connections, %s: ours %d msg/s = %.1fx fastwebsockets (%d msg/s; target: 10x); tokio-tungstenite %d msg/s\n", met, k[key], c[key], size(s[key]), o, (fw > 0 ? o / fw : 0), fw, rate[key, "tungstenite"]
                }
            }
            if ("ours" in idle) {
                met = (idle["ours"] < 4096) ? "met" : "NOT met"
                printf "- %s: idle memory at %d connections: ours %d bytes of user (anonymous) memory per connection after one echo each (%d right after the handshake); fastwebsockets %d, tokio-tungstenite %d (target: under 4096)\n", met, idle_n, idle["ours"], idle_open["ours"], idle["fastwebsockets"], idle["tungstenite"]
            }
        }' "$TMP/median" "$TMP/idle"
}

alloc_table() {
    echo "| connections | in flight | size | server | malloc/msg | free/msg | realloc/msg |"
    echo "|---:|---:|---:|---|---:|---:|---:|"
    awk '{ delete f; for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
           n = split(f["calls"], c, ","); delete a
           for (i = 1; i <= n; i++) { split(c[i], kv, ":"); a[kv[1]] = kv[2] }
           size = f["size"] == 16 ? "16 B" : f["size"] == 1024 ? "1 KiB" : f["size"] == 65536 ? "64 KiB" : f["size"] " B"
           printf "| %s | %s | %s | %s | %s | %s | %s |\n", f["conns"], f["inflight"], size, f["label"], a["malloc"], a["free"], a["realloc"] }' "$TMP/allocs"
}

# Rounds taken in turn are pairs: the servers ran one after the other, a few seconds apart, so a
# neighbour's load that comes and goes hits both. The median of the per-round ratios, and how
# often ours came out ahead, say more about a near tie than two medians taken apart.
paired() {
    echo "| connections | in flight | size | ours/fastwebsockets messages/s | rounds ours ahead | ours/fastwebsockets user µs/msg | rounds ours less user time |"
    echo "|---:|---:|---:|---:|---:|---:|---:|"
    awk '
        { delete f; for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] } }
        {
            key = f["conns"] " " f["inflight"] " " f["size"]
            if (!(key in seen)) { seen[key] = 1; order[++keys] = key }
            i = ++n[key, f["label"]]
            rate[key, f["label"], i] = f["rate"] + 0; user[key, f["label"], i] = f["user_us"] + 0
        }
        function median(v, m,    i, j, t) {
            for (i = 2; i <= m; i++)
                for (j = i; j > 1 && v[j] < v[j - 1]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
            return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
        }
        END {
            for (k = 1; k <= keys; k++) {
                key = order[k]; m = n[key, "ours"]
                if (n[key, "fastwebsockets"] < m) m = n[key, "fastwebsockets"]
                ahead = 0; less = 0; delete r; delete u
                for (i = 1; i <= m; i++) {
                    r[i] = rate[key, "ours", i] / rate[key, "fastwebsockets", i]
                    u[i] = (user[key, "fastwebsockets", i] > 0) ? user[key, "ours", i] / user[key, "fastwebsockets", i] : 0
                    if (r[i] > 1) ahead++
                    if (u[i] < 1) less++
                }
                split(key, c, " ")
                size = c[3] == 16 ? "16 B" : c[3] == 1024 ? "1 KiB" : c[3] == 65536 ? "64 KiB" : c[3] " B"
                printf "| %s | %s | %s | %.3f | %d of %d | %.3f | %d of %d |\n", c[1], c[2], size, median(r, m), ahead, m, median(u, m), less, m
            }
        }' "$TMP/results"
}

idle_table() {
    echo "| server | connections | VmRSS bytes/conn, after handshake | anonymous bytes/conn, after handshake | VmRSS bytes/conn, after one echo | anonymous bytes/conn, after one echo |"
    echo "|---|---:|---:|---:|---:|---:|"
    awk '{ delete f; for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
           printf "| %s | %s | %s | %s | %s | %s |\n", f["label"], f["conns"], f["rss_open_b"], f["anon_open_b"], f["rss_echo_b"], f["anon_echo_b"] }' "$TMP/idle"
}

{
    report
    echo
    for k in 1 16; do
        if grep -q " inflight=$k " "$TMP/median"; then
            if [[ $k == 1 ]]; then
                echo "## One message in flight per connection"
            else
                echo "## $k messages in flight per connection"
            fi
            echo
            table "$k"
            echo
        fi
    done
    echo "## Paired rounds: ours against fastwebsockets, round by round"
    echo
    paired
    echo
    if [[ -s $TMP/idle ]]; then
        echo "## Idle connections: the server's memory per connection"
        echo
        idle_table
        echo
    fi
    if [[ -s $TMP/allocs ]]; then
        echo "## Heap allocations per message (separate runs: uprobes on libc, counted by perf)"
        echo
        alloc_table
        echo
    fi
    echo "## Targets"
    echo
    verdicts
} >"$TMP/report.md"
cat "$TMP/report.md"
if [[ $WRITE == 1 ]]; then
    cp "$TMP/report.md" bench/ws/RESULTS.md
    echo "(written to bench/ws/RESULTS.md)" >&2
fi
