//! The `--host` of the hub and of `coopmux session`: an IP address or, as coop accepts, a host
//! name such as `localhost`, resolved when binding.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use tokio::net::TcpListener;

/// Longest host name (bytes), as DNS allows.
const MAX_NAME_BYTES: usize = 253;
/// Longest label of a host name (bytes), as DNS allows.
const MAX_LABEL_BYTES: usize = 63;

/// Where to listen: an address, or a name resolved when binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindHost {
    /// An IPv4 or IPv6 address (`[::1]` is accepted too).
    Ip(IpAddr),
    /// A host name (labels of letters, digits, `-` and `_`, separated by dots).
    Name(String),
}

impl Default for BindHost {
    fn default() -> Self {
        Self::Ip(IpAddr::from([127, 0, 0, 1]))
    }
}

impl From<IpAddr> for BindHost {
    fn from(ip: IpAddr) -> Self {
        Self::Ip(ip)
    }
}

impl FromStr for BindHost {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let unbracketed = s
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
            .unwrap_or(s);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Ok(Self::Ip(ip));
        }
        let name = s.strip_suffix('.').unwrap_or(s);
        let label_ok = |label: &str| {
            (1..=MAX_LABEL_BYTES).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if name.is_empty() || name.len() > MAX_NAME_BYTES || !name.split('.').all(label_ok) {
            return Err(format!(
                "invalid host {s:?}: expected an IP address or a host name such as localhost"
            ));
        }
        Ok(Self::Name(name.to_ascii_lowercase()))
    }
}

impl fmt::Display for BindHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(ip) => ip.fmt(f),
            Self::Name(name) => f.write_str(name),
        }
    }
}

impl BindHost {
    /// The addresses to try for `port`, IPv4 first: `localhost` then binds `127.0.0.1`,
    /// where coop's sessions look for a hub by default.
    pub async fn resolve(&self, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        let mut addrs: Vec<SocketAddr> = match self {
            Self::Ip(ip) => vec![SocketAddr::new(*ip, port)],
            Self::Name(name) => tokio::net::lookup_host((name.as_str(), port))
                .await?
                .collect(),
        };
        addrs.sort_by_key(SocketAddr::is_ipv6);
        addrs.dedup();
        if addrs.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{self} has no address"),
            ));
        }
        Ok(addrs)
    }

    /// Listens on the first of `addrs` that can be bound (the last error otherwise).
    pub async fn bind(addrs: &[SocketAddr]) -> std::io::Result<TcpListener> {
        let mut last = None;
        for addr in addrs {
            match TcpListener::bind(addr).await {
                Ok(listener) => return Ok(listener),
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(|| std::io::ErrorKind::AddrNotAvailable.into()))
    }

    /// The name, when this is one.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Name(name) => Some(name),
            Self::Ip(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_names_parse_and_junk_is_refused() {
        let ip = |s: &str| BindHost::Ip(s.parse().unwrap());
        assert_eq!("127.0.0.1".parse(), Ok(ip("127.0.0.1")));
        assert_eq!("[::1]".parse(), Ok(ip("::1")));
        assert_eq!("::".parse(), Ok(ip("::")));
        assert_eq!(
            "LocalHost".parse(),
            Ok(BindHost::Name("localhost".to_owned()))
        );
        assert_eq!(
            "mux-1.svc.cluster.local.".parse(),
            Ok(BindHost::Name("mux-1.svc.cluster.local".to_owned()))
        );
        let long = format!("{}.x", "a".repeat(64));
        for junk in ["", "a b", "-a", "a..b", "a/b", "http://x", long.as_str()] {
            let err = junk.parse::<BindHost>().unwrap_err();
            assert!(err.contains("invalid host"), "{junk:?}: {err}");
        }
    }

    #[tokio::test]
    async fn localhost_resolves_ipv4_first() {
        let host: BindHost = "localhost".parse().unwrap();
        let addrs = host.resolve(9).await.unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
        assert!(addrs[0].is_ipv4(), "{addrs:?}");
    }
}
