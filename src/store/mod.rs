//! The store layer: one SQLite database (WAL, foreign keys on) opened through
//! sqlx, migrations applied at open, and typed queries grouped by table.
//!
//! Nothing above this layer writes SQL. Every function here takes plain values
//! and returns row structs; policy (who may do what) lives in the gate.

pub mod activity;
mod apps;
pub mod audit;
pub mod blobfiles;
mod blobs;
mod devices;
pub mod files;
mod invites;
mod kv;
mod lock;
pub mod mail;
pub mod media_jobs;
mod pairings;
mod passkeys;
mod people;
mod recovery;
mod sessions;
mod settings;
mod snapshot;
pub mod uploads;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use activity::{FeedItem, NewActivity};
pub use apps::{AppRow, AppVisitor, Keep, PreviousApp};
pub use audit::{AuditEvent, NewAuditEvent, escape_controls};
pub use blobs::{BlobRow, NewBlob};
pub use devices::DeviceRow;
pub use invites::{InviteRow, InviteStatus, NewInvite, Redemption};
pub use kv::OverQuota;
pub use lock::{DataLock, LOCK_FILE};
pub use mail::{DigestClock, MailPrefs};
pub use media_jobs::MediaJob;
pub use pairings::PairingRow;
pub use passkeys::{NewCredential, NewPasskey, PasskeyRow, Removal, StoredPasskey};
pub use people::{PersonRow, Role};
pub use recovery::RecoveryRow;
pub use sessions::SessionRow;
pub use snapshot::SnapshotDb;
pub use uploads::{NewUpload, UploadFiles, UploadRow};

/// What can go wrong in the store, said so an owner knows what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error(
        "cannot create the data folder {path}: {source}. Check that the parent folder exists and is writable, or pass another --data folder"
    )]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("cannot open the database {path}: {source}")]
    Open { path: PathBuf, source: sqlx::Error },
    #[error(
        "the database in {path} could not be brought up to date ({source}); porch did not start so nothing was changed. Restore a backup or report this"
    )]
    Migrate { path: PathBuf, source: sqlx::migrate::MigrateError },
    #[error(
        "the database in {path} was last used by a newer porch (schema {found}; this porch knows up to {known}). porch did not start so nothing was changed. Run the newer porch again, or restore a backup made by this version"
    )]
    Newer { path: PathBuf, found: i64, known: i64 },
    #[error(
        "another porch is already serving the data folder {path}. Stop it first (systemctl stop porch), or pass another --data folder"
    )]
    InUse { path: PathBuf },
    #[error("cannot lock the data folder {path}: {source}")]
    Lock { path: PathBuf, source: std::io::Error },
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("blob files: {source}")]
    Blob { source: std::io::Error },
}

/// The migrations built into this binary: forward-only, each applied in its
/// own transaction (none opts out), so a failed one leaves the previous
/// schema intact.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The newest schema version this binary knows.
pub fn known_schema() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The handle every layer above uses: a small, cheap-to-clone pool.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

/// File name of the database inside the data folder.
pub const DB_FILE: &str = "porch.sqlite";

/// Makes the data folder owner-only (0700) if it was left open to others
/// by an older porch or by hand: it holds the password hashes, the photos
/// and the audit log (review finding L10). A folder porch cannot change
/// (not its own) is left as it is, with a warning.
fn owner_only(dir: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let Ok(meta) = std::fs::metadata(dir) else { return };
    if meta.permissions().mode() & 0o077 != 0
        && let Err(e) = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    {
        tracing::warn!(error = %e, folder = %dir.display(), "the data folder is readable by other users; make it 0700");
    }
}

impl Store {
    /// Opens (creating if needed) the data folder and its database, and applies
    /// any pending migrations. Safe to call from several processes at once:
    /// `porch serve` and the CLI share one data folder.
    pub async fn open(data_dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(data_dir)
            .map_err(|source| StoreError::DataDir { path: data_dir.to_path_buf(), source })?;
        owner_only(data_dir);
        let path = data_dir.join(DB_FILE);
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(|source| StoreError::Open { path: path.clone(), source })?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(16)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open { path: path.clone(), source })?;
        let store = Store { pool };
        let found = store.schema_version().await?;
        if found > known_schema() {
            store.close().await;
            return Err(StoreError::Newer { path, found, known: known_schema() });
        }
        MIGRATOR.run(&store.pool).await.map_err(|source| StoreError::Migrate { path: path.clone(), source })?;
        Ok(store)
    }

    /// The newest migration applied to this database (0 for a new one).
    pub async fn schema_version(&self) -> Result<i64> {
        let table: Option<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'")
                .fetch_optional(&self.pool)
                .await?;
        if table.is_none() {
            return Ok(0);
        }
        let version: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success").fetch_one(&self.pool).await?;
        Ok(version.unwrap_or(0))
    }

    /// Waits for queries in flight and closes every connection, so the WAL is
    /// checkpointed and the files are left clean.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// SQLite's own consistency check: `ok`, or what is wrong.
    pub async fn integrity_check(&self) -> Result<String> {
        let rows: Vec<(String,)> = sqlx::query_as("PRAGMA integrity_check").fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|(line,)| line).collect::<Vec<_>>().join("; "))
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A released migration is never edited (sqlx's checksum, SHA-384 of the
    /// file) (a database that applied the old
    /// text would refuse the new binary); a change is a new migration.
    const RELEASED: &[(i64, &str)] = &[
        (1, "9a38a769150b1777e64b7be7a8f12e0ab1a2bcbbdfa7d2ed638550faf14c6633ac928b50204ea97177914145ff0e17f0"),
        (2, "f877cfb72c07a68c57d37bb374aa19b228992c5284cad78eb80297830b8ce14d58e5f01772d4f7d2faf658159298bc5d"),
        (3, "302dce036cb278fe02bc0f3a516d3ea608615b75db775939db0073adba28edd3b5e9e687091289cb442397e085b245c1"),
    ];

    #[test]
    fn migrations_only_move_forward() {
        let versions: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
        let expected: Vec<i64> = (1..=versions.len() as i64).collect();
        assert_eq!(versions, expected, "migrations are numbered 1, 2, 3... with no gaps");
        for m in MIGRATOR.iter() {
            assert!(
                !m.migration_type.is_down_migration(),
                "{} is a down migration; porch only moves forward",
                m.version
            );
            assert!(!m.no_tx, "migration {} opts out of its transaction", m.version);
        }
        for (version, sum) in RELEASED {
            let m = MIGRATOR.iter().find(|m| m.version == *version).expect("released migration present");
            assert_eq!(hex::encode(&m.checksum), *sum, "migration {version} was edited");
        }
    }

    #[tokio::test]
    async fn a_database_from_a_newer_porch_is_refused_untouched() {
        let dir = tempfile::TempDir::new().expect("tmp");
        let store = Store::open(dir.path()).await.expect("open");
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'from the future', 1, x'00', 0)",
        )
        .execute(store.pool())
        .await
        .expect("insert");
        store.close().await;
        let Err(e) = Store::open(dir.path()).await else { panic!("a newer database must be refused") };
        assert!(matches!(e, StoreError::Newer { found: 9999, .. }), "{e}");
        assert!(e.to_string().contains("newer porch"), "{e}");
    }
}
