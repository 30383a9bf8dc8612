//! Passkeys over plain HTTP (issue 24): what porch does with answers no
//! real authenticator made. Real passkeys (join, sign in, remove, recover)
//! are made by Chromium's virtual authenticator in `browser.rs`.

use serde_json::{Value, json};

use crate::util::{Browser, PASSWORD, Porch};

async fn begin(b: &Browser) -> (Value, String) {
    let page = b.post("/signin/passkey/begin", &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let begun: Value = serde_json::from_str(&page.body).expect("json");
    let ceremony = begun["ceremony"].as_str().expect("a ceremony").to_owned();
    (begun["options"].clone(), ceremony)
}

/// An assertion for a passkey porch never saved.
fn forged() -> String {
    json!({
        "id": "AAECAwQFBgcICQoLDA0ODw", "rawId": "AAECAwQFBgcICQoLDA0ODw", "type": "public-key",
        "response": {
            "authenticatorData": "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAQ",
            "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0In0",
            "signature": "MEUCIQ", "userHandle": "AAECAwQFBgcICQoLDA0ODw"
        }
    })
    .to_string()
}

#[tokio::test]
async fn forged_passkey_answers_are_refused_audited_and_throttled() {
    let porch = Porch::start();
    let _owner = porch.owner().await;
    let b = porch.browser();

    // The challenge: for porch's own name, asking the phone to verify its
    // user, any of the person's passkeys (discoverable).
    let (options, ceremony) = begin(&b).await;
    assert_eq!(options["publicKey"]["rpId"], "localhost", "{options}");
    assert_eq!(options["publicKey"]["userVerification"], "required", "{options}");
    assert!(options["publicKey"].get("allowCredentials").is_none_or(|a| a.as_array().is_some_and(Vec::is_empty)));

    let refused = b.post("/signin/passkey/finish", &[("ceremony", &ceremony), ("credential", &forged())]).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(refused.body.contains("not accepted"), "{}", refused.body);
    assert!(refused.headers["content-type"].to_str().expect("type").starts_with("application/json"));
    assert_eq!(b.get("/account").await.status, 303, "not signed in");

    // A ceremony is used once, and an unknown one is "start again".
    let again = b.post("/signin/passkey/finish", &[("ceremony", &ceremony), ("credential", &forged())]).await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.body.contains("start again"), "{}", again.body);
    let made_up = b.post("/signin/passkey/finish", &[("ceremony", "AAAA"), ("credential", &forged())]).await;
    assert_eq!(made_up.status, 409);

    // Not JSON at all, and a huge answer: refused the same way.
    let (_, ceremony) = begin(&b).await;
    let junk = b.post("/signin/passkey/finish", &[("ceremony", &ceremony), ("credential", "{not json")]).await;
    assert_eq!(junk.status, 401);
    let (_, ceremony) = begin(&b).await;
    let huge = format!("{{\"id\":\"{}\"}}", "A".repeat(20_000));
    let big = b.post("/signin/passkey/finish", &[("ceremony", &ceremony), ("credential", &huge)]).await;
    assert_eq!(big.status, 401);

    // Failed passkeys count like wrong passwords: soon the client waits,
    // for challenges too.
    let mut held = None;
    for i in 0..12 {
        let page = b.post("/signin/passkey/begin", &[]).await;
        if page.status == 429 {
            held = Some(i);
            break;
        }
        let begun: Value = serde_json::from_str(&page.body).expect("json");
        let ceremony = begun["ceremony"].as_str().expect("ceremony");
        let page = b.post("/signin/passkey/finish", &[("ceremony", ceremony), ("credential", &forged())]).await;
        if page.status == 429 {
            held = Some(i);
            break;
        }
        assert_eq!(page.status, 401);
    }
    assert!(held.is_some(), "forged passkeys are throttled like passwords");
    let audit = porch.audit();
    assert!(audit.contains("passkey not accepted"), "{audit}");
}

#[tokio::test]
async fn joining_with_a_passkey_checks_the_link_and_the_name_first() {
    let porch = Porch::start_with_config("[limits]\ndoor_burst = 100\n", "127.0.0.1:0");
    let _owner = porch.owner().await;
    let link = porch.invite(&[]);
    let path = link.split_once("://").and_then(|(_, rest)| rest.split_once('/')).map(|(_, p)| format!("/{p}"));
    let path = path.expect("a path");
    let b = porch.browser();

    let taken = b.post(&format!("{path}/passkey/begin"), &[("name", crate::util::OWNER)]).await;
    assert_eq!(taken.status, 422, "{}", taken.body);
    assert!(taken.body.contains("already called"), "{}", taken.body);
    let blank = b.post(&format!("{path}/passkey/begin"), &[("name", "  ")]).await;
    assert_eq!(blank.status, 422, "{}", blank.body);

    let begun = b.post(&format!("{path}/passkey/begin"), &[("name", "Grandma")]).await;
    assert_eq!(begun.status, 200, "{}", begun.body);
    let begun: Value = serde_json::from_str(&begun.body).expect("json");
    let options = &begun["options"]["publicKey"];
    assert_eq!(options["user"]["name"], "Grandma");
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(options["authenticatorSelection"]["userVerification"], "required");

    // A made-up registration joins nobody and leaves the link as it was.
    let ceremony = begun["ceremony"].as_str().expect("ceremony");
    let fake = json!({"id": "AA", "rawId": "AA", "type": "public-key",
        "response": {"attestationObject": "AA", "clientDataJSON": "AA"}})
    .to_string();
    let refused = b.post(&format!("{path}/passkey/finish"), &[("ceremony", ceremony), ("credential", &fake)]).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(!porch.cli(&["user", "list"]).stdout.contains("Grandma"));
    assert_eq!(porch.browser().join(&link, "Grandma", PASSWORD).await.status, 303, "the link still works");

    // A dead link gets no challenge.
    let dead = b.post("/join/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/passkey/begin", &[("name", "X")]).await;
    assert_eq!(dead.status, 404, "{}", dead.body);
    assert!(porch.audit().contains("passkey.refused"));
}

#[tokio::test]
async fn adding_a_passkey_needs_the_session_and_its_form_token() {
    let porch = Porch::start();
    let owner = porch.owner().await;
    let anonymous = porch.browser();
    let page = anonymous.post("/account/passkeys/begin", &[("csrf", "x")]).await;
    assert_ne!(page.status, 200, "not signed in");
    let without = owner.post("/account/passkeys/begin", &[("csrf", "wrong")]).await;
    assert_eq!(without.status, 403);
    let csrf = owner.get("/account").await.csrf();
    let with = owner.post("/account/passkeys/begin", &[("csrf", &csrf)]).await;
    assert_eq!(with.status, 200, "{}", with.body);
    let removing = owner.post("/account/passkeys/999/remove", &[("csrf", &csrf)]).await;
    assert_eq!(removing.status, 404, "not theirs, not there");

    // An hour after signing in, a phone left signed in is not enough: the
    // password is asked for again (through the sign-in throttle).
    age_sessions(&porch, 3600).await;
    let page = owner.get("/account").await;
    assert!(page.body.contains("name=\"current\""), "the form asks for the password");
    let stale = owner.post("/account/passkeys/begin", &[("csrf", &csrf)]).await;
    assert_eq!(stale.status, 403, "{}", stale.body);
    assert!(stale.body.contains("type your password"), "{}", stale.body);
    let wrong = owner.post("/account/passkeys/begin", &[("csrf", &csrf), ("current", "not my password")]).await;
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    let right = owner.post("/account/passkeys/begin", &[("csrf", &csrf), ("current", PASSWORD)]).await;
    assert_eq!(right.status, 200, "{}", right.body);
}

/// Moves every session's start `secs` into the past.
async fn age_sessions(porch: &Porch, secs: i64) {
    use sqlx::Connection as _;
    use std::str::FromStr as _;
    let options = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://")
        .expect("options")
        .filename(porch.data().join("porch.sqlite"));
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await.expect("db");
    sqlx::query("UPDATE sessions SET created_at = created_at - ?").bind(secs).execute(&mut conn).await.expect("age");
    conn.close().await.expect("close");
}
