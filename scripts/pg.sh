#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests: Debian's postgresql,
# initdb into a temporary folder, on loopback, on a free port.
#   scripts/pg.sh start DIR   creates DIR/data, starts the server, and prints
#                             its connection URI (also in DIR/uri)
#   scripts/pg.sh stop DIR    stops it and removes DIR
#   scripts/pg.sh halt DIR    stops it and keeps DIR (the tests of a
#                             PostgreSQL that went away)
#   scripts/pg.sh resume DIR  starts a halted one again, on the same port
# initdb refuses root: as root, the server runs as the postgres user
# (Debian's package creates it), which then owns DIR. Trust authentication
# on loopback only; nothing here is for production.
set -euo pipefail

bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$bin/initdb" ] || { echo "pg.sh: no PostgreSQL server found (install postgresql)" >&2; exit 1; }
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|halt|resume DIR" >&2; exit 2; }

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The server's options. fsync=off: the tests kill herald (kill -9) and stop
# or halt the server, never the machine, and a commit still reaches the
# operating system before PostgreSQL answers it (synchronous_commit stays
# on), so no test means less; what fsync adds is a flush to the disk that
# on a loaded CI machine made one CREATE DATABASE take up to a minute.
# wal_init_zero=off: a new server has no WAL segments to recycle yet, and
# the commit that needs the next one wrote its 16 MB of zeros first while
# every other commit waited (bench/pg.sh's p99 of 40 ms, 5 ms without);
# a server that has run a while recycles its segments and writes none.
options() { # options DIR PORT
  echo "-c listen_addresses=127.0.0.1 -p $2 -k $1 -c max_connections=200" \
       "-c fsync=off -c full_page_writes=off -c wal_init_zero=off"
}

case "$cmd" in
start)
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
  user=$(as_owner id -un)
  as_owner "$bin/initdb" -D "$dir/data" -U "$user" -A trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  echo "$port" >"$dir/port"
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "$(options "$dir" "$port")" start >/dev/null ||
    { cat "$dir/server.log" >&2; exit 1; }
  as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U "$user" herald
  echo "postgresql://$user@127.0.0.1:$port/herald" | tee "$dir/uri"
  ;;
halt)
  as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
  ;;
resume)
  port=$(cat "$dir/port")
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "$(options "$dir" "$port")" start >/dev/null ||
    { cat "$dir/server.log" >&2; exit 1; }
  ;;
stop)
  [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  ;;
*) echo "usage: $0 start|stop|halt|resume DIR" >&2; exit 2 ;;
esac
