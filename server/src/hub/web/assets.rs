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

/// The hash of the main WASM bundle (`{output}.wasm`) in the format of cargo-leptos's
/// `hash.txt`, which Leptos reads (on every render) to name it in the page, as a path to
/// read it from; `None` when the bundle is not built or no such file can be made (the page
/// then links the plain name).
///
/// The text lives in memory only ([`memory_file`]): a file in a shared directory could be
/// planted or rewritten by another local user (script in the operator's page), or be a
/// symlink that makes the hub overwrite one of the operator's files (docs/security.md).
///
/// `{output}.js` keeps its plain name (revalidated): the split loader imports it as
/// `./{output}.js`, and a second URL would load a second copy of the module.
pub fn hash_file(site_root: &Path, output_name: &str) -> Option<PathBuf> {
    let pkg = site_root.join("pkg");
    let wasm = file_hash(&pkg.join(format!("{output_name}.wasm")))?;
    memory_file(&format!("wasm: {wasm}\n"))
}

/// An anonymous in-memory file holding `text`, open for the life of the process, as the
/// path this process reads it by (`/proc/self/fd/N`; nobody else can open it). One per
/// distinct text.
#[cfg(target_os = "linux")]
fn memory_file(text: &str) -> Option<PathBuf> {
    use nix::sys::memfd::{memfd_create, MFdFlags};
    use std::io::Write as _;
    use std::os::fd::AsRawFd as _;
    use std::sync::Mutex;
    static FILES: Mutex<Vec<(String, std::fs::File)>> = Mutex::new(Vec::new());
    let path = |file: &std::fs::File| PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    let mut files = FILES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, file)) = files.iter().find(|(t, _)| t == text) {
        return Some(path(file));
    }
    let made = memfd_create(c"coopmux-hash", MFdFlags::MFD_CLOEXEC)
        .map_err(std::io::Error::from)
        .and_then(|fd| {
            let mut file = std::fs::File::from(fd);
            file.write_all(text.as_bytes())?;
            Ok(file)
        });
    let file = match made {
        Ok(file) => file,
        Err(err) => {
            tracing::warn!("cannot keep the bundle hash in memory ({err}); linking plain names");
            return None;
        }
    };
    // Leptos reads it by path: make sure this system serves it (`/proc` mounted).
    if std::fs::read_to_string(path(&file)).ok()? != text {
        return None;
    }
    files.push((text.to_owned(), file));
    files.last().map(|(_, file)| path(file))
}

/// Elsewhere there is no in-memory file to name: plain names.
#[cfg(not(target_os = "linux"))]
fn memory_file(_text: &str) -> Option<PathBuf> {
    None
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
