#!/usr/bin/env bash
# herald's end-to-end benchmark: events acknowledged AND delivered to a
# local target, and the latency from acknowledgement to delivery, beside
# baselines measured in the same run:
#   - libcurl's multi interface alone, POSTing to the same target
#     (bench/curl_blast.c): what a delivery engine could reach at best;
#   - herald's ingest-only rate (no routes), the foundation's benchmark.
# The target is bench/null_server (libmicrohttpd answering 200).
#   bench/delivery.sh            (defaults: CONNS=32 DURATION=10s;
#                                 HERALD=path runs another build of herald)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
CONNS=${CONNS:-32}
DURATION=${DURATION:-10s}
scripts/deps.sh bench
. bench/lib.sh
bench_build
work=$(scratch delivery)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
export BODY_FILE=${BODY_FILE:-$root/bench/stage-status.json}
PY=/usr/bin/python3
load() {
  wrk -t2 -c"$CONNS" -d"$DURATION" -s bench/post.lua "http://127.0.0.1:$1" 2>&1 |
    sed -n 's/^RESULT rps=\([0-9.]*\) p50_ms=\([0-9.]*\) p99_ms=\([0-9.]*\) requests=\([0-9]*\).*/\1 \2 \3 \4/p'
}

tp=$(free_port)
"$bdir/bench/null_server" "$tp" 2 & pids+=($!)
wait_port "$tp"

# 1. baseline: curl multi alone against the target
c_rps=$("$bdir/bench/curl_blast" "http://127.0.0.1:$tp/hook" "$BODY_FILE" 50000 32 | sed -n 's/requests_per_second=\([0-9]*\).*/\1/p')

# 2. baseline: herald ingest only (no routes)
ip=$(free_port)
"${HERALD:-$bdir/herald}" serve --listen "127.0.0.1:$ip" --data "$work/ingest" --log-level warn & pids+=($!)
wait_port "$ip"
read -r i_rps _ <<<"$(load "$ip")"

# 3. herald with one route to the target, unordered; 4. the same with
# order_by over 100 keys (the event id modulo 100), in the same run.
# e2e DIR EXTRA prints: acknowledged/s, end-to-end/s, latency p50, p99, n.
e2e() {
  cat >"$work/$1.yaml" <<YAML
delivery:
  allow: [127.0.0.0/8]
  max_in_flight: 64
  connections_per_host: 32
targets:
  - name: sink
    url: http://127.0.0.1:$tp/hook
$2
routes:
  - name: all
    targets: [sink]
YAML
  local hp t0 t1 h_rps accepted delivered lat
  hp=$(free_port)
  "${HERALD:-$bdir/herald}" serve --listen "127.0.0.1:$hp" --data "$work/$1" --config "$work/$1.yaml" \
    --log-level warn & pids+=($!)
  wait_port "$hp"
  t0=$(date +%s.%N)
  read -r h_rps _ <<<"$(load "$hp")"
  accepted=$(metric "$hp" 'herald_events_total{kind="stage-status",outcome="accepted"}')
  while :; do
    delivered=$(metric "$hp" 'herald_delivery_attempts_total{outcome="delivered"}')
    [ "${delivered:-0}" -ge "$accepted" ] && break
    sleep 0.1
  done
  t1=$(date +%s.%N)
  lat=$($PY - "$hp" <<'PYEOF'
import json, sys, urllib.request
from datetime import datetime
port = sys.argv[1]
def t(s): return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
lat, cursor = [], None
while True:
    url = f"http://127.0.0.1:{port}/api/v1/deliveries?state=delivered&limit=500" + (f"&cursor={cursor}" if cursor else "")
    d = json.load(urllib.request.urlopen(url))
    for x in d["deliveries"]:
        a = x["attempt_log"][-1]
        lat.append((t(a["started_at"]) + a["latency_ms"] / 1000 - t(x["created_at"])) * 1000)
    cursor = d["next_cursor"]
    if not cursor:
        break
lat.sort()
print(f"{lat[len(lat) // 2]:.1f} {lat[int(len(lat) * 0.99)]:.1f} {len(lat)}")
PYEOF
)
  kill "${pids[-1]}" 2>/dev/null || true
  echo "$h_rps $(awk -v n="$accepted" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }') $lat"
}
read -r h_rps e2e l50 l99 ln <<<"$(e2e e2e "")"
read -r o_rps o_e2e o50 o99 on <<<"$(e2e ordered "    order_by: \"{{ .id % 100 }}\"")"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo "herald delivery benchmark: $(nproc) cores, $CONNS connections, $DURATION of load"
printf '%-46s %10s\n' "" "per second"
printf '%-46s %10.0f\n' "curl multi alone -> target (baseline)" "$c_rps"
printf '%-46s %10.0f\n' "herald ingest only, no routes (baseline)" "$i_rps"
printf '%-46s %10.0f\n' "herald acknowledged, with one route" "$h_rps"
printf '%-46s %10.0f\n' "herald acknowledged and delivered, end to end" "$e2e"
printf '%-46s %10.0f\n' "the same with order_by over 100 keys, acked" "$o_rps"
printf '%-46s %10.0f\n' "the same with order_by over 100 keys, e2e" "$o_e2e"
echo
echo "acknowledgement -> delivery latency over $ln deliveries: p50 ${l50} ms, p99 ${l99} ms"
echo "the same, ordered over 100 keys, over $on deliveries: p50 ${o50} ms, p99 ${o99} ms"
echo "end to end / curl multi alone:   $(ratio "$e2e" "$c_rps")"
echo "end to end / herald ingest only: $(ratio "$e2e" "$i_rps")"
echo "acknowledged with a route / ingest only: $(ratio "$h_rps" "$i_rps")"
echo "ordered over 100 keys / unordered, end to end: $(ratio "$o_e2e" "$e2e")"
