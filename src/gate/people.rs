//! People policy: signing in, disabling and enabling, changing role and
//! groups, with the one rule that keeps a porch usable: the last owner who
//! can sign in cannot be disabled or demoted.

use super::error::GateError;
use super::password;
use crate::store::audit::{Action, Actor, record};
use crate::store::{PersonRow, Role, Store};

/// Finds a person by numeric id or by name (as the CLI accepts either).
pub async fn find(store: &Store, id_or_name: &str) -> Result<PersonRow, GateError> {
    let by_id = match id_or_name.parse::<i64>() {
        Ok(id) => store.person(id).await?,
        Err(_) => None,
    };
    let found = match by_id {
        Some(p) => Some(p),
        None => store.person_by_name(id_or_name).await?,
    };
    found.ok_or_else(|| {
        GateError::Invalid(format!("no person with id or name \"{id_or_name}\"; `porch user list` shows everyone"))
    })
}

/// Outcome of a sign-in attempt.
pub enum SignIn {
    Ok(PersonRow),
    /// Name unknown or password wrong; which one is not said.
    Wrong,
    /// Right password, but the owner turned this account off.
    Disabled,
}

/// Checks a name and password. The work done is the same whether or not the
/// name exists, and every attempt is audited.
pub async fn sign_in(store: &Store, name: &str, password_text: &str, ip: Option<String>) -> Result<SignIn, GateError> {
    let name = name.trim();
    let person = store.person_by_name(name).await?;
    let phc = match &person {
        Some(p) => store.password_hash(p.id).await?,
        None => None,
    };
    let ok = password::verify(password_text.to_owned(), phc).await?;
    let outcome = match person {
        Some(p) if ok && p.is_disabled() => SignIn::Disabled,
        Some(p) if ok => SignIn::Ok(p),
        _ => SignIn::Wrong,
    };
    match &outcome {
        SignIn::Ok(p) => {
            store.touch_password(p.id).await?;
            record(store, Actor::Person { id: p.id, ip }, Action::SigninOk, &p.display_name, "password").await;
        }
        SignIn::Wrong => {
            let shown: String = name.chars().take(40).collect();
            record(store, Actor::Anonymous { ip }, Action::SigninFailed, &shown, "wrong name or password").await;
        }
        SignIn::Disabled => {
            record(store, Actor::Anonymous { ip }, Action::SigninFailed, name, "account disabled").await;
        }
    }
    Ok(outcome)
}

/// Whether `password_text` is this person's password (one argon2 check).
pub async fn password_matches(store: &Store, person_id: i64, password_text: &str) -> Result<bool, GateError> {
    let phc = store.password_hash(person_id).await?;
    let known = phc.is_some();
    Ok(password::verify(password_text.to_owned(), phc).await? && known)
}

/// Sets a new password (already checked by `password::check_new`) and ends
/// every other session of that person; returns how many ended.
pub async fn set_password(
    store: &Store,
    person_id: i64,
    password_text: &str,
    keep_session: i64,
) -> Result<u64, GateError> {
    let phc = password::hash(password_text.to_owned()).await?;
    store.set_password(person_id, &phc).await?;
    Ok(store.end_other_sessions(person_id, keep_session).await?)
}

fn last_owner(person: &PersonRow) -> GateError {
    GateError::Forbidden(format!(
        "{} is the only owner who can sign in; make someone else an owner first, or nobody could run this porch",
        person.display_name
    ))
}

/// Disables a person and ends all their sessions and known devices at once.
/// Returns how many sessions ended. The last owner who can sign in is
/// refused, checked in the same transaction as the change.
pub async fn disable(store: &Store, person: &PersonRow, by: Actor) -> Result<u64, GateError> {
    let ended = store.disable_person(person.id).await?.ok_or_else(|| last_owner(person))?;
    let detail = format!("{ended} session(s) ended");
    record(store, by, Action::PersonDisabled, &person.display_name, &detail).await;
    Ok(ended)
}

pub async fn enable(store: &Store, person: &PersonRow, by: Actor) -> Result<(), GateError> {
    store.enable_person(person.id).await?;
    record(store, by, Action::PersonEnabled, &person.display_name, "").await;
    Ok(())
}

/// Sets role and groups; demoting the last owner is refused.
pub async fn change(
    store: &Store,
    person: &PersonRow,
    role: Role,
    groups: &[String],
    by: Actor,
) -> Result<(), GateError> {
    if role != person.role && !store.set_role(person.id, role).await? {
        return Err(last_owner(person));
    }
    store.set_groups(person.id, groups).await?;
    let detail = format!("role {role}, groups [{}]", groups.join(", "));
    record(store, by, Action::PersonChanged, &person.display_name, &detail).await;
    Ok(())
}
