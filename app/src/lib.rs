//! The coopmux dashboard as Leptos components and its typed server functions. The wire types
//! it shares with the server live in the `protocol` crate.

// Leptos view types nest deeply; the release build needs more than the default 128.
#![recursion_limit = "256"]

pub mod ansi;
pub mod api;
mod components;
#[cfg(feature = "hydrate")]
mod handlers;
pub mod live;
pub mod model;
pub mod stream;
pub mod term;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    StaticSegment,
};

/// Maps the bare module names that the xterm bindings import to the ES modules served from
/// `public/vendor` (copied from the npm packages by `scripts/setup.sh`; never a CDN).
const IMPORT_MAP: &str =
    r#"{"imports":{"xterm":"/vendor/xterm.mjs","xterm-addon-fit":"/vendor/addon-fit.mjs"}}"#;

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                // The import map must precede the hydration module that imports "xterm".
                <script type="importmap" inner_html=IMPORT_MAP></script>
                <link rel="stylesheet" href="/vendor/xterm.css"/>
                <link rel="icon" type="image/svg+xml" href="/favicon.ico"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The root component: routes of the dashboard.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/coopmux.css"/>
        <Title text="coopmux dashboard"/>
        <Router>
            <Routes fallback=|| "Page not found.">
                <Route path=StaticSegment("mux") view=components::Dashboard/>
            </Routes>
        </Router>
    }
}
