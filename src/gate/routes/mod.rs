//! porch's own routes on the apex host, and the reserved `/.porch/` paths.

mod account;
pub(super) mod activity;
mod admin;
pub(super) mod admin_apps;
mod door;
mod mail;
mod pair;
mod passkey;
mod recover;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::response::{Html, Redirect};
use axum::routing::{get, post};
use minijinja::context;

use super::Gate;
use super::error::GateError;
use super::web::Visitor;

pub fn porch_routes(gate: Gate) -> Router<Gate> {
    Router::new()
        .route("/", get(home))
        .route("/signin", get(door::signin_page).post(door::signin_submit))
        .route("/signout", post(door::signout))
        .route("/signin/passkey/begin", post(passkey::signin_begin))
        .route("/signin/passkey/finish", post(passkey::signin_finish))
        .route("/join/{token}", get(door::join_page).post(door::join_submit))
        .route("/join/{token}/passkey/begin", post(passkey::join_begin))
        .route("/join/{token}/passkey/finish", post(passkey::join_finish))
        .route("/recover/{token}", get(recover::page).post(recover::submit))
        .route("/recover/{token}/passkey/begin", post(passkey::recover_begin))
        .route("/recover/{token}/passkey/finish", post(passkey::recover_finish))
        .route("/pair/{token}", get(pair::open).post(pair::submit))
        .route("/activity/seen", post(activity::seen_all))
        .route("/activity/{id}", get(activity::open))
        .route("/activity/{id}/picture", get(activity::picture))
        .route("/account", get(account::page))
        .route("/account/mail", post(mail::save))
        .route("/mail/unsubscribe/{token}", get(mail::unsubscribe_page).post(mail::unsubscribe))
        .route("/account/sessions/{id}/end", post(account::end_session))
        .route("/account/password", post(account::change_password))
        .route("/account/devices/{id}/forget", post(account::forget_device))
        .route("/account/signout-everywhere", post(account::sign_out_everywhere))
        .route("/account/passkeys/begin", post(passkey::account_begin))
        .route("/account/passkeys/finish", post(passkey::account_finish))
        .route("/account/passkeys/{id}/remove", post(passkey::remove))
        .route("/account/pair", post(pair::create))
        .route("/account/pair/{id}", get(pair::status))
        .route("/account/pair/{id}/allow", post(pair::allow))
        .route("/account/pair/{id}/cancel", post(pair::cancel))
        .route("/admin", get(|| async { Redirect::to("/admin/people") }))
        .route("/admin/people", get(admin::people_page))
        .route("/admin/people/{id}", post(admin::person_change))
        .route("/admin/people/{id}/disable", post(admin::person_disable))
        .route("/admin/people/{id}/enable", post(admin::person_enable))
        .route("/admin/people/{id}/recover", post(admin::person_recover))
        .route("/admin/invites", get(admin::invites_page).post(admin::invite_create))
        .route("/admin/invites/{id}/revoke", post(admin::invite_revoke))
        .route("/admin/audit", get(admin::audit_page))
        .route("/admin/apps", get(admin_apps::apps_page))
        .route(admin_apps::PACKAGE_UPLOAD, post(admin_apps::app_upload).layer(DefaultBodyLimit::disable()))
        .route("/admin/apps/install", post(admin_apps::app_install))
        .route("/admin/apps/look", post(admin_apps::look))
        .route("/admin/apps/fetch", post(admin_apps::fetch))
        .route("/admin/apps/{app}/grant", post(admin_apps::app_grant))
        .route("/admin/apps/{app}/revoke", post(admin_apps::app_revoke))
        .route("/admin/apps/{app}/rollback", post(admin_apps::app_rollback))
        .route("/admin/certificates", get(admin::certificates_page))
        .route("/admin/certificates/renew", post(admin::certificates_renew))
        .route("/admin/backups", get(admin::backups_page))
        .route("/admin/backups/now", post(admin::backups_now))
        .route("/admin/blocks", get(admin::blocks_page))
        .route("/admin/blocks/lift", post(admin::blocks_lift))
        .route("/.porch/enter", get(super::app_door::enter))
        .route("/.porch/health", get(|| async { "ok" }))
        .fallback(|| async { GateError::NotFound })
        .layer(DefaultBodyLimit::max(gate.settings.limits.form_body_bytes()))
}

#[derive(serde::Deserialize)]
struct HomeQuery {
    recovered: Option<String>,
    welcome: Option<String>,
    /// After joining through an app's invite: the app and the path in it
    /// to go on to.
    open: Option<String>,
    at: Option<String>,
}

async fn home(
    State(gate): State<Gate>,
    visitor: Visitor,
    Query(q): Query<HomeQuery>,
) -> Result<Html<String>, GateError> {
    // One tile per app the person may use, named as its manifest names it,
    // with the cards the app has for them (its albums, say), asked at once.
    let mut ids: Vec<String> = Vec::new();
    let mut news = Vec::new();
    // Whether any news is unseen, shown or not ("Mark all as seen").
    let mut any_unread = false;
    let apps: Vec<_> = match &visitor.caller {
        Some(c) => {
            let (lines, unread) = activity::feed(&gate, c).await?;
            news = lines;
            any_unread = !unread.is_empty();
            let names: std::collections::HashMap<String, String> =
                gate.store.apps().await?.into_iter().map(|a| (a.id, a.name)).collect();
            let tiles: Vec<(String, String, String)> = gate
                .store
                .grants(c.person.id)
                .await?
                .into_iter()
                .filter_map(|(id, role)| Some((names.get(&id)?.clone(), id, role)))
                .collect();
            ids = tiles.iter().map(|(_, id, _)| id.clone()).collect();
            let cards = futures::future::join_all(
                tiles.iter().map(|(_, id, role)| super::home_cards::cards(&gate, c, id, role)),
            )
            .await;
            tiles
                .into_iter()
                .zip(cards)
                .map(|((name, id, role), cards)| {
                    let url = format!("{}/", super::app_door::app_origin(&gate.base_url, &id));
                    let initial = name.chars().next().map(|c| c.to_uppercase().to_string()).unwrap_or_default();
                    let new = unread.get(&id).copied().unwrap_or(0);
                    context! { id, name, initial, role, url, cards, new }
                })
                .collect()
        }
        None => Vec::new(),
    };
    let signed_in = visitor.caller.is_some();
    let recovered = q.recovered.is_some() && signed_in;
    let welcome = q.welcome.is_some() && signed_in;
    // Only on to one of their own apps, to a path on its host.
    let landing = match (&q.open, &q.at) {
        (Some(app), Some(at))
            if welcome
                && at.starts_with('/')
                && !at.starts_with("//")
                && at.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
                && ids.contains(app) =>
        {
            Some(format!("{}{at}", super::app_door::app_origin(&gate.base_url, app)))
        }
        _ => None,
    };
    let unread = any_unread;
    gate.pages
        .render("home.html", context! { apps, news, unread, recovered, welcome, landing, ..visitor.page_context() })
}
