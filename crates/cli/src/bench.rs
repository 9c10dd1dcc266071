//! `aiohttp bench`: a load generator with a live progress bar and a latency report, against a
//! URL or an embedded loopback server.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aiohttp::{ClientSession, ClientTimeout, TcpConnector, Version};
use hdrhistogram::Histogram;

use crate::args::BenchArgs;
use crate::exit;
use crate::request::{with_scheme, Failure};

/// What the embedded server answers to a GET.
pub const HELLO: &[u8] = b"Hello, world!";

/// What one worker saw.
#[derive(Debug)]
pub struct Tally {
    /// Latencies of the requests that got a response, in microseconds.
    pub latency: Histogram<u64>,
    /// Responses by status.
    pub statuses: BTreeMap<u16, u64>,
    /// Failures by aiohttp error class.
    pub errors: BTreeMap<String, u64>,
    /// Body bytes read.
    pub bytes: u64,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            // 1 µs to 1 hour, 3 significant digits.
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("1 µs to 1 hour at 3 significant digits are valid bounds"),
            statuses: BTreeMap::new(),
            errors: BTreeMap::new(),
            bytes: 0,
        }
    }

    fn merge(&mut self, other: &Tally) {
        let _ = self.latency.add(&other.latency);
        for (k, v) in &other.statuses {
            *self.statuses.entry(*k).or_default() += v;
        }
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        self.bytes += other.bytes;
    }

    /// Requests made: responses plus failures.
    pub fn requests(&self) -> u64 {
        self.statuses.values().sum::<u64>() + self.errors.values().sum::<u64>()
    }
}

/// The report printed at the end (or when interrupted).
pub fn report(t: &Tally, elapsed: Duration, target: &str, interrupted: bool) -> String {
    use std::fmt::Write as _;
    let secs = elapsed.as_secs_f64().max(1e-9);
    let n = t.requests();
    let errors: u64 = t.errors.values().sum();
    let mut out = String::new();
    if interrupted {
        out.push_str("Interrupted: the report covers the requests made until then.\n");
    }
    let _ = writeln!(out, "Target:       {target}");
    let _ = writeln!(out, "Requests:     {n} ({errors} errors)");
    let _ = writeln!(out, "Elapsed:      {secs:.3} s");
    let _ = writeln!(out, "Requests/s:   {:.1}", n as f64 / secs);
    let _ = writeln!(
        out,
        "Transferred:  {} body bytes ({:.2} MB/s)",
        t.bytes,
        t.bytes as f64 / secs / 1e6
    );
    out.push_str("Latency (µs):\n");
    if t.latency.is_empty() {
        out.push_str("  no responses\n");
    } else {
        for (name, q) in [("p50", 0.50), ("p90", 0.90), ("p99", 0.99)] {
            let _ = writeln!(out, "  {name:<5} {}", t.latency.value_at_quantile(q));
        }
        let _ = writeln!(out, "  {:<5} {}", "max", t.latency.max());
        let _ = writeln!(out, "  {:<5} {:.1}", "mean", t.latency.mean());
    }
    out.push_str("Status codes:\n");
    if t.statuses.is_empty() {
        out.push_str("  none\n");
    }
    for (status, count) in &t.statuses {
        let _ = writeln!(out, "  {status}: {count}");
    }
    if !t.errors.is_empty() {
        out.push_str("Errors:\n");
        for (kind, count) in &t.errors {
            let _ = writeln!(out, "  {kind}: {count}");
        }
    }
    out
}

/// Runs the benchmark; the exit status (0 unless interrupted).
///
/// # Errors
/// The session cannot be built or the embedded server cannot start.
pub async fn run(args: BenchArgs) -> Result<u8, Failure> {
    let (url, _server) = match &args.url {
        Some(u) => (with_scheme(u), None),
        None => {
            let server = EmbeddedServer::start()
                .map_err(|e| Failure::usage(format!("cannot start the embedded server: {e}")))?;
            (format!("http://{}/", server.addr), Some(server))
        }
    };
    if args.concurrency == 0 {
        return Err(Failure::usage("-c must be at least 1"));
    }
    let total = args.requests;
    let duration = match (args.requests, args.duration) {
        (_, Some(d)) => Some(
            Duration::try_from_secs_f64(d)
                .map_err(|_| Failure::usage(format!("--duration {d}: not a duration")))?,
        ),
        (Some(_), None) => None,
        (None, None) => Some(Duration::from_secs(5)),
    };
    let connector = TcpConnector::builder()
        .limit(args.limit)
        .limit_per_host(args.limit_per_host)
        .build()?;
    let mut builder = ClientSession::builder()
        .connector(connector)
        .timeout(ClientTimeout {
            total: Some(Duration::from_secs_f64(args.timeout.max(0.001))),
            ..ClientTimeout::default()
        });
    if args.http2 {
        builder = builder.version(Version::HTTP_2);
    }
    let session = builder.build()?;
    let method = args.method.to_ascii_uppercase();
    let body = args.body.clone().map(bytes::Bytes::from);

    let done = Arc::new(AtomicU64::new(0));
    let claimed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let bar = match (total, duration) {
        (Some(n), _) => indicatif::ProgressBar::new(n),
        (None, Some(d)) => indicatif::ProgressBar::new(d.as_millis() as u64),
        (None, None) => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    let template = if total.is_some() {
        "{wide_bar} {pos}/{len} requests, {per_sec}, ETA {eta}"
    } else {
        "{wide_bar} {elapsed}/{duration} {msg}"
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    let started = Instant::now();
    let deadline = duration.map(|d| started + d);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (session, url, method, body) =
            (session.clone(), url.clone(), method.clone(), body.clone());
        let (done, claimed, stop) = (done.clone(), claimed.clone(), stop.clone());
        workers.spawn(async move {
            let mut tally = Tally::new();
            loop {
                if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                if let Some(n) = total {
                    if claimed.fetch_add(1, Ordering::Relaxed) >= n {
                        break;
                    }
                }
                let t0 = Instant::now();
                let mut req = session.request(method.as_str(), url.as_str());
                if let Some(b) = &body {
                    req = req.data(b.clone());
                }
                let result = match req.await {
                    Ok(mut resp) => resp.read().await.map(|b| (resp.status().as_u16(), b.len())),
                    Err(e) => Err(e),
                };
                match result {
                    Ok((status, len)) => {
                        let us = t0.elapsed().as_micros().max(1) as u64;
                        let _ = tally.latency.record(us.min(3_600_000_000));
                        *tally.statuses.entry(status).or_default() += 1;
                        tally.bytes += len as u64;
                    }
                    Err(e) => {
                        *tally.errors.entry(format!("{:?}", e.kind())).or_default() += 1;
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            tally
        });
    }
    let mut interrupted = false;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut all = Tally::new();
    loop {
        tokio::select! {
            joined = workers.join_next() => match joined {
                Some(Ok(t)) => all.merge(&t),
                Some(Err(e)) => return Err(Failure::usage(format!("a worker failed: {e}"))),
                None => break,
            },
            _ = tick.tick() => {
                if total.is_some() {
                    bar.set_position(done.load(Ordering::Relaxed));
                } else {
                    bar.set_position(started.elapsed().as_millis() as u64);
                    bar.set_message(format!("{} requests", done.load(Ordering::Relaxed)));
                }
            }
            _ = &mut ctrl_c, if !interrupted => {
                interrupted = true;
                stop.store(true, Ordering::Relaxed);
            }
        }
    }
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    session.close().await;
    let target = if args.url.is_some() {
        url.clone()
    } else {
        format!("{url} (embedded server)")
    };
    print!("{}", report(&all, elapsed, &target, interrupted));
    Ok(if interrupted {
        exit::INTERRUPTED
    } else {
        exit::OK
    })
}

/// A loopback HTTP server on its own thread and runtime: `GET` answers [`HELLO`], any other
/// method reads the body and answers its length. HTTP/1.1 and HTTP/2 (prior knowledge).
#[derive(Debug)]
pub struct EmbeddedServer {
    /// Where it listens.
    pub addr: SocketAddr,
}

impl EmbeddedServer {
    /// Starts it; the thread lives as long as the process.
    ///
    /// # Errors
    /// No runtime, or no loopback port.
    pub fn start() -> std::io::Result<EmbeddedServer> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("aiohttp-bench-server".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    while let Ok((tcp, _)) = listener.accept().await {
                        let _ = tcp.set_nodelay(true);
                        tokio::spawn(async move {
                            let svc = hyper::service::service_fn(answer);
                            let _ = hyper_util::server::conn::auto::Builder::new(
                                hyper_util::rt::TokioExecutor::new(),
                            )
                            .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                            .await;
                        });
                    }
                });
            })?;
        Ok(EmbeddedServer { addr })
    }
}

async fn answer(
    req: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<http_body_util::Full<bytes::Bytes>>, std::convert::Infallible> {
    use http_body_util::BodyExt;
    let body = if req.method() == http::Method::GET || req.method() == http::Method::HEAD {
        bytes::Bytes::from_static(HELLO)
    } else {
        let n = match req.into_body().collect().await {
            Ok(b) => b.to_bytes().len(),
            Err(_) => 0,
        };
        bytes::Bytes::from(n.to_string())
    };
    Ok(http::Response::new(http_body_util::Full::new(body)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_report_adds_up() {
        let mut t = Tally::new();
        for us in [100, 200, 300, 400, 10_000] {
            t.latency.record(us).unwrap();
        }
        t.statuses.insert(200, 4);
        t.statuses.insert(503, 1);
        t.errors.insert("ClientConnectorError".into(), 2);
        t.bytes = 65;
        assert_eq!(t.requests(), 7);
        let text = report(&t, Duration::from_secs(2), "http://x/", false);
        assert!(text.contains("Requests:     7 (2 errors)\n"), "{text}");
        assert!(text.contains("Requests/s:   3.5\n"), "{text}");
        assert!(text.contains("  p50   300\n"), "{text}");
        assert!(
            text.contains("  max   10007\n") || text.contains("  max   10000\n"),
            "{text}"
        );
        assert!(text.contains("  200: 4\n  503: 1\n"), "{text}");
        assert!(
            text.contains("Errors:\n  ClientConnectorError: 2\n"),
            "{text}"
        );
        assert!(!text.contains("Interrupted"));
        assert!(report(&t, Duration::from_secs(1), "u", true).starts_with("Interrupted"));
    }

    #[test]
    fn tallies_merge() {
        let mut a = Tally::new();
        let mut b = Tally::new();
        a.latency.record(5).unwrap();
        b.latency.record(7).unwrap();
        a.statuses.insert(200, 1);
        b.statuses.insert(200, 2);
        b.errors.insert("X".into(), 1);
        b.bytes = 9;
        a.merge(&b);
        assert_eq!(a.requests(), 4);
        assert_eq!(a.latency.len(), 2);
        assert_eq!(a.bytes, 9);
    }
}
