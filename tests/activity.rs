//! Issue 26, what's new: Photos' news on porch's start page through the
//! `activity` capability. Added photos are one line per person and album,
//! only the album's people get it, unread is marked and counted on the
//! tile, comments reach whoever added or commented, likes reach the
//! uploader and go when taken back, sharing is news to the new person, and
//! losing an album takes its news away. The album page says what is new
//! since the last visit.

use crate::photos::{app, enter, jpeg, new_album, person, person_id, post_form, share, upload_ok};
use crate::util::{Browser, Porch, between, unescape};

/// The news lines of a start page, as text, each with whether it is new.
async fn news(b: &Browser) -> Vec<(String, bool)> {
    let page = b.get("/").await;
    assert_eq!(page.status, 200, "{}", page.body);
    // The raw HTML (`between` would unescape it before the tags are gone).
    let Some((_, list)) = page.body.split_once("<ul class=\"news\">") else { return Vec::new() };
    let list = list.split_once("</ul>").map_or(list, |(list, _)| list);
    list.split("<li")
        .skip(1)
        .map(|item| {
            let (attributes, rest) = item.split_once('>').unwrap_or_default();
            let text = unescape(&strip_tags(rest)).replace("&lt;", "<").replace("&gt;", ">");
            (text.split_whitespace().collect::<Vec<_>>().join(" "), attributes.contains("class=\"unread\""))
        })
        .collect()
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in html.chars() {
        match c {
            '<' => inside = true,
            '>' => {
                inside = false;
                out.push(' ');
            }
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

/// The id of the first news line on `b`'s start page.
async fn first_news_id(b: &Browser) -> String {
    let page = b.get("/").await;
    between(&page.body, "<a href=\"/activity/", "\"").expect("a news link")
}

/// The unread count on the Photos tile.
async fn tile_count(b: &Browser) -> Option<String> {
    let page = b.get("/").await;
    between(&page.body, "id=\"new-photos\" title=\"", " new\"")
}

#[tokio::test]
async fn photos_news_reaches_the_album_s_people_once_per_burst_and_leaves_those_who_lose_it() {
    let porch = Porch::start();
    let owner = porch.owner().await;
    enter(&owner).await;
    let rita = person(&porch, "Rita Relative", &["--app", "photos:contributor", "--group", "family"]).await;
    let victor = person(&porch, "Victor Viewer", &["--app", "photos:viewer", "--group", "family"]).await;
    let nora = person(&porch, "Nora Nobody", &["--app", "photos:contributor", "--group", "friends"]).await;
    // Family, but without Photos: news of it never reaches her.
    let link = porch.invite(&["--group", "family"]);
    let fay = porch.browser();
    assert_eq!(fay.join(&link, "Fay Family", crate::util::PASSWORD).await.status, 303);

    assert!(news(&victor).await.is_empty());
    assert!(victor.get("/").await.body.contains("Nothing new yet"));

    // Rita shares an album with the family, then adds three photos in a row.
    let album = new_album(&rita, "Beach day").await;
    share(&rita, &album, &[("group:family", "viewer")]).await;
    // Victor opens it once, so the next visit knows what is new.
    assert_eq!(victor.get(&app(&victor, &format!("/a/{album}"))).await.status, 200);
    let mut photos = Vec::new();
    for i in 0..3 {
        photos.push(upload_ok(&rita, &album, &format!("p{i}.jpg"), jpeg(320, 240, i)).await);
    }

    let lines = news(&victor).await;
    assert_eq!(lines.len(), 2, "three uploads in a row are one line, after the sharing: {lines:?}");
    assert!(lines[0].0.starts_with("New Rita Relative added 3 photos to Beach day · Photos · just now"), "{lines:?}");
    assert!(lines[0].1, "it is new to Victor");
    assert!(lines[1].0.starts_with("Rita Relative shared the album Beach day with you"), "{lines:?}");
    assert!(!lines[1].1, "Victor opened the album since: that news is seen");
    assert_eq!(tile_count(&victor).await.as_deref(), Some("1"), "the Photos tile counts it");
    assert!(news(&rita).await.is_empty(), "Rita is not told what she did herself");
    assert!(news(&nora).await.is_empty(), "the album is not shared with Nora");
    assert!(news(&fay).await.is_empty(), "Fay has no grant for Photos");
    assert!(news(&owner).await.is_empty(), "the porch owner is not in the album's shares");

    // Its picture is the newest photo's thumbnail, for Victor only.
    let id = first_news_id(&victor).await;
    let picture = victor.get(&format!("/activity/{id}/picture")).await;
    assert_eq!(picture.status, 200);
    assert_eq!(picture.headers["content-type"], "image/jpeg");
    assert_eq!(nora.get(&format!("/activity/{id}/picture")).await.status, 404);
    assert_eq!(nora.get(&format!("/activity/{id}")).await.status, 404);

    // The album page shows what others added since Victor's last visit,
    // once; and looking at the album makes its news seen.
    let page = victor.get(&app(&victor, &format!("/a/{album}"))).await;
    assert!(page.body.contains("3 new since your last visit"), "{}", page.body);
    for p in &photos {
        assert!(between(&page.body, "id=\"fresh\"", "</section>").expect("fresh").contains(p.as_str()));
    }
    let page = victor.get(&app(&victor, &format!("/a/{album}"))).await;
    assert!(!page.body.contains("new since your last visit"), "only until the next visit");
    assert!(!news(&victor).await[0].1, "seen once the album was opened");
    assert_eq!(tile_count(&victor).await, None);
    let page = rita.get(&app(&rita, &format!("/a/{album}"))).await;
    assert!(!page.body.contains("new since your last visit"), "her own photos are not news to her");

    // Opening a line goes to its place in the app.
    let opened = victor.get(&format!("/activity/{id}")).await;
    assert_eq!(opened.status, 303);
    assert_eq!(opened.location.as_deref(), Some(app(&victor, &format!("/a/{album}")).as_str()));

    // A comment reaches whoever added the photo; a later one also the
    // first commenter.
    let page = post_form(&victor, &format!("/a/{album}/p/{}/comment", photos[0]), &[("text", "Lovely <day>")]).await;
    assert_eq!(page.status, 303);
    let lines = news(&rita).await;
    assert!(lines[0].0.contains("Victor Viewer commented on a photo in Beach day: “Lovely <day>”"), "{lines:?}");
    assert!(lines[0].1);
    post_form(&rita, &format!("/a/{album}/p/{}/comment", photos[0]), &[("text", "Thanks!")]).await;
    assert!(news(&victor).await[0].0.contains("Rita Relative commented on a photo in Beach day: “Thanks!”"));

    // A like is news to the uploader; taking it back takes the news back.
    let like = format!("/a/{album}/p/{}/like", photos[1]);
    assert_eq!(post_form(&victor, &like, &[]).await.status, 303);
    assert!(news(&rita).await[0].0.contains("Victor Viewer likes your photo in Beach day"));
    let page = rita.get(&app(&rita, &format!("/a/{album}/p/{}", photos[1]))).await;
    assert!(unescape(&page.body).contains("1 like: Victor Viewer"), "{}", page.body);
    assert_eq!(post_form(&victor, &like, &[]).await.status, 303);
    assert!(!news(&rita).await.iter().any(|(l, _)| l.contains("likes your photo")));
    let page = rita.get(&app(&rita, &format!("/a/{album}/p/{}", photos[1]))).await;
    assert!(!page.body.contains("id=\"liked-by\""));

    // Sharing with Nora is news to her, and only to her.
    let nora_id = person_id(&porch, "Nora Nobody");
    share(&rita, &album, &[("group:family", "viewer"), (&format!("person:{nora_id}"), "viewer")]).await;
    let lines = news(&nora).await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].0.contains("Rita Relative shared the album Beach day with you"), "{lines:?}");
    let shared = news(&victor).await.iter().filter(|(l, _)| l.contains("shared the album")).count();
    assert_eq!(shared, 1, "only the family's own share was news to Victor");

    // The family loses the album: its news leaves Victor's feed.
    share(&rita, &album, &[(&format!("person:{nora_id}"), "viewer")]).await;
    assert!(news(&victor).await.is_empty(), "{:?}", news(&victor).await);
    assert_eq!(news(&nora).await.len(), 1);

    // "Mark all as seen".
    let page = nora.get("/").await;
    assert!(page.body.contains("id=\"seen-all\""));
    let done = nora.post("/activity/seen", &[("csrf", &page.csrf())]).await;
    assert_eq!(done.status, 303);
    assert!(news(&nora).await.iter().all(|(_, new)| !new));
    assert!(!nora.get("/").await.body.contains("id=\"seen-all\""));

    // Deleting the album takes all its news.
    post_form(&rita, &format!("/a/{album}/delete"), &[]).await;
    assert!(news(&nora).await.is_empty());
}
