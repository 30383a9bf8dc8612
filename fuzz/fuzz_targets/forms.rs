//! The join and sign-in forms as the door reads them: a urlencoded body
//! into the form types, then every check that runs before the database.
#![no_main]

use libfuzzer_sys::fuzz_target;
use porch::gate::forms::{JoinForm, SignInForm};
use porch::gate::{invites, safe_next, throttle};

fuzz_target!(|body: &[u8]| {
    if let Ok(form) = serde_urlencoded::from_bytes::<SignInForm>(body) {
        let next = safe_next(form.next.as_deref());
        assert!(next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\"));
        let key = throttle::account_key(&form.name);
        assert!(key.chars().count() <= 64 * 3);
        let _ = form.password.len();
    }
    if let Ok(form) = serde_urlencoded::from_bytes::<JoinForm>(body)
        && let Ok(name) = form.check(10)
    {
        assert!(!name.is_empty() && name.chars().count() <= porch::common::limits::MAX_DISPLAY_NAME);
        assert_eq!(form.password, form.confirm);
    }
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = invites::parse_groups(text);
        let _ = invites::parse_grant(text);
        let _ = porch::common::names::valid_name(text);
        let _ = porch::common::names::classify(Some(text), "family.example");
    }
});
