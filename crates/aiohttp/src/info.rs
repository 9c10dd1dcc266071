//! `RequestInfo`: what was sent. Plain data, imported by the error and response types; it
//! imports nothing else of the crate.

use http::{HeaderMap, Method, Version};
use url::Url;

/// What was sent: URL, method and headers (aiohttp's `RequestInfo`).
///
/// ```no_run
/// # async fn run() -> Result<(), aiohttp::ClientError> {
/// let resp = aiohttp::ClientSession::new().get("http://127.0.0.1:8080/").await?;
/// let info = resp.request_info();
/// assert_eq!(info.method(), aiohttp::Method::GET);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub(crate) url: Url,
    pub(crate) method: Method,
    pub(crate) headers: std::sync::Arc<HeaderMap>,
    /// The URL as given, kept apart only when it had a fragment (otherwise it is `url`).
    pub(crate) real_url: Option<Box<Url>>,
    pub(crate) version: Version,
}

impl RequestInfo {
    /// The URL requested (without fragment).
    ///
    /// ```no_run
    /// # fn f(info: &aiohttp::RequestInfo) { let _ = info.url().as_str(); }
    /// ```
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The method.
    ///
    /// ```no_run
    /// # fn f(info: &aiohttp::RequestInfo) { let _ = info.method(); }
    /// ```
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The headers as sent (auto headers included).
    ///
    /// ```no_run
    /// # fn f(info: &aiohttp::RequestInfo) { let _ = info.headers().get("host"); }
    /// ```
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The URL as given, fragment included.
    ///
    /// ```no_run
    /// # fn f(info: &aiohttp::RequestInfo) { let _ = info.real_url().fragment(); }
    /// ```
    pub fn real_url(&self) -> &Url {
        self.real_url.as_deref().unwrap_or(&self.url)
    }
}
