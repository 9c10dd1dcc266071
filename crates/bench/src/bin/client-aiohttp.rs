//! Benchmark client: this crate (`aiohttp`), one `ClientSession` shared by every task.
//!
//! Over `https://` the connector gets `ssl_context` with the server's certificate as the only
//! root and ALPN `http/1.1` (or `h2` with `--http2`: every task then shares one connection).

use aiohttp::{ClientSession, TcpConnector, Url};
use bench::{client_main, ClientArgs, Mode, Worker};
use bytes::Bytes;

struct Task {
    session: ClientSession,
    url: Url,
    mode: Mode,
    upload: Bytes,
}

impl Worker for Task {
    async fn request(&mut self) -> Result<u64, String> {
        let req = match self.mode {
            Mode::Get | Mode::Download => self.session.get(&self.url),
            Mode::Upload => self.session.post(&self.url).data(self.upload.clone()),
        };
        let mut resp = req.await.map_err(|e| e.to_string())?;
        if resp.status() != 200 {
            return Err(format!("status {}", resp.status()));
        }
        match self.mode {
            Mode::Get => {
                let body = resp.read().await.map_err(|e| e.to_string())?;
                check_len(body.len(), bench::HELLO.len())?;
                Ok(body.len() as u64)
            }
            Mode::Upload => {
                let body = resp.read().await.map_err(|e| e.to_string())?;
                check_len(body.len(), bench::HELLO.len())?;
                Ok(self.upload.len() as u64)
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
                Ok(n)
            }
        }
    }
}

fn check_len(got: usize, want: usize) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("body of {got} bytes, expected {want}"))
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
                upload: upload.clone(),
            })
            .collect())
    });
}
