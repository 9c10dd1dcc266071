//! Whether IPv6 loopback works here, one answer for every test.

use std::net::{Ipv6Addr, SocketAddr, TcpListener};
use std::sync::OnceLock;

/// Whether a socket can be bound to `[::1]:0` on this machine (checked once
/// per process).
///
/// Containers and CI machines often run without IPv6 loopback; tests that
/// need it use [`skip_without_ipv6`] so that they all skip the same way.
///
/// ```
/// if test_support::ipv6_available() {
///     let listener = std::net::TcpListener::bind("[::1]:0").expect("checked above");
///     assert!(listener.local_addr().expect("bound").is_ipv6());
/// }
/// ```
pub fn ipv6_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, 0))).is_ok())
}

/// `true`, after printing `skipped: ::1 unavailable` with `test`'s name,
/// when IPv6 loopback is missing; `false` when the test can go on.
///
/// ```
/// fn ipv6_test() {
///     if test_support::skip_without_ipv6("ipv6_test") {
///         return;
///     }
///     // ... bind or connect to [::1] ...
/// }
/// # ipv6_test();
/// ```
pub fn skip_without_ipv6(test: &str) -> bool {
    if ipv6_available() {
        return false;
    }
    eprintln!("{test}: skipped: ::1 unavailable");
    true
}
