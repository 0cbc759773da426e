//! Agents inside sessions: a launched child never sees the hub's token; the registration token
//! it gets instead works for its own session only, and `coopmux session` hides it from the
//! program on its PTY.

use crate::support::{wait_for, HubProcess, MockUpstream, TempDir, LONG_WAIT};
use serde_json::{json, Value};

const HUB_TOKEN: &str = "hub-token-never-in-children";

fn env_var(env: &str, name: &str) -> Option<String> {
    env.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")).map(str::to_owned))
}

#[tokio::test]
async fn a_launched_agent_holds_a_registration_token_for_its_session_only() {
    let dir = TempDir::new("scoped-token");
    let launch_env = dir.join("launch.env");
    let agent_env = dir.join("agent.env");
    let launch = format!(
        "env > {}; exec coopmux session -- sh -c 'env > {}; exec sleep 60'",
        launch_env.display(),
        agent_env.display()
    );
    let mux = HubProcess::start(
        &["--launch", &launch],
        &[("COOP_MUX_AUTH_TOKEN", HUB_TOKEN)],
    );
    let operator = mux.client();
    let reply: Value = operator
        .post(format!("{}/api/v1/sessions/launch", mux.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session_id = reply["session_id"]
        .as_str()
        .expect("a session id")
        .to_owned();
    let registered = wait_for(LONG_WAIT, || async {
        let list: Value = operator
            .get(format!("{}/api/v1/sessions", mux.base))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        list.as_array()?
            .iter()
            .any(|s| s["id"] == session_id.as_str())
            .then_some(())
    })
    .await;
    assert!(
        registered.is_some(),
        "the launch registered with its own token"
    );

    let env = std::fs::read_to_string(&launch_env).unwrap();
    assert!(
        !env.contains(HUB_TOKEN),
        "the hub token reached the launch: {env}"
    );
    let scoped = env_var(&env, "COOP_MUX_TOKEN").expect("a registration token");
    let agent = wait_for(LONG_WAIT, || async {
        std::fs::read_to_string(&agent_env).ok()
    })
    .await
    .unwrap();
    assert!(
        env_var(&agent, "COOP_MUX_TOKEN").is_none(),
        "the agent sees the host's token"
    );

    // What a prompt-injected agent holding the launch's token could try.
    let http = reqwest::Client::new();
    let listed = http
        .get(format!("{}/api/v1/sessions", mux.base))
        .bearer_auth(&scoped)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 401, "the token lists sessions");
    let launched = http
        .post(format!("{}/api/v1/sessions/launch", mux.base))
        .bearer_auth(&scoped)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(launched.status(), 401, "the token launches");
    let keys = http
        .get(format!("{}/api/v1/credentials/status", mux.base))
        .bearer_auth(&scoped)
        .send()
        .await
        .unwrap();
    assert_eq!(keys.status(), 401, "the token reads the broker");
    let other = http
        .post(format!("{}/api/v1/sessions", mux.base))
        .bearer_auth(&scoped)
        .json(&json!({"url": "http://127.0.0.1:1", "id": "someone-else"}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 403, "the token registers another session");
    let removed = http
        .delete(format!("{}/api/v1/sessions/someone-else", mux.base))
        .bearer_auth(&scoped)
        .send()
        .await
        .unwrap();
    assert_eq!(
        removed.status(),
        403,
        "the token deregisters another session"
    );

    // Its own session: deregistering works once, then the token is revoked.
    let own = format!("{}/api/v1/sessions/{session_id}", mux.base);
    let gone = http.delete(&own).bearer_auth(&scoped).send().await.unwrap();
    assert_eq!(gone.status(), 200);
    let again: Value = http
        .post(format!("{}/api/v1/sessions", mux.base))
        .bearer_auth(&scoped)
        .json(&json!({"url": "http://127.0.0.1:1", "id": session_id}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["error"]["code"], "UNAUTHORIZED", "{again}");
    mux.stop();
}

/// A launch token that has not registered yet (its launch is still starting) cannot take the
/// id or the url of a session someone else registered, nor deregister it; it can still
/// register the session its launch was given.
#[tokio::test]
async fn an_unbound_launch_token_cannot_take_over_another_session() {
    let dir = TempDir::new("takeover");
    let token_file = dir.join("token");
    // The launch never registers by itself: the test plays its agent, holding its token.
    let launch = format!(
        "printf %s \"$COOP_MUX_TOKEN\" > {}; exec sleep 60",
        token_file.display()
    );
    let mux = HubProcess::start(
        &["--launch", &launch],
        &[("COOP_MUX_AUTH_TOKEN", HUB_TOKEN)],
    );
    let (victim, attacker) = (MockUpstream::start().await, MockUpstream::start().await);
    let url = |path: &str| format!("{}{path}", mux.base);
    let send = |request: reqwest::RequestBuilder| async move {
        let reply = request.send().await.unwrap();
        (
            reply.status().as_u16(),
            reply.json::<Value>().await.unwrap_or_default(),
        )
    };
    let operator = mux.client();
    let victim_body = json!({"url": victim.url, "id": "victim"});
    let (status, _) = send(operator.post(url("/api/v1/sessions")).json(&victim_body)).await;
    assert_eq!(status, 200);
    let env = json!({"env": {"COOP_MUX_SESSION_ID": "launched-1"}});
    let (_, reply) = send(operator.post(url("/api/v1/sessions/launch")).json(&env)).await;
    assert_eq!(reply["session_id"], "launched-1");
    let token = wait_for(LONG_WAIT, || async {
        std::fs::read_to_string(&token_file)
            .ok()
            .filter(|t| !t.is_empty())
    })
    .await
    .expect("the launch's token");

    let agent = reqwest::Client::new();
    let register = |body: Value| {
        send(
            agent
                .post(url("/api/v1/sessions"))
                .bearer_auth(&token)
                .json(&body),
        )
    };
    let (taken, _) = register(json!({"id": "victim", "url": attacker.url})).await;
    assert_eq!(taken, 403, "the token took the victim's id");
    let (evicted, _) = register(json!({"id": "launched-1", "url": victim.url})).await;
    assert_eq!(evicted, 403, "the token evicted the victim by its url");
    let remove = |id: &str| {
        send(
            agent
                .delete(url(&format!("/api/v1/sessions/{id}")))
                .bearer_auth(&token),
        )
    };
    assert_eq!(
        remove("victim").await.0,
        403,
        "the token deregistered the victim"
    );
    let (_, list) = send(operator.get(url("/api/v1/sessions"))).await;
    let kept = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "victim");
    assert_eq!(
        kept.expect("the victim is registered")["url"],
        victim.url.as_str()
    );

    // Its own session: registering, a heartbeat and deregistering still work.
    for _ in 0..2 {
        let (own, _) = register(json!({"id": "launched-1", "url": attacker.url})).await;
        assert_eq!(own, 200);
    }
    assert_eq!(remove("launched-1").await.0, 200);
    mux.stop();
}
