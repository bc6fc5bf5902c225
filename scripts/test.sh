#!/usr/bin/env bash
# herald's whole test suite, as `make test` and .ci/run run it:
#   1. build (warnings are errors), scripts/checksrc.sh, and a build the
#      way `make run` does it with the test packages out of sight
#   2. Criterion unit tests, fuzz corpus replays, system tests (pytest
#      driving the real daemon over loopback), the dashboard's browser
#      tests (Node's test runner driving headless Chromium, tests/browser);
#      the system tests' Standard Webhooks verifier is npm's standardwebhooks
#      (tests/webhooks, installed with npm ci)
#   3. the same under AddressSanitizer + UndefinedBehaviorSanitizer (the
#      store's unit tests on both engines, the system tests on SQLite)
#   4. unit tests and a system-test subset under valgrind
# Every runner's own counts are added up; the last line is
# "N passed, N failed". Exit status 0 only when nothing failed.
#
# A throwaway PostgreSQL server (scripts/pg.sh) runs for the whole suite;
# HERALD_TEST_PG names it, and the store's unit tests and the system tests
# run against both engines (HERALD_TEST_STORE=postgresql for the second).
#
# Environment: HERALD_TEST_QUICK=1 skips steps 3 and 4 (for a fast loop).
set -u
cd "$(dirname "$0")/.."
root=$PWD
PY=/usr/bin/python3
logdir=$root/build/test-logs
passed=0
failed=0

scripts/deps.sh test || { echo "0 passed, 1 failed"; exit 1; }

# note TITLE: starts a step, after saying how long the last one took.
step_started=$SECONDS
note() {
  [ -n "${step_title:-}" ] && printf '(%s: %ds)\n' "$step_title" $((SECONDS - step_started))
  step_title=$*; step_started=$SECONDS
  printf '\n== %s\n' "$*"
}
pass() { passed=$((passed + $1)); }
fail() { failed=$((failed + $1)); [ "$1" -gt 0 ] && echo "FAILED: $2"; }

build_dir() { # build_dir DIR [meson options...]: scripts/build.sh, quietly
  local log=$logdir.$(basename "$1").build
  scripts/build.sh "$@" >"$log" 2>&1 || { tail -50 "$log"; return 1; }
}

# fresh_build: builds herald the way `make run` does (scripts/build.sh with
# no options, in a new folder) with the test and bench packages out of
# sight, as on a machine where only `scripts/deps.sh build` ran: pkg-config
# sees none of their .pc files, and no object may have read one of their
# headers. A build that still found Criterion proves nothing and fails.
fresh_build() {
  local top=$root/build-fresh
  local dir=$top/build view=$top/pkgconfig hidden=$top/hidden p f pcdir
  rm -rf "$top"; mkdir -p "$view"
  for p in $(scripts/deps.sh --list test) $(scripts/deps.sh --list bench); do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || continue
    dpkg -L "$p"
  done | grep -E '\.pc$|^/usr/include/.*\.[^/]+$' >"$hidden"
  local pcdirs; IFS=: read -ra pcdirs <<<"$(pkg-config --variable pc_path pkg-config)"
  for pcdir in "${pcdirs[@]}"; do
    for f in "$pcdir"/*.pc; do
      [ -e "$f" ] && [ ! -e "$view/${f##*/}" ] || continue
      grep -qxF "$f" "$hidden" || ln -s "$f" "$view/${f##*/}"
    done
  done
  PKG_CONFIG_LIBDIR=$view PKG_CONFIG_PATH='' scripts/build.sh "$dir" || return 1
  if [ -n "$(find "$dir" -path '*/tests/unit/test_*' -type f -executable)" ]; then
    echo "fresh build: the unit tests were built, so Criterion was not out of sight"; return 1
  fi
  if ninja -C "$dir" -t deps | grep -F -f "$hidden"; then
    echo "fresh build: the files above belong to packages only scripts/deps.sh test installs"; return 1
  fi
  "$dir/herald" --version
}

# run_criterion LABEL CMD... : runs one Criterion binary, adds its counts.
run_criterion() {
  local label=$1; shift
  local out rc
  out=$("$@" 2>&1); rc=$?
  count_criterion "$label" "$rc" "$out"
}

# count_criterion LABEL EXIT OUTPUT : adds the counts of one Criterion run.
count_criterion() {
  local label=$1 rc=$2 out=$3
  local line tested passing
  line=$(printf '%s\n' "$out" | sed 's/\x1b\[[0-9;]*m//g' | grep 'Synthesis:' | tail -1)
  if [ -z "$line" ]; then
    printf '%s\n' "$out" | tail -30
    fail 1 "$label (no Criterion summary; exit $rc)"
    return
  fi
  tested=$(printf '%s' "$line" | sed -E 's/.*Tested: ([0-9]+).*/\1/')
  passing=$(printf '%s' "$line" | sed -E 's/.*Passing: ([0-9]+).*/\1/')
  echo "$label: $passing of $tested passed"
  pass "$passing"
  if [ "$tested" -ne "$passing" ] || [ "$rc" -ne 0 ]; then
    printf '%s\n' "$out" | grep -vE '^\[====\] Running|^\[RUN|^\[PASS' | tail -40
    local bad=$((tested - passing)); [ $bad -eq 0 ] && bad=1
    fail $bad "$label"
  fi
}

# run_one LABEL CMD... : a whole command is one test.
run_one() {
  local label=$1; shift
  local out
  if out=$("$@" 2>&1); then
    echo "$label: passed"; pass 1
  else
    printf '%s\n' "$out" | tail -40
    fail 1 "$label"
  fi
}

# run_pytest LABEL [env...] -- [pytest args...]
# The system tests mostly wait (for retries, deadlines, a daemon to stop),
# so they run three at a time (pytest-xdist); each has its own daemon,
# folder, port and database. Under valgrind the daemons use the CPU, so two.
# pytest_start takes the same arguments and runs it in the background;
# pytest_count LABEL waits for it and adds its counts.
run_pytest() { pytest_start "$@"; pytest_count "$1"; }
declare -A pytest_pid
pytest_start() {
  local label=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  rm -f "$logdir/pytest-$label.xml"
  env "${envs[@]}" $PY -m pytest -q -p no:cacheprovider --junitxml="$logdir/pytest-$label.xml" "$@" tests/system \
    >"$logdir/pytest-$label.log" 2>&1 &
  pytest_pid[$label]=$!
}
pytest_count() {
  local label=$1 rc
  local xml=$logdir/pytest-$label.xml
  wait "${pytest_pid[$label]}"; rc=$?
  if [ ! -f "$xml" ]; then
    tail -40 "$logdir/pytest-$label.log"; fail 1 "$label (pytest did not run, exit $rc)"; return
  fi
  local counts
  counts=$($PY - "$xml" <<'PYEOF'
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
suites = [r] if r.tag == "testsuite" else list(r)
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
sk = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - sk, f, sk)
PYEOF
)
  read -r p f s <<<"$counts"
  echo "$label: $p passed, $f failed, $s skipped"
  [ "$f" -gt 0 ] && grep -E '^(FAILED|ERROR)' "$logdir/pytest-$label.log" | head -20
  [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && { tail -20 "$logdir/pytest-$label.log"; f=1; }
  pass "$p"; fail "$f" "$label"
}

# run_browser: the dashboard's browser tests (tests/browser/run.sh, which
# installs playwright-core with npm); counts its TAP summary.
run_browser() {
  local log=$logdir/browser.log p f rc
  HERALD_BIN="$root/build/herald" tests/browser/run.sh >"$log" 2>&1
  rc=$?
  p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$log" | tail -1)
  f=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$log" | tail -1)
  if [ -z "$p" ] || [ -z "$f" ]; then
    tail -40 "$log"; fail 1 "browser (no TAP summary; exit $rc)"; return
  fi
  echo "browser: $p passed, $f failed"
  # Each failure with its YAML block (the error, the step it waited for,
  # the stack): a flaky failure in CI is otherwise a name and nothing else.
  [ "$f" -gt 0 ] && awk '/^ *not ok/ { on = 1 } on { print } on && /^ *\.\.\.$/ { on = 0 }' "$log" | head -80
  [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && { tail -20 "$log"; f=1; }
  pass "$p"; fail "$f" browser
}


# The unit binaries under valgrind: CPU-bound and slow (about 10 minutes),
# while the system and browser tests mostly wait on timers. So they start
# in the background right after the unit tests, at the lowest priority
# (nice 19: they take only the CPU the other steps leave idle), and the
# valgrind step collects them. Valgrind is single-threaded, so the
# binaries run two at a time (their outputs are kept and counted in order
# afterwards).
# --vex-guest-chase=no: valgrind's translator does not follow branches
# into longer blocks. The checks are the same; most of valgrind's time here
# is translating code that runs once (every test is a new process, and
# starting one costs about a second under valgrind), which this makes
# 8 to 15% cheaper (measured on test_store_deliveries and test_ingest_redact).
vg="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect --trace-children=yes --vex-guest-chase=no"
vg_units_start() {
  # Criterion runs each test in a child and ignores the child's exit status
  # under valgrind, so every process logs to its own file and any
  # non-empty log (valgrind -q writes only what it found) fails the binary.
  # The longest under valgrind (test_route_config about 4 CPU-minutes,
  # the others about one each; measured with /usr/bin/time) start first,
  # so the others fill the second core beside them instead of all waiting
  # for them at the end. Every test costs about a second of valgrind's
  # start-up besides: Criterion runs each in a process of its own.
  vgjobs=$(nproc 2>/dev/null || echo 2); [ "$vgjobs" -gt 4 ] && vgjobs=4
  vgfirst="test_route_config test_deliver test_ingest_gocd_notification test_route_jq"
  vgorder=$(for n in $vgfirst; do [ -x "build/tests/unit/$n" ] && echo "build/tests/unit/$n"; done
            units build | grep -vxF -f <(for n in $vgfirst; do echo "build/tests/unit/$n"; done))
  for t in $vgorder; do
    vlog=$logdir/vg-$(basename "$t")
    rm -rf "$vlog"; mkdir -p "$vlog"
    while [ "$(jobs -rp | wc -l)" -ge "$vgjobs" ]; do wait -n; done
    # test_route_config, the longest, runs two tests at a time.
    cj=1; [ "$(basename "$t")" = test_route_config ] && cj=2
    ( nice -n 19 $vg --log-file="$vlog/%p.log" "$t" --jobs $cj >"$vlog.out" 2>&1; echo $? >"$vlog.rc" ) &
  done
  wait
}
vg_units_pid=
vg_units_wait() { [ -n "$vg_units_pid" ] && wait "$vg_units_pid"; vg_units_pid=; }

units() { find "$1/tests/unit" -maxdepth 1 -type f -executable -name 'test_*' | sort; }
# store_units_on_pg BUILD PREFIX: the store's tests of BUILD again on
# PostgreSQL: every binary linked with the store tests' fixtures
# (tests/unit/store_test.c), which read HERALD_TEST_STORE; the others
# would only run twice.
store_units_on_pg() {
  local t
  for t in $(units "$1"); do
    if grep -q HERALD_TEST_STORE "$t"; then
      run_criterion "$2/$(basename "$t") (postgresql)" env HERALD_TEST_STORE=postgresql "$t" --jobs 2
    fi
  done
}
replays() { find "$1/fuzz" -maxdepth 1 -type f -executable -name 'replay_*' | sort; }

mkdir -p build
mkdir -p "$logdir"

note "build"
if ! build_dir build -Dtests=enabled; then echo "0 passed, 1 failed"; exit 1; fi
run_one checksrc scripts/checksrc.sh
run_one "fresh-machine build (make run without the test packages)" fresh_build

# The sanitizers' build, in the background from here at a lower priority
# (nice 10: the tests' daemons come first, the valgrind runs after it), so
# that it is ready when step 3 comes instead of a compile in its path.
asan_build_pid=
if [ "${HERALD_TEST_QUICK:-0}" != 1 ]; then
  ( renice -n 10 "$BASHPID" >/dev/null
    build_dir build-asan -Dtests=enabled -Db_sanitize=address,undefined -Db_lundef=false \
      -Dbuildtype=debug ) >"$logdir/asan-build.out" 2>&1 &
  asan_build_pid=$!
fi

note "PostgreSQL for the tests"
pgdir=$(mktemp -d /tmp/herald-pg.XXXXXX)
trap 'scripts/pg.sh stop "$pgdir"' EXIT
if HERALD_TEST_PG=$(scripts/pg.sh start "$pgdir" | tail -1); then
  export HERALD_TEST_PG; echo "PostgreSQL: $HERALD_TEST_PG"; pass 1
else
  fail 1 "PostgreSQL server (scripts/pg.sh start)"
fi

note "unit tests"
for t in $(units build); do run_criterion "unit/$(basename "$t")" "$t" --jobs 2; done
store_units_on_pg build unit

if [ "${HERALD_TEST_QUICK:-0}" != 1 ]; then
  vg_units_start & vg_units_pid=$!
fi

note "fuzz corpus replay"
for r in $(replays build); do
  run_one "fuzz/$(basename "$r")" "$r" "fuzz/corpus/${r##*/replay_}"
done

note "GoCD plugin jar (javac, jar, JUnit)"
# build.sh builds the jar (checking it holds no GoCD API class), runs the
# JUnit tests and ends with JUnit's own "N passed, N failed".
if out=$(gocd-plugin/build.sh 2>&1); then jrc=0; else jrc=$?; fi
jline=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1)
if [ -z "$jline" ]; then
  printf '%s\n' "$out" | tail -30; fail 1 "gocd-plugin (no JUnit summary; exit $jrc)"
else
  jp=${jline%% passed*}; jf=${jline#*, }; jf=${jf%% failed}
  echo "gocd-plugin: $jline"
  pass "$jp"
  if [ "$jf" -gt 0 ] || [ "$jrc" -ne 0 ]; then
    printf '%s\n' "$out" | tail -30; fail $((jf > 0 ? jf : 1)) "gocd-plugin"
  fi
fi

note "Standard Webhooks reference library for the signature tests (npm ci, tests/webhooks)"
run_one "tests/webhooks/install.sh" tests/webhooks/install.sh

note "system tests"
# Both engines at once: the tests mostly wait, and each has its own
# daemon, port, folder and database.
pytest_start system HERALD_BIN="$root/build/herald" -- -n 3
pytest_start system-postgresql HERALD_BIN="$root/build/herald" HERALD_TEST_STORE=postgresql -- -n 3
pytest_count system
pytest_count system-postgresql

note "browser tests (the dashboard in headless Chromium)"
run_browser

if [ "${HERALD_TEST_QUICK:-0}" != 1 ]; then
  note "AddressSanitizer + UndefinedBehaviorSanitizer"
  if wait "$asan_build_pid" || { cat "$logdir/asan-build.out"; false; }; then
    export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
    for t in $(units build-asan); do run_criterion "asan/$(basename "$t")" "$t" --jobs 2; done
    # The store's tests on PostgreSQL too: its engine (src/store/pg*.c)
    # runs nowhere else under the sanitizers (about 20 s).
    store_units_on_pg build-asan asan
    for r in $(replays build-asan); do
      run_one "asan/fuzz/$(basename "$r")" "$r" "fuzz/corpus/${r##*/replay_}"
    done
    run_pytest asan HERALD_BIN="$root/build-asan/herald" HERALD_TEST_SLOW=2 -- -n 3 -m "not slow"
    unset ASAN_OPTIONS UBSAN_OPTIONS
  else
    fail 1 "sanitizer build"
  fi

  note "valgrind"
  vg_units_wait
  for t in $(units build); do
    vlog=$logdir/vg-$(basename "$t")
    count_criterion "valgrind/$(basename "$t")" "$(cat "$vlog.rc")" "$(cat "$vlog.out")"
    if grep -q . "$vlog"/*.log 2>/dev/null; then
      cat "$vlog"/*.log | head -40
      fail 1 "valgrind/$(basename "$t") (memory errors or leaks)"
    fi
  done
  run_pytest valgrind HERALD_BIN="$root/build/herald" HERALD_WRAPPER="$vg" -- -n 2 -m valgrind
fi

echo
echo "$passed passed, $failed failed" | tee "$logdir/summary"
[ "$failed" -eq 0 ]
