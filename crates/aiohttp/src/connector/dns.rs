//! Name resolution: the [`Resolver`] trait, the system resolver run off the async threads
//! ([`ThreadedResolver`]), an asynchronous one on hickory ([`AsyncResolver`]), and the DNS
//! cache of [`TcpConnector`](super::TcpConnector) with a fixed TTL and shared in-flight lookups.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::{FutureExt, Shared};
use tokio::time::Instant;

use super::{BoxFuture, Family};
use crate::error::{ClientError, ErrorKind};
use crate::hooks::{emit, Point};

/// Turns a host name into socket addresses (aiohttp's `AbstractResolver`).
///
/// A request whose host the resolver fails on, or finds no address for, fails with a
/// `ClientConnectorDNSError` for that host and port, whatever the kind of the resolver's own
/// error (its message is kept in the request's).
///
/// ```
/// use aiohttp::{BoxFuture, ClientError, Family, Resolver};
/// use std::net::SocketAddr;
///
/// /// Every name resolves to loopback.
/// #[derive(Debug)]
/// struct Loopback;
///
/// impl Resolver for Loopback {
///     fn resolve<'a>(&'a self, _host: &'a str, port: u16, _family: Family)
///         -> BoxFuture<'a, Result<Vec<SocketAddr>, ClientError>> {
///         Box::pin(async move { Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]) })
///     }
/// }
/// let c = aiohttp::TcpConnector::builder().resolver(Loopback).build()?;
/// # Ok::<(), aiohttp::ClientError>(())
/// ```
pub trait Resolver: Send + Sync + fmt::Debug + 'static {
    /// The addresses of `host`, in preference order, restricted to `family`.
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
        family: Family,
    ) -> BoxFuture<'a, Result<Vec<SocketAddr>, ClientError>>;
}

fn dns_error(host: &str, port: u16, source: impl Into<crate::error::BoxError>) -> ClientError {
    ClientError::new(
        ErrorKind::ClientConnectorDNSError,
        format!("cannot resolve host {host}"),
    )
    .with_address(host, port)
    .with_source(source)
}

fn no_addresses(host: &str, port: u16) -> ClientError {
    ClientError::new(
        ErrorKind::ClientConnectorDNSError,
        format!("no address of the requested family for {host}"),
    )
    .with_address(host, port)
}

/// A resolver's answer for `host:port` as the request sees it: no address is a DNS error, and
/// so is any failure of the resolver (aiohttp turns its resolver's `OSError` into a
/// `ClientConnectorDNSError`); the resolver's own message is kept.
fn checked(
    host: &str,
    port: u16,
    answer: Result<Vec<SocketAddr>, ClientError>,
) -> Result<Vec<SocketAddr>, ClientError> {
    match answer {
        Ok(addrs) if addrs.is_empty() => Err(ClientError::new(
            ErrorKind::ClientConnectorDNSError,
            format!("no address found for {host}"),
        )
        .with_address(host, port)),
        Ok(addrs) => Ok(addrs),
        // A resolver's own DNS error is kept; it names the address if it did not.
        Err(e) if e.kind() == ErrorKind::ClientConnectorDNSError => Err(if e.host().is_none() {
            e.with_address(host, port)
        } else {
            e
        }),
        Err(e) => Err(ClientError::new(
            ErrorKind::ClientConnectorDNSError,
            format!("cannot resolve host {host}: {e}"),
        )
        .with_address(host, port)
        .with_source(e)),
    }
}

/// The addresses found for `host` that `family` admits; an error when none is.
fn admitted(
    host: &str,
    port: u16,
    family: Family,
    found: impl Iterator<Item = SocketAddr>,
) -> Result<Vec<SocketAddr>, ClientError> {
    let found: Vec<SocketAddr> = found.filter(|a| family.admits(&a.ip())).collect();
    if found.is_empty() {
        return Err(no_addresses(host, port));
    }
    Ok(found)
}

/// The operating system's resolver (`getaddrinfo`), run on tokio's blocking threads so it never
/// stalls the async ones (aiohttp's `ThreadedResolver`, its default).
///
/// ```
/// let _ = aiohttp::TcpConnector::builder().resolver(aiohttp::ThreadedResolver::new());
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct ThreadedResolver;

impl ThreadedResolver {
    /// The resolver.
    ///
    /// ```
    /// let _ = aiohttp::ThreadedResolver::new();
    /// ```
    pub fn new() -> Self {
        ThreadedResolver
    }
}

impl Resolver for ThreadedResolver {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
        family: Family,
    ) -> BoxFuture<'a, Result<Vec<SocketAddr>, ClientError>> {
        Box::pin(async move {
            let found = tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| dns_error(host, port, e))?;
            admitted(host, port, family, found)
        })
    }
}

/// An asynchronous DNS resolver on `hickory-resolver`, configured from the system
/// (`/etc/resolv.conf`, `/etc/hosts`) — aiohttp's `AsyncResolver`.
///
/// ```no_run
/// let resolver = aiohttp::AsyncResolver::from_system_conf()?;
/// let c = aiohttp::TcpConnector::builder().resolver(resolver).build()?;
/// # Ok::<(), aiohttp::ClientError>(())
/// ```
#[derive(Clone)]
pub struct AsyncResolver {
    inner: hickory_resolver::TokioResolver,
}

impl fmt::Debug for AsyncResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResolver").finish_non_exhaustive()
    }
}

impl AsyncResolver {
    /// A resolver using the system's name servers and hosts file.
    ///
    /// # Errors
    /// The system configuration cannot be read.
    ///
    /// ```no_run
    /// let _ = aiohttp::AsyncResolver::from_system_conf()?;
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn from_system_conf() -> Result<Self, ClientError> {
        let inner = hickory_resolver::TokioResolver::builder_tokio()
            .and_then(|b| b.build())
            .map_err(|e| {
                ClientError::invalid_argument("cannot configure the DNS resolver").with_source(e)
            })?;
        Ok(AsyncResolver { inner })
    }
}

impl Resolver for AsyncResolver {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
        family: Family,
    ) -> BoxFuture<'a, Result<Vec<SocketAddr>, ClientError>> {
        Box::pin(async move {
            let lookup = self
                .inner
                .lookup_ip(host)
                .await
                .map_err(|e| dns_error(host, port, e))?;
            let found = lookup.iter().map(|ip| SocketAddr::new(ip, port));
            admitted(host, port, family, found)
        })
    }
}

type Lookup = Shared<BoxFuture<'static, Result<Arc<Vec<SocketAddr>>, (ErrorKind, String)>>>;

/// `(host, port)`.
type HostKey = (String, u16);

/// The most hosts the cache keeps; past that, the entry stored longest ago is dropped. A
/// long-lived session may meet any number of hosts, most of them never again.
const MAX_ENTRIES: usize = 1024;

/// Expired entries are swept once the cache grows to this many entries, or twice what the
/// last sweep left, whichever is more: each sweep then costs no more than the inserts since.
const SWEEP_MIN: usize = 64;

/// Resolved addresses, when they expire (`None`: never), and when they were stored.
struct Entry {
    addrs: Arc<Vec<SocketAddr>>,
    expires: Option<Instant>,
    stored: Instant,
}

impl Entry {
    fn fresh(&self, now: Instant) -> bool {
        self.expires.is_none_or(|e| now < e)
    }
}

#[derive(Default)]
struct CacheState {
    entries: HashMap<HostKey, Entry>,
    in_flight: HashMap<HostKey, Lookup>,
    /// Size at which the next insert sweeps expired entries.
    sweep_at: usize,
}

impl CacheState {
    /// Stores `addrs` for `key`, keeping the cache bounded: expired entries (hosts never looked
    /// up again) are swept from time to time, and past [`MAX_ENTRIES`] the oldest entry goes.
    fn insert(&mut self, key: HostKey, addrs: Arc<Vec<SocketAddr>>, expires: Option<Instant>) {
        let now = Instant::now();
        if self.entries.len() >= self.sweep_at.max(SWEEP_MIN) {
            self.entries.retain(|_, e| e.fresh(now));
            self.sweep_at = self.entries.len() * 2;
        }
        if self.entries.len() >= MAX_ENTRIES && !self.entries.contains_key(&key) {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.stored)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.entries.remove(&k);
            }
        }
        self.entries.insert(
            key,
            Entry {
                addrs,
                expires,
                stored: now,
            },
        );
    }
}

/// Takes a lookup out of the in-flight table when the last request waiting for it is
/// cancelled; otherwise the table would keep it for a host perhaps never asked for again.
struct InFlight<'a> {
    cache: &'a DnsCache,
    key: &'a HostKey,
    lookup: Lookup,
    armed: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut st = self.cache.lock();
        let ours = st
            .in_flight
            .get(self.key)
            .is_some_and(|l| l.ptr_eq(&self.lookup));
        // Two handles left, the table's and this one: nobody else is waiting.
        if ours && self.lookup.strong_count().is_some_and(|n| n <= 2) {
            st.in_flight.remove(self.key);
        }
    }
}

/// The DNS cache: fixed TTL as aiohttp (not the records' own), one query for concurrent
/// lookups of the same host.
pub(crate) struct DnsCache {
    resolver: Arc<dyn Resolver>,
    enabled: bool,
    ttl: Option<Duration>,
    state: Mutex<CacheState>,
}

impl fmt::Debug for DnsCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DnsCache")
            .field("resolver", &self.resolver)
            .field("enabled", &self.enabled)
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl DnsCache {
    pub(crate) fn new(resolver: Arc<dyn Resolver>, enabled: bool, ttl: Option<Duration>) -> Self {
        DnsCache {
            resolver,
            enabled,
            ttl,
            state: Mutex::new(CacheState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// The addresses of `host:port`: an IP literal as is, else from the cache or the resolver.
    pub(crate) async fn resolve(
        &self,
        host: &str,
        port: u16,
        family: Family,
    ) -> Result<Arc<Vec<SocketAddr>>, ClientError> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            let literal = std::iter::once(SocketAddr::new(ip, port));
            return admitted(host, port, family, literal).map(Arc::new);
        }
        if !self.enabled {
            emit(Point::DnsResolveStart(host));
            let answer = self.resolver.resolve(host, port, family).await;
            emit(Point::DnsResolveEnd(host));
            return checked(host, port, answer).map(Arc::new);
        }
        let key = (host.to_string(), port);
        // This request's lookup is the one made (not one joined): it reports its start and end.
        let mut made = false;
        let lookup = {
            let mut st = self.lock();
            if let Some(entry) = st.entries.get(&key) {
                if entry.fresh(Instant::now()) {
                    let addrs = entry.addrs.clone();
                    drop(st);
                    emit(Point::DnsCacheHit(host));
                    return Ok(addrs);
                }
                st.entries.remove(&key);
            }
            match st.in_flight.get(&key) {
                // A lookup under way for another request: a hit, as aiohttp counts it.
                Some(l) => l.clone(),
                None => {
                    made = true;
                    let resolver = self.resolver.clone();
                    let (h, p) = key.clone();
                    let fut: BoxFuture<'static, _> = Box::pin(async move {
                        let answer = resolver.resolve(&h, p, family).await;
                        checked(&h, p, answer)
                            .map(Arc::new)
                            .map_err(|e| (e.kind(), e.message().to_string()))
                    });
                    let shared = fut.shared();
                    st.in_flight.insert(key.clone(), shared.clone());
                    shared
                }
            }
        };
        if made {
            emit(Point::DnsCacheMiss(host));
            emit(Point::DnsResolveStart(host));
        } else {
            emit(Point::DnsCacheHit(host));
        }
        let mut waiting = InFlight {
            cache: self,
            key: &key,
            lookup,
            armed: true,
        };
        let result = (&mut waiting.lookup).await;
        waiting.armed = false;
        drop(waiting);
        if made {
            emit(Point::DnsResolveEnd(host));
        }
        let mut st = self.lock();
        st.in_flight.remove(&key);
        match result {
            Ok(addrs) => {
                // A TTL too long for the clock never expires, like no TTL.
                let expires = self.ttl.and_then(|t| Instant::now().checked_add(t));
                st.insert(key, addrs.clone(), expires);
                Ok(addrs)
            }
            Err((kind, message)) => Err(ClientError::new(kind, message).with_address(host, port)),
        }
    }

    pub(crate) fn cached_hosts(&self) -> Vec<((String, u16), Vec<SocketAddr>)> {
        let now = Instant::now();
        self.lock()
            .entries
            .iter()
            .filter(|(_, e)| e.fresh(now))
            .map(|(k, e)| (k.clone(), e.addrs.to_vec()))
            .collect()
    }

    pub(crate) fn clear(&self, which: Option<(&str, u16)>) {
        let mut st = self.lock();
        match which {
            Some((h, p)) => {
                st.entries.remove(&(h.to_string(), p));
            }
            None => st.entries.clear(),
        }
    }
}

/// RFC 8305 section 4: alternate address families, starting with the family of the first
/// address; `interleave` addresses of the first family before each one of the other.
pub(crate) fn interleave(addrs: &[SocketAddr], interleave: usize) -> Vec<SocketAddr> {
    let Some(first) = addrs.first() else {
        return Vec::new();
    };
    let first_v6 = first.is_ipv6();
    let (mut a, mut b): (Vec<SocketAddr>, Vec<SocketAddr>) =
        addrs.iter().partition(|x| x.is_ipv6() == first_v6);
    a.reverse();
    b.reverse();
    let n = interleave.max(1);
    let mut out = Vec::with_capacity(addrs.len());
    while !a.is_empty() || !b.is_empty() {
        for _ in 0..n {
            if let Some(x) = a.pop() {
                out.push(x);
            }
        }
        if let Some(x) = b.pop() {
            out.push(x);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every host resolves to one loopback address; `stall` hosts never answer.
    #[derive(Debug)]
    struct Stub;

    impl Resolver for Stub {
        fn resolve<'a>(
            &'a self,
            host: &'a str,
            port: u16,
            _family: Family,
        ) -> BoxFuture<'a, Result<Vec<SocketAddr>, ClientError>> {
            Box::pin(async move {
                if host.starts_with("stall") {
                    std::future::pending::<()>().await;
                }
                Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))])
            })
        }
    }

    #[test]
    fn resolver_failures_name_the_address() {
        let own = ClientError::new(ErrorKind::ClientConnectorDNSError, "no such name");
        let e = checked("a.test", 81, Err(own)).expect_err("fails");
        assert_eq!((e.host(), e.port()), (Some("a.test"), Some(81)));
        assert_eq!(e.message(), "no such name");
        let other = ClientError::new(ErrorKind::ClientOSError, "resolver broke");
        let e = checked("b.test", 82, Err(other)).expect_err("fails");
        assert_eq!(e.kind(), ErrorKind::ClientConnectorDNSError);
        assert_eq!((e.host(), e.port()), (Some("b.test"), Some(82)));
        let e = checked("c.test", 83, Ok(Vec::new())).expect_err("fails");
        assert_eq!((e.host(), e.port()), (Some("c.test"), Some(83)));
    }

    fn cache(ttl: Option<Duration>) -> DnsCache {
        DnsCache::new(Arc::new(Stub), true, ttl)
    }

    #[tokio::test]
    async fn ten_thousand_hosts_stay_within_the_cap() {
        let c = cache(None);
        for i in 0..10_000 {
            c.resolve(&format!("h{i}.test"), 80, Family::Any)
                .await
                .expect("stub resolves");
            assert!(c.lock().entries.len() <= MAX_ENTRIES);
        }
        let st = c.lock();
        assert_eq!(st.entries.len(), MAX_ENTRIES);
        // The most recent hosts are the ones kept.
        assert!(st.entries.contains_key(&("h9999.test".to_string(), 80)));
        assert!(!st.entries.contains_key(&("h0.test".to_string(), 80)));
        assert!(st.in_flight.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn expired_entries_are_swept_though_never_looked_up_again() {
        let c = cache(Some(Duration::from_secs(10)));
        for i in 0..50 {
            c.resolve(&format!("old{i}.test"), 80, Family::Any)
                .await
                .expect("stub resolves");
        }
        tokio::time::advance(Duration::from_secs(11)).await;
        for i in 0..100 {
            c.resolve(&format!("new{i}.test"), 80, Family::Any)
                .await
                .expect("stub resolves");
        }
        let st = c.lock();
        let now = Instant::now();
        assert!(st.entries.values().all(|e| e.fresh(now)), "expired left");
        assert_eq!(st.entries.len(), 100);
    }

    #[tokio::test]
    async fn a_cancelled_lookup_leaves_no_in_flight_entry() {
        let c = cache(None);
        for i in 0..100 {
            let host = format!("stall{i}.test");
            let lookup = c.resolve(&host, 80, Family::Any);
            // Polled once (the lookup starts), then dropped.
            let r = tokio::time::timeout(Duration::from_millis(1), lookup).await;
            assert!(r.is_err(), "the stub never answers");
        }
        assert!(c.lock().in_flight.is_empty());
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn interleave_table() {
        let v6a = sa("[::1]:1");
        let v6b = sa("[::2]:1");
        let v4a = sa("1.1.1.1:1");
        let v4b = sa("2.2.2.2:1");
        let cases = [
            (vec![], 1, vec![]),
            (vec![v4a, v4b], 1, vec![v4a, v4b]),
            (vec![v6a, v6b, v4a, v4b], 1, vec![v6a, v4a, v6b, v4b]),
            (vec![v4a, v6a, v6b, v4b], 1, vec![v4a, v6a, v4b, v6b]),
            (vec![v6a, v6b, v4a, v4b], 2, vec![v6a, v6b, v4a, v4b]),
            (vec![v6a, v4a, v4b], 1, vec![v6a, v4a, v4b]),
        ];
        for (input, n, want) in cases {
            assert_eq!(interleave(&input, n), want, "{input:?} x{n}");
        }
    }
}
