//! [`StreamReader`]: a response body as an async byte reader, with aiohttp's reading methods.
//!
//! The reader sits on top of a stream of body chunks and keeps what it has received but not yet
//! handed out in an internal buffer. Every reading method is cancel-safe: the data a method has
//! pulled from the body lives in the reader, not in the method's future, so dropping a pending
//! `readline()` (for example on a timeout) loses nothing; the next call sees the same bytes.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, Stream};

use crate::error::{ClientError, ErrorKind};
use crate::proto::body::LeasedBody;

/// A body as a stream of byte chunks, the currency between the connection, the decoders and
/// [`StreamReader`].
pub(crate) type BodyStream =
    Pin<Box<dyn Stream<Item = Result<Bytes, ClientError>> + Send + 'static>>;

/// The longest line `readline`/`readuntil` accept by default (aiohttp's high-water mark, 2**17).
const DEFAULT_LIMIT: usize = 1 << 17;

/// How many empty chunks in a row one poll skips before yielding to the executor.
const EMPTY_CHUNK_BUDGET: usize = 32;

/// The class and message of a failure of the underlying body, replayed by later reads.
struct StoredError {
    kind: ErrorKind,
    message: String,
}

impl StoredError {
    fn to_error(&self) -> ClientError {
        ClientError::new(self.kind, self.message.clone())
    }
}

/// aiohttp's `StreamReader`: the response body as an async byte reader.
///
/// Obtained from a response's `content()`, or built from any stream of chunks with
/// [`from_stream`](Self::from_stream). It offers aiohttp's reading methods ([`read`](Self::read),
/// [`readline`](Self::readline), [`readexactly`](Self::readexactly), [`iter_chunked`](Self::iter_chunked)
/// and friends) and is itself a [`Stream`] of chunks.
///
/// All reading methods are cancel-safe: dropping one of their futures before it completes does
/// not lose any data.
///
/// Once the underlying body has failed (a truncated body, a broken connection, corrupt
/// compression), every later read returns an error of the same kind and message, as aiohttp
/// re-raises the stored exception.
///
/// ```
/// use aiohttp::StreamReader;
/// use bytes::Bytes;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), aiohttp::ClientError> {
/// let chunks = vec![Ok(Bytes::from_static(b"HTTP is ")), Ok(Bytes::from_static(b"fun\nyes"))];
/// let mut reader = StreamReader::from_stream(futures_util::stream::iter(chunks));
/// assert_eq!(reader.readline().await?, "HTTP is fun\n");
/// assert_eq!(reader.read_to_end().await?, "yes");
/// assert!(reader.at_eof());
/// # Ok(())
/// # }
/// ```
///
/// Reading a live response:
///
/// ```no_run
/// # async fn run() -> Result<(), aiohttp::ClientError> {
/// let session = aiohttp::ClientSession::new();
/// let mut resp = session.get("http://example.com/").await?;
/// let first_line = resp.content().readline().await?;
/// println!("{}", String::from_utf8_lossy(&first_line));
/// # Ok(())
/// # }
/// ```
pub struct StreamReader {
    /// Received chunks not handed out yet, oldest first; never holds an empty chunk.
    buffer: VecDeque<Bytes>,
    /// Total length of `buffer`.
    buffered: usize,
    /// The body; `None` once it ended or failed. The mutex is never locked (all access goes
    /// through `&mut self` and `Mutex::get_mut`): it only makes the reader `Sync`.
    body: Option<Mutex<Source>>,
    /// The body ended cleanly.
    eof: bool,
    /// The body failed.
    error: Option<StoredError>,
    /// The `Stream` implementation has yielded the stored error; it ends after that.
    error_yielded: bool,
    /// Longest line `readuntil` accepts, separator included.
    limit: usize,
    /// How far the last `readuntil` search got.
    scan: Scan,
}

/// What a reader takes its chunks from: a response body as read off its connection (not boxed:
/// the common case), or any other stream.
pub(crate) enum Source {
    Body(LeasedBody),
    Stream(BodyStream),
}

impl Source {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, ClientError>>> {
        match self {
            Source::Body(b) => Pin::new(b).poll_next(cx),
            Source::Stream(s) => s.as_mut().poll_next(cx),
        }
    }
}

impl StreamReader {
    /// A reader over `body`.
    pub(crate) fn new(body: BodyStream) -> Self {
        StreamReader::over(Source::Stream(body))
    }

    /// A reader over a response body as read off its connection.
    pub(crate) fn from_body(body: LeasedBody) -> Self {
        StreamReader::over(Source::Body(body))
    }

    fn over(source: Source) -> Self {
        StreamReader {
            buffer: VecDeque::new(),
            buffered: 0,
            body: Some(Mutex::new(source)),
            eof: false,
            error: None,
            error_yielded: false,
            limit: DEFAULT_LIMIT,
            scan: Scan::default(),
        }
    }

    /// A reader over any stream of body chunks.
    ///
    /// Empty chunks are skipped. An `Err` item fails the read that reaches it and every read
    /// after it.
    ///
    /// ```
    /// use aiohttp::StreamReader;
    /// use bytes::Bytes;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), aiohttp::ClientError> {
    /// let chunks = vec![Ok(Bytes::from_static(b"abc")), Ok(Bytes::new()), Ok(Bytes::from_static(b"def"))];
    /// let mut reader = StreamReader::from_stream(futures_util::stream::iter(chunks));
    /// assert_eq!(reader.read_to_end().await?, "abcdef");
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_stream<S>(s: S) -> Self
    where
        S: Stream<Item = Result<Bytes, ClientError>> + Send + 'static,
    {
        StreamReader::new(Box::pin(s))
    }

    /// A reader that is already at EOF (the body of a HEAD request, a 204, a 304).
    pub(crate) fn empty() -> Self {
        StreamReader {
            buffer: VecDeque::new(),
            buffered: 0,
            body: None,
            eof: true,
            error: None,
            error_yielded: false,
            limit: DEFAULT_LIMIT,
            scan: Scan::default(),
        }
    }

    /// Sets the longest line, separator included, that `readline`/`readuntil` accept (default
    /// 128 KiB; a response's content starts with twice the `read_bufsize` of its request).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let chunks = vec![Ok(aiohttp::Bytes::from_static(b"a long line\n"))];
    /// let mut reader = aiohttp::StreamReader::from_stream(futures_util::stream::iter(chunks));
    /// reader.set_limit(4);
    /// assert!(reader.readline().await.is_err());
    /// # }
    /// ```
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Reads up to `n` bytes (aiohttp's `read(n)`).
    ///
    /// Waits until at least one byte is available, then returns what is buffered, at most `n`
    /// bytes. The result is empty only at EOF (or when `n` is 0). Use
    /// [`read_to_end`](Self::read_to_end) for aiohttp's `read()` / `read(-1)`.
    ///
    /// ```
    /// use aiohttp::StreamReader;
    /// use bytes::Bytes;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), aiohttp::ClientError> {
    /// let chunks = vec![Ok(Bytes::from_static(b"hello world"))];
    /// let mut reader = StreamReader::from_stream(futures_util::stream::iter(chunks));
    /// assert_eq!(reader.read(5).await?, "hello");
    /// assert_eq!(reader.read(100).await?, " world");
    /// assert!(reader.read(100).await?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn read(&mut self, n: usize) -> Result<Bytes, ClientError> {
        poll_fn(|cx| self.poll_read_up_to(cx, n)).await
    }

    /// Reads the whole remaining body (aiohttp's `read()` / `read(-1)`).
    ///
    /// ```
    /// use aiohttp::StreamReader;
    /// use bytes::Bytes;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), aiohttp::ClientError> {
    /// let chunks = vec![Ok(Bytes::from_static(b"a")), Ok(Bytes::from_static(b"bc"))];
    /// let mut reader = StreamReader::from_stream(futures_util::stream::iter(chunks));
    /// assert_eq!(reader.read_to_end().await?, "abc");
    /// assert!(reader.read_to_end().await?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn read_to_end(&mut self) -> Result<Bytes, ClientError> {
        poll_fn(|cx| self.poll_read_to_end(cx, usize::MAX)).await
    }

    /// [`read_to_end`](Self::read_to_end), failing with a `ClientPayloadError` once more than
    /// `max` bytes have arrived.
    pub(crate) async fn read_to_end_at_most(&mut self, max: usize) -> Result<Bytes, ClientError> {
        poll_fn(|cx| self.poll_read_to_end(cx, max)).await
    }

    /// Returns everything buffered, or waits for the next chunk when nothing is (aiohttp's
    /// `readany()`). The result is empty only at EOF.
    ///
    /// ```
    /// use aiohttp::StreamReader;
    /// use bytes::Bytes;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), aiohttp::ClientError> {
    /// let chunks = vec![Ok(Bytes::from_static(b"first")), Ok(Bytes::from_static(b"second"))];
    /// let mut reader = StreamReader::from_stream(futures_util::stream::iter(chunks));
    /// assert_eq!(reader.readany().await?, "first");
    /// assert_eq!(reader.readany().await?, "second");
    /// assert!(reader.readany().await?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn readany(&mut self) -> Result<Bytes, ClientError> {
        poll_fn(|cx| self.poll_readany(cx)).await
    }

    /// Returns the next chunk as it was received, with aiohttp's `end_of_http_chunk` flag
    /// (aiohttp's `readchunk()`).
    ///
    /// The data is the oldest buffered piece: a chunk exactly as the body stream delivered it,
    /// or what is left of one after a partial read, or data pushed back with
    /// [`unread_data`](Self::unread_data). When nothing is buffered, waits for the next chunk.
    ///
    /// The flag: aiohttp sets it when the data ends where a chunk of the HTTP chunked
    /// transfer-coding ended. The transfer-coding is decoded below this reader and chunk
    /// boundaries of the wire format are not visible here, so the flag is always `false`, as
    /// aiohttp reports for a body that is not chunk-encoded. EOF is signalled by
    /// `(empty, false)`.
    ///
    /// ```
    /// use aiohttp::StreamReader;
    /// use bytes::Bytes;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), aiohttp::ClientError> {
    /// let chunks = vec![Ok(Bytes::from_static(b"one")), Ok(Bytes::from_static(b"two"))];
    /// let mut reader = StreamReader::from_stream(futures_util::stream::iter(chunks));
    /// let (data, _end_of_http_chunk) = reader.readchunk().await?;
    /// assert_eq!(data, "one");
    /// assert_eq!(reader.readchunk().await?.0, "two");
    /// assert_eq!(reader.readchunk().await?, (Bytes::new(), false));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn readchunk(&mut self) -> Result<(Bytes, bool), ClientError> {
        poll_fn(|cx| self.poll_readchunk(cx)).await
    }

    /// Reads one line, through `b"\n"` inclusive, or the rest of the body at EOF (aiohttp's
    /// `readline()`).
    ///
    /// Fails with a `ClientPayloadError` ("line too long") when the line, newline included, is
    /// longer than the limit (131072 bytes unless configured otherwise); the data then stays
    /// in the reader, so it can still be consumed with [`read`](Self::read).
    ///
    /// ```
    /// use aiohttp::StreamReader;
    /// use bytes::Bytes;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), aiohttp::ClientError> {
    /// let chunks = vec![Ok(Bytes::from_static(b"line one\nline")), Ok(Bytes::from_static(b" two"))];
    /// let mut reader = StreamReader::from_stream(futures_util::stream::iter(chunks));
    /// assert_eq!(reader.readline().await?, "line one\n");
    /// assert_eq!(reader.readline().await?, "line two");
    /// assert!(reader.readline().await?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn readline(&mut self) -> Result<Bytes, ClientError> {
        self.readuntil(b"\n").await
    }

    /// Reads through the next occurrence of `separator`, separator included, or the rest of the
    /// body at EOF (aiohttp's `readuntil()`).
    ///
    /// The separator may be split across chunks. The search takes time linear in the length of
    /// the line however it is split into chunks, also when a call is cancelled and repeated
    /// while the line arrives. An empty separator is an `InvalidArgument`
    /// error. Fails with a `ClientPayloadError` ("line too long") when the data up to and
    /// including the separator is longer than the limit (131072 bytes unless configured
    /// otherwise); the data then stays in the reader.
    ///
    /// ```
    /// use aiohttp::StreamReader;
    /// use bytes::Bytes;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), aiohttp::ClientError> {
    /// let chunks = vec![Ok(Bytes::from_static(b"a\r")), Ok(Bytes::from_static(b"\nb\r\n"))];
    /// let mut reader = StreamReader::from_stream(futures_util::stream::iter(chunks));
    /// assert_eq!(reader.readuntil(b"\r\n").await?, "a\r\n");
    /// assert_eq!(reader.readuntil(b"\r\n").await?, "b\r\n");
    /// assert!(reader.readuntil(b"").await.unwrap_err().is_invalid_argument());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn readuntil(&mut self, separator: &[u8]) -> Result<Bytes, ClientError> {
        if separator.is_empty() {
            return Err(ClientError::invalid_argument(
                "readuntil: the separator must not be empty",
            ));
        }
        poll_fn(|cx| self.poll_readuntil(cx, separator)).await
    }

    /// Reads exactly `n` bytes (aiohttp's `readexactly()`).
    ///
    /// When the body ends first, fails with a `ClientPayloadError` naming the expected and the
    /// received byte counts (aiohttp's `IncompleteReadError`); the partial data is consumed, as
    /// in aiohttp, and the reader is then at EOF.
    ///
    /// ```
    /// use aiohttp::StreamReader;
    /// use bytes::Bytes;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), aiohttp::ClientError> {
    /// let chunks = vec![Ok(Bytes::from_static(b"ab")), Ok(Bytes::from_static(b"cdef"))];
    /// let mut reader = StreamReader::from_stream(futures_util::stream::iter(chunks));
    /// assert_eq!(reader.readexactly(4).await?, "abcd");
    /// let err = reader.readexactly(4).await.unwrap_err();
    /// assert!(err.is_client_payload_error());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn readexactly(&mut self, n: usize) -> Result<Bytes, ClientError> {
        poll_fn(|cx| self.poll_readexactly(cx, n)).await
    }

    /// Whether the body has ended and everything received has been read.
    ///
    /// This becomes true only once the end of the body has been seen, that is after a read that
    /// had to wait for more data found none.
    ///
    /// ```
    /// use aiohttp::StreamReader;
    /// use bytes::Bytes;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), aiohttp::ClientError> {
    /// let chunks = vec![Ok(Bytes::from_static(b"data"))];
    /// let mut reader = StreamReader::from_stream(futures_util::stream::iter(chunks));
    /// assert!(!reader.at_eof());
    /// reader.read_to_end().await?;
    /// assert!(reader.at_eof());
    /// # Ok(())
    /// # }
    /// ```
    pub fn at_eof(&self) -> bool {
        self.eof && self.buffered == 0
    }

    /// Iterates over the body in chunks of exactly `n` bytes; only the last one may be shorter
    /// (aiohttp's `iter_chunked(n)`).
    ///
    /// The stream ends at EOF, or after yielding an error. `n == 0` yields one
    /// `InvalidArgument` error.
    ///
    /// ```
    /// use aiohttp::StreamReader;
    /// use bytes::Bytes;
    /// use futures_util::StreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), aiohttp::ClientError> {
    /// let chunks = vec![Ok(Bytes::from_static(b"abcde")), Ok(Bytes::from_static(b"fgh"))];
    /// let mut reader = StreamReader::from_stream(futures_util::stream::iter(chunks));
    /// let mut pieces = Vec::new();
    /// let mut iter = reader.iter_chunked(3);
    /// while let Some(piece) = iter.next().await {
    ///     pieces.push(piece?);
    /// }
    /// assert_eq!(pieces, ["abc", "def", "gh"]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn iter_chunked(
        &mut self,
        n: usize,
    ) -> impl Stream<Item = Result<Bytes, ClientError>> + Unpin + '_ {
        self.items(
            move |r, cx| {
                if n == 0 {
                    return Poll::Ready(Err(ClientError::invalid_argument(
                        "iter_chunked: the chunk size must be at least 1",
                    )));
                }
                r.poll_chunk_of(cx, n)
            },
            Bytes::is_empty,
        )
    }

    /// Iterates over the body as it arrives, each item being what [`readany`](Self::readany)
    /// returns (aiohttp's `iter_any()`).
    ///
    /// The stream ends at EOF, or after yielding an error.
    ///
    /// ```
    /// use aiohttp::StreamReader;
    /// use bytes::Bytes;
    /// use futures_util::StreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), aiohttp::ClientError> {
    /// let chunks = vec![Ok(Bytes::from_static(b"abc")), Ok(Bytes::from_static(b"def"))];
    /// let mut reader = StreamReader::from_stream(futures_util::stream::iter(chunks));
    /// let mut body = Vec::new();
    /// let mut iter = reader.iter_any();
    /// while let Some(data) = iter.next().await {
    ///     body.extend_from_slice(&data?);
    /// }
    /// assert_eq!(body, b"abcdef");
    /// # Ok(())
    /// # }
    /// ```
    pub fn iter_any(&mut self) -> impl Stream<Item = Result<Bytes, ClientError>> + Unpin + '_ {
        self.items(Self::poll_readany, Bytes::is_empty)
    }

    /// Iterates over the body as [`readchunk`](Self::readchunk) returns it: `(data,
    /// end_of_http_chunk)` pairs, the flag always `false` (aiohttp's `iter_chunks()`; see
    /// `readchunk` for why).
    ///
    /// The stream ends at EOF, or after yielding an error.
    ///
    /// ```
    /// use aiohttp::StreamReader;
    /// use bytes::Bytes;
    /// use futures_util::StreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), aiohttp::ClientError> {
    /// let chunks = vec![Ok(Bytes::from_static(b"abc")), Ok(Bytes::from_static(b"def"))];
    /// let mut reader = StreamReader::from_stream(futures_util::stream::iter(chunks));
    /// let mut iter = reader.iter_chunks();
    /// let mut count = 0;
    /// while let Some(item) = iter.next().await {
    ///     let (data, _end_of_http_chunk) = item?;
    ///     assert_eq!(data.len(), 3);
    ///     count += 1;
    /// }
    /// assert_eq!(count, 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn iter_chunks(
        &mut self,
    ) -> impl Stream<Item = Result<(Bytes, bool), ClientError>> + Unpin + '_ {
        self.items(Self::poll_readchunk, |(data, _)| data.is_empty())
    }

    /// Pushes `data` back to the front of the reader: the next read returns it first (aiohttp's
    /// `unread_data()`).
    ///
    /// ```
    /// use aiohttp::StreamReader;
    /// use bytes::Bytes;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), aiohttp::ClientError> {
    /// let chunks = vec![Ok(Bytes::from_static(b"world"))];
    /// let mut reader = StreamReader::from_stream(futures_util::stream::iter(chunks));
    /// let head = reader.read(2).await?;
    /// assert_eq!(head, "wo");
    /// reader.unread_data(head);
    /// reader.unread_data(Bytes::from_static(b"hello "));
    /// assert_eq!(reader.read_to_end().await?, "hello world");
    /// # Ok(())
    /// # }
    /// ```
    pub fn unread_data(&mut self, data: Bytes) {
        if !data.is_empty() {
            self.buffered += data.len();
            self.buffer.push_front(data);
            self.scan.valid = false;
        }
    }

    /// The items `poll` reads one after the other, up to the first one `is_end` says marks the
    /// end (not yielded) or the first error (yielded, and then the stream ends).
    fn items<'a, T: 'a>(
        &'a mut self,
        mut poll: impl FnMut(&mut Self, &mut Context<'_>) -> Poll<Result<T, ClientError>> + Unpin + 'a,
        is_end: fn(&T) -> bool,
    ) -> impl Stream<Item = Result<T, ClientError>> + Unpin + 'a {
        let mut done = false;
        stream::poll_fn(move |cx| {
            if done {
                return Poll::Ready(None);
            }
            match ready!(poll(self, cx)) {
                Ok(item) if is_end(&item) => {
                    done = true;
                    Poll::Ready(None)
                }
                Ok(item) => Poll::Ready(Some(Ok(item))),
                Err(e) => {
                    done = true;
                    Poll::Ready(Some(Err(e)))
                }
            }
        })
    }

    // ---- poll-based cores: each mutates `self` only when it makes progress ----

    /// The stored failure, if the body has failed.
    fn check_error(&self) -> Result<(), ClientError> {
        match &self.error {
            Some(e) => Err(e.to_error()),
            None => Ok(()),
        }
    }

    /// Moves the next non-empty chunk of the body into the buffer: `Ok(true)` when a chunk was
    /// added, `Ok(false)` at EOF.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, ClientError>> {
        match ready!(self.poll_chunk(cx))? {
            Some(chunk) => {
                self.push_back(chunk);
                Poll::Ready(Ok(true))
            }
            None => Poll::Ready(Ok(false)),
        }
    }

    /// Like [`poll_fill`](Self::poll_fill), but only when nothing is buffered: `Ok(false)` when
    /// the buffer is empty at EOF.
    fn poll_any(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, ClientError>> {
        if self.buffered > 0 {
            return Poll::Ready(Ok(true));
        }
        self.poll_fill(cx)
    }

    /// Fills the buffer until it holds `n` bytes: `Ok(false)` when the body ends first.
    fn poll_fill_to(&mut self, cx: &mut Context<'_>, n: usize) -> Poll<Result<bool, ClientError>> {
        while self.buffered < n {
            if !ready!(self.poll_fill(cx))? {
                return Poll::Ready(Ok(false));
            }
        }
        Poll::Ready(Ok(true))
    }

    /// Appends a chunk to the buffer.
    fn push_back(&mut self, chunk: Bytes) {
        self.buffered += chunk.len();
        self.buffer.push_back(chunk);
    }

    /// The next non-empty chunk of the body, not buffered; `None` at its end.
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, ClientError>> {
        self.check_error()?;
        let mut budget = EMPTY_CHUNK_BUDGET;
        loop {
            let Some(body) = self.body.as_mut() else {
                return Poll::Ready(Ok(None));
            };
            let body = body.get_mut().unwrap_or_else(PoisonError::into_inner);
            match ready!(body.poll_next(cx)) {
                Some(Ok(chunk)) if chunk.is_empty() => {
                    budget -= 1;
                    if budget == 0 {
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                }
                Some(Ok(chunk)) => return Poll::Ready(Ok(Some(chunk))),
                Some(Err(e)) => {
                    self.body = None;
                    self.error = Some(StoredError {
                        kind: e.kind(),
                        message: e.message().to_owned(),
                    });
                    return Poll::Ready(Err(e));
                }
                None => {
                    self.body = None;
                    self.eof = true;
                    return Poll::Ready(Ok(None));
                }
            }
        }
    }

    /// Removes and returns the first `n` bytes of the buffer (fewer if fewer are buffered).
    fn take(&mut self, n: usize) -> Bytes {
        let n = n.min(self.buffered);
        if n == 0 {
            return Bytes::new();
        }
        self.buffered -= n;
        self.scan.valid = false;
        let front_len = self.buffer.front().map_or(0, Bytes::len);
        if front_len == n {
            return self.buffer.pop_front().unwrap_or_default();
        }
        if front_len > n {
            if let Some(front) = self.buffer.front_mut() {
                return front.split_to(n);
            }
        }
        let mut out = BytesMut::with_capacity(n);
        while out.len() < n {
            let want = n - out.len();
            let Some(front) = self.buffer.front_mut() else {
                break;
            };
            if front.len() > want {
                out.extend_from_slice(&front.split_to(want));
            } else {
                out.extend_from_slice(front);
                self.buffer.pop_front();
            }
        }
        out.freeze()
    }

    /// The offset just past the first occurrence of `sep` (non-empty) in the buffered data
    /// seen as one byte string, or `None` when it holds none yet.
    ///
    /// The search resumes where the previous one for the same separator stopped, as long as
    /// nothing was consumed or pushed back since, so waiting for a long line chunk by chunk
    /// (or retrying a cancelled `readuntil`) looks at every byte once.
    fn find_end(&mut self, sep: &[u8]) -> Option<usize> {
        let scan = &mut self.scan;
        if !scan.valid || scan.sep != sep {
            scan.restart(sep);
        }
        while let Some(chunk) = self.buffer.get(scan.chunk) {
            if let Some(end) = scan.feed(chunk) {
                return Some(end);
            }
        }
        None
    }

    fn line_too_long(&self) -> ClientError {
        ClientError::payload(format!(
            "line too long: no separator within {} bytes",
            self.limit
        ))
    }

    fn poll_read_up_to(
        &mut self,
        cx: &mut Context<'_>,
        n: usize,
    ) -> Poll<Result<Bytes, ClientError>> {
        self.check_error()?;
        if n == 0 {
            return Poll::Ready(Ok(Bytes::new()));
        }
        if !ready!(self.poll_any(cx))? {
            return Poll::Ready(Ok(Bytes::new()));
        }
        Poll::Ready(Ok(self.take(n)))
    }

    /// Everything up to the end, or an error once more than `max` bytes are buffered.
    fn poll_read_to_end(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
    ) -> Poll<Result<Bytes, ClientError>> {
        let too_large = || {
            Poll::Ready(Err(ClientError::payload(format!(
                "the body is larger than max_body_size ({max} bytes); stream it with content(), \
                 or raise the limit"
            ))))
        };
        if self.buffered == 0 {
            // A body that arrives as one chunk is handed over as it is, never buffered.
            let Some(first) = ready!(self.poll_chunk(cx))? else {
                return Poll::Ready(Ok(Bytes::new()));
            };
            if first.len() > max {
                return too_large();
            }
            let next = match self.poll_chunk(cx) {
                Poll::Ready(Ok(None)) => return Poll::Ready(Ok(first)),
                other => other,
            };
            self.push_back(first);
            match next {
                Poll::Ready(Ok(Some(chunk))) => self.push_back(chunk),
                Poll::Ready(Ok(None)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        while self.buffered <= max && ready!(self.poll_fill(cx))? {}
        if self.buffered > max {
            return too_large();
        }
        Poll::Ready(Ok(self.take(self.buffered)))
    }

    fn poll_readany(&mut self, cx: &mut Context<'_>) -> Poll<Result<Bytes, ClientError>> {
        self.check_error()?;
        if !ready!(self.poll_any(cx))? {
            return Poll::Ready(Ok(Bytes::new()));
        }
        Poll::Ready(Ok(self.take(self.buffered)))
    }

    fn poll_readchunk(&mut self, cx: &mut Context<'_>) -> Poll<Result<(Bytes, bool), ClientError>> {
        self.check_error()?;
        if !ready!(self.poll_any(cx))? {
            return Poll::Ready(Ok((Bytes::new(), false)));
        }
        Poll::Ready(Ok((self.pop_chunk().unwrap_or_default(), false)))
    }

    fn poll_readuntil(
        &mut self,
        cx: &mut Context<'_>,
        sep: &[u8],
    ) -> Poll<Result<Bytes, ClientError>> {
        self.check_error()?;
        loop {
            if let Some(end) = self.find_end(sep) {
                if end > self.limit {
                    return Poll::Ready(Err(self.line_too_long()));
                }
                return Poll::Ready(Ok(self.take(end)));
            }
            if self.buffered > self.limit {
                return Poll::Ready(Err(self.line_too_long()));
            }
            if !ready!(self.poll_fill(cx))? {
                return Poll::Ready(Ok(self.take(self.buffered)));
            }
        }
    }

    fn poll_readexactly(
        &mut self,
        cx: &mut Context<'_>,
        n: usize,
    ) -> Poll<Result<Bytes, ClientError>> {
        self.check_error()?;
        if !ready!(self.poll_fill_to(cx, n))? {
            let got = self.take(self.buffered).len();
            return Poll::Ready(Err(ClientError::payload(format!(
                "IncompleteReadError: expected {n} bytes, got {got} before the end of the body"
            ))));
        }
        Poll::Ready(Ok(self.take(n)))
    }

    /// `n` bytes, or fewer at EOF; empty only at EOF.
    fn poll_chunk_of(
        &mut self,
        cx: &mut Context<'_>,
        n: usize,
    ) -> Poll<Result<Bytes, ClientError>> {
        self.check_error()?;
        ready!(self.poll_fill_to(cx, n))?;
        Poll::Ready(Ok(self.take(n)))
    }

    /// Removes the oldest buffered chunk as a whole.
    fn pop_chunk(&mut self) -> Option<Bytes> {
        let chunk = self.buffer.pop_front()?;
        self.buffered -= chunk.len();
        self.scan.valid = false;
        Some(chunk)
    }
}

// Work done by `readuntil` searches on this thread: one unit per chunk visited and per byte
// looked at. Tests bound it to prove the search is linear without relying on timing.
#[cfg(test)]
thread_local! {
    static SCAN_WORK: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
fn count_scan(units: usize) {
    SCAN_WORK.with(|w| w.set(w.get() + units));
}

#[cfg(not(test))]
fn count_scan(_units: usize) {}

/// Where a `readuntil` search stands in the buffer.
///
/// The search runs a Knuth-Morris-Pratt automaton over the buffered chunks, so an occurrence
/// split across chunks is found without going back, and remembers its state at the last chunk
/// boundary it reached.
#[derive(Debug, Default)]
struct Scan {
    /// The separator the state belongs to.
    sep: Vec<u8>,
    /// For each prefix `sep[..=i]`, the length of its longest proper prefix that is also its
    /// suffix: where a partial match falls back to when the next byte does not continue it.
    fallback: Vec<usize>,
    /// Index in the buffer of the first chunk not searched yet.
    chunk: usize,
    /// Offset of that chunk in the buffered data.
    offset: usize,
    /// How many leading bytes of `sep` the searched data ends with.
    matched: usize,
    /// False once the front of the buffer changed: the positions above no longer hold.
    valid: bool,
}

impl Scan {
    /// Starts a new search for `sep` (non-empty) at the front of the buffer.
    fn restart(&mut self, sep: &[u8]) {
        if self.sep != sep {
            self.sep.clear();
            self.sep.extend_from_slice(sep);
            self.fallback.clear();
            self.fallback.push(0);
            let mut k = 0;
            for &b in sep.iter().skip(1) {
                while k > 0 && sep[k] != b {
                    k = self.fallback[k - 1];
                }
                if sep[k] == b {
                    k += 1;
                }
                self.fallback.push(k);
            }
        }
        self.chunk = 0;
        self.offset = 0;
        self.matched = 0;
        self.valid = true;
    }

    /// Searches `data`, the next chunk: the offset in the buffered data just past the first
    /// occurrence that ends in it, if any. Without one, the state moves past the chunk; with
    /// one, it stays before it, so asking again gives the same answer.
    fn feed(&mut self, data: &[u8]) -> Option<usize> {
        let sep = self.sep.as_slice();
        let first = *sep.first()?;
        let mut matched = self.matched;
        let mut i = 0;
        while i < data.len() {
            if matched == 0 {
                // Only an occurrence of the first byte can start a match.
                match memchr::memchr(first, data.get(i..).unwrap_or_default()) {
                    Some(skip) => i += skip,
                    None => break,
                }
            }
            let b = data[i];
            while matched > 0 && sep[matched] != b {
                matched = self.fallback[matched - 1];
            }
            if sep[matched] == b {
                matched += 1;
            }
            i += 1;
            if matched == sep.len() {
                count_scan(1 + i);
                return Some(self.offset + i);
            }
        }
        count_scan(1 + data.len());
        self.matched = matched;
        self.chunk += 1;
        self.offset += data.len();
        None
    }
}

/// Yields buffered data first, then the body's chunks as they arrive; ends at EOF.
///
/// When the body fails, the error is yielded once and the stream then ends.
///
/// ```
/// use aiohttp::StreamReader;
/// use bytes::Bytes;
/// use futures_util::TryStreamExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), aiohttp::ClientError> {
/// let chunks = vec![Ok(Bytes::from_static(b"ab")), Ok(Bytes::from_static(b"cd"))];
/// let reader = StreamReader::from_stream(futures_util::stream::iter(chunks));
/// let all: Vec<Bytes> = reader.try_collect().await?;
/// assert_eq!(all, ["ab", "cd"]);
/// # Ok(())
/// # }
/// ```
impl Stream for StreamReader {
    type Item = Result<Bytes, ClientError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(e) = &this.error {
            if this.error_yielded {
                return Poll::Ready(None);
            }
            this.error_yielded = true;
            return Poll::Ready(Some(Err(e.to_error())));
        }
        if let Some(chunk) = this.pop_chunk() {
            return Poll::Ready(Some(Ok(chunk)));
        }
        match ready!(this.poll_fill(cx)) {
            Ok(true) => Poll::Ready(this.pop_chunk().map(Ok)),
            Ok(false) => Poll::Ready(None),
            Err(e) => {
                this.error_yielded = true;
                Poll::Ready(Some(Err(e)))
            }
        }
    }
}

/// Shows the reader's state: buffered byte count, EOF, stored error.
///
/// ```
/// use aiohttp::StreamReader;
/// let reader = StreamReader::from_stream(futures_util::stream::empty());
/// assert!(format!("{reader:?}").starts_with("StreamReader"));
/// ```
impl fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("StreamReader");
        d.field("buffered", &self.buffered)
            .field("eof", &self.eof)
            .field("limit", &self.limit);
        if let Some(e) = &self.error {
            d.field("error", &format_args!("{:?}: {}", e.kind, e.message));
        }
        d.finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use futures_util::{StreamExt, TryStreamExt};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn items(chunks: &[&'static [u8]]) -> Vec<Result<Bytes, ClientError>> {
        chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect()
    }

    fn reader(chunks: &[&'static [u8]]) -> StreamReader {
        StreamReader::from_stream(stream::iter(items(chunks)))
    }

    fn one_byte_chunks(data: &'static [u8]) -> StreamReader {
        let items: Vec<Result<Bytes, ClientError>> = (0..data.len())
            .map(|i| Ok(Bytes::from_static(data).slice(i..i + 1)))
            .collect();
        StreamReader::from_stream(stream::iter(items))
    }

    fn failing(chunks: &[&'static [u8]]) -> StreamReader {
        let mut items = items(chunks);
        items.push(Err(ClientError::payload(
            "Response payload is not completed",
        )
        .with_source(std::io::Error::other("boom"))));
        items.push(Ok(Bytes::from_static(b"never seen")));
        StreamReader::from_stream(stream::iter(items))
    }

    #[tokio::test]
    async fn read_to_end_hands_over_a_single_chunk_and_joins_several() {
        static DATA: &[u8] = b"one chunk";
        let mut r = reader(&[DATA]);
        let all = r.read_to_end().await.expect("body");
        assert_eq!(all.as_ptr(), DATA.as_ptr(), "the chunk itself, not a copy");
        assert!(r.at_eof());
        // Several chunks, with a wait between them: joined in order.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, ClientError>>(4);
        let mut r = StreamReader::from_stream(tokio_stream_of(rx));
        tx.send(Ok(Bytes::from_static(b"ab"))).await.expect("send");
        let feeder = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            tx.send(Ok(Bytes::from_static(b"cd"))).await.expect("send");
            tx.send(Ok(Bytes::from_static(b"ef"))).await.expect("send");
        });
        assert_eq!(r.read_to_end().await.expect("body"), "abcdef");
        feeder.await.expect("feeder");
        // An error after the first chunk fails the whole read.
        let mut r = failing(&[b"xy"]);
        assert!(r.read_to_end().await.is_err());
    }

    fn tokio_stream_of(
        mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, ClientError>>,
    ) -> impl futures_util::Stream<Item = Result<Bytes, ClientError>> + Send + 'static {
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }

    #[test]
    fn reader_is_send_sync_unpin() {
        fn assert_traits<T: Send + Sync + Unpin + 'static>() {}
        assert_traits::<StreamReader>();
    }

    #[tokio::test]
    async fn read_returns_up_to_n_and_empty_at_eof() {
        let mut r = reader(&[b"hello", b" ", b"world"]);
        assert_eq!(r.read(3).await.unwrap(), "hel");
        assert_eq!(r.read(100).await.unwrap(), "lo");
        assert_eq!(r.read(0).await.unwrap(), "");
        assert_eq!(r.read(100).await.unwrap(), " ");
        assert_eq!(r.read(100).await.unwrap(), "world");
        assert!(!r.at_eof());
        assert_eq!(r.read(100).await.unwrap(), "");
        assert!(r.at_eof());
        assert_eq!(r.read(100).await.unwrap(), "");
    }

    #[tokio::test]
    async fn read_spans_buffered_chunks() {
        let mut r = reader(&[b"ab", b"cd", b"ef"]);
        assert_eq!(r.readexactly(1).await.unwrap(), "a");
        r.unread_data(Bytes::from_static(b"xy"));
        // Buffered: "xy", "b"; read(10) returns what is buffered without waiting for more.
        assert_eq!(r.read(10).await.unwrap(), "xyb");
        assert_eq!(r.read(3).await.unwrap(), "cd");
    }

    #[tokio::test]
    async fn read_to_end_collects_everything() {
        let mut r = reader(&[b"a", b"", b"bc", b"", b"def"]);
        assert_eq!(r.read(1).await.unwrap(), "a");
        assert_eq!(r.read_to_end().await.unwrap(), "bcdef");
        assert!(r.at_eof());
        assert_eq!(r.read_to_end().await.unwrap(), "");
    }

    #[tokio::test]
    async fn empty_reader_is_at_eof() {
        let mut r = StreamReader::empty();
        assert!(r.at_eof());
        assert_eq!(r.read(10).await.unwrap(), "");
        assert_eq!(r.readline().await.unwrap(), "");
        assert_eq!(r.readchunk().await.unwrap(), (Bytes::new(), false));
        assert!(r.next().await.is_none());

        let mut r = reader(&[]);
        assert!(!r.at_eof());
        assert_eq!(r.readany().await.unwrap(), "");
        assert!(r.at_eof());
    }

    #[tokio::test]
    async fn readany_returns_buffer_or_next_chunk() {
        let mut r = reader(&[b"abc", b"def", b"ghi"]);
        assert_eq!(r.readany().await.unwrap(), "abc");
        assert_eq!(r.read(1).await.unwrap(), "d");
        r.unread_data(Bytes::from_static(b"-"));
        assert_eq!(r.readany().await.unwrap(), "-ef");
        assert_eq!(r.readany().await.unwrap(), "ghi");
        assert_eq!(r.readany().await.unwrap(), "");
        assert!(r.at_eof());
    }

    #[tokio::test]
    async fn readchunk_returns_chunks_with_false_flag() {
        let mut r = reader(&[b"abc", b"", b"def"]);
        assert_eq!(r.read(1).await.unwrap(), "a");
        assert_eq!(
            r.readchunk().await.unwrap(),
            (Bytes::from_static(b"bc"), false)
        );
        assert_eq!(
            r.readchunk().await.unwrap(),
            (Bytes::from_static(b"def"), false)
        );
        assert_eq!(r.readchunk().await.unwrap(), (Bytes::new(), false));
        assert!(r.at_eof());
    }

    #[tokio::test]
    async fn readline_handles_lines_split_across_chunks() {
        let mut r = reader(&[b"fir", b"st\nsec", b"ond\n", b"\nthird"]);
        assert_eq!(r.readline().await.unwrap(), "first\n");
        assert_eq!(r.readline().await.unwrap(), "second\n");
        assert_eq!(r.readline().await.unwrap(), "\n");
        assert_eq!(r.readline().await.unwrap(), "third");
        assert_eq!(r.readline().await.unwrap(), "");
        assert!(r.at_eof());
    }

    #[tokio::test]
    async fn readline_with_one_byte_chunks() {
        let mut r = one_byte_chunks(b"ab\ncd\n\nef");
        assert_eq!(r.readline().await.unwrap(), "ab\n");
        assert_eq!(r.readline().await.unwrap(), "cd\n");
        assert_eq!(r.readline().await.unwrap(), "\n");
        assert_eq!(r.readline().await.unwrap(), "ef");
        assert_eq!(r.readline().await.unwrap(), "");
    }

    #[tokio::test]
    async fn readuntil_separator_split_across_chunks() {
        let mut r = reader(&[b"part1--", b"-", b"-part2---", b"-end"]);
        assert_eq!(r.readuntil(b"----").await.unwrap(), "part1----");
        assert_eq!(r.readuntil(b"----").await.unwrap(), "part2----");
        assert_eq!(r.readuntil(b"----").await.unwrap(), "end");
        assert_eq!(r.readuntil(b"----").await.unwrap(), "");

        let mut r = one_byte_chunks(b"a\r\nbb\r\n\r\nc\r");
        assert_eq!(r.readuntil(b"\r\n").await.unwrap(), "a\r\n");
        assert_eq!(r.readuntil(b"\r\n").await.unwrap(), "bb\r\n");
        assert_eq!(r.readuntil(b"\r\n").await.unwrap(), "\r\n");
        assert_eq!(r.readuntil(b"\r\n").await.unwrap(), "c\r");
    }

    #[tokio::test]
    async fn readuntil_finds_earliest_occurrence_with_overlaps() {
        // A partial match at a chunk end must not hide a later full match.
        let mut r = reader(&[b"xaa", b"ab", b"yaab"]);
        assert_eq!(r.readuntil(b"aab").await.unwrap(), "xaaab");
        assert_eq!(r.readuntil(b"aab").await.unwrap(), "yaab");
        // The separator longer than every chunk.
        let mut r = reader(&[b"1", b"<", b"-", b"-", b">2<-->"]);
        assert_eq!(r.readuntil(b"<-->").await.unwrap(), "1<-->");
        assert_eq!(r.readuntil(b"<-->").await.unwrap(), "2<-->");
    }

    #[tokio::test]
    async fn readuntil_rejects_empty_separator() {
        let mut r = reader(&[b"abc"]);
        let err = r.readuntil(b"").await.unwrap_err();
        assert!(err.is_invalid_argument());
        assert_eq!(r.read_to_end().await.unwrap(), "abc");
    }

    #[tokio::test]
    async fn readline_too_long_fails_and_keeps_data() {
        let mut r = reader(&[b"0123", b"4567", b"89\nrest"]);
        r.set_limit(8);
        let err = r.readline().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ClientPayloadError);
        assert!(err.message().contains("line too long"), "{err}");
        // Not sticky, and nothing was consumed.
        assert_eq!(r.read_to_end().await.unwrap(), "0123456789\nrest");

        // A line that fits exactly, separator included.
        let mut r = reader(&[b"0123456\n", b"0123", b"4567", b"\n"]);
        r.set_limit(8);
        assert_eq!(r.readline().await.unwrap(), "0123456\n");
        assert!(r.readline().await.unwrap_err().is_client_payload_error());

        // The default limit is aiohttp's 2**17.
        let long: &'static [u8] = Box::leak(vec![b'x'; DEFAULT_LIMIT + 1].into_boxed_slice());
        let mut r = reader(&[long, b"\n"]);
        assert!(r.readline().await.unwrap_err().is_client_payload_error());
        let ok: &'static [u8] = Box::leak(vec![b'y'; DEFAULT_LIMIT - 1].into_boxed_slice());
        let mut r = reader(&[ok, b"\n"]);
        assert_eq!(r.readline().await.unwrap().len(), DEFAULT_LIMIT);
    }

    #[tokio::test]
    async fn readexactly_across_chunks_and_short_read() {
        let mut r = one_byte_chunks(b"abcdefg");
        assert_eq!(r.readexactly(0).await.unwrap(), "");
        assert_eq!(r.readexactly(3).await.unwrap(), "abc");
        assert_eq!(r.readexactly(2).await.unwrap(), "de");
        let err = r.readexactly(5).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ClientPayloadError);
        assert!(err.message().contains("expected 5"), "{err}");
        assert!(err.message().contains("got 2"), "{err}");
        // The partial data was consumed; the reader is at EOF and not failed.
        assert!(r.at_eof());
        assert_eq!(r.read(1).await.unwrap(), "");
    }

    #[tokio::test]
    async fn errors_propagate_and_stick() {
        let mut r = failing(&[b"line1\npart"]);
        assert_eq!(r.readline().await.unwrap(), "line1\n");
        let first = r.readline().await.unwrap_err();
        assert!(first.is_client_payload_error());
        assert!(std::error::Error::source(&first).is_some());
        for _ in 0..2 {
            let again = r.read(10).await.unwrap_err();
            assert_eq!(again.kind(), ErrorKind::ClientPayloadError);
            assert_eq!(again.message(), first.message());
        }
        assert!(r.readany().await.is_err());
        assert!(r.readchunk().await.is_err());
        assert!(r.readexactly(1).await.is_err());
        assert!(r.read_to_end().await.is_err());
        assert!(r.readuntil(b"x").await.is_err());
        assert!(!r.at_eof());
        // As a stream: the error once, then the end.
        assert!(r.next().await.is_some_and(|item| item.is_err()));
        assert!(r.next().await.is_none());
        assert!(format!("{r:?}").contains("ClientPayloadError"));
    }

    #[tokio::test]
    async fn error_kind_is_preserved() {
        let items: Vec<Result<Bytes, ClientError>> = vec![
            Ok(Bytes::from_static(b"x")),
            Err(ClientError::new(
                ErrorKind::SocketTimeoutError,
                "read timed out",
            )),
        ];
        let mut r = StreamReader::from_stream(stream::iter(items));
        let err = r.read_to_end().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::SocketTimeoutError);
        let again = r.read(1).await.unwrap_err();
        assert_eq!(again.kind(), ErrorKind::SocketTimeoutError);
        assert_eq!(again.message(), "read timed out");
    }

    #[tokio::test]
    async fn iter_chunked_yields_exact_sizes() {
        let mut r = reader(&[b"abcde", b"f", b"", b"ghijk"]);
        let pieces: Vec<Bytes> = r.iter_chunked(4).try_collect().await.unwrap();
        assert_eq!(pieces, ["abcd", "efgh", "ijk"]);
        assert!(r.at_eof());

        let mut r = one_byte_chunks(b"abcdef");
        let pieces: Vec<Bytes> = r.iter_chunked(2).try_collect().await.unwrap();
        assert_eq!(pieces, ["ab", "cd", "ef"]);

        let mut r = reader(&[b"abc"]);
        let items: Vec<_> = r.iter_chunked(0).collect().await;
        assert_eq!(items.len(), 1);
        assert!(items
            .iter()
            .all(|i| i.as_ref().is_err_and(|e| e.is_invalid_argument())));
    }

    #[tokio::test]
    async fn iterators_end_after_error() {
        let mut r = failing(&[b"abc", b"def"]);
        let items: Vec<_> = r.iter_chunked(4).collect().await;
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].as_ref().unwrap(), "abcd");
        assert!(items[1].is_err());

        let mut r = failing(&[b"abc"]);
        let items: Vec<_> = r.iter_any().collect().await;
        assert_eq!(items.len(), 2);
        assert!(items[1].is_err());

        let mut r = failing(&[b"abc"]);
        let items: Vec<_> = r.iter_chunks().collect().await;
        assert_eq!(items.len(), 2);
        assert!(items[1].is_err());
    }

    #[tokio::test]
    async fn iter_any_and_iter_chunks() {
        let mut r = reader(&[b"ab", b"", b"cd", b"ef"]);
        assert_eq!(r.read(1).await.unwrap(), "a");
        let all: Vec<Bytes> = r.iter_any().try_collect().await.unwrap();
        assert_eq!(all, ["b", "cd", "ef"]);
        assert!(r.at_eof());

        let mut r = reader(&[b"ab", b"cd"]);
        let all: Vec<(Bytes, bool)> = r.iter_chunks().try_collect().await.unwrap();
        assert_eq!(
            all,
            [
                (Bytes::from_static(b"ab"), false),
                (Bytes::from_static(b"cd"), false)
            ]
        );
    }

    #[tokio::test]
    async fn stream_impl_yields_buffer_then_chunks() {
        let mut r = reader(&[b"abc", b"", b"def", b"gh"]);
        assert_eq!(r.read(1).await.unwrap(), "a");
        r.unread_data(Bytes::from_static(b"<"));
        r.unread_data(Bytes::new());
        let all: Vec<Bytes> = (&mut r).try_collect().await.unwrap();
        assert_eq!(all, ["<", "bc", "def", "gh"]);
        assert!(r.at_eof());
        assert!(r.next().await.is_none());
    }

    #[tokio::test]
    async fn unread_data_after_eof() {
        let mut r = reader(&[b"abc"]);
        assert_eq!(r.read_to_end().await.unwrap(), "abc");
        assert!(r.at_eof());
        r.unread_data(Bytes::from_static(b"bc"));
        assert!(!r.at_eof());
        assert_eq!(r.readline().await.unwrap(), "bc");
        assert!(r.at_eof());
    }

    /// A body whose chunks are released one at a time by the test.
    fn gated(chunks: Vec<&'static [u8]>) -> (StreamReader, tokio::sync::mpsc::UnboundedSender<()>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let body = stream::unfold((rx, chunks.into_iter()), |(mut rx, mut it)| async move {
            rx.recv().await?;
            let chunk = it.next()?;
            Some((Ok(Bytes::from_static(chunk)), (rx, it)))
        });
        (StreamReader::from_stream(body), tx)
    }

    #[tokio::test]
    async fn cancelled_reads_lose_nothing() {
        let (mut r, gate) = gated(vec![b"hel", b"lo\nwor", b"ld"]);
        gate.send(()).unwrap();
        // readline buffers "hel" and then waits: cancel it.
        let res = tokio::time::timeout(std::time::Duration::from_millis(20), r.readline()).await;
        assert!(res.is_err());
        // readexactly(100) waits after buffering more: cancel it too.
        gate.send(()).unwrap();
        let res =
            tokio::time::timeout(std::time::Duration::from_millis(20), r.readexactly(100)).await;
        assert!(res.is_err());
        gate.send(()).unwrap();
        gate.send(()).unwrap();
        assert_eq!(r.readline().await.unwrap(), "hello\n");
        assert_eq!(r.read_to_end().await.unwrap(), "world");
    }

    #[tokio::test]
    async fn long_runs_of_empty_chunks_are_skipped() {
        let count = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&count);
        let body = stream::iter(0..1000).map(move |i| {
            seen.fetch_add(1, Ordering::SeqCst);
            if i == 999 {
                Ok(Bytes::from_static(b"x"))
            } else {
                Ok(Bytes::new())
            }
        });
        let mut r = StreamReader::from_stream(body);
        assert_eq!(r.readany().await.unwrap(), "x");
        assert_eq!(count.load(Ordering::SeqCst), 1000);
        assert_eq!(r.readany().await.unwrap(), "");
    }

    fn scan_work() -> usize {
        SCAN_WORK.with(std::cell::Cell::get)
    }

    /// `prefix_len` bytes of `filler` and then `sep`, one byte per chunk, then `b"tail"`. The
    /// body fails once the search has done more than `budget` units of work, so a search that
    /// rescans the buffer fails fast instead of running for minutes.
    fn one_byte_line(
        filler: u8,
        prefix_len: usize,
        sep: &[u8],
        budget: usize,
    ) -> impl Stream<Item = Result<Bytes, ClientError>> + Send + 'static {
        let mut data = vec![filler; prefix_len];
        data.extend_from_slice(sep);
        let data = Bytes::from(data);
        let ones = (0..data.len()).map(move |i| data.slice(i..i + 1));
        stream::iter(ones.chain([Bytes::from_static(b"tail")])).map(move |chunk| {
            if scan_work() > budget {
                return Err(ClientError::payload(format!(
                    "scan budget of {budget} exceeded: {} units",
                    scan_work()
                )));
            }
            Ok(chunk)
        })
    }

    #[tokio::test]
    async fn readuntil_scans_each_byte_a_bounded_number_of_times() {
        const N: usize = 200_000;
        let cases: [(u8, &[u8]); 4] = [
            (b'x', b"\n"),
            (b'x', b"\r\n"),
            (b'-', b"<-->"),
            // Every filler byte extends a partial match that the next one breaks.
            (b'a', b"aab"),
        ];
        for (filler, sep) in cases {
            let len = N + sep.len();
            let budget = 4 * len;
            SCAN_WORK.with(|w| w.set(0));
            let mut r = StreamReader::from_stream(one_byte_line(filler, N, sep, budget));
            r.set_limit(len);
            let line = r.readuntil(sep).await.unwrap();
            assert_eq!(line.len(), len, "{sep:?}");
            assert!(line.ends_with(sep));
            let work = scan_work();
            assert!(work <= budget, "{sep:?}: {work} units for {len} bytes");
            assert_eq!(r.read_to_end().await.unwrap(), "tail");
        }
    }

    #[tokio::test]
    async fn readuntil_resumed_after_cancellation_does_not_rescan() {
        use futures_util::FutureExt;
        const N: usize = 50_000;
        let len = N + 2;
        let budget = 4 * len;
        SCAN_WORK.with(|w| w.set(0));
        // The body is pending before every chunk, so each call below buffers one chunk,
        // searches it and is dropped.
        let mut body = one_byte_line(b'x', N, b"\r\n", budget).boxed();
        let mut pending = false;
        let body = stream::poll_fn(move |cx| {
            pending = !pending;
            if pending {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            body.poll_next_unpin(cx)
        });
        let mut r = StreamReader::from_stream(body);
        r.set_limit(len);
        let mut calls = 0;
        let line = loop {
            calls += 1;
            assert!(calls <= 2 * len, "no progress");
            if let Some(res) = r.readuntil(b"\r\n").now_or_never() {
                break res.unwrap();
            }
        };
        assert_eq!(line.len(), len);
        let work = scan_work();
        assert!(work <= budget, "{work} units for {len} bytes");
    }

    #[tokio::test]
    async fn readuntil_agrees_with_a_naive_search() {
        // Pseudo-random bodies over a small alphabet, cut at random places, with separators
        // that overlap themselves.
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % n).unwrap()
        };
        let seps: [&[u8]; 6] = [b"a", b"ab", b"aab", b"abab", b"abaab", b"bbb"];
        for round in 0..300 {
            let sep = seps[round % seps.len()];
            let len = next(60);
            let data: Vec<u8> = (0..len).map(|_| b"ab"[next(2)]).collect();
            let mut chunks = Vec::new();
            let mut at = 0;
            while at < data.len() {
                let n = (1 + next(7)).min(data.len() - at);
                chunks.push(Ok(Bytes::copy_from_slice(&data[at..at + n])));
                at += n;
            }
            let mut r = StreamReader::from_stream(stream::iter(chunks));
            let mut rest = &data[..];
            loop {
                let want = match rest.windows(sep.len()).position(|w| w == sep) {
                    Some(p) => &rest[..p + sep.len()],
                    None => rest,
                };
                let got = r.readuntil(sep).await.unwrap();
                assert_eq!(got, want, "{data:?} / {sep:?}");
                rest = &rest[want.len()..];
                if got.is_empty() {
                    break;
                }
            }
        }
    }

    #[test]
    fn find_across_chunks() {
        let mut r = StreamReader::empty();
        for chunk in [&b"ab"[..], b"c", b"dab", b"cd"] {
            r.push_back(Bytes::from_static(chunk));
        }
        // "abcdabcd"
        assert_eq!(r.find_end(b"abcd"), Some(4));
        assert_eq!(r.find_end(b"cda"), Some(5));
        assert_eq!(r.find_end(b"d"), Some(4));
        assert_eq!(r.find_end(b"dabcd"), Some(8));
        assert_eq!(r.find_end(b"abcde"), None);
        assert_eq!(r.find_end(b"x"), None);
        // A search that found nothing resumes with its partial match when data arrives.
        assert_eq!(r.find_end(b"bcdx"), None);
        r.push_back(Bytes::from_static(b"x"));
        assert_eq!(r.find_end(b"bcdx"), Some(9));
        // Consuming data restarts the search at the new front.
        assert_eq!(StreamReader::take(&mut r, 2), "ab");
        assert_eq!(r.find_end(b"ab"), Some(4));
        r.unread_data(Bytes::from_static(b"ab"));
        assert_eq!(r.find_end(b"ab"), Some(2));
    }
}
