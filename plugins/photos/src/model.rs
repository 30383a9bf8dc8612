//! What the album stores in kv and who may do what with it.
//!
//! Keys: `albums/<album>` holds an [`Album`]; under `a/<album>/` live its
//! photos (`p/<photo>`), the content-hash index that stops a file being
//! stored twice (`h/<sha256>`) and comments (`c/<photo>/<comment>`). Blobs
//! of a photo are `<album>/<blob>/o` (original), `t` (grid thumbnail), `v`
//! (view size) and `c` (original without location, made on first need).
//! A photo's id starts with its taken-at time, so listing keys in order
//! pages through the album chronologically.

use porch_app::{HostError as Error, blobs, kv, people};

/// The caller, with the app's roles.
pub type Caller = porch_app::Caller<Role>;

porch_app::roles! {
    /// viewer: sees albums shared with them; contributor: also makes albums;
    /// editor: sees and manages every album (as porch owners do).
    pub enum Role { Viewer = "viewer", Contributor = "contributor", Editor = "editor" }
}
use serde::{Deserialize, Serialize};

/// How many photos one grid page shows.
pub const PAGE: u32 = 60;
pub const MAX_TITLE: usize = 120;
pub const MAX_COMMENT: usize = 2000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Album {
    pub id: String,
    pub title: String,
    pub owner: i64,
    pub owner_name: String,
    pub created_at: i64,
    /// Photo id of the cover; the first photo when unset.
    pub cover: Option<String>,
    pub count: u64,
    pub bytes: u64,
    pub shares: Vec<Share>,
    /// Whether others get originals with location and camera serials.
    #[serde(default)]
    pub keep_location: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    pub with: Who,
    pub role: ShareRole,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Who {
    Person(i64),
    Group(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ShareRole {
    Viewer,
    Contributor,
}

impl ShareRole {
    pub fn parse(s: &str) -> Option<ShareRole> {
        match s {
            "viewer" => Some(ShareRole::Viewer),
            "contributor" => Some(ShareRole::Contributor),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    Image,
    Video,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Photo {
    /// `<taken-at, 11 digits>-<upload ms, 13 digits>-<blob>`: sorts
    /// chronologically.
    pub id: String,
    /// Names this photo's blobs: `<album>/<blob>/…`.
    pub blob: String,
    pub name: String,
    pub kind: Kind,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    pub width: u32,
    pub height: u32,
    pub taken_at: Option<i64>,
    pub uploaded_at: i64,
    pub uploader: i64,
    pub uploader_name: String,
}

impl Photo {
    pub fn original(&self, album: &str) -> String {
        format!("{album}/{}/o", self.blob)
    }
    pub fn thumb(&self, album: &str) -> String {
        format!("{album}/{}/t", self.blob)
    }
    pub fn view(&self, album: &str) -> String {
        format!("{album}/{}/v", self.blob)
    }
    pub fn clean(&self, album: &str) -> String {
        format!("{album}/{}/c", self.blob)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comment {
    pub by: i64,
    pub name: String,
    pub text: String,
    pub at: i64,
}

/// What a caller may do with an album, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    View,
    Contribute,
    Manage,
}

pub fn album_key(id: &str) -> String {
    format!("albums/{id}")
}
pub fn photos_prefix(album: &str) -> String {
    format!("a/{album}/p/")
}
pub fn photo_key(album: &str, photo: &str) -> String {
    format!("a/{album}/p/{photo}")
}
pub fn hash_key(album: &str, sha: &str) -> String {
    format!("a/{album}/h/{sha}")
}
pub fn comments_prefix(album: &str, photo: &str) -> String {
    format!("a/{album}/c/{photo}/")
}

/// Ids are lowercase hex or digits and dashes; anything else in a URL is
/// not an id.
pub fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

pub fn get_json<T: for<'de> Deserialize<'de>>(key: &str) -> Result<Option<T>, Error> {
    match kv::get(key)? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Internal(format!("stored record {key} is unreadable: {e}"))),
        None => Ok(None),
    }
}

pub fn put_json<T: Serialize>(key: &str, value: &T) -> Result<(), Error> {
    let bytes = serde_json::to_vec(value).map_err(|e| Error::Internal(e.to_string()))?;
    kv::set(key, &bytes)
}

/// Changes an album record without losing a change made at the same time
/// by another request (uploads into one album update its count at once).
/// `change` returns false to leave it as it is. `None` if the album is gone.
/// Removes a photo from its album: its record, comments and files, and its
/// share of the album's count, size and cover. Its content-hash key is the
/// caller's business (an upload that lost a race must leave the winner's).
pub fn remove_photo(album: &Album, photo: &Photo) -> Result<(), Error> {
    kv::delete(&photo_key(&album.id, &photo.id))?;
    kv::delete_prefix(&comments_prefix(&album.id, &photo.id))?;
    blobs::delete_prefix(&format!("{}/{}/", album.id, photo.blob))?;
    let (size, gone) = (photo.size, photo.id.clone());
    update_album(&album.id, |a| {
        a.count = a.count.saturating_sub(1);
        a.bytes = a.bytes.saturating_sub(size);
        if a.cover.as_deref() == Some(gone.as_str()) {
            a.cover = None;
        }
        true
    })?;
    Ok(())
}

pub fn update_album(id: &str, mut change: impl FnMut(&mut Album) -> bool) -> Result<Option<Album>, Error> {
    let mut result = None;
    kv::update(&album_key(id), |current| {
        let mut album: Album = serde_json::from_slice(current?).ok()?;
        if !change(&mut album) {
            result = Some(album);
            return None;
        }
        let bytes = serde_json::to_vec(&album).ok()?;
        result = Some(album);
        Some(bytes)
    })?;
    Ok(result)
}

/// The caller, with their groups looked up once when first needed.
pub struct Viewer {
    pub caller: Caller,
    groups: Option<Vec<String>>,
}

impl Viewer {
    pub fn new(caller: Caller) -> Viewer {
        Viewer { caller, groups: None }
    }

    /// Sees and manages every album: porch owners and the app's editors.
    pub fn is_admin(&self) -> bool {
        self.caller.is_owner || self.caller.role == Role::Editor
    }

    /// May make albums of their own.
    pub fn can_create(&self) -> bool {
        self.is_admin() || self.caller.role == Role::Contributor
    }

    fn groups(&mut self) -> &[String] {
        let id = self.caller.id;
        self.groups.get_or_insert_with(|| {
            people::list().into_iter().find(|p| p.id == id).map(|p| p.groups).unwrap_or_default()
        })
    }

    /// What this caller may do with `album`; `None` means it does not
    /// exist for them (answered with 404, like a missing album).
    pub fn access(&mut self, album: &Album) -> Option<Access> {
        if album.owner == self.caller.id || self.is_admin() {
            return Some(Access::Manage);
        }
        let id = self.caller.id;
        let mut best: Option<ShareRole> = None;
        for share in &album.shares {
            let applies = match &share.with {
                Who::Person(p) => *p == id,
                Who::Group(g) => self.groups().iter().any(|mine| mine == g),
            };
            if applies {
                best = best.max(Some(share.role));
            }
        }
        best.map(|role| match role {
            ShareRole::Viewer => Access::View,
            ShareRole::Contributor => Access::Contribute,
        })
    }
}

/// A new random id: 16 hex digits.
pub fn random_id() -> String {
    let mut bytes = [0u8; 8];
    wstd::rand::get_random_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
        % 10_000_000_000_000
}

/// `2023-07-14 15:04`, for a Unix time (the camera's clock, shown as is).
pub fn format_time(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", secs / 3600, (secs % 3600) / 60)
}

/// Month names for the viewer's date line.
pub fn format_date_long(t: i64) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let month = MONTHS.get((m as usize).saturating_sub(1)).copied().unwrap_or("?");
    format!("{d} {month} {y}, {:02}:{:02}", secs / 3600, (secs % 3600) / 60)
}

/// The MS-DOS date and time a zip entry carries.
pub fn dos_time(t: i64) -> (u16, u16) {
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let secs = t.rem_euclid(86_400);
    if !(1980..=2107).contains(&y) {
        return (0, (1 << 5) | 1);
    }
    let time = ((secs / 3600) << 11) | (((secs % 3600) / 60) << 5) | ((secs % 60) / 2);
    let date = ((y - 1980) << 9) | (i64::from(m) << 5) | i64::from(d);
    (time as u16, date as u16)
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's
/// public-domain `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}
