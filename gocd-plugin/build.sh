#!/bin/sh
# Builds herald's GoCD plugin jar and runs its tests, with only a JDK (17 or later) and the
# Debian packages junit4 and libhamcrest-java.
#
#   ./build.sh              build build/herald-gocd-plugin.jar, then run the JUnit tests
#   ./build.sh --no-tests   only build (the jar, and the loader harness for the system tests)
#
# Class folders under build/classes: stubs (our declarations of GoCD's plugin API, never in
# the jar), main (the plugin), test (the JUnit tests), harness (the loader harness, compiled
# against the stubs alone so that it can only reach the plugin through the jar).
set -eu

cd "$(dirname "$0")"
run_tests=1
for arg in "$@"; do
    case "$arg" in
    --no-tests) run_tests=0 ;;
    *) echo "usage: $0 [--no-tests]" >&2; exit 2 ;;
    esac
done

JUNIT_JARS="${JUNIT_JARS:-/usr/share/java/junit4.jar:/usr/share/java/hamcrest-core.jar}"
JAVAC="javac --release 17 -encoding UTF-8 -Xlint:all -Werror"
B=build
C=$B/classes
JAR=$B/herald-gocd-plugin.jar

rm -rf "$C" "$JAR"
mkdir -p "$C/stubs" "$C/main" "$C/test" "$C/harness"

sources() { find "$@" -name '*.java' | LC_ALL=C sort; }

echo "compiling the API stubs"
# shellcheck disable=SC2046
$JAVAC -d "$C/stubs" $(sources src/api-stubs/java)
echo "compiling the plugin"
# shellcheck disable=SC2046
$JAVAC -cp "$C/stubs" -d "$C/main" $(sources src/main/java)

echo "packing $JAR"
jar --create --file "$JAR" -C "$C/main" . -C src/main/resources plugin.xml
entries=$(jar tf "$JAR")
if printf '%s\n' "$entries" | grep -q '^com/thoughtworks/'; then
    echo "FAIL: $JAR contains GoCD API classes:" >&2
    printf '%s\n' "$entries" | grep '^com/thoughtworks/' >&2
    exit 1
fi
if ! printf '%s\n' "$entries" | grep -qx 'plugin.xml'; then
    echo "FAIL: $JAR has no plugin.xml at its root" >&2
    exit 1
fi
echo "$JAR: $(printf '%s\n' "$entries" | grep -c '\.class$') classes, plugin.xml, no com/thoughtworks/ entry"

echo "compiling the loader harness"
# shellcheck disable=SC2046
$JAVAC -cp "$C/stubs" -d "$C/harness" $(sources src/test/java/herald/gocd/harness)

if [ "$run_tests" = 0 ]; then
    exit 0
fi

for j in $(echo "$JUNIT_JARS" | tr ':' ' '); do
    if [ ! -f "$j" ]; then
        echo "FAIL: $j is missing (apt-get install junit4 libhamcrest-java, or set JUNIT_JARS)" >&2
        exit 1
    fi
done

echo "compiling the tests"
# shellcheck disable=SC2046
$JAVAC -cp "$C/stubs:$C/main:$JUNIT_JARS" -d "$C/test" \
    $(find src/test/java -name '*.java' -not -path '*/harness/*' | LC_ALL=C sort)

classes=$(cd src/test/java && find . -name '*Test.java' -not -path '*/harness/*' | LC_ALL=C sort |
    sed -e 's|^\./||' -e 's|\.java$||' -e 's|/|.|g')
echo "running" $classes
log=$B/junit.log
set +e
java -cp "$C/stubs:$C/main:$C/test:$JUNIT_JARS" org.junit.runner.JUnitCore $classes >"$log" 2>&1
status=$?
set -e
cat "$log"

# JUnitCore ends with "OK (N tests)" or "Tests run: N,  Failures: M".
total=$(sed -n -e 's/^OK (\([0-9]*\) tests\{0,1\})$/\1/p' -e 's/^Tests run: \([0-9]*\), *Failures: [0-9]*$/\1/p' "$log" | tail -n 1)
failures=$(sed -n 's/^Tests run: [0-9]*, *Failures: \([0-9]*\)$/\1/p' "$log" | tail -n 1)
total=${total:-0}
failures=${failures:-0}
if [ "$status" != 0 ] && [ "$failures" = 0 ]; then
    failures=1 # JUnit itself failed (a class not found, a crash): count it as a failure
fi
echo "$((total - failures > 0 ? total - failures : 0)) passed, $failures failed"
[ "$status" = 0 ]
