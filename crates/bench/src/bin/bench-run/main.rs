//! The benchmark driver: starts `bench-server` pinned to core 0, runs every client of every
//! scenario as its own process pinned to core 1 (interleaved: A B C … A B C …), collects the
//! JSON line each prints, asks the server how many connections were open at most, and prints a
//! markdown table of medians (min–max) with ratios to reqwest and to raw hyper (to aiohttp-rs
//! in the WebSocket scenarios).
//!
//! ```text
//! bench-run [--full | --smoke] [--reps N] [--duration SECS] [--warmup SECS]
//!           [--download-bytes N] [--upload-bytes N] [--scenarios 1,2,7b,8,…]
//!           [--clients aiohttp-rs,aiohttp-rs-deflate,reqwest,hyper,tokio-tungstenite,
//!                      fastwebsockets,yawc,aiohttp-py,aiohttp-py-uvloop,wrk,curl]
//!           [--python PATH] [--out DIR] [--no-pin]
//! bench-run profile [--scenarios 1,2,3,7a,7b] [--clients aiohttp-rs,hyper,reqwest] [--quick]
//!                   [--short SECS] [--long SECS] [--warmup SECS] [--out DIR] [--no-pin]
//! bench-run measure -- CMD [ARGS…]   (internal: runs CMD, prints its output and rusage as JSON)
//! ```
//!
//! Exits non-zero when a client failed a request or the harness itself broke; timings never
//! decide the exit status. `scripts/bench.sh` builds everything and runs this.
//!
//! `bench-run profile` counts instructions (callgrind) and heap allocations per request of
//! the Rust clients instead of timing them; see [`profile`]. `scripts/profile.sh` runs it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bench::{Mode, Report, Usage};
use serde::{Deserialize, Serialize};

mod profile;

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// The repository root (the source tree the driver was built from).
fn repo() -> PathBuf {
    let p = Path::new(REPO);
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Client {
    AiohttpRs,
    /// aiohttp-rs with permessage-deflate (WebSocket scenarios only).
    AiohttpRsDeflate,
    Reqwest,
    Hyper,
    /// WebSocket scenarios only, as are the next two.
    Tungstenite,
    Fastwebsockets,
    Yawc,
    AiohttpPy,
    /// Python aiohttp on uvloop (WebSocket scenarios only).
    AiohttpPyUvloop,
    Wrk,
    Curl,
}

impl Client {
    const ALL: [Client; 11] = [
        Client::AiohttpRs,
        Client::AiohttpRsDeflate,
        Client::Reqwest,
        Client::Hyper,
        Client::Tungstenite,
        Client::Fastwebsockets,
        Client::Yawc,
        Client::AiohttpPy,
        Client::AiohttpPyUvloop,
        Client::Wrk,
        Client::Curl,
    ];

    fn name(self) -> &'static str {
        match self {
            Client::AiohttpRs => "aiohttp-rs",
            Client::AiohttpRsDeflate => "aiohttp-rs-deflate",
            Client::Reqwest => "reqwest",
            Client::Hyper => "hyper",
            Client::Tungstenite => "tokio-tungstenite",
            Client::Fastwebsockets => "fastwebsockets",
            Client::Yawc => "yawc",
            Client::AiohttpPy => "aiohttp-py",
            Client::AiohttpPyUvloop => "aiohttp-py-uvloop",
            Client::Wrk => "wrk",
            Client::Curl => "curl",
        }
    }

    fn parse(s: &str) -> Option<Client> {
        Client::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// The transport of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// Plain HTTP/1.1.
    Plain,
    /// HTTPS, HTTP/1.1 chosen by ALPN.
    Https1,
    /// HTTPS, HTTP/2 chosen by ALPN, every task on one connection.
    Https2,
    /// WebSocket (`ws://`) on the server's echo port.
    Ws,
}

#[derive(Debug, Clone)]
struct Scenario {
    /// `1`…`6`, `7a`, `7b`; `--scenarios 7` selects both parts of 7.
    id: &'static str,
    title: &'static str,
    mode: Mode,
    tasks: usize,
    conns: usize,
    force_close: bool,
    /// Connections for wrk; `None` where wrk has no part.
    wrk_conns: Option<usize>,
    curl: bool,
    transport: Transport,
    /// WebSocket scenarios: the message size.
    msg_bytes: u64,
    /// `ws-bulk`: messages outstanding.
    inflight: usize,
}

fn scenarios() -> Vec<Scenario> {
    let base = Scenario {
        id: "",
        title: "",
        mode: Mode::Get,
        tasks: 1,
        conns: 1,
        force_close: false,
        wrk_conns: Some(1),
        curl: false,
        transport: Transport::Plain,
        msg_bytes: 0,
        inflight: 1,
    };
    vec![
        Scenario {
            id: "1",
            title: "sequential GET of a 13-byte body, one keep-alive connection",
            ..base.clone()
        },
        Scenario {
            id: "2",
            title: "64 tasks, 64 keep-alive connections",
            tasks: 64,
            conns: 64,
            wrk_conns: Some(64),
            ..base.clone()
        },
        Scenario {
            id: "3",
            title: "1000 tasks through a limit of 100 connections",
            tasks: 1000,
            conns: 100,
            wrk_conns: Some(100),
            ..base.clone()
        },
        Scenario {
            id: "4",
            title: "one large download, streamed and discarded",
            mode: Mode::Download,
            wrk_conns: None,
            curl: true,
            ..base.clone()
        },
        Scenario {
            id: "5",
            title: "sequential POST uploads, one keep-alive connection",
            mode: Mode::Upload,
            ..base.clone()
        },
        Scenario {
            id: "6",
            title: "sequential GET, a new connection per request (force_close)",
            force_close: true,
            // wrk cannot close connections itself: it would have to send `Connection: close`
            // and let the server close them, which is not the same work.
            wrk_conns: None,
            ..base.clone()
        },
        Scenario {
            id: "7a",
            title: "HTTPS keep-alive: sequential GET, one TLS connection, HTTP/1.1 by ALPN",
            transport: Transport::Https1,
            ..base.clone()
        },
        Scenario {
            id: "7b",
            title: "HTTP/2 multiplexed over TLS: 64 tasks sharing one connection",
            tasks: 64,
            conns: 64,
            // wrk speaks HTTP/1.1 only.
            wrk_conns: None,
            transport: Transport::Https2,
            ..base.clone()
        },
        Scenario {
            id: "8a",
            title:
                "WebSocket echo: sequential round trips of a 64-byte binary message, one connection",
            mode: Mode::WsEcho,
            wrk_conns: None,
            transport: Transport::Ws,
            msg_bytes: 64,
            ..base.clone()
        },
        Scenario {
            id: "8b",
            title: "WebSocket bulk: 64 KiB binary messages, 16 in flight, one connection",
            mode: Mode::WsBulk,
            wrk_conns: None,
            transport: Transport::Ws,
            msg_bytes: 64 << 10,
            inflight: 16,
            ..base
        },
    ]
}

#[derive(Debug, Clone)]
struct Options {
    smoke: bool,
    reps: usize,
    duration: f64,
    warmup: f64,
    download_bytes: u64,
    upload_bytes: u64,
    /// Scenario ids, or their number alone (`7` for `7a` and `7b`).
    scenarios: Vec<String>,
    clients: Vec<Client>,
    python: Option<PathBuf>,
    out: PathBuf,
    pin: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let smoke = args.iter().any(|a| a == "--smoke");
        let mut o = Options {
            smoke,
            reps: if smoke { 1 } else { 5 },
            duration: if smoke { 0.2 } else { 2.0 },
            warmup: if smoke { 0.05 } else { 0.5 },
            download_bytes: if smoke { 16 << 20 } else { 1 << 30 },
            upload_bytes: 1 << 20,
            scenarios: ["1", "2", "3", "4", "5", "6", "7", "8"]
                .map(String::from)
                .to_vec(),
            clients: Client::ALL.to_vec(),
            python: None,
            out: repo().join("target/bench"),
            pin: true,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            match flag.as_str() {
                "--smoke" | "--full" => continue,
                "--no-pin" => {
                    o.pin = false;
                    continue;
                }
                _ => {}
            }
            let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let bad = |e: &dyn std::fmt::Display| format!("{flag} {v:?}: {e}");
            match flag.as_str() {
                "--reps" => o.reps = v.parse::<usize>().map_err(|e| bad(&e))?.max(1),
                "--duration" => o.duration = v.parse().map_err(|e| bad(&e))?,
                "--warmup" => o.warmup = v.parse().map_err(|e| bad(&e))?,
                "--download-bytes" => o.download_bytes = v.parse().map_err(|e| bad(&e))?,
                "--upload-bytes" => o.upload_bytes = v.parse().map_err(|e| bad(&e))?,
                "--scenarios" => {
                    o.scenarios = v
                        .split(',')
                        .map(|s| {
                            let s = s.trim();
                            if scenarios().iter().any(|sc| selects(s, sc.id)) {
                                Ok(s.to_string())
                            } else {
                                Err(bad(&"unknown scenario"))
                            }
                        })
                        .collect::<Result<_, _>>()?;
                }
                "--clients" => {
                    o.clients = v
                        .split(',')
                        .map(|s| Client::parse(s.trim()).ok_or_else(|| bad(&"unknown client")))
                        .collect::<Result<_, _>>()?;
                }
                "--python" => o.python = Some(PathBuf::from(v)),
                "--out" => o.out = PathBuf::from(v),
                other => return Err(format!("unknown flag {other:?}")),
            }
        }
        if !(o.duration > 0.0 && o.warmup >= 0.0) {
            return Err("--duration must be positive and --warmup not negative".into());
        }
        Ok(o)
    }
}

/// Whether `--scenarios` entry `sel` names scenario `id`: `7b` or its number `7`.
fn selects(sel: &str, id: &str) -> bool {
    sel == id
        || id
            .strip_prefix(sel)
            .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_lowercase()))
}

impl Options {
    fn wants(&self, id: &str) -> bool {
        self.scenarios.iter().any(|s| selects(s, id))
    }
}

/// What `bench-run measure` prints.
#[derive(Debug, Serialize, Deserialize)]
struct Measured {
    status: i32,
    stdout: String,
    stderr: String,
    wall_s: f64,
    user_s: f64,
    sys_s: f64,
    max_rss_kib: u64,
}

/// `bench-run measure -- CMD…`: runs CMD as this process's only child, then reports its output
/// and its `getrusage(RUSAGE_CHILDREN)`, which is CMD's own CPU time and peak RSS.
fn measure_main(cmd: &[String]) -> ! {
    let Some((prog, args)) = cmd.split_first() else {
        eprintln!("bench-run measure: no command");
        std::process::exit(2);
    };
    let started = Instant::now();
    let out = match Command::new(prog).args(args).stdin(Stdio::null()).output() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench-run measure: cannot run {prog}: {e}");
            std::process::exit(2);
        }
    };
    let wall_s = started.elapsed().as_secs_f64();
    let u = Usage::children();
    let m = Measured {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        wall_s,
        user_s: u.user_s,
        sys_s: u.sys_s,
        max_rss_kib: u.max_rss_kib,
    };
    println!("{}", serde_json::to_string(&m).expect("serializes"));
    std::process::exit(0);
}

/// The server process and its ports.
struct Server {
    child: Child,
    port: u16,
    tls_port: u16,
    ws_port: u16,
    control_port: u16,
}

#[derive(Debug, Default, Deserialize)]
struct ServerStats {
    max_conns: u64,
    requests: u64,
}

impl Server {
    /// Starts the server; it writes its certificate's PEM to `cert`.
    fn start(bin: &Path, pin: bool, cert: &Path) -> Result<Server, String> {
        let mut cmd = pinned(pin, "0");
        cmd.arg(bin)
            .arg("--cert")
            .arg(cert)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let stdout = child.stdout.take().ok_or("no server stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("reading the server's ports: {e}"))?;
        let v: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| format!("server said {line:?}: {e}"))?;
        let port = |k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_u64)
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| format!("server said {line:?}"))
        };
        Ok(Server {
            port: port("port")?,
            tls_port: port("tls_port")?,
            ws_port: port("ws_port")?,
            control_port: port("control_port")?,
            child,
        })
    }

    fn control(&self, path: &str) -> Result<String, String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.control_port))
            .map_err(|e| format!("control port: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .map_err(|e| format!("control port: {e}"))?;
        let mut resp = String::new();
        s.read_to_string(&mut resp)
            .map_err(|e| format!("control port: {e}"))?;
        resp.split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .ok_or_else(|| format!("control port answered {resp:?}"))
    }

    fn reset(&self) -> Result<(), String> {
        self.control("/reset").map(drop)
    }

    fn stats(&self) -> Result<ServerStats, String> {
        let body = self.control("/stats")?;
        serde_json::from_str(&body).map_err(|e| format!("stats {body:?}: {e}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Closing its stdin makes the server exit.
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pinned(pin: bool, core: &str) -> Command {
    if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", core]);
        c
    } else {
        // `env` runs the program as-is, so both branches take the program as the first arg.
        Command::new("env")
    }
}

/// Runs a command to completion (killed after `timeout`); returns (exit code, stdout, stderr).
fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Result<(i32, String, String), String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
    let drain = |r: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let mut buf = Vec::new();
                let _ = r.read_to_end(&mut buf);
                s = String::from_utf8_lossy(&buf).into_owned();
            }
            s
        })
    };
    let out = drain(child.stdout.take().map(|s| Box::new(s) as _));
    let err = drain(child.stderr.take().map(|s| Box::new(s) as _));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {timeout:?}"));
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Ok((status.code().unwrap_or(-1), stdout, stderr))
}

/// One client process's result.
#[derive(Debug, Clone, Serialize)]
struct Run {
    scenario: &'static str,
    rep: usize,
    client: &'static str,
    report: Report,
    /// The most connections the server had open at once during the run.
    max_conns: u64,
    server_requests: u64,
    /// Why the run counts as failed (exit status, errors, unparsable output).
    failure: Option<String>,
}

struct Env {
    bin_dir: PathBuf,
    self_exe: PathBuf,
    python: Option<PathBuf>,
    py_client: PathBuf,
    /// The Python aiohttp WebSocket client.
    py_ws_client: PathBuf,
    /// Whether that Python has uvloop.
    has_uvloop: bool,
    has_wrk: bool,
    has_curl: bool,
    pin: bool,
    /// The server's certificate (PEM), trusted by the clients over HTTPS.
    cert: PathBuf,
}

fn which(prog: &str) -> bool {
    Command::new(prog)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn client_args(sc: &Scenario, o: &Options, base: &str, cert: &Path) -> Vec<String> {
    let mut a = vec![
        "--url".to_string(),
        base.to_string(),
        "--scenario".into(),
        sc.id.to_string(),
        "--mode".into(),
        sc.mode.as_str().into(),
        "--tasks".into(),
        sc.tasks.to_string(),
        "--conns".into(),
        sc.conns.to_string(),
        "--warmup".into(),
        o.warmup.to_string(),
        "--duration".into(),
        o.duration.to_string(),
        "--bytes".into(),
        match sc.mode {
            Mode::Download => o.download_bytes.to_string(),
            Mode::Upload => o.upload_bytes.to_string(),
            Mode::Get => "0".into(),
            Mode::WsEcho | Mode::WsBulk => sc.msg_bytes.to_string(),
        },
    ];
    if sc.mode == Mode::WsBulk {
        a.push("--inflight".into());
        a.push(sc.inflight.to_string());
    }
    if sc.force_close {
        a.push("--force-close".into());
    }
    if matches!(sc.transport, Transport::Https1 | Transport::Https2) {
        a.push("--ca".into());
        a.push(cert.to_string_lossy().into_owned());
    }
    if sc.transport == Transport::Https2 {
        a.push("--http2".into());
    }
    a
}

/// Parses a wrk duration or latency (`12.5us`, `3.1ms`, `2.00s`, `1.00m`) into µs.
fn wrk_time_us(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        _ => return None,
    };
    Some(n * scale)
}

fn parse_wrk(out: &str, m: &Measured, scenario: &str) -> Result<Report, String> {
    let mut requests = None;
    let mut wall_us = None;
    let mut p50 = None;
    let mut p99 = None;
    let mut errors = 0u64;
    let mut first_error = None;
    for line in out.lines() {
        let t = line.trim();
        if let Some((n, rest)) = t.split_once(" requests in ") {
            requests = n.trim().parse::<u64>().ok();
            wall_us = rest.split(',').next().and_then(wrk_time_us);
        } else if let Some(v) = t.strip_prefix("50%") {
            p50 = wrk_time_us(v);
        } else if let Some(v) = t.strip_prefix("99%") {
            p99 = wrk_time_us(v);
        } else if let Some(v) = t.strip_prefix("Socket errors:") {
            let n: u64 = v
                .split(',')
                .filter_map(|kv| kv.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum();
            if n > 0 {
                errors += n;
                first_error.get_or_insert_with(|| t.to_string());
            }
        } else if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            errors += v.trim().parse::<u64>().unwrap_or(1);
            first_error.get_or_insert_with(|| t.to_string());
        }
    }
    let (Some(requests), Some(wall_us)) = (requests, wall_us) else {
        return Err(format!("unexpected wrk output: {out:?}"));
    };
    Ok(Report {
        client: "wrk".into(),
        scenario: scenario.to_string(),
        requests,
        errors,
        first_error,
        bytes: 0,
        wall_s: wall_us / 1e6,
        cpu_user_s: m.user_s,
        cpu_sys_s: m.sys_s,
        max_rss_kib: m.max_rss_kib,
        p50_us: p50,
        p99_us: p99,
        allocs: None,
        reallocs: None,
        alloc_bytes: None,
    })
}

fn parse_curl(out: &str, m: &Measured, scenario: &str, want: u64) -> Result<Report, String> {
    let f: Vec<&str> = out.split_whitespace().collect();
    let (Some(code), Some(size), Some(total)) = (f.first(), f.get(1), f.get(2)) else {
        return Err(format!("unexpected curl output: {out:?}"));
    };
    let size: f64 = size.parse().map_err(|_| format!("curl size {size:?}"))?;
    let total: f64 = total.parse().map_err(|_| format!("curl time {total:?}"))?;
    let size = size as u64;
    let ok = *code == "200" && size == want;
    Ok(Report {
        client: "curl".into(),
        scenario: scenario.to_string(),
        requests: u64::from(ok),
        errors: u64::from(!ok),
        first_error: (!ok).then(|| format!("status {code}, {size} of {want} bytes")),
        bytes: size,
        wall_s: total,
        cpu_user_s: m.user_s,
        cpu_sys_s: m.sys_s,
        max_rss_kib: m.max_rss_kib,
        p50_us: Some(total * 1e6),
        p99_us: Some(total * 1e6),
        allocs: None,
        reallocs: None,
        alloc_bytes: None,
    })
}

/// Runs one client for one scenario; `None` when the client has no part in it.
fn run_one(
    env: &Env,
    o: &Options,
    sc: &Scenario,
    client: Client,
    server: &Server,
    rep: usize,
) -> Option<Run> {
    let base = match sc.transport {
        Transport::Plain => format!("http://127.0.0.1:{}", server.port),
        Transport::Https1 | Transport::Https2 => format!("https://127.0.0.1:{}", server.tls_port),
        Transport::Ws => format!("ws://127.0.0.1:{}", server.ws_port),
    };
    let ws = sc.transport == Transport::Ws;
    let timeout = Duration::from_secs_f64(o.warmup + o.duration + 120.0);
    let mut cmd = pinned(env.pin, "1");
    let via_measure = |cmd: &mut Command| {
        cmd.arg(&env.self_exe).args(["measure", "--"]);
    };
    match client {
        Client::AiohttpRs | Client::Reqwest | Client::Hyper => {
            let bin = match client {
                Client::AiohttpRs => "client-aiohttp",
                // The HTTP clients have no part in the WebSocket scenarios.
                _ if ws => return None,
                Client::Reqwest => "client-reqwest",
                _ => "client-hyper",
            };
            cmd.arg(env.bin_dir.join(bin))
                .args(client_args(sc, o, &base, &env.cert));
        }
        Client::AiohttpRsDeflate | Client::Tungstenite | Client::Fastwebsockets | Client::Yawc => {
            if !ws {
                return None;
            }
            let bin = match client {
                Client::AiohttpRsDeflate => "client-aiohttp",
                Client::Tungstenite => "client-tungstenite",
                Client::Fastwebsockets => "client-fastwebsockets",
                _ => "client-yawc",
            };
            cmd.arg(env.bin_dir.join(bin))
                .args(client_args(sc, o, &base, &env.cert));
            if client == Client::AiohttpRsDeflate {
                cmd.args(["--compress", "15"]);
            }
        }
        Client::AiohttpPy | Client::AiohttpPyUvloop => {
            // Python aiohttp has no HTTP/2; uvloop runs the WebSocket scenarios only.
            if sc.transport == Transport::Https2 || (client == Client::AiohttpPyUvloop && !ws) {
                return None;
            }
            let py = env.python.as_ref()?;
            if client == Client::AiohttpPyUvloop && !env.has_uvloop {
                return None;
            }
            cmd.arg(py)
                .arg(if ws {
                    &env.py_ws_client
                } else {
                    &env.py_client
                })
                .args(client_args(sc, o, &base, &env.cert));
            if client == Client::AiohttpPyUvloop {
                cmd.args(["--loop", "uvloop"]);
            }
        }
        Client::Wrk => {
            let conns = sc.wrk_conns?;
            if !env.has_wrk {
                return None;
            }
            via_measure(&mut cmd);
            let secs = o.duration.round().max(1.0);
            cmd.args(["wrk", "-t1", "--latency", "--timeout", "10s"])
                .arg(format!("-c{conns}"))
                .arg(format!("-d{secs}s"));
            let path = match sc.mode {
                Mode::Upload => {
                    let script = o.out.join("wrk-upload.lua");
                    let lua = format!(
                        "wrk.method = \"POST\"\nwrk.body = string.rep(\"x\", {})\n\
                         wrk.headers[\"Content-Type\"] = \"application/octet-stream\"\n",
                        o.upload_bytes
                    );
                    if let Err(e) = std::fs::write(&script, lua) {
                        eprintln!("bench-run: cannot write {}: {e}", script.display());
                        return None;
                    }
                    cmd.arg("-s").arg(script);
                    "/upload"
                }
                _ => "/hello",
            };
            cmd.arg(format!("{base}{path}"));
        }
        Client::Curl => {
            if !sc.curl || !env.has_curl {
                return None;
            }
            via_measure(&mut cmd);
            cmd.args(["curl", "-sS", "-o", "/dev/null", "-w"])
                .arg("%{http_code} %{size_download} %{time_total}\n")
                .arg(format!("{base}/big?bytes={}", o.download_bytes));
        }
    }
    if let Err(e) = server.reset() {
        eprintln!("bench-run: {e}");
    }
    let result = run_with_timeout(cmd, timeout);
    let stats = server.stats().unwrap_or_else(|e| {
        eprintln!("bench-run: {e}");
        ServerStats::default()
    });
    let empty = |client: Client| Report {
        client: client.name().into(),
        scenario: sc.id.to_string(),
        requests: 0,
        errors: 0,
        first_error: None,
        bytes: 0,
        wall_s: 0.0,
        cpu_user_s: 0.0,
        cpu_sys_s: 0.0,
        max_rss_kib: 0,
        p50_us: None,
        p99_us: None,
        allocs: None,
        reallocs: None,
        alloc_bytes: None,
    };
    let (report, failure) = match result {
        Err(e) => (empty(client), Some(e)),
        Ok((code, stdout, stderr)) => {
            let parsed = match client {
                Client::Wrk | Client::Curl => serde_json::from_str::<Measured>(stdout.trim())
                    .map_err(|e| format!("measure output {stdout:?}: {e}; stderr: {stderr}"))
                    .and_then(|m| {
                        if m.status != 0 {
                            return Err(format!(
                                "{} exited with {}: {}",
                                client.name(),
                                m.status,
                                m.stderr.trim()
                            ));
                        }
                        if client == Client::Wrk {
                            parse_wrk(&m.stdout, &m, sc.id)
                        } else {
                            parse_curl(&m.stdout, &m, sc.id, o.download_bytes)
                        }
                    }),
                _ => stdout
                    .lines()
                    .rev()
                    .find(|l| l.starts_with('{'))
                    .ok_or_else(|| format!("no report (exit {code}); stderr: {}", stderr.trim()))
                    .and_then(|l| {
                        serde_json::from_str::<Report>(l).map_err(|e| format!("report {l:?}: {e}"))
                    }),
            };
            match parsed {
                Err(e) => (empty(client), Some(e)),
                Ok(r) => {
                    let failure = if r.errors > 0 {
                        Some(format!(
                            "{} failed request(s), first: {}",
                            r.errors,
                            r.first_error.as_deref().unwrap_or("?")
                        ))
                    } else if code != 0 {
                        Some(format!("exit status {code}: {}", stderr.trim()))
                    } else if r.requests == 0 {
                        Some("no request completed".into())
                    } else {
                        None
                    };
                    (r, failure)
                }
            }
        }
    };
    Some(Run {
        scenario: sc.id,
        rep,
        client: client.name(),
        report,
        max_conns: stats.max_conns,
        server_requests: stats.requests,
        failure,
    })
}

// --- Statistics and rendering ---------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

fn spread(mut v: Vec<f64>) -> Option<Spread> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Spread {
        median,
        min: v[0],
        max: v[n - 1],
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Metric {
    Throughput,
    Cpu,
    P50,
    P99,
    Rss,
}

const METRICS: [Metric; 5] = [
    Metric::Throughput,
    Metric::Cpu,
    Metric::P50,
    Metric::P99,
    Metric::Rss,
];

/// Whether a mode is measured in bytes per second (and CPU per MiB) rather than per request.
fn in_bytes(mode: Mode) -> bool {
    matches!(mode, Mode::Download | Mode::WsBulk)
}

/// The throughput and CPU column heads of a mode.
fn units(mode: Mode) -> (&'static str, &'static str) {
    match mode {
        Mode::Download | Mode::WsBulk => ("MB/s", "CPU µs/MiB"),
        Mode::WsEcho => ("round trips/s", "CPU µs/round trip"),
        Mode::Get | Mode::Upload => ("req/s", "CPU µs/req"),
    }
}

/// The peers each figure of a scenario is divided by, with their tags.
fn peers(sc: &Scenario) -> &'static [(&'static str, &'static str)] {
    if sc.transport == Transport::Ws {
        &[("A", "aiohttp-rs")]
    } else {
        &[("R", "reqwest"), ("H", "hyper")]
    }
}

fn metric(r: &Report, mode: Mode, m: Metric) -> Option<f64> {
    let cpu_us = (r.cpu_user_s + r.cpu_sys_s) * 1e6;
    match m {
        Metric::Throughput if r.wall_s > 0.0 => Some(if in_bytes(mode) {
            r.bytes as f64 / r.wall_s / 1e6
        } else {
            r.requests as f64 / r.wall_s
        }),
        Metric::Throughput => None,
        Metric::Cpu => match mode {
            _ if in_bytes(mode) && r.bytes > 0 => {
                Some(cpu_us / (r.bytes as f64 / f64::from(1 << 20)))
            }
            _ if !in_bytes(mode) && r.requests > 0 => Some(cpu_us / r.requests as f64),
            _ => None,
        },
        Metric::P50 if !in_bytes(mode) => r.p50_us,
        Metric::P99 if !in_bytes(mode) => r.p99_us,
        Metric::P50 | Metric::P99 => None,
        Metric::Rss => Some(r.max_rss_kib as f64 / 1024.0),
    }
}

fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

type Summary = BTreeMap<(&'static str, &'static str), BTreeMap<Metric, Spread>>;

fn summarize(runs: &[Run], scs: &[Scenario]) -> Summary {
    let mut out = Summary::new();
    for sc in scs {
        for c in Client::ALL {
            let rs: Vec<&Run> = runs
                .iter()
                .filter(|r| r.scenario == sc.id && r.client == c.name() && r.failure.is_none())
                .collect();
            if rs.is_empty() {
                continue;
            }
            let mut m = BTreeMap::new();
            for k in METRICS {
                let vals = rs
                    .iter()
                    .filter_map(|r| metric(&r.report, sc.mode, k))
                    .collect();
                if let Some(s) = spread(vals) {
                    m.insert(k, s);
                }
            }
            out.insert((sc.id, c.name()), m);
        }
    }
    out
}

fn ratio(sum: &Summary, sc: &'static str, a: &str, b: &str, k: Metric) -> Option<f64> {
    let x = sum.get(&(sc, a))?.get(&k)?.median;
    let y = sum.get(&(sc, b))?.get(&k)?.median;
    (y > 0.0).then(|| x / y)
}

fn render_table(sum: &Summary, runs: &[Run], sc: &Scenario, o: &Options) -> String {
    let mut s = String::new();
    let (thr, cpu) = units(sc.mode);
    let size = match sc.mode {
        Mode::Download => format!(" ({} MiB)", o.download_bytes >> 20),
        Mode::Upload => format!(" ({} KiB bodies)", o.upload_bytes >> 10),
        Mode::Get | Mode::WsEcho | Mode::WsBulk => String::new(),
    };
    let _ = writeln!(s, "### {}. {}{size}\n", sc.id, sc.title);
    let _ = writeln!(
        s,
        "| client | {thr} | {cpu} | p50 µs | p99 µs | peak RSS MiB | max conns | errors |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for c in Client::ALL {
        let rs: Vec<&Run> = runs
            .iter()
            .filter(|r| r.scenario == sc.id && r.client == c.name())
            .collect();
        if rs.is_empty() {
            continue;
        }
        let failed = rs.iter().filter(|r| r.failure.is_some()).count();
        let errors: u64 = rs.iter().map(|r| r.report.errors).sum();
        let max_conns = rs.iter().map(|r| r.max_conns).max().unwrap_or(0);
        let m = sum.get(&(sc.id, c.name()));
        let mut row = format!("| {} ", c.name());
        for k in METRICS {
            let cell = match m.and_then(|m| m.get(&k)) {
                None => "—".to_string(),
                Some(sp) => {
                    let mut cell = if o.reps > 1 {
                        format!("{} ({}–{})", num(sp.median), num(sp.min), num(sp.max))
                    } else {
                        num(sp.median)
                    };
                    for &(tag, peer) in peers(sc) {
                        if let Some(x) = ratio(sum, sc.id, c.name(), peer, k) {
                            let _ = write!(cell, " {tag}{x:.2}");
                        }
                    }
                    cell
                }
            };
            let _ = write!(row, "| {cell} ");
        }
        let limit_note = if sc.id == "3" && max_conns > sc.conns as u64 && c != Client::Wrk {
            " **over limit**"
        } else {
            ""
        };
        let fail_note = if failed > 0 {
            format!(" ({failed} of {} runs failed)", rs.len())
        } else {
            String::new()
        };
        let _ = writeln!(s, "{row}| {max_conns}{limit_note} | {errors}{fail_note} |");
    }
    s
}

struct Goal {
    text: String,
    measured: String,
    met: Option<bool>,
}

fn goals(sum: &Summary, runs: &[Run], o: &Options) -> Vec<Goal> {
    let mut g = Vec::new();
    let us = Client::AiohttpRs.name();
    let cmp = |sc: &'static str, peer: &str, k: Metric, want: f64, at_least: bool, what: &str| {
        if !o.wants(sc) {
            return None;
        }
        let r = ratio(sum, sc, us, peer, k);
        Some(Goal {
            text: format!(
                "{sc}: {what} {} {want}× {peer}",
                if at_least { "≥" } else { "≤" }
            ),
            measured: r.map_or("—".into(), |x| format!("{x:.2}×")),
            met: r.map(|x| if at_least { x >= want } else { x <= want }),
        })
    };
    for sc in ["1", "2"] {
        g.extend(cmp(sc, "reqwest", Metric::Throughput, 1.25, true, "req/s"));
        g.extend(cmp(sc, "hyper", Metric::Throughput, 0.95, true, "req/s"));
        g.extend(cmp(sc, "reqwest", Metric::Cpu, 0.8, false, "CPU/req"));
        g.extend(cmp(
            sc,
            "aiohttp-py",
            Metric::Throughput,
            10.0,
            true,
            "req/s",
        ));
        // "≥ 10× aiohttp's" read as efficiency as well as throughput.
        g.extend(cmp(sc, "aiohttp-py", Metric::Cpu, 0.1, false, "CPU/req"));
    }
    if o.wants("3") {
        let ours: Vec<&Run> = runs
            .iter()
            .filter(|r| r.scenario == "3" && r.client == us)
            .collect();
        if !ours.is_empty() {
            let errors: u64 = ours.iter().map(|r| r.report.errors).sum();
            let failed = ours.iter().filter(|r| r.failure.is_some()).count();
            g.push(Goal {
                text: "3: zero errors".into(),
                measured: format!("{errors} errors, {failed} failed runs"),
                met: Some(errors == 0 && failed == 0),
            });
            let max = ours.iter().map(|r| r.max_conns).max().unwrap_or(0);
            g.push(Goal {
                text: "3: never above the limit (100)".into(),
                measured: format!("max {max} connections open at the server"),
                met: Some(max <= 100),
            });
        }
        if o.wants("2") {
            let a = sum.get(&("3", us)).and_then(|m| m.get(&Metric::Throughput));
            let b = sum.get(&("2", us)).and_then(|m| m.get(&Metric::Throughput));
            let r = a.zip(b).map(|(a, b)| a.median / b.median);
            g.push(Goal {
                text: "3: req/s within 10% of scenario 2".into(),
                measured: r.map_or("—".into(), |x| format!("{x:.2}× scenario 2")),
                met: r.map(|x| x >= 0.9),
            });
        }
    }
    g.extend(cmp("4", "curl", Metric::Throughput, 1.0, true, "MB/s"));
    if o.wants("4") {
        let rss = sum.get(&("4", us)).and_then(|m| m.get(&Metric::Rss));
        g.push(Goal {
            text: "4: peak RSS ≤ 16 MiB".into(),
            measured: rss.map_or("—".into(), |s| format!("{} MiB", num(s.max))),
            met: rss.map(|s| s.max <= 16.0),
        });
    }
    // Scenario 8: the issue's bars (measured on its host with the echo server on its own core:
    // fastwebsockets 38.4k round trips/s, yawc 1.92 GB/s), and those two peers in this run.
    let absolute = |sc: &'static str, want: f64, what: &str| {
        if !o.wants(sc) {
            return None;
        }
        let got = sum.get(&(sc, us)).and_then(|m| m.get(&Metric::Throughput));
        Some(Goal {
            text: format!("{sc}: {what} ≥ {}", num(want)),
            measured: got.map_or("—".into(), |s| num(s.median)),
            met: got.map(|s| s.median >= want),
        })
    };
    g.extend(absolute("8a", 38_000.0, "round trips/s"));
    g.extend(cmp(
        "8a",
        "fastwebsockets",
        Metric::Throughput,
        1.0,
        true,
        "round trips/s",
    ));
    g.extend(absolute("8b", 1_900.0, "MB/s"));
    g.extend(cmp("8b", "yawc", Metric::Throughput, 1.0, true, "MB/s"));
    g
}

fn sh(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn locked_version(krate: &str) -> String {
    let lock = std::fs::read_to_string(repo().join("Cargo.lock")).unwrap_or_default();
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l == format!("name = \"{krate}\"") {
            if let Some(v) = lines.next().and_then(|v| v.strip_prefix("version = ")) {
                return v.trim_matches('"').to_string();
            }
        }
    }
    "?".into()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("measure") {
        let cmd = match args.get(1).map(String::as_str) {
            Some("--") => &args[2..],
            _ => &args[1..],
        };
        measure_main(cmd);
    }
    if args.first().map(String::as_str) == Some("profile") {
        std::process::exit(profile::main(&args[1..]));
    }
    let o = match Options::parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench-run: {e}");
            std::process::exit(2);
        }
    };
    std::process::exit(match run(&o) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("bench-run: {e}");
            2
        }
    });
}

/// This binary and the directory of the bench binaries beside it, all of which must be built
/// (`script` is the script that builds them).
fn bench_binaries(script: &str) -> Result<(PathBuf, PathBuf), String> {
    let self_exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin_dir = self_exe
        .parent()
        .ok_or("no directory for the driver binary")?
        .to_path_buf();
    for b in [
        "bench-server",
        "client-aiohttp",
        "client-reqwest",
        "client-hyper",
        "client-tungstenite",
        "client-fastwebsockets",
        "client-yawc",
    ] {
        if !bin_dir.join(b).exists() {
            return Err(format!(
                "{} missing: build with `cargo build --release -p bench --bins` (or run {script})",
                bin_dir.join(b).display()
            ));
        }
    }
    Ok((self_exe, bin_dir))
}

/// Whether processes are pinned to cores: when asked and possible (taskset, 2 cores); says so
/// on stderr (as `who`) when asked but not possible.
fn pinning(wanted: bool, who: &str) -> bool {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let pin = wanted && cores >= 2 && which("taskset");
    if wanted && !pin {
        eprintln!("{who}: notice: not pinning (needs taskset and 2 cores; {cores} available)");
    }
    pin
}

/// Runs everything; `Ok(false)` when some client failed.
fn run(o: &Options) -> Result<bool, String> {
    let (self_exe, bin_dir) = bench_binaries("scripts/bench.sh")?;
    std::fs::create_dir_all(&o.out).map_err(|e| format!("{}: {e}", o.out.display()))?;
    let pin = pinning(o.pin, "bench-run");
    let py_client = repo().join("crates/bench/python/aiohttp_client.py");
    let python = o
        .python
        .clone()
        .or_else(|| Some(repo().join(".venv-bench/bin/python")))
        .filter(|p| {
            Command::new(p)
                .args(["-c", "import aiohttp"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
    let wanted = |c: Client| o.clients.contains(&c);
    if wanted(Client::AiohttpPy) && python.is_none() {
        eprintln!(
            "bench-run: notice: no Python with aiohttp (pass --python or run scripts/bench.sh); skipping aiohttp-py"
        );
    }
    let has_uvloop = python.as_ref().is_some_and(|p| {
        Command::new(p)
            .args(["-c", "import uvloop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if wanted(Client::AiohttpPyUvloop) && python.is_some() && !has_uvloop && o.wants("8") {
        eprintln!(
            "bench-run: notice: no uvloop for that Python (run scripts/bench.sh); skipping aiohttp-py-uvloop"
        );
    }
    let env = Env {
        bin_dir: bin_dir.clone(),
        self_exe,
        python: python.clone(),
        py_client,
        py_ws_client: repo().join("crates/bench/python/aiohttp_ws_client.py"),
        has_uvloop,
        has_wrk: wanted(Client::Wrk) && which("wrk"),
        has_curl: wanted(Client::Curl) && which("curl"),
        pin,
        cert: o.out.join("server-cert.pem"),
    };
    if wanted(Client::Wrk) && !env.has_wrk {
        eprintln!("bench-run: notice: wrk not installed (apt-get install wrk); skipping wrk");
    }
    if wanted(Client::Curl) && !env.has_curl {
        eprintln!("bench-run: notice: curl not installed; skipping curl");
    }
    let py_version = python
        .as_ref()
        .map(|p| {
            let s = |code: &str| sh(&p.to_string_lossy(), &["-c", code]);
            format!(
                "Python {} aiohttp {}{}",
                s("import platform; print(platform.python_version())"),
                s("import aiohttp; print(aiohttp.__version__)"),
                if has_uvloop {
                    format!(" uvloop {}", s("import uvloop; print(uvloop.__version__)"))
                } else {
                    String::new()
                }
            )
        })
        .unwrap_or_else(|| "—".into());

    let load_before = loadavg();
    let started = Instant::now();
    let server = Server::start(&bin_dir.join("bench-server"), pin, &env.cert)?;
    let all = scenarios();
    let scs: Vec<Scenario> = all.into_iter().filter(|s| o.wants(s.id)).collect();
    let mut runs: Vec<Run> = Vec::new();
    let mut jsonl = String::new();
    for sc in &scs {
        for rep in 0..o.reps {
            for &c in &o.clients {
                let Some(run) = run_one(&env, o, sc, c, &server, rep) else {
                    continue;
                };
                let tput = metric(&run.report, sc.mode, Metric::Throughput).unwrap_or(0.0);
                eprintln!(
                    "bench-run: scenario {} rep {}/{} {:<10} {:>10} {}{}",
                    sc.id,
                    rep + 1,
                    o.reps,
                    c.name(),
                    num(tput),
                    units(sc.mode).0,
                    run.failure
                        .as_ref()
                        .map(|f| format!("  FAILED: {f}"))
                        .unwrap_or_default()
                );
                let _ = writeln!(jsonl, "{}", serde_json::to_string(&run).unwrap_or_default());
                runs.push(run);
            }
        }
    }
    drop(server);
    let elapsed = started.elapsed();
    let load_after = loadavg();

    let sum = summarize(&runs, &scs);
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## Results ({} run, {})\n",
        if o.smoke { "smoke" } else { "full" },
        sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
    );
    let _ = writeln!(
        md,
        "- machine: {} cores, {}, Linux {}\n\
         - load average (1/5/15 min) before: {load_before}; after: {load_after}\n\
         - {} repetitions, clients interleaved; {:.1} s measured per run after {:.1} s warm-up; \
           whole run {:.0} s\n\
         - server pinned to core 0, each client process to core 1: {}\n\
         - reqwest {}, hyper {}, tokio {}; tokio-tungstenite {}, fastwebsockets {}, yawc {}; \
           {py_version}; {}; {}",
        std::thread::available_parallelism().map_or(1, usize::from),
        cpu_model(),
        sh("uname", &["-r"]),
        o.reps,
        o.duration,
        o.warmup,
        elapsed.as_secs_f64(),
        if pin { "yes" } else { "no" },
        locked_version("reqwest"),
        locked_version("hyper"),
        locked_version("tokio"),
        locked_version("tokio-tungstenite"),
        locked_version("fastwebsockets"),
        locked_version("yawc"),
        sh(
            "sh",
            &["-c", "wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2"]
        ),
        sh("sh", &["-c", "curl --version | head -n1 | cut -d' ' -f1-2"]),
    );
    let _ = writeln!(
        md,
        "\nEach cell: median (min–max) over the repetitions, then the median's ratio to \
         reqwest (R) and to raw hyper (H); in the WebSocket scenarios (8a, 8b), to aiohttp-rs \
         (A). Lower is better for CPU, latency and RSS. MB = 10^6 bytes (8b counts the bytes \
         echoed, one way). CPU is user+sys of the client process over the measured phase; peak \
         RSS is the client process's `ru_maxrss`; max conns is the most connections the server \
         saw open at once.\n"
    );
    for sc in &scs {
        md.push_str(&render_table(&sum, &runs, sc, o));
        md.push('\n');
    }
    let gs = goals(&sum, &runs, o);
    if !gs.is_empty() {
        md.push_str("### Goals (aiohttp-rs)\n\n| goal | measured | met |\n|---|---|---|\n");
        for g in &gs {
            let met = match g.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "—",
            };
            let _ = writeln!(md, "| {} | {} | {met} |", g.text, g.measured);
        }
    }
    print!("{md}");
    let _ = std::io::stdout().flush();
    let _ = std::fs::write(o.out.join("results.md"), &md);
    let _ = std::fs::write(o.out.join("runs.jsonl"), &jsonl);
    eprintln!(
        "bench-run: wrote {} and {}",
        o.out.join("results.md").display(),
        o.out.join("runs.jsonl").display()
    );

    let failures: Vec<&Run> = runs.iter().filter(|r| r.failure.is_some()).collect();
    for f in &failures {
        eprintln!(
            "bench-run: FAILED scenario {} rep {} {}: {}",
            f.scenario,
            f.rep + 1,
            f.client,
            f.failure.as_deref().unwrap_or("")
        );
    }
    for r in runs
        .iter()
        .filter(|r| r.scenario == "3" && r.client != "wrk" && r.max_conns > 100)
    {
        eprintln!(
            "bench-run: warning: scenario 3 {} rep {}: {} connections open at once (limit 100)",
            r.client,
            r.rep + 1,
            r.max_conns
        );
    }
    if runs.is_empty() {
        return Err("no client ran".into());
    }
    Ok(failures.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_output_is_parsed() {
        let out = "Running 1s test @ http://127.0.0.1:1/hello
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    28.36us   10.00us   1.00ms   90.00%
  Latency Distribution
     50%   26.00us
     75%   30.00us
     90%   40.00us
     99%    1.20ms
  38383 requests in 2.00s, 3.37MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
Requests/sec:  19187.13
Transfer/sec:      1.69MB
";
        let m = Measured {
            status: 0,
            stdout: out.into(),
            stderr: String::new(),
            wall_s: 2.0,
            user_s: 1.0,
            sys_s: 0.5,
            max_rss_kib: 4096,
        };
        let r = parse_wrk(out, &m, "1").expect("parsed");
        assert_eq!(r.requests, 38383);
        assert!((r.wall_s - 2.0).abs() < 1e-9);
        assert_eq!(r.p50_us, Some(26.0));
        assert_eq!(r.p99_us, Some(1200.0));
        assert_eq!(r.errors, 3);
        assert!(parse_wrk("garbage", &m, "1").is_err());
    }

    #[test]
    fn curl_output_is_parsed() {
        let m = Measured {
            status: 0,
            stdout: String::new(),
            stderr: String::new(),
            wall_s: 1.0,
            user_s: 0.1,
            sys_s: 0.2,
            max_rss_kib: 1,
        };
        let r = parse_curl("200 1000 0.5\n", &m, "4", 1000).expect("parsed");
        assert_eq!((r.requests, r.errors, r.bytes), (1, 0, 1000));
        let r = parse_curl("200 999 0.5\n", &m, "4", 1000).expect("parsed");
        assert_eq!(r.errors, 1);
    }

    #[test]
    fn spread_and_options() {
        let s = spread(vec![3.0, 1.0, 2.0, 10.0]).expect("values");
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 10.0));
        assert!(spread(vec![]).is_none());
        let args: Vec<String> = "--smoke --scenarios 1,4 --clients hyper,curl"
            .split(' ')
            .map(String::from)
            .collect();
        let o = Options::parse(&args).expect("valid");
        assert!(o.smoke);
        assert_eq!(o.scenarios, ["1", "4"]);
        assert!(o.wants("1") && !o.wants("7a"));
        assert_eq!(o.clients, [Client::Hyper, Client::Curl]);
        let o = Options::parse(&["--scenarios".into(), "7".into()]).expect("valid");
        assert!(o.wants("7a") && o.wants("7b") && !o.wants("1"));
        let o = Options::parse(&["--scenarios".into(), "7b".into()]).expect("valid");
        assert!(!o.wants("7a") && o.wants("7b"));
        let o = Options::parse(&["--scenarios".into(), "8".into()]).expect("valid");
        assert!(o.wants("8a") && o.wants("8b") && !o.wants("7a"));
        assert!(Options::parse(&["--scenarios".into(), "9".into()]).is_err());
        let o =
            Options::parse(&["--clients".into(), "aiohttp-py-uvloop,yawc".into()]).expect("valid");
        assert_eq!(o.clients, [Client::AiohttpPyUvloop, Client::Yawc]);
        assert!(Options::parse(&["--clients".into(), "nope".into()]).is_err());
    }
}
