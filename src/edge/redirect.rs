//! The plain-HTTP listener beside HTTPS (usually port 80): it answers ACME
//! HTTP-01 checks from the live challenges and sends everyone else to the
//! same page over HTTPS. Only porch's own names are redirected to (the
//! domain, or one DNS label in front of it); any other Host header goes to
//! porch's front page, so this is no open redirect. Every answer carries
//! the same protective headers as porch's own pages.

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
    Router::new()
        .route("/.well-known/acme-challenge/{token}", get(http01))
        .fallback(to_https)
        .with_state(state)
        .layer(axum::middleware::map_response(secure))
}

/// Headers that keep a plain-HTTP answer from being sniffed, framed,
/// cached or followed by a referrer.
async fn secure(mut response: Response) -> Response {
    crate::common::headers::secure(response.headers_mut(), crate::common::headers::Answer::Plain);
    response
}

/// Whether `host` (lower case, no port) is porch's domain or an app host
/// under it, by the same rule the gate routes by: `evil.example/.family.example`
/// is not.
fn is_ours(host: &str, domain: &str) -> bool {
    match crate::common::names::classify(Some(host), domain) {
        crate::common::names::HostKind::App(_) => true,
        crate::common::names::HostKind::Porch => host == domain,
        crate::common::names::HostKind::Unknown => false,
    }
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
        .map(crate::common::names::host_name)
        .unwrap_or_default();
    let ours = is_ours(&host, &s.domain);
    let target = if ours {
        let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
        format!("https://{host}{}{path}", s.https_port)
    } else {
        format!("https://{}{}/", s.domain, s.https_port)
    };
    Redirect::permanent(&target).into_response()
}

#[cfg(test)]
mod tests {
    use super::is_ours;

    #[test]
    fn only_porchs_own_names_are_redirected_to() {
        assert!(is_ours("family.example", "family.example"));
        assert!(is_ours("photos.family.example", "family.example"));
        for other in [
            "evil.com/.family.example",
            "a.b.family.example",
            "-x.family.example",
            ".family.example",
            "evilfamily.example",
            "x y.family.example",
            "evil.com?.family.example",
        ] {
            assert!(!is_ours(other, "family.example"), "{other}");
        }
    }
}
