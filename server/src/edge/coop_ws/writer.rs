//! The writer of one `/ws` connection: it owns the socket's send half and the client's output
//! offset, and pulls PTY bytes from the output log at the client's own pace, so a slow client
//! never makes the server buffer anything for it and never slows the others; a client that
//! falls behind the log continues from the oldest byte held. A side may instead give a client
//! that falls too far behind one uncorrelated `replay` (coop's lag replay, [`Source::lag_bytes`]).
//!
//! Everything else it sends comes from its queue (replies, and in the mux the bridge's
//! pushes) or from its side's [`Source`] (the session host's screen, transitions and exit).

use super::frame;
use super::log::{End, Ring, SharedLog};
use super::queue::{Outgoing, QueueReceiver};
use super::subs::Subs;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use base64::Engine as _;
use futures_util::future::BoxFuture;
use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use protocol::coop::{self, WsEvent};
use serde_json::Value;
use std::future::Future;
use std::ops::Range;

/// Most PTY bytes sent in one `pty` frame.
pub const PTY_FRAME_BYTES: usize = 64 << 10; // 64 KiB
/// Close code "going away" (RFC 6455), sent when the session or the server goes.
const CLOSE_GOING_AWAY: u16 = 1001; // WebSocket close code

/// A client's `replay:get`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayAsk {
    /// Requested start.
    pub offset: u64,
    /// Most bytes wanted (default: everything held).
    pub limit: Option<u64>,
    /// The client's own request id, echoed on the reply.
    pub request_id: Option<Value>,
}

/// One push of a [`Source`].
#[derive(Debug)]
pub enum Push {
    /// A frame to send.
    Frame(String),
    /// Nothing to send this time (a timer was armed, or nothing changed).
    Idle,
    /// The source is gone: the connection ends.
    End,
}

/// What one side (session host or mux bridge) adds to a connection's writer.
pub trait Source: Send + 'static {
    /// The ring of the output log the writer pulls PTY bytes from.
    type Ring: Ring;
    /// The value of the log's end `watch`.
    type End: End;

    /// The output log.
    fn log(&self) -> &SharedLog<Self::Ring, Self::End>;

    /// Resolves with the close reason when the connection must close (the session or the
    /// server is going away). Taken once, when the writer starts.
    fn closed(&self) -> BoxFuture<'static, &'static str>;

    /// Frames to send when the connection becomes active (at once, or after `auth`).
    fn activate(&mut self) -> Vec<String> {
        Vec::new()
    }

    /// Waits for this side's next push; must be cancel-safe (it races the queue and the log).
    fn next_push(&mut self) -> impl Future<Output = Push> + Send {
        std::future::pending()
    }

    /// A notice to send before anything else, looked at on every turn of the writer.
    fn notice(&mut self) -> Option<String> {
        None
    }

    /// The client fell behind the log and the bytes `lost` are gone; returns a frame to send
    /// before it continues at the oldest byte held, if the side tells clients.
    fn output_dropped(&self, _lost: Range<u64>) -> Option<String> {
        None
    }

    /// Counts a frame sent to the client.
    fn sent(&self, _bytes: usize) {}

    /// How far a `pty` client may fall behind the log's end before it is sent one
    /// uncorrelated `replay` instead (coop's lag replay, docs/coop-protocol.md); `None`: it
    /// reads on from where it is.
    fn lag_bytes(&self) -> Option<u64> {
        None
    }
}

/// The client went away.
struct Gone;

/// The send half of one connection and its offset in the output log.
pub struct Writer<S: Source> {
    source: S,
    sink: SplitSink<WebSocket, Message>,
    subs: Subs,
    /// Pushes and PTY output flow (the connection authenticated).
    active: bool,
    /// Next PTY offset this client needs; `None` until it is active and the log's end known.
    pos: Option<u64>,
    /// End of the output this client was sent (a frame after a lag replay may start before).
    covered: u64,
    buf: Vec<u8>,
}

impl<S: Source> Writer<S> {
    /// A writer; `active` when the connection needs no `auth` first.
    pub fn new(source: S, sink: SplitSink<WebSocket, Message>, subs: Subs, active: bool) -> Self {
        Self {
            source,
            sink,
            subs,
            active,
            pos: None,
            covered: 0,
            buf: Vec::with_capacity(PTY_FRAME_BYTES),
        }
    }

    /// Serves the connection until the client, the queue or the source goes away.
    pub async fn run(mut self, mut rx: QueueReceiver) {
        let mut end_rx = self.source.log().subscribe_end();
        let closed = self.source.closed();
        tokio::pin!(closed);
        if self.active && self.activate().await.is_err() {
            return;
        }
        // A replay asked for before the log knows its end waits for it; nothing queued
        // after it is taken meanwhile, so replies keep their order.
        let mut deferred: Option<ReplayAsk> = None;
        loop {
            let end = end_rx.borrow_and_update().known();
            if let Some(end) = end.filter(|_| self.active) {
                let pos = *self.pos.get_or_insert(end);
                // `end` may trail the log by one append, so only the log itself can tell that
                // its output restarted below this client's position.
                if pos > end {
                    let held = self.source.log().held();
                    if pos > held.end {
                        self.pos = Some(held.start);
                        self.covered = held.start;
                    }
                }
            }
            if end.is_some() {
                if let Some(ask) = deferred.take() {
                    if self.replay(ask).await.is_err() {
                        return;
                    }
                    continue;
                }
            }
            if let Some(notice) = self.source.notice() {
                if self.send(notice).await.is_err() {
                    return;
                }
            }
            let want_pty = self.active
                && self.subs.pty
                && matches!((self.pos, end), (Some(p), Some(e)) if p < e);
            let need_end = end.is_none() || (self.active && self.subs.pty);
            let step = tokio::select! {
                biased;
                reason = &mut closed => {
                    // What was answered before the end still goes out first (the reply to
                    // the `shutdown` that ended the session).
                    while let Ok(queued) = rx.try_recv() {
                        if self.handle(queued.out).await.is_err() {
                            return;
                        }
                    }
                    self.close(reason).await;
                    return;
                }
                queued = rx.recv(), if deferred.is_none() => match queued.map(|q| q.out) {
                    None => return,
                    Some(Outgoing::Replay(ask)) if end.is_none() => {
                        deferred = Some(ask);
                        Ok(())
                    }
                    Some(out) => self.handle(out).await,
                },
                () = std::future::ready(()), if want_pty => self.send_pty(end.unwrap_or_default()).await,
                changed = end_rx.changed(), if !want_pty && need_end => changed.map_err(|_| Gone),
                push = self.source.next_push(), if self.active => match push {
                    Push::Frame(frame) => self.send(frame).await,
                    Push::Idle => Ok(()),
                    Push::End => return,
                },
            };
            if step.is_err() {
                return;
            }
        }
    }

    async fn activate(&mut self) -> Result<(), Gone> {
        self.active = true;
        for frame in self.source.activate() {
            self.send(frame).await?;
        }
        Ok(())
    }

    async fn send(&mut self, frame: String) -> Result<(), Gone> {
        self.source.sent(frame.len());
        self.sink
            .send(Message::Text(frame.into()))
            .await
            .map_err(|_| Gone)
    }

    async fn close(&mut self, reason: &'static str) {
        let frame = CloseFrame {
            code: CLOSE_GOING_AWAY,
            reason: reason.into(),
        };
        let _ = self.sink.send(Message::Close(Some(frame))).await;
    }

    async fn handle(&mut self, out: Outgoing) -> Result<(), Gone> {
        match out {
            Outgoing::Frame(frame) => self.send(frame).await,
            Outgoing::Replay(ask) => self.replay(ask).await,
            Outgoing::Replayed { frame, next_offset } => {
                self.advance(next_offset);
                self.send(frame).await
            }
            Outgoing::Activate if self.active => Ok(()),
            // Output starts at the log's end as of now (taken on the next turn).
            Outgoing::Activate => self.activate().await,
        }
    }

    /// Later `pty` frames ending at or before a replay's end are skipped (coop's rule).
    fn advance(&mut self, next_offset: u64) {
        self.pos = Some(self.pos.map_or(next_offset, |p| p.max(next_offset)));
        self.covered = self.covered.max(next_offset);
    }

    /// Answers `replay:get` from the log.
    async fn replay(&mut self, ask: ReplayAsk) -> Result<(), Gone> {
        let limit = ask
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        let mut data = Vec::new();
        let read = self.source.log().read_into(ask.offset, limit, &mut data);
        let next_offset = read.start + data.len() as u64;
        let replay = coop::Replay {
            data: base64::engine::general_purpose::STANDARD.encode(&data),
            offset: read.start,
            next_offset,
            total_written: read.end,
        };
        self.advance(next_offset);
        let reply = frame::encode(&WsEvent::Replay(replay), ask.request_id.as_ref());
        self.send(reply).await
    }

    async fn send_pty(&mut self, end: u64) -> Result<(), Gone> {
        let Some(pos) = self.pos else {
            return Ok(());
        };
        if let Some(lag) = self.source.lag_bytes() {
            let from = pos.max(self.covered);
            if end.saturating_sub(from) > lag {
                return self.lag_replay(from).await;
            }
        }
        self.buf.clear();
        let start = self
            .source
            .log()
            .read_into(pos, PTY_FRAME_BYTES, &mut self.buf)
            .start;
        if start > pos {
            if let Some(notice) = self.source.output_dropped(pos..start) {
                self.send(notice).await?;
            }
        }
        let next = start + self.buf.len() as u64;
        self.pos = Some(next);
        self.covered = self.covered.max(next);
        if self.buf.is_empty() {
            return Ok(());
        }
        let frame = frame::pty(&self.buf, start);
        self.send(frame).await
    }

    /// coop's answer to a `pty` client that fell behind: one uncorrelated `replay` from where
    /// it was (or the oldest byte held) to the end. `pty` frames then go on from the start of
    /// the frame (counted in [`PTY_FRAME_BYTES`] from where the client was) that the replay's
    /// end falls in: that frame is sent whole, with its own offset, overlapping the replay.
    async fn lag_replay(&mut self, from: u64) -> Result<(), Gone> {
        let mut data = Vec::new();
        let read = self.source.log().read_into(from, usize::MAX, &mut data);
        let next_offset = read.start + data.len() as u64;
        let frame_bytes = PTY_FRAME_BYTES as u64;
        let resume = from + (next_offset.saturating_sub(from)) / frame_bytes * frame_bytes;
        self.pos = Some(resume.max(read.start));
        self.covered = next_offset;
        let replay = coop::Replay {
            data: base64::engine::general_purpose::STANDARD.encode(&data),
            offset: read.start,
            next_offset,
            total_written: read.end,
        };
        self.send(frame::encode(&WsEvent::Replay(replay), None))
            .await
    }
}
