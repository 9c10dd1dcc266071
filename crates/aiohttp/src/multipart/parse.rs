//! What `MultipartReader` decides without I/O: the boundary of a `Content-Type`, the search for
//! the delimiter in part bodies, the line after a delimiter, the part headers, and the
//! parameters of `Content-Disposition` and `Content-Type`.

use http::{HeaderMap, HeaderName, HeaderValue};

/// The longest boundary RFC 2046 allows (aiohttp refuses longer ones too).
pub(crate) const MAX_BOUNDARY: usize = 70;
/// The longest part header line, terminator excluded (aiohttp's `max_line_size`).
pub(crate) const MAX_HEADER_LINE: usize = 8190;
/// The most header fields a part may have.
pub(crate) const MAX_HEADERS: usize = 128;
/// The longest header block of a part, blank line included.
pub(crate) const MAX_HEADER_BLOCK: usize = 64 * 1024;
/// The longest run of transport padding (spaces, tabs) after a delimiter.
const MAX_PADDING: usize = 256;

/// The boundary of a `multipart/*` content type.
///
/// # Errors
/// Not `multipart/*`, no `boundary` parameter, or a boundary that is empty or longer than 70
/// characters: a message saying which.
pub(crate) fn boundary_of(content_type: &str) -> Result<String, String> {
    let (media, params) = parse_params(content_type)
        .ok_or_else(|| format!("malformed Content-Type {content_type:?}"))?;
    if !media.to_ascii_lowercase().starts_with("multipart/") {
        return Err(format!(
            "multipart/* content type expected, got {content_type:?}"
        ));
    }
    let boundary = params
        .into_iter()
        .find(|(k, _)| k == "boundary")
        .map(|(_, v)| v)
        .ok_or_else(|| format!("boundary missed for Content-Type: {content_type}"))?;
    if boundary.is_empty() {
        return Err("the multipart boundary is empty".to_string());
    }
    if boundary.len() > MAX_BOUNDARY {
        return Err(format!(
            "boundary {boundary:?} is too long ({MAX_BOUNDARY} chars max)"
        ));
    }
    Ok(boundary)
}

/// Where the next delimiter (`\r\n--boundary`) stands in a part body's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// The delimiter starts here: the bytes before it are the part's.
    Found(usize),
    /// No delimiter yet; this many leading bytes are the part's for sure (the rest may be the
    /// start of a delimiter cut by the end of what has arrived).
    Clear(usize),
}

/// Searches `buf` for `delim`. Without a match, holds back the longest tail of `buf` that is a
/// beginning of `delim`.
pub(crate) fn scan(buf: &[u8], delim: &[u8]) -> Scan {
    if let Some(at) = memchr::memmem::find(buf, delim) {
        return Scan::Found(at);
    }
    let longest = delim.len().saturating_sub(1).min(buf.len());
    let held = (1..=longest)
        .rev()
        .find(|&k| buf.ends_with(&delim[..k]))
        .unwrap_or(0);
    Scan::Clear(buf.len() - held)
}

/// What follows a delimiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tail {
    /// Not enough bytes to tell.
    More,
    /// `--`: the close delimiter; the body's parts are over.
    Final,
    /// Padding and a line end: the next part's headers start after this many bytes.
    Next(usize),
    /// Anything else: the body is malformed.
    Invalid,
}

/// Classifies the bytes right after a delimiter: `--` ends the body, optional spaces or tabs
/// then CRLF (or a bare LF) open another part.
pub(crate) fn tail(buf: &[u8]) -> Tail {
    match buf {
        [] | [b'-'] => return Tail::More,
        [b'-', b'-', ..] => return Tail::Final,
        [b'-', ..] => return Tail::Invalid,
        _ => {}
    }
    let pad = buf.iter().take_while(|&&c| c == b' ' || c == b'\t').count();
    if pad > MAX_PADDING {
        return Tail::Invalid;
    }
    match &buf[pad..] {
        [] | [b'\r'] if pad < MAX_PADDING => Tail::More,
        [b'\r', b'\n', ..] => Tail::Next(pad + 2),
        [b'\n', ..] => Tail::Next(pad + 1),
        _ => Tail::Invalid,
    }
}

/// An incremental search for the end of a part's header block (the first empty line), that
/// checks the limits as bytes arrive and looks at each byte once however the block is split.
#[derive(Debug, Default, Clone)]
pub(crate) struct HeaderScan {
    /// Bytes looked at so far.
    pos: usize,
    /// Where the current line starts.
    line_start: usize,
    /// Header lines seen.
    lines: usize,
}

impl HeaderScan {
    /// Looks at the new bytes of `buf` (which only grows between calls). Returns the length of
    /// the block, blank line included, once it is complete.
    ///
    /// # Errors
    /// A line longer than [`MAX_HEADER_LINE`], more than [`MAX_HEADERS`] lines, or a block
    /// longer than [`MAX_HEADER_BLOCK`].
    pub(crate) fn feed(&mut self, buf: &[u8]) -> Result<Option<usize>, &'static str> {
        while let Some(nl) = memchr::memchr(b'\n', &buf[self.pos..]) {
            let end = self.pos + nl;
            let line = &buf[self.line_start..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.len() > MAX_HEADER_LINE {
                return Err("a part header line is too long");
            }
            if end + 1 > MAX_HEADER_BLOCK {
                return Err("the part headers are too long");
            }
            if line.is_empty() {
                return Ok(Some(end + 1));
            }
            self.lines += 1;
            if self.lines > MAX_HEADERS {
                return Err("a part has too many headers");
            }
            self.pos = end + 1;
            self.line_start = self.pos;
        }
        self.pos = buf.len();
        if self.pos - self.line_start > MAX_HEADER_LINE + 1 {
            return Err("a part header line is too long");
        }
        if self.pos > MAX_HEADER_BLOCK {
            return Err("the part headers are too long");
        }
        Ok(None)
    }
}

/// Parses a complete header block (as [`HeaderScan`] delimits it): `Name: value` lines ending
/// in CRLF or LF, then the blank line.
///
/// # Errors
/// A line without a colon, a name that is not a token, a value with control characters, or a
/// continuation line (obsolete folding).
pub(crate) fn parse_headers(block: &[u8]) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for line in block.split(|&c| c == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            return Err("a part header line is folded (obsolete line folding)".to_string());
        }
        let colon = memchr::memchr(b':', line)
            .ok_or_else(|| format!("a part header line has no colon: {:?}", lossy(line)))?;
        let name = HeaderName::from_bytes(&line[..colon])
            .map_err(|_| format!("invalid part header name {:?}", lossy(&line[..colon])))?;
        let value = trim(&line[colon + 1..]);
        let value = HeaderValue::from_bytes(value)
            .map_err(|_| format!("invalid value for part header {name}"))?;
        headers.append(name, value);
    }
    Ok(headers)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(64)]).into_owned()
}

fn trim(mut b: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}

/// A header value as text: UTF-8 when it is, else Latin-1 (each byte one character).
pub(crate) fn header_text(value: &HeaderValue) -> String {
    match std::str::from_utf8(value.as_bytes()) {
        Ok(s) => s.to_string(),
        Err(_) => value.as_bytes().iter().map(|&b| char::from(b)).collect(),
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}".contains(c)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_token_char)
}

/// Splits `value; k=v; k="quoted \" v"` into the leading value and its parameters (keys in
/// lowercase, quoted values unescaped). `None` for a malformed list: a parameter without `=`,
/// a key that is not a token, an unquoted value that is not a token (non-ASCII text allowed),
/// an unterminated quote, or a key given twice.
pub(crate) fn parse_params(header: &str) -> Option<(String, Vec<(String, String)>)> {
    let (first, mut rest) = match header.find(';') {
        Some(i) => (&header[..i], &header[i + 1..]),
        None => (header, ""),
    };
    let first = first.trim();
    if first.is_empty() || !first.split('/').all(is_token) {
        return None;
    }
    let mut params: Vec<(String, String)> = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        if rest.is_empty() {
            break;
        }
        let eq = rest.find('=')?;
        let key = rest[..eq].trim().to_ascii_lowercase();
        if !is_token(&key) {
            return None;
        }
        rest = rest[eq + 1..].trim_start_matches([' ', '\t']);
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => value.push(chars.next()?.1),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            rest = &quoted[end?..];
            value
        } else {
            let end = rest.find(';').unwrap_or(rest.len());
            let value = rest[..end].trim();
            if value.is_empty() || !value.chars().all(|c| is_token_char(c) || !c.is_ascii()) {
                return None;
            }
            rest = &rest[end..];
            value.to_string()
        };
        if params.iter().any(|(k, _)| *k == key) {
            return None;
        }
        params.push((key, value));
        let after = rest.trim_start_matches([' ', '\t']);
        if !after.is_empty() && !after.starts_with(';') {
            return None;
        }
        rest = after;
    }
    Some((first.to_ascii_lowercase(), params))
}

/// Decodes an RFC 5987 `ext-value`: `charset'language'percent-encoded` (UTF-8 or ISO-8859-1,
/// or any charset label encoding_rs knows). `None` when it is malformed.
pub(crate) fn decode_ext_value(value: &str) -> Option<String> {
    let mut parts = value.splitn(3, '\'');
    let charset = parts.next()?;
    let _language = parts.next()?;
    let encoded = parts.next()?;
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(encoded).collect();
    if encoded
        .split('%')
        .skip(1)
        .any(|h| h.len() < 2 || !h.as_bytes()[..2].iter().all(u8::is_ascii_hexdigit))
    {
        return None;
    }
    let encoding = if charset.is_empty() {
        encoding_rs::UTF_8
    } else {
        encoding_rs::Encoding::for_label_no_replacement(charset.trim().as_bytes())?
    };
    let (text, had_errors) = encoding.decode_without_bom_handling(&bytes);
    (!had_errors).then(|| text.into_owned())
}

/// A parameter of a `Content-Disposition`, preferring the RFC 2231/5987 form `key*` (decoded)
/// over the plain `key` (aiohttp's `content_disposition_filename`). `None` when the header is
/// malformed or has no such parameter.
pub(crate) fn disposition_param(header: &str, key: &str) -> Option<String> {
    let (_, params) = parse_params(header)?;
    let star = format!("{key}*");
    params
        .iter()
        .find(|(k, _)| *k == star)
        .and_then(|(_, v)| decode_ext_value(v))
        .or_else(|| params.into_iter().find(|(k, _)| k == key).map(|(_, v)| v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundary_table() {
        let ok = [
            ("multipart/form-data; boundary=abc", "abc"),
            ("Multipart/Mixed;boundary=\"a b:c\"", "a b:c"),
            ("multipart/related; type=\"text/html\"; boundary=x-y", "x-y"),
            ("multipart/byteranges; BOUNDARY=up", "up"),
        ];
        for (ct, want) in ok {
            assert_eq!(boundary_of(ct).as_deref(), Ok(want), "{ct}");
        }
        let long = format!("multipart/mixed; boundary={}", "x".repeat(71));
        let bad = [
            "text/plain; boundary=abc",
            "multipart/mixed",
            "multipart/mixed; boundary=\"\"",
            "multipart/mixed; boundary=\"unterminated",
            "multipart/mixed; boundary",
            "",
            long.as_str(),
        ];
        for ct in bad {
            assert!(boundary_of(ct).is_err(), "{ct:?}");
        }
    }

    #[test]
    fn scan_table() {
        let d = b"\r\n--bound";
        let cases: [(&[u8], Scan); 9] = [
            (b"", Scan::Clear(0)),
            (b"abc", Scan::Clear(3)),
            (b"abc\r\n--bound", Scan::Found(3)),
            (b"\r\n--bound\r\n", Scan::Found(0)),
            (b"abc\r", Scan::Clear(3)),
            (b"abc\r\n--bo", Scan::Clear(3)),
            (b"abc\r\n--bx", Scan::Clear(9)),
            // A delimiter prefix inside a longer run: only the real tail is held back.
            (b"\r\n\r\n-", Scan::Clear(2)),
            (b"x\r\n--boun\r\n--bound", Scan::Found(9)),
        ];
        for (buf, want) in cases {
            assert_eq!(scan(buf, d), want, "{:?}", String::from_utf8_lossy(buf));
        }
    }

    #[test]
    fn scan_finds_every_split_of_the_same_body() {
        // However the bytes are cut, emitting the clear bytes and rescanning the rest yields
        // the same part content.
        let d = b"\r\n--XYZ";
        let body = b"ab\r\n--XY\r\n-\r\n--XYZ trailing";
        let want = b"ab\r\n--XY\r\n-";
        for cut in 1..body.len() {
            let mut got = Vec::new();
            let mut buf = Vec::new();
            let mut found = false;
            for piece in body.chunks(cut) {
                buf.extend_from_slice(piece);
                match scan(&buf, d) {
                    Scan::Found(at) => {
                        got.extend_from_slice(&buf[..at]);
                        found = true;
                        break;
                    }
                    Scan::Clear(n) => {
                        got.extend_from_slice(&buf[..n]);
                        buf.drain(..n);
                    }
                }
            }
            assert!(found, "cut {cut}");
            assert_eq!(got, want, "cut {cut}");
        }
    }

    #[test]
    fn tail_table() {
        let cases: [(&[u8], Tail); 14] = [
            (b"", Tail::More),
            (b"-", Tail::More),
            (b"--", Tail::Final),
            (b"--\r\nepilogue", Tail::Final),
            (b"-x", Tail::Invalid),
            (b"\r", Tail::More),
            (b"\r\n", Tail::Next(2)),
            (b"\n", Tail::Next(1)),
            (b"  \t\r\nX", Tail::Next(5)),
            (b"  ", Tail::More),
            (b"x\r\n", Tail::Invalid),
            (b"\rx", Tail::Invalid),
            (b" x", Tail::Invalid),
            (&[b' '; 300], Tail::Invalid),
        ];
        for (buf, want) in cases {
            assert_eq!(tail(buf), want, "{:?}", String::from_utf8_lossy(buf));
        }
    }

    #[test]
    fn header_scan_finds_the_end_however_split() {
        let block = b"Content-Disposition: form-data; name=\"a\"\r\nX: 1\r\n\r\nbody";
        for cut in 1..block.len() {
            let mut scan = HeaderScan::default();
            let mut buf = Vec::new();
            let mut end = None;
            for piece in block.chunks(cut) {
                buf.extend_from_slice(piece);
                if let Some(e) = scan.feed(&buf).expect("within limits") {
                    end = Some(e);
                    break;
                }
            }
            assert_eq!(end, Some(block.len() - 4), "cut {cut}");
        }
        // A block with no header at all, and LF-only lines.
        assert_eq!(HeaderScan::default().feed(b"\r\nbody"), Ok(Some(2)));
        assert_eq!(
            HeaderScan::default().feed(b"A: 1\nB: 2\n\nbody"),
            Ok(Some(11))
        );
    }

    #[test]
    fn header_scan_limits() {
        let long_line = vec![b'a'; MAX_HEADER_LINE + 2];
        assert_eq!(
            HeaderScan::default().feed(&long_line),
            Err("a part header line is too long")
        );
        let mut ok_line = vec![b'a'; MAX_HEADER_LINE];
        ok_line.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            HeaderScan::default().feed(&ok_line),
            Ok(Some(MAX_HEADER_LINE + 4))
        );
        let many: Vec<u8> = b"X: 1\r\n".repeat(MAX_HEADERS + 1);
        assert_eq!(
            HeaderScan::default().feed(&many),
            Err("a part has too many headers")
        );
        let mut big = Vec::new();
        for _ in 0..20 {
            big.extend_from_slice(&[b'a'; 4000]);
            big.extend_from_slice(b"\r\n");
        }
        assert_eq!(
            HeaderScan::default().feed(&big),
            Err("the part headers are too long")
        );
    }

    #[test]
    fn parse_headers_table() {
        let h = parse_headers(
            b"Content-Disposition: form-data; name=\"a\"\r\ncontent-type:  text/plain \r\nX: \xe9t\xc3\xa9\r\n\r\n",
        )
        .expect("valid");
        assert_eq!(h["content-disposition"], "form-data; name=\"a\"");
        assert_eq!(h["content-type"], "text/plain");
        assert_eq!(h["x"].as_bytes(), b"\xe9t\xc3\xa9");
        assert!(parse_headers(b"\r\n").expect("empty").is_empty());
        let bad: [&[u8]; 5] = [
            b"no colon here\r\n\r\n",
            b"Bad Name: x\r\n\r\n",
            b": empty name\r\n\r\n",
            b"A: 1\r\n folded\r\n\r\n",
            b"A: nul\0byte\r\n\r\n",
        ];
        for block in bad {
            assert!(
                parse_headers(block).is_err(),
                "{:?}",
                String::from_utf8_lossy(block)
            );
        }
    }

    #[test]
    fn disposition_table() {
        // (header, name, filename)
        let cases: [(&str, Option<&str>, Option<&str>); 10] = [
            ("form-data; name=\"a\"", Some("a"), None),
            (
                "form-data; name=a; filename=\"x.txt\"",
                Some("a"),
                Some("x.txt"),
            ),
            (
                "attachment; filename=\"plain.txt\"; filename*=UTF-8''%E2%82%AC%20rates.txt",
                None,
                Some("€ rates.txt"),
            ),
            (
                "attachment; filename*=iso-8859-1'en'%A3%20rates",
                None,
                Some("£ rates"),
            ),
            // A broken ext-value falls back to the plain parameter.
            (
                "attachment; filename=\"ok\"; filename*=UTF-8''%ZZ",
                None,
                Some("ok"),
            ),
            ("attachment; filename*=UTF-8''%FF", None, None),
            (
                "form-data; name=\"q\\\"uote\\\\d\"",
                Some("q\"uote\\d"),
                None,
            ),
            (
                "form-data; name=\"semi;colon\"; filename=\"été.txt\"",
                Some("semi;colon"),
                Some("été.txt"),
            ),
            // Malformed: the whole header is ignored, as aiohttp does.
            ("form-data; name", None, None),
            ("form-data; name=\"a\"; name=\"b\"", None, None),
        ];
        for (header, name, filename) in cases {
            assert_eq!(
                disposition_param(header, "name").as_deref(),
                name,
                "{header}"
            );
            assert_eq!(
                disposition_param(header, "filename").as_deref(),
                filename,
                "{header}"
            );
        }
    }

    #[test]
    fn params_table() {
        assert_eq!(
            parse_params("Text/HTML; Charset=\"utf-8\""),
            Some((
                "text/html".to_string(),
                vec![("charset".to_string(), "utf-8".to_string())]
            ))
        );
        assert_eq!(parse_params("a/b;"), Some(("a/b".to_string(), vec![])));
        for bad in [
            "",
            "a/b; k=\"open",
            "a/b; k=v w",
            "a/b; =v",
            "a b/c",
            "a/b; k=\"v\"x",
        ] {
            assert_eq!(parse_params(bad), None, "{bad:?}");
        }
    }
}
