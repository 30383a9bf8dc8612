//! porch-app: the guest SDK for porch apps written in Rust.
//!
//! An app is a `wasi:http/proxy` component: write the handler with
//! [`wstd::http_server`] and use this crate for what porch adds: who is
//! calling ([`Caller`]) and the host capabilities [`kv`], [`blobs`], [`media`]
//! and [`people`]. Each capability works only if the app's `app.toml`
//! declares it; porch refuses to install an app that imports one it did not
//! declare.

pub use wstd;

mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "porch:app/imports",
    });
}

use bindings::porch::app as host;

/// What a host call can fail with.
pub use host::types::Error;

/// The signed-in person a request comes from, from the headers porch sets
/// (and strips from what the client sent, so they cannot be forged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub id: i64,
    pub name: String,
    /// This person's role in this app, as declared in the manifest.
    pub role: String,
    /// Whether they own this porch (porch owners may see everything).
    pub is_owner: bool,
}

impl Caller {
    pub fn from_headers(headers: &wstd::http::HeaderMap) -> Option<Caller> {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        Some(Caller {
            id: get("porch-user-id")?.parse().ok()?,
            name: percent_decode(get("porch-user-name")?),
            role: get("porch-app-role")?.to_owned(),
            is_owner: get("porch-user-role") == Some("owner"),
        })
    }
}

/// porch percent-encodes names (they may hold any Unicode) in the header.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The app's own key/value store.
pub mod kv {
    use super::{Error, host::kv};

    pub fn get(key: &str) -> Result<Option<Vec<u8>>, Error> {
        kv::get(key)
    }

    pub fn set(key: &str, value: &[u8]) -> Result<(), Error> {
        kv::set(key, value)
    }

    pub fn delete(key: &str) -> Result<bool, Error> {
        kv::delete(key)
    }

    /// Keys with `prefix`, up to `limit`, after `after` (for paging).
    pub fn list(prefix: &str, after: Option<&str>, limit: u32) -> Result<Vec<String>, Error> {
        kv::list_keys(prefix, after, limit)
    }

    /// Keys with `prefix` in descending order, before `before`.
    pub fn list_reverse(prefix: &str, before: Option<&str>, limit: u32) -> Result<Vec<String>, Error> {
        kv::list_keys_reverse(prefix, before, limit)
    }

    /// Sets `key` to `value` only if it holds `expected` (`None`: absent).
    pub fn compare_and_swap(key: &str, expected: Option<&[u8]>, value: &[u8]) -> Result<bool, Error> {
        kv::compare_and_swap(key, expected, value)
    }

    /// Deletes every key starting with `prefix`; returns how many.
    pub fn delete_prefix(prefix: &str) -> Result<u64, Error> {
        kv::delete_prefix(prefix)
    }

    /// Read-modify-write without lost updates: calls `change` with the
    /// current value until its result is stored unchanged underneath it.
    /// `change` returning `None` leaves the key as it is. Gives up with
    /// [`Error::Internal`] after 100 contended tries.
    pub fn update<F>(key: &str, mut change: F) -> Result<Option<Vec<u8>>, Error>
    where
        F: FnMut(Option<&[u8]>) -> Option<Vec<u8>>,
    {
        for _ in 0..100 {
            let current = kv::get(key)?;
            let Some(next) = change(current.as_deref()) else { return Ok(current) };
            if kv::compare_and_swap(key, current.as_deref(), &next)? {
                return Ok(Some(next));
            }
        }
        Err(Error::Internal(format!("too many writers at once on {key}")))
    }
}

/// The app's own blobs.
pub mod blobs {
    pub use super::host::blobs::{BlobInfo, Writer};
    use super::{Error, host::blobs};

    pub fn stat(name: &str) -> Result<Option<BlobInfo>, Error> {
        blobs::stat(name)
    }

    pub fn read(name: &str, offset: u64, len: u32) -> Result<Vec<u8>, Error> {
        blobs::read(name, offset, len)
    }

    pub fn delete(name: &str) -> Result<bool, Error> {
        blobs::delete(name)
    }

    pub fn list(prefix: &str, after: Option<&str>, limit: u32) -> Result<Vec<BlobInfo>, Error> {
        blobs::list_blobs(prefix, after, limit)
    }

    /// Deletes every blob whose name starts with `prefix`; returns how many.
    pub fn delete_prefix(prefix: &str) -> Result<u64, Error> {
        blobs::delete_prefix(prefix)
    }

    /// Writes a whole blob from memory (use [`Writer`] to stream).
    pub fn put(name: &str, content_type: &str, data: &[u8]) -> Result<BlobInfo, Error> {
        let w = Writer::new(name, content_type);
        for chunk in data.chunks(1 << 20) {
            w.write(chunk)?;
        }
        w.finish()
    }
}

/// Image work porch does on the app's blobs.
pub mod media {
    pub use super::host::media::{ImageFormat, ProbeInfo, ThumbnailSize};
    use super::{Error, blobs::BlobInfo, host::media};

    pub fn probe(blob: &str) -> Result<ProbeInfo, Error> {
        media::probe(blob)
    }

    pub fn thumbnail(blob: &str, target: &str, max_edge: u32, format: ImageFormat) -> Result<BlobInfo, Error> {
        media::thumbnail(blob, target, max_edge, format)
    }

    /// Several sizes from one decode of `blob`: use it rather than
    /// `thumbnail` once per size.
    pub fn thumbnails(blob: &str, sizes: &[ThumbnailSize]) -> Result<Vec<BlobInfo>, Error> {
        media::thumbnails(blob, sizes)
    }

    pub fn strip_metadata(blob: &str, target: &str) -> Result<BlobInfo, Error> {
        media::strip_metadata(blob, target)
    }
}

/// The people this app may share with.
pub mod people {
    pub use super::host::people::Person;

    pub fn list() -> Vec<Person> {
        super::host::people::list_people()
    }
}

/// Escapes text for HTML.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
