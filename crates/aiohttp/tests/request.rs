//! Requests as they reach a server: methods, params, bodies, auto headers, auth, framing.

use std::time::Duration;

use aiohttp::{BasicAuth, Body, ClientSession, Version};
use serde_json::Value;
use test_support::{HttpServer, RawServer};

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

async fn echo(resp: aiohttp::RequestBuilder) -> Value {
    let mut resp = resp.await.expect("request succeeds");
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("echo json")
}

fn header<'a>(v: &'a Value, name: &str) -> Vec<&'a str> {
    v["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .filter(|p| p[0].as_str() == Some(name))
        .filter_map(|p| p[1].as_str())
        .collect()
}

#[tokio::test]
async fn get_sends_exact_auto_headers_on_the_wire() {
    let server = RawServer::reply(OK).await;
    let session = ClientSession::new();
    let mut resp = session.get(server.url("/p?a=1")).await.expect("get");
    assert_eq!(resp.text().await.expect("body"), "ok");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let head = reqs[0].head_str();
    let port = server.addr().port();
    let want = format!(
        "GET /p?a=1 HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\naccept: */*\r\naccept-encoding: gzip, deflate, br, zstd\r\nuser-agent: aiohttp-rs/{}\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(head, want);
}

#[tokio::test]
async fn methods_and_content_length_rules() {
    let server = RawServer::reply(OK).await;
    let session = ClientSession::new();
    for m in ["GET", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "HEAD"] {
        let resp = session.request(m, server.url("/")).await.expect(m);
        drop(resp);
    }
    let reqs = server.requests();
    let got: Vec<(String, Option<String>)> = reqs
        .iter()
        .map(|r| {
            (
                r.method.clone(),
                r.header("content-length").map(str::to_string),
            )
        })
        .collect();
    let want: Vec<(String, Option<String>)> = [
        ("GET", None),
        ("OPTIONS", None),
        ("POST", Some("0")),
        ("PUT", Some("0")),
        ("PATCH", Some("0")),
        ("DELETE", Some("0")),
        ("HEAD", None),
    ]
    .iter()
    .map(|(m, l)| (m.to_string(), l.map(str::to_string)))
    .collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn params_variants_reach_the_server() {
    let server = HttpServer::echo().await;
    let s = ClientSession::new();
    let v = echo(
        s.get(server.url("/q?x=0#frag"))
            .params([("a", "1"), ("a", "2 3")]),
    )
    .await;
    assert_eq!(v["uri"], "/q?x=0&a=1&a=2+3");
    let v = echo(s.get(server.url("/q")).params("pre=%2Fencoded&flag")).await;
    assert_eq!(v["uri"], "/q?pre=%2Fencoded&flag");
    let map = std::collections::BTreeMap::from([("k", 1), ("j", 2)]);
    let v = echo(s.get(server.url("/q")).params(&map)).await;
    assert_eq!(v["uri"], "/q?j=2&k=1");
}

#[tokio::test]
async fn bodies_of_every_kind() {
    let server = HttpServer::echo().await;
    let s = ClientSession::new();

    let v = echo(s.post(server.url("/")).data(vec![0u8, 1, 2])).await;
    assert_eq!(header(&v, "content-type"), ["application/octet-stream"]);
    assert_eq!(v["body_len"], 3);

    let v = echo(s.post(server.url("/")).data(String::from("héllo"))).await;
    assert_eq!(header(&v, "content-type"), ["text/plain; charset=utf-8"]);
    assert_eq!(v["body"], "héllo");

    let v = echo(s.post(server.url("/")).data([("a", "1"), ("b", "x y&z")])).await;
    assert_eq!(
        header(&v, "content-type"),
        ["application/x-www-form-urlencoded"]
    );
    assert_eq!(v["body"], "a=1&b=x+y%26z");

    let v = echo(
        s.post(server.url("/"))
            .json(&serde_json::json!({"k": [1, 2]})),
    )
    .await;
    assert_eq!(header(&v, "content-type"), ["application/json"]);
    assert_eq!(v["body"], r#"{"k":[1,2]}"#);

    let chunks = futures_util::stream::iter(vec![
        Ok::<_, std::io::Error>("one,"),
        Ok("two,"),
        Ok("three"),
    ]);
    let v = echo(s.post(server.url("/")).data(Body::wrap_stream(chunks))).await;
    assert_eq!(header(&v, "transfer-encoding"), ["chunked"]);
    assert_eq!(v["body"], "one,two,three");

    let v = echo(
        s.post(server.url("/"))
            .data(Body::from_reader(&b"from a reader"[..])),
    )
    .await;
    assert_eq!(v["body"], "from a reader");

    let dir = std::env::temp_dir().join(format!("aiohttp-body-{}", std::process::id()));
    std::fs::write(&dir, vec![7u8; 200_000]).expect("temp file");
    let v = echo(
        s.put(server.url("/"))
            .data(Body::file(&dir).await.expect("file")),
    )
    .await;
    assert_eq!(header(&v, "content-length"), ["200000"]);
    assert_eq!(v["body_len"], 200_000);
    let _ = std::fs::remove_file(&dir);
}

#[tokio::test]
async fn stream_body_is_streamed_not_buffered() {
    // The server sees the first chunk before the client has produced the second one.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<&'static str, std::io::Error>>(1);
    let server = RawServer::start(|mut conn| async move {
        let Some(req) = conn.read_head_only().await else {
            return;
        };
        assert!(req.head_str().contains("transfer-encoding: chunked"));
        let mut first = String::from_utf8_lossy(conn.buffered()).to_string();
        if first.is_empty() {
            let mut buf = [0u8; 64];
            let n = tokio::time::timeout(
                Duration::from_secs(5),
                tokio::io::AsyncReadExt::read(conn.stream_mut(), &mut buf),
            )
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(0);
            first = String::from_utf8_lossy(&buf[..n]).to_string();
        }
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            first.len(),
            first
        );
        let _ = conn.write(reply).await;
    })
    .await;
    let s = ClientSession::new();
    let stream = tokio_stream_from(rx);
    let req = tokio::spawn(
        s.post(server.url("/"))
            .data(Body::wrap_stream(stream))
            .send(),
    );
    tx.send(Ok("first")).await.expect("send chunk");
    let mut resp = tokio::time::timeout(Duration::from_secs(5), req)
        .await
        .expect("server answered while the body was still open")
        .expect("task")
        .expect("response");
    let body = resp.text().await.expect("text");
    assert_eq!(body, "5\r\nfirst\r\n");
    drop(tx);
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn chunked_size_splits_the_body() {
    let server = RawServer::reply(OK).await;
    let s = ClientSession::new();
    drop(
        s.post(server.url("/"))
            .data("abcdefgh")
            .chunked(3)
            .await
            .expect("post"),
    );
    let req = &server.requests()[0];
    assert!(req.chunked);
    assert_eq!(req.body, b"abcdefgh");
    assert_eq!(
        req.raw_body,
        b"3\r\nabc\r\n3\r\ndef\r\n2\r\ngh\r\n0\r\n\r\n"
    );
    assert_eq!(req.header("content-length"), None);
}

#[tokio::test]
async fn compress_deflates_the_body() {
    use std::io::Read;
    let server = RawServer::reply(OK).await;
    let s = ClientSession::new();
    let data = "compressible ".repeat(500);
    drop(
        s.post(server.url("/"))
            .data(data.clone())
            .compress(true)
            .await
            .expect("post"),
    );
    let req = &server.requests()[0];
    assert_eq!(req.header("content-encoding"), Some("deflate"));
    assert!(req.chunked);
    assert!(req.body.len() < data.len() / 5);
    let mut out = String::new();
    flate2::read::ZlibDecoder::new(&req.body[..])
        .read_to_string(&mut out)
        .expect("zlib body");
    assert_eq!(out, data);
}

#[tokio::test]
async fn basic_auth_from_argument_session_and_url() {
    let server = HttpServer::echo().await;
    let want = BasicAuth::new("user", "pa ss").expect("auth").encode();

    let s = ClientSession::new();
    let v = echo(
        s.get(server.url("/"))
            .auth(BasicAuth::new("user", "pa ss").expect("auth")),
    )
    .await;
    assert_eq!(header(&v, "authorization"), [want.as_str()]);

    let s = ClientSession::builder()
        .auth(BasicAuth::new("user", "pa ss").expect("auth"))
        .build()
        .expect("session");
    let v = echo(s.get(server.url("/"))).await;
    assert_eq!(header(&v, "authorization"), [want.as_str()]);

    let url = server.url("/").replace("http://", "http://user:pa%20ss@");
    let v = echo(ClientSession::new().get(url.as_str())).await;
    assert_eq!(header(&v, "authorization"), [want.as_str()]);
    assert!(header(&v, "host")[0].starts_with("127.0.0.1:"));
}

#[tokio::test]
async fn session_headers_skip_and_override() {
    let server = HttpServer::echo().await;
    let s = ClientSession::builder()
        .headers([("X-Session", "s"), ("X-Both", "session")])
        .skip_auto_headers(["User-Agent"])
        .build()
        .expect("session");
    let v = echo(
        s.get(server.url("/"))
            .header("X-Both", "request")
            .skip_auto_headers(["Accept-Encoding"]),
    )
    .await;
    assert_eq!(header(&v, "x-session"), ["s"]);
    assert_eq!(header(&v, "x-both"), ["request"]);
    assert!(header(&v, "user-agent").is_empty());
    assert!(header(&v, "accept-encoding").is_empty());
    assert_eq!(header(&v, "accept"), ["*/*"]);
}

#[tokio::test]
async fn http10_request_line_and_ipv6_host() {
    let server = RawServer::reply("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok").await;
    let s = ClientSession::builder()
        .version(Version::HTTP_10)
        .build()
        .expect("session");
    let mut resp = s.get(server.url("/old")).await.expect("get");
    assert_eq!(resp.version(), Version::HTTP_10);
    assert_eq!(resp.text().await.expect("body"), "ok");
    assert!(server.requests()[0]
        .head_str()
        .starts_with("GET /old HTTP/1.0\r\n"));

    if test_support::skip_without_ipv6("http10_request_line_and_ipv6_host") {
        return;
    }
    let v6 = RawServer::start_ipv6(|mut c| async move {
        if c.read_request().await.is_some() {
            let _ = c.write(OK).await;
        }
    })
    .await
    .expect("bind [::1]:0");
    let url = format!("http://[::1]:{}/six", v6.addr().port());
    drop(
        ClientSession::new()
            .get(url.as_str())
            .await
            .expect("ipv6 get"),
    );
    let req = &v6.requests()[0];
    assert_eq!(
        req.header("host").map(str::to_string),
        Some(format!("[::1]:{}", v6.addr().port()))
    );
}

#[tokio::test]
async fn expect100_sends_body_only_after_continue() {
    let server = RawServer::start(|mut conn| async move {
        let Some(mut req) = conn.read_head_only().await else {
            return;
        };
        assert_eq!(req.header("expect"), Some("100-continue"));
        // Nothing of the body may arrive before the 100.
        let mut probe = [0u8; 1];
        let early = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::io::AsyncReadExt::read(conn.stream_mut(), &mut probe),
        )
        .await;
        assert!(early.is_err(), "body bytes arrived before 100 Continue");
        let _ = conn.write("HTTP/1.1 100 Continue\r\n\r\n").await;
        let _ = conn.read_body(&mut req).await;
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}",
            req.body.len(),
            String::from_utf8_lossy(&req.body)
        );
        let _ = conn.write(reply).await;
    })
    .await;
    let s = ClientSession::new();
    let mut resp = s
        .post(server.url("/"))
        .data("the body")
        .expect100(true)
        .await
        .expect("post");
    assert_eq!(resp.text().await.expect("text"), "the body");
}

#[tokio::test]
async fn expect100_final_status_means_body_never_sent() {
    let server = RawServer::start(|mut conn| async move {
        let Some(_req) = conn.read_head_only().await else {
            return;
        };
        let _ = conn
            .write("HTTP/1.1 417 Expectation Failed\r\nContent-Length: 4\r\n\r\nnope")
            .await;
        // Everything the client sends from now on is recorded: it must be nothing.
        let rest = conn.read_until_close().await;
        assert!(rest.is_empty(), "client sent the body anyway: {rest:?}");
    })
    .await;
    let s = ClientSession::new();
    let mut resp = s
        .post(server.url("/"))
        .data("secret body")
        .expect100(true)
        .await
        .expect("post");
    assert_eq!(resp.status(), 417);
    assert_eq!(resp.text().await.expect("text"), "nope");
    drop(resp);
    // The connection was not pooled: the next request opens a new one.
    let server_conns_before = server.connections_accepted();
    let _ = s.get(server.url("/")).send().await;
    assert!(server.connections_accepted() > server_conns_before);
    // The handler checks what arrived after its answer only once the client has closed;
    // let it finish, so that a failed check fails this test when the server is dropped.
    drop(s);
    assert!(
        server
            .wait_for_open_connections(0, Duration::from_secs(5))
            .await,
        "the client kept the connections open"
    );
}

#[tokio::test]
async fn one_shot_request_api() {
    let server = HttpServer::echo().await;
    let mut resp = aiohttp::request("PUT", server.url("/one"))
        .data("x")
        .await
        .expect("put");
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["method"], "PUT");
    assert_eq!(v["body"], "x");
}

#[tokio::test]
async fn closed_session_refuses_requests() {
    let server = HttpServer::echo().await;
    let s = ClientSession::new();
    s.close().await;
    assert!(s.closed());
    let err = s.get(server.url("/")).await.expect_err("closed");
    assert!(err.is_invalid_argument());
    assert_eq!(server.requests_received(), 0);

    let d = ClientSession::new();
    d.detach();
    assert!(d.get(server.url("/")).await.is_err());
}

#[tokio::test]
async fn invalid_input_sends_nothing() {
    let server = RawServer::reply(OK).await;
    let s = ClientSession::new();
    let cases = vec![
        s.request("BAD METHOD", server.url("/")),
        s.get(server.url("/")).header("x-a", "v\r\nx-injected: 1"),
        s.get(server.url("/")).header("x-a", "nul\0"),
        s.post(server.url("/")).data("a").json(&1),
        s.get(server.url("/").replace("http", "ftp").as_str()),
        s.get("http://[bad"),
    ];
    for b in cases {
        let err = b.await.expect_err("must fail before sending");
        assert!(err.is_invalid_argument() || err.is_invalid_url(), "{err}");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.connections_accepted(), 0);
}

#[tokio::test]
async fn custom_json_serializer_is_used() {
    let server = HttpServer::echo().await;
    let s = ClientSession::builder()
        .json_serialize(|v| Ok(format!("custom:{v}")))
        .build()
        .expect("session");
    let v = echo(s.post(server.url("/")).json(&serde_json::json!([1]))).await;
    assert_eq!(v["body"], "custom:[1]");
}

#[tokio::test]
async fn cookies_from_session_request_and_jar() {
    let server = RawServer::reply(
        "HTTP/1.1 200 OK\r\nSet-Cookie: jar=1; Path=/\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    let s = ClientSession::builder()
        .cookie_jar(aiohttp::CookieJar::new().unsafe_(true))
        .cookies([("shared", "s")])
        .build()
        .expect("session");
    let resp = s.get(server.url("/")).await.expect("first");
    assert_eq!(resp.cookies()[0].name(), "jar");
    drop(resp);
    drop(
        s.get(server.url("/"))
            .header("Cookie", "explicit=e")
            .cookies([("req", "r")])
            .await
            .expect("second"),
    );
    let reqs = server.requests();
    assert_eq!(reqs[0].header("cookie"), Some("shared=s"));
    let second = reqs[1].header("cookie").expect("cookie header");
    assert!(second.starts_with("explicit=e; "), "{second}");
    for part in ["shared=s", "jar=1", "req=r"] {
        assert!(second.contains(part), "{second}");
    }
}

#[tokio::test]
async fn one_shot_request_with_its_own_connector_and_version() {
    let server = HttpServer::echo().await;
    let connector = aiohttp::TcpConnector::builder()
        .force_close(true)
        .build()
        .expect("connector");
    for _ in 0..2 {
        let mut resp = aiohttp::request("GET", server.url("/"))
            .connector(
                aiohttp::TcpConnector::builder()
                    .force_close(true)
                    .build()
                    .expect("c"),
            )
            .version(Version::HTTP_10)
            .cookies([("k", "v")])
            .await
            .expect("one-shot");
        let v: Value = resp.json().await.expect("json");
        assert_eq!(v["version"], "HTTP/1.0");
        assert_eq!(header(&v, "cookie"), ["k=v"]);
    }
    assert_eq!(server.connections_accepted(), 2);
    let err = ClientSession::new()
        .get(server.url("/"))
        .connector(connector)
        .await
        .expect_err("only for aiohttp::request");
    assert!(err.is_invalid_argument());
}
