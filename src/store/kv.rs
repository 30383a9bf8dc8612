//! Per-app key/value rows with quota accounting. Every write runs in an
//! IMMEDIATE transaction so concurrent writers of one app cannot together
//! overrun its quota.
//!
//! A row is charged its key and value bytes plus [`ROW_COST`], what SQLite
//! spends on a row and its index entry besides them: an empty value is not
//! free, so a quota also bounds how many rows an app can make (review
//! finding L3). Blobs are charged the same way (`blobs.rs`).

use super::{Result, Store};
use crate::common::limits::ROW_COST;

/// The charge of a kv row with a key and value of these lengths.
pub fn kv_charge(key_len: usize, value_len: usize) -> u64 {
    (key_len as u64).saturating_add(value_len as u64).saturating_add(ROW_COST)
}

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

    /// Sets a key; the app's kv usage (key plus value bytes plus
    /// [`ROW_COST`] a row) may not exceed `quota`.
    pub async fn kv_set(&self, app: &str, key: &str, value: &[u8], quota: u64) -> Result<Result<(), OverQuota>> {
        Ok(self.kv_write(app, key, None, value, quota).await?.map(|_| ()))
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
                .bind(i64::try_from(kv_charge(key.len(), usize::try_from(len).unwrap_or(0))).unwrap_or(i64::MAX))
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
            "SELECT key FROM app_kv WHERE app_id = ?1 AND {} AND key > ?3 ORDER BY key LIMIT ?4",
            in_prefix("key", 2)
        );
        Ok(sqlx::query_scalar(&sql)
            .bind(app)
            .bind(prefix)
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
            "SELECT key FROM app_kv WHERE app_id = ?1 AND {} AND (?3 IS NULL OR key < ?3) ORDER BY key DESC LIMIT ?4",
            in_prefix("key", 2)
        );
        Ok(sqlx::query_scalar(&sql).bind(app).bind(prefix).bind(before).bind(limit).fetch_all(self.pool()).await?)
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
        self.kv_write(app, key, Some(expected), value, quota).await
    }

    /// The one kv write: in an IMMEDIATE transaction, if `expected` is given
    /// the key must hold exactly that (`Ok(false)` otherwise), and the app's
    /// usage after the write may not exceed `quota` unless it shrinks.
    async fn kv_write(
        &self,
        app: &str,
        key: &str,
        expected: Option<Option<&[u8]>>,
        value: &[u8],
        quota: u64,
    ) -> Result<Result<bool, OverQuota>> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let old_len: Option<i64> = match expected {
            None => {
                sqlx::query_scalar("SELECT length(value) FROM app_kv WHERE app_id = ? AND key = ?")
                    .bind(app)
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await?
            }
            Some(expected) => {
                let now: Option<Vec<u8>> = sqlx::query_scalar("SELECT value FROM app_kv WHERE app_id = ? AND key = ?")
                    .bind(app)
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await?;
                if now.as_deref() != expected {
                    return Ok(Ok(false));
                }
                now.map(|v| i64::try_from(v.len()).unwrap_or(i64::MAX))
            }
        };
        let old = old_len.map_or(0, |len| kv_charge(key.len(), usize::try_from(len).unwrap_or(0)));
        let used: Option<i64> = sqlx::query_scalar("SELECT kv_bytes FROM app_usage WHERE app_id = ?")
            .bind(app)
            .fetch_optional(&mut *tx)
            .await?;
        let used = used.map_or(0, to_u64);
        let new = kv_charge(key.len(), value.len());
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
        // Counted in SQL, not brought into memory row by row.
        let sum = format!(
            "SELECT COUNT(*), COALESCE(SUM(length(CAST(key AS BLOB)) + length(value)), 0) FROM app_kv \
             WHERE app_id = ?1 AND {}",
            in_prefix("key", 2)
        );
        let (rows, bytes): (i64, i64) = sqlx::query_as(&sum).bind(app).bind(prefix).fetch_one(&mut *tx).await?;
        let delete = format!("DELETE FROM app_kv WHERE app_id = ?1 AND {}", in_prefix("key", 2));
        sqlx::query(&delete).bind(app).bind(prefix).execute(&mut *tx).await?;
        let freed = to_u64(bytes).saturating_add(to_u64(rows).saturating_mul(ROW_COST));
        sqlx::query("UPDATE app_usage SET kv_bytes = max(0, kv_bytes - ?) WHERE app_id = ?")
            .bind(i64::try_from(freed).unwrap_or(i64::MAX))
            .bind(app)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(to_u64(rows))
    }
}

/// SQL matching `column` against the prefix bound as parameter `?n`: a
/// range the primary key index can scan (text compares bytewise and U+10FFFF
/// is the largest character), then the exact test. Queries using it number
/// all their parameters (`?1`, `?2`, ...), since sqlx counts unnumbered ones
/// separately.
pub(crate) fn in_prefix(column: &str, n: u8) -> String {
    format!("{column} >= ?{n} AND {column} < (?{n} || char(1114111)) AND substr({column}, 1, length(?{n})) = ?{n}")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn l3_empty_rows_are_not_free_and_usage_comes_back_to_zero() {
        let dir = tempfile::TempDir::new().expect("tmp");
        let store = Store::open(dir.path()).await.expect("open");
        // A quota of 100 empty values: the 101st is refused, though every
        // value is zero bytes.
        let quota = 100 * kv_charge(8, 0);
        for n in 0..100 {
            store.kv_set("app", &format!("key{n:05}"), b"", quota).await.expect("set").expect("within quota");
        }
        let over = store.kv_set("app", "key00100", b"", quota).await.expect("set");
        assert!(over.is_err(), "row 101 of empty values is over the quota");
        assert_eq!(store.kv_delete_prefix("app", "key").await.expect("delete"), 100);
        store.kv_set("app", "after", b"x", quota).await.expect("set").expect("usage was given back whole");
        assert!(store.kv_delete("app", "after").await.expect("delete"));
        let usage: i64 = sqlx::query_scalar("SELECT kv_bytes FROM app_usage WHERE app_id = 'app'")
            .fetch_one(store.pool())
            .await
            .expect("usage");
        assert_eq!(usage, 0);
    }

    #[tokio::test]
    async fn l3_a_zero_byte_blob_with_a_long_name_is_not_free() {
        let dir = tempfile::TempDir::new().expect("tmp");
        let store = Store::open(dir.path()).await.expect("open");
        let name = "n".repeat(512);
        let blob = |i: usize, name: &str| format!("{name}{i}");
        let quota = 10 * (512 + 2 + 24 + ROW_COST);
        let mut stored = 0;
        for i in 0..1000 {
            let name = blob(i, &name);
            let row = crate::store::NewBlob {
                app: "app",
                name: &name,
                sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                size: 0,
                content_type: "application/octet-stream",
                at: 0,
            };
            if store.put_blob(&row, quota).await.expect("put").is_err() {
                break;
            }
            stored += 1;
        }
        assert!((9..=10).contains(&stored), "a quota bounds the rows too: {stored}");
        assert!(store.blob_usage("app").await.expect("usage") <= quota);
        store.delete_blob_prefix("app", "n").await.expect("delete");
        assert_eq!(store.blob_usage("app").await.expect("usage"), 0, "deletes give the whole charge back");
    }

    #[tokio::test]
    async fn prefix_queries_stay_inside_their_prefix() {
        let dir = tempfile::TempDir::new().expect("tmp");
        let store = Store::open(dir.path()).await.expect("open");
        for key in ["a/", "a/1", "a/2", "a/3", "a0", "a/\u{10FFFE}", "b/1", "A/1"] {
            store.kv_set("app", key, b"v", 1 << 20).await.expect("set").expect("quota");
        }
        store.kv_set("other", "a/9", b"v", 1 << 20).await.expect("set").expect("quota");
        let all = store.kv_list("app", "a/", None, 100).await.expect("list");
        assert_eq!(all, ["a/", "a/1", "a/2", "a/3", "a/\u{10FFFE}"]);
        assert_eq!(store.kv_list("app", "a/", Some("a/1"), 2).await.expect("list"), ["a/2", "a/3"]);
        let back = store.kv_list_reverse("app", "a/", Some("a/3"), 10).await.expect("list");
        assert_eq!(back, ["a/2", "a/1", "a/"]);
        assert_eq!(store.kv_list_reverse("app", "a/", None, 1).await.expect("list"), ["a/\u{10FFFE}"]);
        assert_eq!(store.kv_delete_prefix("app", "a/").await.expect("delete"), 5);
        assert_eq!(store.kv_list("app", "", None, 100).await.expect("list"), ["A/1", "a0", "b/1"]);
        assert_eq!(store.kv_list("other", "a/", None, 100).await.expect("list"), ["a/9"]);
    }

    #[tokio::test]
    async fn compare_and_swap_writes_only_over_what_was_expected() {
        let dir = tempfile::TempDir::new().expect("tmp");
        let store = Store::open(dir.path()).await.expect("open");
        let cas = |expected: Option<&'static [u8]>, value: &'static [u8]| {
            let store = store.clone();
            async move { store.kv_compare_and_swap("app", "k", expected, value, 1 << 20).await.expect("cas") }
        };
        assert_eq!(cas(Some(b"x"), b"1").await, Ok(false), "absent is not x");
        assert_eq!(cas(None, b"1").await, Ok(true));
        assert_eq!(cas(None, b"2").await, Ok(false), "present is not absent");
        assert_eq!(cas(Some(b"1"), b"2").await, Ok(true));
        assert_eq!(store.kv_get("app", "k").await.expect("get"), Some(b"2".to_vec()));
        let over = store.kv_compare_and_swap("app", "k", Some(b"2"), &[0u8; 100], 50).await.expect("cas");
        assert!(over.is_err(), "quota still applies");
    }
}
