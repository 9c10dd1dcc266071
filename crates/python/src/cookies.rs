//! `Jar`: the crate's RFC 6265 cookie jar behind Python's `CookieJar`.

use aiohttp::{AbstractCookieJar, Cookie, CookieJar, Url};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;

/// A cookie as the Python half sees it: name, value, domain, path, host-only, secure,
/// http-only, expires (seconds since the epoch), same-site.
pub(crate) type CookieTuple = (
    String,
    String,
    String,
    String,
    bool,
    bool,
    bool,
    Option<f64>,
    Option<String>,
);

fn tuple(c: &Cookie<'static>) -> CookieTuple {
    let expires = c
        .expires_datetime()
        .map(|t| t.unix_timestamp() as f64 + f64::from(t.nanosecond()) / 1e9);
    let domain = c.domain().unwrap_or("").to_owned();
    (
        c.name().to_owned(),
        c.value().to_owned(),
        domain.trim_start_matches('.').to_owned(),
        c.path().unwrap_or("/").to_owned(),
        !domain.starts_with('.') && !domain.is_empty(),
        c.secure().unwrap_or(false),
        c.http_only().unwrap_or(false),
        expires,
        c.same_site().map(|s| s.to_string()),
    )
}

fn url(text: &str) -> PyResult<Url> {
    Url::parse(text).map_err(|e| PyValueError::new_err(format!("invalid URL {text:?}: {e}")))
}

/// A cookie jar shared by the sessions it is given to.
#[pyclass(frozen, module = "aiohttp_rs._core")]
#[derive(Debug)]
pub struct Jar {
    inner: CookieJar,
    dummy: bool,
}

impl Jar {
    /// Gives the session this jar (or no jar at all for a dummy one).
    pub(crate) fn install(
        &self,
        b: aiohttp::ClientSessionBuilder,
    ) -> aiohttp::ClientSessionBuilder {
        if self.dummy {
            b.cookie_jar(aiohttp::DummyCookieJar::new())
        } else {
            b.cookie_jar(self.inner.clone())
        }
    }
}

#[pymethods]
impl Jar {
    #[new]
    #[pyo3(signature = (*, unsafe_=false, treat_as_secure_origin=None, dummy=false))]
    fn new(
        unsafe_: bool,
        treat_as_secure_origin: Option<Vec<String>>,
        dummy: bool,
    ) -> PyResult<Self> {
        let mut inner = CookieJar::new().unsafe_(unsafe_);
        if let Some(origins) = treat_as_secure_origin {
            inner = inner
                .treat_as_secure_origin(origins)
                .map_err(crate::error::to_py)?;
        }
        Ok(Jar { inner, dummy })
    }

    /// Stores cookies given as `Set-Cookie` values, from a response of `response_url`.
    #[pyo3(signature = (set_cookies, response_url=None))]
    fn update(&self, set_cookies: Vec<String>, response_url: Option<&str>) -> PyResult<()> {
        let from = response_url.map(url).transpose()?;
        let cookies: Vec<Cookie<'static>> = set_cookies
            .into_iter()
            .filter_map(|s| Cookie::parse(s).ok())
            .collect();
        self.inner.update_cookies(&cookies, from.as_ref());
        Ok(())
    }

    /// The `(name, value)` pairs to send to `request_url`.
    fn filter(&self, request_url: &str) -> PyResult<Vec<(String, String)>> {
        let to = url(request_url)?;
        Ok(self
            .inner
            .filter_cookies(&to)
            .iter()
            .map(|c| (c.name().to_owned(), c.value().to_owned()))
            .collect())
    }

    /// Every cookie.
    fn all(&self) -> Vec<CookieTuple> {
        self.inner.cookies().iter().map(tuple).collect()
    }

    /// Removes every cookie.
    fn clear(&self) {
        self.inner.clear();
    }

    /// Removes the cookies of `domain` and its subdomains.
    fn clear_domain(&self, domain: &str) {
        self.inner.clear_domain(domain);
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Whether IP hosts may keep cookies.
    #[getter]
    fn unsafe_(&self) -> bool {
        self.inner.is_unsafe()
    }

    /// Writes the jar to `path`.
    fn save(&self, path: std::path::PathBuf) -> PyResult<()> {
        self.inner
            .save(&path)
            .map_err(|e| PyOSError::new_err(format!("{}: {e}", path.display())))
    }

    /// Reads a jar written by `save` from `path`.
    fn load(&self, path: std::path::PathBuf) -> PyResult<()> {
        self.inner
            .load(&path)
            .map_err(|e| PyOSError::new_err(format!("{}: {e}", path.display())))
    }
}
