//! The bits of EXIF porch reads (orientation, when a photo was taken) and
//! the one it writes (an orientation-only block for stripped photos).
//! Parsing failures are not errors: a photo with broken EXIF is shown as-is.

pub struct Meta {
    pub orientation: u8,
    pub taken_at: Option<i64>,
}

pub fn read(bytes: &[u8]) -> Meta {
    let mut meta = Meta { orientation: 1, taken_at: None };
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
    meta
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
    fn the_minimal_block_parses_back() {
        let block = minimal_orientation_exif(6);
        let parsed = exif::Reader::new().read_raw(block[6..].to_vec()).expect("parse");
        let field = parsed.get_field(exif::Tag::Orientation, exif::In::PRIMARY).expect("orientation");
        assert_eq!(field.value.get_uint(0), Some(6));
        assert_eq!(parsed.fields().count(), 1);
    }
}
