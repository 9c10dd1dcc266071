//! The head of each exchange, built without I/O: a request's [`Plan`] from hop to hop, and the
//! steps that turn it and a [`Defaults`] snapshot of the session into a [`Prepared`] request:
//! credentials, header merge, automatic headers, cookies and body framing.

use std::fmt;
use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Version};
use url::Url;

use crate::auth::BasicAuth;
use crate::body::Body;
use crate::cookie::AbstractCookieJar;
use crate::error::{ClientError, ErrorKind};
use crate::info::RequestInfo;

/// The `User-Agent` sent unless the caller sets or skips one.
pub const USER_AGENT: &str = concat!("aiohttp-rs/", env!("CARGO_PKG_VERSION"));

/// The `Accept-Encoding` sent unless the caller sets or skips one.
pub(crate) const ACCEPT_ENCODING: &str = "gzip, deflate, br, zstd";

/// A request ready for the wire.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) method: Method,
    /// The URL without its fragment.
    pub(crate) url: Url,
    pub(crate) version: Version,
    pub(crate) headers: Arc<HeaderMap>,
    pub(crate) body: Option<Body>,
    pub(crate) compress: bool,
    pub(crate) chunked: Option<usize>,
    /// The URL as given, when it had a fragment.
    pub(crate) real_url: Option<Box<Url>>,
}

impl Prepared {
    /// Splits off what the response reports of its request (moved, not copied) from the body.
    pub(crate) fn into_info(self) -> (RequestInfo, Option<Body>, bool, Option<usize>) {
        let info = RequestInfo {
            url: self.url,
            method: self.method,
            headers: self.headers,
            real_url: self.real_url,
            version: self.version,
        };
        (info, self.body, self.compress, self.chunked)
    }
}

/// Removes the credentials of an http(s) URL and returns them as Basic auth.
pub(crate) fn split_credentials(mut url: Url) -> Result<(Url, Option<BasicAuth>), ClientError> {
    if url.username().is_empty() && url.password().is_none() {
        return Ok((url, None));
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let auth = BasicAuth::new(decode(url.username()), decode(url.password().unwrap_or("")))?;
    // Both setters only fail for URLs that cannot have credentials (not http(s) ones).
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Ok((url, Some(auth)))
}

/// Where the body of the last exchange stands, for a redirect that would send it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyState {
    /// No body was sent.
    Empty,
    /// A copy is kept (an in-memory body).
    Replayable,
    /// The body was a stream and is spent.
    Consumed,
}

/// A redirect to apply to a [`Plan`]: the outcome of `redirect::decide`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NextHop {
    /// The method of the next request.
    pub(crate) method: Method,
    /// The absolute target, fragment included.
    pub(crate) url: Url,
    /// Send the same body again (otherwise it is dropped).
    pub(crate) keep_body: bool,
    /// Headers no longer sent, whether they came from the request or the session.
    pub(crate) drop_headers: Vec<HeaderName>,
    /// The target is another origin: the request's credentials and cookies stay behind.
    pub(crate) cross_origin: bool,
    /// https to http: no `Secure` cookie goes along from now on.
    pub(crate) downgrade: bool,
}

/// The request as it goes from hop to hop. [`Plan::head`] builds the head of the next exchange
/// (URL, credentials, headers, cookies, framing) and [`Plan::follow`] applies a redirect.
pub(crate) struct Plan {
    /// The origin of the first URL: the session's `auth` is sent to it only (kept only when the
    /// session has `auth`).
    pub(crate) origin: Option<url::Origin>,
    pub(crate) method: Method,
    /// The URL of the next exchange (fragment included, credentials removed); handed to the
    /// exchange by [`head`](Self::head), set again by [`follow`](Self::follow).
    pub(crate) url: Option<Url>,
    pub(crate) headers: HeaderMap,
    pub(crate) skip_auto_headers: Vec<HeaderName>,
    /// Session headers no longer sent.
    pub(crate) dropped: Vec<HeaderName>,
    pub(crate) body: Option<Body>,
    /// A copy of the body sent last.
    pub(crate) replay: Option<Body>,
    pub(crate) sent_body: bool,
    pub(crate) auth: Option<BasicAuth>,
    pub(crate) compress: bool,
    pub(crate) chunked: Option<usize>,
    pub(crate) expect100: bool,
    pub(crate) version: Version,
    pub(crate) cookies: Vec<(String, String)>,
    pub(crate) no_secure_cookies: bool,
}

impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plan")
            .field("method", &self.method)
            .field(
                "url",
                &self
                    .url
                    .as_ref()
                    .map(|u| crate::error::without_credentials(u).as_str().to_owned()),
            )
            .finish_non_exhaustive()
    }
}

impl Plan {
    /// What became of the body sent by the last [`head`](Self::head).
    pub(crate) fn body_state(&self) -> BodyState {
        match (self.sent_body, &self.replay) {
            (false, _) => BodyState::Empty,
            (true, Some(_)) => BodyState::Replayable,
            (true, None) => BodyState::Consumed,
        }
    }

    /// Applies a redirect: new method and URL, the body kept or dropped, and on another origin
    /// no credential or cookie of the request (URL credentials of the target are its own).
    pub(crate) fn follow(&mut self, next: NextHop) -> Result<(), ClientError> {
        let (url, url_auth) = split_credentials(next.url)?;
        for name in &next.drop_headers {
            self.headers.remove(name);
            if !self.dropped.contains(name) {
                self.dropped.push(name.clone());
            }
        }
        if next.cross_origin {
            self.auth = None;
            self.cookies.clear();
        }
        if let Some(auth) = url_auth {
            self.headers.remove(header::AUTHORIZATION);
            self.dropped.push(header::AUTHORIZATION);
            self.auth = Some(auth);
        }
        self.no_secure_cookies |= next.downgrade;
        if next.keep_body {
            self.body = self.replay.take();
        } else {
            self.body = None;
            self.replay = None;
            self.compress = false;
            self.chunked = None;
            self.expect100 = false;
        }
        self.sent_body = false;
        self.method = next.method;
        self.url = Some(url);
        Ok(())
    }

    /// The URL of the next exchange, until [`head`](Self::head) hands it over.
    pub(crate) fn url(&self) -> Option<&Url> {
        self.url.as_ref()
    }

    /// Nothing of the request's own goes into its head: no header, skipped header, dropped
    /// session header, cookie, body or framing option, and a method that sends no
    /// `Content-Length: 0`.
    fn adds_nothing(&self) -> bool {
        self.headers.is_empty()
            && self.dropped.is_empty()
            && self.skip_auto_headers.is_empty()
            && self.cookies.is_empty()
            && self.body.is_none()
            && !self.compress
            && self.chunked.is_none()
            && !self.expect100
            && crate::policy::has_no_body_by_default(&self.method)
    }

    /// Builds the head of the next exchange and hands over the body (keeping a copy when it
    /// can be replayed). `host` is the `Host` value of the URL's origin. No I/O: each step
    /// below is a plain function, table-tested.
    pub(crate) fn head(
        &mut self,
        defaults: &Defaults<'_>,
        origin: &OriginHead,
    ) -> Result<Prepared, ClientError> {
        let mut url = self
            .url
            .take()
            .ok_or_else(|| ClientError::invalid_argument("the request was already sent"))?;
        let real_url = url.fragment().is_some().then(|| {
            let real = Box::new(url.clone());
            url.set_fragment(None);
            real
        });
        let from_netrc;
        let mut auth = credentials(self.auth.as_ref(), self.origin.as_ref(), defaults, &url);
        if auth.is_none() {
            from_netrc = netrc_credentials(defaults, &self.headers, &url);
            auth = from_netrc.as_ref();
        }
        let mut jar = defaults.jar.filter_cookies(&url);
        if self.no_secure_cookies && url.scheme() != "https" {
            jar.retain(|c| c.secure() != Some(true));
        }
        // A request that adds nothing to its origin's plain head sends that head as it is.
        if auth.is_none() && jar.is_empty() && self.adds_nothing() {
            if let Some(plain) = &origin.plain {
                self.replay = None;
                self.sent_body = false;
                return Ok(Prepared {
                    method: self.method.clone(),
                    url,
                    version: self.version,
                    headers: Arc::clone(plain),
                    body: None,
                    compress: false,
                    chunked: None,
                    real_url,
                });
            }
        }
        let skip = Skip {
            request: &self.skip_auto_headers,
            session: defaults.skip_auto_headers,
        };
        let mut head = merge_headers(
            defaults.headers,
            &self.headers,
            &self.dropped,
            skip,
            origin.host.clone(),
            auth.is_some(),
        )?;
        auto_headers(&mut head, skip, auth)?;
        let own = crate::cookie::caller_cookie_pairs(&self.cookies)?;
        cookie_header(
            &mut head,
            jar.iter().map(|c| (c.name(), c.value())),
            own.iter().map(|(n, v)| (*n, v.as_ref())),
        )?;

        let body = self.body.take();
        self.replay = body.as_ref().and_then(Body::try_clone);
        self.sent_body = body.is_some();
        let framing = Framing {
            method: &self.method,
            body: body.as_ref(),
            compress: self.compress,
            chunked: self.chunked.is_some(),
            expect100: self.expect100,
        };
        frame(&mut head, &framing, skip)?;

        Ok(Prepared {
            method: self.method.clone(),
            url,
            version: self.version,
            headers: Arc::new(head.headers),
            body,
            compress: self.compress,
            chunked: self.chunked,
            real_url,
        })
    }
}

/// What the head of a request takes from its origin: the `Host` value, and the plain head — the
/// headers of a request that adds nothing of its own ([`plain_head`]), built once per origin
/// and shared by every such request.
#[derive(Debug, Clone)]
pub(crate) struct OriginHead {
    pub(crate) host: HeaderValue,
    pub(crate) plain: Option<Arc<HeaderMap>>,
}

impl OriginHead {
    /// The `Host` value and plain head of an origin, under the session's `defaults`.
    pub(crate) fn new(defaults: &Defaults<'_>, host: HeaderValue) -> Self {
        let plain = plain_head(defaults, host.clone()).ok().map(Arc::new);
        OriginHead { host, plain }
    }
}

/// The head of a request that adds nothing to the session's defaults and sends no credentials
/// or cookies: every step below with an empty request of a method that sends no body by default
/// (`Host`, the session's headers as the steps normalise them, the automatic ones).
fn plain_head(defaults: &Defaults<'_>, host: HeaderValue) -> Result<HeaderMap, ClientError> {
    let skip = Skip {
        request: &[],
        session: defaults.skip_auto_headers,
    };
    let mut head = merge_headers(defaults.headers, &HeaderMap::new(), &[], skip, host, false)?;
    auto_headers(&mut head, skip, None)?;
    cookie_header(&mut head, std::iter::empty(), std::iter::empty())?;
    let framing = Framing {
        method: &Method::GET,
        body: None,
        compress: false,
        chunked: false,
        expect100: false,
    };
    frame(&mut head, &framing, skip)?;
    Ok(head.headers)
}

/// The session's defaults as the head of an exchange sees them: a plain snapshot, taken for
/// each exchange.
pub(crate) struct Defaults<'a> {
    pub(crate) headers: &'a HeaderMap,
    pub(crate) skip_auto_headers: &'a [HeaderName],
    pub(crate) auth: Option<&'a BasicAuth>,
    pub(crate) base_url: Option<&'a Url>,
    pub(crate) jar: &'a dyn AbstractCookieJar,
    /// With `trust_env`: the netrc file's text, for a target's credentials when the request
    /// has none.
    pub(crate) netrc: Option<&'a str>,
}

/// The automatic headers skipped, by the request or by the session.
#[derive(Clone, Copy)]
struct Skip<'a> {
    request: &'a [HeaderName],
    session: &'a [HeaderName],
}

impl Skip<'_> {
    fn has(&self, name: &HeaderName) -> bool {
        self.request.contains(name) || self.session.contains(name)
    }
}

/// Headers being built.
struct HeadHeaders {
    headers: HeaderMap,
    /// Nothing came from the caller or the session: no name is there before it is inserted,
    /// so the lookups can be skipped.
    only_ours: bool,
}

impl HeadHeaders {
    fn has(&self, name: &HeaderName) -> bool {
        !self.only_ours && self.headers.contains_key(name)
    }
}

/// Step 1, credentials: the request's own (argument or URL), else the session's, which go to
/// the first request's origin only (and, with a `base_url`, only to the base's origin).
fn credentials<'a>(
    own: Option<&'a BasicAuth>,
    first_origin: Option<&url::Origin>,
    defaults: &Defaults<'a>,
    url: &Url,
) -> Option<&'a BasicAuth> {
    own.or_else(|| {
        defaults.auth.filter(|_| {
            first_origin.is_some_and(|o| same_origin(o, url))
                && defaults.base_url.is_none_or(|b| b.origin() == url.origin())
        })
    })
}

/// Step 1b, with `trust_env`: credentials for the target's host from netrc, when nothing else
/// gives any (no `auth`, no `Authorization` header from the request or the session).
fn netrc_credentials(defaults: &Defaults<'_>, request: &HeaderMap, url: &Url) -> Option<BasicAuth> {
    let text = defaults.netrc?;
    if request.contains_key(header::AUTHORIZATION)
        || defaults.headers.contains_key(header::AUTHORIZATION)
    {
        return None;
    }
    let found = crate::proxy::netrc::lookup(text, url.host_str()?)?;
    BasicAuth::new(found.login, found.password).ok()
}

/// Step 2, the merge: `Host` (unless skipped or given), the session's headers, then the
/// request's; a request header replaces every session value of its name, and session headers
/// a redirect dropped stay out. An `Authorization` header next to credentials is an error.
fn merge_headers(
    session: &HeaderMap,
    request: &HeaderMap,
    dropped: &[HeaderName],
    skip: Skip<'_>,
    host: HeaderValue,
    has_auth: bool,
) -> Result<HeadHeaders, ClientError> {
    let kept = |n: &HeaderName| !request.contains_key(n) && !dropped.contains(n);
    let from_session = || session.iter().filter(|(n, _)| kept(n));
    let session_has =
        |name: &HeaderName| !session.is_empty() && session.contains_key(name) && kept(name);
    if has_auth
        && (request.contains_key(header::AUTHORIZATION) || session_has(&header::AUTHORIZATION))
    {
        return Err(ClientError::invalid_argument(
            "cannot combine an Authorization header with the auth argument or URL credentials",
        ));
    }
    let mut headers = HeaderMap::with_capacity(session.len() + request.len() + 6);
    if !skip.has(&header::HOST)
        && !request.contains_key(header::HOST)
        && !session_has(&header::HOST)
    {
        headers.insert(header::HOST, host);
    }
    let mut only_ours = true;
    if !session.is_empty() {
        for (name, value) in from_session() {
            headers.append(name.clone(), value.clone());
            only_ours = false;
        }
    }
    for (name, value) in request {
        headers.append(name.clone(), value.clone());
        only_ours = false;
    }
    Ok(HeadHeaders { headers, only_ours })
}

/// Step 3, the automatic headers: `Accept`, `Accept-Encoding` and `User-Agent` unless given or
/// skipped, and `Authorization` from the credentials.
fn auto_headers(
    head: &mut HeadHeaders,
    skip: Skip<'_>,
    auth: Option<&BasicAuth>,
) -> Result<(), ClientError> {
    const AUTO: [(HeaderName, HeaderValue); 3] = [
        (header::ACCEPT, HeaderValue::from_static("*/*")),
        (
            header::ACCEPT_ENCODING,
            HeaderValue::from_static(ACCEPT_ENCODING),
        ),
        (header::USER_AGENT, HeaderValue::from_static(USER_AGENT)),
    ];
    for (name, value) in AUTO {
        if !head.has(&name) && !skip.has(&name) {
            head.headers.insert(name, value);
        }
    }
    if let Some(auth) = auth {
        let mut value = HeaderValue::from_str(auth.header_str()).map_err(|e| {
            ClientError::invalid_argument("credentials do not fit in a header").with_source(e)
        })?;
        value.set_sensitive(true);
        head.headers.insert(header::AUTHORIZATION, value);
    }
    Ok(())
}

/// Step 4, cookies: an explicit `Cookie` header, then the jar's cookies for the URL, then the
/// request's own; a cookie of a later source replaces those of the same name before it.
fn cookie_header<'a>(
    head: &mut HeadHeaders,
    jar: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
    own: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
) -> Result<(), ClientError> {
    let explicit = head.has(&header::COOKIE);
    if !explicit && jar.len() == 0 && own.len() == 0 {
        return Ok(());
    }
    let line = {
        let explicit: Vec<&str> = if explicit {
            head.headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect()
        } else {
            Vec::new()
        };
        cookie_line(&explicit, jar, own)
    };
    head.headers.remove(header::COOKIE);
    if !line.is_empty() {
        let mut value = HeaderValue::from_str(&line).map_err(|e| {
            ClientError::invalid_argument("cookie does not fit in a header").with_source(e)
        })?;
        value.set_sensitive(true);
        head.headers.insert(header::COOKIE, value);
    }
    Ok(())
}

/// What the framing step needs to know of the request.
struct Framing<'a> {
    method: &'a Method,
    body: Option<&'a Body>,
    compress: bool,
    chunked: bool,
    expect100: bool,
}

/// Step 5, framing: `Content-Type` of the body, `Content-Encoding: deflate` with `compress`,
/// then `Transfer-Encoding: chunked` or `Content-Length` (0 for methods that carry a body
/// even without one), and `Expect: 100-continue`. Contradicting explicit headers are errors.
fn frame(head: &mut HeadHeaders, f: &Framing<'_>, skip: Skip<'_>) -> Result<(), ClientError> {
    if let Some(ct) = f.body.and_then(|b| b.content_type.as_ref()) {
        if !head.has(&header::CONTENT_TYPE) && !skip.has(&header::CONTENT_TYPE) {
            head.headers.insert(header::CONTENT_TYPE, ct.clone());
        }
    }
    let explicit_length = head.has(&header::CONTENT_LENGTH);
    if f.compress {
        if head.has(&header::CONTENT_ENCODING) {
            return Err(ClientError::invalid_argument(
                "compress can not be set if Content-Encoding header is set",
            ));
        }
        head.headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static("deflate"),
        );
    }
    let chunked = f.chunked
        || f.compress
        || (!head.only_ours
            && head
                .headers
                .get(header::TRANSFER_ENCODING)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.to_ascii_lowercase().contains("chunked")));
    if chunked && explicit_length {
        return Err(ClientError::invalid_argument(
            "chunked can not be set if Content-Length header is set",
        ));
    }
    let no_body_by_default = crate::policy::has_no_body_by_default(f.method);
    if chunked {
        head.headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
    } else if !explicit_length {
        match f.body.map(Body::content_length) {
            Some(Some(n)) if n > 0 || !no_body_by_default => {
                head.headers
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
            }
            Some(Some(_)) => {}
            Some(None) => {
                head.headers.insert(
                    header::TRANSFER_ENCODING,
                    HeaderValue::from_static("chunked"),
                );
            }
            None if !no_body_by_default => {
                head.headers
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(0u64));
            }
            None => {}
        }
    }
    if f.expect100 && !head.has(&header::EXPECT) {
        head.headers
            .insert(header::EXPECT, HeaderValue::from_static("100-continue"));
    }
    Ok(())
}
/// The `Cookie` line: the pairs of `explicit` header values, then `jar`, then `own`; the
/// cookies of each source replace the earlier ones of the same name.
fn cookie_line<'j>(
    explicit: &[&str],
    jar: impl Iterator<Item = (&'j str, &'j str)>,
    own: impl Iterator<Item = (&'j str, &'j str)>,
) -> String {
    // (name, "name=value") in sending order.
    let mut pairs: Vec<(&str, String)> = explicit
        .iter()
        .flat_map(|line| line.split(';'))
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            let name = item.split_once('=').map_or(item, |(n, _)| n).trim();
            (name, item.to_string())
        })
        .collect();
    let sources: [Vec<(&str, &str)>; 2] = [jar.collect(), own.collect()];
    for source in sources {
        pairs.retain(|(n, _)| !source.iter().any(|(m, _)| m == n));
        pairs.extend(source.into_iter().map(|(n, v)| (n, format!("{n}={v}"))));
    }
    let items: Vec<String> = pairs.into_iter().map(|(_, item)| item).collect();
    items.join("; ")
}

/// Whether `url` has the origin `origin` (compared without building the URL's origin).
fn same_origin(origin: &url::Origin, url: &Url) -> bool {
    match (origin, url.host()) {
        (url::Origin::Tuple(scheme, host, port), Some(h)) => {
            scheme == url.scheme() && *host == h && Some(*port) == url.port_or_known_default()
        }
        _ => false,
    }
}

/// `Host`: the port only when it is not the scheme's default; IPv6 in brackets.
pub(crate) fn host_header(url: &Url) -> Result<HeaderValue, ClientError> {
    // The URL's serialization already leaves a default port out.
    let value = &url[url::Position::BeforeHost..url::Position::AfterPort];
    HeaderValue::from_str(value).map_err(|e| {
        ClientError::new(
            ErrorKind::InvalidUrlClientError,
            "host is not a valid header",
        )
        .with_source(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie::CookieJar;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test url")
    }

    fn hv(s: &'static str) -> HeaderValue {
        HeaderValue::from_static(s)
    }

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (n, v) in pairs {
            m.append(HeaderName::from_static(n), hv(v));
        }
        m
    }

    fn pairs(m: &HeaderMap) -> Vec<(String, String)> {
        m.iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("?").to_string()))
            .collect()
    }

    const NONE: Skip<'static> = Skip {
        request: &[],
        session: &[],
    };

    #[test]
    fn host_header_table() {
        let cases = [
            ("http://example.com/", "example.com"),
            ("http://example.com:80/", "example.com"),
            ("http://example.com:8080/", "example.com:8080"),
            ("https://example.com:443/", "example.com"),
            ("https://example.com:80/", "example.com:80"),
            ("http://[::1]:8080/", "[::1]:8080"),
            ("http://[::1]/", "[::1]"),
            ("http://127.0.0.1:1/", "127.0.0.1:1"),
        ];
        for (url, want) in cases {
            let url = Url::parse(url).expect("test url");
            assert_eq!(host_header(&url).expect("host"), want, "{url}");
        }
    }

    #[test]
    fn cookie_line_table() {
        type Pairs = &'static [(&'static str, &'static str)];
        let cases: [(&[&str], Pairs, Pairs, &str); 6] = [
            (&["a=1"], &[("b", "2")], &[], "a=1; b=2"),
            (
                &["a=1; b=hdr"],
                &[("b", "jar")],
                &[("c", "own")],
                "a=1; b=jar; c=own",
            ),
            (&["a=hdr"], &[("a", "jar")], &[("a", "own")], "a=own"),
            (&[], &[("p", "deep"), ("p", "root")], &[], "p=deep; p=root"),
            (&["x=1", "y=2"], &[], &[], "x=1; y=2"),
            (&[" ; flag ;"], &[], &[("flag", "1")], "flag=1"),
        ];
        for (explicit, jar, own, want) in cases {
            let got = cookie_line(explicit, jar.iter().copied(), own.iter().copied());
            assert_eq!(got, want);
        }
    }

    #[test]
    fn credentials_table() {
        let jar = CookieJar::new();
        let empty = HeaderMap::new();
        let session = BasicAuth::new("s", "p").expect("auth");
        let own = BasicAuth::new("o", "p").expect("auth");
        let base = url("http://a.test/api/");
        let first = url("http://a.test/x").origin();
        // (own, first origin, base_url, request URL, which credentials)
        type Case<'a> = (
            Option<&'a BasicAuth>,
            Option<&'a url::Origin>,
            Option<&'a Url>,
            &'static str,
            Option<&'static str>,
        );
        let cases: [Case<'_>; 7] = [
            (None, Some(&first), None, "http://a.test/y", Some("s")),
            (None, Some(&first), None, "http://b.test/y", None),
            (None, Some(&first), None, "https://a.test/y", None),
            (None, Some(&first), None, "http://a.test:81/y", None),
            (Some(&own), Some(&first), None, "http://b.test/y", Some("o")),
            (None, None, None, "http://a.test/y", None),
            (
                None,
                Some(&first),
                Some(&base),
                "http://a.test/other",
                Some("s"),
            ),
        ];
        for (mine, origin, base_url, to, want) in cases {
            let d = Defaults {
                headers: &empty,
                skip_auto_headers: &[],
                auth: Some(&session),
                base_url,
                jar: &jar,
                netrc: None,
            };
            let got = credentials(mine, origin, &d, &url(to)).map(BasicAuth::login);
            assert_eq!(got, want, "{to}");
        }
        // With a base_url of another origin than the request, the session's stay home.
        let other_base = url("http://c.test/");
        let d = Defaults {
            headers: &empty,
            skip_auto_headers: &[],
            auth: Some(&session),
            base_url: Some(&other_base),
            jar: &jar,
            netrc: None,
        };
        assert!(credentials(None, Some(&first), &d, &url("http://a.test/")).is_none());
    }

    #[test]
    fn netrc_credentials_table() {
        let jar = crate::cookie::CookieJar::new();
        let empty = HeaderMap::new();
        let mut with_auth = HeaderMap::new();
        with_auth.insert(header::AUTHORIZATION, hv("Bearer t"));
        let text = "machine a.test login al password ap\ndefault login dl password dp";
        // (netrc, session headers, request headers, target, login)
        type Case<'a> = (
            Option<&'a str>,
            &'a HeaderMap,
            &'a HeaderMap,
            &'a str,
            Option<&'a str>,
        );
        let cases: [Case<'_>; 6] = [
            (None, &empty, &empty, "http://a.test/", None),
            (Some(text), &empty, &empty, "http://a.test/", Some("al")),
            (Some(text), &empty, &empty, "https://b.test/", Some("dl")),
            (
                Some("machine a.test login al password ap"),
                &empty,
                &empty,
                "http://b.test/",
                None,
            ),
            // An Authorization header from the request or the session wins.
            (Some(text), &empty, &with_auth, "http://a.test/", None),
            (Some(text), &with_auth, &empty, "http://a.test/", None),
        ];
        for (netrc, session, request, to, want) in cases {
            let d = Defaults {
                headers: session,
                skip_auto_headers: &[],
                auth: None,
                base_url: None,
                jar: &jar,
                netrc,
            };
            let got = netrc_credentials(&d, request, &url(to));
            assert_eq!(got.as_ref().map(BasicAuth::login), want, "{to}");
        }
    }

    #[test]
    fn merge_table() {
        let host = || hv("h.test");
        let skip_host = [header::HOST];
        // (session, request, dropped, skip Host, headers sent in order)
        type Case = (
            &'static [(&'static str, &'static str)],
            &'static [(&'static str, &'static str)],
            &'static [HeaderName],
            bool,
            &'static [(&'static str, &'static str)],
        );
        let cases: [Case; 6] = [
            (&[], &[], &[], false, &[("host", "h.test")]),
            (&[], &[], &[], true, &[]),
            (
                &[("x-a", "1"), ("x-b", "s")],
                &[("x-b", "r1"), ("x-b", "r2")],
                &[],
                false,
                &[
                    ("host", "h.test"),
                    ("x-a", "1"),
                    ("x-b", "r1"),
                    ("x-b", "r2"),
                ],
            ),
            (
                &[("host", "s.test"), ("x-a", "1")],
                &[],
                &[],
                false,
                &[("host", "s.test"), ("x-a", "1")],
            ),
            (
                &[("x-a", "1")],
                &[("host", "r.test")],
                &[],
                false,
                &[("x-a", "1"), ("host", "r.test")],
            ),
            (
                &[("cookie", "s=1"), ("x-a", "1")],
                &[],
                &[header::COOKIE],
                false,
                &[("host", "h.test"), ("x-a", "1")],
            ),
        ];
        for (session, request, dropped, skip, want) in cases {
            let skip = Skip {
                request: if skip { &skip_host } else { &[] },
                session: &[],
            };
            let got = merge_headers(&map(session), &map(request), dropped, skip, host(), false)
                .expect("merges");
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            assert_eq!(pairs(&got.headers), want);
            assert_eq!(got.only_ours, session.is_empty() && request.is_empty());
        }
        // An Authorization header next to credentials, from either side, is an error; a
        // dropped session one is not there to conflict.
        let auth = &[("authorization", "Bearer x")];
        for (session, request, dropped) in [
            (map(auth), HeaderMap::new(), &[][..]),
            (HeaderMap::new(), map(auth), &[][..]),
        ] {
            let err = merge_headers(&session, &request, dropped, NONE, host(), true)
                .err()
                .expect("conflict");
            assert!(err.is_invalid_argument());
        }
        let dropped = [header::AUTHORIZATION];
        assert!(merge_headers(&map(auth), &HeaderMap::new(), &dropped, NONE, host(), true).is_ok());
    }

    #[test]
    fn auto_headers_table() {
        let skip_ua = [header::USER_AGENT];
        let skip_accept = [header::ACCEPT];
        let auth = BasicAuth::new("u", "p").expect("auth");
        // (headers given, skipped by request, by session, auth, names sent)
        type Case<'a> = (
            &'static [(&'static str, &'static str)],
            &'a [HeaderName],
            &'a [HeaderName],
            Option<&'a BasicAuth>,
            &'static [&'static str],
        );
        let cases: [Case<'_>; 5] = [
            (
                &[],
                &[],
                &[],
                None,
                &["accept", "accept-encoding", "user-agent"],
            ),
            (&[], &skip_ua, &[], None, &["accept", "accept-encoding"]),
            (
                &[],
                &[],
                &skip_accept,
                None,
                &["accept-encoding", "user-agent"],
            ),
            (
                &[("accept", "text/html")],
                &[],
                &[],
                Some(&auth),
                &["accept", "accept-encoding", "user-agent", "authorization"],
            ),
            (
                &[("user-agent", "mine")],
                &[],
                &[],
                None,
                &["user-agent", "accept", "accept-encoding"],
            ),
        ];
        for (given, request, session, auth, want) in cases {
            let mut head = HeadHeaders {
                headers: map(given),
                only_ours: given.is_empty(),
            };
            auto_headers(&mut head, Skip { request, session }, auth).expect("auto");
            let names: Vec<&str> = head.headers.keys().map(HeaderName::as_str).collect();
            assert_eq!(names, want);
            if let Some(v) = head.headers.get(header::ACCEPT) {
                let mine = given.iter().find(|(n, _)| *n == "accept");
                let expected = mine.map_or("*/*", |(_, v)| *v);
                assert_eq!(v, expected);
            }
            if let Some(v) = head.headers.get(header::AUTHORIZATION) {
                assert!(v.is_sensitive());
                assert_eq!(v, auth.expect("auth").encode().as_str());
            }
        }
    }

    #[test]
    fn cookie_header_table() {
        // (explicit Cookie header, jar, own, line sent)
        type Pairs = &'static [(&'static str, &'static str)];
        let cases: [(Option<&'static str>, Pairs, Pairs, Option<&str>); 5] = [
            (None, &[], &[], None),
            (Some("a=1"), &[], &[], Some("a=1")),
            (None, &[("j", "1")], &[("o", "2")], Some("j=1; o=2")),
            (Some("a=1; j=h"), &[("j", "1")], &[], Some("a=1; j=1")),
            (Some(" ; "), &[], &[], None),
        ];
        for (explicit, jar, own, want) in cases {
            let mut head = HeadHeaders {
                headers: HeaderMap::new(),
                only_ours: explicit.is_none(),
            };
            if let Some(e) = explicit {
                head.headers.insert(header::COOKIE, hv(e));
            }
            cookie_header(&mut head, jar.iter().copied(), own.iter().copied()).expect("cookies");
            let got = head.headers.get(header::COOKIE);
            assert_eq!(got.map(|v| v.to_str().unwrap_or("?")), want, "{explicit:?}");
            if let Some(v) = got {
                assert!(v.is_sensitive());
            }
        }
    }

    #[test]
    fn framing_table() {
        let bytes = Body::from(vec![1u8; 5]);
        let empty = Body::from(Vec::<u8>::new());
        let json = Body::from(b"{}".to_vec()).with_content_type("application/json");
        let stream = Body::wrap_stream(futures_util::stream::iter(vec![Ok::<_, std::io::Error>(
            bytes::Bytes::from_static(b"x"),
        )]));
        // (method, body, compress, chunked, expect100, headers given, framing headers sent)
        type Case<'a> = (
            Method,
            Option<&'a Body>,
            bool,
            bool,
            bool,
            &'static [(&'static str, &'static str)],
            &'static [(&'static str, &'static str)],
        );
        const OCTETS: (&str, &str) = ("content-type", "application/octet-stream");
        let cases: [Case<'_>; 11] = [
            (Method::GET, None, false, false, false, &[], &[]),
            (
                Method::POST,
                None,
                false,
                false,
                false,
                &[],
                &[("content-length", "0")],
            ),
            (
                Method::GET,
                Some(&empty),
                false,
                false,
                false,
                &[],
                &[OCTETS],
            ),
            (
                Method::PUT,
                Some(&empty),
                false,
                false,
                false,
                &[],
                &[OCTETS, ("content-length", "0")],
            ),
            (
                Method::POST,
                Some(&bytes),
                false,
                false,
                false,
                &[],
                &[OCTETS, ("content-length", "5")],
            ),
            (
                Method::POST,
                Some(&json),
                false,
                false,
                false,
                &[],
                &[
                    ("content-type", "application/json"),
                    ("content-length", "2"),
                ],
            ),
            (
                Method::POST,
                Some(&json),
                false,
                false,
                false,
                &[("content-type", "text/plain")],
                &[("content-type", "text/plain"), ("content-length", "2")],
            ),
            (
                Method::POST,
                Some(&stream),
                false,
                false,
                false,
                &[],
                &[OCTETS, ("transfer-encoding", "chunked")],
            ),
            (
                Method::POST,
                Some(&bytes),
                false,
                true,
                false,
                &[],
                &[OCTETS, ("transfer-encoding", "chunked")],
            ),
            (
                Method::POST,
                Some(&bytes),
                true,
                false,
                true,
                &[],
                &[
                    OCTETS,
                    ("content-encoding", "deflate"),
                    ("transfer-encoding", "chunked"),
                    ("expect", "100-continue"),
                ],
            ),
            (
                Method::POST,
                Some(&bytes),
                false,
                false,
                false,
                &[("content-length", "5")],
                &[("content-length", "5"), OCTETS],
            ),
        ];
        for (method, body, compress, chunked, expect100, given, want) in cases {
            let mut head = HeadHeaders {
                headers: map(given),
                only_ours: given.is_empty(),
            };
            let f = Framing {
                method: &method,
                body,
                compress,
                chunked,
                expect100,
            };
            frame(&mut head, &f, NONE).expect("frames");
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            assert_eq!(pairs(&head.headers), want, "{method} {given:?}");
        }
        // Contradictions are errors.
        for (compress, chunked, given) in [
            (true, false, &[("content-encoding", "br")][..]),
            (false, true, &[("content-length", "5")][..]),
            (
                false,
                false,
                &[("content-length", "5"), ("transfer-encoding", "chunked")][..],
            ),
        ] {
            let mut head = HeadHeaders {
                headers: map(given),
                only_ours: false,
            };
            let f = Framing {
                method: &Method::POST,
                body: Some(&bytes),
                compress,
                chunked,
                expect100: false,
            };
            let err = frame(&mut head, &f, NONE).expect_err("contradiction");
            assert!(err.is_invalid_argument(), "{given:?}");
        }
    }
}
