//! `GET /api/v1/inbox` and `POST /api/v1/inbox/{item}/answer` (docs/architecture.md, "The
//! inbox"): the dashboard answers the selected item with one request naming it.

use super::answer::InboxError;
use super::Inbox;
use crate::edge::error::ApiError;
use crate::hub::extract::ApiJson;
use axum::extract::{Path, State};
use axum::Json;
use protocol::inbox::{InboxAnswer, InboxAnswered, InboxList};
use protocol::ErrorEnvelope;
use std::sync::Arc;

/// Every prompt an agent waits on, oldest first.
#[utoipa::path(
    get, path = "/api/v1/inbox", tag = "inbox",
    responses((status = 200, body = InboxList))
)]
pub async fn list(State(inbox): State<Arc<Inbox>>) -> Json<InboxList> {
    Json(InboxList {
        items: inbox.list(),
    })
}

/// Answers one item (the body of `POST /agent/respond`), at most once: a second answer, or an
/// answer to an item that is not the session's prompt any more, is a 409 and sends nothing.
#[utoipa::path(
    post, path = "/api/v1/inbox/{item}/answer", tag = "inbox",
    params(("item" = String, Path, description = "item id: `{session}:{seq}`")),
    request_body(content = InboxAnswer, content_type = "application/json"),
    responses(
        (status = 200, body = InboxAnswered),
        (status = 400, description = "not an item id", body = ErrorEnvelope),
        (status = 404, description = "no such session", body = ErrorEnvelope),
        (status = 409, description = "`ALREADY_ANSWERED` or `ITEM_CHANGED`: nothing was sent", body = ErrorEnvelope),
        (status = 422, description = "an answer the item cannot take", body = ErrorEnvelope),
        (status = 502, description = "the session could not be reached or refused", body = ErrorEnvelope),
        (status = 503, description = "the replicas could not confirm the claim: nothing was sent", body = ErrorEnvelope),
    )
)]
pub async fn answer(
    State(inbox): State<Arc<Inbox>>,
    Path(item): Path<String>,
    ApiJson(body): ApiJson<InboxAnswer>,
) -> Result<Json<InboxAnswered>, ApiError> {
    Ok(Json(inbox.answer(&item, &body).await?))
}

/// The inbox's errors over HTTP (409s carry their own codes: nothing was sent).
impl From<InboxError> for ApiError {
    fn from(err: InboxError) -> Self {
        let message = err.to_string();
        match err {
            InboxError::BadId(_) => Self::BadRequest(message),
            InboxError::SessionNotFound => Self::SessionNotFound,
            InboxError::Changed(_) => Self::Conflict("ITEM_CHANGED", message),
            InboxError::AlreadyAnswered(_) => Self::Conflict("ALREADY_ANSWERED", message),
            InboxError::Invalid(_) => Self::Unprocessable(message),
            InboxError::Unconfirmed(_) => Self::Unavailable(message),
            InboxError::Upstream(err) => err.into(),
            InboxError::Refused { .. } => Self::Upstream(message),
        }
    }
}
