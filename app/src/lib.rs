//! The coopmux dashboard as Leptos components and its typed server functions. The wire types
//! it shares with the server live in the `protocol` crate.

// Leptos view types nest deeply; the release build needs more than the default 128.
#![recursion_limit = "256"]

pub mod ansi;
pub mod api;
mod case;
mod components;
#[cfg(feature = "hydrate")]
mod handlers;
pub mod json;
pub mod live;
#[cfg(feature = "hydrate")]
pub mod login;
pub mod model;
#[cfg(feature = "hydrate")]
pub mod rest;
pub mod stream;
pub mod term;

use leptos::prelude::*;

/// Where the page finds the vendored xterm.js files (`public/vendor`, copied from the npm
/// packages by `scripts/setup.sh`; never a CDN): the server names them by content hash.
#[derive(Debug, Clone)]
pub struct VendorUrls {
    /// `xterm.mjs`.
    pub xterm: String,
    /// `addon-fit.mjs`.
    pub xterm_fit: String,
    /// `xterm.css`.
    pub xterm_css: String,
}

impl Default for VendorUrls {
    fn default() -> Self {
        Self {
            xterm: "/vendor/xterm.mjs".into(),
            xterm_fit: "/vendor/addon-fit.mjs".into(),
            xterm_css: "/vendor/xterm.css".into(),
        }
    }
}

impl VendorUrls {
    /// The import map that resolves the bare module names the terminal imports on demand.
    pub fn import_map(&self) -> String {
        format!(
            r#"{{"imports":{{"xterm":"{}","xterm-addon-fit":"{}"}}}}"#,
            self.xterm, self.xterm_fit
        )
    }
}

/// Sends a visitor without a stored login to the login page before anything loads (the
/// page of a hub with a token; the key is the one `login` keeps the credential under).
const LOGIN_GATE: &str =
    "if(!localStorage.getItem(\"coopmux.login\"))location.replace(\"/mux/login\")";

/// The HTML document around the app, rendered on the server. `login_required`: the hub has a
/// token, so the page (served to anyone, without fleet data) first checks for a login.
pub fn shell(options: LeptosOptions, vendor: VendorUrls, login_required: bool) -> impl IntoView {
    let import_map = vendor.import_map();
    let gate = login_required.then(|| view! { <script inner_html=LOGIN_GATE></script> });
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                {gate}
                // The import map must precede the hydration module (the terminal imports
                // "xterm" through it when first opened).
                <script type="importmap" inner_html=import_map></script>
                // Fetched with xterm.js when the first terminal opens (`term/browser/xterm.rs`),
                // not at first load.
                <meta name="coopmux-xterm-css" content=vendor.xterm_css/>
                <link rel="stylesheet" id="leptos" href="/pkg/coopmux.css"/>
                <link rel="icon" type="image/svg+xml" href="/favicon.ico"/>
                // The browser keeps it current (`components::attention::PageTitle`).
                <title>"coopmux dashboard"</title>
                <HydrationScripts options/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The root component: the dashboard, the only page (the server routes `/mux` to it; no
/// client-side router, which would cost the WASM bundle more than it offers one page).
#[component]
pub fn App() -> impl IntoView {
    view! { <components::Dashboard/> }
}
