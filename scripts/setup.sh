#!/usr/bin/env bash
# Installs everything coopmux needs to build, run and test, from package registries only.
# Idempotent and quick when everything is already there. Called by both README commands.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

CARGO_LEPTOS_VERSION=0.3.11
# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/"/,"",$3); print $3; exit}' Cargo.lock 2>/dev/null || true)
WASM_BINDGEN_VERSION=${WASM_BINDGEN_VERSION:-0.2.130}

step() { printf '\n== setup: %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
export PATH="$HOME/.cargo/bin:$PATH"

# Unpacks a crate's published source into a scratch dir (cargo caches the .crate file).
crate_src() {
  local name=$1 version=$2 dest=$3
  cargo info "$name@$version" >/dev/null 2>&1 || true
  local file
  file=$(ls "$HOME"/.cargo/registry/cache/*/"$name-$version.crate" 2>/dev/null | head -n1)
  [ -n "$file" ] || { echo "setup: could not fetch $name $version" >&2; exit 1; }
  rm -rf "$dest"; mkdir -p "$dest"
  tar -xzf "$file" -C "$dest" --strip-components=1
}

# Pins one package of a crate's Cargo.lock to another version (known-bad pins upstream).
pin_lock() {
  local dir=$1 name=$2 version=$3
  (cd "$dir" && cargo update --quiet -p "$name" --precise "$version")
}

# Build tools are compiled for a fast install, not for peak speed: their manifests ask for fat
# LTO with one codegen unit, which costs many minutes on two cores.
tool_profile=(env CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=0)

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

if ! (have cargo-leptos && cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"); then
  step "cargo-leptos $CARGO_LEPTOS_VERSION (no_downloads)"
  src=$(mktemp -d)/cargo-leptos
  crate_src cargo-leptos "$CARGO_LEPTOS_VERSION" "$src"
  # Its lockfile pins cargo-util-schemas 0.14.2, which needs a newer rustc than ours.
  pin_lock "$src" cargo-util-schemas 0.14.1
  "${tool_profile[@]}" cargo install --path "$src" --locked --features no_downloads
fi

if ! (have wasm-bindgen && wasm-bindgen --version | grep -q " $WASM_BINDGEN_VERSION\$"); then
  step "wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  src=$(mktemp -d)/wasm-bindgen-cli
  crate_src wasm-bindgen-cli "$WASM_BINDGEN_VERSION" "$src"
  # The registry lacks the webpki-roots version its lockfile names.
  pin_lock "$src" webpki-roots 1.0.10
  "${tool_profile[@]}" cargo install --path "$src" --locked
fi

# The Claude Code simulator the session host's Claude detection is tested against
# (docs/architecture.md, "Agent state").
CLAUDELESS_VERSION=0.4.0
# (`claudeless --version` prints the Claude Code version it simulates, so cargo's list is asked.)
if ! (have claudeless && cargo install --list | grep -q "^claudeless v$CLAUDELESS_VERSION:"); then
  step "claudeless $CLAUDELESS_VERSION"
  "${tool_profile[@]}" cargo install --locked claudeless --version "$CLAUDELESS_VERSION"
fi

if ! have chromium; then
  step "Debian chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# The NATS tests start a real server (docs/scaling.md).
if ! have nats-server && [ ! -x /usr/sbin/nats-server ]; then
  step "Debian nats-server"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
fi

# Front-end assets (xterm.js) and the build's wasm-opt (npm binaryen; Debian's is too old).
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "npm ci (xterm assets, binaryen)"
  npm ci --no-audit --no-fund
fi
if [ ! -d end2end/node_modules ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
  step "npm ci (end2end: Playwright)"
  (cd end2end && npm ci --no-audit --no-fund)
fi

# Vendored xterm files are served from public/vendor (git-ignored, copied from node_modules).
mkdir -p public/vendor
for f in node_modules/@xterm/xterm/lib/xterm.mjs node_modules/@xterm/xterm/css/xterm.css \
         node_modules/@xterm/addon-fit/lib/addon-fit.mjs; do
  cmp -s "$f" "public/vendor/$(basename "$f")" || cp "$f" public/vendor/
done
# Kubernetes schema validation of deploy/ (bundles its schemas: works offline once installed).
# Skipped only where there is no Python at all (e.g. the container build of deploy/Dockerfile).
KUBERNETES_VALIDATE_VERSION=1.37.0
if have python3 && ! python3 -c 'import kubernetes_validate' >/dev/null 2>&1; then
  step "kubernetes-validate $KUBERNETES_VALIDATE_VERSION (PyPI)"
  python3 -m pip install --quiet "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi
step "ready"
