#!/usr/bin/env bash
# Sets up a Meson build folder (once) and builds it: the one build command
# `make build` and `make run` use, and scripts/test.sh too.
#   scripts/build.sh [DIR [MESON OPTION...]]    DIR defaults to build
# A folder already set up gets the options given through `meson configure`
# (a no-op when they are already set), so a folder `make run` set up without
# the unit tests gets them when scripts/test.sh asks for -Dtests=enabled,
# and the other way round nothing is undone. Without options it needs only
# what `scripts/deps.sh build` installs: the unit tests are built only when
# Criterion is there (meson_options.txt); scripts/test.sh checks that.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
[ $# -gt 0 ] && shift
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" "$@"
elif [ $# -gt 0 ]; then
  meson configure "$dir" "$@"
fi
ninja -C "$dir"
