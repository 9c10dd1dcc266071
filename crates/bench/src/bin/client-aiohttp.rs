//! Benchmark client: this crate (`aiohttp`), one `ClientSession` shared by every task.
//!
//! Over `https://` the connector gets `ssl_context` with the server's certificate as the only
//! root and ALPN `http/1.1` (or `h2` with `--http2`: every task then shares one connection).
//!
//! Every response's status and body size are checked ([`bench::check_status`],
//! [`bench::check_body`]).

use aiohttp::{ClientSession, TcpConnector, Url};
use bench::{check_body, check_status, client_main, ClientArgs, Mode, Worker};
use bytes::Bytes;

#[global_allocator]
static ALLOC: bench::CountingAlloc = bench::CountingAlloc;

struct Task {
    session: ClientSession,
    url: Url,
    mode: Mode,
    /// `--bytes`: the download's size, or the upload body's.
    bytes: u64,
    upload: Bytes,
}

impl Worker for Task {
    async fn request(&mut self) -> Result<u64, String> {
        let req = match self.mode {
            Mode::Get | Mode::Download => self.session.get(&self.url),
            Mode::Upload => self.session.post(&self.url).data(self.upload.clone()),
        };
        let mut resp = req.await.map_err(|e| e.to_string())?;
        check_status(resp.status().as_u16())?;
        let got = match self.mode {
            Mode::Get | Mode::Upload => {
                let body = resp.read().await.map_err(|e| e.to_string())?;
                body.len() as u64
            }
            Mode::Download => {
                let content = resp.content();
                let mut n = 0u64;
                loop {
                    let chunk = content.readany().await.map_err(|e| e.to_string())?;
                    if chunk.is_empty() {
                        break;
                    }
                    n += chunk.len() as u64;
                }
                n
            }
        };
        check_body(self.mode, self.bytes, got)
    }
}

fn main() {
    client_main("aiohttp-rs", |args: ClientArgs| async move {
        let mut connector = TcpConnector::builder()
            .limit(args.conn_limit())
            .force_close(args.force_close);
        if let Some(tls) = args.tls_config()? {
            connector = connector.ssl_context(tls);
        }
        let connector = connector.build().map_err(|e| e.to_string())?;
        let session = ClientSession::builder()
            .connector(connector)
            .build()
            .map_err(|e| e.to_string())?;
        let url = Url::parse(&args.url()).map_err(|e| e.to_string())?;
        let upload = args.upload_body();
        Ok((0..args.tasks)
            .map(|_| Task {
                session: session.clone(),
                url: url.clone(),
                mode: args.mode,
                bytes: args.bytes,
                upload: upload.clone(),
            })
            .collect())
    });
}
