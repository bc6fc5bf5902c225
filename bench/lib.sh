# What the ingest benchmarks (bench/run.sh, bench/pg.sh) share; sourced,
# from the repository's root.
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 400); do (echo >/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
# load PORT [CONNS] -> "rps p50 p99 requests errors non200": wrk with
# SCRIPT (default bench/post.lua), CONNS connections, for DURATION.
load() {
  wrk -t2 -c"${2:-$CONNS}" -d"$DURATION" -s "${SCRIPT:-bench/post.lua}" "http://127.0.0.1:$1" 2>&1 |
    sed -n 's/^RESULT rps=\([0-9.]*\) p50_ms=\([0-9.]*\) p99_ms=\([0-9.]*\) requests=\([0-9]*\) errors=\([0-9]*\) non200=\([0-9]*\)/\1 \2 \3 \4 \5 \6/p'
}
