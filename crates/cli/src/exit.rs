//! Exit statuses, by what went wrong (as httpie's, with more kinds of error told apart).

use aiohttp::{ClientError, ErrorKind};

/// Success.
pub const OK: u8 = 0;
/// Any other error: bad arguments, a file that cannot be read, a malformed response, ...
pub const ERROR: u8 = 1;
/// A timeout (total, connect, or a read).
pub const TIMEOUT: u8 = 2;
/// A 3xx answer, with `--check-status` (redirects not followed).
pub const HTTP_3XX: u8 = 3;
/// A 4xx answer, with `--check-status`.
pub const HTTP_4XX: u8 = 4;
/// A 5xx answer, with `--check-status`.
pub const HTTP_5XX: u8 = 5;
/// More redirects than `--max-redirects`.
pub const TOO_MANY_REDIRECTS: u8 = 6;
/// No connection: refused, reset, DNS, a UNIX socket, the server hung up.
pub const CONNECTION: u8 = 7;
/// TLS: a certificate that does not verify, a pinned fingerprint that does not match, a
/// failed handshake.
pub const TLS: u8 = 8;
/// The proxy refused the request or could not be reached.
pub const PROXY: u8 = 9;
/// Interrupted (Ctrl-C).
pub const INTERRUPTED: u8 = 130;

/// The exit status for an error of the client.
pub fn for_error(e: &ClientError) -> u8 {
    for_kind(e.kind())
}

/// The exit status for an error kind.
pub fn for_kind(kind: ErrorKind) -> u8 {
    if kind.is_a(ErrorKind::ServerTimeoutError) || kind == ErrorKind::ConnectionTimeoutError {
        TIMEOUT
    } else if kind == ErrorKind::TooManyRedirects {
        TOO_MANY_REDIRECTS
    } else if kind.is_a(ErrorKind::ClientHttpProxyError)
        || kind.is_a(ErrorKind::ClientProxyConnectionError)
    {
        PROXY
    } else if kind.is_a(ErrorKind::ClientSSLError)
        || kind.is_a(ErrorKind::ServerFingerprintMismatch)
    {
        TLS
    } else if kind.is_a(ErrorKind::ClientConnectionError) {
        CONNECTION
    } else {
        ERROR
    }
}

/// The exit status for a final answer's status, with `--check-status`.
pub fn for_status(status: u16) -> u8 {
    match status {
        300..=399 => HTTP_3XX,
        400..=499 => HTTP_4XX,
        500..=599 => HTTP_5XX,
        _ => OK,
    }
}

/// The text of `--help` that lists the statuses.
pub const HELP: &str = "Exit status: 0 success; 1 other error; 2 timeout; 3, 4, 5 an HTTP \
3xx, 4xx or 5xx answer with --check-status; 6 too many redirects; 7 connection error; 8 TLS \
error; 9 proxy error; 130 interrupted.";

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn kinds_table() {
        let cases = [
            (ErrorKind::ServerTimeoutError, TIMEOUT),
            (ErrorKind::SocketTimeoutError, TIMEOUT),
            (ErrorKind::ConnectionTimeoutError, TIMEOUT),
            (ErrorKind::TooManyRedirects, TOO_MANY_REDIRECTS),
            (ErrorKind::ClientHttpProxyError, PROXY),
            (ErrorKind::ClientProxyConnectionError, PROXY),
            (ErrorKind::ClientConnectorCertificateError, TLS),
            (ErrorKind::ClientConnectorSSLError, TLS),
            (ErrorKind::ServerFingerprintMismatch, TLS),
            (ErrorKind::ClientConnectorError, CONNECTION),
            (ErrorKind::ClientConnectorDNSError, CONNECTION),
            (ErrorKind::UnixClientConnectorError, CONNECTION),
            (ErrorKind::ServerDisconnectedError, CONNECTION),
            (ErrorKind::ClientOSError, CONNECTION),
            (ErrorKind::ClientPayloadError, ERROR),
            (ErrorKind::InvalidUrlClientError, ERROR),
            (ErrorKind::ClientResponseError, ERROR),
            (ErrorKind::InvalidArgument, ERROR),
        ];
        for (kind, want) in cases {
            assert_eq!(for_kind(kind), want, "{kind:?}");
        }
    }

    #[test]
    fn statuses_table() {
        for (status, want) in [
            (200, OK),
            (204, OK),
            (301, HTTP_3XX),
            (404, HTTP_4XX),
            (503, HTTP_5XX),
        ] {
            assert_eq!(for_status(status), want, "{status}");
        }
    }
}
