//! Outbound proxies from the usual environment variables: `HTTP_PROXY` for `http` callbacks,
//! `HTTPS_PROXY` for `https` ones, `ALL_PROXY` for both when those are unset (lowercase names
//! too), and `NO_PROXY` for the hosts that go direct. HTTP proxies only (`http://` or no
//! scheme); others are ignored with a warning.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::percent_decode_str;
use reqwest::Url;

/// An HTTP proxy.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    host: String,
    pub port: u16,
    /// `user:password` from the proxy URL, sent as `Proxy-Authorization: Basic …`.
    credentials: Option<String>,
}

impl std::fmt::Debug for Proxy {
    // The credentials stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proxy({})", self.address())
    }
}

impl Proxy {
    /// `http://[user:password@]host[:port]`, or the same without a scheme.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let with_scheme = if text.contains("://") {
            text.to_owned()
        } else {
            format!("http://{text}")
        };
        let url = Url::parse(&with_scheme).ok()?;
        if url.scheme() != "http" {
            return None;
        }
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let credentials = (!url.username().is_empty()).then(|| {
            format!(
                "{}:{}",
                decode(url.username()),
                decode(url.password().unwrap_or_default())
            )
        });
        Some(Self {
            host: url.host_str()?.to_owned(),
            port: url.port_or_known_default()?,
            credentials,
        })
    }

    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The host to connect to: without the brackets of an IPv6 address.
    pub fn connect_host(&self) -> &str {
        self.host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host)
    }

    /// `Basic <base64 user:password>`, when the proxy URL carries credentials.
    pub fn authorization(&self) -> Option<String> {
        self.credentials
            .as_ref()
            .map(|c| format!("Basic {}", STANDARD.encode(c)))
    }
}

/// The proxies of each scheme and the hosts that bypass them.
#[derive(Debug, Clone, Default)]
pub struct Proxies {
    http: Option<Proxy>,
    https: Option<Proxy>,
    no_proxy: Vec<String>,
}

impl Proxies {
    /// No proxy at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// From the environment, as curl and reqwest read it.
    pub fn from_env() -> Self {
        let var = |names: [&str; 2]| {
            names
                .iter()
                .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
        };
        let all = var(["ALL_PROXY", "all_proxy"]);
        let http = var(["HTTP_PROXY", "http_proxy"]).or_else(|| all.clone());
        let https = var(["HTTPS_PROXY", "https_proxy"]).or(all);
        let no_proxy = var(["NO_PROXY", "no_proxy"]).unwrap_or_default();
        Self::new(http.as_deref(), https.as_deref(), &no_proxy)
    }

    /// From the variables' values.
    pub fn new(http: Option<&str>, https: Option<&str>, no_proxy: &str) -> Self {
        let read = |name: &str, value: Option<&str>| {
            let value = value?;
            let proxy = Proxy::parse(value);
            if proxy.is_none() {
                tracing::warn!(
                    variable = name,
                    "ignoring a proxy that is not an http:// URL"
                );
            }
            proxy
        };
        Self {
            http: read("HTTP_PROXY", http),
            https: read("HTTPS_PROXY", https),
            no_proxy: no_proxy
                .split(',')
                .map(|entry| entry.trim().to_ascii_lowercase())
                .filter(|entry| !entry.is_empty())
                .collect(),
        }
    }

    /// The proxy a request to `host` goes through, if any.
    pub fn for_host(&self, https: bool, host: &str) -> Option<&Proxy> {
        let proxy = if https { &self.https } else { &self.http };
        proxy.as_ref().filter(|_| !self.bypasses(host))
    }

    /// Whether `NO_PROXY` names the host: `*`; an IP address or a CIDR block; a domain and
    /// its subdomains (`example.com`, `.example.com` and `*.example.com` alike).
    fn bypasses(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let ip: Option<IpAddr> = host.parse().ok();
        self.no_proxy.iter().any(|entry| {
            if entry == "*" {
                return true;
            }
            if let Some(ip) = ip {
                return matches_ip(entry, ip);
            }
            let domain = entry.trim_start_matches("*.").trim_start_matches('.');
            let domain = strip_port(domain);
            !domain.is_empty()
                && (host == domain
                    || host
                        .strip_suffix(domain)
                        .is_some_and(|rest| rest.ends_with('.')))
        })
    }
}

/// `host:port` → `host` (an IPv6 entry keeps its colons).
fn strip_port(entry: &str) -> &str {
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => entry,
    }
}

/// An entry that is an address (`10.0.0.1`, `::1`, `[::1]`) or a block (`10.0.0.0/8`).
fn matches_ip(entry: &str, ip: IpAddr) -> bool {
    let entry = entry.trim_start_matches('[').trim_end_matches(']');
    let (address, bits) = match entry.split_once('/') {
        Some((address, bits)) => match bits.parse::<u32>() {
            Ok(bits) => (address, Some(bits)),
            Err(_) => return false,
        },
        None => (entry, None),
    };
    let Ok(network) = address.parse::<IpAddr>() else {
        return false;
    };
    match (network, ip) {
        (IpAddr::V4(net), IpAddr::V4(ip)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(net) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(net), IpAddr::V6(ip)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(net) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_are_http_with_optional_credentials() {
        let p = Proxy::parse("proxy.internal:3128").unwrap();
        assert_eq!(
            (p.address(), p.authorization()),
            ("proxy.internal:3128".into(), None)
        );
        let p = Proxy::parse("http://u%40x:p@[::1]").unwrap();
        assert_eq!(p.address(), "[::1]:80");
        assert_eq!(p.connect_host(), "::1");
        assert_eq!(
            p.authorization().unwrap(),
            format!("Basic {}", STANDARD.encode("u@x:p"))
        );
        assert!(format!("{p:?}").contains("[::1]:80") && !format!("{p:?}").contains("u@x"));
        for bad in ["", "socks5://proxy:1080", "https://proxy:443", "http://"] {
            assert!(Proxy::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn no_proxy_names_hosts_domains_addresses_and_blocks() {
        let proxies = Proxies::new(
            Some("http://proxy:3128"),
            Some("http://proxy:3129"),
            "localhost, .internal.example, *.corp.example, example.org:8080, 10.0.0.0/8, ::1, 192.168.1.7",
        );
        for direct in [
            "localhost",
            "a.internal.example",
            "internal.example",
            "x.y.corp.example",
            "example.org",
            "sub.example.org",
            "10.1.2.3",
            "::1",
            "192.168.1.7",
            "LOCALHOST",
        ] {
            assert!(proxies.for_host(false, direct).is_none(), "{direct}");
        }
        for proxied in [
            "pms.example",
            "notinternal.example",
            "11.0.0.1",
            "192.168.1.8",
            "::2",
        ] {
            assert_eq!(
                proxies
                    .for_host(false, proxied)
                    .map(Proxy::address)
                    .as_deref(),
                Some("proxy:3128"),
                "{proxied}"
            );
            assert_eq!(
                proxies
                    .for_host(true, proxied)
                    .map(Proxy::address)
                    .as_deref(),
                Some("proxy:3129")
            );
        }
        assert!(
            Proxies::new(Some("proxy:1"), None, "*")
                .for_host(false, "a")
                .is_none()
        );
        assert!(
            Proxies::new(None, Some("proxy:1"), "")
                .for_host(false, "a")
                .is_none()
        );
    }
}
