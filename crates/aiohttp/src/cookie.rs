//! Cookie jars: the [`AbstractCookieJar`] trait, a [`CookieJar`] with RFC 6265 domain, path,
//! Secure and expiry matching, and [`DummyCookieJar`], which stores nothing.

use std::fmt;
use std::net::IpAddr;
use std::sync::Mutex;

use cookie::time::OffsetDateTime;
use cookie::Cookie;
use url::Url;

/// What a session needs from a cookie jar (aiohttp's `AbstractCookieJar`).
///
/// ```
/// use aiohttp::{AbstractCookieJar, CookieJar, Cookie, Url};
/// let jar = CookieJar::new();
/// let url = Url::parse("http://example.com/").unwrap();
/// jar.update_cookies(&[Cookie::new("a", "1")], Some(&url));
/// assert_eq!(jar.filter_cookies(&url), vec![("a".to_string(), "1".to_string())]);
/// ```
pub trait AbstractCookieJar: Send + Sync + fmt::Debug + 'static {
    /// Stores cookies received from `response_url`; `None` stores them as shared cookies sent
    /// to every host.
    fn update_cookies(&self, cookies: &[Cookie<'static>], response_url: Option<&Url>);

    /// The `(name, value)` pairs to send to `request_url`, most specific path first.
    fn filter_cookies(&self, request_url: &Url) -> Vec<(String, String)>;

    /// Removes every cookie.
    fn clear(&self);

    /// How many cookies are stored (expired ones excluded).
    fn len(&self) -> usize;

    /// Whether no cookie is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone)]
struct Stored {
    name: String,
    value: String,
    /// Empty for shared cookies.
    domain: String,
    host_only: bool,
    path: String,
    secure: bool,
    expires: Option<OffsetDateTime>,
}

impl Stored {
    fn expired(&self, now: OffsetDateTime) -> bool {
        self.expires.is_some_and(|e| e <= now)
    }
}

/// An in-memory cookie jar following RFC 6265's storage and matching rules.
///
/// Cookies from IP-address hosts are refused unless [`unsafe_`](Self::unsafe_) is set, as in
/// aiohttp.
///
/// ```
/// let jar = aiohttp::CookieJar::new().unsafe_(true);
/// # use aiohttp::AbstractCookieJar;
/// assert!(jar.is_empty());
/// ```
#[derive(Default)]
pub struct CookieJar {
    cookies: Mutex<Vec<Stored>>,
    unsafe_: bool,
}

impl fmt::Debug for CookieJar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieJar")
            .field("len", &self.len())
            .field("unsafe", &self.unsafe_)
            .finish()
    }
}

impl CookieJar {
    /// An empty jar.
    ///
    /// ```
    /// use aiohttp::AbstractCookieJar;
    /// assert_eq!(aiohttp::CookieJar::new().len(), 0);
    /// ```
    pub fn new() -> Self {
        CookieJar::default()
    }

    /// Accept cookies from hosts given as IP addresses (refused by default).
    ///
    /// ```
    /// let _jar = aiohttp::CookieJar::new().unsafe_(true);
    /// ```
    pub fn unsafe_(mut self, allow: bool) -> Self {
        self.unsafe_ = allow;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Stored>> {
        self.cookies.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// RFC 6265 section 5.1.4: the directory of the request path.
fn default_path(url: &Url) -> String {
    let path = url.path();
    if !path.starts_with('/') {
        return "/".into();
    }
    match path.rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => path[..i].to_string(),
    }
}

/// RFC 6265 section 5.1.3.
fn domain_matches(host: &str, domain: &str) -> bool {
    if host == domain {
        return true;
    }
    host.len() > domain.len()
        && host.ends_with(domain)
        && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
        && host.parse::<IpAddr>().is_err()
}

/// RFC 6265 section 5.1.4.
fn path_matches(request_path: &str, cookie_path: &str) -> bool {
    if request_path == cookie_path {
        return true;
    }
    request_path.starts_with(cookie_path)
        && (cookie_path.ends_with('/') || request_path[cookie_path.len()..].starts_with('/'))
}

impl AbstractCookieJar for CookieJar {
    fn update_cookies(&self, cookies: &[Cookie<'static>], response_url: Option<&Url>) {
        let host = response_url.and_then(Url::host_str).map(|h| {
            h.trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase()
        });
        if let Some(h) = &host {
            if !self.unsafe_ && h.parse::<IpAddr>().is_ok() {
                return;
            }
        }
        let now = OffsetDateTime::now_utc();
        let mut jar = self.lock();
        for c in cookies {
            let (domain, host_only) = match (&host, c.domain()) {
                (None, _) => (String::new(), false),
                (Some(h), Some(d)) if !d.trim_start_matches('.').is_empty() => {
                    let d = d.trim_start_matches('.').to_ascii_lowercase();
                    if !domain_matches(h, &d) {
                        continue;
                    }
                    (d, false)
                }
                (Some(h), _) => (h.clone(), true),
            };
            let path = match c.path() {
                Some(p) if p.starts_with('/') => p.to_string(),
                _ => response_url.map_or_else(|| "/".to_string(), default_path),
            };
            let expires = match c.max_age() {
                Some(age) => Some(now + age),
                None => c.expires_datetime(),
            };
            let stored = Stored {
                name: c.name().to_string(),
                value: c.value().to_string(),
                domain,
                host_only,
                path,
                secure: c.secure().unwrap_or(false),
                expires,
            };
            jar.retain(|s| {
                !(s.name == stored.name && s.domain == stored.domain && s.path == stored.path)
            });
            if !stored.expired(now) {
                jar.push(stored);
            }
        }
    }

    fn filter_cookies(&self, request_url: &Url) -> Vec<(String, String)> {
        let jar = self.lock();
        if jar.is_empty() {
            return Vec::new();
        }
        let host = request_url
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let secure = matches!(request_url.scheme(), "https" | "wss");
        let path = request_url.path();
        let now = OffsetDateTime::now_utc();
        let mut found: Vec<&Stored> = jar
            .iter()
            .filter(|s| !s.expired(now))
            .filter(|s| {
                s.domain.is_empty()
                    || if s.host_only {
                        s.domain == host
                    } else {
                        domain_matches(&host, &s.domain)
                    }
            })
            .filter(|s| !s.secure || secure)
            .filter(|s| path_matches(path, &s.path))
            .collect();
        // RFC 6265 section 5.4: longer paths first; the sort is stable, so older cookies stay first.
        found.sort_by_key(|s| std::cmp::Reverse(s.path.len()));
        found
            .into_iter()
            .map(|s| (s.name.clone(), s.value.clone()))
            .collect()
    }

    fn clear(&self) {
        self.lock().clear();
    }

    fn len(&self) -> usize {
        let now = OffsetDateTime::now_utc();
        self.lock().iter().filter(|s| !s.expired(now)).count()
    }
}

/// A jar that stores nothing (aiohttp's `DummyCookieJar`).
///
/// ```
/// use aiohttp::{AbstractCookieJar, Cookie};
/// let jar = aiohttp::DummyCookieJar::new();
/// jar.update_cookies(&[Cookie::new("a", "1")], None);
/// assert_eq!(jar.len(), 0);
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct DummyCookieJar;

impl DummyCookieJar {
    /// The jar.
    ///
    /// ```
    /// let _ = aiohttp::DummyCookieJar::new();
    /// ```
    pub fn new() -> Self {
        DummyCookieJar
    }
}

impl AbstractCookieJar for DummyCookieJar {
    fn update_cookies(&self, _cookies: &[Cookie<'static>], _response_url: Option<&Url>) {}
    fn filter_cookies(&self, _request_url: &Url) -> Vec<(String, String)> {
        Vec::new()
    }
    fn clear(&self) {}
    fn len(&self) -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test url")
    }

    fn parse(s: &str) -> Cookie<'static> {
        Cookie::parse(s.to_string()).expect("test cookie")
    }

    fn names(jar: &CookieJar, u: &str) -> Vec<String> {
        jar.filter_cookies(&url(u))
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    #[test]
    fn matching_table() {
        let jar = CookieJar::new();
        let from = url("http://www.example.com/dir/page");
        jar.update_cookies(
            &[
                parse("hostonly=1"),
                parse("dom=1; Domain=example.com"),
                parse("root=1; Path=/"),
                parse("sec=1; Secure; Path=/"),
                parse("other=1; Domain=other.com"),
            ],
            Some(&from),
        );
        let cases: [(&str, &[&str]); 6] = [
            ("http://www.example.com/dir/x", &["hostonly", "dom", "root"]),
            (
                "https://www.example.com/dir/x",
                &["hostonly", "dom", "root", "sec"],
            ),
            ("http://example.com/dir/", &["dom"]),
            ("http://sub.www.example.com/dir", &["dom"]),
            ("http://www.example.com/direct", &["root"]),
            ("http://notexample.com/dir/", &[]),
        ];
        for (u, want) in cases {
            let mut got = names(&jar, u);
            got.sort();
            let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
            want.sort();
            assert_eq!(got, want, "{u}");
        }
    }

    #[test]
    fn expiry_and_replacement() {
        let jar = CookieJar::new();
        let from = url("http://a.test/");
        jar.update_cookies(&[parse("a=1"), parse("b=1; Max-Age=0")], Some(&from));
        assert_eq!(names(&jar, "http://a.test/"), ["a"]);
        jar.update_cookies(&[parse("a=2")], Some(&from));
        assert_eq!(jar.filter_cookies(&from), vec![("a".into(), "2".into())]);
        jar.update_cookies(
            &[parse("a=x; Expires=Wed, 21 Oct 2015 07:28:00 GMT")],
            Some(&from),
        );
        assert!(jar.is_empty());
    }

    #[test]
    fn ip_hosts_need_unsafe_and_shared_cookies_go_everywhere() {
        let jar = CookieJar::new();
        let ip = url("http://127.0.0.1:8080/");
        jar.update_cookies(&[parse("a=1")], Some(&ip));
        assert!(jar.is_empty());
        let jar = CookieJar::new().unsafe_(true);
        jar.update_cookies(&[parse("a=1")], Some(&ip));
        assert_eq!(names(&jar, "http://127.0.0.1:8080/x"), ["a"]);
        assert!(names(&jar, "http://127.0.0.2:8080/x").is_empty());
        jar.update_cookies(&[parse("shared=1")], None);
        assert_eq!(names(&jar, "http://anything.test/"), ["shared"]);
        jar.clear();
        assert_eq!(jar.len(), 0);
    }

    #[test]
    fn default_path_table() {
        for (u, want) in [
            ("http://h/", "/"),
            ("http://h/a", "/"),
            ("http://h/a/b", "/a"),
            ("http://h/a/b/", "/a/b"),
        ] {
            assert_eq!(default_path(&url(u)), want, "{u}");
        }
    }
}
