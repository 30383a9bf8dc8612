//! The account page: who you are, which apps you can use, the browsers
//! signed in as you (each of which you can sign out), the devices porch
//! knows as yours (each of which you can forget), changing your password,
//! and signing out everywhere (review finding L9).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use minijinja::context;
use serde::Deserialize;

use super::door::CsrfOnly;
use crate::gate::Gate;
use crate::gate::error::GateError;
use crate::gate::web::{Checked, CsrfForm, SignedIn, Visitor};
use crate::gate::{password, people, sessions};
use crate::store::audit::{Action, record};

#[derive(Deserialize)]
pub struct AccountQuery {
    welcome: Option<String>,
    changed: Option<String>,
    pairing: Option<String>,
    /// `added`, `removed` or `last` after a passkey change.
    passkey: Option<String>,
    /// `saved` after the digest settings changed.
    mail: Option<String>,
}

pub async fn page(
    State(gate): State<Gate>,
    SignedIn(caller, visitor): SignedIn,
    Query(q): Query<AccountQuery>,
) -> Result<Html<String>, GateError> {
    let notice = match (q.changed.is_some(), q.passkey.as_deref()) {
        (true, _) => Some("Your password is changed. Every other device was signed out."),
        (_, Some("added")) => Some("Your passkey is saved. Next time, sign in with it: no password to type."),
        (_, Some("removed")) => Some("That passkey is removed. It no longer signs you in."),
        _ if q.mail.is_some() => Some("Your email settings are saved."),
        _ => None,
    };
    let last_way = q.passkey.as_deref() == Some("last");
    let pairing_ended = q.pairing.is_some();
    render(&gate, &caller, &visitor, Flags { welcome: q.welcome.is_some(), pairing_ended, last_way }, notice, None)
        .await
}

/// What the account page says at its top.
#[derive(Default, Clone, Copy)]
struct Flags {
    welcome: bool,
    pairing_ended: bool,
    /// A passkey removal was refused: it is their only way to sign in.
    last_way: bool,
}

/// The account page, with a notice or a password error when there is one.
async fn render(
    gate: &Gate,
    caller: &sessions::Caller,
    visitor: &Visitor,
    flags: Flags,
    notice: Option<&str>,
    password_error: Option<String>,
) -> Result<Html<String>, GateError> {
    let sessions = sessions::list(&gate.store, caller.person.id).await?;
    let devices = gate.store.devices_of(caller.person.id, sessions::devices_used_since(&gate.settings)).await?;
    let apps = gate.store.grants(caller.person.id).await?;
    let passkeys = gate.store.passkeys_of(caller.person.id).await?;
    let has_password = gate.store.has_password(caller.person.id).await?;
    let fresh = sessions::signed_in_within(&gate.store, caller, crate::common::limits::ADD_SIGN_IN_FRESH).await?;
    let mail = gate.store.mail_prefs(caller.person.id).await?;
    let ctx = context! {
        mail_on => gate.settings.mail.is_some(),
        mail_address => mail.as_ref().map(|m| m.address.clone()),
        mail_frequency => mail.as_ref().map_or("never", |m| if m.frequency == "digest" { "digest" } else if m.frequency == "weekly" { "weekly" } else { "never" }),
        quiet_minutes => gate.settings.activity.quiet_for.as_secs().div_ceil(60),
        digest_period => period_text(gate.settings.activity.digest_every.as_secs()),
        person => caller.person,
        groups => caller.person.group_list(),
        sessions,
        devices,
        current_session => caller.session_id,
        apps,
        welcome => flags.welcome,
        pairing_ended => flags.pairing_ended,
        last_way => flags.last_way,
        passkeys,
        has_password,
        fresh,
        passkeys_on => gate.passkeys.available(),
        notice,
        password_error,
        min_length => gate.settings.passwords.min_length,
        ..visitor.page_context()
    };
    gate.pages.render("account.html", ctx)
}

#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: String,
    /// Absent for someone who has only passkeys and sets a first password.
    #[serde(default)]
    current: String,
    password: String,
    confirm: String,
}

impl CsrfForm for PasswordForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Changes the signed-in person's password. They type the current one
/// first (a borrowed, still signed-in phone is not enough), through the
/// same sign-in throttle as the door; every other session ends.
pub async fn change_password(
    State(gate): State<Gate>,
    Checked(caller, visitor, form): Checked<PasswordForm>,
) -> Result<Response, GateError> {
    let person = &caller.person;
    let again = async |message: String| -> Result<Response, GateError> {
        let page = render(&gate, &caller, &visitor, Flags::default(), None, Some(message)).await?;
        Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
    };
    if let Err(message) = password::check_new(&form.password, &form.confirm, gate.settings.passwords.min_length) {
        return again(message).await;
    }
    // Someone with only passkeys sets a first password: no old one to
    // type, so the sign-in must be recent instead.
    let first = !gate.store.has_password(person.id).await?;
    if first {
        if !sessions::signed_in_within(&gate.store, &caller, crate::common::limits::ADD_SIGN_IN_FRESH).await? {
            return again(
                "You signed in a while ago. Sign out and in again (with your passkey), then set a password.".into(),
            )
            .await;
        }
    } else if let Err(message) =
        password_again(&gate, &visitor, person, &form.current, Action::PasswordChangeRefused).await?
    {
        return again(message).await;
    }
    let ended = people::set_password(&gate.store, person.id, &form.password, caller.session_id).await?;
    let detail = format!("{}{ended} other session(s) ended", if first { "first password set; " } else { "" });
    record(&gate.store, visitor.actor(), Action::PasswordChanged, &person.display_name, &detail).await;
    Ok(Redirect::to("/account?changed=1").into_response())
}

/// Checks the password a signed-in person typed again, through the same
/// sign-in throttle as the door; a wrong one is audited as `refused`.
/// The inner error is the sentence to show them.
pub(super) async fn password_again(
    gate: &Gate,
    visitor: &Visitor,
    person: &crate::store::PersonRow,
    typed: &str,
    refused: Action,
) -> Result<Result<(), String>, GateError> {
    let attempt = match gate.throttle.begin(visitor.group(), Some(&person.display_name), false) {
        Ok(attempt) => attempt,
        Err(wait) => return Ok(Err(format!("{} Try again in {} s.", wait.message(), wait.wait.as_secs().max(1)))),
    };
    if !people::password_matches(&gate.store, person.id, typed).await? {
        drop(attempt.failed());
        record(&gate.store, visitor.actor(), refused, &person.display_name, "wrong current password").await;
        return Ok(Err("Your current password is not right. Type it again.".into()));
    }
    attempt.succeeded();
    Ok(Ok(()))
}

/// Forgets one of the signed-in person's known devices.
pub async fn forget_device(
    State(gate): State<Gate>,
    Path(id): Path<i64>,
    Checked(caller, visitor, _): Checked<CsrfOnly>,
) -> Result<Response, GateError> {
    if !gate.store.forget_device(id, caller.person.id).await? {
        return Err(GateError::NotFound);
    }
    record(&gate.store, visitor.actor(), Action::DeviceForgotten, &caller.person.display_name, &format!("device {id}"))
        .await;
    Ok(Redirect::to("/account").into_response())
}

/// Ends every session of the signed-in person, this one too, and forgets
/// every device: for a lost phone.
pub async fn sign_out_everywhere(
    State(gate): State<Gate>,
    jar: CookieJar,
    Checked(caller, visitor, _): Checked<CsrfOnly>,
) -> Result<Response, GateError> {
    let ended = gate.store.sign_out_everywhere(caller.person.id).await?;
    let detail = format!("{ended} session(s) ended, every device forgotten");
    record(&gate.store, visitor.actor(), Action::SignoutEverywhere, &caller.person.display_name, &detail).await;
    let jar = jar.add(sessions::removal(&gate.settings)).add(sessions::device_removal(&gate.settings));
    Ok((jar, Redirect::to("/signin")).into_response())
}

pub async fn end_session(
    State(gate): State<Gate>,
    Path(id): Path<i64>,
    Checked(caller, visitor, _): Checked<CsrfOnly>,
) -> Result<Response, GateError> {
    if !gate.store.end_session(id, caller.person.id).await? {
        return Err(GateError::NotFound);
    }
    record(&gate.store, visitor.actor(), Action::SessionEnded, &caller.person.display_name, &format!("session {id}"))
        .await;
    let to = if id == caller.session_id { "/" } else { "/account" };
    Ok(Redirect::to(to).into_response())
}

/// "day", "2 days", "6 hours", "30 minutes": `activity.digest_every` as the
/// account page says it.
fn period_text(secs: u64) -> String {
    let (n, unit) = match secs {
        s if s >= 86_400 && s % 86_400 == 0 => (s / 86_400, "day"),
        s if s >= 3600 && s % 3600 == 0 => (s / 3600, "hour"),
        s => (s.div_ceil(60).max(1), "minute"),
    };
    if n == 1 { unit.to_owned() } else { format!("{n} {unit}s") }
}
