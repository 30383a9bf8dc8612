//! Answers and failures: the response helpers every handler uses, the
//! [`Error`] a handler returns (each becomes a friendly page with the right
//! status), and reading query strings and form bodies under a size limit.

use serde::Serialize;
use serde::de::DeserializeOwned;
use wstd::http::{Body, Request, Response};

use crate::host::types::Error as HostError;

/// What a handler returns.
pub type Reply = Result<Response<Body>, Error>;

/// Why a request did not get what it asked for. Each kind has a status
/// and a sentence a person can act on; [`crate::App`] shows it as a page
/// (the app's `error.html` template when it has one).
#[derive(Debug)]
pub enum Error {
    /// Missing, or not this person's to see: the same answer for both, so
    /// nobody learns what exists.
    NotFound,
    /// Their role does not allow it; the text says what would.
    Forbidden(String),
    /// The request itself is wrong (a form field, a name); the text says how.
    Bad(String),
    /// What was sent is larger than the app takes.
    TooLarge(String),
    /// A file of a kind the app does not take.
    Unsupported(String),
    /// Someone changed it at the same moment; trying again works.
    Conflict(String),
    /// A porch capability failed (quota, invalid input, not found, ...).
    Host(HostError),
    /// Another site (see [`crate::outbound`]) could not be reached or did
    /// not answer as expected; the text says which and why.
    Outbound(String),
    /// The request could not be read or the answer not built.
    Http(String),
}

impl From<HostError> for Error {
    fn from(e: HostError) -> Error {
        Error::Host(e)
    }
}

impl From<wstd::http::Error> for Error {
    fn from(e: wstd::http::Error) -> Error {
        Error::Http(e.to_string())
    }
}

impl From<http::Error> for Error {
    fn from(e: http::Error) -> Error {
        Error::Http(e.to_string())
    }
}

impl From<minijinja::Error> for Error {
    fn from(e: minijinja::Error) -> Error {
        Error::Http(format!("a page could not be made: {e}"))
    }
}

impl Error {
    /// The HTTP status this failure is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Error::NotFound | Error::Host(HostError::NotFound) => 404,
            Error::Forbidden(_) => 403,
            Error::Bad(_) => 400,
            Error::TooLarge(_) => 413,
            Error::Unsupported(_) => 415,
            Error::Conflict(_) => 409,
            Error::Outbound(_) => 502,
            Error::Host(HostError::QuotaExceeded(_)) => 507,
            Error::Host(HostError::Invalid(_) | HostError::Unsupported(_)) => 422,
            Error::Host(HostError::Internal(_)) | Error::Http(_) => 500,
        }
    }

    /// What the person is told.
    pub fn message(&self) -> String {
        match self {
            Error::NotFound => "There is nothing here, or it has not been shared with you.".into(),
            Error::Forbidden(m)
            | Error::Bad(m)
            | Error::TooLarge(m)
            | Error::Unsupported(m)
            | Error::Conflict(m)
            | Error::Host(HostError::Invalid(m) | HostError::Unsupported(m)) => m.clone(),
            Error::Host(HostError::QuotaExceeded(m)) => {
                format!("This app is full: {m}. Ask the porch owner to make room.")
            }
            Error::Host(HostError::NotFound) => "That is gone.".into(),
            Error::Host(HostError::Internal(m)) => format!("porch could not finish this: {m}. Try again later."),
            Error::Outbound(m) => format!("Another site could not help with this: {m}."),
            Error::Http(m) => format!("That could not be done: {m}"),
        }
    }
}

/// An HTML page (never cached: pages show who is signed in).
pub fn html(page: String) -> Reply {
    Ok(Response::builder()
        .header("content-type", "text/html; charset=utf-8")
        .header("cache-control", "no-store")
        .body(page.into())?)
}

/// Plain text with `status`.
pub fn text(status: u16, message: &str) -> Reply {
    Ok(Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .header("cache-control", "no-store")
        .body(message.to_owned().into())?)
}

/// `value` as JSON with `status` (for pages' scripts).
pub fn json<T: Serialize>(status: u16, value: &T) -> Reply {
    let body = serde_json::to_string(value).map_err(|e| Error::Http(e.to_string()))?;
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(body.into())?)
}

/// 303 See Other to `to`, a path on this app's host (after a form).
pub fn see_other(to: &str) -> Reply {
    Ok(Response::builder().status(303).header("location", to).body(Body::empty())?)
}

/// A file built into the app (a script, a style sheet).
pub fn asset(content_type: &str, text: &'static str) -> Reply {
    Ok(Response::builder()
        .header("content-type", format!("{content_type}; charset=utf-8"))
        .header("cache-control", "no-cache")
        .body(text.into())?)
}

/// The query string of `request` as `T` (missing fields take their serde
/// defaults; a malformed one is [`Error::Bad`]).
pub fn query<T: DeserializeOwned>(request: &Request<Body>) -> Result<T, Error> {
    let q = request.uri().query().unwrap_or("");
    serde_urlencoded::from_str(q).map_err(|e| Error::Bad(format!("The address is not one this app made: {e}")))
}

/// Reads a form body of at most `limit` bytes as `T`. Larger is
/// [`Error::TooLarge`], malformed is [`Error::Bad`].
pub async fn form<T: DeserializeOwned>(request: &mut Request<Body>, limit: usize) -> Result<T, Error> {
    let too_large = || Error::TooLarge(format!("That form is too large ({} at most).", crate::size_text(limit as u64)));
    if request.body().content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let body = request.body_mut().contents().await?;
    if body.len() > limit {
        return Err(too_large());
    }
    serde_urlencoded::from_bytes(body).map_err(|e| Error::Bad(format!("That form is missing something: {e}")))
}

/// A percent-encoded path segment or query value.
pub fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}
