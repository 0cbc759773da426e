//! The launch API end to end: a real `coopmux` process on 127.0.0.1:0 launching real
//! `coopmux session` children with a filtered environment (see `docs/security.md`), refusing
//! unsafe requests, and reaping every child.

use crate::support::procs::zombie_children;
use crate::support::{wait_for, HubProcess, TempDir, LONG_WAIT};
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn launch_registers_with_filtered_env_and_no_mux_secrets() {
    let dir = TempDir::new("launch");
    let out_file = dir.join("env.txt").display().to_string();
    let mux = launching_hub(
        r#"env > "$OUT_FILE"; exec coopmux session -- sh"#,
        &[],
        &[
            ("COOP_MUX_AUTH_TOKEN", "mux-secret-token"),
            ("ANTHROPIC_API_KEY", "sk-from-the-mux"),
            ("OPENAI_API_KEY", "sk-openai-from-the-mux"),
        ],
    );
    let base = mux.base.clone();
    let client = mux.client();
    let body = json!({"env": {
        "OUT_FILE": out_file,
        "MY_VAR": "hello world",
        "COOP_MUX_URL": "http://evil.example:1",
        "Coop_Mux_Url": "http://evil2.example:1",
        "GEMINI_API_KEY": "user-value",
    }});
    let reply: Value = client
        .post(format!("{base}/api/v1/sessions/launch"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["launched"], true);
    let session_id = reply["session_id"].as_str().unwrap().to_owned();
    let launch_id = reply["launch_id"].as_str().unwrap().to_owned();

    let registered = wait_for(Duration::from_secs(5), || {
        let client = client.clone();
        let url = format!("{base}/api/v1/sessions");
        let session_id = session_id.clone();
        async move {
            let list: Value = client.get(url).send().await.ok()?.json().await.ok()?;
            list.as_array()?
                .iter()
                .any(|s| s["id"] == session_id.as_str())
                .then_some(())
        }
    })
    .await;
    assert!(
        registered.is_some(),
        "session {session_id} did not register within 5 s"
    );
    let launch: Value = client
        .get(format!("{base}/api/v1/launches/{launch_id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        launch["state"] == "registered",
        "launch should be registered: {launch}"
    );
    assert!(launch["pid"].as_u64().is_some());

    let env = std::fs::read_to_string(&out_file).unwrap();
    let lines: Vec<&str> = env.lines().collect();
    let has = |line: &str| lines.contains(&line);
    assert!(has("MY_VAR=hello world"), "{env}");
    assert!(has(&format!("COOP_MUX_URL={base}")), "{env}");
    assert!(has(&format!("COOP_MUX_SESSION_ID={session_id}")), "{env}");
    // The child gets a registration token of its own, never the hub's
    // (docs/security.md, "Agents inside sessions").
    assert!(
        lines.iter().any(|l| l.starts_with("COOP_MUX_TOKEN=")),
        "{env}"
    );
    for absent in [
        "mux-secret-token",
        "evil",
        "Coop_Mux_Url",
        "COOP_MUX_AUTH_TOKEN",
        "sk-from-the-mux",
        "sk-openai-from-the-mux",
        "GEMINI_API_KEY",
    ] {
        assert!(
            !env.contains(absent),
            "{absent} leaked into the child: {env}"
        );
    }
    let listed: Value = client
        .get(format!("{base}/api/v1/launches"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    mux.stop();
}

#[tokio::test]
async fn unsafe_variables_and_bodies_are_refused() {
    let mux = launching_hub("exit 0", &["--launch-timeout-ms", "200"], &[]);
    let client = mux.client();
    let url = format!("{}/api/v1/sessions/launch", mux.base);
    for (name, value) in [
        ("LD_PRELOAD", "/tmp/x.so"),
        ("ld_library_path", "/tmp"),
        ("PATH", "/tmp"),
        ("BASH_ENV", "/tmp/x"),
        ("A=B", "x"),
        ("A B", "x"),
        ("NUL_VALUE", "a\0b"),
    ] {
        let resp = client
            .post(&url)
            .json(&json!({"env": {name: value}}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{name}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "BAD_REQUEST");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(name), "{message} should name {name}");
    }
    let malformed = client
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let body: Value = malformed.json().await.unwrap();
    assert_eq!(body["error"]["code"], "BAD_REQUEST");
    // No body, an empty JSON body and `{}` all launch.
    for (content_type, body) in [
        (None, ""),
        (Some("application/json"), ""),
        (Some("application/json"), "{}"),
    ] {
        let mut req = client.post(&url).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200, "{content_type:?} {body:?}");
    }
    // Nothing was spawned for the refused requests.
    let listed: Value = client
        .get(format!("{}/api/v1/launches", mux.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 3);
    mux.stop();
}

#[tokio::test]
async fn rapid_launches_leave_no_zombies_and_respect_the_pending_limit() {
    let mux = launching_hub("sleep 2; exit 3", &["--max-pending-launches", "16"], &[]);
    let client = mux.client();
    let url = format!("{}/api/v1/sessions/launch", mux.base);
    let requests = (0..100).map(|_| {
        let client = client.clone();
        let url = url.clone();
        async move { client.post(&url).send().await.unwrap().status().as_u16() }
    });
    let statuses = futures_util::future::join_all(requests).await;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(ok + throttled, 100, "{statuses:?}");
    assert!(
        throttled > 0,
        "100 concurrent launches never hit the limit of 16"
    );
    assert!((16..100).contains(&ok), "{ok} launched");

    // Every launch ends `failed` (exit 3), which happens only after its child was reaped.
    let base = mux.base.clone();
    let all_failed = wait_for(LONG_WAIT, || {
        let client = client.clone();
        let base = base.clone();
        async move {
            let list: Value = client
                .get(format!("{base}/api/v1/launches"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let list = list.as_array()?;
            (list.len() == ok && list.iter().all(|l| l["state"] == "failed")).then_some(())
        }
    })
    .await;
    assert!(all_failed.is_some(), "launches did not all fail in time");
    let zombies = zombie_children(mux.pid());
    assert!(
        zombies.is_empty(),
        "zombie children of the mux: {zombies:?}"
    );
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "coopmux_launches_total{{outcome=\"throttled\"}} {throttled}"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "coopmux_launches_total{{outcome=\"failed\"}} {ok}"
        )),
        "{metrics}"
    );
    mux.stop();
}

/// Starts `coopmux --launch LAUNCH ARGS…` with `env` added to its environment.
fn launching_hub(launch: &str, args: &[&str], env: &[(&str, &str)]) -> HubProcess {
    let mut all = vec!["--launch", launch];
    all.extend_from_slice(args);
    HubProcess::start(&all, env)
}
