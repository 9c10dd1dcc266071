//! Redirects: the decision for one response, as pure code ([`decide`]); the request loop
//! (`run.rs`) applies it.

use std::borrow::Cow;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use url::Url;

use crate::error::{ClientError, ErrorKind};
use crate::head::{BodyState, NextHop};

/// The headers that describe a body, dropped with it.
const BODY_HEADERS: [HeaderName; 4] = [
    header::CONTENT_LENGTH,
    header::CONTENT_TYPE,
    header::CONTENT_ENCODING,
    header::TRANSFER_ENCODING,
];

/// The headers never sent to another origin: credentials, and an explicit `Host` (the next
/// origin gets its own).
const ORIGIN_HEADERS: [HeaderName; 4] = [
    header::AUTHORIZATION,
    header::PROXY_AUTHORIZATION,
    header::COOKIE,
    header::HOST,
];

/// One response, as far as the redirect decision is concerned.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hop<'a> {
    pub(crate) status: StatusCode,
    /// The method of the request that got this response.
    pub(crate) method: &'a Method,
    /// `Location` (or the obsolete `URI`), if present and not empty.
    pub(crate) location: Option<&'a HeaderValue>,
    /// The URL that was requested.
    pub(crate) url: &'a Url,
    pub(crate) body: BodyState,
    /// Redirects followed before this response.
    pub(crate) followed: usize,
}

/// The request's and session's redirect settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub(crate) allow: bool,
    pub(crate) max: usize,
    pub(crate) requote: bool,
}

/// What to do with a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// It is the final response.
    Final,
    /// It is a redirect beyond `max_redirects`.
    TooMany,
    /// Send the next request.
    Follow(NextHop),
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// The redirect target of a response: `Location`, else the obsolete `URI`; empty ones ignored.
/// Only a redirect status has one (the headers of other responses are not searched).
pub(crate) fn location(status: StatusCode, headers: &HeaderMap) -> Option<&HeaderValue> {
    if !is_redirect(status) {
        return None;
    }
    let present = |v: &&HeaderValue| !v.as_bytes().iter().all(u8::is_ascii_whitespace);
    headers
        .get(header::LOCATION)
        .filter(present)
        .or_else(|| headers.get("uri").filter(present))
}

/// Decides what follows `hop` (aiohttp's redirect rules, RFC 9110 section 15.4):
///
/// * only 301, 302, 303, 307 and 308 with a `Location` are followed, when `allow` is set;
/// * past `max` redirects: [`Decision::TooMany`];
/// * 303 turns every method but HEAD into GET, and 301/302 turn POST into GET; the body and
///   the headers describing it are dropped then; otherwise method and body are kept, and a
///   body that cannot be sent again is a `ClientPayloadError`;
/// * a relative `Location` is joined to the URL requested; one that is not http(s) or does not
///   parse is an error naming it;
/// * another origin (scheme, host or port) drops the credential headers and an explicit
///   `Host`; the request's own TLS settings stay behind too (`SendOptions::leave_origin`).
///
/// # Errors
/// `InvalidUrlRedirectClientError`, `NonHttpUrlRedirectClientError`, `ClientPayloadError`.
pub(crate) fn decide(hop: &Hop<'_>, policy: &Policy) -> Result<Decision, ClientError> {
    if !policy.allow || !is_redirect(hop.status) {
        return Ok(Decision::Final);
    }
    let Some(location) = hop.location else {
        return Ok(Decision::Final);
    };
    if hop.followed >= policy.max {
        return Ok(Decision::TooMany);
    }
    let url = resolve(location.as_bytes(), hop.url, policy.requote)?;
    let to_get = match hop.status.as_u16() {
        303 => *hop.method != Method::HEAD,
        301 | 302 => *hop.method == Method::POST,
        _ => false,
    };
    let (method, keep_body) = if to_get {
        (Method::GET, false)
    } else {
        (hop.method.clone(), hop.body != BodyState::Empty)
    };
    if keep_body && hop.body == BodyState::Consumed {
        return Err(ClientError::payload(format!(
            "the {} redirect to {url} needs the request body again, and the body was a stream \
             that is already sent (use an in-memory body to follow it)",
            hop.status.as_u16()
        ))
        .with_url(hop.url));
    }
    let cross_origin = url.origin() != hop.url.origin();
    let mut drop_headers = Vec::new();
    if to_get {
        drop_headers.extend(BODY_HEADERS);
    }
    if cross_origin {
        drop_headers.extend(ORIGIN_HEADERS);
    }
    Ok(Decision::Follow(NextHop {
        method,
        downgrade: hop.url.scheme() == "https" && url.scheme() == "http",
        url,
        keep_body,
        drop_headers,
        cross_origin,
    }))
}

/// Resolves a `Location` value against the URL requested.
fn resolve(raw: &[u8], base: &Url, requote: bool) -> Result<Url, ClientError> {
    let invalid = |what: &str| {
        ClientError::new(
            ErrorKind::InvalidUrlRedirectClientError,
            format!(
                "the server redirected to {:?}, {what}",
                crate::error::redact_url_text(&String::from_utf8_lossy(raw))
            ),
        )
    };
    let text = std::str::from_utf8(raw)
        .map_err(|e| invalid("which is not UTF-8").with_source(e))?
        .trim();
    if http_without_authority(text) {
        return Err(invalid("which has no host"));
    }
    let mut url = base
        .join(text)
        .map_err(|e| invalid("which is not a valid URL").with_source(e))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ClientError::new(
            ErrorKind::NonHttpUrlRedirectClientError,
            format!(
                "the server redirected to {:?}, which is not an http(s) URL",
                crate::error::redact_url_text(text)
            ),
        )
        .with_url(&url));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("which has no host"));
    }
    if requote {
        let path = requote_part(url.path()).into_owned();
        url.set_path(&path);
        if let Some(q) = url.query() {
            let q = requote_part(q).into_owned();
            url.set_query(Some(&q));
        }
    }
    Ok(url)
}

/// Whether `text` names the http(s) scheme without an authority after it: `http:/x`,
/// `http:///x`, `https:x`. The WHATWG parser repairs those (`http:/x` becomes `http://x/`,
/// and `http:x` is a path relative to an http base), while an RFC 3986 reading, and aiohttp,
/// finds no host in them. The parser's own removal of tabs and newlines is applied first.
fn http_without_authority(text: &str) -> bool {
    let cleaned: Cow<'_, str> = if text.contains(['\t', '\n', '\r']) {
        Cow::Owned(
            text.chars()
                .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
                .collect(),
        )
    } else {
        Cow::Borrowed(text)
    };
    let Some((scheme, rest)) = cleaned.split_once(':') else {
        return false;
    };
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return false;
    }
    match rest.strip_prefix("//") {
        None => true,
        Some(after) => after.is_empty() || after.starts_with(['/', '\\', '?', '#']),
    }
}

/// Normalizes percent-escapes (RFC 3986 section 6.2.2): an escaped unreserved character is
/// decoded, other escapes get uppercase hex digits. A `%` that starts no escape is kept as it
/// is, and an escaped hex digit right after one stays escaped: decoded, it would make a new
/// escape with that `%` (`%%341` would become `%41`, another URL).
fn requote_part(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    // Where the last `%` that starts no escape went in `out`.
    let mut stray: Option<usize> = None;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(b[i + 1]), hex(b[i + 2])) {
                // Both digits are below 16, so the byte fits.
                let byte = u8::try_from(hi * 16 + lo).unwrap_or(0);
                let joins_stray = byte.is_ascii_hexdigit()
                    && stray.is_some_and(|p| {
                        p + 1 == out.len()
                            || (p + 2 == out.len() && out.as_bytes()[p + 1].is_ascii_hexdigit())
                    });
                let unreserved =
                    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~');
                if unreserved && !joins_stray {
                    out.push(char::from(byte));
                } else {
                    out.push('%');
                    out.push(char::from(b[i + 1]).to_ascii_uppercase());
                    out.push(char::from(b[i + 2]).to_ascii_uppercase());
                }
                i += 3;
                continue;
            }
        }
        // Copy one whole character.
        if b[i] == b'%' {
            stray = Some(out.len());
        }
        let ch_len = s[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&s[i..i + ch_len]);
        i += ch_len;
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test url")
    }

    const POLICY: Policy = Policy {
        allow: true,
        max: 10,
        requote: true,
    };

    struct Case {
        status: u16,
        method: Method,
        location: Option<&'static str>,
        from: &'static str,
        body: BodyState,
        followed: usize,
    }

    fn case(status: u16, method: Method, location: &'static str) -> Case {
        Case {
            status,
            method,
            location: Some(location),
            from: "http://a.test/x/y?q=1",
            body: BodyState::Replayable,
            followed: 0,
        }
    }

    fn run(c: &Case, policy: &Policy) -> Result<Decision, ClientError> {
        let loc = c.location.map(HeaderValue::from_static);
        let from = url(c.from);
        decide(
            &Hop {
                status: StatusCode::from_u16(c.status).expect("status"),
                method: &c.method,
                location: loc.as_ref(),
                url: &from,
                body: c.body,
                followed: c.followed,
            },
            policy,
        )
    }

    fn follow(c: &Case) -> NextHop {
        match run(c, &POLICY) {
            Ok(Decision::Follow(n)) => n,
            other => panic!("expected a redirect to follow, got {other:?}"),
        }
    }

    #[test]
    fn method_and_body_table() {
        use Method as M;
        // (status, method, next method, body kept)
        let table = [
            (301, M::GET, M::GET, true),
            (301, M::POST, M::GET, false),
            (301, M::PUT, M::PUT, true),
            (301, M::HEAD, M::HEAD, true),
            (302, M::POST, M::GET, false),
            (302, M::DELETE, M::DELETE, true),
            (302, M::PATCH, M::PATCH, true),
            (303, M::POST, M::GET, false),
            (303, M::PUT, M::GET, false),
            (303, M::DELETE, M::GET, false),
            (303, M::OPTIONS, M::GET, false),
            (303, M::GET, M::GET, false),
            (303, M::HEAD, M::HEAD, true),
            (307, M::POST, M::POST, true),
            (307, M::PUT, M::PUT, true),
            (307, M::GET, M::GET, true),
            (308, M::POST, M::POST, true),
            (308, M::PATCH, M::PATCH, true),
        ];
        for (status, method, want_method, keep) in table {
            let next = follow(&case(status, method.clone(), "/next"));
            assert_eq!(next.method, want_method, "{status} {method}");
            assert_eq!(next.keep_body, keep, "{status} {method}");
            let drops_body_headers = next.drop_headers.contains(&header::CONTENT_TYPE)
                && next.drop_headers.contains(&header::CONTENT_LENGTH);
            assert_eq!(
                drops_body_headers,
                !keep && method != M::HEAD,
                "{status} {method}"
            );
            assert!(!next.cross_origin);
        }
    }

    #[test]
    fn without_a_body_nothing_is_kept() {
        let mut c = case(307, Method::POST, "/n");
        c.body = BodyState::Empty;
        assert!(!follow(&c).keep_body);
    }

    #[test]
    fn spent_stream_bodies_cannot_be_replayed() {
        for (status, method) in [(307, Method::POST), (308, Method::PUT), (301, Method::PUT)] {
            let mut c = case(status, method.clone(), "/n");
            c.body = BodyState::Consumed;
            let err = run(&c, &POLICY).expect_err("cannot replay");
            assert_eq!(
                err.kind(),
                ErrorKind::ClientPayloadError,
                "{status} {method}"
            );
        }
        // Redirects that drop the body do not need it.
        for (status, method) in [(303, Method::PUT), (302, Method::POST)] {
            let mut c = case(status, method, "/n");
            c.body = BodyState::Consumed;
            assert!(!follow(&c).keep_body);
        }
    }

    #[test]
    fn final_responses_table() {
        let mut cases = vec![];
        for status in [200, 201, 204, 300, 304, 305, 306, 400, 404, 500] {
            cases.push(case(status, Method::GET, "/n"));
        }
        let mut no_location = case(302, Method::GET, "/n");
        no_location.location = None;
        cases.push(no_location);
        for c in &cases {
            assert_eq!(
                run(c, &POLICY).expect("decides"),
                Decision::Final,
                "{}",
                c.status
            );
        }
        let off = Policy {
            allow: false,
            ..POLICY
        };
        assert_eq!(
            run(&case(302, Method::GET, "/n"), &off).expect("decides"),
            Decision::Final
        );
    }

    #[test]
    fn location_header_lookup() {
        let found = StatusCode::FOUND;
        let mut h = HeaderMap::new();
        assert!(location(found, &h).is_none());
        h.insert(header::LOCATION, HeaderValue::from_static("  "));
        assert!(location(found, &h).is_none());
        h.insert("uri", HeaderValue::from_static("/from-uri"));
        assert_eq!(
            location(found, &h).map(HeaderValue::as_bytes),
            Some(&b"/from-uri"[..])
        );
        h.insert(header::LOCATION, HeaderValue::from_static("/loc"));
        assert_eq!(
            location(found, &h).map(HeaderValue::as_bytes),
            Some(&b"/loc"[..])
        );
        // Not a redirect: no target, whatever the headers say.
        for status in [200, 201, 300, 304, 305, 404] {
            let status = StatusCode::from_u16(status).expect("status");
            assert!(location(status, &h).is_none(), "{status}");
        }
    }

    #[test]
    fn max_redirects_counts_redirects_followed() {
        let mut c = case(302, Method::GET, "/n");
        c.followed = 9;
        assert!(matches!(run(&c, &POLICY), Ok(Decision::Follow(_))));
        c.followed = 10;
        assert_eq!(run(&c, &POLICY).expect("decides"), Decision::TooMany);
        let zero = Policy { max: 0, ..POLICY };
        c.followed = 0;
        assert_eq!(run(&c, &zero).expect("decides"), Decision::TooMany);
        // Not a redirect: the limit does not matter.
        let mut ok = case(200, Method::GET, "/n");
        ok.followed = 10;
        assert_eq!(run(&ok, &POLICY).expect("decides"), Decision::Final);
    }

    #[test]
    fn location_resolution_table() {
        let table = [
            ("/abs", "http://a.test/abs"),
            ("rel", "http://a.test/x/rel"),
            ("../up", "http://a.test/up"),
            ("?p=2", "http://a.test/x/y?p=2"),
            ("//b.test/p", "http://b.test/p"),
            ("https://b.test:8443/p#frag", "https://b.test:8443/p#frag"),
            ("/with space", "http://a.test/with%20space"),
            ("/caf\u{e9}", "http://a.test/caf%C3%A9"),
            ("/p#top", "http://a.test/p#top"),
            ("HTTP://B.TEST/", "http://b.test/"),
        ];
        for (loc, want) in table {
            let from = url("http://a.test/x/y?q=1");
            let got = resolve(loc.as_bytes(), &from, true).expect(loc);
            assert_eq!(got.as_str(), want, "{loc}");
        }
    }

    #[test]
    fn requote_normalizes_escapes_only_when_asked() {
        let from = url("http://a.test/");
        let loc = b"/a%7eb%2fc%41?x=%7e%2f&y=%e2%82%ac";
        let on = resolve(loc, &from, true).expect("requoted");
        assert_eq!(on.as_str(), "http://a.test/a~b%2FcA?x=~%2F&y=%E2%82%AC");
        let off = resolve(loc, &from, false).expect("as sent");
        assert_eq!(
            off.as_str(),
            "http://a.test/a%7eb%2fc%41?x=%7e%2f&y=%e2%82%ac"
        );
        assert_eq!(requote_part("100%"), "100%");
        assert_eq!(requote_part("%zz%4"), "%zz%4");
        assert_eq!(requote_part("\u{e9}%41"), "\u{e9}A");
    }

    #[test]
    fn requoting_never_makes_an_escape_out_of_a_stray_percent() {
        // Found by fuzzing (fuzz/ redirect target): decoding `%34` to `4` right after a `%`
        // that starts no escape turned `/%%341` into `/%41`, which the next requote (and any
        // server) reads as `A`.
        let table = [
            ("%%341", "%%341"),
            ("%4%31", "%4%31"),
            ("be%%37A", "be%%37A"),
            ("%%7e", "%~"),
            ("%%34%7e", "%%34~"),
            ("%zz%41", "%zzA"),
            ("be%7%41%2f", "be%7%41%2F"),
            ("100%%41x", "100%%41x"),
            ("%%2f", "%%2F"),
        ];
        for (raw, want) in table {
            let once = requote_part(raw);
            assert_eq!(once, want, "{raw}");
            assert_eq!(requote_part(&once), once, "requoting {raw} twice");
        }
        let from = url("http://a.test/");
        let next = resolve(b"/%%341?q=%%37A", &from, true).expect("requoted");
        assert_eq!(next.as_str(), "http://a.test/%%341?q=%%37A");
        assert_eq!(
            resolve(next.as_str().as_bytes(), &from, true).expect("again"),
            next
        );
    }

    #[test]
    fn bad_locations_are_errors_naming_them() {
        let table: [(&[u8], ErrorKind); 12] = [
            (
                b"ftp://files.test/x",
                ErrorKind::NonHttpUrlRedirectClientError,
            ),
            (
                b"javascript:alert(1)",
                ErrorKind::NonHttpUrlRedirectClientError,
            ),
            (b"mailto:a@b.test", ErrorKind::NonHttpUrlRedirectClientError),
            (b"http://[::1/", ErrorKind::InvalidUrlRedirectClientError),
            (b"http://", ErrorKind::InvalidUrlRedirectClientError),
            (b"http://a b/", ErrorKind::InvalidUrlRedirectClientError),
            (b"/\xff\xfe", ErrorKind::InvalidUrlRedirectClientError),
            // An http(s) scheme without an authority: the WHATWG parser would repair these.
            (b"http:/", ErrorKind::InvalidUrlRedirectClientError),
            (b"http:/b.test/p", ErrorKind::InvalidUrlRedirectClientError),
            (
                b"http:///b.test/p",
                ErrorKind::InvalidUrlRedirectClientError,
            ),
            (b"HTTPS:b.test", ErrorKind::InvalidUrlRedirectClientError),
            (b"http:rel", ErrorKind::InvalidUrlRedirectClientError),
        ];
        let from = url("http://a.test/");
        for (loc, kind) in table {
            let err = resolve(loc, &from, true).expect_err("rejected");
            assert_eq!(err.kind(), kind, "{:?}", String::from_utf8_lossy(loc));
            assert!(err.is_redirect_url_error());
            let shown = String::from_utf8_lossy(loc);
            assert!(
                err.to_string().contains(shown.trim_end_matches('/')),
                "{err} names {shown}"
            );
        }
        // Backslashes and a tab inside the scheme do not hide a missing authority.
        for loc in [&b"http:\\\\b.test\\p"[..], b"ht\ttp:/b.test"] {
            let err = resolve(loc, &from, true).expect_err("rejected");
            assert_eq!(err.kind(), ErrorKind::InvalidUrlRedirectClientError);
        }
        // An authority after the scheme, or no scheme, is still followed.
        for loc in [
            "http://b.test",
            "https://b.test:1/p",
            "//b.test/p",
            "/http:/x",
            "x/http:y",
            "https:\t//b.test/",
        ] {
            assert!(resolve(loc.as_bytes(), &from, true).is_ok(), "{loc}");
        }
    }

    #[test]
    fn crossing_origins_drops_credentials() {
        let table = [
            ("http://a.test/x/y", false, false),
            ("/other", false, false),
            ("http://a.test:80/p", false, false),
            ("http://a.test:8080/p", true, false),
            ("https://a.test/p", true, false),
            ("http://b.test/p", true, false),
            ("http://sub.a.test/p", true, false),
        ];
        for (loc, cross, downgrade) in table {
            let next = follow(&case(302, Method::GET, loc));
            assert_eq!(next.cross_origin, cross, "{loc}");
            assert_eq!(next.downgrade, downgrade, "{loc}");
            for h in ORIGIN_HEADERS {
                assert_eq!(next.drop_headers.contains(&h), cross, "{loc} {h}");
            }
        }
        let mut c = case(307, Method::POST, "http://a.test/p");
        c.from = "https://a.test/x";
        let next = follow(&c);
        assert!(next.cross_origin && next.downgrade && next.keep_body);
        assert!(next.drop_headers.contains(&header::AUTHORIZATION));
        assert!(!next.drop_headers.contains(&header::CONTENT_TYPE));
    }
}
