//! Following every session's state for the inbox: one state feed per registered session
//! (the `/ws/mux` feeds of watched sessions are separate, so watchers keep their own
//! first transition), their transitions applied in order through one bounded queue.

use super::Inbox;
use crate::hub::feed::events::{self, Sink};
use protocol::mux::MuxEvent;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_util::sync::CancellationToken;

/// Transitions waiting for the inbox (count; each at most
/// [`events::MAX_QUEUED_PROMPT_BYTES`] of prompt, 64 MiB in all); a full queue holds the
/// feeds back.
const TRANSITION_QUEUE: usize = 256;

pub(super) fn spawn(inbox: Arc<Inbox>, shutdown: CancellationToken) {
    tokio::spawn(run(inbox, shutdown));
}

/// The sessions followed, each with its feed's stop token.
struct Feeds {
    running: HashMap<String, CancellationToken>,
    queue: mpsc::Sender<protocol::mux::MuxTransition>,
    shutdown: CancellationToken,
}

impl Feeds {
    fn follow(&mut self, inbox: &Inbox, id: &str) {
        if self.running.contains_key(id) {
            return;
        }
        let stop = self.shutdown.child_token();
        self.running.insert(id.to_owned(), stop.clone());
        let sink = Sink::Queue(self.queue.clone());
        let (registry, id) = (inbox.registry.clone(), id.to_owned());
        tokio::spawn(async move { events::run(&registry, &id, stop, sink).await });
    }

    fn unfollow(&mut self, inbox: &Inbox, id: &str) {
        if let Some(stop) = self.running.remove(id) {
            stop.cancel();
        }
        inbox.session_gone(id);
    }

    /// Follows exactly the registered sessions (at start, and after missed events).
    fn resync(&mut self, inbox: &Inbox) {
        let ids: HashSet<String> = inbox
            .registry
            .sessions()
            .iter()
            .map(|s| s.id.clone())
            .collect();
        let gone: Vec<String> = (self.running.keys())
            .filter(|id| !ids.contains(*id))
            .cloned()
            .collect();
        for id in gone {
            self.unfollow(inbox, &id);
        }
        for id in &ids {
            self.follow(inbox, id);
        }
    }
}

async fn run(inbox: Arc<Inbox>, shutdown: CancellationToken) {
    // Subscribed before the sessions are listed, so no registration falls in between.
    let mut events = inbox.registry.subscribe();
    let (queue, mut transitions) = mpsc::channel(TRANSITION_QUEUE);
    let mut feeds = Feeds {
        running: HashMap::new(),
        queue,
        shutdown: shutdown.clone(),
    };
    feeds.resync(&inbox);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            Some(transition) = transitions.recv() => inbox.apply(&transition),
            event = events.recv() => match event {
                Ok(MuxEvent::SessionOnline { session, .. }) => feeds.follow(&inbox, &session),
                Ok(MuxEvent::SessionOffline { session }) => feeds.unfollow(&inbox, &session),
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => feeds.resync(&inbox),
                Err(RecvError::Closed) => return,
            },
        }
    }
}
