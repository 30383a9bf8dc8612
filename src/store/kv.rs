//! Per-app key/value rows with quota accounting. Every write runs in an
//! IMMEDIATE transaction so concurrent writers of one app cannot together
//! overrun its quota.

use super::{Result, Store};

/// A write that would take an app past its quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverQuota {
    pub used: u64,
    pub wanted: u64,
    pub quota: u64,
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Store {
    pub async fn kv_get(&self, app: &str, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar("SELECT value FROM app_kv WHERE app_id = ? AND key = ?")
            .bind(app)
            .bind(key)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Sets a key; the app's kv usage (key plus value bytes) may not exceed
    /// `quota`.
    pub async fn kv_set(&self, app: &str, key: &str, value: &[u8], quota: u64) -> Result<Result<(), OverQuota>> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let old: Option<i64> = sqlx::query_scalar("SELECT length(value) FROM app_kv WHERE app_id = ? AND key = ?")
            .bind(app)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
        let old = old.map_or(0, |len| to_u64(len) + key.len() as u64);
        let used: Option<i64> = sqlx::query_scalar("SELECT kv_bytes FROM app_usage WHERE app_id = ?")
            .bind(app)
            .fetch_optional(&mut *tx)
            .await?;
        let used = used.map_or(0, to_u64);
        let new = (key.len() + value.len()) as u64;
        let after = used.saturating_sub(old) + new;
        if after > quota && new > old {
            return Ok(Err(OverQuota { used, wanted: new, quota }));
        }
        sqlx::query("INSERT INTO app_kv (app_id, key, value) VALUES (?, ?, ?) ON CONFLICT(app_id, key) DO UPDATE SET value = excluded.value")
            .bind(app)
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await?;
        set_usage(&mut tx, app, "kv_bytes", after).await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    pub async fn kv_delete(&self, app: &str, key: &str) -> Result<bool> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let old: Option<i64> =
            sqlx::query_scalar("DELETE FROM app_kv WHERE app_id = ? AND key = ? RETURNING length(value)")
                .bind(app)
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(len) = old {
            sqlx::query("UPDATE app_usage SET kv_bytes = max(0, kv_bytes - ?) WHERE app_id = ?")
                .bind(len + key.len() as i64)
                .bind(app)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(old.is_some())
    }

    /// Keys with `prefix`, ordered, after `after`, at most `limit`.
    pub async fn kv_list(&self, app: &str, prefix: &str, after: Option<&str>, limit: u32) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT key FROM app_kv WHERE app_id = ? AND substr(key, 1, length(?)) = ? AND key > ? ORDER BY key LIMIT ?",
        )
        .bind(app)
        .bind(prefix)
        .bind(prefix)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }
}

pub(crate) async fn set_usage(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    app: &str,
    column: &str,
    value: u64,
) -> Result<()> {
    let sql = format!(
        "INSERT INTO app_usage (app_id, {column}) VALUES (?, ?) ON CONFLICT(app_id) DO UPDATE SET {column} = excluded.{column}"
    );
    sqlx::query(&sql).bind(app).bind(i64::try_from(value).unwrap_or(i64::MAX)).execute(&mut **tx).await?;
    Ok(())
}
