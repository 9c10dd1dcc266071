//! `ClientResponse` and `StreamReader` against local servers: the status line and the headers as
//! received, charset and JSON decoding, Content-Encoding, bodies that are empty by rule, and every
//! way of reading a body as a stream.

use std::collections::HashMap;
use std::future::Future;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aiohttp::{Bytes, ClientResponse, ClientSession, ErrorKind, Method, RequestBuilder, Version};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use test_support::{body_channel, chunks_with_delay, full, HttpServer, RawServer};
use tokio::io::AsyncReadExt as _;
use tokio::sync::mpsc;

/// The bound on every single wait in these tests.
const LIMIT: Duration = Duration::from_secs(10);

async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(LIMIT, fut).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: nothing within {LIMIT:?}"),
    }
}

async fn send(req: RequestBuilder) -> ClientResponse {
    within("response head", req.send())
        .await
        .expect("response head")
}

async fn read_body(resp: &mut ClientResponse) -> Bytes {
    within("body", resp.read()).await.expect("body")
}

async fn read_text(resp: &mut ClientResponse) -> String {
    within("text", resp.text()).await.expect("text")
}

/// A response head with the given header lines (verbatim) and a body with a Content-Length.
fn reply(status_line: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head = format!("{status_line}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

/// One chunk of the chunked transfer-coding.
fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// A `200 OK` with a chunked body, cut into chunks of `size` bytes.
fn chunked_reply(headers: &[(&str, &str)], body: &[u8], size: usize) -> Vec<u8> {
    let mut head = String::from("HTTP/1.1 200 OK\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Transfer-Encoding: chunked\r\n\r\n");
    let mut out = head.into_bytes();
    for piece in body.chunks(size) {
        out.extend(chunk(piece));
    }
    out.extend_from_slice(LAST_CHUNK);
    out
}

fn byte_pairs(pairs: &[(&str, &str)]) -> Vec<(Bytes, Bytes)> {
    pairs
        .iter()
        .map(|(n, v)| {
            (
                Bytes::copy_from_slice(n.as_bytes()),
                Bytes::copy_from_slice(v.as_bytes()),
            )
        })
        .collect()
}

fn values<'a>(resp: &'a ClientResponse, name: &str) -> Vec<&'a [u8]> {
    resp.headers()
        .get_all(name)
        .iter()
        .map(|v| v.as_bytes())
        .collect()
}

/// One route of [`routes`]: the request (`"GET /path"`), the bytes to answer with, and the size of
/// the pieces they are written in (2 ms apart; `usize::MAX` writes them at once).
type Route = (String, Vec<u8>, usize);

fn route(key: &str, response: Vec<u8>) -> Route {
    (key.to_string(), response, usize::MAX)
}

/// A keep-alive server answering requests from a table keyed by `"METHOD /path"`; anything else
/// gets an empty 404.
async fn routes(table: Vec<Route>) -> RawServer {
    let table: Arc<HashMap<String, (Vec<u8>, usize)>> = Arc::new(
        table
            .into_iter()
            .map(|(key, bytes, piece)| (key, (bytes, piece)))
            .collect(),
    );
    RawServer::start(move |mut conn| {
        let table = Arc::clone(&table);
        async move {
            while let Some(req) = conn.read_request().await {
                let key = format!("{} {}", req.method, req.path);
                let written = match table.get(&key) {
                    Some((bytes, piece)) => {
                        conn.write_slowly(bytes, *piece, Duration::from_millis(2))
                            .await
                    }
                    None => conn.write(reply("HTTP/1.1 404 Not Found", &[], b"")).await,
                };
                if written.is_err() {
                    break;
                }
            }
        }
    })
    .await
}

/// What a [`scripted`] server does next.
enum Step {
    /// Write these bytes and flush.
    Write(Vec<u8>),
    /// Close the connection with a TCP reset.
    Reset,
}

/// A server for one exchange whose response the test writes step by step, after the request has
/// arrived. Dropping the sender closes the connection (FIN).
async fn scripted() -> (RawServer, mpsc::UnboundedSender<Step>) {
    let (tx, rx) = mpsc::unbounded_channel::<Step>();
    let rx = Arc::new(Mutex::new(Some(rx)));
    let server = RawServer::start(move |mut conn| {
        let rx = rx.lock().expect("script lock").take();
        async move {
            let Some(mut rx) = rx else {
                return;
            };
            if conn.read_request().await.is_none() {
                return;
            }
            while let Ok(Some(step)) = tokio::time::timeout(LIMIT, rx.recv()).await {
                match step {
                    Step::Write(bytes) => {
                        if conn.write(bytes).await.is_err() {
                            return;
                        }
                    }
                    Step::Reset => {
                        conn.reset();
                        return;
                    }
                }
            }
            let _ = conn.shutdown().await;
        }
    })
    .await;
    (server, tx)
}

fn write(tx: &mpsc::UnboundedSender<Step>, bytes: impl Into<Vec<u8>>) {
    tx.send(Step::Write(bytes.into()))
        .expect("server still running");
}

const CHUNKED_HEAD: &str = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

fn sample() -> Vec<u8> {
    (0..3000)
        .flat_map(|i| format!("line {i}: {} the quick brown fox\n", i * 7919 % 10007).into_bytes())
        .collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("zlib");
    e.finish().expect("zlib")
}

fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("deflate");
    e.finish().expect("deflate")
}

async fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    async_compression::tokio::bufread::BrotliEncoder::new(data)
        .read_to_end(&mut out)
        .await
        .expect("brotli");
    out
}

async fn zstd(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    async_compression::tokio::bufread::ZstdEncoder::new(data)
        .read_to_end(&mut out)
        .await
        .expect("zstd");
    out
}

// ---- status line and headers ----

#[tokio::test]
async fn raw_headers_keep_case_order_and_duplicates() {
    let server = RawServer::reply(
        "HTTP/1.1 200 OK\r\nX-Mixed-Case: a\r\nset-cookie: a=1\r\nSet-Cookie: b=2\r\n\
         X-Dup: 1\r\nx-dup: 2\r\nContent-Length: 2\r\n\r\nok",
    )
    .await;
    let session = ClientSession::new();
    let mut resp = send(session.get(server.url("/"))).await;
    assert_eq!(
        resp.raw_headers(),
        byte_pairs(&[
            ("X-Mixed-Case", "a"),
            ("set-cookie", "a=1"),
            ("Set-Cookie", "b=2"),
            ("X-Dup", "1"),
            ("x-dup", "2"),
            ("Content-Length", "2"),
        ])
        .as_slice()
    );
    // The parsed view: any case finds the field, and both duplicates are kept in order.
    assert_eq!(values(&resp, "x-mixed-case"), [b"a"]);
    assert_eq!(
        resp.headers().get("X-MIXED-CASE").map(|v| v.as_bytes()),
        Some(&b"a"[..])
    );
    assert_eq!(values(&resp, "X-DUP"), [b"1", b"2"]);
    assert_eq!(values(&resp, "set-cookie"), [b"a=1", b"b=2"]);
    assert_eq!(resp.headers().len(), 6);
    assert_eq!(resp.headers().keys_len(), 4);
    let cookies: Vec<(&str, &str)> = resp.cookies().iter().map(|c| c.name_value()).collect();
    assert_eq!(cookies, [("a", "1"), ("b", "2")]);
    assert_eq!(read_body(&mut resp).await, "ok");
}

#[tokio::test]
async fn links_are_parsed_from_every_link_header() {
    let server = RawServer::reply(
        "HTTP/1.1 200 OK\r\nLink: <?page=2>; rel=\"next\", </first>; rel=first\r\n\
         link: <https://b.test/x>; rel=alternate; title=\"a; b\"\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    let session = ClientSession::new();
    let resp = send(session.get(server.url("/list?page=1"))).await;
    let links = resp.links();
    let got: Vec<(&str, String)> = links
        .iter()
        .map(|l| (l.key(), l.url().map(|u| u.to_string()).unwrap_or_default()))
        .collect();
    assert_eq!(
        got,
        [
            ("next", server.url("/list?page=2").to_string()),
            ("first", server.url("/first").to_string()),
            ("alternate", "https://b.test/x".to_string()),
        ]
    );
    assert_eq!(
        links.get("alternate").and_then(|l| l.param("title")),
        Some("a; b")
    );
}

#[tokio::test]
async fn a_101_answer_keeps_its_own_reason_and_raw_headers() {
    let server = RawServer::reply(
        "HTTP/1.1 101 Switching Over\r\nUpgrade: Something\r\nConnection: Upgrade\r\n\
         X-Case: Kept\r\n\r\n",
    )
    .await;
    let session = ClientSession::new();
    let resp = send(
        session
            .get(server.url("/"))
            .header("Connection", "Upgrade")
            .header("Upgrade", "Something"),
    )
    .await;
    assert_eq!(resp.status(), 101);
    assert_eq!(resp.reason(), "Switching Over");
    assert_eq!(
        resp.raw_headers(),
        byte_pairs(&[
            ("Upgrade", "Something"),
            ("Connection", "Upgrade"),
            ("X-Case", "Kept"),
        ])
        .as_slice()
    );
}

#[tokio::test]
async fn informational_responses_are_skipped_and_the_connection_reused() {
    // Two 1xx heads before the final one, written in small pieces so that the heads arrive
    // split across reads.
    let head = "HTTP/1.1 100 Continue\r\nX-Interim: one\r\n\r\n\
                HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n\
                HTTP/1.1 201 Created\r\nX-Final: Yes\r\ncontent-length: 5\r\n\r\nfinal";
    let server = routes(vec![
        (String::from("GET /info"), head.as_bytes().to_vec(), 7),
        route("GET /plain", reply("HTTP/1.1 200 OK", &[], b"plain")),
    ])
    .await;
    let session = ClientSession::new();
    let mut resp = send(session.get(server.url("/info"))).await;
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.reason(), "Created");
    assert_eq!(
        resp.raw_headers(),
        byte_pairs(&[("X-Final", "Yes"), ("content-length", "5")]).as_slice()
    );
    assert!(resp.headers().get("x-interim").is_none());
    assert!(resp.headers().get("link").is_none());
    assert_eq!(read_body(&mut resp).await, "final");
    drop(resp);

    let mut resp = send(session.get(server.url("/plain"))).await;
    assert!(resp.connection().expect("body unread").is_reused());
    assert_eq!(resp.reason(), "OK");
    assert_eq!(
        resp.raw_headers(),
        byte_pairs(&[("Content-Length", "5")]).as_slice()
    );
    assert_eq!(read_body(&mut resp).await, "plain");
    assert_eq!(server.connections_accepted(), 1);
}

#[tokio::test]
async fn reason_phrase_is_the_one_sent() {
    let cases: &[(&str, u16, &str)] = &[
        ("HTTP/1.1 200 Everything Fine", 200, "Everything Fine"),
        ("HTTP/1.1 200 OK", 200, "OK"),
        ("HTTP/1.1 404 Not Here, Sorry", 404, "Not Here, Sorry"),
        ("HTTP/1.1 599 Custom Failure", 599, "Custom Failure"),
        // An empty or missing reason phrase stays empty: the canonical phrase is not substituted
        // for what the server sent (aiohttp reports "" for both as well). The canonical phrase
        // is only a fallback for a head that could not be captured.
        ("HTTP/1.1 404 ", 404, ""),
        ("HTTP/1.1 404", 404, ""),
        // Whitespace inside and around the phrase is kept as sent.
        (
            "HTTP/1.1 200 \tTab  two  spaces ",
            200,
            "\tTab  two  spaces ",
        ),
    ];
    let session = ClientSession::new();
    for (status_line, code, reason) in cases {
        let server = RawServer::reply(reply(status_line, &[], b"")).await;
        let resp = send(session.get(server.url("/"))).await;
        assert_eq!(resp.status().as_u16(), *code, "{status_line:?}");
        assert_eq!(resp.reason(), *reason, "{status_line:?}");
    }
    // A phrase that is not UTF-8 is kept, read as latin-1.
    let server =
        RawServer::reply(b"HTTP/1.1 200 Caf\xe9 cr\xe8me\r\nContent-Length: 0\r\n\r\n".to_vec())
            .await;
    let resp = send(session.get(server.url("/"))).await;
    assert_eq!(resp.reason(), "Caf\u{e9} cr\u{e8}me");
}

#[tokio::test]
async fn status_ok_and_version() {
    let mut table = Vec::new();
    for code in [200u16, 201, 204, 302, 304, 399, 400, 404, 418, 500, 503] {
        table.push(route(
            &format!("GET /{code}"),
            reply(&format!("HTTP/1.1 {code} Whatever"), &[], b""),
        ));
    }
    table.push(route(
        "GET /old",
        reply("HTTP/1.0 200 OK", &[("Connection", "keep-alive")], b"old"),
    ));
    let server = routes(table).await;
    let session = ClientSession::new();
    for code in [200u16, 201, 204, 302, 304, 399, 400, 404, 418, 500, 503] {
        let mut resp = send(session.get(server.url(&format!("/{code}")))).await;
        assert_eq!(resp.status().as_u16(), code);
        assert_eq!(resp.ok(), code < 400, "{code}");
        assert_eq!(resp.raise_for_status().is_ok(), code < 400, "{code}");
        assert_eq!(resp.version(), Version::HTTP_11);
        assert!(read_body(&mut resp).await.is_empty());
    }
    let mut resp = send(session.get(server.url("/old"))).await;
    assert_eq!(resp.version(), Version::HTTP_10);
    assert_eq!(read_body(&mut resp).await, "old");
}

#[tokio::test]
async fn method_urls_request_info_and_history() {
    let server = RawServer::reply(reply("HTTP/1.1 200 OK", &[], b"")).await;
    let session = ClientSession::new();
    let port = server.addr().port();

    let resp = send(session.get(server.url("/a/b?x=1#part-2"))).await;
    assert_eq!(resp.method(), Method::GET);
    assert_eq!(
        resp.url().as_str(),
        format!("http://127.0.0.1:{port}/a/b?x=1")
    );
    assert_eq!(resp.url().fragment(), None);
    assert_eq!(
        resp.real_url().as_str(),
        format!("http://127.0.0.1:{port}/a/b?x=1#part-2")
    );
    assert_eq!(resp.real_url().fragment(), Some("part-2"));
    assert!(resp.history().is_empty());

    let info = resp.request_info();
    assert_eq!(info.method(), Method::GET);
    assert_eq!(info.url(), resp.url());
    assert_eq!(info.real_url(), resp.real_url());
    let host = format!("127.0.0.1:{port}");
    assert_eq!(
        info.headers().get("host").map(|v| v.as_bytes()),
        Some(host.as_bytes())
    );
    assert_eq!(
        info.headers().get("user-agent").map(|v| v.as_bytes()),
        Some(aiohttp::USER_AGENT.as_bytes())
    );
    drop(resp);

    let resp = send(
        session
            .post(server.url("/submit"))
            .header("X-Token", "t")
            .data("payload"),
    )
    .await;
    assert_eq!(resp.method(), Method::POST);
    assert_eq!(resp.request_info().method(), Method::POST);
    assert_eq!(resp.url().path(), "/submit");
    assert_eq!(resp.real_url(), resp.url());
    let sent = resp.request_info().headers();
    assert_eq!(sent.get("x-token").map(|v| v.as_bytes()), Some(&b"t"[..]));
    assert_eq!(
        sent.get("content-length").map(|v| v.as_bytes()),
        Some(&b"7"[..])
    );
    // What request_info reports is what the server received.
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].path, "/a/b?x=1");
    assert_eq!(reqs[0].header("host"), Some(host.as_str()));
    assert_eq!(reqs[0].header("user-agent"), Some(aiohttp::USER_AGENT));
    assert_eq!(reqs[1].header("x-token"), Some("t"));
}

#[tokio::test]
async fn cookies_are_parsed_and_malformed_ones_skipped() {
    let server = RawServer::reply(
        "HTTP/1.1 200 OK\r\n\
         Set-Cookie: session=abc123; Path=/; HttpOnly\r\n\
         Set-Cookie: garbage-without-an-equals-sign\r\n\
         Set-Cookie: =no-name\r\n\
         Set-Cookie: theme=dark; Max-Age=3600\r\n\
         Content-Length: 2\r\n\r\nok",
    )
    .await;
    let session = ClientSession::new();
    let mut resp = send(session.get(server.url("/"))).await;
    let cookies = resp.cookies();
    let names: Vec<(&str, &str)> = cookies.iter().map(|c| c.name_value()).collect();
    assert_eq!(names, [("session", "abc123"), ("theme", "dark")]);
    assert_eq!(cookies[0].path(), Some("/"));
    assert_eq!(cookies[0].http_only(), Some(true));
    assert_eq!(
        cookies[1].max_age(),
        Some(::cookie::time::Duration::seconds(3600))
    );
    // Every Set-Cookie line is still in the headers, malformed or not.
    assert_eq!(values(&resp, "set-cookie").len(), 4);
    assert_eq!(read_body(&mut resp).await, "ok");
}

#[tokio::test]
async fn content_type_and_charset() {
    let cases: &[(Option<&str>, &str, Option<&str>)] = &[
        (None, "application/octet-stream", None),
        (Some("text/plain"), "text/plain", None),
        (
            Some("Text/HTML; Charset=ISO-8859-1"),
            "text/html",
            Some("iso-8859-1"),
        ),
        (
            Some("application/json; charset=utf-8"),
            "application/json",
            Some("utf-8"),
        ),
        (
            Some("text/plain; charset=\"windows-1251\""),
            "text/plain",
            Some("windows-1251"),
        ),
        (
            Some("Application/Problem+JSON"),
            "application/problem+json",
            None,
        ),
    ];
    let mut table = Vec::new();
    for (i, (ct, _, _)) in cases.iter().enumerate() {
        let headers: Vec<(&str, &str)> = ct.iter().map(|v| ("Content-Type", *v)).collect();
        table.push(route(
            &format!("GET /{i}"),
            reply("HTTP/1.1 200 OK", &headers, b"x"),
        ));
    }
    let server = routes(table).await;
    let session = ClientSession::new();
    for (i, (ct, essence, charset)) in cases.iter().enumerate() {
        let mut resp = send(session.get(server.url(&format!("/{i}")))).await;
        assert_eq!(resp.content_type(), *essence, "{ct:?}");
        assert_eq!(
            resp.charset().map(str::to_ascii_lowercase).as_deref(),
            *charset,
            "{ct:?}"
        );
        read_body(&mut resp).await;
    }
}

// ---- text and JSON ----

const PANGRAM_RU: &str = "Съешь же ещё этих мягких французских булок, да выпей чаю. \
                          Широкая электрификация южных губерний даст мощный толчок \
                          подъёму сельского хозяйства.";

#[tokio::test]
async fn text_with_declared_charsets() {
    let (cp1251, _, _) = encoding_rs::WINDOWS_1251.encode("Привет, мир");
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "text/plain; charset=utf-8",
            "héllo wörld ☃".as_bytes().to_vec(),
            "héllo wörld ☃",
            "UTF-8",
        ),
        // latin-1 decodes as its superset windows-1252, as browsers do.
        (
            "text/plain; charset=latin-1",
            b"caf\xe9 \xa3".to_vec(),
            "café £",
            "windows-1252",
        ),
        (
            "text/plain; charset=ISO-8859-1",
            b"na\xefve".to_vec(),
            "naïve",
            "windows-1252",
        ),
        (
            "text/html; charset=windows-1252",
            b"\x80 5 \x93quoted\x94".to_vec(),
            "€ 5 \u{201c}quoted\u{201d}",
            "windows-1252",
        ),
        (
            "text/plain; charset=cp1251",
            cp1251.to_vec(),
            "Привет, мир",
            "windows-1251",
        ),
    ];
    let mut table = Vec::new();
    for (i, (ct, body, _, _)) in cases.iter().enumerate() {
        table.push(route(
            &format!("GET /{i}"),
            reply("HTTP/1.1 200 OK", &[("Content-Type", *ct)], body),
        ));
    }
    let server = routes(table).await;
    let session = ClientSession::new();
    for (i, (ct, _, text, encoding)) in cases.iter().enumerate() {
        let mut resp = send(session.get(server.url(&format!("/{i}")))).await;
        assert_eq!(read_text(&mut resp).await, *text, "{ct}");
        let got = within("encoding", resp.get_encoding())
            .await
            .expect("encoding");
        assert_eq!(got, *encoding, "{ct}");
    }
}

#[tokio::test]
async fn text_without_charset_is_detected() {
    let (cp1251, _, _) = encoding_rs::WINDOWS_1251.encode(PANGRAM_RU);
    let server = routes(vec![
        route(
            "GET /utf8",
            reply(
                "HTTP/1.1 200 OK",
                &[("Content-Type", "text/plain")],
                "naïve ☃ — Привет".as_bytes(),
            ),
        ),
        route(
            "GET /cp1251",
            reply(
                "HTTP/1.1 200 OK",
                &[("Content-Type", "text/plain")],
                &cp1251,
            ),
        ),
        route("GET /none", reply("HTTP/1.1 200 OK", &[], b"just ascii")),
    ])
    .await;
    let session = ClientSession::new();

    let mut resp = send(session.get(server.url("/utf8"))).await;
    assert_eq!(resp.charset(), None);
    assert_eq!(read_text(&mut resp).await, "naïve ☃ — Привет");
    assert_eq!(
        within("encoding", resp.get_encoding()).await.expect("enc"),
        "UTF-8"
    );

    let mut resp = send(session.get(server.url("/cp1251"))).await;
    assert_eq!(
        within("encoding", resp.get_encoding()).await.expect("enc"),
        "windows-1251"
    );
    assert_eq!(read_text(&mut resp).await, PANGRAM_RU);

    let mut resp = send(session.get(server.url("/none"))).await;
    assert_eq!(read_text(&mut resp).await, "just ascii");
    assert_eq!(
        within("encoding", resp.get_encoding()).await.expect("enc"),
        "UTF-8"
    );
}

#[tokio::test]
async fn a_fallback_charset_resolver_decides_when_the_header_does_not() {
    let (cp1251, _, _) = encoding_rs::WINDOWS_1251.encode("Привет");
    let server = routes(vec![
        route(
            "GET /bare",
            reply(
                "HTTP/1.1 200 OK",
                &[("Content-Type", "text/plain")],
                &cp1251,
            ),
        ),
        route(
            "GET /unknown",
            reply(
                "HTTP/1.1 200 OK",
                &[("Content-Type", "text/plain; charset=no-such-charset")],
                &cp1251,
            ),
        ),
        route(
            "GET /declared",
            reply(
                "HTTP/1.1 200 OK",
                &[("Content-Type", "text/plain; charset=windows-1251")],
                &cp1251,
            ),
        ),
        route(
            "GET /json",
            reply(
                "HTTP/1.1 200 OK",
                &[("Content-Type", "application/json")],
                "\"é\"".as_bytes(),
            ),
        ),
    ])
    .await;
    let seen = Arc::new(Mutex::new(Vec::<(String, usize)>::new()));
    let record = seen.clone();
    let session = ClientSession::builder()
        .fallback_charset_resolver(move |resp, body| {
            record
                .lock()
                .expect("lock")
                .push((resp.url().path().to_string(), body.len()));
            "koi8-r".to_string()
        })
        .build()
        .expect("session");
    // No charset: the resolver's label is used (these cp1251 bytes read as KOI8-R).
    let koi8 = encoding_rs::KOI8_R.decode(&cp1251).0.into_owned();
    let mut resp = send(session.get(server.url("/bare"))).await;
    assert_eq!(read_text(&mut resp).await, koi8);
    assert_eq!(
        within("encoding", resp.get_encoding()).await.expect("enc"),
        "KOI8-R"
    );
    // An unknown charset: the resolver decides too (without one, that is an error).
    let mut resp = send(session.get(server.url("/unknown"))).await;
    assert_eq!(read_text(&mut resp).await, koi8);
    // A known charset, and JSON without one (UTF-8): the resolver is not asked.
    let mut resp = send(session.get(server.url("/declared"))).await;
    assert_eq!(read_text(&mut resp).await, "Привет");
    let mut resp = send(session.get(server.url("/json"))).await;
    assert_eq!(read_text(&mut resp).await, "\"é\"");
    assert_eq!(
        *seen.lock().expect("lock"),
        [
            ("/bare".to_string(), cp1251.len()),
            ("/bare".to_string(), cp1251.len()),
            ("/unknown".to_string(), cp1251.len()),
        ]
    );
    // A label the resolver makes up is an error.
    let odd = ClientSession::builder()
        .fallback_charset_resolver(|_, _| "klingon".to_string())
        .build()
        .expect("session");
    let mut resp = send(odd.get(server.url("/bare"))).await;
    let err = within("text", resp.text())
        .await
        .expect_err("unknown label");
    assert!(err.is_invalid_argument(), "{err:?}");
}

#[tokio::test]
async fn text_with_an_explicit_encoding_and_unknown_charsets() {
    let (cp1251, _, _) = encoding_rs::WINDOWS_1251.encode("Привет");
    let server = routes(vec![
        // The declared charset is wrong for these bytes.
        route(
            "GET /mislabelled",
            reply(
                "HTTP/1.1 200 OK",
                &[("Content-Type", "text/plain; charset=utf-8")],
                &cp1251,
            ),
        ),
        route(
            "GET /unknown",
            reply(
                "HTTP/1.1 200 OK",
                &[("Content-Type", "text/plain; charset=no-such-charset")],
                b"plain",
            ),
        ),
    ])
    .await;
    let session = ClientSession::new();

    let mut resp = send(session.get(server.url("/mislabelled"))).await;
    let as_declared = read_text(&mut resp).await;
    assert!(as_declared.contains('\u{fffd}'), "{as_declared:?}");
    let explicit = within("text", resp.text_with_encoding("cp1251"))
        .await
        .expect("cp1251");
    assert_eq!(explicit, "Привет");
    let explicit = within("text", resp.text_with_encoding("windows-1251"))
        .await
        .expect("windows-1251");
    assert_eq!(explicit, "Привет");
    let err = within("text", resp.text_with_encoding("klingon"))
        .await
        .expect_err("unknown label");
    assert!(err.is_invalid_argument(), "{err:?}");

    let mut resp = send(session.get(server.url("/unknown"))).await;
    assert_eq!(resp.charset(), Some("no-such-charset"));
    let err = within("text", resp.text())
        .await
        .expect_err("unknown charset");
    assert!(err.is_invalid_argument(), "{err:?}");
    // The body was read and cached all the same.
    let text = within("text", resp.text_with_encoding("utf-8"))
        .await
        .expect("utf-8");
    assert_eq!(text, "plain");
}

#[derive(Debug, Deserialize, PartialEq)]
struct Item {
    id: u32,
    name: String,
}

#[tokio::test]
async fn json_bodies() {
    let json_ct = [("Content-Type", "application/json")];
    let server = routes(vec![
        route(
            "GET /item",
            reply(
                "HTTP/1.1 200 OK",
                &json_ct,
                br#"{"id": 7, "name": "seven"}"#,
            ),
        ),
        route(
            "GET /charset",
            reply(
                "HTTP/1.1 200 OK",
                &[("Content-Type", "application/json; charset=utf-8")],
                "{\"id\": 8, \"name\": \"acht – ☃\"}".as_bytes(),
            ),
        ),
        route(
            "GET /problem",
            reply(
                "HTTP/1.1 400 Bad Request",
                &[("Content-Type", "application/problem+json")],
                br#"{"type": "about:blank", "status": 400}"#,
            ),
        ),
        route("GET /empty", reply("HTTP/1.1 200 OK", &json_ct, b"")),
        route(
            "GET /blank",
            reply("HTTP/1.1 200 OK", &json_ct, b" \r\n\t "),
        ),
        route(
            "GET /invalid",
            reply("HTTP/1.1 200 OK", &json_ct, b"{not json"),
        ),
        route(
            "GET /wrong-shape",
            reply("HTTP/1.1 200 OK", &json_ct, br#"{"id": "x"}"#),
        ),
        route(
            "GET /text",
            reply(
                "HTTP/1.1 200 OK",
                &[("Content-Type", "text/plain")],
                b"[1, 2, 3]",
            ),
        ),
    ])
    .await;
    let session = ClientSession::new();
    let get = |path: &str| send(session.get(server.url(path)));

    let mut resp = get("/item").await;
    let item: Item = within("json", resp.json()).await.expect("item");
    assert_eq!(
        item,
        Item {
            id: 7,
            name: "seven".into()
        }
    );

    let mut resp = get("/charset").await;
    let item: Item = within("json", resp.json()).await.expect("item");
    assert_eq!(item.name, "acht – ☃");

    let mut resp = get("/problem").await;
    let v: Value = within("json", resp.json()).await.expect("problem+json");
    assert_eq!(v, json!({"type": "about:blank", "status": 400}));

    for path in ["/empty", "/blank"] {
        let mut resp = get(path).await;
        let v: Option<Item> = within("json", resp.json()).await.expect(path);
        assert_eq!(v, None, "{path}");
    }

    for path in ["/invalid", "/wrong-shape"] {
        let mut resp = get(path).await;
        let err = within("json", resp.json::<Item>()).await.expect_err(path);
        assert_eq!(err.kind(), ErrorKind::ClientPayloadError, "{path}: {err:?}");
    }

    let mut resp = get("/text").await;
    let err = within("json", resp.json::<Value>())
        .await
        .expect_err("text/plain is not JSON by default");
    assert_eq!(err.kind(), ErrorKind::ContentTypeError);
    let v: Vec<u32> = within("json", resp.json_with(Some("text/plain")))
        .await
        .expect("expected type given");
    assert_eq!(v, [1, 2, 3]);
    let err = within("json", resp.json_with::<Value>(Some("text/html")))
        .await
        .expect_err("another expected type");
    assert_eq!(err.kind(), ErrorKind::ContentTypeError);
}

#[tokio::test]
async fn read_is_cached_for_text_and_json() {
    let server = RawServer::reply(reply(
        "HTTP/1.1 200 OK",
        &[("Content-Type", "application/json")],
        br#"{"cached": true}"#,
    ))
    .await;
    let session = ClientSession::new();
    let mut resp = send(session.get(server.url("/"))).await;
    let first = read_body(&mut resp).await;
    assert_eq!(first, r#"{"cached": true}"#);
    // The stream itself is drained; the cache answers from now on.
    assert!(resp.content().at_eof());
    assert!(resp.connection().is_none());
    let second = read_body(&mut resp).await;
    assert_eq!(second, first);
    assert_eq!(read_text(&mut resp).await, r#"{"cached": true}"#);
    let v: Value = within("json", resp.json()).await.expect("json");
    assert_eq!(v, json!({"cached": true}));
    assert_eq!(read_body(&mut resp).await, first);
}

// ---- Content-Encoding ----

#[tokio::test]
async fn compressed_bodies_are_decoded_and_the_connection_pooled() {
    let data = sample();
    let bodies: Vec<(&str, &str, Vec<u8>)> = vec![
        ("/gzip", "gzip", gzip(&data)),
        ("/x-gzip", "x-gzip", gzip(&data)),
        ("/deflate", "deflate", zlib(&data)),
        ("/raw-deflate", "deflate", raw_deflate(&data)),
        ("/br", "br", brotli(&data).await),
        ("/zstd", "zstd", zstd(&data).await),
    ];
    for (_, _, compressed) in &bodies {
        assert!(compressed.len() < data.len() / 2);
    }
    let mut table: Vec<Route> = bodies
        .iter()
        .map(|(path, coding, compressed)| {
            route(
                &format!("GET {path}"),
                reply(
                    "HTTP/1.1 200 OK",
                    &[
                        ("Content-Type", "text/plain; charset=utf-8"),
                        ("Content-Encoding", *coding),
                    ],
                    compressed,
                ),
            )
        })
        .collect();
    let gz = gzip(&data);
    table.push((
        String::from("GET /chunked-gzip"),
        chunked_reply(&[("Content-Encoding", "gzip")], &gz, 700),
        1500,
    ));
    let server = routes(table).await;

    let session = ClientSession::new();
    for (i, (path, coding, _)) in bodies.iter().enumerate() {
        let mut resp = send(session.get(server.url(path))).await;
        assert_eq!(
            resp.connection().expect("body unread").is_reused(),
            i > 0,
            "{path}"
        );
        assert_eq!(values(&resp, "content-encoding"), [coding.as_bytes()]);
        assert_eq!(read_body(&mut resp).await, data, "{path}");
        assert!(resp.connection().is_none(), "{path}: connection released");
    }
    let mut resp = send(session.get(server.url("/chunked-gzip"))).await;
    assert_eq!(values(&resp, "content-encoding"), [b"gzip"]);
    assert_eq!(values(&resp, "transfer-encoding"), [b"chunked"]);
    let first = within("line", resp.content().readline())
        .await
        .expect("line");
    assert_eq!(first, "line 0: 0 the quick brown fox\n");
    let rest = within("rest", resp.content().read_to_end())
        .await
        .expect("rest");
    assert_eq!([&first[..], &rest[..]].concat(), data);
    drop(resp);
    // Every decoded body was read to its end, so one connection carried all of them.
    assert_eq!(server.connections_accepted(), 1);
    let stats = session.connector().pool().stats();
    assert_eq!((stats.open, stats.idle), (1, 1));
}

#[tokio::test]
async fn auto_decompress_off_returns_the_raw_bytes() {
    let data = sample();
    let bodies: Vec<(&str, &str, Vec<u8>)> = vec![
        ("/gzip", "gzip", gzip(&data)),
        ("/deflate", "deflate", zlib(&data)),
        ("/br", "br", brotli(&data).await),
        ("/zstd", "zstd", zstd(&data).await),
    ];
    let table: Vec<Route> = bodies
        .iter()
        .map(|(path, coding, compressed)| {
            route(
                &format!("GET {path}"),
                reply(
                    "HTTP/1.1 200 OK",
                    &[("Content-Encoding", *coding)],
                    compressed,
                ),
            )
        })
        .collect();
    let server = routes(table).await;
    let session = ClientSession::builder()
        .auto_decompress(false)
        .build()
        .expect("session");
    assert!(!session.auto_decompress());
    for (path, coding, compressed) in &bodies {
        let mut resp = send(session.get(server.url(path))).await;
        assert_eq!(values(&resp, "content-encoding"), [coding.as_bytes()]);
        assert_eq!(read_body(&mut resp).await, compressed.as_slice(), "{path}");
    }
    assert_eq!(server.connections_accepted(), 1);
}

// ---- bodies that are empty by rule ----

#[tokio::test]
async fn head_204_304_and_1xx_have_the_right_bodies_on_one_connection() {
    let server = routes(vec![
        // A HEAD answer announces the length (and coding) of a body it does not send.
        route(
            "HEAD /res",
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\n\
              Content-Length: 1234\r\n\r\n"
                .to_vec(),
        ),
        route("GET /res", reply("HTTP/1.1 200 OK", &[], b"the resource")),
        route(
            "GET /204",
            b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n".to_vec(),
        ),
        route(
            "GET /304",
            b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 1234\r\n\r\n".to_vec(),
        ),
        route(
            "GET /1xx",
            b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal"
                .to_vec(),
        ),
    ])
    .await;
    let session = ClientSession::new();
    let mut steps: Vec<(RequestBuilder, u16, &[u8])> = Vec::new();
    for _ in 0..2 {
        steps.push((session.head(server.url("/res")), 200, b""));
        steps.push((session.get(server.url("/res")), 200, b"the resource"));
        steps.push((session.get(server.url("/204")), 204, b""));
        steps.push((session.get(server.url("/304")), 304, b""));
        steps.push((session.get(server.url("/1xx")), 200, b"final"));
    }
    for (i, (req, status, body)) in steps.into_iter().enumerate() {
        let mut resp = send(req).await;
        assert_eq!(resp.status().as_u16(), status, "step {i}");
        assert_eq!(read_body(&mut resp).await, body, "step {i}");
        assert!(resp.content().at_eof(), "step {i}");
        drop(resp);
        assert_eq!(server.connections_accepted(), 1, "after step {i}");
    }
    let reqs = server.requests();
    assert_eq!(reqs.len(), 10);
    assert_eq!(reqs[0].method, "HEAD");
}

#[tokio::test]
async fn head_against_a_real_server_then_get_reuses_the_connection() {
    let server =
        HttpServer::start(|_req| async { http::Response::new(full(vec![b'z'; 5000])) }).await;
    let session = ClientSession::new();
    let mut resp = send(session.head(server.url("/"))).await;
    assert_eq!(values(&resp, "content-length"), [b"5000"]);
    assert!(read_body(&mut resp).await.is_empty());
    drop(resp);
    let mut resp = send(session.get(server.url("/"))).await;
    assert_eq!(read_body(&mut resp).await.len(), 5000);
    assert_eq!(server.connections_accepted(), 1);
    assert_eq!(server.requests_received(), 2);
}

// ---- read_until_eof ----

#[tokio::test]
async fn body_delimited_by_the_close_honours_read_until_eof() {
    let response =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of this, up to the close";
    let server = RawServer::reply_once_and_close(response).await;
    let session = ClientSession::new();

    // Default: the body is everything up to the server's close.
    let mut resp = send(session.get(server.url("/"))).await;
    assert_eq!(read_text(&mut resp).await, "all of this, up to the close");
    drop(resp);

    // Without read_until_eof: no length and no chunking mean an empty body, and the connection
    // (which would have delimited the body) is closed at once.
    let mut resp = send(session.get(server.url("/")).read_until_eof(false)).await;
    assert!(read_body(&mut resp).await.is_empty());
    assert!(resp.content().at_eof());
    assert!(
        server.wait_for_open_connections(0, LIMIT).await,
        "the client closed the connection"
    );
    drop(resp);
    assert_eq!(server.connections_accepted(), 2);

    // An HTTP/1.0 answer without a length is read to the close as well.
    let server = RawServer::reply_once_and_close("HTTP/1.0 200 OK\r\n\r\nold style").await;
    let mut resp = send(session.get(server.url("/"))).await;
    assert_eq!(read_text(&mut resp).await, "old style");
}

#[tokio::test]
async fn read_until_eof_off_keeps_framed_bodies() {
    let server = routes(vec![
        route("GET /len", reply("HTTP/1.1 200 OK", &[], b"with a length")),
        route("GET /chunked", chunked_reply(&[], b"in three chunks", 5)),
        route(
            "HEAD /len",
            b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n".to_vec(),
        ),
        route("GET /204", b"HTTP/1.1 204 No Content\r\n\r\n".to_vec()),
    ])
    .await;
    let session = ClientSession::new();
    let mut resp = send(session.get(server.url("/len")).read_until_eof(false)).await;
    assert_eq!(read_text(&mut resp).await, "with a length");
    let mut resp = send(session.get(server.url("/chunked")).read_until_eof(false)).await;
    assert_eq!(read_text(&mut resp).await, "in three chunks");
    // Bodies that are empty by rule need no framing: the connection stays usable.
    let mut resp = send(session.head(server.url("/len")).read_until_eof(false)).await;
    assert!(read_body(&mut resp).await.is_empty());
    drop(resp);
    let mut resp = send(session.get(server.url("/204")).read_until_eof(false)).await;
    assert!(read_body(&mut resp).await.is_empty());
    drop(resp);
    let mut resp = send(session.get(server.url("/len"))).await;
    assert_eq!(read_text(&mut resp).await, "with a length");
    assert_eq!(server.connections_accepted(), 1);
}

// ---- StreamReader over live responses ----

#[tokio::test]
async fn read_n_and_readany_follow_what_has_arrived() {
    let (server, tx) = scripted().await;
    write(
        &tx,
        [CHUNKED_HEAD.as_bytes(), &chunk(b"hello world")[..]].concat(),
    );
    let session = ClientSession::new();
    let mut resp = send(session.get(server.url("/"))).await;
    let r = resp.content();
    assert!(!r.at_eof());
    assert_eq!(within("read", r.read(5)).await.expect("read"), "hello");
    // Buffered data is returned without waiting for more.
    assert_eq!(within("read", r.read(100)).await.expect("read"), " world");
    assert_eq!(within("read", r.read(0)).await.expect("read"), "");
    assert!(!r.at_eof());

    write(&tx, chunk(b"alpha"));
    assert_eq!(within("readany", r.readany()).await.expect("any"), "alpha");
    write(&tx, chunk(b"beta"));
    assert_eq!(within("read", r.read(2)).await.expect("read"), "be");
    assert_eq!(within("readany", r.readany()).await.expect("any"), "ta");
    assert!(!r.at_eof());

    write(&tx, LAST_CHUNK);
    assert_eq!(within("readany", r.readany()).await.expect("any"), "");
    assert!(r.at_eof());
    assert_eq!(within("read", r.read(10)).await.expect("read"), "");
    assert!(resp.connection().is_none(), "the ended body released it");
}

#[tokio::test]
async fn readline_across_slowly_written_chunks() {
    let server = HttpServer::start(|_req| async {
        http::Response::new(chunks_with_delay(
            [
                "fir",
                "st line\nsec",
                "ond line\r\n",
                "\n",
                "a long ",
                "third ",
                "line\nlast line without newline",
            ],
            Duration::from_millis(15),
        ))
    })
    .await;
    let session = ClientSession::new();
    let mut resp = send(session.get(server.url("/"))).await;
    assert_eq!(values(&resp, "transfer-encoding"), [b"chunked"]);
    let r = resp.content();
    let mut lines = Vec::new();
    loop {
        let line = within("readline", r.readline()).await.expect("line");
        if line.is_empty() {
            break;
        }
        lines.push(line);
    }
    assert_eq!(
        lines,
        [
            "first line\n",
            "second line\r\n",
            "\n",
            "a long third line\n",
            "last line without newline",
        ]
    );
    assert!(r.at_eof());
}

#[tokio::test]
async fn readline_when_even_the_chunk_framing_arrives_in_pieces() {
    let text: String = (0..200)
        .map(|i| format!("{i}: {}\n", "x".repeat(i % 17)))
        .collect();
    let wire = chunked_reply(&[], text.as_bytes(), 23);
    let server = routes(vec![(String::from("GET /"), wire, 5)]).await;
    let session = ClientSession::new();
    let mut resp = send(session.get(server.url("/"))).await;
    let r = resp.content();
    let mut lines = Vec::new();
    loop {
        let line = within("readline", r.readline()).await.expect("line");
        if line.is_empty() {
            break;
        }
        lines.push(String::from_utf8(line.to_vec()).expect("utf-8"));
    }
    let want: Vec<&str> = text.split_inclusive('\n').collect();
    assert_eq!(lines, want);
}

#[tokio::test]
async fn readuntil_with_separators_split_across_chunks() {
    let server = HttpServer::start(|_req| async {
        http::Response::new(chunks_with_delay(
            ["one-", "-two-", "-thr", "ee<>", "<", ">end"],
            Duration::from_millis(10),
        ))
    })
    .await;
    let session = ClientSession::new();
    let mut resp = send(session.get(server.url("/"))).await;
    let r = resp.content();
    let err = within("readuntil", r.readuntil(b""))
        .await
        .expect_err("empty separator");
    assert!(err.is_invalid_argument(), "{err:?}");
    assert_eq!(
        within("readuntil", r.readuntil(b"--")).await.expect("1"),
        "one--"
    );
    assert_eq!(
        within("readuntil", r.readuntil(b"--")).await.expect("2"),
        "two--"
    );
    assert_eq!(
        within("readuntil", r.readuntil(b"<><>")).await.expect("3"),
        "three<><>"
    );
    assert_eq!(
        within("readuntil", r.readuntil(b"--")).await.expect("4"),
        "end"
    );
    assert_eq!(
        within("readuntil", r.readuntil(b"--")).await.expect("5"),
        ""
    );
    assert!(r.at_eof());
}

#[tokio::test]
async fn readexactly_reassembles_and_fails_at_eof() {
    let server = HttpServer::start(|_req| async {
        http::Response::new(chunks_with_delay(
            ["01", "2", "3456", "789"],
            Duration::from_millis(10),
        ))
    })
    .await;
    let session = ClientSession::new();
    let mut resp = send(session.get(server.url("/"))).await;
    let r = resp.content();
    assert_eq!(within("exact", r.readexactly(4)).await.expect("4"), "0123");
    assert_eq!(within("exact", r.readexactly(0)).await.expect("0"), "");
    assert_eq!(within("exact", r.readexactly(4)).await.expect("4"), "4567");
    let err = within("exact", r.readexactly(4))
        .await
        .expect_err("only 2 bytes left");
    assert_eq!(err.kind(), ErrorKind::ClientPayloadError, "{err:?}");
    // The partial data was consumed with the failed read; the body is over.
    assert!(r.at_eof());
    assert_eq!(within("read", r.read(10)).await.expect("read"), "");
}

#[tokio::test]
async fn iter_chunked_yields_exact_sizes() {
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    // 777-byte transfer chunks, written in pieces of 1000 bytes.
    let wire = chunked_reply(&[], &data, 777);
    let server = routes(vec![
        (String::from("GET /"), wire.clone(), 1000),
        (String::from("GET /again"), wire, 1000),
    ])
    .await;
    let session = ClientSession::new();
    let mut resp = send(session.get(server.url("/"))).await;
    let mut sizes = Vec::new();
    let mut got = Vec::new();
    {
        let mut chunks = resp.content().iter_chunked(1024);
        while let Some(piece) = within("chunk", chunks.next()).await {
            let piece = piece.expect("chunk");
            sizes.push(piece.len());
            got.extend_from_slice(&piece);
        }
    }
    let mut want = vec![1024; 9];
    want.push(10_000 - 9 * 1024);
    assert_eq!(sizes, want);
    assert_eq!(got, data);
    assert!(resp.content().at_eof());

    let mut resp = send(session.get(server.url("/again"))).await;
    let mut chunks = resp.content().iter_chunked(0);
    let first = within("chunk", chunks.next()).await.expect("one item");
    assert!(first.expect_err("size 0").is_invalid_argument());
    assert!(within("chunk", chunks.next()).await.is_none());
}

#[tokio::test]
async fn iter_any_yields_data_as_it_arrives() {
    let (server, tx) = scripted().await;
    write(
        &tx,
        [CHUNKED_HEAD.as_bytes(), &chunk(b"alpha")[..]].concat(),
    );
    let session = ClientSession::new();
    let mut resp = send(session.get(server.url("/"))).await;
    let mut got = Vec::new();
    {
        let mut any = resp.content().iter_any();
        got.push(
            within("any", any.next())
                .await
                .expect("item")
                .expect("alpha"),
        );
        write(&tx, chunk(b"beta"));
        got.push(
            within("any", any.next())
                .await
                .expect("item")
                .expect("beta"),
        );
        write(&tx, [chunk(b"gamma"), LAST_CHUNK.to_vec()].concat());
        while let Some(item) = within("any", any.next()).await {
            got.push(item.expect("item"));
        }
    }
    assert_eq!(got, ["alpha", "beta", "gamma"]);
    assert!(resp.content().at_eof());
}

#[tokio::test]
async fn content_is_a_stream_of_chunks() {
    let (server, tx) = scripted().await;
    write(&tx, [CHUNKED_HEAD.as_bytes(), &chunk(b"one")[..]].concat());
    let session = ClientSession::new();
    let mut resp = send(session.get(server.url("/"))).await;
    let r = resp.content();
    let first = within("next", r.next()).await.expect("item").expect("one");
    assert_eq!(first, "one");
    write(&tx, chunk(b"two"));
    let second = within("next", r.next()).await.expect("item").expect("two");
    assert_eq!(second, "two");
    assert!(!r.at_eof());
    write(&tx, LAST_CHUNK);
    assert!(within("next", r.next()).await.is_none());
    assert!(r.at_eof());

    // The same over a body that is already complete, collected in one go.
    let server = routes(vec![route("GET /", chunked_reply(&[], b"abcdefghij", 3))]).await;
    let mut resp = send(session.get(server.url("/"))).await;
    let pieces: Vec<_> = within("collect", resp.content().collect::<Vec<_>>()).await;
    let body: Vec<u8> = pieces
        .into_iter()
        .map(|p| p.expect("piece"))
        .flat_map(|p| p.to_vec())
        .collect();
    assert_eq!(body, b"abcdefghij");
}

// ---- large and broken bodies ----

#[tokio::test]
async fn ten_mib_stream_arrives_whole() {
    const TOTAL: usize = 10 * 1024 * 1024;
    const PIECE: usize = 10_000;
    fn pattern(i: usize) -> u8 {
        (i % 251) as u8
    }
    let server = HttpServer::start(|_req| async {
        let (tx, body) = body_channel(8);
        tokio::spawn(async move {
            let mut sent = 0;
            while sent < TOTAL {
                let n = PIECE.min(TOTAL - sent);
                let piece: Vec<u8> = (sent..sent + n).map(pattern).collect();
                if tx.send(Bytes::from(piece)).await.is_err() {
                    return;
                }
                sent += n;
            }
        });
        http::Response::new(body)
    })
    .await;
    let session = ClientSession::new();
    let mut resp = send(session.get(server.url("/big"))).await;
    let mut total = 0;
    let mut count = 0;
    {
        let mut chunks = resp.content().iter_chunked(64 * 1024);
        while let Some(piece) = within("chunk", chunks.next()).await {
            let piece = piece.expect("chunk");
            assert_eq!(piece.len(), 64 * 1024, "chunk {count}");
            assert!(
                piece
                    .iter()
                    .enumerate()
                    .all(|(k, b)| *b == pattern(total + k)),
                "content of chunk {count}"
            );
            total += piece.len();
            count += 1;
        }
    }
    assert_eq!(total, TOTAL);
    assert_eq!(count, TOTAL / (64 * 1024));
    assert!(resp.content().at_eof());
    assert!(resp.connection().is_none());
}

#[tokio::test]
async fn connection_closed_mid_body_is_a_payload_error() {
    let session = ClientSession::new();

    // A Content-Length body cut short by a close.
    let (server, tx) = scripted().await;
    let mut head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n".to_vec();
    head.extend(vec![b'a'; 30_000]);
    write(&tx, head);
    let mut resp = send(session.get(server.url("/"))).await;
    let mut got = 0;
    let err = {
        let mut chunks = resp.content().iter_chunked(4096);
        let first = within("chunk", chunks.next()).await.expect("data first");
        got += first.expect("data first").len();
        drop(tx);
        loop {
            match within("chunk", chunks.next()).await {
                Some(Ok(piece)) => got += piece.len(),
                Some(Err(e)) => break e,
                None => panic!("the stream ended quietly after {got} of 100000 bytes"),
            }
        }
    };
    assert_eq!(err.kind(), ErrorKind::ClientPayloadError, "{err:?}");
    assert!(got < 100_000);
    // The failure sticks.
    let again = within("read", resp.content().read(10))
        .await
        .expect_err("still failed");
    assert_eq!(again.kind(), ErrorKind::ClientPayloadError);
    let again = within("read", resp.read()).await.expect_err("still failed");
    assert_eq!(again.kind(), ErrorKind::ClientPayloadError);

    // A chunked body cut in the middle of a chunk, read as a Stream.
    let (server, tx) = scripted().await;
    write(
        &tx,
        [
            CHUNKED_HEAD.as_bytes(),
            &chunk(b"complete")[..],
            &b"100\r\npartial"[..],
        ]
        .concat(),
    );
    let mut resp = send(session.get(server.url("/"))).await;
    let r = resp.content();
    let mut data = Vec::new();
    let first = within("next", r.next()).await.expect("item").expect("data");
    data.extend_from_slice(&first);
    drop(tx);
    let err = loop {
        match within("next", r.next()).await {
            Some(Ok(piece)) => data.extend_from_slice(&piece),
            Some(Err(e)) => break e,
            None => panic!("the stream ended quietly after {data:?}"),
        }
    };
    assert!(err.is_client_payload_error(), "{err:?}");
    assert!(data.starts_with(b"complete"));
    assert!(
        within("next", r.next()).await.is_none(),
        "ends after the error"
    );

    // A gzip body cut short: the decoder passes the connection's failure on.
    let (server, tx) = scripted().await;
    let gz = gzip(&sample());
    let mut wire = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        gz.len()
    )
    .into_bytes();
    wire.extend_from_slice(&gz[..gz.len() / 2]);
    write(&tx, wire);
    drop(tx);
    let mut resp = send(session.get(server.url("/"))).await;
    let err = within("read", resp.read())
        .await
        .expect_err("truncated gzip");
    assert!(err.is_client_payload_error(), "{err:?}");
}

#[tokio::test]
async fn reset_mid_body_is_a_payload_error_even_without_a_length() {
    // Without a length the close ends the body, so only a reset tells a broken body apart; it
    // must not pass for the end.
    let (server, tx) = scripted().await;
    write(
        &tx,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst part",
    );
    let session = ClientSession::new();
    let mut resp = send(session.get(server.url("/"))).await;
    let first = within("readany", resp.content().readany())
        .await
        .expect("first part");
    assert_eq!(first, "first part");
    tx.send(Step::Reset).expect("server still running");
    let err = within("read", resp.content().read_to_end())
        .await
        .expect_err("a reset is no end of body");
    assert!(err.is_client_payload_error(), "{err:?}");
}

#[tokio::test]
async fn output_size_counts_what_the_server_received_for_each_request() {
    let server = RawServer::reply(reply("HTTP/1.1 200 OK", &[], b"ok")).await;
    let session = ClientSession::new();
    let body = vec![b'x'; 70_000];
    let mut first = send(session.post(server.url("/a")).data(body.clone())).await;
    assert!(first.upload_complete());
    assert_eq!(read_body(&mut first).await, &b"ok"[..]);
    let mut second = send(session.get(server.url("/b"))).await;
    assert!(second.upload_complete(), "no body: complete at once");
    assert_eq!(read_body(&mut second).await, &b"ok"[..]);
    let pieces = futures_util::stream::iter(
        [&b"abc"[..], &b"defgh"[..]].map(|p| Ok::<_, std::io::Error>(Bytes::from_static(p))),
    );
    let mut third = send(
        session
            .post(server.url("/c"))
            .data(aiohttp::Body::wrap_stream(pieces)),
    )
    .await;
    assert_eq!(read_body(&mut third).await, &b"ok"[..]);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs.iter().all(|r| r.connection == 0), "one connection");
    assert!(reqs[2].chunked);
    // Each counter holds its own request's bytes, head and body (with chunk framing), even
    // after later requests went over the same connection.
    for (resp, req) in [&first, &second, &third].into_iter().zip(&reqs) {
        let on_wire = (req.head.len() + req.raw_body.len()) as u64;
        assert_eq!(resp.output_size(), Some(on_wire), "{}", req.path);
    }
    assert_eq!(reqs[0].raw_body.len(), body.len());
}

#[tokio::test]
async fn total_raw_bytes_counts_the_body_before_decoding() {
    let data = sample();
    let gz = gzip(&data);
    let server = routes(vec![
        route(
            "GET /gzip",
            reply("HTTP/1.1 200 OK", &[("Content-Encoding", "gzip")], &gz),
        ),
        route("GET /plain", reply("HTTP/1.1 200 OK", &[], &data)),
    ])
    .await;
    let session = ClientSession::new();
    let mut resp = send(session.get(server.url("/gzip"))).await;
    assert_eq!(read_body(&mut resp).await, data);
    assert_eq!(resp.total_raw_bytes(), gz.len() as u64);
    let raw_session = ClientSession::builder()
        .auto_decompress(false)
        .build()
        .expect("session");
    let mut resp = send(raw_session.get(server.url("/gzip"))).await;
    assert_eq!(read_body(&mut resp).await, gz);
    assert_eq!(resp.total_raw_bytes(), gz.len() as u64);
    // The request's own setting wins over the session's, either way.
    let mut resp = send(session.get(server.url("/gzip")).auto_decompress(false)).await;
    assert_eq!(read_body(&mut resp).await, gz);
    let mut resp = send(raw_session.get(server.url("/gzip")).auto_decompress(true)).await;
    assert_eq!(read_body(&mut resp).await, data);
    let mut resp = send(session.get(server.url("/plain"))).await;
    assert_eq!(resp.total_raw_bytes(), 0, "nothing read yet");
    assert_eq!(read_body(&mut resp).await, data);
    assert_eq!(resp.total_raw_bytes(), data.len() as u64);
}
