//! Queries on installed apps, grants, and the app-host handshake: one-time
//! tickets and the app sessions they turn into.

use serde::Serialize;
use sqlx::FromRow;

use super::{Result, Store};

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct AppRow {
    pub id: String,
    pub name: String,
    pub version: String,
    pub manifest: String,
    pub component_sha256: String,
    pub bundled: bool,
    pub installed_at: i64,
    /// What porch did to the app on its own (went back after a failed
    /// update), until the next install; empty if nothing.
    #[sqlx(default)]
    pub notice: String,
}

/// The version an update replaced, kept for a rollback.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct PreviousApp {
    pub app_id: String,
    pub name: String,
    pub version: String,
    pub manifest: String,
    pub component_sha256: String,
    pub installed_at: i64,
}

/// How an install changes what was there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Keep the version being replaced as the one to roll back to.
    Previous,
    /// Forget any earlier version (a new app, or another publisher's).
    Nothing,
}

/// Who is behind a live app session.
#[derive(Debug, Clone, FromRow)]
pub struct AppVisitor {
    pub session_id: i64,
    pub session_last_seen_at: i64,
    pub person_id: i64,
    pub display_name: String,
    pub app_role: String,
    /// `owner` or `member`.
    pub person_role: String,
    /// The app's installed component, so the request needs no second query
    /// to know which build to run.
    pub component_sha256: String,
}

impl Store {
    /// Makes `app` the installed version of its id, published by
    /// `publisher`, in one transaction: the version it replaces becomes the
    /// one to roll back to (with [`Keep::Previous`]), grants of roles the
    /// new manifest no longer declares move to `default_role`, and any
    /// notice is cleared. Returns how many grants moved.
    pub async fn install_app(&self, app: &AppRow, publisher: &str, roles: &[String], keep: Keep) -> Result<u64> {
        let mut tx = self.pool().begin().await?;
        match keep {
            Keep::Previous => {
                sqlx::query(
                    "INSERT OR REPLACE INTO app_previous (app_id, name, version, manifest, component_sha256, installed_at) \
                     SELECT id, name, version, manifest, component_sha256, installed_at FROM apps WHERE id = ?",
                )
                .bind(&app.id)
                .execute(&mut *tx)
                .await?;
            }
            Keep::Nothing => {
                sqlx::query("DELETE FROM app_previous WHERE app_id = ?").bind(&app.id).execute(&mut *tx).await?;
            }
        }
        sqlx::query(
            "INSERT INTO apps (id, name, version, manifest, component_sha256, bundled, installed_at, notice) \
             VALUES (?, ?, ?, ?, ?, ?, ?, '') ON CONFLICT(id) DO UPDATE SET name = excluded.name, \
             version = excluded.version, manifest = excluded.manifest, component_sha256 = excluded.component_sha256, \
             bundled = excluded.bundled, installed_at = excluded.installed_at, notice = ''",
        )
        .bind(&app.id)
        .bind(&app.name)
        .bind(&app.version)
        .bind(&app.manifest)
        .bind(&app.component_sha256)
        .bind(app.bundled)
        .bind(app.installed_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO app_publishers (app_id, publisher, since) VALUES (?, ?, ?) \
             ON CONFLICT(app_id) DO UPDATE SET since = CASE WHEN publisher = excluded.publisher THEN since \
             ELSE excluded.since END, publisher = excluded.publisher",
        )
        .bind(&app.id)
        .bind(publisher)
        .bind(app.installed_at)
        .execute(&mut *tx)
        .await?;
        let moved = move_undeclared_grants(&mut tx, &app.id, roles).await?;
        tx.commit().await?;
        Ok(moved)
    }

    /// The publisher key (hex) an app id belongs to here, if any.
    pub async fn app_publisher(&self, id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT publisher FROM app_publishers WHERE app_id = ?")
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// The version an update replaced, if one is kept.
    pub async fn app_previous(&self, id: &str) -> Result<Option<PreviousApp>> {
        Ok(sqlx::query_as("SELECT * FROM app_previous WHERE app_id = ?").bind(id).fetch_optional(self.pool()).await?)
    }

    /// Swaps an app's installed and previous versions (so a second rollback
    /// goes forward again), setting `notice`. The roles the restored
    /// manifest declares are given (its grants move as an install's do).
    /// None if there is no previous version.
    pub async fn roll_back_app(
        &self,
        id: &str,
        roles_of: impl Fn(&str) -> Vec<String>,
        notice: &str,
        at: i64,
    ) -> Result<Option<(AppRow, PreviousApp)>> {
        // Immediate: it reads, then writes. A deferred transaction whose
        // read snapshot another connection moved past cannot take the write
        // lock (SQLITE_BUSY_SNAPSHOT, which no busy timeout waits out), and
        // an automatic rollback failed that way under load in CI.
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let current: Option<AppRow> =
            sqlx::query_as("SELECT * FROM apps WHERE id = ?").bind(id).fetch_optional(&mut *tx).await?;
        let previous: Option<PreviousApp> =
            sqlx::query_as("SELECT * FROM app_previous WHERE app_id = ?").bind(id).fetch_optional(&mut *tx).await?;
        let (Some(current), Some(previous)) = (current, previous) else { return Ok(None) };
        sqlx::query(
            "UPDATE app_previous SET name = ?, version = ?, manifest = ?, component_sha256 = ?, installed_at = ? \
             WHERE app_id = ?",
        )
        .bind(&current.name)
        .bind(&current.version)
        .bind(&current.manifest)
        .bind(&current.component_sha256)
        .bind(current.installed_at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE apps SET name = ?, version = ?, manifest = ?, component_sha256 = ?, installed_at = ?, notice = ? \
             WHERE id = ?",
        )
        .bind(&previous.name)
        .bind(&previous.version)
        .bind(&previous.manifest)
        .bind(&previous.component_sha256)
        .bind(at)
        .bind(notice)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        move_undeclared_grants(&mut tx, id, &roles_of(&previous.manifest)).await?;
        tx.commit().await?;
        Ok(Some((current, previous)))
    }

    /// Deletes everything of an app id, installed or only kept: its row,
    /// versions, grants, sessions, data and publisher. Returns the blob
    /// hashes that may now be unreferenced.
    pub async fn forget_app(&self, id: &str) -> Result<Vec<String>> {
        // Immediate for the same reason as `roll_back_app`: read, then write.
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let hashes = sqlx::query_scalar("SELECT DISTINCT sha256 FROM app_blobs WHERE app_id = ?")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM apps WHERE id = ?").bind(id).execute(&mut *tx).await?;
        for table in [
            "grants",
            "app_sessions",
            "app_triggers",
            "app_kv",
            "app_blobs",
            "app_usage",
            "app_publishers",
            "uploads",
            "media_jobs",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE app_id = ?")).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(hashes)
    }

    /// When porch last ran an app's trigger, if ever.
    pub async fn trigger_last_run(&self, app_id: &str, name: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT last_run FROM app_triggers WHERE app_id = ? AND name = ?")
            .bind(app_id)
            .bind(name)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Records that an app's trigger ran (or is taken as run) at `at`.
    pub async fn set_trigger_run(&self, app_id: &str, name: &str, at: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO app_triggers (app_id, name, last_run) VALUES (?, ?, ?) \
             ON CONFLICT(app_id, name) DO UPDATE SET last_run = excluded.last_run",
        )
        .bind(app_id)
        .bind(name)
        .bind(at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Component hashes some installed or previous version uses.
    pub async fn app_components_in_use(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT component_sha256 FROM apps UNION SELECT component_sha256 FROM app_previous")
            .fetch_all(self.pool())
            .await?)
    }

    pub async fn app(&self, id: &str) -> Result<Option<AppRow>> {
        Ok(sqlx::query_as("SELECT * FROM apps WHERE id = ?").bind(id).fetch_optional(self.pool()).await?)
    }

    pub async fn apps(&self) -> Result<Vec<AppRow>> {
        Ok(sqlx::query_as("SELECT * FROM apps ORDER BY id").fetch_all(self.pool()).await?)
    }

    /// The component hash of an installed app (the hot-path check that the
    /// running server still serves what is installed).
    pub async fn app_component(&self, id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT component_sha256 FROM apps WHERE id = ?")
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Removes an app and its grants; with `purge` also its kv and blob rows.
    /// Returns the blob hashes that may now be unreferenced.
    /// Whether anything of an app with this id is kept here: its row, or
    /// data a removal kept (kv, blobs, usage).
    pub async fn app_id_in_use(&self, id: &str) -> Result<bool> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS(SELECT 1 FROM apps WHERE id = ?1) OR EXISTS(SELECT 1 FROM app_kv WHERE app_id = ?1) \
             OR EXISTS(SELECT 1 FROM app_blobs WHERE app_id = ?1) OR EXISTS(SELECT 1 FROM grants WHERE app_id = ?1)",
        )
        .bind(id)
        .fetch_one(self.pool())
        .await?)
    }

    pub async fn remove_app(&self, id: &str, purge: bool) -> Result<Option<Vec<String>>> {
        let mut tx = self.pool().begin().await?;
        let gone = sqlx::query("DELETE FROM apps WHERE id = ?").bind(id).execute(&mut *tx).await?.rows_affected();
        if gone == 0 {
            return Ok(None);
        }
        sqlx::query("DELETE FROM grants WHERE app_id = ?").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM app_sessions WHERE app_id = ?").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM app_triggers WHERE app_id = ?").bind(id).execute(&mut *tx).await?;
        let mut hashes = Vec::new();
        if purge {
            hashes = sqlx::query_scalar("SELECT DISTINCT sha256 FROM app_blobs WHERE app_id = ?")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
            for table in ["app_kv", "app_blobs", "app_usage", "app_publishers", "uploads", "media_jobs"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE app_id = ?")).bind(id).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(Some(hashes))
    }

    pub async fn grant(&self, person_id: i64, app_id: &str, app_role: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO grants (person_id, app_id, app_role) VALUES (?, ?, ?) \
             ON CONFLICT(person_id, app_id) DO UPDATE SET app_role = excluded.app_role",
        )
        .bind(person_id)
        .bind(app_id)
        .bind(app_role)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn revoke_grant(&self, person_id: i64, app_id: &str) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query("DELETE FROM grants WHERE person_id = ? AND app_id = ?")
            .bind(person_id)
            .bind(app_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "DELETE FROM app_sessions WHERE app_id = ? AND session_id IN (SELECT id FROM sessions WHERE person_id = ?)",
        )
        .bind(app_id)
        .bind(person_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done == 1)
    }

    /// The role a person has in an app, if any.
    pub async fn app_role(&self, person_id: i64, app_id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT app_role FROM grants WHERE person_id = ? AND app_id = ?")
            .bind(person_id)
            .bind(app_id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// People with a grant for the app who can sign in: (id, name, groups, role).
    pub async fn app_people(&self, app_id: &str) -> Result<Vec<(i64, String, String, String)>> {
        Ok(sqlx::query_as(
            "SELECT p.id, p.display_name, \
               COALESCE((SELECT group_concat(g.name, ',') FROM person_groups pg JOIN groups g ON g.id = pg.group_id \
                         WHERE pg.person_id = p.id), ''), \
               gr.app_role \
             FROM grants gr JOIN people p ON p.id = gr.person_id \
             WHERE gr.app_id = ? AND p.disabled_at IS NULL ORDER BY p.display_name",
        )
        .bind(app_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn create_ticket(
        &self,
        token_hash: &[u8; 32],
        session_id: i64,
        app_id: &str,
        expires_at: i64,
        state_hash: &[u8; 32],
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO app_tickets (token_hash, session_id, app_id, expires_at, state_hash) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&token_hash[..])
        .bind(session_id)
        .bind(app_id)
        .bind(expires_at)
        .bind(&state_hash[..])
        .execute(self.pool())
        .await?;
        sqlx::query("DELETE FROM app_tickets WHERE expires_at <= ?")
            .bind(crate::common::clock::now())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Consumes a ticket (it works once) and returns its porch session id
    /// and the hash of the browser state it was made for, if it was live
    /// and for this app.
    pub async fn take_ticket(
        &self,
        token_hash: &[u8; 32],
        app_id: &str,
        now: i64,
    ) -> Result<Option<(i64, Option<Vec<u8>>)>> {
        let row: Option<(Option<i64>, Option<Vec<u8>>)> = sqlx::query_as(
            "DELETE FROM app_tickets WHERE token_hash = ? RETURNING \
             CASE WHEN app_id = ? AND expires_at > ? THEN session_id END, state_hash",
        )
        .bind(&token_hash[..])
        .bind(app_id)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.and_then(|(session, state)| Some((session?, state))))
    }

    pub async fn create_app_session(
        &self,
        token_hash: &[u8; 32],
        session_id: i64,
        app_id: &str,
        at: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO app_sessions (token_hash, session_id, app_id, created_at) VALUES (?, ?, ?, ?)")
            .bind(&token_hash[..])
            .bind(session_id)
            .bind(app_id)
            .bind(at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The person behind an app session, if the session, its porch session,
    /// the person and their grant are all still good.
    pub async fn app_visitor(&self, token_hash: &[u8; 32], app_id: &str, now: i64) -> Result<Option<AppVisitor>> {
        Ok(sqlx::query_as(
            "SELECT s.id AS session_id, s.last_seen_at AS session_last_seen_at, p.id AS person_id, \
                    p.display_name, g.app_role, p.role AS person_role, ap.component_sha256 \
             FROM app_sessions a \
             JOIN apps ap ON ap.id = a.app_id \
             JOIN sessions s ON s.id = a.session_id \
             JOIN people p ON p.id = s.person_id \
             JOIN grants g ON g.person_id = p.id AND g.app_id = a.app_id \
             WHERE a.token_hash = ? AND a.app_id = ? AND s.expires_at > ? AND p.disabled_at IS NULL",
        )
        .bind(&token_hash[..])
        .bind(app_id)
        .bind(now)
        .fetch_optional(self.pool())
        .await?)
    }
}

/// Grants of roles `roles` does not declare move to its first role (the
/// least one, by the manifest's convention). Returns how many moved.
async fn move_undeclared_grants(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    app_id: &str,
    roles: &[String],
) -> Result<u64> {
    let Some(default) = roles.first() else { return Ok(0) };
    let held: Vec<String> = sqlx::query_scalar("SELECT DISTINCT app_role FROM grants WHERE app_id = ?")
        .bind(app_id)
        .fetch_all(&mut **tx)
        .await?;
    let mut moved = 0;
    for role in held.iter().filter(|r| !roles.contains(r)) {
        moved += sqlx::query("UPDATE grants SET app_role = ? WHERE app_id = ? AND app_role = ?")
            .bind(default)
            .bind(app_id)
            .bind(role)
            .execute(&mut **tx)
            .await?
            .rows_affected();
    }
    Ok(moved)
}
