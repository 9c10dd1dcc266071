//! permessage-deflate (RFC 7692): the offer, the server's answer, and the per-message
//! compressor and decompressor (raw deflate through `flate2`).

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The four bytes a sync flush ends with; a message is sent without them and they are put
/// back before inflating (RFC 7692 §7.2.1–7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// What the client offers: compression with at most `window_bits` for the server's window
/// (15 = the default, not named), and the context-takeover requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Offer {
    pub(crate) window_bits: u8,
    pub(crate) client_no_context_takeover: bool,
    pub(crate) server_no_context_takeover: bool,
}

impl Offer {
    /// The `Sec-WebSocket-Extensions` value of the offer.
    pub(crate) fn header(&self) -> String {
        let mut s = String::from("permessage-deflate; client_max_window_bits");
        if self.window_bits < 15 {
            s.push_str(&format!("; server_max_window_bits={}", self.window_bits));
        }
        if self.client_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if self.server_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        s
    }
}

/// What both sides agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Agreed {
    /// The window the client compresses with.
    pub(crate) client_window_bits: u8,
    /// The window the server compresses with (the client inflates with any window up to 15).
    pub(crate) server_window_bits: u8,
    /// The client starts every message with an empty window.
    pub(crate) client_no_context_takeover: bool,
    /// The server starts every message with an empty window.
    pub(crate) server_no_context_takeover: bool,
}

/// Reads the server's `Sec-WebSocket-Extensions` answer to `offer` (`None`: no offer was
/// made). `Ok(None)`: no extension in use. An extension that was not offered, a parameter
/// the offer did not allow, or a malformed value is an error (the handshake fails).
pub(crate) fn agree(
    offer: Option<&Offer>,
    answers: &[&str],
) -> Result<Option<Agreed>, &'static str> {
    let mut agreed: Option<Agreed> = None;
    for value in answers {
        for ext in value.split(',') {
            let ext = ext.trim();
            if ext.is_empty() {
                continue;
            }
            let mut params = ext.split(';').map(str::trim);
            let name = params.next().unwrap_or("");
            if !name.eq_ignore_ascii_case("permessage-deflate") {
                return Err("the server chose an extension that was not offered");
            }
            let Some(offer) = offer else {
                return Err("the server chose permessage-deflate, which was not offered");
            };
            if agreed.is_some() {
                return Err("the server chose permessage-deflate twice");
            }
            let mut a = Agreed {
                client_window_bits: 15,
                server_window_bits: 15,
                client_no_context_takeover: offer.client_no_context_takeover,
                server_no_context_takeover: false,
            };
            let mut seen = [false; 4];
            for p in params {
                if p.is_empty() {
                    continue;
                }
                let (k, v) = match p.split_once('=') {
                    Some((k, v)) => (k.trim(), Some(v.trim().trim_matches('"'))),
                    None => (p, None),
                };
                let slot = match k.to_ascii_lowercase().as_str() {
                    "server_no_context_takeover" if v.is_none() => {
                        a.server_no_context_takeover = true;
                        0
                    }
                    "client_no_context_takeover" if v.is_none() => {
                        a.client_no_context_takeover = true;
                        1
                    }
                    "server_max_window_bits" => {
                        let bits = window_bits(v)?;
                        if bits > offer.window_bits {
                            return Err("the server's window is larger than offered");
                        }
                        a.server_window_bits = bits;
                        2
                    }
                    "client_max_window_bits" => {
                        a.client_window_bits = window_bits(v)?;
                        3
                    }
                    _ => {
                        return Err(
                            "the server answered permessage-deflate with an unknown parameter",
                        )
                    }
                };
                if std::mem::replace(&mut seen[slot], true) {
                    return Err("the server repeated a permessage-deflate parameter");
                }
            }
            if offer.server_no_context_takeover && !a.server_no_context_takeover {
                // Asked for, and not granted: RFC 7692 lets the client refuse; we do.
                return Err("the server did not accept server_no_context_takeover");
            }
            agreed = Some(a);
        }
    }
    Ok(agreed)
}

fn window_bits(v: Option<&str>) -> Result<u8, &'static str> {
    match v.and_then(|v| v.parse::<u8>().ok()) {
        Some(b @ 8..=15) => Ok(b),
        _ => Err("invalid permessage-deflate window size"),
    }
}

/// Compresses messages, one at a time.
pub(crate) struct Deflater {
    z: Compress,
    reset_each: bool,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater").finish_non_exhaustive()
    }
}

impl Deflater {
    pub(crate) fn new(a: &Agreed) -> Self {
        // zlib has no raw deflate with a 256-byte window; 9 is its smallest.
        let bits = a.client_window_bits.max(9);
        Deflater {
            z: Compress::new_with_window_bits(Compression::new(1), false, bits),
            reset_each: a.client_no_context_takeover,
        }
    }

    /// One message, compressed, without the trailing `00 00 ff ff`.
    pub(crate) fn compress(&mut self, input: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(input.len() / 2 + 64);
        let start_in = self.z.total_in();
        loop {
            let done = (self.z.total_in() - start_in) as usize;
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(64));
            }
            self.z
                .compress_vec(&input[done..], &mut out, FlushCompress::Sync)
                .map_err(std::io::Error::other)?;
            let consumed = (self.z.total_in() - start_in) as usize;
            // Finished when all input is in and the flush fitted (room was left over).
            if consumed == input.len() && out.len() < out.capacity() {
                break;
            }
        }
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        if out.is_empty() {
            // Nothing new to flush (an empty message after another): an empty message is the
            // single byte 0x00 (RFC 7692 §7.2.3.6), never an empty compressed payload.
            out.push(0x00);
        }
        if self.reset_each {
            self.z.reset();
        }
        Ok(out)
    }
}

/// Inflates messages, frame by frame, never past a size limit.
pub(crate) struct Inflater {
    z: Decompress,
    reset_each: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater").finish_non_exhaustive()
    }
}

/// Why inflating stopped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// The message would grow past the limit.
    TooBig,
    /// The data is not valid deflate.
    Corrupt,
}

impl Inflater {
    pub(crate) fn new(a: &Agreed) -> Self {
        Inflater {
            // A 15-bit window reads whatever window the server used.
            z: Decompress::new_with_window_bits(false, 15),
            reset_each: a.server_no_context_takeover,
        }
    }

    /// Inflates one frame's payload of a compressed message onto `out`, which may not grow
    /// beyond `limit` bytes; `last`: the frame ends the message.
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        last: bool,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        self.feed(input, out, limit)?;
        if last {
            self.feed(&TAIL, out, limit)?;
            if self.reset_each {
                self.z.reset(false);
            }
        }
        Ok(())
    }

    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        let start_in = self.z.total_in();
        loop {
            let consumed = (self.z.total_in() - start_in) as usize;
            let room = limit.saturating_sub(out.len());
            if out.capacity() == out.len() {
                // Grow by steps, never past the limit (plus one byte to notice an overflow).
                let step = (input.len() * 4)
                    .clamp(4096, 1 << 20)
                    .min(room.saturating_add(1));
                out.reserve_exact(step.max(1));
            }
            // Inflate into the spare capacity, but never more than one byte past the limit.
            let spare = out.capacity() - out.len();
            let window = spare.min(room.saturating_add(1));
            let before_out = self.z.total_out();
            let status = if window < spare {
                let mut chunk = Vec::with_capacity(window);
                let st =
                    self.z
                        .decompress_vec(&input[consumed..], &mut chunk, FlushDecompress::Sync);
                out.extend_from_slice(&chunk);
                st
            } else {
                self.z
                    .decompress_vec(&input[consumed..], out, FlushDecompress::Sync)
            };
            let produced = (self.z.total_out() - before_out) as usize;
            let status = status.map_err(|_| InflateError::Corrupt)?;
            if out.len() > limit {
                return Err(InflateError::TooBig);
            }
            let consumed_now = (self.z.total_in() - start_in) as usize;
            let all_in = consumed_now == input.len();
            match status {
                Status::StreamEnd => return Ok(()),
                Status::BufError if produced == 0 && all_in => return Ok(()),
                _ if all_in && produced < window => return Ok(()),
                _ => {}
            }
            if produced == 0 && consumed_now == consumed && !all_in && window > 0 {
                return Err(InflateError::Corrupt);
            }
        }
    }
}

/// A message as the compressor leaves it, for tests and benchmarks: `Bytes` of one message.
#[cfg(test)]
pub(crate) fn roundtrip(a: &Agreed, msg: &[u8]) -> bytes::Bytes {
    let mut d = Deflater::new(a);
    let c = d.compress(msg).expect("compress");
    let mut i = Inflater::new(a);
    let mut out = Vec::new();
    i.inflate(&c, true, &mut out, usize::MAX).expect("inflate");
    bytes::Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(bits: u8) -> Offer {
        Offer {
            window_bits: bits,
            client_no_context_takeover: false,
            server_no_context_takeover: false,
        }
    }

    #[test]
    fn offer_headers() {
        assert_eq!(
            offer(15).header(),
            "permessage-deflate; client_max_window_bits"
        );
        assert_eq!(
            offer(10).header(),
            "permessage-deflate; client_max_window_bits; server_max_window_bits=10"
        );
        let o = Offer {
            window_bits: 15,
            client_no_context_takeover: true,
            server_no_context_takeover: true,
        };
        assert_eq!(
            o.header(),
            "permessage-deflate; client_max_window_bits; client_no_context_takeover; server_no_context_takeover"
        );
    }

    #[test]
    fn answers_table() {
        let o = offer(15);
        let def = Agreed {
            client_window_bits: 15,
            server_window_bits: 15,
            client_no_context_takeover: false,
            server_no_context_takeover: false,
        };
        let ok: &[(&[&str], Option<Agreed>)] = &[
            (&[], None),
            (&["permessage-deflate"], Some(def)),
            (&["PerMessage-Deflate ;"], Some(def)),
            (
                &["permessage-deflate; client_max_window_bits=9; server_no_context_takeover"],
                Some(Agreed {
                    client_window_bits: 9,
                    server_no_context_takeover: true,
                    ..def
                }),
            ),
            (
                &["permessage-deflate; server_max_window_bits=\"12\"; client_no_context_takeover"],
                Some(Agreed {
                    server_window_bits: 12,
                    client_no_context_takeover: true,
                    ..def
                }),
            ),
        ];
        for (answers, want) in ok {
            assert_eq!(
                agree(Some(&o), answers).as_ref().ok(),
                Some(want),
                "{answers:?}"
            );
        }
        let bad: &[&[&str]] = &[
            &["x-webkit-deflate-frame"],
            &["permessage-deflate; foo"],
            &["permessage-deflate; server_max_window_bits=16"],
            &["permessage-deflate; server_max_window_bits=7"],
            &["permessage-deflate; server_max_window_bits"],
            &["permessage-deflate; client_max_window_bits=x"],
            &["permessage-deflate; server_no_context_takeover=1"],
            &["permessage-deflate; client_no_context_takeover; client_no_context_takeover"],
            &["permessage-deflate", "permessage-deflate"],
            &["permessage-deflate, permessage-deflate"],
        ];
        for answers in bad {
            assert!(agree(Some(&o), answers).is_err(), "{answers:?}");
        }
        // Nothing offered: any extension is refused; none is fine.
        assert!(agree(None, &["permessage-deflate"]).is_err());
        assert_eq!(agree(None, &[]), Ok(None));
        // The server's window may not be larger than the offer allows.
        assert!(agree(
            Some(&offer(10)),
            &["permessage-deflate; server_max_window_bits=11"]
        )
        .is_err());
        assert!(agree(
            Some(&offer(10)),
            &["permessage-deflate; server_max_window_bits=10"]
        )
        .is_ok());
        // server_no_context_takeover asked for but not granted.
        let strict = Offer {
            server_no_context_takeover: true,
            ..o
        };
        assert!(agree(Some(&strict), &["permessage-deflate"]).is_err());
    }

    #[test]
    fn messages_roundtrip_with_and_without_context() {
        let mut a = Agreed {
            client_window_bits: 15,
            server_window_bits: 15,
            client_no_context_takeover: false,
            server_no_context_takeover: false,
        };
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        for bits in [9u8, 12, 15] {
            for reset in [false, true] {
                a.client_window_bits = bits;
                a.client_no_context_takeover = reset;
                a.server_no_context_takeover = reset;
                for msg in [&b""[..], b"hello", &big] {
                    assert_eq!(&roundtrip(&a, msg)[..], msg, "bits {bits} reset {reset}");
                }
                // Empty messages after others, with the context kept: never an empty payload.
                let (mut d, mut i) = (Deflater::new(&a), Inflater::new(&a));
                for msg in [&b""[..], b"abc", b"", b"", b"x"] {
                    let c = d.compress(msg).expect("compress");
                    assert!(!c.is_empty(), "bits {bits} reset {reset}");
                    let mut out = Vec::new();
                    i.inflate(&c, true, &mut out, usize::MAX).expect("inflate");
                    assert_eq!(&out[..], msg);
                }
                // A stream of messages through one pair keeps working with context.
                let (mut d, mut i) = (Deflater::new(&a), Inflater::new(&a));
                for n in 0..20 {
                    let msg = format!("message {n} {}", "abc".repeat(n));
                    let c = d.compress(msg.as_bytes()).expect("compress");
                    assert!(!c.ends_with(&TAIL));
                    let mut out = Vec::new();
                    i.inflate(&c, true, &mut out, usize::MAX).expect("inflate");
                    assert_eq!(&out[..], msg.as_bytes());
                }
            }
        }
    }

    #[test]
    fn inflating_stops_at_the_limit() {
        let a = Agreed {
            client_window_bits: 15,
            server_window_bits: 15,
            client_no_context_takeover: false,
            server_no_context_takeover: false,
        };
        let bomb = vec![0u8; 10 << 20];
        let c = Deflater::new(&a).compress(&bomb).expect("compress");
        assert!(c.len() < 200_000, "{}", c.len());
        let mut out = Vec::new();
        let r = Inflater::new(&a).inflate(&c, true, &mut out, 1 << 20);
        assert_eq!(r, Err(InflateError::TooBig));
        assert!(out.capacity() <= (2 << 20), "grew to {}", out.capacity());
        // Exactly at the limit is fine.
        let mut out = Vec::new();
        Inflater::new(&a)
            .inflate(&c, true, &mut out, 10 << 20)
            .expect("at the limit");
        assert_eq!(out.len(), 10 << 20);
        // Garbage is corrupt, not a hang.
        let mut out = Vec::new();
        assert_eq!(
            Inflater::new(&a).inflate(&[0xff; 64], true, &mut out, 1 << 20),
            Err(InflateError::Corrupt)
        );
    }
}
