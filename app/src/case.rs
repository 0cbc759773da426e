//! Unicode case mapping for the filter and the state badges. In the browser it is the
//! browser's own (`String.prototype.toLowerCase`/`toUpperCase`), so the WASM carries no Unicode
//! case tables (docs/architecture.md, "Dashboard bundle size"); on the server it is Rust's. Both
//! follow the Unicode default case mapping.

/// `s` in lower case.
pub fn lower(s: &str) -> String {
    #[cfg(feature = "hydrate")]
    {
        String::from(js_sys::JsString::from(s).to_lower_case())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        s.to_lowercase()
    }
}

/// `s` in upper case.
pub fn upper(s: &str) -> String {
    #[cfg(feature = "hydrate")]
    {
        String::from(js_sys::JsString::from(s).to_upper_case())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        s.to_uppercase()
    }
}
