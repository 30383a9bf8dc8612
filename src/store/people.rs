//! Queries on people, their password credential, groups and app grants.

use serde::Serialize;
use sqlx::FromRow;

use super::{Result, Store};
use crate::common::clock::now;

/// A person's standing on this porch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "TEXT", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "member" => Some(Role::Member),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct PersonRow {
    pub id: i64,
    pub display_name: String,
    pub role: Role,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
    /// Comma-separated group names, sorted.
    #[sqlx(default)]
    pub groups: String,
}

impl PersonRow {
    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }

    pub fn group_list(&self) -> Vec<String> {
        split_list(&self.groups)
    }
}

pub(crate) fn split_list(s: &str) -> Vec<String> {
    s.split(',').filter(|g| !g.is_empty()).map(str::to_owned).collect()
}

/// The columns of a [`PersonRow`] from `people p`, groups included.
pub(super) const PERSON_COLUMNS: &str = "p.id, p.display_name, p.role, p.created_at, p.disabled_at, \
     COALESCE((SELECT group_concat(name, ',') FROM (SELECT g.name FROM person_groups pg \
       JOIN groups g ON g.id = pg.group_id WHERE pg.person_id = p.id ORDER BY g.name)), '') AS groups";

/// SQL that holds for the person `?2` unless they are the only owner who can
/// sign in: losing them (disabled, or no longer an owner) would leave none.
const KEEPS_AN_OWNER: &str = "(role != 'owner' OR disabled_at IS NOT NULL OR \
     (SELECT COUNT(*) FROM people WHERE role = 'owner' AND disabled_at IS NULL AND id != ?2) > 0)";

impl Store {
    pub async fn person(&self, id: i64) -> Result<Option<PersonRow>> {
        let sql = format!("SELECT {PERSON_COLUMNS} FROM people p WHERE p.id = ?");
        Ok(sqlx::query_as(&sql).bind(id).fetch_optional(self.pool()).await?)
    }

    pub async fn person_by_name(&self, name: &str) -> Result<Option<PersonRow>> {
        let sql = format!("SELECT {PERSON_COLUMNS} FROM people p WHERE p.display_name = ?");
        Ok(sqlx::query_as(&sql).bind(name).fetch_optional(self.pool()).await?)
    }

    pub async fn people(&self) -> Result<Vec<PersonRow>> {
        let sql = format!("SELECT {PERSON_COLUMNS} FROM people p ORDER BY p.display_name");
        Ok(sqlx::query_as(&sql).fetch_all(self.pool()).await?)
    }

    /// Owners who can still sign in.
    pub async fn active_owner_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM people WHERE role = 'owner' AND disabled_at IS NULL")
            .fetch_one(self.pool())
            .await?)
    }

    /// The argon2 PHC string of a person's password, if they have one.
    pub async fn password_hash(&self, person_id: i64) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT secret FROM credentials WHERE person_id = ? AND kind = 'password'")
            .bind(person_id)
            .fetch_optional(self.pool())
            .await?)
    }

    pub async fn touch_password(&self, person_id: i64) -> Result<()> {
        sqlx::query("UPDATE credentials SET last_used_at = ? WHERE person_id = ? AND kind = 'password'")
            .bind(now())
            .bind(person_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn set_password(&self, person_id: i64, phc: &str) -> Result<()> {
        let mut conn = self.pool().acquire().await?;
        write_password(&mut conn, person_id, phc, now()).await
    }

    /// Sets a person's role, unless that would leave no owner who can sign
    /// in: then nothing changes and the answer is false. The check and the
    /// change are one statement inside an IMMEDIATE transaction, so two
    /// owners demoting each other at once cannot both succeed (review
    /// finding L8).
    pub async fn set_role(&self, person_id: i64, role: Role) -> Result<bool> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let done =
            sqlx::query(&format!("UPDATE people SET role = ?1 WHERE id = ?2 AND (?1 = 'owner' OR {KEEPS_AN_OWNER})"))
                .bind(role)
                .bind(person_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        tx.commit().await?;
        Ok(done == 1)
    }

    /// Replaces a person's groups, creating groups that do not exist yet.
    pub async fn set_groups(&self, person_id: i64, groups: &[String]) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM person_groups WHERE person_id = ?").bind(person_id).execute(&mut *tx).await?;
        add_groups(&mut tx, person_id, groups).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Disables a person and ends every session and known device they have,
    /// in one step; `None` (and no change) if they are the last owner who
    /// can sign in (checked in the same IMMEDIATE transaction, L8).
    pub async fn disable_person(&self, person_id: i64) -> Result<Option<u64>> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query(&format!(
            "UPDATE people SET disabled_at = COALESCE(disabled_at, ?1) WHERE id = ?2 AND {KEEPS_AN_OWNER}"
        ))
        .bind(now())
        .bind(person_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 0 {
            return Ok(None);
        }
        let ended = sqlx::query("DELETE FROM sessions WHERE person_id = ?")
            .bind(person_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM devices WHERE person_id = ?").bind(person_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(ended))
    }

    pub async fn enable_person(&self, person_id: i64) -> Result<()> {
        sqlx::query("UPDATE people SET disabled_at = NULL WHERE id = ?").bind(person_id).execute(self.pool()).await?;
        Ok(())
    }

    /// (app id, app role) pairs granted to a person.
    pub async fn grants(&self, person_id: i64) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as("SELECT app_id, app_role FROM grants WHERE person_id = ? ORDER BY app_id")
            .bind(person_id)
            .fetch_all(self.pool())
            .await?)
    }
}

pub(crate) async fn add_groups(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    person_id: i64,
    groups: &[String],
) -> Result<()> {
    for name in groups {
        sqlx::query("INSERT INTO groups (name) VALUES (?) ON CONFLICT(name) DO NOTHING")
            .bind(name)
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "INSERT OR IGNORE INTO person_groups (person_id, group_id) SELECT ?, id FROM groups WHERE name = ?",
        )
        .bind(person_id)
        .bind(name)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Sets (or replaces) a person's password credential; shared by a password
/// change and a recovery link's transaction.
pub(super) async fn write_password(
    conn: &mut sqlx::SqliteConnection,
    person_id: i64,
    phc: &str,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO credentials (person_id, kind, secret, created_at) VALUES (?, 'password', ?, ?) \
         ON CONFLICT(person_id) WHERE kind = 'password' DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at",
    )
    .bind(person_id)
    .bind(phc)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}
