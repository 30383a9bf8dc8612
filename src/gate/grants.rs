//! Grants: which person may use which app, in which of the roles the app's
//! manifest declares. Shared by the CLI and the admin pages.

use super::error::GateError;
use crate::apps::Manifest;
use crate::store::audit::{Action, Actor, record};
use crate::store::{PersonRow, Store};

/// Gives `person` the role `role` in the installed app `app_id`.
pub async fn grant(store: &Store, person: &PersonRow, app_id: &str, role: &str, by: Actor) -> Result<(), GateError> {
    let Some(app) = store.app(app_id).await? else {
        return Err(GateError::Invalid(format!("no app \"{app_id}\" is installed; `porch app list` shows them")));
    };
    let manifest = Manifest::parse(&app.manifest).map_err(|e| GateError::App(e.to_string()))?;
    if !manifest.roles.iter().any(|r| r == role) {
        return Err(GateError::Invalid(format!(
            "{} has no role \"{role}\"; its roles are: {}",
            manifest.name,
            manifest.roles.join(", ")
        )));
    }
    store.grant(person.id, app_id, role).await?;
    record(store, by, Action::GrantChanged, &person.display_name, &format!("{app_id}: {role}")).await;
    Ok(())
}

/// Takes an app away from a person; their open app sessions end at once.
pub async fn revoke(store: &Store, person: &PersonRow, app_id: &str, by: Actor) -> Result<bool, GateError> {
    let done = store.revoke_grant(person.id, app_id).await?;
    if done {
        record(store, by, Action::GrantRevoked, &person.display_name, app_id).await;
    }
    Ok(done)
}
