//! Launches keep their sessions (docs/architecture.md, "The path of a launch"), with real
//! `coopmux` hubs launching real `coopmux session` children: the caller's own
//! `COOP_MUX_SESSION_ID` is kept, a script that picks its own id is linked through its
//! registration token, a launch past `--launch-timeout-ms` is "not registered yet" and still
//! registers (nothing is killed), and a command that exits 0 first is "handed off" and linked
//! when its session registers.

use crate::support::{wait_for, HubProcess, TempDir, LONG_WAIT};
use serde_json::{json, Value};

/// A session host whose program idles.
const HOST: &str = "exec coopmux session -- sh -c 'exec sleep 60'";

/// Waits until `$GO` exists (the test's go-ahead), then starts [`HOST`].
const AFTER_GO: &str =
    "while [ ! -e \"$GO\" ]; do sleep 0.05; done; exec coopmux session -- sh -c 'exec sleep 60'";

/// GET with the hub's token; the JSON answer.
async fn get(mux: &HubProcess, path: &str) -> Option<Value> {
    let url = format!("{}{path}", mux.base);
    mux.client().get(url).send().await.ok()?.json().await.ok()
}

/// Launches with `env`; status and reply.
async fn post_launch(mux: &HubProcess, env: Value) -> (u16, Value) {
    let url = format!("{}/api/v1/sessions/launch", mux.base);
    let resp = mux.client().post(url).json(&json!({ "env": env }));
    let resp = resp.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// Launches with `env`; the reply of the launch that must succeed.
async fn launch(mux: &HubProcess, env: Value) -> Value {
    let (status, reply) = post_launch(mux, env).await;
    assert_eq!(status, 200, "{reply}");
    reply
}

/// The launch's record.
async fn record(mux: &HubProcess, reply: &Value) -> Option<Value> {
    let id = reply["launch_id"].as_str()?;
    get(mux, &format!("/api/v1/launches/{id}")).await
}

/// Waits until the launch is in `state`; its record.
async fn launch_in(mux: &HubProcess, reply: &Value, state: &str) -> Value {
    let found = wait_for(LONG_WAIT, || async {
        record(mux, reply).await.filter(|r| r["state"] == state)
    })
    .await;
    match found {
        Some(detail) => detail,
        None => panic!("never {state}: {:?}", record(mux, reply).await),
    }
}

/// Whether `id` is registered.
async fn is_registered(mux: &HubProcess, id: &str) -> bool {
    let list = get(mux, "/api/v1/sessions").await.unwrap_or_default();
    list.as_array()
        .is_some_and(|l| l.iter().any(|s| s["id"] == id))
}

#[tokio::test]
async fn a_launch_keeps_the_callers_session_id() {
    let mux = HubProcess::start(&["--launch", HOST], &[]);
    let reply = launch(&mux, json!({"COOP_MUX_SESSION_ID": "pod-7.ns"})).await;
    assert_eq!(reply["session_id"], "pod-7.ns", "{reply}");
    let detail = launch_in(&mux, &reply, "registered").await;
    assert_eq!(detail["session_id"], "pod-7.ns");
    assert!(is_registered(&mux, "pod-7.ns").await);
    // An id no session could register as is refused before anything runs.
    let (status, body) = post_launch(&mux, json!({"COOP_MUX_SESSION_ID": "a/b"})).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "BAD_REQUEST");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("COOP_MUX_SESSION_ID"), "{message}");
    let launches = get(&mux, "/api/v1/launches").await.unwrap();
    assert_eq!(launches.as_array().unwrap().len(), 1, "{launches}");
    mux.stop();
}

#[tokio::test]
async fn a_script_choosing_its_own_id_is_linked_through_its_registration_token() {
    let script = format!("COOP_MUX_SESSION_ID=script-pod-1 {HOST}");
    let mux = HubProcess::start(
        &["--launch", &script],
        &[("COOP_MUX_AUTH_TOKEN", "hub-token")],
    );
    let reply = launch(&mux, json!({})).await;
    assert_ne!(reply["session_id"], "script-pod-1");
    let detail = launch_in(&mux, &reply, "registered").await;
    assert_eq!(detail["session_id"], "script-pod-1", "{detail}");
    assert!(is_registered(&mux, "script-pod-1").await);
    mux.stop();
}

#[tokio::test]
async fn a_slow_launch_is_not_registered_yet_then_registers_and_is_never_killed() {
    let dir = TempDir::new("slow-launch");
    let go = dir.join("go");
    let mux = HubProcess::start(&["--launch", AFTER_GO, "--launch-timeout-ms", "200"], &[]);
    let reply = launch(&mux, json!({"GO": go.display().to_string()})).await;
    let late = launch_in(&mux, &reply, "not_registered_yet").await;
    assert!(
        late["reason"].as_str().unwrap().contains("200 ms"),
        "{late}"
    );
    let pid = late["pid"].as_u64().unwrap();
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the launch was stopped"
    );
    std::fs::write(&go, "").unwrap();
    let detail = launch_in(&mux, &reply, "registered").await;
    assert_eq!(detail["pid"], pid);
    assert!(detail["reason"].is_null(), "{detail}");
    assert!(is_registered(&mux, reply["session_id"].as_str().unwrap()).await);
    mux.stop();
}

/// SIGTERM to a process group when dropped: a handed-off session runs outside the hub's
/// children.
struct Group(u32);

impl Drop for Group {
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(self.0 as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGTERM);
    }
}

#[tokio::test]
async fn a_launch_exiting_0_first_is_handed_off_and_linked_when_its_session_registers() {
    let dir = TempDir::new("handed-off");
    let go = dir.join("go");
    // Like the Kubernetes script: starts the session elsewhere and exits 0 at once.
    let script = format!("({AFTER_GO}) </dev/null >/dev/null 2>&1 & exit 0");
    let mux = HubProcess::start(&["--launch", &script, "--launch-timeout-ms", "200"], &[]);
    let reply = launch(&mux, json!({"GO": go.display().to_string()})).await;
    let handed = launch_in(&mux, &reply, "handed_off").await;
    let _session = Group(handed["pid"].as_u64().unwrap() as u32);
    assert_eq!(handed["exit_code"], 0, "{handed}");
    assert!(
        handed["reason"].as_str().unwrap().contains("handed off"),
        "{handed}"
    );
    std::fs::write(&go, "").unwrap();
    let detail = launch_in(&mux, &reply, "exited").await;
    assert!(detail["registered_at_ms"].is_u64(), "{detail}");
    assert!(is_registered(&mux, reply["session_id"].as_str().unwrap()).await);
    mux.stop();
}
