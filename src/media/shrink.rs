//! Fast thumbnails: shrink on load, then one SIMD resize.
//!
//! A JPEG much larger than the thumbnail is decoded at 1/2, 1/4 or 1/8 scale
//! in the DCT domain (jpeg-decoder's scaled IDCT, as libvips does on load),
//! so a 9-megapixel photo bound for 400 px decodes about 1/64 of its pixels.
//! The result is then resized to the exact size with fast_image_resize
//! (Lanczos3 convolution, SIMD where the CPU has it).
//!
//! The same rules as a full decode hold: the file must be complete, its
//! headers pass zune-jpeg's strict check, the pixel and memory limits apply
//! to what is actually decoded, and damaged scan data is an error.

use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::DynamicImage;

use super::{MediaError, MediaLimits, check_pixels, jpeg_is_complete, tags};

/// The thumbnail size of a `width`×`height` image whose long edge becomes
/// `max_edge` (never enlarged).
pub fn fitted(width: u32, height: u32, max_edge: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= max_edge {
        return (width, height);
    }
    let scale = |side: u32| ((u64::from(side) * u64::from(max_edge) + u64::from(long) / 2) / u64::from(long)).max(1);
    (u32::try_from(scale(width)).unwrap_or(1), u32::try_from(scale(height)).unwrap_or(1))
}

/// Decodes a JPEG at the smallest DCT scale whose long edge still reaches
/// `max_edge`, upright. `None` when shrinking on load does not apply (not a
/// plain 8-bit grey or YCbCr JPEG, or not at least twice the target), so the
/// caller decodes in full.
pub fn decode_jpeg_shrunk(
    bytes: &[u8],
    max_edge: u32,
    limits: &MediaLimits,
) -> Result<Option<DynamicImage>, MediaError> {
    use zune_core::bytestream::ZCursor;
    use zune_core::options::DecoderOptions;

    if !jpeg_is_complete(bytes) {
        return Ok(None);
    }
    let options = DecoderOptions::default().set_strict_mode(true).set_max_width(usize::MAX).set_max_height(usize::MAX);
    let mut headers = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    if headers.decode_headers().is_err() {
        return Ok(None);
    }
    let Some((w, h)) = headers.dimensions() else { return Ok(None) };
    let (width, height) = (u32::try_from(w).unwrap_or(u32::MAX), u32::try_from(h).unwrap_or(u32::MAX));
    check_pixels(width, height, limits)?;
    let components = headers.input_colorspace().map_or(0, |c| c.num_components());
    if !matches!(components, 1 | 3) || width.max(height) < max_edge.saturating_mul(2) {
        return Ok(None);
    }
    let (Ok(w16), Ok(h16)) = (u16::try_from(width), u16::try_from(height)) else { return Ok(None) };

    let mut decoder = jpeg_decoder::Decoder::new(std::io::Cursor::new(bytes));
    let damaged = |e: jpeg_decoder::Error| MediaError::Invalid(format!("the JPEG is damaged ({e})"));
    let (want_w, want_h) = fitted(width, height, max_edge);
    let (out_w, out_h) =
        decoder.scale(u16::try_from(want_w).unwrap_or(w16), u16::try_from(want_h).unwrap_or(h16)).map_err(damaged)?;
    let info = decoder.info().ok_or_else(|| MediaError::Invalid("the JPEG has no frame".into()))?;
    let channels: u64 = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => 1,
        jpeg_decoder::PixelFormat::RGB24 => 3,
        _ => return Ok(None),
    };
    let need = u64::from(out_w) * u64::from(out_h) * channels * 2;
    if need > limits.max_memory {
        return Err(MediaError::TooLarge(format!(
            "decoding this {width}×{height} image needs about {need} bytes; at most {} are allowed",
            limits.max_memory
        )));
    }
    let pixels = decoder.decode().map_err(damaged)?;
    let (ow, oh) = (u32::from(out_w), u32::from(out_h));
    let mut img = match channels {
        1 => image::GrayImage::from_raw(ow, oh, pixels).map(DynamicImage::ImageLuma8),
        _ => image::RgbImage::from_raw(ow, oh, pixels).map(DynamicImage::ImageRgb8),
    }
    .ok_or_else(|| MediaError::Invalid("the JPEG decoded to the wrong number of pixels".into()))?;
    if let Some(o) = image::metadata::Orientation::from_exif(tags::read(bytes).orientation) {
        img.apply_orientation(o);
    }
    Ok(Some(img))
}

/// Turns resized pixels back into an image of the kind they came from.
type Rebuild = fn(u32, u32, Vec<u8>) -> Option<DynamicImage>;

/// Resizes to fit `max_edge` (never enlarging) with a Lanczos3 convolution.
/// 8-bit grey, RGB and RGBA are resized as they are; anything else as RGBA.
pub fn resize_to_fit(img: DynamicImage, max_edge: u32) -> Result<DynamicImage, MediaError> {
    let (w, h) = (img.width(), img.height());
    let (tw, th) = fitted(w, h, max_edge);
    if (tw, th) == (w, h) {
        return Ok(img);
    }
    let failed = |e: &dyn std::fmt::Display| MediaError::Invalid(format!("resizing failed: {e}"));
    let (pixel_type, raw, rebuild): (PixelType, Vec<u8>, Rebuild) = match img {
        DynamicImage::ImageLuma8(i) => {
            (PixelType::U8, i.into_raw(), |w, h, v| image::GrayImage::from_raw(w, h, v).map(DynamicImage::ImageLuma8))
        }
        DynamicImage::ImageRgb8(i) => {
            (PixelType::U8x3, i.into_raw(), |w, h, v| image::RgbImage::from_raw(w, h, v).map(DynamicImage::ImageRgb8))
        }
        other => (PixelType::U8x4, other.into_rgba8().into_raw(), |w, h, v| {
            image::RgbaImage::from_raw(w, h, v).map(DynamicImage::ImageRgba8)
        }),
    };
    let src = Image::from_vec_u8(w, h, raw, pixel_type).map_err(|e| failed(&e))?;
    let mut dst = Image::new(tw, th, pixel_type);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new().resize(&src, &mut dst, &options).map_err(|e| failed(&e))?;
    rebuild(tw, th, dst.into_vec()).ok_or_else(|| failed(&"wrong buffer size"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitted_keeps_the_aspect_and_never_enlarges() {
        assert_eq!(fitted(4000, 3000, 400), (400, 300));
        assert_eq!(fitted(3000, 4000, 400), (300, 400));
        assert_eq!(fitted(300, 200, 400), (300, 200));
        assert_eq!(fitted(10_000, 1, 400), (400, 1));
    }

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Jpeg).expect("encode");
        out.into_inner()
    }

    #[test]
    fn a_big_jpeg_is_decoded_at_a_smaller_scale_that_still_reaches_the_target() {
        let bytes = jpeg(1600, 1200);
        let img = decode_jpeg_shrunk(&bytes, 400, &MediaLimits::default()).expect("decode").expect("shrunk");
        // 1/2 would be 800 and 1/4 is 400: the smallest scale at or above 400.
        assert_eq!((img.width(), img.height()), (400, 300));
        let img = decode_jpeg_shrunk(&bytes, 300, &MediaLimits::default()).expect("decode").expect("shrunk");
        assert_eq!((img.width(), img.height()), (400, 300), "1/8 would be 200, under 300");
        assert!(
            decode_jpeg_shrunk(&bytes, 900, &MediaLimits::default()).expect("decode").is_none(),
            "under 2x: full decode"
        );
    }

    #[test]
    fn damaged_scan_data_is_still_an_error() {
        let mut bytes = jpeg(1600, 1200);
        let scan = bytes.windows(2).position(|w| w == [0xFF, 0xDA]).expect("scan");
        for b in &mut bytes[scan + 200..scan + 2000] {
            *b = 0xFF;
        }
        let result = decode_jpeg_shrunk(&bytes, 400, &MediaLimits::default());
        assert!(result.is_err(), "a scan full of 0xFF must not decode to an image");
    }
}
