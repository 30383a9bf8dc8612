//! hostile: an app that misbehaves on purpose, one way per path, so tests
//! can show each is contained while other apps keep serving.

use std::hint::black_box;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering::Relaxed};

use porch_app::{HostError, blobs, kv, media};
use wstd::http::body::Bytes;
use wstd::http::{Body, Error, Request, Response};

#[wstd::http_server]
async fn main(mut request: Request<Body>) -> Result<Response<Body>, Error> {
    let path = request.uri().path().to_owned();
    if path == "/media" {
        let upload = request.body_mut().contents().await?.to_vec();
        return Ok(Response::new(media_roundtrip(&upload).unwrap_or_else(|e| format!("failed: {e}")).into()));
    }
    if path == "/blob" {
        let name = request.uri().query().unwrap_or("").to_owned();
        return Ok(match blobs::stat(&name) {
            Ok(Some(info)) => {
                let bytes = blobs::read(&name, 0, info.size as u32).unwrap_or_default();
                Response::builder().header("content-type", info.content_type).body(bytes.into())?
            }
            _ => Response::builder().status(404).body("no such blob".into())?,
        });
    }
    if let Some(how) = path.strip_prefix("/fetch") {
        // `/fetch?URL`, `/fetch-3?URL` (three times), `/fetch-host?URL` (with
        // a Host header of its own): outbound requests (issue 23).
        let url = request.uri().query().unwrap_or("").to_owned();
        return Ok(Response::new(fetch(how, &url).await.into()));
    }
    if path == "/cookies" {
        // Cookies for the whole domain, a nameless porch_session, and an
        // order to clear every cookie of the site (review finding L2).
        return Ok(Response::builder()
            .header("set-cookie", "mine=1; Path=/; HttpOnly")
            .header("set-cookie", "sid=planted; Domain=localhost; Path=/")
            .header("set-cookie", "=porch_session=fixed; Path=/")
            .header("set-cookie", "porch_app=x; Path=/")
            .header("clear-site-data", "\"cookies\"")
            .body("cookies set".into())?);
    }
    let text = match path.as_str() {
        "/loop" => spin_forever(),
        "/hog" => hog_memory(),
        "/recurse" => format!("{}", recurse(black_box(u64::MAX))),
        "/panic" => panic!("hostile app panics on purpose"),
        "/huge" => return Ok(Response::new(huge_body())),
        "/kv-flood" => kv_flood(),
        "/blob-flood" => blob_flood(),
        "/writers" => writer_flood(),
        "/blob-roundtrip" => blob_roundtrip().unwrap_or_else(|e| format!("failed: {e}")),
        "/residue" => residue(),
        "/kv-get" => kv_get(request.uri().query().unwrap_or("")),
        "/people" => porch_app::people::list()
            .iter()
            .map(|p| format!("{} ({})", p.name, p.app_role))
            .collect::<Vec<_>>()
            .join(", "),
        _ => "I am hostile, but this path is harmless.".to_owned(),
    };
    Ok(Response::new(text.into()))
}

/// Sends outbound requests as `how` says and reports each outcome.
async fn fetch(how: &str, url: &str) -> String {
    let times = how.strip_prefix('-').and_then(|n| n.parse().ok()).unwrap_or(1);
    let mut said = Vec::new();
    for _ in 0..times {
        let sent = if how == "-host" {
            match Request::get(url).header("host", "unlisted.example").body(Vec::new()) {
                Ok(request) => porch_app::outbound::send(request).await,
                Err(e) => Err(e.into()),
            }
        } else {
            porch_app::outbound::get(url).await
        };
        said.push(match sent {
            Ok(f) => format!("status {} from {}: {}", f.status, f.url, String::from_utf8_lossy(&f.body)),
            Err(e) => format!("refused: {}", e.message()),
        });
    }
    said.join("\n")
}

/// Bytes that start as 0xA5 (the data segment, so the memory image) and
/// bytes that start as zero (beyond the image); 256 KiB each, more than
/// porch keeps resident per slot, so both ways a slot is reset are crossed.
const MARKED_BYTES: usize = 256 * 1024;
static MARKED: [AtomicU8; MARKED_BYTES] = [const { AtomicU8::new(0xA5) }; MARKED_BYTES];
static ZEROED: [AtomicU8; MARKED_BYTES] = [const { AtomicU8::new(0) }; MARKED_BYTES];
static VISITS: AtomicU32 = AtomicU32::new(0);

/// Reports what this instance found left over from earlier requests, then
/// dirties every byte it checked, so a recycled memory slot that was not
/// reset would show it to the next request.
fn residue() -> String {
    let visits = VISITS.fetch_add(1, Relaxed);
    let marked = MARKED.iter().filter(|b| b.swap(0x5A, Relaxed) != 0xA5).count();
    let zeroed = ZEROED.iter().filter(|b| b.swap(0xEE, Relaxed) != 0).count();
    format!("earlier visits: {visits}, changed data bytes: {marked}, changed zero bytes: {zeroed}")
}

fn spin_forever() -> String {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

fn hog_memory() -> String {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; 1 << 20];
        chunk[0] = black_box(1);
        hoard.push(chunk);
        black_box(&hoard);
    }
}

fn recurse(n: u64) -> u64 {
    if n == 0 { 0 } else { black_box(recurse(black_box(n - 1))).wrapping_add(1) }
}

/// Ten gigabytes of zeros, streamed.
fn huge_body() -> Body {
    let chunk = Bytes::from(vec![0u8; 1 << 20]);
    Body::from_stream(futures_lite::stream::iter(std::iter::repeat_n(chunk, 10 * 1024)))
}

fn kv_flood() -> String {
    let value = vec![7u8; 4096];
    for i in 0..100_000u32 {
        if let Err(e) = kv::set(&format!("flood/{i}"), &value) {
            return format!("kv refused write {i}: {e}");
        }
    }
    "kv never refused".to_owned()
}

fn blob_flood() -> String {
    let w = blobs::Writer::new("flood", "application/octet-stream");
    let chunk = vec![7u8; 64 * 1024];
    for i in 0..100_000u32 {
        if let Err(e) = w.write(&chunk) {
            return format!("blobs refused chunk {i}: {e}");
        }
    }
    "blobs never refused".to_owned()
}

/// Opens two thousand blob writers and keeps them all, each holding a
/// temporary file if porch let it (review finding M9), then lingers so the
/// test can count porch's open files.
fn writer_flood() -> String {
    let mut writers = Vec::new();
    let mut accepted = 0;
    for i in 0..2000u32 {
        let w = blobs::Writer::new(&format!("w/{i}"), "application/octet-stream");
        if w.write(b"x").is_ok() {
            accepted += 1;
        }
        writers.push(w);
    }
    let until = std::time::Instant::now() + std::time::Duration::from_millis(400);
    while std::time::Instant::now() < until {
        black_box(&writers);
    }
    format!("writers accepted: {accepted}")
}

/// Writes a blob in chunks, reads it back in ranges, lists and deletes it.
fn blob_roundtrip() -> Result<String, HostError> {
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let w = blobs::Writer::new("photos/a.bin", "application/octet-stream");
    for chunk in data.chunks(64 * 1024) {
        w.write(chunk)?;
    }
    let info = w.finish()?;
    let mut back = Vec::new();
    while (back.len() as u64) < info.size {
        back.extend(blobs::read("photos/a.bin", back.len() as u64, 100_000)?);
    }
    let listed = blobs::list("photos/", None, 10)?.len();
    let stat = blobs::stat("photos/a.bin")?.map(|b| b.size);
    let deleted = blobs::delete("photos/a.bin")?;
    let after = blobs::stat("photos/a.bin")?;
    Ok(format!(
        "size={} same={} listed={listed} stat={stat:?} deleted={deleted} after={after:?} sha256={}",
        info.size,
        back == data,
        info.sha256
    ))
}

/// Reads a key of this app's kv: `?KEY`.
fn kv_get(key: &str) -> String {
    match kv::get(key) {
        Ok(v) => format!("{key} = {:?}", v.map(|b| String::from_utf8_lossy(&b).into_owned())),
        Err(e) => format!("error: {e}"),
    }
}

/// Stores an upload, then asks porch to probe it, make a thumbnail and a
/// stripped copy; reports what came back.
fn media_roundtrip(upload: &[u8]) -> Result<String, HostError> {
    blobs::put("upload", "image/jpeg", upload)?;
    let probe = media::probe("upload")?;
    let thumb = media::thumbnail("upload", "thumb", 400, media::ImageFormat::Jpeg)?;
    let clean = media::strip_metadata("upload", "clean")?;
    let size = |target: &str, max_edge, format| media::ThumbnailSize { target: target.into(), max_edge, format };
    let pair = media::thumbnails(
        "upload",
        &[size("pair-small", 64, media::ImageFormat::Webp), size("pair-view", 320, media::ImageFormat::Jpeg)],
    )?;
    let pair: Vec<String> = pair.iter().map(|b| b.size.to_string()).collect();
    Ok(format!(
        "format={} size={}x{} orientation={} taken={:?} thumb={} clean={} pair={}",
        probe.format,
        probe.width,
        probe.height,
        probe.orientation,
        probe.taken_at,
        thumb.size,
        clean.size,
        pair.join(",")
    ))
}
