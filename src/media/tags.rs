//! The bits of EXIF porch reads (orientation, when a photo was taken,
//! Apple's Live Photo identifier from its maker note) and the one it writes (an orientation-only block for stripped photos).
//! Parsing failures are not errors: a photo with broken EXIF is shown as-is.

pub struct Meta {
    pub orientation: u8,
    pub taken_at: Option<i64>,
    /// Apple's content identifier, shared by a Live Photo's still and video.
    pub content_id: Option<String>,
}

pub fn read(bytes: &[u8]) -> Meta {
    let mut meta = Meta { orientation: 1, taken_at: None, content_id: None };
    let Ok(parsed) = exif::Reader::new().read_from_container(&mut std::io::Cursor::new(bytes)) else { return meta };
    if let Some(field) = parsed.get_field(exif::Tag::Orientation, exif::In::PRIMARY)
        && let Some(v) = field.value.get_uint(0)
        && (1..=8).contains(&v)
    {
        meta.orientation = v as u8;
    }
    if let Some(field) = parsed.get_field(exif::Tag::DateTimeOriginal, exif::In::PRIMARY)
        && let exif::Value::Ascii(ref parts) = field.value
        && let Some(first) = parts.first()
        && let Ok(dt) = exif::DateTime::from_ascii(first)
    {
        meta.taken_at = unix_seconds(&dt);
    }
    if let Some(field) = parsed.get_field(exif::Tag::MakerNote, exif::In::PRIMARY)
        && let exif::Value::Undefined(ref note, _) = field.value
    {
        meta.content_id = apple_content_id(note);
    }
    meta
}

/// Apple's maker note (`Apple iOS\0`, a version, `MM`, then one big-endian
/// IFD whose offsets count from the note's start): tag 0x0011, the content
/// identifier a Live Photo's still shares with its video. Every read is
/// bounds-checked; anything unexpected is "none".
fn apple_content_id(note: &[u8]) -> Option<String> {
    if !note.starts_with(b"Apple iOS\0") || note.get(12..14) != Some(b"MM") {
        return None;
    }
    let u16_at = |at: usize| note.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let u32_at = |at: usize| note.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let count = usize::from(u16_at(14)?).min(256);
    for i in 0..count {
        let entry = 16 + i * 12;
        if u16_at(entry)? != 0x0011 || u16_at(entry + 2)? != 2 {
            continue;
        }
        let len = usize::try_from(u32_at(entry + 4)?).ok()?;
        let text = if len <= 4 {
            note.get(entry + 8..entry + 8 + len)?
        } else {
            let at = usize::try_from(u32_at(entry + 8)?).ok()?;
            note.get(at..at.checked_add(len)?)?
        };
        return identifier(std::str::from_utf8(text).ok()?);
    }
    None
}

/// A content identifier as porch keeps it: printable ASCII, at most 64
/// characters (Apple's are UUIDs), without a trailing NUL.
pub fn identifier(raw: &str) -> Option<String> {
    let id = raw.trim_end_matches('\0').trim();
    let fits = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_graphic());
    fits.then(|| id.to_owned())
}

fn unix_seconds(dt: &exif::DateTime) -> Option<i64> {
    let month = time::Month::try_from(dt.month).ok()?;
    let date = time::Date::from_calendar_date(i32::from(dt.year), month, dt.day).ok()?;
    let t = time::Time::from_hms(dt.hour, dt.minute, dt.second).ok()?;
    Some(time::PrimitiveDateTime::new(date, t).assume_utc().unix_timestamp())
}

/// An APP1 payload (`Exif\0\0` + a big-endian TIFF with one IFD entry)
/// holding only the orientation.
pub fn minimal_orientation_exif(orientation: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(b"MM\0\x2a");
    out.extend_from_slice(&8u32.to_be_bytes()); // first IFD right after the header
    out.extend_from_slice(&1u16.to_be_bytes()); // one entry
    out.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    out.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    out.extend_from_slice(&1u32.to_be_bytes()); // count
    out.extend_from_slice(&u16::from(orientation).to_be_bytes());
    out.extend_from_slice(&[0, 0]); // padding of the 4-byte value field
    out.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apple_maker_notes_give_their_content_identifier() {
        let id = b"8A5D2C1E-0F3B-4C6D-9E7F-112233445566\0";
        let mut note = b"Apple iOS\0\0\x01MM".to_vec();
        note.extend_from_slice(&2u16.to_be_bytes());
        // Another tag first, then 0x0011 pointing past the IFD.
        note.extend_from_slice(&[0x00, 0x01, 0x00, 0x09, 0, 0, 0, 1, 0, 0, 0, 14]);
        note.extend_from_slice(&[0x00, 0x11, 0x00, 0x02]);
        note.extend_from_slice(&(id.len() as u32).to_be_bytes());
        note.extend_from_slice(&44u32.to_be_bytes());
        note.extend_from_slice(&0u32.to_be_bytes());
        assert_eq!(note.len(), 44);
        note.extend_from_slice(id);
        assert_eq!(apple_content_id(&note).as_deref(), Some("8A5D2C1E-0F3B-4C6D-9E7F-112233445566"));
        // Cut short, pointing outside, or not Apple's: none.
        assert_eq!(apple_content_id(&note[..50]), None);
        assert_eq!(apple_content_id(b"Nikon\0\x02\x10\0\0MM*\0"), None);
        assert_eq!(identifier("a b"), None);
        assert_eq!(identifier(&"x".repeat(65)), None);
    }

    #[test]
    fn the_minimal_block_parses_back() {
        let block = minimal_orientation_exif(6);
        let parsed = exif::Reader::new().read_raw(block[6..].to_vec()).expect("parse");
        let field = parsed.get_field(exif::Tag::Orientation, exif::In::PRIMARY).expect("orientation");
        assert_eq!(field.value.get_uint(0), Some(6));
        assert_eq!(parsed.fields().count(), 1);
    }
}
