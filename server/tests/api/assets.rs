//! The dashboard's static files: content-hashed names cached for a year, the page revalidated,
//! everything compressed (precompressed files when present, on the fly otherwise).

use crate::support::{HubProcess, TempDir};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};

/// Compressible stand-ins for the built bundles (the test needs no cargo-leptos build).
fn site() -> TempDir {
    let site = TempDir::new("site");
    for dir in ["pkg", "vendor"] {
        std::fs::create_dir_all(site.join(dir)).unwrap();
    }
    let text = |name: &str| format!("// {name}\n{}", "export const x = 1;\n".repeat(2_000));
    for (path, body) in [
        ("pkg/coopmux.js", text("coopmux.js")),
        ("pkg/coopmux.wasm", text("coopmux.wasm")),
        ("pkg/coopmux.css", text("coopmux.css")),
        ("vendor/xterm.mjs", text("xterm.mjs")),
        ("vendor/addon-fit.mjs", text("addon-fit.mjs")),
        ("vendor/xterm.css", text("xterm.css")),
    ] {
        std::fs::write(site.join(path), body).unwrap();
    }
    site
}

fn hash16(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..16]
        .to_owned()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a gzip body");
    out
}

#[tokio::test]
async fn assets_are_compressed_on_the_fly_and_cached_by_content_hash() {
    let site = site();
    let root = site.display();
    let hub = HubProcess::start(&[], &[("LEPTOS_SITE_ROOT", root.as_str())]);
    let http = hub.client();
    let get = |path: String, encoding: &'static str| {
        let req = http
            .get(format!("{}{path}", hub.base))
            .header("accept-encoding", encoding);
        async move { req.send().await.expect("GET") }
    };

    // The page: never cached without revalidation, compressed, naming the bundles by hash.
    let page = get("/mux".into(), "gzip").await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-cache");
    assert_eq!(page.headers()["content-encoding"], "gzip");
    let html = String::from_utf8(gunzip(&page.bytes().await.unwrap())).unwrap();
    let js = std::fs::read(site.join("pkg/coopmux.js")).unwrap();
    let wasm = std::fs::read(site.join("pkg/coopmux.wasm")).unwrap();
    let wasm_url = format!("/pkg/coopmux.{}.wasm", hash16(&wasm));
    let xterm = std::fs::read(site.join("vendor/xterm.mjs")).unwrap();
    let xterm_url = format!("/vendor/xterm.{}.mjs", hash16(&xterm));
    for url in [&wasm_url, &xterm_url] {
        assert!(html.contains(url.as_str()), "{url} in the page: {html}");
    }

    // A hashed name: the plain file, compressed on the fly (no .gz/.br beside it), for good.
    for (url, body) in [(&wasm_url, &wasm), (&xterm_url, &xterm)] {
        let res = get(url.clone(), "gzip").await;
        assert_eq!(res.status(), 200, "{url}");
        assert_eq!(
            res.headers()["cache-control"],
            "public, max-age=31536000, immutable",
            "{url}"
        );
        assert_eq!(res.headers()["content-encoding"], "gzip", "{url}");
        let sent = res.bytes().await.unwrap();
        assert!(sent.len() < body.len() / 10, "{url}: {} bytes", sent.len());
        assert_eq!(&gunzip(&sent), body, "{url}");
        let res = get(url.clone(), "gzip, br").await;
        assert_eq!(res.headers()["content-encoding"], "br", "{url}");
    }

    // An unhashed name (the JS loader, which the split chunks import by name) is revalidated.
    assert!(html.contains("/pkg/coopmux.js"), "{html}");
    let plain = get("/pkg/coopmux.js".into(), "gzip").await;
    assert_eq!(plain.status(), 200);
    assert_eq!(plain.headers()["cache-control"], "no-cache");
    assert_eq!(plain.headers()["content-encoding"], "gzip");
    assert_eq!(gunzip(&plain.bytes().await.unwrap()), js);

    // A precompressed file is served as it is (scripts/precompress.mjs writes them).
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&wasm).unwrap();
    let precompressed = gz.finish().unwrap();
    std::fs::write(site.join("pkg/coopmux.wasm.gz"), &precompressed).unwrap();
    let res = get(wasm_url.clone(), "gzip").await;
    assert_eq!(res.headers()["content-encoding"], "gzip");
    assert_eq!(res.bytes().await.unwrap(), precompressed);

    // Nothing compressed for a client that accepts nothing.
    let res = get(xterm_url, "identity").await;
    assert!(res.headers().get("content-encoding").is_none());
    assert_eq!(res.bytes().await.unwrap(), xterm);
}
