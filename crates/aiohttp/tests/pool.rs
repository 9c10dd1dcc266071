//! The first pool: keep-alive reuse, release rules, force_close, keepalive_timeout, retry of a
//! stale connection.

use std::time::Duration;

use aiohttp::{Body, ClientSession, TcpConnector};
use test_support::{full, HttpServer, RawServer};

fn session_with(connector: TcpConnector) -> ClientSession {
    ClientSession::builder()
        .connector(connector)
        .build()
        .expect("session")
}

#[tokio::test]
async fn fully_read_bodies_reuse_one_connection() {
    let server = HttpServer::echo().await;
    let s = ClientSession::new();
    for i in 0..5 {
        let mut resp = s.get(server.url("/")).await.expect("get");
        let conn = resp.connection().cloned().expect("connection while unread");
        assert_eq!(conn.is_reused(), i > 0);
        resp.read().await.expect("body");
        assert!(conn.closed(), "the body's end hands the connection back");
        assert!(resp.connection().is_none());
    }
    assert_eq!(server.connections_accepted(), 1);
    let stats = s.connector().pool().stats();
    assert_eq!((stats.open, stats.idle, stats.in_use), (1, 1, 0));
}

#[tokio::test]
async fn partly_read_body_closes_its_connection() {
    let server =
        HttpServer::start(|_req| async { http::Response::new(full(vec![b'x'; 4 * 1024 * 1024])) })
            .await;
    let s = ClientSession::new();
    let mut resp = s.get(server.url("/")).await.expect("get");
    let first = resp.content().readany().await.expect("some bytes");
    assert!(!first.is_empty());
    drop(resp);
    assert!(
        server
            .wait_for_open_connections(0, Duration::from_secs(5))
            .await,
        "the partly read connection is closed"
    );
    let stats = s.connector().pool().stats();
    assert_eq!((stats.open, stats.in_use), (0, 0));
    let mut resp = s.get(server.url("/")).await.expect("second get");
    assert_eq!(resp.read().await.expect("body").len(), 4 * 1024 * 1024);
    assert_eq!(server.connections_accepted(), 2);
}

#[tokio::test]
async fn release_and_close_after_partial_read_close_the_connection() {
    let server =
        HttpServer::start(|_req| async { http::Response::new(full(vec![b'x'; 1024 * 1024])) })
            .await;
    let s = ClientSession::new();
    let mut resp = s.get(server.url("/")).await.expect("get");
    let _ = resp.content().read(10).await.expect("10 bytes");
    resp.release().await;
    assert!(resp.connection().is_none());
    assert!(
        server
            .wait_for_open_connections(0, Duration::from_secs(5))
            .await
    );
    assert_eq!(s.connector().pool().stats().open, 0);
}

#[tokio::test]
async fn connection_close_from_the_server_is_honoured() {
    let server =
        RawServer::reply("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
            .await;
    let s = ClientSession::new();
    for _ in 0..3 {
        let mut resp = s.get(server.url("/")).await.expect("get");
        assert_eq!(resp.text().await.expect("text"), "ok");
    }
    assert_eq!(server.connections_accepted(), 3);
    assert_eq!(s.connector().pool().stats().open, 0);
}

#[tokio::test]
async fn http10_response_without_keep_alive_is_not_reused() {
    let server = RawServer::reply("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok").await;
    let s = ClientSession::new();
    for _ in 0..2 {
        let mut resp = s.get(server.url("/")).await.expect("get");
        resp.read().await.expect("body");
    }
    assert_eq!(server.connections_accepted(), 2);
}

#[tokio::test]
async fn force_close_opens_one_connection_per_request() {
    let server = HttpServer::echo().await;
    let s = session_with(
        TcpConnector::builder()
            .force_close(true)
            .build()
            .expect("connector"),
    );
    for _ in 0..4 {
        let mut resp = s.get(server.url("/")).await.expect("get");
        resp.read().await.expect("body");
    }
    assert_eq!(server.connections_accepted(), 4);
    assert!(
        server
            .wait_for_open_connections(0, Duration::from_secs(5))
            .await
    );
    assert_eq!(s.connector().pool().stats().open, 0);
}

#[tokio::test]
async fn keepalive_timeout_closes_idle_connections() {
    let server = HttpServer::echo().await;
    let s = session_with(
        TcpConnector::builder()
            .keepalive_timeout(Some(Duration::from_millis(200)))
            .build()
            .expect("connector"),
    );
    let mut resp = s.get(server.url("/")).await.expect("get");
    resp.read().await.expect("body");
    assert_eq!(s.connector().pool().stats().idle, 1);
    assert_eq!(server.open_connections(), 1);
    assert!(
        server
            .wait_for_open_connections(0, Duration::from_secs(3))
            .await,
        "idle connection closed after keepalive_timeout"
    );
    assert_eq!(s.connector().pool().stats().open, 0);
    let mut resp = s.get(server.url("/")).await.expect("get after expiry");
    resp.read().await.expect("body");
    assert_eq!(server.connections_accepted(), 2);
}

#[tokio::test]
async fn session_close_closes_idle_connections() {
    let server = HttpServer::echo().await;
    let s = ClientSession::new();
    let mut resp = s.get(server.url("/")).await.expect("get");
    resp.read().await.expect("body");
    assert_eq!(server.open_connections(), 1);
    s.close().await;
    assert!(
        server
            .wait_for_open_connections(0, Duration::from_secs(3))
            .await
    );
}

/// A server that answers the first request of each connection with keep-alive, and closes the
/// connection without a reply when a second request arrives on it — what a client sees when the
/// server times out an idle connection just as the client reuses it.
async fn closes_reused_connections() -> RawServer {
    RawServer::start(|mut c| async move {
        if let Some(req) = c.read_request().await {
            let body = format!("{} {}", req.method, req.body.len());
            let _ = c
                .write(format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                ))
                .await;
        }
        let _ = c.read_head_only().await;
        let _ = c.stream_mut().set_zero_linger();
    })
    .await
}

#[tokio::test]
async fn stale_pooled_connection_is_retried_once_for_idempotent_requests() {
    let server = closes_reused_connections().await;
    let s = ClientSession::new();
    let mut resp = s.get(server.url("/")).await.expect("first");
    assert_eq!(resp.text().await.expect("text"), "GET 0");
    let mut resp = s
        .get(server.url("/"))
        .await
        .expect("retried on a new connection");
    assert_eq!(resp.text().await.expect("text"), "GET 0");
    assert_eq!(server.connections_accepted(), 2);
    let mut resp = s
        .put(server.url("/"))
        .data("abc")
        .await
        .expect("PUT retried");
    assert_eq!(resp.text().await.expect("text"), "PUT 3");
    assert_eq!(server.connections_accepted(), 3);
    // Three answered requests, plus one cut-off head on each of the two stale connections: each
    // request was sent at most twice.
    assert_eq!(server.requests().len(), 5);
}

#[tokio::test]
async fn stale_connection_is_not_retried_for_a_post_or_a_stream_body() {
    let server = closes_reused_connections().await;
    let s = ClientSession::new();
    let mut resp = s.get(server.url("/")).await.expect("first");
    resp.read().await.expect("body");
    let err = s
        .post(server.url("/"))
        .data("x")
        .await
        .expect_err("POST is not retried");
    assert!(err.is_client_connection_error(), "{err:?}");
    assert_eq!(server.connections_accepted(), 1);

    let mut resp = s.get(server.url("/")).await.expect("fresh");
    resp.read().await.expect("body");
    let stream = futures_util::stream::iter(vec![Ok::<_, std::io::Error>("data")]);
    let err = s
        .put(server.url("/"))
        .data(Body::wrap_stream(stream))
        .await
        .expect_err("a stream cannot be replayed");
    assert!(err.is_client_connection_error(), "{err:?}");
    assert_eq!(server.connections_accepted(), 2);
    let stats = s.connector().pool().stats();
    assert_eq!((stats.in_use, stats.open), (0, 0));
}

#[tokio::test]
async fn cancelled_requests_release_their_slots() {
    let server = HttpServer::start(|_req| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        http::Response::new(full("late"))
    })
    .await;
    let s = ClientSession::new();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = s.clone();
        let url = server.url("/");
        tasks.push(tokio::spawn(async move { s.get(url).await }));
    }
    assert!(
        server
            .wait_for_open_connections(20, Duration::from_secs(5))
            .await
    );
    assert_eq!(s.connector().pool().stats().in_use, 20);
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
    let stats = s.connector().pool().stats();
    assert_eq!((stats.open, stats.in_use, stats.idle), (0, 0, 0));
    assert!(
        server
            .wait_for_open_connections(0, Duration::from_secs(5))
            .await
    );
}
