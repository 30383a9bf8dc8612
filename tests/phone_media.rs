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
        assert!(page.body.contains("data-codec=\"h264\""), "{name}: the page knows the codec: {}", page.body);

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

    // A clip shorter than a second gets its first frame as the poster.
    let args = ["-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-t", "0.4", "-c:v", "libx264"];
    run("ffmpeg", &[&args[..], &["-pix_fmt", "yuv420p", "blink.mp4"]].concat(), work.path());
    let blink = std::fs::read(work.path().join("blink.mp4")).expect("clip");
    let id = upload_ok(&owner, &album, "blink.mp4", blink).await;
    let poster = vera.get_bytes(&app(&vera, &format!("/a/{album}/p/{id}/thumb"))).await;
    let img = image::load_from_memory_with_format(&poster, image::ImageFormat::Jpeg).expect("a short clip's poster");
    assert_eq!((img.width(), img.height()), (320, 240));
    let grid = vera.get(&app(&vera, &format!("/a/{album}"))).await;
    assert!(grid.body.contains("0:00"), "{}", grid.body);
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

/// A box: size, type, body.
fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(body);
    out
}

/// The boxes in `bytes[from..to]`: (type, start, end).
fn boxes(bytes: &[u8], from: usize, to: usize) -> Vec<([u8; 4], usize, usize)> {
    let mut out = Vec::new();
    let mut at = from;
    while at + 8 <= to {
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().expect("size")) as usize;
        out.push((bytes[at + 4..at + 8].try_into().expect("type"), at, at + size));
        at += size;
    }
    out
}

fn be(bytes: &[u8], at: usize, size: usize) -> u64 {
    bytes[at..at + size].iter().fold(0, |n, &b| (n << 8) | u64::from(b))
}

fn put_be(bytes: &mut [u8], at: usize, size: usize, value: u64) {
    for i in 0..size {
        bytes[at + i] = (value >> (8 * (size - 1 - i))) as u8;
    }
}

/// `heic` (as heif-enc writes it) with `added` properties (`irot`, `imir`
/// boxes) given to its primary picture, after its own: what a phone writes
/// for a picture taken held sideways. Offsets into `mdat` are moved by what
/// the `meta` box grew.
fn transformed(heic: &[u8], added: &[Vec<u8>]) -> Vec<u8> {
    let top = boxes(heic, 0, heic.len());
    let &(_, meta_start, meta_end) = top.iter().find(|b| &b.0 == b"meta").expect("meta");
    let inner = boxes(heic, meta_start + 12, meta_end);
    let find = |list: &[([u8; 4], usize, usize)], kind: &[u8; 4]| *list.iter().find(|b| &b.0 == kind).expect("box");
    let (_, pitm, _) = find(&inner, b"pitm");
    let primary = be(heic, pitm + 12, 2);
    let (_, iprp_start, iprp_end) = find(&inner, b"iprp");
    let props = boxes(heic, iprp_start + 8, iprp_end);
    let (_, ipco_start, ipco_end) = find(&props, b"ipco");
    let (_, ipma_start, _) = find(&props, b"ipma");
    let existing = boxes(heic, ipco_start + 8, ipco_end).len();
    let ipco = boxed(b"ipco", &[&heic[ipco_start + 8..ipco_end], &added.concat()[..]].concat());
    // ipma version 0, one byte per association.
    assert_eq!(be(heic, ipma_start + 8, 4) & 0xff_ffff, 0, "heif-enc writes one-byte associations");
    let mut body = heic[ipma_start + 8..ipma_start + 16].to_vec();
    let mut at = ipma_start + 16;
    for _ in 0..be(heic, ipma_start + 12, 4) {
        let id = be(heic, at, 2);
        let n = heic[at + 2] as usize;
        let mut entry = heic[at..at + 3 + n].to_vec();
        if id == primary {
            entry[2] += added.len() as u8;
            entry.extend((0..added.len()).map(|i| 0x80 | (existing + 1 + i) as u8));
        }
        body.extend_from_slice(&entry);
        at += 3 + n;
    }
    let ipma = boxed(b"ipma", &body);
    let rest: Vec<u8> =
        props.iter().filter(|b| &b.0 != b"ipco" && &b.0 != b"ipma").flat_map(|b| heic[b.1..b.2].to_vec()).collect();
    let iprp = boxed(b"iprp", &[ipco, ipma, rest].concat());
    let mut meta_body = heic[meta_start + 8..meta_start + 12].to_vec();
    for &(kind, start, end) in &inner {
        meta_body.extend_from_slice(if &kind == b"iprp" { &iprp } else { &heic[start..end] });
    }
    let mut meta = boxed(b"meta", &meta_body);
    let delta = (meta.len() - (meta_end - meta_start)) as u64;
    // iloc: move every offset into the file that lies past the old meta.
    let (_, iloc, _) = find(&boxes(&meta, 12, meta.len()), b"iloc");
    let version = meta[iloc + 8];
    let sizes = be(&meta, iloc + 12, 2) as usize;
    let (offset_size, length_size, base_size) = (sizes >> 12, (sizes >> 8) & 0xf, (sizes >> 4) & 0xf);
    let index_size = if version >= 1 { sizes & 0xf } else { 0 };
    let id_size = if version < 2 { 2 } else { 4 };
    let mut at = iloc + 14;
    let count = be(&meta, at, id_size);
    at += id_size;
    for _ in 0..count {
        at += id_size;
        let method = if version >= 1 {
            at += 2;
            be(&meta, at - 2, 2) & 0xf
        } else {
            0
        };
        at += 2;
        let base_at = at;
        let base = be(&meta, at, base_size);
        at += base_size;
        let extents = be(&meta, at, 2);
        at += 2;
        let mut moved_base = false;
        for _ in 0..extents {
            at += index_size;
            let offset = be(&meta, at, offset_size);
            if method == 0 && base + offset >= meta_end as u64 {
                if base_size > 0 {
                    moved_base = true;
                } else {
                    put_be(&mut meta, at, offset_size, offset + delta);
                }
            }
            at += offset_size + length_size;
        }
        if moved_base {
            put_be(&mut meta, base_at, base_size, base + delta);
        }
    }
    [&heic[..meta_start], &meta[..], &heic[meta_end..]].concat()
}

/// The red corner (top left when upright) of a picture: which quarter it
/// is in, as (right half?, bottom half?).
fn red_corner(img: &image::RgbImage) -> (bool, bool) {
    let (w, h) = img.dimensions();
    let quarters = [(false, false), (true, false), (false, true), (true, true)];
    *quarters
        .iter()
        .max_by_key(|&&(right, bottom)| {
            let (x, y) = (if right { w * 7 / 8 } else { w / 8 }, if bottom { h * 7 / 8 } else { h / 8 });
            let p = img.get_pixel(x, y);
            i32::from(p[0]) - i32::from(p[1])
        })
        .expect("four quarters")
}

/// Issue 25: a HEIC turned by `irot` and `imir` (as phones write them; the
/// EXIF orientation does not apply to HEIF) shows as libheif shows it, in
/// the grid's size, both thumbnails and the JPEG copy.
#[tokio::test]
async fn a_heic_turned_by_irot_and_imir_comes_out_upright() {
    if !have_tool("heif-enc", "libheif-examples") || !have_tool("exiftool", "libimage-exiftool-perl") {
        return;
    }
    let work = tempfile::tempdir().expect("temp");
    let jpeg = tagged_jpeg(work.path());
    run("heif-enc", &["-q", "60", jpeg.to_str().expect("path"), "-o", "plain.heic"], work.path());
    let plain = std::fs::read(work.path().join("plain.heic")).expect("heic");
    let porch = Porch::start();
    let (owner, vera) = two(&porch).await;
    let album = shared_album(&owner, "Turned").await;
    let irot = |angle: u8| boxed(b"irot", &[angle]);
    let imir = |axis: u8| boxed(b"imir", &[axis]);
    let cases: [(&str, Vec<Vec<u8>>, bool); 5] = [
        ("left", vec![irot(1)], true),
        ("upside-down", vec![irot(2)], false),
        ("right", vec![irot(3)], true),
        ("mirrored", vec![imir(1)], false),
        ("left-mirrored", vec![irot(1), imir(0)], true),
    ];
    for (name, props, portrait) in cases {
        let heic = transformed(&plain, &props);
        let file = format!("{name}.heic");
        let libheif = heif_pixels(&heic, work.path(), &file);
        assert_eq!(libheif.height() > libheif.width(), portrait, "{name}: the test file is turned for libheif");
        let id = upload_ok(&owner, &album, &file, heic).await;
        let base = format!("/a/{album}/p/{id}");
        for derived in ["thumb", "view", "jpeg"] {
            let bytes = vera.get_bytes(&app(&vera, &format!("{base}/{derived}"))).await;
            let img = image::load_from_memory(&bytes).expect("a picture").to_rgb8();
            assert_eq!(img.height() > img.width(), portrait, "{name} {derived}: {:?}", img.dimensions());
            assert_eq!(red_corner(&img), red_corner(&libheif), "{name} {derived}: turned as libheif turns it");
        }
        // The grid reserves the shown shape before the thumbnail arrives.
        let grid = vera.get(&app(&vera, &format!("/a/{album}"))).await;
        let (w, h) = if portrait { (800, 1200) } else { (1200, 800) };
        let tile = format!("{base}/thumb\" alt=\"{file}\" width=\"{w}\" height=\"{h}\"");
        assert!(grid.body.contains(&tile), "{name}: {tile} in {}", grid.body);
    }
}

/// The codec of a video's first video stream, and its tags, as ffprobe
/// reads them.
fn codec_and_tags(bytes: &[u8], dir: &Path, name: &str) -> (String, String) {
    std::fs::write(dir.join(name), bytes).expect("write");
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name", "-of", "csv=p=0", name])
        .current_dir(dir)
        .output()
        .expect("ffprobe");
    (String::from_utf8_lossy(&out.stdout).trim().to_owned(), probe_tags(bytes, dir, name))
}

/// Issue 25: an HEVC video (what iPhones record), which Chromium and
/// Firefox mostly cannot play, gets an H.264 copy made in the background at
/// the lowest CPU priority; the page says it is being prepared until then;
/// the queue survives a restart (the copy being made when porch stops is
/// made at the next start); the copy carries no location; and the uploader
/// still downloads their own bytes.
#[tokio::test]
async fn an_hevc_video_gets_an_h264_copy_in_the_background_that_survives_a_restart() {
    if !have_tool("ffmpeg", "ffmpeg") {
        return;
    }
    let work = tempfile::TempDir::new().expect("work");
    let location = "com.apple.quicktime.location.ISO6709=+48.8584+002.2945+035.000/";
    let args = [
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=640x360:rate=30",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440",
        "-t",
        "2",
        "-c:v",
        "libx265",
        "-tag:v",
        "hvc1",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-metadata",
        location,
        "-movflags",
        "use_metadata_tags",
        "iphone-hevc.mov",
    ];
    run("ffmpeg", &args, work.path());
    let hevc = std::fs::read(work.path().join("iphone-hevc.mov")).expect("made");
    assert_eq!(codec_and_tags(&hevc, work.path(), "in.mov").0, "hevc");

    // An ffmpeg that takes its time over H.264 copies (and says at what
    // priority it runs), and is the real one for everything else.
    let real = String::from_utf8(Command::new("sh").args(["-c", "command -v ffmpeg"]).output().expect("sh").stdout)
        .expect("path")
        .trim()
        .to_owned();
    let niceness = work.path().join("niceness");
    let slow = stand_in(
        work.path(),
        "slow-ffmpeg",
        &format!(
            "case \"$*\" in *libx264*) /usr/bin/nice > {} ; exec /bin/sleep 60 ;; esac\nexec {real} \"$@\"",
            niceness.display()
        ),
    );
    let porch_toml = |ffmpeg: &str| format!("[media]\nffmpeg = \"{ffmpeg}\"\n");
    let mut porch = Porch::start_with_config(&porch_toml(&slow), "127.0.0.1:0");
    let (owner, vera) = two(&porch).await;
    let album = shared_album(&owner, "Paris").await;
    let id = upload_ok(&owner, &album, "IMG_0001.MOV", hevc.clone()).await;
    let base = format!("/a/{album}/p/{id}");
    let page = vera.get(&app(&vera, &base)).await;
    assert!(page.body.contains("id=\"preparing\""), "the page says the video is being prepared: {}", page.body);
    assert!(page.body.contains("data-codec=\"hevc\""), "{}", page.body);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !niceness.exists() {
        assert!(Instant::now() < deadline, "the H.264 copy never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let nice = std::fs::read_to_string(&niceness).expect("niceness");
    assert_eq!(nice.trim(), "19", "copies run at the lowest CPU priority");

    // porch stops mid-copy (quickly: the copy does not hold it up) and
    // starts again with the real ffmpeg: the queued copy is made.
    let config = porch.dir().join("porch.toml");
    let stopped = Instant::now();
    porch.restart_after(|_| std::fs::write(&config, porch_toml(&real)).expect("config"));
    assert!(stopped.elapsed() < Duration::from_secs(20), "a running copy held up the restart");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let page = vera.get(&app(&vera, &base)).await;
        if page.body.contains("data-codec=\"h264\"") {
            assert!(!page.body.contains("id=\"preparing\""), "{}", page.body);
            break;
        }
        assert!(Instant::now() < deadline, "no H.264 copy after the restart: {}", page.body);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for who in [&vera, &owner] {
        let played = who.get_bytes(&app(who, &format!("{base}/play"))).await;
        let (codec, tags) = codec_and_tags(&played, work.path(), "played.mp4");
        assert_eq!(codec, "h264", "everyone plays the copy");
        assert!(!tags.contains("location") && !tags.contains("48.85"), "the copy has no location: {tags}");
    }
    let own = owner.get_bytes(&app(&owner, &format!("{base}/original"))).await;
    assert_eq!(own, hevc, "the uploader's own original is unchanged");
}

/// Issue 25: motion photos, a JPEG with its short video appended as
/// Google's cameras (after the picture) and Samsung's (after a
/// `MotionPhoto_Data` marker, with a footer after it) write them: shown as
/// one photo with a badge, the motion played from the page, and both parts
/// reaching others without location (the still's GPS and the video's
/// `©xyz`), while the uploader gets their file back unchanged.
#[tokio::test]
async fn motion_photos_move_and_reach_others_without_location_in_either_part() {
    if !have_tool("ffmpeg", "ffmpeg") || !have_tool("exiftool", "libimage-exiftool-perl") {
        return;
    }
    let work = tempfile::tempdir().expect("temp");
    let still = std::fs::read(tagged_jpeg(work.path())).expect("jpeg");
    let video = short_clip(work.path(), "motion.mp4", &["-metadata", "location=+48.8584+002.2945/"]);
    assert!(probe_tags(&video, work.path(), "in.mp4").contains("location"), "the motion starts out located");
    let google = [still.as_slice(), &video].concat();
    let samsung = [still.as_slice(), b"MotionPhoto_Data", &video, b"SEFH\x6b\x00\x00\x00\x01\x00SEFT"].concat();

    let porch = Porch::start();
    let (owner, vera) = two(&porch).await;
    let album = shared_album(&owner, "Moving pictures").await;
    for (name, file) in [("PXL_20240714.MP.jpg", google), ("20240714_samsung.jpg", samsung)] {
        let id = upload_ok(&owner, &album, name, file.clone()).await;
        let base = format!("/a/{album}/p/{id}");
        let grid = vera.get(&app(&vera, &format!("/a/{album}"))).await;
        assert!(grid.body.contains("badge motion"), "{name}: the grid marks it as moving");
        let page = vera.get(&app(&vera, &base)).await;
        assert!(page.body.contains("id=\"motion\""), "{name}: the page plays its motion: {}", page.body);

        let motion = vera.get_bytes(&app(&vera, &format!("{base}/motion"))).await;
        assert_eq!(motion.len(), video.len(), "{name}: the whole video, and no footer");
        let tags = probe_tags(&motion, work.path(), "out.mp4");
        assert!(!tags.contains("location") && !tags.contains("48.85"), "{name}: the motion has no location: {tags}");

        let theirs = vera.get_bytes(&app(&vera, &format!("{base}/original"))).await;
        assert!(!has_gps(&theirs), "{name}: the still has no GPS for others");
        assert!(!contains(&theirs, b"ftyp"), "{name}: nor the located video inside it");
        let own = owner.get_bytes(&app(&owner, &format!("{base}/original"))).await;
        assert_eq!(own, file, "{name}: the uploader's own file is unchanged");
    }
    // A plain photo is not a motion photo.
    let plain = upload_ok(&owner, &album, "plain.jpg", still).await;
    let page = vera.get(&app(&vera, &format!("/a/{album}/p/{plain}"))).await;
    assert!(!page.body.contains("id=\"motion\""));
    let none = vera.get(&app(&vera, &format!("/a/{album}/p/{plain}/motion"))).await;
    assert_eq!(none.status, 404);
}

/// Apple's maker note holding only a Live Photo's content identifier (tag
/// 0x0011), as iPhones write it: exiftool cannot make one from nothing, but
/// writes this block into a JPEG's EXIF.
fn apple_maker_note(id: &str) -> Vec<u8> {
    let mut text = id.as_bytes().to_vec();
    text.push(0);
    let mut note = b"Apple iOS\0\0\x01MM".to_vec();
    note.extend_from_slice(&1u16.to_be_bytes());
    note.extend_from_slice(&0x0011u16.to_be_bytes());
    note.extend_from_slice(&2u16.to_be_bytes());
    note.extend_from_slice(&u32::try_from(text.len()).expect("len").to_be_bytes());
    note.extend_from_slice(&32u32.to_be_bytes());
    note.extend_from_slice(&0u32.to_be_bytes());
    note.extend_from_slice(&text);
    note
}

/// Issue 25: a Live Photo, an iPhone's still and its short video uploaded
/// as two files that share a content identifier, the video first: shown
/// as one photo that plays its motion, the video not a tile of its own,
/// and both parts without location for others. Deleting the photo removes
/// both.
#[tokio::test]
async fn a_live_photo_s_still_and_video_are_one_photo_that_moves() {
    if !have_tool("ffmpeg", "ffmpeg") || !have_tool("exiftool", "libimage-exiftool-perl") {
        return;
    }
    let work = tempfile::tempdir().expect("temp");
    let id = "8A5D2C1E-0F3B-4C6D-9E7F-112233445566";
    let still_path = tagged_jpeg(work.path());
    std::fs::write(work.path().join("apple.bin"), apple_maker_note(id)).expect("note");
    run("exiftool", &["-q", "-overwrite_original", "-Make=Apple", "-MakerNotes<=apple.bin", "tagged.jpg"], work.path());
    let still = std::fs::read(&still_path).expect("still");
    let identifier = format!("com.apple.quicktime.content.identifier={id}");
    let tags = [
        "-metadata",
        "com.apple.quicktime.location.ISO6709=+48.8584+002.2945+035.000/",
        "-metadata",
        identifier.as_str(),
        "-movflags",
        "use_metadata_tags",
    ];
    let video = short_clip(work.path(), "IMG_0042.MOV", &tags);

    let porch = Porch::start();
    let (owner, vera) = two(&porch).await;
    let album = shared_album(&owner, "Live").await;
    let video_id = upload_ok(&owner, &album, "IMG_0042.MOV", video).await;
    let still_id = upload_ok(&owner, &album, "IMG_0042.JPG", still).await;

    let grid = vera.get(&app(&vera, &format!("/a/{album}"))).await;
    assert!(grid.body.contains(&format!("/p/{still_id}")), "the still is a tile");
    assert!(!grid.body.contains(&format!("/p/{video_id}")), "its video is not a tile of its own: {}", grid.body);
    assert!(grid.body.contains("&#9678; Live") || grid.body.contains("◎ Live"), "{}", grid.body);
    let page = vera.get(&app(&vera, &format!("/a/{album}/p/{still_id}"))).await;
    let motion = format!("/a/{album}/p/{video_id}/play");
    let body = crate::util::unescape(&page.body);
    assert!(body.contains(&format!("src=\"{motion}\"")), "the still plays its video: {body}");

    let played = vera.get_bytes(&app(&vera, &motion)).await;
    let tags = probe_tags(&played, work.path(), "live-out.mov");
    assert!(!tags.contains("location") && !tags.contains("48.85"), "the motion has no location: {tags}");
    let theirs = vera.get_bytes(&app(&vera, &format!("/a/{album}/p/{still_id}/original"))).await;
    assert!(!has_gps(&theirs), "the still has no GPS for others");

    // Deleting the photo deletes the Live Photo, both parts.
    let origin = app(&owner, "");
    let gone = owner.post_from(&app(&owner, &format!("/a/{album}/p/{still_id}/delete")), &[], Some(&origin)).await;
    assert_eq!(gone.status, 303, "{}", gone.body);
    for part in [&still_id, &video_id] {
        assert_eq!(owner.get(&app(&owner, &format!("/a/{album}/p/{part}"))).await.status, 404, "{part} is gone");
    }
}

/// A 1.5 s 320×240 H.264 clip made by ffmpeg with `extra` arguments (tags),
/// as the file `name` in `dir`.
fn short_clip(dir: &Path, name: &str, extra: &[&str]) -> Vec<u8> {
    let source = ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-t", "1.5"];
    let encode = ["-c:v", "libx264", "-pix_fmt", "yuv420p"];
    run("ffmpeg", &[&source[..], &encode[..], extra, &[name]].concat(), dir);
    std::fs::read(dir.join(name)).expect("clip made")
}
