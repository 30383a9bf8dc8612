//! Consistent copies of the database while porch serves: `VACUUM INTO` reads
//! the database in one read transaction (writers carry on; the copy is the
//! state at one instant) and writes a compact, self-contained file. Also the
//! read-only opening of such a copy, for checking it.

use std::path::Path;
use std::str::FromStr;

use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode};

use super::{Result, Store, StoreError};

impl Store {
    /// Writes a consistent copy of the database to `path` (which must not
    /// exist) in rollback-journal mode, so the copy is one file.
    pub async fn snapshot_into(&self, path: &Path) -> Result<()> {
        let target = path.to_str().ok_or_else(|| StoreError::Open {
            path: path.to_path_buf(),
            source: sqlx::Error::Configuration("the snapshot path is not UTF-8".into()),
        })?;
        sqlx::query("VACUUM INTO ?").bind(target).execute(self.pool()).await?;
        let mut copy = connect(path, false).await?;
        sqlx::query("PRAGMA journal_mode = DELETE").execute(&mut copy).await?;
        copy.close().await?;
        Ok(())
    }
}

/// A database file opened on its own (a snapshot or a restored copy), for
/// reading what it holds.
pub struct SnapshotDb {
    conn: SqliteConnection,
}

async fn connect(path: &Path, read_only: bool) -> Result<SqliteConnection> {
    let options = SqliteConnectOptions::from_str("sqlite://")
        .map_err(|source| StoreError::Open { path: path.to_path_buf(), source })?
        .filename(path)
        .read_only(read_only)
        .journal_mode(SqliteJournalMode::Delete);
    SqliteConnection::connect_with(&options)
        .await
        .map_err(|source| StoreError::Open { path: path.to_path_buf(), source })
}

impl SnapshotDb {
    pub async fn open(path: &Path) -> Result<SnapshotDb> {
        if !path.is_file() {
            return Err(StoreError::Open {
                path: path.to_path_buf(),
                source: sqlx::Error::Configuration("no such database file".into()),
            });
        }
        Ok(SnapshotDb { conn: connect(path, true).await? })
    }

    pub async fn integrity_check(&mut self) -> Result<String> {
        let rows: Vec<(String,)> = sqlx::query_as("PRAGMA integrity_check").fetch_all(&mut self.conn).await?;
        Ok(rows.into_iter().map(|(line,)| line).collect::<Vec<_>>().join("; "))
    }

    /// Every blob hash the copy refers to.
    pub async fn blob_hashes(&mut self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT DISTINCT sha256 FROM app_blobs ORDER BY sha256")
            .fetch_all(&mut self.conn)
            .await?)
    }

    pub async fn schema_version(&mut self) -> Result<i64> {
        let version: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut self.conn)
            .await?;
        Ok(version.unwrap_or(0))
    }

    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}
