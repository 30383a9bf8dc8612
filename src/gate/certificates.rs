//! What the owner's admin page shows about porch's certificates, and the one
//! thing it can ask for (renew now). The edge owns certificates; the gate
//! only sees them through [`CertificateAdmin`], so the layers stay in order.

/// The state of porch's TLS certificates at one moment.
#[derive(Debug, Clone, Default)]
pub struct CertificateReport {
    /// off, self-signed, files or acme.
    pub mode: String,
    /// Where certificates come from (the CA directory, the files, the local CA).
    pub source: String,
    /// One entry per certificate being served.
    pub certificates: Vec<CertificateLine>,
    /// Unix seconds of the next renewal attempt, if one is planned.
    pub next_renewal: Option<i64>,
    /// The last failure and when (unix seconds); cleared by a success.
    pub last_error: Option<(i64, String)>,
    /// Failures in a row.
    pub failures: u32,
    /// The challenge that worked last (ACME).
    pub challenge: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CertificateLine {
    pub names: Vec<String>,
    pub issuer: String,
    pub not_after: i64,
}

/// Implemented by the edge; the gate's admin page calls it.
pub trait CertificateAdmin: Send + Sync + 'static {
    fn report(&self) -> CertificateReport;
    /// Asks for a renewal now (it happens in the background).
    fn renew_now(&self);
}
