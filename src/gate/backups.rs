//! What the owner's admin page shows about scheduled backups, and the one
//! thing it can ask for (back up now). The backup scheduler implements
//! [`BackupAdmin`]; the gate sees backups only through it.

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

/// Implemented by the backup scheduler; the gate's admin page calls it.
pub trait BackupAdmin: Send + Sync + 'static {
    fn report(&self) -> BackupReport;
    /// Asks for a backup now (it runs in the background).
    fn back_up_now(&self);
}
