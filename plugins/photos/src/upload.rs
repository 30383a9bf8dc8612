//! One file uploaded into an album: streamed into a blob as it arrives,
//! recognised by its first bytes (never by its name or the browser's word),
//! stored once per album by content hash, and for photos checked and
//! thumbnailed by porch. Any failure removes what this upload wrote and
//! answers with a JSON error the page shows next to that file.

use porch_app::sharing::Access;
use porch_app::{Cx, Error, HostError, Reply, blobs, kv, media, web};
use serde::Deserialize;
use serde_json::json;

use crate::model::{self, Album, Caller, Kind, Photo, Role};

/// The largest upload (app.toml's limits.request_body).
pub const MAX_UPLOAD: u64 = 8 << 30;
/// Long edges of the grid thumbnail and the view-size preview.
pub const THUMB_EDGE: u32 = 400;
pub const VIEW_EDGE: u32 = 2048;

const ACCEPTED: &str = "Photos (JPEG, HEIC, AVIF, PNG, WebP, GIF) and videos (MP4, MOV, WebM) only.";

/// What the first bytes say a file is: (kind, content type).
pub fn sniff(head: &[u8]) -> Result<(Kind, &'static str), String> {
    let at = |i: usize, s: &[u8]| head.get(i..i + s.len()) == Some(s);
    if at(0, &[0xFF, 0xD8, 0xFF]) {
        return Ok((Kind::Image, "image/jpeg"));
    }
    if at(0, b"\x89PNG\r\n\x1a\n") {
        return Ok((Kind::Image, "image/png"));
    }
    if at(0, b"GIF87a") || at(0, b"GIF89a") {
        return Ok((Kind::Image, "image/gif"));
    }
    if at(0, b"RIFF") && at(8, b"WEBP") {
        return Ok((Kind::Image, "image/webp"));
    }
    if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        return Ok((Kind::Video, "video/webm"));
    }
    if at(4, b"ftyp") {
        return Ok(ftyp_kind(head));
    }
    Err(format!("This file is not a photo or video porch knows. {ACCEPTED}"))
}

/// An ISO media file by its brands: a HEIF picture (HEIC, AVIF) or an MP4
/// or QuickTime video.
fn ftyp_kind(head: &[u8]) -> (Kind, &'static str) {
    let size = head.get(0..4).map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let major = head.get(8..12).unwrap_or_default();
    let compatible = head.get(16..size.min(head.len())).unwrap_or_default();
    let brands = || std::iter::once(major).chain(compatible.chunks_exact(4));
    if brands().any(|b| b == b"avif" || b == b"avis") {
        return (Kind::Image, "image/avif");
    }
    if brands().any(|b| matches!(b, b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx")) {
        return (Kind::Image, "image/heic");
    }
    if matches!(major, b"mif1" | b"msf1" | b"mif2") {
        return (Kind::Image, "image/heif");
    }
    if major == b"qt  " { (Kind::Video, "video/quicktime") } else { (Kind::Video, "video/mp4") }
}

/// Whether browsers show this picture type themselves; others are shown
/// as porch's JPEG previews and offered as a JPEG download too.
pub fn browsers_show(content_type: &str) -> bool {
    matches!(content_type, "image/jpeg" | "image/png" | "image/gif" | "image/webp")
}

/// Whether every current browser plays video of this codec (as ffprobe
/// names it). Others (HEVC, as iPhones record) get an H.264 copy.
pub fn browsers_play(codec: &str) -> bool {
    matches!(codec, "h264" | "vp8" | "vp9" | "av1")
}

/// Whether porch cleans this type of video of location (MP4, QuickTime).
pub fn cleanable_video(content_type: &str) -> bool {
    matches!(content_type, "video/mp4" | "video/quicktime")
}

/// A file name fit to show and to put in a zip.
pub fn clean_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let name: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    let name = name.trim().trim_start_matches('.').to_owned();
    if name.is_empty() { "photo".to_owned() } else { name }
}

fn failed(status: u16, message: &str) -> Reply {
    web::json(status, &json!({ "ok": false, "error": message }))
}

#[derive(Deserialize)]
struct UploadQuery {
    #[serde(default)]
    name: String,
    /// A finished resumable upload to take instead of the body: the last
    /// part of its `/.porch/uploads/…` URL.
    #[serde(default)]
    upload: Option<String>,
}

/// One photo or video: sent by the page's script as the body, or first to
/// porch's resumable-upload endpoint and then named here (`upload`), its
/// name in the query. Every answer is JSON the page shows beside that file
/// (the script asks for JSON, so the SDK answers a failure with it too).
pub async fn upload(cx: Cx<Role>) -> Reply {
    let (album, _) = model::album(&cx.caller, &cx.param("album")?, Access::Contribute)?;
    let query: UploadQuery = cx.query()?;
    let name = clean_name(&query.name);
    let blob_id = porch_app::random_id();
    let original = format!("{}/{blob_id}/o", album.id);
    let me = cx.caller.clone();

    // Refused as soon as its first bytes show it is not a photo or video.
    let sniffed = |head: &[u8]| sniff(head).map(|(_, content_type)| content_type.to_owned());
    let info = match &query.upload {
        Some(upload) => blobs::claim_upload(upload, &original, MAX_UPLOAD, sniffed)?,
        None => blobs::save_body(&original, cx.request.into_body(), MAX_UPLOAD, sniffed).await?,
    };
    match add_stored(&me, &album, &blob_id, &name, &info) {
        Ok(Added::Duplicate(existing)) => duplicate(&existing),
        Ok(Added::Photo(photo)) => {
            let base = format!("/a/{}/p/{}", album.id, photo.id);
            let video = photo.kind == Kind::Video;
            web::json(
                200,
                &json!({
                    "ok": true,
                    "duplicate": false,
                    "id": photo.id,
                    "kind": if video { "video" } else { "image" },
                    "page": base,
                    "thumb": if video && !photo.poster { String::new() } else { format!("{base}/thumb") },
                    "duration": photo.duration(),
                }),
            )
        }
        Err((status, message)) => failed(status, &message),
    }
}

/// What became of a file stored into an album.
pub enum Added {
    /// A new photo or video of the album.
    Photo(Photo),
    /// The album has this very file already (that photo's id); the new
    /// copy is gone.
    Duplicate(String),
}

/// Makes the file already stored as `<album>/<blob_id>/o` (`info`) a photo
/// or video of `album`: stored once per album by content hash, checked and
/// thumbnailed by porch. On failure it removes what it wrote and says why
/// (status, sentence).
pub fn add_stored(
    me: &Caller,
    album: &Album,
    blob_id: &str,
    name: &str,
    info: &blobs::BlobInfo,
) -> Result<Added, (u16, String)> {
    let prefix = format!("{}/{blob_id}/", album.id);
    let internal = |e: HostError| {
        let e = Error::from(e);
        (e.status(), e.message())
    };
    let kind = if info.content_type.starts_with("video/") { Kind::Video } else { Kind::Image };
    let content_type = info.content_type.clone();

    // The same file already in this album (a photo that really exists) is
    // not stored twice.
    let hash_key = model::hash_key(&album.id, &info.sha256);
    if let Some(existing) = stored_copy(&album.id, &hash_key).map_err(internal)? {
        blobs::delete(&format!("{prefix}o")).map_err(internal)?;
        return Ok(Added::Duplicate(existing));
    }
    match finish(me, album, blob_id, name, kind, &content_type, info) {
        Ok(photo) => {
            // Only now, with the photo recorded, does the content hash name
            // it. An upload that another one of the same file beat to this
            // point takes itself back and answers with the winner's photo.
            if let Some(winner) = settle(&album.id, &hash_key, &photo.id).map_err(internal)? {
                // Another upload of the same file got there first: this
                // copy goes, the winner's stays.
                model::remove_photo(album, &photo).map_err(internal)?;
                return Ok(Added::Duplicate(winner));
            }
            if !photo.is_live_video() {
                // "New since your last visit", and news for the album's people.
                kv::put_json(&model::added_key(&album.id, &photo), &photo.uploader).map_err(internal)?;
                crate::news::added(album, &photo);
            }
            Ok(Added::Photo(photo))
        }
        Err(e) => {
            // Leave nothing behind: the blobs this upload made.
            let _ = blobs::delete_prefix(&prefix);
            let message = match &e {
                Error::Host(HostError::Invalid(m) | HostError::Unsupported(m)) => {
                    format!("{name} cannot be used as a photo: {m}")
                }
                other => other.message(),
            };
            Err((e.status(), message))
        }
    }
}

/// The answer for a file this album already has.
fn duplicate(existing: &str) -> Reply {
    web::json(
        200,
        &json!({ "ok": true, "duplicate": true, "id": existing, "message": "Already in this album; not stored again." }),
    )
}

/// The photo a content-hash key names, if that photo is really in the
/// album. A key is written only after its photo is recorded, so a crash
/// mid-upload leaves no key, and a retry stores the file. Keys that name no
/// photo (an upload cut off by a crash after an older porch claimed the
/// hash as `pending:…`, or a photo since deleted) count as absent: "already
/// here" is said only of what porch really has.
fn stored_copy(album: &str, hash_key: &str) -> Result<Option<String>, HostError> {
    let Some(held) = kv::get(hash_key)? else { return Ok(None) };
    let Ok(id) = String::from_utf8(held) else { return Ok(None) };
    if id.starts_with("pending:") || kv::get(&model::photo_key(album, &id))?.is_none() {
        return Ok(None);
    }
    Ok(Some(id))
}

/// Points the content-hash key at `photo_id`, unless it already names
/// another photo that exists: then that photo's id.
fn settle(album: &str, hash_key: &str, photo_id: &str) -> Result<Option<String>, HostError> {
    for _ in 0..8 {
        if let Some(winner) = stored_copy(album, hash_key)? {
            return Ok(Some(winner));
        }
        let held = kv::get(hash_key)?;
        if kv::compare_and_swap(hash_key, held.as_deref(), photo_id.as_bytes())? {
            return Ok(None);
        }
    }
    Err(HostError::Internal("the album is too busy; try again".into()))
}

/// A video's length, size and poster (both thumbnail sizes), and for MP4
/// and QuickTime its copy without location, made now while the uploader
/// waits rather than on someone's first play. A porch without ffmpeg still
/// takes the video, shown without a poster; a file ffmpeg cannot read is
/// refused like a damaged photo.
fn video_extras(album: &Album, photo: &mut Photo) -> Result<(), Error> {
    let original = photo.original(&album.id);
    match media::probe_video(&original) {
        Ok(info) => {
            (photo.width, photo.height) = (info.width, info.height);
            photo.duration_ms = Some(info.duration_ms);
            photo.video_codec = Some(info.video_codec.clone());
            photo.content_id = info.content_id.clone();
            let size =
                |target: String, max_edge| media::ThumbnailSize { target, max_edge, format: media::ImageFormat::Jpeg };
            media::video_poster(
                &original,
                &[size(photo.thumb(&album.id), THUMB_EDGE), size(photo.view(&album.id), VIEW_EDGE)],
            )?;
            photo.poster = true;
            if !browsers_play(&info.video_codec) {
                // Made in the background; the page says so meanwhile.
                media::queue_h264_copy(&original, &photo.h264(&album.id))?;
            }
        }
        Err(HostError::Unsupported(_)) => {}
        Err(e) => return Err(e.into()),
    }
    if cleanable_video(&photo.content_type) {
        media::strip_metadata(&original, &photo.clean(&album.id))?;
    }
    Ok(())
}

/// Probes and thumbnails a stored upload and records it in the album.
fn finish(
    me: &Caller,
    album: &Album,
    blob_id: &str,
    name: &str,
    kind: Kind,
    content_type: &str,
    info: &blobs::BlobInfo,
) -> Result<Photo, Error> {
    let now = model::now();
    let mut photo = Photo {
        id: String::new(),
        blob: blob_id.to_owned(),
        name: name.to_owned(),
        kind,
        content_type: content_type.to_owned(),
        size: info.size,
        sha256: info.sha256.clone(),
        width: 0,
        height: 0,
        taken_at: None,
        uploaded_at: now,
        uploader: me.id,
        uploader_name: me.name.clone(),
        duration_ms: None,
        poster: false,
        video_codec: None,
        motion: false,
        content_id: None,
        live_video: None,
        live_still: None,
    };
    if kind == Kind::Image {
        let original = photo.original(&album.id);
        let probe = media::probe(&original)?;
        // Dimensions as shown: orientations 5 to 8 turn the picture.
        let turned = (5..=8).contains(&probe.orientation);
        (photo.width, photo.height) = if turned { (probe.height, probe.width) } else { (probe.width, probe.height) };
        photo.taken_at = probe.taken_at;
        photo.content_id = probe.content_id;
        // Both sizes from one decode of the photo.
        let size =
            |target: String, max_edge| media::ThumbnailSize { target, max_edge, format: media::ImageFormat::Jpeg };
        media::thumbnails(
            &original,
            &[size(photo.thumb(&album.id), THUMB_EDGE), size(photo.view(&album.id), VIEW_EDGE)],
        )?;
        if content_type == "image/jpeg" {
            // A motion photo's video, kept cleaned beside the still.
            photo.motion = media::motion_video(&original, &photo.motion(&album.id))?.is_some();
        }
    }
    if kind == Kind::Video {
        video_extras(album, &mut photo)?;
    }
    // Taken-at first (the album's order), then the upload's millisecond to
    // keep photos taken in the same second in the order they came.
    let when = photo.taken_at.unwrap_or(now).clamp(0, 99_999_999_999);
    photo.id = format!("{when:011}-{:013}-{blob_id}", model::now_millis());
    kv::put_json(&model::photo_key(&album.id, &photo.id), &photo)?;
    crate::live::pair(album, &photo)?;
    let size = info.size;
    let id = photo.id.clone();
    let updated = model::update_album(&album.id, |a| {
        a.count += 1;
        a.bytes += size;
        if a.cover.is_none() && kind == Kind::Image {
            a.cover = Some(id.clone());
        }
    });
    let failure = match updated {
        Ok(Some(_)) => return Ok(photo),
        // The album was deleted while this file arrived.
        Ok(None) => Error::NotFound,
        Err(e) => e.into(),
    };
    let _ = kv::delete(&model::photo_key(&album.id, &photo.id));
    Err(failure)
}
