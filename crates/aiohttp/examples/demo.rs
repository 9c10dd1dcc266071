//! A session at work against a server embedded in this example (loopback only).
//!
//! Run with `cargo run --release --example demo`.

use std::convert::Infallible;
use std::net::SocketAddr;

use aiohttp::{BasicAuth, ClientSession};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// Replies with a description of each request; `/gzip` answers with a gzip-compressed body.
async fn handle(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    use http_body_util::BodyExt;
    use std::io::Write;
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if parts.uri.path() == "/gzip" {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = enc.write_all(b"this text travelled gzip-compressed");
        let data = enc.finish().unwrap_or_default();
        let resp = Response::builder()
            .header("Content-Encoding", "gzip")
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from(data)));
        return Ok(resp.unwrap_or_default());
    }
    let auth = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let text = format!(
        "{} {} body={}B auth={}",
        parts.method,
        parts.uri,
        body.len(),
        auth
    );
    Ok(Response::builder()
        .header("Content-Type", "text/plain")
        .header("X-Demo", "yes")
        .body(Full::new(Bytes::from(text)))
        .unwrap_or_default())
}

async fn serve() -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(handle);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(addr)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = serve().await?;
    let base = format!("http://{addr}");
    println!("embedded server on {base}");

    let session = ClientSession::builder()
        .header("X-Client", "demo")
        .build()?;

    let mut resp = session
        .get(format!("{base}/search"))
        .params([("q", "rust http"), ("page", "1")])
        .await?;
    let (status, reason) = (resp.status().as_u16(), resp.reason().to_string());
    println!("GET  -> {status} {reason}: {}", resp.text().await?);

    let mut resp = session
        .post(format!("{base}/submit"))
        .json(&serde_json::json!({"name": "aiohttp-rs"}))
        .auth(BasicAuth::new("user", "secret")?)
        .await?;
    println!("POST -> {}", resp.text().await?);

    let mut resp = session.get(format!("{base}/gzip")).await?;
    let encoding = resp.headers().get("content-encoding").cloned();
    let text = resp.text().await?;
    println!("GZIP -> content-encoding {encoding:?}, decoded: {text}");

    for (name, value) in resp.raw_headers() {
        println!(
            "raw header {}: {}",
            String::from_utf8_lossy(name),
            String::from_utf8_lossy(value)
        );
    }

    let stats = session.connector().pool().stats();
    println!(
        "pool: {} open, {} idle, {} in use",
        stats.open, stats.idle, stats.in_use
    );
    session.close().await;
    Ok(())
}
