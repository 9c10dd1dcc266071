//! WebSocket frames on the wire (RFC 6455 §5): reading frames into messages (fragments joined,
//! UTF-8 checked as it arrives, permessage-deflate inflated under the size limit, every rule
//! of the RFC enforced with its close code) and writing them (masked, compressed when agreed).
//! Frame headers are parsed and formatted by `tungstenite`'s `FrameHeader`.

use std::io::{self, Cursor};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use super::deflate::{Deflater, InflateError, Inflater};
use crate::transport::Io;

/// Close codes (RFC 6455 §7.4.1).
pub(crate) mod code {
    pub(crate) const NORMAL: u16 = 1000;
    pub(crate) const PROTOCOL: u16 = 1002;
    pub(crate) const ABNORMAL: u16 = 1006;
    pub(crate) const INVALID_DATA: u16 = 1007;
    pub(crate) const TOO_BIG: u16 = 1009;
}

/// A close code the peer may send: 1000–1003, 1007–1014, and 3000–4999 (RFC 6455 §7.4,
/// IANA registry); 1004–1006 and 1015 must never appear in a frame.
pub(crate) fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// What one read produced: a whole message, or a control frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    Text(Bytes),
    Binary(Bytes),
    Ping(Bytes),
    Pong(Bytes),
    /// A close frame: its code (none if the frame was empty) and reason.
    Close(Option<u16>, String),
}

/// Why reading stopped.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer broke a rule: close with `code`.
    Protocol(u16, &'static str),
    /// The connection ended (`mid`: in the middle of a frame or message).
    Eof {
        mid: bool,
    },
    Io(io::Error),
}

/// UTF-8 checked piece by piece: a sequence cut between two pieces is carried over.
#[derive(Debug, Default)]
struct Utf8Check {
    carry: [u8; 4],
    carry_len: usize,
}

impl Utf8Check {
    /// Checks the next piece; false once the bytes cannot be UTF-8 whatever follows.
    fn feed(&mut self, mut data: &[u8]) -> bool {
        if self.carry_len > 0 {
            // Complete the carried sequence one byte at a time.
            while self.carry_len < 4 && !data.is_empty() {
                self.carry[self.carry_len] = data[0];
                self.carry_len += 1;
                data = &data[1..];
                match std::str::from_utf8(&self.carry[..self.carry_len]) {
                    Ok(_) => {
                        self.carry_len = 0;
                        break;
                    }
                    Err(e) if e.error_len().is_some() => return false,
                    Err(_) => {}
                }
            }
            if self.carry_len > 0 {
                return self.carry_len < 4 || data.is_empty();
            }
        }
        match std::str::from_utf8(data) {
            Ok(_) => true,
            Err(e) if e.error_len().is_some() => false,
            Err(e) => {
                let tail = &data[e.valid_up_to()..];
                self.carry[..tail.len()].copy_from_slice(tail);
                self.carry_len = tail.len();
                true
            }
        }
    }

    /// The message ended: nothing may be left half-way.
    fn finish(&mut self) -> bool {
        let ok = self.carry_len == 0;
        self.carry_len = 0;
        ok
    }
}

/// A fragmented (or compressed) message being put together.
#[derive(Debug)]
struct Partial {
    text: bool,
    compressed: bool,
    /// The compressed bytes received so far (for a compressed message).
    raw: u64,
    data: Vec<u8>,
}

/// The most compressed bytes a message of at most `max` bytes may take. Deflate's stored
/// blocks add 5 bytes per 65 535 and fixed Huffman codes at most one bit per byte (12.5%); real
/// encoders stay well inside that (zlib at level 1 adds about 5% to random bytes), so twice the
/// worst fixed-code growth is allowed and anything longer is refused as too big. Bounding it
/// when the frame header arrives keeps a header from making the reader buffer more than that.
fn raw_limit(max: usize) -> u64 {
    let max = max as u64;
    max.saturating_add(max / 4).saturating_add(4096)
}

/// The reading side of a WebSocket connection. Cancel-safe: everything read so far lives
/// here, not in a future.
pub(crate) struct Reader {
    io: Option<ReadHalf<Box<dyn Io>>>,
    buf: BytesMut,
    /// The largest message accepted (`usize::MAX`: no limit).
    max: usize,
    inflate: Option<Inflater>,
    partial: Option<Partial>,
    utf8: Utf8Check,
    /// How much of the frame at the head of `buf` was UTF-8-checked before it was whole.
    checked: usize,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("buffered", &self.buf.len())
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

const READ_CHUNK: usize = 16 * 1024;

/// The largest write buffer kept between frames.
const KEEP_WRITE_BUFFER: usize = 1 << 20;

impl Reader {
    pub(crate) fn new(
        io: ReadHalf<Box<dyn Io>>,
        leftover: Bytes,
        max: usize,
        inflate: Option<Inflater>,
    ) -> Self {
        let mut buf = BytesMut::with_capacity(READ_CHUNK.max(leftover.len()));
        buf.extend_from_slice(&leftover);
        Reader {
            io: Some(io),
            buf,
            max,
            inflate,
            partial: None,
            utf8: Utf8Check::default(),
            checked: 0,
        }
    }

    /// Lets go of the connection's reading half.
    pub(crate) fn shut(&mut self) {
        self.io = None;
    }

    /// The next message or control frame.
    ///
    /// # Cancel safety
    /// Cancel-safe: a frame half-read stays buffered for the next call.
    pub(crate) async fn next(&mut self) -> Result<Frame, ReadError> {
        loop {
            if let Some(frame) = self.parse()? {
                return Ok(frame);
            }
            let Some(io) = self.io.as_mut() else {
                return Err(ReadError::Eof { mid: false });
            };
            if self.buf.capacity() - self.buf.len() < READ_CHUNK / 2 {
                self.buf.reserve(READ_CHUNK);
            }
            match io.read_buf(&mut self.buf).await {
                Ok(0) => {
                    let mid = !self.buf.is_empty() || self.partial.is_some();
                    return Err(ReadError::Eof { mid });
                }
                Ok(_) => {}
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
    }

    /// Takes the next frame out of the buffer when it is whole; `Ok(None)`: more bytes needed.
    fn parse(&mut self) -> Result<Option<Frame>, ReadError> {
        loop {
            let mut cur = Cursor::new(&self.buf[..]);
            let (header, len) = match FrameHeader::parse(&mut cur) {
                Ok(Some(h)) => h,
                Ok(None) => return Ok(None),
                Err(_) => {
                    return Err(ReadError::Protocol(
                        code::PROTOCOL,
                        "malformed frame header",
                    ))
                }
            };
            let head_len = cur.position() as usize;
            let kind = self.check(&header, len)?;
            let len = len as usize;
            let available = self.buf.len() - head_len;
            if available < len {
                self.check_early(&kind, head_len, available)?;
                // Room for the rest of the frame, so that it is read in few calls.
                let missing = len - available;
                if self.buf.capacity() - self.buf.len() < missing {
                    self.buf.reserve(missing.min(16 << 20));
                }
                return Ok(None);
            }
            self.buf.advance(head_len);
            let payload = self.buf.split_to(len).freeze();
            let checked = std::mem::take(&mut self.checked);
            if let Some(frame) =
                self.on_frame(kind, header.is_final, header.rsv1, payload, checked)?
            {
                return Ok(Some(frame));
            }
        }
    }

    /// The rules a frame header must follow; returns the frame's kind.
    fn check(&self, h: &FrameHeader, len: u64) -> Result<OpCode, ReadError> {
        let protocol = |why| Err(ReadError::Protocol(code::PROTOCOL, why));
        if h.rsv2 || h.rsv3 {
            return protocol("reserved bits set without an extension that defines them");
        }
        if h.mask.is_some() {
            return protocol("the server masked a frame");
        }
        match h.opcode {
            OpCode::Data(Data::Reserved(_)) | OpCode::Control(Control::Reserved(_)) => {
                protocol("reserved opcode")
            }
            OpCode::Control(_) => {
                if !h.is_final {
                    return protocol("fragmented control frame");
                }
                if len > 125 {
                    return protocol("control frame longer than 125 bytes");
                }
                if h.rsv1 {
                    return protocol("compressed control frame");
                }
                Ok(h.opcode)
            }
            OpCode::Data(Data::Continue) => {
                let Some(p) = &self.partial else {
                    return protocol("continuation frame without a message to continue");
                };
                if h.rsv1 {
                    return protocol("RSV1 set on a continuation frame");
                }
                let too_big = if p.compressed {
                    p.raw.saturating_add(len) > raw_limit(self.max)
                } else {
                    (p.data.len() as u64).saturating_add(len) > self.max as u64
                };
                if too_big {
                    return Err(ReadError::Protocol(code::TOO_BIG, "message too big"));
                }
                Ok(h.opcode)
            }
            OpCode::Data(_) => {
                if self.partial.is_some() {
                    return protocol("a new message began before the last one ended");
                }
                if h.rsv1 && self.inflate.is_none() {
                    return protocol("RSV1 set without permessage-deflate");
                }
                let limit = if h.rsv1 {
                    raw_limit(self.max)
                } else {
                    self.max as u64
                };
                if len > limit {
                    return Err(ReadError::Protocol(code::TOO_BIG, "message too big"));
                }
                Ok(h.opcode)
            }
        }
    }

    /// A frame not whole yet: its text so far is checked already, to fail fast.
    fn check_early(
        &mut self,
        kind: &OpCode,
        head_len: usize,
        available: usize,
    ) -> Result<(), ReadError> {
        let text = match kind {
            OpCode::Data(Data::Text) => true,
            OpCode::Data(Data::Continue) => self
                .partial
                .as_ref()
                .is_some_and(|p| p.text && !p.compressed),
            _ => false,
        };
        let compressed = matches!(kind, OpCode::Data(Data::Text)) && self.buf[0] & 0x40 != 0;
        if !text || compressed || available <= self.checked {
            return Ok(());
        }
        let piece = &self.buf[head_len + self.checked..head_len + available];
        if !self.utf8.feed(piece) {
            return Err(ReadError::Protocol(
                code::INVALID_DATA,
                "invalid UTF-8 in a text message",
            ));
        }
        self.checked = available;
        Ok(())
    }

    fn on_frame(
        &mut self,
        kind: OpCode,
        fin: bool,
        rsv1: bool,
        payload: Bytes,
        checked: usize,
    ) -> Result<Option<Frame>, ReadError> {
        let invalid = || ReadError::Protocol(code::INVALID_DATA, "invalid UTF-8 in a text message");
        match kind {
            OpCode::Control(Control::Ping) => Ok(Some(Frame::Ping(payload))),
            OpCode::Control(Control::Pong) => Ok(Some(Frame::Pong(payload))),
            OpCode::Control(_) => close_frame(&payload).map(Some),
            OpCode::Data(d) => {
                let (text, starts) = match d {
                    Data::Text => (true, true),
                    Data::Binary => (false, true),
                    _ => (self.partial.as_ref().is_some_and(|p| p.text), false),
                };
                if starts && fin && !rsv1 {
                    // The common case: a whole message in one frame, handed out as it lies in
                    // the read buffer.
                    if text && !(self.utf8.feed(&payload[checked..]) && self.utf8.finish()) {
                        return Err(invalid());
                    }
                    return Ok(Some(if text {
                        Frame::Text(payload)
                    } else {
                        Frame::Binary(payload)
                    }));
                }
                if starts {
                    self.partial = Some(Partial {
                        text,
                        compressed: rsv1,
                        raw: 0,
                        data: Vec::new(),
                    });
                }
                let max = self.max;
                let Some(p) = self.partial.as_mut() else {
                    return Err(ReadError::Protocol(
                        code::PROTOCOL,
                        "continuation without a message",
                    ));
                };
                if p.compressed {
                    p.raw = p.raw.saturating_add(payload.len() as u64);
                    let from = p.data.len();
                    let inflate = self.inflate.as_mut().ok_or(ReadError::Protocol(
                        code::PROTOCOL,
                        "RSV1 set without permessage-deflate",
                    ))?;
                    inflate
                        .inflate(&payload, fin, &mut p.data, max)
                        .map_err(|e| match e {
                            InflateError::TooBig => {
                                ReadError::Protocol(code::TOO_BIG, "message too big")
                            }
                            InflateError::Corrupt => ReadError::Protocol(
                                code::INVALID_DATA,
                                "corrupt compressed message",
                            ),
                        })?;
                    if text && !self.utf8.feed(&p.data[from..]) {
                        return Err(invalid());
                    }
                } else {
                    if text && !self.utf8.feed(&payload[checked..]) {
                        return Err(invalid());
                    }
                    p.data.extend_from_slice(&payload);
                }
                if !fin {
                    return Ok(None);
                }
                let p = self
                    .partial
                    .take()
                    .ok_or(ReadError::Protocol(code::PROTOCOL, "no message"))?;
                if p.text && !self.utf8.finish() {
                    return Err(invalid());
                }
                let data = Bytes::from(p.data);
                Ok(Some(if p.text {
                    Frame::Text(data)
                } else {
                    Frame::Binary(data)
                }))
            }
        }
    }
}

/// A close frame's code and reason (RFC 6455 §5.5.1, §7.4).
fn close_frame(payload: &[u8]) -> Result<Frame, ReadError> {
    match payload.len() {
        0 => Ok(Frame::Close(None, String::new())),
        1 => Err(ReadError::Protocol(
            code::PROTOCOL,
            "close frame with a one-byte payload",
        )),
        _ => {
            let c = u16::from_be_bytes([payload[0], payload[1]]);
            if !is_valid_close_code(c) {
                return Err(ReadError::Protocol(code::PROTOCOL, "invalid close code"));
            }
            let reason = std::str::from_utf8(&payload[2..]).map_err(|_| {
                ReadError::Protocol(code::INVALID_DATA, "invalid UTF-8 in a close reason")
            })?;
            Ok(Frame::Close(Some(c), reason.to_string()))
        }
    }
}

/// The writing side of a WebSocket connection.
pub(crate) struct Writer {
    io: Option<WriteHalf<Box<dyn Io>>>,
    buf: Vec<u8>,
    deflate: Option<Deflater>,
    /// A frame was cut short (its send was cancelled): the stream is no longer well formed.
    broken: bool,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

/// XORs `data` with the masking key (RFC 6455 §5.3), sixteen bytes at a time.
pub(crate) fn apply_mask(data: &mut [u8], key: [u8; 4]) {
    let mut k16 = [0u8; 16];
    for (i, b) in k16.iter_mut().enumerate() {
        *b = key[i & 3];
    }
    let wide = u128::from_ne_bytes(k16);
    let mut chunks = data.chunks_exact_mut(16);
    for c in &mut chunks {
        let mut w = [0u8; 16];
        w.copy_from_slice(c);
        c.copy_from_slice(&(u128::from_ne_bytes(w) ^ wide).to_ne_bytes());
    }
    // 16 is a multiple of 4: the rest starts at key[0].
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

impl Writer {
    pub(crate) fn new(io: WriteHalf<Box<dyn Io>>, deflate: Option<Deflater>) -> Self {
        Writer {
            io: Some(io),
            buf: Vec::with_capacity(READ_CHUNK),
            deflate,
            broken: false,
        }
    }

    /// Whether messages are compressed.
    pub(crate) fn compresses(&self) -> bool {
        self.deflate.is_some()
    }

    /// Sends one frame: `compress` deflates a data frame's payload (when agreed).
    ///
    /// # Cancel safety
    /// Not cancel-safe: a frame cut short leaves the connection unusable (later sends fail).
    pub(crate) async fn send(
        &mut self,
        opcode: OpCode,
        payload: &[u8],
        compress: bool,
    ) -> io::Result<()> {
        if self.broken {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "an earlier send was cancelled in the middle of a frame",
            ));
        }
        let Some(io) = self.io.as_mut() else {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the WebSocket is closed",
            ));
        };
        let compressed;
        let (payload, rsv1) = match (&mut self.deflate, compress, opcode) {
            (Some(d), true, OpCode::Data(_)) => {
                compressed = d.compress(payload)?;
                (&compressed[..], true)
            }
            _ => (payload, false),
        };
        let key: [u8; 4] = rand::random();
        let header = FrameHeader {
            is_final: true,
            rsv1,
            rsv2: false,
            rsv3: false,
            opcode,
            mask: Some(key),
        };
        self.buf.clear();
        header
            .format(payload.len() as u64, &mut self.buf)
            .map_err(io::Error::other)?;
        let start = self.buf.len();
        self.buf.extend_from_slice(payload);
        apply_mask(&mut self.buf[start..], key);
        self.broken = true;
        io.write_all(&self.buf).await?;
        io.flush().await?;
        self.broken = false;
        if self.buf.capacity() > KEEP_WRITE_BUFFER {
            // A rare large message does not keep its buffer; a stream of ordinary ones (up
            // to 1 MiB) reuses it.
            self.buf = Vec::with_capacity(READ_CHUNK);
        }
        Ok(())
    }

    /// Ends the writing side: a FIN to the peer, and the half let go.
    pub(crate) async fn shutdown(&mut self) {
        if let Some(mut io) = self.io.take() {
            let _ = io.shutdown().await;
        }
    }

    /// Lets go of the writing half at once (no FIN is waited for).
    pub(crate) fn drop_io(&mut self) {
        self.io = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use test_support::ws_frame_bytes as frame;

    fn reader(bytes: &[u8], max: usize, deflate: bool) -> Reader {
        let (a, _b) = tokio::io::duplex(64);
        let io: Box<dyn Io> = Box::new(a);
        let (r, _w) = tokio::io::split(io);
        let agreed = super::super::deflate::Agreed {
            client_window_bits: 15,
            server_window_bits: 15,
            client_no_context_takeover: false,
            server_no_context_takeover: false,
        };
        let mut rd = Reader::new(
            r,
            Bytes::copy_from_slice(bytes),
            max,
            deflate.then(|| Inflater::new(&agreed)),
        );
        rd.shut();
        rd
    }

    fn read_all(bytes: &[u8], max: usize, deflate: bool) -> Result<Vec<Frame>, u16> {
        let mut r = reader(bytes, max, deflate);
        let mut out = Vec::new();
        loop {
            match r.parse() {
                Ok(Some(f)) => out.push(f),
                Ok(None) => return Ok(out),
                Err(ReadError::Protocol(code, _)) => return Err(code),
                Err(e) => panic!("{e:?}"),
            }
        }
    }

    #[test]
    fn frames_table() {
        let t = |s: &str| Frame::Text(Bytes::copy_from_slice(s.as_bytes()));
        let ok: Vec<(Vec<u8>, Vec<Frame>)> = vec![
            (frame(true, 0, 1, b"hi"), vec![t("hi")]),
            (
                frame(true, 0, 2, &[0, 1, 2]),
                vec![Frame::Binary(Bytes::from_static(&[0, 1, 2]))],
            ),
            (
                [
                    frame(false, 0, 1, b"he"),
                    frame(true, 0, 9, b"p"),
                    frame(true, 0, 0, b"llo"),
                ]
                .concat(),
                vec![Frame::Ping(Bytes::from_static(b"p")), t("hello")],
            ),
            (
                // A multibyte character split across fragments.
                [
                    frame(false, 0, 1, &"é".as_bytes()[..1]),
                    frame(true, 0, 0, &"é".as_bytes()[1..]),
                ]
                .concat(),
                vec![t("é")],
            ),
            (
                frame(true, 0, 8, &[]),
                vec![Frame::Close(None, String::new())],
            ),
            (
                frame(true, 0, 8, &[0x03, 0xe8, b'o', b'k']),
                vec![Frame::Close(Some(1000), "ok".into())],
            ),
            (
                frame(true, 0, 8, &[0x0f, 0xa0]),
                vec![Frame::Close(Some(4000), String::new())],
            ),
            (
                frame(true, 0, 10, b"x"),
                vec![Frame::Pong(Bytes::from_static(b"x"))],
            ),
            (frame(false, 0, 1, b"partial"), vec![]),
        ];
        for (bytes, want) in ok {
            assert_eq!(read_all(&bytes, usize::MAX, false), Ok(want), "{bytes:?}");
        }
        let bad: Vec<(Vec<u8>, u16)> = vec![
            (frame(true, 0b100, 1, b"x"), 1002),  // RSV1 without deflate
            (frame(true, 0b010, 1, b"x"), 1002),  // RSV2
            (frame(true, 0b001, 2, b"x"), 1002),  // RSV3
            (frame(true, 0, 3, b"x"), 1002),      // reserved data opcode
            (frame(true, 0, 11, b"x"), 1002),     // reserved control opcode
            (frame(false, 0, 9, b"x"), 1002),     // fragmented ping
            (frame(true, 0, 9, &[0; 126]), 1002), // long ping
            (frame(true, 0, 0, b"x"), 1002),      // continuation with nothing to continue
            (
                [frame(false, 0, 1, b"a"), frame(true, 0, 1, b"b")].concat(),
                1002,
            ), // new message mid-way
            (frame(true, 0, 1, &[0xff]), 1007),   // invalid UTF-8
            (frame(true, 0, 1, &[0xe2, 0x82]), 1007), // truncated sequence
            (frame(true, 0, 8, &[0x03]), 1002),   // one-byte close
            (frame(true, 0, 8, &[0x03, 0xed]), 1002), // 1005
            (frame(true, 0, 8, &[0x03, 0xee]), 1002), // 1006
            (frame(true, 0, 8, &[0x03, 0xe7]), 1002), // 999
            (frame(true, 0, 8, &[0x03, 0xe8, 0xff]), 1007), // reason not UTF-8
            (
                {
                    let mut f = frame(true, 0, 1, b"x");
                    f[1] |= 0x80;
                    f.splice(2..2, [1, 2, 3, 4]);
                    f
                },
                1002,
            ), // masked by the server
            (frame(true, 0, 2, &[0; 11]), 1009),  // over the limit of 10
            (
                [frame(false, 0, 2, &[0; 6]), frame(true, 0, 0, &[0; 6])].concat(),
                1009,
            ),
        ];
        for (bytes, code) in bad {
            assert_eq!(
                read_all(&bytes, 10.max(if code == 1009 { 10 } else { 1000 }), false),
                Err(code),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn invalid_text_fails_before_the_frame_is_whole() {
        // The header says 100 bytes; the first 3 arrived, and they cannot be UTF-8.
        let mut bytes = frame(true, 0, 1, &[b'a'; 100]);
        bytes.truncate(2 + 3);
        bytes[3] = 0xff;
        assert_eq!(read_all(&bytes, usize::MAX, false), Err(1007));
        // Valid so far: wait for more.
        let mut bytes = frame(true, 0, 1, "aé".repeat(50).as_bytes());
        bytes.truncate(2 + 2 + 2);
        assert_eq!(read_all(&bytes, usize::MAX, false), Ok(vec![]));
    }

    #[test]
    fn compressed_messages() {
        let agreed = super::super::deflate::Agreed {
            client_window_bits: 15,
            server_window_bits: 15,
            client_no_context_takeover: false,
            server_no_context_takeover: false,
        };
        let mut d = Deflater::new(&agreed);
        let c1 = d.compress(b"hello hello hello").expect("deflate");
        let c2 = d.compress(&[7u8; 5000]).expect("deflate");
        let (a, b) = c2.split_at(c2.len() / 2);
        let bytes = [
            frame(true, 0b100, 1, &c1),
            frame(false, 0b100, 2, a),
            frame(true, 0, 0, b),
        ]
        .concat();
        assert_eq!(
            read_all(&bytes, usize::MAX, true),
            Ok(vec![
                Frame::Text(Bytes::from_static(b"hello hello hello")),
                Frame::Binary(Bytes::from(vec![7u8; 5000]))
            ])
        );
        // A bomb stops at the limit.
        let bomb = Deflater::new(&agreed)
            .compress(&vec![0u8; 4 << 20])
            .expect("deflate");
        assert_eq!(
            read_all(&frame(true, 0b100, 2, &bomb), 1 << 20, true),
            Err(1009)
        );
    }

    #[test]
    fn compressed_frames_are_bounded_by_their_announced_length() {
        let agreed = super::super::deflate::Agreed {
            client_window_bits: 15,
            server_window_bits: 15,
            client_no_context_takeover: false,
            server_no_context_takeover: false,
        };
        let max = 64 * 1024;
        // A header alone announcing 16 MiB of compressed payload: refused at once, and nothing
        // reserved for it.
        let mut head = frame(true, 0b100, 2, &[]);
        head.truncate(1);
        head.push(127);
        head.extend_from_slice(&(16u64 << 20).to_be_bytes());
        let mut r = reader(&head, max, true);
        assert!(matches!(
            r.parse(),
            Err(ReadError::Protocol(code::TOO_BIG, _))
        ));
        assert!(r.buf.capacity() < 1 << 20, "{}", r.buf.capacity());
        // Incompressible data of exactly `max` bytes still fits: its encoding is longer than
        // `max`.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..max)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        let packed = Deflater::new(&agreed).compress(&noise).expect("deflate");
        assert!(packed.len() > max, "{}", packed.len());
        // Over continuation frames the compressed bytes add up: a valid first part, then a
        // continuation announcing more than the rest may take.
        let start = frame(false, 0b100, 2, &packed[..max / 2]);
        let rest = raw_limit(max) as usize - max / 2;
        for (more, too_big) in [(rest, false), (rest + 1, true)] {
            let mut cont = frame(false, 0, 0, &[]);
            cont.truncate(1);
            cont.push(127);
            cont.extend_from_slice(&(more as u64).to_be_bytes());
            let got = reader(&[start.clone(), cont].concat(), max, true).parse();
            if too_big {
                assert!(
                    matches!(got, Err(ReadError::Protocol(code::TOO_BIG, _))),
                    "{got:?}"
                );
            } else {
                assert!(matches!(got, Ok(None)), "{got:?}");
            }
        }
        let got = read_all(&frame(true, 0b100, 2, &packed), max, true);
        assert!(
            got == Ok(vec![Frame::Binary(Bytes::from(noise))]),
            "{} compressed bytes: {:?}",
            packed.len(),
            got.map(|f| f.len())
        );
    }

    #[test]
    fn utf8_pieces() {
        let s = "aé€😀z".as_bytes();
        for split in 0..s.len() {
            let mut c = Utf8Check::default();
            assert!(
                c.feed(&s[..split]) && c.feed(&s[split..]) && c.finish(),
                "{split}"
            );
        }
        let mut c = Utf8Check::default();
        assert!(c.feed(&[0xf0, 0x9f]));
        assert!(!c.feed(&[0x41]));
        let mut c = Utf8Check::default();
        assert!(c.feed(&[0xe2]) && !c.finish());
    }

    #[test]
    fn masking_matches_the_rfc_example() {
        // RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
        let mut data = *b"Hello";
        apply_mask(&mut data, [0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
        let mut long: Vec<u8> = (0..100u8).collect();
        apply_mask(&mut long, [1, 2, 3, 4]);
        for (i, b) in long.iter().enumerate() {
            assert_eq!(*b, (i as u8) ^ [1, 2, 3, 4][i % 4]);
        }
    }

    #[test]
    fn close_codes() {
        for c in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999,
        ] {
            assert!(is_valid_close_code(c), "{c}");
        }
        for c in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            assert!(!is_valid_close_code(c), "{c}");
        }
    }
}
