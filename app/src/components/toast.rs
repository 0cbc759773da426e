//! Toasts: the OAuth login a session's agent asks for (coop's `prompt` with subtype
//! `oauth_login`), which opens the login page in a new tab, and failures of actions that
//! have no dialog of their own.

use super::use_ui;
use leptos::prelude::*;

/// Shown while a session waits for an OAuth login, until dismissed or answered.
#[component]
pub fn OAuthToast() -> impl IntoView {
    let ui = use_ui();
    let oauth = ui.feed.fleet.oauth;
    move || {
        oauth.get().map(|prompt| {
            let title = ui
                .feed
                .fleet
                .get(&prompt.session)
                .map_or_else(|| prompt.session.clone(), |v| v.title());
            view! {
                <div class="toast oauth" role="alert">
                    <strong>"OAuth login required"</strong>
                    <span class="toast-sub">{title}</span>
                    <a href=prompt.url.clone() target="_blank" rel="noopener noreferrer">
                        "Open in new tab"
                    </a>
                    <button aria-label="Dismiss" title="Dismiss" on:click=move |_| oauth.set(None)>
                        "×"
                    </button>
                </div>
            }
        })
    }
}

/// A failure of an action without a dialog (dismissing a tile, say), until dismissed.
#[component]
pub fn NoticeToast() -> impl IntoView {
    let notice = use_ui().notice;
    move || {
        notice.get().map(|text| {
            view! {
                <div class="toast error notice" role="alert">
                    <span>{text}</span>
                    <button aria-label="Dismiss" title="Dismiss" on:click=move |_| notice.set(None)>
                        "×"
                    </button>
                </div>
            }
        })
    }
}
