//! Bearer secrets (invite tokens, session ids): 256 random bits, shown to
//! their holder once as URL-safe base64, stored only as their SHA-256, and
//! compared in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Length of the encoded form: 32 bytes in unpadded base64.
pub const ENCODED_LEN: usize = 43;

/// A freshly made secret: the text for its holder and the hash for the store.
pub struct Secret {
    text: String,
    hash: [u8; 32],
}

impl Secret {
    /// 256 bits from the operating system's CSPRNG.
    pub fn generate() -> Secret {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let text = URL_SAFE_NO_PAD.encode(bytes);
        let hash = hash_text(&text);
        Secret { text, hash }
    }

    /// The text the holder keeps (in a link or a cookie). Never stored.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn hash(&self) -> &[u8; 32] {
        &self.hash
    }
}

/// Hashes a presented secret for lookup, or `None` when it cannot be one of
/// ours (wrong length or alphabet); such input never reaches the database.
pub fn hash_presented(text: &str) -> Option<[u8; 32]> {
    let well_formed = text.len() == ENCODED_LEN && URL_SAFE_NO_PAD.decode(text).is_ok_and(|bytes| bytes.len() == 32);
    well_formed.then(|| hash_text(text))
}

fn hash_text(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Constant-time equality of a stored hash and a computed one.
pub fn hashes_match(stored: &[u8], computed: &[u8; 32]) -> bool {
    stored.ct_eq(&computed[..]).into()
}

/// A value derived from a session secret for per-form CSRF tokens: only a
/// holder of the session cookie can compute it.
pub fn derive(text: &str, purpose: &str) -> String {
    let mut h = Sha256::new();
    h.update(purpose.as_bytes());
    h.update([0]);
    h.update(text.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

/// Constant-time equality for two strings of possibly different lengths.
pub fn text_matches(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_round_trip_and_differ() {
        let a = Secret::generate();
        let b = Secret::generate();
        assert_ne!(a.text(), b.text());
        assert_eq!(a.text().len(), ENCODED_LEN);
        let presented = hash_presented(a.text()).expect("well formed");
        assert!(hashes_match(a.hash(), &presented));
        assert!(!hashes_match(b.hash(), &presented));
    }

    #[test]
    fn malformed_secrets_are_rejected_before_lookup() {
        assert!(hash_presented("").is_none());
        assert!(hash_presented("short").is_none());
        assert!(hash_presented(&"!".repeat(ENCODED_LEN)).is_none());
        assert!(hash_presented(&"A".repeat(ENCODED_LEN + 1)).is_none());
    }
}
