//! "Add this phone", both screens: on the device the person already uses,
//! making the link (with its QR code), seeing which device opened it and
//! with which code, and allowing or cancelling it; on the new device,
//! opening the link (a question only, so a messenger's link preview claims
//! nothing), pressing Start (which claims it and shows the code) and
//! continuing once allowed. The new device's pages go through the sign-in throttle
//! like every other link.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use minijinja::context;

use super::door::{CsrfOnly, dead_link, failed, live_link};
use crate::gate::Gate;
use crate::gate::error::GateError;
use crate::gate::pairing::{self, Opened};
use crate::gate::sessions;
use crate::gate::web::{Checked, SignedIn, Visitor};

/// First device: makes the link and shows it with its QR code.
pub async fn create(
    State(gate): State<Gate>,
    Checked(caller, visitor, _): Checked<CsrfOnly>,
) -> Result<Html<String>, GateError> {
    let person = &caller.person;
    let created =
        pairing::create(&gate.store, &gate.base_url, person.id, &person.display_name, visitor.actor()).await?;
    let qr = crate::gate::invites::qr_svg(&created.link);
    let ctx = context! {
        link => created.link,
        qr,
        id => created.id,
        expires_at => created.expires_at,
        ..visitor.page_context()
    };
    gate.pages.render("pair_show.html", ctx)
}

/// First device: who opened the link, with which code; allow or cancel.
pub async fn status(
    State(gate): State<Gate>,
    SignedIn(caller, visitor): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, GateError> {
    let Some(row) = gate.store.pairing_of(id, caller.person.id, crate::common::clock::now()).await? else {
        return Ok(Redirect::to("/account?pairing=ended").into_response());
    };
    let ctx = context! { pairing => row, ..visitor.page_context() };
    Ok(gate.pages.render("pair_status.html", ctx)?.into_response())
}

pub async fn allow(
    State(gate): State<Gate>,
    Path(id): Path<i64>,
    Checked(caller, visitor, _): Checked<CsrfOnly>,
) -> Result<Response, GateError> {
    let person = &caller.person;
    if !pairing::approve(&gate.store, id, person.id, &person.display_name, visitor.actor()).await? {
        return Ok(Redirect::to("/account?pairing=ended").into_response());
    }
    Ok(Redirect::to(&format!("/account/pair/{id}")).into_response())
}

pub async fn cancel(
    State(gate): State<Gate>,
    Path(id): Path<i64>,
    Checked(caller, _, _): Checked<CsrfOnly>,
) -> Result<Response, GateError> {
    gate.store.end_pairing(id, caller.person.id).await?;
    Ok(Redirect::to("/account").into_response())
}

fn render_new(gate: &Gate, visitor: &Visitor, code: Option<&str>, waiting: bool) -> Result<Html<String>, GateError> {
    gate.pages.render("pair_new.html", context! { code, waiting, ..visitor.page_context() })
}

/// New device: opening the link only asks (a link preview fetching it
/// claims nothing); if this browser claimed it before, it shows the code.
pub async fn open(
    State(gate): State<Gate>,
    visitor: Visitor,
    jar: CookieJar,
    Path(token): Path<String>,
) -> Result<Response, GateError> {
    let (row, attempt) =
        match live_link(&gate, &visitor, pairing::check(&gate.store, &token, visitor.ip_text())).await? {
            Ok(found) => found,
            Err(page) => return Ok(page),
        };
    match (&row.claim_hash, pairing::holds_claim(&gate.settings, &jar, &row)) {
        (None, _) => Ok(render_new(&gate, &visitor, None, false)?.into_response()),
        (Some(_), true) => Ok(render_new(&gate, &visitor, row.code.as_deref(), false)?.into_response()),
        (Some(_), false) => {
            failed(&gate, &visitor, attempt).await;
            dead_link(&gate, &visitor)
        }
    }
}

/// New device: the first press claims the link and shows the code; the
/// next, once the person allowed it on their other device, signs it in.
pub async fn submit(
    State(gate): State<Gate>,
    visitor: Visitor,
    jar: CookieJar,
    Path(token): Path<String>,
) -> Result<Response, GateError> {
    let (row, attempt) =
        match live_link(&gate, &visitor, pairing::check(&gate.store, &token, visitor.ip_text())).await? {
            Ok(found) => found,
            Err(page) => return Ok(page),
        };
    if row.claim_hash.is_none() {
        return match pairing::open(&gate.store, &gate.settings, &jar, &row, &visitor.user_agent).await? {
            Opened::Claimed { cookie, code } => {
                Ok((jar.add(cookie), render_new(&gate, &visitor, Some(&code), false)?).into_response())
            }
            Opened::Already { code } => Ok(render_new(&gate, &visitor, Some(&code), false)?.into_response()),
            Opened::Taken => {
                failed(&gate, &visitor, attempt).await;
                dead_link(&gate, &visitor)
            }
        };
    }
    if !pairing::holds_claim(&gate.settings, &jar, &row) {
        failed(&gate, &visitor, attempt).await;
        return dead_link(&gate, &visitor);
    }
    let Some(person_id) = pairing::finish(&gate.store, &gate.settings, &jar, &row, visitor.ip_text()).await? else {
        // Claimed here but not allowed yet: say what to do.
        let page = render_new(&gate, &visitor, row.code.as_deref(), true)?;
        return Ok((StatusCode::CONFLICT, page).into_response());
    };
    if let Some(old) = &visitor.caller {
        gate.store.end_session(old.session_id, old.person.id).await?;
    }
    let cookie = sessions::start(&gate.store, &gate.settings, person_id, &visitor.user_agent).await?;
    let mut jar = jar.add(cookie).add(pairing::claim_removal(&gate.settings));
    if let Some(device) =
        sessions::remember_device(&gate.store, &gate.settings, person_id, None, &visitor.user_agent).await?
    {
        jar = jar.add(device);
    }
    Ok((jar, Redirect::to("/")).into_response())
}
