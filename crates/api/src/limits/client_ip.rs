//! Who the client is, as far as the network tells: the socket's peer, unless that peer is a
//! proxy we were told to trust (`--proxy-trusted-origins`), in which case `X-Forwarded-For`
//! is read from the right, past every trusted hop, to the first address that is not one.
//! Reading from the left would believe whatever the client wrote there.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;

/// The client's address, as found for this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

/// A CIDR (`10.0.0.0/8`) or a single address.
pub fn parse_origin(raw: &str) -> Result<IpNet, String> {
    let raw = raw.trim();
    raw.parse::<IpNet>()
        .or_else(|_| raw.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{raw:?} is neither a CIDR (10.0.0.0/8) nor an IP address"))
}

fn parse_hop(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    raw.parse::<IpAddr>().ok().or_else(|| raw.parse::<SocketAddr>().ok().map(|s| s.ip())).map(|ip| ip.to_canonical())
}

impl TrustedProxies {
    pub fn new(origins: Vec<IpNet>) -> Self {
        Self(origins)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: `peer`, or the nearest untrusted hop of `forwarded_for` (the
    /// header's values in order) when `peer` is trusted.
    pub fn client_ip<'a>(&self, peer: IpAddr, forwarded_for: impl DoubleEndedIterator<Item = &'a str>) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let hops: Vec<&str> = forwarded_for.flat_map(|value| value.split(',')).collect();
        for hop in hops.into_iter().rev() {
            let Some(ip) = parse_hop(hop) else { break };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// What limits are counted against: the address itself, or for IPv6 its /64, which one
/// host usually holds whole.
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(list.iter().map(|raw| parse_origin(raw).unwrap_or_else(|e| panic!("{e}"))).collect())
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = proxies(&["10.0.0.0/8"]);
        assert_eq!(trusted.client_ip(ip("203.0.113.9"), ["1.2.3.4"].into_iter()), ip("203.0.113.9"));
        assert_eq!(proxies(&[]).client_ip(ip("10.1.1.1"), ["1.2.3.4"].into_iter()), ip("10.1.1.1"));
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8", "192.168.1.1"]);
        // The client claims to be 1.1.1.1; its real address is the one our proxy appended.
        let header = ["1.1.1.1, 198.51.100.7", "10.0.0.2"];
        assert_eq!(trusted.client_ip(ip("192.168.1.1"), header.into_iter()), ip("198.51.100.7"));
        // Every hop trusted: the leftmost.
        assert_eq!(trusted.client_ip(ip("10.0.0.1"), ["10.0.0.3,10.0.0.2"].into_iter()), ip("10.0.0.3"));
        // No header: the proxy itself.
        assert_eq!(trusted.client_ip(ip("10.0.0.1"), std::iter::empty()), ip("10.0.0.1"));
        // Garbage stops the walk at the last hop we could read.
        assert_eq!(trusted.client_ip(ip("10.0.0.1"), ["1.1.1.1, nonsense, 10.0.0.9"].into_iter()), ip("10.0.0.9"));
        // Ports and mapped addresses are understood.
        assert_eq!(trusted.client_ip(ip("::ffff:10.0.0.1"), ["198.51.100.7:4711"].into_iter()), ip("198.51.100.7"));
    }

    #[test]
    fn origins_are_cidrs_or_addresses() {
        assert!(parse_origin("10.0.0.0/8").is_ok());
        assert!(parse_origin("2001:db8::/32").is_ok());
        assert!(parse_origin(" 127.0.0.1 ").is_ok());
        assert!(parse_origin("10.0.0.0/33").is_err());
        assert!(parse_origin("localhost").is_err());
    }

    #[test]
    fn ipv6_clients_are_limited_per_64() {
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(limit_key(ip("198.51.100.7")), ip("198.51.100.7"));
        assert_eq!(limit_key(ip("::ffff:198.51.100.7")), ip("198.51.100.7"));
    }
}
