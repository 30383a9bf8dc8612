//! Removing identifying metadata from a picture without re-encoding its
//! pixels: what others get as "the original" (GPS, camera serial numbers,
//! names, comments, embedded previews and trailers).
//!
//! - **JPEG** is walked marker by marker across the *whole* file, scans
//!   included: APPn and COM segments are dropped wherever they stand (also
//!   between the scans of a progressive JPEG), except JFIF, ICC profiles and
//!   Adobe colour transforms; everything after the primary image's EOI
//!   (MPF secondary images with their own EXIF, motion-photo videos) goes.
//!   An EXIF orientation survives as a minimal EXIF block (review finding
//!   L5: a parser that stops at the first scan kept all of that).
//! - **PNG** loses eXIf, text chunks (which carry XMP) and tIME.
//! - **WebP** loses EXIF and XMP.
//! - **HEIC/AVIF** have their EXIF and XMP items blanked in place
//!   (`heif.rs`): same length, same pixels, still a valid file.
//! - **GIF** loses comments and every application extension but the
//!   looping ones (NETSCAPE2.0, ANIMEXTS1.0); XMP lives in one.

use bytes::Bytes;
use image::ImageFormat;

use super::{MediaError, MediaLimits, format_of, tags};

/// JPEG markers kept when stripping: everything structural, JFIF (APP0),
/// ICC colour profiles (APP2) and Adobe colour transforms (APP14).
fn keep_jpeg_segment(marker: u8, contents: &[u8]) -> bool {
    match marker {
        0xE0 => contents.starts_with(b"JFIF\0") || contents.starts_with(b"JFXX\0"),
        0xE2 => contents.starts_with(b"ICC_PROFILE\0"),
        0xEE => contents.starts_with(b"Adobe"),
        0xE1 | 0xE3..=0xED | 0xEF | 0xFE => false,
        _ => true,
    }
}

/// Removes identifying metadata without re-encoding the pixels. The EXIF
/// orientation survives (as a minimal EXIF block) so the photo stays upright.
pub fn strip_metadata(bytes: &[u8], limits: &MediaLimits) -> Result<Vec<u8>, MediaError> {
    if super::heif_flavour(bytes, limits)?.is_some() {
        return super::heif::strip(bytes);
    }
    let format = format_of(bytes, limits)?;
    let damaged = |e: img_parts::Error| MediaError::Invalid(format!("the image is damaged ({e})"));
    match format {
        ImageFormat::Jpeg => strip_jpeg(bytes, tags::read(bytes).orientation),
        ImageFormat::Png => {
            let mut png = img_parts::png::Png::from_bytes(Bytes::copy_from_slice(bytes)).map_err(damaged)?;
            for kind in [*b"eXIf", *b"tEXt", *b"zTXt", *b"iTXt", *b"tIME"] {
                png.remove_chunks_by_type(kind);
            }
            Ok(png.encoder().bytes().to_vec())
        }
        ImageFormat::WebP => {
            use img_parts::ImageEXIF;
            let mut webp = img_parts::webp::WebP::from_bytes(Bytes::copy_from_slice(bytes)).map_err(damaged)?;
            webp.set_exif(None);
            webp.remove_chunks_by_id(*b"XMP ");
            Ok(webp.encoder().bytes().to_vec())
        }
        ImageFormat::Gif => strip_gif(bytes),
        _ => Err(MediaError::Unsupported("porch cannot clean the metadata of this kind of picture".into())),
    }
}

fn damaged(what: &str) -> MediaError {
    MediaError::Invalid(format!("the image is damaged ({what})"))
}

/// The JPEG walk described in the module doc.
fn strip_jpeg(bytes: &[u8], orientation: u8) -> Result<Vec<u8>, MediaError> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Err(damaged("no JPEG start marker"));
    }
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&[0xFF, 0xD8]);
    let mut orientation_written = orientation == 1;
    let mut i = 2;
    loop {
        // Markers may be preceded by fill bytes (0xFF).
        if bytes.get(i) != Some(&0xFF) {
            return Err(damaged("a segment does not start with a marker"));
        }
        while bytes.get(i) == Some(&0xFF) {
            i += 1;
        }
        let Some(&marker) = bytes.get(i) else { break };
        i += 1;
        match marker {
            0xD9 => break,
            0xD0..=0xD7 | 0x01 => {
                out.extend_from_slice(&[0xFF, marker]);
                continue;
            }
            _ => {}
        }
        let len = match bytes.get(i..i + 2) {
            Some(l) => usize::from(u16::from_be_bytes([l[0], l[1]])),
            None => return Err(damaged("a segment is cut off")),
        };
        let Some(contents) = bytes.get(i + 2..i + len).filter(|_| len >= 2) else {
            return Err(damaged("a segment is longer than the file"));
        };
        let segment = &bytes[i - 2..i + len];
        i += len;
        if !orientation_written && marker != 0xE0 {
            let exif = tags::minimal_orientation_exif(orientation);
            let exif_len = u16::try_from(exif.len() + 2).map_err(|_| damaged("orientation block"))?;
            out.extend_from_slice(&[0xFF, 0xE1]);
            out.extend_from_slice(&exif_len.to_be_bytes());
            out.extend_from_slice(&exif);
            orientation_written = true;
        }
        if keep_jpeg_segment(marker, contents) {
            out.extend_from_slice(segment);
        }
        if marker == 0xDA {
            // Entropy-coded data runs to the next marker that is neither a
            // stuffed 0xFF00 nor a restart marker.
            let start = i;
            while i + 1 < bytes.len()
                && !(bytes[i] == 0xFF && bytes[i + 1] != 0 && !(0xD0..=0xD7).contains(&bytes[i + 1]))
            {
                i += 1;
            }
            if i + 1 >= bytes.len() {
                i = bytes.len();
            }
            out.extend_from_slice(&bytes[start..i]);
            if i >= bytes.len() {
                break;
            }
        }
    }
    // Nothing after the primary image's end: no trailer survives.
    out.extend_from_slice(&[0xFF, 0xD9]);
    Ok(out)
}

/// The GIF walk described in the module doc.
fn strip_gif(bytes: &[u8]) -> Result<Vec<u8>, MediaError> {
    let header = bytes.get(..13).ok_or_else(|| damaged("the GIF header is cut off"))?;
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(header);
    let mut i = 13;
    let table = |flags: u8| if flags & 0x80 != 0 { 3usize << ((flags & 0x07) + 1) } else { 0 };
    let global = table(header[10]);
    out.extend_from_slice(bytes.get(i..i + global).ok_or_else(|| damaged("the colour table is cut off"))?);
    i += global;
    // The end of the sub-blocks starting at `at`.
    let sub_blocks_end = |mut at: usize| -> Result<usize, MediaError> {
        loop {
            let size = usize::from(*bytes.get(at).ok_or_else(|| damaged("a block is cut off"))?);
            at += 1 + size;
            if size == 0 {
                return Ok(at);
            }
            if at > bytes.len() {
                return Err(damaged("a block is longer than the file"));
            }
        }
    };
    loop {
        match bytes.get(i) {
            Some(0x3B) | None => break,
            Some(0x2C) => {
                let descriptor = bytes.get(i..i + 10).ok_or_else(|| damaged("an image is cut off"))?;
                let local = table(descriptor[9]);
                // Descriptor, local colour table, LZW code size, sub-blocks.
                let end = sub_blocks_end(i + 10 + local + 1)?;
                out.extend_from_slice(&bytes[i..end]);
                i = end;
            }
            Some(0x21) => {
                let label = *bytes.get(i + 1).ok_or_else(|| damaged("an extension is cut off"))?;
                let end = sub_blocks_end(i + 2)?;
                let keep = match label {
                    0xFE => false,
                    0xFF => {
                        let id = bytes.get(i + 3..i + 14).unwrap_or_default();
                        id == b"NETSCAPE2.0" || id == b"ANIMEXTS1.0"
                    }
                    _ => true,
                };
                if keep {
                    out.extend_from_slice(&bytes[i..end]);
                }
                i = end;
            }
            Some(_) => return Err(damaged("an unknown GIF block")),
        }
    }
    out.push(0x3B);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(width: u32, height: u32, progressive: bool) -> Vec<u8> {
        let img = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
        if progressive {
            let mut out = Vec::new();
            let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
            encoder.set_progressive(true);
            encoder.encode(img.as_raw(), width as u16, height as u16, jpeg_encoder::ColorType::Rgb).expect("encode");
            return out;
        }
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(&img).expect("encode");
        out
    }

    /// An APP1 segment that reads as EXIF with a GPS marker text.
    fn app1(text: &[u8]) -> Vec<u8> {
        let mut contents = b"Exif\0\0".to_vec();
        contents.extend_from_slice(text);
        let mut seg = vec![0xFF, 0xE1];
        seg.extend_from_slice(&u16::try_from(contents.len() + 2).expect("len").to_be_bytes());
        seg.extend_from_slice(&contents);
        seg
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn l5_everything_after_the_first_scan_is_walked_and_trailers_go() {
        let plain = jpeg(64, 48, true);
        let scans = plain.windows(2).filter(|w| w == &[0xFF, 0xDA]).count();
        assert!(scans > 1, "a progressive JPEG has several scans");
        // An APP1 between two scans, an MPF second image with its own EXIF
        // after the end, and a motion-photo trailer.
        let second_scan = plain.windows(2).enumerate().filter(|(_, w)| w == &[0xFF, 0xDA]).nth(1).map(|(i, _)| i);
        let at = second_scan.expect("second scan");
        let mut hostile = plain[..at].to_vec();
        hostile.extend_from_slice(&app1(b"GPS-BETWEEN-SCANS"));
        hostile.extend_from_slice(&plain[at..]);
        let mut second = jpeg(16, 16, false);
        second.splice(2..2, app1(b"GPS-IN-SECOND-IMAGE"));
        hostile.extend_from_slice(&second);
        hostile.extend_from_slice(b"ftypmp42....MotionPhoto_Data GPS-IN-VIDEO");
        let out = strip_metadata(&hostile, &MediaLimits::default()).expect("strip");
        for leak in [&b"GPS-BETWEEN-SCANS"[..], b"GPS-IN-SECOND-IMAGE", b"GPS-IN-VIDEO", b"MotionPhoto"] {
            assert!(!contains(&out, leak), "{} survived", String::from_utf8_lossy(leak));
        }
        assert!(out.ends_with(&[0xFF, 0xD9]));
        // The pixels are untouched: it decodes to the very same image.
        let a = image::load_from_memory(&plain).expect("decode plain").to_rgb8();
        let b = image::load_from_memory(&out).expect("decode stripped").to_rgb8();
        assert_eq!(a.as_raw(), b.as_raw());
    }

    #[test]
    fn l5_gif_comments_and_xmp_go_and_animation_stays() {
        let frame = image::Frame::new(image::RgbaImage::from_pixel(8, 8, image::Rgba([200, 10, 10, 255])));
        let mut gif = Vec::new();
        {
            let mut encoder = image::codecs::gif::GifEncoder::new(&mut gif);
            encoder.set_repeat(image::codecs::gif::Repeat::Infinite).expect("repeat");
            encoder.encode_frames([frame.clone(), frame]).expect("encode");
        }
        let trailer = gif.pop();
        assert_eq!(trailer, Some(0x3B));
        gif.extend_from_slice(&[0x21, 0xFE, 9]);
        gif.extend_from_slice(b"GPS 52.1N");
        gif.push(0);
        gif.extend_from_slice(&[0x21, 0xFF, 11]);
        gif.extend_from_slice(b"XMP DataXMP");
        gif.extend_from_slice(&[12]);
        gif.extend_from_slice(b"<x:xmpmeta/>");
        gif.push(0);
        gif.push(0x3B);
        gif.extend_from_slice(b"trailing GPS");
        let out = strip_metadata(&gif, &MediaLimits::default()).expect("strip");
        for leak in [&b"GPS 52.1N"[..], b"xmpmeta", b"trailing"] {
            assert!(!contains(&out, leak), "{} survived", String::from_utf8_lossy(leak));
        }
        assert!(contains(&out, b"NETSCAPE2.0"), "looping stays");
        let frames = image::codecs::gif::GifDecoder::new(std::io::Cursor::new(&out)).expect("decode");
        use image::AnimationDecoder as _;
        assert_eq!(frames.into_frames().count(), 2, "both frames are still there");
    }

    #[test]
    fn l5_png_text_chunks_go() {
        let img = image::RgbImage::from_pixel(4, 4, image::Rgb([1, 2, 3]));
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png).expect("png");
        let mut chunk = Vec::new();
        let data = b"XML:com.adobe.xmp\0\0\0\0\0<gps/>";
        chunk.extend_from_slice(&u32::try_from(data.len()).expect("len").to_be_bytes());
        chunk.extend_from_slice(b"iTXt");
        chunk.extend_from_slice(data);
        chunk.extend_from_slice(&crc32(&chunk[4..]).to_be_bytes());
        png.splice(33..33, chunk);
        assert!(contains(&png, b"<gps/>"));
        let out = strip_metadata(&png, &MediaLimits::default()).expect("strip");
        assert!(!contains(&out, b"<gps/>"));
        assert_eq!(image::load_from_memory(&out).expect("decode").to_rgb8(), img);
    }

    /// PNG's CRC-32 (ISO 3309), bit by bit.
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &byte in data {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
}
