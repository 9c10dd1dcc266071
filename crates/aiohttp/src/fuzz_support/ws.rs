//! WebSocket frames as read, and the opening handshake with permessage-deflate.

use super::*;

// ---- ws_frames ----

/// A WebSocket message or control frame, as the reader hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsFrame {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Bytes),
    /// A ping.
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// A close frame: its code and reason.
    Close(Option<u16>, String),
}

/// Why the reader stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEnd {
    /// The server broke a rule: the close code.
    Protocol(u16),
    /// The stream ended (`mid`: in the middle of a frame or message).
    Eof {
        /// In the middle of a frame or message.
        mid: bool,
    },
    /// The transport failed.
    Io,
}

/// The WebSocket frame reader (`ws/frame.rs`: frames, fragments, UTF-8, permessage-deflate
/// under `max_msg_size`) over what a server sends.
///
/// Layout: a flags byte — bits 0-1 `max_msg_size` (16, 125, 1024, 65536 bytes), bit 2
/// permessage-deflate agreed, bit 3 with `server_no_context_takeover` — then a byte for how
/// the bytes are cut into reads, then the server's stream.
///
/// Checks: the frames and the end are the same whether the bytes arrive whole or in pieces;
/// text is UTF-8; no message is over `max_msg_size`; control frames carry at most 125 bytes;
/// close codes are valid ones; a violation closes with 1002, 1007 or 1009.
///
/// ```
/// use aiohttp::fuzz_support::{ws_frames, WsEnd, WsFrame};
/// let (frames, end) = ws_frames(b"\x03\x00\x81\x02hi");
/// assert_eq!(frames, [WsFrame::Text("hi".into())]);
/// assert_eq!(end, WsEnd::Eof { mid: false });
/// ```
pub fn ws_frames(data: &[u8]) -> (Vec<WsFrame>, WsEnd) {
    let mut input = Input(data);
    let flags = input.byte();
    let seed = input.byte();
    let wire = input.rest();
    let max = [16usize, 125, 1024, 65536][usize::from(flags & 3)];
    let agreed = (flags & 4 != 0).then_some(Agreed {
        client_window_bits: 15,
        server_window_bits: 15,
        client_no_context_takeover: false,
        server_no_context_takeover: flags & 8 != 0,
    });
    let whole = block_on(read_frames(Scripted::new(wire, 7), max, agreed));
    let split = block_on(read_frames(Scripted::new(wire, seed), max, agreed));
    assert_eq!(whole, split, "the frames depend on how the reads were cut");
    let (frames, end) = whole;
    for f in &frames {
        match f {
            WsFrame::Text(t) => assert!(t.len() <= max),
            WsFrame::Binary(b) => assert!(b.len() <= max),
            WsFrame::Ping(b) | WsFrame::Pong(b) => assert!(b.len() <= 125),
            WsFrame::Close(code, reason) => {
                assert!(code.is_none_or(frame::is_valid_close_code));
                assert!(reason.len() <= 123);
            }
        }
    }
    if let WsEnd::Protocol(code) = &end {
        assert!(matches!(code, 1002 | 1007 | 1009), "close code {code}");
    }
    (frames, end)
}

async fn read_frames(io: Scripted, max: usize, agreed: Option<Agreed>) -> (Vec<WsFrame>, WsEnd) {
    let io: Box<dyn Io> = Box::new(io);
    let (rd, _wr) = tokio::io::split(io);
    let mut reader = Reader::new(rd, Bytes::new(), max, agreed.as_ref().map(Inflater::new));
    let mut frames = Vec::new();
    loop {
        match reader.next().await {
            Ok(f) => frames.push(match f {
                Frame::Text(b) => match String::from_utf8(b.to_vec()) {
                    Ok(s) => WsFrame::Text(s),
                    Err(_) => panic!("a text message that is not UTF-8: {b:?}"),
                },
                Frame::Binary(b) => WsFrame::Binary(b),
                Frame::Ping(b) => WsFrame::Ping(b),
                Frame::Pong(b) => WsFrame::Pong(b),
                Frame::Close(code, reason) => WsFrame::Close(code, reason),
            }),
            Err(ReadError::Protocol(code, _)) => return (frames, WsEnd::Protocol(code)),
            Err(ReadError::Eof { mid }) => return (frames, WsEnd::Eof { mid }),
            Err(ReadError::Io(_)) => return (frames, WsEnd::Io),
        }
    }
}

// ---- ws_handshake ----

/// The `Sec-WebSocket-Key` of the handshake entry (RFC 6455's example); its accept value is
/// `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`.
pub const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The subprotocols the handshake entry offers.
const WS_PROTOCOLS: [&str; 2] = ["chat", "superchat"];

/// The checks of the server's answer to a WebSocket upgrade (`ws/handshake.rs`) and the
/// permessage-deflate agreement (`ws/deflate.rs`), then the agreed compression both ways.
///
/// Layout: a byte for the offer (bit 0 permessage-deflate offered; bits 1-3 the server window
/// offered, 8 to 15; bit 4 `client_no_context_takeover`; bit 5 `server_no_context_takeover`),
/// two bytes for the status (big-endian; 101 when not a status code), then header lines
/// `Name: value`; the request's key is [`WS_KEY`], the protocols offered `chat` and `superchat`.
///
/// Checks: an accepted answer is a 101; its protocol was offered; deflate is agreed only when
/// offered, with windows of 8 to 15 bits (the server's at most the one offered, when the
/// server names one) and granting the context takeover asked for;
/// with the agreed settings, messages compressed by one side inflate back on the other.
///
/// ```
/// let got = aiohttp::fuzz_support::ws_handshake(
///     b"\x00\x00\x65Upgrade: websocket\nConnection: Upgrade\n\
///       Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
/// );
/// assert_eq!(got, Ok((None, false)));
/// ```
///
/// # Errors
/// What the handshake checks say is wrong with the answer.
pub fn ws_handshake(data: &[u8]) -> Result<(Option<String>, bool), &'static str> {
    let mut input = Input(data);
    let o = input.byte();
    let offer = (o & 1 != 0).then_some(Offer {
        window_bits: 8 + ((o >> 1) & 7),
        client_no_context_takeover: o & 0x10 != 0,
        server_no_context_takeover: o & 0x20 != 0,
    });
    let code = u16::from_be_bytes([input.byte(), input.byte()]);
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SWITCHING_PROTOCOLS);
    let mut headers = HeaderMap::new();
    for line in input.rest().split(|&b| b == b'\n') {
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let value = line[colon + 1..].trim_ascii();
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(line[..colon].trim_ascii()),
            HeaderValue::from_bytes(value),
        ) {
            headers.append(n, v);
        }
    }
    // The agreement alone, whatever else the answer holds.
    let answers: Vec<String> = headers
        .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    let answers: Vec<&str> = answers.iter().map(String::as_str).collect();
    if let Ok(Some(a)) = deflate::agree(offer.as_ref(), &answers) {
        check_agreed(offer.as_ref(), &a);
    }
    let protocols: Vec<String> = WS_PROTOCOLS.iter().map(|p| p.to_string()).collect();
    let accepted = handshake::check(status, &headers, WS_KEY, &protocols, offer.as_ref())?;
    assert_eq!(status, StatusCode::SWITCHING_PROTOCOLS);
    if let Some(p) = &accepted.protocol {
        assert!(
            WS_PROTOCOLS.contains(&p.as_str()),
            "protocol {p:?} was not offered"
        );
    }
    if let Some(a) = &accepted.deflate {
        check_agreed(offer.as_ref(), a);
        // Both directions, several messages, so that a context kept or reset shows.
        let messages: Vec<&[u8]> = data.chunks(97).collect();
        roundtrip(
            a.client_window_bits,
            a.client_no_context_takeover,
            &messages,
        );
        roundtrip(
            a.server_window_bits,
            a.server_no_context_takeover,
            &messages,
        );
    }
    Ok((accepted.protocol, accepted.deflate.is_some()))
}

fn check_agreed(offer: Option<&Offer>, a: &Agreed) {
    let Some(offer) = offer else {
        panic!("permessage-deflate agreed without an offer: {a:?}");
    };
    assert!((8..=15).contains(&a.client_window_bits), "{a:?}");
    // A server that names no `server_max_window_bits` keeps the default window of 15 even when
    // a smaller one was offered (RFC 7692 wants it named; the answer is accepted, and the
    // client inflates with a 15-bit window whatever the server uses). One it names is at most
    // the offer.
    assert!(
        (8..=offer.window_bits).contains(&a.server_window_bits) || a.server_window_bits == 15,
        "{a:?} for {offer:?}"
    );
    assert!(!offer.server_no_context_takeover || a.server_no_context_takeover);
    assert!(!offer.client_no_context_takeover || a.client_no_context_takeover);
}

/// Messages compressed with `window_bits` (and a context reset after each one, or not) inflate
/// back to themselves.
fn roundtrip(window_bits: u8, no_context_takeover: bool, messages: &[&[u8]]) {
    let a = Agreed {
        client_window_bits: window_bits,
        server_window_bits: window_bits,
        client_no_context_takeover: no_context_takeover,
        server_no_context_takeover: no_context_takeover,
    };
    let mut deflater = Deflater::new(&a);
    let mut inflater = Inflater::new(&a);
    for m in messages {
        let c = match deflater.compress(m) {
            Ok(c) => c,
            Err(e) => panic!("compressing a message failed: {e}"),
        };
        let mut out = Vec::new();
        if let Err(e) = inflater.inflate(&c, true, &mut out, usize::MAX) {
            panic!("a compressed message does not inflate: {e:?}");
        }
        assert_eq!(&out[..], *m, "a message changed through deflate");
    }
}
