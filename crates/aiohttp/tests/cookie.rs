//! Cookies end to end against local servers: the jar's storage and matching rules as seen on
//! the wire, request cookies, DummyCookieJar, and saving and loading a jar.

use std::time::Duration;

use aiohttp::{AbstractCookieJar, ClientResponse, ClientSession, CookieJar, DummyCookieJar, Url};
use http::{Request, Response};
use test_support::{full, HttpServer, Incoming, RawServer};

/// Answers `/set?c=<Set-Cookie>&c=...` with those `Set-Cookie` headers; every response's body
/// is the `Cookie` header received (empty without one).
async fn cookie_server() -> HttpServer {
    HttpServer::start(|req: Request<Incoming>| async move {
        let received = req
            .headers()
            .get("cookie")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        let mut resp = Response::new(full(received));
        if req.uri().path().ends_with("/set") {
            let query = req.uri().query().unwrap_or("");
            for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
                if k == "c" {
                    if let Ok(v) = v.parse() {
                        resp.headers_mut().append("set-cookie", v);
                    }
                }
            }
        }
        resp
    })
    .await
}

fn set_url(server: &HttpServer, path: &str, cookies: &[&str]) -> String {
    let mut url = Url::parse(&server.url(path)).expect("url");
    {
        let mut q = url.query_pairs_mut();
        for c in cookies {
            q.append_pair("c", c);
        }
    }
    url.to_string()
}

async fn sent(resp: aiohttp::RequestBuilder) -> String {
    let mut resp: ClientResponse = tokio::time::timeout(Duration::from_secs(10), resp)
        .await
        .expect("no hang")
        .expect("request");
    resp.text().await.expect("body")
}

fn unsafe_session() -> (ClientSession, CookieJar) {
    let jar = CookieJar::new().unsafe_(true);
    let s = ClientSession::builder()
        .cookie_jar(jar.clone())
        .build()
        .expect("session");
    (s, jar)
}

#[tokio::test]
async fn response_cookies_are_stored_and_sent_back() {
    let server = cookie_server().await;
    let (s, jar) = unsafe_session();
    let resp = s
        .get(set_url(&server, "/set", &["a=1", "b=2; Path=/; HttpOnly"]))
        .await
        .expect("set");
    let parsed: Vec<(&str, &str)> = resp.cookies().iter().map(|c| c.name_value()).collect();
    assert_eq!(parsed, [("a", "1"), ("b", "2")]);
    drop(resp);
    assert_eq!(jar.len(), 2);
    assert_eq!(sent(s.get(server.url("/next"))).await, "a=1; b=2");
    // A later value replaces the earlier one.
    let _ = sent(s.get(set_url(&server, "/set", &["a=3"]))).await;
    assert_eq!(sent(s.get(server.url("/"))).await, "a=3; b=2");
}

#[tokio::test]
async fn cookies_from_ip_hosts_are_refused_by_default() {
    let server = cookie_server().await;
    let s = ClientSession::new();
    let resp = s
        .get(set_url(&server, "/set", &["a=1"]))
        .await
        .expect("set");
    assert_eq!(resp.cookies().len(), 1, "still parsed on the response");
    drop(resp);
    assert_eq!(s.cookie_jar().len(), 0);
    assert_eq!(sent(s.get(server.url("/"))).await, "");
}

#[tokio::test]
async fn path_and_expiry_rules_on_the_wire() {
    let server = cookie_server().await;
    let (s, jar) = unsafe_session();
    let _ = sent(s.get(set_url(
        &server,
        "/app/set",
        &[
            "implicit=1",
            "private=1; Path=/private",
            "root=1; Path=/",
            "short=1; Max-Age=3600; Path=/",
        ],
    )))
    .await;
    assert_eq!(sent(s.get(server.url("/other"))).await, "root=1; short=1");
    assert_eq!(
        sent(s.get(server.url("/app/page"))).await,
        "implicit=1; root=1; short=1"
    );
    assert_eq!(
        sent(s.get(server.url("/private/x"))).await,
        "private=1; root=1; short=1"
    );
    assert_eq!(
        sent(s.get(server.url("/privateer"))).await,
        "root=1; short=1"
    );
    // Deleting with Max-Age=0 and with a past Expires.
    let _ = sent(s.get(set_url(
        &server,
        "/set",
        &[
            "short=; Max-Age=0; Path=/",
            "root=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
        ],
    )))
    .await;
    assert_eq!(sent(s.get(server.url("/other"))).await, "");
    assert_eq!(jar.len(), 2);
}

#[tokio::test]
async fn secure_cookies_need_https_unless_the_origin_is_declared_secure() {
    let server = cookie_server().await;
    let (s, _) = unsafe_session();
    let _ = sent(s.get(set_url(
        &server,
        "/set",
        &["s=1; Secure; Path=/", "p=1; Path=/"],
    )))
    .await;
    assert_eq!(sent(s.get(server.url("/"))).await, "p=1");

    let origin = server.url("/");
    let jar = CookieJar::new()
        .unsafe_(true)
        .treat_as_secure_origin([origin.as_str()])
        .expect("origin");
    let s = ClientSession::builder()
        .cookie_jar(jar)
        .build()
        .expect("session");
    let _ = sent(s.get(set_url(
        &server,
        "/set",
        &["s=1; Secure; Path=/", "p=1; Path=/"],
    )))
    .await;
    assert_eq!(sent(s.get(server.url("/"))).await, "s=1; p=1");
}

#[tokio::test]
async fn malformed_set_cookie_headers_are_ignored() {
    let server = RawServer::reply(
        b"HTTP/1.1 200 OK\r\n\
          Set-Cookie: \r\n\
          Set-Cookie: =novalue\r\n\
          Set-Cookie: ;;;\r\n\
          Set-Cookie: noequals\r\n\
          Set-Cookie: bad\xff\xfe=1\r\n\
          Set-Cookie: dom=1; Domain=other.test\r\n\
          Set-Cookie: good=1; Max-Age=abc; Expires=never; Path=/\r\n\
          Content-Length: 2\r\n\r\nok"
            .to_vec(),
    )
    .await;
    let (s, jar) = unsafe_session();
    let mut resp = s.get(server.url("/")).await.expect("not an error");
    assert_eq!(resp.text().await.expect("body"), "ok");
    let names: Vec<&str> = resp.cookies().iter().map(|c| c.name()).collect();
    assert!(names.contains(&"good"), "{names:?}");
    let stored: Vec<String> = jar.iter().map(|c| c.name().to_string()).collect();
    assert_eq!(stored, ["good"]);
}

#[tokio::test]
async fn explicit_header_jar_and_request_cookies_merge() {
    let server = cookie_server().await;
    let s = ClientSession::builder()
        .cookies([("jar", "1"), ("dup", "jar")])
        .build()
        .expect("session");
    assert_eq!(
        sent(
            s.get(server.url("/"))
                .header("Cookie", "hdr=1; dup=hdr")
                .cookies([("own", "1")])
        )
        .await,
        "hdr=1; jar=1; dup=jar; own=1"
    );
    assert_eq!(
        sent(s.get(server.url("/")).cookies([("dup", "own")])).await,
        "jar=1; dup=own"
    );
    // Request cookies are for that request only.
    assert_eq!(sent(s.get(server.url("/"))).await, "jar=1; dup=jar");
}

#[tokio::test]
async fn shared_session_cookies_go_to_every_host() {
    let one = cookie_server().await;
    let two = cookie_server().await;
    let s = ClientSession::builder()
        .cookies([("shared", "x")])
        .build()
        .expect("session");
    assert_eq!(sent(s.get(one.url("/"))).await, "shared=x");
    assert_eq!(sent(s.get(two.url("/a/b"))).await, "shared=x");
}

#[tokio::test]
async fn dummy_jar_keeps_nothing_but_request_cookies_are_sent() {
    let server = cookie_server().await;
    let s = ClientSession::builder()
        .cookie_jar(DummyCookieJar::new())
        .cookies([("session", "ignored")])
        .build()
        .expect("session");
    let _ = sent(s.get(set_url(&server, "/set", &["a=1"]))).await;
    assert_eq!(s.cookie_jar().len(), 0);
    assert_eq!(sent(s.get(server.url("/"))).await, "");
    assert_eq!(
        sent(s.get(server.url("/")).cookies([("r", "1")])).await,
        "r=1"
    );
}

#[tokio::test]
async fn clear_and_clear_domain() {
    let server = cookie_server().await;
    let (s, jar) = unsafe_session();
    let _ = sent(s.get(set_url(&server, "/set", &["a=1", "b=1"]))).await;
    jar.update_cookies(&[aiohttp::Cookie::new("shared", "1")], None);
    assert_eq!(jar.len(), 3);
    s.cookie_jar().clear_domain("127.0.0.1");
    assert_eq!(sent(s.get(server.url("/"))).await, "shared=1");
    s.cookie_jar().clear();
    assert!(jar.is_empty());
    assert_eq!(sent(s.get(server.url("/"))).await, "");
}

#[tokio::test]
async fn a_saved_jar_loads_into_another_session() {
    let server = cookie_server().await;
    // Declared secure, so that the server can set a Secure cookie over plain http.
    let jar = CookieJar::new()
        .unsafe_(true)
        .treat_as_secure_origin([server.url("/")])
        .expect("origin");
    let s = ClientSession::builder()
        .cookie_jar(jar.clone())
        .build()
        .expect("session");
    let _ = sent(s.get(set_url(
        &server,
        "/set",
        &[
            "persistent=1; Max-Age=3600; Path=/; HttpOnly",
            "session=1; Path=/",
            "scoped=1; Path=/scoped; Secure",
        ],
    )))
    .await;
    let dir = std::env::temp_dir().join(format!(
        "aiohttp-cookies-{}-{}",
        std::process::id(),
        server.addr().port()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("jar.json");
    // An existing file with broad permissions is tightened.
    std::fs::write(&path, "old").expect("pre-existing");
    jar.save(&path).expect("save");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["cookies"].as_array().map(Vec::len), Some(3));

    let restored = CookieJar::new().unsafe_(true);
    restored.load(&path).expect("load");
    let s2 = ClientSession::builder()
        .cookie_jar(restored.clone())
        .build()
        .expect("session");
    assert_eq!(
        sent(s2.get(server.url("/"))).await,
        "persistent=1; session=1"
    );
    let scoped: Vec<aiohttp::Cookie<'static>> =
        restored.iter().filter(|c| c.name() == "scoped").collect();
    assert_eq!(scoped.len(), 1);
    assert_eq!(scoped[0].path(), Some("/scoped"));
    assert_eq!(scoped[0].secure(), Some(true));

    std::fs::write(&path, "{not json").expect("corrupt");
    let err = restored.load(&path).expect_err("corrupt file");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert_eq!(restored.len(), 3, "unchanged after a failed load");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The response's cookie hooks also run for responses whose body is never read.
#[tokio::test]
async fn cookies_are_stored_when_the_head_arrives() {
    let server = cookie_server().await;
    let (s, jar) = unsafe_session();
    let resp = s
        .get(set_url(&server, "/set", &["early=1"]))
        .await
        .expect("head");
    assert_eq!(jar.len(), 1);
    drop(resp);
}

/// Values given by the caller are quoted as Python's `http.cookies` does, so a `;` or `,` in
/// one cannot add a cookie.
#[tokio::test]
async fn caller_cookie_values_are_quoted_on_the_wire() {
    let server = cookie_server().await;
    let s = ClientSession::builder()
        .cookies([("s", "a; injected=1")])
        .build()
        .expect("session");
    let got = sent(s.get(server.url("/")).cookies([
        ("r", "x;evil=2"),
        ("q", "sp ace,\"\\"),
        ("plain", "abc=="),
    ]))
    .await;
    assert_eq!(
        got,
        r#"s="a\073 injected=1"; r="x\073evil=2"; q="sp ace\054\"\\"; plain=abc=="#
    );
    let names: Vec<&str> = got
        .split("; ")
        .filter_map(|pair| pair.split_once('=').map(|(n, _)| n))
        .collect();
    assert_eq!(names, ["s", "r", "q", "plain"]);
    // A name cannot be quoted: one that would change the header is refused.
    let err = s
        .get(server.url("/"))
        .cookies([("a;b", "1")])
        .await
        .expect_err("invalid name");
    assert!(err.is_invalid_argument(), "{err}");
}

#[tokio::test]
async fn plain_http_cannot_replace_a_secure_cookie() {
    let server = cookie_server().await;
    let (s, jar) = unsafe_session();
    let https = Url::parse(&server.url("/").replacen("http:", "https:", 1)).expect("url");
    jar.update_cookies(
        &[aiohttp::Cookie::parse("sid=secret; Secure; Path=/").expect("cookie")],
        Some(&https),
    );
    let _ = sent(s.get(set_url(
        &server,
        "/set",
        &[
            "sid=attacker; Path=/",
            "new=1; Secure; Path=/",
            "p=1; Path=/",
        ],
    )))
    .await;
    let mut stored: Vec<String> = jar
        .iter()
        .map(|c| format!("{}={}", c.name(), c.value()))
        .collect();
    stored.sort();
    assert_eq!(stored, ["p=1", "sid=secret"]);
}
