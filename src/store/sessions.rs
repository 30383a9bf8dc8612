//! Queries on sessions: created at sign-in, found by token hash on every
//! request, slid forward while used, ended one by one or all at once.

use serde::Serialize;
use sqlx::FromRow;

use super::people::{PERSON_COLUMNS, PersonRow};
use super::{Result, Store};

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct SessionRow {
    pub id: i64,
    #[serde(skip)]
    pub token_hash: Vec<u8>,
    pub person_id: i64,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub device: String,
}

impl Store {
    pub async fn create_session(
        &self,
        token_hash: &[u8; 32],
        person_id: i64,
        at: i64,
        expires_at: i64,
        device: &str,
    ) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO sessions (token_hash, person_id, created_at, last_seen_at, expires_at, device) \
             VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&token_hash[..])
        .bind(person_id)
        .bind(at)
        .bind(at)
        .bind(expires_at)
        .bind(device)
        .fetch_one(self.pool())
        .await?)
    }

    /// A live session (expired ones are not returned) and its person, in
    /// one round trip: every signed-in request asks this.
    pub async fn session_and_person(&self, token_hash: &[u8; 32], now: i64) -> Result<Option<(SessionRow, PersonRow)>> {
        let sql = format!(
            "SELECT s.id AS s_id, s.token_hash, s.created_at AS s_created_at, s.last_seen_at, s.expires_at, \
             s.device, {PERSON_COLUMNS} \
             FROM sessions s JOIN people p ON p.id = s.person_id WHERE s.token_hash = ? AND s.expires_at > ?"
        );
        let row: Option<SessionPersonRow> =
            sqlx::query_as(&sql).bind(&token_hash[..]).bind(now).fetch_optional(self.pool()).await?;
        Ok(row.map(|r| {
            let session = SessionRow {
                id: r.s_id,
                token_hash: r.token_hash,
                person_id: r.person.id,
                created_at: r.s_created_at,
                last_seen_at: r.last_seen_at,
                expires_at: r.expires_at,
                device: r.device,
            };
            (session, r.person)
        }))
    }

    /// Slides a session forward: seen now, valid for another lifetime.
    pub async fn touch_session(&self, id: i64, at: i64, expires_at: i64) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE id = ?")
            .bind(at)
            .bind(expires_at)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn sessions_of(&self, person_id: i64, now: i64) -> Result<Vec<SessionRow>> {
        Ok(sqlx::query_as(
            "SELECT id, token_hash, person_id, created_at, last_seen_at, expires_at, device \
             FROM sessions WHERE person_id = ? AND expires_at > ? ORDER BY last_seen_at DESC",
        )
        .bind(person_id)
        .bind(now)
        .fetch_all(self.pool())
        .await?)
    }

    /// Ends one session, but only if it belongs to `person_id`.
    pub async fn end_session(&self, id: i64, person_id: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM sessions WHERE id = ? AND person_id = ?")
            .bind(id)
            .bind(person_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn purge_expired_sessions(&self, now: i64) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
            .bind(now)
            .execute(self.pool())
            .await?
            .rows_affected())
    }
}

/// One row of [`Store::session_and_person`]: the person's columns as
/// [`PersonRow`] reads them, the session's prefixed where the names clash.
#[derive(FromRow)]
struct SessionPersonRow {
    s_id: i64,
    token_hash: Vec<u8>,
    s_created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    device: String,
    #[sqlx(flatten)]
    person: PersonRow,
}
