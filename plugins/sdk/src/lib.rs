//! porch-app: the kit for writing porch apps in Rust.
//!
//! An app is a `wasi:http/proxy` component that porch runs, one fresh
//! instance per request, behind its door: every request comes from a
//! signed-in person porch names ([`Caller`]), and the app reaches only the
//! porch capabilities its `app.toml` declares ([`kv`], [`blobs`], [`media`],
//! [`people`], [`outbound`]).
//!
//! What an app writes is its routes, its records and its templates:
//!
//! ```ignore
//! use porch_app::{App, Cx, Reply, context, kv};
//! use porch_app::wstd::http::{Body, Error, Request, Response};
//!
//! porch_app::roles! { pub enum Role { Visitor = "visitor" } }
//!
//! #[porch_app::wstd::http_server]
//! async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
//!     App::<Role>::new("Hello")
//!         .templates(porch_app::templates!["hello.html"])
//!         .get("/", home)
//!         .serve(request)
//!         .await
//! }
//!
//! async fn home(cx: Cx<Role>) -> Reply {
//!     let key = format!("visits/{}", cx.caller.id);
//!     let visits = kv::update_json(&key, |n: Option<u64>| Some(n.unwrap_or(0) + 1))?;
//!     cx.render("hello.html", context! { visits })
//! }
//! ```
//!
//! - [`App`] and [`Router`]: routes with typed path parts
//!   (`cx.param::<u64>("id")?`), HEAD answered by GET, 404/405 for the rest.
//! - [`Error`] and [`Reply`]: every failure becomes a page with the right
//!   status and a sentence a person can act on (the app's `error.html`).
//! - [`web`]: HTML, JSON, redirects, query strings and forms under a size
//!   limit.
//! - [`Templates`] and [`templates!`]: minijinja templates embedded in the
//!   component, escaping every value in `.html` files.
//! - [`roles!`]: the app's roles as an enum the build checks against
//!   `app.toml`.
//! - [`kv`]: bytes and JSON records, with compare-and-swap updates.
//! - [`blobs`]: files streamed in and out, with byte ranges and caching.
//! - [`App::job`]: what to do when porch runs a scheduled trigger.
//! - [`outbound`]: requests to the other sites the app's `app.toml` lists.
//! - [`home`]: cards under the app's tile on porch's start page.
//! - [`sharing`]: one thing shared with people or groups as viewers or
//!   contributors, and who may do what with it; inviting someone new to it
//!   in one step ([`invites`]).
//! - [`activity`]: news for the people the app serves, on porch's start
//!   page and in their digests.
//! - [`dates`]: the time, and dates written for people.

#![deny(missing_docs)]

pub use minijinja::context;
pub use wstd;

pub mod activity;
mod app;
pub mod blobs;
#[doc(hidden)]
pub mod caller;
pub mod dates;
pub mod home;
pub mod kv;
pub mod outbound;
mod router;
pub mod sharing;
mod templates;
pub mod web;

pub use app::{App, Job};
pub use caller::{Caller, Role};
pub use router::{Cx, Router};
pub use templates::Templates;
pub use web::{Error, Reply};

#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "porch:app/imports",
    });
}

pub(crate) use bindings::porch::app as host;

/// What a porch capability call can fail with (quota, invalid input, not
/// found, unsupported, internal); a handler's `?` turns it into [`Error`].
pub use host::types::Error as HostError;

/// Image work porch does on the app's blobs.
pub mod media {
    pub use super::host::media::{ImageFormat, ProbeInfo, ThumbnailSize, VideoInfo};
    use super::{HostError as Error, blobs::BlobInfo, host::media};

    /// Format, size, orientation and date of an image blob, without decoding it.
    pub fn probe(blob: &str) -> Result<ProbeInfo, Error> {
        media::probe(blob)
    }

    /// A smaller copy of an image blob (upright, no metadata) as the blob `target`.
    pub fn thumbnail(blob: &str, target: &str, max_edge: u32, format: ImageFormat) -> Result<BlobInfo, Error> {
        media::thumbnail(blob, target, max_edge, format)
    }

    /// Several sizes from one decode of `blob`: use it rather than
    /// `thumbnail` once per size.
    pub fn thumbnails(blob: &str, sizes: &[ThumbnailSize]) -> Result<Vec<BlobInfo>, Error> {
        media::thumbnails(blob, sizes)
    }

    /// A copy of a picture or video blob without location, camera serials or comments, as `target`.
    pub fn strip_metadata(blob: &str, target: &str) -> Result<BlobInfo, Error> {
        media::strip_metadata(blob, target)
    }

    /// A full-size, upright JPEG of a picture blob with no metadata, as `target`.
    pub fn jpeg_copy(blob: &str, target: &str) -> Result<BlobInfo, Error> {
        media::jpeg_copy(blob, target)
    }

    /// A video blob's size as shown, length and codecs.
    pub fn probe_video(blob: &str) -> Result<VideoInfo, Error> {
        media::probe_video(blob)
    }

    /// Thumbnails of a poster frame of a video blob.
    pub fn video_poster(blob: &str, sizes: &[ThumbnailSize]) -> Result<Vec<BlobInfo>, Error> {
        media::video_poster(blob, sizes)
    }

    /// The video a motion photo carries after its picture, cleaned, stored
    /// as `target`; `None` when the picture has none.
    pub fn motion_video(blob: &str, target: &str) -> Result<Option<BlobInfo>, Error> {
        media::motion_video(blob, target)
    }

    /// Queues an H.264 copy of a video blob, made in the background and
    /// stored as `target` (see [`work_state`] for how it stands).
    pub fn queue_h264_copy(blob: &str, target: &str) -> Result<(), Error> {
        media::queue_h264_copy(blob, target)
    }

    /// Where the work that makes `target` stands: `None` when there is none
    /// (made, or never asked), else "waiting", "running" or "failed: …".
    pub fn work_state(target: &str) -> Result<Option<String>, Error> {
        media::work_state(target)
    }
}

/// The people this app may share with.
pub mod people {
    pub use super::host::people::Person;

    /// Everyone who may use this app, with their groups and role.
    pub fn list() -> Vec<Person> {
        super::host::people::list_people()
    }
}

/// Invite links that bring someone new into this app (`invites = true`
/// under `[capabilities]`). porch makes and keeps the invite; the app hands
/// the link on and later learns who joined through it. For sharing one
/// thing with someone new, [`sharing::invite_someone_new`] does it all.
pub mod invites {
    pub use super::host::invites::Invite;
    use super::{HostError as Error, host::invites};

    /// An invite made on behalf of the calling person: whoever joins through
    /// it gets `role` in this app (no higher than the caller's own) and
    /// lands on `landing`, a path of this app. Refused (with a sentence to
    /// show) when the porch owner does not let the caller's role invite.
    pub fn create(role: &str, note: &str, landing: &str) -> Result<Invite, Error> {
        invites::create(role, note, landing)
    }

    /// The people who joined through `invite` (one this app made).
    pub fn joined(invite: i64) -> Result<Vec<i64>, Error> {
        invites::joined(invite)
    }

    /// Revokes `invite` (one the caller made, or any when they own the
    /// porch); true if it was still live.
    pub fn revoke(invite: i64) -> Result<bool, Error> {
        invites::revoke(invite)
    }
}

/// Escapes text for HTML (templates do this for you; this is for the rare
/// text built outside one).
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

/// A new random id: 16 hex digits (64 bits from the host's random source).
pub fn random_id() -> String {
    let mut bytes = [0u8; 8];
    wstd::rand::get_random_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A byte count as a person reads it: `64 MiB`, `1.5 GiB`, `300 bytes`.
pub fn size_text(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size {
            return if bytes.is_multiple_of(size) {
                format!("{} {unit}", bytes / size)
            } else {
                format!("{:.1} {unit}", bytes as f64 / size as f64)
            };
        }
    }
    format!("{bytes} bytes")
}
