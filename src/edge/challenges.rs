//! ACME challenge answers that are live right now, shared by the ACME client
//! (which publishes them) and the listeners that answer the CA: HTTP-01
//! tokens on the plain-HTTP port, TLS-ALPN-01 certificates in the SNI
//! resolver, DNS-01 TXT records in porch's own zone.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::certs::CertResolver;
use super::dns::Zone;

#[derive(Debug)]
pub struct Challenges {
    http01: RwLock<HashMap<String, String>>,
    pub resolver: Arc<CertResolver>,
    pub zone: Option<Arc<Zone>>,
}

impl Challenges {
    pub fn new(resolver: Arc<CertResolver>, zone: Option<Arc<Zone>>) -> Challenges {
        Challenges { http01: RwLock::default(), resolver, zone }
    }

    pub fn set_http01(&self, token: &str, key_authorization: &str) {
        self.http01
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(token.to_owned(), key_authorization.to_owned());
    }

    pub fn clear_http01(&self, token: &str) {
        self.http01.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(token);
    }

    /// The key authorization for an HTTP-01 token, if one is live.
    pub fn http01(&self, token: &str) -> Option<String> {
        self.http01.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(token).cloned()
    }
}
