//! Sending stored files: thumbnails and previews (never change, cached
//! hard), originals (without location for anyone but their uploader unless
//! the album allows it), and videos with byte ranges so players can seek.
//! The SDK's `blobs::serve` streams them; none is held in memory whole.

use porch_app::blobs::{self, Cache, Disposition};
use porch_app::sharing::Access;
use porch_app::{Cx, Error, HostError, Reply, media};

use crate::model::{self, Album, Kind, Photo, Role};

/// The album and photo a file route names, if the caller may see them.
fn find(cx: &Cx<Role>) -> Result<(Album, Photo), Error> {
    let (album, _) = model::album(&cx.caller, &cx.param("album")?, Access::View)?;
    let photo = model::photo(&album, &cx.param("photo")?)?;
    Ok((album, photo))
}

/// A thumbnail or preview porch made (no metadata at all).
fn derived(cx: &Cx<Role>, name: &str) -> Reply {
    let info = blobs::stat(name)?.ok_or(Error::NotFound)?;
    blobs::serve(name, &cx.request, &info.content_type, Disposition::Inline, Cache::Forever)
}

pub async fn thumb(cx: Cx<Role>) -> Reply {
    let (album, photo) = find(&cx)?;
    derived(&cx, &photo.thumb(&album.id))
}

pub async fn view(cx: Cx<Role>) -> Reply {
    let (album, photo) = find(&cx)?;
    derived(&cx, &photo.view(&album.id))
}

/// Which stored file a caller gets as "the original" of a photo.
pub fn original_for(caller: i64, album: &Album, photo: &Photo) -> Result<blobs::BlobInfo, Error> {
    let original = photo.original(&album.id);
    let cleanable = match photo.kind {
        Kind::Image => true,
        Kind::Video => crate::upload::cleanable_video(&photo.content_type),
    };
    let private = cleanable && photo.uploader != caller && !album.keep_location;
    if private {
        let clean = photo.clean(&album.id);
        if let Some(info) = blobs::stat(&clean)? {
            // Earlier Photos also stored the start page's 160-px cover as
            // `c`, so a cover photo's "original" could be that thumbnail.
            // Removing metadata never takes away 95% of a picture, so such
            // a copy is made again, properly.
            if !(photo.kind == Kind::Image && info.size.saturating_mul(20) < photo.size) {
                return Ok(info);
            }
        }
        match media::strip_metadata(&original, &clean) {
            Ok(info) => return Ok(info),
            // A format porch cannot clean carries no location tags porch
            // knows of (GIF); anything else is an error, never the original.
            Err(HostError::Unsupported(_)) if photo.content_type == "image/gif" => {}
            Err(e) => return Err(e.into()),
        }
    }
    blobs::stat(&original)?.ok_or(Error::NotFound)
}

/// The original as a download.
pub async fn original(cx: Cx<Role>) -> Reply {
    let (album, photo) = find(&cx)?;
    let info = original_for(cx.caller.id, &album, &photo)?;
    blobs::serve(&info.name, &cx.request, &photo.content_type, Disposition::Download(photo.name), Cache::Revalidate)
}

/// A full-size JPEG of a HEIC or AVIF (made once, no metadata at all), as
/// a download named like the original.
pub async fn jpeg(cx: Cx<Role>) -> Reply {
    let (album, photo) = find(&cx)?;
    if photo.kind != Kind::Image || crate::upload::browsers_show(&photo.content_type) {
        return Err(Error::NotFound);
    }
    let name = photo.jpeg(&album.id);
    let info = match blobs::stat(&name)? {
        Some(info) => info,
        None => media::jpeg_copy(&photo.original(&album.id), &name)?,
    };
    let stem = photo.name.rsplit_once('.').map_or(photo.name.as_str(), |(stem, _)| stem);
    blobs::serve(&info.name, &cx.request, "image/jpeg", Disposition::Download(format!("{stem}.jpg")), Cache::Revalidate)
}

/// A motion photo's short video (already cleaned for everyone), with byte
/// ranges.
pub async fn motion(cx: Cx<Role>) -> Reply {
    let (album, photo) = find(&cx)?;
    if !photo.motion {
        return Err(Error::NotFound);
    }
    blobs::serve(&photo.motion(&album.id), &cx.request, "video/mp4", Disposition::Inline, Cache::Revalidate)
}

/// The video to play in the page, with byte ranges: porch's H.264 copy
/// when the original is one some browsers cannot play and the copy is
/// made (it carries no metadata at all), else the original as `original`
/// serves it.
pub async fn play(cx: Cx<Role>) -> Reply {
    let (album, photo) = find(&cx)?;
    if let Some(copy) = blobs::stat(&photo.h264(&album.id))? {
        return blobs::serve(&copy.name, &cx.request, "video/mp4", Disposition::Inline, Cache::Revalidate);
    }
    let info = original_for(cx.caller.id, &album, &photo)?;
    blobs::serve(&info.name, &cx.request, &photo.content_type, Disposition::Inline, Cache::Revalidate)
}
