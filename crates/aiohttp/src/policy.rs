//! Decisions that need no socket, as plain functions with table tests: the classes of request
//! methods, whether a connection may carry another request after a response, and whether a
//! failed exchange may be sent again. (The redirect decision is `redirect::decide`.)

use http::header::HeaderValue;
use http::{Method, Version};

/// Methods that may be sent twice with the effect of once (RFC 9110 §9.2.2): a request with
/// one of them is retried once when a reused connection turns out to be stale.
pub(crate) fn is_idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// Methods whose requests carry no body unless one is given: they get no `Content-Length: 0`.
pub(crate) fn has_no_body_by_default(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Whether redirects are followed when the request does not say (aiohttp: all but HEAD).
pub(crate) fn follows_redirects_by_default(m: &Method) -> bool {
    *m != Method::HEAD
}

/// Why a connection cannot carry another request, as far as the response head tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseReason {
    /// The response said `Connection: close`.
    ServerClose,
    /// HTTP/1.0 on either side, without `Connection: keep-alive`.
    Http10,
    /// `Expect: 100-continue` was answered with a final status: the body was never sent, and
    /// the server may still wait for it.
    BodyWithheld,
}

/// Whether the connection of a response may be reused once its body has been read (RFC 9112
/// §9.3); `None` when it may. What only the end of the body tells (an upload still going on,
/// a body cut short) is decided then.
///
/// `connection`: the values of the response's `Connection` header.
pub(crate) fn close_reason<'a>(
    request_version: Version,
    version: Version,
    connection: impl IntoIterator<Item = &'a HeaderValue>,
    body_withheld: bool,
) -> Option<CloseReason> {
    if body_withheld {
        return Some(CloseReason::BodyWithheld);
    }
    let mut close = false;
    let mut keep = false;
    for value in connection {
        for token in value.to_str().unwrap_or("").split(',') {
            let token = token.trim();
            close |= token.eq_ignore_ascii_case("close");
            keep |= token.eq_ignore_ascii_case("keep-alive");
        }
    }
    if close {
        return Some(CloseReason::ServerClose);
    }
    if (version == Version::HTTP_10 || request_version == Version::HTTP_10)
        && !(keep && version != Version::HTTP_09)
    {
        return Some(CloseReason::Http10);
    }
    None
}

/// Whether a copy of the body is kept so the request can be sent again: once per request,
/// for an idempotent request on a reused connection (which may have gone stale while idle),
/// and on HTTP/2 (a refused stream was not processed, whatever the method).
pub(crate) fn may_replay(retried: bool, reused: bool, method: &Method, h2: bool) -> bool {
    !retried && ((reused && is_idempotent(method)) || h2)
}

/// Whether a failed exchange is sent again: it failed before any byte of a response on a
/// reused connection (`stale`), or the HTTP/2 server refused the stream (`unprocessed`), and a
/// replayable copy of the body was kept.
pub(crate) fn retry(stale: bool, unprocessed: bool, have_replay: bool) -> bool {
    (stale || unprocessed) && have_replay
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{self, HeaderMap};
    use http::HeaderValue;

    fn hm(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn method_classes() {
        let table = [
            // method, idempotent, no body by default, follows redirects by default
            (Method::GET, true, true, true),
            (Method::HEAD, true, true, false),
            (Method::OPTIONS, true, true, true),
            (Method::TRACE, true, true, true),
            (Method::PUT, true, false, true),
            (Method::DELETE, true, false, true),
            (Method::POST, false, false, true),
            (Method::PATCH, false, false, true),
            (Method::CONNECT, false, false, true),
        ];
        for (m, idem, no_body, follows) in table {
            assert_eq!(is_idempotent(&m), idem, "{m}");
            assert_eq!(has_no_body_by_default(&m), no_body, "{m}");
            assert_eq!(follows_redirects_by_default(&m), follows, "{m}");
        }
    }

    #[test]
    fn close_reason_table() {
        use CloseReason::*;
        use Version as V;
        let cases = [
            (V::HTTP_11, V::HTTP_11, hm(&[]), false, None),
            (
                V::HTTP_11,
                V::HTTP_11,
                hm(&[("connection", "close")]),
                false,
                Some(ServerClose),
            ),
            (
                V::HTTP_11,
                V::HTTP_11,
                hm(&[("connection", "Keep-Alive, Close")]),
                false,
                Some(ServerClose),
            ),
            (V::HTTP_11, V::HTTP_10, hm(&[]), false, Some(Http10)),
            (
                V::HTTP_11,
                V::HTTP_10,
                hm(&[("connection", "keep-alive")]),
                false,
                None,
            ),
            (V::HTTP_10, V::HTTP_11, hm(&[]), false, Some(Http10)),
            (
                V::HTTP_10,
                V::HTTP_11,
                hm(&[("connection", "keep-alive")]),
                false,
                None,
            ),
            (V::HTTP_11, V::HTTP_11, hm(&[]), true, Some(BodyWithheld)),
            (V::HTTP_2, V::HTTP_2, hm(&[]), false, None),
        ];
        for (i, (req, resp, headers, withheld, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                close_reason(req, resp, headers.get_all(header::CONNECTION), withheld),
                want,
                "case {i}"
            );
        }
    }

    #[test]
    fn replay_and_retry_table() {
        let post = Method::POST;
        let get = Method::GET;
        // retried, reused, method, h2 -> keep a copy
        let keep = [
            (false, true, &get, false, true),
            (false, false, &get, false, false),
            (false, true, &post, false, false),
            (false, false, &post, true, true),
            (true, true, &get, false, false),
            (true, false, &post, true, false),
        ];
        for (i, (retried, reused, m, h2, want)) in keep.into_iter().enumerate() {
            assert_eq!(may_replay(retried, reused, m, h2), want, "case {i}");
        }
        // stale, unprocessed, have a copy -> send again
        let again = [
            (true, false, true, true),
            (false, true, true, true),
            (false, false, true, false),
            (true, false, false, false),
            (false, true, false, false),
        ];
        for (i, (stale, unprocessed, have, want)) in again.into_iter().enumerate() {
            assert_eq!(retry(stale, unprocessed, have), want, "case {i}");
        }
    }
}
