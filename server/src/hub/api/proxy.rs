//! Proxy routes (docs/architecture.md, "The path of a proxied REST call"): thin handlers
//! over [`crate::hub::proxy::forward`].
//!
//! Request and reply bodies are JSON of any shape, forwarded unchanged.

use crate::edge::error::ApiError;
use crate::hub::extract::{RawJson, SessionId};
use crate::hub::proxy::forward;
use crate::hub::registry::Registry;
use axum::{extract::State, http::Method, response::Response};
use protocol::ErrorEnvelope;
use std::sync::Arc;

/// Live read of the agent (upstream `GET /api/v1/agent`).
#[utoipa::path(
    get, path = "/api/v1/sessions/{id}/agent", tag = "proxy",
    params(("id" = String, Path, description = "session id")),
    responses(
        (status = 200, description = "the upstream's JSON", body = serde_json::Value),
        (status = 404, body = ErrorEnvelope),
        (status = 502, description = "upstream unreachable", body = ErrorEnvelope),
    )
)]
pub async fn agent(
    State(registry): State<Arc<Registry>>,
    SessionId(id): SessionId,
) -> Result<Response, ApiError> {
    forward(&registry, &id, Method::GET, "/api/v1/agent", None).await
}

/// Defines a POST proxy handler: forwards the JSON body unchanged to the upstream path and
/// answers with the upstream's reply (its status and error body pass through).
macro_rules! post_proxy {
    ($(#[doc = $doc:literal])* $name:ident, $path:literal, $upstream:literal) => {
        $(#[doc = $doc])*
        #[utoipa::path(
            post, path = $path, tag = "proxy",
            params(("id" = String, Path, description = "session id")),
            request_body(content = serde_json::Value, content_type = "application/json"),
            responses(
                (status = 200, description = "the upstream's JSON (`null` for an empty 2xx)", body = serde_json::Value),
                (status = 404, body = ErrorEnvelope),
                (status = 502, description = "upstream unreachable", body = ErrorEnvelope),
                (status = "4XX", description = "the upstream's own error, passed through", body = ErrorEnvelope),
            )
        )]
        pub async fn $name(
            State(registry): State<Arc<Registry>>,
            SessionId(id): SessionId,
            RawJson(body): RawJson,
        ) -> Result<Response, ApiError> {
            forward(&registry, &id, Method::POST, $upstream, Some(body)).await
        }
    };
}

post_proxy!(
    /// Nudge the agent (upstream `POST /api/v1/agent/nudge`).
    nudge, "/api/v1/sessions/{id}/agent/nudge", "/api/v1/agent/nudge"
);
post_proxy!(
    /// Answer the agent's prompt (upstream `POST /api/v1/agent/respond`).
    respond, "/api/v1/sessions/{id}/agent/respond", "/api/v1/agent/respond"
);
post_proxy!(
    /// Type text (upstream `POST /api/v1/input`).
    input, "/api/v1/sessions/{id}/input", "/api/v1/input"
);
post_proxy!(
    /// Write raw base64 bytes (upstream `POST /api/v1/input/raw`).
    input_raw, "/api/v1/sessions/{id}/input/raw", "/api/v1/input/raw"
);
post_proxy!(
    /// Send named keys (upstream `POST /api/v1/input/keys`).
    input_keys, "/api/v1/sessions/{id}/input/keys", "/api/v1/input/keys"
);
post_proxy!(
    /// Upload a file (upstream `POST /api/v1/upload`, up to 10 MiB decoded).
    upload, "/api/v1/sessions/{id}/upload", "/api/v1/upload"
);
