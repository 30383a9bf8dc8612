//! Sessions: starting one at sign-in (a 256-bit secret in a host-only
//! cookie), finding the caller from the cookie on every request, sliding the
//! expiry while it is used, and the cookie's attributes.

use crate::common::limits::{DEVICE_COOKIE_DAYS, SESSION_SLIDE_EVERY_SECS};
use axum_extra::extract::cookie::{Cookie, SameSite};
use time::Duration as CookieDuration;

use super::error::GateError;
use super::secret::{self, Secret};
use crate::common::clock::now;
use crate::config::Settings;
use crate::store::{PersonRow, SessionRow, Store};

/// Cookie name: `__Host-` on TLS makes browsers insist on Secure, Path=/ and
/// no Domain, so no other host can set or read it.
pub fn cookie_name(settings: &Settings) -> &'static str {
    if settings.secure_cookies() { "__Host-porch_session" } else { "porch_session" }
}

/// The signed-in person behind a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub person: PersonRow,
    pub session_id: i64,
    /// Token every state-changing form of this session must carry.
    pub csrf: String,
}

/// Starts a session for a person and returns its cookie.
pub async fn start(
    store: &Store,
    settings: &Settings,
    person_id: i64,
    user_agent: &str,
) -> Result<Cookie<'static>, GateError> {
    let secret = Secret::generate();
    let at = now();
    let lifetime = lifetime_secs(settings);
    store.create_session(secret.hash(), person_id, at, at.saturating_add(lifetime), &device_label(user_agent)).await?;
    Ok(cookie(settings, secret.text().to_owned()))
}

fn lifetime_secs(settings: &Settings) -> i64 {
    i64::try_from(settings.sessions.lifetime.as_secs()).unwrap_or(i64::MAX)
}

/// A session cookie carrying `value`, with every protective attribute.
pub fn cookie(settings: &Settings, value: String) -> Cookie<'static> {
    cookie_named(settings, cookie_name(settings), value)
}

/// A host-only session cookie of any name (porch's, or an app host's) with
/// the same protective attributes and lifetime.
pub fn cookie_named(settings: &Settings, name: &'static str, value: String) -> Cookie<'static> {
    let mut c = Cookie::new(name, value);
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_path("/");
    c.set_secure(settings.secure_cookies());
    c.set_max_age(CookieDuration::seconds(lifetime_secs(settings)));
    c
}

pub fn device_cookie_name(settings: &Settings) -> &'static str {
    if settings.secure_cookies() { "__Host-porch_device" } else { "porch_device" }
}

/// The person whose device this is, from the request's device cookie.
pub async fn known_device(
    store: &Store,
    settings: &Settings,
    jar: &axum_extra::extract::cookie::CookieJar,
) -> Result<Option<i64>, GateError> {
    let Some(hash) = jar.get(device_cookie_name(settings)).and_then(|c| secret::hash_presented(c.value())) else {
        return Ok(None);
    };
    Ok(store.device_person(&hash, now(), devices_used_since(settings)).await?)
}

/// Devices unused since this moment are forgotten (`signin.device_forget`).
pub fn devices_used_since(settings: &Settings) -> i64 {
    now().saturating_sub(i64::try_from(settings.signin.device_forget.as_secs()).unwrap_or(i64::MAX))
}

/// Remembers this browser as one of `person_id`'s devices (unless it already
/// is) and returns the cookie to set.
pub async fn remember_device(
    store: &Store,
    settings: &Settings,
    person_id: i64,
    known: Option<i64>,
    user_agent: &str,
) -> Result<Option<Cookie<'static>>, GateError> {
    if known == Some(person_id) {
        return Ok(None);
    }
    let secret = Secret::generate();
    store.create_device(secret.hash(), person_id, now(), &device_label(user_agent)).await?;
    let mut c = cookie_named(settings, device_cookie_name(settings), secret.text().to_owned());
    c.set_same_site(SameSite::Strict);
    c.set_max_age(CookieDuration::days(DEVICE_COOKIE_DAYS));
    Ok(Some(c))
}

/// A cookie that makes the browser forget its device cookie.
pub fn device_removal(settings: &Settings) -> Cookie<'static> {
    let mut c = cookie_named(settings, device_cookie_name(settings), String::new());
    c.set_same_site(SameSite::Strict);
    c.set_max_age(CookieDuration::ZERO);
    c
}

/// A cookie that makes the browser forget the session.
pub fn removal(settings: &Settings) -> Cookie<'static> {
    let mut c = cookie(settings, String::new());
    c.set_max_age(CookieDuration::ZERO);
    c
}

/// What resolving a cookie found.
pub struct Resolved {
    pub caller: Caller,
    /// Set when the session was slid forward and the cookie should be re-sent.
    pub refreshed: Option<Cookie<'static>>,
}

/// Finds the live session and its enabled person for a cookie value.
pub async fn resolve(store: &Store, settings: &Settings, token: &str) -> Result<Option<Resolved>, GateError> {
    let Some(hash) = secret::hash_presented(token) else { return Ok(None) };
    let at = now();
    let Some((session, person)) = store.session_and_person(&hash, at).await? else { return Ok(None) };
    if !secret::hashes_match(&session.token_hash, &hash) || person.is_disabled() {
        return Ok(None);
    }
    let refreshed = if slide(store, settings, session.id, session.last_seen_at).await? {
        Some(cookie(settings, token.to_owned()))
    } else {
        None
    };
    let caller = Caller { person, session_id: session.id, csrf: secret::derive(token, "porch-csrf") };
    Ok(Some(Resolved { caller, refreshed }))
}

/// Slides a session seen at `last_seen` forward by a whole lifetime, at
/// most once a minute. Returns whether it did.
pub async fn slide(store: &Store, settings: &Settings, session_id: i64, last_seen: i64) -> Result<bool, GateError> {
    let at = now();
    if at - last_seen < SESSION_SLIDE_EVERY_SECS {
        return Ok(false);
    }
    store.touch_session(session_id, at, at.saturating_add(lifetime_secs(settings))).await?;
    Ok(true)
}

/// The sessions shown on the account page, this one marked.
pub async fn list(store: &Store, person_id: i64) -> Result<Vec<SessionRow>, GateError> {
    Ok(store.sessions_of(person_id, now()).await?)
}

/// Whether the caller's session began (a sign-in, a join, a recovery or
/// pairing) within `within`.
pub async fn signed_in_within(store: &Store, caller: &Caller, within: std::time::Duration) -> Result<bool, GateError> {
    let at = now();
    let began = store.sessions_of(caller.person.id, at).await?.into_iter().find(|s| s.id == caller.session_id);
    let within = i64::try_from(within.as_secs()).unwrap_or(i64::MAX);
    Ok(began.is_some_and(|s| at.saturating_sub(s.created_at) <= within))
}

/// "Firefox on Android", "Safari on iPhone" and so on, from a User-Agent.
pub fn device_label(user_agent: &str) -> String {
    let ua: String = user_agent.chars().take(512).collect();
    match woothee::parser::Parser::new().parse(&ua) {
        Some(r) if r.name != "UNKNOWN" && r.os != "UNKNOWN" => format!("{} on {}", r.name, r.os),
        _ if ua.is_empty() => "Unknown device".into(),
        _ => ua.chars().take(60).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_labels_are_readable() {
        let chrome_android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36";
        assert_eq!(device_label(chrome_android), "Chrome on Android");
        assert_eq!(device_label(""), "Unknown device");
        assert_eq!(device_label("curl/8.5.0"), "curl/8.5.0");
    }
}
