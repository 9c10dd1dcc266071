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

// ---- Limits under connection churn ----------------------------------------------------------
//
// A connection closed to make room (an idle one of another host, or one the response said to
// close) must be gone before the connection replacing it is opened. Counting happens on both
// ends: the client counts its sockets (a socket is closed when its stream is dropped), and the
// servers count the connections they see open.

/// Connections open at once, per host (0..3) and in total.
#[derive(Debug, Default)]
struct OpenCount {
    now: [usize; 3],
    max: [usize; 3],
    total: usize,
    max_total: usize,
}

impl OpenCount {
    fn opened(&mut self, host: usize) {
        self.now[host] += 1;
        self.total += 1;
        self.max[host] = self.max[host].max(self.now[host]);
        self.max_total = self.max_total.max(self.total);
    }

    fn closed(&mut self, host: usize) {
        // Saturating: sockets still open when a test takes the counts are closed afterwards.
        self.now[host] = self.now[host].saturating_sub(1);
        self.total = self.total.saturating_sub(1);
    }
}

fn lock_count(count: &Mutex<OpenCount>) -> std::sync::MutexGuard<'_, OpenCount> {
    count.lock().unwrap_or_else(|p| p.into_inner())
}

/// The server side of three hosts. A connection counts from its accept until its client's close
/// has reached the server. Every accept first looks (by peeking without blocking) at each
/// connection counted so far, so a close that happened before the client opened the new
/// connection is never counted late, however the servers' tasks happen to be scheduled.
struct ChurnServers {
    ports: [u16; 3],
    count: Arc<Mutex<OpenCount>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for ChurnServers {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Whether the peer of `probe` has closed the connection (only ever read by peeking).
fn peer_closed(probe: &std::net::TcpStream) -> bool {
    match probe.peek(&mut [0u8; 1]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

impl ChurnServers {
    /// Answers every request with `ok`; with `close`, says `Connection: close` and closes.
    async fn start(close: bool) -> ChurnServers {
        let count = Arc::new(Mutex::new(OpenCount::default()));
        let probes: Arc<Mutex<Vec<(usize, std::net::TcpStream)>>> = Arc::default();
        let mut ports = [0u16; 3];
        let mut tasks = Vec::new();
        for (host, port) in ports.iter_mut().enumerate() {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            *port = listener.local_addr().expect("addr").port();
            let (count, probes) = (count.clone(), probes.clone());
            tasks.push(tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let Some(stream) = Self::counted(stream, host, &count, &probes) else {
                        continue;
                    };
                    tokio::spawn(Self::serve(stream, close));
                }
            }));
        }
        ChurnServers {
            ports,
            count,
            tasks,
        }
    }

    fn counted(
        stream: tokio::net::TcpStream,
        host: usize,
        count: &Mutex<OpenCount>,
        probes: &Mutex<Vec<(usize, std::net::TcpStream)>>,
    ) -> Option<tokio::net::TcpStream> {
        let std_stream = stream.into_std().ok()?;
        // A second descriptor of the same socket, non-blocking like the first.
        let probe = std_stream.try_clone().ok()?;
        let stream = tokio::net::TcpStream::from_std(std_stream).ok()?;
        let mut probes = probes.lock().unwrap_or_else(|p| p.into_inner());
        let mut count = lock_count(count);
        probes.retain(|(h, p)| {
            let closed = peer_closed(p);
            if closed {
                count.closed(*h);
            }
            !closed
        });
        probes.push((host, probe));
        count.opened(host);
        Some(stream)
    }

    async fn serve(mut stream: tokio::net::TcpStream, close: bool) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let reply: &[u8] = if close {
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
        } else {
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        };
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                continue;
            };
            buf.drain(..end + 4);
            // Long enough for requests to overlap.
            tokio::time::sleep(Duration::from_millis(1)).await;
            if stream.write_all(reply).await.is_err() {
                return;
            }
            if close {
                // The probe keeps the socket itself open: end it explicitly.
                let _ = stream.shutdown().await;
                return;
            }
        }
    }

    fn url(&self, host: usize) -> String {
        format!("http://127.0.0.1:{}/", self.ports[host % 3])
    }
}

/// A client socket that counts itself open until it is dropped.
struct CountedSocket {
    stream: Option<tokio::net::TcpStream>,
    host: usize,
    count: Arc<Mutex<OpenCount>>,
}

impl Drop for CountedSocket {
    fn drop(&mut self) {
        // Closed first, counted down after.
        drop(self.stream.take());
        lock_count(&self.count).closed(self.host);
    }
}

impl CountedSocket {
    fn stream(&mut self) -> std::io::Result<&mut tokio::net::TcpStream> {
        self.stream
            .as_mut()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotConnected))
    }
}

impl tokio::io::AsyncRead for CountedSocket {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.stream() {
            Ok(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Err(e) => std::task::Poll::Ready(Err(e)),
        }
    }
}

impl tokio::io::AsyncWrite for CountedSocket {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.stream() {
            Ok(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Err(e) => std::task::Poll::Ready(Err(e)),
        }
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.stream() {
            Ok(s) => std::pin::Pin::new(s).poll_flush(cx),
            Err(e) => std::task::Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.stream() {
            Ok(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Err(e) => std::task::Poll::Ready(Err(e)),
        }
    }
}

/// Opens plain TCP connections to the churn servers and counts the client's sockets.
#[derive(Debug)]
struct CountingConnector {
    pool: aiohttp::Pool,
    ports: [u16; 3],
    count: Arc<Mutex<OpenCount>>,
}

impl aiohttp::Connector for CountingConnector {
    fn create_connection<'a>(
        &'a self,
        key: &'a aiohttp::ConnectionKey,
    ) -> aiohttp::BoxFuture<'a, Result<aiohttp::Transport, aiohttp::ClientError>> {
        Box::pin(async move {
            let host = self
                .ports
                .iter()
                .position(|p| *p == key.port())
                .unwrap_or(0);
            // Counted from before the connect: the socket exists from then on.
            lock_count(&self.count).opened(host);
            let mut socket = CountedSocket {
                stream: None,
                host,
                count: self.count.clone(),
            };
            // The servers are local listeners of this test: failing to reach one is a broken
            // test setup, not a case under test.
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", key.port()))
                .await
                .expect("connect to a local test server");
            socket.stream = Some(stream);
            Ok(aiohttp::Transport::new(socket))
        })
    }

    fn pool(&self) -> &aiohttp::Pool {
        &self.pool
    }
}

/// Runs `n` concurrent requests spread over the three hosts through a pool with these limits;
/// returns `(client, server)` counts.
async fn churn(limit: usize, per_host: usize, close: bool, n: usize) -> (OpenCount, OpenCount) {
    let servers = ChurnServers::start(close).await;
    let client = Arc::new(Mutex::new(OpenCount::default()));
    let s = ClientSession::builder()
        .connector(CountingConnector {
            pool: aiohttp::Pool::new(aiohttp::PoolConfig {
                limit,
                limit_per_host: per_host,
                ..Default::default()
            }),
            ports: servers.ports,
            count: client.clone(),
        })
        .build()
        .expect("session");
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let s = s.clone();
            // Not round-robin: runs of one host between others make the pool both reuse and
            // evict connections.
            let url = servers.url(i * 7 / 5);
            tokio::spawn(async move {
                let mut resp = s.get(url).await?;
                resp.read().await
            })
        })
        .collect();
    let results = tokio::time::timeout(Duration::from_secs(60), join_all(tasks))
        .await
        .expect("requests finished");
    for r in results {
        assert!(matches!(&r, Ok(Ok(b)) if b.as_ref() == b"ok"), "{r:?}");
    }
    // Then rounds of four requests to two hosts at a time, from this task: a round finds the
    // connections of the previous one idle, and the host they lack takes its room from them.
    for round in 0..n / 4 {
        let reqs = [round, round, round + 1, round + 1].map(|h| {
            let s = s.clone();
            let url = servers.url(h);
            async move {
                let mut resp = s.get(url).await?;
                resp.read().await
            }
        });
        let results = tokio::time::timeout(Duration::from_secs(60), join_all(reqs))
            .await
            .expect("round finished");
        for r in results {
            assert!(matches!(&r, Ok(b) if b.as_ref() == b"ok"), "{r:?}");
        }
    }
    let stats = s.connector().pool().stats();
    assert_eq!((stats.in_use, stats.waiting), (0, 0), "{stats:?}");
    let client = std::mem::take(&mut *lock_count(&client));
    let server = std::mem::take(&mut *lock_count(&servers.count));
    (client, server)
}

fn assert_total_within(limit: usize, client: &OpenCount, server: &OpenCount) {
    assert!(
        client.max_total <= limit,
        "the client had {} sockets open at once (limit {limit})",
        client.max_total
    );
    assert!(
        server.max_total <= limit,
        "the servers saw {} connections open at once (limit {limit})",
        server.max_total
    );
}

fn assert_per_host_within(limit: usize, client: &OpenCount, server: &OpenCount) {
    for host in 0..3 {
        assert!(
            client.max[host] <= limit,
            "the client had {} sockets open at once to host {host} (limit {limit})",
            client.max[host]
        );
        assert!(
            server.max[host] <= limit,
            "host {host} saw {} connections open at once (limit {limit})",
            server.max[host]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_holds_while_connections_churn_across_hosts() {
    let (client, server) = churn(4, 0, false, 600).await;
    assert_total_within(4, &client, &server);
}

#[tokio::test]
async fn limit_holds_while_connections_churn_across_hosts_single_thread() {
    let (client, server) = churn(4, 0, false, 600).await;
    assert_total_within(4, &client, &server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_when_every_response_closes_its_connection() {
    let (client, server) = churn(4, 2, true, 300).await;
    assert_total_within(4, &client, &server);
    assert_per_host_within(2, &client, &server);
}

#[tokio::test]
async fn limits_hold_when_every_response_closes_its_connection_single_thread() {
    let (client, server) = churn(4, 2, true, 300).await;
    assert_total_within(4, &client, &server);
    assert_per_host_within(2, &client, &server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_per_host_holds_while_connections_churn() {
    let (client, server) = churn(0, 2, true, 300).await;
    assert_per_host_within(2, &client, &server);
}

#[tokio::test]
async fn limit_per_host_holds_while_connections_churn_single_thread() {
    let (client, server) = churn(0, 2, true, 300).await;
    assert_per_host_within(2, &client, &server);
}
