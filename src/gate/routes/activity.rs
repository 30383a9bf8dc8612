//! What's new: the feed on the start page (the news apps published for the
//! signed-in person, newest first, unread marked), opening one line (marked
//! seen, then on to its place in the app), its picture, and "mark all seen".

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};

use super::door::CsrfOnly;
use crate::common::clock::now;
use crate::gate::Gate;
use crate::gate::app_door::app_origin;
use crate::gate::error::GateError;
use crate::gate::sessions::Caller;
use crate::gate::web::{Checked, SignedIn};

/// How many lines the start page shows.
pub const FEED_LINES: u32 = 30;

/// "just now", "5 min ago", "3 h ago", "yesterday", "4 days ago", or the
/// date.
pub fn ago(now: i64, then: i64) -> String {
    let s = now.saturating_sub(then).max(0);
    match s {
        0..60 => "just now".into(),
        60..3600 => format!("{} min ago", s / 60),
        3600..86_400 => format!("{} h ago", s / 3600),
        86_400..172_800 => "yesterday".into(),
        172_800..2_592_000 => format!("{} days ago", s / 86_400),
        _ => time::OffsetDateTime::from_unix_timestamp(then)
            .map(|t| format!("{} {} {}", t.day(), t.month(), t.year()))
            .unwrap_or_default(),
    }
}

/// The caller's feed and unread counts per app, for the start page.
pub async fn feed(
    gate: &Gate,
    caller: &Caller,
) -> Result<(Vec<Value>, std::collections::HashMap<String, i64>), GateError> {
    let at = now();
    let items = gate.store.activity_feed(caller.person.id, FEED_LINES).await?;
    let unread = gate.store.activity_unread(caller.person.id).await?.into_iter().collect();
    let lines = items
        .into_iter()
        .map(|item| {
            context! {
                id => item.id,
                app => item.app_name,
                who => item.actor.clone().unwrap_or_else(|| "Someone".into()),
                line => item.line(),
                when => ago(at, item.updated_at),
                picture => item.thumbnail.is_some(),
                new => !item.seen,
            }
        })
        .collect();
    Ok((lines, unread))
}

/// Opens one line: it is seen, and the browser goes to its place in the
/// app (through the app's own door, which signs it in there).
pub async fn open(
    State(gate): State<Gate>,
    Path(id): Path<i64>,
    SignedIn(caller, _): SignedIn,
) -> Result<Response, GateError> {
    let item = gate.store.activity_item(caller.person.id, id).await?.ok_or(GateError::NotFound)?;
    gate.store.mark_activity_seen(caller.person.id, Some(id), now()).await?;
    let to = format!("{}{}", app_origin(&gate.base_url, &item.app_id), item.link);
    Ok(Redirect::to(&to).into_response())
}

/// A line's picture: only for the person whose feed holds it, and only
/// while its app still has the blob.
pub async fn picture(
    State(gate): State<Gate>,
    Path(id): Path<i64>,
    SignedIn(caller, _): SignedIn,
) -> Result<Response, GateError> {
    let item = gate.store.activity_item(caller.person.id, id).await?.ok_or(GateError::NotFound)?;
    let name = item.thumbnail.ok_or(GateError::NotFound)?;
    let picture = gate
        .apps
        .activity_picture(&item.app_id, &name)
        .await
        .map_err(|e| GateError::App(e.to_string()))?
        .ok_or(GateError::NotFound)?;
    let mut response = picture.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(picture.content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
    Ok(response)
}

/// "Mark all as seen".
pub async fn seen_all(
    State(gate): State<Gate>,
    Checked(caller, _, _): Checked<CsrfOnly>,
) -> Result<Response, GateError> {
    gate.store.mark_activity_seen(caller.person.id, None, now()).await?;
    Ok(Redirect::to("/#news").into_response())
}

#[cfg(test)]
mod tests {
    use super::ago;

    #[test]
    fn times_read_like_a_person_would_say_them() {
        let now = 1_700_000_000;
        assert_eq!(ago(now, now), "just now");
        assert_eq!(ago(now, now + 30), "just now", "a clock a little ahead is not the future");
        assert_eq!(ago(now, now - 300), "5 min ago");
        assert_eq!(ago(now, now - 7200), "2 h ago");
        assert_eq!(ago(now, now - 90_000), "yesterday");
        assert_eq!(ago(now, now - 4 * 86_400), "4 days ago");
        assert_eq!(ago(now, 1_600_000_000), "13 September 2020");
    }
}
