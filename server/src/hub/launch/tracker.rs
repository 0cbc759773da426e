//! Launch tracking: one record per launch with the child's pid, state, exit
//! status and the last lines of its output, a bounded history, the pending count behind
//! `--max-pending-launches`, the link from a registration to its launch, and the `launch:*`
//! events on the mux feed.
//!
//! A launch is never given up on (docs/architecture.md, "The path of a launch"): past the
//! registration timeout it is `not_registered_yet`, a command that exits 0 first is
//! `handed_off`, and either becomes registered when its session shows up.

use crate::edge::secret::Secret;
use crate::hub::metrics::Metrics;
use crate::hub::registry::now_ms;
use protocol::launch::{LaunchDetail, LaunchInfo, LaunchState, OutputLine};
use protocol::mux::MuxEvent;
use std::collections::VecDeque;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

/// Finished launches kept for `GET /api/v1/launches` (launches); running ones are never
/// dropped, since they are live processes the operator may need to find.
pub const HISTORY: usize = 100;

/// Output lines kept per launch (lines, stdout and stderr together).
pub const TAIL_LINES: usize = 200;

/// Longest output line kept (bytes); the rest of a longer line is dropped so that a child
/// writing without newlines cannot grow the mux's memory.
pub const MAX_LINE_BYTES: usize = 4096;

/// Final outcomes counted in `coopmux_launches_total{outcome}`.
pub mod outcome {
    /// The session registered.
    pub const REGISTERED: &str = "registered";
    /// Exited with an error before registering.
    pub const FAILED: &str = "failed";
    /// `sh` could not be spawned.
    pub const SPAWN_FAILED: &str = "spawn_failed";
    /// Refused with 429: too many launches pending.
    pub const THROTTLED: &str = "throttled";
}

#[derive(Debug)]
struct Record {
    info: LaunchInfo,
    output: VecDeque<OutputLine>,
    /// The launch's registration token: a script that picks its own session id is linked
    /// through the token its session registered with.
    token: Option<Secret>,
    /// The registration timeout passed: no longer counted as pending.
    overdue: bool,
}

impl Record {
    fn detail(&self) -> LaunchDetail {
        LaunchDetail {
            info: self.info.clone(),
            output: self.output.iter().cloned().collect(),
        }
    }

    /// Counted against `--max-pending-launches`: waiting, within its timeout.
    fn pending(&self) -> bool {
        self.info.state.is_waiting() && !self.overdue
    }

    /// May leave the history: nothing runs and nothing is expected any more (a handed-off
    /// launch past its timeout has no process left either).
    fn finished(&self) -> bool {
        match self.info.state {
            LaunchState::Exited | LaunchState::Failed => true,
            LaunchState::HandedOff => self.overdue,
            _ => false,
        }
    }

    fn waiting_event(&self) -> MuxEvent {
        MuxEvent::LaunchWaiting {
            launch_id: self.info.launch_id.clone(),
            session_id: self.info.session_id.clone(),
            state: self.info.state,
            reason: self.info.reason.clone().unwrap_or_default(),
        }
    }
}

/// Every launch the mux made, newest last.
#[derive(Debug)]
pub struct Tracker {
    records: Mutex<VecDeque<Record>>,
    events: broadcast::Sender<MuxEvent>,
    metrics: Arc<Metrics>,
    max_pending: usize,
}

/// Too many launches have not registered yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled(pub usize);

fn describe(status: ExitStatus) -> (Option<i32>, String) {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => (Some(code), format!("exited with code {code}")),
        (None, Some(signal)) => (None, format!("killed by signal {signal}")),
        (None, None) => (None, "exited".to_owned()),
    }
}

/// Reason of a launch whose command exited 0 before its session registered.
const HANDED_OFF: &str = "its command exited 0 before its session registered (handed off)";

impl Tracker {
    /// An empty tracker sending its events into `events`.
    pub fn new(
        events: broadcast::Sender<MuxEvent>,
        metrics: Arc<Metrics>,
        max_pending: usize,
    ) -> Self {
        Self {
            records: Mutex::new(VecDeque::new()),
            events,
            metrics,
            max_pending,
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Record>> {
        // Every critical section leaves the records consistent before it can panic.
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with<R>(&self, launch_id: &str, f: impl FnOnce(&mut Record) -> R) -> Option<R> {
        let mut records = self.lock();
        records
            .iter_mut()
            .find(|r| r.info.launch_id == launch_id)
            .map(f)
    }

    fn send(&self, event: MuxEvent) {
        // No receiver is not an error: nobody is watching the feed.
        let _ = self.events.send(event);
    }

    /// Launches counted against `--max-pending-launches`: waiting for their session and
    /// still within the registration timeout.
    pub fn pending(&self) -> usize {
        self.lock().iter().filter(|r| r.pending()).count()
    }

    /// Records a new launch as `starting`, unless the pending limit is reached. Checked and
    /// inserted under one lock, so concurrent launches cannot overshoot the limit. `token` is
    /// the launch's registration token, if it has one.
    pub fn reserve(
        &self,
        launch_id: &str,
        session_id: &str,
        token: Option<Secret>,
    ) -> Result<(), Throttled> {
        let mut records = self.lock();
        let pending = records.iter().filter(|r| r.pending()).count();
        if pending >= self.max_pending {
            drop(records);
            self.metrics.launch(outcome::THROTTLED);
            return Err(Throttled(self.max_pending));
        }
        records.push_back(Record {
            info: LaunchInfo {
                launch_id: launch_id.to_owned(),
                session_id: session_id.to_owned(),
                state: LaunchState::Starting,
                pid: None,
                started_at_ms: now_ms(),
                registered_at_ms: None,
                ended_at_ms: None,
                exit_code: None,
                reason: None,
            },
            output: VecDeque::new(),
            token,
            overdue: false,
        });
        Self::trim(&mut records);
        Ok(())
    }

    /// Drops the oldest finished launches beyond [`HISTORY`].
    fn trim(records: &mut VecDeque<Record>) {
        let mut excess = records.len().saturating_sub(HISTORY);
        records.retain(|r| {
            if excess > 0 && r.finished() {
                excess -= 1;
                false
            } else {
                true
            }
        });
    }

    /// The child is running with this pid.
    pub fn spawned(&self, launch_id: &str, session_id: &str, pid: Option<u32>) {
        self.with(launch_id, |r| r.info.pid = pid);
        self.send(MuxEvent::LaunchStarted {
            launch_id: launch_id.to_owned(),
            session_id: session_id.to_owned(),
        });
    }

    fn fail_locked(
        &self,
        record: &mut Record,
        reason: String,
        exit_code: Option<i32>,
        counted_as: &'static str,
    ) {
        record.info.state = LaunchState::Failed;
        record.info.ended_at_ms.get_or_insert_with(now_ms);
        record.info.reason = Some(reason.clone());
        if exit_code.is_some() {
            record.info.exit_code = exit_code;
        }
        self.metrics.launch(counted_as);
        self.send(MuxEvent::LaunchFailed {
            launch_id: record.info.launch_id.clone(),
            session_id: record.info.session_id.clone(),
            reason,
            exit_code: record.info.exit_code,
        });
    }

    /// `sh` could not be spawned.
    pub fn spawn_failed(&self, launch_id: &str, reason: &str) {
        self.with(launch_id, |r| {
            // Counted apart from `failed`: the command never ran.
            let reason = format!("failed to spawn: {reason}");
            self.fail_locked(r, reason, None, outcome::SPAWN_FAILED);
        });
    }

    /// A session registered as `session_id`: links it to the launch waiting for that id, else
    /// to a waiting launch whose registration token it registered with (`token_owns(token)`
    /// says whether a launch's token is bound to this session). Returns whether one linked.
    pub fn link(&self, session_id: &str, token_owns: impl Fn(&str) -> bool) -> bool {
        let mut records = self.lock();
        let by_id = records
            .iter()
            .position(|r| r.info.state.is_waiting() && r.info.session_id == session_id);
        let by_token = || {
            records.iter().position(|r| {
                r.info.state.is_waiting()
                    && r.token.as_ref().is_some_and(|t| token_owns(t.expose()))
            })
        };
        let Some(at) = by_id.or_else(by_token) else {
            return false;
        };
        let record = &mut records[at];
        record.info.session_id = session_id.to_owned();
        record.info.registered_at_ms = Some(now_ms());
        if record.info.ended_at_ms.is_some() {
            // A script that handed off (created a pod) is done once the pod registers.
            record.info.state = LaunchState::Exited;
            record.info.reason = Some(HANDED_OFF.to_owned());
        } else {
            record.info.state = LaunchState::Registered;
            record.info.reason = None;
        }
        self.metrics.launch(outcome::REGISTERED);
        self.send(MuxEvent::LaunchRegistered {
            launch_id: record.info.launch_id.clone(),
            session_id: session_id.to_owned(),
        });
        true
    }

    /// The child exited. Before registration, a failure fails the launch and a success hands
    /// it off (a launch script may create the session elsewhere, e.g. a pod, and exit); after
    /// registration the launch is `exited`.
    pub fn exited(&self, launch_id: &str, status: ExitStatus) {
        let (code, how) = describe(status);
        self.with(launch_id, |r| {
            r.info.exit_code = code;
            r.info.ended_at_ms = Some(now_ms());
            match r.info.state {
                LaunchState::Starting | LaunchState::NotRegisteredYet if !status.success() => {
                    let reason = format!("{how} before its session registered");
                    self.fail_locked(r, reason, code, outcome::FAILED);
                }
                LaunchState::Starting | LaunchState::NotRegisteredYet => {
                    r.info.state = LaunchState::HandedOff;
                    r.info.reason = Some(format!("{HANDED_OFF}; waiting for it"));
                    self.send(r.waiting_event());
                }
                LaunchState::Registered => {
                    r.info.state = LaunchState::Exited;
                    r.info.reason = Some(how);
                }
                _ => {}
            }
        });
    }

    /// The registration timeout passed: the launch stops counting as pending and, while its
    /// command still runs unregistered, becomes `not_registered_yet`. Nothing is stopped.
    pub fn overdue(&self, launch_id: &str, timeout_ms: u64) {
        self.with(launch_id, |r| {
            r.overdue = true;
            if r.info.state == LaunchState::Starting {
                r.info.state = LaunchState::NotRegisteredYet;
                r.info.reason = Some(format!(
                    "its session has not registered within {timeout_ms} ms; still waiting"
                ));
                self.send(r.waiting_event());
            }
        });
    }

    /// Whether the launch still waits for its session.
    pub fn is_waiting(&self, launch_id: &str) -> bool {
        self.with(launch_id, |r| r.info.state.is_waiting())
            .unwrap_or(false)
    }

    /// Appends one line of the child's output, keeping the last [`TAIL_LINES`].
    pub fn push_line(&self, launch_id: &str, stream: &'static str, text: String) {
        self.with(launch_id, |r| {
            if r.output.len() >= TAIL_LINES {
                r.output.pop_front();
            }
            r.output.push_back(OutputLine {
                stream: stream.to_owned(),
                text,
            });
        });
    }

    /// Every launch, oldest first.
    pub fn list(&self) -> Vec<LaunchInfo> {
        self.lock().iter().map(|r| r.info.clone()).collect()
    }

    /// The newest `n` launches with their output tails, newest first.
    pub fn recent(&self, n: usize) -> Vec<LaunchDetail> {
        self.lock()
            .iter()
            .rev()
            .take(n)
            .map(Record::detail)
            .collect()
    }

    /// One launch with its output tail.
    pub fn get(&self, launch_id: &str) -> Option<LaunchDetail> {
        self.with(launch_id, |r| r.detail())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn tracker(max_pending: usize) -> (Tracker, broadcast::Receiver<MuxEvent>) {
        let (tx, rx) = broadcast::channel(64);
        (
            Tracker::new(tx, Arc::new(Metrics::default()), max_pending),
            rx,
        )
    }

    fn no_token(_: &str) -> bool {
        false
    }

    #[test]
    fn pending_limit_is_released_by_registration_and_by_the_timeout() {
        let (t, _rx) = tracker(2);
        t.reserve("l1", "s1", None).unwrap();
        t.reserve("l2", "s2", None).unwrap();
        assert_eq!(t.reserve("l3", "s3", None), Err(Throttled(2)));
        assert!(t.link("s1", no_token));
        t.reserve("l3", "s3", None).unwrap();
        assert_eq!(t.pending(), 2);
        t.overdue("l2", 5);
        assert_eq!(t.pending(), 1);
        assert_eq!(
            t.get("l2").unwrap().info.state,
            LaunchState::NotRegisteredYet
        );
    }

    #[test]
    fn failing_exit_fails_success_hands_off_and_registered_exits() {
        let (t, mut rx) = tracker(8);
        t.reserve("a", "sa", None).unwrap();
        t.reserve("b", "sb", None).unwrap();
        t.reserve("c", "sc", None).unwrap();
        t.exited("a", ExitStatus::from_raw(1 << 8));
        t.exited("b", ExitStatus::from_raw(0));
        assert!(t.link("sc", no_token));
        t.exited("c", ExitStatus::from_raw(0));
        let state = |id: &str| t.get(id).unwrap().info;
        assert_eq!(state("a").state, LaunchState::Failed);
        assert_eq!(state("a").exit_code, Some(1));
        assert_eq!(state("b").state, LaunchState::HandedOff);
        t.overdue("b", 5);
        assert_eq!(
            state("b").state,
            LaunchState::HandedOff,
            "no timeout fails it"
        );
        assert!(t.link("sb", no_token), "a handed-off launch links late");
        assert_eq!(state("b").state, LaunchState::Exited);
        assert!(state("b").registered_at_ms.is_some());
        assert_eq!(state("c").state, LaunchState::Exited);
        assert!(!t.link("sa", no_token), "a failed launch does not link");
        let first = rx.try_recv().unwrap();
        assert!(
            matches!(
                first,
                MuxEvent::LaunchFailed {
                    exit_code: Some(1),
                    ..
                }
            ),
            "{first:?}"
        );
        let second = rx.try_recv().unwrap();
        assert!(
            matches!(
                second,
                MuxEvent::LaunchWaiting {
                    state: LaunchState::HandedOff,
                    ..
                }
            ),
            "{second:?}"
        );
    }

    #[test]
    fn an_overdue_launch_links_by_its_id_or_by_its_token() {
        let (t, _rx) = tracker(8);
        t.reserve("own", "mux-chosen", Some(Secret::from("tok")))
            .unwrap();
        t.overdue("own", 5);
        assert!(!t.link("elsewhere", |tok| tok == "other"));
        assert!(t.link("pod-7", |tok| tok == "tok"));
        let info = t.get("own").unwrap().info;
        assert_eq!(info.state, LaunchState::Registered);
        assert_eq!(info.session_id, "pod-7");
        assert_eq!(info.reason, None);
    }

    #[test]
    fn history_and_tail_are_bounded() {
        let (t, _rx) = tracker(usize::MAX);
        for i in 0..HISTORY + 20 {
            let id = i.to_string();
            t.reserve(&id, &id, None).unwrap();
            if i >= 5 {
                t.exited(&id, ExitStatus::from_raw(2 << 8));
            }
        }
        let list = t.list();
        assert_eq!(list.len(), HISTORY);
        // The five still starting are kept although they are the oldest.
        assert!(list
            .iter()
            .take(5)
            .all(|l| l.state == LaunchState::Starting));
        for i in 0..TAIL_LINES + 10 {
            t.push_line("0", "stdout", i.to_string());
        }
        let output = t.get("0").unwrap().output;
        assert_eq!(output.len(), TAIL_LINES);
        assert_eq!(output[0].text, "10");
    }
}
