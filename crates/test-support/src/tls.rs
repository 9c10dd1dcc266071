//! An HTTPS server with a self-signed certificate made at start-up.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::http_server::full;

/// HTTPS on `127.0.0.1:0` with a self-signed certificate for `127.0.0.1` and `localhost`,
/// offering HTTP/2 and HTTP/1.1 by ALPN. Every request is answered `200` with its HTTP
/// version and path, e.g. `HTTP/2.0 /x`.
///
/// ```no_run
/// # async fn demo() {
/// let server = test_support::TlsServer::start().await;
/// let pem: &str = server.cert_pem(); // to trust it
/// let url = server.url("/x");        // https://127.0.0.1:PORT/x
/// # let _ = (pem, url);
/// # }
/// ```
#[derive(Debug)]
pub struct TlsServer {
    addr: SocketAddr,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsServer {
    /// Makes the certificate and starts the server.
    ///
    /// # Panics
    ///
    /// Panics if the certificate cannot be made or no loopback port can be bound.
    pub async fn start() -> TlsServer {
        let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let cert = rcgen::generate_simple_self_signed(names).expect("test-support: a certificate");
        let cert_der = cert.cert.der().clone();
        let cert_pem = cert.cert.pem();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("test-support: TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert_der.clone()], key)
            .expect("test-support: the server certificate");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("test-support: cannot bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("test-support: the address");
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                    let svc =
                        hyper::service::service_fn(|req: http::Request<Incoming>| async move {
                            let text = format!("{:?} {}", req.version(), req.uri().path());
                            Ok::<_, Infallible>(http::Response::new(full(text)))
                        });
                    let io = TokioIo::new(tls);
                    if h2 {
                        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(io, svc)
                            .await;
                    } else {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, svc)
                            .await;
                    }
                });
            }
        });
        TlsServer {
            addr,
            cert_pem,
            cert_der,
            task,
        }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:PORT/path`; a missing leading `/` is added.
    pub fn url(&self, path: &str) -> String {
        let sep = if path.starts_with('/') { "" } else { "/" };
        format!("https://{}{sep}{path}", self.addr)
    }

    /// The certificate, PEM-encoded.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The certificate, DER-encoded (its SHA-256 digest is what a pin names).
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }
}
