//! Body decoding: Content-Encoding decompression of the byte stream, and charset decoding of
//! text.
//!
//! Decompression wraps the raw body stream; the decoded stream keeps pulling the raw stream to
//! its very end even after the compressed data is complete, because reaching the end of the
//! raw body is what lets the connection go back to the pool.
//!
//! Bytes after the end of the compressed data are an error, reported once the raw body has been
//! read to its end: for `deflate` (zlib or raw), `br` and single-frame data they follow the end
//! marker; for `gzip` and `zstd`, whose formats allow several members/frames back to back, they
//! are read as the start of another member/frame and fail as corrupt data.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use async_compression::tokio::bufread::{
    BrotliDecoder, DeflateDecoder, GzipDecoder, ZlibDecoder, ZstdDecoder,
};
use bytes::{Bytes, BytesMut};
use encoding_rs::Encoding;
use futures_util::stream::{self, Fuse, Stream, StreamExt};
use tokio::io::AsyncBufRead;
use tokio_util::io::{poll_read_buf, StreamReader as IoReader};

use crate::error::ClientError;
use crate::stream::BodyStream;

/// Capacity of each decoded chunk.
const OUT_CHUNK: usize = 16 * 1024;

/// The raw body as an I/O byte stream, fused so that it can be polled past its end.
type IoBody = Fuse<Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send + 'static>>>;

/// The raw body as an `AsyncBufRead`, the decoders' input.
type RawReader = IoReader<IoBody, Bytes>;

/// A content coding this module decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Gzip,
    Deflate,
    Brotli,
    Zstd,
}

impl Coding {
    fn from_token(token: &str) -> Option<Coding> {
        let eq = |name: &str| token.eq_ignore_ascii_case(name);
        if eq("gzip") || eq("x-gzip") {
            Some(Coding::Gzip)
        } else if eq("deflate") {
            Some(Coding::Deflate)
        } else if eq("br") {
            Some(Coding::Brotli)
        } else if eq("zstd") {
            Some(Coding::Zstd)
        } else {
            None
        }
    }

    fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Brotli => "br",
            Coding::Zstd => "zstd",
        }
    }
}

/// The most content codings one response may stack. Each coding is a decoder layer whose
/// state and polling cost add up; curl allows 5 since CVE-2022-32206, and no real server stacks
/// more than two.
pub(crate) const MAX_CODINGS: usize = 5;

/// The zstd window limit, as a power of two: 8 MiB, what RFC 9659 asks HTTP decoders to accept
/// at most (zstd's own limit would be 128 MiB of memory per response).
const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// What a Content-Encoding value asks of the decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Codings {
    /// Nothing to undo (`identity`, empty, or a coding this module does not know).
    Identity,
    /// These codings, in the order they were applied.
    Decode(Vec<Coding>),
    /// More than [`MAX_CODINGS`] codings.
    TooMany(usize),
}

/// The codings of a Content-Encoding value in the order they were applied, `identity` and empty
/// entries dropped. An unknown coding leaves the body as it is, as aiohttp does.
fn parse_codings(content_encoding: &str) -> Codings {
    let mut codings = Vec::new();
    let mut count = 0;
    for token in content_encoding.split(',') {
        let token = token.trim();
        if token.is_empty() || token.eq_ignore_ascii_case("identity") {
            continue;
        }
        count += 1;
        match Coding::from_token(token) {
            Some(coding) if codings.len() < MAX_CODINGS => codings.push(coding),
            Some(_) => {}
            None => return Codings::Identity,
        }
    }
    if count > MAX_CODINGS {
        Codings::TooMany(count)
    } else if codings.is_empty() {
        Codings::Identity
    } else {
        Codings::Decode(codings)
    }
}

/// Whether [`decompress`] changes a body with this Content-Encoding: it names codings that are
/// decoded (`gzip`, `x-gzip`, `deflate`, `br` or `zstd`, case-insensitive, surrounding
/// whitespace ignored), or more than [`MAX_CODINGS`] of them (an error).
///
/// A comma-separated list of codings (applied in order, as RFC 9110 describes) is supported
/// when every entry is, `identity` entries aside. `identity`, an empty value and unknown codings
/// are not supported: `decompress` leaves such bodies as they are.
pub(crate) fn is_supported(content_encoding: &str) -> bool {
    parse_codings(content_encoding) != Codings::Identity
}

/// Wraps a raw body stream in the decoder for the Content-Encoding value; identity/empty/unknown
/// → returned unchanged.
///
/// The body changes exactly when [`is_supported`] is true. For a list of codings the decoders
/// are stacked, the last applied coding being removed first.
///
/// - `gzip`/`x-gzip`: every member of a multi-member body is decoded.
/// - `deflate`: a zlib stream (RFC 1950) or, as some servers send, a raw deflate stream (RFC
///   1951), told apart by the first two bytes.
/// - `br`, `zstd` (all frames of a multi-frame body).
///
/// An empty raw body (HEAD, 204, 304) decodes to an empty body. Corrupt or truncated compressed
/// data, bytes after the end of the compressed data, and more than [`MAX_CODINGS`] codings yield
/// a `ClientPayloadError`; errors of the raw stream come through unchanged. The decoded stream
/// ends only after the raw stream has ended. A zstd frame that needs a window above 8 MiB is
/// refused as corrupt data.
pub(crate) fn decompress(body: BodyStream, content_encoding: &str) -> BodyStream {
    match parse_codings(content_encoding) {
        Codings::TooMany(n) => {
            // The raw body is dropped unread, so its connection is closed.
            let err = ClientError::payload(format!(
                "Can not decode content-encoding: {n} content codings, more than the {MAX_CODINGS} \
                 allowed"
            ));
            Box::pin(stream::iter([Err(err)]))
        }
        Codings::Decode(codings) => codings.into_iter().rev().fold(body, |body, coding| {
            Box::pin(Decompress {
                coding,
                state: State::Peek {
                    raw: body,
                    prefix: Bytes::new(),
                },
                out: BytesMut::new(),
                trailing: 0,
            })
        }),
        Codings::Identity => body,
    }
}

/// One decoder over the raw body.
enum Decoder {
    Gzip(GzipDecoder<RawReader>),
    Zlib(ZlibDecoder<RawReader>),
    Deflate(DeflateDecoder<RawReader>),
    Brotli(BrotliDecoder<RawReader>),
    Zstd(ZstdDecoder<RawReader>),
}

impl Decoder {
    /// The decoder for `coding`, given the first bytes of the body (at least two unless the
    /// body is shorter) and the rest of the body, if it has not ended yet.
    fn new(coding: Coding, prefix: Bytes, rest: Option<BodyStream>) -> Decoder {
        let zlib = is_zlib_header(&prefix);
        let head = stream::iter(Some(Ok::<Bytes, io::Error>(prefix)));
        let io_body: Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send + 'static>> = match rest {
            Some(rest) => Box::pin(head.chain(rest.map(|item| item.map_err(io::Error::other)))),
            None => Box::pin(head),
        };
        let reader = IoReader::new(io_body.fuse());
        match coding {
            Coding::Gzip => {
                let mut decoder = GzipDecoder::new(reader);
                decoder.multiple_members(true);
                Decoder::Gzip(decoder)
            }
            Coding::Deflate if zlib => Decoder::Zlib(ZlibDecoder::new(reader)),
            Coding::Deflate => Decoder::Deflate(DeflateDecoder::new(reader)),
            Coding::Brotli => Decoder::Brotli(BrotliDecoder::new(reader)),
            Coding::Zstd => {
                let window =
                    async_compression::zstd::DParameter::window_log_max(ZSTD_WINDOW_LOG_MAX);
                let mut decoder = ZstdDecoder::with_params(reader, &[window]);
                decoder.multiple_members(true);
                Decoder::Zstd(decoder)
            }
        }
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, out: &mut BytesMut) -> Poll<io::Result<usize>> {
        match self {
            Decoder::Gzip(d) => poll_read_buf(Pin::new(d), cx, out),
            Decoder::Zlib(d) => poll_read_buf(Pin::new(d), cx, out),
            Decoder::Deflate(d) => poll_read_buf(Pin::new(d), cx, out),
            Decoder::Brotli(d) => poll_read_buf(Pin::new(d), cx, out),
            Decoder::Zstd(d) => poll_read_buf(Pin::new(d), cx, out),
        }
    }

    fn into_inner(self) -> RawReader {
        match self {
            Decoder::Gzip(d) => d.into_inner(),
            Decoder::Zlib(d) => d.into_inner(),
            Decoder::Deflate(d) => d.into_inner(),
            Decoder::Brotli(d) => d.into_inner(),
            Decoder::Zstd(d) => d.into_inner(),
        }
    }
}

/// Whether `data` starts with a valid zlib header (RFC 1950): deflate method, a window of at
/// most 32 KiB, and the header check bits.
fn is_zlib_header(data: &[u8]) -> bool {
    match data {
        [cmf, flg, ..] => {
            *cmf & 0x0f == 8
                && *cmf >> 4 <= 7
                && (u16::from(*cmf) * 256 + u16::from(*flg)) % 31 == 0
        }
        _ => false,
    }
}

enum State {
    /// Collecting the first two bytes of the raw body.
    Peek { raw: BodyStream, prefix: Bytes },
    /// Decoding.
    Decode(Box<Decoder>),
    /// The compressed data is complete: reading the raw body to its end.
    Drain(RawReader),
    /// Ended, or failed.
    Done,
}

/// The decoded body stream.
struct Decompress {
    coding: Coding,
    state: State,
    /// Decoded bytes not yet handed out, and spare capacity for the next read.
    out: BytesMut,
    /// Bytes found after the end of the compressed data.
    trailing: usize,
}

impl Decompress {
    fn decode_error(&self, e: io::Error) -> ClientError {
        from_io(e, self.coding)
    }
}

/// Turns an I/O error out of a decoder back into a `ClientError`: the raw stream's own error
/// when it came from there, else a `ClientPayloadError` for corrupt or truncated data.
fn from_io(e: io::Error, coding: Coding) -> ClientError {
    let message = format!("Can not decode content-encoding: {}", coding.name());
    if e.get_ref().is_some_and(|inner| inner.is::<ClientError>()) {
        return match e.into_inner().map(|inner| inner.downcast::<ClientError>()) {
            Some(Ok(original)) => *original,
            _ => ClientError::payload(message),
        };
    }
    ClientError::payload(format!("{message} ({e})")).with_source(e)
}

impl Stream for Decompress {
    type Item = Result<Bytes, ClientError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Peek { raw, prefix } => match ready!(raw.as_mut().poll_next(cx)) {
                    Some(Ok(chunk)) => {
                        if prefix.is_empty() {
                            *prefix = chunk;
                        } else if !chunk.is_empty() {
                            let mut joined = BytesMut::with_capacity(prefix.len() + chunk.len());
                            joined.extend_from_slice(prefix);
                            joined.extend_from_slice(&chunk);
                            *prefix = joined.freeze();
                        }
                        if prefix.len() >= 2 {
                            if let State::Peek { raw, prefix } =
                                std::mem::replace(&mut this.state, State::Done)
                            {
                                let decoder = Decoder::new(this.coding, prefix, Some(raw));
                                this.state = State::Decode(Box::new(decoder));
                            }
                        }
                    }
                    Some(Err(e)) => {
                        this.state = State::Done;
                        return Poll::Ready(Some(Err(e)));
                    }
                    None => {
                        if prefix.is_empty() {
                            // An empty body is empty whatever its Content-Encoding.
                            this.state = State::Done;
                            return Poll::Ready(None);
                        }
                        let prefix = std::mem::take(prefix);
                        let decoder = Decoder::new(this.coding, prefix, None);
                        this.state = State::Decode(Box::new(decoder));
                    }
                },
                State::Decode(decoder) => {
                    if this.out.capacity() - this.out.len() < OUT_CHUNK / 4 {
                        this.out.reserve(OUT_CHUNK);
                    }
                    match ready!(decoder.poll_read(cx, &mut this.out)) {
                        Ok(0) => {
                            if let State::Decode(decoder) =
                                std::mem::replace(&mut this.state, State::Done)
                            {
                                this.state = State::Drain(decoder.into_inner());
                            }
                        }
                        Ok(_) => return Poll::Ready(Some(Ok(this.out.split().freeze()))),
                        Err(e) => {
                            this.state = State::Done;
                            return Poll::Ready(Some(Err(this.decode_error(e))));
                        }
                    }
                }
                State::Drain(reader) => match ready!(Pin::new(&mut *reader).poll_fill_buf(cx)) {
                    Ok([]) => {
                        this.state = State::Done;
                        if this.trailing > 0 {
                            return Poll::Ready(Some(Err(ClientError::payload(format!(
                                "Can not decode content-encoding: {}: trailing data after \
                                 compressed body ({} bytes)",
                                this.coding.name(),
                                this.trailing
                            )))));
                        }
                        return Poll::Ready(None);
                    }
                    Ok(data) => {
                        let n = data.len();
                        this.trailing += n;
                        Pin::new(reader).consume(n);
                    }
                    Err(e) => {
                        this.state = State::Done;
                        return Poll::Ready(Some(Err(this.decode_error(e))));
                    }
                },
                State::Done => return Poll::Ready(None),
            }
        }
    }
}

/// Decodes text: `charset` label via encoding_rs::Encoding::for_label; None → detect (valid
/// UTF-8 (BOM aware) first, else chardetng). Malformed sequences are replaced (U+FFFD).
/// Unknown label → InvalidArgument error.
///
/// Labels are the WHATWG ones (`utf-8`, `iso-8859-1`, `windows-1251`, `shift_jis`, ...), plus
/// the Python spellings that differ only by `_`/`-` (`latin-1`, `latin_1`, `utf_8`, `cp-1251`).
/// As in browsers, `iso-8859-1`/`latin-1`/`ascii` decode as windows-1252, a superset. Labels
/// that WHATWG maps to its "replacement" encoding (`iso-2022-kr`, ...) are rejected like unknown
/// ones. With a label, a leading byte order mark of that same encoding is removed; without
/// one, a byte order mark decides the encoding (UTF-8, UTF-16LE, UTF-16BE) and is removed.
pub(crate) fn decode_text(bytes: &[u8], charset: Option<&str>) -> Result<String, ClientError> {
    let encoding = match charset {
        Some(label) => encoding_for_label(label)
            .ok_or_else(|| ClientError::invalid_argument(format!("unknown encoding: {label:?}")))?,
        None => detect_encoding(bytes),
    };
    Ok(decode_with(encoding, bytes))
}

/// `bytes` decoded with `encoding` (a leading byte order mark of it removed).
pub(crate) fn decode_with(encoding: &'static Encoding, bytes: &[u8]) -> String {
    let (text, _had_errors) = encoding.decode_with_bom_removal(bytes);
    text.into_owned()
}

/// The encoding for a charset label, accepting Python's `_`/`-` variants of WHATWG labels.
pub(crate) fn encoding_for_label(label: &str) -> Option<&'static Encoding> {
    let label = label.trim().trim_matches(|c| c == '"' || c == '\'').trim();
    if label.is_empty() {
        return None;
    }
    let lookup = |l: &str| Encoding::for_label_no_replacement(l.as_bytes());
    lookup(label)
        .or_else(|| lookup(&label.replace('_', "-")))
        .or_else(|| lookup(&label.replace('-', "_")))
        .or_else(|| lookup(&label.replace(['-', '_'], "")))
}

/// The encoding `decode_text(bytes, None)` would use (aiohttp get_encoding): returns the
/// encoding_rs name.
///
/// A byte order mark wins; then UTF-8 if the bytes are valid UTF-8 (ASCII and empty included);
/// otherwise chardetng's guess among the legacy encodings. The name is the encoding's
/// [`name()`](Encoding::name), e.g. `"windows-1251"`.
pub(crate) fn detect_encoding(bytes: &[u8]) -> &'static Encoding {
    if let Some((encoding, _bom_len)) = Encoding::for_bom(bytes) {
        return encoding;
    }
    if std::str::from_utf8(bytes).is_ok() {
        return encoding_rs::UTF_8;
    }
    let mut detector = chardetng::EncodingDetector::new();
    detector.feed(bytes, true);
    detector.guess(None, false)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::test_util::{brotli, encoded, gzip, raw_deflate, zlib, zstd};
    use futures_util::TryStreamExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    fn sample() -> Vec<u8> {
        let mut data = Vec::new();
        for i in 0..2000 {
            data.extend_from_slice(format!("line {i}: the quick brown fox jumps\n").as_bytes());
        }
        data
    }

    /// zstd with the given parameters.
    async fn zstd_with(data: &[u8], params: &[async_compression::zstd::CParameter]) -> Vec<u8> {
        encoded(
            async_compression::tokio::bufread::ZstdEncoder::with_quality_and_params(
                data,
                async_compression::Level::Default,
                params,
            ),
        )
        .await
    }

    /// zstd with a content checksum, so that any corruption is detectable.
    async fn zstd_checked(data: &[u8]) -> Vec<u8> {
        zstd_with(
            data,
            &[async_compression::zstd::CParameter::checksum_flag(true)],
        )
        .await
    }

    /// `data` compressed in each supported way, with the coding that undoes it.
    async fn every_coding(data: &[u8]) -> [(Vec<u8>, &'static str); 5] {
        [
            (gzip(data), "gzip"),
            (zlib(data), "deflate"),
            (raw_deflate(data), "deflate"),
            (brotli(data).await, "br"),
            (zstd(data).await, "zstd"),
        ]
    }

    /// `compressed` cut into chunks of 1000 bytes.
    fn pieces(compressed: &[u8]) -> Vec<Bytes> {
        compressed
            .chunks(1000)
            .map(Bytes::copy_from_slice)
            .collect()
    }

    /// `data` as a raw body in chunks of `size` bytes.
    fn chunked(data: &[u8], size: usize) -> BodyStream {
        let chunks: Vec<Result<Bytes, ClientError>> = data
            .chunks(size.max(1))
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        Box::pin(stream::iter(chunks))
    }

    /// A raw body that records when it has been polled to its end.
    fn tracked(chunks: Vec<Bytes>) -> (BodyStream, Arc<AtomicBool>) {
        let ended = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ended);
        let mut items = chunks.into_iter();
        let body = stream::poll_fn(move |_cx| match items.next() {
            Some(chunk) => Poll::Ready(Some(Ok(chunk))),
            None => {
                flag.store(true, Ordering::SeqCst);
                Poll::Ready(None)
            }
        });
        (Box::pin(body), ended)
    }

    async fn decode_all(body: BodyStream, coding: &str) -> Result<Vec<u8>, ClientError> {
        let parts: Vec<Bytes> = decompress(body, coding).try_collect().await?;
        Ok(parts.concat())
    }

    async fn assert_roundtrip(compressed: &[u8], coding: &str, expected: &[u8]) {
        for size in [1, 2, 3, 7, 100, 4096, compressed.len()] {
            let got = decode_all(chunked(compressed, size), coding).await;
            assert_eq!(got.unwrap(), expected, "{coding} in chunks of {size}");
        }
    }

    /// Every proper, non-empty prefix of `compressed` must fail as a payload error.
    async fn assert_truncation_fails(compressed: &[u8], coding: &str) {
        let step = (compressed.len() / 97).max(1);
        let mut cuts: Vec<usize> = (1..compressed.len()).step_by(step).collect();
        cuts.extend((1..compressed.len()).rev().take(12));
        for cut in cuts {
            let got = decode_all(chunked(&compressed[..cut], 64), coding).await;
            let err = got.expect_err(&format!("{coding} cut at {cut} of {}", compressed.len()));
            assert_eq!(
                err.kind(),
                ErrorKind::ClientPayloadError,
                "{coding} cut at {cut}: {err}"
            );
        }
    }

    #[test]
    fn supported_codings() {
        for ok in [
            "gzip",
            "x-gzip",
            "GZip",
            " deflate ",
            "br",
            "zstd",
            "BR",
            "gzip, br",
            "identity, gzip",
        ] {
            assert!(is_supported(ok), "{ok}");
        }
        for no in [
            "",
            " ",
            "identity",
            "compress",
            "x-compress",
            "gzip, compress",
            "lz4",
        ] {
            assert!(!is_supported(no), "{no}");
        }
    }

    #[test]
    fn zlib_header_check() {
        assert!(is_zlib_header(&zlib(b"abc")));
        assert!(is_zlib_header(&[0x78, 0x01]));
        assert!(is_zlib_header(&[0x78, 0xda]));
        assert!(!is_zlib_header(&[0x78, 0x00]));
        assert!(!is_zlib_header(&[0x88, 0x98])); // window too large
        assert!(!is_zlib_header(&[0x78]));
        assert!(!is_zlib_header(&[]));
    }

    #[tokio::test]
    async fn gzip_roundtrip() {
        let data = sample();
        let compressed = gzip(&data);
        assert_roundtrip(&compressed, "gzip", &data).await;
        assert_roundtrip(&compressed, " X-GZIP ", &data).await;
    }

    #[tokio::test]
    async fn gzip_multi_member() {
        let mut compressed = gzip(b"first member, ");
        compressed.extend(gzip(b"second member, "));
        compressed.extend(gzip(b""));
        compressed.extend(gzip(b"third"));
        assert_roundtrip(&compressed, "gzip", b"first member, second member, third").await;
    }

    #[tokio::test]
    async fn deflate_zlib_and_raw() {
        let data = sample();
        let wrapped = zlib(&data);
        let raw = raw_deflate(&data);
        assert!(is_zlib_header(&wrapped));
        assert!(!is_zlib_header(&raw));
        assert_roundtrip(&wrapped, "deflate", &data).await;
        assert_roundtrip(&raw, "deflate", &data).await;
        // Tiny bodies, where the first chunk is shorter than a zlib header.
        assert_roundtrip(&zlib(b"x"), "Deflate", b"x").await;
        assert_roundtrip(&raw_deflate(b"x"), "deflate", b"x").await;
        assert_roundtrip(&raw_deflate(b""), "deflate", b"").await;
    }

    #[tokio::test]
    async fn brotli_roundtrip() {
        let data = sample();
        assert_roundtrip(&brotli(&data).await, "br", &data).await;
        assert_roundtrip(&brotli(b"").await, "br", b"").await;
    }

    #[tokio::test]
    async fn zstd_roundtrip_and_multiple_frames() {
        let data = sample();
        assert_roundtrip(&zstd(&data).await, "zstd", &data).await;
        let mut frames = zstd(b"frame one, ").await;
        frames.extend(zstd(b"frame two").await);
        assert_roundtrip(&frames, "zstd", b"frame one, frame two").await;
    }

    #[tokio::test]
    async fn stacked_codings_are_removed_in_reverse() {
        let data = sample();
        let compressed = gzip(&zlib(&data));
        assert_roundtrip(&compressed, "deflate, gzip", &data).await;
        assert_roundtrip(&compressed, "deflate,identity,gzip", &data).await;
    }

    #[test]
    fn coding_chains_are_capped() {
        let chain = |n: usize| vec!["gzip"; n].join(", ");
        assert_eq!(
            parse_codings(&chain(MAX_CODINGS)),
            Codings::Decode(vec![Coding::Gzip; MAX_CODINGS])
        );
        assert_eq!(
            parse_codings(&chain(MAX_CODINGS + 1)),
            Codings::TooMany(MAX_CODINGS + 1)
        );
        assert_eq!(parse_codings(&chain(20_000)), Codings::TooMany(20_000));
        // identity entries are not codings; an unknown one leaves the body alone.
        let padded = format!("{}, {}", vec!["identity"; 1000].join(","), chain(2));
        assert_eq!(
            parse_codings(&padded),
            Codings::Decode(vec![Coding::Gzip; 2])
        );
        assert_eq!(parse_codings("gzip, compress"), Codings::Identity);
        assert!(is_supported(&chain(20_000)));
    }

    #[tokio::test]
    async fn too_many_codings_fail_without_reading_the_body() {
        for n in [MAX_CODINGS + 1, 20_000] {
            let (body, ended) = tracked(vec![Bytes::from_static(b"data")]);
            let err = decode_all(body, &vec!["br"; n].join(","))
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ClientPayloadError, "{err}");
            assert!(err.message().contains("content codings"), "{err}");
            assert!(!ended.load(Ordering::SeqCst));
        }
        // The most allowed still decode.
        let mut data = b"five layers".to_vec();
        for _ in 0..MAX_CODINGS {
            data = gzip(&data);
        }
        let coding = ["gzip"; MAX_CODINGS].join(",");
        let got = decode_all(chunked(&data, 7), &coding).await;
        assert_eq!(got.unwrap(), b"five layers");
    }

    async fn zstd_with_window_log(data: &[u8], window_log: u32) -> Vec<u8> {
        zstd_with(
            data,
            &[async_compression::zstd::CParameter::window_log(window_log)],
        )
        .await
    }

    #[tokio::test]
    async fn zstd_windows_above_8_mib_are_refused() {
        let data = sample();
        let small = zstd_with_window_log(&data, 23).await;
        assert_roundtrip(&small, "zstd", &data).await;
        let large = zstd_with_window_log(&data, 24).await;
        let err = decode_all(chunked(&large, 1000), "zstd").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ClientPayloadError, "{err}");
    }

    #[tokio::test]
    async fn unsupported_codings_pass_through() {
        let data = b"not compressed at all".to_vec();
        for coding in ["", "identity", "compress", "gzip, compress"] {
            assert_eq!(decode_all(chunked(&data, 5), coding).await.unwrap(), data);
        }
    }

    #[tokio::test]
    async fn truncated_bodies_fail_for_every_codec() {
        let data = sample();
        // Small bodies too, where every cut is near a header or trailer.
        for data in [&data[..], b"hi"] {
            for (compressed, coding) in every_coding(data).await {
                assert_truncation_fails(&compressed, coding).await;
            }
        }
        assert_truncation_fails(&zstd_checked(&data).await, "zstd").await;
    }

    #[tokio::test]
    async fn corrupt_bodies_fail_for_every_codec() {
        let data = sample();
        let garbage = b"this is certainly not compressed data, not in any format at all".to_vec();
        for coding in ["gzip", "deflate", "br", "zstd"] {
            let err = decode_all(chunked(&garbage, 10), coding).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ClientPayloadError, "{coding}: {err}");
            assert!(err
                .message()
                .contains(Coding::from_token(coding).unwrap().name()));
        }
        // Damage in the middle of otherwise valid streams.
        let cases = [
            (gzip(&data), "gzip"),
            (zlib(&data), "deflate"),
            (brotli(&data).await, "br"),
            (zstd_checked(&data).await, "zstd"),
        ];
        for (mut compressed, coding) in cases {
            let mid = compressed.len() / 2;
            for b in &mut compressed[mid..mid + 8] {
                *b ^= 0x5a;
            }
            let got = decode_all(chunked(&compressed, 100), coding).await;
            let err = got
                .err()
                .unwrap_or_else(|| panic!("{coding}: corruption not detected"));
            assert_eq!(err.kind(), ErrorKind::ClientPayloadError, "{coding}: {err}");
            assert!(std::error::Error::source(&err).is_some(), "{coding}");
        }
        // A gzip body whose checksum does not match.
        let mut compressed = gzip(&data);
        let crc_at = compressed.len() - 8;
        compressed[crc_at] ^= 1;
        let err = decode_all(chunked(&compressed, 100), "gzip")
            .await
            .unwrap_err();
        assert!(err.is_client_payload_error());
    }

    #[tokio::test]
    async fn empty_body_decodes_to_nothing() {
        for coding in ["gzip", "x-gzip", "deflate", "br", "zstd", "gzip, br"] {
            let (body, ended) = tracked(vec![]);
            assert_eq!(decode_all(body, coding).await.unwrap(), b"", "{coding}");
            assert!(ended.load(Ordering::SeqCst));
            let (body, ended) = tracked(vec![Bytes::new(), Bytes::new()]);
            assert_eq!(decode_all(body, coding).await.unwrap(), b"", "{coding}");
            assert!(ended.load(Ordering::SeqCst));
        }
    }

    #[tokio::test]
    async fn raw_body_is_drained_to_its_end() {
        let data = sample();
        for (compressed, coding) in every_coding(&data).await {
            let mut chunks = pieces(&compressed);
            // Empty frames after the compressed data, before the end of the body.
            chunks.extend([Bytes::new(), Bytes::new(), Bytes::new()]);
            let (body, ended) = tracked(chunks);
            let mut decoded = decompress(body, coding);
            let mut got = Vec::new();
            while let Some(part) = decoded.next().await {
                got.extend_from_slice(&part.unwrap());
            }
            assert_eq!(got, data, "{coding}");
            assert!(
                ended.load(Ordering::SeqCst),
                "{coding}: raw body not read to its end"
            );
        }
    }

    #[tokio::test]
    async fn trailing_data_is_drained_then_fails() {
        let data = sample();
        for (compressed, coding) in every_coding(&data).await {
            let mut chunks = pieces(&compressed);
            chunks.push(Bytes::from_static(b"junk"));
            chunks.push(Bytes::from_static(b"more junk"));
            let (body, ended) = tracked(chunks);
            let err = decode_all(body, coding).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ClientPayloadError, "{coding}: {err}");
            if coding != "gzip" && coding != "zstd" {
                assert!(err.message().contains("trailing data"), "{coding}: {err}");
                assert!(
                    ended.load(Ordering::SeqCst),
                    "{coding}: raw body not drained"
                );
            }
        }
    }

    #[tokio::test]
    async fn raw_stream_errors_keep_their_kind() {
        let data = sample();
        for (compressed, coding) in every_coding(&data).await {
            for (kind, message) in [
                (
                    ErrorKind::ClientPayloadError,
                    "Response payload is not completed",
                ),
                (ErrorKind::ServerDisconnectedError, "Server disconnected"),
            ] {
                // The failure after part of the body, and as the very first item.
                for head in [&compressed[..compressed.len() / 2], &[][..]] {
                    let items: Vec<Result<Bytes, ClientError>> = vec![
                        Ok(Bytes::copy_from_slice(head)),
                        Err(ClientError::new(kind, message)),
                    ];
                    let err = decode_all(Box::pin(stream::iter(items)), coding).await;
                    let err = err.unwrap_err();
                    assert_eq!(err.kind(), kind, "{coding}: {err}");
                    assert_eq!(err.message(), message);
                }
            }
        }
    }

    #[test]
    fn decode_text_with_labels() {
        assert_eq!(decode_text(b"caf\xe9", Some("latin-1")).unwrap(), "café");
        assert_eq!(decode_text(b"caf\xe9", Some("ISO-8859-1")).unwrap(), "café");
        assert_eq!(decode_text(b"caf\xe9", Some("latin_1")).unwrap(), "café");
        assert_eq!(
            decode_text("café".as_bytes(), Some("utf-8")).unwrap(),
            "café"
        );
        assert_eq!(
            decode_text("café".as_bytes(), Some(" UTF8 ")).unwrap(),
            "café"
        );
        assert_eq!(
            decode_text("café".as_bytes(), Some("\"utf_8\"")).unwrap(),
            "café"
        );
        assert_eq!(
            decode_text(b"\xcf\xf0\xe8\xe2\xe5\xf2", Some("cp1251")).unwrap(),
            "Привет"
        );
        assert_eq!(
            decode_text(b"\xcf\xf0\xe8\xe2\xe5\xf2", Some("windows-1251")).unwrap(),
            "Привет"
        );
        // A byte order mark of the named encoding is removed.
        assert_eq!(decode_text(b"\xef\xbb\xbfok", Some("utf-8")).unwrap(), "ok");
        // Malformed input is replaced, not an error.
        assert_eq!(decode_text(b"a\xffb", Some("utf-8")).unwrap(), "a\u{fffd}b");
    }

    #[test]
    fn decode_text_rejects_unknown_labels() {
        for label in ["no-such-charset", "", "utf-9", "iso-2022-kr"] {
            let err = decode_text(b"abc", Some(label)).unwrap_err();
            assert!(err.is_invalid_argument(), "{label}: {err}");
        }
    }

    #[test]
    fn decode_text_detects() {
        assert_eq!(detect_encoding(b""), encoding_rs::UTF_8);
        assert_eq!(detect_encoding(b"plain ascii"), encoding_rs::UTF_8);
        assert_eq!(decode_text("naïve ☃".as_bytes(), None).unwrap(), "naïve ☃");
        // Byte order marks decide, and are removed.
        assert_eq!(detect_encoding(b"\xef\xbb\xbfhi"), encoding_rs::UTF_8);
        assert_eq!(decode_text(b"\xef\xbb\xbfhi", None).unwrap(), "hi");
        assert_eq!(
            detect_encoding(b"\xff\xfeh\x00i\x00"),
            encoding_rs::UTF_16LE
        );
        assert_eq!(decode_text(b"\xff\xfeh\x00i\x00", None).unwrap(), "hi");
        assert_eq!(decode_text(b"\xfe\xff\x00h\x00i", None).unwrap(), "hi");
        // Cyrillic in windows-1251 is recognised.
        let text = "Съешь же ещё этих мягких французских булок, да выпей чаю. \
                    Широкая электрификация южных губерний даст мощный толчок подъёму сельского хозяйства.";
        let (cp1251, _, _) = encoding_rs::WINDOWS_1251.encode(text);
        assert_eq!(detect_encoding(&cp1251).name(), "windows-1251");
        assert_eq!(decode_text(&cp1251, None).unwrap(), text);
        // Western European text that is not UTF-8.
        let (latin, _, _) = encoding_rs::WINDOWS_1252
            .encode("Le cœur déçu mais l'âme plutôt naïve, Louÿs rêva de crapaüter en canoë");
        assert_eq!(detect_encoding(&latin), encoding_rs::WINDOWS_1252);
    }
}
