//! HTTP plumbing: replies, failures and how they are shown, form and query
//! parsing, and the page frame every HTML page shares.

use porch_app::{HostError, escape_html};
use wstd::http::{Body, Error, Request, Response};

pub type Reply = Result<Response<Body>, Fail>;

/// Why a request did not get what it asked for.
#[derive(Debug)]
pub enum Fail {
    /// Missing, or not shared with this person: the same answer for both.
    NotFound,
    Forbidden,
    Bad(String),
    /// An upload that is not a photo or video the album takes.
    NotMedia(String),
    Host(HostError),
    Http(String),
}

impl From<HostError> for Fail {
    fn from(e: HostError) -> Fail {
        Fail::Host(e)
    }
}

impl From<http::Error> for Fail {
    fn from(e: http::Error) -> Fail {
        Fail::Http(e.to_string())
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail::Http(e.to_string())
    }
}

impl Fail {
    pub fn status(&self) -> u16 {
        match self {
            Fail::NotFound => 404,
            Fail::Forbidden => 403,
            Fail::Bad(_) => 400,
            Fail::NotMedia(_) => 415,
            Fail::Host(HostError::QuotaExceeded(_)) => 507,
            Fail::Host(HostError::Invalid(_) | HostError::Unsupported(_)) => 422,
            Fail::Host(HostError::NotFound) => 404,
            Fail::Host(HostError::Internal(_)) | Fail::Http(_) => 500,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Fail::NotFound => "There is nothing here, or it has not been shared with you.".into(),
            Fail::Forbidden => "Your role in this album does not allow that. Ask the album's owner.".into(),
            Fail::Bad(m) | Fail::NotMedia(m) => m.clone(),
            Fail::Host(HostError::QuotaExceeded(m)) => {
                format!("The photo album is full: {m}. Ask the porch owner to make room.")
            }
            Fail::Host(HostError::Invalid(m) | HostError::Unsupported(m)) => m.clone(),
            Fail::Host(HostError::NotFound) => "That file is gone.".into(),
            Fail::Host(HostError::Internal(m)) => format!("porch could not finish this: {m}. Try again later."),
            Fail::Http(m) => format!("The request could not be read: {m}"),
        }
    }
}

pub fn not_found() -> Reply {
    Err(Fail::NotFound)
}

pub fn error_page(fail: Fail) -> Result<Response<Body>, Error> {
    let status = fail.status();
    let body = frame(
        "Photos",
        &format!(
            "<main class=\"narrow\"><h1>{}</h1><p id=\"error\">{}</p><p><a href=\"/\">Back to the albums</a></p></main>",
            if status == 404 { "Not found" } else { "That did not work" },
            escape_html(&fail.message())
        ),
    );
    Ok(Response::builder()
        .status(status)
        .header("content-type", "text/html; charset=utf-8")
        .header("cache-control", "no-store")
        .body(body.into())?)
}

pub fn text(status: u16, message: &str) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(message.to_owned().into())?)
}

pub fn html(page: String) -> Reply {
    Ok(Response::builder()
        .header("content-type", "text/html; charset=utf-8")
        .header("cache-control", "no-store")
        .body(page.into())?)
}

pub fn json(status: u16, value: &serde_json::Value) -> Reply {
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(value.to_string().into())?)
}

/// 303 to `to` (a path on this host).
pub fn see_other(to: &str) -> Reply {
    Ok(Response::builder().status(303).header("location", to).body(Body::empty())?)
}

pub fn asset(content_type: &str, text: &'static str) -> Reply {
    Ok(Response::builder()
        .header("content-type", format!("{content_type}; charset=utf-8"))
        .header("cache-control", "no-cache")
        .body(text.into())?)
}

/// One value from a query string or form body.
pub fn param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// Every pair of a form body.
pub fn pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// Reads a small form body (at most 64 KiB).
pub async fn form(mut request: Request<Body>) -> Result<Vec<(String, String)>, Fail> {
    if request.body().content_length().is_some_and(|n| n > 64 * 1024) {
        return Err(Fail::Bad("That form is too large (64 KiB at most).".into()));
    }
    let body = request.body_mut().contents().await?;
    if body.len() > 64 * 1024 {
        return Err(Fail::Bad("That form is too large (64 KiB at most).".into()));
    }
    Ok(pairs(body))
}

pub fn get<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The HTML around every page.
pub fn frame(title: &str, main: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><link rel=\"stylesheet\" href=\"/static/photos.css\">\
         <script src=\"/static/photos.js\" defer></script></head><body>\
         <header class=\"top\"><a href=\"/\" class=\"brand\">Photos</a></header>{main}</body></html>",
        escape_html(title)
    )
}

/// A percent-encoded path or query component.
pub fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}
