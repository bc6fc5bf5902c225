#!/usr/bin/env bash
# herald's ingest benchmark over every ingest path, in one table: runs
# bench/run.sh (nginx null server, libmicrohttpd null server, herald
# durable, raw SQLite, all with the same requests) once per path and load,
# and prints herald's rate and latency beside the baselines as ratios.
#   bench/ingest-all.sh                      (CONNS=32 DURATION=10s)
#   CONNS="32 128" DURATION=10s bench/ingest-all.sh
#   CASES="job-status job-status-small" bench/ingest-all.sh
# CASES (default: the four below) names the paths:
#   stage-status      GoCD, POST /gocd/notification/stage-status, bench/stage-status.json
#   job-status        Jenkins Job Status plugin, POST /jenkins/job-status,
#                     bench/job-status.json (a 114-variable build environment)
#   notification      Jenkins Notification plugin, POST /jenkins/notification,
#                     bench/notification.json (the completed phase)
#   publish           POST /api/v1/packages/bench/app/revisions, bench/publish.json,
#                     a new revision per request (bench/publish.lua)
#   job-status-small  the Job Status path with only five variables
#   ci-notify         `herald notify`, POST /ci/notify
# /nginx, /mhd, /SQLite: herald's req/s over the nginx null server's, the
# libmicrohttpd null server's and raw SQLite's rows/s; CPU us: herald's CPU
# time (user + system, all threads) per request answered, in microseconds.
# Each run's full output goes to LOG (default build-bench/ingest-all.log).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
CONNS=${CONNS:-32}
export DURATION=${DURATION:-10s}
CASES=${CASES:-stage-status job-status notification publish}
LOG=${LOG:-$root/build-bench/ingest-all.log}
mkdir -p "$(dirname "$LOG")"
: >"$LOG"
results=$(mktemp)
trap 'rm -f "$results"' EXIT

for conns in $CONNS; do
  for c in $CASES; do
    script=bench/post.lua
    case $c in
      stage-status) ep=/gocd/notification/stage-status body=bench/stage-status.json ;;
      job-status) ep=/jenkins/job-status body=bench/job-status.json ;;
      job-status-small) ep=/jenkins/job-status body=bench/job-status-small.json ;;
      notification) ep=/jenkins/notification body=bench/notification.json ;;
      ci-notify) ep=/ci/notify body=tests/payloads/jenkins/notify_gitlab_success.json ;;
      publish) ep=/api/v1/packages/bench/app/revisions body=bench/publish.json script=bench/publish.lua ;;
      *) echo "ingest-all: unknown case $c" >&2; exit 2 ;;
    esac
    echo "== $c, $conns connections" | tee -a "$LOG" >&2
    CONNS=$conns ENDPOINT=$ep BODY_FILE=$root/$body SCRIPT=$script NAME=$c RESULT_FILE=$results \
      bench/run.sh >>"$LOG" 2>&1 || { tail -20 "$LOG"; echo "ingest-all: $c failed" >&2; exit 1; }
  done
done

echo
echo "herald ingest, every path: $(nproc) cores, $DURATION per run, durable (synchronous=FULL)"
echo
awk -F'\t' '
  function r(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "n/a" }
  BEGIN {
    printf "%-17s %6s %5s %9s %8s %8s %7s %7s %8s %8s  %s\n", "endpoint", "bytes", "conns",
      "req/s", "p50 ms", "p99 ms", "/nginx", "/mhd", "/SQLite", "CPU us", "herald answered (status=count)"
  }
  {
    printf "%-17s %6d %5d %9.0f %8.2f %8.2f %7s %7s %8s %8d  %s", $1, $3, $4, $5, $6, $7,
      r($5, $8), r($5, $9), r($5, $10), $17, $14
    if ($12 + $13 > 0) printf " (wrk: %d socket errors, %d non-2xx)", $12, $13
    printf "\n"
  }' "$results"
echo
echo "Baselines, same requests, same run (req/s):"
awk -F'\t' '{ printf "  %-17s %5d conns: nginx %.0f, libmicrohttpd null %.0f, raw SQLite %.0f rows/s; %d events stored in %d commits\n",
  $1, $4, $8, $9, $10, $15, $16 }' "$results"
