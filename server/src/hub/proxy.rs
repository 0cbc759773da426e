//! Forwarding of the proxy endpoints to a session's upstream (docs/architecture.md, "The path
//! of a proxied REST call").
//!
//! When the upstream answered, its status and error body reach the client (a 409 `NO_PROMPT`
//! stays a 409); only a failure to reach it becomes 502 `UPSTREAM_ERROR`.

use crate::edge::error::ApiError;
use crate::hub::registry::Registry;
use crate::hub::upstream::{Reply, UpstreamReply};
use axum::{
    body::{Body, Bytes},
    http::{header::CONTENT_TYPE, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
    Json,
};

/// Longest upstream error text quoted in a wrapped (non-JSON) error, in bytes.
const QUOTED_ERROR_LEN: usize = 200;

/// Sends `method upstream_path` (with `body`, if any) to session `id` and turns the answer
/// into the mux's response.
pub async fn forward(
    registry: &Registry,
    id: &str,
    method: Method,
    upstream_path: &str,
    body: Option<Bytes>,
) -> Result<Response, ApiError> {
    let target = registry.get(id)?.target();
    let sent = body.as_ref().map_or(0, Bytes::len);
    let metrics = registry.metrics();
    let reply = match registry
        .upstream()
        .send(&target, method, upstream_path, body)
        .await
    {
        Ok(Reply::Http(reply)) => reply,
        Ok(Reply::Published(relayed)) => {
            metrics.relayed(sent);
            return Ok(Json(relayed).into_response());
        }
        Err(err) => {
            if !target.url.is_empty() {
                metrics.proxy_unreachable();
                tracing::debug!(session = %id, path = upstream_path, %err, "proxy: upstream unreachable");
            }
            return Err(err.into());
        }
    };
    metrics.relayed(sent + reply.body.len());
    let response = into_response(reply);
    metrics.proxy_status(response.status().as_u16());
    Ok(response)
}

fn is_json(body: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
}

/// 2xx: 200 with the upstream JSON, or `null` for an empty body (such as a switch's 202).
/// Other statuses: passed through with their JSON body; a non-JSON body is wrapped in the
/// envelope so clients can always parse errors.
fn into_response(reply: UpstreamReply) -> Response {
    let empty = reply.body.iter().all(u8::is_ascii_whitespace);
    if reply.status.is_success() {
        if empty {
            return Json(serde_json::Value::Null).into_response();
        }
        if !is_json(&reply.body) {
            return ApiError::Upstream("invalid JSON from upstream".to_owned()).into_response();
        }
        return json_body(StatusCode::OK, reply.body);
    }
    if !empty && is_json(&reply.body) {
        return json_body(reply.status, reply.body);
    }
    let text = String::from_utf8_lossy(&reply.body);
    let mut quoted: String = text.trim().chars().take(QUOTED_ERROR_LEN).collect();
    if quoted.is_empty() {
        quoted = reply
            .status
            .canonical_reason()
            .unwrap_or("no body")
            .to_owned();
    }
    let message = format!("upstream answered {}: {quoted}", reply.status.as_u16());
    ApiError::UpstreamStatus(reply.status, message).into_response()
}

fn json_body(status: StatusCode, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &'static str) -> Response {
        into_response(UpstreamReply {
            status: StatusCode::from_u16(status).unwrap(),
            content_type: None,
            body: Bytes::from_static(body.as_bytes()),
        })
    }

    #[test]
    fn statuses_and_bodies() {
        assert_eq!(reply(202, "").status(), StatusCode::OK);
        assert_eq!(reply(200, "{\"a\":1}").status(), StatusCode::OK);
        assert_eq!(reply(200, "<html>").status(), StatusCode::BAD_GATEWAY);
        assert_eq!(reply(409, "{\"error\":{}}").status(), StatusCode::CONFLICT);
        assert_eq!(reply(503, "busy").status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
