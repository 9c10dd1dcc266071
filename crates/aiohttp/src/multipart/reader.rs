//! `MultipartReader`: a `multipart/*` body read part by part as it streams in (aiohttp's
//! `aiohttp.MultipartReader` and `BodyPartReader`).

use std::fmt;

use bytes::{Buf, Bytes, BytesMut};
use http::{header, HeaderMap};

use super::parse::{self, HeaderScan, Scan, Tail};
use crate::error::{ClientError, ErrorKind};
use crate::response::ClientResponse;
use crate::stream::StreamReader;

/// How many bytes [`BodyPartReader::read`] and [`BodyPartReader::text`] buffer at most by
/// default, for a reader not made from a response: 256 MiB.
pub const DEFAULT_MAX_PART_SIZE: usize = crate::response::DEFAULT_MAX_BODY_SIZE;

/// How much of an epilogue (the bytes after the close delimiter) is read and dropped so that
/// the connection can be reused.
const EPILOGUE_DRAIN: usize = 64 * 1024;

/// Where the body comes from.
enum Source {
    Response(Box<ClientResponse>),
    Reader(Box<StreamReader>),
}

impl Source {
    fn stream(&mut self) -> &mut StreamReader {
        match self {
            Source::Response(r) => r.content(),
            Source::Reader(s) => s,
        }
    }
}

/// Where the reader stands in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first delimiter (in the preamble).
    Preamble,
    /// At a delimiter: the buffer starts with `\r\n--boundary`.
    Delimiter,
    /// In a part's header block.
    Headers,
    /// In a part's body.
    Body,
    /// After the close delimiter.
    Done,
    /// A malformed or broken body: every later call fails.
    Failed,
}

/// Reads a `multipart/*` body part by part while it streams (aiohttp's `MultipartReader`).
///
/// Each [`next_part`](Self::next_part) returns a [`BodyPartReader`] for the next part, with
/// its headers, `name`/`filename` from `Content-Disposition`, and its body read in pieces
/// ([`read_chunk`](BodyPartReader::read_chunk)) or whole under a cap
/// ([`read`](BodyPartReader::read), [`text`](BodyPartReader::text)). A part left unread is
/// skipped by the next `next_part`. Nothing is buffered beyond the piece being read, a part's
/// header block (64 KiB at most, 8190 bytes a line, 128 lines) and a delimiter's length.
///
/// A body that is not what it says (no boundary, a close delimiter that never comes, a
/// truncated part, a malformed or oversized header block) fails with a `ClientPayloadError`;
/// a response whose `Content-Type` is not `multipart/*` with a boundary, with a
/// `ContentTypeError` (a `ClientResponseError`).
///
/// ```no_run
/// use aiohttp::{ClientSession, MultipartReader};
///
/// # async fn run() -> Result<(), aiohttp::ClientError> {
/// let session = ClientSession::new();
/// let resp = session.get("http://127.0.0.1:8080/parts").await?;
/// let mut reader = MultipartReader::from_response(resp)?;
/// while let Some(mut part) = reader.next_part().await? {
///     match part.filename() {
///         Some(file) => {
///             let mut size = 0;
///             loop {
///                 let chunk = part.read_chunk(64 * 1024).await?;
///                 if chunk.is_empty() {
///                     break;
///                 }
///                 size += chunk.len();
///             }
///             println!("{:?}: file {file} of {size} bytes", part.name());
///         }
///         None => println!("{:?} = {}", part.name(), part.text().await?),
///     }
/// }
/// # Ok(()) }
/// ```
pub struct MultipartReader {
    source: Source,
    /// `\r\n--boundary`.
    delim: Vec<u8>,
    boundary: String,
    /// Received and not consumed. Starts with a CRLF of our own, so that a body that opens
    /// with its first delimiter needs no special case.
    buf: BytesMut,
    state: State,
    /// Leading bytes of `buf` known to belong to the current part (or preamble).
    clear: usize,
    /// Where the next delimiter starts in `buf`, once seen.
    found: Option<usize>,
    headers: HeaderScan,
    /// A first delimiter was accepted (before it, a delimiter-like line is preamble text).
    started: bool,
    error: Option<ClientError>,
    max_part_size: usize,
}

impl fmt::Debug for MultipartReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultipartReader")
            .field("boundary", &self.boundary)
            .field("state", &self.state)
            .field("max_part_size", &self.max_part_size)
            .finish_non_exhaustive()
    }
}

impl MultipartReader {
    /// A reader over a response's body, with the boundary of its `Content-Type`. `read` and
    /// `text` of its parts buffer at most the response's `max_body_size`.
    ///
    /// # Errors
    /// `ContentTypeError` (a `ClientResponseError`, with the response's status and headers)
    /// when the `Content-Type` is not `multipart/*`, has no boundary, or one longer than 70
    /// characters.
    ///
    /// ```no_run
    /// # async fn run(s: aiohttp::ClientSession) -> Result<(), aiohttp::ClientError> {
    /// let resp = s.get("http://127.0.0.1:8080/parts").await?;
    /// let mut reader = aiohttp::MultipartReader::from_response(resp)?;
    /// # Ok(()) }
    /// ```
    pub fn from_response(response: ClientResponse) -> Result<Self, ClientError> {
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(parse::header_text)
            .unwrap_or_default();
        let boundary = parse::boundary_of(&content_type).map_err(|m| {
            ClientError::new(ErrorKind::ContentTypeError, m)
                .with_url(response.url())
                .with_response(response.details())
        })?;
        let max = response.max_body_size();
        let mut reader = MultipartReader::over(Source::Response(Box::new(response)), boundary);
        reader.max_part_size = max;
        Ok(reader)
    }

    /// A reader over any body stream, with the boundary of `content_type` (the `Content-Type`
    /// of the body or of the enclosing part).
    ///
    /// # Errors
    /// `ContentTypeError` when `content_type` is not `multipart/*`, has no boundary, or one
    /// longer than 70 characters.
    ///
    /// ```
    /// use aiohttp::{Bytes, MultipartReader, StreamReader};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), aiohttp::ClientError> {
    /// let body = "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--b--\r\n";
    /// let content = StreamReader::from_stream(futures_util::stream::iter([Ok(Bytes::from(body))]));
    /// let mut reader = MultipartReader::new("multipart/form-data; boundary=b", content)?;
    /// let mut part = reader.next_part().await?.expect("a part");
    /// assert_eq!(part.name().as_deref(), Some("a"));
    /// assert_eq!(part.text().await?, "hello");
    /// drop(part);
    /// assert!(reader.next_part().await?.is_none());
    /// # Ok(()) }
    /// ```
    pub fn new(content_type: &str, content: StreamReader) -> Result<Self, ClientError> {
        let boundary = parse::boundary_of(content_type)
            .map_err(|m| ClientError::new(ErrorKind::ContentTypeError, m))?;
        Ok(MultipartReader::over(
            Source::Reader(Box::new(content)),
            boundary,
        ))
    }

    fn over(source: Source, boundary: String) -> Self {
        let mut delim = Vec::with_capacity(boundary.len() + 4);
        delim.extend_from_slice(b"\r\n--");
        delim.extend_from_slice(boundary.as_bytes());
        MultipartReader {
            source,
            delim,
            boundary,
            buf: BytesMut::from(&b"\r\n"[..]),
            state: State::Preamble,
            clear: 0,
            found: None,
            headers: HeaderScan::default(),
            started: false,
            error: None,
            max_part_size: DEFAULT_MAX_PART_SIZE,
        }
    }

    /// Sets how many bytes [`BodyPartReader::read`] and [`BodyPartReader::text`] buffer at most
    /// (more is a `ClientPayloadError`); `read_chunk` reads parts of any size.
    ///
    /// ```
    /// # use aiohttp::{Bytes, MultipartReader, StreamReader};
    /// # let content = StreamReader::from_stream(futures_util::stream::iter([Ok(Bytes::new())]));
    /// let reader = MultipartReader::new("multipart/mixed; boundary=b", content)
    ///     .expect("multipart")
    ///     .max_part_size(1024 * 1024);
    /// ```
    pub fn max_part_size(mut self, max: usize) -> Self {
        self.max_part_size = max;
        self
    }

    /// The boundary, from the `Content-Type`.
    ///
    /// ```
    /// # use aiohttp::{Bytes, MultipartReader, StreamReader};
    /// # let content = StreamReader::from_stream(futures_util::stream::iter([Ok(Bytes::new())]));
    /// let reader = MultipartReader::new("multipart/mixed; boundary=\"a b\"", content).expect("multipart");
    /// assert_eq!(reader.boundary(), "a b");
    /// ```
    pub fn boundary(&self) -> &str {
        &self.boundary
    }

    /// Whether the close delimiter has been read: there are no more parts.
    ///
    /// ```
    /// # use aiohttp::{Bytes, MultipartReader, StreamReader};
    /// # let content = StreamReader::from_stream(futures_util::stream::iter([Ok(Bytes::new())]));
    /// let reader = MultipartReader::new("multipart/mixed; boundary=b", content).expect("multipart");
    /// assert!(!reader.at_eof());
    /// ```
    pub fn at_eof(&self) -> bool {
        self.state == State::Done
    }

    /// The next part, or `None` after the last one. What is left of the previous part is read
    /// and dropped first.
    ///
    /// # Errors
    /// `ClientPayloadError` for a malformed or truncated body (the first delimiter not found,
    /// a delimiter followed by anything but `--` or a line end, a header block that is
    /// malformed, too long or cut off, the body ending inside a part), and whatever reading the
    /// body fails with. After an error, every call fails the same way.
    ///
    /// ```no_run
    /// # async fn run(mut reader: aiohttp::MultipartReader) -> Result<(), aiohttp::ClientError> {
    /// while let Some(part) = reader.next_part().await? {
    ///     println!("{:?}", part.headers());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn next_part(&mut self) -> Result<Option<BodyPartReader<'_>>, ClientError> {
        match self.advance().await {
            Ok(Some(headers)) => Ok(Some(BodyPartReader {
                reader: self,
                headers,
            })),
            Ok(None) => Ok(None),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Reads every part left to the end and drops them (aiohttp's `release()`).
    ///
    /// # Errors
    /// As [`next_part`](Self::next_part).
    ///
    /// ```no_run
    /// # async fn run(mut reader: aiohttp::MultipartReader) -> Result<(), aiohttp::ClientError> {
    /// reader.release().await?;
    /// assert!(reader.at_eof());
    /// # Ok(()) }
    /// ```
    pub async fn release(&mut self) -> Result<(), ClientError> {
        while self.next_part().await?.is_some() {}
        Ok(())
    }

    /// Moves to the next part's body and returns its headers.
    async fn advance(&mut self) -> Result<Option<HeaderMap>, ClientError> {
        loop {
            match self.state {
                State::Failed => {
                    return Err(self.error.as_ref().map_or_else(
                        || ClientError::payload("malformed multipart body"),
                        ClientError::duplicate,
                    ));
                }
                State::Done => return Ok(None),
                State::Preamble | State::Body => {
                    // Drop the rest of the preamble or of the previous part.
                    while !self.body_chunk(usize::MAX).await?.is_empty() {}
                }
                State::Delimiter => {
                    let after = &self.buf[self.delim.len()..];
                    match parse::tail(after) {
                        Tail::More => {
                            if !self.fill().await? {
                                return Err(ClientError::payload(
                                    "the multipart body ends inside a delimiter line",
                                ));
                            }
                        }
                        Tail::Final => {
                            self.started = true;
                            self.state = State::Done;
                            self.buf.clear();
                            self.drain_epilogue();
                            return Ok(None);
                        }
                        Tail::Next(n) => {
                            self.started = true;
                            self.buf.advance(self.delim.len() + n);
                            self.headers = HeaderScan::default();
                            self.state = State::Headers;
                        }
                        Tail::Invalid if !self.started => {
                            // `--boundary` followed by other text in the preamble is preamble
                            // text (aiohttp looks for a line that is the boundary alone).
                            self.buf.advance(self.delim.len());
                            self.clear = 0;
                            self.found = None;
                            self.state = State::Preamble;
                        }
                        Tail::Invalid => {
                            return Err(ClientError::payload(format!(
                                "invalid multipart boundary line, expected --{}",
                                self.boundary
                            )));
                        }
                    }
                }
                State::Headers => match self.headers.feed(&self.buf) {
                    Err(m) => return Err(ClientError::payload(m)),
                    Ok(Some(end)) => {
                        let headers =
                            parse::parse_headers(&self.buf[..end]).map_err(ClientError::payload)?;
                        self.buf.advance(end);
                        self.clear = 0;
                        self.found = None;
                        self.state = State::Body;
                        return Ok(Some(headers));
                    }
                    Ok(None) => {
                        if !self.fill().await? {
                            return Err(ClientError::payload(
                                "the multipart body ends inside a part's headers",
                            ));
                        }
                    }
                },
            }
        }
    }

    /// The next bytes of the current part (or preamble), at most `max`; empty at its end,
    /// which leaves the reader at the delimiter.
    async fn body_chunk(&mut self, max: usize) -> Result<Bytes, ClientError> {
        if !matches!(self.state, State::Body | State::Preamble) {
            return Ok(Bytes::new());
        }
        loop {
            if self.clear == 0 && self.found.is_none() {
                match parse::scan(&self.buf, &self.delim) {
                    Scan::Found(at) => {
                        self.clear = at;
                        self.found = Some(at);
                    }
                    Scan::Clear(n) => self.clear = n,
                }
            }
            if self.clear > 0 {
                let n = self.clear.min(max.max(1));
                self.clear -= n;
                self.found = self.found.map(|at| at - n);
                return Ok(self.buf.split_to(n).freeze());
            }
            if self.found == Some(0) {
                self.found = None;
                self.state = State::Delimiter;
                return Ok(Bytes::new());
            }
            if !self.fill().await? {
                return Err(ClientError::payload(if self.state == State::Preamble {
                    format!("could not find starting boundary --{}", self.boundary)
                } else {
                    "the multipart body ends inside a part".to_string()
                }));
            }
        }
    }

    /// Reads the next piece of the body into the buffer; `false` at its end.
    async fn fill(&mut self) -> Result<bool, ClientError> {
        let chunk = self.source.stream().readany().await?;
        if chunk.is_empty() {
            return Ok(false);
        }
        self.buf.extend_from_slice(&chunk);
        Ok(true)
    }

    /// Reads and drops the epilogue that has already arrived (up to 64 KiB), so that a
    /// response whose body ends there goes back to the pool; never waits for more (a body
    /// still open is closed when the reader goes).
    fn drain_epilogue(&mut self) {
        use futures_util::FutureExt;
        let mut drained = 0;
        while drained <= EPILOGUE_DRAIN {
            match self.source.stream().readany().now_or_never() {
                Some(Ok(chunk)) if !chunk.is_empty() => drained += chunk.len(),
                _ => break,
            }
        }
    }

    /// Records a failure: this and every later call report it.
    fn fail(&mut self, e: ClientError) -> ClientError {
        if self.state != State::Failed {
            self.state = State::Failed;
            self.buf.clear();
            self.error = Some(e.duplicate());
        }
        e
    }

    /// The part's next bytes, recording a failure.
    async fn part_chunk(&mut self, max: usize) -> Result<Bytes, ClientError> {
        match self.body_chunk(max).await {
            Ok(b) => Ok(b),
            Err(e) => Err(self.fail(e)),
        }
    }
}

/// One part of a multipart body (aiohttp's `BodyPartReader`), borrowed from its
/// [`MultipartReader`] until it is dropped.
///
/// ```no_run
/// # async fn run(mut reader: aiohttp::MultipartReader) -> Result<(), aiohttp::ClientError> {
/// if let Some(mut part) = reader.next_part().await? {
///     println!("{:?} {:?}", part.name(), part.filename());
///     let first = part.read_chunk(8192).await?;
///     part.release().await?;
/// }
/// # Ok(()) }
/// ```
pub struct BodyPartReader<'a> {
    reader: &'a mut MultipartReader,
    headers: HeaderMap,
}

impl fmt::Debug for BodyPartReader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyPartReader")
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl BodyPartReader<'_> {
    /// The part's headers.
    ///
    /// ```no_run
    /// # fn f(part: &aiohttp::BodyPartReader<'_>) {
    /// let ct = part.headers().get("content-type");
    /// # }
    /// ```
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    fn disposition(&self, key: &str) -> Option<String> {
        let value = self.headers.get(header::CONTENT_DISPOSITION)?;
        parse::disposition_param(&parse::header_text(value), key)
    }

    /// The `name` parameter of `Content-Disposition` (`name*` decoded when present); `None`
    /// without one or when the header is malformed.
    ///
    /// ```no_run
    /// # fn f(part: &aiohttp::BodyPartReader<'_>) {
    /// if part.name().as_deref() == Some("avatar") { /* ... */ }
    /// # }
    /// ```
    pub fn name(&self) -> Option<String> {
        self.disposition("name")
    }

    /// The file name of `Content-Disposition`: `filename*` (RFC 2231/5987, decoded) when
    /// present and valid, else `filename`; `None` without one or when the header is malformed.
    /// Percent signs in a plain `filename` are kept as they are.
    ///
    /// ```no_run
    /// # fn f(part: &aiohttp::BodyPartReader<'_>) {
    /// let name = part.filename().unwrap_or_else(|| "unnamed".to_string());
    /// # }
    /// ```
    pub fn filename(&self) -> Option<String> {
        self.disposition("filename")
    }

    /// The part's media type in lowercase, without parameters (`text/plain` when it has no
    /// `Content-Type`, as RFC 2046 says).
    ///
    /// ```no_run
    /// # fn f(part: &aiohttp::BodyPartReader<'_>) {
    /// if part.content_type() == "application/json" { /* ... */ }
    /// # }
    /// ```
    pub fn content_type(&self) -> String {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| parse::parse_params(&parse::header_text(v)))
            .map_or_else(|| "text/plain".to_string(), |(media, _)| media)
    }

    /// Whether the part is itself a multipart body (`multipart/*` with a boundary), to be read
    /// with [`into_multipart`](Self::into_multipart).
    ///
    /// ```no_run
    /// # fn f(part: &aiohttp::BodyPartReader<'_>) {
    /// if part.is_multipart() { /* nested parts */ }
    /// # }
    /// ```
    pub fn is_multipart(&self) -> bool {
        self.headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| parse::boundary_of(&parse::header_text(v)).is_ok())
    }

    /// The `charset` of the part's `Content-Type`, if any.
    fn charset(&self) -> Option<String> {
        let ct = self.headers.get(header::CONTENT_TYPE)?;
        let (_, params) = parse::parse_params(&parse::header_text(ct))?;
        params
            .into_iter()
            .find(|(k, _)| k == "charset")
            .map(|(_, v)| v)
    }

    /// Whether the part's body has been read to its end.
    ///
    /// ```no_run
    /// # fn f(part: &aiohttp::BodyPartReader<'_>) {
    /// let done = part.at_eof();
    /// # }
    /// ```
    pub fn at_eof(&self) -> bool {
        self.reader.state != State::Body
    }

    /// The next bytes of the part's body, at most `size` (at least 1); empty at its end.
    ///
    /// # Errors
    /// `ClientPayloadError` when the body ends before the part does, or reading it fails.
    ///
    /// ```no_run
    /// # async fn f(mut part: aiohttp::BodyPartReader<'_>) -> Result<(), aiohttp::ClientError> {
    /// loop {
    ///     let chunk = part.read_chunk(8192).await?;
    ///     if chunk.is_empty() { break; }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn read_chunk(&mut self, size: usize) -> Result<Bytes, ClientError> {
        match self.reader.state {
            State::Body => self.reader.part_chunk(size).await,
            State::Failed => Err(self.reader.error.as_ref().map_or_else(
                || ClientError::payload("malformed multipart body"),
                ClientError::duplicate,
            )),
            _ => Ok(Bytes::new()),
        }
    }

    /// The rest of the part's body, at most the reader's `max_part_size` bytes (aiohttp's
    /// `read()`; transfer encodings are not decoded).
    ///
    /// # Errors
    /// `ClientPayloadError` when the part is longer than `max_part_size`, the body ends before
    /// the part does, or reading it fails.
    ///
    /// ```no_run
    /// # async fn f(mut part: aiohttp::BodyPartReader<'_>) -> Result<(), aiohttp::ClientError> {
    /// let bytes = part.read().await?;
    /// # Ok(()) }
    /// ```
    pub async fn read(&mut self) -> Result<Bytes, ClientError> {
        let max = self.reader.max_part_size;
        let mut out = BytesMut::new();
        loop {
            let chunk = self.read_chunk(64 * 1024).await?;
            if chunk.is_empty() {
                return Ok(out.freeze());
            }
            if out.len() + chunk.len() > max {
                // The reader stays usable: the next part can still be read.
                return Err(ClientError::payload(format!(
                    "a multipart part is longer than max_part_size ({max} bytes)"
                )));
            }
            out.extend_from_slice(&chunk);
        }
    }

    /// The rest of the part's body as text, decoded with the `charset` of its `Content-Type`,
    /// UTF-8 without one (as aiohttp); malformed sequences become U+FFFD.
    ///
    /// # Errors
    /// As [`read`](Self::read); an unknown charset is an `InvalidArgument` error.
    ///
    /// ```no_run
    /// # async fn f(mut part: aiohttp::BodyPartReader<'_>) -> Result<(), aiohttp::ClientError> {
    /// let text = part.text().await?;
    /// # Ok(()) }
    /// ```
    pub async fn text(&mut self) -> Result<String, ClientError> {
        let charset = self.charset().unwrap_or_else(|| "utf-8".to_string());
        let bytes = self.read().await?;
        crate::decode::decode_text(&bytes, Some(&charset))
    }

    /// Reads the rest of the part's body and drops it (aiohttp's `release()`); the next
    /// [`next_part`](MultipartReader::next_part) would do it too.
    ///
    /// # Errors
    /// `ClientPayloadError` when the body ends before the part does, or reading it fails.
    ///
    /// ```no_run
    /// # async fn f(mut part: aiohttp::BodyPartReader<'_>) -> Result<(), aiohttp::ClientError> {
    /// part.release().await?;
    /// # Ok(()) }
    /// ```
    pub async fn release(&mut self) -> Result<(), ClientError> {
        while !self.read_chunk(usize::MAX).await?.is_empty() {}
        Ok(())
    }

    /// A reader for the parts of this part, when it is itself multipart (a `multipart/mixed`
    /// inside a `multipart/form-data`, say). The part is read whole first, under
    /// `max_part_size`; the nested reader has the same cap.
    ///
    /// # Errors
    /// `ContentTypeError` when the part is not `multipart/*` with a boundary; otherwise as
    /// [`read`](Self::read).
    ///
    /// ```no_run
    /// # async fn f(mut part: aiohttp::BodyPartReader<'_>) -> Result<(), aiohttp::ClientError> {
    /// if part.is_multipart() {
    ///     let mut nested = part.into_multipart().await?;
    ///     while let Some(mut inner) = nested.next_part().await? {
    ///         println!("{:?}", inner.filename());
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn into_multipart(mut self) -> Result<MultipartReader, ClientError> {
        let content_type = self
            .headers
            .get(header::CONTENT_TYPE)
            .map(parse::header_text)
            .unwrap_or_default();
        let boundary = parse::boundary_of(&content_type)
            .map_err(|m| ClientError::new(ErrorKind::ContentTypeError, m))?;
        let max = self.reader.max_part_size;
        let body = self.read().await?;
        let content = StreamReader::from_stream(futures_util::stream::iter([Ok(body)]));
        let mut nested = MultipartReader::over(Source::Reader(Box::new(content)), boundary);
        nested.max_part_size = max;
        Ok(nested)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader_over(pieces: Vec<Vec<u8>>, boundary: &str) -> MultipartReader {
        let chunks: Vec<Result<Bytes, ClientError>> =
            pieces.into_iter().map(|p| Ok(Bytes::from(p))).collect();
        let content = StreamReader::from_stream(futures_util::stream::iter(chunks));
        MultipartReader::new(&format!("multipart/mixed; boundary={boundary}"), content)
            .expect("multipart content type")
    }

    fn split(body: &[u8], cut: usize) -> Vec<Vec<u8>> {
        body.chunks(cut.max(1)).map(<[u8]>::to_vec).collect()
    }

    type Parts = Vec<(Option<String>, Vec<u8>)>;

    /// Every part as (name, body), read with `read_chunk(size)`.
    async fn all_parts(reader: &mut MultipartReader, size: usize) -> Result<Parts, ClientError> {
        let mut out = Vec::new();
        while let Some(mut part) = reader.next_part().await? {
            let mut body = Vec::new();
            loop {
                let chunk = part.read_chunk(size).await?;
                if chunk.is_empty() {
                    break;
                }
                assert!(chunk.len() <= size.max(1));
                body.extend_from_slice(&chunk);
            }
            assert!(part.at_eof());
            out.push((part.name(), body));
        }
        Ok(out)
    }

    /// Parts whose bodies hold beginnings of the delimiter, CRLFs and binary bytes, with a
    /// preamble, transport padding after a delimiter and an epilogue.
    const BODY: &[u8] = b"preamble\r\n--sep is not here\r\n--sep\r\n\
        Content-Disposition: form-data; name=\"a\"\r\n\r\n\
        first\r\n--se\r\n-\r\r\n--sep \t\r\n\
        Content-Disposition: form-data; name=\"b\"\r\nContent-Type: application/octet-stream\r\n\r\n\
        \r\n\x00\xff\r\n\r\n--sep\r\n\
        \r\n\
        no headers\r\n--sep--\r\nepilogue";

    fn want() -> Parts {
        vec![
            (Some("a".into()), b"first\r\n--se\r\n-\r".to_vec()),
            (Some("b".into()), b"\r\n\x00\xff\r\n".to_vec()),
            (None, b"no headers".to_vec()),
        ]
    }

    #[tokio::test]
    async fn every_split_and_read_size_gives_the_same_parts() {
        for cut in [1usize, 2, 3, 5, 7, 11, 64, BODY.len()] {
            for size in [1usize, 3, 8192] {
                let mut reader = reader_over(split(BODY, cut), "sep");
                let got = all_parts(&mut reader, size).await.expect("well-formed");
                assert_eq!(got, want(), "cut {cut} size {size}");
                assert!(reader.at_eof());
                assert!(reader.next_part().await.expect("after the end").is_none());
            }
        }
    }

    #[tokio::test]
    async fn unread_parts_are_skipped() {
        for cut in [1usize, 4, BODY.len()] {
            let mut reader = reader_over(split(BODY, cut), "sep");
            let mut names = Vec::new();
            while let Some(part) = reader.next_part().await.expect("parts") {
                names.push(part.name());
            }
            assert_eq!(names, [Some("a".to_string()), Some("b".to_string()), None]);
            // Half-read, then released.
            let mut reader = reader_over(split(BODY, cut), "sep");
            let mut first = reader.next_part().await.expect("a").expect("a part");
            let head = first.read_chunk(2).await.expect("up to two bytes");
            assert!(!head.is_empty() && b"fi".starts_with(&head), "{head:?}");
            first.release().await.expect("released");
            assert!(first.at_eof());
            let mut second = reader.next_part().await.expect("b").expect("b part");
            assert_eq!(
                second.read().await.expect("b body"),
                &b"\r\n\x00\xff\r\n"[..]
            );
        }
    }

    #[tokio::test]
    async fn malformed_bodies_are_payload_errors() {
        let long_line = [
            b"--b\r\n".to_vec(),
            vec![b'a'; 9000],
            b"\r\n\r\nx\r\n--b--".to_vec(),
        ]
        .concat();
        let many_headers = [
            b"--b\r\n".to_vec(),
            b"X: 1\r\n".repeat(200),
            b"\r\nx\r\n--b--".to_vec(),
        ]
        .concat();
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "no boundary at all",
                b"just some text\r\n".to_vec(),
                "could not find starting boundary",
            ),
            ("empty body", Vec::new(), "could not find starting boundary"),
            (
                "truncated part",
                b"--b\r\n\r\nabc".to_vec(),
                "ends inside a part",
            ),
            (
                "truncated after CR",
                b"--b\r\n\r\nabc\r\n--".to_vec(),
                "ends inside a part",
            ),
            (
                "truncated headers",
                b"--b\r\nContent-Disp".to_vec(),
                "inside a part's headers",
            ),
            (
                "no close delimiter",
                b"--b\r\n\r\nabc\r\n--b".to_vec(),
                "inside a delimiter line",
            ),
            (
                "boundary prefix",
                b"--b\r\n\r\nabc\r\n--bX\r\n".to_vec(),
                "invalid multipart boundary line",
            ),
            ("long header line", long_line, "too long"),
            ("too many headers", many_headers, "too many headers"),
            (
                "header without colon",
                b"--b\r\nno colon\r\n\r\nx\r\n--b--".to_vec(),
                "no colon",
            ),
            (
                "folded header",
                b"--b\r\nA: 1\r\n 2\r\n\r\nx\r\n--b--".to_vec(),
                "folding",
            ),
        ];
        for (what, body, message) in cases {
            for cut in [1usize, 3, body.len().max(1)] {
                let mut reader = reader_over(split(&body, cut), "b");
                let err = all_parts(&mut reader, 8192).await.expect_err(what);
                assert!(err.is_client_payload_error(), "{what}: {err}");
                assert!(err.message().contains(message), "{what}: {err}");
                // Every later call fails the same way.
                let again = reader.next_part().await.expect_err(what);
                assert_eq!(again.message(), err.message(), "{what}");
            }
        }
    }

    #[tokio::test]
    async fn a_stream_error_is_reported() {
        let chunks = vec![
            Ok(Bytes::from_static(b"--b\r\n\r\npart")),
            Err(ClientError::payload("connection broke")),
        ];
        let content = StreamReader::from_stream(futures_util::stream::iter(chunks));
        let mut reader = MultipartReader::new("multipart/mixed; boundary=b", content).expect("ok");
        let mut part = reader.next_part().await.expect("headers").expect("a part");
        let err = part.read().await.expect_err("broken");
        assert!(err.is_client_payload_error());
        assert!(err.message().contains("connection broke"), "{err}");
    }

    #[tokio::test]
    async fn read_is_capped_and_text_decodes_the_charset() {
        let body = b"--b\r\nContent-Type: text/plain; charset=windows-1251\r\n\r\n\xcf\xf0\xe8\r\n\
            --b\r\n\r\n12345\r\n--b--"
            .to_vec();
        let mut reader = reader_over(vec![body.clone()], "b");
        let mut part = reader.next_part().await.expect("ok").expect("part");
        assert_eq!(part.content_type(), "text/plain");
        assert_eq!(part.text().await.expect("text"), "\u{41f}\u{440}\u{438}");
        drop(part);
        let mut part = reader.next_part().await.expect("ok").expect("part");
        assert_eq!(part.text().await.expect("utf-8 by default"), "12345");

        let mut reader = reader_over(vec![body], "b").max_part_size(4);
        let mut first = reader.next_part().await.expect("ok").expect("part");
        assert_eq!(
            first.read().await.expect("3 bytes fit"),
            &b"\xcf\xf0\xe8"[..]
        );
        drop(first);
        let mut second = reader.next_part().await.expect("ok").expect("part");
        let err = second.read().await.expect_err("5 bytes do not");
        assert!(err.is_client_payload_error());
        assert!(err.message().contains("max_part_size"), "{err}");
    }

    #[tokio::test]
    async fn disposition_names_and_encoded_filenames() {
        let body = "--b\r\nContent-Disposition: attachment; filename=\"fallback.txt\"; \
            filename*=UTF-8''%E2%82%AC%20rates.txt\r\n\r\nx\r\n\
            --b\r\nContent-Disposition: form-data; name=\"f\u{e9}\"; filename=\"caf\u{e9}.txt\"\r\n\r\ny\r\n--b--";
        let mut reader = reader_over(vec![body.as_bytes().to_vec()], "b");
        let part = reader.next_part().await.expect("ok").expect("part");
        assert_eq!(part.filename().as_deref(), Some("\u{20ac} rates.txt"));
        assert_eq!(part.name(), None);
        drop(part);
        let part = reader.next_part().await.expect("ok").expect("part");
        assert_eq!(part.name().as_deref(), Some("f\u{e9}"));
        assert_eq!(part.filename().as_deref(), Some("caf\u{e9}.txt"));
    }

    #[tokio::test]
    async fn nested_multipart_parts_are_detected_and_read() {
        let body = b"--outer\r\nContent-Disposition: form-data; name=\"files\"\r\n\
            Content-Type: multipart/mixed; boundary=inner\r\n\r\n\
            --inner\r\nContent-Disposition: file; filename=\"a.txt\"\r\n\r\nA\r\n\
            --inner\r\nContent-Disposition: file; filename=\"b.txt\"\r\n\r\nBB\r\n\
            --inner--\r\n--outer\r\n\r\nafter\r\n--outer--\r\n";
        for cut in [1usize, 7, body.len()] {
            let mut reader = reader_over(split(body, cut), "outer");
            let part = reader.next_part().await.expect("ok").expect("part");
            assert!(part.is_multipart());
            let mut nested = part.into_multipart().await.expect("nested");
            let mut files = Vec::new();
            while let Some(mut inner) = nested.next_part().await.expect("inner") {
                assert!(!inner.is_multipart());
                files.push((inner.filename(), inner.text().await.expect("text")));
            }
            assert_eq!(
                files,
                [
                    (Some("a.txt".to_string()), "A".to_string()),
                    (Some("b.txt".to_string()), "BB".to_string())
                ]
            );
            let mut last = reader.next_part().await.expect("ok").expect("last part");
            assert_eq!(last.text().await.expect("text"), "after");
        }
    }

    #[tokio::test]
    async fn content_types_without_a_boundary_are_refused() {
        for ct in [
            "text/plain",
            "multipart/mixed",
            "multipart/mixed; boundary=\"\"",
        ] {
            let content = StreamReader::from_stream(futures_util::stream::iter(Vec::<
                Result<Bytes, ClientError>,
            >::new(
            )));
            let err = MultipartReader::new(ct, content).expect_err(ct);
            assert!(err.is_content_type_error(), "{ct}");
            assert!(err.is_client_response_error(), "{ct}");
        }
    }

    #[tokio::test]
    async fn only_a_close_delimiter_is_no_parts() {
        for body in [
            &b"--b--"[..],
            b"--b--\r\n",
            b"preamble\r\n--b--\r\nepilogue",
        ] {
            let mut reader = reader_over(vec![body.to_vec()], "b");
            assert!(reader.next_part().await.expect("ok").is_none());
            assert!(reader.at_eof());
        }
    }
}
