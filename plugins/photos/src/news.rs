//! What Photos tells people through porch's `activity` capability: photos
//! added to an album (one line per person and album while they keep
//! adding), comments on photos someone added or commented on, an album
//! newly shared with someone, and likes; and taking news back from people
//! who lost an album. News never stops what it is about: an upload or a
//! comment that could not be announced still happened.

use porch_app::activity::{self, News};
use porch_app::sharing::{self, Share};

use crate::model::{Album, Comment, Kind, Photo};

/// What porch's news about an album is about (for "seen" and "forget").
pub fn scope(album: &str) -> String {
    format!("album:{album}")
}

/// At most this many characters of a comment go into the news line.
const EXCERPT: usize = 60;

fn excerpt(text: &str) -> String {
    let mut out: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.chars().count() > EXCERPT {
        out = out.chars().take(EXCERPT - 1).collect::<String>() + "…";
    }
    out
}

/// The album's title, cut to leave room for the words around it.
fn title(album: &Album) -> String {
    let t = &album.title;
    if t.chars().count() > 100 { t.chars().take(99).collect::<String>() + "…" } else { t.clone() }
}

fn publish(news: News) {
    if let Err(e) = news.publish() {
        eprintln!("photos: news not published: {e:?}");
    }
}

/// `photo` was added to `album`: news for everyone the album reaches,
/// merged with the uploader's other additions while they keep adding. A
/// Live Photo's video is part of its still, which is the news.
pub fn added(album: &Album, photo: &Photo) {
    if photo.is_live_video() {
        return;
    }
    let t = title(album);
    let one = match photo.kind {
        Kind::Image => format!("added a photo to {t}"),
        Kind::Video => format!("added a video to {t}"),
    };
    let mut news = News::new(one, format!("/a/{}", album.id))
        .many(format!("added {{count}} photos to {t}"))
        .batch(format!("added:{}", album.id))
        .about(scope(&album.id))
        .to_shares(album.owner, &album.shares);
    if photo.kind == Kind::Image || photo.poster {
        news = news.thumbnail(photo.thumb(&album.id));
    }
    publish(news);
}

/// `by` commented on `photo`: news for whoever added it and everyone who
/// commented on it before, while the album still reaches them.
pub fn commented(album: &Album, photo: &Photo, earlier: &[Comment], text: &str) {
    let reached = sharing::reached(album.owner, &album.shares);
    let mut news = News::new(
        format!("commented on a photo in {}: “{}”", title(album), excerpt(text)),
        format!("/a/{}/p/{}#comments", album.id, photo.id),
    )
    .many(format!("left {{count}} comments on a photo in {}", title(album)))
    .batch(format!("comment:{}", photo.id))
    .about(scope(&album.id));
    let mut told = Vec::new();
    for who in std::iter::once(photo.uploader).chain(earlier.iter().map(|c| c.by)) {
        if reached.contains(&who) && !told.contains(&who) {
            told.push(who);
            news = news.to_person(who);
        }
    }
    if told.is_empty() {
        return;
    }
    if photo.kind == Kind::Image || photo.poster {
        news = news.thumbnail(photo.thumb(&album.id));
    }
    publish(news);
}

/// The batch of a like, so that taking it back takes back its news.
fn like_batch(photo: &Photo) -> String {
    format!("like:{}", photo.id)
}

/// Someone liked `photo`: news for whoever added it.
pub fn liked(album: &Album, photo: &Photo) {
    let mut news =
        News::new(format!("likes your photo in {}", title(album)), format!("/a/{}/p/{}", album.id, photo.id))
            .batch(like_batch(photo))
            .about(scope(&album.id))
            .to_person(photo.uploader);
    if photo.kind == Kind::Image || photo.poster {
        news = news.thumbnail(photo.thumb(&album.id));
    }
    publish(news);
}

/// A like taken back: so is its news.
pub fn unliked(photo: &Photo) {
    if let Err(e) = activity::retract(&like_batch(photo)) {
        eprintln!("photos: news not taken back: {e:?}");
    }
}

/// The album's shares changed from `before`: people it newly reaches hear
/// of it, people it no longer reaches lose its news.
pub fn shares_changed(album: &Album, before: &[Share], cover_thumb: Option<String>) {
    let (gained, lost) = sharing::changes(album.owner, before, &album.shares);
    if !gained.is_empty() {
        let mut news =
            News::new(format!("shared the album {} with you", title(album)), format!("/a/{}", album.id))
                .about(scope(&album.id));
        for id in gained {
            news = news.to_person(id);
        }
        if let Some(thumb) = cover_thumb {
            news = news.thumbnail(thumb);
        }
        publish(news);
    }
    forget(album, &lost);
}

/// `people` no longer see `album`: its news leaves their feeds.
pub fn forget(album: &Album, people: &[i64]) {
    if people.is_empty() {
        return;
    }
    if let Err(e) = activity::forget(&scope(&album.id), people) {
        eprintln!("photos: news not taken back: {e:?}");
    }
}

/// Whether the caller muted the album's email digests.
pub fn muted(album: &Album) -> bool {
    activity::muted(&scope(&album.id)).unwrap_or(false)
}

/// Mutes or unmutes the album's email digests for the caller.
pub fn mute(album: &Album, muted: bool) -> Result<(), porch_app::HostError> {
    activity::mute(&scope(&album.id), muted)
}

/// The caller looked at the album: its news is seen.
pub fn seen(album: &Album) {
    let _ = activity::seen(&scope(&album.id));
}
