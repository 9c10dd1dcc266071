//! Errors of the crate, raised in Python as `CoreError(kind, message, info)`; the Python
//! half turns them into aiohttp's exception classes (`aiohttp_rs._errors`).

use std::error::Error as _;

use pyo3::prelude::*;

pyo3::create_exception!(
    _core,
    CoreError,
    pyo3::exceptions::PyException,
    "An error of the crate: args are (kind, message, ErrorInfo)."
);

/// A request's method, URL, URL before redirects and headers.
type RequestTuple = (String, String, String, Vec<(String, String)>);

/// What an error knows besides its kind and message, for the exception's attributes.
#[pyclass(frozen, get_all, module = "aiohttp_rs._core")]
#[derive(Debug, Default)]
pub struct ErrorInfo {
    /// The URL the error is about, credentials removed.
    pub url: Option<String>,
    /// The response's status, for response errors.
    pub status: Option<u16>,
    /// The response's reason phrase.
    pub reason: Option<String>,
    /// The response's headers.
    pub headers: Option<Vec<(String, String)>>,
    /// The request's method, URL, URL before redirects and headers.
    pub request: Option<RequestTuple>,
    /// The host and port a connection error is about.
    pub host: Option<String>,
    /// The port a connection error is about.
    pub port: Option<u16>,
    /// Whether that connection used TLS.
    pub ssl: Option<bool>,
    /// The expected and the received fingerprint.
    pub fingerprint: Option<(Vec<u8>, Vec<u8>)>,
    /// The close code of a WebSocket error.
    pub ws_close_code: Option<u16>,
    /// The OS error number in the cause chain, and its text.
    pub errno: Option<(i32, String)>,
    /// Whether the error is about a redirect's URL (`InvalidUrlRedirectClientError` …).
    pub redirect: bool,
    /// The redirect responses behind a `TooManyRedirects`, earliest first.
    pub history: Vec<Py<crate::response::Response>>,
}

fn header_pairs(map: &http::HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                v.as_bytes().iter().map(|&b| b as char).collect(),
            )
        })
        .collect()
}

/// The Python exception for `err`.
pub(crate) fn to_py(err: aiohttp::ClientError) -> PyErr {
    let mut errno = None;
    let mut source = err.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if let Some(code) = io.raw_os_error() {
                errno = Some((code, io.to_string()));
                break;
            }
        }
        source = s.source();
    }
    let info = ErrorInfo {
        url: err.url().map(|u| u.to_string()),
        status: err.status().map(|s| s.as_u16()),
        reason: err.reason().map(str::to_owned),
        headers: err.headers().map(header_pairs),
        request: err.request_info().map(|r| {
            (
                r.method().as_str().to_owned(),
                r.url().to_string(),
                r.real_url().to_string(),
                header_pairs(r.headers()),
            )
        }),
        host: err.host().map(str::to_owned),
        port: err.port(),
        ssl: err.ssl(),
        fingerprint: err
            .fingerprint()
            .map(|(want, got)| (want.to_vec(), got.to_vec())),
        ws_close_code: err.ws_close_code(),
        errno,
        redirect: err.is_redirect_url_error(),
        history: if err.history().is_empty() {
            Vec::new()
        } else {
            Python::attach(|py| {
                err.history()
                    .iter()
                    .filter_map(|h| crate::response::Response::of_history(py, h))
                    .collect()
            })
        },
    };
    let mut message = err.message().to_owned();
    if let Some(s) = err.source() {
        message = format!("{message}: {s}");
    }
    CoreError::new_err((format!("{:?}", err.kind()), message, info))
}

/// `Result<T, ClientError>` into `PyResult<T>`.
pub(crate) trait IntoPy<T> {
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for Result<T, aiohttp::ClientError> {
    fn py_err(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
