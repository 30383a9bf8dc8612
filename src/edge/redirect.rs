//! The plain-HTTP listener beside HTTPS (usually port 80): it answers ACME
//! HTTP-01 checks from the live challenges and sends everyone else to the
//! same page over HTTPS. Only porch's own names are redirected to; any other
//! Host header goes to porch's front page, so this is no open redirect.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::challenges::Challenges;

#[derive(Clone)]
struct Redirects {
    challenges: Arc<Challenges>,
    domain: String,
    /// `:8443`, or empty for 443.
    https_port: String,
}

/// The router for the plain-HTTP listener.
pub fn router(challenges: Arc<Challenges>, domain: &str, https_port: u16) -> Router {
    let https_port = if https_port == 443 { String::new() } else { format!(":{https_port}") };
    let state = Redirects { challenges, domain: domain.to_owned(), https_port };
    Router::new().route("/.well-known/acme-challenge/{token}", get(http01)).fallback(to_https).with_state(state)
}

async fn http01(State(s): State<Redirects>, Path(token): Path<String>) -> Response {
    match s.challenges.http01(&token) {
        Some(key_authorization) => {
            ([(header::CONTENT_TYPE, "application/octet-stream")], key_authorization).into_response()
        }
        None => (StatusCode::NOT_FOUND, "No such ACME challenge is live.\n").into_response(),
    }
}

async fn to_https(State(s): State<Redirects>, request: Request) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.rsplit_once(':').map_or(h, |(name, _)| name).trim_end_matches('.').to_ascii_lowercase())
        .unwrap_or_default();
    let ours = host == s.domain || host.strip_suffix(&s.domain).is_some_and(|sub| sub.ends_with('.') && sub.len() > 1);
    let target = if ours {
        let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
        format!("https://{host}{}{path}", s.https_port)
    } else {
        format!("https://{}{}/", s.domain, s.https_port)
    };
    Redirect::permanent(&target).into_response()
}
