//! TLS on rustls: trust roots, the per-request `ssl` choice, certificate pinning, and the
//! mapping of handshake failures onto aiohttp's error kinds.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::io;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};
use tokio_rustls::client::TlsStream;

use crate::error::{ClientError, ErrorKind};

/// How a TLS connection is verified (aiohttp's `ssl=` argument).
///
/// ```
/// use aiohttp::Ssl;
/// let pinned = Ssl::fingerprint(vec![0u8; 32])?;
/// assert!(matches!(pinned, Ssl::Fingerprint(_)));
/// assert!(Ssl::fingerprint(vec![0u8; 20]).is_err()); // SHA-1 sized: rejected
/// # Ok::<(), aiohttp::ClientError>(())
/// ```
#[derive(Clone)]
pub enum Ssl {
    /// Verify the certificate chain and host name against the trust roots (the default).
    Verified,
    /// Accept any certificate. Dangerous: anyone on the path can impersonate the server.
    Unverified,
    /// Use this rustls configuration (custom CA, client certificates for mutual TLS, ...).
    ///
    /// Configurations are told apart by identity (the `Arc`), since what verifies a server
    /// cannot be compared: connections are shared by requests passing the same `Arc`, so build
    /// a configuration once and clone the `Arc` rather than building one per request.
    Config(Arc<ClientConfig>),
    /// Accept only a leaf certificate with this SHA-256 digest (the chain is not verified, as
    /// in aiohttp's `Fingerprint`).
    Fingerprint(Vec<u8>),
}

impl Ssl {
    /// A SHA-256 pin. MD5 (16 bytes) and SHA-1 (20 bytes) digests are rejected as aiohttp does;
    /// anything but 32 bytes is an error.
    ///
    /// # Errors
    /// A digest that is not 32 bytes long.
    ///
    /// ```
    /// assert!(aiohttp::Ssl::fingerprint(vec![0u8; 16]).is_err());
    /// ```
    pub fn fingerprint(sha256: impl Into<Vec<u8>>) -> Result<Ssl, ClientError> {
        let digest = sha256.into();
        match digest.len() {
            32 => Ok(Ssl::Fingerprint(digest)),
            16 | 20 => Err(ClientError::invalid_argument(
                "md5 and sha1 fingerprints are insecure and not supported; use sha256",
            )),
            n => Err(ClientError::invalid_argument(format!(
                "a sha256 fingerprint is 32 bytes, not {n}"
            ))),
        }
    }
}

impl From<bool> for Ssl {
    /// `true` verifies (the default), `false` does not (dangerous).
    fn from(verify: bool) -> Ssl {
        if verify {
            Ssl::Verified
        } else {
            Ssl::Unverified
        }
    }
}

impl From<Arc<ClientConfig>> for Ssl {
    fn from(config: Arc<ClientConfig>) -> Ssl {
        Ssl::Config(config)
    }
}

impl From<ClientConfig> for Ssl {
    fn from(config: ClientConfig) -> Ssl {
        Ssl::Config(Arc::new(config))
    }
}

impl fmt::Debug for Ssl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ssl::Verified => f.write_str("Ssl::Verified"),
            Ssl::Unverified => f.write_str("Ssl::Unverified"),
            Ssl::Config(_) => f.write_str("Ssl::Config(..)"),
            Ssl::Fingerprint(d) => write!(f, "Ssl::Fingerprint({})", hex(d)),
        }
    }
}

/// Two choices pool together only if they verify alike: configurations by identity.
impl PartialEq for Ssl {
    fn eq(&self, other: &Ssl) -> bool {
        match (self, other) {
            (Ssl::Verified, Ssl::Verified) | (Ssl::Unverified, Ssl::Unverified) => true,
            (Ssl::Config(a), Ssl::Config(b)) => Arc::ptr_eq(a, b),
            (Ssl::Fingerprint(a), Ssl::Fingerprint(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Ssl {}

impl Hash for Ssl {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Ssl::Config(c) => (Arc::as_ptr(c) as usize).hash(state),
            Ssl::Fingerprint(d) => d.hash(state),
            Ssl::Verified | Ssl::Unverified => {}
        }
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The ALPN protocols offered: HTTP/2 first.
pub(crate) const ALPN_H1: &[u8] = b"http/1.1";
pub(crate) const ALPN_H2: &[u8] = b"h2";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// System trust roots (honouring `SSL_CERT_FILE` / `SSL_CERT_DIR`), else webpki-roots.
fn root_store() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    if added == 0 {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    roots
}

fn with_alpn(mut config: ClientConfig) -> ClientConfig {
    if config.alpn_protocols.is_empty() {
        config.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_H1.to_vec()];
    }
    config
}

/// The verified default configuration, built once per process.
fn default_config() -> Result<Arc<ClientConfig>, ClientError> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .map(|b| {
                    Arc::new(with_alpn(
                        b.with_root_certificates(root_store()).with_no_client_auth(),
                    ))
                })
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| ClientError::new(ErrorKind::ClientConnectorSSLError, e))
}

/// Accepts any certificate but still checks the handshake signatures.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn unverified_config() -> Result<Arc<ClientConfig>, ClientError> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let p = provider();
            ClientConfig::builder_with_provider(p.clone())
                .with_safe_default_protocol_versions()
                .map(|b| {
                    Arc::new(with_alpn(
                        b.dangerous()
                            .with_custom_certificate_verifier(Arc::new(AcceptAny(p)))
                            .with_no_client_auth(),
                    ))
                })
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| ClientError::new(ErrorKind::ClientConnectorSSLError, e))
}

/// The configuration for a connection, and the pin to check after the handshake.
fn config_for(ssl: &Ssl) -> Result<(Arc<ClientConfig>, Option<&[u8]>), ClientError> {
    Ok(match ssl {
        Ssl::Verified => (default_config()?, None),
        Ssl::Unverified => (unverified_config()?, None),
        Ssl::Config(c) => {
            let c = if c.alpn_protocols.is_empty() {
                Arc::new(with_alpn(ClientConfig::clone(c)))
            } else {
                c.clone()
            };
            (c, None)
        }
        Ssl::Fingerprint(d) => (unverified_config()?, Some(d.as_slice())),
    })
}

/// `config` offering `http/1.1` alone by ALPN (a connection that must not become HTTP/2).
fn http1_only_config(config: &Arc<ClientConfig>) -> Arc<ClientConfig> {
    let mut c = ClientConfig::clone(config);
    c.alpn_protocols = vec![ALPN_H1.to_vec()];
    Arc::new(c)
}

/// Runs the TLS handshake over `io` with the server `host`:`port` (`server_name` for SNI and
/// verification; `http1_only` offers ALPN `http/1.1` alone) and checks a pinned fingerprint
/// before anything is sent.
pub(crate) async fn handshake<S: crate::transport::Io>(
    io: S,
    ssl: &Ssl,
    server_name: &str,
    host: &str,
    port: u16,
    http1_only: bool,
) -> Result<TlsStream<S>, ClientError> {
    let (mut config, pin) = config_for(ssl)?;
    if http1_only {
        config = http1_only_config(&config);
    }
    let name = ServerName::try_from(server_name.to_string()).map_err(|e| {
        ClientError::new(
            ErrorKind::ClientConnectorSSLError,
            format!("invalid TLS server name {server_name:?}"),
        )
        .with_address(host, port)
        .with_source(e)
    })?;
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, io)
        .await
        .map_err(|e| handshake_error(e, host, port))?;
    if let Some(expected) = pin {
        let got = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|leaf| Sha256::digest(leaf.as_ref()).to_vec())
            .unwrap_or_default();
        if got != expected {
            // Dropping the stream closes the connection: no request byte was written.
            return Err(ClientError::new(
                ErrorKind::ServerFingerprintMismatch,
                format!(
                    "expected certificate fingerprint {}, got {}",
                    hex(expected),
                    hex(&got)
                ),
            )
            .with_address(host, port)
            .with_fingerprint(expected.to_vec(), got));
        }
    }
    Ok(stream)
}

/// A TLS connection to `key`'s server over `io` (a TCP stream, or a tunnel through a proxy):
/// the request's TLS choice or else `default`, the key's server name, HTTP/2 if ALPN chose it.
pub(crate) async fn connect_to<S: crate::transport::Io>(
    io: S,
    key: &crate::connector::ConnectionKey,
    default: &Ssl,
) -> Result<crate::transport::Transport, ClientError> {
    let ssl = key.ssl().unwrap_or(default);
    let name = key.server_hostname().unwrap_or(key.host());
    let stream = handshake(io, ssl, name, key.host(), key.port(), key.is_http1_only()).await?;
    let h2 = negotiated_h2(&stream);
    let info = info(&stream);
    Ok(crate::transport::Transport::new(stream)
        .with_h2(h2)
        .with_tls_info(info))
}

/// What the handshake settled: version, cipher suite, ALPN protocol.
fn info<S>(stream: &TlsStream<S>) -> crate::transport::TlsInfo {
    let conn = stream.get_ref().1;
    let version = conn
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_default();
    let cipher = conn
        .negotiated_cipher_suite()
        .map(|c| format!("{:?}", c.suite()))
        .unwrap_or_default();
    let alpn = conn.alpn_protocol().map(String::from_utf8_lossy);
    crate::transport::TlsInfo::new(version, cipher, alpn.as_deref())
}

/// Whether the server chose HTTP/2 by ALPN.
fn negotiated_h2<S>(stream: &TlsStream<S>) -> bool {
    stream.get_ref().1.alpn_protocol() == Some(ALPN_H2)
}

fn handshake_error(e: io::Error, host: &str, port: u16) -> ClientError {
    let rustls_err = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let kind = match rustls_err {
        Some(rustls::Error::InvalidCertificate(_)) => ErrorKind::ClientConnectorCertificateError,
        _ => ErrorKind::ClientConnectorSSLError,
    };
    let message = match rustls_err {
        Some(r) => format!("TLS handshake with {host}:{port} failed: {r}"),
        None => format!("TLS handshake with {host}:{port} failed"),
    };
    ClientError::new(kind, message)
        .with_address(host, port)
        .with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_lengths() {
        assert!(Ssl::fingerprint(vec![1u8; 32]).is_ok());
        for n in [0, 16, 20, 31, 33, 64] {
            let err = Ssl::fingerprint(vec![1u8; n]).expect_err("wrong size");
            assert!(err.is_invalid_argument(), "{n}");
        }
    }

    #[test]
    fn ssl_choices_compare_by_identity() {
        let a = Ssl::fingerprint(vec![1u8; 32]).expect("pin");
        let b = Ssl::fingerprint(vec![1u8; 32]).expect("pin");
        assert_eq!(a, b);
        assert_ne!(a, Ssl::Verified);
        assert_ne!(Ssl::Verified, Ssl::Unverified);
        let cfg = unverified_config().expect("config");
        assert_eq!(Ssl::Config(cfg.clone()), Ssl::Config(cfg.clone()));
        let other = Arc::new(ClientConfig::clone(&cfg));
        assert_ne!(Ssl::Config(cfg), Ssl::Config(other));
    }

    #[test]
    fn default_config_offers_h2_then_http11() {
        let cfg = default_config().expect("config");
        assert_eq!(
            cfg.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        assert_eq!(
            http1_only_config(&cfg).alpn_protocols,
            vec![b"http/1.1".to_vec()]
        );
        assert_eq!(
            cfg.alpn_protocols.len(),
            2,
            "the shared config is left as it was"
        );
    }
}
