//! `DigestAuth`: HTTP Digest authentication (RFC 7616) as a middleware, like aiohttp's
//! `DigestAuthMiddleware`.
//!
//! The challenge parsing and the response computation are plain functions ([`parse_challenges`],
//! [`Challenge::from_params`], [`response`], [`authorization`]), table-tested against the RFCs'
//! examples; the middleware keeps the last challenge and the nonce count.

use std::fmt;
use std::sync::Mutex;

use http::header::{self, HeaderValue};
use url::Url;

use crate::connector::BoxFuture;
use crate::error::{ClientError, ErrorKind};
use crate::middleware::{ClientRequest, Middleware, MiddlewareResult, Next};
use crate::response::ClientResponse;

/// A 401 answer's body is read up to this many bytes before the request is sent again, so that
/// its connection can be reused.
const DRAIN_LIMIT: usize = 64 * 1024;

/// HTTP Digest credentials as a [`Middleware`] (RFC 7616; aiohttp's `DigestAuthMiddleware`).
///
/// On a `401` with a `Digest` challenge it sends the request once more with the answer in
/// `Authorization`; that answer's `401` is the response (a wrong password is not retried
/// again), unless the server says the nonce was `stale=true`: then one more try with its new
/// nonce. Later requests in the challenge's protection space (its `domain`, else its origin)
/// carry an answer from the start (preemptive, with the nonce count going up), and get one
/// retry if the server wants a new nonce.
///
/// - algorithms `MD5`, `SHA-256`, `SHA-512-256`, `SHA-512` and `SHA` (SHA-1), each also as
///   `-sess`; names are matched without regard to case, and `SHA256`/`SHA512` as aiohttp;
///   of several `Digest` challenges the first with a usable algorithm is taken (RFC 7616
///   §3.7); a challenge with none is left unanswered (the `401` is the response);
/// - `qop=auth-int` when offered and the body is in memory (as aiohttp, it is preferred), else
///   `auth`; no `qop` (RFC 2069) works too; `opaque` is echoed;
/// - the credentials are tied to the origin of the first request the middleware sees: a
///   request to another origin (after a redirect, say) goes on untouched, unless the challenge's
///   `domain` names it;
/// - the login and password are sent as UTF-8 (as aiohttp; neither `username*` nor `userhash`);
/// - a request with a stream body cannot be sent twice: its `401` is the response.
///
/// One `DigestAuth` keeps one challenge: share it (an `Arc`) between the requests of one
/// server.
///
/// ```no_run
/// # async fn run() -> Result<(), aiohttp::ClientError> {
/// use aiohttp::{ClientSession, DigestAuth};
///
/// let session = ClientSession::builder()
///     .middleware(DigestAuth::new("user", "passwd")?)
///     .build()?;
/// let resp = session
///     .get("http://127.0.0.1:8080/digest-auth/auth/user/passwd/SHA-256")
///     .await?;
/// assert_eq!(resp.status(), 200);
/// # Ok(()) }
/// ```
pub struct DigestAuth {
    login: String,
    password: String,
    preemptive: bool,
    stale_retry: bool,
    state: Mutex<State>,
}

impl fmt::Debug for DigestAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestAuth")
            .field("login", &self.login)
            .field("preemptive", &self.preemptive)
            .finish_non_exhaustive()
    }
}

/// What the middleware remembers between requests.
#[derive(Default)]
struct State {
    /// The origin of the first request: the credentials go there only (and to `space`).
    origin: Option<url::Origin>,
    challenge: Option<Challenge>,
    /// The URL prefixes the challenge covers.
    space: Vec<String>,
    last_nonce: String,
    nc: u32,
}

impl DigestAuth {
    /// Digest credentials, preemptive. A login containing `:` is an error (RFC 1945 §11.1,
    /// as aiohttp).
    ///
    /// ```
    /// let auth = aiohttp::DigestAuth::new("user", "passwd")?;
    /// assert!(aiohttp::DigestAuth::new("a:b", "c").is_err());
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn new(login: impl Into<String>, password: impl Into<String>) -> Result<Self, ClientError> {
        let login = login.into();
        if login.contains(':') {
            return Err(ClientError::invalid_argument(
                "a \":\" is not allowed in a digest login (RFC 1945 section 11.1)",
            ));
        }
        Ok(DigestAuth {
            login,
            password: password.into(),
            preemptive: true,
            stale_retry: true,
            state: Mutex::new(State::default()),
        })
    }

    /// Whether requests after the first challenge carry an answer from the start (default
    /// true, aiohttp's `preemptive`); with `false` each request waits for its own `401`.
    ///
    /// ```
    /// let auth = aiohttp::DigestAuth::new("user", "passwd")?.preemptive(false);
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn preemptive(mut self, preemptive: bool) -> Self {
        self.preemptive = preemptive;
        self
    }

    /// Whether an answer refused with `stale=true` is sent once more with the new nonce
    /// (default true).
    ///
    /// ```
    /// let auth = aiohttp::DigestAuth::new("user", "passwd")?.stale_retry(false);
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn stale_retry(mut self, retry: bool) -> Self {
        self.stale_retry = retry;
        self
    }

    /// The login.
    ///
    /// ```
    /// assert_eq!(aiohttp::DigestAuth::new("user", "p")?.login(), "user");
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn login(&self) -> &str {
        &self.login
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the middleware deals with `url` at all: its origin is the first one seen, or
    /// the challenge's `domain` covers it.
    fn in_scope(&self, url: &Url) -> bool {
        let mut state = self.state();
        let origin = url.origin();
        match &state.origin {
            None => {
                state.origin = Some(origin);
                true
            }
            Some(o) if *o == origin => true,
            Some(_) => in_protection_space(&state.space, url),
        }
    }

    /// Whether a request to `url` carries an answer before any `401`.
    fn answers_first(&self, url: &Url) -> bool {
        let state = self.state();
        self.preemptive && state.challenge.is_some() && in_protection_space(&state.space, url)
    }

    /// Takes the challenge of a `401` (true) for the next answer; false when it has none this
    /// middleware can answer.
    fn take_challenge(&self, resp: &ClientResponse) -> Option<bool> {
        if resp.status() != 401 {
            return None;
        }
        let found = resp
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(parse_challenges)
            .filter(|c| c.scheme.eq_ignore_ascii_case("digest"))
            .find_map(|c| Challenge::from_params(&c.params))?;
        let stale = found.stale;
        let mut state = self.state();
        state.space = protection_space(found.domain.as_deref(), resp.url());
        state.challenge = Some(found);
        Some(stale)
    }

    /// The `Authorization` value for `req` under the last challenge; the nonce count goes up.
    fn answer(&self, req: &ClientRequest) -> Result<HeaderValue, ClientError> {
        let mut state = self.state();
        let Some(challenge) = state.challenge.clone() else {
            return Err(ClientError::new(
                ErrorKind::ClientError,
                "no digest challenge to answer",
            ));
        };
        let body = req.body();
        let entity = body.and_then(|b| b.as_bytes());
        let qop = choose_qop(challenge.qop.as_deref(), body.is_none() || entity.is_some())
            .ok_or_else(|| {
                ClientError::new(
                    ErrorKind::ClientError,
                    "the digest challenge asks for qop=auth-int, which needs an in-memory body",
                )
            })?;
        if state.last_nonce == challenge.nonce {
            state.nc = state.nc.wrapping_add(1);
        } else {
            state.nc = 1;
            state.last_nonce.clone_from(&challenge.nonce);
        }
        let nc = state.nc;
        drop(state);
        let cnonce = hex(&rand::random::<[u8; 16]>());
        let url = req.url();
        let uri = &url[url::Position::BeforePath..url::Position::AfterQuery];
        let inputs = Inputs {
            username: &self.login,
            password: &self.password,
            method: req.method().as_str(),
            uri,
            qop,
            nc,
            cnonce: &cnonce,
            entity: entity.map_or(&[][..], |b| &b[..]),
        };
        let digest = response(&challenge, &inputs);
        let line = authorization(&challenge, &inputs, &digest);
        let mut value = HeaderValue::from_bytes(line.as_bytes()).map_err(|e| {
            ClientError::invalid_argument("digest credentials do not fit in a header")
                .with_source(e)
        })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl Middleware for DigestAuth {
    fn handle<'a>(&'a self, req: ClientRequest, next: Next<'a>) -> BoxFuture<'a, MiddlewareResult> {
        Box::pin(async move {
            if !self.in_scope(req.url()) {
                return next.run(req).await;
            }
            let mut req = req;
            let mut answered = self.answers_first(req.url());
            let (mut sent, mut stale_used) = (0usize, false);
            loop {
                if answered {
                    let value = self.answer(&req)?;
                    req.headers_mut().insert(header::AUTHORIZATION, value);
                }
                let again = req.try_clone();
                let mut resp = next.run(req).await?;
                sent += 1;
                let Some(stale) = self.take_challenge(&resp) else {
                    return Ok(resp);
                };
                // One retry on a 401; one more only for a stale nonce of an answer.
                let retry = sent == 1
                    || (answered && stale && self.stale_retry && !stale_used && {
                        stale_used = true;
                        true
                    });
                match again {
                    Some(again) if retry => {
                        resp.drain(DRAIN_LIMIT).await;
                        req = again;
                        answered = true;
                    }
                    _ => return Ok(resp),
                }
            }
        })
    }
}

/// The hash functions of RFC 7616 (and aiohttp's `SHA`, `SHA-512`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    Md5,
    Sha1,
    Sha256,
    Sha512,
    Sha512_256,
}

impl Algorithm {
    /// The algorithm of a challenge's `algorithm` value, and whether it is a `-sess` variant.
    pub(crate) fn parse(name: &str) -> Option<(Algorithm, bool)> {
        let upper = name.to_ascii_uppercase();
        let (base, sess) = match upper.strip_suffix("-SESS") {
            Some(b) => (b, true),
            None => (upper.as_str(), false),
        };
        let alg = match base {
            "MD5" => Algorithm::Md5,
            "SHA" => Algorithm::Sha1,
            "SHA-256" | "SHA256" => Algorithm::Sha256,
            "SHA-512" | "SHA512" => Algorithm::Sha512,
            "SHA-512-256" => Algorithm::Sha512_256,
            _ => return None,
        };
        Some((alg, sess))
    }

    /// `H(data)`: the digest in lowercase hex.
    pub(crate) fn hash(self, data: &[u8]) -> String {
        use sha2::Digest as _;
        match self {
            Algorithm::Md5 => hex(&md5::Md5::digest(data)),
            Algorithm::Sha1 => hex(&sha1::Sha1::digest(data)),
            Algorithm::Sha256 => hex(&sha2::Sha256::digest(data)),
            Algorithm::Sha512 => hex(&sha2::Sha512::digest(data)),
            Algorithm::Sha512_256 => hex(&sha2::Sha512_256::digest(data)),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// One challenge of a `WWW-Authenticate` value: its scheme and parameters (names in lowercase,
/// values unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawChallenge {
    pub(crate) scheme: String,
    pub(crate) params: Vec<(String, String)>,
}

/// The challenges of one `WWW-Authenticate` value (RFC 7235 §4.1: `scheme [token68 /
/// #auth-param]`, comma-separated, quoted strings with `\` escapes). Whatever cannot be read
/// ends the list.
pub(crate) fn parse_challenges(value: &str) -> Vec<RawChallenge> {
    fn is_tchar(c: u8) -> bool {
        c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
    }
    let b = value.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t') {
            *i += 1;
        }
    };
    let mut out: Vec<RawChallenge> = Vec::new();
    loop {
        // Separators between challenges and parameters.
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b',') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && is_tchar(b[i]) {
            i += 1;
        }
        if i == start {
            break;
        }
        let name = &value[start..i];
        let after_name = i;
        skip_ws(&mut i);
        if i < b.len() && b[i] == b'=' {
            // A parameter, or a token68 ending in '=' padding.
            let mut j = i + 1;
            skip_ws(&mut j);
            let padding = j >= b.len() || b[j] == b',' || b[j] == b'=';
            let Some(current) = out.last_mut().filter(|_| !padding) else {
                // token68 (or a parameter with no scheme): skip to the next comma.
                while i < b.len() && b[i] != b',' {
                    i += 1;
                }
                continue;
            };
            i = j;
            let param_value = if b[i] == b'"' {
                i += 1;
                let mut v = String::new();
                let mut closed = false;
                let mut chars = value[i..].char_indices();
                while let Some((k, c)) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            Some((_, e)) => v.push(e),
                            None => break,
                        },
                        '"' => {
                            i += k + 1;
                            closed = true;
                            break;
                        }
                        c => v.push(c),
                    }
                }
                if !closed {
                    break;
                }
                v
            } else {
                let s = i;
                while i < b.len() && !matches!(b[i], b',' | b' ' | b'\t') {
                    i += 1;
                }
                value[s..i].to_string()
            };
            let key = name.to_ascii_lowercase();
            if !current.params.iter().any(|(k, _)| *k == key) {
                current.params.push((key, param_value));
            }
        } else {
            // A new challenge; a token68 may follow its scheme.
            i = after_name;
            out.push(RawChallenge {
                scheme: name.to_string(),
                params: Vec::new(),
            });
        }
    }
    out
}

/// A `Digest` challenge this middleware can answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub(crate) realm: String,
    pub(crate) nonce: String,
    /// The `qop` list as sent; none for an RFC 2069 challenge.
    pub(crate) qop: Option<String>,
    /// The `algorithm` as sent (echoed as is); `MD5` when absent.
    pub(crate) algorithm: String,
    pub(crate) alg: Algorithm,
    pub(crate) sess: bool,
    pub(crate) opaque: Option<String>,
    pub(crate) domain: Option<String>,
    pub(crate) stale: bool,
}

impl Challenge {
    /// The challenge of a `Digest` scheme's parameters: with a realm, a non-empty nonce, an
    /// algorithm this crate has and a `qop` list naming `auth` or `auth-int` (or none).
    pub(crate) fn from_params(params: &[(String, String)]) -> Option<Challenge> {
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let realm = get("realm")?;
        let nonce = get("nonce").filter(|n| !n.is_empty())?;
        let algorithm = get("algorithm").unwrap_or_else(|| "MD5".to_string());
        let (alg, sess) = Algorithm::parse(&algorithm)?;
        let qop = get("qop");
        if let Some(q) = &qop {
            choose_qop(Some(q), true)?;
        }
        Some(Challenge {
            realm,
            nonce,
            qop,
            algorithm,
            alg,
            sess,
            opaque: get("opaque").filter(|o| !o.is_empty()),
            domain: get("domain"),
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }
}

/// The quality of protection answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Qop {
    /// No `qop` (RFC 2069).
    None,
    Auth,
    AuthInt,
}

impl Qop {
    fn as_str(self) -> &'static str {
        match self {
            Qop::None => "",
            Qop::Auth => "auth",
            Qop::AuthInt => "auth-int",
        }
    }
}

/// The `qop` to answer a challenge's list with: `auth-int` when offered and the body can be
/// hashed (as aiohttp prefers it), else `auth`; `None` when neither fits.
pub(crate) fn choose_qop(offered: Option<&str>, body_hashable: bool) -> Option<Qop> {
    let Some(list) = offered.filter(|l| !l.trim().is_empty()) else {
        return Some(Qop::None);
    };
    let has = |q: &str| list.split(',').any(|o| o.trim().eq_ignore_ascii_case(q));
    if has("auth-int") && body_hashable {
        Some(Qop::AuthInt)
    } else if has("auth") {
        Some(Qop::Auth)
    } else {
        None
    }
}

/// What an answer is computed from besides the challenge.
#[derive(Debug)]
pub(crate) struct Inputs<'a> {
    pub(crate) username: &'a str,
    pub(crate) password: &'a str,
    pub(crate) method: &'a str,
    /// The request target: path and query.
    pub(crate) uri: &'a str,
    pub(crate) qop: Qop,
    pub(crate) nc: u32,
    pub(crate) cnonce: &'a str,
    /// The body, for `auth-int`.
    pub(crate) entity: &'a [u8],
}

/// The `response` value (RFC 7616 §3.4.1):
/// `KD(H(A1), nonce:nc:cnonce:qop:H(A2))`, or `KD(H(A1), nonce:H(A2))` without `qop`;
/// `A1 = user:realm:password` (then `H(A1):nonce:cnonce` for `-sess`), `A2 = method:uri`
/// (then `:H(body)` for `auth-int`).
pub(crate) fn response(c: &Challenge, i: &Inputs<'_>) -> String {
    let h = |s: &[u8]| c.alg.hash(s);
    let mut ha1 = h(format!("{}:{}:{}", i.username, c.realm, i.password).as_bytes());
    if c.sess {
        ha1 = h(format!("{ha1}:{}:{}", c.nonce, i.cnonce).as_bytes());
    }
    let a2 = match i.qop {
        Qop::AuthInt => format!("{}:{}:{}", i.method, i.uri, h(i.entity)),
        _ => format!("{}:{}", i.method, i.uri),
    };
    let ha2 = h(a2.as_bytes());
    let data = match i.qop {
        Qop::None => format!("{}:{ha2}", c.nonce),
        q => format!("{}:{:08x}:{}:{}:{ha2}", c.nonce, i.nc, i.cnonce, q.as_str()),
    };
    h(format!("{ha1}:{data}").as_bytes())
}

/// `\` and `"` escaped for a quoted string.
fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The `Authorization` line for `response` (aiohttp's field order): `username`, `realm`,
/// `nonce`, `uri`, `response`, `algorithm` as the challenge named it, `opaque` if any, then
/// `qop`, `nc` and `cnonce` with a `qop`.
pub(crate) fn authorization(c: &Challenge, i: &Inputs<'_>, response: &str) -> String {
    let mut line = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", \
         response=\"{response}\", algorithm={}",
        quote(i.username),
        quote(&c.realm),
        quote(&c.nonce),
        i.uri,
        c.algorithm,
    );
    if let Some(o) = &c.opaque {
        line.push_str(&format!(", opaque=\"{}\"", quote(o)));
    }
    if i.qop != Qop::None {
        line.push_str(&format!(
            ", qop={}, nc={:08x}, cnonce=\"{}\"",
            i.qop.as_str(),
            i.nc,
            i.cnonce
        ));
    }
    line
}

/// The URL prefixes a challenge covers: each URI of `domain` (a path is taken on the origin of
/// `url`), else `url`'s origin.
pub(crate) fn protection_space(domain: Option<&str>, url: &Url) -> Vec<String> {
    let origin = url.origin().ascii_serialization();
    let mut space: Vec<String> = domain
        .unwrap_or("")
        .split_ascii_whitespace()
        .map(|u| u.trim_matches('"'))
        .filter(|u| !u.is_empty())
        .filter_map(|u| {
            if u.starts_with('/') {
                Some(format!("{origin}{u}"))
            } else {
                Url::parse(u).ok().map(String::from)
            }
        })
        .collect();
    if space.is_empty() {
        space.push(format!("{origin}/"));
    }
    space
}

/// Whether `url` lies in `space`: one of its prefixes, ending at a `/` boundary.
pub(crate) fn in_protection_space(space: &[String], url: &Url) -> bool {
    let target = url.as_str();
    space.iter().any(|prefix| {
        target.strip_prefix(prefix.as_str()).is_some_and(|rest| {
            rest.is_empty() || prefix.ends_with('/') || rest.starts_with(['/', '?', '#'])
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn challenge_parsing_table() {
        // (header value, [(scheme, params)])
        type Want = &'static [(&'static str, &'static [(&'static str, &'static str)])];
        let cases: [(&str, Want); 8] = [
            (
                r#"Digest realm="r", nonce="n", qop="auth,auth-int", algorithm=SHA-256"#,
                &[(
                    "Digest",
                    &[
                        ("realm", "r"),
                        ("nonce", "n"),
                        ("qop", "auth,auth-int"),
                        ("algorithm", "SHA-256"),
                    ],
                )],
            ),
            // Commas and escapes inside quoted strings; spaces around '='.
            (
                r#"Digest realm = "a, \"b\" \\c" ,nonce=xyz"#,
                &[("Digest", &[("realm", r#"a, "b" \c"#), ("nonce", "xyz")])],
            ),
            // Several challenges in one value; a token68 after Negotiate.
            (
                r#"Basic realm="b", Negotiate abc==, Digest realm="d", nonce="1""#,
                &[
                    ("Basic", &[("realm", "b")]),
                    ("Negotiate", &[]),
                    ("Digest", &[("realm", "d"), ("nonce", "1")]),
                ],
            ),
            // Empty values are kept; names are lowercased; the first of a name wins.
            (
                r#"DIGEST Realm="", NONCE="n", opaque="", nonce="later""#,
                &[("DIGEST", &[("realm", ""), ("nonce", "n"), ("opaque", "")])],
            ),
            ("", &[]),
            ("Digest", &[("Digest", &[])]),
            // An unterminated quoted string ends the parse.
            (r#"Digest realm="open, nonce=1"#, &[("Digest", &[])]),
            (
                "Digest realm=r,nonce=n,stale=TRUE",
                &[(
                    "Digest",
                    &[("realm", "r"), ("nonce", "n"), ("stale", "TRUE")],
                )],
            ),
        ];
        for (value, want) in cases {
            let got = parse_challenges(value);
            let want: Vec<RawChallenge> = want
                .iter()
                .map(|(s, p)| RawChallenge {
                    scheme: s.to_string(),
                    params: params(p),
                })
                .collect();
            assert_eq!(got, want, "{value}");
        }
    }

    #[test]
    fn challenges_answered_and_not() {
        let ok = |p: &[(&str, &str)]| Challenge::from_params(&params(p));
        let base = [("realm", "r"), ("nonce", "n")];
        let c = ok(&base).expect("plain challenge");
        assert_eq!(
            (c.alg, c.sess, c.algorithm.as_str()),
            (Algorithm::Md5, false, "MD5")
        );
        assert!(!c.stale && c.qop.is_none() && c.opaque.is_none());
        // (algorithm, parsed)
        let algorithms = [
            ("MD5", Some((Algorithm::Md5, false))),
            ("md5-sess", Some((Algorithm::Md5, true))),
            ("SHA", Some((Algorithm::Sha1, false))),
            ("SHA-256", Some((Algorithm::Sha256, false))),
            ("SHA256-SESS", Some((Algorithm::Sha256, true))),
            ("SHA-512-256", Some((Algorithm::Sha512_256, false))),
            ("SHA-512-256-sess", Some((Algorithm::Sha512_256, true))),
            ("SHA-512", Some((Algorithm::Sha512, false))),
            ("SHA512", Some((Algorithm::Sha512, false))),
            ("SHA-1", None),
            ("token", None),
        ];
        for (name, want) in algorithms {
            let c = ok(&[("realm", "r"), ("nonce", "n"), ("algorithm", name)]);
            assert_eq!(c.map(|c| (c.alg, c.sess)), want, "{name}");
        }
        // Unusable: no realm, no or empty nonce, a qop list without auth or auth-int.
        assert!(ok(&[("nonce", "n")]).is_none());
        assert!(ok(&[("realm", "r")]).is_none());
        assert!(ok(&[("realm", "r"), ("nonce", "")]).is_none());
        assert!(ok(&[("realm", "r"), ("nonce", "n"), ("qop", "auth-conf")]).is_none());
        let stale = ok(&[("realm", "r"), ("nonce", "n"), ("stale", "TRUE")]).expect("stale");
        assert!(stale.stale);
    }

    #[test]
    fn qop_choice_table() {
        let cases = [
            (None, true, Some(Qop::None)),
            (Some(""), true, Some(Qop::None)),
            (Some("auth"), true, Some(Qop::Auth)),
            (Some("auth, auth-int"), true, Some(Qop::AuthInt)),
            (Some("auth, auth-int"), false, Some(Qop::Auth)),
            (Some("auth-int"), false, None),
            (Some("AUTH-INT"), true, Some(Qop::AuthInt)),
            (Some("auth-conf"), true, None),
        ];
        for (offered, hashable, want) in cases {
            assert_eq!(choose_qop(offered, hashable), want, "{offered:?}");
        }
    }

    fn challenge(
        realm: &str,
        nonce: &str,
        qop: Option<&str>,
        algorithm: &str,
        opaque: Option<&str>,
    ) -> Challenge {
        let mut p = vec![("realm", realm), ("nonce", nonce), ("algorithm", algorithm)];
        if let Some(q) = qop {
            p.push(("qop", q));
        }
        if let Some(o) = opaque {
            p.push(("opaque", o));
        }
        Challenge::from_params(&params(&p)).expect("challenge")
    }

    /// RFC 7616 §3.9.1 (SHA-256 and MD5) and RFC 2617 §3.5 (MD5) as printed in the RFCs; the
    /// inputs of RFC 7616 §3.9.2 (SHA-512-256, a UTF-8 user name), whose printed response
    /// cannot be reproduced from them (its userhash cannot either: a known erratum), and the
    /// `-sess` variants, `auth-int`, SHA-512 and no `qop`, all against values computed with
    /// Python's hashlib from the same formulas.
    #[test]
    fn rfc_examples() {
        let rfc7616 = |alg| {
            challenge(
                "http-auth@example.org",
                "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
                Some("auth, auth-int"),
                alg,
                Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"),
            )
        };
        let mufasa = |uri, qop, cnonce, entity| Inputs {
            username: "Mufasa",
            password: "Circle of Life",
            method: "GET",
            uri,
            qop,
            nc: 1,
            cnonce,
            entity,
        };
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let i = mufasa("/dir/index.html", Qop::Auth, cnonce, b"");
        let rfc2617 = challenge(
            "testrealm@host.com",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            Some("auth,auth-int"),
            "MD5",
            Some("5ccc069c403ebaf9f0171e9517f40e41"),
        );
        let i2617 = Inputs {
            password: "Circle Of Life",
            ..mufasa("/dir/index.html", Qop::Auth, "0a4f113b", b"")
        };
        let jason = challenge(
            "api@example.org",
            "5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK",
            Some("auth"),
            "SHA-512-256",
            Some("HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS"),
        );
        let i_jason = Inputs {
            username: "J\u{e4}s\u{f8}n Doe",
            password: "Secret, or not?",
            ..mufasa(
                "/doe.json",
                Qop::Auth,
                "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v",
                b"",
            )
        };
        let body = mufasa("/dir/index.html?x=1", Qop::AuthInt, cnonce, b"hello");
        let none = mufasa("/dir/index.html", Qop::None, cnonce, b"");
        // (challenge, inputs, response)
        let cases: [(Challenge, &Inputs<'_>, &str); 9] = [
            (
                rfc7616("SHA-256"),
                &i,
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
            (rfc7616("MD5"), &i, "8ca523f5e9506fed4657c9700eebdbec"),
            (rfc2617, &i2617, "6629fae49393a05397450978507c4ef1"),
            (jason, &i_jason, PY_SHA512_256_JASON),
            (rfc7616("MD5-sess"), &i, PY_MD5_SESS),
            (rfc7616("SHA-256-sess"), &i, PY_SHA256_SESS),
            (rfc7616("SHA-512-256"), &body, PY_SHA512_256_AUTH_INT),
            (rfc7616("SHA-512"), &i, PY_SHA512),
            (rfc7616("MD5"), &none, PY_MD5_NO_QOP),
        ];
        for (c, inputs, want) in cases {
            assert_eq!(
                response(&c, inputs),
                want,
                "{} {:?}",
                c.algorithm,
                inputs.qop
            );
        }
    }

    const PY_SHA512_256_JASON: &str =
        "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5";
    const PY_MD5_SESS: &str = "e783283f46242139c486a698fec7211d";
    const PY_SHA256_SESS: &str = "2fd51b3a77ad75bad6afad6003e818d767133c46d9e2749e7f5232ae1ea3efd7";
    const PY_SHA512_256_AUTH_INT: &str =
        "5e8566e72560ea8d715b785f64e36582f196aaa77dcea45adf8db04b544a3d49";
    const PY_SHA512: &str =
        "27d9ebedb4e86595d8b99152ce456620c8e47c48afbd771dbc4468bb758ca66e7312383d49ad044219d4a2c5c218e66c584fa00b2728798bcff9435825eed0ad";
    const PY_MD5_NO_QOP: &str = "7b2cc3b30e75b4777ea31027084363fd";

    #[test]
    fn authorization_line() {
        let c = challenge("r\"e", "n1", Some("auth"), "sha-256", Some("op"));
        let i = Inputs {
            username: "us\\er",
            password: "p",
            method: "GET",
            uri: "/a?b=%20",
            qop: Qop::Auth,
            nc: 0x1f,
            cnonce: "c0",
            entity: b"",
        };
        assert_eq!(
            authorization(&c, &i, "RESP"),
            "Digest username=\"us\\\\er\", realm=\"r\\\"e\", nonce=\"n1\", uri=\"/a?b=%20\", \
             response=\"RESP\", algorithm=sha-256, opaque=\"op\", qop=auth, nc=0000001f, \
             cnonce=\"c0\""
        );
        let plain = challenge("r", "n", None, "MD5", None);
        let i = Inputs {
            qop: Qop::None,
            ..i
        };
        assert_eq!(
            authorization(&plain, &i, "X"),
            "Digest username=\"us\\\\er\", realm=\"r\", nonce=\"n\", uri=\"/a?b=%20\", \
             response=\"X\", algorithm=MD5"
        );
    }

    #[test]
    fn protection_space_table() {
        let url = |s: &str| Url::parse(s).expect("url");
        let at = url("http://a.test:8080/x/y");
        // (domain, space)
        let spaces: [(Option<&str>, &[&str]); 4] = [
            (None, &["http://a.test:8080/"]),
            (Some(""), &["http://a.test:8080/"]),
            (
                Some("/api /files/ http://b.test/x"),
                &[
                    "http://a.test:8080/api",
                    "http://a.test:8080/files/",
                    "http://b.test/x",
                ],
            ),
            (Some("\"/q\""), &["http://a.test:8080/q"]),
        ];
        for (domain, want) in spaces {
            assert_eq!(protection_space(domain, &at), want, "{domain:?}");
        }
        let space = protection_space(Some("/api /files/ http://b.test/x"), &at);
        // (URL, inside)
        let cases = [
            ("http://a.test:8080/api", true),
            ("http://a.test:8080/api/v1", true),
            ("http://a.test:8080/api?q", true),
            ("http://a.test:8080/apix", false),
            ("http://a.test:8080/files/a", true),
            ("http://a.test:8080/other", false),
            ("http://b.test/x/1", true),
            ("https://a.test:8080/api", false),
            ("http://a.test/api", false),
        ];
        for (u, inside) in cases {
            assert_eq!(in_protection_space(&space, &url(u)), inside, "{u}");
        }
        let default = protection_space(None, &at);
        assert!(in_protection_space(&default, &url("http://a.test:8080/")));
        assert!(in_protection_space(&default, &url("http://a.test:8080/z")));
        assert!(!in_protection_space(&default, &url("http://a.test/z")));
    }
}
