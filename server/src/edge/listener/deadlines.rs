//! The deadlines of one connection (docs/security.md, "Bounds"): a connection with nothing in
//! flight must send its first request within the header timeout and a later one within the
//! idle (keep-alive) timeout, and every request body must arrive within the body timeout.
//! Whatever the protocol (HTTP/1, HTTP/2, or a socket that never says which), a client that
//! sends nothing, trickles a body or idles is cut off, so it cannot hold one of the capped
//! connection slots.
//!
//! Requests and bodies are counted by guards ([`InFlight`], [`BodyPending`]) that the
//! listener ties to each request's body and response; the connection's watcher sleeps until
//! the deadline it armed ([`Conn::arm`]) and is woken only when a change brings the deadline
//! before that, so a kept-alive connection's requests wake nobody.

use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The timeouts of a connection.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Time from accepting to the first request's headers.
    pub first_request: Duration,
    /// Time a request has to deliver its whole body.
    pub body: Duration,
    /// Time a connection may stay open with nothing in flight after a request.
    pub idle: Duration,
}

#[derive(Debug)]
struct State {
    /// Requests whose response has not been sent.
    in_flight: usize,
    /// Bodies still arriving: request number and when the request arrived.
    bodies: Vec<(u64, Instant)>,
    next_request: u64,
    /// Since when nothing is in flight (the accept, at first).
    idle_since: Instant,
    /// Whether a request has arrived.
    served: bool,
    /// The deadline the watcher sleeps until (`None`: it sleeps until woken).
    armed: Option<Instant>,
}

impl State {
    fn deadline(&self, timeouts: &Timeouts) -> Option<Instant> {
        if self.in_flight == 0 {
            let limit = if self.served {
                timeouts.idle
            } else {
                timeouts.first_request
            };
            return Some(self.idle_since + limit);
        }
        self.bodies.iter().map(|(_, at)| *at + timeouts.body).min()
    }

    /// Whether the deadline now comes before the one the watcher sleeps until.
    fn earlier_than_armed(&self, timeouts: &Timeouts) -> bool {
        match (self.deadline(timeouts), self.armed) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(now), Some(armed)) => now < armed,
        }
    }
}

/// The request accounting of one connection.
#[derive(Debug)]
pub struct Conn {
    state: Mutex<State>,
    timeouts: Timeouts,
    changed: Notify,
}

impl Conn {
    /// A connection accepted now.
    pub fn new(timeouts: Timeouts) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                in_flight: 0,
                bodies: Vec::new(),
                next_request: 0,
                idle_since: Instant::now(),
                served: false,
                armed: None,
            }),
            timeouts,
            changed: Notify::new(),
        })
    }

    /// Wakes the watcher if `state`'s deadline moved before the armed one.
    fn settle(&self, state: MutexGuard<'_, State>) {
        let wake = state.earlier_than_armed(&self.timeouts);
        drop(state);
        if wake {
            self.changed.notify_waiters();
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every section leaves the counts whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A request arrived: it is in flight until its response is sent, and its body (unless
    /// `body_done`) pending until it has arrived or is dropped.
    pub fn request(self: &Arc<Self>, body_done: bool) -> (InFlight, Option<BodyPending>) {
        let mut state = self.lock();
        state.in_flight += 1;
        state.served = true;
        let pending = (!body_done).then(|| {
            let number = state.next_request;
            state.next_request += 1;
            state.bodies.push((number, Instant::now()));
            BodyPending(self.clone(), number)
        });
        self.settle(state);
        (InFlight(self.clone()), pending)
    }

    /// When the connection is to be closed if nothing changes first; `None` while every
    /// request in flight has its body and is being answered.
    pub fn deadline(&self) -> Option<Instant> {
        self.lock().deadline(&self.timeouts)
    }

    /// The watcher is about to sleep until the deadline it returns: changes that keep the
    /// deadline after it do not wake it.
    pub fn arm(&self) -> Option<Instant> {
        let mut state = self.lock();
        state.armed = state.deadline(&self.timeouts);
        state.armed
    }

    /// Wakes when the deadline moved before the armed one. Take the future before
    /// [`Conn::arm`], so no change falls between the two.
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }
}

/// A request in flight; dropped with its response body (sent, or the connection gone).
#[derive(Debug)]
pub struct InFlight(Arc<Conn>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.in_flight -= 1;
        if state.in_flight == 0 {
            state.idle_since = Instant::now();
        }
        self.0.settle(state);
    }
}

/// A request body still arriving; dropped when it has arrived, failed or is dropped.
#[derive(Debug)]
pub struct BodyPending(Arc<Conn>, u64);

impl Drop for BodyPending {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.bodies.retain(|(n, _)| *n != self.1);
        self.0.settle(state);
    }
}

/// A body that holds `guard` until it has been read to its end (or failed, or is dropped).
#[derive(Debug)]
pub struct Tracked<B, G> {
    inner: B,
    guard: Option<G>,
}

impl<B, G> Tracked<B, G> {
    /// `inner`, releasing `guard` at its end.
    pub fn new(inner: B, guard: Option<G>) -> Self {
        Self { inner, guard }
    }
}

impl<B: Body + Unpin, G: Unpin> Body for Tracked<B, G> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None | Some(Err(_))) => true,
            Poll::Ready(Some(Ok(_))) => this.inner.is_end_stream(),
            Poll::Pending => false,
        };
        if ended {
            this.guard = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timeouts = Timeouts {
        first_request: Duration::from_secs(1),
        body: Duration::from_secs(2),
        idle: Duration::from_secs(3),
    };

    #[test]
    fn deadlines_follow_requests_and_bodies() {
        let start = Instant::now();
        let conn = Conn::new(T);
        let first = conn.deadline().unwrap();
        assert!(first >= start + T.first_request && first <= Instant::now() + T.first_request);
        let (in_flight, body) = conn.request(false);
        let body_deadline = conn.deadline().unwrap();
        assert!(body_deadline <= Instant::now() + T.body && body_deadline > first);
        drop(body);
        assert_eq!(conn.deadline(), None, "answering has no deadline");
        let before_idle = Instant::now();
        drop(in_flight);
        assert!(conn.deadline().unwrap() >= before_idle + T.idle);
        let (_second, none) = conn.request(true);
        assert!(none.is_none() && conn.deadline().is_none());
    }

    #[test]
    fn only_an_earlier_deadline_wakes_the_watcher() {
        let conn = Conn::new(T);
        conn.arm();
        let wakes = |conn: &Conn| conn.lock().earlier_than_armed(&conn.timeouts);
        let (in_flight, _) = conn.request(true);
        assert!(!wakes(&conn), "a request only moves the deadline away");
        drop(in_flight);
        assert!(
            !wakes(&conn),
            "idle again: later than the first-request deadline"
        );
        conn.arm();
        let (in_flight, body) = conn.request(false);
        assert!(wakes(&conn), "a body's deadline comes before the idle one");
        conn.arm();
        drop(body);
        assert!(!wakes(&conn), "answering has no deadline");
        assert_eq!(conn.arm(), None);
        drop(in_flight);
        assert!(wakes(&conn), "idle after sleeping without a deadline");
    }
}
