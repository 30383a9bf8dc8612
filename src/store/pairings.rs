//! Queries on device pairings ("add this phone"): making one (ending the
//! person's earlier open ones), the new device claiming it, the person
//! allowing or refusing it, and using it up once. Each step is a single
//! conditional statement, so two devices racing for one link cannot both
//! win.

use serde::Serialize;
use sqlx::FromRow;

use super::{Result, Store};

/// A pairing as either screen sees it.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct PairingRow {
    pub id: i64,
    #[serde(skip)]
    pub token_hash: Vec<u8>,
    pub person_id: i64,
    pub expires_at: i64,
    #[serde(skip)]
    pub claim_hash: Option<Vec<u8>>,
    pub claim_label: Option<String>,
    pub code: Option<String>,
    pub approved_at: Option<i64>,
}

const COLUMNS: &str = "id, token_hash, person_id, expires_at, claim_hash, claim_label, code, approved_at";

impl Store {
    /// Stores a new pairing for `person_id`; their earlier unused ones end.
    pub async fn create_pairing(&self, token_hash: &[u8; 32], person_id: i64, at: i64, expires_at: i64) -> Result<i64> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM device_pairings WHERE person_id = ? AND used_at IS NULL")
            .bind(person_id)
            .execute(&mut *tx)
            .await?;
        let id = sqlx::query_scalar(
            "INSERT INTO device_pairings (token_hash, person_id, created_at, expires_at) VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(&token_hash[..])
        .bind(person_id)
        .bind(at)
        .bind(expires_at)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The unused, unexpired pairing with this link token.
    pub async fn live_pairing(&self, token_hash: &[u8; 32], now: i64) -> Result<Option<PairingRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM device_pairings WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?"
        );
        Ok(sqlx::query_as(&sql).bind(&token_hash[..]).bind(now).fetch_optional(self.pool()).await?)
    }

    /// A person's own unused, unexpired pairing by id (for the first device).
    pub async fn pairing_of(&self, id: i64, person_id: i64, now: i64) -> Result<Option<PairingRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM device_pairings WHERE id = ? AND person_id = ? AND used_at IS NULL AND expires_at > ?"
        );
        Ok(sqlx::query_as(&sql).bind(id).bind(person_id).bind(now).fetch_optional(self.pool()).await?)
    }

    /// The first device to open the link claims it: its claim secret's
    /// hash, what it looks like and the code both screens show. False when
    /// another device claimed it first (or it ended).
    pub async fn claim_pairing(
        &self,
        id: i64,
        claim_hash: &[u8; 32],
        label: &str,
        code: &str,
        now: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE device_pairings SET claim_hash = ?, claim_label = ?, code = ? \
             WHERE id = ? AND claim_hash IS NULL AND used_at IS NULL AND expires_at > ?",
        )
        .bind(&claim_hash[..])
        .bind(label)
        .bind(code)
        .bind(id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The person allows the claimed device. False if nothing claimed it
    /// yet, or it ended.
    pub async fn approve_pairing(&self, id: i64, person_id: i64, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE device_pairings SET approved_at = ? \
             WHERE id = ? AND person_id = ? AND claim_hash IS NOT NULL AND used_at IS NULL AND expires_at > ?",
        )
        .bind(now)
        .bind(id)
        .bind(person_id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The person refuses (or takes back) a pairing: it ends.
    pub async fn end_pairing(&self, id: i64, person_id: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM device_pairings WHERE id = ? AND person_id = ? AND used_at IS NULL")
            .bind(id)
            .bind(person_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Uses the approved pairing up for the device that claimed it; the
    /// person to sign in, or `None` (not approved, another claim, used,
    /// expired, person disabled).
    pub async fn use_pairing(&self, id: i64, claim_hash: &[u8; 32], now: i64) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "UPDATE device_pairings SET used_at = ? \
             WHERE id = ? AND claim_hash = ? AND approved_at IS NOT NULL AND used_at IS NULL AND expires_at > ? \
               AND (SELECT disabled_at FROM people WHERE people.id = device_pairings.person_id) IS NULL \
             RETURNING person_id",
        )
        .bind(now)
        .bind(id)
        .bind(&claim_hash[..])
        .bind(now)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Deletes pairings that expired before `before`.
    pub async fn purge_old_pairings(&self, before: i64) -> Result<u64> {
        let done =
            sqlx::query("DELETE FROM device_pairings WHERE expires_at < ?").bind(before).execute(self.pool()).await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Store;

    #[tokio::test]
    async fn only_the_claiming_device_after_approval_signs_in_and_only_once() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(dir.path()).await.expect("store");
        let ann: i64 = sqlx::query_scalar(
            "INSERT INTO people (display_name, role, created_at) VALUES ('Ann', 'member', 0) RETURNING id",
        )
        .fetch_one(store.pool())
        .await
        .expect("person");
        let id = store.create_pairing(&[1; 32], ann, 100, 700).await.expect("pairing");
        assert!(!store.approve_pairing(id, ann, 110).await.expect("approve"), "nothing claimed it yet");
        assert!(store.claim_pairing(id, &[7; 32], "Phone", "123456", 120).await.expect("claim"));
        assert!(!store.claim_pairing(id, &[8; 32], "Thief", "654321", 121).await.expect("claim"), "first claim wins");
        assert_eq!(store.use_pairing(id, &[7; 32], 130).await.expect("use"), None, "not approved yet");
        assert!(!store.approve_pairing(id, ann + 1, 140).await.expect("approve"), "only its person approves");
        assert!(store.approve_pairing(id, ann, 140).await.expect("approve"));
        assert_eq!(store.use_pairing(id, &[8; 32], 150).await.expect("use"), None, "another device's claim");
        assert_eq!(store.use_pairing(id, &[7; 32], 150).await.expect("use"), Some(ann));
        assert_eq!(store.use_pairing(id, &[7; 32], 151).await.expect("use"), None, "once");

        let id = store.create_pairing(&[2; 32], ann, 200, 800).await.expect("pairing");
        assert!(store.claim_pairing(id, &[7; 32], "Phone", "1", 210).await.expect("claim"));
        assert!(store.approve_pairing(id, ann, 220).await.expect("approve"));
        assert_eq!(store.use_pairing(id, &[7; 32], 800).await.expect("use"), None, "expired at expires_at");
        let id = store.create_pairing(&[3; 32], ann, 300, 900).await.expect("pairing");
        assert!(store.live_pairing(&[2; 32], 301).await.expect("q").is_none(), "a new pairing ends the older");
        assert!(store.end_pairing(id, ann).await.expect("end"));
        assert!(store.live_pairing(&[3; 32], 301).await.expect("q").is_none());
        assert_eq!(store.purge_old_pairings(1000).await.expect("purge"), 1, "the used one is swept");
    }
}
