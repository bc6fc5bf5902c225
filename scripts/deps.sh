#!/usr/bin/env bash
# Installs the Debian 12 packages herald needs, only those missing.
#   scripts/deps.sh build   what building and running herald needs
#                           (the GoCD plugin jar needs a JDK: see test)
#   scripts/deps.sh test    that, plus what the test suite needs
#   scripts/deps.sh bench   that, plus what the benchmarks need
#   scripts/deps.sh --list build|test|bench
#                           prints the packages that group adds (one a
#                           line) and installs nothing; scripts/test.sh
#                           hides the test and bench ones to check that
#                           `make run` needs only the build ones
# Runs apt-get as root, or through sudo when not root.
set -euo pipefail

build=(build-essential meson ninja-build pkg-config
       libjansson-dev libmicrohttpd-dev libsqlite3-dev
       libyaml-dev libjq-dev libcurl4-openssl-dev libssl-dev libpq-dev)
test=(libcriterion-dev python3 python3-pytest python3-pytest-xdist python3-aiosmtpd valgrind sqlite3 clang
      default-jdk-headless junit4 libhamcrest-java chromium nodejs postgresql)
bench=(wrk nginx-light)

if [ "${1:-}" = --list ]; then
  case "${2:-}" in
    build) printf '%s\n' "${build[@]}" ;;
    test) printf '%s\n' "${test[@]}" ;;
    bench) printf '%s\n' "${bench[@]}" ;;
    *) echo "usage: $0 --list build|test|bench" >&2; exit 2 ;;
  esac
  exit 0
fi

case "${1:-build}" in
  build) want=("${build[@]}") ;;
  test) want=("${build[@]}" "${test[@]}") ;;
  bench) want=("${build[@]}" "${test[@]}" "${bench[@]}") ;;
  *) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# The browser tests install playwright-core with npm, and the signature
# tests npm's standardwebhooks (tests/webhooks). Debian's nodejs
# comes without it (the npm package); a Node.js that brings its own npm
# (NodeSource's) conflicts with that package, so it is added only when
# there is no npm at all.
if [ "${1:-build}" != build ] && ! command -v npm >/dev/null; then
  missing+=(npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "deps: installing ${missing[*]}" >&2
$sudo apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
