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

/// The most characters an event's subject keeps; longer ones are cut and
/// end in `…` (review finding H1: nothing a stranger sends may make one row
/// large).
pub const MAX_SUBJECT: usize = 200;
/// The most characters an event's detail keeps.
pub const MAX_DETAIL: usize = 400;
/// The most characters of a client address (an IPv6 address with a zone, or
/// a network, is well under this).
const MAX_IP: usize = 64;

/// `text` with every control character written out as an escape (`\u{1b}`,
/// `\r`) and cut to `max` characters: what is stored can neither forge a line
/// nor drive a terminal (review finding L6), and has a known size (H1).
pub fn bounded_text(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max * 4));
    let mut chars = 0;
    for c in text.chars() {
        let piece: String = if c.is_control() { c.escape_debug().collect() } else { c.to_string() };
        let n = piece.chars().count();
        if chars + n > max.saturating_sub(1) {
            out.push('…');
            return out;
        }
        chars += n;
        out.push_str(&piece);
    }
    out
}

/// `text` with every control character written out as an escape: what the
/// `porch audit` command prints, so even rows written before the escaping
/// at [`Store::audit`] cannot drive the owner's terminal (L6).
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(char::is_control) {
        text.chars().map(|c| if c.is_control() { c.escape_debug().collect() } else { c.to_string() }).collect()
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

impl Store {
    /// Appends an event, each text field bounded by [`bounded_text`].
    pub async fn audit(&self, event: NewAuditEvent<'_>) -> Result<()> {
        sqlx::query("INSERT INTO audit_events (at, actor_id, action, subject, ip, detail) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(now())
            .bind(event.actor_id)
            .bind(bounded_text(event.action, MAX_SUBJECT))
            .bind(bounded_text(&event.subject, MAX_SUBJECT))
            .bind(event.ip.map(|ip| bounded_text(&ip, MAX_IP)))
            .bind(bounded_text(&event.detail, MAX_DETAIL))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Deletes events older than `before` (`audit.keep`), in batches so the
    /// database is never locked for long; returns how many went.
    pub async fn prune_audit(&self, before: i64) -> Result<u64> {
        let mut total = 0;
        loop {
            let done = sqlx::query(
                "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE at < ? ORDER BY id LIMIT 5000)",
            )
            .bind(before)
            .execute(self.pool())
            .await?
            .rows_affected();
            total += done;
            if done == 0 {
                return Ok(total);
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h1_l6_texts_are_bounded_and_escaped() {
        let long = "x".repeat(300_000);
        let cut = bounded_text(&long, MAX_DETAIL);
        assert_eq!(cut.chars().count(), MAX_DETAIL);
        assert!(cut.ends_with('…'));
        let forged = bounded_text("mallory\r\u{1b}[2K\u{1b}[1Aowner signed in\n", 100);
        assert!(!forged.chars().any(char::is_control), "{forged:?}");
        assert_eq!(forged, "mallory\\r\\u{1b}[2K\\u{1b}[1Aowner signed in\\n");
        assert_eq!(bounded_text("Grandma Ö", 100), "Grandma Ö");
    }

    #[tokio::test]
    async fn h1_old_events_are_pruned() {
        let dir = tempfile::TempDir::new().expect("tmp");
        let store = Store::open(dir.path()).await.expect("open");
        for _ in 0..3 {
            store.audit(NewAuditEvent { action: "x", ..Default::default() }).await.expect("audit");
        }
        assert_eq!(store.prune_audit(now() - 60).await.expect("prune"), 0, "nothing is old yet");
        assert_eq!(store.prune_audit(now() + 1).await.expect("prune"), 3);
        assert!(store.audit_events(10).await.expect("events").is_empty());
    }
}
