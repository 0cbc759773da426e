//! The agent state the host reports (docs/coop-protocol.md, "Agent states"): `starting` until
//! the first detection, then what the detectors ([`super::detect`]) decide, `restarting` while
//! a switch replaces the child, `exited` once it is gone (announced by `exit` alone, as coop
//! does: no transition into `exited` is sent).

use super::detect::{self, Detection};
use protocol::{coop, AgentState};
use std::sync::Mutex;
use tokio::sync::{broadcast, watch};

/// Transitions buffered per subscriber; a subscriber that falls further behind gets a
/// synthetic transition for the current state instead.
const TRANSITION_QUEUE: usize = 64; // transitions

/// Cause of the transition into `restarting`.
const CAUSE_SWITCH: &str = "switch";
/// Cause of the transition into `starting` when a switch started a new child.
const CAUSE_SPAWNED: &str = "spawned";

/// The state coop reports while it replaces the agent's process (not a variant of
/// [`AgentState`], which keeps it as spelled).
pub fn restarting() -> AgentState {
    AgentState::parse("restarting")
}

#[derive(Debug)]
struct Current {
    state: AgentState,
    seq: u64,
    /// What decided the current state; `None` before the first detection of this child.
    detection: Option<Detection>,
    exit: Option<coop::Exit>,
}

/// What `GET /agent` reports of the state.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The state.
    pub state: AgentState,
    /// The transition `seq` at which it began.
    pub since_seq: u64,
    /// `detection_tier`: `none` before the first detection.
    pub tier: &'static str,
    /// `detection_cause`, once something was detected.
    pub cause: Option<&'static str>,
    /// What the agent asks, while it asks something.
    pub prompt: Option<coop::PromptContext>,
    /// What went wrong, in the `error` and `parked` states.
    pub error_detail: Option<String>,
    /// The kind of error, in the `error` and `parked` states.
    pub error_category: Option<String>,
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
    /// Starts in `starting`, nothing detected.
    pub fn new() -> Self {
        Self {
            current: Mutex::new(Current {
                state: AgentState::Starting,
                seq: 0,
                detection: None,
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

    /// The state with what decided it.
    pub fn snapshot(&self) -> Snapshot {
        let c = self.lock();
        Snapshot {
            state: c.state.clone(),
            since_seq: c.seq,
            tier: c
                .detection
                .as_ref()
                .map_or(detect::NO_TIER, |d| d.tier.as_str()),
            cause: c.detection.as_ref().map(|d| d.cause),
            prompt: c.detection.as_ref().and_then(|d| d.prompt.clone()),
            error_detail: c.detection.as_ref().and_then(|d| d.error_detail.clone()),
            error_category: c.detection.as_ref().and_then(|d| d.error_category.clone()),
        }
    }

    /// The current state.
    pub fn get(&self) -> AgentState {
        self.lock().state.clone()
    }

    /// How the child exited, while it is gone.
    pub fn exit(&self) -> Option<coop::Exit> {
        self.lock().exit
    }

    /// Whether the current child's state was detected at least once (coop refuses to drive
    /// an agent before that: "agent is still starting").
    pub fn is_detected(&self) -> bool {
        self.lock().detection.is_some()
    }

    /// Ready as coop is: from the first detection on, also after the child exited; not while
    /// a switch replaces it.
    pub fn is_ready(&self) -> bool {
        let c = self.lock();
        c.detection.is_some() && c.state != restarting()
    }

    /// A detector's conclusion: taken while a child runs (late output of a gone child never
    /// hides `exited` or `restarting`). The same state again only updates what decided it,
    /// except that another prompt is a transition of its own (`prompt` → `prompt`).
    pub fn detect(&self, detection: Detection) {
        let mut c = self.lock();
        if c.exit.is_some() || c.state == restarting() {
            return;
        }
        let next = detection.state.clone();
        let asked = c.detection.as_ref().and_then(|d| d.prompt.as_ref());
        let new_prompt = !same_prompt(asked, detection.prompt.as_ref());
        let t = (c.state != next || new_prompt).then(|| {
            let prev = std::mem::replace(&mut c.state, next.clone());
            c.seq += 1;
            coop::Transition {
                prompt: detection.prompt.as_ref().map(prompt_value),
                error_detail: detection.error_detail.clone(),
                error_category: detection.error_category.clone(),
                cause: Some(detection.cause.to_owned()),
                ..transition(prev, next.clone(), c.seq)
            }
        });
        c.detection = Some(detection);
        if let Some(t) = t {
            self.announce(t, next);
        }
    }

    /// Changes the prompt of the current detection in place (it became ready, its options were
    /// read): the same prompt, so no transition.
    pub fn refine_prompt(&self, refine: impl FnOnce(&mut coop::PromptContext)) {
        let mut c = self.lock();
        if let Some(prompt) = c.detection.as_mut().and_then(|d| d.prompt.as_mut()) {
            refine(prompt);
        }
    }

    /// A lifecycle change (not a detection): moves to `next` and broadcasts it.
    fn set(&self, next: AgentState, cause: &'static str) {
        let mut c = self.lock();
        let prev = std::mem::replace(&mut c.state, next.clone());
        c.seq += 1;
        let t = coop::Transition {
            cause: Some(cause.to_owned()),
            ..transition(prev, next.clone(), c.seq)
        };
        self.announce(t, next);
    }

    /// Sends a transition. Callers hold the state's lock, so that transitions go out in the
    /// order of their `seq` (two detectors may conclude at once); neither send blocks.
    fn announce(&self, t: coop::Transition, next: AgentState) {
        self.state.send_replace(next);
        // No subscribers is fine: nobody listens yet.
        let _ = self.transitions.send(t);
    }

    /// Records the exit: the state is `exited` (`process:exit`), announced by the exit alone.
    pub fn set_exited(&self, exit: coop::Exit) {
        {
            let mut c = self.lock();
            if c.exit.is_some() {
                return;
            }
            c.exit = Some(exit);
            // No `seq`: no transition is sent for it.
            c.state = AgentState::Exited;
            c.detection = Some(detect::process::detection(
                AgentState::Exited,
                detect::process::EXIT,
            ));
        }
        self.state.send_replace(AgentState::Exited);
        self.exit.send_replace(Some(exit));
    }

    /// A switch replaces the child: the exit (if any) and the detection are forgotten, the
    /// state is `restarting`.
    pub fn set_restarting(&self) {
        {
            let mut c = self.lock();
            c.exit = None;
            c.detection = None;
        }
        self.exit.send_replace(None);
        self.set(restarting(), CAUSE_SWITCH);
    }

    /// The switch started a new child: `starting` until its first detection.
    pub fn set_spawned(&self) {
        self.set(AgentState::Starting, CAUSE_SPAWNED);
    }

    /// A synthetic transition for the current state (`prev == next`, no cause), sent on
    /// connect.
    pub fn synthetic(&self) -> coop::Transition {
        let c = self.lock();
        let detection = c.detection.as_ref();
        coop::Transition {
            prompt: detection.and_then(|d| d.prompt.as_ref()).map(prompt_value),
            error_detail: detection.and_then(|d| d.error_detail.clone()),
            error_category: detection.and_then(|d| d.error_category.clone()),
            ..transition(c.state.clone(), c.state.clone(), c.seq)
        }
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

/// The same prompt: same type, tool and input (its options and readiness may be refined).
fn same_prompt(a: Option<&coop::PromptContext>, b: Option<&coop::PromptContext>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => (&a.kind, &a.tool, &a.input) == (&b.kind, &b.tool, &b.input),
        _ => false,
    }
}

/// The prompt as the wire carries it (`prompt` stays a free-form value for coop's sessions).
pub fn prompt_value(prompt: &coop::PromptContext) -> serde_json::Value {
    serde_json::to_value(prompt).unwrap_or_default()
}

fn transition(prev: AgentState, next: AgentState, seq: u64) -> coop::Transition {
    coop::Transition {
        prev,
        next,
        seq,
        prompt: None,
        error_detail: None,
        error_category: None,
        cause: None,
        last_message: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::detect::process::{detection, ACTIVITY};

    #[test]
    fn starting_until_detected_then_ready_also_after_the_exit() {
        let tracker = StateTracker::new();
        let mut feed = tracker.subscribe();
        assert_eq!(tracker.snapshot().tier, "none");
        assert!(!tracker.is_ready() && !tracker.is_detected());
        tracker.detect(detection(AgentState::Idle, ACTIVITY));
        let t = feed.try_recv().unwrap();
        assert_eq!(
            (t.prev, t.next.clone()),
            (AgentState::Starting, AgentState::Idle)
        );
        assert_eq!(t.cause.as_deref(), Some(ACTIVITY));
        let seen = tracker.snapshot();
        assert_eq!((seen.tier, seen.cause), ("4", Some(ACTIVITY)));
        assert!(tracker.is_ready());
        // The same state again is no transition.
        tracker.detect(detection(AgentState::Idle, ACTIVITY));
        assert!(feed.try_recv().is_err());
        tracker.set_exited(coop::Exit {
            code: Some(0),
            signal: None,
        });
        assert!(feed.try_recv().is_err(), "no transition into exited");
        assert_eq!(tracker.get(), AgentState::Exited);
        assert_eq!(
            tracker.snapshot().cause,
            Some(crate::host::detect::process::EXIT)
        );
        assert!(tracker.is_ready());
        // Late output of the gone child changes nothing.
        tracker.detect(detection(AgentState::Working, ACTIVITY));
        assert_eq!(tracker.get(), AgentState::Exited);
    }

    #[test]
    fn a_restart_forgets_the_detection_until_the_new_child_is_seen() {
        let tracker = StateTracker::new();
        tracker.detect(detection(AgentState::Working, ACTIVITY));
        tracker.set_restarting();
        assert!(!tracker.is_ready() && !tracker.is_detected());
        tracker.detect(detection(AgentState::Idle, ACTIVITY));
        assert_eq!(tracker.get(), restarting(), "not before the new child");
        tracker.set_spawned();
        let synthetic = tracker.synthetic();
        assert_eq!(
            (synthetic.prev, synthetic.cause),
            (AgentState::Starting, None)
        );
        tracker.detect(detection(AgentState::Idle, ACTIVITY));
        assert!(tracker.is_ready());
        assert_eq!(tracker.snapshot().since_seq, 4);
    }
}
