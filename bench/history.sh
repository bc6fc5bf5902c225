#!/usr/bin/env bash
# herald's reads with a long history: fills a SQLite store with N events
# (default 1,000,000) in the shape herald writes them, with deliveries,
# attempts, stages, jobs and packages spread like a busy server's, starts
# herald on it, and times every API list and filter: p50 and p99 over REPS
# requests each (curl, one at a time), the answer's size, and the store's
# bytes per event (file size / events).
#   bench/history.sh                      (defaults: N=1000000 REPS=40)
#   N=200000 REPS=20 bench/history.sh
#   (last: durable ingest with N events stored beside an empty store,
#   INGEST_DURATION, default 10s)
#   KEEP=build/history bench/history.sh   (keeps the filled store there,
#                                          and reuses it when N matches)
# The rows are written with sqlite3's shell from one INSERT ... SELECT per
# table (a recursive CTE counting to N), not through herald's ingest: a
# million events take a minute that way. Each event's raw body is a real
# stage-status body (bench/stage-status.json) with the pipeline and stage
# names changed; a GoCD row keeps no document, as herald writes it (a read
# derives it from raw), the others the one herald made of that body.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
N=${N:-1000000}
REPS=${REPS:-40}
BUILD=${BUILD:-build}
. bench/lib.sh
scripts/build.sh "$BUILD" >"$root/$BUILD/history-build.log" 2>&1 ||
  { tail -30 "$root/$BUILD/history-build.log"; echo "bench: the build failed" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "bench: needs the sqlite3 shell" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/herald-history.XXXXXX")
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
data=${KEEP:-$work/data}
db=$data/herald.db

serve() { # serve: starts herald on $data, sets $port and $pid
  port=$(free_port)
  "$root/$BUILD/herald" serve --listen "127.0.0.1:$port" --data "$data" --insecure-local \
    --log-level error &
  pid=$!
  wait_port "$port" || { echo "bench: herald did not start" >&2; exit 1; }
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

if [ ! -f "$db" ] || [ "$(sqlite3 "$db" 'SELECT count(*) FROM events')" != "$N" ]; then
  rm -rf "$data"; mkdir -p "$data"
  # The schema, and one real event to copy.
  serve
  curl -s -o /dev/null -H 'Content-Type: application/json' --data-binary @bench/stage-status.json \
    "http://127.0.0.1:$port/gocd/notification/stage-status"
  # Its document as herald makes it (a GoCD row stores none: store/
  # event_doc.h), for the rows that keep one: the API's event without
  # "id" and "transition", compact, members in order.
  curl -s "http://127.0.0.1:$port/api/v1/events/1" | /usr/bin/python3 -c '
import json, sys
e = json.load(sys.stdin)["event"]
e.pop("id"); e.pop("transition")
sys.stdout.write(json.dumps(e, separators=(",", ":"), ensure_ascii=False))' >"$work/doc.json"
  stop
  t0=$SECONDS
  sqlite3 "$db" >/dev/null <<SQL
PRAGMA journal_mode = WAL;
PRAGMA synchronous = OFF;
PRAGMA foreign_keys = OFF;
CREATE TEMP TABLE proto AS SELECT readfile('$work/doc.json') AS doc, raw FROM events WHERE id = 1;
DELETE FROM events;
DELETE FROM stage_state;
DELETE FROM sqlite_sequence;
BEGIN;
-- 400 GoCD pipelines (their stage names follow the pipeline's, so one
-- stage each), 500 Jenkins jobs, herald's test events (1 in 1000); 1 in
-- 10 failed, 1 in 200 cancelled,
-- 1 in 500 with warnings; one event every 3 s on average, so a million
-- span about a month. Transitions follow the result.
INSERT INTO events (received_at, source, kind, version, pipeline, pipeline_counter, stage,
                    stage_counter, state, result, transition, doc, raw, warnings)
SELECT 1764547200000 + i * 3000, src, knd, '4.0', pipe, i / 3600, stg, '1', 'Completed', res,
  CASE res WHEN 'Passed' THEN (CASE WHEN i % 97 = 0 THEN 'fixed' ELSE 'passed' END)
           WHEN 'Failed' THEN (CASE WHEN i % 3 = 0 THEN 'broken' ELSE 'still_failing' END)
           WHEN 'Cancelled' THEN 'cancelled' END,
  -- A GoCD row keeps no document (derived from raw when read), as herald
  -- writes it; the others keep theirs.
  CASE WHEN src = 'gocd' THEN NULL ELSE CAST(replace(replace(CAST(p.doc AS TEXT), '"service-api"',
    '"' || pipe || '"'), '"test"', '"' || coalesce(stg, 'build') || '"') AS TEXT) END,
  CASE WHEN src = 'gocd' THEN CAST(replace(replace(CAST(p.raw AS TEXT), '"service-api"',
    '"' || pipe || '"'), '"test"', '"' || stg || '"') AS BLOB) ELSE p.raw END,
  CASE WHEN i % 500 = 7 THEN 1 ELSE 0 END
FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $N)
      SELECT i,
        CASE WHEN i % 1000 = 0 THEN 'herald' WHEN i % 3 = 0 THEN 'jenkins' ELSE 'gocd' END AS src,
        CASE WHEN i % 1000 = 0 THEN 'test' WHEN i % 3 = 0 THEN 'build-status' ELSE 'stage-status' END AS knd,
        CASE WHEN i % 3 = 0 THEN 'job-' || (i * 7 % 1500) ELSE 'pipeline-' || (i * 13 % 600) END AS pipe,
        CASE WHEN i % 3 = 0 THEN NULL ELSE 'stage-' || (i % 6) END AS stg,
        CASE WHEN i % 200 = 1 THEN 'Cancelled' WHEN i % 10 = 4 THEN 'Failed' ELSE 'Passed' END AS res
      FROM n), proto p;
-- One delivery per event to one of 8 targets (two for 1 in 4 events):
-- nearly all delivered, 1 in 500 dead, a few retrying and pending; one
-- attempt each.
INSERT INTO deliveries (event_id, route, target, state, attempts, next_at, created_at, updated_at,
                        last_status, last_error, run_key)
SELECT id, 'route-' || (id % 8), 'target-' || (id % 8),
  CASE WHEN id % 500 = 3 THEN 'dead' WHEN id % 5000 = 11 THEN 'retrying'
       WHEN id > $N - 20 THEN 'pending' ELSE 'delivered' END,
  1, received_at + 60000, received_at, received_at + 200,
  CASE WHEN id % 500 = 3 THEN 503 ELSE 200 END,
  CASE WHEN id % 500 = 3 THEN 'the target answered 503 Service Unavailable' END,
  pipeline || '/' || pipeline_counter
FROM events;
INSERT INTO deliveries (event_id, route, target, state, attempts, next_at, created_at, updated_at,
                        last_status)
SELECT id, 'chat', 'team-chat', 'delivered', 1, received_at, received_at, received_at + 150, 200
FROM events WHERE id % 4 = 0;
INSERT INTO attempts (delivery_id, attempt, started_at, latency_ms, status, outcome, error, excerpt)
SELECT id, 1, created_at + 10, 120, last_status,
  CASE state WHEN 'dead' THEN 'dead' WHEN 'delivered' THEN 'delivered' ELSE 'retry' END,
  last_error, '{"ok":true}'
FROM deliveries WHERE state <> 'pending';
INSERT OR REPLACE INTO stage_state (pipeline, stage, last_result, last_state, last_counter,
                                    last_event_id, updated_at)
SELECT pipeline, stage, result, state, pipeline_counter, max(id), max(received_at)
FROM events WHERE source = 'gocd' GROUP BY pipeline, stage;
INSERT OR REPLACE INTO job_state (source, job, branch, last_result, last_number, last_phase,
                                  last_status, last_event_id, updated_at)
SELECT 'jenkins', pipeline, 'main', result, max(id), 'COMPLETED', result, max(id), max(received_at)
FROM events WHERE source = 'jenkins' GROUP BY pipeline;
INSERT INTO packages (repository, package, created_at)
SELECT 'repo-' || (i % 10), 'package-' || i, 1764547200000
FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1200) SELECT i FROM n);
COMMIT;
ANALYZE;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
  echo "filled $db with $N events in $((SECONDS - t0)) s"
fi

serve
events=$(sqlite3 "$db" 'SELECT count(*) FROM events')
deliveries=$(sqlite3 "$db" 'SELECT count(*) FROM deliveries')
bytes=$(stat -c %s "$db")
mid=$((N / 2))
since=$(date -u -d @$((1764547200 + mid * 3)) +%Y-%m-%dT%H:%M:%SZ)
until=$(date -u -d @$((1764547200 + mid * 3 + 3600)) +%Y-%m-%dT%H:%M:%SZ)

# time PATH: "p50_ms p99_ms bytes status" over REPS requests.
time_get() {
  local i out
  for i in $(seq "$REPS"); do
    curl -s -o "$work/answer" -w '%{time_total} %{size_download} %{http_code}\n' "http://127.0.0.1:$port$1"
  done | sort -n | awk -v n="$REPS" '{ t[NR] = $1 * 1000; b = $2; s = $3 }
    END { p50 = t[int((n + 1) / 2)]; p99 = t[int(n * 0.99 + 0.999)];
          printf "%.2f %.2f %d %d", p50, p99, b, s }'
}

paths=(
  "/api/v1/events"
  "/api/v1/events?limit=500"
  "/api/v1/events?cursor=$mid"
  "/api/v1/events?source=jenkins"
  "/api/v1/events?source=herald"
  "/api/v1/events?kind=test"
  "/api/v1/events?pipeline=pipeline-7"
  "/api/v1/events?pipeline=job-21"
  "/api/v1/events?pipeline=pipeline-7&stage=stage-1"
  "/api/v1/events?stage=stage-4"
  "/api/v1/events?result=Failed"
  "/api/v1/events?result=Cancelled"
  "/api/v1/events?transition=broken"
  "/api/v1/events?transition=fixed"
  "/api/v1/events?transition=passed"
  "/api/v1/events?warnings=true"
  "/api/v1/events?since=$since&until=$until"
  "/api/v1/events?source=gocd&result=Cancelled&since=$since"
  "/api/v1/events?pipeline=pipeline-7&cursor=$mid"
  "/api/v1/events/$mid"
  "/api/v1/deliveries"
  "/api/v1/deliveries?cursor=$mid"
  "/api/v1/deliveries?state=dead"
  "/api/v1/deliveries?state=retrying"
  "/api/v1/deliveries?state=pending"
  "/api/v1/deliveries?target=team-chat"
  "/api/v1/deliveries?target=target-3&state=dead"
  "/api/v1/deliveries?event=$mid"
  "/api/v1/deliveries?since=$since&until=$until"
  "/api/v1/deliveries?state=dead&since=$since"
  "/api/v1/stages"
  "/api/v1/stages?last_result=Failed"
  "/api/v1/jobs"
  "/api/v1/jobs?last_result=Failed"
  "/api/v1/packages"
  "/api/v1/targets/health?window=3600"
  "/api/v1/targets/health?window=86400"
  "/api/v1/targets"
)
printf '%d events, %d deliveries, %d bytes: %d bytes per event\n' "$events" "$deliveries" \
  "$bytes" $((bytes / events))
printf '%-64s %9s %9s %9s %6s\n' "GET" "p50 ms" "p99 ms" "bytes" "status"
for p in "${paths[@]}"; do
  read -r p50 p99 size status <<<"$(time_get "$p")"
  shown=${p//$since/SINCE}
  printf '%-64s %9s %9s %9s %6s\n' "${shown//$until/UNTIL}" "$p50" "$p99" "$size" "$status"
done

# Ingest with N events stored, beside the same build on an empty data
# folder in the same run (bench/run.sh's request: durable stage-status,
# wrk, CONNS connections for INGEST_DURATION): whether acknowledging stays
# flat as history grows. The events it adds are deleted afterwards, so a
# kept store stays N events.
export BENCH_PATH=/gocd/notification/stage-status BODY_FILE=$root/bench/stage-status.json
CONNS=${CONNS:-32}
DURATION=${INGEST_DURATION:-10s}
ingest() { # ingest: "req/s p50_ms p99_ms cpu_us_per_request" of the herald at $port
  local t0 rps p50 p99 reqs
  t0=$(cpu_ticks "$pid")
  read -r rps p50 p99 reqs _ <<<"$(load "$port")"
  echo "$rps $p50 $p99 $(us_per "$t0" "$(cpu_ticks "$pid")" "$reqs")"
}
# Two rounds, the full store and the empty one in turn, so that neither
# always runs first on a machine whose load moves.
full=$data
stop
rows=()
for round in 1 2; do
  for which in full empty; do
    if [ "$which" = full ]; then data=$full; else data=$work/empty; fi
    serve
    read -r rps p50 p99 cpu <<<"$(ingest)"
    stop
    rows+=("$(printf '%-40s %9.0f %9.2f %9.2f %11s' "$which, round $round" "$rps" "$p50" "$p99" "$cpu")")
    eval "${which}_rps_$round=$rps"
  done
  sqlite3 "$db" "DELETE FROM events WHERE id > $N; PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
done
data=$full
echo
echo "POST stage-status, durable ($CONNS connections, $DURATION each); full: $N events stored"
printf '%-40s %9s %9s %9s %11s\n' "" "req/s" "p50 ms" "p99 ms" "CPU µs/req"
printf '%s\n' "${rows[@]}"
echo "full / empty: $(awk -v a="$full_rps_1" -v b="$empty_rps_1" -v c="$full_rps_2" -v d="$empty_rps_2" \
  'BEGIN { printf "%.2f and %.2f", (b > 0 ? a / b : 0), (d > 0 ? c / d : 0) }')"
