//! Resumable uploads (issue 25, "uploads that survive"): tus 1.0 at an app
//! host's `/.porch/uploads`, through the real server. Parts that go where
//! porch says the upload stands, a connection cut mid-part by a proxy that
//! resumes from the bytes porch kept, uploads that are the sender's own,
//! unfinished uploads that reserve quota, lapse and are never shown, and
//! the finished file claimed by Photos byte for byte.

use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::photos::{app, enter, new_album, person};
use crate::util::{Browser, Cut, Page, Porch, Proxy, sample_video};

fn tus(extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut headers = vec![("tus-resumable", "1.0.0".to_owned())];
    headers.extend_from_slice(extra);
    headers
}

fn header(page: &Page, name: &str) -> String {
    page.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// Opens an upload of `length` bytes; its full URL.
async fn open(b: &Browser, length: usize) -> String {
    let page = b.send("POST", &app(b, "/.porch/uploads"), &tus(&[("upload-length", length.to_string())]), vec![]).await;
    let page = page.expect("answer");
    assert_eq!(page.status, 201, "{}", page.body);
    let location = page.location.expect("Location");
    assert!(location.starts_with("/.porch/uploads/"), "{location}");
    app(b, &location)
}

async fn offset(b: &Browser, url: &str) -> (u16, Option<u64>) {
    let page = b.send("HEAD", url, &tus(&[]), vec![]).await.expect("answer");
    (page.status, header(&page, "upload-offset").parse().ok())
}

async fn patch(b: &Browser, url: &str, at: usize, bytes: &[u8]) -> Option<Page> {
    let headers =
        tus(&[("upload-offset", at.to_string()), ("content-type", "application/offset+octet-stream".to_owned())]);
    b.send("PATCH", url, &headers, bytes.to_vec()).await
}

/// Asks Photos to take the finished upload at `url` into `album`.
async fn claim(b: &Browser, album: &str, name: &str, url: &str) -> (u16, Value) {
    let id = url.rsplit('/').next().expect("id");
    let target = app(b, &format!("/a/{album}/upload?name={name}&upload={id}"));
    let page = b.send("POST", &target, &[("accept", "application/json".to_owned())], vec![]).await.expect("answer");
    (page.status, serde_json::from_str(&page.body).unwrap_or(Value::Null))
}

fn upload_files(porch: &Porch) -> usize {
    std::fs::read_dir(porch.data().join("blobs/uploads")).map_or(0, |d| d.count())
}

#[tokio::test]
async fn an_upload_goes_on_where_porch_says_it_stands_and_is_the_senders_own() {
    let porch = Porch::start();
    let owner = porch.owner().await;
    enter(&owner).await;
    let vera = person(&porch, "Vera", &["--app", "photos:contributor"]).await;
    let album = new_album(&owner, "Long video").await;
    let video = sample_video(1 << 20);
    let half = video.len() / 2;

    // What porch speaks, and what it refuses.
    let options = owner.send("OPTIONS", &app(&owner, "/.porch/uploads"), &[], vec![]).await.expect("answer");
    assert_eq!(options.status, 204);
    assert_eq!(header(&options, "tus-version"), "1.0.0");
    assert!(header(&options, "tus-extension").contains("creation"));
    assert_eq!(header(&options, "tus-max-size"), (8u64 << 30).to_string(), "Photos' limits.request_body");
    let plain = owner.send("POST", &app(&owner, "/.porch/uploads"), &[("upload-length", "5".into())], vec![]).await;
    assert_eq!(plain.expect("answer").status, 412, "a request that is not tus 1.0.0");
    let huge = [("upload-length", ((8u64 << 30) + 1).to_string())];
    let huge = owner.send("POST", &app(&owner, "/.porch/uploads"), &tus(&huge), vec![]).await.expect("answer");
    assert_eq!(huge.status, 413);
    assert!(huge.body.contains("larger than 8 GiB"), "{}", huge.body);

    let url = open(&owner, video.len()).await;
    assert_eq!(offset(&owner, &url).await, (200, Some(0)));
    let wrong_type = owner
        .send("PATCH", &url, &tus(&[("upload-offset", "0".into()), ("content-type", "video/mp4".into())]), vec![1])
        .await
        .expect("answer");
    assert_eq!(wrong_type.status, 415);
    let first = patch(&owner, &url, 0, &video[..half]).await.expect("answer");
    assert_eq!(first.status, 204, "{}", first.body);
    assert_eq!(header(&first, "upload-offset"), half.to_string());
    assert!(!header(&first, "upload-expires").is_empty());
    // A part sent again from the start is refused with where it stands.
    let again = patch(&owner, &url, 0, &video[..half]).await.expect("answer");
    assert_eq!((again.status, header(&again, "upload-offset")), (409, half.to_string()));
    let past = patch(&owner, &url, half, &video).await.expect("answer");
    assert_eq!(past.status, 400, "a part past Upload-Length");
    assert_eq!(offset(&owner, &url).await, (200, Some(half as u64)), "nothing of it was kept");

    // Another person cannot see, add to, claim or end it.
    assert_eq!(offset(&vera, &url).await.0, 404);
    let foreign = app(&vera, url.trim_start_matches(&app(&owner, "")));
    assert_eq!(patch(&vera, &foreign, half, &video[half..]).await.expect("answer").status, 404);
    assert_eq!(vera.send("DELETE", &foreign, &tus(&[]), vec![]).await.expect("answer").status, 404);
    let (status, reply) = claim(&vera, &album, "clip.mp4", &url).await;
    assert_ne!(status, 200, "{reply}");

    // Not finished: the album does not take it, and shows nothing.
    let (status, reply) = claim(&owner, &album, "clip.mp4", &url).await;
    assert_eq!(status, 422, "{reply}");
    assert!(reply["error"].as_str().unwrap_or_default().contains("not finished"), "{reply}");
    let page = owner.get(&app(&owner, &format!("/a/{album}"))).await;
    assert!(!page.body.contains("class=\"tile"), "a half-sent file is never shown");

    let rest = patch(&owner, &url, half, &video[half..]).await.expect("answer");
    assert_eq!((rest.status, header(&rest, "upload-offset")), (204, video.len().to_string()));
    let (status, reply) = claim(&owner, &album, "clip.mp4", &url).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["kind"], "video");
    let photo = reply["id"].as_str().expect("id");
    let original = owner.get_bytes(&app(&owner, &format!("/a/{album}/p/{photo}/original"))).await;
    assert_eq!(Sha256::digest(&original), Sha256::digest(&video), "the uploader's bytes, unchanged");
    // Claimed: the upload is gone, its file moved into the blobs.
    assert_eq!(offset(&owner, &url).await.0, 404);
    assert_eq!(upload_files(&porch), 0);

    // Not a photo: refused by name, and nothing is left of it.
    let junk = b"just some text, not a picture at all".repeat(100);
    let url = open(&owner, junk.len()).await;
    assert_eq!(patch(&owner, &url, 0, &junk).await.expect("answer").status, 204);
    let (status, reply) = claim(&owner, &album, "notes.txt", &url).await;
    assert_eq!(status, 415, "{reply}");
    assert_eq!(offset(&owner, &url).await.0, 404);
    assert_eq!(upload_files(&porch), 0);

    // Ended by its sender.
    let url = open(&owner, 10).await;
    let ended = owner.send("DELETE", &url, &tus(&[]), vec![]).await.expect("answer");
    assert_eq!(ended.status, 204);
    assert_eq!(offset(&owner, &url).await.0, 404);
    assert_eq!(upload_files(&porch), 0);
}

#[tokio::test]
async fn a_connection_cut_mid_part_resumes_from_the_bytes_porch_kept() {
    let porch = Porch::start();
    let owner = porch.owner().await;
    enter(&owner).await;
    let album = new_album(&owner, "Patchy Wi-Fi").await;
    let video = sample_video(2 << 20);
    let url = open(&owner, video.len()).await;

    // The whole file in one part, through a network that breaks after a
    // MiB: no answer comes back, but what arrived is kept.
    let proxy = Proxy::start(porch.port(), Cut::DropAfter(1 << 20));
    let through = owner.via_proxy(&proxy.url);
    assert!(patch(&through, &url, 0, &video).await.is_none_or(|p| p.status != 204), "the part was cut");
    let mut kept = None;
    for _ in 0..50 {
        let (status, at) = offset(&owner, &url).await;
        assert_eq!(status, 200);
        kept = at;
        if at.is_some_and(|n| n > 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let kept = kept.expect("an offset");
    assert!(kept > 0 && kept < (1 << 20), "porch kept what reached it before the cut: {kept}");

    // The rest, from there, through the same proxy (now whole). Bytes
    // still on their way when the client asked may have landed since: a
    // part from a stale offset gets 409 and where the upload stands, as a
    // tus client expects. That answer can come before the client has sent
    // its body, and then reach it as a broken connection: like any tus
    // client, it asks where the upload stands and goes on.
    let mut at = usize::try_from(kept).expect("offset");
    let mut tries = 0;
    loop {
        let Some(page) = patch(&through, &url, at, &video[at..]).await else {
            assert!(tries < 10, "no answer ten times");
            tries += 1;
            at = usize::try_from(offset(&owner, &url).await.1.expect("offset")).expect("offset");
            continue;
        };
        match page.status {
            204 => {
                assert_eq!(header(&page, "upload-offset"), video.len().to_string());
                break;
            }
            409 | 423 if tries < 10 => {
                tries += 1;
                at = header(&page, "upload-offset").parse().unwrap_or(at);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!("{other}: {}", page.body),
        }
    }
    let (status, reply) = claim(&owner, &album, "clip.mp4", &url).await;
    assert_eq!(status, 200, "{reply}");
    let photo = reply["id"].as_str().expect("id");
    let original = owner.get_bytes(&app(&owner, &format!("/a/{album}/p/{photo}/original"))).await;
    assert_eq!(Sha256::digest(&original), Sha256::digest(&video), "byte for byte, across the cut");
}

#[tokio::test]
async fn a_proxy_that_refuses_large_bodies_does_not_stop_a_large_file_sent_in_parts() {
    let porch = Porch::start();
    let owner = porch.owner().await;
    enter(&owner).await;
    let album = new_album(&owner, "Behind a CDN").await;
    let video = sample_video(3 << 20);
    let cap = 1 << 20;
    let proxy = Proxy::start(porch.port(), Cut::CapBody(cap));
    let through = owner.via_proxy(&proxy.url);

    // The plain upload of today cannot pass.
    let plain = app(&through, &format!("/a/{album}/upload?name=clip.mp4"));
    assert_eq!(through.post_upload(&plain, video.clone()).await.status, 413);
    // In parts under the cap it does.
    let url = open(&through, video.len()).await;
    let mut at = 0;
    while at < video.len() {
        let end = (at + usize::try_from(cap).expect("cap")).min(video.len());
        let page = patch(&through, &url, at, &video[at..end]).await.expect("answer");
        assert_eq!(page.status, 204, "{}", page.body);
        at = header(&page, "upload-offset").parse().expect("offset");
    }
    let (status, reply) = claim(&through, &album, "clip.mp4", &url).await;
    assert_eq!(status, 200, "{reply}");
    assert!(proxy.refused.load(std::sync::atomic::Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn unfinished_uploads_hold_quota_and_lapse_after_uploads_unfinished_for() {
    let porch = Porch::start_with_config("[uploads]\nunfinished_for = \"2s\"\n", "127.0.0.1:0");
    let owner = porch.owner().await;
    enter(&owner).await;
    let url = open(&owner, 1000).await;
    assert_eq!(patch(&owner, &url, 0, &[7u8; 400]).await.expect("answer").status, 204);
    assert_eq!(upload_files(&porch), 1);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    // Opening another upload sweeps the lapsed one: gone, file and all.
    let second = open(&owner, 10).await;
    assert_eq!(offset(&owner, &url).await.0, 404);
    assert_eq!(offset(&owner, &second).await.0, 200);
    assert_eq!(upload_files(&porch), 1);
}
