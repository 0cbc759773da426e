//! The inbox with 200 sessions followed by one in-process hub. Prints numbers only:
//!
//! - hook event → `inbox:item` on `/ws/mux`: from the moment claudeless fires
//!   `PermissionRequest` (an operator hook run just before the host's stamps the time) to the
//!   item's arrival at a `/ws/mux` client; beside it, the same hook → the host's own `/ws`
//!   transition (what the hub adds is the difference);
//! - answer → `working`: from `POST /api/v1/inbox/{item}/answer` on the hub to the `working`
//!   transition on the host's `/ws`, beside `POST /agent/respond` sent to the host directly.
//!
//! The 200 sessions: `CLAUDES` real `coopmux session` hosts running claudeless (the prompts
//! come from these, in turn) and the rest real `coopmux session` hosts running `sleep` (real
//! coop-protocol sessions whose state the hub follows all along).

use test_support as support;

use serde_json::{json, Value};
use support::claude::reaches;
use support::stamps::{epoch_nanos, percentiles, since_stamp, stamping_settings, stamps};
use support::{client, register, Claude, Session, TempDir, TestServer, Ws, LONG_WAIT};
use tokio::time::Instant;

/// Sessions the hub follows in all.
const SESSIONS: usize = 200;
/// Of them, hosts running claudeless.
const CLAUDES: usize = 4;
/// Prompts asked and answered, in turn over the claudeless hosts.
const ROUNDS: usize = 40;

/// The next `inbox:item` of `session` on `/ws/mux`, with its arrival time.
async fn item_on(mux: &mut Ws, session: &str) -> (Value, u128) {
    loop {
        let event = mux.next(LONG_WAIT).await.expect("/ws/mux open");
        if event["event"] == "inbox:item" && event["session"] == session {
            return (event, epoch_nanos());
        }
    }
}

struct Agent {
    claude: Claude,
    states: Ws,
    stamps: std::path::PathBuf,
    _dir: TempDir,
}

#[tokio::main]
async fn main() {
    let server = TestServer::with(|_| {}).await;
    let mut agents = Vec::new();
    for n in 0..CLAUDES {
        let dir = TempDir::new("inbox-bench");
        let stamps = dir.join("stamps");
        let settings = stamping_settings(&dir, &stamps);
        let claude = Claude::start("permission", &[], &["--settings", &settings]).await;
        let states = claude.idle_states().await;
        let reply = register(
            &server,
            &claude.host.url,
            Some(&format!("claude-{n}")),
            json!({}),
        )
        .await;
        assert!(reply.status().is_success());
        agents.push(Agent {
            claude,
            states,
            stamps,
            _dir: dir,
        });
    }
    let mut plain = Vec::new();
    for n in CLAUDES..SESSIONS {
        let host = Session::start(&[], &["sleep", "3600"]).await;
        let reply = register(&server, &host.url, Some(&format!("plain-{n}")), json!({})).await;
        assert!(reply.status().is_success());
        plain.push(host);
    }
    let mut mux = Ws::connect(&server.ws_url("/ws/mux")).await;
    let followed = server.hub.registry.len();
    assert_eq!(followed, SESSIONS);

    let (mut to_host, mut to_inbox) = (Vec::new(), Vec::new());
    let (mut via_hub, mut direct) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let n = round % CLAUDES;
        let agent = &mut agents[n];
        let id = format!("claude-{n}");
        let seen = stamps(&agent.stamps).len();
        agent.claude.host.type_line("please deploy").await;
        let asked = reaches(&mut agent.states, "prompt").await;
        let at_host = epoch_nanos();
        let (item, at_mux) = item_on(&mut mux, &id).await;
        // A round whose stamping hook claudeless skipped gives no sample.
        if let (Some(host), Some(inbox)) = (
            since_stamp(&agent.stamps, seen, at_host),
            since_stamp(&agent.stamps, seen, at_mux),
        ) {
            to_host.push(host);
            to_inbox.push(inbox);
        }
        assert_eq!(item["seq"], asked["seq"]);
        let sent = Instant::now();
        if round % 2 == 0 {
            let url = server.url(&format!(
                "/api/v1/inbox/{}/answer",
                item["id"].as_str().unwrap()
            ));
            let reply = client()
                .post(url)
                .json(&json!({"accept": true}))
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), 200);
            reaches(&mut agent.states, "working").await;
            via_hub.push(sent.elapsed());
        } else {
            let reply = agent
                .claude
                .host
                .post_ok("/agent/respond", json!({"accept": true}))
                .await;
            assert_eq!(reply["delivered"], true);
            reaches(&mut agent.states, "working").await;
            direct.push(sent.elapsed());
        }
        reaches(&mut agent.states, "idle").await;
    }
    println!(
        "inbox ({SESSIONS} sessions followed: {CLAUDES} claudeless hosts, {} `sleep` hosts; {ROUNDS} permission prompts; loopback)",
        SESSIONS - CLAUDES
    );
    println!(
        "  hook event → host /ws transition     {}",
        percentiles(to_host)
    );
    println!(
        "  hook event → inbox:item on /ws/mux   {}",
        percentiles(to_inbox)
    );
    println!(
        "  answer via hub → working             {}",
        percentiles(via_hub)
    );
    println!(
        "  respond direct → working             {}",
        percentiles(direct)
    );
    drop(plain);
}
