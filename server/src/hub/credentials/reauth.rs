//! Reauthorisation: the device flow (RFC 8628) when the account has a
//! device endpoint, else the authorisation code flow with PKCE S256 (RFC 7636) finished by
//! `POST /credentials/exchange`. Pending PKCE flows expire after
//! [`super::BrokerTimings::pending_flow_ttl`]; a second reauth of an account reuses its
//! pending flow, and a new device flow cancels the account's previous poller.

use super::broker::Broker;
use super::config::Endpoints;
use super::flows::PendingPkce;
use super::oauth::{self, DeviceAuth};
use super::CredentialError;
use protocol::credentials::{ReauthResponse, SecretString};
use protocol::mux::MuxEvent;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// RFC 8628 §3.5: `slow_down` adds this to the polling interval.
const SLOW_DOWN_STEP_SECS: u64 = 5;
/// Smallest device polling interval.
const MIN_DEVICE_INTERVAL_SECS: u64 = 1;

/// `POST /credentials/reauth`: starts (or reuses) a flow for `account`, the first account by
/// default, and emits `credential:reauth:required`.
pub async fn start(
    broker: &Arc<Broker>,
    account: Option<String>,
) -> Result<ReauthResponse, CredentialError> {
    let name = match account.filter(|a| !a.is_empty()) {
        Some(name) => name,
        None => broker.first_account().ok_or(CredentialError::NoAccounts)?,
    };
    let config = broker
        .config_of(&name)
        .ok_or_else(|| CredentialError::UnknownAccount(name.clone()))?;
    if !config.reauth {
        return Err(CredentialError::ReauthDisabled(name));
    }
    let endpoints = config.endpoints();
    if endpoints.token_url.is_none() {
        return Err(CredentialError::NoReauthFlow(name));
    }
    if endpoints.device_auth_url.is_some() {
        match broker.oauth.device_start(&endpoints).await {
            Ok(device) => return Ok(start_device(broker, name, endpoints, device)),
            Err(e) if endpoints.auth_url.is_none() => return Err(e.into()),
            Err(e) => tracing::warn!(account = %name, "device flow failed, using PKCE: {e}"),
        }
    }
    if endpoints.auth_url.is_none() {
        return Err(CredentialError::NoReauthFlow(name));
    }
    let (auth_url, state) = pkce_flow(broker, &name, &endpoints)?;
    broker.emit(MuxEvent::CredentialReauthRequired {
        account: name.clone(),
        auth_url: auth_url.clone(),
        user_code: None,
    });
    Ok(ReauthResponse {
        account: name,
        auth_url,
        user_code: None,
        state: Some(state),
    })
}

fn pkce_flow(
    broker: &Broker,
    name: &str,
    endpoints: &Endpoints,
) -> Result<(String, String), CredentialError> {
    let ttl = broker.timings.pending_flow_ttl;
    let mut flows = broker.reauth.lock();
    flows.pkce.retain(|_, p| p.created.elapsed() < ttl);
    if let Some((state, pending)) = flows.pkce.iter().find(|(_, p)| p.account == name) {
        return Ok((pending.auth_url.clone(), state.clone()));
    }
    let verifier = oauth::random_token();
    let state = oauth::random_token();
    let auth_url = oauth::authorize_url(endpoints, &oauth::challenge(&verifier), &state)?;
    flows.pkce.insert(
        state.clone(),
        PendingPkce {
            account: name.to_owned(),
            verifier: SecretString(verifier),
            auth_url: auth_url.clone(),
            created: Instant::now(),
        },
    );
    Ok((auth_url, state))
}

fn start_device(
    broker: &Arc<Broker>,
    name: String,
    endpoints: Endpoints,
    device: DeviceAuth,
) -> ReauthResponse {
    let cancel = broker.shutdown.child_token();
    let id = {
        let mut flows = broker.reauth.lock();
        flows.next_device += 1;
        let id = flows.next_device;
        if let Some((_, previous)) = flows.devices.insert(name.clone(), (id, cancel.clone())) {
            previous.cancel();
        }
        id
    };
    let response = ReauthResponse {
        account: name.clone(),
        auth_url: device.verification_uri.clone(),
        user_code: Some(device.user_code.clone()),
        state: None,
    };
    broker.emit(MuxEvent::CredentialReauthRequired {
        account: name.clone(),
        auth_url: device.verification_uri.clone(),
        user_code: Some(device.user_code.clone()),
    });
    tokio::spawn(poll_device(
        broker.clone(),
        name,
        endpoints,
        device,
        (id, cancel),
    ));
    response
}

async fn poll_device(
    broker: Arc<Broker>,
    name: String,
    endpoints: Endpoints,
    device: DeviceAuth,
    (id, cancel): (u64, CancellationToken),
) {
    let deadline = Instant::now() + Duration::from_secs(device.expires_in);
    let mut interval = Duration::from_secs(device.interval.max(MIN_DEVICE_INTERVAL_SECS));
    let failure = loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        if Instant::now() >= deadline {
            break "the device code expired before it was authorised".to_owned();
        }
        match broker
            .oauth
            .device_poll(&endpoints, &device.device_code)
            .await
        {
            Ok(grant) => {
                if let Err(e) = broker.store_grant(&name, grant, true).await {
                    tracing::warn!(account = %name, "device flow finished for a removed account: {e}");
                }
                tracing::info!(account = %name, "device flow authorised");
                break String::new();
            }
            Err(e) if e.code() == Some("authorization_pending") => {}
            Err(e) if e.code() == Some("slow_down") => {
                interval += Duration::from_secs(SLOW_DOWN_STEP_SECS);
            }
            Err(e) if e.is_transient() => {
                tracing::warn!(account = %name, "device poll failed, retrying: {e}");
            }
            Err(e) => break format!("device flow failed: {e}"),
        }
    };
    {
        let mut flows = broker.reauth.lock();
        if flows
            .devices
            .get(&name)
            .is_some_and(|(current, _)| *current == id)
        {
            flows.devices.remove(&name);
        }
    }
    if !failure.is_empty() {
        tracing::warn!(account = %name, "{failure}");
        broker.emit(MuxEvent::CredentialRefreshFailed {
            account: name,
            error: failure,
        });
    }
}

/// `POST /credentials/exchange`: trades the pasted code for a key with the flow's verifier.
pub async fn exchange(
    broker: &Broker,
    state: &str,
    code: &SecretString,
) -> Result<(), CredentialError> {
    let pending = {
        let ttl = broker.timings.pending_flow_ttl;
        let mut flows = broker.reauth.lock();
        flows.pkce.retain(|_, p| p.created.elapsed() < ttl);
        flows
            .pkce
            .remove(state)
            .ok_or(CredentialError::UnknownState)?
    };
    let endpoints = broker
        .config_of(&pending.account)
        .ok_or_else(|| CredentialError::UnknownAccount(pending.account.clone()))?
        .endpoints();
    let grant = broker
        .oauth
        .exchange(&endpoints, code, &pending.verifier, state)
        .await?;
    broker.store_grant(&pending.account, grant, true).await
}
