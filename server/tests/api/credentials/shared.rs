//! Replicas sharing credentials through a real JetStream nats-server (docs/scaling.md,
//! "Credentials across replicas"): an account added and a key set on one hub are served by
//! the other; one refresh grant per expiry across both (the refresh lease), and the survivor
//! refreshes when the last refresher dies; without JetStream each hub keeps its own.

use super::{assert_no_secret, hub};
use crate::support::nats::Server;
use crate::support::{wait_for, HubProcess, NatsServer, OAuthServer, TempDir, LONG_WAIT};
use futures_util::StreamExt as _;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The launched session writes the key it sees, then idles.
const LAUNCH: &str = r#"exec coopmux session --port 0 -- sh -c 'echo "KEY=$OPENAI_API_KEY" > "$OUT_FILE"; exec sleep 60'"#;

/// A hub on `nats` with `extra` flags, once its credentials are shared (health says so).
async fn replica(nats: &NatsServer, extra: &[&str]) -> HubProcess {
    let mut args = vec!["--nats-url", nats.url.as_str()];
    args.extend_from_slice(extra);
    let mux = hub(&args);
    let shared = wait_for(LONG_WAIT, || async {
        let (_, health) = mux.get("/api/v1/health").await;
        (health["credentials"] == "shared").then_some(())
    })
    .await;
    assert!(shared.is_some(), "credentials not shared:\n{}", mux.log());
    mux
}

/// Polls `probe` every 10 ms for at most `limit`; how long it took.
async fn within<F, Fut>(limit: Duration, probe: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<()>>,
{
    let started = Instant::now();
    crate::support::wait_every(limit, Duration::from_millis(10), probe)
        .await
        .map(|()| started.elapsed())
}

async fn an_account_and_key_set_on_one_replica_are_served_by_the_other(server: Server) {
    let nats = NatsServer::start_version(server).await;
    let dir = TempDir::new("cred-shared");
    let a = replica(&nats, &[]).await;
    let b = replica(&nats, &["--launch", LAUNCH]).await;
    a.post_ok(
        "/api/v1/credentials/new",
        json!({"name":"work","provider":"openai"}),
    )
    .await;
    let added = within(LONG_WAIT, || async {
        (b.account("work").await["has_api_key"] == false).then_some(())
    })
    .await;
    assert!(added.is_some(), "the account added on A is not on B");
    a.post_ok(
        "/api/v1/credentials/set",
        json!({"account":"work","token":"work-shared-sekret"}),
    )
    .await;
    let seen = within(Duration::from_secs(1), || async {
        let entry = b.account("work").await;
        (entry["has_api_key"] == true && entry["status"] == "healthy").then_some(())
    })
    .await
    .expect("the key set on A is not on B's status within a second");
    println!(
        "account on B after {:?}, key after {seen:?}",
        added.unwrap()
    );
    // What B serves is A's key: a session B launches starts with it.
    let out = dir.join("env.txt");
    let reply = b
        .post_ok(
            "/api/v1/sessions/launch",
            json!({"env": {"OUT_FILE": out.display().to_string()}}),
        )
        .await;
    let line = wait_for(LONG_WAIT, || async {
        let text = std::fs::read_to_string(&out).ok()?;
        text.ends_with('\n').then(|| text.trim().to_owned())
    })
    .await
    .expect("the launched child wrote its environment");
    assert_eq!(line, "KEY=work-shared-sekret");
    let id = reply["session_id"].as_str().unwrap().to_owned();
    let url = wait_for(LONG_WAIT, || async {
        let (_, list) = b.get("/api/v1/sessions").await;
        let entry = list.as_array()?.iter().find(|s| s["id"] == id.as_str())?;
        entry["url"].as_str().map(str::to_owned)
    })
    .await;
    let (_, pool) = b.get("/api/v1/credentials/pool").await;
    assert_eq!(pool["accounts"][0]["name"], "work", "{pool}");
    assert_no_secret("B's pool", &pool.to_string());
    if let Some(url) = url {
        let _ = reqwest::Client::new()
            .post(format!("{url}/api/v1/shutdown"))
            .send()
            .await;
    }
    assert_no_secret("A's log", &a.stop());
    assert_no_secret("B's log", &b.stop());
}

/// Both replicas' (status, expires_in_secs) of `name` once they agree on a healthy entry.
async fn agreed(a: &HubProcess, b: &HubProcess, name: &str) -> Option<Value> {
    let x = a.account(name).await;
    let y = b.account(name).await;
    (x["status"] == "healthy" && x == y).then_some(x)
}

fn refreshes(log: &str) -> usize {
    log.matches("credential refreshed").count()
}

async fn one_refresh_per_expiry_across_replicas_and_the_survivor_takes_over(server: Server) {
    let nats = NatsServer::start_version(server).await;
    // Issued keys live 2 s and are refreshed 1 s before expiry: about one refresh a second.
    let oauth = OAuthServer::start(2).await;
    oauth.grant_refresh("first-refresh-sekret", "acct");
    let flags = [
        "--refresh-margin-secs",
        "1",
        "--refresh-backoff-ms",
        "50",
        "--credential-lease-ms",
        "1000",
    ];
    let a = replica(&nats, &flags).await;
    let b = replica(&nats, &flags).await;
    // Every credential event either replica publishes.
    let published = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut events = nats
        .client()
        .await
        .subscribe("coop.events.credential")
        .await
        .unwrap();
    let sink = published.clone();
    let listener = tokio::spawn(async move {
        while let Some(message) = events.next().await {
            let text = String::from_utf8_lossy(&message.payload).into_owned();
            sink.lock().unwrap().push(text);
        }
    });
    let mut account = oauth.account("acct", false);
    account["token"] = json!("first-access-sekret");
    account["refresh_token"] = json!("first-refresh-sekret");
    account["expires_in"] = json!(2);
    a.post_ok("/api/v1/credentials/new", account).await;
    // Three expiries: each one grant. A second grant of one expiry would present a rotated
    // (used) refresh token, which the server refuses and counts.
    let issued = wait_for(Duration::from_secs(30), || async {
        (oauth.state.access_tokens.lock().unwrap().len() >= 3).then_some(())
    })
    .await;
    assert!(
        issued.is_some(),
        "no three refreshes:\nA:\n{}\nB:\n{}",
        a.log(),
        b.log()
    );
    let both = wait_for(LONG_WAIT, || agreed(&a, &b, "acct")).await;
    assert!(both.is_some(), "the replicas disagree on the refreshed key");
    let grants = oauth.state.refresh_calls.load(Ordering::SeqCst);
    let tokens = oauth.state.access_tokens.lock().unwrap().len();
    assert_eq!(grants, tokens, "a refresh grant was duplicated or refused");
    println!(
        "{grants} grants for {tokens} expiries; refreshed by A {} times, by B {}",
        refreshes(&a.log()),
        refreshes(&b.log())
    );
    // Stop whichever replica refreshed last, right after its refresh: the other one now
    // refreshes every expiry alone.
    let (before_a, before_b) = (refreshes(&a.log()), refreshes(&b.log()));
    let next = tokens + 1;
    let refreshed = wait_for(LONG_WAIT, || async {
        (oauth.state.access_tokens.lock().unwrap().len() >= next).then_some(())
    })
    .await;
    assert!(refreshed.is_some(), "no further refresh");
    // The grant is counted before the refresher logs it: wait (bounded) for that line.
    let a_refreshed = wait_for(LONG_WAIT, || async {
        if refreshes(&a.log()) > before_a {
            Some(true)
        } else {
            (refreshes(&b.log()) > before_b).then_some(false)
        }
    })
    .await
    .expect("the refreshing replica logs its refresh");
    let (survivor, stopped) = if a_refreshed { (b, a) } else { (a, b) };
    // Its new key must be in the bucket (the other replica has it) before it dies: a replica
    // killed between the grant and the write takes the rotated refresh token with it, and no
    // survivor could refresh after that.
    let written = wait_for(LONG_WAIT, || agreed(&survivor, &stopped, "acct")).await;
    assert!(
        written.is_some(),
        "the replicas never agreed on the new key"
    );
    assert_no_secret("the stopped replica's log", &stopped.kill());
    let at_stop = oauth.state.access_tokens.lock().unwrap().len();
    let before = refreshes(&survivor.log());
    let more = wait_for(Duration::from_secs(30), || async {
        (oauth.state.access_tokens.lock().unwrap().len() >= at_stop + 2).then_some(())
    })
    .await;
    assert!(
        more.is_some(),
        "the survivor does not refresh:\n{}",
        survivor.log()
    );
    // The grants were the survivor's (its log says so once each refresh is stored).
    let logged = wait_for(LONG_WAIT, || async {
        (refreshes(&survivor.log()) >= before + 2).then_some(())
    })
    .await;
    assert!(logged.is_some(), "{}", survivor.log());
    let grants = oauth.state.refresh_calls.load(Ordering::SeqCst);
    let tokens = oauth.state.access_tokens.lock().unwrap().len();
    assert_eq!(grants, tokens, "a refresh grant was duplicated or refused");
    assert_eq!(survivor.account("acct").await["status"], "healthy");
    assert_no_secret("the survivor's log", &survivor.stop());
    // One `refreshed` per new key (the key given to `new`, then each grant), published by the
    // replica that stored it only; a refresh cut short by the stop may miss its event.
    let tokens = oauth.state.access_tokens.lock().unwrap().len();
    let refreshed = wait_for(LONG_WAIT, || async {
        let events = published.lock().unwrap();
        let n = events
            .iter()
            .filter(|e| e.contains("\"event_type\":\"refreshed\""))
            .count();
        (n >= tokens).then_some(n)
    })
    .await
    .expect("refreshed events on NATS");
    listener.abort();
    let events = published.lock().unwrap().join("\n");
    assert!(
        refreshed <= tokens + 1,
        "duplicated events for {tokens} keys:\n{events}"
    );
    assert_no_secret("the NATS events", &events);
}

crate::support::on_both_servers!(
    an_account_and_key_set_on_one_replica_are_served_by_the_other,
    one_refresh_per_expiry_across_replicas_and_the_survivor_takes_over,
);

#[tokio::test]
async fn without_jetstream_each_replica_keeps_its_own_credentials() {
    let nats = NatsServer::start_plain().await;
    let a = hub(&["--nats-url", nats.url.as_str()]);
    let local = wait_for(LONG_WAIT, || async {
        let (_, health) = a.get("/api/v1/health").await;
        (health["credentials"] == "local" && health["nats"] == "connected").then_some(())
    })
    .await;
    assert!(local.is_some(), "health does not say local:\n{}", a.log());
    a.post_ok(
        "/api/v1/credentials/new",
        json!({"name":"solo","provider":"openai","token":"solo-sekret"}),
    )
    .await;
    assert_eq!(a.account("solo").await["status"], "healthy");
    let log = a.stop();
    assert!(log.contains("without JetStream"), "{log}");
    assert_no_secret("the log", &log);
}
