//! `TlsConfig`: a rustls configuration built from the trust roots of a Python
//! `ssl.SSLContext` (`get_ca_certs(binary_form=True)`), so that `ssl=context` verifies
//! against the CAs the context was given.

use std::sync::Arc;

use aiohttp::rustls::{self, pki_types::CertificateDer, ClientConfig, RootCertStore};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// A TLS client configuration; one per `SSLContext`, so that connections made with the
/// same context share the pool (configurations are told apart by identity).
#[pyclass(frozen, module = "aiohttp_rs._core")]
#[derive(Debug)]
pub struct TlsConfig {
    pub(crate) config: Arc<ClientConfig>,
}

#[pymethods]
impl TlsConfig {
    /// A configuration trusting exactly these DER certificates.
    #[new]
    fn new(roots: Vec<Vec<u8>>) -> PyResult<Self> {
        let mut store = RootCertStore::empty();
        for der in roots {
            store
                .add(CertificateDer::from(der))
                .map_err(|e| PyValueError::new_err(format!("a CA certificate was refused: {e}")))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| PyValueError::new_err(format!("TLS versions: {e}")))?
            .with_root_certificates(store)
            .with_no_client_auth();
        Ok(TlsConfig {
            config: Arc::new(config),
        })
    }
}
