//! `/ws/mux`: the aggregate event stream the dashboard listens to.

use crate::state::AppState;
use app::protocol::mux::{MuxEvent, SessionSummary};
use axum::{
    extract::{
        ws::{Message, WebSocket},
        State, WebSocketUpgrade,
    },
    response::Response,
};

/// Upgrades `/ws/mux`.
pub async fn ws_mux(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| client(state, socket))
}

fn snapshot(state: &AppState) -> MuxEvent {
    let sessions = state
        .hub
        .registry
        .snapshot()
        .into_iter()
        .map(|s| SessionSummary {
            id: s.id,
            url: s.url,
            state: None,
            metadata: s.metadata,
        })
        .collect();
    MuxEvent::Sessions { sessions }
}

async fn client(state: AppState, mut socket: WebSocket) {
    let Ok(first) = serde_json::to_string(&snapshot(&state)) else {
        return;
    };
    if socket.send(Message::Text(first.into())).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            () = state.hub.shutdown.cancelled() => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
