//! The `aiohttp` binary driven as a user would, against loopback servers: what it sends
//! (checked on the server's side) and what it prints and returns.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use serde_json::Value;
use test_support::{
    echo_loop, full, BoxBody, HttpProxy, HttpServer, Incoming, RawServer, TlsServer, WsServer,
};

/// Runs the binary with `args` (and `stdin`), with a fixed width for help texts.
async fn aiohttp(args: &[&str], stdin: Option<&[u8]>, dir: Option<&Path>) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_aiohttp"));
    cmd.args(args)
        .env("COLUMNS", "100")
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().expect("the binary starts");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(data) = stdin {
        input.write_all(data).await.expect("stdin written");
    }
    drop(input);
    match tokio::time::timeout(Duration::from_secs(30), child.wait_with_output()).await {
        Ok(out) => out.expect("the binary runs"),
        Err(_) => panic!("aiohttp {args:?} still running after 30 s"),
    }
}

/// The binary started with `args`, its standard input piped and left open.
fn spawn(args: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_aiohttp"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts")
}

/// What `child` printed, once it ends (within 10 s: `what` says why it should).
async fn finished(child: tokio::process::Child, what: &str) -> Output {
    match tokio::time::timeout(Duration::from_secs(10), child.wait_with_output()).await {
        Ok(out) => out.expect("the binary runs"),
        Err(_) => panic!("still running after 10 s, though it {what}"),
    }
}

/// Ctrl-C for `child`.
async fn interrupt(child: &tokio::process::Child) {
    let pid = child.id().expect("running").to_string();
    let sent = tokio::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .expect("kill runs");
    assert!(sent.success());
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The echo server's description of the request, from the binary's (piped) output.
fn echoed(out: &Output) -> Value {
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

fn header<'a>(echo: &'a Value, name: &str) -> Option<&'a str> {
    echo["headers"]
        .as_array()?
        .iter()
        .find(|h| h[0] == name)
        .and_then(|h| h[1].as_str())
}

/// A 100 000-byte body, with `Range: bytes=N-` answered by 206.
fn file_bytes() -> Vec<u8> {
    (0..100_000u32).map(|i| (i % 251) as u8).collect()
}

/// Routes for what the echo server cannot do.
async fn routes(req: Request<Incoming>) -> Response<BoxBody> {
    let path = req.uri().path().to_string();
    let with = |status: u16, headers: &[(&str, &str)], body: Vec<u8>| {
        let mut r = Response::builder().status(StatusCode::from_u16(status).unwrap());
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.body(full(body)).unwrap()
    };
    match path.as_str() {
        "/set" => with(
            200,
            &[("Set-Cookie", "sid=abc123; Path=/")],
            b"set".to_vec(),
        ),
        "/cookie" => {
            let c = req
                .headers()
                .get("cookie")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            with(200, &[], c.into_bytes())
        }
        "/loop" => with(302, &[("Location", "/loop")], Vec::new()),
        "/moved" => with(302, &[("Location", "/set")], Vec::new()),
        "/missing" => with(404, &[], b"no".to_vec()),
        "/broken" => with(503, &[], b"down".to_vec()),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            with(200, &[], Vec::new())
        }
        "/json" => with(
            200,
            &[
                ("Content-Type", "application/json"),
                ("X-MiXeD-Case", "yes"),
            ],
            br#"{"b":1,"a":[true,null]}"#.to_vec(),
        ),
        "/binary" => with(
            200,
            &[("Content-Type", "application/octet-stream")],
            vec![0, 1, 2, 255],
        ),
        "/files/report.bin" => {
            let all = file_bytes();
            let from = req
                .headers()
                .get("range")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("bytes="))
                .and_then(|v| v.strip_suffix('-'))
                .and_then(|v| v.parse::<usize>().ok());
            match from {
                Some(n) if n >= all.len() => with(416, &[], Vec::new()),
                Some(n) => {
                    let range = format!("bytes {n}-{}/{}", all.len() - 1, all.len());
                    with(206, &[("Content-Range", range.as_str())], all[n..].to_vec())
                }
                None => with(
                    200,
                    &[("Content-Disposition", "attachment; filename=\"report.bin\"")],
                    all,
                ),
            }
        }
        _ => with(404, &[], Vec::new()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn query_and_header_items_are_sent() {
    let server = HttpServer::echo().await;
    let out = aiohttp(
        &["get", &server.url("/a"), "q==rust lang", "X-Api:key 1"],
        None,
        None,
    )
    .await;
    let echo = echoed(&out);
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["query"], "q=rust+lang");
    assert_eq!(header(&echo, "x-api"), Some("key 1"));
    assert_eq!(echo["body_len"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn data_fields_make_a_json_body() {
    let server = HttpServer::echo().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("note.txt"), "from a file").unwrap();
    std::fs::write(dir.path().join("obj.json"), r#"{"deep": [1, 2]}"#).unwrap();
    let out = aiohttp(
        &[
            "post",
            &server.url("/p"),
            "name=value",
            "n:=1",
            "flags:=[true,null]",
            "note=@note.txt",
            "obj:=@obj.json",
        ],
        None,
        Some(dir.path()),
    )
    .await;
    let echo = echoed(&out);
    assert_eq!(echo["method"], "POST");
    assert_eq!(header(&echo, "content-type"), Some("application/json"));
    assert_eq!(header(&echo, "accept"), Some("application/json, */*;q=0.5"));
    let sent: Value = serde_json::from_str(echo["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        sent,
        serde_json::json!({
            "name": "value", "n": 1, "flags": [true, null],
            "note": "from a file", "obj": {"deep": [1, 2]}
        })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn form_fields_are_urlencoded_and_files_make_it_multipart() {
    let server = HttpServer::echo().await;
    let out = aiohttp(
        &["post", "--form", &server.url("/f"), "a=1 2", "b=é"],
        None,
        None,
    )
    .await;
    let echo = echoed(&out);
    assert_eq!(
        header(&echo, "content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(echo["body"], "a=1+2&b=%C3%A9");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("up.txt"), "file body").unwrap();
    let out = aiohttp(
        &["post", &server.url("/u"), "title=t", "doc@up.txt"],
        None,
        Some(dir.path()),
    )
    .await;
    let echo = echoed(&out);
    let ct = header(&echo, "content-type").unwrap();
    assert!(ct.starts_with("multipart/form-data; boundary="), "{ct}");
    let body = echo["body"].as_str().unwrap();
    assert!(body.contains("name=\"doc\"; filename=\"up.txt\""), "{body}");
    assert!(body.contains("\r\n\r\nfile body\r\n"), "{body}");
    assert!(body.contains("name=\"title\"\r\n"), "{body}");
    assert!(body.contains("\r\n\r\nt\r\n--"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn raw_bodies_come_from_the_argument_a_file_or_stdin() {
    let server = HttpServer::echo().await;
    let out = aiohttp(&["put", &server.url("/"), "--data", "literal"], None, None).await;
    assert_eq!(echoed(&out)["body"], "literal");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("body.bin"), vec![b'x'; 70_000]).unwrap();
    let out = aiohttp(
        &["post", &server.url("/"), "-d", "@body.bin"],
        None,
        Some(dir.path()),
    )
    .await;
    let echo = echoed(&out);
    assert_eq!(echo["body_len"], 70_000);
    assert_eq!(header(&echo, "content-length"), Some("70000"));

    let piped = vec![b'y'; 200_000];
    let out = aiohttp(&["post", &server.url("/"), "-d", "-"], Some(&piped), None).await;
    let echo = echoed(&out);
    assert_eq!(echo["body_len"], 200_000);
    assert_eq!(header(&echo, "transfer-encoding"), Some("chunked"));
}

#[tokio::test(flavor = "multi_thread")]
async fn json_is_the_default_and_can_be_named() {
    let server = HttpServer::echo().await;
    for flag in [None, Some("-j"), Some("--json")] {
        let mut args = vec!["post", "/x", "a=1"];
        let url = server.url("/x");
        args[1] = &url;
        if let Some(f) = flag {
            args.insert(1, f);
        }
        let echo = echoed(&aiohttp(&args, None, None).await);
        assert_eq!(
            header(&echo, "content-type"),
            Some("application/json"),
            "{flag:?}"
        );
        assert_eq!(echo["body"], r#"{"a":"1"}"#, "{flag:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_auth_is_sent() {
    let server = HttpServer::echo().await;
    let out = aiohttp(&["get", &server.url("/"), "-a", "user:pa:ss"], None, None).await;
    // base64("user:pa:ss")
    assert_eq!(
        header(&echoed(&out), "authorization"),
        Some("Basic dXNlcjpwYTpzcw==")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn piped_output_is_the_body_as_received() {
    let server = HttpServer::start(routes).await;
    let out = aiohttp(&["get", &server.url("/json")], None, None).await;
    assert!(out.status.success());
    assert_eq!(out.stdout, br#"{"b":1,"a":[true,null]}"#);
    let out = aiohttp(&["get", &server.url("/binary")], None, None).await;
    assert_eq!(out.stdout, [0, 1, 2, 255]);
}

#[tokio::test(flavor = "multi_thread")]
async fn formatted_output_has_the_head_and_indented_json() {
    let server = HttpServer::start(routes).await;
    // A server that writes its header names in mixed case, as hyper's server does not.
    let raw = RawServer::reply(
        &b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-MiXeD-Case: yes\r\n\
Content-Length: 23\r\n\r\n{\"b\":1,\"a\":[true,null]}"[..],
    )
    .await;
    let url = format!("http://{}/json", raw.addr());
    let out = aiohttp(&["get", "--pretty", "format", &url], None, None).await;
    let text = stdout(&out);
    assert!(text.starts_with("HTTP/1.1 200 OK\n"), "{text}");
    // The raw header case as received.
    assert!(text.contains("\nX-MiXeD-Case: yes\n"), "{text}");
    assert!(
        text.ends_with(
            "\n\n{\n    \"a\": [\n        true,\n        null\n    ],\n    \"b\": 1\n}\n"
        ),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "no colours with --pretty format");
    let out = aiohttp(
        &["get", "--pretty", "all", &server.url("/json")],
        None,
        None,
    )
    .await;
    assert!(
        stdout(&out).contains("\u{1b}["),
        "colours with --pretty all"
    );
    let out = aiohttp(
        &["get", "--pretty", "format", &server.url("/binary")],
        None,
        None,
    )
    .await;
    assert!(
        stdout(&out).contains("binary data not shown"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn headers_only_and_verbose() {
    let server = HttpServer::start(routes).await;
    let out = aiohttp(&["get", "-h", &server.url("/json")], None, None).await;
    let text = stdout(&out);
    assert!(text.starts_with("HTTP/1.1 200 OK\n"), "{text}");
    assert!(!text.contains("\"b\""), "no body with -h: {text}");

    let url = server.url("/json?x=1");
    let out = aiohttp(&["get", "-v", &url, "X-Trace:t1"], None, None).await;
    let text = stdout(&out);
    let host = url.trim_start_matches("http://").split('/').next().unwrap();
    assert!(
        text.starts_with(&format!("GET /json?x=1 HTTP/1.1\nHost: {host}\n")),
        "{text}"
    );
    assert!(text.contains("\nx-trace: t1\n"), "{text}");
    assert!(text.contains("\n\nHTTP/1.1 200 OK\n"), "{text}");
    assert!(text.ends_with(r#"{"b":1,"a":[true,null]}"#), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn session_files_keep_cookies_between_runs() {
    let server = HttpServer::start(routes).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.json");
    let file = file.to_str().unwrap();
    let out = aiohttp(&["get", "--session", file, &server.url("/set")], None, None).await;
    assert!(out.status.success(), "{out:?}");
    assert!(std::fs::read_to_string(file).unwrap().contains("abc123"));
    let out = aiohttp(
        &["get", "--session", file, &server.url("/cookie")],
        None,
        None,
    )
    .await;
    assert_eq!(stdout(&out), "sid=abc123");
    // Without the session, no cookie.
    let out = aiohttp(&["get", &server.url("/cookie")], None, None).await;
    assert_eq!(stdout(&out), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn downloads_are_saved_and_resumed() {
    let server = HttpServer::start(routes).await;
    let dir = tempfile::tempdir().unwrap();
    let url = server.url("/files/report.bin");
    // The name from Content-Disposition; the head on stderr, nothing on stdout.
    let out = aiohttp(&["get", "--download", &url], None, Some(dir.path())).await;
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("HTTP/1.1 200 OK"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(dir.path().join("report.bin")).unwrap(),
        file_bytes()
    );
    // Again: a new name, not over the first file.
    let out = aiohttp(&["get", "--download", &url], None, Some(dir.path())).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        std::fs::read(dir.path().join("report.bin-1")).unwrap(),
        file_bytes()
    );

    // An error is not saved: printed, with its status class as the exit status.
    let out = aiohttp(
        &["get", "--download", &server.url("/missing")],
        None,
        Some(dir.path()),
    )
    .await;
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert_eq!(stdout(&out), "no");
    assert!(
        stderr(&out).contains("not downloaded: HTTP 404"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("missing").exists());

    // Resumed from the 30 000 bytes already there.
    let part = dir.path().join("part.bin");
    std::fs::write(&part, &file_bytes()[..30_000]).unwrap();
    let p = part.to_str().unwrap();
    let out = aiohttp(
        &["get", "--download", "-o", p, "--continue", &url],
        None,
        None,
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    assert!(stderr(&out).contains("206"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&part).unwrap(), file_bytes());
    // Complete: the server answers 416 and the file stays as it is.
    let out = aiohttp(
        &["get", "--download", "-o", p, "--continue", &url],
        None,
        None,
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    assert!(
        stderr(&out).contains("already complete"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&part).unwrap(), file_bytes());
}

#[tokio::test(flavor = "multi_thread")]
async fn redirects_are_followed_unless_told_not_to() {
    let server = HttpServer::start(routes).await;
    let out = aiohttp(&["get", &server.url("/moved")], None, None).await;
    assert_eq!(stdout(&out), "set");
    let out = aiohttp(
        &["get", "--no-follow", "-h", &server.url("/moved")],
        None,
        None,
    )
    .await;
    assert!(out.status.success());
    assert!(
        stdout(&out).starts_with("HTTP/1.1 302 Found\n"),
        "{}",
        stdout(&out)
    );
    let out = aiohttp(
        &[
            "get",
            "--no-follow",
            "--check-status",
            &server.url("/moved"),
        ],
        None,
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(3));
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_statuses_name_the_error() {
    let server = HttpServer::start(routes).await;
    // Without --check-status an error status is a success.
    let out = aiohttp(&["get", &server.url("/missing")], None, None).await;
    assert_eq!(out.status.code(), Some(0));
    let out = aiohttp(
        &["get", "--check-status", &server.url("/missing")],
        None,
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains("warning: HTTP 404"),
        "{}",
        stderr(&out)
    );
    let out = aiohttp(
        &["get", "--check-status", &server.url("/broken")],
        None,
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(5));

    let out = aiohttp(
        &["get", "--max-redirects", "2", &server.url("/loop")],
        None,
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(6));
    assert!(
        stderr(&out).starts_with("aiohttp: error: TooManyRedirects"),
        "{}",
        stderr(&out)
    );

    let out = aiohttp(
        &["get", "--timeout", "0.5", &server.url("/slow")],
        None,
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("TimeoutError"), "{}", stderr(&out));

    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let out = aiohttp(&["get", &format!("http://127.0.0.1:{port}/")], None, None).await;
    assert_eq!(out.status.code(), Some(7));
    let err = stderr(&out);
    assert!(
        err.starts_with("aiohttp: error: ClientConnectorError"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one line, no backtrace: {err}");

    let out = aiohttp(&["get", &server.url("/"), "not-an-item"], None, None).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not a request item"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unix_sockets_carry_the_request() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0);
            head.extend_from_slice(&buf[..n]);
        }
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nunix")
            .await
            .unwrap();
        String::from_utf8(head).unwrap()
    });
    let out = aiohttp(
        &[
            "get",
            "--unix-socket",
            path.to_str().unwrap(),
            "http://svc.local/x",
        ],
        None,
        None,
    )
    .await;
    assert_eq!(stdout(&out), "unix", "{out:?}");
    let head = server.await.unwrap();
    assert!(head.starts_with("GET /x HTTP/1.1\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\nhost: svc.local\r\n"),
        "{head}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn http2_prior_knowledge_is_spoken_with_http2() {
    use hyper::server::conn::http2;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        let service = hyper::service::service_fn(|req: Request<Incoming>| async move {
            let v = format!("{:?}", req.version());
            Ok::<_, std::convert::Infallible>(Response::new(full(v)))
        });
        let _ = http2::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(s), service)
            .await;
    });
    let out = aiohttp(&["get", "--http2", &format!("http://{addr}/")], None, None).await;
    assert_eq!(stdout(&out), "HTTP/2.0", "{out:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_help_text_is_the_committed_one() {
    for (args, file) in [
        (&["--help"][..], "help.txt"),
        (&["get", "--help"][..], "help-get.txt"),
        (&["bench", "--help"][..], "help-bench.txt"),
        (&["ws", "--help"][..], "help-ws.txt"),
    ] {
        let out = aiohttp(args, None, None).await;
        assert!(out.status.success(), "{out:?}");
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/snapshots")
            .join(file);
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &out.stdout).unwrap();
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_SNAPSHOTS=1 writes it)", path.display()));
        assert_eq!(
            stdout(&out),
            want,
            "{file} (UPDATE_SNAPSHOTS=1 rewrites it)"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn completions_and_the_manual_are_generated() {
    for shell in ["bash", "zsh", "fish"] {
        let out = aiohttp(&["completions", shell], None, None).await;
        assert!(out.status.success(), "{shell}: {out:?}");
        assert!(stdout(&out).contains("aiohttp"), "{shell}");
        assert!(stdout(&out).contains("--download"), "{shell}");
    }
    let out = aiohttp(&["man"], None, None).await;
    assert!(out.status.success());
    assert!(
        stdout(&out).starts_with(".ie"),
        "{}",
        &stdout(&out)[..40.min(out.stdout.len())]
    );
    assert!(stdout(&out).contains("aiohttp"));
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_is_verified_pinned_or_trusted_from_a_file() {
    use sha2::Digest;
    let server = TlsServer::start().await;
    let url = server.url("/t");
    // A self-signed certificate: refused by default, with the TLS status.
    let out = aiohttp(&["get", &url], None, None).await;
    assert_eq!(out.status.code(), Some(8), "{out:?}");
    assert!(
        stderr(&out).starts_with("aiohttp: error: ClientConnectorCertificateError"),
        "{}",
        stderr(&out)
    );
    let out = aiohttp(&["get", "--no-verify", &url], None, None).await;
    assert_eq!(stdout(&out), "HTTP/2.0 /t", "{out:?}");
    // The last of --verify and --no-verify counts.
    let out = aiohttp(&["get", "--no-verify", "--verify", &url], None, None).await;
    assert_eq!(out.status.code(), Some(8), "{out:?}");

    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("ca.pem");
    std::fs::write(&pem, server.cert_pem()).unwrap();
    let pem = pem.to_str().unwrap();
    let out = aiohttp(&["get", "--cacert", pem, &url], None, None).await;
    assert_eq!(stdout(&out), "HTTP/2.0 /t", "{out:?}");
    let out = aiohttp(&["get", "--cacert", pem, "--http1", &url], None, None).await;
    assert_eq!(stdout(&out), "HTTP/1.1 /t", "{out:?}");

    let digest = sha2::Sha256::digest(server.cert_der());
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    let out = aiohttp(&["get", "--fingerprint", &hex.join(":"), &url], None, None).await;
    assert_eq!(stdout(&out), "HTTP/2.0 /t", "{out:?}");
    let wrong = "00".repeat(32);
    let out = aiohttp(&["get", "--fingerprint", &wrong, &url], None, None).await;
    assert_eq!(out.status.code(), Some(8), "{out:?}");
    assert!(
        stderr(&out).starts_with("aiohttp: error: ServerFingerprintMismatch"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_go_through_a_proxy() {
    let server = HttpServer::echo().await;
    let proxy = HttpProxy::start().await;
    let out = aiohttp(
        &["get", "--proxy", &proxy.url(), &server.url("/via")],
        None,
        None,
    )
    .await;
    let echo = echoed(&out);
    assert_eq!(echo["path"], "/via");
    let seen = proxy.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_terminal_gets_the_head_and_coloured_json() {
    // `script` (util-linux, essential on Debian) runs the binary on a pseudo-terminal.
    let server = HttpServer::start(routes).await;
    let command = format!(
        "{} get {}",
        env!("CARGO_BIN_EXE_aiohttp"),
        server.url("/json")
    );
    let out = tokio::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("COLUMNS", "100")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("script runs");
    let text = stdout(&out);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("HTTP/1.1 "), "{text:?}");
    assert!(text.contains("\u{1b}["), "colours on a terminal: {text:?}");
    assert!(text.contains("\"b\""), "{text:?}");
    assert!(text.contains("    "), "indented: {text:?}");
}

/// A field of the bench report: the text after `name:` on its line.
fn field<'a>(report: &'a str, name: &str) -> &'a str {
    report
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(name))
        .map(|v| v.trim_start_matches(':').trim())
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn bench_against_the_embedded_server() {
    let out = aiohttp(&["bench", "-n", "500", "-c", "10"], None, None).await;
    assert!(out.status.success(), "{out:?}");
    let report = stdout(&out);
    assert!(
        field(&report, "Target").ends_with("(embedded server)"),
        "{report}"
    );
    assert_eq!(field(&report, "Requests"), "500 (0 errors)", "{report}");
    assert_eq!(field(&report, "200"), "500", "{report}");
    assert!(
        field(&report, "Transferred").starts_with("6500 body bytes"),
        "{report}"
    );
    for q in ["p50", "p90", "p99", "max"] {
        let v: u64 = field(&report, q)
            .parse()
            .unwrap_or_else(|e| panic!("{q}: {e}: {report}"));
        assert!(v > 0, "{report}");
    }
    let rate: f64 = field(&report, "Requests/s").parse().unwrap();
    assert!(rate > 0.0);

    let out = aiohttp(&["bench", "--http2", "-n", "200", "-c", "20"], None, None).await;
    assert_eq!(
        field(&stdout(&out), "Requests"),
        "200 (0 errors)",
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bench_against_a_url_keeps_the_limit_and_counts_what_the_server_saw() {
    let server = HttpServer::echo().await;
    let out = aiohttp(
        &[
            "bench",
            &server.url("/b"),
            "-n",
            "300",
            "-c",
            "16",
            "--limit",
            "4",
            "-m",
            "post",
            "--body",
            "abc",
        ],
        None,
        None,
    )
    .await;
    let report = stdout(&out);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(field(&report, "Requests"), "300 (0 errors)", "{report}");
    assert_eq!(field(&report, "200"), "300", "{report}");
    assert_eq!(server.requests_received(), 300);
    assert!(
        server.max_open_connections() <= 4,
        "{}",
        server.max_open_connections()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bench_keeps_the_per_host_limit() {
    let server = HttpServer::echo().await;
    let url = server.url("/h");
    let args = [
        "bench",
        &url,
        "-n",
        "200",
        "-c",
        "16",
        "--limit",
        "0",
        "--limit-per-host",
        "2",
    ];
    let out = aiohttp(&args, None, None).await;
    let report = stdout(&out);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(field(&report, "Requests"), "200 (0 errors)", "{report}");
    assert_eq!(server.requests_received(), 200);
    assert!(
        server.max_open_connections() <= 2,
        "{}",
        server.max_open_connections()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bench_counts_errors_by_kind() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("http://127.0.0.1:{port}/");
    let out = aiohttp(&["bench", &url, "-n", "5", "-c", "2"], None, None).await;
    let report = stdout(&out);
    assert_eq!(field(&report, "Requests"), "5 (5 errors)", "{report}");
    assert_eq!(field(&report, "ClientConnectorError"), "5", "{report}");
    assert!(report.contains("no responses"), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bench_interrupted_prints_the_partial_report() {
    let child = spawn(&["bench", "--duration", "30", "-c", "4"]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    interrupt(&child).await;
    let out = finished(child, "was interrupted").await;
    let report = stdout(&out);
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    assert!(report.starts_with("Interrupted"), "{report}");
    let elapsed: f64 = field(&report, "Elapsed")
        .trim_end_matches(" s")
        .parse()
        .unwrap();
    assert!(elapsed < 10.0, "{report}");
    let n: u64 = field(&report, "Requests")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(n > 0, "{report}");
    assert_eq!(field(&report, "200"), n.to_string(), "{report}");
}

/// A WebSocket echo server that also reports each upgrade request's headers.
async fn ws_echo_recording(
    extra: &'static str,
) -> (
    RawServer,
    std::sync::Arc<std::sync::Mutex<Vec<Vec<(String, String)>>>>,
) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    let server = WsServer::start(move |mut peer| {
        let s = s.clone();
        async move {
            let headers = peer.request.headers.clone();
            s.lock().unwrap().push(headers);
            if peer.accept(extra).await.is_ok() {
                echo_loop(&mut peer).await;
            }
        }
    })
    .await;
    (server, seen)
}

fn sent_header(seen: &[(String, String)], name: &str) -> Option<String> {
    seen.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn ws_pipes_lines_as_messages_and_prints_the_echoes() {
    let (server, seen) = ws_echo_recording("Sec-WebSocket-Protocol: chat\r\n").await;
    let url = format!("ws://{}/echo", server.addr());
    let out = aiohttp(
        &[
            "ws",
            &url,
            "--protocol",
            "chat",
            "--protocol",
            "v2",
            "X-Token:abc",
        ],
        Some(b"hello\nsecond line\n\nlast"),
        None,
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "hello\nsecond line\n\nlast\n");
    let err = stderr(&out);
    assert!(err.contains("connected to ws://"), "{err}");
    assert!(err.contains("protocol chat"), "{err}");
    assert!(err.contains("closed by the server: 1000"), "{err}");
    let seen = seen.lock().unwrap();
    assert_eq!(
        sent_header(&seen[0], "sec-websocket-protocol").as_deref(),
        Some("chat,v2")
    );
    assert_eq!(sent_header(&seen[0], "x-token").as_deref(), Some("abc"));
    assert!(sent_header(&seen[0], "sec-websocket-extensions")
        .is_some_and(|v| v.contains("permessage-deflate")));
}

#[tokio::test(flavor = "multi_thread")]
async fn ws_no_compress_offers_no_extension() {
    let (server, seen) = ws_echo_recording("").await;
    let url = format!("ws://{}/", server.addr());
    let out = aiohttp(&["ws", "--no-compress", &url], Some(b"x\n"), None).await;
    assert_eq!(stdout(&out), "x\n", "{out:?}");
    assert_eq!(
        sent_header(&seen.lock().unwrap()[0], "sec-websocket-extensions"),
        None
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ws_reports_the_servers_close() {
    let server = WsServer::start(|mut peer| async move {
        if peer.accept("").await.is_ok() {
            let _ = peer.send_text("welcome").await;
            let _ = peer.send_close(Some(4000), "bye").await;
            let _ = peer.read_message().await;
        }
    })
    .await;
    let url = format!("ws://{}/", server.addr());
    // Standard input stays open: the server's close ends the session.
    let child = spawn(&["ws", &url]);
    let out = finished(child, "the server closed").await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "welcome\n");
    assert!(
        stderr(&out).contains("closed by the server: 4000 bye"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ws_on_a_terminal_takes_ping_and_close_commands() {
    // An echo server that records the opcodes it reads.
    let opcodes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = opcodes.clone();
    let server = WsServer::start(move |mut peer| {
        let seen = seen.clone();
        async move {
            if peer.accept("").await.is_err() {
                return;
            }
            while let Some(m) = peer.read_message().await {
                seen.lock().unwrap().push((m.opcode, m.text()));
                let _ = match m.opcode {
                    8 => {
                        let _ = peer.send_close(m.close_code(), "").await;
                        return;
                    }
                    9 => peer.send(true, 0, 10, &m.payload).await,
                    op => peer.send(true, 0, op, &m.payload).await,
                };
            }
        }
    })
    .await;
    let url = format!("ws://{}/", server.addr());
    // `script` gives the binary a pseudo-terminal for both ends; its own standard input is
    // the typed lines.
    let command = format!("{} ws {url}", env!("CARGO_BIN_EXE_aiohttp"));
    let mut child = tokio::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let mut input = child.stdin.take().unwrap();
        input.write_all(b"hi there\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        input.write_all(b"/ping\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        input.write_all(b"/close\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let out = finished(child, "ends after /close").await;
    let text = stdout(&out);
    assert!(out.status.success(), "{out:?}");
    // The terminal echoes what is typed; the messages come back after it.
    assert!(text.matches("hi there").count() >= 2, "{text:?}");
    assert!(text.contains("[ping sent]"), "{text:?}");
    assert!(text.contains("closed by the server: 1000"), "{text:?}");
    // What the server read: the text message, a ping (not a "/ping" message), the close.
    let seen = opcodes.lock().unwrap().clone();
    let kinds: Vec<u8> = seen.iter().map(|(op, _)| *op).collect();
    assert_eq!(kinds, [1, 9, 8], "{seen:?}");
    assert_eq!(seen[0].1, "hi there");
}

#[tokio::test(flavor = "multi_thread")]
async fn ws_heartbeat_gives_up_on_a_silent_server() {
    // The server reads but never answers the heartbeat's pings.
    let server = WsServer::start(|mut peer| async move {
        if peer.accept("").await.is_ok() {
            while peer.read_message().await.is_some() {}
        }
    })
    .await;
    let url = format!("ws://{}/", server.addr());
    let child = spawn(&["ws", "--heartbeat", "0.3", &url]);
    let out = finished(child, "had no pong for its heartbeat").await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(stderr(&out).contains("TimeoutError"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_download_keeps_what_it_wrote_and_resumes() {
    // 1 KiB every 50 ms, 400 KiB in all: about 20 s, interrupted after 1 s.
    let server = HttpServer::start(|req: Request<Incoming>| async move {
        if let Some(range) = req.headers().get("range") {
            let from: usize = range.to_str().unwrap()["bytes=".len()..]
                .trim_end_matches('-')
                .parse()
                .unwrap();
            let rest = vec![b'z'; 400 * 1024 - from];
            return Response::builder().status(206).body(full(rest)).unwrap();
        }
        let chunks = (0..400).map(|_| vec![b'z'; 1024]);
        Response::new(test_support::chunks_with_delay(
            chunks,
            Duration::from_millis(50),
        ))
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slow.bin");
    let f = file.to_str().unwrap().to_string();
    let child = spawn(&["get", "--download", "-o", &f, &server.url("/slow")]);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    interrupt(&child).await;
    let out = finished(child, "was interrupted").await;
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    let kept = std::fs::read(&file).unwrap();
    assert!(
        !kept.is_empty() && kept.len() < 400 * 1024,
        "{} bytes",
        kept.len()
    );
    assert!(kept.iter().all(|b| *b == b'z'));
    assert!(
        stderr(&out).contains(&format!("interrupted: {} bytes", kept.len())),
        "{}",
        stderr(&out)
    );
    // --continue asks for the rest and completes the file.
    let out = aiohttp(
        &[
            "get",
            "--download",
            "-o",
            &f,
            "--continue",
            &server.url("/slow"),
        ],
        None,
        None,
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    assert!(stderr(&out).contains("HTTP/1.1 206"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&file).unwrap(), vec![b'z'; 400 * 1024]);
}
