//! Real shells on real PTYs: typing, keys, resize, colours, alternate screen.

use crate::support::procs::has_child_named;
use crate::support::{eventually, screen_has, Session, WAIT};
use base64::Engine as _;
use serde_json::{json, Value};

const BASH: [&str; 3] = ["bash", "--norc", "--noprofile"];

fn decode(frame: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(frame["data"].as_str().expect("data"))
        .expect("base64")
}

#[tokio::test]
async fn typed_input_appears_on_screen_and_in_pty_frames() {
    let s = Session::start(&[], &["sh"]).await;
    let mut ws = s.ws("subscribe=pty").await;
    // A reply proves the connection streams: output before that would not be sent to it.
    let pong = ws.request(json!({"event": "ping"}), json!("live")).await;
    assert_eq!(pong["event"], "pong");
    // Typing before the first prompt would put the prompt between the echo and the output.
    s.wait_text("$").await;
    s.type_line("echo hel''lo-world").await;
    s.wait_text("hello-world").await;
    // The echo of the typed line and the command's output both arrive as pty frames with
    // contiguous offsets.
    let mut seen = Vec::new();
    let mut next: Option<u64> = None;
    while !String::from_utf8_lossy(&seen).contains("\nhello-world") {
        let frame = ws.wait_event("pty").await;
        let offset = frame["offset"].as_u64().expect("offset");
        if let Some(n) = next {
            assert_eq!(offset, n, "pty frames are contiguous");
        }
        let data = decode(&frame);
        next = Some(offset + data.len() as u64);
        seen.extend(data);
    }
    let text = s.get_ok("/screen").await;
    assert_eq!(text["cols"], 80);
    assert_eq!(text["rows"], 24);
    let plain = s
        .http
        .get(s.api("/screen/text"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(plain.contains("hello-world"), "{plain}");
}

#[tokio::test]
async fn keys_move_the_cursor_recall_history_and_interrupt() {
    let s = Session::start(&[], &BASH).await;
    // Typing before the first prompt would put the echo and the prompt on other lines.
    s.wait_text("$").await;
    // Left arrow inserts in the middle of the line.
    s.post_ok("/input", json!({"text": "echo a-c"})).await;
    s.post_ok("/input/keys", json!({"keys": ["left", "backspace"]}))
        .await;
    s.post_ok("/input", json!({"text": "B"})).await;
    let r = s.post_ok("/input/keys", json!({"keys": ["Enter"]})).await;
    assert_eq!(r["bytes_written"], 1);
    s.wait_screen(WAIT, |sc| lines(sc).iter().any(|l| l == "aBc"))
        .await;
    // Up recalls the last command.
    s.post_ok("/input/keys", json!({"keys": ["up", "return"]}))
        .await;
    s.wait_screen(WAIT, |sc| {
        lines(sc).iter().filter(|l| *l == "aBc").count() == 2
    })
    .await;
    // Ctrl-C interrupts a foreground job and the prompt comes back.
    let shell = s.get_ok("/health").await["pid"].as_u64().unwrap() as u32;
    s.type_line("sleep 30; echo not-interrupted").await;
    // Ctrl-C must reach the running job, not the line being typed.
    eventually("the foreground sleep", || async {
        has_child_named(shell, "sleep").then_some(())
    })
    .await;
    s.post_ok("/input/keys", json!({"keys": ["ctrl-c"]})).await;
    s.type_line("echo after-$((40+2))").await;
    let screen = s.wait_text("after-42").await;
    assert!(!lines(&screen).iter().any(|l| l == "not-interrupted"));
}

fn lines(screen: &Value) -> Vec<String> {
    screen["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().trim_end().to_owned())
        .collect()
}

#[tokio::test]
async fn resize_changes_what_stty_prints() {
    let s = Session::start(&["--cols", "100", "--rows", "30"], &["sh"]).await;
    // Typing before the first prompt would put the echo and the prompt on other lines.
    s.wait_text("$").await;
    s.type_line("stty size").await;
    s.wait_screen(WAIT, |sc| lines(sc).iter().any(|l| l == "30 100"))
        .await;
    let r = s.post_ok("/resize", json!({"cols": 120, "rows": 40})).await;
    assert_eq!(r, json!({"cols": 120, "rows": 40}));
    s.type_line("stty size").await;
    let screen = s
        .wait_screen(WAIT, |sc| lines(sc).iter().any(|l| l == "40 120"))
        .await;
    assert_eq!(screen["cols"], 120);
    assert_eq!(screen["rows"], 40);
    // Over the WebSocket too, with the reply carrying the request_id.
    let mut ws = s.ws("").await;
    let reply = ws
        .request(json!({"event":"resize","cols":90,"rows":20}), json!(7))
        .await;
    assert_eq!(
        reply,
        json!({"event":"resized","cols":90,"rows":20,"request_id":7})
    );
    s.type_line("stty size").await;
    s.wait_screen(WAIT, |sc| lines(sc).iter().any(|l| l == "20 90"))
        .await;
}

#[tokio::test]
async fn colours_and_alternate_screen_show_in_ansi_and_alt_screen() {
    let s = Session::start(&[], &["sh"]).await;
    let mut ws = s.ws("subscribe=screen").await;
    // Typing before the first prompt would put the echo and the prompt on other lines.
    s.wait_text("$").await;
    s.type_line(r"printf '\033[1;31mRED\033[0m \033[42mGRN\033[0m\n'")
        .await;
    let screen = s.wait_text("RED GRN").await;
    let ansi: Vec<&str> = screen["ansi"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        ansi.iter()
            .any(|l| l.ends_with("\x1b[0;1;31mRED\x1b[0m \x1b[0;42mGRN\x1b[0m")),
        "{ansi:#?}"
    );
    assert_eq!(screen["alt_screen"], false);
    s.type_line(r"printf '\033[?1049h\033[HALT-SCREEN'; sleep 1; printf '\033[?1049l'")
        .await;
    // The screen push shows the alternate screen while it is up, then the normal one again.
    let alt = ws
        .wait_for(WAIT, |f| f["event"] == "screen" && f["alt_screen"] == true)
        .await;
    assert!(screen_has(&alt, "ALT-SCREEN"));
    assert!(!screen_has(&alt, "RED GRN"));
    let back = ws
        .wait_for(WAIT, |f| f["event"] == "screen" && f["alt_screen"] == false)
        .await;
    assert!(screen_has(&back, "RED GRN"));
    assert!(back["seq"].as_u64() > alt["seq"].as_u64());
}

#[tokio::test]
async fn arrows_stay_csi_in_application_mode_and_coop_key_names_work() {
    // The program asks for application cursor keys, then prints the bytes it receives in hex.
    let script = r"printf '\033[?1h'; stty raw -echo; echo ready; head -c 17 | od -An -tx1 | tr -d ' \n'; echo; echo done";
    let s = Session::start(&[], &["sh", "-c", script]).await;
    s.wait_text("ready").await;
    let keys =
        json!({"keys": ["up", "page_up", "Page_Down", "ctrl+a", "ctrl-c", "ctrl_z", "left"]});
    let r = s.post_ok("/input/keys", keys).await;
    assert_eq!(r["bytes_written"], 3 + 4 + 4 + 1 + 1 + 1 + 3);
    let screen = s.wait_text("done").await;
    // ESC [ A, ESC [ 5 ~, ESC [ 6 ~, ^A ^C ^Z, ESC [ D: never ESC O A.
    let want = "1b5b41 1b5b357e 1b5b367e 01031a 1b5b44".replace(' ', "");
    assert!(
        lines(&screen).iter().any(|l| l.trim_start() == want),
        "{screen:#}"
    );
}
