//! WebSocket interop against two real third-party servers, started by `scripts/interop.sh`,
//! which sets the variables below and runs these with `--ignored`: an echo server on the
//! websockets library (`scripts/ws_echo_websockets.py`) and one on aiohttp.web
//! (`scripts/ws_echo_aiohttp.py`). Every test runs against both: `websockets_server::NAME`
//! and `aiohttp_server::NAME`.
//!
//! For each server `S` (`WEBSOCKETS`, `AIOHTTP`):
//! - `AIOHTTP_WS_S_URL`: `ws://127.0.0.1:PORT`, permessage-deflate enabled;
//! - `AIOHTTP_WS_S_NOCOMP_URL`: `ws://127.0.0.1:PORT`, compression disabled;
//! - `AIOHTTP_WS_S_TLS_URL`: `wss://127.0.0.1:PORT`, with a certificate (for localhost,
//!   127.0.0.1 and ::1) that chains to the CA in `AIOHTTP_INTEROP_CA`;
//! - `AIOHTTP_WS_S_V6_URL`: `ws://[::1]:PORT`;
//! - `AIOHTTP_WS_S_UNIX`: the path of a UNIX socket.
//!
//! The servers' paths are described in `scripts/ws_echo_common.py`: `/echo`, `/headers` (the
//! upgrade request as JSON), `/subprotocol`, `/close`, `/last-close`, `/ping`, `/setcookie`.
//! Without the variables the tests fail loudly rather than pass without checking anything.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aiohttp::rustls;
use aiohttp::{
    BasicAuth, ClientSession, ClientWebSocketResponse, CookieJar, Ssl, TcpConnector, WSMessage,
    WSMsgType,
};
use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::{json, Value};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set; run scripts/interop.sh"))
}

/// Runs `f`, failing the test if it is not done within `secs` seconds.
async fn within<F: Future>(secs: u64, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .unwrap_or_else(|_| panic!("not done within {secs}s"))
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Server {
    Websockets,
    Aiohttp,
}

impl Server {
    /// What the server calls itself in `/headers`' `server` field.
    fn name(self) -> &'static str {
        match self {
            Server::Websockets => "websockets",
            Server::Aiohttp => "aiohttp",
        }
    }

    fn var(self, key: &str) -> String {
        env(&format!(
            "AIOHTTP_WS_{}_{key}",
            self.name().to_ascii_uppercase()
        ))
    }

    /// `path` (with its query) on the ws listener with compression.
    fn url(self, path: &str) -> String {
        format!("{}{path}", self.var("URL"))
    }

    /// `path` on the ws listener without compression.
    fn nocomp_url(self, path: &str) -> String {
        format!("{}{path}", self.var("NOCOMP_URL"))
    }

    /// `path` on the wss listener.
    fn tls_url(self, path: &str) -> String {
        format!("{}{path}", self.var("TLS_URL"))
    }

    /// `path` on the ws listener at [::1].
    fn v6_url(self, path: &str) -> String {
        format!("{}{path}", self.var("V6_URL"))
    }

    fn unix_path(self) -> String {
        self.var("UNIX")
    }

    /// The code the server answers a client's close frame with: websockets echoes the
    /// client's code, aiohttp.web answers 1000 whatever the client sent.
    fn close_reply(self, sent: u16) -> u16 {
        match self {
            Server::Websockets => sent,
            Server::Aiohttp => 1000,
        }
    }
}

/// A rustls configuration trusting only the interop CA, offering http/1.1.
fn ca_config() -> rustls::ClientConfig {
    let path = env("AIOHTTP_INTEROP_CA");
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&path).expect("CA file") {
        roots.add(cert.expect("CA certificate")).expect("root");
    }
    assert!(!roots.is_empty(), "no certificate in {path}");
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

async fn connect(s: &ClientSession, url: &str) -> ClientWebSocketResponse {
    s.ws_connect(url)
        .await
        .unwrap_or_else(|e| panic!("ws_connect {url}: {e:?}"))
}

/// Sends a text and a binary message and checks both come back as sent.
async fn echo_round_trip(ws: &mut ClientWebSocketResponse, tag: &str) {
    ws.send_str(format!("text {tag}")).await.expect("send_str");
    assert_eq!(
        ws.receive_str().await.expect("receive_str"),
        format!("text {tag}")
    );
    let bin = format!("\x00\u{1}binary {tag}\u{ff}").into_bytes();
    ws.send_bytes(bin.clone()).await.expect("send_bytes");
    assert_eq!(
        ws.receive_bytes().await.expect("receive_bytes").as_ref(),
        &bin[..]
    );
}

/// Closes with 1000 and checks the close handshake completed.
async fn close_normally(ws: &mut ClientWebSocketResponse) {
    assert!(
        ws.close(1000, b"").await.expect("close"),
        "close() closed it"
    );
    assert!(ws.closed());
    assert_eq!(ws.close_code(), Some(1000));
}

/// The `/headers` report: the server's view of the upgrade request.
async fn report(ws: &mut ClientWebSocketResponse) -> Value {
    let v: Value = ws.receive_json().await.expect("the /headers report");
    assert!(v["headers"].is_object(), "{v}");
    v
}

/// A window-bits parameter (`server_max_window_bits` or `client_max_window_bits`) of the
/// server's 101 response, 15 when it is not named; `None` without permessage-deflate.
fn granted_bits(report: &Value, param: &str) -> Option<u8> {
    let ext = report["extensions"].as_str()?;
    assert!(ext.starts_with("permessage-deflate"), "{report}");
    let prefix = format!("{param}=");
    let bits = ext
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix(prefix.as_str()))
        .map_or(15, |n| n.parse().expect("window bits"));
    Some(bits)
}

/// Deterministic, incompressible bytes (xorshift64*).
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        out.extend_from_slice(&seed.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A marker unique to this run, for the server's close log.
fn nonce(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{tag}-{}-{nanos}", std::process::id())
}

// ---- the tests, each run against both servers ----

async fn echo_text_binary_json(server: Server) {
    within(30, async {
        let s = ClientSession::new();
        let mut ws = connect(&s, &server.url("/echo")).await;
        assert_eq!(ws.protocol(), None);
        echo_round_trip(&mut ws, "plain").await;

        for text in ["é ü – 漢字 🦀", "a\nb\tc"] {
            ws.send_str(text).await.expect("send_str");
            let msg = ws.receive().await;
            assert_eq!(msg.kind, WSMsgType::Text, "{msg:?}");
            assert_eq!(msg.text(), Some(text));
            assert_eq!(msg.data.as_ref(), text.as_bytes());
        }
        let value = json!({"a": 1, "list": [1, 2, {"b": null}], "s": "é"});
        ws.send_json(&value).await.expect("send_json");
        assert_eq!(
            ws.receive_json::<Value>().await.expect("receive_json"),
            value
        );

        ws.send_frame(b"framed", WSMsgType::Text, None)
            .await
            .expect("send_frame text");
        assert_eq!(ws.receive_str().await.expect("framed text"), "framed");
        ws.send_frame(b"\x01\x02", WSMsgType::Binary, None)
            .await
            .expect("send_frame binary");
        assert_eq!(
            ws.receive_bytes().await.expect("framed binary").as_ref(),
            b"\x01\x02"
        );
        // A frame sent uncompressed on a connection that negotiated compression.
        assert_ne!(ws.compress(), 0);
        ws.send_frame("uncompressed ".repeat(100), WSMsgType::Text, Some(false))
            .await
            .expect("send_frame uncompressed");
        assert_eq!(
            ws.receive_str().await.expect("uncompressed back"),
            "uncompressed ".repeat(100)
        );

        // A ping is answered by the server (the pong is absorbed with autoping); the
        // connection goes on.
        ws.ping(b"are you there").await.expect("ping");
        echo_round_trip(&mut ws, "after ping").await;

        // A text message asked for as bytes is an error, not a panic.
        ws.send_str("not binary").await.expect("send_str");
        assert!(ws.receive_bytes().await.is_err());

        close_normally(&mut ws).await;
        assert!(
            !ws.close(1000, b"").await.expect("second close"),
            "already closed"
        );
        assert!(ws.send_str("late").await.is_err(), "send after close");
    })
    .await;
}

async fn empty_messages(server: Server) {
    within(30, async {
        let s = ClientSession::new();
        for (url, compress) in [
            (server.url("/echo"), 15),
            (server.url("/echo"), 0),
            (server.nocomp_url("/echo"), 15),
        ] {
            let mut ws = s
                .ws_connect(url.as_str())
                .compress(compress)
                .await
                .unwrap_or_else(|e| panic!("{url}: {e:?}"));
            // Empty messages first, between others, and twice in a row: with permessage-deflate
            // each must still carry a valid deflate block (RFC 7692 7.2.3.6).
            for (i, text) in ["", "x", "", "", "yy", ""].into_iter().enumerate() {
                ws.send_str(text).await.expect("send_str");
                let msg = ws.receive().await;
                assert_eq!(
                    msg.kind,
                    WSMsgType::Text,
                    "{url} compress({compress}) #{i}: {msg:?}"
                );
                assert_eq!(msg.text(), Some(text));
                ws.send_bytes(text.as_bytes()).await.expect("send_bytes");
                let msg = ws.receive().await;
                assert_eq!(
                    msg.kind,
                    WSMsgType::Binary,
                    "{url} compress({compress}) #{i}: {msg:?}"
                );
                assert_eq!(msg.data.as_ref(), text.as_bytes());
            }
            close_normally(&mut ws).await;
        }
    })
    .await;
}

async fn many_messages_in_order(server: Server) {
    within(60, async {
        let s = ClientSession::new();
        for url in [server.url("/echo"), server.nocomp_url("/echo")] {
            let mut ws = connect(&s, &url).await;
            // Sizes across the frame-length encodings (7-bit, 16-bit, 64-bit) and text and
            // binary interleaved, so a compressor keeping its context across messages is
            // exercised.
            let sizes = [0usize, 1, 125, 126, 127, 1000, 65_535, 65_536, 70_000, 3];
            for (i, &n) in sizes.iter().cycle().take(60).enumerate() {
                if i % 2 == 0 {
                    let text: String = format!("{i}:")
                        .chars()
                        .chain("abcdefgh".chars().cycle())
                        .take(n.max(2))
                        .collect();
                    ws.send_str(text.clone()).await.expect("send");
                    assert_eq!(ws.receive_str().await.expect("recv"), text, "message {i}");
                } else {
                    let data = noise(n, i as u64 + 1);
                    ws.send_bytes(data.clone()).await.expect("send");
                    assert_eq!(
                        ws.receive_bytes().await.expect("recv").as_ref(),
                        &data[..],
                        "message {i}"
                    );
                }
            }
            // Pipelined: all sent before any is read.
            for i in 0..100 {
                ws.send_str(format!("pipelined {i}")).await.expect("send");
            }
            for i in 0..100 {
                assert_eq!(
                    ws.receive_str().await.expect("recv"),
                    format!("pipelined {i}")
                );
            }
            close_normally(&mut ws).await;
        }
    })
    .await;
}

async fn wss_with_the_interop_ca(server: Server) {
    within(30, async {
        let config = Arc::new(ca_config());
        // The CA on the session's connector.
        let s = ClientSession::builder()
            .connector(
                TcpConnector::builder()
                    .ssl_context(ca_config())
                    .build()
                    .expect("connector"),
            )
            .build()
            .expect("session");
        let ip = server.tls_url("/echo");
        let name = ip.replacen("127.0.0.1", "localhost", 1);
        let https = ip.replacen("wss://", "https://", 1);
        for url in [&ip, &name, &https] {
            let mut ws = connect(&s, url).await;
            echo_round_trip(&mut ws, url).await;
            close_normally(&mut ws).await;
        }

        // The CA for this connection only, on a default session.
        let plain = ClientSession::new();
        let mut ws = plain
            .ws_connect(ip.as_str())
            .ssl(Ssl::Config(config.clone()))
            .await
            .expect("Ssl::Config");
        echo_round_trip(&mut ws, "per-connection CA").await;
        close_normally(&mut ws).await;

        // The default roots do not know the interop CA.
        let err = plain
            .ws_connect(ip.as_str())
            .await
            .expect_err("the run-time CA is not a default root");
        assert!(
            format!("{err:?}").to_lowercase().contains("certificate"),
            "{err:?}"
        );

        // Unverified accepts it.
        let mut ws = plain
            .ws_connect(name.as_str())
            .ssl(Ssl::Unverified)
            .await
            .expect("Ssl::Unverified");
        echo_round_trip(&mut ws, "unverified").await;
        close_normally(&mut ws).await;
    })
    .await;
}

async fn ipv6_loopback(server: Server) {
    within(30, async {
        let s = ClientSession::new();
        let url = server.v6_url("/headers");
        let mut ws = connect(&s, &url).await;
        let v = report(&mut ws).await;
        let port = url.rsplit(':').next().and_then(|p| p.split('/').next());
        assert_eq!(
            v["headers"]["host"],
            format!("[::1]:{}", port.expect("port")),
            "{v}"
        );
        echo_round_trip(&mut ws, "[::1]").await;
        close_normally(&mut ws).await;
    })
    .await;
}

async fn unix_socket(server: Server) {
    within(30, async {
        let s = ClientSession::builder()
            .connector(aiohttp::UnixConnector::new(server.unix_path()))
            .build()
            .expect("session");
        let mut ws = connect(&s, "ws://localhost/headers?over=unix").await;
        let v = report(&mut ws).await;
        assert_eq!(v["server"], server.name());
        assert_eq!(v["headers"]["host"], "localhost", "{v}");
        assert_eq!(v["query"], json!({"over": "unix"}));
        echo_round_trip(&mut ws, "unix").await;
        close_normally(&mut ws).await;
        // A second connection through the same connector.
        let mut ws = connect(&s, "ws://localhost/echo").await;
        echo_round_trip(&mut ws, "unix again").await;
        close_normally(&mut ws).await;
    })
    .await;
}

async fn compression_negotiated_on_and_off(server: Server) {
    within(30, async {
        let s = ClientSession::new();

        // The default offer (15) against a server with permessage-deflate.
        let mut ws = connect(&s, &server.url("/headers")).await;
        let v = report(&mut ws).await;
        let offer = v["headers"]["sec-websocket-extensions"]
            .as_str()
            .unwrap_or_else(|| panic!("no extension offered: {v}"));
        assert!(offer.starts_with("permessage-deflate"), "{v}");
        // compress() is the window the client compresses with (aiohttp): the server's
        // client_max_window_bits, else 15.
        let ext = v["extensions"].as_str().unwrap_or("");
        assert!(ext.contains("permessage-deflate"), "not accepted: {v}");
        let bits = granted_bits(&v, "client_max_window_bits").unwrap_or(15);
        assert_eq!(ws.compress(), bits, "{v}");
        echo_round_trip(&mut ws, "deflate").await;
        close_normally(&mut ws).await;

        // A smaller window offered.
        let mut ws = s
            .ws_connect(server.url("/headers"))
            .compress(9)
            .await
            .expect("compress(9)");
        let v = report(&mut ws).await;
        let offer = v["headers"]["sec-websocket-extensions"]
            .as_str()
            .unwrap_or("");
        assert!(offer.contains("server_max_window_bits=9"), "{v}");
        let ext = v["extensions"].as_str().unwrap_or("");
        assert!(ext.contains("server_max_window_bits=9"), "{v}");
        let bits = granted_bits(&v, "client_max_window_bits").unwrap_or(15);
        assert_eq!(ws.compress(), bits, "{v}");
        echo_round_trip(&mut ws, "deflate 9").await;
        close_normally(&mut ws).await;

        // No offer: no extension.
        let mut ws = s
            .ws_connect(server.url("/headers"))
            .compress(0)
            .await
            .expect("compress(0)");
        let v = report(&mut ws).await;
        assert!(
            v["headers"].get("sec-websocket-extensions").is_none(),
            "{v}"
        );
        assert_eq!(v["extensions"], Value::Null, "{v}");
        assert_eq!(ws.compress(), 0);
        echo_round_trip(&mut ws, "off by the client").await;
        close_normally(&mut ws).await;

        // Offered, but the server does not compress.
        let mut ws = connect(&s, &server.nocomp_url("/headers")).await;
        let v = report(&mut ws).await;
        assert!(v["headers"]["sec-websocket-extensions"].is_string(), "{v}");
        assert_eq!(v["extensions"], Value::Null, "{v}");
        assert_eq!(ws.compress(), 0);
        echo_round_trip(&mut ws, "off by the server").await;
        close_normally(&mut ws).await;
    })
    .await;
}

async fn large_messages_with_and_without_compression(server: Server) {
    within(60, async {
        let s = ClientSession::new();
        const MIB: usize = 1 << 20;
        let text: String = (0..MIB / 64)
            .map(|i| format!("{i:08} {:>54}\n", "a compressible line of 64 bytes"))
            .collect();
        assert_eq!(text.len(), MIB);
        let random = noise(MIB, 42);
        // Compressible only with a window over 8 KiB: a client compressing with a larger
        // window than the server granted (client_max_window_bits, 12 from websockets) would
        // send back-references the server cannot follow.
        let far = noise(8192, 7).repeat(MIB / 8192);
        for (url, compress) in [
            (server.url("/echo"), 15),
            (server.url("/echo"), 9),
            (server.nocomp_url("/echo"), 15),
            (server.url("/echo"), 0),
        ] {
            let mut ws = s
                .ws_connect(url.as_str())
                .compress(compress)
                .await
                .unwrap_or_else(|e| panic!("{url} compress({compress}): {e:?}"));
            let on = url == server.url("/echo") && compress != 0;
            assert_eq!(ws.compress() != 0, on, "{url} compress({compress})");
            for _ in 0..2 {
                ws.send_str(text.clone()).await.expect("send 1 MiB text");
                let back = ws.receive_str().await.expect("1 MiB text back");
                assert!(back == text, "{url}: text differs ({} bytes)", back.len());
                ws.send_bytes(random.clone())
                    .await
                    .expect("send 1 MiB binary");
                let back = ws.receive_bytes().await.expect("1 MiB binary back");
                assert!(
                    back == random,
                    "{url}: binary differs ({} bytes)",
                    back.len()
                );
                ws.send_bytes(far.clone())
                    .await
                    .expect("send 1 MiB repeated");
                let back = ws.receive_bytes().await.expect("1 MiB repeated back");
                assert!(
                    back == far,
                    "{url}: repeated differs ({} bytes)",
                    back.len()
                );
            }
            close_normally(&mut ws).await;
        }

        // Over the client's limit: an error message, and the connection closed with 1009.
        let mut ws = s
            .ws_connect(server.url("/echo"))
            .max_msg_size(1000)
            .await
            .expect("connect");
        ws.send_str("y".repeat(2000)).await.expect("send");
        let msg = ws.receive().await;
        assert_eq!(msg.kind, WSMsgType::Error, "{msg:?}");
        assert!(msg.error().is_some(), "{msg:?}");
        assert_eq!(ws.close_code(), Some(1009));
        assert!(ws.closed());
    })
    .await;
}

async fn subprotocol_selection(server: Server) {
    within(30, async {
        let s = ClientSession::new();
        // The server speaks chat and superchat and takes the client's first choice of them.
        let mut ws = s
            .ws_connect(server.url("/subprotocol"))
            .protocols(["unknown", "superchat", "chat"])
            .await
            .expect("connect");
        assert_eq!(ws.protocol(), Some("superchat"));
        assert_eq!(ws.receive_str().await.expect("chosen"), "superchat");
        echo_round_trip(&mut ws, "superchat").await;
        close_normally(&mut ws).await;

        let mut ws = s
            .ws_connect(server.url("/subprotocol"))
            .protocols(["chat"])
            .await
            .expect("connect");
        assert_eq!(ws.protocol(), Some("chat"));
        assert_eq!(ws.receive_str().await.expect("chosen"), "chat");
        close_normally(&mut ws).await;

        // Nothing offered, or nothing the server speaks: no subprotocol, still connected.
        for offer in [&[][..], &["unknown"][..]] {
            let mut ws = s
                .ws_connect(server.url("/subprotocol"))
                .protocols(offer.iter().copied())
                .await
                .expect("connect");
            assert_eq!(ws.protocol(), None, "{offer:?}");
            assert_eq!(ws.receive_str().await.expect("chosen"), "");
            close_normally(&mut ws).await;
        }

        // The offer goes out as one header, in order.
        let mut ws = s
            .ws_connect(server.url("/headers"))
            .protocols(["chat", "superchat"])
            .await
            .expect("connect");
        let v = report(&mut ws).await;
        let offered: Vec<String> = v["headers"]["sec-websocket-protocol"]
            .as_str()
            .unwrap_or_else(|| panic!("no offer: {v}"))
            .split(',')
            .map(|p| p.trim().to_string())
            .collect();
        assert_eq!(offered, ["chat", "superchat"], "{v}");
        assert_eq!(v["subprotocol"], Value::Null);
        assert_eq!(ws.protocol(), None);
        close_normally(&mut ws).await;
    })
    .await;
}

async fn upgrade_request_carries_cookies_headers_and_auth(server: Server) {
    within(30, async {
        let s = ClientSession::builder()
            .cookie_jar(CookieJar::new().unsafe_(true))
            .cookies([("session_cookie", "jar value")])
            .header("X-Session", "from the session")
            .build()
            .expect("session");
        // A cookie set on a 101 response goes into the jar.
        let mut ws = connect(&s, &server.url("/setcookie?handshake=set")).await;
        close_normally(&mut ws).await;

        let mut ws = s
            .ws_connect(server.url("/headers"))
            .header("X-A", "b")
            .origin("http://example")
            .params([("a", "b"), ("sp", "x y")])
            .auth(BasicAuth::new("user", "p@ss:word").expect("auth"))
            .await
            .expect("connect");
        let v = report(&mut ws).await;
        assert_eq!(v["server"], server.name());
        assert_eq!(v["path"], "/headers");
        assert_eq!(v["query"], json!({"a": "b", "sp": "x y"}), "{v}");
        assert_eq!(
            v["cookies"],
            json!({"session_cookie": "jar value", "handshake": "set"}),
            "{v}"
        );
        assert_eq!(
            v["auth"],
            json!({"user": "user", "password": "p@ss:word"}),
            "{v}"
        );
        let h = &v["headers"];
        assert_eq!(h["x-session"], "from the session", "{v}");
        assert_eq!(h["x-a"], "b", "{v}");
        assert_eq!(h["origin"], "http://example", "{v}");
        assert_eq!(
            h["upgrade"].as_str().map(str::to_lowercase).as_deref(),
            Some("websocket"),
            "{v}"
        );
        assert!(
            h["connection"]
                .as_str()
                .unwrap_or("")
                .to_lowercase()
                .contains("upgrade"),
            "{v}"
        );
        assert_eq!(h["sec-websocket-version"], "13", "{v}");
        let key = h["sec-websocket-key"].as_str().unwrap_or("");
        assert_eq!(key.len(), 24, "a base64 16-byte nonce: {v}");
        assert!(
            h["user-agent"]
                .as_str()
                .unwrap_or("")
                .starts_with("aiohttp-rs/"),
            "{v}"
        );
        echo_round_trip(&mut ws, "after the report").await;
        close_normally(&mut ws).await;

        // Auth set on the session.
        let s = ClientSession::builder()
            .auth(BasicAuth::new("sess", "ion").expect("auth"))
            .build()
            .expect("session");
        let mut ws = connect(&s, &server.url("/headers")).await;
        let v = report(&mut ws).await;
        assert_eq!(v["auth"], json!({"user": "sess", "password": "ion"}), "{v}");
        assert_eq!(v["cookies"], json!({}), "{v}");
        close_normally(&mut ws).await;
    })
    .await;
}

async fn close_codes_both_ways(server: Server) {
    within(30, async {
        let s = ClientSession::new();

        // The server closes with a code and a reason.
        let mut ws = connect(&s, &server.url("/close?code=4001&reason=going%20away")).await;
        let msg = ws.receive().await;
        assert_eq!(msg.kind, WSMsgType::Close, "{msg:?}");
        assert_eq!(msg.close_code(), Some(4001), "{msg:?}");
        assert_eq!(msg.extra.as_deref(), Some("going away"), "{msg:?}");
        assert_eq!(ws.close_code(), Some(4001));
        let next = ws.receive().await;
        assert!(
            matches!(next.kind, WSMsgType::Closed | WSMsgType::Closing),
            "{next:?}"
        );
        assert!(ws.closed());
        assert!(!ws.close(1000, b"").await.expect("close after the server's"));
        assert_eq!(ws.close_code(), Some(4001));

        // The client closes with a code and a reason; the server saw both.
        let id = nonce("close");
        let mut ws = connect(&s, &server.url(&format!("/echo?id={id}"))).await;
        echo_round_trip(&mut ws, "before close").await;
        assert!(ws.close(4002, b"see you").await.expect("close"));
        assert!(ws.closed());
        assert_eq!(ws.close_code(), Some(server.close_reply(4002)));
        let mut ws = connect(&s, &server.url(&format!("/last-close?id={id}"))).await;
        let seen: Value = ws.receive_json().await.expect("last close");
        assert_eq!(seen, json!({"code": 4002, "reason": "see you"}));
        close_normally(&mut ws).await;
    })
    .await;
}

async fn server_pings_are_answered(server: Server) {
    within(30, async {
        let s = ClientSession::new();
        // autoping answers the server's ping.
        let mut ws = connect(&s, &server.url("/ping?data=hello")).await;
        assert_eq!(
            ws.receive_str().await.expect("server's verdict"),
            "pong:hello"
        );
        echo_round_trip(&mut ws, "after ping").await;
        close_normally(&mut ws).await;

        // Without autoping the ping is a message, and the pong is ours to send.
        let mut ws = s
            .ws_connect(server.url("/ping?data=manual"))
            .autoping(false)
            .await
            .expect("connect");
        let msg = ws.receive().await;
        assert_eq!(msg.kind, WSMsgType::Ping, "{msg:?}");
        assert_eq!(msg.data.as_ref(), b"manual");
        ws.pong(b"manual").await.expect("pong");
        assert_eq!(
            ws.receive_str().await.expect("server's verdict"),
            "pong:manual"
        );
        close_normally(&mut ws).await;

        // The client's heartbeat pings are answered: the connection stays up.
        let mut ws = s
            .ws_connect(server.url("/echo"))
            .heartbeat(Duration::from_millis(100))
            .await
            .expect("connect");
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(!ws.closed());
        echo_round_trip(&mut ws, "heartbeat").await;
        close_normally(&mut ws).await;
    })
    .await;
}

async fn stream_and_split(server: Server) {
    within(30, async {
        let s = ClientSession::new();
        let mut ws = connect(&s, &server.url("/echo")).await;
        for i in 0..5 {
            ws.send_str(format!("s{i}")).await.expect("send");
        }
        ws.send_bytes(b"\x00end".to_vec()).await.expect("send");
        let got: Vec<_> = (&mut ws).take(6).collect().await;
        let texts: Vec<_> = got[..5]
            .iter()
            .map(|m| m.text().map(str::to_string))
            .collect();
        assert_eq!(
            texts,
            (0..5).map(|i| Some(format!("s{i}"))).collect::<Vec<_>>()
        );
        assert_eq!(got[5].kind, WSMsgType::Binary);
        assert_eq!(got[5].data.as_ref(), b"\x00end");
        close_normally(&mut ws).await;

        // The stream ends at the server's close (as aiohttp's `async for` does, without
        // yielding it); the code is kept.
        let mut ws = connect(&s, &server.url("/close?code=4003&reason=done")).await;
        let all: Vec<_> = (&mut ws).collect().await;
        assert!(all.is_empty(), "{all:?}");
        assert_eq!(ws.close_code(), Some(4003));
        assert!(ws.closed());

        // Split: one task writes while another reads.
        let ws = connect(&s, &server.url("/echo")).await;
        let (mut reader, writer) = ws.split();
        let n = 200;
        let write = tokio::spawn(async move {
            for i in 0..n {
                writer.send_str(format!("m{i}")).await.expect("send");
            }
            writer
        });
        for i in 0..n {
            assert_eq!(reader.receive_str().await.expect("recv"), format!("m{i}"));
        }
        let mut writer = write.await.expect("writer task");
        // The writer as a Sink.
        writer
            .send(WSMessage::new_text("by the sink"))
            .await
            .expect("sink text");
        writer
            .send(WSMessage::new_binary(&b"\x00sink"[..]))
            .await
            .expect("sink binary");
        assert_eq!(reader.receive_str().await.expect("recv"), "by the sink");
        assert_eq!(
            reader.receive_bytes().await.expect("recv").as_ref(),
            b"\x00sink"
        );
        // The writer sends the close frame; the reader gets the server's answer, which
        // closes the connection.
        assert!(writer.close(4004, b"split").await.expect("close"));
        let msg = reader.receive().await;
        assert_eq!(msg.kind, WSMsgType::Close, "{msg:?}");
        assert_eq!(msg.close_code(), Some(server.close_reply(4004)));
        assert!(writer.closed());
        assert!(!writer.close(1000, b"").await.expect("second close"));
    })
    .await;
}

macro_rules! against_each_server {
    ($($test:ident),* $(,)?) => {
        mod websockets_server {
            $(
                #[tokio::test]
                #[ignore = "needs the WebSocket echo servers: scripts/interop.sh"]
                async fn $test() {
                    super::$test(super::Server::Websockets).await;
                }
            )*
        }
        mod aiohttp_server {
            $(
                #[tokio::test]
                #[ignore = "needs the WebSocket echo servers: scripts/interop.sh"]
                async fn $test() {
                    super::$test(super::Server::Aiohttp).await;
                }
            )*
        }
    };
}

against_each_server!(
    echo_text_binary_json,
    empty_messages,
    many_messages_in_order,
    wss_with_the_interop_ca,
    ipv6_loopback,
    unix_socket,
    compression_negotiated_on_and_off,
    large_messages_with_and_without_compression,
    subprotocol_selection,
    upgrade_request_carries_cookies_headers_and_auth,
    close_codes_both_ways,
    server_pings_are_answered,
    stream_and_split,
);
