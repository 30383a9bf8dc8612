//! Passkeys (WebAuthn, through webauthn-rs): porch as the relying party
//! for its own name, the ceremonies in flight between a challenge and the
//! browser's answer, and turning an answer into a saved passkey or a
//! signed-in person. Pages and throttling stay in `routes::passkey`.
//!
//! A ceremony lives in memory only: at most [`PASSKEY_CEREMONIES`] at once,
//! each for [`PASSKEY_CEREMONY_LIFETIME`], used once, found by a random
//! 256-bit id kept only as its hash. Passkeys are discoverable (the phone
//! keeps the account), so sign-in needs no name first and the browser can
//! offer them in the name field's autofill (conditional UI).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url,
    Uuid, Webauthn, WebauthnBuilder,
};

use super::error::GateError;
use super::secret::{self, Secret};
use crate::common::limits::{
    PASSKEY_CEREMONIES, PASSKEY_CEREMONIES_PER_CLIENT, PASSKEY_CEREMONY_LIFETIME, PASSKEY_LABEL,
};
use crate::store::{NewPasskey, PersonRow, Store};

/// Who a registration is for, fixed when it starts.
#[derive(Debug, Clone)]
pub enum Purpose {
    /// A signed-in person adding one on the account page.
    Account { person_id: i64, session_id: i64 },
    /// Someone joining through invite `invite_id` under `name`.
    Join { invite_id: i64, name: String },
    /// Someone signing in again through recovery link `link_id`.
    Recover { link_id: i64, person_id: i64 },
}

enum State {
    Register { reg: PasskeyRegistration, purpose: Purpose, handle: Uuid },
    SignIn(DiscoverableAuthentication),
}

struct Pending {
    state: State,
    client: IpAddr,
    until: Instant,
}

/// A registration that checked out, ready to be saved for its purpose.
pub struct Registered {
    pub purpose: Purpose,
    pub handle: Vec<u8>,
    pub key: NewPasskey,
}

/// Why a passkey answer was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    #[error("passkeys need porch to be reached by a name, not an IP address; set `base_url` to one")]
    Unavailable,
    #[error("too many passkey sign-ins are under way at once; try again in a minute")]
    Busy,
    #[error("that passkey request ended (used, or more than five minutes old); start again")]
    Expired,
    #[error("the browser's answer did not check out ({0}); try again")]
    Refused(String),
    #[error("porch does not know that passkey; sign in another way, or remove it from this device")]
    Unknown,
}

/// The relying party and its ceremonies in flight.
pub struct Passkeys {
    webauthn: Option<Webauthn>,
    pending: Mutex<HashMap<[u8; 32], Pending>>,
}

impl Passkeys {
    /// The relying party for `base_url`'s host (its port is part of the
    /// origin). An IP address cannot be a relying party: passkeys are then
    /// off, and the pages do not offer them.
    pub fn new(base_url: &str) -> Passkeys {
        let webauthn = Url::parse(base_url).ok().and_then(|origin| {
            let rp_id = origin.domain()?.to_owned();
            WebauthnBuilder::new(&rp_id, &origin).ok()?.rp_name("porch").build().ok()
        });
        Passkeys { webauthn, pending: Mutex::new(HashMap::new()) }
    }

    pub fn available(&self) -> bool {
        self.webauthn.is_some()
    }

    fn relying_party(&self) -> Result<&Webauthn, PasskeyError> {
        self.webauthn.as_ref().ok_or(PasskeyError::Unavailable)
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Pending>> {
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps `state` under a new ceremony id, or refuses when porch, or
    /// this client, has too many in flight.
    fn keep(&self, state: State, client: IpAddr) -> Result<String, PasskeyError> {
        let now = Instant::now();
        let mut pending = self.pending();
        let crowded = |pending: &HashMap<[u8; 32], Pending>| {
            pending.len() >= PASSKEY_CEREMONIES
                || pending.values().filter(|p| p.client == client).count() >= PASSKEY_CEREMONIES_PER_CLIENT
        };
        if crowded(&pending) {
            pending.retain(|_, p| p.until > now);
            if crowded(&pending) {
                return Err(PasskeyError::Busy);
            }
        }
        let id = Secret::generate();
        pending.insert(*id.hash(), Pending { state, client, until: now + PASSKEY_CEREMONY_LIFETIME });
        Ok(id.text().to_owned())
    }

    /// Takes a ceremony out (it is used once, whatever happens next).
    fn take(&self, ceremony: &str) -> Result<State, PasskeyError> {
        let hash = secret::hash_presented(ceremony).ok_or(PasskeyError::Expired)?;
        let found = self.pending().remove(&hash).ok_or(PasskeyError::Expired)?;
        if found.until <= Instant::now() {
            return Err(PasskeyError::Expired);
        }
        Ok(found.state)
    }

    /// Starts making a passkey for `purpose`: the browser's options (JSON)
    /// and the ceremony id. `handle` is the person's user handle if they
    /// have one; `name` is what the phone shows the passkey as; `existing`
    /// are their passkeys already saved, which the device will not repeat.
    pub fn begin_register(
        &self,
        client: IpAddr,
        purpose: Purpose,
        handle: Option<&[u8]>,
        name: &str,
        existing: Vec<Vec<u8>>,
    ) -> Result<(serde_json::Value, String), PasskeyError> {
        let webauthn = self.relying_party()?;
        let handle = match handle.map(Uuid::from_slice) {
            Some(Ok(handle)) => handle,
            _ => Uuid::new_v4(),
        };
        let exclude = if existing.is_empty() { None } else { Some(existing) };
        let (options, reg) = webauthn
            .start_passkey_registration(handle, name, name, exclude)
            .map_err(|e| PasskeyError::Refused(e.to_string()))?;
        let mut options = serde_json::to_value(options).map_err(|e| PasskeyError::Refused(e.to_string()))?;
        // Discoverable: the phone keeps who it is for, so signing in needs
        // no name first and the name field's autofill can offer it.
        if let Some(selection) = options.pointer_mut("/publicKey/authenticatorSelection") {
            selection["residentKey"] = "required".into();
            selection["requireResidentKey"] = true.into();
        }
        let ceremony = self.keep(State::Register { reg, purpose, handle }, client)?;
        Ok((options, ceremony))
    }

    /// Checks the browser's new passkey against its ceremony. `device` is
    /// what the person called it (or the browser's name for itself).
    pub fn finish_register(&self, ceremony: &str, credential: &str, device: &str) -> Result<Registered, PasskeyError> {
        let webauthn = self.relying_party()?;
        let State::Register { reg, purpose, handle } = self.take(ceremony)? else {
            return Err(PasskeyError::Expired);
        };
        let answer: RegisterPublicKeyCredential =
            serde_json::from_str(credential).map_err(|e| PasskeyError::Refused(format!("not a passkey: {e}")))?;
        let passkey =
            webauthn.finish_passkey_registration(&answer, &reg).map_err(|e| PasskeyError::Refused(e.to_string()))?;
        let verifier = serde_json::to_string(&passkey).map_err(|e| PasskeyError::Refused(e.to_string()))?;
        let label = label(device);
        Ok(Registered {
            purpose,
            handle: handle.as_bytes().to_vec(),
            key: NewPasskey { credential_id: passkey.cred_id().to_vec(), verifier, label },
        })
    }

    /// Starts a sign-in with whichever passkey the browser offers.
    pub fn begin_sign_in(&self, client: IpAddr) -> Result<(serde_json::Value, String), PasskeyError> {
        let webauthn = self.relying_party()?;
        let (options, state) =
            webauthn.start_discoverable_authentication().map_err(|e| PasskeyError::Refused(e.to_string()))?;
        let options = serde_json::to_value(options).map_err(|e| PasskeyError::Refused(e.to_string()))?;
        let ceremony = self.keep(State::SignIn(state), client)?;
        Ok((options, ceremony))
    }

    /// Checks a sign-in answer: the person it proves (who may be disabled:
    /// the caller decides) after saving the passkey's new counter.
    pub async fn finish_sign_in(
        &self,
        store: &Store,
        ceremony: &str,
        credential: &str,
    ) -> Result<Result<PersonRow, PasskeyError>, GateError> {
        let Ok(webauthn) = self.relying_party() else { return Ok(Err(PasskeyError::Unavailable)) };
        let state = match self.take(ceremony) {
            Ok(State::SignIn(state)) => state,
            Ok(State::Register { .. }) => return Ok(Err(PasskeyError::Expired)),
            Err(e) => return Ok(Err(e)),
        };
        let answer: PublicKeyCredential = match serde_json::from_str(credential) {
            Ok(answer) => answer,
            Err(e) => return Ok(Err(PasskeyError::Refused(format!("not a passkey: {e}")))),
        };
        let (handle, credential_id) = match webauthn.identify_discoverable_authentication(&answer) {
            Ok(found) => found,
            Err(e) => return Ok(Err(PasskeyError::Refused(e.to_string()))),
        };
        let Some(stored) = store.passkey_by_credential(credential_id).await? else {
            return Ok(Err(PasskeyError::Unknown));
        };
        // The handle the phone presented must be the person's own: a
        // passkey row cannot be borrowed by another account.
        if stored.handle.as_deref() != Some(handle.as_bytes().as_slice()) {
            return Ok(Err(PasskeyError::Unknown));
        }
        let mut passkey: Passkey = match serde_json::from_str(&stored.verifier) {
            Ok(passkey) => passkey,
            Err(e) => return Err(GateError::Invalid(format!("a saved passkey could not be read ({e})"))),
        };
        let result = match webauthn.finish_discoverable_authentication_v2(&answer, state, &passkey) {
            Ok(result) => result,
            Err(e) => return Ok(Err(PasskeyError::Refused(e.to_string()))),
        };
        let changed = passkey.update_credential(&result).unwrap_or(false);
        let verifier = if changed { serde_json::to_string(&passkey).ok() } else { None };
        store.passkey_used(stored.id, verifier.as_deref()).await?;
        match store.person(stored.person_id).await? {
            Some(person) => Ok(Ok(person)),
            None => Ok(Err(PasskeyError::Unknown)),
        }
    }
}

/// A passkey's name: what the person typed, else the device's, trimmed to
/// [`PASSKEY_LABEL`] printable characters.
pub fn label(device: &str) -> String {
    let clean: String = device.chars().filter(|c| !c.is_control()).take(PASSKEY_LABEL).collect();
    let clean = clean.trim();
    if clean.is_empty() { "Passkey".to_owned() } else { clean.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porch_reached_by_an_address_offers_no_passkeys() {
        assert!(Passkeys::new("http://localhost:8080").available());
        assert!(Passkeys::new("https://family.example").available());
        assert!(!Passkeys::new("http://127.0.0.1:8080").available());
        assert!(!Passkeys::new("http://[::1]:8080").available());
    }

    #[test]
    fn ceremonies_are_used_once_and_capped() {
        let keys = Passkeys::new("http://localhost:8080");
        let one: IpAddr = "192.0.2.1".parse().expect("ip");
        let (options, ceremony) = keys.begin_sign_in(one).expect("begin");
        assert!(options.pointer("/publicKey/challenge").is_some(), "{options}");
        assert!(keys.take(&ceremony).is_ok());
        assert!(matches!(keys.take(&ceremony), Err(PasskeyError::Expired)), "used once");
        assert!(matches!(keys.take("not a ceremony"), Err(PasskeyError::Expired)));
        // One client may hold only so many; others still get theirs.
        for _ in 0..PASSKEY_CEREMONIES_PER_CLIENT {
            keys.begin_sign_in(one).expect("room");
        }
        assert!(matches!(keys.begin_sign_in(one), Err(PasskeyError::Busy)), "this client is full");
        let mut n: u32 = 0;
        while keys.pending().len() < PASSKEY_CEREMONIES {
            let other = IpAddr::from(std::net::Ipv6Addr::from(u128::from(n) << 64));
            keys.begin_sign_in(other).expect("room");
            n += 1;
        }
        let next = IpAddr::from(std::net::Ipv6Addr::from(u128::from(n) << 64));
        assert!(matches!(keys.begin_sign_in(next), Err(PasskeyError::Busy)), "porch is full");
    }

    #[test]
    fn registrations_ask_for_a_discoverable_passkey() {
        let keys = Passkeys::new("http://localhost:8080");
        let purpose = Purpose::Account { person_id: 1, session_id: 1 };
        let (options, _) = keys
            .begin_register("192.0.2.1".parse().expect("ip"), purpose, None, "Grandma", vec![vec![1; 16]])
            .expect("begin");
        assert_eq!(options.pointer("/publicKey/authenticatorSelection/residentKey"), Some(&"required".into()));
        assert_eq!(options.pointer("/publicKey/rp/id"), Some(&"localhost".into()));
        assert!(options.pointer("/publicKey/excludeCredentials/0").is_some(), "{options}");
    }

    #[test]
    fn labels_are_short_and_printable() {
        assert_eq!(label("  Grandma's iPhone \u{7} "), "Grandma's iPhone");
        assert_eq!(label(""), "Passkey");
        assert_eq!(label(&"x".repeat(500)).chars().count(), PASSKEY_LABEL);
    }
}
