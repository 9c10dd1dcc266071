//! Proxy interop against real third-party proxies, started by `scripts/interop.sh`, which sets
//! the variables below and runs these with `--ignored`. The targets are the script's other
//! servers: httpbin (`AIOHTTP_HTTPBIN_URL`, plain HTTP), hypercorn's cleartext port
//! (`AIOHTTP_HYPERCORN_H2C_URL`, which answers HTTP/1.1 too), nginx (`AIOHTTP_NGINX_URL`, TLS,
//! `/small.txt`) and the WebSocket echo servers (`AIOHTTP_WS_{WEBSOCKETS,AIOHTTP}_{URL,TLS_URL,
//! V6_URL}`, `/echo` and `/headers`); the TLS ones and the TLS proxies have certificates (for
//! localhost, 127.0.0.1 and ::1) that chain to the CA in `AIOHTTP_INTEROP_CA`.
//!
//! The proxies, all bound to 127.0.0.1; the ones asking for credentials take the user and
//! password in `AIOHTTP_PROXY_USER` and `AIOHTTP_PROXY_PASS`:
//! - squid 5.7: `AIOHTTP_PROXY_SQUID_URL` (open), `AIOHTTP_PROXY_SQUID_AUTH_URL` (Basic auth),
//!   `AIOHTTP_PROXY_SQUID_TLS_URL` (`https://`: an HTTPS proxy, open);
//! - tinyproxy 1.11: `AIOHTTP_PROXY_TINYPROXY_URL` (open), `AIOHTTP_PROXY_TINYPROXY_AUTH_URL`
//!   (BasicAuth);
//! - proxy.py 2.4.10: `AIOHTTP_PROXY_PROXYPY_URL` (open), `AIOHTTP_PROXY_PROXYPY_AUTH_URL`
//!   (`--basic-auth`), `AIOHTTP_PROXY_PROXYPY_TLS_URL` (`https://`, open);
//! - pproxy 2.7.9: `AIOHTTP_PROXY_PPROXY_SOCKS4_URL`, `AIOHTTP_PROXY_PPROXY_SOCKS5_URL` and
//!   `AIOHTTP_PROXY_PPROXY_SOCKS5_AUTH_URL` (user and password, RFC 1929);
//! - OpenSSH 9.2's dynamic forwarding, `ssh -N -D` logged in to a private sshd:
//!   `AIOHTTP_PROXY_SSH_SOCKS_URL` (`socks4a://`; the one port takes SOCKS4, SOCKS4a and
//!   SOCKS5 without authentication, so the tests change the scheme), and
//!   `AIOHTTP_PROXY_SSH_LOG`, ssh's `-vv` log, where each SOCKS request it decoded shows as
//!   `dynamic request: socks4 host H port P command 1` (`socks4` for SOCKS4a too).
//!
//! Which proxy verified which path: forwarded `http://` requests, `CONNECT` for `https://`,
//! `ws://` and `wss://`, Basic credentials and `proxy_headers` against squid, tinyproxy and
//! proxy.py; HTTPS proxies (TLS in TLS) against squid and proxy.py; `socks4://`, `socks5://`,
//! `socks5h://` and RFC 1929 passwords against pproxy; `socks4a://` (and `socks4://`,
//! `socks5://`, `socks5h://` again, with no credentials) against ssh, where the tests also show
//! who resolved the target's name: with a resolver that knows no name, `socks4a://` and
//! `socks5h://` reach `localhost` and ssh logs the name, while `socks4://` and `socks5://`
//! fail with the client's DNS error before asking the proxy.
//!
//! Every HTTP proxy here tunnels `CONNECT` to any port, which `https://`, `ws://` and `wss://`
//! targets use. What the proxies do that a client has to live with, as checked with curl:
//! - a wrong password gets 407 from squid and proxy.py, but 401 (with `WWW-Authenticate`)
//!   from tinyproxy, to forwarded requests and to `CONNECT` alike; no credentials get 407 from
//!   all three;
//! - squid checks the password of a user name once for all the requests of that user waiting
//!   for the answer: with the right and a wrong password in flight at once, one now and then
//!   gets the other's answer (2 of 120 wrong ones let through, 1 of 120 right ones refused,
//!   with curl), so the tests sending a wrong password run alone (`credentials_lock`);
//! - tinyproxy closes the connection after every response without saying so (the origin's
//!   answer comes as HTTP/1.1 without `Connection: close`; only its own pages are HTTP/1.0
//!   with `Connection: close`): a request sent on such a connection before the close is seen
//!   fails, which a GET survives by the retry of a stale connection but a POST does not, so
//!   the tests send their POSTs on a session of their own;
//! - proxy.py 2.4.10 passes every later request of a kept-alive client connection as it is
//!   to the first request's origin server, whatever its URL says, without checking
//!   credentials or taking `Proxy-Authorization` out; so the test of one connection to the
//!   proxy serving several origins runs against squid only, and the tests through proxy.py
//!   take a new session where a pooled connection would carry the next request;
//! - proxy.py adds a `Content-Length` of its own to a forwarded request whose
//!   `content-length` is in lower case (as hyper writes it): gunicorn answers 400 to the two,
//!   so no request body is sent to httpbin through proxy.py;
//! - squid and tinyproxy drop `Upgrade` from forwarded requests (a WebSocket upgrade must go
//!   through `CONNECT`); the open tinyproxy passes a client's `Proxy-Authorization` on to the
//!   origin;
//! - pproxy's socks4 listener does not do SOCKS4a (it takes the `0.0.0.x` address literally),
//!   so `socks4a://` is tested against ssh only; pproxy grants SOCKS requests before
//!   connecting to the target, and it closes the connection, without an RFC 1929 failure
//!   reply, on a wrong or missing password;
//! - ssh answers a SOCKS request only once sshd has connected to the target; when sshd cannot
//!   (here, a name it cannot resolve), ssh closes the connection without a failure reply, for
//!   SOCKS4a and SOCKS5 alike, so the client sees the handshake cut short (checked by
//!   `ssh_socks4a_and_socks5h_a_name_sshd_cannot_resolve`).
//!
//! The `trust_env` test sets the proxy variables, which are global to the process: it is one
//! test that runs its cases one after the other, and it puts the variables back at the end.
//! The other tests do not trust the environment, so they do not see them.
//! Without the variables the tests fail loudly rather than pass without checking anything.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aiohttp::rustls;
use aiohttp::{
    BasicAuth, ClientError, ClientResponse, ClientSession, ErrorKind, HeaderMap, HeaderValue,
    RequestBuilder, Ssl, StatusCode, Url, WsConnectBuilder,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::Value;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set; run scripts/interop.sh"))
}

/// Runs `f`, failing the test if it is not done within `secs` seconds.
async fn within<F: Future>(secs: u64, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .unwrap_or_else(|_| panic!("not done within {secs}s"))
}

// ---- targets ----

fn httpbin(path: &str) -> String {
    format!("{}{path}", env("AIOHTTP_HTTPBIN_URL").trim_end_matches('/'))
}

/// hypercorn's cleartext port: another server than httpbin's gunicorn, for requests to
/// several origins over one connection to a proxy.
fn hypercorn(path: &str) -> String {
    format!(
        "{}{path}",
        env("AIOHTTP_HYPERCORN_H2C_URL").trim_end_matches('/')
    )
}

fn nginx(path: &str) -> String {
    format!("{}{path}", env("AIOHTTP_NGINX_URL").trim_end_matches('/'))
}

/// `url` with the host `localhost` instead of the loopback IP.
fn on_localhost(url: String) -> String {
    url.replacen("127.0.0.1", "localhost", 1)
}

/// The WebSocket echo servers' variable names.
const WS_SERVERS: [&str; 2] = ["WEBSOCKETS", "AIOHTTP"];

/// `path` on the `key` listener (`URL`, `TLS_URL`, `V6_URL`) of a WebSocket echo server.
fn ws_url(server: &str, key: &str, path: &str) -> String {
    format!("{}{path}", env(&format!("AIOHTTP_WS_{server}_{key}")))
}

/// `/echo` on every ws and wss listener at 127.0.0.1.
fn ws_targets() -> Vec<String> {
    WS_SERVERS
        .iter()
        .flat_map(|s| [ws_url(s, "URL", "/echo"), ws_url(s, "TLS_URL", "/echo")])
        .collect()
}

fn port_of(url: &str) -> u16 {
    let u = Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    u.port_or_known_default()
        .unwrap_or_else(|| panic!("no port in {url}"))
}

/// `host:port` of a URL, as an origin sees it in `Host`.
fn authority(url: &str) -> String {
    let u = Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    format!(
        "{}:{}",
        u.host_str().expect("host"),
        u.port_or_known_default().expect("port")
    )
}

/// What the script writes to nginx's `/small.txt`.
fn small_txt() -> String {
    (0..500)
        .map(|i| format!("line {i:05} of the small static file\n"))
        .collect()
}

// ---- TLS and credentials ----

/// The interop CA, offering http/1.1, shared: connections are pooled by the identity of the
/// configuration.
fn ca() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let path = env("AIOHTTP_INTEROP_CA");
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(&path).expect("CA file") {
                roots.add(cert.expect("CA certificate")).expect("root");
            }
            assert!(!roots.is_empty(), "no certificate in {path}");
            let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(config)
        })
        .clone()
}

/// Verification against the interop CA, for targets and for TLS proxies.
fn trust_ca() -> Ssl {
    Ssl::Config(ca())
}

fn user() -> String {
    env("AIOHTTP_PROXY_USER")
}

fn pass() -> String {
    env("AIOHTTP_PROXY_PASS")
}

fn credentials() -> BasicAuth {
    BasicAuth::new(user(), pass()).expect("credentials")
}

fn wrong_credentials() -> BasicAuth {
    BasicAuth::new(user(), format!("{}-wrong", pass())).expect("credentials")
}

/// squid checks Basic credentials once for a user name and gives the answer to every request
/// of that user waiting for it: a wrong password sent while the right one is being checked
/// (or the other way round) can get the other's answer. The tests sending a wrong password
/// hold this lock alone; those sending the right one share it.
fn credentials_lock() -> &'static tokio::sync::RwLock<()> {
    static LOCK: OnceLock<tokio::sync::RwLock<()>> = OnceLock::new();
    LOCK.get_or_init(|| tokio::sync::RwLock::new(()))
}

/// `url` with `user:password@` in it.
fn with_userinfo(url: &str, user: &str, password: &str) -> String {
    let mut u = Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    u.set_username(user).expect("user name");
    u.set_password(Some(password)).expect("password");
    u.to_string()
}

/// `url` with another scheme (`socks5` → `socks5h`).
fn with_scheme(url: &str, scheme: &str) -> String {
    let (_, rest) = url.split_once("://").expect("a URL");
    format!("{scheme}://{rest}")
}

// ---- how a request reaches its proxy ----

/// A proxy and what a request tells it: the URL (maybe with credentials), `proxy_auth`,
/// `proxy_headers`, and for an `https://` proxy `proxy_ssl` with the interop CA.
#[derive(Clone)]
struct Via {
    url: String,
    auth: Option<BasicAuth>,
    headers: Option<HeaderMap>,
    /// `proxy_ssl(trust_ca())` for an `https://` proxy.
    tls: bool,
}

impl std::fmt::Debug for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Via")
            .field("url", &self.url)
            .field(
                "proxy_auth",
                &self.auth.as_ref().map(|a| a.login().to_string()),
            )
            .field("proxy_headers", &self.headers.as_ref().map(HeaderMap::len))
            .finish()
    }
}

impl Via {
    fn new(url: impl Into<String>) -> Via {
        let url = url.into();
        let tls = url.starts_with("https://");
        Via {
            url,
            auth: None,
            headers: None,
            tls,
        }
    }

    /// The right credentials by `proxy_auth`.
    fn with_auth(mut self) -> Via {
        self.auth = Some(credentials());
        self
    }

    fn with_proxy_auth(mut self, auth: BasicAuth) -> Via {
        self.auth = Some(auth);
        self
    }

    /// The right credentials in the URL.
    fn with_url_credentials(mut self) -> Via {
        self.url = with_userinfo(&self.url, &user(), &pass());
        self
    }

    fn with_headers(mut self, headers: HeaderMap) -> Via {
        self.headers = Some(headers);
        self
    }

    fn port(&self) -> u16 {
        port_of(&self.url)
    }

    fn request(&self, mut b: RequestBuilder) -> RequestBuilder {
        b = b.proxy(self.url.as_str());
        if let Some(auth) = &self.auth {
            b = b.proxy_auth(auth.clone());
        }
        if let Some(headers) = &self.headers {
            b = b.proxy_headers(headers.clone());
        }
        if self.tls {
            b = b.proxy_ssl(trust_ca());
        }
        b
    }

    fn ws(&self, mut b: WsConnectBuilder) -> WsConnectBuilder {
        b = b.proxy(self.url.as_str());
        if let Some(auth) = &self.auth {
            b = b.proxy_auth(auth.clone());
        }
        if let Some(headers) = &self.headers {
            b = b.proxy_headers(headers.clone());
        }
        if self.tls {
            b = b.proxy_ssl(trust_ca());
        }
        b
    }

    /// Asserts the response came over a connection to this proxy (its TCP peer), not to the
    /// origin; to be called before the body is read.
    fn assert_peer(&self, resp: &ClientResponse) {
        let peer = resp
            .connection()
            .unwrap_or_else(|| panic!("no connection before the body is read: {resp:?}"))
            .transport()
            .1
            .unwrap_or_else(|| panic!("no peer address: {resp:?}"));
        assert_eq!(
            peer.port(),
            self.port(),
            "{} came from {peer}, not through {self:?}",
            resp.url()
        );
    }
}

/// Sends `b` (a request through `via`), expecting a response.
async fn send(via: &Via, b: RequestBuilder, what: &str) -> ClientResponse {
    via.request(b)
        .await
        .unwrap_or_else(|e| panic!("{what} via {via:?}: {e:?}"))
}

/// GET httpbin's `url` through `via`: 200, over the connection to the proxy, and the origin
/// saw no `Proxy-Authorization`. Returns httpbin's JSON.
async fn httpbin_via(s: &ClientSession, via: &Via, url: &str) -> Value {
    let mut resp = send(via, s.get(url), url).await;
    assert_eq!(resp.status(), 200, "{url} via {via:?}: {resp:?}");
    via.assert_peer(&resp);
    assert_eq!(resp.url().as_str(), Url::parse(url).expect("url").as_str());
    let v: Value = resp.json().await.expect("httpbin's JSON");
    assert!(v["headers"].is_object(), "{v}");
    assert!(
        v["headers"].get("Proxy-Authorization").is_none(),
        "the origin saw the proxy's credentials through {via:?}: {v}"
    );
    v
}

/// nginx's `/small.txt` through `via` (a tunnel, TLS to nginx inside it): 200 and the file.
async fn nginx_via(s: &ClientSession, via: &Via, url: &str) {
    let mut resp = send(via, s.get(url).ssl(trust_ca()), url).await;
    assert_eq!(resp.status(), 200, "{url} via {via:?}: {resp:?}");
    via.assert_peer(&resp);
    assert!(
        resp.connection().and_then(|c| c.tls()).is_some(),
        "{resp:?}"
    );
    assert_eq!(resp.text().await.expect("body"), small_txt(), "{url}");
}

/// A WebSocket through `via` to `url` (`/echo`): a text and a binary message come back, and
/// the close handshake completes.
async fn ws_echo_via(s: &ClientSession, via: &Via, url: &str) {
    let mut b = via.ws(s.ws_connect(url));
    if url.starts_with("wss://") {
        b = b.ssl(trust_ca());
    }
    let mut ws = b
        .await
        .unwrap_or_else(|e| panic!("ws_connect {url} via {via:?}: {e:?}"));
    assert_eq!(
        ws.peer_addr().map(|a| a.port()),
        Some(via.port()),
        "{url}: not through {via:?}"
    );
    ws.send_str(format!("text to {url}"))
        .await
        .expect("send_str");
    assert_eq!(
        ws.receive_str().await.expect("receive_str"),
        format!("text to {url}")
    );
    let bin = b"\x00\x01binary\xff".to_vec();
    ws.send_bytes(bin.clone()).await.expect("send_bytes");
    assert_eq!(
        ws.receive_bytes().await.expect("receive_bytes").as_ref(),
        &bin[..]
    );
    assert!(
        ws.close(1000, b"").await.expect("close"),
        "close() closed it"
    );
    assert_eq!(ws.close_code(), Some(1000));
}

/// The WebSocket server's report of the upgrade request through `via` (`/headers` of `url`'s
/// server).
async fn ws_report_via(s: &ClientSession, via: &Via, url: &str) -> Value {
    let mut b = via.ws(s.ws_connect(url));
    if url.starts_with("wss://") {
        b = b.ssl(trust_ca());
    }
    let mut ws = b
        .await
        .unwrap_or_else(|e| panic!("ws_connect {url} via {via:?}: {e:?}"));
    let v: Value = ws.receive_json().await.expect("the /headers report");
    assert!(v["headers"].is_object(), "{v}");
    assert!(ws.close(1000, b"").await.expect("close"));
    v
}

/// Asserts `result` failed because the proxy refused `CONNECT` with `status`.
fn assert_connect_refused<T: std::fmt::Debug>(
    result: Result<T, ClientError>,
    status: u16,
    what: &str,
) -> ClientError {
    let err = result.expect_err(what);
    assert_eq!(
        err.kind(),
        ErrorKind::ClientHttpProxyError,
        "{what}: {err:?}"
    );
    assert!(err.is_client_http_proxy_error());
    assert!(err.is_client_response_error(), "{what}: {err:?}");
    assert_eq!(
        err.status(),
        StatusCode::from_u16(status).ok(),
        "{what}: {err:?}"
    );
    err
}

// ---- HTTP proxies: squid, tinyproxy, proxy.py ----

#[derive(Clone, Copy, Debug, PartialEq)]
enum HttpProxy {
    Squid,
    Tinyproxy,
    ProxyPy,
}

impl HttpProxy {
    fn var(self, suffix: &str) -> String {
        let name = match self {
            HttpProxy::Squid => "SQUID",
            HttpProxy::Tinyproxy => "TINYPROXY",
            HttpProxy::ProxyPy => "PROXYPY",
        };
        env(&format!("AIOHTTP_PROXY_{name}_{suffix}"))
    }

    /// The instance that asks nothing.
    fn open(self) -> Via {
        Via::new(self.var("URL"))
    }

    /// The instance asking for `AIOHTTP_PROXY_USER` and `AIOHTTP_PROXY_PASS`.
    fn auth(self) -> Via {
        Via::new(self.var("AUTH_URL"))
    }

    /// The status a wrong password gets: 407, but 401 from tinyproxy.
    fn wrong_password_status(self) -> u16 {
        match self {
            HttpProxy::Tinyproxy => 401,
            HttpProxy::Squid | HttpProxy::ProxyPy => 407,
        }
    }
}

async fn http_target_is_forwarded(proxy: HttpProxy) {
    within(30, async {
        let s = ClientSession::new();
        let via = proxy.open();
        let url = httpbin("/get?a=1&b=x%20y");
        let v = httpbin_via(&s, &via, &url).await;
        assert_eq!(v["args"]["a"], "1", "{v}");
        assert_eq!(v["args"]["b"], "x y", "{v}");
        assert_eq!(v["headers"]["Host"], authority(&url), "{v}");
        assert!(
            v["headers"]["User-Agent"]
                .as_str()
                .unwrap_or("")
                .starts_with("aiohttp-rs/"),
            "{v}"
        );

        // The name localhost, resolved by the proxy.
        let url = on_localhost(httpbin("/get"));
        let v = httpbin_via(&s, &via, &url).await;
        assert_eq!(v["headers"]["Host"], authority(&url), "{v}");

        // A body goes through too, on a new connection (tinyproxy has closed the last one
        // without saying so); not through proxy.py, which adds a `Content-Length` of its own
        // to a request whose `content-length` is in lower case (as this client sends it), so
        // that httpbin's gunicorn answers 400 to the two.
        if proxy == HttpProxy::ProxyPy {
            return;
        }
        let s = ClientSession::new();
        let mut resp = send(
            &via,
            s.post(httpbin("/post"))
                .json(&serde_json::json!({"k": [1, 2], "s": "é"})),
            "POST",
        )
        .await;
        assert_eq!(resp.status(), 200, "{resp:?}");
        via.assert_peer(&resp);
        let v: Value = resp.json().await.expect("json");
        assert_eq!(v["json"], serde_json::json!({"k": [1, 2], "s": "é"}), "{v}");
    })
    .await;
}

async fn https_target_through_connect(proxy: HttpProxy) {
    within(30, async {
        let s = ClientSession::new();
        let via = proxy.open();
        nginx_via(&s, &via, &nginx("/small.txt")).await;
        nginx_via(&s, &via, &on_localhost(nginx("/small.txt"))).await;

        // TLS is end to end, with the target: the default roots do not know the interop CA.
        let err = via
            .request(s.get(nginx("/small.txt")))
            .await
            .expect_err("the run-time CA is not a default root");
        assert!(err.is_client_ssl_error(), "{err:?}");
        assert!(
            format!("{err:?}").to_lowercase().contains("certificate"),
            "{err:?}"
        );
    })
    .await;
}

async fn ws_and_wss_targets_through_connect(proxy: HttpProxy) {
    within(30, async {
        let s = ClientSession::new();
        let via = proxy.open();
        for url in ws_targets() {
            ws_echo_via(&s, &via, &url).await;
        }
        // The upgrade request reached the server as sent, with its own Host.
        for server in WS_SERVERS {
            for key in ["URL", "TLS_URL"] {
                let url = ws_url(server, key, "/headers");
                let v = ws_report_via(&s, &via, &url).await;
                assert_eq!(v["headers"]["host"], authority(&url), "{v}");
                assert!(v["headers"].get("proxy-authorization").is_none(), "{v}");
            }
        }
    })
    .await;
}

async fn credentials_in_the_url_and_by_proxy_auth(proxy: HttpProxy) {
    let _credentials = credentials_lock().read().await;
    within(60, async {
        for via in [
            proxy.auth().with_auth(),
            proxy.auth().with_url_credentials(),
        ] {
            // A session each: proxy.py would pass a later request on a kept-alive connection to
            // the origin as it is, Proxy-Authorization included.
            let s = ClientSession::new();
            let v = httpbin_via(&s, &via, &httpbin("/get")).await;
            assert!(v["headers"].get("Authorization").is_none(), "{v}");
            nginx_via(&s, &via, &nginx("/small.txt")).await;
            for url in ws_targets() {
                ws_echo_via(&s, &via, &url).await;
            }
            let url = ws_url("WEBSOCKETS", "URL", "/headers");
            let v = ws_report_via(&s, &via, &url).await;
            assert!(v["headers"].get("proxy-authorization").is_none(), "{v}");
            assert_eq!(v["auth"], Value::Null, "{v}");
        }

        // The proxy's credentials and the origin's are told apart.
        let s = ClientSession::new();
        let via = proxy.auth().with_auth();
        let mut resp = send(
            &via,
            s.get(httpbin("/basic-auth/origin-user/origin-pass"))
                .auth(BasicAuth::new("origin-user", "origin-pass").expect("auth")),
            "origin auth",
        )
        .await;
        assert_eq!(resp.status(), 200, "{resp:?}");
        let v: Value = resp.json().await.expect("json");
        assert_eq!(v["user"], "origin-user", "{v}");
    })
    .await;
}

async fn missing_or_wrong_credentials(proxy: HttpProxy) {
    let _credentials = credentials_lock().write().await;
    within(60, async {
        let s = ClientSession::new();
        let wrong = proxy.wrong_password_status();
        for (via, status) in [
            (proxy.auth(), 407),
            (proxy.auth().with_proxy_auth(wrong_credentials()), wrong),
            (
                proxy
                    .auth()
                    .with_proxy_auth(BasicAuth::new("nobody", pass()).expect("auth")),
                wrong,
            ),
        ] {
            // An http:// target: the proxy's answer is the response (as aiohttp).
            let mut resp = send(&via, s.get(httpbin("/get")), "GET").await;
            assert_eq!(resp.status().as_u16(), status, "{via:?}: {resp:?}");
            via.assert_peer(&resp);
            let challenge = if status == 407 {
                "proxy-authenticate"
            } else {
                "www-authenticate"
            };
            assert!(
                resp.headers().contains_key(challenge),
                "{via:?}: {challenge} missing: {resp:?}"
            );
            resp.read().await.expect("the proxy's page");

            // Through CONNECT: a ClientHttpProxyError with the proxy's status and headers.
            let err = assert_connect_refused(
                via.request(s.get(nginx("/small.txt")).ssl(trust_ca()))
                    .await,
                status,
                &format!("https through {via:?}"),
            );
            assert!(
                err.headers().is_some_and(|h| h.contains_key(challenge)),
                "{err:?}"
            );
            for url in ws_targets() {
                let mut b = via.ws(s.ws_connect(url.as_str()));
                if url.starts_with("wss://") {
                    b = b.ssl(trust_ca());
                }
                assert_connect_refused(b.await, status, &format!("{url} through {via:?}"));
            }
        }

        // The open instance lets the same requests through.
        let via = proxy.open();
        httpbin_via(&s, &via, &httpbin("/get")).await;
        nginx_via(&s, &via, &nginx("/small.txt")).await;
    })
    .await;
}

async fn session_wide_proxy_settings(proxy: HttpProxy) {
    let _credentials = credentials_lock().read().await;
    within(60, async {
        let via = proxy.auth();
        let s = ClientSession::builder()
            .proxy(via.url.as_str())
            .proxy_auth(credentials())
            .build()
            .expect("session");
        let mut resp = s
            .get(httpbin("/get"))
            .await
            .expect("GET via the session's proxy");
        assert_eq!(resp.status(), 200, "{resp:?}");
        via.assert_peer(&resp);
        let v: Value = resp.json().await.expect("json");
        assert!(v["headers"].get("Proxy-Authorization").is_none(), "{v}");
        let mut resp = s
            .get(nginx("/small.txt"))
            .ssl(trust_ca())
            .await
            .expect("https via the session's proxy");
        assert_eq!(resp.status(), 200, "{resp:?}");
        via.assert_peer(&resp);
        assert_eq!(resp.text().await.expect("body"), small_txt());
        let mut ws = s
            .ws_connect(ws_url("AIOHTTP", "TLS_URL", "/echo"))
            .ssl(trust_ca())
            .await
            .expect("wss via the session's proxy");
        assert_eq!(ws.peer_addr().map(|a| a.port()), Some(via.port()));
        ws.send_str("session").await.expect("send");
        assert_eq!(ws.receive_str().await.expect("receive"), "session");
        assert!(ws.close(1000, b"").await.expect("close"));

        // A request naming another proxy goes there, without the session's credentials.
        let open = proxy.open();
        let mut resp = s
            .get(httpbin("/get"))
            .proxy(open.url.as_str())
            .await
            .expect("GET via the request's proxy");
        assert_eq!(resp.status(), 200, "{resp:?}");
        open.assert_peer(&resp);
        let v: Value = resp.json().await.expect("json");
        assert!(v["headers"].get("Proxy-Authorization").is_none(), "{v}");

        // The session's proxy without credentials: 407.
        let s = ClientSession::builder()
            .proxy(via.url.as_str())
            .build()
            .expect("session");
        let mut resp = s.get(httpbin("/get")).await.expect("GET");
        assert_eq!(resp.status(), 407, "{resp:?}");
        resp.read().await.expect("body");
    })
    .await;
}

async fn proxy_headers_go_to_the_proxy_only(proxy: HttpProxy) {
    let _credentials = credentials_lock().read().await;
    within(30, async {
        let s = ClientSession::new();
        // The credentials as a header of the proxy's own: CONNECT is let through, and the
        // tunnelled request carries neither header.
        let mut h = HeaderMap::new();
        h.insert(
            "proxy-authorization",
            HeaderValue::from_str(&credentials().encode()).expect("header"),
        );
        h.insert("x-proxy-note", HeaderValue::from_static("for the proxy"));
        let via = proxy.auth().with_headers(h);
        nginx_via(&s, &via, &nginx("/small.txt")).await;
        for key in ["URL", "TLS_URL"] {
            let url = ws_url("WEBSOCKETS", key, "/headers");
            let v = ws_report_via(&s, &via, &url).await;
            assert!(v["headers"].get("proxy-authorization").is_none(), "{v}");
            assert!(v["headers"].get("x-proxy-note").is_none(), "{v}");
        }
        // A forwarded request carries them to the proxy, which takes the credentials.
        httpbin_via(&s, &via, &httpbin("/get")).await;
    })
    .await;
}

macro_rules! against_each_http_proxy {
    ($($test:ident),* $(,)?) => {
        mod squid {
            $(
                #[tokio::test]
                #[ignore = "needs the proxies: scripts/interop.sh"]
                async fn $test() {
                    super::$test(super::HttpProxy::Squid).await;
                }
            )*
        }
        mod tinyproxy {
            $(
                #[tokio::test]
                #[ignore = "needs the proxies: scripts/interop.sh"]
                async fn $test() {
                    super::$test(super::HttpProxy::Tinyproxy).await;
                }
            )*
        }
        mod proxypy {
            $(
                #[tokio::test]
                #[ignore = "needs the proxies: scripts/interop.sh"]
                async fn $test() {
                    super::$test(super::HttpProxy::ProxyPy).await;
                }
            )*
        }
    };
}

against_each_http_proxy!(
    http_target_is_forwarded,
    https_target_through_connect,
    ws_and_wss_targets_through_connect,
    credentials_in_the_url_and_by_proxy_auth,
    missing_or_wrong_credentials,
    session_wide_proxy_settings,
    proxy_headers_go_to_the_proxy_only,
);

// ---- keep-alive to the proxy ----

/// Three requests, to three origins (httpbin at 127.0.0.1, the same at localhost, and
/// hypercorn), each read to the end: the second and the third reuse the first's connection
/// to the proxy, and each answer comes from the right server.
async fn one_connection_for_several_origins(via: Via) {
    let _credentials = credentials_lock().read().await;
    within(30, async {
        let s = ClientSession::new();
        let first = httpbin("/get?n=1");
        let mut resp = send(&via, s.get(first.as_str()), &first).await;
        assert_eq!(resp.status(), 200, "{resp:?}");
        via.assert_peer(&resp);
        assert_eq!(resp.connection().map(|c| c.is_reused()), Some(false));
        resp.read().await.expect("body to the end");

        let second = on_localhost(httpbin("/headers"));
        let mut resp = send(&via, s.get(second.as_str()), &second).await;
        assert_eq!(resp.status(), 200, "{resp:?}");
        via.assert_peer(&resp);
        assert_eq!(
            resp.connection().map(|c| c.is_reused()),
            Some(true),
            "{via:?}: a new connection for another origin"
        );
        let v: Value = resp.json().await.expect("json");
        assert_eq!(v["headers"]["Host"], authority(&second), "{v}");
        assert!(v["headers"].get("Proxy-Authorization").is_none(), "{v}");

        let third = hypercorn("/headers");
        let mut resp = send(&via, s.get(third.as_str()), &third).await;
        assert_eq!(resp.status(), 200, "{resp:?}");
        assert_eq!(
            resp.connection().map(|c| c.is_reused()),
            Some(true),
            "{via:?}: a new connection for another server"
        );
        let server = resp
            .headers()
            .get("server")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        assert!(
            server.contains("hypercorn"),
            "answered by {server:?}: {resp:?}"
        );
        let v: Value = resp.json().await.expect("json");
        assert_eq!(v["headers"]["Host"], authority(&third), "{v}");
    })
    .await;
}

#[tokio::test]
#[ignore = "needs the proxies: scripts/interop.sh"]
async fn squid_keeps_one_connection_for_several_origins() {
    one_connection_for_several_origins(HttpProxy::Squid.open()).await;
    one_connection_for_several_origins(HttpProxy::Squid.auth().with_auth()).await;
    one_connection_for_several_origins(HttpProxy::Squid.auth().with_url_credentials()).await;
}

#[tokio::test]
#[ignore = "needs the proxies: scripts/interop.sh"]
async fn squid_over_tls_keeps_one_connection_for_several_origins() {
    one_connection_for_several_origins(Via::new(env("AIOHTTP_PROXY_SQUID_TLS_URL"))).await;
}

#[tokio::test]
#[ignore = "needs the proxies: scripts/interop.sh"]
async fn proxypy_keeps_the_connection_for_one_origin() {
    let _credentials = credentials_lock().read().await;
    within(30, async {
        let s = ClientSession::new();
        for via in [
            HttpProxy::ProxyPy.open(),
            HttpProxy::ProxyPy.auth().with_auth(),
        ] {
            for i in 0..3 {
                let mut resp = send(&via, s.get(httpbin("/get")), "GET").await;
                assert_eq!(resp.status(), 200, "{resp:?}");
                via.assert_peer(&resp);
                assert_eq!(
                    resp.connection().map(|c| c.is_reused()),
                    Some(i > 0),
                    "request {i} via {via:?}"
                );
                resp.read().await.expect("body");
            }
        }
    })
    .await;
}

#[tokio::test]
#[ignore = "needs the proxies: scripts/interop.sh"]
async fn tinyproxy_closing_each_connection_is_survived() {
    let _credentials = credentials_lock().read().await;
    within(30, async {
        let s = ClientSession::new();
        for via in [
            HttpProxy::Tinyproxy.open(),
            HttpProxy::Tinyproxy.auth().with_auth(),
        ] {
            for i in 0..3 {
                let url = if i % 2 == 0 {
                    httpbin("/get")
                } else {
                    on_localhost(httpbin("/get"))
                };
                let mut resp = send(&via, s.get(url.as_str()), &url).await;
                assert_eq!(resp.status(), 200, "{resp:?}");
                via.assert_peer(&resp);
                assert_eq!(
                    resp.connection().map(|c| c.is_reused()),
                    Some(false),
                    "request {i} via {via:?}: tinyproxy closed the last connection"
                );
                resp.read().await.expect("body");
            }
        }
    })
    .await;
}

// ---- HTTPS proxies: proxy.py and squid, spoken to over TLS ----

#[derive(Clone, Copy, Debug, PartialEq)]
enum TlsProxy {
    ProxyPy,
    Squid,
}

impl TlsProxy {
    fn url(self) -> String {
        env(match self {
            TlsProxy::ProxyPy => "AIOHTTP_PROXY_PROXYPY_TLS_URL",
            TlsProxy::Squid => "AIOHTTP_PROXY_SQUID_TLS_URL",
        })
    }

    fn via(self) -> Via {
        let via = Via::new(self.url());
        assert!(via.tls, "{via:?} is not an https:// proxy");
        via
    }
}

async fn tls_proxy_http_target(proxy: TlsProxy) {
    within(30, async {
        let s = ClientSession::new();
        let via = proxy.via();
        let url = httpbin("/get?over=tls");
        let mut resp = send(&via, s.get(url.as_str()), &url).await;
        assert_eq!(resp.status(), 200, "{resp:?}");
        via.assert_peer(&resp);
        let v: Value = resp.json().await.expect("json");
        assert_eq!(v["args"]["over"], "tls", "{v}");
        assert_eq!(v["headers"]["Host"], authority(&url), "{v}");
        httpbin_via(&s, &via, &on_localhost(httpbin("/get"))).await;
    })
    .await;
}

async fn tls_proxy_https_target_tls_in_tls(proxy: TlsProxy) {
    within(30, async {
        let s = ClientSession::new();
        let via = proxy.via();
        nginx_via(&s, &via, &nginx("/small.txt")).await;
        nginx_via(&s, &via, &on_localhost(nginx("/small.txt"))).await;
        // The target's certificate is checked inside the tunnel, by the request's own choice.
        let err = via
            .request(s.get(nginx("/small.txt")))
            .await
            .expect_err("the target verified against the default roots");
        assert!(err.is_client_ssl_error(), "{err:?}");
    })
    .await;
}

async fn tls_proxy_ws_and_wss_targets(proxy: TlsProxy) {
    within(30, async {
        let s = ClientSession::new();
        let via = proxy.via();
        for url in ws_targets() {
            ws_echo_via(&s, &via, &url).await;
        }
    })
    .await;
}

async fn tls_proxy_certificate_is_verified(proxy: TlsProxy) {
    within(30, async {
        let s = ClientSession::new();
        let url = proxy.url();
        // Without proxy_ssl: the default roots do not know the interop CA, for a forwarded
        // request and for a tunnel alike.
        for target in [httpbin("/get"), nginx("/small.txt")] {
            let err = s
                .get(target.as_str())
                .proxy(url.as_str())
                .ssl(trust_ca())
                .await
                .expect_err("the proxy's certificate is not from a default root");
            assert!(err.is_client_ssl_error(), "{target}: {err:?}");
            assert!(
                format!("{err:?}").to_lowercase().contains("certificate"),
                "{target}: {err:?}"
            );
        }
        let err = s
            .ws_connect(ws_url("WEBSOCKETS", "URL", "/echo"))
            .proxy(url.as_str())
            .await
            .expect_err("the proxy's certificate is not from a default root");
        assert!(err.is_client_ssl_error(), "{err:?}");

        // Unverified, it is accepted; the target is still verified as the request says.
        let mut resp = s
            .get(nginx("/small.txt"))
            .proxy(url.as_str())
            .proxy_ssl(false)
            .ssl(trust_ca())
            .await
            .expect("proxy_ssl(false)");
        assert_eq!(resp.status(), 200, "{resp:?}");
        assert_eq!(resp.text().await.expect("body"), small_txt());

        // The proxy's certificate is checked for the proxy's name: the interop CA's certificate
        // names localhost, 127.0.0.1 and ::1, so both spellings pass.
        let named = on_localhost(url.clone());
        let mut resp = s
            .get(httpbin("/get"))
            .proxy(named.as_str())
            .proxy_ssl(trust_ca())
            .await
            .unwrap_or_else(|e| panic!("{named}: {e:?}"));
        assert_eq!(resp.status(), 200, "{resp:?}");
        resp.read().await.expect("body");
    })
    .await;
}

macro_rules! against_each_tls_proxy {
    ($($test:ident),* $(,)?) => {
        mod proxypy_tls {
            $(
                #[tokio::test]
                #[ignore = "needs the proxies: scripts/interop.sh"]
                async fn $test() {
                    super::$test(super::TlsProxy::ProxyPy).await;
                }
            )*
        }
        mod squid_tls {
            $(
                #[tokio::test]
                #[ignore = "needs the proxies: scripts/interop.sh"]
                async fn $test() {
                    super::$test(super::TlsProxy::Squid).await;
                }
            )*
        }
    };
}

against_each_tls_proxy!(
    tls_proxy_http_target,
    tls_proxy_https_target_tls_in_tls,
    tls_proxy_ws_and_wss_targets,
    tls_proxy_certificate_is_verified,
);

// ---- SOCKS: pproxy ----

fn socks4() -> String {
    env("AIOHTTP_PROXY_PPROXY_SOCKS4_URL")
}

fn socks5() -> String {
    env("AIOHTTP_PROXY_PPROXY_SOCKS5_URL")
}

fn socks5_auth() -> String {
    env("AIOHTTP_PROXY_PPROXY_SOCKS5_AUTH_URL")
}

/// Every kind of target through `via`: httpbin (HTTP), nginx (HTTPS), and the echo servers
/// (ws, wss), at `host`'s spelling of the loopback (`127.0.0.1` or `localhost`).
async fn all_targets_via(via: &Via, localhost: bool) {
    all_targets_in_session_via(&ClientSession::new(), via, localhost).await;
}

/// [`all_targets_via`] with the session `s`.
async fn all_targets_in_session_via(s: &ClientSession, via: &Via, localhost: bool) {
    let name = |u: String| if localhost { on_localhost(u) } else { u };
    let url = name(httpbin("/get"));
    let v = httpbin_via(s, via, &url).await;
    assert_eq!(v["headers"]["Host"], authority(&url), "{v}");
    nginx_via(s, via, &name(nginx("/small.txt"))).await;
    for url in ws_targets() {
        ws_echo_via(s, via, &name(url)).await;
    }
}

/// The ports of the targets [`all_targets_via`] reaches.
fn all_target_ports() -> Vec<u16> {
    let mut ports = vec![port_of(&httpbin("/get")), port_of(&nginx("/small.txt"))];
    ports.extend(ws_targets().iter().map(|u| port_of(u)));
    ports
}

#[tokio::test]
#[ignore = "needs the proxies: scripts/interop.sh"]
async fn socks4_http_https_ws_wss() {
    within(60, async {
        // SOCKS4 carries IPv4 addresses: the client resolves.
        all_targets_via(&Via::new(socks4()), false).await;
        all_targets_via(&Via::new(socks4()), true).await;
        // A user id (the URL's user name) is sent; pproxy asks for none and takes any.
        let with_id = {
            let mut u = Url::parse(&socks4()).expect("url");
            u.set_username("someone").expect("user");
            u.to_string()
        };
        all_targets_via(&Via::new(with_id), false).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs the proxies: scripts/interop.sh"]
async fn socks5_http_https_ws_wss() {
    within(60, async {
        // socks5: the client resolves and sends addresses, IPv6 included.
        let via = Via::new(socks5());
        all_targets_via(&via, false).await;
        let s = ClientSession::new();
        for server in WS_SERVERS {
            ws_echo_via(&s, &via, &ws_url(server, "V6_URL", "/echo")).await;
        }
    })
    .await;
}

#[tokio::test]
#[ignore = "needs the proxies: scripts/interop.sh"]
async fn socks5h_names_resolved_by_the_proxy() {
    within(60, async {
        let via = Via::new(with_scheme(&socks5(), "socks5h"));
        all_targets_via(&via, true).await;
        all_targets_via(&via, false).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs the proxies: scripts/interop.sh"]
async fn socks5_with_a_password() {
    let _credentials = credentials_lock().read().await;
    within(90, async {
        for scheme in ["socks5", "socks5h"] {
            let url = with_scheme(&socks5_auth(), scheme);
            let localhost = scheme == "socks5h";
            all_targets_via(&Via::new(url.as_str()).with_url_credentials(), localhost).await;
            all_targets_via(&Via::new(url.as_str()).with_auth(), localhost).await;
        }
    })
    .await;
}

#[tokio::test]
#[ignore = "needs the proxies: scripts/interop.sh"]
async fn socks5_without_or_with_a_wrong_password() {
    let _credentials = credentials_lock().write().await;
    within(60, async {
        let s = ClientSession::new();
        for scheme in ["socks5", "socks5h"] {
            let url = with_scheme(&socks5_auth(), scheme);
            for via in [
                Via::new(url.as_str()),
                Via::new(url.as_str()).with_proxy_auth(wrong_credentials()),
                Via::new(with_userinfo(&url, &user(), "not-the-password")),
            ] {
                let targets = [httpbin("/get"), nginx("/small.txt")];
                for target in targets {
                    let err = via
                        .request(s.get(target.as_str()).ssl(trust_ca()))
                        .await
                        .expect_err("refused by the SOCKS proxy");
                    // pproxy closes the connection rather than answer with a failure reply:
                    // the proxy dropped it (ClientProxyConnectionError); a client reading a
                    // reply would make it a ClientHttpProxyError.
                    assert!(
                        err.is_client_proxy_connection_error() || err.is_client_http_proxy_error(),
                        "{target} via {via:?}: {err:?}"
                    );
                    assert!(!err.is_timeout(), "{err:?}");
                }
                let err = via
                    .ws(s.ws_connect(ws_url("AIOHTTP", "URL", "/echo")))
                    .await
                    .expect_err("refused by the SOCKS proxy");
                assert!(
                    err.is_client_proxy_connection_error() || err.is_client_http_proxy_error(),
                    "ws via {via:?}: {err:?}"
                );
            }
        }
        // The right password still works after wrong ones (pproxy runs with --auth 0, so it
        // trusts no address for a past login).
        let via = Via::new(socks5_auth()).with_auth();
        httpbin_via(&s, &via, &httpbin("/get")).await;
    })
    .await;
}

// ---- SOCKS: OpenSSH's dynamic forwarding (ssh -D) ----

/// ssh's SOCKS port, which takes SOCKS4, SOCKS4a and SOCKS5 alike, spoken to as `scheme`.
fn ssh_socks(scheme: &str) -> Via {
    Via::new(with_scheme(&env("AIOHTTP_PROXY_SSH_SOCKS_URL"), scheme))
}

/// What ssh logged (at `-vv`) of the SOCKS requests it decoded, in order: the version it read
/// (`socks4`, for SOCKS4a too, or `socks5`), and the host (a name or an address) and port it
/// was asked to connect to, from its lines `dynamic request: socks4 host H port P command 1`.
/// ssh writes the line before it answers the request.
fn ssh_socks_requests() -> Vec<(String, String, u16)> {
    let path = env("AIOHTTP_PROXY_SSH_LOG");
    let log = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    log.lines()
        .filter_map(|line| {
            let (_, request) = line.split_once("dynamic request: ")?;
            match request.split_whitespace().collect::<Vec<_>>()[..] {
                [version, "host", host, "port", port, "command", _] => {
                    Some((version.to_string(), host.to_string(), port.parse().ok()?))
                }
                _ => panic!("an unexpected line in {path}: {line}"),
            }
        })
        .collect()
}

/// Asserts ssh was asked by `version` (`socks4` or `socks5`) to connect to `host` on each of
/// `ports`.
fn assert_ssh_asked(version: &str, host: &str, ports: &[u16]) {
    let logged = ssh_socks_requests();
    for &port in ports {
        assert!(
            logged
                .iter()
                .any(|(v, h, p)| v == version && h == host && *p == port),
            "ssh was not asked by {version} for {host}:{port}; it logged {logged:?}"
        );
    }
}

/// A resolver that finds no address for any name, and records the names it is asked for: a
/// session with it reaches a target by name only if the proxy resolves the name (IP literals
/// are never given to a resolver).
#[derive(Debug, Clone, Default)]
struct NoNames(Arc<std::sync::Mutex<Vec<String>>>);

impl aiohttp::Resolver for NoNames {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
        _family: aiohttp::Family,
    ) -> aiohttp::BoxFuture<'a, Result<Vec<std::net::SocketAddr>, ClientError>> {
        self.0.lock().expect("lock").push(format!("{host}:{port}"));
        Box::pin(async { Ok(Vec::new()) })
    }
}

impl NoNames {
    /// A session resolving with this resolver (no DNS cache, so each lookup reaches it).
    fn session(&self) -> ClientSession {
        let connector = aiohttp::TcpConnector::builder()
            .resolver(self.clone())
            .use_dns_cache(false)
            .build()
            .expect("connector");
        ClientSession::builder()
            .connector(connector)
            .build()
            .expect("session")
    }

    /// The `host:port`s asked for so far.
    fn asked(&self) -> Vec<String> {
        self.0.lock().expect("lock").clone()
    }
}

/// Through `via` (`socks4a://` or `socks5h://`), by name and by address, with a client that
/// can resolve no name: every target is reached, the client's resolver is never asked, and
/// ssh logs the name `localhost` as the host it was asked for (by `version`).
async fn names_resolved_by_ssh(via: Via, version: &str) {
    within(60, async {
        let names = NoNames::default();
        let s = names.session();
        all_targets_in_session_via(&s, &via, true).await;
        all_targets_in_session_via(&s, &via, false).await;
        assert_eq!(names.asked(), Vec::<String>::new(), "the client resolved");
        assert_ssh_asked(version, "localhost", &all_target_ports());
    })
    .await;
}

/// Through `via` (`socks4://` or `socks5://`), the client resolves: with a resolver that knows
/// no name, targets by address are reached but `localhost` fails with the client's DNS error,
/// before the proxy is asked; with the system's resolver `localhost` is reached too.
async fn names_resolved_by_the_client(via: Via) {
    within(60, async {
        let names = NoNames::default();
        let s = names.session();
        all_targets_in_session_via(&s, &via, false).await;
        assert_eq!(
            names.asked(),
            Vec::<String>::new(),
            "IP literals are not resolved"
        );

        let http = on_localhost(httpbin("/get"));
        let err = via
            .request(s.get(http.as_str()))
            .await
            .expect_err("the client cannot resolve localhost");
        assert_eq!(err.kind(), ErrorKind::ClientConnectorDNSError, "{err:?}");
        let https = on_localhost(nginx("/small.txt"));
        let err = via
            .request(s.get(https.as_str()).ssl(trust_ca()))
            .await
            .expect_err("the client cannot resolve localhost");
        assert_eq!(err.kind(), ErrorKind::ClientConnectorDNSError, "{err:?}");
        let ws = on_localhost(ws_url("AIOHTTP", "URL", "/echo"));
        let err = via
            .ws(s.ws_connect(ws.as_str()))
            .await
            .expect_err("the client cannot resolve localhost");
        assert_eq!(err.kind(), ErrorKind::ClientConnectorDNSError, "{err:?}");
        assert_eq!(
            names.asked(),
            [&http, &https, &ws].map(|u| authority(u)).to_vec(),
            "the client's resolver was asked for each target's name"
        );

        all_targets_via(&via, true).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs the proxies: scripts/interop.sh"]
async fn ssh_socks4a_names_resolved_by_the_proxy() {
    // SOCKS4 carries an IPv4 address: ssh logging a name as the host of a socks4 request shows
    // it read a SOCKS4a request (the address 0.0.0.x and the name after the user id).
    names_resolved_by_ssh(ssh_socks("socks4a"), "socks4").await;
}

#[tokio::test]
#[ignore = "needs the proxies: scripts/interop.sh"]
async fn ssh_socks5h_names_resolved_by_the_proxy() {
    names_resolved_by_ssh(ssh_socks("socks5h"), "socks5").await;
}

#[tokio::test]
#[ignore = "needs the proxies: scripts/interop.sh"]
async fn ssh_socks4_names_resolved_by_the_client() {
    names_resolved_by_the_client(ssh_socks("socks4")).await;
}

#[tokio::test]
#[ignore = "needs the proxies: scripts/interop.sh"]
async fn ssh_socks5_names_resolved_by_the_client() {
    names_resolved_by_the_client(ssh_socks("socks5")).await;
    // IPv6 addresses go through SOCKS5 as they are.
    within(30, async {
        let via = ssh_socks("socks5");
        let s = ClientSession::new();
        let mut ports = Vec::new();
        for server in WS_SERVERS {
            let url = ws_url(server, "V6_URL", "/echo");
            ws_echo_via(&s, &via, &url).await;
            ports.push(port_of(&url));
        }
        assert_ssh_asked("socks5", "::1", &ports);
    })
    .await;
}

/// A name sshd cannot resolve, through `socks4a://` and `socks5h://`: ssh is asked for the name
/// (the client never resolves it) and closes the connection without a reply when sshd fails
/// to resolve it, which the client reports promptly as the proxy connection lost during the
/// SOCKS handshake.
#[tokio::test]
#[ignore = "needs the proxies: scripts/interop.sh"]
async fn ssh_socks4a_and_socks5h_a_name_sshd_cannot_resolve() {
    within(30, async {
        let names = NoNames::default();
        let s = names.session();
        let port = port_of(&httpbin("/get"));
        for (scheme, version, host) in [
            ("socks4a", "socks4", "no-such-host-4a.invalid"),
            ("socks5h", "socks5", "no-such-host-5h.invalid"),
        ] {
            let via = ssh_socks(scheme);
            let url = format!("http://{host}:{port}/get");
            let err = via
                .request(s.get(url.as_str()))
                .await
                .expect_err("sshd cannot resolve the name");
            assert_eq!(
                err.kind(),
                ErrorKind::ClientProxyConnectionError,
                "{url} via {via:?}: {err:?}"
            );
            assert!(
                err.to_string().contains("during the SOCKS handshake"),
                "{url} via {via:?}: {err}"
            );
            assert!(!err.is_timeout(), "{err:?}");
            assert_ssh_asked(version, host, &[port]);
        }
        assert_eq!(names.asked(), Vec::<String>::new(), "the client resolved");
    })
    .await;
}

// ---- proxies that cannot be reached ----

/// A port nothing listens on (bound, then let go).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[tokio::test]
#[ignore = "needs the proxies' targets: scripts/interop.sh"]
async fn a_proxy_that_refuses_is_a_proxy_connection_error() {
    within(30, async {
        let s = ClientSession::new();
        let port = closed_port();
        for scheme in ["http", "https", "socks4", "socks5", "socks5h"] {
            let proxy = format!("{scheme}://127.0.0.1:{port}");
            for target in [httpbin("/get"), nginx("/small.txt")] {
                let err = s
                    .get(target.as_str())
                    .proxy(proxy.as_str())
                    .ssl(trust_ca())
                    .await
                    .expect_err("nothing listens there");
                assert_eq!(
                    err.kind(),
                    ErrorKind::ClientProxyConnectionError,
                    "{target} via {proxy}: {err:?}"
                );
                assert!(err.is_client_connector_error(), "{err:?}");
            }
        }
    })
    .await;
}

// ---- trust_env: the proxy variables ----

/// The variables the environment's proxies come from, in both cases, and the netrc path.
const PROXY_VARS: [&str; 13] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "WS_PROXY",
    "ws_proxy",
    "WSS_PROXY",
    "wss_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "NETRC",
];

/// Clears the proxy variables and puts the process's values back when dropped (also when a
/// case fails).
struct SavedEnv(Vec<(&'static str, Option<std::ffi::OsString>)>);

impl SavedEnv {
    fn clear() -> SavedEnv {
        let saved = PROXY_VARS
            .iter()
            .map(|&n| (n, std::env::var_os(n)))
            .collect();
        for n in PROXY_VARS {
            std::env::remove_var(n);
        }
        SavedEnv(saved)
    }
}

impl Drop for SavedEnv {
    fn drop(&mut self) {
        for (name, value) in &self.0 {
            match value {
                Some(v) => std::env::set_var(name, v),
                None => std::env::remove_var(name),
            }
        }
    }
}

/// A session trusting the environment with exactly `vars` set (the session reads them when it
/// is built).
fn env_session(vars: &[(&str, &str)]) -> ClientSession {
    for n in PROXY_VARS {
        std::env::remove_var(n);
    }
    for (name, value) in vars {
        std::env::set_var(name, value);
    }
    let s = ClientSession::builder()
        .trust_env(true)
        .build()
        .expect("session");
    for n in PROXY_VARS {
        std::env::remove_var(n);
    }
    s
}

/// Asserts the response came straight from `origin` (its TCP peer), no proxy between.
fn assert_direct(resp: &ClientResponse, origin: &str) {
    let peer = resp
        .connection()
        .and_then(|c| c.transport().1)
        .unwrap_or_else(|| panic!("no peer address: {resp:?}"));
    assert_eq!(
        peer.port(),
        port_of(origin),
        "{} came from {peer}, not straight from the origin",
        resp.url()
    );
}

async fn get(s: &ClientSession, url: &str) -> ClientResponse {
    s.get(url)
        .ssl(trust_ca())
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e:?}"))
}

#[tokio::test]
#[ignore = "needs the proxies: scripts/interop.sh"]
async fn trust_env_reads_the_proxy_variables() {
    let _saved = SavedEnv::clear();
    let _credentials = credentials_lock().read().await;
    within(120, async {
        let open = HttpProxy::Squid.open();
        let auth = HttpProxy::Squid.auth();
        let auth_in_url = auth.clone().with_url_credentials();
        let bin = httpbin("/get");
        let tls = nginx("/small.txt");

        // HTTP_PROXY for http:// targets only.
        let s = env_session(&[("HTTP_PROXY", &open.url)]);
        let mut resp = get(&s, &bin).await;
        assert_eq!(resp.status(), 200, "{resp:?}");
        open.assert_peer(&resp);
        resp.read().await.expect("body");
        let mut resp = get(&s, &tls).await;
        assert_eq!(resp.status(), 200, "{resp:?}");
        assert_direct(&resp, &tls);
        resp.read().await.expect("body");

        // Credentials in the variable's URL; without them the proxy's 407 shows it was used.
        let s = env_session(&[("HTTP_PROXY", &auth_in_url.url)]);
        let mut resp = get(&s, &bin).await;
        assert_eq!(resp.status(), 200, "{resp:?}");
        auth.assert_peer(&resp);
        let v: Value = resp.json().await.expect("json");
        assert!(v["headers"].get("Proxy-Authorization").is_none(), "{v}");
        let s = env_session(&[("HTTP_PROXY", &auth.url)]);
        let mut resp = get(&s, &bin).await;
        assert_eq!(resp.status(), 407, "{resp:?}");
        resp.read().await.expect("body");

        // Lower case wins over upper case.
        let s = env_session(&[("http_proxy", &open.url), ("HTTP_PROXY", &auth.url)]);
        let mut resp = get(&s, &bin).await;
        assert_eq!(resp.status(), 200, "{resp:?}");
        open.assert_peer(&resp);
        resp.read().await.expect("body");

        // HTTPS_PROXY for https:// targets: a CONNECT tunnel.
        let s = env_session(&[("HTTPS_PROXY", &auth.url)]);
        assert_connect_refused(
            s.get(tls.as_str()).ssl(trust_ca()).await,
            407,
            "HTTPS_PROXY",
        );
        let mut resp = get(&s, &bin).await;
        assert_eq!(resp.status(), 200, "{resp:?}");
        assert_direct(&resp, &bin);
        resp.read().await.expect("body");
        let s = env_session(&[("HTTPS_PROXY", &auth_in_url.url)]);
        let mut resp = get(&s, &tls).await;
        assert_eq!(resp.status(), 200, "{resp:?}");
        auth.assert_peer(&resp);
        assert_eq!(resp.text().await.expect("body"), small_txt());

        // NO_PROXY: an address, a name, a host:port, everything.
        let both = [
            ("HTTP_PROXY", auth.url.as_str()),
            ("HTTPS_PROXY", auth.url.as_str()),
        ];
        let nginx_port = format!("127.0.0.1:{}", port_of(&tls));
        for (no_proxy, direct, proxied) in [
            (
                "127.0.0.1",
                vec![bin.clone(), tls.clone()],
                vec![on_localhost(bin.clone())],
            ),
            (
                "localhost",
                vec![on_localhost(bin.clone())],
                vec![bin.clone()],
            ),
            (
                "example.test, 127.0.0.0/8",
                vec![bin.clone(), tls.clone()],
                vec![],
            ),
            (nginx_port.as_str(), vec![tls.clone()], vec![bin.clone()]),
            (
                "*",
                vec![bin.clone(), tls.clone(), on_localhost(tls.clone())],
                vec![],
            ),
        ] {
            let mut vars = both.to_vec();
            vars.push(("NO_PROXY", no_proxy));
            let s = env_session(&vars);
            for url in &direct {
                let mut resp = get(&s, url).await;
                assert_eq!(resp.status(), 200, "NO_PROXY={no_proxy} {url}: {resp:?}");
                assert_direct(&resp, url);
                resp.read().await.expect("body");
            }
            for url in &proxied {
                // The proxy without credentials: its 407 shows the request went there.
                let mut resp = get(&s, url).await;
                assert_eq!(resp.status(), 407, "NO_PROXY={no_proxy} {url}: {resp:?}");
                resp.read().await.expect("body");
            }
        }

        // WS_PROXY and WSS_PROXY for WebSockets (as aiohttp), through CONNECT.
        let ws = ws_url("WEBSOCKETS", "URL", "/echo");
        let wss = ws_url("WEBSOCKETS", "TLS_URL", "/echo");
        let s = env_session(&[("WS_PROXY", &auth.url), ("WSS_PROXY", &auth.url)]);
        assert_connect_refused(s.ws_connect(ws.as_str()).await, 407, "WS_PROXY");
        assert_connect_refused(
            s.ws_connect(wss.as_str()).ssl(trust_ca()).await,
            407,
            "WSS_PROXY",
        );
        let s = env_session(&[
            ("WS_PROXY", &auth_in_url.url),
            ("WSS_PROXY", &auth_in_url.url),
        ]);
        for url in [&ws, &wss] {
            let mut ws = s
                .ws_connect(url.as_str())
                .ssl(trust_ca())
                .await
                .unwrap_or_else(|e| panic!("{url}: {e:?}"));
            assert_eq!(ws.peer_addr().map(|a| a.port()), Some(auth.port()), "{url}");
            ws.send_str("env").await.expect("send");
            assert_eq!(ws.receive_str().await.expect("receive"), "env");
            assert!(ws.close(1000, b"").await.expect("close"));
        }

        // ALL_PROXY when the scheme has no variable: here a SOCKS proxy.
        let socks = Via::new(with_scheme(&socks5(), "socks5h"));
        let s = env_session(&[("ALL_PROXY", &socks.url), ("HTTPS_PROXY", &auth.url)]);
        let mut resp = get(&s, &bin).await;
        assert_eq!(resp.status(), 200, "{resp:?}");
        socks.assert_peer(&resp);
        resp.read().await.expect("body");
        assert_connect_refused(
            s.get(tls.as_str()).ssl(trust_ca()).await,
            407,
            "HTTPS_PROXY",
        );

        // The request's own proxy wins over the environment's.
        let s = env_session(&[("HTTP_PROXY", &auth.url)]);
        let mut resp = open
            .request(s.get(bin.as_str()))
            .await
            .expect("the request's proxy");
        assert_eq!(resp.status(), 200, "{resp:?}");
        open.assert_peer(&resp);
        resp.read().await.expect("body");

        // Credentials for a proxy whose URL has none, from the netrc file; the target (the
        // same host) gets them too, as the request has none.
        let netrc =
            std::env::temp_dir().join(format!("aiohttp-interop-netrc-{}", std::process::id()));
        std::fs::write(
            &netrc,
            format!(
                "machine 127.0.0.1\n  login {}\n  password {}\n",
                user(),
                pass()
            ),
        )
        .expect("netrc file");
        let netrc_path = netrc.to_str().expect("a UTF-8 path").to_string();
        let s = env_session(&[("HTTP_PROXY", &auth.url), ("NETRC", &netrc_path)]);
        let _ = std::fs::remove_file(&netrc);
        let mut resp = get(&s, &bin).await;
        assert_eq!(resp.status(), 200, "credentials from netrc: {resp:?}");
        auth.assert_peer(&resp);
        let v: Value = resp.json().await.expect("json");
        assert!(v["headers"].get("Proxy-Authorization").is_none(), "{v}");
        assert_eq!(
            v["headers"]["Authorization"],
            credentials().encode(),
            "the origin's credentials from netrc: {v}"
        );

        // Without trust_env the variables are not read.
        std::env::set_var("HTTP_PROXY", &auth.url);
        std::env::set_var("ALL_PROXY", &auth.url);
        let s = ClientSession::new();
        std::env::remove_var("HTTP_PROXY");
        std::env::remove_var("ALL_PROXY");
        let mut resp = get(&s, &bin).await;
        assert_eq!(resp.status(), 200, "{resp:?}");
        assert_direct(&resp, &bin);
        resp.read().await.expect("body");
    })
    .await;
}

/// nginx offers h2 by ALPN: with a configuration that leaves ALPN to the client (h2, then
/// http/1.1), requests through a squid tunnel speak HTTP/2 to nginx, several on one tunnel.
#[tokio::test]
#[ignore = "needs the proxies: scripts/interop.sh"]
async fn http2_to_nginx_through_a_squid_tunnel() {
    let _credentials = credentials_lock().read().await;
    within(30, async {
        let mut config = rustls::ClientConfig::clone(&ca());
        config.alpn_protocols.clear();
        let connector = aiohttp::TcpConnector::builder()
            .ssl_context(config)
            .build()
            .expect("connector");
        let s = ClientSession::builder()
            .connector(connector)
            .build()
            .expect("session");
        let via = HttpProxy::Squid.auth().with_auth();
        let requests = (0..8).map(|_| {
            let s = s.clone();
            let via = via.clone();
            async move {
                let mut resp = send(&via, s.get(nginx("/small.txt")), "GET over h2").await;
                via.assert_peer(&resp);
                assert_eq!(resp.version(), aiohttp::Version::HTTP_2, "{resp:?}");
                resp.text().await.expect("text")
            }
        });
        for text in futures_util::future::join_all(requests).await {
            assert_eq!(text, small_txt());
        }
        let stats = s.connector().pool().stats();
        assert_eq!(stats.open, 1, "one tunnel carries every stream: {stats:?}");
    })
    .await;
}
