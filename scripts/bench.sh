#!/usr/bin/env bash
# Benchmarks for lessons 04-06: what a connection costs (memory, threads), round trips at 100
# connections, and a client that never reads. Release builds; prints Markdown tables and draws
# diagrams/05-memory-by-connections.svg. Takes about a minute; loopback only.
#
#   scripts/bench.sh                 # lessons 04, 05 and 06
#   scripts/bench.sh --lessons 05    # just one
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bins
target/release/course bench --chart diagrams/05-memory-by-connections.svg "$@"
