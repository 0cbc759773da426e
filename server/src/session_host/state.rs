//! Agent state of a plain command: `starting` until the child runs, `working` while output
//! flows, `idle` after a quiet period, `exited` once the child is gone, `restarting` while a
//! switch replaces it.

use protocol::{coop, AgentState};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

/// Transitions buffered per subscriber; a subscriber that falls further behind gets a
/// synthetic transition for the current state instead.
const TRANSITION_QUEUE: usize = 64; // transitions

/// The state coop reports while it replaces the agent's process (not a variant of
/// [`AgentState`], which keeps it as spelled).
pub fn restarting() -> AgentState {
    AgentState::parse("restarting")
}

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
    /// The current state, for those who wait for one (an unforced switch waits for idle).
    state: watch::Sender<AgentState>,
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
            state: watch::channel(AgentState::Starting).0,
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

    /// How the child exited, while it is gone.
    pub fn exit(&self) -> Option<coop::Exit> {
        self.lock().exit
    }

    /// A child runs and is not being replaced: input goes somewhere.
    pub fn is_ready(&self) -> bool {
        let state = &self.lock().state;
        !matches!(state, AgentState::Starting | AgentState::Exited) && *state != restarting()
    }

    /// Moves to `next` unless already there and broadcasts the transition. For the lifecycle
    /// (spawned, restarting); output activity goes through [`Self::activity`].
    pub fn set(&self, next: AgentState, cause: &'static str) {
        self.set_if(next, cause, |_| true);
    }

    /// `working`/`idle` from output activity: only while a child runs, so that late output
    /// of a gone child never hides `exited` or `restarting`.
    pub fn activity(&self, next: AgentState, cause: &'static str) {
        self.set_if(next, cause, |now| {
            matches!(now, AgentState::Working | AgentState::Idle)
        });
    }

    fn set_if(&self, next: AgentState, cause: &'static str, allowed: impl Fn(&AgentState) -> bool) {
        let mut c = self.lock();
        if c.state == next || !allowed(&c.state) {
            return;
        }
        let prev = std::mem::replace(&mut c.state, next.clone());
        c.seq += 1;
        c.cause = cause;
        let t = transition(prev, next.clone(), c.seq, cause);
        drop(c);
        self.state.send_replace(next);
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

    /// A switch replaces the child: the exit (if any) is forgotten, the state is `restarting`.
    pub fn set_restarting(&self) {
        self.lock().exit = None;
        self.exit.send_replace(None);
        self.set(restarting(), "switch");
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

    /// Subscribes to the exit (`None` again when a switch restarts the child).
    pub fn subscribe_exit(&self) -> watch::Receiver<Option<coop::Exit>> {
        self.exit.subscribe()
    }

    /// Subscribes to the current state.
    pub fn subscribe_state(&self) -> watch::Receiver<AgentState> {
        self.state.subscribe()
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
/// `last_output` tells when it last did; `spawns` changes when a new child starts (it may be
/// silent, and must still become idle). While working it wakes only at idle deadlines, not on
/// every chunk. Runs until the host stops.
pub async fn run_activity(
    tracker: &StateTracker,
    mut total: watch::Receiver<u64>,
    mut spawns: watch::Receiver<u64>,
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
        tracker.activity(AgentState::Idle, "quiet");
        tokio::select! {
            changed = total.changed() => if changed.is_err() { return },
            changed = spawns.changed() => if changed.is_err() { return },
        }
        tracker.activity(AgentState::Working, "output");
    }
}
