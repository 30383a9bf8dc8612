//! What the owner's admin page may ask of porch's certificates: a report,
//! and a renewal now. The edge owns certificates; `server.rs` implements
//! [`CertificateAdmin`] on top of it, so neither names the other.

pub use crate::common::status::{CertificateLine, CertificateReport};

/// Implemented for the edge's certificates in `server.rs`; the gate's admin
/// page calls it.
pub trait CertificateAdmin: Send + Sync + 'static {
    fn report(&self) -> CertificateReport;
    /// Asks for a renewal now (it happens in the background).
    fn renew_now(&self);
}
