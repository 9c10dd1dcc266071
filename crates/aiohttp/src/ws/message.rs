//! `WSMessage` and `WSMsgType`, as aiohttp names them.

use bytes::Bytes;

use crate::error::ClientError;

/// The kind of a WebSocket message (aiohttp's `WSMsgType`, with its numbering).
///
/// ```
/// use aiohttp::WSMsgType;
/// assert_eq!(WSMsgType::Text as u16, 0x1);
/// assert_eq!(WSMsgType::Closed as u16, 0x101);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum WSMsgType {
    /// A continuation frame (only for [`send_frame`](crate::ClientWebSocketResponse::send_frame)).
    Continuation = 0x0,
    /// A text message: `data` is UTF-8.
    Text = 0x1,
    /// A binary message.
    Binary = 0x2,
    /// A ping (received only with `autoping(false)`).
    Ping = 0x9,
    /// A pong (received only with `autoping(false)`).
    Pong = 0xa,
    /// The peer's close frame: [`WSMessage::close_code`] and `extra` (the reason).
    Close = 0x8,
    /// The close handshake is under way.
    Closing = 0x100,
    /// The WebSocket is closed.
    Closed = 0x101,
    /// A failure: [`WSMessage::error`]; the WebSocket is closed (or, for a `receive_timeout`,
    /// still open).
    Error = 0x102,
}

/// One message received (aiohttp's `WSMessage`: `type`, `data`, `extra`).
///
/// ```
/// use aiohttp::{WSMessage, WSMsgType};
/// let m = WSMessage::new_text("hi");
/// assert_eq!(m.kind, WSMsgType::Text);
/// assert_eq!(m.text(), Some("hi"));
/// assert_eq!(&m.data[..], b"hi");
/// ```
#[derive(Debug)]
pub struct WSMessage {
    /// What the message is.
    pub kind: WSMsgType,
    /// The payload: text (UTF-8), binary, or a ping/pong payload; empty otherwise.
    pub data: Bytes,
    /// The close reason of a [`WSMsgType::Close`].
    pub extra: Option<String>,
    code: Option<u16>,
    error: Option<ClientError>,
}

impl WSMessage {
    pub(crate) fn new(kind: WSMsgType, data: Bytes) -> Self {
        WSMessage {
            kind,
            data,
            extra: None,
            code: None,
            error: None,
        }
    }

    /// A text message.
    ///
    /// ```
    /// assert_eq!(aiohttp::WSMessage::new_text("a").data, "a");
    /// ```
    pub fn new_text(s: impl Into<String>) -> Self {
        WSMessage::new(WSMsgType::Text, Bytes::from(s.into()))
    }

    /// A binary message.
    ///
    /// ```
    /// assert_eq!(aiohttp::WSMessage::new_binary(vec![1, 2]).data, vec![1u8, 2]);
    /// ```
    pub fn new_binary(b: impl Into<Bytes>) -> Self {
        WSMessage::new(WSMsgType::Binary, b.into())
    }

    pub(crate) fn close(code: Option<u16>, reason: String) -> Self {
        WSMessage {
            code,
            extra: Some(reason),
            ..WSMessage::new(WSMsgType::Close, Bytes::new())
        }
    }

    pub(crate) fn closed() -> Self {
        WSMessage::new(WSMsgType::Closed, Bytes::new())
    }

    pub(crate) fn failure(e: ClientError) -> Self {
        WSMessage {
            error: Some(e),
            ..WSMessage::new(WSMsgType::Error, Bytes::new())
        }
    }

    /// The text of a [`WSMsgType::Text`] message (`None` for other kinds).
    ///
    /// ```
    /// assert_eq!(aiohttp::WSMessage::new_text("é").text(), Some("é"));
    /// ```
    pub fn text(&self) -> Option<&str> {
        match self.kind {
            WSMsgType::Text => std::str::from_utf8(&self.data).ok(),
            _ => None,
        }
    }

    /// The close code of a [`WSMsgType::Close`] message (`None` if the frame had none).
    ///
    /// ```
    /// assert_eq!(aiohttp::WSMessage::new_text("a").close_code(), None);
    /// ```
    pub fn close_code(&self) -> Option<u16> {
        self.code
    }

    /// The failure of a [`WSMsgType::Error`] message.
    ///
    /// ```
    /// assert!(aiohttp::WSMessage::new_text("a").error().is_none());
    /// ```
    pub fn error(&self) -> Option<&ClientError> {
        self.error.as_ref()
    }

    /// Takes the failure out of a [`WSMsgType::Error`] message.
    ///
    /// ```
    /// assert!(aiohttp::WSMessage::new_text("a").into_error().is_none());
    /// ```
    pub fn into_error(self) -> Option<ClientError> {
        self.error
    }

    /// The message ends the stream of messages (close, closing, closed).
    pub(crate) fn ends_stream(&self) -> bool {
        matches!(
            self.kind,
            WSMsgType::Close | WSMsgType::Closing | WSMsgType::Closed
        )
    }
}
