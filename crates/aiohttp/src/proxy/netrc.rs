//! `~/.netrc` (or `$NETRC`): the login and password for a host, when the session trusts the
//! environment and the request has no credentials of its own (aiohttp's `trust_env`).
//!
//! The format (as curl and Python's `netrc` read it): whitespace-separated tokens;
//! `machine NAME` starts an entry, `default` one that matches any host; `login`, `password`
//! and `account` take a value; `macdef NAME` is followed by a macro that ends at a blank line.
//! Values may be double-quoted, with `\` escaping the next character.

/// Credentials found for a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Credentials {
    pub(crate) login: String,
    pub(crate) password: String,
}

/// The tokens of a netrc file; macros are skipped.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let mut chars = line.chars().peekable();
        let mut line_tokens = Vec::new();
        loop {
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            let Some(&c) = chars.peek() else { break };
            if c == '#' && line_tokens.is_empty() {
                break;
            }
            let mut tok = String::new();
            if c == '"' {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                tok.push(n);
                            }
                        }
                        c => tok.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() {
                        break;
                    }
                    tok.push(c);
                    chars.next();
                }
            }
            line_tokens.push(tok);
        }
        // `macdef` where a keyword stands (not as the value of `login`, `password`, `account`
        // or `machine`): it, its name and the rest of the line are the macro's, and so is
        // everything up to the next blank line.
        let macro_at = (0..line_tokens.len()).find(|&i| {
            let before = if i == 0 {
                out.last()
            } else {
                line_tokens.get(i - 1)
            };
            line_tokens[i] == "macdef"
                && !before.is_some_and(|b| {
                    matches!(b.as_str(), "login" | "password" | "account" | "machine")
                })
        });
        if let Some(at) = macro_at {
            line_tokens.truncate(at);
        }
        out.extend(line_tokens);
        if macro_at.is_some() {
            for l in lines.by_ref() {
                if l.trim().is_empty() {
                    break;
                }
            }
        }
    }
    out
}

/// The credentials for `host` in a netrc file's text: its `machine` entry, else `default`.
/// An entry without a login is no match.
pub(crate) fn lookup(text: &str, host: &str) -> Option<Credentials> {
    let toks = tokens(text);
    let mut found: Option<Credentials> = None;
    let mut default: Option<Credentials> = None;
    let mut i = 0;
    while i < toks.len() {
        let (is_default, matches) = match toks[i].as_str() {
            "machine" => {
                i += 1;
                let m = toks.get(i).is_some_and(|m| m.eq_ignore_ascii_case(host));
                (false, m)
            }
            "default" => (true, true),
            _ => {
                i += 1;
                continue;
            }
        };
        i += 1;
        let (mut login, mut password) = (None, None);
        while i < toks.len() && toks[i] != "machine" && toks[i] != "default" {
            match toks[i].as_str() {
                "login" | "user" => login = toks.get(i + 1).cloned(),
                "password" | "passwd" => password = toks.get(i + 1).cloned(),
                "account" => {}
                _ => {
                    i += 1;
                    continue;
                }
            }
            i += 2;
        }
        if matches {
            let cred = login.map(|login| Credentials {
                login,
                password: password.unwrap_or_default(),
            });
            if is_default {
                default = default.or(cred);
            } else if found.is_none() {
                found = cred;
            }
        }
    }
    found.or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(l: &str, p: &str) -> Option<Credentials> {
        Some(Credentials {
            login: l.into(),
            password: p.into(),
        })
    }

    #[test]
    fn lookup_table() {
        let file = r#"
# a comment
machine a.test login alice password secret
machine B.TEST
    login bob
    password "with space \" quote"
macdef init
cd /pub
machine evil.test login mallory password x

machine c.test login carol
default login anon password guest
machine late.test login late password l
"#;
        let table = [
            ("a.test", cred("alice", "secret")),
            ("b.test", cred("bob", "with space \" quote")),
            ("c.test", cred("carol", "")),
            ("late.test", cred("late", "l")),
            // Inside the macro: not an entry.
            ("evil.test", cred("anon", "guest")),
            ("other.test", cred("anon", "guest")),
        ];
        for (host, want) in table {
            assert_eq!(lookup(file, host), want, "{host}");
        }
        assert_eq!(lookup("machine a.test login x", "b.test"), None);
        assert_eq!(lookup("", "a.test"), None);
        assert_eq!(lookup("machine", "a.test"), None);
        assert_eq!(
            lookup("machine a.test password p", "a.test"),
            None,
            "no login"
        );
        // A `macdef` takes no token before it on its line, even without a name or mid-line.
        for text in [
            "machine h login one password 1\nmacdef\nmachine h login evil\n\n",
            "machine h login one password 1 macdef m\nmachine h login evil\n\n",
            "machine h login one password 1\nmacdef m machine h login evil\n\n",
        ] {
            assert_eq!(lookup(text, "h"), cred("one", "1"), "{text:?}");
        }
        // As a value, `macdef` is only a value.
        assert_eq!(
            lookup("machine h login macdef password p", "h"),
            cred("macdef", "p")
        );
        // The first entry for a host wins.
        assert_eq!(
            lookup(
                "machine h login one password 1\nmachine h login two password 2",
                "h"
            ),
            cred("one", "1")
        );
    }
}
