#!/usr/bin/env bash
# The delivery engine alone: a backlog of N events' deliveries drained to
# a local target (bench/null_server), beside libcurl's multi interface
# alone POSTing the same body in the same run (bench/curl_blast.c).
# herald first acknowledges the events while the target is stopped
# (SIGSTOP: nothing is delivered), then restarts on the same data folder
# with the target running and drains the backlog. Prints the drain rate,
# herald's CPU per delivered event (utime+stime from /proc), and the
# ratio to curl multi. The requests' timeout is long (5m) so that those
# sent to the stopped target while a slow machine acknowledges the backlog
# neither fail nor open the target's circuit. PERF=1 records a perf profile of the drain
# (perf.data in the work folder, kept) and prints its top symbols;
# PERF_CALLGRAPH="--call-graph dwarf,16384" records whole stacks (the
# release build has no frame pointers).
#   bench/delivery_drain.sh          (defaults: EVENTS=20000 CONNS=32)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
EVENTS=${EVENTS:-20000}
CONNS=${CONNS:-32}
scripts/deps.sh bench
source bench/lib.sh
bench_build "${BDIR:-}" # BDIR: another build of herald (e.g. one with symbols, for PERF=1)
work=$(scratch drain)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done; [ -n "${PERF:-}${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
export BODY_FILE=${BODY_FILE:-$root/bench/stage-status.json}
PY=/usr/bin/python3

tp=$(free_port)
"$bdir/bench/null_server" "$tp" 2 & pids+=($!)
sink=${pids[-1]}
wait_port "$tp"
c_rps=$("$bdir/bench/curl_blast" "http://127.0.0.1:$tp/hook" "$BODY_FILE" "$EVENTS" 32 | sed -n 's/requests_per_second=\([0-9]*\).*/\1/p')

cat >"$work/h.yaml" <<YAML
delivery:
  allow: [127.0.0.0/8]
  timeout: 5m
  max_in_flight: 64
  connections_per_host: 32
targets:
  - name: sink
    url: http://127.0.0.1:$tp/hook
routes:
  - name: all
    targets: [sink]
YAML
# 1. the backlog: EVENTS acknowledged while the target answers nothing
kill -STOP "$sink"
hp=$(free_port)
"${HERALD:-$bdir/herald}" serve --listen "127.0.0.1:$hp" --data "$work/d" --config "$work/h.yaml" --log-level ${LOGLEVEL:-error} & pids+=($!)
wait_port "$hp"
$PY - "$hp" "$EVENTS" "$BODY_FILE" <<'PYEOF'
import http.client, sys, threading
port, n, body = int(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3], "rb").read()
def run(k):
    c = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(k):
        c.request("POST", "/gocd/notification/stage-status", body,
                  {"Content-Type": "application/json", "X-Go-Extension-Version": "4.0"})
        r = c.getresponse(); r.read()
        assert r.status in (200, 202), r.status
ts = [threading.Thread(target=run, args=(n // 8 + (i < n % 8),)) for i in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
PYEOF
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
kill -CONT "$sink"

# 2. the drain: herald starts on the backlog with the target running
"${HERALD:-$bdir/herald}" serve --listen "127.0.0.1:$hp" --data "$work/d" --config "$work/h.yaml" --log-level ${LOGLEVEL:-error} & pids+=($!)
hpid=${pids[-1]}
t0=$(date +%s.%N); c0=$(cpu_ticks "$hpid")
if [ -n "${PERF:-}" ]; then perf record -F 999 ${PERF_CALLGRAPH:--g} -o "$work/perf.data" -p "$hpid" 2>/dev/null & perfpid=$!; fi
wait_port "$hp"
while :; do
  delivered=$(metric "$hp" 'herald_delivery_attempts_total{outcome="delivered"}')
  [ "${delivered:-0}" -ge "$EVENTS" ] && break
  sleep 0.05
done
t1=$(date +%s.%N); c1=$(cpu_ticks "$hpid")
threads=$(for t in /proc/$hpid/task/*; do awk -v n="$(cat "$t/comm")" '{ printf "%s:%d ", n, $14 + $15 }' "$t/stat"; done)
commits=$(curl -s "http://127.0.0.1:$hp/metrics" | sed -n 's/^herald_store_commit_\(batch_size\|seconds\)_\(sum\|count\) //p' | tr '\n' ' ')
[ -z "${PERF:-}" ] || { kill -INT "$perfpid"; wait "$perfpid" 2>/dev/null || true; }
hz=$(getconf CLK_TCK)
rate=$(awk -v n="$delivered" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
us=$(awk -v c="$((c1 - c0))" -v hz="$hz" -v n="$delivered" 'BEGIN { printf "%.0f", c / hz * 1e6 / n }')
echo "herald delivery drain: $(nproc) cores, $EVENTS events, $delivered delivered"
printf '%-44s %10s\n' "" "per second"
printf '%-44s %10.0f\n' "curl multi alone -> target (baseline)" "$c_rps"
printf '%-44s %10.0f\n' "herald draining its backlog -> target" "$rate"
echo "herald CPU per delivered event (start-up included): $us us"
echo "CPU ticks by thread ($hz/s): $threads"
echo "store commits (batch size sum, count; seconds sum, count): $commits"
echo "drain / curl multi alone: $(awk -v a="$rate" -v b="$c_rps" 'BEGIN { printf "%.2f", a / b }')"
if [ -n "${PERF:-}" ]; then
  perf report -i "$work/perf.data" --no-children --sort sym --stdio 2>/dev/null | grep -v '^#' | grep '%' | head -40
  echo "perf data: $work/perf.data"
fi
