//! Where the connection machinery (the pool, DNS) tells a traced request what it does, without
//! knowing the session or its trace configs: a request whose session has trace configs runs
//! in a task-local scope holding its [`ConnectionHooks`]; the pool and the resolver call them
//! through [`emit`], which costs one task-local lookup when no request is traced.
//!
//! Also the `tracing` events of those points (target `aiohttp`), with stable field names.

use std::future::Future;
use std::sync::Arc;

/// The connection points of aiohttp's `TraceConfig`.
pub(crate) trait ConnectionHooks: Send + Sync {
    fn connection_queued_start(&self) {}
    fn connection_queued_end(&self) {}
    fn connection_create_start(&self) {}
    fn connection_create_end(&self) {}
    fn connection_reuse(&self) {}
    fn dns_resolve_start(&self, _host: &str) {}
    fn dns_resolve_end(&self, _host: &str) {}
    fn dns_cache_hit(&self, _host: &str) {}
    fn dns_cache_miss(&self, _host: &str) {}
}

tokio::task_local! {
    static HOOKS: Arc<dyn ConnectionHooks>;
}

/// Runs `fut` with `hooks` as the current request's.
pub(crate) async fn scope<F: Future>(hooks: Arc<dyn ConnectionHooks>, fut: F) -> F::Output {
    HOOKS.scope(hooks, fut).await
}

/// Calls the current request's hooks, if it is traced.
fn with(f: impl FnOnce(&dyn ConnectionHooks)) {
    let _ = HOOKS.try_with(|h| f(&**h));
}

/// A point of the connection machinery.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Point<'a> {
    QueuedStart,
    QueuedEnd,
    CreateStart,
    CreateEnd,
    Reuse,
    DnsResolveStart(&'a str),
    DnsResolveEnd(&'a str),
    DnsCacheHit(&'a str),
    DnsCacheMiss(&'a str),
}

/// Reports `point` to the current request's hooks and as a `tracing` event.
pub(crate) fn emit(point: Point<'_>) {
    match point {
        Point::QueuedStart => {
            tracing::debug!(target: "aiohttp", "connection queued");
            with(|h| h.connection_queued_start());
        }
        Point::QueuedEnd => {
            tracing::debug!(target: "aiohttp", "connection queue left");
            with(|h| h.connection_queued_end());
        }
        Point::CreateStart => {
            tracing::debug!(target: "aiohttp", "connection create start");
            with(|h| h.connection_create_start());
        }
        Point::CreateEnd => {
            tracing::debug!(target: "aiohttp", "connection created");
            with(|h| h.connection_create_end());
        }
        Point::Reuse => {
            tracing::trace!(target: "aiohttp", reused = true, "connection reused");
            with(|h| h.connection_reuse());
        }
        Point::DnsResolveStart(host) => {
            tracing::debug!(target: "aiohttp", host, "dns resolve start");
            with(|h| h.dns_resolve_start(host));
        }
        Point::DnsResolveEnd(host) => {
            tracing::debug!(target: "aiohttp", host, "dns resolved");
            with(|h| h.dns_resolve_end(host));
        }
        Point::DnsCacheHit(host) => {
            tracing::trace!(target: "aiohttp", host, hit = true, "dns cache");
            with(|h| h.dns_cache_hit(host));
        }
        Point::DnsCacheMiss(host) => {
            tracing::trace!(target: "aiohttp", host, hit = false, "dns cache");
            with(|h| h.dns_cache_miss(host));
        }
    }
}
