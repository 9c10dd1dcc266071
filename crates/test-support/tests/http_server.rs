//! Tests of `HttpServer` with a plain TCP client.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::Client;
use http::{Request, Response};
use hyper::body::Incoming;
use test_support::{
    body_channel, chunks_with_delay, fallible_stream, full, BoxBody, BoxError, ConnInfo, HttpServer,
};

async fn hello(_req: Request<Incoming>) -> Response<BoxBody> {
    Response::new(full("hello"))
}

fn json(resp: &common::Resp) -> serde_json::Value {
    serde_json::from_slice(&resp.body).expect("echo body is JSON")
}

#[tokio::test]
async fn full_body_keep_alive_and_counters() {
    let server = HttpServer::start(hello).await;
    assert!(server.url("/x").starts_with("http://127.0.0.1:"));
    assert!(server.url("x").ends_with("/x"));

    let mut client = Client::connect(server.addr()).await;
    for _ in 0..2 {
        let resp = client.get("/").await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("content-length"), Some("5"));
        assert_eq!(resp.text(), "hello");
    }
    assert_eq!(server.connections_accepted(), 1);
    assert_eq!(server.requests_received(), 2);
    assert_eq!(server.open_connections(), 1);

    drop(client);
    assert!(
        server
            .wait_for_open_connections(0, Duration::from_secs(5))
            .await
    );
    assert_eq!(server.max_open_connections(), 1);
}

#[tokio::test]
async fn max_open_connections_is_a_high_water_mark() {
    let server = HttpServer::start(hello).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut client = Client::connect(server.addr()).await;
        assert_eq!(client.get("/").await.status, 200);
        clients.push(client);
    }
    assert_eq!(server.open_connections(), 3);
    assert_eq!(server.max_open_connections(), 3);
    clients.truncate(1);
    assert!(
        server
            .wait_for_open_connections(1, Duration::from_secs(5))
            .await
    );
    let mut late = Client::connect(server.addr()).await;
    assert_eq!(late.get("/").await.status, 200);
    assert_eq!(server.connections_accepted(), 4);
    assert_eq!(server.open_connections(), 2);
    assert_eq!(server.max_open_connections(), 3);
}

#[tokio::test]
async fn conn_info_is_in_request_extensions() {
    let server = HttpServer::start(|req: Request<Incoming>| async move {
        let info = req.extensions().get::<ConnInfo>().copied();
        let text = info.map_or("none".to_owned(), |i| {
            format!("{} {}", i.index, i.peer.ip())
        });
        Response::new(full(text))
    })
    .await;
    let mut first = Client::connect(server.addr()).await;
    assert_eq!(first.get("/").await.text(), "0 127.0.0.1");
    let mut second = Client::connect(server.addr()).await;
    assert_eq!(second.get("/").await.text(), "1 127.0.0.1");
    assert_eq!(first.get("/").await.text(), "0 127.0.0.1");
}

#[tokio::test]
async fn echo_describes_the_request() {
    let server = HttpServer::echo().await;
    let mut client = Client::connect(server.addr()).await;
    client
        .send(
            b"POST /p/a?q=1&r=%20 HTTP/1.1\r\nHost: h\r\nX-One: 1\r\nX-Two: a\r\n\
             X-One: 2\r\nContent-Length: 9\r\n\r\nhi there\xff",
        )
        .await;
    let resp = client.read_response().await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let v = json(&resp);
    assert_eq!(v["method"], "POST");
    assert_eq!(v["uri"], "/p/a?q=1&r=%20");
    assert_eq!(v["path"], "/p/a");
    assert_eq!(v["query"], "q=1&r=%20");
    assert_eq!(v["version"], "HTTP/1.1");
    assert_eq!(
        v["headers"],
        serde_json::json!([
            ["host", "h"],
            ["x-one", "1"],
            ["x-one", "2"],
            ["x-two", "a"],
            ["content-length", "9"]
        ])
    );
    assert_eq!(v["body"], "hi there\u{fffd}");
    assert_eq!(v["body_len"], 9);
    assert_eq!(v["connection"], 0);

    let resp = client.get("/again").await;
    let v = json(&resp);
    assert_eq!(v["method"], "GET");
    assert_eq!(v["query"], serde_json::Value::Null);
    assert_eq!(v["body_len"], 0);
    assert_eq!(v["connection"], 0);
}

#[tokio::test]
async fn echo_decodes_chunked_request_with_trailers() {
    let server = HttpServer::echo().await;
    let mut client = Client::connect(server.addr()).await;
    client
        .send(
            "PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
             5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Check: ok\r\n\r\n",
        )
        .await;
    let v = json(&client.read_response().await);
    assert_eq!(v["method"], "PUT");
    assert_eq!(v["body"], "hello world");
    assert_eq!(v["body_len"], 11);
    assert_eq!(v["trailers"], serde_json::json!([["x-check", "ok"]]));
}

#[tokio::test]
async fn delayed_chunks_stream_with_chunked_encoding() {
    let server = HttpServer::start(|_req| async {
        Response::new(chunks_with_delay(
            ["ab", "cd", "ef"],
            Duration::from_millis(40),
        ))
    })
    .await;
    let mut client = Client::connect(server.addr()).await;
    let started = Instant::now();
    let resp = client.get("/").await;
    assert!(started.elapsed() >= Duration::from_millis(80));
    assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
    assert_eq!(resp.text(), "abcdef");
    // The connection stays usable.
    assert_eq!(client.get("/").await.text(), "abcdef");
    assert_eq!(server.connections_accepted(), 1);
}

#[tokio::test]
async fn streamed_body_with_own_content_length() {
    let server = HttpServer::start(|_req| async {
        let mut resp = Response::new(chunks_with_delay(["abc", "def"], Duration::from_millis(1)));
        resp.headers_mut()
            .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(6));
        resp
    })
    .await;
    let mut client = Client::connect(server.addr()).await;
    let resp = client.get("/").await;
    assert_eq!(resp.header("content-length"), Some("6"));
    assert_eq!(resp.header("transfer-encoding"), None);
    assert_eq!(resp.text(), "abcdef");
}

#[tokio::test]
async fn body_channel_streams_until_sender_dropped() {
    let server = HttpServer::start(|_req| async {
        let (tx, body) = body_channel(1);
        tokio::spawn(async move {
            for piece in ["one ", "two ", "three"] {
                if tx.send(Bytes::from(piece)).await.is_err() {
                    return;
                }
            }
        });
        Response::new(body)
    })
    .await;
    let mut client = Client::connect(server.addr()).await;
    let resp = client.get("/").await;
    assert_eq!(resp.text(), "one two three");
}

#[tokio::test]
async fn fallible_stream_aborts_the_connection() {
    let server = HttpServer::start(|_req| async {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            let _ = tx.send(Ok(Bytes::from_static(b"partial"))).await;
            // Let the head and the first chunk reach the client first.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let err: BoxError = "upstream died".into();
            let _ = tx.send(Err(err)).await;
        });
        Response::new(fallible_stream(rx))
    })
    .await;
    let mut client = Client::connect(server.addr()).await;
    client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
    let (status, headers) = client.read_head().await;
    assert_eq!(status, 200);
    assert!(headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v == "chunked"));
    let rest = client.read_until_closed().await;
    let rest = String::from_utf8_lossy(&rest);
    assert!(rest.contains("partial"), "{rest:?}");
    assert!(!rest.ends_with("0\r\n\r\n"), "{rest:?}");
}

#[tokio::test]
async fn close_connections_drops_clients_and_keeps_accepting() {
    let server = HttpServer::start(hello).await;
    let mut client = Client::connect(server.addr()).await;
    assert_eq!(client.get("/").await.status, 200);
    server.close_connections().await;
    assert_eq!(server.open_connections(), 0);
    assert!(client.read_until_closed().await.is_empty());

    let mut again = Client::connect(server.addr()).await;
    assert_eq!(again.get("/").await.text(), "hello");
    assert_eq!(server.connections_accepted(), 2);
}

#[tokio::test]
async fn shutdown_closes_listener_and_connections() {
    let server = HttpServer::start(hello).await;
    let addr = server.addr();
    let mut client = Client::connect(addr).await;
    assert_eq!(client.get("/").await.status, 200);
    server.shutdown().await;
    assert!(client.read_until_closed().await.is_empty());
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn drop_closes_connections() {
    let server = HttpServer::start(hello).await;
    let addr = server.addr();
    let mut client = Client::connect(addr).await;
    assert_eq!(client.get("/").await.status, 200);
    drop(server);
    assert!(client.read_until_closed().await.is_empty());
    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "listener still open");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn ipv6_loopback() {
    if test_support::skip_without_ipv6("ipv6_loopback") {
        return;
    }
    let server = HttpServer::start_ipv6(hello).await.expect("bind [::1]:0");
    assert!(server.url("/a").starts_with("http://[::1]:"));
    let mut client = Client::connect(server.addr()).await;
    assert_eq!(client.get("/a").await.text(), "hello");
}

#[tokio::test]
#[should_panic(expected = "server-side check failed")]
async fn a_panicking_handler_fails_the_test_when_the_server_is_dropped() {
    let server = HttpServer::start(|_req| async {
        let seen = 1;
        assert_eq!(seen, 2, "server-side check failed");
        Response::new(full("unreachable"))
    })
    .await;
    let mut client = Client::connect(server.addr()).await;
    client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
    // The handler's panic closes the connection without a response.
    assert!(client.read_until_closed().await.is_empty());
    assert_eq!(server.handler_panics().len(), 1);
    drop(server);
}

#[tokio::test]
#[should_panic(expected = "server handler panic(s): checked early")]
async fn check_reports_a_handler_panic_while_the_server_runs() {
    let server = HttpServer::start(|req: Request<Incoming>| async move {
        if req.uri().path() == "/bad" {
            panic!("checked early");
        }
        Response::new(full("fine"))
    })
    .await;
    let mut client = Client::connect(server.addr()).await;
    assert_eq!(client.get("/good").await.text(), "fine");
    server.check();
    client.send("GET /bad HTTP/1.1\r\nHost: h\r\n\r\n").await;
    client.read_until_closed().await;
    server.check();
    unreachable!("check() must panic");
}

#[tokio::test]
async fn servers_whose_handlers_did_not_panic_drop_quietly() {
    let server = HttpServer::start(hello).await;
    let mut client = Client::connect(server.addr()).await;
    assert_eq!(client.get("/").await.text(), "hello");
    assert!(server.handler_panics().is_empty());
    server.check();
    drop(server);
}
