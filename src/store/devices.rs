//! Queries on known devices: a browser that signed in to an account keeps a
//! device cookie, found here by its hash, so sign-in throttling can tell the
//! family's own devices from strangers.

use super::{Result, Store};

impl Store {
    pub async fn create_device(&self, token_hash: &[u8; 32], person_id: i64, at: i64) -> Result<()> {
        sqlx::query("INSERT INTO devices (token_hash, person_id, created_at, last_used_at) VALUES (?, ?, ?, ?)")
            .bind(&token_hash[..])
            .bind(person_id)
            .bind(at)
            .bind(at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The person a device cookie belongs to, noting that it was used.
    pub async fn device_person(&self, token_hash: &[u8; 32], at: i64) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar("UPDATE devices SET last_used_at = ? WHERE token_hash = ? RETURNING person_id")
            .bind(at)
            .bind(&token_hash[..])
            .fetch_optional(self.pool())
            .await?)
    }
}
