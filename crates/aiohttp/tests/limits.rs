//! Connection limits: `limit`, `limit_per_host`, FIFO waiters, cancellation, no leaks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aiohttp::{ClientSession, TcpConnector};
use futures_util::future::join_all;
use test_support::{full, HttpServer};

fn session(limit: usize, per_host: usize) -> ClientSession {
    ClientSession::builder()
        .connector(
            TcpConnector::builder()
                .limit(limit)
                .limit_per_host(per_host)
                .build()
                .expect("connector"),
        )
        .build()
        .expect("session")
}

async fn slow_server(delay: Duration) -> HttpServer {
    HttpServer::start(move |_req| async move {
        tokio::time::sleep(delay).await;
        http::Response::new(full("ok"))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_requests_never_exceed_limit() {
    let server = slow_server(Duration::from_millis(2)).await;
    let s = session(10, 0);
    let reqs = (0..1000).map(|_| {
        let s = s.clone();
        let url = server.url("/");
        tokio::spawn(async move {
            let mut resp = s.get(url).await?;
            resp.read().await
        })
    });
    let results = join_all(reqs).await;
    let ok = results
        .iter()
        .filter(|r| matches!(r, Ok(Ok(b)) if b.as_ref() == b"ok"))
        .count();
    assert_eq!(ok, 1000);
    assert!(
        server.max_open_connections() <= 10,
        "server saw {} connections at once",
        server.max_open_connections()
    );
    assert!(
        server.max_open_connections() >= 2,
        "requests ran concurrently"
    );
    let stats = s.connector().pool().stats();
    assert_eq!((stats.in_use, stats.waiting), (0, 0));
    assert!(stats.open <= 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_per_host_across_three_hosts() {
    let servers = [
        slow_server(Duration::from_millis(5)).await,
        slow_server(Duration::from_millis(5)).await,
        slow_server(Duration::from_millis(5)).await,
    ];
    let s = session(0, 2);
    let mut tasks = Vec::new();
    for i in 0..300 {
        let s = s.clone();
        let url = servers[i % 3].url("/");
        tasks.push(tokio::spawn(async move {
            let mut resp = s.get(url).await?;
            resp.read().await
        }));
    }
    for r in join_all(tasks).await {
        assert!(matches!(r, Ok(Ok(_))), "{r:?}");
    }
    for srv in &servers {
        assert!(
            srv.max_open_connections() <= 2,
            "{}",
            srv.max_open_connections()
        );
        assert_eq!(srv.max_open_connections(), 2, "the per-host limit was used");
    }
}

/// Polls `cond` until it holds; fails the test after five seconds instead of spinning forever.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_are_served_in_fifo_order() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let seen = order.clone();
    // The first request holds the only connection until every other one is queued.
    let (open_gate, gate) = tokio::sync::watch::channel(false);
    let server = HttpServer::start(move |req| {
        let seen = seen.clone();
        let mut gate = gate.clone();
        async move {
            let i: usize = req
                .uri()
                .query()
                .and_then(|q| q.strip_prefix("i="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(usize::MAX);
            seen.lock().expect("lock").push(i);
            let _ = gate.wait_for(|open| *open).await;
            http::Response::new(full("ok"))
        }
    })
    .await;
    let s = session(0, 1);
    let mut tasks = Vec::new();
    for i in 0..30 {
        let task_session = s.clone();
        let url = server.url(&format!("/?i={i}"));
        tasks.push(tokio::spawn(async move {
            let mut resp = task_session.get(url).await?;
            resp.read().await
        }));
        // Each request is in place (on the connection or in the queue) before the next.
        let pool = s.connector().pool();
        eventually("the request to queue", || {
            let st = pool.stats();
            st.in_use + st.waiting == i + 1
        })
        .await;
    }
    assert_eq!(s.connector().pool().stats().waiting, 29);
    let _ = open_gate.send(true);
    for r in join_all(tasks).await {
        assert!(matches!(r, Ok(Ok(_))));
    }
    let order = order.lock().expect("lock").clone();
    assert_eq!(order, (0..30).collect::<Vec<_>>());
    assert_eq!(
        server.connections_accepted(),
        1,
        "one connection handed down the queue"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_for_another_host_is_not_starved_and_idle_connections_make_room() {
    let busy = slow_server(Duration::from_millis(300)).await;
    let other = slow_server(Duration::ZERO).await;
    let s = session(2, 0);
    let b1 = tokio::spawn(s.get(busy.url("/1")).send());
    let b2 = tokio::spawn(s.get(busy.url("/2")).send());
    assert!(
        busy.wait_for_open_connections(2, Duration::from_secs(5))
            .await
    );
    // Both slots are taken by `busy`; more `busy` requests queue first, then one for `other`.
    let b3 = tokio::spawn(s.get(busy.url("/3")).send());
    let b4 = tokio::spawn(s.get(busy.url("/4")).send());
    let pool = s.connector().pool();
    eventually("two waiters", || pool.stats().waiting >= 2).await;
    let started = tokio::time::Instant::now();
    let a = tokio::spawn({
        let s = s.clone();
        let url = other.url("/");
        async move {
            let mut r = s.get(url).await?;
            r.read().await
        }
    });
    let mut resp1 = b1.await.expect("task").expect("b1");
    resp1.read().await.expect("body");
    // b1's connection went idle and was handed to b3 (same host, first in line); b2's will go
    // to b4. `other` gets a slot once a `busy` connection is idle with nobody of its host
    // waiting: it is closed to make room under the total limit.
    let mut resp2 = b2.await.expect("task").expect("b2");
    resp2.read().await.expect("body");
    for t in [b3, b4] {
        let mut r = t.await.expect("task").expect("b3/b4");
        r.read().await.expect("body");
    }
    a.await.expect("task").expect("other host served");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(other.connections_accepted(), 1);
    assert!(s.connector().pool().stats().open <= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connection_of_another_host_is_closed_to_make_room() {
    let a = slow_server(Duration::ZERO).await;
    let b = slow_server(Duration::ZERO).await;
    let s = session(1, 0);
    let mut r = s.get(a.url("/")).await.expect("a");
    r.read().await.expect("body");
    assert_eq!(s.connector().pool().stats().idle, 1);
    let mut r = s.get(b.url("/")).await.expect("b gets the only slot");
    r.read().await.expect("body");
    assert!(a.wait_for_open_connections(0, Duration::from_secs(5)).await);
    let stats = s.connector().pool().stats();
    assert_eq!((stats.open, stats.idle), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_half_of_a_thousand_requests_leaks_nothing() {
    let server = slow_server(Duration::from_millis(3)).await;
    let s = session(20, 0);
    let mut tasks = Vec::new();
    for i in 0..1000u64 {
        let s = s.clone();
        let url = server.url("/");
        tasks.push(tokio::spawn(async move {
            let mut resp = s.get(url).await?;
            if i % 3 == 0 {
                // Some stop half-way through the body.
                let _ = resp.content().read(1).await;
                return Ok(bytes::Bytes::new());
            }
            resp.read().await
        }));
    }
    // Cancel every other task at staggered moments: some while queued, some while connecting
    // or waiting for the head, some while reading.
    for (i, t) in tasks.iter().enumerate() {
        if i % 2 == 1 {
            if i % 10 == 1 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            t.abort();
        }
    }
    let mut finished = 0;
    for t in tasks {
        if let Ok(r) = t.await {
            assert!(r.is_ok(), "{r:?}");
            finished += 1;
        }
    }
    assert!(finished >= 500);
    let stats = s.connector().pool().stats();
    assert_eq!((stats.in_use, stats.waiting), (0, 0), "{stats:?}");
    assert!(stats.open <= 20);
    // (The server's own count is not checked here: a connection the client closes on
    // cancellation stays open on the server's side until it reads the FIN, so the server can
    // briefly count a closed connection next to the new one that took its slot.)
    // The pool still works.
    let mut resp = s.get(server.url("/")).await.expect("after cancellations");
    assert_eq!(resp.read().await.expect("body").as_ref(), b"ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_session_fails_queued_requests() {
    // Long enough that the first request still holds the only slot when the session closes;
    // the test does not wait for it.
    let server = slow_server(Duration::from_secs(5)).await;
    let s = session(1, 0);
    let first = tokio::spawn(s.get(server.url("/")).send());
    assert!(
        server
            .wait_for_open_connections(1, Duration::from_secs(5))
            .await
    );
    let queued = tokio::spawn(s.get(server.url("/")).send());
    let pool = s.connector().pool();
    eventually("a waiter", || pool.stats().waiting >= 1).await;
    s.close().await;
    let err = queued.await.expect("task").expect_err("pool closed");
    assert!(err.is_client_connection_error(), "{err:?}");
    drop(first);
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_requests_with_errors_and_cancellations_leak_no_fds() {
    let server = HttpServer::start(|req| async move {
        match req.uri().path() {
            "/slow" => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                http::Response::new(full("slow"))
            }
            "/big" => http::Response::new(full(vec![b'x'; 256 * 1024])),
            _ => http::Response::new(full("ok")),
        }
    })
    .await;
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        drop(l);
        format!("http://127.0.0.1:{port}/")
    };
    let s = session(50, 0);
    // Warm up the runtime's own descriptors before counting.
    let mut r = s.get(server.url("/")).await.expect("warm-up");
    r.read().await.expect("body");
    s.connector().pool().close();
    let s = session(50, 0);
    let before = open_fds();
    for round in 0..100 {
        let mut tasks = Vec::new();
        for i in 0..100 {
            let s = s.clone();
            let url = match i % 10 {
                0 => refused.clone(),
                1 | 2 => server.url("/slow"),
                3 => server.url("/big"),
                _ => server.url("/"),
            };
            tasks.push(tokio::spawn(async move {
                let mut resp = s.get(url).await?;
                if i % 7 == 0 {
                    resp.close();
                    return Ok(bytes::Bytes::new());
                }
                resp.read().await
            }));
        }
        for (i, t) in tasks.iter().enumerate() {
            if i % 5 == 1 && round % 2 == 0 {
                t.abort();
            }
        }
        for t in tasks {
            let _ = t.await;
        }
    }
    s.connector().pool().close();
    drop(s);
    // Closed sockets are released by tasks that may need a moment to finish.
    let mut after = open_fds();
    for _ in 0..200 {
        if after <= before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        after = open_fds();
    }
    assert!(after <= before, "fds before {before}, after {after}");
}
