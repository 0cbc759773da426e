//! The credentials panel: accounts with provider, status and expiry; add an account; set a
//! key; start reauth (device code, or authorization URL plus pasted code); push to sessions;
//! alerts from `credential:*` events and from the accounts' status read on load.

use super::use_ui;
use crate::api::{
    credential_distribute, credential_exchange, credential_new, credential_reauth, credential_set,
    credential_status, ApiFailure,
};
use crate::model::CredentialAlert;
use leptos::prelude::*;
use protocol::credentials::{
    AccountStatus, CredentialStatus, DistributeRequest, ExchangeRequest, NewAccountRequest,
    ReauthRequest, SecretString, SetTokenRequest,
};
use std::time::Duration;

/// How often the open panel re-reads the status, in milliseconds.
const POLL_MS: u64 = 10_000;

/// Providers offered by the add form, with the env keys each may use.
const PROVIDERS: [(&str, &[&str]); 4] = [
    ("claude", &["CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_API_KEY"]),
    ("openai", &["OPENAI_API_KEY"]),
    ("gemini", &["GEMINI_API_KEY"]),
    ("other", &["API_KEY"]),
];

/// "45s", "12m", "3h 5m".
pub fn expiry(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m", secs / 60),
        _ => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
    }
}

/// How an account's expiry reads: "expired" once it is (never "expires in 0s"), else
/// "expires in 12m"; nothing for a key without an expiry.
pub fn expiry_label(status: CredentialStatus, expires_in_secs: Option<u64>) -> Option<String> {
    match (status, expires_in_secs) {
        (CredentialStatus::Expired, _) | (_, Some(0)) => Some("expired".to_owned()),
        (_, Some(secs)) => Some(format!("expires in {}", expiry(secs))),
        (_, None) => None,
    }
}

/// The panel (rendered only while open).
#[component]
pub fn CredentialsPanel() -> impl IntoView {
    let ui = use_ui();
    move || {
        ui.creds_open
            .get()
            .then(|| Suspend::new(super::on_demand::credentials_panel()))
    }
}

/// The panel itself (reached through [`super::on_demand::credentials_panel`]).
#[component]
pub(super) fn Panel() -> impl IntoView {
    let ui = use_ui();
    let accounts = RwSignal::new(Vec::<AccountStatus>::new());
    let message = RwSignal::new(None::<(bool, String)>);
    let pending_state = RwSignal::new(None::<String>);
    let refresh = move || {
        leptos::task::spawn_local(async move {
            match credential_status().await {
                Ok(list) => {
                    ui.feed.fleet.alerts_from_status(&list);
                    accounts.set(list);
                }
                Err(err) => message.set(Some((false, err.message))),
            }
        });
    };
    Effect::new(move |_| {
        ui.feed.fleet.credentials_changed.track();
        refresh();
    });
    if let Ok(handle) = set_interval_with_handle(refresh, Duration::from_millis(POLL_MS)) {
        on_cleanup(move || handle.clear());
    }
    let report = move |r: Result<String, ApiFailure>| {
        message.set(Some(match r {
            Ok(text) => (true, text),
            Err(err) => (false, err.message),
        }));
        refresh();
    };
    view! {
        <div class="backdrop" on:click=move |_| ui.creds_open.set(false)>
            <div class="panel" role="dialog" aria-label="Credentials" on:click=|ev| ev.stop_propagation()>
                <h2>"Credentials"</h2>
                <Alerts/>
                {move || pending_state.get().map(|state| view! { <ExchangeBox state pending_state report/> })}
                <h3>"Accounts"</h3>
                <ul class="accounts">
                    <For each=move || accounts.get() key=|a| format!("{}:{:?}:{:?}", a.name, a.status, a.expires_in_secs) let:account>
                        <AccountRow account pending_state report/>
                    </For>
                </ul>
                <super::Notice message/>
                <AddAccount report/>
            </div>
        </div>
    }
}

#[component]
fn Alerts() -> impl IntoView {
    let alerts = use_ui().feed.fleet.alerts;
    move || {
        alerts
            .get()
            .into_iter()
            .map(|(account, alert)| {
                match alert {
            CredentialAlert::Failed { error } => view! {
                <p class="error">{format!("{account}: refresh failed — {error}")}</p>
            }.into_any(),
            CredentialAlert::Expired => view! {
                <p class="error">{format!("{account}: key expired")}</p>
            }.into_any(),
            CredentialAlert::Reauth { auth_url, user_code } => view! {
                <p class="warn">
                    {format!("{account}: authorization required ")}
                    {user_code.map(|c| view! { <code class="user-code">{c}</code> " at " })}
                    <a href=auth_url.clone() target="_blank" rel="noopener">{auth_url.clone()}</a>
                </p>
            }.into_any(),
        }
            })
            .collect_view()
    }
}

#[component]
fn ExchangeBox(
    state: String,
    pending_state: RwSignal<Option<String>>,
    report: impl Fn(Result<String, ApiFailure>) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let code = RwSignal::new(String::new());
    let submit = move || {
        let req = ExchangeRequest {
            state: state.clone(),
            code: SecretString(code.get_untracked()),
        };
        leptos::task::spawn_local(async move {
            let r = credential_exchange(req)
                .await
                .map(|()| "Authorization complete".to_owned());
            if r.is_ok() {
                pending_state.set(None);
            }
            report(r);
        });
    };
    let submit_key = submit.clone();
    view! {
        <div class="exchange">
            <label>"Paste Authorization Code "
                <input aria-label="Authorization code" bind:value=code on:keydown=move |ev| {
                    if ev.key() == "Enter" { submit_key() }
                }/>
            </label>
            <button on:click=move |_| submit()>"Submit"</button>
        </div>
    }
}

#[component]
fn AccountRow(
    account: AccountStatus,
    pending_state: RwSignal<Option<String>>,
    report: impl Fn(Result<String, ApiFailure>) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let key = RwSignal::new(String::new());
    let name = account.name.clone();
    let status = account.status.as_str();
    let (n1, n2, n3) = (name.clone(), name.clone(), name.clone());
    let set_key = move |_| {
        let req = SetTokenRequest {
            account: n1.clone(),
            token: SecretString(key.get_untracked()),
            refresh_token: None,
            expires_in: None,
        };
        key.set(String::new());
        leptos::task::spawn_local(async move {
            report(credential_set(req).await.map(|()| "Key stored".to_owned()));
        });
    };
    let reauth = move |_| {
        let req = ReauthRequest {
            account: Some(n2.clone()),
        };
        leptos::task::spawn_local(async move {
            let r = credential_reauth(req).await.map(|r| {
                if let Some(code) = &r.user_code {
                    format!("Enter code: {code} at {}", r.auth_url)
                } else {
                    open_tab(&r.auth_url);
                    pending_state.set(r.state.clone());
                    format!("Authorize at {}", r.auth_url)
                }
            });
            report(r);
        });
    };
    let push = move |_| {
        let req = DistributeRequest {
            account: n3.clone(),
            switch: true,
        };
        leptos::task::spawn_local(async move {
            report(
                credential_distribute(req)
                    .await
                    .map(|r| format!("Pushed {}", r.account)),
            );
        });
    };
    let healthy = account.status == CredentialStatus::Healthy;
    let can_reauth = account.reauth
        && matches!(
            account.status,
            CredentialStatus::Expired | CredentialStatus::Missing
        );
    view! {
        <li class="account" data-account=name.clone() data-status=status>
            <span class="name">{name.clone()}</span>
            <span class="tag">{account.provider.clone()}</span>
            <span class=format!("badge cred-{status}")>{status}</span>
            {expiry_label(account.status, account.expires_in_secs).map(|e| view! { <span class="expiry">{e}</span> })}
            {healthy.then(|| view! { <button on:click=push>"Push"</button> })}
            {can_reauth.then(|| view! { <button on:click=reauth>"Reauth"</button> })}
            <span class="set-key">
                <input type="password" aria-label=format!("Key for {name}") placeholder="set key" bind:value=key/>
                <button on:click=set_key>"Set key"</button>
            </span>
        </li>
    }
}

#[component]
fn AddAccount(
    report: impl Fn(Result<String, ApiFailure>) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let provider = RwSignal::new(0usize);
    let env_key = RwSignal::new(PROVIDERS[0].1[0].to_owned());
    let token = RwSignal::new(String::new());
    let submit = move |_| {
        let token_value = token.get_untracked();
        let req = NewAccountRequest {
            name: name.get_untracked(),
            provider: PROVIDERS[provider.get_untracked()].0.to_owned(),
            env_key: Some(env_key.get_untracked()),
            reauth: Some(token_value.trim().is_empty()),
            token: (!token_value.trim().is_empty()).then_some(SecretString(token_value)),
            ..NewAccountRequest::default()
        };
        token.set(String::new());
        leptos::task::spawn_local(async move {
            report(
                credential_new(req)
                    .await
                    .map(|a| format!("Added {}", a.account)),
            );
        });
    };
    view! {
        <h3>"+ Add"</h3>
        <div class="add-account">
            <input aria-label="Account name" placeholder="name" bind:value=name/>
            <select aria-label="Provider" on:change=move |ev| {
                let i: usize = event_target_value(&ev).parse().unwrap_or(0);
                provider.set(i);
                env_key.set(PROVIDERS[i].1[0].to_owned());
            }>
                {PROVIDERS.iter().enumerate().map(|(i, (p, _))| view! { <option value=i.to_string()>{*p}</option> }).collect_view()}
            </select>
            <select aria-label="Env key" on:change=move |ev| env_key.set(event_target_value(&ev))>
                {move || PROVIDERS[provider.get()].1.iter().map(|k| view! { <option value=*k>{*k}</option> }).collect_view()}
            </select>
            <input type="password" aria-label="Token" placeholder="token (optional)" bind:value=token/>
            <button on:click=submit>"Add account"</button>
        </div>
    }
}

fn open_tab(url: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(w) = web_sys::window() {
        let _ = w.open_with_url_and_target(url, "_blank");
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = url;
}

#[cfg(test)]
mod tests {
    use super::{expiry, expiry_label};
    use protocol::credentials::CredentialStatus;

    #[test]
    fn expiry_reads_like_the_reference() {
        assert_eq!(expiry(45), "45s");
        assert_eq!(expiry(720), "12m");
        assert_eq!(expiry(3 * 3600 + 300), "3h 5m");
    }

    #[test]
    fn an_expired_key_reads_expired() {
        let label = |s, e| expiry_label(s, e);
        assert_eq!(
            label(CredentialStatus::Expired, Some(0)).as_deref(),
            Some("expired")
        );
        assert_eq!(
            label(CredentialStatus::Expired, None).as_deref(),
            Some("expired")
        );
        assert_eq!(
            label(CredentialStatus::Healthy, Some(0)).as_deref(),
            Some("expired")
        );
        assert_eq!(
            label(CredentialStatus::Healthy, Some(720)).as_deref(),
            Some("expires in 12m")
        );
        assert_eq!(label(CredentialStatus::Missing, None), None);
    }
}
