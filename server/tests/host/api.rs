//! Bad input, auth, upload, profiles, signals and shutdown against a real session host.

use crate::support::{Opts, Session, TempDir, WAIT};
use base64::Engine as _;
use futures_util::SinkExt;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn assert_envelope(status: u16, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], want_code, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn bad_requests_get_the_envelope_and_the_session_stays_healthy() {
    let s = Session::start(&[], &["sh"]).await;
    let (st, body) = s
        .post("/input/keys", json!({"keys": ["enter", "warp-drive"]}))
        .await;
    assert_envelope(st, &body, 400, "BAD_REQUEST");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("warp-drive"));
    let (st, body) = s
        .post("/input/raw", json!({"data": "%%% not base64"}))
        .await;
    assert_envelope(st, &body, 400, "BAD_REQUEST");
    let (st, body) = s.post("/resize", json!({"cols": 0, "rows": 10})).await;
    assert_envelope(st, &body, 400, "BAD_REQUEST");
    let (st, body) = s.post("/signal", json!({"signal": "SIGNOPE"})).await;
    assert_envelope(st, &body, 400, "BAD_REQUEST");
    let (st, body) = s.post("/input", json!({"enter": true})).await;
    assert_envelope(st, &body, 422, "UNPROCESSABLE_ENTITY");
    let raw = |body: &'static str, ctype: &'static str| {
        s.http
            .post(s.api("/input"))
            .header("content-type", ctype)
            .body(body)
            .send()
    };
    let resp = raw("{\"text\":", "application/json").await.unwrap();
    let st = resp.status().as_u16();
    assert_envelope(st, &resp.json().await.unwrap(), 400, "BAD_REQUEST");
    let resp = raw("{\"text\":\"x\"}", "text/plain").await.unwrap();
    let st = resp.status().as_u16();
    assert_envelope(
        st,
        &resp.json().await.unwrap(),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    );
    let (st, body) = s.get("/no/such/route").await;
    assert_envelope(st, &body, 404, "NOT_FOUND");
    // Still healthy and still typing.
    assert_eq!(s.get_ok("/health").await["status"], "running");
    s.type_line("echo still-$((6*7))").await;
    s.wait_text("still-42").await;
}

#[tokio::test]
async fn oversized_upload_is_refused_and_uploads_get_unique_sanitised_names() {
    let dir = TempDir::new("upload");
    let opts = Opts {
        cwd: Some(dir.path()),
        ..Opts::default()
    };
    let s = Session::start_with(opts, &["sh"]).await;
    let big = vec![7u8; (10 << 20) + 1];
    let (st, body) = s
        .post("/upload", json!({"filename": "big.bin", "data": b64(&big)}))
        .await;
    assert_envelope(st, &body, 413, "PAYLOAD_TOO_LARGE");
    let up = json!({"filename": "../../etc/my notes.txt", "data": b64(b"hello")});
    let first = s.post_ok("/upload", up.clone()).await;
    let second = s.post_ok("/upload", up).await;
    assert_eq!(first["bytes_written"], 5);
    let uploads = dir.join("uploads");
    let first_path = std::path::PathBuf::from(first["path"].as_str().unwrap());
    let second_path = std::path::PathBuf::from(second["path"].as_str().unwrap());
    assert_eq!(first_path, uploads.join("my_notes.txt"));
    assert_eq!(second_path, uploads.join("my_notes-1.txt"));
    assert_eq!(std::fs::read(&first_path).unwrap(), b"hello");
    assert_eq!(std::fs::read(&second_path).unwrap(), b"hello");
    // The largest allowed upload fits through the body limit.
    let max = vec![1u8; 10 << 20];
    let r = s
        .post_ok("/upload", json!({"filename": "max", "data": b64(&max)}))
        .await;
    assert_eq!(r["bytes_written"], 10 << 20);
    assert_eq!(s.get_ok("/health").await["status"], "running");
}

#[tokio::test]
async fn auth_token_protects_everything_but_health() {
    let opts = Opts {
        flags: vec!["--auth-token".into(), "s3cret".into()],
        ..Opts::default()
    };
    let mut s = Session::start_with(opts, &["sh"]).await;
    let (st, body) = s.get("/status").await;
    assert_envelope(st, &body, 401, "UNAUTHORIZED");
    s.token = Some("wrong".into());
    let (st, body) = s.post("/input", json!({"text": "x"})).await;
    assert_envelope(st, &body, 401, "UNAUTHORIZED");
    let (st, _) = s.get("/health").await;
    assert_eq!(st, 200);
    s.token = Some("s3cret".into());
    s.get_ok("/status").await;

    // A wrong query token is refused at the upgrade.
    let bad = s.url.replacen("http://", "ws://", 1) + "/ws?token=nope";
    let err = tokio_tungstenite::connect_async(bad).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    // No token: only ping/health/ready until `auth`.
    let mut ws = s.ws("subscribe=state").await;
    let denied = ws.request(json!({"event":"status:get"}), json!(1)).await;
    assert_eq!(denied["event"], "error");
    assert_eq!(denied["code"], "UNAUTHORIZED");
    let pong = ws.request(json!({"event":"ping"}), json!(2)).await;
    assert_eq!(pong, json!({"event":"pong","request_id":2}));
    let wrong = ws
        .request(json!({"event":"auth","token":"nah"}), json!(3))
        .await;
    assert_eq!(wrong["code"], "UNAUTHORIZED");
    ws.send(json!({"event":"auth","token":"s3cret","request_id":4}))
        .await;
    // Success sends no reply; the subscription starts with the synthetic transition.
    let first = ws.next(WAIT).await.unwrap();
    assert_eq!(first["event"], "transition", "{first}");
    let status = ws.request(json!({"event":"status:get"}), json!(5)).await;
    assert_eq!(status["event"], "status");
    // A query token authenticates at once.
    let mut ws2 = s.ws("token=s3cret").await;
    let status = ws2.request(json!({"event":"status:get"}), json!("a")).await;
    assert_eq!(status["event"], "status");
    assert_eq!(status["ws_clients"], 2);
}

#[tokio::test]
async fn garbage_websocket_frames_get_errors_and_the_connection_stays_open() {
    let s = Session::start(&[], &["sh"]).await;
    let mut ws = s.ws("").await;
    ws.send_text("this is not json").await;
    let err = ws.next(WAIT).await.unwrap();
    assert_eq!(err["event"], "error");
    assert_eq!(err["code"], "BAD_REQUEST");
    assert!(err.get("request_id").is_none());
    ws.stream
        .send(Message::binary(vec![0xff, 0x00, 0x13]))
        .await
        .unwrap();
    assert_eq!(ws.next(WAIT).await.unwrap()["code"], "BAD_REQUEST");
    let err = ws.request(json!({"event":"warp"}), json!(5)).await;
    assert_eq!(err["code"], "BAD_REQUEST");
    let err = ws
        .request(json!({"event":"resize","cols":0,"rows":3}), json!("r"))
        .await;
    assert_eq!(err["code"], "BAD_REQUEST");
    let err = ws
        .request(json!({"event":"keys:send","keys":["nope"]}), json!([1, 2]))
        .await;
    assert_eq!(
        (err["event"].as_str(), err["code"].as_str()),
        (Some("error"), Some("BAD_REQUEST"))
    );
    let err = ws
        .request(json!({"event":"input:send:raw","data":"***"}), Value::Null)
        .await;
    assert_eq!(err["code"], "BAD_REQUEST");
    let err = ws.request(json!({"event":"replay:get"}), json!(9)).await;
    assert_eq!(err["code"], "BAD_REQUEST");
    // Still open and working; request_id comes back exactly as given.
    let id = json!({"nested": ["x", 1, null]});
    let pong = ws.request(json!({"event":"ping"}), id.clone()).await;
    assert_eq!(pong, json!({"event":"pong","request_id": id}));
    let sent = ws
        .request(
            json!({"event":"input:send","text":"echo ws-ok","enter":true}),
            json!(10),
        )
        .await;
    assert_eq!(
        sent,
        json!({"event":"input:sent","bytes_written":11,"request_id":10})
    );
    s.wait_text("ws-ok").await;
    let keys = ws
        .request(json!({"event":"keys:send","keys":["ctrl-l"]}), json!(11))
        .await;
    assert_eq!(keys["bytes_written"], 1);
    for (event, reply) in [
        ("screen:get", "screen"),
        ("agent:get", "agent"),
        ("health:get", "health"),
        ("ready:get", "ready"),
    ] {
        let r = ws.request(json!({"event": event}), json!(event)).await;
        assert_eq!(r["event"], reply, "{r}");
    }
    // A reply without request_id has none.
    ws.send(json!({"event":"ping"})).await;
    assert_eq!(ws.wait_event("pong").await, json!({"event":"pong"}));
}

#[tokio::test]
async fn profiles_never_echo_credentials() {
    let s = Session::start(&[], &["sh"]).await;
    let empty = s.get_ok("/session/profiles").await;
    assert_eq!(empty["profiles"], json!([]));
    assert_eq!(empty["active_profile"], Value::Null);
    let r = s
        .post_ok(
            "/session/profiles",
            json!({"profiles": [
                {"name": "main", "credentials": {"API_KEY": "sk-very-secret"}},
                {"name": "spare", "credentials": {"API_KEY": "sk-other-secret"}},
            ]}),
        )
        .await;
    assert_eq!(r, json!({"registered": 2}));
    let list = s.get_ok("/session/profiles").await;
    assert_eq!(list["active_profile"], "main");
    assert_eq!(
        list["profiles"][0],
        json!({"name": "main", "status": "active"})
    );
    assert_eq!(list["profiles"][1]["name"], "spare");
    assert!(!list.to_string().contains("secret"));
    // POST replaces the list.
    let r = s
        .post_ok(
            "/session/profiles",
            json!({"profiles": [{"name": "solo", "credentials": {}}]}),
        )
        .await;
    assert_eq!(r["registered"], 1);
    assert_eq!(
        s.get_ok("/session/profiles").await["active_profile"],
        "solo"
    );
}

#[tokio::test]
async fn signal_reaches_the_process_group_and_shutdown_exits() {
    let script = "trap 'echo got-usr1' USR1; echo trap-set; while :; do sleep 0.05; done";
    let mut s = Session::start(&[], &["sh", "-c", script]).await;
    // The signal must not arrive before the trap is in place.
    s.wait_text("trap-set").await;
    let r = s.post_ok("/signal", json!({"signal": "USR1"})).await;
    assert_eq!(r, json!({"delivered": true, "signal": "SIGUSR1"}));
    s.wait_text("got-usr1").await;
    let agent = s.get_ok("/agent").await;
    assert_eq!(agent["agent"], "unknown");
    assert!(["working", "idle"].contains(&agent["state"].as_str().unwrap()));
    let started = Instant::now();
    let r = s.post_ok("/shutdown", json!({})).await;
    assert_eq!(r, json!({"accepted": true}));
    let code = s.wait_exit(Duration::from_secs(3)).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    // sh dies of SIGHUP (128 + 1).
    assert_eq!(code, Some(129));
}
