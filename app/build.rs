//! Sets `cfg(wasm_split)` when cargo-leptos builds the WASM with `--split` (it links with
//! `--emit-relocs` then): only a split build may mark functions `#[lazy]`, whose imports a
//! plain build could not resolve. See docs/architecture.md, "Dashboard bundle size".

fn main() {
    println!("cargo::rustc-check-cfg=cfg(wasm_split)");
    println!("cargo::rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags.split('\x1f').any(|f| f.contains("--emit-relocs")) {
        println!("cargo::rustc-cfg=wasm_split");
    }
}
