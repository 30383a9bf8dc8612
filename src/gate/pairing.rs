//! "Add this phone": a signed-in person makes a one-time link (shown as a
//! QR code) on a device they already use; the new device opens it, and
//! pressing Start claims it with a secret cookie of its own (opening alone
//! claims nothing, so a messenger's link preview cannot); both screens show the same
//! six-digit code; the person allows the new device on the first one; only
//! then, and only the device that claimed it, is signed in, once. A link
//! seen over a shoulder is useless: whoever opens it first shows up by
//! browser and code on the person's own screen, and needs their "Allow".

use std::time::Duration;

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use rand::Rng;

use super::error::GateError;
use super::secret::{self, Secret};
use super::sessions;
use crate::common::clock::now;
use crate::common::limits::PAIRING_LIFETIME;
use crate::config::Settings;
use crate::store::audit::{Action, Actor, record};
use crate::store::{PairingRow, Store};

/// A new pairing: its id (for the first device's pages) and the link.
#[derive(Debug)]
pub struct CreatedPairing {
    pub id: i64,
    pub link: String,
    pub expires_at: i64,
}

/// Makes a pairing link for the signed-in `person_id`; their earlier open
/// ones end.
pub async fn create(
    store: &Store,
    base_url: &str,
    person_id: i64,
    name: &str,
    by: Actor,
) -> Result<CreatedPairing, GateError> {
    let secret = Secret::generate();
    let at = now();
    let expires_at = at.saturating_add(secs(PAIRING_LIFETIME));
    let id = store.create_pairing(secret.hash(), person_id, at, expires_at).await?;
    let detail = format!("works once, for {}", humantime::format_duration(PAIRING_LIFETIME));
    record(store, by, Action::PairingCreated, name, &detail).await;
    Ok(CreatedPairing { id, link: format!("{base_url}/pair/{}", secret.text()), expires_at })
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// The name of the cookie a claiming device keeps.
fn claim_cookie_name(settings: &Settings) -> &'static str {
    if settings.secure_cookies() { "__Host-porch_pair" } else { "porch_pair" }
}

/// The live pairing a presented link token names, or `None` (audited).
pub async fn check(store: &Store, token: &str, ip: Option<String>) -> Result<Option<PairingRow>, GateError> {
    let found = match secret::hash_presented(token) {
        Some(hash) => {
            store.live_pairing(&hash, now()).await?.filter(|row| secret::hashes_match(&row.token_hash, &hash))
        }
        None => None,
    };
    if found.is_none() {
        record(store, Actor::Anonymous { ip }, Action::PairingRefused, "", "unknown, used or expired link").await;
    }
    Ok(found)
}

/// Whether this browser holds the claim on `row`.
pub fn holds_claim(settings: &Settings, jar: &CookieJar, row: &PairingRow) -> bool {
    let Some(cookie) = jar.get(claim_cookie_name(settings)) else { return false };
    let (Some(presented), Some(stored)) = (secret::hash_presented(cookie.value()), &row.claim_hash) else {
        return false;
    };
    secret::hashes_match(stored, &presented)
}

/// What the new device sees when it presses Start.
pub enum Opened {
    /// It claimed the link now: set this cookie, show this code.
    Claimed { cookie: Cookie<'static>, code: String },
    /// It had claimed it before (a reload): show the code again.
    Already { code: String },
    /// Another device claimed it first.
    Taken,
}

/// The new device presses Start: the first to do so claims the link.
pub async fn open(
    store: &Store,
    settings: &Settings,
    jar: &CookieJar,
    row: &PairingRow,
    user_agent: &str,
) -> Result<Opened, GateError> {
    if row.claim_hash.is_some() {
        return Ok(match (&row.code, holds_claim(settings, jar, row)) {
            (Some(code), true) => Opened::Already { code: code.clone() },
            _ => Opened::Taken,
        });
    }
    let claim = Secret::generate();
    let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32));
    let label = sessions::device_label(user_agent);
    if !store.claim_pairing(row.id, claim.hash(), &label, &code, now()).await? {
        return Ok(Opened::Taken);
    }
    let mut cookie = sessions::cookie_named(settings, claim_cookie_name(settings), claim.text().to_owned());
    cookie.set_same_site(SameSite::Strict);
    cookie.set_max_age(time::Duration::seconds(secs(PAIRING_LIFETIME)));
    Ok(Opened::Claimed { cookie, code })
}

/// The person allows the device that claimed their pairing.
pub async fn approve(store: &Store, id: i64, person_id: i64, name: &str, by: Actor) -> Result<bool, GateError> {
    let Some(row) = store.pairing_of(id, person_id, now()).await? else { return Ok(false) };
    if !store.approve_pairing(id, person_id, now()).await? {
        return Ok(false);
    }
    let device = row.claim_label.unwrap_or_default();
    record(store, by, Action::PairingApproved, name, &format!("allowed {device}")).await;
    Ok(true)
}

/// The claiming device, once allowed, signs in: the person's id, or `None`
/// when it is not allowed (yet) or the link ended.
pub async fn finish(
    store: &Store,
    settings: &Settings,
    jar: &CookieJar,
    row: &PairingRow,
    ip: Option<String>,
) -> Result<Option<i64>, GateError> {
    let Some(claim) = jar.get(claim_cookie_name(settings)).and_then(|c| secret::hash_presented(c.value())) else {
        return Ok(None);
    };
    let Some(person_id) = store.use_pairing(row.id, &claim, now()).await? else { return Ok(None) };
    let name = store.person(person_id).await?.map(|p| p.display_name).unwrap_or_default();
    let device = row.claim_label.clone().unwrap_or_default();
    record(store, Actor::Person { id: person_id, ip }, Action::PairingUsed, &name, &format!("signed in {device}"))
        .await;
    Ok(Some(person_id))
}

/// A cookie that makes the browser forget its claim.
pub fn claim_removal(settings: &Settings) -> Cookie<'static> {
    let mut c = sessions::cookie_named(settings, claim_cookie_name(settings), String::new());
    c.set_same_site(SameSite::Strict);
    c.set_max_age(time::Duration::ZERO);
    c
}
