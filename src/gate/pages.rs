//! Page rendering: the minijinja templates from `templates/` and the files
//! from `static/`, both embedded in the binary at build time so one file is
//! all an owner has to run.

use axum::http::{HeaderValue, StatusCode, header};
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

/// Serves one embedded static file (under `/.porch/static/`).
pub fn static_file(path: &str) -> Response {
    match StaticFiles::get(path) {
        Some(file) => {
            let mime = file.metadata.mimetype();
            // Embedded files are 'static in release builds: no copy.
            let body = match file.data {
                std::borrow::Cow::Borrowed(bytes) => axum::body::Body::from(bytes::Bytes::from_static(bytes)),
                std::borrow::Cow::Owned(bytes) => axum::body::Body::from(bytes),
            };
            let mut response = body.into_response();
            let headers = response.headers_mut();
            if let Ok(v) = HeaderValue::from_str(mime) {
                headers.insert(header::CONTENT_TYPE, v);
            }
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
            response
        }
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}
