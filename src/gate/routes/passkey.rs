//! The passkey endpoints `static/passkey.js` calls: each ceremony is a
//! `begin` (porch's challenge, as JSON) and a `finish` (the browser's
//! answer, posted as a form field). Signing in with one, adding one on the
//! account page, joining with one, signing in again through a recovery
//! link with one; and removing one (never the last way to sign in).
//!
//! Sign-ins and links pass the same throttle as passwords and invite
//! links, and every outcome is audited like theirs.

use axum::Form;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use serde_json::json;

use super::door::{CsrfOnly, failed, landing, live_link, sign_in_here};
use crate::common::limits::{ADD_SIGN_IN_FRESH, PASSKEY_ANSWER};
use crate::gate::error::GateError;
use crate::gate::invites::{self, JoinResult};
use crate::gate::passkeys::{PasskeyError, Purpose, Registered};
use crate::gate::recovery::{self, Recovered};
use crate::gate::web::{Checked, CsrfForm, Visitor, safe_next};
use crate::gate::{Gate, sessions};
use crate::store::audit::{Action, record};
use crate::store::{NewCredential, Removal};

/// A JSON refusal `passkey.js` shows as it is.
fn refusal(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn begun(options: serde_json::Value, ceremony: String) -> Response {
    Json(json!({ "ceremony": ceremony, "options": options })).into_response()
}

fn go(to: &str) -> Response {
    Json(json!({ "to": to })).into_response()
}

/// How a ceremony error is answered: a stale or crowded one is not the
/// person's fault; a refused answer is.
fn answer_for(e: &PasskeyError) -> Response {
    let status = match e {
        PasskeyError::Unavailable => StatusCode::NOT_FOUND,
        PasskeyError::Busy => StatusCode::SERVICE_UNAVAILABLE,
        PasskeyError::Expired => StatusCode::CONFLICT,
        PasskeyError::Refused(_) | PasskeyError::Unknown => StatusCode::UNAUTHORIZED,
    };
    let mut message = e.to_string();
    if let Some(first) = message.get(..1) {
        message = first.to_uppercase() + &message[1..];
    }
    refusal(status, message + ".")
}

/// The browser's answer to a ceremony, and what else its page sends.
#[derive(Deserialize)]
pub struct Answer {
    #[serde(default)]
    csrf: String,
    ceremony: String,
    credential: String,
    /// What the person called the passkey (account page).
    label: Option<String>,
    /// Where to go after signing in.
    next: Option<String>,
    /// Present when "sign out my other devices" is ticked (recovery).
    sign_out_others: Option<String>,
}

impl CsrfForm for Answer {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl Answer {
    fn too_big(&self) -> bool {
        self.credential.len() > PASSKEY_ANSWER
    }

    /// The passkey's name: the one typed, else the browser's own.
    fn device(&self, visitor: &Visitor) -> String {
        match self.label.as_deref().map(str::trim) {
            Some(label) if !label.is_empty() => label.to_owned(),
            _ => sessions::device_label(&visitor.user_agent),
        }
    }
}

// ---- signing in ----------------------------------------------------------

pub async fn signin_begin(State(gate): State<Gate>, visitor: Visitor) -> Response {
    // A client the throttle holds back gets no challenge either.
    if let Err(wait) = gate.throttle.begin(visitor.group(), None, false) {
        return refusal(StatusCode::TOO_MANY_REQUESTS, wait.message());
    }
    match gate.passkeys.begin_sign_in(visitor.group()) {
        Ok((options, ceremony)) => begun(options, ceremony),
        Err(e) => answer_for(&e),
    }
}

pub async fn signin_finish(
    State(gate): State<Gate>,
    visitor: Visitor,
    jar: CookieJar,
    Form(form): Form<Answer>,
) -> Result<Response, GateError> {
    let attempt = match gate.throttle.begin(visitor.group(), None, false) {
        Ok(attempt) => attempt,
        Err(wait) => return Ok(refusal(StatusCode::TOO_MANY_REQUESTS, wait.message())),
    };
    let outcome = if form.too_big() {
        Err(PasskeyError::Refused("the answer is too large".into()))
    } else {
        gate.passkeys.finish_sign_in(&gate.store, &form.ceremony, &form.credential).await?
    };
    let why = match outcome {
        Ok(person) if !person.is_disabled() => {
            attempt.succeeded();
            record(&gate.store, visitor.actor(), Action::SigninOk, &person.display_name, "passkey").await;
            let known = sessions::known_device(&gate.store, &gate.settings, &jar).await?;
            let jar = sign_in_here(&gate, &visitor, jar, person.id, known).await?;
            return Ok((jar, go(&safe_next(form.next.as_deref()))).into_response());
        }
        // Answered like any passkey porch does not take (review finding L9).
        Ok(person) => format!("passkey of {}: account disabled", person.display_name),
        // Not a guess: a page left open too long, or porch busy.
        Err(e @ (PasskeyError::Expired | PasskeyError::Busy | PasskeyError::Unavailable)) => {
            return Ok(answer_for(&e));
        }
        Err(e) => format!("passkey not accepted: {e}"),
    };
    record(&gate.store, visitor.actor(), Action::SigninFailed, "", &why).await;
    failed(&gate, &visitor, attempt).await;
    Ok(refusal(
        StatusCode::UNAUTHORIZED,
        "That passkey was not accepted. Try again, or sign in with your name and password.",
    ))
}

// ---- the account page ----------------------------------------------------

/// The account page's "add a passkey": the form token, and the password
/// when the sign-in is not recent.
#[derive(Deserialize)]
pub struct AddPasskey {
    csrf: String,
    current: Option<String>,
}

impl CsrfForm for AddPasskey {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn account_begin(
    State(gate): State<Gate>,
    Checked(caller, visitor, form): Checked<AddPasskey>,
) -> Result<Response, GateError> {
    let person = &caller.person;
    // A phone left signed in must not be enough to add a lasting way in:
    // a recent sign-in, or the password typed again (through the throttle).
    if !sessions::signed_in_within(&gate.store, &caller, ADD_SIGN_IN_FRESH).await? {
        let Some(current) = form.current.as_deref().filter(|c| !c.is_empty()) else {
            return Ok(refusal(StatusCode::FORBIDDEN, STALE_SIGN_IN));
        };
        if let Err(message) =
            super::account::password_again(&gate, &visitor, person, current, Action::PasskeyRefused).await?
        {
            return Ok(refusal(StatusCode::FORBIDDEN, message));
        }
    }
    let handle = gate.store.passkey_handle(person.id).await?;
    let existing = gate.store.passkey_ids_of(person.id).await?;
    let purpose = Purpose::Account { person_id: person.id, session_id: caller.session_id };
    Ok(
        match gate.passkeys.begin_register(visitor.group(), purpose, handle.as_deref(), &person.display_name, existing)
        {
            Ok((options, ceremony)) => begun(options, ceremony),
            Err(e) => answer_for(&e),
        },
    )
}

pub async fn account_finish(
    State(gate): State<Gate>,
    Checked(caller, visitor, form): Checked<Answer>,
) -> Result<Response, GateError> {
    let registered = match registered(&gate, &visitor, &form, &caller.person.display_name).await {
        Ok(registered) => registered,
        Err(page) => return Ok(page),
    };
    let Purpose::Account { person_id, session_id } = registered.purpose else {
        return Ok(answer_for(&PasskeyError::Expired));
    };
    if (person_id, session_id) != (caller.person.id, caller.session_id) {
        return Ok(answer_for(&PasskeyError::Expired));
    }
    if !gate.store.add_passkey(person_id, &registered.handle, &registered.key).await? {
        return Ok(refusal(StatusCode::CONFLICT, "This device already has a passkey for you here."));
    }
    record(&gate.store, visitor.actor(), Action::PasskeyAdded, &caller.person.display_name, &registered.key.label)
        .await;
    Ok(go("/account?passkey=added"))
}

/// Checks a registration answer; a refused one is audited.
async fn registered(gate: &Gate, visitor: &Visitor, form: &Answer, whose: &str) -> Result<Registered, Response> {
    let outcome = if form.too_big() {
        Err(PasskeyError::Refused("the answer is too large".into()))
    } else {
        gate.passkeys.finish_register(&form.ceremony, &form.credential, &form.device(visitor))
    };
    match outcome {
        Ok(registered) => Ok(registered),
        Err(e) => {
            record(&gate.store, visitor.actor(), Action::PasskeyRefused, whose, &e.to_string()).await;
            Err(answer_for(&e))
        }
    }
}

pub async fn remove(
    State(gate): State<Gate>,
    Path(id): Path<i64>,
    Checked(caller, visitor, _): Checked<CsrfOnly>,
) -> Result<Response, GateError> {
    match gate.store.remove_passkey(id, caller.person.id).await? {
        Removal::Removed => {
            let detail = format!("passkey {id}");
            record(&gate.store, visitor.actor(), Action::PasskeyRemoved, &caller.person.display_name, &detail).await;
            Ok(Redirect::to("/account?passkey=removed").into_response())
        }
        Removal::LastWay => Ok(Redirect::to("/account?passkey=last").into_response()),
        Removal::NotFound => Err(GateError::NotFound),
    }
}

// ---- joining -------------------------------------------------------------

#[derive(Deserialize)]
pub struct JoinName {
    name: String,
}

pub async fn join_begin(
    State(gate): State<Gate>,
    visitor: Visitor,
    Path(token): Path<String>,
    Form(form): Form<JoinName>,
) -> Result<Response, GateError> {
    let (invite, _attempt) =
        match live_link(&gate, &visitor, invites::check(&gate.store, &token, visitor.ip_text())).await? {
            Ok(found) => found,
            Err(_) => return Ok(refusal(StatusCode::NOT_FOUND, DEAD_LINK)),
        };
    let name = form.name.trim();
    if let Err(message) = invites::check_display_name(name) {
        return Ok(refusal(StatusCode::UNPROCESSABLE_ENTITY, message));
    }
    if gate.store.person_by_name(name).await?.is_some() {
        let message = format!("Someone here is already called \"{name}\". Please pick another name.");
        return Ok(refusal(StatusCode::UNPROCESSABLE_ENTITY, message));
    }
    let purpose = Purpose::Join { invite_id: invite.id, name: name.to_owned() };
    Ok(match gate.passkeys.begin_register(visitor.group(), purpose, None, name, Vec::new()) {
        Ok((options, ceremony)) => begun(options, ceremony),
        Err(e) => answer_for(&e),
    })
}

const STALE_SIGN_IN: &str = "To add a passkey, type your password, or sign out and in again first.";

const DEAD_LINK: &str = "This link does not work any more (used, expired or cancelled). Ask for a new one.";

pub async fn join_finish(
    State(gate): State<Gate>,
    visitor: Visitor,
    jar: CookieJar,
    Path(token): Path<String>,
    Form(form): Form<Answer>,
) -> Result<Response, GateError> {
    let (invite, _attempt) =
        match live_link(&gate, &visitor, invites::check(&gate.store, &token, visitor.ip_text())).await? {
            Ok(found) => found,
            Err(_) => return Ok(refusal(StatusCode::NOT_FOUND, DEAD_LINK)),
        };
    let registered = match registered(&gate, &visitor, &form, "").await {
        Ok(registered) => registered,
        Err(page) => return Ok(page),
    };
    let Purpose::Join { invite_id, name } = &registered.purpose else {
        return Ok(answer_for(&PasskeyError::Expired));
    };
    if *invite_id != invite.id {
        return Ok(answer_for(&PasskeyError::Expired));
    }
    let credential = NewCredential::Passkey { handle: &registered.handle, key: &registered.key };
    match invites::join_with(&gate.store, &invite, name, &credential, visitor.ip_text()).await? {
        JoinResult::Joined { person_id } => {
            let jar = sign_in_here(&gate, &visitor, jar, person_id, None).await?;
            Ok((jar, go(&landing(&invite))).into_response())
        }
        JoinResult::Retry(message) => Ok(refusal(StatusCode::UNPROCESSABLE_ENTITY, message)),
        JoinResult::Dead => Ok(refusal(StatusCode::NOT_FOUND, DEAD_LINK)),
    }
}

// ---- signing in again through a recovery link ----------------------------

pub async fn recover_begin(
    State(gate): State<Gate>,
    visitor: Visitor,
    Path(token): Path<String>,
) -> Result<Response, GateError> {
    let (link, _attempt) =
        match live_link(&gate, &visitor, recovery::check(&gate.store, &token, visitor.ip_text())).await? {
            Ok(found) => found,
            Err(_) => return Ok(refusal(StatusCode::NOT_FOUND, DEAD_LINK)),
        };
    let handle = gate.store.passkey_handle(link.person_id).await?;
    let existing = gate.store.passkey_ids_of(link.person_id).await?;
    let purpose = Purpose::Recover { link_id: link.id, person_id: link.person_id };
    Ok(match gate.passkeys.begin_register(visitor.group(), purpose, handle.as_deref(), &link.display_name, existing) {
        Ok((options, ceremony)) => begun(options, ceremony),
        Err(e) => answer_for(&e),
    })
}

pub async fn recover_finish(
    State(gate): State<Gate>,
    visitor: Visitor,
    jar: CookieJar,
    Path(token): Path<String>,
    Form(form): Form<Answer>,
) -> Result<Response, GateError> {
    let (link, _attempt) =
        match live_link(&gate, &visitor, recovery::check(&gate.store, &token, visitor.ip_text())).await? {
            Ok(found) => found,
            Err(_) => return Ok(refusal(StatusCode::NOT_FOUND, DEAD_LINK)),
        };
    let registered = match registered(&gate, &visitor, &form, &link.display_name).await {
        Ok(registered) => registered,
        Err(page) => return Ok(page),
    };
    let Purpose::Recover { link_id, person_id } = registered.purpose else {
        return Ok(answer_for(&PasskeyError::Expired));
    };
    if (link_id, person_id) != (link.id, link.person_id) {
        return Ok(answer_for(&PasskeyError::Expired));
    }
    let credential = NewCredential::Passkey { handle: &registered.handle, key: &registered.key };
    let sign_out_others = form.sign_out_others.is_some();
    match recovery::complete_with(&gate.store, &link, &credential, sign_out_others, visitor.ip_text()).await? {
        Recovered::Done { person_id, .. } => {
            let jar = sign_in_here(&gate, &visitor, jar, person_id, None).await?;
            Ok((jar, go("/?recovered=1")).into_response())
        }
        Recovered::Retry(message) => Ok(refusal(StatusCode::UNPROCESSABLE_ENTITY, message)),
        Recovered::Dead => Ok(refusal(StatusCode::NOT_FOUND, DEAD_LINK)),
    }
}
