//! Request bodies: what `RequestBuilder::data` accepts, and the wire body handed to hyper.

use std::fmt;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::stream::{BoxStream, Stream, StreamExt};
use http::HeaderValue;
use http_body::{Frame, SizeHint};
use tokio::io::AsyncRead;
use tokio::sync::oneshot;

use crate::error::{BoxError, ClientError};

type ByteStream = BoxStream<'static, Result<Bytes, BoxError>>;

/// A request body: bytes, text, urlencoded form pairs, a file, or a stream.
///
/// Build one with `From` (`Vec<u8>`, `Bytes`, `String`, `&'static str`, `&'static [u8]`),
/// [`Body::form`], [`Body::wrap_stream`], [`Body::from_reader`] or [`Body::file`]; pass it (or
/// anything convertible) to `RequestBuilder::data`.
///
/// ```
/// use aiohttp::Body;
/// let a = Body::from("text");
/// let b = Body::form(&[("q", "rust"), ("page", "2")]);
/// assert_eq!(a.content_length(), Some(4));
/// assert_eq!(b.content_length(), Some(13)); // q=rust&page=2
/// ```
pub struct Body {
    pub(crate) kind: BodyKind,
    pub(crate) content_type: Option<HeaderValue>,
    /// Why this body cannot be sent (a form whose streamed parts were already taken); the
    /// request that gets it fails with this error before anything is sent.
    pub(crate) refused: Option<ClientError>,
}

pub(crate) enum BodyKind {
    Bytes(Bytes),
    Stream {
        stream: ByteStream,
        length: Option<u64>,
    },
}

impl Body {
    /// What goes on the wire for an optional body: as it is, or deflated (`compress`) and cut
    /// into pieces of `chunked` bytes.
    pub(crate) fn into_wire(
        body: Option<Body>,
        compress: bool,
        chunked: Option<usize>,
    ) -> WireBody {
        let Some(body) = body else {
            return WireBody::empty();
        };
        if !compress && chunked.is_none() {
            return match body.kind {
                BodyKind::Bytes(b) => WireBody::full(b),
                BodyKind::Stream { stream, .. } => WireBody::stream(stream),
            };
        }
        let mut stream = body.into_stream();
        if compress {
            stream = deflate(stream);
        }
        if let Some(size) = chunked {
            stream = rechunk(stream, size);
        }
        WireBody::stream(stream)
    }

    /// The same body, calling `f` with each piece as it is handed on (a traced request's
    /// `on_request_chunk_sent`).
    pub(crate) fn inspected(self, f: impl Fn(&[u8]) + Send + Sync + 'static) -> Body {
        let length = self.content_length();
        // (A refused body never gets this far: its request failed before anything was sent.)
        let content_type = self.content_type.clone();
        let stream = self
            .into_stream()
            .inspect(move |piece| {
                if let Ok(b) = piece {
                    f(b);
                }
            })
            .boxed();
        Body {
            kind: BodyKind::Stream { stream, length },
            content_type,
            refused: None,
        }
    }

    /// An empty body.
    ///
    /// ```
    /// assert_eq!(aiohttp::Body::empty().content_length(), Some(0));
    /// ```
    pub fn empty() -> Self {
        Body {
            kind: BodyKind::Bytes(Bytes::new()),
            content_type: None,
            refused: None,
        }
    }

    /// Form pairs, `application/x-www-form-urlencoded`; repeated keys are kept in order.
    ///
    /// ```
    /// let body = aiohttp::Body::form(&[("a", "1"), ("a", "2 3")]);
    /// assert_eq!(body.as_bytes().map(|b| b.to_vec()), Some(b"a=1&a=2+3".to_vec()));
    /// ```
    pub fn form<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Self {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            ser.append_pair(k.as_ref(), v.as_ref());
        }
        Body {
            kind: BodyKind::Bytes(Bytes::from(ser.finish())),
            content_type: Some(HeaderValue::from_static(
                "application/x-www-form-urlencoded",
            )),
            refused: None,
        }
    }

    /// A body streamed from any `Stream` of byte chunks, sent with chunked transfer encoding.
    ///
    /// ```
    /// use futures_util::stream;
    /// let chunks = stream::iter(vec![Ok::<_, std::io::Error>("a"), Ok("b")]);
    /// let body = aiohttp::Body::wrap_stream(chunks);
    /// assert_eq!(body.content_length(), None);
    /// ```
    pub fn wrap_stream<S, B, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<B, E>> + Send + 'static,
        B: Into<Bytes>,
        E: Into<BoxError>,
    {
        Body {
            kind: BodyKind::Stream {
                stream: stream
                    .map(|r| r.map(Into::into).map_err(Into::into))
                    .boxed(),
                length: None,
            },
            content_type: Some(HeaderValue::from_static("application/octet-stream")),
            refused: None,
        }
    }

    /// A body read from any `AsyncRead`, streamed in 64 KiB chunks.
    ///
    /// ```
    /// let body = aiohttp::Body::from_reader(&b"abc"[..]);
    /// assert_eq!(body.content_length(), None);
    /// ```
    pub fn from_reader<R: AsyncRead + Send + 'static>(reader: R) -> Self {
        Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
            reader,
            64 * 1024,
        ))
    }

    /// A file streamed from disk, with its size as `Content-Length`.
    ///
    /// # Errors
    /// The file cannot be opened or its size read.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), aiohttp::ClientError> {
    /// let body = aiohttp::Body::file("upload.bin").await?;
    /// # Ok(()) }
    /// ```
    pub async fn file(path: impl AsRef<std::path::Path>) -> Result<Self, ClientError> {
        let path = path.as_ref();
        let file = tokio::fs::File::open(path).await.map_err(|e| {
            ClientError::invalid_argument(format!("cannot open {}", path.display())).with_source(e)
        })?;
        let length = file
            .metadata()
            .await
            .map_err(|e| {
                ClientError::invalid_argument(format!("cannot stat {}", path.display()))
                    .with_source(e)
            })?
            .len();
        let mut body = Body::from_reader(file);
        if let BodyKind::Stream { length: l, .. } = &mut body.kind {
            *l = Some(length);
        }
        Ok(body)
    }

    /// The body's length when it is known before sending.
    ///
    /// ```
    /// assert_eq!(aiohttp::Body::from(vec![0u8; 10]).content_length(), Some(10));
    /// ```
    pub fn content_length(&self) -> Option<u64> {
        match &self.kind {
            BodyKind::Bytes(b) => Some(b.len() as u64),
            BodyKind::Stream { length, .. } => *length,
        }
    }

    /// The bytes of an in-memory body (`None` for a stream).
    ///
    /// ```
    /// assert_eq!(aiohttp::Body::from("x").as_bytes().map(|b| b.len()), Some(1));
    /// ```
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match &self.kind {
            BodyKind::Bytes(b) => Some(b),
            BodyKind::Stream { .. } => None,
        }
    }

    /// A copy of the body when it can be sent again (in-memory bodies); streams cannot.
    ///
    /// ```
    /// assert!(aiohttp::Body::from("x").try_clone().is_some());
    /// ```
    pub fn try_clone(&self) -> Option<Body> {
        match &self.kind {
            BodyKind::Bytes(b) => Some(Body {
                kind: BodyKind::Bytes(b.clone()),
                content_type: self.content_type.clone(),
                refused: None,
            }),
            BodyKind::Stream { .. } => None,
        }
    }

    /// The `Content-Type` this body is sent with unless the request sets one.
    ///
    /// ```
    /// assert_eq!(aiohttp::Body::from("x").content_type(), Some("text/plain; charset=utf-8"));
    /// assert_eq!(aiohttp::Body::empty().content_type(), None);
    /// ```
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_ref().and_then(|v| v.to_str().ok())
    }

    pub(crate) fn with_content_type(mut self, ct: &'static str) -> Self {
        self.content_type = Some(HeaderValue::from_static(ct));
        self
    }

    pub(crate) fn into_stream(self) -> ByteStream {
        match self.kind {
            BodyKind::Bytes(b) => futures_util::stream::iter([Ok(b)]).boxed(),
            BodyKind::Stream { stream, .. } => stream,
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            BodyKind::Bytes(b) => f.debug_struct("Body").field("len", &b.len()).finish(),
            BodyKind::Stream { length, .. } => f
                .debug_struct("Body")
                .field("stream", &true)
                .field("length", length)
                .finish(),
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

macro_rules! bytes_body {
    ($($t:ty),*) => {$(
        impl From<$t> for Body {
            fn from(v: $t) -> Self {
                Body {
                    kind: BodyKind::Bytes(Bytes::from(v)),
                    content_type: Some(HeaderValue::from_static("application/octet-stream")),
                    refused: None,
                }
            }
        }
    )*};
}
bytes_body!(Bytes, Vec<u8>, &'static [u8]);

impl From<String> for Body {
    fn from(v: String) -> Self {
        Body {
            kind: BodyKind::Bytes(Bytes::from(v)),
            content_type: Some(HeaderValue::from_static("text/plain; charset=utf-8")),
            refused: None,
        }
    }
}

impl From<&'static str> for Body {
    fn from(v: &'static str) -> Self {
        Body {
            kind: BodyKind::Bytes(Bytes::from_static(v.as_bytes())),
            content_type: Some(HeaderValue::from_static("text/plain; charset=utf-8")),
            refused: None,
        }
    }
}

impl<K: AsRef<str>, V: AsRef<str>> From<&[(K, V)]> for Body {
    fn from(pairs: &[(K, V)]) -> Self {
        Body::form(pairs)
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> From<[(K, V); N]> for Body {
    fn from(pairs: [(K, V); N]) -> Self {
        Body::form(&pairs)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> From<Vec<(K, V)>> for Body {
    fn from(pairs: Vec<(K, V)>) -> Self {
        Body::form(&pairs)
    }
}

impl From<tokio::fs::File> for Body {
    fn from(file: tokio::fs::File) -> Self {
        Body::from_reader(file)
    }
}

/// The body as hyper sees it: a fast path for in-memory bytes, a stream for everything else,
/// optionally held back until the server says `100 Continue`.
pub(crate) struct WireBody {
    inner: WireInner,
    /// `true` opens it; `false` ends the body with nothing sent (HTTP/2: the stream's request
    /// side ends at once); dropped, nothing is ever sent and the body stays pending (HTTP/1:
    /// the connection is closed instead).
    gate: Option<oneshot::Receiver<bool>>,
    /// The gate closed without opening: nothing is ever sent.
    withheld: bool,
    /// Set once the last byte has been handed to the connection.
    done: Option<Arc<AtomicBool>>,
    /// Bytes still to hand over before a body of declared length is complete: hyper stops
    /// polling such a body after its last byte, so its end is never seen as such.
    remaining: Option<u64>,
    /// When a piece of the body was last handed over, if asked.
    progress: Option<Arc<crate::timeout::ProgressClock>>,
}

enum WireInner {
    Full(Option<Bytes>),
    Stream(ByteStream),
}

impl WireBody {
    pub(crate) fn empty() -> Self {
        WireBody {
            inner: WireInner::Full(None),
            gate: None,
            withheld: false,
            done: None,
            remaining: None,
            progress: None,
        }
    }

    pub(crate) fn full(b: Bytes) -> Self {
        WireBody {
            inner: WireInner::Full((!b.is_empty()).then_some(b)),
            gate: None,
            withheld: false,
            done: None,
            remaining: None,
            progress: None,
        }
    }

    pub(crate) fn stream(s: ByteStream) -> Self {
        WireBody {
            inner: WireInner::Stream(s),
            gate: None,
            withheld: false,
            done: None,
            remaining: None,
            progress: None,
        }
    }

    /// Whether there is no body at all.
    pub(crate) fn is_empty(&self) -> bool {
        matches!(self.inner, WireInner::Full(None))
    }

    /// The flag that says when the last byte has been handed to the connection; `length` is
    /// the body's declared length (`Content-Length`), if any.
    pub(crate) fn track_end(&mut self, length: Option<u64>) -> Arc<AtomicBool> {
        let done = Arc::new(AtomicBool::new(self.is_empty() || length == Some(0)));
        self.done = Some(done.clone());
        self.remaining = length;
        done
    }

    /// A piece of `len` bytes went to the connection.
    fn handed_over(&mut self, len: usize) {
        if let Some(progress) = &self.progress {
            progress.touch();
        }
        if let Some(left) = &mut self.remaining {
            *left = left.saturating_sub(len as u64);
            if *left == 0 {
                self.ended();
            }
        }
    }

    /// The body has nothing more to hand over.
    fn ended(&self) {
        if let Some(done) = &self.done {
            done.store(true, Ordering::Release);
        }
        if let Some(progress) = &self.progress {
            progress.touch();
        }
    }

    /// Records when each piece of the body is handed over, from now on.
    pub(crate) fn track_progress(&mut self) -> crate::timeout::Activity {
        let progress = Arc::new(crate::timeout::ProgressClock::default());
        self.progress = Some(progress.clone());
        progress
    }

    /// Holds every byte back until `gate` fires (see the `gate` field).
    pub(crate) fn gated(mut self, gate: oneshot::Receiver<bool>) -> Self {
        self.gate = Some(gate);
        self
    }
}

impl http_body::Body for WireBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.withheld {
            return Poll::Pending;
        }
        if let Some(gate) = &mut this.gate {
            match Pin::new(gate).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(true)) => this.gate = None,
                Poll::Ready(Ok(false)) => {
                    this.gate = None;
                    this.inner = WireInner::Full(None);
                    this.ended();
                    return Poll::Ready(None);
                }
                // The server answered without `100 Continue`: the body is never sent and the
                // connection will not be reused, so stay pending until it is torn down (and
                // never poll the spent gate again).
                Poll::Ready(Err(_)) => {
                    this.gate = None;
                    this.withheld = true;
                    return Poll::Pending;
                }
            }
        }
        match &mut this.inner {
            WireInner::Full(b) => {
                let data = b.take();
                this.ended();
                Poll::Ready(data.map(|b| Ok(Frame::data(b))))
            }
            WireInner::Stream(s) => loop {
                match s.as_mut().poll_next(cx) {
                    Poll::Ready(Some(Ok(b))) if b.is_empty() => continue,
                    Poll::Ready(Some(Ok(b))) => {
                        this.handed_over(b.len());
                        return Poll::Ready(Some(Ok(Frame::data(b))));
                    }
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                    Poll::Ready(None) => {
                        this.ended();
                        return Poll::Ready(None);
                    }
                    Poll::Pending => return Poll::Pending,
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        !self.withheld && self.gate.is_none() && matches!(self.inner, WireInner::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            WireInner::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            WireInner::Stream(_) => SizeHint::default(),
        }
    }
}

/// Splits a stream's chunks into pieces of at most `size` bytes (for `chunked(size)`).
pub(crate) fn rechunk(stream: ByteStream, size: usize) -> ByteStream {
    let size = size.max(1);
    stream
        .flat_map(move |item| {
            let pieces: Vec<Result<Bytes, BoxError>> = match item {
                Ok(mut b) => {
                    let mut v = Vec::with_capacity(b.len() / size + 1);
                    while b.len() > size {
                        v.push(Ok(b.split_to(size)));
                    }
                    if !b.is_empty() {
                        v.push(Ok(b));
                    }
                    v
                }
                Err(e) => vec![Err(e)],
            };
            futures_util::stream::iter(pieces)
        })
        .boxed()
}

/// Compresses a stream with zlib-wrapped deflate (aiohttp's `compress=True`).
pub(crate) fn deflate(stream: ByteStream) -> ByteStream {
    let reader =
        tokio_util::io::StreamReader::new(stream.map(|r| r.map_err(std::io::Error::other)));
    let encoder = async_compression::tokio::bufread::ZlibEncoder::new(reader);
    tokio_util::io::ReaderStream::new(encoder)
        .map(|r| r.map_err(BoxError::from))
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    async fn collect(s: ByteStream) -> Vec<Bytes> {
        s.try_collect::<Vec<_>>().await.expect("stream ok")
    }

    #[test]
    fn a_gate_closed_without_opening_withholds_the_body_for_good() {
        use http_body::Body as _;
        let (tx, rx) = oneshot::channel::<bool>();
        let mut body = WireBody::full(Bytes::from_static(b"secret")).gated(rx);
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(Pin::new(&mut body).poll_frame(&mut cx).is_pending());
        drop(tx);
        // Polled again and again after the gate closed: pending every time, never a byte (and
        // never a poll of the spent gate, which tokio's oneshot answers with a panic).
        for _ in 0..3 {
            assert!(Pin::new(&mut body).poll_frame(&mut cx).is_pending());
        }
        assert!(!body.is_end_stream());
    }

    #[test]
    fn a_gate_told_to_end_ends_the_body_with_nothing_sent() {
        use http_body::Body as _;
        let (tx, rx) = oneshot::channel::<bool>();
        let mut body = WireBody::full(Bytes::from_static(b"secret")).gated(rx);
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(Pin::new(&mut body).poll_frame(&mut cx).is_pending());
        let _ = tx.send(false);
        assert!(matches!(
            Pin::new(&mut body).poll_frame(&mut cx),
            Poll::Ready(None)
        ));
        assert!(body.is_end_stream());
    }

    #[tokio::test]
    async fn rechunk_splits_to_size() {
        let src = futures_util::stream::iter(vec![
            Ok::<_, BoxError>(Bytes::from_static(b"abcdefg")),
            Ok(Bytes::from_static(b"hi")),
        ])
        .boxed();
        let out = collect(rechunk(src, 3)).await;
        let out: Vec<&[u8]> = out.iter().map(|b| b.as_ref()).collect();
        assert_eq!(out, vec![&b"abc"[..], b"def", b"g", b"hi"]);
    }

    #[tokio::test]
    async fn deflate_round_trips_through_zlib() {
        use std::io::Read;
        let data = b"hello hello hello hello".repeat(100);
        let src =
            futures_util::stream::iter(vec![Ok::<_, BoxError>(Bytes::from(data.clone()))]).boxed();
        let out: Vec<u8> = collect(deflate(src)).await.concat();
        assert!(out.len() < data.len());
        let mut dec = flate2::read::ZlibDecoder::new(&out[..]);
        let mut back = Vec::new();
        dec.read_to_end(&mut back).expect("valid zlib");
        assert_eq!(back, data);
    }

    #[test]
    fn content_types_by_kind() {
        assert_eq!(
            Body::from(vec![1u8]).content_type(),
            Some("application/octet-stream")
        );
        assert_eq!(
            Body::from(String::from("x")).content_type(),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(
            Body::from([("a", "b")]).content_type(),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(Body::empty().content_type(), None);
    }
}
