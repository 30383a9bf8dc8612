//! Requests to other sites, for an app whose `app.toml` declares them:
//!
//! ```toml
//! [capabilities.outbound]
//! hosts = ["api.example.org", "tiles.example.org:8443"]  # exact hosts, nothing else
//! requests = 8      # at most this many per request the app serves (default 8)
//! bytes = "4MiB"    # bodies sent and received per request the app serves (default 4 MiB)
//! ```
//!
//! The owner sees the hosts before installing, and porch refuses
//! everything else: another host or port, an address that is private once
//! the name is resolved (unless the owner allowed that network), more
//! requests or bytes than declared. The Host header is always the URL's
//! host; an app cannot set its own.
//!
//! ```ignore
//! let forecast: Forecast = porch_app::outbound::get("https://api.example.org/today").await?.json()?;
//! ```
//!
//! Redirects are followed (at most [`MAX_REDIRECTS`]) for GET and HEAD,
//! each hop checked by porch like the first request, so a redirect to a
//! host the app did not list fails.

use serde::de::DeserializeOwned;
use wstd::http::{Body, Client, ErrorCode, Method, Request, Uri};

use crate::web::Error;

/// How many redirects [`get`] and [`send`] follow before giving up.
pub const MAX_REDIRECTS: usize = 5;

/// A response from another site, its body read whole.
#[derive(Debug)]
pub struct Fetched {
    /// The HTTP status, such as 200.
    pub status: u16,
    /// The response headers.
    pub headers: http::HeaderMap,
    /// The body.
    pub body: Vec<u8>,
    /// The URL that answered (after any redirects).
    pub url: String,
}

impl Fetched {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.body).map_err(|_| Error::Outbound(format!("{} did not answer with text", self.url)))
    }

    /// The body as JSON; a 2xx status is required.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        if !self.ok() {
            return Err(Error::Outbound(format!("{} answered with status {}", self.url, self.status)));
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::Outbound(format!("{} did not answer with the JSON expected: {e}", self.url)))
    }
}

/// `GET url`, following redirects.
pub async fn get(url: &str) -> Result<Fetched, Error> {
    let uri: Uri = url.parse().map_err(|_| Error::Bad(format!("{url:?} is not a URL")))?;
    send(Request::get(uri).body(Vec::new())?).await
}

/// Sends `request` (its body given whole) and reads the answer; GET and
/// HEAD follow redirects.
pub async fn send(request: Request<Vec<u8>>) -> Result<Fetched, Error> {
    let (parts, body) = request.into_parts();
    let follows = parts.method == Method::GET || parts.method == Method::HEAD;
    let mut url = parts.uri.clone();
    let client = Client::new();
    for _ in 0..=MAX_REDIRECTS {
        let mut next = Request::builder().method(parts.method.clone()).uri(url.clone());
        for (name, value) in &parts.headers {
            next = next.header(name, value);
        }
        let mut response = client.send(next.body(Body::from(body.clone()))?).await.map_err(|e| refused(&url, e))?;
        let status = response.status().as_u16();
        let location = response.headers().get(http::header::LOCATION).and_then(|l| l.to_str().ok());
        if follows && matches!(status, 301 | 302 | 303 | 307 | 308) {
            let Some(location) = location else {
                return Err(Error::Outbound(format!("{url} redirected without saying where")));
            };
            url = resolve(&url, location)?;
            continue;
        }
        let headers = response.headers().clone();
        let body = response.body_mut().contents().await.map_err(|e| refused(&url, e))?.to_vec();
        return Ok(Fetched { status, headers, body, url: url.to_string() });
    }
    Err(Error::Outbound(format!("{} redirected more than {MAX_REDIRECTS} times", parts.uri)))
}

/// A redirect's target: absolute, or relative to the URL that sent it.
fn resolve(base: &Uri, location: &str) -> Result<Uri, Error> {
    let bad = || Error::Outbound(format!("{base} redirected to {location:?}, which is not a URL"));
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.parse().map_err(|_| bad());
    }
    let path = if location.starts_with('/') {
        location.to_owned()
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(dir, _)| dir);
        format!("{dir}/{location}")
    };
    let mut parts = base.clone().into_parts();
    parts.path_and_query = Some(path.parse().map_err(|_| bad())?);
    Uri::from_parts(parts).map_err(|_| bad())
}

/// Says why porch or the other site refused, as plainly as the error code
/// allows.
fn refused(url: &Uri, e: wstd::http::Error) -> Error {
    let host = url.authority().map_or_else(|| url.to_string(), |a| a.to_string());
    let why = match e.downcast_ref::<ErrorCode>() {
        Some(ErrorCode::HttpRequestDenied) => {
            format!("porch does not let this app reach {host}: it is not one of the hosts in its app.toml")
        }
        Some(ErrorCode::DestinationIpProhibited) => {
            format!("porch does not let apps reach {host}: its address is private, loopback or link-local")
        }
        Some(ErrorCode::ConnectionLimitReached) => {
            "this app already sent as many requests as its app.toml allows for one visit".to_owned()
        }
        Some(ErrorCode::HttpResponseBodySize(_) | ErrorCode::HttpRequestBodySize(_)) => {
            format!("the exchange with {host} was larger than this app's app.toml allows")
        }
        Some(ErrorCode::DestinationNotFound | ErrorCode::DnsError(_)) => format!("{host} was not found"),
        Some(ErrorCode::ConnectionRefused) => format!("{host} refused the connection"),
        Some(ErrorCode::TlsCertificateError) => format!("{host} did not show a certificate porch trusts"),
        Some(ErrorCode::ConnectionTimeout | ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout) => {
            format!("{host} took too long to answer")
        }
        Some(code) => format!("{host} could not be reached ({code:?})"),
        // A body that failed half-way reaches the app as a stream error
        // whose code is only in its text.
        None if format!("{e:#}").contains("body size exceeds limit") => {
            format!("the exchange with {host} was larger than this app's app.toml allows")
        }
        None => format!("{host} could not be reached ({e:#})"),
    };
    Error::Outbound(why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_resolve_against_the_url_that_sent_them() {
        let base: Uri = "https://a.example/x/y?q=1".parse().expect("uri");
        assert_eq!(resolve(&base, "/z").expect("abs path").to_string(), "https://a.example/z");
        assert_eq!(resolve(&base, "z?w").expect("rel").to_string(), "https://a.example/x/z?w");
        assert_eq!(resolve(&base, "http://b.example/").expect("abs").to_string(), "http://b.example/");
        assert!(resolve(&base, "https://bad host/").is_err());
    }
}
