//! The store layer: one SQLite database (WAL, foreign keys on) opened through
//! sqlx, migrations applied at open, and typed queries grouped by table.
//!
//! Nothing above this layer writes SQL. Every function here takes plain values
//! and returns row structs; policy (who may do what) lives in the gate.

mod apps;
mod audit;
pub mod blobfiles;
mod blobs;
mod devices;
pub mod files;
mod invites;
mod kv;
mod people;
mod sessions;
mod settings;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use apps::{AppRow, AppVisitor};
pub use audit::{AuditEvent, NewAuditEvent};
pub use blobs::{BlobRow, NewBlob};
pub use invites::{InviteRow, InviteStatus, NewInvite, Redemption};
pub use kv::OverQuota;
pub use people::{PersonRow, Role};
pub use sessions::SessionRow;

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
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The handle every layer above uses: a small, cheap-to-clone pool.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

/// File name of the database inside the data folder.
pub const DB_FILE: &str = "porch.sqlite";

impl Store {
    /// Opens (creating if needed) the data folder and its database, and applies
    /// any pending migrations. Safe to call from several processes at once:
    /// `porch serve` and the CLI share one data folder.
    pub async fn open(data_dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(data_dir)
            .map_err(|source| StoreError::DataDir { path: data_dir.to_path_buf(), source })?;
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
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate { path: path.clone(), source })?;
        Ok(Store { pool })
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

/// Current time as Unix seconds; the one clock the store and gate use.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
