//! Interop against a real third-party server: httpbin under gunicorn, started by
//! `scripts/interop.sh`, which sets `AIOHTTP_HTTPBIN_URL` and runs these with `--ignored`.
//! Without the variable the tests fail loudly rather than pass without checking anything.

use aiohttp::{BasicAuth, Body, ClientSession};
use serde_json::Value;

fn base() -> String {
    std::env::var("AIOHTTP_HTTPBIN_URL")
        .expect("AIOHTTP_HTTPBIN_URL must point at httpbin; run scripts/interop.sh")
}

fn url(path: &str) -> String {
    format!("{}{path}", base().trim_end_matches('/'))
}

async fn json(b: aiohttp::RequestBuilder) -> Value {
    let mut resp = b.await.expect("request");
    assert_eq!(resp.status(), 200, "{resp:?}");
    resp.json().await.expect("json body")
}

#[tokio::test]
#[ignore = "needs httpbin: scripts/interop.sh"]
async fn get_with_params_and_headers() {
    let s = ClientSession::new();
    let v = json(
        s.get(url("/get?x=0"))
            .params([("a", "1"), ("a", "2"), ("sp", "a b")])
            .header("X-Test", "yes"),
    )
    .await;
    assert_eq!(v["args"]["a"], serde_json::json!(["1", "2"]));
    assert_eq!(v["args"]["x"], "0");
    assert_eq!(v["args"]["sp"], "a b");
    assert_eq!(v["headers"]["X-Test"], "yes");
    assert_eq!(v["headers"]["Accept-Encoding"], "gzip, deflate, br, zstd");
    assert!(v["headers"]["User-Agent"]
        .as_str()
        .unwrap_or("")
        .starts_with("aiohttp-rs/"));
}

#[tokio::test]
#[ignore = "needs httpbin: scripts/interop.sh"]
async fn links_from_response_headers() {
    let s = ClientSession::new();
    let resp = s
        .get(url("/response-headers"))
        .params([
            ("Link", "</page/2>; rel=\"next\", </page/9>; rel=\"last\""),
            ("Link", "<https://other.test/x>; rel=alternate; hreflang=de"),
        ])
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    let links = resp.links();
    let got: Vec<(String, String)> = links
        .iter()
        .map(|l| {
            (
                l.key().to_string(),
                l.url().map(|u| u.to_string()).unwrap_or_default(),
            )
        })
        .collect();
    let want = [
        ("next", url("/page/2")),
        ("last", url("/page/9")),
        ("alternate", "https://other.test/x".to_string()),
    ]
    .map(|(k, u)| (k.to_string(), u));
    assert_eq!(got, want);
    assert_eq!(
        links.get("alternate").and_then(|l| l.param("hreflang")),
        Some("de")
    );
}

#[tokio::test]
#[ignore = "needs httpbin: scripts/interop.sh"]
async fn post_json_form_bytes_and_stream() {
    let s = ClientSession::new();
    let v = json(
        s.post(url("/post"))
            .json(&serde_json::json!({"k": [1, 2], "s": "é"})),
    )
    .await;
    assert_eq!(v["json"], serde_json::json!({"k": [1, 2], "s": "é"}));
    assert_eq!(v["headers"]["Content-Type"], "application/json");

    let v = json(s.post(url("/post")).data([("a", "1"), ("b", "x y")])).await;
    assert_eq!(v["form"], serde_json::json!({"a": "1", "b": "x y"}));

    let v = json(s.post(url("/post")).data(b"\x00\x01binary".to_vec())).await;
    assert_eq!(v["headers"]["Content-Length"], "8");
    assert_eq!(v["headers"]["Content-Type"], "application/octet-stream");

    let chunks =
        futures_util::stream::iter((0..10).map(|i| Ok::<_, std::io::Error>(format!("chunk{i};"))));
    let v = json(
        s.put(url("/put"))
            .data(Body::wrap_stream(chunks))
            .header("Content-Type", "text/plain"),
    )
    .await;
    let want: String = (0..10).map(|i| format!("chunk{i};")).collect();
    assert_eq!(v["data"], want);

    let v = json(
        s.patch(url("/patch"))
            .data("compressed ".repeat(100))
            .compress(true),
    )
    .await;
    assert_eq!(v["headers"]["Content-Encoding"], "deflate");
}

#[tokio::test]
#[ignore = "needs httpbin: scripts/interop.sh"]
async fn compressed_responses_are_decoded() {
    let s = ClientSession::new();
    for (path, flag) in [
        ("/gzip", "gzipped"),
        ("/deflate", "deflated"),
        ("/brotli", "brotli"),
    ] {
        let mut resp = s.get(url(path)).await.expect(path);
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().contains_key("content-encoding"), "{path}");
        let v: Value = resp.json().await.expect(path);
        assert_eq!(v[flag], true, "{path}");
    }
}

#[tokio::test]
#[ignore = "needs httpbin: scripts/interop.sh"]
async fn streamed_and_binary_bodies() {
    let s = ClientSession::new();
    let mut resp = s.get(url("/stream/20")).await.expect("stream");
    let mut lines = 0;
    loop {
        let line = resp.content().readline().await.expect("line");
        if line.is_empty() {
            break;
        }
        let v: Value = serde_json::from_slice(&line).expect("each line is JSON");
        assert_eq!(v["id"], lines);
        lines += 1;
    }
    assert_eq!(lines, 20);

    let mut resp = s.get(url("/bytes/50000")).await.expect("bytes");
    let body = resp.read().await.expect("body");
    assert_eq!(body.len(), 50000);

    let mut resp = s
        .get(url("/stream-bytes/100000?chunk_size=1000"))
        .await
        .expect("stream-bytes");
    let mut total = 0;
    let mut chunks = resp.content().iter_chunked(4096);
    while let Some(chunk) = futures_util::StreamExt::next(&mut chunks).await {
        total += chunk.expect("chunk").len();
    }
    assert_eq!(total, 100000);
}

#[tokio::test]
#[ignore = "needs httpbin: scripts/interop.sh"]
async fn status_codes_and_raise_for_status() {
    let s = ClientSession::new();
    let mut resp = s.get(url("/status/418")).await.expect("teapot");
    assert_eq!(resp.status(), 418);
    assert!(!resp.ok());
    assert!(resp.text().await.expect("text").contains("teapot"));
    let err = s
        .get(url("/status/503"))
        .raise_for_status(true)
        .await
        .expect_err("503 raises");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    let resp = s.head(url("/get")).await.expect("head");
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
#[ignore = "needs httpbin: scripts/interop.sh"]
async fn headers_endpoint_sees_session_and_request_headers() {
    let s = ClientSession::builder()
        .header("X-Session", "s")
        .skip_auto_headers(["Accept-Encoding"])
        .build()
        .expect("session");
    let v = json(s.get(url("/headers")).header("X-Request", "r")).await;
    assert_eq!(v["headers"]["X-Session"], "s");
    assert_eq!(v["headers"]["X-Request"], "r");
    assert!(v["headers"].get("Accept-Encoding").is_none());
}

#[tokio::test]
#[ignore = "needs httpbin: scripts/interop.sh"]
async fn basic_auth_accepted_and_rejected() {
    let s = ClientSession::new();
    let v = json(
        s.get(url("/basic-auth/user/pass"))
            .auth(BasicAuth::new("user", "pass").expect("auth")),
    )
    .await;
    assert_eq!(v["authenticated"], true);
    let with_creds = url("/basic-auth/user/pass").replacen("://", "://user:pass@", 1);
    let v = json(s.get(with_creds.as_str())).await;
    assert_eq!(v["user"], "user");
    let resp = s
        .get(url("/basic-auth/user/pass"))
        .auth(BasicAuth::new("user", "wrong").expect("auth"))
        .await
        .expect("response");
    assert_eq!(resp.status(), 401);
    let resp = s
        .get(url("/hidden-basic-auth/user/pass"))
        .auth(BasicAuth::new("user", "pass").expect("auth"))
        .await
        .expect("response");
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
#[ignore = "needs httpbin: scripts/interop.sh"]
async fn response_headers_are_exposed_raw_and_parsed() {
    let s = ClientSession::new();
    let resp = s
        .get(url("/response-headers"))
        .params([("X-Custom", "one"), ("X-Custom", "two")])
        .await
        .expect("response");
    let parsed: Vec<&str> = resp
        .headers()
        .get_all("x-custom")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(parsed, ["one", "two"]);
    let raw: Vec<(&[u8], &[u8])> = resp
        .raw_headers()
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"x-custom"))
        .map(|(n, v)| (n.as_ref(), v.as_ref()))
        .collect();
    assert_eq!(
        raw,
        [(&b"X-Custom"[..], &b"one"[..]), (b"X-Custom", b"two")]
    );
}

#[tokio::test]
#[ignore = "needs httpbin: scripts/interop.sh"]
async fn keep_alive_reuses_connections_with_gthread_workers() {
    let s = ClientSession::new();
    for _ in 0..10 {
        let mut resp = s.get(url("/get")).await.expect("get");
        resp.read().await.expect("body");
    }
    let stats = s.connector().pool().stats();
    assert_eq!(stats.open, 1, "{stats:?}");
}

// ---- redirects, cookies and auth ----

/// The httpbin URL with `localhost` instead of the loopback IP: a domain name, whose cookies a
/// default jar accepts, and another origin than the IP form.
fn localhost_url(path: &str) -> String {
    url(path).replacen("127.0.0.1", "localhost", 1)
}

#[tokio::test]
#[ignore = "needs httpbin: scripts/interop.sh"]
async fn redirect_chains_of_every_kind() {
    let s = ClientSession::new();
    for kind in ["redirect", "relative-redirect", "absolute-redirect"] {
        let mut resp = s.get(url(&format!("/{kind}/4"))).await.expect(kind);
        assert_eq!(resp.status(), 200, "{kind}");
        assert_eq!(resp.url().path(), "/get", "{kind}");
        assert_eq!(resp.history().len(), 4, "{kind}");
        assert!(resp.history().iter().all(|r| r.status() == 302), "{kind}");
        let paths: Vec<&str> = resp.history().iter().map(|r| r.url().path()).collect();
        assert_eq!(paths[0], format!("/{kind}/4"));
        let v: Value = resp.json().await.expect("json");
        assert_eq!(v["url"].as_str().map(|u| u.ends_with("/get")), Some(true));
    }
    // Ten redirects are within the default limit, eleven are not.
    let resp = s.get(url("/redirect/10")).await.expect("10 redirects");
    assert_eq!(resp.history().len(), 10);
    let err = s.get(url("/redirect/11")).await.expect_err("11 redirects");
    assert!(err.is_too_many_redirects(), "{err:?}");
    assert_eq!(err.history().len(), 11);
    let err = s
        .get(url("/redirect/3"))
        .max_redirects(1)
        .await
        .expect_err("limit 1");
    assert_eq!(err.history().len(), 2);
    // allow_redirects(false) returns the first 302.
    let resp = s
        .get(url("/redirect/2"))
        .allow_redirects(false)
        .await
        .expect("no follow");
    assert_eq!(resp.status(), 302);
}

#[tokio::test]
#[ignore = "needs httpbin: scripts/interop.sh"]
async fn redirect_to_with_each_status_code() {
    let s = ClientSession::new();
    // (status, method after the redirect, body kept)
    for (status, method, kept) in [
        (301, "GET", false),
        (302, "GET", false),
        (303, "GET", false),
        (307, "POST", true),
        (308, "POST", true),
    ] {
        let mut resp = s
            .post(url("/redirect-to"))
            .params([
                ("url", "/anything/landed"),
                ("status_code", &status.to_string()),
            ])
            .data([("field", "value")])
            .await
            .expect("redirect-to");
        assert_eq!(resp.status(), 200, "{status}");
        assert_eq!(resp.history()[0].status().as_u16(), status);
        let v: Value = resp.json().await.expect("json");
        assert_eq!(v["method"], method, "{status}");
        let form = if kept {
            serde_json::json!({"field": "value"})
        } else {
            serde_json::json!({})
        };
        assert_eq!(v["form"], form, "{status}");
    }
    let err = s
        .get(url("/redirect-to"))
        .params([("url", "ftp://files.invalid/x")])
        .await
        .expect_err("not http");
    assert!(
        err.is_non_http_url() && err.is_redirect_url_error(),
        "{err:?}"
    );
}

#[tokio::test]
#[ignore = "needs httpbin: scripts/interop.sh"]
async fn credentials_do_not_follow_a_redirect_to_another_origin() {
    let s = ClientSession::builder()
        .cookie_jar(aiohttp::CookieJar::new().unsafe_(true))
        .build()
        .expect("session");
    let mut resp = s.get(url("/cookies/set?ip=1")).await.expect("cookie");
    resp.read().await.expect("body");
    // Same origin: the request's auth and cookies are kept.
    let v = json(
        s.get(url("/redirect-to"))
            .params([("url", "/headers")])
            .auth(BasicAuth::new("user", "pass").expect("auth"))
            .header("Cookie", "explicit=1"),
    )
    .await;
    assert!(v["headers"].get("Authorization").is_some(), "{v}");
    assert_eq!(v["headers"]["Cookie"], "explicit=1; ip=1");
    // Another origin (localhost instead of 127.0.0.1): none of them.
    let target = localhost_url("/headers");
    let v = json(
        s.get(url("/redirect-to"))
            .params([("url", target.as_str())])
            .auth(BasicAuth::new("user", "pass").expect("auth"))
            .header("Cookie", "explicit=1"),
    )
    .await;
    assert!(v["headers"].get("Authorization").is_none(), "{v}");
    assert!(v["headers"].get("Cookie").is_none(), "{v}");
    // Same origin again after an auth-protected redirect.
    let v = json(
        s.get(url("/redirect-to"))
            .params([("url", "/basic-auth/user/pass")])
            .auth(BasicAuth::new("user", "pass").expect("auth")),
    )
    .await;
    assert_eq!(v["authenticated"], true);
}

#[tokio::test]
#[ignore = "needs httpbin: scripts/interop.sh"]
async fn cookies_set_and_delete_through_redirects() {
    // A domain name: the default jar accepts its cookies.
    let s = ClientSession::new();
    let mut resp = s
        .get(localhost_url("/cookies/set"))
        .params([("a", "1"), ("b", "2")])
        .await
        .expect("set");
    assert_eq!(resp.history().len(), 1);
    assert_eq!(resp.history()[0].cookies().len(), 2);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["cookies"], serde_json::json!({"a": "1", "b": "2"}));
    assert_eq!(s.cookie_jar().len(), 2);
    let mut resp = s
        .get(localhost_url("/cookies/delete?a"))
        .await
        .expect("delete");
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["cookies"], serde_json::json!({"b": "2"}));
    assert_eq!(s.cookie_jar().len(), 1);
    // The IP host: refused by the default jar, accepted with unsafe_.
    let s = ClientSession::new();
    let mut resp = s.get(url("/cookies/set?a=1")).await.expect("set");
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["cookies"], serde_json::json!({}));
    let s = ClientSession::builder()
        .cookie_jar(aiohttp::CookieJar::new().unsafe_(true))
        .build()
        .expect("session");
    let mut resp = s.get(url("/cookies/set?a=1")).await.expect("set");
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["cookies"], serde_json::json!({"a": "1"}));
}

#[tokio::test]
#[ignore = "needs httpbin: scripts/interop.sh"]
async fn basic_and_hidden_basic_auth_from_session_and_url() {
    let s = ClientSession::builder()
        .auth(BasicAuth::new("user", "pass").expect("auth"))
        .build()
        .expect("session");
    let v = json(s.get(url("/basic-auth/user/pass"))).await;
    assert_eq!(v["authenticated"], true);
    let v = json(s.get(url("/hidden-basic-auth/user/pass"))).await;
    assert_eq!(v["user"], "user");
    let plain = ClientSession::new();
    let resp = plain
        .get(url("/hidden-basic-auth/user/pass"))
        .await
        .expect("response");
    assert_eq!(resp.status(), 404);
    let resp = plain
        .get(url("/basic-auth/user/pass"))
        .await
        .expect("response");
    assert_eq!(resp.status(), 401);
    let err = plain
        .get(url("/basic-auth/user/pass"))
        .raise_for_status(true)
        .await
        .expect_err("401 raises");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401));
    let utf8 = BasicAuth::new("us\u{e9}r", "p\u{e4}ss")
        .expect("auth")
        .with_encoding("utf-8")
        .expect("utf-8");
    let v = json(plain.get(url("/basic-auth/us%C3%A9r/p%C3%A4ss")).auth(utf8)).await;
    assert_eq!(v["authenticated"], true);
}

#[tokio::test]
#[ignore = "needs httpbin: scripts/interop.sh"]
async fn httpbin_over_a_unix_socket() {
    let path = std::env::var("AIOHTTP_HTTPBIN_UNIX")
        .expect("AIOHTTP_HTTPBIN_UNIX must name httpbin's socket; run scripts/interop.sh");
    let s = ClientSession::builder()
        .connector(aiohttp::UnixConnector::new(path))
        .build()
        .expect("session");
    for i in 0..3 {
        let v = json(s.get("http://localhost/get").params([("i", i)])).await;
        assert_eq!(v["args"]["i"], i.to_string());
        assert_eq!(v["headers"]["Host"], "localhost");
    }
    let v = json(
        s.post("http://localhost/post")
            .json(&serde_json::json!({"over": "unix"})),
    )
    .await;
    assert_eq!(v["json"]["over"], "unix");
    let stats = s.connector().pool().stats();
    assert_eq!(stats.open, 1, "keep-alive over the socket: {stats:?}");
}

#[tokio::test]
#[ignore = "needs httpbin: scripts/interop.sh"]
async fn multipart_form_with_fields_and_files() {
    use aiohttp::{FormData, FormField};
    use base64::Engine as _;

    let dir = std::env::temp_dir().join(format!("aiohttp-interop-mp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let path = dir.join("data.bin");
    let binary: Vec<u8> = (0..5000u32).map(|i| (i * 13 % 256) as u8).collect();
    std::fs::write(&path, &binary).expect("write file");
    let data_url = format!(
        "data:application/octet-stream;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&binary)
    );

    // Every size known: Content-Length.
    let s = ClientSession::new();
    let mut form = FormData::new();
    form.add_field("name", "value")
        .add_field("unicode", "été ☃")
        .add_part(
            FormField::new("upload", "file content\r\nline 2")
                .filename("notes.txt")
                .content_type("text/plain"),
        );
    form.add_file("data", &path).await.expect("file");
    let v = json(s.post(url("/post")).data(form)).await;
    assert_eq!(
        v["form"],
        serde_json::json!({"name": "value", "unicode": "été ☃"})
    );
    assert_eq!(
        v["files"],
        serde_json::json!({"upload": "file content\r\nline 2", "data": data_url})
    );
    let ct = v["headers"]["Content-Type"].as_str().unwrap_or("");
    assert!(ct.starts_with("multipart/form-data; boundary="), "{ct}");
    assert!(v["headers"]["Content-Length"].is_string());

    // A part of unknown size: chunked.
    let mut form = FormData::new();
    form.add_field("name", "streamed").add_part(
        FormField::new(
            "log",
            Body::wrap_stream(futures_util::stream::iter(
                ["line 1\n", "line 2\n", "line 3\n"].map(Ok::<_, std::io::Error>),
            )),
        )
        .filename("log.txt"),
    );
    let v = json(s.post(url("/post")).data(form)).await;
    assert_eq!(v["form"], serde_json::json!({"name": "streamed"}));
    assert_eq!(
        v["files"],
        serde_json::json!({"log": "line 1\nline 2\nline 3\n"})
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Each attempt sent: whether it carried an `Authorization` header, and the status.
type Attempts = std::sync::Arc<std::sync::Mutex<Vec<(bool, u16)>>>;

/// A session whose `DigestAuth` runs outside a middleware that records each attempt it sends.
fn digest_session(password: &str) -> (ClientSession, Attempts) {
    let attempts: Attempts = Attempts::default();
    let kept = attempts.clone();
    let recorder = aiohttp::middleware::from_fn(move |req, next| {
        let attempts = kept.clone();
        Box::pin(async move {
            let authorized = req.headers().contains_key("authorization");
            let resp = next.run(req).await?;
            attempts
                .lock()
                .expect("attempts")
                .push((authorized, resp.status().as_u16()));
            Ok(resp)
        })
    });
    let s = ClientSession::builder()
        .middleware(aiohttp::DigestAuth::new("user", password).expect("auth"))
        .middleware(recorder)
        .build()
        .expect("session");
    (s, attempts)
}

#[tokio::test]
#[ignore = "needs httpbin: scripts/interop.sh"]
async fn digest_auth_with_each_algorithm_httpbin_offers() {
    // httpbin 0.10 offers MD5, SHA-256 and SHA-512 (not SHA-512-256); qop auth and auth-int.
    for (qop, alg) in [
        ("auth", "MD5"),
        ("auth", "SHA-256"),
        ("auth", "SHA-512"),
        ("auth-int", "MD5"),
        ("auth-int", "SHA-256"),
    ] {
        let (s, attempts) = digest_session("passwd");
        let target = url(&format!("/digest-auth/{qop}/user/passwd/{alg}"));
        let v = json(s.get(&target)).await;
        assert_eq!(
            v,
            serde_json::json!({"authenticated": true, "user": "user"}),
            "{qop} {alg}"
        );
        // The challenge, then the answer.
        assert_eq!(
            *attempts.lock().expect("attempts"),
            [(false, 401), (true, 200)],
            "{qop} {alg}"
        );
        // The next request answers preemptively (nonce count 2): one attempt.
        let v = json(s.get(&target)).await;
        assert_eq!(v["authenticated"], true, "{qop} {alg}");
        assert_eq!(
            *attempts.lock().expect("attempts"),
            [(false, 401), (true, 200), (true, 200)],
            "{qop} {alg}"
        );
    }
}

#[tokio::test]
#[ignore = "needs httpbin: scripts/interop.sh"]
async fn digest_auth_with_a_wrong_password_returns_the_401() {
    let (s, attempts) = digest_session("wrong");
    let resp = s
        .get(url("/digest-auth/auth/user/passwd/SHA-256"))
        .await
        .expect("response");
    assert_eq!(resp.status(), 401);
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(challenge.starts_with("Digest "), "{challenge}");
    // One retry, not a loop.
    assert_eq!(
        *attempts.lock().expect("attempts"),
        [(false, 401), (true, 401)]
    );
}
