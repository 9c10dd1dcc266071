//! `FormData`: form fields as an `application/x-www-form-urlencoded` or `multipart/form-data`
//! request body (aiohttp's `aiohttp.FormData`).

use std::fmt;
use std::sync::Mutex;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, BoxStream, StreamExt};
use http::HeaderValue;

use crate::body::{Body, BodyKind};
use crate::error::{BoxError, ClientError};

type ByteStream = BoxStream<'static, Result<Bytes, BoxError>>;

/// The content type of `Body::from(&str)` and `Body::from(String)`: a plain text field.
const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
/// The longest boundary RFC 2046 allows.
const MAX_BOUNDARY: usize = 70;

/// One field of a [`FormData`]: a name, a value and, optionally, a file name and a content type.
///
/// The value is anything a request body can be: text, bytes, or a stream (a file opened with
/// [`Body::file`], any `AsyncRead` through [`Body::from_reader`], a `Stream` of chunks through
/// [`Body::wrap_stream`]). Streams are sent as they are read, never buffered whole.
///
/// ```
/// use aiohttp::{FormData, FormField};
/// let mut form = FormData::new();
/// form.add_part(
///     FormField::new("report", "a,b\n1,2\n")
///         .filename("report.csv")
///         .content_type("text/csv"),
/// );
/// assert!(form.is_multipart());
/// ```
#[derive(Debug)]
pub struct FormField {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    value: Value,
}

/// A field's value: in memory (sent any number of times) or a stream (sent once).
enum Value {
    Memory {
        bytes: Bytes,
        default_type: Option<HeaderValue>,
        /// Text given as a `&str`/`String` (the only kind an urlencoded form can carry).
        text: bool,
    },
    Stream {
        /// Taken by the first send.
        body: Mutex<Option<Body>>,
        length: Option<u64>,
        default_type: Option<HeaderValue>,
    },
    /// A body that could not be sent anyway (a spent form given as a field's value).
    Refused(ClientError),
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Memory { bytes, .. } => {
                f.debug_struct("Memory").field("len", &bytes.len()).finish()
            }
            Value::Stream { length, .. } => {
                f.debug_struct("Stream").field("length", length).finish()
            }
            Value::Refused(e) => f.debug_tuple("Refused").field(e).finish(),
        }
    }
}

impl FormField {
    /// A field named `name` with `value` (text, bytes, a file or a stream; see [`Body`]).
    ///
    /// ```
    /// let field = aiohttp::FormField::new("comment", "looks good");
    /// ```
    pub fn new(name: impl Into<String>, value: impl Into<Body>) -> Self {
        let mut body: Body = value.into();
        let default_type = body.content_type.clone();
        let value = if let Some(e) = body.refused.take() {
            Value::Refused(e)
        } else {
            match body.kind {
                BodyKind::Bytes(bytes) => {
                    let text = body
                        .content_type
                        .as_ref()
                        .is_some_and(|ct| ct == TEXT_PLAIN)
                        && std::str::from_utf8(&bytes).is_ok();
                    Value::Memory {
                        bytes,
                        default_type,
                        text,
                    }
                }
                BodyKind::Stream { length, .. } => Value::Stream {
                    length,
                    default_type,
                    body: Mutex::new(Some(Body {
                        kind: body.kind,
                        content_type: None,
                        refused: None,
                    })),
                },
            }
        };
        FormField {
            name: name.into(),
            filename: None,
            content_type: None,
            value,
        }
    }

    /// The file name sent in the part's `Content-Disposition`; the form becomes multipart.
    ///
    /// ```
    /// let field = aiohttp::FormField::new("file", vec![0u8; 4]).filename("data.bin");
    /// ```
    pub fn filename(mut self, filename: impl Into<String>) -> Self {
        self.filename = Some(filename.into());
        self
    }

    /// The part's `Content-Type` (instead of the value's own: `text/plain; charset=utf-8` for
    /// text, `application/octet-stream` for bytes and streams); the form becomes multipart. A
    /// value with control characters (CR, LF, ...) or non-ASCII fails the request that sends
    /// the form, before anything is sent.
    ///
    /// ```
    /// let field = aiohttp::FormField::new("meta", r#"{"a":1}"#).content_type("application/json");
    /// ```
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// Whether the field fits an urlencoded form: text without file name or content type.
    fn is_plain(&self) -> bool {
        self.filename.is_none()
            && self.content_type.is_none()
            && matches!(self.value, Value::Memory { text: true, .. })
    }
}

/// Form fields sent as a request body (aiohttp's `FormData`).
///
/// As in aiohttp, the form is `application/x-www-form-urlencoded` while every field is plain
/// text without a file name or content type, and `multipart/form-data` otherwise (or always,
/// with [`FormData::multipart`]). A multipart form gets a random boundary and is sent with a
/// `Content-Length` when every part's size is known (text, bytes, files opened with
/// [`Body::file`] or [`FormData::add_file`]), with chunked transfer encoding otherwise. Its
/// `Content-Type` (with the boundary) is set unless the request sets one.
///
/// Field names and file names are written as browsers write them (WHATWG, RFC 7578): in
/// double quotes, with `"` as `%22`, CR as `%0D` and LF as `%0A`, other characters as UTF-8.
/// (aiohttp percent-encodes file names whole by default; servers decode the browser form.)
///
/// Pass the form, or a reference to it, to `RequestBuilder::data`. A form with streamed parts
/// can be sent once: sending it again (by reference) fails with an `InvalidArgument` error,
/// as aiohttp raises "Form data has been processed already". A form held in memory can be sent
/// any number of times, and is sent again on a 307/308 redirect.
///
/// ```no_run
/// use aiohttp::{Body, ClientSession, FormData, FormField};
///
/// # async fn run() -> Result<(), aiohttp::ClientError> {
/// let session = ClientSession::new();
/// let mut form = FormData::new();
/// form.add_field("title", "holiday")
///     .add_part(FormField::new("notes", "two weeks").content_type("text/markdown"));
/// form.add_file("photo", "photo.jpg").await?; // streamed from disk, its size known
/// form.add_part(
///     FormField::new("log", Body::from_reader(tokio::io::empty())).filename("log.txt"),
/// );
/// let resp = session.post("http://127.0.0.1:8080/upload").data(form).await?;
/// println!("{}", resp.status());
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct FormData {
    fields: Vec<FormField>,
    force_multipart: bool,
    boundary: Option<String>,
}

impl FormData {
    /// An empty form.
    ///
    /// ```
    /// let mut form = aiohttp::FormData::new();
    /// form.add_field("q", "rust");
    /// let body = aiohttp::Body::from(&form);
    /// assert_eq!(body.content_type(), Some("application/x-www-form-urlencoded"));
    /// assert_eq!(body.as_bytes().map(|b| b.to_vec()), Some(b"q=rust".to_vec()));
    /// ```
    pub fn new() -> Self {
        FormData::default()
    }

    /// An empty form that is always sent as `multipart/form-data` (aiohttp's
    /// `default_to_multipart=True`).
    ///
    /// ```
    /// let mut form = aiohttp::FormData::multipart();
    /// form.add_field("q", "rust");
    /// assert!(form.is_multipart());
    /// ```
    pub fn multipart() -> Self {
        FormData {
            force_multipart: true,
            ..FormData::default()
        }
    }

    /// Uses `boundary` instead of a random one (aiohttp's `boundary=`): 1 to 70 characters of
    /// RFC 2046 (letters, digits, `'()+_,-./:=?` and inner spaces). Another boundary fails the
    /// request that sends the form, before anything is sent; so does one that occurs in a part
    /// held in memory.
    ///
    /// ```
    /// let form = aiohttp::FormData::multipart().boundary("fixed-boundary");
    /// let body = aiohttp::Body::from(&form);
    /// assert_eq!(body.content_type(), Some("multipart/form-data; boundary=fixed-boundary"));
    /// ```
    pub fn boundary(mut self, boundary: impl Into<String>) -> Self {
        self.boundary = Some(boundary.into());
        self
    }

    /// Adds a field with a value: text, bytes, a file or a stream (see [`Body`]). Any value
    /// but text makes the form multipart.
    ///
    /// ```
    /// let mut form = aiohttp::FormData::new();
    /// form.add_field("a", "1").add_field("a", "2");
    /// let body = aiohttp::Body::from(&form);
    /// assert_eq!(body.as_bytes().map(|b| b.to_vec()), Some(b"a=1&a=2".to_vec()));
    /// ```
    pub fn add_field(&mut self, name: impl Into<String>, value: impl Into<Body>) -> &mut Self {
        self.add_part(FormField::new(name, value))
    }

    /// Adds a field built with [`FormField`] (a file name, a content type).
    ///
    /// ```
    /// use aiohttp::{FormData, FormField};
    /// let mut form = FormData::new();
    /// form.add_part(FormField::new("f", "text").filename("f.txt"));
    /// assert!(form.is_multipart());
    /// ```
    pub fn add_part(&mut self, field: FormField) -> &mut Self {
        self.fields.push(field);
        self
    }

    /// Adds the file at `path` as a streamed part with its size known, its file name as the
    /// part's file name and `application/octet-stream` as its type.
    ///
    /// # Errors
    /// The file cannot be opened or its size read (`InvalidArgument`).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), aiohttp::ClientError> {
    /// let mut form = aiohttp::FormData::new();
    /// form.add_file("upload", "report.pdf").await?;
    /// # Ok(()) }
    /// ```
    pub async fn add_file(
        &mut self,
        name: impl Into<String>,
        path: impl AsRef<std::path::Path>,
    ) -> Result<&mut Self, ClientError> {
        let path = path.as_ref();
        let body = Body::file(path).await?;
        let mut field = FormField::new(name, body);
        if let Some(file_name) = path.file_name() {
            field = field.filename(file_name.to_string_lossy());
        }
        Ok(self.add_part(field))
    }

    /// Whether the form is sent as `multipart/form-data` (aiohttp's `is_multipart`).
    ///
    /// ```
    /// let mut form = aiohttp::FormData::new();
    /// form.add_field("a", "b");
    /// assert!(!form.is_multipart());
    /// form.add_field("raw", vec![1u8, 2]);
    /// assert!(form.is_multipart());
    /// ```
    pub fn is_multipart(&self) -> bool {
        self.force_multipart || !self.fields.iter().all(FormField::is_plain)
    }

    /// The body to send, or why it cannot be sent.
    fn to_body(&self) -> Result<Body, ClientError> {
        if !self.is_multipart() {
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            for field in &self.fields {
                if let Value::Memory { bytes, .. } = &field.value {
                    ser.append_pair(&field.name, &String::from_utf8_lossy(bytes));
                }
            }
            return Ok(Body {
                kind: BodyKind::Bytes(Bytes::from(ser.finish())),
                content_type: Some(HeaderValue::from_static(
                    "application/x-www-form-urlencoded",
                )),
                refused: None,
            });
        }
        let mut heads = Vec::with_capacity(self.fields.len());
        for field in &self.fields {
            if let Value::Refused(e) = &field.value {
                return Err(e.duplicate());
            }
            let content_type = match &field.content_type {
                Some(ct) => {
                    if !valid_content_type(ct) {
                        return Err(ClientError::invalid_argument(format!(
                            "invalid content type for form field {:?}",
                            field.name
                        )));
                    }
                    Some(ct.as_bytes().to_vec())
                }
                None => match &field.value {
                    Value::Memory { default_type, .. } | Value::Stream { default_type, .. } => {
                        default_type.as_ref().map(|v| v.as_bytes().to_vec())
                    }
                    Value::Refused(_) => None,
                },
            };
            heads.push((field, content_type));
        }
        let boundary = match &self.boundary {
            Some(b) => {
                if !valid_boundary(b) {
                    return Err(ClientError::invalid_argument(format!(
                        "invalid multipart boundary {b:?}"
                    )));
                }
                if self.memory_contains(b) {
                    return Err(ClientError::invalid_argument(
                        "the multipart boundary occurs in a part",
                    ));
                }
                b.clone()
            }
            None => {
                let mut b = random_boundary();
                // 128 random bits: a second draw is as good as never needed.
                while self.memory_contains(&b) {
                    b = random_boundary();
                }
                b
            }
        };
        // Every stream must still be there before any is taken.
        for field in &self.fields {
            if let Value::Stream { body, .. } = &field.value {
                let slot = body.lock().unwrap_or_else(|e| e.into_inner());
                if slot.is_none() {
                    return Err(ClientError::invalid_argument(
                        "Form data has been processed already",
                    ));
                }
            }
        }
        let mut pieces: Vec<Piece> = Vec::with_capacity(self.fields.len() * 2 + 1);
        for (field, content_type) in heads {
            let head = part_head(
                &boundary,
                &field.name,
                field.filename.as_deref(),
                content_type.as_deref(),
            );
            match &field.value {
                Value::Memory { bytes, .. } => {
                    let mut part = BytesMut::with_capacity(head.len() + bytes.len() + 2);
                    part.extend_from_slice(&head);
                    part.extend_from_slice(bytes);
                    part.extend_from_slice(b"\r\n");
                    pieces.push(Piece::Memory(part.freeze()));
                }
                Value::Stream { body, length, .. } => {
                    let taken = body.lock().unwrap_or_else(|e| e.into_inner()).take();
                    let Some(taken) = taken else {
                        return Err(ClientError::invalid_argument(
                            "Form data has been processed already",
                        ));
                    };
                    pieces.push(Piece::Memory(Bytes::from(head)));
                    let stream = taken.into_stream();
                    let stream = match length {
                        Some(n) => exactly(stream, *n),
                        None => stream,
                    };
                    pieces.push(Piece::Stream(stream, *length));
                    pieces.push(Piece::Memory(Bytes::from_static(b"\r\n")));
                }
                Value::Refused(e) => return Err(e.duplicate()),
            }
        }
        pieces.push(Piece::Memory(Bytes::from(format!("--{boundary}--\r\n"))));
        let content_type = HeaderValue::from_str(&format!(
            "multipart/form-data; boundary={boundary}"
        ))
        .map_err(|e| ClientError::invalid_argument("invalid multipart boundary").with_source(e))?;
        Ok(assemble(pieces, content_type))
    }

    /// Whether `--boundary` occurs in a part held in memory (or a name, a file name).
    fn memory_contains(&self, boundary: &str) -> bool {
        let needle = format!("--{boundary}");
        let finder = memchr::memmem::Finder::new(needle.as_bytes());
        self.fields.iter().any(|f| {
            let in_value = match &f.value {
                Value::Memory { bytes, .. } => finder.find(bytes).is_some(),
                _ => false,
            };
            in_value
                || finder.find(f.name.as_bytes()).is_some()
                || f.filename
                    .as_ref()
                    .is_some_and(|n| finder.find(n.as_bytes()).is_some())
        })
    }
}

/// A piece of a multipart body: bytes, or a stream with its length if known.
enum Piece {
    Memory(Bytes),
    Stream(ByteStream, Option<u64>),
}

/// The body from its pieces: one buffer when all are in memory (so that it can be sent again),
/// a stream otherwise, of known length when every piece's length is known.
fn assemble(pieces: Vec<Piece>, content_type: HeaderValue) -> Body {
    let kind = if pieces.iter().all(|p| matches!(p, Piece::Memory(_))) {
        let mut all = BytesMut::new();
        for p in &pieces {
            if let Piece::Memory(b) = p {
                all.extend_from_slice(b);
            }
        }
        BodyKind::Bytes(all.freeze())
    } else {
        let length = total_length(pieces.iter().map(|p| match p {
            Piece::Memory(b) => Some(b.len() as u64),
            Piece::Stream(_, n) => *n,
        }));
        let streams = pieces.into_iter().map(|p| match p {
            Piece::Memory(b) => stream::iter([Ok(b)]).boxed(),
            Piece::Stream(s, _) => s,
        });
        BodyKind::Stream {
            stream: stream::iter(streams).flatten().boxed(),
            length,
        }
    };
    Body {
        kind,
        content_type: Some(content_type),
        refused: None,
    }
}

/// The sum of the pieces' lengths, when every one is known.
fn total_length(lengths: impl IntoIterator<Item = Option<u64>>) -> Option<u64> {
    lengths
        .into_iter()
        .try_fold(0u64, |sum, n| n.and_then(|n| sum.checked_add(n)))
}

/// A stream that must yield exactly `want` bytes (it was announced in `Content-Length`): more
/// or fewer is an error, so that the request fails instead of sending a body of another size.
fn exactly(stream: ByteStream, want: u64) -> ByteStream {
    stream::unfold(
        (stream, 0u64, false),
        move |(mut s, got, done)| async move {
            if done {
                return None;
            }
            match s.next().await {
                Some(Ok(b)) => {
                    let got = got.saturating_add(b.len() as u64);
                    if got > want {
                        let e: BoxError =
                            format!("a form part yielded more than its {want} bytes").into();
                        Some((Err(e), (s, got, true)))
                    } else {
                        Some((Ok(b), (s, got, false)))
                    }
                }
                Some(Err(e)) => Some((Err(e), (s, got, true))),
                None if got != want => {
                    let e: BoxError =
                        format!("a form part yielded {got} of its {want} bytes").into();
                    Some((Err(e), (s, got, true)))
                }
                None => None,
            }
        },
    )
    .boxed()
}

/// A fresh boundary: 32 hex digits from 128 random bits (as aiohttp's `uuid4().hex`).
fn random_boundary() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// RFC 2046: 1 to 70 `bchars`, not ending in a space.
fn valid_boundary(b: &str) -> bool {
    !b.is_empty()
        && b.len() <= MAX_BOUNDARY
        && !b.ends_with(' ')
        && b.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&c))
}

/// A content type fit for a part header: visible ASCII, spaces and tabs.
fn valid_content_type(ct: &str) -> bool {
    !ct.trim().is_empty() && ct.bytes().all(|c| c == b'\t' || (0x20..0x7f).contains(&c))
}

/// A name or file name as browsers put it in `Content-Disposition` (WHATWG's multipart/form-data
/// encoding): `"` → `%22`, CR → `%0D`, LF → `%0A`; everything else as it is (UTF-8).
pub(crate) fn quote_param(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '"' => out.push_str("%22"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c => out.push(c),
        }
    }
    out
}

/// The delimiter line and headers that open a part.
fn part_head(
    boundary: &str,
    name: &str,
    filename: Option<&str>,
    content_type: Option<&[u8]>,
) -> Vec<u8> {
    let mut head = Vec::with_capacity(128 + name.len());
    head.extend_from_slice(b"--");
    head.extend_from_slice(boundary.as_bytes());
    head.extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"");
    head.extend_from_slice(quote_param(name).as_bytes());
    head.push(b'"');
    if let Some(filename) = filename {
        head.extend_from_slice(b"; filename=\"");
        head.extend_from_slice(quote_param(filename).as_bytes());
        head.push(b'"');
    }
    head.extend_from_slice(b"\r\n");
    if let Some(ct) = content_type {
        head.extend_from_slice(b"Content-Type: ");
        head.extend_from_slice(ct);
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

impl From<&FormData> for Body {
    /// The form as a body; a form that cannot be sent (its streams already sent, an invalid
    /// content type or boundary) gives a body that fails the request before anything is sent.
    fn from(form: &FormData) -> Body {
        form.to_body().unwrap_or_else(|e| Body {
            kind: BodyKind::Bytes(Bytes::new()),
            content_type: None,
            refused: Some(e),
        })
    }
}

impl From<FormData> for Body {
    fn from(form: FormData) -> Body {
        Body::from(&form)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    fn body_bytes(body: &Body) -> Vec<u8> {
        body.as_bytes().expect("in memory").to_vec()
    }

    async fn collect(body: Body) -> Result<Vec<u8>, BoxError> {
        let chunks: Vec<Bytes> = body.into_stream().try_collect().await?;
        Ok(chunks.concat())
    }

    #[test]
    fn quoting_table() {
        let cases = [
            ("plain", "plain"),
            ("a\"b", "a%22b"),
            ("x\r\nContent-Type: evil", "x%0D%0AContent-Type: evil"),
            ("lf\nonly", "lf%0Aonly"),
            ("cr\ronly", "cr%0Donly"),
            ("semi;colon=x", "semi;colon=x"),
            ("back\\slash", "back\\slash"),
            ("été ☃.txt", "été ☃.txt"),
            ("%22 stays", "%22 stays"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(quote_param(input), want, "{input:?}");
        }
    }

    #[test]
    fn part_head_never_carries_raw_cr_lf_or_quote_from_names() {
        let head = part_head(
            "B",
            "n\"\r\nX-Injected: 1",
            Some("f\"\r\n\r\nbody"),
            Some(b"text/plain"),
        );
        let text = String::from_utf8(head).expect("utf-8");
        assert_eq!(
            text,
            "--B\r\nContent-Disposition: form-data; name=\"n%22%0D%0AX-Injected: 1\"; \
             filename=\"f%22%0D%0A%0D%0Abody\"\r\nContent-Type: text/plain\r\n\r\n"
        );
        // Exactly the three header lines and the blank line: nothing was injected.
        assert_eq!(text.matches("\r\n").count(), 4);
    }

    #[test]
    fn urlencoded_or_multipart_table() {
        // (fields, forced, multipart?)
        type Build = fn(&mut FormData);
        let cases: Vec<(&str, Build, bool, bool)> = vec![
            ("empty", |_| {}, false, false),
            (
                "text",
                |f| {
                    f.add_field("a", "1").add_field("b", String::from("2"));
                },
                false,
                false,
            ),
            (
                "forced",
                |f| {
                    f.add_field("a", "1");
                },
                true,
                true,
            ),
            (
                "filename",
                |f| {
                    f.add_part(FormField::new("a", "1").filename("a.txt"));
                },
                false,
                true,
            ),
            (
                "content type",
                |f| {
                    f.add_part(FormField::new("a", "1").content_type("text/csv"));
                },
                false,
                true,
            ),
            (
                "bytes",
                |f| {
                    f.add_field("a", "1").add_field("b", vec![1u8]);
                },
                false,
                true,
            ),
            (
                "stream",
                |f| {
                    f.add_field("s", Body::from_reader(&b"abc"[..]));
                },
                false,
                true,
            ),
        ];
        for (what, build, forced, want) in cases {
            let mut form = if forced {
                FormData::multipart()
            } else {
                FormData::new()
            };
            build(&mut form);
            assert_eq!(form.is_multipart(), want, "{what}");
            let body = Body::from(&form);
            let ct = body.content_type().unwrap_or("").to_string();
            if want {
                assert!(
                    ct.starts_with("multipart/form-data; boundary="),
                    "{what}: {ct}"
                );
            } else {
                assert_eq!(ct, "application/x-www-form-urlencoded", "{what}");
            }
        }
    }

    #[test]
    fn urlencoded_body_encodes_pairs_in_order() {
        let mut form = FormData::new();
        form.add_field("q", "a b&c=d")
            .add_field("é", "ü")
            .add_field("q", "2");
        let body = Body::from(&form);
        assert_eq!(
            String::from_utf8(body_bytes(&body)).expect("ascii"),
            "q=a+b%26c%3Dd&%C3%A9=%C3%BC&q=2"
        );
        assert_eq!(body.content_length(), Some(31));
    }

    #[test]
    fn multipart_body_is_exact() {
        let mut form = FormData::multipart().boundary("XyZ");
        form.add_field("a", "1")
            .add_part(FormField::new("f", vec![0u8, 255]).filename("f.bin"))
            .add_part(FormField::new("j", "{}").content_type("application/json"));
        let body = Body::from(&form);
        assert_eq!(
            body.content_type(),
            Some("multipart/form-data; boundary=XyZ")
        );
        let want: &[u8] = b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\
            Content-Type: text/plain; charset=utf-8\r\n\r\n1\r\n\
            --XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f.bin\"\r\n\
            Content-Type: application/octet-stream\r\n\r\n\x00\xff\r\n\
            --XyZ\r\nContent-Disposition: form-data; name=\"j\"\r\n\
            Content-Type: application/json\r\n\r\n{}\r\n\
            --XyZ--\r\n";
        assert_eq!(body_bytes(&body), want);
        assert_eq!(body.content_length(), Some(want.len() as u64));
        // In memory: sent again, it is the same.
        assert_eq!(body_bytes(&Body::from(&form)), want);
    }

    #[tokio::test]
    async fn content_length_known_only_when_every_part_is_sized() {
        let dir = std::env::temp_dir().join(format!("aiohttp-form-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let path = dir.join("sized.bin");
        std::fs::write(&path, b"0123456789").expect("write");

        let mut sized = FormData::new().boundary("b");
        sized.add_field("t", "x");
        sized.add_file("file", &path).await.expect("file");
        let body = Body::from(&sized);
        let announced = body.content_length().expect("all sizes known");
        let bytes = collect(body).await.expect("streamed");
        assert_eq!(announced, bytes.len() as u64);
        let text = String::from_utf8(bytes).expect("utf-8");
        assert!(text.contains("name=\"file\"; filename=\"sized.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n0123456789\r\n--b--\r\n"), "{text}");

        let mut unsized_form = FormData::new();
        unsized_form.add_field("t", "x");
        unsized_form.add_field("r", Body::from_reader(&b"abc"[..]));
        assert_eq!(Body::from(&unsized_form).content_length(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn total_length_table() {
        assert_eq!(total_length([Some(1), Some(2)]), Some(3));
        assert_eq!(total_length([Some(1), None]), None);
        assert_eq!(total_length([]), Some(0));
        assert_eq!(total_length([Some(u64::MAX), Some(1)]), None);
    }

    #[test]
    fn boundaries_are_random_hex_and_validated() {
        let a = random_boundary();
        let b = random_boundary();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        let table = [
            ("abc", true),
            ("a'()+_,-./:=? b", true),
            ("", false),
            ("trailing ", false),
            ("quote\"", false),
            ("cr\r", false),
            (&"x".repeat(70), true),
            (&"x".repeat(71), false),
        ];
        for (b, want) in table {
            assert_eq!(valid_boundary(b), want, "{b:?}");
        }
        let mut form = FormData::multipart().boundary("bad\r\nX: y");
        form.add_field("a", "b");
        let mut body = Body::from(&form);
        assert!(body.refused.take().expect("refused").is_invalid_argument());
    }

    #[test]
    fn a_boundary_found_in_a_part_is_refused_or_redrawn() {
        let mut form = FormData::multipart().boundary("abc");
        form.add_field("a", "text with --abc inside");
        assert!(Body::from(&form).refused.is_some());
        // A random boundary is never one that occurs in the content.
        let mut form = FormData::multipart();
        form.add_field("a", "x");
        let body = Body::from(&form);
        assert!(body.refused.is_none());
    }

    #[test]
    fn control_characters_in_a_content_type_are_refused() {
        for ct in ["text/plain\r\nX-Evil: 1", "a\nb", "", "tëxt/plain", "a\0b"] {
            let mut form = FormData::new();
            form.add_part(FormField::new("a", "b").content_type(ct));
            let mut body = Body::from(&form);
            let e = body.refused.take().expect("refused");
            assert!(e.is_invalid_argument(), "{ct:?}");
        }
    }

    #[tokio::test]
    async fn a_streamed_form_is_sent_once() {
        let mut form = FormData::new();
        form.add_field("s", Body::from_reader(&b"abc"[..]));
        let first = Body::from(&form);
        assert!(first.refused.is_none());
        let second = Body::from(&form);
        let e = second.refused.as_ref().expect("second send refused");
        assert!(e.is_invalid_argument());
        assert!(e.message().contains("processed already"), "{e}");
        let bytes = collect(first).await.expect("first body streams");
        assert!(String::from_utf8_lossy(&bytes).contains("\r\n\r\nabc\r\n"));
    }

    /// A stream of `data` that claims to be `length` bytes long (as a file that changed).
    fn sized_stream(data: &'static [u8], length: u64) -> Body {
        let mut body = Body::from_reader(data);
        if let BodyKind::Stream { length: l, .. } = &mut body.kind {
            *l = Some(length);
        }
        body
    }

    #[tokio::test]
    async fn a_sized_stream_of_another_size_fails() {
        let short = sized_stream(&b"abc"[..], 5);
        let mut form = FormData::new();
        form.add_field("s", short);
        let body = Body::from(&form);
        assert!(body.content_length().is_some());
        let e = collect(body).await.expect_err("short part");
        assert!(e.to_string().contains("3 of its 5"), "{e}");

        let long = sized_stream(&b"abcdef"[..], 2);
        let mut form = FormData::new();
        form.add_field("s", long);
        let e = collect(Body::from(&form)).await.expect_err("long part");
        assert!(e.to_string().contains("more than its 2"), "{e}");
    }
}
