//! WebSockets: `ws_connect`, the handshake and its failures, messages both ways, the
//! protocol's automatic behaviour (autoping, autoclose, heartbeat), close codes for every
//! rule the server can break, compression, limits, redirects, and the halves.
//!
//! The servers are [`WsServer`]s on loopback: the test decides every byte they send and
//! checks what they received (the frames the client sent, its close code).

use std::time::Duration;

use aiohttp::{BasicAuth, ClientSession, ClientWSTimeout, TcpConnector, WSMsgType};
use futures_util::{SinkExt, StreamExt};
use test_support::{full, ws_accept, HttpServer, WsFrame, WsServer};
use tokio::sync::mpsc;

fn ws_url(server: &test_support::RawServer, path: &str) -> String {
    server.url(path).replacen("http://", "ws://", 1)
}

/// A server that accepts, then reports every frame it reads to the test.
async fn recording(
    extra: &'static str,
) -> (test_support::RawServer, mpsc::UnboundedReceiver<WsFrame>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let server = WsServer::start(move |mut peer| {
        let tx = tx.clone();
        async move {
            if peer.accept(extra).await.is_err() {
                return;
            }
            while let Some(f) = peer.read_message().await {
                let close = f.opcode == 8;
                let _ = tx.send(f.clone());
                if close {
                    let _ = peer.send_close(f.close_code(), "").await;
                    return;
                }
            }
        }
    })
    .await;
    (server, rx)
}

async fn next_frame(rx: &mut mpsc::UnboundedReceiver<WsFrame>) -> WsFrame {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("the server got a frame in time")
        .expect("the server is running")
}

#[tokio::test]
async fn echo_text_binary_json_and_close() {
    let server = WsServer::echo("").await;
    let session = ClientSession::new();
    let mut ws = session
        .ws_connect(ws_url(&server, "/echo"))
        .await
        .expect("connect");
    assert_eq!(ws.protocol(), None);
    assert_eq!(
        ws.compress(),
        0,
        "the server did not take permessage-deflate"
    );
    assert!(ws.peer_addr().is_some());
    assert_eq!(
        ws.get_extra_info("peername"),
        ws.peer_addr().map(|a| a.to_string())
    );

    ws.send_str("héllo").await.expect("send");
    assert_eq!(ws.receive_str().await.expect("text"), "héllo");
    ws.send_bytes([0u8, 1, 2, 255]).await.expect("send");
    assert_eq!(
        &ws.receive_bytes().await.expect("binary")[..],
        &[0u8, 1, 2, 255]
    );
    ws.send_json(&serde_json::json!({"a": [1, 2]}))
        .await
        .expect("send");
    let v: serde_json::Value = ws.receive_json().await.expect("json");
    assert_eq!(v, serde_json::json!({"a": [1, 2]}));
    // A large message, in one frame each way.
    let big = "x".repeat(1 << 20);
    ws.send_str(&big).await.expect("send");
    assert_eq!(ws.receive_str().await.expect("big").len(), 1 << 20);

    // The wrong kind is a typed error.
    ws.send_str("text").await.expect("send");
    let err = ws.receive_bytes().await.expect_err("not binary");
    assert!(err.is_ws_message_type_error(), "{err:?}");

    assert!(ws.close(1000, b"bye").await.expect("close"));
    assert!(ws.closed());
    assert_eq!(ws.close_code(), Some(1000));
    assert!(!ws.close(1000, b"").await.expect("again"), "closed already");
    assert_eq!(ws.receive().await.kind, WSMsgType::Closed);
    assert!(ws.send_str("late").await.is_err());
    server.check();
}

#[tokio::test]
async fn the_upgrade_request_carries_session_headers_cookies_auth_and_options() {
    let (server, mut rx) = recording("Sec-WebSocket-Protocol: chat\r\n").await;
    let session = ClientSession::builder()
        .header("X-Session", "s")
        .cookies([("sid", "42")])
        .build()
        .expect("session");
    let mut ws = session
        .ws_connect(ws_url(&server, "/room"))
        .protocols(["chat", "superchat"])
        .origin("http://app.test")
        .params([("q", "1")])
        .auth(BasicAuth::new("user", "pass").expect("auth"))
        .header("X-Request", "r")
        .await
        .expect("connect");
    assert_eq!(ws.protocol(), Some("chat"));
    ws.send_str("ping?").await.expect("send");
    let f = next_frame(&mut rx).await;
    assert!(f.masked, "client frames are masked");
    assert_eq!((f.opcode, f.text()), (1, "ping?".to_string()));
    ws.close(1000, b"").await.expect("close");

    let reqs = server.requests();
    let r = &reqs[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/room?q=1"));
    assert_eq!(r.header("upgrade"), Some("websocket"));
    assert_eq!(r.header("connection"), Some("Upgrade"));
    assert_eq!(r.header("sec-websocket-version"), Some("13"));
    assert_eq!(r.header("sec-websocket-protocol"), Some("chat,superchat"));
    assert_eq!(r.header("origin"), Some("http://app.test"));
    assert_eq!(
        r.header("sec-websocket-extensions"),
        Some("permessage-deflate; client_max_window_bits")
    );
    assert_eq!(r.header("x-session"), Some("s"));
    assert_eq!(r.header("x-request"), Some("r"));
    assert_eq!(r.header("cookie"), Some("sid=42"));
    assert_eq!(r.header("authorization"), Some("Basic dXNlcjpwYXNz"));
    assert_eq!(r.header("sec-websocket-key").map(str::len), Some(24));
    assert_eq!(r.version, "HTTP/1.1");
}

#[tokio::test]
async fn a_protocol_the_server_chose_but_was_not_offered_is_none() {
    let server = WsServer::echo("Sec-WebSocket-Protocol: other\r\n").await;
    let ws = ClientSession::new()
        .ws_connect(ws_url(&server, "/"))
        .protocols(["chat"])
        .compress(0)
        .await
        .expect("connect");
    assert_eq!(ws.protocol(), None);
    // compress(0): nothing offered.
    assert_eq!(
        server.requests()[0].header("sec-websocket-extensions"),
        None
    );
}

#[tokio::test]
async fn handshake_failures_are_ws_server_handshake_errors() {
    // (what the server answers, what the error says)
    let wrong_key = WsServer::start(|mut peer| async move {
        let _ = peer
            .send_raw(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n")
            .await;
    })
    .await;
    let ok_200 = WsServer::start(|mut peer| async move {
        let _ = peer
            .send_raw(b"HTTP/1.1 200 OK\r\nSet-Cookie: seen=1\r\nContent-Length: 2\r\n\r\nno")
            .await;
    })
    .await;
    let no_upgrade = WsServer::start(|mut peer| async move {
        let key = peer.request.header("sec-websocket-key").unwrap_or("").to_string();
        let resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            ws_accept(&key)
        );
        let _ = peer.send_raw(resp.as_bytes()).await;
    })
    .await;
    let unoffered_ext = WsServer::start(|mut peer| async move {
        let _ = peer
            .accept("Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n")
            .await;
    })
    .await;
    let deflate_not_offered = WsServer::start(|mut peer| async move {
        let _ = peer
            .accept("Sec-WebSocket-Extensions: permessage-deflate\r\n")
            .await;
    })
    .await;
    let cases = [
        (&wrong_key, 15, "Invalid challenge response", 101),
        (&ok_200, 15, "Invalid response status", 200),
        (&no_upgrade, 15, "Invalid upgrade header", 101),
        (&unoffered_ext, 15, "not offered", 101),
        (&deflate_not_offered, 0, "not offered", 101),
    ];
    let session = ClientSession::builder()
        .cookie_jar(aiohttp::CookieJar::new().unsafe_(true))
        .build()
        .expect("session");
    for (server, compress, why, status) in cases {
        let err = session
            .ws_connect(ws_url(server, "/"))
            .compress(compress)
            .await
            .expect_err("the handshake fails");
        assert!(err.is_ws_server_handshake_error(), "{err:?}");
        assert!(err.is_client_response_error());
        assert!(err.to_string().contains(why), "{err}");
        assert_eq!(err.status().map(|s| s.as_u16()), Some(status));
        assert!(err.headers().is_some());
        assert!(err.request_info().is_some());
    }
    // The refused handshake's cookie still reached the jar.
    let url = aiohttp::Url::parse(&ok_200.url("/")).expect("url");
    assert!(session
        .cookie_jar()
        .filter_cookies(&url)
        .iter()
        .any(|c| c.name() == "seen"));
}

#[tokio::test]
async fn set_cookie_on_the_101_reaches_the_jar() {
    let server = WsServer::echo("Set-Cookie: ws=yes\r\n").await;
    let session = ClientSession::builder()
        .cookie_jar(aiohttp::CookieJar::new().unsafe_(true))
        .build()
        .expect("session");
    let _ws = session
        .ws_connect(ws_url(&server, "/"))
        .await
        .expect("connect");
    let url = aiohttp::Url::parse(&server.url("/")).expect("url");
    let cookies = session.cookie_jar().filter_cookies(&url);
    assert!(cookies
        .iter()
        .any(|c| c.name() == "ws" && c.value() == "yes"));
}

#[tokio::test]
async fn the_upgrade_follows_redirects() {
    let target = WsServer::echo("").await;
    let to = ws_url(&target, "/final").replacen("ws://", "http://", 1);
    let redirect = HttpServer::start(move |_req| {
        let to = to.clone();
        async move {
            http::Response::builder()
                .status(307)
                .header("location", to)
                .body(full(""))
                .expect("response")
        }
    })
    .await;
    let mut ws = ClientSession::new()
        .ws_connect(redirect.url("/start").replacen("http://", "ws://", 1))
        .await
        .expect("connect after a redirect");
    ws.send_str("after redirect").await.expect("send");
    assert_eq!(ws.receive_str().await.expect("echo"), "after redirect");
    let r = &target.requests()[0];
    assert_eq!(r.path, "/final");
    assert_eq!(r.header("upgrade"), Some("websocket"));
}

#[tokio::test]
async fn autoping_answers_pings_and_swallows_pongs() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = WsServer::start(move |mut peer| {
        let tx = tx.clone();
        async move {
            let _ = peer.accept("").await;
            let _ = peer.send(true, 0, 9, b"p1").await;
            let _ = peer.send(true, 0, 10, b"unsolicited").await;
            let _ = peer.send_text("after").await;
            while let Some(f) = peer.read_message().await {
                let _ = tx.send(f);
            }
        }
    })
    .await;
    let mut ws = ClientSession::new()
        .ws_connect(ws_url(&server, "/"))
        .await
        .expect("connect");
    // The ping and the pong are not returned; the text is.
    assert_eq!(ws.receive_str().await.expect("text"), "after");
    let f = next_frame(&mut rx).await;
    assert_eq!(
        (f.opcode, f.payload.as_slice()),
        (10, &b"p1"[..]),
        "the pong echoes the ping"
    );
}

#[tokio::test]
async fn without_autoping_pings_and_pongs_are_messages() {
    let server = WsServer::start(|mut peer| async move {
        let _ = peer.accept("").await;
        let _ = peer.send(true, 0, 9, b"p").await;
        let _ = peer.send(true, 0, 10, b"q").await;
        // Nothing may have answered the ping.
        if let Some(f) = peer.read_message().await {
            assert_eq!(f.opcode, 1, "no automatic pong: {f:?}");
        }
    })
    .await;
    let mut ws = ClientSession::new()
        .ws_connect(ws_url(&server, "/"))
        .autoping(false)
        .await
        .expect("connect");
    let m = ws.receive().await;
    assert_eq!((m.kind, &m.data[..]), (WSMsgType::Ping, &b"p"[..]));
    let m = ws.receive().await;
    assert_eq!((m.kind, &m.data[..]), (WSMsgType::Pong, &b"q"[..]));
    ws.send_str("done").await.expect("send");
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(ws);
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.check();
}

#[tokio::test]
async fn autoclose_answers_the_servers_close_with_its_code() {
    let mut close = 4001u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"going");
    let (server, mut rx) = hostile("", test_support::ws_frame_bytes(true, 0, 8, &close)).await;
    let mut ws = ClientSession::new()
        .ws_connect(ws_url(&server, "/"))
        .await
        .expect("connect");
    let m = ws.receive().await;
    assert_eq!(m.kind, WSMsgType::Close);
    assert_eq!(
        (m.close_code(), m.extra.as_deref()),
        (Some(4001), Some("going"))
    );
    assert!(ws.closed());
    assert_eq!(ws.close_code(), Some(4001));
    assert_eq!(ws.receive().await.kind, WSMsgType::Closed);
    let f = next_frame(&mut rx).await;
    assert_eq!((f.opcode, f.close_code()), (8, Some(4001)));
}

#[tokio::test]
async fn without_autoclose_the_caller_closes() {
    let mut close = 1001u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"");
    let (server, mut rx) = hostile("", test_support::ws_frame_bytes(true, 0, 8, &close)).await;
    let mut ws = ClientSession::new()
        .ws_connect(ws_url(&server, "/"))
        .autoclose(false)
        .await
        .expect("connect");
    assert_eq!(ws.receive().await.kind, WSMsgType::Close);
    assert!(!ws.closed(), "not answered yet");
    assert!(rx.try_recv().is_err(), "nothing sent yet");
    assert!(ws.close(1000, b"ok").await.expect("close"));
    let f = next_frame(&mut rx).await;
    assert_eq!(f.close_code(), Some(1000));
    assert_eq!(ws.close_code(), Some(1001), "the server's code");
}

#[tokio::test]
async fn close_waits_for_the_server_at_most_the_close_timeout() {
    let server = WsServer::start(|mut peer| async move {
        let _ = peer.accept("").await;
        // Reads the close frame and never answers.
        while peer.read_message().await.is_some() {}
    })
    .await;
    let mut ws = ClientSession::new()
        .ws_connect(ws_url(&server, "/"))
        .timeout(ClientWSTimeout {
            ws_receive: None,
            ws_close: Some(Duration::from_millis(200)),
        })
        .await
        .expect("connect");
    let started = std::time::Instant::now();
    assert!(ws.close(1000, b"").await.expect("close"));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(150) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(ws.close_code(), Some(1006));
    assert!(ws.exception().is_some_and(|e| e.is_timeout()));
}

#[tokio::test]
async fn heartbeat_without_pong_closes_with_1006_and_a_server_timeout() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = WsServer::start(move |mut peer| {
        let tx = tx.clone();
        async move {
            let _ = peer.accept("").await;
            // Never answers pings.
            while let Some(f) = peer.read_frame().await {
                let _ = tx.send(f);
            }
        }
    })
    .await;
    let mut ws = ClientSession::new()
        .ws_connect(ws_url(&server, "/"))
        .heartbeat(Duration::from_millis(100))
        .await
        .expect("connect");
    let started = std::time::Instant::now();
    let m = ws.receive().await;
    assert_eq!(m.kind, WSMsgType::Error);
    let err = m.error().expect("an error");
    assert!(
        err.is_timeout() && err.kind() == aiohttp::ErrorKind::ServerTimeoutError,
        "{err:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(140));
    assert_eq!(ws.close_code(), Some(1006));
    assert!(ws.closed());
    assert_eq!(next_frame(&mut rx).await.opcode, 9, "a ping went out");
}

#[tokio::test]
async fn heartbeat_with_pongs_keeps_the_connection() {
    let server = WsServer::start(|mut peer| async move {
        let _ = peer.accept("").await;
        let mut pings = 0;
        while let Some(f) = peer.read_frame().await {
            if f.opcode == 9 {
                pings += 1;
                let _ = peer.send(true, 0, 10, &f.payload).await;
                if pings == 3 {
                    let _ = peer.send_text("three pings").await;
                }
            }
        }
    })
    .await;
    let mut ws = ClientSession::new()
        .ws_connect(ws_url(&server, "/"))
        .heartbeat(Duration::from_millis(50))
        .await
        .expect("connect");
    assert_eq!(ws.receive_str().await.expect("text"), "three pings");
    assert!(!ws.closed());
}

#[tokio::test]
async fn receive_timeout_expires_one_receive_and_leaves_the_connection_usable() {
    let server = WsServer::start(|mut peer| async move {
        let _ = peer.accept("").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = peer.send_text("late").await;
        while peer.read_message().await.is_some() {}
    })
    .await;
    let mut ws = ClientSession::new()
        .ws_connect(ws_url(&server, "/"))
        .receive_timeout(Duration::from_millis(100))
        .await
        .expect("connect");
    let m = ws.receive().await;
    assert_eq!(m.kind, WSMsgType::Error);
    assert!(m.error().is_some_and(|e| e.is_timeout()));
    assert!(!ws.closed());
    let m = ws.receive_timeout(Duration::from_secs(5)).await;
    assert_eq!(m.text(), Some("late"));
}

/// A server that sends `bytes` after the handshake (with `extra` header lines) and reports
/// the close frame it gets back.
async fn hostile(
    extra: &'static str,
    bytes: Vec<u8>,
) -> (test_support::RawServer, mpsc::UnboundedReceiver<WsFrame>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let server = WsServer::start(move |mut peer| {
        let (tx, bytes) = (tx.clone(), bytes.clone());
        async move {
            let _ = peer.accept(extra).await;
            let _ = peer.send_raw(&bytes).await;
            while let Some(f) = peer.read_frame().await {
                let _ = tx.send(f);
            }
        }
    })
    .await;
    (server, rx)
}

#[tokio::test]
async fn protocol_violations_close_with_their_codes() {
    use test_support::ws_frame_bytes as fb;
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "RSV1 without permessage-deflate",
            fb(true, 4, 1, b"x"),
            1002,
        ),
        ("RSV2", fb(true, 2, 2, b"x"), 1002),
        ("reserved opcode 3", fb(true, 0, 3, b"x"), 1002),
        ("reserved opcode 11", fb(true, 0, 11, b""), 1002),
        ("invalid UTF-8", fb(true, 0, 1, &[0xce, 0xba, 0xff]), 1007),
        (
            "close code 1005",
            fb(true, 0, 8, &1005u16.to_be_bytes()),
            1002,
        ),
        (
            "close code 1006",
            fb(true, 0, 8, &1006u16.to_be_bytes()),
            1002,
        ),
        (
            "close code 999",
            fb(true, 0, 8, &999u16.to_be_bytes()),
            1002,
        ),
        ("fragmented ping", fb(false, 0, 9, b""), 1002),
        ("continuation first", fb(true, 0, 0, b"x"), 1002),
    ];
    for (what, bytes, code) in cases {
        let (server, mut rx) = hostile("", bytes).await;
        let mut ws = ClientSession::new()
            .ws_connect(ws_url(&server, "/"))
            .compress(0)
            .await
            .expect("connect");
        let m = ws.receive().await;
        assert_eq!(m.kind, WSMsgType::Error, "{what}");
        let err = m.error().expect("error");
        assert!(err.is_websocket_error(), "{what}: {err:?}");
        assert_eq!(err.ws_close_code(), Some(code), "{what}");
        assert_eq!(ws.close_code(), Some(code), "{what}");
        assert!(ws.closed(), "{what}");
        let f = next_frame(&mut rx).await;
        assert_eq!(
            (f.opcode, f.close_code()),
            (8, Some(code)),
            "{what}: the close frame sent"
        );
    }
}

#[tokio::test]
async fn a_64_mib_message_over_the_default_limit_closes_with_1009() {
    // Only the header is needed: the client refuses it before reading the payload.
    let mut bytes = vec![0x82, 127];
    bytes.extend_from_slice(&(64u64 << 20).to_be_bytes());
    bytes.extend_from_slice(&[0u8; 1024]);
    let (server, mut rx) = hostile("", bytes).await;
    let mut ws = ClientSession::new()
        .ws_connect(ws_url(&server, "/"))
        .await
        .expect("connect");
    let m = ws.receive().await;
    assert_eq!(m.error().and_then(|e| e.ws_close_code()), Some(1009));
    assert_eq!(next_frame(&mut rx).await.close_code(), Some(1009));
}

#[tokio::test]
async fn a_fragmented_message_over_the_limit_closes_with_1009() {
    use test_support::ws_frame_bytes as fb;
    let bytes = [fb(false, 0, 2, &[0; 600]), fb(true, 0, 0, &[0; 600])].concat();
    let (server, mut rx) = hostile("", bytes).await;
    let mut ws = ClientSession::new()
        .ws_connect(ws_url(&server, "/"))
        .max_msg_size(1000)
        .await
        .expect("connect");
    assert_eq!(
        ws.receive().await.error().and_then(|e| e.ws_close_code()),
        Some(1009)
    );
    assert_eq!(next_frame(&mut rx).await.close_code(), Some(1009));
}

#[tokio::test]
async fn a_deflate_bomb_is_stopped_at_the_limit() {
    let server = WsServer::start(|mut peer| async move {
        let _ = peer
            .accept("Sec-WebSocket-Extensions: permessage-deflate\r\n")
            .await;
        // 64 MiB of zeros, compressed to a few tens of kilobytes.
        let _ = peer.send_compressed(2, &vec![0u8; 64 << 20]).await;
        while peer.read_frame().await.is_some() {}
    })
    .await;
    let mut ws = ClientSession::new()
        .ws_connect(ws_url(&server, "/"))
        .max_msg_size(1 << 20)
        .await
        .expect("connect");
    assert_eq!(ws.compress(), 15);
    let m = ws.receive().await;
    assert_eq!(
        m.error().and_then(|e| e.ws_close_code()),
        Some(1009),
        "{m:?}"
    );
}

#[tokio::test]
async fn compressed_messages_both_ways() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = WsServer::start(move |mut peer| {
        let tx = tx.clone();
        async move {
            let _ = peer
                .accept("Sec-WebSocket-Extensions: permessage-deflate\r\n")
                .await;
            let _ = peer
                .send_compressed(1, "compressed hello ".repeat(100).as_bytes())
                .await;
            let _ = peer.send_compressed(1, b"second, same context").await;
            // What the client sent: the raw frame (RSV1 set) and its text.
            while let Some(f) = peer.read_frame().await {
                let _ = tx.send(f);
            }
        }
    })
    .await;
    let mut ws = ClientSession::new()
        .ws_connect(ws_url(&server, "/"))
        .await
        .expect("connect");
    assert_eq!(ws.compress(), 15);
    assert_eq!(
        ws.receive_str().await.expect("1"),
        "compressed hello ".repeat(100)
    );
    assert_eq!(ws.receive_str().await.expect("2"), "second, same context");
    let text = "to the server ".repeat(200);
    ws.send_str(&text).await.expect("send");
    let f = next_frame(&mut rx).await;
    assert!(f.rsv1, "the client compressed its message");
    assert!(
        f.payload.len() < text.len() / 4,
        "{} bytes",
        f.payload.len()
    );
    // Not compressed when asked not to.
    ws.send_frame(b"plain", WSMsgType::Text, Some(false))
        .await
        .expect("send");
    let f = next_frame(&mut rx).await;
    assert!(!f.rsv1 && f.payload == b"plain");
}

#[tokio::test]
async fn a_server_that_closes_mid_message_is_a_disconnect() {
    use test_support::ws_frame_bytes as fb;
    let server = WsServer::start(|mut peer| async move {
        let _ = peer.accept("").await;
        let mut f = fb(true, 0, 2, &[7u8; 1000]);
        f.truncate(500);
        let _ = peer.send_raw(&f).await;
        peer.shutdown().await;
    })
    .await;
    let mut ws = ClientSession::new()
        .ws_connect(ws_url(&server, "/"))
        .await
        .expect("connect");
    let m = ws.receive().await;
    assert_eq!(m.kind, WSMsgType::Error);
    assert!(
        m.error().is_some_and(|e| e.is_server_disconnected()),
        "{m:?}"
    );
    assert_eq!(ws.close_code(), Some(1006));
    assert_eq!(ws.receive().await.kind, WSMsgType::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_websocket_counts_against_the_limit_until_closed() {
    let server = WsServer::echo("").await;
    let http = HttpServer::start(|_req| async { http::Response::new(full("ok")) }).await;
    let session = ClientSession::builder()
        .connector(TcpConnector::builder().limit(1).build().expect("connector"))
        .build()
        .expect("session");
    let mut ws = session
        .ws_connect(ws_url(&server, "/"))
        .await
        .expect("connect");
    let stats = session.connector().pool().stats();
    assert_eq!((stats.open, stats.in_use, stats.idle), (1, 1, 0));
    // The one slot is the WebSocket's: a request waits.
    let waiting =
        tokio::time::timeout(Duration::from_millis(200), session.get(http.url("/"))).await;
    assert!(waiting.is_err(), "the request waited for the slot");
    ws.close(1000, b"").await.expect("close");
    let mut resp = tokio::time::timeout(Duration::from_secs(5), session.get(http.url("/")))
        .await
        .expect("the slot is free once the WebSocket closed")
        .expect("response");
    assert_eq!(resp.text().await.expect("body"), "ok");
    // A WebSocket's connection never goes back to the pool.
    assert_eq!(server.connections_accepted(), 1);
    drop(resp);
    let stats = session.connector().pool().stats();
    assert_eq!(
        (stats.open, stats.in_use),
        (1, 0),
        "only the HTTP connection, idle"
    );
}

#[tokio::test]
async fn halves_work_from_two_tasks_with_stream_and_sink() {
    let server = WsServer::echo("").await;
    let ws = ClientSession::new()
        .ws_connect(ws_url(&server, "/"))
        .await
        .expect("connect");
    let (mut rx, mut tx) = ws.split();
    let sender = tokio::spawn(async move {
        for i in 0..10 {
            tx.send(aiohttp::WSMessage::new_text(format!("m{i}")))
                .await?;
        }
        tx.send_bytes(b"end").await?;
        Ok::<_, aiohttp::ClientError>(tx)
    });
    let mut got = Vec::new();
    while let Some(m) = rx.next().await {
        if m.kind == WSMsgType::Binary {
            break;
        }
        got.push(m.text().expect("text").to_string());
    }
    assert_eq!(got, (0..10).map(|i| format!("m{i}")).collect::<Vec<_>>());
    let mut tx = sender.await.expect("task").expect("sends");
    // Closing the sink sends the close frame; the server answers; the stream ends.
    SinkExt::close(&mut tx).await.expect("close");
    let rest: Vec<_> = tokio::time::timeout(Duration::from_secs(5), rx.collect::<Vec<_>>())
        .await
        .expect("the stream ends");
    assert!(rest.is_empty(), "{rest:?}");
    assert!(tx.closed());
}

#[tokio::test]
async fn a_non_websocket_url_and_a_bad_compress_value_are_rejected() {
    let s = ClientSession::new();
    let err = s.ws_connect("ftp://127.0.0.1/").await.expect_err("scheme");
    assert!(err.is_invalid_url(), "{err:?}");
    let err = s
        .ws_connect("ws://127.0.0.1:9/")
        .compress(8)
        .await
        .expect_err("compress");
    assert!(err.is_invalid_argument(), "{err:?}");
}

/// A TLS WebSocket server with a self-signed certificate for `localhost` that prefers h2 by
/// ALPN: for each connection it reports the ALPN protocol chosen and the request head, and
/// echoes one small text frame. Returns the port, the certificate, and the reports.
async fn wss_server() -> (
    u16,
    rustls::pki_types::CertificateDer<'static>,
    mpsc::UnboundedReceiver<(Option<Vec<u8>>, String)>,
) {
    use rcgen::{CertificateParams, KeyPair};
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    let der = cert.der().clone();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![der.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("server config");
    // The server prefers h2, as most do.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake here.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    let mut b = [0u8; 1];
                    match tls.read(&mut b).await {
                        Ok(1) => head.push(b[0]),
                        _ => return,
                    }
                }
                let text = String::from_utf8_lossy(&head).to_string();
                let key = text
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("sec-websocket-key")
                            .then(|| v.trim().to_string())
                    })
                    .unwrap_or_default();
                let resp = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                    ws_accept(&key)
                );
                let _ = tx.send((alpn, text));
                if tls.write_all(resp.as_bytes()).await.is_err() {
                    return;
                }
                // Echo one small masked text frame back unmasked.
                let mut hdr = [0u8; 6];
                if tls.read_exact(&mut hdr).await.is_err() {
                    return;
                }
                let len = usize::from(hdr[1] & 0x7f);
                let mut payload = vec![0u8; len];
                if tls.read_exact(&mut payload).await.is_err() {
                    return;
                }
                for (i, b) in payload.iter_mut().enumerate() {
                    *b ^= hdr[2 + i % 4];
                }
                let mut out = vec![0x81, len as u8];
                out.extend_from_slice(&payload);
                let _ = tls.write_all(&out).await;
                let _ = tls.flush().await;
                // Hold the connection until the client goes.
                let _ = tls.read(&mut [0u8; 64]).await;
            });
        }
    });
    (port, der, rx)
}

#[tokio::test]
async fn wss_to_an_h2_capable_server_speaks_http11() {
    use std::sync::Arc;
    let (port, der, mut seen) = wss_server().await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).expect("root");
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let session = ClientSession::builder()
        .connector(
            TcpConnector::builder()
                .ssl_context(client)
                .build()
                .expect("connector"),
        )
        .build()
        .expect("session");
    let mut ws = session
        .ws_connect(format!("wss://localhost:{port}/secure"))
        .compress(0)
        .await
        .expect("wss connect");
    assert_eq!(
        ws.get_extra_info("alpn_protocol").as_deref(),
        Some("http/1.1")
    );
    assert!(ws
        .get_extra_info("tls_version")
        .is_some_and(|v| v.starts_with("TLS")));
    assert!(ws.tls().is_some_and(|t| !t.cipher().is_empty()));
    ws.send_str("over tls").await.expect("send");
    assert_eq!(ws.receive_str().await.expect("echo"), "over tls");
    let (alpn, head) = seen.recv().await.expect("the server saw the upgrade");
    assert_eq!(
        alpn.as_deref(),
        Some(&b"http/1.1"[..]),
        "only http/1.1 was offered"
    );
    assert!(head.starts_with("GET /secure HTTP/1.1\r\n"), "{head}");
}

#[tokio::test]
async fn wss_with_the_per_connection_ssl_choice() {
    use sha2::Digest;
    let (port, der, mut seen) = wss_server().await;
    let url = format!("wss://localhost:{port}/");
    let session = ClientSession::new();
    // Verified against the system roots: the self-signed certificate is refused.
    let err = session
        .ws_connect(&url)
        .await
        .expect_err("untrusted certificate");
    assert!(err.is_client_ssl_error(), "{err:?}");
    // Verification off for this connection only.
    let mut ws = session
        .ws_connect(&url)
        .ssl(false)
        .await
        .expect("ssl(false)");
    ws.send_str("unverified").await.expect("send");
    assert_eq!(ws.receive_str().await.expect("echo"), "unverified");
    // The right fingerprint pins the certificate; a wrong one fails before the upgrade.
    let pin = sha2::Sha256::digest(der.as_ref()).to_vec();
    let mut ws = session
        .ws_connect(&url)
        .ssl(aiohttp::Ssl::fingerprint(pin).expect("pin"))
        .await
        .expect("pinned");
    ws.send_str("pinned").await.expect("send");
    assert_eq!(ws.receive_str().await.expect("echo"), "pinned");
    let err = session
        .ws_connect(&url)
        .ssl(aiohttp::Ssl::fingerprint(vec![0u8; 32]).expect("pin"))
        .await
        .expect_err("wrong pin");
    assert!(err.is_server_fingerprint_mismatch(), "{err:?}");
    // Two upgrades reached the server (the refused handshakes never did).
    assert!(seen.recv().await.is_some() && seen.recv().await.is_some());
    assert!(seen.try_recv().is_err());
}
