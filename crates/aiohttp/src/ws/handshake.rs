//! The opening handshake (RFC 6455 §4.1): the upgrade request's headers and the checks of
//! the server's answer, as plain functions.

use base64::Engine;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;
use sha1::{Digest, Sha1};

use super::deflate::{self, Offer};
use crate::error::ClientError;

/// The GUID the accept key is derived with (RFC 6455 §1.3).
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A `ws://` or `wss://` URL as the request is made: `http://` or `https://` (same origin,
/// same cookies); other URLs are left for the request to judge.
pub(crate) fn http_url(mut url: url::Url) -> url::Url {
    let scheme = match url.scheme() {
        "ws" => "http",
        "wss" => "https",
        _ => return url,
    };
    // Both are special schemes, so the change cannot fail; if it did, the URL is kept and the
    // request rejects it.
    let _ = url.set_scheme(scheme);
    url
}

/// A fresh `Sec-WebSocket-Key`: 16 random bytes, base64.
pub(crate) fn new_key() -> String {
    let bytes: [u8; 16] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The `Sec-WebSocket-Accept` the server must answer `key` with.
pub(crate) fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// Headers the handshake sets whatever the caller gave (the others only when the caller did
/// not set them, as aiohttp).
pub(crate) fn always_ours(name: &HeaderName) -> bool {
    name == header::SEC_WEBSOCKET_KEY
        || name == header::SEC_WEBSOCKET_PROTOCOL
        || name == header::SEC_WEBSOCKET_EXTENSIONS
        || name == header::ORIGIN
}

/// The upgrade request's headers.
pub(crate) fn request_headers(
    key: &str,
    protocols: &[String],
    origin: Option<&str>,
    offer: Option<&Offer>,
) -> Result<Vec<(HeaderName, HeaderValue)>, ClientError> {
    let value = |s: &str| {
        HeaderValue::from_str(s).map_err(|e| {
            ClientError::invalid_argument(format!("invalid WebSocket header value {s:?}"))
                .with_source(e)
        })
    };
    let mut h = vec![
        (header::UPGRADE, HeaderValue::from_static("websocket")),
        (header::CONNECTION, HeaderValue::from_static("Upgrade")),
        (
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        ),
        (header::SEC_WEBSOCKET_KEY, value(key)?),
    ];
    if !protocols.is_empty() {
        h.push((header::SEC_WEBSOCKET_PROTOCOL, value(&protocols.join(","))?));
    }
    if let Some(origin) = origin {
        h.push((header::ORIGIN, value(origin)?));
    }
    if let Some(offer) = offer {
        h.push((header::SEC_WEBSOCKET_EXTENSIONS, value(&offer.header())?));
    }
    Ok(h)
}

/// What the server's answer settled.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Accepted {
    pub(crate) protocol: Option<String>,
    pub(crate) deflate: Option<deflate::Agreed>,
}

/// Whether a header's comma-separated tokens include `token`.
fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Checks the server's answer to the upgrade request; the error says what is wrong.
pub(crate) fn check(
    status: StatusCode,
    headers: &HeaderMap,
    key: &str,
    protocols: &[String],
    offer: Option<&Offer>,
) -> Result<Accepted, &'static str> {
    if status != StatusCode::SWITCHING_PROTOCOLS {
        return Err("Invalid response status");
    }
    if !has_token(headers, header::UPGRADE, "websocket") {
        return Err("Invalid upgrade header");
    }
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return Err("Invalid connection header");
    }
    let accept = headers
        .get(header::SEC_WEBSOCKET_ACCEPT)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if accept != accept_key(key).as_bytes() {
        return Err("Invalid challenge response");
    }
    // The first protocol of the answer that was offered (aiohttp); one not offered is
    // ignored.
    let protocol = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|p| protocols.iter().any(|o| o == p))
        .map(str::to_string);
    let answers: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .map(|v| v.to_str().map_err(|_| "Invalid extension header"))
        .collect::<Result<_, _>>()?;
    let deflate = deflate::agree(offer, &answers)?;
    Ok(Accepted { protocol, deflate })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_of_the_rfc_example() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        let k = new_key();
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(&k)
                .map(|b| b.len()),
            Ok(16)
        );
        assert_ne!(k, new_key());
    }

    #[test]
    fn urls() {
        let u = |s: &str| http_url(url::Url::parse(s).expect("url")).to_string();
        assert_eq!(u("ws://h:1/a?b"), "http://h:1/a?b");
        assert_eq!(u("wss://h/"), "https://h/");
        assert_eq!(u("ws://h:80/"), "http://h/");
        assert_eq!(u("https://h/"), "https://h/");
        assert_eq!(u("ftp://h/"), "ftp://h/");
    }

    #[test]
    fn request_headers_table() {
        let offer = Offer {
            window_bits: 15,
            client_no_context_takeover: false,
            server_no_context_takeover: false,
        };
        let h = request_headers(
            "k",
            &["a".into(), "b".into()],
            Some("http://o"),
            Some(&offer),
        )
        .expect("headers");
        let get = |n: HeaderName| {
            h.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_str().unwrap_or("").to_string())
        };
        assert_eq!(get(header::UPGRADE).as_deref(), Some("websocket"));
        assert_eq!(get(header::CONNECTION).as_deref(), Some("Upgrade"));
        assert_eq!(get(header::SEC_WEBSOCKET_VERSION).as_deref(), Some("13"));
        assert_eq!(get(header::SEC_WEBSOCKET_KEY).as_deref(), Some("k"));
        assert_eq!(get(header::SEC_WEBSOCKET_PROTOCOL).as_deref(), Some("a,b"));
        assert_eq!(get(header::ORIGIN).as_deref(), Some("http://o"));
        assert_eq!(
            get(header::SEC_WEBSOCKET_EXTENSIONS).as_deref(),
            Some("permessage-deflate; client_max_window_bits")
        );
        let bare = request_headers("k", &[], None, None).expect("headers");
        assert_eq!(bare.len(), 4);
        assert!(request_headers("k", &["a\r\nb".into()], None, None).is_err());
    }

    fn answer(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn answers_table() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let acc = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
        let protos = vec!["chat".to_string(), "super".to_string()];
        let offer = Offer {
            window_bits: 15,
            client_no_context_takeover: false,
            server_no_context_takeover: false,
        };
        let good = [
            ("upgrade", "WebSocket"),
            ("connection", "keep-alive, Upgrade"),
            ("sec-websocket-accept", acc),
        ];
        let ok = |extra: &[(&str, &str)], offer: Option<&Offer>| {
            let mut pairs = good.to_vec();
            pairs.extend_from_slice(extra);
            check(
                StatusCode::SWITCHING_PROTOCOLS,
                &answer(&pairs),
                key,
                &protos,
                offer,
            )
        };
        assert_eq!(
            ok(&[], None),
            Ok(Accepted {
                protocol: None,
                deflate: None
            })
        );
        assert_eq!(
            ok(&[("sec-websocket-protocol", "super")], None).map(|a| a.protocol),
            Ok(Some("super".into()))
        );
        // A protocol that was not offered: none (aiohttp).
        assert_eq!(
            ok(&[("sec-websocket-protocol", "other")], None).map(|a| a.protocol),
            Ok(None)
        );
        assert!(ok(
            &[("sec-websocket-extensions", "permessage-deflate")],
            Some(&offer)
        )
        .map(|a| a.deflate.is_some())
        .unwrap_or(false));
        // Offered, not taken: no compression.
        assert_eq!(ok(&[], Some(&offer)).map(|a| a.deflate), Ok(None));
        // Extensions that were not offered.
        assert!(ok(&[("sec-websocket-extensions", "permessage-deflate")], None).is_err());
        assert!(ok(&[("sec-websocket-extensions", "x-foo")], Some(&offer)).is_err());

        type Case<'a> = (StatusCode, &'a [(&'a str, &'a str)], &'a str);
        let bad: &[Case<'_>] = &[
            (StatusCode::OK, &good, "Invalid response status"),
            (
                StatusCode::SWITCHING_PROTOCOLS,
                &[("connection", "upgrade"), ("sec-websocket-accept", acc)],
                "Invalid upgrade header",
            ),
            (
                StatusCode::SWITCHING_PROTOCOLS,
                &[
                    ("upgrade", "h2c"),
                    ("connection", "upgrade"),
                    ("sec-websocket-accept", acc),
                ],
                "Invalid upgrade header",
            ),
            (
                StatusCode::SWITCHING_PROTOCOLS,
                &[("upgrade", "websocket"), ("sec-websocket-accept", acc)],
                "Invalid connection header",
            ),
            (
                StatusCode::SWITCHING_PROTOCOLS,
                &[("upgrade", "websocket"), ("connection", "upgrade")],
                "Invalid challenge response",
            ),
            (
                StatusCode::SWITCHING_PROTOCOLS,
                &[
                    ("upgrade", "websocket"),
                    ("connection", "upgrade"),
                    ("sec-websocket-accept", "x"),
                ],
                "Invalid challenge response",
            ),
        ];
        for (status, pairs, why) in bad {
            assert_eq!(
                check(*status, &answer(pairs), key, &protos, None),
                Err(*why),
                "{pairs:?}"
            );
        }
    }
}
