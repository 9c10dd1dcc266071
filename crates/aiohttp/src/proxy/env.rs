//! The proxy a request uses when the session trusts the environment (`trust_env(true)`):
//! `HTTP_PROXY`, `HTTPS_PROXY`, `WS_PROXY`, `WSS_PROXY`, `ALL_PROXY` and `NO_PROXY`, in lower
//! or upper case (lower case wins, as curl). Plain functions over a snapshot of the
//! variables, table-tested.

use std::net::IpAddr;

use url::Url;

/// The proxy variables, read once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EnvProxies {
    http: Option<Url>,
    https: Option<Url>,
    ws: Option<Url>,
    wss: Option<Url>,
    all: Option<Url>,
    no_proxy: NoProxy,
}

/// Reads `name` in lower case, else upper case; an empty value counts as unset.
fn var(get: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    let read = |n: String| {
        get(&n)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    read(name.to_ascii_lowercase()).or_else(|| read(name.to_ascii_uppercase()))
}

/// A proxy URL as the variables give it: `host:port` alone means `http://host:port`.
fn proxy_url(value: &str) -> Option<Url> {
    let with_scheme = if value.contains("://") {
        value.to_string()
    } else {
        format!("http://{value}")
    };
    let url = Url::parse(&with_scheme).ok()?;
    match url.scheme() {
        "http" | "https" | "socks4" | "socks4a" | "socks5" | "socks5h" => {
            url.host_str().map(|_| url.clone())
        }
        _ => None,
    }
}

impl EnvProxies {
    /// The variables as `get` reads them (the process environment: `|n| std::env::var(n).ok()`).
    pub(crate) fn read(get: impl Fn(&str) -> Option<String>) -> Self {
        let url = |name: &str| var(&get, name).and_then(|v| proxy_url(&v));
        EnvProxies {
            http: url("http_proxy"),
            https: url("https_proxy"),
            ws: url("ws_proxy"),
            wss: url("wss_proxy"),
            all: url("all_proxy"),
            no_proxy: NoProxy::parse(var(&get, "no_proxy").as_deref().unwrap_or("")),
        }
    }

    /// Every proxy URL the variables give.
    pub(crate) fn urls(&self) -> impl Iterator<Item = &Url> {
        [&self.http, &self.https, &self.ws, &self.wss, &self.all]
            .into_iter()
            .flatten()
    }

    /// The proxy for a request to `target`, if any: the scheme's variable, else `ALL_PROXY`,
    /// unless `NO_PROXY` exempts the host.
    pub(crate) fn proxy_for(&self, target: &Url) -> Option<&Url> {
        let by_scheme = match target.scheme() {
            "http" => self.http.as_ref(),
            "https" => self.https.as_ref(),
            "ws" => self.ws.as_ref(),
            "wss" => self.wss.as_ref(),
            _ => None,
        };
        let proxy = by_scheme.or(self.all.as_ref())?;
        let host = target.host()?;
        let port = target.port_or_known_default();
        (!self.no_proxy.exempts(&host, port)).then_some(proxy)
    }
}

/// One `NO_PROXY` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// `*`: no host uses a proxy.
    All,
    /// A domain and its subdomains (`example.com`, `.example.com`, `*.example.com`).
    Domain { name: String, port: Option<u16> },
    /// An address, or a network in CIDR notation.
    Net {
        addr: IpAddr,
        prefix: u8,
        port: Option<u16>,
    },
}

/// The hosts exempt from proxying.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NoProxy(Vec<Entry>);

impl NoProxy {
    /// Parses a `NO_PROXY` value: entries separated by commas or spaces; entries that cannot
    /// be read are ignored.
    pub(crate) fn parse(value: &str) -> Self {
        let entries = value
            .split([',', ' ', '\t'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .filter_map(parse_entry)
            .collect();
        NoProxy(entries)
    }

    /// Whether a request to `host` (on `port`) goes direct.
    pub(crate) fn exempts(&self, host: &url::Host<&str>, port: Option<u16>) -> bool {
        let ip: Option<IpAddr> = match host {
            url::Host::Ipv4(a) => Some(IpAddr::V4(*a)),
            url::Host::Ipv6(a) => Some(IpAddr::V6(*a)),
            url::Host::Domain(_) => None,
        };
        let name = match host {
            url::Host::Domain(d) => Some(d.trim_end_matches('.').to_ascii_lowercase()),
            _ => None,
        };
        let port_ok = |p: &Option<u16>| p.is_none() || *p == port;
        self.0.iter().any(|e| match e {
            Entry::All => true,
            Entry::Domain { name: n, port: p } => {
                port_ok(p)
                    && name
                        .as_deref()
                        .is_some_and(|h| h == n || h.ends_with(&format!(".{n}")))
            }
            Entry::Net {
                addr,
                prefix,
                port: p,
            } => port_ok(p) && ip.is_some_and(|a| in_network(a, *addr, *prefix)),
        })
    }
}

/// An address as a URL host reads it: IPv6, or IPv4 in any form the URL standard accepts
/// (`127.1`, `0x7f.1`, `2130706433`), so an entry matches the host a URL with it parses to.
fn ip_of(s: &str) -> Option<IpAddr> {
    if let Ok(a) = s.parse::<IpAddr>() {
        return Some(a);
    }
    match url::Host::parse(s) {
        Ok(url::Host::Ipv4(a)) => Some(IpAddr::V4(a)),
        _ => None,
    }
}

fn parse_entry(e: &str) -> Option<Entry> {
    if e == "*" {
        return Some(Entry::All);
    }
    // A network: `10.0.0.0/8`, `::1/128`, `[fd00::]/8`.
    if let Some((addr, prefix)) = e.split_once('/') {
        let addr = ip_of(addr.trim_start_matches('[').trim_end_matches(']'))?;
        let prefix: u8 = prefix.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        return (prefix <= max).then_some(Entry::Net {
            addr,
            prefix,
            port: None,
        });
    }
    // `[::1]:8080`, `[::1]`, `::1`.
    if let Some(rest) = e.strip_prefix('[') {
        let (addr, after) = rest.split_once(']')?;
        let addr: IpAddr = addr.parse().ok()?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        return Some(Entry::Net { addr, prefix, port });
    }
    if let Some(addr) = ip_of(e) {
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        return Some(Entry::Net {
            addr,
            prefix,
            port: None,
        });
    }
    // `host:port` or `host`.
    let (name, port) = match e.rsplit_once(':') {
        Some((n, p)) => (n, Some(p.parse::<u16>().ok()?)),
        None => (e, None),
    };
    if let Some(addr) = ip_of(name) {
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        return Some(Entry::Net { addr, prefix, port });
    }
    let name = name
        .trim_start_matches("*.")
        .trim_start_matches('.')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    (!name.is_empty()).then_some(Entry::Domain { name, port })
}

/// Whether `a` lies in `net/prefix` (an IPv4 address never lies in an IPv6 network, except
/// as its IPv4-mapped form).
fn in_network(a: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (a, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V4(_)) => a
            .to_ipv4_mapped()
            .is_some_and(|v4| in_network(IpAddr::V4(v4), net, prefix)),
        (IpAddr::V4(_), IpAddr::V6(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvProxies {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        EnvProxies::read(move |n| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()))
    }

    fn chosen(e: &EnvProxies, target: &str) -> Option<String> {
        e.proxy_for(&Url::parse(target).expect("url"))
            .map(|u| u.to_string())
    }

    #[test]
    fn variables_by_scheme_case_and_fallback() {
        let e = env(&[
            ("http_proxy", "http://lower:3128"),
            ("HTTP_PROXY", "http://upper:3128"),
            ("HTTPS_PROXY", "proxy.test:8080"),
            ("WSS_PROXY", "socks5h://s:1080"),
            ("ALL_PROXY", "http://all:1"),
        ]);
        let table = [
            ("http://a.test/", Some("http://lower:3128/")),
            ("https://a.test/", Some("http://proxy.test:8080/")),
            ("wss://a.test/", Some("socks5h://s:1080")),
            ("ws://a.test/", Some("http://all:1/")),
        ];
        for (target, want) in table {
            assert_eq!(chosen(&e, target).as_deref(), want, "{target}");
        }
        // Empty values count as unset; bad URLs are ignored.
        let e = env(&[
            ("http_proxy", ""),
            ("HTTP_PROXY", "http://u:1"),
            ("https_proxy", "ftp://x"),
        ]);
        assert_eq!(chosen(&e, "http://a/").as_deref(), Some("http://u:1/"));
        assert_eq!(chosen(&e, "https://a/"), None);
        assert_eq!(chosen(&env(&[]), "http://a/"), None);
    }

    #[test]
    fn no_proxy_table() {
        // (NO_PROXY, target, goes direct)
        let table = [
            ("*", "http://anything.test/", true),
            ("example.com", "http://example.com/", true),
            ("example.com", "http://www.example.com/", true),
            ("example.com", "http://notexample.com/", false),
            (".example.com", "http://example.com/", true),
            ("*.example.com", "http://a.b.example.com/", true),
            ("EXAMPLE.com", "http://example.COM./", true),
            ("example.com:8080", "http://example.com:8080/", true),
            ("example.com:8080", "http://example.com/", false),
            ("10.0.0.0/8", "http://10.1.2.3/", true),
            ("10.0.0.0/8", "http://11.1.2.3/", false),
            ("127.0.0.1", "http://127.0.0.1:9/", true),
            ("127.0.0.1:9", "http://127.0.0.1:9/", true),
            ("127.0.0.1:9", "http://127.0.0.1:10/", false),
            ("::1", "http://[::1]/", true),
            ("[::1]:80", "http://[::1]/", true),
            ("fd00::/8", "http://[fd12::1]/", true),
            ("fd00::/8", "http://[fe80::1]/", false),
            (
                "localhost, .internal  other.test",
                "http://db.internal/",
                true,
            ),
            ("localhost,,garbage/99", "http://localhost/", true),
            ("", "http://a.test/", false),
            ("0.0.0.0/0", "http://8.8.8.8/", true),
            ("0.0.0.0/0", "http://name.test/", false),
            // Addresses in the other forms a URL host takes match the canonical address.
            ("127.1", "http://127.0.0.1/", true),
            ("0x7f.1", "http://127.0.0.1/", true),
            ("0x7f.1:8080", "http://127.0.0.1:8080/", true),
            ("2130706433", "http://127.0.0.1/", true),
            ("127.0.0.1", "http://127.1/", true),
            ("127.0.0.1", "http://0x7f.0.0.1/", true),
            ("127.1/8", "http://127.9.9.9/", true),
            ("127.1", "http://127.0.0.2/", false),
        ];
        for (no_proxy, target, direct) in table {
            let e = env(&[("http_proxy", "http://p:1"), ("no_proxy", no_proxy)]);
            assert_eq!(
                chosen(&e, target).is_none(),
                direct,
                "NO_PROXY={no_proxy:?} {target}"
            );
        }
        // Lower case wins over upper case here too.
        let e = env(&[
            ("http_proxy", "http://p:1"),
            ("no_proxy", "a.test"),
            ("NO_PROXY", "*"),
        ]);
        assert_eq!(chosen(&e, "http://b.test/").as_deref(), Some("http://p:1/"));
    }
}
