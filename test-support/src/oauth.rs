//! The local OAuth server of the credential tests: refresh, authorisation-code (PKCE S256)
//! and device-code grants, with knobs for failures, delays and device-flow behaviour.

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
    Form, Json, Router,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// What the test OAuth server knows and how it behaves.
#[derive(Default)]
pub struct OAuthState {
    /// Live refresh tokens → account label; a used one is removed (rotation).
    pub refresh_tokens: Mutex<HashMap<String, String>>,
    /// Lifetime of issued access tokens, in seconds.
    pub expires_in: AtomicU64,
    /// The next N token requests answer 500.
    pub fail_next: AtomicUsize,
    /// Delay of every token answer, in milliseconds.
    pub delay_ms: AtomicU64,
    /// Counter for issued tokens.
    pub issued: AtomicUsize,
    /// Refresh grants received (including failed ones).
    pub refresh_calls: AtomicUsize,
    /// Issued access tokens, in order.
    pub access_tokens: Mutex<Vec<String>>,
    /// Authorisation codes → (code_challenge, redirect_uri, client_id).
    pub codes: Mutex<HashMap<String, (String, String, String)>>,
    /// Device codes → polls so far; approved ones are in `approved`.
    pub device_polls: Mutex<HashMap<String, usize>>,
    /// Approved user codes.
    pub approved: Mutex<Vec<String>>,
    /// Times of device polls (ms since the server started).
    pub poll_times: Mutex<Vec<u64>>,
    /// Which poll of a device code answers `slow_down` (0: none).
    pub slow_down_poll: AtomicUsize,
    /// `expires_in` of issued device codes, in seconds.
    pub device_expires_in: AtomicU64,
    started: Mutex<Option<std::time::Instant>>,
}

/// The local OAuth server.
pub struct OAuthServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its state.
    pub state: Arc<OAuthState>,
    task: JoinHandle<()>,
}

impl Drop for OAuthServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn oauth_error(status: StatusCode, code: &str) -> Response {
    (
        status,
        Json(json!({"error": code, "error_description": format!("test server: {code}")})),
    )
        .into_response()
}

fn issue(state: &OAuthState, prefix: &str) -> Value {
    let n = state.issued.fetch_add(1, Ordering::SeqCst);
    let access = format!("{prefix}-access-{n}-sekret");
    let refresh = format!("{prefix}-refresh-{n}-sekret");
    state.access_tokens.lock().unwrap().push(access.clone());
    state
        .refresh_tokens
        .lock()
        .unwrap()
        .insert(refresh.clone(), prefix.to_owned());
    json!({
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": state.expires_in.load(Ordering::SeqCst),
    })
}

async fn token(
    State(state): State<Arc<OAuthState>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let grant = form.get("grant_type").map(String::as_str).unwrap_or("");
    if grant == "refresh_token" {
        state.refresh_calls.fetch_add(1, Ordering::SeqCst);
    }
    if state
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error");
    }
    match grant {
        "refresh_token" => {
            let Some(token) = form.get("refresh_token") else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
            };
            let removed = state.refresh_tokens.lock().unwrap().remove(token);
            match removed {
                Some(label) if form.get("client_id").is_some_and(|c| c == "test-client") => {
                    Json(issue(&state, &label)).into_response()
                }
                _ => oauth_error(StatusCode::BAD_REQUEST, "invalid_grant"),
            }
        }
        "authorization_code" => {
            let code = form.get("code").cloned().unwrap_or_default();
            let Some((challenge, redirect, client)) = state.codes.lock().unwrap().remove(&code)
            else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if computed != challenge
                || form.get("redirect_uri") != Some(&redirect)
                || form.get("client_id") != Some(&client)
            {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            Json(issue(&state, "pkce")).into_response()
        }
        "urn:ietf:params:oauth:grant-type:device_code" => {
            let device = form.get("device_code").cloned().unwrap_or_default();
            let started = state
                .started
                .lock()
                .unwrap()
                .get_or_insert_with(std::time::Instant::now)
                .elapsed();
            state
                .poll_times
                .lock()
                .unwrap()
                .push(started.as_millis() as u64);
            let polls = {
                let mut polls = state.device_polls.lock().unwrap();
                let Some(n) = polls.get_mut(&device) else {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
                };
                *n += 1;
                *n
            };
            // Pending until approved; the `slow_down_poll`-th poll answers slow_down.
            let user_code = device.replace("device-", "USER-");
            if polls == state.slow_down_poll.load(Ordering::SeqCst) {
                return oauth_error(StatusCode::BAD_REQUEST, "slow_down");
            }
            if !state.approved.lock().unwrap().contains(&user_code) {
                return oauth_error(StatusCode::BAD_REQUEST, "authorization_pending");
            }
            state.device_polls.lock().unwrap().remove(&device);
            Json(issue(&state, "device")).into_response()
        }
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
}

async fn device_code(
    State(state): State<Arc<OAuthState>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if form.get("client_id").is_none_or(|c| c != "test-client") {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_client");
    }
    let n = state.issued.fetch_add(1, Ordering::SeqCst);
    let device = format!("device-{n}");
    state.device_polls.lock().unwrap().insert(device.clone(), 0);
    state
        .started
        .lock()
        .unwrap()
        .get_or_insert_with(std::time::Instant::now);
    Json(json!({
        "device_code": device,
        "user_code": format!("USER-{n}"),
        "verification_uri": "https://verify.example/device",
        "expires_in": state.device_expires_in.load(Ordering::SeqCst),
        "interval": 1,
    }))
    .into_response()
}

/// The user's side of PKCE: `GET /authorize?…` records the challenge and returns the code.
async fn authorize(
    State(state): State<Arc<OAuthState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if q.get("code_challenge_method").map(String::as_str) != Some("S256")
        || q.get("response_type").map(String::as_str) != Some("code")
    {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let n = state.issued.fetch_add(1, Ordering::SeqCst);
    let code = format!("code-{n}");
    state.codes.lock().unwrap().insert(
        code.clone(),
        (
            q.get("code_challenge").cloned().unwrap_or_default(),
            q.get("redirect_uri").cloned().unwrap_or_default(),
            q.get("client_id").cloned().unwrap_or_default(),
        ),
    );
    Json(json!({"code": code, "state": q.get("state")})).into_response()
}

impl OAuthServer {
    /// Starts the server on 127.0.0.1:0; issued tokens live `expires_in` seconds.
    pub async fn start(expires_in: u64) -> OAuthServer {
        let state = Arc::new(OAuthState::default());
        state.expires_in.store(expires_in, Ordering::SeqCst);
        state.slow_down_poll.store(2, Ordering::SeqCst);
        state.device_expires_in.store(60, Ordering::SeqCst);
        let app = Router::new()
            .route("/token", post(token))
            .route("/device", post(device_code))
            .route("/authorize", get(authorize))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        OAuthServer { base, state, task }
    }

    /// Registers a refresh token the server will accept once.
    pub fn grant_refresh(&self, token: &str, label: &str) {
        self.state
            .refresh_tokens
            .lock()
            .unwrap()
            .insert(token.to_owned(), label.to_owned());
    }

    /// An account definition using this server (`device`: also a device endpoint).
    pub fn account(&self, name: &str, device: bool) -> Value {
        let mut account = json!({
            "name": name,
            "provider": "other",
            "env_key": "ANTHROPIC_API_KEY",
            "token_url": format!("{}/token", self.base),
            "auth_url": format!("{}/authorize", self.base),
            "client_id": "test-client",
        });
        if device {
            account["device_auth_url"] = json!(format!("{}/device", self.base));
        }
        account
    }
}
