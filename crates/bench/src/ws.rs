//! The WebSocket half of the harness (scenario 8): the messages every client sends, the check
//! each echo must pass, and the two measures.
//!
//! - `ws-echo`: one connection, one task sending a `--bytes`-byte binary message and awaiting
//!   its echo, back to back for the measured phase (a [`Worker`] driven by
//!   [`run_client`](crate::run_client): round trips per second and their latency).
//! - `ws-bulk`: one connection split in two halves: a writer task keeps `--inflight` messages
//!   outstanding, a reader task checks the echoes in order and hands a slot back to the writer
//!   for each (`run_bulk`): bytes echoed per second, counted one way.
//!
//! Messages come from a ring of [`RING`] distinct payloads (random letters: each message a
//! different stretch of one pseudo-random sequence), sent in order; the `n`th echo must equal
//! the `n`th message sent, byte for byte ([`check_echo`]), so a lost, duplicated, reordered,
//! cut or corrupted message fails the run. The Python client
//! (`crates/bench/python/aiohttp_ws_client.py`) builds the same
//! ring and makes the same checks.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::{AllocCount, ClientArgs, Mode, Recorder, Report, Usage, Worker};

/// Distinct payloads in the ring: more than any `--inflight`, so that an echo out of order
/// cannot match by chance.
pub const RING: usize = 64;

/// How long closing the connection may take after the run.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// The ring of messages of `size` bytes: message `k` is `size` letters of one pseudo-random
/// sequence (xorshift64*, the top 6 bits of each step picking a letter), starting at its `k`th
/// letter. The Python client computes the same bytes.
pub fn payloads(size: usize) -> Arc<Vec<Bytes>> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut x = 0x9E37_79B9_7F4A_7C15_u64;
    let letters: Vec<u8> = (0..size + RING)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            ALPHABET[(x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 58) as usize]
        })
        .collect();
    Arc::new(
        (0..RING)
            .map(|k| Bytes::copy_from_slice(&letters[k..k + size]))
            .collect(),
    )
}

/// Checks an echo against the message it answers.
///
/// # Errors
/// Another size, or other bytes.
pub fn check_echo(want: &[u8], got: &[u8]) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!(
            "echo of {} bytes, expected {}",
            got.len(),
            want.len()
        ));
    }
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(0);
        return Err(format!(
            "echo of {} bytes differs from the message sent at byte {at}",
            got.len()
        ));
    }
    Ok(())
}

/// Sending messages (a whole WebSocket, or its writing half).
pub trait WsSend: Send + 'static {
    /// Sends `msg` as one binary message.
    fn send(&mut self, msg: &Bytes) -> impl Future<Output = Result<(), String>> + Send;
    /// Sends the close frame (for a whole WebSocket: the whole close handshake).
    fn close(&mut self) -> impl Future<Output = Result<(), String>> + Send;
}

/// Receiving messages (a whole WebSocket, or its reading half).
pub trait WsRecv: Send + 'static {
    /// Receives the next message, which must be a binary message equal to `want`
    /// ([`check_echo`]).
    fn recv_check(&mut self, want: &[u8]) -> impl Future<Output = Result<(), String>> + Send;
    /// After [`WsSend::close`]: reads until the server's close frame (or the end).
    fn closed(&mut self) -> impl Future<Output = Result<(), String>> + Send;
}

/// `ws-echo`: round trips on one WebSocket, as a [`Worker`].
#[derive(Debug)]
pub struct Echo<C> {
    conn: C,
    ring: Arc<Vec<Bytes>>,
    seq: usize,
}

impl<C: WsSend + WsRecv> Echo<C> {
    /// Round trips of `size`-byte messages over `conn`.
    pub fn new(conn: C, size: usize) -> Self {
        Echo {
            conn,
            ring: payloads(size),
            seq: 0,
        }
    }
}

impl<C: WsSend + WsRecv> Worker for Echo<C> {
    async fn request(&mut self) -> Result<u64, String> {
        let msg = &self.ring[self.seq % RING];
        self.seq += 1;
        self.conn.send(msg).await?;
        self.conn.recv_check(msg).await?;
        Ok(msg.len() as u64)
    }
}

/// Closes both directions, within [`CLOSE_WAIT`].
async fn close_both<S: WsSend, R: WsRecv>(tx: &mut S, rx: &mut R) -> Result<(), String> {
    let closing = async {
        tx.close().await?;
        rx.closed().await
    };
    tokio::time::timeout(CLOSE_WAIT, closing)
        .await
        .map_err(|_| "the close handshake did not finish in time".to_string())?
}

/// What the reader of [`run_bulk`] measured.
struct Measured {
    messages: u64,
    bytes: u64,
    wall: Duration,
    usage: (Usage, Usage),
    allocs: Option<AllocCount>,
}

/// `ws-bulk`: the writer keeps `args.inflight` messages outstanding; the reader checks every
/// echo, gives the writer a slot back for each, and measures the echoes of the measured
/// phase (it starts `args.warmup` after the first send). At the end the writer stops, the
/// reader reads the echoes still due, and the WebSocket is closed.
async fn run_bulk<S: WsSend, R: WsRecv>(
    args: &ClientArgs,
    tx: S,
    rx: R,
) -> (Recorder, Option<Measured>, S, R) {
    let ring = payloads(usize::try_from(args.bytes).unwrap_or(0));
    let slots = Arc::new(tokio::sync::Semaphore::new(args.inflight));
    let stop = Arc::new(AtomicBool::new(false));
    let (sent_tx, sent_rx) = tokio::sync::oneshot::channel::<u64>();
    let mut writer = {
        let (ring, slots, stop) = (ring.clone(), slots.clone(), stop.clone());
        let mut tx = tx;
        tokio::spawn(async move {
            let mut seq = 0u64;
            let mut err = None;
            loop {
                match slots.acquire().await {
                    Ok(p) => p.forget(),
                    Err(_) => break,
                }
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if let Err(e) = tx.send(&ring[(seq % RING as u64) as usize]).await {
                    err = Some(e);
                    break;
                }
                seq += 1;
            }
            let _ = sent_tx.send(seq);
            (tx, err)
        })
    };
    let (warmup, duration) = (args.warmup, args.duration);
    let mut reader = tokio::spawn(async move {
        let mut rx = rx;
        let started = Instant::now();
        let (warm_end, end) = (started + warmup, started + warmup + duration);
        let mut rseq = 0u64;
        let mut bytes = 0u64;
        let mut start: Option<(Instant, Usage, Option<AllocCount>, u64, u64)> = None;
        if warmup.is_zero() {
            start = Some((started, Usage::this_process(), AllocCount::now(), 0, 0));
        }
        let measured = loop {
            let want = &ring[(rseq % RING as u64) as usize];
            if let Err(e) = rx.recv_check(want).await {
                return (rx, Err(format!("message {rseq}: {e}")), None);
            }
            rseq += 1;
            bytes += want.len() as u64;
            let now = Instant::now();
            if start.is_none() && now >= warm_end {
                start = Some((now, Usage::this_process(), AllocCount::now(), rseq, bytes));
            }
            if let Some((t0, u0, a0, m0, b0)) = start {
                if now >= end {
                    let u1 = Usage::this_process();
                    let a1 = AllocCount::now();
                    break Measured {
                        messages: rseq - m0,
                        bytes: bytes - b0,
                        wall: now - t0,
                        usage: (u0, u1),
                        allocs: a1.zip(a0).map(|(a, b)| a.since(b)),
                    };
                }
            }
            slots.add_permits(1);
        };
        // Stop the writer (waking it if it waits for a slot), then read what is still due.
        stop.store(true, Ordering::Relaxed);
        slots.add_permits(1);
        let sent = sent_rx.await.unwrap_or(rseq);
        while rseq < sent {
            let want = &ring[(rseq % RING as u64) as usize];
            if let Err(e) = rx.recv_check(want).await {
                return (rx, Err(format!("message {rseq}: {e}")), Some(measured));
            }
            rseq += 1;
        }
        (rx, Ok(()), Some(measured))
    });
    let mut rec = Recorder::default();
    // Neither side may hang the client: the whole run is bounded.
    let limit = tokio::time::sleep(warmup + duration + Duration::from_secs(30));
    tokio::pin!(limit);
    let mut writer_out: Option<(S, Option<String>)> = None;
    let reader_out = loop {
        tokio::select! {
            r = &mut reader => break r,
            w = &mut writer, if writer_out.is_none() => {
                match w {
                    Ok((tx, None)) => writer_out = Some((tx, None)),
                    Ok((_, Some(e))) => {
                        reader.abort();
                        rec.err(format!("sending: {e}"));
                        std::process::exit(report_and_exit(args, rec));
                    }
                    Err(e) => panic!("writer task: {e}"),
                }
            }
            () = &mut limit => {
                reader.abort();
                writer.abort();
                rec.err("the run did not finish in time (echoes missing)");
                std::process::exit(report_and_exit(args, rec));
            }
        }
    };
    let (rx, outcome, measured) = reader_out.unwrap_or_else(|e| panic!("reader task: {e}"));
    if let Err(e) = outcome {
        writer.abort();
        rec.err(e);
        std::process::exit(report_and_exit(args, rec));
    }
    let tx = match writer_out {
        Some((tx, _)) => tx,
        None => match writer.await {
            Ok((tx, None)) => tx,
            Ok((_, Some(e))) => {
                rec.err(format!("sending: {e}"));
                std::process::exit(report_and_exit(args, rec));
            }
            Err(e) => panic!("writer task: {e}"),
        },
    };
    (rec, measured, tx, rx)
}

/// Prints the report of a run that failed before it measured anything; the exit status.
fn report_and_exit(args: &ClientArgs, rec: Recorder) -> i32 {
    eprintln!(
        "{}: {}",
        args.scenario,
        rec.first_error.as_deref().unwrap_or("failed")
    );
    1
}

/// The `main` of a WebSocket client binary: parse the flags, connect on a current-thread
/// runtime (`connect` gives the whole WebSocket for `ws-echo`; `split` its two halves for
/// `ws-bulk`), run the mode, close the WebSocket, print the JSON line. Exits 2 on bad flags, 1
/// when an echo failed its check or the connection failed (closing included).
pub fn client_main<C, S, R, F1, Fut1, F2>(client: &str, connect: F1, split: F2)
where
    C: WsSend + WsRecv,
    S: WsSend,
    R: WsRecv,
    F1: FnOnce(ClientArgs) -> Fut1,
    Fut1: Future<Output = Result<C, String>>,
    F2: FnOnce(C) -> (S, R),
{
    let args = match ClientArgs::from_env() {
        Ok(a) if a.mode.is_ws() => a,
        Ok(a) => {
            eprintln!(
                "{client}: --mode {} is not a WebSocket mode",
                a.mode.as_str()
            );
            std::process::exit(2);
        }
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
        let conn = match connect(args.clone()).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{client}: connecting failed: {e}");
                std::process::exit(1);
            }
        };
        let size = usize::try_from(args.bytes).unwrap_or(0);
        match args.mode {
            Mode::WsBulk => {
                let (tx, rx) = split(conn);
                let (mut rec, measured, mut tx, mut rx) = run_bulk(&args, tx, rx).await;
                if let Err(e) = close_both(&mut tx, &mut rx).await {
                    rec.err(format!("closing: {e}"));
                }
                let m = measured.unwrap_or(Measured {
                    messages: 0,
                    bytes: 0,
                    wall: Duration::ZERO,
                    usage: (Usage::default(), Usage::default()),
                    allocs: None,
                });
                Report {
                    client: client.to_string(),
                    scenario: args.scenario.clone(),
                    requests: m.messages,
                    errors: rec.errors,
                    first_error: rec.first_error,
                    bytes: m.bytes,
                    wall_s: m.wall.as_secs_f64(),
                    cpu_user_s: m.usage.1.user_s - m.usage.0.user_s,
                    cpu_sys_s: m.usage.1.sys_s - m.usage.0.sys_s,
                    max_rss_kib: Usage::this_process().max_rss_kib,
                    p50_us: None,
                    p99_us: None,
                    allocs: m.allocs.map(|a| a.allocs),
                    reallocs: m.allocs.map(|a| a.reallocs),
                    alloc_bytes: m.allocs.map(|a| a.bytes),
                }
            }
            _ => {
                let echo = Echo::new(conn, size);
                let mut args1 = args.clone();
                args1.tasks = 1;
                let (report, mut echo) = crate::run_client_with(client, &args1, vec![echo]).await;
                let mut report = report;
                if let Some(mut e) = echo.pop() {
                    let Echo { conn, .. } = &mut e;
                    // One object is both sides: close it through both traits.
                    let closed = async {
                        WsSend::close(conn).await?;
                        WsRecv::closed(conn).await
                    };
                    let outcome = tokio::time::timeout(CLOSE_WAIT, closed)
                        .await
                        .map_err(|_| "the close handshake did not finish in time".to_string())
                        .and_then(|r| r);
                    if let Err(e) = outcome {
                        report.errors += 1;
                        report.first_error.get_or_insert(format!("closing: {e}"));
                    }
                }
                report
            }
        }
    });
    println!(
        "{}",
        serde_json::to_string(&report).expect("report serializes")
    );
    if report.errors > 0 {
        eprintln!(
            "{client}: {} failure(s), first: {}",
            report.errors,
            report.first_error.as_deref().unwrap_or("?")
        );
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST_LETTERS: &[u8] = b"DVqfkn1Zh0AvJ7EV";

    #[test]
    fn ring_is_distinct_and_checked() {
        let ring = payloads(64);
        assert_eq!(ring.len(), RING);
        assert!(ring.iter().all(|m| m.len() == 64 && m.is_ascii()));
        for (i, a) in ring.iter().enumerate() {
            for b in &ring[i + 1..] {
                assert_ne!(a, b);
            }
        }
        // The Python client checks the same first letters (crates/bench/python/aiohttp_ws_client.py).
        assert_eq!(&ring[0][..16], FIRST_LETTERS);
        assert_eq!(&ring[1][..15], &FIRST_LETTERS[1..]);
        assert_eq!(check_echo(&ring[0], &ring[0]), Ok(()));
        assert!(check_echo(&ring[0], &ring[0][..63]).is_err_and(|e| e.contains("63 bytes")));
        assert!(check_echo(&ring[0], &ring[1]).is_err_and(|e| e.contains("differs")));
    }
}
