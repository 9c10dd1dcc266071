//! Redirects end to end against local servers: status rules, history, limits, Location
//! handling, credentials across origins, timeouts, base_url.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aiohttp::{
    BasicAuth, Body, ClientResponse, ClientSession, ClientTimeout, CookieJar, ErrorKind, Method,
    RequestBuilder,
};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use test_support::{full, BoxBody, HttpServer, Incoming, RawServer};

/// A JSON description of the request: method, target, headers (lowercase names, repeated
/// values kept), body.
async fn describe(req: Request<Incoming>) -> Response<BoxBody> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let mut headers = serde_json::Map::new();
    for (name, value) in &parts.headers {
        let list = headers
            .entry(name.as_str())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = list {
            list.push(Value::from(String::from_utf8_lossy(value.as_bytes())));
        }
    }
    let v = json!({
        "method": parts.method.as_str(),
        "target": parts.uri.path_and_query().map_or("/", |pq| pq.as_str()),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    });
    let mut resp = Response::new(full(v.to_string()));
    resp.headers_mut()
        .insert("content-type", "application/json".parse().expect("value"));
    resp
}

fn redirect_to(status: u16, location: &str) -> Response<BoxBody> {
    let mut resp = Response::new(full(format!("moved to {location}")));
    *resp.status_mut() = StatusCode::from_u16(status).expect("status");
    resp.headers_mut()
        .insert("location", location.parse().expect("location"));
    resp
}

/// A server that answers `/r/{status}/{rest}` with `status` and `Location: /{rest}`, and
/// describes every other request.
async fn redirector() -> HttpServer {
    HttpServer::start(|req: Request<Incoming>| async move {
        let path = req.uri().path().to_string();
        if let Some(rest) = path.strip_prefix("/r/") {
            let (status, to) = rest.split_once('/').unwrap_or((rest, ""));
            return redirect_to(status.parse().unwrap_or(302), &format!("/{to}"));
        }
        describe(req).await
    })
    .await
}

async fn json_of(mut resp: ClientResponse) -> Value {
    assert_eq!(resp.status(), 200, "{resp:?}");
    resp.json().await.expect("json body")
}

async fn send(b: RequestBuilder) -> ClientResponse {
    tokio::time::timeout(Duration::from_secs(10), b)
        .await
        .expect("no hang")
        .expect("request succeeds")
}

fn header(v: &Value, name: &str) -> Option<String> {
    let list = v["headers"][name].as_array()?;
    let values: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
    Some(values.join(", "))
}

#[tokio::test]
async fn each_redirect_status_sets_method_and_body_as_aiohttp() {
    let server = redirector().await;
    let s = ClientSession::new();
    // (status, method, expected method, body kept)
    let table = [
        (301, "POST", "GET", false),
        (302, "POST", "GET", false),
        (303, "POST", "GET", false),
        (307, "POST", "POST", true),
        (308, "POST", "POST", true),
        (301, "PUT", "PUT", true),
        (302, "PATCH", "PATCH", true),
        (303, "PUT", "GET", false),
        (303, "DELETE", "GET", false),
        (307, "PUT", "PUT", true),
        (308, "DELETE", "DELETE", true),
    ];
    for (status, method, want, kept) in table {
        let url = server.url(&format!("/r/{status}/landed"));
        let resp = send(
            s.request(method, url)
                .data("payload")
                .header("Content-Type", "text/x-custom"),
        )
        .await;
        assert_eq!(resp.history().len(), 1, "{status} {method}");
        assert_eq!(resp.history()[0].status().as_u16(), status);
        assert_eq!(resp.history()[0].method().as_str(), method);
        assert_eq!(resp.method().as_str(), want, "{status} {method}");
        assert_eq!(resp.url().path(), "/landed");
        let v = json_of(resp).await;
        assert_eq!(v["method"], want, "{status} {method}");
        assert_eq!(v["body"], if kept { "payload" } else { "" });
        let ct = header(&v, "content-type");
        assert_eq!(
            ct.as_deref(),
            kept.then_some("text/x-custom"),
            "{status} {method}"
        );
        let cl = header(&v, "content-length");
        assert_eq!(cl.as_deref(), kept.then_some("7"), "{status} {method}");
    }
}

#[tokio::test]
async fn head_keeps_its_method_and_does_not_follow_by_default() {
    let server = redirector().await;
    let s = ClientSession::new();
    let resp = send(s.head(server.url("/r/302/landed"))).await;
    assert_eq!(resp.status(), 302);
    assert!(resp.history().is_empty());
    let resp = send(s.head(server.url("/r/303/landed")).allow_redirects(true)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.method(), Method::HEAD);
    assert_eq!(resp.request_info().method(), Method::HEAD);
    assert_eq!(server.requests_received(), 3);
}

#[tokio::test]
async fn history_is_earliest_first_and_url_is_final() {
    let server = redirector().await;
    let s = ClientSession::new();
    let mut resp = send(s.get(server.url("/r/301/r/302/r/307/end?q=1"))).await;
    let seen: Vec<(u16, String)> = resp
        .history()
        .iter()
        .map(|r| (r.status().as_u16(), r.url().path().to_string()))
        .collect();
    assert_eq!(
        seen,
        [
            (301, "/r/301/r/302/r/307/end".to_string()),
            (302, "/r/302/r/307/end".to_string()),
            (307, "/r/307/end".to_string()),
        ]
    );
    assert_eq!(resp.url().as_str(), server.url("/end"));
    assert!(resp.history().iter().all(|r| r.history().is_empty()));
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["target"], "/end");
}

#[tokio::test]
async fn redirect_bodies_are_read_and_their_connections_reused() {
    let server = redirector().await;
    let s = ClientSession::new();
    let mut resp = send(s.get(server.url("/r/302/r/302/r/302/end"))).await;
    resp.read().await.expect("body");
    assert_eq!(server.requests_received(), 4);
    assert_eq!(
        server.connections_accepted(),
        1,
        "one keep-alive connection"
    );
    let mut again = send(s.get(server.url("/r/302/end"))).await;
    assert_eq!(server.connections_accepted(), 1);
    again.read().await.expect("body");
    let stats = s.connector().pool().stats();
    assert_eq!(stats.open, 1, "{stats:?}");
}

#[tokio::test]
async fn history_bodies_can_be_read() {
    let server = redirector().await;
    let s = ClientSession::new();
    let mut resp = send(s.get(server.url("/r/302/r/301/end"))).await;
    let mut bodies = Vec::new();
    for r in resp.history_mut() {
        bodies.push(r.text().await.expect("history body"));
    }
    assert_eq!(bodies, ["moved to /r/301/end", "moved to /end"]);
    resp.read().await.expect("body");
}

#[tokio::test]
async fn max_redirects_is_a_limit_on_redirects_followed() {
    let server = redirector().await;
    let s = ClientSession::new();
    let chain = |n: usize| format!("{}end", "r/302/".repeat(n));
    // The default: 10 redirects are followed, the 11th is an error.
    let resp = send(s.get(server.url(&chain(10)))).await;
    assert_eq!(resp.history().len(), 10);
    let before = server.requests_received();
    let err = s
        .get(server.url(&chain(11)))
        .await
        .expect_err("one too many");
    assert_eq!(err.kind(), ErrorKind::TooManyRedirects);
    assert!(err.is_client_response_error() && err.is_too_many_redirects());
    assert_eq!(err.history().len(), 11, "every redirect received");
    assert_eq!(
        server.requests_received() - before,
        11,
        "the 11th is not followed"
    );
    assert_eq!(err.status().map(|s| s.as_u16()), Some(302));
    let first = err.request_info().expect("request info").url().clone();
    assert_eq!(first.as_str(), server.url(&chain(11)));
    assert_eq!(err.url().map(|u| u.as_str()), Some(first.as_str()));
    let last = err.history().last().expect("last");
    assert_eq!(last.url().as_str(), server.url(&format!("/{}", chain(1))));

    let err = s
        .get(server.url(&chain(3)))
        .max_redirects(2)
        .await
        .expect_err("limit 2");
    assert_eq!(err.history().len(), 3);
    let resp = send(s.get(server.url(&chain(2))).max_redirects(2)).await;
    assert_eq!(resp.history().len(), 2);
    let err = s
        .get(server.url(&chain(1)))
        .max_redirects(0)
        .await
        .expect_err("limit 0");
    assert!(err.is_too_many_redirects());
    assert_eq!(err.history().len(), 1);
}

#[tokio::test]
async fn allow_redirects_false_returns_the_redirect() {
    let server = redirector().await;
    let s = ClientSession::new();
    let mut resp = send(s.post(server.url("/r/307/end")).allow_redirects(false)).await;
    assert_eq!(resp.status(), 307);
    assert_eq!(resp.headers()["location"], "/end");
    assert!(resp.history().is_empty());
    assert_eq!(resp.text().await.expect("body"), "moved to /end");
    assert_eq!(server.requests_received(), 1);
}

#[tokio::test]
async fn a_redirect_without_location_is_the_response() {
    let server =
        RawServer::reply("HTTP/1.1 302 Found\r\nContent-Length: 4\r\nX-Why: nowhere\r\n\r\nnope")
            .await;
    let mut resp = send(ClientSession::new().get(server.url("/"))).await;
    assert_eq!(resp.status(), 302);
    assert!(resp.history().is_empty());
    assert_eq!(resp.text().await.expect("body"), "nope");
    let server =
        RawServer::reply("HTTP/1.1 301 Moved\r\nLocation: \r\nContent-Length: 0\r\n\r\n").await;
    let resp = send(ClientSession::new().get(server.url("/"))).await;
    assert_eq!(resp.status(), 301, "an empty Location is no Location");
}

#[tokio::test]
async fn relative_locations_fragments_and_params() {
    let server = HttpServer::start(|req: Request<Incoming>| async move {
        match req.uri().path() {
            "/a/b" => redirect_to(302, "c?y=2#frag"),
            _ => describe(req).await,
        }
    })
    .await;
    let s = ClientSession::new();
    let resp = send(s.get(server.url("/a/b?x=1")).params([("p", "1")])).await;
    assert_eq!(
        resp.history()[0].request_info().url().as_str(),
        server.url("/a/b?x=1&p=1")
    );
    assert_eq!(
        resp.url().as_str(),
        server.url("/a/c?y=2"),
        "no fragment, no params"
    );
    assert_eq!(resp.real_url().fragment(), Some("frag"));
    let v = json_of(resp).await;
    assert_eq!(v["target"], "/a/c?y=2");
}

#[tokio::test]
async fn requote_redirect_url_on_the_session() {
    let server = RawServer::start(|mut conn| async move {
        while let Some(req) = conn.read_request().await {
            let reply = if req.path.starts_with("/start") {
                "HTTP/1.1 302 Found\r\nLocation: /a%7eb%2fc?q=%7e\r\nContent-Length: 0\r\n\r\n"
            } else {
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
            };
            if conn.write(reply).await.is_err() {
                break;
            }
        }
    })
    .await;
    let s = ClientSession::new();
    assert!(s.requote_redirect_url());
    let resp = send(s.get(server.url("/start"))).await;
    assert_eq!(resp.url().path(), "/a~b%2Fc");
    s.set_requote_redirect_url(false);
    let resp = send(s.get(server.url("/start"))).await;
    assert_eq!(resp.url().path(), "/a%7eb%2fc");
    let off = ClientSession::builder()
        .requote_redirect_url(false)
        .build()
        .expect("session");
    let resp = send(off.get(server.url("/start"))).await;
    assert_eq!(resp.url().query(), Some("q=%7e"));
    let targets: Vec<String> = server.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        targets,
        [
            "/start",
            "/a~b%2Fc?q=~",
            "/start",
            "/a%7eb%2fc?q=%7e",
            "/start",
            "/a%7eb%2fc?q=%7e"
        ]
    );
}

#[tokio::test]
async fn bad_locations_are_errors_naming_the_url() {
    let cases = [
        (
            "ftp://files.test/x",
            ErrorKind::NonHttpUrlRedirectClientError,
        ),
        (
            "javascript:alert(1)",
            ErrorKind::NonHttpUrlRedirectClientError,
        ),
        ("http://[::1/", ErrorKind::InvalidUrlRedirectClientError),
        (
            "http://exa mple.test/",
            ErrorKind::InvalidUrlRedirectClientError,
        ),
    ];
    for (location, kind) in cases {
        let server = RawServer::reply(format!(
            "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
        ))
        .await;
        let err = ClientSession::new()
            .get(server.url("/"))
            .await
            .expect_err(location);
        assert_eq!(err.kind(), kind, "{location}: {err}");
        assert!(err.is_invalid_url() && err.is_redirect_url_error());
        assert!(err.to_string().contains(location), "{err} names {location}");
        assert_eq!(server.requests().len(), 1);
    }
}

#[tokio::test]
async fn a_spent_stream_body_is_never_replayed_as_empty() {
    let server = redirector().await;
    let s = ClientSession::new();
    for status in [307, 308] {
        let chunks = futures_util::stream::iter(vec![Ok::<_, std::io::Error>("streamed")]);
        let err = s
            .post(server.url(&format!("/r/{status}/end")))
            .data(Body::wrap_stream(chunks))
            .await
            .expect_err("cannot replay");
        assert_eq!(err.kind(), ErrorKind::ClientPayloadError, "{status}: {err}");
    }
    assert_eq!(
        server.requests_received(),
        2,
        "nothing sent after the redirect"
    );
    // A redirect that drops the body does not need it.
    let chunks = futures_util::stream::iter(vec![Ok::<_, std::io::Error>("streamed")]);
    let resp = send(
        s.post(server.url("/r/303/end"))
            .data(Body::wrap_stream(chunks)),
    )
    .await;
    let v = json_of(resp).await;
    assert_eq!(v["method"], "GET");
    // An in-memory body is replayed whole.
    let resp = send(s.put(server.url("/r/308/end")).data(vec![7u8; 3000])).await;
    let v = json_of(resp).await;
    assert_eq!(v["body"].as_str().map(str::len), Some(3000));
}

/// Two servers on different ports: the first redirects `/go` to the second, which describes
/// what it received.
async fn two_origins() -> (HttpServer, HttpServer) {
    let second = HttpServer::start(describe).await;
    let target = second.url("/landing");
    let first = HttpServer::start(move |req: Request<Incoming>| {
        let target = target.clone();
        async move {
            match req.uri().path() {
                "/go" => redirect_to(307, &target),
                "/same" => redirect_to(302, "/here"),
                _ => describe(req).await,
            }
        }
    })
    .await;
    (first, second)
}

#[tokio::test]
async fn crossing_origins_sends_no_credential_of_the_request() {
    let (first, second) = two_origins().await;
    let s = ClientSession::builder()
        .header("X-Session", "s")
        .build()
        .expect("session");
    let resp = send(
        s.post(first.url("/go"))
            .data("body")
            .auth(BasicAuth::new("user", "secret").expect("auth"))
            .header("Proxy-Authorization", "Basic cHJveHk6cHc=")
            .header("Cookie", "explicit=1")
            .header("X-Request", "r")
            .cookies([("own", "1")]),
    )
    .await;
    assert_eq!(resp.history().len(), 1);
    let sent_first = resp.history()[0].request_info().headers();
    assert!(sent_first.contains_key("authorization"));
    assert_eq!(sent_first["cookie"], "explicit=1; own=1");
    let v = json_of(resp).await;
    assert_eq!(v["target"], "/landing");
    assert_eq!(v["method"], "POST");
    assert_eq!(v["body"], "body");
    for name in ["authorization", "proxy-authorization", "cookie"] {
        assert_eq!(header(&v, name), None, "{name} reached the second origin");
    }
    assert_eq!(header(&v, "x-session").as_deref(), Some("s"));
    assert_eq!(header(&v, "x-request").as_deref(), Some("r"));
    assert_eq!(second.requests_received(), 1);
}

#[tokio::test]
async fn session_auth_and_headers_stay_on_their_origin() {
    let (first, second) = two_origins().await;
    let s = ClientSession::builder()
        .auth(BasicAuth::new("session", "pw").expect("auth"))
        .header("Cookie", "session_header=1")
        .cookies([("shared", "everywhere")])
        .build()
        .expect("session");
    // Same origin: everything is kept.
    let v = json_of(send(s.get(first.url("/same"))).await).await;
    assert_eq!(v["target"], "/here");
    let want = BasicAuth::new("session", "pw").expect("auth").encode();
    assert_eq!(header(&v, "authorization"), Some(want));
    assert_eq!(
        header(&v, "cookie").as_deref(),
        Some("session_header=1; shared=everywhere")
    );
    // Another origin: the session's credentials stay behind; the jar's shared cookies are
    // recomputed for the new URL and go along.
    let v = json_of(send(s.get(first.url("/go"))).await).await;
    assert_eq!(v["target"], "/landing");
    assert_eq!(header(&v, "authorization"), None);
    assert_eq!(header(&v, "cookie").as_deref(), Some("shared=everywhere"));
    assert_eq!(second.requests_received(), 1);
}

#[tokio::test]
async fn cookies_set_on_hops_apply_to_the_next_hop() {
    let server = HttpServer::start(|req: Request<Incoming>| async move {
        let set = |mut r: Response<BoxBody>, cookies: &[&str]| {
            for c in cookies {
                r.headers_mut()
                    .append("set-cookie", c.parse().expect("cookie"));
            }
            r
        };
        match req.uri().path() {
            "/one" => set(redirect_to(302, "/two"), &["a=1; Path=/", "gone=1; Path=/"]),
            "/two" => {
                let seen = req
                    .headers()
                    .get("cookie")
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .unwrap_or_default();
                set(
                    redirect_to(303, &format!("/three?seen={}", seen.replace(' ', ""))),
                    &["a=2; Path=/", "b=1; Path=/", "gone=; Max-Age=0; Path=/"],
                )
            }
            _ => describe(req).await,
        }
    })
    .await;
    let s = ClientSession::builder()
        .cookie_jar(CookieJar::new().unsafe_(true))
        .build()
        .expect("session");
    let resp = send(s.get(server.url("/one"))).await;
    assert_eq!(resp.history()[0].cookies().len(), 2);
    let v = json_of(resp).await;
    assert_eq!(v["target"], "/three?seen=a=1;gone=1");
    assert_eq!(header(&v, "cookie").as_deref(), Some("a=2; b=1"));
    assert_eq!(s.cookie_jar().len(), 2);
}

#[tokio::test]
async fn the_total_timeout_covers_every_hop() {
    let hops = Arc::new(AtomicUsize::new(0));
    let counter = hops.clone();
    let server = HttpServer::start(move |req: Request<Incoming>| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(250)).await;
            let n: u32 = req
                .uri()
                .path()
                .trim_start_matches('/')
                .parse()
                .unwrap_or(0);
            if n == 0 {
                return describe(req).await;
            }
            redirect_to(302, &format!("/{}", n - 1))
        }
    })
    .await;
    let s = ClientSession::new();
    let started = std::time::Instant::now();
    let err = s
        .get(server.url("/6"))
        .timeout(ClientTimeout::total(Duration::from_millis(800)))
        .await
        .expect_err("six hops of 250 ms do not fit in 800 ms");
    assert!(err.is_timeout(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(hops.load(Ordering::SeqCst) < 6, "stopped before the end");
    // The same chain fits in a larger total.
    let resp = send(
        s.get(server.url("/2"))
            .timeout(ClientTimeout::total(Duration::from_secs(5))),
    )
    .await;
    assert_eq!(resp.history().len(), 2);
}

#[tokio::test]
async fn raise_for_status_applies_to_the_final_response() {
    let server = HttpServer::start(|req: Request<Incoming>| async move {
        match req.uri().path() {
            "/to-missing" => redirect_to(302, "/missing"),
            "/to-ok" => redirect_to(302, "/ok"),
            "/missing" => {
                let mut r = Response::new(full("no"));
                *r.status_mut() = StatusCode::NOT_FOUND;
                r
            }
            _ => describe(req).await,
        }
    })
    .await;
    let strict = ClientSession::builder()
        .raise_for_status(true)
        .build()
        .expect("session");
    let err = strict
        .get(server.url("/to-missing"))
        .await
        .expect_err("404 at the end");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(404));
    assert_eq!(
        err.request_info()
            .map(|i| i.url().path().to_string())
            .as_deref(),
        Some("/missing")
    );
    // As aiohttp's, the error carries the redirects that led to the response.
    let hops: Vec<(u16, String)> = err
        .history()
        .iter()
        .map(|r| (r.status().as_u16(), r.url().path().to_string()))
        .collect();
    assert_eq!(hops, [(302, "/to-missing".to_string())]);
    let resp = send(strict.get(server.url("/to-ok"))).await;
    assert_eq!(resp.status(), 200);
    let resp = send(
        strict
            .get(server.url("/to-missing"))
            .raise_for_status(false),
    )
    .await;
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.history().len(), 1);
    let lax = ClientSession::new();
    let err = lax
        .get(server.url("/to-missing"))
        .raise_for_status(true)
        .await
        .expect_err("per request");
    assert!(err.is_client_response_error());
}

#[tokio::test]
async fn base_url_joins_relative_urls_and_absolute_ones_win() {
    let api = HttpServer::start(describe).await;
    let other = HttpServer::start(describe).await;
    let s = ClientSession::builder()
        .base_url(api.url("/api/v1/"))
        .auth(BasicAuth::new("u", "p").expect("auth"))
        .build()
        .expect("session");
    let v = json_of(send(s.get("users?id=7")).await).await;
    assert_eq!(v["target"], "/api/v1/users?id=7");
    assert!(header(&v, "authorization").is_some());
    let v = json_of(send(s.post("/root").data("x")).await).await;
    assert_eq!(v["target"], "/root");
    let v = json_of(send(s.get(other.url("/elsewhere"))).await).await;
    assert_eq!(v["target"], "/elsewhere");
    assert_eq!(
        header(&v, "authorization"),
        None,
        "the session's auth is for the base's origin"
    );
    assert_eq!(api.requests_received(), 2);
    assert_eq!(other.requests_received(), 1);
}

#[tokio::test]
async fn auth_arguments_that_conflict_fail_before_sending() {
    let server = HttpServer::start(describe).await;
    let url_with_creds = server.url("/").replacen("://", "://a:b@", 1);
    let err = ClientSession::new()
        .get(url_with_creds.as_str())
        .auth(BasicAuth::new("c", "d").expect("auth"))
        .await
        .expect_err("both");
    assert!(err.is_invalid_argument());
    let session_auth = ClientSession::builder()
        .auth(BasicAuth::new("c", "d").expect("auth"))
        .build()
        .expect("session");
    let err = session_auth
        .get(server.url("/"))
        .header("Authorization", "Bearer t")
        .await
        .expect_err("session auth and a header");
    assert!(err.is_invalid_argument());
    assert_eq!(server.requests_received(), 0);
    // URL credentials are sent, encoded as Basic auth (latin-1 by default).
    let v = json_of(send(ClientSession::new().get(url_with_creds.as_str())).await).await;
    assert_eq!(
        header(&v, "authorization"),
        Some(BasicAuth::new("a", "b").expect("auth").encode())
    );
    let utf8 = BasicAuth::new("us\u{e9}r", "p\u{e4}ss")
        .expect("auth")
        .with_encoding("utf-8")
        .expect("utf-8");
    let v = json_of(send(ClientSession::new().get(server.url("/")).auth(utf8.clone())).await).await;
    assert_eq!(header(&v, "authorization"), Some(utf8.encode()));
}

#[tokio::test]
async fn a_redirect_to_a_closed_port_reports_the_connection_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let target = format!("http://127.0.0.1:{port}/gone");
    let seen = Arc::new(Mutex::new(0));
    let seen2 = seen.clone();
    let server = HttpServer::start(move |_req| {
        let target = target.clone();
        let seen = seen2.clone();
        async move {
            *seen.lock().unwrap_or_else(|p| p.into_inner()) += 1;
            redirect_to(302, &target)
        }
    })
    .await;
    let err = ClientSession::new()
        .get(server.url("/"))
        .await
        .expect_err("refused");
    assert!(err.is_client_connector_error(), "{err:?}");
    assert_eq!(err.port(), Some(port));
    assert_eq!(*seen.lock().unwrap_or_else(|p| p.into_inner()), 1);
}
