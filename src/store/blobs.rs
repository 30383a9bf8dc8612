//! Per-app blob rows: a name in an app's namespace pointing at a
//! content-addressed file, with quota accounting. The file is written and
//! renamed into place before its row is committed, so a row never points at
//! a missing or half-written file.

use serde::Serialize;
use sqlx::FromRow;

use super::kv::{OverQuota, in_prefix, set_usage};
use super::{Result, Store};
use crate::common::limits::ROW_COST;

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct BlobRow {
    pub name: String,
    pub sha256: String,
    pub size: i64,
    pub content_type: String,
    pub created_at: i64,
}

/// A finished blob file to record under a name.
pub struct NewBlob<'a> {
    pub app: &'a str,
    pub name: &'a str,
    pub sha256: &'a str,
    pub size: u64,
    pub content_type: &'a str,
    pub at: i64,
}

/// What a blob row is charged in SQL: its content, name and content type
/// bytes plus [`ROW_COST`] (review finding L3: a zero-byte blob with a long
/// name was free).
const CHARGE: &str = "(size + length(CAST(name AS BLOB)) + length(CAST(content_type AS BLOB)) + 128)";

/// The same charge, for a blob about to be recorded.
fn blob_charge(blob: &NewBlob<'_>) -> u64 {
    blob.size
        .saturating_add(blob.name.len() as u64)
        .saturating_add(blob.content_type.len() as u64)
        .saturating_add(ROW_COST)
}

impl Store {
    pub async fn blob(&self, app: &str, name: &str) -> Result<Option<BlobRow>> {
        Ok(sqlx::query_as(
            "SELECT name, sha256, size, content_type, created_at FROM app_blobs WHERE app_id = ? AND name = ?",
        )
        .bind(app)
        .bind(name)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn blob_usage(&self, app: &str) -> Result<u64> {
        let used: Option<i64> = sqlx::query_scalar("SELECT blob_bytes FROM app_usage WHERE app_id = ?")
            .bind(app)
            .fetch_optional(self.pool())
            .await?;
        Ok(used.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
    }

    /// Records a finished blob (replacing any blob of that name) if the app's
    /// quota allows. Returns the replaced blob's hash, if any.
    pub async fn put_blob(&self, blob: &NewBlob<'_>, quota: u64) -> Result<Result<Option<String>, OverQuota>> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let put = put_blob_in(&mut tx, blob, quota, 0).await?;
        if put.is_ok() {
            tx.commit().await?;
        }
        Ok(put)
    }

    /// Deletes a blob's row; returns its hash (the file may now be unused).
    pub async fn delete_blob(&self, app: &str, name: &str) -> Result<Option<String>> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let old: Option<(String, i64)> =
            sqlx::query_as(&format!("DELETE FROM app_blobs WHERE app_id = ? AND name = ? RETURNING sha256, {CHARGE}"))
                .bind(app)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some((_, size)) = &old {
            sqlx::query("UPDATE app_usage SET blob_bytes = max(0, blob_bytes - ?) WHERE app_id = ?")
                .bind(size)
                .bind(app)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(old.map(|(sha, _)| sha))
    }

    pub async fn list_blobs(&self, app: &str, prefix: &str, after: Option<&str>, limit: u32) -> Result<Vec<BlobRow>> {
        let sql = format!(
            "SELECT name, sha256, size, content_type, created_at FROM app_blobs \
             WHERE app_id = ?1 AND {} AND name > ?3 ORDER BY name LIMIT ?4",
            in_prefix("name", 2)
        );
        Ok(sqlx::query_as(&sql)
            .bind(app)
            .bind(prefix)
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(self.pool())
            .await?)
    }

    /// Deletes the rows of every blob whose name has `prefix`; returns their
    /// hashes (the files may now be unused).
    pub async fn delete_blob_prefix(&self, app: &str, prefix: &str) -> Result<Vec<String>> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        // Counted in SQL; only the distinct contents come back (their files
        // may now be unused), not a row per name.
        let matching = in_prefix("name", 2);
        let sum = format!("SELECT COALESCE(SUM({CHARGE}), 0) FROM app_blobs WHERE app_id = ?1 AND {matching}");
        let freed: i64 = sqlx::query_scalar(&sum).bind(app).bind(prefix).fetch_one(&mut *tx).await?;
        let hashes = format!("SELECT DISTINCT sha256 FROM app_blobs WHERE app_id = ?1 AND {matching}");
        let gone: Vec<String> = sqlx::query_scalar(&hashes).bind(app).bind(prefix).fetch_all(&mut *tx).await?;
        let delete = format!("DELETE FROM app_blobs WHERE app_id = ?1 AND {matching}");
        sqlx::query(&delete).bind(app).bind(prefix).execute(&mut *tx).await?;
        sqlx::query("UPDATE app_usage SET blob_bytes = max(0, blob_bytes - ?) WHERE app_id = ?")
            .bind(freed)
            .bind(app)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(gone)
    }

    /// Whether any app still has a blob with this content.
    pub async fn blob_hash_in_use(&self, sha256: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM app_blobs WHERE sha256 = ?")
            .bind(sha256)
            .fetch_one(self.pool())
            .await?;
        Ok(n > 0)
    }

    /// Every blob hash in use, for collecting unreferenced files.
    pub async fn blob_hashes(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT DISTINCT sha256 FROM app_blobs").fetch_all(self.pool()).await?)
    }
}

/// [`Store::put_blob`] inside `tx`, with `released` bytes of the app's usage
/// given back first (a claimed upload's reservation). Nothing is written
/// when over quota; the caller commits.
pub(super) async fn put_blob_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    blob: &NewBlob<'_>,
    quota: u64,
    released: u64,
) -> Result<Result<Option<String>, OverQuota>> {
    let old: Option<(String, i64)> =
        sqlx::query_as(&format!("SELECT sha256, {CHARGE} FROM app_blobs WHERE app_id = ? AND name = ?"))
            .bind(blob.app)
            .bind(blob.name)
            .fetch_optional(&mut **tx)
            .await?;
    let used: Option<i64> = sqlx::query_scalar("SELECT blob_bytes FROM app_usage WHERE app_id = ?")
        .bind(blob.app)
        .fetch_optional(&mut **tx)
        .await?;
    let used = used.map_or(0, |n| u64::try_from(n).unwrap_or(0)).saturating_sub(released);
    let old_charge = old.as_ref().map_or(0, |(_, s)| u64::try_from(*s).unwrap_or(0));
    let charge = blob_charge(blob);
    let after = used.saturating_sub(old_charge).saturating_add(charge);
    if after > quota && charge > old_charge {
        return Ok(Err(OverQuota { used, wanted: charge, quota }));
    }
    sqlx::query(
        "INSERT INTO app_blobs (app_id, name, sha256, size, content_type, created_at) VALUES (?, ?, ?, ?, ?, ?) \
         ON CONFLICT(app_id, name) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, \
         content_type = excluded.content_type, created_at = excluded.created_at",
    )
    .bind(blob.app)
    .bind(blob.name)
    .bind(blob.sha256)
    .bind(i64::try_from(blob.size).unwrap_or(i64::MAX))
    .bind(blob.content_type)
    .bind(blob.at)
    .execute(&mut **tx)
    .await?;
    set_usage(tx, blob.app, "blob_bytes", after).await?;
    Ok(Ok(old.map(|(sha, _)| sha).filter(|sha| sha != blob.sha256)))
}
