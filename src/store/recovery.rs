//! Queries on recovery links: making one (revoking the person's earlier
//! unused ones), finding a live one by its token hash, and using one up
//! together with the new password in a single transaction.

use serde::Serialize;
use sqlx::FromRow;

use super::{Result, Store};

/// A live recovery link and whom it is for.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct RecoveryRow {
    pub id: i64,
    #[serde(skip)]
    pub token_hash: Vec<u8>,
    pub person_id: i64,
    pub display_name: String,
    pub created_by_name: Option<String>,
    pub expires_at: i64,
}

impl Store {
    /// Stores a new link for `person_id` and revokes every earlier link of
    /// theirs that is still unused, so only the newest one works.
    pub async fn create_recovery_link(
        &self,
        token_hash: &[u8; 32],
        person_id: i64,
        created_by: Option<i64>,
        at: i64,
        expires_at: i64,
    ) -> Result<i64> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "UPDATE recovery_links SET revoked_at = ? WHERE person_id = ? AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(person_id)
        .execute(&mut *tx)
        .await?;
        let id = sqlx::query_scalar(
            "INSERT INTO recovery_links (token_hash, person_id, created_by, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&token_hash[..])
        .bind(person_id)
        .bind(created_by)
        .bind(at)
        .bind(expires_at)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The link with this token hash, if it is unused, not revoked, not
    /// expired, and its person is not disabled.
    pub async fn live_recovery_link(&self, token_hash: &[u8; 32], now: i64) -> Result<Option<RecoveryRow>> {
        Ok(sqlx::query_as(
            "SELECT r.id, r.token_hash, r.person_id, p.display_name, \
                    (SELECT display_name FROM people WHERE id = r.created_by) AS created_by_name, r.expires_at \
             FROM recovery_links r JOIN people p ON p.id = r.person_id \
             WHERE r.token_hash = ? AND r.used_at IS NULL AND r.revoked_at IS NULL AND r.expires_at > ? \
               AND p.disabled_at IS NULL",
        )
        .bind(&token_hash[..])
        .bind(now)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Uses the link up and sets the person's password (`phc`), and with
    /// `sign_out_others` ends every session and forgets every device of
    /// theirs, all in one transaction. `None` when the link stopped working
    /// in between (used by a second tab, revoked, expired, person
    /// disabled): then nothing changed. Otherwise the sessions ended.
    pub async fn use_recovery_link(
        &self,
        id: i64,
        person_id: i64,
        credential: &super::NewCredential<'_>,
        sign_out_others: bool,
        now: i64,
    ) -> Result<Option<u64>> {
        let mut tx = self.pool().begin().await?;
        let used = sqlx::query(
            "UPDATE recovery_links SET used_at = ? \
             WHERE id = ? AND person_id = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ? \
               AND (SELECT disabled_at FROM people WHERE id = ?) IS NULL",
        )
        .bind(now)
        .bind(id)
        .bind(person_id)
        .bind(now)
        .bind(person_id)
        .execute(&mut *tx)
        .await?;
        if used.rows_affected() != 1 {
            return Ok(None);
        }
        if let super::NewCredential::Passkey { .. } = credential {
            // Whoever knows the old password (forgotten, or found out) can
            // no longer sign in with it: the link replaces it.
            sqlx::query("DELETE FROM credentials WHERE person_id = ? AND kind = 'password'")
                .bind(person_id)
                .execute(&mut *tx)
                .await?;
        }
        if !super::passkeys::write_first(&mut tx, person_id, credential, now).await? {
            return Ok(None);
        }
        let ended = if sign_out_others { super::devices::end_everything(&mut tx, person_id).await? } else { 0 };
        tx.commit().await?;
        Ok(Some(ended))
    }

    /// Deletes links that ended (used, revoked or expired) before `before`:
    /// the audit log keeps their story.
    pub async fn purge_ended_recovery_links(&self, before: i64) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM recovery_links WHERE MAX(COALESCE(used_at, 0), COALESCE(revoked_at, 0), expires_at) < ?",
        )
        .bind(before)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Store;

    async fn store_with(name: &str) -> (tempfile::TempDir, Store, i64) {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(dir.path()).await.expect("store");
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO people (display_name, role, created_at) VALUES (?, 'member', 0) RETURNING id",
        )
        .bind(name)
        .fetch_one(store.pool())
        .await
        .expect("person");
        (dir, store, id)
    }

    #[tokio::test]
    async fn a_link_works_once_and_a_newer_one_replaces_it() {
        let (_dir, store, ann) = store_with("Ann").await;
        let (first, second) = ([1u8; 32], [2u8; 32]);
        store.create_recovery_link(&first, ann, None, 100, 1000).await.expect("first");
        assert!(store.live_recovery_link(&first, 200).await.expect("q").is_some());
        let second_id = store.create_recovery_link(&second, ann, None, 300, 1000).await.expect("second");
        assert!(store.live_recovery_link(&first, 400).await.expect("q").is_none(), "the older link is revoked");
        let live = store.live_recovery_link(&second, 400).await.expect("q").expect("newest works");
        assert_eq!((live.id, live.display_name.as_str()), (second_id, "Ann"));
        assert_eq!(
            store
                .use_recovery_link(live.id, ann, &crate::store::NewCredential::Password("phc"), true, 500)
                .await
                .expect("use"),
            Some(0)
        );
        assert_eq!(
            store
                .use_recovery_link(live.id, ann, &crate::store::NewCredential::Password("phc2"), true, 501)
                .await
                .expect("again"),
            None,
            "single use"
        );
        assert!(store.live_recovery_link(&second, 502).await.expect("q").is_none());
        assert_eq!(store.password_hash(ann).await.expect("q").as_deref(), Some("phc"));
        assert!(store.live_recovery_link(&[3u8; 32], 0).await.expect("q").is_none());
    }

    #[tokio::test]
    async fn an_expired_link_or_a_disabled_person_changes_nothing() {
        let (_dir, store, ann) = store_with("Ann").await;
        let id = store.create_recovery_link(&[1u8; 32], ann, None, 100, 1000).await.expect("link");
        assert!(store.live_recovery_link(&[1u8; 32], 1000).await.expect("q").is_none(), "expired at expires_at");
        assert_eq!(
            store
                .use_recovery_link(id, ann, &crate::store::NewCredential::Password("phc"), false, 1000)
                .await
                .expect("use"),
            None
        );
        assert_eq!(store.password_hash(ann).await.expect("q"), None);
        let id = store.create_recovery_link(&[2u8; 32], ann, None, 100, 5000).await.expect("link");
        sqlx::query("UPDATE people SET disabled_at = 1 WHERE id = ?")
            .bind(ann)
            .execute(store.pool())
            .await
            .expect("off");
        assert!(store.live_recovery_link(&[2u8; 32], 200).await.expect("q").is_none());
        assert_eq!(
            store
                .use_recovery_link(id, ann, &crate::store::NewCredential::Password("phc"), false, 200)
                .await
                .expect("use"),
            None
        );
        assert_eq!(store.purge_ended_recovery_links(6000).await.expect("purge"), 2);
    }
}
