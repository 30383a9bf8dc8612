//! Queries on known devices: a browser that signed in to an account keeps a
//! device cookie, found here by its hash, so sign-in throttling can tell the
//! family's own devices from strangers. A device unused for longer than
//! `signin.device_forget` counts for nothing and is deleted by the sweep;
//! its person can list and forget devices, and disabling them or signing
//! out everywhere forgets them all (review finding L9).

use serde::Serialize;
use sqlx::FromRow;

use super::{Result, Store};

/// A known device as its person sees it.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct DeviceRow {
    pub id: i64,
    pub label: String,
    pub created_at: i64,
    pub last_used_at: i64,
}

impl Store {
    pub async fn create_device(&self, token_hash: &[u8; 32], person_id: i64, at: i64, label: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO devices (token_hash, person_id, created_at, last_used_at, label) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&token_hash[..])
        .bind(person_id)
        .bind(at)
        .bind(at)
        .bind(label)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The person a device cookie belongs to, if it was used since
    /// `used_since`, noting that it was used now.
    pub async fn device_person(&self, token_hash: &[u8; 32], at: i64, used_since: i64) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "UPDATE devices SET last_used_at = ? WHERE token_hash = ? AND last_used_at >= ? RETURNING person_id",
        )
        .bind(at)
        .bind(&token_hash[..])
        .bind(used_since)
        .fetch_optional(self.pool())
        .await?)
    }

    /// A person's devices still counted (used since `used_since`), most
    /// recently used first.
    pub async fn devices_of(&self, person_id: i64, used_since: i64) -> Result<Vec<DeviceRow>> {
        Ok(sqlx::query_as(
            "SELECT id, label, created_at, last_used_at FROM devices \
             WHERE person_id = ? AND last_used_at >= ? ORDER BY last_used_at DESC",
        )
        .bind(person_id)
        .bind(used_since)
        .fetch_all(self.pool())
        .await?)
    }

    /// Forgets one device, only if it is `person_id`'s.
    pub async fn forget_device(&self, id: i64, person_id: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM devices WHERE id = ? AND person_id = ?")
            .bind(id)
            .bind(person_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends every session and forgets every device of a person, in one
    /// transaction; returns how many sessions ended.
    pub async fn sign_out_everywhere(&self, person_id: i64) -> Result<u64> {
        let mut tx = self.pool().begin().await?;
        let ended = end_everything(&mut tx, person_id).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Ends every session of a person but one (after a password change).
    pub async fn end_other_sessions(&self, person_id: i64, keep: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE person_id = ? AND id != ?")
            .bind(person_id)
            .bind(keep)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Deletes devices unused since `before`; returns how many.
    pub async fn purge_idle_devices(&self, before: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM devices WHERE last_used_at < ?").bind(before).execute(self.pool()).await?;
        Ok(done.rows_affected())
    }
}

/// Ends every session and forgets every device of a person, inside the
/// caller's transaction; returns how many sessions ended.
pub(super) async fn end_everything(conn: &mut sqlx::SqliteConnection, person_id: i64) -> Result<u64> {
    let ended = sqlx::query("DELETE FROM sessions WHERE person_id = ?").bind(person_id).execute(&mut *conn).await?;
    sqlx::query("DELETE FROM devices WHERE person_id = ?").bind(person_id).execute(&mut *conn).await?;
    Ok(ended.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn l9_idle_devices_count_for_nothing_and_go() {
        let dir = tempfile::TempDir::new().expect("tmp");
        let store = Store::open(dir.path()).await.expect("open");
        let person: i64 = sqlx::query_scalar(
            "INSERT INTO people (display_name, role, created_at) VALUES ('Grandma', 'member', 0) RETURNING id",
        )
        .fetch_one(store.pool())
        .await
        .expect("person");
        store.create_device(&[1; 32], person, 1000, "Safari on iPhone").await.expect("device");
        assert_eq!(store.device_person(&[1; 32], 2000, 1000).await.expect("q"), Some(person));
        assert_eq!(store.device_person(&[1; 32], 9000, 2001).await.expect("q"), None, "idle too long");
        assert_eq!(store.devices_of(person, 0).await.expect("list").len(), 1);
        assert_eq!(store.purge_idle_devices(2001).await.expect("purge"), 1);
        assert!(store.devices_of(person, 0).await.expect("list").is_empty());
        store.create_device(&[2; 32], person, 3000, "Firefox on Linux").await.expect("device");
        let id = store.devices_of(person, 0).await.expect("list")[0].id;
        assert!(!store.forget_device(id, person + 1).await.expect("other person"), "only one's own");
        assert!(store.forget_device(id, person).await.expect("forget"));
        store.create_device(&[3; 32], person, 3000, "Chrome on Android").await.expect("device");
        assert_eq!(store.disable_person(person).await.expect("disable"), Some(0));
        assert!(store.devices_of(person, 0).await.expect("list").is_empty(), "disabling forgets every device");
    }
}
