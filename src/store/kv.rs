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
        let sql = format!(
            "SELECT key FROM app_kv WHERE app_id = ? AND {} AND key > ? ORDER BY key LIMIT ?",
            in_prefix("key")
        );
        Ok(bind_prefix(sqlx::query_scalar(&sql).bind(app), prefix)
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(self.pool())
            .await?)
    }

    /// Keys with `prefix` in descending order, before `before`, at most `limit`.
    pub async fn kv_list_reverse(
        &self,
        app: &str,
        prefix: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>> {
        let sql = format!(
            "SELECT key FROM app_kv WHERE app_id = ? AND {} AND (? IS NULL OR key < ?) ORDER BY key DESC LIMIT ?",
            in_prefix("key")
        );
        Ok(bind_prefix(sqlx::query_scalar(&sql).bind(app), prefix)
            .bind(before)
            .bind(before)
            .bind(limit)
            .fetch_all(self.pool())
            .await?)
    }

    /// Sets `key` to `value` if it now holds `expected` (absent for `None`),
    /// within quota. `Ok(false)` if it held something else.
    pub async fn kv_compare_and_swap(
        &self,
        app: &str,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
        quota: u64,
    ) -> Result<Result<bool, OverQuota>> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let now: Option<Vec<u8>> = sqlx::query_scalar("SELECT value FROM app_kv WHERE app_id = ? AND key = ?")
            .bind(app)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
        if now.as_deref() != expected {
            return Ok(Ok(false));
        }
        let old = now.map_or(0, |v| (v.len() + key.len()) as u64);
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
        Ok(Ok(true))
    }

    /// Deletes every key with `prefix`; returns how many.
    pub async fn kv_delete_prefix(&self, app: &str, prefix: &str) -> Result<u64> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let sql = format!(
            "DELETE FROM app_kv WHERE app_id = ? AND {} RETURNING length(CAST(key AS BLOB)) + length(value)",
            in_prefix("key")
        );
        let freed: Vec<i64> = bind_prefix(sqlx::query_scalar(&sql).bind(app), prefix).fetch_all(&mut *tx).await?;
        let total: i64 = freed.iter().sum();
        sqlx::query("UPDATE app_usage SET kv_bytes = max(0, kv_bytes - ?) WHERE app_id = ?")
            .bind(total)
            .bind(app)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(freed.len() as u64)
    }
}

/// SQL matching `column` against a prefix (bound with [`bind_prefix`]): a
/// range the primary key index can scan (text compares bytewise and U+10FFFF
/// is the largest character), then the exact test.
pub(crate) fn in_prefix(column: &str) -> String {
    format!("{column} >= ? AND {column} < (? || char(1114111)) AND substr({column}, 1, length(?)) = ?")
}

/// Binds the four placeholders of [`in_prefix`].
pub(crate) fn bind_prefix<'q, O>(
    query: sqlx::query::QueryScalar<'q, sqlx::Sqlite, O, sqlx::sqlite::SqliteArguments<'q>>,
    prefix: &'q str,
) -> sqlx::query::QueryScalar<'q, sqlx::Sqlite, O, sqlx::sqlite::SqliteArguments<'q>> {
    query.bind(prefix).bind(prefix).bind(prefix).bind(prefix)
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
