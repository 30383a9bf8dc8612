//! The door to apps. Each app has its own origin, `<app>.<domain>`, so it can
//! never read porch's cookies. Entering one goes through a handshake:
//!
//! 1. The app host, seeing no app session, sets a random state cookie of its
//!    own (host-only, ten minutes) and sends the browser to
//!    `<domain>/.porch/enter?app=ID&next=PATH&state=HASH`, HASH being the
//!    state's SHA-256.
//! 2. There porch checks the signed-in person's grant (no grant: 403 and the
//!    app is never instantiated) and redirects back with a one-time ticket
//!    that lives for a minute and is bound to that state. An enter link
//!    without a state (a bookmark, a link someone sent) goes to the app
//!    host first, which starts the handshake properly. `/.porch/enter` is
//!    served on the apex only.
//! 3. The app host's `/.porch/ticket` trades the ticket for its own
//!    host-only cookie, tied to the porch session (ending that ends this),
//!    only in the browser whose state cookie matches: a ticket someone
//!    minted for themselves and sent to a relative signs the relative in as
//!    nobody (review finding L1: app-level login CSRF).
//!
//! Requests then reach the app with `porch-user-id`, `porch-user-name`,
//! `porch-app-role` and `porch-user-role` (`owner` or `member`) set by porch
//! (any sent by the client are removed) and without porch's cookie.
//! State-changing requests a browser marks as coming from another origin,
//! a sibling app included, are refused before the app runs. Every whole
//! HTML page an app answers gets the porch bar (`static/bar.js`: home,
//! account, sign out) appended, so no app copies it.

use crate::common::limits::{HANDSHAKE_STATE_SECS, TICKET_SECS};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar};
use serde::Deserialize;

use super::Gate;
use super::error::GateError;
use super::secret::{self, Secret};
use super::web::{
    Visitor, cross_site_detail, error_page, not_cross_site, query_string, refuse_as_cross_site, safe_next,
};
use crate::common::clock::now;
use crate::store::audit::{Action, record};

/// Marks a response as the app's own, so porch's page headers leave it be.
#[derive(Clone, Copy)]
pub struct AppResponse;

pub fn app_cookie_name(gate: &Gate) -> &'static str {
    if gate.settings.secure_cookies() { "__Host-porch_app" } else { "porch_app" }
}

/// `http://photos.localhost:8080` for app `photos` under `http://localhost:8080`.
pub use crate::common::names::app_origin;

#[derive(Deserialize)]
pub struct EnterQuery {
    app: String,
    next: Option<String>,
    /// Hex SHA-256 of the app host's state cookie.
    state: Option<String>,
}

pub fn state_cookie_name(gate: &Gate) -> &'static str {
    if gate.settings.secure_cookies() { "__Host-porch_state" } else { "porch_state" }
}

/// Step 1, on the app host: a fresh state cookie and the way to the apex.
fn start_handshake(gate: &Gate, app_id: &str, next: &str) -> Response {
    let state = Secret::generate();
    let query = query_string(&[("app", app_id), ("next", next), ("state", &hex::encode(state.hash()))]);
    let target = format!("{}/.porch/enter?{query}", gate.base_url);
    let mut cookie = super::sessions::cookie_named(&gate.settings, state_cookie_name(gate), state.text().to_owned());
    cookie.set_max_age(time::Duration::seconds(HANDSHAKE_STATE_SECS));
    (CookieJar::new().add(cookie), Redirect::to(&target)).into_response()
}

/// Step 2, on porch's own host.
pub async fn enter(
    State(gate): State<Gate>,
    visitor: Visitor,
    Query(q): Query<EnterQuery>,
) -> Result<Response, GateError> {
    let next = safe_next(q.next.as_deref());
    let state = q.state.as_deref().and_then(|s| <[u8; 32]>::try_from(hex::decode(s).ok()?).ok());
    let Some(state) = state else {
        // No handshake under way: let the app host start one.
        if !crate::common::names::valid_app_id(&q.app) {
            return Ok(no_such_app(&gate, &q.app, &visitor));
        }
        return Ok(Redirect::to(&format!("{}{next}", app_origin(&gate.base_url, &q.app))).into_response());
    };
    let Some(caller) = &visitor.caller else {
        let back = format!(
            "/.porch/enter?{}",
            query_string(&[("app", &q.app), ("next", &next), ("state", &hex::encode(state))])
        );
        return Ok(Redirect::to(&format!("/signin?{}", query_string(&[("next", &back)]))).into_response());
    };
    let app = match gate.apps.resolve(&q.app).await {
        Ok(Some(app)) if crate::common::names::valid_app_id(&q.app) => app,
        Ok(_) => return Ok(no_such_app(&gate, &q.app, &visitor)),
        Err(e) => return Err(GateError::App(e.to_string())),
    };
    let Some(_role) = gate.store.app_role(caller.person.id, &q.app).await? else {
        record(&gate.store, visitor.actor(), Action::AppDenied, &q.app, "no grant").await;
        let message = format!(
            "You have not been given access to {}. Ask the person who runs this porch to share it with you.",
            app.manifest.name
        );
        return Ok(error_page(&gate, StatusCode::FORBIDDEN, &message, &visitor));
    };
    let ticket = Secret::generate();
    gate.store.create_ticket(ticket.hash(), caller.session_id, &q.app, now() + TICKET_SECS, &state).await?;
    let target = format!(
        "{}/.porch/ticket?{}",
        app_origin(&gate.base_url, &q.app),
        query_string(&[("t", ticket.text()), ("next", &next)])
    );
    Ok(Redirect::to(&target).into_response())
}

fn no_such_app(gate: &Gate, app: &str, visitor: &Visitor) -> Response {
    let shown: String = app.chars().take(40).collect();
    error_page(gate, StatusCode::NOT_FOUND, &format!("There is no app called \"{shown}\" on this porch."), visitor)
}

#[derive(Deserialize)]
struct TicketQuery {
    t: String,
    next: Option<String>,
}

/// Step 3, on the app's host.
pub async fn ticket(gate: &Gate, app: &str, request: Request) -> Response {
    let visitor = Visitor::anonymous(&request);
    let query = request.uri().query().unwrap_or_default();
    let Ok(q) = serde_urlencoded::from_str::<TicketQuery>(query) else {
        return error_page(gate, StatusCode::BAD_REQUEST, "This sign-in link is incomplete.", &visitor);
    };
    let next = safe_next(q.next.as_deref());
    let session = match secret::hash_presented(&q.t) {
        Some(hash) => gate.store.take_ticket(&hash, app, now()).await,
        None => Ok(None),
    };
    let (session_id, bound_to) = match session {
        Ok(Some(found)) => found,
        Ok(None) => {
            let message = "This sign-in step has expired or was already used. Open the app again to continue.";
            return error_page(gate, StatusCode::BAD_REQUEST, message, &visitor);
        }
        Err(e) => return GateError::from(e).into_response(),
    };
    let jar = CookieJar::from_headers(request.headers());
    let presented = jar.get(state_cookie_name(gate)).and_then(|c| secret::hash_presented(c.value()));
    let same_browser = match (&bound_to, &presented) {
        (Some(bound), Some(presented)) => secret::hashes_match(bound, presented),
        _ => false,
    };
    if !same_browser {
        record(&gate.store, visitor.actor(), Action::AppTicketRefused, app, "ticket from another browser").await;
        let message = "This sign-in link was started in another browser. Open the app again from here to continue.";
        return error_page(gate, StatusCode::BAD_REQUEST, message, &visitor);
    }
    let app_session = Secret::generate();
    if let Err(e) = gate.store.create_app_session(app_session.hash(), session_id, app, now()).await {
        return GateError::from(e).into_response();
    }
    let mut done = super::sessions::cookie_named(&gate.settings, state_cookie_name(gate), String::new());
    done.set_max_age(time::Duration::ZERO);
    let jar = CookieJar::new().add(app_cookie(gate, app_session.text().to_owned())).add(done);
    (jar, Redirect::to(&next)).into_response()
}

fn app_cookie(gate: &Gate, value: String) -> Cookie<'static> {
    super::sessions::cookie_named(&gate.settings, app_cookie_name(gate), value)
}

/// Every other request on an app host: identify, then run the app.
pub async fn proxy(gate: &Gate, app_id: &str, mut request: Request) -> Response {
    let visitor = Visitor::anonymous(&request);
    if !not_cross_site(&request) {
        return refuse_as_cross_site(gate, cross_site_detail(&request), &visitor).await;
    }
    // One query finds the caller and the app's current component; only a
    // request without a valid app session looks the app up on its own.
    let cookie_name = app_cookie_name(gate);
    let jar = CookieJar::from_headers(request.headers());
    let found = match jar.get(cookie_name).and_then(|c| secret::hash_presented(c.value())) {
        Some(hash) => gate.store.app_visitor(&hash, app_id, now()).await,
        None => Ok(None),
    };
    let resolved = match &found {
        Ok(Some(person)) => gate.apps.resolve_known(app_id, &person.component_sha256).await,
        _ => gate.apps.resolve(app_id).await,
    };
    let app = match resolved {
        Ok(Some(app)) => app,
        Ok(None) => return no_such_app(gate, app_id, &visitor),
        Err(e) => return GateError::App(e.to_string()).into_response(),
    };
    let person = match found {
        Ok(Some(person)) => person,
        Ok(None) => {
            if matches!(*request.method(), Method::GET | Method::HEAD) {
                let next = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
                return start_handshake(gate, app_id, &next);
            }
            let message = "You are not signed in to this app any more. Open it again to continue.";
            return error_page(gate, StatusCode::UNAUTHORIZED, message, &visitor);
        }
        Err(e) => return GateError::from(e).into_response(),
    };
    // Using an app keeps the porch session alive, as visiting porch would.
    if let Err(e) =
        super::sessions::slide(&gate.store, &gate.settings, person.session_id, person.session_last_seen_at).await
    {
        tracing::warn!(error = %e, "could not slide a session");
    }
    if super::uploads::is_upload_path(request.uri().path()) {
        return super::uploads::serve(gate, &app, person.person_id, request).await;
    }
    let who = Identity {
        id: person.person_id,
        name: &person.display_name,
        app_role: &person.app_role,
        owner: person.person_role == "owner",
    };
    rewrite_headers(request.headers_mut(), cookie_name, &who);
    let head = request.method() == Method::HEAD;
    let https = gate.base_url.starts_with("https:");
    let (served, failed_probation) = app.serve(request, https, person.person_id).await;
    if failed_probation {
        // An update that fails its first requests is taken back at once.
        let (apps, id, sha) = (gate.apps.clone(), app_id.to_owned(), app.sha256.clone());
        tokio::spawn(async move { apps.roll_back_failed(&id, &sha).await });
    }
    let outcome = served.as_ref().map_or_else(crate::apps::Failure::metric_label, |_| "ok");
    crate::metrics::app_request(&app.manifest.id, outcome);
    match served {
        Ok(mut response) => {
            strip_porch_cookies(response.headers_mut());
            crate::apps::harden(response.headers_mut(), app.manifest.csp.as_deref());
            response.extensions_mut().insert(AppResponse);
            with_porch_bar(response, head)
        }
        Err(failure) => {
            if failure.status().is_server_error() {
                let detail = format!("{failure:?}");
                record(
                    &gate.store,
                    visitor.actor(),
                    Action::AppFailed,
                    app_id,
                    &detail.chars().take(300).collect::<String>(),
                )
                .await;
            }
            error_page(gate, failure.status(), &failure.message(), &visitor)
        }
    }
}

/// What porch appends to every whole HTML page an app answers: the porch
/// bar (home, account, sign out), served by porch on every host.
pub const PORCH_BAR: &str = "\n<script src=\"/.porch/static/bar.js\" defer></script>\n";

/// Appends [`PORCH_BAR`] to a whole, unencoded HTML page (200, or an
/// app's own error page), so every app page leads home without the app
/// copying anything. After `</html>`
/// browsers still run it (it joins the body); the length changes, so the
/// app's Content-Length goes.
fn with_porch_bar(response: Response, head: bool) -> Response {
    let headers = response.headers();
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"));
    let encoded = headers.get(header::CONTENT_ENCODING).is_some_and(|e| e.as_bytes() != b"identity");
    // Whole pages only: not a part of one (206), nor an empty answer.
    let status = response.status();
    let whole = status == StatusCode::OK || status.is_client_error() || status.is_server_error();
    if !html || encoded || !whole {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let length =
        parts.headers.remove(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok().and_then(|v| v.parse::<u64>().ok()));
    if head {
        if let Some(n) = length.and_then(|n| HeaderValue::from_str(&(n + PORCH_BAR.len() as u64).to_string()).ok()) {
            parts.headers.insert(header::CONTENT_LENGTH, n);
        }
        return Response::from_parts(parts, body);
    }
    use futures::StreamExt;
    let tail = futures::stream::once(async { Ok::<_, axum::Error>(bytes::Bytes::from_static(PORCH_BAR.as_bytes())) });
    let body = axum::body::Body::from_stream(body.into_data_stream().chain(tail));
    Response::from_parts(parts, body)
}

/// Who a request to an app comes from, as porch vouches for it.
pub struct Identity<'a> {
    pub id: i64,
    pub name: &'a str,
    pub app_role: &'a str,
    /// Whether they own this porch.
    pub owner: bool,
}

/// Removes identity headers a client may have sent and porch's own cookie,
/// then sets the identity headers porch vouches for.
pub fn rewrite_headers(headers: &mut HeaderMap, cookie_name: &str, who: &Identity<'_>) {
    let forged: Vec<HeaderName> = headers.keys().filter(|k| k.as_str().starts_with("porch-")).cloned().collect();
    for name in forged {
        headers.remove(name);
    }
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty() && c.split('=').next().is_some_and(|n| n.trim() != cookie_name))
        .map(str::to_owned)
        .collect();
    headers.remove(header::COOKIE);
    if !kept.is_empty()
        && let Ok(v) = HeaderValue::from_str(&kept.join("; "))
    {
        headers.insert(header::COOKIE, v);
    }
    let encoded: String =
        url::form_urlencoded::byte_serialize(who.name.as_bytes()).collect::<String>().replace('+', "%20");
    let person_role = if who.owner { "owner" } else { "member" };
    let set = [
        ("porch-user-id", who.id.to_string()),
        ("porch-user-name", encoded),
        ("porch-app-role", who.app_role.to_owned()),
        ("porch-user-role", person_role.to_owned()),
    ];
    for (k, v) in set {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(HeaderName::from_static(k), v);
        }
    }
}

/// An app may set its own cookies, host-only, but never porch's, and may not
/// reach past its own host (review finding L2):
/// - a `Set-Cookie` whose name is empty (`=porch_session=…`, which browsers
///   send as `porch_session=…`) or holds `porch` is dropped;
/// - so is one with a `Domain` attribute, which would plant or shadow
///   cookies on the apex and every sibling app;
/// - `Clear-Site-Data` is removed: it clears the whole site's cookies, porch's
///   sign-in and known-device cookies included.
fn strip_porch_cookies(headers: &mut HeaderMap) {
    let kept: Vec<HeaderValue> =
        headers.get_all(header::SET_COOKIE).iter().filter(|v| app_may_set(v.as_bytes())).cloned().collect();
    headers.remove(header::SET_COOKIE);
    headers.remove("clear-site-data");
    for v in kept {
        headers.append(header::SET_COOKIE, v);
    }
}

/// Whether an app's `Set-Cookie` value stays host-only and clear of porch.
fn app_may_set(value: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(value) else { return false };
    let mut parts = text.split(';');
    let pair = parts.next().unwrap_or_default();
    let Some((name, _)) = pair.split_once('=') else { return false };
    let name = name.trim();
    let token = |c: char| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}".contains(c);
    if name.is_empty() || !name.chars().all(token) || name.to_ascii_lowercase().contains("porch") {
        return false;
    }
    !parts.any(|attribute| attribute.split('=').next().unwrap_or_default().trim().eq_ignore_ascii_case("domain"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_origins() {
        assert_eq!(app_origin("http://localhost:8080", "photos"), "http://photos.localhost:8080");
        assert_eq!(app_origin("https://family.example", "hello"), "https://hello.family.example");
    }

    #[test]
    fn forged_identity_and_porch_cookie_are_removed() {
        let mut h = HeaderMap::new();
        h.insert("porch-user-id", HeaderValue::from_static("1"));
        h.insert("Porch-App-Role", HeaderValue::from_static("owner"));
        h.insert(header::COOKIE, HeaderValue::from_static("theme=dark; porch_app=secret; lang=en"));
        h.insert("porch-user-role", HeaderValue::from_static("owner"));
        let who = Identity { id: 7, name: "Grandma Ö", app_role: "viewer", owner: false };
        rewrite_headers(&mut h, "porch_app", &who);
        assert_eq!(h.get("porch-user-id").and_then(|v| v.to_str().ok()), Some("7"));
        assert_eq!(h.get("porch-app-role").and_then(|v| v.to_str().ok()), Some("viewer"));
        assert_eq!(h.get("porch-user-name").and_then(|v| v.to_str().ok()), Some("Grandma%20%C3%96"));
        assert_eq!(h.get("porch-user-role").and_then(|v| v.to_str().ok()), Some("member"));
        assert_eq!(h.get(header::COOKIE).and_then(|v| v.to_str().ok()), Some("theme=dark; lang=en"));
    }

    #[test]
    fn l2_app_cookies_stay_host_only_and_clear_of_porch() {
        let mut h = HeaderMap::new();
        for v in [
            "theme=dark; Path=/; HttpOnly",
            "sid=x; Domain=family.example",
            "sid=y; path=/; DOMAIN = .photos.family.example",
            "=porch_session=stolen; Domain=family.example",
            "=porch_session=stolen",
            "novalue",
            "__Host-porch_session=x; Secure; Path=/",
            "Porch_app=x",
            "lang=en; SameSite=Lax",
        ] {
            h.append(header::SET_COOKIE, HeaderValue::from_static(v));
        }
        h.insert("clear-site-data", HeaderValue::from_static("\"cookies\""));
        strip_porch_cookies(&mut h);
        let left: Vec<&str> = h.get_all(header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).collect();
        assert_eq!(left, ["theme=dark; Path=/; HttpOnly", "lang=en; SameSite=Lax"]);
        assert!(h.get("clear-site-data").is_none());
    }
}
