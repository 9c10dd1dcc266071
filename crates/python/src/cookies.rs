//! `Jar`: the cookie jar behind Python's `CookieJar`, with aiohttp's storage and matching rules.
//!
//! Cookies are kept by (domain, path, name) with the attributes they were given (the
//! `Morsel`'s), so that iterating the jar gives back what was stored. The Python half turns
//! `Morsel`s and `Set-Cookie` headers into records and passes the clock (`time.time()`), so
//! expiry follows the caller's clock; the session, through [`AbstractCookieJar`], uses the
//! system clock and the cookies of its responses.

use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use aiohttp::{AbstractCookieJar, Cookie, Url};
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;

/// The latest expiry time kept (aiohttp's `MAX_TIME`, the year 9999 or so).
const MAX_TIME: f64 = 253_402_300_799.0;

/// A cookie as the Python half gives it: name, value, coded value (as it goes on the wire),
/// the `Morsel`'s non-empty attributes (flags as any non-empty text), and the `Expires`
/// attribute as seconds since the epoch when it parsed.
pub(crate) type InRecord = (String, String, String, Vec<(String, String)>, Option<f64>);

/// A stored cookie as the Python half sees it: name, value, coded value, attributes, domain,
/// path (without a trailing `/`), host-only, expiry (seconds since the epoch).
pub(crate) type OutRecord = (
    String,
    String,
    String,
    Vec<(String, String)>,
    String,
    String,
    bool,
    Option<f64>,
);

#[derive(Debug, Clone)]
struct Stored {
    domain: String,
    path: String,
    name: String,
    value: String,
    coded: String,
    attrs: Vec<(String, String)>,
    host_only: bool,
    expires_at: Option<f64>,
}

impl Stored {
    fn attr(&self, key: &str) -> &str {
        attr_of(&self.attrs, key)
    }

    fn secure(&self) -> bool {
        !self.attr("secure").is_empty()
    }

    fn record(&self) -> OutRecord {
        (
            self.name.clone(),
            self.value.clone(),
            self.coded.clone(),
            self.attrs.clone(),
            self.domain.clone(),
            self.path.clone(),
            self.host_only,
            self.expires_at,
        )
    }
}

fn attr_of<'a>(attrs: &'a [(String, String)], key: &str) -> &'a str {
    attrs
        .iter()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v.as_str())
}

fn set_attr(attrs: &mut Vec<(String, String)>, key: &str, value: &str) {
    attrs.retain(|(k, _)| k != key);
    if !value.is_empty() {
        attrs.push((key.to_owned(), value.to_owned()));
    }
}

/// Whether a host is an IP address (IPv6 with or without brackets).
fn is_ip(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse::<IpAddr>().is_ok()
}

/// RFC 6265 section 5.1.3: whether `hostname` domain-matches the cookie domain `domain`.
pub(crate) fn domain_match(domain: &str, hostname: &str) -> bool {
    if hostname == domain {
        return true;
    }
    match hostname.strip_suffix(domain) {
        Some(rest) => rest.ends_with('.') && !is_ip(hostname),
        None => false,
    }
}

/// Python's `http.cookies` quoting of a value: left as it is when made of the legal
/// characters, else in double quotes with `\"`, `\\` and octal escapes.
fn python_quote(value: &str) -> String {
    let legal = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~:".contains(c);
    if value.chars().all(legal) {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ',' | ';' => out.push_str(&format!("\\{:03o}", u32::from(c))),
            ' '..='~' => out.push(c),
            '\0'..='\u{ff}' => out.push_str(&format!("\\{:03o}", u32::from(c))),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The path a cookie without a usable `Path` gets from the response's path (RFC 6265
/// section 5.1.4, "default-path").
fn default_path(url_path: &str) -> String {
    match url_path.strip_prefix('/') {
        Some(rest) => format!("/{}", &rest[..rest.rfind('/').unwrap_or(0)]),
        None => "/".to_owned(),
    }
}

#[derive(Debug, Default)]
struct State {
    cookies: Vec<Stored>,
    unsafe_: bool,
    quote: bool,
    /// Origins (`scheme://host[:port]`) treated as secure.
    origins: Vec<String>,
}

impl State {
    fn find(&self, domain: &str, path: &str, name: &str) -> Option<usize> {
        self.cookies
            .iter()
            .position(|c| c.domain == domain && c.path == path && c.name == name)
    }

    fn expire(&mut self, now: f64) {
        self.cookies
            .retain(|c| c.expires_at.is_none_or(|t| t > now));
    }

    /// Stores `records`; gives, for each, the attributes it was stored with (domain and path
    /// filled in, unusable `Max-Age` and `Expires` cleared), or `None` if it was refused.
    fn update(
        &mut self,
        records: Vec<InRecord>,
        host: Option<&str>,
        url_path: &str,
        now: f64,
    ) -> Vec<Option<Vec<(String, String)>>> {
        let host = host.filter(|h| !h.is_empty());
        if !self.unsafe_ && host.is_some_and(is_ip) {
            return vec![None; records.len()];
        }
        let mut stored = Vec::with_capacity(records.len());
        for (name, value, coded, mut attrs, expires_ts) in records {
            let mut domain = attr_of(&attrs, "domain").to_owned();
            if domain.ends_with('.') {
                domain.clear();
                set_attr(&mut attrs, "domain", "");
            }
            let mut host_only = false;
            if domain.is_empty() {
                if let Some(h) = host {
                    host_only = true;
                    domain = h.to_owned();
                    set_attr(&mut attrs, "domain", h);
                }
            }
            if let Some(rest) = domain.strip_prefix('.') {
                domain = rest.to_owned();
                set_attr(&mut attrs, "domain", &domain);
            }
            if host.is_some_and(|h| !domain_match(&domain, h)) {
                stored.push(None);
                continue;
            }
            let mut path = attr_of(&attrs, "path").to_owned();
            if !path.starts_with('/') {
                path = default_path(url_path);
                set_attr(&mut attrs, "path", &path);
            }
            let key_path = path.trim_end_matches('/').to_owned();
            let mut expires_at = None;
            let max_age = attr_of(&attrs, "max-age").trim().to_owned();
            if !max_age.is_empty() {
                match max_age.parse::<i64>() {
                    Ok(secs) => expires_at = Some((now + secs as f64).min(MAX_TIME)),
                    Err(_) => set_attr(&mut attrs, "max-age", ""),
                }
            } else if !attr_of(&attrs, "expires").is_empty() {
                match expires_ts {
                    Some(t) => expires_at = Some(t),
                    None => set_attr(&mut attrs, "expires", ""),
                }
            }
            stored.push(Some(attrs.clone()));
            let cookie = Stored {
                domain,
                path: key_path,
                name,
                value,
                coded,
                attrs,
                host_only,
                expires_at,
            };
            match self.find(&cookie.domain, &cookie.path, &cookie.name) {
                Some(i) => self.cookies[i] = cookie,
                None => self.cookies.push(cookie),
            }
        }
        self.expire(now);
        stored
    }

    /// The cookies for a request to `hostname` and `path`: (name, value, coded value to send,
    /// secure). A later, more specific cookie replaces an earlier one of the same name.
    fn filter(
        &mut self,
        hostname: &str,
        path: &str,
        secure: bool,
        now: f64,
    ) -> Vec<(String, String, String, bool)> {
        if self.cookies.is_empty() {
            return Vec::new();
        }
        self.expire(now);
        // Candidate domains, shortest first ("com", "example.com", "a.example.com"); an IP
        // host matches itself only, and only in an unsafe jar.
        let domains: Vec<String> = if is_ip(hostname) {
            if self.unsafe_ {
                vec![hostname.to_owned()]
            } else {
                Vec::new()
            }
        } else {
            let labels: Vec<&str> = hostname.split('.').collect();
            (1..=labels.len())
                .map(|n| labels[labels.len() - n..].join("."))
                .collect()
        };
        // Candidate paths, shortest first ("", "/one", "/one/two").
        let mut paths: Vec<String> = Vec::new();
        let mut acc = String::new();
        for (i, seg) in path.split('/').enumerate() {
            if i > 0 {
                acc.push('/');
                acc.push_str(seg);
            }
            paths.push(acc.clone());
        }
        let mut found: Vec<(usize, usize, usize)> = Vec::new();
        for (i, c) in self.cookies.iter().enumerate() {
            if c.domain.is_empty() && c.path.is_empty() {
                found.push((0, 0, i));
                continue;
            }
            let Some(d) = domains.iter().position(|d| *d == c.domain) else {
                continue;
            };
            let Some(p) = paths.iter().position(|p| *p == c.path) else {
                continue;
            };
            if (c.host_only && c.domain != hostname)
                || c.attr("path").len() > path.len()
                || (!secure && c.secure())
            {
                continue;
            }
            found.push((1 + d, p, i));
        }
        found.sort_unstable();
        let mut out: Vec<(String, String, String, bool)> = Vec::new();
        for (_, _, i) in found {
            let c = &self.cookies[i];
            let sent = if !self.quote {
                c.value.clone()
            } else if c.coded.starts_with('"') {
                c.coded.clone()
            } else {
                python_quote(&c.value)
            };
            let entry = (c.name.clone(), c.value.clone(), sent, c.secure());
            match out.iter_mut().find(|(n, ..)| *n == c.name) {
                Some(slot) => *slot = entry,
                None => out.push(entry),
            }
        }
        out
    }

    fn is_secure(&self, url: &Url) -> bool {
        matches!(url.scheme(), "https" | "wss")
            || self.origins.contains(&url.origin().ascii_serialization())
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `secs` since the epoch as an HTTP date (`Tue, 01 Jan 2999 12:00:00 GMT`).
fn http_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // 1970-01-01 was a Thursday.
    let weekday = (days + 3).rem_euclid(7);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[weekday as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Whether a cookie name holds a character no cookie name may (aiohttp logs and skips those):
/// whitespace, a control character, `,`, `;`, `=`, `"` or `\`.
fn is_bad_name(name: &str) -> bool {
    name.is_empty()
        || name
            .bytes()
            .any(|b| b <= b' ' || b == 0x7f || b",;=\"\\".contains(&b))
}

/// Attributes run into a `Path` or `Domain` value without a `;`, as in
/// `Path=/ Expires=Tue, 1 Jan 1980 12:00:00 GMT`, which Python's cookie parser (and so
/// aiohttp) reads as separate attributes: the value's first word, and the attributes after it.
fn unglue(value: &str) -> (String, Vec<(String, String)>) {
    let value = value.trim();
    let Some(at) = value.find(char::is_whitespace) else {
        return (value.to_owned(), Vec::new());
    };
    let mut extra = Vec::new();
    let mut rest = value[at..].trim_start();
    while !rest.is_empty() {
        let end = rest.find(|c: char| c == '=' || c.is_whitespace());
        let key = rest[..end.unwrap_or(rest.len())].to_ascii_lowercase();
        let has_value = end.is_some_and(|i| rest[i..].starts_with('='));
        let after = end.map_or("", |i| &rest[i..]);
        if !has_value {
            extra.push((key, String::new()));
            rest = after.trim_start();
            continue;
        }
        let after = &after[1..];
        // A date holds spaces: it takes the rest of the value.
        let len = if key == "expires" {
            after.len()
        } else {
            after.find(char::is_whitespace).unwrap_or(after.len())
        };
        extra.push((key, after[..len].trim().to_owned()));
        rest = after[len..].trim_start();
    }
    (value[..at].to_owned(), extra)
}

/// Seconds since the epoch of a cookie date (RFC 6265 section 5.1.1), or `None`.
fn parse_expires(date: &str) -> Option<f64> {
    let delimiter = |c: char| matches!(c, '\t' | ' '..='/' | ';'..='@' | '['..='`' | '{'..='~');
    // Leading digits of a token (at most `max`), if there are `min` to `max` of them.
    let digits = |t: &str, min: usize, max: usize| -> Option<(i64, usize)> {
        let n = t.bytes().take_while(u8::is_ascii_digit).count();
        (min..=max)
            .contains(&n)
            .then(|| t[..n].parse().ok().map(|v| (v, n)))
            .flatten()
    };
    let (mut hms, mut day, mut month, mut year) = (None, None, None, None);
    for token in date.split(delimiter).filter(|t| !t.is_empty()) {
        if hms.is_none() {
            let mut parts = token.splitn(3, ':');
            let h = parts.next().and_then(|p| digits(p, 1, 2));
            let m = parts.next().and_then(|p| digits(p, 1, 2));
            let s = parts.next().and_then(|p| digits(p, 1, 2));
            if let (Some((h, hn)), Some((m, mn)), Some((s, _))) = (h, m, s) {
                if hn + mn + 2 <= token.len() {
                    hms = Some((h, m, s));
                    continue;
                }
            }
        }
        if day.is_none() {
            if let Some((d, _)) = digits(token, 1, 2) {
                day = Some(d);
                continue;
            }
        }
        if month.is_none() {
            let lower = token.get(..3).map(str::to_ascii_lowercase);
            if let Some(i) = MONTHS
                .iter()
                .position(|m| lower.as_deref() == Some(&m.to_ascii_lowercase()))
            {
                month = Some(i as i64 + 1);
                continue;
            }
        }
        if year.is_none() {
            if let Some((y, _)) = digits(token, 2, 4) {
                year = Some(y);
            }
        }
    }
    let ((hour, minute, second), day, month, mut year) = (hms?, day?, month?, year?);
    if (70..=99).contains(&year) {
        year += 1900;
    } else if (0..=69).contains(&year) {
        year += 2000;
    }
    if !(1..=31).contains(&day) || year < 1601 || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hour * 3600 + minute * 60 + second) as f64)
}

/// A cookie of a response as a record; `None` for a name aiohttp refuses.
fn from_response(c: &Cookie<'static>) -> Option<InRecord> {
    if is_bad_name(c.name()) {
        return None;
    }
    let mut attrs: Vec<(String, String)> = Vec::new();
    let mut expires = c.expires_datetime().map(|t| t.unix_timestamp() as f64);
    if let Some(t) = c.expires_datetime() {
        set_attr(&mut attrs, "expires", &http_date(t.unix_timestamp()));
    }
    if let Some(age) = c.max_age() {
        set_attr(&mut attrs, "max-age", &age.whole_seconds().to_string());
    }
    if c.secure() == Some(true) {
        set_attr(&mut attrs, "secure", "1");
    }
    if c.http_only() == Some(true) {
        set_attr(&mut attrs, "httponly", "1");
    }
    if let Some(s) = c.same_site() {
        set_attr(&mut attrs, "samesite", &s.to_string());
    }
    if c.partitioned() == Some(true) {
        set_attr(&mut attrs, "partitioned", "1");
    }
    for (key, value) in [("domain", c.domain()), ("path", c.path())] {
        let (head, extra) = unglue(value.unwrap_or(""));
        set_attr(&mut attrs, key, &head);
        for (k, v) in extra {
            match k.as_str() {
                "expires" => {
                    expires = parse_expires(&v);
                    set_attr(&mut attrs, "expires", &v);
                }
                "max-age" | "domain" | "path" | "samesite" => set_attr(&mut attrs, &k, &v),
                "secure" | "httponly" | "partitioned" => set_attr(&mut attrs, &k, "1"),
                _ => {}
            }
        }
    }
    let coded = c.value().to_owned();
    let value = c.value_trimmed().to_owned();
    Some((c.name().to_owned(), value, coded, attrs, expires))
}

/// The jar as the session sees it; clones share the storage.
#[derive(Debug, Clone)]
struct Handle(Arc<Mutex<State>>);

impl Handle {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held leaves the jar usable: every update is whole.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl AbstractCookieJar for Handle {
    fn update_cookies(&self, cookies: &[Cookie<'static>], response_url: Option<&Url>) {
        let records = cookies.iter().filter_map(from_response).collect();
        let host = response_url.and_then(|u| u.host_str()).map(|h| {
            h.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(h)
                .to_owned()
        });
        let path = response_url.map_or("", |u| u.path());
        // What was stored is for the Python half only.
        let _ = self.lock().update(records, host.as_deref(), path, now());
    }

    fn filter_cookies(&self, request_url: &Url) -> Vec<Cookie<'static>> {
        let mut state = self.lock();
        let secure = state.is_secure(request_url);
        let host = request_url.host_str().unwrap_or("");
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        state
            .filter(host, request_url.path(), secure, now())
            .into_iter()
            .map(|(name, _, sent, is_secure)| {
                let mut c = Cookie::new(name, sent);
                c.set_secure(is_secure.then_some(true));
                c
            })
            .collect()
    }

    fn cookies(&self) -> Vec<Cookie<'static>> {
        let mut state = self.lock();
        state.expire(now());
        state
            .cookies
            .iter()
            .map(|s| {
                let mut c = Cookie::new(s.name.clone(), s.value.clone());
                if !s.domain.is_empty() {
                    c.set_domain(s.domain.clone());
                }
                c.set_path(s.attr("path").to_owned());
                c.set_secure(s.secure().then_some(true));
                c
            })
            .collect()
    }

    fn clear(&self) {
        self.lock().cookies.clear();
    }

    fn clear_domain(&self, domain: &str) {
        self.lock()
            .cookies
            .retain(|c| !domain_match(domain, c.attr("domain")));
    }

    fn len(&self) -> usize {
        self.lock().cookies.len()
    }
}

/// A cookie jar shared by the sessions it is given to.
#[pyclass(frozen, module = "aiohttp_rs._core")]
#[derive(Debug)]
pub struct Jar {
    inner: Handle,
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

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.lock()
    }
}

#[pymethods]
impl Jar {
    /// `treat_as_secure_origin`: origins as `scheme://host[:port]`.
    #[new]
    #[pyo3(signature = (*, unsafe_=false, quote_cookie=true, treat_as_secure_origin=None, dummy=false))]
    fn new(
        unsafe_: bool,
        quote_cookie: bool,
        treat_as_secure_origin: Option<Vec<String>>,
        dummy: bool,
    ) -> Self {
        let state = State {
            unsafe_,
            quote: quote_cookie,
            origins: treat_as_secure_origin.unwrap_or_default(),
            ..State::default()
        };
        Jar {
            inner: Handle(Arc::new(Mutex::new(state))),
            dummy,
        }
    }

    /// Stores cookies from a response to `host` and `path` (`host` `None`: given by the
    /// caller, stored for their `Domain` or for every host), at `now`. Gives for each the
    /// attributes it was stored with, or `None` if it was refused.
    #[pyo3(signature = (records, host, path, now))]
    fn update(
        &self,
        records: Vec<InRecord>,
        host: Option<&str>,
        path: &str,
        now: f64,
    ) -> Vec<Option<Vec<(String, String)>>> {
        if self.dummy {
            return vec![None; records.len()];
        }
        self.state().update(records, host, path, now)
    }

    /// Writes `data` to `path`: a new file readable by its owner only, an existing one
    /// truncated with its permissions kept.
    #[staticmethod]
    fn write_file(py: Python<'_>, path: PathBuf, data: Vec<u8>) -> PyResult<()> {
        py.detach(|| {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options.open(&path)?;
            file.write_all(&data)
        })
        .map_err(|e| PyOSError::new_err(format!("{}: {e}", path.display())))
    }

    /// The bytes of the file at `path`.
    #[staticmethod]
    fn read_file(py: Python<'_>, path: PathBuf) -> PyResult<Vec<u8>> {
        py.detach(|| std::fs::read(&path))
            .map_err(|e| PyOSError::new_err(format!("{}: {e}", path.display())))
    }

    /// The cookies to send to `host` and `path`: (name, value, coded value) triples.
    fn filter(
        &self,
        host: &str,
        path: &str,
        secure: bool,
        now: f64,
    ) -> Vec<(String, String, String)> {
        self.state()
            .filter(host, path, secure, now)
            .into_iter()
            .map(|(n, v, c, _)| (n, v, c))
            .collect()
    }

    /// Every cookie unexpired at `now`, in the order stored.
    fn all(&self, now: f64) -> Vec<OutRecord> {
        let mut state = self.state();
        state.expire(now);
        state.cookies.iter().map(Stored::record).collect()
    }

    /// Removes the cookies expired at `now`.
    fn expire(&self, now: f64) {
        self.state().expire(now);
    }

    /// Removes the cookies of the given (domain, path, name) keys.
    fn delete(&self, keys: Vec<(String, String, String)>) {
        self.state().cookies.retain(|c| {
            !keys
                .iter()
                .any(|(d, p, n)| *d == c.domain && *p == c.path && *n == c.name)
        });
    }

    /// Adds stored cookies as `all` gives them (a file read back), replacing those of the
    /// same key; the ones expired at `now` are left out.
    fn restore(&self, records: Vec<OutRecord>, now: f64) {
        if self.dummy {
            return;
        }
        let mut state = self.state();
        for (name, value, coded, attrs, domain, path, host_only, expires_at) in records {
            if expires_at.is_some_and(|t| t <= now) {
                continue;
            }
            let cookie = Stored {
                domain,
                path,
                name,
                value,
                coded,
                attrs,
                host_only,
                expires_at,
            };
            match state.find(&cookie.domain, &cookie.path, &cookie.name) {
                Some(i) => state.cookies[i] = cookie,
                None => state.cookies.push(cookie),
            }
        }
    }

    /// Removes every cookie.
    fn clear(&self) {
        self.state().cookies.clear();
    }

    /// Removes the cookies whose domain domain-matches `domain`, and those expired at `now`.
    fn clear_domain(&self, domain: &str, now: f64) {
        let mut state = self.state();
        state.expire(now);
        state
            .cookies
            .retain(|c| !domain_match(domain, c.attr("domain")));
    }

    fn __len__(&self) -> usize {
        self.state().cookies.len()
    }

    /// Whether IP hosts may keep cookies.
    #[getter]
    fn unsafe_(&self) -> bool {
        self.state().unsafe_
    }

    /// Whether values are quoted as `http.cookies` does when sent.
    #[getter]
    fn quote_cookie(&self) -> bool {
        self.state().quote
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, value: &str, attrs: &[(&str, &str)]) -> InRecord {
        (
            name.to_owned(),
            value.to_owned(),
            value.to_owned(),
            attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            None,
        )
    }

    fn names(state: &mut State, host: &str, path: &str, secure: bool) -> Vec<String> {
        let mut v: Vec<String> = state
            .filter(host, path, secure, 0.0)
            .into_iter()
            .map(|c| c.0)
            .collect();
        v.sort();
        v
    }

    #[test]
    fn domain_and_path_matching() {
        let mut s = State::default();
        let _ = s.update(
            vec![
                rec("shared", "1", &[]),
                rec("dom", "2", &[("domain", ".example.com")]),
                rec("sub", "3", &[("domain", "a.example.com")]),
                rec("p", "4", &[("domain", "example.com"), ("path", "/one")]),
                rec("sec", "5", &[("domain", "example.com"), ("secure", "1")]),
            ],
            None,
            "",
            0.0,
        );
        assert_eq!(names(&mut s, "example.com", "/", false), ["dom", "shared"]);
        assert_eq!(
            names(&mut s, "a.example.com", "/one/x", true),
            ["dom", "p", "sec", "shared", "sub"]
        );
        assert_eq!(names(&mut s, "1.2.3.4", "/", true), ["shared"]);
    }

    #[test]
    fn host_only_cookies_stay_on_their_host_and_foreign_domains_are_refused() {
        let mut s = State::default();
        let stored = s.update(
            vec![
                rec("h", "1", &[]),
                rec("other", "2", &[("domain", "other.org")]),
            ],
            Some("example.com"),
            "/a/b",
            0.0,
        );
        assert_eq!(
            stored[0].as_deref(),
            Some(
                &[
                    ("domain".to_owned(), "example.com".to_owned()),
                    ("path".to_owned(), "/a".to_owned())
                ][..]
            )
        );
        assert_eq!(stored[1], None);
        assert_eq!(s.cookies.len(), 1);
        assert_eq!(s.cookies[0].attr("path"), "/a");
        assert_eq!(names(&mut s, "example.com", "/a", false), ["h"]);
        assert!(names(&mut s, "x.example.com", "/a", false).is_empty());
        assert_eq!(
            s.update(vec![rec("ip", "1", &[])], Some("127.0.0.1"), "/", 0.0),
            [None]
        );
        assert_eq!(s.cookies.len(), 1);
    }

    #[test]
    fn max_age_and_expires() {
        let mut s = State::default();
        let _ = s.update(
            vec![
                rec("a", "1", &[("max-age", "10")]),
                rec("bad", "1", &[("max-age", "soon")]),
            ],
            None,
            "",
            100.0,
        );
        assert_eq!(s.cookies[0].expires_at, Some(110.0));
        assert_eq!(s.cookies[1].attr("max-age"), "");
        assert_eq!(s.filter("h", "/", false, 109.0).len(), 2);
        assert_eq!(s.filter("h", "/", false, 110.0).len(), 1);
        let _ = s.update(vec![rec("bad", "", &[("max-age", "0")])], None, "", 200.0);
        assert!(s.cookies.is_empty());
    }

    #[test]
    fn response_cookies() {
        let parse = |s: &str| from_response(&Cookie::parse(s.to_owned()).expect("cookie"));
        assert_eq!(parse("a,b=1"), None);
        let (name, value, coded, attrs, expires) =
            parse("c=\"x y\"; HttpOnly; Path=/ Expires=Tue, 1 Jan 1980 12:00:00 GMT")
                .expect("stored");
        assert_eq!(
            (name.as_str(), value.as_str(), coded.as_str()),
            ("c", "x y", "\"x y\"")
        );
        assert_eq!(attr_of(&attrs, "path"), "/");
        assert_eq!(attr_of(&attrs, "httponly"), "1");
        assert_eq!(attr_of(&attrs, "expires"), "Tue, 1 Jan 1980 12:00:00 GMT");
        assert_eq!(expires, Some(315_576_000.0));
        let (.., attrs, _) = parse("d=1; Path=/ Max-Age=5").expect("stored");
        assert_eq!(attr_of(&attrs, "max-age"), "5");
        let (.., attrs, expires) =
            parse("e=1; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:10 GMT").expect("stored");
        assert_eq!(attr_of(&attrs, "max-age"), "60");
        assert_eq!(attr_of(&attrs, "expires"), "Thu, 01 Jan 1970 00:00:10 GMT");
        assert_eq!(expires, Some(10.0));
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            parse_expires("Tue, 1 Jan 1980 12:00:00 GMT"),
            Some(315_576_000.0)
        );
        assert_eq!(parse_expires("Thu, 01-Jan-70 00:00:10 GMT"), Some(10.0));
        assert_eq!(parse_expires("29 Feb 2000 00:00:00"), Some(951_782_400.0));
        assert_eq!(parse_expires("Tue, 1 Jan 1980 GMT"), None);
        assert_eq!(parse_expires("Tue, 1 Jan 1500 00:00:00 GMT"), None);
        assert_eq!(parse_expires("Tue, 1 Jan 1970 77:88:99 GMT"), None);
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(32_472_187_200), "Tue, 01 Jan 2999 12:00:00 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn values_are_quoted_as_python_does() {
        assert_eq!(python_quote("abc"), "abc");
        assert_eq!(python_quote("a/b"), "\"a/b\"");
        assert_eq!(python_quote("a;b\"\\"), "\"a\\073b\\\"\\\\\"");
        assert!(domain_match("example.com", "a.example.com"));
        assert!(!domain_match("example.com", "aexample.com"));
        assert!(!domain_match("0.0.1", "127.0.0.1"));
    }
}
