//! The media layer on real camera photos from `../shared/fixtures/photos`
//! (read in place): every EXIF orientation comes out upright, stripped
//! originals keep their pixels but lose GPS and camera data, thumbnails
//! carry no metadata at all, and broken files get a clear error.

use std::path::{Path, PathBuf};

use porch::media::{self, MediaLimits, ThumbFormat};

use crate::util::{in_ci, shared_fixtures};

fn photos() -> Option<PathBuf> {
    match shared_fixtures() {
        Some(dir) => Some(dir.join("photos")),
        None => {
            assert!(!in_ci(), "../shared/fixtures is missing; CI always has it");
            eprintln!("\n!!! SKIPPING FIXTURE TEST: ../shared/fixtures is not beside this checkout !!!\n");
            None
        }
    }
}

fn read(dir: &Path, rel: &str) -> Vec<u8> {
    std::fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn files(dir: &Path, sub: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir.join(sub))
        .expect("fixture folder")
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).expect("read")))
        .collect();
    out.sort();
    out
}

fn exif_fields(bytes: &[u8]) -> Vec<exif::Tag> {
    match exif::Reader::new().read_from_container(&mut std::io::Cursor::new(bytes)) {
        Ok(e) => e.fields().map(|f| f.tag).collect(),
        Err(_) => Vec::new(),
    }
}

fn mean_diff(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    let total: u64 = a
        .pixels()
        .zip(b.pixels())
        .map(|(p, q)| p.0.iter().zip(q.0.iter()).map(|(x, y)| u64::from(x.abs_diff(*y))).sum::<u64>())
        .sum();
    total as f64 / (f64::from(a.width()) * f64::from(a.height()) * 3.0)
}

#[test]
fn all_eight_orientations_come_out_upright() {
    let Some(dir) = photos() else { return };
    let limits = MediaLimits::default();
    let reference = image::load_from_memory(
        &media::thumbnail(&read(&dir, "orientation/landscape_1.jpg"), 200, ThumbFormat::Jpeg, &limits).expect("ref"),
    )
    .expect("decode")
    .to_rgb8();
    for n in 1..=8 {
        let bytes = read(&dir, &format!("orientation/landscape_{n}.jpg"));
        assert_eq!(media::probe(&bytes, &limits).expect("probe").orientation, n, "landscape_{n} says {n}");
        let thumb = media::thumbnail(&bytes, 200, ThumbFormat::Jpeg, &limits).expect("thumbnail");
        let img = image::load_from_memory(&thumb).expect("decode").to_rgb8();
        assert_eq!(img.dimensions(), reference.dimensions(), "landscape_{n} has the upright shape");
        let upright = mean_diff(&img, &reference);
        assert!(upright < 20.0, "landscape_{n} differs from upright by {upright:.1} per channel");
        // Without turning, the same pixels would be far off (or the shape wrong).
        let raw = image::load_from_memory(&bytes).expect("decode raw").thumbnail(200, 200).to_rgb8();
        if n != 1 && raw.dimensions() == reference.dimensions() {
            let unturned = mean_diff(&raw, &reference);
            assert!(upright * 2.0 < unturned, "landscape_{n}: upright {upright:.1} vs unturned {unturned:.1}");
        }
    }
}

#[test]
fn stripped_originals_keep_pixels_and_lose_gps_and_camera_data() {
    let Some(dir) = photos() else { return };
    let limits = MediaLimits::default();
    for (name, bytes) in files(&dir, "gps") {
        let before = exif_fields(&bytes);
        assert!(before.contains(&exif::Tag::GPSLatitude), "{name} is a GPS fixture");
        let stripped = media::strip_metadata(&bytes, &limits).expect("strip");
        let after = exif_fields(&stripped);
        assert!(!after.iter().any(|t| t.context() == exif::Context::Gps), "{name} still has GPS: {after:?}");
        assert!(
            !after.contains(&exif::Tag::Make) && !after.contains(&exif::Tag::BodySerialNumber),
            "{name}: {after:?}"
        );
        let a = image::load_from_memory(&bytes).expect("decode original").to_rgb8();
        let b = image::load_from_memory(&stripped).expect("decode stripped").to_rgb8();
        assert!(a == b, "{name}: pixels must be untouched");
        let thumb = media::thumbnail(&bytes, 400, ThumbFormat::Jpeg, &limits).expect("thumb");
        assert!(exif_fields(&thumb).is_empty(), "{name}: thumbnails carry no metadata at all");
    }
}

#[test]
fn a_stripped_rotated_photo_still_shows_upright() {
    let Some(dir) = photos() else { return };
    let limits = MediaLimits::default();
    let stripped = media::strip_metadata(&read(&dir, "orientation/landscape_6.jpg"), &limits).expect("strip");
    assert_eq!(exif_fields(&stripped), vec![exif::Tag::Orientation]);
    assert_eq!(media::probe(&stripped, &limits).expect("probe").orientation, 6);
}

#[test]
fn camera_photos_are_probed() {
    let Some(dir) = photos() else { return };
    let limits = MediaLimits::default();
    let phone = media::probe(&read(&dir, "cameras/HMD_Nokia_8.3_5G.jpg"), &limits).expect("probe");
    assert_eq!((phone.width.max(phone.height), phone.width.min(phone.height)), (4608, 1976));
    assert!(phone.taken_at.is_some(), "the phone records when");
    for (name, bytes) in files(&dir, "cameras") {
        let p = media::probe(&bytes, &limits).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(p.format, "jpeg", "{name}");
        media::thumbnail(&bytes, 400, ThumbFormat::Jpeg, &limits).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// `invalid/corrupted.jpg` has damaged image data (libjpeg-turbo agrees:
/// "premature end of data segment"). The other files in `invalid/` and
/// `odd/` have sound image data but broken EXIF or XMP; porch reads them,
/// ignores the broken metadata and strips it, as a family would want.
#[test]
fn damaged_images_are_refused_and_broken_metadata_is_survived() {
    let Some(dir) = photos() else { return };
    let limits = MediaLimits::default();
    let err =
        media::thumbnail(&read(&dir, "invalid/corrupted.jpg"), 400, ThumbFormat::Jpeg, &limits).expect_err("damaged");
    assert!(err.to_string().contains("damaged"), "{err}");
    for sub in ["invalid", "odd"] {
        for (name, bytes) in files(&dir, sub) {
            if name == "corrupted.jpg" {
                continue;
            }
            media::probe(&bytes, &limits).unwrap_or_else(|e| panic!("{sub}/{name}: {e}"));
            let thumb = media::thumbnail(&bytes, 400, ThumbFormat::Jpeg, &limits)
                .unwrap_or_else(|e| panic!("{sub}/{name}: {e}"));
            assert!(exif_fields(&thumb).is_empty());
            let stripped = media::strip_metadata(&bytes, &limits).unwrap_or_else(|e| panic!("{sub}/{name}: {e}"));
            assert!(!stripped.windows(9).any(|w| w == b"xmpmeta x" || w == b"ns.adobe."), "{sub}/{name}: XMP survived");
            assert!(!exif_fields(&stripped).contains(&exif::Tag::GPSLatitude), "{sub}/{name}");
        }
    }
}

/// A photo cut off half-way is refused, not filled in with grey.
#[test]
fn a_truncated_camera_photo_is_refused() {
    let Some(dir) = photos() else { return };
    let bytes = read(&dir, "cameras/HMD_Nokia_8.3_5G.jpg");
    let err =
        media::thumbnail(&bytes[..bytes.len() / 2], 400, ThumbFormat::Jpeg, &MediaLimits::default()).expect_err("cut");
    assert!(err.to_string().contains("incomplete") || err.to_string().contains("damaged"), "{err}");
}
