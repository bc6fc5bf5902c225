#!/usr/bin/env bash
# The store writer's share of herald's CPU under ingest load: herald
# (build-bench, release) on a fresh SQLite folder, wrk as in bench/run.sh,
# then every thread's CPU from /proc/<pid>/task/*/stat. With PERF=1 it also
# records the writer thread alone (perf record -g -t) and prints its top
# symbols. CONFIG: a herald.yaml to serve with (routes, order_by); PAUSE:
# a target of it to pause first (its deliveries are stored, not sent);
# EXTRA_ARGS: more serve options, split at spaces.
#   bench/writer.sh                       (CONNS=32 DURATION=10s)
#   PERF=1 CONFIG=bench/order.yaml PAUSE=hook bench/writer.sh
#   ENDPOINT=/jenkins/job-status BODY_FILE=bench/job-status.json bench/writer.sh
#   EXTRA_ARGS="--max-head-bytes 262144" bench/writer.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
CONNS=${CONNS:-32}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
ENDPOINT=${ENDPOINT:-/gocd/notification/stage-status}
export BENCH_PATH=$ENDPOINT
export BODY_FILE=${BODY_FILE:-$root/bench/stage-status.json}
. bench/lib.sh
bench_build "${BDIR:-}" # BDIR: another release build of herald to compare
work=$(scratch writer)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=$(free_port)
cfg=()
[ -n "${CONFIG:-}" ] && cfg=(--config "$CONFIG")
read -ra extra <<<"${EXTRA_ARGS:-}"
"$bdir/herald" serve --listen "127.0.0.1:$port" --data "$work/herald" --threads "$THREADS" \
  --insecure-local --log-level warn "${cfg[@]}" "${extra[@]}" &
pid=$!
wait_port "$port"
[ -n "${PAUSE:-}" ] && curl -sf -X POST -H 'Content-Type: application/json' -d '{}' \
  "http://127.0.0.1:$port/api/v1/targets/$PAUSE/pause" >/dev/null
wtid=$(grep -l '^hr-writer$' /proc/$pid/task/*/comm | head -1 | cut -d/ -f5)
ticks() { for t in /proc/$pid/task/*; do printf '%s %s ' "${t##*/}" "$(cat "$t/comm")"; awk '{ print $14 + $15 }' "$t/stat"; done; }
ticks >"$work/t0"
if [ "${PERF:-0}" = 1 ]; then
  perf record -q -g -t "$wtid" -o "${PERF_OUT:-$work/perf.data}" -- sleep "${DURATION%s}" >/dev/null 2>&1 &
  perfpid=$!
fi
read -r rps p50 p99 reqs errs non200 <<<"$(load "$port")"
ticks >"$work/t1"
echo "herald $ENDPOINT: $rps req/s, p50 $p50 ms, p99 $p99 ms, $reqs answered ($errs errors, $non200 non-200)"
join <(sort "$work/t0") <(sort "$work/t1") |
  awk -v n="$reqs" -v hz="$(getconf CLK_TCK)" -v w="$wtid" '
    { d = $5 - $3; tot += d; if ($1 == w) wr = d; name[$2] += d }
    END {
      for (k in name) if (name[k] > 0) printf "  %-16s %8.1f µs/request\n", k, name[k] / hz / n * 1e6
      printf "all threads %.1f µs/request; the writer %.1f µs/request, %.0f%% of herald CPU\n",
        tot / hz / n * 1e6, wr / hz / n * 1e6, (tot > 0 ? 100 * wr / tot : 0) }'
# The store on disk once herald stopped (its WAL checkpointed): bytes per
# event, and the mean sizes of the two texts each row keeps.
kill "$pid"; wait "$pid" || true; pid=
db=$(ls "$work"/herald/*.db | head -1)
sqlite3 "$db" "SELECT 'store: ' || (SELECT count(*) FROM events) || ' events, ' ||
  ((SELECT page_count FROM pragma_page_count) * (SELECT page_size FROM pragma_page_size) /
   (SELECT count(*) FROM events)) || ' bytes per event (raw ' ||
  (SELECT avg(length(raw)) FROM events) || ' B on average; doc ' ||
  (SELECT coalesce(avg(length(doc)), 0) FROM events) || ' B on average where kept; ' ||
  (SELECT count(*) FROM events WHERE doc IS NULL) || ' rows derive it from raw)'"
if [ "${PERF:-0}" = 1 ]; then
  wait "$perfpid" || true
  perf report -i "${PERF_OUT:-$work/perf.data}" --no-children --sort dso,symbol --stdio 2>/dev/null |
    grep -E '^ +[0-9]' | head -${TOP:-40}
fi
