//! `tls = "self-signed"`: a certificate authority made on this box with
//! rcgen, kept in `<data>/tls/local-ca/`, that signs porch's own certificate
//! for `<domain>` and `*.<domain>`. A family trusts the CA once on each device
//! (`porch tls export-ca` writes it) and never sees a warning on the LAN.
//!
//! The CA lives ten years. The server certificate lives 90 days and is made
//! again at start-up, or by the renewal loop, once two thirds have passed.
//!
//! The CA carries a critical name constraint: it can vouch for `<domain>`
//! and names under it, nothing else, so a device that trusts it cannot be
//! fooled about any other site even if the key leaks (review finding M6).
//! Its key stays out of backups (see `backup::is_data_file`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, NameConstraints,
};

use super::TlsError;
use super::certs::{self, Served};
use crate::store::files::write_atomic;

const CA_LIFETIME: Duration = Duration::from_secs(10 * 365 * 86400);
const LEAF_LIFETIME: Duration = Duration::from_secs(90 * 86400);

/// The local CA's files.
#[derive(Debug, Clone)]
pub struct LocalCa {
    dir: PathBuf,
}

impl LocalCa {
    pub fn new(data_dir: &Path) -> LocalCa {
        LocalCa { dir: data_dir.join("tls").join("local-ca") }
    }

    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    fn key_path(&self) -> PathBuf {
        self.dir.join("ca.key")
    }

    /// The CA certificate (PEM), made first if there is none yet.
    pub fn ensure(&self, domain: &str) -> Result<String, TlsError> {
        if let (Ok(cert), true) = (std::fs::read_to_string(self.cert_path()), self.key_path().is_file()) {
            if !constrained_to(&cert, domain) {
                tracing::warn!(
                    path = %self.cert_path().display(),
                    "the local CA was made without a name constraint for {domain} (by an older porch, or for another domain); move tls/local-ca aside and restart to make a constrained one, then `porch tls export-ca` for the family's devices"
                );
            }
            return Ok(cert);
        }
        let key = KeyPair::generate().map_err(rcgen_error)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("porch local CA for {domain}"));
        dn.push(DnType::OrganizationName, "porch");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.name_constraints = Some(NameConstraints {
            permitted_subtrees: vec![GeneralSubtree::DnsName(domain.to_owned())],
            excluded_subtrees: Vec::new(),
        });
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + CA_LIFETIME;
        let cert = params.self_signed(&key).map_err(rcgen_error)?;
        write_atomic(&self.key_path(), key.serialize_pem().as_bytes(), true).map_err(|e| self.io(e))?;
        write_atomic(&self.cert_path(), cert.pem().as_bytes(), false).map_err(|e| self.io(e))?;
        tracing::info!(path = %self.cert_path().display(), "made a local certificate authority");
        Ok(cert.pem())
    }

    /// Issues a fresh server certificate for `names`, signed by the CA.
    pub fn issue(&self, domain: &str, names: &[String]) -> Result<Served, TlsError> {
        let ca_pem = self.ensure(domain)?;
        let ca_key_pem = std::fs::read_to_string(self.key_path()).map_err(|e| self.io(e))?;
        let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(rcgen_error)?;
        let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).map_err(rcgen_error)?;
        let key = KeyPair::generate().map_err(rcgen_error)?;
        let mut params = CertificateParams::new(names.to_vec()).map_err(rcgen_error)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, domain);
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + LEAF_LIFETIME;
        let cert = params.signed_by(&key, &issuer).map_err(rcgen_error)?;
        let chain = format!("{}{}", cert.pem(), ca_pem);
        certs::parse_pem(chain.as_bytes(), key.serialize_pem().as_bytes())
    }

    fn io(&self, source: std::io::Error) -> TlsError {
        TlsError::Files { path: self.dir.clone(), source }
    }
}

/// Whether a CA certificate (PEM) is limited to `domain` by a critical
/// name constraint.
fn constrained_to(pem: &str, domain: &str) -> bool {
    let Ok((_, parsed)) = x509_parser::pem::parse_x509_pem(pem.as_bytes()) else { return false };
    let Ok(cert) = parsed.parse_x509() else { return false };
    let Ok(Some(ext)) = cert.name_constraints() else { return false };
    let permitted = ext.value.permitted_subtrees.as_deref().unwrap_or_default();
    ext.critical
        && !permitted.is_empty()
        && permitted.iter().all(
            |s| matches!(s.base, x509_parser::extensions::GeneralName::DNSName(n) if n.eq_ignore_ascii_case(domain)),
        )
}

fn rcgen_error(e: rcgen::Error) -> TlsError {
    TlsError::Generate(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_is_made_once_and_signs_wildcards() {
        let dir = tempfile::tempdir().expect("temp");
        let ca = LocalCa::new(dir.path());
        let first = ca.ensure("family.lan").expect("ca");
        assert_eq!(ca.ensure("family.lan").expect("again"), first, "the CA is kept, not remade");
        let names = vec!["family.lan".to_owned(), "*.family.lan".to_owned()];
        let served = ca.issue("family.lan", &names).expect("leaf");
        assert!(served.info.covers("photos.family.lan") && served.info.covers("family.lan"));
        assert!(served.info.issuer.contains("porch local CA"));
        assert!(served.info.not_after - served.info.not_before > 89 * 86400);
    }

    #[test]
    fn m6_the_ca_vouches_for_its_domain_only() {
        use rustls::client::danger::ServerCertVerifier as _;
        let dir = tempfile::tempdir().expect("temp");
        let ca = LocalCa::new(dir.path());
        let pem = ca.ensure("family.lan").expect("ca");
        assert!(constrained_to(&pem, "family.lan"), "a critical constraint naming family.lan only");
        assert!(!constrained_to(&pem, "bank.example"));
        // A leaf for another name, signed with the CA's own key, is refused
        // by a real verifier (webpki, as browsers do).
        let key = KeyPair::from_pem(&std::fs::read_to_string(ca.key_path()).expect("key")).expect("key");
        let issuer = Issuer::from_ca_cert_pem(&pem, key).expect("issuer");
        let leaf_key = KeyPair::generate().expect("leaf key");
        let mut params = CertificateParams::new(vec!["bank.example".to_owned()]).expect("params");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let forged = params.signed_by(&leaf_key, &issuer).expect("forged leaf");
        let root = rustls_pki_types::CertificateDer::from(
            x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("pem").1.contents,
        );
        let mut roots = rustls::RootCertStore::empty();
        roots.add(root).expect("root");
        crate::edge::install_crypto();
        let verifier = rustls::client::WebPkiServerVerifier::builder(std::sync::Arc::new(roots)).build().expect("v");
        let now = rustls_pki_types::UnixTime::now();
        let bank = rustls_pki_types::ServerName::try_from("bank.example").expect("name");
        let verdict = verifier.verify_server_cert(forged.der(), &[], &bank, &[], now);
        assert!(verdict.is_err(), "the CA must not vouch for bank.example: {verdict:?}");
        let names = vec!["family.lan".to_owned(), "*.family.lan".to_owned()];
        let own = ca.issue("family.lan", &names).expect("leaf");
        let photos = rustls_pki_types::ServerName::try_from("photos.family.lan").expect("name");
        let end = own.key.cert.first().expect("leaf");
        assert!(verifier.verify_server_cert(end, &[], &photos, &[], now).is_ok(), "its own names still verify");
    }
}
