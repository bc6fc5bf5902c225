# What the benchmarks share; sourced,
# from the repository's root.
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 400); do (echo >/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
# load PORT [CONNS] -> "rps p50 p99 requests errors non200": wrk with
# SCRIPT (default bench/post.lua), CONNS connections, for DURATION.
load() {
  wrk -t2 -c"${2:-$CONNS}" -d"$DURATION" -s "${SCRIPT:-bench/post.lua}" "http://127.0.0.1:$1" 2>&1 |
    sed -n 's/^RESULT rps=\([0-9.]*\) p50_ms=\([0-9.]*\) p99_ms=\([0-9.]*\) requests=\([0-9]*\) errors=\([0-9]*\) non200=\([0-9]*\)/\1 \2 \3 \4 \5 \6/p'
}
# bench_build [DIR]: the release build the benchmarks run (DIR, default
# build-bench; set up on first use), brought up to date; sets bdir.
bench_build() {
  bdir=${1:-$PWD/build-bench}
  [ -f "$bdir/build.ninja" ] || meson setup "$bdir" -Dbuildtype=release -Dtests=disabled >/dev/null
  ninja -C "$bdir" >"$bdir.log" 2>&1 || { tail -30 "$bdir.log"; echo "bench: the build failed" >&2; exit 1; }
}
# scratch NAME: a new folder for one run's data under build-bench (printed).
scratch() { mkdir -p "$PWD/build-bench" && mktemp -d -p "$PWD/build-bench" --suffix=".$1"; }
# metric PORT NAME: one metric's value from herald's /metrics.
metric() { curl -s "http://127.0.0.1:$1/metrics" | sed -n "s/^$2 //p"; }
# cpu_ticks PID: the process's CPU time so far (user + system, every
# thread), in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# tree_ticks PID: the same for PID and its living children together (nginx's
# workers are its master's children).
tree_ticks() {
  local p t=0
  for p in "$1" $(pgrep -P "$1" || true); do t=$((t + $(cpu_ticks "$p"))); done
  echo "$t"
}
# us_per PID_TICKS_BEFORE TICKS_AFTER REQUESTS: CPU µs per request.
us_per() {
  awk -v d=$(($2 - $1)) -v hz="$(getconf CLK_TCK)" -v n="${3:-0}" \
    'BEGIN { if (n > 0) printf "%.0f", d / hz / n * 1e6; else print 0 }'
}
