//! A whole album as one zip, streamed as it is made: entries are stored
//! (photos and videos are compressed already), each followed by a data
//! descriptor with its CRC, and everything uses the ZIP64 forms so albums
//! and videos past 4 GiB work. Memory holds one 1 MiB chunk and ~100 bytes
//! of central directory per entry; nothing is written to disk.
//!
//! Format: PKWARE APPNOTE 6.3.x, sections 4.3.7 to 4.3.16 and 4.5.3.

use std::collections::HashSet;

use porch_app::sharing::Access;
use porch_app::web::encode;
use porch_app::{Cx, Reply, blobs, kv};
use wstd::http::{Body, Response};

use crate::files::original_for;
use crate::model::{self, Album, Photo, Role};

const CHUNK: u32 = 1 << 20;
const VERSION: u16 = 45;
/// Sizes in a data descriptor, UTF-8 names.
const FLAGS: u16 = 0x0008 | 0x0800;

pub async fn album_zip(cx: Cx<Role>) -> Reply {
    let (album, _) = model::album(&cx.caller, &cx.param("album")?, Access::View)?;
    let album = &album;
    let name = format!("{}.zip", zip_safe(&album.title));
    let state = Zip::new(cx.caller.id, album.clone());
    let chunks = futures_lite::stream::unfold(state, |mut zip| async move {
        match zip.next_chunk() {
            Ok(Some(bytes)) => Some((Ok(bytes), zip)),
            Ok(None) => None,
            Err(e) => {
                zip.done = true;
                Some((Err(std::io::Error::other(e)), zip))
            }
        }
    });
    Ok(Response::builder()
        .header("content-type", "application/zip")
        .header("content-disposition", format!("attachment; filename*=UTF-8''{}", encode(&name)))
        .header("cache-control", "no-store")
        .body(Body::from_try_stream(chunks))?)
}

/// A name without path separators or characters some systems refuse.
fn zip_safe(s: &str) -> String {
    let cleaned: String =
        s.chars().map(|c| if c.is_control() || "/\\:*?\"<>|".contains(c) { '_' } else { c }).collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    if cleaned.is_empty() { "album".into() } else { cleaned }
}

struct Entry {
    blob: String,
    size: u64,
    read: u64,
    crc: crc32fast::Hasher,
    name: Vec<u8>,
    time: (u16, u16),
    offset: u64,
}

struct Central {
    name: Vec<u8>,
    time: (u16, u16),
    crc: u32,
    size: u64,
    offset: u64,
}

struct Zip {
    caller: i64,
    album: Album,
    /// Last photo key listed.
    after: Option<String>,
    queue: Vec<Photo>,
    listed_all: bool,
    entry: Option<Entry>,
    central: Vec<Central>,
    names: HashSet<String>,
    written: u64,
    done: bool,
}

impl Zip {
    fn new(caller: i64, album: Album) -> Zip {
        Zip {
            caller,
            album,
            after: None,
            queue: Vec::new(),
            listed_all: false,
            entry: None,
            central: Vec::new(),
            names: HashSet::new(),
            written: 0,
            done: false,
        }
    }

    fn emit(&mut self, bytes: Vec<u8>) -> Result<Option<Vec<u8>>, String> {
        self.written += bytes.len() as u64;
        Ok(Some(bytes))
    }

    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, String> {
        if self.done {
            return Ok(None);
        }
        if let Some(entry) = &mut self.entry {
            if entry.read < entry.size {
                let want = u32::try_from((entry.size - entry.read).min(u64::from(CHUNK))).unwrap_or(CHUNK);
                let bytes = blobs::read(&entry.blob, entry.read, want).map_err(|e| e.to_string())?;
                if bytes.is_empty() {
                    return Err(format!("{} ended early", entry.blob));
                }
                entry.read += bytes.len() as u64;
                entry.crc.update(&bytes);
                return self.emit(bytes);
            }
            let Some(entry) = self.entry.take() else { return Ok(None) };
            let crc = entry.crc.finalize();
            let mut d = Vec::with_capacity(24);
            put32(&mut d, 0x0807_4b50);
            put32(&mut d, crc);
            put64(&mut d, entry.size);
            put64(&mut d, entry.size);
            self.central.push(Central {
                name: entry.name,
                time: entry.time,
                crc,
                size: entry.size,
                offset: entry.offset,
            });
            return self.emit(d);
        }
        if let Some(photo) = self.next_photo()? {
            let info = original_for(self.caller, &self.album, &photo).map_err(|e| e.message())?;
            let name = self.unique_name(&photo.name);
            let time = model::dos_time(photo.taken_at.unwrap_or(photo.uploaded_at));
            let header = local_header(&name, time);
            self.entry = Some(Entry {
                blob: info.name,
                size: info.size,
                read: 0,
                crc: crc32fast::Hasher::new(),
                name,
                time,
                offset: self.written,
            });
            return self.emit(header);
        }
        self.done = true;
        let tail = self.central_directory();
        Ok(Some(tail))
    }

    fn next_photo(&mut self) -> Result<Option<Photo>, String> {
        loop {
            if let Some(p) = self.queue.pop() {
                return Ok(Some(p));
            }
            if self.listed_all {
                return Ok(None);
            }
            let prefix = model::photos_prefix(&self.album.id);
            let keys = kv::list(&prefix, self.after.as_deref(), 100).map_err(|e| e.to_string())?;
            self.listed_all = keys.len() < 100;
            self.after = keys.last().cloned();
            let mut batch = Vec::with_capacity(keys.len());
            for key in &keys {
                if let Some(p) = kv::get_json::<Photo>(key).map_err(|e| e.to_string())? {
                    batch.push(p);
                }
            }
            batch.reverse();
            self.queue = batch;
        }
    }

    /// `IMG_1.jpg`, then `IMG_1 (2).jpg` for the next file of that name.
    fn unique_name(&mut self, name: &str) -> Vec<u8> {
        let name = zip_safe(name);
        let (stem, ext) = match name.rsplit_once('.') {
            Some((s, e)) if !s.is_empty() => (s.to_owned(), format!(".{e}")),
            _ => (name.clone(), String::new()),
        };
        let mut candidate = name.clone();
        let mut n = 2;
        while !self.names.insert(candidate.to_lowercase()) {
            candidate = format!("{stem} ({n}){ext}");
            n += 1;
        }
        candidate.into_bytes()
    }

    fn central_directory(&mut self) -> Vec<u8> {
        let start = self.written;
        let mut out = Vec::new();
        for c in &self.central {
            put32(&mut out, 0x0201_4b50);
            put16(&mut out, VERSION);
            put16(&mut out, VERSION);
            put16(&mut out, FLAGS);
            put16(&mut out, 0);
            put16(&mut out, c.time.0);
            put16(&mut out, c.time.1);
            put32(&mut out, c.crc);
            put32(&mut out, u32::MAX);
            put32(&mut out, u32::MAX);
            put16(&mut out, u16::try_from(c.name.len()).unwrap_or(u16::MAX));
            put16(&mut out, 28);
            put16(&mut out, 0);
            put16(&mut out, 0);
            put16(&mut out, 0);
            put32(&mut out, 0);
            put32(&mut out, u32::MAX);
            out.extend_from_slice(&c.name);
            put16(&mut out, 1);
            put16(&mut out, 24);
            put64(&mut out, c.size);
            put64(&mut out, c.size);
            put64(&mut out, c.offset);
        }
        let size = out.len() as u64;
        let end64 = start + size;
        let count = self.central.len() as u64;
        put32(&mut out, 0x0606_4b50);
        put64(&mut out, 44);
        put16(&mut out, VERSION);
        put16(&mut out, VERSION);
        put32(&mut out, 0);
        put32(&mut out, 0);
        put64(&mut out, count);
        put64(&mut out, count);
        put64(&mut out, size);
        put64(&mut out, start);
        put32(&mut out, 0x0706_4b50);
        put32(&mut out, 0);
        put64(&mut out, end64);
        put32(&mut out, 1);
        put32(&mut out, 0x0605_4b50);
        put16(&mut out, 0);
        put16(&mut out, 0);
        put16(&mut out, u16::MAX);
        put16(&mut out, u16::MAX);
        put32(&mut out, u32::MAX);
        put32(&mut out, u32::MAX);
        put16(&mut out, 0);
        self.written += out.len() as u64;
        out
    }
}

fn local_header(name: &[u8], time: (u16, u16)) -> Vec<u8> {
    let mut h = Vec::with_capacity(30 + name.len() + 20);
    put32(&mut h, 0x0403_4b50);
    put16(&mut h, VERSION);
    put16(&mut h, FLAGS);
    put16(&mut h, 0);
    put16(&mut h, time.0);
    put16(&mut h, time.1);
    put32(&mut h, 0);
    put32(&mut h, u32::MAX);
    put32(&mut h, u32::MAX);
    put16(&mut h, u16::try_from(name.len()).unwrap_or(u16::MAX));
    put16(&mut h, 20);
    h.extend_from_slice(name);
    // ZIP64 extra field; the real sizes follow in the data descriptor.
    put16(&mut h, 1);
    put16(&mut h, 16);
    put64(&mut h, 0);
    put64(&mut h, 0);
    h
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}
