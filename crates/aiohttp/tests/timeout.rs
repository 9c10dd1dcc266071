//! Each timeout of `ClientTimeout` triggered for real against slow local servers.

use std::time::Duration;

use aiohttp::{ClientSession, ClientTimeout, ErrorKind, TcpConnector};
use test_support::{full, HttpServer, RawServer};

const MS: fn(u64) -> Duration = Duration::from_millis;

fn with_timeout(t: ClientTimeout) -> ClientSession {
    ClientSession::builder()
        .timeout(t)
        .build()
        .expect("session")
}

/// Answers after `head_delay`; then sends the body in `parts` pieces `gap` apart.
async fn slow_server(head_delay: Duration, parts: usize, gap: Duration) -> RawServer {
    RawServer::start(move |mut c| async move {
        while c.read_request().await.is_some() {
            c.sleep(head_delay).await;
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {parts}\r\n\r\n");
            if c.write(head).await.is_err() {
                return;
            }
            for _ in 0..parts {
                c.sleep(gap).await;
                if c.write("x").await.is_err() {
                    return;
                }
            }
        }
    })
    .await
}

#[tokio::test]
async fn sock_read_expires_while_waiting_for_the_head() {
    let server = slow_server(MS(1500), 1, Duration::ZERO).await;
    let s = with_timeout(ClientTimeout {
        sock_read: Some(MS(200)),
        ..ClientTimeout::none()
    });
    let started = tokio::time::Instant::now();
    let err = s.get(server.url("/")).await.expect_err("head too late");
    assert_eq!(err.kind(), ErrorKind::SocketTimeoutError, "{err:?}");
    assert!(err.is_timeout() && err.is_server_connection_error());
    assert!(started.elapsed() < MS(1000));
    let stats = s.connector().pool().stats();
    assert_eq!(
        (stats.open, stats.in_use, stats.idle),
        (0, 0, 0),
        "never pooled"
    );
}

#[tokio::test]
async fn sock_read_expires_while_the_body_trickles() {
    let server = slow_server(Duration::ZERO, 3, MS(600)).await;
    let s = with_timeout(ClientTimeout {
        sock_read: Some(MS(200)),
        ..ClientTimeout::none()
    });
    let mut resp = s.get(server.url("/")).await.expect("head in time");
    let err = resp.read().await.expect_err("body stalls");
    assert_eq!(err.kind(), ErrorKind::SocketTimeoutError, "{err:?}");
    assert_eq!(s.connector().pool().stats().open, 0, "never pooled");
}

#[tokio::test]
async fn sock_read_is_per_read_not_cumulative() {
    // Twenty-five pieces 40 ms apart take a second in all, longer than sock_read, while each
    // wait stays far below it even on a loaded machine.
    let server = slow_server(Duration::ZERO, 25, MS(40)).await;
    let s = with_timeout(ClientTimeout {
        sock_read: Some(MS(800)),
        ..ClientTimeout::none()
    });
    let started = tokio::time::Instant::now();
    let mut resp = s.get(server.url("/")).await.expect("head");
    assert_eq!(resp.read().await.expect("body").as_ref(), [b'x'; 25]);
    assert!(
        started.elapsed() > MS(800),
        "the body took longer than sock_read"
    );
}

#[tokio::test]
async fn total_covers_the_body_and_is_a_server_timeout() {
    let server = slow_server(Duration::ZERO, 20, MS(100)).await;
    let s = with_timeout(ClientTimeout {
        total: Some(MS(500)),
        sock_read: Some(MS(1000)),
        ..ClientTimeout::none()
    });
    let started = tokio::time::Instant::now();
    let mut resp = s.get(server.url("/")).await.expect("head");
    let err = resp.read().await.expect_err("total expires");
    assert_eq!(err.kind(), ErrorKind::ServerTimeoutError, "{err:?}");
    assert!(err.is_timeout() && !err.is_socket_timeout());
    let took = started.elapsed();
    assert!(took >= MS(450) && took < MS(1500), "{took:?}");
}

#[tokio::test]
async fn connect_includes_the_wait_for_a_pool_slot() {
    let server = HttpServer::start(|_r| async {
        tokio::time::sleep(MS(1500)).await;
        http::Response::new(full("late"))
    })
    .await;
    let s = ClientSession::builder()
        .connector(TcpConnector::builder().limit(1).build().expect("connector"))
        .build()
        .expect("session");
    let busy = tokio::spawn(s.get(server.url("/")).send());
    assert!(
        server
            .wait_for_open_connections(1, Duration::from_secs(5))
            .await
    );
    let err = s
        .get(server.url("/"))
        .timeout(ClientTimeout {
            connect: Some(MS(200)),
            ..ClientTimeout::none()
        })
        .await
        .expect_err("no slot in time");
    assert_eq!(err.kind(), ErrorKind::ConnectionTimeoutError, "{err:?}");
    assert_eq!(
        s.connector().pool().stats().waiting,
        0,
        "the waiter left the queue"
    );
    busy.abort();
}

#[tokio::test]
async fn sock_connect_bounds_opening_a_connection() {
    let black_hole = test_support::BlackHole::new().expect("black hole");
    let hole = black_hole.addr();
    let s = with_timeout(ClientTimeout {
        sock_connect: Some(MS(200)),
        ..ClientTimeout::none()
    });
    let started = tokio::time::Instant::now();
    let err = s
        .get(format!("http://{hole}/"))
        .await
        .expect_err("connect hangs");
    assert_eq!(err.kind(), ErrorKind::ConnectionTimeoutError, "{err:?}");
    assert_eq!(err.port(), Some(hole.port()));
    assert!(started.elapsed() < MS(1500));
    let stats = s.connector().pool().stats();
    assert_eq!((stats.open, stats.in_use), (0, 0));
}

#[tokio::test]
async fn none_disables_every_timeout() {
    let server = slow_server(MS(400), 2, MS(300)).await;
    let s = with_timeout(ClientTimeout::none());
    let mut resp = s.get(server.url("/")).await.expect("no timeout");
    assert_eq!(resp.read().await.expect("body").as_ref(), b"xx");
    // Zero means disabled too, as in aiohttp.
    let zero = ClientTimeout {
        total: Some(Duration::ZERO),
        sock_read: Some(Duration::ZERO),
        ..ClientTimeout::none()
    };
    let mut resp = s
        .get(server.url("/"))
        .timeout(zero)
        .await
        .expect("zero = none");
    assert_eq!(resp.read().await.expect("body").as_ref(), b"xx");
}

#[tokio::test]
async fn request_timeout_overrides_the_session_and_seed_names_map() {
    let server = slow_server(MS(600), 1, Duration::ZERO).await;
    let s = ClientSession::builder()
        .read_timeout(MS(200))
        .build()
        .expect("session");
    let err = s
        .get(server.url("/"))
        .await
        .expect_err("session read_timeout");
    assert!(err.is_timeout(), "{err:?}");
    let mut resp = s
        .get(server.url("/"))
        .timeout(ClientTimeout::none())
        .await
        .expect("per-request override");
    assert_eq!(resp.read().await.expect("body").as_ref(), b"x");

    let busy_server = HttpServer::start(|_r| async {
        tokio::time::sleep(MS(1500)).await;
        http::Response::new(full("late"))
    })
    .await;
    let s = ClientSession::builder()
        .connector(TcpConnector::builder().limit(1).build().expect("connector"))
        .conn_timeout(MS(200))
        .build()
        .expect("session");
    let busy = tokio::spawn(s.get(busy_server.url("/")).send());
    assert!(
        busy_server
            .wait_for_open_connections(1, Duration::from_secs(5))
            .await
    );
    let err = s.get(busy_server.url("/")).await.expect_err("conn_timeout");
    assert_eq!(err.kind(), ErrorKind::ConnectionTimeoutError, "{err:?}");
    busy.abort();
}

#[tokio::test]
async fn the_total_timeout_counts_from_the_first_poll() {
    let server = slow_server(MS(50), 1, Duration::ZERO).await;
    let s = with_timeout(ClientTimeout {
        total: Some(MS(1000)),
        ..ClientTimeout::none()
    });
    // Made long before it runs: the time it waited is not the request's. Jumping tokio's
    // clock stands for the wait without sleeping through it.
    let fut = s.get(server.url("/")).send();
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(5)).await;
    tokio::time::resume();
    let mut resp = fut.await.expect("within the total timeout once started");
    assert_eq!(resp.read().await.expect("body").as_ref(), b"x");
    // And the timeout still bounds the request once it runs.
    let slow = slow_server(MS(3000), 1, Duration::ZERO).await;
    let started = tokio::time::Instant::now();
    let err = s.get(slow.url("/")).await.expect_err("too slow");
    assert_eq!(err.kind(), ErrorKind::ServerTimeoutError, "{err:?}");
    assert!(started.elapsed() < MS(2500));
}
