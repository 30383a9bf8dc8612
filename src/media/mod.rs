//! The media layer: image work on untrusted bytes with hard limits (input
//! size, pixels, memory). Probing reads what an image is; thumbnails are
//! decoded, turned upright by their EXIF orientation, resized and encoded
//! fresh, so they carry no metadata at all; stripping removes identifying
//! metadata (EXIF with GPS and camera serials, XMP, IPTC, comments) without
//! touching the pixels, keeping only the orientation so the photo still
//! shows upright.
//!
//! HEIC and AVIF pictures are read and cleaned here (`heif.rs`) but decoded
//! by libheif, and videos are cleaned here (`movie.rs`) but probed and
//! framed by ffmpeg: those C decoders run only in the media jail
//! (`jail.rs`), a limited child process with no network.
//!
//! Everything here is synchronous and CPU-bound: callers run it on the
//! blocking pool under their own time limit.

mod bmff;
mod heif;
pub mod jail;
mod motion;
mod movie;
mod shrink;
mod strip;
mod tags;

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

pub use crate::config::MediaLimits;
pub use motion::motion_video;
pub use movie::{Patch, VideoInfo};
pub use strip::strip_metadata;
pub use tags::minimal_orientation_exif;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Invalid(String),
    /// A decoder this file needs is not installed or could not start.
    #[error("{0}")]
    Unavailable(String),
}

/// What an image is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub format: &'static str,
    pub width: u32,
    pub height: u32,
    /// EXIF orientation 1..=8 (1 when absent).
    pub orientation: u8,
    /// When it was taken (EXIF DateTimeOriginal, read as UTC), Unix seconds.
    pub taken_at: Option<i64>,
    /// Apple's Live Photo identifier, shared with the video it belongs to.
    pub content_id: Option<String>,
}

/// Thumbnail encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThumbFormat {
    Jpeg,
    WebP,
}

impl ThumbFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            ThumbFormat::Jpeg => "image/jpeg",
            ThumbFormat::WebP => "image/webp",
        }
    }
}

/// Longest edge a thumbnail may ask for.
pub const MAX_EDGE: u32 = 4096;

fn check_input(bytes: &[u8], limits: &MediaLimits) -> Result<(), MediaError> {
    if bytes.len() as u64 > limits.max_input {
        return Err(MediaError::TooLarge(format!(
            "the file has {} bytes; at most {} are accepted",
            bytes.len(),
            limits.max_input
        )));
    }
    Ok(())
}

fn format_of(bytes: &[u8], limits: &MediaLimits) -> Result<ImageFormat, MediaError> {
    check_input(bytes, limits)?;
    match image::guess_format(bytes) {
        Ok(f @ (ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Gif | ImageFormat::WebP)) => Ok(f),
        Ok(other) => Err(MediaError::Unsupported(format!(
            "{other:?} images are not supported; use JPEG, PNG, WebP, GIF, HEIC or AVIF"
        ))),
        Err(_) => Err(MediaError::Invalid(
            "this file is not an image porch can read (JPEG, PNG, WebP, GIF, HEIC or AVIF)".into(),
        )),
    }
}

/// `heic`, `avif` or `heif` when `bytes` is a HEIF picture (checked for
/// size first).
fn heif_flavour(bytes: &[u8], limits: &MediaLimits) -> Result<Option<&'static str>, MediaError> {
    check_input(bytes, limits)?;
    Ok(heif::flavour(bytes))
}

fn format_name(f: ImageFormat) -> &'static str {
    match f {
        ImageFormat::Jpeg => "jpeg",
        ImageFormat::Png => "png",
        ImageFormat::Gif => "gif",
        ImageFormat::WebP => "webp",
        _ => "other",
    }
}

fn reader<'a>(bytes: &'a [u8], format: ImageFormat, limits: &MediaLimits) -> ImageReader<Cursor<&'a [u8]>> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut l = image::Limits::default();
    l.max_alloc = Some(limits.max_memory);
    reader.limits(l);
    reader
}

fn check_pixels(width: u32, height: u32, limits: &MediaLimits) -> Result<(), MediaError> {
    let pixels = u64::from(width) * u64::from(height);
    if width == 0 || height == 0 {
        return Err(MediaError::Invalid("the image has no pixels".into()));
    }
    if pixels > limits.max_pixels {
        return Err(MediaError::TooLarge(format!(
            "the image is {width}×{height} ({pixels} pixels); at most {} pixels are accepted",
            limits.max_pixels
        )));
    }
    Ok(())
}

fn decode_error(e: image::ImageError) -> MediaError {
    match e {
        image::ImageError::Limits(l) => MediaError::TooLarge(format!("decoding would need too much memory ({l})")),
        image::ImageError::Unsupported(u) => {
            MediaError::Unsupported(format!("this image uses a feature porch cannot read ({u})"))
        }
        other => MediaError::Invalid(format!("the image is damaged or incomplete ({other})")),
    }
}

/// Reads format, size, orientation and date without decoding the pixels.
pub fn probe(bytes: &[u8], limits: &MediaLimits) -> Result<Probe, MediaError> {
    if let Some(flavour) = heif_flavour(bytes, limits)? {
        return heif::probe(bytes, flavour, limits);
    }
    let format = format_of(bytes, limits)?;
    let (width, height) = reader(bytes, format, limits).into_dimensions().map_err(decode_error)?;
    check_pixels(width, height, limits)?;
    let meta = tags::read(bytes);
    Ok(Probe {
        format: format_name(format),
        width,
        height,
        orientation: meta.orientation,
        taken_at: meta.taken_at,
        content_id: meta.content_id,
    })
}

/// Decodes the whole image, upright. Truncated or corrupt data is an error.
pub fn decode_upright(bytes: &[u8], limits: &MediaLimits) -> Result<DynamicImage, MediaError> {
    decode_upright_near(bytes, None, limits)
}

/// Like [`decode_upright`], but with `target` (a thumbnail's long edge) a
/// big JPEG may come out smaller: at the DCT scale nearest above `target`.
fn decode_upright_near(bytes: &[u8], target: Option<u32>, limits: &MediaLimits) -> Result<DynamicImage, MediaError> {
    if let Some(flavour) = heif_flavour(bytes, limits)? {
        // Size first, from the container: a picture over the limits never
        // reaches the decoder.
        heif::probe(bytes, flavour, limits)?;
        let upright = heif::decode_to_jpeg(bytes, limits)?;
        return decode_jpeg(&upright, target, limits, Turn::AsStored);
    }
    let format = format_of(bytes, limits)?;
    if format == ImageFormat::Jpeg {
        return decode_jpeg(bytes, target, limits, Turn::ByExif);
    }
    let mut decoder = reader(bytes, format, limits).into_decoder().map_err(decode_error)?;
    let (width, height) = decoder.dimensions();
    check_pixels(width, height, limits)?;
    // The decoded image plus one working copy (turning, resizing) must fit;
    // not every decoder enforces its allocation limit itself.
    check_memory(width, height, decoder.total_bytes().saturating_mul(2), limits)?;
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    img.apply_orientation(orientation);
    Ok(img)
}

fn check_memory(width: u32, height: u32, need: u64, limits: &MediaLimits) -> Result<(), MediaError> {
    if need > limits.max_memory {
        return Err(MediaError::TooLarge(format!(
            "decoding this {width}×{height} image needs about {need} bytes; at most {} are allowed",
            limits.max_memory
        )));
    }
    Ok(())
}

/// Whether a JPEG has its end-of-image marker after the scan data (some
/// cameras append trailers after it, which is fine).
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let Some(scan) = bytes.windows(2).position(|w| w == [0xFF, 0xDA]) else { return false };
    bytes[scan..].windows(2).any(|w| w == [0xFF, 0xD9])
}

/// Whether a decoded JPEG is turned by its EXIF orientation, or is upright
/// already (libheif's output).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Turn {
    ByExif,
    AsStored,
}

/// Decodes a JPEG with zune-jpeg in strict mode: damaged entropy data or a
/// cut-off file is an error, where lenient decoders quietly fill in grey.
/// With a `target` edge, a JPEG at least twice that size is decoded at a
/// smaller DCT scale instead (`shrink.rs`), after the same checks.
fn decode_jpeg(
    bytes: &[u8],
    target: Option<u32>,
    limits: &MediaLimits,
    turn: Turn,
) -> Result<DynamicImage, MediaError> {
    use zune_core::bytestream::ZCursor;
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;

    if !jpeg_is_complete(bytes) {
        return Err(MediaError::Invalid(
            "the JPEG is incomplete (it ends before its end-of-image marker); upload it again".into(),
        ));
    }
    let damaged = |e: zune_jpeg::errors::DecodeErrors| MediaError::Invalid(format!("the JPEG is damaged ({e})"));
    let options = DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(usize::MAX)
        .set_max_height(usize::MAX)
        .jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder.decode_headers().map_err(damaged)?;
    let (w, h) = decoder.dimensions().ok_or_else(|| MediaError::Invalid("the JPEG has no size".into()))?;
    let (width, height) = (u32::try_from(w).unwrap_or(u32::MAX), u32::try_from(h).unwrap_or(u32::MAX));
    check_pixels(width, height, limits)?;
    let scaled = match target {
        Some(edge) if shrink::applies(&decoder, width, height, edge) => {
            shrink::decode_scaled(bytes, width, height, edge, limits)?
        }
        _ => None,
    };
    let (out_w, out_h, channels, pixels) = match scaled {
        Some(decoded) => decoded,
        None => {
            let channels = decoder.output_colorspace().map_or(3, |c| c.num_components()) as u64;
            check_memory(width, height, u64::from(width) * u64::from(height) * channels * 2, limits)?;
            (width, height, channels, decoder.decode().map_err(damaged)?)
        }
    };
    let mut img = match channels {
        1 => image::GrayImage::from_raw(out_w, out_h, pixels).map(DynamicImage::ImageLuma8),
        _ => image::RgbImage::from_raw(out_w, out_h, pixels).map(DynamicImage::ImageRgb8),
    }
    .ok_or_else(|| MediaError::Invalid("the JPEG decoded to the wrong number of pixels".into()))?;
    let orientation = if turn == Turn::ByExif { tags::read(bytes).orientation } else { 1 };
    if let Some(o) = image::metadata::Orientation::from_exif(orientation) {
        img.apply_orientation(o);
    }
    Ok(img)
}

/// An upright thumbnail whose long edge is at most `max_edge` (never
/// enlarged), encoded fresh: it carries no metadata at all. Big JPEGs shrink
/// on load (`shrink.rs`).
pub fn thumbnail(
    bytes: &[u8],
    max_edge: u32,
    format: ThumbFormat,
    limits: &MediaLimits,
) -> Result<Vec<u8>, MediaError> {
    let mut made = thumbnails(bytes, &[(max_edge, format)], limits)?;
    made.pop().ok_or_else(|| MediaError::Invalid("no thumbnail was made".into()))
}

/// Most thumbnails one [`thumbnails`] call makes.
pub const MAX_THUMBNAILS: usize = 8;

/// Several thumbnails of one image, in the order asked, from a single
/// decode: at the DCT scale the largest edge needs, each size then resized
/// from that. Reading the compressed data is most of the work for a big
/// JPEG, so an album's grid and view sizes together cost about what the
/// larger alone does.
pub fn thumbnails(
    bytes: &[u8],
    sizes: &[(u32, ThumbFormat)],
    limits: &MediaLimits,
) -> Result<Vec<Vec<u8>>, MediaError> {
    check_sizes(sizes)?;
    let largest = sizes.iter().map(|&(edge, _)| edge).max().unwrap_or(MAX_EDGE);
    let decoded = decode_upright_near(bytes, Some(largest), limits)?;
    sizes
        .iter()
        .map(|&(edge, format)| encode(&*shrink::resize_to_fit(&decoded, edge)?, format, THUMB_QUALITY))
        .collect()
}

/// Whether [`thumbnails`] would take these sizes: 1 to [`MAX_THUMBNAILS`]
/// of them, each edge from 16 to [`MAX_EDGE`]. Callers may check before
/// they fetch the image.
pub fn check_sizes(sizes: &[(u32, ThumbFormat)]) -> Result<(), MediaError> {
    if sizes.is_empty() || sizes.len() > MAX_THUMBNAILS {
        return Err(MediaError::Invalid(format!(
            "ask for 1 to {MAX_THUMBNAILS} thumbnails at once, not {}",
            sizes.len()
        )));
    }
    if let Some((edge, _)) = sizes.iter().find(|(edge, _)| !(16..=MAX_EDGE).contains(edge)) {
        return Err(MediaError::Invalid(format!("a thumbnail edge must be from 16 to {MAX_EDGE} pixels, not {edge}")));
    }
    Ok(())
}

/// A full-size JPEG of a picture, upright, encoded fresh with no metadata.
pub fn jpeg_copy(bytes: &[u8], limits: &MediaLimits) -> Result<Vec<u8>, MediaError> {
    let decoded = decode_upright(bytes, limits)?;
    if decoded.width() > u32::from(u16::MAX) || decoded.height() > u32::from(u16::MAX) {
        return Err(MediaError::TooLarge("the picture is too large for a JPEG copy".into()));
    }
    encode(&decoded, ThumbFormat::Jpeg, COPY_QUALITY)
}

/// JPEG quality of thumbnails (small, looked at on screens) and of full
/// copies (kept, printed).
const THUMB_QUALITY: u8 = 82;
const COPY_QUALITY: u8 = 92;

/// Whether `head` (a file's first bytes) is an MP4 or QuickTime video.
pub fn is_movie(head: &[u8]) -> bool {
    movie::is_movie(head)
}

/// What to change in a video so it carries no location or device
/// identifiers (see `movie.rs`); apply with [`apply_patches`].
pub fn clean_video_plan(file: &mut std::fs::File, limits: &MediaLimits) -> Result<Vec<Patch>, MediaError> {
    movie::plan(file, limits)
}

pub use movie::apply as apply_patches;

/// A video's size as shown, length and codecs (ffprobe in the jail).
pub fn probe_video(file: std::fs::File, limits: &MediaLimits) -> Result<VideoInfo, MediaError> {
    check_video_size(&file, limits)?;
    movie::probe(file, limits)
}

/// Thumbnails of a video's poster frame (ffmpeg in the jail).
pub fn video_poster(
    file: std::fs::File,
    sizes: &[(u32, ThumbFormat)],
    limits: &MediaLimits,
) -> Result<Vec<Vec<u8>>, MediaError> {
    check_sizes(sizes)?;
    check_video_size(&file, limits)?;
    let frame = movie::poster(file, limits)?;
    thumbnails(&frame, sizes, limits)
}

/// An H.264/AAC copy of a video that every browser plays, without any
/// metadata (see `movie::h264_copy`); the copy is the returned path, kept as
/// long as the `TempDir` lives.
pub fn h264_copy(
    file: std::fs::File,
    limits: &MediaLimits,
) -> Result<(tempfile::TempDir, std::path::PathBuf), MediaError> {
    check_video_size(&file, limits)?;
    movie::h264_copy(file, limits)
}

fn check_video_size(file: &std::fs::File, limits: &MediaLimits) -> Result<(), MediaError> {
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > limits.max_video {
        return Err(MediaError::TooLarge(format!(
            "the video has {len} bytes; at most {} (media.max_video) are accepted",
            limits.max_video
        )));
    }
    Ok(())
}

/// Encodes a thumbnail fresh, with no metadata.
fn encode(img: &DynamicImage, format: ThumbFormat, quality: u8) -> Result<Vec<u8>, MediaError> {
    let mut out = Vec::new();
    match format {
        ThumbFormat::Jpeg => {
            // jpeg-encoder (AVX2 where the CPU has it); sizes fit u16 as
            // thumbnails are at most MAX_EDGE.
            let rgb;
            let pixels = match img {
                DynamicImage::ImageRgb8(i) => i,
                other => {
                    rgb = other.to_rgb8();
                    &rgb
                }
            };
            let (Ok(w), Ok(h)) = (u16::try_from(pixels.width()), u16::try_from(pixels.height())) else {
                return Err(MediaError::Invalid("the thumbnail is too large to encode".into()));
            };
            jpeg_encoder::Encoder::new(&mut out, quality)
                .encode(pixels.as_raw(), w, h, jpeg_encoder::ColorType::Rgb)
                .map_err(|e| MediaError::Invalid(format!("encoding failed: {e}")))?;
        }
        ThumbFormat::WebP => {
            let rgba = img.to_rgba8();
            let enc = image::codecs::webp::WebPEncoder::new_lossless(&mut out);
            rgba.write_with_encoder(enc).map_err(|e| MediaError::Invalid(format!("encoding failed: {e}")))?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(&img).expect("encode");
        out
    }

    #[test]
    fn probe_and_thumbnail_a_made_image() {
        let bytes = jpeg(1200, 800);
        let p = probe(&bytes, &MediaLimits::default()).expect("probe");
        assert_eq!((p.format, p.width, p.height, p.orientation), ("jpeg", 1200, 800, 1));
        let thumb = thumbnail(&bytes, 400, ThumbFormat::Jpeg, &MediaLimits::default()).expect("thumb");
        let t = probe(&thumb, &MediaLimits::default()).expect("probe thumb");
        assert_eq!((t.width, t.height), (400, 267));
        let small = thumbnail(&bytes, 2048, ThumbFormat::WebP, &MediaLimits::default()).expect("webp");
        assert_eq!(probe(&small, &MediaLimits::default()).expect("p").width, 1200, "never enlarged");
    }

    #[test]
    fn several_thumbnails_from_one_decode_come_in_the_order_asked() {
        let bytes = jpeg(4000, 3000);
        let limits = MediaLimits::default();
        let sizes = [(400, ThumbFormat::Jpeg), (2048, ThumbFormat::Jpeg), (64, ThumbFormat::WebP)];
        let made = thumbnails(&bytes, &sizes, &limits).expect("thumbnails");
        let dims: Vec<(u32, u32)> =
            made.iter().map(|m| probe(m, &limits).map(|p| (p.width, p.height)).expect("probe")).collect();
        assert_eq!(dims, [(400, 300), (2048, 1536), (64, 48)]);
        assert_eq!(&made[2][..4], b"RIFF", "the third is WebP");
        // One size alone decodes at a smaller DCT scale; same size out.
        let one = thumbnail(&bytes, 400, ThumbFormat::Jpeg, &limits).expect("one");
        assert_eq!(probe(&one, &limits).map(|p| (p.width, p.height)).expect("probe"), (400, 300));
        // Refused before any decoding: no sizes, too many, an edge out of range.
        assert!(matches!(thumbnails(&bytes, &[], &limits), Err(MediaError::Invalid(_))));
        let nine = [(400, ThumbFormat::Jpeg); MAX_THUMBNAILS + 1];
        assert!(matches!(thumbnails(&bytes, &nine, &limits), Err(MediaError::Invalid(_))));
        assert!(thumbnails(&bytes, &nine[..MAX_THUMBNAILS], &limits).is_ok());
        let huge = [(400, ThumbFormat::Jpeg), (MAX_EDGE + 1, ThumbFormat::Jpeg)];
        assert!(matches!(thumbnails(&bytes, &huge, &limits), Err(MediaError::Invalid(e)) if e.contains("4097")));
    }

    #[test]
    fn limits_are_enforced_at_their_edges() {
        let bytes = jpeg(100, 100);
        let exact = MediaLimits { max_pixels: 10_000, ..MediaLimits::default() };
        assert!(probe(&bytes, &exact).is_ok());
        let under = MediaLimits { max_pixels: 9_999, ..MediaLimits::default() };
        assert!(matches!(probe(&bytes, &under), Err(MediaError::TooLarge(_))));
        let tiny_input = MediaLimits { max_input: bytes.len() as u64 - 1, ..MediaLimits::default() };
        assert!(matches!(probe(&bytes, &tiny_input), Err(MediaError::TooLarge(_))));
        let tiny_memory = MediaLimits { max_memory: 1000, ..MediaLimits::default() };
        assert!(matches!(thumbnail(&bytes, 64, ThumbFormat::Jpeg, &tiny_memory), Err(MediaError::TooLarge(_))));
    }

    #[test]
    fn garbage_and_truncation_are_clear_errors() {
        assert!(matches!(probe(b"not an image at all", &MediaLimits::default()), Err(MediaError::Invalid(_))));
        let bytes = jpeg(640, 480);
        let cut = &bytes[..bytes.len() / 2];
        assert!(thumbnail(cut, 100, ThumbFormat::Jpeg, &MediaLimits::default()).is_err());
    }

    #[test]
    fn a_decompression_bomb_is_refused_before_decoding() {
        // A PNG header claiming 100000×100000 pixels with almost no data.
        let img = image::GrayImage::new(1, 1);
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), ImageFormat::Png).expect("png");
        // IHDR width/height live at bytes 16..24; the CRC no longer matches,
        // so either the size check or the decoder refuses it.
        png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        assert!(thumbnail(&png, 100, ThumbFormat::Jpeg, &MediaLimits::default()).is_err());
    }
}
