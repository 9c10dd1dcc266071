//! Tracing hooks (aiohttp's `TraceConfig`): every point of a request's life, in order, with the
//! request's `trace_request_ctx`, against local servers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aiohttp::{
    ClientError, ClientResponse, ClientSession, TcpConnector, TraceConfig, TraceRequest,
};
use test_support::{full, HttpServer};

/// Records each point as a line: the point, the hop's method and path, and what it carries.
#[derive(Default, Clone)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Recorder {
    fn push(&self, req: &TraceRequest<'_>, what: impl std::fmt::Display) {
        let ctx = req
            .request_ctx()
            .and_then(|c| c.downcast_ref::<&str>())
            .map(|t| format!(" [{t}]"))
            .unwrap_or_default();
        let line = format!("{what} {} {}{ctx}", req.method(), req.url().path());
        self.0.lock().expect("lock").push(line);
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().expect("lock"))
    }
}

impl TraceConfig for Recorder {
    fn on_request_start(&self, req: &TraceRequest<'_>) {
        self.push(req, "start");
    }
    fn on_request_headers_sent(&self, req: &TraceRequest<'_>, headers: &http::HeaderMap) {
        let marked = headers.get("x-mark").map_or("", |_| " (x-mark)");
        self.push(req, format!("headers{marked}"));
    }
    fn on_request_chunk_sent(&self, req: &TraceRequest<'_>, chunk: &[u8]) {
        self.push(
            req,
            format!("chunk-sent {:?}", String::from_utf8_lossy(chunk)),
        );
    }
    fn on_response_chunk_received(&self, req: &TraceRequest<'_>, chunk: &[u8]) {
        self.push(req, format!("chunk-received {}", chunk.len()));
    }
    fn on_request_redirect(&self, req: &TraceRequest<'_>, resp: &ClientResponse) {
        self.push(req, format!("redirect {}", resp.status().as_u16()));
    }
    fn on_request_end(&self, req: &TraceRequest<'_>, resp: &ClientResponse) {
        self.push(req, format!("end {}", resp.status().as_u16()));
    }
    fn on_request_exception(&self, req: &TraceRequest<'_>, error: &ClientError) {
        self.push(req, format!("exception {:?}", error.kind()));
    }
    fn on_connection_queued_start(&self, req: &TraceRequest<'_>) {
        self.push(req, "queued");
    }
    fn on_connection_queued_end(&self, req: &TraceRequest<'_>) {
        self.push(req, "dequeued");
    }
    fn on_connection_create_start(&self, req: &TraceRequest<'_>) {
        self.push(req, "create");
    }
    fn on_connection_create_end(&self, req: &TraceRequest<'_>) {
        self.push(req, "created");
    }
    fn on_connection_reuseconn(&self, req: &TraceRequest<'_>) {
        self.push(req, "reuse");
    }
    fn on_dns_resolvehost_start(&self, req: &TraceRequest<'_>, host: &str) {
        self.push(req, format!("resolve {host}"));
    }
    fn on_dns_resolvehost_end(&self, req: &TraceRequest<'_>, host: &str) {
        self.push(req, format!("resolved {host}"));
    }
    fn on_dns_cache_hit(&self, req: &TraceRequest<'_>, host: &str) {
        self.push(req, format!("dns-hit {host}"));
    }
    fn on_dns_cache_miss(&self, req: &TraceRequest<'_>, host: &str) {
        self.push(req, format!("dns-miss {host}"));
    }
}

async fn within<F: std::future::IntoFuture>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), f.into_future())
        .await
        .expect("not done within 10 s")
}

async fn server() -> HttpServer {
    HttpServer::start(|req: http::Request<hyper::body::Incoming>| async move {
        match req.uri().path() {
            "/redirect" => {
                let mut r = http::Response::new(full(""));
                *r.status_mut() = http::StatusCode::FOUND;
                r.headers_mut()
                    .insert("location", http::HeaderValue::from_static("/final"));
                r
            }
            _ => http::Response::new(full("twelve bytes")),
        }
    })
    .await
}

fn lines(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn every_point_of_a_request_in_order() {
    let server = server().await;
    let rec = Recorder::default();
    let s = ClientSession::builder()
        .trace_config(rec.clone())
        .headers([("x-mark", "1")])
        .build()
        .expect("session");
    let port = server.addr().port();
    // By name: the DNS points; a redirect on the same keep-alive connection.
    let mut resp = within(s.get(format!("http://localhost:{port}/redirect")))
        .await
        .expect("response");
    assert_eq!(resp.status(), 200);
    resp.read().await.expect("body");
    assert_eq!(
        rec.take(),
        lines(&[
            "start GET /redirect",
            // As aiohttp's: the name is resolved while the connection is created.
            "create GET /redirect",
            "dns-miss localhost GET /redirect",
            "resolve localhost GET /redirect",
            "resolved localhost GET /redirect",
            "created GET /redirect",
            "headers (x-mark) GET /redirect",
            "redirect 302 GET /redirect",
            "reuse GET /final",
            "headers (x-mark) GET /final",
            "end 200 GET /final",
            "chunk-received 12 GET /final",
        ])
    );
    // A body, the request's context, the DNS cache skipped on a reused connection.
    let mut resp = within(
        s.post(format!("http://localhost:{port}/post"))
            .data("abc")
            .trace_request_ctx("tagged"),
    )
    .await
    .expect("response");
    resp.read().await.expect("body");
    assert_eq!(
        rec.take(),
        lines(&[
            "start POST /post [tagged]",
            "reuse POST /post [tagged]",
            "headers (x-mark) POST /post [tagged]",
            "chunk-sent \"abc\" POST /post [tagged]",
            "end 200 POST /post [tagged]",
            "chunk-received 12 POST /post [tagged]",
        ])
    );
    // A new connection by name again: the cache has it.
    let mut resp = within(
        s.get(format!("http://localhost:{port}/again"))
            .header("Connection", "close"),
    )
    .await
    .expect("response");
    resp.read().await.expect("body");
    let mut resp = within(s.get(format!("http://localhost:{port}/again")))
        .await
        .expect("response");
    resp.read().await.expect("body");
    let got = rec.take();
    assert!(
        got.contains(&"dns-hit localhost GET /again".to_string()),
        "{got:?}"
    );
    assert!(!got.iter().any(|l| l.starts_with("resolve")), "{got:?}");
    // A failure.
    let err = within(s.get("http://127.0.0.1:1/down"))
        .await
        .expect_err("refused");
    assert!(err.is_client_connector_error(), "{err:?}");
    assert_eq!(
        rec.take(),
        lines(&[
            "start GET /down",
            "create GET /down",
            "exception ClientConnectorError GET /down",
        ])
    );
}

#[tokio::test]
async fn waiting_for_a_connection_is_traced() {
    let server = server().await;
    let rec = Recorder::default();
    let s = ClientSession::builder()
        .connector(TcpConnector::builder().limit(1).build().expect("connector"))
        .trace_config(rec.clone())
        .build()
        .expect("session");
    let held = within(s.get(server.url("/one"))).await.expect("first");
    rec.take();
    let second = tokio::spawn(s.get(server.url("/two")).send());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while s.connector().pool().stats().waiting < 1 {
        assert!(tokio::time::Instant::now() < deadline, "never queued");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(rec.take(), lines(&["start GET /two", "queued GET /two"]));
    drop(held);
    let mut resp = within(second).await.expect("task").expect("second");
    resp.read().await.expect("body");
    // The first response was dropped unread: its connection closed, and a new one opened.
    assert_eq!(
        rec.take(),
        lines(&[
            "dequeued GET /two",
            "create GET /two",
            "created GET /two",
            "headers GET /two",
            "end 200 GET /two",
            "chunk-received 12 GET /two",
        ])
    );
}
