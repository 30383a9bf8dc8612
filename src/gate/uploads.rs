//! Resumable uploads on app hosts: tus 1.0.0 (core protocol with the
//! creation, expiration and termination extensions) at `/.porch/uploads`,
//! for the signed-in person of an app that keeps blobs.
//!
//! Why tus and not the IETF's "Resumable Uploads for HTTP": tus 1.0 is
//! stable and has clients for every platform (tus-js-client, TUSKit, Uppy,
//! tus-android-client), while the IETF draft still changes between drafts.
//!
//! - `POST /.porch/uploads` with `Upload-Length` opens an upload (refused
//!   past the app's `limits.request_body`, or when its quota has no room for
//!   the whole length, which it then reserves) and answers its URL;
//! - `HEAD` on that URL says how many bytes porch has (`Upload-Offset`);
//! - `PATCH` with `Upload-Offset` equal to that adds the body's bytes; a
//!   body cut off keeps what arrived, so the client asks again and goes on;
//! - `DELETE` ends it.
//!
//! A finished upload is nobody's blob yet: the app's own page then asks the
//! app, which claims it (`blobs.claim-upload`) and checks it like any
//! upload. Uploads are the person's and the app's own; anyone else's URL is
//! 404, like one that never was. Unfinished ones lapse after
//! `uploads.unfinished_for` without new bytes.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::RngCore;

use super::Gate;
use crate::apps::LoadedApp;
use crate::common::clock::now;
use crate::store::uploads::{Stopped, id_hash};
use crate::store::{NewUpload, UploadRow};

/// Where the endpoint is, on every app host.
pub const PATH: &str = "/.porch/uploads";

const VERSION: &str = "1.0.0";
const EXTENSIONS: &str = "creation,expiration,termination";
/// The most `Upload-Metadata` porch keeps.
const MAX_METADATA: usize = 4096;
/// How long a request waits for another one still writing the same upload
/// (a connection that broke before porch noticed).
const HOLD_WAIT: Duration = Duration::from_secs(10);

/// Whether a request on an app host is for the upload endpoint.
pub fn is_upload_path(path: &str) -> bool {
    path == PATH || path.strip_prefix(PATH).is_some_and(|rest| rest.starts_with('/'))
}

/// Serves one tus request for `person` on `app`.
pub async fn serve(gate: &Gate, app: &LoadedApp, person: i64, request: Request) -> Response {
    let method = request.method().clone();
    if method == Method::OPTIONS {
        return options(app);
    }
    let resumable = request.headers().get("tus-resumable").and_then(|v| v.to_str().ok());
    if resumable != Some(VERSION) {
        let mut response = said(StatusCode::PRECONDITION_FAILED, "porch speaks tus 1.0.0 (Tus-Resumable: 1.0.0).");
        response.headers_mut().insert("tus-version", HeaderValue::from_static(VERSION));
        return response;
    }
    let Some(quota) = app.manifest.capabilities.blobs else {
        return said(StatusCode::NOT_FOUND, "This app does not keep files, so it takes no uploads.");
    };
    let path = request.uri().path().to_owned();
    let id = path.strip_prefix(PATH).unwrap_or_default().trim_start_matches('/').to_owned();
    let answer = match (method, id.is_empty()) {
        (Method::POST, true) => create(gate, app, person, quota, request.headers()).await,
        (Method::HEAD, false) => head(gate, app, person, &id).await,
        (Method::PATCH, false) => patch(gate, app, person, &id, request).await,
        (Method::DELETE, false) => delete(gate, app, person, &id).await,
        _ => Err(said(StatusCode::METHOD_NOT_ALLOWED, "Not a tus request porch serves here.")),
    };
    answer.unwrap_or_else(|refusal| refusal)
}

type Answer = Result<Response, Response>;

fn options(app: &LoadedApp) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    tus_headers(h);
    h.insert("tus-version", HeaderValue::from_static(VERSION));
    h.insert("tus-extension", HeaderValue::from_static(EXTENSIONS));
    set_number(h, "tus-max-size", app.manifest.limits.request_body);
    response
}

/// A refusal with a sentence a person can act on.
fn said(status: StatusCode, message: &str) -> Response {
    let mut response = (status, message.to_owned()).into_response();
    tus_headers(response.headers_mut());
    response
}

fn tus_headers(h: &mut HeaderMap) {
    h.insert("tus-resumable", HeaderValue::from_static(VERSION));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn set_number(h: &mut HeaderMap, name: &'static str, n: u64) {
    h.insert(name, HeaderValue::from(n));
}

fn set_expires(h: &mut HeaderMap, at: i64) {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let text = time::OffsetDateTime::from_unix_timestamp(at).ok().and_then(|t| t.format(&format).ok());
    if let Some(v) = text.and_then(|t| HeaderValue::from_str(&t).ok()) {
        h.insert("upload-expires", v);
    }
}

fn number(headers: &HeaderMap, name: &str) -> Option<u64> {
    let text = headers.get(name)?.to_str().ok()?;
    // Digits only: no sign, no spaces, no hex.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "an upload request failed");
    said(StatusCode::INTERNAL_SERVER_ERROR, "porch could not store this part of the upload; try again later.")
}

fn storage(e: std::io::Error) -> Response {
    if e.kind() == std::io::ErrorKind::StorageFull {
        tracing::warn!(error = %e, "refused an upload: the disk is full");
        return said(StatusCode::INSUFFICIENT_STORAGE, "The server's disk is full; ask the owner to make room.");
    }
    internal(e)
}

fn lapse_time(gate: &Gate) -> i64 {
    let secs = i64::try_from(gate.settings.uploads.unfinished_for.as_secs()).unwrap_or(i64::MAX);
    now().saturating_add(secs)
}

async fn create(gate: &Gate, app: &LoadedApp, person: i64, quota: u64, headers: &HeaderMap) -> Answer {
    if headers.contains_key("upload-defer-length") {
        return Err(said(StatusCode::BAD_REQUEST, "porch needs the upload's length up front (Upload-Length)."));
    }
    let Some(length) = number(headers, "upload-length") else {
        return Err(said(StatusCode::BAD_REQUEST, "Upload-Length must be the file's size in bytes."));
    };
    let max = app.manifest.limits.request_body;
    if length > max {
        let message = format!("That file is larger than {} allows.", crate::apps::manifest::size_text(max));
        return Err(said(StatusCode::PAYLOAD_TOO_LARGE, &message));
    }
    let metadata = headers.get("upload-metadata").map_or(Ok(""), |v| v.to_str()).unwrap_or("\u{0}");
    if metadata.len() > MAX_METADATA || metadata.contains('\u{0}') {
        return Err(said(StatusCode::BAD_REQUEST, "Upload-Metadata must be plain text of at most 4 KiB."));
    }
    // Lapsed uploads go first, so their room is free for this one.
    if let Err(e) = gate.apps.end_lapsed_uploads(now()).await {
        tracing::warn!(error = %e, "could not sweep lapsed uploads");
    }
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let id = hex::encode(raw);
    let hash = id_hash(&id).ok_or_else(|| internal("a fresh upload id did not hash"))?;
    let files = gate.apps.uploads();
    let expires_at = lapse_time(gate);
    let new = NewUpload { id_hash: &hash, app: &app.manifest.id, person, length, metadata, at: now(), expires_at };
    match gate.store.open_upload(&new, quota).await {
        Ok(Ok(())) => {}
        Ok(Err(q)) => {
            let message = format!(
                "There is no room left for this file: {} of this app's {} are in use.",
                crate::apps::manifest::size_text(q.used),
                crate::apps::manifest::size_text(q.quota)
            );
            return Err(said(StatusCode::PAYLOAD_TOO_LARGE, &message));
        }
        Err(e) => return Err(internal(e)),
    }
    // The row came first: a sweep never takes the file of a row it has not
    // seen for a leftover (and the file has a grace time besides).
    if let Err(e) = files.create(&hash).await {
        let _ = gate.store.close_upload(&hash).await;
        return Err(storage(e));
    }
    let mut response = StatusCode::CREATED.into_response();
    let h = response.headers_mut();
    tus_headers(h);
    if let Ok(v) = HeaderValue::from_str(&format!("{PATH}/{id}")) {
        h.insert(header::LOCATION, v);
    }
    set_number(h, "upload-offset", 0);
    set_expires(h, expires_at);
    Ok(response)
}

/// The caller's upload `id` of this app, or 404.
async fn find(gate: &Gate, app: &LoadedApp, person: i64, id: &str) -> Result<UploadRow, Response> {
    let gone = || {
        said(StatusCode::NOT_FOUND, "That upload is gone (unfinished ones are kept for a while); send the file again.")
    };
    let hash = id_hash(id).ok_or_else(gone)?;
    let row = gate.store.upload(&hash).await.map_err(internal)?.ok_or_else(gone)?;
    if row.app_id != app.manifest.id || row.person_id != person {
        return Err(gone());
    }
    Ok(row)
}

async fn head(gate: &Gate, app: &LoadedApp, person: i64, id: &str) -> Answer {
    let row = find(gate, app, person, id).await?;
    let Some(offset) = gate.apps.uploads().offset(&row.id_hash).await.map_err(internal)? else {
        let _ = gate.store.close_upload(&row.id_hash).await;
        return Err(said(StatusCode::NOT_FOUND, "That upload is gone; send the file again."));
    };
    let mut response = StatusCode::OK.into_response();
    let h = response.headers_mut();
    tus_headers(h);
    set_number(h, "upload-offset", offset);
    set_number(h, "upload-length", row.length());
    set_expires(h, row.expires_at);
    Ok(response)
}

/// The most of a refused part's body porch reads (and throws away) before
/// answering, so a client still sending it gets the answer rather than a
/// broken connection.
const DRAIN_MAX: usize = 64 << 20;

async fn patch(gate: &Gate, app: &LoadedApp, person: i64, id: &str, request: Request) -> Answer {
    let (parts, body) = request.into_parts();
    let mut unread = Some(body);
    let answer = patch_part(gate, app, person, id, &parts.headers, &mut unread).await;
    if answer.is_err()
        && let Some(body) = unread
    {
        let drain = axum::body::to_bytes(body, DRAIN_MAX);
        let _ = tokio::time::timeout(Duration::from_secs(10), drain).await;
    }
    answer
}

/// One part: checked, then appended. `body` is taken only once the part is
/// accepted, so a refusal leaves it for [`patch`] to read away.
async fn patch_part(
    gate: &Gate,
    app: &LoadedApp,
    person: i64,
    id: &str,
    headers: &HeaderMap,
    body: &mut Option<Body>,
) -> Answer {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !content_type.trim().eq_ignore_ascii_case("application/offset+octet-stream") {
        let message = "A part of an upload is sent as application/offset+octet-stream.";
        return Err(said(StatusCode::UNSUPPORTED_MEDIA_TYPE, message));
    }
    let Some(claimed) = number(headers, "upload-offset") else {
        return Err(said(StatusCode::BAD_REQUEST, "Upload-Offset must say where this part starts."));
    };
    let row = find(gate, app, person, id).await?;
    let files = gate.apps.uploads();
    let Some(mut held) = files.hold(&row.id_hash, HOLD_WAIT).await.map_err(internal)? else {
        let message = "Another request is still sending this upload; ask for its offset and try again.";
        return Err(said(StatusCode::LOCKED, message));
    };
    let Some(offset) = files.offset(&row.id_hash).await.map_err(internal)? else {
        let _ = gate.store.close_upload(&row.id_hash).await;
        return Err(said(StatusCode::NOT_FOUND, "That upload is gone; send the file again."));
    };
    if claimed != offset {
        let message = "That is not where this upload stands; ask for its offset (HEAD) and go on from there.";
        let mut refusal = said(StatusCode::CONFLICT, message);
        set_number(refusal.headers_mut(), "upload-offset", offset);
        return Err(refusal);
    }
    let room = row.length().saturating_sub(offset);
    if number(headers, "content-length").is_some_and(|n| n > room) {
        return Err(said(StatusCode::BAD_REQUEST, "This part goes past the upload's length (Upload-Length)."));
    }
    let Some(body) = body.take() else { return Err(internal("a part's body was taken twice")) };
    let stream = body.into_data_stream();
    // A part whose bytes stop arriving ends like any stalled upload, after
    // `limits.idle_timeout`; what arrived is kept.
    let idle = gate.settings.limits.idle_timeout;
    let (offset, stopped) = files.append(&mut held, stream, room, idle).await.map_err(storage)?;
    drop(held);
    let expires_at = lapse_time(gate);
    if let Err(e) = gate.store.touch_upload(&row.id_hash, expires_at).await {
        tracing::warn!(error = %e, "could not move an upload's lapse time");
    }
    let mut response = match stopped {
        Stopped::BodyEnded => StatusCode::NO_CONTENT.into_response(),
        Stopped::BodyFailed => said(StatusCode::BAD_REQUEST, "The part was cut off; what arrived is kept."),
        Stopped::Idle => said(StatusCode::REQUEST_TIMEOUT, "Nothing arrived for a while; what arrived is kept."),
        Stopped::PastLength => {
            said(StatusCode::BAD_REQUEST, "This part went past the upload's length; the rest was not kept.")
        }
    };
    let h = response.headers_mut();
    tus_headers(h);
    set_number(h, "upload-offset", offset);
    set_expires(h, expires_at);
    Ok(response)
}

async fn delete(gate: &Gate, app: &LoadedApp, person: i64, id: &str) -> Answer {
    let row = find(gate, app, person, id).await?;
    let files = gate.apps.uploads();
    let held = files.hold(&row.id_hash, HOLD_WAIT).await.map_err(internal)?;
    gate.store.close_upload(&row.id_hash).await.map_err(internal)?;
    drop(held);
    files.remove(&row.id_hash).await.map_err(internal)?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    tus_headers(response.headers_mut());
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_endpoint_and_its_uploads_are_upload_paths() {
        assert!(is_upload_path("/.porch/uploads"));
        assert!(is_upload_path("/.porch/uploads/abc"));
        assert!(!is_upload_path("/.porch/uploadsx"));
        assert!(!is_upload_path("/a/.porch/uploads"));
    }

    #[test]
    fn numbers_are_plain_digits() {
        let mut h = HeaderMap::new();
        for (text, want) in [("12", Some(12)), ("+1", None), ("", None), (" 1", None), ("0x10", None)] {
            h.insert("upload-offset", HeaderValue::from_str(text).expect("header"));
            assert_eq!(number(&h, "upload-offset"), want, "{text:?}");
        }
        assert_eq!(number(&HeaderMap::new(), "upload-offset"), None);
    }
}
