//! httpie's request items: the words after the URL that say what to send.
//!
//! | item | meaning |
//! |---|---|
//! | `Header:value` | a request header (`Header:` sends it empty) |
//! | `name==value` | a query parameter |
//! | `name=value` | a data field: a JSON string, or a form field with `--form` |
//! | `name:=json` | a data field with a raw JSON value (JSON bodies only) |
//! | `name=@file` | a data field whose value is the text of `file` |
//! | `name:=@file` | a data field whose raw JSON value is read from `file` |
//! | `name@file` | a file uploaded as a multipart part (implies `--form`) |
//!
//! The separator is the first one in the word (the longest of those that start there);
//! a backslash before a separator character makes it part of the name or value.

use std::fmt;
use std::path::PathBuf;

/// One request item.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `Header:value`.
    Header(String, String),
    /// `name==value`.
    Query(String, String),
    /// `name=value`.
    Field(String, String),
    /// `name=@file`.
    FieldFile(String, PathBuf),
    /// `name:=json`.
    Json(String, serde_json::Value),
    /// `name:=@file`.
    JsonFile(String, PathBuf),
    /// `name@file`.
    Upload(String, PathBuf),
}

/// A word that is no request item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError(pub String);

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ItemError {}

/// The separators, longest first so that at one position the longest wins.
const SEPARATORS: [&str; 7] = [":=@", "=@", ":=", "==", "=", ":", "@"];

/// Parses one request item.
///
/// # Errors
/// The word has no separator, an empty name, or a `:=` value that is not JSON.
pub fn parse(word: &str) -> Result<Item, ItemError> {
    let (key, sep, value) = split(word).ok_or_else(|| {
        ItemError(format!(
            "{word:?} is not a request item (Header:value, name==value, name=value, \
             name:=json, name@file)"
        ))
    })?;
    if key.is_empty() && sep != ":" {
        return Err(ItemError(format!("{word:?}: the name is empty")));
    }
    Ok(match sep {
        ":" => {
            if key.is_empty() {
                return Err(ItemError(format!("{word:?}: the header name is empty")));
            }
            Item::Header(key, value.trim_start().to_string())
        }
        "==" => Item::Query(key, value),
        "=" => Item::Field(key, value),
        "=@" => Item::FieldFile(key, PathBuf::from(value)),
        ":=" => {
            let json = serde_json::from_str(&value)
                .map_err(|e| ItemError(format!("{word:?}: the value is not JSON: {e}")))?;
            Item::Json(key, json)
        }
        ":=@" => Item::JsonFile(key, PathBuf::from(value)),
        _ => Item::Upload(key, PathBuf::from(value)),
    })
}

/// The name (unescaped), the separator and the value (unescaped) of `word`.
fn split(word: &str) -> Option<(String, &'static str, String)> {
    let bytes = word.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if let Some(sep) = SEPARATORS.iter().find(|s| word[i..].starts_with(**s)) {
            return Some((unescape(&word[..i]), sep, unescape(&word[i + sep.len()..])));
        }
        i += 1;
    }
    None
}

/// Drops the backslash before a separator character (or another backslash).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(&next) = chars.peek() {
                if matches!(next, ':' | '=' | '@' | '\\') {
                    out.push(next);
                    chars.next();
                    continue;
                }
            }
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn items_table() {
        let p = |s: &str| PathBuf::from(s);
        let h = |k: &str, v: &str| Item::Header(k.into(), v.into());
        let cases: Vec<(&str, Item)> = vec![
            ("X-Api:key", h("X-Api", "key")),
            ("X-Api: spaced", h("X-Api", "spaced")),
            ("X-Empty:", h("X-Empty", "")),
            ("Host:a:8080", h("Host", "a:8080")),
            ("q==rust", Item::Query("q".into(), "rust".into())),
            ("q==a=b", Item::Query("q".into(), "a=b".into())),
            ("name=value", Item::Field("name".into(), "value".into())),
            ("name=", Item::Field("name".into(), String::new())),
            (
                "url=http://x/?a=1",
                Item::Field("url".into(), "http://x/?a=1".into()),
            ),
            ("n:=1", Item::Json("n".into(), json!(1))),
            ("l:=[1,\"a\"]", Item::Json("l".into(), json!([1, "a"]))),
            (
                "o:={\"a\":null}",
                Item::Json("o".into(), json!({"a": null})),
            ),
            ("t=@notes.txt", Item::FieldFile("t".into(), p("notes.txt"))),
            ("j:=@data.json", Item::JsonFile("j".into(), p("data.json"))),
            ("doc@./a b.pdf", Item::Upload("doc".into(), p("./a b.pdf"))),
            ("a\\:b=c", Item::Field("a:b".into(), "c".into())),
            ("a\\=b==c", Item::Query("a=b".into(), "c".into())),
            ("k=v\\@x", Item::Field("k".into(), "v@x".into())),
            (
                "mail=me@example.com",
                Item::Field("mail".into(), "me@example.com".into()),
            ),
            (
                "me@example.com=x",
                Item::Upload("me".into(), p("example.com=x")),
            ),
        ];
        for (word, want) in cases {
            assert_eq!(parse(word), Ok(want), "{word}");
        }
    }

    #[test]
    fn bad_items_are_errors() {
        for word in ["plain", "=v", ":v", "==v", "n:=nope", "n:={", "@f"] {
            assert!(parse(word).is_err(), "{word}");
        }
    }
}
