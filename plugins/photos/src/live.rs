//! Live Photos: an iPhone's still (HEIC or JPEG) and its short video (MOV)
//! arrive as two uploads that carry the same content identifier (in the
//! still's Apple maker note, and the video's
//! `com.apple.quicktime.content.identifier`, which porch's probes read).
//! Each part notes itself under `a/<album>/l/<identifier>` with a
//! compare-and-swap; the upload that completes the pair links the two, in
//! whichever order and however close together they arrive. A linked still
//! plays its video as its motion, and the video leaves the grid (it stays
//! reachable by its own page). Both parts are cleaned for others as any
//! photo and video are.

use porch_app::{Error, kv};
use serde::{Deserialize, Serialize};

use crate::model::{self, Album, Kind, Photo};

#[derive(Serialize, Deserialize, Default)]
struct Pair {
    still: Option<String>,
    video: Option<String>,
}

pub fn live_key(album: &str, content_id: &str) -> String {
    format!("a/{album}/l/{content_id}")
}

/// Notes a just-recorded photo or video as one part of a Live Photo, and
/// links the two if this part completes the pair.
pub fn pair(album: &Album, photo: &Photo) -> Result<(), Error> {
    let Some(content_id) = photo.content_id.as_deref() else { return Ok(()) };
    let is_video = photo.kind == Kind::Video;
    let stored = kv::update_json(&live_key(&album.id, content_id), |pair: Option<Pair>| {
        let mut pair = pair.unwrap_or_default();
        let mine = if is_video { &mut pair.video } else { &mut pair.still };
        // The first of each kind is the part; a second copy is not paired.
        if mine.is_some() {
            return None;
        }
        *mine = Some(photo.id.clone());
        Some(pair)
    })?;
    let Some(Pair { still: Some(still), video: Some(video) }) = stored else { return Ok(()) };
    if *(if is_video { &video } else { &still }) != photo.id {
        return Ok(());
    }
    kv::update_json(&model::photo_key(&album.id, &still), |p: Option<Photo>| {
        let mut p = p?;
        p.live_video = Some(video.clone());
        Some(p)
    })?;
    kv::update_json(&model::photo_key(&album.id, &video), |p: Option<Photo>| {
        let mut p = p?;
        p.live_still = Some(still.clone());
        Some(p)
    })?;
    Ok(())
}
