//! `coopmux open [URL]`: opens the dashboard in a browser.
//!
//! It never puts the token in the URL (docs/security.md, "Local users"):
//! with a token configured it opens the login page, where the token is typed once and traded
//! for a login credential the page keeps in its own storage.

use crate::cli::{OpenArgs, ServeArgs};
use crate::edge::bind_host::BindHost;
use std::net::IpAddr;
use std::process::Command;

/// The page to open for these arguments.
pub fn target_url(args: &OpenArgs, serve: &ServeArgs) -> String {
    let base = match &args.url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            // A wildcard bind address is not something a browser can connect to.
            let host = match &serve.host {
                BindHost::Name(name) => name.clone(),
                BindHost::Ip(IpAddr::V4(v4)) if v4.is_unspecified() => "127.0.0.1".to_owned(),
                BindHost::Ip(IpAddr::V6(v6)) if v6.is_unspecified() => "[::1]".to_owned(),
                BindHost::Ip(IpAddr::V6(v6)) => format!("[{v6}]"),
                BindHost::Ip(IpAddr::V4(v4)) => v4.to_string(),
            };
            format!("http://{host}:{}", serve.port)
        }
    };
    if serve.auth_token.is_some() {
        format!("{base}/mux/login")
    } else {
        format!("{base}/mux")
    }
}

/// Opens the page and returns the process exit code (0 on success, 1 on failure).
pub fn run(args: &OpenArgs, serve: &ServeArgs) -> i32 {
    let url = target_url(args, serve);
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    match Command::new(opener).arg(&url).status() {
        Ok(status) if status.success() => {
            eprintln!("Opening {url}");
            0
        }
        Ok(status) => {
            eprintln!("{opener} failed: {status}");
            eprintln!("Open manually: {url}");
            1
        }
        Err(err) => {
            eprintln!("cannot run {opener}: {err}");
            eprintln!("Open manually: {url}");
            1
        }
    }
}
