//! Cards under the app's tile on porch's start page, such as the albums a
//! person can see with their covers. Name a path in `app.toml`
//! (`home = "/home.json"`) and answer it with [`reply`]: porch asks it as
//! the signed-in person whenever they open the start page, waits at most
//! two seconds, shows at most six cards, and leaves out any card whose path
//! leaves the app or whose picture is not a small JPEG, PNG or WebP.
//!
//! ```ignore
//! async fn home(cx: Cx<Role>) -> Reply {
//!     let cards = my_albums(&cx.caller)?.iter().take(home::MAX_CARDS).map(|a| home::Card {
//!         title: a.title.clone(),
//!         note: format!("{} photos", a.count),
//!         path: format!("/a/{}", a.id),
//!         image: home::picture(&a.cover_blob).ok().flatten(),
//!     });
//!     home::reply(cards)
//! }
//! ```

use base64::Engine;
use serde::Serialize;

use crate::web::{self, Reply};
use crate::{HostError, blobs};

/// porch shows at most this many cards per app.
pub const MAX_CARDS: usize = 6;

/// The largest picture porch takes on a card, in bytes.
pub const MAX_PICTURE: u64 = 24 * 1024;

/// One card: a link into the app with a title, a line and a picture.
#[derive(Debug, Clone, Serialize)]
pub struct Card {
    /// Shown in bold (at most 80 characters are).
    pub title: String,
    /// A line under it, such as "12 photos" (may be empty).
    pub note: String,
    /// Where it leads, a path of this app such as `/a/abc`.
    pub path: String,
    /// A `data:` URL of a small picture, as [`picture`] makes.
    pub image: Option<String>,
}

/// The blob `name` as a `data:` URL, if it is at most [`MAX_PICTURE`]
/// bytes (a small thumbnail: make one for the purpose with
/// `media::thumbnail`).
pub fn picture(name: &str) -> Result<Option<String>, HostError> {
    let Some(info) = blobs::stat(name)? else { return Ok(None) };
    if info.size > MAX_PICTURE {
        return Ok(None);
    }
    let bytes = blobs::read(name, 0, info.size as u32)?;
    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
    Ok(Some(format!("data:{};base64,{data}", info.content_type)))
}

/// The answer porch reads: `{"cards": [...]}`, at most [`MAX_CARDS`].
pub fn reply(cards: impl IntoIterator<Item = Card>) -> Reply {
    let cards: Vec<Card> = cards.into_iter().take(MAX_CARDS).collect();
    web::json(200, &serde_json::json!({ "cards": cards }))
}
