//! The cookie jar fed `Set-Cookie` values, and cookie files.

use super::*;

// ---- set_cookie ----

/// The URLs cookies come from and go to (selected by index).
const COOKIE_URLS: [&str; 8] = [
    "http://example.com/",
    "https://www.example.com/app/login",
    "http://sub.example.co.uk/a/b",
    "https://127.0.0.1:8443/",
    "http://[::1]/x/",
    "http://localhost/",
    "https://github.io/",
    "http://a.b.example.com/deep/path/page?q=1",
];

/// The origin the jar treats as secure when asked to.
const SECURE_ORIGIN: &str = "http://example.com";

/// The cookie jar (`cookie.rs`) fed `Set-Cookie` values from responses, or a cookie file.
///
/// Layout: a flags byte. With bit 7 set, the rest is the text of a cookie file for `load`.
/// Otherwise bits 0-2 pick the response URL (of 8: http and https, subdomains, a public
/// suffix, IPv4 and IPv6 addresses, `localhost`), bit 3 makes the jar `unsafe_`, bit 4 sets
/// small caps (3 per domain, 5 in all), bit 5 treats `http://example.com` as secure; the rest is
/// one `Set-Cookie` value a line, parsed as a response's are, and a line `@N` switches to the
/// N-th URL for the lines after it.
///
/// Checks: for every URL, the cookies the jar sends fit in a `Cookie` header, are never
/// `Secure` over plain http, and belong to the host's domain; the caps hold; what `save`
/// writes, `load` reads back to the same cookies.
///
/// ```
/// let n = aiohttp::fuzz_support::set_cookie(b"\x00sid=1; Path=/\nlang=en");
/// assert_eq!(n, 2);
/// ```
pub fn set_cookie(data: &[u8]) -> usize {
    let mut input = Input(data);
    let flags = input.byte();
    let small = flags & 0x10 != 0;
    let jar = new_jar(flags & 0x08 != 0, small, flags & 0x20 != 0);
    let secure_origin = flags & 0x20 != 0;
    if flags & 0x80 != 0 {
        if jar.load_file_text(input.rest()).is_err() {
            return 0;
        }
    } else {
        let mut url = cookie_url(usize::from(flags & 7));
        let mut cookies = Vec::new();
        let rest = input.rest();
        for line in rest.split(|&b| b == b'\n') {
            if let Some(n) = line.strip_prefix(b"@") {
                jar.update_cookies(&cookies, url.as_ref());
                cookies.clear();
                url = cookie_url(usize::from(n.first().copied().unwrap_or(0)));
                continue;
            }
            // As a response's `Set-Cookie` values are read.
            if let Ok(s) = std::str::from_utf8(line) {
                if let Ok(c) = cookie::Cookie::parse(s.to_string()) {
                    cookies.push(c);
                }
            }
        }
        jar.update_cookies(&cookies, url.as_ref());
    }
    check_jar(&jar, small, secure_origin);
    jar.len()
}

fn new_jar(unsafe_: bool, small: bool, secure_origin: bool) -> CookieJar {
    let mut jar = CookieJar::new().unsafe_(unsafe_);
    if small {
        jar = jar.max_cookies_per_domain(3).max_cookies(5);
    }
    if secure_origin {
        if let Ok(j) = jar.clone().treat_as_secure_origin([SECURE_ORIGIN]) {
            jar = j;
        }
    }
    jar
}

fn cookie_url(i: usize) -> Option<Url> {
    Url::parse(COOKIE_URLS[i % COOKIE_URLS.len()]).ok()
}

/// The cookies `jar` sends to `url` fit in a `Cookie` header, are `Secure` only over a secure
/// origin, and domain-match the host.
pub(super) fn check_sent_cookies(jar: &dyn AbstractCookieJar, url: &Url, secure_origin: bool) {
    let secure = url.scheme() == "https"
        || (secure_origin && Url::parse(SECURE_ORIGIN).is_ok_and(|s| s.origin() == url.origin()));
    for c in jar.filter_cookies(url) {
        let clean = |s: &str| !s.bytes().any(|b| b == b';' || b < 0x20 || b == 0x7f);
        assert!(
            !c.name().is_empty() && !c.name().contains('=') && clean(c.name()) && clean(c.value()),
            "a cookie that breaks the Cookie header: {c:?}"
        );
        assert!(
            secure || c.secure() != Some(true),
            "a Secure cookie for {url}: {c:?}"
        );
        if let (Some(url::Host::Domain(host)), Some(domain)) = (url.host(), c.domain()) {
            let domain = domain.trim_start_matches('.');
            assert!(
                host == domain || host.ends_with(&format!(".{domain}")),
                "a cookie of {domain} sent to {host}"
            );
        }
    }
}

/// A cookie as compared across a save and a load.
type CookieKey = (String, String, Option<String>, Option<String>, bool, bool);

/// The cookies of `jar` that neither expire nor could expire around now, sorted.
fn lasting_cookies(jar: &CookieJar) -> Vec<CookieKey> {
    let soon = cookie::time::OffsetDateTime::now_utc() + cookie::time::Duration::minutes(1);
    let mut out: Vec<CookieKey> = jar
        .iter()
        .filter(|c| c.expires_datetime().is_none_or(|t| t > soon))
        .map(|c| {
            (
                c.name().to_string(),
                c.value().to_string(),
                c.domain().map(str::to_string),
                c.path().map(str::to_string),
                c.secure() == Some(true),
                c.http_only() == Some(true),
            )
        })
        .collect();
    out.sort();
    out
}

fn check_jar(jar: &CookieJar, small: bool, secure_origin: bool) {
    let (per_domain, total) = if small { (3, 5) } else { (50, 3000) };
    let cookies = jar.iter().collect::<Vec<_>>();
    assert!(
        cookies.len() <= total,
        "{} cookies in the jar",
        cookies.len()
    );
    let mut by_domain: std::collections::HashMap<String, usize> = Default::default();
    for c in &cookies {
        if let Some(d) = c.domain() {
            *by_domain.entry(d.to_string()).or_default() += 1;
        }
    }
    for (d, n) in by_domain {
        assert!(n <= per_domain, "{n} cookies for {d}");
    }
    for i in 0..COOKIE_URLS.len() {
        if let Some(url) = cookie_url(i) {
            check_sent_cookies(jar, &url, secure_origin);
        }
    }
    // What `save` writes loads back to the same cookies.
    let text = match jar.to_file_text() {
        Ok(t) => t,
        Err(e) => panic!("the jar cannot be saved: {e}"),
    };
    let again = new_jar(jar.is_unsafe(), small, secure_origin);
    if let Err(e) = again.load_file_text(&text) {
        panic!(
            "the jar's own file does not load: {e}\n{}",
            String::from_utf8_lossy(&text)
        );
    }
    assert_eq!(
        lasting_cookies(jar),
        lasting_cookies(&again),
        "the cookies changed through save and load"
    );
}
