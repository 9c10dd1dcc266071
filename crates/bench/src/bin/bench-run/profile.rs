//! `bench-run profile`: where the time goes, in figures that depend far less on the machine's
//! load than times do: user-space instructions and heap allocations per request of the Rust
//! clients.
//!
//! Every client of every chosen scenario runs twice under `valgrind --tool=callgrind`, pinned
//! to core 1 against `bench-server` on core 0, once for `--short` and once for `--long`
//! seconds (after the same warm-up). Per request:
//!
//! - instructions = (Ir of the long run − Ir of the short run) / (requests of the long run −
//!   requests of the short run): start-up, TLS set-up, warm-up and shutdown are the same in
//!   both runs and cancel out;
//! - allocations = the same difference of the allocations each client counts in its measured
//!   phase (its counting `#[global_allocator]`), which also cancels the phase's own set-up
//!   (spawning the workers).
//!
//! Prints markdown tables (with aiohttp-rs ÷ raw hyper and ÷ reqwest) and writes them to
//! `DIR/profile.md`, each run's figures to `DIR/profile.jsonl` and the callgrind output of the
//! long runs to `DIR/profile/callgrind.<scenario>.<client>.out` (for `callgrind_annotate`).
//! The exit status is non-zero when a run failed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bench::Report;
use serde::Serialize;

use super::{
    client_args, loadavg, pinned, repo, run_with_timeout, scenarios, selects, sh, Client, Options,
    Scenario, Server, Transport,
};

/// The clients that can be profiled: the Rust ones, which count their allocations.
const CLIENTS: [Client; 3] = [Client::AiohttpRs, Client::Hyper, Client::Reqwest];

#[derive(Debug, Clone)]
struct ProfileOptions {
    scenarios: Vec<String>,
    clients: Vec<Client>,
    short: f64,
    long: f64,
    warmup: f64,
    out: PathBuf,
    pin: bool,
}

impl ProfileOptions {
    fn parse(args: &[String]) -> Result<ProfileOptions, String> {
        let quick = args.iter().any(|a| a == "--quick");
        let mut o = ProfileOptions {
            scenarios: ["1", "2", "3", "7a", "7b"].map(String::from).to_vec(),
            clients: CLIENTS.to_vec(),
            short: if quick { 1.0 } else { 2.0 },
            long: if quick { 3.0 } else { 6.0 },
            warmup: if quick { 0.3 } else { 0.5 },
            out: repo().join("target/bench"),
            pin: true,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            match flag.as_str() {
                "--quick" => continue,
                "--no-pin" => {
                    o.pin = false;
                    continue;
                }
                _ => {}
            }
            let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let bad = |e: &dyn std::fmt::Display| format!("{flag} {v:?}: {e}");
            let secs = |v: &str| v.parse::<f64>().map_err(|e| bad(&e));
            match flag.as_str() {
                "--short" => o.short = secs(v)?,
                "--long" => o.long = secs(v)?,
                "--warmup" => o.warmup = secs(v)?,
                "--scenarios" => {
                    o.scenarios = v
                        .split(',')
                        .map(|s| {
                            let s = s.trim();
                            if s == "4" {
                                Err(bad(&"scenario 4 is one request: nothing to divide"))
                            } else if s.starts_with('8') {
                                Err(bad(&"the WebSocket scenarios are not profiled here"))
                            } else if scenarios().iter().any(|sc| selects(s, sc.id)) {
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
                        .map(|s| {
                            Client::parse(s.trim())
                                .filter(|c| CLIENTS.contains(c))
                                .ok_or_else(|| bad(&"not one of aiohttp-rs, hyper, reqwest"))
                        })
                        .collect::<Result<_, _>>()?;
                }
                "--out" => o.out = PathBuf::from(v),
                other => return Err(format!("unknown flag {other:?}")),
            }
        }
        if !(o.short > 0.0 && o.long > o.short && o.warmup >= 0.0) {
            return Err("need 0 < --short < --long and --warmup ≥ 0".into());
        }
        Ok(o)
    }

    fn wants(&self, id: &str) -> bool {
        id != "4" && self.scenarios.iter().any(|s| selects(s, id))
    }
}

/// One client process under callgrind.
#[derive(Debug, Clone, Serialize)]
struct Sample {
    seconds: f64,
    /// Instructions executed in user space by the whole process (callgrind's `I refs`).
    ir: u64,
    report: Report,
    max_conns: u64,
}

/// A client in a scenario: both runs, or why it has no figures.
#[derive(Debug, Clone, Serialize)]
struct Profiled {
    scenario: &'static str,
    client: &'static str,
    short: Option<Sample>,
    long: Option<Sample>,
    failure: Option<String>,
}

impl Profiled {
    /// `(long − short) / (requests long − requests short)` of a figure.
    fn per_request(&self, figure: impl Fn(&Sample) -> Option<u64>) -> Option<f64> {
        let (s, l) = (self.short.as_ref()?, self.long.as_ref()?);
        let dn = l.report.requests.checked_sub(s.report.requests)?;
        let (fs, fl) = (figure(s)?, figure(l)?);
        (dn > 0).then(|| (fl as f64 - fs as f64) / dn as f64)
    }

    fn instructions(&self) -> Option<f64> {
        self.per_request(|s| Some(s.ir))
    }

    fn allocs(&self) -> Option<f64> {
        self.per_request(|s| s.report.allocs)
    }

    fn alloc_bytes(&self) -> Option<f64> {
        self.per_request(|s| s.report.alloc_bytes)
    }
}

/// Callgrind's total of instructions, from its summary on stderr (`==PID== I   refs:  1,234`).
fn parse_ir(stderr: &str) -> Option<u64> {
    stderr.lines().find_map(|line| {
        let rest = line.trim_start_matches(|c: char| c == '=' || c.is_ascii_digit());
        let mut words = rest.split_whitespace();
        if words.next() == Some("I") && words.next() == Some("refs:") {
            words.next()?.replace(',', "").parse().ok()
        } else {
            None
        }
    })
}

struct Ctx<'a> {
    o: &'a ProfileOptions,
    bin_dir: &'a Path,
    cert: PathBuf,
    server: &'a Server,
}

fn run_under_callgrind(
    cx: &Ctx<'_>,
    sc: &Scenario,
    client: Client,
    seconds: f64,
    out_file: &Path,
) -> Result<Sample, String> {
    let mut opts = Options::parse(&[]).map_err(|e| format!("defaults: {e}"))?;
    opts.duration = seconds;
    opts.warmup = cx.o.warmup;
    let base = match sc.transport {
        Transport::Plain => format!("http://127.0.0.1:{}", cx.server.port),
        Transport::Https1 | Transport::Https2 => {
            format!("https://127.0.0.1:{}", cx.server.tls_port)
        }
        Transport::Ws => format!("ws://127.0.0.1:{}", cx.server.ws_port),
    };
    let bin = match client {
        Client::AiohttpRs => "client-aiohttp",
        Client::Reqwest => "client-reqwest",
        _ => "client-hyper",
    };
    let mut cmd = pinned(cx.o.pin, "1");
    cmd.args(["valgrind", "--tool=callgrind"])
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(cx.bin_dir.join(bin))
        .args(client_args(sc, &opts, &base, &cx.cert));
    cx.server.reset()?;
    let timeout = Duration::from_secs_f64(cx.o.warmup + seconds + 300.0);
    let (code, stdout, stderr) = run_with_timeout(cmd, timeout)?;
    let max_conns = cx.server.stats()?.max_conns;
    let report: Report = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| format!("no report (exit {code}); stderr: {}", stderr.trim()))
        .and_then(|l| serde_json::from_str(l).map_err(|e| format!("report {l:?}: {e}")))?;
    if report.errors > 0 || code != 0 {
        return Err(format!(
            "exit {code}, {} failed request(s), first: {}",
            report.errors,
            report.first_error.as_deref().unwrap_or("?")
        ));
    }
    let ir = parse_ir(&stderr).ok_or_else(|| format!("no callgrind summary: {}", stderr.trim()))?;
    Ok(Sample {
        seconds,
        ir,
        report,
        max_conns,
    })
}

fn profile_one(cx: &Ctx<'_>, sc: &Scenario, client: Client) -> Profiled {
    let dir = cx.o.out.join("profile");
    let mut p = Profiled {
        scenario: sc.id,
        client: client.name(),
        short: None,
        long: None,
        failure: None,
    };
    for (seconds, keep) in [(cx.o.short, false), (cx.o.long, true)] {
        let file = if keep {
            dir.join(format!("callgrind.{}.{}.out", sc.id, client.name()))
        } else {
            dir.join("callgrind.short.out")
        };
        match run_under_callgrind(cx, sc, client, seconds, &file) {
            Ok(s) => {
                eprintln!(
                    "bench-run profile: scenario {} {:<10} {seconds} s: {} requests, {} instructions",
                    sc.id,
                    client.name(),
                    s.report.requests,
                    s.ir
                );
                if keep {
                    p.long = Some(s);
                } else {
                    p.short = Some(s);
                }
            }
            Err(e) => {
                eprintln!(
                    "bench-run profile: scenario {} {} {seconds} s FAILED: {e}",
                    sc.id,
                    client.name()
                );
                p.failure = Some(e);
                return p;
            }
        }
    }
    let _ = std::fs::remove_file(dir.join("callgrind.short.out"));
    p
}

fn fmt_count(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v.abs() >= 10_000.0 => format!("{:.1}k", v / 1000.0),
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
    }
}

fn fmt_ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "—".into(),
    }
}

/// One table: a figure per scenario and client, then aiohttp-rs over raw hyper and reqwest.
fn table(
    title: &str,
    scs: &[&Scenario],
    clients: &[Client],
    results: &[Profiled],
    figure: impl Fn(&Profiled) -> Option<f64>,
) -> String {
    let get = |sc: &str, c: Client| {
        results
            .iter()
            .find(|p| p.scenario == sc && p.client == c.name())
            .and_then(&figure)
    };
    let mut s = format!("#### {title}\n\n| scenario |");
    for c in clients {
        let _ = write!(s, " {} |", c.name());
    }
    let ratios: Vec<Client> = [Client::Hyper, Client::Reqwest]
        .into_iter()
        .filter(|c| clients.contains(&Client::AiohttpRs) && clients.contains(c))
        .collect();
    for c in &ratios {
        let _ = write!(s, " aiohttp-rs ÷ {} |", c.name());
    }
    s.push_str("\n|---|");
    for _ in 0..clients.len() + ratios.len() {
        s.push_str("---|");
    }
    s.push('\n');
    for sc in scs {
        let _ = write!(s, "| {}. {} |", sc.id, sc.title);
        for &c in clients {
            let _ = write!(s, " {} |", fmt_count(get(sc.id, c)));
        }
        for &c in &ratios {
            let _ = write!(
                s,
                " {} |",
                fmt_ratio(get(sc.id, Client::AiohttpRs), get(sc.id, c))
            );
        }
        s.push('\n');
    }
    s
}

/// `bench-run profile ARGS…`; returns the exit status.
pub(crate) fn main(args: &[String]) -> i32 {
    let o = match ProfileOptions::parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench-run profile: {e}");
            return 2;
        }
    };
    match run(&o) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("bench-run profile: {e}");
            2
        }
    }
}

fn run(o: &ProfileOptions) -> Result<bool, String> {
    let valgrind = sh("valgrind", &["--version"]);
    if valgrind.is_empty() {
        return Err(
            "valgrind not found (apt-get install valgrind; scripts/profile.sh does)".into(),
        );
    }
    let (_, bin_dir) = super::bench_binaries("scripts/profile.sh")?;
    std::fs::create_dir_all(o.out.join("profile"))
        .map_err(|e| format!("{}: {e}", o.out.display()))?;
    let pin = super::pinning(o.pin, "bench-run profile");
    let o = &ProfileOptions { pin, ..o.clone() };
    let cert = o.out.join("server-cert.pem");
    let load_before = loadavg();
    let started = Instant::now();
    let server = Server::start(&bin_dir.join("bench-server"), pin, &cert)?;
    let cx = Ctx {
        o,
        bin_dir: &bin_dir,
        cert,
        server: &server,
    };
    let all = scenarios();
    let scs: Vec<&Scenario> = all.iter().filter(|s| o.wants(s.id)).collect();
    let mut results = Vec::new();
    for sc in &scs {
        for &c in &o.clients {
            results.push(profile_one(&cx, sc, c));
        }
    }
    drop(server);
    let elapsed = started.elapsed();

    let mut md = String::new();
    let _ = writeln!(
        md,
        "### Instructions and allocations per request ({}, commit {})\n",
        sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        sh(
            "git",
            &[
                "-C",
                &repo().to_string_lossy(),
                "rev-parse",
                "--short",
                "HEAD"
            ]
        ),
    );
    let _ = writeln!(
        md,
        "- {valgrind} (callgrind), the clients' release builds; each figure is (long run − short \
         run) / (requests of the long run − requests of the short run), {} s and {} s measured \
         after {} s of warm-up\n\
         - load average (1/5/15 min) before: {load_before}; after: {}; whole run {:.0} s \
         (the counts depend far less on the load than times do, but still move by a few \
         percent between runs: how often a read finds nothing yet and the task has to wait \
         depends on timing)\n",
        o.short,
        o.long,
        o.warmup,
        loadavg(),
        elapsed.as_secs_f64()
    );
    md.push_str(&table(
        "User-space instructions per request",
        &scs,
        &o.clients,
        &results,
        Profiled::instructions,
    ));
    md.push('\n');
    md.push_str(&table(
        "Heap allocations per request",
        &scs,
        &o.clients,
        &results,
        Profiled::allocs,
    ));
    md.push('\n');
    md.push_str(&table(
        "Heap bytes allocated per request",
        &scs,
        &o.clients,
        &results,
        Profiled::alloc_bytes,
    ));
    md.push_str(
        "\n#### Runs\n\n| scenario | client | requests (short / long) | instructions (short / long) \
         | max conns | failure |\n|---|---|---|---|---|---|\n",
    );
    for p in &results {
        let pair = |f: &dyn Fn(&Sample) -> u64| match (&p.short, &p.long) {
            (Some(s), Some(l)) => format!("{} / {}", f(s), f(l)),
            (Some(s), None) => format!("{} / —", f(s)),
            _ => "—".into(),
        };
        let max_conns = [&p.short, &p.long]
            .iter()
            .filter_map(|s| s.as_ref().map(|s| s.max_conns))
            .max()
            .map_or("—".into(), |m| m.to_string());
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {max_conns} | {} |",
            p.scenario,
            p.client,
            pair(&|s| s.report.requests),
            pair(&|s| s.ir),
            p.failure.as_deref().unwrap_or("")
        );
    }
    print!("{md}");
    let jsonl: String = results
        .iter()
        .map(|p| serde_json::to_string(p).unwrap_or_default() + "\n")
        .collect();
    let _ = std::fs::write(o.out.join("profile.md"), &md);
    let _ = std::fs::write(o.out.join("profile.jsonl"), jsonl);
    eprintln!(
        "bench-run profile: wrote {} and {}",
        o.out.join("profile.md").display(),
        o.out.join("profile.jsonl").display()
    );
    Ok(results.iter().all(|p| p.failure.is_none()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callgrind_summary_is_parsed() {
        let err = "==123== Events    : Ir\n==123== Collected : 1234567\n==123==\n\
                   ==123== I   refs:      1,234,567\n";
        assert_eq!(parse_ir(err), Some(1_234_567));
        assert_eq!(parse_ir("nothing"), None);
    }

    #[test]
    fn options_and_differences() {
        let args = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let o =
            ProfileOptions::parse(&args("--quick --scenarios 1,7 --clients hyper")).expect("valid");
        assert!((o.short, o.long) == (1.0, 3.0));
        assert!(o.wants("1") && o.wants("7a") && o.wants("7b") && !o.wants("2"));
        assert_eq!(o.clients, [Client::Hyper]);
        assert!(ProfileOptions::parse(&args("--scenarios 4")).is_err());
        assert!(ProfileOptions::parse(&args("--clients wrk")).is_err());
        assert!(ProfileOptions::parse(&args("--short 3 --long 2")).is_err());

        let sample = |requests, ir, allocs| Sample {
            seconds: 1.0,
            ir,
            report: Report {
                client: "hyper".into(),
                scenario: "1".into(),
                requests,
                errors: 0,
                first_error: None,
                bytes: 0,
                wall_s: 1.0,
                cpu_user_s: 0.0,
                cpu_sys_s: 0.0,
                max_rss_kib: 0,
                p50_us: None,
                p99_us: None,
                allocs: Some(allocs),
                reallocs: Some(0),
                alloc_bytes: None,
            },
            max_conns: 1,
        };
        let p = Profiled {
            scenario: "1",
            client: "hyper",
            short: Some(sample(100, 5_000_000, 700)),
            long: Some(sample(400, 11_000_000, 2500)),
            failure: None,
        };
        assert_eq!(p.instructions(), Some(20_000.0));
        assert_eq!(p.allocs(), Some(6.0));
        assert_eq!(p.alloc_bytes(), None);
        assert_eq!(fmt_count(Some(20_000.0)), "20.0k");
        assert_eq!(fmt_ratio(Some(3.0), Some(2.0)), "1.50");
    }
}
