#!/usr/bin/env bash
# The course's test command: install the outside programs the peer tests talk to (python3,
# socat, nc, curl, wrk), then run every test, peer tests included. Extra arguments go to
# `cargo test`.
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
if [ ${#packages[@]} -gt 0 ]; then
  echo "installing the test peers: ${packages[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi

NETCOURSE_REQUIRE_PEERS=1 cargo test "$@"
