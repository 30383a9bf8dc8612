//! The `invites` capability: the host side of `porch:app/invites`. An app
//! asks for an invite on behalf of the person whose request it serves; the
//! layer that owns invites (the gate, through the [`Inviter`] it hands the
//! apps layer at start) checks the owner's policy and makes it. What the app
//! learns afterwards is only who joined through which of its invites.

use std::sync::Arc;

use super::bindings::porch::app::invites;
use super::bindings::porch::app::types::Error;
use super::host::AppState;
use crate::common::clock::now;
use crate::store::audit::{Action, Actor, record};

/// What an app asks for: a one-person invite into `app` at `role`, made by
/// `person`, landing on `landing`.
#[derive(Debug)]
pub struct InviteAsk<'a> {
    pub app: &'a str,
    /// The app's roles in its manifest's order (which is their rank).
    pub roles: &'a [String],
    pub person: i64,
    pub role: &'a str,
    pub note: &'a str,
    pub landing: &'a str,
}

/// A made invite: the link exists only here and in the app's answer.
#[derive(Debug)]
pub struct MadeInvite {
    pub id: i64,
    pub link: String,
    pub qr_svg: String,
    pub expires_at: i64,
}

/// Makes invites for apps under the owner's policy (`invites.from_apps`);
/// implemented by the gate, which owns invites.
#[async_trait::async_trait]
pub trait Inviter: Send + Sync {
    /// The invite, or why not in a sentence for the person who asked.
    async fn create(&self, ask: InviteAsk<'_>) -> Result<MadeInvite, String>;
    /// Whether `person` owns this porch (an owner may revoke any of an
    /// app's invites).
    async fn is_owner(&self, person: i64) -> bool;
}

/// The shared slot the gate fills at start; empty in the CLI, where no app
/// serves requests.
pub type InviterSlot = Arc<std::sync::OnceLock<Arc<dyn Inviter>>>;

fn not_declared() -> Error {
    Error::Invalid("this app did not declare `invites = true` under [capabilities] in its app.toml".into())
}

impl invites::Host for AppState {
    async fn create(&mut self, role: String, note: String, landing: String) -> Result<invites::Invite, Error> {
        let scope = self.scope();
        if !scope.manifest.capabilities.invites {
            return Err(not_declared());
        }
        let Some(person) = self.person() else {
            return Err(Error::Invalid("only a request from a signed-in person can make an invite".into()));
        };
        let Some(inviter) = scope.inviter.get() else {
            return Err(Error::Unsupported("this porch is not making invites right now".into()));
        };
        let ask = InviteAsk {
            app: &scope.manifest.id,
            roles: &scope.manifest.roles,
            person,
            role: &role,
            note: &note,
            landing: &landing,
        };
        match inviter.create(ask).await {
            Ok(made) => {
                Ok(invites::Invite { id: made.id, link: made.link, qr_svg: made.qr_svg, expires_at: made.expires_at })
            }
            Err(why) => Err(Error::Unsupported(why)),
        }
    }

    async fn joined(&mut self, invite: i64) -> Result<Vec<i64>, Error> {
        let scope = self.scope();
        if !scope.manifest.capabilities.invites {
            return Err(not_declared());
        }
        scope.store.joined_through(&scope.manifest.id, invite).await.map_err(internal)
    }

    async fn revoke(&mut self, invite: i64) -> Result<bool, Error> {
        let scope = self.scope();
        if !scope.manifest.capabilities.invites {
            return Err(not_declared());
        }
        let Some(person) = self.person() else { return Ok(false) };
        let owner = match scope.inviter.get() {
            Some(inviter) => inviter.is_owner(person).await,
            None => false,
        };
        let by = if owner { None } else { Some(person) };
        let revoked = scope.store.revoke_app_invite(&scope.manifest.id, invite, by, now()).await.map_err(internal)?;
        if revoked {
            let actor = Actor::Person { id: person, ip: None };
            let detail = format!("through the app {}", scope.manifest.id);
            record(&scope.store, actor, Action::InviteRevoked, &format!("invite {invite}"), &detail).await;
        }
        Ok(revoked)
    }
}

fn internal(e: impl std::fmt::Display) -> Error {
    tracing::error!(error = %e, "an app's invites call failed");
    Error::Internal("porch could not complete this call; try again later".into())
}
