//! Credential profiles and switching (docs/coop-protocol.md, "Switching profiles"): the list a
//! mux pushes, the rotation mode, and the one switch that may wait for the agent to be idle
//! before the lifecycle replaces the child with one that has the profile's credentials.

use super::{lock, Host};
use crate::host::error::HostError;
use protocol::coop;
use protocol::AgentState;
use std::collections::BTreeMap;
use std::sync::Mutex;
use tokio::sync::watch;

/// Rotation modes a session accepts; the first is a fresh session's (coop's default).
const MODES: [&str; 2] = ["auto", "manual"];

/// Environment of a child: variable name to value.
pub type Env = BTreeMap<String, String>;

/// A switch accepted and not yet carried out.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingSwitch {
    /// Profile to make active, if one was named.
    pub profile: Option<String>,
    /// Credentials given with the switch; they win over any profile's.
    given: Option<Env>,
    /// The named profile's credentials when the switch was asked for, used if the profile
    /// is gone by the time the switch happens.
    captured: Option<Env>,
    /// Do not wait for the agent to be idle.
    pub force: bool,
}

impl std::fmt::Debug for PendingSwitch {
    // Hand-written: the credentials are secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingSwitch")
            .field("profile", &self.profile)
            .field("force", &self.force)
            .finish_non_exhaustive()
    }
}

/// At most one switch at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SwitchSlot {
    Free,
    /// Accepted; waits until the agent is idle (or at once when forced).
    Pending(PendingSwitch),
    /// The lifecycle is replacing the child.
    Running,
}

#[derive(Debug)]
struct Profiles {
    list: Vec<coop::ProfileInput>,
    active: Option<String>,
    mode: String,
}

/// The profile side of a [`Host`].
#[derive(Debug)]
pub(super) struct ProfileState {
    profiles: Mutex<Profiles>,
    switch: watch::Sender<SwitchSlot>,
}

impl Default for ProfileState {
    fn default() -> Self {
        Self {
            profiles: Mutex::new(Profiles {
                list: Vec::new(),
                active: None,
                mode: MODES[0].to_owned(),
            }),
            switch: watch::channel(SwitchSlot::Free).0,
        }
    }
}

/// Environment variable names and values a child can be given.
fn check_env(env: &Env) -> Result<(), HostError> {
    for (key, value) in env {
        if key.is_empty() || key.contains(['=', '\0']) || value.contains('\0') {
            return Err(HostError::BadRequest(format!(
                "invalid credential variable {key:?}: names must be non-empty without '=' or \
                 NUL, values without NUL"
            )));
        }
    }
    Ok(())
}

/// States in which an unforced switch may replace the child.
fn is_idle(state: &AgentState) -> bool {
    matches!(
        state,
        AgentState::Idle | AgentState::WaitingForInput | AgentState::Exited
    )
}

impl Host {
    /// `POST /session/profiles`: replaces the list; the first becomes active.
    pub fn register_profiles(
        &self,
        body: coop::ProfilesRegister,
    ) -> Result<coop::ProfilesRegistered, HostError> {
        if body.profiles.iter().any(|p| p.name.trim().is_empty()) {
            return Err(HostError::BadRequest(
                "profile names must not be empty".into(),
            ));
        }
        for profile in &body.profiles {
            check_env(&profile.credentials)?;
        }
        let registered = body.profiles.len();
        let mut profiles = lock(&self.profiles.profiles);
        profiles.active = body.profiles.first().map(|p| p.name.clone());
        profiles.list = body.profiles;
        Ok(coop::ProfilesRegistered { registered })
    }

    /// `GET /session/profiles`: names and status only, never credentials.
    pub fn profiles(&self) -> coop::ProfilesList {
        let profiles = lock(&self.profiles.profiles);
        let active = profiles.active.clone();
        coop::ProfilesList {
            profiles: profiles
                .list
                .iter()
                .map(|p| coop::ProfileStatus {
                    name: p.name.clone(),
                    status: if Some(&p.name) == active.as_ref() {
                        "active"
                    } else {
                        "available"
                    }
                    .into(),
                    cooldown_remaining_secs: None,
                })
                .collect(),
            mode: profiles.mode.clone(),
            active_profile: active,
        }
    }

    /// `GET /session/profiles/mode`.
    pub fn profile_mode(&self) -> coop::ProfileMode {
        coop::ProfileMode {
            mode: lock(&self.profiles.profiles).mode.clone(),
        }
    }

    /// `PUT /session/profiles/mode`, `profiles:mode:set`: `auto` or `manual`.
    pub fn set_profile_mode(
        &self,
        body: coop::ProfileMode,
    ) -> Result<coop::ProfileMode, HostError> {
        if !MODES.contains(&body.mode.as_str()) {
            return Err(HostError::BadRequest(format!(
                "unknown mode {:?}: expected one of {MODES:?}",
                body.mode
            )));
        }
        lock(&self.profiles.profiles).mode.clone_from(&body.mode);
        Ok(body)
    }

    /// `POST /session/switch`: accepts a switch (answered 202). Named profiles must be known;
    /// without `force` it happens once the agent is idle (or exited), with `force` at once.
    /// With neither profile nor credentials it is a restart: at once, with the active
    /// profile. A second switch while one waits or runs is refused.
    pub fn request_switch(&self, body: coop::SessionSwitch) -> Result<(), HostError> {
        if let Some(credentials) = &body.credentials {
            check_env(credentials)?;
        }
        let captured = match &body.profile {
            Some(name) => {
                let profiles = lock(&self.profiles.profiles);
                let found = profiles.list.iter().find(|p| &p.name == name);
                let profile = found
                    .ok_or_else(|| HostError::BadRequest(format!("unknown profile: {name}")))?;
                Some(profile.credentials.clone())
            }
            None => None,
        };
        let restart = body.profile.is_none() && body.credentials.is_none();
        let pending = PendingSwitch {
            force: body.force || restart,
            profile: body.profile,
            given: body.credentials,
            captured,
        };
        let accepted = self.profiles.switch.send_if_modified(|slot| {
            let free = *slot == SwitchSlot::Free;
            if free {
                *slot = SwitchSlot::Pending(pending);
            }
            free
        });
        if accepted {
            Ok(())
        } else {
            Err(HostError::SwitchInProgress)
        }
    }

    /// `POST /session/restart`, `session:restart`: a forced switch without a profile, i.e. a
    /// new child at once with the active profile's credentials.
    pub fn request_restart(&self) -> Result<(), HostError> {
        self.request_switch(coop::SessionSwitch {
            force: true,
            ..coop::SessionSwitch::default()
        })
    }

    /// Waits until the accepted switch may happen (forced, or the agent idle or exited),
    /// marks it running and returns it. Cancel-safe: it takes the switch only when it returns.
    pub async fn switch_due(&self) -> PendingSwitch {
        let mut slot = self.profiles.switch.subscribe();
        let mut state = self.state.subscribe_state();
        loop {
            let due = match &*slot.borrow_and_update() {
                SwitchSlot::Pending(p) if p.force || is_idle(&state.borrow_and_update()) => {
                    Some(p.clone())
                }
                _ => None,
            };
            if let Some(pending) = due {
                self.profiles.switch.send_replace(SwitchSlot::Running);
                return pending;
            }
            // A closed channel cannot happen: the host owns both senders.
            tokio::select! {
                _ = slot.changed() => {}
                _ = state.changed() => {}
            }
        }
    }

    /// The environment of the child a switch starts, and the profile it makes active: the
    /// profile's credentials as they are now (a push may have refreshed them since), else
    /// those the switch carried, else (a plain restart) the active profile's.
    pub fn switch_env(&self, switch: &PendingSwitch) -> Env {
        let mut profiles = lock(&self.profiles.profiles);
        if switch.profile.is_some() {
            profiles.active.clone_from(&switch.profile);
        }
        if let Some(given) = &switch.given {
            return given.clone();
        }
        let active = profiles.active.as_ref();
        let current = active.and_then(|name| profiles.list.iter().find(|p| &p.name == name));
        current
            .map(|p| p.credentials.clone())
            .or_else(|| switch.captured.clone())
            .unwrap_or_default()
    }

    /// The switch is carried out; the next may come.
    pub fn switch_done(&self) {
        self.profiles.switch.send_replace(SwitchSlot::Free);
    }
}
