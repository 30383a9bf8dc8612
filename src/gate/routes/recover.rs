//! The "sign in again" page a recovery link opens: a new password, a
//! choice (ticked) to sign out every other device, and then the person is
//! signed in on this browser. Dead links get the same page as dead invites,
//! and count against the sign-in throttle like them.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use minijinja::context;
use serde::Deserialize;

use super::door::{dead_link, live_link, sign_in_here};
use crate::gate::Gate;
use crate::gate::error::GateError;
use crate::gate::recovery::{self, Recovered};
use crate::gate::web::Visitor;
use crate::store::RecoveryRow;

pub async fn page(
    State(gate): State<Gate>,
    visitor: Visitor,
    Path(token): Path<String>,
) -> Result<Response, GateError> {
    let (link, _attempt) =
        match live_link(&gate, &visitor, recovery::check(&gate.store, &token, visitor.ip_text())).await? {
            Ok(found) => found,
            Err(page) => return Ok(page),
        };
    render(&gate, &visitor, &link, None, true).map(IntoResponse::into_response)
}

fn render(
    gate: &Gate,
    visitor: &Visitor,
    link: &RecoveryRow,
    error: Option<String>,
    sign_out_others: bool,
) -> Result<Html<String>, GateError> {
    let ctx = context! {
        name => link.display_name.clone(),
        made_by => link.created_by_name.clone(),
        expires_at => link.expires_at,
        min_length => gate.settings.passwords.min_length,
        sign_out_others,
        passkeys => gate.passkeys.available(),
        error,
        ..visitor.page_context()
    };
    gate.pages.render("recover.html", ctx)
}

#[derive(Deserialize)]
pub struct RecoverForm {
    password: String,
    confirm: String,
    /// Present (`yes`) when the box is ticked; an unticked box sends nothing.
    sign_out_others: Option<String>,
}

pub async fn submit(
    State(gate): State<Gate>,
    visitor: Visitor,
    jar: CookieJar,
    Path(token): Path<String>,
    Form(form): Form<RecoverForm>,
) -> Result<Response, GateError> {
    let (link, _attempt) =
        match live_link(&gate, &visitor, recovery::check(&gate.store, &token, visitor.ip_text())).await? {
            Ok(found) => found,
            Err(page) => return Ok(page),
        };
    let sign_out_others = form.sign_out_others.is_some();
    let min_length = gate.settings.passwords.min_length;
    let result = recovery::complete(
        &gate.store,
        &link,
        &form.password,
        &form.confirm,
        min_length,
        sign_out_others,
        visitor.ip_text(),
    )
    .await?;
    match result {
        Recovered::Done { person_id, .. } => {
            let jar = sign_in_here(&gate, &visitor, jar, person_id, None).await?;
            Ok((jar, Redirect::to("/?recovered=1")).into_response())
        }
        Recovered::Retry(message) => {
            let page = render(&gate, &visitor, &link, Some(message), sign_out_others)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Recovered::Dead => dead_link(&gate, &visitor),
    }
}
