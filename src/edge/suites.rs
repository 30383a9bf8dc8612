//! Which cipher suite porch asks for, per handshake. porch holds two rustls
//! server configurations that differ only in their suite order, and picks
//! one from each ClientHello (the rule Go's crypto/tls, and so Caddy, uses):
//!
//! - **AES-GCM first**, 128-bit before 256-bit, when this machine has AES
//!   instructions and the client's first known choice is AES-GCM. Browsers
//!   already ask for AES-128 first; OpenSSL clients (curl, scripts) ask for
//!   AES-256 with SHA-384, whose handshake hashing costs about a fifth of a
//!   handshake's CPU on CPUs where aws-lc has no fast SHA-512, and whose
//!   bulk encryption runs 14 AES rounds instead of 10, for no safety a
//!   family's photos need.
//! - **ChaCha20-Poly1305 first** otherwise: the client lists it first
//!   (phones without AES instructions do), or this machine has no AES
//!   instructions (a Raspberry Pi 4), where software AES is slow and leaks
//!   timing.
//!
//! Both configurations share the certificate resolver, the ticket key and
//! the session cache, so a session resumes whichever one served it.

use std::sync::Arc;

use rustls::server::ClientHello;
use rustls::{CipherSuite, ServerConfig, SupportedCipherSuite};

/// The AEAD behind a TLS 1.3 or TLS 1.2 (ECDHE) suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Aead {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20Poly1305,
}

fn aead_of(suite: CipherSuite) -> Option<Aead> {
    use CipherSuite as S;
    match suite {
        S::TLS13_AES_128_GCM_SHA256
        | S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => Some(Aead::Aes128Gcm),
        S::TLS13_AES_256_GCM_SHA384
        | S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        | S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => Some(Aead::Aes256Gcm),
        S::TLS13_CHACHA20_POLY1305_SHA256
        | S::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        | S::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => Some(Aead::ChaCha20Poly1305),
        _ => None,
    }
}

/// Whether this machine's CPU has AES and carry-less multiply instructions,
/// the two that make AES-GCM fast and constant-time.
pub fn aes_hardware() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes") && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        // std's "aes" is FEAT_AES and FEAT_PMULL together.
        std::arch::is_aarch64_feature_detected!("aes")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

/// Whether the first suite the client lists that porch knows is
/// ChaCha20-Poly1305 (GREASE values and suites porch lacks are skipped).
fn client_prefers_chacha(offered: &[CipherSuite]) -> bool {
    offered.iter().find_map(|s| aead_of(*s)) == Some(Aead::ChaCha20Poly1305)
}

/// The provider's suites in porch's order: TLS 1.3 before TLS 1.2, and
/// within each the AEADs in `order` (a stable sort keeps ECDSA before RSA).
fn ordered(suites: &[SupportedCipherSuite], order: [Aead; 3]) -> Vec<SupportedCipherSuite> {
    let mut suites = suites.to_vec();
    suites.sort_by_key(|s| {
        let tls12 = matches!(s, SupportedCipherSuite::Tls12(_));
        let rank = aead_of(s.suite()).and_then(|a| order.iter().position(|o| *o == a)).unwrap_or(order.len());
        (tls12, rank)
    });
    suites
}

/// porch's TLS server configurations, one picked per ClientHello.
pub struct ServerTls {
    aes_first: Arc<ServerConfig>,
    chacha_first: Arc<ServerConfig>,
    aes_hardware: bool,
}

impl ServerTls {
    /// `build` makes a configuration around a crypto provider (versions,
    /// resolver, ALPN, ticketer); it is called once per suite order.
    pub fn new<E>(
        mut build: impl FnMut(Arc<rustls::crypto::CryptoProvider>) -> Result<ServerConfig, E>,
    ) -> Result<Self, E> {
        let base = rustls::crypto::aws_lc_rs::default_provider();
        let with_order = |order| {
            let mut provider = base.clone();
            provider.cipher_suites = ordered(&base.cipher_suites, order);
            Arc::new(provider)
        };
        let mut aes_first = build(with_order([Aead::Aes128Gcm, Aead::Aes256Gcm, Aead::ChaCha20Poly1305]))?;
        let mut chacha_first = build(with_order([Aead::ChaCha20Poly1305, Aead::Aes128Gcm, Aead::Aes256Gcm]))?;
        aes_first.ignore_client_order = true;
        chacha_first.ignore_client_order = true;
        // One ticket key and one session cache: a session resumes in either.
        chacha_first.ticketer = aes_first.ticketer.clone();
        chacha_first.session_storage = aes_first.session_storage.clone();
        Ok(ServerTls {
            aes_first: Arc::new(aes_first),
            chacha_first: Arc::new(chacha_first),
            aes_hardware: aes_hardware(),
        })
    }

    /// The configuration for the handshake that sent `hello`.
    pub fn for_hello(&self, hello: &ClientHello<'_>) -> Arc<ServerConfig> {
        self.for_suites(hello.cipher_suites())
    }

    fn for_suites(&self, offered: &[CipherSuite]) -> Arc<ServerConfig> {
        if self.aes_hardware && !client_prefers_chacha(offered) {
            self.aes_first.clone()
        } else {
            self.chacha_first.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CipherSuite as S;

    fn build(provider: Arc<rustls::crypto::CryptoProvider>) -> Result<ServerConfig, rustls::Error> {
        Ok(ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(rustls::server::ResolvesServerCertUsingSni::new())))
    }

    fn names(config: &ServerConfig) -> Vec<CipherSuite> {
        config.crypto_provider().cipher_suites.iter().map(|s| s.suite()).collect()
    }

    #[test]
    fn aes_128_leads_then_aes_256_then_chacha_per_version() {
        let tls = ServerTls::new(build).expect("configs");
        assert_eq!(
            names(&tls.aes_first),
            [
                S::TLS13_AES_128_GCM_SHA256,
                S::TLS13_AES_256_GCM_SHA384,
                S::TLS13_CHACHA20_POLY1305_SHA256,
                S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                S::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                S::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            ]
        );
        assert_eq!(
            names(&tls.chacha_first)[..3],
            [S::TLS13_CHACHA20_POLY1305_SHA256, S::TLS13_AES_128_GCM_SHA256, S::TLS13_AES_256_GCM_SHA384]
        );
        assert!(tls.aes_first.ignore_client_order && tls.chacha_first.ignore_client_order);
        assert!(Arc::ptr_eq(&tls.aes_first.session_storage, &tls.chacha_first.session_storage));
    }

    #[test]
    fn the_clients_first_known_suite_decides() {
        let mut tls = ServerTls::new(build).expect("configs");
        tls.aes_hardware = true;
        let grease = CipherSuite::Unknown(0x0a0a);
        let openssl =
            [grease, S::TLS13_AES_256_GCM_SHA384, S::TLS13_CHACHA20_POLY1305_SHA256, S::TLS13_AES_128_GCM_SHA256];
        let no_aes_phone = [grease, S::TLS13_CHACHA20_POLY1305_SHA256, S::TLS13_AES_128_GCM_SHA256];
        let tls12_only = [S::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256];
        assert!(Arc::ptr_eq(&tls.for_suites(&openssl), &tls.aes_first));
        assert!(Arc::ptr_eq(&tls.for_suites(&[]), &tls.aes_first));
        assert!(Arc::ptr_eq(&tls.for_suites(&no_aes_phone), &tls.chacha_first));
        assert!(Arc::ptr_eq(&tls.for_suites(&tls12_only), &tls.chacha_first));
        // Without AES instructions here, ChaCha20 leads for everyone.
        tls.aes_hardware = false;
        assert!(Arc::ptr_eq(&tls.for_suites(&openssl), &tls.chacha_first));
    }
}
