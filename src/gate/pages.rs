//! Page rendering: the minijinja templates from `templates/` and the files
//! from `static/`, both embedded in the binary at build time so one file is
//! all an owner has to run.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, Value};
use rust_embed::RustEmbed;

use super::error::GateError;

#[derive(RustEmbed)]
#[folder = "templates/"]
struct TemplateFiles;

#[derive(RustEmbed)]
#[folder = "static/"]
struct StaticFiles;

/// The loaded templates.
pub struct Pages {
    env: Environment<'static>,
}

impl Pages {
    pub fn load() -> Result<Pages, minijinja::Error> {
        let mut env = Environment::new();
        for name in TemplateFiles::iter() {
            let Some(file) = TemplateFiles::get(&name) else { continue };
            let text = String::from_utf8_lossy(&file.data).into_owned();
            env.add_template_owned(name.into_owned(), text)?;
        }
        env.add_filter("when", format_time);
        Ok(Pages { env })
    }

    pub fn render(&self, name: &str, ctx: Value) -> Result<Html<String>, GateError> {
        Ok(Html(self.env.get_template(name)?.render(ctx)?))
    }
}

/// Unix seconds as `2026-11-22 18:20 UTC`.
fn format_time(secs: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "?".into())
}

/// Serves one embedded static file (under `/.porch/static/`) to a GET or
/// HEAD. Each file's tag is its content hash, so a browser revalidating
/// with `If-None-Match` gets a bodiless 304. A HEAD gets the headers and
/// length only: this path skips axum's router, which would otherwise strip
/// the body, and over HTTP/2 a body on a HEAD breaks the stream.
pub fn static_file(path: &str, head: bool, if_none_match: Option<&HeaderValue>) -> Response {
    let Some(file) = STATIC.get(path) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let etag = || file.headers.get(header::ETAG).and_then(|v| v.to_str().ok());
    let fresh = if_none_match
        .and_then(|v| v.to_str().ok())
        .is_some_and(|asked| etag().is_some_and(|etag| etag_matches(asked, etag)));
    let body = if fresh || head { axum::body::Body::empty() } else { axum::body::Body::from(file.body.clone()) };
    let mut response = Response::new(body);
    *response.headers_mut() = file.headers.clone();
    if fresh {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response.headers_mut().remove(header::CONTENT_TYPE);
        response.headers_mut().remove(header::CONTENT_LENGTH);
    }
    response.extensions_mut().insert(super::web::Secured);
    response
}

/// One static file ready to send: its bytes and every header of its answer
/// (its `ETag` among them), the security headers included.
struct Prepared {
    body: bytes::Bytes,
    headers: HeaderMap,
}

/// The static files with their answers' headers, made once: the static path
/// is hot (every page load revalidates the stylesheet) and cloning a header
/// map costs less than building one. Debug builds of rust-embed read the
/// files from disk, so there an edit shows after a restart.
static STATIC: std::sync::LazyLock<std::collections::HashMap<String, Prepared>> = std::sync::LazyLock::new(|| {
    StaticFiles::iter()
        .filter_map(|name| {
            let file = StaticFiles::get(&name)?;
            let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..12]));
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(file.metadata.mimetype()).ok()?);
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(file.data.len()));
            headers.insert(header::ETAG, HeaderValue::from_str(&etag).ok()?);
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
            super::web::add_security_headers(&mut headers);
            let body = match file.data {
                // Embedded files are 'static in release builds: no copy.
                std::borrow::Cow::Borrowed(bytes) => bytes::Bytes::from_static(bytes),
                std::borrow::Cow::Owned(bytes) => bytes::Bytes::from(bytes),
            };
            Some((name.into_owned(), Prepared { body, headers }))
        })
        .collect()
});

/// Whether an `If-None-Match` value names `etag`: `*`, or a list of
/// tags, weak (`W/`) or strong, as RFC 9110 §13.1.2's weak comparison.
fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match.trim() == "*"
        || if_none_match.split(',').map(str::trim).any(|tag| tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_files_revalidate_by_tag_and_head_has_no_body() {
        let full = static_file("style.css", false, None);
        assert_eq!(full.status(), StatusCode::OK);
        let etag = full.headers()[header::ETAG].clone();
        let length = full.headers()[header::CONTENT_LENGTH].clone();
        assert!(etag.to_str().is_ok_and(|t| t.starts_with('"') && t.len() == 26), "{etag:?}");

        let head = static_file("style.css", true, None);
        assert_eq!(head.headers()[header::CONTENT_LENGTH], length, "a HEAD says how long the GET would be");
        assert!(axum::body::HttpBody::is_end_stream(head.body()), "and sends no body");

        for asked in [
            etag.to_str().unwrap_or_default().to_owned(),
            format!("\"x\", W/{}", etag.to_str().unwrap_or_default()),
            "*".into(),
        ] {
            let again = static_file("style.css", false, HeaderValue::from_str(&asked).ok().as_ref());
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{asked}");
            assert!(axum::body::HttpBody::is_end_stream(again.body()));
            assert_eq!(again.headers()[header::ETAG], etag);
        }
        let stale = static_file("style.css", false, Some(&HeaderValue::from_static("\"other\"")));
        assert_eq!(stale.status(), StatusCode::OK);
        assert_eq!(static_file("nope.css", false, None).status(), StatusCode::NOT_FOUND);
        for answer in [full, head, stale] {
            assert_eq!(answer.headers()[header::CACHE_CONTROL], "public, max-age=3600");
            assert_eq!(answer.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "security headers are built in");
        }
    }
}
