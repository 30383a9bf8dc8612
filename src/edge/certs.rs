//! Certificates as the TLS listener uses them: parsing a PEM chain and key
//! into a rustls [`CertifiedKey`] with the names and validity it covers, and
//! [`CertResolver`], which picks a certificate by SNI for every handshake.
//!
//! The resolver's table is swapped whole ([`CertResolver::install`]), so a
//! renewed certificate serves the next handshake while connections already
//! open keep the one they started with. A name porch holds no certificate
//! for gets none: the handshake fails rather than show another name's.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;

/// The ALPN protocol an ACME TLS-ALPN-01 validation offers (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// A certificate chain with its key, ready to serve, and what it covers.
#[derive(Clone)]
pub struct Served {
    pub key: Arc<CertifiedKey>,
    pub info: CertInfo,
}

impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Served").field("info", &self.info).finish_non_exhaustive()
    }
}

/// The facts about a leaf certificate porch shows and schedules by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// DNS names from the subject alternative names, lower case.
    pub names: Vec<String>,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// Issuer's distinguished name, for people.
    pub issuer: String,
}

impl CertInfo {
    /// Whether this certificate is valid for `host`, directly or through a
    /// one-label wildcard.
    pub fn covers(&self, host: &str) -> bool {
        self.names.iter().any(|n| name_matches(n, host))
    }
}

/// `pattern` is a certificate name (`*.family.example` or `family.example`).
fn name_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(parent) => host.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
        None => pattern == host,
    }
}

/// Parses a PEM chain (leaf first) and a PEM private key, checks they belong
/// together, and reads the leaf's names and validity.
pub fn parse_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<Served, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::BadPem(format!("the certificate file is not valid PEM: {e}")))?;
    if chain.is_empty() {
        return Err(TlsError::BadPem("the certificate file holds no CERTIFICATE block".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| TlsError::BadPem(format!("the key file holds no usable private key: {e}")))?;
    let info = leaf_info(&chain[0])?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let certified = CertifiedKey::from_der(chain, key, &provider)
        .map_err(|e| TlsError::BadPem(format!("the certificate and key cannot be used together: {e}")))?;
    Ok(Served { key: Arc::new(certified), info })
}

/// A certificate with its key, without the key-match check (which parses
/// the certificate with webpki). Only for TLS-ALPN-01 validation
/// certificates, whose critical acmeIdentifier extension webpki refuses.
pub fn challenge_key(
    cert_der: CertificateDer<'static>,
    key_der: PrivateKeyDer<'static>,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| TlsError::BadPem(format!("cannot load the challenge key: {e}")))?;
    Ok(Arc::new(CertifiedKey::new(vec![cert_der], signing)))
}

/// Names and validity of a DER leaf certificate.
pub fn leaf_info(der: &[u8]) -> Result<CertInfo, TlsError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| TlsError::BadPem(format!("the certificate cannot be read: {e}")))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(dns) = name {
                names.push(dns.to_ascii_lowercase());
            }
        }
    }
    Ok(CertInfo {
        names,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        issuer: cert.issuer().to_string(),
    })
}

/// Picks the certificate for each handshake by SNI.
#[derive(Debug, Default)]
pub struct CertResolver {
    served: RwLock<Arc<Vec<Served>>>,
    /// TLS-ALPN-01 validation certificates by name, live while a challenge is.
    challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

impl CertResolver {
    /// Replaces the certificates served; takes effect from the next handshake.
    pub fn install(&self, served: Vec<Served>) {
        let mut slot = self.served.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = Arc::new(served);
    }

    /// The certificates being served now.
    pub fn current(&self) -> Arc<Vec<Served>> {
        self.served.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub fn set_challenge(&self, name: &str, key: Arc<CertifiedKey>) {
        self.challenges.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(name.to_owned(), key);
    }

    pub fn clear_challenge(&self, name: &str) {
        self.challenges.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(name);
    }

    /// The certificate for `host`: an exact name wins over a wildcard.
    pub fn for_host(&self, host: &str) -> Option<Arc<CertifiedKey>> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let served = self.current();
        let exact = served.iter().find(|s| s.info.names.contains(&host));
        exact.or_else(|| served.iter().find(|s| s.info.covers(&host))).map(|s| s.key.clone())
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let host = hello.server_name()?.to_owned();
        let acme = hello.alpn().is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN));
        if acme {
            let challenges = self.challenges.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            return challenges.get(&host.to_ascii_lowercase()).cloned();
        }
        self.for_host(&host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_one_label_only() {
        assert!(name_matches("*.family.example", "photos.family.example"));
        assert!(!name_matches("*.family.example", "family.example"));
        assert!(!name_matches("*.family.example", "a.b.family.example"));
        assert!(!name_matches("*.family.example", ".family.example"));
        assert!(name_matches("family.example", "family.example"));
        assert!(!name_matches("family.example", "evil.example"));
    }
}
