//! Recovery links ("sign in again"): the owner makes a one-time link for a
//! person who lost their way in (a forgotten password, a lost phone).
//! Opening it lets them set a new password, signs them in and, unless they
//! untick it, signs out their other devices. Their albums, grants and
//! history are untouched: nothing is re-invited. Shared by Admin → People
//! and `porch user recover`.

use std::time::Duration;

use super::error::GateError;
use super::password;
use super::secret::{self, Secret};
use crate::common::clock::now;
use crate::store::audit::{Action, Actor, record};
use crate::store::{NewCredential, PersonRow, RecoveryRow, Store};

/// A new link: shown once, stored nowhere.
#[derive(Debug)]
pub struct CreatedLink {
    pub link: String,
    pub expires_at: i64,
}

/// Makes a link for `person` that works once, for `lasts`; their earlier
/// unused links stop working. A disabled person gets none: enabling them is
/// the owner's separate, deliberate step.
pub async fn create(
    store: &Store,
    base_url: &str,
    person: &PersonRow,
    lasts: Duration,
    by: Actor,
) -> Result<CreatedLink, GateError> {
    if person.is_disabled() {
        return Err(GateError::Invalid(format!(
            "{} is turned off. Enable them first (Admin → People, or `porch user enable`), then make the link.",
            person.display_name
        )));
    }
    let secret = Secret::generate();
    let at = now();
    let expires_at = at.saturating_add(i64::try_from(lasts.as_secs()).unwrap_or(i64::MAX));
    store.create_recovery_link(secret.hash(), person.id, by.person_id(), at, expires_at).await?;
    let detail = format!("works once, for {}; earlier unused links revoked", humantime::format_duration(lasts));
    record(store, by, Action::RecoveryCreated, &person.display_name, &detail).await;
    Ok(CreatedLink { link: format!("{base_url}/recover/{}", secret.text()), expires_at })
}

/// The live link a presented token names, or `None` (audited) for anything
/// else: malformed, unknown, used, revoked, expired, or its person disabled.
pub async fn check(store: &Store, token: &str, ip: Option<String>) -> Result<Option<RecoveryRow>, GateError> {
    let found = match secret::hash_presented(token) {
        Some(hash) => {
            store.live_recovery_link(&hash, now()).await?.filter(|row| secret::hashes_match(&row.token_hash, &hash))
        }
        None => None,
    };
    if found.is_none() {
        record(store, Actor::Anonymous { ip }, Action::RecoveryRefused, "", "unknown, used or expired link").await;
    }
    Ok(found)
}

/// What became of a submitted recovery form.
pub enum Recovered {
    /// The new password is set; `ended` sessions were signed out.
    Done { person_id: i64, ended: u64 },
    /// The form needs another go; the message says why.
    Retry(String),
    /// The link stopped working meanwhile (used in another tab, replaced).
    Dead,
}

/// Sets the new password through the link, using it up.
pub async fn complete(
    store: &Store,
    link: &RecoveryRow,
    new_password: &str,
    confirm: &str,
    min_length: usize,
    sign_out_others: bool,
    ip: Option<String>,
) -> Result<Recovered, GateError> {
    if let Err(message) = password::check_new(new_password, confirm, min_length) {
        return Ok(Recovered::Retry(message));
    }
    let phc = password::hash(new_password.to_owned()).await?;
    complete_with(store, link, &NewCredential::Password(&phc), sign_out_others, ip).await
}

/// Uses up the link with a new password (hashed) or a passkey just made
/// (which also ends the old password).
pub async fn complete_with(
    store: &Store,
    link: &RecoveryRow,
    credential: &NewCredential<'_>,
    sign_out_others: bool,
    ip: Option<String>,
) -> Result<Recovered, GateError> {
    let Some(ended) = store.use_recovery_link(link.id, link.person_id, credential, sign_out_others, now()).await?
    else {
        return Ok(Recovered::Dead);
    };
    let what = match credential {
        NewCredential::Password(_) => "new password",
        NewCredential::Passkey { .. } => "new passkey, old password removed",
    };
    let detail = if sign_out_others {
        format!("{what}; {ended} session(s) ended and every device forgotten")
    } else {
        format!("{what}; other devices kept")
    };
    record(store, Actor::Person { id: link.person_id, ip }, Action::RecoveryUsed, &link.display_name, &detail).await;
    Ok(Recovered::Done { person_id: link.person_id, ended })
}
