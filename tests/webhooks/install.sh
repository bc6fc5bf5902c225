#!/usr/bin/env bash
# Installs the Standard Webhooks reference library (npm's standardwebhooks)
# at the version package-lock.json pins, with `npm ci`, for
# tests/system/test_signing.py; scripts/test.sh runs it before the system
# tests, and the test runs it too. A no-op when node_modules was installed
# from the current lock file.
set -eu
cd "$(dirname "$0")"
command -v node >/dev/null || { echo "webhook tests: node is missing (scripts/deps.sh test)"; exit 1; }
command -v npm >/dev/null || { echo "webhook tests: npm is missing (scripts/deps.sh test)"; exit 1; }
if [ -f node_modules/.package-lock.json ] && [ node_modules/.package-lock.json -nt package-lock.json ] &&
  [ -f node_modules/standardwebhooks/package.json ]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error >/dev/null
