//! What phones really make, through Photos on the real server (issue 25):
//! HEIC and AVIF pictures (made here with libheif's `heif-enc` from a
//! photo tagged with GPS by `exiftool`), and MP4 and QuickTime videos with
//! location in each of the three places phones put it (made with
//! `ffmpeg`). Others get them without location and still valid; the
//! uploader gets their bytes back. The C decoders run in porch's media
//! jail: a decoder that hangs or crashes costs that one upload, never
//! porch.

use std::io::Cursor;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::photos::{app, enter, new_album, upload, upload_ok};
use crate::util::{Browser, PASSWORD, Porch, have_tool};

/// The owner and Vera, who sees what the owner shares with group family.
async fn two(porch: &Porch) -> (Browser, Browser) {
    let owner = porch.owner().await;
    enter(&owner).await;
    let link = porch.invite(&["--app", "photos:viewer", "--group", "family"]);
    let vera = porch.browser();
    assert_eq!(vera.join(&link, "Vera Viewer", PASSWORD).await.status, 303);
    enter(&vera).await;
    (owner, vera)
}

async fn shared_album(owner: &Browser, title: &str) -> String {
    let album = new_album(owner, title).await;
    let origin = app(owner, "");
    let page =
        owner.post_from(&app(owner, &format!("/a/{album}/share")), &[("group:family", "viewer")], Some(&origin)).await;
    assert_eq!(page.status, 303, "share: {}", page.body);
    album
}

fn run(program: &str, args: &[&str], dir: &Path) {
    let out = Command::new(program).args(args).current_dir(dir).output().expect("run tool");
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A 1200×800 JPEG, red in its top-left corner, tagged by exiftool with
/// GPS, a camera serial number and when it was taken.
fn tagged_jpeg(dir: &Path) -> std::path::PathBuf {
    let img = image::RgbImage::from_fn(1200, 800, |x, y| {
        if x < 300 && y < 200 { image::Rgb([250, 20, 20]) } else { image::Rgb([20, (x / 5) as u8, (y / 4) as u8]) }
    });
    let path = dir.join("tagged.jpg");
    img.save(&path).expect("save jpeg");
    run(
        "exiftool",
        &[
            "-q",
            "-overwrite_original",
            "-GPSLatitude=48.8584",
            "-GPSLatitudeRef=N",
            "-GPSLongitude=2.2945",
            "-GPSLongitudeRef=E",
            "-SerialNumber=SN-12345-SECRET",
            "-Model=Pocket Phone 9",
            "-DateTimeOriginal=2024:07:14 10:30:00",
            "-XMP-dc:Description=Our secret address",
            "tagged.jpg",
        ],
        dir,
    );
    path
}

fn has_gps(bytes: &[u8]) -> bool {
    match exif::Reader::new().read_from_container(&mut Cursor::new(bytes)) {
        Ok(e) => e.fields().any(|f| matches!(f.tag.context(), exif::Context::Gps)),
        Err(_) => false,
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// What libheif decodes a HEIF file to (as PNG, lossless), to compare pixels.
fn heif_pixels(bytes: &[u8], dir: &Path, name: &str) -> image::RgbImage {
    std::fs::write(dir.join(name), bytes).expect("write");
    let png = format!("{name}.png");
    run("heif-convert", &["--quiet", name, &png], dir);
    image::open(dir.join(png)).expect("decoded png").to_rgb8()
}

#[tokio::test]
async fn heic_and_avif_from_a_phone_are_shown_and_shared_without_location() {
    if !have_tool("heif-enc", "libheif-examples") || !have_tool("exiftool", "libimage-exiftool-perl") {
        return;
    }
    let work = tempfile::tempdir().expect("temp");
    let jpeg = tagged_jpeg(work.path());
    let porch = Porch::start();
    let (owner, vera) = two(&porch).await;
    let album = shared_album(&owner, "From the iPhone").await;

    for (name, flag) in [("beach.heic", None), ("beach.avif", Some("-A"))] {
        let mut args = vec!["-q", "60"];
        args.extend(flag);
        args.extend([jpeg.to_str().expect("path"), "-o", name]);
        run("heif-enc", &args, work.path());
        let bytes = std::fs::read(work.path().join(name)).expect("made");
        assert!(has_gps(&bytes) && contains(&bytes, b"SN-12345-SECRET"), "{name} starts out tagged");

        let id = upload_ok(&owner, &album, name, bytes.clone()).await;
        let base = format!("/a/{album}/p/{id}");
        // Shown: the grid thumbnail and the view size are upright JPEGs.
        for (derived, edge) in [("thumb", 400), ("view", 1200)] {
            let t = vera.get_bytes(&app(&vera, &format!("{base}/{derived}"))).await;
            let img = image::load_from_memory_with_format(&t, image::ImageFormat::Jpeg)
                .unwrap_or_else(|e| panic!("{name} {derived}: {e}"))
                .to_rgb8();
            assert_eq!(img.width(), edge, "{name} {derived}");
            let corner = img.get_pixel(img.width() / 10, img.height() / 10);
            assert!(corner[0] > 180 && corner[1] < 90, "{name} {derived}: the red corner is top left: {corner:?}");
        }
        let page = vera.get(&app(&vera, &base)).await;
        assert!(page.body.contains("Taken "), "{name}: taken-at read from the HEIF's EXIF: {}", page.body);
        assert!(page.body.contains("Download as JPEG"), "{name}: {}", page.body);

        // The uploader gets their file back; Vera gets the same file, same
        // size and same pixels, with no GPS, serial or XMP description.
        let own = owner.get_bytes(&app(&owner, &format!("{base}/original"))).await;
        assert_eq!(own, bytes, "{name}: the uploader's own original changed");
        let theirs = vera.get_bytes(&app(&vera, &format!("{base}/original"))).await;
        assert_eq!(theirs.len(), bytes.len(), "{name}: cleaned in place");
        assert!(!has_gps(&theirs), "{name}: GPS reached another person");
        assert!(!contains(&theirs, b"SN-12345-SECRET"), "{name}: the camera serial reached another person");
        assert!(!contains(&theirs, b"Our secret address"), "{name}: XMP reached another person");
        let before = heif_pixels(&bytes, work.path(), &format!("before-{name}"));
        let after = heif_pixels(&theirs, work.path(), &format!("after-{name}"));
        assert!(before == after, "{name}: the cleaned file decodes to the very same pixels");

        // Download as JPEG: a full-size JPEG with no metadata at all.
        let copy = vera.get_bytes(&app(&vera, &format!("{base}/jpeg"))).await;
        let img = image::load_from_memory_with_format(&copy, image::ImageFormat::Jpeg).expect("a JPEG");
        assert_eq!((img.width(), img.height()), (1200, 800), "{name}: full size");
        assert!(exif::Reader::new().read_from_container(&mut Cursor::new(&copy)).is_err(), "{name}: no EXIF");
    }

    // A damaged HEIC is refused by name and leaves nothing.
    let mut cut = std::fs::read(work.path().join("beach.heic")).expect("heic");
    cut.truncate(cut.len() / 2);
    let (status, reply) = upload(&owner, &album, "cut.heic", cut).await;
    assert!(status >= 400, "{reply}");
    assert!(reply["error"].as_str().unwrap_or_default().contains("cut.heic cannot be used as a photo"), "{reply}");
}

/// ffmpeg: a short test video with sound, shown turned (as a phone held
/// upright records it), with location and device tags.
fn video(dir: &Path, name: &str, tags: &[&str]) -> Vec<u8> {
    let raw = format!("raw-{name}");
    let source = ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=30", "-f", "lavfi", "-i"];
    let encode = ["sine=frequency=440", "-t", "3", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"];
    run("ffmpeg", &[&source[..], &encode[..], &[raw.as_str()]].concat(), dir);
    // ffmpeg 5 writes a rotation only when it copies streams.
    let mut args = vec!["-v", "error", "-y", "-i", raw.as_str(), "-c", "copy", "-metadata:s:v:0", "rotate=90"];
    args.extend(tags);
    args.push(name);
    run("ffmpeg", &args, dir);
    std::fs::read(dir.join(name)).expect("video made")
}

/// Every tag ffprobe finds in a file, lowercased `key=value` lines.
fn probe_tags(bytes: &[u8], dir: &Path, name: &str) -> String {
    std::fs::write(dir.join(name), bytes).expect("write");
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format_tags:stream_tags", "-of", "flat", name])
        .current_dir(dir)
        .output()
        .expect("ffprobe");
    assert!(out.status.success(), "{name} is still a video ffprobe reads");
    String::from_utf8_lossy(&out.stdout).to_lowercase()
}

#[tokio::test]
async fn phone_videos_get_posters_and_reach_others_without_location() {
    if !have_tool("ffmpeg", "ffmpeg") {
        return;
    }
    let work = tempfile::tempdir().expect("temp");
    let made = [
        // MP4 (Android): 3GPP `loci` in udta.
        ("walk.mp4", video(work.path(), "walk.mp4", &["-metadata", "location=+48.8584+002.2945/"])),
        // QuickTime: `©xyz` in udta.
        ("walk.mov", video(work.path(), "walk.mov", &["-metadata", "location=+48.8584+002.2945/"])),
        // iPhone: Apple's keys in moov/meta.
        (
            "iphone.mov",
            video(
                work.path(),
                "iphone.mov",
                &[
                    "-metadata",
                    "com.apple.quicktime.location.ISO6709=+48.8584+002.2945+035.000/",
                    "-metadata",
                    "com.apple.quicktime.model=iPhone 15",
                    "-movflags",
                    "use_metadata_tags",
                ],
            ),
        ),
    ];
    let porch = Porch::start();
    let (owner, vera) = two(&porch).await;
    let album = shared_album(&owner, "Videos").await;
    for (name, bytes) in made {
        let tags = probe_tags(&bytes, work.path(), &format!("in-{name}"));
        assert!(tags.contains("location"), "{name} starts out with its location: {tags}");
        let id = upload_ok(&owner, &album, name, bytes.clone()).await;
        let base = format!("/a/{album}/p/{id}");

        // A poster, upright (the video is shown turned: 360×640).
        let poster = vera.get_bytes(&app(&vera, &format!("{base}/thumb"))).await;
        let img = image::load_from_memory_with_format(&poster, image::ImageFormat::Jpeg).expect("poster");
        assert_eq!((img.width(), img.height()), (225, 400), "{name}: poster turned as the video shows");
        let grid = vera.get(&app(&vera, &format!("/a/{album}"))).await;
        assert!(grid.body.contains(&format!("{base}/thumb")), "{name}: the grid shows its poster");
        assert!(grid.body.contains("0:03"), "{name}: the grid shows its length: {}", grid.body);
        let page = vera.get(&app(&vera, &base)).await;
        assert!(page.body.contains(&format!("poster=\"{base}/view\"")), "{name}: {}", page.body);

        // The uploader plays their own file; Vera plays and downloads one
        // without location or device, every frame and sound the same.
        let own = owner.get_bytes(&app(&owner, &format!("{base}/play"))).await;
        assert_eq!(own, bytes, "{name}: the uploader's own video changed");
        for route in ["play", "original"] {
            let theirs = vera.get_bytes(&app(&vera, &format!("{base}/{route}"))).await;
            assert_eq!(theirs.len(), bytes.len(), "{name}: cleaned in place");
            let tags = probe_tags(&theirs, work.path(), &format!("out-{route}-{name}"));
            for secret in ["location", "iso6709", "iphone", "model"] {
                assert!(!tags.contains(secret), "{name} ({route}): {secret} reached another person: {tags}");
            }
            assert!(!contains(&theirs, b"48.8584"), "{name} ({route}): the coordinates are still in the bytes");
            let decoded = Command::new("ffmpeg")
                .args(["-v", "error", "-i", &format!("out-{route}-{name}"), "-f", "framemd5", "-"])
                .current_dir(work.path())
                .output()
                .expect("ffmpeg");
            let original = Command::new("ffmpeg")
                .args(["-v", "error", "-i", &format!("in-{name}"), "-f", "framemd5", "-"])
                .current_dir(work.path())
                .output()
                .expect("ffmpeg");
            assert!(decoded.status.success() && decoded.stderr.is_empty(), "{name}: decodes cleanly");
            assert_eq!(decoded.stdout, original.stdout, "{name}: the same frames and sound");
        }
    }
}

/// A stand-in decoder: a shell script that does `body`.
fn stand_in(dir: &Path, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path.to_str().expect("utf-8 path").to_owned()
}

/// A HEIF header porch itself accepts (size from `ispe`), so the bytes
/// reach the decoder.
fn minimal_heic() -> Vec<u8> {
    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }
    let full = |kind: &[u8; 4], body: &[u8]| boxed(kind, &[&[0u8, 0, 0, 0][..], body].concat());
    let ispe = full(b"ispe", &[&640u32.to_be_bytes()[..], &480u32.to_be_bytes()[..]].concat());
    let ipco = boxed(b"ipco", &ispe);
    let ipma = full(b"ipma", &[0, 0, 0, 1, 0, 1, 1, 0x81]);
    let meta = full(
        b"meta",
        &[full(b"pitm", &[0, 1]), boxed(b"iprp", &[ipco, ipma].concat()), boxed(b"mdat", &[0u8; 64])].concat(),
    );
    [boxed(b"ftyp", b"heic\0\0\0\0mif1heic"), meta].concat()
}

/// Issue 25 (isolation of C decoders): a decoder that hangs is stopped at
/// media.timeout and one that crashes is reported, each costing only its
/// own upload while porch keeps answering everyone else.
#[tokio::test]
async fn a_decoder_that_hangs_or_crashes_costs_one_upload_not_porch() {
    let work = tempfile::tempdir().expect("temp");
    let hang = stand_in(work.path(), "hang", "cat > /dev/null; sleep 600");
    let crash = stand_in(work.path(), "crash", "cat > /dev/null; kill -SEGV $$");
    let net = stand_in(
        work.path(),
        "net",
        "cat > /dev/null; if python3 -c 'import socket; socket.socket()' 2>/dev/null; then echo 'network reached' >&2; fi; exit 3",
    );
    for (decoder, expect) in
        [(hang.as_str(), "took longer than"), (crash.as_str(), "signal 11"), (net.as_str(), "may be damaged")]
    {
        let config = format!("[media]\nheif_decoder = \"{decoder}\"\ntimeout = \"2s\"\n");
        let porch = Porch::start_with_config(&config, "127.0.0.1:0");
        let (owner, vera) = two(&porch).await;
        let album = shared_album(&owner, "Jail").await;
        let started = Instant::now();
        // Meanwhile porch answers others at once.
        let others = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let asked = Instant::now();
            let page = vera.get(&app(&vera, "/")).await;
            (page.status, asked.elapsed())
        };
        let ((status, reply), (answered, took)) =
            tokio::join!(upload(&owner, &album, "odd.heic", minimal_heic()), others);
        assert_eq!(answered, 200);
        assert!(took < Duration::from_secs(1), "porch stalled behind the decoder: {took:?}");
        assert!(status >= 400, "{decoder}: {reply}");
        let error = reply["error"].as_str().unwrap_or_default();
        assert!(error.contains("odd.heic cannot be used as a photo") && error.contains(expect), "{decoder}: {error}");
        assert!(!error.contains("network reached"), "the decoder reached the network: {error}");
        assert!(started.elapsed() < Duration::from_secs(20), "{decoder}: the job was not stopped in time");
        // porch is whole: the same person uploads a plain photo next.
        upload_ok(&owner, &album, "fine.jpg", crate::photos::jpeg(320, 240, 9)).await;
    }
}
