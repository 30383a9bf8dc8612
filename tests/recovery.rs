//! "Sign in again" links (issue 24, never locked out): the owner makes a
//! one-time link for a person who forgot their password or lost their
//! phone; it sets a new password, signs them in, signs out their other
//! devices unless they choose otherwise, and keeps everything they had.

use crate::util::{Browser, OWNER, PASSWORD, Porch, between};

/// Each test makes more door requests (joins, sign-ins, link opens) from
/// one address than the default door budget allows in a minute.
const ROOMY_DOOR: &str = "[limits]\ndoor_burst = 100\n";

const NEW_PASSWORD: &str = "a brand new long secret";

/// Joins Ann with Photos as a viewer, signed in on two devices.
async fn ann_on_two_devices(porch: &Porch) -> (Browser, Browser) {
    let link = porch.invite(&["--note", "Ann", "--group", "family", "--app", "photos:viewer"]);
    let phone = porch.browser();
    assert_eq!(phone.join(&link, "Ann", PASSWORD).await.status, 303);
    let laptop = porch.browser();
    assert_eq!(laptop.sign_in("Ann", PASSWORD).await.status, 303);
    (phone, laptop)
}

fn recover_link(porch: &Porch, args: &[&str]) -> String {
    let mut all = vec!["user", "recover"];
    all.extend_from_slice(args);
    let out = porch.cli(&all);
    assert!(out.success, "user recover failed: {}", out.stderr);
    let link = out.stdout.lines().last().expect("a link").to_owned();
    assert!(link.contains("/recover/"), "{}", out.stdout);
    link
}

#[tokio::test]
async fn a_forgotten_password_comes_back_through_a_one_time_link_and_nothing_is_lost() {
    let porch = Porch::start_with_config(ROOMY_DOOR, "127.0.0.1:0");
    let _owner = porch.owner().await;
    let (phone, laptop) = ann_on_two_devices(&porch).await;

    let out = porch.cli(&["user", "recover", "Ann"]);
    assert!(out.success, "{}", out.stderr);
    assert!(out.stdout.contains("works once"), "{}", out.stdout);
    assert!(out.stdout.contains('█') || out.stdout.contains('▀'), "a QR code for the phone's camera: {}", out.stdout);
    let link = out.stdout.lines().last().expect("link").to_owned();

    // Opened in a fresh browser (the new phone).
    let new_phone = porch.browser();
    let page = new_phone.get(&link).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Welcome back, Ann"), "{}", page.body);
    assert!(page.body.contains("name=\"sign_out_others\" value=\"yes\" checked"), "signing out others is the default");

    // A form problem is explained and does not use the link up.
    let mismatch = [("password", NEW_PASSWORD), ("confirm", "something else entirely"), ("sign_out_others", "yes")];
    let again = new_phone.post(&link, &mismatch).await;
    assert_eq!(again.status, 422);
    assert!(again.body.contains("not the same"), "{}", again.body);
    let short = new_phone.post(&link, &[("password", "short"), ("confirm", "short")]).await;
    assert_eq!(short.status, 422);
    assert!(!short.body.contains("value=\"yes\" checked"), "an unticked box stays unticked on the retry");

    let done = new_phone
        .post(&link, &[("password", NEW_PASSWORD), ("confirm", NEW_PASSWORD), ("sign_out_others", "yes")])
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/?recovered=1"));
    let home = new_phone.get("/?recovered=1").await;
    assert!(home.body.contains("id=\"home-name\">Ann<") && home.body.contains("Welcome back"), "{}", home.body);
    assert!(home.body.contains("<strong>Photos</strong>"), "her grants are untouched: {}", home.body);
    let account = new_phone.get("/account").await;
    assert!(account.body.contains("family") && account.body.contains("viewer"), "{}", account.body);

    // Her other devices are signed out; the old password is gone.
    assert!(!phone.signed_in().await && !laptop.signed_in().await, "other devices were signed out");
    assert_eq!(porch.browser().sign_in("Ann", PASSWORD).await.status, 401);
    assert_eq!(porch.browser().sign_in("Ann", NEW_PASSWORD).await.status, 303);

    // Single use: the same link is dead now, in any browser.
    assert_eq!(porch.browser().get(&link).await.status, 404);
    let other = porch.browser();
    let reuse = other.post(&link, &[("password", "another long secret"), ("confirm", "another long secret")]).await;
    assert_eq!(reuse.status, 404);
    assert_eq!(porch.browser().sign_in("Ann", NEW_PASSWORD).await.status, 303, "the dead link changed nothing");

    let audit = porch.audit();
    assert!(audit.contains("recovery.created") && audit.contains("recovery.used"), "{audit}");
    assert!(audit.contains("recovery.refused"), "dead links are audited: {audit}");
}

#[tokio::test]
async fn unticking_the_box_keeps_the_other_devices_signed_in() {
    let porch = Porch::start_with_config(ROOMY_DOOR, "127.0.0.1:0");
    let _owner = porch.owner().await;
    let (phone, laptop) = ann_on_two_devices(&porch).await;
    let link = recover_link(&porch, &["Ann", "--no-qr"]);
    let b = porch.browser();
    assert_eq!(b.get(&link).await.status, 200);
    let done = b.post(&link, &[("password", NEW_PASSWORD), ("confirm", NEW_PASSWORD)]).await;
    assert_eq!(done.status, 303);
    assert!(phone.signed_in().await && laptop.signed_in().await, "kept, as chosen");
    assert!(b.signed_in().await);
    assert!(porch.audit().contains("other devices kept"));
}

#[tokio::test]
async fn a_newer_link_replaces_the_older_one_and_the_lifetime_is_checked_at_its_edges() {
    let porch = Porch::start_with_config(ROOMY_DOOR, "127.0.0.1:0");
    let _owner = porch.owner().await;
    let _ann = ann_on_two_devices(&porch).await;
    let first = recover_link(&porch, &["Ann", "--expires", "10m", "--no-qr"]);
    let second = recover_link(&porch, &["Ann", "--expires", "7d", "--no-qr"]);
    assert_eq!(porch.browser().get(&first).await.status, 404, "only the newest link works");
    assert_eq!(porch.browser().get(&second).await.status, 200);
    for bad in ["9m", "8d", "soon"] {
        let out = porch.cli(&["user", "recover", "Ann", "--expires", bad]);
        assert!(!out.success, "--expires {bad} was accepted");
        assert!(out.stderr.contains("a duration from 10m to 7d"), "{}", out.stderr);
    }
    let out = porch.cli(&["user", "recover", "Nobody"]);
    assert!(!out.success && out.stderr.contains("porch user list"), "{}", out.stderr);

    // A disabled person gets no link, and their open link stops working.
    assert!(porch.cli(&["user", "disable", "Ann"]).success);
    assert_eq!(porch.browser().get(&second).await.status, 404);
    let out = porch.cli(&["user", "recover", "Ann"]);
    assert!(!out.success && out.stderr.contains("turned off"), "{}", out.stderr);
}

#[tokio::test]
async fn the_owner_makes_a_sign_in_link_on_admin_people_with_a_qr_code() {
    let porch = Porch::start_with_config(ROOMY_DOOR, "127.0.0.1:0");
    let owner = porch.owner().await;
    let (_phone, _laptop) = ann_on_two_devices(&porch).await;
    let people = owner.get("/admin/people").await;
    assert!(people.body.contains("Make a sign-in link"), "{}", people.body);
    // Ann's row is the one after the owner's; take her form's action.
    let ann_row = &people.body[people.body.find("<strong>Ann</strong>").expect("Ann listed")..];
    let end = ann_row.find("/recover\"").expect("a sign-in link form in Ann's row");
    let start = ann_row[..end].rfind("action=\"").expect("its action") + "action=\"".len();
    let action = format!("{}/recover", &ann_row[start..end]);
    assert!(action.starts_with("/admin/people/"), "{action}");
    let shown = owner.post(&action, &[("csrf", &people.csrf())]).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert!(shown.body.contains("<svg"), "a QR code made on the box");
    let link = between(&shown.body, "<code id=\"recovery-link\">", "</code>").expect("the link");
    let b = porch.browser();
    assert!(b.get(&link).await.body.contains("Welcome back, Ann"));
    assert!(b.get(&link).await.body.contains(OWNER), "the page names who made the link");

    // Only an owner may make one; a member's own form token does not help.
    let member = porch.browser();
    assert_eq!(member.sign_in("Ann", PASSWORD).await.status, 303);
    let token = member.get("/account").await.csrf();
    assert_eq!(member.post(&action, &[("csrf", &token)]).await.status, 403);
    // With a wrong form token (a forged cross-site form), refused too.
    assert_eq!(owner.post(&action, &[("csrf", "not-the-form-token")]).await.status, 403);
}
