//! The redirect decision and the joining of `Location`.

use super::*;

// ---- redirect ----

/// The URL requested when the input names none usable.
const REDIRECT_FROM: &str = "http://a.test/x/y?q=1";

/// The redirect decision (`redirect.rs`: which responses are followed, how `Location` is joined
/// and requoted, what is dropped) and the credentials of the next URL (`head.rs`).
///
/// Layout: a byte for the status (301, 302, 303, 307, 308, 200, 300, 304), a byte for the
/// method (bits 0-2: GET, POST, HEAD, PUT, DELETE, OPTIONS, PATCH, QUERY), the request body
/// (bits 4-5: none, in memory, a spent stream) and `requote_redirect_url` (bit 6), a byte for
/// the redirects already followed (mod 12, of at most 10), then the URL requested up to a `\n`
/// (the default one when it is not an http(s) URL with a host), then the `Location` value.
///
/// Checks: a redirect followed goes to an http(s) URL with a host, and from a `Location`
/// whose http(s) scheme has an authority after it (`http:/x` is refused); leaving the origin drops
/// the credentials, cookies and `Host`; https to http is a downgrade; a 303 (but for HEAD) and
/// a POST answered with 301/302 become GET without a body; a kept body is never a spent one;
/// requoting is stable (following the URL followed gives it back); the next URL's credentials
/// are taken out of it.
///
/// ```
/// let got = aiohttp::fuzz_support::redirect(b"\x01\x00\x00http://a.test/x\n/y");
/// assert_eq!(got.ok().flatten().map(|u| u.to_string()).as_deref(), Some("http://a.test/y"));
/// ```
///
/// # Errors
/// An unusable `Location`, or a body that cannot be sent again.
pub fn redirect(data: &[u8]) -> Result<Option<Url>, ClientError> {
    use crate::head::BodyState;
    use crate::redirect::{decide, location, Decision, Hop, Policy};
    let mut input = Input(data);
    let status = [301u16, 302, 303, 307, 308, 200, 300, 304][usize::from(input.byte() & 7)];
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FOUND);
    let m = input.byte();
    let method = match m & 7 {
        0 => Method::GET,
        1 => Method::POST,
        2 => Method::HEAD,
        3 => Method::PUT,
        4 => Method::DELETE,
        5 => Method::OPTIONS,
        6 => Method::PATCH,
        _ => Method::from_bytes(b"QUERY").unwrap_or(Method::GET),
    };
    let body = match (m >> 4) & 3 {
        0 => BodyState::Empty,
        1 => BodyState::Replayable,
        _ => BodyState::Consumed,
    };
    let requote = m & 0x40 != 0;
    let followed = usize::from(input.byte() % 12);
    let from = std::str::from_utf8(input.line())
        .ok()
        .and_then(|s| Url::parse(s).ok())
        .filter(|u| {
            matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
        });
    let from = match from {
        Some(u) => u,
        None => Url::parse(REDIRECT_FROM)
            .map_err(|e| ClientError::invalid_argument("the default URL").with_source(e))?,
    };
    if let Ok((bare, auth)) = crate::head::split_credentials(from.clone()) {
        assert!(bare.username().is_empty() && bare.password().is_none());
        assert_eq!(
            auth.is_some(),
            !from.username().is_empty() || from.password().is_some()
        );
    }
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(input.rest()) {
        headers.insert(header::LOCATION, v);
    }
    let policy = Policy {
        allow: true,
        max: crate::request::DEFAULT_MAX_REDIRECTS,
        requote,
    };
    let hop = Hop {
        status,
        method: &method,
        location: location(status, &headers),
        url: &from,
        body,
        followed,
    };
    let next = match decide(&hop, &policy)? {
        Decision::Follow(next) => next,
        Decision::TooMany => {
            assert!(followed >= policy.max);
            return Ok(None);
        }
        Decision::Final => {
            assert!(
                hop.location.is_none() || !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
            );
            return Ok(None);
        }
    };
    let url = &next.url;
    assert!(
        matches!(url.scheme(), "http" | "https"),
        "redirected to {url}"
    );
    assert!(
        url.host_str().is_some_and(|h| !h.is_empty()),
        "redirected to {url}"
    );
    // An http(s) scheme in the Location is followed only with an authority after it.
    if let Some(v) = hop.location {
        let text: String = String::from_utf8_lossy(v.as_bytes())
            .trim()
            .chars()
            .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
            .collect();
        let lower = text.to_ascii_lowercase();
        if let Some(rest) = lower
            .strip_prefix("http:")
            .or_else(|| lower.strip_prefix("https:"))
        {
            assert!(rest.starts_with("//"), "followed {text:?} to {url}");
        }
    }
    let cross = url.origin() != from.origin();
    assert_eq!(next.cross_origin, cross, "{from} -> {url}");
    if cross {
        for h in [
            header::AUTHORIZATION,
            header::PROXY_AUTHORIZATION,
            header::COOKIE,
            header::HOST,
        ] {
            assert!(
                next.drop_headers.contains(&h),
                "{h} kept from {from} to {url}"
            );
        }
    }
    assert_eq!(
        next.downgrade,
        from.scheme() == "https" && url.scheme() == "http"
    );
    let to_get = (status == StatusCode::SEE_OTHER && method != Method::HEAD)
        || (matches!(status.as_u16(), 301 | 302) && method == Method::POST);
    if to_get {
        assert!(next.method == Method::GET && !next.keep_body);
    } else {
        assert_eq!(next.method, method);
        assert_eq!(next.keep_body, body != BodyState::Empty);
    }
    // Following the URL followed, from the same place, gives it back: requoting is stable.
    if let Ok(v) = HeaderValue::from_str(url.as_str()) {
        let again = Hop {
            location: Some(&v),
            followed: 0,
            ..hop
        };
        match decide(&again, &policy) {
            Ok(Decision::Follow(n)) => assert_eq!(n.url, *url, "requoting {url} changed it"),
            other => panic!("following {url} again: {other:?}"),
        }
    }
    if let Ok((bare, _)) = crate::head::split_credentials(url.clone()) {
        assert!(bare.username().is_empty() && bare.password().is_none());
    }
    Ok(Some(next.url))
}
