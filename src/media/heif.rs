//! HEIF pictures (HEIC from phones, AVIF): what porch reads itself and what
//! it leaves to libheif.
//!
//! porch reads the container itself, in safe Rust, for what it needs to
//! know and change: the primary picture's size (`ispe`), how it is turned
//! (`irot`, `imir`, in the order `ipma` lists them), when it was taken (the
//! EXIF item), and where the EXIF and XMP items lie (`iloc`). Stripping
//! blanks those items in place, byte for byte the same length, so every
//! offset in the file stays right and the pixels are untouched.
//!
//! Decoding the pixels needs HEVC or AV1, so it is libheif's job, run as
//! `heif-convert` in the media jail (`jail.rs`): it writes an upright JPEG
//! (libheif applies `irot`/`imir`; EXIF orientation does not apply to HEIF)
//! that porch then thumbnails as any other JPEG. We chose libheif because it
//! is what every Linux viewer and libvips use for HEIF, Debian ships it with
//! its HEVC (libde265) and AV1 (dav1d, aom) decoders, and its command-line
//! tool lets it run outside porch's process without a binding.

use std::ffi::OsString;
use std::ops::Range;

use super::bmff::{self, BoxAt};
use super::{MediaError, MediaLimits, Probe, jail, tags};

/// The HEIF flavour of `bytes` by its `ftyp` brands: `heic`, `avif` or
/// `heif` (another HEIF); `None` if it is not HEIF at all.
pub fn flavour(bytes: &[u8]) -> Option<&'static str> {
    let ftyp = bmff::header(bytes, 0, bytes.len()).ok().filter(|b| &b.kind == b"ftyp")?;
    let major = bytes.get(ftyp.body..ftyp.body + 4)?;
    let compatible = bytes.get(ftyp.body + 8..ftyp.end).unwrap_or_default();
    let brands = std::iter::once(major).chain(compatible.chunks_exact(4));
    let mut found = None;
    for brand in brands {
        match brand {
            b"avif" | b"avis" => return Some("avif"),
            b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" => found = Some("heic"),
            b"mif1" | b"msf1" | b"mif2" if found.is_none() => found = Some("heif"),
            _ => {}
        }
    }
    found
}

/// What porch knows of a HEIF file without decoding it.
#[derive(Debug, Default)]
struct Layout {
    width: u32,
    height: u32,
    orientation: u8,
    /// EXIF items' bytes, in file order of their extents.
    exif: Vec<Vec<Range<usize>>>,
    /// XMP items' bytes.
    xmp: Vec<Vec<Range<usize>>>,
}

fn damaged(why: &str) -> MediaError {
    MediaError::Invalid(format!("the HEIF picture is damaged ({why})"))
}

fn layout(bytes: &[u8]) -> Result<Layout, MediaError> {
    let top = bmff::children(bytes, 0, bytes.len()).map_err(damaged)?;
    let meta = top.iter().find(|b| &b.kind == b"meta").copied().ok_or_else(|| damaged("no meta box"))?;
    let inner = bmff::children(bytes, meta.body + 4, meta.end).map_err(damaged)?;
    let child = |kind: &[u8; 4]| inner.iter().find(|b| &b.kind == kind).copied();
    let pitm = child(b"pitm").ok_or_else(|| damaged("no primary item"))?;
    let primary = if version(bytes, pitm) == 0 {
        bmff::u16_at(bytes, pitm.body + 4).map(u32::from)
    } else {
        bmff::u32_at(bytes, pitm.body + 4)
    }
    .ok_or_else(|| damaged("pitm is cut off"))?;

    let mut out = Layout { orientation: 1, ..Layout::default() };
    let properties = properties_of(bytes, child(b"iprp"), primary)?;
    let mut grid = Grid::default();
    let mut sized = false;
    for p in properties {
        match &p.kind {
            b"ispe" => {
                let (w, h) = (bmff::u32_at(bytes, p.body + 4), bmff::u32_at(bytes, p.body + 8));
                let (Some(w), Some(h)) = (w, h) else { return Err(damaged("ispe is cut off")) };
                (out.width, out.height, sized) = (w, h, true);
            }
            b"irot" => {
                let angle = bmff::u8_at(bytes, p.body).ok_or_else(|| damaged("irot is cut off"))? & 3;
                for _ in 0..angle {
                    grid = grid.turn_left();
                }
            }
            b"imir" => {
                // libheif's reading, which decodes the pixels: axis 0 flips
                // top and bottom, axis 1 left and right.
                let axis = bmff::u8_at(bytes, p.body).ok_or_else(|| damaged("imir is cut off"))? & 1;
                grid = if axis == 0 { grid.flip_top_bottom() } else { grid.flip_left_right() };
            }
            _ => {}
        }
    }
    if !sized {
        return Err(damaged("the primary picture has no size"));
    }
    out.orientation = grid.exif_orientation();

    let items = item_types(bytes, child(b"iinf"))?;
    let locations = locations(bytes, child(b"iloc"), child(b"idat"))?;
    for (id, kind) in items {
        let Some(ranges) = locations.iter().find(|(i, _)| *i == id).map(|(_, r)| r.clone()) else { continue };
        match kind {
            ItemKind::Exif => out.exif.push(ranges),
            ItemKind::Xmp => out.xmp.push(ranges),
            ItemKind::Other => {}
        }
    }
    Ok(out)
}

fn version(bytes: &[u8], b: BoxAt) -> u8 {
    bmff::u8_at(bytes, b.body).unwrap_or(0)
}

/// The property boxes associated with `item`, in the order `ipma` lists
/// them (the order transformations apply in).
fn properties_of(bytes: &[u8], iprp: Option<BoxAt>, item: u32) -> Result<Vec<BoxAt>, MediaError> {
    let iprp = iprp.ok_or_else(|| damaged("no item properties"))?;
    let ipco = bmff::find(bytes, iprp, 0, b"ipco").map_err(damaged)?.ok_or_else(|| damaged("no ipco"))?;
    let all = bmff::children(bytes, ipco.body, ipco.end).map_err(damaged)?;
    let mut out = Vec::new();
    for ipma in bmff::children(bytes, iprp.body, iprp.end).map_err(damaged)?.into_iter().filter(|b| &b.kind == b"ipma")
    {
        let v = version(bytes, ipma);
        let flags = bmff::u32_at(bytes, ipma.body).unwrap_or(0) & 0xff_ffff;
        let cut = || damaged("ipma is cut off");
        let count = bmff::u32_at(bytes, ipma.body + 4).ok_or_else(cut)?;
        let mut at = ipma.body + 8;
        for _ in 0..count {
            let id = if v < 1 {
                let id = bmff::u16_at(bytes, at).map(u32::from);
                at += 2;
                id
            } else {
                let id = bmff::u32_at(bytes, at);
                at += 4;
                id
            }
            .ok_or_else(cut)?;
            let n = bmff::u8_at(bytes, at).ok_or_else(cut)?;
            at += 1;
            for _ in 0..n {
                let index = if flags & 1 == 1 {
                    let x = bmff::u16_at(bytes, at).ok_or_else(cut)? & 0x7fff;
                    at += 2;
                    usize::from(x)
                } else {
                    let x = bmff::u8_at(bytes, at).ok_or_else(cut)? & 0x7f;
                    at += 1;
                    usize::from(x)
                };
                if id == item && index > 0 {
                    out.push(*all.get(index - 1).ok_or_else(|| damaged("a property index is out of range"))?);
                }
            }
            if at > ipma.end {
                return Err(cut());
            }
        }
    }
    Ok(out)
}

enum ItemKind {
    Exif,
    Xmp,
    Other,
}

fn item_types(bytes: &[u8], iinf: Option<BoxAt>) -> Result<Vec<(u32, ItemKind)>, MediaError> {
    let Some(iinf) = iinf else { return Ok(Vec::new()) };
    let skip = if version(bytes, iinf) == 0 { 6 } else { 8 };
    let mut out = Vec::new();
    for infe in bmff::children(bytes, iinf.body + skip, iinf.end).map_err(damaged)? {
        if &infe.kind != b"infe" || version(bytes, infe) < 2 {
            continue;
        }
        let (id, after) = if version(bytes, infe) == 2 {
            (bmff::u16_at(bytes, infe.body + 4).map(u32::from), infe.body + 6)
        } else {
            (bmff::u32_at(bytes, infe.body + 4), infe.body + 8)
        };
        let id = id.ok_or_else(|| damaged("infe is cut off"))?;
        let kind = bytes.get(after + 2..after + 6).ok_or_else(|| damaged("infe is cut off"))?;
        let rest = bytes.get(after + 6..infe.end).unwrap_or_default();
        let kind = match kind {
            b"Exif" => ItemKind::Exif,
            b"mime" => {
                // item_name\0 content_type\0 …
                let mut strings = rest.split(|&b| b == 0);
                let _name = strings.next();
                let content_type = strings.next().unwrap_or_default();
                if content_type.eq_ignore_ascii_case(b"application/rdf+xml") { ItemKind::Xmp } else { ItemKind::Other }
            }
            _ => ItemKind::Other,
        };
        out.push((id, kind));
    }
    Ok(out)
}

/// Where one item's bytes lie in the file.
type Extents = Vec<Range<usize>>;

/// Each item's bytes as ranges of the file (`iloc` construction methods 0,
/// the file, and 1, the `idat` box).
fn locations(bytes: &[u8], iloc: Option<BoxAt>, idat: Option<BoxAt>) -> Result<Vec<(u32, Extents)>, MediaError> {
    let Some(iloc) = iloc else { return Ok(Vec::new()) };
    let cut = || damaged("iloc is cut off");
    let v = version(bytes, iloc);
    let sizes = bmff::u16_at(bytes, iloc.body + 4).ok_or_else(cut)?;
    let (offset_size, length_size) = (usize::from(sizes >> 12), usize::from((sizes >> 8) & 0xf));
    let (base_size, index_size) = (usize::from((sizes >> 4) & 0xf), usize::from(sizes & 0xf));
    let mut at = iloc.body + 6;
    let count = if v < 2 {
        at += 2;
        bmff::u16_at(bytes, at - 2).map(u32::from)
    } else {
        at += 4;
        bmff::u32_at(bytes, at - 4)
    }
    .ok_or_else(cut)?;
    let mut out = Vec::new();
    for _ in 0..count {
        let id = if v < 2 {
            at += 2;
            bmff::u16_at(bytes, at - 2).map(u32::from)
        } else {
            at += 4;
            bmff::u32_at(bytes, at - 4)
        }
        .ok_or_else(cut)?;
        let method = if v >= 1 {
            at += 2;
            bmff::u16_at(bytes, at - 2).ok_or_else(cut)? & 0xf
        } else {
            0
        };
        at += 2; // data_reference_index
        let base = bmff::uint_at(bytes, at, base_size).ok_or_else(cut)?;
        at += base_size;
        let extents = bmff::u16_at(bytes, at).ok_or_else(cut)?;
        at += 2;
        let mut ranges = Vec::new();
        for _ in 0..extents {
            if v >= 1 && index_size > 0 {
                at += index_size;
            }
            let offset = bmff::uint_at(bytes, at, offset_size).ok_or_else(cut)?;
            at += offset_size;
            let length = bmff::uint_at(bytes, at, length_size).ok_or_else(cut)?;
            at += length_size;
            let origin = match (method, idat) {
                (0, _) => 0u64,
                (1, Some(idat)) => idat.body as u64,
                _ => continue, // items made from other items carry no bytes of their own
            };
            let start = origin.checked_add(base).and_then(|s| s.checked_add(offset)).ok_or_else(cut)?;
            let end = if length == 0 { bytes.len() as u64 } else { start.checked_add(length).ok_or_else(cut)? };
            let (Ok(start), Ok(end)) = (usize::try_from(start), usize::try_from(end)) else { return Err(cut()) };
            if start > end || end > bytes.len() {
                return Err(damaged("an item lies outside the file"));
            }
            ranges.push(start..end);
        }
        if at > iloc.end {
            return Err(cut());
        }
        out.push((id, ranges));
    }
    Ok(out)
}

/// A 2×2 picture whose corners show where each ends up after turns and
/// flips; compared with what each EXIF orientation does to the same
/// picture, it names the orientation (1 to 8) the turns amount to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Grid([[u8; 2]; 2]);

impl Default for Grid {
    fn default() -> Grid {
        Grid([[0, 1], [2, 3]])
    }
}

impl Grid {
    fn turn_left(self) -> Grid {
        let [[a, b], [c, d]] = self.0;
        Grid([[b, d], [a, c]])
    }
    fn turn_right(self) -> Grid {
        let [[a, b], [c, d]] = self.0;
        Grid([[c, a], [d, b]])
    }
    fn flip_left_right(self) -> Grid {
        let [[a, b], [c, d]] = self.0;
        Grid([[b, a], [d, c]])
    }
    fn flip_top_bottom(self) -> Grid {
        let [[a, b], [c, d]] = self.0;
        Grid([[c, d], [a, b]])
    }
    /// The EXIF orientation that shows a stored picture the same way.
    fn exif_orientation(self) -> u8 {
        let g = Grid::default();
        let each = [
            g,
            g.flip_left_right(),
            g.turn_right().turn_right(),
            g.flip_top_bottom(),
            g.turn_right().flip_left_right(),
            g.turn_right(),
            g.turn_right().flip_top_bottom(),
            g.turn_left(),
        ];
        each.iter().position(|&e| e == self).map_or(1, |i| i as u8 + 1)
    }
}

/// Size, orientation (as the EXIF number its `irot`/`imir` amount to) and
/// when it was taken, from the container alone.
pub fn probe(bytes: &[u8], format: &'static str, limits: &MediaLimits) -> Result<Probe, MediaError> {
    let l = layout(bytes)?;
    super::check_pixels(l.width, l.height, limits)?;
    let meta = tags::read(bytes);
    Ok(Probe {
        format,
        width: l.width,
        height: l.height,
        orientation: l.orientation,
        taken_at: meta.taken_at,
        content_id: meta.content_id,
    })
}

/// A copy whose EXIF and XMP items are blanked in place: the EXIF item
/// becomes an empty TIFF block and the XMP item an empty XMP packet, each
/// padded to its old length, so the file stays valid and its pixels are
/// the same bytes.
pub fn strip(bytes: &[u8]) -> Result<Vec<u8>, MediaError> {
    let l = layout(bytes)?;
    let mut out = bytes.to_vec();
    for ranges in &l.exif {
        // exif_tiff_header_offset 0, then a big-endian TIFF with an empty IFD.
        let mut blank = vec![0u8; 4];
        blank.extend_from_slice(b"MM\0\x2a\0\0\0\x08\0\0\0\0\0\0");
        write_over(&mut out, ranges, &blank, 0);
    }
    for ranges in &l.xmp {
        let total: usize = ranges.iter().map(ExactSizeIterator::len).sum();
        let packet = br#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"/>"#;
        let end = br#"<?xpacket end="w"?>"#;
        let blank = if total >= packet.len() + end.len() {
            let mut b = packet.to_vec();
            b.resize(total - end.len(), b' ');
            b.extend_from_slice(end);
            b
        } else {
            Vec::new()
        };
        write_over(&mut out, ranges, &blank, b' ');
    }
    Ok(out)
}

/// Writes `data` across an item's extents, then `fill` to their end.
fn write_over(out: &mut [u8], ranges: &[Range<usize>], data: &[u8], fill: u8) {
    let mut source = data.iter().copied().chain(std::iter::repeat(fill));
    for range in ranges {
        if let Some(slice) = out.get_mut(range.clone()) {
            for byte in slice {
                *byte = source.next().unwrap_or(fill);
            }
        }
    }
}

/// The primary picture decoded by libheif in the media jail, upright, as a
/// JPEG (quality 92) for porch's own thumbnailer.
pub fn decode_to_jpeg(bytes: &[u8], limits: &MediaLimits) -> Result<Vec<u8>, MediaError> {
    let job = jail::Job {
        what: "reading the HEIF picture",
        program: &limits.heif_decoder,
        args: ["--quiet", "-q", "92", "/dev/stdin", "upright.jpg"].map(OsString::from).to_vec(),
        input: jail::input_file(bytes)?,
        output: Some("upright.jpg"),
    };
    jail::run(job, limits)?.output.ok_or_else(|| damaged("the decoder wrote no picture"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_and_flips_name_their_exif_orientation() {
        let g = Grid::default();
        assert_eq!(g.exif_orientation(), 1);
        // irot counts quarter turns to the left (anticlockwise).
        assert_eq!(g.turn_left().exif_orientation(), 8);
        assert_eq!(g.turn_left().turn_left().exif_orientation(), 3);
        assert_eq!(g.turn_left().turn_left().turn_left().exif_orientation(), 6);
        assert_eq!(g.flip_left_right().exif_orientation(), 2);
        assert_eq!(g.flip_top_bottom().exif_orientation(), 4);
        assert_eq!(g.turn_left().flip_left_right().exif_orientation(), 7);
        assert_eq!(g.turn_left().flip_top_bottom().exif_orientation(), 5);
    }

    #[test]
    fn not_heif_and_damaged_heif_are_told_apart() {
        assert_eq!(flavour(b"\xff\xd8\xff\xe0 not a box"), None);
        let mut ftyp = Vec::new();
        ftyp.extend_from_slice(&24u32.to_be_bytes());
        ftyp.extend_from_slice(b"ftypmif1\0\0\0\0mif1heic");
        assert_eq!(flavour(&ftyp), Some("heic"));
        ftyp[20..24].copy_from_slice(b"avif");
        assert_eq!(flavour(&ftyp), Some("avif"));
        // No meta box: a clear error, not a panic.
        assert!(matches!(probe(&ftyp, "avif", &MediaLimits::default()), Err(MediaError::Invalid(_))));
        assert!(matches!(strip(&ftyp), Err(MediaError::Invalid(_))));
    }
}
