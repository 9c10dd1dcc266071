//! Shared pieces of the benchmark harness: the command line every client binary takes, the
//! loop that drives a client's workers for a timed phase, a latency histogram, `getrusage`
//! snapshots, a counting allocator, the checks every response must pass, and the JSON line
//! each client prints for the driver (`bench-run`).
//!
//! The Python client (`crates/bench/python/aiohttp_client.py`) takes the same flags and prints
//! the same JSON line; keep the two in step.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

mod alloc;
mod hist;
pub mod ws;

pub use alloc::{AllocCount, CountingAlloc};
pub use hist::Histogram;

/// The failure of an HTTP client given a WebSocket mode.
pub const NOT_HTTP: &str = "not an HTTP mode (the WebSocket modes are for WebSocket clients)";

/// The 13-byte body of `GET /hello`.
pub const HELLO: &[u8] = b"Hello, world!";

/// A worker stops after this many failed requests, so a dead server cannot spin a client.
pub const MAX_ERRORS_PER_WORKER: u64 = 100;

/// Checks a response's status: anything but 200 is a failed request.
///
/// # Errors
/// The status, as the failure's text.
pub fn check_status(status: u16) -> Result<(), String> {
    if status == 200 {
        Ok(())
    } else {
        Err(format!("status {status}"))
    }
}

/// Checks the size of a response body read to its end, `got` bytes, against what the server
/// sends for `mode` (`/hello` and `/upload` answer [`HELLO`]; `/big` sends `bytes`, the run's
/// `--bytes`). `Ok` carries the body bytes the request moved: the download's size, the upload
/// body's (`bytes`), the 13 bytes of a GET.
///
/// # Errors
/// A body of another size: a failed request.
pub fn check_body(mode: Mode, bytes: u64, got: u64) -> Result<u64, String> {
    let (want, moved) = match mode {
        Mode::Get => (HELLO.len() as u64, got),
        Mode::Upload => (HELLO.len() as u64, bytes),
        Mode::Download | Mode::WsEcho | Mode::WsBulk => (bytes, got),
    };
    if got == want {
        Ok(moved)
    } else {
        Err(format!("body of {got} bytes, expected {want}"))
    }
}

/// What each request of a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `GET /hello`, read the 13-byte body.
    Get,
    /// One `GET /big?bytes=N`, streamed and discarded.
    Download,
    /// `POST /upload` with an N-byte body, read the 13-byte answer.
    Upload,
    /// WebSocket: one N-byte binary message sent, its echo awaited and checked (a round trip).
    WsEcho,
    /// WebSocket: N-byte binary messages with `--inflight` of them outstanding; one task writes,
    /// another reads and checks the echoes. Measured in bytes echoed per second.
    WsBulk,
}

impl Mode {
    fn parse(s: &str) -> Result<Mode, String> {
        match s {
            "get" => Ok(Mode::Get),
            "download" => Ok(Mode::Download),
            "upload" => Ok(Mode::Upload),
            "ws-echo" => Ok(Mode::WsEcho),
            "ws-bulk" => Ok(Mode::WsBulk),
            other => Err(format!(
                "unknown --mode {other:?} (get, download, upload, ws-echo, ws-bulk)"
            )),
        }
    }

    /// The flag value.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Get => "get",
            Mode::Download => "download",
            Mode::Upload => "upload",
            Mode::WsEcho => "ws-echo",
            Mode::WsBulk => "ws-bulk",
        }
    }

    /// A WebSocket mode.
    pub fn is_ws(self) -> bool {
        matches!(self, Mode::WsEcho | Mode::WsBulk)
    }
}

/// The command line of every client binary.
///
/// `--url BASE --scenario NAME --mode get|download|upload|ws-echo|ws-bulk --tasks N --conns N
/// [--force-close] --warmup SECS --duration SECS --bytes N [--ca PEM] [--http2]
/// [--inflight N] [--compress BITS]`
///
/// Over `https://`, `--ca` names the PEM file of the server's self-signed certificate (the only
/// root trusted), and the client offers ALPN `h2` alone with `--http2`, `http/1.1` alone
/// without it.
///
/// The WebSocket modes take `ws://` as `--url`, `--bytes` as the message size, `--inflight` as
/// the messages outstanding in `ws-bulk`, and `--compress` as the permessage-deflate window
/// bits to offer (0: none; only the aiohttp-rs WebSocket client takes it).
#[derive(Debug, Clone)]
pub struct ClientArgs {
    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`, without a path.
    pub base: String,
    /// A label copied into the report.
    pub scenario: String,
    /// What each request does.
    pub mode: Mode,
    /// Concurrent tasks issuing requests.
    pub tasks: usize,
    /// The connection limit (0 = as many as there are tasks).
    pub conns: usize,
    /// A new connection for every request.
    pub force_close: bool,
    /// Untimed phase before the measured one (connections opened, caches warm).
    pub warmup: Duration,
    /// Length of the measured phase (ignored by `download`, which makes exactly one request).
    pub duration: Duration,
    /// Download size or upload body size.
    pub bytes: u64,
    /// The PEM certificate to trust over `https://`.
    pub ca: Option<PathBuf>,
    /// HTTP/2 over TLS (ALPN `h2`), every task sharing one connection.
    pub http2: bool,
    /// `ws-bulk`: messages outstanding (sent, echo not yet read).
    pub inflight: usize,
    /// WebSockets: the permessage-deflate window bits to offer (0: no compression).
    pub compress: u8,
}

impl ClientArgs {
    /// Parses `std::env::args()`.
    ///
    /// # Errors
    /// An unknown flag, a missing value or a malformed number.
    pub fn from_env() -> Result<ClientArgs, String> {
        Self::parse(std::env::args().skip(1))
    }

    /// Parses the flags (without the program name).
    ///
    /// # Errors
    /// An unknown flag, a missing value or a malformed number.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<ClientArgs, String> {
        let mut out = ClientArgs {
            base: String::new(),
            scenario: "adhoc".into(),
            mode: Mode::Get,
            tasks: 1,
            conns: 0,
            force_close: false,
            warmup: Duration::from_millis(200),
            duration: Duration::from_secs(1),
            bytes: 0,
            ca: None,
            http2: false,
            inflight: 16,
            compress: 0,
        };
        let mut it = args.into_iter();
        while let Some(flag) = it.next() {
            if flag == "--force-close" {
                out.force_close = true;
                continue;
            }
            if flag == "--http2" {
                out.http2 = true;
                continue;
            }
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let num = |v: &str| v.parse::<u64>().map_err(|e| format!("{flag} {v:?}: {e}"));
            let secs = |v: &str| {
                v.parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| format!("{flag} {v:?}: not a number of seconds"))
            };
            match flag.as_str() {
                "--url" => out.base = value.trim_end_matches('/').to_string(),
                "--scenario" => out.scenario = value,
                "--mode" => out.mode = Mode::parse(&value)?,
                "--tasks" => out.tasks = usize::try_from(num(&value)?.max(1)).unwrap_or(1),
                "--conns" => out.conns = usize::try_from(num(&value)?).unwrap_or(0),
                "--warmup" => out.warmup = secs(&value)?,
                "--duration" => out.duration = secs(&value)?,
                "--bytes" => out.bytes = num(&value)?,
                "--ca" => out.ca = Some(PathBuf::from(value)),
                "--inflight" => out.inflight = usize::try_from(num(&value)?.max(1)).unwrap_or(1),
                "--compress" => {
                    out.compress = u8::try_from(num(&value)?)
                        .map_err(|_| format!("--compress {value:?}: 0 or 9 to 15"))?;
                }
                other => return Err(format!("unknown flag {other:?}")),
            }
        }
        if out.base.is_empty() {
            return Err("--url is required".into());
        }
        Ok(out)
    }

    /// The ALPN protocols to offer: `h2` alone with `--http2`, else `http/1.1` alone.
    pub fn alpn(&self) -> Vec<Vec<u8>> {
        if self.http2 {
            vec![b"h2".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        }
    }

    /// The rustls client configuration for `https://` runs (ring provider, `--ca` as the only
    /// root, [`alpn`](Self::alpn)); `None` without `--ca`.
    ///
    /// # Errors
    /// The certificate file cannot be read or parsed.
    pub fn tls_config(&self) -> Result<Option<rustls::ClientConfig>, String> {
        use rustls::pki_types::pem::PemObject as _;
        let Some(ca) = &self.ca else {
            return Ok(None);
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca)
            .map_err(|e| format!("{}: {e}", ca.display()))?
        {
            let cert = cert.map_err(|e| format!("{}: {e}", ca.display()))?;
            roots.add(cert).map_err(|e| e.to_string())?;
        }
        let mut config = rustls::ClientConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = self.alpn();
        Ok(Some(config))
    }

    /// The full URL requests of this run go to.
    pub fn url(&self) -> String {
        match self.mode {
            Mode::Get => format!("{}/hello", self.base),
            Mode::Download => format!("{}/big?bytes={}", self.base, self.bytes),
            Mode::Upload => format!("{}/upload", self.base),
            Mode::WsEcho | Mode::WsBulk => format!("{}/echo", self.base),
        }
    }

    /// The connection limit to configure: `conns`, or one per task when unset.
    pub fn conn_limit(&self) -> usize {
        if self.conns == 0 {
            self.tasks
        } else {
            self.conns
        }
    }

    /// The upload body: `bytes` bytes in `upload` mode, empty otherwise (shared, so cloning it
    /// per request copies nothing).
    pub fn upload_body(&self) -> bytes::Bytes {
        if self.mode != Mode::Upload {
            return bytes::Bytes::new();
        }
        bytes::Bytes::from(vec![b'x'; usize::try_from(self.bytes).unwrap_or(0)])
    }
}

/// The rustls crypto provider every Rust client and the server use (ring).
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The JSON line a client prints when it is done.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Which client (`aiohttp-rs`, `reqwest`, `hyper`, `aiohttp-py`, `wrk`, `curl`).
    pub client: String,
    /// The scenario label given with `--scenario`.
    pub scenario: String,
    /// Requests completed in the measured phase.
    pub requests: u64,
    /// Requests that failed in the measured phase (warm-up failures are added too).
    pub errors: u64,
    /// The first error seen, for the log.
    #[serde(default)]
    pub first_error: Option<String>,
    /// Response body bytes received (downloads) or request body bytes sent (uploads).
    pub bytes: u64,
    /// Wall time of the measured phase.
    pub wall_s: f64,
    /// User CPU of the measured phase (`getrusage(RUSAGE_SELF)` at its end minus at its start).
    pub cpu_user_s: f64,
    /// System CPU of the measured phase.
    pub cpu_sys_s: f64,
    /// Peak resident set size of the whole process (`ru_maxrss`), KiB.
    pub max_rss_kib: u64,
    /// Median request latency, µs.
    #[serde(default)]
    pub p50_us: Option<f64>,
    /// 99th percentile request latency, µs.
    #[serde(default)]
    pub p99_us: Option<f64>,
    /// Heap allocations (`alloc` calls) in the measured phase, counted by [`CountingAlloc`];
    /// `None` for clients without it (Python, wrk, curl).
    #[serde(default)]
    pub allocs: Option<u64>,
    /// Heap reallocations (`realloc` calls) in the measured phase.
    #[serde(default)]
    pub reallocs: Option<u64>,
    /// Bytes requested from the heap in the measured phase.
    #[serde(default)]
    pub alloc_bytes: Option<u64>,
}

/// A `getrusage(RUSAGE_SELF)` snapshot.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// User CPU, seconds.
    pub user_s: f64,
    /// System CPU, seconds.
    pub sys_s: f64,
    /// Peak RSS so far, KiB.
    pub max_rss_kib: u64,
}

fn timeval_secs(tv: nix::sys::time::TimeVal) -> f64 {
    tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6
}

fn usage_of(who: nix::sys::resource::UsageWho) -> Usage {
    match nix::sys::resource::getrusage(who) {
        Ok(u) => Usage {
            user_s: timeval_secs(u.user_time()),
            sys_s: timeval_secs(u.system_time()),
            max_rss_kib: u64::try_from(u.max_rss()).unwrap_or(0),
        },
        Err(_) => Usage::default(),
    }
}

impl Usage {
    /// This process.
    pub fn this_process() -> Usage {
        usage_of(nix::sys::resource::UsageWho::RUSAGE_SELF)
    }

    /// Every child this process has waited for (one child: that child's figures).
    pub fn children() -> Usage {
        usage_of(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
    }
}

/// What one worker (or a whole run) observed.
#[derive(Debug, Default, Clone)]
pub struct Recorder {
    /// Latencies of successful requests.
    pub hist: Histogram,
    /// Successful requests.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Body bytes moved by successful requests.
    pub bytes: u64,
    /// The first failure.
    pub first_error: Option<String>,
}

impl Recorder {
    /// Records a success that started at `started` and moved `bytes` body bytes.
    pub fn ok(&mut self, started: Instant, bytes: u64) {
        self.hist.record(started.elapsed());
        self.requests += 1;
        self.bytes += bytes;
    }

    /// Records a failure; returns whether the worker should go on.
    pub fn err(&mut self, e: impl fmt::Display) -> bool {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(e.to_string());
        }
        self.errors < MAX_ERRORS_PER_WORKER
    }

    /// Adds another worker's figures.
    pub fn merge(&mut self, other: &Recorder) {
        self.hist.merge(&other.hist);
        self.requests += other.requests;
        self.errors += other.errors;
        self.bytes += other.bytes;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }
}

/// One client's unit of concurrency: it makes requests one after another.
pub trait Worker: Send + 'static {
    /// Makes one request and reads its response to the end; `Ok` carries the body bytes moved.
    fn request(&mut self) -> impl Future<Output = Result<u64, String>> + Send;
}

/// Runs every worker on its own task until `deadline` (each finishes the request it is in),
/// then hands the workers back with what they recorded.
///
/// All workers record into one shared [`Recorder`] (the runtime is single-threaded, so its lock
/// is never contended): a 16 KiB histogram per worker would put 16 MiB into the peak RSS of a
/// 1000-task run and a cold cache line into every request.
///
/// # Panics
/// When a worker task panics.
pub async fn run_phase<W: Worker>(workers: Vec<W>, deadline: Instant) -> (Vec<W>, Recorder) {
    let shared = Arc::new(std::sync::Mutex::new(Recorder::default()));
    let handles: Vec<_> = workers
        .into_iter()
        .map(|mut w| {
            let rec = shared.clone();
            tokio::spawn(async move {
                let mut errors = 0u64;
                while Instant::now() < deadline {
                    let started = Instant::now();
                    let outcome = w.request().await;
                    let mut rec = rec
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    match outcome {
                        Ok(bytes) => rec.ok(started, bytes),
                        Err(e) => {
                            rec.err(e);
                            errors += 1;
                            if errors >= MAX_ERRORS_PER_WORKER {
                                break;
                            }
                        }
                    }
                }
                w
            })
        })
        .collect();
    let mut back = Vec::with_capacity(handles.len());
    for h in handles {
        back.push(h.await.expect("worker task panicked"));
    }
    let total = match Arc::try_unwrap(shared) {
        Ok(m) => m
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
        Err(shared) => shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone(),
    };
    (back, total)
}

/// Runs a whole client: a warm-up phase, then the measured phase (or, for `download`, exactly
/// one request), and builds the report with the CPU used in the measured phase alone.
pub async fn run_client<W: Worker>(client: &str, args: &ClientArgs, workers: Vec<W>) -> Report {
    run_client_with(client, args, workers).await.0
}

/// [`run_client`], handing the workers back (to close what they hold).
pub async fn run_client_with<W: Worker>(
    client: &str,
    args: &ClientArgs,
    workers: Vec<W>,
) -> (Report, Vec<W>) {
    let mut workers = workers;
    let mut warm_errors = Recorder::default();
    if args.mode != Mode::Download && !args.warmup.is_zero() {
        let (w, rec) = run_phase(workers, Instant::now() + args.warmup).await;
        workers = w;
        warm_errors.errors = rec.errors;
        warm_errors.first_error = rec.first_error;
    }
    let before = Usage::this_process();
    let allocs_before = AllocCount::now();
    let started = Instant::now();
    let mut rec = if args.mode == Mode::Download {
        let mut rec = Recorder::default();
        for w in &mut workers {
            let t = Instant::now();
            match w.request().await {
                Ok(n) => rec.ok(t, n),
                Err(e) => {
                    rec.err(e);
                }
            }
        }
        rec
    } else {
        let (w, rec) = run_phase(workers, started + args.duration).await;
        workers = w;
        rec
    };
    let wall = started.elapsed();
    let allocs = AllocCount::now()
        .zip(allocs_before)
        .map(|(a, b)| a.since(b));
    let after = Usage::this_process();
    rec.merge(&warm_errors);
    let report = Report {
        client: client.to_string(),
        scenario: args.scenario.clone(),
        requests: rec.requests,
        errors: rec.errors,
        first_error: rec.first_error,
        bytes: rec.bytes,
        wall_s: wall.as_secs_f64(),
        cpu_user_s: after.user_s - before.user_s,
        cpu_sys_s: after.sys_s - before.sys_s,
        max_rss_kib: after.max_rss_kib,
        p50_us: rec.hist.percentile(50.0).map(|d| d.as_secs_f64() * 1e6),
        p99_us: rec.hist.percentile(99.0).map(|d| d.as_secs_f64() * 1e6),
        allocs: allocs.map(|a| a.allocs),
        reallocs: allocs.map(|a| a.reallocs),
        alloc_bytes: allocs.map(|a| a.bytes),
    };
    (report, workers)
}

/// The `main` of a client binary: parse the flags, build the workers on a current-thread
/// runtime, run, print the JSON line. Exits 2 on bad flags, 1 when any request failed.
pub fn client_main<W, F, Fut>(client: &str, make_workers: F)
where
    W: Worker,
    F: FnOnce(ClientArgs) -> Fut,
    Fut: Future<Output = Result<Vec<W>, String>>,
{
    let args = match ClientArgs::from_env() {
        Ok(a) if a.mode.is_ws() => {
            eprintln!("{client}: {NOT_HTTP}");
            std::process::exit(2);
        }
        Ok(a) => a,
        Err(e) => {
            eprintln!("{client}: {e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let report = rt.block_on(async {
        let workers = match make_workers(args.clone()).await {
            Ok(w) => w,
            Err(e) => {
                eprintln!("{client}: setup failed: {e}");
                std::process::exit(1);
            }
        };
        run_client(client, &args, workers).await
    });
    println!(
        "{}",
        serde_json::to_string(&report).expect("report serializes")
    );
    if report.errors > 0 {
        eprintln!(
            "{client}: {} request(s) failed, first: {}",
            report.errors,
            report.first_error.as_deref().unwrap_or("?")
        );
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<ClientArgs, String> {
        ClientArgs::parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn parses_every_flag() {
        let a = args(
            "--url http://127.0.0.1:1/ --scenario s --mode upload --tasks 4 --conns 2 \
             --force-close --warmup 0.5 --duration 2 --bytes 10 --ca /c.pem --http2",
        )
        .expect("valid");
        assert_eq!(a.base, "http://127.0.0.1:1");
        assert_eq!(a.mode, Mode::Upload);
        assert_eq!((a.tasks, a.conns, a.conn_limit()), (4, 2, 2));
        assert!(a.force_close && a.http2);
        assert_eq!(a.ca.as_deref(), Some(std::path::Path::new("/c.pem")));
        assert_eq!(a.alpn(), [b"h2".to_vec()]);
        assert_eq!(a.warmup, Duration::from_millis(500));
        assert_eq!(a.url(), "http://127.0.0.1:1/upload");
        assert_eq!(a.upload_body().len(), 10);
        let d = args("--url http://h:1 --mode download --bytes 5").expect("valid");
        assert_eq!(d.url(), "http://h:1/big?bytes=5");
        assert_eq!(d.conn_limit(), 1);
        assert!(d.upload_body().is_empty());
    }

    #[test]
    fn rejects_bad_flags() {
        for bad in [
            "--mode get",
            "--url http://h --mode put",
            "--url http://h --tasks x",
            "--url http://h --duration -1",
            "--url http://h --bogus 1",
            "--url",
        ] {
            assert!(args(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn responses_are_checked() {
        assert_eq!(check_status(200), Ok(()));
        assert!(check_status(404).is_err());
        assert_eq!(check_body(Mode::Get, 0, 13), Ok(13));
        assert!(check_body(Mode::Get, 0, 12).is_err());
        assert_eq!(check_body(Mode::Upload, 1 << 20, 13), Ok(1 << 20));
        assert!(check_body(Mode::Upload, 1 << 20, 0).is_err());
        assert_eq!(check_body(Mode::Download, 1000, 1000), Ok(1000));
        assert!(check_body(Mode::Download, 1000, 999).is_err());
    }

    #[test]
    fn recorder_merges_and_caps_errors() {
        let mut a = Recorder::default();
        a.ok(Instant::now(), 5);
        let mut b = Recorder::default();
        let mut keep = true;
        for _ in 0..MAX_ERRORS_PER_WORKER {
            keep = b.err("boom");
        }
        assert!(!keep);
        a.merge(&b);
        assert_eq!(
            (a.requests, a.errors, a.bytes),
            (1, MAX_ERRORS_PER_WORKER, 5)
        );
        assert_eq!(a.first_error.as_deref(), Some("boom"));
    }
}
