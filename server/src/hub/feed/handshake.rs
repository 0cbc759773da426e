//! The state feed's WebSocket handshake over plain TCP.
//!
//! tungstenite's own client handshake reads the reply into a 4 KiB buffer and hands that very
//! allocation to the connection as its read buffer, whatever size the connection asks for. The
//! inbox holds a feed per session, so at ten thousand sessions that is 40 MiB of buffers for
//! frames of a few hundred bytes. Here the upgrade is written and its reply read on the bare
//! socket, and the connection starts with a read buffer of the feed's size (docs/architecture.md,
//! "What a session costs"). `wss://` upstreams are left to tungstenite.

use crate::hub::bridge::upstream::{connect_reading, websocket_config, Socket};
use crate::hub::bridge::BridgeError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::{error::ProtocolError, http, Error as WsError};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Largest upgrade reply head read (bytes).
const HEAD_BYTES: usize = 16 << 10;
/// Headers parsed in the reply (count).
const MAX_HEADERS: usize = 32;

/// Connects to `url` (`ws://` or `wss://`) with a read buffer of `read_buffer_bytes`.
pub(super) async fn connect(url: &str, read_buffer_bytes: usize) -> Result<Socket, BridgeError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| BridgeError::Url(e.to_string()))?;
    let (Some(host), Some(port)) = (parsed.host_str(), parsed.port_or_known_default()) else {
        return Err(BridgeError::Url("no host".to_owned()));
    };
    if parsed.scheme() != "ws" || !parsed.username().is_empty() || parsed.password().is_some() {
        return connect_reading(url, Some(read_buffer_bytes)).await;
    }
    let mut tcp = TcpStream::connect((host.trim_start_matches('[').trim_end_matches(']'), port))
        .await
        .map_err(WsError::Io)?;
    // No Nagle, as for every upstream WebSocket (a ping must not wait for a delayed ACK).
    tcp.set_nodelay(true).map_err(WsError::Io)?;
    let key = generate_key();
    let authority = match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let target = match parsed.query() {
        Some(query) => format!("{}?{query}", parsed.path()),
        None => parsed.path().to_owned(),
    };
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
    );
    tcp.write_all(request.as_bytes())
        .await
        .map_err(WsError::Io)?;
    let tail = read_reply(&mut tcp, &key).await?;
    let stream = MaybeTlsStream::Plain(tcp);
    let config = websocket_config(Some(read_buffer_bytes));
    Ok(WebSocketStream::from_partially_read(stream, tail, Role::Client, Some(config)).await)
}

/// Reads the upgrade reply; returns what followed its head (the first frames, if any), in a
/// vector of its own size.
async fn read_reply(tcp: &mut TcpStream, key: &str) -> Result<Vec<u8>, BridgeError> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        if buf.len() >= HEAD_BYTES {
            return Err(WsError::Protocol(ProtocolError::HandshakeIncomplete).into());
        }
        let mut chunk = [0u8; 1024];
        let n = tcp.read(&mut chunk).await.map_err(WsError::Io)?;
        if n == 0 {
            return Err(WsError::Protocol(ProtocolError::HandshakeIncomplete).into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut reply = httparse::Response::new(&mut headers);
        let head_len = match reply.parse(&buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => continue,
            Err(_) => return Err(WsError::Protocol(ProtocolError::HandshakeIncomplete).into()),
        };
        let code = reply.code.unwrap_or(0);
        if code != 101 {
            // Any other answer: no coop `/ws` there (the caller tells this case apart).
            let status = http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::BAD_GATEWAY);
            let mut answer = http::Response::new(None);
            *answer.status_mut() = status;
            return Err(WsError::Http(Box::new(answer)).into());
        }
        let accept = reply
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept"))
            .map(|h| h.value);
        if accept != Some(derive_accept_key(key.as_bytes()).as_bytes()) {
            return Err(WsError::Protocol(ProtocolError::SecWebSocketAcceptKeyMismatch).into());
        }
        return Ok(buf[head_len..].to_vec());
    }
}
