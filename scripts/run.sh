#!/usr/bin/env bash
# Builds coopmux (server + WASM dashboard, release) and runs it on 127.0.0.1:9800 with the
# built-in session host as its launch command. Extra arguments go to coopmux.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
cargo leptos build --release --split
node scripts/precompress.mjs >/dev/null
# Launched children find `coopmux session` on PATH.
export PATH="$PWD/target/release:$PATH"
exec coopmux --launch 'coopmux session -- bash' "$@"
