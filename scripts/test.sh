#!/usr/bin/env bash
# Runs every check and test of the repo: formatting, clippy (server and WASM), the dashboard's
# release WASM, cargo tests, and the Playwright suite in Debian's chromium. Installs what it
# needs first. Prints each stage's time.
#
# The builds run one after the other (each keeps both cores busy; side by side they only
# contend). The server is built once, in the dev profile, by the cargo tests; the Playwright
# suite runs that binary. The tests run one binary at a time: run all at once beside the
# Playwright suite they took 99 s instead of 235 s, but two tests failed under that load
# (a replica-convergence test and a host switch test); that waits for those to be fixed.
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

stage "setup" scripts/setup.sh
stage "fmt" cargo fmt --all --check
stage "clippy (server)" cargo clippy -p server -p test-support -p app --all-targets -- -D warnings
stage "clippy (wasm)" cargo clippy -p frontend -p app --features app/hydrate \
  --target wasm32-unknown-unknown -- -D warnings
# The dashboard's WASM in its shipping profile (`wasm-release`; cargo-leptos builds it in
# target/front).
stage "wasm build" cargo leptos build --release --split --frontend-only
stage "precompress" node scripts/precompress.mjs
stage "cargo test" cargo test -p server -p app -p protocol -p test-support
stage "playwright" env COOPMUX_BIN="$PWD/target/debug/coopmux" \
  bash -c 'cd end2end && npx playwright test'

printf '\n==== stage times\n'
printf '%s\n' "${timings[@]}"
printf 'total %ss\n' "$(($(date +%s) - start_all))"
