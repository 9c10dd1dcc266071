//! What names a URL ([`IntoUrl`]) and query parameters ([`IntoParams`]): plain conversions,
//! checked before any I/O.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use url::Url;

use crate::error::{ClientError, ErrorKind};

/// Anything that names a URL: `&str`, `String`, `&Url`, `Url`.
///
/// Strings may also be relative references, resolved against a session's `base_url` with
/// [`into_url_with_base`](Self::into_url_with_base).
///
/// ```
/// use aiohttp::IntoUrl;
/// let url = "http://example.com/a?b=1".into_url()?;
/// assert_eq!(url.path(), "/a");
/// # Ok::<(), aiohttp::ClientError>(())
/// ```
pub trait IntoUrl {
    /// Parses or converts into a [`Url`].
    ///
    /// # Errors
    /// A malformed URL: an `InvalidUrlClientError`.
    fn into_url(self) -> Result<Url, ClientError>;

    /// Resolves against `base` (RFC 3986 reference resolution): a relative reference such as
    /// `"users/1"` or `"/users/1"` is joined to it, an absolute URL wins. The default keeps
    /// [`into_url`](Self::into_url), for types that are always absolute.
    ///
    /// # Errors
    /// A malformed URL: an `InvalidUrlClientError`.
    ///
    /// ```
    /// use aiohttp::{IntoUrl, Url};
    /// let base = Url::parse("http://example.com/api/v1/").unwrap();
    /// assert_eq!("users".into_url_with_base(&base)?.as_str(), "http://example.com/api/v1/users");
    /// assert_eq!("/health".into_url_with_base(&base)?.as_str(), "http://example.com/health");
    /// assert_eq!("http://other.test/".into_url_with_base(&base)?.as_str(), "http://other.test/");
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    fn into_url_with_base(self, base: &Url) -> Result<Url, ClientError>
    where
        Self: Sized,
    {
        let _ = base;
        self.into_url()
    }
}

fn parse_url(s: &str) -> Result<Url, ClientError> {
    Url::parse(s).map_err(|e| {
        ClientError::new(
            ErrorKind::InvalidUrlClientError,
            format!("invalid URL {:?}", crate::error::redact_url_text(s)),
        )
        .with_source(e)
    })
}

fn join_url(base: &Url, s: &str) -> Result<Url, ClientError> {
    base.join(s).map_err(|e| {
        ClientError::new(
            ErrorKind::InvalidUrlClientError,
            format!("invalid URL {:?}", crate::error::redact_url_text(s)),
        )
        .with_source(e)
    })
}

impl IntoUrl for &str {
    fn into_url(self) -> Result<Url, ClientError> {
        parse_url(self)
    }

    fn into_url_with_base(self, base: &Url) -> Result<Url, ClientError> {
        join_url(base, self)
    }
}

impl IntoUrl for String {
    fn into_url(self) -> Result<Url, ClientError> {
        parse_url(&self)
    }

    fn into_url_with_base(self, base: &Url) -> Result<Url, ClientError> {
        join_url(base, &self)
    }
}

impl IntoUrl for &String {
    fn into_url(self) -> Result<Url, ClientError> {
        parse_url(self)
    }

    fn into_url_with_base(self, base: &Url) -> Result<Url, ClientError> {
        join_url(base, self)
    }
}

impl IntoUrl for Url {
    fn into_url(self) -> Result<Url, ClientError> {
        Ok(self)
    }
}

impl IntoUrl for &Url {
    fn into_url(self) -> Result<Url, ClientError> {
        Ok(self.clone())
    }
}

/// Query parameters: a map, a list of pairs (repeated keys kept in order), or an already
/// encoded string that is appended verbatim.
///
/// ```
/// use aiohttp::IntoParams;
/// let mut url = aiohttp::Url::parse("http://h/p?x=0#frag").unwrap();
/// [("a", "1"), ("a", "2")].append_to(&mut url);
/// "raw=%2F&b".append_to(&mut url);
/// assert_eq!(url.query(), Some("x=0&a=1&a=2&raw=%2F&b"));
/// ```
pub trait IntoParams {
    /// Appends the parameters after the URL's existing query.
    fn append_to(self, url: &mut Url);
}

fn append_encoded(url: &mut Url, encoded: &str) {
    let encoded = encoded.trim_start_matches('?');
    if encoded.is_empty() {
        return;
    }
    let query = match url.query() {
        Some(q) if !q.is_empty() => format!("{q}&{encoded}"),
        _ => encoded.to_string(),
    };
    url.set_query(Some(&query));
}

fn append_pairs<'a, K, V>(url: &mut Url, pairs: impl IntoIterator<Item = (&'a K, &'a V)>)
where
    K: AsRef<str> + ?Sized + 'a,
    V: fmt::Display + ?Sized + 'a,
{
    let mut pairs = pairs.into_iter().peekable();
    if pairs.peek().is_none() {
        return;
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    let mut q = url.query_pairs_mut();
    for (k, v) in pairs {
        q.append_pair(k.as_ref(), &v.to_string());
    }
}

impl IntoParams for &str {
    fn append_to(self, url: &mut Url) {
        append_encoded(url, self);
    }
}

impl IntoParams for String {
    fn append_to(self, url: &mut Url) {
        append_encoded(url, &self);
    }
}

impl<K: AsRef<str>, V: fmt::Display> IntoParams for &[(K, V)] {
    fn append_to(self, url: &mut Url) {
        append_pairs(url, self.iter().map(|(k, v)| (k, v)));
    }
}

impl<K: AsRef<str>, V: fmt::Display, const N: usize> IntoParams for [(K, V); N] {
    fn append_to(self, url: &mut Url) {
        append_pairs(url, self.iter().map(|(k, v)| (k, v)));
    }
}

impl<K: AsRef<str>, V: fmt::Display, const N: usize> IntoParams for &[(K, V); N] {
    fn append_to(self, url: &mut Url) {
        append_pairs(url, self.iter().map(|(k, v)| (k, v)));
    }
}

impl<K: AsRef<str>, V: fmt::Display> IntoParams for Vec<(K, V)> {
    fn append_to(self, url: &mut Url) {
        append_pairs(url, self.iter().map(|(k, v)| (k, v)));
    }
}

impl<K: AsRef<str>, V: fmt::Display, S> IntoParams for &HashMap<K, V, S> {
    fn append_to(self, url: &mut Url) {
        append_pairs(url, self.iter());
    }
}

impl<K: AsRef<str>, V: fmt::Display> IntoParams for &BTreeMap<K, V> {
    fn append_to(self, url: &mut Url) {
        append_pairs(url, self.iter());
    }
}

impl<K: AsRef<str>, V: fmt::Display> IntoParams for BTreeMap<K, V> {
    fn append_to(self, url: &mut Url) {
        append_pairs(url, self.iter());
    }
}
