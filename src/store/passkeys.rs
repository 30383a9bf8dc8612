//! Passkey rows: a person's WebAuthn credentials (kind `passkey` in
//! `credentials`), their user handle, and removing one without ever
//! removing a person's last way to sign in.

use serde::Serialize;

use super::{Result, Store};
use crate::common::clock::now;

/// A passkey about to be saved: the id the browser will present, the
/// verifier porch checks signatures with (JSON), and the device's name.
pub struct NewPasskey {
    pub credential_id: Vec<u8>,
    pub verifier: String,
    pub label: String,
}

/// How a new person proves who they are from the start.
pub enum NewCredential<'a> {
    /// An argon2id PHC string.
    Password(&'a str),
    /// A passkey, and the user handle it was made with.
    Passkey { handle: &'a [u8], key: &'a NewPasskey },
}

/// A passkey as the account page lists it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PasskeyRow {
    pub id: i64,
    pub label: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A passkey found by the credential id a browser presented.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredPasskey {
    pub id: i64,
    pub person_id: i64,
    /// The person's user handle (checked against the one presented).
    pub handle: Option<Vec<u8>>,
    pub verifier: String,
}

/// What asking to remove a passkey did.
#[derive(Debug, PartialEq, Eq)]
pub enum Removal {
    Removed,
    NotFound,
    /// It is the person's only way to sign in; nothing changed.
    LastWay,
}

impl Store {
    /// The person's user handle, if they have ever made a passkey.
    pub async fn passkey_handle(&self, person_id: i64) -> Result<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar("SELECT passkey_handle FROM people WHERE id = ?")
            .bind(person_id)
            .fetch_optional(self.pool())
            .await?
            .flatten())
    }

    /// The person's passkeys, oldest first.
    pub async fn passkeys_of(&self, person_id: i64) -> Result<Vec<PasskeyRow>> {
        Ok(sqlx::query_as(
            "SELECT id, COALESCE(label, 'Passkey') AS label, created_at, last_used_at FROM credentials \
             WHERE person_id = ? AND kind = 'passkey' ORDER BY id",
        )
        .bind(person_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// The credential ids of the person's passkeys (so one device does not
    /// make a second passkey for the same person).
    pub async fn passkey_ids_of(&self, person_id: i64) -> Result<Vec<Vec<u8>>> {
        Ok(sqlx::query_scalar(
            "SELECT credential_id FROM credentials WHERE person_id = ? AND kind = 'passkey' AND credential_id IS NOT NULL",
        )
        .bind(person_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Whether the person has a password.
    pub async fn has_password(&self, person_id: i64) -> Result<bool> {
        Ok(self.password_hash(person_id).await?.is_some())
    }

    /// Saves a passkey for an existing person, giving them `handle` as
    /// their user handle if they had none. False if the credential id is
    /// already saved (for anyone) or the handle does not match theirs.
    pub async fn add_passkey(&self, person_id: i64, handle: &[u8], key: &NewPasskey) -> Result<bool> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        if !claim_handle(&mut tx, person_id, handle).await? {
            return Ok(false);
        }
        let added = write_passkey(&mut tx, person_id, key, now()).await?;
        if added {
            tx.commit().await?;
        }
        Ok(added)
    }

    /// The passkey a browser presented, by its credential id.
    pub async fn passkey_by_credential(&self, credential_id: &[u8]) -> Result<Option<StoredPasskey>> {
        Ok(sqlx::query_as(
            "SELECT c.id, c.person_id, p.passkey_handle AS handle, c.secret AS verifier \
             FROM credentials c JOIN people p ON p.id = c.person_id \
             WHERE c.kind = 'passkey' AND c.credential_id = ?",
        )
        .bind(credential_id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// After a sign-in: the verifier with its new counter, and when.
    pub async fn passkey_used(&self, id: i64, verifier: Option<&str>) -> Result<()> {
        sqlx::query(
            "UPDATE credentials SET secret = COALESCE(?, secret), last_used_at = ? WHERE id = ? AND kind = 'passkey'",
        )
        .bind(verifier)
        .bind(now())
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Removes one of the person's passkeys, unless nothing else would be
    /// left to sign in with (checked in the same transaction).
    pub async fn remove_passkey(&self, id: i64, person_id: i64) -> Result<Removal> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let mine: Option<i64> =
            sqlx::query_scalar("SELECT id FROM credentials WHERE id = ? AND person_id = ? AND kind = 'passkey'")
                .bind(id)
                .bind(person_id)
                .fetch_optional(&mut *tx)
                .await?;
        if mine.is_none() {
            return Ok(Removal::NotFound);
        }
        let others: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM credentials WHERE person_id = ? AND id != ?")
            .bind(person_id)
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        if others == 0 {
            return Ok(Removal::LastWay);
        }
        sqlx::query("DELETE FROM credentials WHERE id = ?").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Removal::Removed)
    }
}

/// Gives the person `handle` unless they have one; true if theirs is now
/// `handle`.
pub(super) async fn claim_handle(conn: &mut sqlx::SqliteConnection, person_id: i64, handle: &[u8]) -> Result<bool> {
    let theirs: Option<Option<Vec<u8>>> = sqlx::query_scalar(
        "UPDATE people SET passkey_handle = COALESCE(passkey_handle, ?) WHERE id = ? RETURNING passkey_handle",
    )
    .bind(handle)
    .bind(person_id)
    .fetch_optional(&mut *conn)
    .await
    .or_else(|e| match e {
        // Another person holds this handle (16 random bytes: never by chance).
        sqlx::Error::Database(d) if d.is_unique_violation() => Ok(None),
        e => Err(e),
    })?;
    Ok(theirs.flatten().is_some_and(|h| h == handle))
}

/// Inserts a passkey row; false if that credential id is already saved.
pub(super) async fn write_passkey(
    conn: &mut sqlx::SqliteConnection,
    person_id: i64,
    key: &NewPasskey,
    at: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO credentials (person_id, kind, secret, created_at, label, credential_id) \
         VALUES (?, 'passkey', ?, ?, ?, ?) ON CONFLICT DO NOTHING",
    )
    .bind(person_id)
    .bind(&key.verifier)
    .bind(at)
    .bind(&key.label)
    .bind(&key.credential_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Writes a new person's first credential.
pub(super) async fn write_first(
    conn: &mut sqlx::SqliteConnection,
    person_id: i64,
    credential: &NewCredential<'_>,
    at: i64,
) -> Result<bool> {
    match credential {
        NewCredential::Password(phc) => {
            super::people::write_password(conn, person_id, phc, at).await?;
            Ok(true)
        }
        NewCredential::Passkey { handle, key } => {
            Ok(claim_handle(conn, person_id, handle).await? && write_passkey(conn, person_id, key, at).await?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn key(id: u8) -> NewPasskey {
        NewPasskey { credential_id: vec![id; 16], verifier: "{}".into(), label: format!("phone {id}") }
    }

    #[tokio::test]
    async fn the_last_way_to_sign_in_cannot_be_removed() {
        let (_dir, store, id) = store_with("Grandma").await;
        assert!(store.add_passkey(id, &[7; 16], &key(1)).await.expect("add"));
        assert!(store.add_passkey(id, &[7; 16], &key(2)).await.expect("add"));
        assert!(!store.add_passkey(id, &[7; 16], &key(2)).await.expect("add"), "the same credential twice");
        assert!(!store.add_passkey(id, &[8; 16], &key(3)).await.expect("add"), "another handle");
        let keys = store.passkeys_of(id).await.expect("list");
        assert_eq!(keys.len(), 2);
        assert_eq!(store.remove_passkey(keys[0].id, id).await.expect("rm"), Removal::Removed);
        assert_eq!(store.remove_passkey(keys[1].id, id).await.expect("rm"), Removal::LastWay);
        assert_eq!(store.remove_passkey(keys[1].id, id + 1).await.expect("rm"), Removal::NotFound);
        store.set_password(id, "$argon2id$x").await.expect("password");
        assert_eq!(store.remove_passkey(keys[1].id, id).await.expect("rm"), Removal::Removed);
        assert!(store.passkeys_of(id).await.expect("list").is_empty());
    }

    #[tokio::test]
    async fn a_handle_belongs_to_one_person() {
        let (_dir, store, a) = store_with("A").await;
        let b: i64 = sqlx::query_scalar(
            "INSERT INTO people (display_name, role, created_at) VALUES ('B', 'member', 0) RETURNING id",
        )
        .fetch_one(store.pool())
        .await
        .expect("person");
        assert!(store.add_passkey(a, &[1; 16], &key(1)).await.expect("add"));
        assert!(!store.add_passkey(b, &[1; 16], &key(2)).await.expect("add"), "A's handle is not B's");
        let found = store.passkey_by_credential(&[1; 16]).await.expect("find").expect("found");
        assert_eq!((found.person_id, found.handle), (a, Some(vec![1; 16])));
    }
}
