//! The decoding chain under a cap, and charset detection.

use super::*;

// ---- decompress ----

/// The decoding chain (`decode.rs`) under a cap, as `read()` runs it.
///
/// Layout: a flags byte — bits 0-1 the cap (`max_body_size` 16 B, 1 KiB, 64 KiB, 1 MiB), bits
/// 2-4 how the raw body is cut into chunks — then the `Content-Encoding` value up to a `\n`,
/// then the raw body.
///
/// Checks: the decoded body is never longer than the cap; cutting the raw body into other
/// chunks changes nothing (same body, or an error both ways); a body with no coding to undo
/// comes out unchanged.
///
/// ```
/// let got = aiohttp::fuzz_support::decompress(b"\x00identity\nplain");
/// assert_eq!(got.ok().as_deref(), Some(&b"plain"[..]));
/// ```
///
/// # Errors
/// The body does not decode, or is over the cap.
pub fn decompress(data: &[u8]) -> Result<Bytes, ClientError> {
    let mut input = Input(data);
    let flags = input.byte();
    let coding = String::from_utf8_lossy(input.line()).into_owned();
    let raw = input.rest();
    let cap = [16usize, 1024, 64 * 1024, 1 << 20][usize::from(flags & 3)];
    let seed = (flags >> 2) & 7;
    let whole = block_on(decode_at_most(vec![raw], &coding, cap));
    let split = block_on(decode_at_most(pieces(raw, seed), &coding, cap));
    match (&whole, &split) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "the decoded body depends on the chunks"),
        (Ok(_), Err(e)) | (Err(e), Ok(_)) => {
            panic!("decoding succeeds or fails with the chunks: {e}")
        }
        (Err(_), Err(_)) => {}
    }
    if let Ok(body) = &whole {
        assert!(
            body.len() <= cap,
            "{} decoded bytes, over the cap {cap}",
            body.len()
        );
        if !crate::decode::is_supported(&coding) {
            assert_eq!(&body[..], raw, "a body with nothing to decode changed");
        }
    }
    whole
}

async fn decode_at_most(
    chunks: Vec<&[u8]>,
    coding: &str,
    cap: usize,
) -> Result<Bytes, ClientError> {
    let items: Vec<Result<Bytes, ClientError>> = chunks
        .into_iter()
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let raw: crate::stream::BodyStream = Box::pin(futures_util::stream::iter(items));
    let mut reader = crate::StreamReader::new(crate::decode::decompress(raw, coding));
    reader.read_to_end_at_most(cap).await
}

// ---- charset ----

/// A body decoded as text: the `Content-Type` parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    /// The media type, lowercase.
    pub media_type: String,
    /// The `charset` parameter.
    pub charset: Option<String>,
    /// The encoding detected from the body.
    pub detected: &'static str,
    /// The body decoded with the charset, else the encoding detected (what `text()` does).
    pub text: Result<String, ErrorKind>,
}

/// Charsets (`decode.rs`: `decode_text`, `detect_encoding`, labels) and `Content-Type` parsing.
///
/// Layout: the `Content-Type` value up to a `\n`, then the body.
///
/// Checks: the media type is lowercase; decoding fails only for an unknown charset label; the
/// name of the encoding detected is itself a label of that encoding (`get_encoding()` returns
/// names that `text_with_encoding` must accept), and decoding with it gives what detection
/// gives.
///
/// ```
/// let got = aiohttp::fuzz_support::charset(b"text/plain; charset=latin-1\ncaf\xe9");
/// assert_eq!(got.text.as_deref(), Ok("café"));
/// ```
pub fn charset(data: &[u8]) -> Text {
    use crate::decode::{decode_text, detect_encoding, encoding_for_label};
    let mut input = Input(data);
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(input.line()) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    let body = input.rest();
    let (media_type, charset) = crate::response::parse_content_type(&headers);
    assert_eq!(media_type, media_type.to_ascii_lowercase());
    let _ = crate::response::is_json_content_type(&media_type);
    let text = decode_text(body, charset.as_deref());
    let known = charset
        .as_deref()
        .is_none_or(|l| encoding_for_label(l).is_some());
    assert_eq!(text.is_ok(), known, "charset {charset:?}");
    let detected = detect_encoding(body);
    assert_eq!(
        encoding_for_label(detected.name()),
        Some(detected),
        "the name {} is not a label of its encoding",
        detected.name()
    );
    let guessed = decode_text(body, None).map_err(|e| e.kind());
    let named = decode_text(body, Some(detected.name())).map_err(|e| e.kind());
    assert_eq!(guessed, named, "detection and its name decode apart");
    Text {
        media_type,
        charset,
        detected: detected.name(),
        text: text.map_err(|e| e.kind()),
    }
}
