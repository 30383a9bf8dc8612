//! Invite-based identity end to end: the owner's setup link, invites and
//! every rule on them, joining, signing in and out, sessions, disabling,
//! CSRF refusal, limits and headers, and that a restart keeps everything.

use std::time::Duration;

use crate::util::{Browser, OWNER, PASSWORD, Porch, between};

#[tokio::test]
async fn owner_setup_link_is_printed_once_and_makes_the_owner() {
    let mut porch = Porch::start();
    let setup_lines = porch.stdout.iter().filter(|l| l.starts_with("Owner setup link: ")).count();
    assert_eq!(setup_lines, 1, "{:?}", porch.stdout);
    let link = porch.setup_link.clone().expect("setup link");
    assert!(link.starts_with(&format!("{}/join/", porch.url)), "{link}");
    // Under the link, what to do next in two lines (issue 24, the owner's
    // first ten minutes).
    let at = porch.stdout.iter().position(|l| l.starts_with("Owner setup link: ")).expect("link line");
    let next = &porch.stdout[at + 1..at + 3];
    assert!(next[0].contains("Admin → Invites") && next[1].contains("Photos"), "{next:?}");

    let owner = porch.owner().await;
    let account = owner.get("/account").await;
    assert_eq!(account.status, 200);
    assert!(account.body.contains(OWNER) && account.body.contains("owner"), "{}", account.body);
    assert_eq!(owner.get("/admin/people").await.status, 200);

    // The setup link is single-use, and with an owner present none is printed.
    assert_eq!(porch.browser().get(&link).await.status, 404);
    porch.restart();
    assert!(porch.setup_link.is_none(), "{:?}", porch.stdout);
}

#[tokio::test]
async fn a_new_start_without_owner_replaces_the_old_setup_link() {
    let mut porch = Porch::start();
    let first = porch.setup_link.clone().expect("first link");
    porch.restart();
    let second = porch.setup_link.clone().expect("second link");
    assert_ne!(first, second);
    assert_eq!(porch.browser().get(&first).await.status, 404, "older setup link must stop working");
    assert_eq!(porch.browser().get(&second).await.status, 200);
}

#[tokio::test]
async fn invite_create_join_lands_on_account_with_role_groups_and_grants() {
    let porch = Porch::start();
    let _owner = porch.owner().await;
    let link = porch.invite(&["--note", "for Grandma", "--group", "family", "--app", "photos:viewer"]);

    let grandma = porch.browser();
    let join = grandma.get(&link).await;
    assert_eq!(join.status, 200);
    assert!(join.body.contains("for Grandma"), "the note is shown");
    assert!(join.body.contains(OWNER) || join.body.contains("You were invited"));

    let done = grandma.join(&link, "Grandma", "a long enough secret").await;
    assert_eq!(done.status, 303);
    // She lands on the family's start page, not on her account (issue 24):
    // one tile per app she was given, named as the app names itself.
    assert_eq!(done.location.as_deref(), Some("/?welcome=1"));
    let home = grandma.get("/?welcome=1").await;
    assert!(home.body.contains("Welcome!") && home.body.contains("id=\"home-name\">Grandma<"), "{}", home.body);
    assert!(home.body.contains("<strong>Photos</strong>"), "{}", home.body);
    assert!(!home.body.contains("<strong>Hello</strong>"), "an app she was not given is not offered");
    let account = grandma.get("/account").await;
    assert_eq!(account.status, 200);
    assert!(account.body.contains("member"));
    assert!(account.body.contains("family"), "group carried over");
    assert!(account.body.contains("photos") && account.body.contains("viewer"), "grant carried over");
    // Members are not admins, not even with a valid form token of their own.
    assert_eq!(grandma.get("/admin/people").await.status, 403);
    let token = grandma.get("/account").await.csrf();
    let form = [("csrf", token.as_str()), ("note", "x"), ("role", "owner"), ("expires", "86400"), ("uses", "1")];
    assert_eq!(grandma.post("/admin/invites", &form).await.status, 403);
    assert!(porch.audit().contains("invite.used"));
}

/// The page every dead link gets must be the same whatever the reason.
async fn dead_page(b: &Browser, link: &str) -> String {
    let page = b.get(link).await;
    assert_eq!(page.status, 404, "{link} should be dead");
    assert!(page.body.contains("This link no longer works"), "{}", page.body);
    assert!(page.body.contains("Ask the person who sent it"));
    page.body
}

#[tokio::test]
async fn every_dead_invite_gets_the_same_friendly_page_and_is_audited() {
    // Six dead links from one client would slow it down (see limits.rs).
    let porch = Porch::start_with_config("[signin]\nfree_failures = 10\n", "127.0.0.1:0");
    let _owner = porch.owner().await;
    let b = porch.browser();

    // Expired.
    let expiring = porch.invite(&["--expires", "1s"]);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let expired = dead_page(&b, &expiring).await;
    let joined = b.post(&expiring, &[("name", "Late"), ("password", PASSWORD), ("confirm", PASSWORD)]).await;
    assert_eq!(joined.status, 404, "an expired link cannot be redeemed by posting either");

    // Used up.
    let once = porch.invite(&["--uses", "1"]);
    assert_eq!(porch.browser().join(&once, "First", PASSWORD).await.status, 303);
    let used = dead_page(&b, &once).await;

    // Revoked.
    let revocable = porch.invite(&["--note", "oops"]);
    let id = porch
        .cli(&["invite", "list"])
        .stdout
        .lines()
        .find(|l| l.contains("oops"))
        .expect("listed")
        .split_whitespace()
        .next()
        .expect("id")
        .to_owned();
    let out = porch.cli(&["invite", "revoke", &id]);
    assert!(out.success, "{}", out.stderr);
    let revoked = dead_page(&b, &revocable).await;

    // Unknown (well-formed) and malformed tokens.
    let unknown = dead_page(&b, "/join/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await;
    let malformed = dead_page(&b, "/join/not-a-token").await;

    for other in [&used, &revoked, &unknown, &malformed] {
        assert_eq!(&expired, other, "dead links must be indistinguishable");
    }
    let audit = porch.audit();
    for reason in ["expired", "used up", "revoked", "unknown or malformed token"] {
        assert!(
            audit.lines().any(|l| l.contains("invite.refused") && l.contains(reason)),
            "no audit for {reason}:\n{audit}"
        );
    }
}

#[tokio::test]
async fn an_invite_for_two_admits_exactly_two() {
    let porch = Porch::start();
    let _owner = porch.owner().await;
    let link = porch.invite(&["--uses", "2"]);
    assert_eq!(porch.browser().join(&link, "One", PASSWORD).await.status, 303);
    assert_eq!(porch.browser().join(&link, "Two", PASSWORD).await.status, 303);
    dead_page(&porch.browser(), &link).await;
}

#[tokio::test]
async fn join_form_problems_are_explained_and_do_not_use_up_the_invite() {
    let porch = Porch::start();
    let _owner = porch.owner().await;
    let link = porch.invite(&[]);
    let b = porch.browser();

    let short = b.post(&link, &[("name", "Kid"), ("password", "123456789"), ("confirm", "123456789")]).await;
    assert_eq!(short.status, 422);
    assert!(short.body.contains("at least 10 characters"), "{}", short.body);

    let mismatch = b.post(&link, &[("name", "Kid"), ("password", PASSWORD), ("confirm", "something else")]).await;
    assert_eq!(mismatch.status, 422);
    assert!(mismatch.body.contains("not the same"));

    let taken = b.post(&link, &[("name", "olivia owner"), ("password", PASSWORD), ("confirm", PASSWORD)]).await;
    assert_eq!(taken.status, 422);
    assert!(taken.body.contains("already called"), "names are unique regardless of case");

    // Exactly ten characters is enough, and the invite still has its one use.
    let ok = b.post(&link, &[("name", "Kid"), ("password", "1234567890"), ("confirm", "1234567890")]).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
}

#[tokio::test]
async fn sign_out_then_sign_in_and_wrong_passwords_are_refused_and_audited() {
    let porch = Porch::start();
    let owner = porch.owner().await;
    let out = owner.submit("/account", "/signout", &[]).await;
    assert_eq!(out.status, 303);
    assert!(!owner.signed_in().await);

    let wrong = owner.sign_in(OWNER, "not the password").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("do not match"));
    let nobody = owner.sign_in("Nobody", "not the password").await;
    assert_eq!(nobody.status, 401);
    assert_eq!(
        between(&wrong.body, "<p class=\"error\"", "</p>"),
        between(&nobody.body, "<p class=\"error\"", "</p>"),
        "an unknown name and a wrong password look the same"
    );

    let right = owner.sign_in(OWNER, PASSWORD).await;
    assert_eq!(right.status, 303);
    assert_eq!(right.location.as_deref(), Some("/account"));
    assert!(owner.signed_in().await);
    let audit = porch.audit();
    assert!(audit.contains("signin.failed") && audit.contains("signin.ok") && audit.contains("signout"), "{audit}");
}

#[tokio::test]
async fn sign_in_redirects_only_to_local_pages() {
    let porch = Porch::start();
    let owner = porch.owner().await;
    owner.submit("/account", "/signout", &[]).await;
    let page = owner.post("/signin", &[("name", OWNER), ("password", PASSWORD), ("next", "//evil.example/")]).await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location.as_deref(), Some("/"));
}

#[tokio::test]
async fn session_cookie_is_host_only_http_only_and_lax() {
    let porch = Porch::start();
    let _owner = porch.owner().await;
    let b = porch.browser();
    let page = b.sign_in(OWNER, PASSWORD).await;
    // Sign-in also sets the device cookie; the two come in no fixed order.
    let cookie = page
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("porch_session="))
        .expect("a session cookie")
        .to_owned();
    assert!(cookie.starts_with("porch_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.to_ascii_lowercase().contains("domain="), "host-only: {cookie}");
    assert!(cookie.contains(&format!("Max-Age={}", 90 * 86400)), "90-day default lifetime: {cookie}");
}

#[tokio::test]
async fn sessions_are_listed_per_device_and_revocable_one_by_one() {
    let porch = Porch::start();
    let _owner = porch.owner().await;
    let link = porch.invite(&["--uses", "1"]);
    let phone = Browser::new(
        &porch.url,
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
    );
    assert_eq!(phone.join(&link, "Mum", PASSWORD).await.status, 303);
    let laptop =
        Browser::new(&porch.url, "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0");
    assert_eq!(laptop.sign_in("Mum", PASSWORD).await.status, 303);

    let account = laptop.get("/account").await;
    assert!(account.body.contains("Chrome on Android"), "{}", account.body);
    assert!(account.body.contains("Firefox on Windows"), "{}", account.body);
    assert!(account.body.contains("this device"));

    // From the laptop, sign the phone out.
    let sessions: Vec<String> = account
        .body
        .split("action=\"/account/sessions/")
        .skip(1)
        .map(|s| s.split('/').next().expect("id").to_owned())
        .collect();
    assert_eq!(sessions.len(), 2);
    let phone_session = account.body.split("<li>").find(|li| li.contains("Chrome on Android")).expect("phone row");
    let phone_id = between(phone_session, "/account/sessions/", "/end").expect("id");
    let ended = laptop.post(&format!("/account/sessions/{phone_id}/end"), &[("csrf", &account.csrf())]).await;
    assert_eq!(ended.status, 303);
    assert!(!phone.signed_in().await, "the phone is signed out");
    assert!(laptop.signed_in().await, "the laptop is not");

    // Nobody can end someone else's session.
    let owner = porch.browser();
    owner.sign_in(OWNER, PASSWORD).await;
    let laptop_id = between(&laptop.get("/account").await.body, "/account/sessions/", "/end").expect("id");
    let foreign = owner
        .post(&format!("/account/sessions/{laptop_id}/end"), &[("csrf", &owner.get("/account").await.csrf())])
        .await;
    assert_eq!(foreign.status, 404);
    assert!(laptop.signed_in().await);
}

#[tokio::test]
async fn disabling_a_person_from_the_cli_ends_their_sessions_at_once() {
    let porch = Porch::start();
    let _owner = porch.owner().await;
    let link = porch.invite(&[]);
    let cousin = porch.browser();
    assert_eq!(cousin.join(&link, "Cousin", PASSWORD).await.status, 303);
    assert!(cousin.signed_in().await);

    let out = porch.cli(&["user", "disable", "Cousin"]);
    assert!(out.success, "{}", out.stderr);
    assert!(out.stdout.contains("1 session(s) ended"), "{}", out.stdout);
    assert!(!cousin.signed_in().await, "disabled while serving: the very next request is anonymous");
    let again = cousin.sign_in("Cousin", PASSWORD).await;
    assert_eq!(again.status, 401);
    // Answered exactly like a wrong password (review finding L9); the owner
    // sees the reason in the audit log.
    assert!(again.body.contains("do not match") && !again.body.contains("turned off"), "{}", again.body);
    assert!(porch.audit().contains("account disabled"));

    let out = porch.cli(&["user", "enable", "Cousin"]);
    assert!(out.success);
    assert_eq!(cousin.sign_in("Cousin", PASSWORD).await.status, 303);
}

#[tokio::test]
async fn the_last_owner_cannot_be_disabled_or_demoted() {
    let porch = Porch::start();
    let owner = porch.owner().await;
    let out = porch.cli(&["user", "disable", OWNER]);
    assert!(!out.success);
    assert!(out.stderr.contains("only owner"), "{}", out.stderr);

    let people = owner.get("/admin/people").await;
    let id = between(&people.body, "action=\"/admin/people/", "\"").expect("id");
    let page = owner
        .post(&format!("/admin/people/{id}"), &[("csrf", &people.csrf()), ("role", "member"), ("groups", "")])
        .await;
    assert_eq!(page.status, 403);
    assert!(owner.get("/admin/people").await.status == 200, "still an owner");
}

#[tokio::test]
async fn owner_changes_role_and_groups_and_disables_from_the_admin_page() {
    let porch = Porch::start();
    let owner = porch.owner().await;
    let link = porch.invite(&[]);
    let aunt = porch.browser();
    aunt.join(&link, "Aunt", PASSWORD).await;

    let people = owner.get("/admin/people").await;
    let row = people.body.split("<li").find(|li| li.contains("Aunt")).expect("aunt listed");
    let id = between(row, "action=\"/admin/people/", "\"").expect("id");
    let csrf = people.csrf();
    let saved = owner
        .post(&format!("/admin/people/{id}"), &[("csrf", &csrf), ("role", "owner"), ("groups", "family, cooks")])
        .await;
    assert_eq!(saved.status, 303);
    let account = aunt.get("/account").await;
    assert!(account.body.contains("cooks") && account.body.contains("family"), "{}", account.body);
    assert_eq!(aunt.get("/admin/people").await.status, 200, "now an owner");

    let disabled = owner.post(&format!("/admin/people/{id}/disable"), &[("csrf", &csrf)]).await;
    assert_eq!(disabled.status, 303);
    assert!(!aunt.signed_in().await);
    let listing = porch.cli(&["user", "list"]).stdout;
    assert!(listing.lines().any(|l| l.contains("Aunt") && l.contains("disabled")), "{listing}");
}

#[tokio::test]
async fn owner_creates_an_invite_in_the_admin_ui_with_a_local_qr_code() {
    let porch = Porch::start();
    let owner = porch.owner().await;
    // Installed apps and their roles are choices, never typed text (issue 24).
    let form = owner.get("/admin/invites").await.body;
    assert!(form.contains("<option value=\"photos:contributor\">"), "{form}");
    assert!(form.contains("<option value=\"hello:visitor\">") && !form.contains("name=\"apps\""), "{form}");
    let page = owner
        .submit(
            "/admin/invites",
            "/admin/invites",
            &[
                ("note", "for Uncle Bob"),
                ("role", "member"),
                ("groups", "family"),
                ("grant", "photos:contributor"),
                ("grant", ""),
                ("expires", "86400"),
                ("uses", "1"),
            ],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let link = between(&page.body, "<code id=\"invite-link\">", "</code>").expect("link shown");
    assert!(link.starts_with(&format!("{}/join/", porch.url)), "{link}");
    assert!(page.body.contains("<svg"), "QR code inline as SVG");
    assert!(!page.body.contains("http://") || !page.body.contains("src=\"http"), "no outside image");

    let list = owner.get("/admin/invites").await;
    assert!(list.body.contains("for Uncle Bob") && list.body.contains("active"));
    assert!(!list.body.contains(&link), "the link is shown only once");

    let bob = porch.browser();
    assert_eq!(bob.join(&link, "Bob", PASSWORD).await.status, 303);
    let account = bob.get("/account").await;
    assert!(account.body.contains("contributor"));

    // A bad field is explained, not a crash.
    let bad = owner
        .submit(
            "/admin/invites",
            "/admin/invites",
            &[
                ("note", ""),
                ("role", "member"),
                ("groups", "Family!"),
                ("grant", ""),
                ("expires", "86400"),
                ("uses", "1"),
            ],
        )
        .await;
    assert_eq!(bad.status, 200);
    assert!(bad.body.contains("not a usable group name"), "{}", bad.body);
    // A forged choice (a role the app does not declare) is explained too.
    let forged = [("note", ""), ("role", "member"), ("grant", "photos:emperor"), ("expires", "86400"), ("uses", "1")];
    let bad = owner.submit("/admin/invites", "/admin/invites", &forged).await;
    assert_eq!(bad.status, 200);
    assert!(bad.body.contains("emperor"), "{}", bad.body);
}

#[tokio::test]
async fn cross_site_posts_are_refused_with_403_and_audited() {
    let porch = Porch::start();
    let owner = porch.owner().await;
    let token = owner.get("/admin/invites").await.csrf();
    let form = [("csrf", token.as_str()), ("note", "evil"), ("role", "owner"), ("expires", "86400"), ("uses", "1")];

    // A page on another site posting with the owner's cookie.
    let evil = owner.post_from("/admin/invites", &form, Some("http://evil.example")).await;
    assert_eq!(evil.status, 403, "{}", evil.body);
    assert!(evil.body.contains("did not come from this site"));

    // Right origin but no per-form token (a stolen cookie cannot know it).
    let no_token = owner.post("/admin/invites", &form[1..]).await;
    assert_eq!(no_token.status, 422, "the form is incomplete without its token field");
    let wrong_token = owner
        .post(
            "/admin/invites",
            &[("csrf", "x"), ("note", "evil"), ("role", "owner"), ("expires", "86400"), ("uses", "1")],
        )
        .await;
    assert_eq!(wrong_token.status, 403);

    // Login CSRF: another site cannot sign a visitor in either.
    let login = porch
        .browser()
        .post_from("/signin", &[("name", OWNER), ("password", PASSWORD)], Some("https://evil.example"))
        .await;
    assert_eq!(login.status, 403);

    let list = owner.get("/admin/invites").await;
    assert!(!list.body.contains("evil"), "no invite was created");
    let audit = porch.audit();
    assert!(audit.lines().filter(|l| l.contains("csrf.refused")).count() >= 3, "{audit}");
}

#[tokio::test]
async fn restart_keeps_people_sessions_and_invites() {
    let mut porch = Porch::start();
    let owner = porch.owner().await;
    let link = porch.invite(&["--note", "for later"]);
    porch.restart();
    assert!(owner.signed_in().await, "the session survived the restart");
    let later = porch.browser();
    assert_eq!(later.join(&link, "Later", PASSWORD).await.status, 303, "the invite survived too");
    assert!(porch.cli(&["user", "list"]).stdout.contains("Later"));
}

#[tokio::test]
async fn sigterm_shuts_down_cleanly_and_checkpoints_the_database() {
    let mut porch = Porch::start();
    let _owner = porch.owner().await;
    let status = porch.stop();
    assert!(status.success(), "exit status {status}");
    let wal = porch.data().join("porch.sqlite-wal");
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal_len, 0, "the WAL was checkpointed and removed on close");
}

#[tokio::test]
async fn form_bodies_are_limited_at_the_configured_size() {
    let porch = Porch::start();
    let b = porch.browser();
    let limit = 64 * 1024;
    let body_of = |len: usize| {
        let mut body = b"name=x&password=".to_vec();
        body.resize(len, b'a');
        body
    };
    let at_limit = b.post_raw("/signin", body_of(limit)).await;
    assert_eq!(at_limit.status, 401, "a body of exactly the limit is read");
    let over = b.post_raw("/signin", body_of(limit + 1)).await;
    assert_eq!(over.status, 413);
    assert!(over.body.contains("too large"), "{}", over.body);
}

#[tokio::test]
async fn every_page_carries_the_security_headers() {
    let porch = Porch::start();
    let owner = porch.owner().await;
    for path in ["/", "/signin", "/account", "/admin/people", "/admin/invites", "/admin/audit", "/nope", "/join/x"] {
        let page = owner.get(path).await;
        let h = |name: &str| page.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        assert!(h("content-security-policy").contains("default-src 'self'"), "{path}");
        assert!(h("content-security-policy").contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(h("referrer-policy"), "no-referrer", "{path}");
        assert_eq!(h("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(h("x-frame-options"), "DENY", "{path}");
        assert!(!page.body.contains("https://"), "no outside resources on {path}");
    }
}

#[tokio::test]
async fn hosts_route_to_porch_apps_or_nowhere() {
    let porch = Porch::start();
    let b = porch.browser();
    let port = porch.url.rsplit(':').next().expect("port");
    let app = b.get_with_host("/", &format!("nope.localhost:{port}")).await;
    assert_eq!(app.status, 404);
    assert!(app.body.contains("no app called"), "{}", app.body);
    let health = b.get_with_host("/.porch/health", &format!("nope.localhost:{port}")).await;
    assert_eq!(health.status, 200, "/.porch/ is answered on every host");
    let stranger = b.get_with_host("/", &format!("example.org:{port}")).await;
    assert_eq!(stranger.status, 421);
    assert_eq!(b.get("/.porch/static/style.css").await.status, 200);
}

/// Regression: a SIGTERM right after "porch is serving" killed the process
/// before its signal handler existed, so it died without closing SQLite.
#[tokio::test]
async fn sigterm_right_after_start_is_still_a_clean_shutdown() {
    let mut porch = Porch::start();
    let status = porch.stop();
    assert!(status.success(), "exit status {status}");
}

/// Issue 24: porch installs to a phone's home screen as its own app: every
/// page names a web app manifest that opens standalone at the start page,
/// with PNG icons of the sizes phones ask for, all served by porch itself.
#[tokio::test]
async fn porch_can_be_added_to_a_phones_home_screen() {
    let porch = Porch::start();
    let b = porch.browser();
    let home = b.get("/").await;
    let href = between(&home.body, "<link rel=\"manifest\" href=\"", "\"").expect("a manifest link");
    assert_eq!(href, "/.porch/static/manifest.webmanifest");
    let manifest = b.get(&href).await;
    assert_eq!(manifest.status, 200);
    let kind = manifest.headers.get("content-type").and_then(|v| v.to_str().ok());
    assert_eq!(kind, Some("application/manifest+json"));
    let json: serde_json::Value = serde_json::from_str(&manifest.body).expect("valid JSON");
    assert_eq!(json["display"], "standalone");
    assert_eq!(json["start_url"], "/");
    let icons = json["icons"].as_array().expect("icons");
    for size in [192u32, 512] {
        let icon = icons
            .iter()
            .find(|i| i["sizes"] == format!("{size}x{size}") && i["type"] == "image/png")
            .unwrap_or_else(|| panic!("no {size} px PNG icon"));
        let src = icon["src"].as_str().expect("src");
        assert!(src.starts_with("/.porch/static/"), "{src}");
        let bytes = b.get_bytes(src).await;
        let image = image::load_from_memory(&bytes).expect("a real PNG");
        assert_eq!((image.width(), image.height()), (size, size));
    }
    assert!(icons.iter().any(|i| i["purpose"] == "maskable"), "a maskable icon for Android's shapes");
}
