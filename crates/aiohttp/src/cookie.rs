//! Cookie jars: the [`AbstractCookieJar`] trait, a [`CookieJar`] with RFC 6265 storage and
//! matching (on `cookie_store`, with the public suffix list shipped in the crate), and
//! [`DummyCookieJar`], which stores nothing.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use cookie::time::{Duration, OffsetDateTime};
use cookie::{Cookie, Expiration, SameSite};
use cookie_store::{CookieDomain, CookieExpiration, CookiePath, CookieStore, StoreAction};
use serde_json::{json, Value};
use url::{Host, Origin, Url};

use crate::error::ClientError;
use crate::urls::IntoUrl;

/// What a session needs from a cookie jar (aiohttp's `AbstractCookieJar`).
///
/// The session calls [`update_cookies`](Self::update_cookies) with the `Set-Cookie`s of every
/// response (redirects included) and [`filter_cookies`](Self::filter_cookies) before every
/// request, so a custom jar decides what is stored and what is sent.
///
/// ```
/// use aiohttp::{AbstractCookieJar, CookieJar, Cookie, Url};
/// let jar = CookieJar::new();
/// let url = Url::parse("http://example.com/").unwrap();
/// jar.update_cookies(&[Cookie::new("a", "1")], Some(&url));
/// let sent: Vec<String> = jar.filter_cookies(&url).iter().map(|c| c.to_string()).collect();
/// assert_eq!(sent.len(), 1);
/// assert_eq!(jar.filter_cookies(&url)[0].name_value(), ("a", "1"));
/// ```
pub trait AbstractCookieJar: Send + Sync + fmt::Debug + 'static {
    /// Stores cookies received from `response_url`; `None` stores them as shared cookies, sent
    /// to every host.
    fn update_cookies(&self, cookies: &[Cookie<'static>], response_url: Option<&Url>);

    /// The cookies to send to `request_url`, most specific path first. Only name and value go
    /// on the wire; the attributes (domain, path, secure, ...) are those stored.
    fn filter_cookies(&self, request_url: &Url) -> Vec<Cookie<'static>>;

    /// Every unexpired cookie stored, with its attributes. A host-only cookie has its domain
    /// set to the host that sent it; a shared cookie has no domain.
    fn cookies(&self) -> Vec<Cookie<'static>>;

    /// Removes every cookie.
    fn clear(&self);

    /// Removes the cookies of `domain` and of its subdomains.
    fn clear_domain(&self, domain: &str);

    /// How many cookies are stored (expired ones excluded).
    fn len(&self) -> usize;

    /// Whether no cookie is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The public suffix list (publicsuffix.org), shipped with the crate and parsed once.
static PUBLIC_SUFFIX_LIST: &[u8] = include_bytes!("../data/public_suffix_list.dat");

fn public_suffixes() -> Option<&'static publicsuffix::List> {
    static LIST: OnceLock<Option<publicsuffix::List>> = OnceLock::new();
    LIST.get_or_init(|| publicsuffix::List::from_bytes(PUBLIC_SUFFIX_LIST).ok())
        .as_ref()
}

/// Whether `domain` (lowercase ASCII) is a public suffix such as `com`, `co.uk`, or a top-level
/// domain missing from the list (`corp`, `internal`, `localhost`): the list's algorithm applies
/// the default rule `*` to those, as Firefox does, since every host under such a name may be run
/// by someone else. Fails closed: without a list every domain counts as one.
fn is_public_suffix(domain: &str) -> bool {
    use publicsuffix::Psl;
    match public_suffixes() {
        Some(list) => list
            .suffix(domain.as_bytes())
            .is_none_or(|s| s.as_bytes() == domain.as_bytes()),
        None => true,
    }
}

/// The site a cookie domain belongs to for the per-domain cap: the registrable domain (one label
/// under the public suffix, `example.co.uk` for `www.example.co.uk`), or the name itself for IP
/// addresses and public suffixes.
fn site_of(domain: &str) -> String {
    use publicsuffix::Psl;
    if is_ip(domain) {
        return domain.to_string();
    }
    public_suffixes()
        .and_then(|list| list.domain(domain.as_bytes()))
        .and_then(|d| std::str::from_utf8(d.as_bytes()).ok())
        .unwrap_or(domain)
        .to_string()
}

/// Whether a cookie domain is an IP address (IPv6 ones keep the URL's brackets).
fn is_ip(domain: &str) -> bool {
    domain.starts_with('[') || domain.parse::<IpAddr>().is_ok()
}

/// RFC 6265 section 5.1.3 domain matching of two names.
fn domain_matches(name: &str, domain: &str) -> bool {
    name == domain
        || (name.len() > domain.len()
            && name.ends_with(domain)
            && name.as_bytes()[name.len() - domain.len() - 1] == b'.'
            && !is_ip(name))
}

/// RFC 6265 section 5.1.4 path matching of two paths.
fn path_matches(path: &str, cookie_path: &str) -> bool {
    path == cookie_path
        || (path.starts_with(cookie_path)
            && (cookie_path.ends_with('/') || path[cookie_path.len()..].starts_with('/')))
}

/// The largest cookie stored, counted as RFC 6265 section 6.1 does: name, value and attributes.
const MAX_COOKIE_SIZE: usize = 4096;
/// Default cap on the cookies of one site (RFC 6265 section 6.1 minimum).
const MAX_COOKIES_PER_DOMAIN: usize = 50;
/// Default cap on all cookies stored from responses (RFC 6265 section 6.1 minimum).
const MAX_COOKIES: usize = 3000;

/// Whether a cookie could go into a `Cookie` header without spilling into another pair: a `;`
/// or a control character would end or break it. Servers cannot send those, but callers can.
fn fits_header(c: &Cookie<'_>) -> bool {
    let clean = |s: &str| !s.bytes().any(|b| b == b';' || b < 0x20 || b == 0x7f);
    clean(c.name()) && !c.name().contains('=') && clean(c.value())
}

/// Whether `name` is a cookie name Python's `http.cookies` (and so aiohttp) accepts: RFC 9110
/// token characters and `:`.
fn is_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:".contains(&b))
}

/// Whether `b` may appear unquoted in a cookie value (RFC 6265 section 4.1.1 `cookie-octet`).
fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

/// A value given by the caller as it goes into a `Cookie` header. RFC 6265 `cookie-octet`s go
/// as they are; anything else is quoted as Python's `http.cookies` (and so aiohttp) does: in
/// double quotes, with `\"` and `\\`, and `\ooo` octal escapes for `,`, `;`, control characters and
/// the rest of Latin-1 outside printable ASCII. aiohttp also quotes `=`, `/`, `(`, `)`, `<`,
/// `>`, `?`, `@`, `[`, `]`, `{` and `}`; RFC 6265 allows them bare, so base64 and URL values
/// reach servers unchanged here.
pub(crate) fn quote_cookie_value(value: &str) -> Cow<'_, str> {
    if value.bytes().all(is_cookie_octet) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    out.push('"');
    for ch in value.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' if ch != ',' && ch != ';' => out.push(ch),
            // Writing to a String cannot fail.
            '\0'..='\u{ff}' => _ = write!(out, "\\{:03o}", u32::from(ch)),
            _ => out.push(ch),
        }
    }
    out.push('"');
    Cow::Owned(out)
}

/// The cookies given to a request, as `(name, value)` pairs ready for the `Cookie` header.
///
/// # Errors
/// A name with other characters than [`is_cookie_name`] allows: a name cannot be quoted, and a
/// `;` or `=` in it would change the header's meaning.
pub(crate) fn caller_cookie_pairs(
    pairs: &[(String, String)],
) -> Result<Vec<(&str, Cow<'_, str>)>, ClientError> {
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    pairs
        .iter()
        .map(|(name, value)| {
            if is_cookie_name(name) {
                Ok((name.as_str(), quote_cookie_value(value)))
            } else {
                Err(ClientError::invalid_argument(format!(
                    "invalid cookie name {name:?}"
                )))
            }
        })
        .collect()
}

/// A cookie stored without a URL: sent to every host.
#[derive(Debug, Clone)]
struct Shared {
    cookie: Cookie<'static>,
    expires: Option<OffsetDateTime>,
}

impl Shared {
    fn expired(&self, now: OffsetDateTime) -> bool {
        self.expires.is_some_and(|e| e <= now)
    }
}

/// RFC 6265 section 5.3 step 3: Max-Age wins over Expires; `None` for a session cookie.
fn expiry_of(c: &Cookie<'_>, now: OffsetDateTime) -> Option<OffsetDateTime> {
    match c.max_age() {
        Some(age) if age <= Duration::ZERO => Some(OffsetDateTime::UNIX_EPOCH),
        // A Max-Age too large to add to the clock never expires.
        Some(age) => now.checked_add(age),
        None => c.expires_datetime(),
    }
}

/// A stored cookie's place in the store: domain, path, name.
type Key = (String, String, String);

fn key_of(c: &cookie_store::Cookie<'_>) -> Option<Key> {
    let domain = c.domain.as_cow()?.into_owned();
    Some((domain, String::from(&c.path), c.name().to_string()))
}

/// What the caps need to know of a stored cookie, which the store does not record.
struct Meta {
    /// Creation order (RFC 6265 section 5.3 step 11.3: a replaced cookie keeps its old one).
    created: u64,
    site: String,
}

struct State {
    store: CookieStore,
    shared: Vec<Shared>,
    unsafe_: bool,
    secure_origins: Vec<Origin>,
    /// One entry for every cookie in `store`.
    meta: HashMap<Key, Meta>,
    next_created: u64,
    max_per_domain: usize,
    max_total: usize,
    /// No stored or shared cookie expires before this (`None`: none expires), so most updates
    /// skip the sweep for expired cookies.
    next_expiry: Option<OffsetDateTime>,
}

impl Default for State {
    fn default() -> Self {
        State {
            store: CookieStore::new(),
            shared: Vec::new(),
            unsafe_: false,
            secure_origins: Vec::new(),
            meta: HashMap::new(),
            next_created: 0,
            max_per_domain: MAX_COOKIES_PER_DOMAIN,
            max_total: MAX_COOKIES,
            next_expiry: None,
        }
    }
}

impl State {
    /// Whether `url` may set and receive `Secure` cookies.
    fn is_secure(&self, url: &Url) -> bool {
        matches!(url.scheme(), "https" | "wss") || self.secure_origins.contains(&url.origin())
    }

    /// RFC 6265bis section 5.7 (storage model), the step for non-secure origins: whether `new`
    /// would shadow or replace a `Secure` cookie of the same name whose domain domain-matches
    /// it (either way) and whose path the new path path-matches.
    fn shadows_secure(&self, new: &cookie_store::Cookie<'_>, now: OffsetDateTime) -> bool {
        let Some(domain) = new.domain.as_cow() else {
            return false;
        };
        self.store.iter_any().any(|old| {
            old.name() == new.name()
                && old.secure() == Some(true)
                && !old.expires_by(&now)
                && old
                    .domain
                    .as_cow()
                    .is_some_and(|d| domain_matches(&d, &domain) || domain_matches(&domain, &d))
                && path_matches(&new.path, &old.path)
        })
    }

    /// Notes a stored cookie; one already known keeps its creation time.
    fn record(&mut self, key: Key) {
        if !self.meta.contains_key(&key) {
            let site = site_of(&key.0);
            self.meta.insert(
                key,
                Meta {
                    created: self.next_created,
                    site,
                },
            );
            self.next_created += 1;
        }
    }

    fn forget(&mut self, key: &Key) {
        self.store.remove(&key.0, &key.1, &key.2);
        self.meta.remove(key);
    }

    /// Drops expired cookies, so that they never count against the caps nor are saved.
    fn purge_expired(&mut self, now: OffsetDateTime) {
        if self.next_expiry.is_none_or(|t| now < t) {
            return;
        }
        let mut next: Option<OffsetDateTime> = None;
        let mut expired: Vec<Key> = Vec::new();
        for c in self.store.iter_any() {
            if c.expires_by(&now) {
                expired.extend(key_of(c));
            } else if let cookie_store::CookieExpiration::AtUtc(t) = c.expires {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        for key in &expired {
            self.forget(key);
        }
        self.shared.retain(|s| !s.expired(now));
        for t in self.shared.iter().filter_map(|s| s.expires) {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        self.next_expiry = next;
    }

    /// Notes that a cookie expiring at `t` (if ever) was stored.
    fn expires_at(&mut self, t: Option<OffsetDateTime>) {
        if let Some(t) = t {
            self.next_expiry = Some(self.next_expiry.map_or(t, |n| n.min(t)));
        }
    }

    /// Evicts the oldest cookies of every site over the per-domain cap, then the oldest of all
    /// while over the total cap.
    fn enforce_caps(&mut self) {
        self.enforce_caps_within(self.max_total);
    }

    /// [`enforce_caps`](Self::enforce_caps) with `total` stored cookies at most.
    fn enforce_caps_within(&mut self, total: usize) {
        if self.meta.len() <= self.max_per_domain.min(total) {
            // Too few cookies in all for any cap to be exceeded.
            return;
        }
        let mut per_site: HashMap<&str, usize> = HashMap::new();
        for m in self.meta.values() {
            *per_site.entry(m.site.as_str()).or_default() += 1;
        }
        if self.meta.len() <= total && per_site.values().all(|n| *n <= self.max_per_domain) {
            return;
        }
        let mut by_age: Vec<(u64, &Key, &str)> = self
            .meta
            .iter()
            .map(|(k, m)| (m.created, k, m.site.as_str()))
            .collect();
        by_age.sort_unstable_by_key(|(created, _, _)| *created);
        let mut doomed: Vec<Key> = Vec::new();
        let mut kept: Vec<&Key> = Vec::new();
        for (_, key, site) in by_age {
            let n = per_site.entry(site).or_default();
            if *n > self.max_per_domain {
                *n -= 1;
                doomed.push(key.clone());
            } else {
                kept.push(key);
            }
        }
        let excess = kept.len().saturating_sub(total);
        doomed.extend(kept.into_iter().take(excess).cloned());
        for key in &doomed {
            tracing::debug!(domain = %key.0, name = %key.2, "cookie evicted by the jar's caps");
            self.forget(key);
        }
    }

    /// Replaces the stored cookies with `store`, whose cookies were created in the order of
    /// `order`, and the shared ones with `shared` (oldest first). Every shared cookie goes to
    /// every host, so at most as many as one domain may have are kept, the newest; they count
    /// against the total.
    fn install(&mut self, store: CookieStore, mut shared: Vec<Shared>, order: Vec<Key>) {
        let excess = shared
            .len()
            .saturating_sub(self.max_per_domain.min(self.max_total));
        shared.drain(..excess);
        self.store = store;
        self.shared = shared;
        self.meta.clear();
        // Unknown until the sweep below has looked at every cookie.
        self.next_expiry = Some(OffsetDateTime::UNIX_EPOCH);
        for key in order {
            if self.store.get_any(&key.0, &key.1, &key.2).is_some() {
                self.record(key);
            }
        }
        self.purge_expired(OffsetDateTime::now_utc());
        self.enforce_caps_within(self.max_total.saturating_sub(self.shared.len()));
    }
}

/// Whether a host is a domain name (cookies from IP addresses need `unsafe_`).
fn is_domain_host(url: &Url) -> bool {
    matches!(url.host(), Some(Host::Domain(_)))
}

/// A cookie jar with RFC 6265 storage and matching rules (aiohttp's `CookieJar`).
///
/// * Domain matching, with host-only cookies (no `Domain` attribute) sent back to their host
///   only; a `Domain` that is a public suffix (`com`, `co.uk`, `github.io`, ...) is refused.
///   A top-level domain missing from the list (`corp`, `internal`, `lan`, `test`,
///   `localhost`, ...) counts as a public suffix too (the list's default rule `*`), so
///   `Domain=corp` is refused from `a.corp` and makes a host-only cookie from `corp` itself.
/// * Path matching, longer paths first.
/// * `Secure` cookies only from and to https (and wss), or the origins given to
///   [`treat_as_secure_origin`](Self::treat_as_secure_origin) (RFC 6265bis "leave secure
///   cookies alone"): any other origin (`http://localhost` included, as in aiohttp) can neither
///   set a `Secure` cookie nor set one named as a stored `Secure` cookie whose domain
///   domain-matches its own (either way) and whose path its path path-matches, so it cannot
///   replace, delete or shadow it.
/// * `Expires` and `Max-Age`; expired cookies are dropped, and a cookie set already expired
///   deletes the stored one.
/// * Cookies from hosts given as IP addresses are refused unless [`unsafe_`](Self::unsafe_).
/// * Shared cookies (stored without a URL, such as the session's
///   [`cookies`](crate::ClientSessionBuilder::cookies)) hold the caller's values: one that is
///   not made of RFC 6265 `cookie-octet`s is sent quoted as aiohttp does (`a="x\073 y"` for
///   `x; y`), so it cannot add cookies. A request's own cookies are sent the same way.
///
/// Caps, at RFC 6265 section 6.1's minimums, apply to cookies from responses (shared cookies,
/// stored without a URL, are the caller's own and are not capped):
///
/// * a cookie longer than **4096 bytes**, counted as its `Set-Cookie` text (name, value and
///   attributes), is refused;
/// * at most **50 cookies per domain** (per site: the registrable domain such as `example.com`
///   or `example.co.uk` with all its subdomains; per host for IP addresses), see
///   [`max_cookies_per_domain`](Self::max_cookies_per_domain);
/// * at most **3000 cookies** in all, see [`max_cookies`](Self::max_cookies).
///
/// When a cap is exceeded, the least recently *created* cookies go first (a cookie replaced by
/// one of the same name, domain and path keeps its creation time, as RFC 6265 section 5.3
/// says; sending a cookie does not count as a use). Expired cookies are purged whenever
/// cookies are stored, so they never count against the caps and are never saved.
///
/// The jar is a cheap handle: clones share the same storage, so one can be handed to a session
/// and kept to [`save`](Self::save) it later.
///
/// ```
/// use aiohttp::{AbstractCookieJar, Cookie, CookieJar, Url};
/// let jar = CookieJar::new();
/// let from = Url::parse("http://www.example.com/app/login").unwrap();
/// jar.update_cookies(
///     &[
///         Cookie::parse("sid=1; Domain=example.com; Path=/").unwrap(),
///         Cookie::parse("bad=1; Domain=com").unwrap(),
///     ],
///     Some(&from),
/// );
/// assert_eq!(jar.len(), 1);
/// let to = Url::parse("http://api.example.com/").unwrap();
/// assert_eq!(jar.filter_cookies(&to)[0].name(), "sid");
/// ```
#[derive(Clone, Default)]
pub struct CookieJar {
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for CookieJar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("CookieJar")
            .field("len", &state.store.iter_unexpired().count())
            .field("shared", &state.shared.len())
            .field("unsafe", &state.unsafe_)
            .finish_non_exhaustive()
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

    /// Accept cookies from hosts given as IP addresses (refused by default, as RFC 6265's
    /// domain matching does not work for them).
    ///
    /// ```
    /// use aiohttp::{AbstractCookieJar, Cookie, Url};
    /// let jar = aiohttp::CookieJar::new().unsafe_(true);
    /// let url = Url::parse("http://127.0.0.1:8080/").unwrap();
    /// jar.update_cookies(&[Cookie::new("a", "1")], Some(&url));
    /// assert_eq!(jar.len(), 1);
    /// ```
    pub fn unsafe_(self, allow: bool) -> Self {
        self.lock().unsafe_ = allow;
        self
    }

    /// Origins that get `Secure` cookies over plain http, such as a local development server
    /// (aiohttp's `treat_as_secure_origin`). Only the origin (scheme, host, port) of each URL
    /// counts.
    ///
    /// # Errors
    /// A URL that does not parse.
    ///
    /// ```
    /// use aiohttp::{AbstractCookieJar, Cookie, Url};
    /// let jar = aiohttp::CookieJar::new().treat_as_secure_origin(["http://localhost:8080"])?;
    /// let url = Url::parse("http://localhost:8080/").unwrap();
    /// jar.update_cookies(&[Cookie::parse("s=1; Secure").unwrap()], Some(&url));
    /// assert_eq!(jar.filter_cookies(&url).len(), 1);
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn treat_as_secure_origin<I, U>(self, origins: I) -> Result<Self, ClientError>
    where
        I: IntoIterator<Item = U>,
        U: IntoUrl,
    {
        let origins = origins
            .into_iter()
            .map(|u| u.into_url().map(|u| u.origin()))
            .collect::<Result<Vec<_>, _>>()?;
        self.lock().secure_origins.extend(origins);
        Ok(self)
    }

    /// Whether cookies from IP-address hosts are accepted.
    ///
    /// ```
    /// assert!(!aiohttp::CookieJar::new().is_unsafe());
    /// ```
    pub fn is_unsafe(&self) -> bool {
        self.lock().unsafe_
    }

    /// The most cookies kept for one domain (default 50): past it, that domain's least recently
    /// created cookies are evicted. A domain here is a site: the registrable domain with its
    /// subdomains (`example.com` with `www.example.com`), or an IP address.
    ///
    /// ```
    /// use aiohttp::{AbstractCookieJar, Cookie, Url};
    /// let jar = aiohttp::CookieJar::new().max_cookies_per_domain(2);
    /// let url = Url::parse("http://www.example.com/").unwrap();
    /// for name in ["a", "b", "c"] {
    ///     jar.update_cookies(&[Cookie::new(name, "1")], Some(&url));
    /// }
    /// let names: Vec<String> = jar.iter().map(|c| c.name().to_string()).collect();
    /// assert_eq!(names.len(), 2);
    /// assert!(!names.contains(&"a".to_string()));
    /// ```
    pub fn max_cookies_per_domain(self, max: usize) -> Self {
        {
            let mut state = self.lock();
            state.max_per_domain = max;
            state.enforce_caps();
        }
        self
    }

    /// The most cookies kept from responses in all (default 3000): past it, the least recently
    /// created cookies are evicted.
    ///
    /// ```
    /// use aiohttp::{AbstractCookieJar, Cookie, Url};
    /// let jar = aiohttp::CookieJar::new().max_cookies(1);
    /// jar.update_cookies(&[Cookie::new("a", "1")], Some(&Url::parse("http://a.example.com/").unwrap()));
    /// jar.update_cookies(&[Cookie::new("b", "1")], Some(&Url::parse("http://b.example.org/").unwrap()));
    /// assert_eq!(jar.iter().map(|c| c.name().to_string()).collect::<Vec<_>>(), ["b"]);
    /// ```
    pub fn max_cookies(self, max: usize) -> Self {
        {
            let mut state = self.lock();
            state.max_total = max;
            state.enforce_caps();
        }
        self
    }

    /// The stored cookies, as [`AbstractCookieJar::cookies`] (so `for c in &jar` works).
    ///
    /// ```
    /// use aiohttp::{AbstractCookieJar, Cookie};
    /// let jar = aiohttp::CookieJar::new();
    /// jar.update_cookies(&[Cookie::new("a", "1")], None);
    /// for c in &jar {
    ///     println!("{}={} domain={:?} path={:?}", c.name(), c.value(), c.domain(), c.path());
    /// }
    /// ```
    pub fn iter(&self) -> std::vec::IntoIter<Cookie<'static>> {
        AbstractCookieJar::cookies(self).into_iter()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes every unexpired cookie to `path` as JSON, readable and writable by the owner only
    /// (mode 0600 on Unix). Session cookies (without an expiry) are saved as well.
    ///
    /// The format, version 1:
    ///
    /// ```json
    /// {"version": 1, "cookies": [
    ///   {"name": "sid", "value": "abc", "domain": "example.com", "host_only": true,
    ///    "path": "/", "secure": true, "http_only": true, "same_site": "Lax",
    ///    "expires": 1767225600}
    /// ]}
    /// ```
    ///
    /// `domain` is the host (for a host-only cookie) or the `Domain` attribute, `null` for a
    /// shared cookie; `expires` is in Unix seconds, `null` for a session cookie; `same_site` is
    /// `"Strict"`, `"Lax"`, `"None"` or `null`.
    ///
    /// # Errors
    /// The file cannot be written.
    ///
    /// ```no_run
    /// let jar = aiohttp::CookieJar::new();
    /// jar.save("cookies.json")?;
    /// let restored = aiohttp::CookieJar::new();
    /// restored.load("cookies.json")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn save(&self, path: impl AsRef<Path>) -> io::Result<()> {
        write_private(path.as_ref(), &self.to_file_text()?)
    }

    /// The text [`save`](Self::save) writes.
    pub(crate) fn to_file_text(&self) -> io::Result<Vec<u8>> {
        serde_json::to_vec_pretty(&self.to_json()).map_err(io::Error::other)
    }

    /// Replaces the jar's cookies with those saved by [`save`](Self::save). The file is held to
    /// the rules cookies from servers are:
    ///
    /// * cookies that `Set-Cookie` could not have stored are left out, as expired ones are,
    ///   and the rest of the file loads: a cookie for every site under a public suffix
    ///   (`"domain": "com"` or `"co.uk"` with `"host_only": false`; the same rule as for the
    ///   `Domain` attribute, see [`CookieJar`]), and a cookie whose name and value are over
    ///   4096 bytes;
    /// * the caps apply, the file listing cookies oldest first: 50 per domain and 3000 in all
    ///   (or the jar's [`max_cookies_per_domain`](Self::max_cookies_per_domain) and
    ///   [`max_cookies`](Self::max_cookies));
    /// * shared cookies (`"domain": null`) are sent to every host, as those stored by
    ///   [`update_cookies`](AbstractCookieJar::update_cookies) without a URL: at most as many
    ///   as one domain may have are kept (the last ones in the file), and they count against
    ///   the total. A file from someone else can hold such cookies; check it first if that
    ///   matters.
    ///
    /// # Errors
    /// `InvalidData`, with the jar unchanged: the file is not JSON in the documented format, a
    /// field has the wrong type, or a cookie has an invalid domain or path, or a name or value
    /// that could not go into a `Cookie` header as it is (`;`, control characters; a shared
    /// cookie's value may hold anything, it is sent quoted). Other kinds: the file cannot be
    /// read.
    ///
    /// ```no_run
    /// let jar = aiohttp::CookieJar::new();
    /// jar.load("cookies.json")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn load(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.load_file_text(&std::fs::read(path)?)
    }

    /// [`load`](Self::load) from the text of a file.
    pub(crate) fn load_file_text(&self, text: &[u8]) -> io::Result<()> {
        let doc: Value = serde_json::from_slice(text)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let (store, shared, order) = from_json(&doc, OffsetDateTime::now_utc())
            .map_err(|msg| io::Error::new(io::ErrorKind::InvalidData, msg))?;
        self.lock().install(store, shared, order);
        Ok(())
    }

    fn to_json(&self) -> Value {
        let state = self.lock();
        let now = OffsetDateTime::now_utc();
        let mut cookies = Vec::new();
        // Oldest first, so that loading the file keeps the order the caps evict in.
        let mut stored: Vec<&cookie_store::Cookie<'static>> =
            state.store.iter_unexpired().collect();
        stored.sort_by_key(|c| {
            key_of(c)
                .and_then(|k| state.meta.get(&k))
                .map(|m| m.created)
        });
        for c in stored {
            let (domain, host_only) = match &c.domain {
                CookieDomain::HostOnly(d) => (d.clone(), true),
                CookieDomain::Suffix(d) => (d.clone(), false),
                CookieDomain::NotPresent | CookieDomain::Empty => continue,
            };
            let expires = match &c.expires {
                CookieExpiration::AtUtc(t) => Some(t.unix_timestamp()),
                CookieExpiration::SessionEnd => None,
            };
            cookies.push(json!({
                "name": c.name(),
                "value": c.value(),
                "domain": domain,
                "host_only": host_only,
                "path": String::from(&c.path),
                "secure": c.secure().unwrap_or(false),
                "http_only": c.http_only().unwrap_or(false),
                "same_site": c.same_site().map(|s| s.to_string()),
                "expires": expires,
            }));
        }
        for s in state.shared.iter().filter(|s| !s.expired(now)) {
            cookies.push(json!({
                "name": s.cookie.name(),
                "value": s.cookie.value(),
                "domain": null,
                "host_only": false,
                "path": "/",
                "secure": s.cookie.secure().unwrap_or(false),
                "http_only": s.cookie.http_only().unwrap_or(false),
                "same_site": s.cookie.same_site().map(|s| s.to_string()),
                "expires": s.expires.map(OffsetDateTime::unix_timestamp),
            }));
        }
        json!({"version": 1, "cookies": cookies})
    }
}

/// Writes `bytes` to `path`, creating it with mode 0600 and tightening an existing file to it.
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    file.sync_all()
}

/// The stored cookies, the shared ones, and the stored ones' keys in file order.
type Loaded = (CookieStore, Vec<Shared>, Vec<Key>);

/// Reads a cookie file (see [`CookieJar::save`]). A file that is not in the format, has a field
/// of the wrong type, or a cookie whose name or value could not go into a `Cookie` header as it
/// is, is an error. Cookies `Set-Cookie` could not have stored are left out, as expired ones
/// are: a `Domain` cookie (`host_only` false) for a public suffix, and a cookie whose name and
/// value are over [`MAX_COOKIE_SIZE`] bytes.
fn from_json(doc: &Value, now: OffsetDateTime) -> Result<Loaded, String> {
    if doc.get("version").and_then(Value::as_u64) != Some(1) {
        return Err("not a cookie file of version 1".into());
    }
    let entries = doc
        .get("cookies")
        .and_then(Value::as_array)
        .ok_or("no \"cookies\" array")?;
    let mut stored = Vec::new();
    let mut order = Vec::new();
    // Shared cookies by name: a later one replaces an earlier one and goes last.
    let mut shared: Vec<Option<Shared>> = Vec::new();
    let mut shared_at: HashMap<String, usize> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        let bad = |what: &str| format!("cookie {i}: {what}");
        let text = |key: &str| e.get(key).and_then(Value::as_str);
        // Absent or null is false; any other type is an error.
        let flag = |key: &str| match e.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(bad(&format!("{key} is not a boolean"))),
        };
        let name = text("name").ok_or_else(|| bad("no name"))?;
        let value = text("value").ok_or_else(|| bad("no value"))?;
        let domain = match e.get("domain") {
            None | Some(Value::Null) => None,
            Some(Value::String(d)) => Some(d.as_str()),
            Some(_) => return Err(bad("invalid domain")),
        };
        let (secure, http_only, host_only) =
            (flag("secure")?, flag("http_only")?, flag("host_only")?);
        if name.len() + 1 + value.len() > MAX_COOKIE_SIZE {
            tracing::debug!("cookie over {MAX_COOKIE_SIZE} bytes not loaded");
            continue;
        }
        let mut raw = Cookie::new(name.to_string(), value.to_string());
        if domain.is_some() {
            // The name and value must survive a round trip through a header, and be
            // what a server could have sent.
            if !fits_header(&raw)
                || Cookie::parse(raw.to_string())
                    .ok()
                    .is_none_or(|c| c.name() != name || c.value() != value)
            {
                return Err(bad("invalid name or value"));
            }
        } else if !is_cookie_name(name) {
            // A shared cookie is the caller's: any value (sent quoted), a valid name.
            return Err(bad("invalid name"));
        }
        raw.set_secure(secure.then_some(true));
        raw.set_http_only(http_only.then_some(true));
        raw.set_same_site(match text("same_site") {
            Some("Strict") => Some(SameSite::Strict),
            Some("Lax") => Some(SameSite::Lax),
            Some("None") => Some(SameSite::None),
            _ => None,
        });
        let expires = match e.get("expires") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_i64()
                    .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
                    .ok_or_else(|| bad("invalid expires"))?,
            ),
        };
        if expires.is_some_and(|t| t <= now) {
            continue;
        }
        let Some(domain) = domain else {
            if let Some(old) = shared_at.insert(name.to_string(), shared.len()) {
                shared[old] = None;
            }
            shared.push(Some(Shared {
                cookie: raw,
                expires,
            }));
            continue;
        };
        // The domain must be a host in canonical form.
        let url = Url::parse(&format!("https://{domain}/"))
            .ok()
            .filter(|u| u.host_str() == Some(domain))
            .ok_or_else(|| bad("invalid domain"))?;
        let path = text("path")
            .and_then(CookiePath::parse)
            .ok_or_else(|| bad("invalid path"))?;
        // RFC 6265 section 5.3 step 5, as for Set-Cookie: a cookie for every site under a
        // public suffix is refused.
        if !host_only && is_public_suffix(domain) {
            tracing::debug!(name, domain, "cookie for a public suffix not loaded");
            continue;
        }
        let mut c = cookie_store::Cookie::try_from_raw_cookie(&raw, &url)
            .map_err(|e| bad(&e.to_string()))?
            .into_owned();
        c.domain = if host_only {
            CookieDomain::HostOnly(domain.to_string())
        } else {
            CookieDomain::Suffix(domain.to_string())
        };
        c.path = path;
        c.expires = expires.map_or(CookieExpiration::SessionEnd, CookieExpiration::AtUtc);
        order.extend(key_of(&c));
        stored.push(Ok::<_, String>(c));
    }
    let store = CookieStore::from_cookies(stored, false)?;
    Ok((store, shared.into_iter().flatten().collect(), order))
}

/// The stored cookie as a `cookie::Cookie` with its attributes.
fn export(c: &cookie_store::Cookie<'static>) -> Cookie<'static> {
    let mut out = Cookie::new(c.name().to_string(), c.value().to_string());
    if let Some(d) = c.domain.as_cow() {
        out.set_domain(d.into_owned());
    }
    out.set_path(String::from(&c.path));
    out.set_secure(c.secure().filter(|s| *s));
    out.set_http_only(c.http_only().filter(|h| *h));
    out.set_same_site(c.same_site());
    if let CookieExpiration::AtUtc(t) = &c.expires {
        out.set_expires(Expiration::DateTime(*t));
    }
    out
}

impl AbstractCookieJar for CookieJar {
    fn update_cookies(&self, cookies: &[Cookie<'static>], response_url: Option<&Url>) {
        let now = OffsetDateTime::now_utc();
        let mut state = self.lock();
        state.purge_expired(now);
        let Some(url) = response_url else {
            for c in cookies {
                if !is_cookie_name(c.name()) {
                    tracing::debug!(
                        name = c.name(),
                        "shared cookie with an invalid name refused"
                    );
                    continue;
                }
                state.shared.retain(|s| s.cookie.name() != c.name());
                let shared = Shared {
                    cookie: c.clone(),
                    expires: expiry_of(c, now),
                };
                if !shared.expired(now) {
                    state.expires_at(shared.expires);
                    state.shared.push(shared);
                }
            }
            return;
        };
        if url.host().is_none() || (!state.unsafe_ && !is_domain_host(url)) {
            return;
        }
        let secure_origin = state.is_secure(url);
        for c in cookies {
            if !fits_header(c) {
                tracing::debug!(
                    name = c.name(),
                    "cookie that would break the Cookie header refused"
                );
                continue;
            }
            if c.to_string().len() > MAX_COOKIE_SIZE {
                tracing::debug!(
                    name = c.name(),
                    "cookie over {MAX_COOKIE_SIZE} bytes refused"
                );
                continue;
            }
            if c.secure() == Some(true) && !secure_origin {
                tracing::debug!(
                    name = c.name(),
                    "Secure cookie from a non-secure origin refused"
                );
                continue;
            }
            let mut c = c.clone();
            // RFC 6265 section 5.3 step 5: a Domain that is a public suffix is ignored when it is
            // the host itself (the cookie becomes host-only) and refused otherwise.
            if let Ok(CookieDomain::Suffix(d)) = CookieDomain::try_from(&c) {
                if is_public_suffix(&d) {
                    if url.host_str() == Some(d.as_str()) {
                        c.unset_domain();
                    } else {
                        tracing::debug!(name = c.name(), domain = %d, "cookie for a public suffix refused");
                        continue;
                    }
                }
            }
            let parsed = match cookie_store::Cookie::try_from_raw_cookie(&c, url) {
                Ok(parsed) => parsed.into_owned(),
                Err(e) => {
                    tracing::debug!(name = c.name(), error = %e, "cookie not stored");
                    continue;
                }
            };
            if !secure_origin && state.shadows_secure(&parsed, now) {
                tracing::debug!(
                    name = c.name(),
                    "cookie from a non-secure origin would replace a Secure one; refused"
                );
                continue;
            }
            let Some(key) = key_of(&parsed) else {
                continue;
            };
            if let cookie_store::CookieExpiration::AtUtc(t) = parsed.expires {
                state.expires_at(Some(t));
            }
            match state.store.insert(parsed, url) {
                Ok(StoreAction::Inserted | StoreAction::UpdatedExisting) => state.record(key),
                // The store keeps a deleted cookie, marked expired.
                Ok(StoreAction::ExpiredExisting) => state.forget(&key),
                Err(e) => tracing::debug!(name = c.name(), error = %e, "cookie not stored"),
            }
        }
        state.enforce_caps();
    }

    fn filter_cookies(&self, request_url: &Url) -> Vec<Cookie<'static>> {
        let state = self.lock();
        if state.shared.is_empty() && state.store.iter_any().next().is_none() {
            return Vec::new();
        }
        let secure_ok = state.is_secure(request_url);
        // One clock reading for the whole lookup (the store's own unexpired iterator reads the
        // clock once per stored cookie, which dominated a lookup in a large jar).
        let now = OffsetDateTime::now_utc();
        let mut found: Vec<&cookie_store::Cookie<'static>> =
            if state.unsafe_ || is_domain_host(request_url) {
                state
                    .store
                    .iter_any()
                    .filter(|c| c.domain.matches(request_url) && c.path.matches(request_url))
                    .filter(|c| secure_ok || c.secure() != Some(true))
                    .filter(|c| !c.expires_by(&now))
                    .collect()
            } else {
                Vec::new()
            };
        // RFC 6265 section 5.4: longer paths first (the sort is stable).
        found.sort_by_key(|c| Reverse(c.path.len()));
        let mut out: Vec<Cookie<'static>> = found.into_iter().map(export).collect();
        for s in &state.shared {
            if s.expired(now) || (!secure_ok && s.cookie.secure() == Some(true)) {
                continue;
            }
            if !out.iter().any(|c| c.name() == s.cookie.name()) {
                // Shared cookies are the caller's, whose values may hold anything.
                out.push(Cookie::new(
                    s.cookie.name().to_string(),
                    quote_cookie_value(s.cookie.value()).into_owned(),
                ));
            }
        }
        out
    }

    fn cookies(&self) -> Vec<Cookie<'static>> {
        let state = self.lock();
        let now = OffsetDateTime::now_utc();
        let mut out: Vec<Cookie<'static>> = state.store.iter_unexpired().map(export).collect();
        out.extend(
            state
                .shared
                .iter()
                .filter(|s| !s.expired(now))
                .map(|s| s.cookie.clone()),
        );
        out
    }

    fn clear(&self) {
        let mut state = self.lock();
        state.store.clear();
        state.shared.clear();
        state.meta.clear();
    }

    fn clear_domain(&self, domain: &str) {
        let domain = domain.trim().trim_start_matches('.').to_ascii_lowercase();
        if domain.is_empty() {
            return;
        }
        let suffix = format!(".{domain}");
        let mut state = self.lock();
        let doomed: Vec<Key> = state
            .store
            .iter_any()
            .filter_map(|c| {
                let d = c.domain.as_cow()?;
                (d == domain.as_str() || d.ends_with(&suffix))
                    .then(|| (d.into_owned(), String::from(&c.path), c.name().to_string()))
            })
            .collect();
        for key in &doomed {
            state.forget(key);
        }
    }

    fn len(&self) -> usize {
        let state = self.lock();
        let now = OffsetDateTime::now_utc();
        state.store.iter_unexpired().count()
            + state.shared.iter().filter(|s| !s.expired(now)).count()
    }
}

impl IntoIterator for &CookieJar {
    type Item = Cookie<'static>;
    type IntoIter = std::vec::IntoIter<Cookie<'static>>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// A jar that stores nothing (aiohttp's `DummyCookieJar`): no cookie is kept from responses,
/// none is added to requests (a request's own cookies are still sent).
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
    fn filter_cookies(&self, _request_url: &Url) -> Vec<Cookie<'static>> {
        Vec::new()
    }
    fn cookies(&self) -> Vec<Cookie<'static>> {
        Vec::new()
    }
    fn clear(&self) {}
    fn clear_domain(&self, _domain: &str) {}
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

    /// Stores the cookies of these `Set-Cookie` values as received from `from`.
    fn set(jar: &CookieJar, from: impl AsRef<str>, cookies: &[&str]) {
        let cookies: Vec<Cookie<'static>> = cookies.iter().map(|c| parse(c)).collect();
        jar.update_cookies(&cookies, Some(&url(from.as_ref())));
    }

    fn names(jar: &CookieJar, u: &str) -> Vec<String> {
        jar.filter_cookies(&url(u))
            .into_iter()
            .map(|c| c.name().to_string())
            .collect()
    }

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    #[test]
    fn public_suffix_list_is_shipped_and_parses() {
        assert!(public_suffixes().is_some());
        for (d, want) in [
            ("com", true),
            ("co.uk", true),
            ("github.io", true),
            ("kawasaki.jp", false),
            ("anything.kawasaki.jp", true),
            ("example.com", false),
            ("example.co.uk", false),
            ("city.kawasaki.jp", false),
            // Not listed: the default rule `*` makes it a public suffix.
            ("localhost", true),
        ] {
            assert_eq!(is_public_suffix(d), want, "{d}");
        }
    }

    #[test]
    fn domain_path_and_secure_matching_table() {
        let jar = CookieJar::new();
        let from = "http://www.example.com/dir/page";
        set(
            &jar,
            from,
            &[
                "hostonly=1",
                "dom=1; Domain=example.com",
                "dotdom=1; Domain=.EXAMPLE.com",
                "root=1; Path=/",
                "deep=1; Path=/dir/sub",
                "other=1; Domain=other.com",
                "sub=1; Domain=sub.www.example.com",
                "psl=1; Domain=com",
            ],
        );
        set(
            &jar,
            "https://www.example.com/dir/page",
            &["sec=1; Secure; Path=/"],
        );
        let cases: &[(&str, &[&str])] = &[
            (
                "http://www.example.com/dir/x",
                &["hostonly", "dom", "dotdom", "root"],
            ),
            (
                "https://www.example.com/dir/x",
                &["hostonly", "dom", "dotdom", "root", "sec"],
            ),
            (
                "http://www.example.com/dir/sub/x",
                &["hostonly", "dom", "dotdom", "root", "deep"],
            ),
            // default path of /dir/page is /dir: not a prefix of /directory
            ("http://www.example.com/directory", &["root"]),
            ("http://example.com/dir/", &["dom", "dotdom"]),
            ("http://sub.www.example.com/dir", &["dom", "dotdom"]),
            ("http://notexample.com/dir/", &[]),
            ("http://other.com/", &[]),
            ("http://www.example.org/", &[]),
        ];
        for (u, want) in cases {
            let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
            assert_eq!(sorted(names(&jar, u)), sorted(want), "{u}");
        }
        assert_eq!(jar.len(), 6);
    }

    #[test]
    fn longer_paths_are_sent_first() {
        let jar = CookieJar::new();
        let from = "http://h.test/";
        set(
            &jar,
            from,
            &["a=root; Path=/", "a=deep; Path=/x/y", "b=mid; Path=/x"],
        );
        let got: Vec<String> = jar
            .filter_cookies(&url("http://h.test/x/y/z"))
            .iter()
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect();
        assert_eq!(got, ["a=deep", "b=mid", "a=root"]);
    }

    #[test]
    fn public_suffix_domain_is_refused_unless_it_is_the_host() {
        let jar = CookieJar::new();
        set(
            &jar,
            "http://www.example.co.uk/",
            &["a=1; Domain=co.uk", "b=1; Domain=example.co.uk"],
        );
        assert_eq!(names(&jar, "http://www.example.co.uk/"), ["b"]);
        assert!(names(&jar, "http://other.co.uk/").is_empty());
        // A public suffix that is itself the host: the cookie becomes host-only.
        let jar = CookieJar::new();
        set(&jar, "http://github.io/", &["c=1; Domain=github.io"]);
        assert_eq!(names(&jar, "http://github.io/"), ["c"]);
        assert!(names(&jar, "http://user.github.io/").is_empty());
    }

    #[test]
    fn expiry_and_replacement() {
        let jar = CookieJar::new();
        let from = url("http://a.test/");
        set(&jar, &from, &["a=1", "b=1; Max-Age=0"]);
        assert_eq!(names(&jar, "http://a.test/"), ["a"]);
        set(&jar, &from, &["a=2"]);
        let sent = jar.filter_cookies(&from);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].value(), "2");
        set(&jar, &from, &["c=1; Max-Age=3600"]);
        assert_eq!(jar.len(), 2);
        set(&jar, &from, &["a=x; Expires=Wed, 21 Oct 2015 07:28:00 GMT"]);
        set(&jar, &from, &["c=; Max-Age=-5"]);
        assert!(jar.is_empty(), "{:?}", jar.cookies());
        // A Max-Age far beyond the calendar neither panics nor expires.
        jar.update_cookies(
            &[parse(&format!("big=1; Max-Age={}", i64::MAX))],
            Some(&from),
        );
        jar.update_cookies(&[parse(&format!("big=1; Max-Age={}", i64::MAX))], None);
        assert_eq!(jar.len(), 2);
    }

    #[test]
    fn a_cookie_that_expires_while_stored_is_no_longer_sent() {
        let jar = CookieJar::new();
        let from = "http://a.test/";
        set(&jar, from, &["short=1; Max-Age=1", "long=1"]);
        assert_eq!(sorted(names(&jar, "http://a.test/")), ["long", "short"]);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(names(&jar, "http://a.test/"), ["long"]);
    }

    #[test]
    fn ip_hosts_need_unsafe_and_shared_cookies_go_everywhere() {
        let jar = CookieJar::new();
        let ip = "http://127.0.0.1:8080/";
        set(&jar, ip, &["a=1"]);
        assert!(jar.is_empty());
        let jar = CookieJar::new().unsafe_(true);
        set(&jar, ip, &["a=1"]);
        assert_eq!(names(&jar, "http://127.0.0.1:8080/x"), ["a"]);
        assert!(names(&jar, "http://127.0.0.2:8080/x").is_empty());
        let v6 = url("http://[::1]:8080/");
        set(&jar, &v6, &["v6=1"]);
        assert_eq!(names(&jar, "http://[::1]:9/"), ["v6"]);
        jar.update_cookies(&[parse("shared=1"), parse("a=shared")], None);
        assert_eq!(
            sorted(names(&jar, "http://anything.test/")),
            ["a", "shared"]
        );
        // A jar cookie of the same name wins over the shared one.
        let sent = jar.filter_cookies(&url("http://127.0.0.1:8080/"));
        let pairs: Vec<(&str, &str)> = sent.iter().map(Cookie::name_value).collect();
        assert_eq!(pairs, [("a", "1"), ("shared", "1")]);
        jar.clear();
        assert_eq!(jar.len(), 0);
    }

    #[test]
    fn secure_cookies_need_https_or_a_secure_origin() {
        let jar = CookieJar::new();
        set(&jar, "https://localhost:8080/", &["s=1; Secure"]);
        set(&jar, "http://localhost:8080/", &["p=1"]);
        jar.update_cookies(&[parse("shared_s=1; Secure")], None);
        assert_eq!(names(&jar, "http://localhost:8080/"), ["p"]);
        assert_eq!(
            sorted(names(&jar, "https://localhost:8080/")),
            ["p", "s", "shared_s"]
        );
        let jar = jar
            .treat_as_secure_origin(["http://localhost:8080/ignored/path"])
            .expect("origin");
        assert_eq!(
            sorted(names(&jar, "http://localhost:8080/")),
            ["p", "s", "shared_s"]
        );
        // Cookies ignore ports, the secure origin does not.
        assert_eq!(names(&jar, "http://localhost:8081/"), ["p"]);
    }

    #[test]
    fn malformed_input_is_ignored() {
        let jar = CookieJar::new();
        let from = "http://a.test/";
        set(
            &jar,
            from,
            &[
                "x=1; Domain=b.test",
                "y=1; Domain=...",
                "z=1; Path=relative",
                "w=1; Domain=a.test.",
            ],
        );
        // The relative Path falls back to the default path.
        assert!(names(&jar, "http://a.test/").contains(&"z".to_string()));
        assert!(!names(&jar, "http://b.test/").contains(&"x".to_string()));
    }

    #[test]
    fn clear_domain_removes_the_domain_and_its_subdomains() {
        let jar = CookieJar::new();
        set(&jar, "http://example.com/", &["a=1"]);
        set(&jar, "http://www.example.com/", &["b=1"]);
        set(&jar, "http://notexample.com/", &["c=1"]);
        jar.update_cookies(&[parse("d=1")], None);
        jar.clear_domain(".Example.com");
        let mut left: Vec<String> = jar.iter().map(|c| c.name().to_string()).collect();
        left.sort();
        assert_eq!(left, ["c", "d"]);
    }

    #[test]
    fn iteration_exposes_attributes() {
        let jar = CookieJar::new();
        jar.update_cookies(
            &[parse(
                "a=1; Domain=example.com; Path=/p; Secure; HttpOnly; SameSite=Lax; Max-Age=60",
            )],
            Some(&url("https://www.example.com/")),
        );
        let all: Vec<Cookie<'static>> = (&jar).into_iter().collect();
        assert_eq!(all.len(), 1);
        let c = &all[0];
        assert_eq!(c.name_value(), ("a", "1"));
        assert_eq!(c.domain(), Some("example.com"));
        assert_eq!(c.path(), Some("/p"));
        assert_eq!(c.secure(), Some(true));
        assert_eq!(c.http_only(), Some(true));
        assert_eq!(c.same_site(), Some(SameSite::Lax));
        assert!(c.expires_datetime().is_some());
    }

    #[test]
    fn json_round_trip_keeps_every_attribute() {
        let jar = CookieJar::new();
        let from = "https://www.example.com/a/b";
        set(
            &jar,
            from,
            &[
                "host=1",
                "dom=2; Domain=example.com; Path=/; Secure; HttpOnly; Max-Age=3600",
                "gone=3; Max-Age=0",
            ],
        );
        jar.update_cookies(&[parse("shared=4")], None);
        let doc = jar.to_json();
        let (store, shared, order) = from_json(&doc, OffsetDateTime::now_utc()).expect("parses");
        let copy = CookieJar::new();
        copy.lock().install(store, shared, order);
        assert_eq!(copy.to_json(), doc);
        // Host-only survives: the host cookie is not sent to a sibling host.
        assert_eq!(
            sorted(names(&copy, "https://www.example.com/a/")),
            ["dom", "host", "shared"]
        );
        assert_eq!(
            sorted(names(&copy, "https://api.example.com/a/")),
            ["dom", "shared"]
        );
        assert_eq!(names(&copy, "http://api.example.com/"), ["shared"]);
        let entry = doc["cookies"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["name"] == "dom"))
            .expect("dom saved");
        assert_eq!(entry["host_only"], false);
        assert_eq!(entry["secure"], true);
        assert_eq!(entry["http_only"], true);
        assert!(entry["expires"].as_i64().is_some());
    }

    #[test]
    fn loading_rejects_malformed_files() {
        let now = OffsetDateTime::now_utc();
        let bad = [
            json!({"cookies": []}),
            json!({"version": 1}),
            json!({"version": 1, "cookies": [{"value": "1", "domain": "a.test", "path": "/"}]}),
            json!({"version": 1, "cookies": [{"name": "a", "value": "1", "domain": "a b", "path": "/"}]}),
            json!({"version": 1, "cookies": [{"name": "a", "value": "1", "domain": "A.test", "path": "/"}]}),
            json!({"version": 1, "cookies": [{"name": "a", "value": "1", "domain": "a.test", "path": "x"}]}),
            json!({"version": 1, "cookies": [{"name": "a;b", "value": "1", "domain": "a.test", "path": "/"}]}),
            json!({"version": 1, "cookies": [{"name": "a", "value": "1", "domain": "a.test", "path": "/", "expires": "soon"}]}),
        ];
        for (i, doc) in bad.iter().enumerate() {
            assert!(from_json(doc, now).is_err(), "case {i}");
        }
        let expired = json!({"version": 1, "cookies": [
            {"name": "a", "value": "1", "domain": "a.test", "path": "/", "expires": 1}
        ]});
        let (store, shared, _) = from_json(&expired, now).expect("parses");
        assert_eq!(store.iter_any().count() + shared.len(), 0);
    }

    #[test]
    fn loading_drops_cookies_set_cookie_would_refuse() {
        let now = OffsetDateTime::now_utc();
        let entry = |name: &str, value: &str, domain: Option<&str>, host_only: bool| json!({"name": name, "value": value, "domain": domain, "host_only": host_only, "path": "/"});
        let fits = "v".repeat(MAX_COOKIE_SIZE - 2);
        let over = "v".repeat(MAX_COOKIE_SIZE - 1);
        let doc = json!({"version": 1, "cookies": [
            entry("com", "1", Some("com"), false),
            entry("couk", "1", Some("co.uk"), false),
            entry("ghio", "1", Some("github.io"), false),
            entry("tld", "1", Some("corp"), false),
            // Host-only for the suffix itself: sent to that host alone, as from Set-Cookie.
            entry("hostcom", "1", Some("com"), true),
            entry("site", "1", Some("example.co.uk"), false),
            entry("ip", "1", Some("10.0.0.1"), false),
            entry("a", &fits, Some("example.com"), true),
            entry("b", &over, Some("example.com"), true),
            entry("s", &over, None, false),
            entry("t", "first", None, false),
            entry("u", "1", None, false),
            entry("t", "second", None, false),
        ]});
        let (store, shared, order) = from_json(&doc, now).expect("loads");
        let jar = CookieJar::new().unsafe_(true);
        jar.lock().install(store, shared, order);
        assert_eq!(
            sorted(jar.iter().map(|c| c.name().to_string()).collect()),
            ["a", "hostcom", "ip", "site", "t", "u"]
        );
        assert_eq!(names(&jar, "http://shop.com/"), ["u", "t"]);
        assert_eq!(names(&jar, "http://com/"), ["hostcom", "u", "t"]);
        assert_eq!(names(&jar, "http://x.corp/"), ["u", "t"]);
        assert_eq!(names(&jar, "http://www.example.co.uk/"), ["site", "u", "t"]);
        assert_eq!(jar.filter_cookies(&url("http://a/"))[1].value(), "second");

        // Fields of the wrong type are errors, not defaults: a domain that is not a string
        // would otherwise make a cookie for every host.
        for (key, v) in [
            ("domain", json!(7)),
            ("domain", json!(["a.test"])),
            ("host_only", json!("yes")),
            ("secure", json!(1)),
            ("http_only", json!({})),
        ] {
            let mut e = entry("n", "1", Some("a.test"), true);
            e[key] = v;
            let doc = json!({"version": 1, "cookies": [e]});
            assert!(from_json(&doc, now).is_err(), "{key}");
        }
        // Names and values a Cookie header cannot carry: refused (a shared value is quoted).
        for (name, value, domain) in [
            ("n\r\nx", "1", Some("a.test")),
            ("n", "v\r\nx", Some("a.test")),
            ("n", "v\0x", Some("a.test")),
            ("n", "v;x", Some("a.test")),
            ("n\0x", "1", None),
            ("n;x", "1", None),
        ] {
            let doc = json!({"version": 1, "cookies": [entry(name, value, domain, true)]});
            assert!(from_json(&doc, now).is_err(), "{name:?}={value:?}");
        }
        let doc = json!({"version": 1, "cookies": [entry("n", "v\r\nx;y", None, false)]});
        assert_eq!(from_json(&doc, now).expect("shared").1.len(), 1);
    }

    #[test]
    fn loaded_shared_cookies_are_capped_and_count_against_the_total() {
        let now = OffsetDateTime::now_utc();
        let mut cookies: Vec<Value> = (0..100)
            .map(|i| json!({"name": format!("x{i}"), "value": "1", "domain": null}))
            .collect();
        cookies.extend((0..10).map(|i| {
            json!({"name": format!("c{i}"), "value": "1", "domain": format!("d{i}.com"),
                   "host_only": true, "path": "/"})
        }));
        let doc = json!({"version": 1, "cookies": cookies});
        let (store, shared, order) = from_json(&doc, now).expect("loads");
        let jar = CookieJar::new().max_cookies(55);
        jar.lock().install(store, shared, order);
        assert_eq!(jar.len(), 55);
        let all = sorted(jar.iter().map(|c| c.name().to_string()).collect());
        let mut want: Vec<String> = (50..100).map(|i| format!("x{i}")).collect();
        want.extend((5..10).map(|i| format!("c{i}")));
        assert_eq!(all, sorted(want));
    }

    #[test]
    fn unlisted_top_level_domains_are_public_suffixes() {
        for (d, want) in [
            ("corp", true),
            ("internal", true),
            ("lan", true),
            ("test", true),
            ("corp.", true),
            ("a.corp", false),
            ("a.b.corp", false),
        ] {
            assert_eq!(is_public_suffix(d), want, "{d}");
        }
        let jar = CookieJar::new();
        for tld in ["corp", "internal", "lan", "test"] {
            jar.update_cookies(
                &[
                    parse(&format!("wide=1; Domain={tld}")),
                    parse(&format!("dotted=1; Domain=.{tld}")),
                    parse(&format!("site=1; Domain=a.{tld}")),
                    parse("host=1"),
                ],
                Some(&url(&format!("http://a.{tld}/"))),
            );
            assert_eq!(
                sorted(names(&jar, &format!("http://a.{tld}/"))),
                ["host", "site"],
                "{tld}"
            );
            assert_eq!(names(&jar, &format!("http://x.a.{tld}/")), ["site"]);
            assert!(names(&jar, &format!("http://b.{tld}/")).is_empty(), "{tld}");
        }
        assert_eq!(jar.len(), 8);
        // The suffix itself as the host: the cookie becomes host-only.
        let jar = CookieJar::new();
        set(&jar, "http://corp/", &["c=1; Domain=corp"]);
        assert_eq!(names(&jar, "http://corp/"), ["c"]);
        assert!(names(&jar, "http://a.corp/").is_empty());
    }

    #[test]
    fn localhost_and_ip_hosts_keep_their_host_cookies() {
        let jar = CookieJar::new();
        set(
            &jar,
            "http://localhost:8080/",
            &["h=1", "d=1; Domain=localhost"],
        );
        assert_eq!(sorted(names(&jar, "http://localhost:9/")), ["d", "h"]);
        assert!(names(&jar, "http://app.localhost/").is_empty());
        set(
            &jar,
            "http://app.localhost/",
            &["wide=1; Domain=localhost", "own=1"],
        );
        assert_eq!(names(&jar, "http://app.localhost/"), ["own"]);
        assert!(names(&jar, "http://other.localhost/").is_empty());
        let jar = CookieJar::new().unsafe_(true);
        set(&jar, "http://10.0.0.1/", &["ip=1"]);
        assert_eq!(names(&jar, "http://10.0.0.1/"), ["ip"]);
    }

    #[test]
    fn plain_http_cannot_set_secure_cookies() {
        let jar = CookieJar::new();
        set(
            &jar,
            "http://example.com/",
            &["s=1; Secure; Path=/", "p=1; Path=/"],
        );
        assert_eq!(names(&jar, "https://example.com/"), ["p"]);
        set(&jar, "https://example.com/", &["s=1; Secure; Path=/"]);
        set(&jar, "wss://example.com/", &["w=1; Secure; Path=/"]);
        assert_eq!(sorted(names(&jar, "https://example.com/")), ["p", "s", "w"]);
        let jar = CookieJar::new()
            .treat_as_secure_origin(["http://example.com:8080"])
            .expect("origin");
        set(&jar, "http://example.com:8080/", &["s=1; Secure"]);
        set(&jar, "http://example.com/", &["t=1; Secure"]);
        assert_eq!(names(&jar, "https://example.com/"), ["s"]);
    }

    #[test]
    fn plain_http_leaves_secure_cookies_alone() {
        let pairs = |jar: &CookieJar, u: &str| -> Vec<String> {
            jar.filter_cookies(&url(u))
                .iter()
                .map(|c| format!("{}={}", c.name(), c.value()))
                .collect()
        };
        let jar = CookieJar::new();
        set(
            &jar,
            "https://www.example.com/",
            &["s=secure; Secure; Domain=example.com; Path=/app"],
        );
        let http = url("http://www.example.com/app/page");
        for attempt in [
            "s=x; Domain=example.com; Path=/app",
            // host-only www.example.com domain-matches example.com
            "s=x; Path=/app",
            // a longer path path-matches the secure cookie's
            "s=x; Path=/app/sub",
            "s=x; Domain=example.com; Path=/app; Max-Age=0",
        ] {
            jar.update_cookies(&[parse(attempt)], Some(&http));
            assert_eq!(jar.len(), 1, "{attempt}");
            assert_eq!(
                pairs(&jar, "https://www.example.com/app/sub/x"),
                ["s=secure"],
                "{attempt}"
            );
        }
        // A subdomain's cookie: example.com domain-matches... the other way round.
        let jar2 = CookieJar::new();
        set(
            &jar2,
            "https://deep.www.example.com/",
            &["s=secure; Secure; Path=/"],
        );
        set(
            &jar2,
            "http://www.example.com/",
            &["s=x; Domain=example.com; Path=/"],
        );
        assert_eq!(jar2.len(), 1);
        // Unrelated name, a path outside the secure cookie's, another site: stored.
        set(&jar, &http, &["t=1; Path=/app", "s=root; Path=/"]);
        set(&jar, "http://example.org/app/page", &["s=other"]);
        assert_eq!(jar.len(), 4);
        assert_eq!(
            pairs(&jar, "https://www.example.com/app/x"),
            ["s=secure", "t=1", "s=root"]
        );
        // A secure origin may replace it.
        set(
            &jar,
            "https://example.com/",
            &["s=new; Secure; Domain=example.com; Path=/app"],
        );
        assert_eq!(
            pairs(&jar, "https://www.example.com/app/x"),
            ["s=new", "t=1", "s=root"]
        );
    }

    #[test]
    fn cookies_over_4096_bytes_are_refused() {
        let jar = CookieJar::new();
        let from = url("http://example.com/");
        let fits = format!("a={}", "v".repeat(4094));
        let too_long = format!("b={}", "v".repeat(4095));
        let attrs = format!("c={}; Path=/", "v".repeat(4090));
        jar.update_cookies(
            &[parse(&fits), parse(&too_long), parse(&attrs)],
            Some(&from),
        );
        assert_eq!(names(&jar, "http://example.com/"), ["a"]);
    }

    #[test]
    fn at_most_50_cookies_per_domain_the_oldest_go_first() {
        let jar = CookieJar::new();
        let www = url("http://www.example.com/");
        for i in 0..50 {
            jar.update_cookies(&[parse(&format!("c{i}=1; Path=/"))], Some(&www));
        }
        assert_eq!(jar.len(), 50);
        // Replacing a cookie keeps its creation time.
        set(&jar, &www, &["c0=2; Path=/"]);
        // A sibling host and a domain cookie count for the same site.
        set(&jar, &www, &["d=1; Domain=example.com"]);
        set(&jar, "http://api.example.com/", &["e=1"]);
        set(&jar, "http://example.org/", &["o=1"]);
        assert_eq!(jar.len(), 51);
        let left = names(&jar, "http://www.example.com/");
        assert_eq!(left.len(), 49, "{left:?}");
        assert!(!left.contains(&"c0".to_string()), "{left:?}");
        assert!(!left.contains(&"c1".to_string()), "{left:?}");
        assert!(left.contains(&"c2".to_string()) && left.contains(&"d".to_string()));
        assert_eq!(sorted(names(&jar, "http://api.example.com/")), ["d", "e"]);
        assert_eq!(names(&jar, "http://example.org/"), ["o"]);
    }

    #[test]
    fn at_most_3000_cookies_in_all_the_oldest_go_first() {
        let jar = CookieJar::new();
        for d in 0..61 {
            let cookies: Vec<Cookie<'static>> =
                (0..50).map(|i| parse(&format!("c{i}=1"))).collect();
            jar.update_cookies(&cookies, Some(&url(&format!("http://d{d}.com/"))));
        }
        assert_eq!(jar.len(), 3000);
        assert!(names(&jar, "http://d0.com/").is_empty());
        assert_eq!(names(&jar, "http://d1.com/").len(), 50);
        assert_eq!(names(&jar, "http://d60.com/").len(), 50);
    }

    #[test]
    fn expired_cookies_are_purged_and_never_count() {
        let jar = CookieJar::new();
        let from = url("http://www.example.com/");
        set(&jar, &from, &["short=1; Max-Age=1", "del=1"]);
        set(&jar, &from, &["del=; Max-Age=0"]);
        assert_eq!(jar.lock().store.iter_any().count(), 1);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let cookies: Vec<Cookie<'static>> = (0..50).map(|i| parse(&format!("c{i}=1"))).collect();
        jar.update_cookies(&cookies, Some(&from));
        assert_eq!(jar.lock().store.iter_any().count(), 50);
        assert_eq!(names(&jar, "http://www.example.com/").len(), 50);
        assert_eq!(jar.to_json()["cookies"].as_array().map(Vec::len), Some(50));
    }

    #[test]
    fn caller_values_are_quoted_as_python_does() {
        for (value, want) in [
            ("abc", "abc"),
            ("", ""),
            ("abc==/x:y(z)", "abc==/x:y(z)"),
            ("a; injected=1", r#""a\073 injected=1""#),
            ("a,b", r#""a\054b""#),
            ("say \"hi\"", r#""say \"hi\"""#),
            ("back\\slash", r#""back\\slash""#),
            ("cr\r\nlf\ttab\u{7f}", r#""cr\015\012lf\011tab\177""#),
            ("é€", "\"\\351€\""),
        ] {
            assert_eq!(quote_cookie_value(value), want, "{value:?}");
        }
        let ok = [("a".to_string(), "x;y".to_string())];
        let pairs = caller_cookie_pairs(&ok).expect("valid");
        assert_eq!(pairs[0].1, r#""x\073y""#);
        for name in ["", "a;b", "a=b", "a b", "a\r\n"] {
            let bad = [(name.to_string(), "1".to_string())];
            let err = caller_cookie_pairs(&bad).expect_err(name);
            assert!(err.is_invalid_argument(), "{name:?}");
        }
        // Shared cookies: an invalid name is refused, a value is quoted on the way out.
        let jar = CookieJar::new();
        jar.update_cookies(&[Cookie::new("a;b", "1"), Cookie::new("s", "x; y=1")], None);
        let sent: Vec<(String, String)> = jar
            .filter_cookies(&url("http://a.example.com/"))
            .iter()
            .map(|c| (c.name().to_string(), c.value().to_string()))
            .collect();
        assert_eq!(sent, [("s".to_string(), r#""x\073 y=1""#.to_string())]);
        // Cookies given with a URL cannot carry a `;` or a line break either.
        jar.update_cookies(
            &[
                Cookie::new("v", "x; y=1"),
                Cookie::new("n=m", "1"),
                Cookie::new("c", "a\r\nb"),
            ],
            Some(&url("http://a.example.com/")),
        );
        assert_eq!(jar.len(), 1);
    }

    #[test]
    fn dummy_jar_stores_nothing() {
        let jar = DummyCookieJar::new();
        let u = url("http://a.test/");
        jar.update_cookies(&[parse("a=1")], Some(&u));
        jar.update_cookies(&[parse("b=1")], None);
        assert!(jar.filter_cookies(&u).is_empty());
        assert!(jar.cookies().is_empty());
        assert!(jar.is_empty());
    }
}
