//! Request budgets: how many requests one client (an IPv4 address or an
//! IPv6 /64, see `common::net`) may make, with stricter budgets for
//! the door (sign-in and invite links) and for uploads, plus caps on
//! requests in flight: from everyone together, and from one client, so a
//! single stranger cannot hold every place (review finding M4). The first
//! check of the gate's pipeline, so a flood is turned away before it costs a
//! database lookup.
//!
//! Over a budget a client gets 429 with `Retry-After` and a friendly page;
//! over an in-flight cap, 503 with `Retry-After`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http_body::Body as _;
use tokio::sync::Semaphore;

use super::Gate;
use super::web::{Visitor, error_page};
use crate::common::names::{HostKind, classify};
use crate::config::{Limits, Rate};

/// Budgets are tidied (idle clients forgotten) every this many checks.
const TIDY_EVERY: u64 = 4096;

/// Which budget a request draws on, besides the general one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    General,
    /// Sign-in and invite links.
    Door,
    /// A request body larger than a form.
    Upload,
}

pub struct Budgets {
    general: Option<DefaultKeyedRateLimiter<IpAddr>>,
    door: Option<DefaultKeyedRateLimiter<IpAddr>>,
    uploads: Option<DefaultKeyedRateLimiter<IpAddr>>,
    in_flight: Semaphore,
    per_client: PerClient,
    checks: AtomicU64,
    form_body: u64,
}

/// Requests in flight per client. An entry exists only while its client has
/// a request in flight, and a request is counted here only while it holds
/// one of the global in-flight permits, so the map never has more than
/// `limits.in_flight` entries.
struct PerClient {
    cap: u32,
    counts: Mutex<HashMap<IpAddr, u32>>,
}

/// One request's place in its client's count; given back on drop.
pub struct ClientSlot<'a> {
    owner: &'a PerClient,
    client: IpAddr,
}

impl PerClient {
    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, u32>> {
        self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn take(&self, client: IpAddr) -> Option<ClientSlot<'_>> {
        let mut counts = self.counts();
        // `cap` is at least 1, so a client refused here already has an entry.
        let n = counts.entry(client).or_insert(0);
        if *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(ClientSlot { owner: self, client })
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.counts().len()
    }
}

impl Drop for ClientSlot<'_> {
    fn drop(&mut self) {
        let mut counts = self.owner.counts();
        if let Some(n) = counts.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.client);
            }
        }
    }
}

fn limiter(rate: Option<Rate>) -> Option<DefaultKeyedRateLimiter<IpAddr>> {
    let rate = rate?;
    let burst = std::num::NonZeroU32::new(rate.burst)?;
    let quota = Quota::with_period(rate.period)?.allow_burst(burst);
    Some(RateLimiter::keyed(quota))
}

impl Budgets {
    pub fn new(limits: &Limits) -> Budgets {
        Budgets {
            general: limiter(limits.requests_rate()),
            door: limiter(limits.door_rate()),
            uploads: limiter(limits.uploads_rate()),
            in_flight: Semaphore::new(limits.in_flight as usize),
            per_client: PerClient { cap: limits.in_flight_per_client, counts: Mutex::default() },
            checks: AtomicU64::new(0),
            form_body: limits.form_body,
        }
    }

    /// Draws one request of `class` from `client`'s budgets; `Err` names the
    /// budget that refused and how long until it would allow the request.
    pub fn check(&self, client: IpAddr, class: Class) -> Result<(), (Class, Duration)> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % TIDY_EVERY == TIDY_EVERY - 1 {
            self.tidy();
        }
        let special = match class {
            Class::General => None,
            Class::Door => self.door.as_ref(),
            Class::Upload => self.uploads.as_ref(),
        };
        let budgets = special.map(|l| (class, l)).into_iter().chain(self.general.as_ref().map(|l| (Class::General, l)));
        for (which, limiter) in budgets {
            if let Err(not_until) = limiter.check_key(&client) {
                return Err((which, not_until.wait_time_from(DefaultClock::default().now())));
            }
        }
        Ok(())
    }

    /// Forgets clients whose budgets are full again, so memory stays bounded
    /// by the clients of the last little while.
    fn tidy(&self) {
        for limiter in [&self.general, &self.door, &self.uploads].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Sign-in posts and every invite, recovery and pairing link on porch's
    /// own host are the door;
    /// a state-changing request with a body larger than a form is an upload.
    fn class_of(&self, request: &Request, domain: &str) -> Class {
        let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        let path = request.uri().path();
        let door_path = path.starts_with("/join/")
            || path.starts_with("/recover/")
            || path.starts_with("/pair/")
            || (path == "/signin" && !safe);
        let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok());
        if door_path && classify(host, domain) == HostKind::Porch {
            return Class::Door;
        }
        if safe {
            return Class::General;
        }
        let body = request.body();
        let large = match body.size_hint().exact() {
            Some(n) => n > self.form_body,
            None => !body.is_end_stream(),
        };
        if large { Class::Upload } else { Class::General }
    }
}

/// The gate's first check after counting: budgets, then the in-flight cap.
pub async fn limit(gate: &Gate, request: Request, next: impl AsyncFnOnce(Request) -> Response) -> Response {
    let client = super::web::client_of(&request).group;
    let class = gate.budgets.class_of(&request, &gate.settings.domain);
    if let Err((refused_by, wait)) = gate.budgets.check(client, class) {
        let message = match refused_by {
            Class::Door => "There were too many sign-in attempts from your network. Wait a little, then try again.",
            Class::Upload => "You are uploading faster than this porch allows. Wait a little, then try again.",
            Class::General => "There were too many requests from your network. Wait a little, then try again.",
        };
        crate::metrics::budget_refused(match refused_by {
            Class::Door => "door",
            Class::Upload => "uploads",
            Class::General => "requests",
        });
        return too_many(gate, StatusCode::TOO_MANY_REQUESTS, wait, message, &Visitor::anonymous(&request));
    }
    // 503 for a moment's load: a full in-flight cap, everyone's or this client's.
    let busy = |budget: &'static str, message: &str| {
        crate::metrics::budget_refused(budget);
        let visitor = Visitor::anonymous(&request);
        too_many(gate, StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(1), message, &visitor)
    };
    let Ok(permit) = gate.budgets.in_flight.try_acquire() else {
        return busy("in_flight", "This porch is very busy right now. Try again in a moment.");
    };
    let Some(slot) = gate.budgets.per_client.take(client) else {
        drop(permit);
        let message = "Your network has many requests under way at this porch. Wait for them, then try again.";
        return busy("in_flight_per_client", message);
    };
    let response = next(request).await;
    drop(slot);
    drop(permit);
    response
}

/// A friendly page saying when to come back, with `Retry-After` (whole
/// seconds, rounded up, at least one).
pub fn too_many(gate: &Gate, status: StatusCode, wait: Duration, message: &str, visitor: &Visitor) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let secs = secs.max(1);
    let message = format!("{message} (You can try again in {}.)", in_words(secs));
    let mut response = error_page(gate, status, &message, visitor);
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// "1 second", "40 seconds", "3 minutes".
fn in_words(secs: u64) -> String {
    match secs {
        1 => "1 second".into(),
        s if s < 120 => format!("{s} seconds"),
        s if s < 7200 => format!("{} minutes", s.div_ceil(60)),
        s => format!("{} hours", s.div_ceil(3600)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(requests: Option<Rate>, door: Option<Rate>) -> Limits {
        Limits {
            requests: requests.map(|r| r.period),
            requests_burst: requests.map_or(1, |r| r.burst),
            door: door.map(|r| r.period),
            door_burst: door.map_or(1, |r| r.burst),
            uploads: None,
            in_flight: 4,
            in_flight_per_client: 2,
            form_body: 1024,
            ..Limits::default()
        }
    }

    #[test]
    fn a_client_gets_its_burst_then_waits_and_others_are_untouched() {
        let rate = Rate { period: Duration::from_secs(1), burst: 3 };
        let b = Budgets::new(&limits(Some(rate), None));
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let other: IpAddr = "192.0.2.2".parse().expect("ip");
        for _ in 0..3 {
            assert!(b.check(a, Class::General).is_ok());
        }
        let (_, wait) = b.check(a, Class::General).expect_err("over the burst");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(b.check(other, Class::General).is_ok());
    }

    #[test]
    fn the_door_budget_is_separate_and_stricter() {
        let general = Rate { period: Duration::from_millis(1), burst: 1000 };
        let door = Rate { period: Duration::from_secs(60), burst: 2 };
        let b = Budgets::new(&limits(Some(general), Some(door)));
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        assert!(b.check(a, Class::Door).is_ok());
        assert!(b.check(a, Class::Door).is_ok());
        let (which, wait) = b.check(a, Class::Door).expect_err("door budget spent");
        assert_eq!(which, Class::Door);
        assert!(wait > Duration::from_secs(50), "{wait:?}");
        assert!(b.check(a, Class::General).is_ok(), "other pages still work");
    }

    #[test]
    fn off_means_unlimited() {
        let b = Budgets::new(&limits(None, None));
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        for _ in 0..10_000 {
            assert!(b.check(a, Class::Door).is_ok());
        }
    }

    #[test]
    fn m4_one_client_cannot_hold_every_place_and_the_count_stays_bounded() {
        let b = Budgets::new(&limits(None, None));
        let (a, other): (IpAddr, IpAddr) = ("192.0.2.1".parse().expect("ip"), "192.0.2.2".parse().expect("ip"));
        let first = b.per_client.take(a).expect("first");
        let second = b.per_client.take(a).expect("second");
        assert!(b.per_client.take(a).is_none(), "in_flight_per_client is 2");
        let theirs = b.per_client.take(other).expect("another client still gets in");
        drop((first, theirs));
        assert!(b.per_client.take(a).is_some(), "a place given back is free again");
        drop(second);
        assert_eq!(b.per_client.tracked(), 0, "clients with nothing in flight are not remembered");
    }

    #[test]
    fn waits_read_well() {
        assert_eq!(in_words(1), "1 second");
        assert_eq!(in_words(59), "59 seconds");
        assert_eq!(in_words(600), "10 minutes");
    }
}
