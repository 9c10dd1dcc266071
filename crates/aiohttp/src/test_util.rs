//! Helpers shared by the inline tests: compressed bodies and WebSocket frames as a server
//! would send them.

use std::io::Write as _;

use tokio::io::AsyncReadExt as _;

/// `data` gzip-compressed.
pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

/// `data` in a zlib stream (HTTP's `deflate`).
pub(crate) fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("zlib");
    e.finish().expect("zlib")
}

/// `data` as raw deflate, without the zlib wrapper.
pub(crate) fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("deflate");
    e.finish().expect("deflate")
}

/// All that `encoder` reads out.
pub(crate) async fn encoded(mut encoder: impl tokio::io::AsyncRead + Unpin) -> Vec<u8> {
    let mut out = Vec::new();
    encoder.read_to_end(&mut out).await.expect("encoder");
    out
}

/// `data` brotli-compressed.
pub(crate) async fn brotli(data: &[u8]) -> Vec<u8> {
    encoded(async_compression::tokio::bufread::BrotliEncoder::new(data)).await
}

/// `data` in one zstd frame.
pub(crate) async fn zstd(data: &[u8]) -> Vec<u8> {
    encoded(async_compression::tokio::bufread::ZstdEncoder::new(data)).await
}

/// A WebSocket frame as a server sends it (unmasked); `rsv` holds the bits RSV1-RSV3 as 4, 2
/// and 1.
pub(crate) fn ws_frame(fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![(u8::from(fin) << 7) | (rsv << 4) | opcode];
    match payload.len() {
        n if n < 126 => v.push(n as u8),
        n if n < 65536 => {
            v.push(126);
            v.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            v.push(127);
            v.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    v.extend_from_slice(payload);
    v
}
