//! Agent state of a plain command: `starting` until the child runs, `working` while output
//! flows, `idle` after a quiet period, `exited` once the child is gone.

use protocol::{coop, AgentState};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

/// Transitions buffered per subscriber; a subscriber that falls further behind gets a
/// synthetic transition for the current state instead.
const TRANSITION_QUEUE: usize = 64; // transitions

#[derive(Debug)]
struct Current {
    state: AgentState,
    seq: u64,
    cause: &'static str,
    exit: Option<coop::Exit>,
}

/// The current state plus a feed of transitions.
#[derive(Debug)]
pub struct StateTracker {
    current: Mutex<Current>,
    transitions: broadcast::Sender<coop::Transition>,
    exit: watch::Sender<Option<coop::Exit>>,
}

impl Default for StateTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl StateTracker {
    /// Starts in `starting`.
    pub fn new() -> Self {
        Self {
            current: Mutex::new(Current {
                state: AgentState::Starting,
                seq: 0,
                cause: "start",
                exit: None,
            }),
            transitions: broadcast::channel(TRANSITION_QUEUE).0,
            exit: watch::channel(None).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Current> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `(state, seq at which it began, cause)`.
    pub fn get(&self) -> (AgentState, u64, &'static str) {
        let c = self.lock();
        (c.state.clone(), c.seq, c.cause)
    }

    /// How the child exited, once it has.
    pub fn exit(&self) -> Option<coop::Exit> {
        self.lock().exit
    }

    /// Moves to `next` unless already there or exited; broadcasts the transition.
    pub fn set(&self, next: AgentState, cause: &'static str) {
        let mut c = self.lock();
        if c.state == next || c.state == AgentState::Exited {
            return;
        }
        let prev = std::mem::replace(&mut c.state, next.clone());
        c.seq += 1;
        c.cause = cause;
        let t = transition(prev, next, c.seq, cause);
        drop(c);
        // No subscribers is fine: nobody listens yet.
        let _ = self.transitions.send(t);
    }

    /// Records the exit, moves to `exited` and announces it.
    pub fn set_exited(&self, exit: coop::Exit) {
        {
            let mut c = self.lock();
            if c.exit.is_some() {
                return;
            }
            c.exit = Some(exit);
        }
        self.set(AgentState::Exited, "exit");
        self.exit.send_replace(Some(exit));
    }

    /// A synthetic transition for the current state (`prev == next`), sent on connect.
    pub fn synthetic(&self) -> coop::Transition {
        let c = self.lock();
        transition(c.state.clone(), c.state.clone(), c.seq, c.cause)
    }

    /// Subscribes to transitions.
    pub fn subscribe(&self) -> broadcast::Receiver<coop::Transition> {
        self.transitions.subscribe()
    }

    /// Subscribes to the exit.
    pub fn subscribe_exit(&self) -> watch::Receiver<Option<coop::Exit>> {
        self.exit.subscribe()
    }
}

fn transition(
    prev: AgentState,
    next: AgentState,
    seq: u64,
    cause: &'static str,
) -> coop::Transition {
    coop::Transition {
        prev,
        next,
        seq,
        prompt: None,
        error_detail: None,
        error_category: None,
        cause: Some(cause.to_owned()),
        last_message: None,
    }
}

/// Drives `working`/`idle` from output activity: `total` changes whenever output arrives and
/// `last_output` tells when it last did. While working it wakes only at idle deadlines, not
/// on every chunk. Ends when the output feed closes or the child has exited.
pub async fn run_activity(
    tracker: &StateTracker,
    mut total: watch::Receiver<u64>,
    idle_after: Duration,
    last_output: impl Fn() -> Instant,
) {
    loop {
        // Working: wait until the output has been quiet for `idle_after`.
        loop {
            let deadline = last_output() + idle_after;
            if deadline > Instant::now() {
                tokio::time::sleep_until(deadline).await;
                continue;
            }
            // Mark the feed seen, then look again: output that raced with the check either
            // moved `last_output` (seen here) or will change `total` (seen below).
            total.borrow_and_update();
            if last_output() + idle_after <= Instant::now() {
                break;
            }
        }
        tracker.set(AgentState::Idle, "quiet");
        if total.changed().await.is_err() || tracker.get().0 == AgentState::Exited {
            return;
        }
        tracker.set(AgentState::Working, "output");
    }
}
