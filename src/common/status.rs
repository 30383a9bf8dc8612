//! What the owner's admin pages show about parts of porch that run beside
//! the request path: the certificates (made by the edge) and scheduled
//! backups. Plain data, so the part that keeps the state and the gate that
//! shows it need not know each other; `server.rs` hands one to the other.

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

/// The state of scheduled backups at one moment (unix seconds throughout).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct BackupReport {
    /// The backup folder.
    pub to: String,
    /// How often, in words ("1day").
    pub every: String,
    pub keep: u32,
    pub running: bool,
    pub next_at: Option<i64>,
    pub last_ok_at: Option<i64>,
    pub last_snapshot: Option<String>,
    /// What the last good backup copied, in words.
    pub last_summary: Option<String>,
    /// The last failure and when; cleared by a success.
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
}
