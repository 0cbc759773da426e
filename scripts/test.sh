#!/usr/bin/env bash
# Runs every check and test of the repo: formatting, clippy (server and WASM, inside their
# builds), the dashboard's release WASM, cargo tests, and the Playwright suite in Debian's
# chromium. Installs what it needs first. Prints each stage's time.
#
# The builds run one after the other (each keeps both cores busy; side by side they only
# contend). The server is built once, in the dev profile, by the test build; the Playwright
# suite runs that binary. The test binaries, the doc tests and the Playwright suite then run
# side by side: they mostly wait on sockets, processes and timers, and every test holds under
# that load (both cores busy).
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

# Runs each "name<TAB>dir<TAB>command…" job of stdin at once, each in its directory, its output
# held until all end (so the log reads job by job). Fails when any fails.
together() {
  local t0 dir name cmd status=0 i=0
  local -a pids names logs
  t0=$(date +%s)
  while IFS=$'\t' read -r name dir cmd; do
    logs[i]=$(mktemp)
    names[i]=$name
    (
      cd "$dir"
      rc=0
      eval "$cmd" || rc=$?
      echo "took $(($(date +%s) - t0))s"
      exit "$rc"
    ) >"${logs[i]}" 2>&1 &
    pids[i]=$!
    i=$((i + 1))
  done
  for i in "${!pids[@]}"; do
    if wait "${pids[i]}"; then
      printf '\n==== %s: passed\n' "${names[i]}"
    else
      status=1
      printf '\n==== %s: FAILED\n' "${names[i]}"
    fi
    cat "${logs[i]}"
    timings+=("$(printf '  %-26s %6s' "${names[i]}" "$(tail -n 1 "${logs[i]}" | sed 's/^took //')")")
    rm -f "${logs[i]}"
  done
  return "$status"
}

# Builds every test target (and the benches and examples, so that clippy sees them) with
# clippy's lints as the workspace's compiler (scripts/clippy-rustc), and prints the test
# executables cargo test would run, one job each: "name<TAB>package dir<TAB>path".
test_build() {
  cargo test "${PACKAGES[@]}" --all-targets --no-run --message-format=json-render-diagnostics |
    node -e '
      let text = "";
      process.stdin.on("data", (d) => (text += d)).on("end", () => {
        for (const line of text.split("\n")) {
          if (!line) continue;
          const m = JSON.parse(line);
          if (m.reason !== "compiler-artifact" || !m.executable || !m.profile.test) continue;
          if (!["lib", "bin", "test"].some((k) => m.target.kind.includes(k))) continue;
          const dir = require("path").dirname(m.manifest_path);
          console.log(`cargo test ${m.target.name} (${m.target.kind})\t${dir}\t${m.executable}`);
        }
      });'
}

playwright_job() {
  printf 'playwright\tend2end\tCOOPMUX_BIN=%q npx playwright test\n' "$PWD/target/debug/coopmux"
}

PACKAGES=(-p server -p app -p protocol -p test-support)

stage "setup" scripts/setup.sh
# Clippy runs inside the builds (warnings denied): `cargo clippy` would first check every
# dependency in a mode of its own, minutes on a fresh tree, before the builds compile them.
# (Set after the setup: a tool it installs with cargo is no crate of ours.)
export RUSTC_WORKSPACE_WRAPPER="$PWD/scripts/clippy-rustc"
stage "fmt" cargo fmt --all --check
# The dashboard's WASM in its shipping profile (`wasm-release`; cargo-leptos builds it in
# target/front), linted as it is built.
stage "wasm build" cargo leptos build --release --split --frontend-only
stage "precompress" node scripts/precompress.mjs
jobs_file=$(mktemp)
stage "test build" eval 'test_build >"$jobs_file"'
playwright_job >>"$jobs_file"
printf 'cargo test --doc\t.\tcargo test %s --doc\n' "${PACKAGES[*]}" >>"$jobs_file"
stage "tests and playwright" together <"$jobs_file"
rm -f "$jobs_file"

printf '\n==== stage times\n'
printf '%s\n' "${timings[@]}"
printf 'total %ss\n' "$(($(date +%s) - start_all))"
