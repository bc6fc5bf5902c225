#!/usr/bin/env bash
# herald's ingest benchmark. Prints herald's durable acknowledgements per
# second and latency beside baselines measured in the same run, as ratios:
#   - nginx answering 200 to the same POSTs (a null HTTP server)
#   - a null libmicrohttpd server (herald's own HTTP stack, doing nothing)
#   - raw SQLite inserts of event-sized rows, batched, WAL + synchronous=FULL
# Load: wrk, keep-alive, CONNS connections from 2 threads, DURATION each.
# Then herald again, paced at half the rate it reached (bench/paced.c,
# open loop: latency counted from when each request was due), beside nginx
# at the same rate; PACED=0 skips it, PACED=1 runs it for any ENDPOINT.
#   bench/run.sh                 (defaults: CONNS=32 DURATION=10s)
#   CONNS=64 DURATION=20s bench/run.sh
# Another endpoint: ENDPOINT (the path), BODY_FILE (the body), SCRIPT (the
# wrk script; bench/post.lua sends BODY_FILE as is, bench/publish.lua makes
# every package revision unique), NAME (the row's name):
#   ENDPOINT=/jenkins/job-status BODY_FILE=bench/job-status.json bench/run.sh
#   ENDPOINT=/api/v1/packages/bench/app/revisions BODY_FILE=bench/publish.json \
#     SCRIPT=bench/publish.lua bench/run.sh
# RESULT_FILE: append one tab-separated line of herald's figures and the
# baselines to it (bench/ingest-all.sh collects them into one table).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
CONNS=${CONNS:-32}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
scripts/deps.sh bench

. bench/lib.sh
bench_build
work=$(scratch run)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# ENDPOINT: the path herald is sent (default GoCD's stage-status; post.lua
# and publish.lua read it as BENCH_PATH). BODY_FILE: the body to send
# (default: a typical completed stage, one git material, two jobs;
# tests/payloads/gocd/stage-status_v4_completed_failed.json is a heavy 6 KiB
# one with all eight material types). Every baseline gets the same requests.
default_endpoint=/gocd/notification/stage-status
ENDPOINT=${ENDPOINT:-$default_endpoint}
export BENCH_PATH=$ENDPOINT
export BODY_FILE=${BODY_FILE:-$root/bench/stage-status.json}
SCRIPT=${SCRIPT:-bench/post.lua}
bytes=$(stat -c %s "$BODY_FILE")
# The event kind herald counts for the endpoint, in herald_events_total.
case $ENDPOINT in
  /gocd/notification/stage-status) kind=stage-status ;;
  /jenkins/* | /ci/notify) kind=build-status ;;
  /api/v1/packages/*) kind=package-revision ;;
  *) echo "bench: no event kind known for ENDPOINT=$ENDPOINT" >&2; exit 2 ;;
esac
NAME=${NAME:-${ENDPOINT##*/}}

if [ "$ENDPOINT" = "$default_endpoint" ]; then
  echo "herald ingest benchmark: $(nproc) cores, $CONNS connections, $DURATION per run, body $bytes bytes"
else
  echo "herald ingest benchmark: $(nproc) cores, $CONNS connections, $DURATION per run, POST $ENDPOINT, body $bytes bytes ($(basename "$BODY_FILE"), $(basename "$SCRIPT"))"
fi
echo

# 1. nginx, returning 200 without reading further
np=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<NGX
worker_processes $THREADS;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx;
  client_max_body_size 2m;
  server {
    listen 127.0.0.1:$np;
    location / { client_body_buffer_size 64k; return 200 '{"status":"success"}'; }
  }
}
NGX
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" & pids+=($!)
wait_port "$np"
n_pid=${pids[-1]}
t0=$(tree_ticks "$n_pid")
read -r n_rps n_p50 n_p99 n_reqs _ <<<"$(load "$np")"
n_cpu=$(us_per "$t0" "$(tree_ticks "$n_pid")" "$n_reqs")

# 2. null libmicrohttpd server
mp=$(free_port)
"$bdir/bench/null_server" "$mp" "$THREADS" & pids+=($!)
wait_port "$mp"
t0=$(cpu_ticks "${pids[-1]}")
read -r m_rps m_p50 m_p99 m_reqs _ <<<"$(load "$mp")"
m_cpu=$(us_per "$t0" "$(cpu_ticks "${pids[-1]}")" "$m_reqs")

# 3. herald, durable (synchronous=FULL). --insecure-local: publishing
# without a token (bench/publish.lua sends none) on this loopback herald.
hp=$(free_port)
"$bdir/herald" serve --listen "127.0.0.1:$hp" --data "$work/herald" --threads "$THREADS" \
  --insecure-local --log-level warn & pids+=($!)
wait_port "$hp"
h_pid=${pids[-1]}
t0=$(cpu_ticks "$h_pid")
read -r h_rps h_p50 h_p99 h_reqs h_errs h_non200 <<<"$(load "$hp")"
# herald's CPU time (user + system, every thread) per request answered, in µs.
h_cpu=$(us_per "$t0" "$(cpu_ticks "$h_pid")" "$h_reqs")
metrics=$(curl -s "http://127.0.0.1:$hp/metrics")
accepted=$(sed -n "s/^herald_events_total{kind=\"$kind\",outcome=\"accepted\"} //p" <<<"$metrics")
commits=$(sed -n 's/^herald_store_commit_batch_size_count //p' <<<"$metrics")
# herald's own count of its answers by status, every endpoint but /metrics:
# "200=80123" (a publish answers 201; 200 there would be a duplicate).
statuses=$(sed -n 's/^herald_http_requests_total{endpoint="\([a-z_]*\)",status="\([0-9]*\)"} \([0-9]*\)$/\1 \2 \3/p' <<<"$metrics" |
  awk '$1 != "metrics" { printf "%s%s=%s", sep, $2, $3; sep = "," }')

# 3b. herald paced at half the rate it just reached, and nginx at the same
# rate beside it (the client's own floor): latency under a steady load
# rather than at saturation, counted from when each request was due
# (bench/paced.c). The default endpoint only, or PACED=1.
if [ "${PACED:-}" = 1 ] || { [ "${PACED:-}" != 0 ] && [ "$ENDPOINT" = "$default_endpoint" ]; }; then
  half=$(awk -v r="$h_rps" 'BEGIN { printf "%d", r / 2 }')
  secs=$(awk -v d="$DURATION" 'BEGIN { n = d + 0; if (d ~ /m$/) n *= 60; if (d ~ /h$/) n *= 3600; print n }')
  paced() { "$bdir/bench/paced" "http://127.0.0.1:$1$ENDPOINT" "$BODY_FILE" "$half" "$secs" "$CONNS" |
    sed -n 's/^RESULT .*ok=\([0-9]*\) failed=\([0-9]*\) p50_ms=\([0-9.]*\) p90_ms=[0-9.]* p99_ms=\([0-9.]*\) p999_ms=\([0-9.]*\) max_ms=\([0-9.]*\) late_ms=\([0-9.]*\)/\1 \2 \3 \4 \5 \6 \7/p'; }
  read -r hp_ok hp_failed hp_p50 hp_p99 hp_p999 hp_max hp_late <<<"$(paced "$hp")"
  read -r np_ok np_failed np_p50 np_p99 np_p999 np_max np_late <<<"$(paced "$np")"
fi

# 4. raw SQLite batched inserts, rows the size of herald's (raw + normalised)
rows=$((h_reqs > 20000 ? h_reqs : 20000))
s_rps=$("$bdir/bench/sqlite_baseline" "$work/raw.db" "$rows" 64 "$bytes" | sed -n 's/rows_per_second=//p')

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
printf '%-34s %12s %10s %10s %12s\n' "" "req/s" "p50 ms" "p99 ms" "CPU µs/req"
printf '%-34s %12.0f %10.3f %10.3f %12s\n' "nginx, return 200 (null server)" "$n_rps" "$n_p50" "$n_p99" "$n_cpu"
printf '%-34s %12.0f %10.3f %10.3f %12s\n' "libmicrohttpd null server" "$m_rps" "$m_p50" "$m_p99" "$m_cpu"
printf '%-34s %12.0f %10.3f %10.3f %12s\n' "herald $NAME, durable" "$h_rps" "$h_p50" "$h_p99" "$h_cpu"
printf '%-34s %12.0f\n' "raw SQLite inserts (batch 64)" "$s_rps"
echo
echo "herald / nginx null server:        $(ratio "$h_rps" "$n_rps")"
echo "herald / libmicrohttpd null server: $(ratio "$h_rps" "$m_rps")"
echo "herald / raw SQLite inserts:        $(ratio "$h_rps" "$s_rps")"
echo "herald answered $h_reqs requests ($h_errs socket errors, $h_non200 non-200); $accepted events stored in $commits commits (mean batch $(ratio "${accepted:-0}" "${commits:-0}"))"
if [ -n "${half:-}" ]; then
  echo
  echo "paced at half herald's maximum: $half req/s for $secs s over at most $CONNS connections (latency from when each request was due)"
  printf '%-34s %10s %10s %10s %10s %8s\n' "" "p50 ms" "p99 ms" "p99.9 ms" "max ms" "failed"
  printf '%-34s %10.3f %10.3f %10.3f %10.3f %8s\n' "nginx, return 200 (null server)" "$np_p50" "$np_p99" "$np_p999" "$np_max" "$np_failed"
  printf '%-34s %10.3f %10.3f %10.3f %10.3f %8s\n' "herald $NAME, durable" "$hp_p50" "$hp_p99" "$hp_p999" "$hp_max" "$hp_failed"
  echo "(the client started requests a mean $hp_late ms late for herald, $np_late ms for nginx: near zero means it kept the pace)"
fi
if [ "$ENDPOINT" != "$default_endpoint" ]; then
  echo "herald's answers by status: ${statuses:-none}"
fi
if [ -n "${RESULT_FILE:-}" ]; then
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$NAME" "$ENDPOINT" "$bytes" "$CONNS" "$h_rps" "$h_p50" "$h_p99" "$n_rps" "$m_rps" "$s_rps" \
    "$h_reqs" "$h_errs" "$h_non200" "${statuses:-none}" "${accepted:-0}" "${commits:-0}" "$h_cpu" >>"$RESULT_FILE"
fi
