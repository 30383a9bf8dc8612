//! The audit log: an append-only list of security-relevant events that the
//! owner can read on the admin page or with `porch audit`.

use serde::Serialize;
use sqlx::FromRow;

use super::{Result, Store, now};

/// An event about to be written.
#[derive(Debug, Default)]
pub struct NewAuditEvent<'a> {
    pub actor_id: Option<i64>,
    pub action: &'a str,
    pub subject: String,
    pub ip: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct AuditEvent {
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<i64>,
    pub actor_name: Option<String>,
    pub action: String,
    pub subject: String,
    pub ip: Option<String>,
    pub detail: String,
}

impl Store {
    pub async fn audit(&self, event: NewAuditEvent<'_>) -> Result<()> {
        sqlx::query("INSERT INTO audit_events (at, actor_id, action, subject, ip, detail) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(now())
            .bind(event.actor_id)
            .bind(event.action)
            .bind(event.subject)
            .bind(event.ip)
            .bind(event.detail)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Events before `before` that still hold a full client address
    /// (shortened ones contain a `/`), at most `limit` of them.
    pub async fn audit_full_addresses(&self, before: i64, limit: i64) -> Result<Vec<(i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT id, ip FROM audit_events WHERE at < ? AND ip IS NOT NULL AND instr(ip, '/') = 0 ORDER BY id LIMIT ?",
        )
        .bind(before)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Replaces the client address of some events, in one transaction.
    pub async fn set_audit_addresses(&self, changes: &[(i64, String)]) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        for (id, ip) in changes {
            sqlx::query("UPDATE audit_events SET ip = ? WHERE id = ?").bind(ip).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The newest `limit` events, newest first.
    pub async fn audit_events(&self, limit: i64) -> Result<Vec<AuditEvent>> {
        Ok(sqlx::query_as(
            "SELECT a.id, a.at, a.actor_id, p.display_name AS actor_name, a.action, a.subject, a.ip, a.detail \
             FROM audit_events a LEFT JOIN people p ON p.id = a.actor_id ORDER BY a.id DESC LIMIT ?",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }
}
