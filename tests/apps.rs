//! The sandbox end to end: installing, listing, removing and granting apps;
//! the ticket handshake onto app hosts; what apps see of a request; quotas;
//! hostile apps contained while others keep serving; and the compiled-code
//! cache surviving a restart.

use std::time::Duration;

use crate::util::{Browser, OWNER, PASSWORD, Porch};

/// Starts porch with an owner who may use `grants` (APP:ROLE).
async fn porch_with_owner(grants: &[&str]) -> (Porch, Browser) {
    let porch = Porch::start();
    let owner = porch.owner().await;
    for grant in grants {
        porch.grant(OWNER, grant);
    }
    (porch, owner)
}

fn line<'a>(body: &'a str, prefix: &str) -> Option<&'a str> {
    body.lines().find_map(|l| l.strip_prefix(prefix))
}

#[tokio::test]
async fn bundled_hello_greets_the_signed_in_person_and_counts_visits() {
    let (porch, owner) = porch_with_owner(&["hello:visitor"]).await;
    let first = owner.follow(&owner.app_url("hello", "/")).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(first.body.contains("Hello, Olivia Owner!"), "{}", first.body);
    assert!(first.body.contains("visit number 1"));
    let second = owner.follow(&owner.app_url("hello", "/")).await;
    assert!(second.body.contains("visit number 2"), "kv keeps the count: {}", second.body);
    // The app's response carries porch's safe defaults.
    let csp = second.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    // And the home page links to it.
    assert!(crate::util::unescape(&owner.get("/").await.body).contains(&owner.app_url("hello", "/")));
    let list = porch.cli(&["app", "list"]).stdout;
    assert!(list.lines().any(|l| l.starts_with("hello") && l.contains("porch's build key")), "bundled: {list}");
}

#[tokio::test]
async fn without_a_grant_porch_answers_403_and_the_app_never_runs() {
    let (porch, _owner) = porch_with_owner(&[]).await;
    let link = porch.invite(&[]);
    let aunt = porch.browser();
    aunt.join(&link, "Aunt", PASSWORD).await;

    let denied = aunt.follow(&aunt.app_url("hello", "/")).await;
    assert_eq!(denied.status, 403, "{}", denied.body);
    assert!(denied.body.contains("not been given access"), "{}", denied.body);
    assert!(porch.audit().contains("app.denied"));

    porch.grant("Aunt", "hello:visitor");
    let page = aunt.follow(&aunt.app_url("hello", "/")).await;
    assert!(page.body.contains("visit number 1"), "the denied attempt never ran the app: {}", page.body);

    // Revoking the grant ends access at once, session or not.
    assert!(porch.cli(&["app", "revoke", "Aunt", "hello"]).success);
    assert_eq!(aunt.follow(&aunt.app_url("hello", "/")).await.status, 403);
}

#[tokio::test]
async fn anonymous_visitors_are_sent_to_sign_in_and_come_back() {
    let (porch, _owner) = porch_with_owner(&["hello:visitor"]).await;
    let b = porch.browser();
    let page = b.follow(&b.app_url("hello", "/some/page?x=1")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Sign in"), "{}", page.body);
    let next = crate::util::between(&page.body, "name=\"next\" value=\"", "\"").expect("next");
    assert!(next.starts_with("/.porch/enter?app=hello"), "{next}");
    let signed = b.post("/signin", &[("name", OWNER), ("password", PASSWORD), ("next", &next)]).await;
    assert_eq!(signed.status, 303);
    let back = b.follow(&format!("{}{}", porch.url, signed.location.expect("location"))).await;
    assert!(back.body.contains("Hello, Olivia Owner!"), "{}", back.body);
}

#[tokio::test]
async fn apps_see_porch_identity_headers_but_never_forged_ones_or_porch_cookies() {
    let (porch, owner) = porch_with_owner(&[]).await;
    porch.install_and_open(&owner, "echo", "viewer").await;

    crate::util::install_crypto();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve("echo.localhost", std::net::SocketAddr::from(([127, 0, 0, 1], porch.port())))
        .build()
        .expect("client");
    // Borrow the app cookie the handshake gave the owner's browser.
    let page = owner.get(&owner.app_url("echo", "/whoami?x=1")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let id = line(&page.body, "porch-user-id: ").expect("id header").to_owned();
    assert_eq!(line(&page.body, "porch-user-name: "), Some("Olivia%20Owner"));
    assert_eq!(line(&page.body, "porch-app-role: "), Some("viewer"));
    assert!(line(&page.body, "cookie: ").is_none(), "porch's cookies never reach the app: {}", page.body);
    assert!(page.body.starts_with("GET /whoami?x=1"));

    let forged = owner
        .get_with_headers(
            &owner.app_url("echo", "/"),
            &[("porch-user-id", "999"), ("porch-app-role", "editor"), ("cookie-extra", "x")],
        )
        .await;
    assert_eq!(line(&forged.body, "porch-user-id: "), Some(id.as_str()));
    assert_eq!(line(&forged.body, "porch-app-role: "), Some("viewer"));
    assert_eq!(forged.body.matches("porch-user-id").count(), 1);

    // Without the app cookie the app is never reached.
    let stranger = client.get(owner.app_url("echo", "/")).send().await.expect("get");
    assert_eq!(stranger.status().as_u16(), 303);

    // /.porch/ is porch's on every host; apps never see it.
    let health = owner.get(&owner.app_url("echo", "/.porch/health")).await;
    assert_eq!(health.body, "ok");
    let reserved = owner.get(&owner.app_url("echo", "/.porch/whatever")).await;
    assert_eq!(reserved.status, 404);
    assert!(!reserved.body.contains("porch-user-id"));
}

#[tokio::test]
async fn request_bodies_are_streamed_to_the_app_up_to_its_limit() {
    let (porch, owner) = porch_with_owner(&[]).await;
    porch.install_and_open(&owner, "echo", "viewer").await;
    let limit = 256 * 1024;
    let ok = owner.post_bytes(&owner.app_url("echo", "/upload"), vec![1u8; limit]).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(line(&ok.body, "body-length: "), Some(limit.to_string().as_str()));
    let over = owner.post_bytes(&owner.app_url("echo", "/upload"), vec![1u8; limit + 1]).await;
    assert_eq!(over.status, 413, "{}", over.body);
}

#[tokio::test]
async fn install_list_remove_and_reinstall_keep_or_purge_data() {
    let (porch, owner) = porch_with_owner(&["hello:visitor"]).await;
    let visit = |n: u32| format!("visit number {n}.");
    assert!(owner.follow(&owner.app_url("hello", "/")).await.body.contains(&visit(1)));
    assert!(owner.follow(&owner.app_url("hello", "/")).await.body.contains(&visit(2)));

    let removed = porch.cli(&["app", "remove", "hello"]);
    assert!(removed.success, "{}", removed.stderr);
    let gone = owner.follow(&owner.app_url("hello", "/")).await;
    assert_eq!(gone.status, 404);
    assert!(gone.body.contains("no app called"), "{}", gone.body);
    assert!(!porch.cli(&["app", "list"]).stdout.contains("hello"));

    // The same publisher's package brings it back with its data (grants
    // went with the app).
    let out = porch.install("hello");
    assert!(out.success, "{}", out.stderr);
    assert!(out.stdout.contains("brings Hello back"), "{}", out.stdout);
    assert!(out.stdout.contains("hello.localhost"), "{}", out.stdout);
    porch.grant(OWNER, "hello:visitor");
    let again = owner.follow(&owner.app_url("hello", "/")).await;
    assert!(again.body.contains(&visit(3)), "data was kept: {}", again.body);

    // Purged, it starts empty.
    assert!(porch.cli(&["app", "remove", "hello", "--purge"]).success);
    assert!(porch.install("hello").success);
    porch.grant(OWNER, "hello:visitor");
    let fresh = owner.follow(&owner.app_url("hello", "/")).await;
    assert!(fresh.body.contains(&visit(1)), "data was purged: {}", fresh.body);

    let missing = porch.cli(&["app", "remove", "nope"]);
    assert!(!missing.success && missing.stderr.contains("porch app list"));
    let bad_role = porch.cli(&["app", "grant", OWNER, "hello:admin"]);
    assert!(!bad_role.success && bad_role.stderr.contains("its roles are: visitor"), "{}", bad_role.stderr);
}

#[tokio::test]
async fn bad_apps_are_refused_at_install_with_the_reason() {
    let porch = Porch::start();
    let snoop = porch.install("snoop");
    assert!(!snoop.success, "a component that imports files or sockets must be refused");
    assert!(snoop.stderr.contains("wasi:filesystem") || snoop.stderr.contains("wasi:sockets"), "{}", snoop.stderr);
    assert!(snoop.stderr.contains("no filesystem, no network"), "{}", snoop.stderr);

    let key = porch.author_key("author");
    let undeclared = porch.app_variant(
        "hostile",
        "undeclared",
        "id = \"hostile\"\nname = \"H\"\nversion = \"1.0.0\"\nroles = [\"victim\"]\n",
    );
    let out = porch.install_package(&porch.pack(&undeclared, &key));
    assert!(!out.success);
    assert!(out.stderr.contains("porch:app/kv") && out.stderr.contains("does not declare"), "{}", out.stderr);

    // A manifest that asks for too much is refused when packed, and a
    // package made some other way is refused when installed.
    let broken = porch.app_variant(
        "echo",
        "broken",
        "id = \"echo\"\nname = \"Echo\"\nversion = \"1.0.0\"\nroles = [\"viewer\"]\n[limits]\nmemory = \"9GiB\"\n",
    );
    let out = porch.cli(&["app", "pack", broken.to_str().expect("path"), "--key", key.to_str().expect("path")]);
    assert!(!out.success);
    assert!(out.stderr.contains("limits.memory") && out.stderr.contains("9GiB"), "{}", out.stderr);

    let garbage = porch.dir().join("garbage");
    std::fs::create_dir_all(&garbage).expect("dir");
    std::fs::write(garbage.join("app.toml"), "id = \"broken\"\nname = \"B\"\nversion = \"1.0.0\"\nroles = [\"x\"]\n")
        .expect("w");
    std::fs::write(garbage.join("broken.wasm"), b"\0asm not really").expect("w");
    let out = porch.install_package(&porch.pack(&garbage, &key));
    assert!(!out.success);
    assert!(out.stderr.contains("not a valid WebAssembly component"), "{}", out.stderr);
    assert!(!porch.cli(&["app", "list"]).stdout.contains("snoop"), "nothing refused was installed");
}

#[tokio::test]
async fn hostile_apps_are_contained_and_the_others_keep_serving() {
    let (porch, owner) = porch_with_owner(&["hello:visitor"]).await;
    porch.install_and_open(&owner, "hostile", "victim").await;
    owner.follow(&owner.app_url("hello", "/")).await;

    let expect = [
        ("/loop", 504, "took too long"),
        ("/hog", 500, "failed while answering"),
        ("/recurse", 500, "failed while answering"),
        ("/panic", 500, "failed while answering"),
    ];
    for (path, status, text) in expect {
        let page = owner.get(&owner.app_url("hostile", path)).await;
        assert_eq!(page.status, status, "{path}: {}", page.body);
        assert!(page.body.contains(text), "{path}: {}", page.body);
    }
    let kv = owner.get(&owner.app_url("hostile", "/kv-flood")).await;
    assert!(kv.body.contains("kv refused") && kv.body.contains("quota"), "{}", kv.body);
    let blobs = owner.get(&owner.app_url("hostile", "/blob-flood")).await;
    assert!(blobs.body.contains("blobs refused") && blobs.body.contains("quota"), "{}", blobs.body);

    // Ten gigabytes are cut at the 8 MiB response limit.
    let received = owner.download_len(&owner.app_url("hostile", "/huge")).await;
    assert!(received <= 8 * 1024 * 1024 + 1024 * 1024, "received {received} bytes");

    // Each request had its own instance: the app still answers, and so do others.
    assert_eq!(owner.get(&owner.app_url("hostile", "/")).await.status, 200);
    assert!(owner.get(&owner.app_url("hello", "/")).await.body.contains("Hello"));
    let audit = porch.audit();
    assert!(audit.contains("app.failed"), "{audit}");
}

/// Regression guard for porch's reuse of pooled memory slots (wasmtime's
/// `PAGEMAP_SCAN` reset, turned on for speed): each request must still get an
/// instance that sees nothing an earlier one wrote, one after another and
/// many at once.
#[tokio::test]
async fn a_recycled_instance_sees_nothing_the_previous_request_left() {
    let (porch, owner) = porch_with_owner(&[]).await;
    porch.install_and_open(&owner, "hostile", "victim").await;
    let clean = "earlier visits: 0, changed data bytes: 0, changed zero bytes: 0";
    for i in 0..20 {
        let page = owner.get(&owner.app_url("hostile", "/residue")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(page.body, clean, "request {i} saw what an earlier one left");
    }
    let owner = std::sync::Arc::new(owner);
    for round in 0..3 {
        let mut all = Vec::new();
        for _ in 0..16 {
            let b = owner.clone();
            all.push(tokio::spawn(async move { b.get(&b.app_url("hostile", "/residue")).await }));
        }
        for a in all {
            let page = a.await.expect("join");
            assert_eq!(page.status, 200, "{}", page.body);
            assert_eq!(page.body, clean, "round {round}: an instance saw what another left");
        }
    }
}

#[tokio::test]
async fn hello_keeps_answering_while_a_looping_app_is_attacked() {
    let (porch, owner) = porch_with_owner(&["hello:visitor"]).await;
    porch.install_and_open(&owner, "hostile", "victim").await;
    owner.follow(&owner.app_url("hello", "/")).await;

    let owner = std::sync::Arc::new(owner);
    let mut attack = Vec::new();
    for _ in 0..24 {
        let b = owner.clone();
        attack.push(tokio::spawn(async move { b.get(&b.app_url("hostile", "/loop")).await.status }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    for _ in 0..5 {
        let page = owner.get(&owner.app_url("hello", "/")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("Hello"));
    }
    eprintln!("5 hello requests during the attack took {:?}", started.elapsed());
    for a in attack {
        let status = a.await.expect("join");
        assert!(status == 504 || status == 503, "loop request ended with {status}");
    }
}

#[tokio::test]
async fn signing_out_of_porch_ends_the_app_session_too() {
    let (_porch, owner) = porch_with_owner(&["hello:visitor"]).await;
    assert_eq!(owner.follow(&owner.app_url("hello", "/")).await.status, 200);
    owner.submit("/account", "/signout", &[]).await;
    let page = owner.get(&owner.app_url("hello", "/")).await;
    assert_eq!(page.status, 303, "the app session died with the porch session");
}

#[tokio::test]
async fn compiled_apps_come_from_the_cache_after_a_restart() {
    let mut porch = Porch::start();
    let ready = |p: &Porch| p.stdout.iter().rev().find(|l| l.starts_with("Apps ready")).cloned().expect("apps line");
    // The bundled hello, photos and files.
    assert!(ready(&porch).contains("0 from the compiled-code cache, 3 compiled"), "{}", ready(&porch));
    assert!(porch.install("echo").success);
    porch.restart();
    let line = ready(&porch);
    assert!(line.starts_with("Apps ready: 4 (4 from the compiled-code cache, 0 compiled"), "{line}");
}

#[tokio::test]
async fn the_owner_grants_and_removes_access_on_the_admin_apps_page() {
    let (porch, owner) = porch_with_owner(&[]).await;
    let link = porch.invite(&[]);
    let cousin = porch.browser();
    cousin.join(&link, "Cousin", PASSWORD).await;
    let page = owner.get("/admin/apps").await;
    // The owner setup link gave the owner every bundled app.
    assert!(page.body.contains("Hello") && !page.body.contains("Nobody can use it yet"), "{}", page.body);
    let row = page.body.split("<option value=\"").find(|o| o.contains(">Cousin<")).expect("cousin listed");
    let cousin_id = row.split('"').next().expect("id").to_owned();
    let granted = owner
        .post("/admin/apps/hello/grant", &[("csrf", &page.csrf()), ("person", &cousin_id), ("role", "visitor")])
        .await;
    assert_eq!(granted.status, 303);
    assert!(cousin.follow(&cousin.app_url("hello", "/")).await.body.contains("Hello, Cousin!"));
    let bad = owner
        .post("/admin/apps/hello/grant", &[("csrf", &page.csrf()), ("person", &cousin_id), ("role", "king")])
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("no role"), "{}", bad.body);
    let revoked = owner.post("/admin/apps/hello/revoke", &[("csrf", &page.csrf()), ("person", &cousin_id)]).await;
    assert_eq!(revoked.status, 303);
    assert_eq!(cousin.follow(&cousin.app_url("hello", "/")).await.status, 403);
}

#[tokio::test]
async fn blobs_kv_and_people_work_inside_each_apps_own_namespace() {
    let (porch, owner) = porch_with_owner(&["hello:visitor"]).await;
    porch.install_and_open(&owner, "hostile", "victim").await;
    owner.follow(&owner.app_url("hello", "/")).await;

    let round = owner.get(&owner.app_url("hostile", "/blob-roundtrip")).await;
    assert!(
        round.body.starts_with("size=300000 same=true listed=1 stat=Some(300000) deleted=true after=None"),
        "{}",
        round.body
    );
    // The blob file is gone once nothing refers to it.
    let sha = round.body.rsplit("sha256=").next().expect("sha");
    assert!(!porch.data().join("blobs").join(&sha[..2]).join(sha).exists());

    // hello counted a visit under its key; hostile cannot see it.
    let peek = owner.get(&owner.app_url("hostile", "/kv-get?visits/1")).await;
    assert_eq!(peek.body, "visits/1 = None");

    let people = owner.get(&owner.app_url("hostile", "/people")).await;
    assert_eq!(people.body, "Olivia Owner (victim)");
}

#[tokio::test]
async fn the_media_capability_makes_clean_thumbnails_and_copies_for_apps() {
    let Some(fixtures) = crate::util::shared_fixtures() else {
        assert!(!crate::util::in_ci(), "../shared/fixtures is missing; CI always has it");
        eprintln!("\n!!! SKIPPING FIXTURE TEST: ../shared/fixtures is not beside this checkout !!!\n");
        return;
    };
    let (porch, owner) = porch_with_owner(&[]).await;
    porch.install_and_open(&owner, "hostile", "victim").await;
    let photo = std::fs::read(fixtures.join("photos/gps/DSCN0010.jpg")).expect("fixture");
    let done = owner.post_bytes(&owner.app_url("hostile", "/media"), photo.clone()).await;
    let stored = owner.get_bytes(&owner.app_url("hostile", "/blob?upload")).await;
    assert_eq!(stored.len(), photo.len(), "upload stored whole: {:?}", &stored[..stored.len().min(64)]);
    assert!(done.body.starts_with("format=jpeg size=640x480 orientation=1 taken=Some("), "{}", done.body);
    assert!(done.body.contains(" pair="), "{}", done.body);
    for name in ["thumb", "clean", "pair-small", "pair-view"] {
        let served = owner.get_bytes(&owner.app_url("hostile", &format!("/blob?{name}"))).await;
        let fields: Vec<exif::Tag> = exif::Reader::new()
            .read_from_container(&mut std::io::Cursor::new(&served))
            .map(|e| e.fields().map(|f| f.tag).collect())
            .unwrap_or_default();
        assert!(!fields.contains(&exif::Tag::GPSLatitude), "{name} carries GPS: {fields:?}");
        assert!(image::load_from_memory(&served).is_ok(), "{name} is an image");
    }
    // Several sizes from one call, each as asked.
    let small = image::load_from_memory(&owner.get_bytes(&owner.app_url("hostile", "/blob?pair-small")).await);
    let view = image::load_from_memory(&owner.get_bytes(&owner.app_url("hostile", "/blob?pair-view")).await);
    let dims = |i: image::DynamicImage| (i.width(), i.height());
    assert_eq!(small.map(dims).expect("small"), (64, 48));
    assert_eq!(view.map(dims).expect("view"), (320, 240));
    let garbage = owner.post_bytes(&owner.app_url("hostile", "/media"), b"not a photo at all".to_vec()).await;
    assert!(garbage.body.contains("Invalid") && garbage.body.contains("not an image"), "{}", garbage.body);
}

#[tokio::test]
async fn a_purge_from_the_command_line_leaves_files_to_the_running_porch() {
    // Architecture review §3.4: `porch app remove --purge` ran in a second
    // process and deleted blob files without the guard that keeps a removal
    // from slipping between a running server's upload of the same content
    // and its row. Only the process holding the data folder's lock removes
    // files now: while porch serves, it does, at its next collection.
    let mut porch = Porch::start();
    let owner = porch.owner().await;
    crate::photos::enter(&owner).await;
    let album = crate::photos::new_album(&owner, "Going").await;
    crate::photos::upload_ok(&owner, &album, "a.jpg", crate::photos::jpeg(320, 240, 5)).await;
    let files = crate::photos::blob_files(&porch.data());
    assert!(files >= 2, "the original and its thumbnails: {files}");
    let out = porch.cli(&["app", "remove", "photos", "--purge"]);
    assert!(out.success, "{}", out.stderr);
    assert!(out.stdout.contains("the running porch removes its files"), "{}", out.stdout);
    assert_eq!(crate::photos::blob_files(&porch.data()), files, "the CLI left the files alone");
    // The server collects them (at start, then hourly), under its guard.
    porch.restart();
    assert_eq!(crate::photos::blob_files(&porch.data()), 0, "collected by the porch that holds the lock");
    // With no porch serving, the CLI holds the lock and removes them itself.
    let data = porch.data();
    porch.stop();
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_porch"))
        .args(["app", "remove", "hello", "--purge", "--data"])
        .arg(&data)
        .output()
        .expect("porch");
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(String::from_utf8_lossy(&again.stdout).contains("its data was deleted."));
}

/// Issue 24: every app page has the porch bar, added by porch (no app
/// copies it), and only HTML pages: files, JSON and plain text are left
/// exactly as the app sent them.
#[tokio::test]
async fn porch_adds_its_bar_to_app_pages_and_nothing_else() {
    let porch = Porch::start();
    let owner = porch.owner().await;
    let page = owner.follow(&owner.app_url("hello", "/")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.trim_end().ends_with("<script src=\"/.porch/static/bar.js\" defer></script>"), "{}", page.body);
    assert_eq!(page.body.matches("bar.js").count(), 1);
    let script = owner.get(&owner.app_url("hello", "/.porch/static/bar.js")).await;
    assert_eq!(script.status, 200);
    assert!(script.headers["content-type"].to_str().expect("type").contains("javascript"));
    assert!(script.body.contains("porch-bar"));
    // The app's own "not found" page leads home too.
    let missing = owner.follow(&owner.app_url("photos", "/no/such/page")).await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("/.porch/static/bar.js"), "{}", missing.body);
    let style = owner.get(&owner.app_url("hello", "/.porch/static/bar.css")).await;
    assert_eq!(style.status, 200);

    // Not HTML: untouched, to the byte.
    porch.install_and_open(&owner, "echo", "viewer").await;
    let echo = owner.get(&owner.app_url("echo", "/")).await;
    assert!(!echo.body.contains("bar.js"), "{}", echo.body);
    let hostile = porch.install_and_open(&owner, "hostile", "victim").await;
    assert!(!hostile.body.contains("bar.js"), "plain text stays plain: {}", hostile.body);
}
