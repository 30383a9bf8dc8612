//! The app's own blobs (files): stat, read, list, delete, write a whole
//! one or stream a request body into one under a size limit, and send one
//! back with ETags, `304 Not Modified` and byte ranges (for players that
//! seek), a chunk at a time.

use crate::host::blobs;
pub use crate::host::blobs::{BlobInfo, Writer};
use crate::host::types::Error;
use crate::web::{self, Reply};
use wstd::http::{Body, BodyExt, Request, Response};

/// Reads and writes go in pieces of this size.
const CHUNK: usize = 1 << 20;

/// The blob `name`'s size, hash, type and time, if it exists.
pub fn stat(name: &str) -> Result<Option<BlobInfo>, Error> {
    blobs::stat(name)
}

/// Up to `len` bytes (at most 4 MiB) of the blob `name` from `offset`.
pub fn read(name: &str, offset: u64, len: u32) -> Result<Vec<u8>, Error> {
    blobs::read(name, offset, len)
}

/// Deletes the blob `name`; false if there was none.
pub fn delete(name: &str) -> Result<bool, Error> {
    blobs::delete(name)
}

/// Blobs whose names start with `prefix`, in order, after `after`, at most `limit`.
pub fn list(prefix: &str, after: Option<&str>, limit: u32) -> Result<Vec<BlobInfo>, Error> {
    blobs::list_blobs(prefix, after, limit)
}

/// Deletes every blob whose name starts with `prefix`; returns how many.
pub fn delete_prefix(prefix: &str) -> Result<u64, Error> {
    blobs::delete_prefix(prefix)
}

/// Writes a whole blob from memory (see [`save_body`] to stream).
pub fn put(name: &str, content_type: &str, data: &[u8]) -> Result<BlobInfo, Error> {
    let w = Writer::new(name, content_type);
    for chunk in data.chunks(CHUNK) {
        w.write(chunk)?;
    }
    w.finish()
}

/// Streams a request body into the blob `name`, refusing more than `limit`
/// bytes. `content_type` sees the first bytes (at least 16, or the whole
/// body if shorter) and names the type, or refuses the file with a reason
/// (sniff the content; never trust the name or the browser's word). An
/// empty body, a body cut off, one over the limit or one refused leaves no
/// blob.
pub async fn save_body(
    name: &str,
    body: Body,
    limit: u64,
    content_type: impl Fn(&[u8]) -> Result<String, String>,
) -> Result<BlobInfo, web::Error> {
    if body.content_length().is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let mut body = body.into_boxed_body();
    let mut sink = Sink::new(name, limit);
    loop {
        let frame = match body.frame().await {
            None => break,
            Some(Ok(frame)) => frame,
            Some(Err(e)) => return Err(web::Error::Bad(format!("The upload was cut off before it finished: {e}"))),
        };
        let Ok(data) = frame.into_data() else { continue };
        sink.push(&data, &content_type)?;
    }
    sink.finish(&content_type)
}

/// Makes the caller's finished resumable upload `upload` (sent to porch's
/// tus endpoint, `/.porch/uploads` on the app's host; `upload` is the last
/// part of its URL) the blob `name`, at most `limit` bytes. `content_type`
/// sees its first bytes (up to 64) and names the type or refuses the file,
/// as for [`save_body`]. A refused or too large upload is ended, so it
/// leaves nothing behind; an upload of someone else, or one that is not
/// finished, is an error.
pub fn claim_upload(
    upload: &str,
    name: &str,
    limit: u64,
    content_type: impl Fn(&[u8]) -> Result<String, String>,
) -> Result<BlobInfo, web::Error> {
    let head = blobs::upload_head(upload, 64).map_err(|e| match e {
        Error::NotFound => web::Error::NotFound,
        other => other.into(),
    })?;
    if head.is_empty() {
        let _ = blobs::drop_upload(upload);
        return Err(web::Error::Bad("The file is empty.".into()));
    }
    let kind = match content_type(&head) {
        Ok(kind) => kind,
        Err(reason) => {
            let _ = blobs::drop_upload(upload);
            return Err(web::Error::Unsupported(reason));
        }
    };
    let info = blobs::claim_upload(upload, name, &kind)?;
    if info.size > limit {
        let _ = blobs::delete(name);
        return Err(too_large(limit));
    }
    Ok(info)
}

fn too_large(limit: u64) -> web::Error {
    web::Error::TooLarge(format!("That file is larger than {} allows.", crate::size_text(limit)))
}

/// One blob being written from pieces as they come: held back until the
/// first 16 bytes say what it is, then written a chunk at a time. Dropped
/// before `finish`, it leaves nothing.
struct Sink<'a> {
    name: &'a str,
    limit: u64,
    pending: Vec<u8>,
    writer: Option<Writer>,
    total: u64,
}

impl<'a> Sink<'a> {
    fn new(name: &'a str, limit: u64) -> Sink<'a> {
        Sink { name, limit, pending: Vec::with_capacity(CHUNK), writer: None, total: 0 }
    }

    fn push(&mut self, data: &[u8], content_type: &impl Fn(&[u8]) -> Result<String, String>) -> Result<(), web::Error> {
        self.total += data.len() as u64;
        if self.total > self.limit {
            return Err(too_large(self.limit));
        }
        self.pending.extend_from_slice(data);
        if self.writer.is_none() && self.pending.len() >= 16 {
            let kind = content_type(&self.pending).map_err(web::Error::Unsupported)?;
            self.writer = Some(Writer::new(self.name, &kind));
        }
        if let Some(w) = &self.writer
            && self.pending.len() >= CHUNK
        {
            w.write(&self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }

    fn finish(self, content_type: &impl Fn(&[u8]) -> Result<String, String>) -> Result<BlobInfo, web::Error> {
        let w = match self.writer {
            Some(w) => w,
            None if self.pending.is_empty() => return Err(web::Error::Bad("The file is empty.".into())),
            None => Writer::new(self.name, &content_type(&self.pending).map_err(web::Error::Unsupported)?),
        };
        if !self.pending.is_empty() {
            w.write(&self.pending)?;
        }
        Ok(w.finish()?)
    }
}

/// A file from a multipart form, stored as a blob.
#[derive(Debug, Clone)]
pub struct SavedFile {
    /// The blob it was stored as.
    pub blob: String,
    /// The file's name as the sender gave it (show it; never trust it).
    pub file_name: String,
    /// What was stored.
    pub info: BlobInfo,
}

/// Streams the files of a `multipart/form-data` request (an
/// `<input type=file multiple>`, or a phone's share sheet sending to a
/// web app's `share_target`) into blobs: each file of the field `field`
/// becomes the blob `blob_name()` names, at most `max_files` of them and
/// each at most `limit` bytes, typed by `content_type` from its first
/// bytes. Other fields are skipped. If anything fails, every blob this
/// call stored is deleted again and the error says why.
pub async fn save_form_files(
    request: Request<Body>,
    field: &str,
    max_files: usize,
    limit: u64,
    mut blob_name: impl FnMut() -> String,
    content_type: impl Fn(&[u8]) -> Result<String, String>,
) -> Result<Vec<SavedFile>, web::Error> {
    let boundary = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
        .ok_or_else(|| web::Error::Bad("This needs a form with files (multipart/form-data).".into()))?;
    let stream = request.into_body().into_boxed_body().into_data_stream();
    let mut form = multer::Multipart::new(stream, boundary);
    let mut saved: Vec<SavedFile> = Vec::new();
    let result = async {
        while let Some(mut part) =
            form.next_field().await.map_err(|e| web::Error::Bad(format!("The form could not be read: {e}")))?
        {
            if part.name() != Some(field) || part.file_name().is_none() {
                continue;
            }
            if saved.len() >= max_files {
                return Err(web::Error::TooLarge(format!("At most {max_files} files at once.")));
            }
            let file_name = part.file_name().unwrap_or_default().to_owned();
            let blob = blob_name();
            let mut sink = Sink::new(&blob, limit);
            while let Some(chunk) =
                part.chunk().await.map_err(|e| web::Error::Bad(format!("The upload was cut off: {e}")))?
            {
                sink.push(&chunk, &content_type)?;
            }
            let info = sink.finish(&content_type).map_err(|e| match e {
                web::Error::Bad(m) | web::Error::Unsupported(m) => web::Error::Unsupported(format!("{file_name}: {m}")),
                other => other,
            })?;
            saved.push(SavedFile { blob, file_name, info });
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Ok(saved),
        Err(e) => {
            for file in &saved {
                let _ = blobs::delete(&file.blob);
            }
            Err(e)
        }
    }
}

/// Copies the blob `from` to `to` a chunk at a time (blobs are stored by
/// content, so the copy takes no more disk).
pub fn copy(from: &str, to: &str) -> Result<BlobInfo, Error> {
    let info = blobs::stat(from)?.ok_or(Error::NotFound)?;
    let w = Writer::new(to, &info.content_type);
    let mut at = 0;
    while at < info.size {
        let piece = blobs::read(from, at, CHUNK as u32)?;
        if piece.is_empty() {
            break;
        }
        at += piece.len() as u64;
        w.write(&piece)?;
    }
    w.finish()
}

/// How a sent blob may be cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    /// Never changes under this address (a thumbnail named by its photo).
    Forever,
    /// Ask again each time (answered with 304 while unchanged).
    Revalidate,
}

/// How the browser should take a sent blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Show it in the page (images, video).
    Inline,
    /// Save it as this file name, never render it (documents, anything a
    /// browser could run).
    Download(String),
}

/// Sends the blob `name` as `content_type`: `304` when the browser has it,
/// one byte range when asked (`206`, or `416` outside the file), else the
/// whole file, read a chunk at a time as the client takes it.
pub fn serve(name: &str, request: &Request<Body>, content_type: &str, disposition: Disposition, cache: Cache) -> Reply {
    let Some(info) = blobs::stat(name)? else { return Err(web::Error::NotFound) };
    let etag = format!("\"{}\"", info.sha256);
    let header = |n: &str| request.headers().get(n).and_then(|v| v.to_str().ok());
    if header("if-none-match") == Some(etag.as_str()) {
        return Ok(Response::builder().status(304).header("etag", etag).body(Body::empty())?);
    }
    let disposition = match disposition {
        Disposition::Inline => "inline".to_owned(),
        Disposition::Download(file) => format!("attachment; filename*=UTF-8''{}", web::encode(&file)),
    };
    let cache = match cache {
        Cache::Forever => "private, max-age=31536000, immutable",
        Cache::Revalidate => "private, no-cache",
    };
    let builder = Response::builder()
        .header("content-type", content_type)
        .header("content-disposition", disposition)
        .header("accept-ranges", "bytes")
        .header("etag", etag)
        .header("cache-control", cache);
    let head = request.method() == wstd::http::Method::HEAD;
    let body = |from, to| if head { Body::empty() } else { stream(info.name.clone(), from, to) };
    match header("range").and_then(|r| parse_range(r, info.size)) {
        Some(Ok((start, end))) => Ok(builder
            .status(206)
            .header("content-range", format!("bytes {start}-{end}/{}", info.size))
            .header("content-length", end - start + 1)
            .body(body(start, end + 1))?),
        Some(Err(())) => Ok(Response::builder()
            .status(416)
            .header("content-range", format!("bytes */{}", info.size))
            .body(Body::empty())?),
        None => Ok(builder.header("content-length", info.size).body(body(0, info.size))?),
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

/// The bytes `[from, to)` of a blob as a body, read a chunk at a time as
/// the client takes them (a large file is never in memory whole).
pub fn stream(name: String, from: u64, to: u64) -> Body {
    let chunks = futures_lite::stream::unfold(Some((name, from)), move |state| async move {
        let (name, at) = state?;
        if at >= to {
            return None;
        }
        let want = u32::try_from((to - at).min(CHUNK as u64)).unwrap_or(CHUNK as u32);
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

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_inside_and_outside_the_file() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=50-500", 100), Some(Ok((50, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=9-1", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
