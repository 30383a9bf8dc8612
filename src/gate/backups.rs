//! What the owner's admin page may ask of scheduled backups: a report, and
//! a backup now. `server.rs` implements [`BackupAdmin`] on top of the
//! backup scheduler; the gate sees backups only through it.

pub use crate::common::status::BackupReport;

/// Implemented for the backup scheduler in `server.rs`; the gate's admin page
/// calls it.
pub trait BackupAdmin: Send + Sync + 'static {
    fn report(&self) -> BackupReport;
    /// Asks for a backup now (it runs in the background).
    fn back_up_now(&self);
}
