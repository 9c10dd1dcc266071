//! `aiohttp ws URL`: an interactive WebSocket client. Lines typed are sent as text messages
//! (`/ping` sends a ping, whose pong is taken care of like the server's pings; `/close`
//! closes); each message received is printed on a line. When
//! standard input is a pipe, every line is a message and its end closes the WebSocket once
//! the server has answered the close.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use aiohttp::{ClientSession, WSMsgType, WsReader};
use tokio::io::AsyncBufReadExt;

use crate::args::WsArgs;
use crate::exit;
use crate::items::{self, Item};
use crate::request::Failure;

/// How long the reader may take to see the server's close after ours.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// Connects and runs the session; the exit status.
///
/// # Errors
/// The upgrade failed, or a message could not be sent.
pub async fn run(args: WsArgs) -> Result<u8, Failure> {
    let url = if args.url.contains("://") {
        args.url.clone()
    } else {
        format!("ws://{}", args.url)
    };
    let session = ClientSession::new();
    let mut connect = session
        .ws_connect(url.as_str())
        .compress(if args.no_compress { 0 } else { 15 });
    if !args.protocol.is_empty() {
        connect = connect.protocols(args.protocol.iter().map(String::as_str));
    }
    if let Some(secs) = args.heartbeat {
        let every = Duration::try_from_secs_f64(secs)
            .map_err(|_| Failure::usage(format!("--heartbeat {secs}: not a duration")))?;
        connect = connect.heartbeat(every);
    }
    for word in &args.headers {
        match items::parse(word).map_err(|e| Failure::usage(e.to_string()))? {
            Item::Header(name, value) => connect = connect.header(name.as_str(), value.as_str()),
            _ => {
                return Err(Failure::usage(format!(
                    "{word:?}: only headers (Name:value) go with ws"
                )))
            }
        }
    }
    let ws = connect.await?;
    let interactive = std::io::stdin().is_terminal();
    eprintln!(
        "connected to {url}{}{}",
        ws.protocol()
            .map(|p| format!(", protocol {p}"))
            .unwrap_or_default(),
        if ws.compress() > 0 {
            ", compressed"
        } else {
            ""
        }
    );
    let (rx, tx) = ws.split();
    let mut reader = tokio::spawn(print_messages(rx));
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut interrupted = false;
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => {
                    if interactive && line == "/ping" {
                        tx.ping(b"").await?;
                        println!("[ping sent]");
                    } else if interactive && line == "/close" {
                        break;
                    } else {
                        tx.send_str(line).await?;
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(Failure::usage(format!("cannot read standard input: {e}"))),
            },
            ended = &mut reader => {
                // The server closed (or the connection broke) first.
                return Ok(ended.unwrap_or(exit::ERROR));
            }
            _ = &mut ctrl_c => {
                interrupted = true;
                break;
            }
        }
    }
    // Our close; the reader prints what is still coming and the server's answer.
    let _ = tx.close(1000, b"").await;
    let code = match tokio::time::timeout(CLOSE_WAIT, &mut reader).await {
        Ok(Ok(code)) => code,
        Ok(Err(_)) => exit::ERROR,
        Err(_) => {
            reader.abort();
            eprintln!("aiohttp: the server did not answer the close within {CLOSE_WAIT:?}");
            exit::TIMEOUT
        }
    };
    session.close().await;
    Ok(if interrupted { exit::INTERRUPTED } else { code })
}

/// Prints every message until the WebSocket closes; the exit status that ends it.
async fn print_messages(mut rx: WsReader) -> u8 {
    let terminal = std::io::stdout().is_terminal();
    loop {
        let msg = rx.receive().await;
        let mut out = std::io::stdout().lock();
        let written = match msg.kind {
            WSMsgType::Text => {
                let r = out.write_all(&msg.data).and_then(|()| out.write_all(b"\n"));
                r.and_then(|()| out.flush())
            }
            WSMsgType::Binary if terminal => {
                writeln!(out, "[binary message, {} bytes]", msg.data.len())
            }
            WSMsgType::Binary => out
                .write_all(&msg.data)
                .and_then(|()| out.write_all(b"\n"))
                .and_then(|()| out.flush()),
            WSMsgType::Close => {
                let code = msg.close_code();
                eprintln!(
                    "closed by the server: {}{}",
                    code.map(|c| c.to_string())
                        .unwrap_or_else(|| "no code".into()),
                    msg.extra
                        .as_deref()
                        .filter(|r| !r.is_empty())
                        .map(|r| format!(" {r}"))
                        .unwrap_or_default()
                );
                return exit::OK;
            }
            WSMsgType::Closing | WSMsgType::Closed => return exit::OK,
            WSMsgType::Error => {
                let text = msg
                    .error()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| "the connection failed".into());
                eprintln!("aiohttp: error: {text}");
                return msg.error().map(exit::for_error).unwrap_or(exit::ERROR);
            }
            _ => Ok(()),
        };
        if written.is_err() {
            return exit::ERROR;
        }
    }
}
