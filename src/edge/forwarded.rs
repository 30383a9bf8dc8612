//! The client's address behind a reverse proxy. `X-Forwarded-For` and
//! `Forwarded` are believed only when the connection itself comes from a
//! proxy listed in `trusted_proxies`; then the client is the right-most
//! address in the chain that is not itself a trusted proxy (addresses to its
//! left were written by the client and prove nothing).

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

/// The address porch treats as the client's.
pub fn client_addr(peer: SocketAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> SocketAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer.ip()) {
        return peer;
    }
    let mut chain = forwarded_for(headers);
    if chain.is_empty() {
        chain = x_forwarded_for(headers);
    }
    // Walk from the proxy nearest porch outwards.
    let mut client = peer.ip();
    for hop in chain.iter().rev() {
        let Some(ip) = hop else { break };
        client = *ip;
        if !is_trusted(ip) {
            break;
        }
    }
    SocketAddr::new(client, 0)
}

/// Addresses in `X-Forwarded-For`, left to right; `None` for a hop that is
/// not an address (the chain cannot be followed past it).
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("?").split(','))
        .map(|hop| parse_node(hop.trim()))
        .collect()
}

/// The `for=` addresses of RFC 7239 `Forwarded`, left to right.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("forwarded")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("for=?").split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim().eq_ignore_ascii_case("for").then(|| parse_node(value.trim().trim_matches('"')))
            })
        })
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:443`, `[2001:db8::1]` or `[2001:db8::1]:443`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    node.strip_prefix('[').and_then(|rest| rest.split(']').next()).and_then(|ip| ip.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn client(peer: &str, h: &HeaderMap, trusted: &[&str]) -> String {
        let trusted: Vec<ipnet::IpNet> = trusted.iter().map(|t| t.parse().expect("net")).collect();
        client_addr(peer.parse().expect("peer"), h, &trusted).ip().to_string()
    }

    #[test]
    fn headers_from_strangers_are_ignored() {
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(client("198.51.100.7:5000", &h, &["10.0.0.0/8"]), "198.51.100.7");
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        // The client forged the first entry; the proxy appended the real one.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.0.0.2")]);
        assert_eq!(client("10.0.0.1:5000", &h, &["10.0.0.0/8"]), "203.0.113.9");
        let h = headers(&[("forwarded", "for=1.2.3.4, for=\"[2001:db8::7]:443\";proto=https")]);
        assert_eq!(client("10.0.0.1:5000", &h, &["10.0.0.0/8"]), "2001:db8::7");
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_good_hop() {
        let h = headers(&[("x-forwarded-for", "203.0.113.9, unknown")]);
        assert_eq!(client("10.0.0.1:5000", &h, &["10.0.0.0/8"]), "10.0.0.1");
        let h = headers(&[]);
        assert_eq!(client("10.0.0.1:5000", &h, &["10.0.0.0/8"]), "10.0.0.1");
    }
}
