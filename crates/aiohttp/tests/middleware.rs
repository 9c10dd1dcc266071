//! Middlewares and `DigestAuth` end to end against loopback servers that record what they
//! received: order, changes to the request, retries, short circuits, per-request lists, redirect
//! hops, recursion; the digest exchange checked by a verifier written here from RFC 7616.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aiohttp::middleware::{self, MAX_MIDDLEWARE_DEPTH};
use aiohttp::{
    ClientError, ClientResponse, ClientSession, DigestAuth, ErrorKind, HeaderValue, Middleware,
    RequestBuilder,
};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use test_support::{full, BoxBody, HttpServer, Incoming};

/// What the server received of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

async fn read(req: Request<Incoming>) -> Seen {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes().to_vec())
        .unwrap_or_default();
    Seen {
        method: parts.method.to_string(),
        target: parts
            .uri
            .path_and_query()
            .map_or("/".to_string(), |p| p.to_string()),
        headers: parts.headers,
        body,
    }
}

fn respond(status: u16, headers: &[(&str, String)], body: &str) -> Response<BoxBody> {
    let mut resp = Response::new(full(body.to_string()));
    *resp.status_mut() = StatusCode::from_u16(status).expect("status");
    for (n, v) in headers {
        resp.headers_mut().append(
            http::HeaderName::from_bytes(n.as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    resp
}

/// A server that records every request and answers with `answer(n, &seen)`, `n` counting
/// from 0.
async fn recording<F>(answer: F) -> (HttpServer, Log)
where
    F: Fn(usize, &Seen) -> Response<BoxBody> + Send + Sync + 'static,
{
    let log: Log = Arc::default();
    let kept = log.clone();
    let answer = Arc::new(answer);
    let server = HttpServer::start(move |req| {
        let log = kept.clone();
        let answer = answer.clone();
        async move {
            let seen = read(req).await;
            let n = {
                let mut log = log.lock().expect("log");
                log.push(seen.clone());
                log.len() - 1
            };
            answer(n, &seen)
        }
    })
    .await;
    (server, log)
}

fn seen(log: &Log) -> Vec<Seen> {
    log.lock().expect("log").clone()
}

async fn send(b: RequestBuilder) -> Result<ClientResponse, ClientError> {
    tokio::time::timeout(Duration::from_secs(10), b)
        .await
        .expect("no hang")
}

/// Records "{name}>" on the way in and "<{name}" on the way out, and appends `x-order: name`.
fn tracer(name: &'static str, trace: Arc<Mutex<Vec<String>>>) -> impl Middleware {
    middleware::from_fn(move |mut req, next| {
        let trace = trace.clone();
        Box::pin(async move {
            trace.lock().expect("trace").push(format!("{name}>"));
            req.headers_mut()
                .append("x-order", HeaderValue::from_static(name));
            let resp = next.run(req).await;
            trace.lock().expect("trace").push(format!("<{name}"));
            resp
        })
    })
}

#[tokio::test]
async fn session_middlewares_run_in_order_first_outermost() {
    let (server, log) = recording(|_, _| respond(200, &[], "ok")).await;
    let trace = Arc::new(Mutex::new(Vec::new()));
    let s = ClientSession::builder()
        .middleware(tracer("a", trace.clone()))
        .middleware(tracer("b", trace.clone()))
        .middleware(tracer("c", trace.clone()))
        .build()
        .expect("session");
    let resp = send(s.get(server.url("/x"))).await.expect("response");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        *trace.lock().expect("trace"),
        ["a>", "b>", "c>", "<c", "<b", "<a"]
    );
    let got = seen(&log);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].all("x-order"), ["a", "b", "c"]);
    server.check();
}

#[tokio::test]
async fn a_middleware_changes_method_headers_and_body() {
    let (server, log) = recording(|_, _| respond(200, &[], "ok")).await;
    let s = ClientSession::builder()
        .header("X-Session", "s")
        .middleware(middleware::from_fn(|mut req, next| {
            // The head as built: the session's header, the automatic ones, the framing.
            assert_eq!(req.headers()["x-session"], "s");
            assert!(req.headers().contains_key("user-agent"));
            assert_eq!(req.headers()["content-length"], "5");
            assert_eq!(
                req.body().and_then(|b| b.as_bytes()).map(|b| b.to_vec()),
                Some(b"short".to_vec())
            );
            req.set_method(aiohttp::Method::PUT);
            req.headers_mut().remove("user-agent");
            req.headers_mut()
                .insert("x-added", HeaderValue::from_static("1"));
            req.set_body(Some(aiohttp::Body::from("a longer body")));
            next.run(req)
        }))
        .build()
        .expect("session");
    let resp = send(s.post(server.url("/p?q=1")).data("short"))
        .await
        .expect("response");
    assert_eq!(resp.status(), 200);
    // What the response reports of its request is what was sent.
    assert_eq!(resp.request_info().method(), aiohttp::Method::PUT);
    assert_eq!(resp.request_info().headers()["x-added"], "1");
    let got = seen(&log);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].method, "PUT");
    assert_eq!(got[0].target, "/p?q=1");
    assert_eq!(got[0].header("x-added"), Some("1"));
    assert_eq!(got[0].header("x-session"), Some("s"));
    assert_eq!(got[0].header("user-agent"), None);
    assert_eq!(got[0].header("content-length"), Some("13"));
    assert_eq!(got[0].body, b"a longer body");
    server.check();
}

#[tokio::test]
async fn a_middleware_sends_the_request_elsewhere() {
    let (elsewhere, log) = recording(|_, _| respond(200, &[], "moved")).await;
    let target = url::Url::parse(&elsewhere.url("/new")).expect("url");
    let s = ClientSession::builder()
        .middleware(middleware::from_fn(move |mut req, next| {
            let target = target.clone();
            Box::pin(async move {
                req.set_url(target)?;
                next.run(req).await
            })
        }))
        .build()
        .expect("session");
    // Nothing listens on the original port's path: only the new URL is reached.
    let mut resp = send(s.get("http://127.0.0.1:9/old"))
        .await
        .expect("response");
    assert_eq!(resp.text().await.expect("text"), "moved");
    let got = seen(&log);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].target, "/new");
    // Host follows the URL it named.
    let host = format!("127.0.0.1:{}", elsewhere.addr().port());
    assert_eq!(got[0].header("host"), Some(host.as_str()));
    elsewhere.check();
}

#[tokio::test]
async fn a_retry_calls_next_twice_with_the_same_body() {
    let (server, log) = recording(|n, _| {
        if n == 0 {
            respond(503, &[], "busy")
        } else {
            respond(200, &[], "ok")
        }
    })
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let retry = middleware::from_fn(move |req, next| {
        counted.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            let mut first = req.try_clone().expect("a replayable request");
            first
                .headers_mut()
                .insert("x-attempt", HeaderValue::from_static("1"));
            let resp = next.run(first).await?;
            if resp.status() != 503 {
                return Ok(resp);
            }
            let mut second = req;
            second
                .headers_mut()
                .insert("x-attempt", HeaderValue::from_static("2"));
            next.run(second).await
        })
    });
    let s = ClientSession::new();
    let resp = send(s.post(server.url("/r")).data("payload").middleware(retry))
        .await
        .expect("response");
    assert_eq!(resp.status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let got = seen(&log);
    assert_eq!(got.len(), 2);
    for (i, r) in got.iter().enumerate() {
        assert_eq!(r.header("x-attempt"), Some(["1", "2"][i]));
        assert_eq!(r.body, b"payload", "attempt {i}");
        assert_eq!(r.header("content-length"), Some("7"));
    }
    // A stream body cannot be sent twice.
    let stream = futures_util::stream::iter(vec![Ok::<_, std::io::Error>("x")]);
    let r = s
        .post(server.url("/s"))
        .data(aiohttp::Body::wrap_stream(stream))
        .middleware(middleware::from_fn(|req, next| {
            assert!(req.try_clone().is_none());
            next.run(req)
        }));
    assert_eq!(send(r).await.expect("response").status(), 200);
    server.check();
}

#[tokio::test]
async fn a_short_circuit_sends_nothing() {
    let (server, log) = recording(|_, _| respond(200, &[], "ok")).await;
    let s = ClientSession::builder()
        .middleware(middleware::from_fn(|_req, _next| {
            Box::pin(async move {
                Err(ClientError::new(
                    ErrorKind::ClientError,
                    "blocked by policy",
                ))
            })
        }))
        .build()
        .expect("session");
    let err = send(s.get(server.url("/x"))).await.expect_err("blocked");
    assert_eq!(err.kind(), ErrorKind::ClientError);
    assert_eq!(err.message(), "blocked by policy");
    assert_eq!(server.requests_received(), 0);
    assert_eq!(server.connections_accepted(), 0);
    assert!(seen(&log).is_empty());
    server.check();
}

fn tag(name: &'static str) -> Arc<dyn Middleware> {
    Arc::new(middleware::from_fn(move |mut req, next| {
        req.headers_mut()
            .append("x-mw", HeaderValue::from_static(name));
        next.run(req)
    }))
}

#[tokio::test]
async fn a_request_list_replaces_the_sessions_and_an_empty_one_disables_them() {
    let (server, log) = recording(|_, _| respond(200, &[], "ok")).await;
    let s = ClientSession::builder()
        .middlewares([tag("s1"), tag("s2")])
        .build()
        .expect("session");
    let url = server.url("/");
    for b in [
        s.get(&url),
        s.get(&url).middlewares([tag("r")]),
        s.get(&url).middleware(tag("r1")).middleware(tag("r2")),
        s.get(&url).middlewares([]),
    ] {
        assert_eq!(send(b).await.expect("response").status(), 200);
    }
    let got: Vec<Vec<String>> = seen(&log)
        .iter()
        .map(|r| r.all("x-mw").into_iter().map(String::from).collect())
        .collect();
    let want: [&[&str]; 4] = [&["s1", "s2"], &["r"], &["r1", "r2"], &[]];
    assert_eq!(got, want);
    server.check();
}

#[tokio::test]
async fn the_chain_runs_for_every_redirect_hop() {
    let (server, log) = recording(|_, seen| match seen.target.as_str() {
        "/a" => respond(302, &[("location", "/b".into())], ""),
        "/b" => respond(307, &[("location", "/c".into())], ""),
        _ => respond(200, &[], "done"),
    })
    .await;
    let hops = Arc::new(Mutex::new(Vec::new()));
    let kept = hops.clone();
    let s = ClientSession::builder()
        .middleware(middleware::from_fn(move |mut req, next| {
            let hops = kept.clone();
            Box::pin(async move {
                let path = req.url().path().to_string();
                req.headers_mut()
                    .insert("x-hop", HeaderValue::from_str(&path).expect("value"));
                let resp = next.run(req).await?;
                hops.lock()
                    .expect("hops")
                    .push((path, resp.status().as_u16()));
                Ok(resp)
            })
        }))
        .build()
        .expect("session");
    let resp = send(s.get(server.url("/a"))).await.expect("response");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.history().len(), 2);
    // Each hop, with the response the middleware saw: redirects are followed outside the chain.
    assert_eq!(
        *hops.lock().expect("hops"),
        [
            ("/a".to_string(), 302),
            ("/b".to_string(), 307),
            ("/c".to_string(), 200)
        ]
    );
    let got = seen(&log);
    let sent: Vec<(&str, Option<&str>)> = got
        .iter()
        .map(|r| (r.target.as_str(), r.header("x-hop")))
        .collect();
    assert_eq!(
        sent,
        [("/a", Some("/a")), ("/b", Some("/b")), ("/c", Some("/c"))]
    );
    server.check();
}

/// A middleware that asks `/token` (with the session it belongs to) before each request to
/// another path; `bypass`: the inner request skips the middlewares.
fn token_fetcher(
    session: Arc<OnceLock<ClientSession>>,
    calls: Arc<AtomicUsize>,
    bypass: bool,
) -> impl Middleware {
    middleware::from_fn(move |mut req, next| {
        let session = session.clone();
        let calls = calls.clone();
        Box::pin(async move {
            calls.fetch_add(1, Ordering::SeqCst);
            if req.url().path() != "/token" {
                let s = session.get().expect("session set");
                let mut token_url = req.url().clone();
                token_url.set_path("/token");
                let inner = s.get(token_url);
                let inner = if bypass { inner.middlewares([]) } else { inner };
                let mut resp = inner.await?;
                let token = resp.text().await?;
                req.headers_mut().insert(
                    "authorization",
                    HeaderValue::from_str(&format!("Bearer {token}")).expect("value"),
                );
            }
            req.headers_mut()
                .insert("x-through", HeaderValue::from_static("1"));
            next.run(req).await
        })
    })
}

#[tokio::test]
async fn a_middlewares_own_request_reenters_the_chain_unless_it_opts_out() {
    let (server, log) = recording(|_, seen| {
        if seen.target == "/token" {
            respond(200, &[], "t0k")
        } else {
            respond(200, &[], "data")
        }
    })
    .await;
    for bypass in [true, false] {
        log.lock().expect("log").clear();
        let slot = Arc::new(OnceLock::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let s = ClientSession::builder()
            .middleware(token_fetcher(slot.clone(), calls.clone(), bypass))
            .build()
            .expect("session");
        let _ = slot.set(s.clone());
        let resp = send(s.get(server.url("/data"))).await.expect("response");
        assert_eq!(resp.status(), 200);
        let got = seen(&log);
        assert_eq!(
            got.iter().map(|r| r.target.as_str()).collect::<Vec<_>>(),
            ["/token", "/data"]
        );
        assert_eq!(got[1].header("authorization"), Some("Bearer t0k"));
        // With `.middlewares([])` the inner request skips the chain: one call, and the token
        // request goes out untouched; without, it goes through the middleware again (as in
        // aiohttp), which lets it pass because of its path.
        let through = got[0].header("x-through").is_some();
        assert_eq!(through, !bypass, "bypass {bypass}");
        assert_eq!(calls.load(Ordering::SeqCst), if bypass { 1 } else { 2 });
    }
    server.check();
}

#[tokio::test]
async fn unbounded_recursion_through_the_session_fails_instead_of_hanging() {
    let (server, log) = recording(|_, _| respond(200, &[], "ok")).await;
    let slot: Arc<OnceLock<ClientSession>> = Arc::new(OnceLock::new());
    let calls = Arc::new(AtomicUsize::new(0));
    let (inner_slot, counted) = (slot.clone(), calls.clone());
    // Every request first makes another one with the same session, through the chain.
    let recursive = middleware::from_fn(move |req, next| {
        let slot = inner_slot.clone();
        let calls = counted.clone();
        Box::pin(async move {
            calls.fetch_add(1, Ordering::SeqCst);
            let s = slot.get().expect("session set");
            s.get(req.url().clone()).await?;
            next.run(req).await
        })
    });
    let s = ClientSession::builder()
        .middleware(recursive)
        .build()
        .expect("session");
    let _ = slot.set(s.clone());
    let err = send(s.get(server.url("/loop")))
        .await
        .expect_err("the depth limit");
    assert_eq!(err.kind(), ErrorKind::ClientError);
    assert!(err.message().contains("nested more than"), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), MAX_MIDDLEWARE_DEPTH);
    assert!(seen(&log).is_empty());
    assert_eq!(server.requests_received(), 0);
    server.check();
}

// ---- Digest ----------------------------------------------------------------------------

fn hash(alg: &str, data: &[u8]) -> String {
    use sha2::Digest as _;
    let bytes: Vec<u8> = match alg.to_ascii_uppercase().trim_end_matches("-SESS") {
        "MD5" => md5::Md5::digest(data).to_vec(),
        "SHA-256" => sha2::Sha256::digest(data).to_vec(),
        "SHA-512-256" => sha2::Sha512_256::digest(data).to_vec(),
        other => panic!("verifier has no {other}"),
    };
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The parameters of an `Authorization: Digest ...` line (no escapes in what these tests send).
fn digest_params(line: &str) -> Vec<(String, String)> {
    let rest = line.strip_prefix("Digest ").expect("a Digest answer");
    let mut out = Vec::new();
    let mut s = rest;
    while !s.is_empty() {
        let (name, after) = s.split_once('=').expect("name=value");
        let (value, after) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"').expect("closing quote");
            (&q[..end], &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        out.push((name.trim().to_string(), value.to_string()));
        s = after.trim_start_matches([',', ' ']);
    }
    out
}

/// How the digest server treats answers.
#[derive(Clone, Copy, PartialEq)]
enum Nonces {
    /// One nonce; every right answer passes.
    Fixed,
    /// Each right answer's nonce is then retired: the next answer with it is refused as
    /// `stale=true` with a new nonce.
    OneUse,
}

struct DigestServer {
    alg: &'static str,
    qop: Option<&'static str>,
    nonces: Nonces,
    /// Nonces issued; the last one is current.
    issued: Vec<String>,
    /// Nonce → the last nc seen.
    counts: Vec<(String, u32)>,
}

impl DigestServer {
    fn challenge(&mut self, stale: bool) -> Response<BoxBody> {
        let nonce = format!("nonce-{}", self.issued.len() + 1);
        self.issued.push(nonce.clone());
        let mut value = format!(
            "Digest realm=\"test@loopback\", nonce=\"{nonce}\", algorithm={}, opaque=\"op-aque\"",
            self.alg
        );
        if let Some(q) = self.qop {
            value.push_str(&format!(", qop=\"{q}\""));
        }
        if stale {
            value.push_str(", stale=true");
        }
        // A Basic challenge first: the client must pick the Digest one.
        respond(
            401,
            &[
                ("www-authenticate", "Basic realm=\"other\"".into()),
                ("www-authenticate", value),
            ],
            "unauthorized",
        )
    }

    /// Checks an answer with RFC 7616's formulas, independently of the crate.
    fn answer(&mut self, seen: &Seen) -> Response<BoxBody> {
        let Some(line) = seen.header("authorization") else {
            return self.challenge(false);
        };
        let p = digest_params(line);
        let get = |k: &str| {
            p.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("{k} missing from {line}"))
        };
        assert_eq!(get("username"), "user");
        assert_eq!(get("realm"), "test@loopback");
        assert_eq!(get("algorithm"), self.alg);
        assert_eq!(get("opaque"), "op-aque");
        assert_eq!(get("uri"), seen.target);
        let nonce = get("nonce").to_string();
        assert!(
            self.issued.contains(&nonce),
            "a nonce never issued: {nonce}"
        );
        let password = "pass word";
        let mut ha1 = hash(
            self.alg,
            format!("user:test@loopback:{password}").as_bytes(),
        );
        let qop = get("qop");
        let (nc, cnonce) = (get("nc"), get("cnonce"));
        assert_eq!(cnonce.len(), 32, "cnonce {cnonce}");
        if self.alg.to_ascii_uppercase().ends_with("-SESS") {
            ha1 = hash(self.alg, format!("{ha1}:{nonce}:{cnonce}").as_bytes());
        }
        let mut a2 = format!("{}:{}", seen.method, seen.target);
        if qop == "auth-int" {
            a2 = format!("{a2}:{}", hash(self.alg, &seen.body));
        }
        let ha2 = hash(self.alg, a2.as_bytes());
        let want = hash(
            self.alg,
            format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}").as_bytes(),
        );
        if get("response") != want {
            return self.challenge(false);
        }
        // The nonce count goes up by one per answer with a nonce.
        let nc = u32::from_str_radix(nc, 16).expect("hex nc");
        let last = self
            .counts
            .iter()
            .find(|(n, _)| *n == nonce)
            .map_or(0, |(_, c)| *c);
        assert_eq!(nc, last + 1, "nc for {nonce}");
        self.counts.retain(|(n, _)| *n != nonce);
        self.counts.push((nonce.clone(), nc));
        let current = self.issued.last() == Some(&nonce);
        if !current || (self.nonces == Nonces::OneUse && nc > 1) {
            return self.challenge(true);
        }
        respond(200, &[], "welcome")
    }
}

async fn digest_server(
    alg: &'static str,
    qop: Option<&'static str>,
    nonces: Nonces,
) -> (HttpServer, Log) {
    let state = Mutex::new(DigestServer {
        alg,
        qop,
        nonces,
        issued: Vec::new(),
        counts: Vec::new(),
    });
    recording(move |_, seen| state.lock().expect("state").answer(seen)).await
}

/// (nonce, nc) of each request's answer, `None` for a request without one.
fn answers(log: &[Seen]) -> Vec<Option<(String, String)>> {
    log.iter()
        .map(|r| {
            r.header("authorization").map(|line| {
                let p = digest_params(line);
                let get = |k: &str| {
                    p.iter()
                        .find(|(n, _)| n == k)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                (get("nonce"), get("nc"))
            })
        })
        .collect()
}

fn some(nonce: &str, nc: &str) -> Option<(String, String)> {
    Some((nonce.to_string(), nc.to_string()))
}

#[tokio::test]
async fn digest_answers_the_challenge_then_preemptively() {
    for alg in ["MD5", "SHA-256", "SHA-512-256", "MD5-sess", "SHA-256-sess"] {
        let (server, log) = digest_server(alg, Some("auth"), Nonces::Fixed).await;
        let auth = Arc::new(DigestAuth::new("user", "pass word").expect("auth"));
        let s = ClientSession::builder()
            .middleware(auth.clone())
            .build()
            .expect("session");
        let mut resp = send(s.get(server.url("/private?a=1&b=%20")))
            .await
            .expect("response");
        assert_eq!(resp.status(), 200, "{alg}");
        assert_eq!(resp.text().await.expect("text"), "welcome");
        let resp = send(s.get(server.url("/private/2")))
            .await
            .expect("response");
        assert_eq!(resp.status(), 200, "{alg}");
        let got = seen(&log);
        assert_eq!(
            answers(&got),
            [
                None,
                some("nonce-1", "00000001"),
                some("nonce-1", "00000002")
            ],
            "{alg}"
        );
        let cnonce = |r: &Seen| {
            digest_params(r.header("authorization").unwrap_or(""))
                .into_iter()
                .find(|(n, _)| n == "cnonce")
                .map(|(_, v)| v)
        };
        assert_ne!(cnonce(&got[1]), cnonce(&got[2]), "a fresh cnonce each time");
        server.check();
    }
}

#[tokio::test]
async fn digest_auth_int_covers_the_body() {
    let (server, log) = digest_server("SHA-256", Some("auth-int"), Nonces::Fixed).await;
    let s = ClientSession::new();
    let resp = send(
        s.post(server.url("/upload"))
            .data("the body")
            .middleware(DigestAuth::new("user", "pass word").expect("auth")),
    )
    .await
    .expect("response");
    assert_eq!(resp.status(), 200);
    let got = seen(&log);
    assert_eq!(got.len(), 2);
    assert!(got
        .iter()
        .all(|r| r.body == b"the body" && r.method == "POST"));
    assert!(got[1]
        .header("authorization")
        .is_some_and(|l| l.contains("qop=auth-int")));
    server.check();
}

#[tokio::test]
async fn a_stale_nonce_is_replaced_once() {
    // Preemptive: the second request's answer reuses nonce-1, refused as stale; the retry uses
    // the new nonce, its count starting again at 1.
    let (server, log) = digest_server("MD5", Some("auth"), Nonces::OneUse).await;
    let auth = Arc::new(DigestAuth::new("user", "pass word").expect("auth"));
    let s = ClientSession::builder()
        .middleware(auth)
        .build()
        .expect("session");
    for _ in 0..2 {
        let resp = send(s.get(server.url("/p"))).await.expect("response");
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(
        answers(&seen(&log)),
        [
            None,
            some("nonce-1", "00000001"),
            some("nonce-1", "00000002"),
            some("nonce-2", "00000001"),
        ]
    );
    server.check();
}

/// A server whose every first answer to a nonce is refused as stale: the answer to the
/// challenge of a 401 needs the extra stale retry.
async fn always_stale() -> (HttpServer, Log) {
    let state = Mutex::new((0usize, Vec::<String>::new()));
    recording(move |_, seen| {
        let mut st = state.lock().expect("state");
        let accept = seen
            .header("authorization")
            .is_some_and(|l| l.contains(&format!("nonce=\"n{}\"", st.0)) && st.1.len() > 1);
        if accept {
            return respond(200, &[], "welcome");
        }
        st.0 += 1;
        let nonce = format!("n{}", st.0);
        st.1.push(nonce.clone());
        let stale = if seen.headers.contains_key("authorization") {
            ", stale=true"
        } else {
            ""
        };
        respond(
            401,
            &[(
                "www-authenticate",
                format!("Digest realm=\"r\", nonce=\"{nonce}\", qop=\"auth\"{stale}"),
            )],
            "",
        )
    })
    .await
}

#[tokio::test]
async fn the_answer_to_a_challenge_refused_as_stale_is_retried_once_with_the_new_nonce() {
    let (server, log) = always_stale().await;
    let s = ClientSession::new();
    let resp = send(
        s.get(server.url("/p"))
            .middleware(DigestAuth::new("user", "pw").expect("auth")),
    )
    .await
    .expect("response");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        answers(&seen(&log)),
        [None, some("n1", "00000001"), some("n2", "00000001")]
    );
    server.check();

    // With the stale retry turned off, the stale 401 is the response.
    let (server, log) = always_stale().await;
    let resp = send(
        s.get(server.url("/p")).middleware(
            DigestAuth::new("user", "pw")
                .expect("auth")
                .stale_retry(false),
        ),
    )
    .await
    .expect("response");
    assert_eq!(resp.status(), 401);
    assert_eq!(seen(&log).len(), 2);
    server.check();
}

#[tokio::test]
async fn a_wrong_password_gets_the_401_back_without_a_loop() {
    let (server, log) = digest_server("SHA-256", Some("auth"), Nonces::Fixed).await;
    let s = ClientSession::builder()
        .middleware(DigestAuth::new("user", "wrong").expect("auth"))
        .build()
        .expect("session");
    for round in 0..2 {
        let resp = send(s.get(server.url("/p"))).await.expect("response");
        assert_eq!(resp.status(), 401, "round {round}");
        assert!(resp
            .headers()
            .get_all("www-authenticate")
            .iter()
            .any(|v| v.to_str().unwrap_or("").starts_with("Digest")));
    }
    // Two requests each: the first without an answer, then preemptive; one retry each.
    let got = answers(&seen(&log));
    assert_eq!(got.len(), 4);
    assert_eq!(got[0], None);
    assert!(got[1..].iter().all(Option::is_some));
    server.check();
}

#[tokio::test]
async fn digest_credentials_stay_on_their_origin() {
    let (other, other_log) = digest_server("MD5", Some("auth"), Nonces::Fixed).await;
    let to_other = other.url("/elsewhere");
    let (home, home_log) =
        recording(
            move |_, seen| match (seen.target.as_str(), seen.header("authorization")) {
                (_, None) => respond(
                    401,
                    &[(
                        "www-authenticate",
                        "Digest realm=\"test@loopback\", nonce=\"h\", qop=\"auth\"".into(),
                    )],
                    "",
                ),
                ("/go", Some(_)) => respond(302, &[("location", to_other.clone())], ""),
                _ => respond(200, &[], "home"),
            },
        )
        .await;
    let s = ClientSession::builder()
        .middleware(DigestAuth::new("user", "pass word").expect("auth"))
        .build()
        .expect("session");
    let resp = send(s.get(home.url("/go"))).await.expect("response");
    // The other origin challenges too, but gets no answer: its 401 is the response.
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.history().len(), 1);
    assert_eq!(answers(&seen(&home_log)).len(), 2);
    let got = seen(&other_log);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("authorization"), None);
    home.check();
    other.check();
}
