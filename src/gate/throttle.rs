//! Sign-in throttling, keyed by client and by account.
//!
//! - A **client** (IPv4 address or IPv6 /64) gets `signin.free_failures`
//!   free failures (wrong passwords, dead invite links); after that each try
//!   must wait 1 s, 2 s, 4 s... (at most `signin.max_wait`) after the last
//!   failure, and at `signin.block_after` failures it is blocked for
//!   `signin.block_for`.
//! - An **account** (the name typed, known or not, so the answer says
//!   nothing about who exists) gets `signin.account_free_failures` before
//!   each further try must wait the same way. It is never blocked, and a
//!   *known device* (one that signed in to that account before and carries
//!   its device cookie) never waits at all: strangers guessing from many
//!   addresses slow themselves down, not the family.
//!
//! Failures are forgotten `signin.forget_after` after the last one. State is
//! in memory, bounded in size; blocks and slow-downs are audited by the
//! caller when they start, and owners see and lift them on the Blocks page.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::SigninLimits;

/// At most this many clients, and this many accounts, are remembered.
const MAX_TRACKED: usize = 50_000;

#[derive(Debug, Clone, Copy, Default)]
struct Record {
    failures: u32,
    last: Option<Instant>,
    blocked_until: Option<Instant>,
}

impl Record {
    /// Blocked now, or failed within `forget_after`: not yet forgotten.
    fn live(&self, now: Instant, forget_after: Duration) -> bool {
        self.blocked_until.is_some_and(|u| u > now) || self.last.is_some_and(|l| now.duration_since(l) < forget_after)
    }
}

/// Why a try must wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    ClientSlowed,
    ClientBlocked,
    AccountSlowed,
}

/// A refused try: how long to wait and why.
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    pub wait: Duration,
    pub reason: Reason,
}

impl Wait {
    pub fn message(&self) -> &'static str {
        match self.reason {
            Reason::ClientBlocked => {
                "There were too many failed sign-ins from your network, so porch stopped accepting them for a while. If this is you, ask the person who runs this porch to lift the block."
            }
            Reason::ClientSlowed => {
                "There were several failed sign-ins from your network, so each new try has to wait a little. Check the name and password carefully."
            }
            Reason::AccountSlowed => {
                "There were many failed sign-ins to this account, so tries from new devices have to wait a little. A device that signed in to it before does not wait."
            }
        }
    }
}

/// Something the owner should hear about (the caller audits it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    ClientBlocked { client: IpAddr, failures: u32, minutes: u64 },
    AccountSlowed { account: String, failures: u32 },
}

/// One row of the Blocks page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    /// `client` or `account`.
    pub kind: &'static str,
    pub key: String,
    pub failures: u32,
    /// Seconds until the next try is allowed.
    pub wait_secs: u64,
    pub blocked: bool,
}

pub struct Throttle {
    limits: SigninLimits,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    clients: HashMap<IpAddr, Record>,
    accounts: HashMap<String, Record>,
}

/// The account key for a typed name: trimmed, lower case, bounded.
pub fn account_key(name: &str) -> String {
    name.trim().chars().take(64).collect::<String>().to_lowercase()
}

impl Throttle {
    pub fn new(limits: SigninLimits) -> Throttle {
        Throttle { limits, state: Mutex::new(State::default()) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a try from `client` (already grouped) for `account` may go
    /// ahead now. A known device skips every check.
    pub fn check(&self, client: IpAddr, account: Option<&str>, known_device: bool) -> Result<(), Wait> {
        if known_device {
            return Ok(());
        }
        let now = Instant::now();
        let state = self.state();
        if let Some(r) = state.clients.get(&client) {
            if let Some(until) = r.blocked_until.filter(|u| *u > now) {
                return Err(Wait { wait: until - now, reason: Reason::ClientBlocked });
            }
            if let Some(wait) = self.wait(r, self.limits.free_failures, now) {
                return Err(Wait { wait, reason: Reason::ClientSlowed });
            }
        }
        if let Some(r) = account.and_then(|a| state.accounts.get(&account_key(a)))
            && let Some(wait) = self.wait(r, self.limits.account_free_failures, now)
        {
            return Err(Wait { wait, reason: Reason::AccountSlowed });
        }
        Ok(())
    }

    /// How long a record must still wait, if at all.
    fn wait(&self, r: &Record, free: u32, now: Instant) -> Option<Duration> {
        let last = self.live(r, now)?.last?;
        if r.failures < free {
            return None;
        }
        let exponent = (r.failures - free).min(30);
        let wait = Duration::from_secs(1u64 << exponent).min(self.limits.max_wait);
        (last + wait).checked_duration_since(now).filter(|d| !d.is_zero())
    }

    /// The record if it is not yet forgotten.
    fn live<'r>(&self, r: &'r Record, now: Instant) -> Option<&'r Record> {
        r.live(now, self.limits.forget_after).then_some(r)
    }

    /// Notes a failed try; returns what the owner should hear about.
    pub fn failed(&self, client: IpAddr, account: Option<&str>) -> Vec<Event> {
        crate::metrics::signin_failed();
        let now = Instant::now();
        let mut events = Vec::new();
        let limits = &self.limits;
        let forget = |r: &mut Record| {
            if !r.live(now, limits.forget_after) {
                *r = Record::default();
            }
        };
        let mut state = self.state();
        let State { clients, accounts } = &mut *state;
        make_room(clients, now, limits.forget_after);
        let r = clients.entry(client).or_default();
        forget(r);
        r.failures = r.failures.saturating_add(1);
        r.last = Some(now);
        if r.failures == limits.block_after {
            r.blocked_until = Some(now + limits.block_for);
            let minutes = limits.block_for.as_secs().div_ceil(60);
            events.push(Event::ClientBlocked { client, failures: r.failures, minutes });
        }
        if let Some(account) = account {
            make_room(accounts, now, limits.forget_after);
            let key = account_key(account);
            let r = accounts.entry(key.clone()).or_default();
            forget(r);
            r.failures = r.failures.saturating_add(1);
            r.last = Some(now);
            if r.failures == limits.account_free_failures {
                events.push(Event::AccountSlowed { account: key, failures: r.failures });
            }
        }
        events
    }

    /// A successful sign-in forgets its client's failures (the account's
    /// stay: guesses from elsewhere are still guesses).
    pub fn succeeded(&self, client: IpAddr) {
        self.state().clients.remove(&client);
    }

    /// Everything slowed or blocked now, for the Blocks page.
    pub fn report(&self) -> Vec<Entry> {
        let now = Instant::now();
        let state = self.state();
        let mut out = Vec::new();
        for (ip, r) in &state.clients {
            let blocked = r.blocked_until.filter(|u| *u > now);
            let wait = blocked.map(|u| u - now).or_else(|| self.wait(r, self.limits.free_failures, now));
            if blocked.is_some() || (self.live(r, now).is_some() && r.failures >= self.limits.free_failures) {
                out.push(entry("client", ip.to_string(), r, wait, blocked.is_some()));
            }
        }
        for (name, r) in &state.accounts {
            if self.live(r, now).is_some() && r.failures >= self.limits.account_free_failures {
                let wait = self.wait(r, self.limits.account_free_failures, now);
                out.push(entry("account", name.clone(), r, wait, false));
            }
        }
        out.sort_by_key(|e| std::cmp::Reverse((e.blocked, e.failures)));
        out
    }

    /// Lifts a client's block or an account's slow-down; whether there was one.
    pub fn lift(&self, kind: &str, key: &str) -> bool {
        let mut state = self.state();
        match kind {
            "client" => key.parse::<IpAddr>().ok().and_then(|ip| state.clients.remove(&ip)).is_some(),
            "account" => state.accounts.remove(&account_key(key)).is_some(),
            _ => false,
        }
    }
}

fn entry(kind: &'static str, key: String, r: &Record, wait: Option<Duration>, blocked: bool) -> Entry {
    let wait_secs = wait.map_or(0, |w| w.as_secs() + u64::from(w.subsec_nanos() > 0));
    Entry { kind, key, failures: r.failures, wait_secs, blocked }
}

/// Keeps a map under [`MAX_TRACKED`]: first drop forgotten records, then,
/// if an attack still fills it, those with the fewest failures.
fn make_room<K: Clone + Eq + std::hash::Hash>(map: &mut HashMap<K, Record>, now: Instant, forget_after: Duration) {
    if map.len() < MAX_TRACKED {
        return;
    }
    map.retain(|_, r| r.live(now, forget_after));
    while map.len() >= MAX_TRACKED {
        let Some(key) = map.iter().min_by_key(|(_, r)| r.failures).map(|(k, _)| k.clone()) else { break };
        map.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> SigninLimits {
        SigninLimits {
            free_failures: 3,
            block_after: 6,
            block_for: Duration::from_secs(900),
            account_free_failures: 4,
            max_wait: Duration::from_secs(60),
            forget_after: Duration::from_secs(900),
        }
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, n])
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_is_slowed_then_blocked_then_forgiven() {
        let t = Throttle::new(limits());
        for _ in 0..3 {
            assert!(t.check(ip(1), Some("grandma"), false).is_ok());
            assert!(t.failed(ip(1), Some("mallory")).is_empty());
        }
        let w = t.check(ip(1), None, false).expect_err("slowed after the free failures");
        assert_eq!((w.reason, w.wait), (Reason::ClientSlowed, Duration::from_secs(1)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(t.check(ip(1), None, false).is_ok(), "the wait is over");
        t.failed(ip(1), None);
        assert_eq!(t.check(ip(1), None, false).map_err(|w| w.wait), Err(Duration::from_secs(2)));
        t.failed(ip(1), None);
        let events = t.failed(ip(1), None);
        assert_eq!(events, vec![Event::ClientBlocked { client: ip(1), failures: 6, minutes: 15 }]);
        let w = t.check(ip(1), None, false).expect_err("blocked");
        assert_eq!(w.reason, Reason::ClientBlocked);
        assert!(t.check(ip(2), None, false).is_ok(), "other clients are not affected");
        assert!(t.check(ip(1), None, true).is_ok(), "a known device is never held back");
        assert!(t.report().iter().any(|e| e.blocked && e.key == "192.0.2.1"));
        assert!(t.lift("client", "192.0.2.1"));
        assert!(t.check(ip(1), None, false).is_ok(), "the owner lifted the block");
    }

    #[tokio::test(start_paused = true)]
    async fn guesses_spread_over_many_clients_slow_the_account_not_the_family() {
        let t = Throttle::new(limits());
        let mut events = Vec::new();
        for n in 10..14 {
            events.extend(t.failed(ip(n), Some(" Grandma ")));
        }
        assert_eq!(events, vec![Event::AccountSlowed { account: "grandma".into(), failures: 4 }]);
        let w = t.check(ip(50), Some("GRANDMA"), false).expect_err("a new client waits for this account");
        assert_eq!(w.reason, Reason::AccountSlowed);
        assert!(t.check(ip(50), Some("grandpa"), false).is_ok(), "other accounts are not slowed");
        assert!(t.check(ip(50), Some("grandma"), true).is_ok(), "grandma's own phone signs in");
        tokio::time::advance(Duration::from_secs(901)).await;
        assert!(t.check(ip(50), Some("grandma"), false).is_ok(), "failures are forgotten");
    }

    #[test]
    fn memory_stays_bounded_under_a_spread_attack() {
        let t = Throttle::new(limits());
        for n in 0..(MAX_TRACKED as u32 + 10) {
            t.failed(IpAddr::from(n.to_be_bytes()), Some(&format!("name{n}")));
        }
        let state = t.state();
        assert!(state.clients.len() <= MAX_TRACKED && state.accounts.len() <= MAX_TRACKED);
    }
}
