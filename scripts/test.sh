#!/usr/bin/env bash
# Runs every check and test of the repo: formatting, clippy (server and WASM), the dashboard's
# release WASM, cargo tests, and the Playwright suite in Debian's chromium. Installs what it
# needs first. Prints each stage's time; stages that do not depend on each other run side by
# side (two lanes), which keeps both cores busy through each build's serial stretches.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=never

start_all=$(date +%s)
timings=()
stage() {
  local name=$1
  shift
  local t0
  t0=$(date +%s)
  printf '\n==== %s\n' "$name"
  "$@"
  local dt=$(($(date +%s) - t0))
  timings+=("$(printf '%-28s %5ss' "$name" "$dt")")
  printf '==== %s: %ss\n' "$name" "$dt"
}

# Two lanes at once: each a function run as its own stage, its output held until both end
# (so the log reads lane by lane). Fails when either fails.
lanes() {
  local a=$1 b=$2 t0 log_a log_b status=0
  t0=$(date +%s)
  log_a=$(mktemp)
  log_b=$(mktemp)
  (set -e; "$a") >"$log_a" 2>&1 &
  local pid_a=$!
  (set -e; "$b") >"$log_b" 2>&1 &
  local pid_b=$!
  wait "$pid_a" || status=1
  wait "$pid_b" || status=1
  cat "$log_a" "$log_b"
  # The lanes' own stage times, then the wall time of both.
  while IFS= read -r line; do
    timings+=("$line")
  done < <(sed -n 's/^==== \(.*\): \([0-9]*\)s$/\1 \2/p' "$log_a" "$log_b" |
    awk '{ t=$NF; $NF=""; printf "  %-26s %5ss\n", $0, t }')
  rm -f "$log_a" "$log_b"
  timings+=("$(printf '%-28s %5ss' "($a ‖ $b)" "$(($(date +%s) - t0))")")
  return "$status"
}

# Lane: the checks, then the server and its tests (one dev build in target/debug, which the
# Playwright suite runs too, so the server's dependencies compile once).
checks_and_build() {
  stage "clippy (server)" cargo clippy -p server -p test-support -p app --all-targets -- -D warnings
  stage "clippy (wasm)" cargo clippy -p frontend -p app --features app/hydrate \
    --target wasm32-unknown-unknown -- -D warnings
  stage "test build" cargo test -p server -p app -p protocol -p test-support --no-run
}
# Lane: the dashboard's WASM in its shipping profile (`wasm-release`; cargo-leptos builds it in
# target/front, so it does not wait for the other lane's lock on target/debug).
wasm() {
  stage "wasm build" cargo leptos build --release --split --frontend-only
  stage "precompress" node scripts/precompress.mjs
}
cargo_tests() {
  stage "cargo test" cargo test -p server -p app -p protocol -p test-support
}
playwright() {
  stage "playwright" env COOPMUX_BIN="$PWD/target/debug/coopmux" \
    bash -c 'cd end2end && npx playwright test'
}

stage "setup" scripts/setup.sh
stage "fmt" cargo fmt --all --check
lanes checks_and_build wasm
lanes cargo_tests playwright

printf '\n==== stage times\n'
printf '%s\n' "${timings[@]}"
printf 'total %ss\n' "$(($(date +%s) - start_all))"
