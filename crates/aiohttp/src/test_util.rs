//! Helpers shared by the inline tests: compressed bodies as a server would send them.
//! (WebSocket frames as a server sends them: `test_support::ws_frame_bytes`.)

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
