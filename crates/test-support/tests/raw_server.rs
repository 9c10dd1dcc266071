//! Tests of `RawServer` with a plain TCP client.

mod common;

use std::io;
use std::time::{Duration, Instant};

use common::Client;
use test_support::{RawConn, RawServer};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

#[tokio::test]
async fn reply_answers_pipelined_requests_and_records_them() {
    let server = RawServer::reply(OK).await;
    assert!(server.url("/").starts_with("http://127.0.0.1:"));
    let mut client = Client::connect(server.addr()).await;
    let first = "GET /a?b=c HTTP/1.1\r\nHost: h\r\nX-MiXeD-Case:  v  \r\n\r\n";
    let second = "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
    client.send(format!("{first}{second}")).await;
    for _ in 0..2 {
        let resp = client.read_response().await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.text(), "ok");
    }
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].head, first.as_bytes());
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].path, "/a?b=c");
    assert_eq!(reqs[0].version, "HTTP/1.1");
    assert_eq!(
        reqs[0].headers,
        vec![
            ("Host".to_owned(), "h".to_owned()),
            ("X-MiXeD-Case".to_owned(), "v".to_owned())
        ]
    );
    assert_eq!(reqs[0].header("x-mixed-case"), Some("v"));
    assert!(reqs[0].body.is_empty());
    assert_eq!(reqs[1].method, "POST");
    assert_eq!(reqs[1].body, b"hello");
    assert_eq!(reqs[1].raw_body, b"hello");
    assert!(!reqs[1].chunked);
    assert_eq!(server.connections_accepted(), 1);

    drop(client);
    assert!(
        server
            .wait_for_open_connections(0, Duration::from_secs(5))
            .await
    );
}

#[tokio::test]
async fn chunked_request_body_is_decoded() {
    let server = RawServer::reply(OK).await;
    let mut client = Client::connect(server.addr()).await;
    let body = "4;name=v\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Sum: 1\r\nX-B: 2\r\n\r\n";
    client
        .send(format!(
            "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n{body}"
        ))
        .await;
    assert_eq!(client.read_response().await.status, 200);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert!(reqs[0].chunked);
    assert_eq!(reqs[0].body_str(), "Wikipedia");
    assert_eq!(reqs[0].raw_body, body.as_bytes());
    assert_eq!(
        reqs[0].trailers,
        vec![
            ("X-Sum".to_owned(), "1".to_owned()),
            ("X-B".to_owned(), "2".to_owned())
        ]
    );
}

#[tokio::test]
async fn expect_continue_with_head_only_then_body() {
    let server = RawServer::start(|mut conn: RawConn| async move {
        let Some(mut req) = conn.read_head_only().await else {
            return;
        };
        assert_eq!(req.header("expect"), Some("100-continue"));
        assert!(req.body.is_empty());
        conn.write("HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .expect("write 100");
        conn.read_body(&mut req).await.expect("read body");
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}",
            req.body.len(),
            req.body_str()
        );
        conn.write(reply).await.expect("write 200");
    })
    .await;
    let mut client = Client::connect(server.addr()).await;
    client
        .send("POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        .await;
    let (status, _) = client.read_head().await;
    assert_eq!(status, 100);
    // The request is recorded as soon as its head was read.
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert!(reqs[0].body.is_empty());

    client.send("data").await;
    let resp = client.read_response().await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "data");
    assert_eq!(server.requests()[0].body, b"data");
}

#[tokio::test]
async fn reply_once_and_close_sends_fin_after_the_reply() {
    let server = RawServer::reply_once_and_close("HTTP/1.1 200 OK\r\n\r\nuntil close").await;
    for _ in 0..2 {
        let mut client = Client::connect(server.addr()).await;
        client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
        let resp = client.read_response().await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.text(), "until close");
    }
    assert_eq!(server.connections_accepted(), 2);
    assert_eq!(server.requests().len(), 2);
    assert!(
        server
            .wait_for_open_connections(0, Duration::from_secs(5))
            .await
    );
}

#[tokio::test]
async fn write_slowly_then_shutdown() {
    let server = RawServer::start(|mut conn: RawConn| async move {
        if conn.read_request().await.is_none() {
            return;
        }
        conn.write_slowly(
            "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabcdef",
            16,
            Duration::from_millis(30),
        )
        .await
        .expect("slow write");
        conn.shutdown().await.expect("shutdown");
        conn.sleep(Duration::from_millis(1)).await;
    })
    .await;
    let mut client = Client::connect(server.addr()).await;
    let started = Instant::now();
    client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
    let raw = client.read_to_end().await;
    assert!(started.elapsed() >= Duration::from_millis(60));
    assert_eq!(raw, b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabcdef");
}

/// Sends `bytes` (then half-closes if `close`), and reports what
/// `try_read_request` returned on the server side.
async fn server_outcome(
    timeout: Duration,
    bytes: &str,
    close: bool,
) -> io::Result<Option<test_support::RawRequest>> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = RawServer::start(move |mut conn: RawConn| {
        let tx = tx.clone();
        async move {
            conn.set_io_timeout(timeout);
            let _ = tx.send(conn.try_read_request().await);
        }
    })
    .await;
    let mut client = Client::connect(server.addr()).await;
    client.send(bytes).await;
    if close {
        client.stream().shutdown().await.expect("shutdown");
    }
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("server outcome timed out")
        .expect("server outcome")
}

#[tokio::test]
async fn clean_close_before_any_byte_is_none() {
    let res = server_outcome(Duration::from_secs(5), "", true).await;
    assert!(matches!(res, Ok(None)), "{res:?}");
}

#[tokio::test]
async fn close_inside_a_head_is_unexpected_eof() {
    let res = server_outcome(Duration::from_secs(5), "GET / HTTP/1.1\r\nHo", true).await;
    let err = res.expect_err("truncated head");
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
}

#[tokio::test]
async fn close_inside_a_body_is_unexpected_eof() {
    let res = server_outcome(
        Duration::from_secs(5),
        "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort",
        true,
    )
    .await;
    let err = res.expect_err("truncated body");
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
}

#[tokio::test]
async fn silent_client_times_out() {
    let started = Instant::now();
    let res = server_outcome(Duration::from_millis(100), "GET / HTTP/1.1\r\n", false).await;
    let err = res.expect_err("timeout");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn bad_chunk_size_is_invalid_data() {
    let res = server_outcome(
        Duration::from_secs(5),
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        false,
    )
    .await;
    let err = res.expect_err("bad chunk size");
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
}

#[tokio::test]
async fn read_until_close_returns_what_the_client_sent() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = RawServer::start(move |mut conn: RawConn| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(conn.read_until_close().await);
        }
    })
    .await;
    let mut client = Client::connect(server.addr()).await;
    client.send("not http at all").await;
    client.stream().shutdown().await.expect("shutdown");
    let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("timed out")
        .expect("bytes");
    assert_eq!(got, b"not http at all");
}

#[tokio::test]
async fn drop_aborts_handlers_and_closes_sockets() {
    let server = RawServer::start(|mut conn: RawConn| async move {
        let _ = conn.read_request().await;
        // Never answers; only dropping the server ends this handler.
        conn.sleep(Duration::from_secs(3600)).await;
    })
    .await;
    let addr = server.addr();
    let mut client = Client::connect(addr).await;
    client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.requests().is_empty() {
        assert!(Instant::now() < deadline, "request not read");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(server);
    assert!(client.read_until_closed().await.is_empty());
}

#[tokio::test]
async fn close_connections_then_keep_serving() {
    let server = RawServer::start(|mut conn: RawConn| async move {
        while conn.read_request().await.is_some() {
            if conn.write(OK).await.is_err() {
                return;
            }
        }
    })
    .await;
    let mut client = Client::connect(server.addr()).await;
    assert_eq!(client.get("/").await.text(), "ok");
    server.close_connections().await;
    assert_eq!(server.open_connections(), 0);
    assert!(client.read_until_closed().await.is_empty());
    let mut again = Client::connect(server.addr()).await;
    assert_eq!(again.get("/").await.text(), "ok");
    assert_eq!(server.max_open_connections(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn reset_sends_rst() {
    let server = RawServer::start(|mut conn: RawConn| async move {
        if conn.read_request().await.is_some() {
            conn.reset();
        }
    })
    .await;
    let mut client = Client::connect(server.addr()).await;
    client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
    let mut out = Vec::new();
    let res = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_to_end(client.stream(), &mut out),
    )
    .await
    .expect("read timed out");
    let err = res.expect_err("reset");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
}

#[tokio::test]
#[should_panic(expected = "client sent more")]
async fn an_assertion_after_the_response_fails_the_test() {
    let server = RawServer::start(|mut conn| async move {
        if conn.read_request().await.is_none() {
            return;
        }
        let _ = conn.write(OK).await;
        let rest = conn.read_until_close().await;
        assert!(rest.is_empty(), "client sent more: {rest:?}");
    })
    .await;
    let mut client = Client::connect(server.addr()).await;
    client
        .send("GET / HTTP/1.1\r\nHost: h\r\n\r\nunexpected")
        .await;
    assert_eq!(client.read_response().await.text(), "ok");
    drop(client);
    // The client has its answer before the handler checks; wait for the handler to finish.
    assert!(
        server
            .wait_for_open_connections(0, Duration::from_secs(5))
            .await
    );
    drop(server);
}

#[tokio::test]
#[should_panic(expected = "before any future")]
async fn a_handler_panicking_before_returning_its_future_fails_the_test() {
    let server = RawServer::start(|_conn| -> std::future::Ready<()> {
        panic!("before any future");
    })
    .await;
    let mut client = Client::connect(server.addr()).await;
    client.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
    assert!(client.read_until_closed().await.is_empty());
    // The server goes on accepting after such a panic.
    let mut again = Client::connect(server.addr()).await;
    again.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
    again.read_until_closed().await;
    assert_eq!(server.connections_accepted(), 2);
}
