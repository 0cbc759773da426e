#!/usr/bin/env bash
# Runs every check and test of the repo: formatting, clippy (server and WASM), cargo tests, the
# release build, and the Playwright suite in Debian's chromium. Installs what it needs first.
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
# One release build serves both the Playwright suite and `cargo test --release` (the tests reuse
# its compiled dependencies instead of building a second, debug, tree).
stage "release build" cargo leptos build --release --split
stage "precompress" node scripts/precompress.mjs
stage "cargo test" cargo test --release -p server -p app -p protocol
stage "playwright" bash -c 'cd end2end && npx playwright test'

printf '\n==== stage times\n'
printf '%s\n' "${timings[@]}"
printf 'total %ss\n' "$(($(date +%s) - start_all))"
