//! The multipart reader (`multipart/`): boundaries, delimiters, part headers and bodies.

use super::*;

use crate::{BodyPartReader, MultipartReader, StreamReader};

/// A part as the multipart reader gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// How many headers the part has.
    pub headers: usize,
    /// The `name` of its `Content-Disposition`.
    pub name: Option<String>,
    /// The `filename` of its `Content-Disposition`.
    pub filename: Option<String>,
    /// Its body as read, or why reading it failed; for a nested multipart part read as one,
    /// empty (its parts follow in `nested`).
    pub body: Result<Bytes, ErrorKind>,
    /// The parts of a nested `multipart/*` part, when it was read as one.
    pub nested: Option<Parts>,
}

/// The parts a multipart reader gave, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parts {
    /// The parts in order.
    pub parts: Vec<Part>,
    /// `None` when the reader reached the close delimiter; else why it stopped.
    pub error: Option<ErrorKind>,
}

/// The most parts read of one body (the rest are not asked for).
const MAX_PARTS: usize = 64;

/// The multipart reader (`MultipartReader` and `BodyPartReader`) over a body that arrives in
/// pieces.
///
/// Layout: a flags byte — bits 0-2 how the body is cut into pieces (as for `decompress`), bits
/// 3-4 how each part's body is read (`read()`, `text()`, `read_chunk(7)` until its end, or not
/// at all: skipped by the next `next_part()`), bit 5 a small `max_part_size` (16 bytes, else
/// 64 KiB), bit 6 nested `multipart/*` parts are read as multipart (one level) — then the
/// `Content-Type` value up to a `\n`, then the body.
///
/// Checks: the reader finishes; the parts, their bodies and the way the reader ends are the
/// same whether the body arrives whole or in pieces; `read()` and `text()` never return more
/// than `max_part_size` bytes; a reader at its end stays there.
///
/// ```
/// let got = aiohttp::fuzz_support::multipart(
///     b"\x00multipart/form-data; boundary=b\n--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhi\r\n--b--\r\n",
/// );
/// assert_eq!(got.error, None);
/// assert_eq!(got.parts.len(), 1);
/// assert_eq!(got.parts[0].name.as_deref(), Some("a"));
/// assert_eq!(got.parts[0].body.as_deref().ok(), Some(&b"hi"[..]));
/// ```
pub fn multipart(data: &[u8]) -> Parts {
    let mut input = Input(data);
    let flags = input.byte();
    let content_type = String::from_utf8_lossy(input.line()).into_owned();
    let body = input.rest();
    let how = Read {
        mode: (flags >> 3) & 3,
        max: if flags & 0x20 != 0 { 16 } else { 64 * 1024 },
        nested: flags & 0x40 != 0,
    };
    let whole = block_on(bounded(
        "a multipart body",
        read_all(&content_type, vec![body], how),
    ));
    let cut = block_on(bounded(
        "a multipart body",
        read_all(&content_type, pieces(body, flags & 7), how),
    ));
    assert_eq!(whole, cut, "the parts depend on how the body arrives");
    whole
}

#[derive(Debug, Clone, Copy)]
struct Read {
    mode: u8,
    max: usize,
    nested: bool,
}

async fn read_all(content_type: &str, chunks: Vec<&[u8]>, how: Read) -> Parts {
    let items: Vec<Result<Bytes, ClientError>> = chunks
        .into_iter()
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let content = StreamReader::from_stream(futures_util::stream::iter(items));
    match MultipartReader::new(content_type, content) {
        Ok(reader) => read_parts(reader.max_part_size(how.max), how, true).await,
        Err(e) => Parts {
            parts: Vec::new(),
            error: Some(e.kind()),
        },
    }
}

async fn read_parts(mut reader: MultipartReader, how: Read, outer: bool) -> Parts {
    let mut out = Parts::default();
    while out.parts.len() < MAX_PARTS {
        let part = match reader.next_part().await {
            Ok(Some(part)) => part,
            Ok(None) => {
                assert!(reader.at_eof(), "no more parts, but not at the end");
                // At the end, the reader stays there.
                assert!(
                    matches!(reader.next_part().await, Ok(None)),
                    "a part after the close delimiter"
                );
                return out;
            }
            Err(e) => {
                out.error = Some(e.kind());
                return out;
            }
        };
        let got = read_part(part, how, outer).await;
        out.parts.push(got);
    }
    out
}

async fn read_part(mut part: BodyPartReader<'_>, how: Read, outer: bool) -> Part {
    let headers = part.headers().len();
    let (name, filename) = (part.name(), part.filename());
    let _ = part.content_type();
    if how.nested && outer && part.is_multipart() {
        return match part.into_multipart().await {
            Ok(inner) => {
                let nested = Box::pin(read_parts(inner, how, false)).await;
                Part {
                    headers,
                    name,
                    filename,
                    body: Ok(Bytes::new()),
                    nested: Some(nested),
                }
            }
            Err(e) => Part {
                headers,
                name,
                filename,
                body: Err(e.kind()),
                nested: None,
            },
        };
    }
    let body = match how.mode {
        0 => part.read().await,
        1 => part.text().await.map(Bytes::from),
        2 => chunks_of(&mut part).await,
        _ => Ok(Bytes::new()),
    };
    if let (Ok(b), 0 | 1) = (&body, how.mode) {
        // `text()` may grow the bytes by decoding (U+FFFD for one bad byte): 3× at most.
        let most = if how.mode == 0 { how.max } else { 3 * how.max };
        assert!(
            b.len() <= most,
            "{} bytes read, over max_part_size {}",
            b.len(),
            how.max
        );
    }
    Part {
        headers,
        name,
        filename,
        body: body.map_err(|e| e.kind()),
        nested: None,
    }
}

/// The part's body read 7 bytes at a time.
async fn chunks_of(part: &mut BodyPartReader<'_>) -> Result<Bytes, ClientError> {
    let mut body = Vec::new();
    loop {
        let chunk = part.read_chunk(7).await?;
        if chunk.is_empty() {
            return Ok(Bytes::from(body));
        }
        assert!(chunk.len() <= 7, "read_chunk(7) gave {} bytes", chunk.len());
        body.extend_from_slice(&chunk);
    }
}
