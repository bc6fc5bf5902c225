#!/usr/bin/env bash
# The dashboard's browser tests, as scripts/test.sh runs them: installs
# playwright-core at the version package-lock.json pins (npm; a no-op when
# node_modules already has it), then runs every *.test.mjs in Node's test
# runner against HERALD_BIN in Debian's headless Chromium. Prints TAP; its
# "# pass N" and "# fail N" are what scripts/test.sh counts.
set -eu
cd "$(dirname "$0")"
command -v node >/dev/null || { echo "browser tests: node is missing (scripts/deps.sh test)"; exit 1; }
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || { echo "browser tests: chromium is missing (scripts/deps.sh test)"; exit 1; }
npm install --no-audit --no-fund --loglevel=error >/dev/null
# The files run side by side: each has its own herald, target and browser,
# and each spends a minute or two just waiting (the idle measurements).
# Node 18 has no --test-concurrency and runs them one after the other.
conc=
node --help | grep -q -- --test-concurrency && conc=--test-concurrency=4
exec node --test $conc --test-reporter=tap ./*.test.mjs
