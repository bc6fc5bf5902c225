#!/usr/bin/env bash
# Finds calls to the functions herald's C does not use (STYLE.md, habit 8):
# sprintf, vsprintf, strcpy, strcat, strncpy, strtok, atoi, atol, gets.
# Prints each offending line and exits 1 when there is one.
set -u
cd "$(dirname "$0")/.."
hits=$(grep -nE '(^|[^_a-z0-9])(sprintf|vsprintf|strcpy|strcat|strncpy|strtok|atoi|atol|gets)[[:space:]]*\(' \
  $(git ls-files 'src/*.c' 'src/*.h' 'tests/unit/*.c' 'fuzz/*.c' 'bench/*.c' 2>/dev/null) 2>/dev/null || true)
if [ -n "$hits" ]; then
  echo "checksrc: unsafe functions used:"
  echo "$hits"
  exit 1
fi
echo "checksrc: no unsafe functions"
