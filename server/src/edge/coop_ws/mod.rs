//! coop's `/ws` protocol, server side, as both the session host (`/ws`) and the mux's bridge
//! (`/ws/{id}`) serve it (docs/coop-protocol.md).
//!
//! A connection is two tasks around one bounded [`queue`]: the [`reader`] parses requests and
//! hands them to its side's [`Handler`], which answers or forwards them; the [`writer`] owns
//! the socket's send half and the client's offset in the session's output log ([`log`]),
//! pulls PTY bytes from it at the client's pace, and sends what is queued and what its side's
//! [`Source`] pushes. Only what differs stays with each side: the host answers from its
//! session and pushes its own screen and state; the bridge forwards upstream with ids mapped
//! and tells clients what they lost.

pub mod frame;
pub mod log;
pub mod output_log;
pub mod queue;
pub mod reader;
pub mod subs;
pub mod writer;

pub use log::{Read, Ring, SharedLog};
pub use queue::{queue, Outgoing, QueueError, QueueReceiver, QueueSender};
pub use reader::{BadRequest, Handler, Request};
pub use subs::Subs;
pub use writer::{Push, ReplayAsk, Source, Writer};

use axum::extract::ws::WebSocket;
use futures_util::StreamExt;

/// Largest frame accepted from a client (coop's 10 MiB uploads, base64, inside JSON).
pub const MAX_CLIENT_FRAME_BYTES: usize = 16 << 20; // 16 MiB

/// Serves one connection until the client leaves or the writer ends (closed by its source).
///
/// `tx` and `rx` are the two ends of the connection's [`queue`]; the caller may keep clones
/// of `tx` to push frames to this client. `active` is false while the client must `auth`.
pub async fn serve<H: Handler, S: Source>(
    socket: WebSocket,
    (tx, rx): (QueueSender, QueueReceiver),
    handler: H,
    source: S,
    subs: Subs,
    active: bool,
) {
    let (sink, stream) = socket.split();
    let writer = Writer::new(source, sink, subs, active);
    // Its own task: the reader may await a slow request while output keeps flowing.
    let mut writer = tokio::spawn(writer.run(rx));
    let reader_ended = tokio::select! {
        () = reader::read(stream, handler, tx) => true,
        _ = &mut writer => false,
    };
    if reader_ended {
        // Wait for the abort, so that the writer's hold on the session ends with this call.
        writer.abort();
        let _ = writer.await;
    }
}
