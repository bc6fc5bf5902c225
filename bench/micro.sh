#!/usr/bin/env bash
# CPU nanoseconds per body of parse+map and of the stored document (GoCD
# stage-status, Jenkins job-status and notification, herald notify), old
# against new in the same run (bench/ingest_micro.c): builds the program
# against this tree and against OLD's sources (default aa0f654, before
# the single-pass reader and writer; any later commit works too), runs them in turn ROUNDS times and
# prints each step's median per build and the ratio new/old.
#   bench/micro.sh                  (OLD=aa0f654 ROUNDS=5 ITER=20000)
#   OLD=<commit> ROUNDS=9 bench/micro.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=${OLD:-aa0f654}
ROUNDS=${ROUNDS:-5}
ITER=${ITER:-20000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/old"
git archive "$OLD" src | tar -x -C "$tmp/old"
flags="-std=c11 -O2 -g -D_GNU_SOURCE -pthread"
libs="$(pkg-config --libs jansson) -lm"
# An OLD that has event/doc.c makes the document as this tree does;
# before it, the document was the event's jansson tree dumped.
old_def=-DHR_MICRO_OLD
[ -f "$tmp/old/src/event/doc.c" ] && old_def=
# shellcheck disable=SC2086
cc $flags $old_def -I"$tmp/old/src" bench/ingest_micro.c "$tmp"/old/src/ingest/*.c \
  "$tmp"/old/src/event/*.c "$tmp"/old/src/core/*.c $libs -o "$tmp/micro_old"
# shellcheck disable=SC2086
cc $flags -Isrc bench/ingest_micro.c src/ingest/*.c src/event/*.c src/core/*.c $libs \
  -o "$tmp/micro_new"
for r in $(seq "$ROUNDS"); do
  "$tmp/micro_old" bench "$ITER" | sed 's/^/old /'
  "$tmp/micro_new" bench "$ITER" | sed 's/^/new /'
done > "$tmp/out"
awk '
  { v[$1" "$2" "$3] = v[$1" "$2" "$3] " " $4 }
  function median(s,   a, n, i, j, t) {
    n = split(s, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return a[int((n + 1) / 2)]
  }
  END {
    printf "%-14s %-10s %10s %10s %8s\n", "body", "step", "old ns", "new ns", "new/old"
    nb = split("stage-status job-status notification ci-notify", bodies, " ")
    split("parse+map document total", steps, " ")
    for (b = 1; b <= nb; b++) for (s = 1; s <= 3; s++) {
      o = median(v["old " bodies[b] " " steps[s]]); n = median(v["new " bodies[b] " " steps[s]])
      printf "%-14s %-10s %10d %10d %8.2f\n", bodies[b], steps[s], o, n, n / o
    }
  }' "$tmp/out"
