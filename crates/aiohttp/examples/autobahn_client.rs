//! The Autobahn|Testsuite client runner: connects to the suite's fuzzing
//! server once per case and echoes every message back, then asks the server
//! to write its reports. `scripts/autobahn.sh` starts the server, runs this
//! and checks the report.
//!
//! Usage: `cargo run --release --example autobahn_client -- [PORT]`
//!
//! The server is at `ws://127.0.0.1:PORT` (PORT from the first argument, then
//! `$AUTOBAHN_PORT`, then 9001); the agent name in the reports is
//! `$AUTOBAHN_AGENT`, default `aiohttp-rs`.

use aiohttp::{ClientSession, WSMsgType};

/// Runs case `case`: echoes each text and binary message until the
/// connection closes or fails. A case that cannot connect is reported on
/// stderr and left to the server's report.
async fn run_case(session: &ClientSession, base: &str, case: u32, agent: &str) {
    let url = format!("{base}/runCase?case={case}&agent={agent}");
    let mut ws = match session
        .ws_connect(url)
        .compress(15)
        .max_msg_size(0) // the server sends messages of up to 16 MiB
        .await
    {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("case {case}: connect failed: {e}");
            return;
        }
    };
    loop {
        let msg = ws.receive().await;
        let sent = match msg.kind {
            WSMsgType::Text => match msg.text() {
                Some(text) => ws.send_str(text).await,
                None => break,
            },
            WSMsgType::Binary => ws.send_bytes(msg.data).await,
            WSMsgType::Close | WSMsgType::Closing | WSMsgType::Closed | WSMsgType::Error => break,
            _ => continue,
        };
        if sent.is_err() {
            break;
        }
    }
    if !ws.closed() {
        let _ = ws.close(1000, b"").await;
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p.parse()?,
        None => std::env::var("AUTOBAHN_PORT")
            .ok()
            .map(|p| p.parse())
            .transpose()?
            .unwrap_or(9001),
    };
    let agent = std::env::var("AUTOBAHN_AGENT").unwrap_or_else(|_| "aiohttp-rs".to_owned());
    let base = format!("ws://127.0.0.1:{port}");
    let session = ClientSession::new();

    let mut ws = session.ws_connect(format!("{base}/getCaseCount")).await?;
    let count: u32 = ws.receive_str().await?.trim().parse()?;
    if !ws.closed() {
        ws.close(1000, b"").await?;
    }
    eprintln!("autobahn_client: {count} cases, agent {agent}");

    for case in 1..=count {
        run_case(&session, &base, case, &agent).await;
        if case % 50 == 0 || case == count {
            eprintln!("autobahn_client: {case}/{count} cases run");
        }
    }

    let mut ws = session
        .ws_connect(format!("{base}/updateReports?agent={agent}"))
        .await?;
    if !ws.closed() {
        ws.close(1000, b"").await?;
    }
    Ok(())
}
