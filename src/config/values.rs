//! The porch-specific kinds of configuration value: the enums some keys
//! choose between, and the parsers of values with no numeric range (paths,
//! URLs, address lists), each used by one or more keys in `keys.rs`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use super::rules::Custom;

/// How porch gets its certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Off,
    SelfSigned,
    Files,
    Acme,
}

impl TlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Off => "off",
            TlsMode::SelfSigned => "self-signed",
            TlsMode::Files => "files",
            TlsMode::Acme => "acme",
        }
    }
}

/// How porch talks TLS to the SMTP server (`mail.tls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailTls {
    /// Plain first, then STARTTLS (required): port 587.
    StartTls,
    /// TLS from the first byte: port 465.
    Tls,
    /// No TLS at all: only for a server on this machine or a test.
    Off,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

/// The one header a trusted proxy names the client in (`forwarded_header`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For`, which nginx, Caddy and cloudflared append to.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded` (`for=`).
    Forwarded,
}

/// How the ACME CA checks that porch owns its names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcmeChallenge {
    Auto,
    Http01,
    TlsAlpn01,
    Dns01,
}

/// Where porch learns its public address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressSource {
    Interface(String),
    Url(url::Url),
}

pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// An address and port to listen on.
pub const ADDRESS: Custom<SocketAddr> =
    Custom { allowed: "an address and port such as 0.0.0.0:443 or [::]:8080", parse: |v| v.parse().ok() };

pub fn folder(v: &str) -> Option<PathBuf> {
    (!v.is_empty()).then(|| PathBuf::from(v))
}

pub fn optional_path(v: &str) -> Option<Option<PathBuf>> {
    Some((!v.is_empty()).then(|| PathBuf::from(v)))
}

pub fn not_empty(v: &str) -> Option<String> {
    (!v.is_empty()).then(|| v.to_owned())
}

pub fn any_text(v: &str) -> Option<String> {
    Some(v.to_owned())
}

/// An http(s) origin with nothing after it.
pub fn http_origin(v: &str) -> Option<Option<url::Url>> {
    if v.is_empty() {
        return Some(None);
    }
    let url = url::Url::parse(v).ok()?;
    let ok = matches!(url.scheme(), "http" | "https") && url.host_str().is_some() && url.path() == "/";
    ok.then_some(Some(url))
}

/// Addresses and networks separated by commas; a bare address is its own
/// network.
pub fn networks(v: &str) -> Option<Vec<ipnet::IpNet>> {
    v.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| a.parse::<ipnet::IpNet>().ok().or_else(|| a.parse::<IpAddr>().ok().map(Into::into)))
        .collect()
}

/// `APP:ROLE, APP:ROLE`: app roles, such as who may invite through an app.
pub fn app_roles(v: &str) -> Option<Vec<(String, String)>> {
    v.split(',')
        .map(|r| r.trim().to_ascii_lowercase())
        .filter(|r| !r.is_empty())
        .map(|r| {
            let (app, role) = r.split_once(':')?;
            let ok = crate::common::names::valid_app_id(app) && crate::common::names::valid_name(role);
            ok.then(|| (app.to_owned(), role.to_owned()))
        })
        .collect()
}

/// An app catalogue: where its index is, and the key it must be signed by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogue {
    /// The index URL, without the key.
    pub url: String,
    /// The Ed25519 public key the index must be signed with.
    pub key: [u8; 32],
}

/// `URL#KEY, URL#KEY`: http(s) index URLs, each with its 64-hex signing key
/// as the fragment (which no HTTP request carries).
pub fn catalogues(v: &str) -> Option<Vec<Catalogue>> {
    v.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| {
            let mut url = url::Url::parse(c).ok().filter(|u| matches!(u.scheme(), "http" | "https"))?;
            let key = <[u8; 32]>::try_from(hex::decode(url.fragment()?).ok()?).ok()?;
            url.set_fragment(None);
            Some(Catalogue { url: url.to_string(), key })
        })
        .collect()
}

pub fn addresses(v: &str) -> Option<Vec<IpAddr>> {
    v.split(',').map(str::trim).filter(|a| !a.is_empty()).map(|a| a.parse().ok()).collect()
}

/// `letsencrypt`, `letsencrypt-staging` (resolved to their URLs here) or
/// any https directory URL.
pub fn acme_directory(v: &str) -> Option<String> {
    match v {
        "letsencrypt" => Some(LETS_ENCRYPT.to_owned()),
        "letsencrypt-staging" => Some(LETS_ENCRYPT_STAGING.to_owned()),
        _ => url::Url::parse(v).ok().filter(|u| u.scheme() == "https").map(|u| u.to_string()),
    }
}

/// Empty, or a host name or IP address (no scheme, port or path).
pub fn optional_host(v: &str) -> Option<Option<String>> {
    match v {
        "" => Some(None),
        _ => v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
            .then(|| Some(v.trim_start_matches('[').trim_end_matches(']').to_owned())),
    }
}

pub fn email_address(v: &str) -> Option<Option<String>> {
    match v {
        "" => Some(None),
        _ => (v.contains('@') && !v.contains(char::is_whitespace)).then(|| Some(v.to_owned())),
    }
}

/// A base64url key, padded or not; empty is none.
pub fn base64url(v: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    if v.is_empty() {
        return Some(Vec::new());
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(v.trim_end_matches('=')).ok()
}

pub fn optional_domain(v: &str) -> Option<Option<String>> {
    if v.is_empty() { Some(None) } else { super::rules::parse_domain(v).map(Some) }
}

/// `interface:NAME`, or an https URL (only https: whoever could change a
/// plain-HTTP answer on the way would repoint the whole zone, review
/// finding M7).
pub fn address_from(v: &str) -> Option<Option<AddressSource>> {
    if v.is_empty() {
        return Some(None);
    }
    if let Some(name) = v.strip_prefix("interface:") {
        return (!name.is_empty()).then(|| Some(AddressSource::Interface(name.to_owned())));
    }
    let url = url::Url::parse(v).ok()?;
    (url.scheme() == "https" && url.host_str().is_some()).then_some(Some(AddressSource::Url(url)))
}
