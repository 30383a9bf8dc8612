//! Host routing: which part of porch a request's Host header addresses.
//! porch's own pages live on the apex domain; each app gets its own origin
//! `<app-id>.<domain>`, so an app's script can never read porch's cookies.

use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKind {
    /// The apex domain, or a bare IP address (a LAN visitor typing the box's
    /// address): porch's own pages.
    Porch,
    /// `<app>.<domain>`.
    App(String),
    /// A name this porch does not answer to.
    Unknown,
}

/// Classifies a Host header value (with or without port) against `domain`.
pub fn classify(host: Option<&str>, domain: &str) -> HostKind {
    let Some(host) = host else { return HostKind::Unknown };
    let name = strip_port(host).trim_end_matches('.').to_ascii_lowercase();
    let bracketless = name.trim_start_matches('[').trim_end_matches(']');
    if bracketless.parse::<IpAddr>().is_ok() || name == domain {
        return HostKind::Porch;
    }
    match name.strip_suffix(domain).and_then(|rest| rest.strip_suffix('.')) {
        Some(label) if is_app_label(label) => HostKind::App(label.to_owned()),
        _ => HostKind::Unknown,
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// One DNS label of lower-case letters, digits and inner hyphens.
fn is_app_label(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_hosts() {
        assert_eq!(classify(Some("localhost:8080"), "localhost"), HostKind::Porch);
        assert_eq!(classify(Some("127.0.0.1:8080"), "localhost"), HostKind::Porch);
        assert_eq!(classify(Some("[::1]:8080"), "localhost"), HostKind::Porch);
        assert_eq!(classify(Some("Photos.Family.Example"), "family.example"), HostKind::App("photos".into()));
        assert_eq!(classify(Some("a.b.family.example"), "family.example"), HostKind::Unknown);
        assert_eq!(classify(Some("evilfamily.example"), "family.example"), HostKind::Unknown);
        assert_eq!(classify(None, "family.example"), HostKind::Unknown);
    }
}
