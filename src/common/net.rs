//! The client's address as porch counts it: made once, where the request is
//! accepted (after `trusted_proxies` and `forwarded_header` are applied),
//! and carried as one value. Every per-client limit counts in its **source
//! group** (an IPv4 address, or an IPv6 /64: one household or one server
//! usually holds a whole /64); logs and old audit events show only its
//! **network** (IPv4 /24, IPv6 /48).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;

/// The client behind a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr {
    /// The address (and port, when it is the socket's own).
    pub addr: SocketAddr,
    /// What every per-client limit counts in.
    pub group: IpAddr,
    /// What logs and old audit events keep.
    pub network: IpNet,
}

impl ClientAddr {
    pub fn new(addr: SocketAddr) -> ClientAddr {
        ClientAddr { addr, group: source_group(addr.ip()), network: network(addr.ip()) }
    }

    /// A stand-in for a request that carries no address (only in tests and
    /// internal calls): 0.0.0.0.
    pub fn unknown() -> ClientAddr {
        ClientAddr::new(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
    }

    pub fn ip(&self) -> IpAddr {
        self.addr.ip()
    }
}

/// The unit one client is counted as: its IPv4 address, or its IPv6 /64.
/// An IPv4-mapped IPv6 address counts as the IPv4 address.
pub fn source_group(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// An address with its host part dropped: IPv4 /24, IPv6 /48.
pub fn network(ip: IpAddr) -> IpNet {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let prefix = if ip.is_ipv4() { 24 } else { 48 };
    IpNet::new(ip, prefix).map_or(IpNet::from(ip), |net| net.trunc())
}

/// [`network`] as text: `203.0.113.0/24`, `2001:db8:1::/48`.
pub fn network_of(ip: IpAddr) -> String {
    network(ip).to_string()
}

/// Whether an address is reachable from the internet: IPv4 outside the
/// private, shared, loopback, link-local, documentation, benchmarking,
/// multicast and reserved ranges; IPv6 in global unicast (2000::/3) but not
/// documentation, and not a form that carries an IPv4 address which is not
/// itself public (IPv4-mapped, 6to4 2002::/16, Teredo 2001::/32, the NAT64
/// prefix). The DNS zone publishes only these, and apps' outbound requests
/// reach only these (unless the owner lists a network).
pub fn is_public(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || o[0] == 0
                || o[0] >= 240
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(&IpAddr::V4(v4));
            }
            let s = v6.segments();
            let embedded = |hi: u16, lo: u16| IpAddr::V4(Ipv4Addr::from(((hi as u32) << 16) | lo as u32));
            match (s[0], s[1]) {
                // 6to4 carries the IPv4 address right after the prefix.
                (0x2002, _) => is_public(&embedded(s[1], s[2])),
                // Teredo (relays to anywhere) and documentation.
                (0x2001, 0x0000) | (0x2001, 0x0db8) => false,
                _ => (s[0] & 0xe000) == 0x2000,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_64_is_one_client_and_mapped_ipv4_is_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(source_group(a), source_group(b));
        assert_ne!(source_group(a), source_group(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        assert_eq!(source_group(mapped), "192.0.2.1".parse::<IpAddr>().expect("ip"));
    }

    #[test]
    fn networks_read_as_before() {
        assert_eq!(network_of("203.0.113.77".parse().expect("ip")), "203.0.113.0/24");
        assert_eq!(network_of("2001:db8:1:2:3::9".parse().expect("ip")), "2001:db8:1::/48");
        assert_eq!(network_of("::ffff:192.0.2.1".parse().expect("ip")), "192.0.2.0/24");
        let client = ClientAddr::new("192.0.2.9:4000".parse().expect("addr"));
        assert_eq!((client.group.to_string(), client.network.to_string()), ("192.0.2.9".into(), "192.0.2.0/24".into()));
    }
}
