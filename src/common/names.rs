//! The rules for names, each written once: host names as porch reads a
//! `Host` header (which part of porch it addresses), app ids (they become
//! host names), and the names of roles and groups.
//!
//! porch's own pages live on the apex domain; each app gets its own origin
//! `<app-id>.<domain>`, so an app's script can never read porch's cookies.

use std::net::IpAddr;

/// The longest app id: it is one DNS label of the app's host name.
pub const MAX_APP_ID: usize = 32;
/// The longest role or group name.
pub const MAX_NAME: usize = 32;

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

/// Classifies a Host header value (with or without port) against `domain`:
/// only one app-id label in front of the exact domain names an app.
pub fn classify(host: Option<&str>, domain: &str) -> HostKind {
    let Some(host) = host else { return HostKind::Unknown };
    let name = host_name(host);
    let bracketless = name.trim_start_matches('[').trim_end_matches(']');
    if bracketless.parse::<IpAddr>().is_ok() || name == domain {
        return HostKind::Porch;
    }
    match name.strip_suffix(domain).and_then(|rest| rest.strip_suffix('.')) {
        Some(label) if valid_app_id(label) => HostKind::App(label.to_owned()),
        _ => HostKind::Unknown,
    }
}

/// A Host header's name: port and trailing dot dropped, lower case.
pub fn host_name(host: &str) -> String {
    strip_port(host).trim_end_matches('.').to_ascii_lowercase()
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

/// An app id: 1 to 32 lower-case letters, digits and inner hyphens, a DNS
/// label that becomes the app's host name.
pub fn valid_app_id(id: &str) -> bool {
    (1..=MAX_APP_ID).contains(&id.len())
        && !id.starts_with('-')
        && !id.ends_with('-')
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A role or group name: 1 to 32 of a-z, 0-9, '-' and '_'.
pub fn valid_name(s: &str) -> bool {
    (1..=MAX_NAME).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The origin of app `app` under porch's `base_url`:
/// `https://example.org` → `https://photos.example.org`.
pub fn app_origin(base_url: &str, app: &str) -> String {
    match url::Url::parse(base_url) {
        Ok(mut url) => {
            let host = format!("{app}.{}", url.host_str().unwrap_or_default());
            if url.set_host(Some(&host)).is_err() {
                return base_url.to_owned();
            }
            url.as_str().trim_end_matches('/').to_owned()
        }
        Err(_) => base_url.to_owned(),
    }
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
        assert_eq!(classify(Some("photos.family.example."), "family.example"), HostKind::App("photos".into()));
        assert_eq!(classify(Some("a.b.family.example"), "family.example"), HostKind::Unknown);
        assert_eq!(classify(Some("evilfamily.example"), "family.example"), HostKind::Unknown);
        assert_eq!(classify(Some("evil.com/.family.example"), "family.example"), HostKind::Unknown);
        assert_eq!(classify(None, "family.example"), HostKind::Unknown);
    }

    #[test]
    fn names_at_their_edges() {
        assert!(valid_app_id(&"a".repeat(32)) && !valid_app_id(&"a".repeat(33)));
        assert!(!valid_app_id("-x") && !valid_app_id("x_y") && !valid_app_id("X"));
        assert!(valid_name("family_1") && !valid_name("") && !valid_name(&"a".repeat(33)) && !valid_name("Ab"));
    }
}
