//! "Share → Photos" from a phone's gallery: Photos' web app manifest names
//! `/share` as its share target, so the phone POSTs the chosen photos and
//! videos there as a multipart form. They are streamed into the person's
//! inbox (checked by their first bytes like any upload), then the person
//! picks an album (or makes one) and they are added to it as uploads are.
//! Nothing waits in an inbox longer than a day.

use porch_app::sharing::Access;
use porch_app::{Cx, Error, Reply, blobs, context, kv, web};
use serde::{Deserialize, Serialize};

use crate::model::{self, Album, Role};
use crate::upload;

/// At most this many files in one share.
const MAX_FILES: usize = 50;
/// How long shared files wait for an album.
const KEEP: i64 = 86_400;

/// A shared file waiting for its album.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Waiting {
    pub blob: String,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    pub at: i64,
}

fn inbox(me: i64) -> String {
    format!("inbox/{me}/")
}

/// What waits for `me`, oldest first; anything older than a day is dropped.
fn waiting(me: i64) -> Result<Vec<(String, Waiting)>, Error> {
    let now = model::now();
    let mut kept = Vec::new();
    for (key, item) in kv::list_json::<Waiting>(&inbox(me), None, 500)? {
        if now - item.at > KEEP {
            blobs::delete(&item.blob)?;
            kv::delete(&key)?;
        } else {
            kept.push((key, item));
        }
    }
    Ok(kept)
}

/// The phone's share sheet sends the files here.
pub async fn receive(cx: Cx<Role>) -> Reply {
    let me = cx.caller.id;
    let sniffed = |head: &[u8]| upload::sniff(head).map(|(_, content_type)| content_type.to_owned());
    let name = || format!("{}{}", inbox(me), porch_app::random_id());
    let saved = blobs::save_form_files(cx.request, "media", MAX_FILES, upload::MAX_UPLOAD, name, sniffed).await?;
    for file in saved {
        let item = Waiting {
            name: upload::clean_name(&file.file_name),
            size: file.info.size,
            content_type: file.info.content_type.clone(),
            at: model::now(),
            blob: file.blob.clone(),
        };
        kv::put_json(&file.blob, &item)?;
    }
    web::see_other("/share")
}

/// The albums `me` may add to, newest first.
fn albums_to_add_to(me: &model::Caller) -> Result<Vec<Album>, Error> {
    let mut albums: Vec<Album> = model::visible_albums(me)?
        .into_iter()
        .filter(|a| model::access(me, a).is_some_and(|access| access >= Access::Contribute))
        .collect();
    albums.sort_by_key(|a| std::cmp::Reverse(a.created_at));
    Ok(albums)
}

/// Which album should the shared files go into?
pub async fn pick(cx: Cx<Role>) -> Reply {
    let files: Vec<Waiting> = waiting(cx.caller.id)?.into_iter().map(|(_, w)| w).collect();
    let albums = albums_to_add_to(&cx.caller)?;
    cx.render("share_pick.html", context! { files, albums, can_create => model::can_create(&cx.caller) })
}

#[derive(Deserialize)]
struct PickForm {
    #[serde(default)]
    album: String,
    #[serde(default)]
    title: String,
}

/// Adds everything waiting to the chosen (or a new) album, as uploads are
/// added, then opens it.
pub async fn add(mut cx: Cx<Role>) -> Reply {
    let form: PickForm = cx.form(64 * 1024).await?;
    let me = cx.caller.clone();
    let album = if form.title.trim().is_empty() {
        let id: model::Id = form.album.parse().map_err(|_| Error::Bad("Pick an album.".into()))?;
        model::album(&me, &id, Access::Contribute)?.0
    } else {
        crate::pages::new_album_for(&me, &form.title)?
    };
    let mut refused = Vec::new();
    for (key, item) in waiting(me.id)? {
        let blob_id = porch_app::random_id();
        let stored = blobs::copy(&item.blob, &format!("{}/{blob_id}/o", album.id))?;
        // A file the album has already counts as added.
        if let Err((_, why)) = upload::add_stored(&me, &album, &blob_id, &item.name, &stored) {
            refused.push(why);
        }
        blobs::delete(&item.blob)?;
        kv::delete(&key)?;
    }
    if refused.is_empty() {
        web::see_other(&format!("/a/{}", album.id))
    } else {
        Err(Error::Unsupported(format!("Some files could not be added: {}", refused.join("; "))))
    }
}
