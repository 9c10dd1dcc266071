//! Every error kind the HTTP/1.1 core produces, triggered for real against local servers.

use std::error::Error as _;

use aiohttp::{ClientSession, ErrorKind};
use test_support::RawServer;

#[tokio::test]
async fn refused_connection_is_a_connector_error_with_host_and_port() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let err = ClientSession::new()
        .get(format!("http://127.0.0.1:{port}/"))
        .await
        .expect_err("nothing listens");
    assert_eq!(err.kind(), ErrorKind::ClientConnectorError);
    assert!(err.is_client_os_error() && err.is_client_connection_error());
    assert_eq!(err.host(), Some("127.0.0.1"));
    assert_eq!(err.port(), Some(port));
    let io = err
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .expect("io error in the source chain");
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(err.url().is_some());
}

#[tokio::test]
async fn server_closing_before_a_response_is_server_disconnected() {
    let server = RawServer::start(|mut c| async move {
        let _ = c.read_request().await;
        let _ = c.shutdown().await;
    })
    .await;
    let err = ClientSession::new()
        .get(server.url("/"))
        .await
        .expect_err("no response");
    assert_eq!(err.kind(), ErrorKind::ServerDisconnectedError, "{err:?}");
    assert!(err.is_server_connection_error());
    assert!(err.source().is_some());
}

#[tokio::test]
async fn half_a_status_line_then_close_is_server_disconnected() {
    let server = RawServer::start(|mut c| async move {
        let _ = c.read_request().await;
        let _ = c.write("HTTP/1.1 20").await;
        let _ = c.shutdown().await;
    })
    .await;
    let err = ClientSession::new()
        .get(server.url("/"))
        .await
        .expect_err("incomplete head");
    assert!(err.is_server_disconnected(), "{err:?}");
}

#[tokio::test]
async fn connection_reset_is_a_reset_error() {
    let server = RawServer::start(|mut c| async move {
        let _ = c.read_request().await;
        let _ = c.stream_mut().set_zero_linger();
        drop(c);
    })
    .await;
    let err = ClientSession::new()
        .get(server.url("/"))
        .await
        .expect_err("reset");
    // A reset right after the request may be seen as a reset or as the end of the stream.
    assert!(
        err.kind() == ErrorKind::ClientConnectionResetError || err.is_server_disconnected(),
        "{err:?}"
    );
    assert!(err.is_client_connection_error());
}

#[tokio::test]
async fn malformed_heads_are_errors_not_panics() {
    let cases: &[&[u8]] = &[
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"NOT-HTTP\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Header Line\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
    ];
    for case in cases {
        let server = RawServer::reply_once_and_close(case.to_vec()).await;
        let res = ClientSession::new().get(server.url("/")).await;
        let err = res.expect_err(&format!("{:?} must fail", String::from_utf8_lossy(case)));
        assert!(
            err.is_client_response_error() || err.is_server_disconnected(),
            "{:?}: {err:?}",
            String::from_utf8_lossy(case)
        );
    }
}

#[tokio::test]
async fn truncated_body_is_a_payload_error() {
    let server = RawServer::reply_once_and_close(
        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this much",
    )
    .await;
    let mut resp = ClientSession::new()
        .get(server.url("/"))
        .await
        .expect("head arrives");
    let err = resp.read().await.expect_err("truncated");
    assert_eq!(err.kind(), ErrorKind::ClientPayloadError, "{err:?}");
    assert!(err.source().is_some());
}

#[tokio::test]
async fn malformed_chunk_is_a_payload_error() {
    let server = RawServer::reply_once_and_close(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nxx\r\n0\r\n\r\n",
    )
    .await;
    let mut resp = ClientSession::new()
        .get(server.url("/"))
        .await
        .expect("head arrives");
    let err = resp.text().await.expect_err("bad chunk size");
    assert!(err.is_client_payload_error(), "{err:?}");
}

#[tokio::test]
async fn chunked_body_cut_short_is_a_payload_error() {
    let server = RawServer::reply_once_and_close(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n10\r\nshort",
    )
    .await;
    let mut resp = ClientSession::new()
        .get(server.url("/"))
        .await
        .expect("head arrives");
    let err = resp.read().await.expect_err("cut chunk");
    assert!(err.is_client_payload_error(), "{err:?}");
}

#[tokio::test]
async fn corrupt_gzip_and_deflate_are_payload_errors() {
    for (enc, body) in [
        ("gzip", &b"\x1f\x8b\x08\x00garbage-garbage-garbage"[..]),
        ("deflate", &b"\x78\x9cnot really deflate data"[..]),
        ("br", &b"\xff\xff\xff\xffnot brotli"[..]),
        ("zstd", &b"\x28\xb5\x2f\xfdbroken"[..]),
    ] {
        let mut reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Encoding: {enc}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        reply.extend_from_slice(body);
        let server = RawServer::reply(reply).await;
        let mut resp = ClientSession::new()
            .get(server.url("/"))
            .await
            .expect("head arrives");
        let err = resp.read().await.expect_err(enc);
        assert!(err.is_client_payload_error(), "{enc}: {err:?}");
    }
}

#[tokio::test]
async fn raise_for_status_carries_the_response_details() {
    let server = RawServer::reply(
        "HTTP/1.1 418 I'm a teapot\r\nX-Why: short and stout\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    let session = ClientSession::builder()
        .raise_for_status(true)
        .build()
        .expect("session");
    let err = session
        .get(server.url("/tea"))
        .header("X-Sent", "1")
        .await
        .expect_err("418");
    assert_eq!(err.kind(), ErrorKind::ClientResponseError);
    assert_eq!(err.status().map(|s| s.as_u16()), Some(418));
    assert_eq!(err.reason(), Some("I'm a teapot"));
    assert_eq!(
        err.headers()
            .and_then(|h| h.get("x-why"))
            .map(|v| v.as_bytes()),
        Some(&b"short and stout"[..])
    );
    let info = err.request_info().expect("request info");
    assert_eq!(info.url().path(), "/tea");
    assert_eq!(info.headers()["x-sent"], "1");

    // Per-request override wins over the session.
    let resp = session
        .get(server.url("/tea"))
        .raise_for_status(false)
        .await
        .expect("not raised");
    assert_eq!(resp.status(), 418);
    assert!(resp.raise_for_status().is_err());
}

/// Fails a response whose body says `fail`, reading the body.
fn body_says_fail(
    resp: &mut aiohttp::ClientResponse,
) -> aiohttp::BoxFuture<'_, Result<(), aiohttp::ClientError>> {
    Box::pin(async move {
        let body = resp.text().await?;
        if body.contains("fail") {
            return Err(aiohttp::ClientError::new(
                aiohttp::ErrorKind::ClientResponseError,
                format!("the body said: {body}"),
            ));
        }
        Ok(())
    })
}

#[tokio::test]
async fn raise_for_status_may_be_a_callback_on_the_session_or_the_request() {
    let server = RawServer::start(|mut conn| async move {
        while let Some(req) = conn.read_request().await {
            let body = if req.head_str().contains("GET /bad ") {
                "please fail"
            } else {
                "all good"
            };
            let reply = format!(
                "HTTP/1.1 500 Oops\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if conn.write(reply).await.is_err() {
                break;
            }
        }
    })
    .await;
    let session = ClientSession::builder()
        .raise_for_status_with(body_says_fail)
        .build()
        .expect("session");
    // The callback decides, not the status: a 500 it accepts is handed out, body read.
    let mut resp = session.get(server.url("/good")).await.expect("accepted");
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.text().await.expect("body"), "all good");
    let err = session.get(server.url("/bad")).await.expect_err("refused");
    assert_eq!(err.message(), "the body said: please fail");
    assert!(err.to_string().contains("please fail"), "{err}");
    // Per request: off, the plain status check, or another callback.
    let resp = session
        .get(server.url("/bad"))
        .raise_for_status(false)
        .await
        .expect("not checked");
    assert_eq!(resp.status(), 500);
    let err = session
        .get(server.url("/good"))
        .raise_for_status(true)
        .await
        .expect_err("500");
    assert_eq!(err.kind(), ErrorKind::ClientResponseError);
    let plain = ClientSession::new();
    let err = plain
        .get(server.url("/bad"))
        .raise_for_status_with(body_says_fail)
        .await
        .expect_err("the request's callback");
    assert_eq!(err.message(), "the body said: please fail");
    // A closure works too.
    let resp = plain
        .get(server.url("/good"))
        .raise_for_status_with(|r| {
            Box::pin(async move {
                assert_eq!(r.status(), 500);
                Ok(())
            })
        })
        .await
        .expect("accepted");
    assert_eq!(resp.reason(), "Oops");
}

#[tokio::test]
async fn json_on_non_json_is_a_content_type_error() {
    let server = RawServer::reply(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\n{}",
    )
    .await;
    let mut resp = ClientSession::new()
        .get(server.url("/"))
        .await
        .expect("response");
    let err = resp
        .json::<serde_json::Value>()
        .await
        .expect_err("wrong type");
    assert_eq!(err.kind(), ErrorKind::ContentTypeError);
    assert!(err.is_client_response_error());
    assert_eq!(err.status().map(|s| s.as_u16()), Some(200));
    let v: serde_json::Value = resp.json_with(None).await.expect("check disabled");
    assert_eq!(v, serde_json::json!({}));
}

#[tokio::test]
async fn invalid_urls_have_their_own_kinds() {
    let s = ClientSession::new();
    let err = s.get("ftp://127.0.0.1/").await.expect_err("scheme");
    assert_eq!(err.kind(), ErrorKind::NonHttpUrlClientError);
    assert!(err.is_invalid_url() && err.is_non_http_url());
    let err = s.get("http://exa mple.com/").await.expect_err("malformed");
    assert_eq!(err.kind(), ErrorKind::InvalidUrlClientError);
    assert!(err.is_invalid_url());
}
