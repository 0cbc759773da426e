//! Extractors that reject in the JSON envelope, never with axum's plain-text bodies
//! (docs/coop-protocol.md): 415 wrong content type, 400 malformed JSON
//! or empty body,
//! 422 missing or mistyped fields, 413 body over the limit, 400 invalid session id.

use crate::edge::error::ApiError;
pub use crate::edge::headers::is_json;
use crate::hub::registry::ids;
use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Path, Request},
    http::{request::Parts, StatusCode},
};
use serde::de::DeserializeOwned;

/// A JSON request body parsed as `T`.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

/// A JSON request body kept as the client sent it (the proxies forward it unchanged), after
/// checking that it is JSON at all.
#[derive(Debug)]
pub struct RawJson(pub Bytes);

/// A validated session id from the path.
#[derive(Debug)]
pub struct SessionId(pub String);

/// Reads the whole body, mapping axum's rejections (too large, broken stream) to the envelope.
pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge("request body is too large".to_owned())
        } else {
            ApiError::BadRequest(format!(
                "cannot read request body: {}",
                rejection.body_text()
            ))
        }
    })
}

/// Parses a JSON body: 400 when it is not JSON, 422 when its fields do not fit `T`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| syntax_or_data(&e))
}

async fn json_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    if !is_json(req.headers()) {
        return Err(ApiError::UnsupportedMediaType(
            "expected request with `Content-Type: application/json`".to_owned(),
        ));
    }
    read_body(req, state).await
}

fn syntax_or_data(err: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match err.classify() {
        Category::Data => ApiError::Unprocessable(format!("invalid request body: {err}")),
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::BadRequest(format!("malformed JSON: {err}"))
        }
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_bytes(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

impl<S: Send + Sync> FromRequest<S> for RawJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_bytes(req, state).await?;
        serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).map_err(|e| syntax_or_data(&e))?;
        Ok(RawJson(bytes))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SessionId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::BadRequest(format!("invalid path: {}", e.body_text())))?;
        ids::validate(&id).map_err(ApiError::BadRequest)?;
        Ok(SessionId(id))
    }
}
