#!/usr/bin/env bash
# The course's test command: install the outside programs the peer tests talk to (python3,
# socat, nc, curl, wrk, and chromium with node and playwright-core for the browser tests), then
# run every test, peer tests included. Extra arguments go to `cargo test`.
#
# Plain `cargo test` runs everything that needs no outside program and lists each peer test it
# skipped, with the reason. Here NETCOURSE_REQUIRE_PEERS=1 makes every peer test run: one whose
# program is missing fails instead of being skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
command -v python3 >/dev/null || packages+=(python3)
command -v socat >/dev/null || packages+=(socat)
command -v nc >/dev/null || packages+=(netcat-openbsd)
command -v curl >/dev/null || packages+=(curl)
command -v wrk >/dev/null || packages+=(wrk)
# tcpdump: lesson 10 decodes a capture it makes on lo (capturing needs root, which CI has).
command -v tcpdump >/dev/null || packages+=(tcpdump)
# dig queries lesson 15's DNS server; dnsmasq (the binary alone, no system service) is the DNS
# server nobody here wrote that lesson 15's resolver asks.
command -v dig >/dev/null || packages+=(bind9-dnsutils)
command -v dnsmasq >/dev/null || [ -x /usr/sbin/dnsmasq ] || packages+=(dnsmasq-base)
# The browser tests: Debian's chromium (no browser download), driven from node by playwright-core.
[ -n "${CHROMIUM:-}" ] || command -v chromium >/dev/null || packages+=(chromium)
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
if [ ${#packages[@]} -gt 0 ]; then
  echo "installing the test peers: ${packages[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi

# playwright-core, at the version package-lock.json pins (no browser download: it drives the
# chromium above).
# Node's ws client comes from the same package-lock.json.
if [ ! -f tests/browser/node_modules/playwright-core/package.json ] || [ ! -f tests/browser/node_modules/ws/package.json ]; then
  echo "installing playwright-core and ws (tests/browser)"
  npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
fi

# Python's websockets library (lesson 09's independent server and real client).
if ! python3 -c "import websockets" 2>/dev/null; then
  echo "installing the websockets Python library"
  python3 -m pip install --quiet 'websockets>=12'
fi
# kosoku: the Autobahn TestSuite's cases, run from Python (lessons 11 and 12's conformance).
if ! command -v kosoku >/dev/null; then
  echo "installing kosoku (the Autobahn TestSuite runner)"
  python3 -m pip install --quiet 'kosoku==0.1.0'
fi

NETCOURSE_REQUIRE_PEERS=1 cargo test "$@"
