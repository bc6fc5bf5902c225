#!/usr/bin/env bash
# What reading GoCD events costs herald (CPU µs per request and per event
# read) now that their rows keep no document and a read derives it from the
# raw body (store/event_doc.h). herald (build-bench, release; BDIR: another
# release build to compare, such as one from before the change) on a fresh
# SQLite folder is filled with stage-status events (bench/stage-status.json,
# wrk for FILL seconds), then each API read below is loaded with wrk (CONNS
# connections, DURATION) and herald's CPU is read from /proc/<pid>/stat.
#   bench/event_reads.sh                 (FILL=3 CONNS=4 DURATION=5s)
#   BDIR=/tmp/before/build-bench bench/event_reads.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
CONNS=${CONNS:-4}
DURATION=${DURATION:-5s}
FILL=${FILL:-3}
export BODY_FILE=${BODY_FILE:-$root/bench/stage-status.json}
. bench/lib.sh
bench_build "${BDIR:-}"
work=$(scratch reads)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=$(free_port)
"$bdir/herald" serve --listen "127.0.0.1:$port" --data "$work/herald" --threads 2 \
  --insecure-local --log-level warn &
pid=$!
wait_port "$port"
DURATION=${FILL}s load "$port" 32 >/dev/null
n=$(curl -sf "http://127.0.0.1:$port/api/v1/events?limit=1" |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["events"][0]["id"])')
echo "herald $bdir: $n stage-status events stored"
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
for path in "/api/v1/events/$((n / 2))" "/api/v1/events?limit=100" "/api/v1/events?limit=100&pipeline=service-api"; do
  per=1
  case $path in *limit=100*) per=100 ;; esac
  t0=$(cpu)
  read -r rps p50 p99 reqs errs non200 <<<"$(READ_PATH=$path SCRIPT=bench/get.lua load "$port")"
  t1=$(cpu)
  awk -v p="$path" -v d=$((t1 - t0)) -v n="$reqs" -v hz="$(getconf CLK_TCK)" -v per=$per \
    -v rps="$rps" -v p50="$p50" -v bad=$((errs + non200)) 'BEGIN {
      printf "GET %-45s %8.1f req/s p50 %6.2f ms  %7.1f µs CPU/request, %5.1f µs/event (%d failed)\n",
        p, rps, p50, d / hz / n * 1e6, d / hz / n * 1e6 / per, bad }'
done
