//! Bearer tokens and the headers they arrive in: the Cookie header as the
//! gate reads it, token decoding and comparison, the identity-header
//! rewrite before a request reaches an app, forwarding headers, and the
//! device label made from a User-Agent.
#![no_main]

use axum_extra::extract::cookie::CookieJar;
use http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use porch::gate::{Identity, rewrite_headers, secret, sessions};

fuzz_target!(|input: (&[u8], &str, &[u8], &str)| {
    let (cookie, token, forwarded, user_agent) = input;
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(cookie) {
        headers.insert(header::COOKIE, v);
    }
    if let Ok(v) = HeaderValue::from_bytes(forwarded) {
        headers.insert("x-forwarded-for", v.clone());
        headers.insert("forwarded", v);
    }
    let jar = CookieJar::from_headers(&headers);
    for c in jar.iter() {
        if let Some(hash) = secret::hash_presented(c.value()) {
            assert!(secret::hashes_match(&hash, &hash));
        }
    }
    if let Some(hash) = secret::hash_presented(token) {
        let again = secret::hash_presented(token).expect("decoding is deterministic");
        assert!(secret::hashes_match(&hash, &again));
    }
    let _ = secret::text_matches(token, "porch");
    let _ = secret::derive(token, "porch-csrf");

    let trusted = ["127.0.0.0/8".parse().expect("net")];
    let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 4000));
    for header in [porch::config::ForwardedHeader::XForwardedFor, porch::config::ForwardedHeader::Forwarded] {
        let _ = porch::edge::forwarded::client_addr(peer, &headers, &trusted, header);
    }

    let who = Identity { id: 1, name: user_agent, app_role: "viewer", owner: false };
    rewrite_headers(&mut headers, "porch_app", &who);
    assert!(headers.get("porch-user-id").is_some());
    if let Some(cookies) = headers.get(header::COOKIE).and_then(|v| v.to_str().ok()) {
        assert!(!cookies.split(';').any(|c| c.trim().split('=').next() == Some("porch_app")));
    }
    let label = sessions::device_label(user_agent);
    assert!(label.chars().count() <= 512);
});
