//! "Add this phone" (issue 24, never locked out): a signed-in person shows
//! a one-time link on a device they use, the new device opens it and shows
//! a code, the person allows it on the first device, and only then is the
//! new device signed in, once. Whoever opens a link first claims it; a
//! link seen over a shoulder gets the onlooker nowhere.

use crate::util::{Browser, PASSWORD, Porch, between};

/// Each test opens many links from one address.
const ROOMY_DOOR: &str = "[limits]\ndoor_burst = 100\n";

async fn ann(porch: &Porch) -> Browser {
    let link = porch.invite(&["--app", "photos:viewer"]);
    let phone = porch.browser();
    assert_eq!(phone.join(&link, "Ann", PASSWORD).await.status, 303);
    phone
}

/// The first device makes a pairing: its link and id.
async fn make_pairing(phone: &Browser) -> (String, i64) {
    let shown = phone.submit("/account", "/account/pair", &[]).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert!(shown.body.contains("<svg"), "a QR code for the new device's camera");
    let link = between(&shown.body, "<code id=\"pair-link\">", "</code>").expect("the link");
    let id = between(&shown.body, "href=\"/account/pair/", "\"").expect("check link").parse().expect("id");
    (link, id)
}

fn code_on(page: &str) -> String {
    between(page, "id=\"pair-code\">", "<").expect("a code").replace(' ', "")
}

#[tokio::test]
async fn a_new_phone_is_signed_in_after_the_person_allows_it_on_their_first_device() {
    let porch = Porch::start_with_config(ROOMY_DOOR, "127.0.0.1:0");
    let _owner = porch.owner().await;
    let phone = ann(&porch).await;
    let (link, id) = make_pairing(&phone).await;
    assert!(link.contains("/pair/"), "{link}");

    let waiting = phone.get(&format!("/account/pair/{id}")).await;
    assert!(waiting.body.contains("No device has opened the link yet"), "{}", waiting.body);

    // Opening the link only asks: a messenger's link preview claims nothing.
    let preview = porch.browser().get(&link).await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    assert!(preview.body.contains("Is this the new device?") && !preview.body.contains("pair-code"));

    let laptop = porch.browser();
    assert_eq!(laptop.get(&link).await.status, 200);
    let claimed = laptop.post(&link, &[]).await;
    assert_eq!(claimed.status, 200, "{}", claimed.body);
    let code = code_on(&claimed.body);
    assert_eq!(code.len(), 6, "{code}");
    assert_eq!(code_on(&laptop.get(&link).await.body), code, "a reload shows the same code");

    // Not allowed yet: Continue says what to do, and signs nobody in.
    let early = laptop.post(&link, &[]).await;
    assert_eq!(early.status, 409);
    assert!(early.body.contains("Not allowed yet"), "{}", early.body);
    assert!(!laptop.signed_in().await);

    // Someone who saw the link over a shoulder comes second: dead link.
    let onlooker = porch.browser();
    assert_eq!(onlooker.get(&link).await.status, 404);
    assert_eq!(onlooker.post(&link, &[]).await.status, 404);

    // The first device shows which device and which code, and allows it.
    let status = phone.get(&format!("/account/pair/{id}")).await;
    assert_eq!(code_on(&status.body), code, "both screens show the same code");
    assert!(status.body.contains("wants to sign in as you"), "{}", status.body);
    let allowed = phone.submit(&format!("/account/pair/{id}"), &format!("/account/pair/{id}/allow"), &[]).await;
    assert_eq!(allowed.status, 303);
    assert!(phone.get(&format!("/account/pair/{id}")).await.body.contains("Allowed"));

    assert_eq!(onlooker.post(&link, &[]).await.status, 404, "allowing the phone lets in nobody else");
    let done = laptop.post(&link, &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let account = laptop.get("/account").await;
    assert_eq!(account.status, 200);
    assert!(account.body.contains("id=\"account-name\">Ann<"), "{}", account.body);
    assert!(phone.signed_in().await, "the first device stays signed in");

    // Used once.
    assert_eq!(porch.browser().get(&link).await.status, 404);
    assert_eq!(laptop.post(&link, &[]).await.status, 404);
    let audit = porch.audit();
    for action in ["pairing.created", "pairing.approved", "pairing.used", "pairing.refused"] {
        assert!(audit.contains(action), "{action} missing: {audit}");
    }
}

#[tokio::test]
async fn a_cancelled_or_foreign_pairing_signs_nobody_in() {
    let porch = Porch::start_with_config(ROOMY_DOOR, "127.0.0.1:0");
    let owner = porch.owner().await;
    let phone = ann(&porch).await;
    let (link, id) = make_pairing(&phone).await;
    let stranger = porch.browser();
    let claimed = stranger.post(&link, &[]).await;
    assert_eq!(claimed.status, 200, "a stranger claims it first");
    assert!(claimed.body.contains("pair-code"), "{}", claimed.body);

    // Another person (even an owner) cannot allow Ann's pairing.
    let foreign = owner.submit("/account", &format!("/account/pair/{id}/allow"), &[]).await;
    assert_eq!(foreign.location.as_deref(), Some("/account?pairing=ended"));
    assert_eq!(stranger.post(&link, &[]).await.status, 409, "still not allowed");

    // Ann sees a device she does not know, and cancels.
    let cancelled = phone.submit(&format!("/account/pair/{id}"), &format!("/account/pair/{id}/cancel"), &[]).await;
    assert_eq!(cancelled.status, 303);
    assert_eq!(stranger.post(&link, &[]).await.status, 404);
    assert!(!stranger.signed_in().await);
    let ended = phone.get(&format!("/account/pair/{id}")).await;
    assert_eq!(ended.location.as_deref(), Some("/account?pairing=ended"));

    // A new pairing ends the older one, and a forged form token is refused.
    let (first, _) = make_pairing(&phone).await;
    let (second, _) = make_pairing(&phone).await;
    assert_eq!(porch.browser().get(&first).await.status, 404);
    assert_eq!(porch.browser().get(&second).await.status, 200);
    assert_eq!(phone.post("/account/pair", &[("csrf", "forged")]).await.status, 403);
}
