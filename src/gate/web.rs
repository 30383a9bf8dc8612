//! The gate's request pipeline, outermost first: metrics and security
//! headers, request budgets (`budget`), host routing, identifying the caller
//! from the session cookie, refusing cross-site state changes, and turning
//! errors into friendly pages. Also the
//! extractors handlers use to demand a signed-in person, an owner, or a form
//! that carries its CSRF token.

use std::net::IpAddr;

use axum::Router;
use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use minijinja::context;
use serde::de::DeserializeOwned;
use tower::ServiceExt;

use super::Gate;
use super::error::{ErrorPage, GateError};
use super::sessions::{self, Caller};
use crate::common::names::{HostKind, classify};
use crate::common::net::ClientAddr;
use crate::store::Role;
use crate::store::audit::{Action, Actor, record};

/// Who is calling: set for every request before any handler runs. The
/// client's address comes as the edge determined it ([`ClientAddr`], with
/// its source group and network); the gate never looks at the socket or
/// forwarding headers itself.
#[derive(Debug, Clone)]
pub struct Visitor {
    pub client: ClientAddr,
    pub user_agent: String,
    pub caller: Option<Caller>,
}

impl Visitor {
    pub fn ip_text(&self) -> Option<String> {
        Some(self.client.ip().to_string())
    }

    /// What every per-client limit counts this visitor in.
    pub fn group(&self) -> IpAddr {
        self.client.group
    }

    pub fn actor(&self) -> Actor {
        match &self.caller {
            Some(c) => Actor::Person { id: c.person.id, ip: self.ip_text() },
            None => Actor::Anonymous { ip: self.ip_text() },
        }
    }

    /// Template values every page uses: who is signed in and their token.
    pub fn page_context(&self) -> minijinja::Value {
        match &self.caller {
            Some(c) => context! {
                me => context! { id => c.person.id, name => c.person.display_name, role => c.person.role.as_str() },
                csrf => c.csrf,
            },
            None => context! {},
        }
    }
}

/// The gate's stages in front of porch's routes, as the edge serves them.
/// Each stage is a plain async function handed the rest of the pipeline as
/// a closure, so a request costs one boxed future and one clone of the gate,
/// not a boxed future and a cloned service stack per stage (`from_fn`
/// layers), nor a pass through an axum router before the first stage.
/// Requests reach porch's routes only once they get that far (app requests
/// and static files never do).
pub struct Pipeline {
    gate: Gate,
    routes: Router,
}

impl Pipeline {
    pub fn new(routes: Router<Gate>, gate: Gate) -> Pipeline {
        Pipeline { routes: routes.with_state(gate.clone()), gate }
    }
}

impl Pipeline {
    /// Answers one request. The caller (the edge, through `server.rs`) tags
    /// it with its [`ClientAddr`] first.
    pub fn serve(&self, request: Request) -> futures::future::BoxFuture<'static, Response> {
        let (gate, routes) = (self.gate.clone(), self.routes.clone());
        Box::pin(async move { run(&gate, routes, request).await })
    }
}

/// The stages, outermost first: metrics and security headers, request
/// budgets (`budget`), host routing, identifying the caller, refusing
/// cross-site state changes, error pages, then porch's routes. Written
/// innermost first: each closure is "the rest of the pipeline" for the
/// stage before it.
async fn run(gate: &Gate, routes: Router, request: Request) -> Response {
    let routes = async move |r: Request| {
        let Ok(response) = routes.oneshot(r).await;
        response
    };
    let errors = async move |r: Request| render_errors(gate, r, routes).await;
    let same_site = async move |r: Request| refuse_cross_site(gate, r, errors).await;
    let identified = async move |r: Request| identify(gate, r, same_site).await;
    let whole = async move |r: Request| whole_form(gate, r, identified).await;
    let routed = async move |r: Request| route_host(gate, r, whole).await;
    let limited = async move |r: Request| super::budget::limit(gate, r, routed).await;
    count_and_secure(request, limited).await
}

/// Counts every answer for the metrics listener (status class, kind of host,
/// time to the response's head), and puts the security headers on porch's
/// own pages (apps' responses get theirs in `app_door`).
async fn count_and_secure(request: Request, next: impl AsyncFnOnce(Request) -> Response) -> Response {
    let started = std::time::Instant::now();
    let mut response = next(request).await;
    let from_app = response.extensions().get::<super::app_door::AppResponse>().is_some();
    let by = if from_app { crate::metrics::AnsweredBy::App } else { crate::metrics::AnsweredBy::Porch };
    crate::metrics::request_done(by, response.status().as_u16(), started.elapsed());
    if !from_app && response.extensions().get::<Secured>().is_none() {
        add_security_headers(response.headers_mut());
    }
    response
}

/// Marks a response that already carries porch's security headers (static
/// files, whose headers are made once).
#[derive(Clone, Copy)]
pub(super) struct Secured;

/// The security headers of porch's own answers; `Cache-Control: no-store`
/// unless the answer set its own.
pub(super) fn add_security_headers(h: &mut HeaderMap) {
    crate::common::headers::secure(h, crate::common::headers::Answer::Porch);
}

/// Sends each request to the part of porch its Host names. `/.porch/` is
/// reserved on every host and always answered by porch.
async fn route_host(gate: &Gate, request: Request, next: impl AsyncFnOnce(Request) -> Response) -> Response {
    // porch's stylesheet and icons need no caller, no form check and no
    // router: answered here, on any host.
    if let Some(file) = request.uri().path().strip_prefix("/.porch/static/")
        && matches!(*request.method(), Method::GET | Method::HEAD)
    {
        let head = request.method() == Method::HEAD;
        return super::pages::static_file(file, head, request.headers().get(header::IF_NONE_MATCH));
    }
    // The branches below are boxed: their futures (porch's routes, an app
    // instance) are kilobytes, and kept inline they would make every
    // request's future that size, to be copied onto the heap even for the
    // static files answered above.
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok());
    let reserved = request.uri().path().starts_with("/.porch/");
    match classify(host, &gate.settings.domain) {
        HostKind::Porch => Box::pin(next(request)).await,
        HostKind::App(app) if request.uri().path() == "/.porch/ticket" => {
            Box::pin(super::app_door::ticket(gate, &app, request)).await
        }
        // The handshake's middle step belongs to the apex alone: an app's
        // own pages must not be able to mint tickets (review finding L1).
        HostKind::App(_) if request.uri().path() == "/.porch/enter" => {
            let message = "There is nothing here. Check the address, or go back to the start page.";
            error_page(gate, StatusCode::NOT_FOUND, message, &Visitor::anonymous(&request))
        }
        // Resumable uploads go through the app's door (its session and
        // grant), then to porch's tus endpoint, not to the app.
        HostKind::App(app) if super::uploads::is_upload_path(request.uri().path()) => {
            Box::pin(super::app_door::proxy(gate, &app, request)).await
        }
        _ if reserved => Box::pin(next(request)).await,
        HostKind::App(app) => Box::pin(super::app_door::proxy(gate, &app, request)).await,
        HostKind::Unknown => {
            let message = format!("This porch answers to {} only.", gate.settings.domain);
            error_page(gate, StatusCode::MISDIRECTED_REQUEST, &message, &Visitor::anonymous(&request))
        }
    }
}

/// Reads the whole body of a state-changing request to porch's own pages
/// (forms, never larger than `limits.form_body`) within `limits.form_time`,
/// before anything else looks at it. A body trickled in a byte at a time
/// would otherwise hold its place among the requests in flight for as long
/// as the sender likes (review finding M4): it gets 408 instead.
async fn whole_form(gate: &Gate, request: Request, next: impl AsyncFnOnce(Request) -> Response) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next(request).await;
    }
    // A package upload is no form: its handler reads it only for an owner,
    // streamed under apps.package_max.
    if request.uri().path() == super::routes::admin_apps::PACKAGE_UPLOAD {
        return next(request).await;
    }
    let visitor = Visitor::anonymous(&request);
    let visitor = || visitor.clone();
    let (parts, body) = request.into_parts();
    let limited = http_body_util::Limited::new(body, gate.settings.limits.form_body_bytes());
    let read = tokio::time::timeout(gate.settings.limits.form_time, http_body_util::BodyExt::collect(limited)).await;
    match read {
        Ok(Ok(collected)) => next(Request::from_parts(parts, axum::body::Body::from(collected.to_bytes()))).await,
        Ok(Err(e)) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            error_page(gate, StatusCode::PAYLOAD_TOO_LARGE, "What you sent is too large for this page.", &visitor())
        }
        Ok(Err(_)) => error_page(
            gate,
            StatusCode::BAD_REQUEST,
            "What you sent was cut off before it arrived. Go back and try again.",
            &visitor(),
        ),
        Err(_) => error_page(
            gate,
            StatusCode::REQUEST_TIMEOUT,
            "What you sent took too long to arrive. Check your connection, go back and try again.",
            &visitor(),
        ),
    }
}

impl Visitor {
    pub(super) fn anonymous(request: &Request) -> Visitor {
        Visitor { client: client_of(request), user_agent: user_agent(request.headers()), caller: None }
    }
}

/// The client the edge tagged a request with.
pub(super) fn client_of(request: &Request) -> ClientAddr {
    request.extensions().get::<ClientAddr>().copied().unwrap_or_else(ClientAddr::unknown)
}

fn user_agent(headers: &HeaderMap) -> String {
    headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default().chars().take(512).collect()
}

/// Decides who is calling from the session cookie, before anything else.
async fn identify(gate: &Gate, mut request: Request, next: impl AsyncFnOnce(Request) -> Response) -> Response {
    let jar = CookieJar::from_headers(request.headers());
    let mut visitor = Visitor::anonymous(&request);
    let mut refreshed = None;
    if let Some(cookie) = jar.get(sessions::cookie_name(&gate.settings)) {
        match sessions::resolve(&gate.store, &gate.settings, cookie.value()).await {
            Ok(Some(found)) => {
                visitor.caller = Some(found.caller);
                refreshed = found.refreshed;
            }
            Ok(None) => {}
            Err(e) => return e.into_response(),
        }
    }
    request.extensions_mut().insert(visitor);
    let mut response = next(request).await;
    if let Some(cookie) = refreshed
        && !response.headers().contains_key(header::SET_COOKIE)
        && let Ok(v) = HeaderValue::from_str(&cookie.to_string())
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// Refuses state-changing requests that a browser says came from another
/// site: `Sec-Fetch-Site` when sent, else `Origin` against `Host`. Requests
/// with neither (not from a browser) pass; signed-in forms still need their
/// per-session token (see [`Checked`]).
async fn refuse_cross_site(gate: &Gate, request: Request, next: impl AsyncFnOnce(Request) -> Response) -> Response {
    // A digest's one-click unsubscribe (RFC 8058) is posted by the mail
    // provider, from anywhere: its token is the authority, and all it can
    // do is stop that person's digests.
    if not_cross_site(&request) || request.uri().path().starts_with(UNSUBSCRIBE_PATH) {
        return next(request).await;
    }
    let visitor = request.extensions().get::<Visitor>().cloned().unwrap_or_else(|| Visitor::anonymous(&request));
    refuse_as_cross_site(gate, cross_site_detail(&request), &visitor).await
}

/// Where a digest's unsubscribe links point (`/mail/unsubscribe/<token>`).
pub const UNSUBSCRIBE_PATH: &str = "/mail/unsubscribe/";

/// Whether a request is safe (GET, HEAD, OPTIONS) or, by what the browser
/// says, came from this very origin. Apps' hosts are checked the same way:
/// sibling app hosts are the same *site*, so `SameSite` cookies alone would
/// not stop one app from posting to another.
pub fn not_cross_site(request: &Request) -> bool {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    let headers = request.headers();
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (fetch_site, origin) {
        (Some(site), _) => site == "same-origin" || site == "none",
        (None, Some(origin)) => origin_matches_host(origin, host),
        (None, None) => true,
    }
}

/// What the audit log says about a refused cross-site request.
pub fn cross_site_detail(request: &Request) -> String {
    let origin = request.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok());
    format!("{} {} from origin {}", request.method(), request.uri().path(), origin.unwrap_or("(none)"))
}

/// The 403 for a refused cross-site request, with its audit line: the
/// first few per client and window in full, the rest as one count
/// (`refusals`, review finding H1).
pub async fn refuse_as_cross_site(gate: &Gate, detail: String, visitor: &Visitor) -> Response {
    let verdict = gate.refusals.note(visitor.group());
    if verdict.untold > 0 {
        record_untold(gate, visitor.actor(), verdict.untold).await;
    }
    if verdict.record {
        record(&gate.store, visitor.actor(), Action::CsrfRefused, "", &detail).await;
    }
    GateError::CrossSite.into_response()
}

/// One audit row standing for `count` refused requests that were counted
/// but not written one by one.
pub(super) async fn record_untold(gate: &Gate, actor: Actor, count: u32) {
    let minutes = crate::common::limits::REFUSAL_WINDOW.as_secs() / 60;
    let detail = format!(
        "{count} more cross-site requests refused from this network within {minutes} min, not recorded one by one"
    );
    record(&gate.store, actor, Action::CsrfRefused, "", &detail).await;
}

fn origin_matches_host(origin: &str, host: Option<&str>) -> bool {
    let Some(host) = host else { return false };
    match url::Url::parse(origin) {
        Ok(url) => {
            let origin_host = match (url.host_str(), url.port()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_owned(),
                _ => return false,
            };
            origin_host.eq_ignore_ascii_case(host)
        }
        Err(_) => false,
    }
}

/// Turns error markers (and bare 404/405s from the router) into pages.
async fn render_errors(gate: &Gate, request: Request, next: impl AsyncFnOnce(Request) -> Response) -> Response {
    let visitor = request.extensions().get::<Visitor>().cloned().unwrap_or_else(|| Visitor::anonymous(&request));
    let response = next(request).await;
    // HTML pages, and the JSON answers of porch's own scripts (passkeys),
    // are shown as they are.
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html") || v.starts_with("application/json"));
    if let Some(page) = response.extensions().get::<ErrorPage>() {
        let mut shown = error_page(gate, page.status, &page.message, &visitor);
        if let Some(secs) = page.retry_after {
            shown.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        return shown;
    }
    let status = response.status();
    if status.is_client_error() && !is_html {
        let message = match status {
            StatusCode::NOT_FOUND => "There is nothing here. Check the address, or go back to the start page.",
            StatusCode::PAYLOAD_TOO_LARGE => "What you sent is too large for this page.",
            StatusCode::METHOD_NOT_ALLOWED => "This page cannot be used that way.",
            _ => "This request could not be understood. Go back and try again.",
        };
        return error_page(gate, status, message, &visitor);
    }
    response
}

/// A friendly page with a status and a message.
pub fn error_page(gate: &Gate, status: StatusCode, message: &str, visitor: &Visitor) -> Response {
    let ctx =
        context! { status => status.as_u16(), reason => status.canonical_reason(), message, ..visitor.page_context() };
    match gate.pages.render("error.html", ctx) {
        Ok(html) => (status, html).into_response(),
        Err(_) => (status, message.to_owned()).into_response(),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = GateError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Visitor, GateError> {
        parts.extensions.get::<Visitor>().cloned().ok_or(GateError::Forbidden("no visitor".into()))
    }
}

/// A signed-in person; anyone else is sent to the sign-in page.
pub struct SignedIn(pub Caller, pub Visitor);

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<SignedIn, Response> {
        let visitor = Visitor::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        match visitor.caller.clone() {
            Some(caller) => Ok(SignedIn(caller, visitor)),
            None => Err(to_signin(&parts.uri)),
        }
    }
}

fn to_signin(uri: &Uri) -> Response {
    let next = uri.path_and_query().map_or("/", |p| p.as_str());
    Redirect::to(&format!("/signin?{}", query_string(&[("next", next)]))).into_response()
}

/// `a=1&b=2`, form-encoded.
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    q.finish()
}

/// An owner; members get 403, anonymous visitors the sign-in page.
pub struct Owner(pub Visitor);

impl<S: Send + Sync> FromRequestParts<S> for Owner {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Owner, Response> {
        let SignedIn(caller, visitor) = SignedIn::from_request_parts(parts, state).await?;
        if caller.person.role != Role::Owner {
            return Err(GateError::Forbidden("only the owners of this porch can open this page".into()).into_response());
        }
        Ok(Owner(visitor))
    }
}

/// A form with a `csrf` field.
pub trait CsrfForm {
    fn csrf(&self) -> &str;
}

/// A form posted by a signed-in person that carries this session's CSRF
/// token; a missing or wrong token is refused with 403 and audited.
pub struct Checked<T>(pub Caller, pub Visitor, pub T);

impl<T> FromRequest<Gate> for Checked<T>
where
    T: DeserializeOwned + CsrfForm + Send,
{
    type Rejection = Response;

    async fn from_request(request: Request, gate: &Gate) -> Result<Checked<T>, Response> {
        let (mut parts, body) = request.into_parts();
        let SignedIn(caller, visitor) = SignedIn::from_request_parts(&mut parts, gate).await?;
        let path = parts.uri.path().to_owned();
        let Form(form) = Form::<T>::from_request(Request::from_parts(parts, body), gate)
            .await
            .map_err(IntoResponse::into_response)?;
        if !super::secret::text_matches(form.csrf(), &caller.csrf) {
            record(
                &gate.store,
                visitor.actor(),
                Action::CsrfRefused,
                "",
                &format!("POST {path} without a valid form token"),
            )
            .await;
            return Err(GateError::CrossSite.into_response());
        }
        Ok(Checked(caller, visitor, form))
    }
}

/// A [`Checked`] form from an owner; members get 403. Every admin action
/// takes this, so none can skip either check.
pub struct OwnerForm<T>(pub Visitor, pub T);

impl<T> FromRequest<Gate> for OwnerForm<T>
where
    T: DeserializeOwned + CsrfForm + Send,
{
    type Rejection = Response;

    async fn from_request(request: Request, gate: &Gate) -> Result<OwnerForm<T>, Response> {
        let Checked(caller, visitor, form) = Checked::<T>::from_request(request, gate).await?;
        if caller.person.role != Role::Owner {
            return Err(GateError::Forbidden("only the owners of this porch can do that".into()).into_response());
        }
        Ok(OwnerForm(visitor, form))
    }
}

/// The page a signed-in form should return to, if it is one of ours: a path
/// on this very origin, or `/`.
///
/// A browser reads a `Location` through the WHATWG URL parser, which drops
/// tabs and newlines and treats `\\` as `/` before anything else, so
/// `/\t/evil.example` or `/%5Cevil.example` would leave the site (review
/// finding M1). The value is resolved the same way against a fixed origin and
/// accepted only if the origin is unchanged and it holds no control
/// character, backslash or white space at all; what is returned is the
/// resolved path and query, never the text as sent.
pub fn safe_next(next: Option<&str>) -> String {
    const BASE: &str = "https://porch.invalid/";
    let Some(next) = next else { return "/".to_owned() };
    let plain = next.chars().all(|c| !c.is_control() && !c.is_whitespace() && c != '\\');
    if !plain || !next.starts_with('/') || next.starts_with("//") || next.len() > 2048 {
        return "/".to_owned();
    }
    let Ok(base) = url::Url::parse(BASE) else { return "/".to_owned() };
    match base.join(next) {
        Ok(url) if url.origin() == base.origin() => {
            let mut out = url.path().to_owned();
            if let Some(q) = url.query() {
                out.push('?');
                out.push_str(q);
            }
            if let Some(f) = url.fragment() {
                out.push('#');
                out.push_str(f);
            }
            if out.starts_with("//") { "/".to_owned() } else { out }
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn m1_next_never_leaves_the_origin() {
        for bad in [
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/\\evil.example",
            "/\t\\evil.example",
            "//evil.example",
            "/\u{b}/evil.example",
            "/ /evil.example",
            "https://evil.example/",
            "evil.example",
            "/\u{a0}/evil.example",
            "/\u{2028}/evil.example",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(Some("/a/b?c=d&e=%2F")), "/a/b?c=d&e=%2F");
        assert_eq!(safe_next(Some("/a/../../b")), "/b");
        assert_eq!(safe_next(Some("/%2F%2Fevil.example")), "/%2F%2Fevil.example");
        assert_eq!(safe_next(None), "/");
    }
}
