//! Credentials: an `env_key` can never become a loader or routing override, and keys stored
//! by one run survive a run without the config (or with another one).

use crate::credentials::{hub, try_hub};
use crate::support::TempDir;
use serde_json::json;

#[tokio::test]
async fn hostile_env_keys_are_refused() {
    let mux = hub(&[]);
    for env_key in [
        "LD_PRELOAD",
        "COOP_MUX_URL",
        "coop_mux_token",
        "BASH_ENV",
        "1BAD",
    ] {
        let (status, reply) = mux
            .post(
                "/api/v1/credentials/new",
                json!({"name": format!("a-{env_key}"), "provider": "other", "env_key": env_key, "token": "k"}),
            )
            .await;
        assert_eq!(status, 400, "{env_key}: {reply}");
        let message = reply["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(env_key), "{env_key}: {message}");
    }
    let (status, list) = mux.get("/api/v1/credentials/status").await;
    assert_eq!((status, list), (200, json!([])), "nothing was added");
    mux.stop();

    let dir = TempDir::new("hostile-config");
    let config = dir.join("accounts.json");
    let body = json!({"accounts": [{"name": "x", "provider": "other", "env_key": "LD_PRELOAD"}]});
    std::fs::write(&config, body.to_string()).unwrap();
    let log = match try_hub(&["--credential-config", config.to_str().unwrap()]) {
        Ok(_) => panic!("a config with env_key LD_PRELOAD was accepted"),
        Err(log) => log,
    };
    assert!(log.contains("LD_PRELOAD"), "{log}");
}

#[tokio::test]
async fn stored_keys_survive_runs_without_the_config_or_with_another() {
    let dir = TempDir::new("keep-keys");
    let state = dir.join("state");
    let state = state.to_str().unwrap().to_owned();
    let config_a = dir.join("a.json");
    let config_b = dir.join("b.json");
    std::fs::write(
        &config_a,
        json!({"accounts": [{"name": "from-a", "provider": "openai"}]}).to_string(),
    )
    .unwrap();
    std::fs::write(
        &config_b,
        json!({"accounts": [{"name": "from-b", "provider": "gemini"}]}).to_string(),
    )
    .unwrap();

    let first = hub(&[
        "--state-dir",
        &state,
        "--credential-config",
        config_a.to_str().unwrap(),
    ]);
    first
        .post_ok(
            "/api/v1/credentials/set",
            json!({"account": "from-a", "token": "key-a"}),
        )
        .await;
    first
        .post_ok(
            "/api/v1/credentials/new",
            json!({"name": "runtime", "provider": "other", "env_key": "R_KEY", "token": "key-r"}),
        )
        .await;
    first.stop();

    let bare = hub(&["--state-dir", &state]);
    for name in ["from-a", "runtime"] {
        assert_eq!(
            bare.account(name).await["status"],
            "healthy",
            "{name} without the config"
        );
    }
    bare.stop();

    let other = hub(&[
        "--state-dir",
        &state,
        "--credential-config",
        config_b.to_str().unwrap(),
    ]);
    for name in ["from-a", "runtime"] {
        assert_eq!(
            other.account(name).await["status"],
            "healthy",
            "{name} with another config"
        );
    }
    assert_eq!(
        other.account("from-b").await["status"],
        "missing",
        "the new config's account"
    );
    other.stop();
}
