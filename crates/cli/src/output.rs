//! How heads and bodies are printed: plain functions over bytes and strings, so that they
//! can be tested without a terminal.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};

/// Whether output is formatted and coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Look {
    /// JSON indented, binary bodies replaced by a notice.
    pub format: bool,
    /// ANSI colours.
    pub color: bool,
}

impl Look {
    /// Neither formatted nor coloured.
    pub const RAW: Look = Look {
        format: false,
        color: false,
    };
}

const NAME: Style = AnsiColor::Cyan.on_default();
const STATUS_OK: Style = AnsiColor::Green.on_default().bold();
const STATUS_REDIRECT: Style = AnsiColor::Yellow.on_default().bold();
const STATUS_ERROR: Style = AnsiColor::Red.on_default().bold();
const METHOD: Style = AnsiColor::Green.on_default().bold();
const KEY: Style = AnsiColor::Blue.on_default().bold();
const STRING: Style = AnsiColor::Yellow.on_default();
const LITERAL: Style = AnsiColor::Magenta.on_default();

fn paint(out: &mut String, style: Style, text: &str, color: bool) {
    if color {
        let _ = write!(out, "{style}{text}{style:#}");
    } else {
        out.push_str(text);
    }
}

/// A response's head: its status line, then its header lines as received (raw names, in
/// order), then an empty line.
pub fn response_head(
    version: &str,
    status: u16,
    reason: &str,
    raw: &[(bytes::Bytes, bytes::Bytes)],
    look: Look,
) -> String {
    let mut out = String::new();
    out.push_str(version);
    out.push(' ');
    let style = match status {
        200..=299 => STATUS_OK,
        300..=399 => STATUS_REDIRECT,
        _ => STATUS_ERROR,
    };
    let line = if reason.is_empty() {
        status.to_string()
    } else {
        format!("{status} {reason}")
    };
    paint(&mut out, style, &line, look.color);
    out.push('\n');
    for (name, value) in raw {
        header_line(
            &mut out,
            &String::from_utf8_lossy(name),
            &String::from_utf8_lossy(value),
            look,
        );
    }
    out.push('\n');
    out
}

/// A request's head as sent: the request line, then its headers, then an empty line.
pub fn request_head<'a>(
    method: &str,
    target: &str,
    version: &str,
    headers: impl IntoIterator<Item = (&'a str, String)>,
    look: Look,
) -> String {
    let mut out = String::new();
    paint(&mut out, METHOD, method, look.color);
    let _ = writeln!(out, " {target} {version}");
    for (name, value) in headers {
        header_line(&mut out, name, &value, look);
    }
    out.push('\n');
    out
}

fn header_line(out: &mut String, name: &str, value: &str, look: Look) {
    paint(out, NAME, name, look.color);
    out.push_str(": ");
    out.push_str(value);
    out.push('\n');
}

/// Whether a `Content-Type` says JSON (`application/json`, `*/*+json`).
pub fn is_json(content_type: &str) -> bool {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.contains('/') && mime.ends_with("+json"))
}

/// Whether a body is binary: it has a NUL byte, or is not UTF-8.
pub fn is_binary(body: &[u8]) -> bool {
    body.contains(&0) || std::str::from_utf8(body).is_err()
}

/// The notice printed in place of a binary body on a terminal.
pub const BINARY_NOTICE: &str = "+-----------------------------------------+\n\
| NOTE: binary data not shown in terminal |\n\
+-----------------------------------------+\n";

/// A body as printed: JSON indented (and coloured) when `look` says so and the body parses,
/// a binary body replaced by a notice when formatting, the text otherwise.
pub fn body(content_type: &str, body: &[u8], look: Look) -> Vec<u8> {
    if !look.format {
        return body.to_vec();
    }
    if is_json(content_type) || looks_like_json(body) {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
            let mut out = String::new();
            json(&mut out, &value, 0, look.color);
            out.push('\n');
            return out.into_bytes();
        }
    }
    if is_binary(body) {
        return BINARY_NOTICE.as_bytes().to_vec();
    }
    body.to_vec()
}

fn looks_like_json(body: &[u8]) -> bool {
    matches!(
        body.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{') | Some(b'[')
    )
}

/// `value` indented by 4 spaces a level, keys in the order the value holds them.
pub fn json(out: &mut String, value: &serde_json::Value, depth: usize, color: bool) {
    use serde_json::Value;
    let pad = |out: &mut String, d: usize| out.push_str(&"    ".repeat(d));
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push_str("{\n");
            let n = map.len();
            for (i, (k, v)) in map.iter().enumerate() {
                pad(out, depth + 1);
                paint(out, KEY, &Value::String(k.clone()).to_string(), color);
                out.push_str(": ");
                json(out, v, depth + 1, color);
                out.push_str(if i + 1 < n { ",\n" } else { "\n" });
            }
            pad(out, depth);
            out.push('}');
        }
        Value::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            let n = items.len();
            for (i, v) in items.iter().enumerate() {
                pad(out, depth + 1);
                json(out, v, depth + 1, color);
                out.push_str(if i + 1 < n { ",\n" } else { "\n" });
            }
            pad(out, depth);
            out.push(']');
        }
        Value::String(_) => paint(out, STRING, &value.to_string(), color),
        _ => paint(out, LITERAL, &value.to_string(), color),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bytes::Bytes;

    const PLAIN: Look = Look {
        format: true,
        color: false,
    };
    const COLOR: Look = Look {
        format: true,
        color: true,
    };

    #[test]
    fn response_head_keeps_the_raw_header_case() {
        let raw = vec![
            (Bytes::from("X-MiXeD"), Bytes::from("1")),
            (Bytes::from("content-type"), Bytes::from("text/plain")),
        ];
        assert_eq!(
            response_head("HTTP/1.1", 200, "OK", &raw, Look::RAW),
            "HTTP/1.1 200 OK\nX-MiXeD: 1\ncontent-type: text/plain\n\n"
        );
        let painted = response_head("HTTP/1.1", 404, "Not Found", &raw, COLOR);
        assert!(painted.contains("\u{1b}["), "{painted:?}");
        assert!(painted.contains("404 Not Found"));
    }

    #[test]
    fn request_head_lines() {
        let head = request_head(
            "POST",
            "/p?q=1",
            "HTTP/1.1",
            [("Host", "a:1".to_string()), ("X-A", "b".to_string())],
            Look::RAW,
        );
        assert_eq!(head, "POST /p?q=1 HTTP/1.1\nHost: a:1\nX-A: b\n\n");
    }

    #[test]
    fn json_is_indented_when_formatted() {
        let got = body(
            "application/json",
            br#"{"a":[1,{"b":null}],"c":"x","d":{},"e":[]}"#,
            PLAIN,
        );
        let want = "{\n    \"a\": [\n        1,\n        {\n            \"b\": null\n        }\n    ],\n    \
\"c\": \"x\",\n    \"d\": {},\n    \"e\": []\n}\n";
        assert_eq!(String::from_utf8(got).unwrap(), want);
    }

    #[test]
    fn bodies_table() {
        // (content type, body, look, what comes out)
        let cases: Vec<(&str, &[u8], Look, &[u8])> = vec![
            ("application/json", b"{\"a\":1}", Look::RAW, b"{\"a\":1}"),
            ("application/problem+json", b"[1]", PLAIN, b"[\n    1\n]\n"),
            ("text/plain", b" {\"a\":1}", PLAIN, b"{\n    \"a\": 1\n}\n"),
            ("application/json", b"{not json", PLAIN, b"{not json"),
            ("text/plain", b"hello", PLAIN, b"hello"),
            (
                "application/octet-stream",
                b"a\0b",
                PLAIN,
                BINARY_NOTICE.as_bytes(),
            ),
            ("application/octet-stream", b"a\0b", Look::RAW, b"a\0b"),
        ];
        for (ct, input, look, want) in cases {
            assert_eq!(body(ct, input, look), want, "{ct} {input:?} {look:?}");
        }
    }

    #[test]
    fn colours_only_when_asked() {
        let coloured =
            String::from_utf8(body("application/json", b"{\"k\":\"v\"}", COLOR)).unwrap();
        assert!(coloured.contains("\u{1b}["));
        let plain = String::from_utf8(body("application/json", b"{\"k\":\"v\"}", PLAIN)).unwrap();
        assert!(!plain.contains('\u{1b}'));
    }

    #[test]
    fn json_types() {
        for (ct, want) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("application/vnd.api+json", true),
            ("text/json+x", false),
            ("text/plain", false),
            ("+json", false),
        ] {
            assert_eq!(is_json(ct), want, "{ct}");
        }
    }
}
