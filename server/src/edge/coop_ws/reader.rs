//! The reader of one `/ws` connection: parses each client frame into a [`Request`], hands it
//! to its side's [`Handler`] and queues what the handler answers for the writer.

use super::frame;
use super::queue::{Outgoing, QueueSender};
use super::writer::ReplayAsk;
use axum::extract::ws::{Message, WebSocket};
use futures_util::stream::SplitStream;
use futures_util::StreamExt;
use protocol::coop::WsRequest;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::future::Future;

/// The `event` of a `replay:get` request.
const REPLAY_GET: &str = "replay:get";

/// One parsed client request.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// `replay:get`: every side answers it from its output log (see [`ReplayAsk`]).
    Replay(ReplayAsk),
    /// Anything else, as the JSON object the client sent less its `request_id`.
    Other {
        /// The client's own request id, echoed on the reply.
        request_id: Option<Value>,
        /// The request's fields, `event` included.
        body: Map<String, Value>,
    },
}

impl Request {
    /// The request as coop's typed request.
    pub fn typed(
        body: Map<String, Value>,
        request_id: Option<Value>,
    ) -> Result<(WsRequest, Option<Value>), BadRequest> {
        match serde_json::from_value(Value::Object(body)) {
            Ok(request) => Ok((request, request_id)),
            Err(e) => Err(BadRequest {
                message: format!("invalid request: {e}"),
                request_id,
            }),
        }
    }
}

/// A client frame that is not a request; answered with a `BAD_REQUEST` error, and the
/// connection stays open.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct BadRequest {
    message: String,
    /// The client's request id, when the frame had one.
    request_id: Option<Value>,
}

impl BadRequest {
    fn unparsable(message: String) -> Self {
        Self {
            message,
            request_id: None,
        }
    }

    /// The `error` frame to send back.
    pub fn frame(&self) -> String {
        frame::error(
            "BAD_REQUEST",
            self.message.as_str(),
            self.request_id.as_ref(),
        )
    }
}

/// Parses a client frame.
pub fn parse(text: &str) -> Result<Request, BadRequest> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| BadRequest::unparsable(format!("invalid JSON: {e}")))?;
    let Value::Object(mut body) = value else {
        let message = "invalid request: expected a JSON object".to_owned();
        return Err(BadRequest::unparsable(message));
    };
    let request_id = body.remove("request_id");
    if body.get("event").and_then(Value::as_str) != Some(REPLAY_GET) {
        return Ok(Request::Other { request_id, body });
    }
    match Request::typed(body, request_id)? {
        (WsRequest::ReplayGet { offset, limit }, request_id) => Ok(Request::Replay(ReplayAsk {
            offset,
            limit,
            request_id,
        })),
        // Unreachable: the tag decides the variant.
        (_, request_id) => Err(BadRequest {
            message: "invalid request".to_owned(),
            request_id,
        }),
    }
}

/// What one side does with a connection's requests.
pub trait Handler: Send + 'static {
    /// Answers or forwards one request; returns what to queue for this client's writer.
    fn handle(&mut self, request: Request) -> impl Future<Output = Option<Outgoing>> + Send;

    /// The error frame for a client frame that is not a request; returns what to queue (a
    /// side that orders its replies keeps it behind earlier ones).
    fn rejected(&mut self, frame: String) -> impl Future<Output = Option<Outgoing>> + Send {
        std::future::ready(Some(Outgoing::Frame(frame)))
    }
}

/// Reads the client's frames until it leaves or the writer is gone.
pub async fn read<H: Handler>(mut stream: SplitStream<WebSocket>, mut handler: H, tx: QueueSender) {
    while let Some(Ok(msg)) = stream.next().await {
        let text = match &msg {
            Message::Text(text) => Cow::Borrowed(text.as_str()),
            // coop answers a binary frame like a text one (an error when it is not JSON).
            Message::Binary(bytes) => String::from_utf8_lossy(bytes),
            Message::Ping(_) | Message::Pong(_) => continue,
            Message::Close(_) => return,
        };
        let out = match parse(&text) {
            Ok(request) => handler.handle(request).await,
            Err(bad) => handler.rejected(bad.frame()).await,
        };
        if let Some(out) = out {
            if tx.send(out).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error_of(text: &str) -> Value {
        serde_json::from_str(&parse(text).unwrap_err().frame()).unwrap()
    }

    #[test]
    fn replay_get_is_parsed_strictly_and_others_pass_through() {
        let replay = parse(r#"{"event":"replay:get","offset":5,"limit":2,"request_id":[1]}"#);
        assert_eq!(
            replay.unwrap(),
            Request::Replay(ReplayAsk {
                offset: 5,
                limit: Some(2),
                request_id: Some(json!([1]))
            })
        );
        let bad = error_of(r#"{"event":"replay:get","request_id":9}"#);
        assert_eq!(
            (&bad["code"], &bad["request_id"]),
            (&json!("BAD_REQUEST"), &json!(9))
        );
        let Request::Other { request_id, body } = parse(r#"{"event":"warp","x":1}"#).unwrap()
        else {
            panic!("not passed through");
        };
        assert_eq!(
            (request_id, Value::Object(body)),
            (None, json!({"event":"warp","x":1}))
        );
        assert!(error_of("nope").get("request_id").is_none());
        assert_eq!(error_of("[1]")["code"], "BAD_REQUEST");
    }
}
