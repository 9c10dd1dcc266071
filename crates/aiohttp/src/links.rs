//! The `Link` header (RFC 8288) as aiohttp's `ClientResponse.links` reads it: each link keyed
//! by its `rel` (else by its URL as written), with its parameters and its URL joined to the
//! response's.

use url::Url;

/// One link of a response's `Link` headers.
///
/// ```
/// let base = aiohttp::Url::parse("http://a.test/items?page=1").unwrap();
/// let links = aiohttp::Links::parse(["<?page=2>; rel=\"next\"; title=Next"], &base);
/// let next = links.get("next").unwrap();
/// assert_eq!(next.url().unwrap().as_str(), "http://a.test/items?page=2");
/// assert_eq!(next.param("title"), Some("Next"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    key: String,
    target: String,
    url: Option<Url>,
    params: Vec<(String, String)>,
}

impl Link {
    /// What the link is found by: its `rel` parameter, else its URL as written.
    ///
    /// ```
    /// let base = aiohttp::Url::parse("http://a.test/").unwrap();
    /// let links = aiohttp::Links::parse(["</x>"], &base);
    /// assert_eq!(links.iter().next().unwrap().key(), "/x");
    /// ```
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The URL as written between `<` and `>`.
    ///
    /// ```
    /// let base = aiohttp::Url::parse("http://a.test/").unwrap();
    /// let links = aiohttp::Links::parse(["</x>; rel=up"], &base);
    /// assert_eq!(links.get("up").unwrap().target(), "/x");
    /// ```
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The URL joined to the response's URL; `None` if it does not parse.
    ///
    /// ```
    /// let base = aiohttp::Url::parse("http://a.test/a/b").unwrap();
    /// let links = aiohttp::Links::parse(["<c>; rel=x"], &base);
    /// assert_eq!(links.get("x").unwrap().url().unwrap().as_str(), "http://a.test/a/c");
    /// ```
    pub fn url(&self) -> Option<&Url> {
        self.url.as_ref()
    }

    /// The first value of parameter `name` (names compare case-insensitively), unquoted.
    ///
    /// ```
    /// let base = aiohttp::Url::parse("http://a.test/").unwrap();
    /// let links = aiohttp::Links::parse(["</s.css>; rel=preload; AS=style"], &base);
    /// assert_eq!(links.get("preload").unwrap().param("as"), Some("style"));
    /// ```
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every parameter in order, as written (names as sent, values unquoted).
    ///
    /// ```
    /// let base = aiohttp::Url::parse("http://a.test/").unwrap();
    /// let links = aiohttp::Links::parse(["</x>; rel=a; hreflang=en; hreflang=de"], &base);
    /// assert_eq!(links.get("a").unwrap().params().len(), 3);
    /// ```
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }
}

/// The links of a response, in the order they were sent (several may share a key).
///
/// ```
/// let base = aiohttp::Url::parse("http://a.test/").unwrap();
/// let links = aiohttp::Links::parse(["</1>; rel=next, </0>; rel=prev", "</2>; rel=next"], &base);
/// assert_eq!(links.len(), 3);
/// assert_eq!(links.get("next").unwrap().target(), "/1");
/// assert_eq!(links.get_all("next").count(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links(Vec<Link>);

impl Links {
    /// Parses `Link` header values (each may hold several links) against the response's URL.
    /// Pieces that are not `<url>` links are skipped, as aiohttp skips them.
    ///
    /// ```
    /// let base = aiohttp::Url::parse("http://a.test/").unwrap();
    /// assert!(aiohttp::Links::parse(["not a link"], &base).is_empty());
    /// ```
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>, base: &Url) -> Links {
        let mut out = Vec::new();
        for value in values {
            for piece in split_links(value) {
                if let Some(link) = parse_link(piece, base) {
                    out.push(link);
                }
            }
        }
        Links(out)
    }

    /// The first link with this key (a `rel`, compared case-insensitively as RFC 8288 asks,
    /// or a URL as written).
    ///
    /// ```
    /// let base = aiohttp::Url::parse("http://a.test/").unwrap();
    /// let links = aiohttp::Links::parse(["</n>; rel=Next"], &base);
    /// assert!(links.get("next").is_some());
    /// ```
    pub fn get(&self, key: &str) -> Option<&Link> {
        self.0.iter().find(|l| l.key.eq_ignore_ascii_case(key))
    }

    /// Every link with this key.
    ///
    /// ```
    /// let base = aiohttp::Url::parse("http://a.test/").unwrap();
    /// let links = aiohttp::Links::parse(["</a>; rel=alt, </b>; rel=alt"], &base);
    /// assert_eq!(links.get_all("alt").map(|l| l.target()).collect::<Vec<_>>(), ["/a", "/b"]);
    /// ```
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Link> + 'a {
        self.0
            .iter()
            .filter(move |l| l.key.eq_ignore_ascii_case(key))
    }

    /// Every link in order.
    ///
    /// ```
    /// let base = aiohttp::Url::parse("http://a.test/").unwrap();
    /// let links = aiohttp::Links::parse(["</a>; rel=x"], &base);
    /// assert_eq!(links.iter().count(), 1);
    /// ```
    pub fn iter(&self) -> std::slice::Iter<'_, Link> {
        self.0.iter()
    }

    /// How many links there are.
    ///
    /// ```
    /// let base = aiohttp::Url::parse("http://a.test/").unwrap();
    /// assert_eq!(aiohttp::Links::parse([], &base).len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    ///
    /// ```
    /// let base = aiohttp::Url::parse("http://a.test/").unwrap();
    /// assert!(aiohttp::Links::parse([""], &base).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a Links {
    type Item = &'a Link;
    type IntoIter = std::slice::Iter<'a, Link>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// The links of one header value: split at each comma followed (after spaces) by `<`, and
/// not inside a quoted parameter value.
fn split_links(value: &str) -> Vec<&str> {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut quoted, mut in_url) = (0, false, false);
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'<' if !quoted => in_url = true,
            b'>' if !quoted => in_url = false,
            b'"' if !in_url => quoted = !quoted,
            b'\\' if quoted => i += 1,
            b',' if !quoted && !in_url => {
                let rest = value[i + 1..].trim_start();
                if rest.starts_with('<') {
                    out.push(&value[start..i]);
                    start = i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&value[start..]);
    out
}

/// One `<url>; name=value; ...` link.
fn parse_link(piece: &str, base: &Url) -> Option<Link> {
    let piece = piece.trim_start();
    let rest = piece.strip_prefix('<')?;
    let close = rest.find('>')?;
    let target = rest[..close].trim().to_string();
    let params: Vec<(String, String)> = split_params(&rest[close + 1..])
        .into_iter()
        .filter_map(parse_param)
        .collect();
    let key = params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("rel"))
        .map_or_else(|| target.clone(), |(_, v)| v.clone());
    let url = base.join(&target).ok();
    Some(Link {
        key,
        target,
        url,
        params,
    })
}

/// The `;`-separated parameters after the URL (a `;` inside quotes belongs to the value).
fn split_params(s: &str) -> Vec<&str> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => quoted = !quoted,
            b'\\' if quoted => i += 1,
            b';' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&s[start..]);
    // What stands before the first `;` is not a parameter.
    out.remove(0);
    out
}

/// `name=value`, `name="quoted \" value"` or a bare `name` (an empty value).
fn parse_param(p: &str) -> Option<(String, String)> {
    let p = p.trim();
    if p.is_empty() {
        return None;
    }
    let (name, value) = match p.split_once('=') {
        Some((n, v)) => (n.trim(), v.trim()),
        None => (p, ""),
    };
    if name.is_empty() {
        return None;
    }
    let value = match value.strip_prefix('"') {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => out.extend(chars.next()),
                    '"' => break,
                    c => out.push(c),
                }
            }
            out
        }
        None => value.trim_matches('\'').to_string(),
    };
    Some((name.to_string(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Params = Vec<(String, String)>;
    /// A link as compared: key, joined URL, parameters.
    type Row = (String, String, Params);

    fn parsed(values: &[&str]) -> Vec<Row> {
        let base = Url::parse("http://a.test/dir/page?x=1").expect("base");
        Links::parse(values.iter().copied(), &base)
            .iter()
            .map(|l| {
                (
                    l.key().to_string(),
                    l.url().map_or_else(String::new, |u| u.to_string()),
                    l.params().to_vec(),
                )
            })
            .collect()
    }

    fn p(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn links_table() {
        type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str, Params)>);
        let cases: Vec<Case<'_>> = vec![
            // GitHub-style pagination, absolute URLs.
            (
                vec![
                    "<https://api.test/x?page=2>; rel=\"next\", <https://api.test/x?page=5>; rel=\"last\"",
                ],
                vec![
                    ("next", "https://api.test/x?page=2", p(&[("rel", "next")])),
                    ("last", "https://api.test/x?page=5", p(&[("rel", "last")])),
                ],
            ),
            // Relative URLs join the response's URL; no rel: keyed by the URL as written.
            (
                vec!["<other>", "</root>; rel=up"],
                vec![
                    ("other", "http://a.test/dir/other", p(&[])),
                    ("up", "http://a.test/root", p(&[("rel", "up")])),
                ],
            ),
            // Quoted values keep commas, semicolons and escaped quotes; a comma inside the URL
            // does not split.
            (
                vec!["</a,b>; rel=x; title=\"a, b; \\\"c\\\"\", </d>; rel=y"],
                vec![
                    (
                        "x",
                        "http://a.test/a,b",
                        p(&[("rel", "x"), ("title", "a, b; \"c\"")]),
                    ),
                    ("y", "http://a.test/d", p(&[("rel", "y")])),
                ],
            ),
            // Spaces around `=` and `;`, single quotes, a bare parameter.
            (
                vec!["  < /s.css > ;rel = 'preload' ; as=style ; crossorigin"],
                vec![(
                    "preload",
                    "http://a.test/s.css",
                    p(&[("rel", "preload"), ("as", "style"), ("crossorigin", "")]),
                )],
            ),
            // Garbage between links is skipped; an empty header has none.
            (vec!["junk, </ok>; rel=ok", ""], vec![("ok", "http://a.test/ok", p(&[("rel", "ok")]))]),
        ];
        for (values, want) in cases {
            let want: Vec<Row> = want
                .into_iter()
                .map(|(k, u, ps)| (k.to_string(), u.to_string(), ps))
                .collect();
            assert_eq!(parsed(&values), want, "{values:?}");
        }
    }

    #[test]
    fn an_unparsable_url_has_no_url_but_keeps_its_key() {
        let base = Url::parse("http://a.test/").expect("base");
        let links = Links::parse(["<http://[bad>; rel=x"], &base);
        let link = links.get("x").expect("link");
        assert_eq!(link.url(), None);
        assert_eq!(link.target(), "http://[bad");
    }
}
