//! The dashboard's static files (`/pkg`, `/vendor`): content-hashed URLs cached for a year,
//! everything compressed.
//!
//! The page links the big files (`coopmux.wasm`, the vendored xterm.js) by names carrying a
//! hash of their content, `coopmux.0123456789abcdef.wasm`; a request for such
//! a name is served from the plain file with `Cache-Control: public, max-age=31536000,
//! immutable`, every other asset (and the page) with `no-cache` (revalidated by
//! `Last-Modified`). A rebuild changes the hashes, so a browser never runs stale code.
//!
//! Compression: the `.br`/`.gz` files `scripts/precompress.mjs` writes beside the assets are
//! served when present (maximum quality, done once); otherwise, e.g. after a plain `cargo
//! leptos build`, which deletes them, responses are compressed on the fly (gzip or brotli,
//! as the browser accepts). See docs/architecture.md, "Dashboard bundle size".

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use http::header::{HeaderValue, CACHE_CONTROL};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;

/// Hex digits of the content hash in a file name.
const HASH_HEX_LEN: usize = 16;

/// What a content-hashed asset is served with: it never changes under its name.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// What the page and unhashed assets are served with: revalidate before each use.
pub const NO_CACHE: &str = "no-cache";

/// The first [`HASH_HEX_LEN`] hex digits of the SHA-256 of `bytes`.
pub fn content_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex.truncate(HASH_HEX_LEN);
    hex
}

/// The hash of file `path`, `None` when it cannot be read.
pub fn file_hash(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|bytes| content_hash(&bytes))
}

/// `name.ext` as `name.HASH.ext` when the file `dir/name.ext` exists, else unchanged.
pub fn hashed_name(dir: &Path, name: &str) -> String {
    match (file_hash(&dir.join(name)), name.rsplit_once('.')) {
        (Some(hash), Some((stem, ext))) => format!("{stem}.{hash}.{ext}"),
        _ => name.to_owned(),
    }
}

/// The URLs the page links to xterm.js with (hashed; the terminal imports them on demand).
pub fn vendor_urls(site_root: &Path) -> app::VendorUrls {
    let dir = site_root.join("vendor");
    app::VendorUrls {
        xterm: format!("/vendor/{}", hashed_name(&dir, "xterm.mjs")),
        xterm_fit: format!("/vendor/{}", hashed_name(&dir, "addon-fit.mjs")),
        xterm_css: format!("/vendor/{}", hashed_name(&dir, "xterm.css")),
    }
}

/// Writes the hash of the main WASM bundle (`{output}.wasm`) in the format of cargo-leptos's
/// `hash.txt`, which Leptos reads to name it in the page; `None` when it is not built (the
/// page then links the plain name).
///
/// `{output}.js` keeps its plain name (revalidated): the split loader imports it as
/// `./{output}.js`, and a second URL would load a second copy of the module.
pub fn write_hash_file(site_root: &Path, output_name: &str) -> Option<PathBuf> {
    let pkg = site_root.join("pkg");
    let wasm = file_hash(&pkg.join(format!("{output_name}.wasm")))?;
    let text = format!("wasm: {wasm}\n");
    // Named by content: hubs that serve the same build share one file.
    let path = std::env::temp_dir().join(format!(
        "coopmux-hash-{}.txt",
        content_hash(text.as_bytes())
    ));
    std::fs::write(&path, text).ok()?;
    Some(path)
}

/// `rest` without its content hash when its last segment is `name.HASH.ext`.
fn strip_hash(path: &str) -> Option<String> {
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
    let (stem, ext) = file.rsplit_once('.')?;
    let (name, hash) = stem.rsplit_once('.')?;
    let is_hash = hash.len() == HASH_HEX_LEN && hash.bytes().all(|b| b.is_ascii_hexdigit());
    (is_hash && !name.is_empty()).then(|| format!("{dir}/{name}.{ext}"))
}

/// Serves a content-hashed name from its plain file, and sets the cache policy.
async fn cache_by_hash(mut req: Request, next: Next) -> Response {
    let plain = strip_hash(req.uri().path());
    if let Some(path) = &plain {
        let query = req
            .uri()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        if let Ok(uri) = format!("{path}{query}").parse() {
            *req.uri_mut() = uri;
        }
    }
    let mut res = next.run(req).await;
    let policy = if plain.is_some() && res.status().is_success() {
        IMMUTABLE
    } else {
        NO_CACHE
    };
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static(policy));
    res
}

/// A directory of built assets: precompressed files when present, compressed on the fly
/// otherwise, content-hashed names cached for good.
pub fn static_dir<S: Clone + Send + Sync + 'static>(dir: PathBuf) -> Router<S> {
    Router::new()
        .fallback_service(ServeDir::new(dir).precompressed_br().precompressed_gzip())
        .layer(middleware::from_fn(cache_by_hash))
        // Leaves alone what already has a `Content-Encoding` (the precompressed files).
        .layer(CompressionLayer::new())
}

/// Marks a response (the page) as revalidated before each use.
pub async fn no_cache(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static(NO_CACHE));
    res
}

#[cfg(test)]
mod tests {
    use super::strip_hash;

    #[test]
    fn only_a_sixteen_digit_hex_segment_is_a_content_hash() {
        assert_eq!(
            strip_hash("/coopmux.0123456789abcdef.js").as_deref(),
            Some("/coopmux.js")
        );
        assert_eq!(
            strip_hash("/a/xterm.0123456789abcdef.mjs").as_deref(),
            Some("/a/xterm.mjs")
        );
        assert_eq!(strip_hash("/coopmux.js"), None);
        assert_eq!(strip_hash("/__wasm_split.______________________.js"), None);
        assert_eq!(strip_hash("/chunk_5.wasm"), None);
    }
}
