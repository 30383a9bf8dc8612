//! The bundled photo album end to end through the real server: sharing
//! rules (404 for people an album is not shared with, viewers cannot
//! upload, contributors can), uploads deduplicated by content hash, bad
//! files refused with nothing stored, thumbnails upright and free of
//! metadata, originals without GPS for anyone but the uploader, the album
//! as a streamed zip, video ranges, comments and album management.

use std::io::Cursor;
use std::path::Path;

use serde_json::Value;

use crate::util::{Browser, OWNER, PASSWORD, Porch, in_ci, shared_fixtures, unescape};

/// A porch with its owner, a contributor in group `family`, a viewer in
/// group `family` and an outsider, each signed in to Photos.
struct Family {
    porch: Porch,
    owner: Browser,
    rita: Browser,
    victor: Browser,
    nora: Browser,
}

pub(crate) async fn person(porch: &Porch, name: &str, args: &[&str]) -> Browser {
    let link = porch.invite(args);
    let b = porch.browser();
    let page = b.join(&link, name, PASSWORD).await;
    assert_eq!(page.status, 303, "{name} could not join: {}", page.body);
    enter(&b).await;
    b
}

/// Opens Photos through porch's handshake.
pub(crate) async fn enter(b: &Browser) {
    let page = b.follow(&b.app_url("photos", "/")).await;
    assert_eq!(page.status, 200, "photos did not open: {}", page.body);
}

async fn family() -> Family {
    let porch = Porch::start();
    let owner = porch.owner().await;
    enter(&owner).await;
    let rita = person(&porch, "Rita Relative", &["--app", "photos:contributor", "--group", "family"]).await;
    let victor = person(&porch, "Victor Viewer", &["--app", "photos:viewer", "--group", "family"]).await;
    let nora = person(&porch, "Nora Nobody", &["--app", "photos:contributor", "--group", "friends"]).await;
    Family { porch, owner, rita, victor, nora }
}

pub(crate) fn app(b: &Browser, path: &str) -> String {
    b.app_url("photos", path)
}

/// Posts a form to the app from its own origin, as its pages do.
pub(crate) async fn post_form(b: &Browser, path: &str, form: &[(&str, &str)]) -> crate::util::Page {
    let origin = app(b, "");
    b.post_from(&app(b, path), form, Some(&origin)).await
}

pub(crate) async fn new_album(b: &Browser, title: &str) -> String {
    let page = post_form(b, "/albums", &[("title", title)]).await;
    assert_eq!(page.status, 303, "create album: {}", page.body);
    let location = page.location.expect("album location");
    location.trim_start_matches("/a/").to_owned()
}

pub(crate) async fn upload(b: &Browser, album: &str, name: &str, bytes: Vec<u8>) -> (u16, Value) {
    let url = app(b, &format!("/a/{album}/upload?name={name}"));
    let page = b.post_upload(&url, bytes).await;
    let value = serde_json::from_str(&page.body).unwrap_or(Value::Null);
    (page.status, value)
}

pub(crate) async fn upload_ok(b: &Browser, album: &str, name: &str, bytes: Vec<u8>) -> String {
    let (status, reply) = upload(b, album, name, bytes).await;
    assert_eq!(status, 200, "upload of {name}: {reply}");
    assert_eq!(reply["ok"], true, "upload of {name}: {reply}");
    reply["id"].as_str().expect("photo id").to_owned()
}

pub(crate) async fn share(b: &Browser, album: &str, form: &[(&str, &str)]) {
    let page = post_form(b, &format!("/a/{album}/share"), form).await;
    assert_eq!(page.status, 303, "share: {}", page.body);
}

/// A person's id, from `porch user list`.
pub(crate) fn person_id(porch: &Porch, name: &str) -> String {
    let out = porch.cli(&["user", "list"]);
    let line = out.stdout.lines().find(|l| l.contains(name)).unwrap_or_else(|| panic!("{name} in {}", out.stdout));
    line.split_whitespace().next().expect("id").to_owned()
}

/// A JPEG made here: a left-to-right gradient with a marker colour.
pub(crate) fn jpeg(width: u32, height: u32, marker: u8) -> Vec<u8> {
    let img =
        image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x * 255 / width) as u8, (y % 256) as u8, marker]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).expect("encode");
    out.into_inner()
}

/// A well-formed PNG (good CRCs) whose header claims `w` x `h` pixels of
/// 8-bit grey over a few bytes of data: a decompression bomb's opening.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let body: Vec<u8> = kind.iter().chain(data).copied().collect();
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    // zlib: one stored block of 16 zero bytes.
    let idat = [&[0x78, 0x01, 0x01, 16, 0, 0xEF, 0xFF][..], &[0u8; 16][..], &[0, 0x10, 0, 0x01][..]].concat();
    chunk(&mut png, b"IDAT", &idat);
    chunk(&mut png, b"IEND", &[]);
    png
}

pub(crate) fn blob_files(data: &Path) -> usize {
    let mut n = 0;
    let Ok(dirs) = std::fs::read_dir(data.join("blobs")) else { return 0 };
    for dir in dirs.flatten() {
        if dir.file_name().len() == 2
            && let Ok(files) = std::fs::read_dir(dir.path())
        {
            n += files.count();
        }
    }
    n
}

fn has_gps(bytes: &[u8]) -> bool {
    match exif::Reader::new().read_from_container(&mut Cursor::new(bytes)) {
        Ok(e) => e.fields().any(|f| f.ifd_num == exif::In::PRIMARY && matches!(f.tag.context(), exif::Context::Gps)),
        Err(_) => false,
    }
}

fn has_exif(bytes: &[u8]) -> bool {
    exif::Reader::new().read_from_container(&mut Cursor::new(bytes)).is_ok()
}

#[tokio::test]
async fn albums_are_visible_only_to_the_people_they_are_shared_with() {
    let f = family().await;
    let album = new_album(&f.rita, "Lake weekend").await;
    let photo = upload_ok(&f.rita, &album, "lake.jpg", jpeg(640, 480, 10)).await;
    // Links are plain paths, not entity-escaped ones (what a scraper, or
    // the durability test, reads).
    let grid = f.rita.get(&app(&f.rita, &format!("/a/{album}"))).await;
    assert!(grid.body.contains(&format!("href=\"/a/{album}/p/{photo}\"")), "{}", grid.body);
    let victor_id = person_id(&f.porch, "Victor Viewer");
    let owner_id = person_id(&f.porch, OWNER);
    share(&f.rita, &album, &[(&format!("person:{victor_id}"), "viewer")]).await;

    // Nora was not shared with: the album and everything in it is 404, and
    // it is not in her list.
    for path in [
        format!("/a/{album}"),
        format!("/a/{album}/grid"),
        format!("/a/{album}/zip"),
        format!("/a/{album}/share"),
        format!("/a/{album}/p/{photo}"),
        format!("/a/{album}/p/{photo}/thumb"),
        format!("/a/{album}/p/{photo}/view"),
        format!("/a/{album}/p/{photo}/original"),
    ] {
        let page = f.nora.get(&app(&f.nora, &path)).await;
        assert_eq!(page.status, 404, "Nora got {path}");
        assert!(!page.body.contains("Lake weekend"), "{path} leaked the title");
    }
    let list = f.nora.get(&app(&f.nora, "/")).await;
    assert!(!list.body.contains("Lake weekend"));
    let (status, _) = upload(&f.nora, &album, "x.jpg", jpeg(64, 64, 1)).await;
    assert_eq!(status, 404, "an outsider cannot upload into an album they cannot see");

    // Victor, shared as viewer, sees it all but cannot upload or manage.
    assert!(f.victor.get(&app(&f.victor, "/")).await.body.contains("Lake weekend"));
    assert_eq!(f.victor.get(&app(&f.victor, &format!("/a/{album}/p/{photo}/thumb"))).await.status, 200);
    let (status, _) = upload(&f.victor, &album, "v.jpg", jpeg(64, 64, 2)).await;
    assert_eq!(status, 403, "a viewer cannot upload");
    let page = post_form(&f.victor, &format!("/a/{album}/rename"), &[("title", "Mine now")]).await;
    assert_eq!(page.status, 403, "a viewer cannot rename");
    assert_eq!(f.victor.get(&app(&f.victor, &format!("/a/{album}/delete"))).await.status, 403);

    // Shared with the family group as contributors: Victor (family) can
    // upload now, Nora (friends) still sees nothing.
    share(&f.rita, &album, &[(&format!("person:{victor_id}"), "viewer"), ("group:family", "contributor")]).await;
    upload_ok(&f.victor, &album, "from-victor.jpg", jpeg(64, 64, 3)).await;
    assert_eq!(f.nora.get(&app(&f.nora, &format!("/a/{album}"))).await.status, 404);

    // The porch owner sees every album and may manage it.
    let page = f.owner.get(&app(&f.owner, &format!("/a/{album}"))).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Delete album"));
    assert!(!page.body.contains(&format!("person:{owner_id}")));

    // Nora's own albums are hers: Rita cannot see them.
    let hers = new_album(&f.nora, "Nora's secrets").await;
    assert_eq!(f.rita.get(&app(&f.rita, &format!("/a/{hers}"))).await.status, 404);
    // A viewer-role person cannot make albums.
    let page = post_form(&f.victor, "/albums", &[("title", "Nope")]).await;
    assert_eq!(page.status, 403);
}

#[tokio::test]
async fn a_file_uploaded_twice_is_stored_once() {
    let f = family().await;
    let album = new_album(&f.rita, "Twice").await;
    let bytes = jpeg(800, 600, 42);
    let first = upload_ok(&f.rita, &album, "a.jpg", bytes.clone()).await;
    let files = blob_files(&f.porch.data());
    let (status, reply) = upload(&f.rita, &album, "a-copy.jpg", bytes).await;
    assert_eq!(status, 200);
    assert_eq!(reply["duplicate"], true, "{reply}");
    assert_eq!(reply["id"], first.as_str());
    assert_eq!(blob_files(&f.porch.data()), files, "nothing new on disk");
    let page = f.rita.get(&app(&f.rita, &format!("/a/{album}"))).await;
    assert!(page.body.contains("1 items") || page.body.contains(">1 items"), "{}", page.body);
    assert_eq!(page.body.matches("class=\"tile\"").count(), 1);
}

#[tokio::test]
async fn bad_files_get_a_clear_error_and_leave_nothing_behind() {
    let f = family().await;
    let album = new_album(&f.rita, "Bad files").await;
    let files_before = blob_files(&f.porch.data());
    let mut truncated = jpeg(1200, 900, 5);
    truncated.truncate(truncated.len() / 2);
    let bomb = png_claiming(30_000, 30_000);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("garbage.jpg", b"this is not a photo at all, just text pretending".to_vec(), "not a photo or video"),
        ("empty.jpg", Vec::new(), "empty"),
        ("half.jpg", truncated, "cannot be used as a photo"),
        ("bomb.png", bomb, "pixels"),
    ];
    for (name, bytes, says) in cases {
        let (status, reply) = upload(&f.rita, &album, name, bytes).await;
        assert!(status >= 400, "{name} was accepted: {reply}");
        assert_eq!(reply["ok"], false, "{name}: {reply}");
        let error = reply["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{name}: {error}");
    }
    assert_eq!(blob_files(&f.porch.data()), files_before, "a refused upload left a file behind");
    let page = f.rita.get(&app(&f.rita, &format!("/a/{album}"))).await;
    assert!(page.body.contains("No photos yet"));
}

#[tokio::test]
async fn camera_photos_come_out_upright_and_without_gps_for_others() {
    let Some(fixtures) = shared_fixtures() else {
        assert!(!in_ci(), "../shared/fixtures is missing; CI always has it");
        eprintln!("\n!!! SKIPPING FIXTURE TEST: ../shared/fixtures is not beside this checkout !!!\n");
        return;
    };
    let photos = fixtures.join("photos");
    let f = family().await;
    let album = new_album(&f.rita, "Fixtures").await;
    share(&f.rita, &album, &[("group:family", "viewer")]).await;

    // Every orientation: the thumbnail is landscape and matches the upright
    // reference pixel for pixel (within JPEG noise).
    let mut reference: Option<image::RgbImage> = None;
    for n in 1..=8 {
        let name = format!("landscape_{n}.jpg");
        let bytes = std::fs::read(photos.join("orientation").join(&name)).expect("fixture");
        let id = upload_ok(&f.rita, &album, &name, bytes).await;
        let thumb = f.victor.get_bytes(&app(&f.victor, &format!("/a/{album}/p/{id}/thumb"))).await;
        assert!(!has_exif(&thumb), "{name}: thumbnail carries EXIF");
        let img = image::load_from_memory(&thumb).expect("thumb decodes").to_rgb8();
        assert!(img.width() > img.height(), "{name} is not upright: {}x{}", img.width(), img.height());
        match &reference {
            None => reference = Some(img),
            Some(r) => {
                let same_size = r.dimensions() == img.dimensions();
                assert!(same_size, "{name}: {:?} vs {:?}", img.dimensions(), r.dimensions());
                let diff: f64 = r
                    .pixels()
                    .zip(img.pixels())
                    .map(|(a, b)| a.0.iter().zip(b.0.iter()).map(|(x, y)| f64::from(x.abs_diff(*y))).sum::<f64>())
                    .sum::<f64>()
                    / (f64::from(r.width()) * f64::from(r.height()) * 3.0);
                assert!(diff < 20.0, "{name} differs from landscape_1 by {diff:.1} per channel");
            }
        }
    }

    // GPS photos: the uploader gets their file back byte for byte; anyone
    // else gets it without GPS, and no preview has metadata at all.
    for entry in std::fs::read_dir(photos.join("gps")).expect("gps fixtures").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let bytes = std::fs::read(entry.path()).expect("fixture");
        assert!(has_gps(&bytes), "{name} should have GPS to begin with");
        let id = upload_ok(&f.rita, &album, &name, bytes.clone()).await;
        let base = format!("/a/{album}/p/{id}");
        let own = f.rita.get_bytes(&app(&f.rita, &format!("{base}/original"))).await;
        assert_eq!(own, bytes, "{name}: the uploader's own original changed");
        let theirs = f.victor.get_bytes(&app(&f.victor, &format!("{base}/original"))).await;
        assert!(!has_gps(&theirs), "{name}: GPS survived in the original another person downloaded");
        let owners = f.owner.get_bytes(&app(&f.owner, &format!("{base}/original"))).await;
        assert!(!has_gps(&owners), "{name}: GPS survived for the porch owner");
        for derived in ["thumb", "view"] {
            let d = f.victor.get_bytes(&app(&f.victor, &format!("{base}/{derived}"))).await;
            assert!(!has_exif(&d), "{name}: {derived} carries EXIF");
        }
    }

    // The photo page shows the taken-at date from EXIF.
    let id =
        upload_ok(&f.rita, &album, "canon.jpg", std::fs::read(photos.join("cameras/Canon_40D.jpg")).expect("fixture"))
            .await;
    let page = f.victor.get(&app(&f.victor, &format!("/a/{album}/p/{id}"))).await;
    assert!(page.body.contains("id=\"taken\">Taken "), "{}", page.body);

    // Broken files: damaged pixel data is refused with nothing stored; the
    // files whose metadata is odd but whose image is sound are kept.
    let files = blob_files(&f.porch.data());
    let (status, reply) =
        upload(&f.rita, &album, "corrupted.jpg", std::fs::read(photos.join("invalid/corrupted.jpg")).expect("fixture"))
            .await;
    assert!(status >= 400, "corrupted.jpg was accepted: {reply}");
    assert!(reply["error"].as_str().unwrap_or_default().contains("corrupted.jpg cannot be used as a photo"), "{reply}");
    assert_eq!(blob_files(&f.porch.data()), files);
    for dir in ["invalid", "odd"] {
        for entry in std::fs::read_dir(photos.join(dir)).expect("fixtures").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "corrupted.jpg" {
                continue;
            }
            let (status, reply) = upload(&f.rita, &album, &name, std::fs::read(entry.path()).expect("read")).await;
            if status == 200 {
                let id = reply["id"].as_str().expect("id");
                let thumb = f.victor.get_bytes(&app(&f.victor, &format!("/a/{album}/p/{id}/thumb"))).await;
                image::load_from_memory(&thumb).unwrap_or_else(|e| panic!("{dir}/{name} kept but no thumbnail: {e}"));
            } else {
                assert!(reply["error"].as_str().is_some_and(|e| e.contains(&name)), "{dir}/{name}: {reply}");
            }
        }
    }
}

#[tokio::test]
async fn the_whole_album_downloads_as_a_zip() {
    let f = family().await;
    let album = new_album(&f.rita, "Zip me").await;
    share(&f.rita, &album, &[("group:family", "viewer")]).await;
    let a = jpeg(300, 200, 1);
    let b = jpeg(200, 300, 2);
    let video = crate::util::sample_video(3_000_000);
    upload_ok(&f.rita, &album, "same.jpg", a.clone()).await;
    upload_ok(&f.rita, &album, "same.jpg", b.clone()).await;
    let clip = upload_ok(&f.rita, &album, "clip.mp4", video.clone()).await;

    let bytes = f.victor.get_bytes(&app(&f.victor, &format!("/a/{album}/zip"))).await;
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).expect("a readable zip");
    let mut names: Vec<String> =
        (0..archive.len()).map(|i| archive.by_index(i).expect("entry").name().expect("name").into_owned()).collect();
    names.sort();
    assert_eq!(names, ["clip.mp4", "same (2).jpg", "same.jpg"]);
    let mut contents = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).expect("entry");
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).expect("entry reads with a good CRC");
        contents.push(data);
    }
    // Victor gets the video as he plays it: the same length, cleaned of
    // where and on what it was filmed.
    let played = f.victor.get_bytes(&app(&f.victor, &format!("/a/{album}/p/{clip}/play"))).await;
    assert_eq!(played.len(), video.len());
    assert!(contents.contains(&played), "the video went into the zip as Victor plays it");
    assert!(contents.iter().any(|c| image::load_from_memory(c).is_ok_and(|i| i.width() == 300)));

    // Videos play with byte ranges, so a player can seek.
    let page = f
        .victor
        .get_with_headers(&app(&f.victor, &format!("/a/{album}/p/{clip}/play")), &[("range", "bytes=100-199")])
        .await;
    assert_eq!(page.status, 206);
    assert_eq!(
        page.headers.get("content-range").and_then(|v| v.to_str().ok()),
        Some(format!("bytes 100-199/{}", video.len()).as_str())
    );
    let page = f
        .victor
        .get_with_headers(&app(&f.victor, &format!("/a/{album}/p/{clip}/play")), &[("range", "bytes=99999999-")])
        .await;
    assert_eq!(page.status, 416);
}

#[tokio::test]
async fn albums_are_renamed_covered_commented_and_deleted() {
    let f = family().await;
    let album = new_album(&f.rita, "Draft").await;
    share(&f.rita, &album, &[("group:family", "viewer")]).await;
    let first = upload_ok(&f.rita, &album, "one.jpg", jpeg(320, 240, 1)).await;
    let second = upload_ok(&f.rita, &album, "two.jpg", jpeg(320, 240, 2)).await;

    let page = post_form(&f.rita, &format!("/a/{album}/rename"), &[("title", "Final <title>")]).await;
    assert_eq!(page.status, 303);
    let list = f.victor.get(&app(&f.victor, "/")).await;
    assert!(list.body.contains("Final &lt;title&gt;"), "{}", list.body);
    assert!(list.body.contains(&format!("/a/{album}/p/{first}/thumb")), "the first photo is the cover");
    assert!(list.body.contains("2 items"));
    post_form(&f.rita, &format!("/a/{album}/cover"), &[("photo", &second)]).await;
    let list = f.victor.get(&app(&f.victor, "/")).await;
    assert!(list.body.contains(&format!("/a/{album}/p/{second}/thumb")), "the chosen cover");

    // Photo pages step through the album.
    let page = f.victor.get(&app(&f.victor, &format!("/a/{album}/p/{first}"))).await;
    assert!(page.body.contains(&format!("rel=\"next\" href=\"/a/{album}/p/{second}\"")), "{}", page.body);
    let page = f.victor.get(&app(&f.victor, &format!("/a/{album}/p/{second}"))).await;
    assert!(page.body.contains(&format!("rel=\"prev\" href=\"/a/{album}/p/{first}\"")));

    // A viewer comments; the text is escaped.
    let page = post_form(&f.victor, &format!("/a/{album}/p/{first}/comment"), &[("text", "Lovely <b>day</b>")]).await;
    assert_eq!(page.status, 303);
    let page = f.rita.get(&app(&f.rita, &format!("/a/{album}/p/{first}"))).await;
    assert!(
        page.body.contains("Lovely &lt;b&gt;day&lt;&#x2f;b&gt;") || page.body.contains("Lovely &lt;b&gt;day&lt;/b&gt;")
    );
    assert!(page.body.contains("Victor Viewer"));

    // A sibling app's page cannot post to Photos (same site, other origin).
    let hostile_origin = f.victor.app_url("hello", "");
    let page = f
        .victor
        .post_from(
            &app(&f.victor, &format!("/a/{album}/p/{first}/comment")),
            &[("text", "forged")],
            Some(&hostile_origin),
        )
        .await;
    assert_eq!(page.status, 403, "regression: cross-origin posts between sibling app hosts reached the app");

    // Deleting asks first, then removes the album and its files.
    let page = f.rita.get(&app(&f.rita, &format!("/a/{album}/delete"))).await;
    assert!(unescape(&page.body).contains("cannot be undone"));
    let files = blob_files(&f.porch.data());
    assert!(files > 0);
    let page = post_form(&f.rita, &format!("/a/{album}/delete"), &[]).await;
    assert_eq!(page.status, 303);
    assert_eq!(f.victor.get(&app(&f.victor, &format!("/a/{album}"))).await.status, 404);
    assert_eq!(f.rita.get(&app(&f.rita, &format!("/a/{album}/p/{first}/thumb"))).await.status, 404);
    assert_eq!(blob_files(&f.porch.data()), 0, "the album's files are gone from disk");
}

#[tokio::test]
async fn a_big_album_pages_its_grid() {
    let f = family().await;
    let album = new_album(&f.rita, "Many").await;
    let tiny = |i: u32| {
        let img = image::RgbImage::from_pixel(8, 8, image::Rgb([(i % 256) as u8, (i / 256) as u8, 7]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).expect("png");
        out.into_inner()
    };
    for i in 0..70 {
        upload_ok(&f.rita, &album, &format!("{i}.png"), tiny(i)).await;
    }
    let page = f.rita.get(&app(&f.rita, &format!("/a/{album}"))).await;
    assert_eq!(page.body.matches("class=\"tile\"").count(), 60, "one page of tiles");
    let more = crate::util::between(&page.body, "data-grid=\"", "\"").expect("a link to the next page");
    let next = f.rita.get(&app(&f.rita, &unescape(&more))).await;
    assert_eq!(next.body.matches("class=\"tile\"").count(), 10);
    assert!(!next.body.contains("data-grid"), "the last page has no next");
}

#[tokio::test]
async fn lost_retry_an_upload_cut_off_half_way_never_makes_a_retry_say_already_here() {
    // Regression (crash test, not in the review): an upload cut off after
    // claiming its content hash (a crash, a timeout) left a `pending:` claim
    // that counted as live for an hour, and a retry of the file was answered
    // "already in this album" with no photo there. Now a hash names a photo
    // only once that photo is recorded, and a leftover claim counts for
    // nothing, however new.
    let f = family().await;
    let album = new_album(&f.rita, "Retry").await;
    let bytes = jpeg(320, 240, 77);
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    let store = porch::store::Store::open(&f.porch.data()).await.expect("store");
    let key = format!("a/{album}/h/{sha}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let left = format!("pending:00000000000000aa:{now}");
    store.kv_set("photos", &key, left.as_bytes(), u64::MAX).await.expect("kv").expect("quota");
    let (status, reply) = upload(&f.rita, &album, "a.jpg", bytes.clone()).await;
    assert_eq!((status, &reply["duplicate"]), (200, &Value::Bool(false)), "stored, not 'already here': {reply}");
    let id = reply["id"].as_str().expect("id").to_owned();
    assert_eq!(store.kv_get("photos", &key).await.expect("kv"), Some(id.clone().into_bytes()));
    // A key naming a photo that is gone counts for nothing either.
    store
        .kv_set("photos", &key, b"00000000000-0000000000000-00000000000000cc", u64::MAX)
        .await
        .expect("kv")
        .expect("q");
    let (_, again) = upload(&f.rita, &album, "a.jpg", bytes.clone()).await;
    assert_eq!(again["duplicate"], false, "{again}");
    // The real duplicate is still found, and names a photo that exists.
    let (_, dup) = upload(&f.rita, &album, "a.jpg", bytes).await;
    assert_eq!(dup["duplicate"], true, "{dup}");
    let dup_id = dup["id"].as_str().expect("id");
    assert_eq!(f.rita.get(&app(&f.rita, &format!("/a/{album}/p/{dup_id}"))).await.status, 200);
    let page = f.rita.get(&app(&f.rita, &format!("/a/{album}"))).await;
    assert_eq!(page.body.matches("class=\"tile\"").count(), 2, "the first copy and the retry");
}

/// Issue 24, sharing in one step: "Invite someone new" on an album's Share
/// page makes a single-use link (with a QR code) that admits one new
/// person, lands them in that album and shows them it and nothing else.
/// The invite is porch's: audited, listed under Admin → Invites with the
/// app and the person who made it, dead once used.
#[tokio::test]
async fn an_album_is_shared_with_someone_new_in_one_step() {
    let f = family().await;
    let album = new_album(&f.rita, "Beach 2026").await;
    upload_ok(&f.rita, &album, "sea.jpg", jpeg(400, 300, 1)).await;
    let private = new_album(&f.rita, "Only mine").await;

    let share = f.rita.get(&app(&f.rita, &format!("/a/{album}/share"))).await;
    assert!(share.body.contains("Invite someone new"), "{}", share.body);
    let made = post_form(&f.rita, &format!("/a/{album}/invite"), &[("note", "Aunt May"), ("role", "viewer")]).await;
    assert_eq!(made.status, 200, "{}", made.body);
    let link = crate::util::between(&made.body, "id=\"invite-link\" class=\"copy\" value=\"", "\"").expect("the link");
    assert!(link.contains("/join/"), "{link}");
    assert!(made.body.contains("<svg"), "a QR code to scan");

    // Aunt May, on her own phone: one form, and she is in the album.
    let may = f.porch.browser();
    let joined = may.join(&link, "May", PASSWORD).await;
    assert_eq!(joined.status, 303, "{}", joined.body);
    // The start page sends her on (a redirect off porch's origin after a
    // form is what browsers refuse under `form-action 'self'`).
    let start = may.get(&joined.location.expect("where she lands")).await;
    let lands =
        crate::util::between(&start.body, "<meta http-equiv=\"refresh\" content=\"0; url=", "\"").expect("sent on");
    assert_eq!(crate::util::unescape(&lands), app(&may, &format!("/a/{album}")));
    let page = may.follow(&crate::util::unescape(&lands)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Beach 2026") && page.body.contains("/thumb"), "{}", page.body);
    let list = may.follow(&app(&may, "/")).await;
    assert!(list.body.contains("Beach 2026") && !list.body.contains("Only mine"), "{}", list.body);
    assert_eq!(may.get(&app(&may, &format!("/a/{private}"))).await.status, 404);
    let (status, reply) = upload(&may, &album, "mine.jpg", jpeg(10, 10, 2)).await;
    assert_eq!(status, 403, "a viewer adds nothing: {reply}");

    // The link worked once; Rita's share page now has May as a viewer.
    let dead = f.porch.browser().get(&link).await;
    assert!(matches!(dead.status, 404 | 429) && !dead.body.contains("password"), "a used link is dead: {}", dead.body);
    let share = f.rita.get(&app(&f.rita, &format!("/a/{album}/share"))).await;
    assert!(!share.body.contains("Invited, not here yet"), "{}", share.body);
    let row = crate::util::between(&share.body, "<td>May</td>", "</tr>").expect("May's row");
    assert!(row.contains("value=\"viewer\" selected"), "{row}");

    // The owner sees who made it through which app, and the audit log has it.
    let invites = f.owner.get("/admin/invites").await;
    assert!(
        invites.body.contains("by Rita Relative") && invites.body.contains("through the app photos"),
        "{}",
        invites.body
    );
    let audit = f.porch.cli(&["audit", "--limit", "50"]).stdout;
    assert!(audit.contains("made through the app photos"), "{audit}");

    // An invite nobody used yet can be taken back.
    let made = post_form(&f.rita, &format!("/a/{album}/invite"), &[("note", "Cousin"), ("role", "contributor")]).await;
    let second = crate::util::between(&made.body, "id=\"invite-link\" class=\"copy\" value=\"", "\"").expect("link");
    let share = f.rita.get(&app(&f.rita, &format!("/a/{album}/share"))).await;
    assert!(share.body.contains("Cousin"), "{}", share.body);
    let id = crate::util::between(&share.body, "/invite/", "/revoke").expect("revoke form");
    let back = post_form(&f.rita, &format!("/a/{album}/invite/{id}/revoke"), &[]).await;
    assert_eq!(back.status, 303, "{}", back.body);
    let dead = f.porch.browser().get(&second).await;
    assert!(
        matches!(dead.status, 404 | 429) && !dead.body.contains("password"),
        "a revoked link is dead: {}",
        dead.body
    );
}

/// `invites.from_apps` is the owner's: with it empty, no app role invites.
#[tokio::test]
async fn the_owner_decides_who_may_invite_through_an_app() {
    let porch = Porch::start_with_config("[invites]\nfrom_apps = \"\"\n", "127.0.0.1:0");
    let owner = porch.owner().await;
    enter(&owner).await;
    let rita = person(&porch, "Rita Relative", &["--app", "photos:contributor"]).await;
    let album = new_album(&rita, "Ours").await;
    let refused = post_form(&rita, &format!("/a/{album}/invite"), &[("note", "May"), ("role", "viewer")]).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("has not let people invite through this app"), "{}", refused.body);
    // porch's owners still may.
    let own = new_album(&owner, "Owner's").await;
    let made = post_form(&owner, &format!("/a/{own}/invite"), &[("note", "May"), ("role", "contributor")]).await;
    assert_eq!(made.status, 200, "{}", made.body);
}

/// Issue 24 (a home that looks like the family's): the start page shows,
/// under Photos, the albums this person can see with small covers, and
/// nothing of albums not shared with them.
#[tokio::test]
async fn the_start_page_shows_the_albums_a_person_can_see_with_covers() {
    let f = family().await;
    let beach = new_album(&f.rita, "Beach 2026").await;
    upload_ok(&f.rita, &beach, "sea.jpg", jpeg(1200, 900, 1)).await;
    new_album(&f.rita, "Rita's secret").await;
    let victor = format!("person:{}", person_id(&f.porch, "Victor Viewer"));
    let share = post_form(&f.rita, &format!("/a/{beach}/share"), &[(victor.as_str(), "viewer")]).await;
    assert_eq!(share.status, 303);

    let home = f.rita.get("/").await;
    let cards = crate::util::between(&home.body, "id=\"cards-photos\"", "</section>").expect("Photos' cards");
    assert!(cards.contains("Beach 2026") && cards.contains("1 photo"), "{cards}");
    assert!(cards.contains("Rita&#x27;s secret") || cards.contains("Rita's secret"), "her own albums too: {cards}");
    assert!(cards.contains("src=\"data:image/jpeg;base64,"), "a cover: {cards}");
    assert!(cards.contains(&format!("{}\"", app(&f.rita, &format!("/a/{beach}")))), "{cards}");
    let csp = home.headers["content-security-policy"].to_str().expect("csp");
    assert!(csp.contains("img-src 'self' data:"), "{csp}");

    // Victor sees the album shared with him, not Rita's own.
    let victor = f.victor.get("/").await;
    assert!(victor.body.contains("Beach 2026") && !victor.body.contains("secret"), "{}", victor.body);

    // Nora sees neither album; her start page has no cards for Photos.
    let nora = f.nora.get("/").await;
    assert!(!nora.body.contains("Beach 2026") && !nora.body.contains("secret"), "{}", nora.body);
}

/// An app whose start-page cards never come (it loops) costs the start page
/// at most its wait, and the page still comes.
#[tokio::test]
async fn an_app_that_hangs_on_its_cards_does_not_hold_up_the_start_page() {
    let porch = Porch::start();
    let owner = porch.owner().await;
    let manifest = "id = \"hostile\"\nname = \"Hostile\"\nversion = \"0.2.0\"\ncomponent = \"hostile.wasm\"\n\
                    roles = [\"victim\"]\nhome = \"/loop\"\n[capabilities]\nkv = { quota = \"64KiB\" }\n\
                    blobs = { quota = \"1MiB\" }\npeople = true\nmedia = true\n[limits]\ntime = \"30s\"\n";
    let key = porch.author_key("looper");
    let package = porch.pack(&porch.app_variant("hostile", "home-loop", manifest), &key);
    assert!(porch.install_package(&package).success);
    porch.grant(OWNER, "hostile:victim");
    let started = std::time::Instant::now();
    let home = owner.get("/").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("Hostile") && !home.body.contains("cards-hostile"), "{}", home.body);
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "took {:?}", started.elapsed());
}

/// Issue 24: Photos installs to a phone's home screen as its own app (its
/// own manifest, opening standalone at the album list, porch's icons).
#[tokio::test]
async fn photos_can_be_added_to_a_phones_home_screen() {
    let porch = Porch::start();
    let owner = porch.owner().await;
    let page = owner.follow(&app(&owner, "/")).await;
    let href = crate::util::between(&page.body, "<link rel=\"manifest\" href=\"", "\"").expect("a manifest link");
    let manifest = owner.get(&app(&owner, &href)).await;
    assert_eq!(manifest.status, 200);
    assert!(manifest.headers["content-type"].to_str().expect("type").starts_with("application/manifest+json"));
    let json: Value = serde_json::from_str(&manifest.body).expect("valid JSON");
    assert_eq!((json["name"].as_str(), json["display"].as_str()), (Some("Photos"), Some("standalone")));
    for icon in json["icons"].as_array().expect("icons") {
        let src = icon["src"].as_str().expect("src");
        let bytes = owner.get_bytes(&app(&owner, src)).await;
        assert!(image::load_from_memory(&bytes).is_ok(), "{src} is a real image on Photos' host");
    }
}

/// Issue 24: "Share → Photos" from a phone's gallery. Photos' manifest
/// names its share target; the files the phone sends wait in the person's
/// inbox (checked like uploads: a file that is not a photo is refused and
/// leaves nothing), and land in the album they pick, or a new one.
#[tokio::test]
async fn photos_shared_from_a_phones_gallery_go_into_the_album_picked() {
    let f = family().await;
    let page = f.rita.follow(&app(&f.rita, "/")).await;
    let href = crate::util::between(&page.body, "<link rel=\"manifest\" href=\"", "\"").expect("manifest");
    let manifest: Value = serde_json::from_str(&f.rita.get(&app(&f.rita, &href)).await.body).expect("json");
    let target = &manifest["share_target"];
    assert_eq!((target["action"].as_str(), target["method"].as_str()), (Some("/share"), Some("POST")));
    assert_eq!(target["enctype"], "multipart/form-data");
    let field = target["params"]["files"][0]["name"].as_str().expect("the files' field").to_owned();

    let album = new_album(&f.rita, "Garden").await;
    let files = [("rose.jpg", jpeg(800, 600, 1)), ("tulip.jpg", jpeg(640, 480, 2))];
    let sent = f.rita.share_files(&app(&f.rita, "/share"), &field, &files).await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let pick = f.rita.follow(&app(&f.rita, "/share")).await;
    assert!(pick.body.contains("Add 2 files") && pick.body.contains("rose.jpg"), "{}", pick.body);
    assert!(pick.body.contains("Garden"), "{}", pick.body);
    let added = post_form(&f.rita, "/share/add", &[("album", album.as_str())]).await;
    assert_eq!(added.status, 303, "{}", added.body);
    assert_eq!(added.location.as_deref(), Some(format!("/a/{album}").as_str()));
    let grid = f.rita.get(&app(&f.rita, &format!("/a/{album}"))).await;
    assert_eq!(grid.body.matches("/thumb").count(), 2, "{}", grid.body);
    assert!(f.rita.get(&app(&f.rita, "/share")).await.body.contains("Nothing to add"), "the inbox is empty");

    // Into a new album, in the same step.
    f.rita.share_files(&app(&f.rita, "/share"), &field, &[("sun.jpg", jpeg(300, 200, 3))]).await;
    let made = post_form(&f.rita, "/share/add", &[("album", ""), ("title", "Holiday")]).await;
    assert_eq!(made.status, 303, "{}", made.body);
    let holiday = f.rita.get(&app(&f.rita, made.location.as_deref().expect("album"))).await;
    assert!(holiday.body.contains("Holiday") && holiday.body.contains("/thumb"), "{}", holiday.body);

    // Something that is not a photo is refused at once and leaves nothing.
    let before = blob_files(&f.porch.data());
    let bad =
        f.rita.share_files(&app(&f.rita, "/share"), &field, &[("notes.txt", b"just some text here".to_vec())]).await;
    assert_eq!(bad.status, 415, "{}", bad.body);
    assert!(bad.body.contains("not a photo or video"), "{}", bad.body);
    assert_eq!(blob_files(&f.porch.data()), before);
}

/// Issue 24, with real phone and camera files: "Share → Photos" with
/// photos from four cameras and a GPS-tagged one lands them all in the
/// album picked, each with a thumbnail; a corrupt JPEG shared next is
/// refused by name when it is added, and leaves nothing behind.
#[tokio::test]
async fn real_camera_photos_shared_from_a_phone_land_in_the_album() {
    let Some(fixtures) = crate::util::shared_fixtures() else {
        assert!(!crate::util::in_ci(), "../shared/fixtures is missing; CI always has it");
        eprintln!("\n!!! SKIPPING FIXTURE TEST: ../shared/fixtures is not beside this checkout !!!\n");
        return;
    };
    let photos = fixtures.join("photos");
    let f = family().await;
    let album = new_album(&f.rita, "From my phone").await;
    let names = ["cameras/Canon_40D.jpg", "cameras/HMD_Nokia_8.3_5G.jpg", "cameras/Nikon_D70.jpg", "gps/DSCN0010.jpg"];
    let files: Vec<(&str, Vec<u8>)> =
        names.iter().map(|n| (*n, std::fs::read(photos.join(n)).expect("fixture"))).collect();
    let sent = f.rita.share_files(&app(&f.rita, "/share"), "media", &files).await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let added = post_form(&f.rita, "/share/add", &[("album", album.as_str())]).await;
    assert_eq!(added.status, 303, "{}", added.body);
    let grid = f.rita.get(&app(&f.rita, &format!("/a/{album}"))).await;
    assert_eq!(grid.body.matches("/thumb").count(), names.len(), "{}", grid.body);
    for thumb in grid.body.split("src=\"").skip(1).filter_map(|s| s.split('"').next()).filter(|s| s.contains("/thumb"))
    {
        let bytes = f.rita.get_bytes(&app(&f.rita, &crate::util::unescape(thumb))).await;
        assert!(image::load_from_memory(&bytes).is_ok(), "{thumb} is a real image");
    }

    let before = blob_files(&f.porch.data());
    let corrupt = std::fs::read(photos.join("invalid/corrupted.jpg")).expect("fixture");
    let bad = f.rita.share_files(&app(&f.rita, "/share"), "media", &[("corrupted.jpg", corrupt)]).await;
    assert_eq!(bad.status, 303, "the share itself is taken: the phone has no page to show an error on");
    let refused = post_form(&f.rita, "/share/add", &[("album", album.as_str())]).await;
    assert_eq!(refused.status, 415, "{}", refused.body);
    assert!(refused.body.contains("corrupted.jpg cannot be used as a photo"), "{}", refused.body);
    assert!(f.rita.follow(&app(&f.rita, "/share")).await.body.contains("Nothing to add"), "the inbox is cleared");
    let grid = f.rita.get(&app(&f.rita, &format!("/a/{album}"))).await;
    assert_eq!(grid.body.matches("/thumb").count(), names.len(), "the album is as it was");
    assert_eq!(blob_files(&f.porch.data()), before, "and leaves nothing");
}
