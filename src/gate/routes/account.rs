//! The account page: who you are, which apps you can use, and the devices
//! signed in as you, each of which you can sign out.

use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;

use super::door::CsrfOnly;
use crate::gate::Gate;
use crate::gate::audit::record;
use crate::gate::error::GateError;
use crate::gate::sessions;
use crate::gate::web::{Checked, SignedIn};

#[derive(Deserialize)]
pub struct AccountQuery {
    welcome: Option<String>,
}

pub async fn page(
    State(gate): State<Gate>,
    SignedIn(caller, visitor): SignedIn,
    Query(q): Query<AccountQuery>,
) -> Result<Html<String>, GateError> {
    let sessions = sessions::list(&gate.store, caller.person.id).await?;
    let apps = gate.store.grants(caller.person.id).await?;
    let ctx = context! {
        person => caller.person,
        groups => caller.person.group_list(),
        sessions,
        current_session => caller.session_id,
        apps,
        welcome => q.welcome.is_some(),
        ..visitor.page_context()
    };
    gate.pages.render("account.html", ctx)
}

pub async fn end_session(
    State(gate): State<Gate>,
    Path(id): Path<i64>,
    Checked(caller, visitor, _): Checked<CsrfOnly>,
) -> Result<Response, GateError> {
    if !gate.store.end_session(id, caller.person.id).await? {
        return Err(GateError::NotFound);
    }
    record(&gate.store, visitor.actor(), "session.ended", &caller.person.display_name, &format!("session {id}")).await;
    let to = if id == caller.session_id { "/" } else { "/account" };
    Ok(Redirect::to(to).into_response())
}
