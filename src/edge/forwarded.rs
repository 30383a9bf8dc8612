//! The client's address behind a reverse proxy. Exactly one header is read,
//! the one the owner says their proxy writes (`forwarded_header`:
//! `X-Forwarded-For` by default, or `Forwarded`), and only when the
//! connection itself comes from a proxy listed in `trusted_proxies`. The
//! client is then the right-most address in that header's chain that is not
//! itself a trusted proxy (addresses to its left were written by the client
//! and prove nothing). The other header is never looked at: proxies pass a
//! client's own `Forwarded` through untouched (review finding M2).

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

use crate::config::ForwardedHeader;

/// The address porch treats as the client's.
pub fn client_addr(
    peer: SocketAddr,
    headers: &HeaderMap,
    trusted: &[ipnet::IpNet],
    header: ForwardedHeader,
) -> SocketAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer.ip()) {
        return peer;
    }
    let chain = match header {
        ForwardedHeader::XForwardedFor => x_forwarded_for(headers),
        ForwardedHeader::Forwarded => forwarded_for(headers),
    };
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
        client_by(peer, h, trusted, ForwardedHeader::XForwardedFor)
    }

    fn client_by(peer: &str, h: &HeaderMap, trusted: &[&str], header: ForwardedHeader) -> String {
        let trusted: Vec<ipnet::IpNet> = trusted.iter().map(|t| t.parse().expect("net")).collect();
        client_addr(peer.parse().expect("peer"), h, &trusted, header).ip().to_string()
    }

    #[test]
    fn m2_only_the_configured_header_is_read() {
        // nginx appended the real client to X-Forwarded-For and passed the
        // client's own Forwarded through.
        let h = headers(&[("x-forwarded-for", "203.0.113.7"), ("forwarded", "for=198.51.100.9")]);
        assert_eq!(client("10.0.0.1:5000", &h, &["10.0.0.0/8"]), "203.0.113.7");
        let h = headers(&[("forwarded", "for=198.51.100.9")]);
        assert_eq!(client("10.0.0.1:5000", &h, &["10.0.0.0/8"]), "10.0.0.1", "no fallback to Forwarded");
        // A proxy that writes Forwarded: X-Forwarded-For is ignored instead.
        let h = headers(&[("x-forwarded-for", "203.0.113.7"), ("forwarded", "for=198.51.100.9")]);
        assert_eq!(client_by("10.0.0.1:5000", &h, &["10.0.0.0/8"], ForwardedHeader::Forwarded), "198.51.100.9");
        let h = headers(&[("x-forwarded-for", "203.0.113.7")]);
        assert_eq!(client_by("10.0.0.1:5000", &h, &["10.0.0.0/8"], ForwardedHeader::Forwarded), "10.0.0.1");
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
        assert_eq!(client_by("10.0.0.1:5000", &h, &["10.0.0.0/8"], ForwardedHeader::Forwarded), "2001:db8::7");
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_good_hop() {
        let h = headers(&[("x-forwarded-for", "203.0.113.9, unknown")]);
        assert_eq!(client("10.0.0.1:5000", &h, &["10.0.0.0/8"]), "10.0.0.1");
        let h = headers(&[]);
        assert_eq!(client("10.0.0.1:5000", &h, &["10.0.0.0/8"]), "10.0.0.1");
    }
}
