//! `trust_env`: proxies and credentials from the environment. The variables are the process's,
//! so this file holds one test that sets them and checks every case in turn (a test binary of
//! its own: no other test reads them meanwhile).

use std::time::Duration;

use aiohttp::ClientSession;
use serde_json::Value;
use test_support::{full, HttpProxy, HttpServer};

async fn within<F: std::future::IntoFuture>(secs: u64, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), f.into_future())
        .await
        .unwrap_or_else(|_| panic!("not done within {secs}s"))
}

fn basic(user: &str, pass: &str) -> String {
    aiohttp::BasicAuth::new(user, pass).expect("auth").encode()
}

fn header<'a>(echo: &'a Value, name: &str) -> Option<&'a str> {
    echo["headers"]
        .as_array()?
        .iter()
        .find(|p| p[0].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
        .and_then(|p| p[1].as_str())
}

const VARS: &[&str] = &[
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "ws_proxy",
    "WS_PROXY",
    "wss_proxy",
    "WSS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "NETRC",
];

#[tokio::test]
async fn trust_env_reads_proxies_no_proxy_and_netrc() {
    for v in VARS {
        std::env::remove_var(v);
    }
    let origin = HttpServer::echo().await;
    let port = origin.addr().port();
    // For http:// targets: credentials in the variable's URL.
    let http_proxy = HttpProxy::builder().auth("hu", "hp").start().await;
    // For https:// (and everything else through ALL_PROXY): named `localhost`, its
    // credentials from netrc.
    let other_proxy = HttpProxy::builder().auth("nu", "np").start().await;
    let other_url = format!("http://localhost:{}", other_proxy.addr().port());

    let dir = tempfile::tempdir().expect("dir");
    let netrc = dir.path().join("netrc");
    std::fs::write(
        &netrc,
        "machine localhost login nu password np\nmachine 127.0.0.1 login tu password tp\n",
    )
    .expect("netrc");

    std::env::set_var(
        "http_proxy",
        http_proxy.url().replace("http://", "http://hu:hp@"),
    );
    // Lower case wins: the upper-case variable points nowhere.
    std::env::set_var("HTTP_PROXY", "http://127.0.0.1:9");
    std::env::set_var("ALL_PROXY", &other_url);
    std::env::set_var("NO_PROXY", "localhost,.direct.test");
    std::env::set_var("NETRC", &netrc);

    // Without trust_env nothing of it is used.
    let plain = ClientSession::new();
    let mut resp = within(10, plain.get(origin.url("/direct")))
        .await
        .expect("direct");
    let echo: Value = resp.json().await.expect("json");
    assert!(header(&echo, "authorization").is_none());
    assert_eq!(http_proxy.requests().len(), 0);

    let s = ClientSession::builder()
        .trust_env(true)
        .build()
        .expect("session");

    // http:// goes to HTTP_PROXY (lower case), with its URL's credentials; the target's come
    // from netrc.
    let mut resp = within(10, s.get(origin.url("/via-http-proxy")))
        .await
        .expect("through http_proxy");
    assert_eq!(resp.status(), 200);
    let echo: Value = resp.json().await.expect("json");
    assert_eq!(header(&echo, "authorization"), Some(&*basic("tu", "tp")));
    assert!(header(&echo, "proxy-authorization").is_none());
    let seen = http_proxy.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, origin.url("/via-http-proxy"));
    assert_eq!(
        seen[0].header("proxy-authorization"),
        Some(&*basic("hu", "hp"))
    );

    // NO_PROXY: localhost goes direct.
    let mut resp = within(10, s.get(format!("http://localhost:{port}/exempt")))
        .await
        .expect("direct to localhost");
    resp.read().await.expect("body");
    assert_eq!(http_proxy.requests().len(), 1);
    assert_eq!(other_proxy.requests().len(), 0);

    // ws:// falls back to ALL_PROXY: a CONNECT to `localhost` with netrc's credentials for it.
    let ws_target = format!("ws://127.0.0.1:{port}/ws");
    let _ = within(10, s.ws_connect(&ws_target)).await;
    let seen = other_proxy.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "CONNECT");
    assert_eq!(
        seen[0].header("proxy-authorization"),
        Some(&*basic("nu", "np"))
    );

    // Redirects: each hop gets its own proxy with that proxy's credentials. An http:// hop
    // through HTTP_PROXY (hu) redirected to https:// goes through ALL_PROXY (nu, from netrc):
    // hu never reaches the other proxy. Redirected to localhost (exempt), it goes direct.
    let tls_to = format!("https://127.0.0.1:{port}/tls");
    let local_to = format!("http://localhost:{port}/landed");
    let bouncer = HttpServer::start(move |req| {
        let to = if req.uri().path().ends_with("/tls") {
            tls_to.clone()
        } else {
            local_to.clone()
        };
        async move {
            let mut r = http::Response::new(full(""));
            *r.status_mut() = http::StatusCode::FOUND;
            r.headers_mut()
                .insert(http::header::LOCATION, to.parse().expect("location"));
            r
        }
    })
    .await;
    // The target speaks no TLS: the request fails after the CONNECT, which is what is checked.
    let _ = within(10, s.get(bouncer.url("/to/tls"))).await;
    let seen = http_proxy.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].target, bouncer.url("/to/tls"));
    assert_eq!(
        seen[1].header("proxy-authorization"),
        Some(&*basic("hu", "hp"))
    );
    let seen = other_proxy.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].method, "CONNECT");
    assert_eq!(seen[1].target, format!("127.0.0.1:{port}"));
    assert_eq!(
        seen[1].header("proxy-authorization"),
        Some(&*basic("nu", "np"))
    );

    let mut resp = within(10, s.get(bouncer.url("/to/local")))
        .await
        .expect("redirected");
    assert_eq!(resp.status(), 200);
    let echo: Value = resp.json().await.expect("json");
    assert!(header(&echo, "proxy-authorization").is_none());
    assert_eq!(echo["target"], "/landed", "direct: origin form");
    assert_eq!(
        http_proxy.requests().len(),
        3,
        "only the first hop went through it"
    );
    assert_eq!(other_proxy.requests().len(), 2);

    // A request's own proxy wins over the environment.
    let own = HttpProxy::start().await;
    let mut resp = within(10, s.get(origin.url("/own")).proxy(own.url()))
        .await
        .expect("own proxy");
    resp.read().await.expect("body");
    assert_eq!(own.requests().len(), 1);
    assert_eq!(own.requests()[0].header("proxy-authorization"), None);
    assert_eq!(http_proxy.requests().len(), 3);

    for v in VARS {
        std::env::remove_var(v);
    }
}
