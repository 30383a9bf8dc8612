//! Fast thumbnails: shrink on load, then one SIMD resize.
//!
//! A JPEG much larger than the thumbnail is decoded at 1/2, 1/4 or 1/8 scale
//! in the DCT domain (jpeg-decoder's scaled IDCT, as libvips does on load),
//! so a 9-megapixel photo bound for 400 px decodes about 1/64 of its pixels.
//! The result is then resized to the exact size with fast_image_resize
//! (Lanczos3 convolution, SIMD where the CPU has it).
//!
//! `decode_jpeg` in `mod.rs` calls in here after its own checks, so
//! the same rules hold: the file must be complete, its headers pass
//! zune-jpeg's strict check, the pixel and memory limits apply to what is
//! actually decoded, and damaged scan data is an error.

use std::borrow::Cow;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::DynamicImage;

use super::{MediaError, MediaLimits, check_memory};

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

/// Decoded JPEG pixels: width, height, channels (1 or 3) and the bytes.
pub type Decoded = (u32, u32, u64, Vec<u8>);

/// Whether shrinking on load applies: a plain 8-bit grey or YCbCr JPEG (as
/// zune-jpeg's strict header check read it) at least twice `edge`.
pub fn applies(
    headers: &zune_jpeg::JpegDecoder<impl zune_core::bytestream::ZByteReaderTrait>,
    width: u32,
    height: u32,
    edge: u32,
) -> bool {
    let components = headers.input_colorspace().map_or(0, |c| c.num_components());
    matches!(components, 1 | 3) && width.max(height) >= edge.saturating_mul(2)
}

/// Decodes a JPEG whose headers already passed the strict check at the
/// smallest DCT scale whose long edge still reaches `edge`: width, height,
/// channels and pixels, not yet turned upright. `None` when jpeg-decoder
/// reads it as something other than 8-bit grey or RGB, so the caller
/// decodes in full.
pub fn decode_scaled(
    bytes: &[u8],
    width: u32,
    height: u32,
    edge: u32,
    limits: &MediaLimits,
) -> Result<Option<Decoded>, MediaError> {
    let (Ok(w16), Ok(h16)) = (u16::try_from(width), u16::try_from(height)) else { return Ok(None) };
    let mut decoder = jpeg_decoder::Decoder::new(std::io::Cursor::new(bytes));
    let damaged = |e: jpeg_decoder::Error| MediaError::Invalid(format!("the JPEG is damaged ({e})"));
    let (want_w, want_h) = fitted(width, height, edge);
    let (out_w, out_h) =
        decoder.scale(u16::try_from(want_w).unwrap_or(w16), u16::try_from(want_h).unwrap_or(h16)).map_err(damaged)?;
    let info = decoder.info().ok_or_else(|| MediaError::Invalid("the JPEG has no frame".into()))?;
    let channels: u64 = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => 1,
        jpeg_decoder::PixelFormat::RGB24 => 3,
        _ => return Ok(None),
    };
    let (out_w, out_h) = (u32::from(out_w), u32::from(out_h));
    check_memory(width, height, u64::from(out_w) * u64::from(out_h) * channels * 2, limits)?;
    Ok(Some((out_w, out_h, channels, decoder.decode().map_err(damaged)?)))
}

/// Turns resized pixels back into an image of the kind they came from.
type Rebuild = fn(u32, u32, Vec<u8>) -> Option<DynamicImage>;

/// Resizes to fit `max_edge` (never enlarging; an image already small
/// enough comes back borrowed) with a Lanczos3 convolution, leaving `img` as
/// it is for the next size. 8-bit grey and RGB are resized
/// as they are; anything else as RGBA.
pub fn resize_to_fit(img: &DynamicImage, max_edge: u32) -> Result<Cow<'_, DynamicImage>, MediaError> {
    let (w, h) = (img.width(), img.height());
    let (tw, th) = fitted(w, h, max_edge);
    if (tw, th) == (w, h) {
        return Ok(Cow::Borrowed(img));
    }
    let failed = |e: &dyn std::fmt::Display| MediaError::Invalid(format!("resizing failed: {e}"));
    let rgba;
    let (pixel_type, raw, rebuild): (PixelType, &[u8], Rebuild) = match img {
        DynamicImage::ImageLuma8(i) => {
            (PixelType::U8, i.as_raw(), |w, h, v| image::GrayImage::from_raw(w, h, v).map(DynamicImage::ImageLuma8))
        }
        DynamicImage::ImageRgb8(i) => {
            (PixelType::U8x3, i.as_raw(), |w, h, v| image::RgbImage::from_raw(w, h, v).map(DynamicImage::ImageRgb8))
        }
        other => {
            rgba = other.to_rgba8();
            (PixelType::U8x4, rgba.as_raw(), |w, h, v| {
                image::RgbaImage::from_raw(w, h, v).map(DynamicImage::ImageRgba8)
            })
        }
    };
    let src = ImageRef::new(w, h, raw, pixel_type).map_err(|e| failed(&e))?;
    let mut dst = Image::new(tw, th, pixel_type);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new().resize(&src, &mut dst, &options).map_err(|e| failed(&e))?;
    rebuild(tw, th, dst.into_vec()).map(Cow::Owned).ok_or_else(|| failed(&"wrong buffer size"))
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
        let near = |edge| {
            let img = super::super::decode_upright_near(&bytes, Some(edge), &MediaLimits::default()).expect("decode");
            (img.width(), img.height())
        };
        // 1/2 would be 800 and 1/4 is 400: the smallest scale at or above 400.
        assert_eq!(near(400), (400, 300));
        assert_eq!(near(300), (400, 300), "1/8 would be 200, under 300");
        assert_eq!(near(900), (1600, 1200), "under 2x: full decode");
    }

    #[test]
    fn damaged_scan_data_is_still_an_error() {
        let mut bytes = jpeg(1600, 1200);
        let scan = bytes.windows(2).position(|w| w == [0xFF, 0xDA]).expect("scan");
        for b in &mut bytes[scan + 200..scan + 2000] {
            *b = 0xFF;
        }
        let result = super::super::decode_upright_near(&bytes, Some(400), &MediaLimits::default());
        assert!(result.is_err(), "a scan full of 0xFF must not decode to an image");
    }
}
