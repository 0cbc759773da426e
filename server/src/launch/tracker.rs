//! Launch tracking: one record per launch with the child's pid, state, exit
//! status and the last lines of its output, a bounded history, the pending count behind
//! `--max-pending-launches`, and the `launch:*` events on the mux feed.

use crate::metrics::Metrics;
use crate::registry::now_ms;
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
    /// Exited or timed out before registering.
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
}

impl Record {
    fn detail(&self) -> LaunchDetail {
        LaunchDetail {
            info: self.info.clone(),
            output: self.output.iter().cloned().collect(),
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

    /// Launches whose session has not registered yet.
    pub fn pending(&self) -> usize {
        let records = self.lock();
        records
            .iter()
            .filter(|r| r.info.state == LaunchState::Starting)
            .count()
    }

    /// Records a new launch as `starting`, unless the pending limit is reached. Checked and
    /// inserted under one lock, so concurrent launches cannot overshoot the limit.
    pub fn reserve(&self, launch_id: &str, session_id: &str) -> Result<(), Throttled> {
        let mut records = self.lock();
        let pending = records
            .iter()
            .filter(|r| r.info.state == LaunchState::Starting)
            .count();
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
        });
        Self::trim(&mut records);
        Ok(())
    }

    /// Drops the oldest finished launches beyond [`HISTORY`].
    fn trim(records: &mut VecDeque<Record>) {
        let mut excess = records.len().saturating_sub(HISTORY);
        records.retain(|r| {
            let finished = matches!(r.info.state, LaunchState::Exited | LaunchState::Failed);
            if excess > 0 && finished {
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

    /// A session registered under `session_id`; links it to its launch, if any is waiting.
    pub fn session_registered(&self, session_id: &str) {
        let mut records = self.lock();
        let Some(record) = records
            .iter_mut()
            .find(|r| r.info.session_id == session_id && r.info.state == LaunchState::Starting)
        else {
            return;
        };
        record.info.state = LaunchState::Registered;
        record.info.registered_at_ms = Some(now_ms());
        // A launch script that already exited 0 (it created a pod) is done once the pod's
        // session registers.
        if record.info.ended_at_ms.is_some() {
            record.info.state = LaunchState::Exited;
        }
        self.metrics.launch(outcome::REGISTERED);
        self.send(MuxEvent::LaunchRegistered {
            launch_id: record.info.launch_id.clone(),
            session_id: session_id.to_owned(),
        });
    }

    /// The child exited. Before registration, a failure fails the launch; a success keeps it
    /// `starting`, because a launch script may legitimately hand off (e.g. create a pod) and
    /// exit before the session registers. After registration the launch is `exited`.
    pub fn exited(&self, launch_id: &str, status: ExitStatus) {
        let (code, how) = describe(status);
        self.with(launch_id, |r| {
            r.info.exit_code = code;
            r.info.ended_at_ms = Some(now_ms());
            match r.info.state {
                LaunchState::Starting if !status.success() => {
                    let reason = format!("{how} before its session registered");
                    self.fail_locked(r, reason, code, outcome::FAILED);
                }
                LaunchState::Registered => {
                    r.info.state = LaunchState::Exited;
                    r.info.reason = Some(how);
                }
                _ => {}
            }
        });
    }

    /// The registration deadline passed. Returns `true` when the launch was still `starting`
    /// (it is now `failed`), so that the caller stops the child.
    pub fn timed_out(&self, launch_id: &str, timeout_ms: u64) -> bool {
        self.with(launch_id, |r| {
            if r.info.state != LaunchState::Starting {
                return false;
            }
            let reason = format!("its session did not register within {timeout_ms} ms");
            self.fail_locked(r, reason, None, outcome::FAILED);
            true
        })
        .unwrap_or(false)
    }

    /// Whether the launch is still waiting for its session.
    pub fn is_starting(&self, launch_id: &str) -> bool {
        self.with(launch_id, |r| r.info.state == LaunchState::Starting)
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

    /// Session ids of launches still waiting to register.
    pub fn starting_sessions(&self) -> Vec<String> {
        let records = self.lock();
        records
            .iter()
            .filter(|r| r.info.state == LaunchState::Starting)
            .map(|r| r.info.session_id.clone())
            .collect()
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

    #[test]
    fn pending_limit_is_enforced_and_released_by_registration() {
        let (t, _rx) = tracker(2);
        t.reserve("l1", "s1").unwrap();
        t.reserve("l2", "s2").unwrap();
        assert_eq!(t.reserve("l3", "s3"), Err(Throttled(2)));
        t.session_registered("s1");
        t.reserve("l3", "s3").unwrap();
        assert_eq!(t.pending(), 2);
    }

    #[test]
    fn failing_exit_fails_success_waits_and_registered_exits() {
        let (t, mut rx) = tracker(8);
        t.reserve("a", "sa").unwrap();
        t.reserve("b", "sb").unwrap();
        t.reserve("c", "sc").unwrap();
        t.exited("a", ExitStatus::from_raw(1 << 8));
        t.exited("b", ExitStatus::from_raw(0));
        t.session_registered("sc");
        t.exited("c", ExitStatus::from_raw(0));
        let state = |id: &str| t.get(id).unwrap().info;
        assert_eq!(state("a").state, LaunchState::Failed);
        assert_eq!(state("a").exit_code, Some(1));
        assert_eq!(state("b").state, LaunchState::Starting);
        assert!(t.timed_out("b", 5));
        assert_eq!(state("b").state, LaunchState::Failed);
        assert_eq!(state("c").state, LaunchState::Exited);
        assert!(!t.timed_out("c", 5));
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
    }

    #[test]
    fn history_and_tail_are_bounded() {
        let (t, _rx) = tracker(usize::MAX);
        for i in 0..HISTORY + 20 {
            let id = i.to_string();
            t.reserve(&id, &id).unwrap();
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
