//! Credentials on real processes: a `coopmux` hub logging at debug level (so tests can prove
//! no secret reached it), real `coopmux session` hosts registered with it, and the local
//! OAuth server of [`crate::support::oauth`].

mod api;
mod device;
mod distribution;
mod launch;
mod oauth;
mod rebalance;
mod shared;
mod store;

use crate::support::hub_process::DEBUG_LOG;
use crate::support::{wait_for, HubProcess, Opts, Session, LONG_WAIT};

/// Every test secret contains this marker; no log or response may ever show it.
pub const SECRET_MARK: &str = "sekret";

/// Fails when `text` (a log, a response, an event stream) shows a test secret.
pub fn assert_no_secret(what: &str, text: &str) {
    if let Some(at) = text.find(SECRET_MARK) {
        let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
        panic!("a test secret reached {what}: {}", &text[start..end]);
    }
}

/// Starts `coopmux ARGS…` logging at debug level, health checks out of the way.
pub fn hub(args: &[&str]) -> HubProcess {
    hub_with_env(args, &[])
}

/// Like [`hub`], with `env` added.
pub fn hub_with_env(args: &[&str], env: &[(&str, &str)]) -> HubProcess {
    let (args, env) = debug_hub(args, env);
    HubProcess::start(&args, &env)
}

/// Like [`hub`]; `Err(log)` when the hub exits before listening.
pub fn try_hub(args: &[&str]) -> Result<HubProcess, String> {
    let (args, env) = debug_hub(args, &[]);
    HubProcess::try_start(&args, &env)
}

fn debug_hub<'a>(
    args: &[&'a str],
    env: &[(&'a str, &'a str)],
) -> (Vec<&'a str>, Vec<(&'a str, &'a str)>) {
    let mut all_args = vec!["--health-check-ms", "600000"];
    all_args.extend_from_slice(args);
    let mut all_env = vec![("RUST_LOG", DEBUG_LOG)];
    all_env.extend_from_slice(env);
    (all_args, all_env)
}

/// Starts `coopmux session --idle-ms 300 -- CMD…` logging at info level; registered with
/// `hub` as `id` when given (returning once the hub lists it), else not registered anywhere.
pub async fn start_host(hub: Option<&HubProcess>, id: &str, cmd: &[&str]) -> Session {
    let flags = vec!["--idle-ms".to_owned(), "300".to_owned()];
    let mut env = vec![("RUST_LOG", "info".to_owned())];
    if let Some(hub) = hub {
        env.push(("COOP_MUX_URL", hub.base.clone()));
        env.push(("COOP_MUX_SESSION_ID", id.to_owned()));
    }
    let opts = Opts {
        flags,
        env,
        ..Opts::default()
    };
    let host = Session::start_with(opts, cmd).await;
    if let Some(hub) = hub {
        let registered = wait_for(LONG_WAIT, || async {
            let (_, list) = hub.get("/api/v1/sessions").await;
            list.as_array()?.iter().any(|s| s["id"] == id).then_some(())
        })
        .await;
        assert!(registered.is_some(), "session {id} did not register");
    }
    host
}
