//! The protective headers on every answer porch gives, written once: porch's
//! own pages, apps' responses, and the plain listeners (the port-80
//! redirect, the metrics listener). Every kind gets `Referrer-Policy:
//! no-referrer`, `nosniff`, no framing and a `Permissions-Policy`; each
//! gets the Content-Security-Policy that fits it.

use http::{HeaderMap, HeaderName, HeaderValue, header};

/// porch's own pages: its own files only, no inline scripts, no framing.
pub const PORCH_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// porch's policy for every app response: nothing from other hosts, no
/// inline scripts, no framing.
pub const APP_CSP: &str = "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; \
     style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'; object-src 'none'";

/// Plain answers (redirects, challenge tokens, metrics) load nothing.
const PLAIN_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

const PERMISSIONS: &str = "camera=(), microphone=(), geolocation=(), interest-cohort=()";

/// What kind of answer the headers go on.
#[derive(Debug, Clone, Copy)]
pub enum Answer<'a> {
    /// One of porch's own pages: `Cache-Control: no-store` unless the page
    /// set its own.
    Porch,
    /// An app's response. porch's policy is *added* beside the app's and its
    /// manifest's own (browsers enforce every policy), so an app can tighten
    /// porch's rules but never loosen them.
    App { manifest_csp: Option<&'a str> },
    /// A plain listener's answer: never cached.
    Plain,
}

/// Puts the protective headers of `answer` on `h`. The privacy headers
/// replace whatever was there.
pub fn secure(h: &mut HeaderMap, answer: Answer<'_>) {
    match answer {
        Answer::Porch => {
            h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PORCH_CSP));
            if !h.contains_key(header::CACHE_CONTROL) {
                h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            }
        }
        Answer::App { manifest_csp } => {
            h.append(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(APP_CSP));
            if let Some(v) = manifest_csp.and_then(|c| HeaderValue::from_str(c).ok()) {
                h.append(header::CONTENT_SECURITY_POLICY, v);
            }
        }
        Answer::Plain => {
            h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PLAIN_CSP));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(HeaderName::from_static("permissions-policy"), HeaderValue::from_static(PERMISSIONS));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_can_add_a_policy_but_not_replace_porchs() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src *"));
        h.insert(header::REFERRER_POLICY, HeaderValue::from_static("unsafe-url"));
        secure(&mut h, Answer::App { manifest_csp: Some("img-src 'self'") });
        let policies: Vec<&str> =
            h.get_all(header::CONTENT_SECURITY_POLICY).iter().filter_map(|v| v.to_str().ok()).collect();
        assert_eq!(policies, ["default-src *", APP_CSP, "img-src 'self'"]);
        assert_eq!(h.get(header::REFERRER_POLICY).map(HeaderValue::as_bytes), Some(&b"no-referrer"[..]));
    }

    #[test]
    fn porch_pages_keep_their_own_caching_and_plain_answers_never_cache() {
        let mut page = HeaderMap::new();
        page.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=60"));
        secure(&mut page, Answer::Porch);
        assert_eq!(page.get(header::CACHE_CONTROL).map(HeaderValue::as_bytes), Some(&b"max-age=60"[..]));
        let mut plain = HeaderMap::new();
        secure(&mut plain, Answer::Plain);
        assert_eq!(plain.get(header::CACHE_CONTROL).map(HeaderValue::as_bytes), Some(&b"no-store"[..]));
        assert!(plain.contains_key("permissions-policy") && plain.contains_key(header::X_FRAME_OPTIONS));
    }
}
