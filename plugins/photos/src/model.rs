//! What the album stores in kv and who may do what with it.
//!
//! Keys: `albums/<album>` holds an [`Album`]; under `a/<album>/` live its
//! photos (`p/<photo>`), the content-hash index that stops a file being
//! stored twice (`h/<sha256>`) and comments (`c/<photo>/<comment>`). Blobs
//! of a photo are `<album>/<blob>/o` (original), `t` (grid thumbnail), `v`
//! (view size; for videos both are of the poster frame), `c` (original
//! without location: made on first need for pictures, at upload for
//! videos), `j` (a JPEG of a HEIC or AVIF, made on first need), `s` (the
//! start page's cover), `m` (a motion photo's video) and `h` (an H.264
//! copy). `a/<album>/n/` lists photos in the order they were added (for
//! "new since your last visit", kept per person in `v/<person>`), and
//! `k/<photo>/<person>` holds likes.
//! A photo's id starts with its taken-at time, so listing keys in order
//! pages through the album chronologically.

use porch_app::sharing::{self, Access, Invited, Share};
use porch_app::{Error, HostError, blobs, kv};
use serde::{Deserialize, Serialize};

/// The caller, with the app's roles.
pub type Caller = porch_app::Caller<Role>;

porch_app::roles! {
    /// viewer: sees albums shared with them; contributor: also makes albums;
    /// editor: sees and manages every album (as porch owners do).
    pub enum Role { Viewer = "viewer", Contributor = "contributor", Editor = "editor" }
}

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
    /// People invited to this album who have not come yet.
    #[serde(default)]
    pub invited: Vec<Invited>,
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
    /// A video's length.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// Whether a video has poster thumbnails (`t`, `v`).
    #[serde(default)]
    pub poster: bool,
    /// A video's codec as ffprobe names it (`h264`, `hevc`, ...).
    #[serde(default)]
    pub video_codec: Option<String>,
    /// Whether a motion photo's video was found and kept (`m`).
    #[serde(default)]
    pub motion: bool,
    /// Apple's Live Photo identifier, shared by a still and its video.
    #[serde(default)]
    pub content_id: Option<String>,
    /// A Live Photo's still: the photo id of its video.
    #[serde(default)]
    pub live_video: Option<String>,
    /// A Live Photo's video: the photo id of its still (it is not a tile of
    /// its own).
    #[serde(default)]
    pub live_still: Option<String>,
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
    /// The short video of a motion photo, cleaned.
    pub fn motion(&self, album: &str) -> String {
        format!("{album}/{}/m", self.blob)
    }
    /// An H.264 copy of a video browsers cannot play (HEVC), made by porch
    /// in the background.
    pub fn h264(&self, album: &str) -> String {
        format!("{album}/{}/h", self.blob)
    }
    /// The album cover porch's start page shows (160 px). Earlier it was
    /// `c`, the cleaned original's name too (see `files.rs`).
    pub fn small_cover(&self, album: &str) -> String {
        format!("{album}/{}/s", self.blob)
    }
    /// A full-size JPEG of a HEIC or AVIF, made on first need.
    pub fn jpeg(&self, album: &str) -> String {
        format!("{album}/{}/j", self.blob)
    }
    /// A Live Photo's video (known by the identifier it shares with a
    /// still): part of its still, not news or a tile of its own.
    pub fn is_live_video(&self) -> bool {
        self.live_still.is_some() || (self.kind == Kind::Video && self.content_id.is_some())
    }
    /// A video's length as a badge: `0:07`, `12:30`, `1:02:03`.
    pub fn duration(&self) -> Option<String> {
        let s = self.duration_ms? / 1000;
        Some(if s >= 3600 {
            format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
        } else {
            format!("{}:{:02}", s / 60, s % 60)
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comment {
    pub by: i64,
    pub name: String,
    pub text: String,
    pub at: i64,
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
/// The album's photos in the order they were added (`<added at>-<photo>`),
/// for "new since your last visit".
pub fn added_prefix(album: &str) -> String {
    format!("a/{album}/n/")
}
pub fn added_key(album: &str, photo: &Photo) -> String {
    // The id's second part is the upload's millisecond.
    let ms = photo.id.split('-').nth(1).and_then(|ms| ms.parse::<u64>().ok());
    let ms = ms.unwrap_or_else(|| u64::try_from(photo.uploaded_at).unwrap_or(0).saturating_mul(1000));
    format!("a/{album}/n/{ms:013}-{}", photo.id)
}
/// When `person` last opened `album` (`now_millis`).
pub fn visit_key(album: &str, person: i64) -> String {
    format!("a/{album}/v/{person}")
}
/// Likes of a photo, one key per person.
pub fn likes_prefix(album: &str, photo: &str) -> String {
    format!("a/{album}/k/{photo}/")
}
pub fn like_key(album: &str, photo: &str, person: i64) -> String {
    format!("a/{album}/k/{photo}/{person}")
}

/// One person's heart on a photo.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Like {
    pub by: i64,
    pub name: String,
    pub at: i64,
}

/// Ids are lowercase hex or digits and dashes; anything else in a URL is
/// not an id.
pub fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// An album or photo id in a path; anything else is no such thing (404)
/// before any lookup.
#[derive(Debug, Clone)]
pub struct Id(pub String);

impl std::str::FromStr for Id {
    type Err = ();

    fn from_str(s: &str) -> Result<Id, ()> {
        if valid_id(s) { Ok(Id(s.to_owned())) } else { Err(()) }
    }
}

/// Sees and manages every album: porch owners and the app's editors.
pub fn is_admin(me: &Caller) -> bool {
    me.is_owner || me.role == Role::Editor
}

/// May make albums of their own.
pub fn can_create(me: &Caller) -> bool {
    is_admin(me) || me.role >= Role::Contributor
}

/// What `me` may do with `album`; `None`: it does not exist for them.
pub fn access(me: &Caller, album: &Album) -> Option<Access> {
    sharing::access(me, is_admin(me), album.owner, &album.shares)
}

/// The album `id` and what `me` may do with it: 404 when it does not exist
/// for them, 403 when they may see it but not do what needs `needs`.
pub fn album(me: &Caller, id: &Id, needs: Access) -> Result<(Album, Access), Error> {
    let album: Album = kv::get_json(&album_key(&id.0))?.ok_or(Error::NotFound)?;
    let (album, access) = match access(me, &album) {
        Some(access) => (album, access),
        None => claim_invite(me, album)?.ok_or(Error::NotFound)?,
    };
    if access < needs {
        return Err(forbidden());
    }
    Ok((album, access))
}

/// Every album `me` can see.
pub fn visible_albums(me: &Caller) -> Result<Vec<Album>, Error> {
    let mut albums = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = kv::list_json::<Album>("albums/", after.as_deref(), 500)?;
        let full = page.len() == 500;
        after = page.last().map(|(key, _)| key.clone());
        albums.extend(page.into_iter().map(|(_, album)| album).filter(|a| access(me, a).is_some()));
        if !full {
            break;
        }
    }
    Ok(albums)
}

/// The edge of an album's cover on porch's start page.
const COVER_EDGE: u32 = 160;

/// The album's cover, small, as a `data:` URL for porch's start page: made
/// from the photo's thumbnail the first time it is asked for, then kept.
pub fn small_cover(album: &str, cover: &str) -> Result<Option<String>, Error> {
    let Some(photo) = kv::get_json::<Photo>(&photo_key(album, cover))? else { return Ok(None) };
    let small = photo.small_cover(album);
    if porch_app::blobs::stat(&small)?.is_none() {
        porch_app::media::thumbnail(&photo.thumb(album), &small, COVER_EDGE, porch_app::media::ImageFormat::Jpeg)?;
    }
    Ok(porch_app::home::picture(&small)?)
}

/// Someone who joined porch through one of the album's invites, opening it
/// for the first time: the invite becomes their share of the album.
fn claim_invite(me: &Caller, album: Album) -> Result<Option<(Album, Access)>, Error> {
    let Some(index) = sharing::claim(me, &album.invited)? else { return Ok(None) };
    let invite = album.invited[index].invite;
    let updated = update_album(&album.id, |a| {
        sharing::accept(&mut a.invited, &mut a.shares, invite, me.id);
    })?;
    Ok(updated.and_then(|album| access(me, &album).map(|access| (album, access))))
}

pub fn forbidden() -> Error {
    Error::Forbidden("Your role in this album does not allow that. Ask the album's owner.".into())
}

/// A photo of `album`, or 404.
pub fn photo(album: &Album, id: &Id) -> Result<Photo, Error> {
    kv::get_json(&photo_key(&album.id, &id.0))?.ok_or(Error::NotFound)
}

/// Changes an album record without losing a change made at the same time
/// by another request (uploads into one album update its count at once).
/// `change` returns false to leave it as it is. `None` if the album is gone.
/// Removes a photo from its album: its record, comments and files, and its
/// share of the album's count, size and cover. Its content-hash key is the
/// caller's business (an upload that lost a race must leave the winner's).
pub fn remove_photo(album: &Album, photo: &Photo) -> Result<(), HostError> {
    kv::delete(&photo_key(&album.id, &photo.id))?;
    // A Live Photo goes whole; its video alone leaves the still a photo.
    if let Some(id) = &photo.content_id {
        let key = crate::live::live_key(&album.id, id);
        if photo.live_video.is_some() || photo.live_still.is_some() {
            kv::delete(&key)?;
        }
    }
    if let Some(video) = &photo.live_video
        && let Some(video) = kv::get_json::<Photo>(&photo_key(&album.id, video))?
    {
        remove_photo(album, &video)?;
    }
    if let Some(still) = &photo.live_still {
        kv::update_json(&photo_key(&album.id, still), |p: Option<Photo>| {
            let mut p = p?;
            p.live_video = None;
            Some(p)
        })?;
    }
    kv::delete_prefix(&comments_prefix(&album.id, &photo.id))?;
    kv::delete_prefix(&likes_prefix(&album.id, &photo.id))?;
    kv::delete(&added_key(&album.id, photo))?;
    blobs::delete_prefix(&format!("{}/{}/", album.id, photo.blob))?;
    let (size, gone) = (photo.size, photo.id.clone());
    update_album(&album.id, |a| {
        a.count = a.count.saturating_sub(1);
        a.bytes = a.bytes.saturating_sub(size);
        if a.cover.as_deref() == Some(gone.as_str()) {
            a.cover = None;
        }
    })?;
    Ok(())
}

pub fn update_album(id: &str, change: impl Fn(&mut Album)) -> Result<Option<Album>, HostError> {
    kv::update_json(&album_key(id), |album: Option<Album>| {
        let mut album = album?;
        change(&mut album);
        Some(album)
    })
}

pub fn now() -> i64 {
    porch_app::dates::now()
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
    let (y, m, d, hh, mm) = porch_app::dates::civil(t);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}")
}

/// `14 July 2023, 15:04`, for the viewer's date line.
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
    let (y, m, d, hh, mm) = porch_app::dates::civil(t);
    let month = MONTHS.get((m as usize).saturating_sub(1)).copied().unwrap_or("?");
    format!("{d} {month} {y}, {hh:02}:{mm:02}")
}

/// The MS-DOS date and time a zip entry carries.
pub fn dos_time(t: i64) -> (u16, u16) {
    let (y, m, d, hh, mm) = porch_app::dates::civil(t);
    if !(1980..=2107).contains(&y) {
        return (0, (1 << 5) | 1);
    }
    let time = (i64::from(hh) << 11) | (i64::from(mm) << 5) | (t.rem_euclid(60) / 2);
    let date = ((y - 1980) << 9) | (i64::from(m) << 5) | i64::from(d);
    (time as u16, date as u16)
}
