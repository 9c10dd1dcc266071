//! Benchmark client: reqwest, one `Client` shared by every task.
//!
//! TLS is rustls with a preconfigured `ClientConfig` (ring provider; the server's certificate
//! as the only root over `https://`); reqwest keeps the ALPN it is given: `http/1.1`, or `h2`
//! with `--http2`, where `http2_prior_knowledge` makes its pool share one connection.
//!
//! reqwest has no cap on open connections, so a limit below the number of tasks
//! (scenario 3) is enforced the way its users do it: a semaphore around each request, held
//! until the response body has been read (every task runs, as in the other clients; at most
//! `limit` requests are in flight).
//!
//! `--force-close` is `pool_max_idle_per_host(0)`: reqwest drops the connection once the
//! response is read, closing it from the client's side; it sends no `Connection: close`.
//!
//! Every response's status and body size are checked ([`bench::check_status`],
//! [`bench::check_body`]).

use std::sync::Arc;

use bench::{check_body, check_status, client_main, ClientArgs, Mode, Worker};
use bytes::Bytes;
use tokio::sync::Semaphore;

#[global_allocator]
static ALLOC: bench::CountingAlloc = bench::CountingAlloc;

struct Task {
    client: reqwest::Client,
    url: reqwest::Url,
    mode: Mode,
    /// `--bytes`: the download's size, or the upload body's.
    bytes: u64,
    upload: Bytes,
    limit: Option<Arc<Semaphore>>,
}

impl Task {
    async fn exchange(&self) -> Result<u64, String> {
        let req = match self.mode {
            Mode::Get | Mode::Download => self.client.get(self.url.clone()),
            Mode::Upload => self.client.post(self.url.clone()).body(self.upload.clone()),
            Mode::WsEcho | Mode::WsBulk => return Err(bench::NOT_HTTP.into()),
        };
        let mut resp = req.send().await.map_err(|e| e.to_string())?;
        check_status(resp.status().as_u16())?;
        let got = match self.mode {
            Mode::Get | Mode::Upload => {
                let body = resp.bytes().await.map_err(|e| e.to_string())?;
                body.len() as u64
            }
            Mode::Download => {
                let mut n = 0u64;
                while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
                    n += chunk.len() as u64;
                }
                n
            }
            Mode::WsEcho | Mode::WsBulk => return Err(bench::NOT_HTTP.into()),
        };
        check_body(self.mode, self.bytes, got)
    }
}

impl Worker for Task {
    async fn request(&mut self) -> Result<u64, String> {
        let _permit = match &self.limit {
            Some(s) => Some(s.acquire().await.map_err(|e| e.to_string())?),
            None => None,
        };
        self.exchange().await
    }
}

fn main() {
    client_main("reqwest", |args: ClientArgs| async move {
        let tls = match args.tls_config()? {
            Some(c) => c,
            // Plain HTTP: a config is still needed, since no process-wide provider is set.
            None => rustls::ClientConfig::builder_with_provider(bench::crypto_provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        };
        let mut builder = reqwest::Client::builder()
            .pool_max_idle_per_host(args.conn_limit())
            .tcp_nodelay(true)
            .tls_backend_preconfigured(tls);
        builder = if args.http2 {
            builder.http2_prior_knowledge()
        } else {
            builder.http1_only()
        };
        if args.force_close {
            builder = builder.pool_max_idle_per_host(0);
        }
        let client = builder.build().map_err(|e| e.to_string())?;
        let url = reqwest::Url::parse(&args.url()).map_err(|e| e.to_string())?;
        let upload = args.upload_body();
        let limit =
            (args.conn_limit() < args.tasks).then(|| Arc::new(Semaphore::new(args.conn_limit())));
        Ok((0..args.tasks)
            .map(|_| Task {
                client: client.clone(),
                url: url.clone(),
                mode: args.mode,
                bytes: args.bytes,
                upload: upload.clone(),
                limit: limit.clone(),
            })
            .collect())
    });
}
