//! TcpConnector (DNS cache, resolvers, family, local_addr, Happy Eyeballs), UnixConnector, and
//! a user-implemented Connector.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aiohttp::{
    BoxFuture, ClientError, ClientSession, ConnectionKey, Connector, Family, Pool, PoolConfig,
    Resolver, TcpConnector, Transport, UnixConnector,
};
use futures_util::future::join_all;
use test_support::{full, HttpServer};

/// Resolves every name to a fixed list of addresses and counts the lookups.
#[derive(Debug, Clone)]
struct Counting {
    addrs: Vec<SocketAddr>,
    lookups: Arc<AtomicUsize>,
    delay: Duration,
}

impl Counting {
    fn new(addrs: Vec<SocketAddr>) -> Self {
        Counting {
            addrs,
            lookups: Arc::new(AtomicUsize::new(0)),
            delay: Duration::ZERO,
        }
    }
}

impl Resolver for Counting {
    fn resolve<'a>(
        &'a self,
        _host: &'a str,
        port: u16,
        family: Family,
    ) -> BoxFuture<'a, Result<Vec<SocketAddr>, ClientError>> {
        Box::pin(async move {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            Ok(self
                .addrs
                .iter()
                .map(|a| SocketAddr::new(a.ip(), port))
                .filter(|a| match family {
                    Family::Any => true,
                    Family::Ipv4 => a.is_ipv4(),
                    Family::Ipv6 => a.is_ipv6(),
                })
                .collect())
        })
    }
}

fn session(c: TcpConnector) -> ClientSession {
    ClientSession::builder()
        .connector(c)
        .build()
        .expect("session")
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

#[tokio::test]
async fn dns_cache_one_lookup_within_ttl_and_a_new_one_after() {
    let server = HttpServer::echo().await;
    let resolver = Counting::new(vec![loopback()]);
    let lookups = resolver.lookups.clone();
    let connector = TcpConnector::builder()
        .resolver(resolver)
        .ttl_dns_cache(Some(Duration::from_secs(60)))
        .force_close(true)
        .build()
        .expect("connector");
    let s = session(connector);
    let url = format!("http://app.test:{}/", server.addr().port());
    for _ in 0..5 {
        let mut r = s.get(&url).await.expect("get");
        r.read().await.expect("body");
    }
    assert_eq!(lookups.load(Ordering::SeqCst), 1);
    // The cache reads tokio's clock: jumping it past the TTL expires the entry at a known
    // point, where a short real TTL could also run out during the five requests above on a
    // slow machine.
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(61)).await;
    tokio::time::resume();
    let mut r = s.get(&url).await.expect("after ttl");
    r.read().await.expect("body");
    assert_eq!(lookups.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn clear_dns_cache_forces_a_lookup_and_cached_hosts_lists_entries() {
    let server = HttpServer::echo().await;
    let resolver = Counting::new(vec![loopback()]);
    let lookups = resolver.lookups.clone();
    let connector = Arc::new(
        TcpConnector::builder()
            .resolver(resolver)
            .ttl_dns_cache(None)
            .force_close(true)
            .build()
            .expect("connector"),
    );
    let s = ClientSession::builder()
        .shared_connector(connector.clone())
        .build()
        .expect("session");
    let port = server.addr().port();
    let url = format!("http://app.test:{port}/");
    drop(s.get(&url).await.expect("get"));
    let cached = connector.cached_hosts();
    assert_eq!(cached.len(), 1);
    assert_eq!(cached[0].0, ("app.test".to_string(), port));
    connector.clear_dns_cache(Some(("app.test", port)));
    assert!(connector.cached_hosts().is_empty());
    drop(s.get(&url).await.expect("get"));
    assert_eq!(lookups.load(Ordering::SeqCst), 2);
    connector.clear_dns_cache(None);
    drop(s.get(&url).await.expect("get"));
    assert_eq!(lookups.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_first_requests_share_one_lookup() {
    let server = HttpServer::echo().await;
    let mut resolver = Counting::new(vec![loopback()]);
    resolver.delay = Duration::from_millis(100);
    let lookups = resolver.lookups.clone();
    let s = session(
        TcpConnector::builder()
            .resolver(resolver)
            .build()
            .expect("connector"),
    );
    let url = format!("http://app.test:{}/", server.addr().port());
    let tasks = (0..100).map(|_| {
        let s = s.clone();
        let url = url.clone();
        tokio::spawn(async move { s.get(url).await.map(drop) })
    });
    for r in join_all(tasks).await {
        assert!(matches!(r, Ok(Ok(()))), "{r:?}");
    }
    assert_eq!(lookups.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn without_dns_cache_every_connection_resolves() {
    let server = HttpServer::echo().await;
    let resolver = Counting::new(vec![loopback()]);
    let lookups = resolver.lookups.clone();
    let s = session(
        TcpConnector::builder()
            .resolver(resolver)
            .use_dns_cache(false)
            .force_close(true)
            .build()
            .expect("connector"),
    );
    let url = format!("http://app.test:{}/", server.addr().port());
    for _ in 0..3 {
        drop(s.get(&url).await.expect("get"));
    }
    assert_eq!(lookups.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn family_ipv6_connects_to_the_v6_address() {
    if test_support::skip_without_ipv6("family_ipv6_connects_to_the_v6_address") {
        return;
    }
    let server = HttpServer::start_ipv6(|_r| async { http::Response::new(full("six")) })
        .await
        .expect("bind [::1]:0");
    let port = server.addr().port();
    let resolver = Counting::new(vec![
        SocketAddr::from(([127, 0, 0, 1], 0)),
        "[::1]:0".parse().expect("v6"),
    ]);
    let s = session(
        TcpConnector::builder()
            .resolver(resolver)
            .family(Family::Ipv6)
            .build()
            .expect("connector"),
    );
    let mut r = s
        .get(format!("http://dual.test:{port}/"))
        .await
        .expect("v6 get");
    let peer = r.connection().and_then(|c| c.transport().1).expect("peer");
    assert!(peer.is_ipv6());
    assert_eq!(r.text().await.expect("text"), "six");

    // IPv4 only and nothing but a v6 address: a DNS-kind error.
    let s = session(
        TcpConnector::builder()
            .family(Family::Ipv4)
            .build()
            .expect("connector"),
    );
    let err = s
        .get(format!("http://[::1]:{port}/"))
        .await
        .expect_err("no v4 address");
    assert!(err.is_client_connector_dns_error(), "{err:?}");
}

#[tokio::test]
async fn local_addr_is_bound() {
    let server = HttpServer::echo().await;
    let local: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let s = session(
        TcpConnector::builder()
            .local_addr(local)
            .build()
            .expect("connector"),
    );
    let mut r = s.get(server.url("/")).await.expect("get");
    let (local_seen, _) = r.connection().expect("connection").transport();
    assert_eq!(local_seen.map(|a| a.ip()), Some(local.ip()));
    let v: serde_json::Value = r.json().await.expect("json");
    let peer: SocketAddr = v["peer"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .expect("peer");
    assert_eq!(Some(peer), local_seen);
}

#[tokio::test]
async fn happy_eyeballs_moves_past_a_black_holed_address() {
    let server = HttpServer::echo().await;
    let black_hole = test_support::BlackHole::new().expect("black hole");
    let hole = black_hole.addr();
    // Sanity check: the hole really hangs.
    let probe = tokio::time::timeout(
        Duration::from_millis(300),
        tokio::net::TcpStream::connect(hole),
    )
    .await;
    assert!(probe.is_err(), "the black hole must not accept: {probe:?}");

    #[derive(Debug)]
    struct HoleFirst(SocketAddr, SocketAddr);
    impl Resolver for HoleFirst {
        fn resolve<'a>(
            &'a self,
            _h: &'a str,
            _p: u16,
            _f: Family,
        ) -> BoxFuture<'a, Result<Vec<SocketAddr>, ClientError>> {
            Box::pin(async move { Ok(vec![self.0, self.1]) })
        }
    }
    let s = session(
        TcpConnector::builder()
            .resolver(HoleFirst(hole, server.addr()))
            .build()
            .expect("connector"),
    );
    let started = tokio::time::Instant::now();
    let mut r = s
        .get("http://two.test/")
        .await
        .expect("second address wins");
    r.read().await.expect("body");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert!(
        took >= Duration::from_millis(200),
        "the stagger was applied: {took:?}"
    );
}

#[tokio::test]
async fn unix_connector_speaks_http_over_a_socket() {
    let dir = std::env::temp_dir().join(format!("aiohttp-unix-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("server.sock");
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path).expect("bind unix");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: http::Request<hyper::body::Incoming>| async move {
                        let host = req
                            .headers()
                            .get("host")
                            .and_then(|h| h.to_str().ok())
                            .unwrap_or("")
                            .to_string();
                        Ok::<_, std::convert::Infallible>(http::Response::new(full(format!(
                            "{} {host}",
                            req.uri()
                        ))))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    let connector = UnixConnector::new(&path);
    assert_eq!(connector.path(), path.as_path());
    let s = ClientSession::builder()
        .connector(connector)
        .build()
        .expect("session");
    for _ in 0..3 {
        let mut r = s
            .get("http://localhost/status?x=1")
            .await
            .expect("unix get");
        assert_eq!(r.text().await.expect("text"), "/status?x=1 localhost");
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "keep-alive over the socket"
    );

    let missing = ClientSession::builder()
        .connector(UnixConnector::new(dir.join("missing.sock")))
        .build()
        .expect("session");
    let err = missing
        .get("http://localhost/")
        .await
        .expect_err("no socket");
    assert!(err.is_unix_client_connector_error(), "{err:?}");
    assert!(err.is_client_connector_error());
    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A user-implemented connector: every connection is an in-memory pipe to a hyper server task.
#[derive(Debug)]
struct InMemory {
    pool: Pool,
    opened: Arc<AtomicUsize>,
}

impl Connector for InMemory {
    fn create_connection<'a>(
        &'a self,
        _key: &'a ConnectionKey,
    ) -> BoxFuture<'a, Result<Transport, ClientError>> {
        Box::pin(async move {
            self.opened.fetch_add(1, Ordering::SeqCst);
            let (client, server) = tokio::io::duplex(64 * 1024);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: http::Request<hyper::body::Incoming>| async move {
                        Ok::<_, std::convert::Infallible>(http::Response::new(full(format!(
                            "in-memory {}",
                            req.uri().path()
                        ))))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(server), svc)
                    .await;
            });
            Ok(Transport::new(client))
        })
    }

    fn pool(&self) -> &Pool {
        &self.pool
    }
}

#[tokio::test]
async fn a_user_connector_with_an_in_memory_transport() {
    let opened = Arc::new(AtomicUsize::new(0));
    let s = ClientSession::builder()
        .connector(InMemory {
            pool: Pool::new(PoolConfig::default()),
            opened: opened.clone(),
        })
        .build()
        .expect("session");
    for i in 0..3 {
        let mut r = s
            .get(format!("http://memory.test/{i}"))
            .await
            .expect("in-memory get");
        assert_eq!(r.text().await.expect("text"), format!("in-memory /{i}"));
    }
    assert_eq!(opened.load(Ordering::SeqCst), 1);
    assert!(!s.connector().closed());
    s.close().await;
    assert!(s.connector().closed());
}

#[tokio::test]
async fn connection_detach_leaves_the_pool_accounting() {
    let server =
        HttpServer::start(|_r| async { http::Response::new(full(vec![b'x'; 1024 * 1024])) }).await;
    let s = ClientSession::new();
    let mut r = s.get(server.url("/")).await.expect("get");
    let conn = r.connection().cloned().expect("connection");
    assert_eq!(s.connector().pool().stats().in_use, 1);
    conn.detach();
    assert!(conn.closed());
    let stats = s.connector().pool().stats();
    assert_eq!((stats.open, stats.in_use), (0, 0));
    // The socket is still open for the response that owns it.
    let body = r.read().await.expect("body still readable");
    assert_eq!(body.len(), 1024 * 1024);
    assert_eq!(
        s.connector().pool().stats().idle,
        0,
        "a detached connection is never pooled"
    );
    drop(r);
    drop(conn);
    assert!(
        server
            .wait_for_open_connections(0, Duration::from_secs(5))
            .await
    );
}

#[tokio::test]
async fn connection_close_drops_the_socket_now() {
    let server =
        HttpServer::start(|_r| async { http::Response::new(full(vec![b'x'; 1024 * 1024])) }).await;
    let s = ClientSession::new();
    let mut r = s.get(server.url("/")).await.expect("get");
    r.connection().expect("connection").close();
    assert!(
        server
            .wait_for_open_connections(0, Duration::from_secs(5))
            .await
    );
    assert!(
        r.read().await.is_err(),
        "the body cannot be read after close"
    );
    assert_eq!(s.connector().pool().stats().open, 0);
}

#[tokio::test]
async fn connector_connect_counts_against_the_limit_until_released() {
    let server = HttpServer::echo().await;
    let s = ClientSession::builder()
        .connector(TcpConnector::builder().limit(1).build().expect("connector"))
        .build()
        .expect("session");
    let url = aiohttp::Url::parse(&server.url("/")).expect("url");
    let key = ConnectionKey::from_url(&url).expect("key");
    let conn = s.connector().connect(&key).await.expect("connect");
    assert!(conn.transport().1.is_some());
    assert_eq!(s.connector().pool().stats_for(&key).in_use, 1);
    // The only slot is taken: a request waits until the handle is released.
    let waiting = tokio::spawn(s.get(server.url("/")).send());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while s.connector().pool().stats().waiting < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the request never queued"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    conn.release();
    assert!(conn.closed());
    let mut resp = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("served after release")
        .expect("task")
        .expect("response");
    assert_eq!(resp.status(), 200);
    // The released connection carried no request: the waiting request reused it.
    assert_eq!(resp.connection().map(|c| c.is_reused()), Some(true));
    resp.read().await.expect("body");
    assert_eq!(server.connections_accepted(), 1);
}

#[tokio::test]
async fn releasing_a_response_with_its_body_unread_closes_the_connection() {
    let server =
        HttpServer::start(|_r| async { http::Response::new(full(vec![b'x'; 256 * 1024])) }).await;
    let s = ClientSession::new();
    let r = s.get(server.url("/")).await.expect("get");
    let conn = r.connection().expect("body unread").clone();
    conn.release();
    assert!(conn.closed());
    assert!(
        server
            .wait_for_open_connections(0, Duration::from_secs(5))
            .await,
        "an unfinished exchange is not pooled"
    );
    assert_eq!(s.connector().pool().stats().open, 0);
}

#[tokio::test]
async fn unreachable_address_is_a_connector_error() {
    // Port 0 cannot be connected to: the kernel refuses at once.
    let err = ClientSession::new()
        .get("http://127.0.0.1:0/")
        .await
        .expect_err("unreachable");
    assert!(err.is_client_connector_error(), "{err:?}");
    assert_eq!(err.port(), Some(0));
    // aiohttp's `ClientConnectorError.ssl`: whether the connection was to use TLS.
    assert_eq!(err.ssl(), Some(false));
    let err = ClientSession::new()
        .get("https://127.0.0.1:0/")
        .await
        .expect_err("unreachable");
    assert!(err.is_client_connector_error(), "{err:?}");
    assert_eq!(err.ssl(), Some(true));
}

#[tokio::test]
async fn async_resolver_reads_the_hosts_file() {
    let server = HttpServer::echo().await;
    let resolver = aiohttp::AsyncResolver::from_system_conf().expect("system resolver config");
    let s = session(
        TcpConnector::builder()
            .resolver(resolver)
            .family(Family::Ipv4)
            .build()
            .expect("connector"),
    );
    // "localhost" is answered from /etc/hosts; no query leaves the machine.
    let mut r = s
        .get(format!("http://localhost:{}/", server.addr().port()))
        .await
        .expect("localhost via hickory");
    assert_eq!(r.status(), 200);
    r.read().await.expect("body");
}
