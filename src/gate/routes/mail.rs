//! Email digests on porch's pages: the account page's form (address and
//! how often: each digest, weekly, never) and a digest's unsubscribe link,
//! which works without signing in: a GET shows one button, and a POST
//! (that button, or a mail provider's RFC 8058 one-click) stops them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;

use crate::gate::Gate;
use crate::gate::error::GateError;
use crate::gate::secret::hash_presented;
use crate::gate::web::{Checked, CsrfForm, Visitor};
use crate::store::audit::{Action, record};

/// The longest address porch keeps (RFC 5321's path limit).
const MAX_ADDRESS: usize = 254;

#[derive(Deserialize)]
pub struct MailForm {
    csrf: String,
    #[serde(default)]
    address: String,
    frequency: String,
}

impl CsrfForm for MailForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Saves where and how often the signed-in person gets digests.
pub async fn save(
    State(gate): State<Gate>,
    Checked(caller, visitor, form): Checked<MailForm>,
) -> Result<Response, GateError> {
    let frequency = match form.frequency.as_str() {
        "digest" | "weekly" | "never" => form.frequency.as_str(),
        _ => return Err(GateError::Invalid("Pick how often: each digest, weekly, or never.".into())),
    };
    let address = form.address.trim();
    if frequency != "never" || !address.is_empty() {
        let valid = address.len() <= MAX_ADDRESS && address.parse::<lettre::message::Mailbox>().is_ok();
        if !valid || address.contains(['<', '>', ' ']) {
            return Err(GateError::Invalid(format!(
                "“{address}” is not an email address porch can write to. Type it as name@example.org."
            )));
        }
    }
    gate.store.set_mail_prefs(caller.person.id, address, frequency).await?;
    let detail = format!("digests: {frequency}");
    record(&gate.store, visitor.actor(), Action::MailSettingsChanged, &caller.person.display_name, &detail).await;
    Ok(Redirect::to("/account?mail=saved#mail").into_response())
}

/// The page an unsubscribe link opens: one button (a link preview, which
/// only GETs, unsubscribes nobody).
pub async fn unsubscribe_page(
    State(gate): State<Gate>,
    Path(token): Path<String>,
    visitor: Visitor,
) -> Result<Html<String>, GateError> {
    gate.pages.render("unsubscribe.html", context! { token, done => false, ..visitor.page_context() })
}

/// Stops the digests of the person the link was sent to.
pub async fn unsubscribe(
    State(gate): State<Gate>,
    Path(token): Path<String>,
    visitor: Visitor,
) -> Result<Response, GateError> {
    let person = match hash_presented(&token) {
        Some(hash) => gate.store.unsubscribe(&hash).await?,
        None => None,
    };
    let Some(person) = person else {
        let page = gate.pages.render("unsubscribe.html", context! { dead => true, ..visitor.page_context() })?;
        return Ok((StatusCode::NOT_FOUND, page).into_response());
    };
    let name = gate.store.person(person).await?.map(|p| p.display_name).unwrap_or_default();
    record(&gate.store, visitor.actor(), Action::MailSettingsChanged, &name, "digests: never (unsubscribe link)").await;
    Ok(gate.pages.render("unsubscribe.html", context! { done => true, ..visitor.page_context() })?.into_response())
}
