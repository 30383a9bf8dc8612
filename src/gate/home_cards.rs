//! Cards under an app's tile on porch's start page, such as the albums a
//! person can see, with their covers. porch asks the app (the path `home`
//! names in its app.toml) as the signed-in person, like any request of
//! theirs, and shows what it answers after checking all of it: JSON within
//! [`HOME_CARDS_BODY`] bytes and [`HOME_CARDS_TIME`], at most
//! [`HOME_CARDS_MAX`] cards, links that stay on the app's host, pictures
//! that are small JPEG, PNG or WebP (the `data:` URL is made again here
//! from the checked bytes), text the template escapes. An app that fails,
//! is slow or answers nonsense simply shows no cards.
//!
//! The app answers `{"cards": [{"title": "...", "note": "...", "path":
//! "/a/x", "image": "data:image/jpeg;base64,..."}]}` (`note` and `image`
//! optional).

use crate::common::limits::{HOME_CARD_IMAGE, HOME_CARDS_BODY, HOME_CARDS_MAX, HOME_CARDS_TIME};
use axum::body::Body;
use axum::http::{Method, Request, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};

use super::Gate;
use super::app_door::{Identity, app_origin, rewrite_headers};
use super::sessions::Caller;
use crate::store::Role;

/// One card as the start page shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Card {
    pub title: String,
    pub note: String,
    /// Absolute URL on the app's host.
    pub url: String,
    /// A `data:` URL of the checked picture, if it had a good one.
    pub image: Option<String>,
}

#[derive(Deserialize)]
struct Answer {
    cards: Vec<RawCard>,
}

#[derive(Deserialize)]
struct RawCard {
    title: String,
    #[serde(default)]
    note: String,
    path: String,
    image: Option<String>,
}

/// The cards `app_id` has for `caller` (whose role in it is `app_role`);
/// empty when it has none, fails or is slow.
pub async fn cards(gate: &Gate, caller: &Caller, app_id: &str, app_role: &str) -> Vec<Card> {
    match tokio::time::timeout(HOME_CARDS_TIME, ask(gate, caller, app_id, app_role)).await {
        Ok(Some(body)) => parse(&body, &app_origin(&gate.base_url, app_id)),
        Ok(None) => Vec::new(),
        Err(_) => {
            tracing::debug!(app = %app_id, "an app's start-page cards took too long; shown without them");
            Vec::new()
        }
    }
}

/// The app's answer to its `home` path, if it has one and answered 200.
async fn ask(gate: &Gate, caller: &Caller, app_id: &str, app_role: &str) -> Option<Vec<u8>> {
    let app = gate.apps.resolve(app_id).await.ok()??;
    let path = app.manifest.home.clone()?;
    let origin = app_origin(&gate.base_url, app_id);
    let host = origin.split_once("://").map_or(origin.as_str(), |(_, h)| h).to_owned();
    let mut request = Request::builder()
        .method(Method::GET)
        .uri(format!("{origin}{path}"))
        .header(header::HOST, host)
        .header(header::ACCEPT, "application/json")
        .body(Body::empty())
        .ok()?;
    let who = Identity {
        id: caller.person.id,
        name: &caller.person.display_name,
        app_role,
        owner: caller.person.role == Role::Owner,
    };
    rewrite_headers(request.headers_mut(), "", &who);
    let https = gate.base_url.starts_with("https:");
    let (served, _) = app.serve(request, https, caller.person.id).await;
    let response = served.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let limited = http_body_util::Limited::new(response.into_body(), HOME_CARDS_BODY);
    limited.collect().await.ok().map(|b| b.to_bytes().to_vec())
}

/// Checks an app's answer; anything out of line is left out.
fn parse(body: &[u8], origin: &str) -> Vec<Card> {
    let Ok(answer) = serde_json::from_slice::<Answer>(body) else { return Vec::new() };
    let text = |s: &str, max: usize| -> String {
        s.chars().filter(|c| !c.is_control()).take(max).collect::<String>().trim().to_owned()
    };
    answer
        .cards
        .into_iter()
        .filter(|c| c.path.starts_with('/') && !c.path.starts_with("//") && c.path.len() <= 512)
        .filter(|c| c.path.bytes().all(|b| b.is_ascii_graphic() && b != b'\\'))
        .map(|c| Card {
            title: text(&c.title, 80),
            note: text(&c.note, 80),
            url: format!("{origin}{}", c.path),
            image: c.image.as_deref().and_then(picture),
        })
        .filter(|c| !c.title.is_empty())
        .take(HOME_CARDS_MAX)
        .collect()
}

/// A `data:` URL made from a checked small JPEG, PNG or WebP, or nothing.
fn picture(data_url: &str) -> Option<String> {
    let (head, data) = data_url.split_once(',')?;
    if !head.starts_with("data:image/") || !head.ends_with(";base64") || data.len() > HOME_CARD_IMAGE * 4 / 3 + 4 {
        return None;
    }
    let bytes = STANDARD.decode(data).ok()?;
    let kind = if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "jpeg"
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "png"
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        "webp"
    } else {
        return None;
    };
    (bytes.len() <= HOME_CARD_IMAGE).then(|| format!("data:image/{kind};base64,{}", STANDARD.encode(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "https://photos.family.example";

    #[test]
    fn cards_are_checked_and_rebuilt() {
        let jpeg = STANDARD.encode([0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]);
        let svg = STANDARD.encode(b"<svg onload=alert(1)>");
        let body = serde_json::json!({ "cards": [
            { "title": "Beach day", "note": "12 photos", "path": "/a/x", "image": format!("data:image/jpeg;base64,{jpeg}") },
            { "title": "Away", "path": "//evil.example/x" },
            { "title": "Away too", "path": "https://evil.example/" },
            { "title": "Script", "path": "/b", "image": format!("data:image/svg+xml;base64,{svg}") },
            { "title": "Liar", "path": "/c", "image": format!("data:image/png;base64,{jpeg}") },
            { "title": "", "path": "/d" },
        ]});
        let cards = parse(body.to_string().as_bytes(), ORIGIN);
        let titles: Vec<&str> = cards.iter().map(|c| c.title.as_str()).collect();
        assert_eq!(titles, ["Beach day", "Script", "Liar"]);
        assert_eq!(cards[0].url, "https://photos.family.example/a/x");
        assert_eq!(cards[0].image.as_deref(), Some(format!("data:image/jpeg;base64,{jpeg}").as_str()));
        assert_eq!(cards[1].image, None, "SVG is never a card picture");
        assert_eq!(
            cards[2].image.as_deref().map(|i| i.starts_with("data:image/jpeg")),
            Some(true),
            "named by its bytes"
        );
        assert!(parse(b"not json", ORIGIN).is_empty());
    }

    #[test]
    fn at_most_six_cards_and_small_pictures() {
        let many: Vec<_> = (0..20).map(|i| serde_json::json!({ "title": format!("A{i}"), "path": "/" })).collect();
        assert_eq!(parse(serde_json::json!({ "cards": many }).to_string().as_bytes(), ORIGIN).len(), HOME_CARDS_MAX);
        let mut big = vec![0xFF, 0xD8, 0xFF];
        big.resize(HOME_CARD_IMAGE + 1, 0);
        assert_eq!(picture(&format!("data:image/jpeg;base64,{}", STANDARD.encode(&big))), None);
    }
}
