//! The front door: signing in and out, and joining through an invite link.
//! Every try passes the sign-in throttle first; failures feed it.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use minijinja::context;
use serde::Deserialize;

use crate::gate::Gate;
use crate::gate::budget::too_many;
use crate::gate::error::GateError;
use crate::gate::forms::{JoinForm, SignInForm};
use crate::gate::invites::{self, JoinResult};
use crate::gate::people::{self, SignIn};
use crate::gate::sessions;
use crate::gate::throttle;
use crate::gate::web::{Checked, CsrfForm, Visitor, safe_next};
use crate::store::audit::{Action, record};

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn signin_page(
    State(gate): State<Gate>,
    visitor: Visitor,
    Query(q): Query<NextQuery>,
) -> Result<Response, GateError> {
    let next = safe_next(q.next.as_deref());
    if visitor.caller.is_some() {
        return Ok(Redirect::to(&next).into_response());
    }
    let passkeys = gate.passkeys.available();
    Ok(gate.pages.render("signin.html", context! { next, passkeys, ..visitor.page_context() })?.into_response())
}

pub async fn signin_submit(
    State(gate): State<Gate>,
    visitor: Visitor,
    jar: CookieJar,
    Form(form): Form<SignInForm>,
) -> Result<Response, GateError> {
    let next = safe_next(form.next.as_deref());
    let client = visitor.group();
    let known = sessions::known_device(&gate.store, &gate.settings, &jar).await?;
    let known_here = match known {
        Some(id) => gate.store.person(id).await?.is_some_and(|p| p.display_name.eq_ignore_ascii_case(form.name.trim())),
        None => false,
    };
    let attempt = match gate.throttle.begin(client, Some(&form.name), known_here) {
        Ok(attempt) => attempt,
        Err(wait) => return Ok(throttled(&gate, &visitor, wait)),
    };
    let error = match people::sign_in(&gate.store, &form.name, &form.password, visitor.ip_text()).await? {
        SignIn::Ok(person) => {
            attempt.succeeded();
            let cookie = sessions::start(&gate.store, &gate.settings, person.id, &visitor.user_agent).await?;
            let mut jar = jar.add(cookie);
            if let Some(device) =
                sessions::remember_device(&gate.store, &gate.settings, person.id, known, &visitor.user_agent).await?
            {
                jar = jar.add(device);
            }
            return Ok((jar, Redirect::to(&next)).into_response());
        }
        // A turned-off account is answered exactly like a wrong password,
        // so a guess learns nothing about the password (review finding L9).
        SignIn::Wrong | SignIn::Disabled => "That name and password do not match. Check both and try again.",
    };
    failed(&gate, &visitor, attempt).await;
    let passkeys = gate.passkeys.available();
    let page = gate.pages.render("signin.html", context! { next, error, passkeys, name => form.name })?;
    Ok((StatusCode::UNAUTHORIZED, page).into_response())
}

/// The 429 page for a try the throttle holds back.
pub(super) fn throttled(gate: &Gate, visitor: &Visitor, wait: throttle::Wait) -> Response {
    too_many(gate, StatusCode::TOO_MANY_REQUESTS, wait.wait, wait.message(), visitor)
}

/// Ends a try as a failed sign-in or dead invite link, auditing any block or
/// slow-down it starts.
pub(super) async fn failed(gate: &Gate, visitor: &Visitor, attempt: throttle::Attempt<'_>) {
    for event in attempt.failed() {
        let (action, target, detail) = match event {
            // The subject names the network only: the full address is in
            // the ip column, which keep_ips shortens; a subject is kept as
            // it is (review finding L7).
            throttle::Event::ClientBlocked { client, failures, minutes } => (
                Action::SigninBlocked,
                crate::common::net::network_of(client),
                format!(
                    "{failures} failed sign-ins or dead invite links; no more tries for {minutes} min (Admin, Blocks can lift it)"
                ),
            ),
            throttle::Event::AccountSlowed { account, failures } => (
                Action::SigninSlowed,
                account,
                format!("{failures} failed sign-ins from anywhere; new devices now wait between tries"),
            ),
        };
        record(&gate.store, visitor.actor(), action, &target, &detail).await;
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

impl CsrfForm for CsrfOnly {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn signout(
    State(gate): State<Gate>,
    jar: CookieJar,
    Checked(caller, visitor, _): Checked<CsrfOnly>,
) -> Result<Response, GateError> {
    gate.store.end_session(caller.session_id, caller.person.id).await?;
    record(&gate.store, visitor.actor(), Action::Signout, &caller.person.display_name, "").await;
    Ok((jar.add(sessions::removal(&gate.settings)), Redirect::to("/")).into_response())
}

/// How every one-time link page (invite, recovery, pairing) starts: a try
/// through the sign-in throttle, then the token checked by `check` (which
/// runs only once the try is let through). A held-back try gets the 429
/// page; a dead link fails the try and gets the dead-link page; a live one
/// comes back with its try still open.
pub(super) async fn live_link<'g, T>(
    gate: &'g Gate,
    visitor: &Visitor,
    check: impl Future<Output = Result<Option<T>, GateError>>,
) -> Result<Result<(T, throttle::Attempt<'g>), Response>, GateError> {
    let attempt = match gate.throttle.begin(visitor.group(), None, false) {
        Ok(attempt) => attempt,
        Err(wait) => return Ok(Err(throttled(gate, visitor, wait))),
    };
    match check.await? {
        Some(found) => Ok(Ok((found, attempt))),
        None => {
            failed(gate, visitor, attempt).await;
            Ok(Err(dead_link(gate, visitor)?))
        }
    }
}

/// The one page every dead link gets, whatever the reason.
pub(super) fn dead_link(gate: &Gate, visitor: &Visitor) -> Result<Response, GateError> {
    let html = gate.pages.render("join_dead.html", visitor.page_context())?;
    Ok((StatusCode::NOT_FOUND, [(header::CACHE_CONTROL, "no-store")], html).into_response())
}

/// Signs `person_id` in on this browser, after a join, a recovery link or
/// a passkey: a browser signed in as someone else (a shared computer) is
/// signed out of that account first; then a session cookie, and a
/// known-device cookie unless `known` says the device is already theirs.
pub(super) async fn sign_in_here(
    gate: &Gate,
    visitor: &Visitor,
    jar: CookieJar,
    person_id: i64,
    known: Option<i64>,
) -> Result<CookieJar, GateError> {
    if let Some(old) = &visitor.caller {
        gate.store.end_session(old.session_id, old.person.id).await?;
    }
    let cookie = sessions::start(&gate.store, &gate.settings, person_id, &visitor.user_agent).await?;
    let mut jar = jar.add(cookie);
    if let Some(device) =
        sessions::remember_device(&gate.store, &gate.settings, person_id, known, &visitor.user_agent).await?
    {
        jar = jar.add(device);
    }
    Ok(jar)
}

/// Where a new person goes once joined. Invited through an app: the start
/// page sends them on to the page of it they were invited to. Not a
/// redirect from here: the join form's `form-action 'self'` forbids leaving
/// porch's origin in its redirects, and Chromium enforces that.
pub(super) fn landing(invite: &crate::store::InviteRow) -> String {
    match (&invite.app_id, &invite.landing) {
        (Some(app), Some(path)) => {
            let at: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
            format!("/?welcome=1&open={app}&at={at}")
        }
        _ => "/?welcome=1".to_owned(),
    }
}

pub async fn join_page(
    State(gate): State<Gate>,
    visitor: Visitor,
    Path(token): Path<String>,
) -> Result<Response, GateError> {
    let (invite, _attempt) =
        match live_link(&gate, &visitor, invites::check(&gate.store, &token, visitor.ip_text())).await? {
            Ok(found) => found,
            Err(page) => return Ok(page),
        };
    render_join(&gate, &visitor, &invite, None, "").map(IntoResponse::into_response)
}

fn render_join(
    gate: &Gate,
    visitor: &Visitor,
    invite: &crate::store::InviteRow,
    error: Option<String>,
    name: &str,
) -> Result<Html<String>, GateError> {
    let ctx = context! {
        inviter => invite.created_by_name.clone(),
        owner_setup => invite.purpose == "owner-setup",
        note => invite.note.clone(),
        role => invite.role.as_str(),
        min_length => gate.settings.passwords.min_length,
        passkeys => gate.passkeys.available(),
        error,
        name,
        ..visitor.page_context()
    };
    gate.pages.render("join.html", ctx)
}

pub async fn join_submit(
    State(gate): State<Gate>,
    visitor: Visitor,
    jar: CookieJar,
    Path(token): Path<String>,
    Form(form): Form<JoinForm>,
) -> Result<Response, GateError> {
    let (invite, _attempt) =
        match live_link(&gate, &visitor, invites::check(&gate.store, &token, visitor.ip_text())).await? {
            Ok(found) => found,
            Err(page) => return Ok(page),
        };
    let result = match form.check(gate.settings.passwords.min_length) {
        Ok(name) => invites::join(&gate.store, &invite, name, &form.password, visitor.ip_text()).await?,
        Err(message) => JoinResult::Retry(message),
    };
    match result {
        JoinResult::Joined { person_id } => {
            let jar = sign_in_here(&gate, &visitor, jar, person_id, None).await?;
            Ok((jar, Redirect::to(&landing(&invite))).into_response())
        }
        JoinResult::Retry(message) => {
            let page = render_join(&gate, &visitor, &invite, Some(message), form.name.trim())?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        JoinResult::Dead => dead_link(&gate, &visitor),
    }
}
