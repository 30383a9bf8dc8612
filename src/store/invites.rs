//! Queries on invites: creating them, finding one by its token hash, and
//! redeeming one into a new person in a single transaction.

use serde::Serialize;
use sqlx::FromRow;

use super::people::{Role, add_groups, split_list};
use super::{Result, Store, StoreError};

pub struct NewInvite {
    pub token_hash: [u8; 32],
    pub owner_setup: bool,
    pub note: String,
    pub role: Role,
    pub created_by: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
    pub max_uses: i64,
    pub groups: Vec<String>,
    /// (app id, app role)
    pub grants: Vec<(String, String)>,
    /// Made by an app (`invites` capability): (app id, landing path).
    pub app: Option<(String, String)>,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct InviteRow {
    pub id: i64,
    #[serde(skip)]
    pub token_hash: Vec<u8>,
    pub purpose: String,
    pub note: String,
    pub role: Role,
    pub created_by: Option<i64>,
    pub created_by_name: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub max_uses: i64,
    pub uses: i64,
    pub revoked_at: Option<i64>,
    /// Comma-separated.
    pub groups: String,
    /// Comma-separated `app:role` pairs.
    pub grants: String,
    /// The app that made it (the `invites` capability), if one did.
    pub app_id: Option<String>,
    /// Where in that app the new person lands.
    pub landing: Option<String>,
}

/// Why an invite can or cannot be used right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InviteStatus {
    Active,
    Expired,
    UsedUp,
    Revoked,
}

impl InviteStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InviteStatus::Active => "active",
            InviteStatus::Expired => "expired",
            InviteStatus::UsedUp => "used up",
            InviteStatus::Revoked => "revoked",
        }
    }
}

impl InviteRow {
    pub fn status(&self, now: i64) -> InviteStatus {
        if self.revoked_at.is_some() {
            InviteStatus::Revoked
        } else if self.uses >= self.max_uses {
            InviteStatus::UsedUp
        } else if self.expires_at <= now {
            InviteStatus::Expired
        } else {
            InviteStatus::Active
        }
    }

    pub fn group_list(&self) -> Vec<String> {
        split_list(&self.groups)
    }

    pub fn grant_list(&self) -> Vec<String> {
        split_list(&self.grants)
    }
}

/// What became of a redemption attempt.
#[derive(Debug)]
pub enum Redemption {
    /// A new person exists with this id.
    Joined(i64),
    /// Someone already goes by that name; nothing was used up.
    NameTaken,
    /// Between showing the page and submitting it, the invite stopped working.
    NoLongerValid,
}

const INVITE_COLUMNS: &str = "i.id, i.token_hash, i.purpose, i.note, i.role, i.created_by, \
     (SELECT display_name FROM people WHERE id = i.created_by) AS created_by_name, \
     i.created_at, i.expires_at, i.max_uses, i.uses, i.revoked_at, \
     COALESCE((SELECT group_concat(group_name, ',') FROM invite_groups WHERE invite_id = i.id), '') AS groups, \
     COALESCE((SELECT group_concat(app_id || ':' || app_role, ',') FROM invite_grants WHERE invite_id = i.id), '') AS grants, \
     i.app_id, i.landing";

impl Store {
    pub async fn create_invite(&self, new: &NewInvite) -> Result<i64> {
        let mut tx = self.pool().begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO invites (token_hash, purpose, note, role, created_by, created_at, expires_at, max_uses, app_id, landing) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&new.token_hash[..])
        .bind(if new.owner_setup { "owner-setup" } else { "invite" })
        .bind(&new.note)
        .bind(new.role)
        .bind(new.created_by)
        .bind(new.created_at)
        .bind(new.expires_at)
        .bind(new.max_uses)
        .bind(new.app.as_ref().map(|(app, _)| app))
        .bind(new.app.as_ref().map(|(_, landing)| landing))
        .fetch_one(&mut *tx)
        .await?;
        for group in &new.groups {
            sqlx::query("INSERT OR IGNORE INTO invite_groups (invite_id, group_name) VALUES (?, ?)")
                .bind(id)
                .bind(group)
                .execute(&mut *tx)
                .await?;
        }
        for (app, role) in &new.grants {
            sqlx::query("INSERT OR REPLACE INTO invite_grants (invite_id, app_id, app_role) VALUES (?, ?, ?)")
                .bind(id)
                .bind(app)
                .bind(role)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    pub async fn invite_by_hash(&self, token_hash: &[u8; 32]) -> Result<Option<InviteRow>> {
        let sql = format!("SELECT {INVITE_COLUMNS} FROM invites i WHERE i.token_hash = ?");
        Ok(sqlx::query_as(&sql).bind(&token_hash[..]).fetch_optional(self.pool()).await?)
    }

    pub async fn invite(&self, id: i64) -> Result<Option<InviteRow>> {
        let sql = format!("SELECT {INVITE_COLUMNS} FROM invites i WHERE i.id = ?");
        Ok(sqlx::query_as(&sql).bind(id).fetch_optional(self.pool()).await?)
    }

    /// Every invite, newest first.
    pub async fn invites(&self) -> Result<Vec<InviteRow>> {
        let sql = format!("SELECT {INVITE_COLUMNS} FROM invites i ORDER BY i.id DESC");
        Ok(sqlx::query_as(&sql).fetch_all(self.pool()).await?)
    }

    /// Returns false when there is no such invite or it was revoked already.
    pub async fn revoke_invite(&self, id: i64, at: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE invites SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
            .bind(at)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Revokes every owner-setup link that is still unused, so only the newest
    /// one printed works.
    pub async fn revoke_unused_owner_setup(&self, at: i64) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE invites SET revoked_at = ? WHERE purpose = 'owner-setup' AND revoked_at IS NULL AND uses < max_uses",
        )
        .bind(at)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Uses up one use of the invite and creates the person it admits, with
    /// the invite's role, groups and grants, all in one transaction.
    pub async fn redeem_invite(
        &self,
        invite: &InviteRow,
        display_name: &str,
        credential: &super::NewCredential<'_>,
        at: i64,
    ) -> Result<Redemption> {
        let mut tx = self.pool().begin().await?;
        let used = sqlx::query(
            "UPDATE invites SET uses = uses + 1 \
             WHERE id = ? AND uses < max_uses AND revoked_at IS NULL AND expires_at > ?",
        )
        .bind(invite.id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        if used.rows_affected() != 1 {
            return Ok(Redemption::NoLongerValid);
        }
        let inserted = sqlx::query_scalar::<_, i64>(
            "INSERT INTO people (display_name, role, created_by, created_at, invite_id) VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(display_name)
        .bind(invite.role)
        .bind(invite.created_by)
        .bind(at)
        .bind(invite.id)
        .fetch_one(&mut *tx)
        .await;
        let person_id = match inserted {
            Ok(id) => id,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(Redemption::NameTaken),
            Err(e) => return Err(StoreError::Sql(e)),
        };
        if !super::passkeys::write_first(&mut tx, person_id, credential, at).await? {
            // A passkey already saved, or a handle already someone's: the
            // browser sent something porch has seen; nothing is joined.
            return Ok(Redemption::NoLongerValid);
        }
        add_groups(&mut tx, person_id, &invite.group_list()).await?;
        sqlx::query(
            "INSERT INTO grants (person_id, app_id, app_role) SELECT ?, app_id, app_role FROM invite_grants WHERE invite_id = ?",
        )
        .bind(person_id)
        .bind(invite.id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Redemption::Joined(person_id))
    }

    /// The people (not disabled) who joined through `invite`, if `app` made it.
    pub async fn joined_through(&self, app: &str, invite: i64) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT p.id FROM people p JOIN invites i ON p.invite_id = i.id \
             WHERE i.id = ? AND i.app_id = ? AND p.disabled_at IS NULL ORDER BY p.id",
        )
        .bind(invite)
        .bind(app)
        .fetch_all(self.pool())
        .await?)
    }

    /// Revokes `invite` if `app` made it and it is still live, and (unless
    /// `by` is `None`, an owner) only if `by` made it; true if it did.
    pub async fn revoke_app_invite(&self, app: &str, invite: i64, by: Option<i64>, at: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE invites SET revoked_at = ? WHERE id = ? AND app_id = ? AND revoked_at IS NULL \
             AND (? IS NULL OR created_by = ?)",
        )
        .bind(at)
        .bind(invite)
        .bind(app)
        .bind(by)
        .bind(by)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
