//! Invites an app asks for (the `invites` capability): the gate's side of
//! `apps::invites::Inviter`. The owner's policy (`invites.from_apps`) says
//! which app roles may invite; an invite made this way admits one person as
//! a member, with only that app at a role no higher than the inviter's, and
//! lands them on the page of the app that asked. Everything else about it
//! (hash-only storage, expiry, audit, Admin → Invites) is a normal invite's.

use std::sync::Arc;

use crate::apps::invites::{InviteAsk, Inviter, MadeInvite};
use crate::common::limits::MAX_INVITE_NOTE;
use crate::config::Settings;
use crate::store::audit::Actor;
use crate::store::{Role, Store};

use super::invites::{self, InviteRequest, qr_svg};

pub struct AppInviter {
    pub store: Store,
    pub settings: Settings,
    pub base_url: String,
}

impl AppInviter {
    pub fn new(store: Store, settings: Settings, base_url: String) -> Arc<AppInviter> {
        Arc::new(AppInviter { store, settings, base_url })
    }

    /// Why `person` may not invite someone into `ask.app` at `ask.role`, if
    /// they may not.
    async fn refusal(&self, ask: &InviteAsk<'_>) -> Result<Option<String>, String> {
        let rank = |role: &str| ask.roles.iter().position(|r| r == role);
        let Some(wanted) = rank(ask.role) else {
            return Ok(Some(format!("\"{}\" is not one of this app's roles ({})", ask.role, ask.roles.join(", "))));
        };
        let person = self.store.person(ask.person).await.map_err(|e| e.to_string())?;
        let Some(person) = person.filter(|p| p.disabled_at.is_none()) else {
            return Ok(Some("only people of this porch can invite".into()));
        };
        if person.role == Role::Owner {
            return Ok(None);
        }
        let grants = self.store.grants(ask.person).await.map_err(|e| e.to_string())?;
        let Some(mine) = grants.iter().find(|(app, _)| app == ask.app).and_then(|(_, role)| rank(role)) else {
            return Ok(Some("you have no role in this app".into()));
        };
        let lowest =
            self.settings.invites.from_apps.iter().filter(|(app, _)| app == ask.app).filter_map(|(_, r)| rank(r)).min();
        match lowest {
            None => Ok(Some(
                "the owner of this porch has not let people invite through this app; ask them to invite the person"
                    .into(),
            )),
            Some(lowest) if mine < lowest => Ok(Some(format!(
                "the owner of this porch lets only people with the role {} (or a higher one) invite through this app",
                ask.roles[lowest]
            ))),
            Some(_) if wanted > mine => {
                Ok(Some(format!("you can invite people as {} at most, the role you have yourself", ask.roles[mine])))
            }
            Some(_) => Ok(None),
        }
    }
}

/// A landing path: on the app's own host, no scheme, no `//`.
fn valid_landing(landing: &str) -> bool {
    landing.starts_with('/')
        && !landing.starts_with("//")
        && landing.len() <= 512
        && landing.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
}

#[async_trait::async_trait]
impl Inviter for AppInviter {
    async fn create(&self, ask: InviteAsk<'_>) -> Result<MadeInvite, String> {
        if !valid_landing(ask.landing) {
            return Err(format!("{:?} is not a path in this app (it must start with one /)", ask.landing));
        }
        let note = ask.note.trim();
        if note.chars().count() > MAX_INVITE_NOTE {
            return Err(format!("the note can be at most {MAX_INVITE_NOTE} characters"));
        }
        if let Some(why) = self.refusal(&ask).await? {
            return Err(why);
        }
        let request = InviteRequest {
            note: if note.is_empty() { format!("Invited through {}", ask.app) } else { note.to_owned() },
            role: Role::Member,
            groups: Vec::new(),
            grants: vec![(ask.app.to_owned(), ask.role.to_owned())],
            expires: self.settings.invites.expires,
            uses: 1,
            app: Some((ask.app.to_owned(), ask.landing.to_owned())),
        };
        let actor = Actor::Person { id: ask.person, ip: None };
        let created = invites::create(&self.store, &self.base_url, request, actor).await.map_err(|e| e.to_string())?;
        let row = self.store.invite(created.id).await.map_err(|e| e.to_string())?;
        Ok(MadeInvite {
            id: created.id,
            qr_svg: qr_svg(&created.link).unwrap_or_default(),
            link: created.link,
            expires_at: row.map_or(0, |r| r.expires_at),
        })
    }

    async fn is_owner(&self, person: i64) -> bool {
        matches!(self.store.person(person).await, Ok(Some(p)) if p.role == Role::Owner && p.disabled_at.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real store with an owner, a contributor and a viewer of "photos".
    async fn porch(from_apps: &str) -> (tempfile::TempDir, AppInviter, [i64; 3]) {
        let dir = tempfile::TempDir::new().expect("dir");
        let store = Store::open(dir.path()).await.expect("store");
        let manifest = "id = \"photos\"\nname = \"Photos\"\nversion = \"1.0.0\"\nroles = [\"viewer\", \"contributor\", \"editor\"]\n";
        sqlx::query("INSERT INTO apps (id, name, version, manifest, component_sha256, installed_at) VALUES ('photos', 'Photos', '1.0.0', ?, '', 0)")
            .bind(manifest)
            .execute(store.pool())
            .await
            .expect("app");
        let mut ids = [0; 3];
        for (i, (name, role, grant)) in
            [("Olivia", "owner", None), ("Rita", "member", Some("contributor")), ("Victor", "member", Some("viewer"))]
                .into_iter()
                .enumerate()
        {
            ids[i] =
                sqlx::query_scalar("INSERT INTO people (display_name, role, created_at) VALUES (?, ?, 0) RETURNING id")
                    .bind(name)
                    .bind(role)
                    .fetch_one(store.pool())
                    .await
                    .expect("person");
            if let Some(grant) = grant {
                sqlx::query("INSERT INTO grants (person_id, app_id, app_role) VALUES (?, 'photos', ?)")
                    .bind(ids[i])
                    .bind(grant)
                    .execute(store.pool())
                    .await
                    .expect("grant");
            }
        }
        let mut settings = Settings::defaults().expect("defaults");
        settings.invites.from_apps = from_apps
            .split(',')
            .filter_map(|r| r.trim().split_once(':'))
            .map(|(app, role)| (app.to_owned(), role.to_owned()))
            .collect();
        (dir, AppInviter { store, settings, base_url: "https://family.example".into() }, ids)
    }

    fn ask<'a>(roles: &'a [String], person: i64, role: &'a str) -> InviteAsk<'a> {
        InviteAsk { app: "photos", roles, person, role, note: "May", landing: "/a/x" }
    }

    #[tokio::test]
    async fn an_app_invites_only_as_the_owner_allows_and_never_above_the_inviter() {
        let roles: Vec<String> = ["viewer", "contributor", "editor"].map(String::from).to_vec();
        let (_dir, inviter, [olivia, rita, victor]) = porch("photos:contributor").await;
        // A contributor invites viewers and contributors, never editors.
        assert!(inviter.create(ask(&roles, rita, "viewer")).await.is_ok());
        let made = inviter.create(ask(&roles, rita, "contributor")).await.expect("as herself");
        assert!(made.link.starts_with("https://family.example/join/") && made.qr_svg.contains("<svg"));
        let above = inviter.create(ask(&roles, rita, "editor")).await.expect_err("above her own");
        assert!(above.contains("contributor at most"), "{above}");
        // A viewer is below what the owner allows.
        let viewer = inviter.create(ask(&roles, victor, "viewer")).await.expect_err("viewer");
        assert!(viewer.contains("only people with the role contributor"), "{viewer}");
        // Not a role of the app, and a landing off the app's host.
        assert!(inviter.create(ask(&roles, rita, "admin")).await.is_err());
        let away = InviteAsk { landing: "//evil.example/", ..ask(&roles, rita, "viewer") };
        assert!(inviter.create(away).await.is_err());
        // porch's owner always may, at any role.
        assert!(inviter.create(ask(&roles, olivia, "editor")).await.is_ok());
        // The invite admits one member with that app only, and names the app.
        let row = inviter.store.invite(made.id).await.expect("read").expect("row");
        assert_eq!((row.max_uses, row.role, row.grants.as_str()), (1, Role::Member, "photos:contributor"));
        assert_eq!((row.app_id.as_deref(), row.landing.as_deref()), (Some("photos"), Some("/a/x")));

        let (_dir, nobody, [_, rita, _]) = porch("").await;
        let refused = nobody.create(ask(&roles, rita, "viewer")).await.expect_err("nobody may");
        assert!(refused.contains("has not let people invite"), "{refused}");
    }

    #[test]
    fn landings_stay_on_the_apps_own_host() {
        assert!(valid_landing("/a/abc123") && valid_landing("/"));
        for bad in ["", "a/b", "//evil.example/x", "https://evil.example/", "/a b", "/\\evil", "/\u{e9}"] {
            assert!(!valid_landing(bad), "{bad:?}");
        }
    }
}
