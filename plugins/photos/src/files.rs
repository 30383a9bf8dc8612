//! Sending stored files: thumbnails and previews (never change, cached
//! hard), originals (without location for anyone but their uploader unless
//! the album allows it), and videos with byte ranges so players can seek.
//! Files stream in 1 MiB reads; none is held in memory whole.

use porch_app::{HostError, blobs, media};
use wstd::http::{Body, Request, Response};

use crate::model::{Album, Kind, Photo, Viewer};
use crate::web::{Fail, Reply, encode};

const CHUNK: u32 = 1 << 20;

/// A thumbnail or preview porch made (no metadata at all).
pub fn serve_derived(name: &str, request: &Request<Body>) -> Reply {
    let Some(info) = blobs::stat(name)? else { return Err(Fail::NotFound) };
    let etag = format!("\"{}\"", info.sha256);
    if request.headers().get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return Ok(Response::builder().status(304).header("etag", etag).body(Body::empty())?);
    }
    Ok(Response::builder()
        .header("content-type", info.content_type)
        .header("content-length", info.size)
        .header("etag", etag)
        .header("cache-control", "private, max-age=31536000, immutable")
        .body(stream(info.name, 0, info.size))?)
}

/// Which stored file a caller gets as "the original" of a photo.
pub fn original_for(caller: i64, album: &Album, photo: &Photo) -> Result<blobs::BlobInfo, Fail> {
    let original = photo.original(&album.id);
    let private = photo.kind == Kind::Image && photo.uploader != caller && !album.keep_location;
    if private {
        let clean = photo.clean(&album.id);
        if let Some(info) = blobs::stat(&clean)? {
            return Ok(info);
        }
        match media::strip_metadata(&original, &clean) {
            Ok(info) => return Ok(info),
            // A format porch cannot clean carries no location tags porch
            // knows of (GIF); anything else is an error, never the original.
            Err(HostError::Unsupported(_)) if photo.content_type == "image/gif" => {}
            Err(e) => return Err(e.into()),
        }
    }
    blobs::stat(&original)?.ok_or(Fail::NotFound)
}

/// The original: as a download (`attachment`) or to play in the page.
pub fn original(me: &Viewer, album: &Album, photo: &Photo, request: &Request<Body>, download: bool) -> Reply {
    let info = original_for(me.caller.id, album, photo)?;
    let disposition =
        if download { format!("attachment; filename*=UTF-8''{}", encode(&photo.name)) } else { "inline".to_owned() };
    let range = request.headers().get("range").and_then(|v| v.to_str().ok()).and_then(|r| parse_range(r, info.size));
    let builder = Response::builder()
        .header("content-type", &photo.content_type)
        .header("content-disposition", disposition)
        .header("accept-ranges", "bytes")
        .header("etag", format!("\"{}\"", info.sha256))
        .header("cache-control", "private, no-cache");
    match range {
        Some(Ok((start, end))) => Ok(builder
            .status(206)
            .header("content-range", format!("bytes {start}-{end}/{}", info.size))
            .header("content-length", end - start + 1)
            .body(stream(info.name, start, end + 1))?),
        Some(Err(())) => Ok(Response::builder()
            .status(416)
            .header("content-range", format!("bytes */{}", info.size))
            .body(Body::empty())?),
        None => Ok(builder.header("content-length", info.size).body(stream(info.name, 0, info.size))?),
    }
}

/// One `bytes=a-b`, `bytes=a-` or `bytes=-n` range within `size`; `None`
/// for a header this does not handle (the whole file is sent instead),
/// `Err` for a range outside the file.
pub fn parse_range(header: &str, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 || size == 0 {
            return Some(Err(()));
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let start: u64 = a.parse().ok()?;
        let end =
            if b.is_empty() { size.saturating_sub(1) } else { b.parse::<u64>().ok()?.min(size.saturating_sub(1)) };
        if start >= size || end < start {
            return Some(Err(()));
        }
        (start, end)
    };
    Some(Ok(range))
}

/// The bytes `[from, to)` of a blob, read a chunk at a time as the client
/// takes them.
pub fn stream(name: String, from: u64, to: u64) -> Body {
    let chunks = futures_lite::stream::unfold(Some((name, from)), move |state| async move {
        let (name, at) = state?;
        if at >= to {
            return None;
        }
        let want = u32::try_from((to - at).min(u64::from(CHUNK))).unwrap_or(CHUNK);
        match blobs::read(&name, at, want) {
            Ok(bytes) if !bytes.is_empty() => {
                let next = at + bytes.len() as u64;
                Some((Ok(bytes), Some((name, next))))
            }
            Ok(_) => Some((Err(std::io::Error::other("the file ended early")), None)),
            Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
        }
    });
    Body::from_try_stream(chunks)
}
