//! Multipart bodies: [`FormData`] builds `multipart/form-data` (or urlencoded) request bodies
//! whose parts may be streamed; [`MultipartReader`] reads a `multipart/*` response part by
//! part while it streams in.
//!
//! - `form`: [`FormData`] and [`FormField`], turned into a [`Body`](crate::Body).
//! - `reader`: [`MultipartReader`] and [`BodyPartReader`], the I/O side of reading.
//! - `parse`: what the reader decides with no I/O, table-tested: the boundary of a
//!   `Content-Type`, the delimiter search, the line after a delimiter, part headers,
//!   `Content-Disposition` parameters (RFC 2231/5987 `filename*` included).

mod form;
mod parse;
mod reader;

pub use form::{FormData, FormField};
pub use reader::{BodyPartReader, MultipartReader, DEFAULT_MAX_PART_SIZE};
