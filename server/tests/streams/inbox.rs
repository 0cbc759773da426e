//! The inbox with real `coopmux session` hosts running claudeless (docs/architecture.md, "The
//! inbox"): a permission, a question and a plan show with what they ask; answers through the
//! hub make the simulator proceed and empty the inbox; a second answer is a 409; two
//! replicas on one NATS answering one item at once deliver it once and notify it once; an
//! answer while NATS is away sends nothing; a local HTTP server gets one signed notification
//! per item.

use crate::support::claude::reaches;
use crate::support::{
    client, eventually, expect_envelope, get_json, register, wait_for, Claude, Events, NatsServer,
    TestServer, LONG_WAIT,
};
use axum::{extract::State, http::HeaderMap, http::StatusCode, routing::post, Router};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// Starts a claudeless host with `scenario`, registered on `server` as `id`, once idle.
async fn agent(server: &TestServer, scenario: &str, id: &str) -> Claude {
    let claude = Claude::start(scenario, &[], &[]).await;
    drop(claude.idle_states().await);
    let metadata =
        json!({"agent": "claude", "label": format!("{scenario} task"), "cwd": "/srv/app"});
    let reply = register(
        server,
        &claude.host.url,
        Some(id),
        json!({"metadata": metadata}),
    )
    .await;
    assert!(reply.status().is_success(), "register {id}");
    claude
}

async fn inbox(server: &TestServer) -> Vec<Value> {
    let list = get_json(&client(), server.url("/api/v1/inbox")).await;
    list["items"].as_array().unwrap().clone()
}

async fn answer(server: &TestServer, item: &str, body: Value) -> reqwest::Response {
    let url = server.url(&format!("/api/v1/inbox/{item}/answer"));
    client().post(url).json(&body).send().await.unwrap()
}

/// The first `inbox:item` of `session` (whose id is not `not`).
async fn item_of(events: &Events, session: &str, not: Option<&str>) -> Value {
    events
        .wait(&format!("inbox:item of {session}"), |e| {
            e["event"] == "inbox:item"
                && e["session"] == session
                && not.is_none_or(|n| e["id"] != n)
        })
        .await
}

#[tokio::test]
async fn the_inbox_shows_a_permission_a_question_and_a_plan_and_answers_empty_it() {
    let server = TestServer::with(|_| {}).await;
    let events = Events::connect(&server.base).await;
    let permission = agent(&server, "permission", "perm").await;
    let question = agent(&server, "question", "ques").await;
    let plan = agent(&server, "plan", "plan").await;
    permission.host.type_line("please deploy").await;
    let asked = item_of(&events, "perm", None).await;
    question.host.type_line("pick a database").await;
    item_of(&events, "ques", None).await;
    plan.host.type_line("make a plan").await;
    item_of(&events, "plan", None).await;

    let items = inbox(&server).await;
    let sessions: Vec<&str> = items
        .iter()
        .map(|i| i["session"].as_str().unwrap())
        .collect();
    assert_eq!(
        sessions,
        ["perm", "ques", "plan"],
        "arrival order: {items:?}"
    );
    let [perm, ques, plan_item] = [&items[0], &items[1], &items[2]];
    let mut event = asked.clone();
    event.as_object_mut().unwrap().remove("event");
    assert_eq!(perm, &event, "the event carries the item");
    assert_eq!(
        (&perm["label"], &perm["location"], &perm["agent"]),
        (
            &json!("permission task"),
            &json!("/srv/app"),
            &json!("claude")
        )
    );
    let seq = perm["seq"].as_u64().unwrap();
    assert_eq!(perm["id"], format!("perm:{seq}"));
    assert_eq!(
        permission.host.get_ok("/agent").await["since_seq"],
        seq,
        "the item is named by its prompt's seq"
    );
    assert_eq!(
        (&perm["prompt"]["type"], &perm["prompt"]["tool"]),
        (&json!("permission"), &json!("Bash"))
    );
    let input: Value = serde_json::from_str(perm["prompt"]["input"].as_str().unwrap()).unwrap();
    assert_eq!(input["command"], "echo deploying-now");
    assert_eq!(
        perm["prompt"]["options"],
        json!(["Yes", "Yes, allow echo commands from this project", "No"])
    );
    assert_eq!(
        ques["prompt"]["questions"],
        json!([{"question": "Which database?", "options": ["Postgres", "SQLite"]}])
    );
    assert_eq!(plan_item["prompt"]["type"], "plan");
    assert!(plan_item["prompt"]["input"]
        .as_str()
        .unwrap()
        .contains("1. Add a cache table"));
    assert_eq!(
        plan_item["prompt"]["options"].as_array().unwrap().len(),
        4,
        "{plan_item}"
    );

    // An option the menu lacks is refused before anything is claimed or sent.
    let wrong = answer(&server, perm["id"].as_str().unwrap(), json!({"option": 9})).await;
    expect_envelope(wrong, 422, "UNPROCESSABLE_ENTITY").await;
    for (item, body) in [
        (perm, json!({"accept": true})),
        (ques, json!({"option": 2})),
        (plan_item, json!({"option": 2})),
    ] {
        let id = item["id"].as_str().unwrap();
        let first = answer(&server, id, body.clone()).await;
        assert_eq!(first.status().as_u16(), 200, "{id}");
        let reply: Value = first.json().await.unwrap();
        assert_eq!(
            (&reply["item"], &reply["delivered"]),
            (&json!(id), &json!(true)),
            "{reply}"
        );
        let again = answer(&server, id, body).await;
        let message = expect_envelope(again, 409, "ALREADY_ANSWERED").await;
        assert!(message.contains("nothing was sent"), "{message}");
        events
            .wait(&format!("inbox:gone {id}"), |e| {
                e["event"] == "inbox:gone" && e["item"] == id && e["reason"] == "left"
            })
            .await;
    }
    permission.host.wait_text("deploying-now").await;
    question.host.wait_text("Which database?: SQLite").await;
    plan.host
        .wait_text("[Plan approved (mode: auto_accept)]")
        .await;
    assert_eq!(inbox(&server).await, Vec::<Value>::new());
    // An item the session's prompt is not (a sequence it never asked at): nothing sent.
    let unknown = format!("ques:{}", ques["seq"].as_u64().unwrap() + 100);
    let stale = answer(&server, &unknown, json!({"accept": true})).await;
    expect_envelope(stale, 409, "ITEM_CHANGED").await;
    // The answered one, once it left: still answered.
    let late = answer(
        &server,
        perm["id"].as_str().unwrap(),
        json!({"accept": true}),
    )
    .await;
    expect_envelope(late, 409, "ALREADY_ANSWERED").await;

    // Gone with its session.
    permission.host.type_line("please deploy").await;
    let again = item_of(&events, "perm", perm["id"].as_str()).await;
    client()
        .delete(server.url("/api/v1/sessions/perm"))
        .send()
        .await
        .unwrap();
    events
        .wait("inbox:gone offline", |e| {
            e["event"] == "inbox:gone" && e["item"] == again["id"] && e["reason"] == "offline"
        })
        .await;
}

/// What the notification receiver got: (signature header, body, status answered).
type Received = Arc<Mutex<Vec<(String, Vec<u8>, u16)>>>;

/// A local HTTP server taking notifications; it answers 500 to the first POST (to show the
/// retry), 200 after.
async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let app = Router::new()
        .route(
            "/hook",
            post(|State(got): State<Received>, headers: HeaderMap, body: axum::body::Bytes| async move {
                let signature = headers
                    .get("x-coopmux-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let mut got = got.lock().unwrap();
                let status = if got.is_empty() { 500 } else { 200 };
                got.push((signature, body.to_vec(), status));
                StatusCode::from_u16(status).unwrap()
            }),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// Waits until the receiver took (200) `count` notifications.
async fn taken(received: &Received, count: usize, what: &str) {
    eventually(what, || async {
        let got = received.lock().unwrap();
        (got.iter().filter(|r| r.2 == 200).count() == count).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_local_server_gets_one_signed_notification_per_item_and_none_for_a_repeat() {
    let (url, received) = receiver().await;
    let server = TestServer::with(|a| {
        a.notify_urls = vec![url];
        a.notify_secret = Some("hook-secret".parse().unwrap());
    })
    .await;
    let events = Events::connect(&server.base).await;
    let claude = agent(&server, "permission", "notified").await;
    claude.host.type_line("please deploy").await;
    let first = item_of(&events, "notified", None).await;
    let first_id = first["id"].as_str().unwrap().to_owned();
    // Taken on the second try (the first got a 500).
    taken(&received, 1, "the first notification").await;
    // The same prompt again: the session goes and comes back while it waits (its feed sends
    // the prompt once more). Same item, no notification.
    client()
        .delete(server.url("/api/v1/sessions/notified"))
        .send()
        .await
        .unwrap();
    let metadata = json!({"agent": "claude"});
    register(
        &server,
        &claude.host.url,
        Some("notified"),
        json!({"metadata": metadata}),
    )
    .await;
    events
        .wait("gone offline", |e| {
            e["event"] == "inbox:gone" && e["reason"] == "offline"
        })
        .await;
    eventually("the same item listed again", || async {
        let items = inbox(&server).await;
        (items.len() == 1 && items[0]["id"] == first_id).then_some(())
    })
    .await;
    assert_eq!(
        answer(&server, &first_id, json!({"accept": true}))
            .await
            .status()
            .as_u16(),
        200
    );
    // A new prompt is a new item: one more notification.
    claude.host.type_line("please deploy").await;
    let second = item_of(&events, "notified", Some(&first_id)).await;
    taken(&received, 2, "the second notification").await;
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 3, "one retry, then one per item: {got:?}");
    // The item as `/ws/mux` first showed it; the retry sends the very same body.
    let item_of_event = |event: &Value| {
        let mut item = event.clone();
        item.as_object_mut().unwrap().remove("event");
        item
    };
    let expected = [
        item_of_event(&first),
        item_of_event(&first),
        item_of_event(&second),
    ];
    for ((signature, body, _), item) in got.iter().zip(expected) {
        let mac = coopmux::hub::inbox::notify::hmac_sha256(b"hook-secret", body);
        assert_eq!(
            signature,
            &format!("sha256={}", coopmux::hub::inbox::notify::hex(&mac))
        );
        let note: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(note["event"], "inbox:item");
        assert_eq!(note["link"], format!("{}/mux#notified", server.base));
        assert_eq!(note["item"], item);
        assert_eq!(note["item"]["prompt"]["type"], "permission");
    }
}

#[tokio::test]
async fn two_replicas_answering_one_item_at_once_deliver_it_once() {
    let nats = NatsServer::start().await;
    let (url, received) = receiver().await;
    let (a, b) = two_replicas(&nats, Some(&url)).await;
    let claude = agent(&a, "permission", "raced").await;
    let mut states = claude.host.ws("subscribe=state").await;
    for round in 0..3 {
        claude.host.type_line("please deploy").await;
        let asked = reaches(&mut states, "prompt").await;
        let id = format!("raced:{}", asked["seq"]);
        // Both replicas list the item.
        for hub in [&a, &b] {
            let listed = wait_for(LONG_WAIT, || async {
                inbox(hub).await.iter().any(|i| i["id"] == id).then_some(())
            })
            .await;
            assert!(listed.is_some(), "round {round}: {id} not on {}", hub.base);
        }
        let body = json!({"accept": true});
        let (ra, rb) = tokio::join!(answer(&a, &id, body.clone()), answer(&b, &id, body));
        let mut statuses = vec![ra.status().as_u16(), rb.status().as_u16()];
        let loser = if statuses[0] == 200 { rb } else { ra };
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "round {round}");
        expect_envelope(loser, 409, "ALREADY_ANSWERED").await;
        // The one answer reached the agent, which proceeds.
        reaches(&mut states, "working").await;
        reaches(&mut states, "idle").await;
    }
    // Both replicas' audit entries are on the one JetStream stream: each answer, with its
    // outcome.
    let js = async_nats::jetstream::new(nats.client().await);
    let mut outcomes = eventually("six audit entries on the stream", || async {
        let mut stream = js.get_stream("coopmux-audit").await.ok()?;
        let count = stream.info().await.ok()?.state.messages;
        if count < 6 {
            return None;
        }
        let mut outcomes = Vec::new();
        for seq in 1..=count {
            let message = stream.get_raw_message(seq).await.ok()?;
            let entry: Value = serde_json::from_slice(&message.payload).ok()?;
            assert_eq!(
                (&entry["action"], &entry["session"]),
                (&json!("answer"), &json!("raced"))
            );
            outcomes.push(entry["status"].as_u64()?);
        }
        Some(outcomes)
    })
    .await;
    outcomes.sort_unstable();
    assert_eq!(outcomes, [200, 200, 200, 409, 409, 409]);
    // Both replicas saw each item; the receiver got it once (after one refused try).
    taken(&received, 3, "three notifications").await;
    let got = received.lock().unwrap().clone();
    let ids: std::collections::BTreeSet<String> = (got.iter().filter(|r| r.2 == 200))
        .map(|(_, body, _)| {
            serde_json::from_slice::<Value>(body).unwrap()["item"]["id"].to_string()
        })
        .collect();
    assert_eq!((got.len(), ids.len()), (4, 3), "{got:?}");
}

/// `Some(())` once `hub`'s health says `key` is (or is not, with `is` false) `value`.
async fn health_says(hub: &TestServer, key: &str, value: &str, is: bool) -> Option<()> {
    let health = get_json(&client(), hub.url("/api/v1/health")).await;
    ((health[key] == value) == is).then_some(())
}

/// Two replicas on `nats` (notifying `notify`, if any), once both share the fleet.
async fn two_replicas(nats: &NatsServer, notify: Option<&str>) -> (TestServer, TestServer) {
    let notify: Vec<String> = notify.into_iter().map(str::to_owned).collect();
    let replica = |url: String| {
        let notify = notify.clone();
        TestServer::with(move |a| {
            a.nats.url = Some(url);
            a.notify_urls = notify;
        })
    };
    let (a, b) = (
        replica(nats.url.clone()).await,
        replica(nats.url.clone()).await,
    );
    for hub in [&a, &b] {
        eventually("shared", || health_says(hub, "fleet", "shared", true)).await;
    }
    (a, b)
}

#[tokio::test]
async fn an_answer_while_nats_is_away_sends_nothing_and_another_replica_answers_once_it_is_back() {
    let mut nats = NatsServer::start().await;
    let (a, b) = two_replicas(&nats, None).await;
    let claude = agent(&a, "permission", "outage").await;
    let mut states = claude.host.ws("subscribe=state").await;
    claude.host.type_line("please deploy").await;
    let asked = reaches(&mut states, "prompt").await;
    let id = format!("outage:{}", asked["seq"]);
    for hub in [&a, &b] {
        eventually("listed", || async {
            inbox(hub).await.iter().any(|i| i["id"] == id).then_some(())
        })
        .await;
    }
    nats.stop(nix::sys::signal::Signal::SIGKILL);
    eventually("NATS gone", || health_says(&a, "nats", "connected", false)).await;
    // The replicas cannot be asked: refused, nothing sent, the agent still asks.
    let refused = answer(&a, &id, json!({"accept": true})).await;
    let message = expect_envelope(refused, 503, "UNAVAILABLE").await;
    assert!(message.contains("nothing was sent"), "{message}");
    let agent_now = claude.host.get_ok("/agent").await;
    assert_eq!(
        (&agent_now["state"], &agent_now["since_seq"]),
        (&json!("prompt"), &asked["seq"])
    );

    nats.restart().await;
    for hub in [&a, &b] {
        eventually("shared again", || health_says(hub, "fleet", "shared", true)).await;
    }
    // The refused claim was given up: the other replica answers, once.
    let answered = answer(&b, &id, json!({"accept": true})).await;
    assert_eq!(answered.status().as_u16(), 200);
    reaches(&mut states, "working").await;
    let again = answer(&a, &id, json!({"accept": true})).await;
    assert_eq!(again.status().as_u16(), 409);
}
