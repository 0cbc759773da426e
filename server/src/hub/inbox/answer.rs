//! Answering an item, exactly once (docs/architecture.md, "The inbox"): the item must be the
//! session's prompt now, here (not being answered) and among the replicas (the first claim),
//! and still at the session (`GET /agent` names the same `since_seq`); only then is
//! `respond` sent, once. Any answer that fails a check gets 409 and sends nothing.

use super::claims::Claimed;
use super::Inbox;
use crate::hub::replication::OP_TIMEOUT;
use crate::hub::upstream::{Reply, UpstreamError};
use bytes::Bytes;
use http::Method;
use protocol::coop::{RespondReply, RespondRequest};
use protocol::inbox::{InboxAnswered, InboxItem};
use protocol::AgentState;
use serde::Deserialize;

/// Why an answer was not sent.
#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    /// The id does not name an item (`{session}:{seq}`).
    #[error("{0:?} is not an inbox item id (session:seq)")]
    BadId(String),
    /// No session has the item's id.
    #[error("session not found")]
    SessionNotFound,
    /// The session's prompt is not this item any more (or never was): nothing sent.
    #[error("item {0} is not the session's waiting prompt any more; nothing was sent")]
    Changed(String),
    /// Another answer of the item came first (here or on another replica): nothing sent.
    #[error("item {0} was answered already; nothing was sent")]
    AlreadyAnswered(String),
    /// NATS did not confirm this replica's claim in time: nothing sent.
    #[error("the replicas did not confirm the claim of item {0} in time; nothing was sent")]
    Unconfirmed(String),
    /// The answer does not fit the item (an option it lacks, more answers than questions).
    #[error("{0}")]
    Invalid(String),
    /// The session could not be reached.
    #[error("{0}")]
    Upstream(#[from] UpstreamError),
    /// The session refused the answer.
    #[error("the session answered {status}: {body}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Its body, as text.
        body: String,
    },
}

/// The fields of `GET /api/v1/agent` that name the prompt.
#[derive(Debug, Deserialize)]
struct AgentNow {
    state: AgentState,
    #[serde(default)]
    since_seq: u64,
}

impl Inbox {
    /// Sends `answer` to item `id`'s session once.
    pub async fn answer(
        &self,
        id: &str,
        answer: &RespondRequest,
    ) -> Result<InboxAnswered, InboxError> {
        let (session_id, seq) =
            InboxItem::parse_id(id).ok_or_else(|| InboxError::BadId(id.to_owned()))?;
        let session = (self.registry.get(session_id)).map_err(|_| InboxError::SessionNotFound)?;
        let item = self.begin_answer(id, session_id)?;
        if let Err(why) = check(&item, answer) {
            self.abort_answer(id, session_id);
            return Err(InboxError::Invalid(why));
        }
        match self.claims.answer(id, OP_TIMEOUT).await {
            Claimed::Won => {}
            Claimed::Taken => return Err(InboxError::AlreadyAnswered(id.to_owned())),
            Claimed::Unconfirmed => {
                self.claims.release_answer(id);
                self.abort_answer(id, session_id);
                return Err(InboxError::Unconfirmed(id.to_owned()));
            }
        }
        let upstream = self.registry.upstream();
        let target = session.target();
        let now = match upstream
            .send(&target, Method::GET, "/api/v1/agent", None)
            .await?
        {
            Reply::Http(reply) if reply.status.is_success() => {
                serde_json::from_slice::<AgentNow>(&reply.body).ok()
            }
            _ => None,
        };
        if !now.is_some_and(|n| n.state == AgentState::Prompt && n.since_seq == seq) {
            return Err(InboxError::Changed(id.to_owned()));
        }
        let body = Bytes::from(serde_json::to_vec(answer).unwrap_or_default());
        let path = "/api/v1/agent/respond";
        match upstream
            .send(&target, Method::POST, path, Some(body))
            .await?
        {
            Reply::Http(reply) if reply.status.is_success() => {
                let reply: Option<RespondReply> = serde_json::from_slice(&reply.body).ok();
                Ok(InboxAnswered {
                    item: id.to_owned(),
                    delivered: reply.as_ref().is_some_and(|r| r.delivered),
                    prompt_type: reply.map(|r| r.prompt_type).unwrap_or_default(),
                })
            }
            Reply::Http(reply) if reply.status == http::StatusCode::CONFLICT => {
                Err(InboxError::Changed(id.to_owned()))
            }
            Reply::Http(reply) => {
                self.abort_answer(id, session_id);
                Err(InboxError::Refused {
                    status: reply.status.as_u16(),
                    body: String::from_utf8_lossy(&reply.body)
                        .chars()
                        .take(512)
                        .collect(),
                })
            }
            // A session reached only over NATS: published, no reply.
            Reply::Published(_) => Ok(InboxAnswered {
                item: id.to_owned(),
                delivered: false,
                prompt_type: String::new(),
            }),
        }
    }
}

/// Whether `answer` fits what `item` asks, before anything is claimed.
fn check(item: &InboxItem, answer: &RespondRequest) -> Result<(), String> {
    let prompt = &item.prompt;
    let options = match prompt.questions.get(prompt.question_current) {
        Some(question) if prompt.kind == "question" => question.options.len(),
        _ => prompt.options.len(),
    };
    if let Some(option) = answer.option {
        if option == 0 || (options > 0 && option as usize > options) {
            return Err(format!(
                "option {option} is not one of the item's 1..={options}"
            ));
        }
    }
    if answer.answers.len() > prompt.questions.len().max(1) {
        return Err("more answers than the item has questions".to_owned());
    }
    let given = [
        answer.accept.is_some(),
        answer.option.is_some(),
        answer.text.is_some(),
    ];
    if given.iter().all(|g| !g) && answer.answers.is_empty() {
        return Err("an answer needs accept, option, text or answers".to_owned());
    }
    Ok(())
}
