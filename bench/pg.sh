#!/usr/bin/env bash
# herald on PostgreSQL: durable events per second with one instance and
# with two instances on one database, beside herald on SQLite and beside
# raw INSERTs in batches from one libpq client (bench/pg_baseline.c), all
# in the same run on the same machine, since it is shared and noisy.
# PostgreSQL is a throwaway server (scripts/pg.sh: Debian's, synchronous_commit
# on but fsync off, as for the tests), on loopback.
# Load: wrk, keep-alive, CONNS connections from 2 threads, DURATION each;
# the two instances get CONNS/2 each, from two wrk at once. Every event of
# bench/post.lua is of one pipeline; bench/pipelines.lua spreads them over
# PIPELINES names (default 1000). The store path alone (bench/pg_store.c:
# events submitted in-process, CONNS waiting at a time, no HTTP) and the
# raw client show the group commit against raw INSERTs without HTTP; the
# raw client again, into herald's own events table (every index) with the
# body's real bytes, shows what the schema itself costs; and once more
# into it, a transaction per as many rows as herald's group commit took on
# the store path (its mean batch), which leaves herald's own work; and the
# store path once more without history rows (no transitions kept), which
# leaves the group commit alone.
# The raw lines compress with lz4, as herald's writer does (src/store/pg.c).
# CPU per event: herald's process (or the client's) and PostgreSQL's
# processes (all of the throwaway server's, background ones included).
#   bench/pg.sh                  (defaults: CONNS=32 DURATION=10s)
#   CONNS=64 DURATION=20s bench/pg.sh
#   BUILD=/elsewhere/build-bench bench/pg.sh   (another build's herald and
#                                               bench programs, to compare)
set -euo pipefail
# On a loaded machine a step may fail (a herald that could not reach the
# server within its connect timeout): say which, rather than end silently.
trap 'echo "bench/pg.sh: line $LINENO failed: $BASH_COMMAND" >&2' ERR
cd "$(dirname "$0")/.."
root=$PWD
CONNS=${CONNS:-32}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
PIPELINES=${PIPELINES:-1000}
export PIPELINES
command -v wrk >/dev/null || scripts/deps.sh bench

. bench/lib.sh
bench_build "${BUILD:-}"
work=$(scratch pg)
[ "$(id -u)" -eq 0 ] && chmod 755 "$work"  # pg.sh runs the server as postgres
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/pg.sh stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

export BENCH_PATH=/gocd/notification/stage-status
export BODY_FILE=$root/bench/stage-status.json
bytes=$(stat -c %s "$BODY_FILE")
uri=$(scripts/pg.sh start "$work/pg" | tail -1)
base=${uri%/*}
database() { psql -q "$uri" -c "CREATE DATABASE $1" >/dev/null; echo "$base/$1"; }

serve() { # serve PORT STORE-ARGS...
  local port=$1; shift
  "$bdir/herald" serve --listen "127.0.0.1:$port" --threads "$THREADS" --log-level warn "$@" &
  pids+=($!)
  wait_port "$port"
}
stored() { # stored METRICS-URL -> events accepted, commits, seconds in transactions
  local m; m=$(curl -s "$1/metrics")
  echo "$(sed -n 's/^herald_events_total{kind="stage-status",outcome="accepted"} //p' <<<"$m") $(sed -n 's/^herald_store_commit_batch_size_count //p' <<<"$m") $(sed -n 's/^herald_store_commit_seconds_sum //p' <<<"$m")"
}
ms_per() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a * 1000 / b; else print "n/a" }'; }
# ticks PID... -> clock ticks the processes used so far (with their reaped
# children's: the postmaster's ended backends)
ticks() {
  # (a backend may end between ps and cat: not a failure under pipefail)
  for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null || true; done |
    awk '{ s = $0; sub(/^.*\) /, "", s); split(s, f, " "); t += f[12] + f[13] + f[14] + f[15] } END { print t + 0 }'
}
pg_ticks() { local pm; pm=$(head -1 "$work/pg/data/postmaster.pid"); ticks "$pm" $(ps -o pid= --ppid "$pm"); }
hz=$(getconf CLK_TCK)
us_per() { awk -v t="$1" -v n="$2" -v hz="$hz" 'BEGIN { if (n > 0) printf "%.0f", t * 1e6 / hz / n; else print "n/a" }'; }

echo "herald on PostgreSQL: $(nproc) cores, $CONNS connections, $DURATION per run, body $bytes bytes, $(psql -tAq "$uri" -c 'SHOW server_version')"
echo

# 1. herald on SQLite (synchronous=FULL)
p=$(free_port); serve "$p" --data "$work/sqlite"
read -r s_rps s_p50 s_p99 s_reqs _ s_non200 <<<"$(load "$p")"
read -r s_acc s_commits s_secs <<<"$(stored "http://127.0.0.1:$p")"

# 2. herald on PostgreSQL, one instance
p1=$(free_port); serve "$p1" --store "$(database one)"
h0=$(ticks "${pids[-1]}") g0=$(pg_ticks)
read -r o_rps o_p50 o_p99 o_reqs _ o_non200 <<<"$(load "$p1")"
o_hcpu=$(($(ticks "${pids[-1]}") - h0)) o_gcpu=$(($(pg_ticks) - g0))
read -r o_acc o_commits o_secs <<<"$(stored "http://127.0.0.1:$p1")"

# 3. herald on PostgreSQL, two instances on one database, loaded at once
two=$(database two)
pa=$(free_port); serve "$pa" --store "$two"
pb=$(free_port); serve "$pb" --store "$two"
load "$pa" $((CONNS / 2)) >"$work/a.out" & la=$!
load "$pb" $((CONNS / 2)) >"$work/b.out" & lb=$!
wait "$la" "$lb"
read -r a_rps a_p50 a_p99 a_reqs _ a_non200 <"$work/a.out"
read -r b_rps b_p50 b_p99 b_reqs _ b_non200 <"$work/b.out"
t_rps=$(awk -v a="$a_rps" -v b="$b_rps" 'BEGIN { printf "%.0f", a + b }')
t_stored=$(psql -tAq "$two" -c 'SELECT count(*) FROM events')

# 4. the same two with events of PIPELINES pipelines (bench/pipelines.lua)
pm1=$(free_port); serve "$pm1" --store "$(database many)"
h0=$(ticks "${pids[-1]}") g0=$(pg_ticks)
read -r m_rps m_p50 m_p99 m_reqs _ m_non200 <<<"$(SCRIPT=bench/pipelines.lua load "$pm1")"
m_hcpu=$(($(ticks "${pids[-1]}") - h0)) m_gcpu=$(($(pg_ticks) - g0))
read -r m_acc m_commits m_secs <<<"$(stored "http://127.0.0.1:$pm1")"
mtwo=$(database mtwo)
pc=$(free_port); serve "$pc" --store "$mtwo"
pd=$(free_port); serve "$pd" --store "$mtwo"
SCRIPT=bench/pipelines.lua load "$pc" $((CONNS / 2)) >"$work/c.out" & lc=$!
SCRIPT=bench/pipelines.lua load "$pd" $((CONNS / 2)) >"$work/d.out" & ld=$!
wait "$lc" "$ld"
read -r c_rps c_p50 c_p99 c_reqs _ c_non200 <"$work/c.out"
read -r d_rps d_p50 d_p99 d_reqs _ d_non200 <"$work/d.out"
mt_rps=$(awk -v a="$c_rps" -v b="$d_rps" 'BEGIN { printf "%.0f", a + b }')
mt_stored=$(psql -tAq "$mtwo" -c 'SELECT count(*) FROM events')

# 5. herald's store path alone: as many events as the one instance took,
# CONNS waiting at a time, PIPELINES pipelines
rows=$((o_reqs > 20000 ? o_reqs : 20000))
g0=$(pg_ticks)
read -r t_out <<<"$("$bdir/bench/pg_store" "$(database store)" "$rows" "$CONNS" "$BODY_FILE" "$PIPELINES" | tr '\n' ' ')"
t_gcpu=$(($(pg_ticks) - g0))
t_eps=$(sed -n 's/.*events_per_second=\([0-9.]*\).*/\1/p' <<<"$t_out")
t_ccpu=$(sed -n 's/.*cpu_us_per_event=\([0-9.]*\).*/\1/p' <<<"$t_out")
t_batch=$(sed -n 's/.*events_per_commit=\([0-9.]*\).*/\1/p' <<<"$t_out")

# 5b. the same without history rows (pg_store's no-history: no stage
# locked, read or written): the group commit alone
g0=$(pg_ticks)
read -r u_out <<<"$("$bdir/bench/pg_store" "$(database nohist)" "$rows" "$CONNS" "$BODY_FILE" "$PIPELINES" no-history | tr '\n' ' ')"
u_gcpu=$(($(pg_ticks) - g0))
u_eps=$(sed -n 's/.*events_per_second=\([0-9.]*\).*/\1/p' <<<"$u_out")
u_ccpu=$(sed -n 's/.*cpu_us_per_event=\([0-9.]*\).*/\1/p' <<<"$u_out")

# 6. raw batched INSERTs from one libpq client, rows the size of herald's;
# its rows compressed with lz4 as herald's writer has them (src/store/pg.c)
export PGOPTIONS="-c default_toast_compression=lz4"
g0=$(pg_ticks)
r_out=$("$bdir/bench/pg_baseline" "$(database raw)" "$rows" 64 "$bytes" 2>/dev/null | tr '\n' ' ')
r_gcpu=$(($(pg_ticks) - g0))
r_rps=$(sed -n 's/.*rows_per_second=\([0-9.]*\).*/\1/p' <<<"$r_out")
r_ccpu=$(sed -n 's/.*cpu_us_per_row=\([0-9.]*\).*/\1/p' <<<"$r_out")

# 7. the same client into herald's own events table (its schema, made by
# one event through the store path: every index), with the body's bytes
ev_db=$(database rawev)
"$bdir/bench/pg_store" "$ev_db" 1 1 "$BODY_FILE" 0 >/dev/null
g0=$(pg_ticks)
e_out=$("$bdir/bench/pg_baseline" "$ev_db" "$rows" 64 "$bytes" "$BODY_FILE" events 2>/dev/null | tr '\n' ' ')
e_gcpu=$(($(pg_ticks) - g0))
e_rps=$(sed -n 's/.*rows_per_second=\([0-9.]*\).*/\1/p' <<<"$e_out")
e_ccpu=$(sed -n 's/.*cpu_us_per_row=\([0-9.]*\).*/\1/p' <<<"$e_out")

# 8. the same again, committing as many rows at once as herald's group
# commit did on the store path (its mean batch, rounded): what the batch
# size that CONNS waiting events allow costs, apart from herald's work
q_batch=$(awk -v b="${t_batch:-0}" 'BEGIN { b = int(b + 0.5); print (b < 1 ? 1 : b) }')
q_db=$(database rawevq)
"$bdir/bench/pg_store" "$q_db" 1 1 "$BODY_FILE" 0 >/dev/null
g0=$(pg_ticks)
q_out=$("$bdir/bench/pg_baseline" "$q_db" "$rows" "$q_batch" "$bytes" "$BODY_FILE" events 2>/dev/null | tr '\n' ' ')
q_gcpu=$(($(pg_ticks) - g0))
q_rps=$(sed -n 's/.*rows_per_second=\([0-9.]*\).*/\1/p' <<<"$q_out")
q_ccpu=$(sed -n 's/.*cpu_us_per_row=\([0-9.]*\).*/\1/p' <<<"$q_out")
unset PGOPTIONS

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
printf '%-40s %12s %10s %10s\n' "" "events/s" "p50 ms" "p99 ms"
printf '%-40s %12.0f %10.3f %10.3f\n' "herald on SQLite (synchronous=FULL)" "$s_rps" "$s_p50" "$s_p99"
printf '%-40s %12.0f %10.3f %10.3f\n' "herald on PostgreSQL, one instance" "$o_rps" "$o_p50" "$o_p99"
printf '%-40s %12.0f %10s %10s\n' "herald on PostgreSQL, two instances" "$t_rps" "$a_p50|$b_p50" "$a_p99|$b_p99"
printf '%-40s %12.0f %10.3f %10.3f\n' "herald on PostgreSQL, one, $PIPELINES pipelines" "$m_rps" "$m_p50" "$m_p99"
printf '%-40s %12.0f %10s %10s\n' "herald on PostgreSQL, two, $PIPELINES pipelines" "$mt_rps" "$c_p50|$d_p50" "$c_p99|$d_p99"
printf '%-40s %12.0f\n' "herald's store path alone (in-process)" "$t_eps"
printf '%-40s %12.0f\n' "  the same, no history rows" "$u_eps"
printf '%-40s %12.0f\n' "raw INSERTs, one libpq client (batch 64)" "$r_rps"
printf '%-40s %12.0f\n' "raw INSERTs into herald's events table" "$e_rps"
printf '%-40s %12.0f\n' "  the same, batch $q_batch (herald's)" "$q_rps"
echo
echo "PostgreSQL one instance / raw batched INSERTs:  $(ratio "$o_rps" "$r_rps")"
echo "PostgreSQL two instances / raw batched INSERTs: $(ratio "$t_rps" "$r_rps")"
echo "PostgreSQL one instance / SQLite:               $(ratio "$o_rps" "$s_rps")"
echo "SQLite: $s_reqs answered ($s_non200 non-200), $s_acc stored in $s_commits commits (mean batch $(ratio "${s_acc:-0}" "${s_commits:-0}"), $(ms_per "${s_secs:-0}" "${s_commits:-0}") ms per transaction)"
echo "PostgreSQL, one: $o_reqs answered ($o_non200 non-200), $o_acc stored in $o_commits commits (mean batch $(ratio "${o_acc:-0}" "${o_commits:-0}"), $(ms_per "${o_secs:-0}" "${o_commits:-0}") ms per transaction)"
echo "PostgreSQL, two: $((a_reqs + b_reqs)) answered ($((a_non200 + b_non200)) non-200), $t_stored events in the database"
echo "PostgreSQL, one, $PIPELINES pipelines: $m_reqs answered ($m_non200 non-200), $m_acc stored in $m_commits commits (mean batch $(ratio "${m_acc:-0}" "${m_commits:-0}"), $(ms_per "${m_secs:-0}" "${m_commits:-0}") ms per transaction)"
echo "PostgreSQL, two, $PIPELINES pipelines: $((c_reqs + d_reqs)) answered ($((c_non200 + d_non200)) non-200), $mt_stored events in the database"
echo "store path alone: $rows events, $CONNS waiting at a time, mean batch $t_batch ($t_out)"
echo
echo "PostgreSQL one instance, $PIPELINES pipelines / raw batched INSERTs:  $(ratio "$m_rps" "$r_rps")"
echo "PostgreSQL two instances, $PIPELINES pipelines / raw batched INSERTs: $(ratio "$mt_rps" "$r_rps")"
echo
# The store path against each raw line, in events per second and in CPU
# per event (the client's or herald's, plus PostgreSQL's): the rate is
# CPU-bound on a shared machine, so the CPU ratio is the steadier one.
t_cpu=$(awk -v a="$t_ccpu" -v b="$(us_per "$t_gcpu" "$rows")" 'BEGIN { printf "%.0f", a + b }')
r_cpu=$(awk -v a="$r_ccpu" -v b="$(us_per "$r_gcpu" "$rows")" 'BEGIN { printf "%.0f", a + b }')
e_cpu=$(awk -v a="$e_ccpu" -v b="$(us_per "$e_gcpu" "$rows")" 'BEGIN { printf "%.0f", a + b }')
q_cpu=$(awk -v a="$q_ccpu" -v b="$(us_per "$q_gcpu" "$rows")" 'BEGIN { printf "%.0f", a + b }')
u_cpu=$(awk -v a="$u_ccpu" -v b="$(us_per "$u_gcpu" "$rows")" 'BEGIN { printf "%.0f", a + b }')
printf '%-62s %10s %14s\n' "herald's store path alone (in-process) against" "events/s" "CPU µs/event"
printf '%-62s %10s %14s\n' "  raw INSERTs, one libpq client (batch 64)" "$(ratio "$t_eps" "$r_rps")" "$(ratio "$r_cpu" "$t_cpu")"
printf '%-62s %10s %14s\n' "  raw INSERTs into herald's events table" "$(ratio "$t_eps" "$e_rps")" "$(ratio "$e_cpu" "$t_cpu")"
printf '%-62s %10s %14s\n' "  the same, batch $q_batch (herald's)" "$(ratio "$t_eps" "$q_rps")" "$(ratio "$q_cpu" "$t_cpu")"
echo "  (each: herald's figure as a fraction of raw's, 1.00 = as good as raw; CPU: raw's µs per event / herald's, total $t_cpu µs against $r_cpu, $e_cpu and $q_cpu)"
printf '%-62s %10s %14s\n' "the same without history rows (the group commit alone) against" "" ""
printf '%-62s %10s %14s\n' "  raw INSERTs into herald's events table, batch $q_batch" "$(ratio "$u_eps" "$q_rps")" "$(ratio "$q_cpu" "$u_cpu")"
echo
printf '%-62s %10s\n' "herald on PostgreSQL, one instance (HTTP) against" "events/s"
printf '%-62s %10s\n' "  raw INSERTs, one libpq client (batch 64)" "$(ratio "$o_rps" "$r_rps")"
printf '%-62s %10s\n' "  raw INSERTs into herald's events table" "$(ratio "$o_rps" "$e_rps")"
printf '%-62s %10s\n' "  herald's store path alone (in-process)" "$(ratio "$o_rps" "$t_eps")"
echo
printf '%-40s %14s %14s\n' "CPU µs per event" "herald/client" "PostgreSQL"
printf '%-40s %14s %14s\n' "herald on PostgreSQL, one instance" "$(us_per "$o_hcpu" "$o_acc")" "$(us_per "$o_gcpu" "$o_acc")"
printf '%-40s %14s %14s\n' "herald on PostgreSQL, one, $PIPELINES pipelines" "$(us_per "$m_hcpu" "$m_acc")" "$(us_per "$m_gcpu" "$m_acc")"
printf '%-40s %14s %14s\n' "herald's store path alone (in-process)" "$t_ccpu" "$(us_per "$t_gcpu" "$rows")"
printf '%-40s %14s %14s\n' "  the same, no history rows" "$u_ccpu" "$(us_per "$u_gcpu" "$rows")"
printf '%-40s %14s %14s\n' "raw INSERTs, one libpq client (batch 64)" "$r_ccpu" "$(us_per "$r_gcpu" "$rows")"
printf '%-40s %14s %14s\n' "raw INSERTs into herald's events table" "$e_ccpu" "$(us_per "$e_gcpu" "$rows")"
printf '%-40s %14s %14s\n' "  the same, batch $q_batch (herald's)" "$q_ccpu" "$(us_per "$q_gcpu" "$rows")"
