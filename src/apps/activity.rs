//! The `activity` capability: the host side of `porch:app/activity`. An
//! app publishes news on behalf of the person whose request it serves; the
//! store keeps it only for the audience's people who have a grant for the
//! app. Every field is checked here: short plain text, a link that stays on
//! the app's host, a picture that is one of its small image blobs. Also the
//! picture the start page shows beside a line, read back for the gate.

use super::bindings::porch::app::activity::{self, Audience, News};
use super::bindings::porch::app::types::Error;
use super::host::{AppState, internal};
use super::registry::Apps;
use crate::common::clock::now;
use crate::common::limits::{
    MAX_ACTIVITY_KEY, MAX_ACTIVITY_PER_REQUEST, MAX_ACTIVITY_PICTURE, MAX_ACTIVITY_TEXT, MAX_BLOB_NAME, MAX_LIST,
};
use crate::store::NewActivity;

/// The picture types a feed shows (what porch's own CSP lets its pages load
/// from porch itself).
const PICTURE_TYPES: [&str; 3] = ["image/jpeg", "image/png", "image/webp"];

fn not_declared() -> Error {
    Error::Invalid("this app did not declare `activity = true` under [capabilities] in its app.toml".into())
}

fn invalid(what: &str, why: &str) -> Error {
    Error::Invalid(format!("activity: {what} {why}"))
}

/// 1 to [`MAX_ACTIVITY_TEXT`] characters, no control characters.
fn check_text(what: &str, text: &str) -> Result<(), Error> {
    let n = text.chars().count();
    if n == 0 || n > MAX_ACTIVITY_TEXT {
        return Err(invalid(what, &format!("must be 1 to {MAX_ACTIVITY_TEXT} characters")));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid(what, "must not hold control characters"));
    }
    Ok(())
}

fn check_key(what: &str, key: &str) -> Result<(), Error> {
    if key.is_empty() || key.len() > MAX_ACTIVITY_KEY || key.chars().any(char::is_control) {
        return Err(invalid(what, &format!("must be 1 to {MAX_ACTIVITY_KEY} bytes without control characters")));
    }
    Ok(())
}

/// A path on the app's own host: `/` and then no second `/`, no backslash,
/// visible ASCII only (so it cannot become another origin).
pub fn is_local_path(link: &str) -> bool {
    link.starts_with('/')
        && !link.starts_with("//")
        && link.len() <= 1024
        && link.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
}

impl activity::Host for AppState {
    async fn publish(&mut self, news: News) -> Result<u32, Error> {
        let scope = self.scope();
        if !scope.manifest.capabilities.activity {
            return Err(not_declared());
        }
        let Some(actor) = self.person() else {
            return Err(Error::Invalid("only a request from a signed-in person can publish news".into()));
        };
        if !self.count_publish() {
            return Err(invalid("publish", &format!("was called more than {MAX_ACTIVITY_PER_REQUEST} times")));
        }
        check_text("text", &news.text)?;
        if let Some(many) = &news.text_many {
            check_text("text-many", many)?;
            if !many.contains("{count}") {
                return Err(invalid("text-many", "must say {count} where the number goes"));
            }
        }
        if news.count == 0 || news.count > 100_000 {
            return Err(invalid("count", "must be 1 to 100000"));
        }
        if let Some(b) = &news.batch {
            check_key("batch", b)?;
        }
        if let Some(s) = &news.scope {
            check_key("scope", s)?;
        }
        if !is_local_path(&news.link) {
            return Err(invalid("link", "must be a path of this app, such as /a/beach"));
        }
        if news.audience.len() > MAX_LIST as usize {
            return Err(invalid("audience", &format!("may list at most {MAX_LIST} people and groups")));
        }
        if let Some(name) = &news.thumbnail {
            if name.len() > MAX_BLOB_NAME {
                return Err(invalid("thumbnail", "is not a blob name"));
            }
            match scope.store.activity_picture(&scope.manifest.id, name).await.map_err(internal)? {
                Some((_, content_type, size))
                    if PICTURE_TYPES.contains(&content_type.as_str()) && size as u64 <= MAX_ACTIVITY_PICTURE => {}
                Some(_) => {
                    return Err(invalid("thumbnail", "must be a JPEG, PNG or WebP blob of at most 512 KiB"));
                }
                None => return Err(Error::NotFound),
            }
        }
        let mut people = Vec::new();
        let mut groups = Vec::new();
        for who in news.audience {
            match who {
                Audience::Person(id) => people.push(id),
                Audience::Group(g) => groups.push(g),
            }
        }
        let at = now();
        let batch_for = i64::try_from(scope.activity_batch.as_secs()).unwrap_or(i64::MAX);
        let new = NewActivity {
            app: &scope.manifest.id,
            actor,
            text: &news.text,
            text_many: news.text_many.as_deref(),
            count: news.count,
            batch: news.batch.as_deref(),
            scope: news.scope.as_deref(),
            link: &news.link,
            thumbnail: news.thumbnail.as_deref(),
            people: &people,
            groups: &groups,
            at,
            merge_since: at.saturating_sub(batch_for),
        };
        let (_, reached) = scope.store.publish_activity(&new).await.map_err(internal)?;
        Ok(u32::try_from(reached).unwrap_or(u32::MAX))
    }

    async fn seen(&mut self, what: String) -> Result<(), Error> {
        let scope = self.scope();
        if !scope.manifest.capabilities.activity {
            return Err(not_declared());
        }
        check_key("scope", &what)?;
        let Some(person) = self.person() else { return Ok(()) };
        scope.store.mark_scope_seen(&scope.manifest.id, person, &what, now()).await.map_err(internal)?;
        Ok(())
    }

    async fn forget(&mut self, what: String, people: Vec<i64>) -> Result<(), Error> {
        let scope = self.scope();
        if !scope.manifest.capabilities.activity {
            return Err(not_declared());
        }
        check_key("scope", &what)?;
        if people.len() > MAX_LIST as usize {
            return Err(invalid("forget", &format!("may name at most {MAX_LIST} people")));
        }
        scope.store.forget_scope(&scope.manifest.id, &what, &people).await.map_err(internal)?;
        Ok(())
    }

    async fn retract(&mut self, batch: String) -> Result<(), Error> {
        let scope = self.scope();
        if !scope.manifest.capabilities.activity {
            return Err(not_declared());
        }
        check_key("batch", &batch)?;
        let Some(person) = self.person() else { return Ok(()) };
        scope.store.retract_activity(&scope.manifest.id, person, &batch).await.map_err(internal)?;
        Ok(())
    }

    async fn mute(&mut self, what: String, muted: bool) -> Result<(), Error> {
        let Some(person) = self.mute_scope(&what)? else { return Ok(()) };
        let scope = self.scope();
        scope.store.set_mute(person, &scope.manifest.id, &what, muted).await.map_err(internal)
    }

    async fn muted(&mut self, what: String) -> Result<bool, Error> {
        let Some(person) = self.mute_scope(&what)? else { return Ok(false) };
        let scope = self.scope();
        scope.store.is_muted(person, &scope.manifest.id, &what).await.map_err(internal)
    }
}

impl AppState {
    /// The checks `mute` and `muted` share: declared, a good scope, a person.
    fn mute_scope(&self, what: &str) -> Result<Option<i64>, Error> {
        if !self.scope().manifest.capabilities.activity {
            return Err(not_declared());
        }
        check_key("scope", what)?;
        Ok(self.person())
    }
}

/// A picture for the start page.
pub struct Picture {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

impl Apps {
    /// `app`'s blob `name` as a feed picture: still there, still small, and
    /// its bytes really a JPEG, PNG or WebP (the type comes from the bytes,
    /// not from what the app said).
    pub async fn activity_picture(&self, app: &str, name: &str) -> Result<Option<Picture>, super::AppError> {
        let Some((sha256, _, size)) = self.store().activity_picture(app, name).await? else { return Ok(None) };
        let Ok(len) = usize::try_from(size) else { return Ok(None) };
        if size as u64 > MAX_ACTIVITY_PICTURE {
            return Ok(None);
        }
        let bytes = match self.blob_files().read_at(&sha256, 0, len).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(super::AppError::Io(format!("feed picture: {e}"))),
        };
        let content_type = match bytes.as_slice() {
            [0xff, 0xd8, 0xff, ..] => "image/jpeg",
            [0x89, b'P', b'N', b'G', ..] => "image/png",
            [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "image/webp",
            _ => return Ok(None),
        };
        Ok(Some(Picture { content_type, bytes }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_stay_on_the_app_s_host() {
        for good in ["/", "/a/beach", "/a/beach/p/123?x=1#top"] {
            assert!(is_local_path(good), "{good}");
        }
        for bad in ["", "a/beach", "//evil.example/", "/\\evil", "https://evil.example/", "/a b", "/a\n"] {
            assert!(!is_local_path(bad), "{bad:?}");
        }
    }
}
