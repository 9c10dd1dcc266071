//! `BasicAuth`: HTTP Basic credentials (RFC 7617), as aiohttp's `BasicAuth` named tuple.

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::error::ClientError;

/// HTTP Basic credentials: a login, a password and the encoding they are sent in.
///
/// The encoding is latin-1 by default (as aiohttp); [`with_encoding`](Self::with_encoding)
/// chooses another (for example `"utf-8"`).
///
/// ```
/// use aiohttp::BasicAuth;
/// let auth = BasicAuth::new("user", "pass")?;
/// assert_eq!(auth.encode(), "Basic dXNlcjpwYXNz");
/// # Ok::<(), aiohttp::ClientError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BasicAuth {
    login: String,
    password: String,
    encoding: String,
    header: String,
}

impl BasicAuth {
    /// Credentials in latin-1. A login containing `:` is an error (it could not be decoded).
    ///
    /// ```
    /// assert!(aiohttp::BasicAuth::new("a:b", "c").is_err());
    /// ```
    pub fn new(login: impl Into<String>, password: impl Into<String>) -> Result<Self, ClientError> {
        Self::new_with_encoding(login, password, "latin1")
    }

    /// Credentials in `encoding` (`"utf-8"`, `"latin1"`, or any WHATWG label): aiohttp's
    /// `BasicAuth(login, password, encoding)`. Characters the encoding cannot represent, or a
    /// `:` in the login, are an error.
    ///
    /// ```
    /// let auth = aiohttp::BasicAuth::new_with_encoding("jos\u{e9}", "\u{20ac}", "utf-8")?;
    /// assert_eq!(auth.encode(), "Basic am9zw6k64oKs");
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn new_with_encoding(
        login: impl Into<String>,
        password: impl Into<String>,
        encoding: &str,
    ) -> Result<Self, ClientError> {
        let login = login.into();
        if login.contains(':') {
            return Err(ClientError::invalid_argument(
                "a \":\" is not allowed in a BasicAuth login",
            ));
        }
        let password = password.into();
        let header = build_header(&login, &password, encoding)?;
        Ok(BasicAuth {
            login,
            password,
            encoding: encoding.to_string(),
            header,
        })
    }

    /// The same credentials in another encoding (`"utf-8"`, `"latin1"`, or any WHATWG label).
    /// Characters the encoding cannot represent are an error.
    ///
    /// ```
    /// use aiohttp::BasicAuth;
    /// let auth = BasicAuth::new("jos\u{e9}", "pass")?.with_encoding("utf-8")?;
    /// assert_eq!(auth.encode(), "Basic am9zw6k6cGFzcw==");
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn with_encoding(self, encoding: &str) -> Result<Self, ClientError> {
        let header = build_header(&self.login, &self.password, encoding)?;
        Ok(BasicAuth {
            encoding: encoding.to_string(),
            header,
            ..self
        })
    }

    /// The login.
    ///
    /// ```
    /// assert_eq!(aiohttp::BasicAuth::new("u", "p")?.login(), "u");
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn login(&self) -> &str {
        &self.login
    }

    /// The password.
    ///
    /// ```
    /// assert_eq!(aiohttp::BasicAuth::new("u", "p")?.password(), "p");
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The encoding of the credentials.
    ///
    /// ```
    /// assert_eq!(aiohttp::BasicAuth::new("u", "p")?.encoding(), "latin1");
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn encoding(&self) -> &str {
        &self.encoding
    }

    /// The `Authorization` header value: `Basic <base64(login:password)>`.
    ///
    /// ```
    /// let auth = aiohttp::BasicAuth::new("Aladdin", "open sesame")?;
    /// assert_eq!(auth.encode(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn encode(&self) -> String {
        self.header.clone()
    }

    pub(crate) fn header_str(&self) -> &str {
        &self.header
    }

    /// Parses an `Authorization: Basic ...` header value (credentials in latin-1).
    ///
    /// ```
    /// let auth = aiohttp::BasicAuth::decode("Basic dXNlcjpwYXNz")?;
    /// assert_eq!((auth.login(), auth.password()), ("user", "pass"));
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn decode(header: &str) -> Result<Self, ClientError> {
        Self::decode_with_encoding(header, "latin1")
    }

    /// Parses an `Authorization: Basic ...` header value whose credentials use `encoding`.
    ///
    /// ```
    /// let auth = aiohttp::BasicAuth::decode_with_encoding("Basic w6k6w6k=", "utf-8")?;
    /// assert_eq!(auth.login(), "\u{e9}");
    /// # Ok::<(), aiohttp::ClientError>(())
    /// ```
    pub fn decode_with_encoding(header: &str, encoding: &str) -> Result<Self, ClientError> {
        let mut parts = header.trim().splitn(2, ' ');
        let scheme = parts.next().unwrap_or_default();
        let encoded = parts.next().map(str::trim).unwrap_or_default();
        if !scheme.eq_ignore_ascii_case("basic") || encoded.is_empty() {
            return Err(ClientError::invalid_argument(
                "not a Basic authorization header",
            ));
        }
        let raw = B64.decode(encoded).map_err(|e| {
            ClientError::invalid_argument("invalid base64 in the Basic authorization header")
                .with_source(e)
        })?;
        let text = decode_bytes(&raw, encoding)?;
        let (login, password) = text
            .split_once(':')
            .ok_or_else(|| ClientError::invalid_argument("invalid credentials: no ':'"))?;
        let header = build_header(login, password, encoding)?;
        Ok(BasicAuth {
            login: login.to_string(),
            password: password.to_string(),
            encoding: encoding.to_string(),
            header,
        })
    }
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("login", &self.login)
            .field("password", &"<hidden>")
            .field("encoding", &self.encoding)
            .finish()
    }
}

fn is_latin1(encoding: &str) -> bool {
    matches!(
        encoding.to_ascii_lowercase().as_str(),
        "latin1" | "latin-1" | "iso-8859-1" | "iso8859-1" | "l1"
    )
}

fn encode_text(text: &str, encoding: &str) -> Result<Vec<u8>, ClientError> {
    if is_latin1(encoding) {
        return text
            .chars()
            .map(|c| u8::try_from(u32::from(c)).ok())
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| {
                ClientError::invalid_argument("credentials cannot be encoded in latin-1")
            });
    }
    let enc = encoding_rs::Encoding::for_label(encoding.as_bytes())
        .ok_or_else(|| ClientError::invalid_argument(format!("unknown encoding {encoding:?}")))?;
    let (bytes, _, had_errors) = enc.encode(text);
    if had_errors {
        return Err(ClientError::invalid_argument(format!(
            "credentials cannot be encoded in {encoding}"
        )));
    }
    Ok(bytes.into_owned())
}

fn decode_bytes(raw: &[u8], encoding: &str) -> Result<String, ClientError> {
    if is_latin1(encoding) {
        return Ok(raw.iter().map(|&b| char::from(b)).collect());
    }
    let enc = encoding_rs::Encoding::for_label(encoding.as_bytes())
        .ok_or_else(|| ClientError::invalid_argument(format!("unknown encoding {encoding:?}")))?;
    let (text, had_errors) = enc.decode_without_bom_handling(raw);
    if had_errors {
        return Err(ClientError::invalid_argument(format!(
            "credentials are not valid {encoding}"
        )));
    }
    Ok(text.into_owned())
}

fn build_header(login: &str, password: &str, encoding: &str) -> Result<String, ClientError> {
    let raw = encode_text(&format!("{login}:{password}"), encoding)?;
    Ok(format!("Basic {}", B64.encode(raw)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_table() {
        let cases = [
            ("user", "pass", "latin1", "Basic dXNlcjpwYXNz"),
            ("", "", "latin1", "Basic Og=="),
            ("\u{e9}", "", "latin1", "Basic 6To="),
            ("\u{e9}", "", "utf-8", "Basic w6k6"),
            ("u", "p:w", "latin1", "Basic dTpwOnc="),
        ];
        for (login, password, enc, want) in cases {
            let auth = BasicAuth::new(login, password)
                .and_then(|a| a.with_encoding(enc))
                .expect("valid credentials");
            assert_eq!(auth.encode(), want, "{login:?}/{password:?} in {enc}");
        }
    }

    #[test]
    fn latin1_rejects_what_it_cannot_encode() {
        let err = BasicAuth::new("\u{20ac}", "x").expect_err("euro is not latin-1");
        assert!(err.is_invalid_argument());
        assert!(BasicAuth::new("\u{20ac}", "x").is_err());
        let ok = BasicAuth::new("a", "b")
            .and_then(|a| a.with_encoding("utf-8"))
            .expect("utf-8");
        assert_eq!(ok.encoding(), "utf-8");
    }

    #[test]
    fn colon_in_login_is_an_error() {
        assert!(BasicAuth::new("a:b", "c").is_err());
    }

    #[test]
    fn decode_round_trip_and_errors() {
        let auth = BasicAuth::decode("Basic dTpwOnc=").expect("decodes");
        assert_eq!(auth.login(), "u");
        assert_eq!(auth.password(), "p:w");
        assert_eq!(auth.encode(), "Basic dTpwOnc=");
        for bad in ["", "Basic", "Bearer dTpw", "Basic !!!", "Basic dXNlcg=="] {
            assert!(BasicAuth::decode(bad).is_err(), "{bad:?}");
        }
        let lower = BasicAuth::decode("basic dXNlcjpwYXNz").expect("scheme is case-insensitive");
        assert_eq!(lower.login(), "user");
    }

    #[test]
    fn debug_hides_password() {
        let auth = BasicAuth::new("u", "secret").expect("valid");
        assert!(!format!("{auth:?}").contains("secret"));
    }
}
