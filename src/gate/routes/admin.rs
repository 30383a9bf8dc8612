//! The owner's admin pages: people (role, groups, disable, a one-time
//! sign-in link for someone locked out), invites (create
//! with a QR code shown once, list, revoke), certificates, blocks and the
//! audit log. Apps are in `admin_apps`.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;

use super::door::CsrfOnly;
use crate::common::clock::now;
use crate::common::limits::MAX_INVITE_USES;
use crate::gate::Gate;
use crate::gate::error::GateError;
use crate::gate::invites::{self, InviteRequest};
use crate::gate::web::{CsrfForm, Owner, OwnerForm};
use crate::gate::{people, recovery};
use crate::store::Role;

pub async fn people_page(State(gate): State<Gate>, Owner(visitor): Owner) -> Result<Html<String>, GateError> {
    let people = gate.store.people().await?;
    gate.pages.render("admin_people.html", context! { people, ..visitor.page_context() })
}

#[derive(Deserialize)]
pub struct PersonForm {
    csrf: String,
    role: String,
    #[serde(default)]
    groups: String,
}

impl CsrfForm for PersonForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub(super) async fn person(gate: &Gate, id: i64) -> Result<crate::store::PersonRow, GateError> {
    gate.store.person(id).await?.ok_or(GateError::NotFound)
}

pub async fn person_change(
    State(gate): State<Gate>,
    Path(id): Path<i64>,
    OwnerForm(visitor, form): OwnerForm<PersonForm>,
) -> Result<Response, GateError> {
    let person = person(&gate, id).await?;
    let role = Role::parse(&form.role).ok_or_else(|| GateError::Invalid("role must be owner or member".into()))?;
    let groups = invites::parse_groups(&form.groups)?;
    people::change(&gate.store, &person, role, &groups, visitor.actor()).await?;
    Ok(Redirect::to("/admin/people").into_response())
}

pub async fn person_disable(
    State(gate): State<Gate>,
    Path(id): Path<i64>,
    OwnerForm(visitor, _): OwnerForm<CsrfOnly>,
) -> Result<Response, GateError> {
    let person = person(&gate, id).await?;
    people::disable(&gate.store, &person, visitor.actor()).await?;
    Ok(Redirect::to("/admin/people").into_response())
}

pub async fn person_enable(
    State(gate): State<Gate>,
    Path(id): Path<i64>,
    OwnerForm(visitor, _): OwnerForm<CsrfOnly>,
) -> Result<Response, GateError> {
    let person = person(&gate, id).await?;
    people::enable(&gate.store, &person, visitor.actor()).await?;
    Ok(Redirect::to("/admin/people").into_response())
}

/// Makes a one-time "sign in again" link for a person and shows it once,
/// with a QR code for their phone.
pub async fn person_recover(
    State(gate): State<Gate>,
    Path(id): Path<i64>,
    OwnerForm(visitor, _): OwnerForm<CsrfOnly>,
) -> Result<Response, GateError> {
    let person = person(&gate, id).await?;
    let lasts = gate.settings.recovery.expires;
    let created = recovery::create(&gate.store, &gate.base_url, &person, lasts, visitor.actor()).await?;
    let qr = invites::qr_svg(&created.link);
    let ctx = context! { link => created.link, qr, person, expires_at => created.expires_at, ..visitor.page_context() };
    Ok(gate.pages.render("admin_recovery_created.html", ctx)?.into_response())
}

/// Expiry choices offered by the form, in seconds.
const EXPIRY_CHOICES: &[(&str, u64)] =
    &[("1 hour", 3600), ("1 day", 86400), ("7 days", 7 * 86400), ("30 days", 30 * 86400), ("90 days", 90 * 86400)];

async fn render_invites(
    gate: &Gate,
    visitor: &crate::gate::Visitor,
    error: Option<String>,
) -> Result<Html<String>, GateError> {
    let at = now();
    let invites: Vec<_> = gate
        .store
        .invites()
        .await?
        .into_iter()
        .map(|i| {
            let status = i.status(at).as_str();
            let groups = i.group_list();
            let grants = i.grant_list();
            context! { status, groups, grants, ..minijinja::Value::from_serialize(&i) }
        })
        .collect();
    let expiries: Vec<_> = EXPIRY_CHOICES.iter().map(|(label, secs)| context! { label, secs }).collect();
    // Each installed app with the roles its manifest declares, offered as
    // choices (never typed as APP:ROLE text).
    let apps: Vec<_> = gate
        .store
        .apps()
        .await?
        .into_iter()
        .map(|row| {
            let roles = crate::apps::Manifest::parse(&row.manifest).map(|m| m.roles).unwrap_or_default();
            context! { id => row.id, name => row.name, roles }
        })
        .collect();
    let ctx = context! {
        invites,
        expiries,
        apps,
        default_expiry => gate.settings.invites.expires.as_secs(),
        default_uses => gate.settings.invites.uses,
        error,
        ..visitor.page_context()
    };
    gate.pages.render("admin_invites.html", ctx)
}

pub async fn invites_page(State(gate): State<Gate>, Owner(visitor): Owner) -> Result<Html<String>, GateError> {
    render_invites(&gate, &visitor, None).await
}

/// The invite form as its fields arrive: one `grant` per installed app
/// (`APP:ROLE`, or empty for no access), the rest once each. A form with
/// no token field at all is malformed (422), like every other form.
#[derive(Deserialize)]
#[serde(try_from = "Vec<(String, String)>")]
pub struct InviteForm(Vec<(String, String)>);

impl TryFrom<Vec<(String, String)>> for InviteForm {
    type Error = &'static str;

    fn try_from(fields: Vec<(String, String)>) -> Result<Self, Self::Error> {
        if fields.iter().any(|(k, _)| k == "csrf") { Ok(InviteForm(fields)) } else { Err("missing field `csrf`") }
    }
}

impl InviteForm {
    fn field(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }
}

impl CsrfForm for InviteForm {
    fn csrf(&self) -> &str {
        self.field("csrf")
    }
}

fn invite_request(form: &InviteForm) -> Result<InviteRequest, GateError> {
    let role =
        Role::parse(form.field("role")).ok_or_else(|| GateError::Invalid("role must be owner or member".into()))?;
    let grants = form
        .0
        .iter()
        .filter(|(k, v)| k == "grant" && !v.trim().is_empty())
        .map(|(_, v)| invites::parse_grant(v))
        .collect::<Result<Vec<_>, _>>()?;
    let expires = form
        .field("expires")
        .trim()
        .parse::<u64>()
        .map_err(|_| GateError::Invalid("Pick how long the link works from the list.".into()))?;
    let uses = form.field("uses").trim().parse::<u32>().map_err(|_| {
        GateError::Invalid(format!("How many people can use it: a whole number from 1 to {MAX_INVITE_USES}."))
    })?;
    Ok(InviteRequest {
        note: form.field("note").to_owned(),
        role,
        groups: invites::parse_groups(form.field("groups"))?,
        grants,
        expires: Duration::from_secs(expires),
        uses,
        app: None,
    })
}

pub async fn invite_create(
    State(gate): State<Gate>,
    OwnerForm(visitor, form): OwnerForm<InviteForm>,
) -> Result<Response, GateError> {
    let request = match invite_request(&form) {
        Ok(r) => r,
        Err(e @ GateError::Invalid(_)) => {
            return Ok(render_invites(&gate, &visitor, Some(e.public_message())).await?.into_response());
        }
        Err(e) => return Err(e),
    };
    let created = match invites::create(&gate.store, &gate.base_url, request, visitor.actor()).await {
        Ok(c) => c,
        Err(e @ GateError::Invalid(_)) => {
            return Ok(render_invites(&gate, &visitor, Some(e.public_message())).await?.into_response());
        }
        Err(e) => return Err(e),
    };
    let qr = invites::qr_svg(&created.link);
    let invite = gate.store.invite(created.id).await?.ok_or(GateError::NotFound)?;
    let ctx = context! { link => created.link, qr, invite, ..visitor.page_context() };
    Ok(gate.pages.render("admin_invite_created.html", ctx)?.into_response())
}

pub async fn invite_revoke(
    State(gate): State<Gate>,
    Path(id): Path<i64>,
    OwnerForm(visitor, _): OwnerForm<CsrfOnly>,
) -> Result<Response, GateError> {
    invites::revoke(&gate.store, id, visitor.actor()).await?;
    Ok(Redirect::to("/admin/invites").into_response())
}

#[derive(Deserialize)]
pub struct AuditQuery {
    limit: Option<i64>,
}

pub async fn audit_page(
    State(gate): State<Gate>,
    Owner(visitor): Owner,
    Query(q): Query<AuditQuery>,
) -> Result<Html<String>, GateError> {
    let limit = q.limit.unwrap_or(200).clamp(1, 5000);
    let events = gate.store.audit_events(limit).await?;
    gate.pages.render("admin_audit.html", context! { events, limit, ..visitor.page_context() })
}

pub async fn certificates_page(State(gate): State<Gate>, Owner(visitor): Owner) -> Result<Html<String>, GateError> {
    let report = gate.certificates.as_ref().map(|c| c.report());
    let mode = gate.settings.tls.as_str();
    let (certificates, next_renewal, last_error, last_error_at, failures, challenge, source) = match report {
        Some(r) => {
            let certificates: Vec<_> = r
                .certificates
                .into_iter()
                .map(|c| context! { names => c.names.join(", "), issuer => c.issuer, not_after => c.not_after })
                .collect();
            let (at, error) = r.last_error.map_or((None, None), |(at, e)| (Some(at), Some(e)));
            (certificates, r.next_renewal, error, at, r.failures, r.challenge, r.source)
        }
        None => (Vec::new(), None, None, None, 0, None, String::new()),
    };
    gate.pages.render(
        "admin_certificates.html",
        context! { mode, source, certificates, next_renewal, last_error, last_error_at, failures, challenge, ..visitor.page_context() },
    )
}

pub async fn certificates_renew(
    State(gate): State<Gate>,
    OwnerForm(visitor, _): OwnerForm<CsrfOnly>,
) -> Result<Response, GateError> {
    if let Some(certificates) = &gate.certificates {
        certificates.renew_now();
        crate::store::audit::record(
            &gate.store,
            visitor.actor(),
            crate::store::audit::Action::TlsRenewRequested,
            &gate.settings.domain,
            "",
        )
        .await;
    }
    Ok(Redirect::to("/admin/certificates").into_response())
}

pub async fn backups_page(State(gate): State<Gate>, Owner(visitor): Owner) -> Result<Html<String>, GateError> {
    let backup = gate.backups.as_ref().map(|b| b.report());
    gate.pages.render("admin_backups.html", context! { backup, ..visitor.page_context() })
}

pub async fn backups_now(
    State(gate): State<Gate>,
    OwnerForm(visitor, _): OwnerForm<CsrfOnly>,
) -> Result<Response, GateError> {
    if let Some(backups) = &gate.backups {
        backups.back_up_now();
        crate::store::audit::record(&gate.store, visitor.actor(), crate::store::audit::Action::BackupRequested, "", "")
            .await;
    }
    Ok(Redirect::to("/admin/backups").into_response())
}

pub async fn blocks_page(State(gate): State<Gate>, Owner(visitor): Owner) -> Result<Html<String>, GateError> {
    let entries = gate.throttle.report();
    let s = &gate.settings.signin;
    let rules = context! {
        free => s.free_failures,
        block_after => s.block_after,
        block_minutes => s.block_for.as_secs().div_ceil(60),
        account_free => s.account_free_failures,
    };
    gate.pages.render("admin_blocks.html", context! { entries, rules, ..visitor.page_context() })
}

#[derive(Deserialize)]
pub struct LiftForm {
    csrf: String,
    kind: String,
    key: String,
}

impl CsrfForm for LiftForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn blocks_lift(
    State(gate): State<Gate>,
    OwnerForm(visitor, form): OwnerForm<LiftForm>,
) -> Result<Response, GateError> {
    if gate.throttle.lift(&form.kind, &form.key) {
        // A client is kept in the audit log as its network only: the ip
        // column is shortened after keep_ips, a subject never would be (L7).
        let shown: String = match form.key.parse::<std::net::IpAddr>() {
            Ok(ip) if form.kind == "client" => crate::common::net::network_of(ip),
            _ => form.key.chars().take(64).collect(),
        };
        let detail = format!("lifted the {} limit", form.kind);
        crate::store::audit::record(
            &gate.store,
            visitor.actor(),
            crate::store::audit::Action::SigninUnblocked,
            &shown,
            &detail,
        )
        .await;
    }
    Ok(Redirect::to("/admin/blocks").into_response())
}
