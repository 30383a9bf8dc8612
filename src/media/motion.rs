//! Motion photos: the short video Google's and Samsung's cameras append to a
//! JPEG (Google's `MicroVideo`/`MotionPhoto`, Samsung's `MotionPhoto_Data`
//! trailer). The video is an ordinary MP4 after the picture; porch finds it
//! by its `ftyp` box with a known brand, keeps the top-level boxes that are
//! whole (a Samsung `SEFT` footer after them is not video), and cleans it
//! like any MP4 (`movie::plan`), so the motion carries no location either.
//! The still itself is cleaned by `strip.rs`, which cuts at the picture's
//! end.

use std::io::Seek;

use super::{MediaError, MediaLimits, jail, movie};

/// Brands a phone camera's MP4 starts with.
const BRANDS: [&[u8; 4]; 7] = [b"isom", b"mp41", b"mp42", b"avc1", b"iso2", b"iso6", b"qt  "];

/// Where the appended video starts and ends in a JPEG, if it has one.
fn find(bytes: &[u8]) -> Option<(usize, usize)> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut from = 4;
    let start = loop {
        let at = from + bytes.get(from..)?.windows(4).position(|w| w == b"ftyp")?;
        let size = u32::from_be_bytes(bytes.get(at - 4..at)?.try_into().ok()?);
        let brand = bytes.get(at + 4..at + 8)?;
        if (8..=256).contains(&size) && BRANDS.iter().any(|b| b.as_slice() == brand) {
            break at - 4;
        }
        from = at + 4;
    };
    // Whole top-level boxes from there on.
    let mut end = start;
    while let Some(head) = bytes.get(end..end + 8) {
        let size = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
        let size = match size {
            1 => bytes.get(end + 8..end + 16).map_or(0, |l| u64::from_be_bytes(l.try_into().unwrap_or([0; 8]))),
            0 => (bytes.len() - end) as u64,
            n => n,
        };
        let kind_ok = head[4..8].iter().all(|c| c.is_ascii_alphanumeric() || *c == b' ' || *c == 0xA9);
        let Some(next) = usize::try_from(size).ok().and_then(|s| end.checked_add(s)) else { break };
        if size < 8 || !kind_ok || next > bytes.len() {
            break;
        }
        end = next;
    }
    (end > start + 8).then_some((start, end))
}

/// The video appended to a motion photo, cleaned of location and device
/// metadata; `None` for a JPEG without one (or any other picture).
pub fn motion_video(bytes: &[u8], limits: &MediaLimits) -> Result<Option<Vec<u8>>, MediaError> {
    let Some((start, end)) = find(bytes) else { return Ok(None) };
    let mut video = bytes[start..end].to_vec();
    let mut file = jail::input_file(&video)?;
    let patches = movie::plan(&mut file, limits)?;
    file.rewind().map_err(|e| MediaError::Unavailable(e.to_string()))?;
    movie::apply(&patches, 0, &mut video);
    Ok(Some(video))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = u32::try_from(body.len() + 8).expect("size").to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn the_appended_video_is_found_and_a_footer_after_it_left_out() {
        let video = [mp4_box(b"ftyp", b"mp42\0\0\0\0isom"), mp4_box(b"mdat", &[1, 2, 3])].concat();
        let jpeg = [&[0xFF, 0xD8, 0xFF, 0xD9][..], b"MotionPhoto_Data", &video, b"SEFH\x01\x02junk footer"].concat();
        let (start, end) = find(&jpeg).expect("found");
        assert_eq!(&jpeg[start..end], video.as_slice());
        // A plain JPEG, or "ftyp" with no brand after it, has none.
        assert_eq!(find(&[0xFF, 0xD8, 0xFF, 0xD9]), None);
        assert_eq!(find(&[&[0xFF, 0xD8, 0, 0, 0, 16][..], b"ftypzzzz\0\0\0\0"].concat()), None);
        assert_eq!(find(&video), None, "not a JPEG");
    }
}
