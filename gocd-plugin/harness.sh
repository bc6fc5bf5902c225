#!/bin/sh
# Runs the loader harness against a running herald (build first with ./build.sh --no-tests):
#
#   gocd-plugin/harness.sh PAYLOAD_DIR HERALD_URL [--token TOKEN] [--settings FILE] [--packages]
#
# --packages also drives the package-repository extension (needs herald's /api/v1/packages/
# and /gocd/package-repository/).
#
# e.g. gocd-plugin/harness.sh tests/payloads/gocd http://127.0.0.1:8190
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec java -cp "$here/build/classes/stubs:$here/build/classes/harness" herald.gocd.harness.LoaderHarness \
    "$here/build/herald-gocd-plugin.jar" "$@"
