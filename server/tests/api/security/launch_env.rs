//! The launch environment (docs/security.md, "The launch environment"): a launch request and
//! a credential's `env_key` cannot set a variable that runs code in the agent's tools (git,
//! less, node, python, rust, …), points it at another home or configuration, changes which
//! certificates it trusts, sends its traffic through a proxy, or sends the injected key to
//! another endpoint.

use crate::support::{client, expect_envelope, TempDir, TestServer};
use serde_json::json;

/// One or more members of each refused family, in the case a caller might use.
const REFUSED: [&str; 40] = [
    // git
    "GIT_EXTERNAL_DIFF",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_PAGER",
    "GIT_EDITOR",
    "GIT_TRACE",
    "GIT_CONFIG_GLOBAL",
    // pagers and editors
    "LESSOPEN",
    "LESSCLOSE",
    "LESS",
    "PAGER",
    "EDITOR",
    // node
    "NODE_EXTRA_CA_CERTS",
    "NODE_TLS_REJECT_UNAUTHORIZED",
    "NODE_PATH",
    "npm_config_script_shell",
    // python
    "PYTHONWARNINGS",
    "PYTHONBREAKPOINT",
    "PYTHONUSERBASE",
    "PIP_INDEX_URL",
    // TLS trust
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "OPENSSL_CONF",
    "SSLKEYLOGFILE",
    // proxies, any case
    "HTTPS_PROXY",
    "http_proxy",
    "All_Proxy",
    "no_proxy",
    // provider endpoints of the injected keys
    "ANTHROPIC_BASE_URL",
    "OPENAI_BASE_URL",
    "OPENAI_API_BASE",
    "GOOGLE_GEMINI_BASE_URL",
    // homes and build hooks
    "HOME",
    "XDG_CONFIG_HOME",
    "CLAUDE_CONFIG_DIR",
    "RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "GOFLAGS",
];

#[tokio::test]
async fn launch_variables_of_refused_families_are_refused_naming_the_key() {
    let dir = TempDir::new("env-families");
    let marker = dir.join("launched");
    let command = format!("touch {}", marker.display());
    let server = TestServer::with(|a| a.launch = Some(command)).await;
    for name in REFUSED {
        let reply = client()
            .post(server.url("/api/v1/sessions/launch"))
            .json(&json!({"env": {name: "x"}}))
            .send()
            .await
            .unwrap();
        let message = expect_envelope(reply, 400, "BAD_REQUEST").await;
        assert!(message.contains(name), "{name}: {message}");
    }
    assert!(!marker.exists(), "a refused launch ran");
    // Harmless members of the families still pass.
    let reply = client()
        .post(server.url("/api/v1/sessions/launch"))
        .json(&json!({"env": {"GIT_REPO": "r", "GIT_BRANCH": "main", "NODE_ENV": "test"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
}

#[tokio::test]
async fn credential_env_keys_of_refused_families_are_refused() {
    let server = TestServer::with(|_| {}).await;
    for (i, name) in REFUSED.iter().enumerate() {
        let reply = client()
            .post(server.url("/api/v1/credentials/new"))
            .json(&json!({"name": format!("a{i}"), "provider": "other", "env_key": name, "token": "k"}))
            .send()
            .await
            .unwrap();
        let message = expect_envelope(reply, 400, "BAD_REQUEST").await;
        assert!(message.contains(*name), "{name}: {message}");
    }
    let list = server.get_json("/api/v1/credentials/status").await;
    assert_eq!(list, json!([]), "nothing was added");
}
