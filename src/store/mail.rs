//! Email digests (`mail_prefs`, `mail_unsubscribes`, `activity_mutes`, the
//! inbox's `mailed_at`): where each person wants them and how often, who is
//! due one (news not yet mailed, still unseen, from an app they have, about
//! nothing they muted, and quiet for a while), marking what went, the
//! backoff after a failed send, one-click unsubscribes, and mutes.

use sqlx::FromRow;

use super::activity::FeedItem;
use super::{Result, Store};

/// A person's digest settings.
#[derive(Debug, Clone, FromRow)]
pub struct MailPrefs {
    pub person_id: i64,
    pub address: String,
    /// `digest`, `weekly` or `never`.
    pub frequency: String,
    pub last_sent_at: Option<i64>,
    pub failures: i64,
}

/// When a digest may go out, as Unix times.
#[derive(Debug, Clone, Copy)]
pub struct DigestClock {
    pub now: i64,
    /// News newer than this is still coming: wait.
    pub quiet_since: i64,
    /// Those who get every digest and last got one before this are due.
    pub digest_since: i64,
    /// Those who chose weekly and last got one before this are due.
    pub weekly_since: i64,
}

/// News `person` may be mailed: unseen, not mailed since it last changed,
/// from an app they have, about nothing they muted. Binds: person.
const MAILABLE: &str = "FROM activity_inbox i JOIN activity a ON a.id = i.event_id \
     JOIN grants g ON g.person_id = i.person_id AND g.app_id = a.app_id \
     WHERE i.person_id = ? AND i.seen_at IS NULL AND (i.mailed_at IS NULL OR i.mailed_at < a.updated_at) \
       AND NOT EXISTS (SELECT 1 FROM activity_mutes mu WHERE mu.person_id = i.person_id AND mu.app_id = a.app_id \
                       AND mu.scope = a.scope)";

impl Store {
    pub async fn mail_prefs(&self, person: i64) -> Result<Option<MailPrefs>> {
        Ok(sqlx::query_as(
            "SELECT person_id, address, frequency, last_sent_at, failures FROM mail_prefs WHERE person_id = ?",
        )
        .bind(person)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Sets where and how often `person` gets digests (a new address
    /// starts with a clean slate of failures).
    pub async fn set_mail_prefs(&self, person: i64, address: &str, frequency: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO mail_prefs (person_id, address, frequency) VALUES (?, ?, ?) \
             ON CONFLICT(person_id) DO UPDATE SET address = excluded.address, frequency = excluded.frequency, \
             failures = 0, next_try_at = NULL",
        )
        .bind(person)
        .bind(address)
        .bind(frequency)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// People due a digest now: enabled, wanting one, not waiting out a
    /// failure, past their period, with news to tell that has been quiet
    /// since `quiet_since`.
    pub async fn digests_due(&self, clock: DigestClock) -> Result<Vec<MailPrefs>> {
        Ok(sqlx::query_as(&format!(
            "SELECT m.person_id, m.address, m.frequency, m.last_sent_at, m.failures FROM mail_prefs m \
             JOIN people p ON p.id = m.person_id \
             WHERE p.disabled_at IS NULL AND m.frequency != 'never' \
               AND (m.next_try_at IS NULL OR m.next_try_at <= ?) \
               AND (m.last_sent_at IS NULL OR m.last_sent_at <= \
                    CASE m.frequency WHEN 'weekly' THEN ? ELSE ? END) \
               AND (SELECT max(a.updated_at) {MAILABLE}) <= ?",
            MAILABLE = MAILABLE.replace("i.person_id = ?", "i.person_id = m.person_id")
        ))
        .bind(clock.now)
        .bind(clock.weekly_since)
        .bind(clock.digest_since)
        .bind(clock.quiet_since)
        .fetch_all(self.pool())
        .await?)
    }

    /// What a digest for `person` tells, newest first (at most `limit`).
    pub async fn digest_lines(&self, person: i64, limit: u32) -> Result<Vec<FeedItem>> {
        Ok(sqlx::query_as(&format!(
            "SELECT a.id, a.app_id, ap.name AS app_name, pe.display_name AS actor, a.text, a.text_many, a.count, \
               a.link, a.thumbnail, a.updated_at, 0 AS seen {MAILABLE_JOINED} \
             ORDER BY a.updated_at DESC, i.event_id DESC LIMIT ?",
            MAILABLE_JOINED = MAILABLE.replace(
                "JOIN grants g",
                "JOIN apps ap ON ap.id = a.app_id LEFT JOIN people pe ON pe.id = a.actor_id JOIN grants g"
            )
        ))
        .bind(person)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// A digest telling `events` went to `person` at `at`: they are mailed,
    /// the clock restarts and the failures are forgotten; the unsubscribe
    /// token it carried is kept (its hash).
    pub async fn digest_sent(&self, person: i64, events: &[i64], token_hash: &[u8; 32], at: i64) -> Result<()> {
        let events = serde_json::to_string(events).unwrap_or_else(|_| "[]".into());
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "UPDATE activity_inbox SET mailed_at = ? WHERE person_id = ? AND event_id IN (SELECT value FROM json_each(?))",
        )
        .bind(at)
        .bind(person)
        .bind(&events)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE mail_prefs SET last_sent_at = ?, failures = 0, next_try_at = NULL WHERE person_id = ?")
            .bind(at)
            .bind(person)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO mail_unsubscribes (token_hash, person_id, created_at) VALUES (?, ?, ?)")
            .bind(&token_hash[..])
            .bind(person)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A digest could not be sent: try again at `next_try`.
    pub async fn digest_failed(&self, person: i64, next_try: i64) -> Result<()> {
        sqlx::query("UPDATE mail_prefs SET failures = failures + 1, next_try_at = ? WHERE person_id = ?")
            .bind(next_try)
            .bind(person)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The one-click unsubscribe of a digest: that person gets no more
    /// digests. Their id, or `None` for an unknown token.
    pub async fn unsubscribe(&self, token_hash: &[u8; 32]) -> Result<Option<i64>> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let person: Option<(i64,)> = sqlx::query_as("SELECT person_id FROM mail_unsubscribes WHERE token_hash = ?")
            .bind(&token_hash[..])
            .fetch_optional(&mut *tx)
            .await?;
        if let Some((id,)) = person {
            sqlx::query("UPDATE mail_prefs SET frequency = 'never' WHERE person_id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(person.map(|(id,)| id))
    }

    /// Unsubscribe links older than `before` stop working.
    pub async fn prune_unsubscribes(&self, before: i64) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM mail_unsubscribes WHERE created_at < ?")
            .bind(before)
            .execute(self.pool())
            .await?
            .rows_affected())
    }

    /// Mutes or unmutes `scope` of `app` for `person`'s digests.
    pub async fn set_mute(&self, person: i64, app: &str, scope: &str, muted: bool) -> Result<()> {
        let sql = if muted {
            "INSERT OR IGNORE INTO activity_mutes (person_id, app_id, scope) VALUES (?, ?, ?)"
        } else {
            "DELETE FROM activity_mutes WHERE person_id = ? AND app_id = ? AND scope = ?"
        };
        sqlx::query(sql).bind(person).bind(app).bind(scope).execute(self.pool()).await?;
        Ok(())
    }

    pub async fn is_muted(&self, person: i64, app: &str, scope: &str) -> Result<bool> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT 1 FROM activity_mutes WHERE person_id = ? AND app_id = ? AND scope = ?")
                .bind(person)
                .bind(app)
                .bind(scope)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.is_some())
    }
}
