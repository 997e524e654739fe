#!/usr/bin/env bash
# Fuzz every target in fuzz/fuzz_targets/ for SECONDS each (default 30) with cargo-fuzz
# (libFuzzer, address sanitizer). Exits non-zero on the first crash, panic, leak or hang, and
# leaves the input that caused it in fuzz/artifacts/<target>/ (replay it with
# `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run <target> artifacts/<target>/<file>`).
#
#   scripts/fuzz.sh          # 30 s per target
#   scripts/fuzz.sh 600      # a longer hunt
#
# A new target joins by adding fuzz_targets/<name>.rs (and, if it has them, seed inputs in
# fuzz/seeds/<name>/): a file not yet declared as a [[bin]] in fuzz/Cargo.toml is declared here,
# as `cargo fuzz add` would (commit that change).
#
# Seeds are the committed starting inputs; libFuzzer grows its corpus from them in
# fuzz/corpus/<name>/, a scratch folder (git ignores it) that later runs on this machine reuse.
#
# cargo-fuzz passes nightly-only flags to rustc (-Zsanitizer=address and others). Only a stable
# toolchain is installed here, so RUSTC_BOOTSTRAP=1 lets it accept them, for this build only.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz (cargo install cargo-fuzz --locked; about 5 minutes on 2 cores)"
  started=$(date +%s)
  cargo install cargo-fuzz --locked
  echo "cargo-fuzz installed in $(($(date +%s) - started)) s"
fi
export RUSTC_BOOTSTRAP=1

cd fuzz
shopt -s nullglob
targets=(fuzz_targets/*.rs)
if [ ${#targets[@]} -eq 0 ]; then
  echo "no fuzz targets in fuzz/fuzz_targets/" >&2
  exit 1
fi
for file in "${targets[@]}"; do
  name=$(basename "$file" .rs)
  if ! grep -q "^name = \"$name\"$" Cargo.toml; then
    echo "declaring fuzz target $name in fuzz/Cargo.toml"
    printf '\n[[bin]]\nname = "%s"\npath = "%s"\ntest = false\ndoc = false\nbench = false\n' \
      "$name" "$file" >>Cargo.toml
  fi
done

log=$(mktemp)
trap 'rm -f "$log"' EXIT
for file in "${targets[@]}"; do
  name=$(basename "$file" .rs)
  corpus="corpus/$name"
  mkdir -p "$corpus"
  if [ -d "seeds/$name" ]; then
    cp seeds/"$name"/* "$corpus"/
  fi
  echo "== fuzz $name for ${seconds} s (corpus $(find "$corpus" -type f | wc -l) inputs) =="
  started=$(date +%s)
  # -timeout: one input running 10 s is a hang, and a failure. -print_final_stats: executions,
  # executions per second and peak memory at the end. Progress lines go to the log only.
  if ! cargo fuzz run "$name" "$corpus" -- -max_total_time="$seconds" -timeout=10 \
    -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "FAIL: fuzz target $name crashed; the input is in fuzz/artifacts/$name/" >&2
    exit 1
  fi
  grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)|^Done ' "$log" || true
  echo "fuzz $name: no crash ($(($(date +%s) - started)) s with the build)"
done
