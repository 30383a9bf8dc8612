//! Issue 26, what's new: Photos' news on porch's start page through the
//! `activity` capability. Added photos are one line per person and album,
//! only the album's people get it, unread is marked and counted on the
//! tile, comments reach whoever added or commented, likes reach the
//! uploader and go when taken back, sharing is news to the new person, and
//! losing an album takes its news away. The album page says what is new
//! since the last visit.

use crate::photos::{app, enter, jpeg, new_album, person, person_id, post_form, share, upload_ok};
use crate::util::{Browser, Porch, Smtp, between, unescape};

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
    assert!(lines[0].0.starts_with("New Rita Relative added 3 photos to Beach day Photos · just now"), "{lines:?}");
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

/// Sets `b`'s digest address and how often on the account page.
async fn wants_mail(b: &Browser, address: &str, frequency: &str) {
    let page = b.submit("/account", "/account/mail", &[("address", address), ("frequency", frequency)]).await;
    assert_eq!(page.status, 303, "{}", page.body);
}

#[tokio::test]
async fn forty_photos_in_bursts_are_one_email_digest_for_each_person_after_the_quiet_period() {
    if !Smtp::available() {
        return;
    }
    // The mail server is down at first: porch must retry and lose nothing.
    let mut smtp = Smtp::reserve();
    let config = format!(
        "[limits]\ndoor_burst = 100\n[activity]\nquiet_for = \"4s\"\ndigest_every = \"1h\"\n\
         [mail]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"off\"\nfrom = \"porch@family.test\"\n",
        smtp.port
    );
    let porch = Porch::start_with_config(&config, "127.0.0.1:0");
    let owner = porch.owner().await;
    enter(&owner).await;
    let family = ["--app", "photos:viewer", "--group", "family"];
    let rita = person(&porch, "Rita Relative", &["--app", "photos:contributor", "--group", "family"]).await;
    let victor = person(&porch, "Victor Viewer", &family).await;
    let muriel = person(&porch, "Muriel Muted", &family).await;
    let dee = person(&porch, "Dee Disabled", &family).await;
    let sam = person(&porch, "Sam Shared", &["--app", "photos:viewer"]).await;
    for (b, address) in [
        (&rita, "rita@family.test"),
        (&victor, "victor@family.test"),
        (&muriel, "muriel@family.test"),
        (&dee, "dee@family.test"),
        (&sam, "sam@family.test"),
    ] {
        wants_mail(b, address, "digest").await;
    }
    let page = victor.get("/account").await;
    assert!(page.body.contains("value=\"victor@family.test\""));

    let album = new_album(&rita, "Beach day").await;
    let sam_id = person_id(&porch, "Sam Shared");
    let sam_share = format!("person:{sam_id}");
    share(&rita, &album, &[("group:family", "viewer"), (&sam_share, "viewer")]).await;
    // Muriel wants no email about this album (her start page still shows it).
    let page = post_form(&muriel, &format!("/a/{album}/mute"), &[("muted", "1")]).await;
    assert_eq!(page.status, 303);
    assert!(muriel.get(&app(&muriel, &format!("/a/{album}"))).await.body.contains("Email me about this album again"));

    // Forty photos, in four bursts with short pauses (shorter than the
    // quiet period).
    for burst in 0..4u8 {
        for i in 0..10u8 {
            upload_ok(&rita, &album, &format!("b{burst}-{i}.jpg"), jpeg(64, 48, burst * 10 + i)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    }
    // Meanwhile Dee is disabled, and Sam loses the album.
    assert!(porch.cli(&["user", "disable", "Dee Disabled"]).success);
    share(&rita, &album, &[("group:family", "viewer")]).await;
    assert!(news(&muriel).await.iter().any(|(l, _)| l.contains("added 40 photos")), "muted is not hidden");

    // The quiet period passes while the mail server is down; then it
    // comes up, and the digest arrives on a retry.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    assert!(smtp.messages().is_empty());
    let down = porch.cli(&["mail", "test", "olivia@family.test"]);
    assert!(!down.success);
    assert!(
        down.stderr.contains("did not take the email") && down.stderr.contains("porch mail test"),
        "{}",
        down.stderr
    );
    smtp.start();
    let up = porch.cli(&["mail", "test", "olivia@family.test"]);
    assert!(up.success, "{}", up.stderr);
    assert_eq!(smtp.to("olivia@family.test")[0].subject, "porch can send you email");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while smtp.to("victor@family.test").is_empty() {
        assert!(std::time::Instant::now() < deadline, "no digest reached Victor");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Long enough for any second email to show up.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let to_victor = smtp.to("victor@family.test");
    assert_eq!(to_victor.len(), 1, "exactly one digest: {to_victor:#?}");
    let digest = &to_victor[0];
    assert!(digest.text.contains("Rita Relative added 40 photos to Beach day"), "{}", digest.text);
    assert!(digest.text.contains("Rita Relative shared the album Beach day with you"), "{}", digest.text);
    assert!(digest.html.contains("Rita Relative</strong> added 40 photos to Beach day"), "{}", digest.html);
    assert_eq!(digest.subject, "2 new things on localhost");
    let link = digest.text.lines().find(|l| l.contains("/activity/")).expect("a link to the news").trim();
    assert!(link.starts_with(&porch.url), "{link}");
    assert_eq!(victor.get(link.trim_start_matches(&porch.url)).await.status, 303, "the link opens the news");
    assert!(!digest.html.contains("<img"), "no tracking pixel, no pictures from anywhere");
    for url in digest.html.split("href=\"").skip(1).map(|h| unescape(h.split('"').next().unwrap_or_default())) {
        assert!(url.starts_with(&porch.url), "a link to another site: {url}");
    }
    for nobody in ["muriel@family.test", "dee@family.test", "sam@family.test", "rita@family.test"] {
        assert!(smtp.to(nobody).is_empty(), "{nobody} got {:#?}", smtp.to(nobody));
    }

    // One click (RFC 8058): a POST from the mail provider, no cookies.
    assert_eq!(digest.unsubscribe_post, "List-Unsubscribe=One-Click");
    let url = digest.unsubscribe.trim_matches(['<', '>']);
    assert!(url.starts_with(&format!("{}/mail/unsubscribe/", porch.url)), "{url}");
    let provider = reqwest::Client::new();
    // Opening the link (a link preview does) only asks.
    let asked = provider.get(url).send().await.expect("open");
    assert_eq!(asked.status(), 200);
    assert!(asked.text().await.expect("page").contains("id=\"unsubscribe\""));
    assert!(victor.get("/account").await.body.contains("value=\"digest\" checked"));
    let done = provider
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "https://mail.example")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .expect("unsubscribe");
    assert_eq!(done.status(), 200);
    let page = victor.get("/account").await;
    assert!(page.body.contains("value=\"never\" checked"), "{}", page.body);

    // New photos: nobody who is left wants email, so none goes.
    upload_ok(&rita, &album, "later.jpg", jpeg(64, 48, 200)).await;
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    assert_eq!(smtp.to("victor@family.test").len(), 1, "{:#?}", smtp.messages());
    assert_eq!(smtp.messages().len(), 2, "Victor's digest and the test email: {:#?}", smtp.messages());
}
