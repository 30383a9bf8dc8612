//! Invite policy: what a valid invite request is, making the link (shown
//! once), the owner's first setup link, checking a presented token, and
//! redeeming it into a new person. Shared by the admin pages and the CLI.

use crate::common::limits::{MAX_DISPLAY_NAME, MAX_INVITE_EXPIRY, MAX_INVITE_NOTE, MAX_INVITE_USES, MIN_INVITE_EXPIRY};
use crate::common::names::{valid_app_id, valid_name};
use std::time::Duration;

use super::error::GateError;
use super::password;
use super::secret::{self, Secret};
use crate::common::clock::now;
use crate::config::Settings;
use crate::store::audit::{Action, Actor, record};
use crate::store::{InviteRow, InviteStatus, NewCredential, NewInvite, Redemption, Role, Store};

/// What the owner asks for when making an invite.
#[derive(Debug, Clone)]
pub struct InviteRequest {
    pub note: String,
    pub role: Role,
    pub groups: Vec<String>,
    /// (app id, app role)
    pub grants: Vec<(String, String)>,
    pub expires: Duration,
    pub uses: u32,
    /// Made through an app's `invites` capability: (app id, landing path).
    pub app: Option<(String, String)>,
}

/// A new invite: its id and the link, which exists nowhere else.
#[derive(Debug)]
pub struct CreatedInvite {
    pub id: i64,
    pub link: String,
}

/// Parses `family, friends` into checked group names.
pub fn parse_groups(text: &str) -> Result<Vec<String>, GateError> {
    let mut groups = Vec::new();
    for g in text.split(',').map(|g| g.trim().to_ascii_lowercase()).filter(|g| !g.is_empty()) {
        if !valid_name(&g) {
            return Err(GateError::Invalid(format!(
                "\"{g}\" is not a usable group name: use 1 to 32 lower-case letters, digits, '-' or '_'"
            )));
        }
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    Ok(groups)
}

/// Parses `photos:viewer` into an (app, role) grant.
pub fn parse_grant(text: &str) -> Result<(String, String), GateError> {
    let text = text.trim().to_ascii_lowercase();
    match text.split_once(':') {
        Some((app, role)) if valid_app_id(app) && valid_name(role) => Ok((app.to_owned(), role.to_owned())),
        _ => Err(GateError::Invalid(format!(
            "\"{text}\" is not an app grant: write it as APP:ROLE, for example photos:viewer"
        ))),
    }
}

/// A link as an inline SVG QR code, made here (no outside service).
pub fn qr_svg(link: &str) -> Option<String> {
    let code = qrcode::QrCode::new(link.as_bytes()).ok()?;
    Some(code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(240, 240).quiet_zone(true).build())
}

pub fn join_link(base_url: &str, token: &str) -> String {
    format!("{base_url}/join/{token}")
}

/// Creates an invite after checking the request. `by` is the person making
/// it (`None`: the command line).
pub async fn create(store: &Store, base_url: &str, req: InviteRequest, by: Actor) -> Result<CreatedInvite, GateError> {
    let note = req.note.trim().to_owned();
    if note.chars().count() > MAX_INVITE_NOTE {
        return Err(GateError::Invalid(format!("The note can be at most {MAX_INVITE_NOTE} characters.")));
    }
    if !(1..=MAX_INVITE_USES).contains(&req.uses) {
        return Err(GateError::Invalid(format!("An invite can be used from 1 to {MAX_INVITE_USES} times.")));
    }
    if !(MIN_INVITE_EXPIRY..=MAX_INVITE_EXPIRY).contains(&req.expires) {
        return Err(GateError::Invalid("An invite can last from 1 second to 365 days.".into()));
    }
    for (app, role) in &req.grants {
        check_grant(store, app, role).await?;
    }
    let secret = Secret::generate();
    let created_at = now();
    let expires_at = created_at.saturating_add(i64::try_from(req.expires.as_secs()).unwrap_or(i64::MAX));
    let id = store
        .create_invite(&NewInvite {
            token_hash: *secret.hash(),
            owner_setup: false,
            note: note.clone(),
            role: req.role,
            created_by: by.person_id(),
            created_at,
            expires_at,
            max_uses: i64::from(req.uses),
            groups: req.groups.clone(),
            grants: req.grants.clone(),
            app: req.app.clone(),
        })
        .await?;
    let grants: Vec<String> = req.grants.iter().map(|(a, r)| format!("{a}:{r}")).collect();
    let mut detail = format!(
        "note {note:?}, role {}, groups [{}], apps [{}], {} use(s), expires in {}",
        req.role,
        req.groups.join(", "),
        grants.join(", "),
        req.uses,
        humantime::format_duration(req.expires)
    );
    if let Some((app, landing)) = &req.app {
        detail += &format!(", made through the app {app} (lands on {landing})");
    }
    record(store, by, Action::InviteCreated, &format!("invite {id}"), &detail).await;
    Ok(CreatedInvite { id, link: join_link(base_url, secret.text()) })
}

/// While no owner can sign in, makes a fresh one-time owner setup link (and
/// revokes older unused ones, so only the newest printed link works).
pub async fn ensure_owner_setup(
    store: &Store,
    settings: &Settings,
    base_url: &str,
) -> Result<Option<String>, GateError> {
    if store.active_owner_count().await? > 0 {
        return Ok(None);
    }
    let at = now();
    store.revoke_unused_owner_setup(at).await?;
    let secret = Secret::generate();
    let expires = i64::try_from(settings.invites.expires.as_secs()).unwrap_or(i64::MAX);
    let id = store
        .create_invite(&NewInvite {
            token_hash: *secret.hash(),
            owner_setup: true,
            note: "Owner setup".into(),
            role: Role::Owner,
            created_by: None,
            created_at: at,
            expires_at: at.saturating_add(expires),
            max_uses: 1,
            groups: Vec::new(),
            grants: owner_grants(store).await?,
            app: None,
        })
        .await?;
    record(store, Actor::System, Action::InviteCreated, &format!("invite {id}"), "owner setup link").await;
    Ok(Some(join_link(base_url, secret.text())))
}

/// The first owner gets every installed app in its last (fullest) role, so
/// the demo's apps open right after setup.
async fn owner_grants(store: &Store) -> Result<Vec<(String, String)>, GateError> {
    let mut grants = Vec::new();
    for app in store.apps().await? {
        match crate::apps::Manifest::parse(&app.manifest) {
            Ok(m) => {
                if let Some(role) = m.roles.last() {
                    grants.push((m.id.clone(), role.clone()));
                }
            }
            Err(e) => tracing::warn!(app = %app.id, error = %e, "installed app has a bad manifest"),
        }
    }
    Ok(grants)
}

/// An invite may only grant a role the app declares, in an app installed
/// here: a typo would otherwise become a grant no page can show or change.
async fn check_grant(store: &Store, app_id: &str, role: &str) -> Result<(), GateError> {
    let Some(app) = store.app(app_id).await? else {
        return Err(GateError::Invalid(format!("There is no app \"{app_id}\" here; `porch app list` shows them.")));
    };
    let manifest = crate::apps::Manifest::parse(&app.manifest).map_err(|e| GateError::App(e.to_string()))?;
    if !manifest.roles.iter().any(|r| r == role) {
        return Err(GateError::Invalid(format!(
            "{} has no role \"{role}\"; its roles are: {}.",
            manifest.name,
            manifest.roles.join(", ")
        )));
    }
    Ok(())
}

/// Revokes an invite; false if it did not exist or was revoked already.
pub async fn revoke(store: &Store, id: i64, by: Actor) -> Result<bool, GateError> {
    let done = store.revoke_invite(id, now()).await?;
    if done {
        record(store, by, Action::InviteRevoked, &format!("invite {id}"), "").await;
    }
    Ok(done)
}

/// Finds the live invite behind a presented token. Anything else (malformed,
/// unknown, expired, used up, revoked) is audited with its reason and comes
/// back as `None`, so every dead link looks the same to the visitor.
pub async fn check(store: &Store, token: &str, ip: Option<String>) -> Result<Option<InviteRow>, GateError> {
    let found = match secret::hash_presented(token) {
        Some(hash) => store.invite_by_hash(&hash).await?.filter(|row| secret::hashes_match(&row.token_hash, &hash)),
        None => None,
    };
    let (subject, reason) = match &found {
        None => (String::new(), "unknown or malformed token"),
        Some(row) => match row.status(now()) {
            InviteStatus::Active => return Ok(found),
            status => (format!("invite {}", row.id), status.as_str()),
        },
    };
    record(store, Actor::Anonymous { ip }, Action::InviteRefused, &subject, reason).await;
    Ok(None)
}

/// What happened when someone submitted the join form.
pub enum JoinResult {
    Joined {
        person_id: i64,
    },
    /// The form needs another go; the message says why.
    Retry(String),
    /// The invite stopped working meanwhile.
    Dead,
}

/// Redeems the invite for a name and password already checked by
/// [`super::forms::JoinForm::check`].
pub async fn join(
    store: &Store,
    invite: &InviteRow,
    name: &str,
    password_text: &str,
    ip: Option<String>,
) -> Result<JoinResult, GateError> {
    if store.person_by_name(name).await?.is_some() {
        return Ok(JoinResult::Retry(format!("Someone here is already called \"{name}\". Please pick another name.")));
    }
    let phc = password::hash(password_text.to_owned()).await?;
    join_with(store, invite, name, &NewCredential::Password(&phc), ip).await
}

/// Redeems `invite` into a new person called `name` who signs in with
/// `credential` (a password already hashed, or a passkey just made).
pub async fn join_with(
    store: &Store,
    invite: &InviteRow,
    name: &str,
    credential: &NewCredential<'_>,
    ip: Option<String>,
) -> Result<JoinResult, GateError> {
    match store.redeem_invite(invite, name, credential, now()).await? {
        Redemption::Joined(person_id) => {
            let subject = format!("invite {}", invite.id);
            let with = match credential {
                NewCredential::Password(_) => "a password",
                NewCredential::Passkey { .. } => "a passkey",
            };
            let detail = format!("{name} joined as {} with {with}", invite.role);
            record(store, Actor::Person { id: person_id, ip }, Action::InviteUsed, &subject, &detail).await;
            Ok(JoinResult::Joined { person_id })
        }
        Redemption::NameTaken => {
            Ok(JoinResult::Retry(format!("Someone here is already called \"{name}\". Please pick another name.")))
        }
        Redemption::NoLongerValid => Ok(JoinResult::Dead),
    }
}

/// A display name: 1 to 40 printable characters, no leading/trailing space.
pub fn check_display_name(name: &str) -> Result<(), String> {
    let count = name.chars().count();
    if count == 0 {
        return Err("Please pick a name others will know you by.".into());
    }
    if count > MAX_DISPLAY_NAME {
        return Err(format!("Your name can have at most {MAX_DISPLAY_NAME} characters."));
    }
    if name.chars().any(char::is_control) {
        return Err("Your name cannot contain control characters.".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_and_grants_parse_strictly() {
        assert_eq!(parse_groups(" Family, friends ,family").expect("ok"), vec!["family", "friends"]);
        assert!(parse_groups("../etc").is_err());
        assert_eq!(parse_grant("photos:viewer").expect("ok"), ("photos".into(), "viewer".into()));
        assert!(parse_grant("photos").is_err());
        assert!(parse_grant("photos:").is_err());
    }

    #[test]
    fn display_names() {
        assert!(check_display_name("Grandma").is_ok());
        assert!(check_display_name("").is_err());
        assert!(check_display_name("a\u{7}b").is_err());
        assert!(check_display_name(&"x".repeat(MAX_DISPLAY_NAME)).is_ok());
        assert!(check_display_name(&"x".repeat(MAX_DISPLAY_NAME + 1)).is_err());
    }
}
